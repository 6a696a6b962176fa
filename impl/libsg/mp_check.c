/*
 * mp_check.c: step B of decoding, the single front-to-back pass over the
 * msgpack bytes (SPEC section 4, SG-LIMIT-005, SG-LIMIT-006), in the order
 * of the "Decoding model" of protocol/vectors/README.md: per value, a
 * missing byte, 0xc1, ext, depth, the declared size against the bytes
 * left, UTF-8, then the elements; per map key, its type, UTF-8 and
 * duplicates.
 */
#include <stdlib.h>
#include <string.h>

#include "decode_internal.h"
#include "utf8.h"

static int
head_fail(sg__dec *d, int reason, const sg__path *path)
{
    if (reason == SG_REASON_INVALID_MSGPACK)
        return sg__dec_fail(d, reason, path, NULL, 0,
                            "byte 0xc1 is not msgpack");
    return sg__dec_fail(d, reason, path, NULL, 0,
                        "value ends before its declared content");
}

/* Reads a map key; every problem is reported at the map's path. */
static inline int
check_key(sg__dec *d, const uint8_t **pp, const uint8_t *end,
          const sg__path *map_path, sg_str *key)
{
    const uint8_t *p = *pp;
    sg__mp_obj o;
    int rc;

    /* Fast path: a fixstr of ASCII, which nearly every key is. */
    if (p < end && (*p & 0xe0) == 0xa0) {
        size_t n = *p & 0x1f, i;

        if (n < (size_t)(end - p)) {
            for (i = 0; i < n; i++) {
                if (p[1 + i] & 0x80)
                    break;
            }
            if (i == n) {
                key->ptr = (const char *)p + 1;
                key->len = n;
                *pp = p + 1 + n;
                return 0;
            }
        }
    }
    rc = sg__mp_head(pp, end, &o);
    if (rc != 0)
        return head_fail(d, rc, map_path);
    if (o.type != SG__MP_STR)
        return sg__dec_fail(d, SG_REASON_WRONG_TYPE, map_path, NULL, 0,
                            "a map key must be a str");
    if (!sg__utf8_valid(o.v.body, o.len))
        return sg__dec_fail(d, SG_REASON_INVALID_UTF8, map_path, NULL, 0,
                            "a map key is not valid UTF-8");
    key->ptr = (const char *)o.v.body;
    key->len = o.len;
    return 0;
}

static int
dup_fail(sg__dec *d, const sg__path *path, sg_str key)
{
    return sg__dec_fail(d, SG_REASON_DUPLICATE_KEY, path, key.ptr, key.len,
                        "key appears twice in one map");
}

bool
sg__mp_skip(const uint8_t **pp, const uint8_t *end)
{
    /* Values still to skip; bounded by the input since counts fit it. */
    size_t todo = 1;

    while (todo > 0) {
        sg__mp_obj o;

        if (sg__mp_head(pp, end, &o) != 0 || o.type == SG__MP_EXT)
            return false;
        todo--;
        if (o.type == SG__MP_ARRAY)
            todo += o.len;
        else if (o.type == SG__MP_MAP)
            todo += (size_t)o.len * 2;
    }
    return true;
}

/*
 * Maps of more pairs than this find duplicates by sorting their keys
 * rather than in a hash table: a table's worst case (keys crafted to
 * collide) is quadratic, which is harmless for 256 keys and not for the
 * millions a large entry can declare.
 */
#define HASH_PAIRS_MAX 256

typedef struct sorted_key {
    const uint8_t *ptr;
    uint32_t len;
    uint32_t idx;
} sorted_key;

