/*
 * sgctl.h: what the subcommands of sgctl share: the context (connection
 * options, topology, output streams), exit codes, option parsing of the
 * common options, Redis helpers and JSON rendering of entries.
 *
 * sgctl_main() is the whole program with its output streams passed in, so
 * that the tests run every subcommand in-process (and under memcheck).
 */
#ifndef SGCTL_H
#define SGCTL_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cjson/cJSON.h>
#include <hiredis/hiredis.h>

#include "sg/codec.h"
#include "sg/config.h"

#define SGCTL_VERSION "0.1.0"

/* Exit codes (README.md, "Exit codes"). */
enum {
    SGCTL_EXIT_OK = 0,
    SGCTL_EXIT_FAIL = 1,        /* a runtime failure, or nothing found */
    SGCTL_EXIT_USAGE = 2,       /* bad arguments or configuration */
    SGCTL_EXIT_UNREACHABLE = 3, /* Redis cannot be reached */
    SGCTL_EXIT_DATA = 4         /* input rejected: an envelope, a capture */
};

/* Long-option values of the common options (beyond any char). */
enum {
    SGCTL_OPT_JSON = 1000,
    SGCTL_OPT_NAMESPACE,
    SGCTL_OPT_USER,
    SGCTL_OPT_HELP,
    SGCTL_OPT_FIRST_FREE = 1100
};

/* The common options, to put before the terminator of a command's table. */
#define SGCTL_COMMON_LONGOPTS                                              \
    {"url", required_argument, NULL, 'u'},                                  \
    {"host", required_argument, NULL, 'h'},                                 \
    {"port", required_argument, NULL, 'p'},                                 \
    {"pass", required_argument, NULL, 'a'},                                 \
    {"user", required_argument, NULL, SGCTL_OPT_USER},                      \
    {"db", required_argument, NULL, 'n'},                                   \
    {"json", no_argument, NULL, SGCTL_OPT_JSON},                            \
    {"namespace", required_argument, NULL, SGCTL_OPT_NAMESPACE},            \
    {"help", no_argument, NULL, SGCTL_OPT_HELP}
#define SGCTL_COMMON_SHORTOPTS "u:h:p:a:n:"

#define SGCTL_COMMON_HELP                                                   \
    "Connection and output (all subcommands):\n"                           \
    "  -u, --url URL        redis://[[user]:pass@]host[:port][/db]\n"      \
    "                       (default $REDIS_URL, else\n"                   \
    "                       redis://127.0.0.1:6379/0)\n"                   \
    "  -h, --host HOST      server host (overrides the URL's)\n"           \
    "  -p, --port PORT      server port\n"                                 \
    "  -a, --pass PASS      password; --user USER for ACL users\n"        \
    "  -n, --db N           database number\n"                             \
    "      --namespace NS   put NS in front of every key name of the\n"   \
    "                       topology (streams, locks, leases)\n"           \
    "      --json           machine-readable output (JSON)\n"              \
    "      --help           this text\n"                                   \
    "Names come from the SG_* variables of SPEC section 2.\n"

typedef struct sgctl {
    FILE *out;
    FILE *err;
    char host[256];
    int port;
    int db;
    char user[128];
    char pass[256];
    char ns[SG_NAME_MAX + 1];
    int json;
    int help;
    sg_topology topo;
    long long stream_maxlen;
    redisContext *rc;
} sgctl;

/* Set by SIGINT/SIGTERM while a command runs; commands stop cleanly. */
extern volatile sig_atomic_t sgctl_stop;

int sgctl_main(int argc, char **argv, FILE *out, FILE *err);

/* Subcommands: argv[0] is the subcommand's name. */
int sgctl_cmd_info(sgctl *c, int argc, char **argv);
int sgctl_cmd_publish(sgctl *c, int argc, char **argv);
int sgctl_cmd_tail(sgctl *c, int argc, char **argv);
int sgctl_cmd_capture(sgctl *c, int argc, char **argv);
int sgctl_cmd_replay(sgctl *c, int argc, char **argv);
int sgctl_cmd_dlq(sgctl *c, int argc, char **argv);

/* ---- common.c ----------------------------------------------------------- */

