/*
 * gw_core.c: the gateway's life (start, provisioning, consumers, stop),
 * the RPC server shared by every platform, publishing inbound envelopes,
 * and the operational endpoints /healthz and /metrics.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/http.h>

#include "sg/json.h"
#include "sg/random.h"
#include "sg/rpc.h"

#include "gw.h"
#include "gw_httpx.h"
#include "gw_rpc.h"
#include "gw_text.h"

enum state { ST_NEW, ST_STARTING, ST_RUNNING, ST_STOPPING, ST_STOPPED };

struct gw {
    struct event_base *base;
    gw_config cfg;
    gw_opts opts;
    sg_log deflog;
    const sg_log *log;
    sg_conn *conn;
    sg_bus *bus;
    /*
     * Every Redis command this process sent: the command connection
     * (bus, consumers' commands) and the connections made like it (each
     * consumer's reader, RPC waits) add here (sg_conn_opts.sent_total).
     */
    uint64_t redis_sent;
    gw_platform *plat[GW_MAX_PLATFORMS];
    int nplat;
    struct evhttp *metrics_http;
    int metrics_port;
    enum state state;
    struct event *retry;          /* provisioning again */
    struct event *deferred;       /* done of a stop, from the loop */
    int stops_pending;
    int failed;                   /* a fatal error asked for the stop */
    gw_done_fn *done;
    void *done_ud;
};

static const char *const op_names[GW_OP__COUNT] = {
    "send", "send_file", "send_buttons", "start_typing", "stop_typing",
    "add_reaction", "set_presence",
};

const char *gw_op_name(gw_op op)
{
    return (unsigned)op < GW_OP__COUNT ? op_names[op] : "?";
}

gw_op gw_op_of_type(sg_out_type type)
{
    switch (type) {
    case SG_OUT_FILE: return GW_OP_SEND_FILE;
    case SG_OUT_BUTTONS: return GW_OP_SEND_BUTTONS;
    case SG_OUT_TYPING:
    case SG_OUT_START_TYPING: return GW_OP_START_TYPING;
    case SG_OUT_STOP_TYPING: return GW_OP_STOP_TYPING;
    case SG_OUT_REACTION: return GW_OP_ADD_REACTION;
    case SG_OUT_PRESENCE: return GW_OP_SET_PRESENCE;
    default: return GW_OP_SEND;
    }
}

/* ---- small services ----------------------------------------------------- */

struct event_base *gw_base(const gw *g) { return g->base; }
const gw_config *gw_cfg(const gw *g) { return &g->cfg; }
const sg_log *gw_log(const gw *g) { return g->log; }
const char *gw_prog(const gw *g) { return g->opts.prog; }
void *gw_console_out(const gw *g) { return g->opts.console_out; }
int gw_console_in_fd(const gw *g) { return g->opts.console_in_fd; }
int gw_metrics_port(const gw *g) { return g->metrics_port; }
int gw_is_ready(const gw *g) { return g->state == ST_RUNNING; }

int gw_is_healthy(const gw *g)
{
    return g->state == ST_RUNNING && g->conn != NULL &&
           sg_conn_is_up(g->conn);
}

void gw_line(gw *g, const char *line)
{
    if (g->opts.line != NULL)
        g->opts.line(line, g->opts.line_ud);
}

void gw_request_stop(gw *g)
{
    if (g->opts.stop_request != NULL)
        g->opts.stop_request(g->opts.stop_request_ud);
}

gw_platform *gw_platform_of(gw *g, gw_platform_kind kind)
{
    int i;

    for (i = 0; i < g->nplat; i++)
        if (g->plat[i]->kind == kind)
            return g->plat[i];
    return NULL;
}

void gw_make_id(char *out, size_t cap, const char *prefix)
{
    char hex[17];

    if (sg_random_hex(hex, 8) != 0) {
        static unsigned long n;

        snprintf(hex, sizeof hex, "%016lx", ++n);
    }
    snprintf(out, cap, "%s-%s", prefix, hex);
}

