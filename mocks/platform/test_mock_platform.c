/*
 * test_mock_platform.c: sg-mock-platform as a black box. Each test starts
 * the real executable (path in argv[1]) on an ephemeral port, plays the
 * gateway's http platform against it with libcurl and stops it with
 * SIGTERM, which must exit 0.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mock_child.h"

static const char *exe;

typedef struct fixture {
    mock_child c;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);

    if (f == NULL || mock_child_init(&f->c) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    int started = f->c.pid > 0;
    int rc = mock_child_stop(&f->c);

    free(f);
    return !started || rc == 0 ? 0 : -1;
}

static void start(fixture *f, const char *const *args)
{
    assert_int_equal(mock_child_start(&f->c, exe, args), 0);
}

/* The body the gateway sends for one adapter call. */
static void body_of(char *buf, size_t size, const char *op,
                    const char *channel)
{
    snprintf(buf, size,
             "{\"op\":\"%s\",\"platform\":\"http\",\"consumer\":\"gw-1\","
             "\"entry_id\":\"1-0\",\"envelope\":{\"platform\":\"http\","
             "\"channel_id\":\"%s\",\"text\":\"hello\"}}", op, channel);
}

static void platform_call(mock_call *call, fixture *f, const char *op,
                          const char *channel)
{
    char body[512];

    body_of(body, sizeof body, op, channel);
    assert_int_equal(mock_http(call, &f->c, "POST", "/webhook", body, NULL),
                     0);
}

static long call_status(fixture *f, const char *op, const char *channel)
{
    mock_call call;
    long status;

    platform_call(&call, f, op, channel);
    status = call.status;
    mock_call_cleanup(&call);
    return status;
}

static void add_fail(fixture *f, const char *rule)
{
    mock_call call;

    assert_int_equal(mock_http(&call, &f->c, "POST", "/_mock/fail", rule,
                               NULL), 0);
    assert_int_equal(call.status, 200);
    mock_call_cleanup(&call);
}

static cJSON *calls(fixture *f, const char *query)
{
    char path[256];
    mock_call call;
    cJSON *json;

    snprintf(path, sizeof path, "/_mock/calls%s", query);
    assert_int_equal(mock_http(&call, &f->c, "GET", path, NULL, NULL), 0);
    assert_int_equal(call.status, 200);
    json = call.json;
    call.json = NULL;
    mock_call_cleanup(&call);
    return json;
}

/* ---- calls ------------------------------------------------------------ */

static void test_call_recorded_and_answered_with_message_id(void **state)
{
    fixture *f = *state;
    mock_call call;
    cJSON *list;

    start(f, NULL);
    platform_call(&call, f, "send", "chan-1");
    assert_int_equal(call.status, 200);
    assert_true(cJSON_IsTrue(mock_json_at(call.json, "ok")));
    assert_string_equal(mock_json_str(call.json, "message_id"), "mock-1");
    mock_call_cleanup(&call);
    platform_call(&call, f, "start_typing", "chan-2");
    assert_string_equal(mock_json_str(call.json, "message_id"), "mock-2");
    mock_call_cleanup(&call);

    list = calls(f, "");
    assert_int_equal(cJSON_GetArraySize(mock_json_at(list, "calls")), 2);
    assert_int_equal(mock_json_num(list, "calls.0.seq"), 1);
    assert_true(mock_json_num(list, "calls.0.time_ms") > 1.6e12);
    assert_string_equal(mock_json_str(list, "calls.0.path"), "/webhook");
    assert_string_equal(mock_json_str(list, "calls.0.op"), "send");
    assert_string_equal(mock_json_str(list, "calls.0.channel_id"), "chan-1");
    assert_string_equal(mock_json_str(list, "calls.0.body.consumer"),
                        "gw-1");
    assert_string_equal(mock_json_str(list, "calls.0.body.envelope.text"),
                        "hello");
    assert_int_equal(mock_json_num(list, "calls.0.status"), 200);
    assert_string_equal(mock_json_str(list, "calls.1.op"), "start_typing");
    assert_int_equal(mock_json_num(list, "next"), 3);
    assert_int_equal(mock_json_num(list, "dropped"), 0);
    cJSON_Delete(list);
}

