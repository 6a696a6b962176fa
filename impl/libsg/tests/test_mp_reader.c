/*
 * test_mp_reader.c: the bounded msgpack reader (mp_reader.h) and the
 * msgpack pass of decoding (mp_check.c): SPEC section 4, the depth and
 * count limits of section 5, and the order of SG-ENV-002 step B.
 */
#include "mp_build.h"
#include "../mp_reader.h"

static int
head(const uint8_t *bytes, size_t n, sg__mp_obj *o)
{
    const uint8_t *p = bytes;

    return sg__mp_head(&p, bytes + n, o);
}

/* SG-MP-007: every integer encoding reads as the same value. */
static void
test_mp_head_reads_every_integer_encoding(void **state)
{
    static const struct {
        uint8_t bytes[9];
        size_t n;
        int neg;
        int64_t v;
    } cases[] = {
        { { 0x64 }, 1, 0, 100 },
        { { 0xcc, 100 }, 2, 0, 100 },
        { { 0xcd, 0, 100 }, 3, 0, 100 },
        { { 0xce, 0, 0, 0, 100 }, 5, 0, 100 },
        { { 0xcf, 0, 0, 0, 0, 0, 0, 0, 100 }, 9, 0, 100 },
        { { 0xd0, 100 }, 2, 0, 100 },
        { { 0xd1, 0, 100 }, 3, 0, 100 },
        { { 0xd2, 0, 0, 0, 100 }, 5, 0, 100 },
        { { 0xd3, 0, 0, 0, 0, 0, 0, 0, 100 }, 9, 0, 100 },
        { { 0xff }, 1, 1, -1 },
        { { 0xd0, 0x80 }, 2, 1, -128 },
        { { 0xd1, 0x80, 0 }, 3, 1, -32768 },
        { { 0xd3, 0x80, 0, 0, 0, 0, 0, 0, 0 }, 9, 1, INT64_MIN },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        sg__mp_obj o;

        assert_int_equal(head(cases[i].bytes, cases[i].n, &o), 0);
        if (cases[i].neg) {
            assert_int_equal(o.type, SG__MP_INT);
            assert_true(o.v.i == cases[i].v);
        } else {
            assert_int_equal(o.type, SG__MP_UINT);
            assert_true(o.v.u == (uint64_t)cases[i].v);
        }
    }
}

/* SG-MP-001 SG-LIMIT-006: a header or body cut short, and counts that
   cannot fit in the bytes left, are truncated. */
static void
test_mp_head_rejects_what_does_not_fit(void **state)
{
    static const uint8_t str_cut[] = { 0xa5, 'a', 'b' };
    static const uint8_t len_cut[] = { 0xda, 0x00 };
    static const uint8_t arr_huge[] = { 0xdd, 0xff, 0xff, 0xff, 0xff, 0 };
    static const uint8_t map_odd[] = { 0x82, 0xa1, 'a', 0x01 };
    static const uint8_t c1[] = { 0xc1 };
    static const uint8_t ext[] = { 0xd4, 0x01 };
    sg__mp_obj o;

    (void)state;
    assert_int_equal(head(str_cut, sizeof(str_cut), &o),
                     SG_REASON_TRUNCATED);
    assert_int_equal(head(len_cut, sizeof(len_cut), &o),
                     SG_REASON_TRUNCATED);
    assert_int_equal(head(arr_huge, sizeof(arr_huge), &o),
                     SG_REASON_TRUNCATED);
    assert_int_equal(head(map_odd, sizeof(map_odd), &o),
                     SG_REASON_TRUNCATED);
    assert_int_equal(head(c1, 0, &o), SG_REASON_TRUNCATED);
    assert_int_equal(head(c1, 1, &o), SG_REASON_INVALID_MSGPACK);
    assert_int_equal(head(ext, sizeof(ext), &o), 0);
    assert_int_equal(o.type, SG__MP_EXT);
}

