/*
 * codec.c: `sg-bench codec`, the cost of the envelope codec per envelope.
 *
 *     sg-bench codec [--iterations N | --seconds S] [--warmup N]
 *                    [--rounds R]
 *
 * Two envelopes: a typical inbound one (a guild message of 200 characters
 * with the usual metadata, one small attachment and a reaction: about 600
 * bytes and 20 fields) and an outbound `message` answering it. For each,
 * two operations:
 *
 *   encode  sg_buf_reset() + sg_envelope_encode() into a reused buffer;
 *   decode  sg_envelope_decode_data() + sg_envelope_free(): parsing and
 *           the full validation of SPEC sections 4 to 11, as a consumer
 *           does for every entry.
 *
 * Each operation runs R rounds (default 5) of N iterations after a warm-up;
 * the figure is the median round's nanoseconds per operation, and MB/s is
 * the encoded size over that time (MB = 10^6 bytes). Without --iterations,
 * N is chosen so that the slowest operation's rounds take about S seconds
 * (default 0.5).
 *
 * Before timing anything, the results are checked: the encoding decodes
 * to an envelope equal to the source and encodes to the same bytes again.
 * A benchmark of a broken path is worthless, so a failed check exits 1.
 *
 * Output, one JSON line:
 *   {"bench":"codec","inbound":{"bytes":..,"fields":..,"encode_ns":..,
 *    "encode_mb_s":..,"decode_ns":..,"decode_mb_s":..},
 *    "outbound_message":{...},"iterations":..,"rounds":..,"warmup":..,
 *    "compiler":"..","build_type":".."}
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sg.h>

#include "bench.h"

#define DEFAULT_ROUNDS 5
#define DEFAULT_WARMUP 1000
#define DEFAULT_SECONDS 0.5
#define MAX_ROUNDS 101
#define CALIBRATION_ITERATIONS 2000

/* ASCII, so that cutting it anywhere leaves valid UTF-8. */
static const char content_text[] =
    "Has anyone tried the new build on the staging cluster? The deploy "
    "went fine for me, but the worker keeps reconnecting every few "
    "minutes and the log shows a timeout talking to Redis before it "
    "recovers on its own. Any ideas?";

/* SG_STR is a compound literal, which static initializers cannot use. */
#define LIT(s) { (s), sizeof(s) - 1 }

#define CONTENT_LEN 200
_Static_assert(sizeof(content_text) - 1 >= CONTENT_LEN,
               "content_text is shorter than the benchmark's content");

/* A PNG file's signature: the attachment is small, its bytes are not
 * what is measured. */
static const uint8_t attachment_bytes[8] = {
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a
};

/* [{"emoji": "<thumbs up>", "count": 3}] */
static const uint8_t reactions_mp[] = {
    0x91, 0x82,
    0xa5, 'e', 'm', 'o', 'j', 'i', 0xa4, 0xf0, 0x9f, 0x91, 0x8d,
    0xa5, 'c', 'o', 'u', 'n', 't', 0x03
};

static const sg_attachment attachments[1] = {
    {
        { attachment_bytes, sizeof(attachment_bytes) },
        LIT("image/png"),
        LIT("shot.png"),
        { NULL, 0 },
    },
};

static const sg_str member_roles[2] = {
    LIT("mod"),
    LIT("dev"),
};

static const sg_str user_aliases[1] = {
    LIT("slack:U04A"),
};

static void typical_inbound(sg_envelope *env)
{
    sg_inbound *in = &env->u.in;

    sg_envelope_init(env, SG_KIND_INBOUND);
    in->platform = SG_STR("discord");
    in->channel_id = SG_STR("1187654321");
    in->user_id = SG_STR("3987654321");
    in->username = SG_STR("ada");
    in->content = (sg_str){ content_text, CONTENT_LEN };
    /* Most guild traffic is not addressed to the bot (SG-IN-007). */
    in->is_addressed = false;
    in->attachments = attachments;
    in->nattachments = 1;
    in->room_name = SG_STR("ops");
    in->timestamp = 1732350000.123;
    in->message_id = SG_STR("1309876543");
    in->reply_to = SG_STR("1309876500");
    in->has_guild_id = true;
    in->guild_id = SG_STR("1012345678");
    in->guild_name = SG_STR("Stargazer");
    in->member_roles = (sg_strv){ member_roles, 2 };
    in->member_count = 1342;
    in->reactions = (sg_any){ reactions_mp, sizeof(reactions_mp) };
    in->has_unified_user_id = true;
    in->unified_user_id = SG_STR("u-7f3a");
    in->user_aliases = (sg_strv){ user_aliases, 1 };
    in->trace_id = SG_STR("4bf92f3577b34da6a3ce929d0e0e4736");
}

