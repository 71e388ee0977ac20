// paydesk console, the "Find orders" card of #payments: one business line's orders by
// status and creation time, newest first, hot and archived alike
// (GET /admin/v1/pay-orders); each row opens its lookup.
'use strict';
(function () {
  const C = window.paydeskConsole;
  if (!C) return;
  const { el, api, money, status, cell, table } = C;
  const $ = (id) => document.getElementById(id);
  let shown = [];
  let next = null;

  async function loadLines() {
    const r = await api('GET', '/business-lines');
    if (!r.ok) return;
    const sel = $('search-line');
    const current = sel.value;
    sel.replaceChildren(...r.data.business_lines.map((l) => el('option', { value: l.id, text: l.name, selected: l.id === current })));
  }

  // A datetime-local value as unix ms ('' → undefined).
  function ms(id) {
    const v = $(id).value;
    return v ? String(new Date(v).getTime()) : undefined;
  }

  async function search(more) {
    const params = new URLSearchParams({ business_line: $('search-line').value, limit: '50' });
    if ($('search-status').value) params.set('status', $('search-status').value);
    if (ms('search-from')) params.set('created_from_ms', ms('search-from'));
    if (ms('search-to')) params.set('created_to_ms', ms('search-to'));
    if (more && next) params.set('cursor', next);
    const r = await api('GET', '/pay-orders?' + params.toString());
    if (!r.ok) { status((r.data && r.data.message) || 'search failed', true); return; }
    shown = more ? shown.concat(r.data.data) : r.data.data;
    next = r.data.next_cursor || null;
    table($('search-table'), ['Created', 'Pay order', 'Business order no', 'Amount', 'Status'],
      shown.map((o) => el('tr', { 'data-order': o.id },
        cell('Created', C.when(o.created_at)),
        cell('Pay order', el('a', { href: '#payments?q=' + encodeURIComponent(o.id), text: o.id })),
        cell('Business order no', o.business_order_no),
        cell('Amount', money(o.amount, o.currency)), cell('Status', o.status))),
      'No orders match.');
    $('search-more').classList.toggle('hidden', !next);
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('search-form').addEventListener('submit', (ev) => { ev.preventDefault(); search(false); });
    $('search-more').addEventListener('click', () => search(true));
    C.register('payments', loadLines);
  });
})();
