/*
 * sg-bench e2e: the reference stack end to end, every role its own
 * process, against a private redis-server.
 *
 *     sg-bench e2e [--messages N] [--channels C] [--workers W]
 *                  [--bin-dir DIR] [--timeout S] [--keep-logs]
 *
 * Starts redis-server, sg-mock-llm (no latency), sg-gateway with the
 * `http` platform, and W sg-inference workers. The bench itself is the
 * chat platform: the gateway's webhook is an HTTP server inside this
 * process, which timestamps every call as it arrives. It is also the
 * platform's inbound side: it publishes N inbound envelopes at once
 * (pipelined XADDs, as a gateway would publish them), message i on
 * channel bench-(i % C) with content "<i>"; the mock LLM answers
 * "echo: <i>", the worker publishes that as an outbound message, the
 * gateway sends it to the webhook.
 *
 * It prints one JSON line: messages/s (first publish to last send), p50
 * and p99 latency (publish to the platform receiving the send), Redis
 * commands per message: redis_commands_per_msg counts what the processes
 * sent (each one's sg_redis_commands_sent_total from its /metrics, plus
 * the bench's N publishes, which stand for the gateway's), and
 * redis_executed_per_msg what the server executed (INFO commandstats, the
 * commands run inside scripts included, less the bench's own), with a
 * per-command breakdown of the latter and of the time redis-server spent
 * executing each (redis_usec_per_msg); the CPU time (user + system) each
 * process used over the burst, per message (cpu_us_per_msg: redis-server,
 * sg-bench itself as the platform, every service, and their total, which
 * is the budget two cores give: 100 us at 20,000 messages/s); per worker,
 * from its /metrics, the entries it handed to another worker, its begins
 * that found a channel busy and its wake-ups, per message
 * (workers_per_msg); the idle RSS of
 * each process before the burst and its peak RSS (VmHWM) after, and the
 * checks: every message sent to the platform exactly once, in per-channel
 * order, nothing dead-lettered, nothing left pending. Exit 1 when a check
 * fails or a process dies, 2 on a usage error.
 *
 * Binaries are taken from --bin-dir, by default the folder sg-bench
 * itself is in.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <hiredis/hiredis.h>

#include "sg/codec.h"
#include "sg/config.h"
#include "sg_redis_fixture.h"

#include "bench.h"

#define MAX_WORKERS 16
#define MAX_PROCS (MAX_WORKERS + 2)
#define PUBLISH_BATCH 1000
#define BODY_LIMIT (1u << 20)
#define READY_TIMEOUT_NS (60ull * 1000000000ull)
#define SETTLE_NS (500ull * 1000000ull)

typedef struct proc {
    char name[32];
    pid_t pid;
    char log[PATH_MAX];
    int metrics_port;           /* 0: none announced */
    long long cmds0, cmds1;     /* sg_redis_commands_sent_total; -1: none */
    /* Workers: sg_inference_{handed_over,lock_busy,woken}_total after. */
    long long handed, busy, woken;
    long idle_rss_kb;
    long peak_rss_kb;
    long long cpu0, cpu1;       /* utime + stime, clock ticks; -1: unknown */
    int exited;
    int status;
} proc;

typedef struct bench {
    unsigned long n;
    unsigned long channels;
    unsigned long workers;
    double timeout_s;
    char bin[PATH_MAX];
    char dir[PATH_MAX];

    struct event_base *base;
    struct evhttp *http;
    int http_port;

    uint64_t *published;        /* per message: publish time, ns */
    uint64_t *arrived;          /* per message: send arrival time, ns */
    long *last;                 /* per channel: last message sent, or -1 */
    unsigned long sends;        /* send calls, duplicates included */
    unsigned long received;     /* distinct messages sent */
    unsigned long other_ops;    /* typing and the like */
    int duplicate;
    unsigned long disordered;   /* sends older than their channel's last */
    int foreign;
    uint64_t last_arrival;

    proc procs[MAX_PROCS];
    int nprocs;
    long long redis_cpu0, redis_cpu1;   /* redis-server, clock ticks */
    long long self_cpu0, self_cpu1;     /* this process (the platform) */
} bench;

static void usage(FILE *f)
{
    fputs("usage: sg-bench e2e [--messages N] [--channels C] [--workers W]\n"
          "                    [--bin-dir DIR] [--timeout S] [--keep-logs]\n"
          "\n"
          "Runs redis-server, sg-mock-llm, sg-gateway (http platform) and W\n"
          "sg-inference workers as processes, publishes N inbound messages\n"
          "over C channels at once, and measures until the last reply\n"
          "reaches the platform (this process). Prints one JSON line:\n"
          "messages/s, p50/p99 latency, Redis commands per message, idle\n"
          "and peak RSS per process, CPU per message per process, and per\n"
          "worker the entries it handed over, its busy begins and wake-ups\n"
          "per message; checks exactly-once delivery,\n"
          "per-channel order, no dead letters and nothing pending (exit 1\n"
          "otherwise).\n"
          "\n"
          "  --messages N   default 20000\n"
          "  --channels C   default 50\n"
          "  --workers W    default 2 (at most 16)\n"
          "  --bin-dir DIR  where the binaries are (default: sg-bench's)\n"
          "  --timeout S    seconds the burst may take (default 300)\n"
          "  --keep-logs    keep the processes' logs and say where\n", f);
}

