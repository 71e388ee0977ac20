//! The real WeChat Pay adapter (`WechatPayClient`) against the sandbox over real HTTP.

mod common;

use common::*;
use paydesk_providers::keys::{KeyRing, PrivateKey};
use paydesk_providers::model::*;
use paydesk_providers::wechatpay::client::WechatPayClient;
use paydesk_providers::wechatpay::sign::{random_nonce, Authorization};
use paydesk_providers::{PaymentProvider, ProviderError, SignatureError};
use paydesk_sandbox::Provider;
use serde_json::json;
use std::time::Duration;

fn rejected_code(e: &ProviderError) -> &str {
    e.provider_code().unwrap_or("<none>")
}

#[tokio::test]
async fn every_product_creates_queries_and_closes() {
    let env = Env::new("wx-create").await;
    let w = wechat(&env);
    let c = &w.client;
    let notify = "https://merchant.example/notify/wx";

    let qr = c
        .create(&payment("NATIVE000001", 1234, Product::Native, notify))
        .await
        .unwrap();
    let PaymentAction::QrCode(code_url) = qr else {
        panic!("{qr:?}")
    };
    assert!(
        code_url.starts_with("weixin://wxpay/bizpayurl?pr="),
        "{code_url}"
    );
    // The QR code leads to the wallet.
    let page = env
        .http
        .get(env.url(&format!("/wallet/scan?code_url={}", urlencode(&code_url))))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("NATIVE000001"));

    let jsapi = c
        .create(&payment("JSAPI0000001", 100, Product::Jsapi, notify))
        .await
        .unwrap();
    let PaymentAction::SdkParams(p) = jsapi else {
        panic!()
    };
    let get = |k: &str| p.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert!(get("package").starts_with("prepay_id=wx"));
    // The client signature verifies with the merchant's key, as WeChat's app would check it.
    let public = PrivateKey::from_pem(&w.merchant_key_pem)
        .unwrap()
        .public_key()
        .unwrap();
    let msg = format!(
        "{}\n{}\n{}\n{}\n",
        w.appid,
        get("timeStamp"),
        get("nonceStr"),
        get("package")
    );
    assert!(public.verify_base64(msg.as_bytes(), &get("paySign")));

    let app = c
        .create(&payment("APP000000001", 100, Product::App, notify))
        .await
        .unwrap();
    assert!(matches!(app, PaymentAction::SdkParams(_)));
    let h5 = c
        .create(&payment("H50000000001", 100, Product::H5, notify))
        .await
        .unwrap();
    let PaymentAction::Redirect { url, .. } = h5 else {
        panic!()
    };
    assert!(url.starts_with(&env.sandbox.base_url), "{url}");
    assert_eq!(env.http.get(&url).send().await.unwrap().status(), 200);

    // Same number, same request: the same order back; different amount: refused.
    c.create(&payment("NATIVE000001", 1234, Product::Native, notify))
        .await
        .unwrap();
    let e = c
        .create(&payment("NATIVE000001", 999, Product::Native, notify))
        .await
        .unwrap_err();
    assert_eq!(rejected_code(&e), "OUT_TRADE_NO_USED");

    let s = c
        .query(&PaymentRef::AttemptNo("NATIVE000001".into()))
        .await
        .unwrap();
    assert_eq!(s.state, PaymentState::NotPaid);
    assert_eq!(s.amount, Some(cny(1234)));
    assert_eq!(s.merchant_id.as_deref(), Some(w.mchid.as_str()));

    c.close("NATIVE000001").await.unwrap();
    let s = c
        .query(&PaymentRef::AttemptNo("NATIVE000001".into()))
        .await
        .unwrap();
    assert_eq!(s.state, PaymentState::Closed);
    // Closed: the wallet refuses to pay it.
    let (status, _) = env
        .control(
            "POST",
            "/sandbox/orders/wechatpay/NATIVE000001/pay",
            json!({}),
        )
        .await;
    assert_eq!(status, 409);

    let e = c
        .query(&PaymentRef::AttemptNo("NOPE00000001".into()))
        .await
        .unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }), "{e:?}");
    env.sandbox.stop().await;
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn payment_callback_is_signed_encrypted_and_verifies() {
    let env = Env::new("wx-pay").await;
    let rx = Receiver::start().await;
    let w = wechat(&env);
    let c = &w.client;
    c.create(&payment(
        "PAYME0000001",
        2500,
        Product::Native,
        &rx.url("wx"),
    ))
    .await
    .unwrap();
    env.pay("wechatpay", "PAYME0000001", json!({})).await;
    let got = rx.wait("wx", 1).await;
    let n = c.parse_notification(&got[0].0).unwrap();
    let NotificationEvent::Payment(p) = n.event else {
        panic!()
    };
    assert_eq!(p.state, PaymentState::Succeeded);
    assert_eq!(p.amount, Some(cny(2500)));
    assert_eq!(p.attempt_no, "PAYME0000001");
    // Answer 204: delivered once, not retried.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rx.of("wx").len(), 1);
    let cbs = env.callbacks("PAYME0000001").await;
    assert_eq!(cbs[0]["status"], "DELIVERED");

    let txn = p.provider_txn_id.clone().unwrap();
    let q = c
        .query(&PaymentRef::ProviderTxnId(txn.clone()))
        .await
        .unwrap();
    assert_eq!(q.state, PaymentState::Succeeded);
    assert_eq!(q.provider_txn_id.as_deref(), Some(txn.as_str()));
    // Paid orders cannot be closed.
    let e = c.close("PAYME0000001").await.unwrap_err();
    assert_eq!(rejected_code(&e), "ORDERPAID");

    // A tampered body or a callback for another merchant is refused by the adapter.
    let mut tampered = got[0].0.clone();
    let last = tampered.body.len() - 2;
    tampered.body[last] ^= 1;
    assert!(matches!(
        c.parse_notification(&tampered),
        Err(ProviderError::Signature { .. }) | Err(ProviderError::MalformedNotification(_))
    ));
    let other = wechat(&env);
    assert!(other.client.parse_notification(&got[0].0).is_err());
    env.sandbox.stop().await;
}

