/*
 * fuzz_mock_llm_request: sg-mock-llm's reader of a chat completion
 * request body (mocks/llm/llm_request.c, included whole so that the
 * harness reaches the scan alone, read_scan(), which is static, and
 * needs no library of the mock's).
 *
 * Input: a mode byte, then the body. The body goes into a block of
 * exactly len + 1 bytes, so that a read past body[len] is seen by the
 * sanitizers; mode bits 0-1 pick the byte at body[len] ('\0', '"', '}'
 * or ' '), which the reader may look at but must not be swayed by.
 * Mode bit 2: the body is read once more both ways with allocation
 * number (mode >> 3) refused, the reader's own or cJSON's.
 *
 * Checks (any difference aborts, naming the field):
 * - the tree reading (llm_request_read_tree, the definition) returns 0
 *   (plain malloc does not refuse here) and is self-consistent: a
 *   refused body has no model, no text and no words; an accepted one has
 *   a text; no more words than bytes;
 * - the scan alone (read_scan), when it answers rather than hands over,
 *   gives the same status, model, text and prompt_words as the tree;
 * - llm_request_read (the scan, or the tree for what the scan hands
 *   over) gives the same as the tree on every body;
 * - the scan answers, without handing over, every body that cJSON prints
 *   back byte for byte (strict JSON with no spacing, plain numbers, only
 *   the escapes cJSON writes), whose top is an object, whose keys need no
 *   escape and whose nesting is within SCAN_MAX_DEPTH: such bodies are
 *   what the scan is for;
 * - with an allocation refused: -1 only after the refusal, with nothing
 *   left allocated (LeakSanitizer, memcheck); 0 with a well-formed
 *   answer, the tree's own when the refused allocation was never asked.
 * cJSON allocates through its own hooks, not the capped allocator;
 * LeakSanitizer (or memcheck in the replay) watches those and the
 * reader's own malloc.
 */
#define _POSIX_C_SOURCE 200809L

#include "harness.h"

#include <cjson/cJSON.h>

/* The reader's own allocations and cJSON's go through oom_malloc, which
 * refuses allocation number oom_fail_at of a reading (-1: none), so that
 * the reader's paths after a refusal run too. The reader's source is
 * compiled here with malloc and strdup renamed; its headers were all
 * included above, so the names change in its code alone. */
static long oom_calls;
static long oom_fail_at = -1;
static int oom_refused;

static void *oom_malloc(size_t n)
{
    if (oom_calls++ == oom_fail_at) {
        oom_refused = 1;
        return NULL;
    }
    return malloc(n);
}

static char *oom_strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = oom_malloc(n);

    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

static void oom_arm(long fail_at)
{
    oom_calls = 0;
    oom_fail_at = fail_at;
    oom_refused = 0;
}

#define malloc(n) oom_malloc(n)
#define strdup(s) oom_strdup(s)
#include "../mocks/llm/llm_request.c"
#undef malloc
#undef strdup

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    static cJSON_Hooks hooks = { oom_malloc, free };

    (void)argc;
    (void)argv;
    fuzz_heap_init();
    cJSON_InitHooks(&hooks);
    return 0;
}

static const char *show(const char *s)
{
    return s != NULL ? s : "(null)";
}