/* ---- the platform: the gateway's webhook --------------------------------- */

/* "echo: <i>" -> i; -1 otherwise. */
static long parse_reply(const char *text)
{
    const char *p;
    long v = 0;

    if (text == NULL || strncmp(text, "echo: ", 6) != 0)
        return -1;
    p = text + 6;
    if (*p == '\0')
        return -1;
    for (; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > 100000000)
            return -1;
        v = v * 10 + (*p - '0');
    }
    return v;
}

/* "bench-<k>" -> k; -1 otherwise. */
static long parse_channel(const char *s)
{
    char *end;
    long v;

    if (s == NULL || strncmp(s, "bench-", 6) != 0 || s[6] == '\0')
        return -1;
    errno = 0;
    v = strtol(s + 6, &end, 10);
    return errno != 0 || *end != '\0' || v < 0 ? -1 : v;
}

static void record_send(bench *b, const cJSON *envelope, uint64_t now)
{
    const cJSON *text = cJSON_GetObjectItemCaseSensitive(envelope, "text");
    const cJSON *chan =
        cJSON_GetObjectItemCaseSensitive(envelope, "channel_id");
    long i = parse_reply(cJSON_IsString(text) ? text->valuestring : NULL);
    long ch = parse_channel(cJSON_IsString(chan) ? chan->valuestring : NULL);

    b->sends++;
    if (i < 0 || (unsigned long)i >= b->n || ch < 0 ||
        (unsigned long)i % b->channels != (unsigned long)ch) {
        b->foreign = 1;
        return;
    }
    if (b->arrived[i] != 0) {
        b->duplicate = 1;
        return;
    }
    b->arrived[i] = now;
    b->received++;
    b->last_arrival = now;
    if (b->last[ch] >= i)
        b->disordered++;
    else
        b->last[ch] = i;
}

static void on_webhook(struct evhttp_request *req, void *arg)
{
    bench *b = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    size_t len = evbuffer_get_length(in);
    uint64_t now = bench_now_ns();
    cJSON *body = NULL;
    const cJSON *op;
    char *text;

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_send_error(req, 405, "POST only");
        return;
    }
    text = malloc(len + 1);
    if (text == NULL) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    evbuffer_remove(in, text, len);
    text[len] = '\0';
    body = cJSON_ParseWithLength(text, len);
    free(text);
    op = cJSON_GetObjectItemCaseSensitive(body, "op");
    if (!cJSON_IsString(op)) {
        b->foreign = 1;
        cJSON_Delete(body);
        evhttp_send_error(req, 400, "no op");
        return;
    }
    if (strcmp(op->valuestring, "send") == 0)
        record_send(b, cJSON_GetObjectItemCaseSensitive(body, "envelope"),
                    now);
    else
        b->other_ops++;
    cJSON_Delete(body);
    evhttp_add_header(evhttp_request_get_output_headers(req),
                      "Content-Type", "application/json");
    evbuffer_add_printf(out, "{\"ok\":true,\"message_id\":\"p-%lu\"}",
                        b->sends + b->other_ops);
    evhttp_send_reply(req, 200, "OK", out);
}

