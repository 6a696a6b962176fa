/*
 * The Lua scripts of the stream runtime, all in one place.
 *
 * Why scripts. Every decision the protocol makes about an entry ("is it
 * still mine?", "does the lock still hold my token?", "was it already
 * sent?") is only worth something if nothing can change between the check
 * and the action. Redis runs a script atomically, so a script that checks
 * and acts cannot be interleaved with another consumer's commands. And one
 * script call replaces the several round trips the seeds make per entry.
 *
 * Batches. sg__step takes many entries per call, so one call (one Redis
 * command) ends and starts every entry the consumer has ready at that
 * moment. Each entry's result is independent of the others: a batch is
 * only a way to share a round trip, not a transaction over its entries.
 *
 * Conventions shared by the scripts (the prelude below):
 *   KEYS[1] the stream, KEYS[2] its claim-attempt hash, KEYS[3] the
 *           dead-letter stream; further keys per entry, in entry order.
 *   ARGV[1] the group, ARGV[2] this consumer's name.
 *   An entry is "ours" when XPENDING lists it as pending at this consumer
 *   (SG-IN-009): not acknowledged by anyone, not reclaimed by anyone.
 *   ack() is XACK plus HDEL of the claim-attempt field (SG-IN-010,
 *   SG-CLAIM-009); it is only ever called on an entry found ours in the
 *   same script, which makes it the ownership-checked acknowledgement of
 *   SG-IN-011.
 *   dead_letter() writes the entry's fields unchanged (f[first..last]),
 *   followed by the dlq_ fields of SPEC section 18 (SG-DLQ-001); every
 *   caller acknowledges in the same script (SG-DLQ-003).
 *   Lock release is compare-and-delete (SG-LOCK-003).
 *   Numbers given to redis.call are string literals ('1', not 1): Redis
 *   turns a Lua number into an argument through printf's %.14g, which
 *   costs more than the command it is given to.
 */
#include "scripts.h"

#include <string.h>

/* The prelude; the scripts that use it are prefixed with it at init. */
static const char prelude_lua[] =
    "local stream, hash, dlq = KEYS[1], KEYS[2], KEYS[3]\n"
    "local group, me = ARGV[1], ARGV[2]\n"
    "local function now_ms()\n"
    "  local t = redis.call('TIME')\n"
    "  return t[1] .. string.format('%03d', math.floor(tonumber(t[2]) / "
    "1000))\n"
    "end\n"
    "local function pending(id)\n"
    "  local p = redis.call('XPENDING', stream, group, id, id, '1')\n"
    "  return p[1]\n"
    "end\n"
    "local function ack(id, deliveries, q)\n"
    "  redis.call('XACK', stream, group, id)\n"
    "  if deliveries ~= 1 then redis.call('HDEL', hash, id) end\n"
    "  if q then redis.call('LREM', q, '1', id) end\n"
    "end\n"
    "local function release(key, token)\n"
    "  if redis.call('GET', key) == token then\n"
    "    redis.call('DEL', key)\n"
    "    return true\n"
    "  end\n"
    "  return false\n"
    "end\n"
    "local function dead_letter(f, first, id, reason, path, err, attempts,"
    " last)\n"
    "  local a = {}\n"
    "  for i = first, last or #f do a[#a + 1] = f[i] end\n"
    "  local extra = {'dlq_origin_stream', stream, 'dlq_origin_group',\n"
    "    group, 'dlq_origin_id', id, 'dlq_reason', reason, 'dlq_path',\n"
    "    path, 'dlq_error', string.sub(err, 1, 1024), 'dlq_attempts',\n"
    "    tostring(attempts), 'dlq_consumer', me, 'dlq_time_ms', now_ms()}\n"
    "  for i = 1, #extra do a[#a + 1] = extra[i] end\n"
    "  redis.call('XADD', dlq, '*', unpack(a))\n"
    "end\n"
    "local function flag(flags, bit)\n"
    "  return math.floor(flags / bit) % 2 == 1\n"
    "end\n";

/*
 * Order queues (SG-IN-006, SG-IN-023..025). A channel's order queue, the
 * list "{order prefix}:{channel_id}", holds the IDs of its addressed
 * entries that were read and not yet ended, in stream order: the read
 * script appends them, every script that ends an entry removes it.
 *
 * order_channel(f): the channel whose queue an entry with fields f
 * belongs in, or nil: the `data` field decoded with Redis's cmsgpack
 * (inside pcall: a malformed payload is not an error here, the codec
 * rejects it later), a map with a non-empty string channel_id whose
 * is_addressed is not false.
 */
