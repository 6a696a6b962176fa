/*
 * test_mock_llm.c: sg-mock-llm as a black box. Each test starts the real
 * executable (path in argv[1]) on an ephemeral port, talks HTTP to it
 * with libcurl and stops it with SIGTERM, which must exit 0.
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

/* Stops the mock: SIGTERM must end it with status 0. */
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

static void set_script(fixture *f, const char *script)
{
    mock_call call;

    assert_int_equal(mock_http(&call, &f->c, "PUT", "/_mock/script", script,
                               NULL), 0);
    assert_int_equal(call.status, 200);
    mock_call_cleanup(&call);
}

/* A chat completion request whose last user message is text (no quotes
 * or backslashes in text). */
static void chat(mock_call *call, fixture *f, const char *text,
                 const char *header)
{
    char body[512];

    snprintf(body, sizeof body,
             "{\"model\":\"m-1\",\"messages\":["
             "{\"role\":\"system\",\"content\":\"be brief\"},"
             "{\"role\":\"user\",\"content\":\"first\"},"
             "{\"role\":\"assistant\",\"content\":\"ok\"},"
             "{\"role\":\"user\",\"content\":\"%s\"}]}", text);
    assert_int_equal(mock_http(call, &f->c, "POST", "/v1/chat/completions",
                               body, header), 0);
}

static void assert_reply(fixture *f, const char *text, const char *reply)
{
    mock_call call;

    chat(&call, f, text, NULL);
    assert_int_equal(call.status, 200);
    assert_non_null(mock_json_str(call.json, "choices.0.message.content"));
    assert_string_equal(mock_json_str(call.json,
                                      "choices.0.message.content"), reply);
    mock_call_cleanup(&call);
}

/* ---- chat completions ------------------------------------------------- */

static void test_chat_default_echo_openai_shape(void **state)
{
    fixture *f = *state;
    mock_call call;
    const char *id;

    start(f, NULL);
    chat(&call, f, "hello there", NULL);
    assert_int_equal(call.status, 200);
    assert_non_null(call.json);
    id = mock_json_str(call.json, "id");
    assert_non_null(id);
    assert_true(strncmp(id, "chatcmpl-mock-", 14) == 0);
    assert_string_equal(mock_json_str(call.json, "object"),
                        "chat.completion");
    assert_true(mock_json_num(call.json, "created") > 1.6e9);
    assert_string_equal(mock_json_str(call.json, "model"), "m-1");
    assert_int_equal(mock_json_num(call.json, "choices.0.index"), 0);
    assert_string_equal(mock_json_str(call.json, "choices.0.message.role"),
                        "assistant");
    assert_string_equal(mock_json_str(call.json,
                                      "choices.0.message.content"),
                        "echo: hello there");
    assert_string_equal(mock_json_str(call.json, "choices.0.finish_reason"),
                        "stop");
    assert_true(mock_json_num(call.json, "usage.prompt_tokens") > 0);
    assert_true(mock_json_num(call.json, "usage.total_tokens") >=
                mock_json_num(call.json, "usage.completion_tokens"));
    mock_call_cleanup(&call);

    /* The path without /v1, and "mock" as the model when none is sent. */
    assert_int_equal(mock_http(&call, &f->c, "POST", "/chat/completions",
                               "{\"messages\":[{\"role\":\"user\","
                               "\"content\":[{\"type\":\"text\",\"text\":"
                               "\"parts\"}]}]}", NULL), 0);
    assert_int_equal(call.status, 200);
    assert_string_equal(mock_json_str(call.json, "model"), "mock");
    assert_string_equal(mock_json_str(call.json,
                                      "choices.0.message.content"),
                        "echo: parts");
    mock_call_cleanup(&call);
}

static void test_chat_rules_substring_and_regex(void **state)
{
    fixture *f = *state;

    start(f, NULL);
    set_script(f, "{\"rules\":["
               "{\"match\":\"weather\",\"reply\":\"sunny\"},"
               "{\"match\":\"^order [0-9]+$\",\"regex\":true,"
               "\"reply\":\"order found\"},"
               "{\"match\":\"[0-9]\",\"reply\":\"literal bracket\"}]}");
    assert_reply(f, "how is the weather today", "sunny");
    assert_reply(f, "order 42", "order found");
    /* Not a regex rule: the brackets are matched literally. */
    assert_reply(f, "order 42 please", "echo: order 42 please");
    assert_reply(f, "a [0-9] b", "literal bracket");
    /* Rules look at the last user message only. */
    assert_reply(f, "first", "echo: first");
}