static int platform_start(bench *b)
{
    struct evhttp_bound_socket *s;
    evutil_socket_t fd;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;

    b->http = evhttp_new(b->base);
    if (b->http == NULL)
        return -1;
    evhttp_set_max_body_size(b->http, BODY_LIMIT);
    evhttp_set_gencb(b->http, on_webhook, b);
    s = evhttp_bind_socket_with_handle(b->http, "127.0.0.1", 0);
    if (s == NULL)
        return -1;
    fd = evhttp_bound_socket_get_fd(s);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    b->http_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

/* ---- processes ------------------------------------------------------------ */

/* Starts argv with env (NULL-terminated "K=V" strings added to ours). */
static int spawn(bench *b, const char *name, char *const argv[],
                 char *const env[])
{
    proc *p;
    pid_t pid;
    int fd, i;

    if (b->nprocs >= MAX_PROCS)
        return -1;
    p = &b->procs[b->nprocs];
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    if (snprintf(p->log, sizeof p->log, "%s/%s.log", b->dir, name) >=
        (int)sizeof p->log)
        return -1;
    fflush(NULL);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        fd = open(p->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        for (i = 0; env[i] != NULL; i++)
            putenv(env[i]);
        execv(argv[0], argv);
        fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    p->pid = pid;
    b->nprocs++;
    return 0;
}

static int proc_alive(proc *p)
{
    int status;

    if (p->exited)
        return 0;
    if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
        p->exited = 1;
        p->status = status;
        return 0;
    }
    return 1;
}

/* Does the process's log hold the line prefix? */
static int log_has(const proc *p, const char *needle)
{
    FILE *f = fopen(p->log, "r");
    char buf[1024];
    int found = 0;

    if (f == NULL)
        return 0;
    while (fgets(buf, sizeof buf, f) != NULL) {
        if (strstr(buf, needle) != NULL) {
            found = 1;
            break;
        }
    }
    fclose(f);
    return found;
}

static void show_log(const proc *p)
{
    char cmd[PATH_MAX + 32];

    fprintf(stderr, "sg-bench e2e: ---- %s (%s), last lines:\n", p->name,
            p->log);
    snprintf(cmd, sizeof cmd, "tail -n 20 '%s' >&2", p->log);
    if (system(cmd) != 0)
        fprintf(stderr, "(cannot show the log)\n");
}

static int wait_ready(bench *b, proc *p, const char *needle)
{
    uint64_t deadline = bench_now_ns() + READY_TIMEOUT_NS;
    struct timespec ts = { 0, 20 * 1000000L };

    while (bench_now_ns() < deadline) {
        if (log_has(p, needle))
            return 0;
        if (!proc_alive(p)) {
            fprintf(stderr, "sg-bench e2e: %s exited before it was ready\n",
                    p->name);
            show_log(p);
            return -1;
        }
        /* Keep the webhook answering while services start. */
        event_base_loop(b->base, EVLOOP_NONBLOCK);
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "sg-bench e2e: %s not ready after 60 s\n", p->name);
    show_log(p);
    return -1;
}

/* VmRSS or VmHWM of pid, in kB; -1 when unknown. */
static long proc_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    size_t flen = strlen(field);
    FILE *f;
    long v = -1;

    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    while (fgets(line, sizeof line, f) != NULL) {
        if (strncmp(line, field, flen) == 0 && line[flen] == ':') {
            v = strtol(line + flen + 1, NULL, 10);
            break;
        }
    }
    fclose(f);
    return v;
}

/*
 * utime + stime of pid (0: this process), in clock ticks; -1 when unknown.
 * The command name in /proc/<pid>/stat may hold spaces and parentheses, so
 * fields are counted from the last ')'.
 */
static long long proc_cpu_ticks(pid_t pid)
{
    char path[64], line[1024], *p;
    unsigned long long ut, st;
    FILE *f;
    int ok;

    if (pid == 0)
        snprintf(path, sizeof path, "/proc/self/stat");
    else
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    p = fgets(line, sizeof line, f);
    fclose(f);
    if (p == NULL || (p = strrchr(line, ')')) == NULL)
        return -1;
    /* After ')': state (3) ... utime (14), stime (15). */
    ok = sscanf(p + 1,
                " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
                &ut, &st);
    return ok == 2 ? (long long)(ut + st) : -1;
}

/* The port of "<prog>: metrics at http://127.0.0.1:<port>/metrics". */
static int metrics_port(const proc *p)
{
    FILE *f = fopen(p->log, "r");
    char buf[1024];
    const char *at;
    int port = 0;

    if (f == NULL)
        return 0;
    while (port == 0 && fgets(buf, sizeof buf, f) != NULL)
        if ((at = strstr(buf, ": metrics at http://127.0.0.1:")) != NULL)
            port = atoi(at + strlen(": metrics at http://127.0.0.1:"));
    fclose(f);
    return port;
}

/*
 * sg_redis_commands_sent_total from the process's /metrics (plain HTTP/1.0
 * on loopback, so no client library is needed); -1 when it is not there.
 */
