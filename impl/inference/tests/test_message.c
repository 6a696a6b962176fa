/*
 * The message rebuilt from an inbound envelope (message.h), field by field
 * as the Python worker's _incoming_message_from_envelope does
 * (SG-INENV-003: attachment bytes decoded, timestamp as a time, the extra
 * attributes; SG-INENV-002: defaults, is_addressed true), and the history
 * records and request body built from it (prompt.h).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "message.h"
#include "prompt.h"
#include "sg/json.h"

static sg_envelope *inbound(const char *json)
{
    sg_envelope *env = NULL;
    sg_error err;

    if (sg_envelope_from_json(SG_KIND_INBOUND, json, strlen(json), NULL,
                              &env, &err) != 0)
        fail_msg("envelope refused: %s (%s)", err.msg, err.path);
    return env;
}

static int str_is(sg_str s, const char *want)
{
    return s.len == strlen(want) && (s.len == 0 ||
                                     memcmp(s.ptr, want, s.len) == 0);
}

/* SG-INENV-003 */
static void test_message_from_inbound_every_field(void **state)
{
    sg_envelope *env = inbound(
        "{\"platform\":\"discord\",\"channel_id\":\"c1\",\"user_id\":\"u1\","
        "\"username\":\"alice\",\"content\":\"hello\",\"is_addressed\":true,"
        "\"attachments\":[{\"data\":\"aGVsbG8=\",\"mimetype\":\"text/plain\","
        "\"filename\":\"a.txt\",\"source_url\":\"http://x/a.txt\"}],"
        "\"room_name\":\"general\",\"timestamp\":1700000000.5,"
        "\"message_id\":\"m1\",\"reply_to\":\"m0\",\"guild_id\":\"g1\","
        "\"guild_name\":\"Guild\",\"is_dm\":false,\"member_roles\":[\"r1\","
        "\"r2\"],\"embeds\":{\"k\":1},\"member_count\":42,"
        "\"reactions\":[\"x\"],\"unified_user_id\":\"uu\","
        "\"user_aliases\":[\"al\"],\"trace_id\":\"t1\"}");
    struct timespec now = {5, 0};
    sgi_message m;

    (void)state;
    sgi_message_from_inbound(&env->u.in, now, &m);
    assert_true(str_is(m.platform, "discord"));
    assert_true(str_is(m.channel_id, "c1"));
    assert_true(str_is(m.user_id, "u1"));
    assert_true(str_is(m.user_name, "alice"));
    assert_true(str_is(m.text, "hello"));
    assert_true(m.is_addressed);
    assert_int_equal(m.nattachments, 1);
    /* The bytes, not their base64 text. */
    assert_int_equal(m.attachments[0].data.len, 5);
    assert_memory_equal(m.attachments[0].data.ptr, "hello", 5);
    assert_true(str_is(m.attachments[0].mimetype, "text/plain"));
    assert_true(str_is(m.attachments[0].filename, "a.txt"));
    assert_true(str_is(m.attachments[0].source_url, "http://x/a.txt"));
    assert_true(str_is(m.channel_name, "general"));
    assert_int_equal(m.timestamp.tv_sec, 1700000000);
    assert_int_equal(m.timestamp.tv_nsec, 500000000L);
    assert_true(sgi_message_time(&m) == 1700000000.5);
    assert_true(str_is(m.message_id, "m1"));
    assert_true(str_is(m.reply_to_id, "m0"));
    assert_false(m.extra.identity_resolved);
    assert_true(m.extra.has_guild_id);
    assert_true(str_is(m.extra.guild_id, "g1"));
    assert_true(str_is(m.extra.guild_name, "Guild"));
    assert_true(str_is(m.extra.channel_id_raw, "c1"));
    assert_false(m.extra.is_dm);
    assert_int_equal(m.extra.member_roles.n, 2);
    assert_true(str_is(m.extra.member_roles.items[1], "r2"));
    assert_true(m.extra.embeds.len > 0);
    assert_int_equal(m.extra.member_count, 42);
    assert_true(m.reactions.len > 0);
    assert_true(m.has_unified_user_id);
    assert_true(str_is(m.unified_user_id, "uu"));
    assert_int_equal(m.user_aliases.n, 1);
    assert_true(str_is(m.trace_id, "t1"));
    sg_envelope_free(env);
}

