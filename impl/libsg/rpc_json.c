/*
 * The JSON of RPC method replies (sg/rpc.h, SPEC section 10): builders for
 * the gateway and a checker for callers and the conformance runner.
 */
#include "sg/rpc.h"

#include "error_internal.h"
#include "json_text.h"

#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#define HISTORY_LIMIT_MAX 100
#define REACTIONS_MAX_BYTES 65536u
#define REACTIONS_MAX_DEPTH 16
#define UNKNOWN_METHOD "Unknown RPC method: "

/* ---- builders ------------------------------------------------------------ */

/* Ends a built text, or rolls out back to `start` after a failure. */
static int done(sg_buf *out, size_t start, int rc)
{
    if (rc == 0)
        rc = sg__json_terminate(out);
    if (rc != 0)
        out->len = start;
    return rc;
}

int sg_rpc_build_error(sg_buf *out, const char *text, size_t len)
{
    size_t start = out->len;
    int rc;

    if (text == NULL && len > 0)
        return SG_EINVAL;
    rc = sg__json_put_raw(out, "{\"error\":");
    if (rc == 0)
        rc = sg__json_put_str(out, text, len);
    if (rc == 0)
        rc = sg__json_put_raw(out, "}");
    return done(out, start, rc);
}

int sg_rpc_build_unknown_method(sg_buf *out, const char *method,
                                size_t len)
{
    size_t start = out->len, plen = strlen(UNKNOWN_METHOD);
    sg_buf text;
    int rc;

    if (method == NULL && len > 0)
        return SG_EINVAL;
    sg_buf_init(&text, out->mem);
    rc = sg_buf_append(&text, UNKNOWN_METHOD, plen);
    if (rc == 0 && len > 0)
        rc = sg_buf_append(&text, method, len);
    if (rc == 0)
        rc = sg_rpc_build_error(out, (const char *)text.data, text.len);
    sg_buf_destroy(&text);
    if (rc != 0)
        out->len = start;
    return rc;
}

int sg_rpc_build_bool(sg_buf *out, bool value)
{
    size_t start = out->len;

    return done(out, start, sg__json_put_raw(out, value ? "true" : "false"));
}

int sg_rpc_build_webhook(sg_buf *out, bool ok, const char *error)
{
    size_t start = out->len;
    int rc;

    rc = sg__json_put_raw(out, ok ? "{\"ok\":true,\"error\":"
                                  : "{\"ok\":false,\"error\":");
    if (rc == 0)
        rc = error != NULL ? sg__json_put_str(out, error, strlen(error))
                           : sg__json_put_raw(out, "null");
    if (rc == 0)
        rc = sg__json_put_raw(out, "}");
    return done(out, start, rc);
}

static int put_member(sg_buf *out, const char *name, sg_str value)
{
    int rc = sg__json_put_raw(out, name);

    if (rc == 0)
        rc = sg__json_put_str(out, value.ptr, value.len);
    return rc;
}

static int put_history_msg(sg_buf *out, const sg_rpc_history_msg *m)
{
    int rc;

    rc = put_member(out, "{\"user_id\":", m->user_id);
    if (rc == 0)
        rc = put_member(out, ",\"user_name\":", m->user_name);
    if (rc == 0)
        rc = put_member(out, ",\"text\":", m->text);
    if (rc == 0)
        rc = sg__json_put_raw(out, ",\"timestamp\":");
    if (rc == 0)
        rc = sg__json_put_number(out, m->timestamp);
    if (rc == 0)
        rc = put_member(out, ",\"message_id\":", m->message_id);
    if (rc == 0)
        rc = sg__json_put_raw(out, m->is_bot ? ",\"is_bot\":true"
                                             : ",\"is_bot\":false");
    if (rc == 0)
        rc = m->has_reply_to_id
                 ? put_member(out, ",\"reply_to_id\":", m->reply_to_id)
                 : sg__json_put_raw(out, ",\"reply_to_id\":null");
    if (rc == 0)
        rc = sg__json_put_raw(out, ",\"reactions\":");
    if (rc == 0 && m->reactions_json != NULL) {
        cJSON *j;

        /* Copied as written, once it is known to be one JSON value. */
        if (sg__json_parse(m->reactions_json, strlen(m->reactions_json),
                           REACTIONS_MAX_BYTES, REACTIONS_MAX_DEPTH,
                           "reactions", &j, NULL) != 0)
            return SG_EINVAL;
        cJSON_Delete(j);
        rc = sg__json_put_raw(out, m->reactions_json);
    } else if (rc == 0) {
        rc = sg__json_put_raw(out, "null");
    }
    if (rc == 0)
        rc = sg__json_put_raw(out, "}");
    return rc;
}

int sg_rpc_build_history(sg_buf *out, const sg_rpc_history_msg *msgs,
                         size_t n, size_t limit)
{
    size_t start = out->len, first = 0, i;
    int rc;

    if (msgs == NULL && n > 0)
        return SG_EINVAL;
    /* Oldest first, and the newest `limit` of them. */
    if (limit > 0 && n > limit)
        first = n - limit;
    rc = sg__json_put_raw(out, "[");
    for (i = first; rc == 0 && i < n; i++) {
        if (i > first)
            rc = sg__json_put_raw(out, ",");
        if (rc == 0)
            rc = put_history_msg(out, &msgs[i]);
    }
    if (rc == 0)
        rc = sg__json_put_raw(out, "]");
    return done(out, start, rc);
}

/* ---- reading replies ----------------------------------------------------- */

