/*
 * conform.h: the pieces of sg-conform, the conformance runner.
 *
 * The runner is synchronous on purpose: it plays the other roles of the
 * bus with blocking hiredis and libcurl calls and polls what it observes,
 * so that a case reads top to bottom as a script. Everything it watches
 * (the mock LLM, the mock platform, the streams, the pending list) goes
 * into one history per case, which the oracles in history.c judge.
 *
 * Test support code, not libsg: functions return 0 or -1 with a message in
 * the object they work on.
 */
#ifndef SGC_CONFORM_H
#define SGC_CONFORM_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include <cjson/cJSON.h>

#include "history.h"
#include "sg_redis_fixture.h"

struct redisContext;
struct redisReply;

#define SGC_PATH_MAX 1024
#define SGC_NAME_MAX 256
#define SGC_MAX_INSTANCES 4
#define SGC_MAX_FINDINGS 256

/* ---- verdicts ------------------------------------------------------- */

typedef enum sgc_verdict {
    SGC_PASS,
    SGC_NONSTRICT,      /* a SHOULD missed */
    SGC_FAIL,           /* a MUST missed */
    SGC_INFO,           /* observation only */
    SGC_SKIP,           /* capability not claimed, or role not served */
    SGC_XFAIL,          /* every failure listed in the IUT's xfail */
    SGC_ERROR           /* the case itself broke */
} sgc_verdict;

const char *sgc_verdict_name(sgc_verdict v);

/* ---- requirements (protocol/requirements.tsv, read at run time) ---- */

typedef struct sgc_req {
    char id[24];
    char level[12];     /* MUST, MUST NOT, SHOULD, SHOULD NOT, MAY, ... */
    char area[12];
    char *text;         /* owned */
} sgc_req;

typedef struct sgc_reqs {
    sgc_req *v;
    size_t n;
} sgc_reqs;

int sgc_reqs_load(sgc_reqs *r, const char *path, char *err, size_t errlen);
void sgc_reqs_free(sgc_reqs *r);
const sgc_req *sgc_reqs_find(const sgc_reqs *r, const char *id);
/* 1 for MUST / MUST NOT (a miss is FAIL), 0 otherwise (NON-STRICT). */
int sgc_req_is_must(const sgc_req *q);

/* ---- the implementation under test (JSON file) ---------------------- */

typedef struct sgc_kv {
    char *key;
    char *value;
} sgc_kv;

typedef struct sgc_iut {
    char path[SGC_PATH_MAX];    /* the JSON file */
    char name[SGC_NAME_MAX];
    char role[16];              /* "worker" or "gateway" */
    char **argv;                /* NULL-terminated, placeholders expanded */
    int argc;
    char cwd[SGC_PATH_MAX];
    sgc_kv *env;
    size_t nenv;
    char **caps;
    size_t ncaps;
    char ready_log[256];        /* "" : wait for the consumer instead */
    sgc_kv *xfail;              /* requirement ID -> reason */
    size_t nxfail;
} sgc_iut;

/*
 * Loads an IUT file. In `command` and `cwd`, ${BINDIR} is the folder of
 * sg-conform (or --bin-dir), ${IUTDIR} the folder of the JSON file, and
 * ${NAME} any other environment variable. Relative cwd is taken from the
 * JSON file's folder; default: that folder.
 */
int sgc_iut_load(sgc_iut *iut, const char *path, const char *bindir,
                 char *err, size_t errlen);
void sgc_iut_free(sgc_iut *iut);
int sgc_iut_has_cap(const sgc_iut *iut, const char *cap);
const char *sgc_iut_xfail(const sgc_iut *iut, const char *req);

/* ---- options ---------------------------------------------------------- */

typedef struct sgc_opts {
    const char *out_dir;        /* reports and per-case artefacts */
    const char *bin_dir;        /* mocks and ${BINDIR} */
    const char *reqs_path;      /* protocol/requirements.tsv */
    double time_scale;          /* multiplies every knob and wait */
    int case_timeout_s;         /* per case, scaled */
    unsigned long seed;
    int repeat;
    int verbose;
    int keep_all;               /* keep artefacts of passing cases too */
    int tty;                    /* progress line on stderr */
} sgc_opts;

/* ---- processes -------------------------------------------------------- */

typedef struct sgc_proc {
    pid_t pid;                  /* 0: not running */
    int exited;
    int status;                 /* waitpid status once exited */
    char log[SGC_PATH_MAX];     /* stdout + stderr */
    char instance_id[96];
    int stopped;                /* SIGSTOP sent, no SIGCONT yet */
    int intended;               /* the case stopped or killed it */
} sgc_proc;

