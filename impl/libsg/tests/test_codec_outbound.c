/*
 * test_codec_outbound.c: the outbound envelopes and rpc_request (SPEC
 * sections 9 and 10), decoded and encoded.
 */
#include "mp_build.h"
#include "../decode_internal.h"

/* SG-OUTENV-001 SG-OUTENV-002: each type's fields; no type is message. */
static void
test_envelope_decode_data_outbound_types(void **state)
{
    sg_envelope *env;
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 3);
    mb_kv(&m, "channel_id", "c");
    mb_kv(&m, "text", "");          /* required, may be empty */
    mb_kv(&m, "reply_to", "m1");
    env = mb_decode_ok(SG_KIND_OUTBOUND, &m);
    assert_int_equal(env->u.out.type, SG_OUT_MESSAGE);
    assert_true(env->u.out.has_reply_to);
    assert_true(str_eq(env->u.out.reply_to, "m1"));
    sg_envelope_free(env);

    m.len = 0;
    mb_map(&m, 3);
    mb_str(&m, "file_data");
    mb_bin(&m, "abc", 3);
    mb_kv(&m, "channel_id", "c");
    mb_kv(&m, "type", "file");
    env = mb_decode_ok(SG_KIND_OUTBOUND, &m);
    assert_int_equal(env->u.out.type, SG_OUT_FILE);
    assert_int_equal(env->u.out.file_data.len, 3);
    assert_true(str_eq(env->u.out.filename, "file"));
    assert_true(str_eq(env->u.out.mimetype, "application/octet-stream"));
    sg_envelope_free(env);

    m.len = 0;
    mb_map(&m, 2);
    mb_kv(&m, "type", "typing");
    mb_kv(&m, "channel_id", "c");
    env = mb_decode_ok(SG_KIND_OUTBOUND, &m);
    assert_int_equal(env->u.out.type, SG_OUT_TYPING);  /* kept as written */
    sg_envelope_free(env);

    m.len = 0;
    mb_map(&m, 4);
    mb_kv(&m, "type", "reaction");
    mb_kv(&m, "channel_id", "c");
    mb_kv(&m, "message_id", "m");
    mb_kv(&m, "emoji", "");
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_INVALID_VALUE, "data.emoji");
    mb_free(&m);
}

/* SG-OUTENV-003: unknown and empty types, wherever `type` stands. */
static void
test_envelope_decode_data_outbound_unknown_type(void **state)
{
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 2);
    mb_str(&m, "channel_id");
    mb_int(&m, 5);                  /* a table problem before type */
    mb_kv(&m, "type", "shout");
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_UNKNOWN_TYPE, "data.type");
    m.len = 0;
    mb_map(&m, 1);
    mb_kv(&m, "type", "");
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_UNKNOWN_TYPE, "data.type");
    m.len = 0;
    mb_map(&m, 1);
    mb_str(&m, "type");
    mb_bin(&m, "message", 7);
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_WRONG_TYPE, "data.type");
    mb_free(&m);
}

/* SG-OUTENV-004 SG-OUTENV-005: channel_id for channel-bound types;
   presence has none and ignores one. */
static void
test_envelope_decode_data_outbound_channel(void **state)
{
    sg_envelope *env;
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 2);
    mb_kv(&m, "type", "stop_typing");
    mb_str(&m, "channel_id");
    mb_nil(&m);
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_MISSING_FIELD,
              "data.channel_id");
    m.len = 0;
    mb_map(&m, 2);
    mb_kv(&m, "text", "t");
    mb_kv(&m, "channel_id", "");
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_INVALID_VALUE,
              "data.channel_id");
    m.len = 0;
    mb_map(&m, 3);
    mb_kv(&m, "type", "presence");
    mb_str(&m, "channel_id");
    mb_int(&m, 9);                  /* an unknown key there: any */
    mb_kv(&m, "text", "online");
    env = mb_decode_ok(SG_KIND_OUTBOUND, &m);
    assert_int_equal(env->u.out.type, SG_OUT_PRESENCE);
    assert_false(env->u.out.has_channel_id);
    assert_false(env->u.out.has_emoji);
    sg_envelope_free(env);
    mb_free(&m);
}