double gw_now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- jobs and publishing ------------------------------------------------ */

void gw_finish(gw_platform *p, sg_job *job, gw_op op,
               const char *message_id, const char *error)
{
    if (error == NULL) {
        if (message_id != NULL && message_id[0] != '\0')
            sg_job_set_message_id(job, message_id, strlen(message_id));
        p->stats.sent[op]++;
        sg_job_finish(job, SG_JOB_OK);
        return;
    }
    p->stats.failures[op]++;
    sg_logf(p->gw->log, SG_LOG_WARN, "%s %s of entry %s failed: %s",
            p->name, gw_op_name(op), sg_job_id(job), error);
    sg_job_finish(job, SG_JOB_FAILED(error));
}

typedef struct pub {
    gw_platform *p;
    gw_published_fn *fn;
    void *ud;
} pub;

static void on_published(int status, const char *entry_id, void *ud)
{
    pub *q = ud;

    if (status == 0)
        q->p->stats.inbound_published++;
    else
        q->p->stats.inbound_failed++;
    q->fn(status, entry_id, q->ud);
    free(q);
}

int gw_publish_inbound(gw_platform *p, const sg_envelope *env,
                       gw_published_fn *fn, void *ud, sg_error *err)
{
    const sg_inbound *in = &env->u.in;
    gw_rec_in r;
    pub *q;
    int rc;

    sg_error_clear(err);
    if (p->gw->state != ST_RUNNING) {
        p->stats.inbound_failed++;
        snprintf(err->msg, sizeof err->msg, "the gateway is not ready");
        return SG_ECLOSED;
    }
    q = malloc(sizeof *q);
    if (q == NULL)
        return SG_ENOMEM;
    q->p = p;
    q->fn = fn;
    q->ud = ud;
    rc = sg_bus_publish_inbound(p->gw->bus, env, NULL, on_published, q, err);
    if (rc != 0) {
        free(q);
        if (rc == SG_EINVALID || rc == SG_EDECODE)
            p->stats.inbound_rejected++;
        else
            p->stats.inbound_failed++;
        return rc;
    }
    memset(&r, 0, sizeof r);
    r.kind = GW_REC_MESSAGE;
    r.timestamp = in->timestamp > 0 ? in->timestamp : gw_now_s();
    r.user_id = in->user_id.ptr;
    r.user_id_len = in->user_id.len;
    r.user_name = in->username.ptr;
    r.user_name_len = in->username.len;
    r.text = in->content.ptr;
    r.text_len = in->content.len;
    r.message_id = in->message_id.ptr;
    r.message_id_len = in->message_id.len;
    r.reply_to = in->reply_to.ptr;
    r.reply_to_len = in->reply_to.len;
    gw_record_add(p->record, in->channel_id.ptr, in->channel_id.len, &r);
    return 0;
}

/* ---- RPCs (SPEC section 10) --------------------------------------------- */

static void reply(gw_platform *p, sg_job *job, sg_buf *b)
{
    if (b->len == 0 && sg_rpc_build_error(b, "out of memory", 13) != 0) {
        sg_job_finish(job, SG_JOB_FAILED("out of memory"));
        return;
    }
    if (sg_outbound_rpc_reply(job, (const char *)b->data, b->len) == 0)
        p->stats.rpc_answered++;
}

static int str_is(sg_str s, const char *lit)
{
    return s.len == strlen(lit) && memcmp(s.ptr, lit, s.len) == 0;
}

/* rpc_args as a cJSON tree (through the JSON bridge); NULL: {}. */
static cJSON *rpc_args(const sg_envelope *env)
{
    cJSON *root, *args = NULL;
    sg_buf b;
    sg_error e;

    sg_buf_init(&b, NULL);
    if (env == NULL || sg_envelope_to_json(env, &b, &e) != 0) {
        sg_buf_destroy(&b);
        return NULL;
    }
    root = cJSON_ParseWithLength((const char *)b.data, b.len);
    sg_buf_destroy(&b);
    if (root != NULL)
        args = cJSON_DetachItemFromObjectCaseSensitive(root, "rpc_args");
    cJSON_Delete(root);
    return args;
}

