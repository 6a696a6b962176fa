/*
 * decode_field.c: step C of decoding for single fields: the field types of
 * SPEC section 7 (str, id, text, bool, int, float, bytes, arrays of ids,
 * any, map), attachments and buttons, and the generic checks of *any*
 * values. The bytes were checked by step B, so headers always read.
 *
 * Per value the order is that of the "Decoding model": nil means absent;
 * then the msgpack type; then the size against its bound; then the
 * elements or pairs in order; then the value itself (range, non-empty).
 */
#include <math.h>
#include <string.h>

#include "base64.h"
#include "decode_internal.h"

static const char *
type_name(sg__mp_type t)
{
    static const char *const names[] = {
        "nil", "bool", "int", "int", "float", "str", "bin", "array", "map",
        "ext"
    };
    return names[t];
}

/* Reads a header that step B accepted. */
static inline void
head(const uint8_t **pp, const uint8_t *end, sg__mp_obj *o)
{
    int rc = sg__mp_head(pp, end, o);

    /* Step B guarantees this; a failure here is a bug, made harmless. */
    if (rc != 0)
        o->type = SG__MP_EXT;
}

static int
wrong_type(sg__dec *d, const sg__path *path, const sg__mp_obj *o,
           const char *want)
{
    return sg__dec_fail(d, SG_REASON_WRONG_TYPE, path, NULL, 0,
                        "%s where %s is required", type_name(o->type), want);
}

static int
too_long(sg__dec *d, const sg__path *path, size_t len, size_t max)
{
    const char *name = max == d->lim->max_text_bytes ? "max_text_bytes"
        : max == d->lim->max_string_bytes ? "max_string_bytes"
        : "its bound";

    return sg__dec_fail(d, SG_REASON_STRING_TOO_LONG, path, NULL, 0,
                        "string of %zu bytes exceeds %s %zu", len, name,
                        max);
}

int
sg__get_key(sg__dec *d, const uint8_t **pp, const uint8_t *end,
            const sg__path *map_path, sg_str *key)
{
    sg__mp_obj o;

    head(pp, end, &o);
    if (o.type != SG__MP_STR)
        return wrong_type(d, map_path, &o, "str");
    if (o.len > d->lim->max_string_bytes)
        return sg__dec_fail(d, SG_REASON_STRING_TOO_LONG, map_path, NULL, 0,
                            "map key of %u bytes exceeds max_string_bytes "
                            "%zu", o.len, d->lim->max_string_bytes);
    key->ptr = (const char *)o.v.body;
    key->len = o.len;
    return 0;
}

int
sg__check_any(sg__dec *d, const uint8_t **pp, const uint8_t *end,
              const sg__path *path, size_t strmax)
{
    const sg_limits *lim = d->lim;
    sg__path child;
    sg__mp_obj o;
    uint32_t i;
    int rc;

    head(pp, end, &o);
    switch (o.type) {
    case SG__MP_UINT:
        if (o.v.u > (uint64_t)INT64_MAX)
            return sg__dec_fail(d, SG_REASON_OUT_OF_RANGE, path, NULL, 0,
                                "integer %llu exceeds 2^63-1",
                                (unsigned long long)o.v.u);
        return 0;
    case SG__MP_FLOAT:
        if (!isfinite(o.v.f))
            return sg__dec_fail(d, SG_REASON_OUT_OF_RANGE, path, NULL, 0,
                                "number is not finite");
        return 0;
    case SG__MP_STR:
        if (o.len > strmax)
            return too_long(d, path, o.len, strmax);
        return 0;
    case SG__MP_BIN:
        if (o.len > lim->max_binary_bytes)
            return sg__dec_fail(d, SG_REASON_BINARY_TOO_LARGE, path, NULL, 0,
                                "%u bytes exceed max_binary_bytes %zu",
                                o.len, lim->max_binary_bytes);
        return 0;
    case SG__MP_ARRAY:
        if (o.len > lim->max_array_items)
            return sg__dec_fail(d, SG_REASON_ARRAY_TOO_LONG, path, NULL, 0,
                                "array of %u items exceeds max_array_items "
                                "%u", o.len, lim->max_array_items);
        child.up = path;
        child.key = NULL;
        child.keylen = 0;
        for (i = 0; i < o.len; i++) {
            child.index = i;
            rc = sg__check_any(d, pp, end, &child, strmax);
            if (rc != 0)
                return rc;
        }
        return 0;
    case SG__MP_MAP:
        if (o.len > lim->max_map_pairs)
            return sg__dec_fail(d, SG_REASON_MAP_TOO_LARGE, path, NULL, 0,
                                "map of %u pairs exceeds max_map_pairs %u",
                                o.len, lim->max_map_pairs);
        child.up = path;
        child.index = 0;
        for (i = 0; i < o.len; i++) {
            sg_str key;

            rc = sg__get_key(d, pp, end, path, &key);
            if (rc != 0)
                return rc;
            child.key = key.ptr;
            child.keylen = key.len;
            rc = sg__check_any(d, pp, end, &child, strmax);
            if (rc != 0)
                return rc;
        }
        return 0;
    case SG__MP_EXT:
        return wrong_type(d, path, &o, "a msgpack type of the subset");
    default:
        return 0;
    }
}

