/*
 * config.h: sg-inference's LLM configuration (the JSON file named by
 * SG_INFERENCE_CONFIG, overridden key by key by SG_LLM_* variables).
 *
 * Keys and variables (file key = variable without SG_LLM_, lowercased):
 *
 *   base_url       SG_LLM_BASE_URL       required; http:// or https://
 *   api_key        SG_LLM_API_KEY        "" (no Authorization header)
 *   model          SG_LLM_MODEL          "gpt-4o-mini"
 *   temperature    SG_LLM_TEMPERATURE    0.7, 0 .. 2
 *   max_tokens     SG_LLM_MAX_TOKENS     1024, 1 .. 1000000
 *   top_p          SG_LLM_TOP_P          1, above 0 .. 1
 *   timeout_ms     SG_LLM_TIMEOUT_MS     60000, 1 .. 600000
 *   system_prompt  SG_LLM_SYSTEM_PROMPT  a short default, at most 65536 B
 *   history_max    SG_LLM_HISTORY_MAX    20, 1 .. 1000
 *   history_ttl_ms SG_LLM_HISTORY_TTL_MS 604800000 (7 days), 1000 ..
 *   max_retries    SG_LLM_MAX_RETRIES    3, 0 .. 10
 *   typing_delay_ms SG_LLM_TYPING_DELAY_MS 500, 0 .. 600000: how long a
 *                  reply may take before the typing indicator is shown
 *                  (0: shown as the LLM call starts)
 *
 * Every failure names the variable or the file key and the limit.
 */
#ifndef SGI_CONFIG_H
#define SGI_CONFIG_H

#include <stddef.h>

#include "sg/config.h"

#define SGI_URL_MAX 1024
#define SGI_KEY_MAX 1024
#define SGI_MODEL_MAX 256
#define SGI_PROMPT_MAX 65536
#define SGI_CONFIG_FILE_MAX ((size_t)1048576)

typedef struct sgi_config {
    char base_url[SGI_URL_MAX];
    char api_key[SGI_KEY_MAX];
    char model[SGI_MODEL_MAX];
    double temperature;
    long max_tokens;
    double top_p;
    int timeout_ms;
    char *system_prompt;        /* malloc'd; sgi_config_destroy() */
    int history_max;
    long long history_ttl_ms;
    int max_retries;
    int typing_delay_ms;
} sgi_config;

/* The defaults (base_url empty); free with sgi_config_destroy(). */
int sgi_config_init(sgi_config *c);

void sgi_config_destroy(sgi_config *c);

/*
 * Loads the configuration: defaults, then the file named by
 * SG_INFERENCE_CONFIG (when set and non-empty), then each variable that is
 * set and non-empty. lookup reads variables (getenv-like). 0 and *c
 * filled (initialise it first with sgi_config_init(); its old values are
 * replaced), or -1 with err naming the variable or key and the limit, and
 * *c unchanged.
 */
int sgi_config_load(sgi_config *c, sg_lookup_fn *lookup, void *ud,
                    char *err, size_t errcap);

/* Copies src into dst (both initialised). 0 or -1 (no memory). */
int sgi_config_copy(sgi_config *dst, const sgi_config *src);

#endif /* SGI_CONFIG_H */
