/*
 * fuzz_tools_reply: sg_envelope_decode_data() of a tools reply (SPEC
 * section 11), the input being the bytes of an entry's `data` field as they
 * come off the stream. Checks the decode's contract (fuzz/harness.h) and
 * that every envelope is freed.
 */
#include "harness.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_heap_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return fuzz_decode_data_input(SG_KIND_TOOLS_REPLY, data, size, 0,
                                  NULL);
}
