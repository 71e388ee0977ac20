//! Balance (余额) and combined (组合支付) payments over real HTTP against the in-process
//! sandbox, on every backend: a business line credits a buyer's balance; the checkout
//! offers COMBINED (balance + Alipay) and BALANCE by the example rules when the balance
//! allows; the balance part is held, the provider is asked only for the rest, and the
//! order is PAID with both parts when the provider part succeeds; refunds go back third
//! party first (or balance first when asked); a hold goes back when the buyer pays
//! otherwise or the order closes; the money invariant holds against the sandbox.

mod common;

use common::{eventually, FlowApp};
use paydesk_store::Backend;
use serde_json::{json, Value};

async fn credit(f: &FlowApp, no: &str, user: &str, minor: i64) -> (u16, Value) {
    let body = json!({"business_credit_no": no, "user_id": user, "amount_minor": minor});
    f.app
        .call("POST", "/v1/ledger/credits", Some(&body.to_string()))
        .await
}

async fn balance(f: &FlowApp, user: &str) -> (i64, i64) {
    let (s, v) = f
        .app
        .call("GET", &format!("/v1/ledger/balance?owner_id={user}"), None)
        .await;
    assert_eq!(s, 200, "{v}");
    (
        v["available_minor"].as_i64().unwrap(),
        v["held_minor"].as_i64().unwrap(),
    )
}

fn offered<'a>(opts: &'a Value, method: &str) -> Option<&'a Value> {
    opts["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["method"] == method)
}

async fn refund(f: &FlowApp, id: &str, no: &str, minor: i64, funds: Option<&str>) -> Value {
    let mut body = json!({"business_refund_no": no, "amount": minor, "currency": "CNY"});
    if let Some(funds) = funds {
        body["funds"] = Value::String(funds.into());
    }
    let (s, v) = f
        .app
        .call(
            "POST",
            &format!("/v1/pay-orders/{id}/refunds"),
            Some(&body.to_string()),
        )
        .await;
    assert!(s == 201 || s == 200, "refund {body}: {v}");
    v
}

async fn wait_refund(f: &FlowApp, refund_id: &str) -> Value {
    eventually(&format!("refund {refund_id} to succeed"), 15, || async {
        let (_, v) = f
            .app
            .call("GET", &format!("/v1/refunds/{refund_id}"), None)
            .await;
        if v["status"] == "SUCCEEDED" {
            Ok(v)
        } else {
            Err(v.to_string())
        }
    })
    .await
}

