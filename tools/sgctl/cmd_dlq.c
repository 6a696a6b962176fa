/*
 * cmd_dlq.c: `sgctl dlq`, the dead-letter stream (SPEC section 18): list,
 * show (decoded, with reason and origin), requeue and purge, one entry,
 * the entries matching a filter, or all.
 *
 * A requeue is one script per entry (SG-DLQ-005): it reads the dead
 * letter, checks it still names the origin stream the client read, XADDs
 * the original fields (every field but the dlq_ ones) plus
 * requeued_from_dlq to the origin stream, and XDELs the dead letter. The
 * XADD is the script's first write, so a failing XADD (the origin key is
 * of another type, memory is full) leaves everything as it was; nothing
 * can run between the XADD and the XDEL. A requeue of many entries that
 * stops half way has moved exactly the entries it reported, and running
 * it again moves the rest: an entry is never in both streams, nor in
 * neither.
 */
#define _GNU_SOURCE

#include "sgctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CMD "dlq"

#define PAGE 200
#define MAX_FIELDS 1024

static const char help[] =
    "Usage: sgctl dlq <list|show|requeue|purge> [options] [ID...]\n\n"
    "The dead-letter stream ($SG_DLQ_STREAM, SPEC section 18).\n\n"
    "  list                 one line per dead letter: ID, time, reason,\n"
    "                       path, origin stream and ID, attempts, error\n"
    "  show ID...           the entries decoded with their origin's\n"
    "                       table, with every dlq_ field\n"
    "  requeue ID... | --all | FILTER\n"
    "                       put entries back on their origin stream with\n"
    "                       their original fields and requeued_from_dlq,\n"
    "                       removing them from the dead-letter stream, in\n"
    "                       one atomic step each (SG-DLQ-005)\n"
    "  purge ID... | --all | FILTER\n"
    "                       delete entries for good\n\n"
    "Options:\n"
    "      --reason CODE    only entries with this dlq_reason\n"
    "      --origin STREAM  only entries from this stream\n"
    "      --channel ID     only entries whose envelope's channel is ID\n"
    "      --all            requeue / purge: every entry (that matches\n"
    "                       the filters, if any)\n"
    "  -c, --count N        act on / list at most N entries (list: 100)\n"
    "      --from ID        list: start at ID\n\n"
    "Exit 1 when an ID is not in the dead-letter stream or a requeue\n"
    "fails (the entries before it stay requeued, the rest stay put).\n\n"
    SGCTL_COMMON_HELP;

enum {
    OPT_REASON = SGCTL_OPT_FIRST_FREE,
    OPT_ORIGIN,
    OPT_CHANNEL,
    OPT_ALL,
    OPT_FROM
};

/*
 * KEYS[1] dead-letter stream, KEYS[2] the origin stream the client read;
 * ARGV[1] the dead letter's ID, ARGV[2] the origin's MAXLEN ~ cap.
 * {1, new id}, {0, ''} gone, {-1, origin} origin differs, {-2, ''} no
 * original field.
 */
static const char requeue_script[] =
    "local e = redis.call('XRANGE', KEYS[1], ARGV[1], ARGV[1])\n"
    "if #e == 0 then return {0, ''} end\n"
    "local f = e[1][2]\n"
    "local out = {}\n"
    "local origin = nil\n"
    "for i = 1, #f, 2 do\n"
    "  local k = f[i]\n"
    "  if k == 'dlq_origin_stream' then origin = f[i + 1] end\n"
    /* A second requeue replaces the first one's marker. */
    "  if string.sub(k, 1, 4) ~= 'dlq_' and k ~= 'requeued_from_dlq' then\n"
    "    out[#out + 1] = k\n"
    "    out[#out + 1] = f[i + 1]\n"
    "  end\n"
    "end\n"
    "if origin ~= KEYS[2] then return {-1, origin or ''} end\n"
    "if #out == 0 then return {-2, ''} end\n"
    "out[#out + 1] = 'requeued_from_dlq'\n"
    "out[#out + 1] = ARGV[1]\n"
    "local id = redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*',\n"
    "                      unpack(out))\n"
    "redis.call('XDEL', KEYS[1], ARGV[1])\n"
    "return {1, id}\n";

typedef struct dlq {
    sgctl *c;
    const char *reason;
    const char *origin;
    const char *channel;
    int all;
    long long count;
    const char *from;
    char sha[64];
    sg_entry_field *fbuf;
    uint64_t acted;
    uint64_t missing;
} dlq;

