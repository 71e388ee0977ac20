//! The acquiring flow under the sandbox's fault injection, on every backend: lost,
//! duplicated, reordered and late callbacks; provider 5xx and timeouts; a wrong amount;
//! one order paid at two providers; a payment after close; a close racing a payment; and
//! the refunds API (idempotency, limits, concurrency, WeChat's retry-later answers). Every
//! test ends with the money invariant checked against the sandbox's own records.

mod common;

use common::{eventually, flow_config, FlowApp};
use paydesk_core::{AttemptFlag, AttemptStatus, EventType, RefundKind, RefundStatus};
use paydesk_store::{Attempt, Backend};
use serde_json::{json, Value};
use std::sync::Arc;

/// Starts paying with WeChat Pay on PC (NATIVE: the provider order exists at once).
async fn start_wechat(f: &FlowApp, order: &Value) -> String {
    let s = f.pay(order, "WECHAT_PAY", "PC").await;
    assert_eq!(
        (s["provider"].as_str(), s["product"].as_str()),
        (Some("wechatpay"), Some("NATIVE")),
        "{s}"
    );
    s["attempt_no"].as_str().unwrap().to_owned()
}

/// Starts paying with Alipay on PC (PAGE) and opens the redirect as the browser would.
async fn start_alipay(f: &FlowApp, order: &Value) -> String {
    let s = f.pay(order, "ALIPAY", "PC").await;
    assert_eq!(
        (s["provider"].as_str(), s["product"].as_str()),
        (Some("alipay"), Some("PAGE")),
        "{s}"
    );
    f.buyer_opens(&s).await;
    s["attempt_no"].as_str().unwrap().to_owned()
}

/// Starts paying with the given provider on PC; the attempt number and provider name.
async fn start(f: &FlowApp, order: &Value, alipay: bool) -> (String, &'static str) {
    if alipay {
        (start_alipay(f, order).await, "alipay")
    } else {
        (start_wechat(f, order).await, "wechatpay")
    }
}

/// The same callback fault at both providers.
async fn callback_fault_both(f: &FlowApp, fault: Value) {
    for provider in ["wechatpay", "alipay"] {
        let mut rule = fault.clone();
        rule["provider"] = json!(provider);
        f.sandbox.callback_fault(rule).await;
    }
}

async fn attempt(f: &FlowApp, no: &str) -> Attempt {
    f.app.store.attempt_by_no(no).await.unwrap().unwrap()
}

async fn wait_attempt(
    f: &FlowApp,
    no: &str,
    what: &str,
    pred: impl Fn(&Attempt) -> bool,
) -> Attempt {
    eventually(&format!("attempt {no}: {what}"), 15, || async {
        let a = attempt(f, no).await;
        if pred(&a) {
            Ok(a)
        } else {
            Err(format!("{a:?}"))
        }
    })
    .await
}

/// Waits until every sandbox callback about `subject` has ended (delivered, dropped or
/// given up); returns them.
async fn callbacks_settled(f: &FlowApp, subject: &str, at_least: usize) -> Vec<Value> {
    eventually(&format!("callbacks about {subject}"), 15, || async {
        let cbs: Vec<Value> = f
            .sandbox
            .callbacks()
            .await
            .into_iter()
            .filter(|c| c["subject"] == subject)
            .collect();
        let open = cbs
            .iter()
            .any(|c| c["status"] == "PENDING" || c["status"] == "HELD");
        if cbs.len() >= at_least && !open {
            Ok(cbs)
        } else {
            Err(Value::Array(cbs).to_string())
        }
    })
    .await
}

async fn paid_events(f: &FlowApp, order_id: &str) -> usize {
    f.app
        .store
        .events_for_pay_order(order_id)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type == EventType::PayOrderPaid)
        .count()
}

/// The refund number paydesk sent, as the sandbox records it (Alipay's records are
/// `out_trade_no|out_request_no`).
fn sandbox_refund_no(r: &Value) -> String {
    let no = r["out_refund_no"].as_str().unwrap();
    no.rsplit('|').next().unwrap().to_owned()
}

fn id(order: &Value) -> String {
    order["id"].as_str().unwrap().to_owned()
}

// ------------------------------------------------------------------ callbacks

async fn lost_callbacks_are_found_by_the_active_query(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    callback_fault_both(&f, json!({"kind": "drop"})).await;
    for (n, alipay) in [(1, false), (2, true)] {
        let order = f.create_order(&format!("LOST-{n}"), 1_234).await;
        let (no, provider) = start(&f, &order, alipay).await;
        f.sandbox.pay(provider, &no, Value::Null).await;
        f.wait_order_status(&id(&order), "PAID").await;
        f.wait_notification("pay_order.paid", &id(&order)).await;
        let cbs = callbacks_settled(&f, &no, 1).await;
        assert!(cbs.iter().all(|c| c["status"] == "DROPPED"), "{cbs:?}");
        let l = f.lookup(&no).await;
        assert_eq!(
            l["provider_callbacks"],
            json!([]),
            "no callback ever arrived: {l}"
        );
        assert!(
            attempt(&f, &no).await.queries_made > 0
                || attempt(&f, &no).await.status == AttemptStatus::Succeeded
        );
    }
    f.assert_money_invariant().await;
}

