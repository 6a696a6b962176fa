/*
 * sgctl against a real redis-server: publish, info, tail, capture and
 * replay, each subcommand run in-process through sgctl_main(). Every test
 * names the SPEC IDs it checks.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "sgctl_test.h"

#include "sg/codec.h"

#define INBOUND "sg:stream:inbound"
#define OUT_DISCORD "sg:stream:outbound:discord"

static const char msg_c1[] =
    "{\"platform\":\"discord\",\"channel_id\":\"c1\",\"username\":\"al\","
    "\"content\":\"hello\"}";
static const char msg_c2[] =
    "{\"platform\":\"matrix\",\"channel_id\":\"c2\",\"content\":\"hi\"}";

static void publish_ok(sgt_world *w, const char *json, const char *kind,
                       const char *platform)
{
    sgt_run r = kind == NULL
        ? sgt_sgctl(w, "publish", json, NULL)
        : sgt_sgctl(w, "publish", "--kind", kind, "--platform", platform,
                    json, NULL);

    assert_int_equal(r.rc, 0);
    sgt_run_free(&r);
}

/* --help on every subcommand; usage errors exit 2; no Redis exits 3. */
static void test_help_and_exit_codes(void **state)
{
    static const char *const cmds[] = {"info", "publish", "tail", "capture",
                                       "replay", "dlq"};
    sgt_world *w = *state;
    char head[64];
    sgt_run r;
    size_t i;

    for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        r = sgt_sgctl(w, cmds[i], "--help", NULL);
        assert_int_equal(r.rc, SGCTL_EXIT_OK);
        snprintf(head, sizeof head, "Usage: sgctl %s", cmds[i]);
        assert_non_null(strstr(r.out, head));
        sgt_run_free(&r);
    }
    r = sgt_sgctl(w, "--help", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "Exit codes"));
    sgt_run_free(&r);
    r = sgt_sgctl(w, "tail", "--no-such-option", NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_USAGE);
    assert_non_null(strstr(r.err, "--no-such-option"));
    sgt_run_free(&r);
    r = sgt_sgctl(w, "frobnicate", NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_USAGE);
    sgt_run_free(&r);
    r = sgt_sgctl(w, "info", "-p", "1", NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_UNREACHABLE);
    assert_non_null(strstr(r.err, "unreachable"));
    sgt_run_free(&r);
}

/*
 * SG-FRAME-001, SG-FRAME-002, SG-FRAME-012, SG-TRACE-001: a valid envelope
 * is published in `data` with `ts` and `trace_id`, the same trace id in
 * the envelope; it decodes back to what was given.
 */
static void test_publish_valid_inbound(void **state)
{
    sgt_world *w = *state;
    sg_entry_field f[8];
    sg_envelope *env = NULL;
    sg_entry e;
    redisReply *x;
    cJSON *j;
    sgt_run r;

    r = sgt_sgctl(w, "publish", "--json", "--trace-id", "feedbeef", msg_c1,
                  NULL);
    assert_int_equal(r.rc, 0);
    j = sgt_json_line(r.out, 0);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "stream")->valuestring,
                        INBOUND);
    cJSON_Delete(j);
    sgt_run_free(&r);

    x = sgt_cmd(w, "XRANGE %s - +", INBOUND);
    assert_int_equal(x->elements, 1);
    assert_int_equal(sgctl_entry_from_reply(x->element[0]->element[1], f, 8,
                                            &e), 0);
    assert_int_equal(e.nfields, 3);
    assert_memory_equal(e.fields[0].name.ptr, "data", 4);
    assert_memory_equal(e.fields[1].name.ptr, "ts", 2);
    assert_memory_equal(e.fields[2].name.ptr, "trace_id", 8);
    assert_int_equal(sg_envelope_decode(SG_KIND_INBOUND, &e, NULL, &env,
                                        NULL), 0);
    assert_int_equal(env->u.in.content.len, 5);
    assert_memory_equal(env->u.in.content.ptr, "hello", 5);
    assert_int_equal(env->u.in.trace_id.len, 8);
    assert_memory_equal(env->u.in.trace_id.ptr, "feedbeef", 8);
    assert_memory_equal(env->entry_trace_id.ptr, "feedbeef", 8);
    sg_envelope_free(env);
    freeReplyObject(x);
}

