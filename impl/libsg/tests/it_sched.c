/*
 * The periodic scheduler (sg/sched.h) with tasks that talk to a real
 * redis-server, and a task gated by a lease so that it runs on one node
 * at a time.
 *
 * Spec IDs: SG-SCHED-001 (next run one interval after the end of the
 * previous one, first after the initial delay), SG-SCHED-002 (a run that
 * Redis fails is logged and the schedules go on), SG-SCHED-003 (a task
 * gated by a lease does its work on one node only).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "sg/conn.h"
#include "sg/lease.h"
#include "sg/sched.h"
#include "sgt_loop.h"
#include "sgt_runtime.h"

#define MAX_RUNS 32
/* Timers may fire late under load or Valgrind, never early: see below. */
#define LATE_MS 1000

typedef struct world {
    sgt_runtime rt;             /* server, loop, connections, log */
    sg_conn *slow_conn;         /* for the blocking "work" of a slow task */
} world;

/* A task that runs one Redis command per run. */
typedef struct rtask {
    world *w;
    sg_conn *conn;
    const char *const *argv;
    int argc;
    sg_lease *gate;             /* NULL: always works */
    int runs;
    int worked;
    int failed;
    long long started[MAX_RUNS];
    long long ended[MAX_RUNS];
    sg_sched_done_fn *done;
    void *token;
} rtask;

static void on_reply(sg_conn *conn, int status, const sg_reply *reply,
                     void *ud)
{
    rtask *t = ud;

    (void)conn;
    (void)reply;
    if (t->runs - 1 < MAX_RUNS)
        t->ended[t->runs - 1] = sgt_now_ms();
    if (status != 0)
        t->failed++;
    t->done(t->token, status == 0);
}

static int rtask_fn(void *ud, sg_sched_done_fn *done, void *token)
{
    rtask *t = ud;

    if (t->runs < MAX_RUNS)
        t->started[t->runs] = sgt_now_ms();
    t->runs++;
    if (t->gate != NULL && !sg_lease_held(t->gate)) {
        /* Not this node's turn: the run ends at once, ok. */
        if (t->runs - 1 < MAX_RUNS)
            t->ended[t->runs - 1] = sgt_now_ms();
        done(token, 1);
        return 0;
    }
    t->worked++;
    t->done = done;
    t->token = token;
    return sg_conn_command(t->conn, on_reply, t, t->argc, t->argv, NULL);
}

static void add(sg_sched *s, const char *name, rtask *t, int interval,
                int initial)
{
    sg_sched_task st;

    memset(&st, 0, sizeof st);
    st.name = name;
    st.fn = rtask_fn;
    st.ud = t;
    st.interval_ms = interval;
    st.initial_delay_ms = initial;
    assert_int_equal(sg_sched_add(s, &st), 0);
}

static int setup(void **state)
{
    static world w;

    memset(&w, 0, sizeof w);
    if (sgt_runtime_start(&w.rt, NULL) != 0)
        return -1;
    assert_int_equal(sg_conn_new_like(w.rt.conn, "slow", NULL, NULL,
                                      &w.slow_conn),
                     0);
    *state = &w;
    return 0;
}

static int teardown(void **state)
{
    world *w = *state;

    sg_conn_free(w->slow_conn);
    sgt_runtime_stop(&w->rt);
    return 0;
}

static long long sync_get_int(world *w, const char *key)
{
    redisReply *r = redisCommand(w->rt.sync, "GET %s", key);
    long long v = 0;
    char *end;

    assert_non_null(r);
    if (r->type == REDIS_REPLY_STRING) {
        v = strtoll(r->str, &end, 10);
        assert_int_equal(*end, '\0');
    }
    freeReplyObject(r);
    return v;
}

typedef struct three {
    rtask *t[3];
} three;

static int all_ran_4(void *arg)
{
    three *x = arg;
    int i;

    for (i = 0; i < 3; i++)
        if (x->t[i]->runs < 4 || x->t[i]->ended[3] == 0)
            return 0;
    return 1;
}