static void outbound_message(sg_envelope *env)
{
    sg_outbound *out = &env->u.out;

    sg_envelope_init(env, SG_KIND_OUTBOUND);
    out->type = SG_OUT_MESSAGE;
    out->has_channel_id = true;
    out->channel_id = SG_STR("1187654321098765432");
    out->has_message_key = true;
    out->message_key = SG_STR("msg:1187654321098765432:1309876543210987654");
    out->trace_id = SG_STR("4bf92f3577b34da6a3ce929d0e0e4736");
    out->text = (sg_str){ content_text, CONTENT_LEN };
}

typedef struct bench_case {
    const char *name;           /* key in the output */
    sg_envelope env;            /* the source envelope */
    sg_buf encoded;             /* its encoding */
    unsigned long fields;       /* pairs in the encoded map */
    double encode_ns;
    double decode_ns;
} bench_case;

typedef struct bench_config {
    unsigned long iterations;   /* 0: from seconds */
    double seconds;
    unsigned long warmup;
    unsigned long rounds;
} bench_config;

static void report(const char *what, int rc, const sg_error *err)
{
    const char *reason = sg_reason_name(err->reason);

    fprintf(stderr, "sg-bench codec: %s failed: %s (%s, path '%s'): %s\n",
            what, sg_err_name(rc), reason != NULL ? reason : "?",
            err->path, err->msg);
}

/* The pair count of an encoded envelope map, read from its header. */
static unsigned long map_pairs(const sg_buf *b)
{
    const uint8_t *p = b->data;

    if (b->len >= 1 && (p[0] & 0xf0) == 0x80) {
        return p[0] & 0x0f;
    }
    if (b->len >= 3 && p[0] == 0xde) {
        return (unsigned long)p[1] << 8 | p[2];
    }
    if (b->len >= 5 && p[0] == 0xdf) {
        return (unsigned long)p[1] << 24 | (unsigned long)p[2] << 16
             | (unsigned long)p[3] << 8 | p[4];
    }
    return 0;
}

/*
 * Encodes the case's envelope and checks that the path to be timed works:
 * the bytes decode to an equal envelope, which encodes to the same bytes.
 */
static int prepare(bench_case *c)
{
    sg_envelope *decoded = NULL;
    sg_buf again;
    sg_error err;
    int rc;
    int ok;

    sg_error_clear(&err);
    rc = sg_envelope_encode(&c->env, &c->encoded, &err);
    if (rc != 0) {
        report("encode", rc, &err);
        return -1;
    }
    c->fields = map_pairs(&c->encoded);
    rc = sg_envelope_decode_data(c->env.kind, c->encoded.data,
                                 c->encoded.len, NULL, &decoded, &err);
    if (rc != 0) {
        report("decode of the encoding", rc, &err);
        return -1;
    }
    if (sg_envelope_equal(&c->env, decoded) != 1) {
        fprintf(stderr, "sg-bench codec: %s: the decoded envelope differs "
                "from the source\n", c->name);
        sg_envelope_free(decoded);
        return -1;
    }
    sg_buf_init(&again, NULL);
    rc = sg_envelope_encode(decoded, &again, &err);
    ok = rc == 0 && again.len == c->encoded.len
         && memcmp(again.data, c->encoded.data, again.len) == 0;
    sg_buf_destroy(&again);
    sg_envelope_free(decoded);
    if (!ok) {
        if (rc != 0) {
            report("encode of the decoded envelope", rc, &err);
        } else {
            fprintf(stderr, "sg-bench codec: %s: the decoded envelope "
                    "encodes to other bytes\n", c->name);
        }
        return -1;
    }
    return 0;
}

/* n encodes; 0, or -1 after reporting a failure. */
static int run_encode(const bench_case *c, sg_buf *buf, unsigned long n)
{
    sg_error err;
    unsigned long i;
    int rc;

    for (i = 0; i < n; i++) {
        sg_buf_reset(buf);
        rc = sg_envelope_encode(&c->env, buf, &err);
        if (rc != 0) {
            report("encode", rc, &err);
            return -1;
        }
    }
    return 0;
}

