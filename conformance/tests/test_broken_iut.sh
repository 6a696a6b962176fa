#!/usr/bin/env bash
# sg-test-labels: conformance
# The suite catches deliberately broken implementations with the right
# requirement: a worker that acknowledges before handling (SG-IN-021) and
# a gateway that skips the completion marker and the claim key
# (SG-OUT-008, SG-OUT-010). The reference implementations pass the same
# cases (test conformance_reference).
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=${SGC_BIN:-$PWD/../bin/sg-conform}
[ -x "$bin" ] || bin=$PWD/bin/sg-conform
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
fail=0

"$bin" --iut "$here/../iut/broken-worker-ack-first.json" \
    -c worker.inbound.happy --out "$out/w" --no-progress >"$out/w.txt" 2>&1
rc=$?
cat "$out/w.txt"
if [ $rc -ne 1 ]; then
    echo "FAIL: the ack-first worker gave exit $rc, want 1"; fail=1
fi
if ! grep -q '^FAIL .*worker\.inbound\.happy' "$out/w.txt" ||
   ! grep -q 'SG-IN-021 (MUST)' "$out/w.txt" ||
   ! grep -q 'executed or delivered after its ack' "$out/w.txt"; then
    echo "FAIL: the ack-first worker was not caught under SG-IN-021"
    fail=1
fi

"$bin" --iut "$here/../iut/broken-gateway-no-claim.json" \
    -c gateway.dedup.claim_and_marker --out "$out/g" --no-progress \
    >"$out/g.txt" 2>&1
rc=$?
cat "$out/g.txt"
if [ $rc -ne 1 ]; then
    echo "FAIL: the claim-less gateway gave exit $rc, want 1"; fail=1
fi
for id in SG-OUT-008 SG-OUT-010; do
    if ! grep -q "$id (MUST)" "$out/g.txt"; then
        echo "FAIL: the claim-less gateway was not caught under $id"
        fail=1
    fi
done
if ! grep -q 'Expected: two entries with one message_key: exactly one send' \
        "$out/g.txt" || ! grep -q 'Actual:   2 sends' "$out/g.txt"; then
    echo "FAIL: no clear Expected/Actual for the double send"; fail=1
fi
exit $fail
