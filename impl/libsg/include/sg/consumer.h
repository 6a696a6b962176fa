/*
 * sg/consumer.h: the consumer engine every role reads its stream with.
 *
 * One engine reads one stream through one consumer group, and carries each
 * entry ("job") from the read to its end: acknowledged, left pending for a
 * retry, requeued, or dead-lettered. The inbound consumer (sg/inbound.h),
 * the outbound consumer (sg/outbound.h) and a tools service are this
 * engine with different ops.
 *
 * What the engine does (SPEC sections 14 to 18):
 *   - reads with XREADGROUP ... COUNT n BLOCK ms on a connection of its own
 *     (made with sg_conn_new_like() from opts.conn), never asking for more
 *     than the free capacity of SG_MAX_IN_FLIGHT (SG-IN-001, SG-IN-002);
 *     with opts.order_prefix, it keeps order queues instead: it reads
 *     through a script that runs XREADGROUP without BLOCK and appends each
 *     addressed entry's ID to its channel's order queue, and blocks only in
 *     XREAD BLOCK to learn of new entries (SG-IN-001, SG-IN-023); a begin
 *     waits, as for a busy lock, while an older entry of its channel is
 *     pending at another consumer (SG-IN-006, SG-IN-024); every script
 *     that ends an entry removes it from its queue (SG-IN-025);
 *   - decodes each entry through ops.decode and dead-letters a rejected one
 *     with the codec's reason and path (SG-IN-003);
 *   - asks ops.plan for the entry's lock: entries of one lock key wait in a
 *     local FIFO queue and run one at a time, in read order, while entries
 *     of different keys run concurrently; an entry without a lock key
 *     (a passive message, an RPC) runs at once (SG-IN-004..008);
 *   - takes the lock, checks that the entry is still pending at this
 *     consumer, and, for an outbound entry with a message_key, runs the
 *     double-send guard, in one script (SG-IN-009, SG-OUT-004..011);
 *   - calls ops.handle(job); the role ends the job later with
 *     sg_job_finish(), from any callback of the same loop;
 *   - renews held locks every TTL/3 and fences a job whose lock was lost:
 *     its finish then has no effect (SG-LOCK-002, SG-LOCK-004);
 *   - ends jobs with one script per batch: ownership-checked ack, claim-
 *     attempt cleanup and lock release; failures left pending or
 *     dead-lettered by delivery count; cancellations acked (SG-IN-010..016);
 *   - with opts.wake_prefix (and knobs.lock_wake), a busy begin records
 *     this consumer as the lock's waiter and a third connection keeps a
 *     BLPOP on this consumer's wake list, so that the script that frees
 *     the channel elsewhere wakes it at once; every script that releases
 *     a lock or ends a queued entry wakes that lock's waiter
 *     (SG-LOCK-008/009);
 *   - with order queues, opts.wake_prefix and knobs.hand_over, advertises
 *     a hand list, takes the entries handed to it before reading new
 *     ones, keeps their idle time reset, and hands an entry it reads to
 *     the consumer that holds its channel's older entries (SG-IN-026..028);
 *   - requeues an entry that waited SG_LOCK_WAIT_MS for its lock, or
 *     dead-letters it as lock_timeout past SG_MAX_REQUEUES (SG-IN-014/015);
 *   - resets the idle time of entries held locally for half of
 *     SG_AUTOCLAIM_MIN_IDLE_MS (SG-IN-019);
 *   - sweeps with XAUTOCLAIM every SG_AUTOCLAIM_INTERVAL_MS, carrying the
 *     cursor, counting claims and quarantining (SG-CLAIM-001..009);
 *   - recreates its group on NOGROUP and survives Redis restarts
 *     (SG-TOPO-008, SG-IN-020);
 *   - stops gracefully: no new reads, running jobs drained for up to
 *     SG_DRAIN_MS, unstarted entries left pending (SG-IN-017).
 * It never deletes a consumer (SG-IN-018).
 *
 * Threads: none. Every function runs on the loop of opts.conn.
 */
#ifndef SG_CONSUMER_H
#define SG_CONSUMER_H

#include <stddef.h>
#include <stdint.h>

#include "sg/codec.h"
#include "sg/config.h"
#include "sg/conn.h"
#include "sg/error.h"
#include "sg/log.h"
#include "sg/mem.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sg_consumer sg_consumer;

