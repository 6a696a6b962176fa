/*
 * prompt.h: the conversation history records kept per channel in Redis,
 * and the chat.completions request body built from them.
 *
 * A history record is one JSON object per list element:
 *   {"role": "user" | "assistant", "content": "<text>", "user_id": "..",
 *    "user_name": "..", "message_id": "..", "ts": <seconds>}
 * Records that do not parse, or lack role or content, are skipped when a
 * prompt is built (the list is shared with other workers and may hold
 * anything).
 */
#ifndef SGI_PROMPT_H
#define SGI_PROMPT_H

#include <stddef.h>

#include "sg/codec.h"
#include "sg/mem.h"

#include "config.h"
#include "message.h"

struct cJSON;

/* Most bytes of history content one request carries (newest kept). */
#define SGI_HISTORY_BUDGET ((size_t)524288)
/* Longest history record read back from Redis. */
#define SGI_HISTORY_RECORD_MAX ((size_t)1048576)

/*
 * The text the model sees for msg: its text, then one line per attachment
 * naming its file, type and size. Appended to out; 0 or SG_ENOMEM.
 */
int sgi_message_prompt_text(const sgi_message *msg, sg_buf *out);

/*
 * Appends one history record (JSON, NUL-terminated but the NUL not
 * counted). role is "user" or "assistant". 0, SG_EINVAL (text not UTF-8)
 * or SG_ENOMEM.
 */
int sgi_history_record(sg_buf *out, const char *role, sg_str user_id,
                       sg_str user_name, sg_str content, sg_str message_id,
                       double ts);

/*
 * Appends the record of one history message of a fetch_channel_history
 * reply (SPEC section 10): role "assistant" when is_bot, else "user".
 * 0, SG_EINVAL (not a history message) or SG_ENOMEM.
 */
int sgi_history_record_from_rpc(sg_buf *out, const struct cJSON *m);

/*
 * Appends the chat.completions request body: model and sampling from cfg,
 * a system message with cfg->system_prompt, the history records
 * recs[0..n) (oldest first; unusable ones skipped: not a JSON object
 * with "role" user or assistant and a string "content", or not UTF-8;
 * the oldest dropped beyond SGI_HISTORY_BUDGET), then the user message `current` by
 * `current_name`. User messages carry their author's name in the
 * OpenAI `name` member (see sgi_prompt_name()), so that the model can
 * tell the people of a channel apart. The body is NUL-terminated (not
 * counted). 0, SG_EINVAL or SG_ENOMEM.
 */
int sgi_prompt_body(sg_buf *out, const sgi_config *cfg,
                    const char *const *recs, const size_t *lens, size_t n,
                    sg_str current, sg_str current_name);

/*
 * The `name` member for a display name: the characters OpenAI allows
 * (ASCII letters, digits, '_' and '-'), others replaced by '_', at most
 * 64; written to out (cap >= 65) with a NUL. Returns its length; 0 (no
 * name) when the display name has no allowed character.
 */
size_t sgi_prompt_name(sg_str display, char *out, size_t cap);

#endif /* SGI_PROMPT_H */
