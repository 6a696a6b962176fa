/*
 * fuzz/harness.h: what every fuzz harness shares.
 *
 * - A capped, counting allocator handed to libsg through sg_decode_opts and
 *   sg_buf_init. It refuses any allocation that would take more than
 *   FUZZ_HEAP_LIMIT bytes in use, and can refuse the n-th allocation of an
 *   input on purpose, so error paths after a failed allocation are fuzzed
 *   too. After each input every byte must have been given back: a leak is
 *   an abort at the input that caused it, with or without LeakSanitizer.
 * - The contract of a failed decode (sg/codec.h): *out left NULL, the
 *   returned code repeated in err->code, and for SG_EDECODE a reason of the
 *   spec's table with a field path in the spec's syntax.
 * - The round-trip property: an envelope the codec accepted encodes, the
 *   encoding decodes to an equal envelope and encodes to the same bytes,
 *   and the same holds through the JSON bridge.
 *
 * Each harness includes this file once; everything here is static inline
 * so that a harness pays no warning for the helpers it does not use.
 */
#ifndef SG_FUZZ_HARNESS_H
#define SG_FUZZ_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sg.h>

/* libFuzzer's entry points, which every harness defines. */
int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A decode of a few kilobytes never needs this much; a runaway one does. */
#define FUZZ_HEAP_LIMIT ((size_t)64 * 1024 * 1024)

/* The size of a block is kept in front of it, aligned for any type. */
typedef union fuzz_block_head {
    size_t size;
    max_align_t align;
} fuzz_block_head;

typedef struct fuzz_heap {
    size_t limit;           /* most bytes in use at once */
    size_t in_use;          /* bytes handed out and not yet freed */
    size_t blocks;          /* blocks handed out and not yet freed */
    unsigned long calls;    /* allocations asked for during this input */
    long fail_at;           /* refuse allocation number fail_at; -1: none */
    int refused;            /* an allocation of this input was refused */
} fuzz_heap;

static fuzz_heap fuzz_heap_state;
static sg_mem fuzz_mem;

