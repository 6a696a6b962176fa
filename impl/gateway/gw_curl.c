/*
 * gw_curl.c: libcurl multi on a libevent loop.
 *
 * curl tells us which sockets to watch (socket callback) and when to wake
 * it (timer callback); we tell it what happened with
 * curl_multi_socket_action() and then collect finished transfers. A
 * transfer's callback runs after it left the multi handle, so it may
 * start or cancel others.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "gw_curl.h"

typedef struct sock {
    struct sock *next, *prev;
    gw_curl *c;
    curl_socket_t fd;
    struct event *ev;
} sock;

struct gw_curl_req {
    gw_curl_req *next, *prev;
    gw_curl *c;
    CURL *easy;
    struct curl_slist *headers;
    char *body;
    char *resp;
    size_t resp_len;
    char errbuf[CURL_ERROR_SIZE];
    gw_curl_done_fn *done;
    void *ud;
};

struct gw_curl {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    gw_curl_req *reqs;
    sock *socks;
    size_t pending;
};

static void check_done(gw_curl *c);

static void req_free(gw_curl_req *r)
{
    gw_curl *c = r->c;

    curl_multi_remove_handle(c->multi, r->easy);
    curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->headers);
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        c->reqs = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    c->pending--;
    free(r->body);
    free(r->resp);
    free(r);
}

static void on_event(evutil_socket_t fd, short what, void *arg)
{
    gw_curl *c = arg;
    int running = 0, flags = 0;

    if (what & EV_READ)
        flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    check_done(c);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    gw_curl *c = arg;
    int running = 0;

    (void)fd;
    (void)what;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(c);
}

static void sock_free(sock *s)
{
    gw_curl *c = s->c;

    event_free(s->ev);
    if (s->prev != NULL)
        s->prev->next = s->next;
    else
        c->socks = s->next;
    if (s->next != NULL)
        s->next->prev = s->prev;
    free(s);
}

static int on_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp)
{
    gw_curl *c = userp;
    sock *s = socketp;
    short kind;

    (void)easy;
    if (what == CURL_POLL_REMOVE) {
        if (s != NULL) {
            curl_multi_assign(c->multi, fd, NULL);
            sock_free(s);
        }
        return 0;
    }
    if (s == NULL) {
        s = calloc(1, sizeof *s);
        if (s == NULL)
            return -1;
        s->c = c;
        s->fd = fd;
        s->next = c->socks;
        if (c->socks != NULL)
            c->socks->prev = s;
        c->socks = s;
        curl_multi_assign(c->multi, fd, s);
    } else if (s->ev != NULL) {
        event_free(s->ev);
        s->ev = NULL;
    }
    kind = EV_PERSIST;
    if (what & CURL_POLL_IN)
        kind |= EV_READ;
    if (what & CURL_POLL_OUT)
        kind |= EV_WRITE;
    s->ev = event_new(c->base, fd, kind, on_event, c);
    if (s->ev == NULL || event_add(s->ev, NULL) != 0)
        return -1;
    return 0;
}

static int on_timeout(CURLM *multi, long timeout_ms, void *userp)
{
    gw_curl *c = userp;
    struct timeval tv;

    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(c->timer, &tv);
    return 0;
}

static void check_done(gw_curl *c)
{
    CURLMsg *m;
    int left;

    while ((m = curl_multi_info_read(c->multi, &left)) != NULL) {
        gw_curl_req *r = NULL;
        long status = 0;
        const char *error = NULL;

        if (m->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&r);
        if (r == NULL)
            continue;
        if (m->data.result == CURLE_OK) {
            curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
        } else {
            error = r->errbuf[0] != '\0' ? r->errbuf
                                         : curl_easy_strerror(m->data.result);
        }
        /* Off the multi handle before the callback, which may free it. */
        curl_multi_remove_handle(c->multi, r->easy);
        if (r->done != NULL)
            r->done(r->ud, error, status, r->resp != NULL ? r->resp : "",
                    r->resp_len);
        req_free(r);
    }
}

static size_t on_write(char *ptr, size_t size, size_t n, void *ud)
{
    gw_curl_req *r = ud;
    size_t len = size * n, room;
    char *p;

    room = GW_CURL_MAX_RESPONSE - r->resp_len;
    if (len > room)
        len = room;           /* keep what fits; the rest is dropped */
    if (len > 0) {
        p = realloc(r->resp, r->resp_len + len + 1);
        if (p == NULL)
            return 0;
        r->resp = p;
        memcpy(r->resp + r->resp_len, ptr, len);
        r->resp_len += len;
        r->resp[r->resp_len] = '\0';
    }
    return size * n;
}

gw_curl *gw_curl_new(struct event_base *base)
{
    gw_curl *c = calloc(1, sizeof *c);

    if (c == NULL)
        return NULL;
    c->base = base;
    c->multi = curl_multi_init();
    c->timer = evtimer_new(base, on_timer, c);
    if (c->multi == NULL || c->timer == NULL) {
        if (c->multi != NULL)
            curl_multi_cleanup(c->multi);
        if (c->timer != NULL)
            event_free(c->timer);
        free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, on_timeout);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_MAXCONNECTS, 16L);
    return c;
}

void gw_curl_free(gw_curl *c)
{
    if (c == NULL)
        return;
    while (c->reqs != NULL)
        req_free(c->reqs);
    curl_multi_cleanup(c->multi);
    while (c->socks != NULL)
        sock_free(c->socks);
    event_free(c->timer);
    free(c);
}

int gw_curl_request(gw_curl *c, const char *method, const char *url,
                    const char *body, size_t len, long timeout_ms,
                    gw_curl_done_fn *done, void *ud, gw_curl_req **out)
{
    gw_curl_req *r = calloc(1, sizeof *r);

    if (r == NULL)
        return -1;
    r->c = c;
    r->done = done;
    r->ud = ud;
    r->easy = curl_easy_init();
    if (r->easy == NULL) {
        free(r);
        return -1;
    }
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, (char *)r);
    curl_easy_setopt(r->easy, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(r->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(r->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(r->easy, CURLOPT_PROTOCOLS_STR, "http,https");
    if (strcmp(method, "POST") == 0) {
        r->body = malloc(len + 1);
        r->headers = curl_slist_append(NULL,
                                       "Content-Type: application/json");
        if (r->body == NULL || r->headers == NULL) {
            curl_easy_cleanup(r->easy);
            curl_slist_free_all(r->headers);
            free(r->body);
            free(r);
            return -1;
        }
        if (len > 0)
            memcpy(r->body, body, len);
        r->body[len] = '\0';
        /* No "Expect: 100-continue" round trip for big bodies. */
        r->headers = curl_slist_append(r->headers, "Expect:");
        curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->headers);
        curl_easy_setopt(r->easy, CURLOPT_POST, 1L);
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, r->body);
        curl_easy_setopt(r->easy, CURLOPT_POSTFIELDSIZE_LARGE,
                         (curl_off_t)len);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
    }
    r->next = c->reqs;
    if (c->reqs != NULL)
        c->reqs->prev = r;
    c->reqs = r;
    c->pending++;
    if (curl_multi_add_handle(c->multi, r->easy) != CURLM_OK) {
        r->done = NULL;
        req_free(r);
        return -1;
    }
    if (out != NULL)
        *out = r;
    return 0;
}

void gw_curl_cancel(gw_curl_req *r)
{
    if (r != NULL)
        req_free(r);
}

size_t gw_curl_pending(const gw_curl *c)
{
    return c->pending;
}
