/*
 * gw_webchat.c: the `webchat` platform: an evhttp server with the chat
 * page, POST /api/messages (inbound) and GET /api/events (Server-Sent
 * Events carrying the outbound side to the browser).
 *
 * Outbound operations never wait for a browser: a send is recorded in the
 * channel record, framed once and written to every event stream of its
 * channel, and the job succeeds at once with a fresh message ID (so the
 * write-back of SG-OUT-013 works here too). A browser that connects later
 * gets the channel's recent messages replayed, after the Last-Event-ID it
 * names when it reconnects.
 *
 * Bounds: at most MAX_CLIENTS event streams (more get 503), and a stream
 * whose unsent output exceeds MAX_QUEUE bytes (a browser that stopped
 * reading) is closed; the browser reconnects and is replayed from its
 * Last-Event-ID. A comment line every PING_S seconds finds dead streams.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "sg/json.h"

#include "gw.h"
#include "gw_httpx.h"
#include "gw_text.h"
#include "gw_webchat.h"

#define MAX_CLIENTS 64
#define MAX_QUEUE (256 * 1024)
#define PING_S 15

extern const char gw_page_html[];
extern const size_t gw_page_html_len;

typedef struct webchat webchat;

typedef struct client {
    struct client *next, *prev;
    webchat *w;
    struct evhttp_request *req;
    struct evhttp_connection *evcon;
    char *channel;
    size_t channel_len;
} client;

/* A POST waiting for its XADD. */
typedef struct post {
    struct post *next, *prev;
    webchat *w;
    struct evhttp_request *req;   /* NULL once the browser went away */
    struct evhttp_connection *evcon;
    char message_id[48];
} post;

struct webchat {
    gw_platform base;
    struct evhttp *http;
    int port;
    int accepting;
    client *clients;
    size_t nclients;
    post *posts;
    struct event *ping;
    char presence[256];
    uint64_t sse_dropped;
    uint64_t sse_events;
};

/* ---- event streams ------------------------------------------------------ */

static void client_free(client *c, int close_conn)
{
    webchat *w = c->w;

    evhttp_connection_set_closecb(c->evcon, NULL, NULL);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        w->clients = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    w->nclients--;
    if (close_conn)
        evhttp_connection_free(c->evcon);   /* frees c->req too */
    free(c->channel);
    free(c);
}

/*
 * The browser went away. libevent detaches a request the user has not
 * finished from its failing connection and leaves it to us: ending the
 * reply frees it then.
 */
static void on_client_close(struct evhttp_connection *evcon, void *ud)
{
    client *c = ud;

    (void)evcon;
    if (evhttp_request_get_connection(c->req) == NULL)
        evhttp_send_reply_end(c->req);
    client_free(c, 0);
}

/* Writes a frame to c; closes a stream whose backlog is over the bound. */
static void client_write(client *c, const void *frame, size_t len)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
    struct evbuffer *b;

    if (bev != NULL &&
        evbuffer_get_length(bufferevent_get_output(bev)) + len > MAX_QUEUE) {
        sg_logf(gw_log(c->w->base.gw), SG_LOG_WARN, "webchat: event stream "
                "of channel %s is %d bytes behind; closed", c->channel,
                MAX_QUEUE);
        c->w->sse_dropped++;
        client_free(c, 1);
        return;
    }
    b = evbuffer_new();
    if (b == NULL)
        return;
    evbuffer_add(b, frame, len);
    evhttp_send_reply_chunk(c->req, b);
    evbuffer_free(b);
}

/* Sends one event to every stream of a channel. */
static void broadcast(webchat *w, const char *channel, size_t chlen,
                      const char *event, uint64_t id, const sg_buf *data)
{
    client *c, *next;
    sg_buf f;

    sg_buf_init(&f, NULL);
    if (gw_sse_frame(&f, event, id, (const char *)data->data,
                     data->len) != 0) {
        sg_buf_destroy(&f);
        return;
    }
    w->sse_events++;
    for (c = w->clients; c != NULL; c = next) {
        next = c->next;
        if (c->channel_len == chlen && memcmp(c->channel, channel, chlen) == 0)
            client_write(c, f.data, f.len);
    }
    sg_buf_destroy(&f);
}

