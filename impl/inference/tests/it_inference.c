/*
 * sg-inference end to end: a real redis-server (sg_redis_fixture.h), the
 * real sg-mock-llm as the LLM (a child process, scripted over HTTP), and
 * the worker run in-process on the test's loop (so that memcheck sees its
 * code), or, for the signal test, the sg-inference program as a child.
 *
 * Spec IDs: SG-IN-002 (bounded in-flight work), SG-IN-007 (passive
 * messages recorded, not answered), SG-IN-010 (acknowledged after
 * success), SG-IN-013 and SG-DLQ-001 (a permanent LLM failure
 * dead-lettered with the reason), SG-IN-017 (SIGTERM: drain, exit 0),
 * SG-INENV-003 (the message rebuilt: text and attachments reach the LLM),
 * SG-OUTENV-006 (the reply carries a message_key), SG-TOPO-002 (the
 * platform's outbound stream), SG-TOPO-003 (the worker group created),
 * SG-TRACE-002 (the inbound trace id on everything published), SG-RPC-005
 * and SG-RPC-009 (history asked of the gateway, a timeout meaning none),
 * SG-CFG-001 (the configuration event reloads the model), SG-LEASE-001
 * (the status lease taken) and SG-LEASE-007 (given back on stop).
 */
/* sg-test-labels: integration */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "sg/codec.h"
#include "sg/conn.h"
#include "sg/json.h"
#include "sg_redis_fixture.h"
#include "sgt_loop.h"
#include "sgt_tail.h"
#include "worker.h"

#define TRACE "0123456789abcdef0123456789abcdef"
#define WAIT_MS 60000
#define MAX_VARS 32
#define MAX_OUT 64

/* ---- the mock LLM, a child process ------------------------------------- */

typedef struct mock {
    pid_t pid;
    int port;
    char dir[256];
} mock;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static void mock_start(mock *m)
{
    char portfile[300], buf[32];
    FILE *f;
    int i;

    snprintf(m->dir, sizeof m->dir, "%s/sgi-mock-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(m->dir));
    snprintf(portfile, sizeof portfile, "%s/port", m->dir);
    m->pid = fork();
    assert_true(m->pid >= 0);
    if (m->pid == 0) {
        execl(SGI_MOCK_LLM_BIN, SGI_MOCK_LLM_BIN, "--listen", "127.0.0.1:0",
              "--port-file", portfile, (char *)NULL);
        _exit(127);
    }
    /* The mock writes the file (temp file, then rename) once bound. */
    m->port = 0;
    for (i = 0; i < 3000 && m->port == 0; i++) {
        f = fopen(portfile, "r");
        if (f != NULL) {
            if (fgets(buf, sizeof buf, f) != NULL)
                m->port = (int)strtol(buf, NULL, 10);
            fclose(f);
        }
        if (m->port == 0)
            sleep_ms(10);
    }
    assert_true(m->port > 0);
    unlink(portfile);
}

static void mock_stop(mock *m)
{
    int status = 0;

    if (m->pid > 0) {
        kill(m->pid, SIGTERM);
        waitpid(m->pid, &status, 0);
        m->pid = 0;
    }
    rmdir(m->dir);
}

typedef struct http_body {
    char buf[1 << 20];
    size_t len;
} http_body;

static size_t on_http_body(char *p, size_t size, size_t n, void *ud)
{
    http_body *b = ud;
    size_t k = size * n;

    if (k > sizeof b->buf - 1 - b->len)
        k = sizeof b->buf - 1 - b->len;
    memcpy(b->buf + b->len, p, k);
    b->len += k;
    b->buf[b->len] = '\0';
    return size * n;
}

/* One blocking HTTP exchange with a server in another process. */
static long http(int port, const char *method, const char *path,
                 const char *body, http_body *out)
{
    CURL *c = curl_easy_init();
    struct curl_slist *h = NULL;
    char url[512];
    long status = 0;

    assert_non_null(c);
    out->len = 0;
    out->buf[0] = '\0';
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_http_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 20000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body != NULL) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return status;
}

static http_body scratch;

static void mock_script(mock *m, const char *script)
{
    assert_int_equal(http(m->port, "PUT", "/_mock/script", script,
                          &scratch), 200);
}

/* Every request the mock recorded; the caller frees the tree. */
static cJSON *mock_requests(mock *m)
{
    cJSON *j, *r;

    assert_int_equal(http(m->port, "GET", "/_mock/requests?since=0", NULL,
                          &scratch), 200);
    j = cJSON_Parse(scratch.buf);
    assert_non_null(j);
    r = cJSON_DetachItemFromObject(j, "requests");
    cJSON_Delete(j);
    assert_true(cJSON_IsArray(r));
    return r;
}

/* The content of the last message of request i's body. */
static const char *request_last_content(const cJSON *reqs, int i)
{
    const cJSON *body = cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, i),
                                            "body");
    const cJSON *msgs = cJSON_GetObjectItem(body, "messages");
    const cJSON *last = cJSON_GetArrayItem(msgs,
                                           cJSON_GetArraySize(msgs) - 1);
    const cJSON *c = cJSON_GetObjectItem(last, "content");

    return cJSON_IsString(c) ? c->valuestring : "";
}

static const char *request_model(const cJSON *reqs, int i)
{
    const cJSON *body = cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, i),
                                            "body");
    const cJSON *m = cJSON_GetObjectItem(body, "model");

    return cJSON_IsString(m) ? m->valuestring : "";
}

/* ---- the world --------------------------------------------------------- */

typedef struct world {
    sgt_redis redis;
    redisContext *sync;
    mock llm;
    struct event_base *base;
    sgi_worker *w;
    sg_log log;
    const char *names[MAX_VARS];
    char values[MAX_VARS][512];
    int nvars;
    int stopped;
} world;

static const char *lookup(const char *name, void *ud)
{
    world *w = ud;
    int i;

    for (i = 0; i < w->nvars; i++)
        if (strcmp(w->names[i], name) == 0)
            return w->values[i];
    return NULL;
}

static void setvar(world *w, const char *name, const char *fmt, ...)
{
    va_list ap;
    int i;

    for (i = 0; i < w->nvars; i++)
        if (strcmp(w->names[i], name) == 0)
            break;
    assert_true(i < MAX_VARS);
    if (i == w->nvars) {
        w->names[i] = name;
        w->nvars++;
    }
    va_start(ap, fmt);
    vsnprintf(w->values[i], sizeof w->values[i], fmt, ap);
    va_end(ap);
}

