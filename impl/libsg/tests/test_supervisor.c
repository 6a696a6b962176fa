/*
 * The supervisor's task runner (sg/supervisor.h), alone (no Redis: the
 * permanent leader), on a bare event loop: restart delays and stopping.
 * The leader lease side is in it_lease.c.
 *
 * Spec IDs: SG-LEASE-006 (restart after a failure with a delay that
 * doubles up to the maximum; after a clean return, the pause and the
 * delay reset), SG-LEASE-004 (stopping cancels the runs).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <event2/event.h>

#include "sg/supervisor.h"
#include "sgt_loop.h"

#define BACKOFF_MIN 40
#define BACKOFF_MAX 100
#define PAUSE 150
#define MAX_RUNS 8
/*
 * Timers never fire early (beyond the coarse clock's few ms) but may fire
 * late on a loaded machine or under Valgrind: lower bounds are tight,
 * upper bounds only catch a schedule that went astray. The exact delays
 * are read from the supervisor's log lines.
 */
#define LATE_MS 1000
#define MAX_DELAYS 16

/* The "restarting in N ms" delays the supervisor logged, in order. */
static int delays[MAX_DELAYS];
static int ndelays;

static void capture(sg_log_level level, const char *line, void *ud)
{
    const char *p = strstr(line, "restarting in ");
    char *end;
    long v;

    (void)level;
    (void)ud;
    if (p == NULL || ndelays >= MAX_DELAYS)
        return;
    v = strtol(p + 14, &end, 10);
    if (end != p + 14 && strncmp(end, " ms", 3) == 0)
        delays[ndelays++] = (int)v;
}

/* A task whose runs end with scripted statuses, each after 5 ms. */
typedef struct script_task {
    struct event_base *base;
    struct event *ev;
    const int *outcomes;
    int noutcomes;
    int runs;
    long long started[MAX_RUNS];
    sg_task_done_fn *done;
    void *token;
    int cancels;
    int sync;                   /* end the run from inside start() */
} script_task;

static void end_run(evutil_socket_t fd, short what, void *arg)
{
    script_task *t = arg;
    int i = t->runs - 1;

    (void)fd;
    (void)what;
    t->done(t->token, i < t->noutcomes ? t->outcomes[i] : -1);
}

static int task_start(void *ud, sg_task_done_fn *done, void *token)
{
    script_task *t = ud;
    struct timeval tv = {0, 5000};

    if (t->runs < MAX_RUNS)
        t->started[t->runs] = sgt_now_ms();
    t->runs++;
    t->done = done;
    t->token = token;
    if (t->sync) {
        done(token, t->runs - 1 < t->noutcomes ? t->outcomes[t->runs - 1]
                                               : -1);
        return 0;
    }
    evtimer_add(t->ev, &tv);
    return 0;
}

static void task_cancel(void *ud)
{
    script_task *t = ud;

    evtimer_del(t->ev);
    t->cancels++;
}

static sg_supervisor *new_sup(struct event_base *base, script_task *t)
{
    static sg_log log = {SG_LOG_INFO, capture, NULL};
    sg_supervisor_opts o;
    sg_supervisor *sup;
    sg_task_def def;

    sg_supervisor_opts_init(&o);
    o.log = &log;
    ndelays = 0;
    o.backoff_min_ms = BACKOFF_MIN;
    o.backoff_max_ms = BACKOFF_MAX;
    o.pause_ms = PAUSE;
    assert_int_equal(sg_supervisor_new(base, NULL, &o, &sup), 0);
    memset(&def, 0, sizeof def);
    def.name = "flaky";
    def.start = task_start;
    def.cancel = task_cancel;
    def.ud = t;
    assert_int_equal(sg_supervisor_add(sup, &def), 0);
    return sup;
}

static int runs_at_least_6(void *arg)
{
    return ((script_task *)arg)->runs >= 6;
}

static void check_gap(const script_task *t, int i, int expected, int run_ms)
{
    long long gap = t->started[i] - t->started[i - 1];

    /* From start to start: the run's own length, then the delay. */
    assert_in_range(gap, expected + run_ms - 10, expected + run_ms + LATE_MS);
    assert_int_equal(delays[i - 1], expected);
}