/* SG-INENV-002: defaults; timestamp 0 is "unknown": the receiver's clock. */
static void test_message_from_inbound_defaults(void **state)
{
    sg_envelope *env = inbound("{\"platform\":\"p\",\"channel_id\":\"c\"}");
    struct timespec now = {1234, 5};
    sgi_message m;

    (void)state;
    sgi_message_from_inbound(&env->u.in, now, &m);
    assert_true(m.is_addressed);
    assert_int_equal(m.timestamp.tv_sec, 1234);
    assert_int_equal(m.timestamp.tv_nsec, 5);
    assert_false(m.extra.has_guild_id);
    assert_int_equal(m.extra.embeds.len, 0);
    assert_int_equal(m.extra.member_count, 0);
    assert_int_equal(m.nattachments, 0);
    assert_true(str_is(m.text, ""));
    assert_true(str_is(m.extra.channel_id_raw, "c"));
    sg_envelope_free(env);

    env = inbound("{\"platform\":\"p\",\"channel_id\":\"c\","
                  "\"is_addressed\":false}");
    sgi_message_from_inbound(&env->u.in, now, &m);
    assert_false(m.is_addressed);
    sg_envelope_free(env);
}

static void test_message_prompt_text_names_attachments(void **state)
{
    sg_envelope *env = inbound(
        "{\"platform\":\"p\",\"channel_id\":\"c\",\"content\":\"look\","
        "\"attachments\":[{\"data\":\"aGVsbG8=\",\"mimetype\":\"image/png\","
        "\"filename\":\"cat.png\"}]}");
    struct timespec now = {0, 0};
    sgi_message m;
    sg_buf b;

    (void)state;
    sgi_message_from_inbound(&env->u.in, now, &m);
    sg_buf_init(&b, NULL);
    assert_int_equal(sgi_message_prompt_text(&m, &b), 0);
    assert_int_equal(b.len, strlen("look\n[attachment: cat.png (image/png, "
                                   "5 bytes)]"));
    assert_memory_equal(b.data, "look\n[attachment: cat.png (image/png, 5 "
                                "bytes)]", b.len);
    sg_buf_destroy(&b);
    sg_envelope_free(env);
}

static void test_prompt_body_history_and_budget(void **state)
{
    sgi_config cfg;
    sg_buf rec, body;
    const char *recs[4];
    size_t lens[4];
    char *r0;
    cJSON *j, *msgs;

    (void)state;
    assert_int_equal(sgi_config_init(&cfg), 0);
    memcpy(cfg.model, "m-x", 4);
    sg_buf_init(&rec, NULL);
    assert_int_equal(sgi_history_record(&rec, "user", SG_STR("u1"),
                                        SG_STR("alice"), SG_STR("first"),
                                        SG_STR("m1"), 10.0), 0);
    r0 = malloc(rec.len + 1);
    assert_non_null(r0);
    memcpy(r0, rec.data, rec.len + 1);
    recs[0] = r0;
    lens[0] = rec.len;
    recs[1] = "not json";                  /* skipped */
    lens[1] = strlen(recs[1]);
    recs[2] = "{\"role\":\"system\",\"content\":\"x\"}"; /* skipped */
    lens[2] = strlen(recs[2]);
    recs[3] = "{\"role\":\"assistant\",\"content\":\"second\"}";
    lens[3] = strlen(recs[3]);

    sg_buf_init(&body, NULL);
    assert_int_equal(sgi_prompt_body(&body, &cfg, recs, lens, 4,
                                     SG_STR("now"), SG_STR("Bob B.")), 0);
    j = cJSON_Parse((const char *)body.data);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "model")->valuestring, "m-x");
    assert_int_equal(cJSON_GetObjectItem(j, "max_tokens")->valueint, 1024);
    msgs = cJSON_GetObjectItem(j, "messages");
    assert_int_equal(cJSON_GetArraySize(msgs), 4);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 0),
                                            "role")->valuestring, "system");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 1),
                                            "content")->valuestring, "first");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 2),
                                            "role")->valuestring,
                        "assistant");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 3),
                                            "content")->valuestring, "now");
    /* Authors by name; the assistant has none. */
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 1),
                                            "name")->valuestring, "alice");
    assert_null(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 2), "name"));
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(msgs, 3),
                                            "name")->valuestring, "Bob_B_");
    cJSON_Delete(j);
    free(r0);
    sg_buf_destroy(&rec);
    sg_buf_destroy(&body);
    sgi_config_destroy(&cfg);
}

/*
 * History records as any writer may have written them: escapes, other
 * members, members in another order, a nested value; and the unusable
 * ones skipped (a lone surrogate, bytes that are not UTF-8, a role that
 * is not a string, trailing text).
 */
