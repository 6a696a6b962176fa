/*
 * The HTTP plumbing shared by the mocks: listener, signals, journal,
 * held requests. See mock_server.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "mock_server.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/bufferevent.h>
#include <event2/util.h>

typedef enum held_kind {
    HELD_HUNG,
    HELD_DELAYED,
    HELD_WAITING,
} held_kind;

/* A request not answered in its callback. Exactly one per connection at a
 * time (evhttp reads the next request of a connection only after the
 * answer), so the connection's close callback can point at it. */
struct mock_held {
    mock_held *prev;
    mock_held *next;
    mock_server *s;
    struct evhttp_request *req;
    struct event *timer;
    struct event *watch;
    held_kind kind;
    /* HELD_HUNG, HELD_DELAYED: the prepared answer. */
    int status;
    char *body;
    bool retry_after_zero;
    uint64_t seq;
    /* HELD_WAITING: the list query. */
    uint64_t since;
    size_t limit;
    char *op;
    char *channel_id;
};

/* ---- small helpers ---------------------------------------------------- */

int64_t mock_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int mock_parse_long(const char *text, long min, long max, long *out)
{
    char *end;
    long v;

    if (text == NULL || *text == '\0') {
        return -1;
    }
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max) {
        return -1;
    }
    *out = v;
    return 0;
}

int mock_parse_listen(const char *text, char *host, size_t hostlen,
                      unsigned *port)
{
    const char *colon = strrchr(text, ':');
    const char *h = text;
    size_t n;
    long p;

    if (colon == NULL) {
        return -1;
    }
    n = (size_t)(colon - text);
    if (n >= 2 && text[0] == '[' && text[n - 1] == ']') {
        h = text + 1;
        n -= 2;
    }
    if (n == 0 || n >= hostlen) {
        return -1;
    }
    if (mock_parse_long(colon + 1, 0, 65535, &p) != 0) {
        return -1;
    }
    memcpy(host, h, n);
    host[n] = '\0';
    *port = (unsigned)p;
    return 0;
}

static char *dup_str(const char *s)
{
    size_t n;
    char *d;

    if (s == NULL) {
        return NULL;
    }
    n = strlen(s) + 1;
    d = malloc(n);
    if (d != NULL) {
        memcpy(d, s, n);
    }
    return d;
}

char *mock_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *buf = malloc(n + 1);

    if (buf == NULL) {
        return NULL;
    }
    if (n > 0 && evbuffer_copyout(in, buf, n) != (ev_ssize_t)n) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

const char *mock_path(struct evhttp_request *req)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

    return path != NULL && *path != '\0' ? path : "/";
}

int mock_query(struct evhttp_request *req, struct evkeyvalq *q)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *query = uri != NULL ? evhttp_uri_get_query(uri) : NULL;

    TAILQ_INIT(q);
    if (query == NULL) {
        return 0;
    }
    return evhttp_parse_query_str(query, q) == 0 ? 0 : -1;
}

const char *mock_reason(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 413: return "Payload Too Large";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
    }
}

void mock_reply_raw(struct evhttp_request *req, int status,
                    const char *ctype, const char *body, size_t len,
                    bool retry_after_zero)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);

    evhttp_add_header(h, "Content-Type", ctype);
    if (retry_after_zero) {
        evhttp_add_header(h, "Retry-After", "0");
    }
    /* Straight into the request's own output buffer: no buffer of our
     * own to allocate, fill and move over for every answer. */
    if (len > 0) {
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    }
    /* evhttp sets Content-Length and keeps an HTTP/1.1 connection open. */
    evhttp_send_reply(req, status, mock_reason(status), NULL);
}

void mock_reply_json(struct evhttp_request *req, int status, cJSON *obj)
{
    char *text = obj != NULL ? cJSON_PrintUnformatted(obj) : NULL;

    cJSON_Delete(obj);
    if (text == NULL) {
        static const char oom[] = "{\"error\":\"out of memory\"}";
        mock_reply_raw(req, 500, "application/json", oom, sizeof oom - 1,
                       false);
        return;
    }
    mock_reply_raw(req, status, "application/json", text, strlen(text),
                   false);
    free(text);
}

