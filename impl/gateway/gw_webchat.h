/*
 * gw_webchat.h: the pieces of the `webchat` platform that tests reach
 * directly.
 */
#ifndef GW_WEBCHAT_H
#define GW_WEBCHAT_H

#include <stddef.h>

#include "sg/codec.h"
#include "sg/error.h"

struct cJSON;

/*
 * The inbound envelope of a POST /api/messages body, {"channel_id",
 * "username", "content"}: channel_id a non-empty string, username and
 * content strings, null or absent. env (caller storage, set up here with
 * sg_envelope_init()) gets platform and room_name "webchat", user_id the
 * channel (one browser session is one user), is_dm, username "web user"
 * and content "" when not given, timestamp now and message_id. It
 * borrows the strings of *root, the parsed body, which the caller frees
 * with cJSON_Delete() once env is no longer used. 0, or SG_EDECODE with
 * the reason (invalid_json, not_map, missing_field, wrong_type), the
 * field path (`data`, `data.channel_id`, ...) and a message naming the
 * field in err, and *root NULL. The codec's own checks (lengths, UTF-8)
 * are left to the publish, which encodes env.
 */
int gw_webchat_post_parse(const char *body, size_t len, double now,
                          const char *message_id, struct cJSON **root,
                          sg_envelope *env, sg_error *err);

#endif /* GW_WEBCHAT_H */