/* One entry being handled. Owned by the engine; see sg_job_finish(). */
typedef struct sg_job sg_job;

/* ---- ending a job ------------------------------------------------------- */

typedef enum sg_job_status {
    SG_JOB_STATUS_OK = 0,        /* handled: acknowledge */
    SG_JOB_STATUS_FAILED = 1,    /* failed: retry, or dead-letter at the
                                    last delivery */
    SG_JOB_STATUS_CANCELLED = 2  /* cancelled by its user: acknowledge,
                                    no retry, no dead letter (SG-IN-016) */
} sg_job_status;

typedef struct sg_job_result {
    sg_job_status status;
    const char *error;           /* FAILED: what went wrong (copied) */
} sg_job_result;

#define SG_JOB_OK ((sg_job_result){SG_JOB_STATUS_OK, NULL})
#define SG_JOB_FAILED(msg) ((sg_job_result){SG_JOB_STATUS_FAILED, (msg)})
#define SG_JOB_CANCELLED ((sg_job_result){SG_JOB_STATUS_CANCELLED, NULL})

/*
 * Ends a job that ops.handle was given. Call it exactly once per job, from
 * the thread of the loop, inside handle or later. The engine then
 * acknowledges (OK, CANCELLED) or records the failure (FAILED) in one
 * ownership-checked script, unless the job was fenced (its lock was lost),
 * in which case it does nothing and the entry stays pending to be
 * reclaimed. The job is freed: do not use it afterwards. A job whose
 * consumer was freed is only freed. 0, or SG_EINVAL for a job that is not
 * running.
 */
int sg_job_finish(sg_job *job, sg_job_result result);

/*
 * Ends an RPC job: pushes json[0..len) to the list reply_key with a 60 s
 * expiry and acknowledges, in one script, only if the entry is still this
 * consumer's (SG-RPC-002). Same contract as sg_job_finish().
 */
int sg_job_finish_reply(sg_job *job, const char *reply_key, size_t key_len,
                        const char *json, size_t json_len);

/*
 * What an OK finish writes along with its acknowledgement (SG-IN-029):
 * ndata entries `XADD stream MAXLEN ~ <SG_STREAM_MAXLEN> * data <data[i]>
 * ts <ts> trace_id <trace_id>`, in order, then, when list is not NULL,
 * `RPUSH list items...`, `LTRIM list -list_keep -1` and `PEXPIRE list
 * list_ttl_ms`. All of it happens in the script that acknowledges, after
 * the checks of SG-IN-011, or none of it: an entry no longer ours, or
 * whose lock lost our token, is neither acknowledged nor written for.
 *
 * done (may be NULL) gets the outcome once the script answered: 1 written
 * and acknowledged (also when a resend after a lost reply finds the first
 * send did it), 0 not ours or fenced (nothing written; also called at
 * once, from inside sg_job_finish_writes(), for a job already fenced),
 * -1 the call failed (nothing written; the entry stays pending). Not
 * called for a job whose engine is freed first.
 */
typedef struct sg_job_writes {
    const char *stream;
    const sg_str *data;
    size_t ndata;
    const char *ts;
    const char *trace_id;
    const char *list;            /* NULL: no list */
    const sg_str *items;
    size_t nitems;
    long long list_keep;         /* > 0 */
    long long list_ttl_ms;       /* > 0 */
    void (*done)(void *ud, int outcome);
    void *ud;
} sg_job_writes;

/*
 * Ends a handled job as sg_job_finish(job, SG_JOB_OK) does, with the
 * writes of w (copied) in the same script. Same contract as
 * sg_job_finish(); SG_EINVAL also for writes without a stream or data,
 * or a list without a positive keep and TTL.
 */
int sg_job_finish_writes(sg_job *job, const sg_job_writes *w);

/*
 * Records the platform message ID a send returned, before finishing with
 * SG_JOB_OK: for a job whose plan has a message_key, the acknowledgement
 * then also writes it to the hash message_key (SG-OUT-013/014). Copied.
 * 0 or SG_ENOMEM.
 */
int sg_job_set_message_id(sg_job *job, const char *id, size_t len);

/* ---- reading a job ------------------------------------------------------ */

/* The entry ID, NUL-terminated. */
const char *sg_job_id(const sg_job *job);

