/*
 * cases.c: the registry, and helpers the cases share.
 */
#define _POSIX_C_SOURCE 200809L

#include "cases.h"

#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const sgc_case *sgc_cases(size_t *n)
{
    static sgc_case *all;
    static size_t count;
    if (all == NULL) {
        count = sgc_worker_ncases + sgc_gateway_ncases;
        all = calloc(count, sizeof *all);
        if (all == NULL) {
            *n = 0;
            return NULL;
        }
        memcpy(all, sgc_worker_cases, sgc_worker_ncases * sizeof *all);
        memcpy(all + sgc_worker_ncases, sgc_gateway_cases,
               sgc_gateway_ncases * sizeof *all);
    }
    *n = count;
    return all;
}

static int is_worker(const sgc_ctx *c)
{
    return strcmp(c->iut->role, "worker") == 0;
}

void sgc_judge(sgc_ctx *c, const sgc_hcheck_opts *o, const sgc_hmap *m)
{
    sgc_hmap d;
    if (is_worker(c))
        d = (sgc_hmap){ "SG-IN-010", "SG-IN-009", "SG-DLQ-007", "SG-IN-005",
                        "SG-IN-004", "SG-OUTENV-006", "SG-IN-021",
                        "SG-DLQ-004", "SG-IN-019" };
    else
        d = (sgc_hmap){ "SG-OUT-014", "SG-OUT-010", "SG-DLQ-007",
                        "SG-OUT-004", "SG-OUT-004", "SG-OUT-009",
                        "SG-OUT-014", "SG-DLQ-004", "SG-OUT-018" };
    sgc_hmap mm = m ? *m : d;
#define DEF(f) if (mm.f == NULL) mm.f = d.f
    DEF(lost); DEF(dup); DEF(unexpected); DEF(order); DEF(overlap);
    DEF(keys); DEF(after_ack); DEF(dlq); DEF(reclaim);
#undef DEF
    sgc_anomaly an[32];
    size_t n = sgc_history_check(&c->hist, o, an, 32);
    int seen[9] = { 0 };
    for (size_t i = 0; i < n && i < 32; i++) {
        const char *req = NULL;
        switch (an[i].kind) {
        case SGC_AN_LOST: req = mm.lost; break;
        case SGC_AN_DUPLICATE: req = mm.dup; break;
        case SGC_AN_UNEXPECTED: req = mm.unexpected; break;
        case SGC_AN_ORDER: req = mm.order; break;
        case SGC_AN_OVERLAP: req = mm.overlap; break;
        case SGC_AN_KEY: req = mm.keys; break;
        case SGC_AN_AFTER_ACK: req = mm.after_ack; break;
        case SGC_AN_DLQ: req = mm.dlq; break;
        case SGC_AN_RECLAIM: req = mm.reclaim; break;
        }
        seen[an[i].kind] = 1;
        sgc_check(c, req, 0, an[i].expected, "%s: %s",
                  sgc_anomaly_name(an[i].kind), an[i].actual);
    }
    if (n > 32)
        sgc_info(c, mm.lost, "%zu anomalies in all, 32 shown", n);
    struct { int kind; const char *req; int on; const char *what; } k[] = {
        { SGC_AN_LOST, mm.lost, 1, "nothing lost" },
        { SGC_AN_DUPLICATE, mm.dup, 1, "nothing delivered twice" },
        { SGC_AN_UNEXPECTED, mm.unexpected, 1, "nothing delivered that "
          "must not be" },
        { SGC_AN_ORDER, mm.order, o->order, "per-channel order kept" },
        { SGC_AN_OVERLAP, mm.overlap, o->overlap, "no overlapping "
          "executions per channel" },
        { SGC_AN_KEY, mm.keys, o->keys, "one send per message_key" },
        { SGC_AN_AFTER_ACK, mm.after_ack, 1, "no execution or delivery "
          "after the ack" },
        { SGC_AN_DLQ, mm.dlq, !o->dlq_ok, "no healthy entry "
          "dead-lettered" },
        { SGC_AN_RECLAIM, mm.reclaim, o->reclaim, "no healthy entry "
          "redelivered" } };
    for (size_t i = 0; i < sizeof k / sizeof k[0]; i++)
        if (k[i].on && !seen[k[i].kind])
            sgc_check(c, k[i].req, 1, k[i].what, "as expected");
}

