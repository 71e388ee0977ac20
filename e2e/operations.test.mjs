// The console's operations views in headless Chromium, after checkout.test.mjs and
// lookup.test.mjs have made real sandbox payments: the dashboard counts them (desktop and
// phone); an admin rotates the business line's secret with an overlap (old and new both
// accepted by the API) and adds a business line; the audit log names the operator; a
// viewer sees no admin controls and the server refuses the admin action anyway. Also: an
// admin adds a merchant account from key files (the sandbox made the merchant), tests its
// connection and sees a rule route to it; reconciles today's bills and resolves a real
// difference (a payment the sandbox charged again at another amount) with a reason.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { businessApi, consolePage, launchChromium, steps } from './lib.mjs';

const BASE = process.env.PAYDESK_E2E_BASE;
const TOKEN = process.env.PAYDESK_E2E_TOKEN;
const VIEWER = process.env.PAYDESK_E2E_VIEWER;
const APP_ID = process.env.PAYDESK_E2E_APP_ID;
const SECRET = process.env.PAYDESK_E2E_SECRET;
const SANDBOX = process.env.PAYDESK_E2E_SANDBOX;
const DATA = process.env.PAYDESK_E2E_DATA;
const SERVE_LOG = process.env.PAYDESK_E2E_SERVE_LOG;
// Secrets seen in this run; none may be in clear in the database files or the log.
const secrets = [];
const ART = new URL('./artifacts/', import.meta.url).pathname;
const RUN = Date.now().toString(36);

const { step, expect, summary } = steps();

// 404 for an unknown order when the signature is accepted, 401 when it is not.
async function probe(secret) {
  const api = businessApi({ base: BASE, appId: APP_ID, secret });
  return (await api('GET', '/v1/pay-orders/po_00000000000000000000000000000000')).status;
}

const browser = await launchChromium();
const errors = [];
const signedIn = (token, viewport) => consolePage(browser, BASE, token, errors, viewport);
const count = async (page, key) => Number(await page.textContent(`#dash-counts [data-count="${key}"] strong`));

