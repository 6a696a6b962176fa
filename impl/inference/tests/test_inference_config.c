/*
 * sg-inference's configuration (config.h): the JSON file named by
 * SG_INFERENCE_CONFIG, each SG_LLM_* variable overriding its key, and
 * every bad value refused with the variable or key and the limit named
 * (as SG-CFG-004 asks of the knobs).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"

#define MAX_VARS 16

typedef struct env {
    const char *names[MAX_VARS];
    const char *values[MAX_VARS];
    int n;
} env;

static const char *lookup(const char *name, void *ud)
{
    env *e = ud;
    int i;

    for (i = 0; i < e->n; i++)
        if (strcmp(e->names[i], name) == 0)
            return e->values[i];
    return NULL;
}

static void set(env *e, const char *name, const char *value)
{
    int i;

    for (i = 0; i < e->n; i++)
        if (strcmp(e->names[i], name) == 0) {
            e->values[i] = value;
            return;
        }
    e->names[e->n] = name;
    e->values[e->n] = value;
    e->n++;
}

/* Writes text to a fresh temporary file; its path goes to path. */
static void write_file(char *path, size_t cap, const char *text)
{
    int fd;
    FILE *f;

    snprintf(path, cap, "%s/sgi-config-XXXXXX",
             getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
    fd = mkstemp(path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

/* Loads with e; 0 or -1, the error in err. */
static int load(env *e, sgi_config *c, char *err, size_t cap)
{
    assert_int_equal(sgi_config_init(c), 0);
    return sgi_config_load(c, lookup, e, err, cap);
}

static void test_config_defaults_and_env(void **state)
{
    env e = {{0}, {0}, 0};
    sgi_config c;
    char err[256];

    (void)state;
    set(&e, "SG_LLM_BASE_URL", "http://127.0.0.1:9/v1");
    set(&e, "SG_LLM_MODEL", "m1");
    set(&e, "SG_LLM_TEMPERATURE", "0.25");
    set(&e, "SG_LLM_MAX_TOKENS", "77");
    set(&e, "SG_LLM_TOP_P", "");          /* empty: the default */
    assert_int_equal(load(&e, &c, err, sizeof err), 0);
    assert_string_equal(c.base_url, "http://127.0.0.1:9/v1");
    assert_string_equal(c.model, "m1");
    assert_true(c.temperature == 0.25);
    assert_int_equal(c.max_tokens, 77);
    assert_true(c.top_p == 1.0);
    assert_int_equal(c.timeout_ms, 60000);
    assert_int_equal(c.history_max, 20);
    assert_int_equal(c.max_retries, 3);
    assert_int_equal(c.typing_delay_ms, 500);
    assert_non_null(c.system_prompt);
    assert_string_equal(c.api_key, "");
    sgi_config_destroy(&c);
}

static void test_config_file_then_env_overrides(void **state)
{
    env e = {{0}, {0}, 0};
    sgi_config c;
    char path[256], err[256];

    (void)state;
    write_file(path, sizeof path,
               "{\"base_url\": \"http://file/v1\", \"api_key\": \"k\", "
               "\"model\": \"file-model\", \"temperature\": 1.5, "
               "\"max_tokens\": 10, \"top_p\": 0.5, \"timeout_ms\": 1234, "
               "\"system_prompt\": \"be terse\", \"history_max\": 3, "
               "\"typing_delay_ms\": 0}");
    set(&e, "SG_INFERENCE_CONFIG", path);
    set(&e, "SG_LLM_MODEL", "env-model");
    assert_int_equal(load(&e, &c, err, sizeof err), 0);
    assert_string_equal(c.base_url, "http://file/v1");
    assert_string_equal(c.api_key, "k");
    assert_string_equal(c.model, "env-model");     /* env wins */
    assert_true(c.temperature == 1.5);
    assert_int_equal(c.max_tokens, 10);
    assert_true(c.top_p == 0.5);
    assert_int_equal(c.timeout_ms, 1234);
    assert_string_equal(c.system_prompt, "be terse");
    assert_int_equal(c.history_max, 3);
    assert_int_equal(c.typing_delay_ms, 0);
    sgi_config_destroy(&c);
    unlink(path);
}

/* Each bad value: refused, and the message names the variable or key. */
static void expect_env_error(const char *var, const char *value,
                             const char *needle)
{
    env e = {{0}, {0}, 0};
    sgi_config c;
    char err[256];

    set(&e, "SG_LLM_BASE_URL", "http://127.0.0.1:9/v1");
    set(&e, var, value);
    assert_int_equal(load(&e, &c, err, sizeof err), -1);
    if (strstr(err, var) == NULL || strstr(err, needle) == NULL)
        fail_msg("%s=%s: \"%s\" does not name %s and %s", var, value, err,
                 var, needle);
    /* A failed load leaves the configuration as it was. */
    assert_string_equal(c.base_url, "");
    sgi_config_destroy(&c);
}

static void test_config_bad_env_values_named(void **state)
{
    (void)state;
    expect_env_error("SG_LLM_TEMPERATURE", "3", "0 .. 2");
    expect_env_error("SG_LLM_TEMPERATURE", "warm", "not a number");
    expect_env_error("SG_LLM_MAX_TOKENS", "-5", "not a decimal integer");
    expect_env_error("SG_LLM_MAX_TOKENS", "0", "1 .. 1000000");
    expect_env_error("SG_LLM_TOP_P", "0", "above 0");
    expect_env_error("SG_LLM_TIMEOUT_MS", "600001", "1 .. 600000");
    expect_env_error("SG_LLM_HISTORY_MAX", "1001", "1 .. 1000");
    expect_env_error("SG_LLM_MAX_RETRIES", "11", "0 .. 10");
    expect_env_error("SG_LLM_TYPING_DELAY_MS", "600001", "0 .. 600000");
    expect_env_error("SG_LLM_BASE_URL", "ftp://x", "http://");
}

static void test_config_base_url_required(void **state)
{
    env e = {{0}, {0}, 0};
    sgi_config c;
    char err[256];

    (void)state;
    assert_int_equal(load(&e, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "SG_LLM_BASE_URL"));
    sgi_config_destroy(&c);
}

static void expect_file_error(const char *text, const char *needle)
{
    env e = {{0}, {0}, 0};
    sgi_config c;
    char path[256], err[256];

    write_file(path, sizeof path, text);
    set(&e, "SG_INFERENCE_CONFIG", path);
    set(&e, "SG_LLM_BASE_URL", "http://127.0.0.1:9/v1");
    assert_int_equal(load(&e, &c, err, sizeof err), -1);
    if (strstr(err, "SG_INFERENCE_CONFIG") == NULL ||
        strstr(err, needle) == NULL)
        fail_msg("%s: \"%s\" does not name %s", text, err, needle);
    sgi_config_destroy(&c);
    unlink(path);
}

static void test_config_bad_file_named(void **state)
{
    env e = {{0}, {0}, 0};
    sgi_config c;
    char err[256];

    (void)state;
    expect_file_error("{\"model\": 5}", "\"model\": must be a string");
    expect_file_error("{\"temperature\": \"hot\"}",
                      "\"temperature\": must be a number");
    expect_file_error("{\"max_tokens\": 1.5}", "not a whole number");
    expect_file_error("{\"history_max\": 0}", "1 .. 1000");
    expect_file_error("{\"colour\": 1}", "unknown key \"colour\"");
    expect_file_error("[1, 2]", "object");
    expect_file_error("{\"model\": ", "not JSON");
    /* A NUL inside a value is refused, not cut short. */
    expect_file_error("{\"base_url\": \"http://a\\u0000x\"}", "\\u0000");

    set(&e, "SG_INFERENCE_CONFIG", "/nonexistent/sgi.json");
    assert_int_equal(load(&e, &c, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot open"));
    sgi_config_destroy(&c);

    /* An escaped backslash before u0000 is text, not a NUL. */
    {
        char path[256];

        write_file(path, sizeof path,
                   "{\"system_prompt\": \"a\\\\u0000b\"}");
        set(&e, "SG_INFERENCE_CONFIG", path);
        set(&e, "SG_LLM_BASE_URL", "http://127.0.0.1:9/v1");
        assert_int_equal(load(&e, &c, err, sizeof err), 0);
        assert_string_equal(c.system_prompt, "a\\u0000b");
        sgi_config_destroy(&c);
        unlink(path);
    }
}

static void test_config_copy(void **state)
{
    env e = {{0}, {0}, 0};
    sgi_config a, b;
    char err[256];

    (void)state;
    set(&e, "SG_LLM_BASE_URL", "http://127.0.0.1:9/v1");
    set(&e, "SG_LLM_SYSTEM_PROMPT", "p");
    assert_int_equal(load(&e, &a, err, sizeof err), 0);
    assert_int_equal(sgi_config_init(&b), 0);
    assert_int_equal(sgi_config_copy(&b, &a), 0);
    assert_string_equal(b.system_prompt, "p");
    assert_ptr_not_equal(b.system_prompt, a.system_prompt);
    sgi_config_destroy(&a);
    sgi_config_destroy(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults_and_env),
        cmocka_unit_test(test_config_file_then_env_overrides),
        cmocka_unit_test(test_config_bad_env_values_named),
        cmocka_unit_test(test_config_base_url_required),
        cmocka_unit_test(test_config_bad_file_named),
        cmocka_unit_test(test_config_copy),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
