/*
 * ctx.c: a case's world: its folder, Redis server, MONITOR recorder,
 * mocks, namespace, the environment contract, the IUT's instances, the
 * findings and the verdict.
 */
#define _POSIX_C_SOURCE 200809L

#include "conform.h"

#include <dirent.h>
#include <errno.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

const char *sgc_verdict_name(sgc_verdict v)
{
    switch (v) {
    case SGC_PASS: return "PASS";
    case SGC_NONSTRICT: return "NON-STRICT";
    case SGC_FAIL: return "FAIL";
    case SGC_INFO: return "INFO";
    case SGC_SKIP: return "SKIP";
    case SGC_XFAIL: return "XFAIL";
    case SGC_ERROR: return "ERROR";
    }
    return "?";
}

unsigned long sgc_rand(sgc_ctx *c)
{
    /* splitmix64 */
    unsigned long long z = (c->rng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return (unsigned long)(z ^ (z >> 31));
}

int sgc_ms(const sgc_ctx *c, int ms)
{
    double v = ms * c->scale;
    return v > 2e9 ? 2000000000 : (int)v;
}

int sgc_error(sgc_ctx *c, const char *fmt, ...)
{
    if (!c->errored) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->error, sizeof c->error, fmt, ap);
        va_end(ap);
        c->errored = 1;
    }
    return -1;
}

int sgc_skip(sgc_ctx *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->skip_reason, sizeof c->skip_reason, fmt, ap);
    va_end(ap);
    c->skipped = 1;
    return 0;
}

static sgc_finding *new_finding(sgc_ctx *c, const char *req)
{
    if (c->nfindings >= SGC_MAX_FINDINGS)
        return NULL;
    sgc_finding *f = &c->findings[c->nfindings++];
    memset(f, 0, sizeof *f);
    snprintf(f->req, sizeof f->req, "%s", req);
    f->must = sgc_req_is_must(sgc_reqs_find(c->reqs, req));
    return f;
}

int sgc_check(sgc_ctx *c, const char *req, int ok, const char *expected,
              const char *actual_fmt, ...)
{
    /* Passing checks of one requirement are merged into one line. */
    if (ok) {
        for (int i = 0; i < c->nfindings; i++)
            if (strcmp(c->findings[i].req, req) == 0 && !c->findings[i].info)
                return ok;
    }
    sgc_finding *f = new_finding(c, req);
    if (f == NULL)
        return ok;
    f->ok = ok ? 1 : 0;
    snprintf(f->expected, sizeof f->expected, "%s", expected);
    va_list ap;
    va_start(ap, actual_fmt);
    vsnprintf(f->actual, sizeof f->actual, actual_fmt, ap);
    va_end(ap);
    return ok;
}

void sgc_info(sgc_ctx *c, const char *req, const char *fmt, ...)
{
    sgc_finding *f = new_finding(c, req);
    if (f == NULL)
        return;
    f->ok = 1;
    f->info = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->actual, sizeof f->actual, fmt, ap);
    va_end(ap);
}

/* ---- Redis ------------------------------------------------------------- */

static int redis_connect(sgc_ctx *c)
{
    if (c->rc)
        redisFree(c->rc);
    c->rc = sgt_redis_connect(&c->redis);
    if (c->rc == NULL)
        return -1;
    redisReply *r = redisCommand(c->rc, "CLIENT INFO");
    if (r && r->type == REDIS_REPLY_STRING && c->nrunner_addr < 8) {
        const char *a = strstr(r->str, "addr=");
        if (a) {
            char *dst = c->runner_addr[c->nrunner_addr++];
            size_t n = 0;
            a += 5;
            while (a[n] && a[n] != ' ' && n < 63) {
                dst[n] = a[n];
                n++;
            }
            dst[n] = '\0';
        }
    }
    if (r)
        freeReplyObject(r);
    return 0;
}

