/*
 * worker.h: the inference worker (the `worker` role of SPEC section 1) as
 * an object on the caller's libevent loop, so that sg-inference's main()
 * and the tests run exactly the same code.
 *
 * It reads the inbound stream with libsg's inbound consumer (locks,
 * acknowledgement, dead letters and autoclaim are libsg's), rebuilds each
 * message (SG-INENV-003), keeps a bounded per-channel history in Redis,
 * asks the gateway for a channel's history over RPC when it has none,
 * calls the LLM, and publishes start_typing, the reply and stop_typing on
 * the platform's outbound stream. It also holds the status lease
 * (SG-LEASE-001/002/007), reloads its LLM configuration on the
 * configuration event (SG-CFG-001..003), serves /healthz and /metrics, and
 * stops gracefully (SG-IN-017).
 */
#ifndef SGI_WORKER_H
#define SGI_WORKER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sg/config.h"
#include "sg/log.h"

struct event_base;

typedef struct sgi_worker sgi_worker;

typedef struct sgi_worker_opts {
    struct event_base *base;
    sg_lookup_fn *lookup;       /* the environment; getenv-like */
    void *lookup_ud;
    const char *prog;           /* "sg-inference": names, banner lines */
    FILE *banner;               /* "metrics at" and "ready" lines; NULL:
                                   none */
    const sg_log *log;          /* NULL: stderr, info */
} sgi_worker_opts;

/*
 * Reads the configuration and creates the worker (nothing runs before
 * sgi_worker_start()). 0 and *out; 2 for a configuration error, 1 for
 * another failure, with err naming the variable and the limit.
 */
int sgi_worker_new(const sgi_worker_opts *opts, sgi_worker **out, char *err,
                   size_t errcap);

/*
 * Connects, opens the metrics endpoint, creates the worker group and
 * starts reading. 0, or 1 with err (e.g. the metrics port is taken).
 */
int sgi_worker_start(sgi_worker *w, char *err, size_t errcap);

typedef void sgi_worker_done_fn(sgi_worker *w, void *ud);

/*
 * Graceful stop (SG-IN-017): stops reading at once, lets running
 * handlings finish for up to SG_DRAIN_MS, releases the status lease, then
 * calls done (once, from the loop). A second call does nothing.
 */
void sgi_worker_stop(sgi_worker *w, sgi_worker_done_fn *done, void *ud);

/* Frees the worker at once; see sgi_worker_stop() for a graceful end. */
void sgi_worker_free(sgi_worker *w);

/* Nonzero once the consumer reads (the "ready" line). */
int sgi_worker_ready(const sgi_worker *w);

/* The metrics port; 0 when off or not started. */
int sgi_worker_metrics_port(const sgi_worker *w);

typedef struct sgi_worker_stats {
    uint64_t handled, failed, dead_lettered, claimed, in_flight;
    uint64_t llm_requests, llm_connections, llm_errors, replies, passive;
    uint64_t history_fetches, config_reloads, config_errors;
    /* Redis commands sent over every connection of the worker. */
    uint64_t redis_commands;
    /* Replies withheld: the entry was no longer this consumer's. */
    uint64_t fenced;
    /* Entries handed to other consumers, and taken from this one's hand
       list (SG-IN-026/027); begins that found the channel busy, and
       wake-ups that retried one (SG-LOCK-008). */
    uint64_t handed_over, handed_in, lock_busy, woken;
    int lease_held;
} sgi_worker_stats;

void sgi_worker_get_stats(const sgi_worker *w, sgi_worker_stats *out);

/* The model in use now. */
const char *sgi_worker_model(const sgi_worker *w);

#endif /* SGI_WORKER_H */