static void test_call_not_json_400_recorded(void **state)
{
    fixture *f = *state;
    mock_call call;
    cJSON *list;

    start(f, NULL);
    assert_int_equal(mock_http(&call, &f->c, "POST", "/any/path", "nope{",
                               NULL), 0);
    assert_int_equal(call.status, 400);
    assert_true(cJSON_IsFalse(mock_json_at(call.json, "ok")));
    mock_call_cleanup(&call);
    /* A JSON body without op or envelope is still a call. */
    assert_int_equal(mock_http(&call, &f->c, "POST", "/other", "[1,2]",
                               NULL), 0);
    assert_int_equal(call.status, 200);
    mock_call_cleanup(&call);

    list = calls(f, "");
    assert_int_equal(cJSON_GetArraySize(mock_json_at(list, "calls")), 2);
    assert_true(cJSON_IsNull(mock_json_at(list, "calls.0.body")));
    assert_true(cJSON_IsNull(mock_json_at(list, "calls.0.op")));
    assert_true(cJSON_IsNull(mock_json_at(list, "calls.0.channel_id")));
    assert_int_equal(mock_json_num(list, "calls.0.status"), 400);
    assert_string_equal(mock_json_str(list, "calls.1.path"), "/other");
    assert_int_equal(mock_json_num(list, "calls.1.body.1"), 2);
    cJSON_Delete(list);
}

static void test_call_get_405_and_oversized_413(void **state)
{
    fixture *f = *state;
    size_t n = 1024 * 1024 + 1;
    char *big = malloc(n + 1);
    mock_call call;
    cJSON *list;

    assert_non_null(big);
    start(f, NULL);
    assert_int_equal(mock_http(&call, &f->c, "GET", "/webhook", NULL, NULL),
                     0);
    assert_int_equal(call.status, 405);
    mock_call_cleanup(&call);
    memset(big, ' ', n);
    big[n] = '\0';
    assert_int_equal(mock_http(&call, &f->c, "POST", "/webhook", big, NULL),
                     0);
    assert_int_equal(call.status, 413);
    mock_call_cleanup(&call);
    free(big);
    assert_int_equal(call_status(f, "send", "c"), 200);
    list = calls(f, "");
    assert_int_equal(cJSON_GetArraySize(mock_json_at(list, "calls")), 1);
    cJSON_Delete(list);
}

/* ---- failure rules ---------------------------------------------------- */

static void test_fail_rules_filter_by_op_channel_and_times(void **state)
{
    fixture *f = *state;
    mock_call call;
    cJSON *list;

    start(f, NULL);
    add_fail(f, "{\"op\":\"send\",\"channel_id\":\"bad\",\"status\":503,"
             "\"times\":2}");
    add_fail(f, "{\"op\":\"add_reaction\"}");
    add_fail(f, "{\"channel_id\":\"gone\",\"status\":404}");

    /* op and channel both must match the first rule. */
    assert_int_equal(call_status(f, "send", "good"), 200);
    assert_int_equal(call_status(f, "start_typing", "bad"), 200);
    platform_call(&call, f, "send", "bad");
    assert_int_equal(call.status, 503);
    assert_true(cJSON_IsFalse(mock_json_at(call.json, "ok")));
    assert_string_equal(mock_json_str(call.json, "error"), "injected");
    mock_call_cleanup(&call);
    assert_int_equal(call_status(f, "send", "bad"), 503);
    /* times: 2 used up. */
    assert_int_equal(call_status(f, "send", "bad"), 200);
    /* status defaults to 500; no times means every time. */
    assert_int_equal(call_status(f, "add_reaction", "x"), 500);
    assert_int_equal(call_status(f, "add_reaction", "y"), 500);
    /* channel only. */
    assert_int_equal(call_status(f, "send_file", "gone"), 404);

    list = calls(f, "?op=send&channel_id=bad");
    assert_int_equal(cJSON_GetArraySize(mock_json_at(list, "calls")), 3);
    assert_int_equal(mock_json_num(list, "calls.0.status"), 503);
    assert_int_equal(mock_json_num(list, "calls.2.status"), 200);
    cJSON_Delete(list);

    /* The rules are listed with their use counts, and cleared. */
    assert_int_equal(mock_http(&call, &f->c, "GET", "/_mock/fail", NULL,
                               NULL), 0);
    assert_int_equal(cJSON_GetArraySize(mock_json_at(call.json, "rules")),
                     3);
    assert_int_equal(mock_json_num(call.json, "rules.0.used"), 2);
    mock_call_cleanup(&call);
    assert_int_equal(mock_http(&call, &f->c, "DELETE", "/_mock/fail", NULL,
                               NULL), 0);
    assert_int_equal(call.status, 200);
    mock_call_cleanup(&call);
    assert_int_equal(call_status(f, "add_reaction", "x"), 200);
}