static const char order_channel_lua[] =
    "local function order_channel(f)\n"
    "  for j = 1, #f - 1, 2 do\n"
    "    if f[j] == 'data' then\n"
    "      local ok, m = pcall(cmsgpack.unpack, f[j + 1])\n"
    "      if ok and type(m) == 'table' then\n"
    "        local c = m['channel_id']\n"
    "        if type(c) == 'string' and c ~= '' and\n"
    "          m['is_addressed'] ~= false then return c end\n"
    "      end\n"
    "      return nil\n"
    "    end\n"
    "  end\n"
    "  return nil\n"
    "end\n";

/*
 * order_busy(q, id): the begin check of SG-IN-024, before the lock is
 * touched. Looks at the head of queue q: none, id itself, or an entry
 * newer than id (id is not in the queue: read by a consumer without
 * order queues) -> go ahead; an older entry pending at another consumer
 * -> busy; an older entry pending at this consumer -> go ahead (the
 * engine's channel queue keeps this consumer's own entries in ID order,
 * and an entry of its own that failed and waits for its retry does not
 * hold the channel back, as before); an entry no longer pending (or not
 * an ID at all) -> stale: popped, and the check repeats, at most 16
 * times. IDs compare as the numbers they are: ms, then seq, each as a
 * decimal digit string (longer is larger, else bytewise), exact where
 * Lua's doubles would not be.
 */
static const char order_check_lua[] =
    "local function num_lt(x, y)\n"
    "  if #x ~= #y then return #x < #y end\n"
    "  return x < y\n"
    "end\n"
    "local function order_busy(q, id)\n"
    "  local im, is\n"
    "  for _ = 1, 16 do\n"
    "    local head = redis.call('LINDEX', q, '0')\n"
    "    if not head or head == id then return false end\n"
    "    if not im then\n"
    "      im, is = string.match(id, '^(%d+)%-(%d+)$')\n"
    "      if not im then return false end\n"
    "    end\n"
    "    local hm, hs = string.match(head, '^(%d+)%-(%d+)$')\n"
    "    if hm then\n"
    "      if num_lt(im, hm) or (im == hm and num_lt(is, hs)) then\n"
    "        return false\n"
    "      end\n"
    "      local p = pending(head)\n"
    "      if p then return p[2] ~= me end\n"
    "    end\n"
    "    redis.call('LPOP', q)\n"
    "  end\n"
    "  return false\n"
    "end\n";

/*
 * sg__read: the inbound read with order queues (SG-IN-001, SG-IN-023),
 * and hand-over (SG-IN-026, SG-IN-027).
 *
 * KEYS: 1 the inbound stream. ARGV: 1 group, 2 consumer, 3 COUNT,
 *       4 the order prefix, 5 the wake-up prefix ("": no hand-over),
 *       6 the TTL in ms a hand list gets when this script creates it,
 *       7 "1" to read even when a peer's hand list is full.
 * Returns: {the entries as XREADGROUP returns them ({{stream, entries}},
 *          nil when there are none), the ID of the stream's newest entry
 *          ("0-0" when it has none; "" when the read got all it asked
 *          for, and so will not be followed by a wait), per entry returned
 *          the channel whose queue holds its ID ("" for none), the number
 *          of entries taken (popped from the hand list or read, handed
 *          over or not), the number handed over, the number popped, 1
 *          when it did not read because a peer's hand list had no room
 *          for a whole COUNT, 2 when it read all the same (ARGV[7]), 0
 *          when no list was that full}.
 *
 * XREADGROUP without BLOCK: a script cannot block. The caller, when it
 * got fewer entries than it asked for, waits with XREAD BLOCK from the
 * newest ID, then calls again. Every consumer with order queues reads
 * through this one script, and scripts run one at a time, so each queue
 * receives its channel's IDs in stream order. The queue names are built
 * here, not declared in KEYS: a standalone Redis runs such a script, a
 * Redis Cluster would not. An error of XREADGROUP (NOGROUP) reaches the
 * caller with its code, as Redis 7 keeps it for errors of redis.call.
 *
 * Hand-over. First this consumer's own hand list is popped (up to COUNT
 * notes "<id> <channel>"), each entry read with XRANGE (an entry deleted
 * from the stream comes back with nil fields, as XREADGROUP gives it);
 * XREADGROUP runs only when the list is then empty. Then each entry read
 * that has a channel goes to the channel's consumer: among the live
 * fields of the hand-over hash (value "<bound> <expiry ms>", expiry ahead
 * of Redis's clock) and this consumer, the one with the greatest
 * SHA1("<consumer> <channel>") (rendezvous hashing: a consumer joining
 * or leaving moves only its own share of the channels). When that is
 * another consumer whose hand list is shorter than its bound, the note
 * is pushed (the RPUSH that finds the list full is undone with RPOP),
 * the entry is XCLAIMed to it with JUSTID, and it is not returned. So a
 * channel stays with one consumer while the membership does not change,
 * whoever reads its entries, and whatever order they started in; an
 * entry kept because the list was full waits for the channel's older
 * entries (SG-IN-024), as any entry does, and so does every entry of the
 * channel handed after it, behind it: one full list costs a chain of
 * busy begins. So the script does not read at all while some live peer's
 * list has no room for a whole COUNT (it says so, and the caller waits a
 * little before it reads again): the entries stay in the stream, and the
 * peer, once its list is empty, reads them itself. A peer that stays
 * full (slow, or stuck) must not hold this consumer's own channels back
 * (SG-IN-008): past a short wait the caller reads all the same, and full
 * lists spill over as above.
 */
