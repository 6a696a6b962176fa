/*
 * sg/sched.h: periodic tasks on the caller's event loop (SPEC section 19,
 * SG-SCHED-001 and SG-SCHED-002).
 *
 * A task runs first one initial delay after the scheduler starts, and
 * then one interval after the END of each run, so that a slow run never
 * overlaps the next and a run that takes longer than its interval does not
 * make runs pile up. A run is asynchronous: the task's function begins it
 * and returns; the run ends when done(token, ok) is called. A failed run
 * is logged and changes nothing else: the same task runs again one
 * interval later, and other tasks are not affected.
 *
 *     sg_sched *s;
 *     sg_sched_new(base, log, &s);
 *     sg_sched_add(s, &(sg_sched_task){ .name = "channel_heartbeat",
 *                  .fn = heartbeat, .ud = me, .interval_ms = 86400000,
 *                  .initial_delay_ms = 120000 });
 *     sg_sched_start(s);
 *
 * A task whose effect is visible on the bus runs on one node at a time
 * (SG-SCHED-003): its function checks a lease (sg/lease.h) and ends the
 * run at once, ok, when this node does not hold it.
 */
#ifndef SG_SCHED_H
#define SG_SCHED_H

#include "sg/log.h"
#include "sg/mem.h"

#ifdef __cplusplus
extern "C" {
#endif

struct event_base;

typedef struct sg_sched sg_sched;

/* Ends a run: ok nonzero for success. token is the one fn was given. */
typedef void sg_sched_done_fn(void *token, int ok);

/*
 * Begins one run, which ends with done(token, ok), possibly from inside
 * this call. Returns 0, or a negative code for a run that failed to start
 * (then done must not be called; the failure is logged like any other).
 */
typedef int sg_sched_fn(void *ud, sg_sched_done_fn *done, void *token);

typedef struct sg_sched_task {
    const char *name;           /* required; copied */
    sg_sched_fn *fn;            /* required */
    /*
     * Ends a run in progress when the scheduler stops; done must not be
     * called after it. NULL: a run in progress at stop is left to end by
     * itself, and its done() is then ignored (its token stays valid until
     * then, even after sg_sched_free()).
     */
    void (*cancel)(void *ud);
    void *ud;
    int interval_ms;            /* > 0 */
    int initial_delay_ms;       /* >= 0 */
} sg_sched_task;

/*
 * Creates a scheduler on base. log NULL: stderr. mem NULL: the default
 * allocator. 0 and *out, or SG_EINVAL / SG_ENOMEM.
 */
int sg_sched_new(struct event_base *base, const sg_log *log,
                 const sg_mem *mem, sg_sched **out);

/*
 * Registers a task (the struct is copied). A task added after
 * sg_sched_start() gets its initial delay from now. 0, SG_EINVAL or
 * SG_ENOMEM.
 */
int sg_sched_add(sg_sched *s, const sg_sched_task *task);

/* Arms every task's first run. 0, or SG_EINVAL when already started. */
int sg_sched_start(sg_sched *s);

/*
 * Stops: every timer is cancelled and every run in progress cancelled
 * (see sg_sched_task.cancel). The scheduler may be started again.
 */
void sg_sched_stop(sg_sched *s);

/* Stops and frees. NULL is a no-op. Not from inside a task's run. */
void sg_sched_free(sg_sched *s);

/* Per task, by name: runs begun, runs that failed, and whether one runs. */
unsigned sg_sched_runs(const sg_sched *s, const char *name);
unsigned sg_sched_failures(const sg_sched *s, const char *name);
int sg_sched_running(const sg_sched *s, const char *name);

#ifdef __cplusplus
}
#endif

#endif /* SG_SCHED_H */