#[tokio::test]
async fn callbacks_are_retried_on_the_wechat_schedule_until_acknowledged() {
    let env = Env::new("wx-retry").await;
    let rx = Receiver::start().await;
    rx.fail_first.store(3, std::sync::atomic::Ordering::SeqCst);
    let w = wechat(&env);
    w.client
        .create(&payment(
            "RETRY0000001",
            100,
            Product::Native,
            &rx.url("wx"),
        ))
        .await
        .unwrap();
    env.pay("wechatpay", "RETRY0000001", json!({})).await;
    let got = rx.wait("wx", 4).await;
    // 15 s, 15 s, 30 s at 1000x: 15 ms, 15 ms, 30 ms (at least).
    let gaps: Vec<i64> = got.windows(2).map(|p| p[1].1 - p[0].1).collect();
    assert!(gaps[0] >= 14 && gaps[1] >= 14 && gaps[2] >= 29, "{gaps:?}");
    for (n, _) in &got {
        // Every try is freshly signed and verifies.
        w.client.parse_notification(n).unwrap();
    }
    let cbs = env.callbacks("RETRY0000001").await;
    assert_eq!(cbs[0]["attempts"], 4);
    assert_eq!(cbs[0]["status"], "DELIVERED");
    env.sandbox.stop().await;
}

