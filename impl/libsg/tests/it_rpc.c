/*
 * The RPC client (sg/rpc.h) against a real redis-server, with a test-side
 * gateway that reads the outbound stream and answers on the reply list
 * with RPUSH + EXPIRE 60 in one MULTI, as SG-RPC-002 asks of a gateway.
 *
 * Spec IDs: SG-RPC-001 (the request satisfies the rpc_request table),
 * SG-RPC-004 (unknown method answered with the error object), SG-RPC-005,
 * SG-RPC-006 (method replies reach the caller parsed), SG-RPC-009 (BLPOP
 * on a connection of its own, fresh {prefix}:{uuid} key per call, a
 * timeout reported as an error), SG-RPC-010 (a reply after the timeout
 * never reaches a later call), SG-RPC-011 (a reply that is not JSON is
 * invalid_json), SG-TRACE-002 (the trace id in the envelope and the
 * entry), SG-FRAME-008 (XADD with MAXLEN ~).
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
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "sg/codec.h"
#include "sg/conn.h"
#include "sg/rpc.h"
#include "sgt_loop.h"
#include "sgt_runtime.h"
#include "sgt_tail.h"

#define STREAM "sg:stream:outbound:discord"
#define MAX_SEEN 16

/* What the test-side gateway does with the next requests. */
typedef enum gw_mode {
    GW_ANSWER,      /* answer at once, by method */
    GW_SILENT,      /* record, never answer */
    GW_GARBAGE      /* answer with text that is not JSON */
} gw_mode;

typedef struct seen {
    char method[64];
    char reply_key[128];
    char channel[64];
    char trace_entry[64];
    char trace_env[64];
    char args_hex[64];
    int has_channel;
} seen;

typedef struct world {
    sgt_runtime rt;             /* rt.conn: the client's connection */
    sg_conn *gw;                /* the gateway's command connection */
    sgt_tail *tail;
    sg_rpc *rpc;
    gw_mode mode;
    seen seen[MAX_SEEN];
    int nseen;
    int pushed;
    int gw_ups;                 /* times it came up; rt.conn_ups: client */
} world;

/* One finished call, as the test saw it. */
typedef struct outcome {
    int done;
    int status;
    int reason;
    char text[512];
    char key[128];
    char error[128];
    int is_array;
    int array_len;
    int is_true;
    long long at_ms;
} outcome;

