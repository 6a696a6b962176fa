/*
 * sg-bench runtime: the consumer engine end to end against a real Redis,
 * with a handler (inbound) or platform adapter (outbound) that does
 * nothing but finish its job.
 *
 *     sg-bench runtime [--messages N] [--channels C] [--redis URL]
 *                      [--read-count N] [--side inbound|outbound|both]
 *
 * The stream is filled with N envelopes before the clock starts (pipelined
 * XADDs), message i on channel chan-(i % C) carrying i as its content
 * (inbound) or text (outbound), so that i / C is its sequence number in
 * its channel. Then one consumer handles them all, on one loop, and the
 * run checks what the engine promises: every message handled exactly once,
 * each channel in order, nothing left pending, nothing dead-lettered.
 * Exit 1 on a violation.
 *
 * Handling latency: from the handler's start to the acknowledgement being
 * confirmed by Redis. The engine does not say which job an acknowledgement
 * was for, only how many it confirmed (sg_consumer_stats.handled), checked
 * after every loop pass; the k-th confirmation is matched with the k-th
 * handler start. That is exact when acknowledgements complete in the order
 * the handlers ran and an approximation otherwise; the output names the
 * definition ("latency").
 *
 * Commands per message: the engine's own count (sg_consumer_stats.commands,
 * every command its connections sent: reads, scripts, renewals, sweeps)
 * divided by N. The pre-fill and the checks are not counted.
 *
 * Without --redis, a private redis-server is started (maxmemory-policy
 * noeviction) and stopped at the end.
 */
#define _POSIX_C_SOURCE 200809L

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "sg/codec.h"
#include "sg/config.h"
#include "sg/conn.h"
#include "sg/consumer.h"
#include "sg/inbound.h"
#include "sg/log.h"
#include "sg/outbound.h"
#include "sg_redis_fixture.h"

#include "bench.h"

#define PLATFORM "bench"
#define FILL_BATCH 1000
#define RUN_TIMEOUT_NS (600ull * 1000000000ull)
#define STOP_TIMEOUT_NS (30ull * 1000000000ull)

/* What one run (one side) saw. */
typedef struct run {
    unsigned long n;
    unsigned long channels;
    unsigned char *seen;        /* n flags: message i handled */
    long *last;                 /* per channel: the last i handled, or -1 */
    uint64_t *started;          /* handler start times, in call order */
    unsigned long nstarted;
    unsigned long calls;        /* handler calls, duplicates included */
    int duplicate;
    int disordered;
    int foreign;                /* a message not of this run */
} run;

typedef struct result {
    double seconds;
    double commands_per_msg;
    double p50_us;
    double p99_us;
    int exactly_once;
    int ordered;
    int ok;                     /* every check passed */
} result;

static void usage(FILE *f)
{
    fputs("usage: sg-bench runtime [--messages N] [--channels C]\n"
          "                        [--redis URL] [--read-count N]\n"
          "                        [--side inbound|outbound|both]\n"
          "                        [--order-queues 0|1]\n"
          "\n"
          "Fills a stream with N envelopes on C channels, then handles\n"
          "them with a no-op handler through one consumer, and prints\n"
          "messages/s, Redis commands per message and handling latency\n"
          "as one JSON line. Checks exactly-once handling, per-channel\n"
          "order and that nothing is left pending (exit 1 otherwise).\n"
          "\n"
          "  --messages N    messages per side (default 100000)\n"
          "  --channels C    channels (default 50)\n"
          "  --redis URL     an existing server (its data is added to);\n"
          "                  default: a private redis-server\n"
          "  --read-count N  SG_READ_COUNT of the consumer (default 10)\n"
          "  --side S        inbound, outbound or both (default both)\n"
          "  --order-queues B  0 or 1: SG_ORDER_QUEUES of the inbound\n"
          "                  consumer (default: the knob's default, 1)\n", f);
}

/* ---- recording ---------------------------------------------------------- */

/* Parses the decimal message number in s; -1 if it is not one. */
static long parse_index(sg_str s)
{
    long v = 0;
    size_t i;

    if (s.len == 0 || s.len > 9)
        return -1;
    for (i = 0; i < s.len; i++) {
        if (s.ptr[i] < '0' || s.ptr[i] > '9')
            return -1;
        v = v * 10 + (s.ptr[i] - '0');
    }
    return v;
}

