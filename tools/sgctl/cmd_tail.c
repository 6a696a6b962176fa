/*
 * cmd_tail.c: `sgctl tail`, entries decoded as they arrive, from one
 * stream or from the whole bus, as JSON lines or a readable view, with
 * filters by channel, platform and type.
 *
 * Plain XREAD (no group: tailing takes nothing from the consumers), with
 * a short BLOCK so that SIGINT stops it promptly. A start of `$` is turned
 * into each stream's last ID before the first read, so nothing that
 * arrives between two reads is missed; when tailing the whole bus, streams
 * that appear later (a new platform's outbound stream) are picked up by a
 * new scan every few seconds, from their first entry.
 */
#define _GNU_SOURCE

#include "sgctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CMD "tail"

#define BLOCK_MS 500
#define RESCAN_MS 5000
#define MAX_FIELDS 1024

static const char help[] =
    "Usage: sgctl tail [options]\n\n"
    "Prints the entries of the bus as they arrive, decoded with the table\n"
    "of their stream's kind: as JSON lines with --json, else one readable\n"
    "line each. Without --stream, every stream of the bus but the\n"
    "dead-letter stream (see 'sgctl dlq list').\n\n"
    "Options:\n"
    "  -s, --stream NAME    tail this stream (repeatable)\n"
    "      --from ID        start after ID: '$' (default) new entries\n"
    "                       only, '0' from the beginning\n"
    "  -c, --count N        stop after printing N entries\n"
    "  -d, --duration SEC   stop after SEC seconds\n"
    "      --channel ID     only entries of this channel\n"
    "      --platform NAME  only entries of this platform (inbound: the\n"
    "                       envelope's; outbound: the stream's)\n"
    "      --type NAME      only this kind (inbound, outbound,\n"
    "                       tools_request, tools_reply) or outbound type\n"
    "                       (message, file, typing, rpc_request, ...)\n"
    "Entries the codec rejects are printed with their reason and path,\n"
    "unless a filter is given (they cannot be matched).\n\n"
    SGCTL_COMMON_HELP;

enum {
    OPT_FROM = SGCTL_OPT_FIRST_FREE,
    OPT_CHANNEL,
    OPT_PLATFORM,
    OPT_TYPE
};

typedef struct filter {
    const char *channel;
    const char *platform;
    const char *type;
} filter;

static int str_is(sg_str s, const char *z)
{
    return z != NULL && s.len == strlen(z) && memcmp(s.ptr, z, s.len) == 0;
}

/* The platform of an outbound stream: what follows the prefix. */
static const char *stream_platform(const sgctl *c, const char *stream)
{
    size_t n = strlen(c->topo.outbound_stream_prefix);

    return stream + n + 1;
}

static int matches(const sgctl *c, const filter *f, const char *stream,
                   int kind, const sg_envelope *env)
{
    if (f->channel == NULL && f->platform == NULL && f->type == NULL)
        return 1;
    if (env == NULL)
        return 0;
    if (f->type != NULL) {
        int ok = strcmp(f->type, sg_kind_name(env->kind)) == 0;
        if (!ok && kind == SG_KIND_OUTBOUND)
            ok = strcmp(f->type, sg_out_type_name(env->u.out.type)) == 0;
        if (!ok)
            return 0;
    }
    if (f->channel != NULL) {
        if (kind == SG_KIND_INBOUND) {
            if (!str_is(env->u.in.channel_id, f->channel))
                return 0;
        } else if (kind == SG_KIND_OUTBOUND) {
            if (!env->u.out.has_channel_id ||
                !str_is(env->u.out.channel_id, f->channel))
                return 0;
        } else {
            return 0;
        }
    }
    if (f->platform != NULL) {
        if (kind == SG_KIND_INBOUND) {
            if (!str_is(env->u.in.platform, f->platform))
                return 0;
        } else if (kind == SG_KIND_OUTBOUND) {
            if (strcmp(stream_platform(c, stream), f->platform) != 0)
                return 0;
        } else {
            return 0;
        }
    }
    return 1;
}

