/*
 * cases_gateway.c: cases for the gateway role. The implementation serves
 * the `http` platform: its adapter calls reach the runner's mock platform,
 * and the runner plays the workers (outbound envelopes, RPC requests) and
 * the platform's users (POST /messages).
 */
#define _POSIX_C_SOURCE 200809L

#include "cases.h"

#include "sg/codec.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static sgc_hcheck_opts gw_opts(void)
{
    sgc_hcheck_opts o = { 1, 1, 1, 0, 0, 5, 0 };
    return o;
}

static void gw_monitor(sgc_ctx *c, int want_claims)
{
    char lp[SGC_NAME_MAX + 8];
    snprintf(lp, sizeof lp, "%s:http", c->n.olock_prefix);
    sgc_monstats s;
    memset(&s, 0, sizeof s);
    s.stream = c->n.outbound;
    s.group = c->n.gateway_group;
    s.lock_prefix = lp;
    s.attempts = c->n.oattempts;
    s.claim_prefix = c->n.claim_prefix;
    s.lock_ttl = c->k.olock_ttl_ms;
    s.min_idle = c->k.autoclaim_min_idle_ms;
    s.claim_ttl = c->k.oclaim_ttl_ms;
    sgc_monitor_scan(c, &s);
    sgc_check(c, "SG-TOPO-004", s.create_ok > 0 && !s.bad_create[0],
              "XGROUP CREATE <outbound:http> <gateway group:http> $ "
              "MKSTREAM", "%d well-formed creates; other: %s", s.create_ok,
              s.bad_create[0] ? s.bad_create : "none");
    sgc_check(c, "SG-OUT-001", s.xrg_ok > 0 && s.xrg_bad == 0,
              "XREADGROUP GROUP <gateway group:http> <consumer> COUNT n "
              "BLOCK ms STREAMS <outbound:http> >",
              "%d conforming reads, %d others (first: %s)", s.xrg_ok,
              s.xrg_bad, s.bad_xrg[0] ? s.bad_xrg : "none");
    sgc_check(c, "SG-LOCK-006", s.lock_ok > 0 && s.lock_bad == 0,
              "outbound locks {SG_OUTBOUND_LOCK_PREFIX}:http:{channel_id} "
              "taken with a >= 128-bit hex token and PX "
              "SG_OUTBOUND_LOCK_TTL_MS",
              "%d conforming lock SETs, %d others (first: %s)", s.lock_ok,
              s.lock_bad, s.bad_lock[0] ? s.bad_lock : "none");
    sgc_check(c, "SG-LOCK-003", s.lock_del_plain == 0,
              "locks released by compare-and-delete, never a plain DEL",
              "%d plain DEL (first: %s)", s.lock_del_plain,
              s.bad_del[0] ? s.bad_del : "none");
    sgc_check(c, "SG-OUT-009", s.claim_ok > 0 && s.claim_bad == 0,
              "claim keys taken with SET {claim prefix}:{message_key} "
              "<entry id> NX PX SG_OUTBOUND_CLAIM_TTL_MS",
              "%d conforming claim SETs, %d others (first: %s)", s.claim_ok,
              s.claim_bad, s.bad_claim[0] ? s.bad_claim : "none");
    sgc_check(c, "SG-OUT-014", s.xack_plain == 0 && s.xack_script > 0,
              "acknowledgement, write-back and cleanup in one atomic step",
              "%d XACK in scripts, %d outside", s.xack_script, s.xack_plain);
    if (want_claims) {
        sgc_check(c, "SG-OUT-015", s.xac_ok > 0 && s.xac_bad == 0,
                  "XAUTOCLAIM on the outbound stream with "
                  "SG_AUTOCLAIM_MIN_IDLE_MS",
                  "%d conforming sweeps, %d others (first: %s)", s.xac_ok,
                  s.xac_bad, s.bad_xac[0] ? s.bad_xac : "none");
        sgc_check(c, "SG-CLAIM-008", s.xac_ok > 0,
                  "the gateway sweeps the stream it consumes",
                  "%d sweeps", s.xac_ok);
        sgc_check(c, "SG-CLAIM-004", s.hincr > 0,
                  "HINCRBY <outbound claim-attempt hash> <id> 1 per claim",
                  "%d HINCRBY on %s", s.hincr, c->n.oattempts);
    }
    /* Groups: only the platform's gateway group, none on the inbound. */
    redisReply *r = sgc_cmd(c, "XINFO GROUPS %s", c->n.outbound);
    int others = 0;
    char names[256] = "";
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i < r->elements;
         i++) {
        const redisReply *g = r->element[i];
        for (size_t k = 0; k + 1 < g->elements; k += 2)
            if (strcmp(g->element[k]->str, "name") == 0 &&
                strcmp(g->element[k + 1]->str, c->n.gateway_group) != 0) {
                others++;
                snprintf(names, sizeof names, "%s", g->element[k + 1]->str);
            }
    }
    if (r)
        freeReplyObject(r);
    sgc_check(c, "SG-TOPO-011", others == 0,
              "the outbound stream read through the gateway group only",
              "%d other groups (%s)", others, names);
    r = sgc_cmd(c, "XINFO GROUPS %s", c->n.inbound);
    long long ng = r && r->type == REDIS_REPLY_ARRAY ? (long long)r->elements
                                                     : 0;
    if (r)
        freeReplyObject(r);
    sgc_check(c, "SG-TOPO-006", ng == 0 && !s.foreign_group[0],
              "the gateway creates no group but its gateway groups",
              "%lld groups on the inbound stream; %s", ng,
              s.foreign_group[0] ? s.foreign_group : "");
}

/* The calls of the mock platform for token (any op). */
static const cJSON *call_of(sgc_ctx *c, const char *token, int nth)
{
    const cJSON *call;
    int k = 0;
    cJSON_ArrayForEach(call, c->calls) {
        const cJSON *env = cJSON_GetObjectItem(cJSON_GetObjectItem(call,
                                                                   "body"),
                                               "envelope");
        const cJSON *text = cJSON_GetObjectItem(env, "text");
        if (cJSON_IsString(text) && strstr(text->valuestring, token) &&
            k++ == nth)
            return call;
    }
    return NULL;
}

static int calls_with_op(sgc_ctx *c, const char *op)
{
    const cJSON *call;
    int n = 0;
    cJSON_ArrayForEach(call, c->calls) {
        const cJSON *o = cJSON_GetObjectItem(call, "op");
        if (cJSON_IsString(o) && strcmp(o->valuestring, op) == 0)
            n++;
    }
    return n;
}

static const char *jget(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItem(o, a);
    if (b)
        x = cJSON_GetObjectItem(x, b);
    return cJSON_IsString(x) ? x->valuestring : NULL;
}

static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* ---- cases ----------------------------------------------------------------- */

