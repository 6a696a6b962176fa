/*
 * test_codec_inbound.c: the inbound envelope (SPEC section 8), decoded
 * and encoded, and the fast path held to the exact reading.
 */
#include <math.h>

#include "mp_build.h"
#include "../decode_internal.h"

/* A typical gateway envelope with every kind of field. */
static void
typical(mb *m)
{
    mb_map(m, 13);
    mb_str(m, "schema_version");
    mb_int(m, 1);
    mb_kv(m, "platform", "discord");
    mb_kv(m, "channel_id", "1234567890");
    mb_kv(m, "user_id", "42");
    mb_kv(m, "username", "alice");
    mb_kv(m, "content", "hello bot");
    mb_str(m, "is_addressed");
    mb_bool(m, 0);
    mb_str(m, "attachments");
    mb_arr(m, 1);
    mb_map(m, 3);
    mb_str(m, "data");
    mb_bin(m, "\x89PNG", 4);
    mb_kv(m, "mimetype", "image/png");
    mb_kv(m, "filename", "a.png");
    mb_str(m, "timestamp");
    mb_f64(m, 1732350000.25);
    mb_kv(m, "guild_id", "555");
    mb_str(m, "member_roles");
    mb_arr(m, 2);
    mb_str(m, "admin");
    mb_str(m, "");
    mb_str(m, "member_count");
    mb_int(m, 57);
    mb_str(m, "embeds");
    mb_map(m, 1);
    mb_kv(m, "title", "t");
}

/* SG-INENV-001 SG-INENV-003: every field reaches the typed struct. */
static void
test_envelope_decode_data_inbound_fields(void **state)
{
    sg_envelope *env;
    const sg_inbound *in;
    mb m;

    (void)state;
    mb_init(&m);
    typical(&m);
    env = mb_decode_ok(SG_KIND_INBOUND, &m);
    in = &env->u.in;
    assert_int_equal(env->kind, SG_KIND_INBOUND);
    assert_int_equal(env->schema_version, 1);
    assert_true(str_eq(in->platform, "discord"));
    assert_true(str_eq(in->channel_id, "1234567890"));
    assert_true(str_eq(in->user_id, "42"));
    assert_true(str_eq(in->username, "alice"));
    assert_true(str_eq(in->content, "hello bot"));
    assert_false(in->is_addressed);
    assert_int_equal(in->nattachments, 1);
    assert_int_equal(in->attachments[0].data.len, 4);
    assert_memory_equal(in->attachments[0].data.ptr, "\x89PNG", 4);
    assert_true(str_eq(in->attachments[0].mimetype, "image/png"));
    assert_true(str_eq(in->attachments[0].source_url, ""));
    assert_true(in->timestamp == 1732350000.25);
    assert_true(in->has_guild_id);
    assert_true(str_eq(in->guild_id, "555"));
    assert_int_equal(in->member_roles.n, 2);
    assert_true(str_eq(in->member_roles.items[1], ""));
    assert_int_equal(in->member_count, 57);
    assert_int_equal(in->embeds.len, 9);
    assert_int_equal(in->reactions.len, 0);
    assert_false(in->has_unified_user_id);
    /* Strings point into the caller's bytes (no copy). */
    assert_true((const uint8_t *)in->platform.ptr > m.b
                && (const uint8_t *)in->platform.ptr < m.b + m.len);
    sg_envelope_free(env);
    mb_free(&m);
}

