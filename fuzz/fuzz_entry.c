/*
 * fuzz_entry: sg_envelope_decode() of a whole stream entry, framing
 * included (SPEC section 3).
 *
 * The first byte is a mode:
 *
 *   bits 0-1  the kind (sg_kind)
 *   bits 2-4  the layout: how the rest becomes entry fields (below)
 *   bit 5     small limits (fuzz_small_limits), so that short inputs reach
 *             every limit check
 *   bit 6     refuse one allocation: the next byte is its number within
 *             the input, so that every failure path of a decode is walked
 *
 * Every layout but FREE reads a header first: one byte, the length of
 * `ts`; one byte, the length of `trace_id`; then those bytes. The rest is
 * `data`. FREE reads (name length: 1 byte, name, value length: 2 bytes
 * little-endian, value) fields until the input ends.
 *
 * Every value lives in a heap block of its exact size, so that reading
 * past the end of one field is caught by the sanitizers or memcheck rather
 * than landing in the next one.
 *
 * Besides the decode's contract (fuzz/harness.h) this checks what the
 * entry adds to sg_envelope_decode_data(): an entry without `data` is
 * missing_field at `data`; the envelope carries the first `ts` and
 * `trace_id` unchanged; and once the framing is passed, the entry decodes
 * exactly like its first `data` field on its own.
 */
#include <math.h>

#include "harness.h"

#define ENTRY_MAX_FIELDS 16

enum layout {
    LAYOUT_DATA_ONLY,   /* data */
    LAYOUT_FRAMED,      /* data, ts, trace_id */
    LAYOUT_DATA_LAST,   /* ts, trace_id, origin (an unknown field), data */
    LAYOUT_NO_DATA,     /* ts, trace_id, DATA, data_: no `data` at all */
    LAYOUT_REPEATED,    /* data, ts, trace_id, then each again: the first
                           of each name counts */
    LAYOUT_DECOYS,      /* names close to data, ts and trace_id, then the
                           real ones */
    LAYOUT_FREE,        /* names and values from the input */
    LAYOUT_REVERSED     /* trace_id, ts, data */
};

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

typedef struct entry_build {
    sg_entry_field fields[ENTRY_MAX_FIELDS];
    void *blocks[2 * ENTRY_MAX_FIELDS];
    size_t nfields;
    size_t nblocks;
} entry_build;

/* Takes up to `want` bytes. */
static sg_str take(reader *r, size_t want)
{
    sg_str s;

    if (want > r->n) {
        want = r->n;
    }
    s.ptr = (const char *)r->p;
    s.len = want;
    r->p += want;
    r->n -= want;
    return s;
}

static size_t take_byte(reader *r)
{
    sg_str s = take(r, 1);

    return s.len == 1 ? (uint8_t)s.ptr[0] : 0;
}

/* A copy of s in a block of its exact size; the empty string is NULL. */
static sg_str own(entry_build *b, sg_str s)
{
    char *copy;

    if (s.len == 0) {
        return (sg_str){ NULL, 0 };
    }
    copy = malloc(s.len);
    if (copy == NULL) {
        fuzz_fail("out of memory in the harness");
    }
    memcpy(copy, s.ptr, s.len);
    b->blocks[b->nblocks++] = copy;
    return (sg_str){ copy, s.len };
}

static void add(entry_build *b, sg_str name, sg_str value)
{
    if (b->nfields == ENTRY_MAX_FIELDS) {
        return;
    }
    b->fields[b->nfields].name = own(b, name);
    b->fields[b->nfields].value = own(b, value);
    b->nfields++;
}

static void entry_build_free(entry_build *b)
{
    size_t i;

    for (i = 0; i < b->nblocks; i++) {
        free(b->blocks[i]);
    }
    b->nblocks = 0;
    b->nfields = 0;
}

