/*
 * sg-gateway's http platform, in-process against a real redis-server and
 * the mock chat platform (sg-mock-platform, started as a child process;
 * its path is the first argument):
 *
 *   - every outbound type is POSTed to the webhook with its op, platform,
 *     consumer, entry ID and the envelope as the JSON bridge renders it
 *     (SG-OUT-007), and the platform's message_id is written back to the
 *     message_key hash (SG-OUT-013, SG-OUT-014);
 *   - a platform answering 500 fails the send: the claim key is released,
 *     the entry is retried by autoclaim and dead-lettered as
 *     dispatch_failed at SG_MAX_DELIVERIES (SG-OUT-012, SG-DLQ-001,
 *     SG-DLQ-004, SG-OUT-015); so is a platform that does not answer
 *     within SG_HTTP_PLATFORM_TIMEOUT_MS;
 *   - POST /messages publishes an inbound entry libsg decodes, with the
 *     platform's defaults (SG-INENV-001, SG-INENV-002); invalid input is
 *     400 with the codec's reason and path (SG-ENV-001, SG-INENV-004);
 *     Redis away is 503;
 *   - fetch_channel_history answers from the record of inbound and sent
 *     messages (SG-RPC-002, SG-RPC-005);
 *   - /metrics counts every Redis command the process sent
 *     (sg_redis_commands_sent_total: at least what the consumer and the
 *     publishes sent, moving with the work) and the webhook's
 *     connections, reused across calls (keep-alive).
 */
#define _POSIX_C_SOURCE 200809L

#include "gwt.h"
#include "mock_child.h"

static const char *mock_exe;

typedef struct world {
    gwt w;
    mock_child mock;
    char webhook[128];
} world;

static int setup(void **state)
{
    static world x;

    memset(&x, 0, sizeof x);
    if (mock_exe == NULL || mock_child_init(&x.mock) != 0 ||
        mock_child_start(&x.mock, mock_exe, NULL) != 0)
        return -1;
    snprintf(x.webhook, sizeof x.webhook, "http://127.0.0.1:%u/platform",
             x.mock.port);
    if (gwt_open(&x.w) != 0)
        return -1;
    gwt_setenv(&x.w, "SG_PLATFORMS", "http");
    gwt_setenv(&x.w, "SG_HTTP_PLATFORM_WEBHOOK", x.webhook);
    gwt_setenv(&x.w, "SG_HTTP_PLATFORM_TIMEOUT_MS", "3000");
    gwt_setenv(&x.w, "SG_MAX_DELIVERIES", "2");
    gwt_setenv(&x.w, "SG_AUTOCLAIM_INTERVAL_MS", "100");
    gwt_setenv(&x.w, "SG_AUTOCLAIM_MIN_IDLE_MS", "400");
    if (gwt_start_gateway(&x.w) != 0)
        return -1;
    *state = &x;
    return 0;
}

static int teardown(void **state)
{
    world *x = *state;

    gwt_close(&x->w);
    mock_child_stop(&x->mock);
    return 0;
}

/* The mock's recorded calls matching query (e.g. "channel_id=h-1"). */
static cJSON *calls(world *x, const char *query)
{
    gwt_http h;
    char url[256];
    cJSON *c;

    snprintf(url, sizeof url, "http://127.0.0.1:%u/_mock/calls?%s",
             x->mock.port, query);
    gwt_request(&x->w, &h, "GET", url, NULL);
    assert_int_equal(h.status, 200);
    c = cJSON_DetachItemFromObject(h.json, "calls");
    cJSON_Delete(h.json);
    assert_true(cJSON_IsArray(c));
    return c;
}

/* Waits until the mock recorded at least n calls matching query. */
static cJSON *wait_calls(world *x, const char *query, int n)
{
    long long end = sgt_now_ms() + GWT_WAIT_MS;
    cJSON *c;

    for (;;) {
        c = calls(x, query);
        if (cJSON_GetArraySize(c) >= n)
            return c;
        cJSON_Delete(c);
        if (sgt_now_ms() > end)
            fail_msg("fewer than %d calls for %s", n, query);
        sgt_loop_for(x->w.base, 20);
    }
}

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
    const cJSON *v = cJSON_GetObjectItem(o, a);

    if (b != NULL)
        v = cJSON_GetObjectItem(v, b);
    return cJSON_IsString(v) ? v->valuestring : "";
}

static void wait_hget(gwt *w, const char *key, char *out, size_t cap)
{
    long long end = sgt_now_ms() + GWT_WAIT_MS;

    for (;;) {
        gwt_hget(w, key, "message_id", out, cap);
        if (out[0] != '\0')
            return;
        if (sgt_now_ms() > end)
            fail_msg("no message_id in %s", key);
        sgt_loop_for(w->base, 10);
    }
}

