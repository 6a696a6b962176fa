/*
 * llm_reply.h: the bounded reader of an OpenAI-compatible chat.completion
 * response (the body of POST <base>/chat/completions).
 *
 * The body is untrusted: it is bounded in bytes and nesting before cJSON
 * sees it, and every field the worker uses is checked for type and size.
 * A reply the worker cannot use is an LLM failure whose text names the
 * field (e.g. "choices[0].message.content: not a string").
 */
#ifndef SGI_LLM_REPLY_H
#define SGI_LLM_REPLY_H

#include <stddef.h>

/* The longest body read (bytes), and the deepest nesting accepted. */
#define SGI_LLM_REPLY_MAX_BYTES ((size_t)1048576)
#define SGI_LLM_REPLY_MAX_DEPTH 32

/* The longest reply text: the outbound `text` limit (SPEC section 5). */
#define SGI_LLM_REPLY_MAX_TEXT ((size_t)262144)

/* What the worker answers when the model asked for tools and said nothing. */
#define SGI_LLM_TOOLS_UNAVAILABLE \
    "Sorry, I cannot use tools here: the tools service is not available."

typedef struct sgi_llm_reply {
    char *content;         /* malloc'd, NUL-terminated; free with _clear */
    size_t content_len;
    int tool_calls;        /* tool calls the model asked for */
    int tools_fallback;    /* content is SGI_LLM_TOOLS_UNAVAILABLE */
    char finish_reason[32]; /* "" when absent or not a short string */
} sgi_llm_reply;

/*
 * Reads body[0..len); body[len] must be a NUL. max_bytes 0 means
 * SGI_LLM_REPLY_MAX_BYTES. The body must be a JSON object whose
 * choices[0].message.content is a non-empty string of valid UTF-8 of at
 * most SGI_LLM_REPLY_MAX_TEXT bytes; a message with tool_calls and no
 * content gets SGI_LLM_TOOLS_UNAVAILABLE as its content. 0 and *out
 * filled (the caller frees it with sgi_llm_reply_clear()), or -1 with a
 * sentence naming the field in err[0..errcap) and *out empty.
 */
int sgi_llm_reply_parse(const char *body, size_t len, size_t max_bytes,
                        sgi_llm_reply *out, char *err, size_t errcap);

/* Frees what a parse gave and empties *r. */
void sgi_llm_reply_clear(sgi_llm_reply *r);

#endif /* SGI_LLM_REPLY_H */
