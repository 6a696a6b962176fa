/*
 * cases_worker.c: cases for the worker role. The runner plays the gateway
 * (it publishes inbound envelopes and answers RPCs), the LLM (the mock)
 * and every stranger, and watches the outbound stream of platform `http`.
 */
#define _POSIX_C_SOURCE 200809L

#include "cases.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define MAX_MSGS 4096

static sgc_hcheck_opts strict_opts(void)
{
    sgc_hcheck_opts o = { 1, 1, 1, 0, 0, 5, 0 };
    return o;
}

/* Checks the MONITOR log for the worker's reads, locks, acks, claims. */
static void worker_monitor(sgc_ctx *c, int want_claims)
{
    sgc_monstats s;
    memset(&s, 0, sizeof s);
    s.stream = c->n.inbound;
    s.group = c->n.worker_group;
    s.lock_prefix = c->n.lock_prefix;
    s.attempts = c->n.attempts;
    s.lock_ttl = c->k.lock_ttl_ms;
    s.min_idle = c->k.autoclaim_min_idle_ms;
    sgc_monitor_scan(c, &s);
    sgc_check(c, "SG-TOPO-003", s.create_ok > 0 && !s.bad_create[0],
              "XGROUP CREATE <inbound> <worker group> $ MKSTREAM",
              "%d well-formed creates; other: %s", s.create_ok,
              s.bad_create[0] ? s.bad_create : "none");
    sgc_check(c, "SG-TOPO-006", s.foreign_group[0] == '\0',
              "the worker creates no group but the worker group",
              "%s", s.foreign_group[0] ? s.foreign_group : "none");
    sgc_check(c, "SG-IN-001", s.xrg_ok > 0 && s.xrg_bad == 0,
              "XREADGROUP GROUP <worker group> <consumer> COUNT n BLOCK ms "
              "STREAMS <inbound> >",
              "%d conforming reads, %d others (first: %s)", s.xrg_ok,
              s.xrg_bad, s.bad_xrg[0] ? s.bad_xrg : "none");
    sgc_check(c, "SG-LOCK-001", s.lock_ok > 0 && s.lock_bad == 0,
              "locks taken with SET <lock> <token: >= 128 bits, lowercase "
              "hex> NX PX <SG_LOCK_TTL_MS> (or a script's GET then SET PX, "
              "which is atomic)",
              "%d conforming lock SETs, %d others (first: %s)", s.lock_ok,
              s.lock_bad, s.bad_lock[0] ? s.bad_lock : "none");
    sgc_check(c, "SG-LOCK-006", s.lock_ok > 0,
              "inbound locks named {SG_LOCK_PREFIX}:{channel_id}, TTL "
              "SG_LOCK_TTL_MS", "%d lock SETs under %s:", s.lock_ok,
              c->n.lock_prefix);
    sgc_check(c, "SG-LOCK-003", s.lock_del_plain == 0,
              "locks released by compare-and-delete, never a plain DEL",
              "%d plain DEL of a lock key (first: %s)", s.lock_del_plain,
              s.bad_del[0] ? s.bad_del : "none");
    sgc_check(c, "SG-IN-011", s.xack_plain == 0 && s.xack_script > 0,
              "acknowledgements made inside one atomic ownership-checked "
              "step (a script)",
              "%d XACK inside scripts, %d outside", s.xack_script,
              s.xack_plain);
    if (want_claims) {
        sgc_check(c, "SG-CLAIM-001", s.xac_ok > 0 && s.xac_bad == 0,
                  "XAUTOCLAIM <inbound> <worker group> <consumer> "
                  "<SG_AUTOCLAIM_MIN_IDLE_MS> <cursor> COUNT n",
                  "%d conforming sweeps, %d others (first: %s)", s.xac_ok,
                  s.xac_bad, s.bad_xac[0] ? s.bad_xac : "none");
        sgc_check(c, "SG-CLAIM-008", s.xac_ok > 0,
                  "the worker sweeps the stream it consumes",
                  "%d sweeps of %s", s.xac_ok, c->n.inbound);
        sgc_check(c, "SG-CLAIM-004", s.hincr > 0,
                  "HINCRBY <claim-attempt hash> <entry id> 1 per claimed "
                  "entry", "%d HINCRBY on %s", s.hincr, c->n.attempts);
    }
}

static int publish_set(sgc_ctx *c, const char *prefix, int channels,
                       int per_channel, int pipeline)
{
    int n = channels * per_channel;
    sgc_msg *m = calloc((size_t)n, sizeof *m);
    char (*chans)[32] = calloc((size_t)channels, sizeof *chans);
    char (*toks)[48] = calloc((size_t)n, sizeof *toks);
    if (!m || !chans || !toks) {
        free(m);
        free(chans);
        free(toks);
        return sgc_error(c, "out of memory");
    }
    for (int ch = 0; ch < channels; ch++)
        snprintf(chans[ch], sizeof chans[ch], "%sch%d", prefix, ch);
    /* Interleave channels in an order drawn from --seed, as a busy
     * gateway would; each channel gets per_channel entries. */
    int *left = calloc((size_t)channels, sizeof *left);
    if (left == NULL) {
        free(m);
        free(chans);
        free(toks);
        return sgc_error(c, "out of memory");
    }
    for (int ch = 0; ch < channels; ch++)
        left[ch] = per_channel;
    for (int i = 0; i < n; i++) {
        int ch = (int)(sgc_rand(c) % (unsigned long)channels);
        while (left[ch] == 0)
            ch = (ch + 1) % channels;
        left[ch]--;
        sgc_tok(c, toks[i], sizeof toks[i], prefix, i);
        m[i].channel = chans[ch];
        m[i].token = toks[i];
        m[i].addressed = 1;
    }
    free(left);
    int rc = 0;
    if (pipeline)
        rc = sgc_publish_inbound_many(c, m, (size_t)n);
    else
        for (int i = 0; i < n && rc == 0; i++)
            rc = sgc_publish_inbound(c, &m[i], NULL);
    free(m);
    free(chans);
    free(toks);
    return rc;
}

/* ---- cases --------------------------------------------------------------- */

static int w_happy(sgc_ctx *c)
{
    if (publish_set(c, "h", 3, 4, 0) != 0)
        return -1;
    if (!sgc_wait(c, 15000, sgc_pred_settled, NULL))
        sgc_info(c, "SG-IN-010", "not every entry settled within 15 s");
    sgc_hcheck_opts o = strict_opts();
    sgc_judge(c, &o, NULL);
    sgc_worker_endstate(c);
    worker_monitor(c, 0);

    /* The replies: on the platform's outbound stream, keyed, traced. */
    int messages = 0, keyed = 0, traced = 0, typing = 0;
    char bad[512] = "";
    const cJSON *o2;
    cJSON_ArrayForEach(o2, c->outs) {
        const cJSON *type = cJSON_GetObjectItem(o2, "type");
        if (!cJSON_IsString(type))
            continue;
        if (strcmp(type->valuestring, "start_typing") == 0 ||
            strcmp(type->valuestring, "typing") == 0)
            typing++;
        if (strcmp(type->valuestring, "message") != 0)
            continue;
        messages++;
        const cJSON *key = cJSON_GetObjectItem(o2, "message_key");
        if (cJSON_IsString(key) && key->valuestring[0])
            keyed++;
        const cJSON *text = cJSON_GetObjectItem(o2, "text");
        const cJSON *tr = cJSON_GetObjectItem(o2, "trace_id");
        const cJSON *etr = cJSON_GetObjectItem(o2, "entry_trace_id");
        char tok[48];
        if (cJSON_IsString(text) &&
            sgc_token_of(text->valuestring, tok, sizeof tok) == 0) {
            /* The inbound trace id of this token (same derivation as the
             * publisher): compare with what the runner sent. */
            const char *ch = sgc_history_channel_of(&c->hist, tok);
            (void)ch;
            if (cJSON_IsString(tr) && cJSON_IsString(etr) &&
                strlen(tr->valuestring) == 32 &&
                strcmp(tr->valuestring, etr->valuestring) == 0)
                traced++;
            else if (!bad[0])
                snprintf(bad, sizeof bad, "reply %s: envelope trace_id "
                         "\"%s\", entry trace_id \"%s\"",
                         cJSON_GetObjectItem(o2, "id")->valuestring,
                         cJSON_IsString(tr) ? tr->valuestring : "",
                         cJSON_IsString(etr) ? etr->valuestring : "");
        }
    }
    sgc_check(c, "SG-TOPO-002", messages >= 12,
              "replies published on {SG_OUTBOUND_STREAM_PREFIX}:http",
              "%d message envelopes on %s", messages, c->n.outbound);
    sgc_check(c, "SG-OUTENV-006", messages > 0 && keyed == messages,
              "every reply message carries a message_key",
              "%d of %d replies keyed", keyed, messages);
    sgc_check(c, "SG-TRACE-002", messages > 0 && traced == messages,
              "every reply carries the inbound trace_id, in the envelope "
              "and in the entry's trace_id field",
              "%d of %d replies traced; %s", traced, messages,
              bad[0] ? bad : "");
    /* The trace id itself: compare one reply with the published id. */
    if (messages > 0) {
        const cJSON *first = NULL, *x;
        cJSON_ArrayForEach(x, c->outs) {
            const cJSON *t = cJSON_GetObjectItem(x, "type");
            if (cJSON_IsString(t) && strcmp(t->valuestring, "message") == 0) {
                first = x;
                break;
            }
        }
        char tok[48];
        const cJSON *text = cJSON_GetObjectItem(first, "text");
        if (cJSON_IsString(text) &&
            sgc_token_of(text->valuestring, tok, sizeof tok) == 0) {
            /* Look the inbound entry up and read its trace_id field. */
            for (size_t i = 0; i < c->hist.n; i++) {
                const sgc_event *e = &c->hist.v[i];
                if (e->kind != SGC_EV_PUBLISH || strcmp(e->token, tok))
                    continue;
                redisReply *r = sgc_cmd(c, "XRANGE %s %s %s", c->n.inbound,
                                        e->entry_id, e->entry_id);
                const char *want = "";
                if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
                    const redisReply *f = r->element[0]->element[1];
                    for (size_t k = 0; k + 1 < f->elements; k += 2)
                        if (strcmp(f->element[k]->str, "trace_id") == 0)
                            want = f->element[k + 1]->str;
                }
                const char *got = cJSON_GetObjectItem(first, "trace_id")
                                      ->valuestring;
                sgc_check(c, "SG-TRACE-002", strcmp(want, got) == 0,
                          "the reply's trace_id equals the inbound entry's",
                          "inbound %s, reply %s", want, got);
                if (r)
                    freeReplyObject(r);
                break;
            }
        }
    }
    sgc_info(c, "SG-OUT-007", "%d typing indicators published", typing);
    sgc_check(c, "SG-DLQ-002", c->dlq_fields_seen == 0,
              "no published entry carries a field named dlq_*",
              "%d dlq_ fields on outbound entries", c->dlq_fields_seen);
    return 0;
}

typedef struct blpop_seen {
    const char *key;
    int n;
} blpop_seen;

static int find_blpop(const sgc_mon_cmd *m, void *ud)
{
    blpop_seen *b = ud;
    if (!m->lua && sgc_mon_is(m, 0, "BLPOP") && m->argc >= 3 &&
        strcmp(m->argv[1], b->key) == 0)
        b->n++;
    return 0;
}