static const char read_lua[] =
    "local stream, prefix = KEYS[1], ARGV[4]\n"
    "local group, me, count, hp = ARGV[1], ARGV[2], tonumber(ARGV[3]), "
    "ARGV[5]\n"
    "local out, chans = {}, {}\n"
    "local got, handed, popped = 0, 0, 0\n"
    "local peers, others = {}, false\n"
    "local function hand_list(c) return hp .. ':hand:' .. group .. ':' .. c "
    "end\n"
    "if hp ~= '' then\n"
    "  local notes = redis.call('LPOP', hand_list(me), ARGV[3])\n"
    "  if notes then\n"
    "    for i = 1, #notes do\n"
    "      local sp = string.find(notes[i], ' ', 1, true)\n"
    "      if sp then\n"
    "        local id = string.sub(notes[i], 1, sp - 1)\n"
    "        local e = redis.call('XRANGE', stream, id, id)\n"
    "        out[#out + 1] = e[1] or {id, false}\n"
    "        chans[#out] = string.sub(notes[i], sp + 1)\n"
    "      end\n"
    "    end\n"
    "    popped = #notes\n"
    "  end\n"
    "end\n"
    "got = popped\n"
    "local paused = 0\n"
    "if got < count and hp ~= '' then\n"
    "  local reg = redis.call('HGETALL', hp .. ':handers:' .. group)\n"
    "  if #reg > 2 or (#reg == 2 and reg[1] ~= me) then\n"
    "    local t = redis.call('TIME')\n"
    "    local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / "
    "1000)\n"
    "    for i = 1, #reg - 1, 2 do\n"
    "      local b, x = string.match(reg[i + 1], '^(%d+) (%d+)$')\n"
    "      if b and reg[i] ~= me and tonumber(x) > now then\n"
    "        peers[reg[i]] = tonumber(b)\n"
    "        others = true\n"
    "        local len = redis.call('LLEN', hand_list(reg[i]))\n"
    "        if len + count - got > tonumber(b) then\n"
    "          if ARGV[7] == '1' then paused = 2 else paused = 1 end\n"
    "        end\n"
    "      end\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if got < count and paused ~= 1 then\n"
    "  local n = ARGV[3]\n"
    "  if got > 0 then n = tostring(count - got) end\n"
    "  local r = redis.call('XREADGROUP', 'GROUP', group, me, 'COUNT', n, "
    "'STREAMS', stream, '>')\n"
    "  local entries = r and r[1] and r[1][2] or {}\n"
    "  got = got + #entries\n"
    "  local to_of = {}\n"
    "  for i = 1, #entries do\n"
    "    local e = entries[i]\n"
    "    local c = e[2] and order_channel(e[2])\n"
    "    local to\n"
    "    if c then\n"
    "      if others then\n"
    "        local o = to_of[c]\n"
    "        if o == nil then\n"
    "          o = me\n"
    "          local best = redis.sha1hex(me .. ' ' .. c)\n"
    "          for m, _ in pairs(peers) do\n"
    "            local v = redis.sha1hex(m .. ' ' .. c)\n"
    "            if v > best then o, best = m, v end\n"
    "          end\n"
    "          to_of[c] = o\n"
    "        end\n"
    "        if o ~= me and peers[o] > 0 then\n"
    "          local hl = hand_list(o)\n"
    "          local n = redis.call('RPUSH', hl, e[1] .. ' ' .. c)\n"
    "          if n <= peers[o] then\n"
    "            if n == 1 then redis.call('PEXPIRE', hl, ARGV[6]) end\n"
    "            redis.call('XCLAIM', stream, group, o, '0', e[1], "
    "'JUSTID')\n"
    "            to = o\n"
    "          else\n"
    "            redis.call('RPOP', hl)\n"
    "            peers[o] = 0\n"
    "          end\n"
    "        end\n"
    "      end\n"
    "      redis.call('RPUSH', prefix .. ':' .. c, e[1])\n"
    "    end\n"
    "    if to then\n"
    "      handed = handed + 1\n"
    "    else\n"
    "      out[#out + 1] = e\n"
    "      chans[#out] = c or ''\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local newest = ''\n"
    "if got < count and paused ~= 1 then\n"
    "  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', '1')\n"
    "  newest = '0-0'\n"
    "  if last[1] then newest = last[1][1] end\n"
    "end\n"
    "local r = false\n"
    "if #out > 0 then r = {{stream, out}} end\n"
    "return {r, newest, chans, got, handed, popped, paused}\n";