/* The event name and data of a recorded message. */
static const char *rec_event(const gw_rec_msg *m, sg_buf *d)
{
    if (!m->is_bot) {
        gw_buf_puts(d, "{\"text\":");
        gw_json_cstr(d, m->text);
        gw_buf_puts(d, ",\"message_id\":");
        gw_json_cstr(d, m->message_id);
        gw_buf_puts(d, ",\"username\":");
        gw_json_cstr(d, m->user_name);
        gw_buf_puts(d, "}");
        return "user";
    }
    switch (m->kind) {
    case GW_REC_FILE: {
        size_t n = strlen(m->extra);

        /* extra is {"filename":..,"mimetype":..,"size":..}: extend it. */
        sg_buf_append(d, m->extra, n > 0 ? n - 1 : 0);
        gw_buf_puts(d, ",\"text\":");
        gw_json_cstr(d, m->text);
        gw_buf_puts(d, ",\"message_id\":");
        gw_json_cstr(d, m->message_id);
        gw_buf_puts(d, "}");
        return "file";
    }
    case GW_REC_BUTTONS:
        gw_buf_puts(d, "{\"text\":");
        gw_json_cstr(d, m->text);
        gw_buf_puts(d, ",\"buttons\":");
        gw_buf_puts(d, m->extra[0] != '\0' ? m->extra : "[]");
        gw_buf_puts(d, ",\"message_id\":");
        gw_json_cstr(d, m->message_id);
        gw_buf_puts(d, "}");
        return "buttons";
    default:
        gw_buf_puts(d, "{\"text\":");
        gw_json_cstr(d, m->text);
        gw_buf_puts(d, ",\"message_id\":");
        gw_json_cstr(d, m->message_id);
        gw_buf_puts(d, ",\"reply_to\":");
        gw_json_cstr(d, m->reply_to[0] != '\0' ? m->reply_to : NULL);
        gw_buf_puts(d, "}");
        return "message";
    }
}

static void reaction_data(sg_buf *d, const char *message_id, size_t idlen,
                          const char *emoji, size_t elen)
{
    gw_buf_puts(d, "{\"message_id\":");
    gw_json_str(d, message_id, idlen);
    gw_buf_puts(d, ",\"emoji\":");
    gw_json_str(d, emoji, elen);
    gw_buf_puts(d, "}");
}

/*
 * Replays the channel's record after seq `after` to a new stream: the
 * newest messages whose frames fit in half the stream's backlog bound, so
 * that a long history never gets a new stream closed at once.
 */
static void replay(client *c, uint64_t after)
{
    const gw_rec_msg *list[100];
    size_t n, i, first, total = 0;
    size_t sizes[100];
    int j;
    sg_buf d, f;

    n = gw_record_list(c->w->base.record, c->channel, c->channel_len, after,
                       list, 100);
    sg_buf_init(&d, NULL);
    sg_buf_init(&f, NULL);
    for (i = 0; i < n; i++) {
        const char *ev;
        size_t before = f.len;

        sg_buf_reset(&d);
        ev = rec_event(list[i], &d);
        gw_sse_frame(&f, ev, list[i]->seq, (const char *)d.data, d.len);
        for (j = 0; j < list[i]->nreactions; j++) {
            sg_buf_reset(&d);
            reaction_data(&d, list[i]->message_id,
                          strlen(list[i]->message_id), list[i]->reactions[j],
                          strlen(list[i]->reactions[j]));
            gw_sse_frame(&f, "reaction", 0, (const char *)d.data, d.len);
        }
        sizes[i] = f.len - before;
    }
    /* Frames of messages first..n-1 are the last bytes of f. */
    for (first = n; first > 0 && total + sizes[first - 1] <= MAX_QUEUE / 2;
         first--)
        total += sizes[first - 1];
    if (total > 0)
        client_write(c, f.data + (f.len - total), total);
    sg_buf_destroy(&d);
    sg_buf_destroy(&f);
}

