/*
 * Periodic tasks (sg/sched.h): one timer per task, armed for the first run
 * at start and for each next run when the previous one ends.
 *
 * The token a run is given is a small record of its own, so that a run
 * abandoned at stop (a task without cancel) can still end harmlessly,
 * after the scheduler was started again or freed.
 */
#define _POSIX_C_SOURCE 200809L

#include "sg/sched.h"

#include "clock.h"
#include "sg/error.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

typedef struct job job;
typedef struct run run;

struct run {
    job *job;                   /* NULL once abandoned */
    const sg_mem *mem;
};

struct job {
    job *next;
    sg_sched *s;
    char *name;
    sg_sched_fn *fn;
    void (*cancel)(void *ud);
    void *ud;
    int interval_ms;
    int initial_delay_ms;
    struct event *ev;
    run *current;
    unsigned runs;
    unsigned failures;
};

struct sg_sched {
    struct event_base *base;
    const sg_log *log;
    const sg_mem *mem;
    int started;
    job *jobs;
};

static void arm(job *j, int delay_ms)
{
    struct timeval tv;

    /*
     * libevent counts a timer from the time it cached when the loop
     * woke; a run can end long after that, and the interval must count
     * from its real end (SG-SCHED-001).
     */
    event_base_update_cache_time(j->s->base);
    sg__ms_to_tv((uint64_t)delay_ms, &tv);
    evtimer_add(j->ev, &tv);
}

static void on_done(void *token, int ok)
{
    run *r = token;
    job *j = r->job;

    r->mem->free(r, r->mem->ud);
    if (j == NULL)
        return;                 /* abandoned at stop */
    j->current = NULL;
    if (!ok) {
        j->failures++;
        sg_logf(j->s->log, SG_LOG_WARN,
                "periodic task %s failed; next run in %d ms", j->name,
                j->interval_ms);
    }
    if (j->s->started)
        arm(j, j->interval_ms);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    job *j = arg;
    run *r;
    int rc;

    (void)fd;
    (void)what;
    if (j->current != NULL)
        return;
    r = j->s->mem->malloc(sizeof *r, j->s->mem->ud);
    if (r == NULL) {
        sg_logf(j->s->log, SG_LOG_ERROR,
                "periodic task %s: out of memory; next run in %d ms",
                j->name, j->interval_ms);
        j->failures++;
        arm(j, j->interval_ms);
        return;
    }
    r->job = j;
    r->mem = j->s->mem;
    j->current = r;
    j->runs++;
    rc = j->fn(j->ud, on_done, r);
    /*
     * A run that failed to start ends here, unless it already ended (no
     * other run can have begun meanwhile: runs begin from this timer).
     */
    if (rc != 0 && j->current != NULL) {
        sg_logf(j->s->log, SG_LOG_WARN, "periodic task %s did not start: %s",
                j->name, sg_strerror(rc));
        on_done(j->current, 0);
    }
}

int sg_sched_new(struct event_base *base, const sg_log *log,
                 const sg_mem *mem, sg_sched **out)
{
    sg_sched *s;

    *out = NULL;
    if (base == NULL)
        return SG_EINVAL;
    if (mem == NULL)
        mem = sg_mem_default();
    s = mem->malloc(sizeof *s, mem->ud);
    if (s == NULL)
        return SG_ENOMEM;
    memset(s, 0, sizeof *s);
    s->base = base;
    s->log = log;
    s->mem = mem;
    *out = s;
    return 0;
}

int sg_sched_add(sg_sched *s, const sg_sched_task *task)
{
    job *j, **tail;
    size_t n;

    if (task == NULL || task->name == NULL || task->fn == NULL ||
        task->interval_ms <= 0 || task->initial_delay_ms < 0)
        return SG_EINVAL;
    j = s->mem->malloc(sizeof *j, s->mem->ud);
    if (j == NULL)
        return SG_ENOMEM;
    memset(j, 0, sizeof *j);
    n = strlen(task->name) + 1;
    j->name = s->mem->malloc(n, s->mem->ud);
    j->ev = evtimer_new(s->base, on_timer, j);
    if (j->name == NULL || j->ev == NULL) {
        if (j->ev != NULL)
            event_free(j->ev);
        s->mem->free(j->name, s->mem->ud);
        s->mem->free(j, s->mem->ud);
        return SG_ENOMEM;
    }
    memcpy(j->name, task->name, n);
    j->s = s;
    j->fn = task->fn;
    j->cancel = task->cancel;
    j->ud = task->ud;
    j->interval_ms = task->interval_ms;
    j->initial_delay_ms = task->initial_delay_ms;
    for (tail = &s->jobs; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = j;
    if (s->started)
        arm(j, j->initial_delay_ms);
    return 0;
}

int sg_sched_start(sg_sched *s)
{
    job *j;

    if (s->started)
        return SG_EINVAL;
    s->started = 1;
    for (j = s->jobs; j != NULL; j = j->next)
        arm(j, j->initial_delay_ms);
    return 0;
}

void sg_sched_stop(sg_sched *s)
{
    job *j;

    s->started = 0;
    for (j = s->jobs; j != NULL; j = j->next) {
        run *r = j->current;

        evtimer_del(j->ev);
        if (r == NULL)
            continue;
        j->current = NULL;
        if (j->cancel != NULL) {
            j->cancel(j->ud);
            r->mem->free(r, r->mem->ud);
        } else {
            r->job = NULL;      /* freed by its done() */
        }
    }
}

void sg_sched_free(sg_sched *s)
{
    job *j;

    if (s == NULL)
        return;
    sg_sched_stop(s);
    while ((j = s->jobs) != NULL) {
        s->jobs = j->next;
        event_free(j->ev);
        s->mem->free(j->name, s->mem->ud);
        s->mem->free(j, s->mem->ud);
    }
    s->mem->free(s, s->mem->ud);
}

static const job *find(const sg_sched *s, const char *name)
{
    const job *j;

    for (j = s->jobs; j != NULL; j = j->next)
        if (strcmp(j->name, name) == 0)
            return j;
    return NULL;
}

unsigned sg_sched_runs(const sg_sched *s, const char *name)
{
    const job *j = find(s, name);

    return j != NULL ? j->runs : 0;
}

unsigned sg_sched_failures(const sg_sched *s, const char *name)
{
    const job *j = find(s, name);

    return j != NULL ? j->failures : 0;
}

int sg_sched_running(const sg_sched *s, const char *name)
{
    const job *j = find(s, name);

    return j != NULL && j->current != NULL;
}
