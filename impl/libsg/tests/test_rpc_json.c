/*
 * The JSON of RPC method replies (sg/rpc.h: sg_rpc_build_*,
 * sg_rpc_check_reply, sg_rpc_reply_error) and the bounded JSON parser
 * under the RPC client (json_text.h).
 *
 * Spec IDs: SG-RPC-004 (error object, unknown-method text), SG-RPC-005
 * (history array of at most `limit` messages with the listed fields),
 * SG-RPC-006 (true or false), SG-RPC-007 (ok + error or null), SG-RPC-011
 * (a reply that is not JSON is invalid_json, bounded before parsing).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "../json_text.h"
#include "sg/rpc.h"

/* Parses a test text, failing the test when it is not JSON. */
static cJSON *parse(const char *text)
{
    cJSON *j = NULL;
    sg_error err;

    assert_int_equal(sg__json_parse(text, strlen(text), 1 << 20, 32, "t", &j,
                                     &err),
                     0);
    return j;
}

static int check(const char *method, const char *text, size_t limit,
                 sg_error *err)
{
    cJSON *j = parse(text);
    int rc = sg_rpc_check_reply(method, j, limit, err);

    cJSON_Delete(j);
    return rc;
}

/* ---- builders ------------------------------------------------------------ */

static void test_sg_rpc_build_error_escapes_text(void **state)
{
    sg_buf b;

    (void)state;
    sg_buf_init(&b, NULL);
    assert_int_equal(sg_rpc_build_error(&b, "bad \"x\"\n\\", 9), 0);
    assert_string_equal((char *)b.data, "{\"error\":\"bad \\\"x\\\"\\n\\\\\"}");
    assert_int_equal(b.len, strlen((char *)b.data));
    sg_buf_destroy(&b);
}

static void test_sg_rpc_build_unknown_method_text(void **state)
{
    sg_buf b;

    (void)state;
    sg_buf_init(&b, NULL);
    assert_int_equal(sg_rpc_build_unknown_method(&b, "frobnicate", 10), 0);
    assert_string_equal((char *)b.data,
                        "{\"error\":\"Unknown RPC method: frobnicate\"}");
    sg_buf_destroy(&b);
}

static void test_sg_rpc_build_bool_and_webhook(void **state)
{
    sg_buf b;

    (void)state;
    sg_buf_init(&b, NULL);
    assert_int_equal(sg_rpc_build_bool(&b, true), 0);
    assert_string_equal((char *)b.data, "true");
    sg_buf_reset(&b);
    assert_int_equal(sg_rpc_build_bool(&b, false), 0);
    assert_string_equal((char *)b.data, "false");
    sg_buf_reset(&b);
    assert_int_equal(sg_rpc_build_webhook(&b, true, NULL), 0);
    assert_string_equal((char *)b.data, "{\"ok\":true,\"error\":null}");
    sg_buf_reset(&b);
    assert_int_equal(sg_rpc_build_webhook(&b, false, "gone"), 0);
    assert_string_equal((char *)b.data, "{\"ok\":false,\"error\":\"gone\"}");
    sg_buf_destroy(&b);
}

static void test_sg_rpc_build_rejects_bad_utf8_and_keeps_buffer(void **state)
{
    sg_buf b;

    (void)state;
    sg_buf_init(&b, NULL);
    assert_int_equal(sg_buf_append(&b, "ab", 2), 0);
    assert_int_equal(sg_rpc_build_error(&b, "\xc3\x28", 2), SG_EINVAL);
    assert_int_equal(b.len, 2);
    sg_buf_destroy(&b);
}

static sg_rpc_history_msg msg(const char *id, double ts)
{
    sg_rpc_history_msg m;

    memset(&m, 0, sizeof m);
    m.user_id = SG_STR("u1");
    m.user_name = SG_STR("Ann");
    m.text.ptr = id;
    m.text.len = strlen(id);
    m.timestamp = ts;
    m.message_id.ptr = id;
    m.message_id.len = strlen(id);
    return m;
}

static void test_sg_rpc_build_history_keeps_newest_limit_oldest_first(
    void **state)
{
    sg_rpc_history_msg m[3] = {msg("m1", 1.5), msg("m2", 2), msg("m3", 3)};
    sg_error err;
    cJSON *j, *first;
    sg_buf b;

    (void)state;
    m[2].has_reply_to_id = true;
    m[2].reply_to_id = SG_STR("m2");
    m[2].is_bot = true;
    m[2].reactions_json = "[{\"emoji\":\"x\",\"count\":2}]";
    sg_buf_init(&b, NULL);
    assert_int_equal(sg_rpc_build_history(&b, m, 3, 2), 0);
    j = parse((char *)b.data);
    assert_int_equal(cJSON_GetArraySize(j), 2);
    first = cJSON_GetArrayItem(j, 0);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(first, "message_id")->valuestring,
        "m2");
    assert_true(cJSON_IsNull(
        cJSON_GetObjectItemCaseSensitive(first, "reply_to_id")));
    assert_true(cJSON_IsNull(
        cJSON_GetObjectItemCaseSensitive(first, "reactions")));
    assert_true(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(j, 1), "reactions")));
    assert_int_equal(sg_rpc_check_reply("fetch_channel_history", j, 2, &err),
                     0);
    cJSON_Delete(j);
    sg_buf_destroy(&b);
}

