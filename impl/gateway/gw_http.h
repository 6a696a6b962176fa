/*
 * gw_http.h: the pieces of the `http` platform that tests reach directly.
 */
#ifndef GW_HTTP_H
#define GW_HTTP_H

#include <stddef.h>

#include "sg/codec.h"
#include "sg/error.h"
#include "sg/mem.h"

/*
 * The inbound envelope of a POST /messages body: the JSON object's fields
 * as the JSON bridge reads them (sg_envelope_from_json), after the
 * defaults of the http platform are put in for absent keys: `platform`
 * "http", `timestamp` now, `message_id` gen_id. 0 and *out (free with
 * sg_envelope_free()), or SG_EDECODE with the codec's reason and path in
 * err (invalid_json / not_map with path `data` for a body that is not a
 * JSON object), or SG_ENOMEM.
 */
int gw_http_inbound_parse(const char *body, size_t len, double now,
                          const char *gen_id, sg_envelope **out,
                          sg_error *err);

/*
 * The JSON body of one outbound adapter call: {"op", "platform": "http",
 * "consumer", "entry_id", "envelope": <the envelope as the JSON bridge
 * renders it>}. Appends to out; 0, SG_EINVALID or SG_ENOMEM.
 */
int gw_http_call_body(sg_buf *out, const char *op, const char *consumer,
                      const char *entry_id, const sg_envelope *env);

/*
 * The platform's message ID from a 2xx answer's body: the top-level
 * "message_id" of a JSON object, a string (kept when shorter than cap) or
 * a number (its decimal text), exactly as cJSON would read it. A flat
 * object without escapes (the usual answer) is read in place without
 * allocating; anything else goes through cJSON. out gets "" when there
 * is none.
 */
void gw_http_response_message_id(const char *body, size_t len, char *out,
                                 size_t cap);

#endif /* GW_HTTP_H */