static void test_prompt_body_reads_records_as_json(void **state)
{
    sgi_config cfg;
    sg_buf body;
    const char *recs[] = {
        "{\"ts\":1.5,\"extra\":{\"a\":[1,2,{\"b\":null}]},\"user_name\":"
        "\"J\\u00fcrgen \\\"J\\\"\",\"content\":\"line\\none \\u00e9 "
        "\\ud83d\\ude00 \\/\",\"role\":\"us\\u0065r\"}",
        " { \"role\" : \"assistant\" , \"content\" : \"ok\" } ",
        "{\"role\":\"user\",\"content\":\"lone \\ud83d\"}",
        "{\"role\":\"user\",\"content\":\"bad \xff\"}",
        "{\"role\":1,\"content\":\"x\"}",
        "{\"role\":\"user\",\"content\":\"x\"} trailing",
        "{\"role\":\"user\",\"content\":\"first wins\",\"content\":\"no\"}",
    };
    size_t lens[7], i;
    cJSON *j, *msgs, *m;

    (void)state;
    for (i = 0; i < 7; i++)
        lens[i] = strlen(recs[i]);
    assert_int_equal(sgi_config_init(&cfg), 0);
    sg_buf_init(&body, NULL);
    assert_int_equal(sgi_prompt_body(&body, &cfg, recs, lens, 7,
                                     SG_STR("now"), SG_STR("")), 0);
    j = cJSON_Parse((const char *)body.data);
    assert_non_null(j);
    msgs = cJSON_GetObjectItem(j, "messages");
    /* system, 3 usable records, the message. */
    assert_int_equal(cJSON_GetArraySize(msgs), 5);
    m = cJSON_GetArrayItem(msgs, 1);
    assert_string_equal(cJSON_GetObjectItem(m, "role")->valuestring, "user");
    assert_string_equal(cJSON_GetObjectItem(m, "content")->valuestring,
                        "line\none \xc3\xa9 \xf0\x9f\x98\x80 /");
    assert_string_equal(cJSON_GetObjectItem(m, "name")->valuestring,
                        "J_rgen__J_");
    m = cJSON_GetArrayItem(msgs, 2);
    assert_string_equal(cJSON_GetObjectItem(m, "role")->valuestring,
                        "assistant");
    assert_string_equal(cJSON_GetObjectItem(m, "content")->valuestring,
                        "ok");
    m = cJSON_GetArrayItem(msgs, 3);
    assert_string_equal(cJSON_GetObjectItem(m, "content")->valuestring,
                        "first wins");
    assert_null(cJSON_GetObjectItem(m, "name"));
    cJSON_Delete(j);
    sg_buf_destroy(&body);
    sgi_config_destroy(&cfg);
}

/*
 * A backslash followed by a NUL byte in a record's content was taken for
 * an escape (strchr() finds the string's terminator), so the content went
 * into the request with the NUL in it: a body that is no JSON. Found by
 * fuzz_history. A NUL inside a number is no number either.
 */
static void test_prompt_body_nul_after_backslash_is_unusable(void **state)
{
    static const char rec0[] = "{\"role\":\"user\",\"content\":\"a\\\0b\"}";
    static const char rec1[] = "{\"role\":\"user\",\"content\":\"x\","
                               "\"n\":1\0}";
    const char *recs[] = {rec0, rec1};
    size_t lens[] = {sizeof rec0 - 1, sizeof rec1 - 1};
    sgi_config cfg;
    sg_buf body;
    cJSON *j;

    (void)state;
    assert_int_equal(sgi_config_init(&cfg), 0);
    sg_buf_init(&body, NULL);
    assert_int_equal(sgi_prompt_body(&body, &cfg, recs, lens, 2,
                                     SG_STR("now"), SG_STR("")), 0);
    assert_null(memchr(body.data, '\0', body.len));
    j = cJSON_Parse((const char *)body.data);
    assert_non_null(j);
    /* system and the message: neither record is used. */
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "messages")),
                     2);
    cJSON_Delete(j);
    sg_buf_destroy(&body);
    sgi_config_destroy(&cfg);
}