void mock_json_string(struct evbuffer *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *run = p;

    evbuffer_add(b, "\"", 1);
    for (; *p != '\0'; p++) {
        char esc[6] = { '\\', 'u', '0', '0', 0, 0 };
        size_t elen = 2;

        if (*p >= 0x20 && *p != '"' && *p != '\\') {
            continue;
        }
        evbuffer_add(b, run, (size_t)(p - run));
        run = p + 1;
        switch (*p) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            esc[4] = hex[*p >> 4];
            esc[5] = hex[*p & 15];
            elen = 6;
        }
        evbuffer_add(b, esc, elen);
    }
    evbuffer_add(b, run, (size_t)(p - run));
    evbuffer_add(b, "\"", 1);
}

static void json_string_or_null(struct evbuffer *b, const char *s)
{
    if (s == NULL) {
        evbuffer_add(b, "null", 4);
    } else {
        mock_json_string(b, s);
    }
}

/* ---- records ---------------------------------------------------------- */

static size_t record_bytes(const mock_record *r)
{
    size_t n = sizeof *r;
    const char *fields[] = { r->path, r->authorization, r->op,
                             r->channel_id };
    size_t i;

    for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        n += fields[i] != NULL ? strlen(fields[i]) + 1 : 0;
    }
    if (r->body != NULL) {
        n += (r->body_raw ? r->body_len : strlen(r->body)) + 1;
    }
    return n;
}

static void record_free(mock_record *r)
{
    if (r == NULL) {
        return;
    }
    free(r->path);
    free(r->authorization);
    free(r->op);
    free(r->channel_id);
    free(r->body);
    free(r);
}

/* A body kept as received, printed as a body parsed on arrival would
 * have been: cJSON's compact form, or null when it is not JSON (or when
 * memory ran out, as on arrival). */
static void record_print_raw_body(const mock_record *r, struct evbuffer *b)
{
    cJSON *tree = cJSON_ParseWithLength(r->body, r->body_len);
    char *text = tree != NULL ? cJSON_PrintUnformatted(tree) : NULL;

    cJSON_Delete(tree);
    if (text != NULL) {
        evbuffer_add(b, text, strlen(text));
        free(text);
    } else {
        evbuffer_add(b, "null", 4);
    }
}

static void record_print(const mock_server *s, const mock_record *r,
                         struct evbuffer *b)
{
    evbuffer_add_printf(b, "{\"seq\":%" PRIu64 ",\"time_ms\":%" PRId64
                        ",\"path\":", r->seq, r->time_ms);
    json_string_or_null(b, r->path);
    if (s->cfg.record_fields & MOCK_REC_AUTHORIZATION) {
        evbuffer_add_printf(b, ",\"authorization\":");
        json_string_or_null(b, r->authorization);
    }
    if (s->cfg.record_fields & MOCK_REC_OP_CHANNEL) {
        evbuffer_add_printf(b, ",\"op\":");
        json_string_or_null(b, r->op);
        evbuffer_add_printf(b, ",\"channel_id\":");
        json_string_or_null(b, r->channel_id);
    }
    evbuffer_add_printf(b, ",\"body\":");
    if (r->body != NULL && r->body_raw) {
        record_print_raw_body(r, b);
    } else if (r->body != NULL) {
        evbuffer_add(b, r->body, strlen(r->body));
    } else {
        evbuffer_add(b, "null", 4);
    }
    if (r->status != 0) {
        evbuffer_add_printf(b, ",\"status\":%d}", r->status);
    } else {
        evbuffer_add_printf(b, ",\"status\":null}");
    }
}

