// The console's Ledger and Payouts views in headless Chromium. run.sh tops up the
// `secondhand` line's payout funding account (`paydesk ledger fund`, 1,000.00 CNY); this
// script pays two platform payouts through the business API and the embedded sandbox: an
// Alipay one (succeeds at once) and a WeChat one (waits for the user to confirm). The
// Ledger view shows the funding account with its balance, that it ties out, and its
// statement (the payout charge above the top-up); the payout's entry shows both sides. The
// Payouts view shows both with their status and the provider's live state; an admin
// retries the one in flight (same number, still waiting), a viewer sees no Retry button.
import { businessApi, consolePage, launchChromium, steps } from './lib.mjs';

const BASE = process.env.PAYDESK_E2E_BASE;
const TOKEN = process.env.PAYDESK_E2E_TOKEN;
const VIEWER = process.env.PAYDESK_E2E_VIEWER;
const APP_ID = process.env.PAYDESK_E2E_APP_ID;
const SECRET = process.env.PAYDESK_E2E_SECRET;
// The top-up run.sh made (minor units), less what earlier scripts spent from it (the
// checkout script credits buyers' balances from the same funding account): read below.
let FUNDED = 100_000;
// Minor units as the console shows CNY: `1,234.56 CNY` (integer arithmetic).
const cny = (minor) => `${String(Math.trunc(minor / 100)).replace(/\B(?=(\d{3})+(?!\d))/g, ',')}.${String(minor % 100).padStart(2, '0')} CNY`;
const ART = new URL('./artifacts/', import.meta.url).pathname;
const RUN = Date.now().toString(36);
const ALIPAY_USER = '2088000011112222';
const OPENID = 'oLedgerE2eOpenid00000000001';

const { step, expect, summary } = steps();
const api = businessApi({ base: BASE, appId: APP_ID, secret: SECRET });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitPayout(id, wanted) {
  let last = null;
  for (let i = 0; i < 150; i += 1) {
    const r = await api('GET', `/v1/payouts/${id}`);
    last = r.body;
    if (r.status === 200 && r.body.status === wanted) return r.body;
    await sleep(200);
  }
  throw new Error(`payout ${id} did not become ${wanted}: ${JSON.stringify(last)}`);
}

const browser = await launchChromium();
const errors = [];
const signedIn = (token, viewport) => consolePage(browser, BASE, token, errors, viewport);
const text = async (locator) => (await locator.textContent()).trim();

