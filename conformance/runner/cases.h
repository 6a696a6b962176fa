/*
 * cases.h: helpers shared by the worker and gateway cases.
 */
#ifndef SGC_CASES_H
#define SGC_CASES_H

#include "conform.h"

/* Requirement per anomaly of the history checker; NULL: role default. */
typedef struct sgc_hmap {
    const char *lost, *dup, *unexpected, *order, *overlap, *keys,
        *after_ack, *dlq, *reclaim;
} sgc_hmap;

/* Runs the history oracle and records a finding per anomaly (and one
 * passing finding per requirement checked clean). */
void sgc_judge(sgc_ctx *c, const sgc_hcheck_opts *o, const sgc_hmap *m);

/* Predicates for sgc_wait. */
int sgc_pred_settled(sgc_ctx *c, void *ud);     /* every ONCE token done */
int sgc_pred_delivered(sgc_ctx *c, void *token);
int sgc_pred_effect(sgc_ctx *c, void *token);   /* an execution started */
int sgc_pred_dlq_count(sgc_ctx *c, void *n);    /* >= *(int *)n letters */

int sgc_count_kind(const sgc_ctx *c, int kind);

/* What the MONITOR log shows of the IUT's use of Redis. */
typedef struct sgc_monstats {
    const char *stream, *group, *lock_prefix, *attempts, *claim_prefix;
    const char *order_prefix;   /* "<prefix>:" or NULL */
    int xrg_script;             /* reads without BLOCK inside a script */
    int order_push_script, order_push_plain;
    int lock_ttl, min_idle, claim_ttl;
    int create_ok;
    char bad_create[256];
    int xrg_ok, xrg_bad;
    char bad_xrg[256];
    int lock_ok, lock_bad;
    char bad_lock[256];
    int lock_del_plain;
    char bad_del[256];
    int xack_script, xack_plain;
    int xac_ok, xac_bad;
    char bad_xac[256];
    int hincr;
    int claim_ok, claim_bad;
    char bad_claim[256];
    long lock_attempts;
    char last_lua_get[SGC_NAME_MAX + 64];
    int delconsumer;
    char foreign_group[256];
} sgc_monstats;

void sgc_monitor_scan(sgc_ctx *c, sgc_monstats *s);

/* The worker's Redis end state. */
void sgc_worker_endstate(sgc_ctx *c);
void sgc_gateway_endstate(sgc_ctx *c);

/* Deterministic token: <prefix><n> with the case serial mixed in. */
void sgc_tok(sgc_ctx *c, char *out, size_t cap, const char *prefix, int n);

/* Owner (consumer) of a pending entry; "" if not pending. */
void sgc_owner_of(sgc_ctx *c, const char *stream, const char *group,
                  const char *id, char *out, size_t cap);
/* Delivery count of a pending entry; 0 if not pending. */
long long sgc_deliveries_of(sgc_ctx *c, const char *stream,
                            const char *group, const char *id);

/*
 * Plays a live consumer `who` holding the entries ids[0..n) for ms
 * (scaled): refreshes their idle time every 250 ms (XCLAIM ... JUSTID) as
 * long as they are still its own, observing meanwhile. Returns the number
 * of entries that another consumer took from it (a reclaim of entries
 * younger than the min-idle time).
 */
int sgc_hold_entries(sgc_ctx *c, const char *stream, const char *group,
                     const char *who, const char *const *ids, int n,
                     int ms);

#endif /* SGC_CASES_H */