static int g_basic(sgc_ctx *c)
{
    char toks[12][48], ids[12][64], chans[3][16], keys[12][160];
    /* A hash that exists without a TTL keeps having none (SG-OUT-013). */
    char pre_key[160];
    sgc_tok(c, toks[0], sizeof toks[0], "snd", 0);
    snprintf(pre_key, sizeof pre_key, "%smsg:%s", c->n.ns, toks[0]);
    redisReply *r = sgc_cmd(c, "HSET %s other x", pre_key);
    if (r)
        freeReplyObject(r);
    for (int i = 0; i < 3; i++)
        snprintf(chans[i], sizeof chans[i], "gch%d", i);
    for (int i = 0; i < 12; i++) {
        sgc_tok(c, toks[i], sizeof toks[i], "snd", i);
        sgc_out o = { i % 4 == 1 ? "message" : NULL, chans[i % 3], toks[i],
                      "", NULL, NULL, NULL, 0, 0 };
        snprintf(keys[i], sizeof keys[i], "%smsg:%s", c->n.ns, toks[i]);
        if (sgc_publish_outbound(c, &o, ids[i]) != 0)
            return -1;
    }
    sgc_wait(c, 15000, sgc_pred_settled, NULL);
    sgc_hcheck_opts o = gw_opts();
    sgc_judge(c, &o, NULL);
    int good = 0, marks = 0, ttl_ok = 0;
    char bad[512] = "", badm[512] = "";
    for (int i = 0; i < 12; i++) {
        const cJSON *call = call_of(c, toks[i], 0);
        if (call == NULL)
            continue;
        const cJSON *body = cJSON_GetObjectItem(call, "body");
        int ok = streq(jget(body, "op", NULL), "send") &&
                 streq(jget(body, "platform", NULL), "http") &&
                 jget(body, "consumer", NULL) &&
                 jget(body, "consumer", NULL)[0] &&
                 streq(jget(body, "entry_id", NULL), ids[i]) &&
                 streq(jget(body, "envelope", "channel_id"), chans[i % 3]) &&
                 streq(jget(body, "envelope", "message_key"), keys[i]);
        if (ok)
            good++;
        else if (!bad[0]) {
            char *s = cJSON_PrintUnformatted(body);
            snprintf(bad, sizeof bad, "%s", s ? s : "");
            free(s);
        }
        /* The completion marker is the platform's message id. */
        const cJSON *seq = cJSON_GetObjectItem(call, "seq");
        char want[64];
        snprintf(want, sizeof want, "mock-%lld",
                 cJSON_IsNumber(seq) ? (long long)seq->valuedouble : -1);
        redisReply *m = sgc_cmd(c, "HGET %s message_id", keys[i]);
        long long ttl = sgc_int(c, -3, "TTL %s", keys[i]);
        if (m && m->type == REDIS_REPLY_STRING && strcmp(m->str, want) == 0)
            marks++;
        else if (!badm[0])
            snprintf(badm, sizeof badm, "%s: message_id %s, platform "
                     "answered %s", keys[i],
                     m && m->type == REDIS_REPLY_STRING ? m->str : "(none)",
                     want);
        if (i == 0 ? ttl == -1 : (ttl > 7776000 - 120 && ttl <= 7776000))
            ttl_ok++;
        else if (!badm[0])
            snprintf(badm, sizeof badm, "%s: TTL %lld (%s)", keys[i], ttl,
                     i == 0 ? "existed without a TTL: want none"
                            : "want 90 days");
        if (m)
            freeReplyObject(m);
    }
    sgc_check(c, "SG-OUT-007", good == 12,
              "each message sent with op send, platform http, the entry ID "
              "and the envelope (channel_id, message_key)",
              "%d of 12 sends well-formed; first other: %s", good, bad);
    sgc_check(c, "SG-OUTENV-002", good == 12,
              "an envelope without type is sent as a message",
              "%d of 12 sent as op send", good);
    sgc_check(c, "SG-OUT-013", marks == 12 && ttl_ok == 12,
              "message_id of hash message_key set to the platform's id; a "
              "new hash gets a 90-day TTL, an existing one keeps its own",
              "%d of 12 markers, %d of 12 TTLs right; %s", marks, ttl_ok,
              badm);
    sgc_gateway_endstate(c);
    gw_monitor(c, 0);
    return 0;
}

static int g_types(sgc_ctx *c)
{
    struct { const char *type, *op; int channel; } t[] = {
        { "typing", "start_typing", 1 },
        { "start_typing", "start_typing", 1 },
        { "stop_typing", "stop_typing", 1 },
        { "reaction", "add_reaction", 1 },
        { "presence", "set_presence", 0 },
        { "file", "send_file", 1 },
        { "buttons", "send_buttons", 1 },
    };
    size_t n = sizeof t / sizeof t[0];
    char tok[48];
    for (size_t i = 0; i < n; i++) {
        sgc_tok(c, tok, sizeof tok, "typ", (int)i);
        int with_tok = strcmp(t[i].type, "file") == 0 ||
                       strcmp(t[i].type, "buttons") == 0;
        sgc_out o = { t[i].type, t[i].channel ? "tch" : NULL,
                      with_tok ? tok : NULL, NULL, NULL,
                      strcmp(t[i].type, "reaction") == 0 ? "👍" : NULL,
                      strcmp(t[i].type, "reaction") == 0 ? "m-1" : NULL, 0,
                      0 };
        if (with_tok)
            o.message_key = "";
        if (sgc_publish_outbound(c, &o, NULL) != 0)
            return -1;
    }
    long long end = sgc_now_ms() + sgc_ms(c, 10000);
    while (sgc_now_ms() < end &&
           cJSON_GetArraySize(c->calls) < (int)n) {
        sgc_observe(c);
        sgc_sleep_ms(25);
    }
    sgc_settle(c, 300);
    int okn = 0;
    char miss[256] = "";
    for (size_t i = 0; i < n; i++) {
        int want = 0;
        for (size_t k = 0; k < n; k++)
            want += strcmp(t[k].op, t[i].op) == 0;
        int got = calls_with_op(c, t[i].op);
        if (got == want)
            okn++;
        else if (!miss[0])
            snprintf(miss, sizeof miss, "type %s: %d calls with op %s, "
                     "want %d", t[i].type, got, t[i].op, want);
    }
    sgc_check(c, "SG-OUT-007", okn == (int)n,
              "typing/start_typing -> start_typing, stop_typing, reaction "
              "-> add_reaction, presence -> set_presence, file -> "
              "send_file, buttons -> send_buttons",
              "%d of %zu types dispatched right; %s", okn, n, miss);
    sgc_check(c, "SG-OUTENV-005", calls_with_op(c, "set_presence") == 1,
              "a presence envelope without channel_id is accepted",
              "%d set_presence calls", calls_with_op(c, "set_presence"));
    const cJSON *call;
    int reaction_ok = 0;
    cJSON_ArrayForEach(call, c->calls) {
        const cJSON *body = cJSON_GetObjectItem(call, "body");
        if (streq(jget(body, "op", NULL), "add_reaction") &&
            streq(jget(body, "envelope", "message_id"), "m-1") &&
            streq(jget(body, "envelope", "emoji"), "👍"))
            reaction_ok = 1;
    }
    sgc_check(c, "SG-OUT-007", reaction_ok,
              "reaction: emoji added to message_id",
              "no add_reaction call with message_id m-1 and the emoji");
    /* presence takes no lock: no lock key for an empty channel. */
    sgc_check(c, "SG-OUT-005", sgc_count_kind(c, SGC_EV_DLQ) == 0,
              "presence dispatched without a channel and a channel lock",
              "%d dead letters", sgc_count_kind(c, SGC_EV_DLQ));
    sgc_gateway_endstate(c);
    return 0;
}

