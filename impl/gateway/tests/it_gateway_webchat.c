/*
 * sg-gateway's webchat platform, in-process against a real redis-server:
 * the page and its element ids, POST /api/messages published on the
 * inbound stream and decodable by libsg (SG-INENV-001, SG-INENV-002,
 * SG-TOPO-004, SG-OUT-017), outbound envelopes delivered as events on
 * /api/events by type (SG-OUT-007) with the platform message ID written
 * back (SG-OUT-013), a send for a channel nobody watches recorded and
 * replayed later, the RPCs (SG-RPC-002, SG-RPC-004, SG-RPC-005,
 * SG-RPC-006, SG-RPC-007) answered from the channel record, /healthz and
 * /metrics, and a graceful stop (SG-IN-017, SG-OUT-018) in the teardown,
 * which memcheck checks for leaks.
 */
#define _POSIX_C_SOURCE 200809L

#include <unistd.h>

#include "gwt.h"

static int setup(void **state)
{
    static gwt w;

    if (gwt_open(&w) != 0)
        return -1;
    gwt_setenv(&w, "SG_PLATFORMS", "webchat");
    if (gwt_start_gateway(&w) != 0)
        return -1;
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    gwt_close(*state);
    return 0;
}

static int port(gwt *w)
{
    return gw_platform_port(w->g, GW_WEBCHAT);
}

/* The gateway group exists on the webchat outbound stream (SG-TOPO-004). */
static void test_gateway_provisions_its_group(void **state)
{
    gwt *w = *state;
    redisReply *r = redisCommand(w->sync, "XINFO GROUPS %s",
                                 "sg:stream:outbound:webchat");

    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    freeReplyObject(r);
    /* SG-TOPO-006: no worker group. */
    r = redisCommand(w->sync, "EXISTS sg:stream:inbound");
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
}

static void test_webchat_page_has_the_stable_ids(void **state)
{
    gwt *w = *state;
    gwt_http h;
    char url[128];

    gwt_url(url, sizeof url, port(w), "/");
    gwt_request(w, &h, "GET", url, NULL);
    assert_int_equal(h.status, 200);
    assert_non_null(strstr(h.body, "id=\"message-input\""));
    assert_non_null(strstr(h.body, "id=\"send-button\""));
    assert_non_null(strstr(h.body, "id=\"messages\""));
    assert_non_null(strstr(h.body, "id=\"typing\""));
    /* Self-contained: nothing fetched from elsewhere. */
    assert_null(strstr(h.body, "src=\"http"));
    assert_null(strstr(h.body, "href=\"http"));
}

static void test_webchat_post_publishes_inbound(void **state)
{
    gwt *w = *state;
    gwt_http h;
    char url[128];
    sg_envelope *env;
    redisReply *r;
    const cJSON *id, *mid;

    gwt_url(url, sizeof url, port(w), "/api/messages");
    gwt_request(w, &h, "POST", url,
                "{\"channel_id\":\"web-a\",\"username\":\"ann\","
                "\"content\":\"hello bot\"}");
    assert_int_equal(h.status, 202);
    id = cJSON_GetObjectItem(h.json, "entry_id");
    mid = cJSON_GetObjectItem(h.json, "message_id");
    assert_true(cJSON_IsString(id) && cJSON_IsString(mid));
    r = gwt_read_inbound(w, id->valuestring, &env);
    assert_true(gwt_str_eq(env->u.in.platform, "webchat"));
    assert_true(gwt_str_eq(env->u.in.channel_id, "web-a"));
    assert_true(gwt_str_eq(env->u.in.username, "ann"));
    assert_true(gwt_str_eq(env->u.in.content, "hello bot"));
    assert_true(gwt_str_eq(env->u.in.message_id, mid->valuestring));
    assert_true(env->u.in.is_addressed);
    assert_true(env->u.in.timestamp > 0);
    sg_envelope_free(env);
    freeReplyObject(r);
    cJSON_Delete(h.json);
}

