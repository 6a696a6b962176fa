/*
 * The Retry-After value scanner (sgi_retry_after_ms, llm.h): the delay
 * sg-inference waits before retrying an LLM call answered 429 or 5xx.
 * Delta-seconds only (RFC 9110); anything else, an HTTP-date included,
 * counts as no header (the caller backs off). No SPEC ID: this is the worker's side of its LLM server, not the
 * bus protocol.
 */
#define _POSIX_C_SOURCE 200809L

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "llm.h"

/* sgi_llm_new()'s default cap (opts.retry_after_max_ms 0). */
#define CAP 30000L

/*
 * The value in a buffer of exactly its length, no NUL after it, so that
 * memcheck sees a read one byte too far.
 */
static long ra_n(const char *value, size_t len, long max_ms)
{
    char *copy = malloc(len > 0 ? len : 1);
    long ms;

    assert_non_null(copy);
    if (len > 0)
        memcpy(copy, value, len);
    ms = sgi_retry_after_ms(copy, len, max_ms);
    free(copy);
    return ms;
}

static long ra(const char *value, long max_ms)
{
    return ra_n(value, strlen(value), max_ms);
}

static void test_retry_after_ms_delta_seconds(void **state)
{
    (void)state;
    assert_int_equal(ra("0", CAP), 0);
    assert_int_equal(ra("1", CAP), 1000);
    assert_int_equal(ra("5\r\n", CAP), 5000);
    assert_int_equal(ra("120", LONG_MAX), 120000);
    assert_int_equal(ra("007", CAP), 7000);
    /* Anything after the digits but white space makes it unreadable. */
    assert_int_equal(ra("5abc", CAP), -1);
    assert_int_equal(ra("1.9", CAP), -1);
    assert_int_equal(ra("2, 3", CAP), -1);
    assert_int_equal(ra("0x10", CAP), -1);
    assert_int_equal(ra_n("5\0" "7", 3, CAP), -1);
}

static void test_retry_after_ms_absent_or_empty(void **state)
{
    (void)state;
    assert_int_equal(ra_n("", 0, CAP), -1);
    assert_int_equal(ra("\r\n", CAP), -1);
    assert_int_equal(ra(" ", CAP), -1);
    assert_int_equal(ra(" \t \r\n", CAP), -1);
    /* len bounds the read: the digit after it is not seen. */
    assert_int_equal(sgi_retry_after_ms("  7", 2, CAP), -1);
    assert_int_equal(sgi_retry_after_ms("7", 0, CAP), -1);
}

static void test_retry_after_ms_non_digits(void **state)
{
    (void)state;
    assert_int_equal(ra("abc", CAP), -1);
    assert_int_equal(ra("-5", CAP), -1);
    assert_int_equal(ra("+5", CAP), -1);
    assert_int_equal(ra(".5", CAP), -1);
    assert_int_equal(ra("\"5\"", CAP), -1);
    assert_int_equal(ra("\xef\xbc\x95", CAP), -1);   /* fullwidth 5 */
    assert_int_equal(ra_n("\0" "5", 2, CAP), -1);
    assert_int_equal(ra_n(" \0" "5", 3, CAP), -1);
}

/* Spaces and tabs in front are skipped; no other white space is. */
static void test_retry_after_ms_whitespace(void **state)
{
    (void)state;
    assert_int_equal(ra(" 5", CAP), 5000);
    assert_int_equal(ra("\t5", CAP), 5000);
    assert_int_equal(ra(" \t \t 12 \r\n", CAP), 12000);
    assert_int_equal(ra("5 ", CAP), 5000);
    assert_int_equal(ra("\r\n5", CAP), -1);
    assert_int_equal(ra("\n5", CAP), -1);
    assert_int_equal(ra("\v5", CAP), -1);
    assert_int_equal(ra("\f5", CAP), -1);
    assert_int_equal(ra("\r5", CAP), -1);
}

/*
 * Leading zeros do not count; 10^9 seconds or more read as 999999999.
 */
static void test_retry_after_ms_overlong_digits(void **state)
{
    (void)state;
    assert_int_equal(ra("999999999", 999999999L), 999999999L);
    assert_int_equal(ra("99999999999999999999", CAP), CAP);
    assert_int_equal(ra("1234567890", 1234567890L), 1234567890L);
    assert_int_equal(ra("0000000005", CAP), 5000);
    assert_int_equal(ra("000000005", CAP), 5000);
    assert_int_equal(ra("000000000000000000000000000000001", CAP), 1000);
#if LONG_MAX / 1000 >= 999999999L
    assert_int_equal(ra("999999999", LONG_MAX), 999999999L * 1000);
    assert_int_equal(ra("1234567890", LONG_MAX), 999999999L * 1000);
    assert_int_equal(ra("99999999999999999999", LONG_MAX),
                     999999999L * 1000);
#else
    /* A 32-bit long: the cap, not an overflow. */
    assert_int_equal(ra("999999999", LONG_MAX), LONG_MAX);
#endif
}

/* The answer is at most max_ms, which need not be whole seconds. */
static void test_retry_after_ms_capped(void **state)
{
    (void)state;
    assert_int_equal(ra("29", CAP), 29000);
    assert_int_equal(ra("30", CAP), 30000);
    assert_int_equal(ra("31", CAP), CAP);
    assert_int_equal(ra("86400", CAP), CAP);
    assert_int_equal(ra("1", 1500), 1000);
    assert_int_equal(ra("2", 1500), 1500);
    assert_int_equal(ra("1", 999), 999);
    assert_int_equal(ra("1", 1000), 1000);
    assert_int_equal(ra("5", 0), 0);
    assert_int_equal(ra("0", 0), 0);
    /* A negative cap counts as 0; an absent value stays absent. */
    assert_int_equal(ra("5", -1), 0);
    assert_int_equal(ra("5", LONG_MIN), 0);
    assert_int_equal(ra("x", -1), -1);
}

/*
 * HTTP-dates (RFC 9110 section 10.2.3) are not honoured: they read as no
 * Retry-After at all and the call backs off instead, a malformed date
 * that starts with its day of the month included.
 */
static void test_retry_after_ms_http_date_is_absent(void **state)
{
    (void)state;
    assert_int_equal(ra("Wed, 21 Oct 2015 07:28:00 GMT\r\n", CAP), -1);
    assert_int_equal(ra("Sunday, 06-Nov-94 08:49:37 GMT", CAP), -1);
    assert_int_equal(ra("Sun Nov  6 08:49:37 1994", CAP), -1);
    assert_int_equal(ra(" Fri, 01 Jan 2100 00:00:00 GMT", CAP), -1);
    assert_int_equal(ra("21 Oct 2015 07:28:00 GMT", CAP), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retry_after_ms_delta_seconds),
        cmocka_unit_test(test_retry_after_ms_absent_or_empty),
        cmocka_unit_test(test_retry_after_ms_non_digits),
        cmocka_unit_test(test_retry_after_ms_whitespace),
        cmocka_unit_test(test_retry_after_ms_overlong_digits),
        cmocka_unit_test(test_retry_after_ms_capped),
        cmocka_unit_test(test_retry_after_ms_http_date_is_absent),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