static const redisReply *kv(const redisReply *r, const char *name)
{
    size_t i;

    for (i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements;
         i += 2)
        if (r->element[i]->type == REDIS_REPLY_STRING &&
            strcmp(r->element[i]->str, name) == 0)
            return r->element[i + 1];
    return NULL;
}

static int rstr_is(const redisReply *v, const char *z)
{
    return v != NULL && v->type == REDIS_REPLY_STRING &&
           v->len == strlen(z) && memcmp(v->str, z, v->len) == 0;
}

static int has_filter(const dlq *d)
{
    return d->reason != NULL || d->origin != NULL || d->channel != NULL;
}

/* The envelope of a dead letter, decoded with its origin's table. */
static sg_envelope *decode(dlq *d, const redisReply *fields, int *kind_out)
{
    const redisReply *origin = kv(fields, "dlq_origin_stream");
    sg_envelope *env = NULL;
    sg_entry entry;
    int kind;

    *kind_out = SGCTL_STREAM_UNKNOWN;
    if (origin == NULL || origin->type != REDIS_REPLY_STRING)
        return NULL;
    kind = sgctl_stream_kind(d->c, origin->str, origin->len);
    *kind_out = kind;
    if (kind < 0 ||
        sgctl_entry_from_reply(fields, d->fbuf, MAX_FIELDS, &entry) != 0)
        return NULL;
    if (sg_envelope_decode((sg_kind)kind, &entry, NULL, &env, NULL) != 0)
        return NULL;
    return env;
}

static int matches(dlq *d, const redisReply *fields)
{
    sg_envelope *env;
    const sg_str *ch = NULL;
    int kind, ok;

    if (d->reason != NULL && !rstr_is(kv(fields, "dlq_reason"), d->reason))
        return 0;
    if (d->origin != NULL &&
        !rstr_is(kv(fields, "dlq_origin_stream"), d->origin))
        return 0;
    if (d->channel == NULL)
        return 1;
    env = decode(d, fields, &kind);
    if (env == NULL)
        return 0;
    if (kind == SG_KIND_INBOUND)
        ch = &env->u.in.channel_id;
    else if (kind == SG_KIND_OUTBOUND && env->u.out.has_channel_id)
        ch = &env->u.out.channel_id;
    ok = ch != NULL && ch->len == strlen(d->channel) &&
         memcmp(ch->ptr, d->channel, ch->len) == 0;
    sg_envelope_free(env);
    return ok;
}

typedef int entry_fn(dlq *d, const redisReply *entry);

/* Calls fn on each matching dead letter, oldest first. */
static int each(dlq *d, const char *start, entry_fn *fn, long long limit)
{
    char cursor[64];
    redisReply *r;
    size_t i;
    int rc;

    snprintf(cursor, sizeof cursor, "%s", start);
    for (;;) {
        r = sgctl_cmd(d->c, CMD, "XRANGE %s %s + COUNT %d",
                      d->c->topo.dlq_stream, cursor, PAGE);
        if (r == NULL)
            return SGCTL_EXIT_UNREACHABLE;
        if (r->type != REDIS_REPLY_ARRAY) {
            sgctl_errorf(d->c, CMD, "XRANGE refused: %s",
                         r->type == REDIS_REPLY_ERROR ? r->str : "?");
            freeReplyObject(r);
            return SGCTL_EXIT_FAIL;
        }
        if (r->elements == 0) {
            freeReplyObject(r);
            return 0;
        }
        for (i = 0; i < r->elements; i++) {
            const redisReply *e = r->element[i];
            if (limit >= 0 && (long long)d->acted >= limit) {
                freeReplyObject(r);
                return 0;
            }
            if (!matches(d, e->element[1]))
                continue;
            if ((rc = fn(d, e)) != 0) {
                freeReplyObject(r);
                return rc;
            }
        }
        snprintf(cursor, sizeof cursor, "(%s",
                 r->element[r->elements - 1]->element[0]->str);
        freeReplyObject(r);
    }
}

/* ---- list --------------------------------------------------------------- */

static cJSON *dlq_fields_json(const redisReply *fields)
{
    cJSON *o = cJSON_CreateObject();
    size_t i;

    for (i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        if (k->type == REDIS_REPLY_STRING && strncmp(k->str, "dlq_", 4) == 0
            && cJSON_GetObjectItemCaseSensitive(o, k->str + 4) == NULL)
            cJSON_AddItemToObject(o, k->str + 4,
                                  sgctl_json_bytes(v->str, v->len));
    }
    return o;
}

