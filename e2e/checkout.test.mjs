// The buyer's checkout end to end in headless Chromium, as a desktop and as a phone: a
// business line creates a pay order over the signed API, the buyer opens its checkout_url,
// picks a method, pays in the embedded sandbox's wallet and sees the success page; the
// business API then says PAID and the business line receives a signed pay_order.paid.
//
//   desktop (PC):  WeChat Pay -> NATIVE QR code, "scanned" in the wallet;
//                  Alipay     -> PAGE pay, the wallet sends the browser back to the checkout;
//                  COMBINED   -> the buyer's balance part held, Alipay PAGE for the rest;
//                  BALANCE    -> paid from the balance at once.
//   phone (H5):    Alipay     -> WAP pay, back the same way;
//                  WeChat Pay -> H5 link to the wallet, then the buyer comes back by hand.
//
// Started by run.sh, which starts `paydesk serve` (with its embedded sandbox) and creates
// the business line; this script listens for its notifications on PAYDESK_E2E_NOTIFY_PORT.
import http from 'node:http';
import { businessApi, launchChromium, notificationSignatureOk, steps } from './lib.mjs';

const BASE = process.env.PAYDESK_E2E_BASE;
const SANDBOX = process.env.PAYDESK_E2E_SANDBOX;
const APP_ID = process.env.PAYDESK_E2E_APP_ID;
const SECRET = process.env.PAYDESK_E2E_SECRET;
const NOTIFY_PORT = Number(process.env.PAYDESK_E2E_NOTIFY_PORT);
const SHOP = `http://127.0.0.1:${NOTIFY_PORT}`;
const ART = new URL('./artifacts/', import.meta.url).pathname;
const RUN = Date.now().toString(36);

const IPHONE_UA = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 '
  + '(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const DESKTOP_UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 '
  + '(KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36';

const { step, expect, summary } = steps();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- the business line's side
// Signed calls to the business API (docs/signing.md).
const api = businessApi({ base: BASE, appId: APP_ID, secret: SECRET });

// Notifications (verified like examples/walkthrough.py) and a page for "Back to merchant".
const notifications = [];
const receiver = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    if (req.method === 'POST') {
      const body = Buffer.concat(chunks);
      const ok = notificationSignatureOk(SECRET, req.headers, body);
      let event = null;
      try { event = JSON.parse(body); } catch (_) { /* kept as null */ }
      notifications.push({ ok, event });
      res.writeHead(ok ? 200 : 401, { 'content-type': 'text/plain' });
      res.end(ok ? 'SUCCESS' : 'FAIL');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>Shop</title><h1 id="shop">Back at the shop</h1>');
  });
});
await new Promise((resolve) => receiver.listen(NOTIFY_PORT, '127.0.0.1', resolve));

async function createOrder(label, extra) {
  const no = `E2E-${RUN}-${label}`;
  const r = await api('POST', '/v1/pay-orders', {
    business_order_no: no,
    amount: 1999,
    currency: 'CNY',
    subject: `Used bike (${label})`,
    buyer_id: 'buyer-42',
    facts: { item_category: 'books' },
    return_url: `${SHOP}/shop/orders/${no}`,
    ...(extra || {}),
  });
  expect(r.status === 201, `create ${no}: ${r.status} ${r.text}`);
  expect(typeof r.body.checkout_url === 'string' && r.body.checkout_url.includes('/checkout/'), `checkout_url: ${r.text}`);
  return r.body;
}

async function expectPaidEverywhere(order) {
  const r = await api('GET', `/v1/pay-orders/${order.id}`);
  expect(r.status === 200 && r.body.status === 'PAID', `business API status: ${r.status} ${r.text}`);
  expect(r.body.amount === 1999 && r.body.currency === 'CNY', `amount unchanged: ${r.text}`);
  for (let i = 0; i < 100; i += 1) {
    const n = notifications.find((x) => x.event && x.event.type === 'pay_order.paid' && x.event.data && x.event.data.id === order.id);
    if (n) {
      expect(n.ok, 'pay_order.paid notification signature verifies');
      expect(n.event.data.status === 'PAID', `notification says PAID: ${JSON.stringify(n.event.data)}`);
      return;
    }
    await sleep(100);
  }
  throw new Error(`no pay_order.paid notification for ${order.id} within 10 s`);
}