static int setup(void **state)
{
    world *w;

    *state = NULL;
    if (SGI_MOCK_LLM_BIN[0] == '\0') {
        fprintf(stderr, "this build has no sg-mock-llm (mocks/llm)\n");
        return -1;
    }
    w = calloc(1, sizeof *w);
    assert_non_null(w);
    if (sgt_redis_start(&w->redis, NULL) != 0)
        fail_msg("redis: %s", w->redis.errstr);
    w->sync = sgt_redis_connect(&w->redis);
    assert_non_null(w->sync);
    mock_start(&w->llm);
    w->base = event_base_new();
    assert_non_null(w->base);
    sg_log_init(&w->log);
    w->log.level = SG_LOG_WARN;
    setvar(w, "REDIS_URL", "%s", w->redis.url);
    setvar(w, "SG_LLM_BASE_URL", "http://127.0.0.1:%d/v1", w->llm.port);
    setvar(w, "SG_LLM_MODEL", "model-a");
    setvar(w, "SG_METRICS_LISTEN", "off");
    setvar(w, "SG_BLOCK_MS", "100");
    setvar(w, "SG_RPC_TIMEOUT_MS", "300");
    setvar(w, "SG_DRAIN_MS", "20000");
    setvar(w, "SG_INSTANCE_ID", "worker-test");
    /* Typing at once, so that every answered message shows it; the
       delayed indicator has its own tests. */
    setvar(w, "SG_LLM_TYPING_DELAY_MS", "0");
    *state = w;
    return 0;
}

static void on_worker_stopped(sgi_worker *x, void *ud)
{
    (void)x;
    ((world *)ud)->stopped = 1;
}

static int is_stopped(void *arg)
{
    return ((world *)arg)->stopped;
}

static int teardown(void **state)
{
    world *w = *state;

    if (w == NULL)
        return 0;
    if (w->w != NULL) {
        sgi_worker_stop(w->w, on_worker_stopped, w);
        assert_true(sgt_loop_until(w->base, is_stopped, w, WAIT_MS));
        sgi_worker_free(w->w);
    }
    event_base_free(w->base);
    mock_stop(&w->llm);
    redisFree(w->sync);
    sgt_redis_stop(&w->redis);
    free(w);
    return 0;
}

static int is_ready(void *arg)
{
    return sgi_worker_ready(((world *)arg)->w);
}

static void start_worker(world *w)
{
    sgi_worker_opts o;
    char err[512];

    memset(&o, 0, sizeof o);
    o.base = w->base;
    o.lookup = lookup;
    o.lookup_ud = w;
    o.prog = "sg-inference";
    o.log = &w->log;
    if (sgi_worker_new(&o, &w->w, err, sizeof err) != 0)
        fail_msg("worker: %s", err);
    if (sgi_worker_start(w->w, err, sizeof err) != 0)
        fail_msg("worker start: %s", err);
    assert_true(sgt_loop_until(w->base, is_ready, w, WAIT_MS));
}

/* ---- the bus from the test's side --------------------------------------- */

typedef struct msg_opts {
    const char *platform, *channel, *content, *message_id;
    int passive;
    const char *attachment;     /* base64 data of one attachment, or NULL */
} msg_opts;

/* Nonzero: the next entries go out without any trace id. */
static int publish_without_trace;

static void publish(world *w, const msg_opts *m)
{
    char json[2048];
    sg_envelope *env = NULL;
    sg_error err;
    sg_buf buf;
    redisReply *rep;

    snprintf(json, sizeof json,
             "{\"platform\":\"%s\",\"channel_id\":\"%s\",\"user_id\":\"u1\","
             "\"username\":\"alice\",\"content\":\"%s\",\"message_id\":"
             "\"%s\",\"is_addressed\":%s,\"timestamp\":1700000000.25%s%s%s}",
             m->platform, m->channel, m->content,
             m->message_id != NULL ? m->message_id : "",
             m->passive ? "false" : "true",
             m->attachment != NULL ? ",\"attachments\":[{\"data\":\"" : "",
             m->attachment != NULL ? m->attachment : "",
             m->attachment != NULL ? "\",\"filename\":\"f.txt\","
                                     "\"mimetype\":\"text/plain\"}]" : "");
    if (sg_envelope_from_json(SG_KIND_INBOUND, json, strlen(json), NULL,
                              &env, &err) != 0)
        fail_msg("envelope: %s", err.msg);
    sg_buf_init(&buf, NULL);
    assert_int_equal(sg_envelope_encode(env, &buf, &err), 0);
    if (publish_without_trace)
        rep = redisCommand(w->sync, "XADD sg:stream:inbound * data %b",
                           buf.data, buf.len);
    else
        rep = redisCommand(w->sync, "XADD sg:stream:inbound * data %b ts "
                           "1700000000.25 trace_id %s", buf.data, buf.len,
                           TRACE);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_STRING);
    freeReplyObject(rep);
    sg_buf_destroy(&buf);
    sg_envelope_free(env);
}

static long long integer(world *w, const char *fmt, ...)
{
    va_list ap;
    redisReply *rep;
    long long v = -1;

    va_start(ap, fmt);
    rep = redisvCommand(w->sync, fmt, ap);
    va_end(ap);
    assert_non_null(rep);
    if (rep->type == REDIS_REPLY_INTEGER)
        v = rep->integer;
    freeReplyObject(rep);
    return v;
}

/* Pending entries of the worker group on the inbound stream. */
static long long inbound_pending(world *w)
{
    redisReply *rep = redisCommand(w->sync, "XPENDING sg:stream:inbound "
                                   "sg:workers");
    long long v = -1;

    assert_non_null(rep);
    if (rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
        rep->element[0]->type == REDIS_REPLY_INTEGER)
        v = rep->element[0]->integer;
    freeReplyObject(rep);
    return v;
}

/* One outbound entry, decoded. */
typedef struct out_entry {
    sg_out_type type;
    char text[512];
    char reply_to[64];
    char message_key[256];
    char channel[64];
    char trace[64];
    int has_message_key, has_reply_to;
} out_entry;

static void copy(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        n = cap - 1;
    if (n > 0)
        memcpy(dst, s, n);
    dst[n] = '\0';
}

