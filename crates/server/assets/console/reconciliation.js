// paydesk console, #reconcile: reconciliation runs per bill day and merchant account (with
// their totals and a CSV of their differences), reconciling a day on demand, and the queue
// of differences an operator resolves with a recorded reason.
'use strict';
(function () {
  const C = window.paydeskConsole;
  if (!C) return;
  const { el, api, money, status, cell, table } = C;
  const $ = (id) => document.getElementById(id);
  const KIND_WORDS = {
    MISSING_IN_PAYDESK: 'the provider has it, paydesk does not',
    MISSING_AT_PROVIDER: 'paydesk has it, the provider does not',
    STATUS_DIFFERS: 'the status differs',
    AMOUNT_DIFFERS: 'the amount differs',
    FEE_DIFFERS: 'the fee differs',
  };

  // Yesterday in China time (UTC+8), the day a provider's bill is ready for.
  function yesterdayChina() {
    return new Date(Date.now() + 8 * 3600e3 - 86400e3).toISOString().slice(0, 10);
  }
  const count = (t, c) => t.count + ' · ' + money(t.net_minor, c);

  async function loadRuns() {
    for (const e of document.querySelectorAll('#view-reconcile .admin-only')) e.classList.toggle('hidden', !C.isAdmin());
    if (!$('recon-date').value) $('recon-date').value = yesterdayChina();
    const r = await api('GET', '/reconciliation/runs?limit=100');
    if (!r.ok) { status((r.data && r.data.message) || 'reconciliation runs failed', true); return; }
    table($('recon-runs'), ['Bill day', 'Account', 'Status', 'Provider', 'paydesk', 'Matched', 'Only at provider', 'Only in paydesk', 'Differing', 'Ties out', ''],
      r.data.runs.map((run) => {
        const t = run.totals, c = run.currency;
        return el('tr', { 'data-run': run.id, 'data-account': run.merchant_account, 'data-date': run.bill_date },
          cell('Bill day', run.bill_date), cell('Account', run.merchant_account),
          cell('Status', run.status + (run.error ? ': ' + run.error : '')),
          cell('Provider', count(t.provider, c)), cell('paydesk', count(t.paydesk, c)),
          cell('Matched', count(t.matched, c)), cell('Only at provider', count(t.missing_in_paydesk, c)),
          cell('Only in paydesk', count(t.missing_at_provider, c)), cell('Differing', String(t.differing.count)),
          cell('Ties out', t.ties_out ? 'yes' : 'NO'),
          cell('', el('a', { href: '/admin/v1/reconciliation/runs/' + encodeURIComponent(run.id) + '/differences.csv', class: 'csv', text: 'CSV' })));
      }), 'No runs yet.');
    await loadDifferences();
  }

  async function loadDifferences() {
    const state = $('recon-state').value;
    const r = await api('GET', '/reconciliation/differences?limit=200' + (state ? '&state=' + state : ''));
    if (!r.ok) { status((r.data && r.data.message) || 'differences failed', true); return; }
    table($('recon-diffs'), ['Bill day', 'Account', 'What', 'Record', 'Provider says', 'paydesk says', 'State', ''],
      r.data.differences.map((d) => el('tr', { 'data-difference': d.id, 'data-kind': d.kind },
        cell('Bill day', d.bill_date), cell('Account', d.merchant_account),
        cell('What', el('span', { title: KIND_WORDS[d.kind] || '', text: d.kind })),
        cell('Record', el('code', { text: d.refund_no || d.attempt_no || d.provider_txn_id || '—' })),
        cell('Provider says', [d.provider_status, money(d.provider_amount_minor, d.currency)].filter(Boolean).join(' · ')),
        cell('paydesk says', [d.paydesk_status, money(d.paydesk_amount_minor, d.currency)].filter(Boolean).join(' · ')),
        cell('State', d.state + (d.resolution ? ': ' + d.resolution + ' (' + (d.resolved_by || '') + ')' : '')),
        cell('', d.state === 'OPEN' && C.isAdmin() ? resolveControls(d) : ''))),
      state === 'OPEN' ? 'Nothing to resolve.' : 'None.');
  }

  function resolveControls(d) {
    const reason = el('input', { class: 'reason', placeholder: 'why (recorded)', maxlength: 1000, 'aria-label': 'Reason for ' + d.id });
    const go = el('button', { type: 'button', class: 'small resolve', text: 'Resolve', onclick: async () => {
      if (!reason.value.trim()) { status('A resolution needs a reason.', true); reason.focus(); return; }
      const r = await api('POST', '/reconciliation/differences/' + encodeURIComponent(d.id) + '/resolve', { reason: reason.value.trim(), version: d.version });
      if (!r.ok) { status(r.data.message, true); return; }
      status('Difference resolved.');
      await loadDifferences();
    } });
    return el('span', { class: 'row' }, reason, go);
  }

  async function runNow(ev) {
    ev.preventDefault();
    status('Reconciling ' + $('recon-date').value + '...');
    const r = await api('POST', '/reconciliation/runs', { date: $('recon-date').value });
    if (!r.ok) { status(r.data.message, true); return; }
    const failed = r.data.results.filter((x) => x.error);
    status('Reconciled ' + r.data.results.length + ' account(s)' + (failed.length ? '; ' + failed.length + ' failed' : '') + '.', failed.length > 0);
    await loadRuns();
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('recon-reload').addEventListener('click', loadRuns);
    $('recon-state').addEventListener('change', loadDifferences);
    $('recon-form').addEventListener('submit', runNow);
    C.register('reconcile', loadRuns);
  });
})();
