/*
 * decode_tools.c: step C for the tools request and tools reply (SPEC
 * section 11).
 */
#include <string.h>

#include "decode_internal.h"

enum {
    R_SCHEMA_VERSION, R_REQUEST_ID, R_TOOL_NAME, R_TOOL_ARGS, R_TOOL_CTX,
    R_REPLY_STREAM, R_DEADLINE_MS,
    P_OK, P_RESULT, P_ERROR, P_MEDIA,
    F_UNKNOWN = -1
};

#define IS(lit) (n == sizeof(lit) - 1 && memcmp(k, lit, n) == 0)

int
sg__tools_request_field(const char *k, size_t n)
{
    if (IS("request_id"))
        return R_REQUEST_ID;
    if (IS("tool_name"))
        return R_TOOL_NAME;
    if (IS("tool_args"))
        return R_TOOL_ARGS;
    if (IS("tool_ctx"))
        return R_TOOL_CTX;
    if (IS("reply_stream"))
        return R_REPLY_STREAM;
    if (IS("deadline_ms"))
        return R_DEADLINE_MS;
    if (IS("schema_version"))
        return R_SCHEMA_VERSION;
    return F_UNKNOWN;
}

int
sg__tools_reply_field(const char *k, size_t n)
{
    if (IS("request_id"))
        return R_REQUEST_ID;
    if (IS("ok"))
        return P_OK;
    if (IS("result"))
        return P_RESULT;
    if (IS("error"))
        return P_ERROR;
    if (IS("media"))
        return P_MEDIA;
    if (IS("schema_version"))
        return R_SCHEMA_VERSION;
    return F_UNKNOWN;
}

#undef IS

static int
missing(sg__dec *d, const char *field)
{
    return sg__dec_fail(d, SG_REASON_MISSING_FIELD, &sg__path_data, field,
                        strlen(field), "required field is absent");
}

/* Reads field f's value at *pp; sets *present for a non-nil value. */
typedef int (*field_fn)(sg__dec *d, int f, const uint8_t **pp,
                        const uint8_t *end, const sg__path *path,
                        sg_envelope *env, bool *present);

/*
 * The pairs in reading order, `schema_version` excepted (read before);
 * returns the bit set of the fields present and not nil in *have.
 */
static int
read_pairs(sg__dec *d, const sg__pair *pairs, uint32_t n, const uint8_t *end,
           sg_envelope *env, field_fn field, uint32_t *have)
{
    const size_t smax = d->lim->max_string_bytes;
    sg__path child;
    uint32_t i;
    int rc;

    child.up = &sg__path_data;
    child.index = 0;
    for (i = 0; i < n; i++) {
        const uint8_t *p = pairs[i].val;
        bool present = false;
        int f = pairs[i].field;

        if (f == R_SCHEMA_VERSION)
            continue;
        child.key = pairs[i].key;
        child.keylen = pairs[i].keylen;
        if (f == F_UNKNOWN) {
            if (pairs[i].keylen > smax)
                return sg__dec_fail(d, SG_REASON_STRING_TOO_LONG,
                                    &sg__path_data, NULL, 0,
                                    "map key of %u bytes exceeds "
                                    "max_string_bytes %zu",
                                    pairs[i].keylen, smax);
            rc = sg__check_any(d, &p, end, &child, smax);
        } else {
            rc = field(d, f, &p, end, &child, env, &present);
        }
        if (rc != 0)
            return rc;
        if (present)
            *have |= 1u << f;
    }
    return 0;
}

static int
request_value(sg__dec *d, int f, const uint8_t **pp, const uint8_t *end,
              const sg__path *path, sg_envelope *env, bool *present)
{
    const size_t smax = d->lim->max_string_bytes;
    sg_tools_request *r = &env->u.treq;

    switch (f) {
    case R_REQUEST_ID:
        return sg__get_str(d, pp, end, path, smax, SG__NONEMPTY,
                           &r->request_id, present);
    case R_TOOL_NAME:
        return sg__get_str(d, pp, end, path, smax, SG__NONEMPTY,
                           &r->tool_name, present);
    case R_TOOL_ARGS:
        return sg__get_any(d, pp, end, path, true, smax, &r->tool_args);
    case R_TOOL_CTX:
        return sg__get_any(d, pp, end, path, true, smax, &r->tool_ctx);
    case R_REPLY_STREAM:
        return sg__get_str(d, pp, end, path, smax, SG__NONEMPTY,
                           &r->reply_stream, present);
    case R_DEADLINE_MS:
    default:
        return sg__get_int(d, pp, end, path, INT64_MIN, INT64_MAX,
                           &r->deadline_ms, present);
    }
}

int
sg__decode_tools_request(sg__dec *d, const sg__pair *pairs, uint32_t n,
                         const uint8_t *end, sg_envelope *env)
{
    uint32_t have = 0;
    int rc = read_pairs(d, pairs, n, end, env, request_value, &have);

    if (rc != 0)
        return rc;
    if (!(have & (1u << R_REQUEST_ID)))
        return missing(d, "request_id");
    if (!(have & (1u << R_TOOL_NAME)))
        return missing(d, "tool_name");
    if (!(have & (1u << R_REPLY_STREAM)))
        return missing(d, "reply_stream");
    return 0;
}

static int
reply_value(sg__dec *d, int f, const uint8_t **pp, const uint8_t *end,
            const sg__path *path, sg_envelope *env, bool *present)
{
    sg_tools_reply *r = &env->u.trep;

    switch (f) {
    case R_REQUEST_ID:
        return sg__get_str(d, pp, end, path, d->lim->max_string_bytes,
                           SG__NONEMPTY, &r->request_id, present);
    case P_OK:
        return sg__get_bool(d, pp, end, path, &r->ok, present);
    case P_RESULT:
        /* Strings anywhere in a result are text (SPEC section 5). */
        return sg__get_any(d, pp, end, path, false, d->lim->max_text_bytes,
                           &r->result);
    case P_ERROR:
        return sg__get_str(d, pp, end, path, d->lim->max_text_bytes, 0,
                           &r->error, present);
    case P_MEDIA:
    default:
        return sg__get_attachments(d, pp, end, path, UINT32_MAX, &r->media,
                                   &r->nmedia);
    }
}

int
sg__decode_tools_reply(sg__dec *d, const sg__pair *pairs, uint32_t n,
                       const uint8_t *end, sg_envelope *env)
{
    uint32_t have = 0;
    int rc = read_pairs(d, pairs, n, end, env, reply_value, &have);

    if (rc != 0)
        return rc;
    if (!(have & (1u << R_REQUEST_ID)))
        return missing(d, "request_id");
    if (!(have & (1u << P_OK)))
        return missing(d, "ok");
    return 0;
}
