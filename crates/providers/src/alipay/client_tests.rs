//! The Alipay adapter against an in-process gateway that checks our request signatures and
//! signs its answers like Alipay.

use super::client::{AlipayClient, AlipayConfig, NO_CREDIT_CHANNELS};
use super::sign::{sign_response, verify_request};
use crate::error::{ProviderError, SignatureError};
use crate::keys::tests::test_key;
use crate::model::*;
use crate::provider::PaymentProvider;
use crate::testserver::{self, Req, Resp};
use paydesk_core::money::{Amount, Currency};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

const APP_ID: &str = "2014072300007148";

fn client(gateway: &str, timeout_ms: u64) -> AlipayClient {
    let mut cfg = AlipayConfig::new(APP_ID, test_key(0), test_key(1).public_key().unwrap());
    cfg.gateway_url = gateway.to_string();
    cfg.timeout_ms = timeout_ms;
    AlipayClient::new(cfg).unwrap()
}

/// The request parameters: query string and form body merged.
fn params_of(req: &Req) -> Vec<(String, String)> {
    let query = req
        .path_and_query
        .split_once('?')
        .map(|x| x.1)
        .unwrap_or("");
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .chain(form_urlencoded::parse(&req.body).into_owned())
        .collect()
}

fn get(params: &[(String, String)], k: &str) -> String {
    params
        .iter()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

fn answer(method: &str, content: &str, key_n: usize) -> Resp {
    Resp {
        status: 200,
        headers: vec![("Content-Type".into(), "text/html;charset=utf-8".into())],
        body: sign_response(&test_key(key_n), method, content)
            .unwrap()
            .into_bytes(),
        delay_ms: 0,
    }
}

type Seen = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// A gateway: checks the app's signature, then lets `handler` answer by method.
async fn gateway(
    handler: impl Fn(&str, &serde_json::Value) -> Resp + Send + Sync + 'static,
) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s = seen.clone();
    let base = testserver::start(Arc::new(move |req: Req| {
        let params = params_of(&req);
        s.lock().unwrap().push(params.clone());
        let method = get(&params, "method");
        if verify_request(&[test_key(0).public_key().unwrap()], &params).is_err() {
            let content = r#"{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-signature","sub_msg":"验签出错"}"#;
            return answer(&method, content, 1);
        }
        let biz: serde_json::Value =
            serde_json::from_str(&get(&params, "biz_content")).unwrap_or_default();
        handler(&method, &biz)
    }))
    .await;
    (format!("{base}/gateway.do"), seen)
}

fn create(product: Product) -> CreatePayment {
    CreatePayment {
        attempt_no: "A20240101000002".into(),
        amount: Amount::new(8888, Currency::CNY).unwrap(),
        subject: "门票 & more".into(),
        product,
        payer_id: Some("2088102122524333".into()),
        expires_at: OffsetDateTime::from_unix_timestamp(1_704_074_400).unwrap(),
        notify_url: "https://paydesk.example/notify/alipay".into(),
        return_url: Some("https://shop.example/done?o=1".into()),
        client_ip: None,
        passback: None,
        method_params: MethodParams::default(),
    }
}

#[tokio::test]
async fn precreate_and_create_over_http() {
    let (url, seen) = gateway(|method, biz| match method {
        "alipay.trade.precreate" => answer(
            method,
            &format!(
                r#"{{"code":"10000","msg":"Success","out_trade_no":"{}","qr_code":"https:\/\/qr.alipay.com\/bax03431ljhokirwl38f00a7"}}"#,
                biz["out_trade_no"].as_str().unwrap()
            ),
            1,
        ),
        "alipay.trade.create" => answer(
            method,
            r#"{"code":"10000","msg":"Success","out_trade_no":"A20240101000002","trade_no":"2024010122001400000000000001"}"#,
            1,
        ),
        _ => Resp { status: 404, ..Resp::default() },
    })
    .await;
    let c = client(&url, 2000);
    let mut req = create(Product::Native);
    req.passback = Some("po=1&x".into());
    req.method_params.installments = Some(Installments {
        periods: 6,
        seller_fee_percent: 100,
    });
    let got = c.create_payment(&req).await.unwrap();
    assert_eq!(
        got,
        PaymentAction::QrCode("https://qr.alipay.com/bax03431ljhokirwl38f00a7".into())
    );
    let sent = seen.lock().unwrap()[0].clone();
    assert_eq!(get(&sent, "sign_type"), "RSA2");
    assert_eq!(
        get(&sent, "notify_url"),
        "https://paydesk.example/notify/alipay"
    );
    let ts = get(&sent, "timestamp");
    assert_eq!(ts.len(), 19, "yyyy-MM-dd HH:mm:ss: {ts}");
    let biz: serde_json::Value = serde_json::from_str(&get(&sent, "biz_content")).unwrap();
    assert_eq!(biz["total_amount"], "88.88");
    assert_eq!(biz["time_expire"], "2024-01-01 10:00:00");
    assert_eq!(biz["extend_params"]["hb_fq_num"], "6");
    assert_eq!(biz["extend_params"]["hb_fq_seller_percent"], "100");
    assert_eq!(biz["passback_params"], "po%3D1%26x");

    let mut mini = create(Product::Jsapi);
    mini.method_params.no_credit = true;
    let got = c.create_payment(&mini).await.unwrap();
    assert_eq!(
        got,
        PaymentAction::ProviderTrade("2024010122001400000000000001".into())
    );
    let sent = seen.lock().unwrap()[1].clone();
    let biz: serde_json::Value = serde_json::from_str(&get(&sent, "biz_content")).unwrap();
    assert_eq!(biz["buyer_id"], "2088102122524333");
    assert_eq!(biz["product_code"], "JSAPI_PAY");
    assert_eq!(biz["disable_pay_channels"], NO_CREDIT_CHANNELS);
}

