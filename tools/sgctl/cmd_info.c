/*
 * cmd_info.c: `sgctl info`, the state of the bus at a glance: every
 * stream, group and consumer with length, lag and pending count, the
 * oldest pending entry's age, the dead-letter depth (in total and per
 * origin stream), and who holds the locks and leases.
 *
 * Everything is gathered into one JSON tree first; --json prints it, the
 * readable view is rendered from it, so both always say the same.
 */
#define _GNU_SOURCE

#include "sgctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#define CMD "info"

/*
 * How many dead letters are read, by default, to count them per origin
 * and reason: each is read whole (its data may be large), so the count is
 * bounded; --dlq-scan changes it, 0 turns it off.
 */
#define DLQ_SCAN_DEFAULT 10000
/* How many lock keys are listed per prefix. */
#define LOCKS_MAX 1000

static const char help[] =
    "Usage: sgctl info [options]\n\n"
    "Every stream of the bus (inbound, outbound per platform, tools, tools\n"
    "replies, dead letters) with its length; every group with consumers,\n"
    "pending count, lag and the oldest pending entry (ID, age, idle time,\n"
    "deliveries, owner); every consumer with its pending count and idle\n"
    "time; the dead-letter depth, in total and per origin stream; the\n"
    "lock holders (token, TTL) and the lease holders.\n\n"
    "Options:\n"
    "      --locks N        list at most N lock keys per prefix "
    "(default 1000)\n"
    "      --dlq-scan N     read at most N dead letters to count them per\n"
    "                       origin and reason (default 10000; 0: none)\n\n"
    SGCTL_COMMON_HELP;

/* The value of `name` in a flat [k, v, k, v] reply, or NULL. */
static const redisReply *kv(const redisReply *r, const char *name)
{
    size_t i;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (i = 0; i + 1 < r->elements; i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(r->element[i]->str, name) == 0)
            return r->element[i + 1];
    return NULL;
}

static void add_int_or_null(cJSON *o, const char *name, const redisReply *v)
{
    if (v != NULL && v->type == REDIS_REPLY_INTEGER)
        cJSON_AddNumberToObject(o, name, (double)v->integer);
    else if (v != NULL && v->type == REDIS_REPLY_STRING &&
             sgctl_parse_count(v->str) >= 0)
        cJSON_AddNumberToObject(o, name, (double)sgctl_parse_count(v->str));
    else
        cJSON_AddNullToObject(o, name);
}

static void add_str_or_null(cJSON *o, const char *name, const redisReply *v)
{
    if (v != NULL && (v->type == REDIS_REPLY_STRING ||
                      v->type == REDIS_REPLY_STATUS))
        cJSON_AddItemToObject(o, name, sgctl_json_bytes(v->str, v->len));
    else
        cJSON_AddNullToObject(o, name);
}

static long long id_ms(const char *id)
{
    return sgctl_id_ms(id);
}

static int server_time_ms(sgctl *c, long long *ms)
{
    redisReply *r = sgctl_cmd(c, CMD, "TIME");

    if (r == NULL)
        return SGCTL_EXIT_UNREACHABLE;
    *ms = sgctl_now_ms();
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        long long s = sgctl_parse_count(r->element[0]->str);
        long long us = sgctl_parse_count(r->element[1]->str);
        if (s >= 0 && us >= 0 && s < 9000000000000LL)
            *ms = s * 1000 + us / 1000;
    }
    freeReplyObject(r);
    return 0;
}