static inline _Noreturn void fuzz_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("fuzz: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}

/* 1 when an allocation of `size` more bytes may go ahead. */
static inline int fuzz_heap_admit(fuzz_heap *h, size_t size)
{
    long call = (long)h->calls++;

    if (call == h->fail_at || size > h->limit - h->in_use
        || size > SIZE_MAX - sizeof(fuzz_block_head)) {
        h->refused = 1;
        return 0;
    }
    return 1;
}

static inline void *fuzz_heap_malloc(size_t size, void *ud)
{
    fuzz_heap *h = ud;
    fuzz_block_head *head;

    if (!fuzz_heap_admit(h, size)) {
        return NULL;
    }
    head = malloc(sizeof(*head) + size);
    if (head == NULL) {
        h->refused = 1;
        return NULL;
    }
    head->size = size;
    h->in_use += size;
    h->blocks++;
    return head + 1;
}

static inline void fuzz_heap_free(void *ptr, void *ud)
{
    fuzz_heap *h = ud;
    fuzz_block_head *head;

    if (ptr == NULL) {
        return;
    }
    head = (fuzz_block_head *)ptr - 1;
    if (h->blocks == 0 || head->size > h->in_use) {
        fuzz_fail("allocator: free of a block it does not account for");
    }
    h->in_use -= head->size;
    h->blocks--;
    free(head);
}

static inline void *fuzz_heap_realloc(void *ptr, size_t size, void *ud)
{
    fuzz_heap *h = ud;
    fuzz_block_head *head;
    fuzz_block_head *moved;
    size_t old;

    if (ptr == NULL) {
        return fuzz_heap_malloc(size, ud);
    }
    head = (fuzz_block_head *)ptr - 1;
    old = head->size;
    /* Only growth is counted against the cap; shrinking always works. */
    if (size > old && !fuzz_heap_admit(h, size - old)) {
        return NULL;
    }
    moved = realloc(head, sizeof(*head) + size);
    if (moved == NULL) {
        h->refused = 1;
        return NULL;
    }
    moved->size = size;
    h->in_use = h->in_use - old + size;
    return moved + 1;
}

/* Sets up the allocator; called once, from LLVMFuzzerInitialize. */
static inline void fuzz_heap_init(void)
{
    fuzz_heap_state.limit = FUZZ_HEAP_LIMIT;
    fuzz_heap_state.fail_at = -1;
    fuzz_mem.malloc = fuzz_heap_malloc;
    fuzz_mem.realloc = fuzz_heap_realloc;
    fuzz_mem.free = fuzz_heap_free;
    fuzz_mem.ud = &fuzz_heap_state;
}

/*
 * Starts an input: nothing may be outstanding from the one before, and
 * fail_at (or -1) names the allocation to refuse.
 */
static inline void fuzz_input_begin(long fail_at)
{
    if (fuzz_mem.malloc == NULL) {
        fuzz_fail("LLVMFuzzerInitialize did not run");
    }
    fuzz_heap_state.calls = 0;
    fuzz_heap_state.fail_at = fail_at;
    fuzz_heap_state.refused = 0;
}

/* Ends an input: every envelope and buffer must have been freed. */
static inline void fuzz_input_end(void)
{
    if (fuzz_heap_state.blocks != 0 || fuzz_heap_state.in_use != 0) {
        fuzz_fail("leak: %zu blocks (%zu bytes) still allocated after the "
                  "input", fuzz_heap_state.blocks, fuzz_heap_state.in_use);
    }
    fuzz_heap_state.fail_at = -1;
}

/*
 * Small limits let short inputs reach every limit check (string_too_long,
 * too_deep, ...), which the defaults put kilobytes away.
 */
static inline sg_limits fuzz_small_limits(void)
{
    sg_limits lim = sg_limits_default();

    lim.max_entry_bytes = 1024;
    lim.max_text_bytes = 64;
    lim.max_string_bytes = 24;
    lim.max_binary_bytes = 32;
    lim.max_array_items = 4;
    lim.max_map_pairs = 12;
    lim.max_depth = 3;
    lim.max_attachments = 2;
    lim.max_buttons = 2;
    return lim;
}

/* Decode options with the fuzz allocator and default or small limits. */
static inline sg_decode_opts fuzz_opts(int small)
{
    sg_decode_opts opts;

    sg_decode_opts_init(&opts);
    if (small) {
        opts.limits = fuzz_small_limits();
    }
    opts.mem = &fuzz_mem;
    return opts;
}

/* 1 when path is `data`, `data.<key>...` or `data[<i>]...`. */
static inline int fuzz_path_in_data(const char *path)
{
    return strncmp(path, "data", 4) == 0
        && (path[4] == '\0' || path[4] == '.' || path[4] == '[');
}

/* Which outcomes of a decode a harness expects. */
enum {
    FUZZ_FRAMING = 1,       /* entry decode: paths `ts`, `trace_id` too */
    FUZZ_JSON = 2           /* JSON bridge: invalid_json is possible */
};

/*
 * Checks the outcome of a decode against the contract of sg/codec.h and
 * aborts when it is broken. Returns 1 when an envelope was decoded, 0 when
 * the input was rejected or memory ran out (only after the allocator
 * refused a block: an SG_ENOMEM with no refusal is a lie).
 */
static inline int fuzz_check_decode(const char *what, sg_kind kind,
                                    int rc, const sg_envelope *env,
                                    const sg_error *err, int flags)
{
    const char *name;

    if (rc == 0) {
        if (env == NULL) {
            fuzz_fail("%s: returned 0 without an envelope", what);
        }
        if (env->kind != kind) {
            fuzz_fail("%s: asked for %s, got an envelope of kind %d", what,
                      sg_kind_name(kind), (int)env->kind);
        }
        return 1;
    }
    if (env != NULL) {
        fuzz_fail("%s: failed (%s) but set *out", what, sg_err_name(rc));
    }
    if (err->code != rc) {
        fuzz_fail("%s: returned %s but err->code is %d", what,
                  sg_err_name(rc), err->code);
    }
    if (memchr(err->path, '\0', sizeof(err->path)) == NULL
        || memchr(err->msg, '\0', sizeof(err->msg)) == NULL) {
        fuzz_fail("%s: err->path or err->msg is not NUL-terminated", what);
    }
    if (rc == SG_ENOMEM) {
        if (!fuzz_heap_state.refused) {
            fuzz_fail("%s: SG_ENOMEM but no allocation was refused", what);
        }
        if (err->reason != SG_REASON_NONE || err->path[0] != '\0') {
            fuzz_fail("%s: SG_ENOMEM with reason %d and path '%s'", what,
                      err->reason, err->path);
        }
        return 0;
    }
    if (rc != SG_EDECODE) {
        fuzz_fail("%s: unexpected %s (%s): %s", what, sg_err_name(rc),
                  sg_strerror(rc), err->msg);
    }
    name = sg_reason_name(err->reason);
    if (name == NULL || err->reason == SG_REASON_NONE) {
        fuzz_fail("%s: rejected with reason %d, which is no reason code",
                  what, err->reason);
    }
    if (err->reason == SG_REASON_INVALID_JSON && !(flags & FUZZ_JSON)) {
        fuzz_fail("%s: invalid_json from a msgpack decode (path '%s')",
                  what, err->path);
    }
    if (!fuzz_path_in_data(err->path)
        && !((flags & FUZZ_FRAMING)
             && (strcmp(err->path, "ts") == 0
                 || strcmp(err->path, "trace_id") == 0))) {
        fuzz_fail("%s: rejected (%s) with path '%s', which is not a field "
                  "path", what, name, err->path);
    }
    return 0;
}

/* 1 when an envelope holds opaque msgpack values (sg_any). */
static inline int fuzz_env_has_any(const sg_envelope *env)
{
    switch (env->kind) {
    case SG_KIND_INBOUND:
        return env->u.in.embeds.len > 0 || env->u.in.reactions.len > 0;
    case SG_KIND_OUTBOUND:
        return env->u.out.buttons.len > 0 || env->u.out.rpc_args.len > 0;
    case SG_KIND_TOOLS_REQUEST:
        return env->u.treq.tool_args.len > 0
            || env->u.treq.tool_ctx.len > 0;
    case SG_KIND_TOOLS_REPLY:
        return env->u.trep.result.len > 0;
    }
    return 1;
}

/*
 * The outcome of one step of a round trip. A step that runs out of memory
 * after a refusal ends the check quietly (returns 0); any other failure is
 * a broken property. Returns 1 to go on.
 */
static inline int fuzz_step(const char *what, int rc, const sg_error *err)
{
    if (rc == 0) {
        return 1;
    }
    if (rc == SG_ENOMEM && fuzz_heap_state.refused) {
        return 0;
    }
    fuzz_fail("round trip: %s failed: %s, reason %s, path '%s': %s", what,
              sg_err_name(rc),
              sg_reason_name(err->reason) ? sg_reason_name(err->reason)
                                          : "?",
              err->path, err->msg);
}

static inline int fuzz_buf_eq(const sg_buf *a, const sg_buf *b)
{
    return a->len == b->len
        && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0);
}