static int query_param(struct evhttp_request *req, const char *name,
                       char *out, size_t cap)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *q = u != NULL ? evhttp_uri_get_query(u) : NULL;
    struct evkeyvalq params;
    const char *v;
    int rc = -1;

    if (q == NULL)
        return -1;
    memset(&params, 0, sizeof params);
    if (evhttp_parse_query_str(q, &params) != 0)
        return -1;
    v = evhttp_find_header(&params, name);
    if (v != NULL && v[0] != '\0' && strlen(v) < cap) {
        memcpy(out, v, strlen(v) + 1);
        rc = 0;
    }
    evhttp_clear_headers(&params);
    return rc;
}

static void serve_events(webchat *w, struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    const char *last;
    char channel[4097];
    uint64_t after = 0;
    client *c;

    if (query_param(req, "channel_id", channel, sizeof channel) != 0) {
        gw_http_reply_error(req, 400, "channel_id is required (query "
                            "parameter, 1 to 4096 bytes)", "missing_field",
                            "channel_id");
        return;
    }
    if (w->nclients >= MAX_CLIENTS) {
        gw_http_reply_error(req, 503, "too many event streams", NULL, NULL);
        return;
    }
    c = calloc(1, sizeof *c);
    if (c == NULL || (c->channel = malloc(strlen(channel) + 1)) == NULL) {
        free(c);
        gw_http_reply_error(req, 503, "out of memory", NULL, NULL);
        return;
    }
    c->channel_len = strlen(channel);
    memcpy(c->channel, channel, c->channel_len + 1);
    c->w = w;
    c->req = req;
    c->evcon = evhttp_request_get_connection(req);
    last = evhttp_find_header(evhttp_request_get_input_headers(req),
                              "Last-Event-ID");
    if (last != NULL) {
        char *stop;
        unsigned long long v;

        errno = 0;
        v = strtoull(last, &stop, 10);
        if (errno == 0 && *stop == '\0' && last[0] >= '0' && last[0] <= '9')
            after = v;
    }
    c->next = w->clients;
    if (w->clients != NULL)
        w->clients->prev = c;
    w->clients = c;
    w->nclients++;
    evhttp_connection_set_closecb(c->evcon, on_client_close, c);
    evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evhttp_add_header(h, "X-Accel-Buffering", "no");
    evhttp_send_reply_start(req, 200, "OK");
    client_write(c, "retry: 2000\n\n", 13);
    replay(c, after);
}

static void on_ping(evutil_socket_t fd, short what, void *ud)
{
    webchat *w = ud;
    client *c, *next;

    (void)fd;
    (void)what;
    for (c = w->clients; c != NULL; c = next) {
        next = c->next;
        client_write(c, ": ping\n\n", 8);
    }
}

/* ---- inbound: POST /api/messages ---------------------------------------- */

static void post_free(post *q)
{
    webchat *w = q->w;

    if (q->req != NULL)
        evhttp_connection_set_closecb(q->evcon, NULL, NULL);
    if (q->prev != NULL)
        q->prev->next = q->next;
    else
        w->posts = q->next;
    if (q->next != NULL)
        q->next->prev = q->prev;
    free(q);
}

static void on_post_close(struct evhttp_connection *evcon, void *ud)
{
    post *q = ud;

    (void)evcon;
    /* A detached request is ours to free (see on_client_close()). */
    if (evhttp_request_get_connection(q->req) == NULL)
        evhttp_request_free(q->req);
    q->req = NULL;
}

