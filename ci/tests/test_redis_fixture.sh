#!/usr/bin/env bash
# sg-test-labels: integration
#
# Tests of ci/redis-fixture.sh, checked with redis-cli.

set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
fixture="$here/../redis-fixture.sh"
# shellcheck source=ci/redis-fixture.sh
. "$fixture"

# A private TMPDIR: the sweep tests below leave stale folders on purpose,
# which a fixture started by a test running beside this one must not sweep.
private_tmp=$(mktemp -d "${TMPDIR:-/tmp}/sg-fixture-test-XXXXXX")
trap 'rm -rf -- "$private_tmp"' EXIT
export TMPDIR=$private_tmp

passed=0
failed=0

check() {
    local what=$1
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok - $what"
    else
        failed=$((failed + 1))
        echo "not ok - $what"
    fi
}

cli() {
    redis-cli -h 127.0.0.1 -p "$SG_REDIS_PORT" "$@"
}

dead() {
    ! sg__redis_alive "$1"
}

# --- start, PING, SET/GET, extra config ---

sg_redis_start 'maxmemory-policy noeviction'
check "start exports the URL" \
    [ "$SG_REDIS_URL" = "redis://127.0.0.1:$SG_REDIS_PORT" ]
check "start creates the folder" [ -f "$SG_REDIS_DIR/redis.conf" ]
check "PING answers PONG" [ "$(cli ping)" = PONG ]
cli set sg:shell hello >/dev/null
check "SET then GET" [ "$(cli get sg:shell)" = hello ]
check "extra config is applied" \
    [ "$(cli config get maxmemory-policy | tail -n 1)" = noeviction ]

# --- restart without persistence ---

port=$SG_REDIS_PORT
old_pid=$SG_REDIS_PID
sg_redis_restart
check "restart keeps the port" [ "$SG_REDIS_PORT" = "$port" ]
check "restart runs a new process" [ "$SG_REDIS_PID" != "$old_pid" ]
check "restart without persistence loses data" \
    [ -z "$(cli get sg:shell)" ]

# --- stop ---

dir=$SG_REDIS_DIR
pid=$SG_REDIS_PID
sg_redis_stop
check "stop removes the folder" [ ! -e "$dir" ]
check "stop ends the server" dead "$pid"
check "stop unsets the variables" [ -z "${SG_REDIS_PORT:-}" ]

# --- restart with persistence ---

sg_redis_start 'appendonly yes' 'appendfsync always'
cli set sg:kept across-restart >/dev/null
sg_redis_restart
check "restart with persistence keeps data" \
    [ "$(cli get sg:kept)" = across-restart ]
sg_redis_stop

# --- cleanup by the traps ---

# A script that starts a server and ends (or is stopped) without calling
# sg_redis_stop. It prints its pid, the folder and the server's pid, then
# waits if asked to.
# shellcheck disable=SC2016 # expanded by the child, not here
child_script='
    . "$1"
    sg_redis_start
    echo "$$ $SG_REDIS_DIR $SG_REDIS_PID"
    if [ "$2" = wait ]; then
        while :; do sleep 0.05; done
    fi
'

# $(...) returns at end of output, that is once the child has exited.
read -r _ dir pid <<<"$(bash -c "$child_script" child "$fixture" exit)"
check "EXIT trap removes the folder" [ ! -e "$dir" ]
check "EXIT trap ends the server" dead "$pid"

# Wait on state, not time: the child prints its folder once it is ready.
exec 3< <(bash -c "$child_script" child "$fixture" wait)
read -r child dir pid <&3
kill -TERM "$child"
exec 3<&-
for _ in $(seq 200); do
    [ -e "$dir" ] || break
    sleep 0.05
done
check "TERM trap removes the folder" [ ! -e "$dir" ]
check "TERM trap ends the server" dead "$pid"

# SIGKILL leaves no chance to clean up: the server must die with the shell
# (setpriv --pdeathsig) and the folder is swept by the next start.
exec 3< <(bash -c "$child_script" child "$fixture" wait)
read -r child dir pid <&3
kill -KILL "$child"
exec 3<&-
for _ in $(seq 200); do
    sg__redis_alive "$pid" || break
    sleep 0.05
done
if setpriv --help 2>/dev/null | grep -q -- --pdeathsig; then
    check "KILL of the shell ends the server" dead "$pid"
fi
check "KILL leaves the folder" [ -d "$dir" ]
sg_redis_start
check "next start sweeps the stale folder" [ ! -e "$dir" ]
sg_redis_stop

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
