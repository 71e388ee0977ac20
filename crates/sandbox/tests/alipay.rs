//! The real Alipay adapter (`AlipayClient`) against the sandbox's gateway over real HTTP.

mod common;

use common::*;
use paydesk_providers::alipay::client::AlipayClient;
use paydesk_providers::alipay::sign::{sign_request, verify_notification};
use paydesk_providers::keys::{PrivateKey, PublicKey};
use paydesk_providers::model::*;
use paydesk_providers::{PaymentProvider, ProviderError, SignatureError};
use paydesk_sandbox::Provider;
use serde_json::json;
use std::time::Duration;

fn code(e: &ProviderError) -> &str {
    e.provider_code().unwrap_or("<none>")
}

fn query(no: &str) -> PaymentRef {
    PaymentRef::AttemptNo(no.into())
}

#[tokio::test]
async fn every_product_creates_and_lands_on_the_wallet() {
    let env = Env::new("ali-create").await;
    let a = alipay(&env);
    let c = &a.client;
    let notify = "https://merchant.example/notify/ali";

    let PaymentAction::QrCode(qr) = c
        .create(&payment("PRE0001", 1234, Product::Native, notify))
        .await
        .unwrap()
    else {
        panic!()
    };
    let page = env.http.get(&qr).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("PRE0001"));

    let PaymentAction::ProviderTrade(trade_no) = c
        .create(&payment("JS0001", 100, Product::Jsapi, notify))
        .await
        .unwrap()
    else {
        panic!()
    };
    let s = c.query(&PaymentRef::ProviderTxnId(trade_no)).await.unwrap();
    assert_eq!(s.attempt_no, "JS0001");
    assert_eq!(s.state, PaymentState::NotPaid);

    // App pay: the signed order string, as the Alipay app would submit it.
    let PaymentAction::OrderString(os) = c
        .create(&payment("APP0001", 100, Product::App, notify))
        .await
        .unwrap()
    else {
        panic!()
    };
    let r = env
        .http
        .post(env.url("/gateway.do"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(os)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .ends_with("/APP0001"));

    // Page and wap pay: the redirect URL (GET) and the auto-submit form (POST) both land.
    for (no, product) in [("PAGE0001", Product::Page), ("WAP0001", Product::H5)] {
        let PaymentAction::Redirect { url, form_html } =
            c.create(&payment(no, 100, product, notify)).await.unwrap()
        else {
            panic!()
        };
        let r = env.http.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 303, "{no}");
        let wallet = r.headers()["location"].to_str().unwrap().to_string();
        assert!(wallet.ends_with(&format!("/{no}")), "{wallet}");
        assert_eq!(env.http.get(&wallet).send().await.unwrap().status(), 200);
        assert!(form_html.unwrap().contains("alipaysubmit"));
    }
    let s = c.query(&query("PAGE0001")).await.unwrap();
    assert_eq!(s.state, PaymentState::NotPaid);
    assert_eq!(s.amount, Some(cny(100)));

    c.close("PRE0001").await.unwrap();
    assert_eq!(
        c.query(&query("PRE0001")).await.unwrap().state,
        PaymentState::Closed
    );
    let e = c.query(&query("NOPE")).await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }), "{e:?}");
    let e = c.close("NOPE").await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }), "{e:?}");
    env.sandbox.stop().await;
}