async fn combined_then_balance(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    let user = "u-combined";
    let (s, v) = credit(&f, "CREDIT-1", user, 300).await;
    assert_eq!((s, v["available_minor"].as_i64()), (201, Some(300)), "{v}");
    // The same credit again is the same credit; the number cannot be reused.
    assert_eq!(credit(&f, "CREDIT-1", user, 300).await.0, 200);
    let (s, v) = credit(&f, "CREDIT-1", user, 301).await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("IDEMPOTENCY_CONFLICT")),
        "{v}"
    );
    assert_eq!(credit(&f, "CREDIT-2", user, 0).await.0, 400);
    assert_eq!(balance(&f, user).await, (300, 0));

    // COMBINED on the web: 300 from the balance, 700 through Alipay.
    let order = f
        .create_order_with("COMB-1", 1_000, json!({"buyer_id": user}))
        .await;
    let id = order["id"].as_str().unwrap().to_owned();
    let opts = f.options(&order, "PC").await;
    let combined = offered(&opts, "COMBINED").unwrap_or_else(|| panic!("{opts}"));
    assert_eq!(combined["provider"], "alipay");
    assert_eq!(
        (
            combined["balance_minor"].as_i64(),
            combined["provider_minor"].as_i64()
        ),
        (Some(300), Some(700))
    );
    assert!(
        offered(&opts, "BALANCE").is_none(),
        "300 does not cover 1000: {opts}"
    );
    let (s, started) = f
        .try_pay(&order, json!({"method": "COMBINED", "terminal": "PC"}))
        .await;
    assert_eq!(s, 200, "{started}");
    assert_eq!(started["provider"], "alipay");
    assert_eq!(started["provider_minor"], 700);
    assert_eq!(started["balance_part"]["amount_minor"], 300);
    assert_eq!(started["balance_part"]["status"], "HELD");
    assert_eq!(balance(&f, user).await, (0, 300));
    f.buyer_opens(&started).await;
    let no = started["attempt_no"].as_str().unwrap();
    let at_provider = f.sandbox.order("alipay", no).await.unwrap();
    assert_eq!(
        at_provider["total"], 700,
        "the provider is asked for its part only"
    );
    f.sandbox.pay("alipay", no, Value::Null).await;
    let paid = f.wait_order_status(&id, "PAID").await;
    assert_eq!(paid["balance_part"]["amount"], 300, "{paid}");
    assert_eq!(paid["balance_part"]["provider_amount"], 700);
    assert_eq!(paid["balance_part"]["status"], "CAPTURED");
    assert_eq!(balance(&f, user).await, (0, 0));
    f.wait_notification("pay_order.paid", &id).await;

    // Refunds: 800 takes Alipay's 700 and 100 of the balance part.
    let r = refund(&f, &id, "COMB-R1", 800, None).await;
    assert_eq!(r["balance_amount"], 100, "{r}");
    wait_refund(&f, r["id"].as_str().unwrap()).await;
    assert_eq!(balance(&f, user).await, (100, 0));
    let at_provider: i64 = f
        .sandbox
        .refunds()
        .await
        .iter()
        .filter(|x| x["out_trade_no"] == no)
        .map(|x| x["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(at_provider, 700);
    // The rest (balance only) never reaches the provider.
    let r = refund(&f, &id, "COMB-R2", 200, Some("BALANCE_FIRST")).await;
    assert_eq!(r["balance_amount"], 200);
    wait_refund(&f, r["id"].as_str().unwrap()).await;
    assert_eq!(balance(&f, user).await, (300, 0));
    let (s, v) = f
        .app
        .call(
            "POST",
            &format!("/v1/pay-orders/{id}/refunds"),
            Some(&json!({"business_refund_no": "COMB-R3", "amount": 1, "currency": "CNY", "funds": "SIDEWAYS"}).to_string()),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{v}"
    );

    // BALANCE: the balance covers the whole order; paid at once.
    let small = f
        .create_order_with(
            "BAL-1",
            250,
            json!({"buyer_id": user, "seller_id": "s-bal"}),
        )
        .await;
    let small_id = small["id"].as_str().unwrap().to_owned();
    let opts = f.options(&small, "PC").await;
    assert_eq!(
        offered(&opts, "BALANCE").unwrap()["balance_minor"],
        250,
        "{opts}"
    );
    let (s, v) = f
        .try_pay(&small, json!({"method": "BALANCE", "terminal": "PC"}))
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("PAID")), "{v}");
    assert_eq!(balance(&f, user).await, (50, 0));
    let status = f
        .plain(
            "GET",
            &format!("/checkout/{}/status", FlowApp::token(&small)),
            None,
        )
        .await
        .1;
    assert_eq!(status["balance_part"]["amount_minor"], 250, "{status}");
    f.wait_notification("pay_order.paid", &small_id).await;
    // A BALANCE order settles from the balance clearing account, and refunds to the balance.
    let (s, v) = f
        .app
        .call(
            "POST",
            "/v1/settlements",
            Some(
                &json!({"business_settlement_no": "SET-BAL-1", "pay_order_id": small_id})
                    .to_string(),
            ),
        )
        .await;
    assert_eq!(s, 201, "{v}");
    let r = refund(&f, &small_id, "BAL-R1", 100, None).await;
    assert_eq!(r["balance_amount"], 100);
    wait_refund(&f, r["id"].as_str().unwrap()).await;
    assert_eq!(balance(&f, user).await, (150, 0));
    f.wait_notification("refund.succeeded", &small_id).await;
    // Nothing left for BALANCE now.
    let more = f
        .create_order_with("BAL-2", 151, json!({"buyer_id": user}))
        .await;
    let (s, v) = f
        .try_pay(&more, json!({"method": "BALANCE", "terminal": "PC"}))
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (409, Some("INSUFFICIENT_BALANCE")),
        "{v}"
    );
    f.assert_money_invariant().await;
}

