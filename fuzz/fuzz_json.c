/*
 * fuzz_json: sg_envelope_from_json(), the JSON bridge (sg/json.h).
 *
 * The first byte is a mode: bits 0-1 the kind (sg_kind), bit 2 small
 * limits (fuzz_small_limits). The rest is the JSON text, given without a
 * terminating NUL, as the bridge allows.
 *
 * Besides the decode's contract (fuzz/harness.h), an envelope the bridge
 * built must write back as JSON, and then go through the whole round-trip
 * property of fuzz_roundtrip: msgpack and JSON trips give equal envelopes
 * and stable bytes.
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
    sg_decode_opts opts;
    sg_envelope *env = NULL;
    sg_error err;
    sg_kind kind;
    int rc;

    if (size == 0) {
        return 0;
    }
    kind = fuzz_kind(data[0]);
    opts = fuzz_opts((data[0] & 0x04) != 0);

    fuzz_input_begin(-1);
    sg_error_clear(&err);
    rc = sg_envelope_from_json(kind, (const char *)data + 1, size - 1, &opts,
                               &env, &err);
    if (fuzz_check_decode("from_json", kind, rc, env, &err, FUZZ_JSON)) {
        fuzz_roundtrip(env);
    }
    sg_envelope_free(env);
    fuzz_input_end();
    return 0;
}