static void test_fail_rule_invalid_is_refused(void **state)
{
    fixture *f = *state;
    mock_call call;

    start(f, NULL);
    assert_int_equal(mock_http(&call, &f->c, "POST", "/_mock/fail",
                               "{\"status\":1000}", NULL), 0);
    assert_int_equal(call.status, 400);
    assert_non_null(strstr(mock_json_str(call.json, "error"), "status"));
    mock_call_cleanup(&call);
    assert_int_equal(mock_http(&call, &f->c, "POST", "/_mock/fail",
                               "{\"opp\":\"send\"}", NULL), 0);
    assert_int_equal(call.status, 400);
    assert_non_null(strstr(mock_json_str(call.json, "error"), "opp"));
    mock_call_cleanup(&call);
    assert_int_equal(mock_http(&call, &f->c, "POST", "/_mock/fail", "x",
                               NULL), 0);
    assert_int_equal(call.status, 400);
    mock_call_cleanup(&call);
    assert_int_equal(call_status(f, "send", "c"), 200);
}

static void test_fail_rule_delay_holds_without_blocking(void **state)
{
    fixture *f = *state;
    CURLM *multi = curl_multi_init();
    mock_call slow;
    char body[512];
    cJSON *list;

    start(f, NULL);
    /* A 2xx rule only delays the usual answer. */
    add_fail(f, "{\"op\":\"send\",\"status\":200,\"delay_ms\":1500}");
    body_of(body, sizeof body, "send", "c1");
    assert_int_equal(mock_call_init(&slow, &f->c, "POST", "/hook", body,
                                    NULL), 0);
    curl_multi_add_handle(multi, slow.easy);
    assert_int_equal(mock_wait_number(&f->c, multi, "/_mock/stats",
                                      "delayed", 1, 0), 0);
    assert_int_equal(call_status(f, "stop_typing", "c1"), 200);
    /* Recorded at once, with no status until it is answered. */
    list = calls(f, "?op=send");
    assert_true(cJSON_IsNull(mock_json_at(list, "calls.0.status")));
    cJSON_Delete(list);
    while (mock_multi_pump(multi, 1000) > 0) {
    }
    mock_call_done(&slow);
    assert_int_equal(slow.status, 200);
    assert_string_equal(mock_json_str(slow.json, "message_id"), "mock-1");
    curl_multi_remove_handle(multi, slow.easy);
    mock_call_cleanup(&slow);
    curl_multi_cleanup(multi);
    list = calls(f, "?op=send");
    assert_int_equal(mock_json_num(list, "calls.0.status"), 200);
    cJSON_Delete(list);
}

static void test_latency_option_delays_every_call(void **state)
{
    fixture *f = *state;
    static const char *const args[] = { "--latency-ms", "1000", NULL };
    CURLM *multi = curl_multi_init();
    mock_call slow;
    char body[512];

    start(f, args);
    body_of(body, sizeof body, "send", "c1");
    assert_int_equal(mock_call_init(&slow, &f->c, "POST", "/hook", body,
                                    NULL), 0);
    curl_multi_add_handle(multi, slow.easy);
    assert_int_equal(mock_wait_number(&f->c, multi, "/_mock/stats",
                                      "delayed", 1, 0), 0);
    while (mock_multi_pump(multi, 1000) > 0) {
    }
    mock_call_done(&slow);
    assert_int_equal(slow.status, 200);
    curl_multi_remove_handle(multi, slow.easy);
    mock_call_cleanup(&slow);
    curl_multi_cleanup(multi);
}

static void test_fail_rule_hang_until_release(void **state)
{
    fixture *f = *state;
    CURLM *multi = curl_multi_init();
    mock_call hung;
    mock_call call;
    char body[512];

    start(f, NULL);
    add_fail(f, "{\"op\":\"send\",\"hang\":true,\"status\":502}");
    body_of(body, sizeof body, "send", "c1");
    assert_int_equal(mock_call_init(&hung, &f->c, "POST", "/hook", body,
                                    NULL), 0);
    curl_multi_add_handle(multi, hung.easy);
    assert_int_equal(mock_wait_number(&f->c, multi, "/_mock/stats", "hung",
                                      1, 0), 0);
    assert_int_equal(mock_http(&call, &f->c, "POST", "/_mock/release", NULL,
                               NULL), 0);
    assert_int_equal(mock_json_num(call.json, "released"), 1);
    mock_call_cleanup(&call);
    while (mock_multi_pump(multi, 1000) > 0) {
    }
    mock_call_done(&hung);
    assert_int_equal(hung.status, 502);
    assert_string_equal(mock_json_str(hung.json, "error"), "injected");
    curl_multi_remove_handle(multi, hung.easy);
    mock_call_cleanup(&hung);
    curl_multi_cleanup(multi);
}

