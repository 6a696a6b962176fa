/*
 * test_history.c: the history oracle of sg-conform, fed synthetic
 * histories. Each anomaly it exists to catch is shown to be caught here, so
 * that a PASS from the runner means something: lost, duplicated and
 * unexpected deliveries, broken per-channel order (SG-IN-005, SG-OUT-004),
 * overlapping executions on one channel (SG-IN-004), several sends per
 * message_key (SG-OUT-009/010), execution after the acknowledgement
 * (SG-IN-021), healthy entries dead-lettered (SG-DLQ-004) and healthy
 * entries redelivered (SG-IN-019).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "history.h"

static sgc_hcheck_opts all_checks(void)
{
    sgc_hcheck_opts o = { 1, 1, 1, 1, 0, 5, 0 };
    return o;
}

static void pub(sgc_history *h, long long t, const char *ch,
                const char *tok, const char *id, int expect)
{
    size_t ix = sgc_history_add(h, SGC_EV_PUBLISH, t, ch, tok, id, NULL,
                                NULL, expect);
    assert_int_not_equal(ix, (size_t)-1);
    assert_int_equal(sgc_history_track(h, id, ix), 0);
}

static void effect(sgc_history *h, long long t, long long end,
                   const char *ch, const char *tok)
{
    size_t ix = sgc_history_add(h, SGC_EV_EFFECT, t, ch, tok, NULL, NULL,
                                "llm", 0);
    h->v[ix].t_end_ms = end;
}

static void deliver(sgc_history *h, long long t, const char *ch,
                    const char *tok, const char *key)
{
    sgc_history_add(h, SGC_EV_DELIVER, t, ch, tok, NULL, key, "message", 0);
}

static void ack(sgc_history *h, long long t, const char *id)
{
    sgc_history_add(h, SGC_EV_ACK, t, NULL, NULL, id, NULL, NULL, 0);
}

/* A clean run: two channels, two entries each, in order, acked after. */
static void clean(sgc_history *h)
{
    sgc_history_init(h);
    pub(h, 0, "a", "a1", "10-0", SGC_EXPECT_ONCE);
    pub(h, 1, "a", "a2", "10-1", SGC_EXPECT_ONCE);
    pub(h, 2, "b", "b1", "10-2", SGC_EXPECT_ONCE);
    pub(h, 3, "b", "b2", "10-3", SGC_EXPECT_ONCE);
    effect(h, 10, 60, "a", "a1");
    effect(h, 12, 62, "b", "b1");
    deliver(h, 61, "a", "a1", "k:a1");
    deliver(h, 63, "b", "b1", "k:b1");
    ack(h, 70, "10-0");
    ack(h, 70, "10-2");
    effect(h, 71, 121, "a", "a2");
    effect(h, 72, 122, "b", "b2");
    deliver(h, 122, "a", "a2", "k:a2");
    deliver(h, 123, "b", "b2", "k:b2");
    ack(h, 130, "10-1");
    ack(h, 130, "10-3");
}

static size_t count_kind(const sgc_anomaly *a, size_t n, int kind)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        k += a[i].kind == kind;
    return k;
}

static void test_history_check_clean_run_has_no_anomaly(void **state)
{
    (void)state;
    sgc_history h;
    clean(&h);
    sgc_hcheck_opts o = all_checks();
    sgc_anomaly a[8];
    assert_int_equal(sgc_history_check(&h, &o, a, 8), 0);
    sgc_history_free(&h);
}

static void test_history_check_finds_lost_entry(void **state)
{
    (void)state;
    sgc_history h;
    clean(&h);
    pub(&h, 200, "c", "c1", "20-0", SGC_EXPECT_ONCE);
    sgc_hcheck_opts o = all_checks();
    sgc_anomaly a[8];
    size_t n = sgc_history_check(&h, &o, a, 8);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, SGC_AN_LOST);
    assert_string_equal(a[0].token, "c1");
    assert_non_null(strstr(a[0].actual, "20-0"));
    sgc_history_free(&h);
}

static void test_history_check_dead_letter_is_not_lost_but_flagged(
    void **state)
{
    (void)state;
    sgc_history h;
    clean(&h);
    pub(&h, 200, "c", "c1", "20-0", SGC_EXPECT_ONCE);
    sgc_history_add(&h, SGC_EV_DLQ, 210, "c", "c1", "20-0", NULL,
                    "handler_error", 0);
    sgc_hcheck_opts o = all_checks();
    sgc_anomaly a[8];
    size_t n = sgc_history_check(&h, &o, a, 8);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, SGC_AN_DLQ);
    o.dlq_ok = 1;
    assert_int_equal(sgc_history_check(&h, &o, a, 8), 0);
    sgc_history_free(&h);
}

/* SG-IN-009: a double handling shows as two deliveries. */
static void test_history_check_finds_duplicate(void **state)
{
    (void)state;
    sgc_history h;
    clean(&h);
    effect(&h, 300, 350, "a", "a2");
    deliver(&h, 350, "a", "a2", "k:a2-again");
    sgc_hcheck_opts o = all_checks();
    o.overlap = 0;
    sgc_anomaly a[8];
    size_t n = sgc_history_check(&h, &o, a, 8);
    assert_int_equal(count_kind(a, n, SGC_AN_DUPLICATE), 1);
    /* The second execution came after the ack too. */
    assert_int_equal(count_kind(a, n, SGC_AN_AFTER_ACK), 2);
    sgc_history_free(&h);
}

