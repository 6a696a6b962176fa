/*
 * test_runner.c: sg-conform's own pieces that need no Redis: the graded
 * verdicts (a missed MUST is FAIL, a missed SHOULD NON-STRICT, a listed
 * miss XFAIL), the implementation file, the requirement table and the
 * MONITOR log reader.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conform.h"

static sgc_finding finding(const char *req, int ok, int must, int info)
{
    sgc_finding f;
    memset(&f, 0, sizeof f);
    snprintf(f.req, sizeof f.req, "%s", req);
    f.ok = ok;
    f.must = must;
    f.info = info;
    return f;
}

static char *write_tmp(const char *text)
{
    char *path = strdup("/tmp/sgc-test-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static void test_verdict_of_grades(void **state)
{
    (void)state;
    sgc_finding f[3];
    f[0] = finding("SG-IN-010", 1, 1, 0);
    f[1] = finding("SG-IN-006", 1, 0, 0);
    f[2] = finding("SG-OUT-007", 1, 1, 1);
    assert_int_equal(sgc_verdict_of(f, 3, NULL, 0, 0), SGC_PASS);
    f[1].ok = 0;    /* a SHOULD missed */
    assert_int_equal(sgc_verdict_of(f, 3, NULL, 0, 0), SGC_NONSTRICT);
    f[0].ok = 0;    /* a MUST missed */
    assert_int_equal(sgc_verdict_of(f, 3, NULL, 0, 0), SGC_FAIL);
    assert_int_equal(sgc_verdict_of(f, 3, NULL, 1, 0), SGC_ERROR);
    assert_int_equal(sgc_verdict_of(f, 3, NULL, 0, 1), SGC_SKIP);
    /* Only observations: INFO. */
    assert_int_equal(sgc_verdict_of(&f[2], 1, NULL, 0, 0), SGC_INFO);
}

static void test_verdict_of_xfail(void **state)
{
    (void)state;
    char *path = write_tmp(
        "{\"role\": \"worker\", \"command\": [\"/bin/true\"],"
        " \"xfail\": {\"SG-IN-010\": \"known\"}}");
    sgc_iut iut;
    char err[256];
    assert_int_equal(sgc_iut_load(&iut, path, "/bin", err, sizeof err), 0);
    sgc_finding f[2];
    f[0] = finding("SG-IN-010", 0, 1, 0);
    f[1] = finding("SG-IN-011", 1, 1, 0);
    assert_int_equal(sgc_verdict_of(f, 2, &iut, 0, 0), SGC_XFAIL);
    f[1].ok = 0;    /* a miss that is not listed still fails */
    assert_int_equal(sgc_verdict_of(f, 2, &iut, 0, 0), SGC_FAIL);
    sgc_iut_free(&iut);
    unlink(path);
    free(path);
}

static void test_iut_load_expands_and_checks(void **state)
{
    (void)state;
    setenv("SGC_TEST_VALUE", "v42", 1);
    char *path = write_tmp(
        "{\"name\": \"x\", \"role\": \"gateway\","
        " \"command\": [\"${BINDIR}/gw\", \"--opt=${SGC_TEST_VALUE}\"],"
        " \"cwd\": \"/tmp\", \"env\": {\"A\": \"${IUTDIR}\"},"
        " \"capabilities\": [\"metrics\"], \"ready\": {\"log\": \"up\"}}");
    sgc_iut iut;
    char err[256];
    assert_int_equal(sgc_iut_load(&iut, path, "/opt/bin", err, sizeof err),
                     0);
    assert_string_equal(iut.role, "gateway");
    assert_int_equal(iut.argc, 2);
    assert_string_equal(iut.argv[0], "/opt/bin/gw");
    assert_string_equal(iut.argv[1], "--opt=v42");
    assert_null(iut.argv[2]);
    assert_string_equal(iut.cwd, "/tmp");
    assert_string_equal(iut.env[0].value, "/tmp");
    assert_true(sgc_iut_has_cap(&iut, "metrics"));
    assert_false(sgc_iut_has_cap(&iut, "order-queues"));
    assert_string_equal(iut.ready_log, "up");
    sgc_iut_free(&iut);
    unlink(path);
    free(path);

    const char *bad[] = {
        "{\"role\": \"fridge\", \"command\": [\"x\"]}",
        "{\"role\": \"worker\", \"command\": []}",
        "{\"role\": \"worker\", \"command\": [1]}",
        "{\"role\": \"worker\", \"command\": [\"${NOPE_SGC_UNSET}\"]}",
        "{\"role\": \"worker\", \"command\": [\"x\"], \"ready\": 3}",
        "{\"role\": \"worker\", \"command\": [\"x\"], \"env\": {\"A\": 1}}",
        "[1, 2]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        path = write_tmp(bad[i]);
        assert_int_equal(sgc_iut_load(&iut, path, "/b", err, sizeof err),
                         -1);
        assert_true(err[0] != '\0');
        unlink(path);
        free(path);
    }
}

