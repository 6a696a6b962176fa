/*
 * common.c: what every sgctl subcommand shares (sgctl.h).
 */
#define _GNU_SOURCE

#include "sgctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sg/json.h"

#include "capture.h"

#include "../../impl/libsg/base64.h"
#include "../../impl/libsg/utf8.h"

volatile sig_atomic_t sgctl_stop;

void sgctl_errorf(sgctl *c, const char *cmd, const char *fmt, ...)
{
    va_list ap;

    fprintf(c->err, "sgctl%s%s: ", cmd ? " " : "", cmd ? cmd : "");
    va_start(ap, fmt);
    vfprintf(c->err, fmt, ap);
    va_end(ap);
    fputc('\n', c->err);
    fflush(c->err);
}

static int copy_n(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

long long sgctl_parse_count(const char *s)
{
    char *end;
    long long v;

    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0)
        return -1;
    return v;
}

int sgctl_parse_url(sgctl *c, const char *url, char *msg, size_t cap)
{
    const char *p, *at, *slash, *colon, *hostend;
    long long v;

    if (strncmp(url, "redis://", 8) != 0) {
        snprintf(msg, cap, "URL '%s' does not start with redis:// "
                 "(rediss:// and unix:// are not supported)", url);
        return -1;
    }
    p = url + 8;
    slash = strchr(p, '/');
    at = strchr(p, '@');
    if (at != NULL && (slash == NULL || at < slash)) {
        const char *sep = memchr(p, ':', (size_t)(at - p));
        if (sep != NULL) {
            if (copy_n(c->user, sizeof c->user, p, (size_t)(sep - p)) ||
                copy_n(c->pass, sizeof c->pass, sep + 1,
                       (size_t)(at - sep - 1)))
                goto toolong;
        } else if (copy_n(c->user, sizeof c->user, p, (size_t)(at - p))) {
            goto toolong;
        }
        p = at + 1;
    }
    hostend = slash ? slash : p + strlen(p);
    colon = memchr(p, ':', (size_t)(hostend - p));
    if (colon != NULL) {
        char port[16];
        if (copy_n(port, sizeof port, colon + 1,
                   (size_t)(hostend - colon - 1)) != 0 ||
            (v = sgctl_parse_count(port)) < 1 || v > 65535) {
            snprintf(msg, cap, "URL '%s': the port is not 1 .. 65535", url);
            return -1;
        }
        c->port = (int)v;
    } else {
        colon = hostend;
    }
    if (colon > p && copy_n(c->host, sizeof c->host, p,
                            (size_t)(colon - p)) != 0)
        goto toolong;
    if (slash != NULL && slash[1] != '\0') {
        if ((v = sgctl_parse_count(slash + 1)) < 0 || v > 65535) {
            snprintf(msg, cap, "URL '%s': the database is not a number",
                     url);
            return -1;
        }
        c->db = (int)v;
    }
    return 0;
toolong:
    snprintf(msg, cap, "URL '%s': a part is too long", url);
    return -1;
}

int sgctl_init(sgctl *c, FILE *out, FILE *err)
{
    const char *url = getenv("REDIS_URL");
    char msg[256];
    sg_error e;
    sg_knobs k;

    memset(c, 0, sizeof *c);
    c->out = out;
    c->err = err;
    snprintf(c->host, sizeof c->host, "127.0.0.1");
    c->port = 6379;
    if (url != NULL && url[0] != '\0' &&
        sgctl_parse_url(c, url, msg, sizeof msg) != 0) {
        sgctl_errorf(c, NULL, "REDIS_URL: %s", msg);
        return SGCTL_EXIT_USAGE;
    }
    if (sg_topology_from_env(&c->topo, &e) != 0) {
        sgctl_errorf(c, NULL, "%s", e.msg);
        return SGCTL_EXIT_USAGE;
    }
    if (sg_knobs_from_env(&k, &e) != 0) {
        sgctl_errorf(c, NULL, "%s", e.msg);
        return SGCTL_EXIT_USAGE;
    }
    c->stream_maxlen = k.stream_maxlen;
    return SGCTL_EXIT_OK;
}