/*
 * sg__hand_keep: a consumer's field in the hand-over hash and its hand
 * list (SG-IN-027, SG-IN-028).
 *
 * KEYS: 1 stream, 2 the hand-over hash, 3 the hand list.
 * ARGV: 1 group, 2 consumer, 3 the most notes the list may hold ("":
 *       delete the field and stop here), 4 TTL ms.
 * Returns: the number of hand-list entries whose idle time was reset.
 *
 * Sets the field to "<bound> <expiry ms>" (Redis's clock plus the TTL),
 * deletes the fields whose expiry has passed (consumers that stopped
 * answering), renews the list's TTL, and resets the idle time of the
 * listed entries still pending at this consumer (XPENDING over the IDs'
 * range, filtered by consumer; never an entry pending elsewhere, which
 * XCLAIM would take).
 */
static const char hand_keep_lua[] =
    "if ARGV[3] == '' then redis.call('HDEL', KEYS[2], ARGV[2]); return 0 "
    "end\n"
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local reg = redis.call('HGETALL', KEYS[2])\n"
    "for i = 1, #reg - 1, 2 do\n"
    "  local x = string.match(reg[i + 1], ' (%d+)$')\n"
    "  if not x or tonumber(x) <= now then redis.call('HDEL', KEYS[2], "
    "reg[i]) end\n"
    "end\n"
    "redis.call('HSET', KEYS[2], ARGV[2], ARGV[3] .. ' ' .. "
    "string.format('%.0f', now + tonumber(ARGV[4])))\n"
    "redis.call('PEXPIRE', KEYS[2], ARGV[4])\n"
    "local notes = redis.call('LRANGE', KEYS[3], '0', '-1')\n"
    "if #notes == 0 then return 0 end\n"
    "redis.call('PEXPIRE', KEYS[3], ARGV[4])\n"
    "local function lt(x, y)\n"
    "  local xm, xs = string.match(x, '^(%d+)%-(%d+)$')\n"
    "  local ym, ys = string.match(y, '^(%d+)%-(%d+)$')\n"
    "  if #xm ~= #ym then return #xm < #ym end\n"
    "  if xm ~= ym then return xm < ym end\n"
    "  if #xs ~= #ys then return #xs < #ys end\n"
    "  return xs < ys\n"
    "end\n"
    "local ids, listed = {}, {}\n"
    "for i = 1, #notes do\n"
    "  local id = string.match(notes[i], '^(%d+%-%d+) ')\n"
    "  if id then ids[#ids + 1] = id; listed[id] = true end\n"
    "end\n"
    "if #ids == 0 then return 0 end\n"
    "local lo, hi = ids[1], ids[1]\n"
    "for i = 2, #ids do\n"
    "  if lt(ids[i], lo) then lo = ids[i] end\n"
    "  if lt(hi, ids[i]) then hi = ids[i] end\n"
    "end\n"
    "local p = redis.call('XPENDING', KEYS[1], ARGV[1], lo, hi,\n"
    "  tostring(#ids + tonumber(ARGV[3])), ARGV[2])\n"
    "local a = {KEYS[1], ARGV[1], ARGV[2], '0'}\n"
    "for i = 1, #p do\n"
    "  if listed[p[i][1]] then a[#a + 1] = p[i][1] end\n"
    "end\n"
    "if #a == 4 then return 0 end\n"
    "a[#a + 1] = 'JUSTID'\n"
    "redis.call('XCLAIM', unpack(a))\n"
    "return #a - 5\n";

