/*
 * test_llm_request.c: the request reader of sg-mock-llm. The scan
 * (llm_request_read) must answer exactly as the cJSON tree
 * (llm_request_read_tree) for any body: on a table of bodies chosen to
 * be awkward and on many random mutations of realistic ones. And it must
 * read the usual request without building a tree, which is what it is
 * for.
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "llm_request.h"

/* Reads body both ways and fails, naming the body, on any difference. */
static void assert_agree(const char *body, size_t len)
{
    llm_request fast;
    llm_request tree;
    int rf = llm_request_read(&fast, body, len);
    int rt = llm_request_read_tree(&tree, body, len);

    if (rf != 0 || rt != 0) {
        fail_msg("out of memory reading %.*s", (int)len, body);
    }
    if (fast.status != tree.status ||
        fast.prompt_words != tree.prompt_words ||
        (fast.model == NULL) != (tree.model == NULL) ||
        (fast.model != NULL && strcmp(fast.model, tree.model) != 0) ||
        (fast.text == NULL) != (tree.text == NULL) ||
        (fast.text != NULL && strcmp(fast.text, tree.text) != 0)) {
        fail_msg("scan and tree differ on %.*s: status %d/%d, words "
                 "%ld/%ld, model %s/%s, text %s/%s", (int)len, body,
                 (int)fast.status, (int)tree.status, fast.prompt_words,
                 tree.prompt_words, fast.model ? fast.model : "(null)",
                 tree.model ? tree.model : "(null)",
                 fast.text ? fast.text : "(null)",
                 tree.text ? tree.text : "(null)");
    }
    llm_request_destroy(&fast);
    llm_request_destroy(&tree);
}

static void assert_agree_str(const char *body)
{
    assert_agree(body, strlen(body));
}

/* A request as sg-inference sends it: a system prompt, history, a user
 * message with escapes and non-ASCII text, options. */
static const char usual[] =
    "{\"model\":\"gpt-test\",\"temperature\":0.7,\"max_tokens\":256,"
    "\"top_p\":1,\"messages\":["
    "{\"role\":\"system\",\"content\":\"You are a helpful assistant.\\n"
    "Answer briefly.\"},"
    "{\"role\":\"user\",\"content\":\"hello there\",\"name\":\"u1\"},"
    "{\"role\":\"assistant\",\"content\":\"echo: hello there\"},"
    "{\"role\":\"user\",\"content\":\"caf\xc3\xa9 \\u00e9\\t\\\"quoted\\\" "
    "\\\\ back\\/slash \\ud83d\\ude00 end\"}]}";

/* ---- the table -------------------------------------------------------- */