static int group_info(sgctl *c, const char *stream, const redisReply *g,
                      long long now, cJSON *out)
{
    const redisReply *name = kv(g, "name");
    cJSON *gj = cJSON_CreateObject(), *cl, *oj;
    redisReply *r;
    size_t i;

    if (gj == NULL || name == NULL || name->type != REDIS_REPLY_STRING) {
        cJSON_Delete(gj);
        return 0;
    }
    cJSON_AddItemToArray(out, gj);
    add_str_or_null(gj, "name", name);
    add_int_or_null(gj, "consumers", kv(g, "consumers"));
    add_int_or_null(gj, "pending", kv(g, "pending"));
    add_int_or_null(gj, "lag", kv(g, "lag"));
    add_str_or_null(gj, "last_delivered_id", kv(g, "last-delivered-id"));

    r = sgctl_cmd(c, CMD, "XPENDING %s %b - + 1", stream, name->str,
                  name->len);
    if (r == NULL)
        return SGCTL_EXIT_UNREACHABLE;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
        r->element[0]->type == REDIS_REPLY_ARRAY &&
        r->element[0]->elements == 4) {
        redisReply *p = r->element[0];
        oj = cJSON_AddObjectToObject(gj, "oldest_pending");
        add_str_or_null(oj, "id", p->element[0]);
        cJSON_AddNumberToObject(oj, "age_ms",
                                (double)(now - id_ms(p->element[0]->str)));
        add_str_or_null(oj, "consumer", p->element[1]);
        add_int_or_null(oj, "idle_ms", p->element[2]);
        add_int_or_null(oj, "deliveries", p->element[3]);
    } else {
        cJSON_AddNullToObject(gj, "oldest_pending");
    }
    freeReplyObject(r);

    cl = cJSON_AddArrayToObject(gj, "consumer_list");
    r = sgctl_cmd(c, CMD, "XINFO CONSUMERS %s %b", stream, name->str,
                  name->len);
    if (r == NULL)
        return SGCTL_EXIT_UNREACHABLE;
    for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        cJSON *cj = cJSON_CreateObject();
        if (cj == NULL)
            break;
        add_str_or_null(cj, "name", kv(r->element[i], "name"));
        add_int_or_null(cj, "pending", kv(r->element[i], "pending"));
        add_int_or_null(cj, "idle_ms", kv(r->element[i], "idle"));
        cJSON_AddItemToArray(cl, cj);
    }
    freeReplyObject(r);
    return 0;
}

static int stream_info(sgctl *c, const char *stream, long long now,
                       cJSON *out)
{
    cJSON *sj = cJSON_CreateObject(), *groups;
    int kind = sgctl_stream_kind(c, stream, strlen(stream));
    redisReply *r;
    size_t i;
    int rc;

    if (sj == NULL)
        return SGCTL_EXIT_FAIL;
    cJSON_AddItemToArray(out, sj);
    cJSON_AddStringToObject(sj, "name", stream);
    cJSON_AddStringToObject(sj, "kind",
                            kind >= 0 ? sg_kind_name((sg_kind)kind)
                            : kind == SGCTL_STREAM_DLQ ? "dead_letters"
                                                       : "unknown");
    r = sgctl_cmd(c, CMD, "XINFO STREAM %s", stream);
    if (r == NULL)
        return SGCTL_EXIT_UNREACHABLE;
    add_int_or_null(sj, "length", kv(r, "length"));
    add_str_or_null(sj, "last_id", kv(r, "last-generated-id"));
    freeReplyObject(r);
    cJSON_AddNumberToObject(sj, "dead_letters", 0);

    groups = cJSON_AddArrayToObject(sj, "groups");
    r = sgctl_cmd(c, CMD, "XINFO GROUPS %s", stream);
    if (r == NULL)
        return SGCTL_EXIT_UNREACHABLE;
    for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        rc = group_info(c, stream, r->element[i], now, groups);
        if (rc != 0) {
            freeReplyObject(r);
            return rc;
        }
    }
    freeReplyObject(r);
    return 0;
}

static void count_into(cJSON *o, const redisReply *v)
{
    char name[256];
    cJSON *n;
    size_t len;

    if (v == NULL || v->type != REDIS_REPLY_STRING)
        return;
    len = v->len < sizeof name - 1 ? v->len : sizeof name - 1;
    memcpy(name, v->str, len);
    name[len] = '\0';
    n = cJSON_GetObjectItemCaseSensitive(o, name);
    if (n != NULL)
        cJSON_SetNumberValue(n, n->valuedouble + 1);
    else
        cJSON_AddNumberToObject(o, name, 1);
}

