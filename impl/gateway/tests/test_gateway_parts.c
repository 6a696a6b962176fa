/*
 * Unit tests of sg-gateway's pieces: SSE framing, JSON strings, the
 * configuration (SG-CFG-004, SG-TOPO-001), the bounded channel record
 * behind fetch_channel_history (SG-RPC-005), and the http platform's
 * inbound validation by the codec, with reason and path (SG-INENV-001,
 * SG-INENV-002, SG-INENV-004, SG-ENV-001).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "sg/codec.h"
#include "sg/error.h"
#include "sg/json.h"

#include "gw_config.h"
#include "gw_http.h"
#include "gw_record.h"
#include "gw_text.h"

/* ---- SSE and JSON text -------------------------------------------------- */

static void expect_frame(const char *event, uint64_t id, const char *data,
                         const char *want)
{
    sg_buf b;

    sg_buf_init(&b, NULL);
    assert_int_equal(gw_sse_frame(&b, event, id, data, strlen(data)), 0);
    assert_int_equal(gw_buf_nul(&b), 0);
    assert_string_equal((char *)b.data, want);
    sg_buf_destroy(&b);
}

static void test_gw_sse_frame_one_line(void **state)
{
    (void)state;
    expect_frame("message", 0, "{\"text\":\"hi\"}",
                 "event: message\ndata: {\"text\":\"hi\"}\n\n");
    expect_frame("message", 7, "x", "id: 7\nevent: message\ndata: x\n\n");
    expect_frame("typing", 0, "", "event: typing\ndata: \n\n");
}

static void test_gw_sse_frame_splits_every_line_break(void **state)
{
    (void)state;
    expect_frame("m", 0, "a\nb\r\nc\rd",
                 "event: m\ndata: a\ndata: b\ndata: c\ndata: d\n\n");
    /* A trailing break is an empty last line, never a frame end. */
    expect_frame("m", 0, "a\n", "event: m\ndata: a\ndata: \n\n");
    expect_frame("m", 0, "\n\n", "event: m\ndata: \ndata: \ndata: \n\n");
}

static void test_gw_json_str_escapes(void **state)
{
    sg_buf b;
    const char in[] = "q\"b\\n\n\t\x01\xc3\xa9";
    cJSON *j;

    (void)state;
    sg_buf_init(&b, NULL);
    assert_int_equal(gw_json_str(&b, in, sizeof in - 1), 0);
    assert_int_equal(gw_buf_nul(&b), 0);
    assert_string_equal((char *)b.data,
                        "\"q\\\"b\\\\n\\n\\t\\u0001\xc3\xa9\"");
    j = cJSON_Parse((char *)b.data);
    assert_non_null(j);
    assert_string_equal(j->valuestring, in);
    cJSON_Delete(j);
    sg_buf_reset(&b);
    assert_int_equal(gw_json_cstr(&b, NULL), 0);
    assert_int_equal(b.len, 4);
    sg_buf_destroy(&b);
}

/* ---- configuration ------------------------------------------------------ */

typedef struct kv {
    const char *k, *v;
} kv;

static const char *lookup(const char *name, void *ud)
{
    const kv *e;

    for (e = ud; e->k != NULL; e++)
        if (strcmp(e->k, name) == 0)
            return e->v;
    return NULL;
}

static void test_gw_config_defaults(void **state)
{
    kv env[] = { { NULL, NULL } };
    gw_config c;
    char err[256];

    (void)state;
    assert_int_equal(gw_config_from_lookup(&c, lookup, env, "sg-gateway",
                                           err, sizeof err), 0);
    assert_string_equal(c.redis_host, "127.0.0.1");  /* redis://...:6379/0 */
    assert_int_equal(c.redis_port, 6379);
    assert_int_equal(c.nplatforms, 1);
    assert_int_equal(c.platforms[0], GW_WEBCHAT);
    assert_string_equal(c.webchat.host, "127.0.0.1");
    assert_int_equal(c.webchat.port, 8080);
    assert_false(c.metrics.off);
    assert_int_equal(c.metrics.port, 0);
    assert_int_equal(c.http_timeout_ms, 5000);
    assert_string_equal(c.topo.inbound_stream, "sg:stream:inbound");
    assert_int_equal(c.knobs.drain_ms, 30000);
    assert_non_null(strstr(c.instance_id, "sg-gateway-"));
}