let alipay = null;
let wechat = null;
try {
  await step('the funding account\'s balance before the payouts, from the admin API', async () => {
    const r = await fetch(`${BASE}/admin/v1/ledger/accounts?kind=PLATFORM_FUNDING&currency=CNY`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const body = await r.json();
    expect(r.status === 200 && body.accounts.length === 1, `funding account: ${r.status} ${JSON.stringify(body)}`);
    FUNDED = body.accounts[0].balance_minor;
    expect(Number.isInteger(FUNDED) && FUNDED > 1234, `funded: ${FUNDED}`);
  });

  await step('two platform payouts through the business API: Alipay succeeds, WeChat waits for the user', async () => {
    const a = await api('POST', '/v1/payouts', { business_payout_no: `E2E-ALI-${RUN}`, provider: 'alipay',
      recipient: ALIPAY_USER, amount_minor: 1234, currency: 'CNY', remark: 'e2e reward' });
    expect(a.status === 201, `alipay payout: ${a.status} ${a.text}`);
    const w = await api('POST', '/v1/payouts', { business_payout_no: `E2E-WX-${RUN}`, provider: 'wechatpay',
      recipient: OPENID, amount_minor: 567, currency: 'CNY', remark: 'e2e reward' });
    expect(w.status === 201, `wechat payout: ${w.status} ${w.text}`);
    alipay = await waitPayout(a.body.id, 'SUCCEEDED');
    wechat = await waitPayout(w.body.id, 'WAIT_USER_CONFIRM');
  });

  const page = await signedIn(TOKEN, { width: 1280, height: 900 });

  await step('the Ledger view lists the funding account with its balance', async () => {
    await page.click('#nav a[data-view="ledger"]');
    await page.locator('#ledger-accounts tbody tr[data-account]').first().waitFor();
    await page.selectOption('#ledger-kind', 'PLATFORM_FUNDING');
    await page.selectOption('#ledger-currency', 'CNY');
    await page.click('#ledger-go');
    await page.waitForFunction(() => {
      const rows = document.querySelectorAll('#ledger-accounts tbody tr[data-account]');
      return rows.length > 0 && [...rows].every((r) => r.dataset.kind === 'PLATFORM_FUNDING');
    });
    const rows = page.locator('#ledger-accounts tbody tr[data-kind="PLATFORM_FUNDING"]');
    expect(await rows.count() === 1, `one funding account: ${await rows.count()}`);
    // Only the Alipay payout is charged: the WeChat one is still in flight.
    const balance = await text(rows.first().locator('td[data-label="Balance"]'));
    expect(balance === cny(FUNDED - 1234), `funding balance shown: ${balance}, want ${cny(FUNDED - 1234)}`);
    await page.screenshot({ path: `${ART}ledger-01-accounts.png`, fullPage: true });
  });

  await step('opening the account shows its balance, that it ties out, and its statement', async () => {
    await page.click('#ledger-accounts tbody tr[data-kind="PLATFORM_FUNDING"] a.open-account');
    await page.locator('#ledger-account').waitFor({ state: 'visible' });
    await page.locator('#ledger-statement tbody tr[data-entry]').first().waitFor();
    expect(await text(page.locator('#ledger-balance')) === cny(FUNDED - 1234), 'balance');
    expect(await page.getAttribute('#ledger-account-info', 'data-ties-out') === 'true', 'ties out');
    expect((await text(page.locator('#ledger-account-info'))).includes('ties out'), 'ties out shown');
    const lines = await page.$$eval('#ledger-statement tbody tr[data-entry]', (rows) => rows.map((r) => ({
      kind: r.dataset.entryKind,
      amount: r.querySelector('td[data-label="Amount"]').textContent,
      after: r.querySelector('td[data-label="Balance after"]').textContent,
      reference: r.querySelector('td[data-label="Reference"]').textContent,
    })));
    // The top-up, the credits earlier scripts gave buyers from it, then the payout charge.
    expect(lines[0].kind === 'PAYOUT' && lines[0].amount === '-12.34 CNY' && lines[0].after === cny(FUNDED - 1234)
      && lines[0].reference === alipay.id, `the payout charge first: ${JSON.stringify(lines[0])}`);
    const last = lines[lines.length - 1];
    expect(last.kind === 'FUNDING' && last.amount === '1,000.00 CNY', `the top-up first of all: ${JSON.stringify(last)}`);
    expect(lines.slice(1, -1).every((l) => l.kind === 'CREDIT'), `only credits between: ${JSON.stringify(lines)}`);
    await page.screenshot({ path: `${ART}ledger-02-statement.png`, fullPage: true });
  });

  await step('opening the payout entry shows both sides, summing to zero', async () => {
    await page.click('#ledger-statement tbody tr[data-entry-kind="PAYOUT"] a.open-entry');
    await page.locator('#ledger-entry').waitFor({ state: 'visible' });
    await page.locator('#ledger-entry-lines tbody tr[data-line]').first().waitFor();
    const lines = await page.$$eval('#ledger-entry-lines tbody tr[data-line]', (rows) => rows.map((r) => ({
      kind: r.querySelector('td[data-label="Kind"]').textContent,
      owner: r.querySelector('td[data-label="Owner"]').textContent,
      amount: r.querySelector('td[data-label="Amount"]').textContent,
    })));
    expect(lines.length === 2, `two lines: ${JSON.stringify(lines)}`);
    expect(lines.some((l) => l.kind === 'PLATFORM_FUNDING' && l.amount === '-12.34 CNY'), `funding side: ${JSON.stringify(lines)}`);
    expect(lines.some((l) => l.kind === 'EXTERNAL' && l.owner === 'ali-main' && l.amount === '12.34 CNY'), `external side: ${JSON.stringify(lines)}`);
    const info = await text(page.locator('#ledger-entry-info'));
    expect(info.includes('Lines sum to zero') && info.includes('yes'), `balanced: ${info}`);
    // The other side opens as an account of its own.
    await page.click('#ledger-entry-lines tbody tr a.open-account >> nth=1');
    await page.waitForFunction(() => document.querySelector('#ledger-account-id').textContent !== '');
    await page.screenshot({ path: `${ART}ledger-03-entry.png`, fullPage: true });
  });

  await step('the Payouts view shows both payouts with status, provider state, amount and destination', async () => {
    await page.click('#nav a[data-view="payouts"]');
    const ali = page.locator(`#payouts-table tr[data-payout="${alipay.id}"]`);
    const wx = page.locator(`#payouts-table tr[data-payout="${wechat.id}"]`);
    await ali.waitFor();
    await wx.waitFor();
    expect(await ali.getAttribute('data-status') === 'SUCCEEDED', 'alipay SUCCEEDED');
    expect(await text(ali.locator('td[data-label="Amount"]')) === '12.34 CNY', 'alipay amount');
    expect((await text(ali.locator('td[data-label="Destination"]'))).includes(ALIPAY_USER), 'alipay recipient');
    expect(await ali.locator('button.retry').count() === 0, 'no retry on a final payout');
    expect(await wx.getAttribute('data-status') === 'WAIT_USER_CONFIRM', 'wechat waits');
    expect(await text(wx.locator('td[data-label="Amount"]')) === '5.67 CNY', 'wechat amount');
    // Asked live: the provider says the bill waits for the user too.
    const live = await text(wx.locator('td[data-label="Provider says"] code.live-state'));
    expect(live === 'WAIT_USER_CONFIRM', `provider state: ${live}`);
    expect(await wx.locator('button.retry').count() === 1, 'retry offered on a payout in flight');
    await page.screenshot({ path: `${ART}ledger-04-payouts.png`, fullPage: true });
  });

  await step('an admin retries the payout in flight: same number, still waiting, audited', async () => {
    await page.click(`#payouts-table tr[data-payout="${wechat.id}"] button.retry`);
    await page.waitForFunction((id) => document.querySelector('#status').textContent.includes(id)
      && document.querySelector('#status').textContent.includes('WAIT_USER_CONFIRM'), wechat.id);
    const after = await api('GET', `/v1/payouts/${wechat.id}`);
    expect(after.body.status === 'WAIT_USER_CONFIRM' && after.body.payout_no === wechat.payout_no,
      `same number, same state: ${after.text}`);
    const audit = await page.evaluate(async () => (await fetch('/admin/v1/audit?limit=50')).json());
    expect(audit.entries.some((e) => e.action === 'payout.retry' && e.target === wechat.id), 'the retry is in the audit log');
  });

  await step('a viewer reads the Ledger and Payouts views but gets no Retry button', async () => {
    const viewer = await signedIn(VIEWER, { width: 390, height: 844 });
    await viewer.click('#nav a[data-view="ledger"]');
    await viewer.locator('#ledger-accounts tbody tr[data-account]').first().waitFor();
    await viewer.click('#nav a[data-view="payouts"]');
    await viewer.locator(`#payouts-table tr[data-payout="${wechat.id}"]`).waitFor();
    expect(await viewer.locator('#payouts-table button.retry').count() === 0, 'no retry for a viewer');
    await viewer.screenshot({ path: `${ART}ledger-05-viewer-phone.png`, fullPage: true });
    await viewer.close();
  });

  await step('the business line cancels the waiting payout; the console shows it CANCELLED', async () => {
    const c = await api('POST', `/v1/payouts/${wechat.id}/cancel`);
    expect(c.status === 200 || c.status === 202, `cancel: ${c.status} ${c.text}`);
    await waitPayout(wechat.id, 'CANCELLED');
    await page.selectOption('#payouts-status', 'CANCELLED');
    await page.click('#payouts-go');
    await page.locator(`#payouts-table tr[data-payout="${wechat.id}"][data-status="CANCELLED"]`).waitFor();
    expect(await page.locator('#payouts-table tbody tr[data-payout]').count() === 1, 'the status filter applies');
  });

  await step('no script errors on any page', async () => {
    expect(errors.length === 0, `errors: ${errors.join(' | ')}`);
  });
} catch (_) {
  // The failing step printed itself.
} finally {
  await browser.close();
  const { line, failed, passed } = summary();
  console.log(line);
  process.exit(failed === 0 && passed > 0 ? 0 : 1);
}