redisReply *sgc_cmd(sgc_ctx *c, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->rc == NULL && redis_connect(c) != 0)
            return NULL;
        va_list ap;
        va_start(ap, fmt);
        redisReply *r = redisvCommand(c->rc, fmt, ap);
        va_end(ap);
        if (r != NULL)
            return r;
        redisFree(c->rc);
        c->rc = NULL;
    }
    return NULL;
}

long long sgc_int(sgc_ctx *c, long long none, const char *fmt, ...)
{
    long long v = none;

    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->rc == NULL && redis_connect(c) != 0)
            return none;
        va_list ap;
        va_start(ap, fmt);
        redisReply *r = redisvCommand(c->rc, fmt, ap);
        va_end(ap);
        if (r != NULL) {
            if (r->type == REDIS_REPLY_INTEGER)
                v = r->integer;
            freeReplyObject(r);
            return v;
        }
        redisFree(c->rc);
        c->rc = NULL;
    }
    return none;
}

redisReply *sgc_cmdargv(sgc_ctx *c, int argc, const char **argv,
                        const size_t *lens)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (c->rc == NULL && redis_connect(c) != 0)
            return NULL;
        redisReply *r = redisCommandArgv(c->rc, argc, argv, lens);
        if (r != NULL)
            return r;
        redisFree(c->rc);
        c->rc = NULL;
    }
    return NULL;
}

/*
 * The MONITOR recorder: a forked child with its own connection, writing
 * every command Redis executes (those run by scripts included) to a file,
 * reconnecting after a Redis restart, bounded to 256 MiB.
 */
static void monitor_child(const char *host, int port, const char *path)
{
    FILE *f = fopen(path, "a");
    if (f == NULL)
        _exit(1);
    long long written = 0;
    for (;;) {
        redisContext *rc = redisConnect(host, port);
        if (rc == NULL || rc->err) {
            if (rc)
                redisFree(rc);
            sgc_sleep_ms(50);
            continue;
        }
        redisReply *r = redisCommand(rc, "MONITOR");
        if (r)
            freeReplyObject(r);
        void *rep;
        while (redisGetReply(rc, &rep) == REDIS_OK) {
            redisReply *x = rep;
            if (x->type == REDIS_REPLY_STATUS && written < (256LL << 20)) {
                fprintf(f, "%s\n", x->str);
                written += (long long)x->len + 1;
                fflush(f);
            }
            freeReplyObject(x);
        }
        redisFree(rc);
        fprintf(f, "# monitor: connection lost; reconnecting\n");
        fflush(f);
        sgc_sleep_ms(50);
    }
}

static int monitor_start(sgc_ctx *c)
{
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(0);
        signal(SIGTERM, SIG_DFL);
        monitor_child(c->redis.host, c->redis.port, c->monitor_log);
        _exit(0);
    }
    setpgid(pid, pid);
    memset(&c->monitor, 0, sizeof c->monitor);
    c->monitor.pid = pid;
    /* Wait until the monitor is attached (it shows in CLIENT LIST). */
    for (int i = 0; i < 200; i++) {
        redisReply *r = sgc_cmd(c, "CLIENT LIST");
        int ok = r && r->type == REDIS_REPLY_STRING &&
                 strstr(r->str, "cmd=monitor") != NULL;
        if (r)
            freeReplyObject(r);
        if (ok)
            return 0;
        sgc_sleep_ms(10);
    }
    return 0;
}

int sgc_redis_restart(sgc_ctx *c)
{
    if (c->rc) {
        redisFree(c->rc);
        c->rc = NULL;
    }
    if (sgt_redis_restart(&c->redis) != 0)
        return sgc_error(c, "redis restart failed: %s", c->redis.errstr);
    if (redis_connect(c) != 0)
        return sgc_error(c, "cannot reconnect to redis after restart");
    return 0;
}

/* ---- setup ---------------------------------------------------------------- */

static int mkdirs(const char *path)
{
    char tmp[SGC_PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(tmp, 0755);
            *p = '/';
        }
    }
    return (mkdir(tmp, 0755) == 0 || errno == EEXIST) ? 0 : -1;
}