static void test_gw_config_reads_every_variable(void **state)
{
    kv env[] = {
        { "REDIS_URL", "redis://10.0.0.2:7000" },
        { "SG_PLATFORMS", " http , console,webchat" },
        { "SG_INSTANCE_ID", "gw-1" },
        { "SG_METRICS_LISTEN", "off" },
        { "SG_WEBCHAT_LISTEN", "0.0.0.0:0" },
        { "SG_HTTP_PLATFORM_WEBHOOK", "http://127.0.0.1:9/hook" },
        { "SG_HTTP_PLATFORM_LISTEN", "[::1]:8081" },
        { "SG_HTTP_PLATFORM_TIMEOUT_MS", "250" },
        { "SG_INBOUND_STREAM", "x:in" },                 /* SG-TOPO-001 */
        { "SG_DRAIN_MS", "100" },
        { NULL, NULL },
    };
    gw_config c;
    char err[256];

    (void)state;
    assert_int_equal(gw_config_from_lookup(&c, lookup, env, "p", err,
                                           sizeof err), 0);
    assert_string_equal(c.redis_host, "10.0.0.2");
    assert_int_equal(c.redis_port, 7000);
    assert_int_equal(c.nplatforms, 3);
    assert_int_equal(c.platforms[0], GW_HTTP);
    assert_int_equal(c.platforms[1], GW_CONSOLE);
    assert_int_equal(c.platforms[2], GW_WEBCHAT);
    assert_string_equal(c.instance_id, "gw-1");
    assert_true(c.metrics.off);
    assert_string_equal(c.http.host, "::1");
    assert_int_equal(c.http.port, 8081);
    assert_int_equal(c.http_timeout_ms, 250);
    assert_string_equal(c.http_webhook, "http://127.0.0.1:9/hook");
    assert_string_equal(c.topo.inbound_stream, "x:in");
    assert_int_equal(c.knobs.drain_ms, 100);
}

/* Every refusal names the variable (exit 2 in main). */
static void expect_refused(const char *k, const char *v, const char *k2,
                           const char *v2, const char *needle)
{
    kv env[] = { { k, v }, { k2, v2 }, { NULL, NULL } };
    gw_config c;
    char err[256];

    if (k2 == NULL)
        env[1].k = NULL;
    err[0] = '\0';
    assert_int_equal(gw_config_from_lookup(&c, lookup, env, "p", err,
                                           sizeof err), -1);
    if (strstr(err, needle) == NULL)
        fail_msg("'%s' does not name '%s'", err, needle);
}

static void test_gw_config_refuses_bad_values(void **state)
{
    (void)state;
    expect_refused("SG_PLATFORMS", "webchat,slack", NULL, NULL,
                   "SG_PLATFORMS: unknown platform 'slack'");
    expect_refused("SG_PLATFORMS", "http,http", "SG_HTTP_PLATFORM_WEBHOOK",
                   "http://x/", "named twice");
    expect_refused("SG_PLATFORMS", "http", NULL, NULL,
                   "SG_HTTP_PLATFORM_WEBHOOK: required");
    expect_refused("SG_HTTP_PLATFORM_WEBHOOK", "ftp://x/", NULL, NULL,
                   "SG_HTTP_PLATFORM_WEBHOOK");
    expect_refused("SG_WEBCHAT_LISTEN", "8080", NULL, NULL,
                   "SG_WEBCHAT_LISTEN");
    expect_refused("SG_METRICS_LISTEN", "127.0.0.1:70000", NULL, NULL,
                   "SG_METRICS_LISTEN");
    expect_refused("SG_HTTP_PLATFORM_TIMEOUT_MS", "0", NULL, NULL,
                   "SG_HTTP_PLATFORM_TIMEOUT_MS");
    expect_refused("REDIS_URL", "redis://h:1/3", NULL, NULL, "REDIS_URL");
    expect_refused("SG_BLOCK_MS", "-5", NULL, NULL, "SG_BLOCK_MS");
}

static void test_gw_parse_listen_forms(void **state)
{
    gw_listen l;

    (void)state;
    assert_int_equal(gw_parse_listen("localhost:0", 0, &l), 0);
    assert_string_equal(l.host, "localhost");
    assert_int_equal(gw_parse_listen("off", 0, &l), -1);
    assert_int_equal(gw_parse_listen("off", 1, &l), 0);
    assert_true(l.off);
    assert_int_equal(gw_parse_listen(":80", 0, &l), -1);
    assert_int_equal(gw_parse_listen("h:", 0, &l), -1);
    assert_int_equal(gw_parse_listen("h:8x", 0, &l), -1);
    assert_int_equal(gw_parse_listen("::1:80", 0, &l), -1);
}

/* ---- the channel record ------------------------------------------------- */

