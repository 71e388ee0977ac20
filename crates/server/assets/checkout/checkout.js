// The buyer's checkout page. No framework, no build step, nothing from other origins.
//
// The token is the last segment of /checkout/{token}; an optional ?terminal= on the page
// URL is passed on to the API. Everything shown about money comes from the server:
//   GET  /checkout/{token}/options[?terminal=]  the order, time left and the methods
//   POST /checkout/{token}/pay                  {method, terminal, installment_periods, payer_id}
//   GET  /checkout/{token}/status               polled every 1.5 s while a payment is under way
'use strict';

(() => {
  const POLL_MS = 1500;
  // After the countdown reaches zero, keep asking a little longer: a payment made at the
  // last second, or the server's close, is reported shortly after.
  const POLL_AFTER_EXPIRY_MS = 20000;
  const SYMBOLS = { CNY: '¥', JPY: '¥', USD: '$', HKD: 'HK$', EUR: '€', GBP: '£', KRW: '₩', SGD: 'S$', AUD: 'A$', CAD: 'C$', TWD: 'NT$', MOP: 'MOP$' };
  const PROVIDER_APP = { wechatpay: 'WeChat', alipay: 'Alipay' };
  const ICONS = { WECHAT_PAY: 'W', ALIPAY: 'A', ALIPAY_INSTALLMENT: 'A', BALANCE: '¤', COMBINED: '+' };
  // Currencies without a minor unit; every other one has two decimals.
  const NO_DECIMALS = new Set(['JPY', 'KRW']);

  const $ = (id) => document.getElementById(id);
  const el = (tag, attrs, ...children) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('data-') || k.startsWith('aria-') || k === 'role') e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) if (c !== null && c !== undefined) e.append(c);
    return e;
  };

  const match = /^\/checkout\/([^/?#]+)\/?$/.exec(location.pathname);
  const token = match ? match[1] : null;
  const params = new URLSearchParams(location.search);
  const askedTerminal = /^[A-Z0-9_]{1,32}$/.test(params.get('terminal') || '') ? params.get('terminal') : null;
  const pendingKey = token ? `paydesk.checkout.pending.${token}` : null;
  const api = (suffix) => `/checkout/${token}${suffix}`;

  let order = null; // the /options answer
  let finished = false; // paid, closed or dead link: nothing more to do
  let expired = false;
  let deadline = 0; // performance.now() value at which the time is up
  let countdownTimer = null;
  let pollTimer = null;
  let polling = false;
  let pollUntil = Infinity;
  let paying = false;
  let lastProvider = null; // the provider of the last attempt started here

  function show(id, on) { $(id).hidden = !on; }

  function isHttpUrl(s) {
    if (typeof s !== 'string') return false;
    try {
      const u = new URL(s, location.href);
      return u.protocol === 'http:' || u.protocol === 'https:';
    } catch (_) {
      return false;
    }
  }

  function remember(on) {
    try {
      if (on) sessionStorage.setItem(pendingKey, String(Date.now()));
      else sessionStorage.removeItem(pendingKey);
    } catch (_) { /* storage disabled: the page still works, it just does not resume polling */ }
  }
  function remembered() {
    try { return sessionStorage.getItem(pendingKey) !== null; } catch (_) { return false; }
  }

  function formatAmount(amount, withCode) {
    const sym = SYMBOLS[amount.currency];
    const text = sym ? `${sym}${amount.display}` : amount.display;
    return withCode || !sym ? `${text} ${amount.currency}` : text;
  }

  // Minor units as text, with integer arithmetic only (never a float for money).
  function minorText(minor, currency) {
    const sym = SYMBOLS[currency] || `${currency} `;
    if (NO_DECIMALS.has(currency)) return `${sym}${minor}`;
    const whole = Math.trunc(minor / 100);
    const cents = String(Math.abs(minor % 100)).padStart(2, '0');
    return `${sym}${whole}.${cents}`;
  }

  // "¥30.00 from your balance + ¥70.00 with Alipay" for a combined payment.
  function partsText(balanceMinor, providerMinor, provider) {
    const cur = order.amount.currency;
    const app = PROVIDER_APP[provider] || 'the payment app';
    return `${minorText(balanceMinor, cur)} from your balance + ${minorText(providerMinor, cur)} with ${app}`;
  }

  function renderAmount(target, amount) {
    const sym = SYMBOLS[amount.currency];
    target.replaceChildren(
      `${sym || ''}${amount.display}`, ' ',
      el('span', { class: 'currency', text: amount.currency }),
    );
  }

  function showError(message) {
    $('error').textContent = message;
    show('error', !!message);
  }

  async function fetchJson(url, init) {
    let res;
    try {
      res = await fetch(url, { cache: 'no-store', credentials: 'same-origin', ...init });
    } catch (_) {
      return { ok: false, status: 0, body: { code: 'NETWORK', message: 'Could not reach the server. Check your connection and try again.' } };
    }
    let body = null;
    try { body = await res.json(); } catch (_) { body = null; }
    return { ok: res.ok, status: res.status, body };
  }

  function errorMessage(r) {
    if (r.body && typeof r.body.message === 'string' && r.body.message) return r.body.message;
    return `Something went wrong (HTTP ${r.status}). Please try again.`;
  }

  // ------------------------------------------------------------------ countdown
  function fmtTime(total) {
    const s = Math.max(0, total);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    const mm = String(m).padStart(2, '0');
    const ss = String(sec).padStart(2, '0');
    return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  }

  function tick() {
    const left = Math.max(0, Math.ceil((deadline - performance.now()) / 1000));
    $('countdown').textContent = fmtTime(left);
    $('countdown-line').classList.toggle('urgent', left > 0 && left <= 60);
    if (left === 0) onExpired();
  }

  function startCountdown(secondsLeft) {
    deadline = performance.now() + Math.max(0, Number(secondsLeft) || 0) * 1000;
    stopCountdown();
    tick();
    if (!expired) countdownTimer = setInterval(tick, 500);
  }

  function stopCountdown() {
    if (countdownTimer !== null) clearInterval(countdownTimer);
    countdownTimer = null;
  }

  function onExpired() {
    if (expired || finished) return;
    expired = true;
    stopCountdown();
    $('countdown').textContent = '00:00';
    $('countdown-line').classList.add('over');
    show('pay-form', false);
    show('action', false);
    show('waiting', false);
    show('expired', true);
    // One last look a little later: the server may report it paid (a last-second payment) or closed.
    pollUntil = performance.now() + POLL_AFTER_EXPIRY_MS;
    startPolling(true);
  }

  // ------------------------------------------------------------------ polling
  function startPolling(quiet) {
    if (finished) return;
    if (!quiet && !expired) show('waiting', true);
    if (polling) return;
    polling = true;
    pollTimer = setTimeout(poll, POLL_MS);
  }

  function stopPolling() {
    polling = false;
    if (pollTimer !== null) clearTimeout(pollTimer);
    pollTimer = null;
    show('waiting', false);
  }

  async function poll() {
    pollTimer = null;
    if (!polling || finished) return;
    const r = await fetchJson(api('/status'));
    if (!polling || finished) return;
    if (r.ok && r.body) {
      if (r.body.status === 'PAID') { onPaid(r.body); return; }
      if (r.body.status === 'CLOSED') { onClosed(); return; }
    } else if (r.status === 404) {
      onDeadLink();
      return;
    }
    if (performance.now() > pollUntil) { stopPolling(); return; }
    pollTimer = setTimeout(poll, POLL_MS);
  }

  // Coming back to the tab (from the wallet app) is a good moment to ask at once.
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && polling && !finished && pollTimer !== null) {
      clearTimeout(pollTimer);
      pollTimer = setTimeout(poll, 0);
    }
  });

  // The browser's Back button from a provider page may restore this page as it was left
  // ("Opening Alipay…"): look for the payment again.
  window.addEventListener('pageshow', (ev) => {
    if (ev.persisted && order && !finished && remembered()) {
      show('action', false);
      startPolling(false);
      if (pollTimer !== null) clearTimeout(pollTimer);
      pollTimer = setTimeout(poll, 0);
    }
  });

  // ------------------------------------------------------------------ outcomes
  function finish() {
    finished = true;
    stopCountdown();
    stopPolling();
    remember(false);
    show('pay-form', false);
    show('action', false);
    show('error', false);
    show('expired', false);
    show('countdown-line', false);
    $('card').setAttribute('aria-busy', 'false');
  }

  function backLink(id) {
    const link = $(id);
    if (order && isHttpUrl(order.return_url)) {
      link.href = order.return_url;
      link.hidden = false;
    }
  }

  function onPaid(status) {
    if (finished) return;
    finish();
    if (order) $('paid-amount').textContent = formatAmount(order.amount, true);
    const part = status && status.balance_part;
    if (status && status.provider) lastProvider = status.provider;
    if (order && part && part.status === 'CAPTURED' && Number.isInteger(part.amount_minor)) {
      const providerMinor = order.amount.amount_minor - part.amount_minor;
      $('paid-parts').textContent = providerMinor > 0
        ? partsText(part.amount_minor, providerMinor, lastProvider)
        : `${minorText(part.amount_minor, order.amount.currency)} from your balance`;
      show('paid-parts', true);
    }
    backLink('back');
    show('paid', true);
    document.title = 'Payment successful';
    const h = $('paid').querySelector('h2');
    h.tabIndex = -1;
    h.focus();
  }

  function onClosed() {
    if (finished) return;
    finish();
    backLink('closed-back');
    show('closed', true);
    document.title = 'Order closed';
  }

  function onDeadLink() {
    finish();
    show('loading', false);
    show('order', false);
    showError('This checkout link is not valid or has expired. Go back to the shop and start again.');
  }

  // ------------------------------------------------------------------ methods
  function selectedMethod() {
    const input = document.querySelector('#methods input[name="method"]:checked');
    if (!input || !order) return null;
    return order.methods.find((m) => m.method === input.value) || null;
  }

  function onMethodChange() {
    for (const label of document.querySelectorAll('#methods .method-option')) {
      label.classList.toggle('selected', label.querySelector('input').checked);
    }
    const m = selectedMethod();
    const periods = m && Array.isArray(m.installment_periods) ? m.installment_periods : null;
    const select = $('periods');
    if (periods && periods.length) {
      const previous = select.value;
      select.replaceChildren(...periods.map((n) => el('option', { value: String(n), text: `${n} installments` })));
      if (periods.map(String).includes(previous)) select.value = previous;
      show('installments', true);
    } else {
      select.replaceChildren();
      show('installments', false);
    }
    showError('');
  }

  function renderMethods(methods) {
    const box = $('methods');
    box.replaceChildren();
    methods.forEach((m, i) => {
      const id = `method-${i}`;
      const input = el('input', {
        type: 'radio', name: 'method', id, value: m.method, class: 'method', 'data-method': m.method,
      });
      if (m.default) input.checked = true;
      input.addEventListener('change', onMethodChange);
      let note = null;
      if (Array.isArray(m.installment_periods) && m.installment_periods.length) {
        note = `${m.installment_periods.join(', ')} installments`;
      } else if (m.method === 'BALANCE') {
        note = 'Your account balance';
      } else if (m.method === 'COMBINED' && Number.isInteger(m.balance_minor)) {
        note = partsText(m.balance_minor, m.provider_minor, m.provider);
      }
      const label = el('label', { class: 'method-option', htmlFor: id, 'data-method': m.method, 'data-provider': m.provider || 'none' },
        input,
        el('span', { class: 'method-icon', 'aria-hidden': 'true', text: ICONS[m.method] || '•' }),
        el('span', { class: 'method-text' },
          el('span', { class: 'method-name', text: m.label || m.method }),
          note ? el('span', { class: 'method-note', text: note }) : null));
      box.append(label);
    });
    if (!box.querySelector('input:checked')) {
      const first = box.querySelector('input');
      if (first) first.checked = true;
    }
    onMethodChange();
  }

  // ------------------------------------------------------------------ paying
  function renderAction(answer) {
    const a = answer.action || {};
    const box = $('action');
    const app = PROVIDER_APP[answer.provider] || 'the payment app';
    box.replaceChildren();
    if (answer.provider) lastProvider = answer.provider;
    if (a.type === 'paid') {
      // Paid from the balance at once: the status carries the parts.
      fetchJson(api('/status')).then((s) => onPaid(s.ok ? s.body : null));
      return;
    }
    if (answer.balance_part && Number.isInteger(answer.balance_part.amount_minor)) {
      box.append(el('p', {
        id: 'balance-held', class: 'hint',
        text: `${partsText(answer.balance_part.amount_minor, answer.provider_minor, answer.provider)}: the balance part is held until the rest is paid.`,
      }));
    }
    switch (a.type) {
      case 'qr_code': {
        const img = el('img', { alt: `QR code to pay with ${app}`, width: 280, height: 280 });
        if (typeof a.image_svg === 'string' && a.image_svg.trim().startsWith('<svg')) {
          img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(a.image_svg)}`;
        }
        const qr = el('div', { id: 'qr', class: 'qr', 'data-qr-content': a.content || '' }, img);
        box.append(
          el('h2', { text: `Scan with ${app} to pay` }),
          qr,
          el('p', { class: 'hint', text: `Open ${app} on your phone, scan the code and confirm the payment. This page updates by itself.` }),
        );
        if (isHttpUrl(a.content)) {
          box.append(el('p', { class: 'link' }, el('a', { href: a.content, text: `Pay in ${app} on this device` })));
        }
        break;
      }
      case 'redirect': {
        box.append(el('h2', { text: `Opening ${app}…` }));
        remember(true);
        if (isHttpUrl(a.url)) {
          box.append(el('p', { class: 'link' }, el('a', { href: a.url, text: `Continue to ${app}` })));
          show('action', true);
          location.href = a.url;
          return;
        }
        if (typeof a.form_html === 'string' && a.form_html) {
          submitForm(a.form_html);
          show('action', true);
          return;
        }
        showError('The payment provider gave no page to go to. Please choose another method.');
        remember(false);
        return;
      }
      case 'sdk_params':
        box.append(
          el('h2', { text: `Open in the ${app} app to pay` }),
          el('p', { class: 'hint', text: 'These payment parameters are for the app; this page updates when the payment is done.' }),
          el('pre', { id: 'sdk-params', text: JSON.stringify(a.params, null, 2) }),
        );
        break;
      case 'order_string':
        box.append(
          el('h2', { text: `Open in the ${app} app to pay` }),
          el('p', { class: 'hint', text: 'Order string for the app:' }),
          el('pre', { id: 'order-string', text: String(a.value) }),
        );
        break;
      case 'provider_trade':
        box.append(
          el('h2', { text: `Confirm in ${app}` }),
          el('p', { class: 'hint', text: `Trade number at ${app}:` }),
          el('pre', { id: 'trade-no', text: String(a.trade_no) }),
        );
        break;
      default:
        showError('This payment method cannot be completed on this page. Please choose another method.');
        return;
    }
    show('action', true);
    startPolling(false);
  }

  // A provider page that must be reached by a form post (Alipay page pay). The form is
  // rebuilt from its fields, never inserted as HTML.
  function submitForm(html) {
    const doc = new DOMParser().parseFromString(html, 'text/html');
    const src = doc.querySelector('form');
    if (!src || !isHttpUrl(src.getAttribute('action'))) {
      showError('The payment provider gave no page to go to. Please choose another method.');
      return;
    }
    const form = el('form', { method: (src.getAttribute('method') || 'post').toLowerCase() === 'get' ? 'get' : 'post', action: src.getAttribute('action') });
    form.acceptCharset = src.getAttribute('accept-charset') || 'utf-8';
    for (const input of src.querySelectorAll('input[name], textarea[name]')) {
      form.append(el('input', { type: 'hidden', name: input.getAttribute('name'), value: input.value !== undefined ? input.value : input.textContent }));
    }
    form.hidden = true;
    document.body.append(form);
    form.submit();
  }

  async function pay(ev) {
    ev.preventDefault();
    if (paying || finished || expired) return;
    const m = selectedMethod();
    if (!m) { showError('Choose a payment method.'); return; }
    let periods = null;
    if (Array.isArray(m.installment_periods) && m.installment_periods.length) {
      periods = Number($('periods').value);
      if (!m.installment_periods.includes(periods)) { showError('Choose the number of installments.'); return; }
    }
    const body = {
      method: m.method,
      terminal: askedTerminal || order.terminal || null,
      installment_periods: periods,
      payer_id: null,
    };
    if (m.method === 'COMBINED' && Number.isInteger(m.balance_minor)) body.balance_minor = m.balance_minor;
    paying = true;
    showError('');
    const button = $('pay');
    button.disabled = true;
    button.textContent = 'Processing…';
    const r = await fetchJson(api('/pay'), {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: JSON.stringify(body),
    });
    paying = false;
    button.disabled = false;
    button.textContent = payLabel();
    if (finished) return;
    if (r.ok && r.body) {
      renderAction(r.body);
      return;
    }
    showError(errorMessage(r));
    if (r.status === 404) { onDeadLink(); return; }
    // The order may have changed under us (paid in another tab, closed): look once.
    if (r.body && (r.body.code === 'ORDER_NOT_PAYABLE' || r.body.code === 'INVALID_STATE')) {
      const s = await fetchJson(api('/status'));
      if (s.ok && s.body && s.body.status === 'PAID') onPaid(s.body);
      else if (s.ok && s.body && s.body.status === 'CLOSED') onClosed();
    }
  }

  function payLabel() {
    return order ? `Pay ${formatAmount(order.amount, false)}` : 'Pay';
  }

  // ------------------------------------------------------------------ start
  async function load() {
    if (!token) { onDeadLink(); return; }
    const q = askedTerminal ? `?terminal=${encodeURIComponent(askedTerminal)}` : '';
    const r = await fetchJson(api(`/options${q}`));
    show('loading', false);
    $('card').setAttribute('aria-busy', 'false');
    if (!r.ok || !r.body) {
      if (r.status === 404) onDeadLink();
      else showError(errorMessage(r));
      return;
    }
    order = r.body;
    $('subject').textContent = order.subject;
    renderAmount($('amount'), order.amount);
    document.title = `Pay ${formatAmount(order.amount, true)} · ${order.subject}`;
    show('order', true);
    if (order.status === 'PAID') {
      // Back from the wallet after the payment was recorded: the status names the parts.
      const s = await fetchJson(api('/status'));
      onPaid(s.ok ? s.body : null);
      return;
    }
    if (order.status === 'CLOSED') { onClosed(); return; }
    startCountdown(order.seconds_left);
    if (expired) return;
    const methods = Array.isArray(order.methods) ? order.methods : [];
    if (methods.length === 0) {
      showError('No payment method is available for this order here. Please try another device or contact the shop.');
    } else {
      renderMethods(methods);
      $('pay').textContent = payLabel();
      show('pay-form', true);
    }
    // Back from a provider page (a redirect, a return URL with the provider's parameters):
    // keep asking until the payment shows up.
    const returned = remembered() || [...params.keys()].some((k) => k !== 'terminal');
    if (returned) startPolling(false);
  }

  $('pay-form').addEventListener('submit', pay);
  load();
})();
