/*
 * cmd_capture.c: `sgctl capture`, one or more streams recorded into a
 * capture file (protocol/CAPTURE.md): the header, then one entry record
 * per entry with its stream, ID, fields (byte for byte) and arrival time,
 * then an end record when the capture stops cleanly.
 *
 * Reading is plain XREAD, like tail. The entries of one reply are written
 * in ID order across streams, so a replay in file order keeps the order
 * in which they were added. The file is flushed after every reply: a
 * capture killed at any point is readable up to its last whole record
 * (SG-CAP-006).
 */
#define _GNU_SOURCE

#include "sgctl.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"

#define CMD "capture"

#define BLOCK_MS 500
#define READ_COUNT "500"
#define READ_COUNT_N 500

static const char help[] =
    "Usage: sgctl capture -o FILE [options]\n\n"
    "Records streams into a capture file (protocol/CAPTURE.md): every\n"
    "entry with its stream, ID, fields and arrival time. Stops after\n"
    "--count entries, after --duration seconds, at the end of the streams\n"
    "with --until-end, or on SIGINT/SIGTERM; the file then gets its end\n"
    "record. Without --stream, every stream of the bus but the dead-letter\n"
    "stream. Progress goes to stderr when it is a terminal.\n\n"
    "Options:\n"
    "  -o, --output FILE    the capture file ('-': stdout)\n"
    "      --force          overwrite FILE if it exists\n"
    "  -s, --stream NAME    record this stream (repeatable)\n"
    "      --from ID        start after ID: '$' (default) live entries\n"
    "                       only, '0' from each stream's beginning\n"
    "      --until-end      stop when the streams hold nothing more\n"
    "                       (a snapshot, with --from 0)\n"
    "  -c, --count N        stop after N entries\n"
    "  -d, --duration SEC   stop after SEC seconds\n"
    "      --progress       show progress even when stderr is no terminal\n"
    "      --no-progress    never show progress\n\n"
    SGCTL_COMMON_HELP;

enum {
    OPT_FROM = SGCTL_OPT_FIRST_FREE,
    OPT_FORCE,
    OPT_UNTIL_END,
    OPT_PROGRESS,
    OPT_NO_PROGRESS
};

typedef struct pick {
    size_t stream;              /* index into the streams */
    const redisReply *entry;
    uint64_t ms, seq;
} pick;

static int pick_cmp(const void *a, const void *b)
{
    const pick *x = a, *y = b;

    if (x->ms != y->ms)
        return x->ms < y->ms ? -1 : 1;
    if (x->seq != y->seq)
        return x->seq < y->seq ? -1 : 1;
    return x->stream < y->stream ? -1 : x->stream > y->stream;
}

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

static FILE *open_output(sgctl *c, const char *path, int force)
{
    int fd;
    FILE *f;

    if (strcmp(path, "-") == 0)
        return c->out;
    fd = open(path, O_WRONLY | O_CREAT | (force ? O_TRUNC : O_EXCL), 0644);
    if (fd < 0) {
        sgctl_errorf(c, CMD, "cannot create %s: %s%s", path,
                     strerror(errno),
                     errno == EEXIST ? " (--force overwrites it)" : "");
        return NULL;
    }
    f = fdopen(fd, "wb");
    if (f == NULL)
        close(fd);
    return f;
}

static int write_buf(sgctl *c, FILE *f, sg_buf *b, const char *path)
{
    if (b->len > 0 && (fwrite(b->data, 1, b->len, f) != b->len ||
                       fflush(f) != 0)) {
        sgctl_errorf(c, CMD, "writing %s: %s", path, strerror(errno));
        return SGCTL_EXIT_FAIL;
    }
    sg_buf_reset(b);
    return 0;
}