static void test_chat_rule_times(void **state)
{
    fixture *f = *state;

    start(f, NULL);
    set_script(f, "{\"rules\":[{\"match\":\"x\",\"reply\":\"one\","
               "\"times\":2},{\"match\":\"x\",\"reply\":\"two\"}]}");
    assert_reply(f, "x", "one");
    assert_reply(f, "x", "one");
    assert_reply(f, "x", "two");
    assert_reply(f, "x", "two");
    /* A new script starts the counts again. */
    set_script(f, "{\"rules\":[{\"match\":\"x\",\"reply\":\"again\","
               "\"times\":1}]}");
    assert_reply(f, "x", "again");
    assert_reply(f, "x", "echo: x");
}

static void test_chat_error_statuses(void **state)
{
    fixture *f = *state;
    mock_call call;

    start(f, NULL);
    set_script(f, "{\"rules\":["
               "{\"match\":\"slow down\",\"status\":429,"
               "\"error\":\"too fast\"},"
               "{\"match\":\"crash\",\"status\":500}]}");
    chat(&call, f, "please slow down", NULL);
    assert_int_equal(call.status, 429);
    assert_string_equal(call.retry_after, "0");
    assert_string_equal(mock_json_str(call.json, "error.message"),
                        "too fast");
    assert_non_null(mock_json_str(call.json, "error.type"));
    mock_call_cleanup(&call);

    chat(&call, f, "crash now", NULL);
    assert_int_equal(call.status, 500);
    assert_string_equal(call.retry_after, "");
    assert_non_null(mock_json_str(call.json, "error.message"));
    assert_string_equal(mock_json_str(call.json, "error.type"),
                        "server_error");
    mock_call_cleanup(&call);
}

static void test_chat_tool_calls_shape(void **state)
{
    fixture *f = *state;
    mock_call call;
    const char *args;
    cJSON *parsed;

    start(f, NULL);
    set_script(f, "{\"rules\":[{\"match\":\"time\",\"tool_calls\":["
               "{\"name\":\"get_time\",\"arguments\":{\"tz\":\"UTC\"}},"
               "{\"name\":\"noop\"}]}]}");
    chat(&call, f, "what time is it", NULL);
    assert_int_equal(call.status, 200);
    assert_string_equal(mock_json_str(call.json, "choices.0.finish_reason"),
                        "tool_calls");
    assert_true(cJSON_IsNull(mock_json_at(call.json,
                                          "choices.0.message.content")));
    assert_int_equal(cJSON_GetArraySize(mock_json_at(
        call.json, "choices.0.message.tool_calls")), 2);
    assert_non_null(mock_json_str(call.json,
                                  "choices.0.message.tool_calls.0.id"));
    assert_string_equal(mock_json_str(call.json,
                        "choices.0.message.tool_calls.0.type"), "function");
    assert_string_equal(mock_json_str(call.json,
                        "choices.0.message.tool_calls.0.function.name"),
                        "get_time");
    /* arguments is JSON text, as OpenAI sends it. */
    args = mock_json_str(call.json,
                         "choices.0.message.tool_calls.0.function.arguments");
    assert_non_null(args);
    parsed = cJSON_Parse(args);
    assert_string_equal(mock_json_str(parsed, "tz"), "UTC");
    cJSON_Delete(parsed);
    assert_string_equal(mock_json_str(call.json,
                        "choices.0.message.tool_calls.1.function.arguments"),
                        "{}");
    mock_call_cleanup(&call);
}

static void test_chat_api_key_401(void **state)
{
    fixture *f = *state;
    static const char *const args[] = { "--api-key", "k-123", NULL };
    mock_call call;

    start(f, args);
    chat(&call, f, "hi", NULL);
    assert_int_equal(call.status, 401);
    assert_non_null(mock_json_str(call.json, "error.message"));
    mock_call_cleanup(&call);
    chat(&call, f, "hi", "Authorization: Bearer wrong");
    assert_int_equal(call.status, 401);
    mock_call_cleanup(&call);
    chat(&call, f, "hi", "Authorization: Bearer k-123");
    assert_int_equal(call.status, 200);
    mock_call_cleanup(&call);
}