static void rmtree(const char *path)
{
    DIR *d = opendir(path);
    if (d == NULL)
        return;
    struct dirent *e;
    char p[SGC_PATH_MAX * 2];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rmtree(p);
        else
            unlink(p);
    }
    closedir(d);
    rmdir(path);
}

static void set_names(sgc_ctx *c)
{
    sgc_names *n = &c->n;
    snprintf(n->ns, sizeof n->ns, "sgc:%s:%d:", c->def->id, c->serial);
#define NAME(field, def) snprintf(n->field, sizeof n->field, "%s%s", n->ns, def)
    NAME(inbound, "sg:stream:inbound");
    NAME(outbound_prefix, "sg:stream:outbound");
    NAME(worker_group, "sg:workers");
    NAME(gateway_group_prefix, "sg:gateway");
    NAME(tools_stream, "sg:stream:tools");
    NAME(tools_group, "sg:tools");
    NAME(tools_reply_prefix, "sg:tools:reply");
    NAME(dlq, "sg:stream:dlq");
    NAME(leader_key, "sg:leader:supervisor");
    NAME(status_key, "sg:leader:status");
    NAME(lock_prefix, "sg:lock:channel");
    NAME(olock_prefix, "sg:lock:outbound");
    NAME(claim_prefix, "sg:outbound:claim");
    NAME(attempts, "sg:autoclaim:attempts");
    NAME(oattempts, "sg:autoclaim:outbound:attempts");
    NAME(config_channel, "sg:pubsub:config");
    NAME(rpc_prefix, "sg:rpc:reply");
    NAME(order_prefix, "sg:order:channel");
    NAME(wake_prefix, "sg:wake");
#undef NAME
    snprintf(n->outbound, sizeof n->outbound, "%s:http", n->outbound_prefix);
    snprintf(n->gateway_group, sizeof n->gateway_group, "%s:http",
             n->gateway_group_prefix);
}

