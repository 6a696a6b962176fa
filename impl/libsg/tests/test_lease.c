/*
 * The parts of leases (sg/lease.h) that need no Redis: the status lease's
 * TTL and the scripts, written out as constants.
 *
 * Spec IDs: SG-LEASE-001 (status TTL: the larger of 60 s and three status
 * intervals), SG-LEASE-002 and SG-LEASE-007 (the compare-and-expire and
 * compare-and-delete scripts: the lengths written out must be the bodies'
 * so that the whole body is sent).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>

#include "../lease_scripts.h"
#include "sg/lease.h"

static void test_sg_lease_status_ttl_ms_at_least_60s_or_three_intervals(
    void **state)
{
    (void)state;
    assert_int_equal(sg_lease_status_ttl_ms(0), 60000);
    assert_int_equal(sg_lease_status_ttl_ms(1000), 60000);
    assert_int_equal(sg_lease_status_ttl_ms(20000), 60000);
    assert_int_equal(sg_lease_status_ttl_ms(30000), 90000);
    assert_int_equal(sg_lease_status_ttl_ms(INT_MAX), INT_MAX);
}

static void check_len(const sg_script *s)
{
    sg_script fresh;

    sg_script_init(&fresh, s->name, s->body);
    assert_int_equal(fresh.body_len, s->body_len);
}

static void test_lease_scripts_length_matches_body(void **state)
{
    (void)state;
    check_len(&sg__script_cas_expire);
    check_len(&sg__script_cas_delete);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_sg_lease_status_ttl_ms_at_least_60s_or_three_intervals),
        cmocka_unit_test(test_lease_scripts_length_matches_body),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