static void test_webchat_post_invalid_is_400_naming_the_field(void **state)
{
    gwt *w = *state;
    gwt_http h;
    char url[128];

    gwt_url(url, sizeof url, port(w), "/api/messages");
    gwt_request(w, &h, "POST", url, "{\"content\":\"x\"}");
    assert_int_equal(h.status, 400);
    assert_string_equal(cJSON_GetObjectItem(h.json, "path")->valuestring,
                        "data.channel_id");
    assert_string_equal(cJSON_GetObjectItem(h.json, "reason")->valuestring,
                        "missing_field");
    cJSON_Delete(h.json);
    gwt_request(w, &h, "POST", url, "{\"channel_id\":\"c\",\"content\":7}");
    assert_int_equal(h.status, 400);
    assert_string_equal(cJSON_GetObjectItem(h.json, "path")->valuestring,
                        "data.content");
    cJSON_Delete(h.json);
    gwt_request(w, &h, "POST", url, "{");
    assert_int_equal(h.status, 400);
    assert_string_equal(cJSON_GetObjectItem(h.json, "reason")->valuestring,
                        "invalid_json");
    cJSON_Delete(h.json);
}

static void test_webchat_outbound_types_reach_the_event_stream(void **state)
{
    gwt *w = *state;
    gwt_sse s;
    sg_envelope env;
    char id[64], mid[64];
    static const uint8_t buttons[] = {
        0x92, 0x81, 0xa5, 'l', 'a', 'b', 'e', 'l', 0xa3, 'Y', 'e', 's',
        0x81, 0xa5, 'l', 'a', 'b', 'e', 'l', 0xa2, 'N', 'o',
    };
    static const uint8_t bytes[] = { 1, 2, 3, 4, 5 };

    gwt_sse_open(w, &s, port(w), "web-b", NULL);
    gwt_sse_wait(w, &s, "retry:");

    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_START_TYPING;
    env.u.out.has_channel_id = true;
    env.u.out.channel_id = SG_STR("web-b");
    gwt_publish_out(w, "webchat", &env, NULL, 0);
    gwt_sse_wait(w, &s, "event: typing\ndata: {\"state\":\"start\"}");

    gwt_message(&env, "web-b", "hi there", "mk:web-b:1");
    gwt_publish_out(w, "webchat", &env, id, sizeof id);
    gwt_sse_wait(w, &s, "event: message\ndata: {\"text\":\"hi there\"");
    /* SG-OUT-013: the platform's message ID written back. */
    gwt_hget(w, "mk:web-b:1", "message_id", mid, sizeof mid);
    assert_true(strncmp(mid, "wc-", 3) == 0);
    assert_non_null(strstr(s.buf, mid));

    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_REACTION;
    env.u.out.has_channel_id = true;
    env.u.out.channel_id = SG_STR("web-b");
    env.u.out.message_id.ptr = mid;
    env.u.out.message_id.len = strlen(mid);
    env.u.out.emoji = SG_STR("\xf0\x9f\x91\x8d");
    gwt_publish_out(w, "webchat", &env, NULL, 0);
    gwt_sse_wait(w, &s, "event: reaction\ndata: {\"message_id\":");

    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_FILE;
    env.u.out.has_channel_id = true;
    env.u.out.channel_id = SG_STR("web-b");
    env.u.out.file_data.ptr = bytes;
    env.u.out.file_data.len = sizeof bytes;
    env.u.out.filename = SG_STR("a.bin");
    env.u.out.text = SG_STR("the file");
    gwt_publish_out(w, "webchat", &env, NULL, 0);
    gwt_sse_wait(w, &s, "event: file\ndata: {\"filename\":\"a.bin\","
                 "\"mimetype\":\"application/octet-stream\",\"size\":5,"
                 "\"text\":\"the file\"");

    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_BUTTONS;
    env.u.out.has_channel_id = true;
    env.u.out.channel_id = SG_STR("web-b");
    env.u.out.text = SG_STR("pick");
    env.u.out.buttons.mp = buttons;
    env.u.out.buttons.len = sizeof buttons;
    gwt_publish_out(w, "webchat", &env, NULL, 0);
    gwt_sse_wait(w, &s, "event: buttons\ndata: {\"text\":\"pick\",\"buttons\":"
                 "[{\"label\":\"Yes\"},{\"label\":\"No\"}]");

    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_STOP_TYPING;
    env.u.out.has_channel_id = true;
    env.u.out.channel_id = SG_STR("web-b");
    gwt_publish_out(w, "webchat", &env, NULL, 0);
    gwt_sse_wait(w, &s, "{\"state\":\"stop\"}");

    /* Another channel's sends never reach this stream. */
    gwt_message(&env, "web-other", "not for b", NULL);
    gwt_publish_out(w, "webchat", &env, NULL, 0);
    gwt_message(&env, "web-b", "last", NULL);
    gwt_publish_out(w, "webchat", &env, NULL, 0);
    gwt_sse_wait(w, &s, "\"text\":\"last\"");
    assert_null(strstr(s.buf, "not for b"));
    gwt_sse_close(&s);
}