static void on_post_published(int status, const char *entry_id, void *ud)
{
    post *q = ud;
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
            gw_json_cstr(&b, q->message_id);
            gw_buf_puts(&b, "}");
            gw_http_reply(q->req, 202, "application/json",
                          (const char *)b.data, b.len);
            sg_buf_destroy(&b);
        }
        evhttp_connection_set_closecb(q->evcon, NULL, NULL);
        q->req = NULL;
    }
    post_free(q);
}

/* A string member: 1 found, 0 absent or null, -1 wrong type. */
static int member(const cJSON *o, const char *name, const char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

    *out = NULL;
    if (v == NULL || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsString(v))
        return -1;
    *out = v->valuestring;
    return 1;
}

/* A rejected body: SG_EDECODE with the reason, path and message. */
static int post_error(sg_error *err, int reason, const char *path,
                      const char *msg)
{
    err->code = SG_EDECODE;
    err->reason = reason;
    snprintf(err->path, sizeof err->path, "%s", path);
    snprintf(err->msg, sizeof err->msg, "%s", msg);
    return SG_EDECODE;
}

int gw_webchat_post_parse(const char *body, size_t len, double now,
                          const char *message_id, cJSON **root,
                          sg_envelope *env, sg_error *err)
{
    const char *channel, *username, *content, *bad = NULL;
    char path[32], msg[96];
    int rc;

    sg_error_clear(err);
    sg_envelope_init(env, SG_KIND_INBOUND);
    *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(*root)) {
        rc = *root == NULL;
        cJSON_Delete(*root);
        *root = NULL;
        return post_error(err, rc ? SG_REASON_INVALID_JSON
                                  : SG_REASON_NOT_MAP, "data",
                          rc ? "body is not JSON" : "body is not an object");
    }
    if ((rc = member(*root, "channel_id", &channel)) <= 0 ||
        channel[0] == '\0')
        bad = rc < 0 ? "channel_id must be a string"
                     : "channel_id is required";
    if (bad != NULL) {
        cJSON_Delete(*root);
        *root = NULL;
        return post_error(err, rc < 0 ? SG_REASON_WRONG_TYPE
                                      : SG_REASON_MISSING_FIELD,
                          "data.channel_id", bad);
    }
    if (member(*root, "username", &username) < 0)
        bad = "username";
    else if (member(*root, "content", &content) < 0)
        bad = "content";
    if (bad != NULL) {
        cJSON_Delete(*root);
        *root = NULL;
        snprintf(path, sizeof path, "data.%s", bad);
        snprintf(msg, sizeof msg, "%s must be a string", bad);
        return post_error(err, SG_REASON_WRONG_TYPE, path, msg);
    }
    env->u.in.platform = SG_STR("webchat");
    env->u.in.channel_id.ptr = channel;
    env->u.in.channel_id.len = strlen(channel);
    /* One browser session is one user talking to the bot directly. */
    env->u.in.user_id = env->u.in.channel_id;
    env->u.in.username.ptr = username != NULL ? username : "web user";
    env->u.in.username.len = strlen(env->u.in.username.ptr);
    env->u.in.content.ptr = content != NULL ? content : "";
    env->u.in.content.len = strlen(env->u.in.content.ptr);
    env->u.in.room_name = SG_STR("webchat");
    env->u.in.is_dm = true;
    env->u.in.timestamp = now;
    env->u.in.message_id.ptr = message_id;
    env->u.in.message_id.len = strlen(message_id);
    return 0;
}

