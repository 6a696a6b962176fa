/*
 * The runtime's small internal parts: the string map (channels and entry IDs), the assembled scripts, and the
 * logger.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "../scripts.h"
#include "../strmap.h"
#include "sg/log.h"

static void test_strmap_put_get_del_and_growth(void **state)
{
    static char keys[1000][16];
    sg__strmap m;
    int i;

    (void)state;
    sg__strmap_init(&m, NULL);
    assert_null(sg__strmap_get(&m, "x", 1));
    for (i = 0; i < 1000; i++) {
        snprintf(keys[i], sizeof keys[i], "k%d", i);
        assert_int_equal(sg__strmap_put(&m, keys[i], strlen(keys[i]),
                                        keys[i]), 0);
    }
    assert_int_equal(m.count, 1000);
    for (i = 0; i < 1000; i += 2)
        assert_ptr_equal(sg__strmap_del(&m, keys[i], strlen(keys[i])),
                         keys[i]);
    for (i = 0; i < 1000; i++)
        assert_ptr_equal(sg__strmap_get(&m, keys[i], strlen(keys[i])),
                         i % 2 ? keys[i] : NULL);
    assert_null(sg__strmap_del(&m, "k0", 2));
    /* Deleted slots are reused without unbounded growth. */
    for (i = 0; i < 10000; i++) {
        assert_int_equal(sg__strmap_put(&m, keys[0], 2, keys[0]), 0);
        assert_ptr_equal(sg__strmap_del(&m, keys[0], 2), keys[0]);
    }
    assert_true(m.cap <= 4096);
    sg__strmap_destroy(&m);
}

/* Every assembled script is whole Lua, and step is longer than C allows a
   literal to be. */
static void test_scripts_are_assembled(void **state)
{
    sg__scripts s;

    (void)state;
    sg__scripts_init(&s);
    assert_true(s.step.body_len > 4095);
    assert_true(s.step.body_len < sizeof s.step_body);
    assert_non_null(strstr(s.step.body, "local function dead_letter"));
    assert_non_null(strstr(s.step.body, "return out\n"));
    assert_non_null(strstr(s.autoclaim.body, "XAUTOCLAIM"));
}

typedef struct lines {
    int n;
    sg_log_level level;
    char last[64];
} lines;

static void sink(sg_log_level level, const char *line, void *ud)
{
    lines *l = ud;

    l->n++;
    l->level = level;
    snprintf(l->last, sizeof l->last, "%s", line);
}

static void test_log_filters_by_level_and_formats(void **state)
{
    sg_log log;
    lines l;

    (void)state;
    memset(&l, 0, sizeof l);
    sg_log_init(&log);
    log.fn = sink;
    log.ud = &l;
    sg_logf(&log, SG_LOG_DEBUG, "hidden %d", 1);
    assert_int_equal(l.n, 0);
    sg_logf(&log, SG_LOG_WARN, "shown %d", 2);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.level, SG_LOG_WARN);
    assert_string_equal(l.last, "shown 2");
    log.level = SG_LOG_OFF;
    sg_logf(&log, SG_LOG_ERROR, "off");
    assert_int_equal(l.n, 1);
    assert_false(sg_log_enabled(NULL, SG_LOG_DEBUG));
    assert_true(sg_log_enabled(NULL, SG_LOG_INFO));
    assert_string_equal(sg_log_level_name(SG_LOG_ERROR), "ERROR");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strmap_put_get_del_and_growth),
        cmocka_unit_test(test_scripts_are_assembled),
        cmocka_unit_test(test_log_filters_by_level_and_formats),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
