/*
 * Tailing a stream in tests: plain XREAD BLOCK from the start of a stream,
 * on a connection of its own, one callback per entry. Tests use it to play
 * the other side of the bus (a gateway answering RPCs, a tools service).
 *
 *     sgt_tail *t;
 *     sgt_tail_new(conn, "sg:stream:tools", on_entry, w, &t);
 *     ...
 *     sgt_tail_free(t);
 *
 * Test support code, not libsg.
 */
#ifndef SGT_TAIL_H
#define SGT_TAIL_H

#include "sg/codec.h"
#include "sg/conn.h"

typedef struct sgt_tail sgt_tail;

/*
 * One entry: its ID and fields, borrowed for the duration of the call.
 * The callback may send commands but must not free the tail.
 */
typedef void sgt_tail_fn(const char *id, const sg_entry *entry, void *ud);

/*
 * Starts reading `stream` from its first entry, on a new connection like
 * `like`, with BLOCK 50. 0 or an SG_E... code.
 */
int sgt_tail_new(sg_conn *like, const char *stream, sgt_tail_fn *fn,
                 void *ud, sgt_tail **out);

/* Stops and frees. NULL is a no-op. */
void sgt_tail_free(sgt_tail *t);

/* Entries delivered so far. */
unsigned sgt_tail_count(const sgt_tail *t);

#endif /* SGT_TAIL_H */
