// "Has this buyer paid?" in the console, end to end in headless Chromium: a business line
// creates two pay orders over the signed API; one is paid through the checkout JSON API and
// the sandbox, the other is paid with a wrong amount (the sandbox's amount fault), so paydesk
// flags it and refunds it. Then an admin looks the first up in the console by business order
// number, attempt number, provider transaction id and pay order id (PAID; the attempt
// SUCCEEDED and the provider's live answer SUCCEEDED side by side; the pay_order.paid
// notification and its try; the raw callback with its outcome), a miss says not found, the
// flagged list links to the second order (WAITING, AMOUNT_MISMATCH, the disagreement
// highlighted, the automatic refund), the page works at phone width, and a viewer can use
// the lookup too.
//
// Started by run.sh (after checkout.test.mjs, whose notification receiver is closed by then:
// this script listens on PAYDESK_E2E_NOTIFY_PORT itself).
import http from 'node:http';
import { businessApi, launchChromium, notificationSignatureOk, steps } from './lib.mjs';

const BASE = process.env.PAYDESK_E2E_BASE;
const SANDBOX = process.env.PAYDESK_E2E_SANDBOX;
const TOKEN = process.env.PAYDESK_E2E_TOKEN;
const VIEWER = process.env.PAYDESK_E2E_VIEWER;
const SECRET = process.env.PAYDESK_E2E_SECRET;
const NOTIFY_PORT = Number(process.env.PAYDESK_E2E_NOTIFY_PORT);
const ART = new URL('./artifacts/', import.meta.url).pathname;
const RUN = Date.now().toString(36);
const api = businessApi({ base: BASE, appId: process.env.PAYDESK_E2E_APP_ID, secret: SECRET });

const { step, expect, summary } = steps();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, fn, ms = 20_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(150);
  }
}

// The business line's notification endpoint: acknowledges correctly signed notifications.
const notifications = [];
const receiver = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const ok = notificationSignatureOk(SECRET, req.headers, body);
    let event = null;
    try { event = JSON.parse(body); } catch (_) { /* kept as null */ }
    notifications.push({ ok, event });
    res.writeHead(ok ? 200 : 401, { 'content-type': 'text/plain' });
    res.end(ok ? 'SUCCESS' : 'FAIL');
  });
});
await new Promise((resolve) => receiver.listen(NOTIFY_PORT, '127.0.0.1', resolve));

// The admin API with a bearer credential (to wait for the flow to settle before looking).
async function admin(path, token = TOKEN) {
  const r = await fetch(`${BASE}/admin/v1${path}`, { headers: { authorization: `Bearer ${token}` } });
  return { status: r.status, body: await r.json().catch(() => null) };
}

// A pay order paid with WeChat Pay (PC: NATIVE) through the checkout JSON API and the
// sandbox's control API; `sandboxBody` is the pay action's body (e.g. a wrong amount).
async function orderPaidThroughSandbox(label, sandboxBody) {
  const no = `E2E-${RUN}-${label}`;
  const created = await api('POST', '/v1/pay-orders', {
    business_order_no: no, amount: 1999, currency: 'CNY', subject: `Lookup test (${label})`,
    buyer_id: 'buyer-7', facts: { item_category: 'books' },
  });
  expect(created.status === 201, `create ${no}: ${created.status} ${created.text}`);
  const order = created.body;
  const token = new URL(order.checkout_url).pathname.split('/').pop();
  const pay = await fetch(`${BASE}/checkout/${token}/pay`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ method: 'WECHAT_PAY', terminal: 'PC' }),
  });
  const payBody = await pay.json();
  expect(pay.ok && payBody.attempt_no, `checkout pay: ${pay.status} ${JSON.stringify(payBody)}`);
  const paid = await fetch(`${SANDBOX}/sandbox/orders/wechatpay/${payBody.attempt_no}/pay`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(sandboxBody || {}),
  });
  expect(paid.ok, `sandbox pay: ${paid.status} ${await paid.text()}`);
  return { no, order, attemptNo: payBody.attempt_no };
}

const browser = await launchChromium();
const errors = [];
let current = null;
async function signedInPage(token, who, viewport) {
  const ctx = await browser.newContext({ viewport: viewport || { width: 1280, height: 900 } });
  ctx.setDefaultTimeout(15_000);
  const page = await ctx.newPage();
  page.on('pageerror', (e) => errors.push(`${who}: ${e.message}`));
  page.on('console', (m) => {
    // The 404 of a miss is logged by the browser as a failed load; anything else (a CSP
    // violation included) is an error.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(`${who}: ${m.text()}`);
  });
  await page.goto(`${BASE}/console`);
  await page.fill('#token', token);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#app').waitFor({ state: 'visible' });
  current = page;
  return { ctx, page };
}
const shot = (page, name) => page.screenshot({ path: `${ART}lookup-${name}.png`, fullPage: true });

