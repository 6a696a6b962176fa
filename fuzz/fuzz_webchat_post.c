/*
 * fuzz_webchat_post: sg-gateway's reading of a webchat POST /api/messages
 * body into the inbound envelope it publishes (gw_webchat_post_parse(),
 * impl/gateway/gw_webchat.c), then the encoding the publish makes of it.
 *
 * sg-fuzz-links: sg_gateway_core
 *
 * Input: the request body, as the listener hands it over (a copy of its
 * exact size, NUL-terminated).
 *
 * Checks:
 * - a refused body leaves no tree, and err says SG_EDECODE with one of
 *   the reasons the platform answers (invalid_json, not_map,
 *   missing_field, wrong_type), the path of the field (`data`,
 *   `data.channel_id`, `data.username`, `data.content`) and a message
 *   that starts with the field's name ("body" for `data`);
 * - the verdict is cJSON's: a JSON object whose channel_id is a
 *   non-empty string and whose username and content are strings, null
 *   or absent is accepted, anything else refused;
 * - an accepted body gives the envelope the platform documents: channel
 *   and user the body's channel_id, username and content the body's or
 *   their defaults, platform and room_name "webchat", a direct message,
 *   the timestamp and message ID given;
 * - the envelope encodes, or the encoder refuses it (SG_EINVALID) naming
 *   one of the fields the body gave; an encoding decodes to an equal
 *   envelope.
 * cJSON allocates through its own hooks; LeakSanitizer and memcheck
 * watch those. The encoding's buffers use the capped allocator.
 */
#include "harness.h"

#include <cjson/cJSON.h>

#include "gw_webchat.h"

#define NOW 1732350000.25
#define MESSAGE_ID "wcu-00000000000000ff"

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

/* A member as the platform reads it: 1 string, 0 absent or null, -1
   anything else; *s its text. */
static int oracle_member(const cJSON *o, const char *name, const char **s)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    *s = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return -1;
    *s = v->valuestring;
    return 1;
}

static void check_refused(int rc, const cJSON *root, const sg_error *err)
{
    static const struct {
        int reason;
        const char *path;
        const char *word;
    } allowed[] = {
        {SG_REASON_INVALID_JSON, "data", "body"},
        {SG_REASON_NOT_MAP, "data", "body"},
        {SG_REASON_MISSING_FIELD, "data.channel_id", "channel_id"},
        {SG_REASON_WRONG_TYPE, "data.channel_id", "channel_id"},
        {SG_REASON_WRONG_TYPE, "data.username", "username"},
        {SG_REASON_WRONG_TYPE, "data.content", "content"},
    };
    size_t i;

    if (rc != SG_EDECODE || err->code != rc)
        fuzz_fail("refused with %s (err->code %d)", sg_err_name(rc),
                  err->code);
    if (root != NULL)
        fuzz_fail("refused but left a tree");
    for (i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
        if (err->reason == allowed[i].reason &&
            strcmp(err->path, allowed[i].path) == 0)
            break;
    if (i == sizeof allowed / sizeof allowed[0])
        fuzz_fail("refused with reason %d and path '%s'", err->reason,
                  err->path);
    if (strncmp(err->msg, allowed[i].word, strlen(allowed[i].word)) != 0)
        fuzz_fail("the message '%s' does not name %s", err->msg,
                  allowed[i].word);
}

static void check_encoding(const sg_envelope *env)
{
    sg_decode_opts opts = fuzz_opts(0);
    sg_envelope *back = NULL;
    sg_error err;
    sg_buf b;
    int rc;

    sg_buf_init(&b, &fuzz_mem);
    sg_error_clear(&err);
    rc = sg_envelope_encode(env, &b, &err);
    if (rc == SG_EINVALID) {
        if (err.code != rc || sg_reason_name(err.reason) == NULL ||
            err.reason == SG_REASON_NONE ||
            !(strcmp(err.path, "data.channel_id") == 0 ||
              strcmp(err.path, "data.user_id") == 0 ||
              strcmp(err.path, "data.username") == 0 ||
              strcmp(err.path, "data.content") == 0))
            fuzz_fail("encode refused the envelope with reason %d, path "
                      "'%s': %s", err.reason, err.path, err.msg);
    } else if (rc != 0) {
        fuzz_fail("encode failed: %s: %s", sg_err_name(rc), err.msg);
    } else {
        rc = sg_envelope_decode_data(SG_KIND_INBOUND, b.data, b.len, &opts,
                                     &back, &err);
        if (rc != 0)
            fuzz_fail("the encoding does not decode: %s, path '%s': %s",
                      sg_err_name(rc), err.path, err.msg);
        if (sg_envelope_equal(env, back) != 1)
            fuzz_fail("the encoding decodes to another envelope");
    }
    sg_envelope_free(back);
    sg_buf_destroy(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *channel = NULL, *username = NULL, *content = NULL;
    cJSON *root = NULL, *oracle;
    sg_envelope env;
    sg_error err;
    char *body;
    int rc, want;

    body = malloc(size + 1);
    if (body == NULL)
        return 0;
    if (size > 0)
        memcpy(body, data, size);
    body[size] = '\0';

    oracle = cJSON_ParseWithLength(body, size);
    want = cJSON_IsObject(oracle) &&
           oracle_member(oracle, "channel_id", &channel) > 0 &&
           channel[0] != '\0' &&
           oracle_member(oracle, "username", &username) >= 0 &&
           oracle_member(oracle, "content", &content) >= 0;

    fuzz_input_begin(-1);
    rc = gw_webchat_post_parse(body, size, NOW, MESSAGE_ID, &root, &env,
                               &err);
    if (rc != 0) {
        check_refused(rc, root, &err);
        if (want)
            fuzz_fail("refused (%s) a body cJSON reads as valid",
                      err.msg);
    } else {
        const sg_inbound *in = &env.u.in;

        if (!want)
            fuzz_fail("accepted a body cJSON reads as invalid");
        if (root == NULL || env.kind != SG_KIND_INBOUND)
            fuzz_fail("accepted without a tree or an inbound envelope");
        if (!str_is(in->channel_id, channel) ||
            !str_is(in->user_id, channel))
            fuzz_fail("channel_id or user_id is not the body's channel");
        if (!str_is(in->username, username != NULL ? username : "web user")
            || !str_is(in->content, content != NULL ? content : ""))
            fuzz_fail("username or content is not the body's");
        if (!str_is(in->platform, "webchat") ||
            !str_is(in->room_name, "webchat") || !in->is_dm ||
            in->timestamp != NOW || !str_is(in->message_id, MESSAGE_ID))
            fuzz_fail("a field the platform sets is wrong");
        check_encoding(&env);
    }
    cJSON_Delete(root);
    cJSON_Delete(oracle);
    fuzz_input_end();
    free(body);
    return 0;
}
