/*
 * gw_httpx.c: evhttp helpers.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "gw_httpx.h"
#include "gw_text.h"

static int bound_port(struct evhttp_bound_socket *h)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    evutil_socket_t fd = evhttp_bound_socket_get_fd(h);

    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}

int gw_http_listen(struct event_base *base, const gw_listen *l,
                   void (*cb)(struct evhttp_request *, void *), void *ud,
                   struct evhttp **out, int *port, char *err, size_t cap)
{
    struct evhttp *h = evhttp_new(base);
    struct evhttp_bound_socket *s;

    if (h == NULL) {
        snprintf(err, cap, "out of memory");
        return -1;
    }
    evhttp_set_max_body_size(h, GW_MAX_BODY);
    evhttp_set_max_headers_size(h, 64 * 1024);
    evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
                                      EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(h, cb, ud);
    s = evhttp_bind_socket_with_handle(h, l->host, (ev_uint16_t)l->port);
    if (s == NULL || (*port = bound_port(s)) < 0) {
        snprintf(err, cap, "cannot listen on %s:%d", l->host, l->port);
        evhttp_free(h);
        return -1;
    }
    *out = h;
    return 0;
}

const char *gw_banner_host(const gw_listen *l)
{
    if (strcmp(l->host, "0.0.0.0") == 0 || strcmp(l->host, "::") == 0 ||
        l->host[0] == '\0')
        return "127.0.0.1";
    return l->host;
}

int gw_http_body(struct evhttp_request *req, char **out, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    char *p = malloc(n + 1);

    if (p == NULL)
        return -1;
    if (n > 0)
        evbuffer_copyout(in, p, n);
    p[n] = '\0';
    *out = p;
    *len = n;
    return 0;
}

void gw_http_reply(struct evhttp_request *req, int code,
                   const char *content_type, const char *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();
    const char *reason;

    switch (code) {
    case 200: reason = "OK"; break;
    case 202: reason = "Accepted"; break;
    case 204: reason = "No Content"; break;
    case 400: reason = "Bad Request"; break;
    case 404: reason = "Not Found"; break;
    case 405: reason = "Method Not Allowed"; break;
    case 413: reason = "Payload Too Large"; break;
    case 503: reason = "Service Unavailable"; break;
    default: reason = "Status"; break;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req),
                      "Content-Type", content_type);
    evhttp_add_header(evhttp_request_get_output_headers(req),
                      "Cache-Control", "no-store");
    if (b != NULL && len > 0)
        evbuffer_add(b, body, len);
    evhttp_send_reply(req, code, reason, b);
    if (b != NULL)
        evbuffer_free(b);
}

void gw_http_reply_error(struct evhttp_request *req, int code,
                         const char *msg, const char *reason,
                         const char *path)
{
    sg_buf b;

    sg_buf_init(&b, NULL);
    if (gw_buf_puts(&b, "{\"error\":") != 0 || gw_json_cstr(&b, msg) != 0 ||
        (reason != NULL && (gw_buf_puts(&b, ",\"reason\":") != 0 ||
                            gw_json_cstr(&b, reason) != 0)) ||
        (path != NULL && (gw_buf_puts(&b, ",\"path\":") != 0 ||
                          gw_json_cstr(&b, path) != 0)) ||
        gw_buf_puts(&b, "}") != 0) {
        gw_http_reply(req, 500, "text/plain", "out of memory", 13);
    } else {
        gw_http_reply(req, code, "application/json", (char *)b.data, b.len);
    }
    sg_buf_destroy(&b);
}

void gw_http_reply_sg_error(struct evhttp_request *req, const sg_error *err)
{
    const char *reason = sg_reason_name(err->reason);

    gw_http_reply_error(req, 400, err->msg[0] != '\0' ? err->msg
                                                      : "invalid envelope",
                        reason != NULL ? reason : "invalid_value",
                        err->path);
}

const char *gw_http_path(struct evhttp_request *req, char *buf, size_t cap)
{
    const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
    const char *p = u != NULL ? evhttp_uri_get_path(u) : NULL;

    snprintf(buf, cap, "%s", p != NULL ? p : "");
    return buf;
}