static void test_http_send_reaches_the_platform(void **state)
{
    world *x = *state;
    gwt *w = &x->w;
    sg_envelope env;
    char id[64], mid[64], want[64];
    cJSON *c;
    const cJSON *call, *body;

    gwt_message(&env, "h-1", "hello platform", "mk:h-1");
    gwt_publish_out(w, "http", &env, id, sizeof id);
    c = wait_calls(x, "channel_id=h-1", 1);
    call = cJSON_GetArrayItem(c, 0);
    body = cJSON_GetObjectItem(call, "body");
    assert_string_equal(str_at(body, "op", NULL), "send");
    assert_string_equal(str_at(body, "platform", NULL), "http");
    assert_string_equal(str_at(body, "consumer", NULL), "gateway-test");
    assert_string_equal(str_at(body, "entry_id", NULL), id);
    assert_string_equal(str_at(body, "envelope", "type"), "message");
    assert_string_equal(str_at(body, "envelope", "channel_id"), "h-1");
    assert_string_equal(str_at(body, "envelope", "text"), "hello platform");
    assert_string_equal(str_at(body, "envelope", "message_key"), "mk:h-1");
    /* SG-OUT-013: the mock answered message_id mock-<seq>. */
    snprintf(want, sizeof want, "mock-%d",
             (int)cJSON_GetObjectItem(call, "seq")->valuedouble);
    cJSON_Delete(c);
    wait_hget(w, "mk:h-1", mid, sizeof mid);
    assert_string_equal(mid, want);
    assert_int_equal(gwt_pending(w, "sg:stream:outbound:http",
                                 "sg:gateway:http"), 0);
}

static void test_http_every_op(void **state)
{
    world *x = *state;
    gwt *w = &x->w;
    static const uint8_t buttons[] = { 0x91, 0x81, 0xa5, 'l', 'a', 'b', 'e',
                                       'l', 0xa2, 'O', 'K' };
    static const uint8_t bytes[] = { 'a', 'b', 'c' };
    static const char *const ops[] = { "send_file", "send_buttons",
                                       "start_typing", "stop_typing",
                                       "add_reaction" };
    sg_envelope env;
    cJSON *c;
    int i;

    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_FILE;
    env.u.out.has_channel_id = true;
    env.u.out.channel_id = SG_STR("h-2");
    env.u.out.file_data.ptr = bytes;
    env.u.out.file_data.len = sizeof bytes;
    env.u.out.filename = SG_STR("abc.txt");
    env.u.out.mimetype = SG_STR("text/plain");
    gwt_publish_out(w, "http", &env, NULL, 0);
    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_BUTTONS;
    env.u.out.has_channel_id = true;
    env.u.out.channel_id = SG_STR("h-2");
    env.u.out.text = SG_STR("choose");
    env.u.out.buttons.mp = buttons;
    env.u.out.buttons.len = sizeof buttons;
    gwt_publish_out(w, "http", &env, NULL, 0);
    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_TYPING;           /* synonym of start_typing */
    env.u.out.has_channel_id = true;
    env.u.out.channel_id = SG_STR("h-2");
    gwt_publish_out(w, "http", &env, NULL, 0);
    env.u.out.type = SG_OUT_STOP_TYPING;
    gwt_publish_out(w, "http", &env, NULL, 0);
    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_REACTION;
    env.u.out.has_channel_id = true;
    env.u.out.channel_id = SG_STR("h-2");
    env.u.out.message_id = SG_STR("m-9");
    env.u.out.emoji = SG_STR("ok");
    gwt_publish_out(w, "http", &env, NULL, 0);
    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_PRESENCE;         /* no channel (SG-OUT-005) */
    env.u.out.text = SG_STR("online");
    gwt_publish_out(w, "http", &env, NULL, 0);

    /* One channel's sends arrive in stream order (SG-OUT-004). */
    c = wait_calls(x, "channel_id=h-2", 5);
    for (i = 0; i < 5; i++)
        assert_string_equal(str_at(cJSON_GetArrayItem(c, i), "body", "op"),
                            ops[i]);
    assert_string_equal(str_at(cJSON_GetObjectItem(cJSON_GetArrayItem(c, 0),
                                                   "body"),
                               "envelope", "file_data"), "YWJj");
    assert_string_equal(str_at(cJSON_GetObjectItem(cJSON_GetArrayItem(c, 4),
                                                   "body"),
                               "envelope", "emoji"), "ok");
    cJSON_Delete(c);
    c = wait_calls(x, "op=set_presence", 1);
    assert_string_equal(str_at(cJSON_GetObjectItem(cJSON_GetArrayItem(c, 0),
                                                   "body"),
                               "envelope", "text"), "online");
    cJSON_Delete(c);
}

