/*
 * cmd_replay.c: `sgctl replay`, a capture file added to a Redis of your
 * choice, in file order, as fast as possible or at the recorded pace
 * (scaled), into another namespace and with streams renamed.
 *
 * Resuming without duplicates (SG-CAP-010). Every entry is added by one
 * script that, atomically, (a) does nothing when the progress key says
 * this record was already replayed, (b) refuses when the progress key
 * does not hold the record sent just before it (a record before it did not
 * land, so nothing after it may), (c) with original IDs, only marks the
 * record when the target already holds that ID, else (d) XADDs the entry
 * and sets the progress key to the record's index. An interruption at any
 * point leaves the key naming exactly the last record added; the next run
 * reads it and goes on from the record after it.
 */
#define _GNU_SOURCE

#include "sgctl.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"

#define CMD "replay"

#define BATCH 100
#define MAX_RENAMES 64

static const char help[] =
    "Usage: sgctl replay [options] FILE\n\n"
    "Adds the entries of a capture file (protocol/CAPTURE.md) to the\n"
    "target Redis, in file order, with their fields byte for byte. By\n"
    "default with their original IDs, as fast as possible. Resumable: a\n"
    "progress key in the target records the last entry added, in the same\n"
    "atomic step as the XADD, so running the same replay again after an\n"
    "interruption adds only what is missing, never a duplicate. FILE '-'\n"
    "reads stdin. Streams are not trimmed: the copy is exact.\n\n"
    "Options:\n"
    "      --namespace NS   put NS in front of every target stream name\n"
    "  -r, --rename OLD=NEW replay stream OLD into NEW (repeatable; the\n"
    "                       namespace is added after renaming)\n"
    "  -s, --stream NAME    replay only this captured stream (repeatable)\n"
    "      --speed X        pace: 'max' (default) as fast as possible, 1\n"
    "                       the recorded pace, 2 twice as fast, 0.5 half\n"
    "      --timing T       what the pace follows: 'arrival' (default,\n"
    "                       when the capture saw the entry) or 'id' (the\n"
    "                       entry ID's time, for snapshots of history)\n"
    "      --new-ids        let the target assign new IDs ('*')\n"
    "      --limit N        stop after adding N entries\n"
    "      --dry-run        read and check the file, print what would be\n"
    "                       added (one JSON line per entry with --json),\n"
    "                       touch no Redis\n"
    "      --progress-key K the progress key (default\n"
    "                       NS + sgctl:replay:<fingerprint of the file's\n"
    "                       header, renames and ID mode>)\n"
    "      --restart        forget earlier progress and replay from the\n"
    "                       first entry\n"
    "      --progress       show progress even when stderr is no terminal\n"
    "      --no-progress    never show progress\n\n"
    "A cut-short last record (a capture killed mid-write) is reported and\n"
    "not replayed; a corrupt record stops the replay (exit 4) after the\n"
    "records before it.\n\n" SGCTL_COMMON_HELP;

enum {
    OPT_SPEED = SGCTL_OPT_FIRST_FREE,
    OPT_TIMING,
    OPT_NEW_IDS,
    OPT_LIMIT,
    OPT_DRY,
    OPT_KEY,
    OPT_RESTART,
    OPT_PROGRESS,
    OPT_NO_PROGRESS
};

/*
 * KEYS[1] target stream, KEYS[2] progress key.
 * ARGV[1] record index, ARGV[2] the index the progress key must hold now
 * (-1: absent), ARGV[3] entry ID or '*', ARGV[4..] field, value, ...
 * Returns {1, id} added, {0, id} already there, {-1, progress} out of
 * sequence (nothing written).
 */
static const char script[] =
    "local cur = redis.call('GET', KEYS[2]) or '-1'\n"
    "if tonumber(cur) >= tonumber(ARGV[1]) then return {0, ''} end\n"
    "if cur ~= ARGV[2] then return {-1, cur} end\n"
    "if ARGV[3] ~= '*' then\n"
    "  local have = redis.call('XRANGE', KEYS[1], ARGV[3], ARGV[3])\n"
    "  if #have > 0 then\n"
    "    redis.call('SET', KEYS[2], ARGV[1])\n"
    "    return {0, ARGV[3]}\n"
    "  end\n"
    "end\n"
    "local id = redis.call('XADD', KEYS[1], ARGV[3], unpack(ARGV, 4))\n"
    "redis.call('SET', KEYS[2], ARGV[1])\n"
    "return {1, id}\n";