/* SG-LIMIT-002: `text` is bounded by the type that comes after it. */
static void
test_envelope_decode_data_outbound_text_bound_follows_type(void **state)
{
    sg_envelope *env;
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 3);
    mb_str(&m, "text");
    mb_strfill(&m, 5000, 't');
    mb_kv(&m, "channel_id", "c");
    mb_kv(&m, "type", "message");
    env = mb_decode_ok(SG_KIND_OUTBOUND, &m);
    assert_int_equal(env->u.out.text.len, 5000);
    sg_envelope_free(env);
    m.len = 0;
    mb_map(&m, 2);
    mb_str(&m, "text");
    mb_strfill(&m, 5000, 't');
    mb_kv(&m, "type", "presence");
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_STRING_TOO_LONG, "data.text");
    mb_free(&m);
}

static void
buttons_env(mb *m, int n, int with_label)
{
    int i;

    m->len = 0;
    mb_map(m, 4);
    mb_kv(m, "type", "buttons");
    mb_kv(m, "channel_id", "c");
    mb_kv(m, "text", "pick");
    mb_str(m, "buttons");
    mb_arr(m, (uint32_t)n);
    for (i = 0; i < n; i++) {
        mb_map(m, with_label ? 2 : 1);
        if (with_label)
            mb_kv(m, "label", "L");
        mb_kv(m, "style", "primary");
    }
}

/* SG-LIMIT-004 SG-OUTENV-001: buttons, 1 .. max_buttons, labels. */
static void
test_envelope_decode_data_outbound_buttons(void **state)
{
    sg_envelope *env;
    mb m;

    (void)state;
    mb_init(&m);
    buttons_env(&m, 25, 1);
    env = mb_decode_ok(SG_KIND_OUTBOUND, &m);
    assert_int_equal(env->u.out.nbuttons, 25);
    assert_true(env->u.out.buttons.len > 25);
    sg_envelope_free(env);
    buttons_env(&m, 26, 1);
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_ARRAY_TOO_LONG,
              "data.buttons");
    buttons_env(&m, 0, 1);
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_INVALID_VALUE, "data.buttons");
    buttons_env(&m, 2, 0);
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_MISSING_FIELD,
              "data.buttons[0].label");
    mb_free(&m);
}

/* SG-RPC-001 SG-RPC-008: rpc_request, legacy names, missing reply_key. */
static void
test_envelope_decode_data_outbound_rpc_request(void **state)
{
    sg_envelope *env;
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 4);
    mb_kv(&m, "type", "rpc_request");
    mb_kv(&m, "action", "fetch_channel_history");
    mb_str(&m, "kwargs");
    mb_map(&m, 1);
    mb_str(&m, "limit");
    mb_int(&m, 10);
    mb_kv(&m, "reply_key", "sg:rpc:reply:1");
    env = mb_decode_ok(SG_KIND_OUTBOUND, &m);
    assert_true(str_eq(env->u.out.rpc_method, "fetch_channel_history"));
    assert_int_equal(env->u.out.rpc_args.len, 8);
    assert_false(env->u.out.has_channel_id);
    sg_envelope_free(env);

    /* With rpc_method present, action is an unknown key. */
    m.len = 0;
    mb_map(&m, 4);
    mb_kv(&m, "type", "rpc_request");
    mb_str(&m, "action");
    mb_int(&m, 1);
    mb_kv(&m, "rpc_method", "m");
    mb_kv(&m, "reply_key", "r");
    sg_envelope_free(mb_decode_ok(SG_KIND_OUTBOUND, &m));

    /* Without it, a bad action is reported under its own name. */
    m.len = 0;
    mb_map(&m, 3);
    mb_kv(&m, "type", "rpc_request");
    mb_str(&m, "action");
    mb_int(&m, 1);
    mb_kv(&m, "reply_key", "r");
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_WRONG_TYPE, "data.action");

    m.len = 0;
    mb_map(&m, 2);
    mb_kv(&m, "type", "rpc_request");
    mb_kv(&m, "rpc_method", "m");
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_MISSING_FIELD,
              "data.reply_key");
    m.len = 0;
    mb_map(&m, 4);
    mb_kv(&m, "type", "rpc_request");
    mb_kv(&m, "rpc_method", "m");
    mb_kv(&m, "reply_key", "r");
    mb_kv(&m, "rpc_args", "not a map");
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_WRONG_TYPE, "data.rpc_args");
    mb_free(&m);
}

