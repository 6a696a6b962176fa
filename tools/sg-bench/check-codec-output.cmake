# Test script behind sg_bench_codec_smoke (cmake -P): runs
# `sg-bench codec --iterations 1000` and checks that it exits 0 and prints
# exactly one line, a JSON object with every key a reader of the figures
# relies on, the numbers positive. Timings themselves are not checked.
#
# Input (-D): BENCH, the sg-bench executable.

cmake_minimum_required(VERSION 3.25)

if(NOT BENCH)
    message(FATAL_ERROR "check-codec-output.cmake: -DBENCH=... is required")
endif()

execute_process(COMMAND "${BENCH}" codec --iterations 1000
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE out
    ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "sg-bench codec exited with ${rc}:\n${err}")
endif()

string(REGEX MATCHALL "\n" newlines "${out}")
list(LENGTH newlines lines)
if(NOT lines EQUAL 1 OR NOT out MATCHES "\n$")
    message(FATAL_ERROR "expected one line of output, got:\n${out}")
endif()
string(STRIP "${out}" line)

string(JSON bench ERROR_VARIABLE bad GET "${line}" bench)
if(bad OR NOT bench STREQUAL "codec")
    message(FATAL_ERROR "not a codec result (${bad}):\n${line}")
endif()

foreach(key IN ITEMS iterations rounds)
    string(JSON value ERROR_VARIABLE bad GET "${line}" ${key})
    if(bad OR NOT value MATCHES "^[1-9][0-9]*$")
        message(FATAL_ERROR "'${key}' missing or not a count:\n${line}")
    endif()
endforeach()
string(JSON iterations GET "${line}" iterations)
if(NOT iterations EQUAL 1000)
    message(FATAL_ERROR "--iterations 1000 gave iterations ${iterations}")
endif()
foreach(key IN ITEMS compiler build_type)
    string(JSON value ERROR_VARIABLE bad GET "${line}" ${key})
    if(bad OR value STREQUAL "")
        message(FATAL_ERROR "'${key}' missing or empty:\n${line}")
    endif()
endforeach()

set(number "^[0-9]+(\\.[0-9]+)?$")
foreach(case IN ITEMS inbound outbound_message)
    foreach(key IN ITEMS bytes fields encode_ns encode_mb_s decode_ns
                         decode_mb_s)
        string(JSON value ERROR_VARIABLE bad GET "${line}" ${case} ${key})
        if(bad OR NOT value MATCHES "${number}"
           OR value MATCHES "^0+(\\.0+)?$")
            message(FATAL_ERROR
                "'${case}.${key}' missing or not a positive number "
                "('${value}'):\n${line}")
        endif()
    endforeach()
endforeach()

message(STATUS "sg-bench codec output is well-formed:\n${line}")