/* n decodes and frees; 0, or -1 after reporting a failure. */
static int run_decode(const bench_case *c, const sg_decode_opts *opts,
                      unsigned long n)
{
    sg_envelope *env;
    sg_error err;
    unsigned long i;
    int rc;

    for (i = 0; i < n; i++) {
        rc = sg_envelope_decode_data(c->env.kind, c->encoded.data,
                                     c->encoded.len, opts, &env, &err);
        if (rc != 0) {
            report("decode", rc, &err);
            return -1;
        }
        sg_envelope_free(env);
    }
    return 0;
}

enum op { OP_ENCODE, OP_DECODE };

/* One round of n operations; nanoseconds per operation, or -1. */
static double round_ns(const bench_case *c, enum op op, sg_buf *buf,
                       const sg_decode_opts *opts, unsigned long n)
{
    uint64_t start = bench_now_ns();
    int rc = op == OP_ENCODE ? run_encode(c, buf, n)
                             : run_decode(c, opts, n);
    uint64_t end = bench_now_ns();

    return rc == 0 ? (double)(end - start) / (double)n : -1.0;
}

/* Warm-up, then the median round; -1 on failure. */
static double measure(const bench_case *c, enum op op,
                      const bench_config *cfg, unsigned long iterations)
{
    double rounds[MAX_ROUNDS];
    sg_decode_opts opts;
    sg_buf buf;
    double ns = 0.0;
    unsigned long r;

    sg_decode_opts_init(&opts);
    sg_buf_init(&buf, NULL);
    if (cfg->warmup > 0
        && round_ns(c, op, &buf, &opts, cfg->warmup) < 0) {
        ns = -1.0;
    }
    for (r = 0; ns >= 0 && r < cfg->rounds; r++) {
        rounds[r] = round_ns(c, op, &buf, &opts, iterations);
        if (rounds[r] < 0) {
            ns = -1.0;
        }
    }
    sg_buf_destroy(&buf);
    return ns < 0 ? -1.0 : bench_median(rounds, cfg->rounds);
}

/*
 * Iterations per round such that the slowest operation's rounds take
 * about cfg->seconds in all; 0 on failure.
 */
static unsigned long calibrate(const bench_case *cases, size_t ncases,
                               const bench_config *cfg)
{
    bench_config probe = *cfg;
    double slowest = 0.0;
    double n;
    size_t i;
    int op;

    probe.rounds = 1;
    for (i = 0; i < ncases; i++) {
        for (op = OP_ENCODE; op <= OP_DECODE; op++) {
            double ns = measure(&cases[i], (enum op)op, &probe,
                                CALIBRATION_ITERATIONS);

            if (ns < 0) {
                return 0;
            }
            if (ns > slowest) {
                slowest = ns;
            }
        }
    }
    if (slowest <= 0.0) {
        slowest = 1.0;
    }
    n = cfg->seconds * 1e9 / (double)cfg->rounds / slowest;
    if (n < 1.0) {
        return 1;
    }
    return n > 1e9 ? 1000000000ul : (unsigned long)n;
}

static void usage(FILE *f)
{
    fprintf(f,
        "usage: sg-bench codec [--iterations N | --seconds S] [--warmup N]"
        " [--rounds R]\n"
        "\n"
        "Times encode and decode+validate of a typical inbound envelope\n"
        "and of an outbound message, and prints one JSON line.\n"
        "\n"
        "  --iterations N  operations per round\n"
        "  --seconds S     instead, pick N so that each operation's rounds\n"
        "                  take about S seconds (default %.1f)\n"
        "  --warmup N      untimed operations before each measurement\n"
        "                  (default %d)\n"
        "  --rounds R      rounds per measurement, 1 to %d; the median is\n"
        "                  reported (default %d)\n"
        "  --help          this text\n",
        DEFAULT_SECONDS, DEFAULT_WARMUP, MAX_ROUNDS, DEFAULT_ROUNDS);
}