int
sg__get_str(sg__dec *d, const uint8_t **pp, const uint8_t *end,
            const sg__path *path, size_t max, unsigned flags, sg_str *out,
            bool *present)
{
    sg__mp_obj o;

    head(pp, end, &o);
    if (o.type == SG__MP_NIL) {
        *present = false;
        return 0;
    }
    if (o.type != SG__MP_STR)
        return wrong_type(d, path, &o, "str");
    if (o.len > max)
        return too_long(d, path, o.len, max);
    if (o.len == 0 && (flags & SG__NONEMPTY))
        return sg__dec_fail(d, SG_REASON_INVALID_VALUE, path, NULL, 0,
                            "must not be empty");
    out->ptr = (const char *)o.v.body;
    out->len = o.len;
    *present = true;
    return 0;
}

int
sg__get_bool(sg__dec *d, const uint8_t **pp, const uint8_t *end,
             const sg__path *path, bool *out, bool *present)
{
    sg__mp_obj o;

    head(pp, end, &o);
    if (o.type == SG__MP_NIL) {
        *present = false;
        return 0;
    }
    if (o.type != SG__MP_BOOL)
        return wrong_type(d, path, &o, "bool");
    *out = o.v.b;
    *present = true;
    return 0;
}

int
sg__get_int(sg__dec *d, const uint8_t **pp, const uint8_t *end,
            const sg__path *path, int64_t min, int64_t max, int64_t *out,
            bool *present)
{
    sg__mp_obj o;
    int64_t v;

    head(pp, end, &o);
    if (o.type == SG__MP_NIL) {
        *present = false;
        return 0;
    }
    if (o.type == SG__MP_UINT) {
        if (o.v.u > (uint64_t)INT64_MAX)
            return sg__dec_fail(d, SG_REASON_OUT_OF_RANGE, path, NULL, 0,
                                "integer %llu exceeds 2^63-1",
                                (unsigned long long)o.v.u);
        v = (int64_t)o.v.u;
    } else if (o.type == SG__MP_INT) {
        v = o.v.i;
    } else {
        return wrong_type(d, path, &o, "int");
    }
    if (v < min || v > max)
        return sg__dec_fail(d, SG_REASON_OUT_OF_RANGE, path, NULL, 0,
                            "integer %lld outside %lld..%lld", (long long)v,
                            (long long)min, (long long)max);
    *out = v;
    *present = true;
    return 0;
}

int
sg__get_float(sg__dec *d, const uint8_t **pp, const uint8_t *end,
              const sg__path *path, double *out, bool *present)
{
    sg__mp_obj o;
    double v;

    head(pp, end, &o);
    switch (o.type) {
    case SG__MP_NIL:
        *present = false;
        return 0;
    case SG__MP_FLOAT:
        v = o.v.f;
        break;
    case SG__MP_UINT:
        v = (double)o.v.u;
        break;
    case SG__MP_INT:
        v = (double)o.v.i;
        break;
    default:
        return wrong_type(d, path, &o, "float");
    }
    if (!isfinite(v) || v < 0)
        return sg__dec_fail(d, SG_REASON_OUT_OF_RANGE, path, NULL, 0,
                            "number must be finite and >= 0");
    *out = v;
    *present = true;
    return 0;
}

