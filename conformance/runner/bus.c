/*
 * bus.c: the runner as the other roles of the bus: publishing inbound and
 * outbound envelopes, observing what the implementation did (mocks,
 * streams, pending list) into the history, and the Redis end-state and
 * dead-letter oracles.
 */
#define _POSIX_C_SOURCE 200809L

#include "conform.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sg/codec.h"
#include "sg/mem.h"

/* ---- a tiny msgpack writer ---------------------------------------------- */

static void mp_put(sgc_mp *m, const void *p, size_t n)
{
    if (m->len + n > m->cap) {
        size_t cap = (m->len + n) * 2 + 64;
        unsigned char *b = realloc(m->buf, cap);
        if (b == NULL) {
            fprintf(stderr, "sg-conform: out of memory\n");
            exit(2);
        }
        m->buf = b;
        m->cap = cap;
    }
    memcpy(m->buf + m->len, p, n);
    m->len += n;
}

static void mp_u8(sgc_mp *m, unsigned v)
{
    unsigned char b = (unsigned char)v;
    mp_put(m, &b, 1);
}

static void mp_be(sgc_mp *m, unsigned long long v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        mp_u8(m, (unsigned)((v >> (8 * i)) & 0xff));
}

void sgc_mp_map(sgc_mp *m, unsigned n)
{
    if (n < 16) {
        mp_u8(m, 0x80 | n);
    } else {
        mp_u8(m, 0xde);
        mp_be(m, n, 2);
    }
}

void sgc_mp_array(sgc_mp *m, unsigned n)
{
    if (n < 16) {
        mp_u8(m, 0x90 | n);
    } else {
        mp_u8(m, 0xdc);
        mp_be(m, n, 2);
    }
}

void sgc_mp_strn(sgc_mp *m, const char *s, size_t n)
{
    if (n < 32) {
        mp_u8(m, 0xa0 | (unsigned)n);
    } else if (n < 256) {
        mp_u8(m, 0xd9);
        mp_be(m, n, 1);
    } else if (n < 65536) {
        mp_u8(m, 0xda);
        mp_be(m, n, 2);
    } else {
        mp_u8(m, 0xdb);
        mp_be(m, n, 4);
    }
    mp_put(m, s, n);
}

void sgc_mp_str(sgc_mp *m, const char *s)
{
    sgc_mp_strn(m, s, strlen(s));
}

void sgc_mp_int(sgc_mp *m, long long v)
{
    if (v >= 0 && v < 128) {
        mp_u8(m, (unsigned)v);
    } else if (v < 0 && v >= -32) {
        mp_u8(m, (unsigned)(v & 0xff));
    } else {
        mp_u8(m, 0xd3);
        mp_be(m, (unsigned long long)v, 8);
    }
}

void sgc_mp_bool(sgc_mp *m, int v)
{
    mp_u8(m, v ? 0xc3 : 0xc2);
}

void sgc_mp_raw(sgc_mp *m, const void *p, size_t n)
{
    mp_put(m, p, n);
}

void sgc_mp_free(sgc_mp *m)
{
    free(m->buf);
    memset(m, 0, sizeof *m);
}

/* ---- publishing ------------------------------------------------------------ */

static void trace_of(const char *token, char out[33])
{
    /* Deterministic per token, 32 lowercase hex digits (SG-TRACE-001). */
    unsigned long long h1 = 1469598103934665603ULL, h2 = 1099511628211ULL;
    for (const char *p = token; *p; p++) {
        h1 = (h1 ^ (unsigned char)*p) * 1099511628211ULL;
        h2 = (h2 ^ (unsigned char)*p) * 6364136223846793005ULL + 1;
    }
    snprintf(out, 33, "%016llx%016llx", h1, h2);
}

static void ts_now(char *out, size_t cap)
{
    long long ms = sgc_now_ms();
    snprintf(out, cap, "%lld.%03lld", ms / 1000, ms % 1000);
}

int sgc_xadd_raw(sgc_ctx *c, const char *stream, size_t nfields,
                 const char **names, const char **values,
                 const size_t *value_lens, char *id)
{
    size_t argc = 5 + 2 * nfields;
    const char **argv = calloc(argc, sizeof *argv);
    size_t *lens = calloc(argc, sizeof *lens);
    if (argv == NULL || lens == NULL) {
        free(argv);
        free(lens);
        return sgc_error(c, "out of memory");
    }
    argv[0] = "XADD";
    argv[1] = stream;
    argv[2] = "MAXLEN";
    argv[3] = "~";
    argv[4] = "100000";
    /* The id "*" follows MAXLEN: shift by one. */
    const char **full = calloc(argc + 1, sizeof *full);
    size_t *flens = calloc(argc + 1, sizeof *flens);
    if (full == NULL || flens == NULL) {
        free(argv);
        free(lens);
        free(full);
        free(flens);
        return sgc_error(c, "out of memory");
    }
    for (int i = 0; i < 5; i++) {
        full[i] = argv[i];
        flens[i] = strlen(argv[i]);
    }
    full[5] = "*";
    flens[5] = 1;
    for (size_t i = 0; i < nfields; i++) {
        full[6 + 2 * i] = names[i];
        flens[6 + 2 * i] = strlen(names[i]);
        full[7 + 2 * i] = values[i];
        flens[7 + 2 * i] = value_lens ? value_lens[i] : strlen(values[i]);
    }
    redisReply *r = sgc_cmdargv(c, (int)(argc + 1), full, flens);
    free(argv);
    free(lens);
    free(full);
    free(flens);
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        sgc_error(c, "XADD %s failed: %s", stream,
                  r && r->str ? r->str : "no reply");
        if (r)
            freeReplyObject(r);
        return -1;
    }
    if (id)
        snprintf(id, 64, "%s", r->str);
    freeReplyObject(r);
    return 0;
}