static void set_knobs(sgc_ctx *c)
{
    sgc_knobs *k = &c->k;
    k->block_ms = sgc_ms(c, 200);
    k->read_count = 10;
    k->max_in_flight = 256;
    k->lock_ttl_ms = sgc_ms(c, 2000);
    k->olock_ttl_ms = sgc_ms(c, 2000);
    k->lock_wait_ms = sgc_ms(c, 5000);
    k->autoclaim_interval_ms = sgc_ms(c, 200);
    k->autoclaim_min_idle_ms = sgc_ms(c, 1000);
    k->autoclaim_count = 10;
    k->max_deliveries = 3;
    k->max_claims = 3;
    k->max_requeues = 5;
    k->oclaim_ttl_ms = sgc_ms(c, 60000);
    k->drain_ms = sgc_ms(c, 2000);
    k->rpc_timeout_ms = sgc_ms(c, 2000);
    k->llm_timeout_ms = sgc_ms(c, 10000);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

int sgc_ctx_setup(sgc_ctx *c)
{
    snprintf(c->dir, sizeof c->dir, "%s/cases/%s--%s--r%d", c->opts->out_dir,
             c->def->id, c->iut->role, c->rep);
    rmtree(c->dir);
    if (mkdirs(c->dir) != 0)
        return sgc_error(c, "cannot create %s: %s", c->dir, strerror(errno));
    set_names(c);
    set_knobs(c);
    c->effect_ms = c->def->latency_ms;
    sgc_history_init(&c->hist);
    snprintf(c->monitor_log, sizeof c->monitor_log, "%s/redis-monitor.log",
             c->dir);
    snprintf(c->out_last, sizeof c->out_last, "0-0");
    snprintf(c->dlq_last, sizeof c->dlq_last, "0-0");
    snprintf(c->in_last, sizeof c->in_last, "0-0");

    static const char *const extra[] = { "maxmemory-policy noeviction",
                                         NULL };
    sgt_redis_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.persistence = c->def->persistence;
    ro.extra_config = extra;
    if (sgt_redis_start(&c->redis, &ro) != 0)
        return sgc_error(c, "cannot start redis-server: %s",
                         c->redis.errstr);
    c->redis_up = 1;
    if (redis_connect(c) != 0)
        return sgc_error(c, "cannot connect to the case's redis-server");
    monitor_start(c);

    if (strcmp(c->iut->role, "worker") == 0) {
        if (sgc_mock_start(c, &c->llm, "sg-mock-llm", "mock-llm") != 0)
            return -1;
    } else {
        if (sgc_mock_start(c, &c->platform, "sg-mock-platform",
                           "mock-platform") != 0)
            return -1;
        int port = free_port();
        if (port <= 0)
            return sgc_error(c, "no free port for the http platform");
        snprintf(c->http_listen, sizeof c->http_listen, "127.0.0.1:%d",
                 port);
    }
    return 0;
}

void sgc_ctx_teardown(sgc_ctx *c)
{
    for (int i = 0; i < c->ninst; i++)
        sgc_proc_stop(&c->inst[i], c->k.drain_ms + 3000);
    sgc_mock_stop(&c->llm);
    sgc_mock_stop(&c->platform);
    if (c->monitor.pid > 0) {
        kill(c->monitor.pid, SIGKILL);
        sgc_proc_wait(&c->monitor, 2000);
    }
    if (c->rc) {
        redisFree(c->rc);
        c->rc = NULL;
    }
    if (c->redis_up) {
        /* Keep the server's log beside the case's other artefacts. */
        char src[SGC_PATH_MAX + 32], dst[SGC_PATH_MAX + 32];
        snprintf(src, sizeof src, "%s/redis.log", c->redis.dir);
        snprintf(dst, sizeof dst, "%s/redis-server.log", c->dir);
        FILE *in = fopen(src, "r"), *out = in ? fopen(dst, "w") : NULL;
        if (in && out) {
            char buf[8192];
            size_t n;
            while ((n = fread(buf, 1, sizeof buf, in)) > 0)
                fwrite(buf, 1, n, out);
        }
        if (in)
            fclose(in);
        if (out)
            fclose(out);
        sgt_redis_stop(&c->redis);
        c->redis_up = 0;
    }
    sgc_history_free(&c->hist);
    cJSON_Delete(c->llm_reqs);
    cJSON_Delete(c->calls);
    cJSON_Delete(c->outs);
    c->llm_reqs = c->calls = c->outs = NULL;
}

/* ---- the IUT's instances ------------------------------------------------- */

void sgc_env(sgc_ctx *c, const char *fmt, ...)
{
    if (c->nextra_env >= 16)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->extra_env[c->nextra_env++], sizeof c->extra_env[0], fmt,
              ap);
    va_end(ap);
}

typedef struct envlist {
    char *v[96];
    int n;
} envlist;