typedef struct rename_rule {
    const char *from;
    size_t from_len;
    const char *to;
} rename_rule;

typedef struct pending_rec {
    uint64_t index;
    uint64_t offset;
} pending_rec;

typedef struct replay {
    sgctl *c;
    const char *path;
    rename_rule renames[MAX_RENAMES];
    size_t nrenames;
    sgctl_strv only;
    double speed;               /* 0: as fast as possible */
    int timing_id;
    int new_ids;
    long long limit;
    int dry;
    int restart;
    int progress;
    char key[SG_NAME_MAX * 2 + 64];
    char sha[64];
    long long done;             /* progress key at start, -1: none */
    long long prev;             /* index the key holds after the last
                                   record sent */
    pending_rec pend[BATCH];
    int npend;
    uint64_t read, added, skipped, filtered;
    int64_t t0_mono, t0_rec;
    int have_t0;
    sgctl_args args;
    sgctl_strv targets;         /* per-target counts in dry runs */
} replay;

static int target_name(const replay *rp, const sgcap_record *rec,
                       char *out, size_t cap)
{
    const char *name = rec->stream;
    size_t len = rec->stream_len, i;
    int n;

    for (i = 0; i < rp->nrenames; i++)
        if (rp->renames[i].from_len == len &&
            memcmp(rp->renames[i].from, name, len) == 0) {
            name = rp->renames[i].to;
            len = strlen(name);
            break;
        }
    n = snprintf(out, cap, "%s%.*s", rp->c->ns, (int)len, name);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

/* Reads the replies of every pipelined record. */
static int drain(replay *rp)
{
    sgctl *c = rp->c;
    redisReply *r;
    int i, rc = 0;

    for (i = 0; i < rp->npend; i++) {
        void *v = NULL;
        if (redisGetReply(c->rc, &v) != REDIS_OK) {
            sgctl_errorf(c, CMD, "redis connection lost: %s (run the same "
                         "replay again to resume)", c->rc->errstr);
            rp->npend = 0;
            return SGCTL_EXIT_UNREACHABLE;
        }
        r = v;
        if (rc != 0) {
            freeReplyObject(r);
            continue;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            sgctl_errorf(c, CMD, "record %llu (offset %llu): refused: %s%s",
                         (unsigned long long)rp->pend[i].index,
                         (unsigned long long)rp->pend[i].offset, r->str,
                         strstr(r->str, "equal or smaller") != NULL
                         ? " (the target stream holds newer entries: use "
                           "--new-ids, or another --namespace)" : "");
            rc = SGCTL_EXIT_FAIL;
        } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                   r->element[0]->type == REDIS_REPLY_INTEGER) {
            long long v0 = r->element[0]->integer;
            if (v0 == 1)
                rp->added++;
            else if (v0 == 0)
                rp->skipped++;
            else {
                sgctl_errorf(c, CMD, "record %llu (offset %llu): out of "
                             "sequence: the progress key %s holds %s; "
                             "another replay is running, or a record "
                             "before this one failed",
                             (unsigned long long)rp->pend[i].index,
                             (unsigned long long)rp->pend[i].offset,
                             rp->key, r->element[1]->type ==
                             REDIS_REPLY_STRING ? r->element[1]->str : "?");
                rc = SGCTL_EXIT_FAIL;
            }
        } else {
            sgctl_errorf(c, CMD, "record %llu: unexpected reply",
                         (unsigned long long)rp->pend[i].index);
            rc = SGCTL_EXIT_FAIL;
        }
        freeReplyObject(r);
    }
    rp->npend = 0;
    return rc;
}