/* SG-MP-001: the top-level value. */
static void
test_decode_data_rejects_bad_top_level(void **state)
{
    mb m;

    (void)state;
    mb_init(&m);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_TRUNCATED, "data");
    mb_byte(&m, 0xc1);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_INVALID_MSGPACK, "data");
    m.len = 0;
    mb_arr(&m, 0);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_NOT_MAP, "data");
    m.len = 0;
    mb_byte(&m, 0xd4);              /* an ext is not a map either */
    mb_byte(&m, 0);
    mb_byte(&m, 0);
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_NOT_MAP, "data");
    m.len = 0;
    mb_map(&m, 2);
    mb_kv(&m, "platform", "p");
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_TRUNCATED, "data");
    mb_kv(&m, "channel_id", "c");
    mb_byte(&m, 0xc0);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_TRAILING_BYTES, "data");
    mb_free(&m);
}

/* SG-MP-002: a key that is not a str, at any depth, at the map's path. */
static void
test_decode_data_rejects_non_str_keys(void **state)
{
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 3);
    mb_kv(&m, "platform", "p");
    mb_kv(&m, "channel_id", "c");
    mb_str(&m, "embeds");
    mb_arr(&m, 1);
    mb_map(&m, 1);
    mb_int(&m, 7);
    mb_str(&m, "v");
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_WRONG_TYPE, "data.embeds[0]");
    m.len = 0;
    mb_map(&m, 1);
    mb_bin(&m, "k", 1);
    mb_str(&m, "v");
    mb_expect(SG_KIND_TOOLS_REPLY, &m, SG_REASON_WRONG_TYPE, "data");
    mb_free(&m);
}

/* SG-MP-003: duplicates at any depth, among unknown keys, in small and
   large maps, at the path of the repeated key. */
static void
test_decode_data_rejects_duplicate_keys(void **state)
{
    char key[8];
    mb m;
    int i;

    (void)state;
    mb_init(&m);
    mb_map(&m, 3);
    mb_kv(&m, "platform", "p");
    mb_kv(&m, "channel_id", "c");
    mb_kv(&m, "platform", "q");
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_DUPLICATE_KEY, "data.platform");

    m.len = 0;
    mb_map(&m, 4);
    mb_kv(&m, "x-new", "1");
    mb_kv(&m, "platform", "p");
    mb_kv(&m, "channel_id", "c");
    mb_kv(&m, "x-new", "2");
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_DUPLICATE_KEY, "data.x-new");

    /* 40 keys: past the small set, into the hash table. */
    m.len = 0;
    mb_map(&m, 3);
    mb_kv(&m, "platform", "p");
    mb_kv(&m, "channel_id", "c");
    mb_str(&m, "embeds");
    mb_map(&m, 41);
    for (i = 0; i < 40; i++) {
        assert_true(snprintf(key, sizeof(key), "k%d", i) < (int)sizeof(key));
        mb_str(&m, key);
        mb_int(&m, i);
    }
    mb_str(&m, "k17");
    mb_nil(&m);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_DUPLICATE_KEY,
              "data.embeds.k17");

    /* 300 keys: past the hash table, into sorting. The repeat of k7 at
       pair 100 is met before a bad string at pair 200, and after one at
       pair 50. */
    for (int bad = 200; bad >= 50; bad -= 150) {
        m.len = 0;
        mb_map(&m, 3);
        mb_kv(&m, "platform", "p");
        mb_kv(&m, "channel_id", "c");
        mb_str(&m, "embeds");
        mb_map(&m, 300);
        for (i = 0; i < 300; i++) {
            assert_true(snprintf(key, sizeof(key), "k%d", i == 100 ? 7 : i)
                        < (int)sizeof(key));
            mb_str(&m, key);
            mb_str(&m, i == bad ? "\xff" : "v");
        }
        if (bad == 200)
            mb_expect(SG_KIND_INBOUND, &m, SG_REASON_DUPLICATE_KEY,
                      "data.embeds.k7");
        else
            mb_expect(SG_KIND_INBOUND, &m, SG_REASON_INVALID_UTF8,
                      "data.embeds.k50");
    }

    /* The envelope map itself with 300 pairs: the repeat, not the size. */
    m.len = 0;
    mb_map(&m, 300);
    for (i = 0; i < 300; i++) {
        assert_true(snprintf(key, sizeof(key), "x%d", i == 250 ? 3 : i)
                    < (int)sizeof(key));
        mb_kv(&m, key, "v");
    }
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_DUPLICATE_KEY, "data.x3");

    /* Inside an rpc_args map of an outbound envelope. */
    m.len = 0;
    mb_map(&m, 4);
    mb_kv(&m, "type", "rpc_request");
    mb_kv(&m, "rpc_method", "m");
    mb_kv(&m, "reply_key", "r");
    mb_str(&m, "rpc_args");
    mb_map(&m, 2);
    mb_kv(&m, "a", "1");
    mb_kv(&m, "a", "2");
    mb_expect(SG_KIND_OUTBOUND, &m, SG_REASON_DUPLICATE_KEY,
              "data.rpc_args.a");
    mb_free(&m);
}