/*
 * The worker as an RPC caller: its first message on a channel asks the
 * gateway (the runner) for the channel's history. The runner answers the
 * first call with text that is not JSON, never answers the second (and
 * pushes a late reply after the caller's timeout), and answers the third.
 */
static int w_rpc_caller(sgc_ctx *c)
{
    c->rpc_plan[0] = "this is not json {";
    c->rpc_plan[1] = "";
    c->rpc_plan[2] = "[]";
    char t[3][48];
    const char *ch[] = { "rc1", "rc2", "rc3" };
    for (int i = 0; i < 3; i++) {
        sgc_tok(c, t[i], sizeof t[i], "rpc", i);
        sgc_msg m = { ch[i], t[i], 1, NULL, 1, SGC_EXPECT_ANY };
        if (sgc_publish_inbound(c, &m, NULL) != 0)
            return -1;
        /* One at a time, so that the plan's order is the calls' order. */
        long long end = sgc_now_ms() + sgc_ms(c, 8000);
        while (sgc_now_ms() < end && c->rpc_seen <= i) {
            sgc_observe(c);
            sgc_sleep_ms(20);
        }
        if (c->rpc_seen <= i) {
            sgc_info(c, "SG-RPC-009", "no RPC for the first message of "
                     "channel %s: this worker does not call the gateway "
                     "for history", ch[i]);
            return sgc_skip(c, "the worker made no RPC the runner could "
                            "answer");
        }
        if (i == 1) {
            /* Past the caller's timeout, a late reply arrives. */
            sgc_settle(c, c->k.rpc_timeout_ms + sgc_ms(c, 500));
            redisReply *r = sgc_cmd(c, "RPUSH %s %s", c->rpc_keys[1],
                                    "[{\"late\": true}]");
            if (r)
                freeReplyObject(r);
        }
        sgc_wait(c, 15000, sgc_pred_delivered, t[i]);
    }
    sgc_wait(c, 15000, sgc_pred_settled, NULL);
    char pre[SGC_NAME_MAX + 2];
    snprintf(pre, sizeof pre, "%s:", c->n.rpc_prefix);
    int prefixed = 0, unique = 1;
    for (int i = 0; i < c->rpc_seen && i < 8; i++) {
        prefixed += strncmp(c->rpc_keys[i], pre, strlen(pre)) == 0 &&
                    strlen(c->rpc_keys[i]) > strlen(pre) + 8;
        for (int j = 0; j < i; j++)
            if (strcmp(c->rpc_keys[i], c->rpc_keys[j]) == 0)
                unique = 0;
    }
    int calls = c->rpc_seen < 8 ? c->rpc_seen : 8;
    int blpops = 0;
    for (int i = 0; i < calls; i++) {
        blpop_seen b = { c->rpc_keys[i], 0 };
        sgc_monitor_each(c, find_blpop, &b);
        blpops += b.n > 0;
    }
    sgc_check(c, "SG-RPC-009", prefixed == calls && unique && blpops == calls,
              "each call waits with BLPOP on a fresh reply key "
              "{SG_RPC_REPLY_PREFIX}:{uuid}",
              "%d calls: %d keys under %s, %s, %d waited on with BLPOP",
              calls, prefixed, pre, unique ? "all distinct" : "a key reused",
              blpops);
    long long late = sgc_int(c, -1, "LLEN %s", c->rpc_keys[1]);
    sgc_check(c, "SG-RPC-010", unique && late == 1,
              "a reply after the caller's timeout is never taken by a "
              "later call", "late reply list length %lld (1 = untouched)",
              late);
    int alive = sgc_instances_alive(c, NULL);
    int d0 = sgc_history_count(&c->hist, SGC_EV_DELIVER, t[0]) +
             sgc_history_count(&c->hist, SGC_EV_DLQ, t[0]);
    sgc_check(c, "SG-RPC-011", alive && d0 == 1,
              "a reply that is not JSON is a failed call: no crash, the "
              "entry settled once (answered or dead-lettered)",
              "worker %s; entry settled %d time(s)",
              alive ? "running" : "gone", d0);
    /* RPC envelopes carry the inbound trace (SG-TRACE-002). */
    int traced = 0, rpcs = 0;
    const cJSON *o;
    cJSON_ArrayForEach(o, c->outs) {
        const cJSON *type = cJSON_GetObjectItem(o, "type");
        if (!cJSON_IsString(type) ||
            strcmp(type->valuestring, "rpc_request") != 0)
            continue;
        rpcs++;
        const cJSON *tr = cJSON_GetObjectItem(o, "trace_id");
        const cJSON *etr = cJSON_GetObjectItem(o, "entry_trace_id");
        traced += cJSON_IsString(tr) && cJSON_IsString(etr) &&
                  strlen(tr->valuestring) == 32 &&
                  strcmp(tr->valuestring, etr->valuestring) == 0;
    }
    sgc_check(c, "SG-TRACE-002", rpcs > 0 && traced == rpcs,
              "RPC requests carry the inbound entry's trace_id",
              "%d of %d RPC requests traced", traced, rpcs);
    sgc_hcheck_opts op = strict_opts();
    op.dlq_ok = 1;
    sgc_judge(c, &op, NULL);
    sgc_worker_endstate(c);
    return 0;
}

static int w_passive(sgc_ctx *c)
{
    /* A stranger holds the lock of channel p for longer than the case. */
    char key[SGC_NAME_MAX + 16];
    snprintf(key, sizeof key, "%s:pch", c->n.lock_prefix);
    redisReply *r = sgc_cmd(c, "SET %s stranger-token PX %d", key,
                            sgc_ms(c, 60000));
    if (r)
        freeReplyObject(r);
    char t1[48], t2[48], t3[48], id1[64];
    sgc_tok(c, t1, sizeof t1, "pas", 1);
    sgc_tok(c, t2, sizeof t2, "pas", 2);
    sgc_tok(c, t3, sizeof t3, "adr", 3);
    sgc_msg m1 = { "pch", t1, 0, NULL, 1, SGC_EXPECT_ANY };
    sgc_msg m2 = { "pch", t2, 0, NULL, 1, SGC_EXPECT_ANY };
    sgc_msg m3 = { "qch", t3, 1, NULL, 0, 0 };
    /* An entry with is_addressed omitted is addressed (SG-INENV-002):
     * m3 is encoded with the default, which the encoder omits. */
    if (sgc_publish_inbound(c, &m1, id1) || sgc_publish_inbound(c, &m2, NULL)
        || sgc_publish_inbound(c, &m3, NULL))
        return -1;
    sgc_wait(c, 8000, sgc_pred_delivered, t3);
    /* The passive entries must be acknowledged while the lock is held. */
    long long end = sgc_now_ms() + sgc_ms(c, 5000);
    long long p = -1;
    while (sgc_now_ms() < end) {
        sgc_observe(c);
        p = sgc_pending(c, c->n.inbound, c->n.worker_group);
        if (p == 0)
            break;
        sgc_sleep_ms(50);
    }
    redisReply *g = sgc_cmd(c, "GET %s", key);
    int held = g && g->type == REDIS_REPLY_STRING &&
               strcmp(g->str, "stranger-token") == 0;
    if (g)
        freeReplyObject(g);
    sgc_check(c, "SG-IN-007", p == 0 && held,
              "passive entries handled and acknowledged while another "
              "process holds their channel's lock",
              "%lld entries still pending after 5 s; stranger's lock %s", p,
              held ? "still held" : "gone");
    sgc_check(c, "SG-INENV-002", sgc_history_count(&c->hist, SGC_EV_DELIVER,
                                                   t3) == 1,
              "an entry without is_addressed is addressed (answered)",
              "%d replies to it", sgc_history_count(&c->hist,
                                                    SGC_EV_DELIVER, t3));
    sgc_check(c, "SG-DLQ-004", sgc_count_kind(c, SGC_EV_DLQ) == 0,
              "no passive entry dead-lettered", "%d dead letters",
              sgc_count_kind(c, SGC_EV_DLQ));
    sgc_info(c, "SG-IN-007", "passive entries answered: %d, LLM requests "
             "for them: %d",
             sgc_history_count(&c->hist, SGC_EV_DELIVER, t1) +
                 sgc_history_count(&c->hist, SGC_EV_DELIVER, t2),
             sgc_history_count(&c->hist, SGC_EV_EFFECT, t1) +
                 sgc_history_count(&c->hist, SGC_EV_EFFECT, t2));
    r = sgc_cmd(c, "DEL %s", key);
    if (r)
        freeReplyObject(r);
    sgc_hcheck_opts o = strict_opts();
    sgc_judge(c, &o, NULL);
    sgc_worker_endstate(c);
    return 0;
}

/* A malformed entry: fields, what it must be rejected with. */
typedef struct bad_entry {
    const char *label;
    const char *req;
    const char *reason;
    const char *path;
    char id[64];
} bad_entry;

static void mp_inbound_head(sgc_mp *m, unsigned pairs, const char *channel)
{
    sgc_mp_map(m, pairs);
    sgc_mp_str(m, "platform");
    sgc_mp_str(m, "http");
    sgc_mp_str(m, "channel_id");
    sgc_mp_str(m, channel);
}

