//! The operator's ledger view over real HTTP, on every backend: `/admin/v1/ledger/accounts`
//! (filters, keyset paging), one account with its check, an account's statement (newest
//! first, paged by account version) and one journal entry with its lines. Movements are
//! posted for real: a top-up (`paydesk ledger fund`'s function), acquiring, a settlement and
//! a hold through the store's `post_entry` with `paydesk_core::ledger::movements`, and a
//! platform payout paid through the sandbox and the business API. Also: 401 without a
//! session, viewers read, 404 for unknown ids, 400 for bad query input.

mod common;

use common::{admin_and_viewer, admin_req, eventually, flow_config, test_config, FlowApp, TestApp};
use paydesk_core::ledger::{movements, AccountRef};
use paydesk_core::{ids, Amount, Currency};
use paydesk_store::{Backend, NewJournalEntry, PostOutcome};
use serde_json::{json, Value};
use std::collections::HashSet;

/// An Alipay user id the sandbox accepts.
const ALIPAY_USER: &str = "2088000011112222";
/// The seller of the settlement and the hold.
const SELLER: &str = "seller-ledger-1";
/// The acquiring amounts, oldest first.
const ACQUIRED: [i64; 5] = [101, 202, 303, 404, 505];

async fn get(app: &TestApp, token: &str, path: &str) -> (u16, Value) {
    admin_req(app, "GET", path, token, None).await
}

async fn ok(app: &TestApp, token: &str, path: &str) -> Value {
    let (s, v) = get(app, token, path).await;
    assert_eq!(s, 200, "{path}: {v}");
    v
}

async fn post(app: &TestApp, n: i64, entry: paydesk_core::JournalEntry) -> String {
    let new = NewJournalEntry {
        id: ids::new_id(ids::JOURNAL_ENTRY),
        business_line_id: app.app_id_line_id().await,
        reference: format!("REF-{n}"),
        idempotency_key: format!("admin-ledger-test:{n}"),
        created_at_ms: paydesk_server::time::now_ms() + n,
        entry,
    };
    match app.store.ledger().post_entry(&new).await.unwrap() {
        PostOutcome::Posted(p) => p.id,
        other => panic!("not posted: {other:?}"),
    }
}

fn cny(minor: i64) -> Amount {
    Amount::new(minor, Currency::CNY).unwrap()
}

/// Every page of `path` (which ends in `?...&` or `?`), following `next_after`.
async fn all_accounts(app: &TestApp, token: &str, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after: Option<String> = None;
    for _ in 0..100 {
        let url = match &after {
            Some(a) => format!("{path}after={a}"),
            None => path.to_owned(),
        };
        let v = ok(app, token, &url).await;
        out.extend(v["accounts"].as_array().unwrap().iter().cloned());
        match v["next_after"].as_str() {
            Some(a) => after = Some(a.to_owned()),
            None => return out,
        }
    }
    panic!("paging did not end");
}

fn by_kind<'a>(accounts: &'a [Value], kind: &str, currency: &str) -> &'a Value {
    accounts
        .iter()
        .find(|a| a["kind"] == kind && a["currency"] == currency)
        .unwrap_or_else(|| panic!("no {kind} {currency} in {accounts:?}"))
}