static int g_dedup(sgc_ctx *c)
{
    char a[48], b[48], m[48], o[48], s[48];
    char ida[64], idb[64], idm[64], ido[64], ids[64];
    char key[160], ckey[320];
    sgc_tok(c, a, sizeof a, "dup", 1);
    sgc_tok(c, b, sizeof b, "dup", 2);
    sgc_tok(c, m, sizeof m, "marked", 3);
    sgc_tok(c, o, sizeof o, "claimed", 4);
    sgc_tok(c, s, sizeof s, "self", 5);
    /* (1) two entries, one message_key: one send. */
    snprintf(key, sizeof key, "%smsg:shared-%d", c->n.ns, c->serial);
    sgc_out oa = { NULL, "dch", a, key, NULL, NULL, NULL, 1,
                   SGC_EXPECT_ANY };
    sgc_out ob = { NULL, "dch", b, key, NULL, NULL, NULL, 1,
                   SGC_EXPECT_ANY };
    if (sgc_publish_outbound(c, &oa, ida) || sgc_publish_outbound(c, &ob, idb))
        return -1;
    /* (2) completion marker already there: no send. */
    char mkey[160];
    snprintf(mkey, sizeof mkey, "%smsg:%s", c->n.ns, m);
    redisReply *r = sgc_cmd(c, "HSET %s message_id earlier", mkey);
    if (r)
        freeReplyObject(r);
    sgc_out om = { NULL, "dch2", m, "", NULL, NULL, NULL, 1,
                   SGC_EXPECT_NONE };
    if (sgc_publish_outbound(c, &om, idm) != 0)
        return -1;
    /* (3) claim key held by another entry: a duplicate, no send. */
    char okey[160];
    snprintf(okey, sizeof okey, "%smsg:%s", c->n.ns, o);
    snprintf(ckey, sizeof ckey, "%s:%s", c->n.claim_prefix, okey);
    r = sgc_cmd(c, "SET %s 1-1 PX 60000", ckey);
    if (r)
        freeReplyObject(r);
    sgc_out oo = { NULL, "dch3", o, "", NULL, NULL, NULL, 1,
                   SGC_EXPECT_NONE };
    if (sgc_publish_outbound(c, &oo, ido) != 0)
        return -1;
    sgc_settle(c, 1500);
    int sends_ab = sgc_history_count(&c->hist, SGC_EV_DELIVER, a) +
                   sgc_history_count(&c->hist, SGC_EV_DELIVER, b);
    sgc_check(c, "SG-OUT-010", sends_ab == 1,
              "two entries with one message_key: exactly one send",
              "%d sends", sends_ab);
    sgc_check(c, "SG-OUT-008", sgc_history_count(&c->hist, SGC_EV_EFFECT, m)
                                   == 0,
              "a message whose completion marker exists is not sent again",
              "%d sends", sgc_history_count(&c->hist, SGC_EV_EFFECT, m));
    sgc_check(c, "SG-OUT-010", sgc_history_count(&c->hist, SGC_EV_EFFECT, o)
                                   == 0,
              "a claim key held by another entry: no send",
              "%d sends", sgc_history_count(&c->hist, SGC_EV_EFFECT, o));
    /* The claim key of (3) belongs to no sent message: remove it before
     * the end-state check, as its owner would have. */
    r = sgc_cmd(c, "DEL %s", ckey);
    if (r)
        freeReplyObject(r);
    /* (4) claim key held by this very entry: send state unknown. The
     * gateway is paused while the runner stages it. */
    sgc_proc *p = &c->inst[0];
    p->intended = 1;
    sgc_proc_signal(p, SIGSTOP);
    sgc_out os = { NULL, "dch4", s, "", NULL, NULL, NULL, 1,
                   SGC_EXPECT_NONE };
    int rc = sgc_publish_outbound(c, &os, ids);
    char skey[160];
    snprintf(skey, sizeof skey, "%smsg:%s", c->n.ns, s);
    snprintf(ckey, sizeof ckey, "%s:%s", c->n.claim_prefix, skey);
    r = sgc_cmd(c, "SET %s %s PX 60000", ckey, ids);
    if (r)
        freeReplyObject(r);
    sgc_proc_signal(p, SIGCONT);
    p->intended = 0;
    if (rc != 0)
        return -1;
    int want = 1;
    sgc_wait(c, 8000, sgc_pred_dlq_count, &want);
    sgc_check(c, "SG-OUT-011", sgc_history_count(&c->hist, SGC_EV_EFFECT, s)
                                   == 0,
              "a claim key holding the entry's own ID: no send",
              "%d sends", sgc_history_count(&c->hist, SGC_EV_EFFECT, s));
    sgc_dlq_expect e = { ids, "send_state_unknown", NULL, "SG-OUT-011",
                         "entry whose claim key holds its own ID" };
    sgc_check_dlq(c, c->n.outbound, c->n.gateway_group, &e, 1, 1);
    sgc_hcheck_opts op = gw_opts();
    op.order = 0;
    sgc_judge(c, &op, NULL);
    sgc_gateway_endstate(c);
    return 0;
}

static int g_failing(sgc_ctx *c)
{
    char f1[48], f2[48], id2[64];
    sgc_tok(c, f1, sizeof f1, "fail", 1);
    sgc_tok(c, f2, sizeof f2, "fail", 2);
    if (sgc_platform_fail(c, "{\"channel_id\":\"fch1\",\"status\":500,"
                          "\"times\":1}") != 0 ||
        sgc_platform_fail(c, "{\"channel_id\":\"fch2\",\"status\":503}") != 0)
        return -1;
    sgc_out o1 = { NULL, "fch1", f1, "", NULL, NULL, NULL, 0, 0 };
    sgc_out o2 = { NULL, "fch2", f2, "", NULL, NULL, NULL, 1,
                   SGC_EXPECT_ANY };
    if (sgc_publish_outbound(c, &o1, NULL) || sgc_publish_outbound(c, &o2, id2))
        return -1;
    sgc_wait(c, 20000, sgc_pred_delivered, f1);
    int want = 1;
    sgc_wait(c, 20000, sgc_pred_dlq_count, &want);
    /* The last failed call reached the platform before its entry was
       dead-lettered, but a poll may have read the platform's calls just
       before that call and the dead-letter stream just after: look once
       more before counting. */
    sgc_observe(c);
    int tries1 = sgc_history_count(&c->hist, SGC_EV_EFFECT, f1);
    int sent1 = sgc_history_count(&c->hist, SGC_EV_DELIVER, f1);
    sgc_check(c, "SG-OUT-012", tries1 == 2 && sent1 == 1,
              "a failed send is left pending, retried and sent once",
              "%d attempts, %d successful", tries1, sent1);
    int tries2 = sgc_history_count(&c->hist, SGC_EV_EFFECT, f2);
    sgc_check(c, "SG-OUT-012", tries2 == c->k.max_deliveries,
              "a send failing every time is attempted SG_MAX_DELIVERIES "
              "times", "%d attempts with SG_MAX_DELIVERIES=%d", tries2,
              c->k.max_deliveries);
    sgc_dlq_expect e = { id2, "dispatch_failed", NULL, "SG-OUT-012",
                         "entry whose send always fails" };
    sgc_check_dlq(c, c->n.outbound, c->n.gateway_group, &e, 1, 1);
    sgc_hcheck_opts o = gw_opts();
    o.dlq_ok = 1;
    sgc_judge(c, &o, NULL);
    sgc_gateway_endstate(c);
    gw_monitor(c, 1);
    return 0;
}

static int g_burst(sgc_ctx *c)
{
    c->k.max_in_flight = 64;
    if (sgc_start_instances(c, 1) != 0)
        return -1;
    char tok[48], chan[16];
    for (int i = 0; i < 600; i++) {
        snprintf(chan, sizeof chan, "bch%d", i % 20);
        sgc_tok(c, tok, sizeof tok, "gb", i);
        sgc_out o = { NULL, chan, tok, "", NULL, NULL, NULL, 0, 0 };
        if (sgc_publish_outbound(c, &o, NULL) != 0)
            return -1;
    }
    sgc_wait(c, 60000, sgc_pred_settled, NULL);
    sgc_hcheck_opts o = gw_opts();
    o.reclaim = 1;
    sgc_judge(c, &o, NULL);
    sgc_check(c, "SG-OUT-001", c->max_owner_pending <= 64,
              "backpressure: at most SG_MAX_IN_FLIGHT (64) entries held",
              "up to %d entries pending at the gateway",
              c->max_owner_pending);
    sgc_gateway_endstate(c);
    return 0;
}

/* ---- RPC --------------------------------------------------------------------- */

/* Publishes an rpc_request built by hand; args is msgpack of a map or
 * NULL. reply_key NULL: none. legacy: action/kwargs. */
static int rpc_publish(sgc_ctx *c, const char *method, const sgc_mp *args,
                       const char *reply_key, const char *channel,
                       int legacy, char *id)
{
    sgc_mp m = { 0 };
    unsigned pairs = 2 + (args != NULL) + (reply_key != NULL) +
                     (channel != NULL);
    sgc_mp_map(&m, pairs);
    sgc_mp_str(&m, "type");
    sgc_mp_str(&m, "rpc_request");
    sgc_mp_str(&m, legacy ? "action" : "rpc_method");
    sgc_mp_str(&m, method);
    if (args) {
        sgc_mp_str(&m, legacy ? "kwargs" : "rpc_args");
        sgc_mp_raw(&m, args->buf, args->len);
    }
    if (reply_key) {
        sgc_mp_str(&m, "reply_key");
        sgc_mp_str(&m, reply_key);
    }
    if (channel) {
        sgc_mp_str(&m, "channel_id");
        sgc_mp_str(&m, channel);
    }
    const char *names[] = { "data" };
    const char *values[] = { (const char *)m.buf };
    size_t lens[] = { m.len };
    int rc = sgc_xadd_raw(c, c->n.outbound, 1, names, values, lens, id);
    sgc_mp_free(&m);
    return rc;
}

/* Waits for the reply list; returns its elements as a JSON array of the
 * parsed replies (NULL on timeout), *ttl the list's TTL. */
static cJSON *rpc_wait(sgc_ctx *c, const char *key, long long *ttl,
                       long long *ms)
{
    long long t0 = sgc_now_ms(), end = t0 + sgc_ms(c, 10000);
    while (sgc_now_ms() < end) {
        long long n = sgc_int(c, 0, "LLEN %s", key);
        if (n > 0)
            break;
        sgc_sleep_ms(20);
    }
    *ms = sgc_now_ms() - t0;
    sgc_sleep_ms(150);  /* a second push would be a fault */
    redisReply *r = sgc_cmd(c, "LRANGE %s 0 -1", key);
    *ttl = sgc_int(c, -3, "TTL %s", key);
    cJSON *arr = NULL;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
        arr = cJSON_CreateArray();
        for (size_t i = 0; i < r->elements; i++) {
            cJSON *v = cJSON_Parse(r->element[i]->str);
            cJSON_AddItemToArray(arr, v ? v : cJSON_CreateString(
                                              "<not JSON>"));
        }
    }
    if (r)
        freeReplyObject(r);
    return arr;
}

