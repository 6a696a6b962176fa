/*
 * decode.c: entry framing (SPEC section 3), the envelope map as a whole
 * (sections 4 and 6), limits, and the decode entry points.
 */
#include <math.h>
#include <stdalign.h>
#include <string.h>

#include "decode_internal.h"
#include "utf8.h"

/* Longest entry `trace_id` (SG-FRAME-007). */
#define TRACE_ID_MAX 128
/* Deepest nesting a caller may allow: the validators recurse per level. */
#define DEPTH_CEILING 64
/* Arena space inside the envelope's own allocation: enough for the ids
   and attachments of a typical envelope, so that a decode mallocs once. */
#define INLINE_ARENA 512

const sg_limits sg__limits_default = {
    4194304,    /* max_entry_bytes */
    262144,     /* max_text_bytes */
    4096,       /* max_string_bytes */
    4194304,    /* max_binary_bytes */
    1024,       /* max_array_items */
    256,        /* max_map_pairs */
    16,         /* max_depth */
    32,         /* max_attachments */
    25          /* max_buttons */
};

sg_limits
sg_limits_default(void)
{
    return sg__limits_default;
}

void
sg_decode_opts_init(sg_decode_opts *opts)
{
    opts->limits = sg_limits_default();
    opts->mem = NULL;
}

int
sg__limits_check(const sg_limits *lim, sg_error *err)
{
    if (lim->max_depth < 1 || lim->max_depth > DEPTH_CEILING)
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "max_depth %u is outside 1..%d",
                             lim->max_depth, DEPTH_CEILING);
    return 0;
}

/* A decoded envelope, its arena and the arena's first block, in one. */
typedef struct holder {
    sg_envelope env;
    sg__arena arena;
    alignas(max_align_t) unsigned char space[INLINE_ARENA];
} holder;

static holder *
holder_new(const sg_mem *mem, sg_kind kind)
{
    holder *h = mem->malloc(sizeof(*h), mem->ud);

    if (h == NULL)
        return NULL;
    sg_envelope_init(&h->env, kind);
    sg__arena_init(&h->arena, mem, h->space, sizeof(h->space));
    h->env.arena_ = &h->arena;
    return h;
}

void
sg_envelope_free(sg_envelope *env)
{
    holder *h;
    const sg_mem *mem;

    if (env == NULL || env->arena_ == NULL)
        return;
    /* env is the first member of its holder. */
    h = (holder *)(void *)env;
    mem = h->arena.mem;
    sg__arena_destroy(&h->arena);
    mem->free(h, mem->ud);
}

/* Pairs of the envelope map noted on the stack before spilling. */
#define PAIRS_ON_STACK 32

static int
decode_pairs(sg__dec *d, sg_kind kind, const sg__pair *pairs, uint32_t n,
             const uint8_t *end, sg_envelope *env)
{
    /* Every kind's lookup numbers schema_version 0. */
    const int version_field = 0;
    uint32_t i;
    int rc;

    /* Step C: the map's size, schema_version, then the kind's table. */
    if (n > d->lim->max_map_pairs)
        return sg__dec_fail(d, SG_REASON_MAP_TOO_LARGE, &sg__path_data, NULL,
                            0, "map of %u pairs exceeds max_map_pairs %u",
                            n, d->lim->max_map_pairs);
    for (i = 0; i < n; i++) {
        if (pairs[i].field == version_field) {
            rc = sg__get_version(d, pairs[i].val, end);
            if (rc != 0)
                return rc;
            break;
        }
    }
    switch (kind) {
    case SG_KIND_INBOUND:
        return sg__decode_inbound(d, pairs, n, end, env);
    case SG_KIND_OUTBOUND:
        return sg__decode_outbound(d, pairs, n, end, env);
    case SG_KIND_TOOLS_REQUEST:
        return sg__decode_tools_request(d, pairs, n, end, env);
    case SG_KIND_TOOLS_REPLY:
    default:
        return sg__decode_tools_reply(d, pairs, n, end, env);
    }
}

