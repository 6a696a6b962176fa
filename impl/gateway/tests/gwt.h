/*
 * gwt.h: what the gateway's integration tests share: a world with a
 * private redis-server, the gateway core running in-process on the
 * test's loop, a libsg bus to play the worker (publishing outbound
 * envelopes), an RPC client, HTTP requests through gw_curl on the same
 * loop, and a raw event-stream reader. Header-only (each test is one
 * source file); everything waits on state with a deadline, never sleeps.
 */
#ifndef GWT_H
#define GWT_H

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "sg/bus.h"
#include "sg/codec.h"
#include "sg/conn.h"
#include "sg/rpc.h"

#include "gw.h"
#include "gw_curl.h"
#include "sg_redis_fixture.h"
#include "sgt_loop.h"

#define GWT_WAIT_MS 30000           /* valgrind is slow */

typedef struct gwt_kv {
    const char *k;
    const char *v;
} gwt_kv;

typedef struct gwt {
    sgt_redis redis;
    struct event_base *base;
    redisContext *sync;
    sg_conn *conn;
    sg_bus *bus;
    sg_rpc *rpc;
    gw_curl *curl;
    sg_log log;
    sg_topology topo;
    gw_config cfg;
    gw *g;
    int stopped;
    int stop_requested;
    int console_fd;               /* console input; set before the start */
    FILE *console_out;            /* NULL: stdout */
    gwt_kv env[32];
    int nenv;
} gwt;

static inline const char *gwt_lookup(const char *name, void *ud)
{
    gwt *w = ud;
    int i;

    for (i = 0; i < w->nenv; i++)
        if (strcmp(w->env[i].k, name) == 0)
            return w->env[i].v;
    return NULL;
}

static inline void gwt_setenv(gwt *w, const char *k, const char *v)
{
    assert_true(w->nenv < 32);
    w->env[w->nenv].k = k;
    w->env[w->nenv].v = v;
    w->nenv++;
}

static inline void gwt_on_stop_request(void *ud)
{
    ((gwt *)ud)->stop_requested = 1;
}

static inline int gwt_ready(void *arg)
{
    return gw_is_ready(((gwt *)arg)->g);
}