/* SG-MP-004: invalid UTF-8 anywhere, keys at the map's path. */
static void
test_decode_data_rejects_invalid_utf8(void **state)
{
    static const char *const bad[] = {
        "\xc0\xaf",             /* overlong '/' */
        "\xe0\x80\xaf",         /* overlong, 3 bytes */
        "\xed\xa0\x80",         /* a surrogate */
        "\xf4\x90\x80\x80",     /* above U+10FFFF */
        "abc\xe2\x82",          /* cut short */
        "\x80",                 /* a lone continuation byte */
        "\xff",
    };
    size_t i;
    mb m;

    (void)state;
    mb_init(&m);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        m.len = 0;
        mb_map(&m, 3);
        mb_kv(&m, "platform", "p");
        mb_kv(&m, "channel_id", "c");
        mb_kv(&m, "username", bad[i]);
        mb_expect(SG_KIND_INBOUND, &m, SG_REASON_INVALID_UTF8,
                  "data.username");
    }
    m.len = 0;
    mb_map(&m, 3);
    mb_kv(&m, "platform", "p");
    mb_kv(&m, "channel_id", "c");
    mb_kv(&m, "k\xff", "v");
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_INVALID_UTF8, "data");
    mb_free(&m);
}

/* SG-MP-004: the longest and oddest valid forms are accepted. */
static void
test_decode_data_accepts_valid_utf8(void **state)
{
    const char *text = "a\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf"
                       "\xee\x80\x80\xf0\x90\x80\x80\xf4\x8f\xbf\xbf z";
    sg_envelope *env;
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 3);
    mb_kv(&m, "platform", "p");
    mb_kv(&m, "channel_id", "c");
    mb_kv(&m, "content", text);
    env = mb_decode_ok(SG_KIND_INBOUND, &m);
    assert_true(str_eq(env->u.in.content, text));
    sg_envelope_free(env);
    mb_free(&m);
}

/* SG-MP-011: ext types are wrong_type wherever they are. */
static void
test_decode_data_rejects_ext(void **state)
{
    static const uint8_t timestamp_ext[] = { 0xd6, 0xff, 0, 0, 0, 1 };
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 3);
    mb_kv(&m, "platform", "p");
    mb_kv(&m, "channel_id", "c");
    mb_str(&m, "reactions");
    mb_arr(&m, 2);
    mb_int(&m, 1);
    mb_raw(&m, timestamp_ext, sizeof(timestamp_ext));
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_WRONG_TYPE,
              "data.reactions[1]");
    /* Cut short: still wrong_type, its length is never read. */
    m.len -= 4;
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_WRONG_TYPE,
              "data.reactions[1]");
    mb_free(&m);
}

/* SG-LIMIT-006: a count beyond the bytes left is truncated, before the
   element bound and with no allocation for it. */
static void
test_decode_data_checks_counts_against_bytes(void **state)
{
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 3);
    mb_kv(&m, "platform", "p");
    mb_kv(&m, "channel_id", "c");
    mb_str(&m, "member_roles");
    mb_byte(&m, 0xdd);
    mb_be(&m, 0xffffffffu, 4);
    mb_str(&m, "r");
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_TRUNCATED, "data.member_roles");
    m.len = 0;
    mb_byte(&m, 0xdf);
    mb_be(&m, 0xffffffffu, 4);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_TRUNCATED, "data");
    mb_free(&m);
}