/*
 * sg__step: one call per flush that ends and starts entries in batches
 * (SG-IN-004, SG-IN-007, SG-IN-009..016, SG-IN-019, SG-LOCK-001,
 * SG-LOCK-003, SG-LOCK-004, SG-LOCK-007, SG-OUT-004, SG-OUT-006..014,
 * SG-RPC-002, SG-DLQ-003).
 *
 * KEYS: 1 stream, 2 claim-attempt hash, 3 dead-letter stream, then per
 *       operation: its lock key (flag 1), then one more key (flag 2): the
 *       message_key for A and B, the claim key for F, the reply list for
 *       P; then, for B, the claim key (flag 16); then the entry's order
 *       queue (flag 32); then, for A, the stream it writes entries to
 *       (flag 64) and the list it appends to (flag 128).
 * ARGV: 1 group, 2 consumer, 3 SG_MAX_DELIVERIES, 4 stream length cap,
 *       5 lock TTL ms, 6 claim-key TTL ms, 7 the lock waiters hash and 8
 *       this consumer's wake list ("" and "": no wake-ups), then per
 *       operation: op, id, flags, token, n, and n values.
 * Returns: per operation its result code (scripts.h), and for B also the
 *       entry's delivery count (0 when it is not ours).
 *
 * The caller puts every operation that ends an entry before every B of
 * the same call, so a channel that keeps its lock acknowledges entry k and
 * begins entry k+1 in one round trip, in that order.
 *
 * Operations. Except R and B, each first checks that the entry is ours; a
 * resent operation (flag 8) that finds its entry no longer pending reports
 * SG__R_BEFORE, since its first sending did the work and only the reply
 * was lost. When a lock is given it must still hold our token, or nothing
 * happens (fencing, SG-LOCK-004). Flag 4 releases the lock afterwards:
 * a plain DEL where this operation found the lock holding our token (no
 * command in between touches it), else compare-and-delete.
 *   B  begin: with an order queue, first the check of SG-IN-024
 *      (order_busy above): busy like a taken lock, and then a lock this
 *      consumer still holds from the channel's previous entry is released,
 *      so that the entry the queue waits for can take it. Then take the
 *      lock (SET NX PX GET: one command takes a free lock or tells whose
 *      it is; then PEXPIRE when it already held our token; nothing when
 *      an operation before it in this call found the lock holding our
 *      token and kept it), check the entry is ours, and, with a
 *      message_key, read the completion marker and take the claim key
 *      (SET NX PX, value the entry ID). One atomic step, so "after taking
 *      the lock, immediately before the handler" (SG-IN-009) holds
 *      exactly. Already sent and
 *      duplicate entries are acknowledged here; an entry whose claim key
 *      holds its own ID is dead-lettered as send_state_unknown, its fields
 *      read from the stream, and acknowledged. A busy lock changes
 *      nothing: the caller waits and tries again. Flag 4 releases the lock
 *      when the entry ends inside this operation.
 *   A  acknowledge a handled or cancelled entry. Values: [message_id] with
 *      flag 2: HSET message_key message_id and, when the hash did not
 *      exist, EXPIRE 90 days; write-back and acknowledgement are one step
 *      (SG-OUT-014). With flag 64, then: ts, trace_id, n, and n entries'
 *      data, each XADDed to the stream key (MAXLEN ~ ARGV[4]) with that
 *      ts and trace_id; with flag 128 too, then: "-<keep>", TTL ms and
 *      the items, RPUSHed to the list key, which is trimmed to its last
 *      keep and given the TTL (SG-IN-029). Only past the ownership and
 *      lock checks, so a refused acknowledgement writes nothing.
 *   F  a failed handling. Values: reason, error, then the entry's fields
 *      (sent only when the caller expects the last delivery; otherwise,
 *      should the count have moved, they are read from the stream). With flag 2, the claim key is
 *      deleted if it still holds the entry ID (SG-OUT-012). Below
 *      SG_MAX_DELIVERIES the entry stays pending (SG-IN-012); at it,
 *      dead-letter and acknowledge (SG-IN-013).
 *   D  dead-letter and acknowledge now. Values: reason, path, error,
 *      attempts ("" for the delivery count), then the entry's fields.
 *   Q  requeue after a lock collision (SG-IN-014): the values are the
 *      copy's fields (the caller sets requeued_from and requeue_count);
 *      XADD with MAXLEN ~ cap, then acknowledge the original.
 *   R  release the lock (compare-and-delete); no entry check.
 *   T  reset the entry's idle time: XCLAIM ... 0 id JUSTID, which does not
 *      count a delivery (SG-IN-019).
 *   P  answer an RPC: RPUSH the JSON value to the reply list and EXPIRE it
 *      60 s, then acknowledge (SG-RPC-002). Only the entry's owner pushes,
 *      so one request gets one reply.
 *
 * With an order queue (flag 32), every acknowledgement made here (A, F at
 * the last delivery, D, Q, and B's already-sent, duplicate and
 * send-state-unknown outcomes) also removes the entry's ID from it, in the
 * same script (SG-IN-025); so does finding the entry not pending at all.
 * A failure left pending for a retry stays in its queue.
 *
 * Wake-ups (SG-LOCK-008/009), when ARGV[7] is not empty: a B that finds
 * the channel busy records this consumer's wake list as the lock's
 * waiter, after it released a lock of its own; and wherever a lock is
 * released or an entry leaves its order queue, wake(lock) moves the
 * lock's waiter, if any, to that waiter's wake list, once per lock and
 * call, at that point of the call (before a later B of this call could
 * record this consumer in its place). One HLEN per call first: while
 * nobody waits anywhere (a lone consumer), no lock costs an HGET.
 *
 * ack() skips the HDEL of the claim-attempt field for an entry delivered
 * once: the field is only ever created by sg__autoclaim, whose XAUTOCLAIM
 * counts a delivery, so such an entry has none (SG-CLAIM-009 holds).
 */