/* SG-INENV-002 SG-MP-010: absent and nil fields take their defaults. */
static void
test_envelope_decode_data_inbound_defaults(void **state)
{
    static const char *const optional[] = {
        "user_id", "username", "content", "is_addressed", "attachments",
        "room_name", "timestamp", "message_id", "reply_to", "guild_id",
        "guild_name", "is_dm", "member_roles", "embeds", "member_count",
        "reactions", "unified_user_id", "user_aliases", "trace_id",
        "schema_version"
    };
    sg_envelope *env;
    size_t i;
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 2 + 20);
    mb_kv(&m, "platform", "p");
    mb_kv(&m, "channel_id", "c");
    for (i = 0; i < 20; i++) {
        mb_str(&m, optional[i]);
        mb_nil(&m);
    }
    env = mb_decode_ok(SG_KIND_INBOUND, &m);
    assert_true(env->u.in.is_addressed);
    assert_false(env->u.in.is_dm);
    assert_false(env->u.in.has_guild_id);
    assert_int_equal(env->u.in.nattachments, 0);
    assert_int_equal(env->u.in.member_roles.n, 0);
    assert_int_equal(env->u.in.embeds.len, 0);
    assert_true(env->u.in.timestamp == 0.0);
    assert_int_equal(env->u.in.member_count, 0);
    sg_envelope_free(env);
    mb_free(&m);
}

/* SG-MP-010 SG-ENV-002 SG-ENV-006: required fields absent or nil are
   missing in table order after the map; empty ones are invalid. */
static void
test_envelope_decode_data_inbound_required_fields(void **state)
{
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 1);
    mb_str(&m, "platform");
    mb_nil(&m);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_MISSING_FIELD, "data.platform");
    m.len = 0;
    mb_map(&m, 2);
    mb_kv(&m, "platform", "p");
    mb_str(&m, "is_dm");
    mb_int(&m, 1);                  /* met before the missing check */
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_WRONG_TYPE, "data.is_dm");
    m.len = 0;
    mb_map(&m, 1);
    mb_kv(&m, "platform", "p");
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_MISSING_FIELD,
              "data.channel_id");
    m.len = 0;
    mb_map(&m, 2);
    mb_kv(&m, "channel_id", "c");
    mb_kv(&m, "platform", "");
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_INVALID_VALUE, "data.platform");
    mb_free(&m);
}

/* Builds {platform, channel_id, <key>: <value written by fn>}. */
static void
with_field(mb *m, const char *key, void (*fn)(mb *))
{
    m->len = 0;
    mb_map(m, 3);
    mb_kv(m, "platform", "p");
    mb_kv(m, "channel_id", "c");
    mb_str(m, key);
    fn(m);
}

static void v_int5(mb *m) { mb_int(m, 5); }
static void v_bin(mb *m) { mb_bin(m, "x", 1); }
static void v_str(mb *m) { mb_str(m, "x"); }
static void v_neg(mb *m) { mb_int(m, -1); }
static void v_big(mb *m) { mb_int(m, (int64_t)INT32_MAX + 1); }
static void v_nan(mb *m) { mb_f64(m, (double)NAN); }
static void v_negf(mb *m) { mb_f64(m, -0.5); }
static void v_u64(mb *m) { mb_byte(m, 0xcf); mb_be(m, UINT64_MAX, 8); }
static void v_nil_elem(mb *m) { mb_arr(m, 2); mb_str(m, "a"); mb_nil(m); }
static void v_att_not_map(mb *m) { mb_arr(m, 1); mb_str(m, "x"); }
static void v_b64(mb *m)
{
    mb_arr(m, 1);
    mb_map(m, 1);
    mb_kv(m, "data", "aGVsbG8=");
}
static void v_b64_bad(mb *m)
{
    mb_arr(m, 1);
    mb_map(m, 1);
    mb_kv(m, "data", "aGVsbG9=");  /* padding bits not zero */
}

/* SG-MP-005 SG-MP-007 SG-MP-008 SG-MP-009 SG-ENV-008 SG-ENV-009
   SG-INENV-004: field types and ranges. */
