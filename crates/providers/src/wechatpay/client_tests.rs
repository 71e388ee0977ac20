//! The WeChat Pay adapter against an in-process HTTP server that checks our request
//! signatures and signs its answers like WeChat Pay.

use super::client::{WechatPayClient, WechatPayConfig};
use super::sign::{verify_request, ApiV3Key, SignedHeaders};
use crate::error::{ProviderError, SignatureError};
use crate::keys::tests::{test_cert_pem, test_key};
use crate::keys::KeyRing;
use crate::model::*;
use crate::provider::PaymentProvider;
use crate::testserver::{self, Req, Resp};
use aws_lc_rs::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY};
use paydesk_core::money::{Amount, Currency};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

const MCHID: &str = "1900000001";
const APPID: &str = "wxd678efh567hg6787";

fn now() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

fn ring() -> (KeyRing, String) {
    let mut ring = KeyRing::new();
    let serial = ring
        .insert_certificate_pem(&test_cert_pem(&test_key(1), &[0x5A, 0x01]))
        .unwrap();
    ring.insert("PUB_KEY_ID_0114", test_key(2).public_key().unwrap());
    (ring, serial)
}

fn client(base_url: &str, timeout_ms: u64) -> WechatPayClient {
    let (ring, _) = ring();
    let mut cfg = WechatPayConfig::new(
        MCHID,
        APPID,
        "MERCHANT1",
        test_key(0),
        ApiV3Key::new("0123456789abcdef0123456789ABCDEF").unwrap(),
        ring,
    );
    cfg.base_url = base_url.to_string();
    cfg.timeout_ms = timeout_ms;
    cfg.transfer_scene_id = Some("1000".into());
    WechatPayClient::new(cfg).unwrap()
}

/// A signed answer, by the platform certificate key (`by_public_key_id = false`) or the
/// platform public key.
fn signed(status: u16, body: &str, by_public_key_id: bool) -> Resp {
    let (key, id) = if by_public_key_id {
        (test_key(2), "PUB_KEY_ID_0114".to_string())
    } else {
        (test_key(1), ring().1)
    };
    let h = SignedHeaders::sign(&key, &id, body.as_bytes(), now(), "srvnonce").unwrap();
    Resp {
        status,
        headers: h
            .to_headers()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .chain([("Content-Type".to_string(), "application/json".to_string())])
            .collect(),
        body: body.as_bytes().to_vec(),
        delay_ms: 0,
    }
}

/// Checks the merchant's request signature as WeChat Pay does; `None` when it verifies.
fn auth_failure(req: &Req) -> Option<Resp> {
    let merchant = test_key(0).public_key().unwrap();
    let result = verify_request(
        req.header("Authorization").unwrap_or_default(),
        &req.method,
        &req.path_and_query,
        std::str::from_utf8(&req.body).unwrap_or_default(),
        now(),
        300,
        |m, s| (m == MCHID && s == "MERCHANT1").then(|| merchant.clone()),
    );
    result.err().map(|_| Resp {
        status: 401,
        body: br#"{"code":"SIGN_ERROR","message":"bad signature"}"#.to_vec(),
        ..Resp::default()
    })
}

fn create(product: Product) -> CreatePayment {
    CreatePayment {
        attempt_no: "A20240101000001".into(),
        amount: Amount::new(1234, Currency::CNY).unwrap(),
        subject: "Ticket".into(),
        product,
        payer_id: Some("oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into()),
        expires_at: OffsetDateTime::now_utc() + time::Duration::minutes(15),
        notify_url: "https://paydesk.example/notify/wechatpay".into(),
        return_url: None,
        client_ip: Some("203.0.113.7".into()),
        passback: Some("po_1".into()),
        method_params: MethodParams {
            installments: None,
            no_credit: true,
        },
    }
}

type Seen = Arc<Mutex<Vec<Req>>>;

async fn server(handler: impl Fn(&Req) -> Resp + Send + Sync + 'static) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let url = testserver::start(Arc::new(move |req: Req| {
        s.lock().unwrap().push(req.clone());
        auth_failure(&req).unwrap_or_else(|| handler(&req))
    }))
    .await;
    (url, seen)
}

