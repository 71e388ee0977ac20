// The console end to end in headless Chromium: an operator signs in, adds a rule that
// forbids credit-card funding for one item category, sees a validation error, fixes
// it, simulates, diffs, publishes, and the decision changes; then rolls back.
import { chromium } from 'playwright-core';
import { steps } from './lib.mjs';

const BASE = process.env.PAYDESK_E2E_BASE;
const TOKEN = process.env.PAYDESK_E2E_TOKEN;
const VIEWER = process.env.PAYDESK_E2E_VIEWER;
const ART = new URL('./artifacts/', import.meta.url).pathname;

const { step, expect, summary } = steps();

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
page.setDefaultTimeout(10_000);
page.on('dialog', (d) => d.accept());
const errors = [];
page.on('pageerror', (e) => errors.push(e.message));
page.on('console', (m) => {
  // Expected 4xx answers (wrong credential, invalid draft) are logged by the browser.
  if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text());
});
const shot = (name) => page.screenshot({ path: `${ART}${name}.png`, fullPage: true });

async function decide(category) {
  await page.selectOption('#d-terminal', 'IOS');
  await page.fill('#d-business_line', 'secondhand');
  await page.fill('#d-item_category', category);
  await page.fill('#d-amount', '19900');
  await page.selectOption('#d-currency', 'CNY');
  await page.fill('#d-app_version', '6.0.0');
  // Clear the last answer so the read below waits for this one.
  await page.evaluate(() => document.getElementById('decision').replaceChildren());
  await page.click('#decide');
  const cell = page.locator('#decision-table tr[data-method="WECHAT_PAY"] td.cc');
  await cell.waitFor();
  return (await cell.textContent()).trim();
}

// The methods the decision tester shows, in order, for a secondhand checkout of books.
async function decideMethods(terminal, appVersion) {
  await page.selectOption('#d-terminal', terminal);
  await page.fill('#d-business_line', 'secondhand');
  await page.fill('#d-item_category', 'books');
  await page.fill('#d-amount', '19900');
  await page.selectOption('#d-currency', 'CNY');
  await page.fill('#d-app_version', appVersion);
  await page.evaluate(() => document.getElementById('decision').replaceChildren());
  await page.click('#decide');
  await page.locator('#decision-table').waitFor();
  return page.$$eval('#decision-table tbody tr', (rows) => rows.map((r) => r.dataset.method));
}