/*
 * Starts argv with the current environment plus env (NULL-terminated
 * "K=V" strings), stdout and stderr appended to p->log, in its own
 * process group. 0 or -1.
 */
int sgc_proc_start(sgc_proc *p, char *const argv[], const char *cwd,
                   char *const env[]);
/* Reaps without waiting; 1 if it has exited (status set), else 0. */
int sgc_proc_poll(sgc_proc *p);
/* Sends a signal to the process group; no-op once exited. */
void sgc_proc_signal(sgc_proc *p, int sig);
/* Waits up to ms for exit; 1 exited, 0 still running. */
int sgc_proc_wait(sgc_proc *p, int ms);
/* SIGTERM, wait up to ms, then SIGKILL; always reaps. */
void sgc_proc_stop(sgc_proc *p, int ms);
/* 1 when the log holds needle. */
int sgc_file_contains(const char *path, const char *needle);

/* ---- a mock (sg-mock-llm or sg-mock-platform) ------------------------ */

typedef struct sgc_mock {
    sgc_proc proc;
    int port;
    char base[96];              /* http://127.0.0.1:<port> */
} sgc_mock;

/* ---- HTTP (libcurl, blocking) ----------------------------------------- */

typedef struct sgc_http_resp {
    long status;                /* 0: transport failure */
    char *body;                 /* NUL-terminated, owned; may be NULL */
    size_t len;
    char err[256];
} sgc_http_resp;

int sgc_http(const char *method, const char *url, const char *body,
             int timeout_ms, sgc_http_resp *resp);
void sgc_http_resp_free(sgc_http_resp *resp);
/* GET/POST returning parsed JSON (caller deletes), NULL on failure. */
cJSON *sgc_http_json(const char *method, const char *url, const char *body,
                     int timeout_ms, long *status);

/* ---- a case's context -------------------------------------------------- */

typedef struct sgc_case sgc_case;

typedef struct sgc_finding {
    char req[24];
    int ok;
    int must;               /* from requirements.tsv */
    int info;               /* observation, not graded */
    char expected[512];
    char actual[1024];
} sgc_finding;

typedef struct sgc_names {
    char ns[128];
    char inbound[SGC_NAME_MAX];
    char outbound_prefix[SGC_NAME_MAX];
    char outbound[SGC_NAME_MAX];        /* of platform "http" */
    char worker_group[SGC_NAME_MAX];
    char gateway_group_prefix[SGC_NAME_MAX];
    char gateway_group[SGC_NAME_MAX];   /* of platform "http" */
    char tools_stream[SGC_NAME_MAX];
    char tools_group[SGC_NAME_MAX];
    char tools_reply_prefix[SGC_NAME_MAX];
    char dlq[SGC_NAME_MAX];
    char leader_key[SGC_NAME_MAX];
    char status_key[SGC_NAME_MAX];
    char lock_prefix[SGC_NAME_MAX];
    char olock_prefix[SGC_NAME_MAX];
    char claim_prefix[SGC_NAME_MAX];
    char attempts[SGC_NAME_MAX];
    char oattempts[SGC_NAME_MAX];
    char config_channel[SGC_NAME_MAX];
    char rpc_prefix[SGC_NAME_MAX];
    char order_prefix[SGC_NAME_MAX];
    char wake_prefix[SGC_NAME_MAX];
} sgc_names;

/* Knobs handed to the IUT, already scaled. */
typedef struct sgc_knobs {
    int block_ms, read_count, max_in_flight, lock_ttl_ms, olock_ttl_ms;
    int lock_wait_ms, autoclaim_interval_ms, autoclaim_min_idle_ms;
    int autoclaim_count, max_deliveries, max_claims, max_requeues;
    int oclaim_ttl_ms, drain_ms, rpc_timeout_ms, llm_timeout_ms;
} sgc_knobs;