static void test_reqs_load_reads_levels(void **state)
{
    (void)state;
    char *path = write_tmp(
        "id\tlevel\tarea\tsection\tsummary\n"
        "SG-IN-010\tMUST\tIN\t14\tAfter the handler succeeds...\n"
        "SG-IN-006\tSHOULD\tIN\t14\tA worker SHOULD NOT start...\n"
        "SG-IN-018\tMUST NOT\tIN\t14\tA process MUST NOT delete...\n");
    sgc_reqs r;
    char err[256];
    assert_int_equal(sgc_reqs_load(&r, path, err, sizeof err), 0);
    assert_int_equal(r.n, 3);
    assert_true(sgc_req_is_must(sgc_reqs_find(&r, "SG-IN-010")));
    assert_true(sgc_req_is_must(sgc_reqs_find(&r, "SG-IN-018")));
    assert_false(sgc_req_is_must(sgc_reqs_find(&r, "SG-IN-006")));
    /* An ID the table lacks (spelt in two pieces so that check-ids,
       which checks every ID the tree names, does not take it for one). */
    assert_null(sgc_reqs_find(&r, "SG-IN-" "999"));
    assert_string_equal(sgc_reqs_find(&r, "SG-IN-006")->area, "IN");
    sgc_reqs_free(&r);
    unlink(path);
    free(path);
}

typedef struct seen {
    int n, lua, set;
    char last_arg[64];
} seen;

static int on_cmd(const sgc_mon_cmd *m, void *ud)
{
    seen *s = ud;
    s->n++;
    s->lua += m->lua;
    if (sgc_mon_is(m, 0, "set")) {
        s->set++;
        snprintf(s->last_arg, sizeof s->last_arg, "%s", m->argv[2]);
        assert_int_equal(m->lens[2], 4);    /* "a\"\n" + 0x01 */
    }
    return 0;
}

static void test_monitor_each_parses_and_skips_runner(void **state)
{
    (void)state;
    char *path = write_tmp(
        "1732350000.123456 [0 127.0.0.1:5000] \"SET\" \"k\" \"a\\\"\\n\\x01\" "
        "\"PX\" \"2000\"\n"
        "1732350000.223456 [0 lua] \"XACK\" \"s\" \"g\" \"1-0\"\n"
        "# monitor: connection lost; reconnecting\n"
        "1732350000.323456 [0 127.0.0.1:6000] \"GET\" \"k\"\n");
    sgc_ctx *c = calloc(1, sizeof *c);
    assert_non_null(c);
    snprintf(c->monitor_log, sizeof c->monitor_log, "%s", path);
    snprintf(c->runner_addr[0], sizeof c->runner_addr[0],
             "127.0.0.1:6000");
    c->nrunner_addr = 1;
    seen s = { 0 };
    assert_int_equal(sgc_monitor_each(c, on_cmd, &s), 2);
    assert_int_equal(s.n, 2);
    assert_int_equal(s.lua, 1);
    assert_int_equal(s.set, 1);
    assert_memory_equal(s.last_arg, "a\"\n\x01", 4);
    free(c);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verdict_of_grades),
        cmocka_unit_test(test_verdict_of_xfail),
        cmocka_unit_test(test_iut_load_expands_and_checks),
        cmocka_unit_test(test_reqs_load_reads_levels),
        cmocka_unit_test(test_monitor_each_parses_and_skips_runner),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