/* The entries of the outbound stream of platform, in order. */
static int read_outbound(world *w, const char *platform, out_entry *out,
                         int cap)
{
    redisReply *rep;
    size_t i, k;
    int n = 0;

    rep = redisCommand(w->sync, "XRANGE sg:stream:outbound:%s - +",
                       platform);
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    for (i = 0; i < rep->elements && n < cap; i++) {
        redisReply *fields = rep->element[i]->element[1];
        sg_entry_field f[8];
        sg_entry e;
        sg_envelope *env = NULL;
        sg_error err;

        assert_true(fields->elements / 2 <= 8);
        for (k = 0; k < fields->elements / 2; k++) {
            f[k].name.ptr = fields->element[2 * k]->str;
            f[k].name.len = fields->element[2 * k]->len;
            f[k].value.ptr = fields->element[2 * k + 1]->str;
            f[k].value.len = fields->element[2 * k + 1]->len;
        }
        e.fields = f;
        e.nfields = fields->elements / 2;
        if (sg_envelope_decode(SG_KIND_OUTBOUND, &e, NULL, &env, &err) != 0)
            fail_msg("outbound entry refused: %s", err.msg);
        memset(&out[n], 0, sizeof out[n]);
        out[n].type = env->u.out.type;
        copy(out[n].text, sizeof out[n].text, env->u.out.text.ptr,
             env->u.out.text.len);
        out[n].has_reply_to = env->u.out.has_reply_to;
        copy(out[n].reply_to, sizeof out[n].reply_to,
             env->u.out.reply_to.ptr, env->u.out.reply_to.len);
        out[n].has_message_key = env->u.out.has_message_key;
        copy(out[n].message_key, sizeof out[n].message_key,
             env->u.out.message_key.ptr, env->u.out.message_key.len);
        copy(out[n].channel, sizeof out[n].channel,
             env->u.out.channel_id.ptr, env->u.out.channel_id.len);
        copy(out[n].trace, sizeof out[n].trace, env->entry_trace_id.ptr,
             env->entry_trace_id.len);
        sg_envelope_free(env);
        n++;
    }
    freeReplyObject(rep);
    return n;
}

/* Entries of the outbound stream of platform other than RPC requests. */
static int read_sends(world *w, const char *platform, out_entry *out,
                      int cap)
{
    out_entry all[MAX_OUT];
    int n = read_outbound(w, platform, all, MAX_OUT), i, k = 0;

    for (i = 0; i < n && k < cap; i++)
        if (all[i].type != SG_OUT_RPC_REQUEST)
            out[k++] = all[i];
    return k;
}

typedef struct wait_count {
    world *w;
    const char *platform;
    int want;
} wait_count;

static int sends_at_least(void *arg)
{
    wait_count *c = arg;
    out_entry e[MAX_OUT];

    return read_sends(c->w, c->platform, e, MAX_OUT) >= c->want;
}

static void wait_sends(world *w, const char *platform, int n)
{
    wait_count c = {w, platform, n};

    if (!sgt_loop_until(w->base, sends_at_least, &c, WAIT_MS))
        fail_msg("fewer than %d sends on %s", n, platform);
}

typedef struct wait_stat {
    world *w;
    int which;                  /* 0 handled, 1 passive, 2 dead-lettered,
                                   3 config reloads, 4 fenced */
    uint64_t want;
} wait_stat;

static int stat_at_least(void *arg)
{
    wait_stat *s = arg;
    sgi_worker_stats st;
    uint64_t v;

    sgi_worker_get_stats(s->w->w, &st);
    v = s->which == 0 ? st.handled : s->which == 1 ? st.passive
        : s->which == 2 ? st.dead_lettered : s->which == 3
        ? st.config_reloads : st.fenced;
    return v >= s->want;
}

static void wait_stat_at_least(world *w, int which, uint64_t want)
{
    wait_stat s = {w, which, want};

    if (!sgt_loop_until(w->base, stat_at_least, &s, WAIT_MS))
        fail_msg("counter %d did not reach %llu", which,
                 (unsigned long long)want);
}

/* ---- the tests --------------------------------------------------------- */

/*
 * SG-IN-010, SG-OUTENV-006, SG-TRACE-002, SG-TOPO-002, SG-TOPO-003,
 * SG-INENV-003, SG-LEASE-001: an addressed message gives start_typing,
 * the reply (message_key, reply_to) and stop_typing on its platform's
 * outbound stream, and its entry is acknowledged.
 */
static void test_inference_reply_flow(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c1", "hello", "m1", 0, "aGVsbG8="};
    out_entry e[MAX_OUT];
    sgi_worker_stats st;
    uint64_t cmds;
    cJSON *reqs;
    int n;

    setvar(w, "SG_LLM_API_KEY", "sk-test");
    start_worker(w);
    /* SG-TOPO-003: the group exists before anything is published. */
    assert_int_equal(integer(w, "EXISTS sg:stream:inbound"), 1);
    sgi_worker_get_stats(w->w, &st);
    /* Connected and reading: the group check, the first read, the lease,
       the config listener's SUBSCRIBE at least. */
    assert_true(st.redis_commands >= 3);
    cmds = st.redis_commands;
    publish(w, &m);
    wait_sends(w, "webchat", 3);
    wait_stat_at_least(w, 0, 1);
    /* Every command over every connection counts once: for one message at
       least the three XADDs, the history and the acknowledgement; at most
       a few dozen with the history RPC, the reads and the lease. */
    sgi_worker_get_stats(w->w, &st);
    assert_true(st.redis_commands - cmds >= 5);
    assert_true(st.redis_commands - cmds <= 40);

    n = read_sends(w, "webchat", e, MAX_OUT);
    assert_int_equal(n, 3);
    assert_int_equal(e[0].type, SG_OUT_START_TYPING);
    assert_int_equal(e[1].type, SG_OUT_MESSAGE);
    assert_int_equal(e[2].type, SG_OUT_STOP_TYPING);
    /* SG-INENV-003: the attachment's decoded bytes (5 of them) reached
       the prompt. */
    assert_string_equal(e[1].text, "echo: hello\n[attachment: f.txt "
                                   "(text/plain, 5 bytes)]");
    assert_true(e[1].has_reply_to);
    assert_string_equal(e[1].reply_to, "m1");
    assert_true(e[1].has_message_key);
    assert_non_null(strstr(e[1].message_key, "sg:reply:"));
    assert_string_equal(e[0].channel, "c1");
    assert_string_equal(e[1].channel, "c1");
    /* SG-TRACE-002 */
    assert_string_equal(e[0].trace, TRACE);
    assert_string_equal(e[1].trace, TRACE);
    assert_string_equal(e[2].trace, TRACE);
    /* SG-IN-010: acknowledged. */
    assert_int_equal(inbound_pending(w), 0);

    reqs = mock_requests(&w->llm);
    assert_int_equal(cJSON_GetArraySize(reqs), 1);
    assert_string_equal(request_model(reqs, 0), "model-a");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, 0),
                                            "authorization")->valuestring,
                        "Bearer sk-test");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, 0),
                                            "path")->valuestring,
                        "/v1/chat/completions");
    cJSON_Delete(reqs);

    sgi_worker_get_stats(w->w, &st);
    assert_int_equal(st.handled, 1);
    assert_int_equal(st.replies, 1);
    assert_int_equal(st.failed, 0);
    /* SG-LEASE-001: the only worker takes the status lease. */
    assert_int_equal(st.lease_held, 1);
    {
        redisReply *rep = redisCommand(w->sync, "GET sg:leader:status");

        assert_non_null(rep);
        assert_int_equal(rep->type, REDIS_REPLY_STRING);
        assert_string_equal(rep->str, "worker-test");
        freeReplyObject(rep);
    }
}