/* SG-MP-006: file_data as base64 text. */
static void
test_envelope_decode_data_outbound_file_base64(void **state)
{
    sg_envelope *env;
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 3);
    mb_kv(&m, "type", "file");
    mb_kv(&m, "channel_id", "c");
    mb_kv(&m, "file_data", "AAEC");
    env = mb_decode_ok(SG_KIND_OUTBOUND, &m);
    assert_int_equal(env->u.out.file_data.len, 3);
    assert_memory_equal(env->u.out.file_data.ptr, "\x00\x01\x02", 3);
    sg_envelope_free(env);
    m.len = 0;
    mb_map(&m, 3);
    mb_kv(&m, "type", "file");
    mb_kv(&m, "channel_id", "c");
    mb_kv(&m, "file_data", "AAE");
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_INVALID_VALUE,
              "data.file_data");
    mb_free(&m);
}

/*
 * SG-ENV-005 SG-MP-006: file_data present but empty (bin 8 of length 0,
 * or the empty base64 text) decodes as present and encodes back, not as
 * "absent" (found by fuzz_roundtrip).
 */
static void
test_envelope_outbound_file_empty_data_round_trip(void **state)
{
    static const char *const forms[2] = { "bin", "base64" };
    sg_envelope *env, *again;
    sg_error err;
    sg_buf buf;
    mb m;
    int i;

    (void)state;
    for (i = 0; i < 2; i++) {
        mb_init(&m);
        mb_map(&m, 3);
        mb_kv(&m, "type", "file");
        mb_kv(&m, "channel_id", "c1");
        if (i == 0) {
            mb_str(&m, "file_data");
            mb_bin(&m, "", 0);
        } else {
            mb_kv(&m, "file_data", "");
        }
        env = mb_decode_ok(SG_KIND_OUTBOUND, &m);
        assert_int_equal(env->u.out.file_data.len, 0);
        sg_buf_init(&buf, NULL);
        if (sg_envelope_encode(env, &buf, &err) != 0)
            fail_msg("%s: %s", forms[i], err.msg);
        assert_int_equal(sg_envelope_decode_data(SG_KIND_OUTBOUND, buf.data,
                                                 buf.len, NULL, &again,
                                                 &err), 0);
        assert_true(sg_envelope_equal(env, again));
        sg_envelope_free(again);
        sg_envelope_free(env);
        sg_buf_destroy(&buf);
        mb_free(&m);
    }
}

/* SG-MP-006 SG-MP-007 SG-ENV-005: what the encoder writes, byte for
   byte: table order, defaults left out, bytes as bin. */
static void
test_envelope_encode_outbound_bytes(void **state)
{
    static const uint8_t want[] = {
        0x85,
        0xae, 's', 'c', 'h', 'e', 'm', 'a', '_', 'v', 'e', 'r', 's', 'i',
        'o', 'n', 0x01,
        0xa4, 't', 'y', 'p', 'e', 0xa4, 'f', 'i', 'l', 'e',
        0xaa, 'c', 'h', 'a', 'n', 'n', 'e', 'l', '_', 'i', 'd', 0xa1, 'c',
        0xa9, 'f', 'i', 'l', 'e', '_', 'd', 'a', 't', 'a', 0xc4, 0x02, 0x00,
        0xff,
        0xa8, 'f', 'i', 'l', 'e', 'n', 'a', 'm', 'e', 0xa5, 'a', '.', 'b',
        'i', 'n'
    };
    sg_envelope env;
    sg_error err;
    sg_buf buf;

    (void)state;
    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.type = SG_OUT_FILE;
    env.u.out.channel_id = SG_STR("c");
    env.u.out.file_data.ptr = (const uint8_t *)"\x00\xff";
    env.u.out.file_data.len = 2;
    env.u.out.filename = SG_STR("a.bin");
    sg_buf_init(&buf, NULL);
    assert_int_equal(sg_envelope_encode(&env, &buf, &err), 0);
    assert_int_equal(buf.len, sizeof(want));
    assert_memory_equal(buf.data, want, sizeof(want));
    sg_buf_destroy(&buf);
}