static void build(entry_build *b, enum layout layout, reader *r)
{
    const sg_str data = SG_STR("data");
    const sg_str ts = SG_STR("ts");
    const sg_str trace_id = SG_STR("trace_id");
    sg_str ts_value;
    sg_str trace_value;
    sg_str rest;

    if (layout == LAYOUT_FREE) {
        while (r->n > 0) {
            sg_str name = take(r, take_byte(r));
            size_t len = take_byte(r);

            len |= take_byte(r) << 8;
            add(b, name, take(r, len));
        }
        return;
    }
    if (layout == LAYOUT_DATA_ONLY) {
        add(b, data, take(r, r->n));
        return;
    }

    ts_value = take(r, take_byte(r));
    trace_value = take(r, take_byte(r));
    rest = take(r, r->n);
    switch (layout) {
    case LAYOUT_FRAMED:
        add(b, data, rest);
        add(b, ts, ts_value);
        add(b, trace_id, trace_value);
        break;
    case LAYOUT_DATA_LAST:
        add(b, ts, ts_value);
        add(b, trace_id, trace_value);
        add(b, SG_STR("origin"), ts_value);
        add(b, data, rest);
        break;
    case LAYOUT_NO_DATA:
        add(b, ts, ts_value);
        add(b, trace_id, trace_value);
        add(b, SG_STR("DATA"), rest);
        add(b, SG_STR("data_"), rest);
        break;
    case LAYOUT_REPEATED:
        add(b, data, rest);
        add(b, ts, ts_value);
        add(b, trace_id, trace_value);
        add(b, data, ts_value);
        add(b, ts, trace_value);
        add(b, trace_id, rest);
        break;
    case LAYOUT_DECOYS:
        add(b, SG_STR("dat"), rest);
        add(b, (sg_str){ "data\0", 5 }, ts_value);
        add(b, SG_STR("Ts"), trace_value);
        add(b, SG_STR("trace_id "), ts_value);
        add(b, data, rest);
        add(b, ts, ts_value);
        add(b, trace_id, trace_value);
        break;
    case LAYOUT_REVERSED:
        add(b, trace_id, trace_value);
        add(b, ts, ts_value);
        add(b, data, rest);
        break;
    case LAYOUT_DATA_ONLY:
    case LAYOUT_FREE:
        break;
    }
}

