/*
 * test_json.c: the JSON bridge (sg/json.h) both ways.
 */
#include "mp_build.h"

static char *
to_json(const sg_envelope *env, sg_buf *buf)
{
    sg_error err;

    sg_buf_reset(buf);
    if (sg_envelope_to_json(env, buf, &err) != 0)
        fail_msg("to_json: %s", err.msg);
    return (char *)buf->data;
}

static sg_envelope *
from_json(sg_kind kind, const char *text)
{
    sg_envelope *env = NULL;
    sg_error err;

    if (sg_envelope_from_json(kind, text, strlen(text), NULL, &env, &err))
        fail_msg("from_json: %s %s", sg_reason_name(err.reason), err.msg);
    return env;
}

static void
expect_json(sg_kind kind, const char *text, int reason, const char *path)
{
    sg_envelope *env = NULL;
    sg_error err;
    int rc = sg_envelope_from_json(kind, text, strlen(text), NULL, &env,
                                   &err);

    assert_int_equal(rc, SG_EDECODE);
    assert_string_equal(sg_reason_name(err.reason), sg_reason_name(reason));
    assert_string_equal(err.path, path);
    assert_null(env);
}

/* SG-INENV-002: every field with its default; absent ones left out. */
static void
test_envelope_to_json_inbound_canonical(void **state)
{
    sg_envelope env;
    sg_buf buf;

    (void)state;
    sg_buf_init(&buf, NULL);
    sg_envelope_init(&env, SG_KIND_INBOUND);
    env.u.in.platform = SG_STR("p");
    env.u.in.channel_id = SG_STR("c\"\n\x01");
    assert_string_equal(to_json(&env, &buf),
        "{\"schema_version\":1,\"platform\":\"p\","
        "\"channel_id\":\"c\\\"\\n\\u0001\",\"user_id\":\"\","
        "\"username\":\"\",\"content\":\"\",\"is_addressed\":true,"
        "\"attachments\":[],\"room_name\":\"\",\"timestamp\":0.0,"
        "\"message_id\":\"\",\"reply_to\":\"\",\"guild_name\":\"\","
        "\"is_dm\":false,\"member_roles\":[],\"member_count\":0,"
        "\"user_aliases\":[],\"trace_id\":\"\"}");
    assert_int_equal(buf.data[buf.len], '\0');
    sg_buf_destroy(&buf);
}

/* SG-MP-012: any values: exact integers, floats with a fraction, bin. */
static void
test_envelope_to_json_any_values(void **state)
{
    sg_envelope *env;
    sg_buf buf;
    char *json;
    mb m;

    (void)state;
    mb_init(&m);
    sg_buf_init(&buf, NULL);
    mb_map(&m, 3);
    mb_kv(&m, "platform", "p");
    mb_kv(&m, "channel_id", "c");
    mb_str(&m, "embeds");
    mb_arr(&m, 6);
    mb_int(&m, INT64_MAX);
    mb_int(&m, INT64_MIN);
    mb_f64(&m, 2.0);
    mb_f64(&m, 0.1);
    mb_bin(&m, "\xff\x00", 2);
    mb_map(&m, 1);
    mb_str(&m, "n");
    mb_nil(&m);
    env = mb_decode_ok(SG_KIND_INBOUND, &m);
    json = to_json(env, &buf);
    assert_non_null(strstr(json, "\"embeds\":[9223372036854775807,"
                           "-9223372036854775808,2.0,0.1,"
                           "{\"$bin\":\"/wA=\"},{\"n\":null}]"));
    sg_envelope_free(env);
    sg_buf_destroy(&buf);
    mb_free(&m);
}

/* SG-OUTENV-002 SG-RPC-001: outbound forms. */
static void
test_envelope_to_json_outbound(void **state)
{
    sg_envelope *env;
    sg_buf buf;

    (void)state;
    sg_buf_init(&buf, NULL);
    env = from_json(SG_KIND_OUTBOUND,
                    "{\"type\":\"rpc_request\",\"action\":\"m\","
                    "\"reply_key\":\"r\"}");
    assert_string_equal(to_json(env, &buf),
        "{\"schema_version\":1,\"type\":\"rpc_request\",\"trace_id\":\"\","
        "\"rpc_method\":\"m\",\"rpc_args\":{},\"reply_key\":\"r\"}");
    sg_envelope_free(env);
    env = from_json(SG_KIND_OUTBOUND, "{\"channel_id\":\"c\",\"text\":\"t\"}");
    assert_string_equal(to_json(env, &buf),
        "{\"schema_version\":1,\"type\":\"message\",\"channel_id\":\"c\","
        "\"trace_id\":\"\",\"text\":\"t\"}");
    sg_envelope_free(env);
    sg_buf_destroy(&buf);
}

