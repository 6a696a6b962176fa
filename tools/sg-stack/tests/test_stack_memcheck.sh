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
stack_listen "$channel" "$STACK_DIR/events" 60
sleep 0.5
for n in 1 2 3; do
    stack_post "$channel" vg "m$n"
done
stack_await "$STACK_DIR/events" 'echo: m3' 60 ||
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