/*
 * SG-FRAME-012, SG-ENV-001: an invalid envelope is refused with exit 4, an
 * error naming the reason and the field path, and nothing is published.
 */
static void test_publish_invalid_names_field(void **state)
{
    sgt_world *w = *state;
    cJSON *j;
    sgt_run r;

    r = sgt_sgctl(w, "publish", "{\"platform\":\"discord\"}", NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_DATA);
    assert_non_null(strstr(r.err, "data.channel_id"));
    assert_non_null(strstr(r.err, "missing_field"));
    sgt_run_free(&r);

    r = sgt_sgctl(w, "publish", "--json",
                  "{\"platform\":\"d\",\"channel_id\":\"c\","
                  "\"member_count\":-1}", NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_DATA);
    j = sgt_json_line(r.out, 0);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "path")->valuestring,
                        "data.member_count");
    assert_string_equal(cJSON_GetObjectItem(j, "reason")->valuestring,
                        "out_of_range");
    cJSON_Delete(j);
    sgt_run_free(&r);

    r = sgt_sgctl(w, "publish", "not json", NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_DATA);
    assert_non_null(strstr(r.err, "invalid_json"));
    sgt_run_free(&r);
    assert_int_equal(sgt_int(w, "XLEN %s", INBOUND), 0);
}

/* SG-TOPO-002, SG-OUTENV-001: outbound goes to {prefix}:{platform}. */
static void test_publish_outbound_to_platform_stream(void **state)
{
    sgt_world *w = *state;
    sgt_run r;

    publish_ok(w, "{\"type\":\"typing\",\"channel_id\":\"c1\"}", "outbound",
               "discord");
    assert_int_equal(sgt_int(w, "XLEN %s", OUT_DISCORD), 1);
    r = sgt_sgctl(w, "publish", "--kind", "outbound",
                  "{\"type\":\"message\",\"channel_id\":\"c1\"}", NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_USAGE);
    assert_non_null(strstr(r.err, "--platform"));
    sgt_run_free(&r);
    r = sgt_sgctl(w, "publish", "--kind", "outbound", "--platform", "discord",
                  "{\"type\":\"bogus\",\"channel_id\":\"c1\"}", NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_DATA);
    assert_non_null(strstr(r.err, "unknown_type"));
    sgt_run_free(&r);
}

static const cJSON *find_named(const cJSON *arr, const char *name)
{
    const cJSON *it;

    cJSON_ArrayForEach(it, arr) {
        const cJSON *n = cJSON_GetObjectItem(it, "name");
        if (n == NULL)
            n = cJSON_GetObjectItem(it, "key");
        if (cJSON_IsString(n) && strcmp(n->valuestring, name) == 0)
            return it;
    }
    return NULL;
}

/*
 * info: streams, groups, consumers, pending, lag, oldest pending,
 * dead-letter depth per origin (SG-DLQ-001 fields), lock and lease
 * holders (SG-LOCK-006, SG-LEASE-001, SG-LEASE-003).
 */