/* The value of the metric whose line starts with "\n<metric> "; -1. */
static long long scrape_metric(int port, const char *metric)
{
    struct sockaddr_in sa;
    char req[128], *buf = NULL, *at;
    size_t len = 0, cap = 0;
    long long v = -1;
    ssize_t n;
    int fd;

    if (port <= 0)
        return -1;
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    snprintf(req, sizeof req,
             "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        return -1;
    }
    for (;;) {
        if (cap - len < 4096) {
            char *nb;

            if (cap >= (8u << 20))
                break;
            nb = realloc(buf, cap ? cap * 2 : 65536);
            if (nb == NULL)
                break;
            buf = nb;
            cap = cap ? cap * 2 : 65536;
        }
        n = read(fd, buf + len, cap - len - 1);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    if (buf != NULL) {
        buf[len] = '\0';
        at = strstr(buf, metric);
        if (at != NULL)
            v = strtoll(at + strlen(metric), NULL, 10);
        free(buf);
    }
    return v;
}

static long long scrape_commands(int port)
{
    return scrape_metric(port, "\nsg_redis_commands_sent_total ");
}

/* Sum over the processes of cmds1 - cmds0; -1 when any could not tell. */
static long long commands_sent(const bench *b, int *counted)
{
    long long sum = 0;
    int i;

    *counted = 0;
    for (i = 0; i < b->nprocs; i++) {
        const proc *p = &b->procs[i];

        if (p->metrics_port == 0)
            continue;
        if (p->cmds0 < 0 || p->cmds1 < p->cmds0)
            return -1;
        sum += p->cmds1 - p->cmds0;
        (*counted)++;
    }
    return *counted > 0 ? sum : -1;
}

/* SIGTERM to every process, newest first; waits up to 20 s each. */
static int stop_all(bench *b)
{
    int i, k, bad = 0, status;
    struct timespec ts = { 0, 20 * 1000000L };

    for (i = b->nprocs - 1; i >= 0; i--) {
        proc *p = &b->procs[i];

        if (!proc_alive(p)) {
            fprintf(stderr, "sg-bench e2e: %s had exited\n", p->name);
            show_log(p);
            bad = 1;
            continue;
        }
        kill(p->pid, SIGTERM);
        for (k = 0; k < 1000 && proc_alive(p); k++)
            nanosleep(&ts, NULL);
        if (!p->exited) {
            fprintf(stderr, "sg-bench e2e: %s ignored SIGTERM\n", p->name);
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            bad = 1;
            continue;
        }
        if (!WIFEXITED(p->status) || WEXITSTATUS(p->status) != 0) {
            fprintf(stderr, "sg-bench e2e: %s stopped with status %d\n",
                    p->name, p->status);
            show_log(p);
            bad = 1;
        }
    }
    return bad ? -1 : 0;
}

/* ---- Redis ---------------------------------------------------------------- */

#define MAX_CMDS 64

/* Calls per command, from INFO commandstats. */
typedef struct cmdstats {
    char name[MAX_CMDS][40];
    long long calls[MAX_CMDS];
    long long usec[MAX_CMDS];   /* time spent executing, as Redis counts */
    int n;
    long long total;            /* -1 on error */
} cmdstats;

static long long cmd_calls(const cmdstats *st, const char *name,
                           long long *usec)
{
    int i;

    for (i = 0; i < st->n; i++)
        if (strcmp(st->name[i], name) == 0) {
            *usec = st->usec[i];
            return st->calls[i];
        }
    *usec = 0;
    return 0;
}

/* Reads "cmdstat_<name>:calls=<n>,..." lines. */
static void redis_calls(redisContext *c, cmdstats *st)
{
    redisReply *rep = redisCommand(c, "INFO commandstats");
    const char *p, *colon;

    memset(st, 0, sizeof *st);
    st->total = -1;
    if (rep != NULL && rep->type == REDIS_REPLY_STRING) {
        st->total = 0;
        for (p = rep->str; (p = strstr(p, "cmdstat_")) != NULL; p = colon) {
            size_t len;

            p += 8;
            colon = strchr(p, ':');
            if (colon == NULL || strncmp(colon, ":calls=", 7) != 0)
                break;
            len = (size_t)(colon - p);
            if (st->n < MAX_CMDS && len < sizeof st->name[0]) {
                memcpy(st->name[st->n], p, len);
                st->name[st->n][len] = '\0';
                st->calls[st->n] = strtoll(colon + 7, NULL, 10);
                st->usec[st->n] = strstr(colon, ",usec=") != NULL
                                      ? strtoll(strstr(colon, ",usec=") + 6,
                                                NULL, 10)
                                      : 0;
                st->total += st->calls[st->n];
                st->n++;
            }
        }
    }
    freeReplyObject(rep);
}

static long long redis_int(redisContext *c, const char *fmt, const char *a,
                           const char *b2)
{
    redisReply *rep = redisCommand(c, fmt, a, b2);
    long long v = -1;

    if (rep != NULL && rep->type == REDIS_REPLY_INTEGER)
        v = rep->integer;
    else if (rep != NULL && rep->type == REDIS_REPLY_ARRAY &&
             rep->elements > 0 &&
             rep->element[0]->type == REDIS_REPLY_INTEGER)
        v = rep->element[0]->integer;
    freeReplyObject(rep);
    return v;
}

/* Publishes messages [from, to) pipelined; stamps their publish times. */
static int publish(bench *b, redisContext *c, const sg_topology *topo,
                   unsigned long from, unsigned long to)
{
    char ch[32], num[24];
    sg_envelope env;
    sg_error err;
    sg_buf buf;
    unsigned long i;
    redisReply *rep;
    int rc = 0;
    uint64_t now = bench_now_ns();

    sg_buf_init(&buf, NULL);
    for (i = from; i < to; i++) {
        snprintf(ch, sizeof ch, "bench-%lu", i % b->channels);
        snprintf(num, sizeof num, "%lu", i);
        sg_envelope_init(&env, SG_KIND_INBOUND);
        env.u.in.platform.ptr = "http";
        env.u.in.platform.len = 4;
        env.u.in.channel_id.ptr = ch;
        env.u.in.channel_id.len = strlen(ch);
        env.u.in.content.ptr = num;
        env.u.in.content.len = strlen(num);
        env.u.in.is_addressed = true;
        buf.len = 0;
        if (sg_envelope_encode(&env, &buf, &err) != 0) {
            rc = -1;
            break;
        }
        b->published[i] = now;
        redisAppendCommand(c, "XADD %s * data %b", topo->inbound_stream,
                           buf.data, buf.len);
    }
    for (; from < i; from++) {
        rep = NULL;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK || rep == NULL ||
            rep->type != REDIS_REPLY_STRING)
            rc = -1;
        freeReplyObject(rep);
    }
    sg_buf_destroy(&buf);
    return rc;
}

