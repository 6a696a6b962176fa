/*
 * gw_http.c: the `http` platform, the contract a conformance runner or any
 * HTTP service can drive (README.md, "The http platform").
 *
 * Outbound: every adapter call is one POST of a JSON body to
 * SG_HTTP_PLATFORM_WEBHOOK through libcurl's multi interface on the loop
 * (gw_curl.c). A 2xx answer is success, with the `message_id` of its JSON
 * body given to libsg for the write-back (SG-OUT-013); any other status,
 * a connection failure or a timeout fails the job, which libsg leaves
 * pending for a retry and dead-letters as dispatch_failed at the last
 * delivery (SG-OUT-012).
 *
 * Inbound: POST /messages with the inbound envelope's fields as JSON,
 * validated by the codec (gw_http_inbound_parse()), published, answered
 * 202 once the XADD is acknowledged; 400 names the reason and path; 503
 * when Redis is away.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <event2/http.h>

#include "sg/json.h"

#include "gw.h"
#include "gw_curl.h"
#include "gw_http.h"
#include "gw_httpx.h"
#include "gw_text.h"

typedef struct http_platform http_platform;

/* One adapter call in flight. */
typedef struct call {
    struct call *next, *prev;
    http_platform *h;
    sg_job *job;
    gw_op op;
    gw_curl_req *req;
} call;

/* One inbound POST waiting for its XADD. */
typedef struct post {
    struct post *next, *prev;
    http_platform *h;
    struct evhttp_request *req;     /* NULL once the client went away */
    struct evhttp_connection *evcon;
    sg_envelope *env;
} post;

struct http_platform {
    gw_platform base;
    gw_curl *curl;
    struct evhttp *http;
    int port;
    int accepting;
    call *calls;
    post *posts;
    sg_buf body;                    /* a call's body, reused */
    call *spare;                    /* ended calls, for reuse */
    size_t nspare;
};

/* Calls kept for reuse, and the body buffer's capacity kept. */
#define SPARE_CALLS 256
#define KEEP_BODY (64 * 1024)

static call *call_get(http_platform *h)
{
    call *c = h->spare;

    if (c == NULL)
        return calloc(1, sizeof(call));
    h->spare = c->next;
    h->nspare--;
    memset(c, 0, sizeof *c);
    return c;
}

static void call_put(http_platform *h, call *c)
{
    if (h->nspare >= SPARE_CALLS) {
        free(c);
        return;
    }
    c->next = h->spare;
    h->spare = c;
    h->nspare++;
}

/* ---- pure parts --------------------------------------------------------- */

int gw_http_inbound_parse(const char *body, size_t len, double now,
                          const char *gen_id, sg_envelope **out,
                          sg_error *err)
{
    cJSON *root;
    sg_buf t;
    size_t i = 0;
    int rc, empty, added = 0;

    *out = NULL;
    sg_error_clear(err);
    root = cJSON_ParseWithLength(body, len);
    if (root == NULL || !cJSON_IsObject(root)) {
        err->code = SG_EDECODE;
        err->reason = root == NULL ? SG_REASON_INVALID_JSON
                                   : SG_REASON_NOT_MAP;
        snprintf(err->path, sizeof err->path, "data");
        snprintf(err->msg, sizeof err->msg, "%s",
                 root == NULL ? "data: the body is not JSON"
                              : "data: the body is not a JSON object");
        cJSON_Delete(root);
        return SG_EDECODE;
    }
    empty = cJSON_GetArraySize(root) == 0;
    /*
     * The defaults go in as text, ahead of the body's own pairs, so that
     * the body's values reach the bridge exactly as written (cJSON would
     * round big integers of *any* values).
     */
    sg_buf_init(&t, NULL);
    rc = gw_buf_puts(&t, "{");
    if (cJSON_GetObjectItemCaseSensitive(root, "platform") == NULL) {
        rc |= gw_buf_puts(&t, "\"platform\":\"http\"");
        added = 1;
    }
    if (cJSON_GetObjectItemCaseSensitive(root, "timestamp") == NULL) {
        rc |= gw_buf_printf(&t, "%s\"timestamp\":%.6f", added ? "," : "",
                            now);
        added = 1;
    }
    if (cJSON_GetObjectItemCaseSensitive(root, "message_id") == NULL) {
        rc |= gw_buf_puts(&t, added ? "," : "");
        rc |= gw_buf_puts(&t, "\"message_id\":");
        rc |= gw_json_cstr(&t, gen_id);
        added = 1;
    }
    cJSON_Delete(root);
    while (i < len && body[i] != '{')   /* the object's opening brace */
        i++;
    if (added && !empty)
        rc |= gw_buf_puts(&t, ",");
    if (rc != 0 || sg_buf_append(&t, body + i + 1, len - i - 1) != 0) {
        sg_buf_destroy(&t);
        return SG_ENOMEM;
    }
    rc = sg_envelope_from_json(SG_KIND_INBOUND, (const char *)t.data, t.len,
                               NULL, out, err);
    sg_buf_destroy(&t);
    return rc;
}