static void put_field(FILE *f, const redisReply *v, size_t max)
{
    if (v == NULL || v->type != REDIS_REPLY_STRING || v->len == 0)
        fputc('-', f);
    else
        sgctl_print_text(f, v->str, v->len, max);
}

static int list_one(dlq *d, const redisReply *e)
{
    const redisReply *id = e->element[0], *fields = e->element[1];
    FILE *f = d->c->out;

    d->acted++;
    if (d->c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "id", id->str);
        cJSON_AddItemToObject(j, "dlq", dlq_fields_json(fields));
        sgctl_print_json(d->c, j);
        return 0;
    }
    {
        long long ms = sgctl_id_ms(id->str);
        time_t s = (time_t)(ms / 1000);
        struct tm tm;
        char when[32];
        gmtime_r(&s, &tm);
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        fprintf(f, "%s %s ", id->str, when);
    }
    put_field(f, kv(fields, "dlq_reason"), 64);
    fputc(' ', f);
    put_field(f, kv(fields, "dlq_path"), 64);
    fputs(" from ", f);
    put_field(f, kv(fields, "dlq_origin_stream"), 128);
    fputc(' ', f);
    put_field(f, kv(fields, "dlq_origin_id"), 64);
    fputs(" attempts ", f);
    put_field(f, kv(fields, "dlq_attempts"), 16);
    fputs(": ", f);
    put_field(f, kv(fields, "dlq_error"), 120);
    fputc('\n', f);
    fflush(f);
    return 0;
}

/* ---- show --------------------------------------------------------------- */

static redisReply *fetch(dlq *d, const char *id, const redisReply **entry)
{
    redisReply *r = sgctl_cmd(d->c, CMD, "XRANGE %s %s %s",
                              d->c->topo.dlq_stream, id, id);

    *entry = NULL;
    if (r == NULL)
        return NULL;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        *entry = r->element[0];
    return r;
}

static int show_one(dlq *d, const redisReply *e)
{
    const redisReply *fields = e->element[1];
    const redisReply *origin = kv(fields, "dlq_origin_stream");
    sg_entry entry;
    cJSON *j;
    int kind = SGCTL_STREAM_UNKNOWN;

    d->acted++;
    if (origin != NULL && origin->type == REDIS_REPLY_STRING)
        kind = sgctl_stream_kind(d->c, origin->str, origin->len);
    if (sgctl_entry_from_reply(fields, d->fbuf, MAX_FIELDS, &entry) != 0)
        return SGCTL_EXIT_FAIL;
    j = sgctl_entry_json(d->c, d->c->topo.dlq_stream, e->element[0]->str,
                         &entry, kind, NULL);
    if (j == NULL)
        return SGCTL_EXIT_FAIL;
    /* The dlq_ fields apart, the original fields in "fields". */
    {
        cJSON *fo = cJSON_GetObjectItemCaseSensitive(j, "fields"), *it,
              *next;
        for (it = fo ? fo->child : NULL; it != NULL; it = next) {
            next = it->next;
            if (strncmp(it->string, "dlq_", 4) == 0)
                cJSON_Delete(cJSON_DetachItemViaPointer(fo, it));
        }
        cJSON_AddItemToObject(j, "dlq", dlq_fields_json(fields));
    }
    if (d->c->json) {
        sgctl_print_json(d->c, j);
    } else {
        char *text = cJSON_Print(j);
        if (text != NULL) {
            fprintf(d->c->out, "%s\n", text);
            cJSON_free(text);
        }
        cJSON_Delete(j);
    }
    return 0;
}

/* ---- requeue and purge -------------------------------------------------- */

static int load_script(dlq *d)
{
    redisReply *r = sgctl_cmd(d->c, CMD, "SCRIPT LOAD %s", requeue_script);

    if (r == NULL)
        return SGCTL_EXIT_UNREACHABLE;
    if (r->type != REDIS_REPLY_STRING) {
        sgctl_errorf(d->c, CMD, "SCRIPT LOAD refused: %s",
                     r->type == REDIS_REPLY_ERROR ? r->str : "?");
        freeReplyObject(r);
        return SGCTL_EXIT_FAIL;
    }
    snprintf(d->sha, sizeof d->sha, "%s", r->str);
    freeReplyObject(r);
    return 0;
}

