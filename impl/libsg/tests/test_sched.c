/*
 * The periodic scheduler (sg/sched.h) on a bare event loop: when runs
 * begin, failures, and stopping.
 *
 * Spec IDs: SG-SCHED-001 (first run one initial delay after start; each
 * next run one interval after the end of the previous one), SG-SCHED-002
 * (a failed run is logged and changes no schedule).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include <event2/event.h>

#include "sg/error.h"
#include "sg/sched.h"
#include "sgt_loop.h"

#define MAX_RUNS 16
/*
 * Timers never fire early (beyond the coarse clock's few ms) but may fire
 * late on a loaded machine or under Valgrind: lower bounds are tight,
 * upper bounds only catch a schedule that went astray.
 */
#define LATE_MS 1000

static sg_log quiet = {SG_LOG_OFF, NULL, NULL};

/* A task whose runs last run_ms, then end ok or not. */
typedef struct ptask {
    struct event *ev;
    int run_ms;
    int fail_every;             /* every n-th run fails; 0: none */
    int refuse_every;           /* every n-th run fails to start */
    int runs;
    int cancels;
    long long started[MAX_RUNS];
    long long ended[MAX_RUNS];
    sg_sched_done_fn *done;
    void *token;
} ptask;

static void end_run(evutil_socket_t fd, short what, void *arg)
{
    ptask *t = arg;
    int i = t->runs - 1;

    (void)fd;
    (void)what;
    if (i < MAX_RUNS)
        t->ended[i] = sgt_now_ms();
    t->done(t->token, !(t->fail_every > 0 && t->runs % t->fail_every == 0));
}

static int task_fn(void *ud, sg_sched_done_fn *done, void *token)
{
    ptask *t = ud;
    struct timeval tv;

    if (t->runs < MAX_RUNS)
        t->started[t->runs] = sgt_now_ms();
    t->runs++;
    if (t->refuse_every > 0 && t->runs % t->refuse_every == 0) {
        if (t->runs - 1 < MAX_RUNS)
            t->ended[t->runs - 1] = sgt_now_ms();
        return SG_EIO;
    }
    t->done = done;
    t->token = token;
    tv.tv_sec = 0;
    tv.tv_usec = t->run_ms * 1000;
    evtimer_add(t->ev, &tv);
    return 0;
}

static void task_cancel(void *ud)
{
    ptask *t = ud;

    evtimer_del(t->ev);
    t->cancels++;
}

static void add(sg_sched *s, const char *name, ptask *t, int interval,
                int initial, int with_cancel)
{
    sg_sched_task st;

    memset(&st, 0, sizeof st);
    st.name = name;
    st.fn = task_fn;
    st.cancel = with_cancel ? task_cancel : NULL;
    st.ud = t;
    st.interval_ms = interval;
    st.initial_delay_ms = initial;
    assert_int_equal(sg_sched_add(s, &st), 0);
}

static int at_least_4(void *arg)
{
    return ((ptask *)arg)->runs >= 4 && ((ptask *)arg)->ended[3] != 0;
}

static void test_sg_sched_interval_counts_from_end_of_run(void **state)
{
    struct event_base *base = event_base_new();
    ptask t;
    sg_sched *s;
    long long started;
    int i;

    (void)state;
    memset(&t, 0, sizeof t);
    t.ev = evtimer_new(base, end_run, &t);
    t.run_ms = 60;
    assert_int_equal(sg_sched_new(base, &quiet, NULL, &s), 0);
    add(s, "slow", &t, 50, 30, 1);
    sgt_loop_for(base, 50);
    assert_int_equal(t.runs, 0);            /* nothing before start */
    started = sgt_now_ms();
    assert_int_equal(sg_sched_start(s), 0);
    assert_true(sgt_loop_until(base, at_least_4, &t, 5000));
    assert_in_range(t.started[0] - started, 30 - 10, 30 + LATE_MS);
    for (i = 1; i < 4; i++) {
        /* One interval after the end, not after the start. */
        assert_in_range(t.started[i] - t.ended[i - 1], 50 - 10,
                        50 + LATE_MS);
        assert_true(t.started[i] - t.started[i - 1] >= 60 + 50 - 10);
    }
    assert_int_equal(sg_sched_runs(s, "slow"), (unsigned)t.runs);
    sg_sched_free(s);
    event_free(t.ev);
    event_base_free(base);
}