static int str_eq(const char *a, const char *b)
{
    return (a == NULL && b == NULL) ||
           (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Aborts, naming the first field that differs, unless a equals b. */
static void expect_same(const char *what, const llm_request *a,
                        const llm_request *b)
{
    if (a->status != b->status)
        fuzz_fail("%s: status %d, tree %d", what, (int)a->status,
                  (int)b->status);
    if (!str_eq(a->model, b->model))
        fuzz_fail("%s: model \"%s\", tree \"%s\"", what, show(a->model),
                  show(b->model));
    if (!str_eq(a->text, b->text))
        fuzz_fail("%s: text \"%s\", tree \"%s\"", what, show(a->text),
                  show(b->text));
    if (a->prompt_words != b->prompt_words)
        fuzz_fail("%s: prompt_words %ld, tree %ld", what, a->prompt_words,
                  b->prompt_words);
}

/* A reading made while one allocation was to be refused: -1 only after
 * a refusal, and then nothing left to free; 0 without a refusal is the
 * tree's answer; 0 after one (a tree that could not be built reads as
 * not JSON) is a well-formed answer. The reading is destroyed. */
static void check_refused(const char *what, const llm_request *tree,
                          int rc, llm_request *r)
{
    if (rc == -1) {
        if (!oom_refused)
            fuzz_fail("%s: -1 but no allocation was refused", what);
        if (r->model != NULL || r->text != NULL)
            fuzz_fail("%s: -1 with a model or text left", what);
    } else if (rc != 0) {
        fuzz_fail("%s: returned %d", what, rc);
    } else if (!oom_refused) {
        expect_same(what, r, tree);
    } else if (r->status == LLM_REQUEST_OK ? r->text == NULL
               : r->model != NULL || r->text != NULL) {
        fuzz_fail("%s: status %d after a refusal with model %s, text %s",
                  what, (int)r->status, show(r->model), show(r->text));
    }
    llm_request_destroy(r);
}

/* 1 when no key under v needs an escape and containers nest at most
 * `depth` deep (v itself counting as one level when a container). */
static int plain_keys(const cJSON *v, int depth)
{
    const cJSON *c;

    if (v->string != NULL) {
        const unsigned char *k = (const unsigned char *)v->string;

        for (; *k != '\0'; k++)
            if (*k < 0x20 || *k == '"' || *k == '\\')
                return 0;
    }
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
        return 1;
    if (depth <= 0)
        return 0;
    cJSON_ArrayForEach(c, v)
        if (!plain_keys(c, depth - 1))
            return 0;
    return 1;
}

/* 1 when the body is one the scan must answer itself (see the top). */
static int scan_must_answer(const char *body, size_t len)
{
    cJSON *tree = cJSON_ParseWithLength(body, len);
    char *printed;
    int yes = 0;

    if (tree == NULL)
        return 0;
    if (cJSON_IsObject(tree) && plain_keys(tree, SCAN_MAX_DEPTH)) {
        printed = cJSON_PrintUnformatted(tree);
        if (printed == NULL)
            fuzz_fail("out of memory in the harness");
        yes = strlen(printed) == len && memcmp(printed, body, len) == 0;
        cJSON_free(printed);
    }
    cJSON_Delete(tree);
    return yes;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char after[4] = { '\0', '"', '}', ' ' };
    llm_request tree;
    llm_request scan;
    llm_request full;
    size_t len;
    char *body;
    int rc;

    if (size < 1)
        return 0;
    len = size - 1;
    body = malloc(len + 1);
    if (body == NULL)
        return 0;
    if (len > 0)
        memcpy(body, data + 1, len);
    body[len] = after[data[0] & 3];

    if (llm_request_read_tree(&tree, body, len) != 0)
        fuzz_fail("tree reading ran out of memory");
    if (tree.status != LLM_REQUEST_OK) {
        if (tree.model != NULL || tree.text != NULL ||
            tree.prompt_words != 0)
            fuzz_fail("tree: status %d with a model, text or words",
                      (int)tree.status);
    } else {
        if (tree.text == NULL)
            fuzz_fail("tree: status OK without a text");
        if (strlen(tree.text) > len)
            fuzz_fail("tree: text longer than the body");
    }
    if (tree.prompt_words < 0 || (size_t)tree.prompt_words > len)
        fuzz_fail("tree: prompt_words %ld for %zu bytes", tree.prompt_words,
                  len);

    /* The scan alone, where it answers. */
    rc = read_scan(&scan, body, len);
    if (rc == 0) {
        expect_same("scan", &scan, &tree);
    } else if (rc == SCAN_HAND_OVER) {
        if (scan_must_answer(body, len))
            fuzz_fail("scan handed over a body cJSON prints back as it is");
    } else {
        fuzz_fail("scan returned %d (out of memory?)", rc);
    }
    llm_request_destroy(&scan);

    /* What the mock calls: the scan, the tree behind it. */
    if (llm_request_read(&full, body, len) != 0)
        fuzz_fail("llm_request_read ran out of memory");
    expect_same("llm_request_read", &full, &tree);
    llm_request_destroy(&full);

    if (data[0] & 4) {
        long fail_at = data[0] >> 3;

        oom_arm(fail_at);
        check_refused("llm_request_read", &tree,
                      llm_request_read(&full, body, len), &full);
        oom_arm(fail_at);
        check_refused("llm_request_read_tree", &tree,
                      llm_request_read_tree(&full, body, len), &full);
        oom_arm(-1);
    }

    llm_request_destroy(&tree);
    free(body);
    return 0;
}