/// A hold goes back when the buyer pays otherwise, and when the order closes.
async fn holds_go_back(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    let user = "u-undecided";
    assert_eq!(credit(&f, "CREDIT-U", user, 400).await.0, 201);
    let order = f
        .create_order_with("HOLD-1", 1_000, json!({"buyer_id": user}))
        .await;
    let id = order["id"].as_str().unwrap().to_owned();
    let (s, v) = f
        .try_pay(
            &order,
            json!({"method": "COMBINED", "terminal": "PC", "balance_minor": 250}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(balance(&f, user).await, (150, 250));
    // Back to COMBINED without a split: what is held here counts as spendable again.
    let (s, v) = f
        .try_pay(&order, json!({"method": "COMBINED", "terminal": "PC"}))
        .await;
    assert_eq!(
        (s, v["balance_part"]["amount_minor"].as_i64()),
        (200, Some(400)),
        "{v}"
    );
    assert_eq!(balance(&f, user).await, (0, 400));
    let (s, v) = f
        .try_pay(
            &order,
            json!({"method": "COMBINED", "terminal": "PC", "balance_minor": 1_000}),
        )
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{v}"
    );
    // The buyer changes their mind: Alipay for the whole amount.
    let started = f.pay(&order, "ALIPAY", "PC").await;
    assert_eq!(balance(&f, user).await, (400, 0));
    f.buyer_opens(&started).await;
    f.sandbox
        .pay(
            "alipay",
            started["attempt_no"].as_str().unwrap(),
            Value::Null,
        )
        .await;
    let paid = f.wait_order_status(&id, "PAID").await;
    assert_eq!(paid["balance_part"]["status"], "RELEASED", "{paid}");

    // Held, then the order is closed: the hold goes back with the close.
    let second = f
        .create_order_with("HOLD-2", 900, json!({"buyer_id": user}))
        .await;
    let second_id = second["id"].as_str().unwrap().to_owned();
    let (s, v) = f
        .try_pay(&second, json!({"method": "COMBINED", "terminal": "PC"}))
        .await;
    assert_eq!(
        (s, v["balance_part"]["amount_minor"].as_i64()),
        (200, Some(400)),
        "{v}"
    );
    assert_eq!(balance(&f, user).await, (0, 400));
    let (s, v) = f
        .app
        .call(
            "POST",
            &format!("/v1/pay-orders/{second_id}/close"),
            Some("{}"),
        )
        .await;
    assert_eq!((s, v["status"].as_str()), (200, Some("CLOSED")), "{v}");
    assert_eq!(balance(&f, user).await, (400, 0));
    assert_eq!(
        f.order(&second_id).await["balance_part"]["status"],
        "RELEASED"
    );
    // No buyer, no balance: COMBINED is not offered and cannot be forced.
    let anonymous = f.create_order("HOLD-3", 500).await;
    assert!(offered(&f.options(&anonymous, "PC").await, "COMBINED").is_none());
    let (s, v) = f
        .try_pay(&anonymous, json!({"method": "COMBINED", "terminal": "PC"}))
        .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("METHOD_NOT_OFFERED")),
        "{v}"
    );
    f.assert_money_invariant().await;
}

per_backend!(combined_then_balance, holds_go_back);