#[tokio::test]
async fn payment_notification_verifies_and_query_agrees() {
    let env = Env::new("ali-pay").await;
    let rx = Receiver::start().await;
    let a = alipay(&env);
    let c = &a.client;
    c.create(&payment(
        "PAY0001",
        8888,
        Product::Native,
        &rx.url("alipay"),
    ))
    .await
    .unwrap();
    env.pay("alipay", "PAY0001", json!({})).await;
    let got = rx.wait("alipay", 1).await;
    let n = c.parse_notification(&got[0].0).unwrap();
    let NotificationEvent::Payment(p) = n.event else {
        panic!()
    };
    assert_eq!(p.state, PaymentState::Succeeded);
    assert_eq!(p.amount, Some(cny(8888)));
    assert_eq!(p.passback.as_deref(), Some("po_1 a&b"));
    assert_eq!(p.merchant_id.as_deref(), Some(a.seller_id.as_str()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rx.of("alipay").len(), 1, "answered success: not retried");

    let q = c.query(&query("PAY0001")).await.unwrap();
    assert_eq!(q.state, PaymentState::Succeeded);
    assert_eq!(q.provider_txn_id, p.provider_txn_id);
    assert!(q.paid_at.is_some());
    let e = c.close("PAY0001").await.unwrap_err();
    assert_eq!(code(&e), "ACQ.TRADE_STATUS_ERROR");
    // Another app (other keys) refuses the notification.
    assert!(alipay(&env).client.parse_notification(&got[0].0).is_err());
    // A changed amount breaks the signature.
    let mut forged = got[0].0.clone();
    forged.body = String::from_utf8(forged.body)
        .unwrap()
        .replace("total_amount=88.88", "total_amount=0.01")
        .into_bytes();
    assert!(matches!(
        c.parse_notification(&forged),
        Err(ProviderError::Signature { .. })
    ));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn notifications_are_retried_until_the_body_is_success() {
    let env = Env::new("ali-retry").await;
    let rx = Receiver::start().await;
    rx.fail_first.store(2, std::sync::atomic::Ordering::SeqCst);
    let a = alipay(&env);
    a.client
        .create(&payment("RETRY01", 100, Product::Native, &rx.url("alipay")))
        .await
        .unwrap();
    env.pay("alipay", "RETRY01", json!({})).await;
    let got = rx.wait("alipay", 3).await;
    // 4 m, 10 m at 1000x: 240 ms, 600 ms.
    let gaps: Vec<i64> = got.windows(2).map(|p| p[1].1 - p[0].1).collect();
    assert!(gaps[0] >= 235 && gaps[1] >= 595, "{gaps:?}");
    let ids: Vec<_> = got
        .iter()
        .map(|(n, _)| a.client.parse_notification(n).unwrap().notification_id)
        .collect();
    assert!(
        ids.iter().all(|i| *i == ids[0]),
        "notify_id is constant across retries"
    );
    assert_eq!(env.callbacks("RETRY01").await[0]["status"], "DELIVERED");
    env.sandbox.stop().await;
}

#[tokio::test]
async fn refunds_partial_repeat_query_and_limits() {
    let env = Env::new("ali-refund").await;
    let a = alipay(&env);
    let c = &a.client;
    c.create(&payment(
        "REF0001",
        1000,
        Product::Native,
        "https://m.example/n",
    ))
    .await
    .unwrap();
    let req = |no: &str, amount: i64| RefundRequest {
        attempt_no: "REF0001".into(),
        provider_txn_id: None,
        refund_no: no.into(),
        refund_amount: cny(amount),
        total_amount: cny(1000),
        reason: None,
        notify_url: None,
    };
    let e = c.refund(&req("R1", 100)).await.unwrap_err();
    assert_eq!(code(&e), "ACQ.TRADE_STATUS_ERROR");
    env.pay("alipay", "REF0001", json!({})).await;
    let r = c.refund(&req("R1", 300)).await.unwrap();
    assert_eq!(r.state, RefundState::Succeeded);
    // The same request again moves no money (fund_change N): the adapter asks to query.
    let r = c.refund(&req("R1", 300)).await.unwrap();
    assert_eq!(r.state, RefundState::Processing);
    let q = c
        .query_refund(&RefundQuery {
            attempt_no: "REF0001".into(),
            refund_no: "R1".into(),
        })
        .await
        .unwrap();
    assert_eq!(q.state, RefundState::Succeeded);
    assert_eq!(q.amount, Some(cny(300)));
    let q = c
        .query_refund(&RefundQuery {
            attempt_no: "REF0001".into(),
            refund_no: "R9".into(),
        })
        .await
        .unwrap();
    assert_eq!(q.state, RefundState::NotAccepted);
    let e = c.refund(&req("R2", 701)).await.unwrap_err();
    assert_eq!(code(&e), "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL");
    // An amount that overflows what is already refunded: a signed parameter error, and the
    // sandbox keeps serving.
    let e = c.refund(&req("R3", i64::MAX)).await.unwrap_err();
    assert!(matches!(e, ProviderError::Rejected { .. }), "{e:?}");
    assert_eq!(code(&e), "ACQ.INVALID_PARAMETER");
    c.refund(&req("R2", 700)).await.unwrap();
    // Fully refunded: TRADE_CLOSED.
    assert_eq!(
        c.query(&query("REF0001")).await.unwrap().state,
        PaymentState::Closed
    );
    env.sandbox.stop().await;
}

#[tokio::test]
async fn transfers_and_their_query() {
    let env = Env::new("ali-transfer").await;
    let a = alipay(&env);
    let c = &a.client;
    let t = |no: &str, payee: Payee, name: Option<&str>| TransferRequest {
        payout_no: no.into(),
        amount: cny(1000),
        payee,
        payee_name: name.map(str::to_string),
        remark: "Withdrawal".into(),
        notify_url: None,
        scene_id: None,
        scene_details: vec![],
    };
    let s = c
        .transfer(&t(
            "T0001",
            Payee::AlipayUserId("2088123412341234".into()),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(s.state, TransferState::Succeeded);
    assert_eq!(
        c.query_transfer("T0001").await.unwrap().state,
        TransferState::Succeeded
    );
    let s = c
        .transfer(&t(
            "T0002",
            Payee::AlipayLogin("user@example.com".into()),
            Some("张三"),
        ))
        .await
        .unwrap();
    assert_eq!(s.state, TransferState::Succeeded);
    let e = c
        .transfer(&t("T0003", Payee::AlipayUserId("12".into()), None))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "PAYEE_NOT_EXIST");
    let e = c.query_transfer("T0009").await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }), "{e:?}");

    // A transfer that times out at the gateway but was done: the query finds SUCCESS.
    env.control("POST", "/sandbox/faults/calls", json!({"provider": "alipay", "call": "alipay.fund.trans.uni.transfer", "kind": "timeout", "execute": true, "delay_ms": 3000})).await;
    let mut cfg = c.config().clone();
    cfg.timeout_ms = 400;
    let short = AlipayClient::new(cfg).unwrap();
    let e = short
        .transfer(&t(
            "T0004",
            Payee::AlipayUserId("2088123412341234".into()),
            None,
        ))
        .await
        .unwrap_err();
    assert!(e.is_outcome_unknown(), "{e:?}");
    assert_eq!(
        short.query_transfer("T0004").await.unwrap().state,
        TransferState::Succeeded
    );
    env.sandbox.stop().await;
}

