/*
 * Reading a chat completion request: through a cJSON tree (the
 * definition) or by one scan of the bytes (the same answer without a
 * tree). See llm_request.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "llm_request.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

long llm_count_words(const char *s)
{
    long n = 0;
    bool in = false;

    for (; s != NULL && *s != '\0'; s++) {
        bool sp = isspace((unsigned char)*s) != 0;

        if (!sp && !in) {
            n++;
        }
        in = !sp;
    }
    return n;
}

void llm_request_destroy(llm_request *r)
{
    free(r->model);
    free(r->text);
    r->model = NULL;
    r->text = NULL;
}

/* ---- the definition: a cJSON tree ------------------------------------- */

/* The text of a message's content: a string, or the "text" of the parts
 * of an array, joined with newlines (none before a part while the text
 * is still empty). Heap string, "" when none. */
static char *content_text(const cJSON *content)
{
    const cJSON *part;
    size_t total = 1;
    char *out;

    if (cJSON_IsString(content)) {
        return strdup(content->valuestring);
    }
    if (cJSON_IsArray(content)) {
        cJSON_ArrayForEach(part, content) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");

            if (cJSON_IsString(t)) {
                total += strlen(t->valuestring) + 1;
            }
        }
    }
    out = malloc(total);
    if (out == NULL) {
        return NULL;
    }
    out[0] = '\0';
    if (cJSON_IsArray(content)) {
        size_t at = 0;

        cJSON_ArrayForEach(part, content) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(part, "text");

            if (cJSON_IsString(t)) {
                size_t n = strlen(t->valuestring);

                if (at > 0) {
                    out[at++] = '\n';
                }
                memcpy(out + at, t->valuestring, n);
                at += n;
                out[at] = '\0';
            }
        }
    }
    return out;
}

static char *last_user_text(const cJSON *messages, long *prompt_words)
{
    const cJSON *m;
    const cJSON *last = NULL;

    *prompt_words = 0;
    cJSON_ArrayForEach(m, messages) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");

        if (cJSON_IsString(content)) {
            *prompt_words += llm_count_words(content->valuestring);
        }
        if (cJSON_IsString(role) && strcmp(role->valuestring, "user") == 0) {
            last = content;
        }
    }
    return content_text(last);
}

int llm_request_read_tree(llm_request *r, const char *body, size_t len)
{
    /* A tree that cannot be built for want of memory reads as "not
     * JSON", as it always has. */
    cJSON *tree = cJSON_ParseWithLength(body, len);
    const cJSON *messages = cJSON_GetObjectItemCaseSensitive(tree,
                                                             "messages");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(tree, "model");

    memset(r, 0, sizeof *r);
    if (tree == NULL) {
        r->status = LLM_REQUEST_NOT_JSON;
        return 0;
    }
    if (!cJSON_IsArray(messages)) {
        r->status = LLM_REQUEST_NO_MESSAGES;
        cJSON_Delete(tree);
        return 0;
    }
    if (cJSON_IsString(model)) {
        r->model = strdup(model->valuestring);
        if (r->model == NULL) {
            cJSON_Delete(tree);
            return -1;
        }
    }
    r->text = last_user_text(messages, &r->prompt_words);
    cJSON_Delete(tree);
    if (r->text == NULL) {
        llm_request_destroy(r);
        return -1;
    }
    return 0;
}

/* ---- the scan ----------------------------------------------------------
 *
 * A strict JSON reader (RFC 8259 grammar) that keeps no tree: it notes
 * where the few values it needs are, as spans of the body, and decodes
 * those alone. Whatever strict JSON it accepts cJSON accepts too and
 * reads the same way; everything else is handed over to the tree
 * (SCAN_HAND_OVER), so that the answers to odd bodies (text after the
 * value, a byte-order mark, control bytes as spacing, "\u0000" and lone
 * surrogates, which cJSON cuts short or refuses) stay cJSON's. Keys with
 * escapes are handed over where the reader compares keys.
 */

/* Nesting deeper than this is handed over (cJSON refuses past 1000), so
 * the scan's recursion is bounded. */