static void test_info_reports_the_bus(void **state)
{
    sgt_world *w = *state;
    const cJSON *s, *g, *p, *k;
    cJSON *j;
    sgt_run r;

    freeReplyObject(sgt_cmd(w, "XGROUP CREATE %s sg:workers $ MKSTREAM",
                            INBOUND));
    publish_ok(w, msg_c1, NULL, NULL);
    publish_ok(w, msg_c1, NULL, NULL);
    publish_ok(w, msg_c2, NULL, NULL);
    freeReplyObject(sgt_cmd(w, "XREADGROUP GROUP sg:workers worker-1 "
                               "COUNT 2 STREAMS %s >", INBOUND));
    freeReplyObject(sgt_cmd(w, "XADD sg:stream:dlq * data x "
                               "dlq_origin_stream %s dlq_reason "
                               "handler_error", INBOUND));
    freeReplyObject(sgt_cmd(w, "SET sg:lock:channel:c1 tok1 PX 60000"));
    freeReplyObject(sgt_cmd(w, "SET sg:leader:supervisor node-7 EX 30"));

    r = sgt_sgctl(w, "info", "--json", NULL);
    assert_int_equal(r.rc, 0);
    j = sgt_json_line(r.out, 0);
    assert_non_null(j);
    s = find_named(cJSON_GetObjectItem(j, "streams"), INBOUND);
    assert_non_null(s);
    assert_int_equal(cJSON_GetObjectItem(s, "length")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(s, "dead_letters")->valueint, 1);
    g = find_named(cJSON_GetObjectItem(s, "groups"), "sg:workers");
    assert_non_null(g);
    assert_int_equal(cJSON_GetObjectItem(g, "pending")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(g, "lag")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(g, "consumers")->valueint, 1);
    p = cJSON_GetObjectItem(g, "oldest_pending");
    assert_true(cJSON_IsObject(p));
    assert_string_equal(cJSON_GetObjectItem(p, "consumer")->valuestring,
                        "worker-1");
    assert_true(cJSON_GetObjectItem(p, "age_ms")->valuedouble >= 0);
    k = find_named(cJSON_GetObjectItem(g, "consumer_list"), "worker-1");
    assert_non_null(k);
    assert_int_equal(cJSON_GetObjectItem(k, "pending")->valueint, 2);
    k = cJSON_GetObjectItem(j, "dlq");
    assert_int_equal(cJSON_GetObjectItem(k, "depth")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(k, "by_reason"),
                                         "handler_error")->valueint, 1);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(k, "counts_complete")));
    k = find_named(cJSON_GetObjectItem(j, "locks"), "sg:lock:channel:c1");
    assert_non_null(k);
    assert_string_equal(cJSON_GetObjectItem(k, "holder")->valuestring,
                        "tok1");
    k = find_named(cJSON_GetObjectItem(j, "leases"), "sg:leader:supervisor");
    assert_string_equal(cJSON_GetObjectItem(k, "holder")->valuestring,
                        "node-7");
    cJSON_Delete(j);
    sgt_run_free(&r);

    /* Not counting dead letters still names the oldest. */
    r = sgt_sgctl(w, "info", "--json", "--dlq-scan", "0", NULL);
    assert_int_equal(r.rc, 0);
    j = sgt_json_line(r.out, 0);
    k = cJSON_GetObjectItem(j, "dlq");
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(k, "counts_complete")));
    assert_true(cJSON_IsString(cJSON_GetObjectItem(k, "oldest_id")));
    cJSON_Delete(j);
    sgt_run_free(&r);

    /* The readable view says the same. */
    r = sgt_sgctl(w, "info", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "group sg:workers  consumers 1  "
                                  "pending 2  lag 1"));
    assert_non_null(strstr(r.out, "oldest pending"));
    assert_non_null(strstr(r.out, "depth 1"));
    assert_non_null(strstr(r.out, "holder node-7"));
    sgt_run_free(&r);
}

/* tail: decoded entries, filters by channel, platform and type. */
static void test_tail_filters(void **state)
{
    sgt_world *w = *state;
    cJSON *j, *env;
    sgt_run r;
    int i;

    publish_ok(w, msg_c1, NULL, NULL);
    publish_ok(w, msg_c2, NULL, NULL);
    publish_ok(w, "{\"type\":\"typing\",\"channel_id\":\"c1\"}", "outbound",
               "discord");
    publish_ok(w, msg_c1, NULL, NULL);

    r = sgt_sgctl(w, "tail", "--from", "0", "--count", "3", "--json",
                  "--channel", "c1", NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(sgt_lines(r.out), 3);
    for (i = 0; i < 3; i++) {
        j = sgt_json_line(r.out, i);
        env = cJSON_GetObjectItem(j, "envelope");
        assert_string_equal(
            cJSON_GetObjectItem(env, "channel_id")->valuestring, "c1");
        cJSON_Delete(j);
    }
    sgt_run_free(&r);

    r = sgt_sgctl(w, "tail", "--from", "0", "--count", "1", "--json",
                  "--platform", "matrix", NULL);
    assert_int_equal(r.rc, 0);
    j = sgt_json_line(r.out, 0);
    env = cJSON_GetObjectItem(j, "envelope");
    assert_string_equal(cJSON_GetObjectItem(env, "content")->valuestring,
                        "hi");
    cJSON_Delete(j);
    sgt_run_free(&r);

    r = sgt_sgctl(w, "tail", "--from", "0", "--count", "1", "--type",
                  "typing", "--stream", OUT_DISCORD, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "typing discord/c1\n"));
    sgt_run_free(&r);

    /* A rejected entry is shown with its reason and path (SG-ENV-001). */
    freeReplyObject(sgt_cmd(w, "XADD %s * data %b", INBOUND, "\xc1", 1));
    r = sgt_sgctl(w, "tail", "--from", "0", "--count", "4", "--stream",
                  INBOUND, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "REJECTED invalid_msgpack at data"));
    sgt_run_free(&r);
}