int gw_rpc_history_args(const sg_envelope *env, const sg_outbound *req,
                        cJSON **args, int *limit, const char **channel,
                        size_t *chlen, const char **error)
{
    cJSON *lim, *ch;

    *args = rpc_args(env);
    *limit = 10;
    *channel = NULL;
    *chlen = 0;
    *error = NULL;
    lim = cJSON_GetObjectItemCaseSensitive(*args, "limit");
    if (lim != NULL) {
        double v = cJSON_IsNumber(lim) ? lim->valuedouble : -1;

        if (v < 1 || v > 100 || v != (double)(int)v) {
            *error = "fetch_channel_history: rpc_args.limit must be an "
                     "integer from 1 to 100";
            goto fail;
        }
        *limit = (int)v;
    }
    if (req->has_channel_id && req->channel_id.len > 0) {
        *channel = req->channel_id.ptr;
        *chlen = req->channel_id.len;
    } else if (cJSON_IsString(ch = cJSON_GetObjectItemCaseSensitive(
                                   *args, "channel_id")) &&
               ch->valuestring[0] != '\0') {
        *channel = ch->valuestring;
        *chlen = strlen(ch->valuestring);
    }
    if (*channel == NULL) {
        *error = "fetch_channel_history: channel_id is required";
        goto fail;
    }
    return 0;
fail:
    cJSON_Delete(*args);
    *args = NULL;
    *channel = NULL;
    *chlen = 0;
    return -1;
}

static void rpc_history(gw_platform *p, sg_job *job, const sg_outbound *req,
                        sg_buf *b)
{
    const gw_rec_msg *list[100];
    sg_rpc_history_msg msgs[100];
    sg_buf react[100];
    cJSON *args;
    const char *channel, *error;
    size_t chlen, n, i;
    int limit, j;

    if (gw_rpc_history_args(sg_job_payload(job), req, &args, &limit,
                            &channel, &chlen, &error) != 0) {
        sg_rpc_build_error(b, error, strlen(error));
        return;
    }
    n = gw_record_list(p->record, channel, chlen, 0, list, (size_t)limit);
    cJSON_Delete(args);
    for (i = 0; i < n; i++) {
        const gw_rec_msg *m = list[i];

        sg_buf_init(&react[i], NULL);
        memset(&msgs[i], 0, sizeof msgs[i]);
        msgs[i].user_id.ptr = m->user_id;
        msgs[i].user_id.len = strlen(m->user_id);
        msgs[i].user_name.ptr = m->user_name;
        msgs[i].user_name.len = strlen(m->user_name);
        msgs[i].text.ptr = m->text;
        msgs[i].text.len = strlen(m->text);
        msgs[i].timestamp = m->timestamp;
        msgs[i].message_id.ptr = m->message_id;
        msgs[i].message_id.len = strlen(m->message_id);
        msgs[i].is_bot = m->is_bot;
        msgs[i].has_reply_to_id = m->reply_to[0] != '\0';
        msgs[i].reply_to_id.ptr = m->reply_to;
        msgs[i].reply_to_id.len = strlen(m->reply_to);
        if (m->nreactions > 0) {
            gw_buf_puts(&react[i], "[");
            for (j = 0; j < m->nreactions; j++) {
                if (j > 0)
                    gw_buf_puts(&react[i], ",");
                gw_json_cstr(&react[i], m->reactions[j]);
            }
            gw_buf_puts(&react[i], "]");
            if (gw_buf_nul(&react[i]) == 0)
                msgs[i].reactions_json = (const char *)react[i].data;
        }
    }
    if (sg_rpc_build_history(b, msgs, n, (size_t)limit) != 0)
        b->len = 0;
    for (i = 0; i < n; i++)
        sg_buf_destroy(&react[i]);
}