/* Parses "chan-<k>"; -1 if it is not one. */
static long parse_channel(sg_str s)
{
    sg_str tail;

    if (s.len < 6 || memcmp(s.ptr, "chan-", 5) != 0)
        return -1;
    tail.ptr = s.ptr + 5;
    tail.len = s.len - 5;
    return parse_index(tail);
}

static void record(run *r, sg_str channel, sg_str number)
{
    long i = parse_index(number);
    long ch = parse_channel(channel);

    if (r->nstarted < r->n)
        r->started[r->nstarted++] = bench_now_ns();
    r->calls++;
    if (i < 0 || (unsigned long)i >= r->n || ch < 0 ||
        (unsigned long)i % r->channels != (unsigned long)ch) {
        r->foreign = 1;
        return;
    }
    if (r->seen[i])
        r->duplicate = 1;
    r->seen[i] = 1;
    if (r->last[ch] >= i)
        r->disordered = 1;
    r->last[ch] = i;
}

static void on_inbound(void *ud, sg_job *job, const sg_envelope *env)
{
    record(ud, env->u.in.channel_id, env->u.in.content);
    sg_job_finish(job, SG_JOB_OK);
}

static void on_send(void *ud, sg_job *job, const sg_outbound *msg)
{
    record(ud, msg->channel_id, msg->text);
    sg_job_finish(job, SG_JOB_OK);
}

/* ---- Redis -------------------------------------------------------------- */