async fn duplicated_callbacks_pay_once(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    callback_fault_both(&f, json!({"kind": "duplicate"})).await;
    for (n, alipay) in [(1, false), (2, true)] {
        let order = f.create_order(&format!("DUP-CB-{n}"), 2_000).await;
        let (no, provider) = start(&f, &order, alipay).await;
        f.sandbox.pay(provider, &no, Value::Null).await;
        f.wait_order_status(&id(&order), "PAID").await;
        let cbs = callbacks_settled(&f, &no, 2).await;
        assert!(cbs.iter().all(|c| c["status"] == "DELIVERED"), "{cbs:?}");
        assert_eq!(paid_events(&f, &id(&order)).await, 1, "one paid event");
        let l = f.lookup(&no).await;
        let outcomes: Vec<&str> = l["provider_callbacks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["outcome"].as_str().unwrap())
            .collect();
        assert!(outcomes.len() >= 2, "{l}");
        assert!(
            outcomes.iter().all(|o| o.starts_with("APPLIED")),
            "{outcomes:?}"
        );
        assert!(
            outcomes.contains(&"APPLIED: ALREADY_RECORDED"),
            "{outcomes:?}"
        );
    }
    f.assert_money_invariant().await;
    for o in f.orders.lock().unwrap().iter() {
        assert_eq!(
            f.notifications("pay_order.paid", o).len(),
            1,
            "one paid notification for {o}"
        );
    }
}

async fn reordered_and_late_callbacks(backend: Backend) {
    let mut config = flow_config();
    // No active query for a while: the callbacks alone decide.
    config.payments.query_schedule = "20s".into();
    let Some(f) = FlowApp::start_with(backend, config).await else {
        return;
    };
    // Reordered: two payments' callbacks held, then sent newest first.
    f.sandbox
        .callback_fault(json!({"provider": "wechatpay", "kind": "reorder", "times": 2}))
        .await;
    let a = f.create_order("REORDER-A", 100).await;
    let b = f.create_order("REORDER-B", 200).await;
    let no_a = start_wechat(&f, &a).await;
    let no_b = start_wechat(&f, &b).await;
    f.sandbox.pay("wechatpay", &no_a, Value::Null).await;
    let held = f.sandbox.callbacks().await;
    assert!(
        held.iter()
            .any(|c| c["subject"] == no_a.as_str() && c["status"] == "HELD"),
        "{held:?}"
    );
    assert_eq!(f.order(&id(&a)).await["status"], "WAITING");
    f.sandbox.pay("wechatpay", &no_b, Value::Null).await;
    f.wait_order_status(&id(&a), "PAID").await;
    f.wait_order_status(&id(&b), "PAID").await;

    // Late: the callback comes after the order was already settled by a re-query (the
    // close path asks the provider), and changes nothing.
    f.sandbox
        .callback_fault(json!({"provider": "alipay", "kind": "delay", "delay_ms": 1500}))
        .await;
    let c = f.create_order("LATE-CB", 300).await;
    let no_c = start_alipay(&f, &c).await;
    f.sandbox.pay("alipay", &no_c, Value::Null).await;
    // The business line tries to close: the provider refuses (paid), the re-query makes
    // the order PAID, the close answers 409.
    let (s, e) = f
        .app
        .call("POST", &format!("/v1/pay-orders/{}/close", id(&c)), None)
        .await;
    assert_eq!((s, e["code"].as_str()), (409, Some("INVALID_STATE")), "{e}");
    assert_eq!(f.order(&id(&c)).await["status"], "PAID");
    let cbs = callbacks_settled(&f, &no_c, 1).await;
    assert!(cbs.iter().all(|c| c["status"] == "DELIVERED"), "{cbs:?}");
    let l = f.lookup(&no_c).await;
    assert_eq!(
        l["provider_callbacks"][0]["outcome"], "APPLIED: ALREADY_RECORDED",
        "{l}"
    );
    assert_eq!(paid_events(&f, &id(&c)).await, 1);
    f.assert_money_invariant().await;
}

// ------------------------------------------------------------------ provider failures

async fn provider_failures_on_create(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    // 5xx after the provider created it: the outcome is unknown, the buyer sees 502, the
    // active query finds the order at the provider and the attempt goes on.
    f.sandbox
        .call_fault(
            json!({"provider": "wechatpay", "call": "create", "kind": "http500", "execute": true}),
        )
        .await;
    f.sandbox
        .callback_fault(json!({"provider": "wechatpay", "kind": "drop"}))
        .await;
    let order = f.create_order("FAIL-5XX", 500).await;
    let (s, e) = f
        .try_pay(&order, common::pay_body("WECHAT_PAY", "PC", None))
        .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (502, Some("PROVIDER_UNAVAILABLE")),
        "{e}"
    );
    let attempts = f
        .app
        .store
        .attempts_for_pay_order(&id(&order))
        .await
        .unwrap();
    assert_eq!(attempts.len(), 1);
    let no = attempts[0].attempt_no.clone();
    assert_eq!(
        attempts[0].status,
        AttemptStatus::Creating,
        "unknown outcome is not a failure"
    );
    wait_attempt(&f, &no, "PENDING after the query", |a| {
        a.status == AttemptStatus::Pending
    })
    .await;
    // The buyer paid it (say from a QR code shown before the answer was lost): the
    // callback is lost too, the query pays the order.
    f.sandbox.pay("wechatpay", &no, Value::Null).await;
    f.wait_order_status(&id(&order), "PAID").await;

    // A timeout on create with the order made at the provider: 502; choosing again closes
    // the unknown one at the provider first, and the new one pays.
    f.sandbox
        .call_fault(json!({"provider": "wechatpay", "call": "create", "kind": "timeout", "execute": true, "delay_ms": 4000}))
        .await;
    let order = f.create_order("FAIL-TIMEOUT", 600).await;
    let (s, e) = f
        .try_pay(&order, common::pay_body("WECHAT_PAY", "PC", None))
        .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (502, Some("PROVIDER_UNAVAILABLE")),
        "{e}"
    );
    let first = f
        .app
        .store
        .attempts_for_pay_order(&id(&order))
        .await
        .unwrap()[0]
        .attempt_no
        .clone();
    let second = start_wechat(&f, &order).await;
    assert_ne!(first, second);
    let closed = f.sandbox.order("wechatpay", &first).await.unwrap();
    assert_eq!(closed["status"], "CLOSED", "{closed}");
    assert_eq!(attempt(&f, &first).await.status, AttemptStatus::Closed);
    f.sandbox.pay("wechatpay", &second, Value::Null).await;
    f.wait_order_status(&id(&order), "PAID").await;

    // A system error at Alipay with nothing done (mini program: trade.create): 502, the
    // attempt stays unknown; choosing again closes it (the provider never heard of it) and
    // the new one pays.
    f.sandbox
        .call_fault(
            json!({"provider": "alipay", "call": "alipay.trade.create", "kind": "system_error"}),
        )
        .await;
    let order = f.create_order("FAIL-ALI", 700).await;
    let body = common::pay_body("ALIPAY", "ALIPAY_MINI_PROGRAM", None);
    let (s, e) = f.try_pay(&order, body.clone()).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (502, Some("PROVIDER_UNAVAILABLE")),
        "{e}"
    );
    let first = f
        .app
        .store
        .attempts_for_pay_order(&id(&order))
        .await
        .unwrap()[0]
        .attempt_no
        .clone();
    assert!(f.sandbox.order("alipay", &first).await.is_none());
    let (s, started) = f.try_pay(&order, body).await;
    assert_eq!(s, 200, "{started}");
    let second = started["attempt_no"].as_str().unwrap();
    assert!(attempt(&f, &first).await.status != AttemptStatus::Creating);
    f.sandbox.pay("alipay", second, Value::Null).await;
    f.wait_order_status(&id(&order), "PAID").await;

    // Queries failing for a while (5xx) change nothing; the callback still pays.
    f.sandbox
        .call_fault(
            json!({"provider": "wechatpay", "call": "query", "kind": "http500", "times": 2}),
        )
        .await;
    let order = f.create_order("FAIL-QUERY", 800).await;
    let no = start_wechat(&f, &order).await;
    f.sandbox.pay("wechatpay", &no, Value::Null).await;
    f.wait_order_status(&id(&order), "PAID").await;
    f.assert_money_invariant().await;
}