static void test_llm_request_read_agrees_with_tree_on_cases(void **state)
{
    static const char *const cases[] = {
        "{\"messages\":[]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}",
        /* Repeated keys: the first counts. */
        "{\"model\":\"a\",\"model\":\"b\",\"messages\":[{\"role\":\"user\","
        "\"content\":\"one\",\"content\":\"two\",\"role\":\"x\"}]}",
        "{\"model\":7,\"model\":\"b\",\"messages\":[]}",
        "{\"messages\":\"no\",\"messages\":[]}",
        "{\"messages\":[],\"messages\":\"no\"}",
        /* Escaped keys (handed over where keys are compared). */
        "{\"m\\u006fdel\":\"esc\",\"messages\":[{\"r\\u006fle\":\"user\","
        "\"content\":\"k\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"t\\u0065xt\":"
        "\"p\"}]}],\"o\":{\"\\u0041\":1}}",
        /* Roles and contents of other types, other elements. */
        "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},"
        "{\"role\":\"user\",\"content\":5},\"x\",[1],null,"
        "{\"role\":\"user\"}]}",
        "{\"messages\":[{\"role\":\"u\\u0073er\",\"content\":\"esc role\"}]}",
        "{\"messages\":[{\"role\":\"\\u0075\\u0073\\u0065\\u0072\","
        "\"content\":\"all escaped\"}]}",
        "{\"messages\":[{\"role\":\"users\",\"content\":\"no\"},"
        "{\"role\":\"use\",\"content\":\"no\"},{\"role\":[\"user\"]}]}",
        /* Content parts, an empty first text (no newline before the
         * next: the tree's rule). */
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"a\"},"
        "{\"text\":1},\"s\",{\"type\":\"image\"},{\"text\":\"b\","
        "\"text\":\"c\"},[{\"text\":\"no\"}]]}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"text\":\"\"},"
        "{\"text\":\"b\"},{\"text\":\"\"},{\"text\":\"c\\n\"}]}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":[]}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":{\"text\":\"o\"}}]}",
        /* Words: escapes that are spaces, and ones that are not. */
        "{\"messages\":[{\"role\":\"system\",\"content\":\" a\\tb\\nc\\rd"
        "\\fe\\u000bf\\bg\\u00a0h\\u2003i \"},{\"role\":\"user\","
        "\"content\":\"\\u0020x\\u0020\"}]}",
        /* What cJSON reads in its own way: handed over. */
        "{\"messages\":[{\"role\":\"user\",\"content\":\"a\"}]} trailing",
        "\xef\xbb\xbf{\"messages\":[]}",
        "\x01{\"messages\":[]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud83d\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\\ude00\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud83d\\u0041\"}]}",
        "{\"messages\":[{\"role\":\"user\",\"content\":\"tab\there\"}]}",
        "{\"messages\":[01,1.,.5,-,1e,+1,0x10]}",
        "{\"messages\":[12345678901234567890123456789012345678901234567890"
        "12345678901234567890]}",
        "{\"messages\":[1.5e-300,-0,0.0,1E+2]}",
        "[{\"messages\":[]}]",
        "\"messages\"",
        "{\"messages\":{}}",
        "{\"messages\":[],}",
        "{\"messages\":[1,]}",
        "{\"messages\" [1]}",
        "{messages:[]}",
        "{\"messages\":[tru]}",
        "{\"messages\":[nul]}",
        "{\"messages\":[\"\\x\"]}",
        "{\"messages\":[\"\\u12\"]}",
        "{\"messages\":[\"\\u12G4\"]}",
        "{\"messages\":[",
        "{\"messages\":[\"abc",
        "{\"messages\":[\"abc\\",
        "{",
        "",
        " ",
        "null",
        " \r\n\t{ \"messages\" : [ { \"content\" : \"c\" , \"role\" : "
        "\"user\" } ] , \"n\" : [ -1.5e3 , 0 , true , false , null , {} ] }",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_agree_str(cases[i]);
    }
    assert_agree_str(usual);
    /* A NUL byte inside the length: cJSON stops there. */
    assert_agree("{\"messages\":[]}\0x", 17);
    assert_agree("{\"messages\":[\"a\0b\"]}", 20);
}

/* Nesting: the scan hands deep bodies over (the tree reads up to 1000
 * levels), at every depth around its own bound. */
static void test_llm_request_read_agrees_with_tree_when_deep(void **state)
{
    char body[2200];
    int depth;

    (void)state;
    for (depth = 0; depth <= 1002; depth += depth < 70 ? 1 : 233) {
        size_t n = 0;
        int i;

        n += (size_t)snprintf(body + n, sizeof body - n,
                              "{\"messages\":[{\"role\":\"user\","
                              "\"content\":\"deep\"}],\"x\":");
        for (i = 0; i < depth; i++) {
            body[n++] = '[';
        }
        for (i = 0; i < depth; i++) {
            body[n++] = ']';
        }
        if (depth == 0) {
            body[n++] = '0';
        }
        body[n++] = '}';
        assert_agree(body, n);
    }
}