int
sg__get_bytes(sg__dec *d, const uint8_t **pp, const uint8_t *end,
              const sg__path *path, sg_bytes *out, bool *present)
{
    size_t max = d->lim->max_binary_bytes, n;
    const char *text;
    uint8_t *buf = NULL;
    sg__mp_obj o;

    head(pp, end, &o);
    if (o.type == SG__MP_NIL) {
        *present = false;
        return 0;
    }
    if (o.type == SG__MP_BIN) {
        if (o.len > max)
            return sg__dec_fail(d, SG_REASON_BINARY_TOO_LARGE, path, NULL, 0,
                                "%u bytes exceed max_binary_bytes %zu",
                                o.len, max);
        /* Present and empty keeps a pointer: NULL with length 0 is
           what an encoder reads as absent (sg_bytes). */
        out->ptr = o.v.body;
        out->len = o.len;
        *present = true;
        return 0;
    }
    if (o.type != SG__MP_STR)
        return wrong_type(d, path, &o, "bin or base64 str");
    /*
     * Base64 text (SG-MP-006). Its decoded size is known from its length
     * and is within the input's size; the memory is taken only for text
     * that decodes, and only within max_binary_bytes.
     */
    text = (const char *)o.v.body;
    if (!sg__base64_decode(text, o.len, NULL))
        return sg__dec_fail(d, SG_REASON_INVALID_VALUE, path, NULL, 0,
                            "not strict base64");
    n = sg__base64_decoded_size(text, o.len);
    if (n > max)
        return sg__dec_fail(d, SG_REASON_BINARY_TOO_LARGE, path, NULL, 0,
                            "%zu bytes (base64) exceed max_binary_bytes %zu",
                            n, max);
    if (n > 0) {
        buf = sg__arena_alloc(d->arena, n);
        if (buf == NULL)
            return sg__dec_nomem(d);
        (void)sg__base64_decode(text, o.len, buf);
    }
    out->ptr = n > 0 ? buf : (const uint8_t *)text;
    out->len = n;
    *present = true;
    return 0;
}

static int
array_head(sg__dec *d, const uint8_t **pp, const uint8_t *end,
           const sg__path *path, uint32_t bound, const char *bound_name,
           sg__mp_obj *o)
{
    head(pp, end, o);
    if (o->type == SG__MP_NIL)
        return 0;
    if (o->type != SG__MP_ARRAY)
        return wrong_type(d, path, o, "array");
    if (o->len > d->lim->max_array_items)
        return sg__dec_fail(d, SG_REASON_ARRAY_TOO_LONG, path, NULL, 0,
                            "array of %u items exceeds max_array_items %u",
                            o->len, d->lim->max_array_items);
    if (o->len > bound)
        return sg__dec_fail(d, SG_REASON_ARRAY_TOO_LONG, path, NULL, 0,
                            "array of %u items exceeds %s %u", o->len,
                            bound_name, bound);
    return 0;
}

int
sg__get_strv(sg__dec *d, const uint8_t **pp, const uint8_t *end,
             const sg__path *path, sg_strv *out)
{
    sg_str *items = NULL;
    sg__path child;
    sg__mp_obj o;
    uint32_t i;
    int rc = array_head(d, pp, end, path, UINT32_MAX, "", &o);

    if (rc != 0 || o.type == SG__MP_NIL)
        return rc;
    if (o.len > 0) {
        /* The count was checked against the bytes left in step B and
           against max_array_items above. */
        items = sg__arena_alloc(d->arena, o.len * sizeof(*items));
        if (items == NULL)
            return sg__dec_nomem(d);
    }
    child.up = path;
    child.key = NULL;
    child.keylen = 0;
    for (i = 0; i < o.len; i++) {
        bool present;

        child.index = i;
        items[i].ptr = NULL;
        items[i].len = 0;
        rc = sg__get_str(d, pp, end, &child, d->lim->max_string_bytes, 0,
                         &items[i], &present);
        if (rc != 0)
            return rc;
        if (!present)
            return sg__dec_fail(d, SG_REASON_WRONG_TYPE, &child, NULL, 0,
                                "nil where str is required");
    }
    out->items = items;
    out->n = o.len;
    return 0;
}