static void run_backoff(int sync)
{
    /* fail, fail, fail, fail, ok, fail */
    static const int outcomes[] = {-1, -1, -1, -1, 0, -1};
    struct event_base *base = event_base_new();
    script_task t;
    sg_supervisor *sup;
    int run_ms = sync ? 0 : 5;

    assert_non_null(base);
    memset(&t, 0, sizeof t);
    t.base = base;
    t.ev = evtimer_new(base, end_run, &t);
    t.outcomes = outcomes;
    t.noutcomes = 6;
    t.sync = sync;
    sup = new_sup(base, &t);
    assert_int_equal(t.runs, 0);            /* nothing before start */
    assert_int_equal(sg_supervisor_start(sup), 0);
    assert_true(sg_supervisor_is_leader(sup));
    assert_int_equal(t.runs, 1);            /* the first run at once */
    assert_true(sgt_loop_until(base, runs_at_least_6, &t, 5000));
    check_gap(&t, 1, BACKOFF_MIN, run_ms);          /* 1st failure */
    check_gap(&t, 2, 2 * BACKOFF_MIN, run_ms);      /* doubled */
    check_gap(&t, 3, BACKOFF_MAX, run_ms);          /* capped */
    check_gap(&t, 4, BACKOFF_MAX, run_ms);
    check_gap(&t, 5, PAUSE, run_ms);                /* clean return */
    assert_int_equal(sg_supervisor_runs(sup, "flaky"), 6);
    sg_supervisor_free(sup);
    event_free(t.ev);
    event_base_free(base);
}

static void test_sg_supervisor_restart_delays_async_runs(void **state)
{
    (void)state;
    run_backoff(0);
}

static void test_sg_supervisor_restart_delays_runs_ended_in_start(
    void **state)
{
    (void)state;
    run_backoff(1);
}

static int runs_at_least_7(void *arg)
{
    return ((script_task *)arg)->runs >= 7;
}

static void test_sg_supervisor_clean_return_resets_backoff(void **state)
{
    /* fail, fail, ok, fail: the last delay is the minimum again. */
    static const int outcomes[] = {-1, -1, 0, -1, 0, 0, 0};
    struct event_base *base = event_base_new();
    script_task t;
    sg_supervisor *sup;

    (void)state;
    memset(&t, 0, sizeof t);
    t.base = base;
    t.ev = evtimer_new(base, end_run, &t);
    t.outcomes = outcomes;
    t.noutcomes = 7;
    t.sync = 1;
    sup = new_sup(base, &t);
    assert_int_equal(sg_supervisor_start(sup), 0);
    assert_true(sgt_loop_until(base, runs_at_least_7, &t, 5000));
    check_gap(&t, 1, BACKOFF_MIN, 0);
    check_gap(&t, 2, 2 * BACKOFF_MIN, 0);
    check_gap(&t, 3, PAUSE, 0);
    check_gap(&t, 4, BACKOFF_MIN, 0);
    check_gap(&t, 5, PAUSE, 0);
    sg_supervisor_free(sup);
    event_free(t.ev);
    event_base_free(base);
}

static void test_sg_supervisor_stop_cancels_running_task(void **state)
{
    static const int outcomes[] = {0};
    struct event_base *base = event_base_new();
    script_task t;
    sg_supervisor *sup;

    (void)state;
    memset(&t, 0, sizeof t);
    t.base = base;
    t.ev = evtimer_new(base, end_run, &t);
    t.outcomes = outcomes;
    t.noutcomes = 1;
    sup = new_sup(base, &t);
    assert_int_equal(sg_supervisor_start(sup), 0);
    assert_true(sg_supervisor_running(sup, "flaky"));
    assert_int_equal(sg_supervisor_stop(sup), 0);
    assert_false(sg_supervisor_is_leader(sup));
    assert_false(sg_supervisor_running(sup, "flaky"));
    assert_int_equal(t.cancels, 1);
    /* Nothing runs while stopped. */
    sgt_loop_for(base, 60);
    assert_int_equal(t.runs, 1);
    /* Started again, it runs again. */
    assert_int_equal(sg_supervisor_start(sup), 0);
    assert_int_equal(t.runs, 2);
    sg_supervisor_free(sup);
    assert_int_equal(t.cancels, 2);
    event_free(t.ev);
    event_base_free(base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sg_supervisor_restart_delays_async_runs),
        cmocka_unit_test(
            test_sg_supervisor_restart_delays_runs_ended_in_start),
        cmocka_unit_test(test_sg_supervisor_clean_return_resets_backoff),
        cmocka_unit_test(test_sg_supervisor_stop_cancels_running_task),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