static int encode_inbound(const sgc_msg *m, char *content, size_t ccap,
                          sg_buf *data)
{
    snprintf(content, ccap, "ch=%s tok=%s", m->channel, m->token);
    char msgid[96];
    snprintf(msgid, sizeof msgid, "m-%s", m->token);
    sg_envelope env;
    sg_envelope_init(&env, SG_KIND_INBOUND);
    sg_inbound *in = &env.u.in;
    const char *platform = m->platform ? m->platform : "http";
    in->platform = (sg_str){ platform, strlen(platform) };
    in->channel_id = (sg_str){ m->channel, strlen(m->channel) };
    in->user_id = SG_STR("sgc-user");
    in->username = SG_STR("tester");
    in->content = (sg_str){ content, strlen(content) };
    in->is_addressed = m->addressed ? true : false;
    in->message_id = (sg_str){ msgid, strlen(msgid) };
    in->timestamp = (double)sgc_now_ms() / 1000.0;
    char trace[33];
    trace_of(m->token, trace);
    in->trace_id = (sg_str){ trace, 32 };
    sg_error err;
    return sg_envelope_encode(&env, data, &err);
}

static void note_publish(sgc_ctx *c, const char *channel, const char *token,
                         const char *id, int expect)
{
    size_t ix = sgc_history_add(&c->hist, SGC_EV_PUBLISH, sgc_now_ms(),
                                channel, token, id, NULL, NULL, expect);
    if (ix != (size_t)-1)
        sgc_history_track(&c->hist, id, ix);
}

static int msg_expect(const sgc_msg *m)
{
    if (m->expect_given)
        return m->expect;
    return m->addressed ? SGC_EXPECT_ONCE : SGC_EXPECT_ANY;
}

int sgc_publish_inbound(sgc_ctx *c, const sgc_msg *m, char *id)
{
    sg_buf data;
    sg_buf_init(&data, NULL);
    char content[256];
    if (encode_inbound(m, content, sizeof content, &data) != 0) {
        sg_buf_destroy(&data);
        return sgc_error(c, "cannot encode an inbound envelope");
    }
    char ts[32], trace[33], idbuf[64];
    ts_now(ts, sizeof ts);
    trace_of(m->token, trace);
    const char *names[] = { "data", "ts", "trace_id" };
    const char *values[] = { (const char *)data.data, ts, trace };
    size_t lens[] = { data.len, strlen(ts), 32 };
    int rc = sgc_xadd_raw(c, c->n.inbound, 3, names, values, lens, idbuf);
    sg_buf_destroy(&data);
    if (rc != 0)
        return -1;
    note_publish(c, m->channel, m->token, idbuf, msg_expect(m));
    if (id)
        snprintf(id, 64, "%s", idbuf);
    return 0;
}

int sgc_publish_inbound_many(sgc_ctx *c, const sgc_msg *m, size_t n)
{
    if (c->rc == NULL && sgc_cmd(c, "PING") == NULL)
        return sgc_error(c, "no redis connection");
    size_t batch = 200;
    for (size_t base = 0; base < n; base += batch) {
        size_t end = base + batch < n ? base + batch : n;
        for (size_t i = base; i < end; i++) {
            sg_buf data;
            sg_buf_init(&data, NULL);
            char content[256], ts[32], trace[33];
            if (encode_inbound(&m[i], content, sizeof content, &data) != 0) {
                sg_buf_destroy(&data);
                return sgc_error(c, "cannot encode an inbound envelope");
            }
            ts_now(ts, sizeof ts);
            trace_of(m[i].token, trace);
            const char *argv[] = { "XADD", c->n.inbound, "MAXLEN", "~",
                                   "100000", "*", "data",
                                   (const char *)data.data, "ts", ts,
                                   "trace_id", trace };
            size_t lens[12];
            for (int a = 0; a < 12; a++)    /* data is binary: no strlen */
                lens[a] = a == 7 ? data.len : strlen(argv[a]);
            redisAppendCommandArgv(c->rc, 12, argv, lens);
            sg_buf_destroy(&data);
        }
        for (size_t i = base; i < end; i++) {
            void *rep = NULL;
            if (redisGetReply(c->rc, &rep) != REDIS_OK || rep == NULL)
                return sgc_error(c, "pipelined XADD failed");
            redisReply *r = rep;
            if (r->type == REDIS_REPLY_STRING)
                note_publish(c, m[i].channel, m[i].token, r->str,
                             msg_expect(&m[i]));
            freeReplyObject(r);
        }
    }
    return 0;
}

