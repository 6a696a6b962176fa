/*
 * history.h: what a conformance case observed, and the history oracle.
 *
 * A history is a list of events in the order the runner learnt of them:
 * what the runner published, each execution it saw start (a request to
 * the mock LLM, a call to the mock platform), each result delivered (an
 * outbound message on the stream, a successful platform send), each dead
 * letter, each acknowledgement and each pending-list sample. The checker
 * reads it with no knowledge of Redis or processes, so that it can be fed
 * synthetic histories in tests (tests/test_history.c): every anomaly it
 * looks for is shown there to be found.
 */
#ifndef SGC_HISTORY_H
#define SGC_HISTORY_H

#include <stddef.h>

typedef enum sgc_ev_kind {
    SGC_EV_PUBLISH,     /* the runner published token on channel */
    SGC_EV_EFFECT,      /* an execution for token started (and ended) */
    SGC_EV_DELIVER,     /* the result of token was delivered */
    SGC_EV_DLQ,         /* entry_id was dead-lettered, detail = reason */
    SGC_EV_ACK,         /* entry_id left the pending list after delivery */
    SGC_EV_PENDING      /* entry_id seen pending, n = delivery count */
} sgc_ev_kind;

/* What the runner expects of a published token. */
#define SGC_EXPECT_ONCE 1       /* delivered exactly once */
#define SGC_EXPECT_NONE 0       /* never delivered */
#define SGC_EXPECT_ANY (-1)     /* at most once; may be dead-lettered */

typedef struct sgc_event {
    int kind;
    long long t_ms;         /* when it happened (best known upper bound
                               for ACK: the poll that saw it) */
    long long t_end_ms;     /* EFFECT: when it ended at the latest; 0 if
                               unknown */
    char channel[96];
    char token[48];
    char entry_id[48];
    char key[160];          /* DELIVER: message_key */
    char detail[64];        /* DLQ: reason; DELIVER: op; PENDING: owner */
    int n;                  /* PUBLISH: SGC_EXPECT_*; PENDING: deliveries */
} sgc_event;

/* An entry the runner published, for the pending-list observer. */
typedef struct sgc_tracked {
    unsigned long long ms, seq;
    size_t pub;             /* index of its PUBLISH event */
    int acked;
    int max_deliveries;
    char owner[96];
} sgc_tracked;

typedef struct sgc_history {
    sgc_event *v;
    size_t n, cap;
    sgc_tracked *t;         /* sorted by entry ID */
    size_t nt, tcap;
} sgc_history;

void sgc_history_init(sgc_history *h);
void sgc_history_free(sgc_history *h);
/* Appends; returns the new event's index or (size_t)-1 on ENOMEM. */
size_t sgc_history_add(sgc_history *h, int kind, long long t_ms,
                       const char *channel, const char *token,
                       const char *entry_id, const char *key,
                       const char *detail, int n);
/* Tracks a published entry (IDs must come in increasing order). */
int sgc_history_track(sgc_history *h, const char *entry_id, size_t pub);
sgc_tracked *sgc_history_find(sgc_history *h, const char *entry_id);
/* Parses "<ms>-<seq>"; 0 or -1. */
int sgc_parse_id(const char *id, unsigned long long *ms,
                 unsigned long long *seq);
/* Finds "tok=<token>" in text and copies the token; 0 or -1. */
int sgc_token_of(const char *text, char *token, size_t cap);
/* Channel of a token from the PUBLISH events, or NULL. */
const char *sgc_history_channel_of(const sgc_history *h, const char *token);

typedef enum sgc_anomaly_kind {
    SGC_AN_LOST,        /* expected once, never delivered nor parked */
    SGC_AN_DUPLICATE,   /* delivered more than once */
    SGC_AN_UNEXPECTED,  /* delivered though it must not be */
    SGC_AN_ORDER,       /* per-channel delivery order broken */
    SGC_AN_OVERLAP,     /* two executions of one channel overlapped */
    SGC_AN_KEY,         /* more than one delivery per message_key */
    SGC_AN_AFTER_ACK,   /* executed or delivered after its ack */
    SGC_AN_DLQ,         /* a healthy entry was dead-lettered */
    SGC_AN_RECLAIM      /* a healthy entry was delivered more than once
                           by the group (reclaimed) */
} sgc_anomaly_kind;

const char *sgc_anomaly_name(int kind);

typedef struct sgc_anomaly {
    int kind;
    char token[48];
    char channel[96];
    char expected[256];
    char actual[512];
} sgc_anomaly;

typedef struct sgc_hcheck_opts {
    int order;          /* check per-channel order of deliveries */
    int overlap;        /* check executions of one channel never overlap */
    int keys;           /* at most one delivery per message_key */
    int reclaim;        /* a healthy entry is never redelivered */
    int dlq_ok;         /* dead-lettering an ONCE token is allowed */
    long long slack_ms; /* clock tolerance for after-ack and overlap */
    int dup_same_key_ok;/* at-least-once: a token delivered again is fine
                           when every delivery carries the same
                           message_key (the gateway sends it once) */
} sgc_hcheck_opts;

/*
 * Runs every check the options ask for (lost, duplicate and unexpected
 * deliveries and after-ack effects always). Writes up to max anomalies,
 * returns how many were found in all.
 */
size_t sgc_history_check(const sgc_history *h, const sgc_hcheck_opts *o,
                         sgc_anomaly *out, size_t max);

/* Counts of a token: deliveries, effects, dead letters. */
int sgc_history_count(const sgc_history *h, int kind, const char *token);

#endif /* SGC_HISTORY_H */
