/* sg-test-labels: integration */
/*
 * Tests of the Redis test fixture (impl/internal/sg_redis_fixture.c). Each
 * starts real redis-server processes, hence the integration label.
 */

/* mkdtemp, fork, kill: POSIX.1-2008 with XSI. */
#define _XOPEN_SOURCE 700

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "sg_redis_fixture.h"

static void start_or_fail(sgt_redis *r, const sgt_redis_opts *opts)
{
    if (sgt_redis_start(r, opts) != 0) {
        fail_msg("sgt_redis_start: %s", r->errstr);
    }
}

static redisContext *connect_or_fail(sgt_redis *r)
{
    redisContext *c = sgt_redis_connect(r);

    if (c == NULL) {
        fail_msg("sgt_redis_connect: %s", r->errstr);
    }
    return c;
}

static void set_key(redisContext *c, const char *key, const char *value)
{
    redisReply *reply = redisCommand(c, "SET %s %s", key, value);

    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STATUS);
    assert_string_equal(reply->str, "OK");
    freeReplyObject(reply);
}

/* The value of key, or NULL if it has none; the caller frees it. */
static char *get_key(redisContext *c, const char *key)
{
    redisReply *reply = redisCommand(c, "GET %s", key);
    char *value = NULL;

    assert_non_null(reply);
    if (reply->type == REDIS_REPLY_STRING) {
        value = malloc(reply->len + 1);
        assert_non_null(value);
        memcpy(value, reply->str, reply->len);
        value[reply->len] = '\0';
    } else {
        assert_int_equal(reply->type, REDIS_REPLY_NIL);
    }
    freeReplyObject(reply);
    return value;
}

static int path_exists(const char *dir, const char *name)
{
    char path[SGT_REDIS_PATH_MAX + 64];
    struct stat st;
    int n = snprintf(path, sizeof path, "%s/%s", dir, name);

    assert_true(n > 0 && (size_t)n < sizeof path);
    return stat(path, &st) == 0;
}

static void test_sgt_redis_start_answers_ping(void **state)
{
    char expected_url[64];
    redisContext *c;
    redisReply *reply;
    sgt_redis r;
    int n;

    (void)state;
    start_or_fail(&r, NULL);
    assert_string_equal(r.host, "127.0.0.1");
    assert_true(r.port > 0 && r.port < 65536);
    n = snprintf(expected_url, sizeof expected_url, "redis://127.0.0.1:%d",
                 r.port);
    assert_true(n > 0 && (size_t)n < sizeof expected_url);
    assert_string_equal(r.url, expected_url);
    assert_true(r.pid > 0);
    assert_true(path_exists(r.dir, "redis.conf"));
    assert_true(path_exists(r.dir, "owner.pid"));

    c = connect_or_fail(&r);
    reply = redisCommand(c, "PING");
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_STATUS);
    assert_string_equal(reply->str, "PONG");
    freeReplyObject(reply);
    redisFree(c);

    assert_int_equal(sgt_redis_stop(&r), 0);
}

static void test_sgt_redis_start_serves_set_get(void **state)
{
    redisContext *c;
    sgt_redis r;
    char *value;

    (void)state;
    start_or_fail(&r, NULL);
    c = connect_or_fail(&r);
    set_key(c, "sg:fixture", "hello");
    value = get_key(c, "sg:fixture");
    assert_non_null(value);
    assert_string_equal(value, "hello");
    free(value);
    redisFree(c);
    assert_int_equal(sgt_redis_stop(&r), 0);
}

static void test_sgt_redis_restart_keeps_data_with_persistence(void **state)
{
    sgt_redis_opts opts = {0};
    char dir[SGT_REDIS_PATH_MAX];
    redisContext *c;
    long old_pid;
    sgt_redis r;
    char *value;
    int port;

    (void)state;
    opts.persistence = 1;
    start_or_fail(&r, &opts);
    c = connect_or_fail(&r);
    set_key(c, "sg:kept", "across-restart");
    redisFree(c);

    port = r.port;
    old_pid = r.pid;
    memcpy(dir, r.dir, sizeof dir);
    if (sgt_redis_restart(&r) != 0) {
        fail_msg("sgt_redis_restart: %s", r.errstr);
    }
    assert_int_equal(r.port, port);
    assert_string_equal(r.dir, dir);
    assert_true(r.pid > 0 && r.pid != old_pid);
    /* Redis 7 keeps its append-only files in this folder. */
    assert_true(path_exists(r.dir, "appendonlydir"));

    c = connect_or_fail(&r);
    value = get_key(c, "sg:kept");
    assert_non_null(value);
    assert_string_equal(value, "across-restart");
    free(value);
    redisFree(c);
    assert_int_equal(sgt_redis_stop(&r), 0);
}

