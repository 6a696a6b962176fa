/*
 * What the runtime's integration tests stand on: a private redis-server, a
 * libevent loop, a synchronous hiredis connection for the test's own
 * checks, and a libsg command connection with the default names and
 * knobs a test then adjusts.
 *
 *     sgt_runtime rt;
 *     if (sgt_runtime_start(&rt, NULL) != 0)
 *         return -1;
 *     rt.knobs.lock_ttl_ms = 2000;
 *     ...
 *     sgt_runtime_stop(&rt);
 *
 * Test support code, not libsg.
 */
#ifndef SGT_RUNTIME_H
#define SGT_RUNTIME_H

#include <stddef.h>

#include <hiredis/hiredis.h>

#include "sg/config.h"
#include "sg/conn.h"
#include "sg/log.h"
#include "sg_redis_fixture.h"

struct event_base;

typedef struct sgt_runtime {
    sgt_redis redis;
    struct event_base *base;
    redisContext *sync;         /* the test's own commands */
    sg_conn *conn;              /* "commands", reconnecting in 20-100 ms */
    sg_topology topo;           /* the defaults */
    sg_knobs knobs;             /* the defaults, block_ms 100 */
    sg_log log;                 /* off; debug with SG_TEST_DEBUG set */
    int conn_ups;               /* times conn came up, as on_state said */
} sgt_runtime;

/*
 * Starts it all; ro as for sgt_redis_start() (NULL: defaults). 0, or -1
 * with the reason on stderr and nothing left running. After 0, stop with
 * sgt_runtime_stop(); rt must not move until then (conn's state callback
 * holds its address).
 */
int sgt_runtime_start(sgt_runtime *rt, const sgt_redis_opts *ro);

/* Frees the connections and the loop and stops the server. */
void sgt_runtime_stop(sgt_runtime *rt);

/*
 * The test's own commands, on rt->sync, formatted as redisCommand() does.
 * sgt_int: the integer reply, or -1 for any other reply or none.
 * sgt_str: the string reply into out (cap bytes, cut to fit), "" for any
 * other reply or none.
 */
long long sgt_int(sgt_runtime *rt, const char *fmt, ...);
void sgt_str(sgt_runtime *rt, char *out, size_t cap, const char *fmt, ...);

/* The number of entries pending in group on stream (XPENDING); -1: none. */
long long sgt_pending(sgt_runtime *rt, const char *stream, const char *group);

/*
 * Publishes an inbound envelope on the inbound stream as a gateway would
 * (platform "test", ts and a trace_id). Its entry ID into id (cap bytes)
 * when id is not NULL. 0, or -1 when it could not be encoded or added.
 */
int sgt_publish_inbound(sgt_runtime *rt, const char *channel,
                        const char *content, int addressed, char *id,
                        size_t cap);

#endif /* SGT_RUNTIME_H */