/*
 * SG_LLM_TYPING_DELAY_MS: a reply quicker than the delay goes out alone,
 * without start_typing or stop_typing.
 */
static void test_inference_quick_reply_without_typing(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c40", "hello", "m40", 0, NULL};
    out_entry e[MAX_OUT];

    setvar(w, "SG_LLM_TYPING_DELAY_MS", "5000");
    start_worker(w);
    publish(w, &m);
    wait_sends(w, "webchat", 1);
    wait_stat_at_least(w, 0, 1);
    sgt_loop_for(w->base, 200);
    assert_int_equal(read_sends(w, "webchat", e, MAX_OUT), 1);
    assert_int_equal(e[0].type, SG_OUT_MESSAGE);
    assert_string_equal(e[0].text, "echo: hello");
    assert_int_equal(inbound_pending(w), 0);
}

/*
 * SG_LLM_TYPING_DELAY_MS: a reply slower than the delay shows typing
 * first, and stop_typing follows the reply, in that order.
 */
static void test_inference_slow_reply_shows_typing(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c41", "slowly", "m41", 0, NULL};
    out_entry e[MAX_OUT];

    setvar(w, "SG_LLM_TYPING_DELAY_MS", "50");
    mock_script(&w->llm, "{\"rules\":[{\"match\":\"slowly\","
                         "\"reply\":\"at last\",\"latency_ms\":600}]}");
    start_worker(w);
    publish(w, &m);
    wait_sends(w, "webchat", 3);
    wait_stat_at_least(w, 0, 1);
    assert_int_equal(read_sends(w, "webchat", e, MAX_OUT), 3);
    assert_int_equal(e[0].type, SG_OUT_START_TYPING);
    assert_int_equal(e[1].type, SG_OUT_MESSAGE);
    assert_string_equal(e[1].text, "at last");
    assert_int_equal(e[2].type, SG_OUT_STOP_TYPING);
    assert_string_equal(e[0].channel, "c41");
}

/*
 * SG-TRACE-001, SG-TRACE-002: an entry without a trace id gets one fresh
 * id, shared by everything published for it.
 */
static void test_inference_trace_generated_once(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c11", "no trace", "m11", 0, NULL};
    out_entry e[MAX_OUT];
    size_t i;

    start_worker(w);
    publish_without_trace = 1;
    publish(w, &m);
    publish_without_trace = 0;
    wait_sends(w, "webchat", 3);
    assert_int_equal(read_sends(w, "webchat", e, MAX_OUT), 3);
    assert_int_equal(strlen(e[0].trace), 32);
    for (i = 0; i < 32; i++)
        assert_non_null(strchr("0123456789abcdef", e[0].trace[i]));
    assert_string_equal(e[1].trace, e[0].trace);
    assert_string_equal(e[2].trace, e[0].trace);
}

/* SG-IN-007: a passive message is recorded in the history, not answered. */
static void test_inference_passive_not_answered(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c2", "just chatting", "m2", 1, NULL};
    out_entry e[MAX_OUT];
    cJSON *reqs;

    start_worker(w);
    publish(w, &m);
    wait_stat_at_least(w, 1, 1);
    wait_stat_at_least(w, 0, 1);
    /* Give a wrong answer every chance to appear. */
    sgt_loop_for(w->base, 300);
    assert_int_equal(read_sends(w, "webchat", e, MAX_OUT), 0);
    reqs = mock_requests(&w->llm);
    assert_int_equal(cJSON_GetArraySize(reqs), 0);
    cJSON_Delete(reqs);
    assert_int_equal(integer(w, "LLEN sg:history:webchat:c2"), 1);
    assert_int_equal(inbound_pending(w), 0);
}

/* The test-side gateway: answers fetch_channel_history once. */
typedef struct gateway {
    world *w;
    int answered;
} gateway;

static void on_gateway_entry(const char *id, const sg_entry *entry, void *ud)
{
    gateway *g = ud;
    sg_envelope *env = NULL;
    sg_error err;
    char key[256];
    redisReply *rep;

    (void)id;
    if (sg_envelope_decode(SG_KIND_OUTBOUND, entry, NULL, &env, &err) != 0)
        return;
    if (env->u.out.type == SG_OUT_RPC_REQUEST) {
        copy(key, sizeof key, env->u.out.reply_key.ptr,
             env->u.out.reply_key.len);
        rep = redisCommand(g->w->sync, "RPUSH %s %s", key,
                           "[{\"user_id\":\"u0\",\"user_name\":\"old\","
                           "\"text\":\"from the gateway\",\"timestamp\":1,"
                           "\"message_id\":\"h1\",\"is_bot\":false,"
                           "\"reply_to_id\":null,\"reactions\":null}]");
        freeReplyObject(rep);
        rep = redisCommand(g->w->sync, "EXPIRE %s 60", key);
        freeReplyObject(rep);
        g->answered++;
    }
    sg_envelope_free(env);
}