static int w_malformed(sgc_ctx *c)
{
    bad_entry b[] = {
        { "entry without data", "SG-FRAME-004", "missing_field", "data", "" },
        { "data not msgpack (0xc1)", "SG-MP-001", "invalid_msgpack", "data",
          "" },
        { "schema_version 2", "SG-ENV-003", "unknown_version",
          "data.schema_version", "" },
        { "ts \"-1\"", "SG-FRAME-006", "invalid_value", "ts", "" },
        { "trace_id of 200 bytes", "SG-FRAME-007", "string_too_long",
          "trace_id", "" },
        { "content over 256 KiB", "SG-LIMIT-002", "string_too_long",
          "data.content", "" },
        { "data over 4 MiB", "SG-LIMIT-001", "entry_too_large", "data", "" },
        { "no channel_id", "SG-INENV-001", "missing_field",
          "data.channel_id", "" },
        { "attachment not a map", "SG-INENV-004", "wrong_type",
          "data.attachments[0]", "" },
    };
    size_t nb = sizeof b / sizeof b[0];
    char tok[48];
    for (size_t i = 0; i < nb; i++) {
        sgc_mp m = { 0 };
        const char *names[4] = { "data", "x-custom", "ts", "trace_id" };
        const char *values[4];
        size_t lens[4];
        size_t nf = 2;
        char *big = NULL;
        switch (i) {
        case 0:
            names[0] = "payload";
            sgc_mp_raw(&m, "x", 1);
            break;
        case 1:
            sgc_mp_raw(&m, "\xc1", 1);
            break;
        case 2:
            mp_inbound_head(&m, 3, "mal");
            sgc_mp_str(&m, "schema_version");
            sgc_mp_int(&m, 2);
            break;
        case 3:
        case 4:
            mp_inbound_head(&m, 2, "mal");
            nf = 3;
            names[2] = i == 3 ? "ts" : "trace_id";
            break;
        case 5: {
            mp_inbound_head(&m, 3, "mal");
            sgc_mp_str(&m, "content");
            size_t n = 262145;
            big = malloc(n);
            memset(big, 'a', n);
            sgc_mp_strn(&m, big, n);
            break;
        }
        case 6: {
            mp_inbound_head(&m, 3, "mal");
            sgc_mp_str(&m, "ext");
            size_t n = 4194304;
            big = malloc(n);
            memset(big, 'b', n);
            sgc_mp_raw(&m, "\xc6", 1);
            unsigned char l[4] = { 0x00, 0x40, 0x00, 0x00 };
            sgc_mp_raw(&m, l, 4);
            sgc_mp_raw(&m, big, n);
            break;
        }
        case 7:
            sgc_mp_map(&m, 2);
            sgc_mp_str(&m, "platform");
            sgc_mp_str(&m, "http");
            sgc_mp_str(&m, "content");
            sgc_mp_str(&m, "hi");
            break;
        case 8:
            mp_inbound_head(&m, 3, "mal");
            sgc_mp_str(&m, "attachments");
            sgc_mp_array(&m, 1);
            sgc_mp_str(&m, "not a map");
            break;
        }
        free(big);
        values[0] = (const char *)m.buf;
        lens[0] = m.len;
        values[1] = "kept \x01 as is";
        lens[1] = strlen(values[1]);
        char tr[201];
        if (nf == 3) {
            if (i == 3) {
                values[2] = "-1";
            } else {
                memset(tr, 'f', 200);
                tr[200] = '\0';
                values[2] = tr;
            }
            lens[2] = strlen(values[2]);
        }
        int rc = sgc_xadd_raw(c, c->n.inbound, nf, names, values, lens,
                              b[i].id);
        sgc_mp_free(&m);
        if (rc != 0)
            return -1;
        sgc_tok(c, tok, sizeof tok, "bad", (int)i);
        size_t ix = sgc_history_add(&c->hist, SGC_EV_PUBLISH, sgc_now_ms(),
                                    "mal", tok, b[i].id, NULL, NULL,
                                    SGC_EXPECT_NONE);
        sgc_history_track(&c->hist, b[i].id, ix);
    }
    /* A healthy entry on the same channel, without ts and trace_id
     * (SG-FRAME-005), must still be answered: nothing crashed. */
    char good[48], gid[64];
    sgc_tok(c, good, sizeof good, "good", 0);
    {
        sgc_mp m = { 0 };
        char content[96];
        snprintf(content, sizeof content, "ch=mal tok=%s", good);
        mp_inbound_head(&m, 3, "mal");
        sgc_mp_str(&m, "content");
        sgc_mp_str(&m, content);
        const char *names[] = { "data" };
        const char *values[] = { (const char *)m.buf };
        size_t lens[] = { m.len };
        int rc = sgc_xadd_raw(c, c->n.inbound, 1, names, values, lens, gid);
        sgc_mp_free(&m);
        if (rc != 0)
            return -1;
        size_t ix = sgc_history_add(&c->hist, SGC_EV_PUBLISH, sgc_now_ms(),
                                    "mal", good, gid, NULL, NULL,
                                    SGC_EXPECT_ONCE);
        sgc_history_track(&c->hist, gid, ix);
    }
    int want = (int)nb;
    sgc_wait(c, 15000, sgc_pred_dlq_count, &want);
    sgc_wait(c, 10000, sgc_pred_delivered, good);
    sgc_check(c, "SG-FRAME-005", sgc_history_count(&c->hist, SGC_EV_DELIVER,
                                                   good) == 1,
              "an entry without ts and trace_id is handled",
              "%d replies", sgc_history_count(&c->hist, SGC_EV_DELIVER,
                                              good));
    sgc_check(c, "SG-IN-003", sgc_history_count(&c->hist, SGC_EV_DELIVER,
                                                good) == 1,
              "malformed entries neither stop nor crash the worker: a "
              "healthy entry after them is answered", "%d replies",
              sgc_history_count(&c->hist, SGC_EV_DELIVER, good));
    sgc_dlq_expect e[16];
    for (size_t i = 0; i < nb; i++)
        e[i] = (sgc_dlq_expect){ b[i].id, b[i].reason, b[i].path, b[i].req,
                                 b[i].label };
    sgc_check_dlq(c, c->n.inbound, c->n.worker_group, e, nb, 1);
    for (size_t i = 0; i < nb; i++)
        e[i].req = i == 6 ? "SG-LIMIT-007" : "SG-IN-003";
    sgc_check_dlq(c, c->n.inbound, c->n.worker_group, e, nb, 0);
    sgc_check(c, "SG-DLQ-007", sgc_count_kind(c, SGC_EV_EFFECT) <= 1,
              "no LLM call for a dead-lettered entry",
              "%d LLM requests in all (1 expected, for the healthy entry)",
              sgc_count_kind(c, SGC_EV_EFFECT));
    long long xl = sgc_int(c, -1, "XLEN %s", c->n.dlq);
    sgc_check(c, "SG-DLQ-006", xl == (long long)nb,
              "the dead-letter stream is not trimmed by the consumer",
              "XLEN %lld, %zu letters written", xl, nb);
    sgc_check(c, "SG-DLQ-003", xl == (long long)nb,
              "each rejected entry dead-lettered once and acknowledged",
              "%lld letters for %zu entries", xl, nb);
    sgc_hcheck_opts o = strict_opts();
    sgc_judge(c, &o, NULL);
    sgc_worker_endstate(c);
    return 0;
}

static int w_burst(sgc_ctx *c)
{
    /* 1600 entries over 40 channels, published at once, two instances,
     * SG_MAX_IN_FLIGHT 64: nothing may wait so long in a local batch that
     * it is reclaimed, duplicated or dead-lettered. */
    c->k.max_in_flight = 64;
    if (sgc_start_instances(c, 2) != 0)
        return -1;
    if (publish_set(c, "b", 40, 40, 1) != 0)
        return -1;
    sgc_wait(c, 60000, sgc_pred_settled, NULL);
    sgc_hcheck_opts o = { 0, 1, 1, 1, 0, 5, 0 };
    sgc_judge(c, &o, NULL);
    sgc_check(c, "SG-IN-002", c->max_owner_pending <= 64,
              "no consumer holds more than SG_MAX_IN_FLIGHT (64) entries "
              "(pending at it, less those waiting in its hand list)",
              "up to %d entries pending at one consumer",
              c->max_owner_pending);
    sgc_check(c, "SG-IN-027", c->max_hand_over == 0,
              "no hand list longer than its consumer's field of the "
              "hand-over hash allows",
              "a hand list of %d notes past its bound", c->max_hand_over);
    sgc_check(c, "SG-IN-008", sgc_pred_settled(c, NULL),
              "40 channels handled concurrently: the burst settles",
              "not every entry answered in 60 s");
    sgc_worker_endstate(c);
    sgc_monstats s;
    memset(&s, 0, sizeof s);
    s.stream = c->n.inbound;
    s.group = c->n.worker_group;
    s.lock_prefix = c->n.lock_prefix;
    s.attempts = c->n.attempts;
    s.lock_ttl = c->k.lock_ttl_ms;
    s.min_idle = c->k.autoclaim_min_idle_ms;
    sgc_monitor_scan(c, &s);
    sgc_check(c, "SG-LOCK-005", s.lock_attempts <= 5 * 1600 + 2000,
              "lock waits back off (no busy-wait): at most 5 lock attempts "
              "per entry plus 2000",
              "%ld lock SETs for 1600 entries", s.lock_attempts);
    sgc_check(c, "SG-CLAIM-007", sgc_count_kind(c, SGC_EV_DLQ) == 0,
              "no healthy entry claimed away", "%d dead letters",
              sgc_count_kind(c, SGC_EV_DLQ));
    return 0;
}

static int w_order(sgc_ctx *c)
{
    if (publish_set(c, "o", 5, 30, 1) != 0)
        return -1;
    sgc_wait(c, 30000, sgc_pred_settled, NULL);
    sgc_hcheck_opts o = strict_opts();
    o.reclaim = 1;
    sgc_judge(c, &o, NULL);
    sgc_worker_endstate(c);
    return 0;
}

static int w_order_cross(sgc_ctx *c)
{
    if (publish_set(c, "x", 4, 40, 1) != 0)
        return -1;
    sgc_wait(c, 30000, sgc_pred_settled, NULL);
    sgc_hcheck_opts o = strict_opts();
    sgc_hmap m = { 0 };
    m.order = "SG-IN-006";
    sgc_judge(c, &o, &m);
    sgc_worker_endstate(c);
    return 0;
}

static int w_order_queues(sgc_ctx *c)
{
    if (publish_set(c, "q", 4, 30, 1) != 0)
        return -1;
    sgc_wait(c, 30000, sgc_pred_settled, NULL);
    sgc_hcheck_opts o = strict_opts();
    sgc_hmap m = { 0 };
    m.order = "SG-IN-024";
    sgc_judge(c, &o, &m);
    char op[SGC_NAME_MAX + 2];
    snprintf(op, sizeof op, "%s:", c->n.order_prefix);
    sgc_monstats s;
    memset(&s, 0, sizeof s);
    s.stream = c->n.inbound;
    s.group = c->n.worker_group;
    s.lock_prefix = c->n.lock_prefix;
    s.attempts = c->n.attempts;
    s.order_prefix = op;
    s.lock_ttl = c->k.lock_ttl_ms;
    s.min_idle = c->k.autoclaim_min_idle_ms;
    sgc_monitor_scan(c, &s);
    sgc_check(c, "SG-IN-023", s.xrg_script > 0 && s.order_push_script > 0 &&
                                  s.order_push_plain == 0,
              "XREADGROUP without BLOCK and RPUSH of the IDs onto "
              "{SG_ORDER_PREFIX}:{channel_id} inside one read script",
              "%d reads in scripts, %d RPUSH in scripts, %d outside",
              s.xrg_script, s.order_push_script, s.order_push_plain);
    sgc_worker_endstate(c);
    return 0;
}

/* Waits for the LLM request of token, returns the instance handling it. */
static int handling_instance(sgc_ctx *c, const char *token, const char *id)
{
    if (!sgc_wait(c, 10000, sgc_pred_effect, (void *)token)) {
        sgc_error(c, "no LLM request for %s within 10 s", token);
        return -1;
    }
    char owner[96];
    sgc_owner_of(c, c->n.inbound, c->n.worker_group, id, owner,
                 sizeof owner);
    if (owner[0] == '\0') {
        /* Not pending while its LLM call is in flight: acknowledged
         * before its handler finished. */
        sgc_check(c, "SG-IN-021", 0,
                  "an entry stays pending while its handler runs",
                  "entry %s was no longer pending while its LLM call was "
                  "in flight", id);
        return -1;
    }
    int i = sgc_instance_of(c, owner);
    if (i < 0)
        sgc_error(c, "entry %s is owned by \"%s\", which is none of the "
                  "runner's SG_INSTANCE_IDs; the implementation must use "
                  "SG_INSTANCE_ID for this case", id, owner);
    return i;
}