int sgc_count_kind(const sgc_ctx *c, int kind)
{
    int n = 0;
    for (size_t i = 0; i < c->hist.n; i++)
        n += c->hist.v[i].kind == kind;
    return n;
}

int sgc_pred_settled(sgc_ctx *c, void *ud)
{
    (void)ud;
    for (size_t i = 0; i < c->hist.nt; i++) {
        const sgc_event *p = &c->hist.v[c->hist.t[i].pub];
        if (p->n != SGC_EXPECT_ONCE)
            continue;
        if (sgc_history_count(&c->hist, SGC_EV_DELIVER, p->token) == 0 &&
            sgc_history_count(&c->hist, SGC_EV_DLQ, p->token) == 0)
            return 0;
    }
    return 1;
}

int sgc_pred_delivered(sgc_ctx *c, void *token)
{
    return sgc_history_count(&c->hist, SGC_EV_DELIVER, token) > 0;
}

int sgc_pred_effect(sgc_ctx *c, void *token)
{
    return sgc_history_count(&c->hist, SGC_EV_EFFECT, token) > 0;
}

int sgc_pred_dlq_count(sgc_ctx *c, void *n)
{
    return sgc_count_kind(c, SGC_EV_DLQ) >= *(int *)n;
}

void sgc_tok(sgc_ctx *c, char *out, size_t cap, const char *prefix, int n)
{
    snprintf(out, cap, "%s%d-%d", prefix, n, c->serial);
}

void sgc_owner_of(sgc_ctx *c, const char *stream, const char *group,
                  const char *id, char *out, size_t cap)
{
    out[0] = '\0';
    redisReply *r = sgc_cmd(c, "XPENDING %s %s %s %s 1", stream, group, id,
                            id);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        snprintf(out, cap, "%s", r->element[0]->element[1]->str);
    if (r)
        freeReplyObject(r);
}

long long sgc_deliveries_of(sgc_ctx *c, const char *stream,
                            const char *group, const char *id)
{
    long long n = 0;
    redisReply *r = sgc_cmd(c, "XPENDING %s %s %s %s 1", stream, group, id,
                            id);
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        n = r->element[0]->element[3]->integer;
    if (r)
        freeReplyObject(r);
    return n;
}

/* ---- MONITOR scan ------------------------------------------------------------ */