/* ---- the run -------------------------------------------------------------- */

/* CPU time of every process of the stack: at the burst's start (0), end (1). */
static void cpu_sample(bench *b, const sgt_redis *redis, int end)
{
    int i;

    for (i = 0; i < b->nprocs; i++)
        *(end ? &b->procs[i].cpu1 : &b->procs[i].cpu0) =
            proc_cpu_ticks(b->procs[i].pid);
    *(end ? &b->redis_cpu1 : &b->redis_cpu0) =
        redis->pid > 0 ? proc_cpu_ticks((pid_t)redis->pid) : -1;
    *(end ? &b->self_cpu1 : &b->self_cpu0) = proc_cpu_ticks(0);
}

/* Microseconds of CPU per message between two samples; -1 when unknown. */
static double cpu_us(const bench *b, long long t0, long long t1)
{
    static long hz;

    if (hz <= 0)
        hz = sysconf(_SC_CLK_TCK);
    if (t0 < 0 || t1 < t0 || hz <= 0)
        return -1.0;
    return (double)(t1 - t0) * 1e6 / (double)hz / (double)b->n;
}

/*
 * "cpu_us_per_msg": each process's CPU time (user + system) over the burst,
 * divided by the messages: where the machine's cores went.
 */
static void print_cpu(const bench *b)
{
    double v, total = 0.0;
    int i, known = 1;

    printf(",\"cpu_us_per_msg\":{");
    v = cpu_us(b, b->redis_cpu0, b->redis_cpu1);
    known &= v >= 0;
    total += v;
    printf("\"redis-server\":%.1f", v);
    v = cpu_us(b, b->self_cpu0, b->self_cpu1);
    known &= v >= 0;
    total += v;
    printf(",\"sg-bench\":%.1f", v);
    for (i = 0; i < b->nprocs; i++) {
        v = cpu_us(b, b->procs[i].cpu0, b->procs[i].cpu1);
        known &= v >= 0;
        total += v;
        printf(",\"%s\":%.1f", b->procs[i].name, v);
    }
    printf(",\"total\":%.1f}", known ? total : -1.0);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *sorted, size_t n, double p)
{
    size_t k = (size_t)(p * (double)(n - 1) + 0.5);

    return n == 0 ? 0.0 : (double)sorted[k] / 1e6;
}