static int w_sigkill(sgc_ctx *c)
{
    char k1[48], k2[48], id1[64];
    sgc_tok(c, k1, sizeof k1, "kill", 1);
    sgc_tok(c, k2, sizeof k2, "kill", 2);
    char script[256];
    snprintf(script, sizeof script,
             "{\"rules\":[{\"match\":\"tok=%s\",\"hang\":true}]}", k1);
    if (sgc_llm_script(c, script) != 0)
        return -1;
    sgc_msg m1 = { "kch", k1, 1, NULL, 0, 0 };
    sgc_msg m2 = { "kch", k2, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &m1, id1) || sgc_publish_inbound(c, &m2, NULL))
        return -1;
    int victim = handling_instance(c, k1, id1);
    if (victim < 0)
        return -1;
    /* Hold past the min-idle time: a live handler must not lose it. */
    sgc_settle(c, 2500);
    char owner[96];
    sgc_owner_of(c, c->n.inbound, c->n.worker_group, id1, owner,
                 sizeof owner);
    sgc_check(c, "SG-IN-019", strcmp(owner, c->inst[victim].instance_id) == 0,
              "an entry in handling stays with its handler past "
              "SG_AUTOCLAIM_MIN_IDLE_MS",
              "owner after 2.5 s: \"%s\" (handler %s)", owner,
              c->inst[victim].instance_id);
    sgc_check(c, "SG-CLAIM-007", strcmp(owner, c->inst[victim].instance_id)
                                     == 0,
              "no reclaim of an entry whose idle time stays below the "
              "minimum", "owner \"%s\"", owner);
    c->inst[victim].intended = 1;
    sgc_proc_signal(&c->inst[victim], SIGKILL);
    sgc_proc_wait(&c->inst[victim], 5000);
    if (sgc_llm_script(c, "{\"rules\":[]}") != 0)
        return -1;
    sgc_llm_release(c);
    sgc_wait(c, 20000, sgc_pred_settled, NULL);
    /* Two instances: order across consumers is SG-IN-006, graded in
     * worker.order.cross_consumer only. */
    sgc_hcheck_opts o = strict_opts();
    o.order = 0;
    sgc_hmap m = { 0 };
    m.lost = "SG-CLAIM-006";
    sgc_judge(c, &o, &m);
    int d = sgc_history_count(&c->hist, SGC_EV_DELIVER, k1);
    sgc_check(c, "SG-CLAIM-006", d == 1,
              "the killed consumer's entry reclaimed and answered once",
              "%d replies", d);
    sgc_worker_endstate(c);
    worker_monitor(c, 1);
    return 0;
}

static int count_delivered(sgc_ctx *c)
{
    int n = 0;
    for (size_t i = 0; i < c->hist.nt; i++)
        n += sgc_history_count(&c->hist, SGC_EV_DELIVER,
                               c->hist.v[c->hist.t[i].pub].token) > 0;
    return n;
}

static int quarter_done(sgc_ctx *c, void *ud)
{
    return count_delivered(c) >= *(int *)ud;
}

/*
 * SIGKILL in the middle of a burst, then a replacement: nothing may be
 * lost or dead-lettered; a reply published by the killed instance before
 * its ack may be published again, but with the same message_key, so that
 * the gateway sends it once.
 */
static int w_crash_burst(sgc_ctx *c)
{
    if (publish_set(c, "cb", 20, 20, 1) != 0)
        return -1;
    int quarter = 100;
    sgc_wait(c, 20000, quarter_done, &quarter);
    c->inst[0].intended = 1;
    sgc_proc_signal(&c->inst[0], SIGKILL);
    sgc_proc_wait(&c->inst[0], 5000);
    if (sgc_start_instance(c) < 0)
        return -1;
    sgc_wait(c, 40000, sgc_pred_settled, NULL);
    sgc_hcheck_opts o = strict_opts();
    o.order = 0;
    o.keys = 0;
    o.dup_same_key_ok = 1;
    sgc_hmap m = { 0 };
    m.lost = "SG-CLAIM-006";
    m.dup = "SG-OUTENV-006";
    sgc_judge(c, &o, &m);
    sgc_info(c, "SG-CLAIM-006", "%d of 400 answered; the killed instance "
             "had answered %d when it died", count_delivered(c), quarter);
    sgc_worker_endstate(c);
    return 0;
}

static int w_sigstop(sgc_ctx *c)
{
    char s1[48], s2[48], id1[64];
    sgc_tok(c, s1, sizeof s1, "stop", 1);
    sgc_tok(c, s2, sizeof s2, "stop", 2);
    char script[256];
    snprintf(script, sizeof script,
             "{\"rules\":[{\"match\":\"tok=%s\",\"hang\":true,\"times\":1}]}",
             s1);
    if (sgc_llm_script(c, script) != 0)
        return -1;
    sgc_msg m1 = { "sch", s1, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &m1, id1) != 0)
        return -1;
    int victim = handling_instance(c, s1, id1);
    if (victim < 0)
        return -1;
    c->inst[victim].intended = 1;
    sgc_proc_signal(&c->inst[victim], SIGSTOP);
    long long stopped_at = sgc_now_ms();
    /* Another instance reclaims it once the lock expired. */
    sgc_wait(c, 20000, sgc_pred_delivered, s1);
    long long took = sgc_now_ms() - stopped_at;
    /* The LLM answers the paused handler while it is still stopped, so
     * that on SIGCONT the answer and its overdue lock renewal are ready
     * at once: whichever it looks at first, it must stay fenced. */
    sgc_llm_release(c);
    sgc_settle(c, 200);
    sgc_proc_signal(&c->inst[victim], SIGCONT);
    c->inst[victim].intended = 0;
    sgc_msg m2 = { "sch", s2, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &m2, NULL) != 0)
        return -1;
    sgc_wait(c, 10000, sgc_pred_delivered, s2);
    sgc_settle(c, 1500);
    int d = sgc_history_count(&c->hist, SGC_EV_DELIVER, s1);
    sgc_check(c, "SG-LOCK-004", d == 1,
              "a handler whose lock expired while paused publishes nothing "
              "once resumed", "%d replies for the entry (reclaimed after "
              "%lld ms)", d, took);
    sgc_hcheck_opts o = strict_opts();
    o.overlap = 0;  /* the paused execution overlaps by construction */
    /* A second reply, or one after the new owner's ack, is the paused
     * handler producing effects without its lock. */
    sgc_hmap m = { 0 };
    m.dup = "SG-LOCK-004";
    m.after_ack = "SG-LOCK-004";
    sgc_judge(c, &o, &m);
    sgc_worker_endstate(c);
    return 0;
}

/* When the first execution of token started (its LLM call); 0: none. */
static long long first_effect_ms(const sgc_ctx *c, const char *token)
{
    for (size_t i = 0; i < c->hist.n; i++)
        if (c->hist.v[i].kind == SGC_EV_EFFECT &&
            strcmp(c->hist.v[i].token, token) == 0)
            return c->hist.v[i].t_ms;
    return 0;
}

static int w_stranger(sgc_ctx *c)
{
    char key[SGC_NAME_MAX + 16], l1[48], id1[64];
    snprintf(key, sizeof key, "%s:lch", c->n.lock_prefix);
    int hold = sgc_ms(c, 1500);
    redisReply *r = sgc_cmd(c, "SET %s stranger-token PX %d", key, hold);
    long long set_at = sgc_now_ms();
    if (r)
        freeReplyObject(r);
    sgc_tok(c, l1, sizeof l1, "str", 1);
    sgc_msg m1 = { "lch", l1, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &m1, id1) != 0)
        return -1;
    sgc_settle(c, 1000);
    r = sgc_cmd(c, "GET %s", key);
    int intact = r && r->type == REDIS_REPLY_STRING &&
                 strcmp(r->str, "stranger-token") == 0;
    if (r)
        freeReplyObject(r);
    sgc_check(c, "SG-LOCK-003", intact,
              "a lock held by another process is left alone",
              "the stranger's lock %s after 1 s", intact ? "intact"
                                                          : "was removed");
    sgc_wait(c, 10000, sgc_pred_delivered, l1);
    long long first = first_effect_ms(c, l1);
    sgc_check(c, "SG-IN-004", first >= set_at + hold - 5,
              "no handling of the channel while another process holds its "
              "lock", "LLM called %lld ms after the stranger took the "
              "lock for %d ms", first ? first - set_at : -1, hold);
    sgc_hcheck_opts o = strict_opts();
    sgc_judge(c, &o, NULL);
    sgc_worker_endstate(c);
    return 0;
}

/* ---- wake-ups (SG-LOCK-008/009) ---------------------------------------- */

typedef struct wake_probe {
    const char *hash;
    const char *field;
    char value[SGC_NAME_MAX * 2];
} wake_probe;

/* The lock waiters hash names a wake list for the field. */
static int pred_waiter(sgc_ctx *c, void *ud)
{
    wake_probe *w = ud;
    redisReply *r = sgc_cmd(c, "HGET %s %s", w->hash, w->field);
    int ok = r && r->type == REDIS_REPLY_STRING && r->len > 0;

    if (ok)
        snprintf(w->value, sizeof w->value, "%s", r->str);
    if (r)
        freeReplyObject(r);
    return ok;
}

/*
 * The worker as a waiter (SG-LOCK-008): a stranger holds a channel's lock;
 * the worker's busy begin records a wake list in the waiters hash. After
 * its retry delay has grown to its 500 ms ceiling, the stranger frees the
 * lock and wakes it the way SG-LOCK-009 says; the worker should pop its
 * list and begin at once. Then the worker as a holder (SG-LOCK-009): the
 * runner records a list of its own as the waiter of a lock the worker
 * holds while the LLM hangs; when the handling ends, the worker's script
 * should hand the lock key to that list.
 */