static int
decode_map(sg__dec *d, sg_kind kind, const uint8_t *p, const uint8_t *end,
           sg_envelope *env, bool fast)
{
    static const sg__field_fn field_of[] = {
        sg__inbound_field, sg__outbound_field, sg__tools_request_field,
        sg__tools_reply_field
    };
    sg__pair stack[PAIRS_ON_STACK], *pairs = stack;
    sg__mp_obj o;
    int rc;

    if (fast && (kind == SG_KIND_INBOUND || kind == SG_KIND_OUTBOUND)) {
        rc = kind == SG_KIND_INBOUND ? sg__decode_inbound_fast(d, p, end, env)
                                     : sg__decode_outbound_fast(d, p, end,
                                                                env);
        if (rc <= 0)
            return rc;
        /* Start again from nothing, for the exact reading. */
        sg__arena_reset(d->arena);
        sg_envelope_init(env, kind);
        env->arena_ = d->arena;
    }

    /* Step B, the top-level value: it must be a map. */
    if (p == end)
        return sg__dec_fail(d, SG_REASON_TRUNCATED, &sg__path_data, NULL, 0,
                            "data is empty");
    if (*p == 0xc1)
        return sg__dec_fail(d, SG_REASON_INVALID_MSGPACK, &sg__path_data,
                            NULL, 0, "byte 0xc1 is not msgpack");
    if (!((*p >= 0x80 && *p <= 0x8f) || *p == 0xde || *p == 0xdf))
        return sg__dec_fail(d, SG_REASON_NOT_MAP, &sg__path_data, NULL, 0,
                            "envelope is not a map");
    rc = sg__mp_head(&p, end, &o);
    if (rc != 0)
        return sg__dec_fail(d, rc, &sg__path_data, NULL, 0,
                            "envelope ends before its declared content");
    /*
     * The pairs are noted for step C only when the map is within
     * max_map_pairs (otherwise step C rejects it first), so what is
     * allocated here is bounded by the limit.
     */
    if (o.len > PAIRS_ON_STACK && o.len <= d->lim->max_map_pairs) {
        pairs = d->mem->malloc(o.len * sizeof(*pairs), d->mem->ud);
        if (pairs == NULL)
            return sg__dec_nomem(d);
    } else if (o.len > PAIRS_ON_STACK) {
        pairs = NULL;
    }
    rc = sg__mp_check_pairs(d, &p, end, o.len, field_of[kind], pairs);
    if (rc == 0 && p != end)
        rc = sg__dec_fail(d, SG_REASON_TRAILING_BYTES, &sg__path_data, NULL,
                          0, "%zu bytes follow the envelope map",
                          (size_t)(end - p));
    if (rc == 0)
        rc = decode_pairs(d, kind, pairs, o.len, end, env);
    if (pairs != stack && pairs != NULL)
        d->mem->free(pairs, d->mem->ud);
    return rc;
}

static bool
kind_valid(sg_kind kind)
{
    return (unsigned)kind <= SG_KIND_TOOLS_REPLY;
}

int
sg__decode_data(sg_kind kind, const uint8_t *data, size_t len,
                const sg_decode_opts *opts, unsigned flags, sg_envelope **out,
                sg_error *err)
{
    sg_decode_opts defaults;
    const sg_mem *mem;
    holder *h;
    sg__dec d;
    int rc;

    if (out == NULL)
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "out is NULL");
    *out = NULL;
    if ((data == NULL && len > 0) || !kind_valid(kind))
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "invalid data or kind");
    if (data == NULL)
        data = (const uint8_t *)"";     /* no arithmetic on NULL */
    if (opts == NULL) {
        sg_decode_opts_init(&defaults);
        opts = &defaults;
    }
    rc = sg__limits_check(&opts->limits, err);
    if (rc != 0)
        return rc;
    if (len > opts->limits.max_entry_bytes)
        return sg__error_set(err, SG_EDECODE, SG_REASON_ENTRY_TOO_LARGE,
                             "data", "%zu bytes exceed max_entry_bytes %zu",
                             len, opts->limits.max_entry_bytes);
    mem = opts->mem != NULL ? opts->mem : sg_mem_default();
    h = holder_new(mem, kind);
    if (h == NULL)
        return sg__error_set(err, SG_ENOMEM, SG_REASON_NONE, NULL,
                             "out of memory");
    if ((flags & SG__DECODE_COPY) && len > 0) {
        uint8_t *own = sg__arena_alloc(&h->arena, len);

        if (own == NULL) {
            sg_envelope_free(&h->env);
            return sg__error_set(err, SG_ENOMEM, SG_REASON_NONE, NULL,
                                 "out of memory");
        }
        memcpy(own, data, len);
        data = own;
    }
    sg__dec_init(&d, &opts->limits, mem, &h->arena, SG_EDECODE, err);
    /* The fast path's fallback resets the arena, which would lose a copy
       of the input made there: copies take the exact path only. */
    rc = decode_map(&d, kind, data, data + len, &h->env,
                    (flags & (SG__DECODE_EXACT | SG__DECODE_COPY)) == 0);
    sg__dec_destroy(&d);
    if (rc != 0) {
        sg_envelope_free(&h->env);
        return rc;
    }
    /* A fast path that gave up may have left words in err. */
    sg_error_clear(err);
    *out = &h->env;
    return 0;
}

