// paydesk console: vanilla JS over /admin/v1. Every value from the server or the
// operator is put in the page with textContent, never as HTML.
'use strict';
(function () {
  const METHODS = ['WECHAT_PAY', 'ALIPAY', 'ALIPAY_INSTALLMENT', 'BALANCE', 'COMBINED'];
  const TERMINALS = ['ANDROID', 'IOS', 'WECHAT_MINI_PROGRAM', 'ALIPAY_MINI_PROGRAM', 'H5', 'WECHAT_H5', 'PC'];
  const PRODUCTS = ['APP', 'JSAPI', 'H5', 'WAP', 'NATIVE', 'PAGE'];
  const CURRENCIES = ['CNY', 'HKD', 'USD', 'EUR', 'GBP', 'JPY', 'KRW'];
  const BUILTIN = { business_line: 'string', seller_id: 'string', seller_segment: 'string', buyer_id: 'string',
    buyer_segment: 'string', item_category: 'string', amount: 'integer', currency: 'currency',
    terminal: 'terminal', app_version: 'semver' };
  const OPS = [['equals', 'equals'], ['in', 'is one of'], ['not_in', 'is none of'], ['range', 'in range'], ['semver', 'version matches']];

  const S = { me: null, rules: null, base: 0, editing: -1, conds: [], complex: null, routes: [], keep: {}, scEditing: -1, orders: {} };
  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v === true) e.setAttribute(k, '');
      else e.setAttribute(k, v);
    }
    for (const kid of kids.flat()) if (kid !== null && kid !== undefined) e.append(kid);
    return e;
  }
  function options(sel, values, current, blank) {
    sel.replaceChildren();
    if (blank !== undefined) sel.append(el('option', { value: '', text: blank }));
    for (const v of values) sel.append(el('option', { value: v, text: v, selected: v === current }));
  }
  function status(msg, bad) { const s = $('status'); s.textContent = msg; s.className = bad ? 'error' : 'ok'; }

  async function api(method, path, body) {
    const init = { method, credentials: 'same-origin', headers: { 'x-paydesk-console': '1' } };
    if (body !== undefined) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(body); }
    const resp = await fetch('/admin/v1' + path, init);
    const text = await resp.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = { message: text }; }
    // Maker-checker: a gated action is held for a second admin (202). Callers treat it as
    // "not done" and show why.
    if (resp.status === 202 && data && data.approval_id) {
      return { ok: false, pending: true, status: 202,
        data: Object.assign({ message: 'Held for a second admin to approve (' + data.action + '); see Approvals.' }, data) };
    }
    return { ok: resp.ok, status: resp.status, data };
  }

  // ---- sign in / out ----
  async function signIn(ev) {
    ev.preventDefault();
    const r = await api('POST', '/session', { token: $('token').value.trim() });
    $('token').value = '';
    if (!r.ok) { $('signin-error').textContent = (r.data && r.data.message) || 'sign-in failed'; return; }
    $('signin-error').textContent = '';
    await start(r.data);
  }
  async function signOut() { await api('DELETE', '/session'); location.reload(); }

  async function start(me) {
    S.me = me;
    $('who').textContent = me.name + ' (' + me.role + ')';
    $('signin').classList.add('hidden');
    $('app').classList.remove('hidden');
    $('signout').classList.remove('hidden');
    for (const b of ['publish']) $(b).disabled = me.role !== 'admin';
    route();
    await loadDraft();
    await loadVersions();
  }

  // ---- draft ----
  async function loadDraft() {
    const r = await api('GET', '/rules/draft');
    if (!r.ok) { status(r.data.message, true); return; }
    S.rules = r.data.rules; S.base = r.data.base_version;
    $('base').textContent = '(draft based on version ' + S.base + ')';
    renderRules(); renderScenarios(); renderDatalists(); closeEditor(); closeScenario();
  }
  function factTypes() {
    const t = Object.assign({}, BUILTIN);
    for (const f of (S.rules.facts || [])) if (f.type) t[f.name] = f.type;
    return t;
  }
  function factValues(name) {
    const decl = (S.rules.facts || []).find((f) => f.name === name);
    if (decl && decl.values) return decl.values.map(String);
    if (name === 'terminal') return TERMINALS;
    if (name === 'currency') return CURRENCIES;
    return [];
  }
  function renderDatalists() {
    const box = $('datalists'); box.replaceChildren();
    for (const name of Object.keys(factTypes())) {
      box.append(el('datalist', { id: 'dl-' + name }, factValues(name).map((v) => el('option', { value: v }))));
    }
  }
  function describeTest(t) {
    if (t.all) return 'all(' + t.all.map(describeTest).join(' and ') + ')';
    if (t.any) return 'any(' + t.any.map(describeTest).join(' or ') + ')';
    if (t.not) return 'not(' + describeTest(t.not) + ')';
    if ('equals' in t) return t.fact + ' = ' + t.equals;
    if ('in' in t) return t.fact + ' in [' + t.in.join(', ') + ']';
    if ('not_in' in t) return t.fact + ' not in [' + t.not_in.join(', ') + ']';
    if ('range' in t) return t.fact + ' in [' + (t.range.min ?? '') + '..' + (t.range.max ?? '') + ')';
    if ('semver' in t) return t.fact + ' ' + t.semver;
    return JSON.stringify(t);
  }
  function describeThen(th) {
    const parts = [];
    if (th.allow && th.allow.length) parts.push('allow ' + th.allow.join(', '));
    if (th.deny && th.deny.length) parts.push('deny ' + th.deny.join(', '));
    for (const p of th.params || []) {
      if (p.allow_credit_card === false) parts.push('no credit card on ' + p.method);
      if (p.allow_credit_card === true) parts.push('credit card on ' + p.method);
      if (p.installment_periods) parts.push(p.method + ' periods ' + p.installment_periods.join('/'));
    }
    if (th.routes && th.routes.length) parts.push(th.routes.length + ' route(s)');
    if (th.default_method) parts.push('default ' + th.default_method);
    if (th.display_order && th.display_order.length) parts.push('order ' + th.display_order.join(' > '));
    return parts.join('; ') || '—';
  }
  function renderRules() {
    const body = $('rules-table').tBodies[0]; body.replaceChildren();
    const order = S.rules.business_rules.map((r, i) => i)
      .sort((a, b) => (S.rules.business_rules[b].priority || 0) - (S.rules.business_rules[a].priority || 0));
    for (const i of order) {
      const r = S.rules.business_rules[i];
      body.append(el('tr', { 'data-rule': r.id },
        el('td', { text: String(r.priority || 0) }),
        el('td', {}, el('strong', { text: r.name || r.id }), el('br'), el('code', { text: r.id }),
          r.enabled === false ? el('span', { class: 'hint', text: ' (disabled)' }) : null,
          describeWindow(r) ? el('div', { class: 'hint', text: describeWindow(r) }) : null),
        el('td', { text: r.when ? describeTest(r.when) : 'always' }),
        el('td', { text: describeThen(r.then || {}) }),
        el('td', {}, el('button', { type: 'button', text: 'Edit', onclick: () => openEditor(i) }),
          ' ', el('button', { type: 'button', text: 'Delete', onclick: () => deleteRule(i) }))));
    }
  }
  function deleteRule(i) {
    const r = S.rules.business_rules[i];
    const refs = (S.rules.scenario_rules || []).filter((x) => x.business_rule === r.id).length;
    if (refs && !confirm(refs + ' scenario rule(s) refine "' + r.id + '"; validation will report them until you edit or delete them. Delete the rule anyway?')) return;
    S.rules.business_rules.splice(i, 1); renderRules(); renderScenarios(); status('Rule deleted from the draft.');
  }
  function renderScenarios() {
    const body = $('scenario-table').tBodies[0]; body.replaceChildren();
    const ids = new Set(S.rules.business_rules.map((r) => r.id));
    (S.rules.scenario_rules || []).forEach((sc, i) => {
      body.append(el('tr', { 'data-scenario': sc.id },
        el('td', {}, el('strong', { text: sc.name || sc.id }), el('br'), el('code', { text: sc.id }),
          sc.enabled === false ? el('span', { class: 'hint', text: ' (disabled)' }) : null),
        el('td', {}, el('code', { text: sc.business_rule }), ids.has(sc.business_rule) ? null : el('span', { class: 'error', text: ' (no such rule)' })),
        el('td', { text: (sc.terminals || []).join(', ') }), el('td', { text: sc.app_version || 'any' }),
        el('td', { text: (sc.methods || []).join(', ') || 'none' }),
        el('td', { text: sc.display_order ? sc.display_order.join(', ') : '—' }),
        el('td', {}, el('button', { type: 'button', text: 'Edit', onclick: () => openScenario(i) }),
          ' ', el('button', { type: 'button', text: 'Delete', onclick: () => deleteScenario(i) }))));
    });
  }
  function deleteScenario(i) {
    const sc = S.rules.scenario_rules[i];
    if (!confirm('Delete scenario rule "' + sc.id + '" from the draft?')) return;
    S.rules.scenario_rules.splice(i, 1);
    if (!S.rules.scenario_rules.length) delete S.rules.scenario_rules;
    closeScenario(); renderScenarios(); status('Scenario rule deleted from the draft.');
  }

  // ---- display order widget: every method, ticked ones are listed in this order ----
  function setOrder(boxId, current) {
    const listed = (current || []).filter((m, i, a) => METHODS.includes(m) && a.indexOf(m) === i);
    S.orders[boxId] = [...listed.map((m) => ({ m, on: true })), ...METHODS.filter((m) => !listed.includes(m)).map((m) => ({ m, on: false }))];
    renderOrder(boxId);
  }
  function renderOrder(boxId) {
    const items = S.orders[boxId];
    const move = (i, d) => { const j = i + d; if (j < 0 || j >= items.length) return; [items[i], items[j]] = [items[j], items[i]]; renderOrder(boxId); };
    $(boxId).replaceChildren(...items.map((it, i) => el('li', { 'data-m': it.m, class: it.on ? 'on' : 'off' },
      el('label', {}, el('input', { type: 'checkbox', 'aria-label': 'order ' + it.m, checked: it.on, onchange: (e) => { it.on = e.target.checked; renderOrder(boxId); } }), it.m),
      el('button', { type: 'button', text: '↑', title: 'Move up', 'aria-label': 'move ' + it.m + ' up', disabled: i === 0, onclick: () => move(i, -1) }),
      el('button', { type: 'button', text: '↓', title: 'Move down', 'aria-label': 'move ' + it.m + ' down', disabled: i === items.length - 1, onclick: () => move(i, 1) }))));
  }
  function orderValue(boxId) {
    const list = S.orders[boxId].filter((it) => it.on).map((it) => it.m);
    return list.length ? list : undefined;
  }

  // ---- effective window: datetime-local (the browser's local time) <-> unix ms ----
  function msToLocal(ms) {
    if (ms === undefined || ms === null) return '';
    const d = new Date(ms);
    if (isNaN(d.getTime())) return '';
    const p = (n, w) => String(n).padStart(w || 2, '0');
    return p(d.getFullYear(), 4) + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());
  }
  function localToMs(input, original, label) {
    const v = input.value;
    if (!v) return undefined;
    const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/.exec(v);
    if (!m) throw new Error(label + ': not a date and time');
    const ms = new Date(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +(m[6] || 0), +((m[7] || '0').padEnd(3, '0'))).getTime();
    if (!Number.isFinite(ms)) throw new Error(label + ': not a date and time');
    // Unchanged to the second: keep the stored instant exactly (milliseconds included).
    if (original !== undefined && ms === new Date(msToLocalDate(original)).getTime()) return original;
    return ms;
  }
  function msToLocalDate(ms) { const d = new Date(ms); d.setMilliseconds(0); return d; }
  function describeWindow(r) {
    const f = (ms) => new Date(ms).toLocaleString();
    if (r.effective_from !== undefined && r.effective_until !== undefined) return 'from ' + f(r.effective_from) + ' until ' + f(r.effective_until);
    if (r.effective_from !== undefined) return 'from ' + f(r.effective_from);
    if (r.effective_until !== undefined) return 'until ' + f(r.effective_until);
    return '';
  }

  // ---- scenario editor ----
  const SEMVER_PART = /^(=|>=|<=|>|<|~|\^)?\s*v?(\d+|\*|x|X)(\.(\d+|\*|x|X)){0,2}(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/;
  function checkSemverRange(text) {
    if (!text) return '';
    const parts = text.split(',').map((x) => x.trim());
    const bad = parts.find((x) => !SEMVER_PART.test(x));
    if (bad !== undefined) return '"' + (bad || text) + '" is not a version range: use comparators like >=5.2.0, <6.0.0 (separated by commas), ^5.2 or 5.*';
    return '';
  }
  function checks(boxId, values, selected, cls) {
    $(boxId).replaceChildren(...values.map((v) => el('label', {},
      el('input', { type: 'checkbox', class: cls, 'data-v': v, 'aria-label': v, checked: (selected || []).includes(v) }), v)));
  }
  function checked(boxId) { return [...$(boxId).querySelectorAll('input[type=checkbox]')].filter((x) => x.checked).map((x) => x.dataset.v); }
  function openScenario(i) {
    S.scEditing = i;
    const sc = i >= 0 ? S.rules.scenario_rules[i] : { id: '', name: '', business_rule: 'default', terminals: [], methods: [] };
    $('scenario-editor-title').textContent = i >= 0 ? 'Edit scenario rule' : 'New scenario rule';
    $('s-id').value = sc.id; $('s-name').value = sc.name || ''; $('s-enabled').checked = sc.enabled !== false;
    const ids = S.rules.business_rules.map((r) => r.id);
    const sel = $('s-business_rule'); sel.replaceChildren();
    for (const r of S.rules.business_rules) sel.append(el('option', { value: r.id, text: r.id + (r.name && r.name !== r.id ? ' — ' + r.name : ''), selected: r.id === sc.business_rule }));
    if (sc.business_rule && !ids.includes(sc.business_rule)) sel.append(el('option', { value: sc.business_rule, text: sc.business_rule + ' (no such rule)', selected: true }));
    checks('s-terminals', TERMINALS, sc.terminals, 's-term');
    checks('s-methods', METHODS, sc.methods, 's-method');
    $('s-app_version').value = sc.app_version || '';
    $('s-app_version-error').textContent = '';
    setOrder('s-order', sc.display_order);
    $('scenario-error').textContent = '';
    $('scenario-editor').classList.remove('hidden');
    $('s-id').focus();
  }
  function closeScenario() { $('scenario-editor').classList.add('hidden'); S.scEditing = -1; }
  function saveScenario() {
    try {
      const id = $('s-id').value.trim();
      if (!id) throw new Error('a scenario rule needs an id');
      const list = S.rules.scenario_rules || [];
      const dup = list.findIndex((x) => x.id === id);
      if (dup >= 0 && dup !== S.scEditing) throw new Error('another scenario rule already has the id ' + id);
      const br = $('s-business_rule').value;
      if (!br) throw new Error('pick the business rule this scenario refines');
      const terminals = checked('s-terminals');
      if (!terminals.length) throw new Error('tick at least one terminal');
      const range = $('s-app_version').value.trim();
      const bad = checkSemverRange(range);
      if (bad) throw new Error('app version: ' + bad);
      const methods = checked('s-methods');
      const sc = { id };
      const name = $('s-name').value.trim();
      if (name) sc.name = name;
      if (!$('s-enabled').checked) sc.enabled = false;
      sc.business_rule = br;
      sc.terminals = terminals;
      if (range) sc.app_version = range;
      sc.methods = methods;
      const order = orderValue('s-order');
      if (order) sc.display_order = order;
      if (!S.rules.scenario_rules) S.rules.scenario_rules = [];
      if (S.scEditing >= 0) S.rules.scenario_rules[S.scEditing] = sc; else S.rules.scenario_rules.push(sc);
      closeScenario(); renderScenarios();
      status('Scenario rule "' + (name || id) + '" saved to the draft. Validate before publishing.' + (methods.length ? '' : ' It offers no method.'));
    } catch (e) { $('scenario-error').textContent = e.message; }
  }

  // ---- rule editor ----
  function simpleTests(when) {
    if (!when) return [];
    const isTest = (t) => t && typeof t.fact === 'string';
    if (isTest(when)) return [when];
    if (when.all && when.all.every(isTest)) return when.all.slice();
    return null;
  }
  function openEditor(i) {
    S.editing = i;
    const r = i >= 0 ? S.rules.business_rules[i] : { id: '', name: '', priority: 100, then: {} };
    $('editor-title').textContent = i >= 0 ? 'Edit rule' : 'New rule';
    $('r-id').value = r.id; $('r-name').value = r.name || ''; $('r-priority').value = r.priority || 0;
    $('r-enabled').checked = r.enabled !== false; $('r-description').value = r.description || '';
    const tests = simpleTests(r.when);
    S.complex = tests === null ? r.when : null;
    S.conds = (tests || []).map(fromTest);
    $('r-complex').classList.toggle('hidden', !S.complex);
    $('r-complex').textContent = S.complex ? 'This rule has a nested condition, kept as is: ' + describeTest(S.complex) + '. Conditions added below are combined with it.' : '';
    renderConds();
    renderMethods(r.then || {});
    S.routes = ((r.then || {}).routes || []).map((x) => Object.assign({}, x));
    renderRoutes();
    options($('r-default'), METHODS, (r.then || {}).default_method, '(none)');
    S.keep = { effective_from: r.effective_from, effective_until: r.effective_until, id: i >= 0 ? r.id : undefined };
    setOrder('r-order', (r.then || {}).display_order);
    $('r-from').value = msToLocal(r.effective_from); $('r-until').value = msToLocal(r.effective_until);
    $('r-tz').textContent = 'Times are in this browser\'s time zone (' + (Intl.DateTimeFormat().resolvedOptions().timeZone || 'local') + ').';
    $('editor-error').textContent = '';
    $('editor').classList.remove('hidden');
    $('r-id').focus();
  }
  function closeEditor() { $('editor').classList.add('hidden'); S.editing = -1; }
  function fromTest(t) {
    for (const op of ['equals', 'in', 'not_in', 'semver']) {
      if (op in t) return { fact: t.fact, op, text: Array.isArray(t[op]) ? t[op].join(', ') : String(t[op]) };
    }
    if (t.range) return { fact: t.fact, op: 'range', text: (t.range.min ?? '') + '..' + (t.range.max ?? '') };
    return { fact: t.fact, op: 'equals', text: '' };
  }
  function renderConds() {
    const body = $('cond-table').tBodies[0]; body.replaceChildren();
    const types = factTypes();
    S.conds.forEach((c, i) => {
      const fact = el('select', { 'aria-label': 'fact', onchange: (e) => { c.fact = e.target.value; renderConds(); } });
      options(fact, Object.keys(types), c.fact);
      const op = el('select', { 'aria-label': 'operator', onchange: (e) => { c.op = e.target.value; } });
      for (const [v, label] of OPS) op.append(el('option', { value: v, text: label, selected: v === c.op }));
      const val = el('input', { 'aria-label': 'values', value: c.text, list: 'dl-' + c.fact, oninput: (e) => { c.text = e.target.value; } });
      body.append(el('tr', {}, el('td', {}, fact), el('td', {}, op), el('td', {}, val),
        el('td', {}, el('button', { type: 'button', text: 'Remove', onclick: () => { S.conds.splice(i, 1); renderConds(); } }))));
    });
  }
  function typed(fact, text) {
    const t = factTypes()[fact];
    if (t === 'integer') { const n = Number(text); if (!Number.isInteger(n)) throw new Error(fact + ': "' + text + '" is not a whole number'); return n; }
    if (t === 'boolean') { if (text !== 'true' && text !== 'false') throw new Error(fact + ': use true or false'); return text === 'true'; }
    return text;
  }
  function toTest(c) {
    const text = c.text.trim();
    const list = () => text.split(',').map((s) => s.trim()).filter((s) => s.length).map((s) => typed(c.fact, s));
    if (c.op === 'equals') { if (!text) throw new Error(c.fact + ': a value is needed'); return { fact: c.fact, equals: typed(c.fact, text) }; }
    if (c.op === 'in') return { fact: c.fact, in: list() };
    if (c.op === 'not_in') return { fact: c.fact, not_in: list() };
    if (c.op === 'semver') return { fact: c.fact, semver: text };
    const [lo, hi] = text.split('..');
    const range = {};
    if (lo && lo.trim()) range.min = typed(c.fact, lo.trim());
    if (hi && hi.trim()) range.max = typed(c.fact, hi.trim());
    return { fact: c.fact, range };
  }
  function renderMethods(then) {
    const body = $('method-table').tBodies[0]; body.replaceChildren();
    for (const m of METHODS) {
      const p = (then.params || []).find((x) => x.method === m) || {};
      const cc = el('select', { 'aria-label': 'credit card ' + m, 'data-m': m, class: 'm-cc' });
      for (const [v, label] of [['', '(not set)'], ['true', 'allowed'], ['false', 'forbidden']]) {
        cc.append(el('option', { value: v, text: label, selected: String(p.allow_credit_card ?? '') === v }));
      }
      body.append(el('tr', {},
        el('td', { text: m }),
        el('td', {}, el('input', { type: 'checkbox', class: 'm-allow', 'data-m': m, 'aria-label': 'allow ' + m, checked: (then.allow || []).includes(m) })),
        el('td', {}, el('input', { type: 'checkbox', class: 'm-deny', 'data-m': m, 'aria-label': 'deny ' + m, checked: (then.deny || []).includes(m) })),
        el('td', {}, m === 'BALANCE' ? '—' : cc),
        el('td', {}, m === 'ALIPAY_INSTALLMENT' ? el('input', { class: 'm-periods', 'data-m': m, 'aria-label': 'installment periods', placeholder: '3, 6, 12', value: (p.installment_periods || []).join(', ') }) : '—')));
    }
  }
  function renderRoutes() {
    const body = $('route-table').tBodies[0]; body.replaceChildren();
    S.routes.forEach((r, i) => {
      const m = el('select', { 'aria-label': 'route method', onchange: (e) => { r.method = e.target.value; } });
      options(m, METHODS.filter((x) => x !== 'BALANCE'), r.method);
      const terms = el('div', { class: 'terms' }, TERMINALS.map((t) => el('label', {},
        el('input', { type: 'checkbox', checked: (r.terminals || []).includes(t), onchange: (e) => {
          r.terminals = (r.terminals || []).filter((x) => x !== t); if (e.target.checked) r.terminals.push(t); } }), t)));
      const prod = el('select', { 'aria-label': 'product', onchange: (e) => { r.product = e.target.value; } });
      options(prod, PRODUCTS, r.product);
      const prov = el('select', { 'aria-label': 'provider', onchange: (e) => { r.provider = e.target.value || undefined; } });
      options(prov, ['wechatpay', 'alipay'], r.provider, '(by method)');
      body.append(el('tr', {}, el('td', {}, m), el('td', {}, terms),
        el('td', {}, el('input', { 'aria-label': 'merchant account', value: r.merchant_account || '', oninput: (e) => { r.merchant_account = e.target.value; } })),
        el('td', {}, prod), el('td', {}, prov),
        el('td', {}, el('button', { type: 'button', text: 'Remove', onclick: () => { S.routes.splice(i, 1); renderRoutes(); } }))));
    });
  }
  function saveRule() {
    try {
      const id = $('r-id').value.trim(), name = $('r-name').value.trim();
      if (!id || !name) throw new Error('a rule needs an id and a name');
      const priority = Number($('r-priority').value || 0);
      if (!Number.isInteger(priority)) throw new Error('the priority is a whole number');
      const dup = S.rules.business_rules.findIndex((r) => r.id === id);
      if (dup >= 0 && dup !== S.editing) throw new Error('another rule already has the id ' + id);
      const tests = S.conds.map(toTest);
      if (S.complex) tests.unshift(S.complex);
      const then = {};
      const pick = (cls) => [...document.querySelectorAll('#method-table .' + cls)].filter((x) => x.checked).map((x) => x.dataset.m);
      const allow = pick('m-allow'), deny = pick('m-deny');
      if (allow.length) then.allow = allow;
      if (deny.length) then.deny = deny;
      const params = [];
      for (const m of METHODS) {
        const cc = document.querySelector('#method-table .m-cc[data-m="' + m + '"]');
        const per = document.querySelector('#method-table .m-periods[data-m="' + m + '"]');
        const p = { method: m };
        if (cc && cc.value) p.allow_credit_card = cc.value === 'true';
        if (per && per.value.trim()) {
          p.installment_periods = per.value.split(',').map((s) => Number(s.trim()));
          if (p.installment_periods.some((n) => !Number.isInteger(n) || n < 0)) throw new Error('installment periods are whole numbers of months');
        }
        if (Object.keys(p).length > 1) params.push(p);
      }
      if (params.length) then.params = params;
      const routes = S.routes.map((r) => { const x = { method: r.method || 'WECHAT_PAY', terminals: r.terminals || [], merchant_account: (r.merchant_account || '').trim(), product: r.product || 'APP' }; if (r.provider) x.provider = r.provider; return x; });
      if (routes.length) then.routes = routes;
      if ($('r-default').value) then.default_method = $('r-default').value;
      const order = orderValue('r-order');
      if (order) then.display_order = order;
      const from = localToMs($('r-from'), S.keep.effective_from, 'in effect from');
      const until = localToMs($('r-until'), S.keep.effective_until, 'in effect until');
      if (from !== undefined && until !== undefined && until <= from) throw new Error('"in effect until" must be later than "in effect from"');
      const rule = { id, name, priority };
      if ($('r-description').value.trim()) rule.description = $('r-description').value.trim();
      if (!$('r-enabled').checked) rule.enabled = false;
      if (from !== undefined) rule.effective_from = from;
      if (until !== undefined) rule.effective_until = until;
      if (tests.length === 1) rule.when = tests[0]; else if (tests.length > 1) rule.when = { all: tests };
      rule.then = then;
      if (S.editing >= 0) S.rules.business_rules[S.editing] = rule; else S.rules.business_rules.push(rule);
      // A renamed rule keeps its scenario rules.
      if (S.keep.id !== undefined && S.keep.id !== id) for (const x of S.rules.scenario_rules || []) if (x.business_rule === S.keep.id) x.business_rule = id;
      closeEditor(); renderRules(); renderScenarios();
      status('Rule "' + name + '" saved to the draft. Validate before publishing.');
    } catch (e) { $('editor-error').textContent = e.message; }
  }

  // ---- validate / simulate / diff / publish ----
  function findingsTable(findings) {
    return el('div', { class: 'scroll' }, el('table', { id: 'findings' },
      el('thead', {}, el('tr', {}, ['Severity', 'Code', 'Rule', 'What to fix'].map((h) => el('th', { text: h })))),
      el('tbody', {}, findings.map((f) => el('tr', { class: 'finding-' + f.severity },
        el('td', { class: 'sev-' + f.severity, text: f.severity }), el('td', {}, el('code', { text: f.code })),
        el('td', { text: f.rule_name || f.rule_id || '' }), el('td', { text: f.message }))))));
  }
  function show(...nodes) { $('results').replaceChildren(...nodes); }
  async function validate() {
    const r = await api('POST', '/rules/validate', { rules: S.rules });
    if (!r.ok) { show(el('p', { class: 'error', text: r.data.message })); return; }
    const d = r.data;
    show(el('p', { id: 'validation-summary', class: d.valid ? 'ok' : 'error', text: d.valid ? 'Valid: ' + d.warnings + ' warning(s).' : d.errors + ' error(s) block publishing; ' + d.warnings + ' warning(s).' }),
      d.findings.length ? findingsTable(d.findings) : null);
  }
  function describeDiff(d) {
    const parts = [];
    for (const k of ['method', 'before', 'after']) if (d[k] !== undefined) parts.push(k + ': ' + JSON.stringify(d[k]));
    return d.kind + ' ' + parts.join(' ');
  }
  function factsText(f) { return Object.entries(f || {}).map(([k, v]) => k + '=' + (typeof v === 'object' ? JSON.stringify(v) : v)).join(', '); }
  async function simulate() {
    const r = await api('POST', '/rules/simulate', { rules: S.rules });
    if (!r.ok) { show(el('p', { class: 'error', text: r.data.message }), r.data.findings ? findingsTable(r.data.findings) : null); return; }
    const d = r.data;
    show(el('p', { id: 'simulation-summary', text: d.changed + ' of ' + d.total + ' recorded checkout(s) would change against version ' + d.against_version + '.' }),
      el('div', { class: 'scroll' }, el('table', { id: 'simulation' },
        el('thead', {}, el('tr', {}, el('th', { text: 'Checkout facts' }), el('th', { text: 'What changes' }))),
        el('tbody', {}, d.changes.map((c) => el('tr', {}, el('td', { text: factsText(c.facts) }),
          el('td', {}, c.differences.map((x) => el('div', { text: describeDiff(x) })))))))));
  }
  async function diff() {
    const r = await api('POST', '/rules/diff', { rules: S.rules });
    if (!r.ok) { show(el('p', { class: 'error', text: r.data.message })); return; }
    const d = r.data.diff;
    const rows = [...d.business_rules.map((c) => ['business rule', c]), ...d.scenario_rules.map((c) => ['scenario rule', c])];
    show(el('p', { id: 'diff-summary', text: rows.length ? rows.length + ' change(s) against version ' + r.data.from + (d.facts_changed ? '; the fact catalogue changed' : '') : 'No change against version ' + r.data.from + '.' }),
      el('ul', { id: 'diff-list' }, rows.map(([kind, c]) => el('li', { text: kind + ' ' + c.id + ': ' + c.kind + (c.fields ? ' (' + c.fields.join(', ') + ')' : '') }))));
  }
  async function publish() {
    const comment = $('comment').value.trim();
    if (!comment) { show(el('p', { class: 'error', text: 'Say why in the comment before publishing.' })); return; }
    const r = await api('POST', '/rules/publish', { rules: S.rules, comment, expected_active: S.base });
    if (!r.ok) {
      show(el('p', { class: 'error', id: 'publish-error', text: r.data.message }), r.data.findings ? findingsTable(r.data.findings) : null);
      return;
    }
    $('comment').value = '';
    await loadDraft(); await loadVersions();
    show(el('p', { class: 'ok', id: 'published', text: 'Published version ' + r.data.version + '; it is active now.' }));
    status('Published version ' + r.data.version + '.');
  }
  async function loadVersions() {
    const r = await api('GET', '/rules/versions');
    if (!r.ok) return;
    const body = $('versions-table').tBodies[0]; body.replaceChildren();
    for (const v of r.data.versions) {
      body.append(el('tr', { 'data-version': v.version }, el('td', { text: String(v.version) }), el('td', { text: v.author }),
        el('td', { text: v.comment }), el('td', { text: v.created_at }),
        el('td', {}, v.active ? el('span', { class: 'badge', text: 'active' }) : (S.me.role === 'admin'
          ? el('button', { type: 'button', text: 'Roll back to this', onclick: () => rollback(v.version, r.data.active) }) : null))));
    }
  }
  async function rollback(version, active) {
    if (!confirm('Make version ' + version + ' active again?')) return;
    const r = await api('POST', '/rules/rollback', { version, expected_active: active });
    if (!r.ok) { status(r.data.message, true); return; }
    await loadDraft(); await loadVersions();
    status('Version ' + version + ' is active again.');
  }

  // ---- decision tester ----
  async function decide(ev) {
    ev.preventDefault();
    const facts = { terminal: $('d-terminal').value };
    for (const k of ['business_line', 'item_category', 'seller_id', 'app_version']) { const v = $('d-' + k).value.trim(); if (v) facts[k] = v; }
    if ($('d-amount').value) facts.amount = Number($('d-amount').value);
    if ($('d-currency').value) facts.currency = $('d-currency').value;
    const r = await api('POST', '/decisions', { facts });
    if (!r.ok) { $('decision').replaceChildren(el('p', { class: 'error', text: r.data.message })); return; }
    const d = r.data;
    const matched = d.trace.rules.filter((x) => x.verdict.kind === 'matched').map((x) => x.name || x.id);
    $('decision').replaceChildren(
      el('p', { text: 'Version ' + d.version + '. Matched: ' + (matched.join(', ') || 'none') + (d.trace.scenario ? '; scenario ' + d.trace.scenario : '') }),
      el('div', { class: 'scroll' }, el('table', { id: 'decision-table' },
        el('thead', {}, el('tr', {}, ['Method', 'Merchant account', 'Product', 'Credit card', 'Installments', 'Default'].map((h) => el('th', { text: h })))),
        el('tbody', {}, d.decision.methods.map((m) => el('tr', { 'data-method': m.method },
          el('td', { text: m.method }), el('td', { text: m.route ? m.route.merchant_account : '—' }),
          el('td', { text: m.route ? m.route.product : '—' }),
          el('td', { class: 'cc', text: m.method === 'BALANCE' ? '—' : (m.params.allow_credit_card ? 'allowed' : 'forbidden') }),
          el('td', { text: (m.params.installment_periods || []).join('/') || '—' }),
          el('td', { text: m.default ? 'yes' : '' })))))),
      el('details', {}, el('summary', { text: 'Why (trace)' }), el('ul', {}, d.trace.rules.map((x) =>
        el('li', { text: (x.name || x.id) + ': ' + (x.verdict.kind === 'failed' ? 'no — ' + x.verdict.condition + ' (' + x.verdict.actual + ')' : x.verdict.kind) })),
        d.trace.dropped.map((x) => el('li', { text: x.method + ' not offered: ' + x.reason.kind + (x.reason.by ? ' by ' + x.reason.by.join(', ') : '') })))));
  }

  // ---- views: #rules (default), #payments[?q=...], and those operations.js, accounts.js,
  // reconciliation.js, ledger.js and payouts.js register ----
  const VIEWS = ['rules', 'payments', 'dashboard', 'lines', 'accounts', 'reconcile', 'ledger', 'payouts', 'approvals', 'audit'];
  const LOADERS = {};
  // What operations.js (dashboard, business lines, audit log) builds on.
  window.paydeskConsole = {
    el, api, money, status, when,
    // A labelled cell (the label shows on phones, where rows become cards).
    cell: (label, value) => el('td', { 'data-label': label }, value),
    // A unix-ms time in the operator's locale.
    timeMs: (ms) => (ms ? new Date(ms).toLocaleString() : '—'),
    // Fills a table: a header row and the given rows, or one row saying `empty`.
    table(t, headers, rows, empty) {
      t.replaceChildren(
        el('thead', {}, el('tr', {}, headers.map((h) => el('th', { text: h })))),
        el('tbody', {}, rows.length ? rows
          : el('tr', {}, el('td', { colspan: headers.length, class: 'hint', text: empty || 'Nothing here.' }))));
    },
    isAdmin: () => (S.me || {}).role === 'admin',
    me: () => S.me,
    register(view, loader) { LOADERS[view] = loader; if (S.view === view) loader(); },
  };
  function parseHash() {
    const h = location.hash.replace(/^#/, '');
    const [view, query] = h.split('?');
    const params = new URLSearchParams(query || '');
    return { view: VIEWS.includes(view) ? view : 'rules', q: params.get('q') || '', noLive: params.get('no_live') === 'true' };
  }
  function lookupHash(q, noLive) { return '#payments?q=' + encodeURIComponent(q) + (noLive ? '&no_live=true' : ''); }
  async function route() {
    if (!S.me) return;
    const h = parseHash();
    for (const v of VIEWS) $('view-' + v).classList.toggle('hidden', v !== h.view);
    for (const a of document.querySelectorAll('#nav a')) {
      if (a.dataset.view === h.view) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
    }
    const entered = S.view !== h.view; S.view = h.view;
    // A registered view loads when entered; #payments then does its own lookup part.
    if (entered && LOADERS[h.view]) await LOADERS[h.view]();
    if (h.view !== 'payments') return;
    if (entered) loadFlagged();
    if (h.q && (h.q !== S.lookedUp || h.noLive !== S.lookedUpNoLive)) {
      $('lookup-q').value = h.q; $('lookup-nolive').checked = h.noLive;
      await lookup(h.q, h.noLive);
    } else if (!h.q) {
      S.lookedUp = null; clearLookup(); $('lookup-q').focus();
    }
  }

  // ---- payments: money, times, words ----
  const ZERO_DECIMALS = ['JPY', 'KRW'];
  function money(minor, currency) {
    if (minor === null || minor === undefined) return '—';
    const exp = ZERO_DECIMALS.includes(currency) ? 0 : 2;
    const digits = String(Math.abs(minor)).padStart(exp + 1, '0');
    const whole = digits.slice(0, digits.length - exp).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
    return (minor < 0 ? '-' : '') + whole + (exp ? '.' + digits.slice(-exp) : '') + (currency ? ' ' + currency : '');
  }
  function when(rfc) {
    if (!rfc) return el('span', { class: 'hint', text: '—' });
    const d = new Date(rfc);
    return el('time', { datetime: rfc, title: rfc, text: isNaN(d.getTime()) ? rfc : d.toLocaleString() });
  }
  const MATCHED = { pay_order_id: 'pay order id', business_order_no: 'business order number', attempt_no: 'attempt number (out_trade_no)', provider_txn_id: 'provider transaction id' };
  const FLAG_WORDS = {
    DUPLICATE: 'a second payment of an order already paid: not the order\'s payment, refunded automatically',
    LATE: 'paid after the order had closed: not the order\'s payment, refunded automatically',
    AMOUNT_MISMATCH: 'the provider reported another amount than the one asked: never the order\'s payment; refunded automatically unless held for review',
  };
  // What the provider may say (its live answer) for each of our attempt states.
  const AGREES = { SUCCEEDED: ['SUCCEEDED', 'REFUNDED'], PENDING: ['NOTPAID', 'PAYING'], CREATING: ['NOTPAID', 'PAYING'],
    CLOSED: ['CLOSED'], FAILED: ['FAILED', 'CLOSED', 'NOTPAID'] };
  function disagreements(a, live) {
    if (!live || live.error) return [];
    const out = [];
    if (!(AGREES[a.status] || []).includes(live.state)) out.push('status: we say ' + a.status + ', the provider says ' + live.state);
    if (live.amount !== null && live.amount !== undefined && live.amount !== a.amount) {
      out.push('amount: we asked ' + money(a.amount, a.currency) + ', the provider reports ' + money(live.amount, a.currency));
    }
    if (live.provider_txn_id && a.provider_txn_id && live.provider_txn_id !== a.provider_txn_id) out.push('transaction id differs');
    return out;
  }
  function pill(text, kind) { return el('span', { class: 'pill pill-' + kind, text }); }
  function attemptPill(status) {
    return pill(status, { SUCCEEDED: 'ok', PENDING: 'wait', CREATING: 'wait', CLOSED: 'off', FAILED: 'bad' }[status] || 'off');
  }
  function liveCell(live, currency) {
    const td = el('td', { class: 'live-status', 'data-label': 'Provider says (live)' });
    if (!live) td.append(el('span', { class: 'hint', text: 'not asked' }));
    else if (live.error) td.append(pill('UNKNOWN', 'warn'), el('div', { class: 'hint', text: 'could not ask: ' + live.error }));
    else {
      const kind = { SUCCEEDED: 'ok', REFUNDED: 'ok', NOTPAID: 'wait', PAYING: 'wait', CLOSED: 'off', FAILED: 'bad' }[live.state] || 'off';
      td.append(pill(live.state, kind), el('div', { class: 'hint' }, 'raw ', el('code', { text: live.provider_state || '—' })),
        live.amount !== null && live.amount !== undefined ? el('div', { class: 'live-amount', text: money(live.amount, currency) }) : null);
    }
    return td;
  }
  function kv(rows) {
    return el('dl', { class: 'kv' }, rows.filter((r) => r).flatMap(([k, v, id]) => [el('dt', { text: k }), el('dd', id ? { id } : {}, v)]));
  }
  function table(id, heads, rows, cls) {
    return el('div', { class: 'scroll' }, el('table', { id, class: cls || 'stack' },
      el('thead', {}, el('tr', {}, heads.map((h) => el('th', { text: h })))), el('tbody', {}, rows)));
  }
  function cell(label, ...kids) { return el('td', { 'data-label': label }, ...kids); }
  function mono(text) { return text ? el('code', { class: 'id', text }) : el('span', { class: 'hint', text: '—' }); }
  function queryLink(text) {
    return el('a', { href: lookupHash(text, false), class: 'id', title: 'Look up ' + text }, el('code', { text }));
  }

  // ---- payments: lookup ----
  function clearLookup() {
    $('lookup-result').replaceChildren(); $('lookup-notfound').classList.add('hidden');
    $('lookup-error').textContent = ''; $('lookup-state').textContent = '';
  }
  async function lookup(q, noLive) {
    const seq = (S.lookupSeq = (S.lookupSeq || 0) + 1);
    S.lookedUp = q; S.lookedUpNoLive = noLive;
    clearLookup();
    $('lookup-state').textContent = noLive ? 'Searching…' : 'Searching and asking the providers…';
    $('lookup-go').disabled = true;
    const r = await api('GET', '/lookup?q=' + encodeURIComponent(q) + (noLive ? '&no_live=true' : ''));
    if (seq !== S.lookupSeq) return; // a newer search started meanwhile
    $('lookup-go').disabled = false;
    $('lookup-state').textContent = '';
    if (r.status === 404) {
      const nf = $('lookup-notfound');
      nf.textContent = 'Not found: no pay order, business order number, attempt number or provider transaction id is "' + q + '".';
      nf.classList.remove('hidden');
      return;
    }
    if (!r.ok) { $('lookup-error').textContent = (r.data && r.data.message) || ('lookup failed (' + r.status + ')'); return; }
    renderLookup(r.data, noLive);
  }
  function renderLookup(d, noLive) {
    const o = d.pay_order;
    const views = d.attempts || [];
    const flagged = views.filter((v) => v.attempt.flag);
    const paidAttempt = views.find((v) => v.attempt.status === 'SUCCEEDED' && !v.attempt.flag);
    const answer = o.status === 'PAID'
      ? 'Yes: paid ' + money(o.amount, o.currency) + (paidAttempt ? ' through ' + paidAttempt.attempt.provider + ' (' + paidAttempt.attempt.method + ')' : '') + '.'
      : o.status === 'WAITING' ? 'Not yet: the order is waiting for payment.' : 'No: the order closed without payment.';
    const refundedNote = o.refunded_amount ? ' Refunded ' + money(o.refunded_amount, o.currency) + ' of it.' : '';
    const order = el('section', { class: 'card', id: 'order-card', 'data-pay-order': o.id },
      el('div', { class: 'order-head' },
        el('span', { id: 'order-status', class: 'big-status status-' + o.status, text: o.status }),
        el('div', {},
          el('div', { id: 'order-amount', class: 'big-amount', text: money(o.amount, o.currency) }),
          el('div', { id: 'order-answer', text: answer + refundedNote + (flagged.length ? ' ' + flagged.length + ' payment(s) were not the order\'s: see Flags.' : '') }))),
      el('p', { class: 'hint', id: 'lookup-matched', text: 'Found by ' + (MATCHED[d.matched] || d.matched) + '.' }),
      kv([
        ['Business order no', mono(o.business_order_no), 'order-business-no'],
        ['Pay order id', mono(o.id), 'order-id'],
        ['Subject', o.subject],
        ['Amount', money(o.amount, o.currency)],
        ['Refunded', el('span', { class: o.refunded_amount ? 'warn' : '', text: money(o.refunded_amount, o.currency) }), 'order-refunded'],
        o.buyer_id ? ['Buyer', mono(o.buyer_id)] : null,
        o.seller_id ? ['Seller', mono(o.seller_id)] : null,
        ['Created', when(o.created_at)],
        ['Expires', when(o.expire_at)],
        ['Paid', when(o.paid_at)],
        o.closed_at ? ['Closed', when(o.closed_at)] : null,
        ['Notify URL', mono(o.notify_url)],
      ]));

    const flags = flagged.length ? el('section', { class: 'card flags', id: 'lookup-flags' },
      el('h2', { text: 'Flags' }),
      el('ul', {}, flagged.map((v) => el('li', { 'data-flag': v.attempt.flag },
        pill(v.attempt.flag, 'bad'), ' ', el('code', { class: 'id', text: v.attempt.attempt_no }), ' (' + v.attempt.provider + ', reported ' + money(v.attempt.paid_amount, v.attempt.currency) + '): ' + (FLAG_WORDS[v.attempt.flag] || v.attempt.flag))))) : null;

    let disagreeing = 0;
    const attemptRows = views.map((v) => {
      const a = v.attempt; const live = v.provider_live;
      const issues = disagreements(a, live);
      if (issues.length) disagreeing += 1;
      const agreeCell = !live ? el('span', { class: 'hint', text: 'not asked' })
        : live.error ? el('span', { class: 'warn', text: 'unknown' })
          : issues.length ? el('div', { class: 'disagree-text' }, el('strong', { text: 'Disagree' }), el('ul', {}, issues.map((x) => el('li', { text: x }))))
            : el('span', { class: 'ok', text: 'Agree' });
      const statusIssue = issues.some((x) => x.startsWith('status'));
      const amountIssue = issues.some((x) => x.startsWith('amount'));
      const ours = cell('Our status', attemptPill(a.status), a.flag ? el('div', {}, pill(a.flag, 'bad')) : null);
      ours.classList.add('our-status');
      const theirs = liveCell(live, a.currency);
      if (statusIssue) { ours.classList.add('mismatch'); theirs.classList.add('mismatch'); }
      const amountCell = cell('Amount', el('div', { text: money(a.amount, a.currency) }),
        a.paid_amount !== null && a.paid_amount !== undefined ? el('div', { class: a.paid_amount !== a.amount ? 'hint mismatch-text' : 'hint', text: 'paid ' + money(a.paid_amount, a.currency) }) : null);
      if (amountIssue) { amountCell.classList.add('mismatch'); theirs.classList.add('mismatch'); }
      return el('tr', { 'data-attempt': a.attempt_no, class: issues.length ? 'disagree' : (a.flag ? 'flagged' : '') },
        cell('Attempt', queryLink(a.attempt_no), el('div', { class: 'hint', text: a.method + ' · ' + a.product }), el('div', { class: 'hint' }, when(a.created_at))),
        cell('Provider', el('div', { text: a.provider }), el('div', { class: 'hint', text: a.merchant_account })),
        amountCell, ours, theirs,
        cell('Agree?', agreeCell),
        cell('Transaction id', a.provider_txn_id ? queryLink(a.provider_txn_id) : mono(live && live.provider_txn_id),
          a.paid_at ? el('div', { class: 'hint' }, 'paid ', when(a.paid_at)) : null));
    });
    const attempts = el('section', { class: 'card', id: 'lookup-attempts' },
      el('h2', { text: 'Attempts (' + views.length + ')' }),
      el('p', { class: disagreeing ? 'error' : 'hint', id: 'attempts-summary', text: noLive ? 'The providers were not asked.'
        : disagreeing ? disagreeing + ' attempt(s) where paydesk and the provider disagree (highlighted). The active query and callbacks usually settle this; if it stays, investigate.'
          : 'Our records and the providers\' live answers agree.' }),
      views.length ? table('attempts-table', ['Attempt (out_trade_no)', 'Provider', 'Amount', 'Our status', 'Provider says (live)', 'Agree?', 'Transaction id'], attemptRows)
        : el('p', { class: 'hint', text: 'No payment attempt: the buyer never chose a method.' }));

    const refunds = el('section', { class: 'card', id: 'lookup-refunds' },
      el('h2', { text: 'Refunds (' + (d.refunds || []).length + ')' }),
      (d.refunds || []).length ? table('refunds-table', ['Refund', 'Kind', 'Amount', 'Status', 'Reason / last error', 'Created', 'Succeeded'],
        d.refunds.map((f) => el('tr', { 'data-refund': f.id, 'data-kind': f.kind },
          cell('Refund', mono(f.id), f.business_refund_no ? el('div', { class: 'hint' }, 'business no ', el('code', { text: f.business_refund_no })) : null),
          cell('Kind', f.kind === 'BUSINESS' ? f.kind : pill(f.kind, 'warn')),
          cell('Amount', money(f.amount, f.currency)),
          cell('Status', pill(f.status, { SUCCEEDED: 'ok', FAILED: 'bad', ABNORMAL: 'bad' }[f.status] || 'wait')),
          cell('Reason / last error', f.reason || '', f.last_error ? el('div', { class: 'error', text: f.last_error }) : null),
          cell('Created', when(f.created_at)), cell('Succeeded', when(f.succeeded_at)))))
        : el('p', { class: 'hint', text: 'No refunds.' }));

    const notes = d.notifications || [];
    const notifications = el('section', { class: 'card', id: 'lookup-notifications' },
      el('h2', { text: 'Business notifications (' + notes.length + ')' }),
      notes.length ? table('notifications-table', ['Event', 'Status', 'Created', 'Delivered', 'Tries'],
        notes.map((n) => el('tr', { 'data-event': n.id, 'data-event-type': n.type },
          cell('Event', el('strong', { text: n.type }), el('div', {}, mono(n.id))),
          cell('Status', pill(n.status, { DELIVERED: 'ok', FAILED: 'bad' }[n.status] || 'wait'), n.last_error ? el('div', { class: 'error', text: n.last_error }) : null),
          cell('Created', when(n.created_at)),
          cell('Delivered', n.delivered_at ? when(n.delivered_at) : n.next_attempt_at ? el('span', {}, 'next ', when(n.next_attempt_at)) : '—'),
          cell('Tries', n.attempts.length ? el('ol', { class: 'tries' }, n.attempts.map((t) => el('li', { class: t.succeeded ? 'try-ok' : 'try-bad' },
            when(t.started_at), ' ', el('span', { text: (t.http_status ? 'HTTP ' + t.http_status : 'no answer') + ', ' + t.duration_ms + ' ms' + (t.succeeded ? ', acknowledged' : '') }),
            t.error ? el('div', { class: 'error', text: t.error }) : null)))
            : el('span', { class: 'hint', text: 'not tried yet' })))))
        : el('p', { class: 'hint', text: 'No notification yet: one is written when the order is paid or closed.' }));

    const cbs = d.provider_callbacks || [];
    const callbacks = el('section', { class: 'card', id: 'lookup-callbacks' },
      el('h2', { text: 'Provider callbacks (' + cbs.length + ')' }),
      el('p', { class: 'hint', text: 'Every callback as received, kept for audit, with what paydesk made of it.' }),
      cbs.length ? table('callbacks-table', ['Received', 'From', 'Attempt', 'Outcome', 'Body'],
        cbs.map((c) => el('tr', { 'data-callback': c.id },
          cell('Received', when(c.received_at)),
          cell('From', el('div', { text: c.provider }), el('div', { class: 'hint', text: c.merchant_account })),
          cell('Attempt', c.attempt_no ? queryLink(c.attempt_no) : mono(null)),
          el('td', { 'data-label': 'Outcome', class: 'outcome ' + (/^APPLIED/.test(c.outcome) ? 'ok' : /^(REJECTED|ERROR|WRONG|UNKNOWN|QUERY_FAILED|NOT_APPLIED)/.test(c.outcome) ? 'error' : '') }, el('code', { text: c.outcome || '(being processed)' })),
          cell('Body', el('details', { class: 'raw' }, el('summary', { text: (c.body || '').length + ' bytes' }), el('pre', { text: c.body || '' }))))))
        : el('p', { class: 'hint', text: 'No callback received for this order.' }));

    $('lookup-result').replaceChildren(...[order, flags, attempts, refunds, notifications, callbacks].filter((x) => x));
  }
  function submitLookup(ev) {
    ev.preventDefault();
    const q = $('lookup-q').value.trim();
    if (!q) return;
    const hash = lookupHash(q, $('lookup-nolive').checked);
    if (location.hash === hash) lookup(q, $('lookup-nolive').checked); // the same search again: refresh
    else location.hash = hash; // route() runs the search, and Back returns to the previous one
  }

  // ---- payments: flagged ----
  async function loadFlagged() {
    $('flagged-summary').textContent = 'Loading…';
    const r = await api('GET', '/flagged-attempts');
    if (!r.ok) { $('flagged-summary').textContent = (r.data && r.data.message) || 'could not load'; return; }
    const list = r.data.attempts || [];
    $('flagged-summary').textContent = list.length ? list.length + ' flagged payment(s), newest first.' : 'No flagged payments.';
    $('flagged-table').tBodies[0].replaceChildren(...list.map((a) => el('tr', { 'data-attempt': a.attempt_no, 'data-flag': a.flag },
      cell('Flag', pill(a.flag || '?', 'bad')),
      cell('Attempt (out_trade_no)', queryLink(a.attempt_no)),
      cell('Provider', el('div', { text: a.provider }), el('div', { class: 'hint', text: a.merchant_account })),
      cell('Asked', money(a.amount, a.currency)),
      cell('Reported paid', el('span', { class: a.paid_amount !== a.amount ? 'mismatch-text' : '', text: money(a.paid_amount, a.currency) })),
      cell('Status', attemptPill(a.status)),
      cell('Paid at', when(a.paid_at)))));
  }

  document.addEventListener('DOMContentLoaded', async () => {
    $('signin-form').addEventListener('submit', signIn);
    $('signout').addEventListener('click', signOut);
    $('add-rule').addEventListener('click', () => openEditor(-1));
    $('add-cond').addEventListener('click', () => { S.conds.push({ fact: 'item_category', op: 'equals', text: '' }); renderConds(); });
    $('add-route').addEventListener('click', () => { S.routes.push({ method: 'WECHAT_PAY', terminals: [], merchant_account: '', product: 'APP' }); renderRoutes(); });
    $('save-rule').addEventListener('click', saveRule);
    $('cancel-rule').addEventListener('click', closeEditor);
    $('add-scenario').addEventListener('click', () => openScenario(-1));
    $('save-scenario').addEventListener('click', saveScenario);
    $('cancel-scenario').addEventListener('click', closeScenario);
    $('s-app_version').addEventListener('input', (e) => { $('s-app_version-error').textContent = checkSemverRange(e.target.value.trim()); });
    $('validate').addEventListener('click', validate);
    $('simulate').addEventListener('click', simulate);
    $('diff').addEventListener('click', diff);
    $('reset').addEventListener('click', async () => { await loadDraft(); status('Draft discarded.'); });
    $('publish').addEventListener('click', publish);
    $('decide-form').addEventListener('submit', decide);
    $('lookup-form').addEventListener('submit', submitLookup);
    $('flagged-reload').addEventListener('click', loadFlagged);
    window.addEventListener('hashchange', route);
    options($('d-terminal'), TERMINALS, 'IOS');
    options($('d-currency'), CURRENCIES, 'CNY', '(none)');
    const me = await api('GET', '/me');
    if (me.ok) await start(me.data);
  });
})();