static void test_hang_client_gone_frees_state(void **state)
{
    fixture *f = *state;
    CURLM *multi = curl_multi_init();
    mock_call hung;
    char body[512];

    start(f, NULL);
    add_fail(f, "{\"hang\":true}");
    body_of(body, sizeof body, "send", "c1");
    assert_int_equal(mock_call_init(&hung, &f->c, "POST", "/hook", body,
                                    NULL), 0);
    curl_multi_add_handle(multi, hung.easy);
    assert_int_equal(mock_wait_number(&f->c, multi, "/_mock/stats", "hung",
                                      1, 0), 0);
    curl_multi_remove_handle(multi, hung.easy);
    mock_call_cleanup(&hung);
    curl_multi_cleanup(multi);
    assert_int_equal(mock_wait_number(&f->c, NULL, "/_mock/stats", "hung",
                                      0, 1), 0);
}

/* ---- the call list ---------------------------------------------------- */

static void test_calls_filters_since_and_limit(void **state)
{
    fixture *f = *state;
    cJSON *list;

    start(f, NULL);
    assert_int_equal(call_status(f, "send", "a"), 200);
    assert_int_equal(call_status(f, "send", "b"), 200);
    assert_int_equal(call_status(f, "start_typing", "a"), 200);
    assert_int_equal(call_status(f, "send", "a"), 200);

    list = calls(f, "?op=send");
    assert_int_equal(cJSON_GetArraySize(mock_json_at(list, "calls")), 3);
    cJSON_Delete(list);
    list = calls(f, "?channel_id=a");
    assert_int_equal(cJSON_GetArraySize(mock_json_at(list, "calls")), 3);
    cJSON_Delete(list);
    list = calls(f, "?op=send&channel_id=a&since=2");
    assert_int_equal(cJSON_GetArraySize(mock_json_at(list, "calls")), 1);
    assert_int_equal(mock_json_num(list, "calls.0.seq"), 4);
    assert_int_equal(mock_json_num(list, "next"), 5);
    cJSON_Delete(list);
    list = calls(f, "?limit=1&since=2");
    assert_int_equal(cJSON_GetArraySize(mock_json_at(list, "calls")), 1);
    assert_int_equal(mock_json_num(list, "calls.0.seq"), 2);
    assert_int_equal(mock_json_num(list, "next"), 3);
    cJSON_Delete(list);
}

static void test_calls_long_poll_with_filter(void **state)
{
    fixture *f = *state;
    CURLM *multi = curl_multi_init();
    mock_call poll;
    mock_call call;

    start(f, NULL);
    assert_int_equal(mock_call_init(&poll, &f->c, "GET",
                                    "/_mock/calls?since=1&channel_id=z&"
                                    "wait_ms=30000", NULL, NULL), 0);
    curl_multi_add_handle(multi, poll.easy);
    assert_int_equal(mock_wait_number(&f->c, multi, "/_mock/stats",
                                      "waiting", 1, 0), 0);
    /* A call for another channel leaves the poll waiting. */
    assert_int_equal(call_status(f, "send", "other"), 200);
    assert_int_equal(mock_http(&call, &f->c, "GET", "/_mock/stats", NULL,
                               NULL), 0);
    assert_int_equal(mock_json_num(call.json, "waiting"), 1);
    mock_call_cleanup(&call);
    assert_int_equal(call_status(f, "send", "z"), 200);
    while (mock_multi_pump(multi, 1000) > 0) {
    }
    mock_call_done(&poll);
    assert_int_equal(poll.status, 200);
    assert_int_equal(cJSON_GetArraySize(mock_json_at(poll.json, "calls")),
                     1);
    assert_string_equal(mock_json_str(poll.json, "calls.0.channel_id"), "z");
    assert_int_equal(mock_json_num(poll.json, "calls.0.status"), 200);
    assert_int_equal(mock_json_num(poll.json, "next"), 3);
    curl_multi_remove_handle(multi, poll.easy);
    mock_call_cleanup(&poll);

    /* A poll whose client leaves is dropped too. */
    assert_int_equal(mock_call_init(&poll, &f->c, "GET",
                                    "/_mock/calls?since=3&wait_ms=30000",
                                    NULL, NULL), 0);
    curl_multi_add_handle(multi, poll.easy);
    assert_int_equal(mock_wait_number(&f->c, multi, "/_mock/stats",
                                      "waiting", 1, 0), 0);
    curl_multi_remove_handle(multi, poll.easy);
    mock_call_cleanup(&poll);
    curl_multi_cleanup(multi);
    assert_int_equal(mock_wait_number(&f->c, NULL, "/_mock/stats",
                                      "waiting", 0, 1), 0);
}