static void env_put(envlist *e, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void env_put(envlist *e, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    const char *eq = strchr(buf, '=');
    size_t kl = eq ? (size_t)(eq - buf) : strlen(buf);
    for (int i = 0; i < e->n; i++)
        if (strncmp(e->v[i], buf, kl) == 0 && e->v[i][kl] == '=') {
            free(e->v[i]);
            e->v[i] = strdup(buf);
            return;
        }
    if (e->n < 95)
        e->v[e->n++] = strdup(buf);
    e->v[e->n] = NULL;
}

static void build_env(sgc_ctx *c, envlist *e, const char *instance_id,
                      const char *http_listen)
{
    const sgc_names *n = &c->n;
    const sgc_knobs *k = &c->k;
    memset(e, 0, sizeof *e);
    env_put(e, "REDIS_URL=redis://127.0.0.1:%d/0", c->redis.port);
    env_put(e, "SG_INBOUND_STREAM=%s", n->inbound);
    env_put(e, "SG_OUTBOUND_STREAM_PREFIX=%s", n->outbound_prefix);
    env_put(e, "SG_WORKER_GROUP=%s", n->worker_group);
    env_put(e, "SG_GATEWAY_GROUP_PREFIX=%s", n->gateway_group_prefix);
    env_put(e, "SG_TOOLS_STREAM=%s", n->tools_stream);
    env_put(e, "SG_TOOLS_GROUP=%s", n->tools_group);
    env_put(e, "SG_TOOLS_REPLY_STREAM_PREFIX=%s", n->tools_reply_prefix);
    env_put(e, "SG_DLQ_STREAM=%s", n->dlq);
    env_put(e, "SG_LEADER_KEY=%s", n->leader_key);
    env_put(e, "SG_STATUS_LEASE_KEY=%s", n->status_key);
    env_put(e, "SG_LOCK_PREFIX=%s", n->lock_prefix);
    env_put(e, "SG_OUTBOUND_LOCK_PREFIX=%s", n->olock_prefix);
    env_put(e, "SG_OUTBOUND_CLAIM_PREFIX=%s", n->claim_prefix);
    env_put(e, "SG_CLAIM_ATTEMPTS_KEY=%s", n->attempts);
    env_put(e, "SG_OUTBOUND_CLAIM_ATTEMPTS_KEY=%s", n->oattempts);
    env_put(e, "SG_CONFIG_CHANNEL=%s", n->config_channel);
    env_put(e, "SG_RPC_REPLY_PREFIX=%s", n->rpc_prefix);
    env_put(e, "SG_ORDER_PREFIX=%s", n->order_prefix);
    env_put(e, "SG_WAKE_PREFIX=%s", n->wake_prefix);
    env_put(e, "SG_BLOCK_MS=%d", k->block_ms);
    env_put(e, "SG_READ_COUNT=%d", k->read_count);
    env_put(e, "SG_MAX_IN_FLIGHT=%d", k->max_in_flight);
    env_put(e, "SG_LOCK_TTL_MS=%d", k->lock_ttl_ms);
    env_put(e, "SG_OUTBOUND_LOCK_TTL_MS=%d", k->olock_ttl_ms);
    env_put(e, "SG_LOCK_WAIT_MS=%d", k->lock_wait_ms);
    env_put(e, "SG_AUTOCLAIM_INTERVAL_MS=%d", k->autoclaim_interval_ms);
    env_put(e, "SG_AUTOCLAIM_MIN_IDLE_MS=%d", k->autoclaim_min_idle_ms);
    env_put(e, "SG_AUTOCLAIM_COUNT=%d", k->autoclaim_count);
    env_put(e, "SG_MAX_DELIVERIES=%d", k->max_deliveries);
    env_put(e, "SG_MAX_CLAIMS=%d", k->max_claims);
    env_put(e, "SG_MAX_REQUEUES=%d", k->max_requeues);
    env_put(e, "SG_OUTBOUND_CLAIM_TTL_MS=%d", k->oclaim_ttl_ms);
    env_put(e, "SG_STREAM_MAXLEN=100000");
    env_put(e, "SG_DRAIN_MS=%d", k->drain_ms);
    env_put(e, "SG_RPC_TIMEOUT_MS=%d", k->rpc_timeout_ms);
    env_put(e, "SG_INSTANCE_ID=%s", instance_id);
    env_put(e, "SG_METRICS_LISTEN=127.0.0.1:0");
    if (strcmp(c->iut->role, "worker") == 0) {
        env_put(e, "SG_LLM_BASE_URL=%s/v1", c->llm.base);
        env_put(e, "SG_LLM_API_KEY=sgc-test-key");
        env_put(e, "SG_LLM_MODEL=sgc-model");
        env_put(e, "SG_LLM_TIMEOUT_MS=%d", k->llm_timeout_ms);
    } else {
        env_put(e, "SG_PLATFORMS=http");
        env_put(e, "SG_HTTP_PLATFORM_WEBHOOK=%s/webhook", c->platform.base);
        env_put(e, "SG_HTTP_PLATFORM_LISTEN=%s", http_listen);
        env_put(e, "SG_HTTP_PLATFORM_TIMEOUT_MS=%d", sgc_ms(c, 3000));
        env_put(e, "SG_WEBCHAT_LISTEN=127.0.0.1:0");
    }
    for (size_t i = 0; i < c->iut->nenv; i++)
        env_put(e, "%s=%s", c->iut->env[i].key, c->iut->env[i].value);
    for (int i = 0; i < c->nextra_env; i++)
        env_put(e, "%s", c->extra_env[i]);
}

static void env_free(envlist *e)
{
    for (int i = 0; i < e->n; i++)
        free(e->v[i]);
    e->n = 0;
}

/* Consumer names of the IUT's group. */
static int consumer_present(sgc_ctx *c, const char *name, int *count)
{
    const char *stream = strcmp(c->iut->role, "worker") == 0
                             ? c->n.inbound : c->n.outbound;
    const char *group = strcmp(c->iut->role, "worker") == 0
                            ? c->n.worker_group : c->n.gateway_group;
    redisReply *r = sgc_cmd(c, "XINFO CONSUMERS %s %s", stream, group);
    int found = 0;
    *count = 0;
    if (r && r->type == REDIS_REPLY_ARRAY) {
        *count = (int)r->elements;
        for (size_t i = 0; i < r->elements; i++) {
            redisReply *e = r->element[i];
            for (size_t j = 0; e && j + 1 < e->elements; j += 2)
                if (e->element[j]->type == REDIS_REPLY_STRING &&
                    strcmp(e->element[j]->str, "name") == 0 &&
                    strcmp(e->element[j + 1]->str, name) == 0)
                    found = 1;
        }
    }
    if (r)
        freeReplyObject(r);
    return found;
}

static int group_present(sgc_ctx *c)
{
    const char *stream = strcmp(c->iut->role, "worker") == 0
                             ? c->n.inbound : c->n.outbound;
    const char *group = strcmp(c->iut->role, "worker") == 0
                            ? c->n.worker_group : c->n.gateway_group;
    redisReply *r = sgc_cmd(c, "XINFO GROUPS %s", stream);
    int found = 0;
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements;
         i++) {
        const redisReply *g = r->element[i];
        for (size_t j = 0; j + 1 < g->elements; j += 2)
            if (g->element[j]->type == REDIS_REPLY_STRING &&
                strcmp(g->element[j]->str, "name") == 0 &&
                strcmp(g->element[j + 1]->str, group) == 0)
                found = 1;
    }
    if (r)
        freeReplyObject(r);
    return found;
}