static void test_chat_invalid_json_400(void **state)
{
    fixture *f = *state;
    mock_call call;

    start(f, NULL);
    assert_int_equal(mock_http(&call, &f->c, "POST", "/v1/chat/completions",
                               "{not json", NULL), 0);
    assert_int_equal(call.status, 400);
    assert_string_equal(mock_json_str(call.json, "error.type"),
                        "invalid_request_error");
    mock_call_cleanup(&call);
    assert_int_equal(mock_http(&call, &f->c, "POST", "/v1/chat/completions",
                               "{\"messages\":\"no\"}", NULL), 0);
    assert_int_equal(call.status, 400);
    assert_non_null(strstr(mock_json_str(call.json, "error.message"),
                           "messages"));
    mock_call_cleanup(&call);
}

/* The answer byte for byte (but for "created", which is the clock): the
 * strings escaped as cJSON prints them, integers without a fraction,
 * `usage` counting whitespace-separated words of every string content
 * (here 3 + 1 + 5 = 9 prompt words, 6 in the reply: \b is no space,
 * \f is). */
static void test_chat_answer_exact_bytes(void **state)
{
    static const char request[] =
        "{\"model\":\"m\\\"x\",\"messages\":["
        "{\"role\":\"system\",\"content\":\"be\\tvery  brief\"},"
        "{\"role\":\"tool\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}]},"
        "{\"role\":\"assistant\",\"content\":\"ok\"},"
        "{\"role\":\"user\",\"content\":"
        "\"q\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0001\\u00e9 \xc3\xa9 a\\u0020b\"}]}";
    static const char expect_fmt[] =
        "{\"id\":\"chatcmpl-mock-1\",\"object\":\"chat.completion\","
        "\"created\":%.0f,\"model\":\"m\\\"x\",\"choices\":[{\"index\":0,"
        "\"message\":{\"role\":\"assistant\",\"content\":"
        "\"echo: q\\\"\\\\/\\b\\f\\n\\r\\t\\u0001\xc3\xa9 \xc3\xa9 a b\"},"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":9,"
        "\"completion_tokens\":6,\"total_tokens\":15}}";
    static const char tools_fmt[] =
        "{\"id\":\"chatcmpl-mock-2\",\"object\":\"chat.completion\","
        "\"created\":%.0f,\"model\":\"mock\",\"choices\":[{\"index\":0,"
        "\"message\":{\"role\":\"assistant\",\"content\":\"calling\","
        "\"tool_calls\":[{\"id\":\"call_mock_2_0\",\"type\":\"function\","
        "\"function\":{\"name\":\"get_time\",\"arguments\":"
        "\"{\\\"tz\\\":\\\"UTC\\\"}\"}},{\"id\":\"call_mock_2_1\","
        "\"type\":\"function\",\"function\":{\"name\":\"noop\","
        "\"arguments\":\"{}\"}}]},\"finish_reason\":\"tool_calls\"}],"
        "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":3,"
        "\"total_tokens\":6}}";
    fixture *f = *state;
    mock_call call;
    char expect[1024];

    start(f, NULL);
    assert_int_equal(mock_http(&call, &f->c, "POST", "/v1/chat/completions",
                               request, NULL), 0);
    assert_int_equal(call.status, 200);
    snprintf(expect, sizeof expect, expect_fmt,
             mock_json_num(call.json, "created"));
    assert_string_equal(call.body, expect);
    mock_call_cleanup(&call);

    set_script(f, "{\"rules\":[{\"match\":\"time\",\"reply\":\"calling\","
               "\"tool_calls\":[{\"name\":\"get_time\",\"arguments\":"
               "{\"tz\":\"UTC\"}},{\"name\":\"noop\"}]}]}");
    assert_int_equal(mock_http(&call, &f->c, "POST", "/chat/completions",
                               "{\"messages\":[{\"role\":\"user\","
                               "\"content\":\"what time  now\"}]}",
                               NULL), 0);
    assert_int_equal(call.status, 200);
    snprintf(expect, sizeof expect, tools_fmt,
             mock_json_num(call.json, "created"));
    assert_string_equal(call.body, expect);
    mock_call_cleanup(&call);
}

/* Requests that are JSON in ways a reader could get wrong: keys repeated
 * (the first one counts), escaped keys, other types where strings are
 * expected, a top level that is not an object, text after the value, a
 * byte-order mark. Each answer is what a cJSON tree of the body gives. */