static const char step_lua_begin[] =
    "local maxdel, cap = tonumber(ARGV[3]), ARGV[4]\n"
    "local lock_ttl, claim_ttl = ARGV[5], ARGV[6]\n"
    "local waiters, mylist = ARGV[7], ARGV[8]\n"
    "local woke, waiting = {}, nil\n"
    "local function wake(lock)\n"
    "  if waiters == '' or not lock or woke[lock] then return end\n"
    "  if waiting == nil then\n"
    "    waiting = redis.call('HLEN', waiters) > 0\n"
    "  end\n"
    "  if not waiting then return end\n"
    "  woke[lock] = true\n"
    "  local w = redis.call('HGET', waiters, lock)\n"
    "  if w then\n"
    "    redis.call('HDEL', waiters, lock)\n"
    "    redis.call('RPUSH', w, lock)\n"
    "    redis.call('PEXPIRE', w, '60000')\n"
    "  end\n"
    "end\n"
    "local function wait_for(lock)\n"
    "  if waiters ~= '' and lock then\n"
    "    redis.call('HSET', waiters, lock, mylist)\n"
    "    waiting = true\n"
    "  end\n"
    "end\n"
    "local function ackw(id, deliveries, q, lock)\n"
    "  ack(id, deliveries, q)\n"
    "  if q then wake(lock) end\n"
    "end\n"
    "local k = 4\n"
    "local out = {}\n"
    "local held = {}\n"
    "local i = 9\n"
    "while i <= #ARGV do\n"
    "  local op, id, flags, token = ARGV[i], ARGV[i + 1], "
    "tonumber(ARGV[i + 2]), ARGV[i + 3]\n"
    "  local nv = tonumber(ARGV[i + 4])\n"
    "  local v0 = i + 4\n"
    "  i = i + 5 + nv\n"
    "  local lock, key2, key3, q, ws, wl\n"
    "  if flags % 2 == 1 then lock = KEYS[k]; k = k + 1 end\n"
    "  if flag(flags, 2) then key2 = KEYS[k]; k = k + 1 end\n"
    "  if flag(flags, 16) then key3 = KEYS[k]; k = k + 1 end\n"
    "  if flag(flags, 32) then q = KEYS[k]; k = k + 1 end\n"
    "  if flag(flags, 64) then ws = KEYS[k]; k = k + 1 end\n"
    "  if flag(flags, 128) then wl = KEYS[k]; k = k + 1 end\n"
    "  local code, n = 0, 0\n"
    "  if op == 'B' then\n"
    "    if q and order_busy(q, id) then\n"
    "      code = 1\n"
    "      if lock then\n"
    "        if release(lock, token) then wake(lock) end\n"
    "        held[lock] = nil\n"
    "      end\n"
    "      wait_for(lock)\n"
    "    elseif lock and held[lock] ~= token then\n"
    "      local cur = redis.call('SET', lock, token, 'NX', 'PX', lock_ttl,"
    " 'GET')\n"
    "      if cur == token then redis.call('PEXPIRE', lock, lock_ttl)\n"
    "      elseif cur then code = 1; wait_for(lock) end\n"
    "    end\n"
    "    if code == 0 then\n"
    "      local p = pending(id)\n"
    "      if not p or p[2] ~= me then\n"
    "        code = 2\n"
    "        if q and not p then\n"
    "          redis.call('LREM', q, '1', id); wake(lock)\n"
    "        end\n"
    "      else\n"
    "        n = p[4]\n"
    "        if key2 then\n"
    "          local sent = redis.call('HGET', key2, 'message_id')\n"
    "          if sent and string.find(sent, '%S') then\n"
    "            ackw(id, n, q, lock); code = 3\n"
    "          elseif not redis.call('SET', key3, id, 'NX', 'PX', "
    "claim_ttl) then\n"
    "            if redis.call('GET', key3) == id then\n"
    "              local e = redis.call('XRANGE', stream, id, id)\n"
    "              local f = {}\n"
    "              if e[1] then f = e[1][2] end\n"
    "              dead_letter(f, 1, id, 'send_state_unknown', '',\n"
    "                'claim key ' .. key3 .. ' already holds this entry '"
    " ..\n"
    "                'id: an earlier delivery began a send whose outcome "
    "is unknown', n)\n"
    "              ackw(id, n, q, lock); code = 5\n"
    "            else ackw(id, n, q, lock); code = 4 end\n"
    "          end\n"
    "        end\n"
    "      end\n"
    "      if code ~= 0 and lock and flag(flags, 4) and "
    "release(lock, token) then wake(lock) end\n"
    "    end\n"
    "    out[#out + 1] = code\n"
    "    out[#out + 1] = n\n";