static int post_inbound(sgc_ctx *c, const char *json, long *status,
                        cJSON **body)
{
    char url[128];
    snprintf(url, sizeof url, "http://%s/messages", c->http_listen);
    for (int attempt = 0; attempt < 50; attempt++) {
        sgc_http_resp r;
        int rc = sgc_http("POST", url, json, 5000, &r);
        if (rc == 0) {
            *status = r.status;
            *body = r.body ? cJSON_Parse(r.body) : NULL;
            sgc_http_resp_free(&r);
            return 0;
        }
        sgc_http_resp_free(&r);
        sgc_sleep_ms(100);
    }
    return sgc_error(c, "POST %s: no answer", url);
}

static int g_rpc(sgc_ctx *c)
{
    /* Some history for channel "hist": three posts by users. */
    for (int i = 0; i < 3; i++) {
        char json[256];
        snprintf(json, sizeof json, "{\"channel_id\":\"hist\",\"user_id\":"
                 "\"u%d\",\"username\":\"user %d\",\"content\":\"hello %d\"}",
                 i, i, i);
        long st;
        cJSON *b = NULL;
        if (post_inbound(c, json, &st, &b) != 0)
            return -1;
        cJSON_Delete(b);
    }
    /* A stranger holds the outbound lock of the channel the calls are
     * about: RPCs must not wait for it (SG-RPC-003). */
    char lock[SGC_NAME_MAX + 16];
    snprintf(lock, sizeof lock, "%s:http:hist", c->n.olock_prefix);
    redisReply *r = sgc_cmd(c, "SET %s stranger-token PX %d", lock,
                            sgc_ms(c, 60000));
    if (r)
        freeReplyObject(r);

    struct {
        const char *method;
        int limit;      /* -1: no args */
        int legacy;
    } calls[] = {
        { "fetch_channel_history", 2, 0 },
        { "should_skip_channel_heartbeat", -1, 0 },
        { "delete_egregore_webhook", -1, 0 },
        { "no_such_method", -1, 0 },
        { "should_skip_channel_heartbeat", -1, 1 },
    };
    cJSON *replies[5] = { 0 };
    long long ttls[5], ms[5];
    char keys[5][SGC_NAME_MAX + 64], ids[5][64];
    for (int i = 0; i < 5; i++) {
        snprintf(keys[i], sizeof keys[i], "%s:sgc-%d-%d", c->n.rpc_prefix,
                 c->serial, i);
        sgc_mp args = { 0 };
        if (calls[i].limit > 0) {
            sgc_mp_map(&args, 1);
            sgc_mp_str(&args, "limit");
            sgc_mp_int(&args, calls[i].limit);
        } else if (strcmp(calls[i].method, "delete_egregore_webhook") == 0) {
            sgc_mp_map(&args, 2);
            sgc_mp_str(&args, "guild_id");
            sgc_mp_str(&args, "g1");
            sgc_mp_str(&args, "webhook_id");
            sgc_mp_str(&args, "w1");
        }
        int rc = rpc_publish(c, calls[i].method, args.len ? &args : NULL,
                             keys[i], "hist", calls[i].legacy, ids[i]);
        sgc_mp_free(&args);
        if (rc != 0)
            return -1;
        replies[i] = rpc_wait(c, keys[i], &ttls[i], &ms[i]);
    }
    char *s[5];
    for (int i = 0; i < 5; i++)
        s[i] = replies[i] ? cJSON_PrintUnformatted(replies[i]) : NULL;
    /* Every call: exactly one JSON text, expiring within 60 s. */
    int one = 0, ttl_ok = 0, fast = 0;
    for (int i = 0; i < 5; i++) {
        one += replies[i] && cJSON_GetArraySize(replies[i]) == 1;
        ttl_ok += ttls[i] > 0 && ttls[i] <= 60;
        fast += replies[i] && ms[i] <= 10000;
    }
    sgc_check(c, "SG-RPC-002", one == 5 && ttl_ok == 5,
              "one JSON reply per call, RPUSHed to reply_key with EXPIRE 60",
              "%d of 5 calls got exactly one reply, %d of 5 lists with a "
              "TTL of at most 60 s", one, ttl_ok);
    sgc_check(c, "SG-RPC-003", one == 5,
              "RPCs answered while another process holds the channel's "
              "outbound lock", "%d of 5 answered", one);
    sgc_check(c, "SG-OUT-003", one == 5,
              "RPCs answered before and without any channel lock",
              "%d of 5 answered", one);
    sgc_check(c, "SG-RPC-012", fast == 5, "answered within 10 s",
              "%d of 5 within 10 s", fast);
    /* fetch_channel_history */
    const cJSON *h = replies[0] ? cJSON_GetArrayItem(replies[0], 0) : NULL;
    int hist_ok = cJSON_IsArray(h) && cJSON_GetArraySize(h) >= 1 &&
                  cJSON_GetArraySize(h) <= 2;
    const cJSON *msg;
    cJSON_ArrayForEach(msg, h) {
        static const char *const str_fields[] = { "user_id", "user_name",
                                                  "text", "message_id",
                                                  NULL };
        for (int k = 0; str_fields[k]; k++)
            if (!cJSON_IsString(cJSON_GetObjectItem(msg, str_fields[k])))
                hist_ok = 0;
        if (!cJSON_IsNumber(cJSON_GetObjectItem(msg, "timestamp")) ||
            !cJSON_IsBool(cJSON_GetObjectItem(msg, "is_bot")))
            hist_ok = 0;
        const cJSON *rt = cJSON_GetObjectItem(msg, "reply_to_id");
        if (rt == NULL || !(cJSON_IsNull(rt) || cJSON_IsString(rt)))
            hist_ok = 0;
        if (cJSON_GetObjectItem(msg, "reactions") == NULL)
            hist_ok = 0;
    }
    sgc_check(c, "SG-RPC-005", hist_ok,
              "fetch_channel_history (limit 2): an array of 1..2 history "
              "messages with user_id, user_name, text, timestamp, "
              "message_id, is_bot, reply_to_id, reactions",
              "%s", s[0] ? s[0] : "no reply");
    const cJSON *b1 = replies[1] ? cJSON_GetArrayItem(replies[1], 0) : NULL;
    sgc_check(c, "SG-RPC-006", cJSON_IsBool(b1),
              "should_skip_channel_heartbeat answers true or false", "%s",
              s[1] ? s[1] : "no reply");
    const cJSON *w = replies[2] ? cJSON_GetArrayItem(replies[2], 0) : NULL;
    const cJSON *werr = cJSON_GetObjectItem(w, "error");
    sgc_check(c, "SG-RPC-007", cJSON_IsBool(cJSON_GetObjectItem(w, "ok")) &&
                                   (cJSON_IsNull(werr) ||
                                    cJSON_IsString(werr)),
              "delete_egregore_webhook answers {\"ok\": bool, \"error\": "
              "string or null}", "%s", s[2] ? s[2] : "no reply");
    const cJSON *u = replies[3] ? cJSON_GetArrayItem(replies[3], 0) : NULL;
    sgc_check(c, "SG-RPC-004",
              streq(jget(u, "error", NULL),
                    "Unknown RPC method: no_such_method"),
              "{\"error\": \"Unknown RPC method: no_such_method\"}", "%s",
              s[3] ? s[3] : "no reply");
    const cJSON *l = replies[4] ? cJSON_GetArrayItem(replies[4], 0) : NULL;
    sgc_check(c, "SG-RPC-001", cJSON_IsBool(l),
              "legacy action/kwargs accepted in place of rpc_method/"
              "rpc_args", "%s", s[4] ? s[4] : "no reply");
    for (int i = 0; i < 5; i++) {
        free(s[i]);
        cJSON_Delete(replies[i]);
    }
    /* No reply_key: dead-lettered. */
    char idn[64];
    if (rpc_publish(c, "should_skip_channel_heartbeat", NULL, NULL, "hist",
                    0, idn) != 0)
        return -1;
    int want = 1;
    sgc_wait(c, 8000, sgc_pred_dlq_count, &want);
    sgc_dlq_expect e = { idn, "missing_field", "data.reply_key",
                         "SG-RPC-008", "rpc_request without reply_key" };
    sgc_check_dlq(c, c->n.outbound, c->n.gateway_group, &e, 1, 1);
    r = sgc_cmd(c, "DEL %s", lock);
    if (r)
        freeReplyObject(r);
    sgc_gateway_endstate(c);
    return 0;
}

