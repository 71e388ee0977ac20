// The official Node `alipay-sdk` (an independent client) against paydesk's sandbox.
//
// Usage: node alipay_conformance.js BASE_URL MERCHANT_JSON CASES_OUT COUNTS_OUT
//
// Calls precreate, query, refund and refund query with the SDK (answers verified with its
// own validateSign), builds page/wap pay URLs and forms and an app order string that the
// sandbox accepts, checks the sandbox's notifications and signed returns with the SDK's
// verifier, and writes signature cases for paydesk to reproduce byte for byte.
'use strict';

const fs = require('node:fs');
const http = require('node:http');
const crypto = require('node:crypto');
const { AlipaySdk } = require('alipay-sdk');

const [BASE, MERCHANT_FILE, CASES_OUT, COUNTS_OUT] = process.argv.slice(2);
const M = JSON.parse(fs.readFileSync(MERCHANT_FILE, 'utf8'));
let passed = 0;
let failed = 0;

function check(name, cond, detail = '') {
  if (cond) {
    passed += 1;
    console.log(`ok   alipay-sdk: ${name}`);
  } else {
    failed += 1;
    console.log(`FAIL alipay-sdk: ${name} ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`);
  }
}

function sdkFor(overrides = {}) {
  return new AlipaySdk({
    appId: M.app_id,
    privateKey: M.app_private_key_pem,
    keyType: 'PKCS8',
    alipayPublicKey: M.alipay_public_key_pem,
    gateway: `${BASE}/gateway.do`,
    camelcase: false,
    timeout: 10000,
    ...overrides,
  });
}

const sdk = sdkFor();
const received = []; // { path, params, verified }

const server = http.createServer((req, res) => {
  let body = '';
  req.on('data', c => { body += c; });
  req.on('end', () => {
    const params = Object.fromEntries(new URLSearchParams(body));
    const verified = sdk.checkNotifySignV2(params);
    received.push({ path: req.url, params, verified });
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(verified ? 'success' : 'fail');
  });
});

async function control(path, body = {}) {
  const r = await fetch(BASE + path, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: r.status, body: await r.json().catch(() => null) };
}

async function waitFor(pred, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const got = received.filter(pred);
    if (got.length) return got;
    await new Promise(r => setTimeout(r, 50));
  }
  return [];
}

function formFields(html) {
  const fields = {};
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) {
    fields[m[1]] = m[2].replace(/&quot;/g, '"');
  }
  return fields;
}