static int dlq_info(sgctl *c, long long now, long long scan_max,
                    cJSON *root, cJSON *streams)
{
    const char *dlq = c->topo.dlq_stream;
    cJSON *dj = cJSON_AddObjectToObject(root, "dlq"), *by_origin,
          *by_reason, *s, *n_depth;
    char start[64] = "-";
    long long scanned = 0;
    redisReply *r;
    size_t i;

    cJSON_AddStringToObject(dj, "stream", dlq);
    r = sgctl_cmd(c, CMD, "XLEN %s", dlq);
    if (r == NULL)
        return SGCTL_EXIT_UNREACHABLE;
    add_int_or_null(dj, "depth", r);
    freeReplyObject(r);
    by_origin = cJSON_AddObjectToObject(dj, "by_origin");
    by_reason = cJSON_AddObjectToObject(dj, "by_reason");
    cJSON_AddNullToObject(dj, "oldest_id");
    while (scanned < scan_max) {
        long long page = scan_max - scanned < 100 ? scan_max - scanned : 100;

        r = sgctl_cmd(c, CMD, "XRANGE %s %s + COUNT %lld", dlq, start,
                      page);
        if (r == NULL)
            return SGCTL_EXIT_UNREACHABLE;
        if (r->type != REDIS_REPLY_ARRAY || r->elements == 0) {
            freeReplyObject(r);
            break;
        }
        for (i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (scanned == 0) {
                cJSON_ReplaceItemInObject(dj, "oldest_id",
                    cJSON_CreateString(e->element[0]->str));
                cJSON_AddNumberToObject(dj, "oldest_age_ms",
                    (double)(now - id_ms(e->element[0]->str)));
            }
            count_into(by_origin, kv(e->element[1], "dlq_origin_stream"));
            count_into(by_reason, kv(e->element[1], "dlq_reason"));
            scanned++;
        }
        snprintf(start, sizeof start, "(%s",
                 r->element[r->elements - 1]->element[0]->str);
        freeReplyObject(r);
    }
    if (scanned == 0) {
        /* Not counted: still name the oldest. */
        r = sgctl_cmd(c, CMD, "XRANGE %s - + COUNT 1", dlq);
        if (r == NULL)
            return SGCTL_EXIT_UNREACHABLE;
        if (r->type == REDIS_REPLY_ARRAY && r->elements == 1) {
            cJSON_ReplaceItemInObject(dj, "oldest_id",
                cJSON_CreateString(r->element[0]->element[0]->str));
            cJSON_AddNumberToObject(dj, "oldest_age_ms",
                (double)(now - id_ms(r->element[0]->element[0]->str)));
        }
        freeReplyObject(r);
    }
    cJSON_AddNumberToObject(dj, "scanned", (double)scanned);
    /* Per-origin and per-reason counts are lower bounds when not all
       dead letters were read. */
    n_depth = cJSON_GetObjectItemCaseSensitive(dj, "depth");
    cJSON_AddBoolToObject(dj, "counts_complete",
                          cJSON_IsNumber(n_depth) &&
                          (double)scanned >= n_depth->valuedouble);
    /* Each stream's own dead-letter depth. */
    cJSON_ArrayForEach(s, streams) {
        const char *name = cJSON_GetObjectItemCaseSensitive(s, "name")
                               ->valuestring;
        cJSON *n = cJSON_GetObjectItemCaseSensitive(by_origin, name);
        if (n != NULL)
            cJSON_SetNumberValue(
                cJSON_GetObjectItemCaseSensitive(s, "dead_letters"),
                n->valuedouble);
    }
    return 0;
}

static int key_holder(sgctl *c, const char *key, cJSON *arr, int always)
{
    redisReply *r = sgctl_cmd(c, CMD, "GET %s", key), *t;
    cJSON *o;

    if (r == NULL)
        return SGCTL_EXIT_UNREACHABLE;
    if (r->type != REDIS_REPLY_STRING && !always) {
        freeReplyObject(r);
        return 0;
    }
    t = sgctl_cmd(c, CMD, "PTTL %s", key);
    if (t == NULL) {
        freeReplyObject(r);
        return SGCTL_EXIT_UNREACHABLE;
    }
    o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "key", key);
    add_str_or_null(o, "holder", r->type == REDIS_REPLY_STRING ? r : NULL);
    if (t->type == REDIS_REPLY_INTEGER && t->integer >= 0)
        cJSON_AddNumberToObject(o, "ttl_ms", (double)t->integer);
    else
        cJSON_AddNullToObject(o, "ttl_ms");
    cJSON_AddItemToArray(arr, o);
    freeReplyObject(r);
    freeReplyObject(t);
    return 0;
}