static void serve_rpc(void *ud, sg_job *job, const sg_outbound *req)
{
    gw_platform *p = ud;
    sg_buf b;
    char m[160];

    sg_buf_init(&b, NULL);
    if (str_is(req->rpc_method, "fetch_channel_history")) {
        rpc_history(p, job, req, &b);
    } else if (str_is(req->rpc_method, "should_skip_channel_heartbeat")) {
        sg_rpc_build_bool(&b, false);                  /* SG-RPC-006 */
    } else if (str_is(req->rpc_method, "execute_tool")) {
        int n = snprintf(m, sizeof m, "execute_tool: the %s gateway runs "
                         "no tools", p->name);

        sg_rpc_build_error(&b, m, (size_t)n);          /* SG-RPC-004 */
    } else if (str_is(req->rpc_method, "delete_egregore_webhook")) {
        snprintf(m, sizeof m, "not supported on platform %s", p->name);
        sg_rpc_build_webhook(&b, false, m);            /* SG-RPC-007 */
    } else {
        sg_rpc_build_unknown_method(&b, req->rpc_method.ptr,
                                    req->rpc_method.len); /* SG-RPC-004 */
    }
    reply(p, job, &b);
    sg_buf_destroy(&b);
}

/* ---- /healthz and /metrics ---------------------------------------------- */

static void family(sg_buf *b, const char *name, const char *type,
                   const char *help)
{
    gw_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void gw_metrics_render(gw *g, sg_buf *b)
{
    sg_consumer_stats st[GW_MAX_PLATFORMS];
    int i, k;

    for (i = 0; i < g->nplat; i++) {
        memset(&st[i], 0, sizeof st[i]);
        if (g->plat[i]->oc != NULL)
            sg_consumer_get_stats(sg_outbound_consumer_engine(
                                      g->plat[i]->oc), &st[i]);
    }
    family(b, "sg_gateway_redis_up", "gauge",
           "1 while the Redis command connection is up.");
    gw_buf_printf(b, "sg_gateway_redis_up %d\n",
                  g->conn != NULL && sg_conn_is_up(g->conn));
    family(b, "sg_gateway_ready", "gauge",
           "1 while the consumers read and platforms take messages.");
    gw_buf_printf(b, "sg_gateway_ready %d\n", g->state == ST_RUNNING);
    /* Counted once per command written, whichever connection wrote it. */
    family(b, "sg_redis_commands_sent_total", "counter",
           "Redis commands this process sent, over all its connections.");
    gw_buf_printf(b, "sg_redis_commands_sent_total %llu\n",
                  (unsigned long long)g->redis_sent);

#define PER_PLATFORM(metric, type, help, expr)                              \
    do {                                                                    \
        family(b, metric, type, help);                                      \
        for (i = 0; i < g->nplat; i++)                                      \
            gw_buf_printf(b, "%s{platform=\"%s\"} %llu\n", metric,          \
                          g->plat[i]->name, (unsigned long long)(expr));    \
    } while (0)

    PER_PLATFORM("sg_gateway_inbound_published_total", "counter",
                 "Inbound envelopes published (XADD acknowledged).",
                 g->plat[i]->stats.inbound_published);
    PER_PLATFORM("sg_gateway_inbound_rejected_total", "counter",
                 "Inbound messages refused as invalid (400).",
                 g->plat[i]->stats.inbound_rejected);
    PER_PLATFORM("sg_gateway_inbound_failed_total", "counter",
                 "Inbound messages not published: Redis away or not ready.",
                 g->plat[i]->stats.inbound_failed);
    family(b, "sg_gateway_outbound_sent_total", "counter",
           "Adapter calls that succeeded, per operation.");
    for (i = 0; i < g->nplat; i++)
        for (k = 0; k < GW_OP__COUNT; k++)
            gw_buf_printf(b, "sg_gateway_outbound_sent_total{platform=\"%s\","
                          "op=\"%s\"} %llu\n", g->plat[i]->name, op_names[k],
                          (unsigned long long)g->plat[i]->stats.sent[k]);
    family(b, "sg_gateway_outbound_send_failures_total", "counter",
           "Adapter calls that failed (retried or dead-lettered).");
    for (i = 0; i < g->nplat; i++)
        for (k = 0; k < GW_OP__COUNT; k++)
            gw_buf_printf(b, "sg_gateway_outbound_send_failures_total{"
                          "platform=\"%s\",op=\"%s\"} %llu\n",
                          g->plat[i]->name, op_names[k],
                          (unsigned long long)
                              g->plat[i]->stats.failures[k]);
    PER_PLATFORM("sg_gateway_rpc_answered_total", "counter",
                 "RPC requests answered.", g->plat[i]->stats.rpc_answered);
    PER_PLATFORM("sg_gateway_outbound_read_total", "counter",
                 "Outbound entries read by XREADGROUP.", st[i].read);
    PER_PLATFORM("sg_gateway_outbound_claimed_total", "counter",
                 "Outbound entries taken over by autoclaim.", st[i].claimed);
    PER_PLATFORM("sg_gateway_outbound_skipped_total", "counter",
                 "Outbound entries already sent or duplicate.",
                 st[i].skipped);
    PER_PLATFORM("sg_gateway_dead_lettered_total", "counter",
                 "Outbound entries this gateway dead-lettered.",
                 st[i].dead_lettered);
    PER_PLATFORM("sg_gateway_outbound_in_flight", "gauge",
                 "Outbound entries read and not yet ended.",
                 st[i].in_flight);
    PER_PLATFORM("sg_gateway_redis_commands_total", "counter",
                 "Redis commands the platform's consumer sent.",
                 st[i].commands);
#undef PER_PLATFORM
    for (i = 0; i < g->nplat; i++)
        if (g->plat[i]->vt->metrics != NULL)
            g->plat[i]->vt->metrics(g->plat[i], b);
}

int gw_serve_ops(gw *g, struct evhttp_request *req)
{
    char path[64];
    sg_buf b;

    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
        evhttp_request_get_command(req) != EVHTTP_REQ_HEAD)
        return 0;
    gw_http_path(req, path, sizeof path);
    if (strcmp(path, "/healthz") == 0) {
        if (gw_is_healthy(g))
            gw_http_reply(req, 200, "text/plain", "ok", 2);
        else
            gw_http_reply(req, 503, "text/plain", "unavailable", 11);
        return 1;
    }
    if (strcmp(path, "/metrics") != 0)
        return 0;
    sg_buf_init(&b, NULL);
    gw_metrics_render(g, &b);
    gw_http_reply(req, 200, "text/plain; version=0.0.4; charset=utf-8",
                  (const char *)b.data, b.len);
    sg_buf_destroy(&b);
    return 1;
}