int gw_http_call_body(sg_buf *out, const char *op, const char *consumer,
                      const char *entry_id, const sg_envelope *env)
{
    size_t before = out->len;
    sg_error e;
    int rc;

    if (gw_buf_puts(out, "{\"op\":") != 0 || gw_json_cstr(out, op) != 0 ||
        gw_buf_puts(out, ",\"platform\":\"http\",\"consumer\":") != 0 ||
        gw_json_cstr(out, consumer) != 0 ||
        gw_buf_puts(out, ",\"entry_id\":") != 0 ||
        gw_json_cstr(out, entry_id) != 0 ||
        gw_buf_puts(out, ",\"envelope\":") != 0) {
        out->len = before;
        return SG_ENOMEM;
    }
    rc = sg_envelope_to_json(env, out, &e);
    if (rc != 0 || gw_buf_puts(out, "}") != 0) {
        out->len = before;
        return rc != 0 ? rc : SG_ENOMEM;
    }
    return 0;
}

/* The same through cJSON: what the fast path must agree with. */
static void message_id_slow(const char *body, size_t len, char *out,
                            size_t cap)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *mid = cJSON_GetObjectItemCaseSensitive(root, "message_id");

    out[0] = '\0';
    if (cJSON_IsString(mid) && strlen(mid->valuestring) < cap)
        snprintf(out, cap, "%s", mid->valuestring);
    else if (cJSON_IsNumber(mid))
        snprintf(out, cap, "%.0f", mid->valuedouble);
    cJSON_Delete(root);
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/*
 * A string without escapes or control characters at p (its opening
 * quote): its text in [*s, *e) and the position after it, or NULL.
 */
static const char *plain_string(const char *p, const char *end,
                                const char **s, const char **e)
{
    const char *q;

    if (p >= end || *p != '"')
        return NULL;
    for (q = p + 1; q < end && *q != '"'; q++)
        if (*q == '\\' || (unsigned char)*q < 0x20)
            return NULL;
    if (q >= end)
        return NULL;
    *s = p + 1;
    *e = q;
    return q + 1;
}