static int
cmp_keys(const void *a, const void *b)
{
    const sorted_key *x = a, *y = b;
    int c;

    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    c = x->len ? memcmp(x->ptr, y->ptr, x->len) : 0;
    if (c != 0)
        return c;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/*
 * The index of the first pair of a large map whose key repeats an earlier
 * key, or `pairs` when there is none: the keys are read ahead (values
 * only stepped over, up to the first thing that cannot be read, which the
 * checked pass then reports in its turn) and sorted. O(n log n) time,
 * 16 bytes per pair. 0 or SG_ENOMEM.
 */
static int
first_repeat(sg__dec *d, const uint8_t *p, const uint8_t *end,
             uint32_t pairs, uint32_t *first)
{
    sorted_key *keys;
    uint32_t n = 0, i;

    *first = pairs;
    /* pairs was checked against the bytes left (two per pair). */
    keys = d->mem->malloc((size_t)pairs * sizeof(*keys), d->mem->ud);
    if (keys == NULL)
        return sg__dec_nomem(d);
    for (i = 0; i < pairs; i++) {
        sg__mp_obj o;

        if (sg__mp_head(&p, end, &o) != 0 || o.type != SG__MP_STR)
            break;
        keys[n].ptr = o.v.body;
        keys[n].len = o.len;
        keys[n].idx = i;
        n++;
        if (!sg__mp_skip(&p, end))
            break;
    }
    qsort(keys, n, sizeof(*keys), cmp_keys);
    for (i = 1; i < n; i++) {
        if (keys[i].len == keys[i - 1].len
            && (keys[i].len == 0
                || memcmp(keys[i].ptr, keys[i - 1].ptr, keys[i].len) == 0)
            && keys[i].idx < *first)
            *first = keys[i].idx;
    }
    d->mem->free(keys, d->mem->ud);
    return 0;
}

static int
check_map(sg__dec *d, const uint8_t **pp, const uint8_t *end, uint32_t pairs,
          uint32_t depth, const sg__path *path)
{
    sg__keyset ks;
    sg__path child;
    uint32_t i;
    int rc = 0;

    uint32_t repeat = pairs;

    if (pairs > HASH_PAIRS_MAX) {
        rc = first_repeat(d, *pp, end, pairs, &repeat);
        if (rc != 0)
            return rc;
    }
    sg__keyset_init(&ks, pairs);
    child.up = path;
    child.index = 0;
    for (i = 0; i < pairs; i++) {
        sg_str key = { NULL, 0 };
        bool dup = i == repeat;

        rc = check_key(d, pp, end, path, &key);
        if (rc != 0)
            break;
        if (pairs <= HASH_PAIRS_MAX)
            rc = sg__keyset_add(d, &ks, (const uint8_t *)key.ptr, key.len,
                                &dup);
        if (rc != 0)
            break;
        if (dup) {
            rc = dup_fail(d, path, key);
            break;
        }
        child.key = key.ptr;
        child.keylen = key.len;
        rc = sg__mp_check_value(d, pp, end, depth + 1, &child);
        if (rc != 0)
            break;
    }
    sg__keyset_release(d, &ks);
    return rc;
}

static bool
is_container(uint8_t c)
{
    return (c >= 0x80 && c <= 0x9f) || (c >= 0xdc && c <= 0xdf);
}

int
sg__mp_check_value(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                   uint32_t depth, const sg__path *path)
{
    sg__path child;
    sg__mp_obj o;
    uint32_t i;
    int rc;

    if (*pp >= end)
        return head_fail(d, SG_REASON_TRUNCATED, path);
    /* Depth is checked before a container's count is read. */
    if (depth > d->lim->max_depth && is_container(**pp))
        return sg__dec_fail(d, SG_REASON_TOO_DEEP, path, NULL, 0,
                            "container at depth %u exceeds max_depth %u",
                            depth, d->lim->max_depth);
    rc = sg__mp_head(pp, end, &o);
    if (rc != 0)
        return head_fail(d, rc, path);
    switch (o.type) {
    case SG__MP_STR:
        if (!sg__utf8_valid(o.v.body, o.len))
            return sg__dec_fail(d, SG_REASON_INVALID_UTF8, path, NULL, 0,
                                "string is not valid UTF-8");
        return 0;
    case SG__MP_ARRAY:
        child.up = path;
        child.key = NULL;
        child.keylen = 0;
        for (i = 0; i < o.len; i++) {
            child.index = i;
            rc = sg__mp_check_value(d, pp, end, depth + 1, &child);
            if (rc != 0)
                return rc;
        }
        return 0;
    case SG__MP_MAP:
        return check_map(d, pp, end, o.len, depth, path);
    case SG__MP_EXT:
        return sg__dec_fail(d, SG_REASON_WRONG_TYPE, path, NULL, 0,
                            "msgpack ext types are not allowed");
    default:
        return 0;
    }
}

int
sg__mp_check_pairs(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                   uint32_t pairs, sg__field_fn field_of, sg__pair *out)
{
    /* Known fields are told apart by number; the rest by a keyset. */
    uint64_t seen = 0;
    sg__keyset ks;
    sg__path child;
    uint32_t i;
    int rc = 0;

    uint32_t repeat = pairs;

    if (pairs > HASH_PAIRS_MAX) {
        rc = first_repeat(d, *pp, end, pairs, &repeat);
        if (rc != 0)
            return rc;
    }
    sg__keyset_init(&ks, pairs);
    child.up = &sg__path_data;
    child.index = 0;
    for (i = 0; i < pairs; i++) {
        const uint8_t *val;
        sg_str key = { NULL, 0 };
        bool dup = i == repeat;
        int f;

        rc = check_key(d, pp, end, &sg__path_data, &key);
        if (rc != 0)
            break;
        f = field_of(key.ptr, key.len);
        if (pairs > HASH_PAIRS_MAX) {
            /* Found by sorting, above. */
        } else if (f < 0) {
            rc = sg__keyset_add(d, &ks, (const uint8_t *)key.ptr, key.len,
                                &dup);
            if (rc != 0)
                break;
        } else {
            dup = (seen >> f) & 1u;
            seen |= UINT64_C(1) << f;
        }
        if (dup) {
            rc = dup_fail(d, &sg__path_data, key);
            break;
        }
        val = *pp;
        child.key = key.ptr;
        child.keylen = key.len;
        rc = sg__mp_check_value(d, pp, end, 2, &child);
        if (rc != 0)
            break;
        if (out != NULL) {
            out[i].key = key.ptr;
            out[i].keylen = (uint32_t)key.len;
            out[i].field = f;
            out[i].val = val;
        }
    }
    sg__keyset_release(d, &ks);
    return rc;
}