static int locks_info(sgctl *c, size_t max, cJSON *root)
{
    const char *prefixes[2];
    cJSON *locks = cJSON_AddArrayToObject(root, "locks");
    cJSON *leases = cJSON_AddArrayToObject(root, "leases");
    sgctl_strv keys = {0};
    size_t i;
    int k, rc;

    prefixes[0] = c->topo.lock_prefix;
    prefixes[1] = c->topo.outbound_lock_prefix;
    for (k = 0; k < 2; k++) {
        rc = sgctl_scan_prefix(c, CMD, prefixes[k], "string", max, &keys);
        if (rc != 0) {
            sgctl_strv_free(&keys);
            return rc;
        }
    }
    for (i = 0; i < keys.n; i++) {
        rc = key_holder(c, keys.v[i], locks, 0);
        if (rc != 0) {
            sgctl_strv_free(&keys);
            return rc;
        }
    }
    sgctl_strv_free(&keys);
    if ((rc = key_holder(c, c->topo.leader_key, leases, 1)) != 0 ||
        (rc = key_holder(c, c->topo.status_lease_key, leases, 1)) != 0)
        return rc;
    return 0;
}

static int claim_info(sgctl *c, cJSON *root)
{
    cJSON *o = cJSON_AddObjectToObject(root, "claim_attempts");
    const char *keys[2];
    const char *names[2] = {"inbound", "outbound"};
    redisReply *r;
    int k;

    keys[0] = c->topo.claim_attempts_key;
    keys[1] = c->topo.outbound_claim_attempts_key;
    for (k = 0; k < 2; k++) {
        r = sgctl_cmd(c, CMD, "HLEN %s", keys[k]);
        if (r == NULL)
            return SGCTL_EXIT_UNREACHABLE;
        add_int_or_null(o, names[k], r);
        freeReplyObject(r);
    }
    return 0;
}

/* ---- the readable view -------------------------------------------------- */

static double num(const cJSON *o, const char *name)
{
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsNumber(n) ? n->valuedouble : -1;
}

static const char *str(const cJSON *o, const char *name)
{
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(o, name);

    return cJSON_IsString(s) ? s->valuestring : "-";
}

static void print_secs(FILE *f, const char *label, double ms)
{
    if (ms < 0)
        fprintf(f, "  %s -", label);
    else
        fprintf(f, "  %s %.1f s", label, ms / 1000.0);
}

static void render(sgctl *c, const cJSON *root)
{
    const cJSON *s, *g, *p, *k, *l, *dj;
    FILE *f = c->out;

    fprintf(f, "redis %s\n", str(root, "source"));
    cJSON_ArrayForEach(s, cJSON_GetObjectItemCaseSensitive(root,
                                                           "streams")) {
        fprintf(f, "stream %s  kind %s  length %.0f  dead letters %.0f\n",
                str(s, "name"), str(s, "kind"), num(s, "length"),
                num(s, "dead_letters"));
        cJSON_ArrayForEach(g, cJSON_GetObjectItemCaseSensitive(s,
                                                               "groups")) {
            fprintf(f, "  group %s  consumers %.0f  pending %.0f  lag ",
                    str(g, "name"), num(g, "consumers"), num(g, "pending"));
            if (num(g, "lag") < 0)
                fputs("?", f);
            else
                fprintf(f, "%.0f", num(g, "lag"));
            fprintf(f, "  last delivered %s\n", str(g, "last_delivered_id"));
            p = cJSON_GetObjectItemCaseSensitive(g, "oldest_pending");
            if (cJSON_IsObject(p)) {
                fprintf(f, "    oldest pending %s", str(p, "id"));
                print_secs(f, "age", num(p, "age_ms"));
                print_secs(f, "idle", num(p, "idle_ms"));
                fprintf(f, "  deliveries %.0f  consumer %s\n",
                        num(p, "deliveries"), str(p, "consumer"));
            }
            cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(
                                      g, "consumer_list")) {
                fprintf(f, "    consumer %s  pending %.0f", str(k, "name"),
                        num(k, "pending"));
                print_secs(f, "idle", num(k, "idle_ms"));
                fputc('\n', f);
            }
        }
    }
    dj = cJSON_GetObjectItemCaseSensitive(root, "dlq");
    fprintf(f, "dead letters %s  depth %.0f", str(dj, "stream"),
            num(dj, "depth"));
    if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(dj, "oldest_id"))) {
        fprintf(f, "  oldest %s", str(dj, "oldest_id"));
        print_secs(f, "age", num(dj, "oldest_age_ms"));
    }
    fputc('\n', f);
    if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(dj,
                                                      "counts_complete")))
        fprintf(f, "  (counted over the oldest %.0f; --dlq-scan reads "
                "more)\n", num(dj, "scanned"));
    cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(dj, "by_reason"))
        fprintf(f, "  reason %s: %.0f\n", k->string, k->valuedouble);
    l = cJSON_GetObjectItemCaseSensitive(root, "locks");
    fprintf(f, "locks %d\n", cJSON_GetArraySize(l));
    cJSON_ArrayForEach(k, l) {
        fprintf(f, "  %s  holder %s", str(k, "key"), str(k, "holder"));
        print_secs(f, "ttl", num(k, "ttl_ms"));
        fputc('\n', f);
    }
    fputs("leases\n", f);
    cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(root, "leases")) {
        if (cJSON_IsString(cJSON_GetObjectItemCaseSensitive(k, "holder"))) {
            fprintf(f, "  %s  holder %s", str(k, "key"), str(k, "holder"));
            print_secs(f, "ttl", num(k, "ttl_ms"));
            fputc('\n', f);
        } else {
            fprintf(f, "  %s  (free)\n", str(k, "key"));
        }
    }
    k = cJSON_GetObjectItemCaseSensitive(root, "claim_attempts");
    fprintf(f, "claim attempts  inbound %.0f  outbound %.0f\n",
            num(k, "inbound"), num(k, "outbound"));
    fflush(f);
}