/* Writes the record's JSON line to --log, once. */
static void record_log(mock_server *s, mock_record *r)
{
    struct evbuffer *b;
    size_t n;

    if (r->logged || s->log == NULL) {
        r->logged = true;
        return;
    }
    r->logged = true;
    b = evbuffer_new();
    if (b == NULL) {
        return;
    }
    record_print(s, r, b);
    evbuffer_add(b, "\n", 1);
    n = evbuffer_get_length(b);
    if (fwrite(evbuffer_pullup(b, -1), 1, n, s->log) != n ||
        fflush(s->log) != 0) {
        fprintf(stderr, "%s: --log: write failed: %s\n", s->cfg.prog,
                strerror(errno));
    }
    evbuffer_free(b);
}

static mock_record *ring_at(const mock_server *s, size_t i)
{
    return s->ring[(s->start + i) % s->cap];
}

static void ring_drop_oldest(mock_server *s)
{
    mock_record *r = s->ring[s->start];

    record_log(s, r);
    s->bytes -= record_bytes(r);
    record_free(r);
    s->ring[s->start] = NULL;
    s->start = (s->start + 1) % s->cap;
    s->count--;
    s->dropped++;
}

mock_record *mock_record_new(mock_server *s)
{
    mock_record *r = calloc(1, sizeof *r);

    if (r == NULL) {
        return NULL;
    }
    r->seq = s->next_seq++;
    r->time_ms = mock_now_ms();
    return r;
}

static mock_record *record_find(mock_server *s, uint64_t seq)
{
    uint64_t first;

    if (s->count == 0) {
        return NULL;
    }
    first = ring_at(s, 0)->seq;
    /* Seqs in the ring are consecutive: records are committed in seq
     * order and only ever dropped from the front. */
    if (seq < first || seq - first >= s->count) {
        return NULL;
    }
    {
        mock_record *r = ring_at(s, (size_t)(seq - first));

        return r->seq == seq ? r : NULL;
    }
}

static bool record_matches(const mock_record *r, const mock_held *w)
{
    if (w->op != NULL && (r->op == NULL || strcmp(r->op, w->op) != 0)) {
        return false;
    }
    if (w->channel_id != NULL &&
        (r->channel_id == NULL || strcmp(r->channel_id, w->channel_id) != 0)) {
        return false;
    }
    return true;
}

static void held_free(mock_held *h);
static void list_answer(mock_server *s, struct evhttp_request *req,
                        const mock_held *q);

void mock_record_commit(mock_server *s, mock_record *rec)
{
    s->ring[(s->start + s->count) % s->cap] = rec;
    s->count++;
    s->bytes += record_bytes(rec);
    while (s->count > s->cap - 1 ||
           (s->bytes > MOCK_MAX_JOURNAL_BYTES && s->count > 1)) {
        ring_drop_oldest(s);
    }
    /* The long polls are answered once the current callback is over, so
     * that a request answered at once is listed with its status. */
    if (s->n_waiting > 0 && !event_pending(s->notify_ev, EV_TIMEOUT, NULL)) {
        event_active(s->notify_ev, EV_TIMEOUT, 0);
    }
}

/* The client of record seq went away before its answer: log it now, with
 * status null. */
static void record_abandon(mock_server *s, uint64_t seq)
{
    mock_record *r = seq != 0 ? record_find(s, seq) : NULL;

    if (r != NULL) {
        record_log(s, r);
    }
}

void mock_record_finish(mock_server *s, uint64_t seq, int status)
{
    mock_record *r = seq != 0 ? record_find(s, seq) : NULL;

    if (r == NULL) {
        return;
    }
    r->status = status;
    record_log(s, r);
}

/* ---- held requests ---------------------------------------------------- */

static void held_link(mock_server *s, mock_held *h)
{
    mock_held **head = h->kind == HELD_WAITING ? &s->waiters : &s->held;

    h->prev = NULL;
    h->next = *head;
    if (*head != NULL) {
        (*head)->prev = h;
    }
    *head = h;
    switch (h->kind) {
    case HELD_HUNG: s->n_hung++; break;
    case HELD_DELAYED: s->n_delayed++; break;
    case HELD_WAITING: s->n_waiting++; break;
    }
}