static void serve_post(webchat *w, struct evhttp_request *req)
{
    char *body = NULL;
    size_t len;
    cJSON *root = NULL;
    sg_envelope env;
    sg_error err;
    post *q = NULL;
    int rc;

    if (!w->accepting) {
        gw_http_reply_error(req, 503, "the gateway is not ready", NULL, NULL);
        return;
    }
    if (gw_http_body(req, &body, &len) != 0 ||
        (q = calloc(1, sizeof *q)) == NULL) {
        gw_http_reply_error(req, 503, "out of memory", NULL, NULL);
        goto out;
    }
    gw_make_id(q->message_id, sizeof q->message_id, "wcu");
    if (gw_webchat_post_parse(body, len, gw_now_s(), q->message_id, &root,
                              &env, &err) != 0) {
        gw_http_reply_sg_error(req, &err);
        free(q);
        goto out;
    }
    q->w = w;
    q->req = req;
    q->evcon = evhttp_request_get_connection(req);
    rc = gw_publish_inbound(&w->base, &env, on_post_published, q, &err);
    if (rc != 0) {
        if (rc == SG_EINVALID || rc == SG_EDECODE)
            gw_http_reply_sg_error(req, &err);
        else
            gw_http_reply_error(req, 503, "redis is unavailable", NULL,
                                NULL);
        free(q);
        goto out;
    }
    q->next = w->posts;
    if (w->posts != NULL)
        w->posts->prev = q;
    w->posts = q;
    evhttp_connection_set_closecb(q->evcon, on_post_close, q);
out:
    cJSON_Delete(root);
    free(body);
}

static void on_request(struct evhttp_request *req, void *ud)
{
    webchat *w = ud;
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    char path[256];

    gw_http_path(req, path, sizeof path);
    if (gw_serve_ops(w->base.gw, req))
        return;
    if ((cmd == EVHTTP_REQ_GET || cmd == EVHTTP_REQ_HEAD) &&
        (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)) {
        gw_http_reply(req, 200, "text/html; charset=utf-8", gw_page_html,
                      gw_page_html_len);
    } else if (strcmp(path, "/api/messages") == 0) {
        if (cmd == EVHTTP_REQ_POST)
            serve_post(w, req);
        else
            gw_http_reply_error(req, 405, "use POST", NULL, NULL);
    } else if (strcmp(path, "/api/events") == 0 && cmd == EVHTTP_REQ_GET) {
        serve_events(w, req);
    } else {
        gw_http_reply_error(req, 404, "not found", NULL, NULL);
    }
}

/* ---- outbound: the adapter ---------------------------------------------- */

static const gw_rec_msg *record_bot(webchat *w, const sg_outbound *m,
                                    gw_rec_kind kind, const char *extra,
                                    char *id, size_t idcap)
{
    gw_rec_in r;

    gw_make_id(id, idcap, "wc");
    memset(&r, 0, sizeof r);
    r.kind = kind;
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
    if (kind == GW_REC_MESSAGE && m->has_reply_to) {
        r.reply_to = m->reply_to.ptr;
        r.reply_to_len = m->reply_to.len;
    }
    r.extra = extra;
    return gw_record_add(w->base.record, m->channel_id.ptr, m->channel_id.len,
                         &r);
}

static void deliver(webchat *w, sg_job *job, const sg_outbound *m, gw_op op,
                    gw_rec_kind kind, const char *extra)
{
    const gw_rec_msg *r;
    char id[48];
    sg_buf d;
    const char *ev;

    r = record_bot(w, m, kind, extra, id, sizeof id);
    if (r == NULL) {
        gw_finish(&w->base, job, op, NULL, "out of memory");
        return;
    }
    sg_buf_init(&d, NULL);
    ev = rec_event(r, &d);
    broadcast(w, m->channel_id.ptr, m->channel_id.len, ev, r->seq, &d);
    sg_buf_destroy(&d);
    gw_finish(&w->base, job, op, id, NULL);
}

static void op_send(void *ud, sg_job *job, const sg_outbound *m)
{
    deliver(ud, job, m, GW_OP_SEND, GW_REC_MESSAGE, NULL);
}