static int expect_reply(redisContext *c, int type, const char *what)
{
    redisReply *rep = NULL;
    int ok;

    if (redisGetReply(c, (void **)&rep) != REDIS_OK || rep == NULL) {
        fprintf(stderr, "sg-bench runtime: %s: %s\n", what, c->errstr);
        return -1;
    }
    ok = rep->type == type;
    if (!ok) {
        fprintf(stderr, "sg-bench runtime: %s: unexpected reply%s%s\n",
                what, rep->type == REDIS_REPLY_ERROR ? ": " : "",
                rep->type == REDIS_REPLY_ERROR ? rep->str : "");
    }
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

static int create_group(redisContext *c, const char *stream,
                        const char *group)
{
    redisReply *rep;
    int ok;

    rep = redisCommand(c, "XGROUP CREATE %s %s 0 MKSTREAM", stream, group);
    if (rep == NULL) {
        fprintf(stderr, "sg-bench runtime: XGROUP: %s\n", c->errstr);
        return -1;
    }
    /* An existing group (a reused server) is fine: it starts at 0. */
    ok = rep->type == REDIS_REPLY_STATUS ||
         (rep->type == REDIS_REPLY_ERROR &&
          strncmp(rep->str, "BUSYGROUP", 9) == 0);
    if (!ok)
        fprintf(stderr, "sg-bench runtime: XGROUP: %s\n", rep->str);
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

/*
 * Writes envelope i of `side` to buf: inbound, or an outbound message with
 * a message_key of its own (so the double-send guard runs).
 */
static int encode_one(int inbound, unsigned long i, unsigned long channels,
                      const char *tag, sg_buf *buf)
{
    char ch[32], num[16], key[96];
    sg_envelope env;
    sg_error err;
    int nch, nnum, nkey;

    nch = snprintf(ch, sizeof ch, "chan-%lu", i % channels);
    nnum = snprintf(num, sizeof num, "%lu", i);
    nkey = snprintf(key, sizeof key, "bench:mk:%s:%lu", tag, i);
    if (nch < 0 || (size_t)nch >= sizeof ch || nnum < 0 ||
        (size_t)nnum >= sizeof num || nkey < 0 || (size_t)nkey >= sizeof key)
        return -1;
    buf->len = 0;
    if (inbound) {
        sg_envelope_init(&env, SG_KIND_INBOUND);
        env.u.in.platform.ptr = PLATFORM;
        env.u.in.platform.len = strlen(PLATFORM);
        env.u.in.channel_id.ptr = ch;
        env.u.in.channel_id.len = (size_t)nch;
        env.u.in.content.ptr = num;
        env.u.in.content.len = (size_t)nnum;
        env.u.in.is_addressed = true;
    } else {
        sg_envelope_init(&env, SG_KIND_OUTBOUND);
        env.u.out.type = SG_OUT_MESSAGE;
        env.u.out.has_channel_id = true;
        env.u.out.channel_id.ptr = ch;
        env.u.out.channel_id.len = (size_t)nch;
        env.u.out.text.ptr = num;
        env.u.out.text.len = (size_t)nnum;
        env.u.out.has_message_key = true;
        env.u.out.message_key.ptr = key;
        env.u.out.message_key.len = (size_t)nkey;
    }
    return sg_envelope_encode(&env, buf, &err) == 0 ? 0 : -1;
}

/* Pipelines N XADDs to stream, FILL_BATCH at a time. */
static int fill(redisContext *c, const char *stream, int inbound,
                unsigned long n, unsigned long channels, const char *tag)
{
    sg_buf buf;
    unsigned long i, j, end;
    int rc = 0;

    sg_buf_init(&buf, NULL);
    for (i = 0; i < n && rc == 0; i = end) {
        end = i + FILL_BATCH < n ? i + FILL_BATCH : n;
        for (j = i; j < end; j++) {
            if (encode_one(inbound, j, channels, tag, &buf) != 0) {
                fprintf(stderr, "sg-bench runtime: encoding failed\n");
                sg_buf_destroy(&buf);
                return -1;
            }
            redisAppendCommand(c, "XADD %s * data %b trace_id %s", stream,
                               buf.data, buf.len,
                               "0123456789abcdef0123456789abcdef");
        }
        for (j = i; j < end; j++)
            if (expect_reply(c, REDIS_REPLY_STRING, "XADD") != 0)
                rc = -1;
    }
    sg_buf_destroy(&buf);
    return rc;
}

/* The group's pending count; -1 on error. */
static long long pending(redisContext *c, const char *stream,
                         const char *group)
{
    redisReply *rep;
    long long v = -1;

    rep = redisCommand(c, "XPENDING %s %s", stream, group);
    if (rep != NULL && rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER)
        v = rep->element[0]->integer;
    freeReplyObject(rep);
    return v;
}

/* The server's redis_version, in out; "unknown" if it does not say. */
static void server_version(redisContext *c, char *out, size_t cap)
{
    redisReply *rep;
    const char *p, *e;
    size_t n;

    snprintf(out, cap, "unknown");
    rep = redisCommand(c, "INFO server");
    if (rep != NULL && rep->type == REDIS_REPLY_STRING) {
        p = strstr(rep->str, "redis_version:");
        if (p != NULL) {
            p += strlen("redis_version:");
            e = p + strcspn(p, "\r\n");
            n = (size_t)(e - p) < cap - 1 ? (size_t)(e - p) : cap - 1;
            memcpy(out, p, n);
            out[n] = '\0';
        }
    }
    freeReplyObject(rep);
}

/* ---- one side ----------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

static double percentile(const double *sorted, size_t n, double p)
{
    size_t k = (size_t)(p * (double)(n - 1) + 0.5);

    return sorted[k < n ? k : n - 1];
}

static void on_stopped(sg_consumer *c, void *ud)
{
    (void)c;
    *(int *)ud = 1;
}

/*
 * Runs the engine until it has acknowledged r->n messages, then stops it
 * and fills *res. 0, or -1 when the run could not complete.
 */
static int drive(struct event_base *base, sg_consumer *eng, run *r,
                 result *res)
{
    sg_consumer_stats st;
    uint64_t *acked, t0, t1, now;
    unsigned long done = 0, k;
    double *lat;
    int stopped = 0, rc = 0;

    acked = calloc(r->n, sizeof *acked);
    lat = calloc(r->n, sizeof *lat);
    if (acked == NULL || lat == NULL) {
        free(acked);
        free(lat);
        return -1;
    }
    t0 = bench_now_ns();
    if (sg_consumer_start(eng) != 0) {
        fprintf(stderr, "sg-bench runtime: the consumer did not start\n");
        rc = -1;
    }
    while (rc == 0 && done < r->n) {
        event_base_loop(base, EVLOOP_ONCE);
        sg_consumer_get_stats(eng, &st);
        now = bench_now_ns();
        for (k = done; k < st.handled && k < r->n; k++)
            acked[k] = now;
        done = k;
        if (st.dead_lettered > 0 || st.failed > 0) {
            fprintf(stderr, "sg-bench runtime: %" PRIu64 " failed, %" PRIu64
                    " dead-lettered\n", st.failed, st.dead_lettered);
            rc = -1;
        } else if (now - t0 > RUN_TIMEOUT_NS) {
            fprintf(stderr, "sg-bench runtime: timed out after %lu of %lu\n",
                    done, r->n);
            rc = -1;
        }
    }
    t1 = bench_now_ns();
    sg_consumer_get_stats(eng, &st);
    if (sg_consumer_stop(eng, on_stopped, &stopped) == 0) {
        now = bench_now_ns();
        while (!stopped && bench_now_ns() - now < STOP_TIMEOUT_NS)
            event_base_loop(base, EVLOOP_ONCE);
    }
    if (rc == 0) {
        for (k = 0; k < r->n && k < r->nstarted; k++)
            lat[k] = acked[k] > r->started[k]
                         ? (double)(acked[k] - r->started[k]) / 1e3
                         : 0.0;
        qsort(lat, k, sizeof *lat, cmp_double);
        res->seconds = (double)(t1 - t0) / 1e9;
        res->commands_per_msg = (double)st.commands / (double)r->n;
        res->p50_us = k > 0 ? percentile(lat, k, 0.50) : 0.0;
        res->p99_us = k > 0 ? percentile(lat, k, 0.99) : 0.0;
    }
    free(acked);
    free(lat);
    return rc;
}

/* Checks what a run saw and what Redis holds afterwards. */
static void verify(run *r, redisContext *sync, const char *stream,
                   const char *group, result *res)
{
    unsigned long i;
    long long left;
    int all = 1;

    for (i = 0; i < r->n; i++)
        if (!r->seen[i])
            all = 0;
    left = pending(sync, stream, group);
    res->exactly_once = all && !r->duplicate && !r->foreign &&
                        r->calls == r->n;
    res->ordered = !r->disordered;
    res->ok = res->exactly_once && res->ordered && left == 0;
    if (!res->exactly_once)
        fprintf(stderr, "sg-bench runtime: %s: %lu handler calls for %lu "
                "messages%s%s%s\n", stream, r->calls, r->n,
                all ? "" : ", some never handled",
                r->duplicate ? ", some handled twice" : "",
                r->foreign ? ", unknown messages" : "");
    if (!res->ordered)
        fprintf(stderr, "sg-bench runtime: %s: a channel ran out of order\n",
                stream);
    if (left != 0)
        fprintf(stderr, "sg-bench runtime: %s: %lld entries still pending\n",
                stream, left);
}

static int run_init(run *r, unsigned long n, unsigned long channels)
{
    unsigned long c;

    memset(r, 0, sizeof *r);
    r->n = n;
    r->channels = channels;
    r->seen = calloc(n, 1);
    r->last = calloc(channels, sizeof *r->last);
    r->started = calloc(n, sizeof *r->started);
    if (r->seen == NULL || r->last == NULL || r->started == NULL)
        return -1;
    for (c = 0; c < channels; c++)
        r->last[c] = -1;
    return 0;
}

static void run_destroy(run *r)
{
    free(r->seen);
    free(r->last);
    free(r->started);
}

typedef struct env {
    struct event_base *base;
    sg_conn *conn;
    redisContext *sync;
    sg_topology topo;
    sg_knobs knobs;
    sg_log log;
    unsigned long n;
    unsigned long channels;
} env;

static int side_inbound(env *e, result *res)
{
    sg_inbound_consumer_opts o;
    sg_inbound_consumer *in = NULL;
    char name[64];
    run r;
    int rc = -1;

    if (run_init(&r, e->n, e->channels) != 0 ||
        create_group(e->sync, e->topo.inbound_stream,
                     e->topo.worker_group) != 0 ||
        fill(e->sync, e->topo.inbound_stream, 1, e->n, e->channels,
             "in") != 0 ||
        sg_consumer_name_make(name, sizeof name, "worker") != 0)
        goto out;
    sg_inbound_consumer_opts_init(&o);
    o.conn = e->conn;
    o.topo = &e->topo;
    o.knobs = e->knobs;
    o.consumer = name;
    o.handle = on_inbound;
    o.ud = &r;
    o.log = &e->log;
    if (sg_inbound_consumer_new(&o, &in) != 0) {
        fprintf(stderr, "sg-bench runtime: no inbound consumer\n");
        goto out;
    }
    if (drive(e->base, sg_inbound_consumer_engine(in), &r, res) != 0)
        goto out;
    verify(&r, e->sync, e->topo.inbound_stream, e->topo.worker_group, res);
    rc = 0;
out:
    sg_inbound_consumer_free(in);
    run_destroy(&r);
    return rc;
}

static int side_outbound(env *e, result *res)
{
    static const sg_platform_adapter adapter = { on_send, NULL, NULL, NULL,
                                                 NULL, NULL, NULL };
    sg_outbound_consumer_opts o;
    sg_outbound_consumer *oc = NULL;
    char name[64], stream[256], group[256];
    run r;
    int rc = -1;

    if (sg_name_join(stream, sizeof stream, e->topo.outbound_stream_prefix,
                     PLATFORM, strlen(PLATFORM)) < 0 ||
        sg_name_join(group, sizeof group, e->topo.gateway_group_prefix,
                     PLATFORM, strlen(PLATFORM)) < 0) {
        fprintf(stderr, "sg-bench runtime: names too long\n");
        return -1;
    }
    if (run_init(&r, e->n, e->channels) != 0 ||
        create_group(e->sync, stream, group) != 0 ||
        fill(e->sync, stream, 0, e->n, e->channels, "out") != 0 ||
        sg_consumer_name_make(name, sizeof name, "gateway") != 0)
        goto out;
    sg_outbound_consumer_opts_init(&o);
    o.conn = e->conn;
    o.topo = &e->topo;
    o.knobs = e->knobs;
    o.platform = PLATFORM;
    o.consumer = name;
    o.adapter = &adapter;
    o.adapter_ud = &r;
    o.log = &e->log;
    if (sg_outbound_consumer_new(&o, &oc) != 0) {
        fprintf(stderr, "sg-bench runtime: no outbound consumer\n");
        goto out;
    }
    if (drive(e->base, sg_outbound_consumer_engine(oc), &r, res) != 0)
        goto out;
    verify(&r, e->sync, stream, group, res);
    rc = 0;
out:
    sg_outbound_consumer_free(oc);
    run_destroy(&r);
    return rc;
}

static void print_side(const char *name, const result *res, unsigned long n,
                       unsigned long channels)
{
    printf("\"%s\":{\"messages\":%lu,\"channels\":%lu,\"seconds\":%.3f,"
           "\"msgs_per_s\":%.0f,\"commands_per_msg\":%.3f,"
           "\"p50_us\":%.1f,\"p99_us\":%.1f,\"exactly_once\":%s,"
           "\"ordered\":%s}",
           name, n, channels, res->seconds,
           res->seconds > 0 ? (double)n / res->seconds : 0.0,
           res->commands_per_msg, res->p50_us, res->p99_us,
           res->exactly_once ? "true" : "false",
           res->ordered ? "true" : "false");
}

/* ---- main --------------------------------------------------------------- */

int bench_runtime_main(int argc, char **argv)
{
    static const char *const extra[] = { "maxmemory-policy noeviction",
                                         NULL };
    unsigned long n = 100000, channels = 50, read_count = 0;
    unsigned long order_queues = 2;     /* 2: the knob's default */
    const char *url = NULL, *side = "both";
    char host[256], version[32];
    int port = 0, do_in, do_out, i, rc = 1, started = 0;
    sgt_redis redis;
    sgt_redis_opts ro;
    sg_conn_opts co;
    result rin, rout;
    env e;

    for (i = 1; i < argc; i++) {
        const char *opt = argv[i];

        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sg-bench runtime: '%s' needs a value\n", opt);
            usage(stderr);
            return 2;
        }
        if (strcmp(opt, "--messages") == 0) {
            if (bench_parse_count(opt, argv[++i], 1, 100000000, &n) != 0)
                return 2;
        } else if (strcmp(opt, "--channels") == 0) {
            if (bench_parse_count(opt, argv[++i], 1, 1000000, &channels) !=
                0)
                return 2;
        } else if (strcmp(opt, "--read-count") == 0) {
            if (bench_parse_count(opt, argv[++i], 1, 100000, &read_count) !=
                0)
                return 2;
        } else if (strcmp(opt, "--order-queues") == 0) {
            if (bench_parse_count(opt, argv[++i], 0, 1, &order_queues) != 0)
                return 2;
        } else if (strcmp(opt, "--redis") == 0) {
            url = argv[++i];
        } else if (strcmp(opt, "--side") == 0) {
            side = argv[++i];
        } else {
            fprintf(stderr, "sg-bench runtime: unknown option '%s'\n", opt);
            usage(stderr);
            return 2;
        }
    }
    do_in = strcmp(side, "inbound") == 0 || strcmp(side, "both") == 0;
    do_out = strcmp(side, "outbound") == 0 || strcmp(side, "both") == 0;
    if (!do_in && !do_out) {
        fprintf(stderr, "sg-bench runtime: --side: '%s'\n", side);
        usage(stderr);
        return 2;
    }

    memset(&e, 0, sizeof e);
    memset(&rin, 0, sizeof rin);
    memset(&rout, 0, sizeof rout);
    if (url != NULL) {
        if (sg_conn_parse_url(url, host, sizeof host, &port) != 0) {
            fprintf(stderr, "sg-bench runtime: --redis: bad URL '%s'\n",
                    url);
            return 2;
        }
    } else {
        memset(&ro, 0, sizeof ro);
        ro.extra_config = extra;
        if (sgt_redis_start(&redis, &ro) != 0) {
            fprintf(stderr, "sg-bench runtime: %s\n", redis.errstr);
            return 1;
        }
        started = 1;
        snprintf(host, sizeof host, "%s", redis.host);
        port = redis.port;
    }
    e.n = n;
    e.channels = channels;
    e.base = sg_event_base_new();
    e.sync = redisConnect(host, port);
    if (e.base == NULL || e.sync == NULL || e.sync->err) {
        fprintf(stderr, "sg-bench runtime: cannot reach %s:%d\n", host,
                port);
        goto out;
    }
    server_version(e.sync, version, sizeof version);
    sg_log_init(&e.log);
    e.log.level = SG_LOG_WARN;
    sg_conn_opts_init(&co);
    co.host = host;
    co.port = port;
    co.name = "commands";
    co.log = &e.log;
    if (sg_conn_new(e.base, &co, &e.conn) != 0) {
        fprintf(stderr, "sg-bench runtime: no connection\n");
        goto out;
    }
    sg_topology_init(&e.topo);
    sg_knobs_init(&e.knobs);
    if (read_count > 0)
        e.knobs.read_count = (int)read_count;
    if (order_queues <= 1)
        e.knobs.order_queues = (int)order_queues;

    if (do_in && side_inbound(&e, &rin) != 0)
        goto out;
    if (do_out && side_outbound(&e, &rout) != 0)
        goto out;

    printf("{\"bench\":\"runtime\",");
    if (do_in) {
        print_side("inbound", &rin, n, channels);
        putchar(',');
    }
    if (do_out) {
        print_side("outbound", &rout, n, channels);
        putchar(',');
    }
    printf("\"latency\":\"handler start to acknowledgement confirmed\","
           "\"order_queues\":%d,\"read_count\":%d,\"redis\":\"%s\",\"compiler\":\"%s\","
           "\"build_type\":\"%s\"}\n",
           e.knobs.order_queues, e.knobs.read_count, version,
           bench_compiler(),
           bench_build_type());
    rc = (!do_in || rin.ok) && (!do_out || rout.ok) ? 0 : 1;
out:
    sg_conn_free(e.conn);
    if (e.sync != NULL)
        redisFree(e.sync);
    if (e.base != NULL)
        event_base_free(e.base);
    if (started)
        sgt_redis_stop(&redis);
    return rc;
}