static void test_chat_unusual_json(void **state)
{
    static const struct {
        const char *body;
        int status;
        const char *content; /* NULL: not checked */
        const char *model;   /* NULL: not checked */
    } cases[] = {
        { "{\"model\":\"a\",\"model\":\"b\",\"messages\":[{\"role\":\"user\","
          "\"content\":\"one\",\"content\":\"two\"}]}", 200, "echo: one",
          "a" },
        { "{\"model\":7,\"model\":\"b\",\"messages\":[]}", 200, "echo: ",
          "mock" },
        { "{\"m\\u006fdel\":\"esc\",\"messages\":[{\"r\\u006fle\":\"user\","
          "\"content\":\"k\"}]}", 200, "echo: k", "esc" },
        { "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
          "{\"role\":\"user\",\"content\":5},\"x\",[1],null]}", 200,
          "echo: ", NULL },
        { "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"},"
          "{\"text\":1},\"s\",{\"type\":\"image\"},{\"text\":\"b\"}]}]}",
          200, "echo: a\nb", NULL },
        { "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]} trailing",
          200, "echo: a", NULL },
        { "\xef\xbb\xbf{\"messages\":[{\"role\":\"user\",\"content\":\"b\"}]}",
          200, "echo: b", NULL },
        { " \r\n\t{ \"messages\" : [ { \"content\" : \"c\" , \"role\" : "
          "\"user\" } ] , \"n\" : [ -1.5e3 , 0 , true , false , null , {} ] }",
          200, "echo: c", NULL },
        { "{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud83d\\ude00\"}"
          "]}", 200, "echo: \xf0\x9f\x98\x80", NULL },
        { "{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud83d\"}]}", 400,
          NULL, NULL },
        { "[{\"messages\":[]}]", 400, NULL, NULL },
        { "{\"messages\":{}}", 400, NULL, NULL },
        { "{\"messages\":[],}", 400, NULL, NULL },
        { "{\"messages\":[01]}", 200, "echo: ", NULL },
        { "", 400, NULL, NULL },
    };
    fixture *f = *state;
    mock_call call;
    size_t i;

    start(f, NULL);
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(mock_http(&call, &f->c, "POST",
                                   "/v1/chat/completions", cases[i].body,
                                   NULL), 0);
        if (call.status != cases[i].status) {
            fail_msg("case %zu: status %ld, want %d", i, call.status,
                     cases[i].status);
        }
        if (cases[i].content != NULL) {
            assert_string_equal(mock_json_str(call.json,
                                              "choices.0.message.content"),
                                cases[i].content);
        }
        if (cases[i].model != NULL) {
            assert_string_equal(mock_json_str(call.json, "model"),
                                cases[i].model);
        }
        mock_call_cleanup(&call);
    }
}

static void test_chat_oversized_body_413(void **state)
{
    fixture *f = *state;
    size_t n = 1024 * 1024;
    char *big = malloc(n + 2);
    mock_call call;

    assert_non_null(big);
    start(f, NULL);
    /* Exactly the limit is read (and refused as JSON); one byte more is
     * 413. */
    memset(big, 'a', n);
    big[n] = '\0';
    assert_int_equal(mock_http(&call, &f->c, "POST", "/v1/chat/completions",
                               big, NULL), 0);
    assert_int_equal(call.status, 400);
    mock_call_cleanup(&call);
    big[n] = 'a';
    big[n + 1] = '\0';
    assert_int_equal(mock_http(&call, &f->c, "POST", "/v1/chat/completions",
                               big, NULL), 0);
    assert_int_equal(call.status, 413);
    mock_call_cleanup(&call);
    free(big);
    /* The mock is still serving. */
    assert_reply(f, "after", "echo: after");
}

static void test_chat_latency_holds_without_blocking(void **state)
{
    fixture *f = *state;
    CURLM *multi = curl_multi_init();
    mock_call slow;

    start(f, NULL);
    set_script(f, "{\"rules\":[{\"match\":\"slow\",\"latency_ms\":1500}]}");
    assert_int_equal(mock_call_init(&slow, &f->c, "POST",
                                    "/v1/chat/completions",
                                    "{\"messages\":[{\"role\":\"user\","
                                    "\"content\":\"slow\"}]}", NULL), 0);
    curl_multi_add_handle(multi, slow.easy);
    assert_int_equal(mock_wait_number(&f->c, multi, "/_mock/stats",
                                      "delayed", 1, 0), 0);
    /* While one answer waits on its timer, others are served. */
    assert_reply(f, "fast", "echo: fast");
    while (mock_multi_pump(multi, 1000) > 0) {
    }
    mock_call_done(&slow);
    assert_int_equal(slow.status, 200);
    assert_string_equal(mock_json_str(slow.json,
                                      "choices.0.message.content"),
                        "echo: slow");
    curl_multi_remove_handle(multi, slow.easy);
    mock_call_cleanup(&slow);
    curl_multi_cleanup(multi);
}