#define SCAN_MAX_DEPTH 64
/* cJSON reads at most 63 characters of a number: longer ones are
 * handed over. */
#define SCAN_MAX_NUMBER 48
#define SCAN_HAND_OVER (-1)
#define SCAN_NO_MEMORY (-2)

typedef struct scan {
    const char *p;
    const char *end;
    int depth;
} scan;

/* A value found by the scan. kind is its first character ('"', '{',
 * '[', 't', 'f', 'n', '-' or a digit), 0 when not found. For a string,
 * p..p+n is between the quotes; for the others, the whole value. */
typedef struct span {
    const char *p;
    size_t n;
    char kind;
} span;

/* Called with s->p at a member's value (or an array's element), which
 * the callback must consume. 0, or SCAN_HAND_OVER. */
typedef int member_fn(scan *s, const span *key, void *arg);

static int scan_value(scan *s, span *out);

static void skip_space(scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
                             *s->p == '\n' || *s->p == '\r')) {
        s->p++;
    }
}

static int hex4(const char *p, const char *end, unsigned long *out)
{
    unsigned long v = 0;
    int i;

    if (end - p < 4) {
        return -1;
    }
    for (i = 0; i < 4; i++) {
        char c = p[i];

        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= (unsigned long)(c - '0');
        } else if (c >= 'a' && c <= 'f') {
            v |= (unsigned long)(c - 'a' + 10);
        } else if (c >= 'A' && c <= 'F') {
            v |= (unsigned long)(c - 'A' + 10);
        } else {
            return -1;
        }
    }
    *out = v;
    return 0;
}

/* One character of a string at *pp (after the opening quote): 2 for a
 * byte as it is (in *cp), 1 for an escape (its code point in *cp), 0 at
 * the closing quote (*pp then after it), SCAN_HAND_OVER for what the
 * strict grammar refuses or cJSON reads in its own way. */
static int next_char(const char **pp, const char *end, unsigned long *cp)
{
    const char *p = *pp;
    unsigned long hi;
    unsigned long lo;

    if (p >= end) {
        return SCAN_HAND_OVER;
    }
    if (*p == '"') {
        *pp = p + 1;
        return 0;
    }
    if ((unsigned char)*p < 0x20) {
        return SCAN_HAND_OVER;
    }
    if (*p != '\\') {
        *cp = (unsigned char)*p;
        *pp = p + 1;
        return 2;
    }
    if (end - p < 2) {
        return SCAN_HAND_OVER;
    }
    switch (p[1]) {
    case '"': *cp = '"'; break;
    case '\\': *cp = '\\'; break;
    case '/': *cp = '/'; break;
    case 'b': *cp = '\b'; break;
    case 'f': *cp = '\f'; break;
    case 'n': *cp = '\n'; break;
    case 'r': *cp = '\r'; break;
    case 't': *cp = '\t'; break;
    case 'u':
        if (hex4(p + 2, end, &hi) != 0 || hi == 0 ||
            (hi >= 0xDC00 && hi <= 0xDFFF)) {
            return SCAN_HAND_OVER;
        }
        p += 6;
        if (hi >= 0xD800 && hi <= 0xDBFF) {
            if (end - p < 6 || p[0] != '\\' || p[1] != 'u' ||
                hex4(p + 2, end, &lo) != 0 || lo < 0xDC00 || lo > 0xDFFF) {
                return SCAN_HAND_OVER;
            }
            hi = 0x10000 + (((hi & 0x3FF) << 10) | (lo & 0x3FF));
            p += 6;
        }
        *cp = hi;
        *pp = p;
        return 1;
    default:
        return SCAN_HAND_OVER;
    }
    *pp = p + 2;
    return 1;
}

/* A string at s->p (the opening quote). With words, also counts the
 * words of its decoded text as llm_count_words() does, in the same pass:
 * a byte above 0x7f, and an escape that decodes to one, is no space in
 * the C locale, where the spaces are ' ' and '\t' to '\r' (of which a
 * plain byte in a string can only be ' ': the others must be escaped). */