/* A literal or number token (no strings, objects, arrays) at p. */
static const char *plain_scalar(const char *p, const char *end)
{
    const char *q = p;

    while (q < end && *q != ',' && *q != '}' && *q != ' ' && *q != '\t' &&
           *q != '\n' && *q != '\r') {
        if (*q == '"' || *q == '{' || *q == '[' || *q == ']' || *q == ':' ||
            *q == '\0')
            return NULL;
        q++;
    }
    if (q == p)
        return NULL;
    if (!((q - p == 4 && (memcmp(p, "true", 4) == 0 ||
                          memcmp(p, "null", 4) == 0)) ||
          (q - p == 5 && memcmp(p, "false", 5) == 0))) {
        const char *d = p;          /* a JSON number, strictly */

        if (d < q && *d == '-')
            d++;
        if (d < q && *d == '0') {
            d++;
        } else {
            if (d >= q || *d < '1' || *d > '9')
                return NULL;
            while (d < q && *d >= '0' && *d <= '9')
                d++;
        }
        if (d < q && *d == '.') {
            if (++d >= q || *d < '0' || *d > '9')
                return NULL;
            while (d < q && *d >= '0' && *d <= '9')
                d++;
        }
        if (d < q && (*d == 'e' || *d == 'E')) {
            d++;
            if (d < q && (*d == '+' || *d == '-'))
                d++;
            if (d >= q || *d < '0' || *d > '9')
                return NULL;
            while (d < q && *d >= '0' && *d <= '9')
                d++;
        }
        if (d != q)
            return NULL;
    }
    return q;
}

void gw_http_response_message_id(const char *body, size_t len, char *out,
                                 size_t cap)
{
    const char *p = body, *end = body + len, *ks, *ke, *vs, *ve;
    const char *found = NULL, *found_end = NULL;

    out[0] = '\0';
    /*
     * Fast path: {"key": "string" | scalar, ...} with plain strings, then
     * only white space. Any other shape (nesting, escapes, a numeric
     * message_id, trailing text): cJSON decides.
     */
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        goto slow;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}') {
        p++;
        goto done;
    }
    for (;;) {
        p = plain_string(p, end, &ks, &ke);
        if (p == NULL)
            goto slow;
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            goto slow;
        p = skip_ws(p + 1, end);
        if (p < end && *p == '"') {
            p = plain_string(p, end, &vs, &ve);
            if (p == NULL)
                goto slow;
            if (found == NULL && ke - ks == 10 &&
                memcmp(ks, "message_id", 10) == 0) {
                found = vs;
                found_end = ve;
            }
        } else {
            if (ke - ks == 10 && memcmp(ks, "message_id", 10) == 0)
                goto slow;          /* a number, or null: cJSON's call */
            p = plain_scalar(p, end);
            if (p == NULL)
                goto slow;
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',') {
            p = skip_ws(p + 1, end);
            continue;
        }
        if (p < end && *p == '}') {
            p++;
            break;
        }
        goto slow;
    }
done:
    if (skip_ws(p, end) != end)
        goto slow;
    if (found != NULL && (size_t)(found_end - found) < cap) {
        memcpy(out, found, (size_t)(found_end - found));
        out[found_end - found] = '\0';
    }
    return;
slow:
    message_id_slow(body, len, out, cap);
}

/* ---- outbound ----------------------------------------------------------- */

static void call_unlink(call *c)
{
    http_platform *h = c->h;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        h->calls = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
}

/* The sent message goes into the channel record, for history. */
static void record_sent(http_platform *h, sg_job *job, const char *id)
{
    const sg_envelope *env = sg_job_payload(job);
    const sg_outbound *m = &env->u.out;
    gw_rec_in r;

    if (m->type == SG_OUT_REACTION) {
        gw_record_react(h->base.record, m->channel_id.ptr, m->channel_id.len,
                        m->message_id.ptr, m->message_id.len, m->emoji.ptr,
                        m->emoji.len);
        return;
    }
    if (m->type != SG_OUT_MESSAGE && m->type != SG_OUT_FILE &&
        m->type != SG_OUT_BUTTONS)
        return;
    memset(&r, 0, sizeof r);
    r.kind = m->type == SG_OUT_FILE      ? GW_REC_FILE
             : m->type == SG_OUT_BUTTONS ? GW_REC_BUTTONS
                                         : GW_REC_MESSAGE;
    r.is_bot = true;
    r.timestamp = gw_now_s();
    r.user_id = "bot";
    r.user_id_len = 3;
    r.user_name = "bot";
    r.user_name_len = 3;
    r.text = m->text.ptr;
    r.text_len = m->text.len;
    r.message_id = id;
    r.message_id_len = strlen(id);
    if (m->type == SG_OUT_MESSAGE && m->has_reply_to) {
        r.reply_to = m->reply_to.ptr;
        r.reply_to_len = m->reply_to.len;
    }
    gw_record_add(h->base.record, m->channel_id.ptr, m->channel_id.len, &r);
}