#[tokio::test]
async fn native_and_jsapi_create_with_signed_requests() {
    let (url, seen) = server(|req| {
        if req.path_and_query.ends_with("/native") {
            signed(
                200,
                r#"{"code_url":"weixin://wxpay/bizpayurl?pr=p4lpSuKzz"}"#,
                false,
            )
        } else {
            signed(
                200,
                r#"{"prepay_id":"wx201410272009395522657a690389285100"}"#,
                true,
            )
        }
    })
    .await;
    let c = client(&url, 2000);
    let native = c.create_payment(&create(Product::Native)).await.unwrap();
    assert_eq!(
        native,
        PaymentAction::QrCode("weixin://wxpay/bizpayurl?pr=p4lpSuKzz".into())
    );
    let body: serde_json::Value = serde_json::from_slice(&seen.lock().unwrap()[0].body).unwrap();
    assert_eq!(body["out_trade_no"], "A20240101000001");
    assert_eq!(body["amount"]["total"], 1234);
    assert_eq!(body["mchid"], MCHID);
    assert_eq!(body["limit_pay"][0], "no_credit");
    assert!(body["time_expire"].as_str().unwrap().ends_with("+08:00"));
    assert!(body.get("payer").is_none());

    let PaymentAction::SdkParams(params) = c.create_payment(&create(Product::Jsapi)).await.unwrap()
    else {
        panic!("no sdk params")
    };
    let get = |k: &str| params.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(
        get("package"),
        "prepay_id=wx201410272009395522657a690389285100"
    );
    let msg = format!(
        "{}\n{}\n{}\n{}\n",
        get("appId"),
        get("timeStamp"),
        get("nonceStr"),
        get("package")
    );
    assert!(test_key(0)
        .public_key()
        .unwrap()
        .verify_base64(msg.as_bytes(), &get("paySign")));
    let body: serde_json::Value = serde_json::from_slice(&seen.lock().unwrap()[1].body).unwrap();
    assert_eq!(body["payer"]["openid"], "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o");
}