/* SG-FRAME-012 SG-OUTENV-004: the encoder refuses a bad outbound. */
static void
test_envelope_encode_outbound_refuses_invalid(void **state)
{
    sg_envelope env;
    sg_error err;
    sg_buf buf;

    (void)state;
    sg_buf_init(&buf, NULL);
    sg_envelope_init(&env, SG_KIND_OUTBOUND);
    env.u.out.text = SG_STR("hi");
    assert_int_equal(sg_envelope_encode(&env, &buf, &err), SG_EINVALID);
    assert_int_equal(err.reason, SG_REASON_MISSING_FIELD);
    assert_string_equal(err.path, "data.channel_id");
    env.u.out.type = (sg_out_type)42;
    assert_int_equal(sg_envelope_encode(&env, &buf, &err), SG_EINVALID);
    assert_int_equal(err.reason, SG_REASON_UNKNOWN_TYPE);
    env.u.out.type = SG_OUT_BUTTONS;
    env.u.out.channel_id = SG_STR("c");
    env.u.out.buttons.mp = (const uint8_t *)"\x90";
    env.u.out.buttons.len = 1;
    assert_int_equal(sg_envelope_encode(&env, &buf, &err), SG_EINVALID);
    assert_int_equal(err.reason, SG_REASON_INVALID_VALUE);
    assert_string_equal(err.path, "data.buttons");
    assert_int_equal(buf.len, 0);
    sg_buf_destroy(&buf);
}

/* SG-ENV-005 SG-RPC-001: round trips of every type; legacy names are
   written as the newer ones. */
static void
test_envelope_encode_outbound_round_trip(void **state)
{
    sg_envelope *env, *again;
    sg_error err;
    sg_buf buf;
    mb m;

    (void)state;
    mb_init(&m);
    sg_buf_init(&buf, NULL);
    mb_map(&m, 6);
    mb_kv(&m, "type", "rpc_request");
    mb_kv(&m, "action", "execute_tool");
    mb_str(&m, "kwargs");
    mb_map(&m, 1);
    mb_kv(&m, "tool_name", "search");
    mb_kv(&m, "reply_key", "r");
    mb_kv(&m, "message_key", "k");
    mb_kv(&m, "trace_id", "t");
    env = mb_decode_ok(SG_KIND_OUTBOUND, &m);
    assert_int_equal(sg_envelope_encode(env, &buf, &err), 0);
    assert_true(bytes_contain(buf.data, buf.len, "rpc_method", 10));
    assert_false(bytes_contain(buf.data, buf.len, "action", 6));
    assert_int_equal(sg_envelope_decode_data(SG_KIND_OUTBOUND, buf.data,
                                             buf.len, NULL, &again, &err), 0);
    assert_true(sg_envelope_equal(env, again));
    sg_envelope_free(again);
    sg_envelope_free(env);
    buttons_env(&m, 3, 1);
    env = mb_decode_ok(SG_KIND_OUTBOUND, &m);
    sg_buf_reset(&buf);
    assert_int_equal(sg_envelope_encode(env, &buf, &err), 0);
    assert_int_equal(sg_envelope_decode_data(SG_KIND_OUTBOUND, buf.data,
                                             buf.len, NULL, &again, &err), 0);
    assert_true(sg_envelope_equal(env, again));
    assert_int_equal(again->u.out.nbuttons, 3);
    sg_envelope_free(again);
    sg_envelope_free(env);
    sg_buf_destroy(&buf);
    mb_free(&m);
}

/* Every one-byte change of m to each of a set of values, and every cut,
   must get the same verdict from the fast path and the exact reading. */
