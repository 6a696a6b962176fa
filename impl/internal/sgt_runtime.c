/*
 * sgt_runtime.c: see sgt_runtime.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "sgt_runtime.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "sg/codec.h"

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
    rt->base = sg_event_base_new();
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

long long sgt_int(sgt_runtime *rt, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    long long v = -1;

    va_start(ap, fmt);
    r = redisvCommand(rt->sync, fmt, ap);
    va_end(ap);
    if (r != NULL && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    freeReplyObject(r);
    return v;
}

void sgt_str(sgt_runtime *rt, char *out, size_t cap, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(rt->sync, fmt, ap);
    va_end(ap);
    if (cap > 0)
        out[0] = '\0';
    if (r != NULL && r->type == REDIS_REPLY_STRING && cap > 0)
        snprintf(out, cap, "%s", r->str);
    freeReplyObject(r);
}

long long sgt_pending(sgt_runtime *rt, const char *stream, const char *group)
{
    redisReply *r = redisCommand(rt->sync, "XPENDING %s %s", stream, group);
    long long n = -1;

    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_INTEGER)
        n = r->element[0]->integer;
    freeReplyObject(r);
    return n;
}

int sgt_publish_inbound(sgt_runtime *rt, const char *channel,
                        const char *content, int addressed, char *id,
                        size_t cap)
{
    sg_envelope env;
    sg_buf buf;
    sg_error err;
    redisReply *r = NULL;
    int rc = -1;

    sg_envelope_init(&env, SG_KIND_INBOUND);
    env.u.in.platform = SG_STR("test");
    env.u.in.channel_id.ptr = channel;
    env.u.in.channel_id.len = strlen(channel);
    env.u.in.content.ptr = content;
    env.u.in.content.len = strlen(content);
    env.u.in.is_addressed = addressed != 0;
    sg_buf_init(&buf, NULL);
    if (sg_envelope_encode(&env, &buf, &err) == 0)
        r = redisCommand(rt->sync,
                         "XADD %s * data %b ts 1700000000.5 trace_id %s",
                         rt->topo.inbound_stream, buf.data, buf.len,
                         "0123456789abcdef0123456789abcdef");
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        if (id != NULL && cap > 0)
            snprintf(id, cap, "%s", r->str);
        rc = 0;
    }
    freeReplyObject(r);
    sg_buf_destroy(&buf);
    return rc;
}
