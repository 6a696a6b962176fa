#!/usr/bin/env python3
"""Generate the shared codec test vectors of protocol/vectors/.

Usage:
  python3 protocol/vectors/gen.py          regenerate every vector file
  python3 protocol/vectors/gen.py --check  regenerate into a temporary
                                           directory and fail when the
                                           committed files differ

Standard library only. The script holds three things:

  1. a small msgpack encoder that can also write odd encodings on purpose
     (non-shortest integers and headers, float 32, str with raw bytes,
     ordered maps with duplicate or non-str keys, raw byte splices);
  2. a reference decoder that implements the decoding model of README.md
     (framing checks, then the msgpack reading, then the table reading);
  3. the list of vectors. A reject vector states its expected reason and
     path by hand, and the reference decoder must agree, so a slip in either
     one stops the generator. An ok vector's canonical envelope is computed
     by the reference decoder; some also state it by hand as a cross-check.

Vectors are append-only: add new ones at the end with the next number, and
never renumber or reuse a name.
"""

import base64
import binascii
import json
import math
import os
import re
import struct
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SPEC = os.path.join(HERE, "..", "SPEC.md")

DEFAULT_LIMITS = {
    "max_entry_bytes": 4194304,
    "max_text_bytes": 262144,
    "max_string_bytes": 4096,
    "max_binary_bytes": 4194304,
    "max_array_items": 1024,
    "max_map_pairs": 256,
    "max_depth": 16,
    "max_attachments": 32,
    "max_buttons": 25,
}
OVERRIDABLE = ("max_entry_bytes", "max_binary_bytes")
TRACE_ID_MAX = 128
INT64_MAX = 2 ** 63 - 1
INT64_MIN = -(2 ** 63)
INT32_MAX = 2 ** 31 - 1

REASONS = (
    "missing_field", "wrong_type", "unknown_version", "unknown_type",
    "invalid_msgpack", "truncated", "trailing_bytes", "not_map",
    "invalid_utf8", "duplicate_key", "entry_too_large", "string_too_long",
    "binary_too_large", "array_too_long", "map_too_large", "too_deep",
    "out_of_range", "invalid_value",
)
KINDS = ("inbound", "outbound", "tools_request", "tools_reply")


# ---------------------------------------------------------------------------
# 1. msgpack encoder
# ---------------------------------------------------------------------------

class Raw(bytes):
    """Bytes spliced into the output verbatim, where a value or key goes."""


class StrB(bytes):
    """A msgpack str whose content is these raw bytes (may be bad UTF-8)."""


class F32(float):
    """A float written as msgpack float 32."""


class Int:
    """An integer written in a chosen encoding: u8 u16 u32 u64 i8 i16 i32
    i64."""

    FMT = {"u8": (0xcc, ">B"), "u16": (0xcd, ">H"), "u32": (0xce, ">I"),
           "u64": (0xcf, ">Q"), "i8": (0xd0, ">b"), "i16": (0xd1, ">h"),
           "i32": (0xd2, ">i"), "i64": (0xd3, ">q")}

    def __init__(self, value, fmt):
        self.value, self.fmt = value, fmt


class Hdr:
    """A str, bin, array or map written with a chosen (non-shortest)
    header: kind is one of str8 str16 str32 bin8 bin16 bin32 arr16 arr32
    map16 map32."""

    def __init__(self, kind, value):
        self.kind, self.value = kind, value


class M:
    """A map given as ordered pairs; keys may repeat or be of any type."""

    def __init__(self, *pairs):
        self.pairs = list(pairs)


class Ext:
    def __init__(self, code, data):
        self.code, self.data = code, data


def _len_hdr(n, fix_base, fix_max, codes):
    if fix_base is not None and n <= fix_max:
        return bytes([fix_base | n])
    for code, size in codes:
        if n < (1 << (8 * size)):
            return bytes([code]) + n.to_bytes(size, "big")
    raise ValueError("too long")


def _str_hdr(n):
    return _len_hdr(n, 0xa0, 31, ((0xd9, 1), (0xda, 2), (0xdb, 4)))


def _bin_hdr(n):
    return _len_hdr(n, None, 0, ((0xc4, 1), (0xc5, 2), (0xc6, 4)))


def _arr_hdr(n):
    return _len_hdr(n, 0x90, 15, ((0xdc, 2), (0xdd, 4)))


def _map_hdr(n):
    return _len_hdr(n, 0x80, 15, ((0xde, 2), (0xdf, 4)))


def enc(v):
    if isinstance(v, Raw):
        return bytes(v)
    if v is None:
        return b"\xc0"
    if v is True:
        return b"\xc3"
    if v is False:
        return b"\xc2"
    if isinstance(v, Int):
        code, fmt = Int.FMT[v.fmt]
        return bytes([code]) + struct.pack(fmt, v.value)
    if isinstance(v, int):
        if 0 <= v <= 0x7f:
            return bytes([v])
        if -32 <= v < 0:
            return struct.pack(">b", v)
        if v >= 0:
            for code, fmt, top in ((0xcc, ">B", 0xff), (0xcd, ">H", 0xffff),
                                   (0xce, ">I", 0xffffffff),
                                   (0xcf, ">Q", 2 ** 64 - 1)):
                if v <= top:
                    return bytes([code]) + struct.pack(fmt, v)
        for code, fmt, bits in ((0xd0, ">b", 8), (0xd1, ">h", 16),
                                (0xd2, ">i", 32), (0xd3, ">q", 64)):
            if v >= -(1 << (bits - 1)):
                return bytes([code]) + struct.pack(fmt, v)
        raise ValueError("int out of range")
    if isinstance(v, F32):
        return b"\xca" + struct.pack(">f", v)
    if isinstance(v, float):
        return b"\xcb" + struct.pack(">d", v)
    if isinstance(v, StrB):
        return _str_hdr(len(v)) + bytes(v)
    if isinstance(v, (bytes, bytearray)):
        return _bin_hdr(len(v)) + bytes(v)
    if isinstance(v, str):
        b = v.encode("utf-8")
        return _str_hdr(len(b)) + b
    if isinstance(v, list):
        return _arr_hdr(len(v)) + b"".join(enc(x) for x in v)
    if isinstance(v, dict):
        return _map_hdr(len(v)) + b"".join(enc(k) + enc(x)
                                           for k, x in v.items())
    if isinstance(v, M):
        return _map_hdr(len(v.pairs)) + b"".join(enc(k) + enc(x)
                                                 for k, x in v.pairs)
    if isinstance(v, Ext):
        n = len(v.data)
        fixed = {1: 0xd4, 2: 0xd5, 4: 0xd6, 8: 0xd7, 16: 0xd8}
        if n in fixed:
            head = bytes([fixed[n]])
        else:
            head = _len_hdr(n, None, 0, ((0xc7, 1), (0xc8, 2), (0xc9, 4)))
        return head + struct.pack(">b", v.code) + v.data
    if isinstance(v, Hdr):
        kind, val = v.kind, v.value
        if kind.startswith("str"):
            body = val.encode("utf-8")
            code = {"str8": (0xd9, 1), "str16": (0xda, 2),
                    "str32": (0xdb, 4)}[kind]
            n = len(body)
        elif kind.startswith("bin"):
            body = bytes(val)
            code = {"bin8": (0xc4, 1), "bin16": (0xc5, 2),
                    "bin32": (0xc6, 4)}[kind]
            n = len(body)
        elif kind.startswith("arr"):
            body = b"".join(enc(x) for x in val)
            code = {"arr16": (0xdc, 2), "arr32": (0xdd, 4)}[kind]
            n = len(val)
        else:
            items = val.pairs if isinstance(val, M) else list(val.items())
            body = b"".join(enc(k) + enc(x) for k, x in items)
            code = {"map16": (0xde, 2), "map32": (0xdf, 4)}[kind]
            n = len(items)
        return bytes([code[0]]) + n.to_bytes(code[1], "big") + body
    raise TypeError("cannot encode %r" % (v,))


# ---------------------------------------------------------------------------
# 2. reference decoder
# ---------------------------------------------------------------------------

class Reject(Exception):
    def __init__(self, reason, path):
        Exception.__init__(self, reason, path)
        assert reason in REASONS, reason
        self.reason, self.path = reason, path


EXT_BYTES = {0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8}
TS_RE = re.compile(r"[0-9]+(\.[0-9]+)?\Z")


class Reader:
    """Stage 1: the msgpack reading. One front-to-back pass that checks the
    msgpack subset (SG-MP-001 to 004, 011), the depth (SG-LIMIT-005) and
    declared counts against the bytes left (SG-LIMIT-006), and builds a tree
    of (tag, value) nodes."""

    def __init__(self, buf, limits):
        self.buf, self.pos, self.limits = buf, 0, limits

    def need(self, n, path):
        if self.pos + n > len(self.buf):
            raise Reject("truncated", path)

    def take(self, n, path):
        self.need(n, path)
        out = self.buf[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, n, path):
        return int.from_bytes(self.take(n, path), "big")

    def left(self):
        return len(self.buf) - self.pos

    def top(self):
        path = "data"
        self.need(1, path)
        b = self.buf[0]
        if b == 0xc1:
            raise Reject("invalid_msgpack", path)
        if not (0x80 <= b <= 0x8f or b in (0xde, 0xdf)):
            raise Reject("not_map", path)
        node = self.value(path, 1)
        if self.pos != len(self.buf):
            raise Reject("trailing_bytes", path)
        return node

    def value(self, path, depth):
        b = self.take(1, path)[0]
        if b == 0xc1:
            raise Reject("invalid_msgpack", path)
        if b in EXT_BYTES:
            raise Reject("wrong_type", path)
        if b <= 0x7f:
            return ("int", b)
        if b >= 0xe0:
            return ("int", b - 256)
        if b == 0xc0:
            return ("nil", None)
        if b in (0xc2, 0xc3):
            return ("bool", b == 0xc3)
        if 0xcc <= b <= 0xcf:
            return ("int", self.uint(1 << (b - 0xcc), path))
        if 0xd0 <= b <= 0xd3:
            n = 1 << (b - 0xd0)
            return ("int", int.from_bytes(self.take(n, path), "big",
                                          signed=True))
        if b == 0xca:
            return ("float", struct.unpack(">f", self.take(4, path))[0])
        if b == 0xcb:
            return ("float", struct.unpack(">d", self.take(8, path))[0])
        if 0xa0 <= b <= 0xbf or b in (0xd9, 0xda, 0xdb):
            n = b & 0x1f if b <= 0xbf else self.uint(1 << (b - 0xd9), path)
            return self.str_body(n, path)
        if b in (0xc4, 0xc5, 0xc6):
            n = self.uint(1 << (b - 0xc4), path)
            if n > self.left():
                raise Reject("truncated", path)
            return ("bin", self.take(n, path))
        is_map = 0x80 <= b <= 0x8f or b in (0xde, 0xdf)
        if depth > self.limits["max_depth"]:
            raise Reject("too_deep", path)
        if 0x90 <= b <= 0x9f:
            n = b & 0x0f
        elif b in (0xdc, 0xdd):
            n = self.uint(2 if b == 0xdc else 4, path)
        elif 0x80 <= b <= 0x8f:
            n = b & 0x0f
        else:
            n = self.uint(2 if b == 0xde else 4, path)
        if n * (2 if is_map else 1) > self.left():
            raise Reject("truncated", path)
        if not is_map:
            return ("arr", [self.value("%s[%d]" % (path, i), depth + 1)
                            for i in range(n)])
        pairs, seen = [], set()
        for _ in range(n):
            key = self.key(path)
            if key in seen:
                raise Reject("duplicate_key", path + "." + key)
            seen.add(key)
            pairs.append((key, self.value(path + "." + key, depth + 1)))
        return ("map", pairs)

    def str_body(self, n, path):
        if n > self.left():
            raise Reject("truncated", path)
        raw = self.take(n, path)
        try:
            s = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise Reject("invalid_utf8", path)
        return ("str", s, n)

    def key(self, mpath):
        # Every problem of a key is reported at the path of its map.
        b = self.take(1, mpath)[0]
        if b == 0xc1:
            raise Reject("invalid_msgpack", mpath)
        if not (0xa0 <= b <= 0xbf or b in (0xd9, 0xda, 0xdb)):
            raise Reject("wrong_type", mpath)
        n = b & 0x1f if b <= 0xbf else self.uint(1 << (b - 0xd9), mpath)
        return self.str_body(n, mpath)[1]


