/*
 * The LLM response reader (llm_reply.h): a chat.completion object gives
 * choices[0].message.content; tool calls without content give the
 * "tools are not available" text; anything else is a failure whose text
 * names the field.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llm_reply.h"

static int parse(const char *text, sgi_llm_reply *r, char *err, size_t cap)
{
    return sgi_llm_reply_parse(text, strlen(text), 0, r, err, cap);
}

static void test_llm_reply_content(void **state)
{
    sgi_llm_reply r;
    char err[256];

    (void)state;
    assert_int_equal(parse("{\"id\":\"x\",\"object\":\"chat.completion\","
                           "\"choices\":[{\"index\":0,\"message\":{\"role\":"
                           "\"assistant\",\"content\":\"hi \\u00e9\"},"
                           "\"finish_reason\":\"stop\"}]}", &r, err,
                           sizeof err), 0);
    assert_string_equal(r.content, "hi \xc3\xa9");
    assert_int_equal(r.content_len, 5);
    assert_int_equal(r.tool_calls, 0);
    assert_int_equal(r.tools_fallback, 0);
    assert_string_equal(r.finish_reason, "stop");
    sgi_llm_reply_clear(&r);
    assert_null(r.content);
}

static void test_llm_reply_tool_calls_without_content(void **state)
{
    sgi_llm_reply r;
    char err[256];

    (void)state;
    assert_int_equal(parse("{\"choices\":[{\"message\":{\"role\":"
                           "\"assistant\",\"content\":null,\"tool_calls\":"
                           "[{\"id\":\"c1\",\"type\":\"function\","
                           "\"function\":{\"name\":\"f\",\"arguments\":"
                           "\"{}\"}}]},\"finish_reason\":\"tool_calls\"}]}",
                           &r, err, sizeof err), 0);
    assert_int_equal(r.tool_calls, 1);
    assert_int_equal(r.tools_fallback, 1);
    assert_string_equal(r.content, SGI_LLM_TOOLS_UNAVAILABLE);
    sgi_llm_reply_clear(&r);

    /* Content and tool calls: the content is the answer. */
    assert_int_equal(parse("{\"choices\":[{\"message\":{\"content\":\"ok\","
                           "\"tool_calls\":[{}]}}]}", &r, err, sizeof err),
                     0);
    assert_string_equal(r.content, "ok");
    assert_int_equal(r.tools_fallback, 0);
    sgi_llm_reply_clear(&r);
}

static void expect_error(const char *text, const char *needle)
{
    sgi_llm_reply r;
    char err[256];

    assert_int_equal(parse(text, &r, err, sizeof err), -1);
    assert_null(r.content);
    if (strstr(err, needle) == NULL)
        fail_msg("%s: \"%s\" does not say \"%s\"", text, err, needle);
}

static void test_llm_reply_malformed_names_field(void **state)
{
    (void)state;
    expect_error("[1]", "response: an array, not an object");
    expect_error("{\"id\": 1}", "choices: missing, not an array");
    expect_error("{\"choices\": {}}", "choices: an object, not an array");
    expect_error("{\"choices\": []}", "choices: empty array");
    expect_error("{\"choices\": [3]}", "choices[0]: a number");
    expect_error("{\"choices\": [{}]}",
                 "choices[0].message: missing, not an object");
    expect_error("{\"choices\": [{\"message\": {}}]}",
                 "choices[0].message.content: missing, not a string");
    expect_error("{\"choices\": [{\"message\": {\"content\": 5}}]}",
                 "choices[0].message.content: a number, not a string");
    expect_error("{\"choices\": [{\"message\": {\"content\": \"\"}}]}",
                 "choices[0].message.content: empty string");
    expect_error("{\"choices\": [{\"message\": {\"content\": \"x\", "
                 "\"tool_calls\": 7}}]}",
                 "choices[0].message.tool_calls: a number, not an array");
    expect_error("{\"error\": {\"message\": \"quota\", \"type\": \"x\"}}",
                 "error object: quota");
    expect_error("{\"choices\": ", "response: not usable JSON");
    expect_error("", "response: not usable JSON");
    expect_error("{\"choices\": [{\"message\": {\"content\": \"\xff\"}}]}",
                 "choices[0].message.content: not UTF-8");
}