static void
test_envelope_decode_data_inbound_types(void **state)
{
    mb m;

    (void)state;
    mb_init(&m);
    with_field(&m, "username", v_bin);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_WRONG_TYPE, "data.username");
    with_field(&m, "is_dm", v_str);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_WRONG_TYPE, "data.is_dm");
    with_field(&m, "member_count", v_str);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_WRONG_TYPE,
              "data.member_count");
    with_field(&m, "member_count", v_neg);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_OUT_OF_RANGE,
              "data.member_count");
    with_field(&m, "member_count", v_big);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_OUT_OF_RANGE,
              "data.member_count");
    with_field(&m, "member_count", v_u64);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_OUT_OF_RANGE,
              "data.member_count");
    with_field(&m, "reactions", v_u64);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_OUT_OF_RANGE, "data.reactions");
    with_field(&m, "timestamp", v_nan);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_OUT_OF_RANGE, "data.timestamp");
    with_field(&m, "timestamp", v_negf);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_OUT_OF_RANGE, "data.timestamp");
    with_field(&m, "timestamp", v_str);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_WRONG_TYPE, "data.timestamp");
    with_field(&m, "member_roles", v_nil_elem);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_WRONG_TYPE,
              "data.member_roles[1]");
    with_field(&m, "attachments", v_att_not_map);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_WRONG_TYPE,
              "data.attachments[0]");
    with_field(&m, "attachments", v_b64_bad);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_INVALID_VALUE,
              "data.attachments[0].data");
    with_field(&m, "timestamp", v_int5);    /* an int is a float */
    sg_envelope_free(mb_decode_ok(SG_KIND_INBOUND, &m));
    mb_free(&m);
}

/* SG-MP-006 SG-INENV-005: attachment data given as base64 str is
   decoded into the envelope's own memory. */
static void
test_envelope_decode_data_inbound_base64_attachment(void **state)
{
    sg_envelope *env;
    mb m;

    (void)state;
    mb_init(&m);
    with_field(&m, "attachments", v_b64);
    env = mb_decode_ok(SG_KIND_INBOUND, &m);
    assert_int_equal(env->u.in.attachments[0].data.len, 5);
    assert_memory_equal(env->u.in.attachments[0].data.ptr, "hello", 5);
    sg_envelope_free(env);
    mb_free(&m);
}

/* SG-LIMIT-002 SG-LIMIT-003 SG-LIMIT-004: bounds, and messages that name
   the field, the size and the limit. */
static void
test_envelope_decode_data_inbound_limits(void **state)
{
    sg_decode_opts opts;
    sg_envelope *env = NULL;
    sg_error err;
    int i;
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 3);
    mb_kv(&m, "platform", "p");
    mb_kv(&m, "channel_id", "c");
    mb_str(&m, "content");
    mb_strfill(&m, 262145, 'a');
    assert_int_equal(sg_envelope_decode_data(SG_KIND_INBOUND, m.b, m.len,
                                             NULL, &env, &err), SG_EDECODE);
    assert_int_equal(err.reason, SG_REASON_STRING_TOO_LONG);
    assert_string_equal(err.path, "data.content");
    assert_string_equal(err.msg, "data.content: string of 262145 bytes "
                        "exceeds max_text_bytes 262144");

    m.len = 0;
    mb_map(&m, 3);
    mb_kv(&m, "platform", "p");
    mb_strfill(&m, 4097, 'c');      /* an unknown key too long */
    mb_nil(&m);
    mb_kv(&m, "channel_id", "c");
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_STRING_TOO_LONG, "data");

    m.len = 0;
    mb_map(&m, 3);
    mb_kv(&m, "platform", "p");
    mb_kv(&m, "channel_id", "c");
    mb_str(&m, "attachments");
    mb_arr(&m, 33);
    for (i = 0; i < 33; i++)
        mb_map(&m, 0);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_ARRAY_TOO_LONG,
              "data.attachments");

    sg_decode_opts_init(&opts);
    opts.limits.max_binary_bytes = 3;
    with_field(&m, "attachments", v_b64);
    mb_expect_opts(SG_KIND_INBOUND, &m, &opts, SG_REASON_BINARY_TOO_LARGE,
                   "data.attachments[0].data");
    opts.limits.max_depth = 0;
    assert_int_equal(sg_envelope_decode_data(SG_KIND_INBOUND, m.b, m.len,
                                             &opts, &env, &err), SG_EINVAL);
    mb_free(&m);
}

/* SG-ENV-004: unknown keys are ignored once they pass the generic
   checks. */
