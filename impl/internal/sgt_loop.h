/*
 * Driving a libevent loop in tests: run it until a condition holds, with a
 * deadline, instead of sleeping a fixed time and hoping.
 *
 *     if (!sgt_loop_until(base, conn_is_up, conn, 5000))
 *         fail();
 *
 * Test support code, not libsg.
 */
#ifndef SGT_LOOP_H
#define SGT_LOOP_H

struct event_base;

typedef int sgt_cond_fn(void *arg);

/*
 * Runs base until cond(arg) is nonzero (checked before each loop pass and
 * at least every 5 ms) or timeout_ms has passed. Returns 1 when the
 * condition held, 0 on timeout.
 */
int sgt_loop_until(struct event_base *base, sgt_cond_fn *cond, void *arg,
                   int timeout_ms);

/* Runs base for ms milliseconds, for checks that nothing happens. */
void sgt_loop_for(struct event_base *base, int ms);

/* Monotonic milliseconds. */
long long sgt_now_ms(void);

#endif /* SGT_LOOP_H */
