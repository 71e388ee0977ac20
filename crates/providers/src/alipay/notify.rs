//! Alipay asynchronous notifications: a form POST whose `sign` covers every other
//! parameter except `sign_type`. Pure (no I/O), so it can be benchmarked and reused.

use crate::alipay::map;
use crate::alipay::sign::{sign_notification, verify_notification, SIGN_TYPE_RSA2};
use crate::error::{ProviderError, SignatureError};
use crate::keys::{KeyError, PrivateKey, PublicKey};
use crate::model::{IncomingNotification, Notification, NotificationEvent, NotificationReply};
use std::collections::HashSet;

/// What a notification is checked against.
#[derive(Debug, Clone, Copy)]
pub struct NotifyContext<'a> {
    /// Alipay's public keys (several during a rotation).
    pub alipay_public_keys: &'a [PublicKey],
    /// Our app id: a notification for another app is refused.
    pub app_id: &'a str,
    /// Our seller id (`2088...`), when known: a payment to another seller is refused.
    pub seller_id: Option<&'a str>,
}

/// Decodes an `application/x-www-form-urlencoded` body. A parameter given twice is refused:
/// which copy was signed would be ambiguous.
pub fn parse_form(body: &[u8]) -> Result<Vec<(String, String)>, ProviderError> {
    let params: Vec<(String, String)> = form_urlencoded::parse(body).into_owned().collect();
    let mut seen = HashSet::new();
    for (k, _) in &params {
        if !seen.insert(k.as_str()) {
            return Err(ProviderError::MalformedNotification(format!(
                "parameter `{}` given twice",
                k.chars().take(40).collect::<String>()
            )));
        }
    }
    Ok(params)
}

/// Verifies and parses one notification.
pub fn parse_notification(
    ctx: &NotifyContext<'_>,
    incoming: &IncomingNotification,
) -> Result<Notification, ProviderError> {
    let params = parse_form(&incoming.body)?;
    let bad_sig = |source| ProviderError::Signature {
        operation: "parse_notification",
        source,
    };
    verify_notification(ctx.alipay_public_keys, &params).map_err(bad_sig)?;
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let app_id = get("app_id").unwrap_or_default();
    if app_id != ctx.app_id {
        return Err(bad_sig(SignatureError::WrongAccount(format!(
            "app_id `{}`",
            app_id.chars().take(40).collect::<String>()
        ))));
    }
    if let (Some(expected), Some(got)) = (ctx.seller_id, get("seller_id")) {
        if expected != got {
            return Err(bad_sig(SignatureError::WrongAccount(format!(
                "seller_id `{}`",
                got.chars().take(40).collect::<String>()
            ))));
        }
    }
    let notify_id = get("notify_id")
        .ok_or_else(|| ProviderError::MalformedNotification("no notify_id".into()))?
        .to_string();
    let status = map::notified_payment(&get).map_err(|e| match e {
        ProviderError::MalformedResponse { reason, .. } => {
            ProviderError::MalformedNotification(reason)
        }
        other => other,
    })?;
    Ok(Notification {
        notification_id: notify_id,
        event: NotificationEvent::Payment(status),
    })
}

/// The answer Alipay expects: exactly `success` stops its retries; anything else (we send
/// `fail`) makes it retry on its schedule.
pub fn notification_reply(accepted: bool) -> NotificationReply {
    NotificationReply {
        status: 200,
        content_type: "text/plain; charset=utf-8",
        body: if accepted { "success" } else { "fail" }.into(),
    }
}