/*
 * SG-RPC-005: fetch_channel_history once per channel and process: the
 * gateway had nothing (no answer within SG_RPC_TIMEOUT_MS), and a channel
 * whose history is empty again is not asked twice. The message and its
 * reply join the history together, after the reply.
 */
static void test_inference_history_asked_once_per_channel(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c20", "first", "m20", 0, NULL};
    sgi_worker_stats st;

    start_worker(w);
    publish(w, &m);
    wait_stat_at_least(w, 0, 1);
    sgi_worker_get_stats(w->w, &st);
    assert_int_equal(st.history_fetches, 1);
    assert_int_equal(integer(w, "LLEN sg:history:webchat:c20"), 2);
    assert_true(integer(w, "PTTL sg:history:webchat:c20") > 0);
    assert_int_equal(integer(w, "DEL sg:history:webchat:c20"), 1);
    m.content = "second";
    m.message_id = "m21";
    publish(w, &m);
    wait_stat_at_least(w, 0, 2);
    sgi_worker_get_stats(w->w, &st);
    assert_int_equal(st.history_fetches, 1);
    assert_int_equal(st.replies, 2);
    assert_int_equal(integer(w, "LLEN sg:history:webchat:c20"), 2);
}

/*
 * SG-RPC-005, SG-RPC-009: a channel without history asks the gateway;
 * history is kept, bounded by history_max, with a TTL, and the next
 * request carries it.
 */
static void test_inference_history_kept_and_bounded(void **state)
{
    world *w = *state;
    msg_opts m = {"hist", "c3", "one", "m1", 0, NULL};
    const char *texts[] = {"one", "two", "three", "four"};
    gateway g = {w, 0};
    sg_conn_opts co;
    sg_conn *conn;
    sgt_tail *tail;
    cJSON *reqs, *msgs;
    int i;

    setvar(w, "SG_LLM_HISTORY_MAX", "4");
    setvar(w, "SG_RPC_TIMEOUT_MS", "20000");
    sg_conn_opts_init(&co);
    co.host = w->redis.host;
    co.port = w->redis.port;
    co.log = &w->log;
    assert_int_equal(sg_conn_new(w->base, &co, &conn), 0);
    assert_int_equal(sgt_tail_new(conn, "sg:stream:outbound:hist",
                                  on_gateway_entry, &g, &tail), 0);
    start_worker(w);
    for (i = 0; i < 4; i++) {
        m.content = texts[i];
        publish(w, &m);
        wait_stat_at_least(w, 0, (uint64_t)i + 1);
    }
    assert_int_equal(g.answered, 1);
    /* 1 from the gateway + 4 messages + 4 replies, bounded to 4. */
    assert_int_equal(integer(w, "LLEN sg:history:hist:c3"), 4);
    assert_true(integer(w, "PTTL sg:history:hist:c3") > 0);

    reqs = mock_requests(&w->llm);
    assert_int_equal(cJSON_GetArraySize(reqs), 4);
    /* The first request: system, the gateway's message, "one". */
    msgs = cJSON_GetObjectItem(cJSON_GetObjectItem(
        cJSON_GetArrayItem(reqs, 0), "body"), "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 3);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 1),
                                            "content")->valuestring,
                        "from the gateway");
    /* The last: system, 4 records of history, "four". */
    msgs = cJSON_GetObjectItem(cJSON_GetObjectItem(
        cJSON_GetArrayItem(reqs, 3), "body"), "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 6);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 4),
                                            "content")->valuestring,
                        "echo: three");
    assert_string_equal(request_last_content(reqs, 3), "four");
    cJSON_Delete(reqs);
    /* Four calls one after the other: one connection, reused. */
    {
        sgi_worker_stats st;

        sgi_worker_get_stats(w->w, &st);
        assert_int_equal(st.llm_requests, 4);
        assert_int_equal(st.llm_connections, 1);
    }
    sgt_tail_free(tail);
    sg_conn_free(conn);
}

/* HTTP 429 (Retry-After: 0) then success: retried, one reply. */
static void test_inference_429_retried(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c4", "retry-me", "m4", 0, NULL};
    out_entry e[MAX_OUT];
    cJSON *reqs;

    mock_script(&w->llm, "{\"rules\":[{\"match\":\"retry-me\",\"status\":"
                         "429,\"error\":\"slow down\",\"times\":1}]}");
    start_worker(w);
    publish(w, &m);
    wait_stat_at_least(w, 0, 1);
    assert_int_equal(read_sends(w, "webchat", e, MAX_OUT), 3);
    assert_string_equal(e[1].text, "echo: retry-me");
    reqs = mock_requests(&w->llm);
    assert_int_equal(cJSON_GetArraySize(reqs), 2);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, 0),
                                         "status")->valueint, 429);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(reqs, 1),
                                         "status")->valueint, 200);
    cJSON_Delete(reqs);
    assert_int_equal(inbound_pending(w), 0);
}

/*
 * SG-IN-013, SG-DLQ-001: an LLM failure that is not retried (HTTP 400) on
 * the last delivery is dead-lettered with handler_error and the reason;
 * typing is stopped and no reply is sent.
 */
static void test_inference_permanent_failure_dead_lettered(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c5", "break-me", "m5", 0, NULL};
    out_entry e[MAX_OUT];
    redisReply *rep;
    size_t i;
    int found_reason = 0, found_error = 0, found_data = 0;

    setvar(w, "SG_MAX_DELIVERIES", "1");
    mock_script(&w->llm, "{\"rules\":[{\"match\":\"break-me\",\"status\":"
                         "400,\"error\":\"bad request body\"}]}");
    start_worker(w);
    publish(w, &m);
    wait_stat_at_least(w, 2, 1);
    rep = redisCommand(w->sync, "XRANGE sg:stream:dlq - +");
    assert_non_null(rep);
    assert_int_equal(rep->elements, 1);
    {
        redisReply *f = rep->element[0]->element[1];

        for (i = 0; i + 1 < f->elements; i += 2) {
            if (strcmp(f->element[i]->str, "dlq_reason") == 0 &&
                strcmp(f->element[i + 1]->str, "handler_error") == 0)
                found_reason = 1;
            if (strcmp(f->element[i]->str, "dlq_error") == 0 &&
                strstr(f->element[i + 1]->str, "HTTP 400") != NULL)
                found_error = 1;
            if (strcmp(f->element[i]->str, "data") == 0)
                found_data = 1;
        }
    }
    freeReplyObject(rep);
    assert_true(found_reason);
    assert_true(found_error);
    assert_true(found_data);
    assert_int_equal(inbound_pending(w), 0);
    assert_int_equal(read_sends(w, "webchat", e, MAX_OUT), 2);
    assert_int_equal(e[0].type, SG_OUT_START_TYPING);
    assert_int_equal(e[1].type, SG_OUT_STOP_TYPING);
}

