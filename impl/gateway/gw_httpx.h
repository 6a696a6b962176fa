/*
 * gw_httpx.h: small helpers around libevent's evhttp shared by the
 * gateway's listeners (metrics, webchat, http platform).
 */
#ifndef GW_HTTPX_H
#define GW_HTTPX_H

#include <stddef.h>

#include "sg/error.h"

#include "gw_config.h"

struct event_base;
struct evhttp;
struct evhttp_request;

/* Largest request body any listener takes (bigger: 413 by libevent). */
#define GW_MAX_BODY (1024 * 1024)

/*
 * A new evhttp on base bound to l (port 0: ephemeral), with the body and
 * header limits set and cb as its generic callback. 0 and *out, *port
 * (the bound port), or -1 with a message in err.
 */
int gw_http_listen(struct event_base *base, const gw_listen *l,
                   void (*cb)(struct evhttp_request *, void *), void *ud,
                   struct evhttp **out, int *port, char *err, size_t cap);

/* The host to print in a banner for l: 127.0.0.1 for a wildcard. */
const char *gw_banner_host(const gw_listen *l);

/*
 * The request body as a NUL-terminated copy (*len without the NUL) in
 * *out, to be freed with free(). 0, or -1 (out of memory).
 */
int gw_http_body(struct evhttp_request *req, char **out, size_t *len);

/* Replies code with body[0..len) and the content type. */
void gw_http_reply(struct evhttp_request *req, int code,
                   const char *content_type, const char *body, size_t len);

/* Replies code with a JSON body: {"error": msg} (reason/path when set). */
void gw_http_reply_error(struct evhttp_request *req, int code,
                         const char *msg, const char *reason,
                         const char *path);

/* 400 from a codec error: {"error", "reason", "path"}. */
void gw_http_reply_sg_error(struct evhttp_request *req, const sg_error *err);

/* The request path without the query; "" when unknown. Static buffer. */
const char *gw_http_path(struct evhttp_request *req, char *buf, size_t cap);

#endif /* GW_HTTPX_H */