static void
test_envelope_decode_data_inbound_unknown_keys(void **state)
{
    sg_envelope *env;
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 4);
    mb_kv(&m, "future_field", "x");
    mb_kv(&m, "platform", "p");
    mb_str(&m, "future_map");
    mb_map(&m, 1);
    mb_kv(&m, "a", "b");
    mb_kv(&m, "channel_id", "c");
    env = mb_decode_ok(SG_KIND_INBOUND, &m);
    assert_true(str_eq(env->u.in.channel_id, "c"));
    sg_envelope_free(env);
    mb_free(&m);
}

/* SG-ENV-003 SG-ENV-007: schema_version. */
static void
test_envelope_decode_data_inbound_schema_version(void **state)
{
    mb m;

    (void)state;
    mb_init(&m);
    with_field(&m, "schema_version", v_str);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_WRONG_TYPE,
              "data.schema_version");
    with_field(&m, "schema_version", v_int5);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_UNKNOWN_VERSION,
              "data.schema_version");
    mb_free(&m);
}

/*
 * SG-ENV-002: the fast path of valid inbound envelopes agrees with the
 * exact reading on every envelope made by changing one byte of a typical
 * one to each of a set of values, or cutting it short: both accept with
 * equal envelopes, or both reject (the reported problem is always the
 * exact reading's).
 */
static void
test_envelope_decode_data_inbound_fast_path_agrees(void **state)
{
    static const uint8_t values[] = {
        0x00, 0x01, 0x7f, 0x80, 0x81, 0x8f, 0x90, 0x9f, 0xa0, 0xa1, 0xbf,
        0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xca, 0xcb, 0xcc, 0xcf, 0xd0, 0xd3,
        0xd4, 0xd9, 0xda, 0xdb, 0xdc, 0xde, 0xdf, 0xe0, 0xff, 'a', '_'
    };
    size_t pos, v, checked = 0;
    mb m;

    (void)state;
    mb_init(&m);
    typical(&m);
    for (pos = 0; pos <= m.len; pos++) {
        for (v = 0; v < sizeof(values) + 1; v++) {
            sg_envelope *fast = NULL, *exact = NULL;
            sg_error e1, e2;
            uint8_t saved = pos < m.len ? m.b[pos] : 0;
            size_t len = m.len;
            int r1, r2;

            if (v < sizeof(values)) {
                if (pos == m.len)
                    break;
                m.b[pos] = values[v];
            } else {
                len = pos;          /* cut short */
            }
            r1 = sg__decode_data(SG_KIND_INBOUND, m.b, len, NULL, 0, &fast,
                                 &e1);
            r2 = sg__decode_data(SG_KIND_INBOUND, m.b, len, NULL,
                                 SG__DECODE_EXACT, &exact, &e2);
            if (r1 != r2)
                fail_msg("byte %zu = 0x%02x: fast %d, exact %d", pos,
                         v < sizeof(values) ? values[v] : 0, r1, r2);
            if (r1 == 0)
                assert_true(sg_envelope_equal(fast, exact));
            else
                assert_true(e1.reason == e2.reason
                            && strcmp(e1.path, e2.path) == 0);
            sg_envelope_free(fast);
            sg_envelope_free(exact);
            if (pos < m.len)
                m.b[pos] = saved;
            checked++;
        }
    }
    assert_true(checked > 1000);
    mb_free(&m);
}

/* SG-ENV-005 SG-FRAME-012: encode then decode gives the envelope back,
   defaults left out. */