/*
 * HTTP 503 every time: retried max_retries times with backoff, then a
 * failure, dead-lettered on the last delivery (SG-IN-013) with the status.
 */
static void test_inference_5xx_retries_bounded(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c10", "always-down", "m10", 0, NULL};
    sgi_worker_stats st;
    redisReply *rep;
    cJSON *reqs;
    size_t i;
    int found = 0;

    setvar(w, "SG_MAX_DELIVERIES", "1");
    setvar(w, "SG_LLM_MAX_RETRIES", "2");
    mock_script(&w->llm, "{\"rules\":[{\"match\":\"always-down\","
                         "\"status\":503,\"error\":\"down\"}]}");
    start_worker(w);
    publish(w, &m);
    wait_stat_at_least(w, 2, 1);
    reqs = mock_requests(&w->llm);
    assert_int_equal(cJSON_GetArraySize(reqs), 3);
    cJSON_Delete(reqs);
    sgi_worker_get_stats(w->w, &st);
    assert_int_equal(st.llm_errors, 3);
    rep = redisCommand(w->sync, "XRANGE sg:stream:dlq - +");
    assert_non_null(rep);
    assert_int_equal(rep->elements, 1);
    for (i = 0; i + 1 < rep->element[0]->element[1]->elements; i += 2) {
        redisReply *f = rep->element[0]->element[1];

        if (strcmp(f->element[i]->str, "dlq_error") == 0 &&
            strstr(f->element[i + 1]->str, "HTTP 503 after 3 attempts")
                != NULL)
            found = 1;
    }
    freeReplyObject(rep);
    assert_true(found);
}

/* 1 when the only dead letter's dlq_error holds needle. */
static int dlq_error_has(world *w, const char *needle)
{
    redisReply *rep = redisCommand(w->sync, "XRANGE sg:stream:dlq - +");
    int found = 0;
    size_t i;

    assert_non_null(rep);
    assert_int_equal(rep->elements, 1);
    for (i = 0; i + 1 < rep->element[0]->element[1]->elements; i += 2) {
        redisReply *f = rep->element[0]->element[1];

        if (strcmp(f->element[i]->str, "dlq_error") == 0 &&
            strstr(f->element[i + 1]->str, needle) != NULL)
            found = 1;
    }
    freeReplyObject(rep);
    return found;
}

/*
 * An LLM slower than SG_LLM_TIMEOUT_MS: the attempt times out, is not
 * retried, and the entry is dead-lettered on its last delivery.
 */
static void test_inference_llm_timeout_not_retried(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c13", "too slow", "m13", 0, NULL};
    cJSON *reqs;

    setvar(w, "SG_MAX_DELIVERIES", "1");
    setvar(w, "SG_LLM_TIMEOUT_MS", "200");
    mock_script(&w->llm, "{\"rules\":[{\"match\":\"too slow\","
                         "\"latency_ms\":3000}]}");
    start_worker(w);
    publish(w, &m);
    wait_stat_at_least(w, 2, 1);
    assert_true(dlq_error_has(w, "timeout_ms"));
    reqs = mock_requests(&w->llm);
    assert_int_equal(cJSON_GetArraySize(reqs), 1);
    cJSON_Delete(reqs);
    assert_int_equal(inbound_pending(w), 0);
}

/* tool_calls without content: answered with the "no tools" text. */
static void test_inference_tool_calls_answered_without_tools(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c6", "use a tool", "m6", 0, NULL};
    out_entry e[MAX_OUT];

    mock_script(&w->llm, "{\"rules\":[{\"match\":\"use a tool\","
                         "\"tool_calls\":[{\"name\":\"search\","
                         "\"arguments\":{\"q\":\"x\"}}]}]}");
    start_worker(w);
    publish(w, &m);
    wait_stat_at_least(w, 0, 1);
    assert_int_equal(read_sends(w, "webchat", e, MAX_OUT), 3);
    assert_non_null(strstr(e[1].text, "tools service is not available"));
}

typedef struct reload_wait {
    world *w;
} reload_wait;

/* Publishes the event until the worker has reloaded (it may not have
   subscribed yet when the first one goes out). */
static int reloaded(void *arg)
{
    world *w = arg;
    sgi_worker_stats st;
    redisReply *rep;

    sgi_worker_get_stats(w->w, &st);
    if (st.config_reloads >= 1)
        return 1;
    rep = redisCommand(w->sync, "PUBLISH sg:pubsub:config %s",
                       "{\"event\":\"sys:config:updated\"}");
    freeReplyObject(rep);
    return 0;
}

static void write_config(const char *path, const char *model)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fprintf(f, "{\"model\": \"%s\", \"temperature\": 0.1}\n", model);
    assert_int_equal(fclose(f), 0);
}

/* SG-CFG-001: the configuration event reloads the model in use. */
static void test_inference_config_reload_changes_model(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c7", "before", "m7", 0, NULL};
    char path[300];
    cJSON *reqs;

    snprintf(path, sizeof path, "%s/inference.json", w->llm.dir);
    write_config(path, "model-file-a");
    setvar(w, "SG_INFERENCE_CONFIG", "%s", path);
    setvar(w, "SG_LLM_MODEL", "");     /* the file decides */
    start_worker(w);
    publish(w, &m);
    wait_stat_at_least(w, 0, 1);
    write_config(path, "model-file-b");
    assert_true(sgt_loop_until(w->base, reloaded, w, WAIT_MS));
    assert_string_equal(sgi_worker_model(w->w), "model-file-b");
    m.content = "after";
    m.message_id = "m8";
    publish(w, &m);
    wait_stat_at_least(w, 0, 2);
    reqs = mock_requests(&w->llm);
    assert_int_equal(cJSON_GetArraySize(reqs), 2);
    assert_string_equal(request_model(reqs, 0), "model-file-a");
    assert_string_equal(request_model(reqs, 1), "model-file-b");
    cJSON_Delete(reqs);
    unlink(path);
}

typedef struct hung {
    world *w;
    int want;
} hung;

