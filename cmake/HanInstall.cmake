# `cmake --install`: the han program, the libraries with their public headers,
# and the CMake package, so that another project's find_package(han) gives han::han.
include(CMakePackageConfigHelpers)
get_property(han_installed GLOBAL PROPERTY HAN_INSTALLED_LIBRARIES)
if(TARGET han)
  list(APPEND han_installed han)
endif()
install(TARGETS ${han_installed} EXPORT hanTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT development
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(HAN_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/han)
install(EXPORT hanTargets NAMESPACE han:: DESTINATION ${HAN_CMAKE_DIR} COMPONENT development)
configure_package_config_file(cmake/hanConfig.cmake.in ${PROJECT_BINARY_DIR}/hanConfig.cmake
                              INSTALL_DESTINATION ${HAN_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/hanConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/hanConfig.cmake ${PROJECT_BINARY_DIR}/hanConfigVersion.cmake
        DESTINATION ${HAN_CMAKE_DIR} COMPONENT development)
if(TARGET han_app)
  install(TARGETS han_app RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT program)
endif()
install(FILES README.md DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT program)
install(DIRECTORY docs/ DESTINATION ${CMAKE_INSTALL_DOCDIR} COMPONENT program)

# `cpack` in the build folder: han_<version>_amd64.deb, installing under /usr
# the program, the libraries and headers, the Python module and the docs.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME han)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "document classification with Hierarchical Attention Networks")
set(CPACK_PACKAGE_CONTACT "han developers <han@example.org>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # han_0.1.0_amd64.deb
set(CPACK_DEBIAN_PACKAGE_SECTION science)
# The shared libraries the program and the module load (libtorch, ICU, fmt, ...), found by dpkg-shlibdeps.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "python3, python3-numpy, libopenblas0-pthread | libopenblas0")
# What find_package(han) needs to compile a program of one's own.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "libtorch-dev, nlohmann-json3-dev, libfmt-dev, libicu-dev, zlib1g-dev, cmake")
include(CPack)
