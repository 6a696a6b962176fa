#!/usr/bin/env python3
"""A second implementation of protocol/CAPTURE.md, written from the
document alone (standard library only), to check that sgctl and the
document agree.

    capture_ref.py dump FILE      print each entry as one JSON line, as
                                  `sgctl replay --dry-run --json` does
                                  (index, stream, id, arrival_ms, fields)
    capture_ref.py write FILE     write a capture of a few awkward entries
                                  (binary values, empty names, repeated
                                  names, a 64-bit sequence) and print them
                                  as `dump` would

Exit status 0, or 1 with a message naming the offset and field.
"""

import base64
import json
import struct
import sys
import zlib

MAGIC = b"SGCAPTURE\n"


def fail(offset, field, msg):
    sys.stderr.write(f"capture_ref: offset {offset}: {field}: {msg}\n")
    sys.exit(1)


def value_json(b):
    if b"\x00" not in b:
        try:
            return b.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"$b64": base64.b64encode(b).decode("ascii")}


def read(path):
    data = open(path, "rb").read()
    if data[:10] != MAGIC:
        fail(0, "magic", "not a capture file")
    nl = data.find(b"\n", 10)
    if nl < 0 or nl + 1 - 10 > 65536:
        fail(10, "header", "no newline within 65536 bytes")
    header = json.loads(data[10:nl].decode("utf-8"))
    if header.get("format") != "sg-capture":
        fail(10, "header.format", "not sg-capture")
    if header.get("version") != 1:
        fail(10, "header.version", "unsupported")
    for member, kind in (("source", str), ("start_ms", int)):
        if not isinstance(header.get(member), kind):
            fail(10, "header." + member, "missing")
    at = nl + 1
    entries = []
    ended = False
    while at < len(data):
        start = at
        if ended:
            fail(start, "type", "bytes after the end record")
        if len(data) - at < 9:
            fail(start, "record", "truncated")
        rtype = data[at]
        (length,) = struct.unpack(">I", data[at + 1:at + 5])
        if rtype not in (0x45, 0x5A):
            fail(start, "type", "unknown record type")
        if length > 16777216:
            fail(start, "length", "over the limit")
        if len(data) - at < 9 + length:
            fail(start, "record", "truncated")
        body = data[at + 5:at + 5 + length]
        (crc,) = struct.unpack(">I", data[at + 5 + length:at + 9 + length])
        if zlib.crc32(data[at:at + 5 + length]) != crc:
            fail(start, "crc", "mismatch")
        at += 9 + length
        if rtype == 0x5A:
            if length != 16:
                fail(start, "length", "end record is 16 bytes")
            end_ms, count = struct.unpack(">QQ", body)
            if count != len(entries):
                fail(start, "count", "differs")
            ended = True
            continue
        p = 0
        (arrival,) = struct.unpack(">Q", body[p:p + 8])
        p += 8
        (slen,) = struct.unpack(">H", body[p:p + 2])
        p += 2
        stream = body[p:p + slen]
        p += slen
        idlen = body[p]
        p += 1
        eid = body[p:p + idlen].decode("ascii")
        p += idlen
        (nfields,) = struct.unpack(">I", body[p:p + 4])
        p += 4
        fields = []
        for _ in range(nfields):
            (n,) = struct.unpack(">I", body[p:p + 4])
            name = body[p + 4:p + 4 + n]
            p += 4 + n
            (n,) = struct.unpack(">I", body[p:p + 4])
            value = body[p + 4:p + 4 + n]
            p += 4 + n
            fields.append([value_json(name), value_json(value)])
        if p != len(body):
            fail(start, "body", "bytes after the last field")
        entries.append({"index": len(entries), "stream": value_json(stream),
                        "id": eid, "arrival_ms": arrival, "fields": fields})
    return entries


def record(rtype, body):
    head = bytes([rtype]) + struct.pack(">I", len(body)) + body
    return head + struct.pack(">I", zlib.crc32(head))


def entry(arrival, stream, eid, fields):
    body = struct.pack(">QH", arrival, len(stream)) + stream
    body += bytes([len(eid)]) + eid + struct.pack(">I", len(fields))
    for name, value in fields:
        body += struct.pack(">I", len(name)) + name
        body += struct.pack(">I", len(value)) + value
    return record(0x45, body)


def write(path):
    rows = [
        (1700000000001, b"sg:stream:inbound", b"1700000000000-0",
         [(b"data", b"\x81\xa1a\x01"), (b"ts", b"1.5")]),
        (1700000000002, b"sg:stream:outbound:x", b"1700000000000-1",
         [(b"", b"\x00\xff"), (b"k", b"v"), (b"k", b"w")]),
        (1700000000003, b"sg:stream:inbound", b"1700000000001-18446744073709551615",
         [(b"data", bytes(range(256)))]),
    ]
    header = {"format": "sg-capture", "version": 1,
              "source": "redis://127.0.0.1:6379/0",
              "start_ms": 1700000000000, "future_member": [1, 2]}
    out = MAGIC + json.dumps(header, separators=(",", ":")).encode() + b"\n"
    for row in rows:
        out += entry(*row)
    out += record(0x5A, struct.pack(">QQ", 1700000000004, len(rows)))
    open(path, "wb").write(out)


def main():
    if len(sys.argv) != 3 or sys.argv[1] not in ("dump", "write"):
        sys.stderr.write(__doc__)
        return 2
    if sys.argv[1] == "write":
        write(sys.argv[2])
    for e in read(sys.argv[2]):
        print(json.dumps(e, separators=(",", ":"), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
