# shellcheck shell=bash
#
# For the sg-stack tests: start the launcher in the background on free
# ports, wait for the chat page's address, stop it and check that nothing
# it started is left running.
#
#   stack_start <bin dir> [launcher options...]   sets STACK_PID, STACK_URL,
#                                                 STACK_DIR
#   stack_stop                                    SIGINT, then checks
#   stack_listen <channel> <file> [seconds]       the web chat's events of
#                                                 the channel into file
#   stack_post <channel> <user> <content>         POST /api/messages, 202
#   stack_await <file> <text> [seconds]           text in file, then the
#                                                 listener stops; 1 if not
#
# Needs SG_SOURCE_DIR (the repository) in the environment.

STACK_PID=
STACK_URL=
STACK_DIR=

stack_fail() {
    echo "FAIL: $*" >&2
    if [ -n "$STACK_DIR" ]; then
        for log in "$STACK_DIR"/*.log; do
            [ -f "$log" ] || continue
            echo "---- ${log##*/} (last 30 lines)" >&2
            tail -n 30 "$log" >&2
        done
    fi
    exit 1
}

stack_start() {
    local bin=$1 i
    shift
    STACK_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sg-stack-test-XXXXXX")
    # Job control on: a background job of a script ignores SIGINT
    # otherwise, and the launcher could not be stopped the way Ctrl-C does.
    set -m
    "$SG_SOURCE_DIR/tools/sg-stack/sg-stack" --bin-dir "$bin" \
        --listen 127.0.0.1:0 --state-dir "$STACK_DIR/state" \
        --url-file "$STACK_DIR/url" "$@" \
        >"$STACK_DIR/launcher.out" 2>"$STACK_DIR/launcher.log" &
    STACK_PID=$!
    set +m
    trap 'stack_cleanup' EXIT
    for ((i = 0; i < 1200; i++)); do
        [ -s "$STACK_DIR/url" ] && break
        kill -0 "$STACK_PID" 2>/dev/null ||
            { cat "$STACK_DIR/launcher.log" >&2
              STACK_DIR=$STACK_DIR/state stack_fail "the launcher exited"; }
        sleep 0.1
    done
    [ -s "$STACK_DIR/url" ] ||
        { cat "$STACK_DIR/launcher.log" >&2; stack_fail "no URL after 120 s"; }
    STACK_URL=$(cat "$STACK_DIR/url")
    echo "stack up at $STACK_URL"
}

STACK_LISTENER=

stack_listen() {
    curl -sS -N --max-time "${3:-30}" \
        "${STACK_URL%/}/api/events?channel_id=$1" >"$2" &
    STACK_LISTENER=$!
    sleep 0.5
}

stack_post() {
    local code
    code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST \
        -H 'Content-Type: application/json' \
        -d "{\"channel_id\":\"$1\",\"username\":\"$2\",\"content\":\"$3\"}" \
        "${STACK_URL%/}/api/messages")
    [ "$code" = 202 ] || stack_fail "POST /api/messages answered $code"
}

stack_await() {
    local i found=1
    for ((i = 0; i < ${3:-30} * 10; i++)); do
        grep -q "$2" "$1" && { found=0; break; }
        sleep 0.1
    done
    kill "$STACK_LISTENER" 2>/dev/null || true
    wait "$STACK_LISTENER" 2>/dev/null || true
    STACK_LISTENER=
    return $found
}

# Every pid the launcher recorded, redis-server included.
stack_pids() {
    awk '{print $2}' "$STACK_DIR/state/pids" 2>/dev/null
}

stack_stop() {
    local rc=0 pid left=
    kill -INT "$STACK_PID"
    wait "$STACK_PID" || rc=$?
    [ $rc -eq 0 ] ||
        { cat "$STACK_DIR/launcher.log" >&2
          stack_fail "the launcher exited $rc after SIGINT, not 0"; }
    for pid in $(stack_pids); do
        if kill -0 "$pid" 2>/dev/null; then
            left="$left $pid"
        fi
    done
    [ -z "$left" ] || stack_fail "still running after the stop:$left"
    STACK_PID=
}

stack_cleanup() {
    local pid
    if [ -n "$STACK_PID" ]; then
        kill -TERM "$STACK_PID" 2>/dev/null || true
        wait "$STACK_PID" 2>/dev/null || true
    fi
    for pid in $(stack_pids); do
        kill -KILL "$pid" 2>/dev/null || true
    done
    [ -z "$STACK_DIR" ] || rm -rf "$STACK_DIR"
}
