# han_library(FOLDER [NAME target] SOURCES ... [DEPENDS target ...])
#
# One folder of han/ is one static library, han_FOLDER (or NAME). Its headers are
# reachable as "han/FOLDER/x.h" only through this target's include
# directory: a staging folder in the build tree that holds a link named
# han/FOLDER to the source folder. A target sees the headers of itself and of
# the targets it links, nothing else, so a header of a folder further up the
# pipeline fails to compile instead of creeping in.
function(han_library folder)
  cmake_parse_arguments(ARG "" "NAME" "SOURCES;DEPENDS" ${ARGN})
  set(name han_${folder})
  if(ARG_NAME)
    set(name ${ARG_NAME})
  endif()
  set(stage ${PROJECT_BINARY_DIR}/include/${folder})
  file(MAKE_DIRECTORY ${stage}/han)
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/han/${folder} ${stage}/han/${folder} SYMBOLIC)
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC $<BUILD_INTERFACE:${stage}>)
  target_link_libraries(${name} PUBLIC ${ARG_DEPENDS})
  target_compile_options(${name} PRIVATE ${HAN_WARNINGS})
  target_compile_definitions(${name} PRIVATE HAN_VERSION="${PROJECT_VERSION}")
endfunction()
