/*
 * fuzz_fastpath: the decoder's fast path against its exact reading.
 *
 * sg_envelope_decode_data() first tries a one-pass reader for the common
 * case and falls back to the three-step reading of SPEC SG-ENV-002 when it
 * meets anything unusual. That makes the fast path a second parser of the
 * same outside bytes, and it must agree with the first on every input: the
 * same result code, for a rejection the same reason at the same path, for
 * an acceptance an equal envelope. libsg's internal flag
 * SG__DECODE_EXACT runs the exact reading alone.
 *
 * The first byte chooses the kind (bits 0-1, sg_kind); the rest is the
 * `data` bytes.
 */
#include "harness.h"

/* The decoder's internal entry point and its flags. */
#include "../impl/libsg/decode_internal.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_heap_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_decode_opts opts = fuzz_opts(0);
    sg_envelope *fast = NULL;
    sg_envelope *exact = NULL;
    sg_error err_fast;
    sg_error err_exact;
    sg_kind kind;
    int rc_fast;
    int rc_exact;

    if (size == 0) {
        return 0;
    }
    kind = fuzz_kind(data[0]);
    data++;
    size--;

    fuzz_input_begin(-1);
    sg_error_clear(&err_fast);
    sg_error_clear(&err_exact);
    rc_fast = sg_envelope_decode_data(kind, data, size, &opts, &fast,
                                      &err_fast);
    fuzz_check_decode("decode_data", kind, rc_fast, fast, &err_fast, 0);
    rc_exact = sg__decode_data(kind, data, size, &opts, SG__DECODE_EXACT,
                               &exact, &err_exact);
    fuzz_check_decode("exact decode", kind, rc_exact, exact, &err_exact, 0);

    if (rc_fast != rc_exact) {
        fuzz_fail("fast path: %s, exact reading: %s (%s at '%s')",
                  sg_err_name(rc_fast), sg_err_name(rc_exact),
                  rc_fast != 0 ? sg_reason_name(err_fast.reason)
                               : sg_reason_name(err_exact.reason),
                  rc_fast != 0 ? err_fast.path : err_exact.path);
    }
    if (rc_fast == SG_EDECODE
        && (err_fast.reason != err_exact.reason
            || strcmp(err_fast.path, err_exact.path) != 0)) {
        fuzz_fail("fast path rejects with %s at '%s', exact reading with "
                  "%s at '%s'", sg_reason_name(err_fast.reason),
                  err_fast.path, sg_reason_name(err_exact.reason),
                  err_exact.path);
    }
    if (rc_fast == 0 && sg_envelope_equal(fast, exact) != 1) {
        fuzz_fail("fast path and exact reading decode different envelopes");
    }
    sg_envelope_free(fast);
    sg_envelope_free(exact);
    fuzz_input_end();
    return 0;
}