/* Starts redis and the world's clients; the caller adds variables. */
static inline int gwt_open(gwt *w)
{
    sg_conn_opts co;
    sg_bus_opts bo;
    sg_rpc_opts ro;

    memset(w, 0, sizeof *w);
    /* As sg-gateway's main does: a browser gone away is EPIPE, not death. */
    signal(SIGPIPE, SIG_IGN);
    if (sgt_redis_start(&w->redis, NULL) != 0) {
        fprintf(stderr, "%s\n", w->redis.errstr);
        return -1;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    w->base = event_base_new();
    w->sync = sgt_redis_connect(&w->redis);
    sg_log_init(&w->log);
    w->log.level = getenv("SG_TEST_DEBUG") != NULL ? SG_LOG_DEBUG
                                                   : SG_LOG_OFF;
    sg_conn_opts_init(&co);
    co.host = w->redis.host;
    co.port = w->redis.port;
    co.log = &w->log;
    if (w->base == NULL || w->sync == NULL ||
        sg_conn_new(w->base, &co, &w->conn) != 0)
        return -1;
    sg_topology_init(&w->topo);
    sg_bus_opts_init(&bo);
    bo.conn = w->conn;
    bo.topo = &w->topo;
    bo.log = &w->log;
    if (sg_bus_new(&bo, &w->bus) != 0)
        return -1;
    sg_rpc_opts_init(&ro);
    ro.timeout_ms = 10000;
    ro.log = &w->log;
    if (sg_rpc_new(w->conn, &ro, &w->rpc) != 0)
        return -1;
    w->curl = gw_curl_new(w->base);
    if (w->curl == NULL)
        return -1;
    gwt_setenv(w, "REDIS_URL", w->redis.url);
    gwt_setenv(w, "SG_INSTANCE_ID", "gateway-test");
    gwt_setenv(w, "SG_METRICS_LISTEN", "127.0.0.1:0");
    gwt_setenv(w, "SG_WEBCHAT_LISTEN", "127.0.0.1:0");
    gwt_setenv(w, "SG_HTTP_PLATFORM_LISTEN", "127.0.0.1:0");
    gwt_setenv(w, "SG_BLOCK_MS", "100");
    gwt_setenv(w, "SG_DRAIN_MS", "3000");
    return 0;
}

/* Starts the gateway with the variables given; waits for "ready". */
static inline int gwt_start_gateway(gwt *w)
{
    gw_opts o;
    char err[256];

    if (gw_config_from_lookup(&w->cfg, gwt_lookup, w, "sg-gateway", err,
                              sizeof err) != 0) {
        fprintf(stderr, "config: %s\n", err);
        return -1;
    }
    memset(&o, 0, sizeof o);
    o.prog = "sg-gateway";
    o.log = &w->log;
    o.stop_request = gwt_on_stop_request;
    o.stop_request_ud = w;
    o.console_in_fd = w->console_out != NULL ? w->console_fd : -1;
    o.console_out = w->console_out;
    if (gw_new(w->base, &w->cfg, &o, &w->g) != 0 ||
        gw_start(w->g, err, sizeof err) != 0) {
        fprintf(stderr, "start: %s\n", err);
        return -1;
    }
    if (!sgt_loop_until(w->base, gwt_ready, w, GWT_WAIT_MS)) {
        fprintf(stderr, "the gateway never got ready\n");
        return -1;
    }
    return 0;
}

static inline void gwt_on_done(gw *g, void *ud)
{
    (void)g;
    ((gwt *)ud)->stopped = 1;
}

static inline int gwt_is_stopped(void *arg)
{
    return ((gwt *)arg)->stopped;
}

/* Graceful stop (SG-IN-017) and everything freed: memcheck sees no leak. */
static inline void gwt_close(gwt *w)
{
    if (w->g != NULL) {
        gw_stop(w->g, gwt_on_done, w);
        sgt_loop_until(w->base, gwt_is_stopped, w, GWT_WAIT_MS);
        gw_free(w->g);
    }
    gw_curl_free(w->curl);
    sg_rpc_free(w->rpc);
    sg_bus_free(w->bus);
    sg_conn_free(w->conn);
    if (w->sync != NULL)
        redisFree(w->sync);
    if (w->base != NULL)
        event_base_free(w->base);
    sgt_redis_stop(&w->redis);
    gw_curl_global_cleanup();
    curl_global_cleanup();
}

/* ---- HTTP through gw_curl on the loop ----------------------------------- */

typedef struct gwt_http {
    int done;
    const char *error;
    long status;
    char body[65536];
    cJSON *json;
} gwt_http;

static inline void gwt_http_done(void *ud, const char *error, long status,
                                 const char *body, size_t len)
{
    gwt_http *h = ud;

    h->done = 1;
    h->error = error != NULL ? "failed" : NULL;
    h->status = status;
    if (len >= sizeof h->body)
        len = sizeof h->body - 1;
    memcpy(h->body, body, len);
    h->body[len] = '\0';
    h->json = cJSON_Parse(h->body);
}

static inline int gwt_http_is_done(void *arg)
{
    return ((gwt_http *)arg)->done;
}

/* One request; the caller cJSON_Delete()s h->json. Fails the test on a
 * transport error. */
static inline void gwt_request(gwt *w, gwt_http *h, const char *method,
                               const char *url, const char *body)
{
    memset(h, 0, sizeof *h);
    assert_int_equal(gw_curl_request(w->curl, method, url, body,
                                     body != NULL ? strlen(body) : 0, 20000,
                                     gwt_http_done, h, NULL), 0);
    assert_true(sgt_loop_until(w->base, gwt_http_is_done, h, GWT_WAIT_MS));
    if (h->error != NULL)
        fail_msg("%s %s: transport failure", method, url);
}

static inline void gwt_url(char *out, size_t cap, int port, const char *path)
{
    snprintf(out, cap, "http://127.0.0.1:%d%s", port, path);
}

/* ---- playing the worker ------------------------------------------------- */

typedef struct gwt_pub {
    int done;
    int status;
    char id[64];
} gwt_pub;

static inline void gwt_published(int status, const char *id, void *ud)
{
    gwt_pub *p = ud;

    p->done = 1;
    p->status = status;
    if (id != NULL)
        snprintf(p->id, sizeof p->id, "%s", id);
}

static inline int gwt_pub_done(void *arg)
{
    return ((gwt_pub *)arg)->done;
}

/* Publishes an outbound envelope on platform's stream; returns entry id. */
static inline void gwt_publish_out(gwt *w, const char *platform,
                                   const sg_envelope *env, char *id,
                                   size_t cap)
{
    gwt_pub p;
    sg_error err;

    memset(&p, 0, sizeof p);
    assert_int_equal(sg_bus_publish_outbound(w->bus, platform, env, NULL,
                                             gwt_published, &p, &err), 0);
    assert_true(sgt_loop_until(w->base, gwt_pub_done, &p, GWT_WAIT_MS));
    assert_int_equal(p.status, 0);
    if (id != NULL)
        snprintf(id, cap, "%s", p.id);
}

/* An outbound message envelope (caller storage). */
static inline void gwt_message(sg_envelope *env, const char *channel,
                               const char *text, const char *message_key)
{
    sg_envelope_init(env, SG_KIND_OUTBOUND);
    env->u.out.type = SG_OUT_MESSAGE;
    env->u.out.has_channel_id = true;
    env->u.out.channel_id.ptr = channel;
    env->u.out.channel_id.len = strlen(channel);
    env->u.out.text.ptr = text;
    env->u.out.text.len = strlen(text);
    if (message_key != NULL) {
        env->u.out.has_message_key = true;
        env->u.out.message_key.ptr = message_key;
        env->u.out.message_key.len = strlen(message_key);
    }
}

/* Runs the loop until fn(arg) or the deadline; fails the test then. */
#define GWT_WAIT(fn, arg) assert_true(sgt_loop_until(w->base, fn, arg,     \
                                                     GWT_WAIT_MS))

