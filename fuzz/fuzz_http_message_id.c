/*
 * fuzz_http_message_id: sg-gateway's reading of the `message_id` in the
 * body of a 2xx answer from the `http` platform's webhook
 * (gw_http_response_message_id(), impl/gateway/gw_http.c), used for the
 * message-ID write-back (SPEC section 17). The reader has a hand-written
 * fast path for flat objects and falls back to cJSON for anything else;
 * its contract is to read exactly what cJSON reads.
 *
 * sg-fuzz-links: sg_gateway_core
 *
 * Input: a mode byte, then the body (a copy of its exact size,
 * NUL-terminated, as the webhook client hands it over). The mode byte
 * picks the size of the caller's buffer, 1 to 256 bytes, which is
 * allocated at that size so that a write past it is seen.
 *
 * Checks: the ID is NUL-terminated within the buffer and is the one
 * cJSON gives: the top-level "message_id" of an object (the first of the
 * name), a string kept when shorter than the buffer, a number as its
 * "%.0f" text, else "".
 */
#include "harness.h"

#include <cjson/cJSON.h>

#include "gw_http.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_heap_init();
    return 0;
}

static void by_cjson(const char *body, size_t len, char *out, size_t cap)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *mid = cJSON_GetObjectItemCaseSensitive(root, "message_id");

    out[0] = '\0';
    if (cJSON_IsString(mid) && strlen(mid->valuestring) < cap)
        snprintf(out, cap, "%s", mid->valuestring);
    else if (cJSON_IsNumber(mid))
        snprintf(out, cap, "%.0f", mid->valuedouble);
    cJSON_Delete(root);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body, *got, *want;
    size_t len, cap;

    if (size < 1)
        return 0;
    cap = (size_t)data[0] + 1;
    len = size - 1;
    body = malloc(len + 1);
    got = malloc(cap);
    want = malloc(cap);
    if (body == NULL || got == NULL || want == NULL)
        fuzz_fail("out of memory in the harness");
    if (len > 0)
        memcpy(body, data + 1, len);
    body[len] = '\0';
    memset(got, 0x5a, cap);

    gw_http_response_message_id(body, len, got, cap);
    by_cjson(body, len, want, cap);
    if (memchr(got, '\0', cap) == NULL)
        fuzz_fail("the ID is not NUL-terminated within %zu bytes", cap);
    if (strcmp(got, want) != 0)
        fuzz_fail("read '%s', cJSON reads '%s' (buffer of %zu)", got, want,
                  cap);
    free(body);
    free(got);
    free(want);
    return 0;
}
