/*
 * sgc-broken-iut: a deliberately broken worker or gateway, for showing that
 * sg-conform catches real protocol bugs. It is small and synchronous on
 * purpose: one XREADGROUP loop, no locks, no autoclaim, no dead letters.
 * Never deploy it.
 *
 *   sgc-broken-iut --role worker  --bug ack-first     acknowledges each
 *       entry before its handler ran (breaks SG-IN-021)
 *   sgc-broken-iut --role worker  --bug none          acknowledges after
 *   sgc-broken-iut --role gateway --bug no-claim-key  sends without the
 *       completion marker and the claim key (breaks SG-OUT-008..010)
 *
 * Configuration comes from the environment contract of conformance/
 * README.md (REDIS_URL, the SG_* names, SG_LLM_BASE_URL,
 * SG_HTTP_PLATFORM_WEBHOOK, SG_INSTANCE_ID).
 */
#define _POSIX_C_SOURCE 200809L

#include <curl/curl.h>
#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "sg/codec.h"
#include "sg/json.h"
#include "sg/mem.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static const char *env_or(const char *name, const char *def)
{
    const char *v = getenv(name);
    return v && v[0] ? v : def;
}

typedef struct sink {
    char buf[65536];
    size_t len;
} sink;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    sink *s = ud;
    size_t k = size * n;
    if (s->len + k >= sizeof s->buf)
        k = sizeof s->buf - 1 - s->len;
    memcpy(s->buf + s->len, p, k);
    s->len += k;
    s->buf[s->len] = '\0';
    return size * n;
}

static long post(const char *url, const char *body, sink *out)
{
    CURL *h = curl_easy_init();
    if (h == NULL)
        return 0;
    struct curl_slist *hdr = curl_slist_append(NULL,
                                               "Content-Type: "
                                               "application/json");
    out->len = 0;
    out->buf[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(h);
    return status;
}

static redisContext *connect_url(const char *url)
{
    char host[64] = "127.0.0.1";
    int port = 6379;
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    const char *colon = strchr(p, ':');
    if (colon && (size_t)(colon - p) < sizeof host) {
        memcpy(host, p, (size_t)(colon - p));
        host[colon - p] = '\0';
        port = (int)strtol(colon + 1, NULL, 10);
    }
    redisContext *c = redisConnect(host, port);
    if (c == NULL || c->err) {
        fprintf(stderr, "sgc-broken-iut: cannot connect to %s\n", url);
        exit(1);
    }
    return c;
}

static void ack(redisContext *rc, const char *stream, const char *group,
                const char *id)
{
    redisReply *r = redisCommand(rc, "XACK %s %s %s", stream, group, id);
    if (r)
        freeReplyObject(r);
}

/* The worker: read, (ack), ask the LLM, publish the reply, (ack). */
static void handle_inbound(redisContext *rc, const char *id,
                           const sg_envelope *env, int ack_first,
                           const char *stream, const char *group)
{
    const sg_inbound *in = &env->u.in;
    if (ack_first)
        ack(rc, stream, group, id);
    char url[512];
    snprintf(url, sizeof url, "%s/chat/completions",
             env_or("SG_LLM_BASE_URL", "http://127.0.0.1:1/v1"));
    cJSON *req = cJSON_CreateObject();
    cJSON_AddStringToObject(req, "model", env_or("SG_LLM_MODEL", "mock"));
    cJSON *msgs = cJSON_AddArrayToObject(req, "messages");
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "user");
    char content[4096];
    snprintf(content, sizeof content, "%.*s", (int)in->content.len,
             in->content.ptr ? in->content.ptr : "");
    cJSON_AddStringToObject(m, "content", content);
    cJSON_AddItemToArray(msgs, m);
    char *body = cJSON_PrintUnformatted(req);
    cJSON_Delete(req);
    static sink s;
    long st = post(url, body, &s);
    free(body);
    char reply[4096] = "(no answer)";
    cJSON *j = st == 200 ? cJSON_Parse(s.buf) : NULL;
    const cJSON *text = cJSON_GetObjectItem(cJSON_GetObjectItem(
        cJSON_GetArrayItem(cJSON_GetObjectItem(j, "choices"), 0), "message"),
        "content");
    if (cJSON_IsString(text))
        snprintf(reply, sizeof reply, "%s", text->valuestring);
    cJSON_Delete(j);

    sg_envelope out;
    sg_envelope_init(&out, SG_KIND_OUTBOUND);
    out.u.out.type = SG_OUT_MESSAGE;
    out.u.out.has_channel_id = true;
    out.u.out.channel_id = in->channel_id;
    out.u.out.text = (sg_str){ reply, strlen(reply) };
    char key[256];
    snprintf(key, sizeof key, "broken:msg:%s", id);
    out.u.out.has_message_key = true;
    out.u.out.message_key = (sg_str){ key, strlen(key) };
    out.u.out.trace_id = in->trace_id;
    sg_buf data;
    sg_buf_init(&data, NULL);
    sg_error err;
    if (sg_envelope_encode(&out, &data, &err) == 0) {
        char stream_out[512];
        snprintf(stream_out, sizeof stream_out, "%s:%.*s",
                 env_or("SG_OUTBOUND_STREAM_PREFIX", "sg:stream:outbound"),
                 (int)in->platform.len, in->platform.ptr);
        const char *argv[] = { "XADD", stream_out, "*", "data",
                               (const char *)data.data, "trace_id",
                               in->trace_id.ptr ? in->trace_id.ptr : "" };
        size_t lens[] = { 4, strlen(stream_out), 1, 4, data.len, 8,
                          in->trace_id.len };
        redisReply *r = redisCommandArgv(rc, 7, argv, lens);
        if (r)
            freeReplyObject(r);
    }
    sg_buf_destroy(&data);
    if (!ack_first)
        ack(rc, stream, group, id);
}