static size_t
agree_on_mutations(sg_kind kind, mb *m)
{
    static const uint8_t values[] = {
        0x00, 0x01, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x9f, 0xa0, 0xa1, 0xa4,
        0xbf, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xca, 0xcb, 0xcc, 0xcf,
        0xd0, 0xd3, 0xd4, 0xd9, 0xda, 0xdb, 0xdc, 0xde, 0xdf, 0xe0, 0xff,
        'a', 'e', 't', '_'
    };
    size_t pos, v, checked = 0;

    for (pos = 0; pos <= m->len; pos++) {
        for (v = 0; v < sizeof(values) + 1; v++) {
            sg_envelope *fast = NULL, *exact = NULL;
            sg_error e1, e2;
            uint8_t saved = pos < m->len ? m->b[pos] : 0;
            size_t len = m->len;
            int r1, r2;

            if (v < sizeof(values)) {
                if (pos == m->len)
                    break;
                m->b[pos] = values[v];
            } else {
                len = pos;
            }
            r1 = sg__decode_data(kind, m->b, len, NULL, 0, &fast, &e1);
            r2 = sg__decode_data(kind, m->b, len, NULL, SG__DECODE_EXACT,
                                 &exact, &e2);
            if (r1 != r2 || (r1 == 0 && !sg_envelope_equal(fast, exact)))
                fail_msg("byte %zu = 0x%02x: fast %d, exact %d", pos,
                         v < sizeof(values) ? values[v] : 0, r1, r2);
            sg_envelope_free(fast);
            sg_envelope_free(exact);
            if (pos < m->len)
                m->b[pos] = saved;
            checked++;
        }
    }
    return checked;
}

/* SG-ENV-002 SG-OUTENV-001: the outbound fast path agrees with the exact
   reading, type first, type last or absent, on every kind of field. */
static void
test_envelope_decode_data_outbound_fast_path_agrees(void **state)
{
    size_t checked = 0;
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 5);
    mb_kv(&m, "type", "message");
    mb_kv(&m, "channel_id", "c1");
    mb_kv(&m, "message_key", "k");
    mb_kv(&m, "text", "hello");
    mb_kv(&m, "reply_to", "m");
    checked += agree_on_mutations(SG_KIND_OUTBOUND, &m);
    m.len = 0;
    mb_map(&m, 4);
    mb_kv(&m, "channel_id", "c1");
    mb_kv(&m, "text", "hi");
    mb_kv(&m, "x", "y");
    mb_kv(&m, "type", "message");
    checked += agree_on_mutations(SG_KIND_OUTBOUND, &m);
    m.len = 0;
    mb_map(&m, 5);
    mb_kv(&m, "type", "file");
    mb_kv(&m, "channel_id", "c");
    mb_str(&m, "file_data");
    mb_bin(&m, "ab", 2);
    mb_kv(&m, "filename", "f");
    mb_str(&m, "schema_version");
    mb_int(&m, 1);
    checked += agree_on_mutations(SG_KIND_OUTBOUND, &m);
    m.len = 0;
    mb_map(&m, 5);
    mb_kv(&m, "type", "rpc_request");
    mb_kv(&m, "rpc_method", "m");
    mb_str(&m, "rpc_args");
    mb_map(&m, 1);
    mb_str(&m, "limit");
    mb_int(&m, 10);
    mb_kv(&m, "reply_key", "r");
    mb_kv(&m, "emoji", "e");
    checked += agree_on_mutations(SG_KIND_OUTBOUND, &m);
    m.len = 0;
    mb_map(&m, 4);
    mb_kv(&m, "type", "reaction");
    mb_kv(&m, "channel_id", "c");
    mb_kv(&m, "message_id", "m");
    mb_kv(&m, "emoji", "e");
    checked += agree_on_mutations(SG_KIND_OUTBOUND, &m);
    m.len = 0;
    mb_map(&m, 3);
    mb_kv(&m, "type", "presence");
    mb_kv(&m, "channel_id", "");
    mb_kv(&m, "text", "t");
    checked += agree_on_mutations(SG_KIND_OUTBOUND, &m);
    assert_true(checked > 5000);
    mb_free(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_decode_data_outbound_types),
        cmocka_unit_test(test_envelope_decode_data_outbound_unknown_type),
        cmocka_unit_test(test_envelope_decode_data_outbound_channel),
        cmocka_unit_test(
            test_envelope_decode_data_outbound_text_bound_follows_type),
        cmocka_unit_test(test_envelope_decode_data_outbound_buttons),
        cmocka_unit_test(test_envelope_decode_data_outbound_rpc_request),
        cmocka_unit_test(test_envelope_decode_data_outbound_file_base64),
        cmocka_unit_test(test_envelope_outbound_file_empty_data_round_trip),
        cmocka_unit_test(test_envelope_encode_outbound_bytes),
        cmocka_unit_test(test_envelope_encode_outbound_refuses_invalid),
        cmocka_unit_test(test_envelope_encode_outbound_round_trip),
        cmocka_unit_test(test_envelope_decode_data_outbound_fast_path_agrees),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