static void op_send_file(void *ud, sg_job *job, const sg_outbound *m)
{
    sg_buf x;

    sg_buf_init(&x, NULL);
    gw_buf_puts(&x, "{\"filename\":");
    gw_json_str(&x, m->filename.ptr, m->filename.len);
    gw_buf_puts(&x, ",\"mimetype\":");
    gw_json_str(&x, m->mimetype.ptr, m->mimetype.len);
    gw_buf_printf(&x, ",\"size\":%zu}", m->file_data.len);
    if (gw_buf_nul(&x) != 0)
        gw_finish(ud, job, GW_OP_SEND_FILE, NULL, "out of memory");
    else
        deliver(ud, job, m, GW_OP_SEND_FILE, GW_REC_FILE,
                (const char *)x.data);
    sg_buf_destroy(&x);
}

static void op_send_buttons(void *ud, sg_job *job, const sg_outbound *m)
{
    const sg_envelope *env = sg_job_payload(job);
    cJSON *root = NULL;
    char *buttons = NULL;
    sg_buf j;
    sg_error e;

    /* The buttons array as JSON, through the bridge. */
    sg_buf_init(&j, NULL);
    if (sg_envelope_to_json(env, &j, &e) == 0)
        root = cJSON_ParseWithLength((const char *)j.data, j.len);
    sg_buf_destroy(&j);
    if (root != NULL)
        buttons = cJSON_PrintUnformatted(
            cJSON_GetObjectItemCaseSensitive(root, "buttons"));
    cJSON_Delete(root);
    deliver(ud, job, m, GW_OP_SEND_BUTTONS, GW_REC_BUTTONS,
            buttons != NULL ? buttons : "[]");
    cJSON_free(buttons);
}

static void typing(webchat *w, sg_job *job, const sg_outbound *m, gw_op op)
{
    sg_buf d;

    sg_buf_init(&d, NULL);
    gw_buf_puts(&d, op == GW_OP_START_TYPING ? "{\"state\":\"start\"}"
                                             : "{\"state\":\"stop\"}");
    broadcast(w, m->channel_id.ptr, m->channel_id.len, "typing", 0, &d);
    sg_buf_destroy(&d);
    gw_finish(&w->base, job, op, NULL, NULL);
}

static void op_start_typing(void *ud, sg_job *job, const sg_outbound *m)
{
    typing(ud, job, m, GW_OP_START_TYPING);
}

static void op_stop_typing(void *ud, sg_job *job, const sg_outbound *m)
{
    typing(ud, job, m, GW_OP_STOP_TYPING);
}

static void op_add_reaction(void *ud, sg_job *job, const sg_outbound *m)
{
    webchat *w = ud;
    sg_buf d;

    gw_record_react(w->base.record, m->channel_id.ptr, m->channel_id.len,
                    m->message_id.ptr, m->message_id.len, m->emoji.ptr,
                    m->emoji.len);
    sg_buf_init(&d, NULL);
    reaction_data(&d, m->message_id.ptr, m->message_id.len, m->emoji.ptr,
                  m->emoji.len);
    broadcast(w, m->channel_id.ptr, m->channel_id.len, "reaction", 0, &d);
    sg_buf_destroy(&d);
    gw_finish(&w->base, job, GW_OP_ADD_REACTION, NULL, NULL);
}

static void op_set_presence(void *ud, sg_job *job, const sg_outbound *m)
{
    webchat *w = ud;
    client *c, *next;
    sg_buf d, f;

    snprintf(w->presence, sizeof w->presence, "%.*s",
             (int)gw_utf8_cut(m->text.ptr, m->text.len, sizeof w->presence - 1),
             m->text.ptr != NULL ? m->text.ptr : "");
    sg_buf_init(&d, NULL);
    sg_buf_init(&f, NULL);
    gw_buf_puts(&d, "{\"text\":");
    gw_json_str(&d, m->text.ptr, m->text.len);
    gw_buf_puts(&d, ",\"emoji\":");
    if (m->has_emoji)
        gw_json_str(&d, m->emoji.ptr, m->emoji.len);
    else
        gw_buf_puts(&d, "null");
    gw_buf_puts(&d, "}");
    /* Presence has no channel: every stream hears it. */
    if (gw_sse_frame(&f, "presence", 0, (const char *)d.data, d.len) == 0)
        for (c = w->clients; c != NULL; c = next) {
            next = c->next;
            client_write(c, f.data, f.len);
        }
    sg_buf_destroy(&d);
    sg_buf_destroy(&f);
    gw_finish(&w->base, job, GW_OP_SET_PRESENCE, NULL, NULL);
}