static int both_at_least_6(void *arg)
{
    ptask *t = arg;

    return t[0].runs >= 6 && t[1].runs >= 6;
}

static void test_sg_sched_failures_keep_every_schedule(void **state)
{
    struct event_base *base = event_base_new();
    ptask t[2];
    sg_sched *s;

    (void)state;
    memset(t, 0, sizeof t);
    t[0].ev = evtimer_new(base, end_run, &t[0]);
    t[0].run_ms = 1;
    t[0].fail_every = 2;        /* runs 2, 4, 6 fail */
    t[0].refuse_every = 3;      /* runs 3, 6 do not even start */
    t[1].ev = evtimer_new(base, end_run, &t[1]);
    t[1].run_ms = 1;
    assert_int_equal(sg_sched_new(base, &quiet, NULL, &s), 0);
    add(s, "flaky", &t[0], 20, 0, 1);
    add(s, "steady", &t[1], 20, 0, 1);
    assert_int_equal(sg_sched_start(s), 0);
    assert_true(sgt_loop_until(base, both_at_least_6, t, 5000));
    /* Failures were counted and the schedule went on. */
    assert_true(sg_sched_failures(s, "flaky") >= 3);
    assert_int_equal(sg_sched_failures(s, "steady"), 0);
    assert_in_range(t[0].started[3] - t[0].ended[2], 20 - 10,
                    20 + LATE_MS);
    sg_sched_free(s);
    event_free(t[0].ev);
    event_free(t[1].ev);
    event_base_free(base);
}

static int running(void *arg)
{
    return ((ptask *)arg)->runs >= 1;
}

static void test_sg_sched_stop_cancels_timers_and_runs(void **state)
{
    struct event_base *base = event_base_new();
    ptask t, u;
    sg_sched *s;

    (void)state;
    memset(&t, 0, sizeof t);
    memset(&u, 0, sizeof u);
    t.ev = evtimer_new(base, end_run, &t);
    t.run_ms = 200;
    u.ev = evtimer_new(base, end_run, &u);
    u.run_ms = 200;
    assert_int_equal(sg_sched_new(base, &quiet, NULL, &s), 0);
    add(s, "cancellable", &t, 20, 0, 1);
    add(s, "left_alone", &u, 20, 0, 0);
    assert_int_equal(sg_sched_start(s), 0);
    assert_true(sgt_loop_until(base, running, &t, 5000));
    assert_true(sgt_loop_until(base, running, &u, 5000));
    assert_true(sg_sched_running(s, "cancellable"));
    sg_sched_stop(s);
    assert_int_equal(t.cancels, 1);
    assert_false(sg_sched_running(s, "cancellable"));
    assert_false(sg_sched_running(s, "left_alone"));
    /* Freed with a run still going: its done() later is harmless. */
    sg_sched_free(s);
    sgt_loop_for(base, 300);
    assert_int_equal(t.runs, 1);
    assert_int_equal(u.runs, 1);
    assert_int_not_equal(u.ended[0], 0);
    event_free(t.ev);
    event_free(u.ev);
    event_base_free(base);
}

static void test_sg_sched_add_rejects_bad_tasks(void **state)
{
    struct event_base *base = event_base_new();
    sg_sched_task st;
    sg_sched *s;

    (void)state;
    assert_int_equal(sg_sched_new(base, &quiet, NULL, &s), 0);
    memset(&st, 0, sizeof st);
    st.name = "x";
    st.fn = task_fn;
    assert_int_equal(sg_sched_add(s, &st), SG_EINVAL);   /* interval 0 */
    st.interval_ms = 10;
    st.initial_delay_ms = -1;
    assert_int_equal(sg_sched_add(s, &st), SG_EINVAL);
    st.initial_delay_ms = 0;
    st.fn = NULL;
    assert_int_equal(sg_sched_add(s, &st), SG_EINVAL);
    assert_int_equal(sg_sched_start(s), 0);
    assert_int_equal(sg_sched_start(s), SG_EINVAL);
    sg_sched_free(s);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sg_sched_interval_counts_from_end_of_run),
        cmocka_unit_test(test_sg_sched_failures_keep_every_schedule),
        cmocka_unit_test(test_sg_sched_stop_cancels_timers_and_runs),
        cmocka_unit_test(test_sg_sched_add_rejects_bad_tasks),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
