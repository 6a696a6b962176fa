# Test registration for the whole tree.
#
# Labels. A C test file test_<x>.c is labelled `unit`; it_<x>.c is labelled
# `integration`. A file may name labels of its own in a marker comment near
# its top (first 4 KiB), written in the file's own comment syntax:
#
#     /* sg-test-labels: vectors */          -> unit vectors
#     /* sg-test-labels: integration */      -> integration
#     # sg-test-labels: integration          (shell tests)
#
# `unit`, `integration` and `conformance` are kinds: a kind in the marker
# replaces the default kind, any other word is added. Tests of kind
# integration or conformance need Redis, so they require the ctest fixture
# `redis` (see sg_add_redis_fixture). `valgrind` and `fuzz` are given by the
# build itself and may not be named in a marker.

include_guard(GLOBAL)

set(SG_TEST_KINDS unit integration conformance)
set(SG_TEST_RESERVED_LABELS valgrind fuzz)

# Seconds before ctest gives up on a test; memcheck runs 20-50 times slower.
set(SG_TEST_TIMEOUT 120)
set(SG_VALGRIND_TIMEOUT 900)

if(SG_VALGRIND)
    find_program(SG_VALGRIND_EXECUTABLE valgrind)
    if(NOT SG_VALGRIND_EXECUTABLE)
        message(FATAL_ERROR
            "SG_VALGRIND is ON but valgrind is not on PATH "
            "(Debian package valgrind; ci/bootstrap installs it)")
    endif()
    set(SG_VALGRIND_COMMAND
        ${SG_VALGRIND_EXECUTABLE}
        --error-exitcode=1
        --leak-check=full
        --errors-for-leak-kinds=definite,indirect,possible
        --show-leak-kinds=definite,indirect,possible
        --track-origins=yes
        --num-callers=40
        # Printing a ready-made suppression beside each error makes a
        # justified entry for ci/valgrind.supp a copy away.
        --gen-suppressions=all
        --suppressions=${PROJECT_SOURCE_DIR}/ci/valgrind.supp)
endif()

# sg_test_labels(<file> <default-kind> <out-var>)
#   Labels of a test file: its kind (from the marker, else the default) and
#   the marker's other words.
function(sg_test_labels file default_kind out_var)
    set(kinds "")
    set(extra "")
    file(STRINGS "${file}" marker LIMIT_INPUT 4096 REGEX "sg-test-labels:")
    if(marker)
        list(GET marker 0 marker)
        string(REGEX MATCH "sg-test-labels:([A-Za-z0-9_, \t-]*)" ignored
            "${marker}")
        string(REGEX REPLACE "[, \t]+" ";" words "${CMAKE_MATCH_1}")
        foreach(word IN LISTS words)
            if(word STREQUAL "")
                continue()
            elseif(word IN_LIST SG_TEST_RESERVED_LABELS)
                message(FATAL_ERROR
                    "${file}: label '${word}' is set by the build and "
                    "cannot be named in sg-test-labels")
            elseif(word IN_LIST SG_TEST_KINDS)
                list(APPEND kinds ${word})
            else()
                list(APPEND extra ${word})
            endif()
        endforeach()
    endif()
    if(NOT kinds)
        set(kinds ${default_kind})
    endif()
    set(labels ${kinds} ${extra})
    list(REMOVE_DUPLICATES labels)
    set(${out_var} ${labels} PARENT_SCOPE)

    # Editing a marker must relabel the test at the next build, and no glob
    # notices an edit: make the file itself a configure dependency.
    set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS "${file}")
endfunction()

# sg__test_properties(<name> <labels> <timeout> [<working-dir>])
function(sg__test_properties name labels timeout)
    set_tests_properties(${name} PROPERTIES
        LABELS "${labels}"
        TIMEOUT ${timeout})
    # Tests find protocol/vectors and other checked-in data through this.
    set_property(TEST ${name} APPEND PROPERTY
        ENVIRONMENT "SG_SOURCE_DIR=${PROJECT_SOURCE_DIR}")
    if(SG_SANITIZE)
        set_property(TEST ${name} APPEND PROPERTY ENVIRONMENT
            "ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1"
            "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1")
    endif()
endfunction()