int sgctl_cmd_capture(sgctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'},
        {"force", no_argument, NULL, OPT_FORCE},
        {"stream", required_argument, NULL, 's'},
        {"from", required_argument, NULL, OPT_FROM},
        {"until-end", no_argument, NULL, OPT_UNTIL_END},
        {"count", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 'd'},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        SGCTL_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0}
    };
    const char *path = NULL, *from = "$";
    long long count = -1, duration = -1;
    int force = 0, until_end = 0, progress = -1, opt, rc = 0;
    sgctl_strv streams = {0}, ids = {0};
    sgctl_args args = {0};
    sgcap_field *fields = NULL;
    pick *picks = NULL;
    const char **cursor_to = NULL;
    uint64_t hz_ms, hz_seq;
    int have_horizon;
    size_t npicks_cap = 0;
    redisReply *r = NULL;
    FILE *f = NULL;
    sg_buf buf;
    char source[300];
    uint64_t written = 0, bytes = 0;
    int64_t deadline = 0, last_progress = 0;
    size_t i, k;

    sg_buf_init(&buf, NULL);
    while ((opt = getopt_long(argc, argv, "o:s:c:d:" SGCTL_COMMON_SHORTOPTS,
                              opts, NULL)) != -1) {
        switch (opt) {
        case 'o': path = optarg; continue;
        case OPT_FORCE: force = 1; continue;
        case 's':
            if (sgctl_strv_push(&streams, optarg, strlen(optarg)) != 0) {
                rc = SGCTL_EXIT_FAIL;
                goto out;
            }
            continue;
        case OPT_FROM: from = optarg; continue;
        case OPT_UNTIL_END: until_end = 1; continue;
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
        case OPT_PROGRESS: progress = 1; continue;
        case OPT_NO_PROGRESS: progress = 0; continue;
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
    if (path == NULL) {
        sgctl_errorf(c, CMD, "--output FILE is required");
        rc = SGCTL_EXIT_USAGE;
        goto out;
    }
    if (strcmp(from, "$") != 0 &&
        (strspn(from, "0123456789-") != strlen(from) || from[0] == '-')) {
        sgctl_errorf(c, CMD, "--from: '%s' is not '$', '0' or an entry ID",
                     from);
        rc = SGCTL_EXIT_USAGE;
        goto out;
    }
    if (progress < 0)
        progress = isatty(fileno(c->err));
    if ((rc = sgctl_apply_namespace(c, CMD)) != 0)
        goto out;
    if ((rc = sgctl_connect(c, CMD)) != 0)
        goto out;
    if (streams.n == 0 && (rc = sgctl_bus_streams(c, CMD, 0, &streams)))
        goto out;
    if (streams.n == 0) {
        sgctl_errorf(c, CMD, "no stream to capture (the bus has none yet; "
                     "name one with --stream)");
        rc = SGCTL_EXIT_FAIL;
        goto out;
    }
    for (i = 0; i < streams.n; i++) {
        char id[64];
        r = sgctl_cmd(c, CMD, "TYPE %s", streams.v[i]);
        if (r == NULL) {
            rc = SGCTL_EXIT_UNREACHABLE;
            goto out;
        }
        if (r->type == REDIS_REPLY_STATUS && strcmp(r->str, "none") == 0)
            sgctl_errorf(c, CMD, "note: %s does not exist (yet); waiting "
                         "for it", streams.v[i]);
        else if (r->type == REDIS_REPLY_STATUS &&
                 strcmp(r->str, "stream") != 0) {
            sgctl_errorf(c, CMD, "%s is a %s, not a stream", streams.v[i],
                         r->str);
            rc = SGCTL_EXIT_FAIL;
            goto out;
        }
        freeReplyObject(r);
        r = NULL;
        if (strcmp(from, "$") == 0) {
            if ((rc = last_id(c, streams.v[i], id, sizeof id)) != 0)
                goto out;
        } else {
            snprintf(id, sizeof id, "%s", from);
        }
        if (sgctl_strv_push(&ids, id, strlen(id)) != 0) {
            rc = SGCTL_EXIT_FAIL;
            goto out;
        }
    }
    fields = malloc(sgcap_limits_default().max_fields * sizeof *fields);
    cursor_to = malloc(streams.n * sizeof *cursor_to);
    if (fields == NULL || cursor_to == NULL) {
        rc = SGCTL_EXIT_FAIL;
        goto out;
    }
    if ((f = open_output(c, path, force)) == NULL) {
        rc = SGCTL_EXIT_FAIL;
        goto out;
    }
    sgctl_source_url(c, source, sizeof source);
    if (sgcap_write_header(&buf, source, sgctl_now_ms(),
                           (const char *const *)streams.v, streams.n, from,
                           "sgctl " SGCTL_VERSION) != 0) {
        sgctl_errorf(c, CMD, "the header does not fit the format's limit");
        rc = SGCTL_EXIT_FAIL;
        goto out;
    }
    bytes += buf.len;
    if ((rc = write_buf(c, f, &buf, path)) != 0)
        goto out;

    sgctl_signals_on();
    if (duration >= 0)
        deadline = sgctl_mono_ms() + duration * 1000;
    while (!sgctl_stop && (count < 0 || (long long)written < count)) {
        int64_t now = sgctl_mono_ms(), arrival;
        long long block = BLOCK_MS;
        size_t npicks = 0;
        char blk[32];

        if (deadline > 0) {
            if (now >= deadline)
                break;
            if (deadline - now < block)
                block = deadline - now;
        }
        snprintf(blk, sizeof blk, "%lld", block < 1 ? 1 : block);
        args.n = 0;
        sgctl_args_str(&args, "XREAD");
        sgctl_args_str(&args, "COUNT");
        sgctl_args_str(&args, READ_COUNT);
        if (!until_end) {
            sgctl_args_str(&args, "BLOCK");
            sgctl_args_str(&args, blk);
        }
        sgctl_args_str(&args, "STREAMS");
        for (k = 0; k < streams.n; k++)
            sgctl_args_str(&args, streams.v[k]);
        for (k = 0; k < ids.n; k++)
            if (sgctl_args_str(&args, ids.v[k]) != 0) {
                rc = SGCTL_EXIT_FAIL;
                goto stop;
            }
        r = redisCommandArgv(c->rc, args.n, args.v, args.len);
        arrival = sgctl_now_ms();
        if (r == NULL) {
            sgctl_errorf(c, CMD, "redis connection lost: %s",
                         c->rc->errstr);
            rc = SGCTL_EXIT_UNREACHABLE;
            goto stop;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            sgctl_errorf(c, CMD, "XREAD refused: %s", r->str);
            rc = SGCTL_EXIT_FAIL;
            goto stop;
        }
        if (r->type != REDIS_REPLY_ARRAY) {
            freeReplyObject(r);
            r = NULL;
            if (until_end)
                break;
            continue;
        }
        /* Every entry of the reply, in ID order across streams. */
        for (i = 0; i < r->elements; i++)
            npicks += r->element[i]->element[1]->elements;
        if (npicks > npicks_cap) {
            pick *p = realloc(picks, npicks * sizeof *p);
            if (p == NULL) {
                rc = SGCTL_EXIT_FAIL;
                goto stop;
            }
            picks = p;
            npicks_cap = npicks;
        }
        /*
         * XREAD's COUNT is per stream: a stream that filled its COUNT may
         * hold more entries older than what the other streams returned.
         * So only entries up to the smallest last ID of the full streams
         * (the horizon) are written now; each stream's cursor moves to its
         * last entry written, and the rest is read again next time. The
         * file is thus in ID order across the streams (SG-CAP-003).
         */
        npicks = 0;
        have_horizon = 0;
        hz_ms = hz_seq = 0;
        for (i = 0; i < r->elements; i++) {
            const redisReply *s = r->element[i];
            size_t slot;
            for (slot = 0; slot < streams.n; slot++)
                if (strcmp(streams.v[slot], s->element[0]->str) == 0)
                    break;
            for (k = 0; k < s->element[1]->elements; k++) {
                const redisReply *e = s->element[1]->element[k];
                pick *p = &picks[npicks++];
                p->stream = slot;
                p->entry = e;
                if (sgcap_parse_id(e->element[0]->str, e->element[0]->len,
                                   &p->ms, &p->seq) != 0)
                    p->ms = p->seq = 0;
            }
            if (s->element[1]->elements >= READ_COUNT_N) {
                const pick *last = &picks[npicks - 1];
                if (!have_horizon || last->ms < hz_ms ||
                    (last->ms == hz_ms && last->seq < hz_seq)) {
                    hz_ms = last->ms;
                    hz_seq = last->seq;
                    have_horizon = 1;
                }
            }
        }
        for (k = 0; k < streams.n; k++)
            cursor_to[k] = NULL;
        qsort(picks, npicks, sizeof *picks, pick_cmp);
        for (i = 0; i < npicks; i++) {
            const redisReply *e = picks[i].entry, *fv = e->element[1];
            const char *sname = streams.v[picks[i].stream];
            size_t nf;

            if (count >= 0 && (long long)written >= count)
                break;
            if (have_horizon && (picks[i].ms > hz_ms ||
                                 (picks[i].ms == hz_ms &&
                                  picks[i].seq > hz_seq)))
                break;
            if (picks[i].stream < streams.n)
                cursor_to[picks[i].stream] = e->element[0]->str;
            if (fv->type != REDIS_REPLY_ARRAY)
                continue;
            nf = fv->elements / 2;
            if (nf > sgcap_limits_default().max_fields) {
                sgctl_errorf(c, CMD, "%s %s has %zu fields, more than a "
                             "capture record holds (%u); skipped", sname,
                             e->element[0]->str, nf,
                             sgcap_limits_default().max_fields);
                continue;
            }
            for (k = 0; k < nf; k++) {
                fields[k].name = (const uint8_t *)fv->element[2 * k]->str;
                fields[k].name_len = fv->element[2 * k]->len;
                fields[k].value =
                    (const uint8_t *)fv->element[2 * k + 1]->str;
                fields[k].value_len = fv->element[2 * k + 1]->len;
            }
            if (sgcap_write_entry(&buf, arrival, sname, strlen(sname),
                                  e->element[0]->str, fields, nf) != 0) {
                sgctl_errorf(c, CMD, "%s %s does not fit a capture record "
                             "(limits of CAPTURE.md); skipped", sname,
                             e->element[0]->str);
                continue;
            }
            written++;
        }
        for (k = 0; k < streams.n; k++) {
            char *nid;
            if (cursor_to[k] == NULL)
                continue;
            if ((nid = strdup(cursor_to[k])) == NULL) {
                rc = SGCTL_EXIT_FAIL;
                goto stop;
            }
            free(ids.v[k]);
            ids.v[k] = nid;
        }
        bytes += buf.len;
        if ((rc = write_buf(c, f, &buf, path)) != 0)
            goto stop;
        freeReplyObject(r);
        r = NULL;
        if (progress && sgctl_mono_ms() - last_progress >= 200) {
            fprintf(c->err, "\rsgctl capture: %llu entries, %llu bytes",
                    (unsigned long long)written, (unsigned long long)bytes);
            fflush(c->err);
            last_progress = sgctl_mono_ms();
        }
    }
stop:
    sgctl_signals_off();
    if (f != NULL) {
        if (sgcap_write_end(&buf, sgctl_now_ms(), written) == 0) {
            bytes += buf.len;
            if (write_buf(c, f, &buf, path) != 0 && rc == 0)
                rc = SGCTL_EXIT_FAIL;
        }
    }
    if (progress)
        fprintf(c->err, "\rsgctl capture: %llu entries, %llu bytes\n",
                (unsigned long long)written, (unsigned long long)bytes);
    if (f != NULL && strcmp(path, "-") != 0 && rc == 0) {
        if (c->json) {
            cJSON *j = cJSON_CreateObject();
            cJSON_AddStringToObject(j, "file", path);
            cJSON_AddNumberToObject(j, "entries", (double)written);
            cJSON_AddNumberToObject(j, "bytes", (double)bytes);
            cJSON_AddNumberToObject(j, "streams", (double)streams.n);
            sgctl_print_json(c, j);
        } else {
            fprintf(c->out, "captured %llu entries from %zu streams into "
                    "%s (%llu bytes)\n", (unsigned long long)written,
                    streams.n, path, (unsigned long long)bytes);
        }
    }
out:
    if (f != NULL && f != c->out && fclose(f) != 0 && rc == 0) {
        sgctl_errorf(c, CMD, "closing %s: %s", path, strerror(errno));
        rc = SGCTL_EXIT_FAIL;
    }
    freeReplyObject(r);
    sgctl_args_free(&args);
    sgctl_strv_free(&streams);
    sgctl_strv_free(&ids);
    free(fields);
    free(cursor_to);
    free(picks);
    sg_buf_destroy(&buf);
    return rc;
}
