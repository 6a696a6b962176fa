# Test-time script behind the fuzz_<name>_run tests (cmake -P).
#
# Inputs (-D): HARNESS, NAME, SECONDS, WORK_DIR, ARTIFACT_DIR,
# SEED_DIRS ('|'-separated, may be empty), DICT (may be empty).
# The environment variable SG_FUZZ_SECONDS, when set, overrides SECONDS.
#
# libFuzzer writes the inputs it finds into the first folder it is given
# and only reads the others, so the writable work folder goes first and the
# checked-in seed folders after it: the source tree is never written to.

cmake_minimum_required(VERSION 3.25)

foreach(var IN ITEMS HARNESS NAME SECONDS WORK_DIR ARTIFACT_DIR)
    if(NOT DEFINED ${var} OR "${${var}}" STREQUAL "")
        message(FATAL_ERROR "SgFuzzRun.cmake: -D${var}=... is required")
    endif()
endforeach()

if(DEFINED ENV{SG_FUZZ_SECONDS} AND NOT "$ENV{SG_FUZZ_SECONDS}" STREQUAL "")
    set(SECONDS "$ENV{SG_FUZZ_SECONDS}")
endif()
if(NOT SECONDS MATCHES "^[0-9]+$")
    message(FATAL_ERROR "fuzz_${NAME}: SG_FUZZ_SECONDS='${SECONDS}' is not "
        "a whole number of seconds")
endif()

file(MAKE_DIRECTORY "${WORK_DIR}" "${ARTIFACT_DIR}")

set(args
    -max_total_time=${SECONDS}
    -timeout=25
    -rss_limit_mb=2048
    -print_final_stats=1
    "-artifact_prefix=${ARTIFACT_DIR}/")
if(DICT)
    list(APPEND args "-dict=${DICT}")
endif()

set(dirs "${WORK_DIR}")
string(REPLACE "|" ";" seed_list "${SEED_DIRS}")
foreach(dir IN LISTS seed_list)
    if(IS_DIRECTORY "${dir}")
        list(APPEND dirs "${dir}")
    endif()
endforeach()

message(STATUS "fuzz_${NAME}: fuzzing for ${SECONDS} s; work corpus "
    "${WORK_DIR}")
# libFuzzer reports on stderr: show it as it comes, and keep it to find the
# name of the reproducer it wrote.
execute_process(COMMAND "${HARNESS}" ${args} ${dirs}
    RESULT_VARIABLE rc
    ERROR_VARIABLE fuzz_log
    ECHO_ERROR_VARIABLE)

if(rc EQUAL 0)
    message(STATUS "fuzz_${NAME}: no crash in ${SECONDS} s")
    return()
endif()

string(REGEX MATCHALL "Test unit written to [^\n]+" written "${fuzz_log}")
set(reproducers "")
foreach(line IN LISTS written)
    string(REPLACE "Test unit written to " "" file "${line}")
    string(APPEND reproducers "\n    ${file}")
endforeach()
if(reproducers STREQUAL "")
    set(reproducers "\n    (none written; see libFuzzer's output above)")
endif()

message(FATAL_ERROR "fuzz_${NAME}: libFuzzer failed (${rc}). "
    "Reproducer:${reproducers}\n"
    "Replay it with:\n    ${HARNESS} <reproducer>\n"
    "Once fixed, add it to fuzz/regressions/${NAME}/, named by the "
    "SHA-256 of its content, so that fuzz_${NAME}_replay keeps checking it.")
