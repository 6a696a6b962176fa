#!/usr/bin/env bash
# sg-test-labels: integration
#
# protocol/CAPTURE.md read and written by a second implementation
# (capture_ref.py, written from the document alone) against sgctl's:
# a file the reference writes is read by sgctl with the same entries;
# replayed into a private redis-server and captured again by sgctl, the
# reference reads back the same streams, IDs and fields byte for byte
# (SG-CAP-001, SG-CAP-002, SG-CAP-004, SG-CAP-005, SG-CAP-008).
#
# Usage: test_capture_interop.sh <path of the sgctl program>
set -euo pipefail

SGCTL=${1:?usage: test_capture_interop.sh <sgctl>}
here=$(cd "$(dirname "$0")" && pwd)
ref="$here/capture_ref.py"
# shellcheck source=/dev/null
source "$here/../../../ci/redis-fixture.sh"

fail() {
    echo "test_capture_interop: $*" >&2
    exit 1
}

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

# Keeps the members both sides print, sorted, one entry per line.
normalize() {
    python3 -c '
import json, sys
keep = sys.argv[1].split(",")
for line in sys.stdin:
    o = json.loads(line)
    if "fields" not in o:
        continue
    print(json.dumps({k: o[k] for k in keep}, sort_keys=True))
' "$1"
}

# 1. The reference writes, sgctl reads.
python3 "$ref" write "$work/ref.sgcap" | normalize index,stream,id,arrival_ms,fields >"$work/a"
"$SGCTL" replay --dry-run --json "$work/ref.sgcap" |
    normalize index,stream,id,arrival_ms,fields >"$work/b"
[ -s "$work/a" ] || fail "the reference wrote nothing"
diff -u "$work/a" "$work/b" || fail "sgctl reads the reference's file differently"

# 2. Through Redis and back: sgctl replays, captures; the reference reads.
sg_redis_start
export REDIS_URL=$SG_REDIS_URL
"$SGCTL" replay "$work/ref.sgcap" >/dev/null
"$SGCTL" capture -o "$work/back.sgcap" --from 0 --until-end \
    -s sg:stream:inbound -s sg:stream:outbound:x >/dev/null
python3 "$ref" dump "$work/back.sgcap" | normalize stream,id,fields >"$work/c"
python3 "$ref" dump "$work/ref.sgcap" | normalize stream,id,fields >"$work/d"
[ "$(wc -l <"$work/c")" -eq 3 ] || fail "expected 3 entries back"
diff -u "$work/d" "$work/c" || fail "the round trip through Redis differs"

# 3. Damage the reference's file: sgctl names the offset and the field.
python3 - "$work/ref.sgcap" "$work/bad.sgcap" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[b.index(b"\n", 10) + 1 + 20] ^= 1      # inside the first record's body
open(sys.argv[2], "wb").write(bytes(b))
PY
set +e
msg=$("$SGCTL" replay --dry-run "$work/bad.sgcap" 2>&1 >/dev/null)
rc=$?
set -e
[ $rc -eq 4 ] || fail "damaged file: exit $rc, expected 4"
case $msg in
    *"offset "*crc*) ;;
    *) fail "damaged file: $msg" ;;
esac
echo "test_capture_interop: ok"
