/*
 * fuzz_history: sg-inference's reader of the history records it reads
 * back from Redis (impl/inference/prompt.c: read_record() and
 * sgi_prompt_body(), included whole so that the harness reaches the
 * record reader, which is static). Any process may write those records,
 * and the content of a usable one goes into the LLM request as it is
 * written, so the reader is all that keeps the request valid JSON.
 *
 * Input: a mode byte, then the records, separated by 0xff bytes (a byte
 * that UTF-8 never holds; a record is the bytes between two of them).
 * Each record goes into a block of its exact size, so that a read past
 * its end is seen by the sanitizers. Mode bit 0: no system prompt;
 * bit 1: the current message has a display name.
 *
 * Checks:
 * - the body is built (the only failure is memory, which plain malloc
 *   does not refuse here), is NUL-terminated, holds no NUL byte, and is
 *   one JSON object that cJSON reads to its end;
 * - its messages are the system message, one message per usable record
 *   in their order, then the current message, which is the text given;
 * - a usable record's message has its role, its content decoded as the
 *   reader counted it (the byte count used for the budget), the same
 *   text that cJSON reads from the record (when cJSON reads it), and a
 *   `name` that is sgi_prompt_name() of its user_name;
 * - a record that cJSON reads and prints back byte for byte (so: plain
 *   numbers, no escapes but the needed ones), with valid UTF-8, shallow
 *   nesting, role "user" or "assistant" and a string content, is usable.
 */
#include "harness.h"

#include <cjson/cJSON.h>

#include "../impl/inference/prompt.c"

#define MAX_RECORDS 4096
#define SEPARATOR 0xff

static const char current_text[] = "what now? \"quoted\" \\ \xc3\xa9";
static const char current_name[] = "Ann \xc3\xa9 Lee";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_heap_init();
    return 0;
}

static const cJSON *member(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

/* 1 when every string (and key) under v is valid UTF-8 and containers
   nest at most `depth` deep. */
static int tame(const cJSON *v, int depth)
{
    const cJSON *c;

    if (v->string != NULL &&
        !sg__utf8_valid((const uint8_t *)v->string, strlen(v->string)))
        return 0;
    if (cJSON_IsString(v))
        return sg__utf8_valid((const uint8_t *)v->valuestring,
                              strlen(v->valuestring));
    if (!cJSON_IsArray(v) && !cJSON_IsObject(v))
        return 1;
    if (depth <= 0)
        return 0;
    cJSON_ArrayForEach(c, v)
        if (!tame(c, depth - 1))
            return 0;
    return 1;
}

/* The record read by cJSON when it is a whole JSON text (NULL else). */
static cJSON *cjson_record(const char *rec, size_t len)
{
    char *copy;
    cJSON *root;

    if (memchr(rec, '\0', len) != NULL)
        return NULL;
    copy = malloc(len + 1);
    if (copy == NULL)
        fuzz_fail("out of memory in the harness");
    memcpy(copy, rec, len);
    copy[len] = '\0';
    root = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, 1);
    free(copy);
    return root;
}

/* 1 when cJSON prints root back as exactly the record's text. */
static int canonical(const cJSON *root, const char *rec, size_t len)
{
    char *text = cJSON_PrintUnformatted(root);
    int same;

    if (text == NULL)
        fuzz_fail("out of memory in the harness");
    same = strlen(text) == len && memcmp(text, rec, len) == 0;
    cJSON_free(text);
    return same;
}

/* Compares a decoded string with cJSON's, which ends at a \u0000. */
static int same_text(const char *a, size_t alen, const char *cj)
{
    const char *nul = memchr(a, '\0', alen);
    size_t n = nul != NULL ? (size_t)(nul - a) : alen;

    return strlen(cj) == n && memcmp(a, cj, n) == 0;
}

/*
 * Nonzero when the record's text holds a \u0000 escape. cJSON's keys are
 * C strings, so it reads a key "role\u0000" as "role": for such a record
 * it is no oracle of which member is which.
 */
