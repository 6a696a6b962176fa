/*
 * decode_internal.h: what the decoders of the envelope kinds share.
 *
 * Decoding follows the three steps of SPEC SG-ENV-002 and the "Decoding
 * model" of protocol/vectors/README.md, each step stopping at its first
 * problem:
 *
 *   A. entry fields (decode.c);
 *   B. one front-to-back pass over the msgpack bytes (mp_check.c): the
 *      msgpack subset, depth, declared sizes against the bytes left, UTF-8
 *      and duplicate keys; it also notes where each pair of the envelope
 *      map starts;
 *   C. the field tables over the checked bytes (decode_field.c and one file
 *      per kind): types, limits, values, then missing required fields.
 *
 * Step C reads bytes that step B accepted, so it never meets a truncation,
 * a bad UTF-8 string or a duplicate key; it re-reads value headers, which
 * costs less than building a tree.
 *
 * Every function here returns 0 or a negative SG_E code (with the error
 * filled in).
 */
#ifndef SG_DECODE_INTERNAL_H
#define SG_DECODE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sg/codec.h"
#include "arena.h"
#include "error_internal.h"
#include "mp_reader.h"

/*
 * A field path as a chain of frames on the C stack, from the innermost
 * value up to the root ("data"). It is rendered to text only when an error
 * is reported, so a successful decode pays a few stores per nested value.
 */
typedef struct sg__path {
    const struct sg__path *up;
    const char *key;            /* NULL: the element `index` of an array */
    size_t keylen;
    size_t index;
} sg__path;

/* The root frame of every envelope path. */
extern const sg__path sg__path_data;

typedef struct sg__dec {
    const sg_limits *lim;
    sg_error *err;
    const sg_mem *mem;
    sg__arena *arena;           /* where decoded arrays and bytes go */
    int reject;                 /* SG_EDECODE, or SG_EINVALID for encode */
    /* Stack of hash tables of the duplicate-key sets of nested maps. */
    sg_str *scratch;
    size_t scratch_cap;
    size_t scratch_top;
} sg__dec;

void sg__dec_init(sg__dec *d, const sg_limits *lim, const sg_mem *mem,
                  sg__arena *arena, int reject, sg_error *err);
void sg__dec_destroy(sg__dec *d);

/*
 * Reports a rejection at `path`, extended by key[0..keylen) when key is
 * not NULL, and returns d->reject.
 */
int sg__dec_fail(sg__dec *d, int reason, const sg__path *path,
                 const char *key, size_t keylen, const char *fmt, ...)
    SG__PRINTF(6, 7);

/* Reports SG_ENOMEM and returns it. */
int sg__dec_nomem(sg__dec *d);

/* Writes the text of a path into buf (always NUL-terminated). */
void sg__path_render(const sg__path *path, const char *key, size_t keylen,
                     char *buf, size_t size);

/*
 * The keys met so far in one map, to find a duplicate (SG-MP-003). The
 * first eight live here; past that, a hash table sized for the map's pair
 * count is taken from the context's scratch stack.
 */
typedef struct sg__keyset {
    sg_str small[8];
    uint32_t n;
    uint32_t pairs;
    uint32_t mask;              /* table size - 1; 0 while small */
    size_t base;                /* table's index in the scratch stack */
} sg__keyset;

void sg__keyset_init(sg__keyset *ks, uint32_t pairs);

/* Adds a key; *dup is set when it was there already. 0 or SG_ENOMEM. */
int sg__keyset_add(sg__dec *d, sg__keyset *ks, const uint8_t *key,
                   size_t len, bool *dup);

/* Gives back the keyset's scratch; keysets are released in LIFO order. */
void sg__keyset_release(sg__dec *d, sg__keyset *ks);

/* --- step B: the msgpack pass (mp_check.c) ------------------------------ */

/* One pair of the envelope map, as step B found it. */
typedef struct sg__pair {
    const char *key;
    uint32_t keylen;
    int field;                  /* the kind's field number, or -1 */
    const uint8_t *val;         /* the value's first byte */
} sg__pair;

/* The field number a key names in a kind's table, -1 for none. */
typedef int (*sg__field_fn)(const char *key, size_t len);

/*
 * Checks one value at *pp at `depth` (counted for containers only) and
 * moves *pp past it.
 */
int sg__mp_check_value(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                       uint32_t depth, const sg__path *path);

/*
 * Steps over one value checking only that its headers read and its counts
 * fit; true when they do. Allocates nothing, does not recurse.
 */
bool sg__mp_skip(const uint8_t **pp, const uint8_t *end);

/*
 * Checks the `pairs` pairs of the envelope map (*pp past its header),
 * finding duplicates by field number for the keys field_of knows. When
 * out is not NULL, out[i] receives pair i.
 */
int sg__mp_check_pairs(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                       uint32_t pairs, sg__field_fn field_of, sg__pair *out);

