/*
 * The tools stream (sg/tools.h) against a real redis-server: the worker's
 * client with its one demultiplexing reader, and the tools service's reply
 * helpers, with a test-side tools service that tails the tools stream.
 *
 * Spec IDs: SG-TOOLS-001 (requests and replies satisfy their tables),
 * SG-TOOLS-002 (the reply is published before the service is told to
 * acknowledge), SG-TOOLS-003 (each reply reaches the call with its
 * request_id; a reply matching no call, such as one after a timeout, is
 * discarded), SG-TOOLS-004 (a late request is refused with ok false,
 * "deadline exceeded"), SG-TOOLS-005 (reply streams capped with
 * MAXLEN ~ 1000), SG-TOPO-002 (reply stream {prefix}:{worker_id}).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "sg/codec.h"
#include "sg/conn.h"
#include "sg/tools.h"
#include "sgt_loop.h"
#include "sgt_runtime.h"
#include "sgt_tail.h"

#define TOOLS_STREAM "sg:stream:tools"
#define REPLY_STREAM "sg:tools:reply:worker-t1"
#define NCALLS 50

/* A request as the test-side service keeps it. */
typedef struct req {
    char id[64];
    char stream[128];
    char tool[64];
    unsigned char args[16];
    size_t args_len;
    int64_t deadline_ms;
} req;

typedef enum svc_mode {
    SVC_COLLECT,    /* keep requests; the test answers */
    SVC_DEADLINE    /* refuse each request as past its deadline */
} svc_mode;

typedef struct world {
    sgt_runtime rt;             /* server, loop, the worker's connection */
    sg_conn *svc;               /* the service's command connection */
    sgt_tail *tail;
    sg_tools_client *tc;
    svc_mode mode;
    req reqs[NCALLS];
    int nreqs;
    int sent;                   /* replies Redis has taken */
    int sent_fail;
} world;

typedef struct outcome {
    int done;
    int status;
    int ok;
    char error[64];
    unsigned char result[16];
    size_t result_len;
    char request_id[64];
} outcome;

static void copy_str(char *dst, size_t cap, sg_str s)
{
    size_t n = s.len < cap - 1 ? s.len : cap - 1;

    if (n > 0)
        memcpy(dst, s.ptr, n);
    dst[n] = '\0';
}

static sg_tools_request as_request(const req *r)
{
    sg_tools_request q;

    memset(&q, 0, sizeof q);
    q.request_id.ptr = r->id;
    q.request_id.len = strlen(r->id);
    q.reply_stream.ptr = r->stream;
    q.reply_stream.len = strlen(r->stream);
    q.tool_name.ptr = r->tool;
    q.tool_name.len = strlen(r->tool);
    q.deadline_ms = r->deadline_ms;
    return q;
}

static void on_sent(int status, void *ud)
{
    world *w = ud;

    if (status == 0)
        w->sent++;
    else
        w->sent_fail++;
}

static void on_tools_request(const char *id, const sg_entry *entry, void *ud)
{
    world *w = ud;
    sg_envelope *env = NULL;
    sg_error err;
    req *r;

    (void)id;
    assert_int_equal(sg_envelope_decode(SG_KIND_TOOLS_REQUEST, entry, NULL,
                                        &env, &err),
                     0);
    assert_true(w->nreqs < NCALLS);
    r = &w->reqs[w->nreqs++];
    copy_str(r->id, sizeof r->id, env->u.treq.request_id);
    copy_str(r->stream, sizeof r->stream, env->u.treq.reply_stream);
    copy_str(r->tool, sizeof r->tool, env->u.treq.tool_name);
    assert_true(env->u.treq.tool_args.len <= sizeof r->args);
    if (env->u.treq.tool_args.len > 0)
        memcpy(r->args, env->u.treq.tool_args.mp, env->u.treq.tool_args.len);
    r->args_len = env->u.treq.tool_args.len;
    r->deadline_ms = env->u.treq.deadline_ms;
    sg_envelope_free(env);
    if (w->mode == SVC_DEADLINE) {
        sg_tools_request q = as_request(r);

        /* One past the deadline, rather than waiting for it. */
        assert_int_equal(sg_tools_deadline_passed(&q, r->deadline_ms - 1), 0);
        assert_int_equal(sg_tools_deadline_passed(&q, r->deadline_ms), 1);
        assert_int_equal(sg_tools_reply_deadline_exceeded(w->svc, &q, NULL,
                                                          on_sent, w, &err),
                         0);
    }
}

