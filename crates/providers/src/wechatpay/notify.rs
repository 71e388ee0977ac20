//! WeChat Pay callbacks: verify the `Wechatpay-*` signature over the raw body, decrypt the
//! resource with the APIv3 key, check it is for our merchant, and parse it.
//!
//! This is pure (no I/O, time passed in), so it can be benchmarked and reused.

use crate::error::{ProviderError, SignatureError};
use crate::keys::KeyRing;
use crate::model::{IncomingNotification, Notification, NotificationEvent, NotificationReply};
use crate::wechatpay::map;
use crate::wechatpay::sign::{decrypt_resource, ApiV3Key, SignedHeaders};
use crate::wechatpay::wire::{NotifyEnvelope, NotifyFailure, Refund, Transaction, TransferBill};

const OP: &str = "parse_notification";

/// What a callback is checked against.
#[derive(Debug, Clone, Copy)]
pub struct NotifyContext<'a> {
    /// Platform keys (certificate serials and/or `PUB_KEY_ID_...`).
    pub platform_keys: &'a KeyRing,
    /// The APIv3 key.
    pub apiv3_key: &'a ApiV3Key,
    /// Our merchant id: a callback for another merchant is refused.
    pub mchid: &'a str,
    /// Our app id: a payment for another app is refused.
    pub appid: &'a str,
    /// Now, Unix seconds.
    pub now_unix: i64,
    /// Accepted timestamp distance, seconds.
    pub window_secs: i64,
}

fn bad_sig(source: SignatureError) -> ProviderError {
    ProviderError::Signature {
        operation: OP,
        source,
    }
}

fn as_notification_error(e: ProviderError) -> ProviderError {
    match e {
        ProviderError::MalformedResponse { reason, .. } => {
            ProviderError::MalformedNotification(reason)
        }
        other => other,
    }
}

/// Verifies, decrypts and parses one callback.
pub fn parse_notification(
    ctx: &NotifyContext<'_>,
    incoming: &IncomingNotification,
) -> Result<Notification, ProviderError> {
    let headers = SignedHeaders::from_headers(|n| incoming.header(n)).map_err(bad_sig)?;
    headers
        .verify(
            &incoming.body,
            ctx.platform_keys,
            ctx.now_unix,
            ctx.window_secs,
        )
        .map_err(bad_sig)?;
    let envelope: NotifyEnvelope = serde_json::from_slice(&incoming.body)
        .map_err(|e| ProviderError::MalformedNotification(format!("envelope: {e}")))?;
    let plain = decrypt_resource(ctx.apiv3_key, &envelope.resource).map_err(bad_sig)?;
    let wrong = |what: &str, got: &str| {
        bad_sig(SignatureError::WrongAccount(format!(
            "{what} `{}`",
            got.chars().take(40).collect::<String>()
        )))
    };
    let parse_err = |e: serde_json::Error| ProviderError::MalformedNotification(e.to_string());
    let event = if envelope.event_type.starts_with("TRANSACTION.") {
        let t: Transaction = serde_json::from_slice(&plain).map_err(parse_err)?;
        if t.mchid != ctx.mchid {
            return Err(wrong("mchid", &t.mchid));
        }
        if t.appid != ctx.appid {
            return Err(wrong("appid", &t.appid));
        }
        NotificationEvent::Payment(map::payment_status(OP, &t).map_err(as_notification_error)?)
    } else if envelope.event_type.starts_with("REFUND.") {
        let r: Refund = serde_json::from_slice(&plain).map_err(parse_err)?;
        if let Some(m) = r.mchid.as_deref().filter(|m| *m != ctx.mchid) {
            return Err(wrong("mchid", m));
        }
        NotificationEvent::Refund(map::refund_status(OP, &r).map_err(as_notification_error)?)
    } else if envelope.event_type.starts_with("MCHTRANSFER.") {
        let b: TransferBill = serde_json::from_slice(&plain).map_err(parse_err)?;
        if let Some(m) = b.mch_id.as_deref().filter(|m| *m != ctx.mchid) {
            return Err(wrong("mch_id", m));
        }
        NotificationEvent::Transfer(map::transfer_status(OP, &b).map_err(as_notification_error)?)
    } else {
        return Err(ProviderError::MalformedNotification(format!(
            "unsupported event_type `{}`",
            envelope.event_type.chars().take(60).collect::<String>()
        )));
    };
    Ok(Notification {
        notification_id: envelope.id,
        event,
    })
}