int sgc_publish_outbound(sgc_ctx *c, const sgc_out *o, char *id)
{
    char text[256] = "", key[SGC_NAME_MAX] = "";
    sg_envelope env;
    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    sg_outbound *out = &env.u.out;
    if (o->type) {
        sg_out_type t;
        if (sg_out_type_from_name(o->type, strlen(o->type), &t) != 0)
            return sgc_error(c, "unknown type %s", o->type);
        out->type = t;
    }
    if (o->channel) {
        out->has_channel_id = true;
        out->channel_id = (sg_str){ o->channel, strlen(o->channel) };
    }
    if (o->token)
        snprintf(text, sizeof text, "ch=%s tok=%s",
                 o->channel ? o->channel : "-", o->token);
    out->text = (sg_str){ text, strlen(text) };
    if (o->message_key) {
        if (o->message_key[0])
            snprintf(key, sizeof key, "%s", o->message_key);
        else
            snprintf(key, sizeof key, "%smsg:%s", c->n.ns,
                     o->token ? o->token : "none");
        out->has_message_key = true;
        out->message_key = (sg_str){ key, strlen(key) };
    }
    if (o->reply_to) {
        out->has_reply_to = true;
        out->reply_to = (sg_str){ o->reply_to, strlen(o->reply_to) };
    }
    if (o->emoji) {
        out->has_emoji = true;
        out->emoji = (sg_str){ o->emoji, strlen(o->emoji) };
    }
    if (o->message_id)
        out->message_id = (sg_str){ o->message_id, strlen(o->message_id) };
    static const unsigned char file_bytes[] = "sgc file content";
    out->file_data = (sg_bytes){ file_bytes, sizeof file_bytes - 1 };
    out->filename = SG_STR("sgc.txt");
    out->mimetype = SG_STR("text/plain");
    /* [{"label": "ok", "id": "b1"}] */
    static const unsigned char buttons[] = {
        0x91, 0x82, 0xa5, 'l', 'a', 'b', 'e', 'l', 0xa2, 'o', 'k',
        0xa2, 'i', 'd', 0xa2, 'b', '1' };
    out->buttons = (sg_any){ buttons, sizeof buttons };
    char trace[33];
    trace_of(o->token ? o->token : text, trace);
    out->trace_id = (sg_str){ trace, 32 };

    sg_buf data;
    sg_buf_init(&data, NULL);
    sg_error err;
    if (sg_envelope_encode(&env, &data, &err) != 0) {
        sg_buf_destroy(&data);
        return sgc_error(c, "cannot encode an outbound envelope: %s",
                         err.msg);
    }
    char ts[32], idbuf[64];
    ts_now(ts, sizeof ts);
    const char *names[] = { "data", "ts", "trace_id" };
    const char *values[] = { (const char *)data.data, ts, trace };
    size_t lens[] = { data.len, strlen(ts), 32 };
    int rc = sgc_xadd_raw(c, c->n.outbound, 3, names, values, lens, idbuf);
    sg_buf_destroy(&data);
    if (rc != 0)
        return -1;
    if (o->token)
        note_publish(c, o->channel ? o->channel : "", o->token, idbuf,
                     o->expect_given ? o->expect : SGC_EXPECT_ONCE);
    if (id)
        snprintf(id, 64, "%s", idbuf);
    return 0;
}

/* ---- observing ---------------------------------------------------------------- */

static const char *jstr(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static long long jnum(const cJSON *o, const char *name)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
    return cJSON_IsNumber(v) ? (long long)v->valuedouble : 0;
}

/* The text of the last user message of a chat request. */
static const char *last_user_text(const cJSON *body)
{
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(body, "messages");
    int n = cJSON_GetArraySize(msgs);
    for (int i = n - 1; i >= 0; i--) {
        const cJSON *m = cJSON_GetArrayItem(msgs, i);
        const char *role = jstr(m, "role");
        if (role == NULL || strcmp(role, "user") != 0)
            continue;
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m,
                                                                "content");
        if (cJSON_IsString(content))
            return content->valuestring;
        const cJSON *part;
        cJSON_ArrayForEach(part, content) {
            const char *t = jstr(part, "text");
            if (t)
                return t;
        }
    }
    return NULL;
}

static void observe_llm(sgc_ctx *c)
{
    char url[256];
    snprintf(url, sizeof url, "%s/_mock/requests?since=%lld", c->llm.base,
             c->llm_next);
    cJSON *j = sgc_http_json("GET", url, NULL, 5000, NULL);
    if (j == NULL)
        return;
    const cJSON *reqs = cJSON_GetObjectItemCaseSensitive(j, "requests");
    const cJSON *r;
    if (c->llm_reqs == NULL)
        c->llm_reqs = cJSON_CreateArray();
    cJSON_ArrayForEach(r, reqs) {
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(r, "body");
        const char *text = last_user_text(body);
        char token[48] = "";
        if (text == NULL || sgc_token_of(text, token, sizeof token) != 0) {
            /* Fall back to any message holding a token. */
            char *all = cJSON_PrintUnformatted(body);
            if (all) {
                const char *p = strstr(all, "tok=");
                const char *last = NULL;
                while (p) {
                    last = p;
                    p = strstr(p + 1, "tok=");
                }
                if (last)
                    sgc_token_of(last, token, sizeof token);
                free(all);
            }
        }
        const char *ch = token[0] ? sgc_history_channel_of(&c->hist, token)
                                  : NULL;
        long long t = jnum(r, "time_ms");
        size_t ix = sgc_history_add(&c->hist, SGC_EV_EFFECT, t, ch, token,
                                    NULL, NULL, "llm", 0);
        if (ix != (size_t)-1 && c->effect_ms > 0)
            c->hist.v[ix].t_end_ms = t + c->effect_ms;
        cJSON *copy = cJSON_Duplicate(r, 1);
        if (copy)
            cJSON_AddItemToArray(c->llm_reqs, copy);
    }
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(j, "next");
    if (cJSON_IsNumber(next))
        c->llm_next = (long long)next->valuedouble;
    cJSON_Delete(j);
}

static int is_send_op(const char *op)
{
    return op && (strcmp(op, "send") == 0 || strcmp(op, "send_file") == 0 ||
                  strcmp(op, "send_buttons") == 0);
}

/* Finds the stored copy of platform call seq (recent ones first). */
static int stored_call(sgc_ctx *c, long long seq)
{
    for (int i = cJSON_GetArraySize(c->calls) - 1; i >= 0; i--) {
        const cJSON *x = cJSON_GetArrayItem(c->calls, i);
        if (jnum(x, "seq") == seq)
            return i;
    }
    return -1;
}