/* The service answers request r: ok, the tool's args as its result. */
static void reply_to(world *w, const req *r)
{
    sg_tools_request q = as_request(r);
    sg_tools_reply rep;
    sg_error err;

    memset(&rep, 0, sizeof rep);
    rep.ok = true;
    rep.result.mp = r->args;
    rep.result.len = r->args_len;
    assert_int_equal(sg_tools_reply_send(w->svc, &q, &rep, "trace-svc",
                                         on_sent, w, &err),
                     0);
}

static int setup(void **state)
{
    static world w;

    memset(&w, 0, sizeof w);
    if (sgt_runtime_start(&w.rt, NULL) != 0)
        return -1;
    assert_int_equal(sg_conn_new_like(w.rt.conn, "svc", NULL, NULL, &w.svc),
                     0);
    assert_int_equal(sgt_tail_new(w.rt.conn, TOOLS_STREAM, on_tools_request,
                                  &w, &w.tail),
                     0);
    *state = &w;
    return 0;
}

static void new_client(world *w, int timeout_ms)
{
    sg_tools_client_opts o;

    sg_tools_client_opts_init(&o);
    o.worker_id = "worker-t1";
    o.timeout_ms = timeout_ms;
    o.block_ms = 100;
    o.retry_ms = 50;
    assert_int_equal(sg_tools_client_new(w->rt.conn, &o, &w->tc), 0);
    assert_string_equal(sg_tools_reply_stream(w->tc), REPLY_STREAM);
}

static int teardown(void **state)
{
    world *w = *state;

    sg_tools_client_free(w->tc);
    sgt_tail_free(w->tail);
    sg_conn_free(w->svc);
    sgt_runtime_stop(&w->rt);
    return 0;
}

static void on_result(const sg_tools_result *res, void *ud)
{
    outcome *o = ud;

    o->done = 1;
    o->status = res->status;
    snprintf(o->request_id, sizeof o->request_id, "%s", res->request_id);
    if (res->reply != NULL) {
        o->ok = res->reply->ok;
        copy_str(o->error, sizeof o->error, res->reply->error);
        assert_true(res->reply->result.len <= sizeof o->result);
        if (res->reply->result.len > 0)
            memcpy(o->result, res->reply->result.mp, res->reply->result.len);
        o->result_len = res->reply->result.len;
        /* The request id is the call's. */
        assert_int_equal(res->reply->request_id.len, strlen(res->request_id));
    }
}

static int is_done(void *arg)
{
    return ((outcome *)arg)->done;
}

typedef struct many {
    world *w;
    outcome o[NCALLS];
    int want_reqs;
    int want_sent;
    uint64_t want_discarded;
} many;

static int all_done(void *arg)
{
    many *m = arg;
    int i;

    for (i = 0; i < NCALLS; i++)
        if (!m->o[i].done)
            return 0;
    return 1;
}

static int reqs_in(void *arg)
{
    many *m = arg;

    return m->w->nreqs >= m->want_reqs;
}

static int sent_at_least(void *arg)
{
    many *m = arg;

    return m->w->sent >= m->want_sent;
}

static int discarded_at_least(void *arg)
{
    many *m = arg;

    return sg_tools_discarded(m->w->tc) >= m->want_discarded;
}

static void call_with_n(world *w, int n, int timeout_ms, bool deadline,
                        outcome *o)
{
    unsigned char args[4] = {0x81, 0xa1, 'n', (unsigned char)n};
    sg_tools_call_opts co;
    sg_error err;

    sg_tools_call_opts_init(&co);
    co.tool_name = "echo";
    co.tool_args.mp = args;
    co.tool_args.len = sizeof args;
    co.timeout_ms = timeout_ms;
    co.send_deadline = deadline;
    assert_int_equal(sg_tools_call(w->tc, &co, on_result, o, &err), 0);
}