/* 0, 1 for --help (done), or 2 for a usage error (reported). */
static int parse_args(int argc, char **argv, bench_config *cfg)
{
    static const struct option longopts[] = {
        { "iterations", required_argument, NULL, 'n' },
        { "seconds", required_argument, NULL, 's' },
        { "warmup", required_argument, NULL, 'w' },
        { "rounds", required_argument, NULL, 'r' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int seconds_given = 0;
    int ch;

    cfg->iterations = 0;
    cfg->seconds = DEFAULT_SECONDS;
    cfg->warmup = DEFAULT_WARMUP;
    cfg->rounds = DEFAULT_ROUNDS;

    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        int bad = 0;

        switch (ch) {
        case 'n':
            bad = bench_parse_count("--iterations", optarg, 1, 1000000000ul,
                                    &cfg->iterations);
            break;
        case 's':
            bad = bench_parse_seconds("--seconds", optarg, &cfg->seconds);
            seconds_given = 1;
            break;
        case 'w':
            bad = bench_parse_count("--warmup", optarg, 0, 1000000000ul,
                                    &cfg->warmup);
            break;
        case 'r':
            bad = bench_parse_count("--rounds", optarg, 1, MAX_ROUNDS,
                                    &cfg->rounds);
            break;
        case 'h':
            usage(stdout);
            return 1;
        default:
            bad = -1;
            break;
        }
        if (bad) {
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "sg-bench codec: unexpected argument '%s'\n",
                argv[optind]);
        usage(stderr);
        return 2;
    }
    if (seconds_given && cfg->iterations > 0) {
        fputs("sg-bench codec: --iterations and --seconds exclude each "
              "other\n", stderr);
        usage(stderr);
        return 2;
    }
    return 0;
}

static void print_case(const bench_case *c)
{
    double bytes = (double)c->encoded.len;

    /* bytes per ns * 1000 = MB (10^6 bytes) per second. */
    printf("\"%s\":{\"bytes\":%zu,\"fields\":%lu,\"encode_ns\":%.1f,"
           "\"encode_mb_s\":%.1f,\"decode_ns\":%.1f,\"decode_mb_s\":%.1f}",
           c->name, c->encoded.len, c->fields, c->encode_ns,
           bytes * 1e3 / c->encode_ns, c->decode_ns,
           bytes * 1e3 / c->decode_ns);
}

int bench_codec_main(int argc, char **argv)
{
    bench_case cases[2];
    bench_config cfg;
    unsigned long iterations;
    size_t ncases = sizeof(cases) / sizeof(cases[0]);
    size_t i;
    int rc = 0;

    switch (parse_args(argc, argv, &cfg)) {
    case 0:
        break;
    case 1:
        return 0;
    default:
        return 2;
    }

    memset(cases, 0, sizeof(cases));
    cases[0].name = "inbound";
    typical_inbound(&cases[0].env);
    cases[1].name = "outbound_message";
    outbound_message(&cases[1].env);
    for (i = 0; i < ncases; i++) {
        sg_buf_init(&cases[i].encoded, NULL);
    }

    for (i = 0; rc == 0 && i < ncases; i++) {
        if (prepare(&cases[i]) != 0) {
            rc = 1;
        }
    }
    iterations = cfg.iterations;
    if (rc == 0 && iterations == 0) {
        iterations = calibrate(cases, ncases, &cfg);
        rc = iterations == 0;
    }
    for (i = 0; rc == 0 && i < ncases; i++) {
        cases[i].encode_ns = measure(&cases[i], OP_ENCODE, &cfg, iterations);
        cases[i].decode_ns = measure(&cases[i], OP_DECODE, &cfg, iterations);
        if (cases[i].encode_ns <= 0 || cases[i].decode_ns <= 0) {
            rc = 1;
        }
    }

    if (rc == 0) {
        printf("{\"bench\":\"codec\",");
        for (i = 0; i < ncases; i++) {
            print_case(&cases[i]);
            putchar(',');
        }
        printf("\"iterations\":%lu,\"rounds\":%lu,\"warmup\":%lu,"
               "\"compiler\":\"%s\",\"build_type\":\"%s\"}\n",
               iterations, cfg.rounds, cfg.warmup, bench_compiler(),
               bench_build_type());
        if (fflush(stdout) != 0) {
            rc = 1;
        }
    }
    for (i = 0; i < ncases; i++) {
        sg_buf_destroy(&cases[i].encoded);
    }
    return rc;
}