static void on_metrics_request(struct evhttp_request *req, void *ud)
{
    if (!gw_serve_ops(ud, req))
        gw_http_reply_error(req, 404, "not found", NULL, NULL);
}

/* ---- life --------------------------------------------------------------- */

int gw_new(struct event_base *base, const gw_config *cfg,
           const gw_opts *opts, gw **out)
{
    gw *g = calloc(1, sizeof *g);
    int i, rc = 0;

    if (g == NULL)
        return -1;
    g->base = base;
    g->cfg = *cfg;
    g->opts = *opts;
    if (g->opts.prog == NULL)
        g->opts.prog = "sg-gateway";
    sg_log_init(&g->deflog);
    g->log = opts->log != NULL ? opts->log : &g->deflog;
    for (i = 0; i < cfg->nplatforms && rc == 0; i++) {
        gw_platform *p = NULL;

        switch (cfg->platforms[i]) {
        case GW_WEBCHAT: rc = gw_webchat_new(g, &p); break;
        case GW_HTTP: rc = gw_http_new(g, &p); break;
        case GW_CONSOLE: rc = gw_console_new(g, &p); break;
        }
        if (rc == 0) {
            p->gw = g;
            p->kind = cfg->platforms[i];
            p->name = p->vt->name;
            p->record = gw_record_new(NULL);
            g->plat[g->nplat++] = p;
            if (p->record == NULL)
                rc = -1;
        }
    }
    if (rc != 0) {
        gw_free(g);
        return -1;
    }
    *out = g;
    return 0;
}