int sgctl_cmd_info(sgctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"locks", required_argument, NULL, 'L'},
        {"dlq-scan", required_argument, NULL, 'D'},
        SGCTL_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0}
    };
    sgctl_strv streams = {0};
    long long max_locks = LOCKS_MAX, scan_max = DLQ_SCAN_DEFAULT, now;
    char source[300];
    cJSON *root = NULL, *sarr;
    size_t i;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, SGCTL_COMMON_SHORTOPTS, opts,
                              NULL)) != -1) {
        if (opt == 'D') {
            if ((scan_max = sgctl_parse_count(optarg)) < 0) {
                sgctl_errorf(c, CMD, "--dlq-scan: '%s' is not a count",
                             optarg);
                return SGCTL_EXIT_USAGE;
            }
            continue;
        }
        if (opt == 'L') {
            if ((max_locks = sgctl_parse_count(optarg)) < 0) {
                sgctl_errorf(c, CMD, "--locks: '%s' is not a count",
                             optarg);
                return SGCTL_EXIT_USAGE;
            }
            continue;
        }
        rc = sgctl_common_opt(c, CMD, opt, optarg);
        if (rc < 0)
            return SGCTL_EXIT_USAGE;
        if (rc == 0)
            return sgctl_bad_option(c, CMD, argv);
    }
    if (c->help) {
        fputs(help, c->out);
        return SGCTL_EXIT_OK;
    }
    if (optind < argc) {
        sgctl_errorf(c, CMD, "unexpected argument '%s'", argv[optind]);
        return SGCTL_EXIT_USAGE;
    }
    if (sgctl_apply_namespace(c, CMD) != 0)
        return SGCTL_EXIT_USAGE;
    if ((rc = sgctl_connect(c, CMD)) != 0)
        return rc;
    if ((rc = server_time_ms(c, &now)) != 0)
        return rc;
    root = cJSON_CreateObject();
    if (root == NULL)
        return SGCTL_EXIT_FAIL;
    sgctl_source_url(c, source, sizeof source);
    cJSON_AddStringToObject(root, "source", source);
    cJSON_AddNumberToObject(root, "time_ms", (double)now);
    sarr = cJSON_AddArrayToObject(root, "streams");
    rc = sgctl_bus_streams(c, CMD, 0, &streams);
    for (i = 0; rc == 0 && i < streams.n; i++)
        rc = stream_info(c, streams.v[i], now, sarr);
    if (rc == 0)
        rc = dlq_info(c, now, scan_max, root, sarr);
    if (rc == 0)
        rc = locks_info(c, (size_t)max_locks, root);
    if (rc == 0)
        rc = claim_info(c, root);
    sgctl_strv_free(&streams);
    if (rc != 0) {
        cJSON_Delete(root);
        return rc;
    }
    if (c->json) {
        sgctl_print_json(c, root);
    } else {
        render(c, root);
        cJSON_Delete(root);
    }
    return SGCTL_EXIT_OK;
}