/// Top-up, five acquirings, a settlement to a seller, a hold of part of it, and one USD
/// acquiring; then every admin read checked against what was posted.
async fn accounts_statements_and_entries(backend: Backend) {
    let Some(app) = TestApp::start(backend, "http://127.0.0.1:9/notify", test_config()).await
    else {
        return;
    };
    let (admin, viewer) = admin_and_viewer(&*app.store).await;
    let line = app.app_id_line_id().await;
    paydesk_server::payouts::funding::fund(
        &*app.store,
        &line,
        "wx-main",
        10_000,
        "CNY",
        "TOPUP-LEDGER-1",
        "test",
    )
    .await
    .unwrap();
    for (n, a) in ACQUIRED.iter().enumerate() {
        post(
            &app,
            n as i64,
            movements::acquiring("wx-main", cny(*a)).unwrap(),
        )
        .await;
    }
    let clearing = AccountRef::clearing("wx-main", Currency::CNY).unwrap();
    let settlement = post(
        &app,
        10,
        movements::settle(&clearing, SELLER, cny(1_000), None).unwrap(),
    )
    .await;
    let seller = AccountRef::seller(SELLER, Currency::CNY).unwrap();
    post(&app, 11, movements::hold(&seller, cny(400)).unwrap()).await;
    post(
        &app,
        12,
        movements::acquiring("wx-main", Amount::new(700, Currency::USD).unwrap()).unwrap(),
    )
    .await;
    let acquired: i64 = ACQUIRED.iter().sum();

    // Without a session: 401 on every endpoint.
    let some_account = "la_00000000000000000000000000000000";
    let some_entry = "je_00000000000000000000000000000000";
    for path in [
        "/admin/v1/ledger/accounts".to_owned(),
        format!("/admin/v1/ledger/accounts/{some_account}"),
        format!("/admin/v1/ledger/accounts/{some_account}/statement"),
        format!("/admin/v1/ledger/entries/{some_entry}"),
    ] {
        let (s, v) = get(&app, "", &path).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (401, Some("UNAUTHORIZED")),
            "{path}: {v}"
        );
        let (s, _) = get(&app, "pdo_not-a-credential", &path).await;
        assert_eq!(s, 401, "{path}");
    }

    // Every account, by id; a viewer reads the same as an admin.
    let all = ok(&app, &admin, "/admin/v1/ledger/accounts").await;
    let all = all["accounts"].as_array().unwrap().clone();
    assert_eq!(all.len(), 7, "{all:?}");
    let ids_in_order: Vec<&str> = all.iter().map(|a| a["id"].as_str().unwrap()).collect();
    let mut sorted = ids_in_order.clone();
    sorted.sort();
    assert_eq!(ids_in_order, sorted, "by id");
    assert_eq!(
        ok(&app, &viewer, "/admin/v1/ledger/accounts").await["accounts"],
        Value::Array(all.clone())
    );
    // Balances are what was posted.
    for (kind, currency, owner, balance, negative) in [
        ("PLATFORM_FUNDING", "CNY", line.as_str(), 10_000, true),
        ("EXTERNAL", "CNY", "wx-main", -10_000 - acquired, true),
        ("CLEARING", "CNY", "wx-main", acquired - 1_000, true),
        ("SELLER_AVAILABLE", "CNY", SELLER, 600, false),
        ("SELLER_HELD", "CNY", SELLER, 400, false),
        ("EXTERNAL", "USD", "wx-main", -700, true),
        ("CLEARING", "USD", "wx-main", 700, true),
    ] {
        let a = by_kind(&all, kind, currency);
        assert_eq!(a["owner"], owner, "{a}");
        assert_eq!(a["balance_minor"], balance, "{a}");
        assert_eq!(a["allow_negative"], negative, "{a}");
        assert!(a["version"].as_i64().unwrap() >= 1, "{a}");
    }
    // Keyset paging visits each account once, in the same order.
    for limit in [1, 2, 3, 7] {
        let paged = all_accounts(
            &app,
            &admin,
            &format!("/admin/v1/ledger/accounts?limit={limit}&"),
        )
        .await;
        assert_eq!(paged, all, "limit {limit}");
    }
    // Filters: kind, owner, currency (alone, combined, and by identity).
    let count = |v: Value| v["accounts"].as_array().unwrap().len();
    for (query, n) in [
        ("kind=CLEARING", 2),
        ("kind=CLEARING&currency=USD", 1),
        ("kind=CLEARING&owner=wx-main&currency=CNY", 1),
        ("kind=CLEARING&owner=nobody&currency=CNY", 0),
        ("currency=USD", 2),
        ("currency=CNY", 5),
        ("currency=JPY", 0),
        (&format!("owner={SELLER}"), 2),
        ("owner=wx-main&currency=CNY", 2),
        ("kind=USER_AVAILABLE", 0),
    ] {
        let v = ok(&app, &viewer, &format!("/admin/v1/ledger/accounts?{query}")).await;
        assert_eq!(count(v.clone()), n, "{query}: {v}");
        for a in v["accounts"].as_array().unwrap() {
            if query.contains("currency=USD") {
                assert_eq!(a["currency"], "USD");
            }
        }
    }
    // A currency filter pages too.
    let cny_paged = all_accounts(
        &app,
        &admin,
        "/admin/v1/ledger/accounts?currency=CNY&limit=2&",
    )
    .await;
    let cny_all: Vec<Value> = all
        .iter()
        .filter(|a| a["currency"] == "CNY")
        .cloned()
        .collect();
    assert_eq!(cny_paged, cny_all);

    // Each account: ties out (cached balance = sum of lines, version = their count).
    for a in &all {
        let id = a["id"].as_str().unwrap();
        let v = ok(&app, &viewer, &format!("/admin/v1/ledger/accounts/{id}")).await;
        assert_eq!(v["account"], *a);
        let check = &v["verification"];
        assert_eq!(check["ties_out"], true, "{v}");
        assert_eq!(check["balance_minor"], a["balance_minor"], "{v}");
        assert_eq!(check["lines_sum_minor"], a["balance_minor"], "{v}");
        assert_eq!(check["lines"], a["version"], "{v}");
    }

    // The clearing account's statement: newest first, each line's balance the running sum.
    let clearing_id = by_kind(&all, "CLEARING", "CNY")["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let st = ok(
        &app,
        &admin,
        &format!("/admin/v1/ledger/accounts/{clearing_id}/statement"),
    )
    .await;
    assert_eq!(st["account"]["id"], clearing_id.as_str());
    assert_eq!(st["next_before"], Value::Null);
    let lines = st["lines"].as_array().unwrap().clone();
    assert_eq!(lines.len(), 6, "{st}");
    assert_eq!(lines[0]["entry_kind"], "SETTLEMENT");
    assert_eq!(lines[0]["entry_id"], settlement.as_str());
    assert_eq!(lines[0]["amount_minor"], -1_000);
    assert_eq!(lines[0]["balance_after_minor"], acquired - 1_000);
    assert_eq!(lines[0]["reference"], "REF-10");
    let versions: Vec<i64> = lines
        .iter()
        .map(|l| l["account_version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, vec![6, 5, 4, 3, 2, 1]);
    let mut running = 0;
    for (l, amount) in lines.iter().rev().zip(ACQUIRED.iter()) {
        running += amount;
        assert_eq!(l["entry_kind"], "ACQUIRING", "{l}");
        assert_eq!(l["amount_minor"], *amount, "{l}");
        assert_eq!(l["balance_after_minor"], running, "{l}");
        assert!(l["created_at"].as_str().unwrap().ends_with('Z'), "{l}");
    }
    // Paged by two: the same lines in the same order, then no cursor.
    let mut paged = Vec::new();
    let mut before: Option<i64> = None;
    for _ in 0..10 {
        let url = match before {
            Some(b) => {
                format!("/admin/v1/ledger/accounts/{clearing_id}/statement?limit=2&before={b}")
            }
            None => format!("/admin/v1/ledger/accounts/{clearing_id}/statement?limit=2"),
        };
        let v = ok(&app, &viewer, &url).await;
        paged.extend(v["lines"].as_array().unwrap().iter().cloned());
        match v["next_before"].as_i64() {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    assert_eq!(paged, lines);
    // Nothing is older than the first line.
    let v = ok(
        &app,
        &admin,
        &format!("/admin/v1/ledger/accounts/{clearing_id}/statement?before=1"),
    )
    .await;
    assert_eq!(v["lines"], json!([]));

    // The settlement entry: both sides, naming their accounts, summing to zero.
    let e = ok(
        &app,
        &viewer,
        &format!("/admin/v1/ledger/entries/{settlement}"),
    )
    .await;
    assert_eq!(e["entry"]["id"], settlement.as_str());
    assert_eq!(e["entry"]["kind"], "SETTLEMENT");
    assert_eq!(e["entry"]["reference"], "REF-10");
    assert_eq!(e["balanced"], true, "{e}");
    assert_eq!(e["sums_minor"], json!({"CNY": 0}));
    let entry_lines = e["entry"]["lines"].as_array().unwrap();
    assert_eq!(entry_lines.len(), 2, "{e}");
    let sum: i64 = entry_lines
        .iter()
        .map(|l| l["amount_minor"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, 0);
    let from = entry_lines
        .iter()
        .find(|l| l["kind"] == "CLEARING")
        .unwrap();
    assert_eq!(
        (&from["account_id"], &from["amount_minor"], &from["owner"]),
        (&json!(clearing_id), &json!(-1_000), &json!("wx-main"))
    );
    let to = entry_lines
        .iter()
        .find(|l| l["kind"] == "SELLER_AVAILABLE")
        .unwrap();
    assert_eq!(
        (&to["amount_minor"], &to["owner"]),
        (&json!(1_000), &json!(SELLER))
    );
    assert_eq!(to["balance_after_minor"], 1_000);
    // Each line's account_version is that line's place in its account's statement.
    assert_eq!(from["account_version"], 6);

    // Unknown ids: 404 NOT_FOUND, well-shaped or not.
    for path in [
        format!("/admin/v1/ledger/accounts/{some_account}"),
        format!("/admin/v1/ledger/accounts/{some_account}/statement"),
        format!("/admin/v1/ledger/entries/{some_entry}"),
        "/admin/v1/ledger/accounts/nope".to_owned(),
        "/admin/v1/ledger/accounts/nope/statement".to_owned(),
        "/admin/v1/ledger/entries/nope".to_owned(),
        // An entry id is not an account id, and the other way round.
        format!("/admin/v1/ledger/accounts/{settlement}"),
        format!("/admin/v1/ledger/entries/{clearing_id}"),
    ] {
        let (s, v) = get(&app, &viewer, &path).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (404, Some("NOT_FOUND")),
            "{path}: {v}"
        );
    }
    // Bad query input: 400 INVALID_REQUEST.
    for path in [
        "/admin/v1/ledger/accounts?kind=NOPE".to_owned(),
        "/admin/v1/ledger/accounts?kind=".to_owned(),
        "/admin/v1/ledger/accounts?currency=XXX".to_owned(),
        "/admin/v1/ledger/accounts?currency=cny".to_owned(),
        "/admin/v1/ledger/accounts?owner=".to_owned(),
        "/admin/v1/ledger/accounts?owner=a%20b".to_owned(),
        format!("/admin/v1/ledger/accounts?owner={}", "x".repeat(65)),
        "/admin/v1/ledger/accounts?limit=0".to_owned(),
        "/admin/v1/ledger/accounts?limit=101".to_owned(),
        "/admin/v1/ledger/accounts?limit=ten".to_owned(),
        "/admin/v1/ledger/accounts?after=nope".to_owned(),
        "/admin/v1/ledger/accounts?after=je_00000000000000000000000000000000".to_owned(),
        "/admin/v1/ledger/accounts?surprise=1".to_owned(),
        format!("/admin/v1/ledger/accounts/{clearing_id}/statement?before=0"),
        format!("/admin/v1/ledger/accounts/{clearing_id}/statement?before=-5"),
        format!("/admin/v1/ledger/accounts/{clearing_id}/statement?before=x"),
        format!("/admin/v1/ledger/accounts/{clearing_id}/statement?limit=0"),
        format!("/admin/v1/ledger/accounts/{clearing_id}/statement?limit=1000"),
        format!("/admin/v1/ledger/accounts/{clearing_id}/statement?surprise=1"),
    ] {
        let (s, v) = get(&app, &admin, &path).await;
        assert_eq!(
            (s, v["code"].as_str()),
            (400, Some("INVALID_REQUEST")),
            "{path}: {v}"
        );
    }
    // Reads only: nothing else answers on these paths.
    let (s, _) = admin_req(
        &app,
        "POST",
        "/admin/v1/ledger/accounts",
        &admin,
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 405);
}

/// A platform payout paid through the sandbox: the admin payouts list shows it
/// `SUCCEEDED`; its ledger entry (from the list's `final_entry_id`) charges the business
/// line's funding account and credits the merchant account's external mirror; the
/// funding account's statement shows the charge above the top-up and ties out.
async fn payout_movement_in_the_operator_view(backend: Backend) {
    let mut config = flow_config();
    config.payouts.query_schedule = "200ms,300ms,500ms".into();
    config.payouts.poll_interval_ms = 50;
    let Some(f) = FlowApp::start_with(backend, config).await else {
        return;
    };
    let (_, viewer) = admin_and_viewer(&*f.app.store).await;
    let line = f.app.app_id_line_id().await;
    paydesk_server::payouts::funding::fund(
        &*f.app.store,
        &line,
        "ali-main",
        5_000,
        "CNY",
        "TOPUP-PAYOUT-1",
        "test",
    )
    .await
    .unwrap();
    let body = json!({"business_payout_no": "ADMIN-LEDGER-1", "provider": "alipay",
        "recipient": ALIPAY_USER, "amount_minor": 700, "currency": "CNY", "remark": "reward"})
    .to_string();
    let (s, p) = f.app.call("POST", "/v1/payouts", Some(&body)).await;
    assert_eq!(s, 201, "{p}");
    let id = p["id"].as_str().unwrap().to_owned();
    let listed = eventually("the payout to succeed", 20, || async {
        let (s, v) = f.admin_get("/admin/v1/payouts?kind=PAYOUT").await;
        if s != 200 {
            return Err(v.to_string());
        }
        match v["payouts"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["id"] == id.as_str()))
        {
            Some(p) if p["status"] == "SUCCEEDED" => Ok(p.clone()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(listed["amount_minor"], 700);
    assert_eq!(listed["recipient"], ALIPAY_USER);
    let entry_id = listed["final_entry_id"].as_str().unwrap().to_owned();
    let e = ok(
        &f.app,
        &viewer,
        &format!("/admin/v1/ledger/entries/{entry_id}"),
    )
    .await;
    assert_eq!(e["entry"]["kind"], "PAYOUT", "{e}");
    assert_eq!(e["entry"]["reference"], id.as_str());
    assert_eq!(e["balanced"], true);
    let lines = e["entry"]["lines"].as_array().unwrap();
    let kinds: HashSet<(String, i64)> = lines
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["amount_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        HashSet::from([("PLATFORM_FUNDING".into(), -700), ("EXTERNAL".into(), 700)]),
        "{e}"
    );
    let funding = lines
        .iter()
        .find(|l| l["kind"] == "PLATFORM_FUNDING")
        .unwrap();
    assert_eq!(funding["owner"], line.as_str());
    let funding_id = funding["account_id"].as_str().unwrap();
    let a = ok(
        &f.app,
        &viewer,
        &format!("/admin/v1/ledger/accounts/{funding_id}"),
    )
    .await;
    assert_eq!(a["account"]["balance_minor"], 4_300);
    assert_eq!(a["verification"]["ties_out"], true);
    let st = ok(
        &f.app,
        &viewer,
        &format!("/admin/v1/ledger/accounts/{funding_id}/statement"),
    )
    .await;
    let kinds: Vec<(&str, i64, i64)> = st["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["entry_kind"].as_str().unwrap(),
                l["amount_minor"].as_i64().unwrap(),
                l["balance_after_minor"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        kinds,
        vec![("PAYOUT", -700, 4_300), ("FUNDING", 5_000, 5_000)]
    );
    // The funding account is found by kind and owner too.
    let v = ok(
        &f.app,
        &viewer,
        &format!("/admin/v1/ledger/accounts?kind=PLATFORM_FUNDING&owner={line}&currency=CNY"),
    )
    .await;
    assert_eq!(v["accounts"][0]["id"], funding_id);
}

per_backend!(
    accounts_statements_and_entries,
    payout_movement_in_the_operator_view,
);