/* The entry's fields as read; valid while the job lives. */
sg_entry sg_job_entry(const sg_job *job);

/* The value of field `name`, or NULL (with *len unset) when absent. */
const char *sg_job_field(const sg_job *job, const char *name, size_t *len);

/* What ops.decode made of the entry. */
void *sg_job_payload(const sg_job *job);

/* The group's delivery count when the job started (1 on a first read). */
long long sg_job_deliveries(const sg_job *job);

/* Nonzero when the entry came from an autoclaim sweep. */
int sg_job_claimed(const sg_job *job);

/*
 * Nonzero when the job's lock was lost while it ran (SG-LOCK-004): the
 * role should produce no further effects for it (no publish, no platform
 * send) and finish it; the engine will not acknowledge it.
 */
int sg_job_fenced(const sg_job *job);

/* The engine the job belongs to; NULL once it was freed. */
sg_consumer *sg_job_consumer(const sg_job *job);

/* ---- what a role provides ----------------------------------------------- */

/*
 * What a job needs before its handler runs; filled by ops.plan. The
 * strings are copied by the engine before plan returns.
 */
typedef struct sg_job_plan {
    /* The lock key (SG-LOCK-006); NULL: run without a lock. */
    const char *lock_key;
    size_t lock_key_len;
    /*
     * Outbound double-send guard (SG-OUT-008..014): the message_key hash
     * and the claim key. NULL: none.
     */
    const char *message_key;
    size_t message_key_len;
    const char *claim_key;
    size_t claim_key_len;
    /*
     * The entry's order queue (SG-IN-024/025), used only by an engine with
     * opts.order_prefix and only with a lock_key; NULL: none. An entry the
     * read script queued keeps the queue the script named instead.
     */
    const char *order_key;
    size_t order_key_len;
} sg_job_plan;

typedef struct sg_consumer_ops {
    /*
     * Decodes the job's entry (sg_job_entry()). 0 and *payload set (may be
     * NULL), or SG_EDECODE / SG_EINVALID with err->reason and err->path:
     * the entry is then dead-lettered with that reason and path
     * (SG-IN-003). Other codes dead-letter it with reason invalid_value.
     */
    int (*decode)(void *ud, sg_job *job, void **payload, sg_error *err);
    /* Frees a payload decode made; may be NULL. */
    void (*free_payload)(void *ud, void *payload);
    /*
     * Fills *plan (zeroed by the engine) for a decoded job. NULL: every
     * job runs without a lock.
     */
    void (*plan)(void *ud, sg_job *job, sg_job_plan *plan);
    /*
     * Starts handling a job; the role ends it with sg_job_finish() (now or
     * later). Must not free the consumer.
     */
    void (*handle)(void *ud, sg_job *job);
} sg_consumer_ops;

/* ---- the engine --------------------------------------------------------- */

typedef struct sg_consumer_opts {
    sg_conn *conn;               /* commands; may be shared; outlives us */
    const char *stream;          /* copied */
    const char *group;           /* copied */
    const char *consumer;        /* this process's consumer name; copied */
    const char *dlq_stream;      /* copied */
    const char *claim_attempts_key; /* copied */
    int lock_ttl_ms;             /* 0: knobs.lock_ttl_ms */
    /*
     * dlq_reason of a job that failed on its last delivery; a string
     * literal. NULL: "handler_error" (the outbound consumer passes
     * "dispatch_failed").
     */
    const char *fail_reason;
    /*
     * The order-queue prefix (SG_ORDER_PREFIX; copied): read with the
     * order-queue read script and keep order queues (SG-IN-023..025).
     * NULL: plain XREADGROUP BLOCK, no queues (the outbound consumer and
     * tools service; the inbound consumer with SG_ORDER_QUEUES=0).
     */
    const char *order_prefix;
    /*
     * The wake-up prefix (SG_WAKE_PREFIX; copied): ask to be woken when a
     * busy channel may be free, on a connection of its own, and wake the
     * consumers that asked (SG-LOCK-008/009). NULL: neither; the delays
     * of SG-LOCK-005 alone. Used only with knobs.lock_wake. With order
     * queues and knobs.hand_over, also the prefix of the hand-over names
     * (SG-IN-026..028), whatever knobs.lock_wake says.
     */
    const char *wake_prefix;
    sg_knobs knobs;              /* sg_consumer_opts_init: defaults */
    sg_consumer_ops ops;
    void *ud;                    /* passed to every op */
    const sg_log *log;           /* NULL: sg_conn_log(conn) */
    const sg_mem *mem;           /* NULL: sg_conn_mem(conn) */
} sg_consumer_opts;

