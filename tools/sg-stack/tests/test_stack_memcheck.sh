#!/usr/bin/env bash
#
# A short stack run with every C service under Valgrind memcheck: the
# gateway, two workers and the mock LLM answer a few web chat messages,
# stop on SIGINT, and each must report 0 errors and no leaks.
#
#   test_stack_memcheck.sh <bin dir>

set -euo pipefail
bin=${1:?usage: test_stack_memcheck.sh <bin dir>}
. "$(dirname "$0")/stack-lib.sh"
command -v valgrind >/dev/null 2>&1 || stack_fail "valgrind is missing"

vg_dir=$(mktemp -d "${TMPDIR:-/tmp}/sg-stack-vg-XXXXXX")
wrap="valgrind --error-exitcode=99 --leak-check=full"
wrap="$wrap --errors-for-leak-kinds=definite,indirect,possible"
wrap="$wrap --show-leak-kinds=definite,indirect,possible"
wrap="$wrap --log-file=$vg_dir/vg-%p.log"

stack_start "$bin" --wrap "$wrap" --ready-timeout 120

channel="web-vg-$$"
curl -sS -N --max-time 60 \
    "${STACK_URL%/}/api/events?channel_id=$channel" >"$STACK_DIR/events" &
curl_pid=$!
sleep 1
for n in 1 2 3; do
    curl -sS -o /dev/null -f -X POST -H 'Content-Type: application/json' \
        -d "{\"channel_id\":\"$channel\",\"username\":\"vg\",\"content\":\"m$n\"}" \
        "${STACK_URL%/}/api/messages" || stack_fail "POST $n failed"
done
for ((i = 0; i < 600; i++)); do
    grep -q 'echo: m3' "$STACK_DIR/events" && break
    sleep 0.1
done
kill "$curl_pid" 2>/dev/null || true
wait "$curl_pid" 2>/dev/null || true
grep -q 'echo: m3' "$STACK_DIR/events" ||
    { cat "$STACK_DIR/events" >&2; stack_fail "no reply under valgrind"; }

stack_stop

logs=("$vg_dir"/vg-*.log)
[ -f "${logs[0]}" ] || stack_fail "valgrind wrote no log"
bad=0
for log in "${logs[@]}"; do
    # setpriv exec()s the service under the same pid: one log per service.
    if ! grep -q 'ERROR SUMMARY: 0 errors' "$log"; then
        echo "---- $log" >&2; cat "$log" >&2; bad=1
    fi
    if grep -Eq '(definitely|indirectly|possibly) lost: [1-9]' "$log"; then
        echo "---- $log" >&2; cat "$log" >&2; bad=1
    fi
done
rm -rf "$vg_dir"
[ $bad -eq 0 ] || stack_fail "memcheck found errors or leaks"
echo "PASS: ${#logs[@]} services, 0 errors, 0 leaks"