/*
 * A call is recorded as an execution when first seen, and as a delivery
 * once the mock has answered it (its status is null while it waits for
 * its latency or a hang). The poll restarts at the oldest unanswered call.
 */
static void observe_platform(sgc_ctx *c)
{
    char url[256];
    snprintf(url, sizeof url, "%s/_mock/calls?since=%lld", c->platform.base,
             c->platform_next);
    cJSON *j = sgc_http_json("GET", url, NULL, 5000, NULL);
    if (j == NULL)
        return;
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(j, "calls");
    const cJSON *r;
    if (c->calls == NULL)
        c->calls = cJSON_CreateArray();
    long long first_open = -1;
    cJSON_ArrayForEach(r, calls) {
        long long seq = jnum(r, "seq");
        const char *op = jstr(r, "op");
        const cJSON *body = cJSON_GetObjectItemCaseSensitive(r, "body");
        const cJSON *env = cJSON_GetObjectItemCaseSensitive(body, "envelope");
        const char *text = jstr(env, "text");
        const char *key = jstr(env, "message_key");
        const char *ch = jstr(r, "channel_id");
        const cJSON *stj = cJSON_GetObjectItemCaseSensitive(r, "status");
        int answered = cJSON_IsNumber(stj);
        long long status = answered ? (long long)stj->valuedouble : 0;
        char token[48] = "";
        if (text)
            sgc_token_of(text, token, sizeof token);
        long long t = jnum(r, "time_ms");
        int at = stored_call(c, seq);
        int was_answered = 0;
        if (at >= 0)
            was_answered = cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(
                cJSON_GetArrayItem(c->calls, at), "status"));
        if (at < 0 && is_send_op(op) && token[0]) {
            size_t ix = sgc_history_add(&c->hist, SGC_EV_EFFECT, t, ch,
                                        token, NULL, key, op, 0);
            if (ix != (size_t)-1 && c->effect_ms > 0)
                c->hist.v[ix].t_end_ms = t + c->effect_ms;
        }
        if (answered && !was_answered && is_send_op(op) && token[0] &&
            status >= 200 && status < 300)
            sgc_history_add(&c->hist, SGC_EV_DELIVER, t, ch, token, NULL,
                            key, op, 0);
        cJSON *copy = cJSON_Duplicate(r, 1);
        if (copy) {
            if (at < 0)
                cJSON_AddItemToArray(c->calls, copy);
            else
                cJSON_ReplaceItemInArray(c->calls, at, copy);
        }
        if (!answered && first_open < 0)
            first_open = seq;
    }
    const cJSON *next = cJSON_GetObjectItemCaseSensitive(j, "next");
    if (first_open >= 0)
        c->platform_next = first_open;
    else if (cJSON_IsNumber(next))
        c->platform_next = (long long)next->valuedouble;
    cJSON_Delete(j);
}

/* Field `name` of a stream entry reply (array of name, value). */
static const redisReply *entry_field(const redisReply *fields,
                                     const char *name)
{
    for (size_t i = 0; fields && i + 1 < fields->elements; i += 2)
        if (fields->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(fields->element[i]->str, name) == 0)
            return fields->element[i + 1];
    return NULL;
}

static void observe_outbound(sgc_ctx *c)
{
    char start[80];
    snprintf(start, sizeof start, "(%s", c->out_last);
    redisReply *r = sgc_cmd(c, "XRANGE %s %s + COUNT 2000", c->n.outbound,
                            start);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        if (r)
            freeReplyObject(r);
        return;
    }
    if (c->outs == NULL)
        c->outs = cJSON_CreateArray();
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        const char *id = e->element[0]->str;
        const redisReply *fields = e->element[1];
        snprintf(c->out_last, sizeof c->out_last, "%s", id);
        for (size_t f = 0; f + 1 < fields->elements; f += 2)
            if (strncmp(fields->element[f]->str, "dlq_", 4) == 0)
                c->dlq_fields_seen++;
        sg_entry_field ef[16];
        size_t nf = 0;
        for (size_t f = 0; f + 1 < fields->elements && nf < 16; f += 2) {
            ef[nf].name = (sg_str){ fields->element[f]->str,
                                    fields->element[f]->len };
            ef[nf].value = (sg_str){ fields->element[f + 1]->str,
                                     fields->element[f + 1]->len };
            nf++;
        }
        sg_entry entry = { ef, nf };
        sg_envelope *env = NULL;
        sg_error err;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", id);
        const redisReply *tr = entry_field(fields, "trace_id");
        cJSON_AddStringToObject(o, "entry_trace_id",
                                tr && tr->str ? tr->str : "");
        if (sg_envelope_decode(SG_KIND_OUTBOUND, &entry, NULL, &env,
                               &err) != 0) {
            cJSON_AddStringToObject(o, "error", err.msg);
            cJSON_AddItemToArray(c->outs, o);
            continue;
        }
        const sg_outbound *out = &env->u.out;
        char buf[1024];
#define PUTS(name, s)                                                      \
    do {                                                                   \
        size_t l_ = (s).len < sizeof buf - 1 ? (s).len : sizeof buf - 1;   \
        memcpy(buf, (s).ptr ? (s).ptr : "", l_);                           \
        buf[l_] = '\0';                                                    \
        cJSON_AddStringToObject(o, name, buf);                             \
    } while (0)
        cJSON_AddStringToObject(o, "type", sg_out_type_name(out->type));
        PUTS("channel_id", out->channel_id);
        PUTS("text", out->text);
        PUTS("trace_id", out->trace_id);
        if (out->has_message_key)
            PUTS("message_key", out->message_key);
        if (out->type == SG_OUT_RPC_REQUEST) {
            PUTS("rpc_method", out->rpc_method);
            PUTS("reply_key", out->reply_key);
        }