async function main() {
  await new Promise(r => server.listen(0, '127.0.0.1', r));
  const NOTIFY = `http://127.0.0.1:${server.address().port}/notify`;
  const run = String(Date.now()).slice(-9);

  // precreate (QR)
  const noPre = `NODEPRE${run}`;
  const pre = await sdk.exec('alipay.trade.precreate', {
    notifyUrl: NOTIFY,
    bizContent: { out_trade_no: noPre, total_amount: '12.34', subject: 'conformance precreate' },
  }, { validateSign: true });
  check('precreate: 10000 with a qr_code (answer signature verified by the SDK)', pre.code === '10000' && typeof pre.qr_code === 'string' && pre.qr_code.length > 0, pre);

  const q1 = await sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: noPre } }, { validateSign: true });
  check('query: WAIT_BUYER_PAY', q1.code === '10000' && q1.trade_status === 'WAIT_BUYER_PAY', q1);
  const q404 = await sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: `NOPE${run}` } }, { validateSign: true });
  check('query of an unknown trade: 40004 ACQ.TRADE_NOT_EXIST', q404.code === '40004' && q404.sub_code === 'ACQ.TRADE_NOT_EXIST', q404);

  // pay in the wallet: the notification is verified by the SDK's own verifier
  const paid = await control(`/sandbox/orders/alipay/${noPre}/pay`);
  check('wallet pays the precreate order', paid.status === 200, paid);
  const got = await waitFor(r => r.path === '/notify' && r.params.out_trade_no === noPre);
  const n = got[0] || { params: {} };
  check('notification verified by checkNotifySignV2', n.verified === true, n.params);
  check('notification says TRADE_SUCCESS 12.34 for our app and seller', n.params.trade_status === 'TRADE_SUCCESS' && n.params.total_amount === '12.34' && n.params.app_id === M.app_id && n.params.seller_id === M.seller_id, n.params);
  check('notification also verifies with checkNotifySign', sdk.checkNotifySign({ ...n.params }) === true);
  check('a tampered notification is refused by the SDK', sdk.checkNotifySignV2({ ...n.params, total_amount: '0.01' }) === false);

  const q2 = await sdk.exec('alipay.trade.query', { bizContent: { out_trade_no: noPre } }, { validateSign: true });
  check('query after payment: TRADE_SUCCESS', q2.code === '10000' && q2.trade_status === 'TRADE_SUCCESS' && q2.trade_no === n.params.trade_no, q2);

  // refund and its query
  const rf = await sdk.exec('alipay.trade.refund', {
    bizContent: { out_trade_no: noPre, refund_amount: '2.34', out_request_no: `RF${run}` },
  }, { validateSign: true });
  check('refund: 10000 fund_change Y refund_fee 2.34', rf.code === '10000' && rf.fund_change === 'Y' && rf.refund_fee === '2.34', rf);
  const rq = await sdk.exec('alipay.trade.fastpay.refund.query', {
    bizContent: { out_trade_no: noPre, out_request_no: `RF${run}` },
  }, { validateSign: true });
  check('fastpay.refund.query: REFUND_SUCCESS 2.34', rq.code === '10000' && rq.refund_status === 'REFUND_SUCCESS' && rq.refund_amount === '2.34', rq);
  const over = await sdk.exec('alipay.trade.refund', {
    bizContent: { out_trade_no: noPre, refund_amount: '20.00', out_request_no: `RX${run}` },
  }, { validateSign: true });
  check('refund above the paid amount: ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', over.code === '40004' && over.sub_code === 'ACQ.REFUND_AMT_NOT_EQUAL_TOTAL', over);

  // page pay (GET URL and POST form) and wap pay URLs land on the wallet
  const noPage = `NODEPAGE${run}`;
  const pageUrl = sdk.pageExecute('alipay.trade.page.pay', 'GET', {
    bizContent: { out_trade_no: noPage, product_code: 'FAST_INSTANT_TRADE_PAY', total_amount: '5.00', subject: 'page pay' },
    returnUrl: 'https://shop.example/return',
    notifyUrl: `${NOTIFY}/page`,
  });
  let r = await fetch(pageUrl, { redirect: 'manual' });
  const wallet = r.headers.get('location') || '';
  check('page.pay URL (GET) accepted: redirect to the wallet', r.status === 303 && wallet.endsWith(`/${noPage}`), `${r.status} ${wallet} ${await r.text()}`);
  const walletPage = await fetch(wallet);
  check('wallet page shows the order', walletPage.status === 200 && (await walletPage.text()).includes(noPage));
  const noForm = `NODEFORM${run}`;
  const html = sdk.pageExecute('alipay.trade.page.pay', 'POST', {
    bizContent: { out_trade_no: noForm, product_code: 'FAST_INSTANT_TRADE_PAY', total_amount: '6.00', subject: 'page pay form' },
    notifyUrl: `${NOTIFY}/page`,
  });
  const action = (html.match(/action="([^"]+)"/) || [])[1];
  r = await fetch(action, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(formFields(html)).toString(),
    redirect: 'manual',
  });
  check('page.pay form (POST) accepted: redirect to the wallet', r.status === 303 && (r.headers.get('location') || '').endsWith(`/${noForm}`), `${r.status} ${await r.text()}`);
  const noWap = `NODEWAP${run}`;
  const wapUrl = sdk.pageExecute('alipay.trade.wap.pay', 'GET', {
    bizContent: { out_trade_no: noWap, product_code: 'QUICK_WAP_WAY', total_amount: '7.00', subject: 'wap pay', quit_url: 'https://shop.example/quit' },
    notifyUrl: `${NOTIFY}/page`,
  });
  r = await fetch(wapUrl, { redirect: 'manual' });
  check('wap.pay URL accepted: redirect to the wallet', r.status === 303 && (r.headers.get('location') || '').endsWith(`/${noWap}`), `${r.status} ${await r.text()}`);
  const orderStr = sdk.sdkExecute('alipay.trade.app.pay', {
    bizContent: { out_trade_no: `NODEAPP${run}`, product_code: 'QUICK_MSECURITY_PAY', total_amount: '8.00', subject: 'app pay' },
    notifyUrl: `${NOTIFY}/page`,
  });
  r = await fetch(`${BASE}/gateway.do`, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: orderStr, redirect: 'manual' });
  check('app.pay order string accepted', r.status === 303, `${r.status} ${await r.text()}`);

  // pay the page order through the wallet's button: signed return to return_url + notification
  r = await fetch(`${BASE}/wallet/act`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ provider: 'alipay', merchant: M.app_id, no: noPage, action: 'pay' }).toString(),
    redirect: 'manual',
  });
  const back = r.headers.get('location') || '';
  const ret = Object.fromEntries(new URL(back).searchParams);
  check('signed return to return_url verified by the SDK', back.startsWith('https://shop.example/return?') && sdk.checkNotifySignV2(ret) && ret.out_trade_no === noPage, back);
  const pn = await waitFor(r2 => r2.path === '/notify/page' && r2.params.out_trade_no === noPage);
  check('page pay notification verified by the SDK', pn.length > 0 && pn[0].verified === true);

  // keys: a wrong app key is refused by the sandbox; a wrong Alipay key makes the SDK refuse
  const { privateKey: otherKey, publicKey: otherPub } = crypto.generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const impostor = sdkFor({ privateKey: otherKey });
  const bad = await impostor.exec('alipay.trade.query', { bizContent: { out_trade_no: noPre } });
  check('wrong app key: 40002 isv.invalid-signature', bad.code === '40002' && bad.sub_code === 'isv.invalid-signature', bad);
  const distrust = sdkFor({ alipayPublicKey: otherPub });
  let refused = false;
  try {
    await distrust.exec('alipay.trade.query', { bizContent: { out_trade_no: noPre } }, { validateSign: true });
  } catch (e) {
    refused = /验签失败/.test(e.message);
  }
  check('wrong Alipay public key: the SDK refuses the answer', refused);

  // signature cases: the SDK signs fixed inputs; paydesk must produce the same bytes
  const cases = [];
  for (const [method, extra] of [
    ['alipay.trade.precreate', { notifyUrl: 'https://paydesk.example/notify', bizContent: { out_trade_no: 'SIG0001', total_amount: '12.34', subject: 'Concert ticket 演唱会' } }],
    ['alipay.trade.query', { bizContent: { out_trade_no: 'SIG0001' } }],
    ['alipay.trade.page.pay', { returnUrl: 'https://shop.example/return', bizContent: { out_trade_no: 'SIG0002', product_code: 'FAST_INSTANT_TRADE_PAY', total_amount: '0.01', subject: 'a&b=c' } }],
  ]) {
    const str = sdk.sdkExecute(method, { timestamp: '2024-01-01 12:00:00', ...extra });
    const params = str.split('&').map(kv => {
      const i = kv.indexOf('=');
      return [kv.slice(0, i), decodeURIComponent(kv.slice(i + 1))];
    });
    const sign = params.find(([k]) => k === 'sign')[1];
    cases.push({ name: `alipay-sdk ${method}`, kind: 'alipay_request', key_pem: M.app_private_key_pem, params, sdk: sign });
  }
  fs.writeFileSync(CASES_OUT, JSON.stringify({ cases }));

  server.close();
  fs.writeFileSync(COUNTS_OUT, `${passed} ${failed}\n`);
  console.log(`alipay-sdk: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

main().catch(e => {
  console.log(`FAIL alipay-sdk: unexpected error ${e.stack}`);
  fs.writeFileSync(COUNTS_OUT, `${passed} ${failed + 1}\n`);
  process.exit(1);
});
