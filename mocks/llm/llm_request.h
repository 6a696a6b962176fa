/*
 * What sg-mock-llm reads from a chat completion request: whether the
 * body is JSON, whether it has a `messages` array, the `model`, the text
 * of the last user message and the words of every string content (the
 * stand-in for prompt tokens).
 *
 * The answer is defined by a cJSON tree of the body: what
 * llm_request_read_tree() gives. llm_request_read() gives the same
 * without building the tree: it scans the bytes once, reading only the
 * fields above, and hands any body it cannot read exactly as cJSON does
 * (not strict JSON, escapes cJSON treats in its own way, deep nesting,
 * long numbers) over to llm_request_read_tree(). test_llm_request.c
 * holds the two to agreeing.
 */
#ifndef SG_MOCK_LLM_REQUEST_H
#define SG_MOCK_LLM_REQUEST_H

#include <stdbool.h>
#include <stddef.h>

typedef enum llm_request_status {
    LLM_REQUEST_OK,
    LLM_REQUEST_NOT_JSON,      /* cJSON does not parse the body */
    LLM_REQUEST_NO_MESSAGES,   /* no `messages` array at the top */
} llm_request_status;

typedef struct llm_request {
    llm_request_status status;
    char *model;        /* the first `model` when a string, else NULL */
    char *text;         /* last user message's text; "" when none */
    long prompt_words;  /* words of the string contents of messages */
} llm_request;

/* Reads body (len bytes; body[len] must be readable and is not read past
 * len). Returns 0, or -1 when memory ran out. On 0 with status OK the
 * request owns model and text; free them with llm_request_destroy(),
 * which is also safe after -1 and after other statuses. */
int llm_request_read(llm_request *r, const char *body, size_t len);
/* The same through a cJSON tree of the body: the definition. */
int llm_request_read_tree(llm_request *r, const char *body, size_t len);
void llm_request_destroy(llm_request *r);

/* Whitespace-separated words of s (isspace in the C locale). */
long llm_count_words(const char *s);

#endif