/* At-least-once: a redelivery with the same message_key is accepted, one
 * with another key is not. */
static void test_history_check_same_key_redelivery(void **state)
{
    (void)state;
    sgc_history h;
    sgc_history_init(&h);
    pub(&h, 0, "a", "a1", "10-0", SGC_EXPECT_ONCE);
    pub(&h, 1, "b", "b1", "10-1", SGC_EXPECT_ONCE);
    deliver(&h, 10, "a", "a1", "k:a1");
    deliver(&h, 20, "a", "a1", "k:a1");
    deliver(&h, 30, "b", "b1", "k:b1");
    sgc_hcheck_opts o = all_checks();
    o.dup_same_key_ok = 1;
    o.keys = 0;     /* a worker's stream may repeat a key */
    sgc_anomaly a[8];
    assert_int_equal(sgc_history_check(&h, &o, a, 8), 0);
    deliver(&h, 40, "b", "b1", "k:other");
    size_t n = sgc_history_check(&h, &o, a, 8);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, SGC_AN_DUPLICATE);
    assert_string_equal(a[0].token, "b1");
    sgc_history_free(&h);
}

static void test_history_check_finds_unexpected_delivery(void **state)
{
    (void)state;
    sgc_history h;
    clean(&h);
    pub(&h, 200, "c", "bad1", "20-0", SGC_EXPECT_NONE);
    deliver(&h, 210, "c", "bad1", NULL);
    sgc_hcheck_opts o = all_checks();
    sgc_anomaly a[8];
    size_t n = sgc_history_check(&h, &o, a, 8);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, SGC_AN_UNEXPECTED);
    sgc_history_free(&h);
}

/* SG-IN-005 / SG-OUT-004: a2 delivered before a1. */
static void test_history_check_finds_order_inversion(void **state)
{
    (void)state;
    sgc_history h;
    sgc_history_init(&h);
    pub(&h, 0, "a", "a1", "10-0", SGC_EXPECT_ONCE);
    pub(&h, 1, "a", "a2", "10-1", SGC_EXPECT_ONCE);
    pub(&h, 2, "b", "b1", "10-2", SGC_EXPECT_ONCE);
    deliver(&h, 20, "a", "a2", NULL);
    deliver(&h, 21, "b", "b1", NULL);
    deliver(&h, 30, "a", "a1", NULL);
    sgc_hcheck_opts o = all_checks();
    sgc_anomaly a[8];
    size_t n = sgc_history_check(&h, &o, a, 8);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, SGC_AN_ORDER);
    assert_string_equal(a[0].channel, "a");
    o.order = 0;
    assert_int_equal(sgc_history_check(&h, &o, a, 8), 0);
    sgc_history_free(&h);
}

/* SG-IN-004: a2's execution started while a1's was still running. */
static void test_history_check_finds_overlap(void **state)
{
    (void)state;
    sgc_history h;
    sgc_history_init(&h);
    pub(&h, 0, "a", "a1", "10-0", SGC_EXPECT_ONCE);
    pub(&h, 1, "a", "a2", "10-1", SGC_EXPECT_ONCE);
    pub(&h, 2, "b", "b1", "10-2", SGC_EXPECT_ONCE);
    effect(&h, 10, 110, "a", "a1");
    effect(&h, 20, 120, "b", "b1");    /* another channel: fine */
    effect(&h, 50, 150, "a", "a2");    /* overlaps a1 */
    deliver(&h, 110, "a", "a1", NULL);
    deliver(&h, 120, "b", "b1", NULL);
    deliver(&h, 150, "a", "a2", NULL);
    sgc_hcheck_opts o = all_checks();
    sgc_anomaly a[8];
    size_t n = sgc_history_check(&h, &o, a, 8);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, SGC_AN_OVERLAP);
    assert_string_equal(a[0].token, "a2");
    sgc_history_free(&h);
}

/* Back to back within the clock slack is not an overlap. */
static void test_history_check_overlap_tolerates_slack(void **state)
{
    (void)state;
    sgc_history h;
    sgc_history_init(&h);
    pub(&h, 0, "a", "a1", "10-0", SGC_EXPECT_ONCE);
    pub(&h, 1, "a", "a2", "10-1", SGC_EXPECT_ONCE);
    effect(&h, 10, 110, "a", "a1");
    effect(&h, 107, 207, "a", "a2");
    deliver(&h, 110, "a", "a1", NULL);
    deliver(&h, 207, "a", "a2", NULL);
    sgc_hcheck_opts o = all_checks();
    sgc_anomaly a[8];
    assert_int_equal(sgc_history_check(&h, &o, a, 8), 0);
    sgc_history_free(&h);
}