static int str_eq(sg_str a, sg_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

/* The first field called `name`, or NULL. */
static const sg_entry_field *first(const entry_build *b, sg_str name)
{
    size_t i;

    for (i = 0; i < b->nfields; i++) {
        if (str_eq(b->fields[i].name, name)) {
            return &b->fields[i];
        }
    }
    return NULL;
}

/* `ts` as the number it spells; the grammar was checked by the decode. */
static double ts_number(sg_str ts)
{
    char buf[512];

    if (ts.len == 0) {
        return 0.0;
    }
    if (ts.len >= sizeof(buf)) {
        return NAN;     /* not compared: beyond a double's digits anyway */
    }
    memcpy(buf, ts.ptr, ts.len);
    buf[ts.len] = '\0';
    return strtod(buf, NULL);
}

static void check_framing(const entry_build *b, const sg_envelope *env)
{
    const sg_entry_field *ts = first(b, SG_STR("ts"));
    const sg_entry_field *trace_id = first(b, SG_STR("trace_id"));
    sg_str ts_value = ts != NULL ? ts->value : (sg_str){ NULL, 0 };
    sg_str trace_value =
        trace_id != NULL ? trace_id->value : (sg_str){ NULL, 0 };
    double want = ts_number(ts_value);

    if (!str_eq(env->entry_ts, ts_value)) {
        fuzz_fail("entry: entry_ts is not the first ts field");
    }
    if (!str_eq(env->entry_trace_id, trace_value)) {
        fuzz_fail("entry: entry_trace_id is not the first trace_id field");
    }
    if (isnan(env->ts) || env->ts < 0) {
        fuzz_fail("entry: ts %.17g from '%.*s'", env->ts,
                  (int)ts_value.len, ts_value.ptr ? ts_value.ptr : "");
    }
    /* Correct rounding is not asked for; a wrong number is. */
    if (isfinite(want)
        && fabs(env->ts - want) > 1e-12 * (want > 1.0 ? want : 1.0)) {
        fuzz_fail("entry: ts %.17g from '%.*s', expected %.17g", env->ts,
                  (int)ts_value.len, ts_value.ptr, want);
    }
}

/*
 * Past the framing checks, the entry decodes like its `data` field alone:
 * the same envelope, or the same reason at the same path.
 */
static void check_like_data(const entry_build *b, sg_kind kind,
                            const sg_decode_opts *opts, int rc,
                            const sg_envelope *env, const sg_error *err)
{
    const sg_entry_field *data = first(b, SG_STR("data"));
    sg_envelope *alone = NULL;
    sg_error err2;
    int rc2;

    if (data == NULL) {
        if (rc != SG_EDECODE || err->reason != SG_REASON_MISSING_FIELD
            || strcmp(err->path, "data") != 0) {
            fuzz_fail("entry: no data field, yet %s %s '%s'",
                      sg_err_name(rc),
                      rc == 0 ? "" : sg_reason_name(err->reason),
                      rc == 0 ? "" : err->path);
        }
        return;
    }
    if (rc != 0 && (rc != SG_EDECODE || !fuzz_path_in_data(err->path))) {
        return;
    }

    /* The refused allocation, if any, has done its work. */
    fuzz_heap_state.fail_at = -1;
    fuzz_heap_state.refused = 0;
    sg_error_clear(&err2);
    rc2 = sg_envelope_decode_data(kind, data->value.ptr, data->value.len,
                                  opts, &alone, &err2);
    fuzz_check_decode("decode_data of the entry's data", kind, rc2, alone,
                      &err2, 0);
    if (rc == 0) {
        if (rc2 != 0 || sg_envelope_equal(env, alone) != 1) {
            fuzz_fail("entry: accepted, but its data alone %s",
                      rc2 == 0 ? "decodes to another envelope"
                               : "is rejected");
        }
    } else if (rc2 != SG_EDECODE || err2.reason != err->reason
               || strcmp(err2.path, err->path) != 0) {
        fuzz_fail("entry: rejected with %s at '%s', its data alone with "
                  "%s at '%s'", sg_reason_name(err->reason), err->path,
                  rc2 == SG_EDECODE ? sg_reason_name(err2.reason)
                                    : sg_err_name(rc2),
                  err2.path);
    }
    sg_envelope_free(alone);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_heap_init();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    reader r = { data, size };
    entry_build b;
    sg_entry entry;
    sg_decode_opts opts;
    sg_envelope *env = NULL;
    sg_error err;
    size_t mode;
    long fail_at = -1;
    sg_kind kind;
    int rc;

    if (size == 0) {
        return 0;
    }
    mode = take_byte(&r);
    kind = fuzz_kind((uint8_t)mode);
    if (mode & 0x40) {
        fail_at = (long)take_byte(&r);
    }
    opts = fuzz_opts((mode & 0x20) != 0);

    b.nfields = 0;
    b.nblocks = 0;
    build(&b, (enum layout)((mode >> 2) & 7), &r);
    entry.fields = b.fields;
    entry.nfields = b.nfields;

    fuzz_input_begin(fail_at);
    sg_error_clear(&err);
    rc = sg_envelope_decode(kind, &entry, &opts, &env, &err);
    if (fuzz_check_decode("decode", kind, rc, env, &err, FUZZ_FRAMING)) {
        check_framing(&b, env);
    }
    if (rc != SG_ENOMEM) {
        check_like_data(&b, kind, &opts, rc, env, &err);
    }
    sg_envelope_free(env);
    fuzz_input_end();
    entry_build_free(&b);
    return 0;
}
