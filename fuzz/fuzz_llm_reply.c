/*
 * fuzz_llm_reply: sg-inference's reader of an LLM chat.completion body
 * (impl/inference/llm_reply.c, included whole so that the harness needs
 * no library of the worker's).
 *
 * Input: a mode byte, then the body. Mode bit 0 picks a small byte limit
 * (64) instead of the reader's default (1 MiB).
 *
 * Checks: an accepted body gives a NUL-terminated content of content_len
 * bytes, non-empty, valid UTF-8, within SGI_LLM_REPLY_MAX_TEXT, and the
 * tools text exactly when tools_fallback is set; a refused body gives no
 * content and an error text that names a field (it starts with
 * "response", "choices" or "out of memory"). The reader's fast reading
 * (reply_fast) and its tree reading (reply_tree) agree: a body the fast
 * one reads gives the tree one the same content, tool calls and
 * finish_reason. cJSON allocates through its own hooks, not the capped
 * allocator; LeakSanitizer watches those.
 */
#include "harness.h"

#include "../impl/inference/llm_reply.c"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_heap_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sgi_llm_reply r;
    size_t max_bytes, n;
    char err[256];
    char *text;
    int rc;

    if (size < 1)
        return 0;
    max_bytes = (data[0] & 1) ? 64 : 0;
    n = size - 1;
    /* The reader wants the NUL that ends every response buffer. */
    text = malloc(n + 1);
    if (text == NULL)
        return 0;
    if (n > 0)
        memcpy(text, data + 1, n);
    text[n] = '\0';

    /* The fast reading, where it answers, is the tree reading's. */
    if (n <= (max_bytes != 0 ? max_bytes : SGI_LLM_REPLY_MAX_BYTES) &&
        memchr(text, '\0', n) == NULL && reply_fast(text, n, &r)) {
        sgi_llm_reply t;

        if (reply_tree(text, n, max_bytes != 0 ? max_bytes
                                               : SGI_LLM_REPLY_MAX_BYTES,
                       &t, err, sizeof err) != 0)
            fuzz_fail("fast reading accepted, tree reading refused: %s",
                      err);
        if (t.content_len != r.content_len ||
            memcmp(t.content, r.content, r.content_len + 1) != 0 ||
            t.tool_calls != r.tool_calls ||
            t.tools_fallback != r.tools_fallback ||
            strcmp(t.finish_reason, r.finish_reason) != 0)
            fuzz_fail("fast and tree readings differ");
        sgi_llm_reply_clear(&t);
        sgi_llm_reply_clear(&r);
    }

    rc = sgi_llm_reply_parse(text, n, max_bytes, &r, err, sizeof err);
    if (rc == 0) {
        if (r.content == NULL || r.content_len == 0 ||
            strlen(r.content) != r.content_len)
            fuzz_fail("accepted without a content of content_len bytes");
        if (r.content_len > SGI_LLM_REPLY_MAX_TEXT)
            fuzz_fail("content of %zu bytes over the limit", r.content_len);
        if (!sg__utf8_valid((const uint8_t *)r.content, r.content_len))
            fuzz_fail("content is not UTF-8");
        if (r.tools_fallback !=
            (strcmp(r.content, SGI_LLM_TOOLS_UNAVAILABLE) == 0 &&
             r.tool_calls > 0))
            fuzz_fail("tools fallback flag does not match the content");
        if (r.tools_fallback && r.tool_calls <= 0)
            fuzz_fail("tools fallback without tool calls");
    } else if (rc == -1) {
        if (r.content != NULL || r.content_len != 0)
            fuzz_fail("refused with a content left");
        if (strncmp(err, "response", 8) != 0 &&
            strncmp(err, "choices", 7) != 0 &&
            strncmp(err, "out of memory", 13) != 0)
            fuzz_fail("refused without naming the field: %s", err);
    } else {
        fuzz_fail("sgi_llm_reply_parse returned %d", rc);
    }
    sgi_llm_reply_clear(&r);
    free(text);
    return 0;
}