int sgc_start_instance(sgc_ctx *c)
{
    if (c->ninst >= SGC_MAX_INSTANCES) {
        sgc_error(c, "too many instances");
        return -1;
    }
    int i = c->ninst;
    sgc_proc *p = &c->inst[i];
    memset(p, 0, sizeof *p);
    snprintf(p->instance_id, sizeof p->instance_id, "sgc-%s-%d-%d",
             c->iut->role, c->serial, c->next_instance);
    snprintf(p->log, sizeof p->log, "%s/iut-%d.stderr", c->dir,
             c->next_instance);
    c->next_instance++;
    /* The first instance listens where the cases post; others on ports
     * of their own, so that several gateways can run side by side. */
    char listen[64];
    snprintf(listen, sizeof listen, "%s", c->http_listen);
    if (c->next_instance > 1 && strcmp(c->iut->role, "gateway") == 0) {
        int port = free_port();
        if (port > 0)
            snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    }
    envlist e;
    build_env(c, &e, p->instance_id, listen);
    int live_before = 0;
    for (int j = 0; j < c->ninst; j++)
        if (!sgc_proc_poll(&c->inst[j]))
            live_before++;
    int rc = sgc_proc_start(p, c->iut->argv, c->iut->cwd, e.v);
    env_free(&e);
    if (rc != 0) {
        sgc_error(c, "cannot start %s: %s", c->iut->argv[0],
                  strerror(errno));
        return -1;
    }
    c->ninst++;
    long long t0 = sgc_now_ms(), end = t0 + sgc_ms(c, 15000);
    while (sgc_now_ms() < end) {
        if (sgc_proc_poll(p)) {
            sgc_error(c, "instance %d exited at start with status %d "
                      "(see %s)", i, WIFEXITED(p->status)
                          ? WEXITSTATUS(p->status) : -WTERMSIG(p->status),
                      p->log);
            return -1;
        }
        int count = 0;
        int ready;
        if (c->iut->ready_log[0])
            ready = sgc_file_contains(p->log, c->iut->ready_log);
        else
            ready = consumer_present(c, p->instance_id, &count) ||
                    count > live_before ||
                    /* A reader that runs XREADGROUP only once entries
                     * arrive (order queues) has no consumer yet: its group
                     * and 2 s of life will do. */
                    (count >= 0 && group_present(c) &&
                     sgc_now_ms() - t0 >= sgc_ms(c, 2000));
        if (ready)
            return i;
        sgc_sleep_ms(20);
    }
    sgc_error(c, "instance %d not ready within %d ms (see %s)", i,
              sgc_ms(c, 15000), p->log);
    return -1;
}