static int w_lock_wake(sgc_ctx *c)
{
    char key[SGC_NAME_MAX + 16], key2[SGC_NAME_MAX + 16];
    char hash[SGC_NAME_MAX + 16], mine[SGC_NAME_MAX + 48];
    char t1[48], t2[48], id1[64], id2[64], script[256];
    snprintf(key, sizeof key, "%s:wkch", c->n.lock_prefix);
    snprintf(key2, sizeof key2, "%s:wkch2", c->n.lock_prefix);
    snprintf(hash, sizeof hash, "%s:waiters", c->n.wake_prefix);
    snprintf(mine, sizeof mine, "%s:list:conformance-runner",
             c->n.wake_prefix);

    /* Waiter. */
    redisReply *r = sgc_cmd(c, "SET %s stranger-token PX %d", key,
                            sgc_ms(c, 60000));
    if (r)
        freeReplyObject(r);
    sgc_tok(c, t1, sizeof t1, "wake", 1);
    sgc_msg m1 = { "wkch", t1, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &m1, id1) != 0)
        return -1;
    wake_probe w = { hash, key, "" };
    int recorded = sgc_wait(c, 5000, pred_waiter, &w);
    sgc_check(c, "SG-LOCK-008", recorded,
              "a begin that finds the lock taken records a wake list in "
              "{SG_WAKE_PREFIX}:waiters under the lock key",
              "no field %s in %s within 5 s", key, hash);
    if (!recorded) {
        /* A SHOULD missed; free the channel so the entry can end. */
        r = sgc_cmd(c, "DEL %s", key);
        if (r)
            freeReplyObject(r);
    } else {
        /* 10 ms doubling: past 1.5 s every delay is 250 to 500 ms. */
        sgc_settle(c, 1500);
        r = sgc_cmd(c, "DEL %s", key);
        if (r)
            freeReplyObject(r);
        r = sgc_cmd(c, "HDEL %s %s", hash, key);
        if (r)
            freeReplyObject(r);
        long long woke_at = sgc_now_ms();
        const char *push[3] = { "RPUSH", w.value, key };
        r = sgc_cmdargv(c, 3, push, NULL);
        if (r)
            freeReplyObject(r);
        sgc_wait(c, 10000, sgc_pred_effect, t1);
        long long began = first_effect_ms(c, t1);
        long long left = sgc_int(c, -1, "LLEN %s", w.value);
        sgc_check(c, "SG-LOCK-008", began > 0 && began - woke_at < 200 &&
                                        left == 0,
                  "woken through its list (BLPOP), the waiter begins at "
                  "once, not after its retry delay (250 to 500 ms by then)",
                  "LLM called %lld ms after the wake-up; %lld item(s) left "
                  "in %s", began > 0 ? began - woke_at : -1, left, w.value);
    }
    sgc_wait(c, 10000, sgc_pred_delivered, t1);

    /* Holder. */
    sgc_tok(c, t2, sizeof t2, "wake", 2);
    snprintf(script, sizeof script,
             "{\"rules\":[{\"match\":\"tok=%s\",\"hang\":true}]}", t2);
    if (sgc_llm_script(c, script) != 0)
        return -1;
    sgc_msg m2 = { "wkch2", t2, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &m2, id2) != 0)
        return -1;
    if (!sgc_wait(c, 10000, sgc_pred_effect, t2))
        return sgc_error(c, "no LLM request for %s within 10 s", t2);
    const char *hset[4] = { "HSET", hash, key2, mine };
    r = sgc_cmdargv(c, 4, hset, NULL);
    if (r)
        freeReplyObject(r);
    sgc_llm_release(c);
    sgc_wait(c, 10000, sgc_pred_delivered, t2);
    sgc_settle(c, 300);
    r = sgc_cmd(c, "LRANGE %s 0 -1", mine);
    int pushed = r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
                 strcmp(r->element[0]->str, key2) == 0;
    if (r)
        freeReplyObject(r);
    long long field = sgc_int(c, -1, "HEXISTS %s %s", hash, key2);
    long long ttl = sgc_int(c, -1, "PTTL %s", mine);
    sgc_check(c, "SG-LOCK-009", pushed && field == 0 && ttl > 0 &&
                                    ttl <= 60000,
              "releasing the lock, the holder's script moves the waiter's "
              "field to its list: HDEL, RPUSH of the lock key, PEXPIRE "
              "60000",
              "list %s %s, field %s, list TTL %lld ms", mine,
              pushed ? "holds the lock key" : "does not hold the lock key "
              "alone", field == 0 ? "deleted" : "still there", ttl);
    sgc_hcheck_opts o = strict_opts();
    sgc_judge(c, &o, NULL);
    return 0;
}

static int w_requeue(sgc_ctx *c)
{
    char key[SGC_NAME_MAX + 16], r1[48], id1[64];
    snprintf(key, sizeof key, "%s:rch", c->n.lock_prefix);
    redisReply *r = sgc_cmd(c, "SET %s stranger-token PX %d", key,
                            sgc_ms(c, 60000));
    if (r)
        freeReplyObject(r);
    sgc_tok(c, r1, sizeof r1, "req", 1);
    sgc_msg m1 = { "rch", r1, 1, NULL, 1, SGC_EXPECT_NONE };
    if (sgc_publish_inbound(c, &m1, id1) != 0)
        return -1;
    int want = 1;
    sgc_wait(c, 20000, sgc_pred_dlq_count, &want);
    /* The copies on the inbound stream. */
    redisReply *all = sgc_cmd(c, "XRANGE %s - +", c->n.inbound);
    int copies = 0, chain_ok = 1;
    char last[64];
    snprintf(last, sizeof last, "%s", id1);
    char why[256] = "";
    const redisReply *orig_data = NULL;
    for (size_t i = 0; all && all->type == REDIS_REPLY_ARRAY &&
                       i < all->elements; i++) {
        const redisReply *f = all->element[i]->element[1];
        const char *from = NULL, *count = NULL;
        const redisReply *data = NULL;
        for (size_t k = 0; k + 1 < f->elements; k += 2) {
            if (strcmp(f->element[k]->str, "requeued_from") == 0)
                from = f->element[k + 1]->str;
            else if (strcmp(f->element[k]->str, "requeue_count") == 0)
                count = f->element[k + 1]->str;
            else if (strcmp(f->element[k]->str, "data") == 0)
                data = f->element[k + 1];
        }
        if (from == NULL) {
            if (strcmp(all->element[i]->element[0]->str, id1) == 0)
                orig_data = data;
            continue;
        }
        copies++;
        char want_count[16];
        snprintf(want_count, sizeof want_count, "%d", copies);
        if (strcmp(from, last) != 0 || count == NULL ||
            strcmp(count, want_count) != 0 || data == NULL ||
            orig_data == NULL || data->len != orig_data->len ||
            memcmp(data->str, orig_data->str, data->len) != 0) {
            if (chain_ok)
                snprintf(why, sizeof why, "copy %d: requeued_from %s "
                         "(want %s), requeue_count %s (want %s), data %s",
                         copies, from, last, count ? count : "-",
                         want_count, data && orig_data &&
                         data->len == orig_data->len ? "same" : "differs");
            chain_ok = 0;
        }
        snprintf(last, sizeof last, "%s", all->element[i]->element[0]->str);
    }
    if (all)
        freeReplyObject(all);
    sgc_check(c, "SG-IN-014", copies >= 1 && chain_ok,
              "a lock collision requeues a copy with requeued_from (the "
              "previous entry) and requeue_count (previous + 1)",
              "%d copies; %s", copies, why[0] ? why : "chain consistent");
    sgc_check(c, "SG-IN-015", copies == c->k.max_requeues,
              "requeued exactly SG_MAX_REQUEUES times, then dead-lettered",
              "%d copies with SG_MAX_REQUEUES=%d", copies,
              c->k.max_requeues);
    sgc_dlq_expect e = { last, "lock_timeout", NULL, "SG-IN-015",
                         "entry past its requeues" };
    sgc_check_dlq(c, c->n.inbound, c->n.worker_group, &e, 1, 1);
    sgc_check(c, "SG-DLQ-007", sgc_history_count(&c->hist, SGC_EV_EFFECT,
                                                 r1) == 0,
              "no handling of an entry that never got its lock",
              "%d LLM requests", sgc_history_count(&c->hist, SGC_EV_EFFECT,
                                                   r1));
    r = sgc_cmd(c, "DEL %s", key);
    if (r)
        freeReplyObject(r);
    sgc_worker_endstate(c);
    return 0;
}

static int w_requeue_setup(sgc_ctx *c)
{
    c->k.lock_wait_ms = sgc_ms(c, 400);
    c->k.max_requeues = 2;
    if (sgc_start_instances(c, 1) != 0)
        return -1;
    return w_requeue(c);
}

static int w_stale(sgc_ctx *c)
{
    /* The runner is a consumer that read entries and died, before the
     * implementation starts (a stopped process's blocked read would still
     * take entries, so the group is made here; BUSYGROUP is success). */
    redisReply *r = sgc_cmd(c, "XGROUP CREATE %s %s $ MKSTREAM",
                            c->n.inbound, c->n.worker_group);
    if (r)
        freeReplyObject(r);
    char ids[6][64], toks[6][48];
    const char *chans[] = { "st1", "st2", "st1", "st2", "stq", "std" };
    for (int i = 0; i < 6; i++) {
        sgc_tok(c, toks[i], sizeof toks[i], "stale", i);
        sgc_msg m = { chans[i], toks[i], 1, NULL, i >= 4,
                      SGC_EXPECT_NONE };
        if (sgc_publish_inbound(c, &m, ids[i]) != 0)
            return -1;
    }
    r = sgc_cmd(c, "XREADGROUP GROUP %s sgc-stale COUNT 100 "
                "STREAMS %s >", c->n.worker_group, c->n.inbound);
    if (r)
        freeReplyObject(r);
    /* Entry 4 was already claimed SG_MAX_CLAIMS times: the next claim
     * quarantines it. Entry 5 is deleted while pending. */
    r = sgc_cmd(c, "HSET %s %s %d", c->n.attempts, ids[4], c->k.max_claims);
    if (r)
        freeReplyObject(r);
    r = sgc_cmd(c, "HSET %s %s 1", c->n.attempts, ids[5]);
    if (r)
        freeReplyObject(r);
    r = sgc_cmd(c, "XDEL %s %s", c->n.inbound, ids[5]);
    if (r)
        freeReplyObject(r);
    if (sgc_start_instance(c) < 0)
        return -1;
    int want = 1;
    sgc_wait(c, 15000, sgc_pred_dlq_count, &want);
    sgc_wait(c, 15000, sgc_pred_settled, NULL);
    char s5[48];
    sgc_tok(c, s5, sizeof s5, "after", 5);
    sgc_msg m5 = { "st1", s5, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &m5, NULL) != 0)
        return -1;
    sgc_wait(c, 10000, sgc_pred_delivered, s5);
    for (int i = 0; i < 4; i++) {
        int d = sgc_history_count(&c->hist, SGC_EV_DELIVER, toks[i]);
        sgc_check(c, "SG-CLAIM-006", d == 1,
                  "entries of a dead consumer reclaimed and handled once",
                  "%s: %d replies", ids[i], d);
    }
    sgc_dlq_expect e = { ids[4], "max_claims_exceeded", NULL, "SG-CLAIM-005",
                         "entry past SG_MAX_CLAIMS claims" };
    sgc_check_dlq(c, c->n.inbound, c->n.worker_group, &e, 1, 1);
    sgc_check(c, "SG-DLQ-007", sgc_history_count(&c->hist, SGC_EV_EFFECT,
                                                 toks[4]) == 0,
              "a quarantined entry is not handled", "%d LLM requests",
              sgc_history_count(&c->hist, SGC_EV_EFFECT, toks[4]));
    r = sgc_cmd(c, "HEXISTS %s %s", c->n.attempts, ids[5]);
    int left = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r)
        freeReplyObject(r);
    sgc_check(c, "SG-CLAIM-003", !left && sgc_history_count(&c->hist,
                                                            SGC_EV_DELIVER,
                                                            s5) == 1,
              "an entry deleted while pending: its claim-attempt field "
              "removed, the sweep goes on",
              "field %s; later entry answered %d time(s)",
              left ? "still there" : "removed",
              sgc_history_count(&c->hist, SGC_EV_DELIVER, s5));
    int dc = 0;
    sgc_monstats s;
    memset(&s, 0, sizeof s);
    s.stream = c->n.inbound;
    s.group = c->n.worker_group;
    s.lock_prefix = c->n.lock_prefix;
    s.attempts = c->n.attempts;
    s.lock_ttl = c->k.lock_ttl_ms;
    s.min_idle = c->k.autoclaim_min_idle_ms;
    sgc_monitor_scan(c, &s);
    dc = s.delconsumer;
    sgc_check(c, "SG-IN-018", dc == 0 || sgc_count_kind(c, SGC_EV_DLQ) >= 1,
              "no consumer with pending entries deleted",
              "%d XGROUP DELCONSUMER", dc);
    sgc_hcheck_opts o = strict_opts();
    o.order = 0;
    sgc_judge(c, &o, NULL);
    sgc_worker_endstate(c);
    worker_monitor(c, 1);
    return 0;
}

/* Young entries held by a live consumer (the runner), kept young. */
typedef struct young {
    const char **argv;
    size_t *lens;
    int argc;
    long long last;
    const char *token;
} young;