static const sg_platform_adapter webchat_adapter = {
    op_send, op_send_file, op_send_buttons, op_start_typing,
    op_stop_typing, op_add_reaction, op_set_presence,
};

/* ---- the platform ------------------------------------------------------- */

static int wc_open(gw_platform *p, char *err, size_t cap)
{
    webchat *w = (webchat *)p;
    struct timeval tv = { PING_S, 0 };

    if (gw_http_listen(gw_base(p->gw), &gw_cfg(p->gw)->webchat, on_request,
                       w, &w->http, &w->port, err, cap) != 0)
        return -1;
    w->ping = event_new(gw_base(p->gw), -1, EV_PERSIST, on_ping, w);
    if (w->ping == NULL || event_add(w->ping, &tv) != 0) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    return 0;
}

static void wc_ready(gw_platform *p)
{
    webchat *w = (webchat *)p;
    char line[GW_HOST_MAX + 96];

    w->accepting = 1;
    snprintf(line, sizeof line, "%s: webchat at http://%s:%d/",
             gw_prog(p->gw), gw_banner_host(&gw_cfg(p->gw)->webchat),
             w->port);
    gw_line(p->gw, line);
}

static void wc_close(gw_platform *p)
{
    webchat *w = (webchat *)p;

    w->accepting = 0;
    /* End the event streams; the browsers reconnect elsewhere. */
    while (w->clients != NULL)
        client_free(w->clients, 1);
    if (w->ping != NULL)
        event_del(w->ping);
}

static void wc_free(gw_platform *p)
{
    webchat *w = (webchat *)p;

    while (w->clients != NULL)
        client_free(w->clients, 1);
    while (w->posts != NULL)
        post_free(w->posts);
    if (w->http != NULL)
        evhttp_free(w->http);
    if (w->ping != NULL)
        event_free(w->ping);
    free(w);
}

static void wc_metrics(gw_platform *p, sg_buf *b)
{
    webchat *w = (webchat *)p;

    gw_buf_printf(b, "# HELP sg_gateway_sse_clients Open web chat event "
                  "streams.\n# TYPE sg_gateway_sse_clients gauge\n"
                  "sg_gateway_sse_clients{platform=\"webchat\"} %zu\n",
                  w->nclients);
    gw_buf_printf(b, "# HELP sg_gateway_sse_events_total Events framed for "
                  "web chat streams.\n# TYPE sg_gateway_sse_events_total "
                  "counter\nsg_gateway_sse_events_total{platform=\"webchat\"}"
                  " %llu\n", (unsigned long long)w->sse_events);
    gw_buf_printf(b, "# HELP sg_gateway_sse_dropped_total Event streams "
                  "closed for falling behind.\n# TYPE "
                  "sg_gateway_sse_dropped_total counter\n"
                  "sg_gateway_sse_dropped_total{platform=\"webchat\"} %llu\n",
                  (unsigned long long)w->sse_dropped);
}

static int wc_port(gw_platform *p)
{
    return ((webchat *)p)->port;
}

static const gw_platform_vt webchat_vt = {
    "webchat", &webchat_adapter, wc_open, wc_ready, wc_close, wc_free,
    wc_metrics, wc_port,
};

int gw_webchat_new(gw *g, gw_platform **out)
{
    webchat *w = calloc(1, sizeof *w);

    (void)g;
    if (w == NULL)
        return -1;
    w->base.vt = &webchat_vt;
    *out = &w->base;
    return 0;
}