static int scan_string(scan *s, span *out, long *words)
{
    const char *start = s->p + 1;
    const char *p = start;
    unsigned long cp;
    long n = 0;
    bool in = false;
    int r;

    for (;;) {
        /* Runs of plain bytes, the bulk of a body, without a call. */
        if (words == NULL) {
            while (p < s->end && (unsigned char)*p >= 0x20 && *p != '"' &&
                   *p != '\\') {
                p++;
            }
        } else {
            while (p < s->end && (unsigned char)*p >= 0x20 && *p != '"' &&
                   *p != '\\') {
                bool space = *p == ' ';

                n += !space && !in;
                in = !space;
                p++;
            }
        }
        r = next_char(&p, s->end, &cp);
        if (r == 0) {
            break;
        }
        if (r < 0) {
            return SCAN_HAND_OVER;
        }
        if (words != NULL) {
            bool space = cp == ' ' || (cp >= '\t' && cp <= '\r');

            n += !space && !in;
            in = !space;
        }
    }
    s->p = p;
    if (out != NULL) {
        out->p = start;
        out->n = (size_t)(p - 1 - start);
        out->kind = '"';
    }
    if (words != NULL) {
        *words = n;
    }
    return 0;
}

static int scan_digits(scan *s)
{
    const char *start = s->p;

    while (s->p < s->end && *s->p >= '0' && *s->p <= '9') {
        s->p++;
    }
    return s->p > start ? 0 : SCAN_HAND_OVER;
}

static int scan_number(scan *s)
{
    const char *start = s->p;

    if (*s->p == '-') {
        s->p++;
    }
    if (s->p < s->end && *s->p == '0') {
        s->p++;
    } else if (scan_digits(s) != 0) {
        return SCAN_HAND_OVER;
    }
    if (s->p < s->end && *s->p == '.') {
        s->p++;
        if (scan_digits(s) != 0) {
            return SCAN_HAND_OVER;
        }
    }
    if (s->p < s->end && (*s->p == 'e' || *s->p == 'E')) {
        s->p++;
        if (s->p < s->end && (*s->p == '+' || *s->p == '-')) {
            s->p++;
        }
        if (scan_digits(s) != 0) {
            return SCAN_HAND_OVER;
        }
    }
    return s->p - start <= SCAN_MAX_NUMBER ? 0 : SCAN_HAND_OVER;
}

static int scan_literal(scan *s, const char *word, size_t n)
{
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, word, n) != 0) {
        return SCAN_HAND_OVER;
    }
    s->p += n;
    return 0;
}

/* The object at s->p ('{'): fn is called for each member. */
static int walk_object(scan *s, member_fn *fn, void *arg)
{
    if (++s->depth > SCAN_MAX_DEPTH) {
        return SCAN_HAND_OVER;
    }
    s->p++;
    skip_space(s);
    if (s->p < s->end && *s->p == '}') {
        s->p++;
        s->depth--;
        return 0;
    }
    for (;;) {
        span key;

        if (s->p >= s->end || *s->p != '"' || scan_string(s, &key, NULL) != 0) {
            return SCAN_HAND_OVER;
        }
        skip_space(s);
        if (s->p >= s->end || *s->p != ':') {
            return SCAN_HAND_OVER;
        }
        s->p++;
        skip_space(s);
        if (s->p >= s->end || fn(s, &key, arg) != 0) {
            return SCAN_HAND_OVER;
        }
        skip_space(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            skip_space(s);
            continue;
        }
        if (s->p < s->end && *s->p == '}') {
            s->p++;
            s->depth--;
            return 0;
        }
        return SCAN_HAND_OVER;
    }
}

/* The array at s->p ('['): fn is called for each element, key NULL. */
static int walk_array(scan *s, member_fn *fn, void *arg)
{
    if (++s->depth > SCAN_MAX_DEPTH) {
        return SCAN_HAND_OVER;
    }
    s->p++;
    skip_space(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        s->depth--;
        return 0;
    }
    for (;;) {
        if (s->p >= s->end || fn(s, NULL, arg) != 0) {
            return SCAN_HAND_OVER;
        }
        skip_space(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            skip_space(s);
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            s->depth--;
            return 0;
        }
        return SCAN_HAND_OVER;
    }
}