#[tokio::test]
async fn app_order_string_and_page_redirect_are_signed() {
    let c = client("https://openapi.alipay.com/gateway.do", 2000);
    let public = [test_key(0).public_key().unwrap()];
    let PaymentAction::OrderString(order) = c.create_payment(&create(Product::App)).await.unwrap()
    else {
        panic!()
    };
    let params: Vec<(String, String)> = form_urlencoded::parse(order.as_bytes())
        .into_owned()
        .collect();
    assert_eq!(get(&params, "method"), "alipay.trade.app.pay");
    verify_request(&public, &params).unwrap();
    let biz: serde_json::Value = serde_json::from_str(&get(&params, "biz_content")).unwrap();
    assert_eq!(biz["product_code"], "QUICK_MSECURITY_PAY");
    assert_eq!(biz["subject"], "门票 & more");

    for (product, method) in [
        (Product::Page, "alipay.trade.page.pay"),
        (Product::H5, "alipay.trade.wap.pay"),
    ] {
        let PaymentAction::Redirect { url, form_html } =
            c.create_payment(&create(product)).await.unwrap()
        else {
            panic!()
        };
        let (gw, query) = url.split_once('?').unwrap();
        assert_eq!(gw, "https://openapi.alipay.com/gateway.do");
        let params: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(get(&params, "method"), method);
        assert_eq!(get(&params, "return_url"), "https://shop.example/done?o=1");
        verify_request(&public, &params).unwrap();
        let form = form_html.unwrap();
        assert!(form.contains("name=\"sign\""));
        assert!(form.contains("&amp; more"), "values are HTML-escaped");
        assert!(!form.contains("门票 & more"));
    }
}