int sgc_start_instances(sgc_ctx *c, int count)
{
    for (int i = 0; i < count; i++)
        if (sgc_start_instance(c) < 0)
            return -1;
    return 0;
}

int sgc_instance_of(sgc_ctx *c, const char *consumer)
{
    for (int i = 0; i < c->ninst; i++)
        if (strcmp(c->inst[i].instance_id, consumer) == 0)
            return i;
    return -1;
}

int sgc_instances_alive(sgc_ctx *c, int *dead_index)
{
    for (int i = 0; i < c->ninst; i++)
        if (!c->inst[i].intended && sgc_proc_poll(&c->inst[i])) {
            if (dead_index)
                *dead_index = i;
            return 0;
        }
    return 1;
}

/* ---- running a case ------------------------------------------------------ */

static int has_all_caps(const sgc_case *def, const sgc_iut *iut,
                        char *missing, size_t cap)
{
    if (def->caps == NULL || def->caps[0] == '\0')
        return 1;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", def->caps);
    char *save = NULL;
    for (char *t = strtok_r(buf, " ", &save); t;
         t = strtok_r(NULL, " ", &save))
        if (!sgc_iut_has_cap(iut, t)) {
            snprintf(missing, cap, "%s", t);
            return 0;
        }
    return 1;
}

sgc_verdict sgc_verdict_of(const sgc_finding *f, int n, const sgc_iut *iut,
                           int errored, int skipped)
{
    if (skipped)
        return SGC_SKIP;
    if (errored)
        return SGC_ERROR;
    int must_fail = 0, should_fail = 0, xfailed = 0, graded = 0;
    for (int i = 0; i < n; i++) {
        if (f[i].info)
            continue;
        graded++;
        if (f[i].ok)
            continue;
        if (iut && sgc_iut_xfail(iut, f[i].req))
            xfailed++;
        else if (f[i].must)
            must_fail++;
        else
            should_fail++;
    }
    if (must_fail)
        return SGC_FAIL;
    if (should_fail)
        return SGC_NONSTRICT;
    if (xfailed)
        return SGC_XFAIL;
    return graded ? SGC_PASS : SGC_INFO;
}