static void dry_print(replay *rp, const sgcap_record *rec,
                      const char *target)
{
    sgctl *c = rp->c;
    size_t i;

    if (c->json) {
        cJSON *j = cJSON_CreateObject(), *f;
        cJSON_AddNumberToObject(j, "index", (double)rec->index);
        cJSON_AddNumberToObject(j, "offset", (double)rec->offset);
        cJSON_AddItemToObject(j, "stream",
                              sgctl_json_bytes(rec->stream,
                                               rec->stream_len));
        cJSON_AddStringToObject(j, "target", target);
        cJSON_AddStringToObject(j, "id", rec->id);
        cJSON_AddNumberToObject(j, "arrival_ms", (double)rec->arrival_ms);
        f = cJSON_AddArrayToObject(j, "fields");
        for (i = 0; i < rec->nfields; i++) {
            cJSON *pair = cJSON_CreateArray();
            cJSON_AddItemToArray(pair,
                sgctl_json_bytes(rec->fields[i].name,
                                 rec->fields[i].name_len));
            cJSON_AddItemToArray(pair,
                sgctl_json_bytes(rec->fields[i].value,
                                 rec->fields[i].value_len));
            cJSON_AddItemToArray(f, pair);
        }
        sgctl_print_json(c, j);
    } else {
        fprintf(c->out, "%llu %.*s -> %s %s%s (%zu fields)\n",
                (unsigned long long)rec->index, (int)rec->stream_len,
                rec->stream, target, rp->new_ids ? "* for " : "", rec->id,
                rec->nfields);
    }
}

static int one(replay *rp, const sgcap_record *rec)
{
    sgctl *c = rp->c;
    char target[SG_NAME_MAX * 2 + 2], idx[32], prev[32];
    int64_t at;
    size_t i;
    int rc;

    rp->read++;
    if (rp->only.n > 0) {
        char name[SG_NAME_MAX * 4 + 1];
        snprintf(name, sizeof name, "%.*s", (int)rec->stream_len,
                 rec->stream);
        if (!sgctl_strv_has(&rp->only, name)) {
            rp->filtered++;
            return 0;
        }
    }
    if (target_name(rp, rec, target, sizeof target) != 0) {
        sgctl_errorf(c, CMD, "record %llu: target stream name too long",
                     (unsigned long long)rec->index);
        return SGCTL_EXIT_FAIL;
    }
    if (rp->dry) {
        dry_print(rp, rec, target);
        rp->added++;
        return 0;
    }
    if ((long long)rec->index <= rp->done) {
        rp->skipped++;
        return 0;
    }
    /* The pace: wait until this record's time, scaled, has come. */
    if (rp->speed > 0) {
        int64_t t = rp->timing_id ? (int64_t)rec->id_ms : rec->arrival_ms;
        if (!rp->have_t0) {
            rp->t0_mono = sgctl_mono_ms();
            rp->t0_rec = t;
            rp->have_t0 = 1;
        }
        at = rp->t0_mono + (int64_t)((double)(t - rp->t0_rec) / rp->speed);
        if (at > sgctl_mono_ms()) {
            if ((rc = drain(rp)) != 0)
                return rc;
            while (!sgctl_stop && at > sgctl_mono_ms()) {
                int64_t wait = at - sgctl_mono_ms();
                sgctl_sleep_ms(wait > 200 ? 200 : wait);
            }
            if (sgctl_stop)
                return 0;
        }
    }
    snprintf(idx, sizeof idx, "%llu", (unsigned long long)rec->index);
    snprintf(prev, sizeof prev, "%lld", rp->prev);
    rp->args.n = 0;
    sgctl_args_str(&rp->args, "EVALSHA");
    sgctl_args_str(&rp->args, rp->sha);
    sgctl_args_str(&rp->args, "2");
    sgctl_args_str(&rp->args, target);
    sgctl_args_str(&rp->args, rp->key);
    sgctl_args_str(&rp->args, idx);
    sgctl_args_str(&rp->args, prev);
    sgctl_args_str(&rp->args, rp->new_ids ? "*" : rec->id);
    for (i = 0; i < rec->nfields; i++) {
        sgctl_args_push(&rp->args, rec->fields[i].name,
                        rec->fields[i].name_len);
        if (sgctl_args_push(&rp->args, rec->fields[i].value,
                            rec->fields[i].value_len) != 0)
            return SGCTL_EXIT_FAIL;
    }
    /* redisAppendCommandArgv copies the arguments at once. */
    if (redisAppendCommandArgv(c->rc, rp->args.n, rp->args.v,
                               rp->args.len) != REDIS_OK)
        return SGCTL_EXIT_FAIL;
    rp->pend[rp->npend].index = rec->index;
    rp->pend[rp->npend].offset = rec->offset;
    rp->npend++;
    rp->prev = (long long)rec->index;
    if (rp->npend == BATCH)
        return drain(rp);
    return 0;
}