static void add_text(gw_record *r, const char *ch, const char *text,
                     const char *id)
{
    gw_rec_in in;

    memset(&in, 0, sizeof in);
    in.text = text;
    in.text_len = strlen(text);
    in.message_id = id;
    in.message_id_len = strlen(id);
    in.user_id = "u";
    in.user_id_len = 1;
    assert_non_null(gw_record_add(r, ch, strlen(ch), &in));
}

static void test_gw_record_keeps_the_last_100_per_channel(void **state)
{
    gw_record *r = gw_record_new(NULL);
    const gw_rec_msg *out[100];
    char t[16];
    size_t n;
    int i;

    (void)state;
    for (i = 0; i < 150; i++) {
        snprintf(t, sizeof t, "m%d", i);
        add_text(r, "c", t, t);
    }
    add_text(r, "other", "x", "x");
    assert_int_equal(gw_record_count(r, "c", 1), 100);
    n = gw_record_list(r, "c", 1, 0, out, 100);
    assert_int_equal(n, 100);
    assert_string_equal(out[0]->text, "m50");     /* oldest first */
    assert_string_equal(out[99]->text, "m149");
    assert_int_equal(out[99]->seq, 150);
    /* The last `limit` only (SG-RPC-005: at most limit long). */
    n = gw_record_list(r, "c", 1, 0, out, 3);
    assert_int_equal(n, 3);
    assert_string_equal(out[0]->text, "m147");
    /* After a seq: what a reconnecting event stream missed. */
    n = gw_record_list(r, "c", 1, 148, out, 100);
    assert_int_equal(n, 2);
    assert_string_equal(out[0]->text, "m148");
    assert_int_equal(gw_record_list(r, "none", 4, 0, out, 100), 0);
    gw_record_free(r);
}

static void test_gw_record_drops_the_least_recent_channel(void **state)
{
    gw_record_limits lim = { 3, 10, 0, 0 };
    gw_record *r = gw_record_new(&lim);

    (void)state;
    add_text(r, "a", "1", "1");
    add_text(r, "b", "1", "1");
    add_text(r, "c", "1", "1");
    assert_int_equal(gw_record_count(r, "a", 1), 1); /* a is used now */
    add_text(r, "d", "1", "1");                      /* b goes */
    assert_int_equal(gw_record_channels(r), 3);
    assert_int_equal(gw_record_count(r, "b", 1), 0);
    assert_int_equal(gw_record_count(r, "a", 1), 1);
    assert_int_equal(gw_record_count(r, "d", 1), 1);
    gw_record_free(r);
}