static int mock_holds(void *arg)
{
    hung *h = arg;
    cJSON *reqs = mock_requests(&h->w->llm);
    int n = cJSON_GetArraySize(reqs);

    cJSON_Delete(reqs);
    return n >= h->want;
}

/*
 * SG-IN-002: with SG_MAX_IN_FLIGHT 2 and the LLM hanging, the worker has
 * two entries read and no more: the others stay unread in the stream.
 */
static void test_inference_in_flight_bounded(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c", "hold", "m", 0, NULL};
    char ch[8];
    hung h = {w, 2};
    sgi_worker_stats st;
    int i;

    setvar(w, "SG_MAX_IN_FLIGHT", "2");
    mock_script(&w->llm, "{\"rules\":[{\"match\":\"hold\",\"hang\":true}]}");
    start_worker(w);
    for (i = 0; i < 5; i++) {
        snprintf(ch, sizeof ch, "b%d", i);
        m.channel = ch;
        publish(w, &m);
    }
    assert_true(sgt_loop_until(w->base, mock_holds, &h, WAIT_MS));
    sgt_loop_for(w->base, 300);
    sgi_worker_get_stats(w->w, &st);
    assert_int_equal(st.in_flight, 2);
    assert_int_equal(inbound_pending(w), 2);
    assert_int_equal(http(w->llm.port, "POST", "/_mock/release", "{}",
                          &scratch), 200);
    /* Released, the rest follow, two at a time. */
    for (i = 0; i < 3; i++) {
        h.want = 3 + i;
        assert_true(sgt_loop_until(w->base, mock_holds, &h, WAIT_MS));
        sgt_loop_for(w->base, 50);
        assert_int_equal(http(w->llm.port, "POST", "/_mock/release", "{}",
                              &scratch), 200);
    }
    wait_stat_at_least(w, 0, 5);
    assert_int_equal(inbound_pending(w), 0);
}

/*
 * SG-LOCK-004, SG-IN-009: an entry another consumer took over while the
 * LLM was answering (as autoclaim does once this handling's lock expired)
 * gets no reply from this one: the reply script finds the entry no longer
 * pending here and writes nothing, neither the reply nor the history.
 */
static void test_inference_reply_fenced_when_taken_over(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c30", "steal", "m30", 0, NULL};
    out_entry e[MAX_OUT];
    hung h = {w, 1};
    sgi_worker_stats st;
    redisReply *rep;
    char id[64];

    mock_script(&w->llm, "{\"rules\":[{\"match\":\"steal\","
                         "\"hang\":true}]}");
    start_worker(w);
    publish(w, &m);
    assert_true(sgt_loop_until(w->base, mock_holds, &h, WAIT_MS));
    rep = redisCommand(w->sync, "XRANGE sg:stream:inbound - + COUNT 1");
    assert_non_null(rep);
    assert_int_equal(rep->type, REDIS_REPLY_ARRAY);
    assert_int_equal((int)rep->elements, 1);
    copy(id, sizeof id, rep->element[0]->element[0]->str,
         rep->element[0]->element[0]->len);
    freeReplyObject(rep);
    rep = redisCommand(w->sync, "XCLAIM sg:stream:inbound sg:workers thief "
                       "0 %s JUSTID", id);
    assert_non_null(rep);
    assert_int_equal((int)rep->elements, 1);
    freeReplyObject(rep);
    assert_int_equal(http(w->llm.port, "POST", "/_mock/release", "{}",
                          &scratch), 200);
    wait_stat_at_least(w, 4, 1);
    sgt_loop_for(w->base, 200);
    /* start_typing went out before; nothing after. */
    assert_int_equal(read_sends(w, "webchat", e, MAX_OUT), 1);
    assert_int_equal(e[0].type, SG_OUT_START_TYPING);
    sgi_worker_get_stats(w->w, &st);
    assert_int_equal(st.replies, 0);
    assert_int_equal(st.handled, 0);
    assert_int_equal(integer(w, "EXISTS sg:history:webchat:c30"), 0);
    /* Still the thief's. */
    rep = redisCommand(w->sync, "XPENDING sg:stream:inbound sg:workers - + "
                       "10 thief");
    assert_non_null(rep);
    assert_int_equal((int)rep->elements, 1);
    freeReplyObject(rep);
}

static int group_exists(void *arg)
{
    world *w = arg;
    redisReply *rep = redisCommand(w->sync, "XINFO GROUPS "
                                   "sg:stream:inbound");
    int ok = rep != NULL && rep->type == REDIS_REPLY_ARRAY &&
             rep->elements == 1;

    freeReplyObject(rep);
    return ok;
}

/*
 * SG-IN-020, SG-TOPO-008, SG-CFG-003: Redis restarts empty; the worker
 * recreates its group, reads again, answers, and reloads its
 * configuration once after subscribing again.
 */
static void test_inference_survives_redis_restart(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c12", "before", "m12", 0, NULL};
    out_entry e[MAX_OUT];

    start_worker(w);
    publish(w, &m);
    wait_stat_at_least(w, 0, 1);
    redisFree(w->sync);
    w->sync = NULL;
    if (sgt_redis_restart(&w->redis) != 0)
        fail_msg("restart: %s", w->redis.errstr);
    w->sync = sgt_redis_connect(&w->redis);
    assert_non_null(w->sync);
    assert_true(sgt_loop_until(w->base, group_exists, w, WAIT_MS));
    m.content = "after";
    m.message_id = "m13";
    publish(w, &m);
    wait_stat_at_least(w, 0, 2);
    assert_int_equal(read_sends(w, "webchat", e, MAX_OUT), 3);
    assert_string_equal(e[1].text, "echo: after");
    assert_int_equal(inbound_pending(w), 0);
    wait_stat_at_least(w, 3, 1);
}

/* ---- the program -------------------------------------------------------- */

static int file_has(const char *path, const char *needle, char *line,
                    size_t cap)
{
    FILE *f = fopen(path, "r");
    char buf[1024];
    int found = 0;

    if (f == NULL)
        return 0;
    while (!found && fgets(buf, sizeof buf, f) != NULL)
        if (strstr(buf, needle) != NULL) {
            found = 1;
            if (line != NULL)
                copy(line, cap, buf, strlen(buf));
        }
    fclose(f);
    return found;
}