static void provision(gw *g);

static void on_retry(evutil_socket_t fd, short what, void *ud)
{
    (void)fd;
    (void)what;
    provision(ud);
}

static void retry_later(gw *g, int ms)
{
    struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

    evtimer_add(g->retry, &tv);
}

static int start_consumers(gw *g)
{
    int i;

    for (i = 0; i < g->nplat; i++) {
        gw_platform *p = g->plat[i];
        sg_outbound_consumer_opts o;

        sg_outbound_consumer_opts_init(&o);
        o.conn = g->conn;
        o.topo = &g->cfg.topo;
        o.knobs = g->cfg.knobs;
        o.platform = p->name;
        o.consumer = g->cfg.instance_id;
        o.adapter = p->vt->adapter;
        o.adapter_ud = p;
        o.rpc = serve_rpc;
        o.rpc_ud = p;
        o.log = g->log;
        if (sg_outbound_consumer_new(&o, &p->oc) != 0 ||
            sg_consumer_start(sg_outbound_consumer_engine(p->oc)) != 0) {
            sg_logf(g->log, SG_LOG_ERROR, "cannot start the outbound "
                    "consumer of %s", p->name);
            return -1;
        }
    }
    return 0;
}

static void on_provisioned(int status, void *ud)
{
    gw *g = ud;
    char line[128];
    int i;

    if (g->state != ST_STARTING)
        return;
    if (status != 0) {
        sg_logf(g->log, SG_LOG_WARN, "provisioning the gateway groups "
                "failed (%s); retrying in 1 s", sg_strerror(status));
        retry_later(g, 1000);
        return;
    }
    /* SG-OUT-017: the consumers read before any platform takes input. */
    if (start_consumers(g) != 0) {
        g->failed = 1;
        gw_request_stop(g);
        return;
    }
    g->state = ST_RUNNING;
    for (i = 0; i < g->nplat; i++)
        if (g->plat[i]->vt->ready != NULL)
            g->plat[i]->vt->ready(g->plat[i]);
    snprintf(line, sizeof line, "%s: ready", g->opts.prog);
    gw_line(g, line);
}

static void provision(gw *g)
{
    const char *names[GW_MAX_PLATFORMS];
    int i, rc;

    if (g->state != ST_STARTING)
        return;
    for (i = 0; i < g->nplat; i++)
        names[i] = g->plat[i]->name;
    /* SG-TOPO-004: the gateway group of every platform served. */
    rc = sg_bus_provision(g->bus, SG_ROLE_GATEWAY, names, (size_t)g->nplat,
                          on_provisioned, g);
    if (rc != 0)
        retry_later(g, 500);
}

int gw_start(gw *g, char *err, size_t cap)
{
    sg_conn_opts co;
    sg_bus_opts bo;
    char line[GW_HOST_MAX + 128];
    int i;

    if (g->state != ST_NEW) {
        snprintf(err, cap, "already started");
        return -1;
    }
    g->retry = evtimer_new(g->base, on_retry, g);
    if (g->retry == NULL) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    if (!g->cfg.metrics.off) {
        if (gw_http_listen(g->base, &g->cfg.metrics, on_metrics_request, g,
                           &g->metrics_http, &g->metrics_port, err,
                           cap) != 0)
            return -1;
        snprintf(line, sizeof line, "%s: metrics at http://%s:%d/metrics",
                 g->opts.prog, gw_banner_host(&g->cfg.metrics),
                 g->metrics_port);
        gw_line(g, line);
    }
    for (i = 0; i < g->nplat; i++)
        if (g->plat[i]->vt->open != NULL &&
            g->plat[i]->vt->open(g->plat[i], err, cap) != 0)
            return -1;

    sg_conn_opts_init(&co);
    co.host = g->cfg.redis_host;
    co.port = g->cfg.redis_port;
    co.name = "commands";
    co.log = g->log;
    co.sent_total = &g->redis_sent;
    sg_bus_opts_init(&bo);
    if (sg_conn_new(g->base, &co, &g->conn) != 0) {
        snprintf(err, cap, "cannot create the Redis connection");
        return -1;
    }
    bo.conn = g->conn;
    bo.topo = &g->cfg.topo;
    bo.stream_maxlen = g->cfg.knobs.stream_maxlen;
    bo.log = g->log;
    if (sg_bus_new(&bo, &g->bus) != 0) {
        snprintf(err, cap, "cannot create the bus");
        return -1;
    }
    sg_topology_log(&g->cfg.topo, g->log);                  /* SG-TOPO-009 */
    sg_logf(g->log, SG_LOG_INFO, "consumer name %s, redis %s",
            g->cfg.instance_id, sg_conn_address(g->conn));
    sg_bus_check_server(g->bus, NULL, NULL);
    g->state = ST_STARTING;
    provision(g);
    return 0;
}

