/*
 * llm.h: calls to an OpenAI-compatible chat.completions endpoint through
 * libcurl's multi interface, driven by the caller's libevent loop
 * (curl_multi_socket_action): many calls in flight, no threads, and the
 * multi handle's connection cache reuses connections between calls.
 *
 * A call is one POST, retried when the answer is HTTP 429 or 5xx, after a
 * delay that starts at opts.backoff_min_ms and doubles up to
 * opts.backoff_max_ms (with jitter), or after the answer's Retry-After
 * seconds when it gives them, capped at opts.retry_after_max_ms; at most
 * max_retries retries. Any other failure (a transport error, a timeout,
 * another status, a body that is not a usable reply) ends the call at
 * once. Bodies are bounded (SGI_LLM_REPLY_MAX_BYTES).
 */
#ifndef SGI_LLM_H
#define SGI_LLM_H

#include <stddef.h>

#include "sg/log.h"

#include "llm_reply.h"

struct event_base;

typedef struct sgi_llm sgi_llm;
typedef struct sgi_llm_call sgi_llm_call;

/*
 * After every attempt: its HTTP status (0 when there was none: a transport
 * error or timeout), how long it took, and how many new connections it
 * opened (0 when it reused one). For metrics.
 */
typedef void sgi_llm_attempt_fn(long status, double seconds,
                                long new_connections, void *ud);

typedef struct sgi_llm_opts {
    int backoff_min_ms;         /* 0: 200 */
    int backoff_max_ms;         /* 0: 5000 */
    int retry_after_max_ms;     /* 0: 30000 */
    long max_connections;       /* per host; 0: 64 */
    sgi_llm_attempt_fn *on_attempt;
    void *ud;
    const sg_log *log;
} sgi_llm_opts;

typedef struct sgi_llm_request {
    const char *url;            /* the full URL; copied */
    const char *api_key;        /* "" or NULL: no Authorization; copied */
    const char *body;           /* JSON; copied */
    size_t body_len;
    int timeout_ms;             /* per attempt */
    int max_retries;
    const char *log_id;         /* for log lines (entry id); copied */
} sgi_llm_request;

typedef struct sgi_llm_result {
    int ok;                     /* reply parsed */
    const sgi_llm_reply *reply; /* when ok; borrowed for the callback */
    long status;                /* the last HTTP status; 0: none */
    const char *error;          /* when not ok: what failed */
    int attempts;
    double seconds;             /* from the start to the end of the call */
} sgi_llm_result;

/* The call's end; the call is freed after this returns. */
typedef void sgi_llm_fn(const sgi_llm_result *res, void *ud);

/* 0 and *out, or -1 (no memory, curl refused). */
int sgi_llm_new(struct event_base *base, const sgi_llm_opts *opts,
                sgi_llm **out);

/*
 * Frees the client; calls in flight are cancelled without their callbacks.
 * Not from inside a callback of this client. NULL is a no-op.
 */
void sgi_llm_free(sgi_llm *llm);

/*
 * Starts a call. 0 and *out (may be NULL): fn runs once, from the loop,
 * never from inside this function. -1: fn never runs.
 */
int sgi_llm_start(sgi_llm *llm, const sgi_llm_request *rq, sgi_llm_fn *fn,
                 void *ud, sgi_llm_call **out);

/* Cancels a call: its callback will not run. */
void sgi_llm_cancel(sgi_llm_call *call);

/* Calls in flight (including those waiting to retry). */
size_t sgi_llm_pending(const sgi_llm *llm);

/*
 * The delay in ms that a Retry-After header asks for. value is the
 * field's len bytes after the colon (any bytes, NULs included; no NUL
 * needed after them). It must be delta-seconds (RFC 9110: 1*DIGIT)
 * between optional spaces and tabs, and, after it, the line's CR LF:
 * leading zeros do not count, and 10^9 seconds or more read as
 * 999999999. The answer is those seconds times 1000, at most max_ms (a
 * negative max_ms counts as 0), so 0 .. min(max_ms, 999999999000). -1
 * for anything else: an empty or signed value, a fraction, trailing
 * text, an HTTP-date (not honoured): the caller then backs off as with no
 * header.
 */
long sgi_retry_after_ms(const char *value, size_t len, long max_ms);

/*
 * libcurl is loaded (dlopen) and set up (curl_global_init) at the first
 * call, once per process; this is curl_global_cleanup() when that
 * happened. For the end of main, after every client is freed.
 */
void sgi_llm_global_cleanup(void);

#endif /* SGI_LLM_H */