/*
 * msgpack: e1 was accepted, so it encodes (b1); b1 decodes (e2) to an
 * envelope equal to e1; e2 encodes to b1 again, byte for byte.
 */
static inline void fuzz_roundtrip_msgpack(const sg_envelope *e1,
                                          const sg_decode_opts *opts)
{
    sg_buf b1;
    sg_buf b2;
    sg_envelope *e2 = NULL;
    sg_error err;
    int rc;

    sg_buf_init(&b1, &fuzz_mem);
    sg_buf_init(&b2, &fuzz_mem);
    sg_error_clear(&err);
    rc = sg_envelope_encode(e1, &b1, &err);
    if (!fuzz_step("encode of a decoded envelope", rc, &err)) {
        goto done;
    }
    rc = sg_envelope_decode_data(e1->kind, b1.data, b1.len, opts, &e2,
                                 &err);
    if (!fuzz_step("decode of the encoding", rc, &err)) {
        goto done;
    }
    if (sg_envelope_equal(e1, e2) != 1) {
        fuzz_fail("round trip: decode(encode(e)) differs from e (%s)",
                  sg_kind_name(e1->kind));
    }
    rc = sg_envelope_encode(e2, &b2, &err);
    if (!fuzz_step("encode of the re-decoded envelope", rc, &err)) {
        goto done;
    }
    if (!fuzz_buf_eq(&b1, &b2)) {
        fuzz_fail("round trip: encoding is not stable (%zu then %zu bytes)",
                  b1.len, b2.len);
    }
done:
    sg_envelope_free(e2);
    sg_buf_destroy(&b1);
    sg_buf_destroy(&b2);
}