static void test_webchat_send_without_client_is_replayed(void **state)
{
    gwt *w = *state;
    gwt_sse s;
    sg_envelope env;
    char mid[64], last[32];
    const char *p;

    gwt_message(&env, "web-late", "you were away", "mk:web-late:1");
    gwt_publish_out(w, "webchat", &env, NULL, 0);
    /* Succeeded with nobody watching: acknowledged and written back. */
    while (mid[0] = '\0', gwt_hget(w, "mk:web-late:1", "message_id", mid,
                                   sizeof mid), mid[0] == '\0')
        sgt_loop_for(w->base, 10);
    assert_int_equal(gwt_pending(w, "sg:stream:outbound:webchat",
                                 "sg:gateway:webchat"), 0);
    gwt_sse_open(w, &s, port(w), "web-late", NULL);
    gwt_sse_wait(w, &s, "\nevent: message\ndata: {\"text\":"
                 "\"you were away\"");
    p = strstr(s.buf, "id: ");
    assert_non_null(p);
    snprintf(last, sizeof last, "%.*s", (int)strcspn(p + 4, "\n"), p + 4);
    gwt_sse_close(&s);
    /* A reconnect after the last event seen replays nothing old. */
    gwt_sse_open(w, &s, port(w), "web-late", last);
    gwt_sse_wait(w, &s, "retry:");
    sgt_loop_for(w->base, 50);
    assert_null(strstr(s.buf, "you were away"));
    gwt_sse_close(&s);
}

static void test_rpc_fetch_channel_history_from_the_record(void **state)
{
    gwt *w = *state;
    static const uint8_t limit2[] = { 0x81, 0xa5, 'l', 'i', 'm', 'i', 't',
                                      0x02 };
    gwt_http h;
    gwt_rpc r;
    char url[128];
    sg_envelope env;
    sg_error err;
    const cJSON *a;

    gwt_url(url, sizeof url, port(w), "/api/messages");
    gwt_request(w, &h, "POST", url, "{\"channel_id\":\"web-h\","
                "\"username\":\"ann\",\"content\":\"one\"}");
    assert_int_equal(h.status, 202);
    cJSON_Delete(h.json);
    gwt_request(w, &h, "POST", url, "{\"channel_id\":\"web-h\","
                "\"username\":\"ann\",\"content\":\"two\"}");
    cJSON_Delete(h.json);
    gwt_message(&env, "web-h", "three", "mk:web-h");
    gwt_publish_out(w, "webchat", &env, NULL, 0);

    /* The reply comes after the send: both go through the same stream. */
    gwt_call(w, &r, "webchat", "fetch_channel_history", "web-h", limit2,
             sizeof limit2);
    assert_int_equal(sg_rpc_check_reply("fetch_channel_history", r.json, 2,
                                        &err), 0);          /* SG-RPC-005 */
    assert_int_equal(cJSON_GetArraySize(r.json), 2);
    a = cJSON_GetArrayItem(r.json, 0);                  /* oldest first */
    assert_string_equal(cJSON_GetObjectItem(a, "text")->valuestring, "two");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(a, "is_bot")));
    assert_string_equal(cJSON_GetObjectItem(a, "user_name")->valuestring,
                        "ann");
    a = cJSON_GetArrayItem(r.json, 1);
    assert_string_equal(cJSON_GetObjectItem(a, "text")->valuestring,
                        "three");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(a, "is_bot")));
    cJSON_Delete(r.json);

    /* Default limit 10: all three. */
    gwt_call(w, &r, "webchat", "fetch_channel_history", "web-h", NULL, 0);
    assert_int_equal(cJSON_GetArraySize(r.json), 3);
    cJSON_Delete(r.json);
    /* A channel never seen: an empty array. */
    gwt_call(w, &r, "webchat", "fetch_channel_history", "web-none", NULL, 0);
    assert_true(cJSON_IsArray(r.json));
    assert_int_equal(cJSON_GetArraySize(r.json), 0);
    cJSON_Delete(r.json);
}