static void test_gw_record_bounds_bytes_and_text(void **state)
{
    gw_record_limits lim = { 4, 100, 1000, 8 };
    gw_record *r = gw_record_new(&lim);
    const gw_rec_msg *out[100];
    char big[600];
    int i;

    (void)state;
    /* "ééééé" is 10 bytes: cut at 8 bytes is 4 whole characters. */
    add_text(r, "c", "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9", "e");
    assert_int_equal(gw_record_list(r, "c", 1, 0, out, 1), 1);
    assert_string_equal(out[0]->text, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9");
    assert_int_equal(gw_utf8_cut("ab\xc3\xa9", 4, 3), 2);
    /* Each message costs more than 128 bytes: 1000 bytes hold few. */
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (i = 0; i < 20; i++)
        add_text(r, "c", big, "id");
    assert_true(gw_record_count(r, "c", 1) <= 1000 / 128);
    assert_true(gw_record_count(r, "c", 1) >= 1);
    gw_record_free(r);
}

static void test_gw_record_react(void **state)
{
    gw_record *r = gw_record_new(NULL);
    const gw_rec_msg *out[1];
    int i;

    (void)state;
    add_text(r, "c", "hello", "m-1");
    assert_int_equal(gw_record_react(r, "c", 1, "m-1", 3, "+1", 2), 1);
    assert_int_equal(gw_record_react(r, "c", 1, "m-2", 3, "+1", 2), 0);
    assert_int_equal(gw_record_react(r, "x", 1, "m-1", 3, "+1", 2), 0);
    for (i = 0; i < 40; i++)        /* bounded per message */
        assert_int_equal(gw_record_react(r, "c", 1, "m-1", 3, "ok", 2), 1);
    assert_int_equal(gw_record_list(r, "c", 1, 0, out, 1), 1);
    assert_int_equal(out[0]->nreactions, GW_REC_MAX_REACTIONS);
    assert_string_equal(out[0]->reactions[0], "+1");
    gw_record_free(r);
}

/* ---- the http platform's inbound validation ----------------------------- */

static sg_envelope *parse_ok(const char *body)
{
    sg_envelope *env = NULL;
    sg_error err;
    int rc = gw_http_inbound_parse(body, strlen(body), 1700000000.5,
                                   "http-gen", &env, &err);

    if (rc != 0)
        fail_msg("%s: %s at %s", body, err.msg, err.path);
    return env;
}

static void expect_rejected(const char *body, const char *reason,
                            const char *path)
{
    sg_envelope *env = NULL;
    sg_error err;

    assert_int_equal(gw_http_inbound_parse(body, strlen(body), 1.0, "g",
                                           &env, &err), SG_EDECODE);
    assert_null(env);
    assert_string_equal(sg_reason_name(err.reason), reason);
    assert_string_equal(err.path, path);
    assert_true(err.msg[0] != '\0');
}

static void test_gw_http_inbound_parse_applies_defaults(void **state)
{
    sg_envelope *env;
    const sg_inbound *in;

    (void)state;
    env = parse_ok(" {\"channel_id\":\"c1\",\"content\":\"hi\"}");
    in = &env->u.in;
    assert_int_equal(in->platform.len, 4);
    assert_memory_equal(in->platform.ptr, "http", 4);
    assert_memory_equal(in->message_id.ptr, "http-gen", 8);
    assert_true(in->timestamp > 1700000000.0);
    assert_true(in->is_addressed);                  /* SG-INENV-002 */
    sg_envelope_free(env);

    /* Given values win over the defaults. */
    env = parse_ok("{\"platform\":\"p\",\"channel_id\":\"c\",\"timestamp\":"
                   "5.0,\"message_id\":\"m\",\"is_addressed\":false}");
    in = &env->u.in;
    assert_memory_equal(in->platform.ptr, "p", 1);
    assert_memory_equal(in->message_id.ptr, "m", 1);
    assert_true(in->timestamp == 5.0);
    assert_false(in->is_addressed);
    sg_envelope_free(env);

    /* An *any* value reaches the envelope exactly (no double rounding). */
    env = parse_ok("{\"channel_id\":\"c\",\"embeds\":[9007199254740993]}");
    assert_true(env->u.in.embeds.len > 0);
    sg_envelope_free(env);
}

static void test_gw_http_inbound_parse_rejects_with_reason_and_path(
    void **state)
{
    (void)state;
    expect_rejected("not json", "invalid_json", "data");
    expect_rejected("[1]", "not_map", "data");
    expect_rejected("{}", "missing_field", "data.channel_id");
    expect_rejected("{\"content\":\"x\"}", "missing_field",
                    "data.channel_id");
    expect_rejected("{\"channel_id\":5}", "wrong_type", "data.channel_id");
    expect_rejected("{\"channel_id\":\"\"}", "invalid_value",
                    "data.channel_id");
    expect_rejected("{\"channel_id\":\"c\",\"attachments\":[1]}",
                    "wrong_type", "data.attachments[0]"); /* SG-INENV-004 */
    expect_rejected("{\"channel_id\":\"c\",\"member_count\":-1}",
                    "out_of_range", "data.member_count");
    expect_rejected("{\"channel_id\":\"c\",\"platform\":\"\"}",
                    "invalid_value", "data.platform");
}

static void test_gw_http_call_body_shape(void **state)
{
    sg_envelope env;
    sg_buf b;
    cJSON *j, *e;

    (void)state;
    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_MESSAGE;
    env.u.out.has_channel_id = true;
    env.u.out.channel_id = SG_STR("c\"1");
    env.u.out.text = SG_STR("hi");
    sg_buf_init(&b, NULL);
    assert_int_equal(gw_http_call_body(&b, "send", "gw-1", "1-0", &env), 0);
    j = cJSON_ParseWithLength((char *)b.data, b.len);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "op")->valuestring, "send");
    assert_string_equal(cJSON_GetObjectItem(j, "platform")->valuestring,
                        "http");
    assert_string_equal(cJSON_GetObjectItem(j, "consumer")->valuestring,
                        "gw-1");
    assert_string_equal(cJSON_GetObjectItem(j, "entry_id")->valuestring,
                        "1-0");
    e = cJSON_GetObjectItem(j, "envelope");
    assert_string_equal(cJSON_GetObjectItem(e, "type")->valuestring,
                        "message");
    assert_string_equal(cJSON_GetObjectItem(e, "channel_id")->valuestring,
                        "c\"1");
    assert_string_equal(cJSON_GetObjectItem(e, "text")->valuestring, "hi");
    cJSON_Delete(j);
    sg_buf_destroy(&b);
}