def b64_strict(s):
    """Standard base64 with padding, canonical (pad bits zero); else None."""
    if len(s) % 4 or not re.fullmatch(r"[A-Za-z0-9+/]*={0,2}", s):
        return None
    try:
        out = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError):
        return None
    if base64.b64encode(out).decode("ascii") != s:
        return None
    return out


def b64(b):
    return base64.b64encode(b).decode("ascii")


ABSENT = object()


class Tables:
    """Stage 2: the table reading, over the tree of stage 1."""

    def __init__(self, limits):
        self.L = limits

    # -- generic walk of any values and unknown keys (SG-ENV-004, MP-012)
    def any(self, node, path, strmax=None):
        L = self.L
        strmax = L["max_string_bytes"] if strmax is None else strmax
        tag = node[0]
        if tag == "nil":
            return None
        if tag == "bool":
            return node[1]
        if tag == "int":
            if node[1] > INT64_MAX:
                raise Reject("out_of_range", path)
            return node[1]
        if tag == "float":
            if not math.isfinite(node[1]):
                raise Reject("out_of_range", path)
            return node[1]
        if tag == "str":
            if node[2] > strmax:
                raise Reject("string_too_long", path)
            return node[1]
        if tag == "bin":
            if len(node[1]) > L["max_binary_bytes"]:
                raise Reject("binary_too_large", path)
            return {"$bin": b64(node[1])}
        if tag == "arr":
            if len(node[1]) > L["max_array_items"]:
                raise Reject("array_too_long", path)
            return [self.any(x, "%s[%d]" % (path, i), strmax)
                    for i, x in enumerate(node[1])]
        assert tag == "map"
        self.map_size(node, path)
        out = {}
        for k, v in node[1]:
            self.key_len(k, path)
            out[k] = self.any(v, path + "." + k, strmax)
        return out

    def map_size(self, node, path):
        if len(node[1]) > self.L["max_map_pairs"]:
            raise Reject("map_too_large", path)

    def key_len(self, k, mpath):
        if len(k.encode("utf-8")) > self.L["max_string_bytes"]:
            raise Reject("string_too_long", mpath)

    # -- typed fields
    def f_str(self, node, path, maxlen, nonempty=False):
        if node[0] != "str":
            raise Reject("wrong_type", path)
        if node[2] > maxlen:
            raise Reject("string_too_long", path)
        if nonempty and node[1] == "":
            raise Reject("invalid_value", path)
        return node[1]

    def t_id(self, required):
        return lambda n, p: self.f_str(n, p, self.L["max_string_bytes"],
                                       required)

    def t_str(self, nonempty=False, maxlen=None):
        return lambda n, p: self.f_str(
            n, p, self.L["max_string_bytes"] if maxlen is None else maxlen,
            nonempty)

    def t_text(self):
        return lambda n, p: self.f_str(n, p, self.L["max_text_bytes"])

    def t_bytes(self):
        def f(node, path):
            if node[0] == "bin":
                data = node[1]
                if len(data) > self.L["max_binary_bytes"]:
                    raise Reject("binary_too_large", path)
            elif node[0] == "str":
                data = b64_strict(node[1])
                if data is None:
                    raise Reject("invalid_value", path)
                if len(data) > self.L["max_binary_bytes"]:
                    raise Reject("binary_too_large", path)
            else:
                raise Reject("wrong_type", path)
            return b64(data)
        return f

    def t_int(self, lo=INT64_MIN, hi=INT64_MAX):
        def f(node, path):
            if node[0] != "int":
                raise Reject("wrong_type", path)
            if not lo <= node[1] <= hi:
                raise Reject("out_of_range", path)
            return node[1]
        return f

    def t_float_nonneg(self):
        def f(node, path):
            if node[0] == "int":
                v = float(node[1])
            elif node[0] == "float":
                v = node[1]
            else:
                raise Reject("wrong_type", path)
            if not math.isfinite(v) or v < 0:
                raise Reject("out_of_range", path)
            return v
        return f

    def t_bool(self):
        def f(node, path):
            if node[0] != "bool":
                raise Reject("wrong_type", path)
            return node[1]
        return f

    def t_map(self, strmax=None):
        def f(node, path):
            if node[0] != "map":
                raise Reject("wrong_type", path)
            return self.any(node, path, strmax)
        return f

    def t_any(self, strmax=None):
        return lambda n, p: self.any(n, p, strmax)

    def t_array(self, elem, bound=None):
        def f(node, path):
            if node[0] != "arr":
                raise Reject("wrong_type", path)
            lim = self.L["max_array_items"]
            if bound is not None:
                lim = min(lim, self.L[bound])
            if len(node[1]) > lim:
                raise Reject("array_too_long", path)
            return [elem(x, "%s[%d]" % (path, i))
                    for i, x in enumerate(node[1])]
        return f

    def t_attachment(self):
        table = [("data", self.t_bytes(), False, ""),
                 ("mimetype", self.t_str(), False, ""),
                 ("filename", self.t_str(), False, ""),
                 ("source_url", self.t_str(), False, "")]

        def f(node, path):
            if node[0] != "map":
                raise Reject("wrong_type", path)
            return self.fields(node, path, table)
        return f

    def t_button(self):
        table = [("label", self.t_str(nonempty=True), True, ABSENT),
                 ("id", self.t_id(False), False, ABSENT),
                 ("url", self.t_str(), False, ABSENT)]

        def f(node, path):
            if node[0] != "map":
                raise Reject("wrong_type", path)
            return self.fields(node, path, table, keep_unknown=True)
        return f

    def fields(self, node, path, table, keep_unknown=False, skip=(),
               alias=None):
        """Check one map against a field table, pairs in reading order, then
        the missing-field check in table order. alias maps a legacy key to
        the field it stands for, used only when that field is absent."""
        self.map_size(node, path)
        spec = {name: (fn, req, dflt) for name, fn, req, dflt in table}
        present = {k for k, v in node[1] if v[0] != "nil"}
        active = {}
        for legacy, new in (alias or {}).items():
            if new not in present and legacy in present:
                active[legacy] = new
        out = {}
        for k, v in node[1]:
            if k in skip:
                continue
            self.key_len(k, path)
            target = active.get(k, k)
            if target in spec and (k == target or k in active):
                if v[0] == "nil":
                    continue
                out[target] = spec[target][0](v, path + "." + k)
            else:
                val = self.any(v, path + "." + k)
                if keep_unknown:
                    out[k] = val
        for name, fn, req, dflt in table:
            if name in out:
                continue
            if req:
                raise Reject("missing_field", path + "." + name)
            if dflt is not ABSENT:
                out[name] = dflt
        return out

    # -- envelopes
    def version(self, root):
        for k, v in root[1]:
            if k == "schema_version" and v[0] != "nil":
                if v[0] != "int":
                    raise Reject("wrong_type", "data.schema_version")
                if v[1] != 1:
                    raise Reject("unknown_version", "data.schema_version")

    def inbound_table(self):
        idr, ido = self.t_id(True), self.t_id(False)
        return [
            ("platform", idr, True, None),
            ("channel_id", idr, True, None),
            ("user_id", ido, False, ""),
            ("username", self.t_str(), False, ""),
            ("content", self.t_text(), False, ""),
            ("is_addressed", self.t_bool(), False, True),
            ("attachments", self.t_array(self.t_attachment(),
                                         "max_attachments"), False, []),
            ("room_name", self.t_str(), False, ""),
            ("timestamp", self.t_float_nonneg(), False, 0.0),
            ("message_id", ido, False, ""),
            ("reply_to", ido, False, ""),
            ("guild_id", ido, False, ABSENT),
            ("guild_name", self.t_str(), False, ""),
            ("is_dm", self.t_bool(), False, False),
            ("member_roles", self.t_array(ido), False, []),
            ("embeds", self.t_any(), False, ABSENT),
            ("member_count", self.t_int(0, INT32_MAX), False, 0),
            ("reactions", self.t_any(), False, ABSENT),
            ("unified_user_id", ido, False, ABSENT),
            ("user_aliases", self.t_array(ido), False, []),
            ("trace_id", self.t_str(maxlen=TRACE_ID_MAX), False, ""),
        ]

    OUT_TYPES = ("message", "file", "buttons", "typing", "start_typing",
                 "stop_typing", "reaction", "presence", "rpc_request")

    def outbound_table(self, typ):
        idr, ido = self.t_id(True), self.t_id(False)
        trace = ("trace_id", self.t_str(maxlen=TRACE_ID_MAX), False, "")
        mkey = ("message_key", ido, False, ABSENT)
        chan = ("channel_id", idr, True, None)
        if typ == "presence":
            return [mkey, trace,
                    ("text", self.t_str(), False, ""),
                    ("emoji", self.t_str(), False, ABSENT)]
        if typ == "rpc_request":
            return [("channel_id", ido, False, ABSENT), mkey, trace,
                    ("rpc_method", idr, True, None),
                    ("rpc_args", self.t_map(), False, {}),
                    ("reply_key", idr, True, None)]
        common = [chan, mkey, trace]
        if typ == "message":
            return common + [("text", self.t_text(), True, None),
                             ("reply_to", ido, False, ABSENT)]
        if typ == "file":
            return common + [
                ("file_data", self.t_bytes(), True, None),
                ("filename", self.t_str(), False, "file"),
                ("mimetype", self.t_str(), False,
                 "application/octet-stream"),
                ("text", self.t_text(), False, "")]
        if typ == "buttons":
            return common + [
                ("text", self.t_text(), True, None),
                ("buttons", self.t_buttons(), True, None)]
        if typ == "reaction":
            return common + [("message_id", idr, True, None),
                             ("emoji", self.t_str(nonempty=True), True,
                              None)]
        return common  # typing, start_typing, stop_typing

    def t_buttons(self):
        arr = self.t_array(self.t_button(), "max_buttons")

        def f(node, path):
            out = arr(node, path)
            if not out:
                raise Reject("invalid_value", path)
            return out
        return f

    def tools_request_table(self):
        idr = self.t_id(True)
        return [
            ("request_id", idr, True, None),
            ("tool_name", idr, True, None),
            ("tool_args", self.t_map(), False, {}),
            ("tool_ctx", self.t_map(), False, {}),
            ("reply_stream", idr, True, None),
            ("deadline_ms", self.t_int(), False, 0),
        ]

    def tools_reply_table(self):
        return [
            ("request_id", self.t_id(True), True, None),
            ("ok", self.t_bool(), True, None),
            ("result", self.t_any(self.L["max_text_bytes"]), False, ABSENT),
            ("error", self.t_text(), False, ""),
            ("media", self.t_array(self.t_attachment()), False, []),
        ]

    def envelope(self, root, kind):
        self.map_size(root, "data")
        self.version(root)
        skip = ("schema_version",)
        alias = None
        out = {"schema_version": 1}
        if kind == "inbound":
            table = self.inbound_table()
        elif kind == "tools_request":
            table = self.tools_request_table()
        elif kind == "tools_reply":
            table = self.tools_reply_table()
        else:
            typ = "message"
            for k, v in root[1]:
                if k == "type" and v[0] != "nil":
                    typ = self.f_str(v, "data.type",
                                     self.L["max_string_bytes"])
                    if typ not in self.OUT_TYPES:
                        raise Reject("unknown_type", "data.type")
            out["type"] = typ
            skip = ("schema_version", "type")
            table = self.outbound_table(typ)
            if typ == "rpc_request":
                alias = {"action": "rpc_method", "kwargs": "rpc_args"}
        out.update(self.fields(root, "data", table, skip=skip, alias=alias))
        return out