/* A redis reply's string, or "" (synchronous side connection). */
static inline void gwt_hget(gwt *w, const char *key, const char *field,
                            char *out, size_t cap)
{
    redisReply *r = redisCommand(w->sync, "HGET %s %s", key, field);

    out[0] = '\0';
    if (r != NULL && r->type == REDIS_REPLY_STRING)
        snprintf(out, cap, "%s", r->str);
    freeReplyObject(r);
}

/* Pending count of a group on a stream. */
static inline long long gwt_pending(gwt *w, const char *stream,
                                    const char *group)
{
    redisReply *r = redisCommand(w->sync, "XPENDING %s %s", stream, group);
    long long v = -1;

    if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
        r->element[0]->type == REDIS_REPLY_INTEGER)
        v = r->element[0]->integer;
    freeReplyObject(r);
    return v;
}

/*
 * Decodes the inbound entry `id` (XRANGE id id) with libsg's codec: the
 * caller frees *env and then the reply.
 */
static inline redisReply *gwt_read_inbound(gwt *w, const char *id,
                                           sg_envelope **env)
{
    sg_entry_field f[16];
    sg_entry e;
    redisReply *r, *fields;
    size_t i;

    r = redisCommand(w->sync, "XRANGE %s %s %s",
                     w->cfg.topo.inbound_stream, id, id);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_ARRAY);
    assert_int_equal(r->elements, 1);
    fields = r->element[0]->element[1];
    assert_true(fields->elements / 2 <= 16);
    for (i = 0; i < fields->elements / 2; i++) {
        f[i].name.ptr = fields->element[2 * i]->str;
        f[i].name.len = fields->element[2 * i]->len;
        f[i].value.ptr = fields->element[2 * i + 1]->str;
        f[i].value.len = fields->element[2 * i + 1]->len;
    }
    e.fields = f;
    e.nfields = fields->elements / 2;
    assert_int_equal(sg_envelope_decode(SG_KIND_INBOUND, &e, NULL, env,
                                        NULL), 0);
    return r;
}

