/*
 * The runtime's small internal parts: the string map (channels and entry
 * IDs), the assembled scripts, the logger, and the RESP writer of the
 * connection's commands.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "../resp.h"
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

/* Decimal digits, at the edges of their widths. */
static void test_dec_u64_writes_every_width(void **state)
{
    static const uint64_t v[] = { 0, 9, 10, 99, 100, 12345, 4294967295u,
                                  4294967296u, 10000000000000000000u,
                                  18446744073709551615u };
    char out[SG__DEC_MAX + 1], want[32];
    size_t i, n;

    (void)state;
    for (i = 0; i < sizeof v / sizeof v[0]; i++) {
        n = sg__dec_u64(out, v[i]);
        out[n] = '\0';
        snprintf(want, sizeof want, "%llu", (unsigned long long)v[i]);
        assert_string_equal(out, want);
    }
}

/* The bytes hiredis writes for the same command: the oracle. */
static void assert_like_hiredis(sg_buf *b, int argc, const char **argv,
                                const size_t *lens)
{
    char *want = NULL;
    long long n = redisFormatCommandArgv(&want, argc, argv, lens);

    assert_true(n > 0);
    assert_int_equal(sg__resp_command(b, argc, argv, lens), 0);
    assert_int_equal(b->len, (size_t)n);
    assert_memory_equal(b->data, want, (size_t)n);
    assert_int_equal(b->data[n], '\0');
    redisFreeCommand(want);
}

static void test_resp_command_matches_hiredis(void **state)
{
    static const char bin[] = { 'a', '\0', '\r', '\n', '$', '*', 'z' };
    const char *av[300];
    size_t lens[300];
    char big[5000], names[300][8];
    sg_buf b;
    int i;

    (void)state;
    sg_buf_init(&b, NULL);
    /* A plain command, its lengths from strlen. */
    av[0] = "SET";
    av[1] = "k";
    av[2] = "v";
    assert_int_equal(sg__resp_command(&b, 3, av, NULL), 0);
    assert_int_equal(b.len, strlen("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n"));
    assert_memory_equal(b.data, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n",
                        b.len);
    /* Empty and binary arguments, given lengths. */
    av[0] = "EVALSHA";
    av[1] = "";
    av[2] = bin;
    lens[0] = 7;
    lens[1] = 0;
    lens[2] = sizeof bin;
    assert_like_hiredis(&b, 3, av, lens);
    /* Many arguments (a step call's size), and one of 5000 bytes. */
    memset(big, 'x', sizeof big);
    for (i = 0; i < 300; i++) {
        snprintf(names[i], sizeof names[i], "a%d", i);
        av[i] = names[i];
        lens[i] = strlen(names[i]);
    }
    av[7] = big;
    lens[7] = sizeof big;
    assert_like_hiredis(&b, 300, av, lens);
    /* The buffer is replaced, not appended to: a short one after. */
    assert_like_hiredis(&b, 1, av, lens);
    sg_buf_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_strmap_put_get_del_and_growth),
        cmocka_unit_test(test_scripts_are_assembled),
        cmocka_unit_test(test_log_filters_by_level_and_formats),
        cmocka_unit_test(test_dec_u64_writes_every_width),
        cmocka_unit_test(test_resp_command_matches_hiredis),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