static void refresh_young(sgc_ctx *c, young *y)
{
    if (sgc_now_ms() - y->last < sgc_ms(c, 250))
        return;
    redisReply *r = sgc_cmdargv(c, y->argc, y->argv, y->lens);
    if (r)
        freeReplyObject(r);
    y->last = sgc_now_ms();
}

static int young_and_delivered(sgc_ctx *c, void *ud)
{
    young *y = ud;
    refresh_young(c, y);
    return y->token && sgc_history_count(&c->hist, SGC_EV_DELIVER,
                                         y->token) > 0;
}

/*
 * SG-CLAIM-002: 120 young entries pending at a live consumer sit before
 * one orphaned entry. XAUTOCLAIM COUNT 10 looks at no more than 100
 * pending entries per call, so only a sweep that carries its cursor ever
 * reaches the orphan; one that starts at 0-0 each time never does.
 */
static int w_cursor(sgc_ctx *c)
{
    /* The runner creates the group and stages the pending list before the
     * implementation starts (it must take BUSYGROUP as success). */
    enum { NY = 120 };
    redisReply *g = sgc_cmd(c, "XGROUP CREATE %s %s $ MKSTREAM",
                            c->n.inbound, c->n.worker_group);
    if (g)
        freeReplyObject(g);
    sgc_msg *m = calloc(NY, sizeof *m);
    char (*toks)[48] = calloc(NY, sizeof *toks);
    young y = { 0 };
    y.argv = calloc(NY + 6, sizeof *y.argv);
    y.lens = calloc(NY + 6, sizeof *y.lens);
    char (*ids)[64] = calloc(NY, sizeof *ids);
    int rc = -1;
    if (!m || !toks || !y.argv || !y.lens || !ids) {
        sgc_error(c, "out of memory");
        goto out;
    }
    for (int i = 0; i < NY; i++) {
        sgc_tok(c, toks[i], sizeof toks[i], "young", i);
        m[i] = (sgc_msg){ "young", toks[i], 1, NULL, 1, SGC_EXPECT_NONE };
    }
    if (sgc_publish_inbound_many(c, m, NY) != 0)
        goto out;
    redisReply *r = sgc_cmd(c, "XREADGROUP GROUP %s sgc-busy COUNT %d "
                            "STREAMS %s >", c->n.worker_group, NY,
                            c->n.inbound);
    int got = 0;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
        const redisReply *entries = r->element[0]->element[1];
        for (size_t i = 0; i < entries->elements && got < NY; i++)
            snprintf(ids[got++], sizeof ids[0], "%s",
                     entries->element[i]->element[0]->str);
    }
    if (r)
        freeReplyObject(r);
    if (got != NY) {
        sgc_error(c, "the runner read %d of %d young entries", got, NY);
        goto out;
    }
    char old[48], oldid[64];
    sgc_tok(c, old, sizeof old, "orphan", 0);
    sgc_msg mo = { "orphan", old, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &mo, oldid) != 0)
        goto out;
    r = sgc_cmd(c, "XREADGROUP GROUP %s sgc-dead COUNT 1 STREAMS %s >",
                c->n.worker_group, c->n.inbound);
    if (r)
        freeReplyObject(r);
    y.argv[0] = "XCLAIM";
    y.argv[1] = c->n.inbound;
    y.argv[2] = c->n.worker_group;
    y.argv[3] = "sgc-busy";
    y.argv[4] = "0";
    for (int i = 0; i < NY; i++)
        y.argv[5 + i] = ids[i];
    y.argv[5 + NY] = "JUSTID";
    y.argc = NY + 6;
    for (int i = 0; i < y.argc; i++)
        y.lens[i] = strlen(y.argv[i]);
    /* Let the orphan age past the min-idle time, the young stay young. */
    long long until = sgc_now_ms() + c->k.autoclaim_min_idle_ms +
                      sgc_ms(c, 300);
    while (sgc_now_ms() < until) {
        refresh_young(c, &y);
        sgc_sleep_ms(20);
    }
    if (sgc_start_instance(c) < 0)
        goto out;
    refresh_young(c, &y);
    y.token = old;
    sgc_wait(c, 8000, young_and_delivered, &y);
    int d = sgc_history_count(&c->hist, SGC_EV_DELIVER, old);
    sgc_check(c, "SG-CLAIM-002", d == 1,
              "the sweep carries its cursor past 100 young pending entries "
              "and reaches the orphan behind them",
              "orphan answered %d time(s) in 8 s", d);
    r = sgc_cmd(c, "XPENDING %s %s", c->n.inbound, c->n.worker_group);
    long long busy = -1;
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 4 &&
        r->element[3]->type == REDIS_REPLY_ARRAY)
        for (size_t i = 0; i < r->element[3]->elements; i++) {
            const redisReply *x = r->element[3]->element[i];
            if (strcmp(x->element[0]->str, "sgc-busy") == 0)
                busy = strtoll(x->element[1]->str, NULL, 10);
        }
    if (r)
        freeReplyObject(r);
    sgc_check(c, "SG-CLAIM-007", busy == NY,
              "entries kept young by their live owner are never claimed",
              "%lld of %d still with their owner", busy, NY);
    /* The busy consumer finishes its work. */
    const char **ack = calloc(NY + 3, sizeof *ack);
    size_t *acklens = calloc(NY + 3, sizeof *acklens);
    if (ack && acklens) {
        ack[0] = "XACK";
        ack[1] = c->n.inbound;
        ack[2] = c->n.worker_group;
        for (int i = 0; i < NY; i++)
            ack[3 + i] = ids[i];
        for (int i = 0; i < NY + 3; i++)
            acklens[i] = strlen(ack[i]);
        r = sgc_cmdargv(c, NY + 3, ack, acklens);
        if (r)
            freeReplyObject(r);
    }
    free(ack);
    free(acklens);
    sgc_hcheck_opts o = strict_opts();
    sgc_judge(c, &o, NULL);
    sgc_worker_endstate(c);
    rc = 0;
out:
    free(m);
    free(toks);
    free(y.argv);
    free(y.lens);
    free(ids);
    return rc;
}

/*
 * Another consumer takes entries away (XCLAIM, as a sweep would): one
 * while its handler runs, one while it waits behind its channel's lock.
 * The first must not be acknowledged by the old owner (XACK is group-wide:
 * only an ownership-checked acknowledgement leaves it pending at the new
 * owner); the second must not be handled at all.
 */
static int w_stolen(sgc_ctx *c)
{
    char a[48], b[48], ida[64], idb[64];
    sgc_tok(c, a, sizeof a, "steal", 1);
    sgc_tok(c, b, sizeof b, "steal", 2);
    if (sgc_llm_script(c, "{\"latency_ms\":1500,\"rules\":[]}") != 0)
        return -1;
    c->effect_ms = 1500;
    sgc_msg mm[2] = { { "stc", a, 1, NULL, 1, SGC_EXPECT_ANY },
                      { "stc", b, 1, NULL, 1, SGC_EXPECT_NONE } };
    if (sgc_publish_inbound_many(c, mm, 2) != 0)
        return -1;
    snprintf(ida, sizeof ida, "%s", c->hist.v[c->hist.t[0].pub].entry_id);
    snprintf(idb, sizeof idb, "%s", c->hist.v[c->hist.t[1].pub].entry_id);
    if (!sgc_wait(c, 10000, sgc_pred_effect, a))
        return sgc_error(c, "no LLM request within 10 s");
    /* b must have been read by now (it waits behind a's lock). */
    char owner[96];
    long long end = sgc_now_ms() + sgc_ms(c, 1000);
    do {
        sgc_owner_of(c, c->n.inbound, c->n.worker_group, idb, owner,
                     sizeof owner);
        if (owner[0])
            break;
        sgc_sleep_ms(20);
    } while (sgc_now_ms() < end);
    int queued = owner[0] != '\0';
    if (!queued)
        sgc_info(c, "SG-IN-009", "the implementation did not read the "
                 "second entry while the first was handled; only the "
                 "first half of the case applies");
    redisReply *r = sgc_cmd(c, "XCLAIM %s %s sgc-thief 0 %s %s",
                            c->n.inbound, c->n.worker_group, ida,
                            queued ? idb : ida);
    if (r)
        freeReplyObject(r);
    /* The handler of a ends (1.5 s), then b's turn would come. The thief
     * is alive: it keeps both entries young. */
    const char *stolen[] = { ida, idb };
    int taken = sgc_hold_entries(c, c->n.inbound, c->n.worker_group,
                                 "sgc-thief", stolen, queued ? 2 : 1, 3500);
    sgc_check(c, "SG-CLAIM-007", taken == 0,
              "entries kept young by a live consumer are not claimed",
              "%d taken from the live consumer", taken);
    char oa[96], ob[96];
    sgc_owner_of(c, c->n.inbound, c->n.worker_group, ida, oa, sizeof oa);
    sgc_owner_of(c, c->n.inbound, c->n.worker_group, idb, ob, sizeof ob);
    sgc_check(c, "SG-IN-011", strcmp(oa, "sgc-thief") == 0,
              "an entry reclaimed by another consumer during its handling "
              "is not acknowledged by the old owner",
              "entry %s %s%s", ida, oa[0] ? "pending at " : "acknowledged",
              oa);
    int eb = sgc_history_count(&c->hist, SGC_EV_EFFECT, b);
    if (queued)
        sgc_check(c, "SG-IN-009", eb == 0 && strcmp(ob, "sgc-thief") == 0,
                  "an entry owned by another consumer when its turn comes "
                  "is neither handled nor acknowledged",
                  "%d LLM requests for it; entry %s%s", eb,
                  ob[0] ? "pending at " : "acknowledged", ob);
    else
        c->hist.v[c->hist.t[1].pub].n = SGC_EXPECT_ANY;
    /* The thief finishes what it holds. */
    r = sgc_cmd(c, "XACK %s %s %s %s", c->n.inbound, c->n.worker_group, ida,
                idb);
    if (r)
        freeReplyObject(r);
    sgc_llm_script(c, "{\"rules\":[]}");
    c->effect_ms = 0;
    /* A later entry of the channel is handled; a worker keeping order
     * queues drops the heads the thief acknowledged (SG-IN-024). */
    char d[48];
    sgc_tok(c, d, sizeof d, "steal", 3);
    sgc_msg md = { "stc", d, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &md, NULL) != 0)
        return -1;
    int got = sgc_wait(c, 10000, sgc_pred_delivered, d);
    if (sgc_iut_has_cap(c->iut, "order-queues"))
        sgc_check(c, "SG-IN-024", got,
                  "an order-queue head no longer pending (acknowledged by "
                  "another consumer) is dropped, not waited for",
                  "a later entry of the channel was not answered in 10 s");
    sgc_hcheck_opts o = strict_opts();
    o.order = 0;
    sgc_judge(c, &o, NULL);
    sgc_worker_endstate(c);
    return 0;
}

static int group_exists(sgc_ctx *c, void *ud)
{
    (void)ud;
    redisReply *r = sgc_cmd(c, "XINFO GROUPS %s", c->n.inbound);
    int ok = r && r->type == REDIS_REPLY_ARRAY && r->elements > 0;
    if (r)
        freeReplyObject(r);
    return ok;
}

