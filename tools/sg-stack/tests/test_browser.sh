#!/usr/bin/env bash
# sg-test-labels: integration browser
#
# The web chat page in headless Chromium: the stack from sg-stack, then
# browser/chat-test.mjs types a message, clicks send and waits for the
# reply on the page.
#
#   test_browser.sh <bin dir>

set -euo pipefail
bin=${1:?usage: test_browser.sh <bin dir>}
here=$(cd "$(dirname "$0")" && pwd)
browser_dir="$here/../browser"
. "$here/stack-lib.sh"

chromium=${SG_CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] ||
    stack_fail "$chromium is missing (Debian package chromium; ci/bootstrap installs it)"
command -v node >/dev/null 2>&1 ||
    stack_fail "node is missing (Debian package nodejs; ci/bootstrap installs it)"
[ -d "$browser_dir/node_modules/playwright-core" ] ||
    stack_fail "playwright-core is missing (ci/bootstrap runs npm ci in tools/sg-stack/browser)"

stack_start "$bin"
node "$browser_dir/chat-test.mjs" "$STACK_URL" "$STACK_DIR/chat.png" ||
    stack_fail "the browser did not see the reply"
stack_stop
echo "PASS: the chat page answered in a real browser"