int sgctl_common_opt(sgctl *c, const char *cmd, int opt, const char *arg)
{
    char msg[256];
    long long v;

    switch (opt) {
    case 'u':
        if (sgctl_parse_url(c, arg, msg, sizeof msg) != 0) {
            sgctl_errorf(c, cmd, "--url: %s", msg);
            return -1;
        }
        return 1;
    case 'h':
        if (copy_n(c->host, sizeof c->host, arg, strlen(arg)) != 0) {
            sgctl_errorf(c, cmd, "--host: longer than %zu bytes",
                         sizeof c->host - 1);
            return -1;
        }
        return 1;
    case 'p':
        v = sgctl_parse_count(arg);
        if (v < 1 || v > 65535) {
            sgctl_errorf(c, cmd, "--port: '%s' is not 1 .. 65535", arg);
            return -1;
        }
        c->port = (int)v;
        return 1;
    case 'a':
        if (copy_n(c->pass, sizeof c->pass, arg, strlen(arg)) != 0) {
            sgctl_errorf(c, cmd, "--pass: too long");
            return -1;
        }
        return 1;
    case SGCTL_OPT_USER:
        if (copy_n(c->user, sizeof c->user, arg, strlen(arg)) != 0) {
            sgctl_errorf(c, cmd, "--user: too long");
            return -1;
        }
        return 1;
    case 'n':
        v = sgctl_parse_count(arg);
        if (v < 0 || v > 65535) {
            sgctl_errorf(c, cmd, "--db: '%s' is not a database number",
                         arg);
            return -1;
        }
        c->db = (int)v;
        return 1;
    case SGCTL_OPT_JSON:
        c->json = 1;
        return 1;
    case SGCTL_OPT_NAMESPACE:
        if (copy_n(c->ns, sizeof c->ns, arg, strlen(arg)) != 0) {
            sgctl_errorf(c, cmd, "--namespace: longer than %d bytes",
                         SG_NAME_MAX);
            return -1;
        }
        return 1;
    case SGCTL_OPT_HELP:
        c->help = 1;
        return 1;
    default:
        return 0;
    }
}

static int prefix_name(sgctl *c, const char *cmd, char *name)
{
    char tmp[SG_NAME_MAX + 1];
    int n = snprintf(tmp, sizeof tmp, "%s%s", c->ns, name);

    if (n < 0 || (size_t)n >= sizeof tmp) {
        sgctl_errorf(c, cmd, "--namespace: '%s' + '%s' is longer than %d "
                     "bytes", c->ns, name, SG_NAME_MAX);
        return -1;
    }
    memcpy(name, tmp, (size_t)n + 1);
    return 0;
}

int sgctl_apply_namespace(sgctl *c, const char *cmd)
{
    sg_topology *t = &c->topo;
    char *names[15];
    size_t i;

    if (c->ns[0] == '\0')
        return 0;
    /* Key names only: groups live inside streams, and pub/sub channels
       are not keys. */
    names[0] = t->inbound_stream;
    names[1] = t->outbound_stream_prefix;
    names[2] = t->tools_stream;
    names[3] = t->tools_reply_stream_prefix;
    names[4] = t->dlq_stream;
    names[5] = t->leader_key;
    names[6] = t->status_lease_key;
    names[7] = t->lock_prefix;
    names[8] = t->outbound_lock_prefix;
    names[9] = t->outbound_claim_prefix;
    names[10] = t->claim_attempts_key;
    names[11] = t->outbound_claim_attempts_key;
    names[12] = t->rpc_reply_prefix;
    names[13] = t->order_prefix;
    names[14] = t->wake_prefix;
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (prefix_name(c, cmd, names[i]) != 0)
            return SGCTL_EXIT_USAGE;
    return 0;
}