/* Zeroes opts and sets the knobs to their defaults. */
void sg_consumer_opts_init(sg_consumer_opts *opts);

/*
 * Creates an engine; nothing happens until sg_consumer_start(). *out owns
 * it; free it with sg_consumer_free(). SG_EINVAL (a missing name or op,
 * a knob out of range) or SG_ENOMEM.
 */
int sg_consumer_new(const sg_consumer_opts *opts, sg_consumer **out);

/*
 * Opens the reader connection and starts reading and sweeping. The group
 * should exist (sg_bus_provision()); if it does not, the engine creates it
 * on the first NOGROUP. 0, SG_EINVAL when already started, or SG_ENOMEM.
 */
int sg_consumer_start(sg_consumer *c);

/* Called once when a stop is complete; from the loop, never nested. */
typedef void sg_consumer_done_fn(sg_consumer *c, void *ud);

/*
 * Stops gracefully (SG-IN-017): reading stops at once (the blocking read
 * is cut by closing its connection), entries read but not started are
 * left pending for other consumers, running jobs get up to
 * knobs.drain_ms to finish and are acknowledged as usual, held locks are
 * released; then done (may be NULL) runs. Jobs still running when the
 * drain time is up are fenced and left to their lock's TTL. 0, or
 * SG_EINVAL when not started or already stopping.
 */
int sg_consumer_stop(sg_consumer *c, sg_consumer_done_fn *done, void *ud);

/*
 * Frees the engine at once, from anywhere but inside ops.handle: without
 * a graceful stop, held locks are left to expire and pending entries to
 * be reclaimed. Jobs the role still holds are detached (sg_job_finish()
 * then only frees them). NULL is a no-op.
 */
void sg_consumer_free(sg_consumer *c);

/* Counters (SG-IN-022). */
typedef struct sg_consumer_stats {
    uint64_t read;            /* entries read by XREADGROUP */
    uint64_t claimed;         /* entries taken by autoclaim */
    uint64_t handled;         /* acknowledged after success */
    uint64_t cancelled;       /* acknowledged after a cancellation */
    uint64_t failed;          /* failures (retried or dead-lettered) */
    uint64_t dead_lettered;   /* every dead letter this engine wrote */
    uint64_t quarantined;     /* of which max_claims_exceeded */
    uint64_t requeued;        /* lock-collision requeues */
    uint64_t deleted;         /* reported deleted by XAUTOCLAIM */
    uint64_t lost;            /* not ours any more, or fenced: no effect */
    uint64_t skipped;         /* outbound already sent or duplicate */
    uint64_t lock_busy;       /* lock attempts that found it taken */
    uint64_t idle_resets;     /* XCLAIM JUSTID of locally held entries */
    uint64_t woken;           /* wake-ups that retried a waiting channel */
    uint64_t handed_over;     /* read here and handed to another consumer */
    uint64_t handed_in;       /* taken from this consumer's hand list */
    uint64_t read_pauses;     /* reads skipped: a peer's hand list full */
    uint64_t in_flight;       /* read and not yet ended, now */
    uint64_t max_in_flight_seen; /* the most in flight at any time */
    uint64_t commands;        /* Redis commands this engine sent */
} sg_consumer_stats;

void sg_consumer_get_stats(const sg_consumer *c, sg_consumer_stats *out);

/*
 * Writes a fresh consumer name "<role>-<16 random hex digits>" and a NUL to
 * out, a buffer of cap bytes (SG-TOPO-007: unique among live consumers,
 * never another process's). 0, SG_EINVAL when it does not fit, or SG_EIO.
 */
int sg_consumer_name_make(char *out, size_t cap, const char *role);

/* The consumer name, stream and group. */
const char *sg_consumer_name(const sg_consumer *c);
const char *sg_consumer_stream(const sg_consumer *c);
const char *sg_consumer_group(const sg_consumer *c);

#ifdef __cplusplus
}
#endif

#endif /* SG_CONSUMER_H */