# sg_add_test(<name> LABELS <label>... [MEMCHECK] [TIMEOUT <s>]
#             [WORKING_DIRECTORY <dir>] COMMAND <target-or-program> <arg>...)
#   Registers a test with the house defaults. With MEMCHECK and SG_VALGRIND
#   it also registers `valgrind:<name>`, the same command under memcheck,
#   labelled `valgrind` only, so that `ctest -L unit` never runs it.
function(sg_add_test name)
    cmake_parse_arguments(PARSE_ARGV 1 arg "MEMCHECK"
        "TIMEOUT;WORKING_DIRECTORY" "LABELS;COMMAND")
    if(NOT arg_COMMAND)
        message(FATAL_ERROR "sg_add_test(${name}): COMMAND is required")
    endif()
    if(NOT arg_TIMEOUT)
        set(arg_TIMEOUT ${SG_TEST_TIMEOUT})
    endif()
    if(NOT arg_WORKING_DIRECTORY)
        set(arg_WORKING_DIRECTORY "${CMAKE_CURRENT_BINARY_DIR}")
    endif()

    set(needs_redis OFF)
    if("integration" IN_LIST arg_LABELS OR "conformance" IN_LIST arg_LABELS)
        set(needs_redis ON)
    endif()

    add_test(NAME ${name} COMMAND ${arg_COMMAND}
        WORKING_DIRECTORY "${arg_WORKING_DIRECTORY}")
    sg__test_properties(${name} "${arg_LABELS}" ${arg_TIMEOUT})
    if(needs_redis)
        set_tests_properties(${name} PROPERTIES FIXTURES_REQUIRED redis)
    endif()

    if(arg_MEMCHECK AND SG_VALGRIND)
        list(POP_FRONT arg_COMMAND program)
        if(TARGET ${program})
            set(program "$<TARGET_FILE:${program}>")
        endif()
        set(vname "valgrind:${name}")
        add_test(NAME ${vname}
            COMMAND ${SG_VALGRIND_COMMAND} ${program} ${arg_COMMAND}
            WORKING_DIRECTORY "${arg_WORKING_DIRECTORY}")
        sg__test_properties(${vname} valgrind ${SG_VALGRIND_TIMEOUT})
        if(needs_redis)
            set_tests_properties(${vname} PROPERTIES FIXTURES_REQUIRED redis)
        endif()
    endif()
endfunction()

# sg_add_c_tests(<dir> [LINK <target>...])
#   Every <dir>/test_<x>.c and <dir>/it_<x>.c becomes an executable of the
#   same name, linked with the LINK targets and cmocka, and a test.
function(sg_add_c_tests dir)
    cmake_parse_arguments(PARSE_ARGV 1 arg "" "" "LINK")
    file(GLOB unit_sources CONFIGURE_DEPENDS "${dir}/test_*.c")
    file(GLOB integration_sources CONFIGURE_DEPENDS "${dir}/it_*.c")
    foreach(source IN LISTS unit_sources integration_sources)
        get_filename_component(name "${source}" NAME_WE)
        if(source IN_LIST unit_sources)
            set(kind unit)
        else()
            set(kind integration)
        endif()
        sg_test_labels("${source}" ${kind} labels)
        add_executable(${name} "${source}")
        target_link_libraries(${name} PRIVATE ${arg_LINK} PkgConfig::cmocka)
        sg_add_test(${name} LABELS ${labels} MEMCHECK COMMAND ${name})
    endforeach()
endfunction()

# sg_add_script_tests(<dir>)
#   Every <dir>/test_<x>.sh becomes the test `sh:test_<x>`, run with bash.
function(sg_add_script_tests dir)
    file(GLOB scripts CONFIGURE_DEPENDS "${dir}/test_*.sh")
    foreach(script IN LISTS scripts)
        get_filename_component(name "${script}" NAME_WE)
        sg_test_labels("${script}" unit labels)
        sg_add_test("sh:${name}" LABELS ${labels}
            COMMAND bash "${script}")
    endforeach()
endfunction()

# sg_add_redis_fixture()
#   The ctest fixture `redis`: a first test that fails with a plain message
#   when redis-server is missing, so that integration tests do not each fail
#   in their own confusing way. Each test still starts its own server (the
#   Redis fixture in impl/internal, or ci/redis-fixture.sh).
function(sg_add_redis_fixture)
    set(check [=[
for program in redis-server redis-cli; do
    if ! command -v "$program" >/dev/null 2>&1; then
        echo "redis_server_available: $program is not on PATH." >&2
        echo "Install the Debian package redis-server (ci/bootstrap does)." >&2
        exit 1
    fi
done
redis-server --version
]=])
    add_test(NAME redis_server_available COMMAND sh -c "${check}")
    sg__test_properties(redis_server_available integration 30)
    set_tests_properties(redis_server_available PROPERTIES
        FIXTURES_SETUP redis)
endfunction()

# sg_add_child_projects(<dir>)
#   add_subdirectory() for each <dir>/<child>/ that has a CMakeLists.txt.
function(sg_add_child_projects dir)
    file(GLOB lists CONFIGURE_DEPENDS "${dir}/*/CMakeLists.txt")
    foreach(list_file IN LISTS lists)
        get_filename_component(child "${list_file}" DIRECTORY)
        add_subdirectory("${child}")
    endforeach()
endfunction()

# sg_add_area(<dir>)
#   add_subdirectory() for <dir> itself when it has a CMakeLists.txt (which
#   then owns its folders), else sg_add_child_projects(<dir>).
function(sg_add_area dir)
    file(GLOB own CONFIGURE_DEPENDS "${dir}/CMakeLists.txt")
    if(own)
        add_subdirectory("${dir}")
    else()
        sg_add_child_projects("${dir}")
    endif()
endfunction()

# sg_project_libraries(<out-var>)
#   The project's libraries that exist in this build (sg, sg_internal):
#   either may be missing while its folder has no sources yet.
function(sg_project_libraries out_var)
    set(libs "")
    foreach(lib IN ITEMS sg sg_internal)
        if(TARGET ${lib})
            list(APPEND libs ${lib})
        endif()
    endforeach()
    set(${out_var} ${libs} PARENT_SCOPE)
endfunction()