static void
test_sgt_redis_restart_loses_data_without_persistence(void **state)
{
    redisContext *c;
    sgt_redis r;
    int port;

    (void)state;
    start_or_fail(&r, NULL);
    c = connect_or_fail(&r);
    set_key(c, "sg:lost", "on-restart");
    redisFree(c);

    port = r.port;
    if (sgt_redis_restart(&r) != 0) {
        fail_msg("sgt_redis_restart: %s", r.errstr);
    }
    assert_int_equal(r.port, port);

    c = connect_or_fail(&r);
    assert_null(get_key(c, "sg:lost"));
    redisFree(c);
    assert_int_equal(sgt_redis_stop(&r), 0);
}

static void test_sgt_redis_start_applies_extra_config(void **state)
{
    static const char *const extra[] = {
        "maxmemory-policy noeviction",
        "maxmemory 64mb",
        NULL
    };
    sgt_redis_opts opts = {0};
    redisContext *c;
    redisReply *reply;
    sgt_redis r;

    (void)state;
    opts.extra_config = extra;
    start_or_fail(&r, &opts);
    c = connect_or_fail(&r);
    reply = redisCommand(c, "CONFIG GET maxmemory-policy");
    assert_non_null(reply);
    assert_int_equal(reply->type, REDIS_REPLY_ARRAY);
    assert_int_equal(reply->elements, 2);
    assert_string_equal(reply->element[1]->str, "noeviction");
    freeReplyObject(reply);
    redisFree(c);
    assert_int_equal(sgt_redis_stop(&r), 0);
}

static void test_sgt_redis_stop_removes_dir(void **state)
{
    char dir[SGT_REDIS_PATH_MAX];
    struct stat st;
    sgt_redis r;
    pid_t pid;

    (void)state;
    start_or_fail(&r, NULL);
    memcpy(dir, r.dir, sizeof dir);
    pid = (pid_t)r.pid;

    assert_int_equal(sgt_redis_stop(&r), 0);
    assert_int_equal(stat(dir, &st), -1);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(r.pid, -1);
    assert_string_equal(r.dir, "");
    /* Reaped, not merely signalled: the pid names no process now. */
    assert_int_equal(kill(pid, 0), -1);
    assert_int_equal(errno, ESRCH);
    /* Stopping twice is harmless. */
    assert_int_equal(sgt_redis_stop(&r), 0);
}

static void test_sgt_redis_start_two_servers_are_apart(void **state)
{
    redisContext *ca;
    redisContext *cb;
    sgt_redis a;
    sgt_redis b;

    (void)state;
    start_or_fail(&a, NULL);
    start_or_fail(&b, NULL);
    assert_int_not_equal(a.port, b.port);
    assert_string_not_equal(a.dir, b.dir);

    ca = connect_or_fail(&a);
    cb = connect_or_fail(&b);
    set_key(ca, "sg:only-in-a", "1");
    assert_null(get_key(cb, "sg:only-in-a"));
    redisFree(ca);
    redisFree(cb);
    assert_int_equal(sgt_redis_stop(&a), 0);
    assert_int_equal(sgt_redis_stop(&b), 0);
}

static void test_sgt_redis_start_reports_bad_config(void **state)
{
    static const char *const extra[] = {"no-such-directive yes", NULL};
    sgt_redis_opts opts = {0};
    sgt_redis r;

    (void)state;
    opts.extra_config = extra;
    assert_int_equal(sgt_redis_start(&r, &opts), -1);
    /* The server's own complaint reaches the test report. */
    assert_non_null(strstr(r.errstr, "exited"));
    assert_non_null(strstr(r.errstr, "no-such-directive"));
    assert_string_equal(r.dir, "");
    assert_int_equal(r.pid, -1);
}

static void test_sgt_redis_start_rejects_newline_in_config(void **state)
{
    static const char *const extra[] = {"maxmemory 1mb\nport 1", NULL};
    sgt_redis_opts opts = {0};
    sgt_redis r;

    (void)state;
    opts.extra_config = extra;
    assert_int_equal(sgt_redis_start(&r, &opts), -1);
    assert_non_null(strstr(r.errstr, "extra config line"));
    assert_string_equal(r.dir, "");
}