int
sg__get_any(sg__dec *d, const uint8_t **pp, const uint8_t *end,
            const sg__path *path, bool maps_only, size_t strmax,
            sg_any *out)
{
    const uint8_t *start = *pp;
    int rc;

    if (*start == 0xc0) {
        (*pp)++;
        return 0;
    }
    if (maps_only && !((*start >= 0x80 && *start <= 0x8f)
                       || *start == 0xde || *start == 0xdf)) {
        sg__mp_obj o;

        head(pp, end, &o);
        return wrong_type(d, path, &o, "map");
    }
    rc = sg__check_any(d, pp, end, path, strmax);
    if (rc != 0)
        return rc;
    out->mp = start;
    out->len = (size_t)(*pp - start);
    return 0;
}

/*
 * Reads the pairs of a map with a table: each key within max_string_bytes
 * (at the map's path), then its value by `field` (which returns 1 for a
 * key the table does not list), else as *any*.
 */
typedef int (*pair_fn)(sg__dec *d, const sg_str *key, const uint8_t **pp,
                       const uint8_t *end, const sg__path *path, void *ctx);

static int
table_pairs(sg__dec *d, const uint8_t **pp, const uint8_t *end,
            const sg__path *path, uint32_t pairs, pair_fn field, void *ctx)
{
    sg__path child;
    uint32_t i;
    int rc;

    child.up = path;
    child.index = 0;
    for (i = 0; i < pairs; i++) {
        sg_str key;

        rc = sg__get_key(d, pp, end, path, &key);
        if (rc != 0)
            return rc;
        child.key = key.ptr;
        child.keylen = key.len;
        rc = field(d, &key, pp, end, &child, ctx);
        if (rc == 1)
            rc = sg__check_any(d, pp, end, &child,
                               d->lim->max_string_bytes);
        if (rc != 0)
            return rc;
    }
    return 0;
}

#define KEY_IS(k, lit) \
    ((k)->len == sizeof(lit) - 1 && memcmp((k)->ptr, lit, (k)->len) == 0)

static int
attachment_pair(sg__dec *d, const sg_str *key, const uint8_t **pp,
                const uint8_t *end, const sg__path *path, void *ctx)
{
    sg_attachment *a = ctx;
    size_t smax = d->lim->max_string_bytes;
    bool present;

    if (KEY_IS(key, "data"))
        return sg__get_bytes(d, pp, end, path, &a->data, &present);
    if (KEY_IS(key, "mimetype"))
        return sg__get_str(d, pp, end, path, smax, 0, &a->mimetype,
                           &present);
    if (KEY_IS(key, "filename"))
        return sg__get_str(d, pp, end, path, smax, 0, &a->filename,
                           &present);
    if (KEY_IS(key, "source_url"))
        return sg__get_str(d, pp, end, path, smax, 0, &a->source_url,
                           &present);
    return 1;
}

static int
map_head(sg__dec *d, const uint8_t **pp, const uint8_t *end,
         const sg__path *path, const char *what, sg__mp_obj *o)
{
    head(pp, end, o);
    if (o->type != SG__MP_MAP)
        return wrong_type(d, path, o, what);
    if (o->len > d->lim->max_map_pairs)
        return sg__dec_fail(d, SG_REASON_MAP_TOO_LARGE, path, NULL, 0,
                            "map of %u pairs exceeds max_map_pairs %u",
                            o->len, d->lim->max_map_pairs);
    return 0;
}