static int g_malformed(sgc_ctx *c)
{
    struct {
        const char *label, *req, *reason, *path;
        char id[64];
    } b[] = {
        { "unknown type fax", "SG-OUTENV-003", "unknown_type", "data.type",
          "" },
        { "message without channel_id", "SG-OUTENV-004", "missing_field",
          "data.channel_id", "" },
        { "message with empty channel_id", "SG-OUTENV-004", "invalid_value",
          "data.channel_id", "" },
        { "not msgpack", "SG-OUT-002", "invalid_msgpack", "data", "" },
        { "entry without data", "SG-OUT-002", "missing_field", "data", "" },
        { "schema_version 2", "SG-ENV-003", "unknown_version",
          "data.schema_version", "" },
    };
    size_t n = sizeof b / sizeof b[0];
    for (size_t i = 0; i < n; i++) {
        sgc_mp m = { 0 };
        const char *name = "data";
        switch (i) {
        case 0:
            sgc_mp_map(&m, 3);
            sgc_mp_str(&m, "type");
            sgc_mp_str(&m, "fax");
            sgc_mp_str(&m, "channel_id");
            sgc_mp_str(&m, "mch");
            sgc_mp_str(&m, "text");
            sgc_mp_str(&m, "hi");
            break;
        case 1:
            sgc_mp_map(&m, 1);
            sgc_mp_str(&m, "text");
            sgc_mp_str(&m, "hi");
            break;
        case 2:
            sgc_mp_map(&m, 2);
            sgc_mp_str(&m, "channel_id");
            sgc_mp_str(&m, "");
            sgc_mp_str(&m, "text");
            sgc_mp_str(&m, "hi");
            break;
        case 3:
            sgc_mp_raw(&m, "\xc1\xc1", 2);
            break;
        case 4:
            name = "payload";
            sgc_mp_raw(&m, "x", 1);
            break;
        case 5:
            sgc_mp_map(&m, 3);
            sgc_mp_str(&m, "schema_version");
            sgc_mp_int(&m, 2);
            sgc_mp_str(&m, "channel_id");
            sgc_mp_str(&m, "mch");
            sgc_mp_str(&m, "text");
            sgc_mp_str(&m, "hi");
            break;
        }
        const char *names[] = { name, "x-extra" };
        const char *values[] = { (const char *)m.buf, "carried" };
        size_t lens[] = { m.len, 7 };
        int rc = sgc_xadd_raw(c, c->n.outbound, 2, names, values, lens,
                              b[i].id);
        sgc_mp_free(&m);
        if (rc != 0)
            return -1;
    }
    char good[48];
    sgc_tok(c, good, sizeof good, "after", 1);
    sgc_out o = { NULL, "mch", good, "", NULL, NULL, NULL, 0, 0 };
    if (sgc_publish_outbound(c, &o, NULL) != 0)
        return -1;
    int want = (int)n;
    sgc_wait(c, 10000, sgc_pred_dlq_count, &want);
    sgc_wait(c, 10000, sgc_pred_delivered, good);
    sgc_dlq_expect e[8];
    for (size_t i = 0; i < n; i++)
        e[i] = (sgc_dlq_expect){ b[i].id, b[i].reason, b[i].path, b[i].req,
                                 b[i].label };
    sgc_check_dlq(c, c->n.outbound, c->n.gateway_group, e, n, 1);
    for (size_t i = 0; i < n; i++)
        e[i].req = i < 3 ? "SG-OUT-016" : "SG-OUT-002";
    sgc_check_dlq(c, c->n.outbound, c->n.gateway_group, e, n, 0);
    int sends = cJSON_GetArraySize(c->calls);
    sgc_check(c, "SG-DLQ-007", sends == 1,
              "no platform call for a dead-lettered entry",
              "%d platform calls (1 expected, for the healthy entry)",
              sends);
    sgc_check(c, "SG-OUT-002", sgc_history_count(&c->hist, SGC_EV_DELIVER,
                                                 good) == 1,
              "rejected entries neither stop nor crash the gateway",
              "a later healthy entry sent %d time(s)",
              sgc_history_count(&c->hist, SGC_EV_DELIVER, good));
    sgc_gateway_endstate(c);
    return 0;
}

static int g_inbound(sgc_ctx *c)
{
    long st = 0;
    cJSON *body = NULL;
    if (post_inbound(c, "{\"channel_id\":\"web1\",\"user_id\":\"u1\","
                     "\"username\":\"Ann\",\"content\":\"hi there\"}", &st,
                     &body) != 0)
        return -1;
    const char *eid = jget(body, "entry_id", NULL);
    sgc_check(c, "SG-OUT-017", st == 202 && eid != NULL,
              "a platform message accepted (202 with entry_id) once the "
              "gateway is ready", "status %ld", st);
    int ok_fields = 0, trace_ok = 0, ts_ok = 0, dlqf = 0;
    char why[256] = "";
    if (eid) {
        redisReply *r = sgc_cmd(c, "XRANGE %s %s %s", c->n.inbound, eid,
                                eid);
        if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
            const redisReply *f = r->element[0]->element[1];
            sg_entry_field ef[8];
            size_t nf = 0;
            const char *trace = NULL, *ts = NULL;
            for (size_t k = 0; k + 1 < f->elements && nf < 8; k += 2) {
                ef[nf].name = (sg_str){ f->element[k]->str,
                                        f->element[k]->len };
                ef[nf].value = (sg_str){ f->element[k + 1]->str,
                                         f->element[k + 1]->len };
                nf++;
                if (strcmp(f->element[k]->str, "trace_id") == 0)
                    trace = f->element[k + 1]->str;
                if (strcmp(f->element[k]->str, "ts") == 0)
                    ts = f->element[k + 1]->str;
                if (strncmp(f->element[k]->str, "dlq_", 4) == 0)
                    dlqf++;
            }
            sg_entry entry = { ef, nf };
            sg_envelope *env = NULL;
            sg_error err;
            if (sg_envelope_decode(SG_KIND_INBOUND, &entry, NULL, &env,
                                   &err) == 0) {
                const sg_inbound *in = &env->u.in;
                ok_fields = in->platform.len == 4 &&
                            memcmp(in->platform.ptr, "http", 4) == 0 &&
                            in->channel_id.len == 4 &&
                            memcmp(in->channel_id.ptr, "web1", 4) == 0 &&
                            in->content.len == 8 &&
                            memcmp(in->content.ptr, "hi there", 8) == 0;
                trace_ok = trace && strlen(trace) == 32 &&
                           in->trace_id.len == 32 &&
                           memcmp(in->trace_id.ptr, trace, 32) == 0 &&
                           strspn(trace, "0123456789abcdef") == 32;
                sg_envelope_free(env);
            } else {
                snprintf(why, sizeof why, "entry does not decode: %s",
                         err.msg);
            }
            ts_ok = ts && ts[0] && strspn(ts, "0123456789.") == strlen(ts);
        }
        if (r)
            freeReplyObject(r);
    }
    cJSON_Delete(body);
    sgc_check(c, "SG-FRAME-001", ok_fields,
              "the message published on the inbound stream as a msgpack "
              "envelope in field data, with platform http, channel and "
              "content", "%s", why[0] ? why : "fields differ");
    sgc_check(c, "SG-TRACE-001", trace_ok,
              "one 32-hex-digit trace id in the entry's trace_id field and "
              "the envelope's trace_id", "entry %s",
              trace_ok ? "traced" : "trace ids missing or different");
    sgc_check(c, "SG-FRAME-002", ts_ok, "a decimal ts field",
              "ts missing or malformed");
    sgc_check(c, "SG-DLQ-002", eid && dlqf == 0,
              "no published entry carries a field named dlq_*",
              "%d dlq_ fields", dlqf);
    /* Invalid: no channel_id. */
    body = NULL;
    if (post_inbound(c, "{\"content\":\"no channel\"}", &st, &body) != 0)
        return -1;
    sgc_check(c, "SG-FRAME-012", st == 400 &&
                                     streq(jget(body, "reason", NULL),
                                           "missing_field") &&
                                     streq(jget(body, "path", NULL),
                                           "data.channel_id"),
              "an invalid message refused (400) with reason missing_field "
              "and path data.channel_id", "status %ld, reason %s, path %s",
              st, jget(body, "reason", NULL) ? jget(body, "reason", NULL)
                                             : "-",
              jget(body, "path", NULL) ? jget(body, "path", NULL) : "-");
    cJSON_Delete(body);
    long long xl = sgc_int(c, -1, "XLEN %s", c->n.inbound);
    sgc_check(c, "SG-FRAME-012", xl == 1, "nothing published for it",
              "%lld entries on the inbound stream", xl);
    /* XADD with an approximate cap. */
    int capped = 0, adds = 0;
    FILE *f = fopen(c->monitor_log, "r");
    char line[4096];
    char needle[SGC_NAME_MAX + 16];
    snprintf(needle, sizeof needle, "\"XADD\" \"%s\"", c->n.inbound);
    while (f && fgets(line, sizeof line, f)) {
        if (strstr(line, needle) == NULL)
            continue;
        adds++;
        if (strstr(line, "\"MAXLEN\" \"~\""))
            capped++;
    }
    if (f)
        fclose(f);
    sgc_check(c, "SG-FRAME-008", adds > 0 && capped == adds,
              "XADD with MAXLEN ~ N", "%d of %d XADDs capped", capped,
              adds);
    return 0;
}