static int has_nul_escape(const char *s, size_t n)
{
    size_t i;

    for (i = 0; i + 1 < n; i++) {
        if (s[i] != '\\')
            continue;
        if (s[i + 1] == 'u' && i + 5 < n && memcmp(s + i + 2, "0000", 4) == 0)
            return 1;
        i++;
    }
    return 0;
}

/* The record's decoded content, in a block the caller frees. */
static char *decode_lit(lit l, size_t want, size_t *n)
{
    char *out = malloc(want + 4);

    if (out == NULL)
        fuzz_fail("out of memory in the harness");
    *n = lit_decode(l, out, want + 4);
    return out;
}

static void check_record(size_t i, const char *rec, size_t len,
                         const record *r, const cJSON *msg)
{
    const cJSON *role = member(msg, "role");
    const cJSON *content = member(msg, "content");
    const cJSON *name = member(msg, "name");
    cJSON *cj = cjson_record(rec, len);
    char *text;
    size_t n;

    if (!cJSON_IsString(role) || strcmp(role->valuestring,
                                        r->user ? "user" : "assistant") != 0)
        fuzz_fail("record %zu: its message has the wrong role", i);
    if (!cJSON_IsString(content))
        fuzz_fail("record %zu: its message has no string content", i);
    text = decode_lit(r->content, r->content_len, &n);
    if (n != r->content_len)
        fuzz_fail("record %zu: content counted as %zu bytes, decodes to "
                  "%zu", i, r->content_len, n);
    if (!sg__utf8_valid((const uint8_t *)text, n))
        fuzz_fail("record %zu: content decodes to bytes that are not "
                  "UTF-8", i);
    if (!same_text(text, n, content->valuestring))
        fuzz_fail("record %zu: the request's content differs from the "
                  "record's", i);
    if (cj != NULL && !has_nul_escape(rec, len)) {
        const cJSON *crole = member(cj, "role");
        const cJSON *ccontent = member(cj, "content");

        if (!cJSON_IsObject(cj) || !cJSON_IsString(crole) ||
            strcmp(crole->valuestring, r->user ? "user" : "assistant") != 0
            || !cJSON_IsString(ccontent) ||
            !same_text(text, n, ccontent->valuestring))
            fuzz_fail("record %zu: usable, but cJSON reads another role "
                      "or content", i);
    }
    free(text);

    if (r->user && r->has_name) {
        char display[320], want[72];
        size_t dn = lit_decode(r->name, display, sizeof display);
        size_t wn = sgi_prompt_name((sg_str){display, dn}, want,
                                    sizeof want);

        if (wn == 0 ? name != NULL
                    : !cJSON_IsString(name) ||
                          strcmp(name->valuestring, want) != 0)
            fuzz_fail("record %zu: name is not the user_name's", i);
    } else if (name != NULL) {
        fuzz_fail("record %zu: a name without a user_name", i);
    }
    if (name != NULL) {
        const char *s = name->valuestring;
        size_t k, sn = strlen(s);

        if (sn == 0 || sn > 64)
            fuzz_fail("record %zu: name of %zu bytes", i, sn);
        for (k = 0; k < sn; k++)
            if (!((s[k] >= 'a' && s[k] <= 'z') ||
                  (s[k] >= 'A' && s[k] <= 'Z') ||
                  (s[k] >= '0' && s[k] <= '9') || s[k] == '_' ||
                  s[k] == '-'))
                fuzz_fail("record %zu: name holds 0x%02x", i,
                          (unsigned char)s[k]);
    }
    cJSON_Delete(cj);
}

/* A record the reader refused that cJSON reads plainly must not be one
   it should have used. */