/// Server side: signs `params` as Alipay does (adding `sign` and `sign_type=RSA2`) and
/// form-encodes them as the POST body a merchant receives.
pub fn build_notification(
    alipay_key: &PrivateKey,
    params: &[(String, String)],
) -> Result<IncomingNotification, KeyError> {
    let mut all: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "sign" && k != "sign_type")
        .cloned()
        .collect();
    let sign = sign_notification(alipay_key, &all)?;
    all.push(("sign_type".into(), SIGN_TYPE_RSA2.into()));
    all.push(("sign".into(), sign));
    let body = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(all.iter())
        .finish()
        .into_bytes();
    Ok(IncomingNotification {
        headers: vec![(
            "Content-Type".into(),
            "application/x-www-form-urlencoded; charset=utf-8".into(),
        )],
        body,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::test_key;
    use crate::model::PaymentState;
    use proptest::prelude::*;

    fn params() -> Vec<(String, String)> {
        [
            ("gmt_create", "2015-06-11 22:33:46"),
            ("charset", "utf-8"),
            ("seller_email", "zen_gwen@hotmail.com"),
            ("subject", "生日快乐 & more"),
            ("buyer_id", "2088102122524333"),
            ("notify_id", "4a91b7a78a503640467525113fb7d8bg8e"),
            ("total_amount", "88.88"),
            ("buyer_pay_amount", "88.88"),
            ("trade_no", "2015061121001004400068549373"),
            ("notify_time", "2015-06-11 22:33:59"),
            ("trade_status", "TRADE_SUCCESS"),
            ("gmt_payment", "2015-06-11 22:33:59"),
            ("seller_id", "2088102119685838"),
            ("notify_type", "trade_status_sync"),
            ("out_trade_no", "20150611_0001"),
            ("app_id", "2014072300007148"),
            ("version", "1.0"),
            ("passback_params", "po_1%3Da%2Bb+c"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    fn keys() -> Vec<PublicKey> {
        vec![
            test_key(2).public_key().unwrap(),
            test_key(1).public_key().unwrap(),
        ]
    }

    fn ctx(keys: &[PublicKey]) -> NotifyContext<'_> {
        NotifyContext {
            alipay_public_keys: keys,
            app_id: "2014072300007148",
            seller_id: Some("2088102119685838"),
        }
    }

    #[test]
    fn verifies_and_parses() {
        let keys = keys();
        let n = build_notification(&test_key(1), &params()).unwrap();
        let got = parse_notification(&ctx(&keys), &n).unwrap();
        assert_eq!(got.notification_id, "4a91b7a78a503640467525113fb7d8bg8e");
        let NotificationEvent::Payment(p) = got.event else {
            panic!()
        };
        assert_eq!(p.state, PaymentState::Succeeded);
        assert_eq!(p.amount.unwrap().minor(), 8888);
        assert_eq!(p.passback.as_deref(), Some("po_1=a+b c"));
        assert_eq!(p.paid_at.unwrap().unix_timestamp(), 1434033239);
        assert_eq!(notification_reply(true).body, "success");
        assert_eq!(notification_reply(false).body, "fail");
    }

    #[test]
    fn tampered_forged_and_misrouted_are_refused() {
        let keys = keys();
        let n = build_notification(&test_key(1), &params()).unwrap();
        let text = String::from_utf8(n.body.clone()).unwrap();
        let tampered = IncomingNotification {
            body: text
                .replace("total_amount=88.88", "total_amount=0.01")
                .into_bytes(),
            ..n.clone()
        };
        assert!(matches!(
            parse_notification(&ctx(&keys), &tampered),
            Err(ProviderError::Signature {
                source: SignatureError::Invalid,
                ..
            })
        ));
        let forged = build_notification(&test_key(0), &params()).unwrap();
        assert!(matches!(
            parse_notification(&ctx(&keys), &forged),
            Err(ProviderError::Signature {
                source: SignatureError::Invalid,
                ..
            })
        ));
        let duplicated = IncomingNotification {
            body: format!("{text}&total_amount=0.01").into_bytes(),
            ..n.clone()
        };
        assert!(matches!(
            parse_notification(&ctx(&keys), &duplicated),
            Err(ProviderError::MalformedNotification(_))
        ));
        let mut other_seller = ctx(&keys);
        other_seller.seller_id = Some("2088000000000000");
        assert!(matches!(
            parse_notification(&other_seller, &n),
            Err(ProviderError::Signature {
                source: SignatureError::WrongAccount(_),
                ..
            })
        ));
        let mut other_app = ctx(&keys);
        other_app.app_id = "2014072300000000";
        assert!(parse_notification(&other_app, &n).is_err());
        // sign_type is not covered: changing it does not matter, as the protocol says.
        let retyped = IncomingNotification {
            body: text.replace("sign_type=RSA2", "sign_type=RSA").into_bytes(),
            ..n
        };
        assert!(parse_notification(&ctx(&keys), &retyped).is_ok());
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let keys = keys();
            let incoming = IncomingNotification { headers: vec![], body };
            prop_assert!(parse_notification(&ctx(&keys), &incoming).is_err());
        }

        #[test]
        fn signed_garbage_never_panics(amount in ".{0,12}", status in ".{0,16}") {
            let keys = keys();
            let mut p = params();
            p.retain(|(k, _)| k != "total_amount" && k != "trade_status");
            p.push(("total_amount".into(), amount));
            p.push(("trade_status".into(), status));
            let n = build_notification(&test_key(1), &p).unwrap();
            let _ = parse_notification(&ctx(&keys), &n);
        }
    }
}
