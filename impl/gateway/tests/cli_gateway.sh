#!/usr/bin/env bash
# sg-test-labels: integration
#
# sg-gateway as a program (contract S): --help and --version, exit 2 on a
# usage or configuration error naming the variable (SG-CFG-004), the
# banner lines, /healthz, the console platform end to end against a real
# redis-server, exit 0 after SIGTERM and SIGINT (SG-IN-017), and a
# console-only gateway stopping by itself at the end of its input.
#
#   bash cli_gateway.sh <path of sg-gateway>
set -euo pipefail

GW=${1:?usage: cli_gateway.sh <sg-gateway>}
# shellcheck source=/dev/null
source "${SG_SOURCE_DIR:?}/ci/redis-fixture.sh"

work=$(mktemp -d)
gw_pid=
cleanup() {
    if [[ -n $gw_pid ]] && kill -0 "$gw_pid" 2>/dev/null; then
        kill -KILL "$gw_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

fail() {
    echo "cli_gateway: $*" >&2
    for f in "$work"/*.err "$work"/*.out; do
        [[ -f $f ]] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
    done
    exit 1
}

# Waits up to 30 s for a line matching $2 in file $1.
wait_for() {
    local i
    for ((i = 0; i < 300; i++)); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "no '$2' in $1"
}

expect_exit() {
    local want=$1 rc=0
    shift
    "$@" >"$work/x.out" 2>"$work/x.err" </dev/null || rc=$?
    [[ $rc -eq $want ]] || fail "'$*' exited $rc, not $want"
}

# ---- usage and configuration -----------------------------------------------
expect_exit 0 "$GW" --help
grep -q SG_PLATFORMS "$work/x.out" || fail "--help does not name SG_PLATFORMS"
expect_exit 0 "$GW" --version
grep -q '^sg-gateway ' "$work/x.out" || fail "--version"
expect_exit 2 "$GW" --bogus
expect_exit 2 env SG_PLATFORMS=slack "$GW"
grep -q 'SG_PLATFORMS' "$work/x.err" || fail "SG_PLATFORMS not named"
expect_exit 2 env SG_BLOCK_MS=soon "$GW"
grep -q 'SG_BLOCK_MS' "$work/x.err" || fail "SG_BLOCK_MS not named"
expect_exit 2 env SG_PLATFORMS=http "$GW"
grep -q 'SG_HTTP_PLATFORM_WEBHOOK' "$work/x.err" || fail "webhook not named"
expect_exit 2 env SG_WEBCHAT_LISTEN=nowhere "$GW"
grep -q 'SG_WEBCHAT_LISTEN' "$work/x.err" || fail "listen not named"

sg_redis_start
export REDIS_URL=$SG_REDIS_URL SG_BLOCK_MS=100 SG_DRAIN_MS=2000
export SG_WEBCHAT_LISTEN=127.0.0.1:0 SG_METRICS_LISTEN=127.0.0.1:0
rcli() { redis-cli -h "$SG_REDIS_HOST" -p "$SG_REDIS_PORT" "$@"; }

# ---- webchat + console, stopped by SIGTERM ---------------------------------
mkfifo "$work/in"
SG_PLATFORMS=webchat,console "$GW" <"$work/in" >"$work/gw.out" \
    2>"$work/gw.err" &
gw_pid=$!
exec 3>"$work/in"               # keep the console's input open
wait_for "$work/gw.err" '^sg-gateway: ready$'
grep -q '^sg-gateway: metrics at http://127.0.0.1:[0-9]*/metrics$' \
    "$work/gw.err" || fail "no metrics banner"
web=$(sed -n 's|^sg-gateway: webchat at \(http://127.0.0.1:[0-9]*/\)$|\1|p' \
    "$work/gw.err")
[[ -n $web ]] || fail "no webchat banner"
[[ $(curl -s "${web}healthz") == ok ]] || fail "/healthz is not ok"

echo "hello from the console" >&3
for ((i = 0; i < 300; i++)); do
    [[ $(rcli XLEN sg:stream:inbound) -ge 1 ]] && break
    sleep 0.1
done
rcli --raw XRANGE sg:stream:inbound - + | grep -q 'hello from the console' ||
    fail "the console line is not on the inbound stream"

# An outbound message for channel console: {type, channel_id, text}.
printf '\x83\xa4type\xa7message\xaachannel_id\xa7console\xa4text\xa8hi there' |
    rcli -x XADD sg:stream:outbound:console '*' data >/dev/null
wait_for "$work/gw.out" '^bot: hi there$'

kill -TERM "$gw_pid"
rc=0
wait "$gw_pid" || rc=$?
gw_pid=
exec 3>&-
[[ $rc -eq 0 ]] || fail "exit $rc after SIGTERM"
[[ $(rcli XPENDING sg:stream:outbound:console sg:gateway:console |
    head -1) == 0 ]] || fail "entries left pending"

# ---- SIGINT ------------------------------------------------------------------
SG_PLATFORMS=webchat "$GW" </dev/null >"$work/int.out" 2>"$work/int.err" &
gw_pid=$!
wait_for "$work/int.err" '^sg-gateway: ready$'
kill -INT "$gw_pid"
rc=0
wait "$gw_pid" || rc=$?
gw_pid=
[[ $rc -eq 0 ]] || fail "exit $rc after SIGINT"

# ---- http: libcurl is loaded by the first webhook call, not at start ---------
# (nothing listens on port 1: the call fails, which is all this needs)
SG_PLATFORMS=http SG_HTTP_PLATFORM_WEBHOOK=http://127.0.0.1:1/hook \
    SG_HTTP_PLATFORM_TIMEOUT_MS=2000 "$GW" </dev/null >"$work/http.out" \
    2>"$work/http.err" &
gw_pid=$!
wait_for "$work/http.err" '^sg-gateway: ready$'
metrics=$(sed -n 's|^sg-gateway: metrics at \(http://.*/metrics\)$|\1|p' \
    "$work/http.err")
[[ -n $metrics ]] || fail "no metrics banner (http)"
if grep -q libcurl "/proc/$gw_pid/maps"; then
    fail "an idle gateway has libcurl loaded"
fi
printf '\x83\xa4type\xa7message\xaachannel_id\xa2h1\xa4text\xa2hi' |
    rcli -x XADD sg:stream:outbound:http '*' data >/dev/null
for ((i = 0; i < 300; i++)); do
    curl -s "$metrics" |
        grep -q '^sg_gateway_http_calls_total{platform="http"} [1-9]' && break
    sleep 0.1
done
grep -q libcurl "/proc/$gw_pid/maps" ||
    fail "libcurl is not loaded after a webhook call"
kill -TERM "$gw_pid"
rc=0
wait "$gw_pid" || rc=$?
gw_pid=
[[ $rc -eq 0 ]] || fail "exit $rc after SIGTERM (http)"

# ---- console alone: the end of input stops it --------------------------------
printf 'one line\n' >"$work/lines"
rc=0
SG_PLATFORMS=console timeout 60 "$GW" <"$work/lines" >"$work/eof.out" \
    2>"$work/eof.err" || rc=$?
[[ $rc -eq 0 ]] || fail "console-only gateway exited $rc at end of input"
grep -q '^sg-gateway: ready$' "$work/eof.err" || fail "never ready"

sg_redis_stop
echo "cli_gateway: ok"