static void test_chat_hang_until_release(void **state)
{
    fixture *f = *state;
    CURLM *multi = curl_multi_init();
    mock_call hung;
    mock_call call;

    start(f, NULL);
    set_script(f, "{\"rules\":[{\"match\":\"stuck\",\"hang\":true,"
               "\"reply\":\"unstuck\"}]}");
    assert_int_equal(mock_call_init(&hung, &f->c, "POST",
                                    "/v1/chat/completions",
                                    "{\"messages\":[{\"role\":\"user\","
                                    "\"content\":\"stuck\"}]}", NULL), 0);
    curl_multi_add_handle(multi, hung.easy);
    assert_int_equal(mock_wait_number(&f->c, multi, "/_mock/stats", "hung",
                                      1, 0), 0);
    /* Recorded (control requests are not), with no status while it
     * hangs. */
    assert_int_equal(mock_http(&call, &f->c, "GET", "/_mock/requests", NULL,
                               NULL), 0);
    assert_true(cJSON_IsNull(mock_json_at(call.json, "requests.0.status")));
    mock_call_cleanup(&call);

    assert_int_equal(mock_http(&call, &f->c, "POST", "/_mock/release", NULL,
                               NULL), 0);
    assert_int_equal(mock_json_num(call.json, "released"), 1);
    mock_call_cleanup(&call);
    while (mock_multi_pump(multi, 1000) > 0) {
    }
    mock_call_done(&hung);
    assert_int_equal(hung.status, 200);
    assert_string_equal(mock_json_str(hung.json,
                                      "choices.0.message.content"),
                        "unstuck");
    curl_multi_remove_handle(multi, hung.easy);
    mock_call_cleanup(&hung);
    curl_multi_cleanup(multi);

    assert_int_equal(mock_http(&call, &f->c, "GET", "/_mock/requests", NULL,
                               NULL), 0);
    assert_int_equal(mock_json_num(call.json, "requests.0.status"), 200);
    mock_call_cleanup(&call);
}

static void test_chat_hang_client_gone_frees_state(void **state)
{
    fixture *f = *state;
    CURLM *multi = curl_multi_init();
    mock_call hung;
    mock_call call;

    start(f, NULL);
    set_script(f, "{\"rules\":[{\"match\":\"stuck\",\"hang\":true}]}");
    assert_int_equal(mock_call_init(&hung, &f->c, "POST",
                                    "/v1/chat/completions",
                                    "{\"messages\":[{\"role\":\"user\","
                                    "\"content\":\"stuck\"}]}", NULL), 0);
    curl_multi_add_handle(multi, hung.easy);
    assert_int_equal(mock_wait_number(&f->c, multi, "/_mock/stats", "hung",
                                      1, 0), 0);
    /* The client gives up: the mock notices and drops the held request. */
    curl_multi_remove_handle(multi, hung.easy);
    mock_call_cleanup(&hung);
    curl_multi_cleanup(multi);
    assert_int_equal(mock_wait_number(&f->c, NULL, "/_mock/stats", "hung",
                                      0, 1), 0);
    assert_int_equal(mock_http(&call, &f->c, "POST", "/_mock/release", NULL,
                               NULL), 0);
    assert_int_equal(mock_json_num(call.json, "released"), 0);
    mock_call_cleanup(&call);
}

/* ---- the request log -------------------------------------------------- */