static int g_sigkill(sgc_ctx *c)
{
    char k1[48], k2[48], id1[64];
    sgc_tok(c, k1, sizeof k1, "gk", 1);
    sgc_tok(c, k2, sizeof k2, "gk", 2);
    if (sgc_platform_fail(c, "{\"channel_id\":\"kch\",\"status\":200,"
                          "\"hang\":true}") != 0)
        return -1;
    sgc_out o1 = { NULL, "kch", k1, "", NULL, NULL, NULL, 1,
                   SGC_EXPECT_ANY };
    if (sgc_publish_outbound(c, &o1, id1) != 0)
        return -1;
    if (!sgc_wait(c, 10000, sgc_pred_effect, k1))
        return sgc_error(c, "no platform call for the entry within 10 s");
    c->inst[0].intended = 1;
    sgc_proc_signal(&c->inst[0], SIGKILL);
    sgc_proc_wait(&c->inst[0], 5000);
    sgc_platform_clear_fail(c);
    sgc_platform_release(c);
    if (sgc_start_instance(c) < 0)
        return -1;
    sgc_out o2 = { NULL, "kch2", k2, "", NULL, NULL, NULL, 0, 0 };
    if (sgc_publish_outbound(c, &o2, NULL) != 0)
        return -1;
    int want = 1;
    sgc_wait(c, 15000, sgc_pred_dlq_count, &want);
    sgc_wait(c, 10000, sgc_pred_delivered, k2);
    int calls = sgc_history_count(&c->hist, SGC_EV_EFFECT, k1);
    sgc_check(c, "SG-OUT-011", calls == 1,
              "a send whose outcome is unknown (its gateway died after the "
              "claim) is not sent again", "%d platform calls", calls);
    sgc_dlq_expect e = { id1, "send_state_unknown", NULL, "SG-OUT-011",
                         "entry whose gateway died mid-send" };
    sgc_check_dlq(c, c->n.outbound, c->n.gateway_group, &e, 1, 1);
    sgc_hcheck_opts o = gw_opts();
    o.dlq_ok = 1;
    o.overlap = 0;
    sgc_judge(c, &o, NULL);
    sgc_gateway_endstate(c);
    gw_monitor(c, 1);
    return 0;
}

static int g_stale(sgc_ctx *c)
{
    /* A gateway that read entries and died, before the implementation
     * starts; the group is made here (BUSYGROUP is success). */
    redisReply *r = sgc_cmd(c, "XGROUP CREATE %s %s $ MKSTREAM",
                            c->n.outbound, c->n.gateway_group);
    if (r)
        freeReplyObject(r);
    char tok[48];
    for (int i = 0; i < 4; i++) {
        sgc_tok(c, tok, sizeof tok, "gst", i);
        sgc_out o = { NULL, i % 2 ? "sa" : "sb", tok, "", NULL, NULL, NULL,
                      0, 0 };
        if (sgc_publish_outbound(c, &o, NULL) != 0)
            return -1;
    }
    r = sgc_cmd(c, "XREADGROUP GROUP %s sgc-stale COUNT 100 STREAMS %s >",
                c->n.gateway_group, c->n.outbound);
    if (r)
        freeReplyObject(r);
    if (sgc_start_instance(c) < 0)
        return -1;
    sgc_wait(c, 15000, sgc_pred_settled, NULL);
    sgc_hcheck_opts o = gw_opts();
    o.order = 1;
    sgc_hmap m = { 0 };
    m.lost = "SG-CLAIM-006";
    sgc_judge(c, &o, &m);
    sgc_gateway_endstate(c);
    gw_monitor(c, 1);
    return 0;
}

/*
 * Entries trimmed away while pending at a dead gateway: the sweep reports
 * them deleted, the implementation drops their claim-attempt fields and
 * goes on (SG-CLAIM-003).
 */
static int g_trimmed(sgc_ctx *c)
{
    redisReply *r = sgc_cmd(c, "XGROUP CREATE %s %s $ MKSTREAM",
                            c->n.outbound, c->n.gateway_group);
    if (r)
        freeReplyObject(r);
    char tok[48], ids[5][64];
    for (int i = 0; i < 5; i++) {
        sgc_tok(c, tok, sizeof tok, "trim", i);
        sgc_out o = { NULL, "trch", tok, "", NULL, NULL, NULL, 1,
                      SGC_EXPECT_NONE };
        if (sgc_publish_outbound(c, &o, ids[i]) != 0)
            return -1;
    }
    r = sgc_cmd(c, "XREADGROUP GROUP %s sgc-dead COUNT 100 STREAMS %s >",
                c->n.gateway_group, c->n.outbound);
    if (r)
        freeReplyObject(r);
    for (int i = 0; i < 5; i++) {
        r = sgc_cmd(c, "HSET %s %s 1", c->n.oattempts, ids[i]);
        if (r)
            freeReplyObject(r);
    }
    r = sgc_cmd(c, "XTRIM %s MAXLEN 0", c->n.outbound);
    if (r)
        freeReplyObject(r);
    if (sgc_start_instance(c) < 0)
        return -1;
    /* Once the sweep met them, the pending list is empty. */
    long long end = sgc_now_ms() + sgc_ms(c, 8000);
    long long p = -1;
    while (sgc_now_ms() < end) {
        sgc_observe(c);
        p = sgc_pending(c, c->n.outbound, c->n.gateway_group);
        if (p == 0)
            break;
        sgc_sleep_ms(50);
    }
    long long h = sgc_int(c, -1, "HLEN %s", c->n.oattempts);
    sgc_check(c, "SG-CLAIM-003", p == 0 && h == 0,
              "entries trimmed while pending: gone from the pending list "
              "and from the claim-attempt hash, the sweep goes on",
              "%lld still pending, %lld claim-attempt fields left", p, h);
    char after[48];
    sgc_tok(c, after, sizeof after, "aftertrim", 0);
    sgc_out o = { NULL, "trch", after, "", NULL, NULL, NULL, 0, 0 };
    if (sgc_publish_outbound(c, &o, NULL) != 0)
        return -1;
    int ok = sgc_wait(c, 10000, sgc_pred_delivered, after);
    sgc_check(c, "SG-OUT-015", ok,
              "the gateway keeps sending after its sweep met deleted "
              "entries", "a later entry was not sent");
    sgc_check(c, "SG-DLQ-004", sgc_count_kind(c, SGC_EV_DLQ) == 0,
              "trimmed entries are not dead-lettered",
              "%d dead letters", sgc_count_kind(c, SGC_EV_DLQ));
    sgc_hcheck_opts op = gw_opts();
    sgc_judge(c, &op, NULL);
    sgc_gateway_endstate(c);
    return 0;
}

/* SG-OUT-006: an entry claimed away while it waits behind a slow send of
 * its channel is neither sent nor acknowledged. */