try {
  await step('the console asks for a credential and refuses a wrong one', async () => {
    await page.goto(`${BASE}/console`);
    await page.fill('#token', 'pdo_wrong');
    await page.click('#signin-form button[type=submit]');
    await page.locator('#signin-error').filter({ hasText: /credential/ }).waitFor();
  });

  await step('the operator signs in', async () => {
    await page.fill('#token', TOKEN);
    await page.click('#signin-form button[type=submit]');
    await page.locator('#app').waitFor({ state: 'visible' });
    expect((await page.textContent('#who')).includes('e2e-admin (admin)'), 'operator name shown');
    await page.locator('#rules-table tr[data-rule="default"]').waitFor();
    await page.locator('#versions-table tr[data-version="1"]').waitFor();
    await shot('01-signed-in');
  });

  await step('before: electronics may be paid by credit card', async () => {
    expect((await decide('electronics')) === 'allowed', 'credit card allowed at first');
  });

  await step('adding a rule with a typo shows a validation error', async () => {
    await page.click('#add-rule');
    await page.fill('#r-id', 'electronics-no-credit');
    await page.fill('#r-name', 'Electronics: no credit card');
    await page.fill('#r-priority', '150');
    await page.click('#add-cond');
    await page.selectOption('#cond-table tbody tr:nth-child(1) select[aria-label=fact]', 'item_category');
    await page.selectOption('#cond-table tbody tr:nth-child(1) select[aria-label=operator]', 'equals');
    await page.fill('#cond-table tbody tr:nth-child(1) input[aria-label=values]', 'electonics');
    await page.selectOption('#method-table select[data-m="WECHAT_PAY"]', 'false');
    await page.selectOption('#method-table select[data-m="ALIPAY"]', 'false');
    await shot('02-rule-form');
    await page.click('#save-rule');
    await page.locator('#rules-table tr[data-rule="electronics-no-credit"]').waitFor();
    await page.click('#validate');
    await page.locator('#findings .finding-error').first().waitFor();
    const text = await page.textContent('#findings');
    expect(text.includes('unknown_value'), `unknown_value finding shown: ${text}`);
    expect((await page.textContent('#validation-summary')).includes('error'), 'summary says errors');
    await shot('03-validation-error');
  });

  await step('publishing the invalid draft is refused with the findings', async () => {
    await page.fill('#comment', 'electronics: no credit cards');
    await page.click('#publish');
    await page.locator('#publish-error').waitFor();
    expect((await page.textContent('#results')).includes('unknown_value'), 'findings shown on publish');
  });

  await step('fixing the value makes the draft valid', async () => {
    await page.click('#rules-table tr[data-rule="electronics-no-credit"] button:has-text("Edit")');
    await page.fill('#cond-table tbody tr:nth-child(1) input[aria-label=values]', 'electronics');
    await page.click('#save-rule');
    await page.click('#validate');
    await page.locator('#validation-summary.ok').waitFor();
    expect((await page.textContent('#validation-summary')).startsWith('Valid'), 'valid');
  });

  await step('simulation shows the recorded electronics checkout changing', async () => {
    await page.click('#simulate');
    await page.locator('#simulation-summary').waitFor();
    const summary = await page.textContent('#simulation-summary');
    expect(/^1 of \d+ recorded/.test(summary), `one change: ${summary}`);
    const rows = await page.textContent('#simulation');
    expect(rows.includes('item_category=electronics') && rows.includes('params_changed'), rows);
    await shot('04-simulation');
  });

  await step('the diff against the active version lists the new rule', async () => {
    await page.click('#diff');
    await page.locator('#diff-summary').waitFor();
    const d = await page.textContent('#diff-list');
    expect(d.includes('electronics-no-credit: added'), `diff lists the rule: ${d}`);
  });

  await step('publishing makes version 2 active', async () => {
    await page.fill('#comment', 'electronics: no credit cards');
    await page.click('#publish');
    await page.locator('#published').waitFor();
    expect((await page.textContent('#published')).includes('version 2'), 'version 2');
    await page.locator('#versions-table tr[data-version="2"] .badge').waitFor();
    expect((await page.textContent('#base')).includes('version 2'), 'draft now based on 2');
    await shot('05-published');
  });

  await step('after: the decision forbids credit cards for electronics only', async () => {
    expect((await decide('electronics')) === 'forbidden', 'forbidden after publish');
    expect((await decide('books')) === 'allowed', 'books unchanged');
    await decide('electronics');
    await shot('06-decision');
  });

  await step('the console works at phone width', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.reload();
    await page.locator('#rules-table tr[data-rule="electronics-no-credit"]').waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow <= 1, `no page-wide horizontal scroll (overflow ${overflow}px)`);
    await shot('07-phone');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await step('rolling back to version 1 restores the old decision', async () => {
    await page.click('#versions-table tr[data-version="1"] button');
    await page.locator('#versions-table tr[data-version="1"] .badge').waitFor();
    expect((await decide('electronics')) === 'allowed', 'allowed again after rollback');
  });

  await step('a scenario rule added in the form hides installments on iOS below 9.0.0', async () => {
    const before = await decideMethods('IOS', '6.0.0');
    expect(before.includes('ALIPAY_INSTALLMENT'), `installments offered at first: ${before}`);
    expect(before[0] === 'WECHAT_PAY', `WeChat Pay first at first: ${before}`);
    await page.click('#add-scenario');
    await page.fill('#s-id', 'ios-before-9-no-installments');
    await page.fill('#s-name', 'iOS before 9.0.0: no installments, Alipay first');
    await page.selectOption('#s-business_rule', 'default');
    await page.check('#s-terminals input[data-v="IOS"]');
    // A range that is not semver is refused in the form.
    await page.fill('#s-app_version', 'below 9');
    await page.locator('#s-app_version-error').filter({ hasText: /not a version range/ }).waitFor();
    await page.click('#save-scenario');
    await page.locator('#scenario-error').filter({ hasText: /not a version range/ }).waitFor();
    await page.fill('#s-app_version', '<9.0.0');
    expect((await page.textContent('#s-app_version-error')) === '', 'range accepted');
    for (const m of ['WECHAT_PAY', 'ALIPAY', 'BALANCE', 'COMBINED']) await page.check(`#s-methods input[data-v="${m}"]`);
    await page.check('#s-order input[aria-label="order WECHAT_PAY"]');
    await page.check('#s-order input[aria-label="order ALIPAY"]');
    await page.click('#s-order button[aria-label="move ALIPAY up"]');
    const order = await page.$$eval('#s-order li.on', (lis) => lis.map((li) => li.dataset.m));
    expect(order.join() === 'ALIPAY,WECHAT_PAY', `order list: ${order}`);
    await shot('08-scenario-form');
    await page.click('#save-scenario');
    const row = page.locator('#scenario-table tr[data-scenario="ios-before-9-no-installments"]');
    await row.waitFor();
    const rowText = await row.textContent();
    expect(rowText.includes('<9.0.0') && rowText.includes('ALIPAY, WECHAT_PAY'), `row: ${rowText}`);
    await page.click('#validate');
    await page.locator('#validation-summary.ok').waitFor();
    await page.click('#diff');
    await page.locator('#diff-summary').waitFor();
    const d = await page.textContent('#diff-list');
    expect(d.includes('scenario rule ios-before-9-no-installments: added'), `diff lists the scenario: ${d}`);
    await page.fill('#comment', 'iOS apps before 9.0.0: no installments, Alipay first');
    await page.click('#publish');
    await page.locator('#published').waitFor();
    expect((await page.textContent('#published')).includes('version 3'), 'version 3');
    await page.locator('#scenario-table tr[data-scenario="ios-before-9-no-installments"]').waitFor();
    const after = await decideMethods('IOS', '6.0.0');
    expect(!after.includes('ALIPAY_INSTALLMENT'), `installments hidden: ${after}`);
    expect(after[0] === 'ALIPAY' && after[1] === 'WECHAT_PAY', `Alipay first: ${after}`);
    expect((await page.textContent('#decision')).includes('scenario ios-before-9-no-installments'), 'trace names the scenario');
    await shot('09-scenario-decision');
    const api = await page.evaluate(async () => {
      const ask = async (terminal, app_version) => {
        const r = await fetch('/admin/v1/decisions', { method: 'POST', credentials: 'same-origin',
          headers: { 'content-type': 'application/json', 'x-paydesk-console': '1' },
          body: JSON.stringify({ facts: { terminal, app_version, business_line: 'secondhand', item_category: 'books', amount: 19900, currency: 'CNY' }, record: false }) });
        const j = await r.json();
        return j.decision.methods.map((m) => m.method);
      };
      return { ios6: await ask('IOS', '6.0.0'), ios9: await ask('IOS', '9.1.0'), android6: await ask('ANDROID', '6.0.0') };
    });
    expect(!api.ios6.includes('ALIPAY_INSTALLMENT'), `API, iOS 6: ${api.ios6}`);
    expect(api.ios9.includes('ALIPAY_INSTALLMENT'), `API, iOS 9.1 keeps installments: ${api.ios9}`);
    expect(api.android6.includes('ALIPAY_INSTALLMENT'), `API, Android keeps installments: ${api.android6}`);
  });

  await step('scenario and rule forms fit a phone; the rule form edits order and effective dates', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.click('#scenario-table tr[data-scenario="ios-before-9-no-installments"] button:has-text("Edit")');
    await page.locator('#scenario-editor').waitFor({ state: 'visible' });
    let overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow <= 1, `scenario form: no page-wide horizontal scroll (overflow ${overflow}px)`);
    expect(await page.isChecked('#s-terminals input[data-v="IOS"]'), 'form shows the saved terminal');
    expect((await page.inputValue('#s-app_version')) === '<9.0.0', 'form shows the saved range');
    await shot('10-scenario-phone');
    await page.click('#cancel-scenario');
    await page.click('#rules-table tr[data-rule="tickets"] button:has-text("Edit")');
    await page.locator('#editor').waitFor({ state: 'visible' });
    overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    expect(overflow <= 1, `rule form: no page-wide horizontal scroll (overflow ${overflow}px)`);
    await page.fill('#r-from', '2027-01-01T00:00:00');
    await page.fill('#r-until', '2026-12-31T00:00:00');
    await page.click('#save-rule');
    await page.locator('#editor-error').filter({ hasText: /later than/ }).waitFor();
    await page.fill('#r-until', '2028-01-01T00:00:00');
    expect(await page.isChecked('#r-order input[aria-label="order ALIPAY_INSTALLMENT"]'), 'the rule form shows the stored order');
    await page.uncheck('#r-order input[aria-label="order ALIPAY_INSTALLMENT"]');
    await page.click('#save-rule');
    const tickets = page.locator('#rules-table tr[data-rule="tickets"]');
    await tickets.filter({ hasText: /order ALIPAY > WECHAT_PAY(?! >)/ }).waitFor();
    await page.locator('#rules-table tr[data-rule="tickets"]').filter({ hasText: /from .* until/ }).waitFor();
    await page.click('#rules-table tr[data-rule="tickets"] button:has-text("Edit")');
    expect(/^2027-01-01T00:00(:00)?$/.test(await page.inputValue('#r-from')), `from kept: ${await page.inputValue('#r-from')}`);
    await page.click('#cancel-rule');
    await page.click('#reset');
    await page.setViewportSize({ width: 1280, height: 900 });
  });

  await step('a viewer cannot publish (the server refuses with 403)', async () => {
    const ctx = await browser.newContext();
    const viewer = await ctx.newPage();
    await viewer.goto(`${BASE}/console`);
    await viewer.fill('#token', VIEWER);
    await viewer.click('#signin-form button[type=submit]');
    await viewer.locator('#app').waitFor({ state: 'visible' });
    expect(await viewer.isDisabled('#publish'), 'publish disabled for viewers');
    const status = await viewer.evaluate(async () => {
      const r = await fetch('/admin/v1/rules/rollback', { method: 'POST', credentials: 'same-origin',
        headers: { 'content-type': 'application/json', 'x-paydesk-console': '1' }, body: JSON.stringify({ version: 2 }) });
      return [r.status, (await r.json()).code];
    });
    expect(status[0] === 403 && status[1] === 'FORBIDDEN', `viewer refused: ${status}`);
    await ctx.close();
  });

  await step('no script errors on the page', async () => {
    expect(errors.length === 0, errors.join(' | '));
  });
} catch (_) {
  await shot('failure').catch(() => {});
} finally {
  await browser.close();
}
const { line, failed, passed } = summary();
console.log(line);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