int
sg__get_attachments(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                    const sg__path *path, uint32_t max,
                    const sg_attachment **out, size_t *n)
{
    sg_attachment *items = NULL;
    sg__path child;
    sg__mp_obj o;
    uint32_t i;
    int rc = array_head(d, pp, end, path, max, "max_attachments", &o);

    if (rc != 0 || o.type == SG__MP_NIL)
        return rc;
    if (o.len > 0) {
        items = sg__arena_alloc(d->arena, o.len * sizeof(*items));
        if (items == NULL)
            return sg__dec_nomem(d);
        memset(items, 0, o.len * sizeof(*items));
    }
    child.up = path;
    child.key = NULL;
    child.keylen = 0;
    for (i = 0; i < o.len; i++) {
        sg__mp_obj m;

        child.index = i;
        rc = map_head(d, pp, end, &child, "map (an attachment)", &m);
        if (rc != 0)
            return rc;
        rc = table_pairs(d, pp, end, &child, m.len, attachment_pair,
                         &items[i]);
        if (rc != 0)
            return rc;
    }
    *out = items;
    *n = o.len;
    return 0;
}

static int
button_pair(sg__dec *d, const sg_str *key, const uint8_t **pp,
            const uint8_t *end, const sg__path *path, void *ctx)
{
    bool *have_label = ctx, present;
    size_t smax = d->lim->max_string_bytes;
    sg_str s;

    if (KEY_IS(key, "label"))
        return sg__get_str(d, pp, end, path, smax, SG__NONEMPTY, &s,
                           have_label);
    if (KEY_IS(key, "id") || KEY_IS(key, "url"))
        return sg__get_str(d, pp, end, path, smax, 0, &s, &present);
    return 1;
}

int
sg__get_buttons(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                const sg__path *path, sg_any *out, size_t *n)
{
    const uint8_t *start = *pp;
    sg__path child;
    sg__mp_obj o;
    uint32_t i;
    int rc = array_head(d, pp, end, path, d->lim->max_buttons,
                        "max_buttons", &o);

    if (rc != 0 || o.type == SG__MP_NIL)
        return rc;
    child.up = path;
    child.key = NULL;
    child.keylen = 0;
    for (i = 0; i < o.len; i++) {
        bool have_label = false;
        sg__mp_obj m;

        child.index = i;
        rc = map_head(d, pp, end, &child, "map (a button)", &m);
        if (rc != 0)
            return rc;
        rc = table_pairs(d, pp, end, &child, m.len, button_pair,
                         &have_label);
        if (rc != 0)
            return rc;
        if (!have_label)
            return sg__dec_fail(d, SG_REASON_MISSING_FIELD, &child, "label",
                                5, "required field is absent");
    }
    if (o.len == 0)
        return sg__dec_fail(d, SG_REASON_INVALID_VALUE, path, NULL, 0,
                            "at least one button is required");
    out->mp = start;
    out->len = (size_t)(*pp - start);
    *n = o.len;
    return 0;
}

int
sg__get_version(sg__dec *d, const uint8_t *val, const uint8_t *end)
{
    sg__path path = { &sg__path_data, "schema_version", 14, 0 };
    sg__mp_obj o;

    head(&val, end, &o);
    if (o.type == SG__MP_NIL)
        return 0;
    if (o.type != SG__MP_UINT && o.type != SG__MP_INT)
        return wrong_type(d, &path, &o, "int");
    if (o.type != SG__MP_UINT || o.v.u != 1)
        return sg__dec_fail(d, SG_REASON_UNKNOWN_VERSION, &path, NULL, 0,
                            "only schema version 1 is known");
    return 0;
}

int
sg__check_span(sg__dec *d, sg_any v, const sg__path *path, bool maps_only,
               size_t strmax, bool *is_nil)
{
    const uint8_t *p = v.mp, *end = v.mp + v.len;
    sg_any seen = { NULL, 0 };
    int rc = sg__mp_check_value(d, &p, end, 2, path);

    if (rc != 0)
        return rc;
    if (p != end)
        return sg__dec_fail(d, SG_REASON_TRAILING_BYTES, path, NULL, 0,
                            "bytes follow the value");
    p = v.mp;
    rc = sg__get_any(d, &p, end, path, maps_only, strmax, &seen);
    *is_nil = rc == 0 && seen.len == 0;
    return rc;
}