static void print_time(FILE *f, const char *id)
{
    long long ms = sgctl_id_ms(id);
    time_t s = (time_t)(ms / 1000);
    struct tm tm;

    gmtime_r(&s, &tm);
    fprintf(f, "%02d:%02d:%02d.%03lld", tm.tm_hour, tm.tm_min, tm.tm_sec,
            ms % 1000);
}

static void print_readable(sgctl *c, const char *stream, const char *id,
                           int kind, const sg_envelope *env,
                           const cJSON *j)
{
    FILE *f = c->out;
    const cJSON *e;

    print_time(f, id);
    fprintf(f, " %s %s ", stream, id);
    if (env == NULL) {
        e = cJSON_GetObjectItemCaseSensitive(j, "error");
        if (kind < 0)
            fputs("(not an envelope stream)", f);
        else
            fprintf(f, "%s REJECTED %s at %s", sg_kind_name((sg_kind)kind),
                    cJSON_GetObjectItemCaseSensitive(e, "reason")
                        ->valuestring,
                    cJSON_GetObjectItemCaseSensitive(e, "path")
                        ->valuestring);
        fputc('\n', f);
        fflush(f);
        return;
    }
    switch (env->kind) {
    case SG_KIND_INBOUND: {
        const sg_inbound *in = &env->u.in;
        fputs("inbound ", f);
        sgctl_print_text(f, in->platform.ptr, in->platform.len, 64);
        fputc('/', f);
        sgctl_print_text(f, in->channel_id.ptr, in->channel_id.len, 64);
        fputc(' ', f);
        sgctl_print_text(f, in->username.ptr, in->username.len, 64);
        fputs(": ", f);
        sgctl_print_text(f, in->content.ptr, in->content.len, 200);
        if (in->nattachments > 0)
            fprintf(f, " [%zu attachments]", in->nattachments);
        break;
    }
    case SG_KIND_OUTBOUND: {
        const sg_outbound *o = &env->u.out;
        fprintf(f, "%s %s/", sg_out_type_name(o->type),
                stream_platform(c, stream));
        sgctl_print_text(f, o->channel_id.ptr, o->channel_id.len, 64);
        if (o->type == SG_OUT_RPC_REQUEST) {
            fputs(" rpc ", f);
            sgctl_print_text(f, o->rpc_method.ptr, o->rpc_method.len, 64);
        } else if (o->type == SG_OUT_REACTION) {
            fputc(' ', f);
            sgctl_print_text(f, o->emoji.ptr, o->emoji.len, 16);
        } else if (o->type == SG_OUT_FILE) {
            fputc(' ', f);
            sgctl_print_text(f, o->filename.ptr, o->filename.len, 64);
            fprintf(f, " (%zu bytes)", o->file_data.len);
        } else if (o->type == SG_OUT_MESSAGE || o->type == SG_OUT_BUTTONS ||
                   o->type == SG_OUT_PRESENCE) {
            fputs(": ", f);
            sgctl_print_text(f, o->text.ptr, o->text.len, 200);
            if (o->type == SG_OUT_BUTTONS)
                fprintf(f, " [%zu buttons]", o->nbuttons);
        }
        break;
    }
    case SG_KIND_TOOLS_REQUEST:
        fputs("tools_request ", f);
        sgctl_print_text(f, env->u.treq.tool_name.ptr,
                         env->u.treq.tool_name.len, 64);
        fputs(" id ", f);
        sgctl_print_text(f, env->u.treq.request_id.ptr,
                         env->u.treq.request_id.len, 64);
        break;
    case SG_KIND_TOOLS_REPLY:
        fprintf(f, "tools_reply %s id ", env->u.trep.ok ? "ok" : "failed");
        sgctl_print_text(f, env->u.trep.request_id.ptr,
                         env->u.trep.request_id.len, 64);
        break;
    }
    fputc('\n', f);
    fflush(f);
}

typedef struct cursor {
    sgctl_strv streams;
    sgctl_strv ids;
} cursor;

static int last_id(sgctl *c, const char *stream, char *out, size_t cap)
{
    redisReply *r = sgctl_cmd(c, CMD, "XREVRANGE %s + - COUNT 1", stream);

    if (r == NULL)
        return SGCTL_EXIT_UNREACHABLE;
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 1)
        snprintf(out, cap, "%s", r->element[0]->element[0]->str);
    else
        snprintf(out, cap, "0-0");
    freeReplyObject(r);
    return 0;
}