// ---------------------------------------------------------------- the browser
const browser = await launchChromium();
const errors = [];
let current = null; // the page to screenshot on failure

async function device(name) {
  const opts = name === 'phone'
    ? { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, userAgent: IPHONE_UA }
    : { viewport: { width: 1280, height: 800 }, userAgent: DESKTOP_UA };
  const ctx = await browser.newContext(opts);
  ctx.setDefaultTimeout(15_000);
  ctx.on('page', (p) => watch(p, name));
  const page = await ctx.newPage();
  return { ctx, page, name };
}

function watch(page, name) {
  page.on('pageerror', (e) => errors.push(`${name}: ${e.message}`));
  page.on('console', (m) => {
    // Expected 4xx answers are logged by the browser as failed loads.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(`${name}: ${m.text()}`);
  });
}

const shot = (page, file) => page.screenshot({ path: `${ART}${file}.png`, fullPage: true });

// Opens the checkout and checks what every buyer must see before paying.
async function openCheckout(page, order, terminal) {
  const methods = [];
  const seen = page.waitForResponse((r) => r.url().includes('/options') && r.request().method() === 'GET');
  await page.goto(order.checkout_url);
  const options = await (await seen).json();
  expect(options.terminal === terminal, `terminal from the user agent: ${options.terminal}, want ${terminal}`);
  expect(options.status === 'WAITING', `status ${options.status}`);
  await page.locator('#pay-form').waitFor({ state: 'visible' });
  expect((await page.textContent('#subject')) === order.subject, 'subject shown');
  const amount = (await page.textContent('#amount')).trim();
  expect(amount.includes('19.99') && amount.includes('CNY'), `amount shown from the server: ${amount}`);
  const c1 = (await page.textContent('#countdown')).trim();
  expect(/^\d{2}:\d{2}$|^\d+:\d{2}:\d{2}$/.test(c1), `countdown mm:ss: ${c1}`);
  const toSeconds = (t) => t.split(':').reduce((s, p) => s * 60 + Number(p), 0);
  expect(Math.abs(toSeconds(c1) - options.seconds_left) <= 2, `countdown ${c1} from seconds_left ${options.seconds_left}`);
  for (const input of await page.$$('#methods input.method')) methods.push(await input.getAttribute('value'));
  const want = options.methods.map((m) => m.method);
  expect(methods.join() === want.join(), `methods in the server's order: ${methods} vs ${want}`);
  expect(methods.includes('WECHAT_PAY') && methods.includes('ALIPAY'), `WeChat Pay and Alipay offered: ${methods}`);
  const def = options.methods.find((m) => m.default);
  expect(def && (await page.isChecked(`.method[data-method="${def.method}"]`)), `default ${def && def.method} pre-selected`);
  return options;
}

async function choose(page, method) {
  await page.locator(`.method[data-method="${method}"]`).check();
  expect(await page.isChecked(`.method[data-method="${method}"]`), `${method} chosen`);
}

async function waitPaid(page) {
  await page.locator('#paid').waitFor({ state: 'visible', timeout: 30_000 });
  const text = await page.textContent('#paid');
  expect(text.includes('Payment successful'), `success text: ${text}`);
  expect(text.includes('19.99'), `success shows the amount: ${text}`);
}

