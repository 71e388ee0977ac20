// Shared by the e2e scripts: the business line's side of the signed API (docs/signing.md)
// and of its notifications, and Chromium as run.sh provides it.
import { chromium } from 'playwright-core';
import crypto from 'node:crypto';

// A client for the business API, signed with the business line's secret: `api(method,
// target, body)` -> `{status, body (parsed JSON or null), text}`.
export function businessApi({ base, appId, secret }) {
  return async function api(method, target, body) {
    const data = body === undefined ? '' : JSON.stringify(body);
    const ts = Math.floor(Date.now() / 1000).toString();
    const nonce = crypto.randomBytes(16).toString('hex');
    const sig = crypto.createHmac('sha256', secret)
      .update(`${method}\n${target}\n${ts}\n${nonce}\n${data}\n`).digest('base64');
    const res = await fetch(base + target, {
      method,
      headers: {
        authorization: `PAYDESK-HMAC-SHA256 app_id="${appId}",timestamp="${ts}",nonce="${nonce}",signature="${sig}"`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : data,
    });
    const text = await res.text();
    let json = null;
    try { json = JSON.parse(text); } catch (_) { /* not JSON */ }
    return { status: res.status, body: json, text };
  };
}

// Whether a notification paydesk sent (headers and raw body) carries the business line's
// signature (verified like examples/walkthrough.py).
export function notificationSignatureOk(secret, headers, body) {
  const ts = headers['paydesk-timestamp'] || '';
  const nonce = headers['paydesk-nonce'] || '';
  const want = crypto.createHmac('sha256', secret)
    .update(Buffer.concat([Buffer.from(`${ts}\n${nonce}\n`), body, Buffer.from('\n')])).digest('base64');
  const got = headers['paydesk-signature'] || '';
  return got.length === want.length && crypto.timingSafeEqual(Buffer.from(got), Buffer.from(want));
}

// Debian's headless Chromium (CHROMIUM, set by run.sh).
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// A new page of `browser` signed in to the console at `base` with an operator `token`;
// page errors and console errors (other than the browser's own failed-load lines, which
// expected 4xx answers produce) are pushed to `errors`; dialogs are accepted.
export async function consolePage(browser, base, token, errors, viewport) {
  const page = await browser.newPage({ viewport });
  page.setDefaultTimeout(10_000);
  page.on('dialog', (d) => d.accept());
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  await page.goto(`${base}/console`);
  await page.fill('#token', token);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#app').waitFor({ state: 'visible' });
  return page;
}

// A script's steps: `step(name, fn)` runs and reports one (`ok - name` or `FAILED - name:
// why`, then rethrows), `expect(cond, msg)` asserts, `summary()` is the closing
// `N passed, M failed` line run.sh sums.
export function steps() {
  let passed = 0;
  let failed = 0;
  return {
    async step(name, fn) {
      try {
        await fn();
        passed += 1;
        console.log(`ok - ${name}`);
      } catch (e) {
        failed += 1;
        console.log(`FAILED - ${name}: ${String(e && e.message).split('\n')[0]}`);
        throw e;
      }
    },
    expect(cond, msg) {
      if (!cond) throw new Error(msg);
    },
    summary() {
      return { line: `${passed} passed, ${failed} failed`, passed, failed };
    },
  };
}