static int dlq_has_one(void *arg)
{
    gwt *w = arg;
    redisReply *r = redisCommand(w->sync, "XLEN sg:stream:dlq");
    int ok = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer >= 1;

    freeReplyObject(r);
    return ok;
}

static const char *field(const redisReply *fields, const char *name)
{
    size_t i;

    for (i = 0; i + 1 < fields->elements; i += 2)
        if (strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1]->str;
    return NULL;
}

static void test_http_failed_send_is_retried_then_dead_lettered(void **state)
{
    world *x = *state;
    gwt *w = &x->w;
    gwt_http h;
    sg_envelope env;
    char url[128], id[64], mid[64];
    redisReply *r, *fields;
    cJSON *c;

    snprintf(url, sizeof url, "http://127.0.0.1:%u/_mock/fail",
             x->mock.port);
    gwt_request(w, &h, "POST", url, "{\"channel_id\":\"h-fail\","
                "\"status\":500}");
    assert_int_equal(h.status / 100, 2);
    cJSON_Delete(h.json);

    gwt_message(&env, "h-fail", "will not arrive", "mk:h-fail");
    gwt_publish_out(w, "http", &env, id, sizeof id);
    GWT_WAIT(dlq_has_one, w);
    r = redisCommand(w->sync, "XRANGE sg:stream:dlq - +");
    assert_int_equal(r->elements, 1);
    fields = r->element[0]->element[1];
    assert_string_equal(field(fields, "dlq_reason"), "dispatch_failed");
    assert_string_equal(field(fields, "dlq_origin_stream"),
                        "sg:stream:outbound:http");
    assert_string_equal(field(fields, "dlq_origin_group"), "sg:gateway:http");
    assert_string_equal(field(fields, "dlq_origin_id"), id);
    assert_string_equal(field(fields, "dlq_attempts"), "2");
    assert_non_null(strstr(field(fields, "dlq_error"), "500"));
    assert_non_null(field(fields, "data"));          /* SG-DLQ-001 */
    freeReplyObject(r);

    /* Two deliveries, two platform calls; nothing marked sent. */
    c = calls(x, "channel_id=h-fail");
    assert_int_equal(cJSON_GetArraySize(c), 2);
    cJSON_Delete(c);
    gwt_hget(w, "mk:h-fail", "message_id", mid, sizeof mid);
    assert_string_equal(mid, "");
    r = redisCommand(w->sync, "EXISTS sg:outbound:claim:mk:h-fail");
    assert_int_equal(r->integer, 0);                 /* SG-OUT-012 */
    freeReplyObject(r);
    assert_int_equal(gwt_pending(w, "sg:stream:outbound:http",
                                 "sg:gateway:http"), 0);

    gwt_request(w, &h, "DELETE", url, NULL);
    cJSON_Delete(h.json);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics",
             gw_metrics_port(w->g));
    gwt_request(w, &h, "GET", url, NULL);
    assert_non_null(strstr(h.body, "sg_gateway_outbound_send_failures_total{"
                                   "platform=\"http\",op=\"send\"} 2\n"));
    assert_non_null(strstr(h.body, "sg_gateway_dead_lettered_total{platform="
                                   "\"http\"} 1\n"));
}

/* No answer within SG_HTTP_PLATFORM_TIMEOUT_MS is a failed send too. */
static void test_http_timeout_is_a_failed_send(void **state)
{
    world *x = *state;
    gwt *w = &x->w;
    gwt_http h;
    sg_envelope env;
    char url[128], id[64];
    redisReply *r;
    cJSON *c;

    snprintf(url, sizeof url, "http://127.0.0.1:%u/_mock/fail",
             x->mock.port);
    gwt_request(w, &h, "POST", url, "{\"channel_id\":\"h-slow\","
                "\"status\":200,\"delay_ms\":8000,\"times\":1}");
    assert_int_equal(h.status / 100, 2);
    cJSON_Delete(h.json);
    gwt_message(&env, "h-slow", "slow", "mk:h-slow");
    gwt_publish_out(w, "http", &env, id, sizeof id);
    /* The first call times out; the redelivery is answered at once. */
    c = wait_calls(x, "channel_id=h-slow", 2);
    cJSON_Delete(c);
    wait_hget(w, "mk:h-slow", id, sizeof id);
    assert_true(strncmp(id, "mock-", 5) == 0);
    r = redisCommand(w->sync, "XLEN sg:stream:dlq");
    assert_int_equal(r->integer, 1);           /* only the earlier one */
    freeReplyObject(r);
    gwt_request(w, &h, "DELETE", url, NULL);
    cJSON_Delete(h.json);
}