// Types a query into the search box and waits for the answer (an order or "not found").
async function search(page, q) {
  await page.evaluate(() => document.getElementById('lookup-result').replaceChildren());
  await page.fill('#lookup-q', q);
  await page.click('#lookup-go');
  await page.locator('#order-card, #lookup-notfound:not(.hidden), #lookup-error:not(:empty)').first().waitFor();
}
async function text(page, sel) { return ((await page.textContent(sel)) || '').replace(/\s+/g, ' ').trim(); }

// Everything the operator must see for the paid order.
async function expectPaidOrder(page, a) {
  expect((await text(page, '#order-status')) === 'PAID', `big status PAID: ${await text(page, '#order-status')}`);
  expect((await text(page, '#order-amount')) === '19.99 CNY', `amount: ${await text(page, '#order-amount')}`);
  expect((await text(page, '#order-business-no')) === a.no, 'business order number shown');
  expect((await text(page, '#order-id')) === a.order.id, 'pay order id shown');
  const row = page.locator(`#attempts-table tr[data-attempt="${a.attemptNo}"]`);
  await row.waitFor();
  const ours = await text(page, `#attempts-table tr[data-attempt="${a.attemptNo}"] td.our-status`);
  const live = await text(page, `#attempts-table tr[data-attempt="${a.attemptNo}"] td.live-status`);
  expect(ours.startsWith('SUCCEEDED'), `our status: ${ours}`);
  expect(live.startsWith('SUCCEEDED'), `the provider's live answer: ${live}`);
  expect(live.includes('SUCCESS'), `the provider's own word (trade_state): ${live}`);
  expect(!(await row.getAttribute('class') || '').includes('disagree'), 'no disagreement highlighted');
  expect((await text(page, '#attempts-summary')).includes('agree'), 'summary says they agree');
  const paidNote = page.locator('#notifications-table tr[data-event-type="pay_order.paid"]');
  expect(await paidNote.count() === 1, 'the pay_order.paid notification is listed');
  const cb = await text(page, '#callbacks-table tbody tr:first-child td.outcome');
  expect(cb.startsWith('APPLIED'), `the callback's outcome: ${cb}`);
}