/* Unlinks and frees h, not its request. */
static void held_free(mock_held *h)
{
    mock_server *s = h->s;

    if (h->prev != NULL) {
        h->prev->next = h->next;
    } else if (h->kind == HELD_WAITING) {
        s->waiters = h->next;
    } else {
        s->held = h->next;
    }
    if (h->next != NULL) {
        h->next->prev = h->prev;
    }
    switch (h->kind) {
    case HELD_HUNG: s->n_hung--; break;
    case HELD_DELAYED: s->n_delayed--; break;
    case HELD_WAITING: s->n_waiting--; break;
    }
    if (h->timer != NULL) {
        event_free(h->timer);
    }
    if (h->watch != NULL) {
        event_free(h->watch);
    }
    free(h->body);
    free(h->op);
    free(h->channel_id);
    free(h);
}

/* The client closed the connection of a held request. evhttp has already
 * taken the request off the connection and does not free it (a request
 * the user has not answered is the user's): free it here. When the whole
 * server is going down instead, the request is still on its connection
 * and evhttp frees it. */
static void held_closed(struct evhttp_connection *evcon, void *arg)
{
    mock_held *h = arg;

    (void)evcon;
    if (evhttp_request_get_connection(h->req) == NULL) {
        evhttp_request_free(h->req);
    }
    record_abandon(h->s, h->seq);
    held_free(h);
}

/* evhttp (2.1) stops reading a connection once its request is read, so it
 * does not see a client that goes away while the answer is held back: the
 * mock watches the socket itself. EV_CLOSED where the backend reports a
 * peer's close without reading (epoll), else EV_READ and a peek. */
static void held_watch_fired(evutil_socket_t fd, short what, void *arg)
{
    mock_held *h = arg;
    struct evhttp_connection *evcon = evhttp_request_get_connection(h->req);
    char byte;
    ssize_t n;

    (void)what;
    n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
                            errno == EINTR))) {
        /* The client sent more (a pipelined request): it is still there,
         * and evhttp reads that once the held answer is out. */
        if (n > 0) {
            event_del(h->watch);
        }
        return;
    }
    /* Gone: forget the held answer, then let evhttp free the connection
     * and the request still on it. */
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    record_abandon(h->s, h->seq);
    held_free(h);
    evhttp_connection_free(evcon);
}

static int held_watch(mock_server *s, mock_held *h)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(h->req);
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    evutil_socket_t fd = bev != NULL ? bufferevent_getfd(bev) : -1;
    short what = (event_base_get_features(s->base) &
                  EV_FEATURE_EARLY_CLOSE) ? EV_CLOSED : EV_READ;

    if (fd < 0) {
        return 0;
    }
    h->watch = event_new(s->base, fd, what | EV_PERSIST, held_watch_fired,
                         h);
    return h->watch != NULL && event_add(h->watch, NULL) == 0 ? 0 : -1;
}

static mock_held *held_new(mock_server *s, struct evhttp_request *req,
                           held_kind kind, long delay_ms,
                           event_callback_fn fire)
{
    mock_held *h = calloc(1, sizeof *h);

    if (h == NULL) {
        return NULL;
    }
    h->s = s;
    h->req = req;
    h->kind = kind;
    if (delay_ms >= 0) {
        struct timeval tv;

        tv.tv_sec = delay_ms / 1000;
        tv.tv_usec = (delay_ms % 1000) * 1000;
        h->timer = evtimer_new(s->base, fire, h);
        if (h->timer == NULL || evtimer_add(h->timer, &tv) != 0) {
            if (h->timer != NULL) {
                event_free(h->timer);
            }
            free(h);
            return NULL;
        }
    }
    if (held_watch(s, h) != 0) {
        if (h->timer != NULL) {
            event_free(h->timer);
        }
        if (h->watch != NULL) {
            event_free(h->watch);
        }
        free(h);
        return NULL;
    }
    held_link(s, h);
    evhttp_connection_set_closecb(evhttp_request_get_connection(req),
                                  held_closed, h);
    return h;
}

