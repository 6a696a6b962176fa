/*
 * gw_text.h: writing JSON strings and Server-Sent Events frames into an
 * sg_buf. Every function returns 0 or -1 (out of memory), leaving the
 * buffer's length as it was on failure only where it says so.
 */
#ifndef GW_TEXT_H
#define GW_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "sg/mem.h"

/* Appends s (C string). */
int gw_buf_puts(sg_buf *b, const char *s);

/* Appends printf output (cut at 1023 bytes). */
#if defined(__GNUC__)
__attribute__((format(printf, 2, 3)))
#endif
int gw_buf_printf(sg_buf *b, const char *fmt, ...);

/*
 * Appends s[0..len) as a JSON string with its quotes: '"', '\\' and
 * control characters escaped (\n, \r, \t, \b, \f, else \u00XX), other
 * bytes copied (the caller gives UTF-8).
 */
int gw_json_str(sg_buf *b, const char *s, size_t len);

/* gw_json_str() of a C string; NULL gives null. */
int gw_json_cstr(sg_buf *b, const char *s);

/*
 * Appends one SSE frame (the HTML Living Standard's event stream):
 * "id: <id>\n" when id > 0, "event: <event>\n", then data[0..len) as one
 * "data: " line per line of it (a line ends at \n, \r\n or \r), then the
 * blank line that ends the frame. event must hold no line break. On
 * failure the buffer's length is unchanged.
 */
int gw_sse_frame(sg_buf *b, const char *event, uint64_t id,
                 const char *data, size_t len);

/* Ends b with a NUL that b->len does not count. */
int gw_buf_nul(sg_buf *b);

#endif /* GW_TEXT_H */
