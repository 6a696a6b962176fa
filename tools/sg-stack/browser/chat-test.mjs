// The web chat page in a real browser: headless Chromium, driven by
// playwright-core, opens the page sg-gateway serves, sends a message and
// waits for the worker's reply to appear.
//
//   node chat-test.mjs <chat page URL> [screenshot.png]
//
// Environment: SG_CHROMIUM (default /usr/bin/chromium), SG_BROWSER_TIMEOUT_MS
// (default 30000). Exit status 0 when the reply was seen, 1 otherwise, with
// the page's console and the failure on stderr.

import { chromium } from 'playwright-core';

const url = process.argv[2];
const shot = process.argv[3];
if (!url) {
    console.error('usage: node chat-test.mjs <chat page URL> [screenshot.png]');
    process.exit(2);
}
const executablePath = process.env.SG_CHROMIUM || '/usr/bin/chromium';
const timeout = Number(process.env.SG_BROWSER_TIMEOUT_MS || 30000);

const browser = await chromium.launch({
    executablePath,
    headless: true,
    // Root in a container has no user namespaces for Chromium's sandbox.
    args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
let failed = false;
const consoleLines = [];
try {
    const page = await browser.newPage();
    page.setDefaultTimeout(timeout);
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));

    await page.goto(url, { waitUntil: 'load' });
    const text = `hello from the browser ${Date.now()}`;
    await page.fill('#message-input', text);
    await page.click('#send-button');

    // The user's own line, then the reply. The mock LLM answers
    // "echo: <text>", a real model anything non-empty.
    await page.locator('#messages .message.user', { hasText: text })
        .first().waitFor();
    const reply = page.locator('#messages .message.bot').first();
    await reply.waitFor();
    const replyText = (await reply.innerText()).trim();
    if (replyText.length === 0) {
        throw new Error('the reply line is empty');
    }
    if (!process.env.SG_LLM_REAL && !replyText.includes(text)) {
        throw new Error(`expected the mock LLM's echo of "${text}", ` +
                        `got "${replyText}"`);
    }
    // Typing stops once the reply is there.
    await page.locator('#typing').waitFor({ state: 'hidden' });
    if (shot) {
        await page.screenshot({ path: shot, fullPage: true });
    }
    console.log(`chat-test: sent "${text}", got "${replyText}"`);
} catch (e) {
    failed = true;
    console.error(`chat-test: FAILED: ${e.message}`);
    for (const line of consoleLines) {
        console.error(`chat-test: page ${line}`);
    }
} finally {
    await browser.close();
}
process.exit(failed ? 1 : 0);