static int prepare(replay *rp, uint32_t header_crc)
{
    sgctl *c = rp->c;
    redisReply *r;
    uint32_t crc = header_crc;
    size_t i;

    if (rp->key[0] == '\0') {
        for (i = 0; i < rp->nrenames; i++) {
            crc = sgcap_crc32(crc, rp->renames[i].from,
                              rp->renames[i].from_len + 1);
            crc = sgcap_crc32(crc, rp->renames[i].to,
                              strlen(rp->renames[i].to) + 1);
        }
        for (i = 0; i < rp->only.n; i++)
            crc = sgcap_crc32(crc, rp->only.v[i], strlen(rp->only.v[i]) + 1);
        crc = sgcap_crc32(crc, rp->new_ids ? "new" : "orig", 4);
        snprintf(rp->key, sizeof rp->key, "%ssgctl:replay:%08x", c->ns,
                 (unsigned)crc);
    }
    if (rp->restart) {
        r = sgctl_cmd(c, CMD, "DEL %s", rp->key);
        if (r == NULL)
            return SGCTL_EXIT_UNREACHABLE;
        freeReplyObject(r);
    }
    r = sgctl_cmd(c, CMD, "GET %s", rp->key);
    if (r == NULL)
        return SGCTL_EXIT_UNREACHABLE;
    rp->done = -1;
    if (r->type == REDIS_REPLY_STRING) {
        rp->done = sgctl_parse_count(r->str);
        if (rp->done < 0) {
            sgctl_errorf(c, CMD, "progress key %s holds '%s', not a "
                         "record index", rp->key, r->str);
            freeReplyObject(r);
            return SGCTL_EXIT_FAIL;
        }
    }
    freeReplyObject(r);
    rp->prev = rp->done;
    r = sgctl_cmd(c, CMD, "SCRIPT LOAD %s", script);
    if (r == NULL)
        return SGCTL_EXIT_UNREACHABLE;
    if (r->type != REDIS_REPLY_STRING) {
        sgctl_errorf(c, CMD, "SCRIPT LOAD refused: %s",
                     r->type == REDIS_REPLY_ERROR ? r->str : "?");
        freeReplyObject(r);
        return SGCTL_EXIT_FAIL;
    }
    snprintf(rp->sha, sizeof rp->sha, "%s", r->str);
    freeReplyObject(r);
    return 0;
}