#[tokio::test]
async fn query_refund_transfer_close_and_bill() {
    let bill_url = Arc::new(Mutex::new(String::new()));
    let b = bill_url.clone();
    let (url, _) = gateway(move |method, biz| {
        let content = match method {
            "alipay.trade.query" => r#"{"code":"10000","msg":"Success","trade_no":"2013112011001004330000121536","out_trade_no":"A1","buyer_user_id":"2088101117955611","trade_status":"TRADE_SUCCESS","total_amount":"88.88","buyer_pay_amount":"8.88","send_pay_date":"2014-11-27 15:45:57"}"#.to_string(),
            "alipay.trade.close" => {
                assert_eq!(biz["out_trade_no"], "A1");
                r#"{"code":"10000","msg":"Success","out_trade_no":"A1"}"#.to_string()
            }
            "alipay.trade.refund" => r#"{"code":"10000","msg":"Success","trade_no":"2013112011001004330000121536","out_trade_no":"A1","fund_change":"Y","refund_fee":"0.40","gmt_refund_pay":"2014-11-27 15:45:57"}"#.to_string(),
            "alipay.trade.fastpay.refund.query" => r#"{"code":"10000","msg":"Success","out_request_no":"R1","out_trade_no":"A1","refund_amount":"0.40"}"#.to_string(),
            "alipay.fund.trans.uni.transfer" => r#"{"code":"10000","msg":"Success","out_biz_no":"P1","order_id":"20190801110070000006380000250621","status":"SUCCESS","trans_date":"2019-08-21 00:00:00"}"#.to_string(),
            "alipay.fund.trans.common.query" => r#"{"code":"40004","msg":"Business Failed","sub_code":"ORDER_NOT_EXIST","sub_msg":"转账订单不存在"}"#.to_string(),
            "alipay.data.dataservice.bill.downloadurl.query" => {
                assert_eq!(biz["bill_date"], "2024-01-01");
                format!(r#"{{"code":"10000","msg":"Success","bill_download_url":"{}"}}"#, b.lock().unwrap())
            }
            _ => unreachable!(),
        };
        answer(method, &content, 1)
    })
    .await;
    let base = url.trim_end_matches("/gateway.do").to_string();
    let files = testserver::start(Arc::new(|_req: Req| Resp {
        status: 200,
        body: b"PK\x03\x04zip".to_vec(),
        ..Resp::default()
    }))
    .await;
    *bill_url.lock().unwrap() = format!("{files}/downloadFile.do?bizType=trade&fileId=1");
    let _ = base;
    let c = client(&url, 2000);
    let s = c
        .query_payment(&PaymentRef::AttemptNo("A1".into()))
        .await
        .unwrap();
    assert_eq!(s.state, PaymentState::Succeeded);
    assert_eq!(s.amount.unwrap().minor(), 8888);
    assert_eq!(s.payer_amount.unwrap().minor(), 888);
    assert!(s.paid_at.is_some());
    c.close_payment("A1").await.unwrap();
    let cny = |m| Amount::new(m, Currency::CNY).unwrap();
    let r = c
        .refund(&RefundRequest {
            attempt_no: "A1".into(),
            provider_txn_id: None,
            refund_no: "R1".into(),
            refund_amount: cny(40),
            total_amount: cny(8888),
            reason: None,
            notify_url: None,
        })
        .await
        .unwrap();
    assert_eq!(r.state, RefundState::Succeeded);
    let which = RefundQuery {
        attempt_no: "A1".into(),
        refund_no: "R1".into(),
    };
    let r = PaymentProvider::query_refund(&c, &which).await.unwrap();
    assert_eq!(
        r.state,
        RefundState::NotAccepted,
        "no refund_status = not refunded"
    );
    let t = c
        .transfer(&TransferRequest {
            payout_no: "P1".into(),
            amount: cny(100),
            payee: Payee::AlipayUserId("2088123412341234".into()),
            payee_name: None,
            remark: "withdrawal".into(),
            notify_url: None,
            scene_id: None,
            scene_details: vec![],
        })
        .await
        .unwrap();
    assert_eq!(t.state, TransferState::Succeeded);
    let e = c.query_transfer("P1").await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }));
    let bill = c
        .download_bill(&BillRequest {
            date: time::macros::date!(2024 - 01 - 01),
            kind: BillKind::Trades,
        })
        .await
        .unwrap();
    assert_eq!(bill.format, BillFormat::AlipayZip);
    assert!(bill.bytes.starts_with(b"PK"));
}

