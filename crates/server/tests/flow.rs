//! The whole acquiring flow over real HTTP against the in-process provider sandbox, for
//! every provider x product x terminal the example rules offer (derived from the checkout
//! options, not hard-coded), on every backend: create the order (signed API), read the
//! checkout options, pay, the buyer pays at the sandbox, the provider's callback makes the
//! order PAID, the business line gets a verified `pay_order.paid`, and the raw callback is
//! visible to the operator's lookup.

mod common;

use common::{eventually, pay_body, FlowApp, TestApp};
use paydesk_store::Backend;
use serde_json::Value;
use std::collections::BTreeSet;

const TERMINALS: &[&str] = &[
    "ANDROID",
    "IOS",
    "WECHAT_MINI_PROGRAM",
    "ALIPAY_MINI_PROGRAM",
    "H5",
    "WECHAT_H5",
    "PC",
];

/// One row of the matrix: who routes where, and what paying it looked like.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    seller: String,
    terminal: String,
    method: String,
    provider: String,
    product: String,
    merchant_account: String,
    action: String,
}

async fn pay_one(
    f: &FlowApp,
    seq: usize,
    seller: Option<&str>,
    terminal: &str,
    offered: &Value,
) -> Row {
    let method = offered["method"].as_str().unwrap();
    let no = format!("FLOW-{seq}-{terminal}-{method}");
    let extra = match seller {
        Some(s) => serde_json::json!({"seller_id": s}),
        None => Value::Null,
    };
    let amount = 1_000 + i64::try_from(seq).unwrap();
    let order = f.create_order_with(&no, amount, extra).await;
    let id = order["id"].as_str().unwrap().to_owned();

    // The cashier page and the options are the order's, not the client's.
    let (s, page) = f
        .plain(
            "GET",
            &format!("/checkout/{}", FlowApp::token(&order)),
            None,
        )
        .await;
    assert_eq!(s, 200, "{page}");
    let opts = f.options(&order, terminal).await;
    assert_eq!(opts["amount"]["amount_minor"], amount, "{opts}");
    assert_eq!(opts["status"], "WAITING");
    let again = opts["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["method"] == method)
        .unwrap_or_else(|| panic!("{method} offered on {terminal} again: {opts}"));
    assert_eq!(again, offered);

    let periods = offered["installment_periods"]
        .as_array()
        .and_then(|p| p.get(seq % p.len()))
        .and_then(Value::as_u64)
        .map(|p| u32::try_from(p).unwrap());
    if method == "ALIPAY_INSTALLMENT" {
        assert!(periods.is_some(), "installments offer periods: {offered}");
        // A period the rules do not offer is refused, nothing started.
        let mut bad = pay_body(method, terminal, Some(5));
        bad["installment_periods"] = Value::from(5);
        let (s, e) = f.try_pay(&order, bad).await;
        assert_eq!(
            (s, e["code"].as_str()),
            (400, Some("INVALID_REQUEST")),
            "{e}"
        );
    }
    let body = pay_body(method, terminal, periods);
    let (s, started) = f.try_pay(&order, body.clone()).await;
    assert_eq!(s, 200, "pay {no} {body}: {started}");
    let provider = started["provider"].as_str().unwrap().to_owned();
    assert_eq!(provider, offered["provider"].as_str().unwrap(), "{started}");
    assert_eq!(started["method"], method);
    let attempt_no = started["attempt_no"].as_str().unwrap().to_owned();
    let action = started["action"]["type"].as_str().unwrap().to_owned();
    match action.as_str() {
        "qr_code" => {
            assert!(started["action"]["content"].is_string(), "{started}");
            assert!(
                started["action"]["image_svg"]
                    .as_str()
                    .is_some_and(|s| s.contains("<svg")),
                "{started}"
            );
        }
        "redirect" => assert!(started["action"]["url"].is_string(), "{started}"),
        "sdk_params" => assert!(started["action"]["params"].is_object(), "{started}"),
        "order_string" => assert!(started["action"]["value"].is_string(), "{started}"),
        "provider_trade" => assert!(started["action"]["trade_no"].is_string(), "{started}"),
        other => panic!("unknown action {other}: {started}"),
    }

    // The buyer pays at the provider.
    f.buyer_opens(&started).await;
    let before = f.sandbox.order(&provider, &attempt_no).await.unwrap();
    assert_eq!(before["status"], "PENDING", "{before}");
    assert_eq!(
        before["total"], amount,
        "the provider was asked for the order's amount"
    );
    let paid_at_provider = f.sandbox.pay(&provider, &attempt_no, Value::Null).await;
    let txn_id = paid_at_provider["txn_id"].as_str().unwrap().to_owned();

    let paid = f.wait_order_status(&id, "PAID").await;
    assert!(paid["paid_at"].is_string(), "{paid}");
    let notes = f.wait_notification("pay_order.paid", &id).await;
    assert_eq!(notes[0]["data"]["status"], "PAID");
    assert_eq!(notes[0]["data"]["amount"], amount);
    let (s, st) = f
        .plain(
            "GET",
            &format!("/checkout/{}/status", FlowApp::token(&order)),
            None,
        )
        .await;
    assert_eq!((s, st["status"].as_str()), (200, Some("PAID")), "{st}");

    // The operator finds it by every number and sees the raw callback.
    let looked = eventually("the raw callback in the lookup", 10, || async {
        let l = f.lookup(&attempt_no).await;
        let applied = l["provider_callbacks"].as_array().is_some_and(|c| {
            c.iter().any(|c| {
                c["outcome"]
                    .as_str()
                    .is_some_and(|o| o.starts_with("APPLIED"))
            })
        });
        if applied {
            Ok(l)
        } else {
            Err(l.to_string())
        }
    })
    .await;
    assert_eq!(looked["matched"], "attempt_no");
    assert_eq!(looked["pay_order"]["id"], id.as_str());
    let cb = &looked["provider_callbacks"][0];
    assert_eq!(cb["provider"], provider.as_str());
    assert_eq!(cb["attempt_no"], attempt_no.as_str());
    assert!(cb["body"].as_str().is_some_and(|b| !b.is_empty()), "{cb}");
    let attempt = looked["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["attempt"]["attempt_no"] == attempt_no.as_str())
        .unwrap()["attempt"]
        .clone();
    assert_eq!(attempt["status"], "SUCCEEDED", "{attempt}");
    assert_eq!(attempt["flag"], Value::Null);
    assert_eq!(attempt["provider_txn_id"], txn_id.as_str());
    assert_eq!(f.lookup(&txn_id).await["matched"], "provider_txn_id");
    assert_eq!(f.lookup(&id).await["matched"], "pay_order_id");
    assert_eq!(f.lookup(&no).await["matched"], "business_order_no");
    // With the provider's live answer.
    let (s, live) = f
        .admin_get(&format!("/admin/v1/lookup?q={attempt_no}"))
        .await;
    assert_eq!(s, 200, "{live}");
    assert_eq!(
        live["attempts"][0]["provider_live"]["state"], "SUCCEEDED",
        "{live}"
    );

    Row {
        seller: seller.unwrap_or("-").to_owned(),
        terminal: terminal.to_owned(),
        method: method.to_owned(),
        provider,
        product: attempt["product"].as_str().unwrap().to_owned(),
        merchant_account: attempt["merchant_account"].as_str().unwrap().to_owned(),
        action,
    }
}

/// Where examples/rules/marketplace.toml routes a payment: the `seller-acme` rule
/// (seller_id = acme) overrides WeChat Pay in the apps and inside WeChat, Alipay in the apps
/// and on PC, installments in the apps; everything else is on the main accounts.
fn expected_account(seller: &str, terminal: &str, method: &str) -> &'static str {
    let app = terminal == "IOS" || terminal == "ANDROID";
    let acme = seller == "acme"
        && match method {
            "WECHAT_PAY" => app || terminal.starts_with("WECHAT_"),
            "ALIPAY" => app || terminal == "PC",
            "ALIPAY_INSTALLMENT" => app,
            _ => false,
        };
    match (method, acme) {
        ("WECHAT_PAY", true) => "wx-seller-acme",
        ("WECHAT_PAY", false) => "wx-main",
        (_, true) => "ali-seller-acme",
        (_, false) => "ali-main",
    }
}

async fn every_offered_method_pays_end_to_end(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    let mut rows = Vec::new();
    let mut seq = 0;
    for seller in [None, Some("acme")] {
        for terminal in TERMINALS {
            seq += 1;
            let probe = f
                .create_order_with(
                    &format!("PROBE-{seq}"),
                    500,
                    seller.map_or(Value::Null, |s| serde_json::json!({"seller_id": s})),
                )
                .await;
            let opts = f.options(&probe, terminal).await;
            let methods = opts["methods"].as_array().unwrap().clone();
            assert!(!methods.is_empty(), "nothing offered on {terminal}: {opts}");
            assert_eq!(
                methods.iter().filter(|m| m["default"] == true).count(),
                1,
                "one default: {opts}"
            );
            for offered in &methods {
                seq += 1;
                rows.push(pay_one(&f, seq, seller, terminal, offered).await);
            }
        }
    }
    rows.sort();
    let table: Vec<String> = rows
        .iter()
        .map(|r| {
            format!(
                "{:5} {:19} {:18} {:9} {:6} {:15} {}",
                r.seller, r.terminal, r.method, r.provider, r.product, r.merchant_account, r.action
            )
        })
        .collect();
    eprintln!("flow matrix ({} rows):\n{}", rows.len(), table.join("\n"));

    // The matrix covers both providers, every product the example routes to, and the
    // seller's own accounts.
    let providers: BTreeSet<_> = rows.iter().map(|r| r.provider.as_str()).collect();
    assert_eq!(
        providers,
        BTreeSet::from(["alipay", "wechatpay"]),
        "{table:#?}"
    );
    let combos: BTreeSet<_> = rows
        .iter()
        .map(|r| (r.method.as_str(), r.product.as_str()))
        .collect();
    for want in [
        ("WECHAT_PAY", "APP"),
        ("WECHAT_PAY", "JSAPI"),
        ("WECHAT_PAY", "H5"),
        ("WECHAT_PAY", "NATIVE"),
        ("ALIPAY", "APP"),
        ("ALIPAY", "JSAPI"),
        ("ALIPAY", "WAP"),
        ("ALIPAY", "PAGE"),
        ("ALIPAY_INSTALLMENT", "APP"),
        ("ALIPAY_INSTALLMENT", "JSAPI"),
        ("ALIPAY_INSTALLMENT", "WAP"),
        ("ALIPAY_INSTALLMENT", "PAGE"),
    ] {
        assert!(combos.contains(&want), "{want:?} not covered: {table:#?}");
    }
    let accounts: BTreeSet<_> = rows.iter().map(|r| r.merchant_account.as_str()).collect();
    assert_eq!(
        accounts,
        BTreeSet::from(["ali-main", "ali-seller-acme", "wx-main", "wx-seller-acme"]),
        "{table:#?}"
    );
    // Routing follows the rules: inside WeChat no Alipay, inside Alipay no WeChat Pay,
    // Acme's app payments on Acme's accounts.
    for r in &rows {
        if r.terminal.starts_with("WECHAT") {
            assert_eq!(r.provider, "wechatpay", "{r:?}");
        }
        if r.terminal == "ALIPAY_MINI_PROGRAM" {
            assert_eq!(r.provider, "alipay", "{r:?}");
        }
        if r.seller == "acme" && (r.terminal == "IOS" || r.terminal == "ANDROID") {
            assert!(r.merchant_account.ends_with("seller-acme"), "{r:?}");
        }
        assert_eq!(
            r.merchant_account,
            expected_account(&r.seller, &r.terminal, &r.method),
            "routing of {r:?}"
        );
    }
    // Probe orders were never paid; everything else was exactly once.
    f.assert_money_invariant().await;
}

/// A method the rules do not offer on a terminal is refused and starts nothing.
async fn methods_not_offered_are_refused(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    let order = f.create_order("NOPE-1", 100).await;
    for (method, terminal) in [
        ("ALIPAY", "WECHAT_MINI_PROGRAM"),
        ("WECHAT_PAY", "ALIPAY_MINI_PROGRAM"),
        ("BALANCE", "PC"),
    ] {
        let (s, e) = f.try_pay(&order, pay_body(method, terminal, None)).await;
        assert_eq!(
            (s, e["code"].as_str()),
            (400, Some("METHOD_NOT_OFFERED")),
            "{method} on {terminal}: {e}"
        );
    }
    assert!(
        f.sandbox.orders().await.is_empty(),
        "nothing reached a provider"
    );
    let (s, e) = f
        .plain("GET", "/checkout/not-a-token/options?terminal=PC", None)
        .await;
    assert_eq!(s, 404, "{e}");
}

/// COMBINED (part balance, part a provider) is routed by the example rules for the
/// `secondhand` line's apps, but needs the ledger: it is neither listed nor payable, so its
/// route can never take the whole amount through the provider.
async fn balance_methods_are_never_charged_to_a_provider(backend: Backend) {
    let Some(mut f) = FlowApp::start(backend).await else {
        return;
    };
    let key = paydesk_server::secrets::MasterKey::from_bytes(&[42u8; 32]).unwrap();
    let line = paydesk_server::business_lines::create(
        &*f.app.store,
        &key,
        "secondhand",
        &f.receiver.url,
        &[],
    )
    .await
    .unwrap();
    f.app.app_id = line.line.app_id;
    f.app.secret = line.secret;
    let order = f.create_order("COMB-1", 100).await;
    // The rules do offer it here (the decision, straight from the engine)...
    let snapshot = f.app.state.rules.current().unwrap();
    let mut facts = paydesk_rules::Facts::new(paydesk_rules::Terminal::Ios);
    facts.business_line = Some("secondhand".into());
    let decision = snapshot
        .compiled
        .evaluate(&facts, paydesk_server::time::now_ms());
    assert!(
        decision.get(paydesk_rules::Method::Combined).is_some(),
        "the example rules offer COMBINED to secondhand apps: {decision:?}"
    );
    // ...but the checkout does not.
    let options = f.options(&order, "IOS").await;
    let listed: Vec<&str> = options["methods"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["method"].as_str())
        .collect();
    assert!(!listed.is_empty(), "{options}");
    assert!(
        !listed.contains(&"COMBINED") && !listed.contains(&"BALANCE"),
        "{listed:?}"
    );
    for method in ["COMBINED", "BALANCE"] {
        let (s, e) = f.try_pay(&order, pay_body(method, "IOS", None)).await;
        assert_eq!(
            (s, e["code"].as_str()),
            (400, Some("METHOD_NOT_OFFERED")),
            "{method}: {e}"
        );
    }
    assert!(
        f.sandbox.orders().await.is_empty(),
        "nothing reached a provider"
    );
}

/// Attempts per order are limited; choosing again closes the earlier attempt each time.
async fn attempts_per_order_are_limited(backend: Backend) {
    let mut config = common::flow_config();
    config.payments.max_attempts_per_order = 3;
    let Some(f) = FlowApp::start_with(backend, config).await else {
        return;
    };
    let order = f.create_order("LIMIT-1", 100).await;
    let mut nos = Vec::new();
    for terminal in ["PC", "H5", "PC"] {
        nos.push(
            f.pay(&order, "WECHAT_PAY", terminal).await["attempt_no"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let (s, e) = f.try_pay(&order, pay_body("ALIPAY", "PC", None)).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (409, Some("TOO_MANY_ATTEMPTS")),
        "{e}"
    );
    for no in &nos[..2] {
        let at = f.sandbox.order("wechatpay", no).await.unwrap();
        assert_eq!(
            at["status"], "CLOSED",
            "earlier attempts closed at the provider: {at}"
        );
    }
    f.sandbox.pay("wechatpay", &nos[2], Value::Null).await;
    f.wait_order_status(order["id"].as_str().unwrap(), "PAID")
        .await;
    f.assert_money_invariant().await;
}

/// Callbacks that do not verify are refused in the provider's own format and change
/// nothing; unknown accounts are 404.
async fn forged_callbacks_are_refused(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    let order = f.create_order("FORGED-1", 100).await;
    let started = f.pay(&order, "WECHAT_PAY", "PC").await;
    let no = started["attempt_no"].as_str().unwrap();
    let forged = serde_json::json!({"id": "x", "event_type": "TRANSACTION.SUCCESS",
        "resource": {"out_trade_no": no}});
    let resp = f
        .app
        .http
        .post(format!("{}/notify/wechatpay/wx-main", f.app.base))
        .header("content-type", "application/json")
        .header("wechatpay-serial", "PUB_KEY_ID_0000")
        .header("wechatpay-signature", "Zm9yZ2Vk")
        .header("wechatpay-timestamp", TestApp::now_secs().to_string())
        .header("wechatpay-nonce", "n")
        .body(forged.to_string())
        .send()
        .await
        .unwrap();
    assert!(
        !resp.status().is_success(),
        "forged WeChat callback: {}",
        resp.status()
    );
    let resp = f
        .app
        .http
        .post(format!("{}/notify/alipay/ali-main", f.app.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("out_trade_no={no}&trade_status=TRADE_SUCCESS&total_amount=1.00&sign=Zm9yZ2Vk&sign_type=RSA2"))
        .send()
        .await
        .unwrap();
    let text = resp.text().await.unwrap();
    assert_ne!(text.trim(), "success", "forged Alipay callback");
    let (s, _) = f
        .plain("POST", "/notify/wechatpay/nobody", Some(Value::Null))
        .await;
    assert_eq!(s, 404);
    let (s, _) = f
        .plain("POST", "/notify/alipay/wx-main", Some(Value::Null))
        .await;
    assert_eq!(s, 404, "an account of the other provider");
    assert_eq!(
        f.order(order["id"].as_str().unwrap()).await["status"],
        "WAITING"
    );
}

per_backend!(
    every_offered_method_pays_end_to_end,
    methods_not_offered_are_refused,
    balance_methods_are_never_charged_to_a_provider,
    attempts_per_order_are_limited,
    forged_callbacks_are_refused,
);
