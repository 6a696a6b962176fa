# Test script behind sg_bench_runtime_smoke (cmake -P): runs
# `sg-bench runtime --messages 2000 --channels 10` (which starts its own
# redis-server) and checks that it exits 0 and prints one JSON line with
# every key a reader of the figures relies on, and that both sides were
# handled exactly once and in order. Timings are not checked.
#
# Input (-D): BENCH, the sg-bench executable.

cmake_minimum_required(VERSION 3.25)

if(NOT BENCH)
    message(FATAL_ERROR "check-runtime-output.cmake: -DBENCH=... is required")
endif()

execute_process(COMMAND "${BENCH}" runtime --messages 2000 --channels 10
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE out
    ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "sg-bench runtime exited with ${rc}:\n${err}")
endif()

string(REGEX MATCHALL "\n" newlines "${out}")
list(LENGTH newlines lines)
if(NOT lines EQUAL 1 OR NOT out MATCHES "\n$")
    message(FATAL_ERROR "expected one line of output, got:\n${out}")
endif()
string(STRIP "${out}" line)

string(JSON bench ERROR_VARIABLE bad GET "${line}" bench)
if(bad OR NOT bench STREQUAL "runtime")
    message(FATAL_ERROR "not a runtime result (${bad}):\n${line}")
endif()
foreach(key IN ITEMS read_count redis latency)
    string(JSON value ERROR_VARIABLE bad GET "${line}" ${key})
    if(bad OR value STREQUAL "")
        message(FATAL_ERROR "'${key}' missing or empty:\n${line}")
    endif()
endforeach()

set(number "^[0-9]+(\\.[0-9]+)?$")
foreach(side IN ITEMS inbound outbound)
    string(JSON messages ERROR_VARIABLE bad GET "${line}" ${side} messages)
    string(JSON channels ERROR_VARIABLE bad2 GET "${line}" ${side} channels)
    if(bad OR bad2 OR NOT messages EQUAL 2000 OR NOT channels EQUAL 10)
        message(FATAL_ERROR "'${side}' messages/channels wrong:\n${line}")
    endif()
    foreach(key IN ITEMS seconds msgs_per_s commands_per_msg p50_us p99_us)
        string(JSON value ERROR_VARIABLE bad GET "${line}" ${side} ${key})
        if(bad OR NOT value MATCHES "${number}")
            message(FATAL_ERROR
                "'${side}.${key}' missing or not a number:\n${line}")
        endif()
    endforeach()
    foreach(key IN ITEMS exactly_once ordered)
        string(JSON value ERROR_VARIABLE bad GET "${line}" ${side} ${key})
        if(bad OR NOT value STREQUAL "ON")
            message(FATAL_ERROR "'${side}.${key}' is not true:\n${line}")
        endif()
    endforeach()
endforeach()

message(STATUS "sg-bench runtime output is well-formed:\n${line}")
