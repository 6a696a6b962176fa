/*
 * test_codec_entry.c: stream-entry framing (SPEC section 3) around the
 * envelope.
 */
#include "mp_build.h"

static mb envelope;

static int
setup(void **state)
{
    (void)state;
    mb_init(&envelope);
    mb_map(&envelope, 2);
    mb_kv(&envelope, "platform", "p");
    mb_kv(&envelope, "channel_id", "c");
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    mb_free(&envelope);
    return 0;
}

/* Decodes an entry of the given fields (name, value pairs, NULL-ended). */
static int
decode(sg_envelope **out, sg_error *err, const sg_decode_opts *opts, ...)
{
    sg_entry_field fields[8];
    sg_entry entry;
    size_t n = 0;
    const char *name;
    va_list ap;

    va_start(ap, opts);
    while ((name = va_arg(ap, const char *)) != NULL && n < 8) {
        const char *value = va_arg(ap, const char *);

        fields[n].name.ptr = name;
        fields[n].name.len = strlen(name);
        if (strcmp(name, "data") == 0 && value == NULL) {
            fields[n].value.ptr = (const char *)envelope.b;
            fields[n].value.len = envelope.len;
        } else {
            fields[n].value.ptr = value;
            fields[n].value.len = strlen(value);
        }
        n++;
    }
    va_end(ap);
    entry.fields = fields;
    entry.nfields = n;
    sg_error_clear(err);
    return sg_envelope_decode(SG_KIND_INBOUND, &entry, opts, out, err);
}

static void
expect(int rc, const sg_error *err, int reason, const char *path)
{
    assert_int_equal(rc, SG_EDECODE);
    assert_string_equal(sg_reason_name(err->reason), sg_reason_name(reason));
    assert_string_equal(err->path, path);
}

/* SG-FRAME-003 SG-FRAME-005: other fields are ignored; ts and trace_id
   may be missing or empty; their values reach the envelope. */
static void
test_envelope_decode_framing_fields(void **state)
{
    sg_envelope *env = NULL;
    sg_error err;

    (void)state;
    assert_int_equal(decode(&env, &err, NULL, "x-other", "1", "data",
                            (char *)NULL, "ts", "", "trace_id", "",
                            (char *)NULL), 0);
    assert_int_equal(env->entry_ts.len, 0);
    assert_true(env->ts == 0.0);
    sg_envelope_free(env);
    assert_int_equal(decode(&env, &err, NULL, "ts", "1732350000.125",
                            "trace_id", "t-1", "data", (char *)NULL,
                            (char *)NULL), 0);
    assert_true(env->ts == 1732350000.125);
    assert_true(str_eq(env->entry_ts, "1732350000.125"));
    assert_true(str_eq(env->entry_trace_id, "t-1"));
    sg_envelope_free(env);
}

/* SG-FRAME-004 SG-LIMIT-001: data missing or too large, first. */
static void
test_envelope_decode_framing_data(void **state)
{
    sg_decode_opts opts;
    sg_envelope *env = NULL;
    sg_error err;
    int rc;

    (void)state;
    rc = decode(&env, &err, NULL, "ts", "x", (char *)NULL);
    expect(rc, &err, SG_REASON_MISSING_FIELD, "data");
    assert_null(env);
    sg_decode_opts_init(&opts);
    opts.limits.max_entry_bytes = 4;
    rc = decode(&env, &err, &opts, "ts", "x", "data", (char *)NULL,
                (char *)NULL);
    expect(rc, &err, SG_REASON_ENTRY_TOO_LARGE, "data");
}

/* SG-FRAME-006: the ts grammar. */
static void
test_envelope_decode_framing_ts(void **state)
{
    static const char *const bad[] = {
        "-1", "+1", "1e9", " 1", "1 ", ".5", "5.", "1.2.3", "0x10", "nan",
        "inf"
    };
    static const char *const good[] = { "0", "007", "1732350000",
                                        "1732350000.123456789" };
    sg_envelope *env = NULL;
    sg_error err;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = decode(&env, &err, NULL, "data", (char *)NULL, "ts",
                        bad[i], (char *)NULL);

        expect(rc, &err, SG_REASON_INVALID_VALUE, "ts");
    }
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        assert_int_equal(decode(&env, &err, NULL, "data", (char *)NULL,
                                "ts", good[i], (char *)NULL), 0);
        sg_envelope_free(env);
    }
}

/* SG-FRAME-007: trace_id length and UTF-8, checked after ts. */
static void
test_envelope_decode_framing_trace_id(void **state)
{
    char long_id[130];
    sg_envelope *env = NULL;
    sg_error err;
    int rc;

    (void)state;
    memset(long_id, 'a', 129);
    long_id[129] = '\0';
    rc = decode(&env, &err, NULL, "data", (char *)NULL, "trace_id", long_id,
                (char *)NULL);
    expect(rc, &err, SG_REASON_STRING_TOO_LONG, "trace_id");
    long_id[128] = '\0';
    assert_int_equal(decode(&env, &err, NULL, "data", (char *)NULL,
                            "trace_id", long_id, (char *)NULL), 0);
    sg_envelope_free(env);
    rc = decode(&env, &err, NULL, "data", (char *)NULL, "trace_id", "\xfe",
                "ts", "x", (char *)NULL);
    expect(rc, &err, SG_REASON_INVALID_VALUE, "ts");
    rc = decode(&env, &err, NULL, "data", (char *)NULL, "trace_id", "\xfe",
                (char *)NULL);
    expect(rc, &err, SG_REASON_INVALID_UTF8, "trace_id");
}

/* SG-ENV-001: bad arguments are not rejections of input. */
static void
test_envelope_decode_bad_arguments(void **state)
{
    sg_envelope *env = NULL;
    sg_entry empty = { NULL, 0 };
    sg_error err;

    (void)state;
    assert_int_equal(sg_envelope_decode(SG_KIND_INBOUND, NULL, NULL, &env,
                                        &err), SG_EINVAL);
    assert_int_equal(sg_envelope_decode(SG_KIND_INBOUND, &empty, NULL, NULL,
                                        &err), SG_EINVAL);
    assert_int_equal(sg_envelope_decode_data((sg_kind)9, "", 0, NULL, &env,
                                             &err), SG_EINVAL);
    assert_int_equal(err.reason, SG_REASON_NONE);
    /* err may be NULL. */
    assert_int_equal(sg_envelope_decode(SG_KIND_INBOUND, &empty, NULL, &env,
                                        NULL), SG_EDECODE);
    sg_envelope_free(NULL);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_decode_framing_fields),
        cmocka_unit_test(test_envelope_decode_framing_data),
        cmocka_unit_test(test_envelope_decode_framing_ts),
        cmocka_unit_test(test_envelope_decode_framing_trace_id),
        cmocka_unit_test(test_envelope_decode_bad_arguments),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