static void
test_envelope_encode_inbound_round_trip(void **state)
{
    sg_envelope *env, *again = NULL;
    sg_envelope mine;
    sg_error err;
    sg_buf buf;
    mb m;

    (void)state;
    mb_init(&m);
    typical(&m);
    env = mb_decode_ok(SG_KIND_INBOUND, &m);
    sg_buf_init(&buf, NULL);
    assert_int_equal(sg_envelope_encode(env, &buf, &err), 0);
    assert_int_equal(sg_envelope_decode_data(SG_KIND_INBOUND, buf.data,
                                             buf.len, NULL, &again, &err), 0);
    assert_true(sg_envelope_equal(env, again));
    sg_envelope_free(again);
    sg_envelope_free(env);

    /* From caller storage: only the set fields (and the version). */
    sg_envelope_init(&mine, SG_KIND_INBOUND);
    mine.u.in.platform = SG_STR("p");
    mine.u.in.channel_id = SG_STR("c");
    sg_buf_reset(&buf);
    assert_int_equal(sg_envelope_encode(&mine, &buf, &err), 0);
    assert_int_equal(buf.data[0], 0x83);
    assert_int_equal(sg_envelope_decode_data(SG_KIND_INBOUND, buf.data,
                                             buf.len, NULL, &again, &err), 0);
    assert_true(sg_envelope_equal(&mine, again));
    sg_envelope_free(again);
    sg_buf_destroy(&buf);
    mb_free(&m);
}

/* SG-FRAME-012 SG-LIMIT-008: the encoder refuses what a decoder would
   reject, with the decoder's reason and path, and writes nothing. */
static void
test_envelope_encode_inbound_refuses_invalid(void **state)
{
    sg_str roles[2] = { SG_STR("ok"), { "\xc0\x80", 2 } };
    sg_envelope env;
    sg_error err;
    sg_buf buf;

    (void)state;
    sg_buf_init(&buf, NULL);
    assert_int_equal(sg_buf_append(&buf, "xy", 2), 0);
    sg_envelope_init(&env, SG_KIND_INBOUND);
    env.u.in.channel_id = SG_STR("c");
    assert_int_equal(sg_envelope_encode(&env, &buf, &err), SG_EINVALID);
    assert_int_equal(err.reason, SG_REASON_MISSING_FIELD);
    assert_string_equal(err.path, "data.platform");
    env.u.in.platform = SG_STR("");
    assert_int_equal(sg_envelope_encode(&env, &buf, &err), SG_EINVALID);
    assert_int_equal(err.reason, SG_REASON_INVALID_VALUE);
    env.u.in.platform = SG_STR("p");
    env.u.in.member_roles.items = roles;
    env.u.in.member_roles.n = 2;
    assert_int_equal(sg_envelope_encode(&env, &buf, &err), SG_EINVALID);
    assert_int_equal(err.reason, SG_REASON_INVALID_UTF8);
    assert_string_equal(err.path, "data.member_roles[1]");
    env.u.in.member_roles.n = 1;
    env.u.in.member_count = -1;
    assert_int_equal(sg_envelope_encode(&env, &buf, &err), SG_EINVALID);
    assert_string_equal(err.path, "data.member_count");
    env.u.in.member_count = 0;
    env.u.in.embeds.mp = (const uint8_t *)"\x91";  /* cut short */
    env.u.in.embeds.len = 1;
    assert_int_equal(sg_envelope_encode(&env, &buf, &err), SG_EINVALID);
    assert_int_equal(err.reason, SG_REASON_TRUNCATED);
    assert_string_equal(err.path, "data.embeds");
    assert_int_equal(buf.len, 2);   /* nothing written */
    sg_buf_destroy(&buf);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_decode_data_inbound_fields),
        cmocka_unit_test(test_envelope_decode_data_inbound_defaults),
        cmocka_unit_test(test_envelope_decode_data_inbound_required_fields),
        cmocka_unit_test(test_envelope_decode_data_inbound_types),
        cmocka_unit_test(test_envelope_decode_data_inbound_base64_attachment),
        cmocka_unit_test(test_envelope_decode_data_inbound_limits),
        cmocka_unit_test(test_envelope_decode_data_inbound_unknown_keys),
        cmocka_unit_test(test_envelope_decode_data_inbound_schema_version),
        cmocka_unit_test(test_envelope_decode_data_inbound_fast_path_agrees),
        cmocka_unit_test(test_envelope_encode_inbound_round_trip),
        cmocka_unit_test(test_envelope_encode_inbound_refuses_invalid),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
