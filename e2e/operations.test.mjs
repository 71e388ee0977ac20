// The console's operations views in headless Chromium, after checkout.test.mjs and
// lookup.test.mjs have made real sandbox payments: the dashboard counts them (desktop and
// phone); an admin rotates the business line's secret with an overlap (old and new both
// accepted by the API) and adds a business line; the audit log names the operator; a
// viewer sees no admin controls and the server refuses the admin action anyway.
import { businessApi, launchChromium, steps } from './lib.mjs';

const BASE = process.env.PAYDESK_E2E_BASE;
const TOKEN = process.env.PAYDESK_E2E_TOKEN;
const VIEWER = process.env.PAYDESK_E2E_VIEWER;
const APP_ID = process.env.PAYDESK_E2E_APP_ID;
const SECRET = process.env.PAYDESK_E2E_SECRET;
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
async function signedIn(token, viewport) {
  const page = await browser.newPage({ viewport });
  page.setDefaultTimeout(10_000);
  page.on('dialog', (d) => d.accept());
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
  });
  await page.goto(`${BASE}/console`);
  await page.fill('#token', token);
  await page.click('#signin-form button[type=submit]');
  await page.locator('#app').waitFor({ state: 'visible' });
  return page;
}
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
    await viewer.screenshot({ path: `${ART}ops-05-viewer.png`, fullPage: true });
    await viewer.close();
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