#[tokio::test]
async fn query_close_refund_transfer() {
    let (url, seen) = server(|req| match req.path_and_query.as_str() {
        p if p.starts_with("/v3/pay/transactions/out-trade-no/A1?mchid=") => signed(
            200,
            r#"{"appid":"wxd678efh567hg6787","mchid":"1900000001","out_trade_no":"A1","transaction_id":"4200000001","trade_state":"SUCCESS","success_time":"2024-01-01T10:00:00+08:00","amount":{"total":100,"payer_total":90,"currency":"CNY","payer_currency":"CNY"}}"#,
            false,
        ),
        p if p.starts_with("/v3/pay/transactions/id/4200000001?mchid=") => signed(
            200,
            r#"{"appid":"wxd678efh567hg6787","mchid":"1900000001","out_trade_no":"A1","trade_state":"NOTPAY"}"#,
            true,
        ),
        "/v3/pay/transactions/out-trade-no/A1/close" => signed(204, "", false),
        "/v3/refund/domestic/refunds" => signed(
            200,
            r#"{"refund_id":"50000000","out_refund_no":"R1","out_trade_no":"A1","status":"PROCESSING","amount":{"total":100,"refund":40,"currency":"CNY"}}"#,
            false,
        ),
        "/v3/refund/domestic/refunds/R1" => signed(
            200,
            r#"{"refund_id":"50000000","out_refund_no":"R1","status":"SUCCESS","success_time":"2024-01-01T10:05:00+08:00","amount":{"refund":40}}"#,
            false,
        ),
        "/v3/fund-app/mch-transfer/transfer-bills" => signed(
            200,
            r#"{"out_bill_no":"P1","transfer_bill_no":"1330000071100999991182020050700019480001","create_time":"2024-01-01T10:00:00+08:00","state":"WAIT_USER_CONFIRM","package_info":"affffddafdfafddffda=="}"#,
            false,
        ),
        "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/P1" => signed(
            200,
            r#"{"mch_id":"1900000001","out_bill_no":"P1","state":"FAIL","fail_reason":"PAYEE_ACCOUNT_ABNORMAL","transfer_amount":500}"#,
            false,
        ),
        "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/P1/cancel" => signed(
            200,
            r#"{"out_bill_no":"P1","transfer_bill_no":"1330000071100999991182020050700019480001","state":"CANCELING","update_time":"2024-01-01T10:10:00+08:00"}"#,
            false,
        ),
        _ => signed(404, r#"{"code":"NOT_FOUND","message":"no such path"}"#, false),
    })
    .await;
    let c = client(&url, 2000);
    let s = c
        .query_payment(&PaymentRef::AttemptNo("A1".into()))
        .await
        .unwrap();
    assert_eq!(s.state, PaymentState::Succeeded);
    assert_eq!(s.amount.unwrap().minor(), 100);
    assert_eq!(s.payer_amount.unwrap().minor(), 90);
    let s = c
        .query_payment(&PaymentRef::ProviderTxnId("4200000001".into()))
        .await
        .unwrap();
    assert_eq!(s.state, PaymentState::NotPaid);
    c.close_payment("A1").await.unwrap();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&seen.lock().unwrap()[2].body).unwrap()
            ["mchid"],
        MCHID
    );
    let cny = |m| Amount::new(m, Currency::CNY).unwrap();
    let r = c
        .refund(&RefundRequest {
            attempt_no: "A1".into(),
            provider_txn_id: None,
            refund_no: "R1".into(),
            refund_amount: cny(40),
            total_amount: cny(100),
            reason: None,
            notify_url: None,
        })
        .await
        .unwrap();
    assert_eq!(r.state, RefundState::Processing);
    let which = RefundQuery {
        attempt_no: "A1".into(),
        refund_no: "R1".into(),
    };
    let r = PaymentProvider::query_refund(&c, &which).await.unwrap();
    assert_eq!(r.state, RefundState::Succeeded);
    let t = c
        .transfer(&TransferRequest {
            payout_no: "P1".into(),
            amount: cny(500),
            payee: Payee::WechatOpenId("o-MYE42l80oelYMDE34nYD456Xoy".into()),
            payee_name: None,
            remark: "reward".into(),
            notify_url: None,
            scene_id: None,
            scene_details: vec![("活动名称".into(), "新会员有礼".into())],
        })
        .await
        .unwrap();
    assert_eq!(t.state, TransferState::WaitingUserConfirm);
    assert_eq!(t.confirm_package.as_deref(), Some("affffddafdfafddffda=="));
    assert_eq!(
        t.amount, None,
        "the answer carries no amount: never filled in from our own request"
    );
    let sent: serde_json::Value = serde_json::from_slice(&seen.lock().unwrap()[5].body).unwrap();
    assert_eq!(sent["transfer_scene_id"], "1000");
    assert_eq!(sent["transfer_amount"], 500);
    let t = c.query_transfer("P1").await.unwrap();
    assert_eq!(t.state, TransferState::Failed);
    assert_eq!(t.fail_reason.as_deref(), Some("PAYEE_ACCOUNT_ABNORMAL"));
    // Cancel: a signed POST with an empty body; CANCELING is not final yet.
    let t = PaymentProvider::cancel_transfer(&c, "P1").await.unwrap();
    assert_eq!(t.state, TransferState::Cancelling);
    assert_eq!(t.finished_at, None);
    let last = seen.lock().unwrap().last().unwrap().clone();
    assert_eq!(
        last.path_and_query,
        "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/P1/cancel"
    );
    assert!(last.body.is_empty());
}