static void on_call_done(void *ud, const char *error, long status,
                         const char *body, size_t len)
{
    call *c = ud;
    http_platform *h = c->h;
    char why[192], id[256];

    call_unlink(c);
    id[0] = '\0';
    if (error != NULL) {
        snprintf(why, sizeof why, "http platform: %s", error);
        gw_finish(&h->base, c->job, c->op, NULL, why);
    } else if (status < 200 || status > 299) {
        snprintf(why, sizeof why, "http platform answered %ld", status);
        gw_finish(&h->base, c->job, c->op, NULL, why);
    } else {
        gw_http_response_message_id(body, len, id, sizeof id);
        record_sent(h, c->job, id[0] != '\0' ? id : sg_job_id(c->job));
        gw_finish(&h->base, c->job, c->op, id, NULL);
    }
    call_put(h, c);
}

static void post_call(http_platform *h, sg_job *job, gw_op op)
{
    const gw_config *cfg = gw_cfg(h->base.gw);
    sg_buf *b = &h->body;
    call *c;
    int rc;

    if (sg_job_fenced(job)) {           /* SG-LOCK-004: no late send */
        gw_finish(&h->base, job, op, NULL, "lock lost before the send");
        return;
    }
    /* The body is built in one buffer kept across calls (curl copies). */
    b->len = 0;
    rc = gw_http_call_body(b, gw_op_name(op), cfg->instance_id,
                           sg_job_id(job), sg_job_payload(job));
    c = rc == 0 ? call_get(h) : NULL;
    if (c != NULL) {
        c->h = h;
        c->job = job;
        c->op = op;
        if (gw_curl_request(h->curl, "POST", cfg->http_webhook,
                            (const char *)b->data, b->len,
                            cfg->http_timeout_ms, on_call_done, c,
                            &c->req) != 0) {
            call_put(h, c);
            c = NULL;
            rc = 1;                     /* not an SG_E... code */
        }
    }
    if (b->cap > KEEP_BODY) {           /* a big file: give it back */
        sg_buf_destroy(b);
        sg_buf_init(b, NULL);
    }
    if (c == NULL) {
        char why[320];

        if (rc == 1 && gw_curl_setup_error() != NULL)
            snprintf(why, sizeof why, "cannot start the HTTP request: %s",
                     gw_curl_setup_error());
        else
            snprintf(why, sizeof why, "%s",
                     rc == SG_EINVALID ? "the envelope cannot be written as "
                                         "JSON"
                     : rc == 1         ? "cannot start the HTTP request"
                                       : "out of memory");
        gw_finish(&h->base, job, op, NULL, why);
        return;
    }
    c->next = h->calls;
    if (h->calls != NULL)
        h->calls->prev = c;
    h->calls = c;
}

#define OP(fn, op)                                                          \
    static void fn(void *ud, sg_job *job, const sg_outbound *m)             \
    {                                                                       \
        (void)m;                                                            \
        post_call(ud, job, op);                                             \
    }
OP(op_send, GW_OP_SEND)
OP(op_send_file, GW_OP_SEND_FILE)
OP(op_send_buttons, GW_OP_SEND_BUTTONS)
OP(op_start_typing, GW_OP_START_TYPING)
OP(op_stop_typing, GW_OP_STOP_TYPING)
OP(op_add_reaction, GW_OP_ADD_REACTION)
OP(op_set_presence, GW_OP_SET_PRESENCE)
#undef OP

static const sg_platform_adapter http_adapter = {
    op_send, op_send_file, op_send_buttons, op_start_typing,
    op_stop_typing, op_add_reaction, op_set_presence,
};