def decode(data, fields, limits, kind):
    """Return ("ok", envelope) or ("reject", reason, path)."""
    try:
        if data is None:
            raise Reject("missing_field", "data")
        if len(data) > limits["max_entry_bytes"]:
            raise Reject("entry_too_large", "data")
        ts = fields.get("ts", "")
        if ts != "" and not TS_RE.match(ts):
            raise Reject("invalid_value", "ts")
        if len(fields.get("trace_id", "").encode("utf-8")) > TRACE_ID_MAX:
            raise Reject("string_too_long", "trace_id")
        root = Reader(data, limits).top()
        return ("ok", Tables(limits).envelope(root, kind))
    except Reject as r:
        return ("reject", r.reason, r.path)


# ---------------------------------------------------------------------------
# 3. the vectors
# ---------------------------------------------------------------------------

NO_DATA = object()
VECTORS = []


def vec(name, kind, description, requirements, data, fields=None,
        limits=None, reject=None, envelope=None):
    """data: bytes (used as they are), NO_DATA, or a value to encode."""
    if data is NO_DATA:
        raw = None
    elif isinstance(data, (bytes, bytearray)) and not isinstance(data, StrB):
        raw = bytes(data)
    else:
        raw = enc(data)
    VECTORS.append(dict(name=name, kind=kind, description=description,
                        requirements=list(requirements), data=raw,
                        fields=fields or {}, limits=limits or {},
                        reject=reject, envelope=envelope))