/* SG-OUT-009/010: one message_key sent for two entries. */
static void test_history_check_finds_two_sends_per_key(void **state)
{
    (void)state;
    sgc_history h;
    sgc_history_init(&h);
    pub(&h, 0, "a", "x1", "10-0", SGC_EXPECT_ANY);
    pub(&h, 1, "a", "x2", "10-1", SGC_EXPECT_ANY);
    deliver(&h, 10, "a", "x1", "mk:shared");
    deliver(&h, 20, "a", "x2", "mk:shared");
    sgc_hcheck_opts o = all_checks();
    sgc_anomaly a[8];
    size_t n = sgc_history_check(&h, &o, a, 8);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, SGC_AN_KEY);
    assert_non_null(strstr(a[0].actual, "mk:shared"));
    sgc_history_free(&h);
}

/* SG-IN-021: acknowledged before the handler finished (a worker that
 * acks first): the reply appears after the ack was observed. */
static void test_history_check_finds_ack_before_handling(void **state)
{
    (void)state;
    sgc_history h;
    sgc_history_init(&h);
    pub(&h, 0, "a", "a1", "10-0", SGC_EXPECT_ONCE);
    ack(&h, 5, "10-0");
    effect(&h, 8, 58, "a", "a1");
    deliver(&h, 58, "a", "a1", NULL);
    sgc_hcheck_opts o = all_checks();
    sgc_anomaly a[8];
    size_t n = sgc_history_check(&h, &o, a, 8);
    assert_int_equal(count_kind(a, n, SGC_AN_AFTER_ACK), 1);
    assert_string_equal(a[0].token, "a1");
    sgc_history_free(&h);
}

/* SG-IN-019: a healthy entry seen with a delivery count of 2. */
static void test_history_check_finds_redelivery(void **state)
{
    (void)state;
    sgc_history h;
    clean(&h);
    sgc_history_add(&h, SGC_EV_PENDING, 40, "b", "b2", "10-3", NULL,
                    "other-consumer", 2);
    sgc_hcheck_opts o = all_checks();
    sgc_anomaly a[8];
    size_t n = sgc_history_check(&h, &o, a, 8);
    assert_int_equal(n, 1);
    assert_int_equal(a[0].kind, SGC_AN_RECLAIM);
    o.reclaim = 0;
    assert_int_equal(sgc_history_check(&h, &o, a, 8), 0);
    sgc_history_free(&h);
}

static void test_history_check_counts_beyond_max(void **state)
{
    (void)state;
    sgc_history h;
    sgc_history_init(&h);
    char tok[16], id[16];
    for (int i = 0; i < 20; i++) {
        snprintf(tok, sizeof tok, "t%d", i);
        snprintf(id, sizeof id, "5-%d", i);
        pub(&h, i, "a", tok, id, SGC_EXPECT_ONCE);
    }
    sgc_hcheck_opts o = all_checks();
    sgc_anomaly a[4];
    assert_int_equal(sgc_history_check(&h, &o, a, 4), 20);
    sgc_history_free(&h);
}

static void test_history_find_and_tokens(void **state)
{
    (void)state;
    sgc_history h;
    sgc_history_init(&h);
    /* Out of order arrival is kept sorted. */
    pub(&h, 0, "a", "t2", "7-1", SGC_EXPECT_ONCE);
    pub(&h, 0, "a", "t1", "7-0", SGC_EXPECT_ONCE);
    pub(&h, 0, "a", "t3", "12-0", SGC_EXPECT_ONCE);
    assert_non_null(sgc_history_find(&h, "7-0"));
    assert_non_null(sgc_history_find(&h, "12-0"));
    assert_null(sgc_history_find(&h, "7-2"));
    assert_null(sgc_history_find(&h, "nonsense"));
    assert_string_equal(h.v[sgc_history_find(&h, "7-0")->pub].token, "t1");
    char tok[16];
    assert_int_equal(sgc_token_of("echo: ch=a tok=abc-1 more", tok,
                                  sizeof tok), 0);
    assert_string_equal(tok, "abc-1");
    assert_int_equal(sgc_token_of("no token here", tok, sizeof tok), -1);
    assert_string_equal(sgc_history_channel_of(&h, "t3"), "a");
    sgc_history_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_history_check_clean_run_has_no_anomaly),
        cmocka_unit_test(test_history_check_finds_lost_entry),
        cmocka_unit_test(
            test_history_check_dead_letter_is_not_lost_but_flagged),
        cmocka_unit_test(test_history_check_finds_duplicate),
        cmocka_unit_test(test_history_check_same_key_redelivery),
        cmocka_unit_test(test_history_check_finds_unexpected_delivery),
        cmocka_unit_test(test_history_check_finds_order_inversion),
        cmocka_unit_test(test_history_check_finds_overlap),
        cmocka_unit_test(test_history_check_overlap_tolerates_slack),
        cmocka_unit_test(test_history_check_finds_two_sends_per_key),
        cmocka_unit_test(test_history_check_finds_ack_before_handling),
        cmocka_unit_test(test_history_check_finds_redelivery),
        cmocka_unit_test(test_history_check_counts_beyond_max),
        cmocka_unit_test(test_history_find_and_tokens),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