static void test_sgt_redis_start_reports_missing_server(void **state)
{
    sgt_redis_opts opts = {0};
    sgt_redis r;

    (void)state;
    opts.server = "sg-no-such-redis-server";
    assert_int_equal(sgt_redis_start(&r, &opts), -1);
    assert_non_null(strstr(r.errstr, "cannot run sg-no-such-redis-server"));
    assert_string_equal(r.dir, "");
}

static void test_sgt_redis_restart_without_start_fails(void **state)
{
    sgt_redis r;

    (void)state;
    memset(&r, 0, sizeof r);
    r.pid = -1;
    assert_int_equal(sgt_redis_restart(&r), -1);
    assert_non_null(strstr(r.errstr, "no server"));
}

/* A pid that named a process a moment ago and names none now. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(0);
    }
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    return pid;
}

static void make_fake_dir(const char *root, const char *name, long owner)
{
    char path[SGT_REDIS_PATH_MAX];
    char file[SGT_REDIS_PATH_MAX + 16];
    FILE *f;
    int n;

    n = snprintf(path, sizeof path, "%s/%s", root, name);
    assert_true(n > 0 && (size_t)n < sizeof path);
    assert_int_equal(mkdir(path, 0700), 0);
    n = snprintf(file, sizeof file, "%s/owner.pid", path);
    assert_true(n > 0 && (size_t)n < sizeof file);
    f = fopen(file, "w");
    assert_non_null(f);
    assert_true(fprintf(f, "%ld\n", owner) > 0);
    assert_int_equal(fclose(f), 0);
}

static void remove_fake_dir(const char *root, const char *name)
{
    char path[SGT_REDIS_PATH_MAX];
    char file[SGT_REDIS_PATH_MAX + 16];
    int n;

    n = snprintf(path, sizeof path, "%s/%s", root, name);
    assert_true(n > 0 && (size_t)n < sizeof path);
    n = snprintf(file, sizeof file, "%s/owner.pid", path);
    assert_true(n > 0 && (size_t)n < sizeof file);
    assert_int_equal(remove(file), 0);
    assert_int_equal(remove(path), 0);
}

static void test_sgt_redis_sweep_removes_only_stale_dirs(void **state)
{
    const char *tmp = getenv("TMPDIR");
    char root[SGT_REDIS_PATH_MAX / 2];
    sgt_redis_opts opts = {0};
    sgt_redis r;
    int n;

    (void)state;
    n = snprintf(root, sizeof root, "%s/sg-sweep-test-XXXXXX",
                 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    assert_true(n > 0 && (size_t)n < sizeof root);
    assert_non_null(mkdtemp(root));

    make_fake_dir(root, "sg-redis-stale1", (long)dead_pid());
    make_fake_dir(root, "sg-redis-inuse1", (long)getpid());
    assert_int_equal(sgt_redis_sweep(root), 1);
    assert_true(path_exists(root, "sg-redis-inuse1"));
    assert_false(path_exists(root, "sg-redis-stale1"));

    /* Start sweeps too, and puts its own folder under opts->tmpdir. */
    make_fake_dir(root, "sg-redis-stale2", (long)dead_pid());
    opts.tmpdir = root;
    start_or_fail(&r, &opts);
    assert_false(path_exists(root, "sg-redis-stale2"));
    assert_int_equal(strncmp(r.dir, root, strlen(root)), 0);
    assert_int_equal(sgt_redis_stop(&r), 0);

    remove_fake_dir(root, "sg-redis-inuse1");
    assert_int_equal(remove(root), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgt_redis_start_answers_ping),
        cmocka_unit_test(test_sgt_redis_start_serves_set_get),
        cmocka_unit_test(test_sgt_redis_restart_keeps_data_with_persistence),
        cmocka_unit_test(
            test_sgt_redis_restart_loses_data_without_persistence),
        cmocka_unit_test(test_sgt_redis_start_applies_extra_config),
        cmocka_unit_test(test_sgt_redis_stop_removes_dir),
        cmocka_unit_test(test_sgt_redis_start_two_servers_are_apart),
        cmocka_unit_test(test_sgt_redis_start_reports_bad_config),
        cmocka_unit_test(test_sgt_redis_start_rejects_newline_in_config),
        cmocka_unit_test(test_sgt_redis_start_reports_missing_server),
        cmocka_unit_test(test_sgt_redis_restart_without_start_fails),
        cmocka_unit_test(test_sgt_redis_sweep_removes_only_stale_dirs),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