/*
 * SG-IN-017, SG-LEASE-007: the program, as a child: ready and metrics
 * lines, /healthz and /metrics; SIGTERM while a handling waits on a slow
 * LLM: the handling finishes and is acknowledged, the lease is given
 * back, exit 0.
 */
static void test_inference_program_sigterm_drains(void **state)
{
    world *w = *state;
    msg_opts m = {"webchat", "c9", "first", "m9", 0, NULL};
    char errpath[300], line[1024], url_env[300], redis_env[128];
    int port = 0, i, status = -1;
    hung h = {w, 2};
    pid_t pid;
    const char *p;

    mock_script(&w->llm, "{\"rules\":[{\"match\":\"slow\","
                         "\"latency_ms\":1500}]}");
    snprintf(errpath, sizeof errpath, "%s/stderr", w->llm.dir);
    snprintf(url_env, sizeof url_env, "http://127.0.0.1:%d/v1",
             w->llm.port);
    snprintf(redis_env, sizeof redis_env, "%s", w->redis.url);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(errpath, "w", stderr);

        (void)f;
        setenv("REDIS_URL", redis_env, 1);
        setenv("SG_LLM_BASE_URL", url_env, 1);
        setenv("SG_BLOCK_MS", "100", 1);
        setenv("SG_RPC_TIMEOUT_MS", "300", 1);
        setenv("SG_METRICS_LISTEN", "127.0.0.1:0", 1);
        execl(SGI_INFERENCE_BIN, SGI_INFERENCE_BIN, (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 6000 && !file_has(errpath, "sg-inference: ready", NULL,
                                        0); i++)
        sleep_ms(10);
    assert_true(file_has(errpath, "sg-inference: ready", NULL, 0));
    assert_true(file_has(errpath, "sg-inference: metrics at http://"
                                  "127.0.0.1:", line, sizeof line));
    p = strstr(line, "127.0.0.1:");
    port = (int)strtol(p + strlen("127.0.0.1:"), NULL, 10);
    assert_true(port > 0);
    assert_int_equal(http(port, "GET", "/healthz", NULL, &scratch), 200);
    assert_string_equal(scratch.buf, "ok\n");

    publish(w, &m);
    for (i = 0; i < 6000 && inbound_pending(w) != 0; i++)
        sleep_ms(10);
    for (i = 0; i < 6000; i++) {
        assert_int_equal(http(port, "GET", "/metrics", NULL, &scratch),
                         200);
        if (strstr(scratch.buf, "sg_inference_handled_total 1\n") != NULL)
            break;
        sleep_ms(10);
    }
    assert_non_null(strstr(scratch.buf, "sg_inference_handled_total 1\n"));
    assert_non_null(strstr(scratch.buf,
                           "sg_inference_llm_request_duration_seconds_count"
                           " 1\n"));
    assert_non_null(strstr(scratch.buf, "sg_inference_in_flight 0\n"));
    /* One instance: nothing handed either way, nothing busy. */
    assert_non_null(strstr(scratch.buf, "sg_inference_handed_over_total 0\n"));
    assert_non_null(strstr(scratch.buf, "sg_inference_handed_in_total 0\n"));
    assert_non_null(strstr(scratch.buf, "sg_inference_lock_busy_total 0\n"));
    assert_non_null(strstr(scratch.buf, "\n# TYPE sg_redis_commands_sent_total"
                                        " counter\nsg_redis_commands_sent_total "));

    /* A slow one; SIGTERM once the LLM has it. */
    m.content = "slow";
    m.message_id = "m10";
    publish(w, &m);
    while (!mock_holds(&h))
        sleep_ms(10);
    kill(pid, SIGTERM);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    /* Drained: replied to and acknowledged. */
    assert_int_equal(inbound_pending(w), 0);
    {
        out_entry e[MAX_OUT];
        int n = read_sends(w, "webchat", e, MAX_OUT);

        /* The quick reply alone; the slow one (1500 ms, over the
           default typing delay of 500 ms) between start_typing and
           stop_typing. */
        assert_int_equal(n, 4);
        assert_int_equal(e[0].type, SG_OUT_MESSAGE);
        assert_int_equal(e[1].type, SG_OUT_START_TYPING);
        assert_string_equal(e[2].text, "echo: slow");
        assert_int_equal(e[3].type, SG_OUT_STOP_TYPING);
    }
    /* SG-LEASE-007: given back. */
    assert_int_equal(integer(w, "EXISTS sg:leader:status"), 0);
    unlink(errpath);
}

/* Exit 2 and the variable named for a bad configuration. */
static void test_inference_program_config_error(void **state)
{
    world *w = *state;
    char errpath[300];
    int status = -1;
    pid_t pid;

    snprintf(errpath, sizeof errpath, "%s/stderr", w->llm.dir);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(errpath, "w", stderr);

        (void)f;
        setenv("SG_LLM_BASE_URL", "http://127.0.0.1:1/v1", 1);
        setenv("SG_MAX_IN_FLIGHT", "lots", 1);
        execl(SGI_INFERENCE_BIN, SGI_INFERENCE_BIN, (char *)NULL);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    assert_true(file_has(errpath, "SG_MAX_IN_FLIGHT", NULL, 0));

    /* LOG_LEVEL is one of debug, info, warn, error. */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *f = freopen(errpath, "w", stderr);

        (void)f;
        setenv("SG_LLM_BASE_URL", "http://127.0.0.1:1/v1", 1);
        setenv("LOG_LEVEL", "loud", 1);
        execl(SGI_INFERENCE_BIN, SGI_INFERENCE_BIN, (char *)NULL);
        _exit(127);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);
    assert_true(file_has(errpath, "LOG_LEVEL", NULL, 0));
    unlink(errpath);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inference_reply_flow, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_inference_quick_reply_without_typing, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_inference_slow_reply_shows_typing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inference_trace_generated_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_inference_passive_not_answered,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_inference_history_kept_and_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inference_429_retried, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_inference_permanent_failure_dead_lettered, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inference_5xx_retries_bounded,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_inference_llm_timeout_not_retried, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_inference_tool_calls_answered_without_tools, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_inference_config_reload_changes_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inference_in_flight_bounded,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_inference_survives_redis_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_inference_program_sigterm_drains, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_inference_history_asked_once_per_channel, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_inference_reply_fenced_when_taken_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inference_program_config_error,
                                        setup, teardown),
    };
    int rc;

    /* A write to a server that just went away (the restart test) must be
       an error, not the end of the test. */
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