/* ---- tests --------------------------------------------------------------- */

static void test_sg_tools_call_50_concurrent_answered_out_of_order(
    void **state)
{
    world *w = *state;
    many *m = calloc(1, sizeof *m);
    int i, j;

    assert_non_null(m);
    m->w = w;
    /* A reply left from an earlier life of this worker is not read. */
    {
        redisReply *r = redisCommand(w->rt.sync, "XADD %s * data x",
                                     REPLY_STREAM);

        assert_non_null(r);
        freeReplyObject(r);
    }
    new_client(w, 5000);
    /* Made before the reader knows its cursor: queued, then sent. */
    for (i = 0; i < NCALLS; i++)
        call_with_n(w, i, 0, false, &m->o[i]);
    assert_int_equal(sg_tools_pending(w->tc), NCALLS);
    m->want_reqs = NCALLS;
    assert_true(sgt_loop_until(w->rt.base, reqs_in, m, 5000));
    assert_true(sg_tools_client_ready(w->tc));
    /* Answer in reverse order of arrival. */
    for (j = NCALLS - 1; j >= 0; j--) {
        assert_string_equal(w->reqs[j].stream, REPLY_STREAM);
        assert_int_equal(w->reqs[j].deadline_ms, 0);
        reply_to(w, &w->reqs[j]);
    }
    assert_true(sgt_loop_until(w->rt.base, all_done, m, 5000));
    for (i = 0; i < NCALLS; i++) {
        assert_int_equal(m->o[i].status, 0);
        assert_true(m->o[i].ok);
        /* Each call got the reply carrying its own arguments. */
        assert_int_equal(m->o[i].result_len, 4);
        assert_int_equal(m->o[i].result[3], i);
    }
    assert_int_equal(sg_tools_pending(w->tc), 0);
    assert_int_equal(sg_tools_discarded(w->tc), 0);
    assert_int_equal(w->sent, NCALLS);
    free(m);
}

static void test_sg_tools_reply_unknown_request_id_is_discarded(void **state)
{
    world *w = *state;
    many *m = calloc(1, sizeof *m);
    req stranger;

    assert_non_null(m);
    m->w = w;
    new_client(w, 5000);
    call_with_n(w, 7, 0, false, &m->o[0]);
    m->want_reqs = 1;
    assert_true(sgt_loop_until(w->rt.base, reqs_in, m, 5000));
    stranger = w->reqs[0];
    snprintf(stranger.id, sizeof stranger.id, "no-such-request");
    reply_to(w, &stranger);
    m->want_discarded = 1;
    assert_true(sgt_loop_until(w->rt.base, discarded_at_least, m, 5000));
    assert_false(m->o[0].done);
    reply_to(w, &w->reqs[0]);
    assert_true(sgt_loop_until(w->rt.base, is_done, &m->o[0], 5000));
    assert_int_equal(m->o[0].status, 0);
    assert_int_equal(m->o[0].result[3], 7);
    assert_int_equal(sg_tools_discarded(w->tc), 1);
    free(m);
}

static void test_sg_tools_call_timeout_then_late_reply_discarded(
    void **state)
{
    world *w = *state;
    many *m = calloc(1, sizeof *m);
    long long started;

    assert_non_null(m);
    m->w = w;
    new_client(w, 5000);
    started = sgt_now_ms();
    call_with_n(w, 1, 200, false, &m->o[0]);
    assert_true(sgt_loop_until(w->rt.base, is_done, &m->o[0], 5000));
    assert_int_equal(m->o[0].status, SG_ETIMEOUT);
    /* libevent times with the coarse monotonic clock: a few ms early. */
    assert_true(sgt_now_ms() - started >= 200 - 10);
    assert_int_equal(w->nreqs, 1);
    reply_to(w, &w->reqs[0]);
    m->want_discarded = 1;
    assert_true(sgt_loop_until(w->rt.base, discarded_at_least, m, 5000));
    free(m);
}