#undef PUTS
        cJSON_AddItemToArray(c->outs, o);
        if (out->type == SG_OUT_RPC_REQUEST && out->reply_key.len > 0) {
            /* The runner plays the gateway: one reply, expiring in 60 s. */
            char key[SGC_NAME_MAX * 2];
            size_t kl = out->reply_key.len < sizeof key - 1
                            ? out->reply_key.len : sizeof key - 1;
            memcpy(key, out->reply_key.ptr, kl);
            key[kl] = '\0';
            int n = c->rpc_seen++;
            const char *reply = c->rpc_reply ? c->rpc_reply : "[]";
            if (n < 8) {
                snprintf(c->rpc_keys[n], sizeof c->rpc_keys[n], "%s", key);
                if (c->rpc_plan[n])
                    reply = c->rpc_plan[n];
            }
            if (reply[0]) {
                redisReply *a = sgc_cmd(c, "RPUSH %s %s", key, reply);
                redisReply *b = sgc_cmd(c, "EXPIRE %s 60", key);
                if (a)
                    freeReplyObject(a);
                if (b)
                    freeReplyObject(b);
            }
        }
        if (out->type == SG_OUT_MESSAGE || out->type == SG_OUT_FILE ||
            out->type == SG_OUT_BUTTONS) {
            char token[48] = "";
            const char *text = jstr(o, "text");
            if (sgc_token_of(text, token, sizeof token) == 0) {
                unsigned long long ms = 0, seq = 0;
                sgc_parse_id(id, &ms, &seq);
                sgc_history_add(&c->hist, SGC_EV_DELIVER, (long long)ms,
                                jstr(o, "channel_id"), token, id,
                                jstr(o, "message_key"),
                                sg_out_type_name(out->type), 0);
            }
        }
        sg_envelope_free(env);
    }
    freeReplyObject(r);
}

static void observe_dlq(sgc_ctx *c)
{
    char start[80];
    snprintf(start, sizeof start, "(%s", c->dlq_last);
    redisReply *r = sgc_cmd(c, "XRANGE %s %s + COUNT 1000", c->n.dlq,
                            start);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        if (r)
            freeReplyObject(r);
        return;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        snprintf(c->dlq_last, sizeof c->dlq_last, "%s", e->element[0]->str);
        const redisReply *origin = entry_field(e->element[1],
                                               "dlq_origin_id");
        const redisReply *reason = entry_field(e->element[1], "dlq_reason");
        const char *oid = origin && origin->str ? origin->str : "";
        sgc_tracked *t = sgc_history_find(&c->hist, oid);
        const char *token = t ? c->hist.v[t->pub].token : "";
        const char *ch = t ? c->hist.v[t->pub].channel : "";
        sgc_history_add(&c->hist, SGC_EV_DLQ, sgc_now_ms(), ch, token, oid,
                        NULL, reason && reason->str ? reason->str : "", 0);
    }
    freeReplyObject(r);
}

static const char *role_stream(sgc_ctx *c)
{
    return strcmp(c->iut->role, "worker") == 0 ? c->n.inbound
                                                : c->n.outbound;
}

static const char *role_group(sgc_ctx *c)
{
    return strcmp(c->iut->role, "worker") == 0 ? c->n.worker_group
                                                : c->n.gateway_group;
}

/* The group's last-delivered-id, "" when unknown. */
static void last_delivered(sgc_ctx *c, char *out, size_t cap)
{
    out[0] = '\0';
    redisReply *r = sgc_cmd(c, "XINFO GROUPS %s", role_stream(c));
    if (r && r->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *g = r->element[i];
            const redisReply *name = entry_field(g, "name");
            const redisReply *last = entry_field(g, "last-delivered-id");
            if (name && last && strcmp(name->str, role_group(c)) == 0)
                snprintf(out, cap, "%s", last->str);
        }
    }
    if (r)
        freeReplyObject(r);
}

/* KEYS[1] stream; ARGV[1] group, ARGV[2] the wake-up prefix. */
static const char pending_lua[] =
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', '100000') "
    "local seen, h = {}, {} "
    "for i = 1, #p do "
    "  local o = p[i][2] "
    "  if not seen[o] then "
    "    seen[o] = true "
    "    local v = redis.call('HGET', ARGV[2] .. ':handers:' .. ARGV[1], o) "
    "    h[#h + 1] = o "
    "    h[#h + 1] = redis.call('LLEN', ARGV[2] .. ':hand:' .. ARGV[1] .. ':' "
    ".. o) "
    "    h[#h + 1] = v and string.match(v, '^(%d+) ') or '' "
    "  end "
    "end "
    "return {p, h}";