#[tokio::test]
async fn refunds_settle_and_notify() {
    let env = Env::new("wx-refund").await;
    let rx = Receiver::start().await;
    let w = wechat(&env);
    let c = &w.client;
    c.create(&payment(
        "REFUND000001",
        1000,
        Product::Jsapi,
        &rx.url("wx"),
    ))
    .await
    .unwrap();
    // Not paid yet: refused.
    let req = |no: &str, amount: i64| RefundRequest {
        attempt_no: "REFUND000001".into(),
        provider_txn_id: None,
        refund_no: no.into(),
        refund_amount: cny(amount),
        total_amount: cny(1000),
        reason: Some("changed mind".into()),
        notify_url: Some(rx.url("wx-refund")),
    };
    let e = c.refund(&req("R1", 300)).await.unwrap_err();
    assert_eq!(rejected_code(&e), "INVALID_REQUEST");
    env.pay("wechatpay", "REFUND000001", json!({})).await;
    let r = c.refund(&req("R1", 300)).await.unwrap();
    assert_eq!(r.state, RefundState::Processing);
    assert_eq!(r.amount, Some(cny(300)));
    // Same refund number: the same refund, not a second one.
    let again = c.refund(&req("R1", 300)).await.unwrap();
    assert_eq!(again.provider_refund_id, r.provider_refund_id);
    let e = c.refund(&req("R2", 701)).await.unwrap_err();
    assert_eq!(rejected_code(&e), "INVALID_REQUEST", "{e}");
    // An amount that overflows what is already refunded: WeChat's parameter error, and the
    // sandbox keeps serving.
    let e = c.refund(&req("R3", i64::MAX)).await.unwrap_err();
    assert!(
        matches!(&e, ProviderError::Rejected { provider_code, http_status: Some(400), .. } if provider_code == "PARAM_ERROR"),
        "{e:?}"
    );
    c.refund(&req("R2", 700)).await.unwrap();

    let got = rx.wait("wx-refund", 2).await;
    for (n, _) in &got {
        let parsed = c.parse_notification(n).unwrap();
        let NotificationEvent::Refund(r) = parsed.event else {
            panic!()
        };
        assert_eq!(r.state, RefundState::Succeeded);
    }
    let q = c.query_refund("R1").await.unwrap();
    assert_eq!(q.state, RefundState::Succeeded);
    assert!(q.succeeded_at.is_some());
    let s = c
        .query(&PaymentRef::AttemptNo("REFUND000001".into()))
        .await
        .unwrap();
    assert_eq!(s.state, PaymentState::Refunded);
    let e = c.query_refund("R9").await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn transfers_wait_for_the_user_then_finish_with_a_callback() {
    let env = Env::new("wx-transfer").await;
    let rx = Receiver::start().await;
    let w = wechat(&env);
    let c = &w.client;
    let req = |no: &str, name: Option<&str>| TransferRequest {
        payout_no: no.into(),
        amount: cny(500),
        payee: Payee::WechatOpenId("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()),
        payee_name: name.map(str::to_string),
        remark: "Withdrawal".into(),
        notify_url: Some(rx.url("wx-transfer")),
        scene_id: None,
        scene_details: vec![("岗位类型".into(), "销售员".into())],
    };
    let t = c.transfer(&req("PAYOUT00001", Some("张三"))).await.unwrap();
    assert_eq!(t.state, TransferState::WaitingUserConfirm);
    assert!(t.confirm_package.is_some());
    // The encrypted real name was decrypted with the platform key named in Wechatpay-Serial.
    let (_, list) = env.control("GET", "/sandbox/transfers", json!(null)).await;
    assert_eq!(list[0]["payee_name"], "张三");
    let (s, _) = env
        .control(
            "POST",
            "/sandbox/transfers/wechatpay/PAYOUT00001/confirm",
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    let q = c.query_transfer("PAYOUT00001").await.unwrap();
    assert_eq!(q.state, TransferState::Succeeded);
    let got = rx.wait("wx-transfer", 1).await;
    let NotificationEvent::Transfer(n) = c.parse_notification(&got[0].0).unwrap().event else {
        panic!()
    };
    assert_eq!(n.state, TransferState::Succeeded);

    // Automatic mode: ACCEPTED, then SUCCESS by itself.
    env.control(
        "POST",
        "/sandbox/settings",
        json!({"wechat_transfer_auto_confirm": true}),
    )
    .await;
    let t = c.transfer(&req("PAYOUT00002", None)).await.unwrap();
    assert_eq!(t.state, TransferState::Processing);
    rx.wait("wx-transfer", 2).await;
    assert_eq!(
        c.query_transfer("PAYOUT00002").await.unwrap().state,
        TransferState::Succeeded
    );
    let e = c.query_transfer("PAYOUT00009").await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }));

    // Cancelled before the user confirmed: CANCELING at once, CANCELLED shortly after
    // (with a notification); a paid transfer cannot be cancelled; the user cannot
    // confirm a cancelled one.
    env.control(
        "POST",
        "/sandbox/settings",
        json!({"wechat_transfer_auto_confirm": false}),
    )
    .await;
    let t = c.transfer(&req("PAYOUT00003", None)).await.unwrap();
    assert_eq!(t.state, TransferState::WaitingUserConfirm);
    let t = c.cancel_transfer("PAYOUT00003").await.unwrap();
    assert_eq!(t.state, TransferState::Cancelling);
    rx.wait("wx-transfer", 3).await;
    assert_eq!(
        c.query_transfer("PAYOUT00003").await.unwrap().state,
        TransferState::Cancelled
    );
    let (s, _) = env
        .control(
            "POST",
            "/sandbox/transfers/wechatpay/PAYOUT00003/confirm",
            json!({}),
        )
        .await;
    assert_eq!(s, 409);
    let e = c.cancel_transfer("PAYOUT00001").await.unwrap_err();
    assert_eq!(e.provider_code(), Some("INVALID_REQUEST"));
    let e = c.cancel_transfer("PAYOUT00009").await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn trade_bill_downloads_and_matches_its_hash() {
    let env = Env::new("wx-bill").await;
    let w = wechat(&env);
    let c = &w.client;
    let today = time::OffsetDateTime::now_utc()
        .to_offset(time::macros::offset!(+8))
        .date();
    let bill = |kind| BillRequest { date: today, kind };
    let e = c
        .download_trade_bill(&bill(BillKind::Trades))
        .await
        .unwrap_err();
    assert_eq!(rejected_code(&e), "NO_STATEMENT_EXIST");
    c.create(&payment(
        "BILL00000001",
        4321,
        Product::Native,
        "https://m.example/n",
    ))
    .await
    .unwrap();
    env.pay("wechatpay", "BILL00000001", json!({})).await;
    let f = c
        .download_trade_bill(&bill(BillKind::Trades))
        .await
        .unwrap();
    let text = String::from_utf8(f.bytes).unwrap();
    assert!(text.starts_with("交易时间,公众账号ID,商户号"), "{text}");
    assert!(text.contains("`BILL00000001,"), "{text}");
    assert!(text.contains("`43.21,"), "{text}");
    assert!(text.contains("总交易单数"));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn certificate_mode_signs_with_the_platform_certificate() {
    let env = Env::new("wx-cert").await;
    let w = wechat(&env);
    let (s, _) = env
        .control(
            "POST",
            &format!("/sandbox/merchants/wechatpay/{}/sign-mode", w.mchid),
            json!({"mode": "certificate"}),
        )
        .await;
    assert_eq!(s, 200);
    // A client that knows no platform key yet downloads the certificates (decrypting them
    // with its APIv3 key) and then verifies answers with them.
    let mut cfg = w.client.config().clone();
    cfg.platform_keys = KeyRing::new();
    let mut fresh = WechatPayClient::new(cfg).unwrap();
    let certs = fresh.fetch_platform_certificates().await.unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].serial_hex, w.platform_certificate_serial);
    for c in &certs {
        fresh.platform_keys_mut().insert_certificate(c);
    }
    fresh
        .create(&payment(
            "CERT00000001",
            100,
            Product::Native,
            "https://m.example/n",
        ))
        .await
        .unwrap();
    // A client that only trusts the public key id now sees a key it does not know.
    let mut cfg = w.client.config().clone();
    let mut ring = KeyRing::new();
    ring.insert_public_key_pem(&w.platform_public_key_id, &w.platform_public_key_pem)
        .unwrap();
    cfg.platform_keys = ring;
    let e = WechatPayClient::new(cfg)
        .unwrap()
        .query(&PaymentRef::AttemptNo("CERT00000001".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            ProviderError::Signature {
                source: SignatureError::UnknownKey(_),
                ..
            }
        ),
        "{e:?}"
    );
    env.sandbox.stop().await;
}