#[tokio::test]
async fn bill_is_a_zip_of_csv() {
    let env = Env::new("ali-bill").await;
    let a = alipay(&env);
    let c = &a.client;
    let today = time::OffsetDateTime::now_utc()
        .to_offset(time::macros::offset!(+8))
        .date();
    let req = BillRequest {
        date: today,
        kind: BillKind::Trades,
    };
    let e = c.download_trade_bill(&req).await.unwrap_err();
    assert_eq!(code(&e), "isp.bill_not_exist");
    c.create(&payment(
        "BILL0001",
        1999,
        Product::Native,
        "https://m.example/n",
    ))
    .await
    .unwrap();
    env.pay("alipay", "BILL0001", json!({})).await;
    let f = c.download_trade_bill(&req).await.unwrap();
    assert_eq!(f.format, BillFormat::AlipayZip);
    assert_eq!(&f.bytes[..4], b"PK\x03\x04");
    let text = String::from_utf8_lossy(&f.bytes);
    assert!(
        text.contains("业务明细.csv")
            && text.contains(",BILL0001,交易,")
            && text.contains(",19.99,"),
        "{text}"
    );
    env.sandbox.stop().await;
}

/// A raw gateway call with chosen parameters, signed with `key`.
async fn raw(env: &Env, key: &PrivateKey, mut params: Vec<(String, String)>) -> serde_json::Value {
    let sign = sign_request(key, &params).unwrap();
    params.push(("sign".into(), sign));
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let r = env
        .http
        .post(env.url("/gateway.do"))
        .header(
            "Content-Type",
            "application/x-www-form-urlencoded;charset=utf-8",
        )
        .body(body)
        .send()
        .await
        .unwrap();
    serde_json::from_str(&r.text().await.unwrap()).unwrap()
}

