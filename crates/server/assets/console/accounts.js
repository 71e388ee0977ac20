// paydesk console, #accounts: merchant accounts (list, test connection, disable/enable,
// add from key files). Key files are read in the browser and sent once, over the session,
// to POST /admin/v1/merchant-accounts, which seals them; nothing here keeps them.
'use strict';
(function () {
  const C = window.paydeskConsole;
  if (!C) return;
  const { el, api, status, cell, table } = C;
  const $ = (id) => document.getElementById(id);

  async function loadAccounts() {
    for (const e of document.querySelectorAll('#view-accounts .admin-only')) e.classList.toggle('hidden', !C.isAdmin());
    const r = await api('GET', '/merchant-accounts');
    if (!r.ok) { status((r.data && r.data.message) || 'merchant accounts failed', true); return; }
    table($('accounts-table'), ['Id', 'Provider', 'Status', 'Source', 'Merchant / app', 'Key versions', 'Used by rules', ''],
      r.data.merchant_accounts.map((a) => {
        const pub = a.public || {};
        return el('tr', { 'data-account': a.id },
          cell('Id', el('code', { text: a.id })), cell('Provider', a.provider),
          cell('Status', a.status + (a.loaded ? '' : ' (not in use)')), cell('Source', a.source),
          cell('Merchant / app', [pub.mchid || pub.seller_id, pub.appid || pub.app_id].filter(Boolean).join(' / ') || '—'),
          cell('Key versions', (a.keys || []).map((k) => 'v' + k.key_version + (k.retired_at_ms ? ' (retired)' : '')).join(', ') || '—'),
          cell('Used by rules', (a.used_by_rules || []).join(', ') || '—'),
          cell('', C.isAdmin() ? actions(a) : ''),
          cell('Test', el('span', { class: 'test-result' })));
      }), 'No merchant accounts.');
  }

  function actions(a) {
    const out = [el('button', { type: 'button', class: 'small test', text: 'Test connection', onclick: async (ev) => {
      const result = ev.target.closest('tr').querySelector('.test-result');
      result.textContent = 'testing...';
      const r = await api('POST', '/merchant-accounts/' + encodeURIComponent(a.id) + '/test');
      result.textContent = r.ok ? (r.data.ok ? 'OK' : 'FAILED') + ': ' + r.data.detail : (r.data && r.data.message) || 'failed';
      result.className = 'test-result ' + (r.ok && r.data.ok ? 'ok' : 'error');
    } })];
    if (a.source === 'database') {
      const to = a.status === 'ACTIVE' ? 'DISABLED' : 'ACTIVE';
      out.push(el('button', { type: 'button', class: 'small status', text: to === 'DISABLED' ? 'Disable' : 'Enable', onclick: async () => {
        if (to === 'DISABLED' && !window.confirm('Disable ' + a.id + '? It takes no new payments; rules routing to it stop validating.')) return;
        const r = await api('POST', '/merchant-accounts/' + encodeURIComponent(a.id) + '/status', { status: to });
        if (!r.ok) { status(r.data.message, true); return; }
        status(a.id + ' is ' + to.toLowerCase() + '.');
        await loadAccounts();
      } }));
    }
    return el('span', { class: 'row' }, out);
  }

  // The text of a chosen file ('' if none).
  async function fileText(id) {
    const f = $(id).files[0];
    return f ? (await f.text()).trim() : '';
  }
  const val = (id) => $(id).value.trim();

  async function addAccount(ev) {
    ev.preventDefault();
    const provider = $('acc-provider').value;
    let body;
    if (provider === 'alipay') {
      body = {
        id: val('acc-id'),
        public: { provider, gateway_url: val('acc-gateway_url'), app_id: val('acc-app_id'), seller_id: val('acc-seller_id'),
          alipay_public_key_pem: await fileText('acc-alipay_public_key') },
        secret: { provider, app_private_key_pem: await fileText('acc-app_private_key') },
      };
    } else {
      const platformPem = await fileText('acc-platform_public_key');
      body = {
        id: val('acc-id'),
        public: { provider, base_url: val('acc-base_url'), mchid: val('acc-mchid'), appid: val('acc-appid'),
          merchant_serial_no: val('acc-merchant_serial_no'),
          platform_public_keys: platformPem ? [{ id: val('acc-platform_key_id'), pem: platformPem }] : [] },
        secret: { provider, merchant_private_key_pem: await fileText('acc-merchant_private_key'), apiv3_key: $('acc-apiv3_key').value },
      };
    }
    const r = await api('POST', '/merchant-accounts', body);
    body = null;
    if (!r.ok) { status(r.data.message, true); return; }
    status('Merchant account ' + r.data.id + ' added' + (r.data.loaded ? ' and in use.' : '.'));
    $('account-form').reset();
    showProvider();
    await loadAccounts();
  }

  function showProvider() {
    const p = $('acc-provider').value;
    $('acc-alipay').classList.toggle('hidden', p !== 'alipay');
    $('acc-wechatpay').classList.toggle('hidden', p !== 'wechatpay');
  }

  document.addEventListener('DOMContentLoaded', () => {
    $('accounts-reload').addEventListener('click', loadAccounts);
    $('acc-provider').addEventListener('change', showProvider);
    $('account-form').addEventListener('submit', addAccount);
    C.register('accounts', loadAccounts);
  });
})();
