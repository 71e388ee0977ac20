// paydesk console, #payouts: payouts (打款) and withdrawals (提现), newest first, from
// GET /admin/v1/payouts, with paydesk's status, what the provider says now (live=true:
// a signed query with the payout's own number, for payouts in flight), amount,
// destination and failure reason. Admins retry a payout in flight (POST
// /admin/v1/payouts/{id}/retry): the server allows it only for PROCESSING and
// WAIT_USER_CONFIRM, so the button is shown only there; with maker-checker on, the
// retry waits for a second admin (api() reports it held).
'use strict';
(function () {
  const C = window.paydeskConsole;
  if (!C) return;
  const { el, api, money, status, cell, table } = C;
  const $ = (id) => document.getElementById(id);
  const RETRYABLE = ['PROCESSING', 'WAIT_USER_CONFIRM'];
  const TONE = { ACCEPTED: 'wait', PROCESSING: 'wait', WAIT_USER_CONFIRM: 'wait', SUCCEEDED: 'ok', FAILED: 'bad', CANCELLED: 'off' };
  const S = { rows: [], next: null, lines: {}, seq: 0 };
  const pill = (text, kind) => el('span', { class: 'pill pill-' + kind, text });
  const hint = (text) => el('div', { class: 'hint', text });

  async function loadLines() {
    const r = await api('GET', '/business-lines');
    if (!r.ok) return;
    const sel = $('payouts-line');
    const current = sel.value;
    S.lines = {};
    for (const l of r.data.business_lines) S.lines[l.id] = l.name;
    sel.replaceChildren(el('option', { value: '', text: 'any' }),
      ...r.data.business_lines.map((l) => el('option', { value: l.id, text: l.name, selected: l.id === current })));
  }

  // What the provider says about `p`: its live answer when asked, else what paydesk knows.
  function providerCell(p, asked) {
    const td = el('td', { class: 'live-status', 'data-label': 'Provider says' });
    const live = p.provider_live;
    if (live && live.error) {
      td.append(pill('UNKNOWN', 'warn'), hint('could not ask: ' + live.error));
    } else if (live) {
      td.append(el('code', { class: 'live-state', text: live.state || '—' }));
      if (live.fail_reason) td.append(hint(live.fail_reason));
      if (live.amount_minor !== null && live.amount_minor !== undefined && live.amount_minor !== p.amount_minor) {
        td.append(el('div', { class: 'mismatch-text', text: 'reports ' + money(live.amount_minor, p.currency) }));
      }
    } else if (p.status === 'ACCEPTED') {
      td.append(hint('not sent yet'));
    } else if (TONE[p.status] === 'wait') {
      td.append(hint(asked ? 'no answer' : 'not asked'));
    } else {
      td.append(hint('final'));
    }
    if (p.provider_transfer_id) td.append(el('div', { class: 'hint' }, 'transfer ', el('code', { class: 'id', text: p.provider_transfer_id })));
    return td;
  }

  function failure(p) {
    const out = [];
    if (p.failure_code || p.failure_message) out.push(el('div', { class: 'error', text: [p.failure_code, p.failure_message].filter(Boolean).join(': ') }));
    if (p.last_error) out.push(hint(p.last_error));
    if (p.needs_operator) out.push(el('div', { class: 'warn', text: 'waiting for an operator' }));
    return out.length ? out : '—';
  }

  function retryButton(p) {
    if (!C.isAdmin() || !RETRYABLE.includes(p.status)) return '';
    return el('button', { type: 'button', class: 'small retry', text: 'Retry', onclick: async (ev) => {
      if (!window.confirm('Retry ' + p.id + ' now? paydesk asks the provider about ' + p.payout_no
        + ' and re-sends that same number only if the provider does not know it.')) return;
      ev.target.disabled = true;
      const r = await api('POST', '/payouts/' + encodeURIComponent(p.id) + '/retry');
      ev.target.disabled = false;
      if (r.pending) { status(r.data.message); return; }
      if (!r.ok) { status((r.data && r.data.message) || 'retry failed', true); return; }
      status('Payout ' + p.id + ' retried: now ' + r.data.status + '.');
      await load(false);
    } });
  }

  async function load(more) {
    const seq = ++S.seq;
    const asked = !$('payouts-nolive').checked;
    const params = new URLSearchParams({ limit: '50' });
    if ($('payouts-line').value) params.set('business_line_id', $('payouts-line').value);
    if ($('payouts-kind').value) params.set('kind', $('payouts-kind').value);
    if ($('payouts-status').value) params.set('status', $('payouts-status').value);
    if (asked) params.set('live', 'true');
    if (more && S.next) params.set('cursor', S.next);
    const r = await api('GET', '/payouts?' + params.toString());
    if (seq !== S.seq) return;
    if (!r.ok) { status((r.data && r.data.message) || 'payouts failed', true); return; }
    S.rows = more ? S.rows.concat(r.data.payouts) : r.data.payouts;
    S.next = r.data.next_cursor || null;
    table($('payouts-table'), ['Created', 'Payout', 'Business line', 'Amount', 'Destination', 'Status', 'Provider says', 'Failure', ''],
      S.rows.map((p) => el('tr', { 'data-payout': p.id, 'data-status': p.status, 'data-kind': p.kind, class: p.needs_operator ? 'flagged' : '' },
        cell('Created', C.when(p.created_at)),
        cell('Payout', [el('div', { text: p.kind + ' ' + p.business_payout_no }), el('code', { class: 'id', text: p.id }),
          el('div', { class: 'hint' }, 'number ', el('code', { class: 'id', text: p.payout_no }))]),
        cell('Business line', S.lines[p.business_line_id] || p.business_line_id),
        cell('Amount', money(p.amount_minor, p.currency)),
        cell('Destination', [el('div', { text: p.provider + ' · ' + p.merchant_account }), el('code', { class: 'id', text: p.recipient })]),
        cell('Status', [pill(p.status, TONE[p.status] || 'off'), hint(p.tries + (p.tries === 1 ? ' provider call' : ' provider calls')),
          p.finished_at ? el('div', { class: 'hint' }, 'finished ', C.when(p.finished_at)) : null]),
        providerCell(p, asked),
        cell('Failure', failure(p)),
        cell('', retryButton(p)))),
      'No payouts match.');
    $('payouts-more').classList.toggle('hidden', !S.next);
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('payouts-form').addEventListener('submit', (ev) => { ev.preventDefault(); load(false); });
    $('payouts-reload').addEventListener('click', () => load(false));
    $('payouts-more').addEventListener('click', () => load(true));
    C.register('payouts', async () => { await loadLines(); await load(false); });
  });
})();