/* Sends a held reply and frees h. */
static void held_deliver(mock_held *h)
{
    mock_server *s = h->s;

    evhttp_connection_set_closecb(evhttp_request_get_connection(h->req),
                                  NULL, NULL);
    mock_reply_raw(h->req, h->status, "application/json", h->body,
                   h->body != NULL ? strlen(h->body) : 0,
                   h->retry_after_zero);
    mock_record_finish(s, h->seq, h->status);
    held_free(h);
}

static void held_timer_fired(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    held_deliver(arg);
}

void mock_reply_later(mock_server *s, struct evhttp_request *req,
                      int status, char *body, bool retry_after_zero,
                      uint64_t seq, long delay_ms, const char *body_503)
{
    held_kind kind = delay_ms < 0 ? HELD_HUNG : HELD_DELAYED;
    mock_held *h = NULL;

    if (delay_ms != 0) {
        bool full = kind == HELD_HUNG ? s->n_hung >= MOCK_MAX_HUNG
                                      : s->n_delayed >= MOCK_MAX_DELAYED;

        if (!full) {
            h = held_new(s, req, kind, delay_ms, held_timer_fired);
        }
        if (h == NULL) {
            free(body);
            mock_reply_raw(req, 503, "application/json", body_503,
                           strlen(body_503), false);
            mock_record_finish(s, seq, 503);
            return;
        }
        h->status = status;
        h->body = body;
        h->retry_after_zero = retry_after_zero;
        h->seq = seq;
        return;
    }
    mock_reply_raw(req, status, "application/json", body,
                   body != NULL ? strlen(body) : 0, retry_after_zero);
    free(body);
    mock_record_finish(s, seq, status);
}

size_t mock_release(mock_server *s)
{
    size_t n = 0;
    mock_held *h;
    mock_held *next;

    for (h = s->held; h != NULL; h = next) {
        next = h->next;
        if (h->kind == HELD_HUNG) {
            held_deliver(h);
            n++;
        }
    }
    return n;
}

/* ---- the journal list ------------------------------------------------- */