static void observe_pending(sgc_ctx *c)
{
    if (c->hist.nt == 0)
        return;
    char last[64];
    last_delivered(c, last, sizeof last);
    unsigned long long lms = 0, lseq = 0;
    if (last[0] == '\0' || sgc_parse_id(last, &lms, &lseq) != 0)
        return;
    /*
     * The pending list, and per consumer its hand list's length and the
     * bound its field of the hand-over hash gives (SG-IN-026/027), read
     * in one script so that the two agree: entries handed to a consumer
     * are pending at it before it has read them.
     */
    redisReply *all = sgc_cmd(c, "EVAL %s 1 %s %s %s", pending_lua,
                              role_stream(c), role_group(c),
                              c->n.wake_prefix);
    if (all == NULL || all->type != REDIS_REPLY_ARRAY || all->elements != 2 ||
        all->element[0]->type != REDIS_REPLY_ARRAY ||
        all->element[1]->type != REDIS_REPLY_ARRAY) {
        if (all)
            freeReplyObject(all);
        return;
    }
    const redisReply *r = all->element[0];
    /* Mark what is pending now. */
    unsigned char *pending = calloc(c->hist.nt, 1);
    long long now = sgc_now_ms();
    /* Entries per consumer (the in-flight bound, SG-IN-002). */
    {
        const char *owners[8];
        int counts[8], nown = 0;
        const redisReply *h = all->element[1];
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *p = r->element[i];
            if (p->type != REDIS_REPLY_ARRAY || p->elements < 4)
                continue;
            int k = 0;
            while (k < nown && strcmp(owners[k], p->element[1]->str) != 0)
                k++;
            if (k == nown) {
                if (nown == 8)
                    continue;
                owners[nown] = p->element[1]->str;
                counts[nown++] = 0;
            }
            counts[k]++;
        }
        /* {owner, list length, bound ("" for none), ...} */
        for (size_t i = 0; i + 2 < h->elements; i += 3) {
            long long listed = h->element[i + 1]->integer;
            const char *bound = h->element[i + 2]->str;
            int over;
            for (int k = 0; k < nown; k++)
                if (strcmp(owners[k], h->element[i]->str) == 0)
                    counts[k] -= (int)listed;
            over = listed > 0 && (bound == NULL || bound[0] == '\0' ||
                                  listed > atoll(bound));
            if (over && listed > c->max_hand_over)
                c->max_hand_over = (int)listed;
        }
        for (int k = 0; k < nown; k++)
            if (counts[k] > c->max_owner_pending)
                c->max_owner_pending = counts[k];
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *p = r->element[i];
        if (p->type != REDIS_REPLY_ARRAY || p->elements < 4)
            continue;
        sgc_tracked *t = sgc_history_find(&c->hist, p->element[0]->str);
        if (t == NULL)
            continue;
        if (pending)
            pending[t - c->hist.t] = 1;
        int deliveries = (int)p->element[3]->integer;
        const char *owner = p->element[1]->str;
        if (deliveries > t->max_deliveries ||
            strcmp(owner, t->owner) != 0) {
            if (deliveries > t->max_deliveries)
                t->max_deliveries = deliveries;
            snprintf(t->owner, sizeof t->owner, "%s", owner);
            const sgc_event *pub = &c->hist.v[t->pub];
            sgc_history_add(&c->hist, SGC_EV_PENDING, now, pub->channel,
                            pub->token, pub->entry_id, NULL, owner,
                            deliveries);
        }
    }
    freeReplyObject(all);
    for (size_t i = 0; pending && i < c->hist.nt; i++) {
        sgc_tracked *t = &c->hist.t[i];
        if (t->acked || pending[i])
            continue;
        if (t->ms > lms || (t->ms == lms && t->seq > lseq))
            continue;   /* not delivered yet */
        t->acked = 1;
        const sgc_event *pub = &c->hist.v[t->pub];
        sgc_history_add(&c->hist, SGC_EV_ACK, now, pub->channel, pub->token,
                        pub->entry_id, NULL, NULL, 0);
    }
    free(pending);
}

int sgc_observe(sgc_ctx *c)
{
    if (c->llm.port > 0)
        observe_llm(c);
    if (c->platform.port > 0)
        observe_platform(c);
    /* Acknowledgements before deliveries, so that an ack seen in this
     * poll is never earlier than a delivery that preceded it. */
    observe_pending(c);
    if (strcmp(c->iut->role, "worker") == 0)
        observe_outbound(c);
    observe_dlq(c);
    return 0;
}

int sgc_wait(sgc_ctx *c, int ms, sgc_pred *pred, void *ud)
{
    long long end = sgc_now_ms() + sgc_ms(c, ms);
    for (;;) {
        sgc_observe(c);
        if (pred && pred(c, ud))
            return 1;
        long long now = sgc_now_ms();
        if (now >= c->deadline_ms) {
            sgc_error(c, "case timed out after %lld ms",
                      now - c->started_ms);
            return 0;
        }
        if (now >= end)
            return 0;
        if (!sgc_instances_alive(c, NULL))
            return 0;
        sgc_sleep_ms(25);
    }
}

void sgc_settle(sgc_ctx *c, int ms)
{
    sgc_wait(c, ms, NULL, NULL);
}

long long sgc_pending(sgc_ctx *c, const char *stream, const char *group)
{
    redisReply *r = sgc_cmd(c, "XPENDING %s %s", stream, group);
    long long n = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements >= 1 &&
        r->element[0]->type == REDIS_REPLY_INTEGER)
        n = r->element[0]->integer;
    if (r)
        freeReplyObject(r);
    return n;
}

/* Keys matching prefix + "*", names into out (may be NULL). */
static long long scan_keys(sgc_ctx *c, const char *prefix, cJSON *out)
{
    char cursor[32] = "0", pattern[SGC_NAME_MAX + 2];
    snprintf(pattern, sizeof pattern, "%s*", prefix);
    long long n = 0;
    do {
        redisReply *r = sgc_cmd(c, "SCAN %s MATCH %s COUNT 1000", cursor,
                                pattern);
        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
            if (r)
                freeReplyObject(r);
            return -1;
        }
        snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
        const redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            n++;
            if (out)
                cJSON_AddItemToArray(out,
                                     cJSON_CreateString(keys->element[i]->str));
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return n;
}