static void on_deferred(evutil_socket_t fd, short what, void *ud)
{
    gw *g = ud;

    (void)fd;
    (void)what;
    if (g->done != NULL)
        g->done(g, g->done_ud);
}

static void finish_stop(gw *g)
{
    int i;

    for (i = 0; i < g->nplat; i++)
        if (g->plat[i]->vt->close != NULL)
            g->plat[i]->vt->close(g->plat[i]);
    g->state = ST_STOPPED;
    sg_logf(g->log, SG_LOG_INFO, "stopped");
    if (g->deferred == NULL)
        g->deferred = evtimer_new(g->base, on_deferred, g);
    if (g->deferred != NULL) {
        struct timeval tv = { 0, 0 };

        evtimer_add(g->deferred, &tv);
    }
}

static void on_consumer_stopped(sg_consumer *c, void *ud)
{
    gw *g = ud;

    (void)c;
    if (--g->stops_pending == 0)
        finish_stop(g);
}

void gw_stop(gw *g, gw_done_fn *done, void *ud)
{
    int i;

    if (g->state == ST_STOPPING || g->state == ST_STOPPED)
        return;
    g->done = done;
    g->done_ud = ud;
    g->state = ST_STOPPING;
    if (g->retry != NULL)
        evtimer_del(g->retry);
    sg_logf(g->log, SG_LOG_INFO, "stopping: draining for up to %d ms",
            g->cfg.knobs.drain_ms);
    g->stops_pending = 1;           /* held until every stop is asked */
    for (i = 0; i < g->nplat; i++) {
        gw_platform *p = g->plat[i];

        if (p->oc == NULL)
            continue;
        g->stops_pending++;
        if (sg_consumer_stop(sg_outbound_consumer_engine(p->oc),
                             on_consumer_stopped, g) != 0)
            g->stops_pending--;
    }
    on_consumer_stopped(NULL, g);
}

void gw_free(gw *g)
{
    int i;

    if (g == NULL)
        return;
    /* Consumers first: jobs the platforms still hold are detached. */
    for (i = 0; i < g->nplat; i++) {
        sg_outbound_consumer_free(g->plat[i]->oc);
        g->plat[i]->oc = NULL;
    }
    /* Publishes in flight call back (SG_ECLOSED) while platforms live. */
    sg_bus_free(g->bus);
    sg_conn_free(g->conn);
    for (i = 0; i < g->nplat; i++) {
        gw_platform *p = g->plat[i];
        gw_record *r = p->record;

        p->vt->free(p);
        gw_record_free(r);
    }
    if (g->metrics_http != NULL)
        evhttp_free(g->metrics_http);
    if (g->retry != NULL)
        event_free(g->retry);
    if (g->deferred != NULL)
        event_free(g->deferred);
    free(g);
}

int gw_platform_port(const gw *g, gw_platform_kind kind)
{
    int i;

    for (i = 0; i < g->nplat; i++)
        if (g->plat[i]->kind == kind && g->plat[i]->vt->port != NULL)
            return g->plat[i]->vt->port(g->plat[i]);
    return 0;
}

int gw_failed(const gw *g)
{
    return g->failed;
}