static void list_answer(mock_server *s, struct evhttp_request *req,
                        const mock_held *q)
{
    struct evbuffer *b = evbuffer_new();
    uint64_t next = s->next_seq;
    uint64_t first;
    size_t i = 0;
    size_t n = 0;
    bool comma = false;

    if (b == NULL) {
        mock_reply_raw(req, 500, "application/json",
                       "{\"error\":\"out of memory\"}", 25, false);
        return;
    }
    evbuffer_add_printf(b, "{\"%s\":[", s->cfg.list_key);
    if (s->count > 0) {
        first = ring_at(s, 0)->seq;
        if (q->since > first) {
            i = q->since - first < s->count ? (size_t)(q->since - first)
                                            : s->count;
        }
    }
    for (; i < s->count; i++) {
        const mock_record *r = ring_at(s, i);

        if (!record_matches(r, q)) {
            continue;
        }
        if (q->limit != 0 && n == q->limit) {
            /* Truncated: the next page starts at this record. */
            next = r->seq;
            break;
        }
        if (comma) {
            evbuffer_add(b, ",", 1);
        }
        comma = true;
        record_print(s, r, b);
        n++;
    }
    evbuffer_add_printf(b, "],\"next\":%" PRIu64 ",\"dropped\":%" PRIu64
                        "}", next, s->dropped);
    evhttp_add_header(evhttp_request_get_output_headers(req),
                      "Content-Type", "application/json");
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static bool list_has_match(const mock_server *s, const mock_held *q)
{
    size_t i;

    for (i = s->count; i > 0; i--) {
        const mock_record *r = ring_at(s, i - 1);

        if (r->seq < q->since) {
            return false;
        }
        if (record_matches(r, q)) {
            return true;
        }
    }
    return false;
}

/* Answers the long polls that new records satisfy. */
static void notify_waiters(evutil_socket_t fd, short what, void *arg)
{
    mock_server *s = arg;
    mock_held *h;
    mock_held *next;

    (void)fd;
    (void)what;
    for (h = s->waiters; h != NULL; h = next) {
        next = h->next;
        if (list_has_match(s, h)) {
            evhttp_connection_set_closecb(
                evhttp_request_get_connection(h->req), NULL, NULL);
            list_answer(s, h->req, h);
            held_free(h);
        }
    }
}

static void waiter_timer_fired(evutil_socket_t fd, short what, void *arg)
{
    mock_held *h = arg;

    (void)fd;
    (void)what;
    evhttp_connection_set_closecb(evhttp_request_get_connection(h->req),
                                  NULL, NULL);
    list_answer(h->s, h->req, h);
    held_free(h);
}

static void reply_bad_query(struct evhttp_request *req, const char *name,
                            const char *limit)
{
    cJSON *o = cJSON_CreateObject();
    char text[160];
    int n = snprintf(text, sizeof text, "query parameter '%s' must be %s",
                     name, limit);

    if (n < 0 || (size_t)n >= sizeof text) {
        text[0] = '\0';
    }
    cJSON_AddStringToObject(o, "error", text);
    mock_reply_json(req, 400, o);
}

void mock_list(mock_server *s, struct evhttp_request *req)
{
    struct evkeyvalq q;
    mock_held want;
    const char *v;
    long since = 0;
    long wait_ms = 0;
    long limit = 0;

    memset(&want, 0, sizeof want);
    if (mock_query(req, &q) != 0) {
        reply_bad_query(req, "query", "name=value pairs");
        return;
    }
    if ((v = evhttp_find_header(&q, "since")) != NULL &&
        mock_parse_long(v, 0, LONG_MAX, &since) != 0) {
        reply_bad_query(req, "since", "an integer >= 0");
        goto out;
    }
    if ((v = evhttp_find_header(&q, "wait_ms")) != NULL &&
        mock_parse_long(v, 0, MOCK_MAX_WAIT_MS, &wait_ms) != 0) {
        reply_bad_query(req, "wait_ms", "an integer in 0..600000");
        goto out;
    }
    if ((v = evhttp_find_header(&q, "limit")) != NULL &&
        mock_parse_long(v, 0, MOCK_MAX_RECORDS, &limit) != 0) {
        reply_bad_query(req, "limit", "an integer in 0..10000000");
        goto out;
    }
    want.since = (uint64_t)since;
    want.limit = (size_t)limit;
    if (s->cfg.record_fields & MOCK_REC_OP_CHANNEL) {
        v = evhttp_find_header(&q, "op");
        want.op = v != NULL && *v != '\0' ? (char *)v : NULL;
        v = evhttp_find_header(&q, "channel_id");
        want.channel_id = v != NULL && *v != '\0' ? (char *)v : NULL;
    }
    if (wait_ms > 0 && s->n_waiting < MOCK_MAX_WAITERS &&
        !list_has_match(s, &want)) {
        mock_held *h = held_new(s, req, HELD_WAITING, wait_ms,
                                waiter_timer_fired);

        if (h != NULL) {
            h->since = want.since;
            h->limit = want.limit;
            h->op = dup_str(want.op);
            h->channel_id = dup_str(want.channel_id);
            if ((want.op == NULL || h->op != NULL) &&
                (want.channel_id == NULL || h->channel_id != NULL)) {
                goto out;
            }
            evhttp_connection_set_closecb(evhttp_request_get_connection(req),
                                          NULL, NULL);
            held_free(h);
        }
    }
    list_answer(s, req, &want);
out:
    evhttp_clear_headers(&q);
}

void mock_clear(mock_server *s, struct evhttp_request *req)
{
    cJSON *o = cJSON_CreateObject();
    size_t n = s->count;

    while (s->count > 0) {
        ring_drop_oldest(s);
    }
    /* Clearing is not dropping: the count is of records lost to the
     * bound, which a reader wants to see only for that reason. */
    s->dropped = 0;
    cJSON_AddNumberToObject(o, "cleared", (double)n);
    cJSON_AddNumberToObject(o, "next", (double)s->next_seq);
    mock_reply_json(req, 200, o);
}

void mock_stats(mock_server *s, struct evhttp_request *req)
{
    cJSON *o = cJSON_CreateObject();

    cJSON_AddNumberToObject(o, "hung", (double)s->n_hung);
    cJSON_AddNumberToObject(o, "delayed", (double)s->n_delayed);
    cJSON_AddNumberToObject(o, "waiting", (double)s->n_waiting);
    cJSON_AddNumberToObject(o, "records", (double)s->count);
    cJSON_AddNumberToObject(o, "dropped", (double)s->dropped);
    cJSON_AddNumberToObject(o, "next", (double)s->next_seq);
    mock_reply_json(req, 200, o);
}

/* ---- the server ------------------------------------------------------- */

static void on_request(struct evhttp_request *req, void *arg)
{
    mock_server *s = arg;

    s->cfg.handler(s, req, s->cfg.handler_arg);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    mock_server *s = arg;

    (void)what;
    fprintf(stderr, "%s: signal %d, stopping\n", s->cfg.prog, (int)sig);
    event_base_loopexit(s->base, NULL);
}

static int write_port_file(const mock_server *s)
{
    const char *path = s->cfg.port_file;
    size_t n = strlen(path) + 32;
    char *tmp = malloc(n);
    FILE *f;
    int rc = -1;
    int len;

    if (tmp == NULL) {
        return -1;
    }
    len = snprintf(tmp, n, "%s.tmp.%ld", path, (long)getpid());
    if (len < 0 || (size_t)len >= n) {
        free(tmp);
        return -1;
    }
    f = fopen(tmp, "w");
    if (f != NULL) {
        int w = fprintf(f, "%u\n", s->port);

        if (fclose(f) == 0 && w > 0 && rename(tmp, path) == 0) {
            rc = 0;
        }
    }
    if (rc != 0) {
        fprintf(stderr, "%s: --port-file %s: %s\n", s->cfg.prog, path,
                strerror(errno));
        (void)remove(tmp);
    }
    free(tmp);
    return rc;
}

/* The event base, with epoll's changelist: evhttp turns a connection's
 * write event on for each answer and off once it is written, and its
 * read event off and on around each request; with the changelist those
 * changes are folded into one epoll_ctl per file descriptor, or none
 * when they cancel out, at the next dispatch, instead of a system call
 * each. Backends other than epoll ignore the flag. */
static struct event_base *new_base(void)
{
    struct event_config *ec = event_config_new();
    struct event_base *base;

    if (ec == NULL) {
        return NULL;
    }
    (void)event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    base = event_base_new_with_config(ec);
    event_config_free(ec);
    return base;
}

int mock_server_init(mock_server *s, const mock_config *cfg)
{
    struct evhttp_bound_socket *bound;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof ss;
    char host[256];
    unsigned port;

    memset(s, 0, sizeof *s);
    s->cfg = *cfg;
    s->next_seq = 1;
    /* One slot stays free so that a commit never overwrites. */
    s->cap = (size_t)cfg->max_records + 1;
    s->ring = calloc(s->cap, sizeof *s->ring);
    if (s->ring == NULL) {
        fprintf(stderr, "%s: out of memory for %ld records\n", cfg->prog,
                cfg->max_records);
        return -1;
    }
    if (mock_parse_listen(cfg->listen, host, sizeof host, &port) != 0) {
        fprintf(stderr, "%s: --listen %s: expected HOST:PORT with a port "
                "in 0..65535\n", cfg->prog, cfg->listen);
        return -2;
    }
    /* A client gone while its answer is written must not kill the mock. */
    signal(SIGPIPE, SIG_IGN);

    if (cfg->log_path != NULL) {
        s->log = fopen(cfg->log_path, "a");
        if (s->log == NULL) {
            fprintf(stderr, "%s: --log %s: %s\n", cfg->prog, cfg->log_path,
                    strerror(errno));
            return -2;
        }
    }
    s->base = new_base();
    s->http = s->base != NULL ? evhttp_new(s->base) : NULL;
    if (s->http == NULL) {
        fprintf(stderr, "%s: libevent setup failed\n", cfg->prog);
        return -1;
    }
    evhttp_set_max_body_size(s->http, MOCK_MAX_BODY);
    evhttp_set_max_headers_size(s->http, MOCK_MAX_HEADERS);
    /* Read the rest of an oversized body before answering 413, so that
     * the client sees the status instead of a reset connection. */
    evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                               EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                               EVHTTP_REQ_HEAD);
    /* Idle keep-alive connections close after two minutes. */
    evhttp_set_timeout(s->http, 120);
    evhttp_set_gencb(s->http, on_request, s);

    bound = evhttp_bind_socket_with_handle(s->http, host, (ev_uint16_t)port);
    if (bound == NULL) {
        fprintf(stderr, "%s: cannot listen on %s: %s\n", cfg->prog,
                cfg->listen, strerror(errno));
        return -1;
    }
    if (getsockname(evhttp_bound_socket_get_fd(bound),
                    (struct sockaddr *)&ss, &sslen) != 0) {
        fprintf(stderr, "%s: getsockname: %s\n", cfg->prog, strerror(errno));
        return -1;
    }
    s->port = ss.ss_family == AF_INET6
        ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
        : ntohs(((struct sockaddr_in *)&ss)->sin_port);

    s->notify_ev = event_new(s->base, -1, 0, notify_waiters, s);
    if (s->notify_ev == NULL) {
        fprintf(stderr, "%s: libevent setup failed\n", cfg->prog);
        return -1;
    }
    s->sigint_ev = evsignal_new(s->base, SIGINT, on_signal, s);
    s->sigterm_ev = evsignal_new(s->base, SIGTERM, on_signal, s);
    if (s->sigint_ev == NULL || s->sigterm_ev == NULL ||
        evsignal_add(s->sigint_ev, NULL) != 0 ||
        evsignal_add(s->sigterm_ev, NULL) != 0) {
        fprintf(stderr, "%s: cannot handle signals\n", cfg->prog);
        return -1;
    }
    if (cfg->port_file != NULL && write_port_file(s) != 0) {
        return -1;
    }
    fprintf(stderr, "%s: listening on http://%s%s%s:%u\n", cfg->prog,
            strchr(host, ':') != NULL ? "[" : "", host,
            strchr(host, ':') != NULL ? "]" : "", s->port);
    return 0;
}

