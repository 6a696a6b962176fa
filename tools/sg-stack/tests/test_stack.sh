#!/usr/bin/env bash
# sg-test-labels: integration
#
# The one-command stack: sg-stack starts Redis, the mock LLM, a gateway
# and two workers; a message posted to the web chat is answered over
# Server-Sent Events, and a slow one shows the typing indicator first;
# Ctrl-C (SIGINT) stops everything and exits 0.
#
#   test_stack.sh <bin dir>

set -euo pipefail
bin=${1:?usage: test_stack.sh <bin dir>}
. "$(dirname "$0")/stack-lib.sh"

stack_start "$bin"

channel="web-test-$$"
events="$STACK_DIR/events"
# The reply arrives on the channel's event stream; listen first.
stack_listen "$channel" "$events"
stack_post "$channel" tester "ping $$"
stack_await "$events" "echo: ping $$" ||
    { cat "$events" >&2; stack_fail "no reply event within 30 s"; }

# A reply slower than the workers' typing delay (SG_LLM_TYPING_DELAY_MS,
# 500 ms) shows the typing indicator first: the mock LLM takes 1.5 s for
# this one.
llm_port=$(cat "$STACK_DIR/state/llm.port")
code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' \
    -d '{"rules":[{"match":"slowly","latency_ms":1500}]}' \
    "http://127.0.0.1:$llm_port/_mock/script")
[ "$code" = 200 ] || stack_fail "POST /_mock/script answered $code"
slow_events="$STACK_DIR/slow-events"
stack_listen "$channel" "$slow_events"
stack_post "$channel" tester "slowly $$"
stack_await "$slow_events" "echo: slowly $$" ||
    { cat "$slow_events" >&2
      stack_fail "no reply to the slow message within 30 s"; }
# typing, then the reply.
awk '/^event: typing/ && !t { t = NR } /echo: slowly/ { r = NR }
     END { exit !(t > 0 && t < r) }' "$slow_events" ||
    { cat "$slow_events" >&2
      stack_fail "no typing event before the slow reply"; }

# Both workers and the gateway are up and healthy.
[ "$(grep -c '^sg-inference-' "$STACK_DIR/state/pids")" -eq 2 ] ||
    stack_fail "expected two workers in the launcher's pid list"

stack_stop
echo "PASS: stack answered and stopped cleanly"
