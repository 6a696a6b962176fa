/*
 * test_codec_tools.c: tools requests and replies (SPEC section 11).
 */
#include "mp_build.h"

static void
request(mb *m)
{
    m->len = 0;
    mb_map(m, 6);
    mb_kv(m, "request_id", "req-1");
    mb_kv(m, "tool_name", "search");
    mb_str(m, "tool_args");
    mb_map(m, 1);
    mb_kv(m, "q", "stars");
    mb_str(m, "tool_ctx");
    mb_map(m, 1);
    mb_kv(m, "channel_id", "c");
    mb_kv(m, "reply_stream", "sg:tools:reply:w1");
    mb_str(m, "deadline_ms");
    mb_int(m, 1732350000123);
}

/* SG-TOOLS-001: a request with every field. */
static void
test_envelope_decode_data_tools_request(void **state)
{
    sg_envelope *env, *again;
    sg_error err;
    sg_buf buf;
    mb m;

    (void)state;
    mb_init(&m);
    request(&m);
    env = mb_decode_ok(SG_KIND_TOOLS_REQUEST, &m);
    assert_true(str_eq(env->u.treq.request_id, "req-1"));
    assert_true(str_eq(env->u.treq.tool_name, "search"));
    assert_true(str_eq(env->u.treq.reply_stream, "sg:tools:reply:w1"));
    assert_true(env->u.treq.deadline_ms == 1732350000123);
    assert_true(env->u.treq.tool_args.len > 0);
    sg_buf_init(&buf, NULL);
    assert_int_equal(sg_envelope_encode(env, &buf, &err), 0);
    assert_int_equal(sg_envelope_decode_data(SG_KIND_TOOLS_REQUEST, buf.data,
                                             buf.len, NULL, &again, &err), 0);
    assert_true(sg_envelope_equal(env, again));
    sg_envelope_free(again);
    sg_envelope_free(env);
    sg_buf_destroy(&buf);
    mb_free(&m);
}

/* SG-TOOLS-001 SG-ENV-002 SG-ENV-006: required fields in table order;
   tool_args must be a map; empty ids are invalid. */
static void
test_envelope_decode_data_tools_request_rejects(void **state)
{
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 1);
    mb_kv(&m, "reply_stream", "s");
    mb_expect(SG_KIND_TOOLS_REQUEST, &m, SG_REASON_MISSING_FIELD,
              "data.request_id");
    m.len = 0;
    mb_map(&m, 2);
    mb_kv(&m, "request_id", "r");
    mb_kv(&m, "reply_stream", "s");
    mb_expect(SG_KIND_TOOLS_REQUEST, &m, SG_REASON_MISSING_FIELD,
              "data.tool_name");
    m.len = 0;
    mb_map(&m, 4);
    mb_kv(&m, "request_id", "r");
    mb_kv(&m, "tool_name", "t");
    mb_kv(&m, "reply_stream", "s");
    mb_str(&m, "tool_args");
    mb_arr(&m, 0);
    mb_expect(SG_KIND_TOOLS_REQUEST, &m, SG_REASON_WRONG_TYPE,
              "data.tool_args");
    m.len = 0;
    mb_map(&m, 3);
    mb_kv(&m, "request_id", "r");
    mb_kv(&m, "tool_name", "");
    mb_kv(&m, "reply_stream", "s");
    mb_expect(SG_KIND_TOOLS_REQUEST, &m, SG_REASON_INVALID_VALUE,
              "data.tool_name");
    mb_free(&m);
}

/* SG-TOOLS-001 SG-LIMIT-002: a reply; strings anywhere in a result are
   text, elsewhere in any values they are strings. */
static void
test_envelope_decode_data_tools_reply(void **state)
{
    sg_envelope *env;
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 4);
    mb_kv(&m, "request_id", "r");
    mb_str(&m, "ok");
    mb_bool(&m, 1);
    mb_str(&m, "result");
    mb_map(&m, 1);
    mb_str(&m, "page");
    mb_strfill(&m, 10000, 'x');
    mb_str(&m, "media");
    mb_arr(&m, 1);
    mb_map(&m, 2);
    mb_str(&m, "data");
    mb_bin(&m, "img", 3);
    mb_kv(&m, "mimetype", "image/png");
    env = mb_decode_ok(SG_KIND_TOOLS_REPLY, &m);
    assert_true(env->u.trep.ok);
    assert_int_equal(env->u.trep.nmedia, 1);
    assert_true(str_eq(env->u.trep.media[0].mimetype, "image/png"));
    sg_envelope_free(env);

    m.len = 0;
    mb_map(&m, 3);
    mb_kv(&m, "request_id", "r");
    mb_str(&m, "ok");
    mb_bool(&m, 0);
    mb_str(&m, "extra");
    mb_strfill(&m, 10000, 'x');
    mb_expect(SG_KIND_TOOLS_REPLY, &m, SG_REASON_STRING_TOO_LONG,
              "data.extra");
    m.len = 0;
    mb_map(&m, 1);
    mb_kv(&m, "request_id", "r");
    mb_expect(SG_KIND_TOOLS_REPLY, &m, SG_REASON_MISSING_FIELD, "data.ok");
    mb_free(&m);
}

/* SG-FRAME-012: the encoder refuses a reply without request_id. */
static void
test_envelope_encode_tools_reply(void **state)
{
    sg_envelope env, *again;
    sg_attachment media = { { (const uint8_t *)"x", 1 }, SG_STR("a/b"),
                            SG_STR(""), SG_STR("") };
    sg_error err;
    sg_buf buf;

    (void)state;
    sg_buf_init(&buf, NULL);
    sg_envelope_init(&env, SG_KIND_TOOLS_REPLY);
    env.u.trep.ok = true;
    assert_int_equal(sg_envelope_encode(&env, &buf, &err), SG_EINVALID);
    assert_string_equal(err.path, "data.request_id");
    env.u.trep.request_id = SG_STR("r");
    env.u.trep.result.mp = (const uint8_t *)"\xa2hi";
    env.u.trep.result.len = 3;
    env.u.trep.error = SG_STR("");
    env.u.trep.media = &media;
    env.u.trep.nmedia = 1;
    assert_int_equal(sg_envelope_encode(&env, &buf, &err), 0);
    assert_int_equal(sg_envelope_decode_data(SG_KIND_TOOLS_REPLY, buf.data,
                                             buf.len, NULL, &again, &err), 0);
    assert_true(sg_envelope_equal(&env, again));
    sg_envelope_free(again);
    sg_buf_destroy(&buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_decode_data_tools_request),
        cmocka_unit_test(test_envelope_decode_data_tools_request_rejects),
        cmocka_unit_test(test_envelope_decode_data_tools_reply),
        cmocka_unit_test(test_envelope_encode_tools_reply),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