static void test_prompt_name_allowed_characters(void **state)
{
    char out[80];

    (void)state;
    assert_int_equal(sgi_prompt_name(SG_STR("al-ice_9"), out, sizeof out),
                     8);
    assert_string_equal(out, "al-ice_9");
    /* One '_' per character, UTF-8 included. */
    assert_int_equal(sgi_prompt_name(SG_STR("J\xc3\xbcrgen M"), out,
                                     sizeof out), 8);
    assert_string_equal(out, "J_rgen_M");
    /* Nothing allowed: no name. */
    assert_int_equal(sgi_prompt_name(SG_STR("\xe5\xa4\xaa \xe9\x83\x8e"),
                                     out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(sgi_prompt_name(SG_STR(""), out, sizeof out), 0);
    /* At most 64. */
    assert_int_equal(sgi_prompt_name(SG_STR("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                                            "aaaa"), out, sizeof out), 64);
}

/* SG-RPC-005: a history message of the gateway becomes a record. */
static void test_history_record_from_rpc(void **state)
{
    cJSON *m = cJSON_Parse("{\"user_id\":\"u\",\"user_name\":\"bot\","
                           "\"text\":\"hi\",\"timestamp\":5.5,"
                           "\"message_id\":\"m\",\"is_bot\":true,"
                           "\"reply_to_id\":null,\"reactions\":null}");
    cJSON *r;
    sg_buf b;

    (void)state;
    sg_buf_init(&b, NULL);
    assert_int_equal(sgi_history_record_from_rpc(&b, m), 0);
    r = cJSON_Parse((const char *)b.data);
    assert_non_null(r);
    assert_string_equal(cJSON_GetObjectItem(r, "role")->valuestring,
                        "assistant");
    assert_string_equal(cJSON_GetObjectItem(r, "content")->valuestring,
                        "hi");
    assert_true(cJSON_GetObjectItem(r, "ts")->valuedouble == 5.5);
    cJSON_Delete(r);
    cJSON_Delete(m);
    m = cJSON_Parse("{\"user_id\":\"u\"}");
    sg_buf_reset(&b);
    assert_int_equal(sgi_history_record_from_rpc(&b, m), SG_EINVAL);
    cJSON_Delete(m);
    sg_buf_destroy(&b);
}

/* The "ts" text of a record built with ts. */
static void record_ts(double ts, char *out, size_t cap)
{
    const char *p, *e;
    sg_buf b;

    sg_buf_init(&b, NULL);
    assert_int_equal(sgi_history_record(&b, "user", SG_STR(""), SG_STR(""),
                                        SG_STR("x"), SG_STR(""), ts), 0);
    p = strstr((const char *)b.data, "\"ts\":");
    assert_non_null(p);
    p += 5;
    e = strchr(p, '}');
    assert_non_null(e);
    assert_true((size_t)(e - p) < cap);
    memcpy(out, p, (size_t)(e - p));
    out[e - p] = '\0';
    sg_buf_destroy(&b);
}

/* A record's ts is a JSON number that reads back as exactly the time
   given, in the fewest decimals that do; the times of this century,
   whole, in milliseconds, microseconds or to the nanosecond. */
static void test_history_record_ts_reads_back_exactly(void **state)
{
    static const struct {
        double ts;
        const char *text;
    } cases[] = {
        {0, "0"}, {-1, "0"}, {5.5, "5.5"}, {1700000000, "1700000000"},
        {1700000000.5, "1700000000.5"}, {1795456470.123, "1795456470.123"},
        {1795456470.000001, "1795456470.000001"},
        {1795456470.4236512, "1795456470.4236512"},
        {1795456470.999, "1795456470.999"}, {0.1, "0.1"},
        {123456.789, "123456.789"},
    };
    char text[64], *end;
    size_t i;
    unsigned long long x = 88172645463325252ULL;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        record_ts(cases[i].ts, text, sizeof text);
        assert_string_equal(text, cases[i].text);
    }
    /* Times of this century to the nanosecond, and tiny and huge ones. */
    for (i = 0; i < 20000; i++) {
        struct timespec t;
        double v;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t.tv_sec = (time_t)(946684800 + x % 3155760000ULL);
        t.tv_nsec = (long)((x >> 20) % 1000000000ULL);
        v = (double)t.tv_sec + (double)t.tv_nsec / 1e9;
        if (i % 4 == 1)
            v = (double)t.tv_sec + (double)(t.tv_nsec / 1000000) / 1e3;
        else if (i % 4 == 2)
            v = (double)(x >> 11) / 9007199254740992.0;
        else if (i % 4 == 3)
            v = (double)(x >> 11) * 1e3;
        record_ts(v, text, sizeof text);
        assert_true(strtod(text, &end) == v);
        assert_true(*end == '\0');
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_message_from_inbound_every_field),
        cmocka_unit_test(test_message_from_inbound_defaults),
        cmocka_unit_test(test_message_prompt_text_names_attachments),
        cmocka_unit_test(test_prompt_body_history_and_budget),
        cmocka_unit_test(test_prompt_body_reads_records_as_json),
        cmocka_unit_test(test_prompt_body_nul_after_backslash_is_unusable),
        cmocka_unit_test(test_prompt_name_allowed_characters),
        cmocka_unit_test(test_history_record_from_rpc),
        cmocka_unit_test(test_history_record_ts_reads_back_exactly),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