static int run(bench *b, sgt_redis *redis)
{
    char url[128], webhook[128], llm[128], llm_port_file[PATH_MAX];
    char wname[32];
    char *llm_argv[] = { NULL, "--listen", "127.0.0.1:0", "--port-file",
                         llm_port_file, "--latency-ms", "0", NULL };
    char *gw_argv[2] = { NULL, NULL }, *wk_argv[2] = { NULL, NULL };
    char llm_bin[PATH_MAX + 32], gw_bin[PATH_MAX + 32], wk_bin[PATH_MAX + 32];
    char *noenv[] = { NULL };
    char env_url[160], env_hook[192], env_llm[192], env_inst[MAX_WORKERS][96];
    char *gw_env[] = { env_url, env_hook, "SG_PLATFORMS=http",
                       "SG_HTTP_PLATFORM_LISTEN=127.0.0.1:0",
                       "SG_INSTANCE_ID=bench-gateway", "LOG_LEVEL=warn",
                       NULL };
    char *wk_env[MAX_WORKERS][6];
    sg_topology topo;
    redisContext *c = NULL;
    cmdstats *st0 = NULL, *st1 = NULL;
    long long calls0, calls1, dlq, pend_in, pend_out, sent;
    int counted = 0;
    unsigned long i, w, own = 0;
    uint64_t t0, deadline, settle, *lat = NULL;
    FILE *pf;
    int port = 0, rc = -1, ok;
    double seconds;
    char out_stream[256], out_group[256];

    sg_topology_init(&topo);
    snprintf(url, sizeof url, "redis://%s:%d/0", redis->host, redis->port);
    snprintf(env_url, sizeof env_url, "REDIS_URL=%s", url);
    snprintf(webhook, sizeof webhook, "http://127.0.0.1:%d/webhook",
             b->http_port);
    snprintf(env_hook, sizeof env_hook, "SG_HTTP_PLATFORM_WEBHOOK=%s",
             webhook);
    snprintf(llm_bin, sizeof llm_bin, "%s/sg-mock-llm", b->bin);
    snprintf(gw_bin, sizeof gw_bin, "%s/sg-gateway", b->bin);
    snprintf(wk_bin, sizeof wk_bin, "%s/sg-inference", b->bin);
    if (snprintf(llm_port_file, sizeof llm_port_file, "%s/llm.port",
                 b->dir) >= (int)sizeof llm_port_file)
        return -1;
    llm_argv[0] = llm_bin;
    gw_argv[0] = gw_bin;
    wk_argv[0] = wk_bin;

    if (spawn(b, "mock-llm", llm_argv, noenv) != 0 ||
        wait_ready(b, &b->procs[b->nprocs - 1],
                   "sg-mock-llm: listening on") != 0)
        return -1;
    pf = fopen(llm_port_file, "r");
    if (pf == NULL || fscanf(pf, "%d", &port) != 1) {
        if (pf != NULL)
            fclose(pf);
        fprintf(stderr, "sg-bench e2e: no port from sg-mock-llm\n");
        return -1;
    }
    fclose(pf);
    snprintf(llm, sizeof llm, "http://127.0.0.1:%d/v1", port);
    snprintf(env_llm, sizeof env_llm, "SG_LLM_BASE_URL=%s", llm);

    if (spawn(b, "gateway", gw_argv, gw_env) != 0 ||
        wait_ready(b, &b->procs[b->nprocs - 1], "sg-gateway: ready") != 0)
        return -1;
    for (w = 0; w < b->workers; w++) {
        snprintf(env_inst[w], sizeof env_inst[w],
                 "SG_INSTANCE_ID=bench-worker-%lu", w + 1);
        wk_env[w][0] = env_url;
        wk_env[w][1] = env_llm;
        wk_env[w][2] = env_inst[w];
        wk_env[w][3] = "LOG_LEVEL=warn";
        wk_env[w][4] = NULL;
        snprintf(wname, sizeof wname, "worker-%lu", w + 1);
        if (spawn(b, wname, wk_argv, wk_env[w]) != 0)
            return -1;
    }
    for (w = 0; w < b->workers; w++)
        if (wait_ready(b, &b->procs[b->nprocs - b->workers + w],
                       "sg-inference: ready") != 0)
            return -1;

    /* Idle: let start-up settle, then read each process's RSS. */
    t0 = bench_now_ns() + SETTLE_NS;
    while (bench_now_ns() < t0)
        event_base_loop(b->base, EVLOOP_NONBLOCK | EVLOOP_ONCE);
    for (i = 0; i < (unsigned long)b->nprocs; i++) {
        proc *p = &b->procs[i];

        p->idle_rss_kb = proc_kb(p->pid, "VmRSS");
        p->metrics_port = metrics_port(p);
        p->cmds0 = scrape_commands(p->metrics_port);
    }

    c = sgt_redis_connect(redis);
    if (c == NULL)
        return -1;
    st0 = calloc(1, sizeof *st0);
    st1 = calloc(1, sizeof *st1);
    if (st0 == NULL || st1 == NULL)
        goto out;
    redis_calls(c, st0);
    calls0 = st0->total;
    own++;

    cpu_sample(b, redis, 0);
    t0 = bench_now_ns();
    for (i = 0; i < b->n; i += PUBLISH_BATCH) {
        unsigned long to = i + PUBLISH_BATCH < b->n ? i + PUBLISH_BATCH
                                                    : b->n;
        if (publish(b, c, &topo, i, to) != 0) {
            fprintf(stderr, "sg-bench e2e: publishing failed\n");
            goto out;
        }
        own += to - i;
        /* Answer the webhook between batches. */
        event_base_loop(b->base, EVLOOP_NONBLOCK);
    }

    deadline = t0 + (uint64_t)(b->timeout_s * 1e9);
    while (b->received < b->n && bench_now_ns() < deadline) {
        event_base_loop(b->base, EVLOOP_ONCE);
        for (i = 0; i < (unsigned long)b->nprocs; i++)
            if (!proc_alive(&b->procs[i])) {
                fprintf(stderr, "sg-bench e2e: %s died during the run\n",
                        b->procs[i].name);
                show_log(&b->procs[i]);
                goto out;
            }
    }
    cpu_sample(b, redis, 1);
    seconds = (double)((b->last_arrival > t0 ? b->last_arrival : t0) - t0) /
              1e9;
    /* Late duplicates and the last acknowledgements. */
    settle = bench_now_ns() + SETTLE_NS;
    while (bench_now_ns() < settle)
        event_base_loop(b->base, EVLOOP_NONBLOCK | EVLOOP_ONCE);

    redis_calls(c, st1);
    calls1 = st1->total;
    own++;
    if (sg_name_join(out_stream, sizeof out_stream,
                     topo.outbound_stream_prefix, "http", 4) < 0 ||
        sg_name_join(out_group, sizeof out_group,
                     topo.gateway_group_prefix, "http", 4) < 0)
        goto out;
    dlq = redis_int(c, "XLEN %s", topo.dlq_stream, NULL);
    pend_in = redis_int(c, "XPENDING %s %s", topo.inbound_stream,
                        topo.worker_group);
    pend_out = redis_int(c, "XPENDING %s %s", out_stream, out_group);
    own += 3;
    for (i = 0; i < (unsigned long)b->nprocs; i++) {
        proc *p = &b->procs[i];

        p->peak_rss_kb = proc_kb(p->pid, "VmHWM");
        p->cmds1 = scrape_commands(p->metrics_port);
        p->handed = scrape_metric(p->metrics_port,
                                  "\nsg_inference_handed_over_total ");
        p->busy = scrape_metric(p->metrics_port,
                                "\nsg_inference_lock_busy_total ");
        p->woken = scrape_metric(p->metrics_port,
                                 "\nsg_inference_woken_total ");
    }
    sent = commands_sent(b, &counted);

    lat = malloc((b->received ? b->received : 1) * sizeof *lat);
    if (lat == NULL)
        goto out;
    for (i = 0, w = 0; i < b->n; i++)
        if (b->arrived[i] != 0)
            lat[w++] = b->arrived[i] - b->published[i];
    qsort(lat, w, sizeof *lat, cmp_u64);

    ok = b->received == b->n && !b->duplicate && !b->disordered &&
         !b->foreign && dlq == 0 && pend_in == 0 && pend_out == 0;
    printf("{\"bench\":\"e2e\",\"messages\":%lu,\"channels\":%lu,"
           "\"workers\":%lu,\"delivered\":%lu,\"seconds\":%.3f,"
           "\"msgs_per_s\":%.0f,\"p50_ms\":%.2f,\"p99_ms\":%.2f,"
           "\"redis_commands_per_msg\":%.2f,\"processes_counted\":%d,"
           "\"redis_executed_per_msg\":%.2f,\"platform_calls_per_msg\":%.2f,"
           "\"exactly_once\":%s,\"ordered\":%s,\"out_of_order\":%lu,"
           "\"dead_lettered\":%lld,"
           "\"pending\":%lld,\"rss_kb\":{",
           b->n, b->channels, b->workers, b->received, seconds,
           seconds > 0 ? (double)b->received / seconds : 0.0,
           pct_ms(lat, w, 0.50), pct_ms(lat, w, 0.99),
           /* The bench's publishes stand for the gateway's own. */
           sent >= 0 ? (double)(sent + (long long)b->n) / (double)b->n
                     : -1.0,
           counted,
           calls0 >= 0 && calls1 >= calls0
               ? (double)(calls1 - calls0 - (long long)own) / (double)b->n
               : -1.0,
           (double)(b->sends + b->other_ops) / (double)b->n,
           b->received == b->n && !b->duplicate && !b->foreign ? "true"
                                                                : "false",
           b->disordered ? "false" : "true", b->disordered, dlq,
           (pend_in > 0 ? pend_in : 0) + (pend_out > 0 ? pend_out : 0));
    for (i = 0; i < (unsigned long)b->nprocs; i++)
        printf("%s\"%s\":{\"idle\":%ld,\"peak\":%ld}", i ? "," : "",
               b->procs[i].name, b->procs[i].idle_rss_kb,
               b->procs[i].peak_rss_kb);
    /* The breakdown, largest first would need sorting; in INFO order. */
    printf("},\"redis_commands\":{");
    for (i = 0, w = 0; i < (unsigned long)st1->n; i++) {
        long long us0, d = st1->calls[i] - cmd_calls(st0, st1->name[i], &us0);

        /* The bench's own: its publishes and its checks. */
        if (strcmp(st1->name[i], "xadd") == 0)
            d -= (long long)b->n;
        else if (strcmp(st1->name[i], "xlen") == 0 ||
                 strcmp(st1->name[i], "xpending") == 0)
            d -= strcmp(st1->name[i], "xlen") == 0 ? 1 : 2;

        if (d <= 0 || strcmp(st1->name[i], "info") == 0)
            continue;
        printf("%s\"%s\":%.2f", w++ ? "," : "", st1->name[i],
               (double)d / (double)b->n);
    }
    /*
     * Where redis-server's time went, as its commandstats count it: a
     * script's time includes the commands it ran, which are also listed
     * under their own names. The bench's publishes are in xadd.
     */
    printf("},\"redis_usec_per_msg\":{");
    for (i = 0, w = 0; i < (unsigned long)st1->n; i++) {
        long long us0, us;

        cmd_calls(st0, st1->name[i], &us0);
        us = st1->usec[i] - us0;
        if (us <= 0 || strcmp(st1->name[i], "info") == 0)
            continue;
        printf("%s\"%s\":%.2f", w++ ? "," : "", st1->name[i],
               (double)us / (double)b->n);
    }
    printf("}");
    /*
     * How the workers shared the channels: entries one handed to
     * another's hand list (SG-IN-026), begins that found a channel busy,
     * and wake-ups, per message.
     */
    printf(",\"workers_per_msg\":{");
    for (i = 0, w = 0; i < (unsigned long)b->nprocs; i++) {
        const proc *p = &b->procs[i];

        if (strncmp(p->name, "worker-", 7) != 0)
            continue;
        printf("%s\"%s\":{\"handed_over\":%.2f,\"lock_busy\":%.2f,"
               "\"woken\":%.2f}", w++ ? "," : "", p->name,
               (double)p->handed / (double)b->n,
               (double)p->busy / (double)b->n,
               (double)p->woken / (double)b->n);
    }
    printf("}");
    print_cpu(b);
    printf(",\"latency\":\"publish to the platform receiving the send\","
           "\"compiler\":\"%s\",\"build_type\":\"%s\"}\n", bench_compiler(),
           bench_build_type());
    fflush(stdout);
    if (!ok)
        fprintf(stderr, "sg-bench e2e: checks failed: delivered %lu of %lu,"
                        " duplicate %d, out of order %lu, foreign %d, dlq %lld,"
                        " pending in %lld out %lld\n",
                b->received, b->n, b->duplicate, b->disordered, b->foreign,
                dlq, pend_in, pend_out);
    rc = ok ? 0 : -1;
out:
    free(lat);
    free(st0);
    free(st1);
    if (c != NULL)
        redisFree(c);
    return rc;
}

