/*
 * fuzz_rpc_history_args: sg-gateway's reading of a fetch_channel_history
 * request's arguments (gw_rpc_history_args(), impl/gateway/gw_core.c):
 * the outbound envelope's rpc_args rendered by the JSON bridge and read
 * back by cJSON, then its limit and channel_id checked. The envelope comes
 * from an outbound stream that any process may write to.
 *
 * sg-fuzz-links: sg_gateway_core
 *
 * Input: a mode byte, then the outbound envelope: mode bit 0 set, its
 * `data` bytes (msgpack, as read from the stream); clear, its JSON form
 * (sg_envelope_from_json, which reaches odd rpc_args faster). Inputs the
 * codec refuses end there (fuzz_outbound and fuzz_json fuzz that part).
 *
 * Checks:
 * - the bridge's JSON form of an accepted envelope is text cJSON reads,
 *   so the gateway sees the rpc_args the envelope holds;
 * - accepted arguments: a limit from 1 to 100, rpc_args' limit when it
 *   gives one, else 10; a non-empty channel, the envelope's channel_id
 *   when it has one, else rpc_args' channel_id;
 * - refused arguments: no tree left, and a message naming the field
 *   (rpc_args.limit or channel_id); refused exactly when the limit is not
 *   such an integer or there is no channel.
 * The bridge and cJSON allocate with the default allocator and cJSON's
 * hooks; LeakSanitizer and memcheck watch those. The codec's decode uses
 * the capped allocator.
 */
#include "harness.h"

#include <cjson/cJSON.h>

#include "gw_rpc.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_heap_init();
    return 0;
}

/* rpc_args as the gateway should see them: the bridge's JSON, by cJSON. */
static cJSON *expected_args(const sg_envelope *env)
{
    cJSON *root, *args;
    sg_error err;
    sg_buf b;
    int rc;

    sg_buf_init(&b, NULL);
    rc = sg_envelope_to_json(env, &b, &err);
    if (rc != 0)
        fuzz_fail("to_json of an accepted envelope: %s: %s",
                  sg_err_name(rc), err.msg);
    root = cJSON_ParseWithLength((const char *)b.data, b.len);
    if (root == NULL)
        fuzz_fail("cJSON cannot read the bridge's JSON: %s",
                  (const char *)b.data);
    sg_buf_destroy(&b);
    args = cJSON_DetachItemFromObjectCaseSensitive(root, "rpc_args");
    cJSON_Delete(root);
    return args;
}

static void check_args(const sg_envelope *env)
{
    const sg_outbound *req = &env->u.out;
    cJSON *args = NULL, *want = expected_args(env);
    const cJSON *lim = cJSON_GetObjectItemCaseSensitive(want, "limit");
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(want, "channel_id");
    const char *channel = NULL, *error = NULL;
    int limit = 0, good_limit, own, rc;
    size_t chlen = 0;
    double v = cJSON_IsNumber(lim) ? lim->valuedouble : 0;

    good_limit = lim == NULL ||
                 (cJSON_IsNumber(lim) && v >= 1 && v <= 100 && v == (int)v);
    own = req->has_channel_id && req->channel_id.len > 0;
    rc = gw_rpc_history_args(env, req, &args, &limit, &channel, &chlen,
                             &error);
    if (rc == 0) {
        if (!good_limit)
            fuzz_fail("accepted a limit that is no integer from 1 to 100");
        if (limit != (lim != NULL ? (int)v : 10))
            fuzz_fail("limit %d, rpc_args say otherwise", limit);
        if (channel == NULL || chlen == 0)
            fuzz_fail("accepted without a channel");
        if (own ? channel != req->channel_id.ptr ||
                      chlen != req->channel_id.len
                : !cJSON_IsString(ch) || chlen != strlen(ch->valuestring) ||
                      memcmp(channel, ch->valuestring, chlen) != 0)
            fuzz_fail("the channel is not the request's");
    } else if (rc == -1) {
        if (args != NULL || error == NULL)
            fuzz_fail("refused with a tree left or no message");
        if (good_limit && (own || (cJSON_IsString(ch) &&
                                   ch->valuestring[0] != '\0')))
            fuzz_fail("refused good arguments: %s", error);
        if (strstr(error, good_limit ? "channel_id" : "rpc_args.limit") ==
            NULL)
            fuzz_fail("the message names the wrong field: %s", error);
    } else {
        fuzz_fail("gw_rpc_history_args returned %d", rc);
    }
    cJSON_Delete(args);
    cJSON_Delete(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sg_decode_opts opts = fuzz_opts(0);
    sg_envelope *env = NULL;
    sg_error err;
    int rc;

    if (size < 1)
        return 0;
    fuzz_input_begin(-1);
    if (data[0] & 1)
        rc = sg_envelope_decode_data(SG_KIND_OUTBOUND, data + 1, size - 1,
                                     &opts, &env, &err);
    else
        rc = sg_envelope_from_json(SG_KIND_OUTBOUND, (const char *)data + 1,
                                   size - 1, &opts, &env, &err);
    if (fuzz_check_decode("outbound", SG_KIND_OUTBOUND, rc, env, &err,
                          FUZZ_JSON))
        check_args(env);
    sg_envelope_free(env);
    fuzz_input_end();
    return 0;
}