const char *sg_rpc_reply_error(const struct cJSON *json)
{
    const cJSON *e;

    if (!cJSON_IsObject(json) || cJSON_GetArraySize(json) != 1)
        return NULL;
    e = cJSON_GetObjectItemCaseSensitive(json, "error");
    return cJSON_IsString(e) ? e->valuestring : NULL;
}

static int bad(sg_error *err, int reason, const char *path, const char *what)
{
    return sg__error_set(err, SG_EINVALID, reason, path, "%s", what);
}

/* Member `name` of object o: present, and of the type `is` accepts. */
static int member(const cJSON *o, const char *name, const char *prefix,
                  cJSON_bool (*is)(const cJSON *), int null_ok,
                  const char *want, sg_error *err)
{
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(o, name);
    char path[96];
    int n = snprintf(path, sizeof path, "%s.%s", prefix, name);

    if (n < 0 || (size_t)n >= sizeof path)
        path[0] = '\0';
    if (m == NULL)
        return bad(err, SG_REASON_MISSING_FIELD, path, "member is absent");
    if (is == NULL || is(m) || (null_ok && cJSON_IsNull(m)))
        return 0;
    return bad(err, SG_REASON_WRONG_TYPE, path, want);
}

static int check_history(const cJSON *json, size_t limit, sg_error *err)
{
    const cJSON *m;
    size_t i = 0;
    int rc;

    if (!cJSON_IsArray(json))
        return bad(err, SG_REASON_WRONG_TYPE, "reply",
                   "a history reply is an array");
    if (limit == 0 || limit > HISTORY_LIMIT_MAX)
        limit = HISTORY_LIMIT_MAX;
    if ((size_t)cJSON_GetArraySize(json) > limit)
        return sg__error_set(err, SG_EINVALID, SG_REASON_ARRAY_TOO_LONG,
                             "reply", "%d messages exceed the limit %zu",
                             cJSON_GetArraySize(json), limit);
    cJSON_ArrayForEach(m, json) {
        char prefix[32];
        int n = snprintf(prefix, sizeof prefix, "reply[%zu]", i++);

        if (n < 0 || (size_t)n >= sizeof prefix)
            prefix[0] = '\0';
        if (!cJSON_IsObject(m))
            return bad(err, SG_REASON_WRONG_TYPE, prefix,
                       "a history message is an object");
        if ((rc = member(m, "user_id", prefix, cJSON_IsString, 0,
                         "not a string", err)) != 0 ||
            (rc = member(m, "user_name", prefix, cJSON_IsString, 0,
                         "not a string", err)) != 0 ||
            (rc = member(m, "text", prefix, cJSON_IsString, 0,
                         "not a string", err)) != 0 ||
            (rc = member(m, "timestamp", prefix, cJSON_IsNumber, 0,
                         "not a number", err)) != 0 ||
            (rc = member(m, "message_id", prefix, cJSON_IsString, 0,
                         "not a string", err)) != 0 ||
            (rc = member(m, "is_bot", prefix, cJSON_IsBool, 0,
                         "not a bool", err)) != 0 ||
            (rc = member(m, "reply_to_id", prefix, cJSON_IsString, 1,
                         "not a string or null", err)) != 0 ||
            (rc = member(m, "reactions", prefix, NULL, 1, "", err)) != 0)
            return rc;
    }
    return 0;
}

int sg_rpc_check_reply(const char *method, const struct cJSON *json,
                       size_t limit, sg_error *err)
{
    int rc;

    if (err != NULL)
        sg_error_clear(err);
    if (method == NULL || json == NULL)
        return sg__error_set(err, SG_EINVAL, SG_REASON_NONE, NULL,
                             "no method or no reply");
    if (strcmp(method, "fetch_channel_history") != 0 &&
        strcmp(method, "should_skip_channel_heartbeat") != 0 &&
        strcmp(method, "delete_egregore_webhook") != 0 &&
        strcmp(method, "execute_tool") != 0) {
        const char *e = sg_rpc_reply_error(json);
        size_t plen = strlen(UNKNOWN_METHOD);

        if (e == NULL)
            return bad(err, SG_REASON_WRONG_TYPE, "reply",
                       "an unknown method is answered with an error "
                       "object");
        if (strncmp(e, UNKNOWN_METHOD, plen) != 0 ||
            strcmp(e + plen, method) != 0)
            return bad(err, SG_REASON_INVALID_VALUE, "reply.error",
                       "not the unknown-method error");
        return 0;
    }
    /* Any known method may fail, and says so with an error object. */
    if (sg_rpc_reply_error(json) != NULL)
        return 0;
    if (strcmp(method, "fetch_channel_history") == 0)
        return check_history(json, limit, err);
    if (strcmp(method, "should_skip_channel_heartbeat") == 0)
        return cJSON_IsBool(json)
                   ? 0
                   : bad(err, SG_REASON_WRONG_TYPE, "reply",
                         "the reply is true or false");
    if (strcmp(method, "delete_egregore_webhook") == 0) {
        if (!cJSON_IsObject(json))
            return bad(err, SG_REASON_WRONG_TYPE, "reply",
                       "a webhook reply is an object");
        if ((rc = member(json, "ok", "reply", cJSON_IsBool, 0, "not a bool",
                         err)) != 0)
            return rc;
        return member(json, "error", "reply", cJSON_IsString, 1,
                      "not a string or null", err);
    }
    return 0; /* execute_tool: the tool's result, any value */
}