/* ---- inbound ------------------------------------------------------------ */

static void post_free(post *q)
{
    http_platform *h = q->h;

    if (q->req != NULL)
        evhttp_connection_set_closecb(q->evcon, NULL, NULL);
    if (q->prev != NULL)
        q->prev->next = q->next;
    else
        h->posts = q->next;
    if (q->next != NULL)
        q->next->prev = q->prev;
    sg_envelope_free(q->env);
    free(q);
}

/*
 * The client went away before the XADD was acknowledged. libevent leaves
 * a request the user has not answered detached from the failing
 * connection, for us to free.
 */
static void on_post_close(struct evhttp_connection *evcon, void *ud)
{
    post *q = ud;

    (void)evcon;
    if (evhttp_request_get_connection(q->req) == NULL)
        evhttp_request_free(q->req);
    q->req = NULL;
}

static void on_published(int status, const char *entry_id, void *ud)
{
    post *q = ud;
    const sg_inbound *in = &q->env->u.in;
    sg_buf b;

    if (q->req != NULL) {
        if (status != 0) {
            gw_http_reply_error(q->req, 503, "redis is unavailable", NULL,
                                NULL);
        } else {
            sg_buf_init(&b, NULL);
            gw_buf_puts(&b, "{\"entry_id\":");
            gw_json_cstr(&b, entry_id);
            gw_buf_puts(&b, ",\"message_id\":");
            gw_json_str(&b, in->message_id.ptr, in->message_id.len);
            gw_buf_puts(&b, "}");
            gw_http_reply(q->req, 202, "application/json",
                          (const char *)b.data, b.len);
            sg_buf_destroy(&b);
        }
    }
    post_free(q);
}

static void serve_messages(http_platform *h, struct evhttp_request *req)
{
    char *body = NULL, id[48];
    size_t len;
    sg_error err;
    post *q;
    int rc;

    if (!h->accepting) {
        gw_http_reply_error(req, 503, "the gateway is not ready", NULL, NULL);
        return;
    }
    q = calloc(1, sizeof *q);
    if (q == NULL || gw_http_body(req, &body, &len) != 0) {
        free(q);
        gw_http_reply_error(req, 503, "out of memory", NULL, NULL);
        return;
    }
    gw_make_id(id, sizeof id, "http");
    rc = gw_http_inbound_parse(body, len, gw_now_s(), id, &q->env, &err);
    free(body);
    if (rc == 0)
        rc = gw_publish_inbound(&h->base, q->env, on_published, q, &err);
    if (rc != 0) {
        if (rc == SG_EDECODE || rc == SG_EINVALID) {
            h->base.stats.inbound_rejected += rc == SG_EDECODE;
            gw_http_reply_sg_error(req, &err);
        } else {
            gw_http_reply_error(req, 503, rc == SG_ENOMEM
                                              ? "out of memory"
                                              : "redis is unavailable",
                                NULL, NULL);
        }
        sg_envelope_free(q->env);
        free(q);
        return;
    }
    q->h = h;
    q->req = req;
    q->evcon = evhttp_request_get_connection(req);
    q->next = h->posts;
    if (h->posts != NULL)
        h->posts->prev = q;
    h->posts = q;
    evhttp_connection_set_closecb(q->evcon, on_post_close, q);
}

static void on_request(struct evhttp_request *req, void *ud)
{
    http_platform *h = ud;
    char path[256];

    if (gw_serve_ops(h->base.gw, req))
        return;
    gw_http_path(req, path, sizeof path);
    if (strcmp(path, "/messages") != 0)
        gw_http_reply_error(req, 404, "not found", NULL, NULL);
    else if (evhttp_request_get_command(req) != EVHTTP_REQ_POST)
        gw_http_reply_error(req, 405, "use POST", NULL, NULL);
    else
        serve_messages(h, req);
}