def utf8_len(n, ch="a"):
    """A string of exactly n UTF-8 bytes built from ch (n must divide)."""
    w = len(ch.encode("utf-8"))
    assert n % w == 0
    return ch * (n // w)


def inb(**kw):
    """An inbound envelope: platform and channel_id, then the rest."""
    d = {"platform": "discord", "channel_id": "c1"}
    d.update(kw)
    return d


def nested_arrays(levels, leaf):
    v = leaf
    for _ in range(levels):
        v = [v]
    return v


def nested_maps(levels, leaf):
    v = leaf
    for _ in range(levels):
        v = {"a": v}
    return v


GRAPHEMES = "\U0001F600\U0001F680\U00010348"   # 4-byte UTF-8 characters
MINIMAL_INBOUND_ENVELOPE = {
    "schema_version": 1, "platform": "discord", "channel_id": "c1",
    "user_id": "", "username": "", "content": "", "is_addressed": True,
    "attachments": [], "room_name": "", "timestamp": 0.0, "message_id": "",
    "reply_to": "", "guild_name": "", "is_dm": False, "member_roles": [],
    "member_count": 0, "user_aliases": [], "trace_id": "",
}


def define():
    S = DEFAULT_LIMITS["max_string_bytes"]
    T = DEFAULT_LIMITS["max_text_bytes"]
    IN, OUT, TQ, TR = "inbound", "outbound", "tools_request", "tools_reply"
    INV = ["SG-INENV-001", "SG-ENV-001"]
    OUTV = ["SG-OUTENV-001", "SG-ENV-001"]

    # ---- inbound, valid ---------------------------------------------------
    vec("001-inbound-minimal", IN,
        "Inbound envelope with only the required fields; every default "
        "applies.",
        ["SG-INENV-001", "SG-INENV-002", "SG-ENV-003", "SG-FRAME-005"],
        {"platform": "discord", "channel_id": "c1"},
        envelope=MINIMAL_INBOUND_ENVELOPE)
    vec("002-inbound-typical", IN,
        "A usual gateway message with ts and trace_id entry fields.",
        ["SG-INENV-001", "SG-FRAME-002", "SG-FRAME-005"],
        {"platform": "discord", "channel_id": "1234567890",
         "user_id": "42", "username": "alice", "content": "hello bot",
         "is_addressed": True, "attachments": [], "room_name": "general",
         "timestamp": 1732350000.25, "message_id": "998877",
         "reply_to": "", "guild_id": "555", "guild_name": "Stargazers",
         "is_dm": False, "member_roles": ["admin", "mod"],
         "member_count": 57, "trace_id": "0123456789abcdef0123456789abcdef"},
        fields={"ts": "1732350000.123",
                "trace_id": "0123456789abcdef0123456789abcdef"},
        envelope=dict(MINIMAL_INBOUND_ENVELOPE, channel_id="1234567890",
                      user_id="42", username="alice", content="hello bot",
                      room_name="general", timestamp=1732350000.25,
                      message_id="998877", guild_id="555",
                      guild_name="Stargazers", member_roles=["admin", "mod"],
                      member_count=57,
                      trace_id="0123456789abcdef0123456789abcdef"))
    att = [{"data": b"\x89PNG\r\n\x1a\n\x00\xff", "mimetype": "image/png",
            "filename": "a.png", "source_url": "https://cdn.example/a.png"},
           {"data": "aGVsbG8=", "mimetype": "text/plain",
            "filename": "hello.txt", "source_url": ""}]
    vec("003-inbound-maximal", IN,
        "Every optional inbound field set, str and id fields at exactly "
        "max_string_bytes (4-byte UTF-8 included), trace_id at 128 bytes.",
        ["SG-INENV-001", "SG-INENV-003", "SG-LIMIT-002", "SG-ENV-003",
         "SG-MP-006", "SG-MP-012"],
        {"schema_version": 1, "platform": utf8_len(S, "p"),
         "channel_id": utf8_len(S, "c"), "user_id": utf8_len(S, "u"),
         "username": utf8_len(S, GRAPHEMES[0]),
         "content": "maximal " + GRAPHEMES, "is_addressed": False,
         "attachments": att, "room_name": utf8_len(S, "r"),
         "timestamp": 1732350000.5, "message_id": utf8_len(S, "m"),
         "reply_to": utf8_len(S, "t"), "guild_id": utf8_len(S, "g"),
         "guild_name": utf8_len(S, "\u00e9"), "is_dm": True,
         "member_roles": ["r1", utf8_len(S, "x"), ""],
         "embeds": [{"title": "t", "fields": [{"name": "n", "value": "v"}],
                     "color": 16711680, "inline": True, "ratio": 0.5,
                     "thumb": b"\x00\x01", "none": None}],
         "member_count": INT32_MAX,
         "reactions": [{"emoji": "\U0001F44D", "count": 3, "me": False}],
         "unified_user_id": utf8_len(S, "U"),
         "user_aliases": ["discord:42", "matrix:@a:example.org"],
         "trace_id": utf8_len(128, "f")},
        fields={"ts": "1732350000.5", "trace_id": utf8_len(128, "f")})
    vec("004-inbound-content-at-text-limit", IN,
        "content of exactly max_text_bytes (262144 bytes of 4-byte UTF-8) "
        "is accepted.",
        ["SG-LIMIT-002", "SG-INENV-001"],
        inb(content=utf8_len(T, GRAPHEMES[1])))
    vec("005-inbound-attachments-at-limit", IN,
        "Exactly max_attachments (32) attachments are accepted.",
        ["SG-LIMIT-004", "SG-INENV-001"],
        inb(attachments=[{"data": bytes([i]), "filename": "f%d" % i}
                         for i in range(32)]))
    vec("006-inbound-member-roles-at-limit", IN,
        "member_roles with exactly max_array_items (1024) ids is accepted.",
        ["SG-LIMIT-004", "SG-INENV-001"],
        inb(member_roles=["%d" % i for i in range(1024)]))
    vec("007-inbound-embeds-depth-16", IN,
        "embeds nested to exactly max_depth: the envelope map is depth 1, "
        "the innermost of 15 nested arrays is depth 16 and holds a scalar.",
        ["SG-LIMIT-005", "SG-MP-012"],
        inb(embeds=nested_arrays(15, 7)))
    vec("008-inbound-embeds-map-256-pairs", IN,
        "A map of exactly max_map_pairs (256) pairs inside embeds is "
        "accepted.",
        ["SG-LIMIT-004", "SG-MP-012"],
        inb(embeds={"k%03d" % i: i for i in range(256)}))
    for i, fmt in enumerate(("u8", "u16", "u32", "u64", "i8", "i16", "i32",
                             "i64")):
        width = fmt[1:]
        sign = "uint" if fmt[0] == "u" else "int"
        vec("%03d-inbound-member-count-%s%s" % (9 + i, sign, width), IN,
            "member_count 100 in the non-shortest %s %s encoding is "
            "accepted." % (sign, width),
            ["SG-MP-007"],
            inb(member_count=Int(100, fmt)))
    vec("017-inbound-member-count-max", IN,
        "member_count 2^31-1, the top of its range, in int 64 encoding.",
        ["SG-MP-007", "SG-INENV-001"],
        inb(member_count=Int(INT32_MAX, "i64")))
    vec("018-inbound-timestamp-float32", IN,
        "timestamp as float 32 is accepted and widened exactly.",
        ["SG-MP-008"],
        inb(timestamp=F32(1732349952.0)))
    vec("019-inbound-timestamp-integer", IN,
        "timestamp as an integer (uint 32) is accepted as a float.",
        ["SG-MP-008"],
        inb(timestamp=1732350000))
    vec("020-inbound-nil-optional-fields", IN,
        "nil in every optional field means absent: the defaults apply.",
        ["SG-MP-010", "SG-INENV-002"],
        {"platform": "discord", "channel_id": "c1", "user_id": None,
         "username": None, "content": None, "is_addressed": None,
         "attachments": None, "room_name": None, "timestamp": None,
         "message_id": None, "reply_to": None, "guild_id": None,
         "guild_name": None, "is_dm": None, "member_roles": None,
         "embeds": None, "member_count": None, "reactions": None,
         "unified_user_id": None, "user_aliases": None, "trace_id": None,
         "schema_version": None},
        envelope=MINIMAL_INBOUND_ENVELOPE)
    vec("021-inbound-attachment-bin-and-base64", IN,
        "Attachment data as bin and as base64 str decode to the same bytes; "
        "an empty attachment map takes all defaults.",
        ["SG-MP-006", "SG-INENV-005", "SG-INENV-003"],
        inb(attachments=[{"data": b"hello", "mimetype": "text/plain"},
                         {"data": "aGVsbG8=", "mimetype": "text/plain"},
                         {"data": "", "filename": "empty"}, {}]))
    vec("022-inbound-schema-version-1", IN,
        "schema_version written explicitly as 1 (and as uint 8) is "
        "accepted.",
        ["SG-ENV-003"],
        M(("schema_version", Int(1, "u8")), ("platform", "discord"),
          ("channel_id", "c1")))
    vec("023-inbound-unknown-keys", IN,
        "Unknown keys at the top level, nested, and inside an attachment "
        "are ignored and absent from the decoded envelope.",
        ["SG-ENV-004", "SG-FRAME-003"],
        {"platform": "discord", "x_future": {"a": [1, {"b": None}],
                                             "c": b"\x00"},
         "channel_id": "c1", "type": "message", "x_n": -5,
         "attachments": [{"data": b"x", "x_extra": {"deep": [True]}}],
         utf8_len(S, "k"): "key of exactly max_string_bytes"},
        fields={"ts": "1732350000", "x_entry_field": "ignored"})
    vec("024-inbound-unicode", IN,
        "Text with 4-byte UTF-8, combining marks, RTL and CJK is carried "
        "unchanged.",
        ["SG-MP-004", "SG-INENV-001"],
        inb(username="\u00e9\u0301l\u00e8ne \u4e2d\u6587",
            content="hi " + GRAPHEMES + " \u05e9\u05dc\u05d5\u05dd "
                    "\u0915\u094d\u0937 \U0010FFFF end",
            room_name="\u2603"))
    vec("025-inbound-content-with-nul", IN,
        "A NUL character inside content is valid UTF-8 and is kept.",
        ["SG-MP-004", "SG-INENV-001"],
        inb(content="a\x00b"))
    vec("026-inbound-non-shortest-headers", IN,
        "str 8/16/32, bin 32, array 16 and map 16 headers for short values "
        "are accepted.",
        ["SG-MP-001", "SG-MP-006"],
        Hdr("map16", M((Hdr("str8", "platform"), Hdr("str16", "discord")),
                       ("channel_id", Hdr("str32", "c1")),
                       ("member_roles", Hdr("arr16", ["a"])),
                       ("attachments", Hdr("arr32", [
                           Hdr("map32", {"data": Hdr("bin32", b"z")})])))))
    vec("027-inbound-any-values", IN,
        "embeds holding every any type: nil, bools, ints of every width "
        "and sign, float 32 and 64, str, bin, array and map.",
        ["SG-MP-012", "SG-MP-007", "SG-MP-008"],
        inb(embeds=[None, True, False, 0, 127, -1, -32, -33, Int(-128, "i8"),
                    -129, -32768, -32769, -2147483648, -2147483649,
                    INT64_MIN, 255, 65535, 4294967295, 4294967296,
                    INT64_MAX, F32(1.5), 2.0, -0.25, 1e300, "s", b"\x01\x02",
                    [], {}, {"k": [1, "x"]}],
            reactions={"\U0001F44D": 2, "nested": {"a": None}}))
    vec("028-inbound-entry-at-limit", IN,
        "A data field of exactly max_entry_bytes (overridden to 64) is "
        "accepted.",
        ["SG-LIMIT-001"],
        inb(content=utf8_len(64 - len(enc(inb(content=""))))),
        limits={"max_entry_bytes": 64})
    vec("029-inbound-binary-at-limit", IN,
        "Attachment data of exactly max_binary_bytes (overridden to 16), "
        "as bin and as base64, is accepted.",
        ["SG-LIMIT-003", "SG-MP-006"],
        inb(attachments=[{"data": b"\xaa" * 16},
                         {"data": b64(b"\xbb" * 16)}]),
        limits={"max_binary_bytes": 16})
    vec("030-inbound-entry-fields", IN,
        "Empty ts, a ts without fraction, a trace_id of exactly 128 bytes "
        "and an unknown entry field are accepted.",
        ["SG-FRAME-003", "SG-FRAME-005", "SG-FRAME-006", "SG-FRAME-007"],
        inb(), fields={"ts": "0", "trace_id": utf8_len(128, "\u00e9"),
                       "origin": "elsewhere"})
    vec("031-inbound-empty-ts", IN,
        "An empty ts field is accepted.",
        ["SG-FRAME-005"], inb(), fields={"ts": "", "trace_id": ""})
    vec("032-inbound-is-addressed-false", IN,
        "is_addressed false (a passive message) decodes as false.",
        ["SG-INENV-002"], inb(is_addressed=False))

    # ---- outbound, valid ---------------------------------------------------
    vec("033-outbound-message-minimal", OUT,
        "A message without type: type is message, text may be empty.",
        ["SG-OUTENV-001", "SG-OUTENV-002"],
        {"channel_id": "c1", "text": ""},
        envelope={"schema_version": 1, "type": "message",
                  "channel_id": "c1", "text": "", "trace_id": ""})
    vec("034-outbound-message-maximal", OUT,
        "A message with every field, ids at max_string_bytes and a 128-byte "
        "trace_id.",
        ["SG-OUTENV-001", "SG-OUTENV-006", "SG-LIMIT-002", "SG-ENV-003"],
        {"schema_version": 1, "type": "message",
         "channel_id": utf8_len(S, "c"), "text": "reply " + GRAPHEMES,
         "reply_to": utf8_len(S, "r"), "message_key": utf8_len(S, "k"),
         "trace_id": utf8_len(128, "0")},
        fields={"ts": "1732350000.5", "trace_id": utf8_len(128, "0")})
    vec("035-outbound-file-minimal", OUT,
        "A file with bin file_data; filename and mimetype take defaults.",
        ["SG-OUTENV-001", "SG-MP-006"],
        {"type": "file", "channel_id": "c1", "file_data": b"\x00\x01\x02"},
        envelope={"schema_version": 1, "type": "file", "channel_id": "c1",
                  "file_data": "AAEC", "filename": "file",
                  "mimetype": "application/octet-stream", "text": "",
                  "trace_id": ""})
    vec("036-outbound-file-maximal", OUT,
        "A file with base64 str file_data and every optional field.",
        ["SG-OUTENV-001", "SG-MP-006", "SG-OUTENV-006"],
        {"schema_version": 1, "type": "file", "channel_id": "c1",
         "file_data": b64(b"%PDF-1.7"),
         "filename": utf8_len(S, "n"), "mimetype": "application/pdf",
         "text": "caption", "message_key": "mk:1", "trace_id": "t"})
    vec("037-outbound-buttons-minimal", OUT,
        "buttons with one button holding only a label.",
        ["SG-OUTENV-001"],
        {"type": "buttons", "channel_id": "c1", "text": "pick",
         "buttons": [{"label": "A"}]},
        envelope={"schema_version": 1, "type": "buttons",
                  "channel_id": "c1", "text": "pick",
                  "buttons": [{"label": "A"}], "trace_id": ""})
    vec("038-outbound-buttons-at-limit", OUT,
        "Exactly max_buttons (25) buttons with id, url and adapter keys, "
        "which are carried.",
        ["SG-OUTENV-001", "SG-LIMIT-004", "SG-OUTENV-006"],
        {"schema_version": 1, "type": "buttons", "channel_id": "c1",
         "text": "", "message_key": "mk", "trace_id": utf8_len(128, "b"),
         "buttons": [{"label": "b%d" % i, "id": "id%d" % i,
                      "url": "https://example.org/%d" % i,
                      "style": i % 4, "x": None}
                     for i in range(25)]})
    for n, t in ((39, "typing"), (40, "start_typing"), (41, "stop_typing")):
        vec("%03d-outbound-%s" % (n, t.replace("_", "-")), OUT,
            "A %s envelope needs only channel_id; typing stays typing." % t,
            ["SG-OUTENV-001"], {"type": t, "channel_id": "c1"},
            envelope={"schema_version": 1, "type": t, "channel_id": "c1",
                      "trace_id": ""})
    vec("042-outbound-reaction", OUT,
        "A reaction with a 4-byte UTF-8 emoji.",
        ["SG-OUTENV-001"],
        {"type": "reaction", "channel_id": "c1", "message_id": "m1",
         "emoji": "\U0001F44D"})
    vec("043-outbound-presence-minimal", OUT,
        "A presence envelope needs no channel_id.",
        ["SG-OUTENV-001", "SG-OUTENV-005"], {"type": "presence"},
        envelope={"schema_version": 1, "type": "presence", "text": "",
                  "trace_id": ""})
    vec("044-outbound-presence-channel-ignored", OUT,
        "channel_id on presence is ignored, even of a wrong type; text and "
        "emoji are kept.",
        ["SG-OUTENV-005", "SG-ENV-004"],
        {"type": "presence", "channel_id": 12, "text": utf8_len(S, "s"),
         "emoji": "\u2728", "message_key": "mk", "trace_id": "t"})
    vec("045-outbound-rpc-fetch-channel-history", OUT,
        "rpc_request for fetch_channel_history with a limit argument.",
        ["SG-RPC-001", "SG-OUTENV-001"],
        {"type": "rpc_request", "rpc_method": "fetch_channel_history",
         "rpc_args": {"limit": 10}, "reply_key": "sg:rpc:reply:u1",
         "channel_id": "c1"},
        envelope={"schema_version": 1, "type": "rpc_request",
                  "rpc_method": "fetch_channel_history",
                  "rpc_args": {"limit": 10},
                  "reply_key": "sg:rpc:reply:u1", "channel_id": "c1",
                  "trace_id": ""})
    vec("046-outbound-rpc-should-skip-heartbeat", OUT,
        "rpc_request for should_skip_channel_heartbeat without arguments.",
        ["SG-RPC-001"],
        {"type": "rpc_request", "rpc_method": "should_skip_channel_heartbeat",
         "reply_key": "sg:rpc:reply:u2", "channel_id": "c1"})
    vec("047-outbound-rpc-execute-tool", OUT,
        "rpc_request for execute_tool with nested tool_args and tool_ctx.",
        ["SG-RPC-001", "SG-MP-012"],
        {"type": "rpc_request", "rpc_method": "execute_tool",
         "rpc_args": {"tool_name": "search",
                      "tool_args": {"q": "x", "n": 3, "opts": [1.5, None]},
                      "tool_ctx": {"platform": "discord", "channel_id": "c1",
                                   "user_id": "42", "user_name": "alice",
                                   "guild_id": "g", "message_id": "m"}},
         "reply_key": "sg:rpc:reply:u3", "trace_id": "abc"})
    vec("048-outbound-rpc-delete-webhook", OUT,
        "rpc_request for delete_egregore_webhook.",
        ["SG-RPC-001"],
        {"type": "rpc_request", "rpc_method": "delete_egregore_webhook",
         "rpc_args": {"guild_id": "g1", "webhook_id": "w1"},
         "reply_key": "sg:rpc:reply:u4"})
    vec("049-outbound-rpc-unknown-method", OUT,
        "An unknown rpc_method is valid for the codec (the gateway answers "
        "with an error).",
        ["SG-RPC-001", "SG-RPC-004"],
        {"type": "rpc_request", "rpc_method": "frobnicate",
         "reply_key": "sg:rpc:reply:u5"},
        envelope={"schema_version": 1, "type": "rpc_request",
                  "rpc_method": "frobnicate", "rpc_args": {},
                  "reply_key": "sg:rpc:reply:u5", "trace_id": ""})
    vec("050-outbound-rpc-legacy-aliases", OUT,
        "Legacy action and kwargs decode as rpc_method and rpc_args.",
        ["SG-RPC-001"],
        {"type": "rpc_request", "action": "fetch_channel_history",
         "kwargs": {"limit": 5}, "reply_key": "sg:rpc:reply:u6"},
        envelope={"schema_version": 1, "type": "rpc_request",
                  "rpc_method": "fetch_channel_history",
                  "rpc_args": {"limit": 5},
                  "reply_key": "sg:rpc:reply:u6", "trace_id": ""})
    vec("051-outbound-rpc-new-names-win", OUT,
        "When rpc_method and action are both present, rpc_method is used "
        "and action is ignored (even of a wrong type).",
        ["SG-RPC-001", "SG-ENV-004"],
        {"type": "rpc_request", "action": 5, "rpc_method": "execute_tool",
         "kwargs": "ignored", "rpc_args": {"tool_name": "t"},
         "reply_key": "k"},
        envelope={"schema_version": 1, "type": "rpc_request",
                  "rpc_method": "execute_tool",
                  "rpc_args": {"tool_name": "t"}, "reply_key": "k",
                  "trace_id": ""})
    vec("052-outbound-rpc-limit-not-checked", OUT,
        "A fetch_channel_history limit outside 1..100 is not a codec "
        "matter.",
        ["SG-RPC-001"],
        {"type": "rpc_request", "rpc_method": "fetch_channel_history",
         "rpc_args": {"limit": 500}, "reply_key": "k"})
    vec("053-outbound-type-after-fields", OUT,
        "type after the other fields; keys of other types' tables are "
        "unknown to message and ignored.",
        ["SG-OUTENV-001", "SG-ENV-004", "SG-ENV-002"],
        M(("channel_id", "c1"), ("text", "hi"), ("file_data", 5),
          ("buttons", "x"), ("type", "message")),
        envelope={"schema_version": 1, "type": "message",
                  "channel_id": "c1", "text": "hi", "trace_id": ""})
    vec("054-outbound-type-nil", OUT,
        "type nil means absent, so message.",
        ["SG-MP-010", "SG-OUTENV-002"],
        {"type": None, "channel_id": "c1", "text": "t"})

    # ---- tools, valid ------------------------------------------------------
    vec("055-tools-request-minimal", TQ,
        "A tools request with only the required fields.",
        ["SG-TOOLS-001"],
        {"request_id": "r1", "tool_name": "search",
         "reply_stream": "sg:tools:reply:worker-1a2b3c4d"},
        envelope={"schema_version": 1, "request_id": "r1",
                  "tool_name": "search", "tool_args": {}, "tool_ctx": {},
                  "reply_stream": "sg:tools:reply:worker-1a2b3c4d",
                  "deadline_ms": 0})
    vec("056-tools-request-maximal", TQ,
        "A tools request with every field; deadline_ms as uint 64.",
        ["SG-TOOLS-001", "SG-MP-007", "SG-MP-012"],
        {"schema_version": 1, "request_id": utf8_len(S, "r"),
         "tool_name": "search",
         "tool_args": {"q": "stars", "limit": 3, "deep": {"x": [None]}},
         "tool_ctx": {"platform": "discord", "channel_id": "c1",
                      "user_id": "42", "user_name": "alice", "guild_id": "g",
                      "message_id": "m"},
         "reply_stream": "sg:tools:reply:worker-1a2b3c4d",
         "deadline_ms": Int(1732350030000, "u64")})
    vec("057-tools-reply-ok", TR,
        "An ok tools reply with a structured result.",
        ["SG-TOOLS-001", "SG-MP-012"],
        {"request_id": "r1", "ok": True,
         "result": {"hits": [{"title": "a", "score": 0.5}], "n": 1}},
        envelope={"schema_version": 1, "request_id": "r1", "ok": True,
                  "result": {"hits": [{"title": "a", "score": 0.5}], "n": 1},
                  "error": "", "media": []})
    vec("058-tools-reply-minimal", TR,
        "A tools reply with only request_id and ok; result nil is absent.",
        ["SG-TOOLS-001", "SG-MP-010"],
        {"request_id": "r1", "ok": True, "result": None},
        envelope={"schema_version": 1, "request_id": "r1", "ok": True,
                  "error": "", "media": []})
    vec("059-tools-reply-error-with-media", TR,
        "A failed tools reply with an error text and media as bin and "
        "base64.",
        ["SG-TOOLS-001", "SG-MP-006"],
        {"request_id": "r2", "ok": False, "error": "rate limited",
         "media": [{"data": b"GIF89a", "mimetype": "image/gif",
                    "filename": "x.gif"},
                   {"data": b64(b"%PDF"), "mimetype": "application/pdf",
                    "filename": "y.pdf", "source_url": "https://x.example"}]})
    vec("060-tools-reply-long-str-result", TR,
        "A str result (and a str inside result) longer than "
        "max_string_bytes is bound by max_text_bytes; error likewise.",
        ["SG-LIMIT-002", "SG-TOOLS-001"],
        {"request_id": "r3", "ok": True, "result": utf8_len(5000, "r"),
         "error": utf8_len(5000, "e")})
    vec("061-tools-reply-nested-result-text", TR,
        "A str nested in result is bound by max_text_bytes too.",
        ["SG-LIMIT-002"],
        {"request_id": "r4", "ok": True,
         "result": {"pages": [utf8_len(8192, "p")]}})

    # ---- framing rejects ---------------------------------------------------
    vec("062-reject-data-absent", IN,
        "An entry without a data field.",
        ["SG-FRAME-004", "SG-ENV-001"], NO_DATA,
        fields={"ts": "1732350000"}, reject=("missing_field", "data"))
    vec("063-reject-entry-too-large", IN,
        "A data field one byte over max_entry_bytes (overridden to 64).",
        ["SG-LIMIT-001", "SG-LIMIT-007", "SG-ENV-001"],
        inb(content=utf8_len(65 - len(enc(inb(content=""))))),
        limits={"max_entry_bytes": 64},
        reject=("entry_too_large", "data"))
    vec("064-reject-ts-not-a-number", IN,
        "A ts entry field of \"abc\".",
        ["SG-FRAME-006", "SG-ENV-001"], inb(), fields={"ts": "abc"},
        reject=("invalid_value", "ts"))
    vec("065-reject-ts-negative", IN,
        "A negative ts entry field.",
        ["SG-FRAME-006", "SG-ENV-001"], inb(), fields={"ts": "-1"},
        reject=("invalid_value", "ts"))
    vec("066-reject-ts-exponent", IN,
        "A ts with an exponent is not ASCII decimal seconds.",
        ["SG-FRAME-006", "SG-ENV-001"], inb(), fields={"ts": "1e9"},
        reject=("invalid_value", "ts"))
    vec("067-reject-ts-bare-point", IN,
        "A ts with a point and no fraction digits.",
        ["SG-FRAME-006", "SG-ENV-001"], inb(), fields={"ts": "1732350000."},
        reject=("invalid_value", "ts"))
    vec("068-reject-ts-space", IN,
        "A ts with a leading space.",
        ["SG-FRAME-006", "SG-ENV-001"], inb(), fields={"ts": " 1"},
        reject=("invalid_value", "ts"))
    vec("069-reject-trace-id-entry-too-long", IN,
        "A trace_id entry field of 129 bytes.",
        ["SG-FRAME-007", "SG-ENV-001"], inb(),
        fields={"trace_id": utf8_len(129)},
        reject=("string_too_long", "trace_id"))

    # ---- msgpack layer rejects ---------------------------------------------
    good = enc(inb(content="hello"))
    vec("070-reject-data-empty", IN,
        "An empty data field holds no msgpack value.",
        ["SG-MP-001", "SG-ENV-001"], b"", reject=("truncated", "data"))
    vec("071-reject-invalid-byte-top", IN,
        "data starting with the never-used byte 0xc1.",
        ["SG-MP-001", "SG-ENV-001"], b"\xc1" + good[1:],
        reject=("invalid_msgpack", "data"))
    vec("072-reject-invalid-byte-in-field", IN,
        "0xc1 where the value of content should start.",
        ["SG-MP-001", "SG-ENV-001"],
        M(("platform", "discord"), ("channel_id", "c1"),
          ("content", Raw(b"\xc1"))),
        reject=("invalid_msgpack", "data.content"))
    vec("073-reject-truncated-in-string", IN,
        "The entry is cut inside the content string.",
        ["SG-MP-001", "SG-ENV-001"], good[:-3],
        reject=("truncated", "data.content"))
    vec("074-reject-truncated-missing-pair", IN,
        "The map declares 3 pairs and the bytes end after 2.",
        ["SG-MP-001", "SG-ENV-001"],
        b"\x83" + enc("platform") + enc("discord") + enc("channel_id") +
        enc("c1"),
        reject=("truncated", "data"))
    vec("075-reject-huge-array-count", IN,
        "An embeds array header announcing 2^32-1 elements with 3 bytes "
        "left.",
        ["SG-LIMIT-006", "SG-MP-001", "SG-ENV-001"],
        M(("platform", "discord"), ("channel_id", "c1"),
          ("embeds", Raw(b"\xdd\xff\xff\xff\xff\x01\x02\x03"))),
        reject=("truncated", "data.embeds"))
    vec("076-reject-huge-map-count", IN,
        "A top-level map header announcing 2^32-1 pairs.",
        ["SG-LIMIT-006", "SG-MP-001", "SG-ENV-001"],
        b"\xdf\xff\xff\xff\xff" + good[1:],
        reject=("truncated", "data"))
    vec("077-reject-trailing-bytes", IN,
        "One byte after a valid envelope map.",
        ["SG-MP-001", "SG-ENV-001"], good + b"\x00",
        reject=("trailing_bytes", "data"))
    vec("078-reject-trailing-second-map", IN,
        "Two envelope maps in one data field.",
        ["SG-MP-001", "SG-FRAME-001", "SG-ENV-001"], good + good,
        reject=("trailing_bytes", "data"))
    vec("079-reject-not-map-array", IN,
        "A top-level array.",
        ["SG-MP-001", "SG-ENV-001"], ["discord", "c1"],
        reject=("not_map", "data"))
    vec("080-reject-not-map-int", IN,
        "A top-level integer.",
        ["SG-MP-001", "SG-ENV-001"], 5, reject=("not_map", "data"))
    vec("081-reject-not-map-bin", IN,
        "The envelope wrapped in a bin (double encoding).",
        ["SG-MP-001", "SG-ENV-001"], enc(good),
        reject=("not_map", "data"))
    vec("082-reject-int-key", IN,
        "An integer key in the envelope map.",
        ["SG-MP-002", "SG-ENV-001"],
        M(("platform", "discord"), ("channel_id", "c1"), (1, "x")),
        reject=("wrong_type", "data"))
    vec("083-reject-nil-key-nested", IN,
        "A nil key in a map inside embeds is reported at that map.",
        ["SG-MP-002", "SG-ENV-001"],
        inb(embeds=[M(("ok", 1), (None, 2))]),
        reject=("wrong_type", "data.embeds[0]"))
    vec("084-reject-ext-timestamp", IN,
        "A msgpack timestamp ext in the timestamp field.",
        ["SG-MP-011", "SG-ENV-001"],
        inb(timestamp=Ext(-1, struct.pack(">I", 1732350000))),
        reject=("wrong_type", "data.timestamp"))
    vec("085-reject-ext-nested", IN,
        "An ext 8 value deep inside embeds.",
        ["SG-MP-011", "SG-ENV-001"],
        inb(embeds={"a": [Ext(5, b"abc")]}),
        reject=("wrong_type", "data.embeds.a[0]"))
    vec("086-reject-utf8-bad-continuation", IN,
        "content with a lead byte followed by a non-continuation byte.",
        ["SG-MP-004", "SG-ENV-001"],
        inb(content=StrB(b"ok \xc3\x28")),
        reject=("invalid_utf8", "data.content"))
    vec("087-reject-utf8-overlong", IN,
        "username with an overlong encoding of '/'.",
        ["SG-MP-004", "SG-ENV-001"],
        inb(username=StrB(b"a\xc0\xafb")),
        reject=("invalid_utf8", "data.username"))
    vec("088-reject-utf8-surrogate", IN,
        "room_name with an encoded UTF-16 surrogate.",
        ["SG-MP-004", "SG-ENV-001"],
        inb(room_name=StrB(b"\xed\xa0\x80")),
        reject=("invalid_utf8", "data.room_name"))
    vec("089-reject-utf8-above-max", IN,
        "guild_name with a code point above U+10FFFF.",
        ["SG-MP-004", "SG-ENV-001"],
        inb(guild_name=StrB(b"\xf4\x90\x80\x80")),
        reject=("invalid_utf8", "data.guild_name"))
    vec("090-reject-utf8-cut-sequence", IN,
        "A string ending in the middle of a 3-byte sequence.",
        ["SG-MP-004", "SG-ENV-001"],
        inb(message_id=StrB(b"id\xe2\x82")),
        reject=("invalid_utf8", "data.message_id"))
    vec("091-reject-utf8-in-key", IN,
        "A top-level key that is not UTF-8 is reported at the map.",
        ["SG-MP-004", "SG-ENV-001"],
        M(("platform", "discord"), ("channel_id", "c1"),
          (StrB(b"x\xff"), 1)),
        reject=("invalid_utf8", "data"))
    vec("092-reject-utf8-in-embeds", IN,
        "Invalid UTF-8 in a str nested inside embeds.",
        ["SG-MP-004", "SG-ENV-001"],
        inb(embeds=[{"title": "ok", "fields": [{"value": StrB(b"\x80")}]}]),
        reject=("invalid_utf8", "data.embeds[0].fields[0].value"))
    vec("093-reject-utf8-in-unknown-key-value", IN,
        "Invalid UTF-8 in the value of an unknown key.",
        ["SG-MP-004", "SG-ENV-004", "SG-ENV-001"],
        inb(x_future=StrB(b"\xfe")),
        reject=("invalid_utf8", "data.x_future"))
    vec("094-reject-duplicate-known-key", IN,
        "content twice in the envelope map.",
        ["SG-MP-003", "SG-ENV-001"],
        M(("platform", "discord"), ("channel_id", "c1"), ("content", "a"),
          ("content", "b")),
        reject=("duplicate_key", "data.content"))
    vec("095-reject-duplicate-unknown-key", IN,
        "An unknown key twice in the envelope map.",
        ["SG-MP-003", "SG-ENV-004", "SG-ENV-001"],
        M(("platform", "discord"), ("x_extra", 1), ("channel_id", "c1"),
          ("x_extra", 1)),
        reject=("duplicate_key", "data.x_extra"))
    vec("096-reject-duplicate-in-embeds", IN,
        "A key twice in a map inside embeds.",
        ["SG-MP-003", "SG-ENV-001"],
        inb(embeds=[{"a": 1}, M(("b", 1), ("b", None))]),
        reject=("duplicate_key", "data.embeds[1].b"))
    vec("097-reject-too-deep", IN,
        "embeds nested to 17 levels: the 16th nested array is too deep.",
        ["SG-LIMIT-005", "SG-ENV-001"],
        inb(embeds=nested_arrays(16, 7)),
        reject=("too_deep", "data.embeds" + "[0]" * 15))

    # ---- table rejects, inbound --------------------------------------------
    vec("098-reject-missing-platform", IN,
        "platform absent.",
        INV + ["SG-INENV-002"], {"channel_id": "c1", "content": "x"},
        reject=("missing_field", "data.platform"))
    vec("099-reject-nil-channel-id", IN,
        "channel_id nil is missing.",
        INV + ["SG-MP-010"], {"platform": "discord", "channel_id": None},
        reject=("missing_field", "data.channel_id"))
    vec("100-reject-empty-channel-id", IN,
        "channel_id empty.",
        INV + ["SG-ENV-006"], {"platform": "discord", "channel_id": ""},
        reject=("invalid_value", "data.channel_id"))
    vec("101-reject-str-for-bool", IN,
        "is_addressed given as the str \"true\".",
        INV + ["SG-MP-009"], inb(is_addressed="true"),
        reject=("wrong_type", "data.is_addressed"))
    vec("102-reject-int-for-bool", IN,
        "is_dm given as the integer 1.",
        INV + ["SG-MP-009"], inb(is_dm=1),
        reject=("wrong_type", "data.is_dm"))
    vec("103-reject-bin-for-str", IN,
        "content given as bin.",
        INV + ["SG-MP-005"], inb(content=b"hello"),
        reject=("wrong_type", "data.content"))
    vec("104-reject-float-for-int", IN,
        "member_count given as float 5.0.",
        INV + ["SG-MP-007"], inb(member_count=5.0),
        reject=("wrong_type", "data.member_count"))
    vec("105-reject-attachment-not-map", IN,
        "The second attachment is a str.",
        INV + ["SG-INENV-004"],
        inb(attachments=[{"data": b"x"}, "https://x.example/a.png"]),
        reject=("wrong_type", "data.attachments[1]"))
    vec("106-reject-attachment-nil-element", IN,
        "An attachment element that is nil.",
        INV + ["SG-INENV-004"], inb(attachments=[None]),
        reject=("wrong_type", "data.attachments[0]"))
    vec("107-reject-member-role-not-str", IN,
        "A member_roles element that is an integer.",
        INV, inb(member_roles=["a", 7]),
        reject=("wrong_type", "data.member_roles[1]"))
    vec("108-reject-attachments-not-array", IN,
        "attachments given as a map.",
        INV, inb(attachments={"data": b"x"}),
        reject=("wrong_type", "data.attachments"))
    vec("109-reject-bad-base64", IN,
        "Attachment data as a str that is not base64.",
        INV + ["SG-MP-006"], inb(attachments=[{"data": "not base64!"}]),
        reject=("invalid_value", "data.attachments[0].data"))
    vec("110-reject-base64-no-padding", IN,
        "Attachment data as base64 without its padding.",
        INV + ["SG-MP-006"], inb(attachments=[{"data": "aGVsbG8"}]),
        reject=("invalid_value", "data.attachments[0].data"))
    vec("111-reject-base64-nonzero-pad-bits", IN,
        "Attachment data as base64 whose padding bits are not zero.",
        INV + ["SG-MP-006"], inb(attachments=[{"data": "aGVsbG9="}]),
        reject=("invalid_value", "data.attachments[0].data"))
    vec("112-reject-unknown-version", IN,
        "schema_version 2.",
        INV + ["SG-ENV-003"], inb(schema_version=2),
        reject=("unknown_version", "data.schema_version"))
    vec("113-reject-version-zero", IN,
        "schema_version 0.",
        INV + ["SG-ENV-003"], inb(schema_version=0),
        reject=("unknown_version", "data.schema_version"))
    vec("114-reject-version-str", IN,
        "schema_version given as the str \"1\".",
        INV + ["SG-ENV-003"], inb(schema_version="1"),
        reject=("wrong_type", "data.schema_version"))
    vec("115-reject-member-count-uint64-huge", IN,
        "member_count as uint 64 above 2^63-1.",
        INV + ["SG-MP-007"], inb(member_count=Int(2 ** 63, "u64")),
        reject=("out_of_range", "data.member_count"))
    vec("116-reject-member-count-negative", IN,
        "member_count -1.",
        INV + ["SG-MP-007"], inb(member_count=-1),
        reject=("out_of_range", "data.member_count"))
    vec("117-reject-member-count-above-range", IN,
        "member_count 2^31, one above its range.",
        INV + ["SG-MP-007"], inb(member_count=2 ** 31),
        reject=("out_of_range", "data.member_count"))
    vec("118-reject-timestamp-nan", IN,
        "timestamp NaN (float 64).",
        INV + ["SG-MP-008"], inb(timestamp=float("nan")),
        reject=("out_of_range", "data.timestamp"))
    vec("119-reject-timestamp-infinity-f32", IN,
        "timestamp +infinity (float 32).",
        INV + ["SG-MP-008"], inb(timestamp=F32(float("inf"))),
        reject=("out_of_range", "data.timestamp"))
    vec("120-reject-timestamp-negative", IN,
        "timestamp -1.5.",
        INV + ["SG-MP-008"], inb(timestamp=-1.5),
        reject=("out_of_range", "data.timestamp"))
    vec("121-reject-id-too-long", IN,
        "channel_id of 4097 bytes.",
        INV + ["SG-LIMIT-002"], {"platform": "discord",
                                 "channel_id": utf8_len(S + 1)},
        reject=("string_too_long", "data.channel_id"))
    vec("122-reject-content-too-long", IN,
        "content of 262145 bytes.",
        INV + ["SG-LIMIT-002"], inb(content=utf8_len(T + 1)),
        reject=("string_too_long", "data.content"))
    vec("123-reject-str-too-long-multibyte", IN,
        "username of 1025 four-byte characters (4100 bytes).",
        INV + ["SG-LIMIT-002"], inb(username=GRAPHEMES[0] * 1025),
        reject=("string_too_long", "data.username"))
    vec("124-reject-envelope-trace-id-too-long", IN,
        "Envelope trace_id of 129 bytes.",
        INV + ["SG-LIMIT-002"], inb(trace_id=utf8_len(129)),
        reject=("string_too_long", "data.trace_id"))
    vec("125-reject-key-too-long", IN,
        "An unknown key of 4097 bytes is reported at its map.",
        INV + ["SG-LIMIT-002", "SG-ENV-004"],
        M(("platform", "discord"), ("channel_id", "c1"),
          (utf8_len(S + 1, "k"), 1)),
        reject=("string_too_long", "data"))
    vec("126-reject-embeds-string-too-long", IN,
        "A str of 4097 bytes inside embeds.",
        INV + ["SG-LIMIT-002", "SG-MP-012"],
        inb(embeds={"desc": utf8_len(S + 1)}),
        reject=("string_too_long", "data.embeds.desc"))
    vec("127-reject-attachment-too-large", IN,
        "Attachment bin one byte over max_binary_bytes (overridden to 16).",
        INV + ["SG-LIMIT-003"], inb(attachments=[{"data": b"\x00" * 17}]),
        limits={"max_binary_bytes": 16},
        reject=("binary_too_large", "data.attachments[0].data"))
    vec("128-reject-attachment-base64-too-large", IN,
        "Attachment base64 str decoding to one byte over max_binary_bytes "
        "(16).",
        INV + ["SG-LIMIT-003", "SG-MP-006"],
        inb(attachments=[{"data": b64(b"\x00" * 17)}]),
        limits={"max_binary_bytes": 16},
        reject=("binary_too_large", "data.attachments[0].data"))
    vec("129-reject-bin-in-embeds-too-large", IN,
        "A bin inside embeds over max_binary_bytes (16).",
        INV + ["SG-LIMIT-003"], inb(embeds=[b"\x00" * 17]),
        limits={"max_binary_bytes": 16},
        reject=("binary_too_large", "data.embeds[0]"))
    vec("130-reject-too-many-attachments", IN,
        "33 attachments, one over max_attachments.",
        INV + ["SG-LIMIT-004"], inb(attachments=[{} for _ in range(33)]),
        reject=("array_too_long", "data.attachments"))
    vec("131-reject-too-many-member-roles", IN,
        "member_roles of 1025 ids.",
        INV + ["SG-LIMIT-004"],
        inb(member_roles=["r" for _ in range(1025)]),
        reject=("array_too_long", "data.member_roles"))
    vec("132-reject-embeds-array-too-long", IN,
        "An array of 1025 elements inside embeds.",
        INV + ["SG-LIMIT-004"], inb(embeds={"list": [0] * 1025}),
        reject=("array_too_long", "data.embeds.list"))
    vec("133-reject-embeds-map-too-large", IN,
        "A map of 257 pairs inside embeds.",
        INV + ["SG-LIMIT-004"],
        inb(embeds={"k%03d" % i: i for i in range(257)}),
        reject=("map_too_large", "data.embeds"))
    vec("134-reject-envelope-map-too-large", IN,
        "An envelope map of 257 pairs (unknown keys).",
        INV + ["SG-LIMIT-004", "SG-ENV-004"],
        inb(**{"x%03d" % i: 0 for i in range(255)}),
        reject=("map_too_large", "data"))
    vec("135-reject-uint64-in-embeds", IN,
        "A uint 64 above 2^63-1 inside embeds.",
        INV + ["SG-MP-007", "SG-MP-012"],
        inb(embeds=[1, Int(2 ** 64 - 1, "u64")]),
        reject=("out_of_range", "data.embeds[1]"))
    vec("136-reject-nan-in-embeds", IN,
        "A NaN float inside embeds.",
        INV + ["SG-MP-008", "SG-MP-012"],
        inb(embeds={"ratio": float("nan")}),
        reject=("out_of_range", "data.embeds.ratio"))
    vec("137-reject-empty-platform", IN,
        "platform empty.",
        INV + ["SG-ENV-006"], {"platform": "", "channel_id": "c1"},
        reject=("invalid_value", "data.platform"))

    # ---- table rejects, outbound -------------------------------------------
    vec("138-reject-unknown-type", OUT,
        "type sticker is not an outbound type.",
        OUTV + ["SG-OUTENV-003"], {"type": "sticker", "channel_id": "c1"},
        reject=("unknown_type", "data.type"))
    vec("139-reject-empty-type", OUT,
        "type empty.",
        OUTV + ["SG-OUTENV-003"], {"type": "", "channel_id": "c1"},
        reject=("unknown_type", "data.type"))
    vec("140-reject-type-bin", OUT,
        "type given as bin.",
        OUTV + ["SG-MP-005"], {"type": b"message", "channel_id": "c1",
                               "text": ""},
        reject=("wrong_type", "data.type"))
    vec("141-reject-message-missing-channel", OUT,
        "A message without channel_id.",
        OUTV + ["SG-OUTENV-004"], {"type": "message", "text": "x"},
        reject=("missing_field", "data.channel_id"))
    vec("142-reject-message-empty-channel", OUT,
        "A message with an empty channel_id.",
        OUTV + ["SG-OUTENV-004", "SG-ENV-006"],
        {"channel_id": "", "text": "x"},
        reject=("invalid_value", "data.channel_id"))
    vec("143-reject-message-missing-text", OUT,
        "A message without text.",
        OUTV, {"type": "message", "channel_id": "c1"},
        reject=("missing_field", "data.text"))
    vec("144-reject-typing-missing-channel", OUT,
        "A typing envelope without channel_id.",
        OUTV + ["SG-OUTENV-004"], {"type": "typing"},
        reject=("missing_field", "data.channel_id"))
    vec("145-reject-file-missing-data", OUT,
        "A file without file_data.",
        OUTV, {"type": "file", "channel_id": "c1", "filename": "a"},
        reject=("missing_field", "data.file_data"))
    vec("146-reject-file-too-large", OUT,
        "file_data one byte over max_binary_bytes (overridden to 16).",
        OUTV + ["SG-LIMIT-003"],
        {"type": "file", "channel_id": "c1", "file_data": b"\x01" * 17},
        limits={"max_binary_bytes": 16},
        reject=("binary_too_large", "data.file_data"))
    vec("147-reject-file-data-int", OUT,
        "file_data given as an integer.",
        OUTV + ["SG-MP-006"],
        {"type": "file", "channel_id": "c1", "file_data": 0},
        reject=("wrong_type", "data.file_data"))
    vec("148-reject-too-many-buttons", OUT,
        "26 buttons, one over max_buttons.",
        OUTV + ["SG-LIMIT-004"],
        {"type": "buttons", "channel_id": "c1", "text": "t",
         "buttons": [{"label": "b%d" % i} for i in range(26)]},
        reject=("array_too_long", "data.buttons"))
    vec("149-reject-no-buttons", OUT,
        "An empty buttons array (at least one is required).",
        OUTV, {"type": "buttons", "channel_id": "c1", "text": "t",
               "buttons": []},
        reject=("invalid_value", "data.buttons"))
    vec("150-reject-button-missing-label", OUT,
        "A button without label.",
        OUTV, {"type": "buttons", "channel_id": "c1", "text": "t",
               "buttons": [{"label": "ok"}, {"id": "b2"}]},
        reject=("missing_field", "data.buttons[1].label"))
    vec("151-reject-button-empty-label", OUT,
        "A button with an empty label.",
        OUTV, {"type": "buttons", "channel_id": "c1", "text": "t",
               "buttons": [{"label": ""}]},
        reject=("invalid_value", "data.buttons[0].label"))
    vec("152-reject-reaction-missing-message-id", OUT,
        "A reaction with emoji but no message_id.",
        OUTV, {"type": "reaction", "channel_id": "c1", "emoji": "x"},
        reject=("missing_field", "data.message_id"))
    vec("153-reject-reaction-empty-emoji", OUT,
        "A reaction with an empty emoji.",
        OUTV, {"type": "reaction", "channel_id": "c1", "message_id": "m",
               "emoji": ""},
        reject=("invalid_value", "data.emoji"))
    vec("154-reject-presence-text-too-long", OUT,
        "presence text is a str: 4097 bytes is too long.",
        OUTV + ["SG-LIMIT-002"], {"type": "presence",
                                  "text": utf8_len(S + 1)},
        reject=("string_too_long", "data.text"))
    vec("155-reject-rpc-missing-reply-key", OUT,
        "An rpc_request without reply_key.",
        OUTV + ["SG-RPC-008", "SG-RPC-001"],
        {"type": "rpc_request", "rpc_method": "fetch_channel_history"},
        reject=("missing_field", "data.reply_key"))
    vec("156-reject-rpc-missing-method", OUT,
        "An rpc_request with neither rpc_method nor action.",
        OUTV + ["SG-RPC-001"],
        {"type": "rpc_request", "kwargs": {}, "reply_key": "k"},
        reject=("missing_field", "data.rpc_method"))
    vec("157-reject-rpc-empty-action", OUT,
        "A legacy action that is empty is reported under its own name.",
        OUTV + ["SG-RPC-001", "SG-ENV-006"],
        {"type": "rpc_request", "action": "", "reply_key": "k"},
        reject=("invalid_value", "data.action"))
    vec("158-reject-rpc-args-not-map", OUT,
        "rpc_args given as an array.",
        OUTV + ["SG-RPC-001"],
        {"type": "rpc_request", "rpc_method": "m", "rpc_args": [1],
         "reply_key": "k"},
        reject=("wrong_type", "data.rpc_args"))
    vec("159-reject-rpc-args-too-deep", OUT,
        "rpc_args nested 17 levels deep.",
        OUTV + ["SG-LIMIT-005"],
        {"type": "rpc_request", "rpc_method": "m", "reply_key": "k",
         "rpc_args": nested_maps(15, {})},
        reject=("too_deep", "data.rpc_args" + ".a" * 15))
    vec("160-reject-rpc-args-map-too-large", OUT,
        "rpc_args of 257 pairs.",
        OUTV + ["SG-LIMIT-004"],
        {"type": "rpc_request", "rpc_method": "m", "reply_key": "k",
         "rpc_args": {"a%d" % i: i for i in range(257)}},
        reject=("map_too_large", "data.rpc_args"))
    vec("161-reject-message-key-int", OUT,
        "message_key given as an integer.",
        OUTV, {"channel_id": "c1", "text": "", "message_key": 5},
        reject=("wrong_type", "data.message_key"))

    # ---- table rejects, tools ----------------------------------------------
    vec("162-reject-tools-request-missing-reply-stream", TQ,
        "A tools request without reply_stream.",
        ["SG-TOOLS-001", "SG-ENV-001"],
        {"request_id": "r1", "tool_name": "t"},
        reject=("missing_field", "data.reply_stream"))
    vec("163-reject-tools-request-empty-id", TQ,
        "A tools request with an empty request_id.",
        ["SG-TOOLS-001", "SG-ENV-006", "SG-ENV-001"],
        {"request_id": "", "tool_name": "t", "reply_stream": "s"},
        reject=("invalid_value", "data.request_id"))
    vec("164-reject-tools-request-deadline-str", TQ,
        "deadline_ms given as a str.",
        ["SG-TOOLS-001", "SG-ENV-001"],
        {"request_id": "r", "tool_name": "t", "reply_stream": "s",
         "deadline_ms": "1732350030000"},
        reject=("wrong_type", "data.deadline_ms"))
    vec("165-reject-tools-reply-missing-ok", TR,
        "A tools reply without ok.",
        ["SG-TOOLS-001", "SG-ENV-001"], {"request_id": "r1", "error": "x"},
        reject=("missing_field", "data.ok"))
    vec("166-reject-tools-reply-ok-int", TR,
        "ok given as the integer 1.",
        ["SG-TOOLS-001", "SG-MP-009", "SG-ENV-001"],
        {"request_id": "r1", "ok": 1},
        reject=("wrong_type", "data.ok"))
    vec("167-reject-tools-reply-media-bad-base64", TR,
        "A media element whose data is not base64.",
        ["SG-TOOLS-001", "SG-MP-006", "SG-ENV-001"],
        {"request_id": "r1", "ok": False, "error": "e",
         "media": [{"data": "@@@@"}]},
        reject=("invalid_value", "data.media[0].data"))

    # ---- several problems: SG-ENV-002 ordering -------------------------------
    ORD = ["SG-ENV-002", "SG-ENV-001"]
    vec("168-order-data-absent-before-ts", IN,
        "No data and a bad ts: the data check comes first.",
        ORD + ["SG-FRAME-004"], NO_DATA, fields={"ts": "abc"},
        reject=("missing_field", "data"))
    vec("169-order-size-before-ts", IN,
        "Too large data (limit 8) and a bad ts: the size check comes "
        "first.",
        ORD + ["SG-LIMIT-001"], inb(), fields={"ts": "abc"},
        limits={"max_entry_bytes": 8}, reject=("entry_too_large", "data"))
    vec("170-order-size-before-parse", IN,
        "Too large data (limit 8) that is not msgpack: not parsed at all.",
        ORD + ["SG-LIMIT-001"], b"\xc1" * 9,
        limits={"max_entry_bytes": 8}, reject=("entry_too_large", "data"))
    vec("171-order-ts-before-trace-id", IN,
        "A bad ts and a too long trace_id: ts first.",
        ORD + ["SG-FRAME-006", "SG-FRAME-007"], inb(),
        fields={"ts": "x", "trace_id": utf8_len(200)},
        reject=("invalid_value", "ts"))
    vec("172-order-entry-fields-before-envelope", IN,
        "A too long trace_id entry field and a data field that is not a "
        "map: entry fields first.",
        ORD + ["SG-FRAME-007"], 5, fields={"trace_id": utf8_len(129)},
        reject=("string_too_long", "trace_id"))
    vec("173-order-msgpack-before-table", IN,
        "A wrong-typed field followed by a 0xc1 byte: the msgpack reading "
        "ends first.",
        ORD + ["SG-MP-001"],
        M(("platform", "discord"), ("channel_id", "c1"), ("content", 5),
          ("embeds", Raw(b"\xc1"))),
        reject=("invalid_msgpack", "data.embeds"))
    vec("174-order-table-in-key-order", IN,
        "Two field violations: the one read first is reported.",
        ORD, M(("platform", "discord"), ("channel_id", "c1"),
               ("member_count", -1), ("content", 5)),
        reject=("out_of_range", "data.member_count"))
    vec("175-order-table-in-key-order-reversed", IN,
        "The same two violations in the other order.",
        ORD, M(("platform", "discord"), ("channel_id", "c1"),
               ("content", 5), ("member_count", -1)),
        reject=("wrong_type", "data.content"))
    vec("176-order-missing-after-map", IN,
        "platform absent and a later wrong type: missing fields are "
        "checked after the map.",
        ORD + ["SG-INENV-001"], {"channel_id": "c1", "is_dm": "yes"},
        reject=("wrong_type", "data.is_dm"))
    vec("177-order-nil-required-is-missing-later", IN,
        "platform nil (missing) before a wrong type: the wrong type is "
        "reported.",
        ORD + ["SG-MP-010"],
        {"platform": None, "channel_id": "c1", "timestamp": "now"},
        reject=("wrong_type", "data.timestamp"))
    vec("178-order-missing-in-table-order", IN,
        "platform and channel_id both absent: platform, first in the "
        "table, is reported.",
        ORD, {"content": "x"}, reject=("missing_field", "data.platform"))
    vec("179-order-utf8-before-duplicate", IN,
        "Invalid UTF-8 read before a duplicate key.",
        ORD + ["SG-MP-003", "SG-MP-004"],
        M(("platform", "discord"), ("channel_id", "c1"),
          ("content", StrB(b"\xff")), ("channel_id", "c2")),
        reject=("invalid_utf8", "data.content"))
    vec("180-order-duplicate-before-utf8", IN,
        "A duplicate key read before invalid UTF-8.",
        ORD + ["SG-MP-003", "SG-MP-004"],
        M(("platform", "discord"), ("channel_id", "c1"),
          ("channel_id", "c2"), ("content", StrB(b"\xff"))),
        reject=("duplicate_key", "data.channel_id"))
    vec("181-order-version-before-fields", IN,
        "A wrong-typed field read before schema_version 2: the version is "
        "checked first.",
        ORD + ["SG-ENV-003"],
        M(("content", 5), ("platform", "discord"), ("channel_id", "c1"),
          ("schema_version", 2)),
        reject=("unknown_version", "data.schema_version"))
    vec("182-order-type-before-fields", OUT,
        "An empty channel_id read before an unknown type: the type is "
        "checked first.",
        ORD + ["SG-OUTENV-003"], M(("channel_id", ""), ("type", "sticker")),
        reject=("unknown_type", "data.type"))
    vec("183-order-type-selects-table", OUT,
        "A bad file_data read before type file is checked against the file "
        "table.",
        ORD + ["SG-MP-006"],
        M(("channel_id", "c1"), ("file_data", "!!"), ("type", "file")),
        reject=("invalid_value", "data.file_data"))
    vec("184-order-truncated-before-limit", IN,
        "33 attachments declared with too few bytes: the count against the "
        "bytes left comes before max_attachments.",
        ORD + ["SG-LIMIT-006", "SG-LIMIT-004"],
        M(("platform", "discord"), ("channel_id", "c1"),
          ("attachments", Raw(b"\xdc\x00\x21\x80\x80"))),
        reject=("truncated", "data.attachments"))
    vec("185-order-utf8-before-length", IN,
        "A 4097-byte username with invalid UTF-8: the msgpack reading "
        "reports the UTF-8.",
        ORD + ["SG-MP-004", "SG-LIMIT-002"],
        inb(username=StrB(b"\xff" + b"a" * S)),
        reject=("invalid_utf8", "data.username"))
    vec("186-order-too-deep-before-later-utf8", IN,
        "Too deep nesting read before invalid UTF-8 at a shallower level.",
        ORD + ["SG-LIMIT-005", "SG-MP-004"],
        inb(embeds=[nested_arrays(15, 1), StrB(b"\xff")]),
        reject=("too_deep", "data.embeds[0]" + "[0]" * 14))
    vec("187-order-element-in-array-order", OUT,
        "A button missing its label before a later wrong-typed button: "
        "each map's missing check follows that map.",
        ORD, {"type": "buttons", "channel_id": "c1", "text": "t",
              "buttons": [{"id": "x"}, {"label": 5}]},
        reject=("missing_field", "data.buttons[0].label"))
    vec("188-order-key-type-before-value", IN,
        "An int key in embeds before a 0xc1 later in the envelope.",
        ORD + ["SG-MP-002"],
        M(("platform", "discord"), ("channel_id", "c1"),
          ("embeds", M((7, 1))), ("content", Raw(b"\xc1"))),
        reject=("wrong_type", "data.embeds"))
    vec("189-order-ext-before-truncation", IN,
        "An ext 32 type byte whose header is cut short: the ext is "
        "rejected at its type byte.",
        ORD + ["SG-MP-011"],
        b"\x83" + enc("platform") + enc("discord") + enc("channel_id") +
        enc("c1") + enc("reactions") + b"\xc9\x00\x00",
        reject=("wrong_type", "data.reactions"))
    vec("190-order-map-count-before-keys", IN,
        "A map of 2 pairs with 3 bytes left (a pair takes at least 2) is "
        "truncated at its header, before its bad first key.",
        ORD + ["SG-LIMIT-006"],
        M(("platform", "discord"), ("channel_id", "c1"),
          ("embeds", Raw(b"\x82\xc1\x00\x00"))),
        reject=("truncated", "data.embeds"))
    vec("191-order-alias-checked-when-used", OUT,
        "kwargs of a wrong type is checked when rpc_args is absent.",
        ORD + ["SG-RPC-001"],
        {"type": "rpc_request", "rpc_method": "m", "kwargs": "x",
         "reply_key": ""},
        reject=("wrong_type", "data.kwargs"))

    # ---- maximal forms of the remaining types ------------------------------
    for n, t in ((192, "typing"), (193, "start_typing"),
                 (194, "stop_typing")):
        vec("%03d-outbound-%s-maximal" % (n, t.replace("_", "-")), OUT,
            "A %s envelope with every optional common field, ids at "
            "max_string_bytes." % t,
            ["SG-OUTENV-001", "SG-LIMIT-002", "SG-ENV-003"],
            {"schema_version": 1, "type": t, "channel_id": utf8_len(S, "c"),
             "message_key": utf8_len(S, "k"),
             "trace_id": utf8_len(128, "a")})
    vec("195-outbound-reaction-maximal", OUT,
        "A reaction with every optional common field and message_id and "
        "emoji at max_string_bytes.",
        ["SG-OUTENV-001", "SG-LIMIT-002"],
        {"schema_version": 1, "type": "reaction", "channel_id": "c1",
         "message_id": utf8_len(S, "m"),
         "emoji": utf8_len(S, "\U0001F44D"), "message_key": "mk",
         "trace_id": "t"})
    vec("196-outbound-rpc-maximal", OUT,
        "An rpc_request with every field of section 10 and the common "
        "outbound fields.",
        ["SG-RPC-001", "SG-OUTENV-001", "SG-ENV-003"],
        {"schema_version": 1, "type": "rpc_request",
         "rpc_method": utf8_len(S, "m"),
         "rpc_args": {"a%03d" % i: i for i in range(256)},
         "reply_key": utf8_len(S, "r"), "channel_id": utf8_len(S, "c"),
         "message_key": "mk", "trace_id": utf8_len(128, "0")})
    vec("197-tools-reply-maximal", TR,
        "A tools reply with every field set.",
        ["SG-TOOLS-001", "SG-ENV-003", "SG-MP-012"],
        {"schema_version": 1, "request_id": utf8_len(S, "r"), "ok": True,
         "result": [None, True, 1, -1, 0.5, "s", b"\x00", {"k": []}],
         "error": "partial: " + GRAPHEMES,
         "media": [{"data": b"\x01", "mimetype": "image/png",
                    "filename": "a.png", "source_url": "https://x.example"}]})
    vec("198-tools-request-deadline-negative-fixint", TQ,
        "deadline_ms has no range beyond int 64: a negative fixint is "
        "accepted by the codec.",
        ["SG-TOOLS-001", "SG-MP-007"],
        {"request_id": "r", "tool_name": "t", "reply_stream": "s",
         "deadline_ms": -1})


# ---------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------

NAME_RE = re.compile(r"[0-9]{3}-[a-z0-9]+(-[a-z0-9]+)*\Z")


def spec_ids():
    with open(SPEC, encoding="utf-8") as f:
        return set(re.findall(r"^- \*\*(SG-[A-Z]+-[0-9]{3})\*\*", f.read(),
                              re.M))


def build():
    """Return {filename: bytes} for every generated file."""
    del VECTORS[:]
    define()
    known = spec_ids()
    files, rows, problems = {}, [], []
    for i, v in enumerate(VECTORS, 1):
        name = v["name"]
        if not NAME_RE.match(name) or int(name[:3]) != i:
            problems.append("%s: bad name or out of sequence (want %03d)" %
                            (name, i))
        if v["kind"] not in KINDS:
            problems.append("%s: bad kind" % name)
        for r in v["requirements"]:
            if r not in known:
                problems.append("%s: %s is not in SPEC.md" % (name, r))
        for k in v["limits"]:
            if k not in OVERRIDABLE:
                problems.append("%s: limit %s may not be overridden" %
                                (name, k))
        limits = dict(DEFAULT_LIMITS, **v["limits"])
        got = decode(v["data"], v["fields"], limits, v["kind"])
        if v["reject"] is not None:
            want = ("reject",) + tuple(v["reject"])
            if got != want:
                problems.append("%s: expected %r, reference gives %r" %
                                (name, want, got))
            expect = {"result": "reject", "reason": v["reject"][0],
                      "path": v["reject"][1]}
            row = (name, v["kind"], "reject", v["reject"][0], v["reject"][1])
        else:
            if got[0] != "ok":
                problems.append("%s: expected ok, reference gives %r" %
                                (name, got))
                continue
            if v["envelope"] is not None and v["envelope"] != got[1]:
                problems.append("%s: hand-written envelope %r != reference "
                                "%r" % (name, v["envelope"], got[1]))
            expect = {"result": "ok", "envelope": got[1]}
            row = (name, v["kind"], "ok", "-", "-")
        doc = {"name": name, "description": v["description"],
               "requirements": sorted(set(v["requirements"])),
               "kind": v["kind"], "expect": expect}
        if v["data"] is not None:
            doc["data"] = name + ".bin"
            files[name + ".bin"] = v["data"]
        if v["fields"]:
            doc["fields"] = v["fields"]
        if v["limits"]:
            doc["limits"] = v["limits"]
        text = json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False,
                          allow_nan=False) + "\n"
        files[name + ".json"] = text.encode("utf-8")
        rows.append(row)
    if problems:
        for p in problems:
            print("gen.py: " + p, file=sys.stderr)
        sys.exit(1)
    index = ["name\tkind\tresult\treason\tpath"]
    index += ["\t".join(r) for r in rows]
    files["index.tsv"] = ("\n".join(index) + "\n").encode("utf-8")
    return files