static void test_calls_bounded_and_cleared(void **state)
{
    fixture *f = *state;
    static const char *const args[] = { "--max-records", "2", NULL };
    mock_call call;
    cJSON *list;
    int i;

    start(f, args);
    for (i = 0; i < 5; i++) {
        assert_int_equal(call_status(f, "send", "c"), 200);
    }
    list = calls(f, "");
    assert_int_equal(cJSON_GetArraySize(mock_json_at(list, "calls")), 2);
    assert_int_equal(mock_json_num(list, "calls.0.seq"), 4);
    assert_int_equal(mock_json_num(list, "dropped"), 3);
    cJSON_Delete(list);
    assert_int_equal(mock_http(&call, &f->c, "DELETE", "/_mock/calls", NULL,
                               NULL), 0);
    assert_int_equal(call.status, 200);
    mock_call_cleanup(&call);
    list = calls(f, "");
    assert_int_equal(cJSON_GetArraySize(mock_json_at(list, "calls")), 0);
    assert_int_equal(mock_json_num(list, "next"), 6);
    cJSON_Delete(list);
    /* message ids keep counting after a clear. */
    platform_call(&call, f, "send", "c");
    assert_string_equal(mock_json_str(call.json, "message_id"), "mock-6");
    mock_call_cleanup(&call);
}

static void test_log_file_and_health(void **state)
{
    fixture *f = *state;
    char path[300];
    const char *args[3] = { "--log", path, NULL };
    mock_call call;
    char line[4096];
    int lines = 0;
    FILE *fp;

    assert_int_equal(mock_child_path(&f->c, "calls.jsonl", path,
                                     sizeof path), 0);
    start(f, args);
    assert_int_equal(mock_http(&call, &f->c, "GET", "/healthz", NULL, NULL),
                     0);
    assert_int_equal(call.status, 200);
    mock_call_cleanup(&call);
    assert_int_equal(call_status(f, "send", "c9"), 200);
    assert_int_equal(call_status(f, "set_presence", "c9"), 200);
    fp = fopen(path, "r");
    assert_non_null(fp);
    while (fgets(line, sizeof line, fp) != NULL) {
        cJSON *j = cJSON_Parse(line);

        assert_non_null(j);
        lines++;
        assert_int_equal(mock_json_num(j, "seq"), lines);
        assert_string_equal(mock_json_str(j, "channel_id"), "c9");
        cJSON_Delete(j);
    }
    fclose(fp);
    assert_int_equal(lines, 2);
}

/* SIGINT stops the mock with status 0, and a second signal during the
 * shutdown (here the SIGTERM of mock_child_stop right after) must not
 * turn that into a death by signal. Repeated: the window is small. */
static void test_sigint_then_sigterm_exits_0(void **state)
{
    fixture *f = *state;
    int i;

    for (i = 0; i < 5; i++) {
        if (i > 0) {
            assert_int_equal(mock_child_init(&f->c), 0);
        }
        start(f, NULL);
        assert_int_equal(mock_child_kill(&f->c, SIGINT), 0);
        assert_int_equal(mock_child_stop(&f->c), 0);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_call_recorded_and_answered_with_message_id, setup,
            teardown),
        cmocka_unit_test_setup_teardown(test_call_not_json_400_recorded,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_get_405_and_oversized_413,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fail_rules_filter_by_op_channel_and_times, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_rule_invalid_is_refused,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_fail_rule_delay_holds_without_blocking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_latency_option_delays_every_call,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_fail_rule_hang_until_release,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_hang_client_gone_frees_state,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_calls_filters_since_and_limit,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_calls_long_poll_with_filter,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_calls_bounded_and_cleared,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_file_and_health, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sigint_then_sigterm_exits_0, setup,
                                        teardown),
    };
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s <path of sg-mock-platform>\n", argv[0]);
        return 2;
    }
    exe = argv[1];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests_name("sg-mock-platform", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
