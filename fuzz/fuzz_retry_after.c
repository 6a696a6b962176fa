/*
 * fuzz_retry_after: sg-inference's reading of the Retry-After header of
 * an LLM server's 429 or 5xx answer (sgi_retry_after_ms, declared in
 * impl/inference/llm.h), which sets the delay before the call is retried.
 *
 * sg-fuzz-links: sg_inference_core
 *
 * Input: a mode byte, then the header's value (the bytes after the colon,
 * NULs and all, up to the end of the input; no NUL after them). Mode bits
 * 0-2 pick the cap (max_ms) from caps[] below; bit 3 makes it negative
 * (-1 - caps[i]), which the function counts as 0.
 *
 * Checks, as llm.h documents them: the answer is -1 (no delta-seconds:
 * the caller backs off) or within 0 .. min(cap, 999999999000) ms; and it
 * is the one the documented reading gives, worked out here apart: spaces
 * and tabs, digits (leading zeros skipped, 10^9 s and more saturated),
 * then only spaces, tabs, CR and LF; times 1000, capped; -1 for
 * anything else. The value is read in place, at the end of
 * the input's buffer, so that a read past len is a sanitizer (or
 * memcheck) error. The function allocates nothing.
 */
#include "harness.h"

#include <limits.h>

#include "llm.h"

/* The longest delay the function can answer: 9 digits of seconds. */
#define MAX_ANSWER_MS 999999999000LL

static const long caps[8] = {
    30000L,         /* sgi_llm_new()'s default */
    0L,
    1L,
    999L,
    1000L,
    1500L,
    (long)INT_MAX,  /* the most opts.retry_after_max_ms can be */
    LONG_MAX,
};

/* The reading llm.h documents, in long long (at least 64 bits). */
static long long expected_ms(const uint8_t *v, size_t len, long cap)
{
    long long seconds = 0, ms, limit = cap < 0 ? 0 : cap;
    size_t i = 0, start;

    while (i < len && (v[i] == ' ' || v[i] == '\t'))
        i++;
    start = i;
    while (i < len && v[i] >= '0' && v[i] <= '9') {
        seconds = seconds * 10 + (v[i] - '0');
        if (seconds > 999999999LL)
            seconds = 999999999LL;
        i++;
    }
    if (i == start)
        return -1;
    for (; i < len; i++)
        if (v[i] != ' ' && v[i] != '\t' && v[i] != '\r' && v[i] != '\n')
            return -1;
    ms = seconds * 1000;
    return ms < limit ? ms : limit;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *value;
    size_t len;
    long cap, ms;
    long long want, bound;

    if (size < 1)
        return 0;
    cap = caps[data[0] & 7];
    if (data[0] & 8)
        cap = -1 - cap;
    value = data + 1;
    len = size - 1;

    ms = sgi_retry_after_ms((const char *)value, len, cap);

    bound = cap < 0 ? 0 : cap;
    if (bound > MAX_ANSWER_MS)
        bound = MAX_ANSWER_MS;
    if (ms != -1 && (ms < 0 || ms > bound))
        fuzz_fail("%ld ms out of -1 or 0 .. %lld (cap %ld)", ms, bound, cap);
    want = expected_ms(value, len, cap);
    if (ms != want)
        fuzz_fail("%ld ms, not %lld (cap %ld, %zu bytes)", ms, want, cap,
                  len);
    return 0;
}