let desktop;
let phone;
try {
  await step('a bad checkout token is a 404', async () => {
    const r = await fetch(`${BASE}/checkout/not-a-real-token/options`);
    expect(r.status === 404, `status ${r.status}`);
  });

  // ------------------------------------------------------------ desktop
  desktop = await device('desktop');
  current = desktop.page;

  await step('desktop: the checkout shows subject, amount, countdown and the methods', async () => {
    const order = await createOrder('desk-wx');
    desktop.wx = order;
    const options = await openCheckout(desktop.page, order, 'PC');
    const wx = options.methods.find((m) => m.method === 'WECHAT_PAY');
    expect(wx.provider === 'wechatpay' && wx.product === 'NATIVE', `PC WeChat Pay is NATIVE: ${JSON.stringify(wx)}`);
    const c1 = await desktop.page.textContent('#countdown');
    await sleep(2100);
    const c2 = await desktop.page.textContent('#countdown');
    expect(c1 !== c2, `countdown moves: ${c1} -> ${c2}`);
    const box = await desktop.page.locator('#card').boundingBox();
    expect(box.width >= 400 && box.width <= 520 && box.x > 300, `a centred card about 480px wide: ${JSON.stringify(box)}`);
    await shot(desktop.page, 'desktop-01-checkout');
  });

  await step('desktop: installments show their periods', async () => {
    const page = desktop.page;
    if (!(await page.$('.method[data-method="ALIPAY_INSTALLMENT"]'))) throw new Error('ALIPAY_INSTALLMENT not offered');
    await choose(page, 'ALIPAY_INSTALLMENT');
    await page.locator('#periods').waitFor({ state: 'visible' });
    const periods = await page.$$eval('#periods option', (os) => os.map((o) => o.value));
    expect(periods.join() === '3,6,12', `periods ${periods}`);
    await choose(page, 'WECHAT_PAY');
    await page.locator('#periods').waitFor({ state: 'hidden' });
  });

  await step('desktop: WeChat Pay shows a QR code that the sandbox wallet pays; the page says paid', async () => {
    const page = desktop.page;
    await choose(page, 'WECHAT_PAY');
    await page.click('#pay');
    const qr = page.locator('#qr[data-qr-content]');
    await qr.waitFor();
    const content = await qr.getAttribute('data-qr-content');
    expect(content.startsWith('weixin://wxpay/bizpayurl?pr='), `code_url: ${content}`);
    const img = page.locator('#qr img');
    const size = await img.boundingBox();
    expect(size && size.width >= 200, `QR large enough to scan: ${JSON.stringify(size)}`);
    expect(await img.evaluate((i) => i.complete && i.naturalWidth > 0), 'QR image decoded');
    await shot(page, 'desktop-02-wechat-qr');
    const wallet = await desktop.ctx.newPage();
    await wallet.goto(`${SANDBOX}/wallet/scan?code_url=${encodeURIComponent(content)}`);
    expect((await wallet.textContent('#amount')).trim() === '19.99', 'wallet shows the same amount');
    await Promise.all([wallet.waitForURL((u) => u.pathname.startsWith('/wallet/wechatpay/')), wallet.click('button.pay')]);
    expect((await wallet.textContent('#state')).trim() === 'SUCCESS', 'the wallet says paid');
    await shot(wallet, 'desktop-03-wechat-wallet-paid');
    await wallet.close();
    await waitPaid(page);
    await shot(page, 'desktop-04-wechat-paid');
    const back = page.locator('#back');
    expect((await back.getAttribute('href')) === desktop.wx.return_url, 'Back to merchant links the return URL');
    await expectPaidEverywhere(desktop.wx);
  });

  await step('desktop: Alipay goes to the wallet page and comes back paid', async () => {
    const page = desktop.page;
    const order = await createOrder('desk-ali');
    const options = await openCheckout(page, order, 'PC');
    const ali = options.methods.find((m) => m.method === 'ALIPAY');
    expect(ali.provider === 'alipay' && ali.product === 'PAGE', `PC Alipay is PAGE: ${JSON.stringify(ali)}`);
    await choose(page, 'ALIPAY');
    await Promise.all([page.waitForURL((u) => u.href.startsWith(SANDBOX)), page.click('#pay')]);
    await page.locator('button.pay').waitFor();
    await shot(page, 'desktop-05-alipay-wallet');
    await Promise.all([page.waitForURL((u) => u.href.startsWith(`${BASE}/checkout/`)), page.click('button.pay')]);
    await waitPaid(page);
    await shot(page, 'desktop-06-alipay-paid');
    await expectPaidEverywhere(order);
    await page.click('#back');
    await page.locator('#shop').waitFor();
  });

  await step('desktop: COMBINED holds the balance part, Alipay takes the rest in the wallet, the order shows both', async () => {
    const page = desktop.page;
    const buyer = `buyer-comb-${RUN}`;
    const credited = await api('POST', '/v1/ledger/credits', { business_credit_no: `E2E-${RUN}-C1`, user_id: buyer, amount_minor: 500 });
    expect(credited.status === 201 && credited.body.available_minor === 500, `credit: ${credited.status} ${credited.text}`);
    const order = await createOrder('desk-comb', { buyer_id: buyer });
    const options = await openCheckout(page, order, 'PC');
    const comb = options.methods.find((m) => m.method === 'COMBINED');
    expect(comb && comb.provider === 'alipay' && comb.product === 'PAGE', `PC COMBINED is balance + Alipay PAGE: ${JSON.stringify(options.methods)}`);
    expect(comb.balance_minor === 500 && comb.provider_minor === 1499, `the split: ${JSON.stringify(comb)}`);
    expect(!options.methods.some((m) => m.method === 'BALANCE'), 'BALANCE is not offered when the balance does not cover the order');
    const note = await page.textContent('label.method-option[data-method="COMBINED"]');
    expect(note.includes('5.00 from your balance') && note.includes('14.99 with Alipay'), `the method names both parts: ${note}`);
    await choose(page, 'COMBINED');
    const payReq = page.waitForRequest((r) => r.url().endsWith('/pay') && r.method() === 'POST');
    await Promise.all([page.waitForURL((u) => u.href.startsWith(SANDBOX)), page.click('#pay')]);
    const body = JSON.parse((await payReq).postData());
    expect(body.method === 'COMBINED' && body.balance_minor === 500, `pay request: ${JSON.stringify(body)}`);
    await page.locator('button.pay').waitFor();
    const wallet = await page.textContent('body');
    expect(wallet.includes('14.99') && !wallet.includes('19.99'), 'the wallet asks only for the Alipay part');
    const held = await api('GET', `/v1/ledger/balance?owner_id=${buyer}`);
    expect(held.body.available_minor === 0 && held.body.held_minor === 500, `balance held while Alipay is paid: ${held.text}`);
    await shot(page, 'desktop-06b-combined-wallet');
    await Promise.all([page.waitForURL((u) => u.href.startsWith(`${BASE}/checkout/`)), page.click('button.pay')]);
    await waitPaid(page);
    await page.locator('#paid-parts').waitFor({ state: 'visible' });
    const parts = await page.textContent('#paid-parts');
    expect(parts.includes('5.00 from your balance') && parts.includes('14.99 with Alipay'), `the paid page shows both parts: ${parts}`);
    await shot(page, 'desktop-06c-combined-paid');
    await expectPaidEverywhere(order);
    const r = await api('GET', `/v1/pay-orders/${order.id}`);
    const part = r.body.balance_part || {};
    expect(part.amount === 500 && part.provider_amount === 1499 && part.status === 'CAPTURED', `both parts on the order: ${r.text}`);
    const after = await api('GET', `/v1/ledger/balance?owner_id=${buyer}`);
    expect(after.body.available_minor === 0 && after.body.held_minor === 0, `the hold was captured: ${after.text}`);
  });

  await step('desktop: BALANCE pays the whole order at once when the balance covers it', async () => {
    const page = desktop.page;
    const buyer = `buyer-bal-${RUN}`;
    const credited = await api('POST', '/v1/ledger/credits', { business_credit_no: `E2E-${RUN}-C2`, user_id: buyer, amount_minor: 2500 });
    expect(credited.status === 201, `credit: ${credited.status} ${credited.text}`);
    const order = await createOrder('desk-bal', { buyer_id: buyer });
    const options = await openCheckout(page, order, 'PC');
    expect(options.methods.some((m) => m.method === 'BALANCE'), `BALANCE offered: ${JSON.stringify(options.methods)}`);
    await choose(page, 'BALANCE');
    await page.click('#pay');
    await waitPaid(page);
    const parts = await page.textContent('#paid-parts');
    expect(parts.includes('19.99 from your balance'), `paid from the balance: ${parts}`);
    await expectPaidEverywhere(order);
    const after = await api('GET', `/v1/ledger/balance?owner_id=${buyer}`);
    expect(after.body.available_minor === 501 && after.body.held_minor === 0, `balance charged once: ${after.text}`);
  });

  await step('desktop: Huabei installments send the chosen periods and pay through the wallet', async () => {
    const page = desktop.page;
    const order = await createOrder('desk-fq');
    // ?terminal= on the page URL is passed on to the API.
    const seen = page.waitForResponse((r) => r.url().includes('/options?terminal=H5'));
    await page.goto(`${order.checkout_url}?terminal=H5`);
    const h5 = await (await seen).json();
    expect(h5.terminal === 'H5', `terminal forwarded: ${h5.terminal}`);
    await openCheckout(page, order, 'PC');
    await choose(page, 'ALIPAY_INSTALLMENT');
    await page.selectOption('#periods', '6');
    const sent = page.waitForRequest((r) => r.url().endsWith('/pay') && r.method() === 'POST');
    await Promise.all([page.waitForURL((u) => u.href.startsWith(SANDBOX)), page.click('#pay')]);
    const body = JSON.parse((await sent).postData());
    expect(body.method === 'ALIPAY_INSTALLMENT' && body.installment_periods === 6 && body.terminal === 'PC',
      `pay request: ${JSON.stringify(body)}`);
    await Promise.all([page.waitForURL((u) => u.href.startsWith(`${BASE}/checkout/`)), page.click('button.pay')]);
    await waitPaid(page);
    await expectPaidEverywhere(order);
  });

  await step('desktop: a closed order\'s checkout says it is closed', async () => {
    const page = desktop.page;
    const order = await createOrder('desk-closed');
    const r = await api('POST', `/v1/pay-orders/${order.id}/close`);
    expect(r.status === 200 && r.body.status === 'CLOSED', `close: ${r.status} ${r.text}`);
    await page.goto(order.checkout_url);
    await page.locator('#closed').waitFor({ state: 'visible' });
    expect((await page.textContent('#closed')).includes('This order is closed'), 'closed text');
    expect(await page.locator('#pay-form').isHidden(), 'no pay form on a closed order');
    await shot(page, 'desktop-07-closed');
  });

  await step('desktop: an order closed while the page is open: Pay says it is closed', async () => {
    const page = desktop.page;
    const order = await createOrder('desk-race');
    await openCheckout(page, order, 'PC');
    const r = await api('POST', `/v1/pay-orders/${order.id}/close`);
    expect(r.status === 200, `close: ${r.status} ${r.text}`);
    const answer = page.waitForResponse((x) => x.url().endsWith('/pay'));
    await page.click('#pay');
    const res = await answer;
    expect(res.status() >= 400 && res.status() < 500, `pay on a closed order refused: ${res.status()}`);
    await page.locator('#closed').waitFor({ state: 'visible' });
  });

  await step('desktop: a refused payment shows the server\'s message and the buyer can retry', async () => {
    const page = desktop.page;
    const order = await createOrder('desk-refused');
    await openCheckout(page, order, 'PC');
    // The server's answer is stubbed once here (the limit itself is tested in the Rust suites).
    await page.route('**/pay', (route) => route.fulfill({
      status: 409, contentType: 'application/json',
      body: JSON.stringify({ code: 'TOO_MANY_ATTEMPTS', message: 'Too many payment attempts for this order.' }),
    }), { times: 1 });
    await page.click('#pay');
    await page.locator('#error').filter({ hasText: 'Too many payment attempts' }).waitFor();
    expect(await page.isEnabled('#pay'), 'Pay can be pressed again');
    await shot(page, 'desktop-08-error');
    await page.click('#pay');
    await page.locator('#qr[data-qr-content]').waitFor();
    expect(await page.locator('#error').isHidden(), 'the error goes away on success');
  });

  await step('desktop: a paid order\'s checkout says so when opened again', async () => {
    const page = desktop.page;
    await page.goto(desktop.wx.checkout_url);
    await waitPaid(page);
    expect(await page.locator('#pay-form').isHidden(), 'no pay form on a paid order');
  });

  // ------------------------------------------------------------ phone
  phone = await device('phone');
  current = phone.page;

  await step('phone: the checkout fits the screen with big touch targets', async () => {
    const order = await createOrder('phone-ali');
    phone.ali = order;
    await openCheckout(phone.page, order, 'H5');
    const page = phone.page;
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow <= 1, `no horizontal scroll (overflow ${overflow}px)`);
    const pay = await page.locator('#pay').boundingBox();
    expect(pay.height >= 44 && pay.width >= 300, `Pay button is a big target: ${JSON.stringify(pay)}`);
    const row = await page.locator('.method-option[data-method="ALIPAY"]').boundingBox();
    expect(row.height >= 44, `method rows are big targets: ${JSON.stringify(row)}`);
    await shot(page, 'phone-01-checkout');
  });

  await step('phone: Alipay (WAP) pays in the wallet and comes back paid', async () => {
    const page = phone.page;
    const order = phone.ali;
    await page.locator('.method-option[data-method="ALIPAY"]').tap();
    expect(await page.isChecked('.method[data-method="ALIPAY"]'), 'tapping the row chooses Alipay');
    await Promise.all([page.waitForURL((u) => u.href.startsWith(SANDBOX)), page.locator('#pay').tap()]);
    await page.locator('button.pay').waitFor();
    await shot(page, 'phone-02-alipay-wallet');
    await Promise.all([page.waitForURL((u) => u.href.startsWith(`${BASE}/checkout/`)), page.locator('button.pay').tap()]);
    await waitPaid(page);
    await shot(page, 'phone-03-alipay-paid');
    await expectPaidEverywhere(order);
  });

  await step('phone: WeChat Pay (H5) pays in the wallet; back on the checkout it says paid', async () => {
    const page = phone.page;
    const order = await createOrder('phone-wx');
    const options = await openCheckout(page, order, 'H5');
    const wx = options.methods.find((m) => m.method === 'WECHAT_PAY');
    expect(wx.provider === 'wechatpay' && wx.product === 'H5', `H5 WeChat Pay is H5: ${JSON.stringify(wx)}`);
    await choose(page, 'WECHAT_PAY');
    await Promise.all([page.waitForURL((u) => u.href.startsWith(SANDBOX)), page.locator('#pay').tap()]);
    await page.locator('button.pay').waitFor();
    await shot(page, 'phone-04-wechat-wallet');
    await Promise.all([page.waitForURL((u) => u.pathname.startsWith('/wallet/wechatpay/')), page.locator('button.pay').tap()]);
    expect((await page.textContent('#state')).trim() === 'SUCCESS', 'the wallet says paid');
    // WeChat's H5 page does not come back by itself: the buyer returns to the checkout.
    await page.goto(order.checkout_url);
    await waitPaid(page);
    await shot(page, 'phone-05-wechat-paid');
    await expectPaidEverywhere(order);
  });

  await step('no script errors on the pages', async () => {
    expect(errors.length === 0, errors.join(' | '));
  });
} catch (_) {
  if (current) await shot(current, 'checkout-failure').catch(() => {});
} finally {
  await browser.close();
  receiver.close();
}
const { line, failed, passed } = summary();
console.log(line);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