int mock_server_run(mock_server *s)
{
    return event_base_dispatch(s->base) < 0 ? -1 : 0;
}

void mock_server_destroy(mock_server *s)
{
    sigset_t stop;

    /* Freeing the signal events below puts back the default actions: a
     * second SIGINT or SIGTERM during the shutdown would then kill the
     * mock instead of letting it exit 0. Block them; exit discards them. */
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigprocmask(SIG_BLOCK, &stop, NULL);
    /* Held requests first: their requests stay on their connections,
     * which evhttp_free() frees with them. */
    while (s->held != NULL || s->waiters != NULL) {
        mock_held *h = s->held != NULL ? s->held : s->waiters;

        evhttp_connection_set_closecb(evhttp_request_get_connection(h->req),
                                      NULL, NULL);
        held_free(h);
    }
    if (s->http != NULL) {
        evhttp_free(s->http);
    }
    if (s->notify_ev != NULL) {
        event_free(s->notify_ev);
    }
    if (s->sigint_ev != NULL) {
        event_free(s->sigint_ev);
    }
    if (s->sigterm_ev != NULL) {
        event_free(s->sigterm_ev);
    }
    if (s->base != NULL) {
        event_base_free(s->base);
    }
    if (s->ring != NULL) {
        while (s->count > 0) {
            ring_drop_oldest(s);
        }
        free(s->ring);
    }
    if (s->log != NULL) {
        fclose(s->log);
    }
    memset(s, 0, sizeof *s);
}
