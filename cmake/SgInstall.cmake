# Install rules for libsg: the static library, its public headers, a
# pkg-config file and an exported CMake package, so that either
#     pkg-config --cflags --libs sg
# or
#     find_package(sg CONFIG REQUIRED)  +  target_link_libraries(x sg::sg)
# works against an installed tree.

include_guard(GLOBAL)

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# sg_install_library(<target>)
function(sg_install_library target)
    set(config_dir "${CMAKE_INSTALL_LIBDIR}/cmake/sg")
    set(gen_dir "${PROJECT_BINARY_DIR}/generated")

    install(TARGETS ${target} EXPORT sgTargets
        ARCHIVE DESTINATION "${CMAKE_INSTALL_LIBDIR}"
        INCLUDES DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}")
    install(DIRECTORY "${PROJECT_SOURCE_DIR}/impl/libsg/include/"
        DESTINATION "${CMAKE_INSTALL_INCLUDEDIR}"
        FILES_MATCHING PATTERN "*.h")
    install(EXPORT sgTargets
        NAMESPACE sg::
        FILE sgTargets.cmake
        DESTINATION "${config_dir}")

    configure_package_config_file(
        "${PROJECT_SOURCE_DIR}/cmake/sgConfig.cmake.in"
        "${gen_dir}/sgConfig.cmake"
        INSTALL_DESTINATION "${config_dir}")
    write_basic_package_version_file("${gen_dir}/sgConfigVersion.cmake"
        VERSION ${PROJECT_VERSION}
        COMPATIBILITY SameMajorVersion)
    install(FILES
        "${gen_dir}/sgConfig.cmake"
        "${gen_dir}/sgConfigVersion.cmake"
        "${PROJECT_SOURCE_DIR}/cmake/SgDependencies.cmake"
        DESTINATION "${config_dir}")

    # The .pc file finds the prefix from its own place (pkg-config's
    # ${pcfiledir}), so that `cmake --install --prefix` and a moved tree
    # both work; absolute directories the user configured stay as given.
    set(pc_dir "${CMAKE_INSTALL_LIBDIR}/pkgconfig")
    if(IS_ABSOLUTE "${pc_dir}")
        set(SG_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
    else()
        file(RELATIVE_PATH up "/root/${pc_dir}" "/root")
        string(REGEX REPLACE "/$" "" up "${up}")
        set(SG_PC_PREFIX "\${pcfiledir}/${up}")
    endif()
    foreach(kind IN ITEMS LIBDIR INCLUDEDIR)
        if(IS_ABSOLUTE "${CMAKE_INSTALL_${kind}}")
            set(SG_PC_${kind} "${CMAKE_INSTALL_${kind}}")
        else()
            set(SG_PC_${kind} "\${prefix}/${CMAKE_INSTALL_${kind}}")
        endif()
    endforeach()
    configure_file("${PROJECT_SOURCE_DIR}/cmake/sg.pc.in"
        "${gen_dir}/sg.pc" @ONLY)
    install(FILES "${gen_dir}/sg.pc" DESTINATION "${pc_dir}")
endfunction()