long long sgc_count_keys(sgc_ctx *c, const char *prefix)
{
    return scan_keys(c, prefix, NULL);
}

typedef struct endwait {
    const sgc_endstate *e;
    char lockp[SGC_NAME_MAX + 2];
} endwait;

static int end_quiet(sgc_ctx *c, void *ud)
{
    endwait *w = ud;
    long long p = sgc_pending(c, w->e->stream, w->e->group);
    if (p != 0)
        return 0;
    if (sgc_count_keys(c, w->lockp) != 0)
        return 0;
    long long h = sgc_int(c, -1, "HLEN %s", w->e->attempts);
    return h == 0;
}

static int dlq_has(sgc_ctx *c, const char *origin_id, const char *reason)
{
    for (size_t i = 0; i < c->hist.n; i++) {
        const sgc_event *e = &c->hist.v[i];
        if (e->kind == SGC_EV_DLQ && strcmp(e->entry_id, origin_id) == 0 &&
            (reason == NULL || strcmp(e->detail, reason) == 0))
            return 1;
    }
    return 0;
}

void sgc_check_endstate(sgc_ctx *c, const sgc_endstate *e)
{
    endwait w;
    w.e = e;
    snprintf(w.lockp, sizeof w.lockp, "%s:", e->lock_prefix);
    sgc_wait(c, e->settle_ms > 0 ? e->settle_ms : 8000, end_quiet, &w);
    if (c->errored)
        return;

    long long p = sgc_pending(c, e->stream, e->group);
    char detail[512] = "";
    if (p > 0) {
        redisReply *r = sgc_cmd(c, "XPENDING %s %s - + 5", e->stream,
                                e->group);
        size_t off = 0;
        for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY &&
                           i < r->elements; i++) {
            const redisReply *x = r->element[i];
            int n = snprintf(detail + off, sizeof detail - off,
                             "%s%s (owner %s, idle %lld ms, delivered %lld)",
                             i ? ", " : "", x->element[0]->str,
                             x->element[1]->str, x->element[2]->integer,
                             x->element[3]->integer);
            if (n < 0 || (size_t)n >= sizeof detail - off)
                break;
            off += (size_t)n;
        }
        if (r)
            freeReplyObject(r);
    }
    sgc_check(c, e->req_pending, p == 0,
              "pending list of the group empty once the case is quiet",
              "%lld entries pending in %s / %s: %s", p, e->stream, e->group,
              detail);

    cJSON *locks = cJSON_CreateArray();
    long long nl = scan_keys(c, w.lockp, locks);
    char *ls = cJSON_PrintUnformatted(locks);
    sgc_check(c, "SG-LOCK-007", nl == 0,
              "no lock key left after every handling ended",
              "%lld lock keys remain: %s", nl, ls ? ls : "");
    free(ls);
    cJSON_Delete(locks);

    redisReply *r = sgc_cmd(c, "HGETALL %s", e->attempts);
    long long hn = r && r->type == REDIS_REPLY_ARRAY
                       ? (long long)r->elements / 2 : -1;
    char fields[256] = "";
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY &&
                       i + 1 < r->elements && i < 8; i += 2) {
        size_t off = strlen(fields);
        snprintf(fields + off, sizeof fields - off, "%s%s=%s", i ? ", " : "",
                 r->element[i]->str, r->element[i + 1]->str);
    }
    if (r)
        freeReplyObject(r);
    sgc_check(c, "SG-CLAIM-009", hn == 0,
              "no field left in the claim-attempt hash",
              "%lld fields remain in %s: %s", hn, e->attempts, fields);

    if (e->claim_prefix) {
        char cp[SGC_NAME_MAX + 2];
        snprintf(cp, sizeof cp, "%s:", e->claim_prefix);
        cJSON *keys = cJSON_CreateArray();
        scan_keys(c, cp, keys);
        const cJSON *k;
        int stray = 0;
        char which[512] = "";
        cJSON_ArrayForEach(k, keys) {
            const char *key = k->valuestring;
            const char *mkey = key + strlen(cp);
            redisReply *v = sgc_cmd(c, "GET %s", key);
            redisReply *m = sgc_cmd(c, "HGET %s message_id", mkey);
            int done = m && m->type == REDIS_REPLY_STRING && m->len > 0;
            int parked = v && v->type == REDIS_REPLY_STRING &&
                         dlq_has(c, v->str, "send_state_unknown");
            if (!done && !parked) {
                stray++;
                size_t off = strlen(which);
                snprintf(which + off, sizeof which - off, "%s%s=%s",
                         stray > 1 ? ", " : "", key,
                         v && v->str ? v->str : "?");
            }
            if (v)
                freeReplyObject(v);
            if (m)
                freeReplyObject(m);
        }
        cJSON_Delete(keys);
        sgc_check(c, "SG-OUT-012", stray == 0,
                  "every claim key belongs to a completed send (marker "
                  "set) or to a send_state_unknown dead letter",
                  "%d stray claim keys: %s", stray, which);
    }
}

/* ---- dead letters ------------------------------------------------------------- */

static const char *const dlq_fields[] = {
    "dlq_origin_stream", "dlq_origin_group", "dlq_origin_id", "dlq_reason",
    "dlq_path", "dlq_error", "dlq_attempts", "dlq_consumer", "dlq_time_ms",
    NULL };