static int g_stolen(sgc_ctx *c)
{
    char a[48], b[48], ida[64], idb[64];
    sgc_tok(c, a, sizeof a, "gsteal", 1);
    sgc_tok(c, b, sizeof b, "gsteal", 2);
    sgc_out oa = { NULL, "gst", a, "", NULL, NULL, NULL, 0, 0 };
    sgc_out ob = { NULL, "gst", b, "", NULL, NULL, NULL, 1,
                   SGC_EXPECT_NONE };
    if (sgc_publish_outbound(c, &oa, ida) || sgc_publish_outbound(c, &ob, idb))
        return -1;
    if (!sgc_wait(c, 10000, sgc_pred_effect, a))
        return sgc_error(c, "no platform call within 10 s");
    char owner[96];
    long long end = sgc_now_ms() + sgc_ms(c, 1000);
    do {
        sgc_owner_of(c, c->n.outbound, c->n.gateway_group, idb, owner,
                     sizeof owner);
        if (owner[0])
            break;
        sgc_sleep_ms(20);
    } while (sgc_now_ms() < end);
    if (!owner[0]) {
        sgc_info(c, "SG-OUT-006", "the implementation did not read the "
                 "second entry during the first send: the case does not "
                 "apply");
        return sgc_skip(c, "no entry was queued behind a send");
    }
    redisReply *r = sgc_cmd(c, "XCLAIM %s %s sgc-thief 0 %s",
                            c->n.outbound, c->n.gateway_group, idb);
    if (r)
        freeReplyObject(r);
    const char *stolen[] = { idb };
    int taken = sgc_hold_entries(c, c->n.outbound, c->n.gateway_group,
                                 "sgc-thief", stolen, 1, 3000);
    sgc_check(c, "SG-CLAIM-007", taken == 0,
              "an entry kept young by a live consumer is not claimed",
              "taken from the live consumer");
    char ob2[96];
    sgc_owner_of(c, c->n.outbound, c->n.gateway_group, idb, ob2,
                 sizeof ob2);
    int sends = sgc_history_count(&c->hist, SGC_EV_EFFECT, b);
    sgc_check(c, "SG-OUT-006", sends == 0 && strcmp(ob2, "sgc-thief") == 0,
              "an entry no longer its own is left alone: not sent, not "
              "acknowledged", "%d sends; entry %s%s", sends,
              ob2[0] ? "pending at " : "acknowledged", ob2);
    r = sgc_cmd(c, "XACK %s %s %s", c->n.outbound, c->n.gateway_group, idb);
    if (r)
        freeReplyObject(r);
    /* The claim key of b, if taken, was taken by the thief's turn: none
     * should exist, since b was never begun. */
    sgc_hcheck_opts o = gw_opts();
    sgc_judge(c, &o, NULL);
    sgc_gateway_endstate(c);
    return 0;
}

/*
 * A gateway paused mid-send past its lock TTL: another instance takes the
 * entry over, finds the claim key holding the entry's own ID and parks it
 * (send state unknown); the paused one, resumed and answered, must write
 * no completion marker and acknowledge nothing (SG-LOCK-004).
 */
static int g_sigstop(sgc_ctx *c)
{
    char x[48], idx[64], key[160];
    sgc_tok(c, x, sizeof x, "gstop", 1);
    snprintf(key, sizeof key, "%smsg:%s", c->n.ns, x);
    if (sgc_platform_fail(c, "{\"channel_id\":\"zch\",\"status\":200,"
                          "\"hang\":true,\"times\":1}") != 0)
        return -1;
    sgc_out o = { NULL, "zch", x, "", NULL, NULL, NULL, 1, SGC_EXPECT_ANY };
    if (sgc_publish_outbound(c, &o, idx) != 0)
        return -1;
    if (!sgc_wait(c, 10000, sgc_pred_effect, x))
        return sgc_error(c, "no platform call within 10 s");
    char owner[96];
    sgc_owner_of(c, c->n.outbound, c->n.gateway_group, idx, owner,
                 sizeof owner);
    int victim = sgc_instance_of(c, owner);
    if (victim < 0)
        return sgc_error(c, "entry %s is owned by \"%s\", none of the "
                         "runner's SG_INSTANCE_IDs", idx, owner);
    c->inst[victim].intended = 1;
    sgc_proc_signal(&c->inst[victim], SIGSTOP);
    int want = 1;
    int parked = sgc_wait(c, 15000, sgc_pred_dlq_count, &want);
    /* The platform answers while the gateway is still paused, so that on
     * SIGCONT the answer and the overdue renewal are ready at once. */
    sgc_platform_release(c);
    sgc_settle(c, 200);
    sgc_proc_signal(&c->inst[victim], SIGCONT);
    c->inst[victim].intended = 0;
    sgc_settle(c, 1500);
    redisReply *r = sgc_cmd(c, "HGET %s message_id", key);
    int marked = r && r->type == REDIS_REPLY_STRING && r->len > 0;
    char mark[64];
    snprintf(mark, sizeof mark, "%s", marked ? r->str : "");
    if (r)
        freeReplyObject(r);
    sgc_check(c, "SG-LOCK-004", !marked,
              "a gateway whose lock expired while it was paused writes no "
              "completion marker when its send returns",
              "message_id %s written to %s", mark, key);
    int calls = sgc_history_count(&c->hist, SGC_EV_EFFECT, x);
    sgc_check(c, "SG-OUT-011", parked && calls == 1,
              "the instance that took over does not send again and parks "
              "the entry (send state unknown)",
              "%d platform calls; %s", calls,
              parked ? "dead-lettered" : "not dead-lettered in 15 s");
    sgc_dlq_expect e = { idx, "send_state_unknown", NULL, "SG-OUT-011",
                         "entry whose gateway was paused mid-send" };
    sgc_check_dlq(c, c->n.outbound, c->n.gateway_group, &e, 1, 1);
    sgc_hcheck_opts op = gw_opts();
    op.overlap = 0;
    op.dlq_ok = 1;
    sgc_judge(c, &op, NULL);
    sgc_gateway_endstate(c);
    return 0;
}

static int group_exists(sgc_ctx *c, void *ud)
{
    (void)ud;
    redisReply *r = sgc_cmd(c, "XINFO GROUPS %s", c->n.outbound);
    int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0;
    if (r)
        freeReplyObject(r);
    return ok;
}

static int g_restart(sgc_ctx *c)
{
    if (sgc_redis_restart(c) != 0)
        return -1;
    int back = sgc_wait(c, 15000, group_exists, NULL);
    sgc_check(c, "SG-TOPO-008", back,
              "the gateway group recreated after Redis lost it",
              "no group on %s 15 s after the restart", c->n.outbound);
    if (!back)
        return 0;
    char tok[48];
    sgc_tok(c, tok, sizeof tok, "rst", 1);
    sgc_out o = { NULL, "rch", tok, "", NULL, NULL, NULL, 0, 0 };
    if (sgc_publish_outbound(c, &o, NULL) != 0)
        return -1;
    int ok = sgc_wait(c, 15000, sgc_pred_delivered, tok);
    sgc_check(c, "SG-OUT-018", ok,
              "the gateway survives the loss of Redis and sends again",
              "no send of an entry published after the restart");
    sgc_hcheck_opts op = gw_opts();
    sgc_judge(c, &op, NULL);
    sgc_gateway_endstate(c);
    return 0;
}

/* Redis (AOF) restarts while a send is in flight: the send's completion
 * is settled after the reconnection, once; later sends go on. */
static int g_restart_persist(sgc_ctx *c)
{
    char a[48], b[48];
    sgc_tok(c, a, sizeof a, "inflight", 1);
    sgc_tok(c, b, sizeof b, "after", 2);
    sgc_out oa = { NULL, "pch", a, "", NULL, NULL, NULL, 0, 0 };
    if (sgc_publish_outbound(c, &oa, NULL) != 0)
        return -1;
    if (!sgc_wait(c, 10000, sgc_pred_effect, a))
        return sgc_error(c, "no platform call within 10 s");
    if (sgc_redis_restart(c) != 0)
        return -1;
    sgc_wait(c, 20000, sgc_pred_delivered, a);
    sgc_out ob = { NULL, "pch", b, "", NULL, NULL, NULL, 0, 0 };
    if (sgc_publish_outbound(c, &ob, NULL) != 0)
        return -1;
    int ok = sgc_wait(c, 15000, sgc_pred_delivered, b);
    sgc_check(c, "SG-OUT-018", ok,
              "sends go on after a Redis restart", "a later entry was not "
              "sent");
    sgc_hcheck_opts o = gw_opts();
    sgc_hmap m = { 0 };
    m.lost = "SG-OUT-018";
    m.dup = "SG-OUT-010";
    sgc_judge(c, &o, &m);
    sgc_gateway_endstate(c);
    return 0;
}