static int parse_opts(replay *rp, int argc, char **argv)
{
    static const struct option opts[] = {
        {"rename", required_argument, NULL, 'r'},
        {"stream", required_argument, NULL, 's'},
        {"speed", required_argument, NULL, OPT_SPEED},
        {"timing", required_argument, NULL, OPT_TIMING},
        {"new-ids", no_argument, NULL, OPT_NEW_IDS},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"dry-run", no_argument, NULL, OPT_DRY},
        {"progress-key", required_argument, NULL, OPT_KEY},
        {"restart", no_argument, NULL, OPT_RESTART},
        {"progress", no_argument, NULL, OPT_PROGRESS},
        {"no-progress", no_argument, NULL, OPT_NO_PROGRESS},
        SGCTL_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0}
    };
    sgctl *c = rp->c;
    const char *eq;
    char *end;
    int opt, rc;

    while ((opt = getopt_long(argc, argv, "r:s:" SGCTL_COMMON_SHORTOPTS,
                              opts, NULL)) != -1) {
        switch (opt) {
        case 'r':
            eq = strchr(optarg, '=');
            if (eq == NULL || eq == optarg || eq[1] == '\0' ||
                rp->nrenames == MAX_RENAMES) {
                sgctl_errorf(c, CMD, "--rename: '%s' is not OLD=NEW (at "
                             "most %d renames)", optarg, MAX_RENAMES);
                return SGCTL_EXIT_USAGE;
            }
            rp->renames[rp->nrenames].from = optarg;
            rp->renames[rp->nrenames].from_len = (size_t)(eq - optarg);
            rp->renames[rp->nrenames].to = eq + 1;
            rp->nrenames++;
            continue;
        case 's':
            if (sgctl_strv_push(&rp->only, optarg, strlen(optarg)) != 0)
                return SGCTL_EXIT_FAIL;
            continue;
        case OPT_SPEED:
            if (strcmp(optarg, "max") == 0) {
                rp->speed = 0;
                continue;
            }
            errno = 0;
            rp->speed = strtod(optarg, &end);
            if (errno != 0 || *end != '\0' || !(rp->speed > 0) ||
                rp->speed > 1e6) {
                sgctl_errorf(c, CMD, "--speed: '%s' is not 'max' or a "
                             "factor above 0", optarg);
                return SGCTL_EXIT_USAGE;
            }
            continue;
        case OPT_TIMING:
            if (strcmp(optarg, "arrival") != 0 && strcmp(optarg, "id")) {
                sgctl_errorf(c, CMD, "--timing: '%s' is not 'arrival' or "
                             "'id'", optarg);
                return SGCTL_EXIT_USAGE;
            }
            rp->timing_id = strcmp(optarg, "id") == 0;
            continue;
        case OPT_NEW_IDS: rp->new_ids = 1; continue;
        case OPT_LIMIT:
            if ((rp->limit = sgctl_parse_count(optarg)) < 1) {
                sgctl_errorf(c, CMD, "--limit: '%s' is not a positive "
                             "count", optarg);
                return SGCTL_EXIT_USAGE;
            }
            continue;
        case OPT_DRY: rp->dry = 1; continue;
        case OPT_KEY:
            snprintf(rp->key, sizeof rp->key, "%s", optarg);
            continue;
        case OPT_RESTART: rp->restart = 1; continue;
        case OPT_PROGRESS: rp->progress = 1; continue;
        case OPT_NO_PROGRESS: rp->progress = 0; continue;
        default:
            break;
        }
        rc = sgctl_common_opt(c, CMD, opt, optarg);
        if (rc < 0)
            return SGCTL_EXIT_USAGE;
        if (rc == 0)
            return sgctl_bad_option(c, CMD, argv);
    }
    if (c->help)
        return 0;
    if (argc - optind != 1) {
        sgctl_errorf(c, CMD, "one capture FILE expected (see --help)");
        return SGCTL_EXIT_USAGE;
    }
    rp->path = argv[optind];
    return 0;
}

static void summary(replay *rp, int truncated, const sgcap_error *terr)
{
    sgctl *c = rp->c;

    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "file", rp->path);
        cJSON_AddBoolToObject(j, "dry_run", rp->dry);
        cJSON_AddNumberToObject(j, "entries", (double)rp->read);
        cJSON_AddNumberToObject(j, rp->dry ? "would_add" : "added",
                                (double)rp->added);
        cJSON_AddNumberToObject(j, "skipped", (double)rp->skipped);
        cJSON_AddNumberToObject(j, "filtered", (double)rp->filtered);
        if (!rp->dry)
            cJSON_AddStringToObject(j, "progress_key", rp->key);
        cJSON_AddBoolToObject(j, "truncated", truncated);
        if (truncated)
            cJSON_AddStringToObject(j, "truncation", terr->msg);
        sgctl_print_json(c, j);
    } else {
        fprintf(c->out, "%s: %llu entries read, %llu %s, %llu already "
                "replayed, %llu filtered out%s%s\n", rp->path,
                (unsigned long long)rp->read,
                (unsigned long long)rp->added,
                rp->dry ? "would be added" : "added",
                (unsigned long long)rp->skipped,
                (unsigned long long)rp->filtered,
                rp->dry ? "" : "; progress key ", rp->dry ? "" : rp->key);
    }
}

