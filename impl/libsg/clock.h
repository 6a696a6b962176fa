/*
 * clock.h: the two clocks of the stream runtime, in milliseconds.
 *
 * Durations (timeouts, intervals, lease validity) are measured on the
 * monotonic clock, which never jumps. Values that go on the bus (the `ts`
 * framing field, a tools request's absolute `deadline_ms`) use the wall
 * clock, since other processes compare them with theirs.
 */
#ifndef SG_CLOCK_H
#define SG_CLOCK_H

#include <stdint.h>

struct timeval;

/* Milliseconds on the monotonic clock, from an arbitrary origin. */
uint64_t sg__mono_ms(void);

/* Milliseconds since the Unix epoch on the wall clock. */
int64_t sg__wall_ms(void);

/* ms as a struct timeval, for evtimer_add(). */
void sg__ms_to_tv(uint64_t ms, struct timeval *tv);

#endif /* SG_CLOCK_H */