let desktop;
let A;
let B;
try {
  await step('setup: an order paid through the checkout API and the sandbox; another paid with a wrong amount', async () => {
    A = await orderPaidThroughSandbox('lookup-paid');
    B = await orderPaidThroughSandbox('lookup-mismatch', { amount: 1 });
    await until('order A PAID', async () => (await api('GET', `/v1/pay-orders/${A.order.id}`)).body?.status === 'PAID');
    await until('the pay_order.paid notification', () => notifications.some((n) => n.ok && n.event?.type === 'pay_order.paid' && n.event.data?.id === A.order.id));
    // Settled: the delivery try and the callback's outcome are recorded.
    const settled = await until('the lookup API to show the delivery and the callback outcome', async () => {
      const r = await admin(`/lookup?q=${encodeURIComponent(A.no)}&no_live=true`);
      const note = r.body?.notifications?.find((n) => n.type === 'pay_order.paid');
      const cb = r.body?.provider_callbacks?.find((c) => c.outcome?.startsWith('APPLIED'));
      return note?.status === 'DELIVERED' && cb ? r.body : null;
    });
    A.txn = settled.attempts[0].attempt.provider_txn_id;
    expect(A.txn, 'the provider transaction id is recorded');
    await until('order B flagged AMOUNT_MISMATCH', async () => (await admin('/flagged-attempts')).body?.attempts?.some((x) => x.attempt_no === B.attemptNo && x.flag === 'AMOUNT_MISMATCH'));
  });

  desktop = await signedInPage(TOKEN, 'admin');

  await step('the admin opens Payments from the navigation; the flagged list shows the wrong amount', async () => {
    const page = desktop.page;
    expect(await page.locator('#view-rules').isVisible(), 'the rules view is the default');
    await page.click('#nav a[data-view=payments]');
    await page.locator('#view-payments').waitFor({ state: 'visible' });
    expect(await page.locator('#view-rules').isHidden(), 'the rules view is hidden');
    expect((await page.getAttribute('#nav a[data-view=payments]', 'aria-current')) === 'page', 'the tab is marked current');
    const row = page.locator(`#flagged-table tr[data-attempt="${B.attemptNo}"]`);
    await row.waitFor();
    expect((await row.getAttribute('data-flag')) === 'AMOUNT_MISMATCH', 'flag shown');
    const rowText = (await row.textContent()).replace(/\s+/g, ' ');
    expect(rowText.includes('19.99 CNY') && rowText.includes('0.01 CNY'), `asked and reported amounts: ${rowText}`);
  });

  await step('search by business order number: PAID, SUCCEEDED next to the provider\'s SUCCEEDED, notification and callback', async () => {
    const page = desktop.page;
    await search(page, A.no);
    await expectPaidOrder(page, A);
    expect((await text(page, '#lookup-matched')).includes('business order number'), 'matched by business order number');
    expect(decodeURIComponent(new URL(page.url()).hash).includes(A.no), `the search is in the URL: ${page.url()}`);
    const note = await text(page, '#notifications-table tr[data-event-type="pay_order.paid"]');
    expect(note.includes('DELIVERED') && note.includes('HTTP 200'), `delivered, with its try: ${note}`);
    // The raw body is collapsed until opened.
    const details = page.locator('#callbacks-table tbody tr:first-child details.raw');
    expect(!(await details.evaluate((d) => d.open)), 'the raw body starts collapsed');
    await details.locator('summary').click();
    const body = await text(page, '#callbacks-table tbody tr:first-child details.raw pre');
    expect(body.includes('resource') && body.includes('ciphertext'), `the raw WeChat callback body: ${body.slice(0, 80)}`);
    await shot(page, '01-by-business-order-no');
  });

  await step('search by attempt number (out_trade_no), by transaction id and by pay order id: the same order', async () => {
    const page = desktop.page;
    for (const [q, how] of [[A.attemptNo, 'attempt number'], [A.txn, 'provider transaction id'], [A.order.id, 'pay order id']]) {
      await search(page, q);
      expect((await text(page, '#lookup-matched')).includes(how), `matched by ${how}: ${await text(page, '#lookup-matched')}`);
      await expectPaidOrder(page, A);
      if (how === 'attempt number') await shot(page, '02-by-attempt-no');
    }
  });

  await step('a miss says not found', async () => {
    const page = desktop.page;
    await search(page, `no-such-order-${RUN}`);
    await page.locator('#lookup-notfound').waitFor({ state: 'visible' });
    expect((await text(page, '#lookup-notfound')).startsWith('Not found'), 'not found text');
    expect(await page.locator('#order-card').count() === 0, 'no order shown');
    await shot(page, '03-not-found');
  });

  await step('the flagged row opens its lookup: WAITING, the flag, the disagreement highlighted, the refund', async () => {
    const page = desktop.page;
    await page.click(`#flagged-table tr[data-attempt="${B.attemptNo}"] a`);
    await page.locator('#order-card').waitFor();
    expect((await page.inputValue('#lookup-q')) === B.attemptNo, 'the search box shows the attempt number');
    expect((await text(page, '#order-status')) === 'WAITING', `a wrong amount never pays the order: ${await text(page, '#order-status')}`);
    expect((await text(page, '#lookup-flags')).includes('AMOUNT_MISMATCH'), 'the flag is explained');
    const row = page.locator(`#attempts-table tr[data-attempt="${B.attemptNo}"]`);
    expect((await row.getAttribute('class') || '').includes('disagree'), 'the attempt row is highlighted');
    expect(await row.locator('td.mismatch').count() >= 1, 'the disagreeing cells are marked');
    const agree = (await row.textContent()).replace(/\s+/g, ' ');
    expect(agree.includes('Disagree') && agree.includes('0.01 CNY'), `what disagrees: ${agree}`);
    await page.locator('#refunds-table tr[data-kind="AMOUNT_MISMATCH"]').waitFor();
    await shot(page, '04-flagged-amount-mismatch');
    await page.goBack();
    await page.locator('#lookup-notfound').waitFor({ state: 'visible' });
  });

  await step('at phone width the answer fits the screen', async () => {
    const page = desktop.page;
    await page.setViewportSize({ width: 390, height: 844 });
    await search(page, A.no);
    await expectPaidOrder(page, A);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow <= 1, `no page-wide horizontal scroll (overflow ${overflow}px)`);
    const status = await page.locator('#order-status').boundingBox();
    expect(status && status.height >= 36, `the status is big: ${JSON.stringify(status)}`);
    await shot(page, '05-phone');
    await page.goto(`${BASE}/console#payments`);
    await page.locator(`#flagged-table tr[data-attempt="${B.attemptNo}"]`).waitFor();
    const overflow2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow2 <= 1, `flagged list: no page-wide horizontal scroll (overflow ${overflow2}px)`);
    await shot(page, '06-phone-flagged');
  });

  await step('a viewer can use the lookup', async () => {
    const viewer = await signedInPage(VIEWER, 'viewer');
    const page = viewer.page;
    expect((await text(page, '#who')).includes('(viewer)'), 'signed in as a viewer');
    await page.click('#nav a[data-view=payments]');
    await search(page, A.attemptNo);
    await expectPaidOrder(page, A);
    const api = await admin(`/lookup?q=${encodeURIComponent(A.no)}&no_live=true`, VIEWER);
    expect(api.status === 200 && api.body.pay_order.status === 'PAID', `viewer bearer lookup: ${api.status}`);
    await shot(page, '07-viewer');
    await viewer.ctx.close();
    current = desktop.page;
  });

  await step('no script errors on the page', async () => {
    expect(errors.length === 0, errors.join(' | '));
  });
} catch (_) {
  if (current) await shot(current, 'failure').catch(() => {});
} finally {
  await browser.close();
  receiver.close();
}
const { line, failed, passed } = summary();
console.log(line);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