/* What cJSON makes of a body: the reference the fast path must match. */
static void message_id_by_cjson(const char *body, size_t len, char *out,
                                size_t cap)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *mid = cJSON_GetObjectItemCaseSensitive(root, "message_id");

    out[0] = '\0';
    if (cJSON_IsString(mid) && strlen(mid->valuestring) < cap)
        snprintf(out, cap, "%s", mid->valuestring);
    else if (cJSON_IsNumber(mid))
        snprintf(out, cap, "%.0f", mid->valuedouble);
    cJSON_Delete(root);
}

static void expect_message_id(const char *body, size_t cap, const char *want)
{
    char got[64], ref[64];

    assert_true(cap <= sizeof got);
    gw_http_response_message_id(body, strlen(body), got, cap);
    message_id_by_cjson(body, strlen(body), ref, cap);
    if (strcmp(got, ref) != 0 || strcmp(got, want) != 0)
        fail_msg("%s: got '%s', cJSON '%s', want '%s'", body, got, ref,
                 want);
}

/* SG-OUT-013: the platform's message ID, read as cJSON reads it. */
static void test_gw_http_response_message_id(void **state)
{
    (void)state;
    expect_message_id("{\"ok\":true,\"message_id\":\"mock-1\"}", 64,
                      "mock-1");
    expect_message_id(" {\n\t\"message_id\" : \"p-7\" , \"n\": -1.5e+3 }\r\n",
                      64, "p-7");
    expect_message_id("{\"a\":null,\"b\":false,\"c\":0,\"message_id\":\"x\"}",
                      64, "x");
    expect_message_id("{}", 64, "");
    expect_message_id("{\"ok\":true}", 64, "");
    expect_message_id("", 64, "");
    expect_message_id("not json", 64, "");
    expect_message_id("[\"message_id\"]", 64, "");
    /* The first of two, as cJSON's lookup does. */
    expect_message_id("{\"message_id\":\"one\",\"message_id\":\"two\"}", 64,
                      "one");
    expect_message_id("{\"message_id\":\"one\",\"message_id\":2}", 64, "one");
    /* A number: its decimal text; null: none. */
    expect_message_id("{\"message_id\":42}", 64, "42");
    expect_message_id("{\"message_id\":null}", 64, "");
    /* Escapes, nesting, odd numbers and text after the object: cJSON. */
    expect_message_id("{\"message_id\":\"a\\\"b\"}", 64, "a\"b");
    expect_message_id("{\"message_id\":\"\\u0041\"}", 64, "A");
    expect_message_id("{\"x\":{\"message_id\":\"in\"},\"message_id\":\"out\"}",
                      64, "out");
    expect_message_id("{\"x\":[1,2],\"message_id\":\"y\"}", 64, "y");
    expect_message_id("{\"n\":01,\"message_id\":\"z\"}", 64, "z");
    expect_message_id("{\"n\":1.,\"message_id\":\"z\"}", 64, "z");
    expect_message_id("{\"message_id\":\"t\"} trailing", 64, "t");
    expect_message_id("{\"message_id\":\"t\",}", 64, "");
    expect_message_id("{\"message_id\":\"t\"", 64, "");
    expect_message_id("{\"message_\\u0069d\":\"esc\"}", 64, "esc");
    /* Too long for the caller's buffer: none. */
    expect_message_id("{\"message_id\":\"0123456789\"}", 10, "");
    expect_message_id("{\"message_id\":\"012345678\"}", 10, "012345678");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gw_sse_frame_one_line),
        cmocka_unit_test(test_gw_sse_frame_splits_every_line_break),
        cmocka_unit_test(test_gw_json_str_escapes),
        cmocka_unit_test(test_gw_config_defaults),
        cmocka_unit_test(test_gw_config_reads_every_variable),
        cmocka_unit_test(test_gw_config_refuses_bad_values),
        cmocka_unit_test(test_gw_parse_listen_forms),
        cmocka_unit_test(test_gw_record_keeps_the_last_100_per_channel),
        cmocka_unit_test(test_gw_record_drops_the_least_recent_channel),
        cmocka_unit_test(test_gw_record_bounds_bytes_and_text),
        cmocka_unit_test(test_gw_record_react),
        cmocka_unit_test(test_gw_http_inbound_parse_applies_defaults),
        cmocka_unit_test(
            test_gw_http_inbound_parse_rejects_with_reason_and_path),
        cmocka_unit_test(test_gw_http_call_body_shape),
        cmocka_unit_test(test_gw_http_response_message_id),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