/*
 * Reads JSON text back into an envelope. The text is copied into a block
 * of its exact size that is wiped and freed as soon as the envelope is
 * built: the envelope must own everything (sg/json.h), and a pointer left
 * into the text shows up as a use after free.
 */
static inline int fuzz_from_json(sg_kind kind, const sg_buf *json,
                                 const sg_decode_opts *opts,
                                 sg_envelope **out, sg_error *err)
{
    char *text = malloc(json->len > 0 ? json->len : 1);
    int rc;

    if (text == NULL) {
        fuzz_fail("out of memory in the harness");
    }
    if (json->len > 0) {
        memcpy(text, json->data, json->len);
    }
    rc = sg_envelope_from_json(kind, text, json->len, opts, out, err);
    memset(text, 0xa5, json->len);
    free(text);
    return rc;
}

/*
 * JSON: e1 writes as JSON (j1), which reads back (e3) and writes as the
 * same text (j2 == j1); e3 encodes to the same msgpack as e1.
 *
 * e3 equals e1 field for field when e1 holds no opaque msgpack value. An
 * sg_any is compared by its bytes, and JSON keeps the value but not the
 * encoding (an int 8 holding 5, a float 32, a str 8 holding "a" all come
 * back in the shortest form; a map {"$bin": "<base64>"} comes back as
 * bin), so with one of those only the texts and a second trip must agree:
 * e3 read back from j2 equals e3.
 */