int
sg_envelope_decode_data(sg_kind kind, const void *data, size_t len,
                        const sg_decode_opts *opts, sg_envelope **out,
                        sg_error *err)
{
    return sg__decode_data(kind, data, len, opts, 0, out, err);
}

/*
 * The value of a non-empty entry `ts`: ASCII digits with an optional
 * fraction ("1732350000.123"). False when it is not such a number or is
 * not finite as a double.
 */
static bool
parse_ts(const char *s, size_t len, double *out)
{
    double v = 0.0, scale = 1.0;
    size_t i = 0;

    while (i < len && s[i] >= '0' && s[i] <= '9')
        v = v * 10.0 + (s[i++] - '0');
    if (i == 0)
        return false;
    if (i < len) {
        size_t start;

        if (s[i] != '.')
            return false;
        start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            /* Digits past double precision change nothing; stop scaling
               before the scale underflows. */
            if (scale > 1e-300) {
                scale /= 10.0;
                v += (s[i] - '0') * scale;
            }
            i++;
        }
        if (i == start || i != len)
            return false;
    }
    if (!isfinite(v))
        return false;
    *out = v;
    return true;
}

static const sg_str *
find_field(const sg_entry *entry, const char *name, size_t n)
{
    size_t i;

    for (i = 0; i < entry->nfields; i++) {
        const sg_entry_field *f = &entry->fields[i];

        if (f->name.len == n && f->name.ptr != NULL
            && memcmp(f->name.ptr, name, n) == 0)
            return &f->value;
    }
    return NULL;
}

int
sg_envelope_decode(sg_kind kind, const sg_entry *entry,
                   const sg_decode_opts *opts, sg_envelope **out,
                   sg_error *err)
{
    const sg_str *data, *ts, *trace;
    size_t max_entry, i;
    double tsv = 0.0;
    int rc;

    if (out == NULL)
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "out is NULL");
    *out = NULL;
    if (entry == NULL || (entry->fields == NULL && entry->nfields > 0))
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "entry is NULL");
    max_entry = opts != NULL ? opts->limits.max_entry_bytes
                             : sg_limits_default().max_entry_bytes;
    for (i = 0; i < entry->nfields; i++) {
        if ((entry->fields[i].name.ptr == NULL
             && entry->fields[i].name.len > 0)
            || (entry->fields[i].value.ptr == NULL
                && entry->fields[i].value.len > 0))
            return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                                 "entry field %zu: NULL with a length", i);
    }
    data = find_field(entry, "data", 4);
    if (data == NULL)
        return sg__error_set(err, SG_EDECODE, SG_REASON_MISSING_FIELD,
                             "data", "the entry has no data field");
    if (data->len > max_entry)
        return sg__error_set(err, SG_EDECODE, SG_REASON_ENTRY_TOO_LARGE,
                             "data", "%zu bytes exceed max_entry_bytes %zu",
                             data->len, max_entry);
    ts = find_field(entry, "ts", 2);
    if (ts != NULL && ts->len > 0 && !parse_ts(ts->ptr, ts->len, &tsv))
        return sg__error_set(err, SG_EDECODE, SG_REASON_INVALID_VALUE, "ts",
                             "not a finite non-negative decimal number");
    trace = find_field(entry, "trace_id", 8);
    if (trace != NULL && trace->len > TRACE_ID_MAX)
        return sg__error_set(err, SG_EDECODE, SG_REASON_STRING_TOO_LONG,
                             "trace_id", "string of %zu bytes exceeds %d",
                             trace->len, TRACE_ID_MAX);
    if (trace != NULL
        && !sg__utf8_valid((const uint8_t *)trace->ptr, trace->len))
        return sg__error_set(err, SG_EDECODE, SG_REASON_INVALID_UTF8,
                             "trace_id", "string is not valid UTF-8");
    rc = sg__decode_data(kind, (const uint8_t *)data->ptr, data->len, opts,
                         0, out, err);
    if (rc != 0)
        return rc;
    if (ts != NULL)
        (*out)->entry_ts = *ts;
    (*out)->ts = tsv;
    if (trace != NULL)
        (*out)->entry_trace_id = *trace;
    return 0;
}