static void test_sg_rpc_build_history_rejects_bad_reactions_and_nan(
    void **state)
{
    sg_rpc_history_msg m = msg("m1", 1);
    sg_buf b;

    (void)state;
    sg_buf_init(&b, NULL);
    m.reactions_json = "[1,";
    assert_int_equal(sg_rpc_build_history(&b, &m, 1, 10), SG_EINVAL);
    assert_int_equal(b.len, 0);
    m.reactions_json = NULL;
    m.timestamp = NAN;
    assert_int_equal(sg_rpc_build_history(&b, &m, 1, 10), SG_EINVAL);
    assert_int_equal(b.len, 0);
    sg_buf_destroy(&b);
}

/* ---- checking replies ---------------------------------------------------- */

static void test_sg_rpc_check_reply_history(void **state)
{
    const char *ok =
        "[{\"user_id\":\"1\",\"user_name\":\"a\",\"text\":\"hi\","
        "\"timestamp\":1.5,\"message_id\":\"9\",\"is_bot\":false,"
        "\"reply_to_id\":null,\"reactions\":null}]";
    const char *no_text =
        "[{\"user_id\":\"1\",\"user_name\":\"a\",\"timestamp\":1,"
        "\"message_id\":\"9\",\"is_bot\":false,\"reply_to_id\":\"8\","
        "\"reactions\":[]}]";
    const char *bad_bot =
        "[{\"user_id\":\"1\",\"user_name\":\"a\",\"text\":\"\","
        "\"timestamp\":1,\"message_id\":\"9\",\"is_bot\":0,"
        "\"reply_to_id\":\"8\",\"reactions\":[]}]";
    sg_error err;

    (void)state;
    assert_int_equal(check("fetch_channel_history", ok, 10, &err), 0);
    assert_int_equal(check("fetch_channel_history", "[]", 10, &err), 0);
    assert_int_equal(check("fetch_channel_history", no_text, 10, &err),
                     SG_EINVALID);
    assert_int_equal(err.reason, SG_REASON_MISSING_FIELD);
    assert_string_equal(err.path, "reply[0].text");
    assert_int_equal(check("fetch_channel_history", bad_bot, 10, &err),
                     SG_EINVALID);
    assert_int_equal(err.reason, SG_REASON_WRONG_TYPE);
    assert_string_equal(err.path, "reply[0].is_bot");
    assert_int_equal(check("fetch_channel_history", "{}", 10, &err),
                     SG_EINVALID);
    assert_string_equal(err.path, "reply");
}

static void test_sg_rpc_check_reply_history_longer_than_limit(void **state)
{
    const char *two =
        "[{\"user_id\":\"1\",\"user_name\":\"a\",\"text\":\"hi\","
        "\"timestamp\":1,\"message_id\":\"9\",\"is_bot\":false,"
        "\"reply_to_id\":null,\"reactions\":null},"
        "{\"user_id\":\"1\",\"user_name\":\"a\",\"text\":\"hi\","
        "\"timestamp\":2,\"message_id\":\"10\",\"is_bot\":true,"
        "\"reply_to_id\":\"9\",\"reactions\":{\"x\":1}}]";
    sg_error err;

    (void)state;
    assert_int_equal(check("fetch_channel_history", two, 2, &err), 0);
    assert_int_equal(check("fetch_channel_history", two, 1, &err),
                     SG_EINVALID);
    assert_int_equal(err.reason, SG_REASON_ARRAY_TOO_LONG);
}

static void test_sg_rpc_check_reply_bool_webhook_tool(void **state)
{
    sg_error err;

    (void)state;
    assert_int_equal(check("should_skip_channel_heartbeat", "true", 0, &err),
                     0);
    assert_int_equal(check("should_skip_channel_heartbeat", "false", 0, &err),
                     0);
    assert_int_equal(check("should_skip_channel_heartbeat", "1", 0, &err),
                     SG_EINVALID);
    assert_int_equal(check("delete_egregore_webhook",
                           "{\"ok\":true,\"error\":null}", 0, &err),
                     0);
    assert_int_equal(check("delete_egregore_webhook",
                           "{\"ok\":false,\"error\":\"no such\"}", 0, &err),
                     0);
    assert_int_equal(check("delete_egregore_webhook", "{\"ok\":true}", 0,
                           &err),
                     SG_EINVALID);
    assert_string_equal(err.path, "reply.error");
    assert_int_equal(check("delete_egregore_webhook",
                           "{\"ok\":\"yes\",\"error\":null}", 0, &err),
                     SG_EINVALID);
    assert_string_equal(err.path, "reply.ok");
    assert_int_equal(check("execute_tool", "[1,{\"a\":null}]", 0, &err), 0);
    assert_int_equal(check("execute_tool", "\"text\"", 0, &err), 0);
}

