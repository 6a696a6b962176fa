/*
 * test_error.c: the error and reason tables (sg/error.h).
 */
#include "mp_build.h"

/* SG-ENV-001: every reason code has its spec string, both ways. */
static void
test_reason_name_round_trips(void **state)
{
    static const char *const spec[] = {
        "missing_field", "wrong_type", "unknown_version", "unknown_type",
        "invalid_msgpack", "truncated", "trailing_bytes", "not_map",
        "invalid_utf8", "duplicate_key", "entry_too_large",
        "string_too_long", "binary_too_large", "array_too_long",
        "map_too_large", "too_deep", "out_of_range", "invalid_value",
        "invalid_json"
    };
    size_t i;

    (void)state;
    assert_int_equal(SG_REASON__COUNT, 1 + sizeof(spec) / sizeof(spec[0]));
    for (i = 0; i < sizeof(spec) / sizeof(spec[0]); i++) {
        int r = sg_reason_from_name(spec[i], strlen(spec[i]));

        assert_int_equal(r, (int)i + 1);
        assert_string_equal(sg_reason_name(r), spec[i]);
    }
    assert_int_equal(sg_reason_from_name("truncate", 8), -1);
    assert_int_equal(sg_reason_from_name(NULL, 0), -1);
    assert_null(sg_reason_name(-1));
    assert_null(sg_reason_name(SG_REASON__COUNT));
}

/* SG-ENV-001: error codes have names and texts; unknown ones too. */
static void
test_strerror_names_every_code(void **state)
{
    (void)state;
    assert_string_equal(sg_err_name(SG_EDECODE), "EDECODE");
    assert_string_equal(sg_err_name(SG_OK), "OK");
    assert_string_equal(sg_strerror(SG_ENOMEM), "out of memory");
    assert_string_equal(sg_strerror(-99), "unknown error");
    assert_string_equal(sg_err_name(12345), "UNKNOWN");
}

/* SG-ENV-001: a cleared error is empty. */
static void
test_error_clear_empties(void **state)
{
    sg_error err;

    (void)state;
    memset(&err, 'x', sizeof(err));
    sg_error_clear(&err);
    assert_int_equal(err.code, 0);
    assert_int_equal(err.reason, SG_REASON_NONE);
    assert_string_equal(err.path, "");
    assert_string_equal(err.msg, "");
    sg_error_clear(NULL);
}

/* Names of kinds and outbound types, both ways. */
static void
test_kind_and_type_names(void **state)
{
    sg_out_type t;
    sg_kind k;

    (void)state;
    assert_string_equal(sg_kind_name(SG_KIND_TOOLS_REPLY), "tools_reply");
    assert_int_equal(sg_kind_from_name("outbound", 8, &k), 0);
    assert_int_equal(k, SG_KIND_OUTBOUND);
    assert_int_equal(sg_kind_from_name("out", 3, &k), SG_EINVAL);
    assert_string_equal(sg_out_type_name(SG_OUT_START_TYPING),
                        "start_typing");
    assert_int_equal(sg_out_type_from_name("rpc_request", 11, &t), 0);
    assert_int_equal(t, SG_OUT_RPC_REQUEST);
    assert_null(sg_out_type_name((sg_out_type)99));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reason_name_round_trips),
        cmocka_unit_test(test_strerror_names_every_code),
        cmocka_unit_test(test_error_clear_empties),
        cmocka_unit_test(test_kind_and_type_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
