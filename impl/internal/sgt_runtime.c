/*
 * sgt_runtime.c: see sgt_runtime.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "sgt_runtime.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

/* Counted so that a test can wait for conn to come back after a restart. */
static void on_conn_state(sg_conn *conn, int up, void *ud)
{
    (void)conn;
    if (up)
        ((sgt_runtime *)ud)->conn_ups++;
}

int sgt_runtime_start(sgt_runtime *rt, const sgt_redis_opts *ro)
{
    sg_conn_opts o;

    memset(rt, 0, sizeof *rt);
    if (sgt_redis_start(&rt->redis, ro) != 0) {
        fprintf(stderr, "%s\n", rt->redis.errstr);
        return -1;
    }
    rt->base = event_base_new();
    rt->sync = sgt_redis_connect(&rt->redis);
    sg_log_init(&rt->log);
    rt->log.level = getenv("SG_TEST_DEBUG") != NULL ? SG_LOG_DEBUG
                                                    : SG_LOG_OFF;
    sg_conn_opts_init(&o);
    o.host = rt->redis.host;
    o.port = rt->redis.port;
    o.name = "commands";
    o.backoff_min_ms = 20;
    o.backoff_max_ms = 100;
    o.log = &rt->log;
    o.on_state = on_conn_state;
    o.ud = rt;
    if (rt->base == NULL || rt->sync == NULL ||
        sg_conn_new(rt->base, &o, &rt->conn) != 0) {
        fprintf(stderr, "sgt_runtime_start: no loop or connection\n");
        sgt_runtime_stop(rt);
        return -1;
    }
    sg_topology_init(&rt->topo);
    sg_knobs_init(&rt->knobs);
    rt->knobs.block_ms = 100;
    return 0;
}

void sgt_runtime_stop(sgt_runtime *rt)
{
    sg_conn_free(rt->conn);
    rt->conn = NULL;
    if (rt->base != NULL)
        event_base_free(rt->base);
    rt->base = NULL;
    if (rt->sync != NULL)
        redisFree(rt->sync);
    rt->sync = NULL;
    sgt_redis_stop(&rt->redis);
}