/* ---- the platform ------------------------------------------------------- */

static int hp_open(gw_platform *p, char *err, size_t cap)
{
    http_platform *h = (http_platform *)p;

    h->curl = gw_curl_new(gw_base(p->gw));
    if (h->curl == NULL) {
        snprintf(err, cap, "cannot set up libcurl");
        return -1;
    }
    /*
     * One call per channel at a time (the outbound lock), at most
     * SG_MAX_IN_FLIGHT at once: a connection kept for each, so calls
     * reuse them instead of opening one each.
     */
    gw_curl_set_max_connections(h->curl,
                                gw_cfg(p->gw)->knobs.max_in_flight);
    return gw_http_listen(gw_base(p->gw), &gw_cfg(p->gw)->http, on_request,
                          h, &h->http, &h->port, err, cap);
}

static void hp_ready(gw_platform *p)
{
    http_platform *h = (http_platform *)p;
    char line[GW_HOST_MAX + 96];

    h->accepting = 1;
    snprintf(line, sizeof line, "%s: http platform at http://%s:%d/",
             gw_prog(p->gw), gw_banner_host(&gw_cfg(p->gw)->http), h->port);
    gw_line(p->gw, line);
}

static void hp_close(gw_platform *p)
{
    ((http_platform *)p)->accepting = 0;
}

static void hp_free(gw_platform *p)
{
    http_platform *h = (http_platform *)p;

    /* Calls still in flight: their jobs were detached; end them. */
    while (h->calls != NULL) {
        call *c = h->calls;

        call_unlink(c);
        gw_curl_cancel(c->req);
        sg_job_finish(c->job, SG_JOB_FAILED("gateway stopped"));
        free(c);
    }
    while (h->spare != NULL) {
        call *c = h->spare;

        h->spare = c->next;
        free(c);
    }
    sg_buf_destroy(&h->body);
    while (h->posts != NULL)
        post_free(h->posts);
    if (h->http != NULL)
        evhttp_free(h->http);
    gw_curl_free(h->curl);
    free(h);
}

static void hp_metrics(gw_platform *p, sg_buf *b)
{
    http_platform *h = (http_platform *)p;

    gw_buf_printf(b, "# HELP sg_gateway_http_calls_in_flight Adapter calls "
                  "waiting for the webhook.\n# TYPE "
                  "sg_gateway_http_calls_in_flight gauge\n"
                  "sg_gateway_http_calls_in_flight{platform=\"http\"} %zu\n",
                  h->curl != NULL ? gw_curl_pending(h->curl) : (size_t)0);
    gw_buf_printf(b, "# HELP sg_gateway_http_calls_total Webhook calls "
                  "started.\n# TYPE sg_gateway_http_calls_total counter\n"
                  "sg_gateway_http_calls_total{platform=\"http\"} %llu\n",
                  (unsigned long long)(h->curl != NULL
                                           ? gw_curl_requests(h->curl) : 0));
    gw_buf_printf(b, "# HELP sg_gateway_http_connections_total Connections "
                  "opened to the webhook (the other calls reused one).\n"
                  "# TYPE sg_gateway_http_connections_total counter\n"
                  "sg_gateway_http_connections_total{platform=\"http\"} "
                  "%llu\n",
                  (unsigned long long)(h->curl != NULL
                                           ? gw_curl_connections(h->curl)
                                           : 0));
}

static int hp_port(gw_platform *p)
{
    return ((http_platform *)p)->port;
}

static const gw_platform_vt http_vt = {
    "http", &http_adapter, hp_open, hp_ready, hp_close, hp_free, hp_metrics,
    hp_port,
};

int gw_http_new(gw *g, gw_platform **out)
{
    http_platform *h = calloc(1, sizeof *h);

    (void)g;
    if (h == NULL)
        return -1;
    h->base.vt = &http_vt;
    sg_buf_init(&h->body, NULL);
    *out = &h->base;
    return 0;
}