typedef struct sgc_ctx {
    const sgc_case *def;
    const sgc_iut *iut;
    const sgc_opts *opts;
    const sgc_reqs *reqs;
    int serial;                 /* n in the namespace */
    int rep;
    char dir[SGC_PATH_MAX];     /* artefacts of this case */
    sgc_names n;
    sgc_knobs k;
    double scale;
    int persistence;

    sgt_redis redis;
    int redis_up;
    struct redisContext *rc;
    sgc_proc monitor;
    char runner_addr[8][64];    /* the runner's own connections, whose
                                   commands the MONITOR checks skip */
    int nrunner_addr;
    char monitor_log[SGC_PATH_MAX];

    sgc_mock llm;
    sgc_mock platform;
    char http_listen[64];       /* gateway: 127.0.0.1:<port> */

    sgc_proc inst[SGC_MAX_INSTANCES];
    int ninst;
    int next_instance;
    char extra_env[16][256];    /* case-specific K=V for the IUT */
    int nextra_env;

    sgc_history hist;
    int effect_ms;              /* least duration of one execution (the
                                   mock's latency), for the overlap check */
    cJSON *llm_reqs;            /* every LLM request seen (array) */
    cJSON *calls;               /* every platform call seen (array) */
    cJSON *outs;                /* every outbound entry seen (array of
                                   {id, type, channel_id, text, ...}) */
    long long llm_next, platform_next;
    int max_owner_pending;      /* most entries one consumer held, not
                                   counting those in its hand list */
    int max_hand_over;          /* longest hand list past its bound (0:
                                   none) */
    int rpc_seen;               /* RPCs the runner saw as gateway */
    const char *rpc_reply;      /* JSON it answers with (default []) */
    const char *rpc_plan[8];    /* per call: reply text; "" no reply;
                                   NULL the default */
    char rpc_keys[8][SGC_NAME_MAX];     /* reply keys of the first calls */
    int dlq_fields_seen;        /* ordinary entries with a dlq_ field */
    char out_last[64], dlq_last[64], in_last[64];

    sgc_finding findings[SGC_MAX_FINDINGS];
    int nfindings;
    int errored;
    char error[1024];
    int skipped;
    char skip_reason[256];
    long long started_ms;
    long long deadline_ms;
    unsigned long long rng;     /* from --seed and the case */
} sgc_ctx;

typedef int sgc_case_fn(sgc_ctx *c);

struct sgc_case {
    const char *id;             /* e.g. worker.inbound.happy */
    const char *title;
    const char *role;           /* worker | gateway */
    const char *reqs;           /* space-separated IDs the case checks */
    const char *caps;           /* capabilities needed, space-separated */
    int instances;              /* IUT instances started before run */
    int persistence;            /* Redis with AOF */
    int latency_ms;             /* the mock's --latency-ms */
    sgc_case_fn *run;
};

/* Registry. */
const sgc_case *sgc_cases(size_t *n);
extern const sgc_case sgc_worker_cases[];
extern const size_t sgc_worker_ncases;
extern const sgc_case sgc_gateway_cases[];
extern const size_t sgc_gateway_ncases;

/* ---- case helpers (ctx.c) ---------------------------------------------- */

long long sgc_now_ms(void);
void sgc_sleep_ms(int ms);
/* A random number from the case's generator (seeded by --seed and the
 * case ID, so that a seed replays the same choices). */
unsigned long sgc_rand(sgc_ctx *c);
/* ms scaled by the time scale. */
int sgc_ms(const sgc_ctx *c, int ms);

/* Set up / tear down everything but the IUT. */
int sgc_ctx_setup(sgc_ctx *c);
void sgc_ctx_teardown(sgc_ctx *c);

/* Adds "K=V" to the IUT environment before instances start. */
void sgc_env(sgc_ctx *c, const char *fmt, ...);

/* Starts one IUT instance and waits until it is ready. Index or -1. */
int sgc_start_instance(sgc_ctx *c);
/* Starts count instances, failing the case (ERROR) if one does not come. */
int sgc_start_instances(sgc_ctx *c, int count);
/* Index of the instance whose consumer name is `consumer`, or -1. */
int sgc_instance_of(sgc_ctx *c, const char *consumer);
/* 1 if every started instance that was not killed on purpose runs. */
int sgc_instances_alive(sgc_ctx *c, int *dead_index);

/* Marks the case broken (ERROR), with a message. Returns -1. */
int sgc_error(sgc_ctx *c, const char *fmt, ...);
/* Marks the case SKIP. Returns 0. */
int sgc_skip(sgc_ctx *c, const char *fmt, ...);

/*
 * Records a finding against requirement `req`: ok or not, the expected
 * outcome(s) and what was observed. A failed MUST makes the case FAIL, a
 * failed SHOULD NON-STRICT. Returns ok.
 */
int sgc_check(sgc_ctx *c, const char *req, int ok, const char *expected,
              const char *actual_fmt, ...);