static int skip_member(scan *s, const span *key, void *arg)
{
    (void)key;
    (void)arg;
    return scan_value(s, NULL);
}

/* Any value at s->p (not at the end); out, when not NULL, gets its
 * span. */
static int scan_value(scan *s, span *out)
{
    const char *start = s->p;
    int r;

    switch (*s->p) {
    case '"': return scan_string(s, out, NULL);
    case '{': r = walk_object(s, skip_member, NULL); break;
    case '[': r = walk_array(s, skip_member, NULL); break;
    case 't': r = scan_literal(s, "true", 4); break;
    case 'f': r = scan_literal(s, "false", 5); break;
    case 'n': r = scan_literal(s, "null", 4); break;
    default:
        r = *s->p == '-' || (*s->p >= '0' && *s->p <= '9')
            ? scan_number(s) : SCAN_HAND_OVER;
    }
    if (r == 0 && out != NULL) {
        out->p = start;
        out->n = (size_t)(s->p - start);
        out->kind = *start;
    }
    return r;
}

/* Whether key is name. A key with an escape is handed over: cJSON
 * compares the decoded key, and such keys are too rare to decode. */
static int key_is(const span *key, const char *name, bool *yes)
{
    size_t n = strlen(name);

    if (memchr(key->p, '\\', key->n) != NULL) {
        return SCAN_HAND_OVER;
    }
    *yes = key->n == n && memcmp(key->p, name, n) == 0;
    return 0;
}

/* The string of span sp decoded into out (room for sp->n + 1 bytes: no
 * escape decodes longer than it is written), NUL-terminated. Returns
 * the length. sp was scanned, so it decodes. */