static int g_sigterm(sgc_ctx *c)
{
    char a[48], ida[64];
    sgc_tok(c, a, sizeof a, "gterm", 1);
    sgc_out o1 = { NULL, "tch", a, "", NULL, NULL, NULL, 0, 0 };
    if (sgc_publish_outbound(c, &o1, ida) != 0)
        return -1;
    if (!sgc_wait(c, 10000, sgc_pred_effect, a))
        return sgc_error(c, "no platform call within 10 s");
    c->inst[0].intended = 1;
    sgc_proc_signal(&c->inst[0], SIGTERM);
    int exited = 0;
    long long t0 = sgc_now_ms();
    while (sgc_now_ms() - t0 < c->k.drain_ms + sgc_ms(c, 3000)) {
        sgc_observe(c);
        if (sgc_proc_poll(&c->inst[0])) {
            exited = 1;
            break;
        }
        sgc_sleep_ms(25);
    }
    int st = c->inst[0].status;
    sgc_check(c, "SG-OUT-018", exited && WIFEXITED(st) && WEXITSTATUS(st) == 0,
              "on SIGTERM the send in progress finishes and the gateway "
              "exits 0 within SG_DRAIN_MS", "%s, status %d",
              exited ? "exited" : "still running",
              exited && WIFEXITED(st) ? WEXITSTATUS(st) : -1);
    sgc_settle(c, 200);
    sgc_check(c, "SG-OUT-018", sgc_pending(c, c->n.outbound,
                                           c->n.gateway_group) == 0 &&
                                   sgc_history_count(&c->hist,
                                                     SGC_EV_DELIVER, a) == 1,
              "the drained send acknowledged", "pending %lld, sends %d",
              sgc_pending(c, c->n.outbound, c->n.gateway_group),
              sgc_history_count(&c->hist, SGC_EV_DELIVER, a));
    return 0;
}

static int g_bad_knob(sgc_ctx *c)
{
    sgc_env(c, "SG_OUTBOUND_LOCK_TTL_MS=-5");
    int i = c->ninst;
    if (sgc_start_instance(c) >= 0) {
        sgc_check(c, "SG-CFG-004", 0, "refuse to start with "
                  "SG_OUTBOUND_LOCK_TTL_MS=-5", "it started");
        return 0;
    }
    c->errored = 0;
    c->error[0] = '\0';
    sgc_proc *q = &c->inst[i];
    q->intended = 1;
    int code = WIFEXITED(q->status) ? WEXITSTATUS(q->status) : -1;
    int named = sgc_file_contains(q->log, "SG_OUTBOUND_LOCK_TTL_MS");
    sgc_check(c, "SG-CFG-004", code > 0 && named,
              "exit non-zero with a message naming SG_OUTBOUND_LOCK_TTL_MS",
              "exit %d; message %s the variable", code,
              named ? "names" : "does not name");
    return 0;
}

#define G(id, title, reqs, caps, n, persist, lat, fn) \
    { id, title, "gateway", reqs, caps, n, persist, lat, fn }

const sgc_case sgc_gateway_cases[] = {
    G("gateway.send.basic", "messages sent once each, in order, with "
      "marker and claim key",
      "SG-OUT-001 SG-OUT-004 SG-OUT-006 SG-OUT-007 SG-OUT-009 SG-OUT-013 "
      "SG-OUT-014 SG-OUTENV-002 SG-LOCK-001 SG-LOCK-003 SG-LOCK-006 "
      "SG-LOCK-007 SG-CLAIM-009 SG-TOPO-002 SG-TOPO-004 SG-TOPO-006 "
      "SG-TOPO-011", NULL, 1, 0, 30, g_basic),
    G("gateway.send.types", "every outbound type dispatched to its "
      "adapter call", "SG-OUT-005 SG-OUT-007 SG-OUTENV-005", NULL, 1, 0, 0,
      g_types),
    G("gateway.dedup.claim_and_marker", "duplicates by message_key, marker "
      "and claim key", "SG-OUT-008 SG-OUT-009 SG-OUT-010 SG-OUT-011 "
      "SG-DLQ-001 SG-DLQ-004", NULL, 1, 0, 0, g_dedup),
    G("gateway.send.failing_platform", "failing sends retried, then "
      "dead-lettered dispatch_failed", "SG-OUT-012 SG-OUT-015 SG-CLAIM-001 "
      "SG-CLAIM-004 SG-CLAIM-008 SG-CLAIM-009 SG-DLQ-001 SG-DLQ-003 "
      "SG-DLQ-004", NULL, 1, 0, 0, g_failing),
    G("gateway.burst.many_channels", "600 sends over 20 channels at once",
      "SG-OUT-001 SG-OUT-004 SG-OUT-010 SG-OUT-018 SG-LOCK-007", NULL, 0, 0,
      2, g_burst),
    G("gateway.ownership.stolen", "an entry claimed away while queued is "
      "left alone", "SG-OUT-006 SG-CLAIM-007", NULL, 1, 0, 1500, g_stolen),
    G("gateway.rpc.methods", "RPC replies, legacy names, no lock, missing "
      "reply_key", "SG-RPC-001 SG-RPC-002 SG-RPC-003 SG-RPC-004 SG-RPC-005 "
      "SG-RPC-006 SG-RPC-007 SG-RPC-008 SG-RPC-012 SG-OUT-003", NULL, 1, 0,
      0, g_rpc),
    G("gateway.dlq.malformed", "unknown type, missing channel, bad msgpack "
      "dead-lettered", "SG-OUT-002 SG-OUT-016 SG-OUTENV-001 SG-OUTENV-003 "
      "SG-OUTENV-004 SG-ENV-003 SG-DLQ-001 SG-DLQ-004 SG-DLQ-007 "
      "SG-FRAME-003", NULL, 1, 0, 0, g_malformed),
    G("gateway.http.inbound", "POST /messages published on the inbound "
      "stream", "SG-OUT-017 SG-FRAME-001 SG-FRAME-002 SG-FRAME-008 "
      "SG-FRAME-012 SG-TRACE-001 SG-DLQ-002", NULL, 1, 0, 0, g_inbound),
    G("gateway.crash.sigkill", "SIGKILL mid-send: send state unknown, never "
      "sent twice", "SG-OUT-011 SG-OUT-015 SG-CLAIM-006 SG-DLQ-004", NULL,
      1, 0, 0, g_sigkill),
    G("gateway.pause.sigstop", "a gateway paused mid-send past its lock "
      "TTL is fenced; the entry is parked", "SG-LOCK-004 SG-OUT-011 "
      "SG-OUT-004 SG-DLQ-001", NULL, 2, 0, 0, g_sigstop),
    G("gateway.claim.stale_consumer", "a dead gateway's entries reclaimed "
      "and sent once", "SG-OUT-015 SG-CLAIM-001 SG-CLAIM-004 SG-CLAIM-006 "
      "SG-CLAIM-008", NULL, 0, 0, 0, g_stale),
    G("gateway.claim.trimmed_while_pending", "entries trimmed while "
      "pending at a dead gateway", "SG-CLAIM-003 SG-OUT-015 SG-CLAIM-009 "
      "SG-DLQ-004", NULL, 0, 0, 0, g_trimmed),
    G("gateway.redis.restart_empty", "Redis restarts without persistence",
      "SG-TOPO-008 SG-OUT-018", NULL, 1, 0, 0, g_restart),
    G("gateway.redis.restart_persistent", "Redis (AOF) restarts during a "
      "send", "SG-OUT-018 SG-OUT-010 SG-OPS-004", NULL, 1, 1, 1500,
      g_restart_persist),
    G("gateway.stop.sigterm", "SIGTERM mid-send: drain, exit 0",
      "SG-OUT-018", NULL, 1, 0, 800, g_sigterm),
    G("gateway.config.bad_knob", "a knob that is not a positive integer "
      "stops the start", "SG-CFG-004", NULL, 0, 0, 0, g_bad_knob),
};

const size_t sgc_gateway_ncases =
    sizeof sgc_gateway_cases / sizeof sgc_gateway_cases[0];