static void
nest(mb *m, int arrays)
{
    int i;

    for (i = 0; i < arrays; i++)
        mb_arr(m, 1);
}

/* SG-LIMIT-005 SG-ENV-010: depth counts containers; a scalar in a
   container at max_depth is fine, a container there is too deep. */
static void
test_decode_data_limits_depth(void **state)
{
    sg_envelope *env;
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 3);
    mb_kv(&m, "platform", "p");
    mb_kv(&m, "channel_id", "c");
    mb_str(&m, "embeds");
    nest(&m, 15);                   /* depths 2 .. 16 */
    mb_int(&m, 7);
    env = mb_decode_ok(SG_KIND_INBOUND, &m);
    sg_envelope_free(env);
    m.len -= 1;
    mb_arr(&m, 0);                  /* depth 17 */
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_TOO_DEEP,
              "data.embeds[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0]");
    mb_free(&m);
}

/* SG-ENV-002: a msgpack problem wins over a table problem met before
   it; within the tables, schema_version before the other pairs. */
static void
test_decode_data_reports_msgpack_problems_first(void **state)
{
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 3);
    mb_str(&m, "platform");
    mb_int(&m, 5);                  /* wrong_type, a table problem */
    mb_kv(&m, "channel_id", "c");
    mb_kv(&m, "note", "\xff");      /* invalid_utf8, a msgpack problem */
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_INVALID_UTF8, "data.note");

    m.len = 0;
    mb_map(&m, 3);
    mb_str(&m, "platform");
    mb_int(&m, 5);
    mb_kv(&m, "channel_id", "c");
    mb_str(&m, "schema_version");
    mb_int(&m, 2);
    mb_expect(SG_KIND_INBOUND, &m, SG_REASON_UNKNOWN_VERSION,
              "data.schema_version");
    mb_free(&m);
}

/* SG-MP-012: any values of every kind are carried byte for byte. */
static void
test_decode_data_carries_any_values(void **state)
{
    sg_envelope *env;
    size_t start;
    mb m;

    (void)state;
    mb_init(&m);
    mb_map(&m, 3);
    mb_kv(&m, "platform", "p");
    mb_kv(&m, "channel_id", "c");
    mb_str(&m, "embeds");
    start = m.len;
    mb_arr(&m, 8);
    mb_nil(&m);
    mb_bool(&m, 1);
    mb_int(&m, -5);
    mb_byte(&m, 0xcd);              /* a non-shortest uint 16 */
    mb_be(&m, 7, 2);
    mb_f64(&m, 0.5);
    mb_str(&m, "s");
    mb_bin(&m, "\x00\x01", 2);
    mb_map(&m, 1);
    mb_kv(&m, "k", "v");
    env = mb_decode_ok(SG_KIND_INBOUND, &m);
    assert_int_equal(env->u.in.embeds.len, m.len - start);
    assert_memory_equal(env->u.in.embeds.mp, m.b + start, m.len - start);
    sg_envelope_free(env);
    mb_free(&m);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mp_head_reads_every_integer_encoding),
        cmocka_unit_test(test_mp_head_rejects_what_does_not_fit),
        cmocka_unit_test(test_decode_data_rejects_bad_top_level),
        cmocka_unit_test(test_decode_data_rejects_non_str_keys),
        cmocka_unit_test(test_decode_data_rejects_duplicate_keys),
        cmocka_unit_test(test_decode_data_rejects_invalid_utf8),
        cmocka_unit_test(test_decode_data_accepts_valid_utf8),
        cmocka_unit_test(test_decode_data_rejects_ext),
        cmocka_unit_test(test_decode_data_checks_counts_against_bytes),
        cmocka_unit_test(test_decode_data_limits_depth),
        cmocka_unit_test(test_decode_data_reports_msgpack_problems_first),
        cmocka_unit_test(test_decode_data_carries_any_values),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