/// The answer WeChat expects: 204 with no body on success; on failure a 5xx with
/// `{"code":"FAIL","message":...}`, which makes WeChat retry on its schedule.
pub fn notification_reply(accepted: bool) -> NotificationReply {
    if accepted {
        NotificationReply {
            status: 204,
            content_type: "application/json",
            body: String::new(),
        }
    } else {
        let body = serde_json::to_string(&NotifyFailure {
            code: "FAIL".into(),
            message: "not accepted".into(),
        })
        .unwrap_or_else(|_| r#"{"code":"FAIL","message":"not accepted"}"#.into());
        NotificationReply {
            status: 500,
            content_type: "application/json",
            body,
        }
    }
}

/// Server side: builds a signed callback (headers and body) for `resource_plaintext`,
/// encrypted with the APIv3 key — what the sandbox POSTs to a merchant's notify URL.
#[allow(clippy::too_many_arguments)]
pub fn build_notification(
    platform_key: &crate::keys::PrivateKey,
    platform_key_id: &str,
    apiv3_key: &ApiV3Key,
    id: &str,
    create_time: &str,
    event_type: &str,
    summary: &str,
    original_type: &str,
    resource_plaintext: &[u8],
    now_unix: i64,
) -> Result<IncomingNotification, ProviderError> {
    use crate::wechatpay::sign::{encrypt_resource, random_nonce};
    let resource = encrypt_resource(
        apiv3_key,
        resource_plaintext,
        original_type,
        &random_nonce(12),
        original_type,
    )
    .map_err(bad_sig)?;
    let envelope = NotifyEnvelope {
        id: id.to_string(),
        create_time: create_time.to_string(),
        event_type: event_type.to_string(),
        resource_type: "encrypt-resource".to_string(),
        summary: Some(summary.to_string()),
        resource,
    };
    let body = serde_json::to_vec(&envelope)
        .map_err(|e| ProviderError::MalformedNotification(e.to_string()))?;
    let headers = SignedHeaders::sign(
        platform_key,
        platform_key_id,
        &body,
        now_unix,
        &random_nonce(32),
    )?;
    Ok(IncomingNotification {
        headers: headers
            .to_headers()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .chain([("Content-Type".to_string(), "application/json".to_string())])
            .collect(),
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::{test_cert_pem, test_key};
    use crate::model::{PaymentState, RefundState, TransferState};
    use proptest::prelude::*;

    const NOW: i64 = 1_700_000_000;

    struct Fixture {
        ring: KeyRing,
        apiv3: ApiV3Key,
        serial: String,
    }

    fn fixture() -> Fixture {
        let mut ring = KeyRing::new();
        let serial = ring
            .insert_certificate_pem(&test_cert_pem(&test_key(1), &[0x12, 0x34]))
            .unwrap();
        ring.insert("PUB_KEY_ID_01", test_key(2).public_key().unwrap());
        Fixture {
            ring,
            apiv3: ApiV3Key::new("0123456789abcdef0123456789ABCDEF").unwrap(),
            serial,
        }
    }

    fn ctx(f: &Fixture) -> NotifyContext<'_> {
        NotifyContext {
            platform_keys: &f.ring,
            apiv3_key: &f.apiv3,
            mchid: "1900000001",
            appid: "wxd678efh567hg6787",
            now_unix: NOW,
            window_secs: 300,
        }
    }

    const TXN: &str = r#"{"mchid":"1900000001","appid":"wxd678efh567hg6787","out_trade_no":"1217752501201407033233368018","transaction_id":"1217752501201407033233368018","trade_type":"MICROPAY","trade_state":"SUCCESS","trade_state_desc":"支付成功","bank_type":"CMC","attach":"自定义数据","success_time":"2018-06-08T10:34:56+08:00","payer":{"openid":"oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},"amount":{"total":100,"payer_total":100,"currency":"CNY","payer_currency":"CNY"}}"#;

    fn build(
        f: &Fixture,
        key_n: usize,
        id: &str,
        event: &str,
        plain: &str,
    ) -> IncomingNotification {
        build_notification(
            &test_key(key_n),
            id,
            &f.apiv3,
            "EV-2018-06-08",
            "2018-06-08T10:34:56+08:00",
            event,
            "summary",
            "transaction",
            plain.as_bytes(),
            NOW,
        )
        .unwrap()
    }

    #[test]
    fn payment_callback_with_certificate_and_public_key_id() {
        let f = fixture();
        for (n, id) in [(1, f.serial.clone()), (2, "PUB_KEY_ID_01".to_string())] {
            let incoming = build(&f, n, &id, "TRANSACTION.SUCCESS", TXN);
            let got = parse_notification(&ctx(&f), &incoming).unwrap();
            assert_eq!(got.notification_id, "EV-2018-06-08");
            let NotificationEvent::Payment(p) = got.event else {
                panic!("not a payment")
            };
            assert_eq!(p.state, PaymentState::Succeeded);
            assert_eq!(p.attempt_no, "1217752501201407033233368018");
            assert_eq!(p.amount.unwrap().minor(), 100);
            assert_eq!(p.passback.as_deref(), Some("自定义数据"));
            assert!(p.paid_at.is_some());
        }
    }

    #[test]
    fn tampering_wrong_keys_and_replays_are_refused() {
        let f = fixture();
        let good = build(&f, 1, &f.serial, "TRANSACTION.SUCCESS", TXN);
        // Body changed after signing.
        let mut tampered = good.clone();
        let pos = tampered.body.iter().position(|b| *b == b'"').unwrap();
        tampered.body.insert(pos, b' ');
        assert!(matches!(
            parse_notification(&ctx(&f), &tampered),
            Err(ProviderError::Signature {
                source: SignatureError::Invalid,
                ..
            })
        ));
        // Signed by a key that is not the one named.
        let forged = build(&f, 0, &f.serial, "TRANSACTION.SUCCESS", TXN);
        assert!(matches!(
            parse_notification(&ctx(&f), &forged),
            Err(ProviderError::Signature {
                source: SignatureError::Invalid,
                ..
            })
        ));
        // Replayed 10 minutes later.
        let mut late = ctx(&f);
        late.now_unix += 600;
        assert!(matches!(
            parse_notification(&late, &good),
            Err(ProviderError::Signature {
                source: SignatureError::Expired { .. },
                ..
            })
        ));
        // Unsigned.
        let mut unsigned = good.clone();
        unsigned.headers.retain(|(k, _)| k != "Wechatpay-Signature");
        assert!(matches!(
            parse_notification(&ctx(&f), &unsigned),
            Err(ProviderError::Signature {
                source: SignatureError::Missing(_),
                ..
            })
        ));
        // Wrong APIv3 key.
        let other_key = ApiV3Key::new("ffffffffffffffffffffffffffffffff").unwrap();
        let mut c = ctx(&f);
        c.apiv3_key = &other_key;
        assert!(matches!(
            parse_notification(&c, &good),
            Err(ProviderError::Signature {
                source: SignatureError::Decrypt,
                ..
            })
        ));
        // Another merchant's payment.
        let mut c = ctx(&f);
        c.mchid = "1900000002";
        assert!(matches!(
            parse_notification(&c, &good),
            Err(ProviderError::Signature {
                source: SignatureError::WrongAccount(_),
                ..
            })
        ));
    }

    #[test]
    fn refund_and_transfer_callbacks() {
        let f = fixture();
        let refund = r#"{"mchid":"1900000001","transaction_id":"1008450740201411110005820873","out_trade_no":"20150806125346","refund_id":"50200207182018070300011301001","out_refund_no":"7752501201407033233368018","refund_status":"SUCCESS","success_time":"2018-06-08T10:34:56+08:00","user_received_account":"招商银行信用卡0403","amount":{"total":999,"refund":888,"payer_total":999,"payer_refund":888}}"#;
        let got = parse_notification(&ctx(&f), &build(&f, 1, &f.serial, "REFUND.SUCCESS", refund))
            .unwrap();
        let NotificationEvent::Refund(r) = got.event else {
            panic!()
        };
        assert_eq!(r.state, RefundState::Succeeded);
        assert_eq!(r.amount.unwrap().minor(), 888);

        let transfer = r#"{"mch_id":"1900000001","out_bill_no":"plfk2020042013","transfer_bill_no":"1330000071100999991182020050700019480001","state":"SUCCESS","transfer_amount":2000,"openid":"o-MYE42l80oelYMDE34nYD456Xoy","create_time":"2015-05-20T13:29:35.120+08:00","update_time":"2015-05-20T13:29:35.120+08:00"}"#;
        let got = parse_notification(
            &ctx(&f),
            &build(&f, 1, &f.serial, "MCHTRANSFER.BILL.FINISHED", transfer),
        )
        .unwrap();
        let NotificationEvent::Transfer(t) = got.event else {
            panic!()
        };
        assert_eq!(t.state, TransferState::Succeeded);
        assert!(t.finished_at.is_some());

        let odd = build(&f, 1, &f.serial, "SOMETHING.ELSE", TXN);
        assert!(matches!(
            parse_notification(&ctx(&f), &odd),
            Err(ProviderError::MalformedNotification(_))
        ));
    }

    #[test]
    fn replies() {
        assert_eq!(notification_reply(true).status, 204);
        let fail = notification_reply(false);
        assert_eq!(fail.status, 500);
        assert!(fail.body.contains("\"FAIL\""));
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let f = fixture();
            // Correctly signed garbage: exercises everything after verification.
            let h = SignedHeaders::sign(&test_key(1), &f.serial, &body, NOW, "n").unwrap();
            let incoming = IncomingNotification {
                headers: h.to_headers().into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
                body,
            };
            prop_assert!(parse_notification(&ctx(&f), &incoming).is_err());
        }
    }
}