/* Prints "sgctl <cmd>: <message>\n" to c->err. */
void sgctl_errorf(sgctl *c, const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Defaults from REDIS_URL and the SG_* variables. SGCTL_EXIT_* code. */
int sgctl_init(sgctl *c, FILE *out, FILE *err);

/*
 * Handles one common option: 1 handled, 0 not a common option, or -1 after
 * printing a usage error.
 */
int sgctl_common_opt(sgctl *c, const char *cmd, int opt, const char *arg);

/*
 * Applies --namespace to the topology; call once after parsing. 0, or
 * SGCTL_EXIT_USAGE (printed) when a name would exceed SG_NAME_MAX.
 */
int sgctl_apply_namespace(sgctl *c, const char *cmd);

/* Reports an unknown option of getopt_long; returns SGCTL_EXIT_USAGE. */
int sgctl_bad_option(sgctl *c, const char *cmd, char **argv);

/* Resets getopt for a new parse. */
void sgctl_getopt_reset(void);

/* Parses a redis:// URL into c. 0 or -1 with a message. */
int sgctl_parse_url(sgctl *c, const char *url, char *msg, size_t cap);

/* Connects (AUTH, SELECT). 0 or SGCTL_EXIT_UNREACHABLE with a message. */
int sgctl_connect(sgctl *c, const char *cmd);
void sgctl_disconnect(sgctl *c);

/* "redis://host:port/db" without credentials. */
void sgctl_source_url(const sgctl *c, char *out, size_t cap);

/* A reply, or NULL (error printed) when the connection failed. */
redisReply *sgctl_cmd(sgctl *c, const char *cmd, const char *fmt, ...);

/* Parses a positive or zero decimal; -1 when not one. */
long long sgctl_parse_count(const char *s);

/* The milliseconds part of an entry ID; 0 when it is not one. */
long long sgctl_id_ms(const char *id);

/* Wall clock in Unix ms, and a monotonic ms clock. */
int64_t sgctl_now_ms(void);
int64_t sgctl_mono_ms(void);
void sgctl_sleep_ms(int64_t ms);

/* Installs SIGINT/SIGTERM handlers setting sgctl_stop; restores them. */
void sgctl_signals_on(void);
void sgctl_signals_off(void);

/* A growable list of NUL-terminated strings. */
typedef struct sgctl_strv {
    char **v;
    size_t n;
    size_t cap;
} sgctl_strv;

int sgctl_strv_push(sgctl_strv *l, const char *s, size_t len);
int sgctl_strv_has(const sgctl_strv *l, const char *s);
void sgctl_strv_free(sgctl_strv *l);

/*
 * The bus's streams that exist: inbound, every outbound stream (SCAN of
 * the prefix), tools, every tools reply stream, and with dlq the
 * dead-letter stream. 0 or an exit code (error printed).
 */
int sgctl_bus_streams(sgctl *c, const char *cmd, int dlq, sgctl_strv *out);

/* SCAN for keys matching "<prefix>:*" (of type, or any when NULL). */
int sgctl_scan_prefix(sgctl *c, const char *cmd, const char *prefix,
                      const char *type, size_t max, sgctl_strv *out);

/* Which table a stream's entries follow. */
enum { SGCTL_STREAM_UNKNOWN = -2, SGCTL_STREAM_DLQ = -1 };
/* An sg_kind, SGCTL_STREAM_DLQ or SGCTL_STREAM_UNKNOWN. */
int sgctl_stream_kind(const sgctl *c, const char *stream, size_t len);

/* Arguments of a binary-safe command (redisCommandArgv). */
typedef struct sgctl_args {
    const char **v;
    size_t *len;
    int n;
    int cap;
} sgctl_args;

int sgctl_args_push(sgctl_args *a, const void *s, size_t len);
int sgctl_args_str(sgctl_args *a, const char *s);
void sgctl_args_free(sgctl_args *a);

/*
 * The JSON of a field value: a string when it is UTF-8 without NUL, else
 * {"$b64": "<base64>"}. NULL when out of memory.
 */
cJSON *sgctl_json_bytes(const void *p, size_t len);

/* The fields of an entry reply ([name, value, ...]) into an sg_entry. */
int sgctl_entry_from_reply(const redisReply *fields, sg_entry_field *buf,
                           size_t cap, sg_entry *out);

/*
 * An entry rendered as JSON: {"stream","id","kind", "ts", "trace_id",
 * "envelope" or "error", "fields" (every field but data/ts/trace_id)}.
 * Decoded with the table of the stream's kind. NULL when out of memory.
 * *decoded (may be NULL) gets the envelope for filters; free it with
 * sg_envelope_free().
 */
cJSON *sgctl_entry_json(const sgctl *c, const char *stream, const char *id,
                        const sg_entry *e, int kind, sg_envelope **decoded);

/* Prints a JSON value as one line to c->out, then frees it. */
void sgctl_print_json(sgctl *c, cJSON *j);

/* Prints text of a string field, escaped for a terminal (max bytes). */
void sgctl_print_text(FILE *f, const char *p, size_t len, size_t max);

#endif /* SGCTL_H */
