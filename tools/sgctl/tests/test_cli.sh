#!/usr/bin/env bash
# sg-test-labels: integration
#
# The built sgctl program end to end, against a private redis-server:
# --help and --version, exit codes (2 usage, 3 unreachable, 4 invalid
# envelope), publish then tail through the real binary, and a capture piped
# through stdout replayed into a namespace with the same entries
# (SG-FRAME-012, SG-CAP-002, SG-CAP-004, SG-CAP-009).
#
# Usage: test_cli.sh <path of the sgctl program>
set -euo pipefail

SGCTL=${1:?usage: test_cli.sh <sgctl>}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=/dev/null
source "$here/../../../ci/redis-fixture.sh"

fail() {
    echo "test_cli: $*" >&2
    exit 1
}

expect_rc() {
    local want=$1 got
    shift
    set +e
    "$@" >/dev/null 2>&1
    got=$?
    set -e
    [ "$got" -eq "$want" ] || fail "'$*' exited $got, expected $want"
}

work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT

"$SGCTL" --version | grep -q '^sgctl ' || fail "--version"
for cmd in info publish tail capture replay dlq; do
    "$SGCTL" "$cmd" --help | grep -q "^Usage: sgctl $cmd" ||
        fail "$cmd --help"
done
expect_rc 2 "$SGCTL"
expect_rc 2 "$SGCTL" info --bogus
expect_rc 2 "$SGCTL" -u http://x info
expect_rc 3 "$SGCTL" -p 1 info

sg_redis_start
export REDIS_URL=$SG_REDIS_URL
unset SG_INBOUND_STREAM SG_DLQ_STREAM SG_OUTBOUND_STREAM_PREFIX

expect_rc 4 "$SGCTL" publish '{"platform":"webchat"}'
msg=$("$SGCTL" publish '{"platform":"webchat"}' 2>&1 || true)
case $msg in
    *data.channel_id*missing_field*) ;;
    *) fail "the error does not name the field: $msg" ;;
esac
echo '{"platform":"webchat","channel_id":"w1","content":"from stdin"}' |
    "$SGCTL" publish - >/dev/null
"$SGCTL" publish -k outbound -P webchat \
    '{"type":"message","channel_id":"w1","text":"answer"}' >/dev/null

out=$("$SGCTL" tail --from 0 --count 2)
grep -q 'inbound webchat/w1 : from stdin' <<<"$out" || fail "tail: $out"
grep -q 'message webchat/w1: answer' <<<"$out" || fail "tail: $out"

"$SGCTL" capture -o - --from 0 --until-end >"$work/bus.sgcap"
head -c 10 "$work/bus.sgcap" | grep -q SGCAPTURE || fail "no magic"
"$SGCTL" replay --namespace copy: "$work/bus.sgcap" | grep -q '2 added' ||
    fail "replay"
for s in sg:stream:inbound sg:stream:outbound:webchat; do
    a=$(redis-cli -p "$SG_REDIS_PORT" --no-raw XRANGE "$s" - +)
    b=$(redis-cli -p "$SG_REDIS_PORT" --no-raw XRANGE "copy:$s" - +)
    [ -n "$a" ] && [ "$a" = "$b" ] || fail "replayed $s differs"
done
# A pipe: capture to stdout, replay from stdin.
"$SGCTL" capture -o - --from 0 --until-end |
    "$SGCTL" replay --namespace pipe: - | grep -q '2 added' || fail "pipe"
[ "$(redis-cli -p "$SG_REDIS_PORT" --no-raw XRANGE sg:stream:inbound - +)" = \
  "$(redis-cli -p "$SG_REDIS_PORT" --no-raw XRANGE pipe:sg:stream:inbound - +)" ] ||
    fail "piped replay differs"
"$SGCTL" info --json --namespace copy: | grep -q '"name":"copy:sg:stream:inbound"' ||
    fail "info of the namespace"
echo "test_cli: ok"
