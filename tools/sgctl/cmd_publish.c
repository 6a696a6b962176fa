/*
 * cmd_publish.c: `sgctl publish`, an envelope given as JSON, validated by
 * libsg's codec through the JSON bridge (so a rejection names the reason
 * and the field path, SG-FRAME-012), encoded, and added to the stream of
 * its kind with the framing of SPEC section 3: XADD MAXLEN ~ <cap>, fields
 * data, ts and trace_id (SG-FRAME-001/002/008, SG-TRACE-001).
 */
#define _GNU_SOURCE

#include "sgctl.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "sg/json.h"
#include "sg/random.h"

#define CMD "publish"

/* Largest JSON text read: the entry limit, with room for base64. */
#define JSON_MAX ((size_t)8 * 1024 * 1024)

static const char help[] =
    "Usage: sgctl publish [options] [JSON | -]\n\n"
    "Validates an envelope given as JSON (the canonical JSON of\n"
    "protocol/vectors/README.md; bytes as base64 strings) with the codec\n"
    "and publishes it on the stream of its kind, framed as SPEC section 3\n"
    "says (data, ts, trace_id; XADD MAXLEN ~ $SG_STREAM_MAXLEN). The JSON\n"
    "comes from the argument, from --file, or from stdin ('-' or none).\n"
    "Prints the new entry's ID.\n\n"
    "Options:\n"
    "  -k, --kind KIND      inbound (default), outbound, tools_request,\n"
    "                       tools_reply\n"
    "  -P, --platform NAME  outbound: the platform, whose stream is\n"
    "                       {SG_OUTBOUND_STREAM_PREFIX}:NAME\n"
    "  -w, --worker ID      tools_reply: the worker, whose stream is\n"
    "                       {SG_TOOLS_REPLY_STREAM_PREFIX}:ID\n"
    "  -s, --stream NAME    publish on this stream instead\n"
    "  -f, --file PATH      read the JSON from a file\n"
    "  -t, --trace-id ID    the trace id (default: the envelope's, else\n"
    "                       32 random hex digits)\n"
    "      --dry-run        validate and print the canonical JSON only\n\n"
    "An invalid envelope exits 4, naming the reason and the field path.\n\n"
    SGCTL_COMMON_HELP;

enum { OPT_DRY = SGCTL_OPT_FIRST_FREE };

static char *read_all(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0, got;
    char *buf = malloc(cap + 1), *bigger;

    while (buf != NULL) {
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) {
            if (ferror(f))
                break;
            buf[n] = '\0';
            *len = n;
            return buf;
        }
        if (cap >= JSON_MAX)
            break;
        cap *= 2;
        bigger = realloc(buf, cap + 1);
        if (bigger == NULL)
            break;
        buf = bigger;
    }
    free(buf);
    return NULL;
}

static int report_invalid(sgctl *c, const sg_error *e)
{
    const char *reason = sg_reason_name(e->reason);

    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "error", e->msg);
        cJSON_AddStringToObject(j, "reason", reason ? reason : "none");
        cJSON_AddStringToObject(j, "path", e->path);
        sgctl_print_json(c, j);
    }
    sgctl_errorf(c, CMD, "invalid envelope: %s (reason %s, path %s)",
                 e->msg, reason ? reason : "?",
                 e->path[0] ? e->path : "data");
    return SGCTL_EXIT_DATA;
}