static void test_requests_recorded_since_and_long_poll(void **state)
{
    fixture *f = *state;
    CURLM *multi = curl_multi_init();
    mock_call call;
    mock_call poll;
    char path[128];
    double next;

    start(f, NULL);
    chat(&call, f, "one", "Authorization: Bearer abc");
    mock_call_cleanup(&call);
    chat(&call, f, "two", NULL);
    mock_call_cleanup(&call);

    assert_int_equal(mock_http(&call, &f->c, "GET", "/_mock/requests", NULL,
                               NULL), 0);
    assert_int_equal(call.status, 200);
    assert_int_equal(cJSON_GetArraySize(mock_json_at(call.json,
                                                      "requests")), 2);
    assert_int_equal(mock_json_num(call.json, "requests.0.seq"), 1);
    assert_true(mock_json_num(call.json, "requests.0.time_ms") > 1.6e12);
    assert_string_equal(mock_json_str(call.json, "requests.0.path"),
                        "/v1/chat/completions");
    assert_string_equal(mock_json_str(call.json,
                                      "requests.0.authorization"),
                        "Bearer abc");
    assert_true(cJSON_IsNull(mock_json_at(call.json,
                                          "requests.1.authorization")));
    assert_string_equal(mock_json_str(call.json,
                                      "requests.1.body.messages.3.content"),
                        "two");
    assert_int_equal(mock_json_num(call.json, "requests.1.status"), 200);
    assert_int_equal(mock_json_num(call.json, "dropped"), 0);
    next = mock_json_num(call.json, "next");
    assert_int_equal(next, 3);
    mock_call_cleanup(&call);

    /* since: only the newer records. */
    assert_int_equal(mock_http(&call, &f->c, "GET", "/_mock/requests?since=2",
                               NULL, NULL), 0);
    assert_int_equal(cJSON_GetArraySize(mock_json_at(call.json,
                                                      "requests")), 1);
    assert_int_equal(mock_json_num(call.json, "requests.0.seq"), 2);
    mock_call_cleanup(&call);

    /* Nothing new within wait_ms: an empty list, next unchanged. */
    assert_int_equal(mock_http(&call, &f->c, "GET",
                               "/_mock/requests?since=3&wait_ms=50",
                               NULL, NULL), 0);
    assert_int_equal(cJSON_GetArraySize(mock_json_at(call.json,
                                                      "requests")), 0);
    assert_int_equal(mock_json_num(call.json, "next"), 3);
    mock_call_cleanup(&call);

    /* A long poll is answered by the next request. */
    snprintf(path, sizeof path, "/_mock/requests?since=%.0f&wait_ms=30000",
             next);
    assert_int_equal(mock_call_init(&poll, &f->c, "GET", path, NULL, NULL),
                     0);
    curl_multi_add_handle(multi, poll.easy);
    assert_int_equal(mock_wait_number(&f->c, multi, "/_mock/stats",
                                      "waiting", 1, 0), 0);
    chat(&call, f, "three", NULL);
    mock_call_cleanup(&call);
    while (mock_multi_pump(multi, 1000) > 0) {
    }
    mock_call_done(&poll);
    assert_int_equal(poll.status, 200);
    assert_int_equal(cJSON_GetArraySize(mock_json_at(poll.json,
                                                      "requests")), 1);
    assert_string_equal(mock_json_str(poll.json,
                                      "requests.0.body.messages.3.content"),
                        "three");
    /* Answered at once, so listed with its status. */
    assert_int_equal(mock_json_num(poll.json, "requests.0.status"), 200);
    assert_int_equal(mock_json_num(poll.json, "next"), 4);
    curl_multi_remove_handle(multi, poll.easy);
    mock_call_cleanup(&poll);
    curl_multi_cleanup(multi);

    /* DELETE empties the log; seq keeps counting. */
    assert_int_equal(mock_http(&call, &f->c, "DELETE", "/_mock/requests",
                               NULL, NULL), 0);
    assert_int_equal(call.status, 200);
    mock_call_cleanup(&call);
    chat(&call, f, "four", NULL);
    mock_call_cleanup(&call);
    assert_int_equal(mock_http(&call, &f->c, "GET", "/_mock/requests", NULL,
                               NULL), 0);
    assert_int_equal(cJSON_GetArraySize(mock_json_at(call.json,
                                                      "requests")), 1);
    assert_int_equal(mock_json_num(call.json, "requests.0.seq"), 4);
    mock_call_cleanup(&call);
}

/* The journal shows each body as parsed JSON printed compact, whatever
 * the spacing it came with, and null for a body that is not JSON; the
 * --log line shows the same. */