static void test_http_inbound_post_publishes(void **state)
{
    world *x = *state;
    gwt *w = &x->w;
    gwt_http h;
    char url[128];
    sg_envelope *env;
    redisReply *r;

    gwt_url(url, sizeof url, gw_platform_port(w->g, GW_HTTP), "/messages");
    gwt_request(w, &h, "POST", url,
                "{\"channel_id\":\"h-1\",\"user_id\":\"u1\",\"username\":"
                "\"Ann\",\"content\":\"hi bot\",\"attachments\":[{\"data\":"
                "\"aGk=\",\"filename\":\"hi.txt\"}]}");
    assert_int_equal(h.status, 202);
    r = gwt_read_inbound(w, cJSON_GetObjectItem(h.json, "entry_id")
                                ->valuestring, &env);
    assert_true(gwt_str_eq(env->u.in.platform, "http"));   /* default */
    assert_true(gwt_str_eq(env->u.in.channel_id, "h-1"));
    assert_true(gwt_str_eq(env->u.in.content, "hi bot"));
    assert_true(gwt_str_eq(env->u.in.message_id,
                           cJSON_GetObjectItem(h.json, "message_id")
                               ->valuestring));
    assert_true(env->u.in.message_id.len > 0);
    assert_true(env->u.in.timestamp > 0);
    assert_int_equal(env->u.in.nattachments, 1);
    assert_int_equal(env->u.in.attachments[0].data.len, 2);
    sg_envelope_free(env);
    freeReplyObject(r);
    cJSON_Delete(h.json);
}

static void test_http_inbound_invalid_is_400_with_path(void **state)
{
    world *x = *state;
    gwt *w = &x->w;
    gwt_http h;
    char url[128];

    gwt_url(url, sizeof url, gw_platform_port(w->g, GW_HTTP), "/messages");
    gwt_request(w, &h, "POST", url,
                "{\"channel_id\":\"h-1\",\"attachments\":[7]}");
    assert_int_equal(h.status, 400);
    assert_string_equal(str_at(h.json, "reason", NULL), "wrong_type");
    assert_string_equal(str_at(h.json, "path", NULL), "data.attachments[0]");
    assert_non_null(strstr(str_at(h.json, "error", NULL), "attachments"));
    cJSON_Delete(h.json);
    gwt_request(w, &h, "POST", url, "{\"content\":\"no channel\"}");
    assert_int_equal(h.status, 400);
    assert_string_equal(str_at(h.json, "path", NULL), "data.channel_id");
    cJSON_Delete(h.json);
    gwt_request(w, &h, "GET", url, NULL);
    assert_int_equal(h.status, 405);
    cJSON_Delete(h.json);
    gwt_url(url, sizeof url, gw_platform_port(w->g, GW_HTTP), "/healthz");
    gwt_request(w, &h, "GET", url, NULL);
    assert_int_equal(h.status, 200);
}

static void test_http_rpc_history_holds_inbound_and_sent(void **state)
{
    world *x = *state;
    gwt *w = &x->w;
    gwt_rpc r;
    sg_error err;
    const cJSON *a, *b;

    gwt_call(w, &r, "http", "fetch_channel_history", "h-1", NULL, 0);
    assert_int_equal(sg_rpc_check_reply("fetch_channel_history", r.json, 10,
                                        &err), 0);
    assert_int_equal(cJSON_GetArraySize(r.json), 2);
    a = cJSON_GetArrayItem(r.json, 0);
    b = cJSON_GetArrayItem(r.json, 1);
    assert_string_equal(str_at(a, "text", NULL), "hello platform");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(a, "is_bot")));
    assert_true(strncmp(str_at(a, "message_id", NULL), "mock-", 5) == 0);
    assert_string_equal(str_at(b, "text", NULL), "hi bot");
    assert_string_equal(str_at(b, "user_id", NULL), "u1");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(b, "is_bot")));
    cJSON_Delete(r.json);
}

static int unhealthy(void *arg)
{
    return !gw_is_healthy(((gwt *)arg)->g);
}

/* Last: it stops Redis. */
/* The value of the first line starting with `name `; -1: none. */
static long long metric_value(const char *text, const char *name)
{
    size_t n = strlen(name);
    const char *at = text;

    while (at != NULL && *at != '\0') {
        if (strncmp(at, name, n) == 0 && at[n] == ' ')
            return strtoll(at + n + 1, NULL, 10);
        at = strchr(at, '\n');
        if (at != NULL)
            at++;
    }
    return -1;
}

