/* Running a libevent loop until a condition holds (sgt_loop.h). */
#define _POSIX_C_SOURCE 200809L

#include "sgt_loop.h"

#include <time.h>

#include <event2/event.h>

long long sgt_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

int sgt_loop_until(struct event_base *base, sgt_cond_fn *cond, void *arg,
                   int timeout_ms)
{
    long long deadline = sgt_now_ms() + timeout_ms;
    struct timeval tv = {0, 5000};
    struct event *ev;
    int ok = 0;

    /* A ticking timer bounds each pass, so the deadline is honoured. */
    ev = event_new(base, -1, EV_PERSIST, tick, NULL);
    if (ev == NULL)
        return 0;
    event_add(ev, &tv);
    for (;;) {
        if (cond != NULL && cond(arg)) {
            ok = 1;
            break;
        }
        if (sgt_now_ms() >= deadline)
            break;
        event_base_loop(base, EVLOOP_ONCE);
    }
    event_free(ev);
    return ok;
}

void sgt_loop_for(struct event_base *base, int ms)
{
    sgt_loop_until(base, NULL, NULL, ms);
}
