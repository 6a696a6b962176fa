# Finds the project's C dependencies through pkg-config and exposes each as
# an IMPORTED target named PkgConfig::<module>, e.g. PkgConfig::hiredis.
#
# This file is installed next to sgConfig.cmake, so a project that consumes
# the installed libsg finds libsg's dependencies the same way this build did.

include_guard(GLOBAL)

find_package(PkgConfig REQUIRED)

# sg_find_dependencies(<module>...)
#   Every module is required; a missing one stops the configure step with the
#   name of the Debian package that provides it.
function(sg_find_dependencies)
    set(debian_hiredis libhiredis-dev)
    set(debian_msgpack libmsgpack-dev)
    set(debian_libcjson libcjson-dev)
    set(debian_libevent libevent-dev)
    set(debian_libcurl libcurl4-openssl-dev)
    set(debian_cmocka libcmocka-dev)
    foreach(module IN LISTS ARGN)
        if(TARGET PkgConfig::${module})
            continue()
        endif()
        pkg_check_modules(${module} QUIET IMPORTED_TARGET GLOBAL ${module})
        if(NOT ${module}_FOUND)
            set(hint "")
            if(DEFINED debian_${module})
                set(hint " (ci/bootstrap installs ${debian_${module}})")
            endif()
            message(FATAL_ERROR
                "pkg-config module '${module}' not found${hint}")
        endif()
    endforeach()
endfunction()
