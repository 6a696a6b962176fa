# shellcheck shell=bash
#
# Redis fixture for shell scripts and shell tests: the shell twin of
# impl/internal/sg_redis_fixture.c. Source it, then:
#
#   sg_redis_start ['config line' ...]   start a private redis-server
#   sg_redis_restart                     stop it and start it again on the
#                                        same port, from the same folder
#   sg_redis_stop                        stop it and remove its folder
#
# sg_redis_start exports SG_REDIS_HOST (127.0.0.1), SG_REDIS_PORT,
# SG_REDIS_URL (redis://127.0.0.1:PORT), SG_REDIS_DIR and SG_REDIS_PID. Each
# argument is one extra redis.conf line, written after the fixture's own
# lines so that it can override them: 'appendonly yes' 'appendfsync always'
# make the data survive sg_redis_restart. One server per shell.
#
# The server runs from ${TMPDIR:-/tmp}/sg-redis-XXXXXX/, the same layout the
# C fixture uses (redis.conf, redis.log, redis.stderr, redis.pid,
# owner.pid). Cleanup:
#   - traps on EXIT, INT and TERM stop the server and remove the folder
#     (an EXIT trap the script already had still runs, after ours);
#   - if the shell is killed with SIGKILL, the server dies with it (it runs
#     under `setpriv --pdeathsig KILL` when util-linux's setpriv has that
#     option), and the folder stays until the next sg_redis_start, or the
#     C fixture's next start, sweeps it.
#
# Works under `set -euo pipefail`. Functions return non-zero with a message
# on stderr on failure.

SG_REDIS_STARTUP_SECONDS=${SG_REDIS_STARTUP_SECONDS:-5}

sg__redis_say() {
    printf 'redis-fixture: %s\n' "$*" >&2
}

# True if the pid names a process that has not exited (zombies count as
# exited: a dead server may wait a moment for its new parent to reap it).
sg__redis_alive() {
    local pid=${1:-} state
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    state=$(sed -n 's/.*) \(.\).*/\1/p' "/proc/$pid/stat" 2>/dev/null) ||
        state=
    [ "$state" != Z ]
}

sg__redis_root() {
    printf '%s\n' "${TMPDIR:-/tmp}"
}

# Removes sg-redis-* folders that nobody uses any more: owned by us, and
# whose owner.pid and redis.pid name no live process (or, without owner.pid,
# older than ten minutes).
sg__redis_sweep() {
    local dir owner server
    for dir in "$(sg__redis_root)"/sg-redis-??????; do
        if [ ! -d "$dir" ] || [ -L "$dir" ] || [ ! -O "$dir" ]; then
            continue
        fi
        owner=$(cat "$dir/owner.pid" 2>/dev/null) || owner=
        server=$(cat "$dir/redis.pid" 2>/dev/null) || server=
        if [ -z "$owner" ]; then
            [ -n "$(find "$dir" -maxdepth 0 -mmin +10 2>/dev/null)" ] ||
                continue
        elif sg__redis_alive "$owner" || sg__redis_alive "$server"; then
            continue
        fi
        rm -rf -- "$dir"
    done
}

sg__redis_log_tail() {
    local name
    for name in redis.stderr redis.log; do
        if [ -s "$SG_REDIS_DIR/$name" ]; then
            sg__redis_say "last lines of $name:"
            tail -n 5 "$SG_REDIS_DIR/$name" >&2
        fi
    done
}

sg__redis_write_conf() {
    local line
    {
        echo "# Written by ci/redis-fixture.sh; removed on stop."
        echo "port $SG_REDIS_PORT"
        echo "bind 127.0.0.1"
        echo "dir \"$SG_REDIS_DIR\""
        echo "daemonize no"
        echo "pidfile \"$SG_REDIS_DIR/redis.pid\""
        echo "logfile \"$SG_REDIS_DIR/redis.log\""
        echo 'save ""'
        echo "appendonly no"
        for line in "$@"; do
            printf '%s\n' "$line"
        done
    } >"$SG_REDIS_DIR/redis.conf"
}

# A port nobody listens on now. Someone may take it before the server
# binds it; sg_redis_start then tries another.
sg__redis_pick_port() {
    local port tries=0
    while [ $tries -lt 100 ]; do
        port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            printf '%s\n' "$port"
            return 0
        fi
        tries=$((tries + 1))
    done
    sg__redis_say "no free port found"
    return 1
}