#[tokio::test]
async fn forged_unsigned_busy_slow_and_business_errors() {
    let (url, _) = gateway(|method, biz| {
        let no = biz["out_trade_no"].as_str().unwrap_or_default();
        let ok = r#"{"code":"10000","msg":"Success","out_trade_no":"X","trade_status":"TRADE_SUCCESS","total_amount":"1.00"}"#;
        match no {
            "forged" => answer(method, ok, 2),
            "unsigned" => Resp {
                status: 200,
                body: format!(r#"{{"alipay_trade_query_response":{ok}}}"#).into_bytes(),
                ..Resp::default()
            },
            "busy" => answer(method, r#"{"code":"20000","msg":"Service Currently Unavailable","sub_code":"isp.unknow-error","sub_msg":"系统繁忙"}"#, 1),
            "sys" => answer(method, r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.SYSTEM_ERROR","sub_msg":"系统错误"}"#, 1),
            "gone" => answer(method, r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}"#, 1),
            "http500" => Resp { status: 502, ..Resp::default() },
            "http408" => Resp { status: 408, body: b"Request Timeout".to_vec(), ..Resp::default() },
            "http429" => Resp { status: 429, body: b"Too Many Requests".to_vec(), ..Resp::default() },
            "gone_unsigned" => Resp {
                status: 200,
                body: r#"{"alipay_trade_query_response":{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_NOT_EXIST","sub_msg":"交易不存在"}}"#.as_bytes().to_vec(),
                ..Resp::default()
            },
            "paid_unsigned" => Resp {
                status: 200,
                body: r#"{"alipay_trade_query_response":{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_HAS_SUCCESS","sub_msg":"交易已被支付"}}"#.as_bytes().to_vec(),
                ..Resp::default()
            },
            "slow" => Resp { delay_ms: 1500, ..answer(method, ok, 1) },
            "gw" => Resp {
                status: 200,
                body: r#"{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}}"#.as_bytes().to_vec(),
                ..Resp::default()
            },
            _ => answer(method, r#"{"code":"40004","msg":"Business Failed","sub_code":"ACQ.TRADE_HAS_SUCCESS","sub_msg":"交易已被支付"}"#, 1),
        }
    })
    .await;
    let c = client(&url, 500);
    let q = |no: &str| PaymentRef::AttemptNo(no.to_string());
    let e = c.query_payment(&q("forged")).await.unwrap_err();
    assert!(matches!(
        e,
        ProviderError::Signature {
            source: SignatureError::Invalid,
            ..
        }
    ));
    assert!(e.is_outcome_unknown());
    let e = c.query_payment(&q("unsigned")).await.unwrap_err();
    assert!(matches!(
        e,
        ProviderError::Signature {
            source: SignatureError::Missing(_),
            ..
        }
    ));
    // Unsigned or non-200 errors (a proxy's 408/429, a gateway's error_response, a forged
    // "not found") prove nothing: unknown outcome, never NotFound/Rejected.
    for no in [
        "busy",
        "sys",
        "http500",
        "slow",
        "http408",
        "http429",
        "gone_unsigned",
        "paid_unsigned",
        "gw",
    ] {
        let e = c.query_payment(&q(no)).await.unwrap_err();
        assert!(matches!(e, ProviderError::Unknown { .. }), "{no}: {e:?}");
        assert!(e.is_outcome_unknown());
    }
    let e = c.query_payment(&q("gw")).await.unwrap_err();
    assert!(e.to_string().contains("isv.invalid-app-id"), "{e}");
    let e = c.query_payment(&q("gone")).await.unwrap_err();
    assert!(matches!(e, ProviderError::NotFound { .. }));
    let e = c.query_payment(&q("paid")).await.unwrap_err();
    assert!(matches!(
        &e,
        ProviderError::Rejected { provider_code, message, .. }
            if provider_code == "ACQ.TRADE_HAS_SUCCESS" && message == "交易已被支付"
    ));
    // A client whose key the gateway does not know gets the gateway's signature error.
    let mut bad = client(&url, 500).config().clone();
    bad.app_private_key = test_key(2);
    let bad = AlipayClient::new(bad).unwrap();
    let e = bad.query_payment(&q("A1")).await.unwrap_err();
    assert_eq!(e.provider_code(), Some("isv.invalid-signature"));
}

#[tokio::test]
async fn invalid_requests_are_refused_before_the_wire() {
    let c = client("http://127.0.0.1:9/gateway.do", 500);
    let mut both = create(Product::Native);
    both.method_params = MethodParams {
        installments: Some(Installments {
            periods: 3,
            seller_fee_percent: 0,
        }),
        no_credit: true,
    };
    assert!(matches!(
        c.create_payment(&both).await,
        Err(ProviderError::InvalidRequest(_))
    ));
    let mut odd = create(Product::Native);
    odd.method_params.installments = Some(Installments {
        periods: 5,
        seller_fee_percent: 0,
    });
    assert!(matches!(
        c.create_payment(&odd).await,
        Err(ProviderError::InvalidRequest(_))
    ));
    let mut hkd = create(Product::Page);
    hkd.amount = Amount::new(1, Currency::HKD).unwrap();
    assert!(matches!(
        c.create_payment(&hkd).await,
        Err(ProviderError::Amount(_))
    ));
    let mut mini = create(Product::Jsapi);
    mini.payer_id = None;
    assert!(c.create_payment(&mini).await.is_err());
}

#[test]
fn both_adapters_are_payment_providers() {
    let wechat = crate::wechatpay::WechatPayConfig::new(
        "1900000001",
        "wx1",
        "S1",
        test_key(0),
        crate::wechatpay::ApiV3Key::new("0123456789abcdef0123456789ABCDEF").unwrap(),
        crate::keys::KeyRing::new(),
    );
    let providers: Vec<Box<dyn PaymentProvider>> = vec![
        Box::new(crate::wechatpay::WechatPayClient::new(wechat).unwrap()),
        Box::new(client("http://127.0.0.1:9/gateway.do", 100)),
    ];
    let kinds: Vec<ProviderKind> = providers.iter().map(|p| p.kind()).collect();
    assert_eq!(kinds, [ProviderKind::WechatPay, ProviderKind::Alipay]);
    assert_eq!(providers[0].notification_reply(true).status, 204);
    assert_eq!(providers[1].notification_reply(true).body, "success");
}
