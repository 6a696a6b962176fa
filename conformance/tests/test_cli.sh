#!/usr/bin/env bash
# sg-conform's command line without running a case: --list, --coverage,
# --dry-run, selection by ID and glob, exit codes, IUT file errors.
set -u
here=$(cd "$(dirname "$0")" && pwd)
bin=${SGC_BIN:-$PWD/../bin/sg-conform}
[ -x "$bin" ] || bin=$PWD/bin/sg-conform
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() {   # check <name> <expected rc> <command...>
    local name=$1 want=$2
    shift 2
    "$@" >"$tmp/out" 2>&1
    local rc=$?
    if [ "$rc" -ne "$want" ]; then
        echo "FAIL $name: exit $rc, want $want"
        sed 's/^/    /' "$tmp/out" | head -20
        fail=1
    else
        echo "ok   $name"
    fi
}
expect_out() {  # expect_out <name> <regex>
    if ! grep -Eq "$2" "$tmp/out"; then
        echo "FAIL $1: output lacks /$2/"
        sed 's/^/    /' "$tmp/out" | head -20
        fail=1
    fi
}

check list 0 "$bin" --list
expect_out list-worker '^worker\.inbound\.happy +worker'
expect_out list-gateway '^gateway\.send\.basic +gateway'
expect_out list-ids 'SG-IN-021'

check list-glob 0 "$bin" --list -c 'gateway.rpc.*'
expect_out list-glob-one '^gateway\.rpc\.methods'
if grep -q '^worker\.' "$tmp/out"; then
    echo "FAIL list-glob: a worker case was listed"; fail=1
fi

check list-exclude 0 "$bin" --list -c 'worker.*' -x 'worker.llm.*'
if grep -q '^worker\.llm' "$tmp/out"; then
    echo "FAIL list-exclude: an excluded case was listed"; fail=1
fi

check list-nothing 3 "$bin" --list -c 'no.such.case'

check coverage 0 "$bin" --coverage
expect_out coverage-table '^  CLAIM +[0-9]+ / [0-9]+'

check no-iut 2 "$bin"
check bad-option 2 "$bin" --frobnicate
check bad-scale 2 "$bin" --list --time-scale 0
check bad-timeout 2 "$bin" --list --timeout 0

printf '{"role": "fridge", "command": ["x"]}' >"$tmp/bad-role.json"
check bad-role 2 "$bin" --iut "$tmp/bad-role.json" --dry-run
expect_out bad-role-msg 'role'
printf '{"role": "worker"}' >"$tmp/no-cmd.json"
check no-command 2 "$bin" --iut "$tmp/no-cmd.json" --dry-run
expect_out no-command-msg 'command'
printf 'not json' >"$tmp/not-json.json"
check not-json 2 "$bin" --iut "$tmp/not-json.json" --dry-run
printf '{"role": "worker", "command": ["${NO_SUCH_VAR_SGC}/x"]}' \
    >"$tmp/unset.json"
check unset-var 2 "$bin" --iut "$tmp/unset.json" --dry-run
expect_out unset-var-msg 'NO_SUCH_VAR_SGC'

printf '{"role": "gateway", "command": ["/bin/true"]}' >"$tmp/gw.json"
check dry-run 0 "$bin" --iut "$tmp/gw.json" --dry-run -c 'gateway.send.*'
expect_out dry-run-plan 'would run gateway\.send\.basic'
if grep -q 'worker\.' "$tmp/out"; then
    echo "FAIL dry-run: a worker case planned for a gateway"; fail=1
fi
check dry-run-nothing 3 "$bin" --iut "$tmp/gw.json" --dry-run \
    -c 'worker.*'
check dry-run-repeat 0 "$bin" --iut "$tmp/gw.json" --dry-run \
    -c gateway.send.basic --repeat 3
expect_out dry-run-repeat-count '^3 runs planned'

exit $fail