static void copy_sg_str(char *dst, size_t cap, sg_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;

    if (n > 0)
        memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static const char *field(const sg_entry *e, const char *name, size_t *len)
{
    size_t i;

    for (i = 0; i < e->nfields; i++)
        if (e->fields[i].name.len == strlen(name) &&
            memcmp(e->fields[i].name.ptr, name, e->fields[i].name.len) == 0) {
            *len = e->fields[i].value.len;
            return e->fields[i].value.ptr;
        }
    return NULL;
}

/* RPUSH + EXPIRE 60 in one MULTI: the gateway's side of SG-RPC-002. */
static void push_reply(world *w, const char *key, const char *json)
{
    const char *multi[1] = {"MULTI"};
    const char *rpush[3] = {"RPUSH", key, json};
    const char *expire[3] = {"EXPIRE", key, "60"};
    const char *exec[1] = {"EXEC"};

    assert_int_equal(sg_conn_command(w->gw, NULL, NULL, 1, multi, NULL), 0);
    assert_int_equal(sg_conn_command(w->gw, NULL, NULL, 3, rpush, NULL), 0);
    assert_int_equal(sg_conn_command(w->gw, NULL, NULL, 3, expire, NULL), 0);
    assert_int_equal(sg_conn_command(w->gw, NULL, NULL, 1, exec, NULL), 0);
    w->pushed++;
}

/* The answer of the test-side gateway to one method. */
static void answer(world *w, const seen *s)
{
    sg_buf b;

    sg_buf_init(&b, NULL);
    if (strcmp(s->method, "fetch_channel_history") == 0) {
        sg_rpc_history_msg m;

        memset(&m, 0, sizeof m);
        m.user_id = SG_STR("u1");
        m.user_name = SG_STR("Ann");
        m.text = SG_STR("hello");
        m.timestamp = 1732350000.5;
        m.message_id = SG_STR("m1");
        assert_int_equal(sg_rpc_build_history(&b, &m, 1, 10), 0);
    } else if (strcmp(s->method, "should_skip_channel_heartbeat") == 0) {
        assert_int_equal(sg_rpc_build_bool(&b, true), 0);
    } else if (strcmp(s->method, "echo") == 0) {
        /* Not a spec method: names the key, to tell replies apart. */
        assert_int_equal(sg_rpc_build_error(&b, s->reply_key,
                                            strlen(s->reply_key)),
                         0);
    } else {
        assert_int_equal(sg_rpc_build_unknown_method(&b, s->method,
                                                     strlen(s->method)),
                         0);
    }
    push_reply(w, s->reply_key, (const char *)b.data);
    sg_buf_destroy(&b);
}

static void on_request(const char *id, const sg_entry *entry, void *ud)
{
    world *w = ud;
    sg_envelope *env = NULL;
    sg_error err;
    const char *trace;
    size_t tlen, i;
    seen *s;

    (void)id;
    assert_int_equal(sg_envelope_decode(SG_KIND_OUTBOUND, entry, NULL, &env,
                                        &err),
                     0);
    assert_int_equal(env->u.out.type, SG_OUT_RPC_REQUEST);
    assert_true(w->nseen < MAX_SEEN);
    s = &w->seen[w->nseen++];
    copy_sg_str(s->method, sizeof s->method, env->u.out.rpc_method);
    copy_sg_str(s->reply_key, sizeof s->reply_key, env->u.out.reply_key);
    copy_sg_str(s->channel, sizeof s->channel, env->u.out.channel_id);
    copy_sg_str(s->trace_env, sizeof s->trace_env, env->u.out.trace_id);
    s->has_channel = env->u.out.has_channel_id;
    trace = field(entry, "trace_id", &tlen);
    copy_sg_str(s->trace_entry, sizeof s->trace_entry,
                (sg_str){trace, trace != NULL ? tlen : 0});
    for (i = 0; i < env->u.out.rpc_args.len && 2 * i + 2 < sizeof s->args_hex;
         i++)
        snprintf(&s->args_hex[2 * i], 3, "%02x", env->u.out.rpc_args.mp[i]);
    sg_envelope_free(env);
    if (w->mode == GW_ANSWER)
        answer(w, s);
    else if (w->mode == GW_GARBAGE)
        push_reply(w, s->reply_key, "<<not json>>");
}

static void on_gw_state(sg_conn *conn, int up, void *ud)
{
    (void)conn;
    if (up)
        ((world *)ud)->gw_ups++;
}

static int setup(void **state)
{
    static world w;
    sg_rpc_opts ro;

    memset(&w, 0, sizeof w);
    if (sgt_runtime_start(&w.rt, NULL) != 0)
        return -1;
    assert_int_equal(sg_conn_new_like(w.rt.conn, "gateway", on_gw_state, &w,
                                      &w.gw),
                     0);
    assert_int_equal(sgt_tail_new(w.rt.conn, STREAM, on_request, &w, &w.tail),
                     0);
    sg_rpc_opts_init(&ro);
    ro.timeout_ms = 2000;
    ro.max_idle = 2;
    assert_int_equal(sg_rpc_new(w.rt.conn, &ro, &w.rpc), 0);
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;

    sg_rpc_free(w->rpc);
    sgt_tail_free(w->tail);
    sg_conn_free(w->gw);
    sgt_runtime_stop(&w->rt);
    return 0;
}

static void on_outcome(const sg_rpc_result *res, void *ud)
{
    outcome *o = ud;

    o->done = 1;
    o->status = res->status;
    o->reason = res->err->reason;
    o->at_ms = sgt_now_ms();
    snprintf(o->key, sizeof o->key, "%s", res->reply_key);
    if (res->text != NULL)
        snprintf(o->text, sizeof o->text, "%s", res->text);
    if (res->json != NULL) {
        const char *e = sg_rpc_reply_error(res->json);

        o->is_array = cJSON_IsArray(res->json);
        o->array_len = o->is_array ? cJSON_GetArraySize(res->json) : 0;
        o->is_true = cJSON_IsTrue(res->json);
        if (e != NULL)
            snprintf(o->error, sizeof o->error, "%s", e);
    }
}

static int is_done(void *arg)
{
    return ((outcome *)arg)->done;
}

static int gateway_saw_one(void *arg)
{
    return ((world *)arg)->nseen >= 1;
}

/* A key is {prefix}:{uuid}: 36 characters with dashes at 8, 13, 18, 23. */
static void assert_reply_key(const char *key)
{
    const char *u;

    assert_int_equal(strncmp(key, "sg:rpc:reply:", 13), 0);
    u = key + 13;
    assert_int_equal(strlen(u), 36);
    assert_int_equal(u[8], '-');
    assert_int_equal(u[13], '-');
    assert_int_equal(u[14], '4');
    assert_int_equal(u[18], '-');
    assert_int_equal(u[23], '-');
}

/* ---- tests --------------------------------------------------------------- */

static void test_sg_rpc_call_round_trip_history(void **state)
{
    /* {"limit": 2} */
    static const unsigned char args[] = {0x81, 0xa5, 'l', 'i', 'm', 'i', 't',
                                         0x02};
    world *w = *state;
    sg_rpc_request rq;
    outcome o = {0};
    sg_error err;

    sg_rpc_request_init(&rq);
    rq.platform = "discord";
    rq.method = "fetch_channel_history";
    rq.channel_id = "c1";
    rq.args.mp = args;
    rq.args.len = sizeof args;
    rq.trace_id = "trace-1";
    assert_int_equal(sg_rpc_call(w->rpc, &rq, on_outcome, &o, &err), 0);
    assert_false(o.done);   /* never from inside sg_rpc_call */
    assert_int_equal(sg_rpc_pending(w->rpc), 1);
    assert_true(sgt_loop_until(w->rt.base, is_done, &o, 5000));
    assert_int_equal(o.status, 0);
    assert_true(o.is_array);
    assert_int_equal(o.array_len, 1);
    assert_int_equal(sg_rpc_pending(w->rpc), 0);

    assert_int_equal(w->nseen, 1);
    assert_string_equal(w->seen[0].method, "fetch_channel_history");
    assert_true(w->seen[0].has_channel);
    assert_string_equal(w->seen[0].channel, "c1");
    assert_string_equal(w->seen[0].trace_entry, "trace-1");
    assert_string_equal(w->seen[0].trace_env, "trace-1");
    assert_string_equal(w->seen[0].args_hex, "81a56c696d697402");
    assert_string_equal(w->seen[0].reply_key, o.key);
    assert_reply_key(o.key);
    /* The reply list was consumed by the BLPOP. */
    assert_int_equal(sgt_int(&w->rt, "EXISTS %s", o.key), 0);
}

static void test_sg_rpc_call_bool_and_unknown_method(void **state)
{
    world *w = *state;
    sg_rpc_request rq;
    outcome a = {0}, b = {0};

    sg_rpc_request_init(&rq);
    rq.platform = "discord";
    rq.method = "should_skip_channel_heartbeat";
    assert_int_equal(sg_rpc_call(w->rpc, &rq, on_outcome, &a, NULL), 0);
    rq.method = "no_such_method";
    assert_int_equal(sg_rpc_call(w->rpc, &rq, on_outcome, &b, NULL), 0);
    assert_true(sgt_loop_until(w->rt.base, is_done, &a, 5000));
    assert_true(sgt_loop_until(w->rt.base, is_done, &b, 5000));
    assert_int_equal(a.status, 0);
    assert_true(a.is_true);
    assert_int_equal(b.status, 0);
    assert_string_equal(b.error, "Unknown RPC method: no_such_method");
    /* A fresh trace id was generated: 32 hex digits, in both places. */
    assert_int_equal(strlen(w->seen[0].trace_entry), 32);
    assert_string_equal(w->seen[0].trace_entry, w->seen[0].trace_env);
    assert_false(w->seen[0].has_channel);
    assert_string_not_equal(a.key, b.key);
}

typedef struct many {
    outcome o[8];
} many;

static int all_done(void *arg)
{
    many *m = arg;
    int i;

    for (i = 0; i < 8; i++)
        if (!m->o[i].done)
            return 0;
    return 1;
}

static void test_sg_rpc_call_concurrent_calls_each_get_their_reply(
    void **state)
{
    world *w = *state;
    sg_rpc_request rq;
    many m;
    int i;

    memset(&m, 0, sizeof m);
    sg_rpc_request_init(&rq);
    rq.platform = "discord";
    rq.method = "echo";
    for (i = 0; i < 8; i++)
        assert_int_equal(sg_rpc_call(w->rpc, &rq, on_outcome, &m.o[i], NULL),
                         0);
    assert_true(sgt_loop_until(w->rt.base, all_done, &m, 5000));
    for (i = 0; i < 8; i++) {
        assert_int_equal(m.o[i].status, 0);
        /* The echo names the key it was pushed to. */
        assert_string_equal(m.o[i].error, m.o[i].key);
    }
    /* One waiting connection per concurrent call; two kept idle. */
    assert_true(sg_rpc_connections(w->rpc) <= 2);
}

static void test_sg_rpc_call_timeout_then_late_reply_reaches_no_one(
    void **state)
{
    world *w = *state;
    sg_rpc_request rq;
    outcome first = {0}, second = {0};
    long long started;
    char late_key[128];

    w->mode = GW_SILENT;
    sg_rpc_request_init(&rq);
    rq.platform = "discord";
    rq.method = "echo";
    rq.timeout_ms = 300;
    started = sgt_now_ms();
    assert_int_equal(sg_rpc_call(w->rpc, &rq, on_outcome, &first, NULL), 0);
    assert_true(sgt_loop_until(w->rt.base, is_done, &first, 5000));
    assert_int_equal(first.status, SG_ETIMEOUT);
    /* Redis ends the BLPOP; allow for clocks a few ms apart. */
    assert_true(first.at_ms - started >= 300 - 10);
    assert_true(first.at_ms - started < 300 + 2000);
    snprintf(late_key, sizeof late_key, "%s", first.key);

    /* The gateway answers the first call late... */
    push_reply(w, late_key, "{\"error\":\"late\"}");
    /* ...and the next call gets its own answer, not that one. */
    w->mode = GW_ANSWER;
    assert_int_equal(sg_rpc_call(w->rpc, &rq, on_outcome, &second, NULL), 0);
    assert_true(sgt_loop_until(w->rt.base, is_done, &second, 5000));
    assert_int_equal(second.status, 0);
    assert_string_equal(second.error, second.key);
    assert_string_not_equal(second.key, late_key);
    /* The late reply still sits in its own list, expiring in 60 s. */
    assert_int_equal(sgt_int(&w->rt, "LLEN %s", late_key), 1);
    assert_true(sgt_int(&w->rt, "TTL %s", late_key) > 0);
    assert_true(sgt_int(&w->rt, "TTL %s", late_key) <= 60);
}

static void test_sg_rpc_call_non_json_reply_is_invalid_json(void **state)
{
    world *w = *state;
    sg_rpc_request rq;
    outcome o = {0};

    w->mode = GW_GARBAGE;
    sg_rpc_request_init(&rq);
    rq.platform = "discord";
    rq.method = "should_skip_channel_heartbeat";
    assert_int_equal(sg_rpc_call(w->rpc, &rq, on_outcome, &o, NULL), 0);
    assert_true(sgt_loop_until(w->rt.base, is_done, &o, 5000));
    assert_int_equal(o.status, SG_EDECODE);
    assert_int_equal(o.reason, SG_REASON_INVALID_JSON);
    assert_string_equal(o.text, "<<not json>>");
}

static void test_sg_rpc_call_invalid_request_fires_no_callback(void **state)
{
    static const unsigned char not_a_map[] = {0x91, 0x01};
    world *w = *state;
    sg_rpc_request rq;
    outcome o = {0};
    sg_error err;

    sg_rpc_request_init(&rq);
    rq.platform = "discord";
    rq.method = "";
    assert_int_equal(sg_rpc_call(w->rpc, &rq, on_outcome, &o, &err),
                     SG_EINVALID);
    assert_string_equal(err.path, "data.rpc_method");
    rq.method = "echo";
    rq.args.mp = not_a_map;
    rq.args.len = sizeof not_a_map;
    assert_int_equal(sg_rpc_call(w->rpc, &rq, on_outcome, &o, &err),
                     SG_EINVALID);
    assert_string_equal(err.path, "data.rpc_args");
    rq.args.len = 0;
    rq.platform = NULL;
    assert_int_equal(sg_rpc_call(w->rpc, &rq, on_outcome, &o, &err),
                     SG_EINVAL);
    sgt_loop_for(w->rt.base, 50);
    assert_false(o.done);
    assert_int_equal(sg_rpc_pending(w->rpc), 0);
    assert_int_equal(w->nseen, 0);
}

static void test_sg_rpc_free_ends_waiting_calls_with_eclosed(void **state)
{
    world *w = *state;
    sg_rpc_request rq;
    outcome o = {0};

    w->mode = GW_SILENT;
    sg_rpc_request_init(&rq);
    rq.platform = "discord";
    rq.method = "echo";
    assert_int_equal(sg_rpc_call(w->rpc, &rq, on_outcome, &o, NULL), 0);
    assert_true(sgt_loop_until(w->rt.base, gateway_saw_one, w, 5000));
    sgt_loop_for(w->rt.base, 50);
    assert_false(o.done);
    sg_rpc_free(w->rpc);
    w->rpc = NULL;
    assert_true(o.done);
    assert_int_equal(o.status, SG_ECLOSED);
}

/* Both connections came back after the restart. */
static int both_back(void *arg)
{
    world *w = arg;

    return w->rt.conn_ups >= 2 && w->gw_ups >= 2;
}

static void test_sg_rpc_call_after_redis_restart(void **state)
{
    world *w = *state;
    sg_rpc_request rq;
    outcome a = {0}, b = {0};

    w->rt.log.level = SG_LOG_OFF;
    sg_rpc_request_init(&rq);
    rq.platform = "discord";
    rq.method = "should_skip_channel_heartbeat";
    assert_int_equal(sg_rpc_call(w->rpc, &rq, on_outcome, &a, NULL), 0);
    assert_true(sgt_loop_until(w->rt.base, is_done, &a, 5000));
    assert_int_equal(a.status, 0);
    assert_int_equal(sg_rpc_connections(w->rpc), 1);   /* idle now */
    assert_int_equal(w->rt.conn_ups, 1);
    assert_int_equal(w->gw_ups, 1);

    /* The idle waiting connection dies with the server. */
    redisFree(w->rt.sync);
    assert_int_equal(sgt_redis_restart(&w->rt.redis), 0);
    w->rt.sync = sgt_redis_connect(&w->rt.redis);
    assert_non_null(w->rt.sync);
    assert_true(sgt_loop_until(w->rt.base, both_back, w, 5000));
    assert_int_equal(sg_rpc_call(w->rpc, &rq, on_outcome, &b, NULL), 0);
    assert_true(sgt_loop_until(w->rt.base, is_done, &b, 5000));
    assert_int_equal(b.status, 0);
    assert_true(b.is_true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sg_rpc_call_round_trip_history,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_rpc_call_bool_and_unknown_method, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_rpc_call_concurrent_calls_each_get_their_reply, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_rpc_call_timeout_then_late_reply_reaches_no_one, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_rpc_call_non_json_reply_is_invalid_json, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_rpc_call_invalid_request_fires_no_callback, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_rpc_free_ends_waiting_calls_with_eclosed, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_sg_rpc_call_after_redis_restart,
                                        setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
