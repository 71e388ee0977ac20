//! Cross-checks against signatures made by the openssl CLI (independent of aws-lc-rs and of
//! our message builders): RSA PKCS#1 v1.5 is deterministic, so byte equality is expected.

use crate::alipay::sign::sign_content;
use crate::keys::{Certificate, PrivateKey, PublicKey};
use crate::wechatpay::sign::{jsapi_pay_sign, request_message, Authorization};

const PKCS1: &str = include_str!("../testdata/openssl_rsa_private_pkcs1.pem");
const PKCS8: &str = include_str!("../testdata/openssl_rsa_private_pkcs8.pem");
const PUBLIC: &str = include_str!("../testdata/openssl_rsa_public.pem");
const CERT: &str = include_str!("../testdata/openssl_cert_5157F09E.pem");
const SIGS: &str = include_str!("../testdata/openssl_signatures.txt");

fn sig(name: &str) -> &'static str {
    SIGS.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap()
}

#[test]
fn jsapi_pay_sign_equals_openssl() {
    for pem in [PKCS1, PKCS8] {
        let key = PrivateKey::from_pem(pem).unwrap();
        let got = jsapi_pay_sign(
            &key,
            "wx8888888888888888",
            "1414561699",
            "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
            "prepay_id=wx201410272009395522657a690389285100",
        )
        .unwrap();
        assert_eq!(got, sig("jsapi"));
    }
}

#[test]
fn request_signature_equals_openssl() {
    let key = PrivateKey::from_pem(PKCS8).unwrap();
    let auth = Authorization::sign(
        &key,
        "1900009191",
        "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C",
        "GET",
        "/v3/certificates",
        "",
        1554208460,
        "593BEC0C930BF1AFEB40B4A08C8FB242",
    )
    .unwrap();
    assert_eq!(auth.signature, sig("request"));
    let public = PublicKey::from_pem(PUBLIC).unwrap();
    let msg = request_message(
        "GET",
        "/v3/certificates",
        1554208460,
        "593BEC0C930BF1AFEB40B4A08C8FB242",
        "",
    );
    assert!(public.verify_base64(msg.as_bytes(), sig("request")));
}

#[test]
fn alipay_signature_equals_openssl() {
    let params = [
        ("timestamp", "2014-07-24 03:07:50"),
        ("method", "alipay.trade.precreate"),
        ("app_id", "2014072300007148"),
        ("sign_type", "RSA2"),
        ("version", "1.0"),
        ("charset", "utf-8"),
        ("app_auth_token", ""),
        (
            "biz_content",
            r#"{"out_trade_no":"20150320010101001","total_amount":"88.88","subject":"Iphone6 16G"}"#,
        ),
        ("sign", "ignored"),
    ];
    let content = sign_content(params, &["sign"]);
    let key = PrivateKey::from_pem(PKCS1).unwrap();
    assert_eq!(key.sign_base64(content.as_bytes()).unwrap(), sig("alipay"));
}

#[test]
fn openssl_certificate_serial_and_key() {
    let cert = Certificate::from_pem(CERT).unwrap();
    assert_eq!(cert.serial_hex, "5157F09EFDC096DE15EBE81A47057A7232F1B8E1");
    assert_eq!(cert.public_key, PublicKey::from_pem(PUBLIC).unwrap());
    // Our PKCS#1 export of an openssl key is byte-identical to openssl's.
    let key = PrivateKey::from_pem(PKCS8).unwrap();
    assert_eq!(key.to_pkcs1_pem().unwrap(), PKCS1.replace("\r\n", "\n"));
}

