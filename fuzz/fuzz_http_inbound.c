/*
 * fuzz_http_inbound: sg-gateway's reading of a POST /messages body on the
 * `http` platform into the inbound envelope it publishes
 * (gw_http_inbound_parse(), impl/gateway/gw_http.c): the body checked by
 * cJSON, the platform's defaults spliced in as text ahead of the body's
 * own pairs, and the result read by the JSON bridge.
 *
 * sg-fuzz-links: sg_gateway_core
 *
 * Input: the request body, as the listener hands it over (a copy of its
 * exact size, NUL-terminated).
 *
 * Checks:
 * - the decode contract of sg/codec.h (harness.h): a refused body leaves
 *   no envelope and names a reason of the spec and a `data` field path;
 * - the defaults go in exactly for the keys the body lacks: platform
 *   "http", timestamp now, message_id the generated one; a key the body
 *   has keeps the body's value;
 * - a body that starts with its object and holds all three keys is read
 *   as the bridge reads it alone: the same verdict, reason and path, or
 *   an equal envelope;
 * - an accepted envelope round-trips through msgpack and JSON
 *   (harness.h), as the publish encodes it.
 * The parse and the bridge allocate with the default allocator and cJSON
 * with its own hooks; LeakSanitizer and memcheck watch those.
 */
#include "harness.h"

#include <cjson/cJSON.h>

#include "gw_http.h"

#define NOW 1732350000.25
#define GEN_ID "http-00000000000000ff"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_heap_init();
    return 0;
}

static int str_is(sg_str s, const char *c)
{
    return s.len == strlen(c) && (s.len == 0 || memcmp(s.ptr, c, s.len) == 0);
}

/* The body's own key, as cJSON reads it (NULL: absent or not JSON). */
static const cJSON *body_key(const cJSON *root, const char *name)
{
    return cJSON_IsObject(root)
               ? cJSON_GetObjectItemCaseSensitive(root, name) : NULL;
}

static void check_defaults(const sg_envelope *env, const cJSON *root)
{
    const sg_inbound *in = &env->u.in;
    const cJSON *v;

    v = body_key(root, "platform");
    if (v == NULL && !str_is(in->platform, "http"))
        fuzz_fail("no platform in the body, and not \"http\"");
    if (cJSON_IsString(v) && strlen(v->valuestring) == in->platform.len &&
        !str_is(in->platform, v->valuestring))
        fuzz_fail("the body's platform was not kept");
    v = body_key(root, "message_id");
    if (v == NULL && !str_is(in->message_id, GEN_ID))
        fuzz_fail("no message_id in the body, and not the generated one");
    if (cJSON_IsString(v) && strlen(v->valuestring) == in->message_id.len &&
        !str_is(in->message_id, v->valuestring))
        fuzz_fail("the body's message_id was not kept");
    v = body_key(root, "timestamp");
    if (v == NULL &&
        (in->timestamp < NOW - 1e-6 || in->timestamp > NOW + 1e-6))
        fuzz_fail("no timestamp in the body, and not now (%f)",
                  in->timestamp);
}

/* A body with all three keys, from its first byte: the bridge alone. */
static void check_same_as_bridge(const char *body, size_t size, int rc,
                                 const sg_envelope *env, const sg_error *err)
{
    sg_envelope *alone = NULL;
    sg_error aerr;
    int arc;

    arc = sg_envelope_from_json(SG_KIND_INBOUND, body, size, NULL, &alone,
                                &aerr);
    if (arc != rc)
        fuzz_fail("the bridge alone says %s, the platform %s",
                  sg_err_name(arc), sg_err_name(rc));
    if (rc == 0 && sg_envelope_equal(env, alone) != 1)
        fuzz_fail("the bridge alone reads another envelope");
    if (rc != 0 && (aerr.reason != err->reason ||
                    strcmp(aerr.path, err->path) != 0))
        fuzz_fail("the bridge alone refuses with %s at '%s', the platform "
                  "with %s at '%s'", sg_reason_name(aerr.reason), aerr.path,
                  sg_reason_name(err->reason), err->path);
    sg_envelope_free(alone);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_envelope *env = NULL;
    sg_error err;
    cJSON *root;
    char *body;
    int rc;

    body = malloc(size + 1);
    if (body == NULL)
        return 0;
    if (size > 0)
        memcpy(body, data, size);
    body[size] = '\0';
    root = cJSON_ParseWithLength(body, size);

    fuzz_input_begin(-1);
    rc = gw_http_inbound_parse(body, size, NOW, GEN_ID, &env, &err);
    if (fuzz_check_decode("http inbound", SG_KIND_INBOUND, rc, env, &err,
                          FUZZ_JSON)) {
        check_defaults(env, root);
        fuzz_roundtrip(env);
    }
    if (size > 0 && body[0] == '{' && body_key(root, "platform") != NULL &&
        body_key(root, "timestamp") != NULL &&
        body_key(root, "message_id") != NULL)
        check_same_as_bridge(body, size, rc, env, &err);
    sg_envelope_free(env);
    cJSON_Delete(root);
    fuzz_input_end();
    free(body);
    return 0;
}