static int w_restart_empty(sgc_ctx *c)
{
    char a[48], b[48];
    sgc_tok(c, a, sizeof a, "pre", 1);
    sgc_tok(c, b, sizeof b, "post", 2);
    sgc_msg m1 = { "rch", a, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &m1, NULL) != 0)
        return -1;
    sgc_wait(c, 10000, sgc_pred_delivered, a);
    if (sgc_redis_restart(c) != 0)
        return -1;
    /* Redis came back empty: the history of before is gone with it. */
    sgc_history_free(&c->hist);
    sgc_history_init(&c->hist);
    snprintf(c->out_last, sizeof c->out_last, "0-0");
    snprintf(c->dlq_last, sizeof c->dlq_last, "0-0");
    int back = sgc_wait(c, 15000, group_exists, NULL);
    sgc_check(c, "SG-TOPO-008", back,
              "the worker group recreated after Redis lost it",
              "no group on %s 15 s after the restart", c->n.inbound);
    if (!back)
        return 0;
    sgc_msg m2 = { "rch", b, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &m2, NULL) != 0)
        return -1;
    int ok = sgc_wait(c, 15000, sgc_pred_delivered, b);
    sgc_check(c, "SG-IN-020", ok,
              "the worker reconnects and handles entries again",
              "no reply to an entry published after the restart");
    sgc_hcheck_opts o = strict_opts();
    sgc_judge(c, &o, NULL);
    sgc_worker_endstate(c);
    return 0;
}

static int w_restart_persist(sgc_ctx *c)
{
    char a[48], b[48], ida[64];
    sgc_tok(c, a, sizeof a, "inflight", 1);
    sgc_tok(c, b, sizeof b, "after", 2);
    if (sgc_llm_script(c, "{\"latency_ms\":1500,\"rules\":[]}") != 0)
        return -1;
    c->effect_ms = 1500;
    sgc_msg m1 = { "pch", a, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &m1, ida) != 0)
        return -1;
    if (!sgc_wait(c, 10000, sgc_pred_effect, a))
        return sgc_error(c, "no LLM request within 10 s");
    if (sgc_redis_restart(c) != 0)
        return -1;
    sgc_wait(c, 20000, sgc_pred_delivered, a);
    if (sgc_llm_script(c, "{\"rules\":[]}") != 0)
        return -1;
    c->effect_ms = 0;
    sgc_msg m2 = { "pch", b, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &m2, NULL) != 0)
        return -1;
    sgc_wait(c, 15000, sgc_pred_delivered, b);
    sgc_check(c, "SG-IN-020", sgc_history_count(&c->hist, SGC_EV_DELIVER,
                                                b) == 1,
              "handling goes on after a Redis restart",
              "%d replies to the later entry",
              sgc_history_count(&c->hist, SGC_EV_DELIVER, b));
    sgc_hcheck_opts o = strict_opts();
    sgc_hmap m = { 0 };
    m.lost = "SG-IN-020";
    m.dup = "SG-IN-020";
    sgc_judge(c, &o, &m);
    sgc_worker_endstate(c);
    return 0;
}

typedef struct pend_state {
    const char *token;
} pend_state;

/* 1 while token's LLM request is recorded and still unanswered. */
static int llm_pending(sgc_ctx *c, const char *token)
{
    const cJSON *r;
    int pending = 0;
    cJSON_ArrayForEach(r, c->llm_reqs) {
        const cJSON *st = cJSON_GetObjectItem(r, "status");
        char *s = cJSON_PrintUnformatted(cJSON_GetObjectItem(r, "body"));
        if (s && strstr(s, token) && (st == NULL || cJSON_IsNull(st)))
            pending = 1;
        free(s);
    }
    return pending;
}

static int w_llm_hang(sgc_ctx *c)
{
    char x[48], y[48], idx[64];
    sgc_tok(c, x, sizeof x, "hang", 1);
    sgc_tok(c, y, sizeof y, "free", 2);
    char script[256];
    snprintf(script, sizeof script,
             "{\"rules\":[{\"match\":\"tok=%s\",\"hang\":true}]}", x);
    if (sgc_llm_script(c, script) != 0)
        return -1;
    sgc_msg mx = { "hx", x, 1, NULL, 1, SGC_EXPECT_ANY };
    if (sgc_publish_inbound(c, &mx, idx) != 0)
        return -1;
    if (!sgc_wait(c, 10000, sgc_pred_effect, x))
        return sgc_error(c, "no LLM request for the hanging entry");
    sgc_msg my = { "hy", y, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &my, NULL) != 0)
        return -1;
    sgc_wait(c, 10000, sgc_pred_delivered, y);
    /* Re-read the journal: is x still unanswered? */
    char url[256];
    snprintf(url, sizeof url, "%s/_mock/requests?since=0", c->llm.base);
    cJSON *j = sgc_http_json("GET", url, NULL, 5000, NULL);
    cJSON *reqs = cJSON_DetachItemFromObject(j, "requests");
    cJSON_Delete(c->llm_reqs);
    c->llm_reqs = reqs;
    cJSON_Delete(j);
    int x_pending = llm_pending(c, x);
    sgc_check(c, "SG-IN-008", sgc_history_count(&c->hist, SGC_EV_DELIVER, y)
                                  == 1 && x_pending,
              "an entry of another channel answered while one channel's "
              "LLM call hangs",
              "other channel answered %d time(s); hanging call %s",
              sgc_history_count(&c->hist, SGC_EV_DELIVER, y),
              x_pending ? "still pending" : "already ended");
    /* Each attempt times out; after SG_MAX_DELIVERIES it is parked. */
    int want = 1;
    sgc_wait(c, 40000, sgc_pred_dlq_count, &want);
    int dl = sgc_history_count(&c->hist, SGC_EV_DLQ, x);
    int dv = sgc_history_count(&c->hist, SGC_EV_DELIVER, x);
    sgc_check(c, "SG-IN-013", (dl == 1 && dv == 0) || (dl == 0 && dv == 1),
              "{dead-lettered handler_error after SG_MAX_DELIVERIES "
              "failed attempts, or answered once with an error text}",
              "%d dead letters, %d replies", dl, dv);
    if (dl == 1) {
        sgc_dlq_expect e = { idx, "handler_error", "", "SG-IN-013",
                             "entry whose LLM call always times out" };
        sgc_check_dlq(c, c->n.inbound, c->n.worker_group, &e, 1, 1);
        int attempts = sgc_history_count(&c->hist, SGC_EV_EFFECT, x);
        sgc_check(c, "SG-IN-012", attempts == c->k.max_deliveries,
                  "a failing entry retried until SG_MAX_DELIVERIES "
                  "deliveries, not acknowledged before",
                  "%d LLM attempts with SG_MAX_DELIVERIES=%d", attempts,
                  c->k.max_deliveries);
    }
    sgc_llm_script(c, "{\"rules\":[]}");
    sgc_llm_release(c);
    sgc_hcheck_opts o = strict_opts();
    o.dlq_ok = 1;
    sgc_judge(c, &o, NULL);
    sgc_worker_endstate(c);
    return 0;
}

static int w_llm_hang_setup(sgc_ctx *c)
{
    c->k.llm_timeout_ms = sgc_ms(c, 1000);
    if (sgc_start_instances(c, 1) != 0)
        return -1;
    return w_llm_hang(c);
}

static int w_llm_error(sgc_ctx *c)
{
    char once[48], always[48], id2[64];
    sgc_tok(c, once, sizeof once, "err", 1);
    sgc_tok(c, always, sizeof always, "err", 2);
    char script[512];
    snprintf(script, sizeof script,
             "{\"rules\":[{\"match\":\"tok=%s\",\"status\":500,"
             "\"error\":\"injected\",\"times\":1},"
             "{\"match\":\"tok=%s\",\"status\":503,\"error\":\"down\"}]}",
             once, always);
    if (sgc_llm_script(c, script) != 0)
        return -1;
    sgc_msg m1 = { "e1", once, 1, NULL, 0, 0 };
    sgc_msg m2 = { "e2", always, 1, NULL, 1, SGC_EXPECT_ANY };
    if (sgc_publish_inbound(c, &m1, NULL) ||
        sgc_publish_inbound(c, &m2, id2))
        return -1;
    sgc_wait(c, 20000, sgc_pred_delivered, once);
    int want = 1;
    sgc_wait(c, 20000, sgc_pred_dlq_count, &want);
    int d1 = sgc_history_count(&c->hist, SGC_EV_DELIVER, once);
    int a1 = sgc_history_count(&c->hist, SGC_EV_EFFECT, once);
    sgc_check(c, "SG-IN-012", d1 == 1 && a1 == 2,
              "{one failed LLM call, the entry left pending, redelivered "
              "and answered once}",
              "%d LLM calls, %d replies", a1, d1);
    int dl = sgc_history_count(&c->hist, SGC_EV_DLQ, always);
    int dv = sgc_history_count(&c->hist, SGC_EV_DELIVER, always);
    sgc_check(c, "SG-IN-013", (dl == 1 && dv == 0) || (dl == 0 && dv == 1),
              "{dead-lettered handler_error after SG_MAX_DELIVERIES, or "
              "answered once with an error text}",
              "%d dead letters, %d replies", dl, dv);
    if (dl == 1) {
        sgc_dlq_expect e = { id2, "handler_error", "", "SG-IN-013",
                             "entry whose LLM call always fails" };
        sgc_check_dlq(c, c->n.inbound, c->n.worker_group, &e, 1, 1);
    }
    sgc_hcheck_opts o = strict_opts();
    o.dlq_ok = 1;
    sgc_judge(c, &o, NULL);
    sgc_worker_endstate(c);
    return 0;
}

static int w_llm_slow(sgc_ctx *c)
{
    /* Each LLM call outlasts the lock TTL and the min-idle time. */
    char a[48], b[48], d[48];
    sgc_tok(c, a, sizeof a, "slow", 1);
    sgc_tok(c, b, sizeof b, "slow", 2);
    sgc_tok(c, d, sizeof d, "slow", 3);
    sgc_msg m[] = { { "sl1", a, 1, NULL, 0, 0 }, { "sl1", b, 1, NULL, 0, 0 },
                    { "sl2", d, 1, NULL, 0, 0 } };
    if (sgc_publish_inbound_many(c, m, 3) != 0)
        return -1;
    sgc_wait(c, 30000, sgc_pred_settled, NULL);
    sgc_hcheck_opts o = strict_opts();
    o.reclaim = 1;
    o.order = 0;
    sgc_hmap mm = { 0 };
    mm.overlap = "SG-LOCK-002";
    mm.reclaim = "SG-IN-019";
    sgc_judge(c, &o, &mm);
    sgc_worker_endstate(c);
    return 0;
}