# Runs the server from $SG_REDIS_DIR and waits for PONG from it (not from
# a stranger on the port: its INFO must report our pid).
# Returns 0 when ready, 2 if it exited, 3 if another server answered,
# 1 on timeout.
sg__redis_launch() {
    local conf="$SG_REDIS_DIR/redis.conf" deadline answer server_pid
    local -a runner=()
    if setpriv --help 2>/dev/null | grep -q -- --pdeathsig; then
        runner=(setpriv --pdeathsig KILL --)
    fi
    "${runner[@]}" redis-server "$conf" \
        <"/dev/null" >>"$SG_REDIS_DIR/redis.stderr" 2>&1 &
    SG_REDIS_PID=$!
    export SG_REDIS_PID

    deadline=$((SECONDS + SG_REDIS_STARTUP_SECONDS))
    while :; do
        if ! sg__redis_alive "$SG_REDIS_PID"; then
            wait "$SG_REDIS_PID" 2>/dev/null || true
            SG_REDIS_PID=
            return 2
        fi
        answer=$(redis-cli -h 127.0.0.1 -p "$SG_REDIS_PORT" ping \
            2>/dev/null) || answer=
        if [ "$answer" = PONG ]; then
            server_pid=$(redis-cli -h 127.0.0.1 -p "$SG_REDIS_PORT" \
                info server 2>/dev/null |
                sed -n 's/^process_id:\([0-9]*\).*/\1/p') || server_pid=
            [ "$server_pid" = "$SG_REDIS_PID" ] && return 0
            sg__redis_stop_process
            return 3
        fi
        if [ $SECONDS -ge $deadline ]; then
            sg__redis_stop_process
            return 1
        fi
        sleep 0.05
    done
}

sg__redis_stop_process() {
    local pid=${SG_REDIS_PID:-} i=0
    [ -n "$pid" ] || return 0
    # SIGTERM: Redis shuts down cleanly and flushes its append-only file.
    kill -TERM "$pid" 2>/dev/null || true
    while sg__redis_alive "$pid" && [ $i -lt 200 ]; do
        sleep 0.05
        i=$((i + 1))
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    SG_REDIS_PID=
}

sg__redis_on_exit() {
    sg_redis_stop || true
    if [ -n "${SG__REDIS_PREVIOUS_EXIT_TRAP:-}" ]; then
        eval "$SG__REDIS_PREVIOUS_EXIT_TRAP"
    fi
}

# The command of a trap, from `trap -p` output: trap -- 'command' SIGNAL,
# quoted for eval.
sg__redis_trap_command() {
    eval "set -- $1"
    printf '%s' "$3"
}

sg__redis_install_traps() {
    local previous
    [ -z "${SG__REDIS_TRAPS:-}" ] || return 0
    SG__REDIS_TRAPS=1
    previous=$(trap -p EXIT)
    if [ -n "$previous" ]; then
        SG__REDIS_PREVIOUS_EXIT_TRAP=$(sg__redis_trap_command "$previous")
    fi
    trap sg__redis_on_exit EXIT
    # exit runs the EXIT trap, which stops the server.
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

sg_redis_start() {
    local attempt rc root
    if [ -n "${SG_REDIS_PID:-}" ]; then
        sg__redis_say "a server is already running (pid $SG_REDIS_PID)"
        return 1
    fi
    if ! command -v redis-server >/dev/null 2>&1 ||
        ! command -v redis-cli >/dev/null 2>&1; then
        sg__redis_say "redis-server or redis-cli is not on PATH" \
            "(ci/bootstrap installs redis-server)"
        return 1
    fi
    sg__redis_install_traps
    sg__redis_sweep
    root=$(sg__redis_root)
    SG_REDIS_DIR=$(mktemp -d "$root/sg-redis-XXXXXX") || {
        sg__redis_say "cannot create a folder under $root"
        return 1
    }
    export SG_REDIS_DIR
    echo "$$" >"$SG_REDIS_DIR/owner.pid"

    for attempt in 1 2 3 4 5 6 7 8; do
        SG_REDIS_PORT=$(sg__redis_pick_port) || break
        sg__redis_write_conf "$@"
        rc=0
        sg__redis_launch || rc=$?
        if [ $rc -eq 0 ]; then
            export SG_REDIS_HOST=127.0.0.1 SG_REDIS_PORT
            export SG_REDIS_URL="redis://127.0.0.1:$SG_REDIS_PORT"
            return 0
        fi
        # Retry only when the port was taken; anything else will repeat.
        if [ $rc -eq 3 ] ||
            grep -q "already in use" "$SG_REDIS_DIR/redis.log" 2>/dev/null
        then
            : >"$SG_REDIS_DIR/redis.log"
            continue
        fi
        break
    done
    sg__redis_say "redis-server did not start (attempt $attempt)"
    sg__redis_log_tail
    sg_redis_stop
    return 1
}

sg_redis_restart() {
    local rc=0
    if [ -z "${SG_REDIS_DIR:-}" ]; then
        sg__redis_say "restart: no server was started"
        return 1
    fi
    sg__redis_stop_process
    # Same folder, same redis.conf, hence the same port and data.
    sg__redis_launch || rc=$?
    if [ $rc -ne 0 ]; then
        sg__redis_say "redis-server did not restart on port $SG_REDIS_PORT"
        sg__redis_log_tail
        return 1
    fi
}

sg_redis_stop() {
    sg__redis_stop_process
    case "${SG_REDIS_DIR:-}" in
        */sg-redis-??????) rm -rf -- "$SG_REDIS_DIR" ;;
    esac
    unset SG_REDIS_HOST SG_REDIS_PORT SG_REDIS_URL SG_REDIS_DIR SG_REDIS_PID
}
