# han_library(FOLDER [NAME target] SOURCES ... [DEPENDS target ...] [HEADERS h ...] [NO_INSTALL])
#
# One folder of han/ is one static library, han_FOLDER (or NAME). Its headers are
# reachable as "han/FOLDER/x.h" only through this target's include
# directory: a staging folder in the build tree that holds a link named
# han/FOLDER to the source folder. A target sees the headers of itself and of
# the targets it links, nothing else, so a header of a folder further up the
# pipeline fails to compile instead of creeping in.
#
# HEADERS are the folder's public header and those it includes: `cmake --install`
# puts them under include/han/FOLDER/, and the library into the han CMake
# package (han::NAME), unless NO_INSTALL. Headers not listed stay internal.
function(han_library folder)
  cmake_parse_arguments(ARG "NO_INSTALL" "NAME" "SOURCES;DEPENDS;HEADERS" ${ARGN})
  set(name han_${folder})
  if(ARG_NAME)
    set(name ${ARG_NAME})
  endif()
  set(stage ${PROJECT_BINARY_DIR}/include/${folder})
  file(MAKE_DIRECTORY ${stage}/han)
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/han/${folder} ${stage}/han/${folder} SYMBOLIC)
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC $<BUILD_INTERFACE:${stage}> $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_link_libraries(${name} PUBLIC ${ARG_DEPENDS})
  target_compile_options(${name} PRIVATE ${HAN_WARNINGS})
  target_compile_definitions(${name} PRIVATE HAN_VERSION="${PROJECT_VERSION}")
  if(NOT ARG_NO_INSTALL)
    set_property(GLOBAL APPEND PROPERTY HAN_INSTALLED_LIBRARIES ${name})
    list(TRANSFORM ARG_HEADERS PREPEND ${PROJECT_SOURCE_DIR}/han/${folder}/)
    install(FILES ${ARG_HEADERS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/han/${folder} COMPONENT development)
  endif()
endfunction()