static void test_rpc_bad_arguments_and_other_methods(void **state)
{
    gwt *w = *state;
    static const uint8_t limit500[] = { 0x81, 0xa5, 'l', 'i', 'm', 'i', 't',
                                        0xcd, 0x01, 0xf4 };
    static const uint8_t limit_str[] = { 0x81, 0xa5, 'l', 'i', 'm', 'i', 't',
                                         0xa1, '5' };
    gwt_rpc r;
    sg_error err;

    /* SG-RPC-004: a bad argument is answered with an error object. */
    gwt_call(w, &r, "webchat", "fetch_channel_history", "web-h", limit500,
             sizeof limit500);
    assert_non_null(sg_rpc_reply_error(r.json));
    assert_non_null(strstr(sg_rpc_reply_error(r.json), "limit"));
    cJSON_Delete(r.json);
    gwt_call(w, &r, "webchat", "fetch_channel_history", "web-h", limit_str,
             sizeof limit_str);
    assert_non_null(sg_rpc_reply_error(r.json));
    cJSON_Delete(r.json);
    gwt_call(w, &r, "webchat", "fetch_channel_history", NULL, NULL, 0);
    assert_non_null(strstr(sg_rpc_reply_error(r.json), "channel_id"));
    cJSON_Delete(r.json);

    /* SG-RPC-006 */
    gwt_call(w, &r, "webchat", "should_skip_channel_heartbeat", "web-h",
             NULL, 0);
    assert_true(cJSON_IsFalse(r.json));
    cJSON_Delete(r.json);

    /* SG-RPC-004: an unknown method, exactly. */
    gwt_call(w, &r, "webchat", "make_coffee", "web-h", NULL, 0);
    assert_string_equal(r.text, "{\"error\":\"Unknown RPC method: "
                                "make_coffee\"}");
    assert_int_equal(sg_rpc_check_reply("make_coffee", r.json, 0, &err), 0);
    cJSON_Delete(r.json);

    /* SG-RPC-007 */
    gwt_call(w, &r, "webchat", "delete_egregore_webhook", NULL, NULL, 0);
    assert_int_equal(sg_rpc_check_reply("delete_egregore_webhook", r.json, 0,
                                        &err), 0);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(r.json, "ok")));
    cJSON_Delete(r.json);
    gwt_call(w, &r, "webchat", "execute_tool", NULL, NULL, 0);
    assert_non_null(sg_rpc_reply_error(r.json));
    cJSON_Delete(r.json);
}

/* At most 64 event streams at once; the next one is refused with 503. */
static void test_webchat_event_streams_are_bounded(void **state)
{
    gwt *w = *state;
    gwt_sse *s = calloc(65, sizeof *s);
    int i;

    assert_non_null(s);
    for (i = 0; i < 64; i++) {
        gwt_sse_open(w, &s[i], port(w), "web-many", NULL);
        gwt_sse_wait(w, &s[i], "retry:");
    }
    gwt_sse_open(w, &s[64], port(w), "web-many", NULL);
    gwt_sse_wait(w, &s[64], "HTTP/1.1 503");
    gwt_sse_wait(w, &s[64], "too many event streams");
    for (i = 0; i < 65; i++)
        gwt_sse_close(&s[i]);
    free(s);
}

static int metric_at_least(gwt *w, const char *line, long want)
{
    gwt_http h;
    char url[128];
    const char *p;

    gwt_url(url, sizeof url, gw_metrics_port(w->g), "/metrics");
    gwt_request(w, &h, "GET", url, NULL);
    p = strstr(h.body, line);
    return p != NULL && strtol(p + strlen(line), NULL, 10) >= want;
}

/*
 * A browser that stops reading: once more than 256 KiB wait for it, its
 * stream is closed; a new stream gets the newest messages replayed, no
 * more than half that bound.
 */