static void scrape(world *x, char *out, size_t cap)
{
    gwt_http h;
    char url[128];

    gwt_url(url, sizeof url, gw_metrics_port(x->w.g), "/metrics");
    gwt_request(&x->w, &h, "GET", url, NULL);
    assert_int_equal(h.status, 200);
    snprintf(out, cap, "%s", h.body);
}

static void test_http_metrics_count_redis_commands_and_connections(
    void **state)
{
    static char m0[65536], m1[65536];
    world *x = *state;
    gwt *w = &x->w;
    gwt_http h;
    sg_envelope env;
    char url[128];
    long long sent0, sent1, cons0, cons1, calls, conns;
    int i;
    cJSON *c;

    scrape(x, m0, sizeof m0);
    assert_non_null(strstr(m0, "# TYPE sg_redis_commands_sent_total "
                               "counter\nsg_redis_commands_sent_total "));
    sent0 = metric_value(m0, "sg_redis_commands_sent_total");
    cons0 = metric_value(m0, "sg_gateway_redis_commands_total"
                             "{platform=\"http\"}");
    /* Provisioning and reading went through it already. */
    assert_true(sent0 > 0);
    assert_true(cons0 > 0 && cons0 <= sent0);

    /* Work: three sends on one channel and one inbound publish. */
    for (i = 0; i < 3; i++) {
        gwt_message(&env, "h-count", "counted", NULL);
        gwt_publish_out(w, "http", &env, NULL, 0);
    }
    c = wait_calls(x, "channel_id=h-count", 3);
    cJSON_Delete(c);
    gwt_url(url, sizeof url, gw_platform_port(w->g, GW_HTTP), "/messages");
    gwt_request(w, &h, "POST", url, "{\"channel_id\":\"h-count\","
                "\"content\":\"hi\"}");
    assert_int_equal(h.status, 202);
    cJSON_Delete(h.json);

    scrape(x, m1, sizeof m1);
    sent1 = metric_value(m1, "sg_redis_commands_sent_total");
    cons1 = metric_value(m1, "sg_gateway_redis_commands_total"
                             "{platform=\"http\"}");
    /*
     * Every command once: the consumer's (reads, acknowledgements,
     * autoclaim) plus at least the XADD of the inbound publish, which
     * the consumer does not send.
     */
    assert_true(cons1 > cons0);
    assert_true(sent1 - sent0 >= (cons1 - cons0) + 1);
    assert_true(cons1 < sent1);
    /*
     * Keep-alive: these calls and the earlier tests' (the mock answers
     * HTTP/1.1) went over a few connections, far fewer than calls.
     */
    calls = metric_value(m1, "sg_gateway_http_calls_total"
                             "{platform=\"http\"}");
    conns = metric_value(m1, "sg_gateway_http_connections_total"
                             "{platform=\"http\"}");
    assert_true(calls >= 3);
    assert_true(conns >= 1 && conns < calls);
}

static void test_http_inbound_redis_down_is_503(void **state)
{
    world *x = *state;
    gwt *w = &x->w;
    gwt_http h;
    char url[128];

    assert_int_equal(sgt_redis_stop(&w->redis), 0);
    GWT_WAIT(unhealthy, w);
    gwt_url(url, sizeof url, gw_platform_port(w->g, GW_HTTP), "/messages");
    gwt_request(w, &h, "POST", url, "{\"channel_id\":\"h-1\"}");
    assert_int_equal(h.status, 503);
    cJSON_Delete(h.json);
    gwt_url(url, sizeof url, gw_metrics_port(w->g), "/healthz");
    gwt_request(w, &h, "GET", url, NULL);
    assert_int_equal(h.status, 503);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_send_reaches_the_platform),
        cmocka_unit_test(test_http_every_op),
        cmocka_unit_test(test_http_failed_send_is_retried_then_dead_lettered),
        cmocka_unit_test(test_http_timeout_is_a_failed_send),
        cmocka_unit_test(test_http_inbound_post_publishes),
        cmocka_unit_test(test_http_inbound_invalid_is_400_with_path),
        cmocka_unit_test(test_http_rpc_history_holds_inbound_and_sent),
        cmocka_unit_test(
            test_http_metrics_count_redis_commands_and_connections),
        cmocka_unit_test(test_http_inbound_redis_down_is_503),
    };

    if (argc < 2) {
        fprintf(stderr, "usage: %s <path of sg-mock-platform>\n", argv[0]);
        return 2;
    }
    mock_exe = argv[1];
    return cmocka_run_group_tests(tests, setup, teardown);
}