static void test_sg_rpc_check_reply_error_objects(void **state)
{
    sg_error err;
    cJSON *j;

    (void)state;
    /* Any known method may answer with an error object (SG-RPC-004). */
    assert_int_equal(check("should_skip_channel_heartbeat",
                           "{\"error\":\"timeout\"}", 0, &err),
                     0);
    assert_int_equal(check("fetch_channel_history", "{\"error\":\"x\"}", 0,
                           &err),
                     0);
    /* An unknown method must get exactly the unknown-method error. */
    assert_int_equal(check("nope", "{\"error\":\"Unknown RPC method: nope\"}",
                           0, &err),
                     0);
    assert_int_equal(check("nope", "{\"error\":\"Unknown RPC method: other\"}",
                           0, &err),
                     SG_EINVALID);
    assert_string_equal(err.path, "reply.error");
    assert_int_equal(check("nope", "true", 0, &err), SG_EINVALID);

    j = parse("{\"error\":\"boom\"}");
    assert_string_equal(sg_rpc_reply_error(j), "boom");
    cJSON_Delete(j);
    j = parse("{\"ok\":false,\"error\":\"boom\"}");
    assert_null(sg_rpc_reply_error(j));
    cJSON_Delete(j);
    j = parse("[\"error\"]");
    assert_null(sg_rpc_reply_error(j));
    cJSON_Delete(j);
}

/* ---- the bounded parser -------------------------------------------------- */

static void test_sg__json_parse_rejects_before_parsing(void **state)
{
    char deep[64];
    cJSON *j = NULL;
    sg_error err;
    int i;

    (void)state;
    assert_int_equal(sg__json_parse("not json", 8, 100, 8, "reply", &j, &err),
                     SG_EDECODE);
    assert_int_equal(err.reason, SG_REASON_INVALID_JSON);
    assert_string_equal(err.path, "reply");
    assert_null(j);
    assert_int_equal(sg__json_parse("{} x", 4, 100, 8, "reply", &j, &err),
                     SG_EDECODE);
    assert_int_equal(err.reason, SG_REASON_INVALID_JSON);
    assert_int_equal(sg__json_parse("\"a\0b\"", 5, 100, 8, "reply", &j,
                                    &err),
                     SG_EDECODE);
    assert_int_equal(err.reason, SG_REASON_INVALID_JSON);
    assert_int_equal(sg__json_parse("[1,2,3]", 7, 6, 8, "reply", &j, &err),
                     SG_EDECODE);
    assert_int_equal(err.reason, SG_REASON_ENTRY_TOO_LARGE);
    for (i = 0; i < 9; i++)
        deep[i] = '[';
    for (i = 0; i < 9; i++)
        deep[9 + i] = ']';
    deep[18] = '\0';
    assert_int_equal(sg__json_parse(deep, 18, 100, 8, "reply", &j, &err),
                     SG_EDECODE);
    assert_int_equal(err.reason, SG_REASON_TOO_DEEP);
    /* Brackets inside strings do not count. */
    assert_int_equal(sg__json_parse("\"[[[[[[[[[[\"", 12, 100, 8, "reply",
                                    &j, &err),
                     0);
    cJSON_Delete(j);
    deep[17] = '\0';
    deep[0] = ' ';
    assert_int_equal(sg__json_parse(deep + 1, 16, 100, 8, "reply", &j, &err),
                     0);
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sg_rpc_build_error_escapes_text),
        cmocka_unit_test(test_sg_rpc_build_unknown_method_text),
        cmocka_unit_test(test_sg_rpc_build_bool_and_webhook),
        cmocka_unit_test(test_sg_rpc_build_rejects_bad_utf8_and_keeps_buffer),
        cmocka_unit_test(
            test_sg_rpc_build_history_keeps_newest_limit_oldest_first),
        cmocka_unit_test(
            test_sg_rpc_build_history_rejects_bad_reactions_and_nan),
        cmocka_unit_test(test_sg_rpc_check_reply_history),
        cmocka_unit_test(test_sg_rpc_check_reply_history_longer_than_limit),
        cmocka_unit_test(test_sg_rpc_check_reply_bool_webhook_tool),
        cmocka_unit_test(test_sg_rpc_check_reply_error_objects),
        cmocka_unit_test(test_sg__json_parse_rejects_before_parsing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