/* An observation that is reported but not graded. */
void sgc_info(sgc_ctx *c, const char *req, const char *fmt, ...);

/* Redis: a command through the case's blocking connection. */
struct redisReply *sgc_cmd(sgc_ctx *c, const char *fmt, ...);
struct redisReply *sgc_cmdargv(sgc_ctx *c, int argc, const char **argv,
                               const size_t *lens);
/* The integer reply of a command, or `none` for any other reply or none. */
long long sgc_int(sgc_ctx *c, long long none, const char *fmt, ...);
/* Restarts Redis (keeping data when the case has persistence). */
int sgc_redis_restart(sgc_ctx *c);

/* ---- the bus as the runner plays it (bus.c) ------------------------------ */

/* An inbound message the runner publishes as a gateway would. */
typedef struct sgc_msg {
    const char *channel;
    const char *token;          /* unique; put into the content */
    int addressed;              /* is_addressed */
    const char *platform;       /* NULL: "http" */
    int expect_given;           /* else: ONCE if addressed, else ANY */
    int expect;                 /* SGC_EXPECT_* */
} sgc_msg;

/*
 * Publishes an inbound envelope built with libsg's encoder; the content is
 * "ch=<channel> tok=<token>". The entry ID goes to id (64 bytes) and a
 * PUBLISH event to the history. 0 or -1.
 */
int sgc_publish_inbound(sgc_ctx *c, const sgc_msg *m, char *id);
/*
 * Publishes many inbound entries in one pipeline. ids may be NULL.
 */
int sgc_publish_inbound_many(sgc_ctx *c, const sgc_msg *m, size_t n);

/* Outbound envelope for gateway cases. */
typedef struct sgc_out {
    const char *type;           /* NULL: no type field (message) */
    const char *channel;        /* NULL: no channel_id */
    const char *token;          /* text "tok=<token>" */
    const char *message_key;    /* NULL: none; "" : ns + "msg:" + token */
    const char *reply_to;
    const char *emoji;
    const char *message_id;
    int expect_given;           /* else: ONCE when it has a token */
    int expect;
} sgc_out;
int sgc_publish_outbound(sgc_ctx *c, const sgc_out *o, char *id);

/* XADD of raw fields on a stream (names and values binary-safe). */
int sgc_xadd_raw(sgc_ctx *c, const char *stream, size_t nfields,
                 const char **names, const char **values,
                 const size_t *value_lens, char *id);

/* Tiny msgpack writer for hand-made (often broken) envelopes. */
typedef struct sgc_mp {
    unsigned char *buf;
    size_t len, cap;
} sgc_mp;
void sgc_mp_map(sgc_mp *m, unsigned n);
void sgc_mp_array(sgc_mp *m, unsigned n);
void sgc_mp_str(sgc_mp *m, const char *s);
void sgc_mp_strn(sgc_mp *m, const char *s, size_t n);
void sgc_mp_int(sgc_mp *m, long long v);
void sgc_mp_bool(sgc_mp *m, int v);
void sgc_mp_raw(sgc_mp *m, const void *p, size_t n);
void sgc_mp_free(sgc_mp *m);

/*
 * Polls everything observable once and appends it to the history: new
 * mock LLM requests and platform calls, new outbound / inbound / DLQ
 * entries, and the pending list (acks, owners, delivery counts).
 */
int sgc_observe(sgc_ctx *c);

/*
 * Polls until pred returns nonzero or ms pass (scaled). Returns 1 when
 * pred held, 0 on timeout. Also ends early (0) if an instance died that
 * was not stopped on purpose, when stop_on_death.
 */
typedef int sgc_pred(sgc_ctx *c, void *ud);
int sgc_wait(sgc_ctx *c, int ms, sgc_pred *pred, void *ud);
/* Polls for ms (scaled), observing. */
void sgc_settle(sgc_ctx *c, int ms);

/* Pending count of a group (XPENDING summary), -1 on error. */
long long sgc_pending(sgc_ctx *c, const char *stream, const char *group);
/* Number of keys matching prefix + "*". */
long long sgc_count_keys(sgc_ctx *c, const char *prefix);

/*
 * The Redis end-state oracle: waits (up to settle ms) for the group's
 * pending list to empty, then checks: no pending entries (req_pending),
 * no lock keys under lock_prefix (SG-LOCK-007), no fields left in the
 * claim-attempt hash (SG-CLAIM-009); for gateways, every claim key
 * belongs to a completed send or to a send_state_unknown dead letter.
 */