// ------------------------------------------------------------------ money not taken

async fn wrong_amount_is_never_the_payment(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    for (n, alipay, reported) in [(1, false, 1), (2, true, 5_000)] {
        let order = f.create_order(&format!("AMOUNT-{n}"), 1_000).await;
        let oid = id(&order);
        let (no, provider) = start(&f, &order, alipay).await;
        f.sandbox
            .pay(provider, &no, json!({"amount": reported}))
            .await;
        let a = wait_attempt(&f, &no, "flagged AMOUNT_MISMATCH", |a| a.flag.is_some()).await;
        assert_eq!(a.flag, Some(AttemptFlag::AmountMismatch));
        assert_eq!(a.paid_amount_minor, Some(reported));
        assert_eq!(
            f.order(&oid).await["status"],
            "WAITING",
            "never paid by a wrong amount"
        );
        // Refunded automatically, in full, at the provider that took it.
        let refund = eventually("the automatic refund", 15, || async {
            let rs = f.app.store.refunds_for_pay_order(&oid).await.unwrap();
            match rs.iter().find(|r| r.status == RefundStatus::Succeeded) {
                Some(r) => Ok(r.clone()),
                None => Err(format!("{rs:?}")),
            }
        })
        .await;
        assert_eq!(refund.kind, RefundKind::AmountMismatch);
        assert_eq!(refund.amount.minor(), reported);
        let at_sandbox: Vec<Value> = f
            .sandbox
            .refunds()
            .await
            .into_iter()
            .filter(|r| r["out_trade_no"] == no.as_str())
            .collect();
        assert_eq!(at_sandbox.len(), 1, "{at_sandbox:?}");
        assert_eq!(sandbox_refund_no(&at_sandbox[0]), refund.refund_no);
        assert_eq!(at_sandbox[0]["amount"], reported);
        let told = f
            .wait_notification("pay_order.duplicate_refunded", &oid)
            .await;
        assert_eq!(told[0]["data"]["kind"], "AMOUNT_MISMATCH", "{told:?}");
        // The operator sees it.
        let (s, flagged) = f.admin_get("/admin/v1/flagged-attempts").await;
        assert_eq!(s, 200);
        assert!(
            flagged["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["attempt_no"] == no.as_str() && x["flag"] == "AMOUNT_MISMATCH"),
            "{flagged}"
        );
        // The buyer can still pay the right amount.
        let again = start_wechat(&f, &order).await;
        f.sandbox.pay("wechatpay", &again, Value::Null).await;
        f.wait_order_status(&oid, "PAID").await;
    }
    let (_, metrics) = f.app.raw("GET", "/metrics", "", None).await;
    assert!(
        metrics
            .as_str()
            .unwrap_or_default()
            .contains("AMOUNT_MISMATCH"),
        "counted in metrics"
    );
    f.assert_money_invariant().await;
}

async fn paid_twice_at_two_providers(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    let order = f.create_order("TWICE-1", 4_200).await;
    let oid = id(&order);
    let wx = start_wechat(&f, &order).await;
    // Another method: the WeChat order is closed at WeChat first.
    let ali = start_alipay(&f, &order).await;
    assert_eq!(
        f.sandbox.order("wechatpay", &wx).await.unwrap()["status"],
        "CLOSED"
    );
    assert_eq!(attempt(&f, &wx).await.status, AttemptStatus::Closed);
    f.sandbox.pay("alipay", &ali, Value::Null).await;
    f.wait_order_status(&oid, "PAID").await;
    // The buyer's WeChat payment goes through anyway (a payment racing the close).
    f.sandbox
        .pay("wechatpay", &wx, json!({"force": true}))
        .await;
    let dup = wait_attempt(&f, &wx, "recorded as a duplicate", |a| a.flag.is_some()).await;
    assert_eq!(dup.flag, Some(AttemptFlag::Duplicate));
    assert_eq!(dup.status, AttemptStatus::Succeeded);
    let told = f
        .wait_notification("pay_order.duplicate_refunded", &oid)
        .await;
    assert_eq!(told[0]["data"]["kind"], "DUPLICATE");
    assert_eq!(told[0]["data"]["status"], "SUCCEEDED");
    let o = f.order(&oid).await;
    assert_eq!(o["status"], "PAID");
    assert_eq!(
        o["refunded_amount"], 0,
        "the order's own payment is untouched: {o}"
    );
    let (_, flagged) = f.admin_get("/admin/v1/flagged-attempts").await;
    assert!(
        flagged["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["attempt_no"] == wx.as_str()),
        "{flagged}"
    );

    // The other way round: the closed attempt's payment lands first and becomes the
    // order's payment; the second provider's is the duplicate.
    let order = f.create_order("TWICE-2", 4_300).await;
    let oid = id(&order);
    let wx = start_wechat(&f, &order).await;
    let ali = start_alipay(&f, &order).await;
    f.sandbox
        .pay("wechatpay", &wx, json!({"force": true}))
        .await;
    f.wait_order_status(&oid, "PAID").await;
    // Forced: once the order is paid, paydesk closes the Alipay attempt at the provider,
    // and the buyer's payment may land either side of that close.
    f.sandbox.pay("alipay", &ali, json!({"force": true})).await;
    let dup = wait_attempt(&f, &ali, "recorded as a duplicate", |a| a.flag.is_some()).await;
    assert_eq!(dup.flag, Some(AttemptFlag::Duplicate));
    f.wait_notification("pay_order.duplicate_refunded", &oid)
        .await;
    f.assert_money_invariant().await;
}

async fn payment_after_close_is_refunded(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    for (n, alipay) in [(1, false), (2, true)] {
        let order = f.create_order(&format!("AFTER-CLOSE-{n}"), 900).await;
        let oid = id(&order);
        let (no, provider) = start(&f, &order, alipay).await;
        let (s, closed) = f
            .app
            .call("POST", &format!("/v1/pay-orders/{oid}/close"), None)
            .await;
        assert_eq!(
            (s, closed["status"].as_str()),
            (200, Some("CLOSED")),
            "{closed}"
        );
        assert_eq!(
            f.sandbox.order(provider, &no).await.unwrap()["status"],
            "CLOSED",
            "closed at the provider first"
        );
        f.wait_notification("pay_order.closed", &oid).await;
        f.sandbox.pay(provider, &no, json!({"force": true})).await;
        let late = wait_attempt(&f, &no, "recorded as late", |a| a.flag.is_some()).await;
        assert_eq!(late.flag, Some(AttemptFlag::Late));
        let told = f
            .wait_notification("pay_order.duplicate_refunded", &oid)
            .await;
        assert_eq!(told[0]["data"]["kind"], "LATE");
        assert_eq!(f.order(&oid).await["status"], "CLOSED");
    }
    f.assert_money_invariant().await;
}

async fn close_of_an_order_paid_at_the_provider(backend: Backend) {
    let mut config = flow_config();
    config.payments.query_schedule = "30s".into();
    let Some(f) = FlowApp::start_with(backend, config).await else {
        return;
    };
    for (n, alipay) in [(1, false), (2, true)] {
        let provider = if alipay { "alipay" } else { "wechatpay" };
        f.sandbox
            .callback_fault(json!({"provider": provider, "kind": "drop"}))
            .await;
        let order = f.create_order(&format!("CLOSE-PAID-{n}"), 1_100).await;
        let oid = id(&order);
        let (no, _) = start(&f, &order, alipay).await;
        f.sandbox.pay(provider, &no, Value::Null).await;
        assert_eq!(
            f.order(&oid).await["status"],
            "WAITING",
            "paydesk has not heard yet"
        );
        let (s, e) = f
            .app
            .call("POST", &format!("/v1/pay-orders/{oid}/close"), None)
            .await;
        assert_eq!((s, e["code"].as_str()), (409, Some("INVALID_STATE")), "{e}");
        assert_eq!(f.order(&oid).await["status"], "PAID");
        f.wait_notification("pay_order.paid", &oid).await;
        assert!(f.notifications("pay_order.closed", &oid).is_empty());
    }
    f.assert_money_invariant().await;
}

/// Orders past their expiry are closed at the provider, then locally, and notified; a
/// payment that still lands afterwards is late and refunded.
async fn expired_orders_close_at_the_provider(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    let order = f
        .create_order_with("EXPIRE-1", 700, json!({"expire_in_seconds": 2}))
        .await;
    let oid = id(&order);
    let no = start_wechat(&f, &order).await;
    f.wait_order_status(&oid, "CLOSED").await;
    assert_eq!(
        f.sandbox.order("wechatpay", &no).await.unwrap()["status"],
        "CLOSED"
    );
    f.wait_notification("pay_order.closed", &oid).await;
    f.sandbox
        .pay("wechatpay", &no, json!({"force": true}))
        .await;
    let late = wait_attempt(&f, &no, "late", |a| a.flag.is_some()).await;
    assert_eq!(late.flag, Some(AttemptFlag::Late));

    // An Alipay page trade the buyer never opened does not exist at Alipay: the order
    // still closes (by expiry and by the business line).
    let order = f
        .create_order_with("EXPIRE-2", 700, json!({"expire_in_seconds": 2}))
        .await;
    let started = f.pay(&order, "ALIPAY", "PC").await;
    let ali = started["attempt_no"].as_str().unwrap();
    f.wait_order_status(&id(&order), "CLOSED").await;
    assert!(f.sandbox.order("alipay", ali).await.is_none());
    assert_eq!(attempt(&f, ali).await.status, AttemptStatus::Closed);
    let order = f.create_order("CLOSE-UNOPENED", 700).await;
    f.pay(&order, "ALIPAY", "H5").await;
    let (s, closed) = f
        .app
        .call(
            "POST",
            &format!("/v1/pay-orders/{}/close", id(&order)),
            None,
        )
        .await;
    assert_eq!(
        (s, closed["status"].as_str()),
        (200, Some("CLOSED")),
        "{closed}"
    );
    f.assert_money_invariant().await;
}

// ------------------------------------------------------------------ refunds API

async fn paid_order(f: &FlowApp, no: &str, amount: i64, alipay: bool) -> String {
    let order = f.create_order(no, amount).await;
    let (attempt_no, provider) = start(f, &order, alipay).await;
    f.sandbox.pay(provider, &attempt_no, Value::Null).await;
    f.wait_order_status(&id(&order), "PAID").await;
    id(&order)
}

async fn refund(f: &FlowApp, oid: &str, no: &str, amount: i64) -> (u16, Value) {
    let body =
        json!({"business_refund_no": no, "amount": amount, "currency": "CNY", "reason": "test"})
            .to_string();
    f.app
        .call(
            "POST",
            &format!("/v1/pay-orders/{oid}/refunds"),
            Some(&body),
        )
        .await
}

async fn wait_refund(f: &FlowApp, refund_id: &str, status: &str) -> Value {
    eventually(&format!("refund {refund_id} {status}"), 15, || async {
        let (s, r) = f
            .app
            .call("GET", &format!("/v1/refunds/{refund_id}"), None)
            .await;
        assert_eq!(s, 200, "{r}");
        if r["status"] == status {
            Ok(r)
        } else {
            Err(r.to_string())
        }
    })
    .await
}

/// WeChat refund edge cases the sandbox settles on request: `ABNORMAL` (the buyer's card
/// cannot receive it) stays flagged for offline handling with its amount still reserved
/// and no outcome event; `CLOSED` fails the refund, sends `refund.failed` and releases the
/// amount so it can be refunded again.
async fn wechat_refund_abnormal_and_closed(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    let oid = paid_order(&f, "REFUND-ABN", 1_000, false).await;
    let (s, _) = f
        .sandbox
        .post(
            "/sandbox/settings",
            json!({"wechat_refund_outcome": "ABNORMAL"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, r) = refund(&f, &oid, "R-ABN", 1_000).await;
    assert_eq!(s, 201, "{r}");
    let r = wait_refund(&f, r["id"].as_str().unwrap(), "ABNORMAL").await;
    assert!(
        r["last_error"].as_str().unwrap_or("").contains("ABNORMAL"),
        "{r}"
    );
    // Still reserved: nothing more can be refunded, and no outcome was announced.
    let (s, e) = refund(&f, &oid, "R-ABN-2", 1).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (409, Some("REFUND_EXCEEDS_REFUNDABLE")),
        "{e}"
    );
    assert!(f.notifications("refund.succeeded", &oid).is_empty());
    assert!(f.notifications("refund.failed", &oid).is_empty());

    let oid = paid_order(&f, "REFUND-CLOSED", 1_000, false).await;
    let (s, _) = f
        .sandbox
        .post(
            "/sandbox/settings",
            json!({"wechat_refund_outcome": "CLOSED"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, r) = refund(&f, &oid, "R-CLOSED", 600).await;
    assert_eq!(s, 201, "{r}");
    wait_refund(&f, r["id"].as_str().unwrap(), "FAILED").await;
    f.wait_notification("refund.failed", &oid).await;
    // Released: the whole amount can be refunded again (and now succeeds).
    let (s, _) = f
        .sandbox
        .post(
            "/sandbox/settings",
            json!({"wechat_refund_outcome": "SUCCESS"}),
        )
        .await;
    assert_eq!(s, 200);
    let (s, r2) = refund(&f, &oid, "R-CLOSED-2", 1_000).await;
    assert_eq!(s, 201, "{r2}");
    wait_refund(&f, r2["id"].as_str().unwrap(), "SUCCEEDED").await;
    f.wait_notification("refund.succeeded", &oid).await;
}

async fn refunds_api(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    for (n, alipay) in [(1, false), (2, true)] {
        let oid = paid_order(&f, &format!("REFUND-{n}"), 1_000, alipay).await;
        let rno = format!("R-{n}-1");
        let (s, r1) = refund(&f, &oid, &rno, 300).await;
        assert_eq!(s, 201, "{r1}");
        assert_eq!(
            (r1["kind"].as_str(), r1["amount"].as_i64()),
            (Some("BUSINESS"), Some(300))
        );
        assert!(
            ["PENDING", "PROCESSING", "SUCCEEDED"].contains(&r1["status"].as_str().unwrap()),
            "{r1}"
        );
        // The same request again: the same refund.
        let (s, again) = refund(&f, &oid, &rno, 300).await;
        assert_eq!((s, &again["id"]), (200, &r1["id"]), "{again}");
        // The same number with another amount: a conflict.
        let (s, e) = refund(&f, &oid, &rno, 301).await;
        assert_eq!(
            (s, e["code"].as_str()),
            (409, Some("IDEMPOTENCY_CONFLICT")),
            "{e}"
        );
        // More than is left.
        let (s, e) = refund(&f, &oid, &format!("R-{n}-2"), 701).await;
        assert_eq!(
            (s, e["code"].as_str()),
            (409, Some("REFUND_EXCEEDS_REFUNDABLE")),
            "{e}"
        );
        let r1_id = r1["id"].as_str().unwrap();
        let done = wait_refund(&f, r1_id, "SUCCEEDED").await;
        assert!(done["succeeded_at"].is_string());
        let (s, by_no) = f
            .app
            .call(
                "GET",
                &format!("/v1/refunds/by-business-refund-no/{rno}"),
                None,
            )
            .await;
        assert_eq!((s, &by_no["id"]), (200, &r1["id"]));
        let told = f.wait_notification("refund.succeeded", &oid).await;
        assert_eq!(told[0]["data"]["id"], r1["id"]);
        let o = f.order(&oid).await;
        assert_eq!(o["refunded_amount"], 300, "{o}");

        // 20 concurrent refunds of 50 over the 700 left: never more than 700 accepted.
        let f2 = Arc::new(f.app.client_view());
        let mut tasks = Vec::new();
        for i in 0..20 {
            let app = f2.clone();
            let oid = oid.clone();
            tasks.push(tokio::spawn(async move {
                let body = json!({"business_refund_no": format!("C-{n}-{i}"), "amount": 50, "currency": "CNY"}).to_string();
                app.call("POST", &format!("/v1/pay-orders/{oid}/refunds"), Some(&body)).await
            }));
        }
        let mut accepted = 0;
        for t in tasks {
            let (s, v) = t.await.unwrap();
            match s {
                201 => accepted += 50,
                409 => assert_eq!(v["code"], "REFUND_EXCEEDS_REFUNDABLE", "{v}"),
                _ => panic!("concurrent refund: {s} {v}"),
            }
        }
        assert_eq!(
            accepted, 700,
            "exactly what was left is accepted, never more"
        );
        let (s, list) = f
            .app
            .call("GET", &format!("/v1/pay-orders/{oid}/refunds"), None)
            .await;
        assert_eq!(s, 200);
        let list = list.as_array().unwrap().clone();
        assert_eq!(list.len(), 15, "1 + 14 accepted");
        for r in &list {
            wait_refund(&f, r["id"].as_str().unwrap(), "SUCCEEDED").await;
        }
        let (s, e) = refund(&f, &oid, &format!("R-{n}-3"), 1).await;
        assert_eq!(
            (s, e["code"].as_str()),
            (409, Some("REFUND_EXCEEDS_REFUNDABLE")),
            "{e}"
        );
        let o = f.order(&oid).await;
        assert_eq!(o["refunded_amount"], 1_000, "{o}");
    }
    // Unpaid orders cannot be refunded.
    let unpaid = f.create_order("REFUND-UNPAID", 100).await;
    let (s, e) = refund(&f, &id(&unpaid), "R-UNPAID", 1).await;
    assert_eq!((s, e["code"].as_str()), (409, Some("INVALID_STATE")), "{e}");
    f.assert_money_invariant().await;
    // The sandbox agrees: what it refunded equals what paydesk says it refunded.
    let total: i64 = f
        .sandbox
        .refunds()
        .await
        .iter()
        .filter(|r| r["status"] == "SUCCESS")
        .map(|r| r["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(total, 2_000);
}

/// WeChat's "not now" answers (`FREQUENCY_LIMITED`, `NOT_ENOUGH`), a refund timing out
/// after WeChat carried it out, and Alipay's system error: each is sent again later with
/// the same refund number and succeeds once; nothing is refunded twice.
async fn refunds_retry_with_the_same_number(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    let cases: &[(bool, Value)] = &[
        (
            false,
            json!({"provider": "wechatpay", "call": "refund", "kind": "error", "code": "FREQUENCY_LIMITED", "http_status": 429}),
        ),
        (
            false,
            json!({"provider": "wechatpay", "call": "refund", "kind": "error", "code": "NOT_ENOUGH", "http_status": 403}),
        ),
        (
            false,
            json!({"provider": "wechatpay", "call": "refund", "kind": "timeout", "execute": true, "delay_ms": 3000}),
        ),
        (
            false,
            json!({"provider": "wechatpay", "call": "refund", "kind": "http500", "execute": true}),
        ),
        (
            true,
            json!({"provider": "alipay", "call": "alipay.trade.refund", "kind": "system_error", "execute": true}),
        ),
        (
            true,
            json!({"provider": "alipay", "call": "alipay.trade.refund", "kind": "error", "code": "ACQ.SYSTEM_ERROR"}),
        ),
    ];
    for (n, (alipay, fault)) in cases.iter().enumerate() {
        let oid = paid_order(&f, &format!("RETRY-{n}"), 800, *alipay).await;
        f.sandbox.call_fault(fault.clone()).await;
        let (s, r) = refund(&f, &oid, &format!("RR-{n}"), 800).await;
        // The answer may already be final: the refund worker may have sent it again
        // (same number) while the first try waited for the provider.
        assert_eq!(s, 201, "{fault}: {r}");
        let rid = r["id"].as_str().unwrap();
        wait_refund(&f, rid, "SUCCEEDED").await;
        let (_, faults) = f.sandbox.get("/sandbox/faults").await;
        assert_eq!(faults["calls"], json!([]), "the fault was hit: {faults}");
        let stored = f.app.store.refund(rid).await.unwrap().unwrap();
        let at_sandbox: Vec<Value> = f
            .sandbox
            .refunds()
            .await
            .into_iter()
            .filter(|x| sandbox_refund_no(x) == stored.refund_no)
            .collect();
        assert_eq!(
            at_sandbox.len(),
            1,
            "{fault}: one refund at the provider, same number: {at_sandbox:?}"
        );
        assert_eq!(at_sandbox[0]["amount"], 800);
        let o = f.order(&oid).await;
        assert_eq!(o["refunded_amount"], 800, "{o}");
        f.wait_notification("refund.succeeded", &oid).await;
    }
    f.assert_money_invariant().await;
}

/// WeChat `PAYERROR` (the buyer's payment failed) is not the end: the buyer may pay the
/// same order again, and that payment counts.
async fn failed_payment_then_paid(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    let order = f.create_order("PAYERROR-1", 1_000).await;
    let no = start_wechat(&f, &order).await;
    let (s, v) = f
        .sandbox
        .post(&format!("/sandbox/orders/wechatpay/{no}/fail"), json!({}))
        .await;
    assert_eq!(s, 200, "{v}");
    wait_attempt(&f, &no, "FAILED by the query", |a| {
        a.status == AttemptStatus::Failed
    })
    .await;
    assert_eq!(f.order(&id(&order)).await["status"], "WAITING");
    f.sandbox.pay("wechatpay", &no, Value::Null).await;
    f.wait_order_status(&id(&order), "PAID").await;
    assert_eq!(attempt(&f, &no).await.flag, None);
    f.assert_money_invariant().await;
}

/// A buyer choosing in several tabs at once: however the choices race, every provider
/// order the buyer can still pay ends as the order's payment or refunded.
async fn concurrent_choices_then_every_open_one_paid(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    let f = Arc::new(f);
    let order = f.create_order("TABS-1", 2_500).await;
    let mut tasks = Vec::new();
    for i in 0..6 {
        let f = f.clone();
        let order = order.clone();
        let (method, terminal) = if i % 2 == 0 {
            ("WECHAT_PAY", "PC")
        } else {
            ("ALIPAY", "H5")
        };
        tasks.push(tokio::spawn(async move {
            let (s, v) = f
                .try_pay(&order, common::pay_body(method, terminal, None))
                .await;
            if s == 200 {
                f.buyer_opens(&v).await;
            }
            (s, v)
        }));
    }
    let mut ok = 0;
    for t in tasks {
        let (s, v) = t.await.unwrap();
        match s {
            200 => ok += 1,
            409 => assert_eq!(v["code"], "INVALID_STATE", "{v}"),
            _ => panic!("pay: {s} {v}"),
        }
    }
    assert!(ok >= 1);
    let attempts = f
        .app
        .store
        .attempts_for_pay_order(&id(&order))
        .await
        .unwrap();
    assert!(
        attempts.iter().filter(|a| a.status.is_open()).count() <= 1,
        "at most one open attempt: {attempts:?}"
    );
    // The buyer pays everything the providers still let them pay.
    for a in &attempts {
        let provider = a.provider.as_str();
        if let Some(o) = f.sandbox.order(provider, &a.attempt_no).await {
            if o["status"] == "PENDING" {
                f.sandbox.pay(provider, &a.attempt_no, Value::Null).await;
            }
        }
    }
    let oid = id(&order);
    eventually(
        "the order PAID by one of the tabs' payments",
        15,
        || async {
            let o = f.order(&oid).await;
            if o["status"] == "PAID" {
                return Ok(());
            }
            let mut state = Vec::new();
            for a in f.app.store.attempts_for_pay_order(&oid).await.unwrap() {
                let at = f.sandbox.order(a.provider.as_str(), &a.attempt_no).await;
                state.push(format!(
                    "{} {} {:?} {:?} at provider: {}",
                    a.attempt_no,
                    a.provider.as_str(),
                    a.status,
                    a.flag,
                    at.map(|o| o["status"].to_string()).unwrap_or_default()
                ));
            }
            Err(format!("{}\n{}", o["status"], state.join("\n")))
        },
    )
    .await;
    f.assert_money_invariant().await;
}

/// With `payments.hold_amount_mismatch`, a wrong amount is flagged and held for the
/// operator: not the order's payment, not refunded automatically.
async fn wrong_amount_held_for_review(backend: Backend) {
    let mut config = flow_config();
    config.payments.hold_amount_mismatch = true;
    let Some(f) = FlowApp::start_with(backend, config).await else {
        return;
    };
    let order = f.create_order("HOLD-1", 1_000).await;
    let no = start_wechat(&f, &order).await;
    f.sandbox
        .pay("wechatpay", &no, json!({"amount": 999}))
        .await;
    let a = wait_attempt(&f, &no, "flagged", |a| a.flag.is_some()).await;
    assert_eq!(a.flag, Some(AttemptFlag::AmountMismatch));
    assert_eq!(f.order(&id(&order)).await["status"], "WAITING");
    assert!(
        f.app
            .store
            .refunds_for_pay_order(&id(&order))
            .await
            .unwrap()
            .is_empty(),
        "held, not refunded"
    );
    assert!(f.sandbox.refunds().await.is_empty());
    let (_, flagged) = f.admin_get("/admin/v1/flagged-attempts").await;
    assert!(
        flagged["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["attempt_no"] == no.as_str()),
        "{flagged}"
    );
}

/// The provider's cap on refunds per payment (WeChat: 50) is enforced before any call.
async fn refund_count_is_capped(backend: Backend) {
    let mut config = flow_config();
    config.payments.max_refunds_per_payment = 3;
    let Some(f) = FlowApp::start_with(backend, config).await else {
        return;
    };
    let oid = paid_order(&f, "CAP-1", 1_000, false).await;
    for i in 0..3 {
        let (s, r) = refund(&f, &oid, &format!("CAP-R-{i}"), 10).await;
        assert_eq!(s, 201, "{r}");
    }
    let (s, e) = refund(&f, &oid, "CAP-R-3", 10).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (409, Some("REFUND_NOT_ALLOWED")),
        "{e}"
    );
    f.assert_money_invariant().await;
}

per_backend!(
    lost_callbacks_are_found_by_the_active_query,
    duplicated_callbacks_pay_once,
    reordered_and_late_callbacks,
    provider_failures_on_create,
    wrong_amount_is_never_the_payment,
    paid_twice_at_two_providers,
    payment_after_close_is_refunded,
    close_of_an_order_paid_at_the_provider,
    expired_orders_close_at_the_provider,
    refunds_api,
    wechat_refund_abnormal_and_closed,
    refunds_retry_with_the_same_number,
    wrong_amount_held_for_review,
    refund_count_is_capped,
    failed_payment_then_paid,
    concurrent_choices_then_every_open_one_paid,
);
