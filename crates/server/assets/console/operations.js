// paydesk console, operations views: #dashboard, #lines (business lines), #approvals
// (maker-checker), #audit.
// Builds on what console.js exposes (window.paydeskConsole). Values from the server go in
// with textContent only; charts are SVG built node by node.
'use strict';
(function () {
  const C = window.paydeskConsole;
  if (!C) return;
  const { el, api, money, status, cell, table } = C;
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  const svg = (tag, attrs) => {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  };
  const isAdmin = C.isAdmin;
  const time = C.timeMs;
  const pct = (n, d) => (d ? (100 * n / d).toFixed(1) + '%' : '—');

  // ---- dashboard ----
  async function loadDashboard() {
    const hours = Number($('dash-hours').value);
    const bucket = hours <= 24 ? 60 : hours <= 168 ? 360 : 1440;
    const r = await api('GET', '/dashboard?hours=' + hours + '&bucket_minutes=' + bucket);
    if (!r.ok) { status((r.data && r.data.message) || 'dashboard failed', true); return; }
    const d = r.data;
    renderCounts(d.counts);
    renderChart(d);
    renderGroups(d);
  }

  function renderCounts(c) {
    const flagged = c.flagged_payments || {};
    const items = [
      ['waiting', 'Waiting orders', c.waiting_orders],
      ['duplicate', 'Duplicate payments (refunded)', flagged.DUPLICATE || 0],
      ['mismatch', 'Amount mismatches', flagged.AMOUNT_MISMATCH || 0],
      ['late', 'Late payments (refunded)', flagged.LATE || 0],
      ['failed-notifications', 'Failed notifications', c.notifications_failed],
      ['outbox', 'Outbox backlog', c.notifications_pending],
    ];
    $('dash-counts').replaceChildren(...items.map(([key, label, n]) =>
      el('div', { class: 'count' + (n > 0 && key !== 'waiting' && key !== 'outbox' ? ' count-warn' : ''), 'data-count': key },
        el('strong', { text: String(n) }), el('span', { text: label }))));
  }

  // One bar per bucket: paid amount per currency (the largest currency by amount), with
  // attempts and success rate in each bar's title.
  function renderChart(d) {
    const byCurrency = {};
    for (const row of d.rows) byCurrency[row.currency] = (byCurrency[row.currency] || 0) + row.paid_amount_minor;
    const currency = Object.keys(byCurrency).sort((a, b) => byCurrency[b] - byCurrency[a])[0] || 'CNY';
    const n = Math.max(1, Math.round((d.to_ms - d.from_ms) / d.bucket_ms));
    const buckets = Array.from({ length: n }, () => ({ amount: 0, attempts: 0, paid: 0 }));
    for (const row of d.rows) {
      const i = Math.round((row.bucket_start_ms - d.from_ms) / d.bucket_ms);
      if (i < 0 || i >= n) continue;
      buckets[i].attempts += row.attempts;
      buckets[i].paid += row.paid;
      if (row.currency === currency) buckets[i].amount += row.paid_amount_minor;
    }
    const max = Math.max(1, ...buckets.map((b) => b.amount));
    const W = 600, H = 160, w = W / n;
    const chart = svg('svg', { viewBox: '0 0 ' + W + ' ' + H, role: 'img', 'aria-label': 'Paid amount per bucket in ' + currency, preserveAspectRatio: 'none' });
    buckets.forEach((b, i) => {
      const h = Math.round(H * b.amount / max);
      const bar = svg('rect', { x: (i * w + 1).toFixed(1), y: H - h, width: Math.max(1, w - 2).toFixed(1), height: h, class: 'bar', 'data-bucket': i });
      const title = svg('title');
      title.textContent = time(d.from_ms + i * d.bucket_ms) + ': ' + money(b.amount, currency) + ', ' + b.paid + ' paid of ' + b.attempts + ' attempts (' + pct(b.paid, b.attempts) + ')';
      bar.append(title);
      chart.append(bar);
    });
    $('dash-chart').replaceChildren(chart,
      el('p', { class: 'hint', text: time(d.from_ms) + ' → now; tallest bar ' + money(max, currency) }));
  }

  function groupTable(t, headers, groups) {
    const rows = Object.values(groups).sort((a, b) => b.paid - a.paid || b.attempts - a.attempts);
    table(t, headers, rows.map((g) => el('tr', { 'data-group': g.key },
      g.cells.map(([l, v]) => cell(l, v)),
      cell('Attempts', String(g.attempts)), cell('Paid', String(g.paid)),
      cell('Success rate', pct(g.paid, g.attempts)),
      cell('Amount', Object.entries(g.amounts).map(([c, m]) => money(m, c)).join(', ') || '—'))),
    'No payments in this window.');
  }

  function renderGroups(d) {
    const add = (groups, key, cells, row) => {
      const g = groups[key] || (groups[key] = { key, cells, attempts: 0, paid: 0, amounts: {} });
      g.attempts += row.attempts; g.paid += row.paid;
      if (row.paid_amount_minor) g.amounts[row.currency] = (g.amounts[row.currency] || 0) + row.paid_amount_minor;
    };
    const methods = {}, lines = {};
    for (const row of d.rows) {
      add(methods, row.provider + '/' + row.method, [['Provider', row.provider], ['Method', row.method]], row);
      const name = d.business_lines[row.business_line_id] || row.business_line_id;
      add(lines, row.business_line_id, [['Business line', name]], row);
    }
    groupTable($('dash-methods'), ['Provider', 'Method', 'Attempts', 'Paid', 'Success rate', 'Amount'], methods);
    groupTable($('dash-lines'), ['Business line', 'Attempts', 'Paid', 'Success rate', 'Amount'], lines);
  }

  // ---- business lines ----
  async function loadLines() {
    for (const e of document.querySelectorAll('#view-lines .admin-only')) e.classList.toggle('hidden', !isAdmin());
    const r = await api('GET', '/business-lines');
    if (!r.ok) { status((r.data && r.data.message) || 'business lines failed', true); return; }
    table($('lines-table'), ['Name', 'App id', 'Status', 'Notify URL', 'Old secret accepted until', ''],
      r.data.business_lines.map((l) => el('tr', { 'data-line': l.name },
        cell('Name', l.name), cell('App id', el('code', { text: l.app_id })), cell('Status', l.status),
        cell('Notify URL', l.notify_url),
        cell('Old secret accepted until', l.previous_secret_valid_until_ms ? time(l.previous_secret_valid_until_ms) : '—'),
        cell('', isAdmin() ? rotateControls(l) : ''))));
  }

  function rotateControls(l) {
    const hours = el('select', { 'aria-label': 'Overlap for ' + l.name, class: 'overlap' },
      [0, 1, 24, 72, 168].map((h) => el('option', { value: h, text: h ? h + ' h overlap' : 'no overlap', selected: h === 24 })));
    const go = el('button', { type: 'button', class: 'small rotate', text: 'Rotate secret', onclick: async () => {
      if (!window.confirm('Give ' + l.name + ' a new secret? The old one stops ' + (Number(hours.value) ? 'after ' + hours.value + ' h.' : 'at once.'))) return;
      const r = await api('POST', '/business-lines/' + encodeURIComponent(l.id) + '/rotate-secret', { overlap_hours: Number(hours.value) });
      if (!r.ok) { status(r.data.message, true); return; }
      showSecret(l.name, r.data.secret);
      status('Secret of ' + l.name + ' rotated.');
      await loadLines();
    } });
    return el('span', { class: 'row' }, hours, go);
  }

  function showSecret(name, secret) {
    const p = $('lines-secret');
    p.replaceChildren(el('span', { text: 'New secret of ' + name + ' (shown only now; give it to the business line): ' }),
      el('code', { id: 'shown-secret', text: secret }));
    p.classList.remove('hidden');
  }

  async function addLine(ev) {
    ev.preventDefault();
    const allow = $('line-allow').value.split('\n').map((s) => s.trim()).filter(Boolean);
    const r = await api('POST', '/business-lines', { name: $('line-name').value.trim(), notify_url: $('line-notify').value.trim(), allowed_url_prefixes: allow });
    if (!r.ok) { status(r.data.message, true); return; }
    showSecret(r.data.business_line.name, r.data.secret);
    status('Business line ' + r.data.business_line.name + ' added; app id ' + r.data.business_line.app_id + '.');
    $('line-form').reset();
    await loadLines();
  }

  // ---- approvals (maker-checker) ----
  async function loadApprovals() {
    const r = await api('GET', '/approvals?status=PENDING');
    if (!r.ok) { status((r.data && r.data.message) || 'approvals failed', true); return; }
    const me = (C.me() || {}).name;
    table($('approvals-table'), ['Asked', 'By', 'Action', 'On', 'Request', ''],
      r.data.approvals.map((a) => el('tr', { 'data-approval': a.id, 'data-action': a.action },
        cell('Asked', time(a.requested_at_ms)), cell('By', a.requested_by), cell('Action', a.action),
        cell('On', a.target),
        cell('Request', el('code', { text: a.request_body === undefined ? '(sealed)' : JSON.stringify(a.request_body) })),
        cell('', isAdmin() && !String(a.requested_by).endsWith(':' + me) ? decideControls(a) : ''))),
      'Nothing waits for approval.');
  }

  function decideControls(a) {
    const decide = (verb) => async () => {
      const r = await api('POST', '/approvals/' + encodeURIComponent(a.id) + '/' + verb);
      if (!r.ok) { status(r.data.message, true); return; }
      status(a.action + ' ' + (verb === 'approve' ? 'approved and done.' : 'rejected.')
        + (r.data && r.data.secret ? ' New secret (shown only now): ' + r.data.secret : ''));
      await loadApprovals();
    };
    return el('span', { class: 'row' },
      el('button', { type: 'button', class: 'small approve', text: 'Approve', onclick: decide('approve') }),
      el('button', { type: 'button', class: 'small reject', text: 'Reject', onclick: decide('reject') }));
  }

  // ---- audit log ----
  async function loadAudit() {
    const r = await api('GET', '/audit?limit=200');
    if (!r.ok) { status((r.data && r.data.message) || 'audit log failed', true); return; }
    table($('audit-table'), ['When', 'Who', 'What', 'On', 'Details'],
      r.data.entries.map((e) => el('tr', { 'data-action': e.action },
        cell('When', time(e.at_ms)), cell('Who', e.actor), cell('What', e.action), cell('On', e.target),
        cell('Details', el('code', { text: e.details === null ? '' : JSON.stringify(e.details) })))));
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('dash-reload').addEventListener('click', loadDashboard);
    $('dash-hours').addEventListener('change', loadDashboard);
    $('lines-reload').addEventListener('click', loadLines);
    $('line-form').addEventListener('submit', addLine);
    $('audit-reload').addEventListener('click', loadAudit);
    $('approvals-reload').addEventListener('click', loadApprovals);
    C.register('approvals', loadApprovals);
    C.register('dashboard', loadDashboard);
    C.register('lines', loadLines);
    C.register('audit', loadAudit);
  });
})();
