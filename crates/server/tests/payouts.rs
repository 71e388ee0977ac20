//! Payouts (打款) and withdrawals (提现) over real HTTP against the sandbox and its fault
//! injection: a transfer that times out and then succeeds is paid once; a success reported
//! twice debits once and notifies once; a failure after a timeout releases the hold; WeChat's
//! confirm-receipt step (confirmed, left unconfirmed and cancelled, cancelled by the
//! business line); 100 concurrent withdrawals against a balance for 10 on every backend;
//! idempotency, limits and bad input. After each: every hold ended released or debited and
//! every ledger account's cached balance equals the sum of its lines.
//!
//! Balances are funded the way production funds them: an order paid through the sandbox,
//! then settled to its seller (`POST /v1/settlements`).

mod common;

use common::{eventually, flow_config, FlowApp};
use paydesk_core::{AccountRef, Currency, PayoutStatus};
use paydesk_server::config::Config;
use paydesk_store::{AccountFilter, Backend, Payout, PayoutFilter};
use serde_json::{json, Value};
use std::sync::Arc;

/// An Alipay user id the sandbox accepts.
const ALIPAY_USER: &str = "2088000011112222";
/// A WeChat openid.
const OPENID: &str = "oPayoutTestOpenid0000000001";

fn payout_config() -> Config {
    let mut c = flow_config();
    c.payouts.query_schedule = "200ms,300ms,500ms".into();
    c.payouts.poll_interval_ms = 50;
    c
}

async fn start(backend: Backend, config: Config) -> Option<FlowApp> {
    FlowApp::start_with(backend, config).await
}

/// Puts `amount` on seller `seller`'s available balance: an order paid with WeChat Pay
/// through the sandbox, then settled to the seller. Returns the pay order id.
async fn fund_seller(f: &FlowApp, seller: &str, amount: i64) -> String {
    let no = format!("FUND-{seller}-{}", paydesk_core::ids::random_hex::<4>());
    let order = f
        .create_order_with(&no, amount, json!({"seller_id": seller}))
        .await;
    let id = order["id"].as_str().unwrap().to_owned();
    let s = f.pay(&order, "WECHAT_PAY", "PC").await;
    let attempt_no = s["attempt_no"].as_str().unwrap();
    f.sandbox.pay("wechatpay", attempt_no, Value::Null).await;
    f.wait_order_status(&id, "PAID").await;
    let body = json!({"business_settlement_no": format!("SET-{no}"), "pay_order_id": id});
    let (s, v) = call(f, "POST", "/v1/settlements", Some(body)).await;
    assert_eq!(s, 201, "{v}");
    id
}

async fn call(f: &FlowApp, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let text = body.map(|b| b.to_string());
    f.app.call(method, path, text.as_deref()).await
}

fn withdrawal(no: &str, seller: &str, amount: i64, provider: &str, recipient: &str) -> Value {
    json!({"business_payout_no": no, "owner_kind": "SELLER", "user_id": seller,
        "provider": provider, "recipient": recipient, "amount_minor": amount,
        "currency": "CNY", "remark": "withdrawal"})
}

fn payout(no: &str, amount: i64, provider: &str, recipient: &str) -> Value {
    json!({"business_payout_no": no, "provider": provider, "recipient": recipient,
        "amount_minor": amount, "currency": "CNY", "remark": "reward"})
}

async fn create(f: &FlowApp, path: &str, body: Value) -> Value {
    let (s, v) = call(f, "POST", path, Some(body)).await;
    assert_eq!(s, 201, "{v}");
    v
}

async fn get_payout(f: &FlowApp, id: &str) -> Value {
    let (s, v) = call(f, "GET", &format!("/v1/payouts/{id}"), None).await;
    assert_eq!(s, 200, "{v}");
    v
}

async fn wait_status(f: &FlowApp, id: &str, status: &str) -> Value {
    eventually(&format!("payout {id} to be {status}"), 20, || async {
        let p = get_payout(f, id).await;
        if p["status"] == status {
            Ok(p)
        } else {
            Err(p.to_string())
        }
    })
    .await
}