/* The second half of sg__step: the operations that end an entry. */
static const char step_lua_end[] =
    "  else\n"
    "    if op == 'R' then\n"
    "      if release(lock, token) then wake(lock) end\n"
    "    else\n"
    "      local p = pending(id)\n"
    "      if not p then\n"
    "        if flag(flags, 8) then code = 10 else code = 2 end\n"
    "        if q then redis.call('LREM', q, '1', id); wake(lock) end\n"
    "      elseif p[2] ~= me then code = 2\n"
    "      elseif lock and redis.call('GET', lock) ~= token then code = 6\n"
    "      elseif op == 'A' then\n"
    "        local j = v0 + 1\n"
    "        if key2 then\n"
    "          local existed = redis.call('EXISTS', key2)\n"
    "          redis.call('HSET', key2, 'message_id', ARGV[j])\n"
    "          if existed == 0 then redis.call('EXPIRE', key2, '7776000') end\n"
    "          j = j + 1\n"
    "        end\n"
    "        if ws then\n"
    "          local nd = tonumber(ARGV[j + 2])\n"
    "          for d = j + 3, j + 2 + nd do\n"
    "            redis.call('XADD', ws, 'MAXLEN', '~', cap, '*', 'data', "
    "ARGV[d],\n"
    "              'ts', ARGV[j], 'trace_id', ARGV[j + 1])\n"
    "          end\n"
    "          j = j + 3 + nd\n"
    "          if wl then\n"
    "            if v0 + nv >= j + 2 then\n"
    "              redis.call('RPUSH', wl, unpack(ARGV, j + 2, v0 + nv))\n"
    "            end\n"
    "            redis.call('LTRIM', wl, ARGV[j], '-1')\n"
    "            redis.call('PEXPIRE', wl, ARGV[j + 1])\n"
    "          end\n"
    "        end\n"
    "        ackw(id, p[4], q, lock)\n"
    "      elseif op == 'F' then\n"
    "        if key2 and redis.call('GET', key2) == id then "
    "redis.call('DEL', key2) end\n"
    "        if p[4] >= maxdel and nv > 2 then\n"
    "          dead_letter(ARGV, v0 + 3, id, ARGV[v0 + 1], '', ARGV[v0 + 2],"
    "\n"
    "            p[4], v0 + nv)\n"
    "          ackw(id, p[4], q, lock); code = 8\n"
    "        elseif p[4] >= maxdel then\n"
    "          local e = redis.call('XRANGE', stream, id, id)\n"
    "          local f = {}\n"
    "          if e[1] then f = e[1][2] end\n"
    "          dead_letter(f, 1, id, ARGV[v0 + 1], '', ARGV[v0 + 2], p[4])\n"
    "          ackw(id, p[4], q, lock); code = 8\n"
    "        else code = 7 end\n"
    "      elseif op == 'D' then\n"
    "        local attempts = ARGV[v0 + 4]\n"
    "        if attempts == '' then attempts = p[4] end\n"
    "        dead_letter(ARGV, v0 + 5, id, ARGV[v0 + 1], ARGV[v0 + 2],\n"
    "          ARGV[v0 + 3], attempts, v0 + nv)\n"
    "        ackw(id, p[4], q, lock); code = 8\n"
    "      elseif op == 'Q' then\n"
    "        redis.call('XADD', stream, 'MAXLEN', '~', cap, '*',\n"
    "          unpack(ARGV, v0 + 1, v0 + nv))\n"
    "        ackw(id, p[4], q, lock); code = 9\n"
    "      elseif op == 'T' then\n"
    "        redis.call('XCLAIM', stream, group, me, '0', id, 'JUSTID')\n"
    "      elseif op == 'P' then\n"
    "        redis.call('RPUSH', key2, ARGV[v0 + 1])\n"
    "        redis.call('EXPIRE', key2, '60')\n"
    "        ack(id, p[4])\n"
    "      end\n"
    "      if lock and code ~= 6 and p and p[2] == me then\n"
    "        if flag(flags, 4) then\n"
    "          redis.call('DEL', lock); wake(lock)\n"
    "          held[lock] = nil\n"
    "        else held[lock] = token end\n"
    "      elseif lock and flag(flags, 4) and release(lock, token) then\n"
    "        wake(lock)\n"
    "      end\n"
    "    end\n"
    "    out[#out + 1] = code\n"
    "  end\n"
    "end\n"
    "return out\n";

/*
 * sg__renew: compare-and-pexpire a batch of locks (SG-LOCK-002).
 *
 * KEYS: the lock keys. ARGV: 1 TTL ms, then one token per key.
 * Returns: per key 1 when it still held the token and was renewed, else 0
 * (the caller then considers the lock lost and fences the handling,
 * SG-LOCK-004). Atomic, so a lock another holder took in between is never
 * extended.
 */