/* Entries of every shape the capture must carry byte for byte. */
static void fill_bus(sgt_world *w)
{
    static const char bin[] = {'\0', '\x01', '\xff', '\n', 'x'};
    int i;

    publish_ok(w, msg_c1, NULL, NULL);
    publish_ok(w, "{\"type\":\"message\",\"channel_id\":\"c1\",\"text\":"
                  "\"\\u0000nul\"}", "outbound", "discord");
    freeReplyObject(sgt_cmd(w, "XADD %s * data %b x-extra %b", INBOUND,
                            bin, sizeof bin, bin, sizeof bin));
    freeReplyObject(sgt_cmd(w, "XADD %s * %b v", INBOUND, "", (size_t)0));
    for (i = 0; i < 6; i++)
        publish_ok(w, msg_c2, NULL, NULL);
}

static void capture_all(sgt_world *w, const char *path)
{
    sgt_run r = sgt_sgctl(w, "capture", "-o", path, "--from", "0",
                          "--until-end", "--json", NULL);
    cJSON *j;

    assert_int_equal(r.rc, 0);
    j = sgt_json_line(r.out, 0);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "entries")->valueint, 10);
    cJSON_Delete(j);
    sgt_run_free(&r);
}

static void assert_streams_equal(sgt_world *w, const char *a,
                                 const char *b, int ids)
{
    redisReply *x = sgt_cmd(w, "XRANGE %s - +", a);
    redisReply *y = sgt_cmd(w, "XRANGE %s - +", b);

    assert_true(x->elements > 0);
    assert_true(sgt_same_entries(x, y, ids));
    freeReplyObject(x);
    freeReplyObject(y);
}

/*
 * SG-CAP-001, SG-CAP-003, SG-CAP-004, SG-CAP-008, SG-CAP-009: a capture
 * of the whole bus replayed into another namespace gives the same
 * entries: same IDs, same fields byte for byte, same order; with new IDs
 * and a rename, the same fields.
 */
static void test_capture_then_replay_is_exact(void **state)
{
    sgt_world *w = *state;
    char path[320];
    sgt_run r;

    fill_bus(w);
    snprintf(path, sizeof path, "%s/bus.sgcap", w->tmp);
    capture_all(w, path);

    /* The file is not overwritten without --force. */
    r = sgt_sgctl(w, "capture", "-o", path, "--until-end", NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_FAIL);
    assert_non_null(strstr(r.err, "--force"));
    sgt_run_free(&r);

    r = sgt_sgctl(w, "replay", "--namespace", "copy:", path, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "10 added"));
    sgt_run_free(&r);
    assert_streams_equal(w, INBOUND, "copy:" INBOUND, 1);
    assert_streams_equal(w, OUT_DISCORD, "copy:" OUT_DISCORD, 1);

    r = sgt_sgctl(w, "replay", "--new-ids", "--rename",
                  INBOUND "=renamed:in", "--stream", INBOUND, path, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "9 added"));
    assert_non_null(strstr(r.out, "1 filtered out"));
    sgt_run_free(&r);
    assert_streams_equal(w, INBOUND, "renamed:in", 0);
    assert_int_equal(sgt_int(w, "EXISTS renamed:%s", OUT_DISCORD), 0);
}