static void test_llm_reply_bounded(void **state)
{
    sgi_llm_reply r;
    char err[256];
    char *big;
    size_t n = SGI_LLM_REPLY_MAX_TEXT + 64, i;
    const char *head = "{\"choices\":[{\"message\":{\"content\":\"";
    const char *tail = "\"}}]}";
    char deep[200];

    (void)state;
    /* Over the byte limit given. */
    assert_int_equal(sgi_llm_reply_parse("{\"choices\":[]}", 14, 8, &r, err,
                                         sizeof err), -1);
    assert_non_null(strstr(err, "over the limit of 8"));

    /* Content over the outbound text limit. */
    big = malloc(n + 64);
    assert_non_null(big);
    memcpy(big, head, strlen(head));
    for (i = strlen(head); i < n; i++)
        big[i] = 'a';
    memcpy(big + n, tail, strlen(tail) + 1);
    assert_int_equal(parse(big, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "choices[0].message.content"));
    assert_non_null(strstr(err, "262144"));
    free(big);

    /* Nesting beyond the bound is refused before cJSON builds it. */
    for (i = 0; i < 60; i++)
        deep[i] = '[';
    deep[60] = '\0';
    assert_int_equal(parse(deep, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "too_deep"));
}

static void expect_content(const char *text, const char *content,
                           const char *finish)
{
    sgi_llm_reply r;
    char err[256];

    if (parse(text, &r, err, sizeof err) != 0)
        fail_msg("%s: refused: %s", text, err);
    assert_string_equal(r.content, content);
    assert_int_equal(r.content_len, strlen(content));
    assert_int_equal(r.tool_calls, 0);
    assert_int_equal(r.tools_fallback, 0);
    assert_string_equal(r.finish_reason, finish);
    sgi_llm_reply_clear(&r);
}

/* The readings as cJSON gives them, on the usual answer (read without a
   tree) and beside it: escapes, the first of repeated members, an
   escaped key (compared decoded), a NUL escape, white space cJSON takes
   and strict JSON does not, a number too long for cJSON. */
static void test_llm_reply_read_as_cjson_reads(void **state)
{
    (void)state;
    expect_content("{\"choices\":[{\"message\":{\"content\":"
                   "\"a\\n\\\"b\\\"\\/\\u00e9\\ud83d\\ude00\"},"
                   "\"finish_reason\":\"stop\"}]}",
                   "a\n\"b\"/\xc3\xa9\xf0\x9f\x98\x80", "stop");
    expect_content(" {\"choices\":[{\"message\":{\"content\":\"1\","
                   "\"content\":\"2\",\"tool_calls\":null},"
                   "\"finish_reason\":null},{\"message\":{}}],"
                   "\"choices\":[],\"usage\":{\"n\":[1.5e3,-0,true,false,"
                   "null,{}]}} \r\n", "1", "");
    expect_content("{\"cho\\u0069ces\":[{\"message\":{\"content\":\"k\"}}]}",
                   "k", "");
    expect_content("{\"choices\":[{\"message\":{\"content\":\"a\\u0000b\"},"
                   "\"finish_reason\":\"s\\u0074op\"}]}", "a", "stop");
    expect_content("{\"choices\":[{\"message\":{\"content\":\"x\"},"
                   "\"finish_reason\":\"0123456789012345678901234567890123"
                   "\"}]}\x01", "x", "");
    expect_content("{\"n\":1234567890123456789012345678901234567890,"
                   "\"choices\":[{\"message\":{\"content\":\"y\"}}]}",
                   "y", "");
    expect_error("{\"choices\":[{\"message\":{\"content\":\"x\"}}]} x",
                 "response: not usable JSON");
    expect_error("{\"choices\":[{\"message\":{\"content\":\"\\udc00\"}}]}",
                 "response: not usable JSON");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llm_reply_content),
        cmocka_unit_test(test_llm_reply_tool_calls_without_content),
        cmocka_unit_test(test_llm_reply_malformed_names_field),
        cmocka_unit_test(test_llm_reply_bounded),
        cmocka_unit_test(test_llm_reply_read_as_cjson_reads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