#[tokio::test]
async fn outcomes_unsigned_5xx_timeout_refused_business_errors() {
    let (url, _) = server(|req| match req.path_and_query.as_str() {
        p if p.contains("out-trade-no/unsigned?") => Resp {
            status: 200,
            body: br#"{"out_trade_no":"unsigned","trade_state":"SUCCESS"}"#.to_vec(),
            ..Resp::default()
        },
        p if p.contains("out-trade-no/forged?") => {
            let mut r = signed(
                200,
                r#"{"out_trade_no":"forged","trade_state":"NOTPAY"}"#,
                false,
            );
            r.body = br#"{"out_trade_no":"forged","trade_state":"SUCCESS"}"#.to_vec();
            r
        }
        p if p.contains("out-trade-no/busy?") => Resp {
            status: 500,
            body: br#"{"code":"SYSTEM_ERROR","message":"busy"}"#.to_vec(),
            ..Resp::default()
        },
        p if p.contains("out-trade-no/slow?") => Resp {
            status: 200,
            delay_ms: 1500,
            ..signed(200, "{}", false)
        },
        p if p.contains("out-trade-no/missing_unsigned?") => Resp {
            status: 404,
            body: r#"{"code":"ORDER_NOT_EXIST","message":"订单不存在"}"#
                .as_bytes()
                .to_vec(),
            ..Resp::default()
        },
        p if p.contains("out-trade-no/rejected_unsigned?") => Resp {
            status: 400,
            body: r#"{"code":"PARAM_ERROR","message":"参数错误"}"#.as_bytes().to_vec(),
            ..Resp::default()
        },
        p if p.contains("out-trade-no/proxy429?") => Resp {
            status: 429,
            body: b"Too Many Requests".to_vec(),
            ..Resp::default()
        },
        p if p.contains("out-trade-no/sign_error_unsigned?") => Resp {
            status: 401,
            body: r#"{"code":"SIGN_ERROR","message":"签名错误"}"#.as_bytes().to_vec(),
            ..Resp::default()
        },
        p if p.contains("out-trade-no/missing_forged?") => {
            let mut r = signed(404, r#"{"code":"PARAM_ERROR","message":"x"}"#, false);
            r.body = r#"{"code":"ORDER_NOT_EXIST","message":"订单不存在"}"#
                .as_bytes()
                .to_vec();
            r
        }
        p if p.contains("out-trade-no/missing?") => signed(
            404,
            r#"{"code":"ORDER_NOT_EXIST","message":"订单不存在"}"#,
            false,
        ),
        _ => signed(
            400,
            r#"{"code":"PARAM_ERROR","message":"参数错误","detail":{"field":"out_trade_no"}}"#,
            false,
        ),
    })
    .await;
    let c = client(&url, 500);
    let q = |no: &str| PaymentRef::AttemptNo(no.to_string());
    let e = c.query_payment(&q("unsigned")).await.unwrap_err();
    assert!(matches!(
        e,
        ProviderError::Signature {
            source: SignatureError::Missing(_),
            ..
        }
    ));
    assert!(e.is_outcome_unknown());
    let e = c.query_payment(&q("forged")).await.unwrap_err();
    assert!(matches!(
        e,
        ProviderError::Signature {
            source: SignatureError::Invalid,
            ..
        }
    ));
    let e = c.query_payment(&q("busy")).await.unwrap_err();
    assert!(matches!(e, ProviderError::Unknown { .. }), "{e:?}");
    let e = c.query_payment(&q("slow")).await.unwrap_err();
    assert!(matches!(e, ProviderError::Unknown { .. }), "{e:?}");
    // Unsigned 4xx answers (a proxy, a gateway, a forgery) prove nothing: unknown outcome,
    // never NotFound/Rejected (which callers treat as final).
    for no in [
        "missing_unsigned",
        "rejected_unsigned",
        "proxy429",
        "sign_error_unsigned",
    ] {
        let e = c.query_payment(&q(no)).await.unwrap_err();
        assert!(matches!(e, ProviderError::Unknown { .. }), "{no}: {e:?}");
        assert!(e.is_outcome_unknown(), "{no}");
    }
    let e = c
        .query_payment(&q("sign_error_unsigned"))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("SIGN_ERROR"), "{e}");
    // A signed error whose signature does not verify is not WeChat's either.
    let e = c.query_payment(&q("missing_forged")).await.unwrap_err();
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
    let e = c.query_payment(&q("missing")).await.unwrap_err();
    assert_eq!(e.provider_code(), Some("ORDER_NOT_EXIST"));
    assert!(matches!(e, ProviderError::NotFound { .. }));
    let e = c
        .create_payment(&create(Product::Native))
        .await
        .unwrap_err();
    assert!(matches!(
        &e,
        ProviderError::Rejected { provider_code, message, http_status: Some(400), .. }
            if provider_code == "PARAM_ERROR" && message == "参数错误"
    ));
    assert!(!e.is_outcome_unknown());
    // Nothing listening: the request never left, so it is safe to retry.
    let c = client(&testserver::closed_port_url().await, 500);
    let e = c.query_payment(&q("A1")).await.unwrap_err();
    assert!(matches!(e, ProviderError::Unreachable { .. }), "{e:?}");
    assert!(!e.is_outcome_unknown());
}

