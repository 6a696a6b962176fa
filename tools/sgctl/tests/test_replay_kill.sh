#!/usr/bin/env bash
# sg-test-labels: integration
#
# SG-CAP-010: a replay killed with SIGKILL part way (no chance to clean
# up) and run again ends with every entry exactly once, with original IDs
# and with new IDs. The replay is paced (--timing id) so that the kill
# lands in the middle; the test waits on the target's length, not on time.
#
# Usage: test_replay_kill.sh <path of the sgctl program>
set -euo pipefail

SGCTL=${1:?usage: test_replay_kill.sh <sgctl>}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
source "$here/../../../ci/redis-fixture.sh"

fail() {
    echo "test_replay_kill: $*" >&2
    exit 1
}

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

sg_redis_start
export REDIS_URL=$SG_REDIS_URL
rc() { redis-cli -p "$SG_REDIS_PORT" "$@"; }

n=30
for i in $(seq 1 $n); do
    rc XADD src "${i}00-0" data "v$i" n "$i" >/dev/null
done
"$SGCTL" capture -o "$work/src.sgcap" -s src --from 0 --until-end >/dev/null

# Waits until stream $1 holds at least $2 entries (10 s at most).
wait_len() {
    local i
    for i in $(seq 1 1000); do
        [ "$(rc XLEN "$1")" -ge "$2" ] && return 0
        sleep 0.01
    done
    fail "$1 never reached $2 entries"
}

for mode in orig new; do
    extra=()
    [ $mode = new ] && extra=(--new-ids)
    # 100 ms between entries at --speed 1; 20 ms at 5.
    "$SGCTL" replay --namespace "$mode:" --timing id --speed 5 \
        "${extra[@]}" "$work/src.sgcap" >/dev/null 2>&1 &
    pid=$!
    wait_len "$mode:src" 5
    kill -KILL "$pid"
    wait "$pid" 2>/dev/null || true
    before=$(rc XLEN "$mode:src")
    "$SGCTL" replay --namespace "$mode:" "${extra[@]}" "$work/src.sgcap" \
        >"$work/out" || fail "$mode: resume failed: $(cat "$work/out")"
    [ "$(rc XLEN "$mode:src")" -eq $n ] ||
        fail "$mode: $(rc XLEN "$mode:src") entries after the resume, not $n"
    grep -q "$before already replayed" "$work/out" ||
        fail "$mode: the resume did not start after the $before entries" \
            "already there: $(cat "$work/out")"
    # Same fields in the same order; the same IDs unless new ones.
    if [ $mode = orig ]; then
        [ "$(rc XRANGE src - +)" = "$(rc XRANGE "$mode:src" - +)" ] ||
            fail "$mode: entries differ"
    else
        a=$(rc XRANGE src - + | grep -v -- '-0$')
        b=$(rc XRANGE "$mode:src" - + | grep -v -- '^[0-9]*-[0-9]*$')
        [ "$a" = "$b" ] || fail "$mode: fields differ"
    fi
done
echo "test_replay_kill: ok"