static void test_requests_body_parsed_or_null(void **state)
{
    static const char expect[] =
        "{\"requests\":[{\"seq\":1,\"time_ms\":%.0f,\"path\":"
        "\"/v1/chat/completions\",\"authorization\":null,\"body\":"
        "{\"model\":\"m\",\"temperature\":0.7,\"max_tokens\":100,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"a\xc3\xa9\\n\"}]},"
        "\"status\":200},{\"seq\":2,\"time_ms\":%.0f,\"path\":"
        "\"/chat/completions\",\"authorization\":null,\"body\":null,"
        "\"status\":400}],\"next\":3,\"dropped\":0}";
    fixture *f = *state;
    char path[300];
    const char *args[3] = { "--log", path, NULL };
    mock_call call;
    char want[1024];
    char line[1024];
    FILE *fp;

    assert_int_equal(mock_child_path(&f->c, "log.jsonl", path,
                                     sizeof path), 0);
    start(f, args);
    assert_int_equal(mock_http(&call, &f->c, "POST", "/v1/chat/completions",
                               " { \"model\" : \"m\",\n \"temperature\" : "
                               "0.7, \"max_tokens\": 1e2, \"messages\" : [ "
                               "{ \"role\" : \"user\", \"content\" : "
                               "\"a\\u00e9\\n\" } ] }\n", NULL), 0);
    assert_int_equal(call.status, 200);
    mock_call_cleanup(&call);
    assert_int_equal(mock_http(&call, &f->c, "POST", "/chat/completions",
                               "{\"messages\": [", NULL), 0);
    assert_int_equal(call.status, 400);
    mock_call_cleanup(&call);

    assert_int_equal(mock_http(&call, &f->c, "GET", "/_mock/requests", NULL,
                               NULL), 0);
    assert_int_equal(call.status, 200);
    snprintf(want, sizeof want, expect,
             mock_json_num(call.json, "requests.0.time_ms"),
             mock_json_num(call.json, "requests.1.time_ms"));
    assert_string_equal(call.body, want);
    mock_call_cleanup(&call);

    /* The log line of the first request is its record. */
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(line, sizeof line, fp));
    fclose(fp);
    assert_non_null(strstr(line, "\"body\":{\"model\":\"m\",\"temperature\""
                           ":0.7,\"max_tokens\":100,\"messages\":[{\"role\""
                           ":\"user\",\"content\":\"a\xc3\xa9\\n\"}]},"
                           "\"status\":200}\n"));
}

static void test_requests_bounded_oldest_dropped(void **state)
{
    fixture *f = *state;
    static const char *const args[] = { "--max-records", "3", NULL };
    mock_call call;
    int i;

    start(f, args);
    for (i = 0; i < 5; i++) {
        chat(&call, f, "x", NULL);
        mock_call_cleanup(&call);
    }
    assert_int_equal(mock_http(&call, &f->c, "GET", "/_mock/requests", NULL,
                               NULL), 0);
    assert_int_equal(cJSON_GetArraySize(mock_json_at(call.json,
                                                      "requests")), 3);
    assert_int_equal(mock_json_num(call.json, "requests.0.seq"), 3);
    assert_int_equal(mock_json_num(call.json, "dropped"), 2);
    assert_int_equal(mock_json_num(call.json, "next"), 6);
    mock_call_cleanup(&call);
    /* limit pages through: next is where the next page starts. */
    assert_int_equal(mock_http(&call, &f->c, "GET",
                               "/_mock/requests?since=0&limit=2", NULL,
                               NULL), 0);
    assert_int_equal(cJSON_GetArraySize(mock_json_at(call.json,
                                                      "requests")), 2);
    assert_int_equal(mock_json_num(call.json, "next"), 5);
    mock_call_cleanup(&call);
    assert_int_equal(mock_http(&call, &f->c, "GET",
                               "/_mock/requests?wait_ms=-1", NULL, NULL), 0);
    assert_int_equal(call.status, 400);
    assert_non_null(strstr(mock_json_str(call.json, "error"), "wait_ms"));
    mock_call_cleanup(&call);
}

/* ---- scripts, log file, signals --------------------------------------- */