static int add_stream(sgctl *c, cursor *cur, const char *stream,
                      const char *from)
{
    char id[64];
    int rc;

    if (sgctl_strv_has(&cur->streams, stream))
        return 0;
    if (strcmp(from, "$") == 0) {
        if ((rc = last_id(c, stream, id, sizeof id)) != 0)
            return rc;
    } else {
        snprintf(id, sizeof id, "%s", from);
    }
    if (sgctl_strv_push(&cur->streams, stream, strlen(stream)) != 0 ||
        sgctl_strv_push(&cur->ids, id, strlen(id)) != 0)
        return SGCTL_EXIT_FAIL;
    return 0;
}

static int rescan(sgctl *c, cursor *cur, const char *from)
{
    sgctl_strv found = {0};
    size_t i;
    int rc = sgctl_bus_streams(c, CMD, 0, &found);

    for (i = 0; rc == 0 && i < found.n; i++)
        rc = add_stream(c, cur, found.v[i], from);
    sgctl_strv_free(&found);
    return rc;
}

int sgctl_cmd_tail(sgctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"stream", required_argument, NULL, 's'},
        {"from", required_argument, NULL, OPT_FROM},
        {"count", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"channel", required_argument, NULL, OPT_CHANNEL},
        {"platform", required_argument, NULL, OPT_PLATFORM},
        {"type", required_argument, NULL, OPT_TYPE},
        SGCTL_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0}
    };
    sgctl_strv named = {0};
    cursor cur = {{0}, {0}};
    filter flt = {NULL, NULL, NULL};
    const char *from = "$";
    long long count = -1, duration = -1, printed = 0;
    int64_t deadline = 0, next_scan = 0;
    sg_entry_field *fbuf = NULL;
    sgctl_args args = {0};
    redisReply *r = NULL;
    size_t i, k;
    int opt, rc = 0;

    while ((opt = getopt_long(argc, argv, "s:c:d:" SGCTL_COMMON_SHORTOPTS,
                              opts, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (sgctl_strv_push(&named, optarg, strlen(optarg)) != 0)
                return SGCTL_EXIT_FAIL;
            continue;
        case OPT_FROM: from = optarg; continue;
        case 'c':
            if ((count = sgctl_parse_count(optarg)) < 1) {
                sgctl_errorf(c, CMD, "--count: '%s' is not a positive "
                             "count", optarg);
                rc = SGCTL_EXIT_USAGE;
                goto out;
            }
            continue;
        case 'd':
            if ((duration = sgctl_parse_count(optarg)) < 0) {
                sgctl_errorf(c, CMD, "--duration: '%s' is not a number of "
                             "seconds", optarg);
                rc = SGCTL_EXIT_USAGE;
                goto out;
            }
            continue;
        case OPT_CHANNEL: flt.channel = optarg; continue;
        case OPT_PLATFORM: flt.platform = optarg; continue;
        case OPT_TYPE: flt.type = optarg; continue;
        default:
            break;
        }
        rc = sgctl_common_opt(c, CMD, opt, optarg);
        if (rc <= 0) {
            rc = rc < 0 ? SGCTL_EXIT_USAGE : sgctl_bad_option(c, CMD, argv);
            goto out;
        }
        rc = 0;
    }
    if (c->help) {
        fputs(help, c->out);
        goto out;
    }
    if (optind < argc) {
        sgctl_errorf(c, CMD, "unexpected argument '%s'", argv[optind]);
        rc = SGCTL_EXIT_USAGE;
        goto out;
    }
    if (strcmp(from, "$") != 0 && strcmp(from, "0") != 0) {
        if (strspn(from, "0123456789-") != strlen(from) || from[0] == '-') {
            sgctl_errorf(c, CMD, "--from: '%s' is not '$', '0' or an "
                         "entry ID", from);
            rc = SGCTL_EXIT_USAGE;
            goto out;
        }
    }
    if ((rc = sgctl_apply_namespace(c, CMD)) != 0)
        goto out;
    fbuf = malloc(MAX_FIELDS * sizeof *fbuf);
    if (fbuf == NULL) {
        rc = SGCTL_EXIT_FAIL;
        goto out;
    }
    if ((rc = sgctl_connect(c, CMD)) != 0)
        goto out;
    for (i = 0; i < named.n; i++)
        if ((rc = add_stream(c, &cur, named.v[i], from)) != 0)
            goto out;
    sgctl_signals_on();
    if (duration >= 0)
        deadline = sgctl_mono_ms() + duration * 1000;
    while (!sgctl_stop && (count < 0 || printed < count)) {
        int64_t now = sgctl_mono_ms();
        long long block = BLOCK_MS;

        if (named.n == 0 && now >= next_scan) {
            /* Streams found at start begin at `from`; streams that appear
               later are new since then, and begin at their start. */
            const char *at = next_scan == 0 || strcmp(from, "$") != 0
                             ? from : "0-0";
            if ((rc = rescan(c, &cur, at)) != 0)
                break;
            next_scan = now + RESCAN_MS;
        }
        if (deadline > 0) {
            if (now >= deadline)
                break;
            if (deadline - now < block)
                block = deadline - now;
        }
        if (cur.streams.n == 0) {
            sgctl_sleep_ms(block);
            continue;
        }
        args.n = 0;
        {
            char blk[32];
            snprintf(blk, sizeof blk, "%lld", block < 1 ? 1 : block);
            sgctl_args_str(&args, "XREAD");
            sgctl_args_str(&args, "COUNT");
            sgctl_args_str(&args, "100");
            sgctl_args_str(&args, "BLOCK");
            sgctl_args_str(&args, blk);
            sgctl_args_str(&args, "STREAMS");
            for (k = 0; k < cur.streams.n; k++)
                sgctl_args_str(&args, cur.streams.v[k]);
            for (k = 0; k < cur.ids.n; k++)
                if (sgctl_args_str(&args, cur.ids.v[k]) != 0) {
                    rc = SGCTL_EXIT_FAIL;
                    break;
                }
            if (rc != 0)
                break;
            r = redisCommandArgv(c->rc, args.n, args.v, args.len);
        }
        if (r == NULL) {
            sgctl_errorf(c, CMD, "redis connection lost: %s",
                         c->rc->errstr);
            rc = SGCTL_EXIT_UNREACHABLE;
            break;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            sgctl_errorf(c, CMD, "XREAD refused: %s", r->str);
            rc = SGCTL_EXIT_FAIL;
            break;
        }
        for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
            const redisReply *s = r->element[i];
            const char *sname = s->element[0]->str;
            int kind = sgctl_stream_kind(c, sname, s->element[0]->len);
            size_t slot;

            for (slot = 0; slot < cur.streams.n; slot++)
                if (strcmp(cur.streams.v[slot], sname) == 0)
                    break;
            for (k = 0; k < s->element[1]->elements; k++) {
                const redisReply *e = s->element[1]->element[k];
                const char *id = e->element[0]->str;
                sg_envelope *env = NULL;
                sg_entry entry;
                cJSON *j;

                if (slot < cur.ids.n) {
                    char *nid = strdup(id);
                    if (nid != NULL) {
                        free(cur.ids.v[slot]);
                        cur.ids.v[slot] = nid;
                    }
                }
                if (count >= 0 && printed >= count)
                    continue;
                if (sgctl_entry_from_reply(e->element[1], fbuf, MAX_FIELDS,
                                           &entry) != 0)
                    continue;
                j = sgctl_entry_json(c, sname, id, &entry,
                                     kind == SGCTL_STREAM_DLQ ? -1 : kind,
                                     &env);
                if (matches(c, &flt, sname, kind, env)) {
                    printed++;
                    if (c->json) {
                        sgctl_print_json(c, j);
                        j = NULL;
                    } else {
                        print_readable(c, sname, id, kind, env, j);
                    }
                }
                cJSON_Delete(j);
                sg_envelope_free(env);
            }
        }
        freeReplyObject(r);
        r = NULL;
    }
    sgctl_signals_off();
out:
    freeReplyObject(r);
    sgctl_args_free(&args);
    sgctl_strv_free(&named);
    sgctl_strv_free(&cur.streams);
    sgctl_strv_free(&cur.ids);
    free(fbuf);
    return rc;
}