try {
  const page = await signedIn(TOKEN, { width: 1280, height: 900 });

  await step('the dashboard counts the sandbox payments made by the checkout tests', async () => {
    await page.click('#nav a[data-view="dashboard"]');
    await page.locator('#dash-counts [data-count="waiting"]').waitFor();
    await page.locator('#dash-methods tbody tr[data-group]').first().waitFor();
    const groups = await page.$$eval('#dash-methods tbody tr[data-group]', (rows) => rows.map((r) => ({
      key: r.dataset.group,
      paid: Number(r.querySelector('td[data-label="Paid"]').textContent),
    })));
    const paid = groups.reduce((n, g) => n + g.paid, 0);
    expect(groups.some((g) => g.key === 'wechatpay/WECHAT_PAY' && g.paid > 0), `a WeChat payment counted: ${JSON.stringify(groups)}`);
    expect(groups.some((g) => g.key === 'alipay/ALIPAY' && g.paid > 0), `an Alipay payment counted: ${JSON.stringify(groups)}`);
    // The same figure the API gives, so the page is not showing something else.
    const api = await page.evaluate(async () => (await fetch('/admin/v1/dashboard?hours=24&bucket_minutes=60')).json());
    const want = api.rows.reduce((n, r) => n + r.paid, 0);
    expect(paid === want && want > 0, `dashboard shows ${paid} paid, the API says ${want}`);
    const lines = await page.$$eval('#dash-lines tbody tr[data-group] td[data-label="Business line"]', (c) => c.map((x) => x.textContent));
    expect(lines.includes('secondhand'), `by business line: ${lines}`);
    expect(await page.locator('#dash-chart svg rect.bar').count() === 24, 'one bar per hour');
    expect(await count(page, 'duplicate') >= 0 && await count(page, 'outbox') >= 0, 'counts shown');
    await page.screenshot({ path: `${ART}ops-01-dashboard.png`, fullPage: true });
  });

  await step('the dashboard works on a phone', async () => {
    const phone = await signedIn(TOKEN, { width: 390, height: 844 });
    await phone.goto(`${BASE}/console#dashboard`);
    await phone.locator('#dash-methods tbody tr[data-group]').first().waitFor();
    const width = await phone.evaluate(() => document.documentElement.scrollWidth);
    expect(width <= 390, `no sideways scrolling on a phone (page is ${width}px wide)`);
    await phone.screenshot({ path: `${ART}ops-02-dashboard-phone.png`, fullPage: true });
    await phone.close();
  });

  await step('the order search lists secondhand\'s paid orders and a row opens its lookup', async () => {
    await page.click('#nav a[data-view="payments"]');
    await page.locator('#search-line option', { hasText: 'secondhand' }).waitFor({ state: 'attached' });
    await page.selectOption('#search-line', { label: 'secondhand' });
    await page.selectOption('#search-status', 'PAID');
    await page.click('#search-go');
    const rows = page.locator('#search-table tbody tr[data-order]');
    await rows.first().waitFor();
    const statuses = await page.$$eval('#search-table tbody tr[data-order] td[data-label="Status"]', (c) => c.map((x) => x.textContent));
    expect(statuses.length >= 3 && statuses.every((x) => x === 'PAID'), `paid orders only: ${statuses}`);
    const id = await rows.first().getAttribute('data-order');
    await rows.first().locator('a').click();
    await page.locator('#lookup-result').filter({ hasText: id }).waitFor();
    await page.screenshot({ path: `${ART}ops-01b-order-search.png`, fullPage: true });
  });

  let newSecret = '';
  await step('an admin rotates the secondhand secret with an overlap: old and new both work', async () => {
    expect(await probe(SECRET) === 404, 'the original secret works before');
    await page.click('#nav a[data-view="lines"]');
    const row = page.locator('#lines-table tr[data-line="secondhand"]');
    await row.waitFor();
    await row.locator('select.overlap').selectOption('24');
    await row.locator('button.rotate').click();
    await page.locator('#shown-secret').waitFor();
    newSecret = (await page.textContent('#shown-secret')).trim();
    expect(newSecret.startsWith('sk_') && newSecret !== SECRET, 'a new secret is shown once');
    secrets.push(['business-line secret', SECRET], ['rotated business-line secret', newSecret]);
    await page.locator('#lines-table tr[data-line="secondhand"] td[data-label="Old secret accepted until"]')
      .filter({ hasNotText: '—' }).waitFor();
    expect(await probe(newSecret) === 404, 'the new secret is accepted');
    expect(await probe(SECRET) === 404, 'the old secret is still accepted during the overlap');
    expect(await probe('sk_wrong') === 401, 'a wrong secret is refused');
    await page.screenshot({ path: `${ART}ops-03-secret-rotated.png`, fullPage: true });
  });

  await step('an admin adds a business line from the console', async () => {
    await page.fill('#line-name', `marketplace-${RUN}`);
    await page.fill('#line-notify', 'http://127.0.0.1:9/notify');
    await page.click('#line-add');
    await page.locator(`#lines-table tr[data-line="marketplace-${RUN}"]`).waitFor();
    expect((await page.textContent('#lines-secret')).includes(`marketplace-${RUN}`), 'its secret is shown once');
    secrets.push(['added business-line secret', (await page.textContent('#shown-secret')).trim()]);
    const listed = await page.evaluate(async () => (await fetch('/admin/v1/business-lines')).text());
    expect(!listed.includes(newSecret) && !listed.includes('"secret"'), 'the list never carries a secret');
  });

  await step('the audit log names the operator and holds no secret', async () => {
    await page.click('#nav a[data-view="audit"]');
    const row = page.locator('#audit-table tr[data-action="business_line.rotate_secret"]').first();
    await row.waitFor();
    expect((await row.locator('td[data-label="Who"]').textContent()) === 'operator:e2e-admin', 'operator named');
    const text = await page.textContent('#audit-table');
    expect(!text.includes(newSecret) && !text.includes(SECRET), 'no secret in the audit log');
    await page.screenshot({ path: `${ART}ops-04-audit.png`, fullPage: true });
  });

  const accountId = `ali-e2e-${RUN}`;
  await step('an admin adds an Alipay merchant account from key files; its connection test passes', async () => {
    const made = await fetch(`${SANDBOX}/sandbox/merchants`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ provider: 'alipay' }),
    });
    expect(made.status === 201, `the sandbox made a merchant (${made.status})`);
    const m = await made.json();
    for (const line of m.app_private_key_pem.split('\n').filter((l) => l.length >= 40 && !l.startsWith('-----'))) {
      secrets.push(['Alipay app private key', line]);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'paydesk-keys-'));
    const privateFile = path.join(dir, 'app_private_key.pem');
    const publicFile = path.join(dir, 'alipay_public_key.pem');
    fs.writeFileSync(privateFile, m.app_private_key_pem);
    fs.writeFileSync(publicFile, m.alipay_public_key_pem);
    await page.click('#nav a[data-view="accounts"]');
    await page.locator('#accounts-table tr[data-account="ali-main"]').waitFor();
    await page.selectOption('#acc-provider', 'alipay');
    await page.fill('#acc-id', accountId);
    await page.fill('#acc-gateway_url', m.gateway_url);
    await page.fill('#acc-app_id', m.app_id);
    await page.fill('#acc-seller_id', m.seller_id);
    await page.setInputFiles('#acc-app_private_key', privateFile);
    await page.setInputFiles('#acc-alipay_public_key', publicFile);
    await page.click('#account-add');
    const row = page.locator(`#accounts-table tr[data-account="${accountId}"]`);
    await row.waitFor();
    expect((await row.locator('td[data-label="Status"]').textContent()) === 'ACTIVE', 'active and in use');
    await row.locator('button.test').click();
    await row.locator('.test-result').filter({ hasText: /^OK/ }).waitFor();
    fs.rmSync(dir, { recursive: true, force: true });
    const listed = await page.evaluate(async () => (await fetch('/admin/v1/merchant-accounts')).text());
    expect(!listed.includes('PRIVATE KEY') && !listed.includes(m.app_private_key_pem.slice(40, 80)), 'no key material in the list');
    await page.screenshot({ path: `${ART}ops-05-merchant-account-added.png`, fullPage: true });
  });

  await step('a rule routing to the new account is published; the account shows it', async () => {
    const draft = await page.evaluate(async () => (await fetch('/admin/v1/rules/draft')).json());
    draft.rules.business_rules.push({
      id: 'seller-e2e', name: 'e2e seller on its own Alipay account', priority: 100,
      when: { fact: 'seller_id', equals: 'e2e-seller' },
      then: { routes: [{ method: 'ALIPAY', terminals: ['PC'], merchant_account: accountId, product: 'PAGE' }] },
    });
    const published = await page.evaluate(async (rules) => {
      const r = await fetch('/admin/v1/rules/publish', {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-paydesk-console': '1' },
        body: JSON.stringify({ rules, comment: 'route the e2e seller to its own Alipay account' }),
      });
      return { status: r.status, body: await r.text() };
    }, draft.rules);
    expect(published.status === 201, `published: ${published.status} ${published.body}`);
    await page.click('#accounts-reload');
    await page.locator(`#accounts-table tr[data-account="${accountId}"] td[data-label="Used by rules"]`)
      .filter({ hasText: 'seller-e2e' }).waitFor();
  });

  await step('reconciling today finds a real difference; the admin resolves it with a reason', async () => {
    // A payment paydesk recorded, charged again at the sandbox at another amount: the
    // provider's bill now disagrees with paydesk.
    const orders = await (await fetch(`${SANDBOX}/sandbox/orders?provider=wechatpay&status=PAID`)).json();
    expect(orders.length > 0, 'a paid WeChat order from the checkout tests');
    const o = orders[0];
    const forced = await fetch(`${SANDBOX}/sandbox/orders/wechatpay/${o.out_trade_no}/pay`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ force: true, amount: o.total + 100 }),
    });
    expect(forced.status === 200, `forced payment (${forced.status})`);
    const today = new Date(Date.now() + 8 * 3600e3).toISOString().slice(0, 10);
    await page.click('#nav a[data-view="reconcile"]');
    await page.fill('#recon-date', today);
    await page.click('#recon-run');
    const run = page.locator(`#recon-runs tr[data-account="wx-main"][data-date="${today}"]`);
    await run.waitFor();
    expect((await run.locator('td[data-label="Ties out"]').textContent()) === 'yes', 'totals tie out');
    const diff = page.locator('#recon-diffs tr[data-kind="AMOUNT_DIFFERS"]').first();
    await diff.waitFor();
    expect((await diff.textContent()).includes(o.out_trade_no), 'the difference names the attempt');
    await page.screenshot({ path: `${ART}ops-06-reconciliation.png`, fullPage: true });
    const csv = await page.evaluate(async (href) => (await fetch(href)).text(), await run.locator('a.csv').getAttribute('href'));
    expect(csv.includes(o.out_trade_no) && csv.includes('AMOUNT_DIFFERS'), 'the CSV lists it');
    await diff.locator('input.reason').fill('second charge refunded by hand, ticket E2E-1');
    await diff.locator('button.resolve').click();
    await page.selectOption('#recon-state', 'RESOLVED');
    await page.locator('#recon-diffs tr[data-kind="AMOUNT_DIFFERS"]')
      .filter({ hasText: 'ticket E2E-1' }).first().waitFor();
    await page.click('#nav a[data-view="audit"]');
    await page.click('#audit-reload');
    await page.locator('#audit-table tr[data-action="reconciliation.resolve"] td[data-label="Who"]')
      .filter({ hasText: 'operator:e2e-admin' }).first().waitFor();
  });

  await step('a viewer sees no admin controls, and the server refuses the action anyway', async () => {
    const viewer = await signedIn(VIEWER, { width: 1280, height: 900 });
    await viewer.goto(`${BASE}/console#lines`);
    await viewer.locator('#lines-table tr[data-line="secondhand"]').waitFor();
    expect(await viewer.locator('#lines-table button.rotate').count() === 0, 'no rotate button for a viewer');
    expect(await viewer.locator('#line-form').isHidden(), 'no add form for a viewer');
    const status = await viewer.evaluate(async () => {
      const lines = await (await fetch('/admin/v1/business-lines')).json();
      const id = lines.business_lines.find((l) => l.name === 'secondhand').id;
      const r = await fetch(`/admin/v1/business-lines/${id}/rotate-secret`, {
        method: 'POST', headers: { 'content-type': 'application/json', 'x-paydesk-console': '1' },
        body: JSON.stringify({ overlap_hours: 0 }),
      });
      return r.status;
    });
    expect(status === 403, `the server refuses a viewer's rotation (got ${status})`);
    expect(await probe(newSecret) === 404, 'the secret is unchanged');
    await viewer.goto(`${BASE}/console#accounts`);
    await viewer.locator(`#accounts-table tr[data-account="${accountId}"]`).waitFor();
    expect(await viewer.locator('#accounts-table button').count() === 0, 'no account actions for a viewer');
    const refused = await viewer.evaluate(async (id) => (await fetch(`/admin/v1/merchant-accounts/${id}/status`, {
      method: 'POST', headers: { 'content-type': 'application/json', 'x-paydesk-console': '1' },
      body: JSON.stringify({ status: 'DISABLED' }),
    })).status, accountId);
    expect(refused === 403, `a viewer cannot disable an account (got ${refused})`);
    await viewer.screenshot({ path: `${ART}ops-07-viewer.png`, fullPage: true });
    await viewer.close();
  });

  await step('after accounts, payments and rotations: no secret in clear in the database files or the log', async () => {
    const files = fs.readdirSync(DATA).filter((f) => f.startsWith('paydesk.db')).map((f) => path.join(DATA, f));
    const db = Buffer.concat(files.map((f) => fs.readFileSync(f)));
    const log = fs.readFileSync(SERVE_LOG);
    expect(db.length > 10_000 && db.includes(accountId), `database files read (${files.join(', ')})`);
    expect(log.length > 0, 'the server log read');
    expect(secrets.length > 10, `secrets collected: ${secrets.length}`);
    for (const [what, value] of secrets) {
      expect(!db.includes(value), `${what} in clear in the database`);
      expect(!log.includes(value), `${what} in clear in the server log`);
    }
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