static int starts(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int is_hex_token(const char *s, size_t n)
{
    if (n < 32)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

static void note(char *buf, size_t cap, const sgc_mon_cmd *m)
{
    if (buf[0])
        return;
    size_t off = 0;
    for (int i = 0; i < m->argc && off + 2 < cap; i++) {
        int n = snprintf(buf + off, cap - off, "%s%s", i ? " " : "",
                         m->argv[i]);
        if (n < 0)
            break;
        off += (size_t)n;
    }
}

static int scan_cmd(const sgc_mon_cmd *m, sgc_monstats *s);

static int scan_one(const sgc_mon_cmd *m, void *ud)
{
    sgc_monstats *s = ud;
    int get = m->lua && sgc_mon_is(m, 0, "GET") && m->argc == 2;
    int rc = scan_cmd(m, s);
    if (get)
        snprintf(s->last_lua_get, sizeof s->last_lua_get, "%s", m->argv[1]);
    else if (m->lua)
        s->last_lua_get[0] = '\0';
    return rc;
}

static int scan_cmd(const sgc_mon_cmd *m, sgc_monstats *s)
{
    char lockp[SGC_NAME_MAX + 2], claimp[SGC_NAME_MAX + 2];
    snprintf(lockp, sizeof lockp, "%s:", s->lock_prefix);
    snprintf(claimp, sizeof claimp, "%s:",
             s->claim_prefix ? s->claim_prefix : "\x01");
    if (sgc_mon_is(m, 0, "XGROUP") && sgc_mon_is(m, 1, "CREATE") &&
        m->argc >= 4) {
        if (strcmp(m->argv[2], s->stream) == 0 &&
            strcmp(m->argv[3], s->group) == 0) {
            int ok = m->argc >= 6 && strcmp(m->argv[4], "$") == 0 &&
                     sgc_mon_is(m, 5, "MKSTREAM");
            if (ok)
                s->create_ok++;
            else
                note(s->bad_create, sizeof s->bad_create, m);
        } else {
            note(s->foreign_group, sizeof s->foreign_group, m);
        }
    } else if (sgc_mon_is(m, 0, "XGROUP") &&
               sgc_mon_is(m, 1, "DELCONSUMER")) {
        s->delconsumer++;
    } else if (sgc_mon_is(m, 0, "XREADGROUP")) {
        /* XREADGROUP GROUP g c [COUNT n] [BLOCK ms] [NOACK] STREAMS s id */
        int count = 0, block = 0, streams = -1;
        for (int i = 3; i < m->argc; i++) {
            if (sgc_mon_is(m, i, "COUNT"))
                count = 1;
            else if (sgc_mon_is(m, i, "BLOCK"))
                block = 1;
            else if (sgc_mon_is(m, i, "STREAMS")) {
                streams = i;
                break;
            }
        }
        if (streams > 0 && streams + 2 < m->argc &&
            strcmp(m->argv[streams + 1], s->stream) == 0) {
            /* BLOCK outside scripts; a worker keeping order queues reads
             * without BLOCK inside its read script (SG-IN-001, 023). */
            int ok = sgc_mon_is(m, 1, "GROUP") &&
                     strcmp(m->argv[2], s->group) == 0 && count &&
                     (block || m->lua) &&
                     strcmp(m->argv[streams + 2], ">") == 0;
            if (m->lua && !block)
                s->xrg_script++;
            if (ok)
                s->xrg_ok++;
            else {
                s->xrg_bad++;
                note(s->bad_xrg, sizeof s->bad_xrg, m);
            }
        }
    } else if (sgc_mon_is(m, 0, "SET") && m->argc >= 3 &&
               starts(m->argv[1], lockp)) {
        int nx = 0, px = -1;
        for (int i = 3; i < m->argc; i++) {
            if (sgc_mon_is(m, i, "NX"))
                nx = 1;
            else if (sgc_mon_is(m, i, "PX") && i + 1 < m->argc)
                px = atoi(m->argv[i + 1]);
        }
        /* SET NX, or inside a script a SET right after a GET of the same
         * key (an atomic check-and-set, equivalent to NX). */
        int cas = m->lua && strcmp(s->last_lua_get, m->argv[1]) == 0;
        if (strcmp(m->argv[2], "stranger-token") == 0)
            return 0;   /* the runner's own stranger */
        s->lock_attempts++;
        if ((nx || cas) && px == s->lock_ttl &&
            is_hex_token(m->argv[2], m->lens[2]))
            s->lock_ok++;
        else if (nx || !m->lua || cas) {
            s->lock_bad++;
            note(s->bad_lock, sizeof s->bad_lock, m);
        }
    } else if ((sgc_mon_is(m, 0, "DEL") || sgc_mon_is(m, 0, "UNLINK")) &&
               !m->lua) {
        for (int i = 1; i < m->argc; i++)
            if (starts(m->argv[i], lockp)) {
                s->lock_del_plain++;
                note(s->bad_del, sizeof s->bad_del, m);
            }
    } else if (sgc_mon_is(m, 0, "XACK") && m->argc >= 3 &&
               strcmp(m->argv[1], s->stream) == 0) {
        if (m->lua)
            s->xack_script++;
        else
            s->xack_plain++;
    } else if (sgc_mon_is(m, 0, "XAUTOCLAIM") && m->argc >= 6 &&
               strcmp(m->argv[1], s->stream) == 0) {
        int ok = strcmp(m->argv[2], s->group) == 0 &&
                 atoi(m->argv[4]) == s->min_idle;
        if (ok)
            s->xac_ok++;
        else {
            s->xac_bad++;
            note(s->bad_xac, sizeof s->bad_xac, m);
        }
    } else if (sgc_mon_is(m, 0, "RPUSH") && m->argc >= 3 && s->order_prefix &&
               starts(m->argv[1], s->order_prefix)) {
        if (m->lua)
            s->order_push_script++;
        else
            s->order_push_plain++;
    } else if (sgc_mon_is(m, 0, "HINCRBY") && m->argc >= 4 &&
               strcmp(m->argv[1], s->attempts) == 0) {
        s->hincr++;
    } else if (sgc_mon_is(m, 0, "SET") && m->argc >= 3 &&
               s->claim_prefix && starts(m->argv[1], claimp)) {
        int nx = 0, px = -1;
        for (int i = 3; i < m->argc; i++) {
            if (sgc_mon_is(m, i, "NX"))
                nx = 1;
            else if (sgc_mon_is(m, i, "PX") && i + 1 < m->argc)
                px = atoi(m->argv[i + 1]);
        }
        unsigned long long a, b;
        if (nx && px == s->claim_ttl && sgc_parse_id(m->argv[2], &a, &b) == 0)
            s->claim_ok++;
        else {
            s->claim_bad++;
            note(s->bad_claim, sizeof s->bad_claim, m);
        }
    }
    return 0;
}

void sgc_monitor_scan(sgc_ctx *c, sgc_monstats *s)
{
    const char *stream = s->stream, *group = s->group;
    const char *lockp = s->lock_prefix, *att = s->attempts;
    const char *claim = s->claim_prefix, *order = s->order_prefix;
    int lt = s->lock_ttl, mi = s->min_idle, ct = s->claim_ttl;
    memset(s, 0, sizeof *s);
    s->stream = stream;
    s->group = group;
    s->lock_prefix = lockp;
    s->attempts = att;
    s->claim_prefix = claim;
    s->order_prefix = order;
    s->lock_ttl = lt;
    s->min_idle = mi;
    s->claim_ttl = ct;
    sgc_monitor_each(c, scan_one, s);
}

void sgc_worker_endstate(sgc_ctx *c)
{
    sgc_endstate e = { c->n.inbound, c->n.worker_group, c->n.lock_prefix,
                       c->n.attempts, NULL, "SG-IN-010", 10000 };
    sgc_check_endstate(c, &e);
    if (sgc_iut_has_cap(c->iut, "order-queues")) {
        char p[SGC_NAME_MAX + 2];
        snprintf(p, sizeof p, "%s:", c->n.order_prefix);
        long long n = sgc_count_keys(c, p);
        sgc_check(c, "SG-IN-025", n == 0,
                  "no order queue left once every entry is settled",
                  "%lld order-queue keys under %s", n, p);
    }
}

void sgc_gateway_endstate(sgc_ctx *c)
{
    char lp[SGC_NAME_MAX + 8];
    snprintf(lp, sizeof lp, "%s:http", c->n.olock_prefix);
    sgc_endstate e = { c->n.outbound, c->n.gateway_group, lp,
                       c->n.oattempts, c->n.claim_prefix, "SG-OUT-014",
                       10000 };
    sgc_check_endstate(c, &e);
}

int sgc_hold_entries(sgc_ctx *c, const char *stream, const char *group,
                     const char *who, const char *const *ids, int n,
                     int ms)
{
    long long end = sgc_now_ms() + sgc_ms(c, ms), last = 0;
    int taken = 0;
    unsigned char *lost = calloc((size_t)n, 1);
    while (sgc_now_ms() < end && lost) {
        if (sgc_now_ms() - last >= sgc_ms(c, 250)) {
            for (int i = 0; i < n; i++) {
                if (lost[i])
                    continue;
                char owner[96];
                sgc_owner_of(c, stream, group, ids[i], owner, sizeof owner);
                if (strcmp(owner, who) != 0) {
                    /* Not pending any more is acknowledged, not taken. */
                    lost[i] = 1;
                    taken += owner[0] != '\0';
                    continue;
                }
                redisReply *r = sgc_cmd(c, "XCLAIM %s %s %s 0 %s JUSTID",
                                        stream, group, who, ids[i]);
                if (r)
                    freeReplyObject(r);
            }
            last = sgc_now_ms();
        }
        sgc_observe(c);
        sgc_sleep_ms(25);
    }
    free(lost);
    return taken;
}