fn params(app_id: &str, method: &str, ts: &str, biz: &str) -> Vec<(String, String)> {
    [
        ("app_id", app_id),
        ("method", method),
        ("format", "JSON"),
        ("charset", "utf-8"),
        ("sign_type", "RSA2"),
        ("timestamp", ts),
        ("version", "1.0"),
        ("biz_content", biz),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

#[tokio::test]
async fn bad_signatures_keys_timestamps_and_bodies_are_refused_and_change_nothing() {
    let env = Env::new("ali-bad").await;
    let a = alipay(&env);
    let notify = "https://m.example/n";
    // Wrong app key.
    let mut cfg = a.client.config().clone();
    cfg.app_private_key = PrivateKey::generate_rsa2048().unwrap();
    let e = AlipayClient::new(cfg)
        .unwrap()
        .create(&payment("BAD0001", 100, Product::Native, notify))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "isv.invalid-signature", "{e:?}");
    // Unknown app.
    let mut cfg = a.client.config().clone();
    cfg.app_id = "2021000000000000".into();
    let e = AlipayClient::new(cfg)
        .unwrap()
        .query(&query("BAD0001"))
        .await
        .unwrap_err();
    // Alipay cannot sign for an app it does not know: the unsigned error cannot be trusted,
    // so the outcome is unknown (never a final rejection), its code kept for the logs.
    assert!(
        matches!(&e, ProviderError::Unknown { reason, .. } if reason.contains("isv.invalid-app-id")),
        "{e:?}"
    );
    // The client trusts another Alipay key: the sandbox's signed answer is refused.
    let mut cfg = a.client.config().clone();
    cfg.alipay_public_keys = vec![PrivateKey::generate_rsa2048()
        .unwrap()
        .public_key()
        .unwrap()];
    let e = AlipayClient::new(cfg)
        .unwrap()
        .create(&payment("TRUST01", 100, Product::Native, notify))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::Signature {
                source: SignatureError::Invalid,
                ..
            }
        ),
        "{e:?}"
    );
    assert!(e.is_outcome_unknown());
    // (That order was created: the answer was genuine, only the client's key was wrong.)
    a.client.close("TRUST01").await.unwrap();

    let key = PrivateKey::from_pem(&a.app_key_pem).unwrap();
    let now =
        paydesk_providers::alipay::sign::format_time(time::OffsetDateTime::now_utc()).unwrap();
    let old = paydesk_providers::alipay::sign::format_time(
        time::OffsetDateTime::now_utc() - time::Duration::hours(1),
    )
    .unwrap();
    let biz = r#"{"out_trade_no":"RAW0001","total_amount":"1.00","subject":"x"}"#;
    let v = raw(
        &env,
        &key,
        params(&a.app_id, "alipay.trade.precreate", &old, biz),
    )
    .await;
    assert_eq!(
        v["alipay_trade_precreate_response"]["sub_code"], "isv.invalid-timestamp",
        "{v}"
    );
    for bad in [
        "{",
        r#"{"out_trade_no":"RAW0001"}"#,
        r#"{"out_trade_no":"RAW0001","total_amount":"1.001","subject":"x"}"#,
        r#"{"out_trade_no":"RAW0001","total_amount":"0","subject":"x"}"#,
    ] {
        let v = raw(
            &env,
            &key,
            params(&a.app_id, "alipay.trade.precreate", &now, bad),
        )
        .await;
        let r = &v["alipay_trade_precreate_response"];
        assert_ne!(r["code"], "10000", "{bad}: {v}");
        assert!(
            r["sub_code"]
                .as_str()
                .unwrap()
                .contains("invalid-parameter"),
            "{bad}: {v}"
        );
    }
    // sign_type other than RSA2, duplicate parameters, unknown method.
    let mut p = params(&a.app_id, "alipay.trade.precreate", &now, biz);
    p[4].1 = "RSA".into();
    let v = raw(&env, &key, p).await;
    assert_eq!(
        v["alipay_trade_precreate_response"]["sub_code"],
        "isv.invalid-signature-type"
    );
    let v = raw(
        &env,
        &key,
        params(&a.app_id, "alipay.trade.nothing", &now, biz),
    )
    .await;
    assert_eq!(v["error_response"]["sub_code"], "isv.invalid-method");
    // A parameter changed after signing.
    let mut p = params(&a.app_id, "alipay.trade.precreate", &now, biz);
    p.push(("sign".into(), sign_request(&key, &p).unwrap()));
    p[7].1 = r#"{"out_trade_no":"RAW0001","total_amount":"9999.00","subject":"x"}"#.into();
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(p.iter())
        .finish();
    let v: serde_json::Value = env
        .http
        .post(env.url("/gateway.do"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        v["alipay_trade_precreate_response"]["sub_code"],
        "isv.invalid-signature"
    );

    let (_, orders) = env.control("GET", "/sandbox/orders", json!(null)).await;
    let nos: Vec<_> = orders
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["out_trade_no"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(nos, vec!["TRUST01".to_string()]);
    env.sandbox.stop().await;
}

#[tokio::test]
async fn wallet_pay_returns_to_the_merchant_with_a_signed_return() {
    let env = Env::new("ali-return").await;
    let rx = Receiver::start().await;
    let a = alipay(&env);
    let PaymentAction::Redirect { url, .. } = a
        .client
        .create(&payment("RET0001", 500, Product::Page, &rx.url("alipay")))
        .await
        .unwrap()
    else {
        panic!()
    };
    env.http.get(&url).send().await.unwrap();
    let r = env
        .http
        .post(env.url("/wallet/act"))
        .form(&[
            ("provider", "alipay"),
            ("merchant", a.app_id.as_str()),
            ("no", "RET0001"),
            ("action", "pay"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let loc = r.headers()["location"].to_str().unwrap().to_string();
    assert!(loc.starts_with("https://shop.example/return?"), "{loc}");
    let q: Vec<(String, String)> =
        form_urlencoded::parse(loc.split_once('?').unwrap().1.as_bytes())
            .into_owned()
            .collect();
    let key = PublicKey::from_pem(&a.alipay_public_key_pem).unwrap();
    verify_notification(&[key], &q).unwrap();
    assert!(q.iter().any(|(k, v)| k == "total_amount" && v == "5.00"));
    rx.wait("alipay", 1).await;
    env.sandbox.stop().await;
}

#[tokio::test]
async fn faults_and_restart() {
    let env = Env::new("ali-faults").await;
    let rx = Receiver::start().await;
    let a = alipay(&env);
    let c = &a.client;
    c.create(&payment("F0001", 100, Product::Native, &rx.url("alipay")))
        .await
        .unwrap();
    env.control(
        "POST",
        "/sandbox/faults/calls",
        json!({"provider": "alipay", "call": "alipay.trade.query", "kind": "http500"}),
    )
    .await;
    assert!(c
        .query(&query("F0001"))
        .await
        .unwrap_err()
        .is_outcome_unknown());
    env.control(
        "POST",
        "/sandbox/faults/calls",
        json!({"provider": "alipay", "call": "*", "kind": "system_error", "times": 2}),
    )
    .await;
    assert!(c
        .query(&query("F0001"))
        .await
        .unwrap_err()
        .is_outcome_unknown());
    assert!(c.close("F0001").await.unwrap_err().is_outcome_unknown());
    assert_eq!(
        c.query(&query("F0001")).await.unwrap().state,
        PaymentState::NotPaid
    );
    // A fault body that is not understood is refused.
    let (s, _) = env
        .control(
            "POST",
            "/sandbox/faults/calls",
            json!({"provider": "alipay", "kind": "nope"}),
        )
        .await;
    assert_eq!(s, 400);
    // A delay past one day (which would overflow the schedule) is refused, clearly.
    for (path, rule) in [
        (
            "/sandbox/faults/callbacks",
            json!({"provider": "alipay", "kind": "delay", "delay_ms": i64::MAX}),
        ),
        (
            "/sandbox/faults/calls",
            json!({"provider": "alipay", "call": "*", "kind": "timeout", "delay_ms": u64::MAX}),
        ),
    ] {
        let (s, v) = env.control("POST", path, rule).await;
        assert_eq!((s, v["code"].as_str()), (400, Some("BAD_FAULT")), "{v}");
    }
    let (_, f) = env.control("GET", "/sandbox/faults", json!(null)).await;
    assert_eq!(f["callbacks"].as_array().unwrap().len(), 0, "{f}");
    assert_eq!(f["calls"].as_array().unwrap().len(), 0, "{f}");

    // Paid with a different amount, then the sandbox restarts with a callback still due.
    env.control(
        "POST",
        "/sandbox/faults/callbacks",
        json!({"provider": "alipay", "kind": "delay", "delay_ms": 1500}),
    )
    .await;
    env.pay("alipay", "F0001", json!({"amount": 99})).await;
    let dir = env.dir.clone();
    env.sandbox.stop().await;
    let again = start_in(&dir).await;
    let got = rx.wait("alipay", 1).await;
    let NotificationEvent::Payment(p) = c.parse_notification(&got[0].0).unwrap().event else {
        panic!()
    };
    assert_eq!(p.amount, Some(cny(99)));
    let mut cfg = c.config().clone();
    cfg.gateway_url = format!("{}/gateway.do", again.base_url);
    let q = AlipayClient::new(cfg)
        .unwrap()
        .query(&query("F0001"))
        .await
        .unwrap();
    assert_eq!(
        (q.state, q.amount),
        (PaymentState::Succeeded, Some(cny(99)))
    );
    // A merchant added while it runs works at once.
    let creds = paydesk_sandbox::add_merchant(&dir, Provider::Alipay, &again.base_url).unwrap();
    AlipayClient::new(alipay_config(&creds))
        .unwrap()
        .create(&payment(
            "NEW0001",
            100,
            Product::Native,
            "https://m.example/n",
        ))
        .await
        .unwrap();
    again.stop().await;
}