/* SG-MP-006 SG-MP-007: from JSON, numbers and strings exactly; bytes as
   base64; {"$bin"} as bin. */
static void
test_envelope_from_json_values(void **state)
{
    sg_envelope *env;
    sg_buf buf;

    (void)state;
    sg_buf_init(&buf, NULL);
    env = from_json(SG_KIND_INBOUND,
                    " {\"platform\":\"p\",\"channel_id\":\"c\","
                    "\"content\":\"a\\u0000b\\u00e9\\ud83d\\ude00\","
                    "\"member_count\":2147483647,"
                    "\"attachments\":[{\"data\":\"aGk=\"}],"
                    "\"embeds\":[9007199254740993,-1,1.5,1e300,"
                    "{\"$bin\":\"AAE=\"},{\"$bin\":\"not base64\"}]}\n");
    assert_int_equal(env->u.in.content.len, 9);
    assert_memory_equal(env->u.in.content.ptr, "a\0b\xc3\xa9\xf0\x9f\x98\x80",
                        9);
    assert_int_equal(env->u.in.member_count, 2147483647);
    assert_memory_equal(env->u.in.attachments[0].data.ptr, "hi", 2);
    assert_non_null(strstr(to_json(env, &buf),
                           "\"embeds\":[9007199254740993,-1,1.5,1e+300,"
                           "{\"$bin\":\"AAE=\"},"
                           "{\"$bin\":\"not base64\"}]"));
    sg_envelope_free(env);
    sg_buf_destroy(&buf);
}

/* SG-ENV-001 SG-ENV-002: JSON input is checked like msgpack, same
   reasons and paths, and the bridge's own checks come first. */
static void
test_envelope_from_json_rejects(void **state)
{
    sg_decode_opts opts;
    sg_envelope *env = NULL;
    sg_error err;
    char deep[64];
    int i;

    (void)state;
    expect_json(SG_KIND_INBOUND, "{\"platform\":", SG_REASON_INVALID_JSON,
                "data");
    expect_json(SG_KIND_INBOUND, "{} x", SG_REASON_INVALID_JSON, "data");
    expect_json(SG_KIND_INBOUND, "", SG_REASON_INVALID_JSON, "data");
    expect_json(SG_KIND_INBOUND, "[1]", SG_REASON_NOT_MAP, "data");
    expect_json(SG_KIND_INBOUND, "{\"platform\":\"p\"}",
                SG_REASON_MISSING_FIELD, "data.channel_id");
    expect_json(SG_KIND_INBOUND,
                "{\"platform\":\"p\",\"channel_id\":\"c\",\"is_dm\":1}",
                SG_REASON_WRONG_TYPE, "data.is_dm");
    expect_json(SG_KIND_INBOUND,
                "{\"platform\":\"p\",\"channel_id\":\"c\",\"x\":1,\"x\":2}",
                SG_REASON_DUPLICATE_KEY, "data.x");
    expect_json(SG_KIND_INBOUND,
                "{\"platform\":\"p\",\"channel_id\":\"c\","
                "\"member_count\":18446744073709551615}",
                SG_REASON_OUT_OF_RANGE, "data.member_count");
    /* Bug: cJSON 1.7.15 accepts "\u00>" and a raw NUL in a string; the
       bridge's scanner read hex digits it never checked (found by
       fuzz_json). Escapes are now checked by the bridge itself. */
    assert_int_equal(sg_envelope_from_json(SG_KIND_INBOUND,
                                           "{\"content\":\"a\\u00>\0b\"}",
                                           22, NULL, &env, &err),
                     SG_EDECODE);
    assert_int_equal(err.reason, SG_REASON_INVALID_JSON);
    expect_json(SG_KIND_INBOUND, "{\"content\":\"\\udc00\"}",
                SG_REASON_INVALID_JSON, "data");
    expect_json(SG_KIND_INBOUND, "{\"content\":\"\\ud800x\"}",
                SG_REASON_INVALID_JSON, "data");
    for (i = 0; i < 40; i++)
        deep[i] = '[';
    deep[40] = '\0';
    expect_json(SG_KIND_INBOUND, deep, SG_REASON_TOO_DEEP, "data");
    sg_decode_opts_init(&opts);
    opts.limits.max_entry_bytes = 4;
    assert_int_equal(sg_envelope_from_json(SG_KIND_INBOUND, "{   }", 5,
                                           &opts, &env, &err), SG_EDECODE);
    assert_int_equal(err.reason, SG_REASON_ENTRY_TOO_LARGE);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_to_json_inbound_canonical),
        cmocka_unit_test(test_envelope_to_json_any_values),
        cmocka_unit_test(test_envelope_to_json_outbound),
        cmocka_unit_test(test_envelope_from_json_values),
        cmocka_unit_test(test_envelope_from_json_rejects),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