#[tokio::test]
async fn requests_that_cannot_be_sent_are_refused_before_the_wire() {
    let c = client("http://127.0.0.1:9", 500);
    let mut usd = create(Product::Native);
    usd.amount = Amount::new(100, Currency::USD).unwrap();
    assert!(matches!(
        c.create_payment(&usd).await,
        Err(ProviderError::Amount(_))
    ));
    let mut page = create(Product::Page);
    page.method_params.no_credit = false;
    assert!(matches!(
        c.create_payment(&page).await,
        Err(ProviderError::InvalidRequest(_))
    ));
    let mut inst = create(Product::Native);
    inst.method_params.installments = Some(Installments {
        periods: 3,
        seller_fee_percent: 0,
    });
    assert!(c.create_payment(&inst).await.is_err());
    let mut h5 = create(Product::H5);
    h5.client_ip = None;
    assert!(c.create_payment(&h5).await.is_err());
    assert!(c
        .query_payment(&PaymentRef::AttemptNo("../refunds".into()))
        .await
        .is_err());
}

#[tokio::test]
async fn trade_bill_is_checked_against_the_signed_hash() {
    let file = "交易时间,公众账号ID\n`2024-01-01 10:00:00,`wxd678efh567hg6787\n";
    let sha1: String = digest(&SHA1_FOR_LEGACY_USE_ONLY, file.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let base = Arc::new(Mutex::new(String::new()));
    let b = base.clone();
    let bad = Arc::new(Mutex::new(false));
    let bad2 = bad.clone();
    let (url, seen) = server(move |req| {
        if req.path_and_query.starts_with("/v3/bill/tradebill?bill_date=2024-01-01&bill_type=ALL") {
            let hash = if *bad2.lock().unwrap() { "00".repeat(20) } else { sha1.clone() };
            signed(
                200,
                &format!(
                    r#"{{"hash_type":"SHA1","hash_value":"{hash}","download_url":"{}/v3/billdownload/file?token=T1"}}"#,
                    b.lock().unwrap()
                ),
                false,
            )
        } else if req.path_and_query == "/v3/billdownload/file?token=T1" {
            // The file itself is not signed.
            Resp {
                status: 200,
                body: file.as_bytes().to_vec(),
                ..Resp::default()
            }
        } else {
            Resp { status: 404, ..Resp::default() }
        }
    })
    .await;
    *base.lock().unwrap() = url.clone();
    let c = client(&url, 2000);
    let req = BillRequest {
        date: time::macros::date!(2024 - 01 - 01),
        kind: BillKind::Trades,
    };
    let bill = c.download_bill(&req).await.unwrap();
    assert_eq!(bill.bytes, file.as_bytes());
    assert_eq!(bill.format, BillFormat::WechatCsv);
    // The download request was signed too (the fake server checks every request).
    assert_eq!(seen.lock().unwrap().len(), 2);
    *bad.lock().unwrap() = true;
    assert!(matches!(
        c.download_bill(&req).await,
        Err(ProviderError::Signature { .. })
    ));
}

#[tokio::test]
async fn platform_certificates_bootstrap_and_forgery() {
    use super::sign::{encrypt_certificate, random_nonce};
    let cert_pem = test_cert_pem(&test_key(1), &[0x5A, 0x01]);
    let serial = ring().1;
    let forge = Arc::new(Mutex::new(false));
    let f = forge.clone();
    let (url, _) = server(move |_req| {
        let apiv3 = ApiV3Key::new("0123456789abcdef0123456789ABCDEF").unwrap();
        let enc = encrypt_certificate(&apiv3, &cert_pem, &random_nonce(12)).unwrap();
        let body = serde_json::json!({"data": [{
            "serial_no": serial,
            "effective_time": "2024-01-01T00:00:00+08:00",
            "expire_time": "2029-01-01T00:00:00+08:00",
            "encrypt_certificate": enc,
        }]})
        .to_string();
        // Signed by the certificate's own key, or (forged) by another key naming it.
        let key = if *f.lock().unwrap() {
            test_key(2)
        } else {
            test_key(1)
        };
        let h = SignedHeaders::sign(&key, &serial, body.as_bytes(), now(), "n").unwrap();
        Resp {
            status: 200,
            headers: h
                .to_headers()
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
            body: body.into_bytes(),
            delay_ms: 0,
        }
    })
    .await;
    let mut c = client(&url, 2000);
    // Start with no platform key at all: certificate mode's first download.
    *c.platform_keys_mut() = KeyRing::new();
    let certs = c.fetch_platform_certificates().await.unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0].serial_hex, "5A01");
    *forge.lock().unwrap() = true;
    assert!(matches!(
        c.fetch_platform_certificates().await,
        Err(ProviderError::Signature {
            source: SignatureError::Invalid,
            ..
        })
    ));
}