static const char renew_lua[] =
    "local out = {}\n"
    "for i = 1, #KEYS do\n"
    "  if redis.call('GET', KEYS[i]) == ARGV[i + 1] then\n"
    "    redis.call('PEXPIRE', KEYS[i], ARGV[1])\n"
    "    out[i] = 1\n"
    "  else\n"
    "    out[i] = 0\n"
    "  end\n"
    "end\n"
    "return out\n";

/*
 * sg__autoclaim: one autoclaim sweep step (SG-CLAIM-001..005,
 * SG-CLAIM-009).
 *
 * KEYS: 1 stream, 2 claim-attempt hash, 3 dead-letter stream.
 * ARGV: 1 group, 2 consumer, 3 min idle ms, 4 cursor, 5 COUNT,
 *       6 SG_MAX_CLAIMS, 7 the order prefix ("": no order queues).
 * Returns: {next cursor, claimed entries ({id, {field, value, ...}}),
 *          deleted ids, quarantined ids}.
 *
 * XAUTOCLAIM from the cursor the caller carries (SG-CLAIM-002); for each
 * claimed entry HINCRBY its claim-attempt field (SG-CLAIM-004); an entry
 * past SG_MAX_CLAIMS is dead-lettered as max_claims_exceeded, acknowledged
 * and its field removed in the same step (SG-CLAIM-005), and is not
 * returned as claimed; the IDs Redis reports as deleted (the reply's third
 * element) have their field removed (SG-CLAIM-003). Being one script, a
 * crash between claim and quarantine cannot leave an entry claimed but
 * uncounted. A quarantined entry also leaves its channel's order queue
 * (SG-IN-025), the channel found as the read script finds it. Entries
 * Redis reports deleted cannot be decoded; their IDs, if queued, are
 * removed as stale heads by the begin check (SG-IN-024).
 */
static const char autoclaim_lua[] =
    "local max = tonumber(ARGV[6])\n"
    "local r = redis.call('XAUTOCLAIM', stream, group, me, ARGV[3], "
    "ARGV[4], 'COUNT', ARGV[5])\n"
    "local claimed, quarantined = {}, {}\n"
    "local entries = r[2]\n"
    "for i = 1, #entries do\n"
    "  local e = entries[i]\n"
    "  if e and e[2] then\n"
    "    local id = e[1]\n"
    "    local n = redis.call('HINCRBY', hash, id, '1')\n"
    "    if n > max then\n"
    "      dead_letter(e[2], 1, id, 'max_claims_exceeded', '',\n"
    "        'claimed ' .. n .. ' times; SG_MAX_CLAIMS is ' .. max, n)\n"
    "      ack(id, 0)\n"
    "      local c = ARGV[7] ~= '' and order_channel(e[2])\n"
    "      if c then redis.call('LREM', ARGV[7] .. ':' .. c, '1', id) end\n"
    "      quarantined[#quarantined + 1] = id\n"
    "    else\n"
    "      claimed[#claimed + 1] = e\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local deleted = r[3] or {}\n"
    "for i = 1, #deleted do redis.call('HDEL', hash, deleted[i]) end\n"
    "return {r[1], claimed, deleted, quarantined}\n";

/*
 * Joins parts into out (cap bytes). ISO C bounds a string literal at 4095
 * bytes, so the longer scripts are kept in parts and joined here.
 */
static const char *join(char *out, size_t cap, const char *const *parts)
{
    size_t used = 0;

    for (; *parts != NULL; parts++) {
        size_t n = strlen(*parts);

        if (used + n >= cap)
            break;   /* cannot happen: the buffers fit the scripts */
        memcpy(out + used, *parts, n);
        used += n;
    }
    out[used] = '\0';
    return out;
}

void sg__scripts_init(sg__scripts *s)
{
    const char *const step[] = {prelude_lua, order_check_lua, step_lua_begin,
                                step_lua_end, NULL};
    const char *const autoclaim[] = {prelude_lua, order_channel_lua,
                                     autoclaim_lua, NULL};
    const char *const read[] = {order_channel_lua, read_lua, NULL};

    sg_script_init(&s->step, "step",
                   join(s->step_body, sizeof s->step_body, step));
    sg_script_init(&s->renew, "renew", renew_lua);
    sg_script_init(&s->autoclaim, "autoclaim",
                   join(s->autoclaim_body, sizeof s->autoclaim_body,
                        autoclaim));
    sg_script_init(&s->read, "read",
                   join(s->read_body, sizeof s->read_body, read));
    sg_script_init(&s->hand_keep, "hand_keep", hand_keep_lua);
}
