//! Reconciliation end to end: a bill day built for real through the sandbox, with every
//! kind of difference, reconciled through the admin API; the safe difference is settled
//! through the normal flow (order paid, business line notified), the rest wait for an
//! operator; totals tie out; the CSV has a row per difference; a viewer cannot resolve,
//! an admin can (audited); a re-run keeps decisions.
//!
//! How each case happens:
//! * matched: a WeChat payment with its callback, and a refund of another one;
//! * STATUS_DIFFERS (settled): a payment whose callback the sandbox drops, with the active
//!   query an hour away, so paydesk still holds the attempt `PENDING`;
//! * AMOUNT_DIFFERS: a payment recorded by paydesk, then paid again at the sandbox with
//!   another amount (`force`), so the provider's bill carries the new amount;
//! * MISSING_IN_PAYDESK: an order created at the sandbox with the merchant's own keys,
//!   bypassing paydesk, and paid (someone else using the merchant account);
//! * FEE_DIFFERS: an Alipay payment on an account whose agreed rate is 0.6%, where the
//!   sandbox charges no fee;
//! * MISSING_AT_PROVIDER: a real payment that the provider's daily bill leaves out (the
//!   sandbox's bill fault `bill_omitted_trades`).

mod common;

use common::{eventually, flow_config, FlowApp};
use paydesk_core::{ids, AttemptStatus, PayOrderStatus};
use paydesk_providers::model::{CreatePayment, MethodParams, Product};
use paydesk_store::{Backend, OperatorRole};
use serde_json::{json, Value};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

async fn admin_post(f: &FlowApp, token: &str, path: &str, body: Value) -> (u16, Value) {
    common::admin_req(&f.app, "POST", path, token, Some(body)).await
}

/// Pays an order with WeChat (NATIVE) at the sandbox; its attempt number.
async fn wechat_paid(f: &FlowApp, order: &Value, body: Value) -> String {
    let s = f.pay(order, "WECHAT_PAY", "PC").await;
    let no = s["attempt_no"].as_str().unwrap().to_owned();
    f.sandbox.pay("wechatpay", &no, body).await;
    no
}

fn differences<'a>(list: &'a [Value], kind: &str) -> Vec<&'a Value> {
    list.iter().filter(|d| d["kind"] == kind).collect()
}