static int requeue_one(dlq *d, const redisReply *e)
{
    const char *id = e->element[0]->str;
    const redisReply *origin = kv(e->element[1], "dlq_origin_stream");
    redisReply *r;
    int rc = 0;

    if (origin == NULL || origin->type != REDIS_REPLY_STRING ||
        origin->len == 0) {
        sgctl_errorf(d->c, CMD, "%s has no dlq_origin_stream: not "
                     "requeued", id);
        return SGCTL_EXIT_FAIL;
    }
    r = sgctl_cmd(d->c, CMD, "EVALSHA %s 2 %s %b %s %lld", d->sha,
                  d->c->topo.dlq_stream, origin->str, origin->len, id,
                  d->c->stream_maxlen);
    if (r == NULL)
        return SGCTL_EXIT_UNREACHABLE;
    if (r->type == REDIS_REPLY_ERROR) {
        sgctl_errorf(d->c, CMD, "requeue of %s to %.*s failed, it stays in "
                     "the dead-letter stream: %s", id, (int)origin->len,
                     origin->str, r->str);
        rc = SGCTL_EXIT_FAIL;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[0]->type == REDIS_REPLY_INTEGER) {
        long long v = r->element[0]->integer;
        if (v == 1) {
            d->acted++;
            if (d->c->json) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddStringToObject(j, "requeued", id);
                cJSON_AddItemToObject(j, "stream",
                                      sgctl_json_bytes(origin->str,
                                                       origin->len));
                cJSON_AddStringToObject(j, "id", r->element[1]->str);
                sgctl_print_json(d->c, j);
            } else {
                fprintf(d->c->out, "requeued %s -> %.*s %s\n", id,
                        (int)origin->len, origin->str, r->element[1]->str);
            }
        } else if (v == 0) {
            d->missing++;
            sgctl_errorf(d->c, CMD, "%s is no longer in the dead-letter "
                         "stream", id);
        } else {
            sgctl_errorf(d->c, CMD, "%s: %s", id, v == -1
                         ? "its origin changed while it was read"
                         : "it holds no original field to requeue");
            rc = SGCTL_EXIT_FAIL;
        }
    } else {
        sgctl_errorf(d->c, CMD, "%s: unexpected reply", id);
        rc = SGCTL_EXIT_FAIL;
    }
    freeReplyObject(r);
    return rc;
}

static int purge_one(dlq *d, const redisReply *e)
{
    const char *id = e->element[0]->str;
    redisReply *r = sgctl_cmd(d->c, CMD, "XDEL %s %s",
                              d->c->topo.dlq_stream, id);

    if (r == NULL)
        return SGCTL_EXIT_UNREACHABLE;
    if (r->type == REDIS_REPLY_INTEGER && r->integer == 1) {
        d->acted++;
        if (d->c->json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "purged", id);
            sgctl_print_json(d->c, j);
        } else {
            fprintf(d->c->out, "purged %s\n", id);
        }
    }
    freeReplyObject(r);
    return 0;
}

/* Runs fn on each ID given; a missing one is reported and counted. */
static int by_ids(dlq *d, int n, char **ids, entry_fn *fn)
{
    const redisReply *e;
    redisReply *r;
    int i, rc;

    for (i = 0; i < n; i++) {
        if (strspn(ids[i], "0123456789-") != strlen(ids[i])) {
            sgctl_errorf(d->c, CMD, "'%s' is not an entry ID", ids[i]);
            return SGCTL_EXIT_USAGE;
        }
    }
    for (i = 0; i < n; i++) {
        r = fetch(d, ids[i], &e);
        if (r == NULL)
            return SGCTL_EXIT_UNREACHABLE;
        if (e == NULL) {
            d->missing++;
            sgctl_errorf(d->c, CMD, "%s is not in the dead-letter stream "
                         "%s", ids[i], d->c->topo.dlq_stream);
            freeReplyObject(r);
            continue;
        }
        rc = fn(d, e);
        freeReplyObject(r);
        if (rc != 0)
            return rc;
    }
    return 0;
}