/* ---- random mutations -------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static unsigned rnd(unsigned bound)
{
    /* xorshift64*: deterministic, so a failure can be replayed. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (unsigned)((rng_state * 0x2545f4914f6cdd1du) >> 33) % bound;
}

static void test_llm_request_read_agrees_with_tree_on_mutations(void **state)
{
    static const char *const seeds[] = {
        usual,
        "{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
        "\"text\":\"part one\"},{\"type\":\"text\",\"text\":\"two\"}]}],"
        "\"model\":\"m\"}",
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":"
        "\"s\"},{\"role\":\"user\",\"content\":\"q \\u00e9\"},"
        "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
        "\"c1\",\"type\":\"function\",\"function\":{\"name\":\"f\","
        "\"arguments\":\"{}\"}}]},{\"role\":\"tool\",\"content\":\"42\"}]}",
    };
    /* Bytes that change JSON's structure more often than random ones. */
    static const char alphabet[] = "{}[],:\"\\u0123456789abcdefABCDEF -+.eE"
                                   "trufalsn\t\n\r/\x01\x7f\x80\xc3\xa9";
    char buf[1024];
    int round;

    (void)state;
    for (round = 0; round < 6000; round++) {
        const char *seed = seeds[rnd(sizeof seeds / sizeof seeds[0])];
        size_t n = strlen(seed);
        int edits = 1 + (int)rnd(3);
        int e;

        memcpy(buf, seed, n);
        for (e = 0; e < edits && n > 0; e++) {
            size_t at = rnd((unsigned)n);
            char c = alphabet[rnd(sizeof alphabet - 1)];

            switch (rnd(4)) {
            case 0:
                buf[at] = c;
                break;
            case 1:
                if (n + 1 < sizeof buf) {
                    memmove(buf + at + 1, buf + at, n - at);
                    buf[at] = c;
                    n++;
                }
                break;
            case 2:
                memmove(buf + at, buf + at + 1, n - at - 1);
                n--;
                break;
            default:
                n = at + 1;
                break;
            }
        }
        buf[n] = '\0';
        assert_agree(buf, n);
    }
}

/* ---- no tree for the usual request ------------------------------------- */

static size_t cjson_allocs;

static void *counting_malloc(size_t n)
{
    cjson_allocs++;
    return malloc(n);
}

static void test_llm_request_read_usual_body_builds_no_tree(void **state)
{
    cJSON_Hooks hooks = { counting_malloc, free };
    cJSON_Hooks plain = { NULL, NULL };
    llm_request r;

    (void)state;
    cJSON_InitHooks(&hooks);
    cjson_allocs = 0;
    assert_int_equal(llm_request_read(&r, usual, strlen(usual)), 0);
    assert_int_equal(cjson_allocs, 0);
    assert_int_equal(r.status, LLM_REQUEST_OK);
    assert_string_equal(r.model, "gpt-test");
    assert_string_equal(r.text, "caf\xc3\xa9 \xc3\xa9\t\"quoted\" \\ "
                        "back/slash \xf0\x9f\x98\x80 end");
    /* 7 + 2 + 3 + 7 words. */
    assert_int_equal(r.prompt_words, 19);
    llm_request_destroy(&r);
    /* The tree does allocate: the counting works. */
    assert_int_equal(llm_request_read_tree(&r, usual, strlen(usual)), 0);
    assert_true(cjson_allocs > 0);
    llm_request_destroy(&r);
    cJSON_InitHooks(&plain);
}

static void test_llm_count_words_whitespace_separated(void **state)
{
    (void)state;
    assert_int_equal(llm_count_words(""), 0);
    assert_int_equal(llm_count_words(NULL), 0);
    assert_int_equal(llm_count_words("  a  b\tc\n"), 3);
    assert_int_equal(llm_count_words("caf\xc3\xa9\xc2\xa0x"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_llm_request_read_agrees_with_tree_on_cases),
        cmocka_unit_test(test_llm_request_read_agrees_with_tree_when_deep),
        cmocka_unit_test(
            test_llm_request_read_agrees_with_tree_on_mutations),
        cmocka_unit_test(test_llm_request_read_usual_body_builds_no_tree),
        cmocka_unit_test(test_llm_count_words_whitespace_separated),
    };

    return cmocka_run_group_tests_name("llm_request", tests, NULL, NULL);
}