static void test_script_file_and_invalid_script(void **state)
{
    fixture *f = *state;
    char path[300];
    const char *args[3] = { "--script", path, NULL };
    mock_call call;
    FILE *fp;

    assert_int_equal(mock_child_path(&f->c, "script.json", path,
                                     sizeof path), 0);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("{\"latency_ms\":0,\"rules\":[{\"match\":\"ping\","
          "\"reply\":\"pong\"}]}\n", fp);
    fclose(fp);
    start(f, args);
    assert_reply(f, "ping", "pong");

    assert_int_equal(mock_http(&call, &f->c, "GET", "/_mock/script", NULL,
                               NULL), 0);
    assert_string_equal(mock_json_str(call.json, "rules.0.reply"), "pong");
    mock_call_cleanup(&call);

    /* A bad script is refused naming the field, the old one stays. */
    assert_int_equal(mock_http(&call, &f->c, "PUT", "/_mock/script",
                               "{\"rules\":[{\"match\":\"a\"},"
                               "{\"status\":\"x\"}]}", NULL), 0);
    assert_int_equal(call.status, 400);
    assert_non_null(strstr(mock_json_str(call.json, "error.message"),
                           "rules[1].status"));
    mock_call_cleanup(&call);
    assert_int_equal(mock_http(&call, &f->c, "PUT", "/_mock/script",
                               "{\"rules\":[{\"match\":\"(\","
                               "\"regex\":true}]}", NULL), 0);
    assert_int_equal(call.status, 400);
    mock_call_cleanup(&call);
    assert_reply(f, "ping", "pong");
}

static void test_log_file_json_lines(void **state)
{
    fixture *f = *state;
    char path[300];
    const char *args[3] = { "--log", path, NULL };
    mock_call call;
    char line[4096];
    int lines = 0;
    FILE *fp;

    assert_int_equal(mock_child_path(&f->c, "log.jsonl", path,
                                     sizeof path), 0);
    start(f, args);
    chat(&call, f, "logged one", NULL);
    mock_call_cleanup(&call);
    assert_int_equal(mock_http(&call, &f->c, "POST", "/v1/chat/completions",
                               "bad", NULL), 0);
    mock_call_cleanup(&call);

    fp = fopen(path, "r");
    assert_non_null(fp);
    while (fgets(line, sizeof line, fp) != NULL) {
        cJSON *j = cJSON_Parse(line);

        assert_non_null(j);
        lines++;
        assert_int_equal(mock_json_num(j, "seq"), lines);
        assert_int_equal(mock_json_num(j, "status"),
                         lines == 1 ? 200 : 400);
        cJSON_Delete(j);
    }
    fclose(fp);
    assert_int_equal(lines, 2);
}

static void test_keep_alive_reuses_connection(void **state)
{
    fixture *f = *state;
    mock_call call;
    long connects = -1;
    int i;

    start(f, NULL);
    assert_int_equal(mock_call_init(&call, &f->c, "POST",
                                    "/v1/chat/completions",
                                    "{\"messages\":[]}", NULL), 0);
    for (i = 0; i < 3; i++) {
        assert_int_equal(curl_easy_perform(call.easy), CURLE_OK);
        curl_easy_getinfo(call.easy, CURLINFO_NUM_CONNECTS, &connects);
        assert_int_equal(connects, i == 0 ? 1 : 0);
    }
    mock_call_done(&call);
    assert_int_equal(call.status, 200);
    mock_call_cleanup(&call);
}

static void test_health_and_unknown_path(void **state)
{
    fixture *f = *state;
    mock_call call;

    start(f, NULL);
    assert_int_equal(mock_http(&call, &f->c, "GET", "/healthz", NULL, NULL),
                     0);
    assert_int_equal(call.status, 200);
    mock_call_cleanup(&call);
    assert_int_equal(mock_http(&call, &f->c, "GET", "/nope", NULL, NULL), 0);
    assert_int_equal(call.status, 404);
    mock_call_cleanup(&call);
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
        cmocka_unit_test_setup_teardown(test_chat_default_echo_openai_shape,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_chat_rules_substring_and_regex,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_chat_rule_times, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chat_error_statuses, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chat_tool_calls_shape, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chat_api_key_401, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chat_invalid_json_400, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chat_answer_exact_bytes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chat_unusual_json, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_chat_oversized_body_413, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_chat_latency_holds_without_blocking, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chat_hang_until_release, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_chat_hang_client_gone_frees_state, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_requests_recorded_since_and_long_poll, setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests_body_parsed_or_null,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_requests_bounded_oldest_dropped,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_script_file_and_invalid_script,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_log_file_json_lines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_keep_alive_reuses_connection,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_health_and_unknown_path, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sigint_then_sigterm_exits_0, setup,
                                        teardown),
    };
    int rc;

    if (argc != 2) {
        fprintf(stderr, "usage: %s <path of sg-mock-llm>\n", argv[0]);
        return 2;
    }
    exe = argv[1];
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = cmocka_run_group_tests_name("sg-mock-llm", tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