int sgctl_bad_option(sgctl *c, const char *cmd, char **argv)
{
    if (optopt != 0 && optopt < 256)
        sgctl_errorf(c, cmd, "option -%c: unknown or missing its value "
                     "(see --help)", optopt);
    else
        sgctl_errorf(c, cmd, "option '%s': unknown or missing its value "
                     "(see --help)", argv[optind - 1]);
    return SGCTL_EXIT_USAGE;
}

void sgctl_getopt_reset(void)
{
    /* glibc: 0 reinitialises getopt completely. */
    optind = 0;
    opterr = 0;
}

void sgctl_source_url(const sgctl *c, char *out, size_t cap)
{
    snprintf(out, cap, "redis://%s:%d/%d", c->host, c->port, c->db);
}

int sgctl_connect(sgctl *c, const char *cmd)
{
    struct timeval tv = {5, 0};
    redisReply *r;

    c->rc = redisConnectWithTimeout(c->host, c->port, tv);
    if (c->rc == NULL || c->rc->err) {
        sgctl_errorf(c, cmd, "redis %s:%d unreachable: %s", c->host,
                     c->port, c->rc ? c->rc->errstr : "out of memory");
        sgctl_disconnect(c);
        return SGCTL_EXIT_UNREACHABLE;
    }
    tv.tv_sec = 30;
    redisSetTimeout(c->rc, tv);
    if (c->pass[0] != '\0') {
        if (c->user[0] != '\0')
            r = redisCommand(c->rc, "AUTH %s %s", c->user, c->pass);
        else
            r = redisCommand(c->rc, "AUTH %s", c->pass);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            sgctl_errorf(c, cmd, "AUTH refused: %s",
                         r ? r->str : c->rc->errstr);
            freeReplyObject(r);
            sgctl_disconnect(c);
            return SGCTL_EXIT_UNREACHABLE;
        }
        freeReplyObject(r);
    }
    if (c->db != 0) {
        r = redisCommand(c->rc, "SELECT %d", c->db);
        if (r == NULL || r->type == REDIS_REPLY_ERROR) {
            sgctl_errorf(c, cmd, "SELECT %d refused: %s", c->db,
                         r ? r->str : c->rc->errstr);
            freeReplyObject(r);
            sgctl_disconnect(c);
            return SGCTL_EXIT_FAIL;
        }
        freeReplyObject(r);
    }
    r = redisCommand(c->rc, "PING");
    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        sgctl_errorf(c, cmd, "redis %s:%d does not answer PING: %s",
                     c->host, c->port, r ? r->str : c->rc->errstr);
        freeReplyObject(r);
        sgctl_disconnect(c);
        return SGCTL_EXIT_UNREACHABLE;
    }
    freeReplyObject(r);
    return 0;
}

void sgctl_disconnect(sgctl *c)
{
    if (c->rc != NULL)
        redisFree(c->rc);
    c->rc = NULL;
}

redisReply *sgctl_cmd(sgctl *c, const char *cmd, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(c->rc, fmt, ap);
    va_end(ap);
    if (r == NULL)
        sgctl_errorf(c, cmd, "redis connection lost: %s", c->rc->errstr);
    return r;
}

long long sgctl_id_ms(const char *id)
{
    uint64_t ms, seq;

    if (sgcap_parse_id(id, strlen(id), &ms, &seq) != 0 || ms > INT64_MAX)
        return 0;
    return (long long)ms;
}

int64_t sgctl_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t sgctl_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sgctl_sleep_ms(int64_t ms)
{
    struct timespec ts;

    if (ms <= 0)
        return;
    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    nanosleep(&ts, NULL);
}

static struct sigaction old_int, old_term;

static void on_signal(int sig)
{
    (void)sig;
    sgctl_stop = 1;
}

void sgctl_signals_on(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sgctl_stop = 0;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
}

void sgctl_signals_off(void)
{
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
}

/* ---- string lists ------------------------------------------------------- */

int sgctl_strv_push(sgctl_strv *l, const char *s, size_t len)
{
    char *copy;

    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        char **v = realloc(l->v, cap * sizeof *v);
        if (v == NULL)
            return -1;
        l->v = v;
        l->cap = cap;
    }
    copy = malloc(len + 1);
    if (copy == NULL)
        return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    l->v[l->n++] = copy;
    return 0;
}