static const char *op_of(sg_out_type t)
{
    switch (t) {
    case SG_OUT_MESSAGE: return "send";
    case SG_OUT_FILE: return "send_file";
    case SG_OUT_BUTTONS: return "send_buttons";
    case SG_OUT_TYPING:
    case SG_OUT_START_TYPING: return "start_typing";
    case SG_OUT_STOP_TYPING: return "stop_typing";
    case SG_OUT_REACTION: return "add_reaction";
    case SG_OUT_PRESENCE: return "set_presence";
    default: return NULL;
    }
}

/* The gateway: send whatever arrives, then ack. No marker, no claim. */
static void handle_outbound(redisContext *rc, const char *id,
                            const sg_envelope *env, const char *consumer,
                            const char *stream, const char *group)
{
    const char *op = op_of(env->u.out.type);
    if (op != NULL) {
        sg_buf js;
        sg_buf_init(&js, NULL);
        sg_error err;
        if (sg_envelope_to_json(env, &js, &err) == 0) {
            size_t cap = js.len + 512;
            char *body = malloc(cap);
            if (body) {
                snprintf(body, cap, "{\"op\":\"%s\",\"platform\":\"http\","
                         "\"consumer\":\"%s\",\"entry_id\":\"%s\","
                         "\"envelope\":%s}", op, consumer, id,
                         (const char *)js.data);
                static sink s;
                post(env_or("SG_HTTP_PLATFORM_WEBHOOK", "http://127.0.0.1:1"),
                     body, &s);
                free(body);
            }
        }
        sg_buf_destroy(&js);
    }
    ack(rc, stream, group, id);
}

int main(int argc, char **argv)
{
    const char *role = "worker", *bug = "none";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--role") == 0)
            role = argv[i + 1];
        else if (strcmp(argv[i], "--bug") == 0)
            bug = argv[i + 1];
    }
    int worker = strcmp(role, "worker") == 0;
    if (!worker && strcmp(role, "gateway") != 0) {
        fprintf(stderr, "sgc-broken-iut: --role worker|gateway\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    redisContext *rc = connect_url(env_or("REDIS_URL",
                                          "redis://127.0.0.1:6379/0"));
    char stream[512], group[512];
    if (worker) {
        snprintf(stream, sizeof stream, "%s",
                 env_or("SG_INBOUND_STREAM", "sg:stream:inbound"));
        snprintf(group, sizeof group, "%s",
                 env_or("SG_WORKER_GROUP", "sg:workers"));
    } else {
        snprintf(stream, sizeof stream, "%s:http",
                 env_or("SG_OUTBOUND_STREAM_PREFIX", "sg:stream:outbound"));
        snprintf(group, sizeof group, "%s:http",
                 env_or("SG_GATEWAY_GROUP_PREFIX", "sg:gateway"));
    }
    const char *me = env_or("SG_INSTANCE_ID", "sgc-broken");
    redisReply *r = redisCommand(rc, "XGROUP CREATE %s %s $ MKSTREAM",
                                 stream, group);
    if (r)
        freeReplyObject(r);
    fprintf(stderr, "sgc-broken-iut: ready (%s, bug %s)\n", role, bug);
    while (!stop) {
        r = redisCommand(rc, "XREADGROUP GROUP %s %s COUNT 10 BLOCK 200 "
                         "STREAMS %s >", group, me, stream);
        if (r == NULL)
            break;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
            const redisReply *entries = r->element[0]->element[1];
            for (size_t i = 0; i < entries->elements && !stop; i++) {
                const redisReply *e = entries->element[i];
                const char *id = e->element[0]->str;
                const redisReply *f = e->element[1];
                sg_entry_field ef[16];
                size_t nf = 0;
                for (size_t k = 0; k + 1 < f->elements && nf < 16; k += 2) {
                    ef[nf].name = (sg_str){ f->element[k]->str,
                                            f->element[k]->len };
                    ef[nf].value = (sg_str){ f->element[k + 1]->str,
                                             f->element[k + 1]->len };
                    nf++;
                }
                sg_entry entry = { ef, nf };
                sg_envelope *env = NULL;
                sg_error err;
                if (sg_envelope_decode(worker ? SG_KIND_INBOUND
                                              : SG_KIND_OUTBOUND,
                                       &entry, NULL, &env, &err) != 0) {
                    ack(rc, stream, group, id);     /* dropped: a bug too */
                    continue;
                }
                if (worker)
                    handle_inbound(rc, id, env,
                                   strcmp(bug, "ack-first") == 0, stream,
                                   group);
                else
                    handle_outbound(rc, id, env, me, stream, group);
                sg_envelope_free(env);
            }
        }
        freeReplyObject(r);
    }
    redisFree(rc);
    curl_global_cleanup();
    return 0;
}