static int rm_dir(const char *dir)
{
    char cmd[PATH_MAX + 16];

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

int bench_e2e_main(int argc, char **argv)
{
    static const char *const extra[] = { "maxmemory-policy noeviction",
                                         NULL };
    bench b;
    sgt_redis redis;
    sgt_redis_opts ro;
    int i, rc = 1, keep = 0, started = 0;
    char self[PATH_MAX];
    ssize_t n;

    memset(&b, 0, sizeof b);
    b.n = 20000;
    b.channels = 50;
    b.workers = 2;
    b.timeout_s = 300;
    for (i = 1; i < argc; i++) {
        const char *opt = argv[i];

        if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(opt, "--keep-logs") == 0) {
            keep = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "sg-bench e2e: '%s' needs a value\n", opt);
            usage(stderr);
            return 2;
        }
        if (strcmp(opt, "--messages") == 0) {
            if (bench_parse_count(opt, argv[++i], 1, 10000000, &b.n) != 0)
                return 2;
        } else if (strcmp(opt, "--channels") == 0) {
            if (bench_parse_count(opt, argv[++i], 1, 100000, &b.channels) !=
                0)
                return 2;
        } else if (strcmp(opt, "--workers") == 0) {
            if (bench_parse_count(opt, argv[++i], 1, MAX_WORKERS,
                                  &b.workers) != 0)
                return 2;
        } else if (strcmp(opt, "--timeout") == 0) {
            if (bench_parse_seconds(opt, argv[++i], &b.timeout_s) != 0)
                return 2;
        } else if (strcmp(opt, "--bin-dir") == 0) {
            snprintf(b.bin, sizeof b.bin, "%s", argv[++i]);
        } else {
            fprintf(stderr, "sg-bench e2e: unknown option '%s'\n", opt);
            usage(stderr);
            return 2;
        }
    }
    if (b.bin[0] == '\0') {
        n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n <= 0) {
            fprintf(stderr, "sg-bench e2e: where am I? use --bin-dir\n");
            return 2;
        }
        self[n] = '\0';
        if (strrchr(self, '/') != NULL)
            *strrchr(self, '/') = '\0';
        snprintf(b.bin, sizeof b.bin, "%s", self);
    }
    snprintf(b.dir, sizeof b.dir, "%s/sg-bench-e2e-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(b.dir) == NULL) {
        fprintf(stderr, "sg-bench e2e: mkdtemp: %s\n", strerror(errno));
        return 1;
    }

    b.published = calloc(b.n, sizeof *b.published);
    b.arrived = calloc(b.n, sizeof *b.arrived);
    b.last = malloc(b.channels * sizeof *b.last);
    b.base = event_base_new();
    if (b.published == NULL || b.arrived == NULL || b.last == NULL ||
        b.base == NULL) {
        fprintf(stderr, "sg-bench e2e: out of memory\n");
        goto out;
    }
    for (i = 0; (unsigned long)i < b.channels; i++)
        b.last[i] = -1;
    if (platform_start(&b) != 0) {
        fprintf(stderr, "sg-bench e2e: cannot listen for the webhook\n");
        goto out;
    }
    memset(&ro, 0, sizeof ro);
    ro.extra_config = extra;
    if (sgt_redis_start(&redis, &ro) != 0) {
        fprintf(stderr, "sg-bench e2e: %s\n", redis.errstr);
        goto out;
    }
    started = 1;

    rc = run(&b, &redis) == 0 ? 0 : 1;
    if (stop_all(&b) != 0)
        rc = 1;
out:
    for (i = 0; i < b.nprocs; i++)
        if (!b.procs[i].exited) {
            kill(b.procs[i].pid, SIGKILL);
            waitpid(b.procs[i].pid, NULL, 0);
        }
    if (started)
        sgt_redis_stop(&redis);
    if (b.http != NULL)
        evhttp_free(b.http);
    if (b.base != NULL)
        event_base_free(b.base);
    free(b.published);
    free(b.arrived);
    free(b.last);
    if (keep || rc != 0)
        fprintf(stderr, "sg-bench e2e: logs in %s\n", b.dir);
    else if (rm_dir(b.dir) != 0)
        fprintf(stderr, "sg-bench e2e: could not remove %s\n", b.dir);
    return rc;
}