/// A raw signed request, for what the adapter would never send.
async fn raw(
    env: &Env,
    w: &WechatSetup,
    method: &str,
    path: &str,
    body: &str,
    ts: i64,
    key_pem: &str,
) -> (u16, serde_json::Value) {
    let key = PrivateKey::from_pem(key_pem).unwrap();
    let auth = Authorization::sign(
        &key,
        &w.mchid,
        &w.serial,
        method,
        path,
        body,
        ts,
        &random_nonce(32),
    )
    .unwrap();
    let req = match method {
        "GET" => env.http.get(env.url(path)),
        _ => env
            .http
            .post(env.url(path))
            .header("Content-Type", "application/json")
            .body(body.to_string()),
    };
    let resp = req
        .header("Authorization", auth.to_header_value())
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (
        status,
        serde_json::from_str(&resp.text().await.unwrap()).unwrap_or_default(),
    )
}

#[tokio::test]
async fn bad_signatures_keys_timestamps_and_bodies_are_refused_and_change_nothing() {
    let env = Env::new("wx-bad").await;
    let w = wechat(&env);
    let notify = "https://m.example/n";

    // Wrong merchant key: 401 SIGN_ERROR, nothing created.
    let mut cfg = w.client.config().clone();
    cfg.merchant_key = PrivateKey::generate_rsa2048().unwrap();
    let wrong = WechatPayClient::new(cfg).unwrap();
    let e = wrong
        .create(&payment("BAD000000001", 100, Product::Native, notify))
        .await
        .unwrap_err();
    assert!(
        matches!(&e, ProviderError::Rejected { provider_code, http_status: Some(401), .. } if provider_code == "SIGN_ERROR"),
        "{e:?}"
    );
    // Unknown merchant serial number.
    let mut cfg = w.client.config().clone();
    cfg.merchant_serial_no = "0123456789ABCDEF".into();
    let e = WechatPayClient::new(cfg)
        .unwrap()
        .query(&PaymentRef::AttemptNo("X00000000001".into()))
        .await
        .unwrap_err();
    assert_eq!(rejected_code(&e), "SIGN_ERROR");
    let (_, orders) = env.control("GET", "/sandbox/orders", json!(null)).await;
    assert_eq!(orders.as_array().unwrap().len(), 0);

    // Expired timestamp, correctly signed otherwise.
    let path = format!(
        "/v3/pay/transactions/out-trade-no/X00000000001?mchid={}",
        w.mchid
    );
    let (s, v) = raw(
        &env,
        &w,
        "GET",
        &path,
        "",
        now_unix() - 600,
        &w.merchant_key_pem,
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (401, Some("SIGN_ERROR")), "{v}");
    // A body that is not the one signed.
    let key = PrivateKey::from_pem(&w.merchant_key_pem).unwrap();
    let auth = Authorization::sign(
        &key,
        &w.mchid,
        &w.serial,
        "POST",
        "/v3/pay/transactions/native",
        "{}",
        now_unix(),
        "n1",
    )
    .unwrap();
    let resp = env
        .http
        .post(env.url("/v3/pay/transactions/native"))
        .header("Authorization", auth.to_header_value())
        .body(r#"{"tampered":true}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // No Authorization at all.
    let resp = env
        .http
        .post(env.url("/v3/pay/transactions/native"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    // Malformed bodies, correctly signed: 400 PARAM_ERROR, signed by the platform.
    for body in ["{", "[]", r#"{"appid":1}"#, ""] {
        let (s, v) = raw(
            &env,
            &w,
            "POST",
            "/v3/pay/transactions/native",
            body,
            now_unix(),
            &w.merchant_key_pem,
        )
        .await;
        assert_eq!(
            (s, v["code"].as_str()),
            (400, Some("PARAM_ERROR")),
            "{body}: {v}"
        );
    }
    let bad_amount = json!({"appid": w.appid, "mchid": w.mchid, "description": "x", "out_trade_no": "AMT000000001",
        "notify_url": notify, "amount": {"total": 0}}).to_string();
    let (s, v) = raw(
        &env,
        &w,
        "POST",
        "/v3/pay/transactions/native",
        &bad_amount,
        now_unix(),
        &w.merchant_key_pem,
    )
    .await;
    assert_eq!((s, v["code"].as_str()), (400, Some("PARAM_ERROR")), "{v}");
    let other_appid = json!({"appid": "wx0000000000000000", "mchid": w.mchid, "description": "x", "out_trade_no": "AMT000000001",
        "notify_url": notify, "amount": {"total": 1}}).to_string();
    let (s, v) = raw(
        &env,
        &w,
        "POST",
        "/v3/pay/transactions/native",
        &other_appid,
        now_unix(),
        &w.merchant_key_pem,
    )
    .await;
    assert_eq!(
        (s, v["code"].as_str()),
        (400, Some("APPID_MCHID_NOT_MATCH")),
        "{v}"
    );
    let (_, orders) = env.control("GET", "/sandbox/orders", json!(null)).await;
    assert_eq!(orders.as_array().unwrap().len(), 0);

    // A client trusting the wrong platform key refuses the sandbox's (genuine) answers.
    let mut cfg = w.client.config().clone();
    let mut ring = KeyRing::new();
    ring.insert(
        &w.platform_public_key_id,
        PrivateKey::generate_rsa2048()
            .unwrap()
            .public_key()
            .unwrap(),
    );
    cfg.platform_keys = ring;
    let e = WechatPayClient::new(cfg)
        .unwrap()
        .create(&payment("TRUST0000001", 100, Product::Native, notify))
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
    env.sandbox.stop().await;
}

#[tokio::test]
async fn state_survives_a_restart_and_new_merchants_need_none() {
    let env = Env::new("wx-restart").await;
    let rx = Receiver::start().await;
    let w = wechat(&env);
    w.client
        .create(&payment(
            "KEEP00000001",
            700,
            Product::Native,
            &rx.url("wx"),
        ))
        .await
        .unwrap();
    let dir = env.dir.clone();
    env.sandbox.stop().await;

    let again = start_in(&dir).await;
    let mut cfg = w.client.config().clone();
    cfg.base_url = again.base_url.clone();
    let c = WechatPayClient::new(cfg).unwrap();
    let s = c
        .query(&PaymentRef::AttemptNo("KEEP00000001".into()))
        .await
        .unwrap();
    assert_eq!(s.state, PaymentState::NotPaid);
    assert_eq!(s.amount, Some(cny(700)));
    let http = reqwest::Client::new();
    let r = http
        .post(format!(
            "{}/sandbox/orders/wechatpay/KEEP00000001/pay",
            again.base_url
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let got = rx.wait("wx", 1).await;
    c.parse_notification(&got[0].0).unwrap();

    // A merchant added on disk (as `merchant add` does) is served at once.
    let creds = paydesk_sandbox::add_merchant(&dir, Provider::Wechatpay, &again.base_url).unwrap();
    let fresh = WechatPayClient::new(wechat_config(&creds)).unwrap();
    fresh
        .create(&payment(
            "NEWM00000001",
            100,
            Product::App,
            "https://m.example/n",
        ))
        .await
        .unwrap();
    again.stop().await;
}

#[tokio::test]
async fn call_faults_make_outcomes_unknown_and_queries_tell_the_truth() {
    let env = Env::new("wx-faults").await;
    let w = wechat(&env);
    let c = &w.client;
    let notify = "https://m.example/n";
    c.create(&payment("FAULT0000001", 100, Product::Native, notify))
        .await
        .unwrap();

    // 5xx on a query: unknown outcome; the next query works.
    env.control(
        "POST",
        "/sandbox/faults/calls",
        json!({"provider": "wechatpay", "call": "query", "kind": "http500"}),
    )
    .await;
    let e = c
        .query(&PaymentRef::AttemptNo("FAULT0000001".into()))
        .await
        .unwrap_err();
    assert!(e.is_outcome_unknown(), "{e:?}");
    c.query(&PaymentRef::AttemptNo("FAULT0000001".into()))
        .await
        .unwrap();
    // WeChat's own SYSTEM_ERROR (signed 500).
    env.control(
        "POST",
        "/sandbox/faults/calls",
        json!({"provider": "wechatpay", "call": "close", "kind": "system_error"}),
    )
    .await;
    let e = c.close("FAULT0000001").await.unwrap_err();
    assert!(e.is_outcome_unknown(), "{e:?}");

    // A transfer that times out but was carried out: the query finds it.
    env.control(
        "POST",
        "/sandbox/settings",
        json!({"wechat_transfer_auto_confirm": true}),
    )
    .await;
    env.control("POST", "/sandbox/faults/calls", json!({"provider": "wechatpay", "call": "transfer", "kind": "timeout", "execute": true, "delay_ms": 5000})).await;
    let mut cfg = c.config().clone();
    cfg.timeout_ms = 500;
    let short = WechatPayClient::new(cfg).unwrap();
    let t = TransferRequest {
        payout_no: "TIMEOUT0001".into(),
        amount: cny(300),
        payee: Payee::WechatOpenId("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()),
        payee_name: None,
        remark: "Withdrawal".into(),
        notify_url: None,
        scene_id: None,
        scene_details: vec![],
    };
    let e = short.transfer(&t).await.unwrap_err();
    assert!(e.is_outcome_unknown(), "{e:?}");
    let mut state = short.query_transfer("TIMEOUT0001").await.unwrap().state;
    for _ in 0..100 {
        if state == TransferState::Succeeded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        state = short.query_transfer("TIMEOUT0001").await.unwrap().state;
    }
    assert_eq!(state, TransferState::Succeeded);
    // Repeating the same payout number does not pay twice.
    let again = c.transfer(&t).await.unwrap();
    assert_eq!(again.state, TransferState::Succeeded);
    let (_, list) = env.control("GET", "/sandbox/transfers", json!(null)).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    env.sandbox.stop().await;
}

#[tokio::test]
async fn callback_faults_drop_delay_duplicate_reorder_wrong_amount_and_double_payment() {
    let env = Env::new("wx-cbfaults").await;
    let rx = Receiver::start().await;
    let w = wechat(&env);
    let c = &w.client;
    for i in 1..=7 {
        c.create(&payment(
            &format!("CBF00000000{i}"),
            100 * i,
            Product::Native,
            &rx.url(&format!("wx{i}")),
        ))
        .await
        .unwrap();
    }
    // Drop: never sent.
    env.control(
        "POST",
        "/sandbox/faults/callbacks",
        json!({"provider": "wechatpay", "kind": "drop"}),
    )
    .await;
    env.pay("wechatpay", "CBF000000001", json!({})).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(rx.of("wx1").is_empty());
    assert_eq!(env.callbacks("CBF000000001").await[0]["status"], "DROPPED");
    // The order is paid all the same: a query tells.
    let s = c
        .query(&PaymentRef::AttemptNo("CBF000000001".into()))
        .await
        .unwrap();
    assert_eq!(s.state, PaymentState::Succeeded);

    // Delay.
    env.control(
        "POST",
        "/sandbox/faults/callbacks",
        json!({"provider": "wechatpay", "kind": "delay", "delay_ms": 400}),
    )
    .await;
    let t0 = now_ms();
    env.pay("wechatpay", "CBF000000002", json!({})).await;
    let got = rx.wait("wx2", 1).await;
    assert!(got[0].1 - t0 >= 380, "{}", got[0].1 - t0);

    // Duplicate: the same notification twice.
    env.control(
        "POST",
        "/sandbox/faults/callbacks",
        json!({"provider": "wechatpay", "kind": "duplicate"}),
    )
    .await;
    env.pay("wechatpay", "CBF000000003", json!({})).await;
    let got = rx.wait("wx3", 2).await;
    let a = c.parse_notification(&got[0].0).unwrap();
    let b = c.parse_notification(&got[1].0).unwrap();
    assert_eq!(a.notification_id, b.notification_id);

    // Reorder: two held, delivered newest first.
    env.control(
        "POST",
        "/sandbox/faults/callbacks",
        json!({"provider": "wechatpay", "kind": "reorder", "times": 2}),
    )
    .await;
    env.pay("wechatpay", "CBF000000004", json!({})).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(rx.of("wx4").is_empty());
    env.pay("wechatpay", "CBF000000005", json!({})).await;
    let first = rx.wait("wx5", 1).await[0].1;
    let second = rx.wait("wx4", 1).await[0].1;
    assert!(first <= second, "{first} {second}");

    // Success with a different amount: callback and query both say so.
    env.pay("wechatpay", "CBF000000006", json!({"amount": 1}))
        .await;
    let got = rx.wait("wx6", 1).await;
    let NotificationEvent::Payment(p) = c.parse_notification(&got[0].0).unwrap().event else {
        panic!()
    };
    assert_eq!(p.amount, Some(cny(1)));
    let q = c
        .query(&PaymentRef::AttemptNo("CBF000000006".into()))
        .await
        .unwrap();
    assert_eq!(q.amount, Some(cny(1)));

    // Paid twice: a second success callback with a new transaction id.
    env.pay("wechatpay", "CBF000000007", json!({})).await;
    let (s, _) = env
        .control(
            "POST",
            "/sandbox/orders/wechatpay/CBF000000007/pay",
            json!({}),
        )
        .await;
    assert_eq!(s, 409);
    env.pay("wechatpay", "CBF000000007", json!({"force": true}))
        .await;
    let got = rx.wait("wx7", 2).await;
    let ids: Vec<_> = got
        .iter()
        .map(|(n, _)| match c.parse_notification(n).unwrap().event {
            NotificationEvent::Payment(p) => p.provider_txn_id.unwrap(),
            _ => panic!(),
        })
        .collect();
    assert_ne!(ids[0], ids[1]);

    let (_, faults) = env.control("GET", "/sandbox/faults", json!(null)).await;
    assert_eq!(faults["callbacks"].as_array().unwrap().len(), 0);
    env.sandbox.stop().await;
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[tokio::test]
async fn the_wallet_page_lists_pending_orders_and_its_buttons_work() {
    let env = Env::new("wx-wallet").await;
    let rx = Receiver::start().await;
    let w = wechat(&env);
    for no in ["WALLET000001", "WALLET000002", "WALLET000003"] {
        w.client
            .create(&payment(no, 100, Product::Native, &rx.url("wx")))
            .await
            .unwrap();
    }
    let html = env
        .http
        .get(env.url("/wallet"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("WALLET000001") && html.contains("Let expire"),
        "{html}"
    );
    let act = |no: &str, action: &str| {
        env.http
            .post(env.url("/wallet/act"))
            .form(&[
                ("provider", "wechatpay"),
                ("merchant", w.mchid.as_str()),
                ("no", no),
                ("action", action),
            ])
            .send()
    };
    assert_eq!(act("WALLET000001", "pay").await.unwrap().status(), 303);
    assert_eq!(act("WALLET000002", "fail").await.unwrap().status(), 303);
    assert_eq!(act("WALLET000003", "expire").await.unwrap().status(), 303);
    rx.wait("wx", 1).await;
    let state = |no: &'static str| {
        let c = w.client.clone();
        async move {
            c.query(&PaymentRef::AttemptNo(no.into()))
                .await
                .unwrap()
                .state
        }
    };
    assert_eq!(state("WALLET000001").await, PaymentState::Succeeded);
    assert_eq!(state("WALLET000002").await, PaymentState::Failed);
    assert_eq!(state("WALLET000003").await, PaymentState::Closed);
    let html = env
        .http
        .get(env.url("/wallet"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!html.contains("WALLET000001") && !html.contains("WALLET000003"));
    env.sandbox.stop().await;
}

#[tokio::test]
async fn control_api_refuses_what_it_does_not_know() {
    let env = Env::new("wx-control").await;
    let w = wechat(&env);
    let (s, v) = env.control("GET", "/sandbox/health", json!(null)).await;
    assert_eq!((s, v["ok"].as_bool()), (200, Some(true)));
    let (s, v) = env
        .control("POST", "/sandbox/orders/paypal/X/pay", json!({}))
        .await;
    assert_eq!((s, v["code"].as_str()), (400, Some("BAD_PROVIDER")));
    let (s, _) = env
        .control("POST", "/sandbox/orders/wechatpay/NOPE/pay", json!({}))
        .await;
    assert_eq!(s, 404);
    let (s, _) = env
        .control("POST", "/sandbox/orders/wechatpay/NOPE/refund", json!({}))
        .await;
    assert_eq!(s, 404);
    let (s, _) = env
        .control(
            "POST",
            "/sandbox/orders/wechatpay/NOPE/pay",
            json!({"amount": 1, "bogus": 1}),
        )
        .await;
    assert_eq!(s, 400, "unknown fields are refused");
    let (s, _) = env
        .control("POST", "/sandbox/merchants", json!({"provider": "paypal"}))
        .await;
    assert_eq!(s, 400);
    let (s, _) = env
        .control(
            "POST",
            "/sandbox/merchants/wechatpay/1/sign-mode",
            json!({"mode": "certificate"}),
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = env
        .control("POST", "/sandbox/settings", json!({"nope": true}))
        .await;
    assert_eq!(s, 400);

    // The same order number at two merchants needs `merchant`.
    let (s, other) = env
        .control(
            "POST",
            "/sandbox/merchants",
            json!({"provider": "wechatpay"}),
        )
        .await;
    assert_eq!(s, 201);
    let other =
        WechatPayClient::new(wechat_config(&serde_json::from_value(other).unwrap())).unwrap();
    for c in [&w.client, &other] {
        c.create(&payment(
            "SAME00000001",
            100,
            Product::Native,
            "https://m.example/n",
        ))
        .await
        .unwrap();
    }
    let (s, v) = env
        .control(
            "POST",
            "/sandbox/orders/wechatpay/SAME00000001/pay",
            json!({}),
        )
        .await;
    assert_eq!((s, v["code"].as_str()), (409, Some("AMBIGUOUS")));
    let (s, _) = env
        .control(
            "POST",
            &format!(
                "/sandbox/orders/wechatpay/SAME00000001/pay?merchant={}",
                w.mchid
            ),
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        w.client
            .query(&PaymentRef::AttemptNo("SAME00000001".into()))
            .await
            .unwrap()
            .state,
        PaymentState::Succeeded
    );
    assert_eq!(
        other
            .query(&PaymentRef::AttemptNo("SAME00000001".into()))
            .await
            .unwrap()
            .state,
        PaymentState::NotPaid
    );

    // Faults are listed and cleared.
    env.control(
        "POST",
        "/sandbox/faults/calls",
        json!({"provider": "wechatpay", "call": "*", "kind": "http500", "times": 5}),
    )
    .await;
    let (_, f) = env.control("GET", "/sandbox/faults", json!(null)).await;
    assert_eq!(f["calls"][0]["times"], 5);
    let (s, _) = env.control("DELETE", "/sandbox/faults", json!(null)).await;
    assert_eq!(s, 204);
    w.client
        .query(&PaymentRef::AttemptNo("SAME00000001".into()))
        .await
        .unwrap();
    env.sandbox.stop().await;
}