int sgctl_cmd_replay(sgctl *c, int argc, char **argv)
{
    replay rp;
    sgcap_reader reader;
    sgcap_record rec;
    sgcap_error err;
    uint8_t chunk[65536];
    FILE *f = NULL;
    struct stat st;
    int64_t last_progress = 0;
    uint64_t consumed = 0;
    int rc, n, truncated = 0, prepared = 0, eof = 0;
    size_t got;

    memset(&rp, 0, sizeof rp);
    rp.c = c;
    rp.progress = -1;
    rc = parse_opts(&rp, argc, argv);
    if (rc != 0 || c->help) {
        if (c->help)
            fputs(help, c->out);
        sgctl_strv_free(&rp.only);
        return rc;
    }
    if (rp.progress < 0)
        rp.progress = isatty(fileno(c->err));
    if (sgctl_apply_namespace(c, CMD) != 0) {
        sgctl_strv_free(&rp.only);
        return SGCTL_EXIT_USAGE;
    }
    f = strcmp(rp.path, "-") == 0 ? stdin : fopen(rp.path, "rb");
    if (f == NULL) {
        sgctl_errorf(c, CMD, "cannot open %s: %s", rp.path,
                     strerror(errno));
        sgctl_strv_free(&rp.only);
        return SGCTL_EXIT_FAIL;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode))
        st.st_size = 0;
    if (!rp.dry && (rc = sgctl_connect(c, CMD)) != 0) {
        if (f != stdin)
            fclose(f);
        sgctl_strv_free(&rp.only);
        return rc;
    }
    sgcap_reader_init(&reader, NULL, NULL);
    sgctl_signals_on();
    while (rc == 0 && !eof && !sgctl_stop) {
        got = fread(chunk, 1, sizeof chunk, f);
        if (got == 0) {
            if (ferror(f)) {
                sgctl_errorf(c, CMD, "reading %s: %s", rp.path,
                             strerror(errno));
                rc = SGCTL_EXIT_FAIL;
                break;
            }
            eof = 1;
        }
        consumed += got;
        if (sgcap_reader_feed(&reader, chunk, got, &err) != 0) {
            sgctl_errorf(c, CMD, "%s", err.msg);
            rc = SGCTL_EXIT_FAIL;
            break;
        }
        while (rc == 0 && !sgctl_stop &&
               (rp.limit == 0 ||
                (long long)(rp.added + rp.npend) < rp.limit) &&
               (n = sgcap_reader_next(&reader, &rec, &err)) != 0) {
            if (n < 0) {
                sgctl_errorf(c, CMD, "%s: %s", rp.path, err.msg);
                rc = n == SG_ENOMEM ? SGCTL_EXIT_FAIL : SGCTL_EXIT_DATA;
                break;
            }
            if (!prepared && !rp.dry) {
                if ((rc = prepare(&rp, reader.header_crc)) != 0)
                    break;
            }
            prepared = 1;
            if (rec.type == SGCAP_ENTRY)
                rc = one(&rp, &rec);
        }
        if (rp.limit > 0 && (long long)(rp.added + rp.npend) >= rp.limit)
            break;
        if (rp.progress && sgctl_mono_ms() - last_progress >= 200) {
            fprintf(c->err, "\rsgctl replay: %llu added, %llu skipped, "
                    "%3.0f%% of the file", (unsigned long long)rp.added,
                    (unsigned long long)rp.skipped,
                    st.st_size > 0 ? 100.0 * (double)consumed /
                                     (double)st.st_size : 0.0);
            fflush(c->err);
            last_progress = sgctl_mono_ms();
        }
    }
    if (!rp.dry && rp.npend > 0) {
        int d = drain(&rp);
        if (rc == 0)
            rc = d;
    }
    sgctl_signals_off();
    if (rp.progress)
        fprintf(c->err, "\rsgctl replay: %llu added, %llu skipped\n",
                (unsigned long long)rp.added,
                (unsigned long long)rp.skipped);
    if (rc == 0 && eof) {
        if (sgcap_reader_finish(&reader, &err) != 0) {
            if (err.kind == SGCAP_ERR_TRUNCATED && prepared) {
                truncated = 1;
                sgctl_errorf(c, CMD, "warning: %s: %s; the whole records "
                             "before it were replayed", rp.path, err.msg);
            } else {
                sgctl_errorf(c, CMD, "%s: %s", rp.path, err.msg);
                rc = SGCTL_EXIT_DATA;
            }
        } else if (!sgcap_reader_ended(&reader)) {
            sgctl_errorf(c, CMD, "note: %s has no end record (the capture "
                         "did not stop cleanly); every record in it was "
                         "whole", rp.path);
        }
    }
    if (sgctl_stop && rc == 0) {
        sgctl_errorf(c, CMD, "interrupted; run the same command again to "
                     "resume");
        rc = SGCTL_EXIT_FAIL;
    }
    if (rc == 0 || rc == SGCTL_EXIT_DATA)
        summary(&rp, truncated, &err);
    sgcap_reader_destroy(&reader);
    if (f != stdin)
        fclose(f);
    sgctl_args_free(&rp.args);
    sgctl_strv_free(&rp.only);
    sgctl_strv_free(&rp.targets);
    return rc;
}
