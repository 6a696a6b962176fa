# Test script behind sg_bench_e2e_smoke (cmake -P): runs
# `sg-bench e2e --messages 300 --channels 6` (which starts redis-server,
# the mock LLM, a gateway and two workers from the same bin/ folder) and
# checks that it exits 0 and prints one JSON line with every key a reader
# of the figures relies on, every message delivered exactly once and in
# order, nothing dead-lettered or pending, and the CPU time of every
# process accounted for. Timings are not checked.
#
# Input (-D): BENCH, the sg-bench executable.

cmake_minimum_required(VERSION 3.25)

if(NOT BENCH)
    message(FATAL_ERROR "check-e2e-output.cmake: -DBENCH=... is required")
endif()

execute_process(COMMAND "${BENCH}" e2e --messages 300 --channels 6
        --timeout 120
    RESULT_VARIABLE rc
    OUTPUT_VARIABLE out
    ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
    message(FATAL_ERROR "sg-bench e2e exited with ${rc}:\n${out}\n${err}")
endif()

string(REGEX MATCHALL "\n" newlines "${out}")
list(LENGTH newlines lines)
if(NOT lines EQUAL 1 OR NOT out MATCHES "\n$")
    message(FATAL_ERROR "expected one line of output, got:\n${out}")
endif()
string(STRIP "${out}" line)

string(JSON bench ERROR_VARIABLE bad GET "${line}" bench)
if(bad OR NOT bench STREQUAL "e2e")
    message(FATAL_ERROR "not an e2e result (${bad}):\n${line}")
endif()
foreach(pair IN ITEMS messages=300 channels=6 workers=2 delivered=300
        dead_lettered=0 pending=0)
    string(REPLACE "=" ";" kv "${pair}")
    list(GET kv 0 key)
    list(GET kv 1 want)
    string(JSON value ERROR_VARIABLE bad GET "${line}" ${key})
    if(bad OR NOT value EQUAL want)
        message(FATAL_ERROR "'${key}' is '${value}', expected ${want}:\n${line}")
    endif()
endforeach()
set(number "^-?[0-9]+(\\.[0-9]+)?$")
foreach(key IN ITEMS seconds msgs_per_s p50_ms p99_ms redis_commands_per_msg
        platform_calls_per_msg)
    string(JSON value ERROR_VARIABLE bad GET "${line}" ${key})
    if(bad OR NOT value MATCHES "${number}")
        message(FATAL_ERROR "'${key}' missing or not a number:\n${line}")
    endif()
endforeach()
foreach(key IN ITEMS exactly_once ordered)
    string(JSON value ERROR_VARIABLE bad GET "${line}" ${key})
    if(bad OR NOT value STREQUAL "ON")
        message(FATAL_ERROR "'${key}' is not true:\n${line}")
    endif()
endforeach()
foreach(proc IN ITEMS mock-llm gateway worker-1 worker-2)
    foreach(key IN ITEMS idle peak)
        string(JSON value ERROR_VARIABLE bad GET "${line}" rss_kb ${proc} ${key})
        if(bad OR NOT value MATCHES "^[0-9]+$" OR value EQUAL 0)
            message(FATAL_ERROR "'rss_kb.${proc}.${key}' wrong:\n${line}")
        endif()
    endforeach()
endforeach()

# CPU per message: every process of the stack and the total, none unknown
# (-1). A short run may round a process down to 0, never below.
foreach(proc IN ITEMS redis-server sg-bench mock-llm gateway worker-1
        worker-2 total)
    string(JSON value ERROR_VARIABLE bad GET "${line}" cpu_us_per_msg ${proc})
    if(bad OR NOT value MATCHES "^[0-9]+(\\.[0-9]+)?$")
        message(FATAL_ERROR "'cpu_us_per_msg.${proc}' wrong:\n${line}")
    endif()
endforeach()
string(JSON value ERROR_VARIABLE bad GET "${line}" cpu_us_per_msg total)
if(value EQUAL 0)
    message(FATAL_ERROR "'cpu_us_per_msg.total' is 0:\n${line}")
endif()
# How the workers shared the channels: per worker, non-negative figures
# read from its metrics (-1 would mean a metric could not be read).
foreach(proc IN ITEMS worker-1 worker-2)
    foreach(key IN ITEMS handed_over lock_busy woken)
        string(JSON value ERROR_VARIABLE bad GET "${line}" workers_per_msg
               ${proc} ${key})
        if(bad OR NOT value MATCHES "^[0-9]+(\\.[0-9]+)?$")
            message(FATAL_ERROR
                    "'workers_per_msg.${proc}.${key}' wrong:\n${line}")
        endif()
    endforeach()
endforeach()
string(JSON value ERROR_VARIABLE bad GET "${line}" redis_usec_per_msg evalsha)
if(bad OR NOT value MATCHES "${number}")
    message(FATAL_ERROR "'redis_usec_per_msg.evalsha' missing:\n${line}")
endif()

message(STATUS "sg-bench e2e output is well-formed:\n${line}")