static inline int gwt_str_eq(sg_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

/* ---- RPC ---------------------------------------------------------------- */

typedef struct gwt_rpc {
    int done;
    int status;
    char text[8192];
    cJSON *json;
} gwt_rpc;

static inline void gwt_rpc_done(const sg_rpc_result *res, void *ud)
{
    gwt_rpc *r = ud;

    r->done = 1;
    r->status = res->status;
    if (res->text != NULL) {
        snprintf(r->text, sizeof r->text, "%s", res->text);
        r->json = cJSON_Parse(res->text);
    }
}

static inline int gwt_rpc_is_done(void *arg)
{
    return ((gwt_rpc *)arg)->done;
}

/* Calls method on platform; args is msgpack (NULL: {}). */
static inline void gwt_call(gwt *w, gwt_rpc *r, const char *platform,
                            const char *method, const char *channel,
                            const uint8_t *args, size_t args_len)
{
    sg_rpc_request rq;
    sg_error err;

    memset(r, 0, sizeof *r);
    sg_rpc_request_init(&rq);
    rq.platform = platform;
    rq.method = method;
    rq.channel_id = channel;
    rq.args.mp = args;
    rq.args.len = args_len;
    assert_int_equal(sg_rpc_call(w->rpc, &rq, gwt_rpc_done, r, &err), 0);
    assert_true(sgt_loop_until(w->base, gwt_rpc_is_done, r, GWT_WAIT_MS));
    assert_int_equal(r->status, 0);
    assert_non_null(r->json);
}

/* ---- a raw event-stream reader ------------------------------------------ */

typedef struct gwt_sse {
    struct bufferevent *bev;
    char buf[65536];
    size_t len;
    int closed;
    const char *want;             /* gwt_sse_has() looks for this */
} gwt_sse;

static inline void gwt_sse_read(struct bufferevent *bev, void *ud)
{
    gwt_sse *s = ud;
    size_t room = sizeof s->buf - 1 - s->len;
    size_t n = bufferevent_read(bev, s->buf + s->len, room);

    s->len += n;
    s->buf[s->len] = '\0';
}

static inline void gwt_sse_event(struct bufferevent *bev, short what,
                                 void *ud)
{
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        ((gwt_sse *)ud)->closed = 1;
}

/* GET /api/events?channel_id=channel on port, kept open. */
static inline void gwt_sse_open(gwt *w, gwt_sse *s, int port,
                                const char *channel, const char *last_id)
{
    struct sockaddr_in sin;
    char req[512];

    memset(s, 0, sizeof *s);
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)port);
    sin.sin_addr.s_addr = htonl(0x7f000001);
    s->bev = bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
    assert_non_null(s->bev);
    bufferevent_setcb(s->bev, gwt_sse_read, NULL, gwt_sse_event, s);
    bufferevent_enable(s->bev, EV_READ);
    assert_int_equal(bufferevent_socket_connect(s->bev,
                                                (struct sockaddr *)&sin,
                                                sizeof sin), 0);
    snprintf(req, sizeof req, "GET /api/events?channel_id=%s HTTP/1.1\r\n"
             "Host: 127.0.0.1\r\nAccept: text/event-stream\r\n%s%s%s\r\n",
             channel, last_id != NULL ? "Last-Event-ID: " : "",
             last_id != NULL ? last_id : "", last_id != NULL ? "\r\n" : "");
    bufferevent_write(s->bev, req, strlen(req));
}

static inline int gwt_sse_has(void *arg)
{
    gwt_sse *s = arg;

    return strstr(s->buf, s->want) != NULL;
}

/* Waits until the stream has received `text`. */
static inline void gwt_sse_wait(gwt *w, gwt_sse *s, const char *text)
{
    s->want = text;
    if (!sgt_loop_until(w->base, gwt_sse_has, s, GWT_WAIT_MS))
        fail_msg("event stream never had '%s'; it has:\n%s", text, s->buf);
}

static inline void gwt_sse_close(gwt_sse *s)
{
    if (s->bev != NULL)
        bufferevent_free(s->bev);
    s->bev = NULL;
}

#endif /* GWT_H */