typedef struct sgc_endstate {
    const char *stream;
    const char *group;
    const char *lock_prefix;
    const char *attempts;
    const char *claim_prefix;   /* NULL for workers */
    const char *req_pending;    /* requirement a leftover entry breaks */
    int settle_ms;
} sgc_endstate;
void sgc_check_endstate(sgc_ctx *c, const sgc_endstate *e);

/* Dead letters read from the DLQ stream (fields as strings). */
typedef struct sgc_dlq_entry {
    char id[64];
    cJSON *fields;              /* object name -> string (binary as \u) */
} sgc_dlq_entry;

/*
 * Checks the DLQ holds exactly the expected dead letters: for each origin
 * entry ID, the reason (and path when non-NULL), every dlq_ field, and
 * the original fields byte for byte (orig_fields: alternating names and
 * values, NULL-terminated; NULL: not compared).
 */
typedef struct sgc_dlq_expect {
    const char *origin_id;
    const char *reason;
    const char *path;
    const char *req;            /* requirement of this rejection */
    const char *label;
} sgc_dlq_expect;
void sgc_check_dlq(sgc_ctx *c, const char *origin_stream,
                   const char *origin_group, const sgc_dlq_expect *e,
                   size_t n, int exact);

/* ---- the MONITOR log (monitor.c) ------------------------------------------ */

typedef struct sgc_mon_cmd {
    long long t_ms;
    int lua;                    /* run by a script */
    char client[64];
    int argc;
    char **argv;                /* unescaped, NUL-terminated */
    size_t *lens;
} sgc_mon_cmd;

/* Calls fn for every command of the case's MONITOR log but the runner's
 * own (those of its connections); fn returns 0 to
 * go on, nonzero to stop. Returns the number of commands seen. */
typedef int sgc_mon_fn(const sgc_mon_cmd *cmd, void *ud);
long sgc_monitor_each(sgc_ctx *c, sgc_mon_fn *fn, void *ud);
/* 1 when argv[i] equals s, case-insensitively. */
int sgc_mon_is(const sgc_mon_cmd *cmd, int i, const char *s);

/* ---- mocks (mocks.c) ------------------------------------------------------ */

int sgc_mock_start(sgc_ctx *c, sgc_mock *m, const char *prog,
                   const char *tag);
void sgc_mock_stop(sgc_mock *m);
/* PUT /_mock/script with the given JSON text. */
int sgc_llm_script(sgc_ctx *c, const char *json);
int sgc_llm_release(sgc_ctx *c);
int sgc_platform_fail(sgc_ctx *c, const char *json);
int sgc_platform_clear_fail(sgc_ctx *c);
int sgc_platform_release(sgc_ctx *c);

/* ---- reports (report.c) --------------------------------------------------- */

typedef struct sgc_result {
    char case_id[128];
    char title[256];
    char iut[SGC_NAME_MAX];
    char role[16];
    int rep;
    sgc_verdict verdict;
    double seconds;
    char reason[1024];
    char dir[SGC_PATH_MAX];
    char reqs[512];
    sgc_finding *findings;      /* owned copy */
    int nfindings;
} sgc_result;

typedef struct sgc_report {
    sgc_result *v;
    size_t n, cap;
} sgc_report;

void sgc_report_add(sgc_report *r, const sgc_result *res);
void sgc_report_free(sgc_report *r);
void sgc_print_result(const sgc_result *res, const sgc_reqs *reqs, int tty);
int sgc_write_jsonl(const sgc_report *r, const char *path);
int sgc_write_junit(const sgc_report *r, const char *path);
int sgc_write_html(const sgc_report *r, const sgc_reqs *reqs,
                   const char *path);
/* Prints the coverage of the areas the runner grades. */
void sgc_print_coverage(const sgc_reqs *reqs, FILE *out);

/*
 * The verdict of a case from its findings: SKIP or ERROR when the case
 * says so, else FAIL for a missed MUST not listed in the IUT's xfail,
 * NON-STRICT for a missed SHOULD, XFAIL when every miss is listed, INFO
 * when nothing was graded, PASS otherwise.
 */
sgc_verdict sgc_verdict_of(const sgc_finding *f, int n, const sgc_iut *iut,
                           int errored, int skipped);

/* Runs one case against one IUT; fills res. */
void sgc_run_case(const sgc_case *def, const sgc_iut *iut,
                  const sgc_opts *opts, const sgc_reqs *reqs, int serial,
                  int rep, sgc_result *res);

#endif /* SGC_CONFORM_H */