static void check_refused(size_t i, const char *rec, size_t len)
{
    cJSON *cj = cjson_record(rec, len);
    const cJSON *role, *content;

    if (cj == NULL)
        return;
    role = member(cj, "role");
    content = member(cj, "content");
    if (cJSON_IsObject(cj) && cJSON_IsString(role) &&
        (strcmp(role->valuestring, "user") == 0 ||
         strcmp(role->valuestring, "assistant") == 0) &&
        cJSON_IsString(content) && tame(cj, 5) && canonical(cj, rec, len))
        fuzz_fail("record %zu: a plain record was not used: %.*s", i,
                  (int)(len > 200 ? 200 : len), rec);
    cJSON_Delete(cj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *recs[MAX_RECORDS];
    static size_t lens[MAX_RECORDS];
    static record reads[MAX_RECORDS];
    sgi_config cfg;
    sg_buf body;
    cJSON *root;
    const cJSON *msgs, *m;
    size_t n = 0, at, start, i, usable = 0, first, used;
    int rc, k;
    uint8_t mode;

    if (size < 1)
        return 0;
    mode = data[0];
    for (start = at = 1; at <= size && n < MAX_RECORDS; at++) {
        if (at < size && data[at] != SEPARATOR)
            continue;
        lens[n] = at - start;
        recs[n] = malloc(lens[n] > 0 ? lens[n] : 1);
        if (recs[n] == NULL)
            fuzz_fail("out of memory in the harness");
        if (lens[n] > 0)
            memcpy(recs[n], data + start, lens[n]);
        n++;
        start = at + 1;
    }

    memset(&cfg, 0, sizeof cfg);
    memcpy(cfg.model, "gpt-test", sizeof "gpt-test");
    cfg.temperature = 0.7;
    cfg.top_p = 1;
    cfg.max_tokens = 1024;
    cfg.system_prompt = (mode & 1) ? NULL : (char *)"Be brief.";

    fuzz_input_begin(-1);
    sg_buf_init(&body, &fuzz_mem);
    rc = sgi_prompt_body(&body, &cfg, (const char *const *)recs, lens, n,
                         (sg_str){current_text, sizeof current_text - 1},
                         (mode & 2) ? (sg_str){current_name,
                                               sizeof current_name - 1}
                                    : (sg_str){"", 0});
    if (rc != 0)
        fuzz_fail("sgi_prompt_body failed: %s", sg_err_name(rc));
    if (body.data == NULL || body.data[body.len] != '\0' ||
        memchr(body.data, '\0', body.len) != NULL)
        fuzz_fail("the body is not one C string of its length");
    root = cJSON_ParseWithLengthOpts((const char *)body.data, body.len + 1,
                                     NULL, 1);
    if (root == NULL)
        fuzz_fail("the body is not JSON: %.300s", (const char *)body.data);
    msgs = member(root, "messages");
    if (!cJSON_IsArray(msgs))
        fuzz_fail("the body has no messages array");

    m = msgs->child;
    if (m == NULL || !cJSON_IsString(member(m, "role")) ||
        strcmp(member(m, "role")->valuestring, "system") != 0)
        fuzz_fail("the first message is not the system message");
    m = m->next;
    /* The newest records whose contents fit the budget are kept. */
    for (first = n, used = 0; first > 0; first--) {
        read_record(recs[first - 1], lens[first - 1], &reads[first - 1]);
        if (reads[first - 1].usable) {
            if (used + reads[first - 1].content_len > SGI_HISTORY_BUDGET)
                break;
            used += reads[first - 1].content_len;
        }
    }
    for (i = 0; i < first; i++)
        read_record(recs[i], lens[i], &reads[i]);
    for (i = 0; i < n; i++) {
        if (!reads[i].usable) {
            check_refused(i, recs[i], lens[i]);
            continue;
        }
        if (i < first)
            continue;
        usable++;
        if (m == NULL)
            fuzz_fail("record %zu is usable but has no message", i);
        check_record(i, recs[i], lens[i], &reads[i], m);
        m = m->next;
    }
    if (m == NULL || m->next != NULL ||
        !cJSON_IsString(member(m, "content")) ||
        strcmp(member(m, "content")->valuestring, current_text) != 0)
        fuzz_fail("the last message is not the current one");
    k = cJSON_GetArraySize(msgs);
    if ((size_t)k != usable + 2)
        fuzz_fail("%d messages for %zu usable records", k, usable);

    cJSON_Delete(root);
    sg_buf_destroy(&body);
    fuzz_input_end();
    for (i = 0; i < n; i++)
        free(recs[i]);
    return 0;
}