/*
 * Steps B and C at once on one *any* value at *pp at `depth`, with every
 * str within strmax: true when it passes both (and *pp is moved past it);
 * false for any problem, and also for what this quick check leaves to the
 * exact reading (maps of more than 16 pairs). Used by the fast paths.
 */
bool sg__fast_any(const sg_limits *lim, const uint8_t **pp,
                  const uint8_t *end, uint32_t depth, size_t strmax);

/* --- step C: field tables (decode_field.c) ------------------------------ */

#define SG__NONEMPTY 1u         /* an empty string is invalid_value */

/* Each reads one checked value at *pp; nil means "absent" (*present). */
int sg__get_str(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                const sg__path *path, size_t max, unsigned flags,
                sg_str *out, bool *present);
int sg__get_bool(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                 const sg__path *path, bool *out, bool *present);
int sg__get_int(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                const sg__path *path, int64_t min, int64_t max,
                int64_t *out, bool *present);
int sg__get_float(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                  const sg__path *path, double *out, bool *present);
int sg__get_bytes(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                  const sg__path *path, sg_bytes *out, bool *present);
int sg__get_strv(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                 const sg__path *path, sg_strv *out);
/*
 * An *any* (maps_only false) or *map* field, kept as its raw bytes. strmax
 * bounds every str inside it (map keys excepted: max_string_bytes).
 */
int sg__get_any(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                const sg__path *path, bool maps_only, size_t strmax,
                sg_any *out);
/* An array of attachment maps, at most `max` long. */
int sg__get_attachments(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                        const sg__path *path, uint32_t max,
                        const sg_attachment **out, size_t *n);
/*
 * A `buttons` field: an array of 1 .. max_buttons button maps (label
 * required and non-empty, id and url str, other keys any). *out is the
 * array's bytes and *n its length; nil leaves them empty.
 */
int sg__get_buttons(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                    const sg__path *path, sg_any *out, size_t *n);
/* The generic checks of an *any* value (limits, out_of_range). */
int sg__check_any(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                  const sg__path *path, size_t strmax);
/* `schema_version`: absent, nil or 1 (SG-ENV-003, SG-ENV-007). */
int sg__get_version(sg__dec *d, const uint8_t *val, const uint8_t *end);
/* A key of a checked map: string_too_long at the map's path. */
int sg__get_key(sg__dec *d, const uint8_t **pp, const uint8_t *end,
                const sg__path *map_path, sg_str *key);

/* Field lookups and step-C readers of the envelope map, per kind. */
int sg__inbound_field(const char *key, size_t len);
int sg__outbound_field(const char *key, size_t len);
int sg__tools_request_field(const char *key, size_t len);
int sg__tools_reply_field(const char *key, size_t len);
int sg__decode_inbound(sg__dec *d, const sg__pair *pairs, uint32_t n,
                       const uint8_t *end, sg_envelope *env);
/*
 * The one-pass reading of a valid inbound envelope (data[0..len) as p to
 * end): 0 when it is valid and decoded, 1 when the exact reading must
 * decide (anything wrong or unusual), or SG_ENOMEM.
 */
int sg__decode_inbound_fast(sg__dec *d, const uint8_t *p, const uint8_t *end,
                            sg_envelope *env);
int sg__decode_outbound(sg__dec *d, const sg__pair *pairs, uint32_t n,
                        const uint8_t *end, sg_envelope *env);
/* The same for outbound envelopes. */
int sg__decode_outbound_fast(sg__dec *d, const uint8_t *p,
                             const uint8_t *end, sg_envelope *env);
int sg__decode_tools_request(sg__dec *d, const sg__pair *pairs, uint32_t n,
                             const uint8_t *end, sg_envelope *env);
int sg__decode_tools_reply(sg__dec *d, const sg__pair *pairs, uint32_t n,
                           const uint8_t *end, sg_envelope *env);

/* Flags of sg__decode_data. */
#define SG__DECODE_COPY  1u     /* copy the bytes into the envelope first */
#define SG__DECODE_EXACT 2u     /* no fast path: the three steps only */

/*
 * Decodes data[0..len) into a new envelope, as sg_envelope_decode_data()
 * does with flags 0. SG__DECODE_EXACT exists for tests that hold the fast
 * path to the exact reading.
 */
int sg__decode_data(sg_kind kind, const uint8_t *data, size_t len,
                    const sg_decode_opts *opts, unsigned flags,
                    sg_envelope **out, sg_error *err);

/* The limits of SPEC section 5. */
extern const sg_limits sg__limits_default;

/* Checks limits given by a caller; 0 or SG_EINVAL. */
int sg__limits_check(const sg_limits *lim, sg_error *err);

/*
 * Checks one sg_any span as a field value (steps B and C, with `path`),
 * for the encoder. *is_nil is set when the span is a lone nil.
 */
int sg__check_span(sg__dec *d, sg_any v, const sg__path *path,
                   bool maps_only, size_t strmax, bool *is_nil);

#endif /* SG_DECODE_INTERNAL_H */