static size_t decode(const span *sp, char *out)
{
    const char *p = sp->p;
    unsigned long cp;
    size_t n = 0;
    int r;

    while ((r = next_char(&p, sp->p + sp->n + 1, &cp)) > 0) {
        if (r == 2 || cp < 0x80) {
            out[n++] = (char)cp;
        } else if (cp < 0x800) {
            out[n++] = (char)(0xC0 | (cp >> 6));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[n++] = (char)(0xE0 | (cp >> 12));
            out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[n++] = (char)(0xF0 | (cp >> 18));
            out[n++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[n++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[n++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    out[n] = '\0';
    return n;
}

/* Whether the string of sp decodes to "user". */
static bool span_is_user(const span *sp)
{
    char buf[25];

    /* "user" takes at most 24 bytes written with escapes: a longer span
     * is something else, a shorter one fits buf once decoded. */
    if (sp->n >= sizeof buf) {
        return false;
    }
    decode(sp, buf);
    return strcmp(buf, "user") == 0;
}

/* What the scan has found so far: the first `model`, whether the first
 * `messages` is an array, and from its elements the words and the
 * content of the last user message. */
typedef struct reader {
    span model;
    bool messages_seen;
    bool messages_array;
    bool have_last;
    span last;          /* content of the last user message */
    long words;
} reader;

/* One element of `messages`: its first role and content. */
typedef struct message {
    span role;
    span content;
    long words;         /* of content, when a string */
} message;

static int message_member(scan *s, const span *key, void *arg)
{
    message *m = arg;
    bool role = false;
    bool content = false;

    if (key_is(key, "role", &role) != 0 ||
        key_is(key, "content", &content) != 0) {
        return SCAN_HAND_OVER;
    }
    if (role && m->role.kind == 0) {
        return scan_value(s, &m->role);
    }
    if (content && m->content.kind == 0) {
        return *s->p == '"' ? scan_string(s, &m->content, &m->words)
                            : scan_value(s, &m->content);
    }
    return scan_value(s, NULL);
}

/* An element of `messages`: an object's first role and content count;
 * any other value has neither. */
static int message_element(scan *s, const span *key, void *arg)
{
    reader *rd = arg;
    message m;

    (void)key;
    if (*s->p != '{') {
        return scan_value(s, NULL);
    }
    memset(&m, 0, sizeof m);
    if (walk_object(s, message_member, &m) != 0) {
        return SCAN_HAND_OVER;
    }
    if (m.content.kind == '"') {
        rd->words += m.words;
    }
    if (m.role.kind == '"' && span_is_user(&m.role)) {
        rd->last = m.content;
        rd->have_last = true;
    }
    return 0;
}

static int top_member(scan *s, const span *key, void *arg)
{
    reader *rd = arg;
    bool model = false;
    bool messages = false;

    if (key_is(key, "model", &model) != 0 ||
        key_is(key, "messages", &messages) != 0) {
        return SCAN_HAND_OVER;
    }
    if (model && rd->model.kind == 0) {
        return scan_value(s, &rd->model);
    }
    if (messages && !rd->messages_seen) {
        rd->messages_seen = true;
        if (*s->p == '[') {
            rd->messages_array = true;
            return walk_array(s, message_element, rd);
        }
    }
    return scan_value(s, NULL);
}

/* Joining the parts of an array content: the first "text" of each
 * object part. */
typedef struct parts {
    char *out;
    size_t at;
} parts;

static int part_member(scan *s, const span *key, void *arg)
{
    span *text = arg;
    bool is_text = false;

    if (key_is(key, "text", &is_text) != 0) {
        return SCAN_HAND_OVER;
    }
    return scan_value(s, is_text && text->kind == 0 ? text : NULL);
}

static int part_element(scan *s, const span *key, void *arg)
{
    parts *pt = arg;
    span text;

    (void)key;
    if (*s->p != '{') {
        return scan_value(s, NULL);
    }
    memset(&text, 0, sizeof text);
    if (walk_object(s, part_member, &text) != 0) {
        return SCAN_HAND_OVER;
    }
    if (text.kind == '"') {
        if (pt->at > 0) {
            pt->out[pt->at++] = '\n';
        }
        pt->at += decode(&text, pt->out + pt->at);
    }
    return 0;
}

/* The text of the last user message's content, as content_text(): 0,
 * SCAN_HAND_OVER or SCAN_NO_MEMORY; *out is set in every case. */
static int scan_text(const reader *rd, char **out)
{
    const span *c = &rd->last;
    size_t room = rd->have_last && (c->kind == '"' || c->kind == '[')
                  ? c->n + 1 : 1;
    char *text = malloc(room);

    *out = text;
    if (text == NULL) {
        return SCAN_NO_MEMORY;
    }
    text[0] = '\0';
    if (!rd->have_last) {
        return 0;
    }
    if (c->kind == '"') {
        decode(c, text);
    } else if (c->kind == '[') {
        /* The joined texts fit: each part's text decodes to no more than
         * it is written, and each newline between two parts stands for
         * at least the comma between them. */
        scan s = { c->p, c->p + c->n, 0 };
        parts pt = { text, 0 };

        return walk_array(&s, part_element, &pt);
    }
    return 0;
}

static int read_scan(llm_request *r, const char *body, size_t len)
{
    scan s = { body, body + len, 0 };
    reader rd;
    int rc;

    memset(r, 0, sizeof *r);
    memset(&rd, 0, sizeof rd);
    skip_space(&s);
    if (s.p >= s.end || *s.p != '{' ||
        walk_object(&s, top_member, &rd) != 0) {
        return SCAN_HAND_OVER;
    }
    skip_space(&s);
    if (s.p != s.end) {
        return SCAN_HAND_OVER;
    }
    if (!rd.messages_array) {
        r->status = LLM_REQUEST_NO_MESSAGES;
        return 0;
    }
    if (rd.model.kind == '"') {
        r->model = malloc(rd.model.n + 1);
        if (r->model == NULL) {
            return SCAN_NO_MEMORY;
        }
        decode(&rd.model, r->model);
    }
    rc = scan_text(&rd, &r->text);
    r->prompt_words = rd.words;
    return rc;
}

int llm_request_read(llm_request *r, const char *body, size_t len)
{
    int rc = read_scan(r, body, len);

    if (rc == SCAN_HAND_OVER) {
        llm_request_destroy(r);
        return llm_request_read_tree(r, body, len);
    }
    if (rc != 0) {
        llm_request_destroy(r);
        return -1;
    }
    return 0;
}