int sgctl_strv_has(const sgctl_strv *l, const char *s)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        if (strcmp(l->v[i], s) == 0)
            return 1;
    return 0;
}

void sgctl_strv_free(sgctl_strv *l)
{
    size_t i;

    for (i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sgctl_scan_prefix(sgctl *c, const char *cmd, const char *prefix,
                      const char *type, size_t max, sgctl_strv *out)
{
    char pattern[2 * SG_NAME_MAX + 8];
    char cursor[32] = "0";
    size_t k = 0, i, start = out->n;
    redisReply *r;

    /* Glob characters in the prefix match themselves only. */
    for (i = 0; prefix[i] != '\0' && k + 4 < sizeof pattern; i++) {
        if (strchr("*?[]\\", prefix[i]) != NULL)
            pattern[k++] = '\\';
        pattern[k++] = prefix[i];
    }
    memcpy(pattern + k, ":*", 3);
    do {
        if (type != NULL)
            r = sgctl_cmd(c, cmd, "SCAN %s MATCH %s COUNT 1000 TYPE %s",
                          cursor, pattern, type);
        else
            r = sgctl_cmd(c, cmd, "SCAN %s MATCH %s COUNT 1000", cursor,
                          pattern);
        if (r == NULL)
            return SGCTL_EXIT_UNREACHABLE;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING) {
            sgctl_errorf(c, cmd, "SCAN: unexpected reply%s%s",
                         r->type == REDIS_REPLY_ERROR ? ": " : "",
                         r->type == REDIS_REPLY_ERROR ? r->str : "");
            freeReplyObject(r);
            return SGCTL_EXIT_FAIL;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        for (i = 0; i < r->element[1]->elements; i++) {
            redisReply *e = r->element[1]->element[i];
            if (e->type != REDIS_REPLY_STRING || out->n - start >= max)
                continue;
            if (!sgctl_strv_has(out, e->str) &&
                sgctl_strv_push(out, e->str, e->len) != 0) {
                freeReplyObject(r);
                return SGCTL_EXIT_FAIL;
            }
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    if (out->n > start)
        qsort(out->v + start, out->n - start, sizeof *out->v, str_cmp);
    return 0;
}

static int exists_stream(sgctl *c, const char *cmd, const char *key)
{
    redisReply *r = sgctl_cmd(c, cmd, "TYPE %s", key);
    int yes;

    if (r == NULL)
        return -1;
    yes = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "stream") == 0;
    freeReplyObject(r);
    return yes;
}

int sgctl_bus_streams(sgctl *c, const char *cmd, int dlq, sgctl_strv *out)
{
    const sg_topology *t = &c->topo;
    int rc, yes;

    if ((yes = exists_stream(c, cmd, t->inbound_stream)) < 0)
        return SGCTL_EXIT_UNREACHABLE;
    if (yes && sgctl_strv_push(out, t->inbound_stream,
                               strlen(t->inbound_stream)) != 0)
        return SGCTL_EXIT_FAIL;
    if ((rc = sgctl_scan_prefix(c, cmd, t->outbound_stream_prefix,
                                "stream", 10000, out)) != 0)
        return rc;
    if ((yes = exists_stream(c, cmd, t->tools_stream)) < 0)
        return SGCTL_EXIT_UNREACHABLE;
    if (yes && !sgctl_strv_has(out, t->tools_stream) &&
        sgctl_strv_push(out, t->tools_stream, strlen(t->tools_stream)))
        return SGCTL_EXIT_FAIL;
    if ((rc = sgctl_scan_prefix(c, cmd, t->tools_reply_stream_prefix,
                                "stream", 10000, out)) != 0)
        return rc;
    if (dlq) {
        if ((yes = exists_stream(c, cmd, t->dlq_stream)) < 0)
            return SGCTL_EXIT_UNREACHABLE;
        if (yes && !sgctl_strv_has(out, t->dlq_stream) &&
            sgctl_strv_push(out, t->dlq_stream, strlen(t->dlq_stream)))
            return SGCTL_EXIT_FAIL;
    }
    return 0;
}

static int has_prefix(const char *s, size_t len, const char *prefix)
{
    size_t n = strlen(prefix);

    return len > n + 1 && memcmp(s, prefix, n) == 0 && s[n] == ':';
}

int sgctl_stream_kind(const sgctl *c, const char *stream, size_t len)
{
    const sg_topology *t = &c->topo;

#define IS(name) (strlen(name) == len && memcmp(stream, name, len) == 0)
    if (IS(t->dlq_stream))
        return SGCTL_STREAM_DLQ;
    if (IS(t->inbound_stream))
        return SG_KIND_INBOUND;
    if (IS(t->tools_stream))
        return SG_KIND_TOOLS_REQUEST;
#undef IS
    if (has_prefix(stream, len, t->outbound_stream_prefix))
        return SG_KIND_OUTBOUND;
    if (has_prefix(stream, len, t->tools_reply_stream_prefix))
        return SG_KIND_TOOLS_REPLY;
    return SGCTL_STREAM_UNKNOWN;
}

/* ---- command arguments -------------------------------------------------- */

int sgctl_args_push(sgctl_args *a, const void *s, size_t len)
{
    if (a->n == a->cap) {
        int cap = a->cap ? a->cap * 2 : 16;
        const char **v = realloc(a->v, (size_t)cap * sizeof *v);
        size_t *l;
        if (v == NULL)
            return -1;
        a->v = v;
        l = realloc(a->len, (size_t)cap * sizeof *l);
        if (l == NULL)
            return -1;
        a->len = l;
        a->cap = cap;
    }
    a->v[a->n] = s;
    a->len[a->n] = len;
    a->n++;
    return 0;
}

int sgctl_args_str(sgctl_args *a, const char *s)
{
    return sgctl_args_push(a, s, strlen(s));
}

void sgctl_args_free(sgctl_args *a)
{
    free(a->v);
    free(a->len);
    memset(a, 0, sizeof *a);
}

/* ---- JSON --------------------------------------------------------------- */

cJSON *sgctl_json_bytes(const void *p, size_t len)
{
    cJSON *o, *s;
    char *b64, *copy;
    size_t n;

    if (len == 0)
        return cJSON_CreateString("");
    if (memchr(p, '\0', len) == NULL && sg__utf8_valid(p, len)) {
        copy = malloc(len + 1);
        if (copy == NULL)
            return NULL;
        memcpy(copy, p, len);
        copy[len] = '\0';
        s = cJSON_CreateString(copy);
        free(copy);
        return s;
    }
    n = sg__base64_encoded_size(len);
    if (n == SIZE_MAX || (b64 = malloc(n + 1)) == NULL)
        return NULL;
    sg__base64_encode(p, len, b64);
    b64[n] = '\0';
    o = cJSON_CreateObject();
    if (o != NULL && cJSON_AddStringToObject(o, "$b64", b64) == NULL) {
        cJSON_Delete(o);
        o = NULL;
    }
    free(b64);
    return o;
}

int sgctl_entry_from_reply(const redisReply *fields, sg_entry_field *buf,
                           size_t cap, sg_entry *out)
{
    size_t i, n;

    if (fields->type != REDIS_REPLY_ARRAY || fields->elements % 2 != 0)
        return -1;
    n = fields->elements / 2;
    if (n > cap)
        return -1;
    for (i = 0; i < n; i++) {
        const redisReply *k = fields->element[2 * i];
        const redisReply *v = fields->element[2 * i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING)
            return -1;
        buf[i].name.ptr = k->str;
        buf[i].name.len = k->len;
        buf[i].value.ptr = v->str;
        buf[i].value.len = v->len;
    }
    out->fields = buf;
    out->nfields = n;
    return 0;
}

static int field_is(const sg_entry_field *f, const char *name)
{
    return f->name.len == strlen(name) &&
           memcmp(f->name.ptr, name, f->name.len) == 0;
}

cJSON *sgctl_entry_json(const sgctl *c, const char *stream, const char *id,
                        const sg_entry *e, int kind, sg_envelope **decoded)
{
    cJSON *j = cJSON_CreateObject(), *fields, *v;
    sg_envelope *env = NULL;
    sg_error err;
    sg_buf buf;
    size_t i;
    int rc;

    (void)c;
    if (decoded != NULL)
        *decoded = NULL;
    if (j == NULL)
        return NULL;
    cJSON_AddStringToObject(j, "stream", stream);
    cJSON_AddStringToObject(j, "id", id);
    if (kind >= 0)
        cJSON_AddStringToObject(j, "kind", sg_kind_name((sg_kind)kind));
    for (i = 0; i < e->nfields; i++) {
        const sg_entry_field *f = &e->fields[i];
        if ((field_is(f, "ts") || field_is(f, "trace_id")) &&
            cJSON_GetObjectItemCaseSensitive(j, field_is(f, "ts")
                                             ? "ts" : "trace_id") == NULL) {
            v = sgctl_json_bytes(f->value.ptr, f->value.len);
            if (v != NULL)
                cJSON_AddItemToObject(j, field_is(f, "ts") ? "ts"
                                                           : "trace_id", v);
        }
    }
    if (kind >= 0) {
        sg_error_clear(&err);
        rc = sg_envelope_decode((sg_kind)kind, e, NULL, &env, &err);
        if (rc == 0) {
            sg_buf_init(&buf, NULL);
            if (sg_envelope_to_json(env, &buf, &err) == 0)
                cJSON_AddItemToObject(j, "envelope",
                                      cJSON_CreateRaw((char *)buf.data));
            sg_buf_destroy(&buf);
        } else {
            cJSON *eo = cJSON_AddObjectToObject(j, "error");
            if (eo != NULL) {
                cJSON_AddStringToObject(eo, "reason",
                                        sg_reason_name(err.reason)
                                        ? sg_reason_name(err.reason)
                                        : "none");
                cJSON_AddStringToObject(eo, "path", err.path);
                cJSON_AddStringToObject(eo, "message", err.msg);
            }
        }
    }
    fields = cJSON_AddObjectToObject(j, "fields");
    for (i = 0; fields != NULL && i < e->nfields; i++) {
        const sg_entry_field *f = &e->fields[i];
        char name[256];
        size_t n = f->name.len < sizeof name - 1 ? f->name.len
                                                 : sizeof name - 1;
        if (kind >= 0 && (field_is(f, "data") || field_is(f, "ts") ||
                          field_is(f, "trace_id")))
            continue;
        memcpy(name, f->name.ptr, n);
        name[n] = '\0';
        if (memchr(name, '\0', n) != NULL)
            continue;
        if (cJSON_GetObjectItemCaseSensitive(fields, name) != NULL)
            continue;
        v = sgctl_json_bytes(f->value.ptr, f->value.len);
        if (v != NULL)
            cJSON_AddItemToObject(fields, name, v);
    }
    if (decoded != NULL)
        *decoded = env;
    else
        sg_envelope_free(env);
    return j;
}

void sgctl_print_json(sgctl *c, cJSON *j)
{
    char *text;

    if (j == NULL) {
        sgctl_errorf(c, NULL, "out of memory rendering JSON");
        return;
    }
    text = cJSON_PrintUnformatted(j);
    if (text != NULL) {
        fputs(text, c->out);
        fputc('\n', c->out);
        cJSON_free(text);
    }
    cJSON_Delete(j);
    fflush(c->out);
}

void sgctl_print_text(FILE *f, const char *p, size_t len, size_t max)
{
    size_t i;

    for (i = 0; i < len && i < max; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '\n')
            fputs("\\n", f);
        else if (ch < 0x20 || ch == 0x7f)
            fprintf(f, "\\x%02x", ch);
        else
            fputc(ch, f);
    }
    if (len > max)
        fputs("...", f);
}
