/*
 * sg/json.h: the JSON bridge. An envelope as the canonical JSON object of
 * protocol/vectors/README.md, and back.
 *
 * The canonical form is an object with "schema_version": 1, for outbound
 * envelopes "type", then every field of the envelope's table with its
 * default applied, except optional fields whose default is "absent", which
 * appear only when present. *bytes* are standard base64 strings with
 * padding. *any* and *map* values map msgpack nil, bool, int, float, str,
 * array and map to JSON null, true/false, integer, number, string, array
 * and object, and msgpack bin to {"$bin": "<base64>"}. Absent rpc_args,
 * tool_args and tool_ctx are written {}. The entry's framing fields are not
 * part of it.
 */
#ifndef SG_JSON_H
#define SG_JSON_H

#include <stddef.h>

#include "sg/codec.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Appends the canonical JSON text of env (compact, UTF-8) to out, followed
 * by a NUL byte that is not counted in out->len, so that
 * (char *)out->data is a C string. Integers are written exactly; floats
 * with the fewest significant digits (15 to 17) that read back the same,
 * always with a fraction or an exponent ("2.0"); non-finite floats, which
 * no decoded envelope holds, as null. The envelope is not checked against
 * its table; only a value that cannot be written fails (SG_EINVALID): an
 * sg_any that is not msgpack of the subset, a string that is not UTF-8.
 * Returns 0, SG_EINVALID, SG_ENOMEM or SG_EINVAL; on failure out->len is
 * unchanged. The caller owns out as before (sg_buf_destroy()).
 */
int sg_envelope_to_json(const sg_envelope *env, sg_buf *out, sg_error *err);

/*
 * Builds an envelope of `kind` from JSON text json[0..len) (need not be
 * NUL-terminated). The text is turned into the msgpack map it stands for
 * (objects to maps in key order, numbers without fraction or exponent that
 * fit 64 bits to ints, other numbers to float 64, {"$bin": "<base64>"}
 * with strict base64 to bin, any other object to a map) and decoded
 * exactly like sg_envelope_decode_data(), so it is checked with the same
 * reasons, paths and limits. Before that, with path `data`: text longer
 * than max_entry_bytes is rejected with entry_too_large; text nested more
 * than max_depth + 1 levels deep (one more than msgpack, for {"$bin": ...})
 * with too_deep, before it is parsed; text that is not one JSON value (as
 * cJSON reads it; whitespace may follow) with invalid_json; and a value
 * that is not an object with not_map.
 *
 * On success *out is a new envelope that owns everything it points to
 * (the text may be freed at once); free it with sg_envelope_free(). On
 * failure returns SG_EDECODE, SG_ENOMEM or SG_EINVAL and *out is NULL.
 * Memory comes from opts->mem, except cJSON's parse tree, which cJSON
 * allocates through its own global hooks (malloc unless the program set
 * cJSON_InitHooks).
 */
int sg_envelope_from_json(sg_kind kind, const char *json, size_t len,
                          const sg_decode_opts *opts, sg_envelope **out,
                          sg_error *err);

#ifdef __cplusplus
}
#endif

#endif /* SG_JSON_H */