/// A real Alipay trade notification and Alipay's public key, as published in the official
/// Node SDK's tests (alipay-sdk-nodejs-all, test/alipay.test.ts, "verify sign should delete
/// sign_type"). Signed by Alipay, so this checks our sign-content rules against Alipay itself.
#[test]
fn published_alipay_notification_verifies() {
    use crate::alipay::notify::{parse_notification, NotifyContext};
    use crate::alipay::sign::verify_notification;
    use crate::model::{IncomingNotification, NotificationEvent, PaymentState};

    const ALIPAY_PUBLIC_KEY: &str = "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAqObrdC7hrgAVM98tK0nv3hSQRGGKT4lBsQjHiGjeYZjOPIPHR5knm2jnnz/YGIXIofVHkA/tAlBAd5DrY7YpvI4tP5EONLtZKC2ghBMx7McI2wRD0xiqzxOQr1FuhZGJ8/AUokBzJrzY+aGX2xcOrxFYRlFilvVLTXg4LWjR1tdPkO6+i7wQZAIVMClPkwVRZEbaERRHlKqTzv2gGv5rDU8gRoe1LeaN+6BlbTqHWkQcNCUNrA8C6l17XAXGKDsm/9TFWwO8EPHHHCaQdjtV5/FdcWIt+L8SR1ss7EXTjYDFtxcKVv9rEoY1lX8T4mX+GbXfZHraG5NCF1+XioL5JwIDAQAB";
    let params: Vec<(String, String)> = [
        ("gmt_create", "2019-08-15 15:56:22"),
        ("charset", "utf-8"),
        ("seller_email", "z97-yuquerevenue@service.aliyun.com"),
        ("subject", "语雀空间 500人规模"),
        ("sign", "QfTb8tqE1BMhS5qAnXtvsF3/jBkEvu9q9en0pdbBUDDjvKycZhQb7h8GDs4FKfi049PynaNuatxSgLb/nLWZpXyyh0LEWdK2S6Ri7nPwrVgOs08zugLO20vOQz44y3ti2Ncm8/wZts1Fr2gZ7pShnVX3d1B50hbsXnObT1r/U8ONNQjWXd0HIul4TG+Q3fm3svmSvFEy0WnzuhcyHPX5Gm4ELNctL6Qd5YniGJFNcc7kopHYtI/XD9YCKCH6Ct02rzUs9i11C9CsadtZn+WhxF26Dqt9sGEFajkJ8cxUTLi8+VCpLHsgPE8P0y095uQcDdK0YjCh4x7wVSov+lrmOQ=="),
        ("buyer_id", "2088102534368455"),
        ("invoice_amount", "0.10"),
        ("notify_id", "2019081500222155624068450559358070"),
        ("fund_bill_list", r#"[{"amount":"0.10","fundChannel":"ALIPAYACCOUNT"}]"#),
        ("notify_type", "trade_status_sync"),
        ("trade_status", "TRADE_SUCCESS"),
        ("receipt_amount", "0.10"),
        ("buyer_pay_amount", "0.10"),
        ("sign_type", "RSA2"),
        ("app_id", "2019073166072302"),
        ("seller_id", "2088531891668739"),
        ("gmt_payment", "2019-08-15 15:56:24"),
        ("notify_time", "2019-08-15 15:56:25"),
        ("version", "1.0"),
        ("out_trade_no", "20190815155618536-564-57"),
        ("total_amount", "0.10"),
        ("trade_no", "2019081522001468450512505578"),
        ("auth_app_id", "2019073166072302"),
        ("buyer_logon_id", "xud***@126.com"),
        ("point_amount", "0.00"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let keys = [PublicKey::from_pem(ALIPAY_PUBLIC_KEY).unwrap()];
    verify_notification(&keys, &params).unwrap();

    // The same as a form POST body, through the full parser.
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish();
    let ctx = NotifyContext {
        alipay_public_keys: &keys,
        app_id: "2019073166072302",
        seller_id: Some("2088531891668739"),
    };
    let incoming = IncomingNotification {
        headers: vec![],
        body: body.clone().into_bytes(),
    };
    let n = parse_notification(&ctx, &incoming).unwrap();
    assert_eq!(n.notification_id, "2019081500222155624068450559358070");
    let NotificationEvent::Payment(p) = n.event else {
        panic!("not a payment")
    };
    assert_eq!(p.state, PaymentState::Succeeded);
    assert_eq!(p.amount.unwrap().minor(), 10);
    assert_eq!(p.attempt_no, "20190815155618536-564-57");

    // One fen more and it no longer verifies.
    let mut tampered = params.clone();
    for (k, v) in tampered.iter_mut() {
        if k == "total_amount" {
            *v = "0.11".into();
        }
    }
    assert!(verify_notification(&keys, &tampered).is_err());
}