GENERATED = re.compile(r"([0-9]{3}-.*\.(json|bin)|index\.tsv)\Z")


def existing(directory):
    return sorted(n for n in os.listdir(directory) if GENERATED.match(n))


def write(directory, files):
    for stale in set(existing(directory)) - set(files):
        os.remove(os.path.join(directory, stale))
    for name, data in sorted(files.items()):
        path = os.path.join(directory, name)
        try:
            with open(path, "rb") as f:
                if f.read() == data:
                    continue
        except OSError:
            pass
        with open(path, "wb") as f:
            f.write(data)


def check(files):
    with tempfile.TemporaryDirectory() as tmp:
        write(tmp, files)
        bad = []
        want, have = existing(tmp), existing(HERE)
        for n in sorted(set(want) - set(have)):
            bad.append("missing: " + n)
        for n in sorted(set(have) - set(want)):
            bad.append("not generated: " + n)
        for n in sorted(set(want) & set(have)):
            with open(os.path.join(tmp, n), "rb") as a, \
                    open(os.path.join(HERE, n), "rb") as b:
                if a.read() != b.read():
                    bad.append("differs: " + n)
    for b in bad:
        print("gen.py --check: " + b, file=sys.stderr)
    if bad:
        print("gen.py --check: FAIL; run python3 protocol/vectors/gen.py",
              file=sys.stderr)
        return 1
    print("gen.py --check: %d vectors, all files up to date" %
          sum(1 for n in files if n.endswith(".json")))
    return 0


def main(argv):
    files = build()
    if argv == ["--check"]:
        return check(files)
    if argv:
        print(__doc__, file=sys.stderr)
        return 2
    write(HERE, files)
    print("gen.py: wrote %d vectors" %
          sum(1 for n in files if n.endswith(".json")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
