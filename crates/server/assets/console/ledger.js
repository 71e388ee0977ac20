// paydesk console, #ledger: the balance ledger, read-only. Accounts filtered by kind, owner
// and currency (GET /admin/v1/ledger/accounts, paged by id); an account's balance, whether
// its cached balance ties out against its lines, and its statement (newest first, paged);
// a journal entry with all its lines, so the other side of a movement is one click away.
// Money stays integer minor units; money() only formats it.
'use strict';
(function () {
  const C = window.paydeskConsole;
  if (!C) return;
  const { el, api, money, status, cell, table } = C;
  const $ = (id) => document.getElementById(id);
  const KINDS = ['USER_AVAILABLE', 'USER_HELD', 'SELLER_AVAILABLE', 'SELLER_HELD', 'PLATFORM_FUNDING',
    'PLATFORM_COMMISSION', 'PLATFORM_FEES', 'CLEARING', 'EXTERNAL'];
  const CURRENCIES = ['CNY', 'HKD', 'USD', 'EUR', 'GBP', 'JPY', 'KRW'];
  const S = { accounts: [], nextAfter: null, account: null, lines: [], nextBefore: null, seq: 0 };

  const pill = (text, kind) => el('span', { class: 'pill pill-' + kind, text });
  const kv = (rows) => el('dl', { class: 'kv' }, rows.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', {}, v)]));
  // A link that opens something in this view without touching the location.
  const opener = (text, cls, fn) => el('a', { href: '#ledger', class: 'id ' + cls, onclick: (ev) => { ev.preventDefault(); fn(); } },
    el('code', { text }));

  function fillSelects() {
    if ($('ledger-kind').options.length > 1) return;
    $('ledger-kind').append(...KINDS.map((k) => el('option', { value: k, text: k })));
    $('ledger-currency').append(...CURRENCIES.map((c) => el('option', { value: c, text: c })));
  }

  async function loadAccounts(more) {
    fillSelects();
    const params = new URLSearchParams({ limit: '50' });
    if ($('ledger-kind').value) params.set('kind', $('ledger-kind').value);
    const owner = $('ledger-owner').value.trim();
    if (owner) params.set('owner', owner);
    if ($('ledger-currency').value) params.set('currency', $('ledger-currency').value);
    if (more && S.nextAfter) params.set('after', S.nextAfter);
    const r = await api('GET', '/ledger/accounts?' + params.toString());
    if (!r.ok) { status((r.data && r.data.message) || 'ledger accounts failed', true); return; }
    S.accounts = more ? S.accounts.concat(r.data.accounts) : r.data.accounts;
    S.nextAfter = r.data.next_after || null;
    table($('ledger-accounts'), ['Account', 'Kind', 'Owner', 'Currency', 'Balance', 'May go negative', 'Lines'],
      S.accounts.map((a) => el('tr', { 'data-account': a.id, 'data-kind': a.kind, 'data-owner': a.owner },
        cell('Account', opener(a.id, 'open-account', () => openAccount(a.id))),
        cell('Kind', a.kind), cell('Owner', el('code', { text: a.owner })), cell('Currency', a.currency),
        cell('Balance', money(a.balance_minor, a.currency)),
        cell('May go negative', a.allow_negative ? 'yes' : 'no'),
        cell('Lines', String(a.version)))),
      'No accounts match.');
    $('ledger-more').classList.toggle('hidden', !S.nextAfter);
  }

  async function openAccount(id) {
    const seq = ++S.seq;
    const r = await api('GET', '/ledger/accounts/' + encodeURIComponent(id));
    if (seq !== S.seq) return;
    if (!r.ok) { status((r.data && r.data.message) || 'ledger account failed', true); return; }
    const a = r.data.account, v = r.data.verification;
    S.account = a;
    $('ledger-account-id').textContent = a.id;
    $('ledger-account-info').replaceChildren(
      el('div', { class: 'order-head' },
        el('span', { class: 'big-amount', id: 'ledger-balance', text: money(a.balance_minor, a.currency) }),
        v.ties_out ? pill('ties out', 'ok') : pill('DOES NOT TIE OUT', 'bad')),
      kv([
        ['Kind', a.kind], ['Owner', el('code', { text: a.owner })], ['Currency', a.currency],
        ['May go negative', a.allow_negative ? 'yes' : 'no'],
        ['Cached balance', money(v.balance_minor, a.currency)],
        ['Sum of its lines', el('span', { id: 'ledger-lines-sum', text: money(v.lines_sum_minor, a.currency) })],
        ['Version / lines', v.version + ' / ' + v.lines],
        ['Opened', C.when(a.created_at)], ['Last line', C.when(a.updated_at)],
      ]));
    $('ledger-account-info').dataset.tiesOut = String(v.ties_out);
    $('ledger-account').classList.remove('hidden');
    await loadStatement(false);
    $('ledger-account').scrollIntoView({ block: 'start' });
  }

  async function loadStatement(more) {
    const a = S.account;
    if (!a) return;
    const params = new URLSearchParams({ limit: '50' });
    if (more && S.nextBefore) params.set('before', String(S.nextBefore));
    const r = await api('GET', '/ledger/accounts/' + encodeURIComponent(a.id) + '/statement?' + params.toString());
    if (!r.ok) { status((r.data && r.data.message) || 'statement failed', true); return; }
    if (!S.account || S.account.id !== a.id) return;
    S.lines = more ? S.lines.concat(r.data.lines) : r.data.lines;
    S.nextBefore = r.data.next_before || null;
    table($('ledger-statement'), ['#', 'When', 'Entry', 'Kind', 'Reference', 'Amount', 'Balance after'],
      S.lines.map((l) => el('tr', { 'data-entry': l.entry_id, 'data-entry-kind': l.entry_kind, 'data-version': l.account_version },
        cell('#', String(l.account_version)), cell('When', C.when(l.created_at)),
        cell('Entry', opener(l.entry_id, 'open-entry', () => openEntry(l.entry_id))),
        cell('Kind', l.entry_kind), cell('Reference', el('code', { text: l.reference })),
        cell('Amount', money(l.amount_minor, a.currency)),
        cell('Balance after', money(l.balance_after_minor, a.currency)))),
      'No lines yet.');
    $('ledger-older').classList.toggle('hidden', !S.nextBefore);
  }

  async function openEntry(id) {
    const r = await api('GET', '/ledger/entries/' + encodeURIComponent(id));
    if (!r.ok) { status((r.data && r.data.message) || 'journal entry failed', true); return; }
    const e = r.data.entry;
    $('ledger-entry-id').textContent = e.id;
    $('ledger-entry-info').replaceChildren(kv([
      ['Kind', e.kind], ['Reference', el('code', { text: e.reference })],
      ['Business line', el('code', { text: e.business_line_id })],
      ['Idempotency key', el('code', { text: e.idempotency_key })], ['When', C.when(e.created_at)],
      ['Lines sum to zero', r.data.balanced ? pill('yes', 'ok') : pill('NO', 'bad')],
    ]));
    table($('ledger-entry-lines'), ['Line', 'Account', 'Kind', 'Owner', 'Amount', 'Balance after', 'Account line #'],
      e.lines.map((l) => el('tr', { 'data-line': l.line_no, 'data-account': l.account_id },
        cell('Line', String(l.line_no)),
        cell('Account', opener(l.account_id, 'open-account', () => openAccount(l.account_id))),
        cell('Kind', l.kind || '—'), cell('Owner', el('code', { text: l.owner || '—' })),
        cell('Amount', money(l.amount_minor, l.currency)),
        cell('Balance after', money(l.balance_after_minor, l.currency)),
        cell('Account line #', String(l.account_version)))));
    $('ledger-entry').classList.remove('hidden');
    $('ledger-entry').scrollIntoView({ block: 'start' });
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('ledger-form').addEventListener('submit', (ev) => { ev.preventDefault(); loadAccounts(false); });
    $('ledger-reload').addEventListener('click', () => loadAccounts(false));
    $('ledger-more').addEventListener('click', () => loadAccounts(true));
    $('ledger-older').addEventListener('click', () => loadStatement(true));
    C.register('ledger', () => loadAccounts(false));
  });
})();