/*
 * SG-CAP-009: --dry-run reads and checks the file, lists what it would
 * add, and writes nothing.
 */
static void test_replay_dry_run_writes_nothing(void **state)
{
    sgt_world *w = *state;
    char path[320];
    cJSON *j;
    sgt_run r;

    fill_bus(w);
    snprintf(path, sizeof path, "%s/dry.sgcap", w->tmp);
    capture_all(w, path);
    r = sgt_sgctl(w, "replay", "--dry-run", "--json", "--namespace", "x:",
                  path, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(sgt_lines(r.out), 11);
    j = sgt_json_line(r.out, 0);
    assert_string_equal(cJSON_GetObjectItem(j, "target")->valuestring,
                        "x:" INBOUND);
    cJSON_Delete(j);
    j = sgt_json_line(r.out, 10);
    assert_int_equal(cJSON_GetObjectItem(j, "would_add")->valueint, 10);
    cJSON_Delete(j);
    sgt_run_free(&r);
    assert_int_equal(sgt_int(w, "EXISTS x:%s", INBOUND), 0);
    assert_int_equal(sgt_int(w, "DBSIZE"), 2);
}

/*
 * SG-CAP-010: a replay stopped half way (--limit here, as a kill would)
 * and run again adds the rest and nothing twice, with original and with
 * new IDs; a replay run again after it finished adds nothing.
 */
static void test_replay_resumes_without_duplicates(void **state)
{
    sgt_world *w = *state;
    char path[320];
    sgt_run r;

    fill_bus(w);
    snprintf(path, sizeof path, "%s/resume.sgcap", w->tmp);
    capture_all(w, path);

    r = sgt_sgctl(w, "replay", "--namespace", "a:", "--limit", "4", path,
                  NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "4 added"));
    sgt_run_free(&r);
    r = sgt_sgctl(w, "replay", "--namespace", "a:", path, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "6 added, 4 already replayed"));
    sgt_run_free(&r);
    assert_streams_equal(w, INBOUND, "a:" INBOUND, 1);
    assert_streams_equal(w, OUT_DISCORD, "a:" OUT_DISCORD, 1);

    /* New IDs: Redis would take duplicates; the progress key does not. */
    r = sgt_sgctl(w, "replay", "--namespace", "b:", "--new-ids", "--limit",
                  "3", path, NULL);
    assert_int_equal(r.rc, 0);
    sgt_run_free(&r);
    r = sgt_sgctl(w, "replay", "--namespace", "b:", "--new-ids", path,
                  NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "7 added, 3 already replayed"));
    sgt_run_free(&r);
    r = sgt_sgctl(w, "replay", "--namespace", "b:", "--new-ids", path,
                  NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "0 added, 10 already replayed"));
    sgt_run_free(&r);
    assert_streams_equal(w, INBOUND, "b:" INBOUND, 0);
    assert_streams_equal(w, OUT_DISCORD, "b:" OUT_DISCORD, 0);

    /* Progress lost, original IDs: Redis' own IDs still refuse copies. */
    freeReplyObject(sgt_cmd(w, "DEL a:sgctl:replay:missing"));
    r = sgt_sgctl(w, "replay", "--namespace", "a:", "--progress-key",
                  "a:other", path, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "0 added, 10 already replayed"));
    sgt_run_free(&r);
    assert_streams_equal(w, INBOUND, "a:" INBOUND, 1);
}

