/*
 * The script of sg-mock-llm: ordered rules matched against the last user
 * message of a chat completion request. Format (mocks/README.md):
 *
 *     {"latency_ms": N,
 *      "rules": [{"match": "substring", "regex": false, "reply": "text",
 *                 "status": 200, "error": "text for non-200",
 *                 "latency_ms": N, "hang": false,
 *                 "tool_calls": [{"name": "...", "arguments": {...}}],
 *                 "times": N}]}
 */
#ifndef SG_MOCK_LLM_SCRIPT_H
#define SG_MOCK_LLM_SCRIPT_H

#include <stdbool.h>
#include <stddef.h>

#include <regex.h>

#define LLM_MAX_RULES 1000
#define LLM_MAX_TOOL_CALLS 64

typedef struct llm_tool_call {
    char *name;
    char *arguments; /* JSON text, as OpenAI sends it */
} llm_tool_call;

typedef struct llm_rule {
    char *match;         /* NULL: matches every message */
    bool regex;
    bool compiled;
    regex_t re;
    char *reply;         /* NULL: the echo reply */
    int status;          /* 200, or the error status */
    char *error;         /* NULL: a default message per status */
    long latency_ms;     /* -1: the script's or the command line's */
    bool hang;
    llm_tool_call *tool_calls;
    size_t n_tool_calls;
    long times;          /* -1: unlimited */
    long used;
} llm_rule;

typedef struct llm_script {
    long latency_ms;     /* -1: the command line's */
    llm_rule *rules;
    size_t n_rules;
    char *text;          /* the script as compact JSON, for GET */
} llm_script;

/* Parses and checks a script. On error returns -1 with a message naming
 * the field (e.g. "rules[2].status: must be an integer in 200..599") in
 * err, and *out untouched. On success *out owns everything; free it with
 * llm_script_free(). */
int llm_script_parse(const char *text, size_t len, llm_script *out,
                     char *err, size_t errlen);
void llm_script_free(llm_script *script);
/* The first rule that matches text and has answers left (counting this
 * one), or NULL. */
llm_rule *llm_script_match(llm_script *script, const char *text);

#endif