async fn balance(f: &FlowApp, seller: &str) -> (i64, i64) {
    let (s, v) = call(
        f,
        "GET",
        &format!("/v1/ledger/balance?owner_kind=SELLER&owner_id={seller}&currency=CNY"),
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    (
        v["available_minor"].as_i64().unwrap(),
        v["held_minor"].as_i64().unwrap(),
    )
}

/// The sandbox's transfers with this payout number.
async fn sandbox_transfers(f: &FlowApp, payout_no: &str) -> Vec<Value> {
    let (s, v) = f.sandbox.get("/sandbox/transfers").await;
    assert_eq!(s, 200, "{v}");
    v.as_array()
        .unwrap()
        .iter()
        .filter(|t| t["out_bill_no"] == payout_no)
        .cloned()
        .collect()
}

/// `payout.*` notifications about payout `id`, each verified.
fn payout_notifications(f: &FlowApp, event_type: &str, id: &str) -> Vec<Value> {
    f.receiver
        .received()
        .iter()
        .filter(|r| {
            let v = r.json();
            v["type"] == event_type && v["data"]["id"] == id
        })
        .map(|r| {
            assert!(f.app.verify_notification(r), "notification signature");
            r.json()
        })
        .collect()
}

async fn wait_payout_notification(f: &FlowApp, event_type: &str, id: &str) -> Vec<Value> {
    eventually(&format!("{event_type} for {id}"), 20, || async {
        let got = payout_notifications(f, event_type, id);
        if got.is_empty() {
            Err(format!(
                "{} notifications so far",
                f.receiver.received().len()
            ))
        } else {
            Ok(got)
        }
    })
    .await
}

async fn stored(f: &FlowApp, id: &str) -> Payout {
    f.app.store.ledger().payout(id).await.unwrap().unwrap()
}

/// Every ledger account's cached balance equals the sum of its lines (and its version
/// their count); every payout is final with its entry (a withdrawal's hold debited or
/// released), so no held balance is left; each final payout has its one notification.
async fn assert_ledger_ends(f: &FlowApp) {
    let l = f.app.store.ledger();
    let payouts: Vec<Payout> = eventually("every payout final", 20, || async {
        let all = l
            .list_payouts(&PayoutFilter::default(), None, 500)
            .await
            .unwrap();
        match all.iter().find(|p| p.status.is_open()) {
            Some(p) => Err(format!("{} is {:?}", p.id, p.status)),
            None => Ok(all),
        }
    })
    .await;
    for p in &payouts {
        match p.kind {
            paydesk_core::PayoutKind::Withdrawal => {
                assert!(p.hold_entry_id.is_some(), "{p:?}");
                assert!(p.final_entry_id.is_some(), "hold not ended: {p:?}");
            }
            paydesk_core::PayoutKind::Payout => {
                assert_eq!(
                    p.final_entry_id.is_some(),
                    p.status == PayoutStatus::Succeeded,
                    "{p:?}"
                );
            }
        }
        let wanted = match p.status {
            PayoutStatus::Succeeded => "payout.succeeded",
            PayoutStatus::Failed => "payout.failed",
            _ => "payout.cancelled",
        };
        wait_payout_notification(f, wanted, &p.id).await;
        assert_eq!(
            payout_notifications(f, wanted, &p.id).len(),
            1,
            "one {wanted} for {}",
            p.id
        );
    }
    let mut after: Option<String> = None;
    loop {
        let page = l
            .list_accounts(&AccountFilter::default(), after.as_deref(), 200)
            .await
            .unwrap();
        for a in &page {
            let check = l.verify_account(&a.id).await.unwrap().unwrap();
            assert!(check.is_consistent(), "{}: {check:?}", a.account);
            if matches!(
                a.account.kind(),
                paydesk_core::AccountKind::UserHeld | paydesk_core::AccountKind::SellerHeld
            ) {
                assert_eq!(a.balance_minor, 0, "a hold is left on {}", a.account);
            }
        }
        if page.len() < 200 {
            break;
        }
        after = page.last().map(|a| a.id.clone());
    }
}

async fn set_auto_confirm(f: &FlowApp, on: bool) {
    let (s, v) = f
        .sandbox
        .post(
            "/sandbox/settings",
            json!({"wechat_transfer_auto_confirm": on}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

// ------------------------------------------------------------------ faults

/// WeChat: the transfer is carried out but the answer times out; Alipay: the transfer
/// never arrives (timeout before it is done). Both end SUCCEEDED, paid exactly once under
/// the one payout number, the hold debited.
async fn timeout_then_success_pays_once(backend: Backend) {
    let Some(f) = start(backend, payout_config()).await else {
        return;
    };
    set_auto_confirm(&f, true).await;
    fund_seller(&f, "s-timeout", 5_000).await;
    for (n, provider, recipient, execute) in [
        (1, "wechatpay", OPENID, true),
        (2, "alipay", ALIPAY_USER, false),
    ] {
        let call_name = if provider == "wechatpay" {
            "transfer"
        } else {
            "alipay.fund.trans.uni.transfer"
        };
        f.sandbox
            .call_fault(
                json!({"provider": provider, "call": call_name, "kind": "timeout",
                "execute": execute, "delay_ms": 3_000}),
            )
            .await;
        let w = create(
            &f,
            "/v1/withdrawals",
            withdrawal(&format!("TO-{n}"), "s-timeout", 1_000, provider, recipient),
        )
        .await;
        assert_eq!(w["status"], "ACCEPTED", "{w}");
        let id = w["id"].as_str().unwrap();
        let done = wait_status(&f, id, "SUCCEEDED").await;
        let p = stored(&f, id).await;
        assert!(p.tries >= 2, "sent, timed out, then queried: {p:?}");
        let at_provider = sandbox_transfers(&f, done["payout_no"].as_str().unwrap()).await;
        assert_eq!(at_provider.len(), 1, "{at_provider:?}");
        assert_eq!(at_provider[0]["state"], "SUCCESS");
        assert_eq!(at_provider[0]["amount"], 1_000);
        f.sandbox.clear_faults().await;
    }
    assert_eq!(balance(&f, "s-timeout").await, (3_000, 0));
    assert_ledger_ends(&f).await;
}

/// A platform payout whose success WeChat reports twice (a duplicated notification), and
/// which is queried again after success: one ledger charge, one notification.
async fn success_reported_twice_debits_once(backend: Backend) {
    let Some(f) = start(backend, payout_config()).await else {
        return;
    };
    set_auto_confirm(&f, true).await;
    f.sandbox
        .callback_fault(json!({"provider": "wechatpay", "kind": "duplicate"}))
        .await;
    // The platform tops up the line's funding account (`paydesk ledger fund`), once.
    let line = f.app.app_id_line_id().await;
    let fund = |reference: &'static str| {
        let store = f.app.store.clone();
        let line = line.clone();
        async move {
            paydesk_server::payouts::funding::fund(
                &*store, &line, "wx-main", 1_000, "CNY", reference, "test",
            )
            .await
        }
    };
    assert_eq!(fund("TOPUP-1").await.unwrap().balance_minor, 1_000);
    assert!(matches!(
        fund("TOPUP-1").await,
        Err(paydesk_server::payouts::funding::FundError::Duplicate(..))
    ));
    let p = create(
        &f,
        "/v1/payouts",
        payout("TWICE-1", 700, "wechatpay", OPENID),
    )
    .await;
    let id = p["id"].as_str().unwrap().to_owned();
    let done = wait_status(&f, &id, "SUCCEEDED").await;
    let payout_no = done["payout_no"].as_str().unwrap().to_owned();
    // Both deliveries of the notification arrive and are answered.
    eventually("both transfer notifications delivered", 20, || async {
        let cbs: Vec<Value> = f
            .sandbox
            .callbacks()
            .await
            .into_iter()
            .filter(|c| c["subject"] == payout_no.as_str())
            .collect();
        if cbs.len() >= 2 && cbs.iter().all(|c| c["status"] == "DELIVERED") {
            Ok(())
        } else {
            Err(Value::Array(cbs).to_string())
        }
    })
    .await;
    // A query after success changes nothing.
    let before = stored(&f, &id).await;
    let again = paydesk_server::payouts::step(&f.app.state, &before)
        .await
        .unwrap();
    assert_eq!(again, before);
    // An operator retry of a final payout is refused.
    let resp = f
        .app
        .http
        .post(format!("{}/admin/v1/payouts/{id}/retry", f.app.base))
        .bearer_auth(&f.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 409);
    let funding =
        AccountRef::platform_funding(f.app.app_id_line_id().await, Currency::CNY).unwrap();
    let l = f.app.store.ledger();
    let acc = l.account_by_ref(&funding).await.unwrap().unwrap();
    let lines = l.statement(&acc.id, None, 100).await.unwrap();
    assert_eq!(lines.len(), 2, "one top-up, one charge: {lines:?}");
    assert_eq!(lines[0].amount_minor, -700);
    assert_eq!(lines[0].reference, id);
    assert_eq!(lines[1].amount_minor, 1_000);
    assert_eq!(l.balance(&funding).await.unwrap(), 300);
    // The admin list shows it with the provider's live state.
    let (s, v) = f.admin_get("/admin/v1/payouts?live=true").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["payouts"][0]["id"], id.as_str());
    assert_eq!(v["payouts"][0]["status"], "SUCCEEDED");
    assert_ledger_ends(&f).await;
}

/// The transfer times out (carried out, waiting for the user), then the provider fails
/// it: FAILED, the hold released, the balance back.
async fn failure_after_timeout_releases(backend: Backend) {
    let Some(f) = start(backend, payout_config()).await else {
        return;
    };
    fund_seller(&f, "s-fail", 2_000).await;
    f.sandbox
        .call_fault(
            json!({"provider": "wechatpay", "call": "transfer", "kind": "timeout",
            "execute": true, "delay_ms": 3_000}),
        )
        .await;
    let w = create(
        &f,
        "/v1/withdrawals",
        withdrawal("FAIL-1", "s-fail", 1_500, "wechatpay", OPENID),
    )
    .await;
    let id = w["id"].as_str().unwrap();
    assert_eq!(balance(&f, "s-fail").await, (500, 1_500));
    let waiting = wait_status(&f, id, "WAIT_USER_CONFIRM").await;
    let no = waiting["payout_no"].as_str().unwrap();
    let (s, v) = f
        .sandbox
        .post(
            &format!("/sandbox/transfers/wechatpay/{no}/fail"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let failed = wait_status(&f, id, "FAILED").await;
    assert_eq!(failed["failure_code"], "TRANSFER_QUOTA_EXCEED", "{failed}");
    assert_eq!(balance(&f, "s-fail").await, (2_000, 0));
    assert_eq!(sandbox_transfers(&f, no).await.len(), 1);
    // The failure is final: the business line may withdraw again (a new number).
    let again = create(
        &f,
        "/v1/withdrawals",
        withdrawal("FAIL-2", "s-fail", 1_500, "alipay", ALIPAY_USER),
    )
    .await;
    assert_ne!(again["payout_no"], failed["payout_no"]);
    wait_status(&f, again["id"].as_str().unwrap(), "SUCCEEDED").await;
    assert_eq!(balance(&f, "s-fail").await, (500, 0));
    assert_ledger_ends(&f).await;
}

/// WeChat's confirm-receipt step: `package_info` reaches the business line; a confirmed
/// transfer succeeds; one left unconfirmed is cancelled at the provider after
/// `payouts.confirm_timeout_ms`; one cancelled by the business line ends CANCELLED. Both
/// cancelled holds are released.
async fn wait_user_confirm_paths(backend: Backend) {
    let mut config = payout_config();
    config.payouts.confirm_timeout_ms = 4_000;
    let Some(f) = start(backend, config).await else {
        return;
    };
    fund_seller(&f, "s-confirm", 3_000).await;
    let mut ids = Vec::new();
    for n in 1..=3 {
        let w = create(
            &f,
            "/v1/withdrawals",
            withdrawal(&format!("WUC-{n}"), "s-confirm", 1_000, "wechatpay", OPENID),
        )
        .await;
        ids.push(w["id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        let p = wait_status(&f, id, "WAIT_USER_CONFIRM").await;
        assert!(
            p["package_info"].as_str().is_some_and(|s| !s.is_empty()),
            "{p}"
        );
        let n = wait_payout_notification(&f, "payout.wait_user_confirm", id).await;
        assert_eq!(n[0]["data"]["package_info"], p["package_info"], "{n:?}");
    }
    assert_eq!(balance(&f, "s-confirm").await, (0, 3_000));
    // 1: the user confirms.
    let no1 = get_payout(&f, &ids[0]).await["payout_no"]
        .as_str()
        .unwrap()
        .to_owned();
    let (s, v) = f
        .sandbox
        .post(
            &format!("/sandbox/transfers/wechatpay/{no1}/confirm"),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // 3: the business line cancels.
    let (s, v) = call(&f, "POST", &format!("/v1/payouts/{}/cancel", ids[2]), None).await;
    assert_eq!(s, 200, "{v}");
    wait_status(&f, &ids[0], "SUCCEEDED").await;
    wait_status(&f, &ids[2], "CANCELLED").await;
    // 2: left alone, cancelled past the deadline.
    let c = wait_status(&f, &ids[1], "CANCELLED").await;
    assert!(c["package_info"].is_null(), "{c}");
    let no2 = c["payout_no"].as_str().unwrap();
    assert_eq!(sandbox_transfers(&f, no2).await[0]["state"], "CANCELLED");
    // A final payout cannot be cancelled.
    let (s, v) = call(&f, "POST", &format!("/v1/payouts/{}/cancel", ids[0]), None).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("INVALID_STATE")), "{v}");
    assert_eq!(balance(&f, "s-confirm").await, (2_000, 0));
    assert_ledger_ends(&f).await;
}

// ------------------------------------------------------------------ concurrency

/// 100 concurrent withdrawals against a balance that covers 10: exactly 10 accepted and
/// paid at the sandbox, 90 INSUFFICIENT_BALANCE with nothing written.
async fn concurrent_withdrawals_pay_exactly_ten(backend: Backend) {
    let Some(f) = start(backend, payout_config()).await else {
        return;
    };
    fund_seller(&f, "s-many", 1_000).await;
    let f = Arc::new(f);
    let mut tasks = Vec::new();
    for i in 0..100 {
        let f = f.clone();
        tasks.push(tokio::spawn(async move {
            let body = withdrawal(&format!("MANY-{i}"), "s-many", 100, "alipay", ALIPAY_USER);
            call(&f, "POST", "/v1/withdrawals", Some(body)).await
        }));
    }
    let (mut ok, mut short) = (Vec::new(), 0);
    for t in tasks {
        let (s, v) = t.await.unwrap();
        match (s, v["code"].as_str()) {
            (201, _) => ok.push(v["id"].as_str().unwrap().to_owned()),
            (409, Some("INSUFFICIENT_BALANCE")) => short += 1,
            other => panic!("unexpected {other:?}: {v}"),
        }
    }
    assert_eq!((ok.len(), short), (10, 90));
    let mut paid = Vec::new();
    for id in &ok {
        let p = wait_status(&f, id, "SUCCEEDED").await;
        paid.push(p["payout_no"].as_str().unwrap().to_owned());
    }
    let (s, all) = f.sandbox.get("/sandbox/transfers").await;
    assert_eq!(s, 200);
    let at_provider: Vec<&Value> = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["provider"] == "alipay")
        .collect();
    assert_eq!(at_provider.len(), 10, "{at_provider:?}");
    assert!(at_provider
        .iter()
        .all(|t| paid.contains(&t["out_bill_no"].as_str().unwrap().to_owned())));
    assert_eq!(balance(&f, "s-many").await, (0, 0));
    let listed = f
        .app
        .store
        .ledger()
        .list_payouts(&PayoutFilter::default(), None, 500)
        .await
        .unwrap();
    assert_eq!(listed.len(), 10, "refused withdrawals wrote nothing");
    assert_ledger_ends(&f).await;
}

// ------------------------------------------------------------------ API

/// Idempotency, limits and bad input: stable codes, nothing written when refused.
async fn idempotency_limits_and_bad_input(backend: Backend) {
    let mut config = payout_config();
    config.payouts.max_amount_minor = 5_000;
    config.payouts.daily_limit_minor = 1_000;
    let Some(f) = start(backend, config).await else {
        return;
    };
    let line = f.app.app_id_line_id().await;
    let l = f.app.store.ledger();
    // Same number, same body: one payout.
    let first = create(
        &f,
        "/v1/payouts",
        payout("IDEM-1", 600, "alipay", ALIPAY_USER),
    )
    .await;
    let (s, again) = call(
        &f,
        "POST",
        "/v1/payouts",
        Some(payout("IDEM-1", 600, "ALIPAY", ALIPAY_USER)),
    )
    .await;
    assert_eq!((s, &again["id"]), (200, &first["id"]), "{again}");
    // Same number, other body: a conflict.
    let (s, v) = call(
        &f,
        "POST",
        "/v1/payouts",
        Some(payout("IDEM-1", 601, "alipay", ALIPAY_USER)),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("IDEMPOTENCY_CONFLICT")),
        "{v}"
    );
    let (s, v) = call(&f, "GET", "/v1/payouts?business_payout_no=IDEM-1", None).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["data"][0]["id"], first["id"]);
    wait_status(&f, first["id"].as_str().unwrap(), "SUCCEEDED").await;
    // Limits: above the single maximum; over the day's total. Nothing written.
    let (s, v) = call(
        &f,
        "POST",
        "/v1/payouts",
        Some(payout("BIG-1", 5_001, "alipay", ALIPAY_USER)),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("PAYOUT_LIMIT_EXCEEDED")),
        "{v}"
    );
    let (s, v) = call(
        &f,
        "POST",
        "/v1/payouts",
        Some(payout("DAY-1", 401, "alipay", ALIPAY_USER)),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("PAYOUT_LIMIT_EXCEEDED")),
        "{v}"
    );
    for no in ["BIG-1", "DAY-1"] {
        assert!(l.payout_by_business_no(&line, no).await.unwrap().is_none());
    }
    let today = paydesk_store::DailyLimit::day_no_of(paydesk_server::time::now_ms());
    assert_eq!(
        l.payout_day_total(&line, Currency::CNY, today)
            .await
            .unwrap(),
        600
    );
    // A withdrawal not covered: refused, nothing held.
    let (s, v) = call(
        &f,
        "POST",
        "/v1/withdrawals",
        Some(withdrawal("POOR-1", "s-poor", 10, "alipay", ALIPAY_USER)),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("INSUFFICIENT_BALANCE")),
        "{v}"
    );
    assert!(l
        .payout_by_business_no(&line, "POOR-1")
        .await
        .unwrap()
        .is_none());
    assert_eq!(balance(&f, "s-poor").await, (0, 0));
    // Its raise of the day's total was rolled back with it.
    assert_eq!(
        l.payout_day_total(&line, Currency::CNY, today)
            .await
            .unwrap(),
        600
    );
    create(
        &f,
        "/v1/payouts",
        payout("DAY-2", 400, "alipay", ALIPAY_USER),
    )
    .await;
    // Bad input: 400 INVALID_REQUEST (or URL_NOT_ALLOWED), nothing written.
    let bad: Vec<(Value, &str)> = vec![
        (json!({"business_payout_no": "B1"}), "INVALID_REQUEST"),
        (
            {
                let mut b = payout("B2", 100, "alipay", ALIPAY_USER);
                b["currency"] = json!("USD");
                b
            },
            "INVALID_REQUEST",
        ),
        (payout("B3", 0, "alipay", ALIPAY_USER), "INVALID_REQUEST"),
        (payout("B4", -5, "alipay", ALIPAY_USER), "INVALID_REQUEST"),
        (payout("B5", 100, "paypal", ALIPAY_USER), "INVALID_REQUEST"),
        (
            payout("B6 x", 100, "alipay", ALIPAY_USER),
            "INVALID_REQUEST",
        ),
        (
            payout("B7", 100, "alipay", "someone@example.com"),
            "INVALID_REQUEST",
        ),
        (
            {
                let mut b = payout("B8", 100, "alipay", ALIPAY_USER);
                b["remark"] = json!("x".repeat(33));
                b
            },
            "INVALID_REQUEST",
        ),
        (
            {
                let mut b = payout("B9", 100, "alipay", ALIPAY_USER);
                b["surprise"] = json!(1);
                b
            },
            "INVALID_REQUEST",
        ),
        (
            {
                let mut b = payout("B10", 100, "wechatpay", OPENID);
                b["merchant_account"] = json!("ali-main");
                b
            },
            "INVALID_REQUEST",
        ),
        (
            {
                let mut b = payout("B11", 100, "alipay", ALIPAY_USER);
                b["notify_url"] = json!("https://evil.example/n");
                b
            },
            "URL_NOT_ALLOWED",
        ),
        (
            {
                let mut b = payout("B12", 100, "alipay", ALIPAY_USER);
                b["amount_minor"] = json!(1.5);
                b
            },
            "INVALID_REQUEST",
        ),
    ];
    for (body, code) in bad {
        let (s, v) = call(&f, "POST", "/v1/payouts", Some(body.clone())).await;
        assert_eq!(v["code"].as_str(), Some(code), "{body}: {s} {v}");
        assert!(s == 400, "{body}: {s} {v}");
    }
    let (s, v) = call(
        &f,
        "POST",
        "/v1/withdrawals",
        Some({
            let mut b = withdrawal("W-BAD", "bad user", 10, "alipay", ALIPAY_USER);
            b["owner_kind"] = json!("SELLER");
            b
        }),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{v}"
    );
    let (s, v) = call(
        &f,
        "POST",
        "/v1/withdrawals",
        Some({
            let mut b = withdrawal("W-BAD2", "u1", 10, "alipay", ALIPAY_USER);
            b["owner_kind"] = json!("PLATFORM");
            b
        }),
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{v}"
    );
    assert_eq!(
        l.list_payouts(&PayoutFilter::default(), None, 500)
            .await
            .unwrap()
            .len(),
        2,
        "only IDEM-1 and DAY-2 exist"
    );
    let (s, v) = call(&f, "GET", "/v1/payouts/pt_nope", None).await;
    assert_eq!((s, v["code"].as_str()), (404, Some("NOT_FOUND")));
    let (s, v) = call(&f, "GET", "/v1/ledger/balance?owner_kind=USER", None).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{v}"
    );
    // Settlements: not paid, twice, another number, a commission above the amount.
    let order = f
        .create_order_with("SET-ORD", 900, json!({"seller_id": "s-set"}))
        .await;
    let oid = order["id"].as_str().unwrap();
    let settle = |no: &str, commission: i64| json!({"business_settlement_no": no, "pay_order_id": oid, "commission_minor": commission});
    let (s, v) = call(&f, "POST", "/v1/settlements", Some(settle("ST-1", 100))).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("INVALID_STATE")), "{v}");
    let st = f.pay(&order, "WECHAT_PAY", "PC").await;
    f.sandbox
        .pay("wechatpay", st["attempt_no"].as_str().unwrap(), Value::Null)
        .await;
    f.wait_order_status(oid, "PAID").await;
    let (s, v) = call(&f, "POST", "/v1/settlements", Some(settle("ST-1", 901))).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{v}"
    );
    let (s, first) = call(&f, "POST", "/v1/settlements", Some(settle("ST-1", 100))).await;
    assert_eq!(s, 201, "{first}");
    assert_eq!(first["seller_minor"], 800);
    let (s, v) = call(&f, "POST", "/v1/settlements", Some(settle("ST-1", 100))).await;
    assert_eq!((s, &v["entry_id"]), (200, &first["entry_id"]), "{v}");
    let (s, v) = call(&f, "POST", "/v1/settlements", Some(settle("ST-1", 50))).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("IDEMPOTENCY_CONFLICT")),
        "{v}"
    );
    let (s, v) = call(&f, "POST", "/v1/settlements", Some(settle("ST-2", 100))).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("ALREADY_SETTLED")),
        "{v}"
    );
    assert_eq!(balance(&f, "s-set").await, (800, 0));
    let (s, v) = call(
        &f,
        "GET",
        "/v1/ledger/statement?owner_kind=SELLER&owner_id=s-set&limit=10",
        None,
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["lines"][0]["entry_kind"], "SETTLEMENT");
    assert_eq!(v["lines"][0]["amount_minor"], 800);
    assert_eq!(v["lines"][0]["reference"], "ST-1");
    // The OpenAPI document describes the new endpoints.
    let (s, doc) = f.app.raw("GET", "/openapi.json", "", None).await;
    assert_eq!(s, 200);
    for path in [
        "/v1/payouts",
        "/v1/withdrawals",
        "/v1/payouts/{id}",
        "/v1/payouts/{id}/cancel",
        "/v1/ledger/balance",
        "/v1/ledger/statement",
        "/v1/settlements",
    ] {
        assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
    }
    assert!(doc["components"]["schemas"]["PayoutResource"].is_object());
    assert_ledger_ends(&f).await;
}

macro_rules! sqlite_only {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { super::$name(paydesk_store::Backend::Sqlite).await } )* }
    };
}

// About the database: every backend.
per_backend!(
    concurrent_withdrawals_pay_exactly_ten,
    idempotency_limits_and_bad_input,
);

// About the protocol and the worker: SQLite.
sqlite_only!(
    timeout_then_success_pays_once,
    success_reported_twice_debits_once,
    failure_after_timeout_releases,
    wait_user_confirm_paths,
);