int sgctl_cmd_dlq(sgctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"reason", required_argument, NULL, OPT_REASON},
        {"origin", required_argument, NULL, OPT_ORIGIN},
        {"channel", required_argument, NULL, OPT_CHANNEL},
        {"all", no_argument, NULL, OPT_ALL},
        {"count", required_argument, NULL, 'c'},
        {"from", required_argument, NULL, OPT_FROM},
        SGCTL_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0}
    };
    const char *action;
    dlq d;
    int opt, rc, nids;
    char **ids;

    memset(&d, 0, sizeof d);
    d.c = c;
    d.count = -1;
    d.from = "-";
    while ((opt = getopt_long(argc, argv, "c:" SGCTL_COMMON_SHORTOPTS,
                              opts, NULL)) != -1) {
        switch (opt) {
        case OPT_REASON: d.reason = optarg; continue;
        case OPT_ORIGIN: d.origin = optarg; continue;
        case OPT_CHANNEL: d.channel = optarg; continue;
        case OPT_ALL: d.all = 1; continue;
        case OPT_FROM: d.from = optarg; continue;
        case 'c':
            if ((d.count = sgctl_parse_count(optarg)) < 1) {
                sgctl_errorf(c, CMD, "--count: '%s' is not a positive "
                             "count", optarg);
                return SGCTL_EXIT_USAGE;
            }
            continue;
        default:
            break;
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
    if (optind >= argc) {
        sgctl_errorf(c, CMD, "list, show, requeue or purge expected (see "
                     "sgctl dlq --help)");
        return SGCTL_EXIT_USAGE;
    }
    action = argv[optind];
    ids = argv + optind + 1;
    nids = argc - optind - 1;
    if (strcmp(action, "list") != 0 && strcmp(action, "show") != 0 &&
        strcmp(action, "requeue") != 0 && strcmp(action, "purge") != 0) {
        sgctl_errorf(c, CMD, "unknown action '%s' (list, show, requeue, "
                     "purge)", action);
        return SGCTL_EXIT_USAGE;
    }
    if (strcmp(action, "list") == 0 && nids > 0) {
        sgctl_errorf(c, CMD, "list takes no ID (use show)");
        return SGCTL_EXIT_USAGE;
    }
    if (strcmp(action, "show") == 0 && nids == 0) {
        sgctl_errorf(c, CMD, "show needs at least one ID");
        return SGCTL_EXIT_USAGE;
    }
    if ((strcmp(action, "requeue") == 0 || strcmp(action, "purge") == 0)) {
        if (nids == 0 && !d.all && !has_filter(&d)) {
            sgctl_errorf(c, CMD, "%s needs IDs, --all or a filter "
                         "(--reason, --origin, --channel)", action);
            return SGCTL_EXIT_USAGE;
        }
        if (nids > 0 && (d.all || has_filter(&d))) {
            sgctl_errorf(c, CMD, "%s takes either IDs or --all/filters, "
                         "not both", action);
            return SGCTL_EXIT_USAGE;
        }
    }
    if (sgctl_apply_namespace(c, CMD) != 0)
        return SGCTL_EXIT_USAGE;
    d.fbuf = malloc(MAX_FIELDS * sizeof *d.fbuf);
    if (d.fbuf == NULL)
        return SGCTL_EXIT_FAIL;
    if ((rc = sgctl_connect(c, CMD)) != 0)
        goto out;

    if (strcmp(action, "list") == 0) {
        rc = each(&d, d.from, list_one, d.count < 0 ? 100 : d.count);
    } else if (strcmp(action, "show") == 0) {
        rc = by_ids(&d, nids, ids, show_one);
    } else if (strcmp(action, "requeue") == 0) {
        if ((rc = load_script(&d)) != 0)
            goto out;
        rc = nids > 0 ? by_ids(&d, nids, ids, requeue_one)
                      : each(&d, "-", requeue_one, d.count);
        if (!c->json)
            fprintf(c->out, "%llu requeued\n",
                    (unsigned long long)d.acted);
    } else {
        if (nids == 0 && !has_filter(&d) && d.count < 0) {
            /* Everything: trim to nothing, keeping the stream. */
            redisReply *r = sgctl_cmd(c, CMD, "XTRIM %s MAXLEN 0",
                                      c->topo.dlq_stream);
            if (r == NULL) {
                rc = SGCTL_EXIT_UNREACHABLE;
                goto out;
            }
            d.acted = r->type == REDIS_REPLY_INTEGER
                      ? (uint64_t)r->integer : 0;
            freeReplyObject(r);
            if (c->json) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddNumberToObject(j, "purged_count", (double)d.acted);
                sgctl_print_json(c, j);
            }
        } else {
            rc = nids > 0 ? by_ids(&d, nids, ids, purge_one)
                          : each(&d, "-", purge_one, d.count);
        }
        if (!c->json)
            fprintf(c->out, "%llu purged\n", (unsigned long long)d.acted);
    }
    if (rc == 0 && d.missing > 0)
        rc = SGCTL_EXIT_FAIL;
out:
    free(d.fbuf);
    return rc;
}
