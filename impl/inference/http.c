/*
 * http.c: see http.h.
 */
#define _POSIX_C_SOURCE 200809L

#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

struct sgi_http {
    struct evhttp *http;
    sgi_health_fn *health;
    sgi_metrics_fn *metrics;
    void *ud;
};

static const double bounds[SGI_HIST_BUCKETS] = {
    0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};

static void reply_text(struct evhttp_request *req, int code,
                       const char *reason, const char *ctype,
                       struct evbuffer *body)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      ctype);
    evhttp_send_reply(req, code, reason, body);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    sgi_http *h = arg;
    const char *uri = evhttp_request_get_uri(req);
    struct evbuffer *body = evbuffer_new();
    size_t n;

    if (body == NULL) {
        evhttp_send_error(req, 500, "out of memory");
        return;
    }
    n = strcspn(uri, "?");
    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET &&
        evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
        evbuffer_add_printf(body, "only GET\n");
        reply_text(req, 405, "Method Not Allowed", "text/plain", body);
    } else if (n == 8 && strncmp(uri, "/healthz", 8) == 0) {
        int ok = h->health(h->ud);

        evbuffer_add_printf(body, ok ? "ok\n" : "unavailable\n");
        reply_text(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable",
                   "text/plain", body);
    } else if (n == 8 && strncmp(uri, "/metrics", 8) == 0) {
        h->metrics(body, h->ud);
        reply_text(req, 200, "OK", "text/plain; version=0.0.4", body);
    } else {
        evbuffer_add_printf(body, "not found\n");
        reply_text(req, 404, "Not Found", "text/plain", body);
    }
    evbuffer_free(body);
}

int sgi_http_new(struct event_base *base, const char *listen,
                 sgi_health_fn *health, sgi_metrics_fn *metrics, void *ud,
                 sgi_http **out, int *port, char *err, size_t errcap)
{
    struct evhttp_bound_socket *bs;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char host[256];
    const char *colon;
    char *end;
    long p;
    sgi_http *h;

    *out = NULL;
    colon = strrchr(listen, ':');
    if (colon == NULL || colon == listen ||
        (size_t)(colon - listen) >= sizeof host) {
        snprintf(err, errcap, "SG_METRICS_LISTEN: \"%.100s\" is not "
                 "host:port", listen);
        return -1;
    }
    p = strtol(colon + 1, &end, 10);
    if (end == colon + 1 || *end != '\0' || p < 0 || p > 65535) {
        snprintf(err, errcap, "SG_METRICS_LISTEN: port of \"%.100s\" is not "
                 "0 .. 65535", listen);
        return -1;
    }
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    h = calloc(1, sizeof *h);
    if (h == NULL || (h->http = evhttp_new(base)) == NULL) {
        free(h);
        snprintf(err, errcap, "SG_METRICS_LISTEN: out of memory");
        return -1;
    }
    h->health = health;
    h->metrics = metrics;
    h->ud = ud;
    evhttp_set_max_body_size(h->http, 4096);
    evhttp_set_max_headers_size(h->http, 8192);
    evhttp_set_timeout(h->http, 10);
    evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_POST);
    evhttp_set_gencb(h->http, on_request, h);
    bs = evhttp_bind_socket_with_handle(h->http, host, (ev_uint16_t)p);
    if (bs == NULL) {
        snprintf(err, errcap, "SG_METRICS_LISTEN: cannot listen on %.100s",
                 listen);
        sgi_http_free(h);
        return -1;
    }
    *port = (int)p;
    if (getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&ss,
                    &sl) == 0) {
        if (ss.ss_family == AF_INET)
            *port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        else if (ss.ss_family == AF_INET6)
            *port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    }
    *out = h;
    return 0;
}

void sgi_http_free(sgi_http *h)
{
    if (h == NULL)
        return;
    evhttp_free(h->http);
    free(h);
}

void sgi_hist_observe(sgi_hist *h, double seconds)
{
    int i;

    if (!(seconds >= 0))
        seconds = 0;
    h->count++;
    h->sum += seconds;
    for (i = 0; i < SGI_HIST_BUCKETS; i++)
        if (seconds <= bounds[i]) {
            h->counts[i]++;
            return;
        }
    h->inf++;
}

void sgi_hist_write(struct evbuffer *out, const char *name, const char *help,
                    const sgi_hist *h)
{
    uint64_t cum = 0;
    int i;

    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s histogram\n", name,
                        help, name);
    for (i = 0; i < SGI_HIST_BUCKETS; i++) {
        cum += h->counts[i];
        evbuffer_add_printf(out, "%s_bucket{le=\"%g\"} %llu\n", name,
                            bounds[i], (unsigned long long)cum);
    }
    cum += h->inf;
    evbuffer_add_printf(out, "%s_bucket{le=\"+Inf\"} %llu\n", name,
                        (unsigned long long)cum);
    evbuffer_add_printf(out, "%s_sum %.6f\n%s_count %llu\n", name, h->sum,
                        name, (unsigned long long)h->count);
}