static void test_sg_sched_redis_tasks_from_end_of_run_and_failures(
    void **state)
{
    static const char *const incr[] = {"INCR", "sg:test:ticks"};
    static const char *const blpop[] = {"BLPOP", "sg:test:never", "0.1"};
    static const char *const broken[] = {"INCR", "sg:test:text"};
    world *w = *state;
    rtask counter = {0}, slow = {0}, bad = {0};
    three x = {{&counter, &slow, &bad}};
    redisReply *r;
    sg_sched *s;
    long long start;
    int i;

    r = redisCommand(w->rt.sync, "SET sg:test:text abc");
    freeReplyObject(r);
    counter.w = slow.w = bad.w = w;
    counter.conn = bad.conn = w->rt.conn;
    slow.conn = w->slow_conn;
    counter.argv = incr;
    counter.argc = 2;
    slow.argv = blpop;
    slow.argc = 3;
    bad.argv = broken;
    bad.argc = 2;
    assert_int_equal(sg_sched_new(w->rt.base, &w->rt.log, NULL, &s), 0);
    add(s, "counter", &counter, 40, 0);
    add(s, "slow", &slow, 40, 20);
    add(s, "broken", &bad, 40, 0);
    start = sgt_now_ms();
    assert_int_equal(sg_sched_start(s), 0);
    assert_true(sgt_loop_until(w->rt.base, all_ran_4, &x, 5000));

    assert_in_range(slow.started[0] - start, 20 - 10, 20 + LATE_MS);
    for (i = 1; i < 4; i++) {
        /* The slow run lasts about 100 ms; the interval follows it. */
        assert_in_range(slow.started[i] - slow.ended[i - 1], 40 - 10,
                        40 + LATE_MS);
        assert_true(slow.started[i] - slow.started[i - 1] >= 100 + 40 - 20);
        assert_in_range(counter.started[i] - counter.ended[i - 1], 40 - 10,
                        40 + LATE_MS);
    }
    /* Every run of the broken task failed; its schedule went on. */
    assert_int_equal(bad.failed, bad.runs - (bad.ended[bad.runs - 1] == 0));
    assert_true(sg_sched_failures(s, "broken") >= 4);
    assert_int_equal(sg_sched_failures(s, "counter"), 0);
    assert_true(sync_get_int(w, "sg:test:ticks") >= 4);
    sg_sched_free(s);
    /* The slow task's BLPOP may still be out; it ends harmlessly. */
    sgt_loop_for(w->rt.base, 150);
}

typedef struct node {
    sg_lease *lease;
    sg_sched *sched;
    rtask task;
} node;

static int gated_ran(void *arg)
{
    node *n = arg;

    return n[0].task.runs >= 8 && n[1].task.runs >= 8;
}

static void test_sg_sched_lease_gated_task_runs_on_one_node(void **state)
{
    static const char *const incr_x[] = {"INCR", "sg:test:gated:x"};
    static const char *const incr_y[] = {"INCR", "sg:test:gated:y"};
    world *w = *state;
    node n[2];
    int i;

    memset(n, 0, sizeof n);
    for (i = 0; i < 2; i++) {
        sg_lease_opts lo;

        sg_lease_opts_init(&lo);
        lo.key = "sg:leader:heartbeat";
        lo.holder = i == 0 ? "node-x" : "node-y";
        lo.ttl_ms = 1000;
        lo.renew_ms = 100;
        lo.log = &w->rt.log;
        assert_int_equal(sg_lease_new(w->rt.conn, &lo, &n[i].lease), 0);
        assert_int_equal(sg_sched_new(w->rt.base, &w->rt.log, NULL,
                                      &n[i].sched),
                         0);
        n[i].task.w = w;
        n[i].task.conn = w->rt.conn;
        n[i].task.argv = i == 0 ? incr_x : incr_y;
        n[i].task.argc = 2;
        n[i].task.gate = n[i].lease;
        add(n[i].sched, "heartbeat", &n[i].task, 30, 50);
    }
    for (i = 0; i < 2; i++) {
        assert_int_equal(sg_lease_start(n[i].lease), 0);
        assert_int_equal(sg_sched_start(n[i].sched), 0);
    }
    assert_true(sgt_loop_until(w->rt.base, gated_ran, n, 5000));
    /* Both schedules ran; only the lease holder did the work. */
    assert_true(sg_lease_held(n[0].lease) != sg_lease_held(n[1].lease));
    i = sg_lease_held(n[0].lease) ? 0 : 1;
    assert_true(n[i].task.worked >= 6);
    assert_int_equal(n[1 - i].task.worked, 0);
    assert_int_equal(sync_get_int(w, i == 0 ? "sg:test:gated:y"
                                            : "sg:test:gated:x"),
                     0);
    for (i = 0; i < 2; i++) {
        sg_sched_free(n[i].sched);
        sg_lease_free(n[i].lease);
    }
    sgt_loop_for(w->rt.base, 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_sg_sched_redis_tasks_from_end_of_run_and_failures, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_sg_sched_lease_gated_task_runs_on_one_node, setup,
            teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