async fn a_day_with_every_kind_of_difference(backend: Backend) {
    let mut config = flow_config();
    // No active query within the test: a lost callback stays lost until reconciliation.
    config.payments.query_schedule = "1h".into();
    config
        .reconcile
        .fee_rate_ppm
        .insert("ali-main".into(), 6_000);
    let Some(f) = FlowApp::start_with(backend, config).await else {
        return;
    };

    // Matched: a normal payment.
    let matched = f.create_order("R-MATCH", 1_000).await;
    wechat_paid(&f, &matched, Value::Null).await;
    f.wait_order_status(&id(&matched), "PAID").await;

    // Matched: a payment and its partial refund.
    let refunded = f.create_order("R-REFUND", 2_000).await;
    wechat_paid(&f, &refunded, Value::Null).await;
    f.wait_order_status(&id(&refunded), "PAID").await;
    let body = json!({"business_refund_no": "RF-1", "amount": 500, "currency": "CNY"}).to_string();
    let (s, refund) = f
        .app
        .call(
            "POST",
            &format!("/v1/pay-orders/{}/refunds", id(&refunded)),
            Some(&body),
        )
        .await;
    assert_eq!(s, 201, "{refund}");
    f.wait_notification("refund.succeeded", &id(&refunded))
        .await;

    // AMOUNT_DIFFERS: recorded at 3000, then the provider's record changes to 3100.
    let amount = f.create_order("R-AMOUNT", 3_000).await;
    let amount_no = wechat_paid(&f, &amount, Value::Null).await;
    f.wait_order_status(&id(&amount), "PAID").await;
    f.sandbox
        .pay(
            "wechatpay",
            &amount_no,
            json!({"force": true, "amount": 3_100}),
        )
        .await;

    // MISSING_IN_PAYDESK: an order at the merchant account that paydesk never made.
    let stranger_no = format!("X{}", ids::random_hex::<8>());
    let wx = f.app.state.accounts().get("wx-main").unwrap();
    wx.client
        .create_payment(&CreatePayment {
            attempt_no: stranger_no.clone(),
            amount: paydesk_core::Amount::new(4_000, paydesk_core::Currency::CNY).unwrap(),
            subject: "made elsewhere".into(),
            product: Product::Native,
            payer_id: None,
            expires_at: time::OffsetDateTime::now_utc() + time::Duration::hours(1),
            notify_url: "http://127.0.0.1:9/elsewhere".into(),
            return_url: None,
            client_ip: None,
            passback: None,
            method_params: MethodParams::default(),
        })
        .await
        .unwrap();
    f.sandbox.pay("wechatpay", &stranger_no, Value::Null).await;

    // MISSING_AT_PROVIDER: a real payment, which the provider's bill then leaves out
    // (the sandbox's bill fault `bill_omitted_trades`).
    let phantom = f.create_order("R-PHANTOM", 6_000).await;
    let phantom_no = wechat_paid(&f, &phantom, Value::Null).await;
    f.wait_order_status(&id(&phantom), "PAID").await;
    let (s, set) = f
        .sandbox
        .post(
            "/sandbox/settings",
            json!({"bill_omitted_trades": [phantom_no]}),
        )
        .await;
    assert_eq!(s, 200, "{set}");

    // STATUS_DIFFERS, settled: the callback is dropped, nothing queries.
    f.sandbox
        .callback_fault(json!({"provider": "wechatpay", "kind": "drop"}))
        .await;
    let lost = f.create_order("R-LOST", 5_000).await;
    let lost_no = wechat_paid(&f, &lost, Value::Null).await;
    eventually("the lost callback to be dropped", 15, || async {
        let cbs = f.sandbox.callbacks().await;
        cbs.iter()
            .any(|c| c["subject"] == lost_no.as_str() && c["status"] == "DROPPED")
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
    f.sandbox.clear_faults().await;
    let before = f.app.store.attempt_by_no(&lost_no).await.unwrap().unwrap();
    assert_eq!(
        before.status,
        AttemptStatus::Pending,
        "the payment is missed"
    );

    // FEE_DIFFERS: an Alipay payment; the account's agreed rate is 0.6%.
    let fee = f.create_order("R-FEE", 10_000).await;
    let s = f.pay(&fee, "ALIPAY", "PC").await;
    f.buyer_opens(&s).await;
    f.sandbox
        .pay("alipay", s["attempt_no"].as_str().unwrap(), Value::Null)
        .await;
    f.wait_order_status(&id(&fee), "PAID").await;

    // The bill day: China time (UTC+8) of the payments.
    let paid_at = f
        .app
        .store
        .attempt_by_no(&amount_no)
        .await
        .unwrap()
        .unwrap()
        .paid_at_ms
        .unwrap();
    let date =
        paydesk_server::reconcile::format_date(paydesk_server::reconcile::china_date(paid_at));

    // A viewer may not run a day; an admin does, for both accounts.
    let viewer =
        paydesk_server::admin::operators::create(&*f.app.store, "viewer-1", OperatorRole::Viewer)
            .await
            .unwrap()
            .token;
    let (s, v) = admin_post(
        &f,
        &viewer,
        "/admin/v1/reconciliation/runs",
        json!({"date": date}),
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (403, Some("FORBIDDEN")), "{v}");
    let (s, v) = admin_post(
        &f,
        &f.admin,
        "/admin/v1/reconciliation/runs",
        json!({"date": date, "account": "wx-main"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let run = v["results"][0]["run"].clone();
    assert_eq!(run["status"], "COMPLETED", "{v}");
    let t = &run["totals"];
    assert_eq!(t["ties_out"], true, "{run}");
    // Bill: MATCH, REFUND payment, REFUND refund, AMOUNT, stranger, LOST.
    assert_eq!(t["provider"]["count"], 6, "{run}");
    assert_eq!(
        t["provider"]["net_minor"],
        1_000 + 2_000 - 500 + 3_100 + 4_000 + 5_000
    );
    // paydesk: MATCH, REFUND payment, REFUND refund, AMOUNT, PHANTOM, LOST (pending).
    assert_eq!(t["paydesk"]["count"], 6, "{run}");
    assert_eq!(
        t["paydesk"]["net_minor"],
        1_000 + 2_000 - 500 + 3_000 + 6_000
    );
    assert_eq!(
        (
            t["matched"]["count"].as_i64(),
            t["differing"]["count"].as_i64()
        ),
        (Some(3), Some(2))
    );
    assert_eq!(t["missing_in_paydesk"]["count"], 1);
    assert_eq!(t["missing_at_provider"]["count"], 1);
    assert_eq!(v["results"][0]["settled"], 1, "{v}");
    let run_id = run["id"].as_str().unwrap().to_owned();

    let (s, v) = f
        .admin_get(&format!(
            "/admin/v1/reconciliation/differences?run_id={run_id}"
        ))
        .await;
    assert_eq!(s, 200, "{v}");
    let list = v["differences"].as_array().unwrap().clone();
    assert_eq!(list.len(), 4, "{v}");
    let one = |kind: &str| {
        let found = differences(&list, kind);
        assert_eq!(found.len(), 1, "{kind}: {list:?}");
        found[0].clone()
    };
    let status = one("STATUS_DIFFERS");
    assert_eq!(status["attempt_no"], lost_no.as_str());
    assert_eq!(status["state"], "SETTLED_AUTOMATICALLY", "{status}");
    assert_eq!(
        (
            status["provider_status"].as_str(),
            status["paydesk_status"].as_str()
        ),
        (Some("SUCCEEDED"), Some("PENDING"))
    );
    let amount_d = one("AMOUNT_DIFFERS");
    assert_eq!(
        (
            amount_d["attempt_no"].as_str(),
            amount_d["provider_amount_minor"].as_i64(),
            amount_d["paydesk_amount_minor"].as_i64(),
            amount_d["state"].as_str()
        ),
        (
            Some(amount_no.as_str()),
            Some(3_100),
            Some(3_000),
            Some("OPEN")
        )
    );
    let stranger = one("MISSING_IN_PAYDESK");
    assert_eq!(
        (stranger["attempt_no"].as_str(), stranger["state"].as_str()),
        (Some(stranger_no.as_str()), Some("OPEN"))
    );
    assert_eq!(stranger["provider_amount_minor"], 4_000);
    let missing = one("MISSING_AT_PROVIDER");
    assert_eq!(
        (missing["attempt_no"].as_str(), missing["state"].as_str()),
        (Some(phantom_no.as_str()), Some("OPEN"))
    );

    // The safe one went through the normal flow: paid, and the business line told.
    let after = f.app.store.attempt_by_no(&lost_no).await.unwrap().unwrap();
    assert_eq!(after.status, AttemptStatus::Succeeded);
    let order = f.app.store.pay_order(&id(&lost)).await.unwrap().unwrap();
    assert_eq!(order.status, PayOrderStatus::Paid);
    f.wait_notification("pay_order.paid", &id(&lost)).await;

    // Alipay: the fee differs from the agreed 0.6%.
    let (s, v) = admin_post(
        &f,
        &f.admin,
        "/admin/v1/reconciliation/runs",
        json!({"date": date, "account": "ali-main"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["results"][0]["run"]["totals"]["ties_out"], true, "{v}");
    let (_, d) = f
        .admin_get(&format!(
            "/admin/v1/reconciliation/differences?date={date}&account=ali-main&state=OPEN"
        ))
        .await;
    let fee_d = d["differences"].as_array().unwrap();
    assert_eq!(fee_d.len(), 1, "{d}");
    assert_eq!(
        (
            fee_d[0]["kind"].as_str(),
            fee_d[0]["provider_fee_minor"].as_i64(),
            fee_d[0]["paydesk_fee_minor"].as_i64()
        ),
        (Some("FEE_DIFFERS"), Some(0), Some(60))
    );

    // The CSV export: a header and a row per difference.
    let resp = f
        .app
        .http
        .get(format!(
            "{}/admin/v1/reconciliation/runs/{run_id}/differences.csv",
            f.app.base
        ))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let csv = resp.text().await.unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 1 + 4, "{csv}");
    assert!(rows[0].starts_with("difference_id,bill_date,merchant_account,kind"));
    for d in &list {
        assert!(
            rows.iter()
                .any(|r| r.starts_with(d["id"].as_str().unwrap())),
            "{csv}"
        );
    }

    // A viewer cannot resolve; an admin can, with a reason, and it is audited.
    let path = format!(
        "/admin/v1/reconciliation/differences/{}/resolve",
        amount_d["id"].as_str().unwrap()
    );
    let body = json!({"reason": "provider's second charge refunded by hand, ticket 7", "version": amount_d["version"]});
    let (s, v) = admin_post(&f, &viewer, &path, body.clone()).await;
    assert_eq!((s, v["code"].as_str()), (403, Some("FORBIDDEN")), "{v}");
    let (s, v) = admin_post(&f, &f.admin, &path, json!({"reason": " ", "version": 1})).await;
    assert_eq!(s, 400, "{v}");
    let (s, v) = admin_post(&f, &f.admin, &path, body.clone()).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["state"].as_str(), v["resolved_by"].as_str()),
        (Some("RESOLVED"), Some("operator:flow-admin"))
    );
    let (s, v) = admin_post(&f, &f.admin, &path, body).await;
    assert_eq!((s, v["code"].as_str()), (409, Some("INVALID_STATE")), "{v}");
    let audit = f.app.store.audit_log(50).await.unwrap();
    let entry = audit
        .iter()
        .find(|e| e.action == "reconciliation.resolve")
        .expect("the resolution is audited");
    assert_eq!(entry.actor, "operator:flow-admin");
    assert_eq!(entry.target, amount_d["id"].as_str().unwrap());
    assert!(entry.details_json.contains("ticket 7"));

    // The day again: the settled payment now matches, the decisions stand, the rest is
    // found again.
    let (s, v) = admin_post(
        &f,
        &f.admin,
        "/admin/v1/reconciliation/runs",
        json!({"date": date, "account": "wx-main"}),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let t = &v["results"][0]["run"]["totals"];
    assert_eq!(
        (t["ties_out"].as_bool(), t["matched"]["count"].as_i64()),
        (Some(true), Some(4)),
        "{v}"
    );
    let (_, v) = f
        .admin_get(&format!(
            "/admin/v1/reconciliation/differences?run_id={run_id}"
        ))
        .await;
    let again = v["differences"].as_array().unwrap();
    let states: Vec<(&str, &str)> = again
        .iter()
        .map(|d| (d["kind"].as_str().unwrap(), d["state"].as_str().unwrap()))
        .collect();
    assert_eq!(again.len(), 4, "{states:?}");
    assert!(states.contains(&("STATUS_DIFFERS", "SETTLED_AUTOMATICALLY")));
    assert!(states.contains(&("AMOUNT_DIFFERS", "RESOLVED")));
    assert!(states.contains(&("MISSING_IN_PAYDESK", "OPEN")));
    assert!(states.contains(&("MISSING_AT_PROVIDER", "OPEN")));
    let (s, v) = f
        .admin_get("/admin/v1/reconciliation/runs?account=wx-main")
        .await;
    assert_eq!(
        (s, v["runs"].as_array().map(Vec::len)),
        (200, Some(1)),
        "{v}"
    );
}

/// A day without any business: the providers answer "no bill", an empty run that ties out.
async fn an_empty_day_is_an_empty_run(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    let yesterday = paydesk_server::reconcile::china_date(paydesk_server::time::now_ms())
        .previous_day()
        .unwrap();
    for account in ["wx-main", "ali-main"] {
        let report = paydesk_server::reconcile::reconcile_day(&f.app.state, yesterday, account)
            .await
            .unwrap();
        assert_eq!(report.run.totals, paydesk_store::RunTotals::default());
        assert!(report.differences.is_empty());
    }
}

/// The fees on a bill are booked once: platform fees -> the provider's mirror account,
/// so the ledger's external account ties out with what the provider kept; a second run
/// of the day books nothing more.
async fn bill_fees_are_booked_once(backend: Backend) {
    let Some(f) = FlowApp::start(backend).await else {
        return;
    };
    let (s, v) = f
        .sandbox
        .post("/sandbox/settings", json!({"wechat_bill_fee_ppm": 6_000}))
        .await;
    assert_eq!(s, 200, "{v}");
    let order = f.create_order("R-FEES", 10_000).await;
    let no = wechat_paid(&f, &order, Value::Null).await;
    f.wait_order_status(&id(&order), "PAID").await;
    let paid_at = f
        .app
        .store
        .attempt_by_no(&no)
        .await
        .unwrap()
        .unwrap()
        .paid_at_ms
        .unwrap();
    let day = paydesk_server::reconcile::china_date(paid_at);
    let ledger = f.app.store.ledger();
    let balance = |kind: paydesk_core::AccountKind| {
        let a =
            paydesk_core::AccountRef::new(kind, "wx-main", paydesk_core::Currency::CNY).unwrap();
        async move { ledger.balance(&a).await.unwrap() }
    };
    for _ in 0..2 {
        let report = paydesk_server::reconcile::reconcile_day(&f.app.state, day, "wx-main")
            .await
            .unwrap();
        assert!(report.run.totals.ties_out(), "{:?}", report.run.totals);
        assert_eq!(balance(paydesk_core::AccountKind::PlatformFees).await, -60);
        assert_eq!(
            balance(paydesk_core::AccountKind::External).await,
            -10_000 + 60,
            "the provider holds the payment less its fee"
        );
    }
}

per_backend!(
    a_day_with_every_kind_of_difference,
    bill_fees_are_booked_once,
    an_empty_day_is_an_empty_run
);
