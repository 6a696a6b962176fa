/*
 * gw_curl.h: HTTP POSTs through libcurl's multi interface driven by a
 * libevent loop (curl_multi_socket_action with one event per socket and
 * one timer), so many requests are in flight at once without threads.
 * Connections are kept alive and reused by the multi handle: it keeps as
 * many as calls may run at once (gw_curl_set_max_connections()), so a
 * steady stream of calls opens no new ones.
 */
#ifndef GW_CURL_H
#define GW_CURL_H

#include <stddef.h>
#include <stdint.h>

struct event_base;

typedef struct gw_curl gw_curl;
typedef struct gw_curl_req gw_curl_req;

/* Largest response body kept; the rest is dropped (and flagged). */
#define GW_CURL_MAX_RESPONSE (64 * 1024)

/* Connections kept alive (and per host), and its bounds. */
#define GW_CURL_DEFAULT_CONNECTIONS 64L
#define GW_CURL_MIN_CONNECTIONS 16L
#define GW_CURL_MAX_CONNECTIONS 256L

/*
 * A request's outcome: error NULL and the HTTP status with the body
 * (NUL-terminated, cut at GW_CURL_MAX_RESPONSE), or error set (connection
 * failure, timeout) and status 0. Valid during the call.
 */
typedef void gw_curl_done_fn(void *ud, const char *error, long status,
                             const char *body, size_t len);

/*
 * NULL on failure. libcurl itself (curl_global_init(), the multi handle)
 * is set up at the first request.
 */
gw_curl *gw_curl_new(struct event_base *base);

/*
 * curl_global_cleanup() when a request ever set libcurl up; for the end
 * of main, after every gw_curl is freed.
 */
void gw_curl_global_cleanup(void);

/*
 * libcurl is loaded (dlopen) at the first request, so that a gateway
 * that makes none does not carry it. Why that failed (then every request
 * fails), or NULL.
 */
const char *gw_curl_setup_error(void);

/*
 * At most n connections (clamped to GW_CURL_MIN_CONNECTIONS..
 * GW_CURL_MAX_CONNECTIONS) open at once, each kept alive for reuse; a
 * request beyond them waits in the multi handle for one to come free.
 */
void gw_curl_set_max_connections(gw_curl *c, long n);

/* Cancels every request (no callbacks) and frees. NULL is a no-op. */
void gw_curl_free(gw_curl *c);

/*
 * Starts a request: method "POST" (body sent as application/json),
 * "GET" or "DELETE" (body NULL). body is copied. done runs once from the
 * loop, never from inside this call. 0 and *out (may be NULL), or -1.
 */
int gw_curl_request(gw_curl *c, const char *method, const char *url,
                    const char *body, size_t len, long timeout_ms,
                    gw_curl_done_fn *done, void *ud, gw_curl_req **out);

/* Cancels one request: its callback never runs. */
void gw_curl_cancel(gw_curl_req *r);

/* Requests in flight. */
size_t gw_curl_pending(const gw_curl *c);

/* Requests started, and connections opened for them (the rest reused). */
uint64_t gw_curl_requests(const gw_curl *c);
uint64_t gw_curl_connections(const gw_curl *c);

#endif /* GW_CURL_H */