int sgctl_cmd_publish(sgctl *c, int argc, char **argv)
{
    static const struct option opts[] = {
        {"kind", required_argument, NULL, 'k'},
        {"platform", required_argument, NULL, 'P'},
        {"worker", required_argument, NULL, 'w'},
        {"stream", required_argument, NULL, 's'},
        {"file", required_argument, NULL, 'f'},
        {"trace-id", required_argument, NULL, 't'},
        {"dry-run", no_argument, NULL, OPT_DRY},
        SGCTL_COMMON_LONGOPTS,
        {NULL, 0, NULL, 0}
    };
    const char *platform = NULL, *worker = NULL, *stream_opt = NULL,
               *file = NULL, *trace_opt = NULL;
    char stream[SG_NAME_MAX * 2 + 2], trace[129], ts[32], maxlen[32];
    sg_kind kind = SG_KIND_INBOUND;
    sg_envelope *env = NULL;
    sg_str *env_trace = NULL;
    char *text = NULL;
    size_t len = 0;
    sg_error e;
    sg_buf data;
    sgctl_args args = {0};
    redisReply *r = NULL;
    int opt, rc, dry = 0;
    int64_t now;

    while ((opt = getopt_long(argc, argv, "k:P:w:s:f:t:"
                              SGCTL_COMMON_SHORTOPTS, opts, NULL)) != -1) {
        switch (opt) {
        case 'k':
            if (sg_kind_from_name(optarg, strlen(optarg), &kind) != 0) {
                sgctl_errorf(c, CMD, "--kind: '%s' is not inbound, "
                             "outbound, tools_request or tools_reply",
                             optarg);
                return SGCTL_EXIT_USAGE;
            }
            continue;
        case 'P': platform = optarg; continue;
        case 'w': worker = optarg; continue;
        case 's': stream_opt = optarg; continue;
        case 'f': file = optarg; continue;
        case 't': trace_opt = optarg; continue;
        case OPT_DRY: dry = 1; continue;
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
    if (argc - optind > 1) {
        sgctl_errorf(c, CMD, "one JSON argument expected, got %d",
                     argc - optind);
        return SGCTL_EXIT_USAGE;
    }
    if (trace_opt != NULL && strlen(trace_opt) > 128) {
        sgctl_errorf(c, CMD, "--trace-id: longer than 128 bytes "
                     "(SG-FRAME-007)");
        return SGCTL_EXIT_USAGE;
    }
    if (sgctl_apply_namespace(c, CMD) != 0)
        return SGCTL_EXIT_USAGE;

    /* Where it goes. */
    if (stream_opt != NULL) {
        rc = snprintf(stream, sizeof stream, "%s", stream_opt);
    } else if (kind == SG_KIND_OUTBOUND) {
        if (platform == NULL) {
            sgctl_errorf(c, CMD, "--platform is required for outbound "
                         "envelopes (or --stream)");
            return SGCTL_EXIT_USAGE;
        }
        rc = sg_name_join(stream, sizeof stream,
                          c->topo.outbound_stream_prefix, platform,
                          strlen(platform));
    } else if (kind == SG_KIND_TOOLS_REPLY) {
        if (worker == NULL) {
            sgctl_errorf(c, CMD, "--worker is required for tools replies "
                         "(or --stream)");
            return SGCTL_EXIT_USAGE;
        }
        rc = sg_name_join(stream, sizeof stream,
                          c->topo.tools_reply_stream_prefix, worker,
                          strlen(worker));
    } else {
        rc = snprintf(stream, sizeof stream, "%s",
                      kind == SG_KIND_INBOUND ? c->topo.inbound_stream
                                              : c->topo.tools_stream);
    }
    if (rc < 0 || (size_t)rc >= sizeof stream) {
        sgctl_errorf(c, CMD, "stream name longer than %zu bytes",
                     sizeof stream - 1);
        return SGCTL_EXIT_USAGE;
    }

    /* The envelope. */
    if (optind < argc && strcmp(argv[optind], "-") != 0) {
        text = strdup(argv[optind]);
        len = text ? strlen(text) : 0;
    } else {
        FILE *f = stdin;
        if (file != NULL && (f = fopen(file, "rb")) == NULL) {
            sgctl_errorf(c, CMD, "cannot open %s", file);
            return SGCTL_EXIT_FAIL;
        }
        text = read_all(f, &len);
        if (f != stdin)
            fclose(f);
    }
    if (text == NULL) {
        sgctl_errorf(c, CMD, "cannot read the JSON (at most %zu bytes)",
                     JSON_MAX);
        return SGCTL_EXIT_FAIL;
    }
    sg_error_clear(&e);
    rc = sg_envelope_from_json(kind, text, len, NULL, &env, &e);
    free(text);
    if (rc == SG_EDECODE)
        return report_invalid(c, &e);
    if (rc != 0) {
        sgctl_errorf(c, CMD, "%s", sg_strerror(rc));
        return SGCTL_EXIT_FAIL;
    }

    /* The trace id goes in the entry and in the envelope (SG-TRACE-001). */
    if (kind == SG_KIND_INBOUND)
        env_trace = &env->u.in.trace_id;
    else if (kind == SG_KIND_OUTBOUND)
        env_trace = &env->u.out.trace_id;
    if (trace_opt != NULL)
        snprintf(trace, sizeof trace, "%s", trace_opt);
    else if (env_trace != NULL && env_trace->len > 0)
        snprintf(trace, sizeof trace, "%.*s", (int)env_trace->len,
                 env_trace->ptr);
    else
        sg_random_hex(trace, 16);
    if (env_trace != NULL) {
        env_trace->ptr = trace;
        env_trace->len = strlen(trace);
    }
    sg_buf_init(&data, NULL);
    rc = sg_envelope_encode(env, &data, &e);
    if (rc == SG_EINVALID) {
        sg_envelope_free(env);
        sg_buf_destroy(&data);
        return report_invalid(c, &e);
    }
    if (rc != 0) {
        sgctl_errorf(c, CMD, "encode: %s", sg_strerror(rc));
        rc = SGCTL_EXIT_FAIL;
        goto done;
    }

    if (dry) {
        sg_buf js;
        sg_buf_init(&js, NULL);
        if (sg_envelope_to_json(env, &js, &e) == 0) {
            if (c->json) {
                cJSON *j = cJSON_CreateObject();
                cJSON_AddStringToObject(j, "stream", stream);
                cJSON_AddStringToObject(j, "trace_id", trace);
                cJSON_AddNumberToObject(j, "data_bytes", (double)data.len);
                cJSON_AddItemToObject(j, "envelope",
                                      cJSON_CreateRaw((char *)js.data));
                sgctl_print_json(c, j);
            } else {
                fprintf(c->out, "valid %s envelope for %s (%zu bytes)\n%s\n",
                        sg_kind_name(kind), stream, data.len,
                        (char *)js.data);
            }
        }
        sg_buf_destroy(&js);
        rc = SGCTL_EXIT_OK;
        goto done;
    }

    if ((rc = sgctl_connect(c, CMD)) != 0)
        goto done;
    now = sgctl_now_ms();
    snprintf(ts, sizeof ts, "%lld.%03lld", (long long)(now / 1000),
             (long long)(now % 1000));
    snprintf(maxlen, sizeof maxlen, "%lld", c->stream_maxlen);
    if (sgctl_args_str(&args, "XADD") || sgctl_args_str(&args, stream) ||
        sgctl_args_str(&args, "MAXLEN") || sgctl_args_str(&args, "~") ||
        sgctl_args_str(&args, maxlen) || sgctl_args_str(&args, "*") ||
        sgctl_args_str(&args, "data") ||
        sgctl_args_push(&args, data.data, data.len) ||
        sgctl_args_str(&args, "ts") || sgctl_args_str(&args, ts) ||
        sgctl_args_str(&args, "trace_id") ||
        sgctl_args_str(&args, trace)) {
        rc = SGCTL_EXIT_FAIL;
        goto done;
    }
    r = redisCommandArgv(c->rc, args.n, args.v, args.len);
    if (r == NULL) {
        sgctl_errorf(c, CMD, "redis connection lost: %s", c->rc->errstr);
        rc = SGCTL_EXIT_UNREACHABLE;
        goto done;
    }
    if (r->type != REDIS_REPLY_STRING) {
        sgctl_errorf(c, CMD, "XADD %s refused: %s", stream,
                     r->type == REDIS_REPLY_ERROR ? r->str : "odd reply");
        rc = SGCTL_EXIT_FAIL;
        goto done;
    }
    if (c->json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "stream", stream);
        cJSON_AddStringToObject(j, "id", r->str);
        cJSON_AddStringToObject(j, "trace_id", trace);
        sgctl_print_json(c, j);
    } else {
        fprintf(c->out, "%s %s\n", stream, r->str);
    }
    rc = SGCTL_EXIT_OK;
done:
    freeReplyObject(r);
    sgctl_args_free(&args);
    sg_buf_destroy(&data);
    sg_envelope_free(env);
    return rc;
}