static void test_webchat_slow_stream_is_closed(void **state)
{
    gwt *w = *state;
    struct sockaddr_in sin;
    char req[256], *text;
    sg_envelope env;
    gwt_sse s;
    int fd, small = 2048, i;
    long long end;

    fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    /* A small receive window, so the backlog builds up in the gateway. */
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port(w));
    sin.sin_addr.s_addr = htonl(0x7f000001);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    snprintf(req, sizeof req, "GET /api/events?channel_id=web-slow "
             "HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_true(write(fd, req, strlen(req)) == (ssize_t)strlen(req));
    text = malloc(60001);
    assert_non_null(text);
    end = sgt_now_ms() + GWT_WAIT_MS;
    for (i = 0; !metric_at_least(w, "sg_gateway_sse_dropped_total{platform="
                                    "\"webchat\"} ", 1); i++) {
        if (sgt_now_ms() > end)
            fail_msg("the stream was never closed after %d messages", i);
        memset(text, 'a' + i % 26, 60000);
        text[60000] = '\0';
        gwt_message(&env, "web-slow", text, NULL);
        gwt_publish_out(w, "webchat", &env, NULL, 0);
        sgt_loop_for(w->base, 20);
    }
    close(fd);
    free(text);
    /* A new stream: the newest message replayed, the oldest not. */
    gwt_sse_open(w, &s, port(w), "web-slow", NULL);
    gwt_sse_wait(w, &s, "retry:");
    memset(req, 'a' + (i - 1) % 26, 64);
    req[64] = '\0';
    gwt_sse_wait(w, &s, req);
    /* Two 60 KB messages fit in half the bound; a third does not. */
    assert_true(i >= 3);
    memset(req, 'a' + (i - 3) % 26, 64);
    assert_null(strstr(s.buf, req));
    gwt_sse_close(&s);
}

static void test_healthz_and_metrics(void **state)
{
    gwt *w = *state;
    gwt_http h;
    char url[128];

    gwt_url(url, sizeof url, gw_metrics_port(w->g), "/healthz");
    gwt_request(w, &h, "GET", url, NULL);
    assert_int_equal(h.status, 200);
    assert_string_equal(h.body, "ok");
    gwt_url(url, sizeof url, port(w), "/healthz");   /* webchat listener */
    gwt_request(w, &h, "GET", url, NULL);
    assert_int_equal(h.status, 200);

    gwt_url(url, sizeof url, gw_metrics_port(w->g), "/metrics");
    gwt_request(w, &h, "GET", url, NULL);
    assert_int_equal(h.status, 200);
    assert_non_null(strstr(h.body, "# TYPE sg_gateway_inbound_published_total"
                                   " counter\n"));
    assert_null(strstr(h.body, "sg_gateway_inbound_published_total{platform="
                               "\"webchat\"} 0\n"));
    assert_non_null(strstr(h.body, "sg_gateway_outbound_sent_total{platform="
                                   "\"webchat\",op=\"send\"}"));
    assert_non_null(strstr(h.body, "sg_gateway_rpc_answered_total{platform="
                                   "\"webchat\"}"));
    assert_non_null(strstr(h.body, "sg_gateway_dead_lettered_total{platform="
                                   "\"webchat\"} 0\n"));
    assert_non_null(strstr(h.body, "sg_gateway_sse_clients{platform="
                                   "\"webchat\"}"));
    assert_non_null(strstr(h.body, "sg_gateway_redis_up 1\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gateway_provisions_its_group),
        cmocka_unit_test(test_webchat_page_has_the_stable_ids),
        cmocka_unit_test(test_webchat_post_publishes_inbound),
        cmocka_unit_test(test_webchat_post_invalid_is_400_naming_the_field),
        cmocka_unit_test(test_webchat_outbound_types_reach_the_event_stream),
        cmocka_unit_test(test_webchat_send_without_client_is_replayed),
        cmocka_unit_test(test_rpc_fetch_channel_history_from_the_record),
        cmocka_unit_test(test_rpc_bad_arguments_and_other_methods),
        cmocka_unit_test(test_webchat_event_streams_are_bounded),
        cmocka_unit_test(test_webchat_slow_stream_is_closed),
        cmocka_unit_test(test_healthz_and_metrics),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