static long file_size(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/*
 * SG-CAP-005, SG-CAP-006, SG-CAP-007: a file cut inside its last record
 * replays the whole records before the cut and reports it; a damaged
 * record stops the replay with an error naming its offset (exit 4).
 */
static void test_replay_of_damaged_captures(void **state)
{
    sgt_world *w = *state;
    char path[320], cut[320], bad[320];
    unsigned char *buf;
    long n, half;
    FILE *f;
    sgt_run r;

    fill_bus(w);
    snprintf(path, sizeof path, "%s/whole.sgcap", w->tmp);
    snprintf(cut, sizeof cut, "%s/cut.sgcap", w->tmp);
    snprintf(bad, sizeof bad, "%s/bad.sgcap", w->tmp);
    capture_all(w, path);
    n = file_size(path);
    buf = malloc((size_t)n);
    f = fopen(path, "rb");
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);

    /* Cut 30 bytes before the end record: inside the last entry. */
    f = fopen(cut, "wb");
    assert_int_equal(fwrite(buf, 1, (size_t)(n - 25 - 30), f),
                     (size_t)(n - 55));
    fclose(f);
    r = sgt_sgctl(w, "replay", "--namespace", "cut:", "--json", cut, NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.err, "cut short"));
    assert_non_null(strstr(r.out, "\"added\":9"));
    assert_non_null(strstr(r.out, "\"truncated\":true"));
    sgt_run_free(&r);

    /* Flip a byte of the last entry's CRC: the record is refused. */
    half = n - 25 - 2;
    buf[half] ^= 0x5a;
    f = fopen(bad, "wb");
    assert_int_equal(fwrite(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    r = sgt_sgctl(w, "replay", "--namespace", "bad:", bad, NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_DATA);
    assert_non_null(strstr(r.err, "capture: offset "));
    sgt_run_free(&r);

    /* Not a capture file at all. */
    r = sgt_sgctl(w, "replay", "--dry-run", "/dev/null", NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_DATA);
    assert_non_null(strstr(r.err, "header"));
    sgt_run_free(&r);
    free(buf);
}

typedef struct feeder {
    sgt_world *w;
    const char *path;
    int published;
} feeder;

/* Waits for the capture's header, then adds four entries. */
static void *feed(void *arg)
{
    feeder *fd = arg;
    redisContext *c = sgt_redis_connect(&fd->w->redis);
    redisReply *r;
    int i;

    for (i = 0; i < 4000 && file_size(fd->path) <= 0; i++)
        sgctl_sleep_ms(5);
    for (i = 0; c != NULL && i < 4; i++) {
        r = redisCommand(c, "XADD %s * data %b n %d", INBOUND, "\x80",
                         (size_t)1, i);
        fd->published += r != NULL && r->type == REDIS_REPLY_STRING;
        freeReplyObject(r);
    }
    if (c != NULL)
        redisFree(c);
    return NULL;
}

/*
 * SG-CAP-002, SG-CAP-006: a live capture (from `$`) records only what
 * arrives after it started and stops at --count with an end record.
 */
static void test_capture_live_bounded_by_count(void **state)
{
    sgt_world *w = *state;
    char path[320];
    feeder fd;
    pthread_t t;
    sgt_run r;

    publish_ok(w, msg_c1, NULL, NULL);      /* before: not captured */
    snprintf(path, sizeof path, "%s/live.sgcap", w->tmp);
    fd.w = w;
    fd.path = path;
    fd.published = 0;
    assert_int_equal(pthread_create(&t, NULL, feed, &fd), 0);
    r = sgt_sgctl(w, "capture", "-o", path, "--stream", INBOUND,
                  "--count", "3", "--duration", "60", NULL);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_int_equal(r.rc, 0);
    assert_int_equal(fd.published, 4);
    sgt_run_free(&r);

    r = sgt_sgctl(w, "replay", "--dry-run", "--json", path, NULL);
    assert_int_equal(r.rc, 0);
    assert_int_equal(sgt_lines(r.out), 4);
    assert_non_null(strstr(r.out, "\"would_add\":3"));
    assert_non_null(strstr(r.out, "[\"n\",\"0\"]"));
    assert_null(strstr(r.err, "no end record"));
    sgt_run_free(&r);
}

/*
 * SG-CAP-004: a paced replay (recorded pace scaled, by arrival time or by
 * the IDs' time) adds the same entries as a fast one. No assertion on
 * time: only the result is checked.
 */
static void test_replay_paced_is_exact(void **state)
{
    sgt_world *w = *state;
    char path[320];
    sgt_run r;

    fill_bus(w);
    snprintf(path, sizeof path, "%s/paced.sgcap", w->tmp);
    capture_all(w, path);
    r = sgt_sgctl(w, "replay", "--namespace", "p:", "--speed", "4", path,
                  NULL);
    assert_int_equal(r.rc, 0);
    sgt_run_free(&r);
    assert_streams_equal(w, INBOUND, "p:" INBOUND, 1);
    r = sgt_sgctl(w, "replay", "--namespace", "q:", "--speed", "1000",
                  "--timing", "id", "--no-progress", path, NULL);
    assert_int_equal(r.rc, 0);
    sgt_run_free(&r);
    assert_streams_equal(w, OUT_DISCORD, "q:" OUT_DISCORD, 1);
    r = sgt_sgctl(w, "replay", "--speed", "0", path, NULL);
    assert_int_equal(r.rc, SGCTL_EXIT_USAGE);
    sgt_run_free(&r);
}

/*
 * SG-CAP-003: a capture of history from two streams, one longer than a
 * read's COUNT, is written in entry-ID order across the streams.
 */
static void test_capture_history_in_id_order(void **state)
{
    sgt_world *w = *state;
    char path[320], prev[64] = "0-0";
    unsigned long long pm = 0, ps = 0;
    int i, n;
    sgt_run r;
    cJSON *j;

    for (i = 1; i <= 1200; i++)
        freeReplyObject(sgt_cmd(w, "XADD a %d-0 n %d", i * 10, i));
    for (i = 1; i <= 20; i++)
        freeReplyObject(sgt_cmd(w, "XADD b %d-1 n %d", i * 500 + 5, i));
    snprintf(path, sizeof path, "%s/order.sgcap", w->tmp);
    r = sgt_sgctl(w, "capture", "-o", path, "-s", "a", "-s", "b", "--from",
                  "0", "--until-end", NULL);
    assert_int_equal(r.rc, 0);
    assert_non_null(strstr(r.out, "captured 1220 entries"));
    sgt_run_free(&r);
    r = sgt_sgctl(w, "replay", "--dry-run", "--json", path, NULL);
    assert_int_equal(r.rc, 0);
    for (n = 0; n < 1220; n++) {
        unsigned long long ms, seq;
        j = sgt_json_line(r.out, n);
        assert_non_null(j);
        assert_int_equal(sscanf(cJSON_GetObjectItem(j, "id")->valuestring,
                                "%llu-%llu", &ms, &seq), 2);
        if (ms < pm || (ms == pm && seq <= ps))
            fail_msg("entry %d (%llu-%llu) follows %s", n, ms, seq, prev);
        snprintf(prev, sizeof prev, "%llu-%llu", ms, seq);
        pm = ms;
        ps = seq;
        cJSON_Delete(j);
    }
    sgt_run_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_help_and_exit_codes,
                                        sgt_setup, sgt_teardown),
        cmocka_unit_test_setup_teardown(test_publish_valid_inbound,
                                        sgt_setup, sgt_teardown),
        cmocka_unit_test_setup_teardown(test_publish_invalid_names_field,
                                        sgt_setup, sgt_teardown),
        cmocka_unit_test_setup_teardown(
            test_publish_outbound_to_platform_stream, sgt_setup,
            sgt_teardown),
        cmocka_unit_test_setup_teardown(test_info_reports_the_bus,
                                        sgt_setup, sgt_teardown),
        cmocka_unit_test_setup_teardown(test_tail_filters, sgt_setup,
                                        sgt_teardown),
        cmocka_unit_test_setup_teardown(test_capture_then_replay_is_exact,
                                        sgt_setup, sgt_teardown),
        cmocka_unit_test_setup_teardown(test_replay_dry_run_writes_nothing,
                                        sgt_setup, sgt_teardown),
        cmocka_unit_test_setup_teardown(
            test_replay_resumes_without_duplicates, sgt_setup,
            sgt_teardown),
        cmocka_unit_test_setup_teardown(test_replay_of_damaged_captures,
                                        sgt_setup, sgt_teardown),
        cmocka_unit_test_setup_teardown(test_capture_live_bounded_by_count,
                                        sgt_setup, sgt_teardown),
        cmocka_unit_test_setup_teardown(test_replay_paced_is_exact,
                                        sgt_setup, sgt_teardown),
        cmocka_unit_test_setup_teardown(test_capture_history_in_id_order,
                                        sgt_setup, sgt_teardown),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