static void test_sg_tools_reply_deadline_exceeded_refuses(void **state)
{
    world *w = *state;
    outcome o = {0};
    long long before = 0;

    w->mode = SVC_DEADLINE;
    new_client(w, 5000);
    call_with_n(w, 3, 2000, true, &o);
    assert_true(sgt_loop_until(w->rt.base, is_done, &o, 5000));
    assert_int_equal(o.status, 0);
    assert_false(o.ok);
    assert_string_equal(o.error, SG_TOOLS_DEADLINE_EXCEEDED);
    assert_int_equal(o.result_len, 0);
    /* The deadline sent is absolute wall-clock time, about now + 2 s. */
    {
        redisReply *r = redisCommand(w->rt.sync, "TIME");
        char *end;

        assert_non_null(r);
        before = strtoll(r->element[0]->str, &end, 10) * 1000;
        assert_int_equal(*end, '\0');
        freeReplyObject(r);
    }
    assert_true(w->reqs[0].deadline_ms > before - 5000);
    assert_true(w->reqs[0].deadline_ms < before + 5000);
}

static void test_sg_tools_reply_send_caps_reply_stream(void **state)
{
    world *w = *state;
    many *m = calloc(1, sizeof *m);
    req r;
    int i;

    assert_non_null(m);
    m->w = w;
    memset(&r, 0, sizeof r);
    snprintf(r.id, sizeof r.id, "r1");
    snprintf(r.stream, sizeof r.stream, "sg:tools:reply:capped");
    snprintf(r.tool, sizeof r.tool, "t");
    for (i = 0; i < 3000; i++)
        reply_to(w, &r);
    m->want_sent = 3000;
    assert_true(sgt_loop_until(w->rt.base, sent_at_least, m, 10000));
    assert_int_equal(w->sent_fail, 0);
    /* MAXLEN ~ 1000: trimmed in whole nodes, so about 1000 remain. */
    assert_true(sgt_int(&w->rt, "XLEN %s", r.stream) >= 1000);
    assert_true(sgt_int(&w->rt, "XLEN %s", r.stream) < 1200);
    free(m);
}

/* In the sent callback the reply is already in the stream: ack there. */
typedef struct ack_check {
    world *w;
    int called;
    long long len_at_callback;
} ack_check;

static void on_sent_check(int status, void *ud)
{
    ack_check *a = ud;

    assert_int_equal(status, 0);
    a->called = 1;
    a->len_at_callback = sgt_int(&a->w->rt, "XLEN %s", "sg:tools:reply:acked");
}

static int ack_called(void *arg)
{
    return ((ack_check *)arg)->called;
}

static void test_sg_tools_reply_send_calls_back_after_publish(void **state)
{
    world *w = *state;
    ack_check a = {w, 0, 0};
    sg_tools_request q;
    sg_tools_reply rep;
    sg_error err;

    memset(&q, 0, sizeof q);
    q.request_id = SG_STR("r9");
    q.reply_stream = SG_STR("sg:tools:reply:acked");
    memset(&rep, 0, sizeof rep);
    rep.ok = false;
    rep.error = SG_STR("tool failed");
    assert_int_equal(sg_tools_reply_send(w->svc, &q, &rep, NULL,
                                         on_sent_check, &a, &err),
                     0);
    assert_true(sgt_loop_until(w->rt.base, ack_called, &a, 5000));
    assert_int_equal(a.len_at_callback, 1);
    /* An invalid reply is refused before anything is sent. */
    q.request_id = SG_STR("");
    assert_int_equal(sg_tools_reply_send(w->svc, &q, &rep, NULL,
                                         on_sent_check, &a, &err),
                     SG_EINVAL);
    q.request_id = SG_STR("r10");
    rep.error.ptr = "\xff";
    rep.error.len = 1;
    assert_int_equal(sg_tools_reply_send(w->svc, &q, &rep, NULL,
                                         on_sent_check, &a, &err),
                     SG_EINVALID);
    assert_string_equal(err.path, "data.error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_sg_tools_call_50_concurrent_answered_out_of_order, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_tools_reply_unknown_request_id_is_discarded, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_tools_call_timeout_then_late_reply_discarded, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_tools_reply_deadline_exceeded_refuses, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_tools_reply_send_caps_reply_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_tools_reply_send_calls_back_after_publish, setup,
            teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