static int w_sigterm(sgc_ctx *c)
{
    char a[48], b[48], ida[64];
    sgc_tok(c, a, sizeof a, "term", 1);
    sgc_tok(c, b, sizeof b, "term", 2);
    if (sgc_llm_script(c, "{\"latency_ms\":1000,\"rules\":[]}") != 0)
        return -1;
    c->effect_ms = 1000;
    sgc_msg m1 = { "tch", a, 1, NULL, 0, 0 };
    sgc_msg m2 = { "tch", b, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &m1, ida) || sgc_publish_inbound(c, &m2, NULL))
        return -1;
    int victim = handling_instance(c, a, ida);
    if (victim < 0)
        return -1;
    c->inst[victim].intended = 1;
    sgc_proc_signal(&c->inst[victim], SIGTERM);
    long long t0 = sgc_now_ms();
    int exited = 0;
    while (sgc_now_ms() - t0 < c->k.drain_ms + sgc_ms(c, 3000)) {
        sgc_observe(c);
        if (sgc_proc_poll(&c->inst[victim])) {
            exited = 1;
            break;
        }
        sgc_sleep_ms(25);
    }
    int st = c->inst[victim].status;
    sgc_check(c, "SG-IN-017", exited && WIFEXITED(st) &&
                                  WEXITSTATUS(st) == 0,
              "on SIGTERM: finish the handling in progress, exit 0 within "
              "SG_DRAIN_MS", "%s", !exited ? "still running"
                                 : WIFEXITED(st) ? "exited" : "killed");
    if (exited && WIFEXITED(st))
        sgc_check(c, "SG-IN-017", WEXITSTATUS(st) == 0, "exit status 0",
                  "exit status %d", WEXITSTATUS(st));
    sgc_check(c, "SG-IN-017", sgc_history_count(&c->hist, SGC_EV_DELIVER, a)
                                  == 1,
              "the handling in progress at SIGTERM is finished and "
              "answered", "%d replies",
              sgc_history_count(&c->hist, SGC_EV_DELIVER, a));
    sgc_llm_script(c, "{\"rules\":[]}");
    c->effect_ms = 0;
    sgc_wait(c, 20000, sgc_pred_settled, NULL);
    sgc_hcheck_opts o = strict_opts();
    o.overlap = 0;
    sgc_hmap m = { 0 };
    m.lost = "SG-IN-017";
    sgc_judge(c, &o, &m);
    sgc_worker_endstate(c);
    return 0;
}

static int w_metrics(sgc_ctx *c)
{
    char t[48];
    sgc_tok(c, t, sizeof t, "met", 1);
    sgc_msg m = { "mch", t, 1, NULL, 0, 0 };
    if (sgc_publish_inbound(c, &m, NULL) != 0)
        return -1;
    sgc_wait(c, 10000, sgc_pred_delivered, t);
    FILE *f = fopen(c->inst[0].log, "r");
    char line[1024], url[256] = "";
    while (f && fgets(line, sizeof line, f)) {
        char *p = strstr(line, "metrics at ");
        if (p) {
            sscanf(p + 11, "%255s", url);
            break;
        }
    }
    if (f)
        fclose(f);
    if (!url[0])
        return sgc_error(c, "no \"metrics at <url>\" line on stderr");
    sgc_http_resp r;
    sgc_http("GET", url, NULL, 5000, &r);
    int ok = r.status == 200 && r.body && strstr(r.body, "# TYPE") != NULL;
    sgc_check(c, "SG-IN-022", ok,
              "handled/failed/dead-lettered counters exposed to the "
              "operator (Prometheus text at the metrics URL)",
              "GET %s: status %ld", url, r.status);
    sgc_http_resp_free(&r);
    return 0;
}

static int w_knobs(sgc_ctx *c)
{
    /* The instance must refuse to start. */
    sgc_env(c, "SG_LOCK_TTL_MS=12abc");
    int i = c->ninst;
    if (sgc_start_instance(c) >= 0) {
        sgc_check(c, "SG-CFG-004", 0,
                  "refuse to start when SG_LOCK_TTL_MS is not a positive "
                  "integer", "the instance started and became ready");
        return 0;
    }
    /* sgc_start_instance marked the case broken: this is the verdict. */
    c->errored = 0;
    c->error[0] = '\0';
    sgc_proc *q = &c->inst[i];
    q->intended = 1;
    int code = WIFEXITED(q->status) ? WEXITSTATUS(q->status) : -1;
    int named = sgc_file_contains(q->log, "SG_LOCK_TTL_MS");
    sgc_check(c, "SG-CFG-004", code > 0 && named,
              "exit non-zero with a message naming SG_LOCK_TTL_MS",
              "exit %d; message %s the variable", code,
              named ? "names" : "does not name");
    return 0;
}

static int w_requeue_entry(sgc_ctx *c) { return w_requeue_setup(c); }

#define W(id, title, reqs, caps, n, persist, lat, fn) \
    { id, title, "worker", reqs, caps, n, persist, lat, fn }

const sgc_case sgc_worker_cases[] = {
    W("worker.inbound.happy", "three channels answered in order, once each",
      "SG-IN-001 SG-IN-004 SG-IN-005 SG-IN-009 SG-IN-010 SG-IN-011 "
      "SG-IN-021 SG-LOCK-001 SG-LOCK-003 SG-LOCK-006 SG-LOCK-007 "
      "SG-CLAIM-009 SG-TOPO-002 SG-TOPO-003 SG-TOPO-006 SG-OUTENV-006 "
      "SG-TRACE-002 SG-DLQ-002 SG-DLQ-004 SG-DLQ-007",
      NULL, 1, 0, 50, w_happy),
    W("worker.inbound.passive", "passive entries handled without the "
      "channel lock", "SG-IN-007 SG-INENV-002 SG-DLQ-004 SG-IN-010 "
      "SG-LOCK-007", NULL, 1, 0, 0, w_passive),
    W("worker.dlq.malformed", "malformed, oversized and unknown-version "
      "entries dead-lettered with reason and path",
      "SG-IN-003 SG-FRAME-003 SG-FRAME-004 SG-FRAME-005 SG-FRAME-006 "
      "SG-FRAME-007 SG-MP-001 SG-ENV-003 SG-INENV-001 SG-INENV-004 "
      "SG-LIMIT-001 SG-LIMIT-002 SG-LIMIT-007 SG-DLQ-001 SG-DLQ-003 "
      "SG-DLQ-004 SG-DLQ-006 SG-DLQ-007 SG-CLAIM-009",
      NULL, 1, 0, 0, w_malformed),
    W("worker.burst.many_channels", "1600 entries over 40 channels at once, "
      "two instances: exactly once, none reclaimed",
      "SG-IN-002 SG-IN-004 SG-IN-008 SG-IN-009 SG-IN-019 SG-IN-021 "
      "SG-LOCK-005 SG-CLAIM-007 SG-DLQ-004 SG-LOCK-007 SG-IN-027",
      NULL, 0, 0, 5, w_burst),
    W("worker.order.one_instance", "per-channel order of 150 entries on "
      "one instance", "SG-IN-004 SG-IN-005 SG-IN-019", NULL, 1, 0, 10,
      w_order),
    W("worker.order.cross_consumer", "per-channel order across two "
      "instances", "SG-IN-006", "cross-consumer-order", 2, 0, 10,
      w_order_cross),
    W("worker.order.queues", "order queues keep per-channel order across "
      "two instances", "SG-IN-023 SG-IN-024 SG-IN-025 SG-IN-006",
      "order-queues", 2, 0, 5, w_order_queues),
    W("worker.crash.sigkill", "SIGKILL mid-handling: the entry is reclaimed "
      "by another instance and answered once",
      "SG-CLAIM-001 SG-CLAIM-004 SG-CLAIM-006 SG-CLAIM-007 SG-CLAIM-008 "
      "SG-CLAIM-009 SG-IN-019 SG-IN-009 SG-IN-011 SG-LOCK-001",
      NULL, 2, 0, 0, w_sigkill),
    W("worker.crash.burst", "SIGKILL of one of two instances in a 400-entry "
      "burst, then a replacement: nothing lost, redeliveries keep their "
      "message_key", "SG-CLAIM-006 SG-CLAIM-009 SG-OUTENV-006 SG-IN-010 "
      "SG-LOCK-007 SG-DLQ-004", NULL, 2, 0, 20, w_crash_burst),
    W("worker.pause.sigstop", "SIGSTOP past the lock TTL: the resumed "
      "handler is fenced", "SG-LOCK-002 SG-LOCK-004 SG-IN-011 SG-CLAIM-006",
      NULL, 2, 0, 0, w_sigstop),
    W("worker.ownership.stolen", "entries claimed away mid-handling and "
      "while queued", "SG-IN-009 SG-IN-011 SG-CLAIM-007 SG-IN-024", NULL,
      1, 0, 0,
      w_stolen),
    W("worker.lock.stranger", "a stranger holds the channel lock",
      "SG-IN-004 SG-LOCK-001 SG-LOCK-003 SG-LOCK-005", NULL, 1, 0, 0,
      w_stranger),
    W("worker.lock.wake", "lock wake-ups: the worker as waiter and as "
      "holder", "SG-LOCK-008 SG-LOCK-009", "lock-wake", 1, 0, 0,
      w_lock_wake),
    W("worker.lock.requeue", "lock never free: requeued, then dead-lettered "
      "lock_timeout", "SG-IN-014 SG-IN-015 SG-DLQ-001 SG-DLQ-004 "
      "SG-DLQ-007", NULL, 0, 0, 0, w_requeue_entry),
    W("worker.claim.stale_consumer", "a dead consumer's entries reclaimed; "
      "quarantine; entry deleted while pending",
      "SG-CLAIM-001 SG-CLAIM-003 SG-CLAIM-004 SG-CLAIM-005 SG-CLAIM-006 "
      "SG-CLAIM-008 SG-CLAIM-009 SG-IN-018 SG-DLQ-001 SG-DLQ-004 "
      "SG-DLQ-007", NULL, 0, 0, 0, w_stale),
    W("worker.claim.cursor", "an orphan behind 120 young pending entries "
      "is reached by a sweep that carries its cursor",
      "SG-CLAIM-002 SG-CLAIM-007 SG-CLAIM-006", NULL, 0, 0, 0, w_cursor),
    W("worker.redis.restart_empty", "Redis restarts without persistence",
      "SG-TOPO-008 SG-IN-020", NULL, 1, 0, 0, w_restart_empty),
    W("worker.redis.restart_persistent", "Redis restarts (AOF) during a "
      "handling", "SG-IN-020 SG-OPS-004", NULL, 1, 1, 0, w_restart_persist),
    W("worker.llm.hanging", "an LLM call that never returns",
      "SG-IN-008 SG-IN-012 SG-IN-013 SG-DLQ-001 SG-DLQ-003", NULL, 0, 0, 0,
      w_llm_hang_setup),
    W("worker.llm.errors", "LLM errors: one retried, one permanent",
      "SG-IN-012 SG-IN-013 SG-DLQ-001 SG-DLQ-004", NULL, 1, 0, 0,
      w_llm_error),
    W("worker.llm.slow", "LLM calls longer than the lock TTL and the "
      "min-idle time", "SG-LOCK-002 SG-IN-019 SG-IN-004", NULL, 2, 0, 3000,
      w_llm_slow),
    W("worker.stop.sigterm", "SIGTERM mid-handling: drain, exit 0",
      "SG-IN-017", NULL, 2, 0, 0, w_sigterm),
    W("worker.rpc.caller", "the worker as RPC caller: bad, missing and "
      "late replies", "SG-RPC-009 SG-RPC-010 SG-RPC-011 SG-TRACE-002",
      NULL, 1, 0, 0, w_rpc_caller),
    W("worker.ops.metrics", "counters exposed to the operator",
      "SG-IN-022", "metrics", 1, 0, 0, w_metrics),
    W("worker.config.bad_knob", "a knob that is not a positive integer "
      "stops the start", "SG-CFG-004", NULL, 0, 0, 0, w_knobs),
};

const size_t sgc_worker_ncases =
    sizeof sgc_worker_cases / sizeof sgc_worker_cases[0];