#[tokio::test]
async fn transfer_with_real_name_encrypts_it_for_the_named_key() {
    use super::sign::decrypt_sensitive;
    let (url, seen) = server(|req| {
        let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
        let name = decrypt_sensitive(&test_key(2), body["user_name"].as_str().unwrap()).unwrap();
        assert_eq!(name, "张三");
        assert_eq!(req.header("Wechatpay-Serial"), Some("PUB_KEY_ID_0114"));
        signed(200, r#"{"out_bill_no":"P2","state":"ACCEPTED"}"#, true)
    })
    .await;
    let mut cfg = client(&url, 2000).config().clone();
    let req = TransferRequest {
        payout_no: "P2".into(),
        amount: Amount::new(300_000, Currency::CNY).unwrap(),
        payee: Payee::WechatOpenId("o-MYE42l80oelYMDE34nYD456Xoy".into()),
        payee_name: Some("张三".into()),
        remark: "withdrawal".into(),
        notify_url: None,
        scene_id: Some("1005".into()),
        scene_details: vec![],
    };
    // Without a configured key the name is refused rather than sent in clear.
    let no_key = WechatPayClient::new(cfg.clone()).unwrap();
    assert!(matches!(
        no_key.transfer(&req).await,
        Err(ProviderError::InvalidRequest(_))
    ));
    assert!(seen.lock().unwrap().is_empty());
    cfg.sensitive_key_id = Some("PUB_KEY_ID_0114".into());
    let c = WechatPayClient::new(cfg).unwrap();
    let t = c.transfer(&req).await.unwrap();
    assert_eq!(t.state, TransferState::Processing);
}