static inline void fuzz_roundtrip_json(const sg_envelope *e1,
                                       const sg_decode_opts *opts)
{
    sg_buf j1;
    sg_buf j2;
    sg_buf b1;
    sg_buf b3;
    sg_envelope *e3 = NULL;
    sg_envelope *e4 = NULL;
    sg_error err;
    int rc;
    int strict = !fuzz_env_has_any(e1);

    sg_buf_init(&j1, &fuzz_mem);
    sg_buf_init(&j2, &fuzz_mem);
    sg_buf_init(&b1, &fuzz_mem);
    sg_buf_init(&b3, &fuzz_mem);
    sg_error_clear(&err);
    rc = sg_envelope_to_json(e1, &j1, &err);
    if (!fuzz_step("to_json of an accepted envelope", rc, &err)) {
        goto done;
    }
    if (j1.data == NULL || j1.data[j1.len] != '\0'
        || memchr(j1.data, '\0', j1.len) != NULL) {
        fuzz_fail("round trip: to_json output is not one C string");
    }
    if (j1.len > opts->limits.max_entry_bytes) {
        /* JSON is longer than msgpack; the bridge rightly refuses it. */
        goto done;
    }
    rc = fuzz_from_json(e1->kind, &j1, opts, &e3, &err);
    if (!fuzz_step("from_json of to_json output", rc, &err)) {
        fprintf(stderr, "fuzz: the JSON was: %s\n", (const char *)j1.data);
        goto done;
    }
    if (strict && sg_envelope_equal(e1, e3) != 1) {
        fuzz_fail("round trip: from_json(to_json(e)) differs from e (%s); "
                  "JSON: %s", sg_kind_name(e1->kind),
                  (const char *)j1.data);
    }
    rc = sg_envelope_to_json(e3, &j2, &err);
    if (!fuzz_step("to_json of the envelope read back", rc, &err)) {
        goto done;
    }
    if (!fuzz_buf_eq(&j1, &j2)) {
        fuzz_fail("round trip: JSON text is not stable:\n  %s\n  %s",
                  (const char *)j1.data, (const char *)j2.data);
    }
    if (strict) {
        rc = sg_envelope_encode(e1, &b1, &err);
        if (!fuzz_step("encode of the original", rc, &err)) {
            goto done;
        }
        rc = sg_envelope_encode(e3, &b3, &err);
        if (!fuzz_step("encode of the envelope read back", rc, &err)) {
            goto done;
        }
        if (!fuzz_buf_eq(&b1, &b3)) {
            fuzz_fail("round trip: the envelope read back from JSON "
                      "encodes differently");
        }
    } else {
        rc = fuzz_from_json(e1->kind, &j2, opts, &e4, &err);
        if (!fuzz_step("second from_json", rc, &err)) {
            goto done;
        }
        if (sg_envelope_equal(e3, e4) != 1) {
            fuzz_fail("round trip: JSON read back twice differs; JSON: %s",
                      (const char *)j2.data);
        }
    }
done:
    sg_envelope_free(e3);
    sg_envelope_free(e4);
    sg_buf_destroy(&j1);
    sg_buf_destroy(&j2);
    sg_buf_destroy(&b1);
    sg_buf_destroy(&b3);
}

/*
 * The whole property for an accepted envelope. The trips decode with the
 * default limits: e1 met the limits it was decoded with, and the encoder
 * checks the defaults whatever they were.
 */
static inline void fuzz_roundtrip(const sg_envelope *e1)
{
    sg_decode_opts opts = fuzz_opts(0);

    fuzz_roundtrip_msgpack(e1, &opts);
    fuzz_roundtrip_json(e1, &opts);
}

/* The kind named by the low two bits of a mode byte. */
static inline sg_kind fuzz_kind(uint8_t mode)
{
    static const sg_kind kinds[4] = {
        SG_KIND_INBOUND, SG_KIND_OUTBOUND, SG_KIND_TOOLS_REQUEST,
        SG_KIND_TOOLS_REPLY
    };

    return kinds[mode & 3];
}

/*
 * One input of a harness that decodes `data` bytes as one kind: the
 * decode's contract always, then on_accept (when not NULL) on the
 * envelope the decode built.
 */
typedef void fuzz_accept_fn(const sg_envelope *env);

static inline int fuzz_decode_data_input(sg_kind kind, const uint8_t *data,
                                         size_t size, int small,
                                         fuzz_accept_fn *on_accept)
{
    sg_decode_opts opts = fuzz_opts(small);
    sg_envelope *env = NULL;
    sg_error err;
    int rc;

    fuzz_input_begin(-1);
    sg_error_clear(&err);
    rc = sg_envelope_decode_data(kind, data, size, &opts, &env, &err);
    if (fuzz_check_decode("decode_data", kind, rc, env, &err, 0)
        && on_accept != NULL) {
        on_accept(env);
    }
    sg_envelope_free(env);
    fuzz_input_end();
    return 0;
}

#endif /* SG_FUZZ_HARNESS_H */