void sgc_run_case(const sgc_case *def, const sgc_iut *iut,
                  const sgc_opts *opts, const sgc_reqs *reqs, int serial,
                  int rep, sgc_result *res)
{
    memset(res, 0, sizeof *res);
    snprintf(res->case_id, sizeof res->case_id, "%s", def->id);
    snprintf(res->title, sizeof res->title, "%s", def->title);
    snprintf(res->iut, sizeof res->iut, "%s", iut->name);
    snprintf(res->role, sizeof res->role, "%s", def->role);
    snprintf(res->reqs, sizeof res->reqs, "%s", def->reqs);
    res->rep = rep;

    char missing[64];
    if (strcmp(def->role, iut->role) != 0) {
        res->verdict = SGC_SKIP;
        snprintf(res->reason, sizeof res->reason, "role %s, IUT is a %s",
                 def->role, iut->role);
        return;
    }
    if (!has_all_caps(def, iut, missing, sizeof missing)) {
        res->verdict = SGC_SKIP;
        snprintf(res->reason, sizeof res->reason,
                 "capability \"%s\" not claimed", missing);
        return;
    }

    sgc_ctx *c = calloc(1, sizeof *c);
    if (c == NULL) {
        res->verdict = SGC_ERROR;
        snprintf(res->reason, sizeof res->reason, "out of memory");
        return;
    }
    c->def = def;
    c->iut = iut;
    c->opts = opts;
    c->reqs = reqs;
    c->serial = serial;
    c->rep = rep;
    c->scale = opts->time_scale > 0 ? opts->time_scale : 1.0;
    c->started_ms = sgc_now_ms();
    c->rng = opts->seed * 0x100000001b3ULL;
    for (const char *p = def->id; *p; p++)
        c->rng = (c->rng ^ (unsigned char)*p) * 0x100000001b3ULL;
    c->deadline_ms = c->started_ms + sgc_ms(c, opts->case_timeout_s * 1000);

    if (sgc_ctx_setup(c) == 0) {
        if (def->instances > 0)
            sgc_start_instances(c, def->instances);
        if (!c->errored)
            def->run(c);
        if (!c->errored && !c->skipped) {
            int dead = -1;
            if (!sgc_instances_alive(c, &dead)) {
                const sgc_proc *p = &c->inst[dead];
                char first[24] = "";
                sscanf(def->reqs, "%23s", first);
                sgc_check(c, first, 0, "every instance keeps running",
                          "instance %d exited (%s %d) during the case; "
                          "see %s", dead,
                          WIFEXITED(p->status) ? "status" : "signal",
                          WIFEXITED(p->status) ? WEXITSTATUS(p->status)
                                               : WTERMSIG(p->status),
                          p->log);
            }
        }
    }
    snprintf(res->dir, sizeof res->dir, "%s", c->dir);
    sgc_ctx_teardown(c);

    res->seconds = (double)(sgc_now_ms() - c->started_ms) / 1000.0;
    res->verdict = sgc_verdict_of(c->findings, c->nfindings, iut,
                                  c->errored, c->skipped);
    if (c->skipped)
        snprintf(res->reason, sizeof res->reason, "%s", c->skip_reason);
    else if (c->errored)
        snprintf(res->reason, sizeof res->reason, "%s", c->error);
    /* A miss the IUT lists as known says so, with the reason. */
    for (int i = 0; i < c->nfindings; i++) {
        sgc_finding *f = &c->findings[i];
        const char *why = f->ok || f->info ? NULL
                                            : sgc_iut_xfail(iut, f->req);
        if (why) {
            size_t off = strlen(f->actual);
            snprintf(f->actual + off, sizeof f->actual - off,
                     " [xfail: %s]", why);
        }
    }
    res->nfindings = c->nfindings;
    if (c->nfindings) {
        res->findings = malloc((size_t)c->nfindings * sizeof *res->findings);
        if (res->findings)
            memcpy(res->findings, c->findings,
                   (size_t)c->nfindings * sizeof *res->findings);
        else
            res->nfindings = 0;
    }
    if ((res->verdict == SGC_PASS || res->verdict == SGC_SKIP ||
         res->verdict == SGC_INFO) && !opts->keep_all) {
        rmtree(c->dir);
        res->dir[0] = '\0';
    }
    free(c);
}
