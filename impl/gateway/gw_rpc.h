/*
 * gw_rpc.h: the pieces of the gateway's RPC service (SPEC section 10)
 * that tests reach directly.
 */
#ifndef GW_RPC_H
#define GW_RPC_H

#include <stddef.h>

#include "sg/codec.h"

struct cJSON;

/*
 * The arguments of a fetch_channel_history request: env the request's
 * envelope (its rpc_args read through the JSON bridge; NULL: none), req
 * its outbound fields. *limit from rpc_args.limit, an integer from 1 to
 * 100 (10 when absent); *channel (*chlen bytes, not NUL-terminated when
 * it is the envelope's) the request's channel_id when non-empty, else a
 * non-empty string rpc_args.channel_id. The channel may point into
 * *args, the rpc_args tree, which the caller frees with cJSON_Delete()
 * once done with the channel. 0, or -1 with *error a static message
 * naming the field, and *args NULL.
 */
int gw_rpc_history_args(const sg_envelope *env, const sg_outbound *req,
                        struct cJSON **args, int *limit,
                        const char **channel, size_t *chlen,
                        const char **error);

#endif /* GW_RPC_H */