static int is_decimal(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

void sgc_check_dlq(sgc_ctx *c, const char *origin_stream,
                   const char *origin_group, const sgc_dlq_expect *e,
                   size_t n, int exact)
{
    redisReply *all = sgc_cmd(c, "XRANGE %s - +", c->n.dlq);
    if (all == NULL || all->type != REDIS_REPLY_ARRAY) {
        sgc_error(c, "cannot read the dead-letter stream");
        if (all)
            freeReplyObject(all);
        return;
    }
    size_t matched = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *found = NULL;
        for (size_t j = 0; j < all->elements; j++) {
            const redisReply *oid = entry_field(all->element[j]->element[1],
                                                "dlq_origin_id");
            if (oid && strcmp(oid->str, e[i].origin_id) == 0) {
                found = all->element[j]->element[1];
                break;
            }
        }
        char exp[512];
        snprintf(exp, sizeof exp, "%s: dead-lettered with reason %s%s%s",
                 e[i].label, e[i].reason, e[i].path ? ", path " : "",
                 e[i].path ? e[i].path : "");
        if (!sgc_check(c, e[i].req, found != NULL, exp,
                       "%s: entry %s not in the dead-letter stream",
                       e[i].label, e[i].origin_id))
            continue;
        matched++;
        const redisReply *reason = entry_field(found, "dlq_reason");
        const redisReply *path = entry_field(found, "dlq_path");
        const char *rs = reason ? reason->str : "(none)";
        const char *ps = path ? path->str : "(none)";
        int ok = strcmp(rs, e[i].reason) == 0 &&
                 (e[i].path == NULL || strcmp(ps, e[i].path) == 0);
        sgc_check(c, e[i].req, ok, exp, "%s: dlq_reason %s, dlq_path %s",
                  e[i].label, rs, ps);
        /* Every dlq_ field, with plausible values. */
        char missing[256] = "";
        for (int f = 0; dlq_fields[f]; f++)
            if (entry_field(found, dlq_fields[f]) == NULL) {
                size_t off = strlen(missing);
                snprintf(missing + off, sizeof missing - off, " %s",
                         dlq_fields[f]);
            }
        const redisReply *os = entry_field(found, "dlq_origin_stream");
        const redisReply *og = entry_field(found, "dlq_origin_group");
        const redisReply *at = entry_field(found, "dlq_attempts");
        const redisReply *tm = entry_field(found, "dlq_time_ms");
        const redisReply *er = entry_field(found, "dlq_error");
        ok = missing[0] == '\0' && os && strcmp(os->str, origin_stream) == 0
             && og && strcmp(og->str, origin_group) == 0 &&
             is_decimal(at ? at->str : NULL) &&
             is_decimal(tm ? tm->str : NULL) && er && er->len <= 1024;
        sgc_check(c, "SG-DLQ-001", ok,
                  "every dlq_ field present: origin stream and group of "
                  "the entry, decimal attempts and time, error <= 1024 "
                  "bytes",
                  "%s: missing:%s%s origin_stream=%s origin_group=%s "
                  "attempts=%s time_ms=%s", e[i].label,
                  missing[0] ? missing : " none", "",
                  os ? os->str : "-", og ? og->str : "-",
                  at ? at->str : "-", tm ? tm->str : "-");
        /* The original fields, byte for byte and in order. */
        redisReply *orig = sgc_cmd(c, "XRANGE %s %s %s", origin_stream,
                                   e[i].origin_id, e[i].origin_id);
        if (orig && orig->type == REDIS_REPLY_ARRAY && orig->elements == 1) {
            const redisReply *of = orig->element[0]->element[1];
            size_t k = 0;
            int same = 1;
            char why[256] = "";
            for (size_t f = 0; f + 1 < of->elements; f += 2) {
                /* Skip dlq_ fields in the DLQ entry. */
                while (k + 1 < found->elements &&
                       strncmp(found->element[k]->str, "dlq_", 4) == 0)
                    k += 2;
                if (k + 1 >= found->elements ||
                    found->element[k]->len != of->element[f]->len ||
                    memcmp(found->element[k]->str, of->element[f]->str,
                           of->element[f]->len) != 0 ||
                    found->element[k + 1]->len != of->element[f + 1]->len ||
                    memcmp(found->element[k + 1]->str,
                           of->element[f + 1]->str,
                           of->element[f + 1]->len) != 0) {
                    same = 0;
                    snprintf(why, sizeof why, "field %s differs or is "
                             "missing", of->element[f]->str);
                    break;
                }
                k += 2;
            }
            sgc_check(c, "SG-DLQ-001", same,
                      "the original fields copied unchanged, byte for byte",
                      "%s: %s", e[i].label, why);
            sgc_check(c, "SG-FRAME-003", same,
                      "unknown entry fields carried unchanged into the "
                      "dead letter", "%s: %s", e[i].label, why);
        }
        if (orig)
            freeReplyObject(orig);
    }
    if (exact) {
        size_t extra = all->elements > matched ? all->elements - matched : 0;
        char which[512] = "";
        for (size_t j = 0; j < all->elements && strlen(which) < 400; j++) {
            const redisReply *oid = entry_field(all->element[j]->element[1],
                                                "dlq_origin_id");
            const redisReply *rs = entry_field(all->element[j]->element[1],
                                               "dlq_reason");
            int expected = 0;
            for (size_t i = 0; i < n && oid; i++)
                if (strcmp(oid->str, e[i].origin_id) == 0)
                    expected = 1;
            if (!expected) {
                size_t off = strlen(which);
                snprintf(which + off, sizeof which - off, " %s(%s)",
                         oid ? oid->str : "?", rs ? rs->str : "?");
            }
        }
        sgc_check(c, "SG-DLQ-004", extra == 0,
                  "no other entry dead-lettered",
                  "%zu unexpected dead letters:%s", extra, which);
    }
    freeReplyObject(all);
}
