//! Alipay OpenAPI RSA2 signatures, for both sides of the protocol.
//!
//! - Requests: every parameter except `sign`, empty values skipped, sorted by key (byte
//!   order), joined as `k=v&k=v` with raw (not URL-encoded) values, SHA256withRSA, base64.
//!   `sign_type` *is* covered.
//! - Synchronous answers `{"<method>_response":{...},"sign":"..."}`: the signature covers the
//!   exact raw JSON text of the `_response` value as received (escapes such as `\/` and all
//!   spacing kept), so it is cut out of the body, never re-serialised.
//! - Asynchronous notifications (form POST): like requests, but `sign` *and* `sign_type`
//!   are dropped.
//!
//! Alipay does not name its key in a message, so during a rotation every live key is tried.

use crate::error::SignatureError;
use crate::keys::{KeyError, PrivateKey, PublicKey};
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use time::macros::{format_description, offset};
use time::OffsetDateTime;

/// `sign_type` for SHA256withRSA.
pub const SIGN_TYPE_RSA2: &str = "RSA2";

/// The string to sign: sorted `k=v` pairs joined by `&`, skipping empty values and every
/// key in `excluded`.
pub fn sign_content<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    excluded: &[&str],
) -> String {
    let sorted: BTreeMap<&str, &str> = params
        .into_iter()
        .filter(|(k, v)| !v.is_empty() && !k.is_empty() && !excluded.contains(k))
        .collect();
    let mut out = String::new();
    for (k, v) in sorted {
        if !out.is_empty() {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

fn pairs(params: &[(String, String)]) -> impl Iterator<Item = (&str, &str)> {
    params.iter().map(|(k, v)| (k.as_str(), v.as_str()))
}

/// Signs request parameters (everything but `sign`); returns the base64 `sign`.
pub fn sign_request(key: &PrivateKey, params: &[(String, String)]) -> Result<String, KeyError> {
    key.sign_base64(sign_content(pairs(params), &["sign"]).as_bytes())
}

fn verify_any(keys: &[PublicKey], message: &[u8], sign: &str) -> Result<(), SignatureError> {
    if keys.iter().any(|k| k.verify_base64(message, sign)) {
        Ok(())
    } else {
        Err(SignatureError::Invalid)
    }
}

fn sign_of(params: &[(String, String)]) -> Result<&str, SignatureError> {
    params
        .iter()
        .find(|(k, _)| k == "sign")
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
        .ok_or(SignatureError::Missing("sign"))
}

/// Server side: verifies a merchant's request parameters (query and form merged) with the
/// app's public key(s).
pub fn verify_request(
    keys: &[PublicKey],
    params: &[(String, String)],
) -> Result<(), SignatureError> {
    let sign = sign_of(params)?;
    verify_any(
        keys,
        sign_content(pairs(params), &["sign"]).as_bytes(),
        sign,
    )
}

/// Verifies an asynchronous notification's parameters (form-decoded).
pub fn verify_notification(
    keys: &[PublicKey],
    params: &[(String, String)],
) -> Result<(), SignatureError> {
    let sign = sign_of(params)?;
    verify_any(
        keys,
        sign_content(pairs(params), &["sign", "sign_type"]).as_bytes(),
        sign,
    )
}

/// Server side: signs notification parameters; returns the base64 `sign` to add (with
/// `sign_type=RSA2`).
pub fn sign_notification(
    key: &PrivateKey,
    params: &[(String, String)],
) -> Result<String, KeyError> {
    key.sign_base64(sign_content(pairs(params), &["sign", "sign_type"]).as_bytes())
}

/// `alipay.trade.query` -> `alipay_trade_query_response`.
pub fn response_key(method: &str) -> String {
    format!("{}_response", method.replace('.', "_"))
}

/// The parts of a synchronous answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseParts<'a> {
    /// The exact raw JSON text of the `<method>_response` (or `error_response`) value.
    pub content: &'a str,
    /// Whether it was the gateway's `error_response` rather than the method's.
    pub is_error_response: bool,
    /// The `sign`, when present.
    pub sign: Option<String>,
}

/// Cuts the signed content and the signature out of a raw answer body. The body is parsed
/// as JSON (so nothing outside a well-formed document is accepted), keeping the raw text.
pub fn split_response<'a>(
    raw_body: &'a str,
    method: &str,
) -> Result<ResponseParts<'a>, SignatureError> {
    let top: BTreeMap<String, &'a RawValue> = serde_json::from_str(raw_body)
        .map_err(|e| SignatureError::Malformed(format!("answer is not a JSON object: {e}")))?;
    let key = response_key(method);
    let (content, is_error_response) = match (top.get(&key), top.get("error_response")) {
        (Some(v), _) => (v.get(), false),
        (None, Some(v)) => (v.get(), true),
        (None, None) => return Err(SignatureError::Missing("<method>_response")),
    };
    let sign = match top.get("sign") {
        Some(v) => Some(
            serde_json::from_str::<String>(v.get())
                .map_err(|_| SignatureError::Malformed("sign is not a string".into()))?,
        ),
        None => None,
    };
    Ok(ResponseParts {
        content,
        is_error_response,
        sign,
    })
}

/// Verifies a synchronous answer's signature over its raw `_response` text.
pub fn verify_response(
    keys: &[PublicKey],
    parts: &ResponseParts<'_>,
) -> Result<(), SignatureError> {
    let sign = parts
        .sign
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or(SignatureError::Missing("sign"))?;
    verify_any(keys, parts.content.as_bytes(), sign)
}

/// Server side: builds a signed answer body `{"<method>_response":<content>,"sign":"..."}`
/// where `content_json` is emitted byte for byte as signed.
pub fn sign_response(
    key: &PrivateKey,
    method: &str,
    content_json: &str,
) -> Result<String, KeyError> {
    let sign = key.sign_base64(content_json.as_bytes())?;
    let sign_json = serde_json::to_string(&sign).map_err(|_| KeyError::Sign)?;
    Ok(format!(
        "{{\"{}\":{},\"sign\":{}}}",
        response_key(method),
        content_json,
        sign_json
    ))
}

/// Alipay's `timestamp` / time format, `yyyy-MM-dd HH:mm:ss` in China Standard Time (GMT+8).
pub fn format_time(t: OffsetDateTime) -> Result<String, time::error::Format> {
    t.to_offset(offset!(+8)).format(&format_description!(
        "[year]-[month]-[day] [hour]:[minute]:[second]"
    ))
}

/// Parses Alipay's `yyyy-MM-dd HH:mm:ss` (GMT+8).
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    time::PrimitiveDateTime::parse(
        text,
        &format_description!("[year]-[month]-[day] [hour]:[minute]:[second]"),
    )
    .ok()
    .map(|t| t.assume_offset(offset!(+8)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::test_key;
    use proptest::prelude::*;

    fn p(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sign_content_sorts_skips_empty_and_excludes() {
        let params = p(&[
            ("method", "alipay.trade.query"),
            ("app_id", "2014072300007148"),
            ("sign_type", "RSA2"),
            ("sign", "xxx"),
            ("biz_content", r#"{"out_trade_no":"a&b=c"}"#),
            ("app_auth_token", ""),
        ]);
        assert_eq!(
            sign_content(pairs(&params), &["sign"]),
            r#"app_id=2014072300007148&biz_content={"out_trade_no":"a&b=c"}&method=alipay.trade.query&sign_type=RSA2"#
        );
        assert_eq!(
            sign_content(pairs(&params), &["sign", "sign_type"]),
            r#"app_id=2014072300007148&biz_content={"out_trade_no":"a&b=c"}&method=alipay.trade.query"#
        );
    }

    #[test]
    fn request_and_notification_round_trips() {
        let key = test_key(0);
        let keys = vec![test_key(1).public_key().unwrap(), key.public_key().unwrap()];
        let mut params = p(&[
            ("app_id", "1"),
            ("sign_type", "RSA2"),
            ("biz_content", "{}"),
        ]);
        let sign = sign_request(&key, &params).unwrap();
        params.push(("sign".into(), sign));
        assert!(verify_request(&keys, &params).is_ok());
        // sign_type is covered by request signatures...
        let mut changed = params.clone();
        changed[1].1 = "RSA".into();
        assert_eq!(
            verify_request(&keys, &changed),
            Err(SignatureError::Invalid)
        );
        // ...but not by notification signatures.
        let mut notif = p(&[("trade_status", "TRADE_SUCCESS"), ("total_amount", "0.01")]);
        let s = sign_notification(&key, &notif).unwrap();
        notif.push(("sign".into(), s));
        notif.push(("sign_type".into(), "RSA2".into()));
        assert!(verify_notification(&keys, &notif).is_ok());
        notif[1].1 = "1.00".into();
        assert_eq!(
            verify_notification(&keys, &notif),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify_notification(&keys, &p(&[("a", "b")])),
            Err(SignatureError::Missing("sign"))
        );
        // A key that is not live does not verify.
        assert_eq!(
            verify_request(&[test_key(2).public_key().unwrap()], &params),
            Err(SignatureError::Invalid)
        );
    }

    #[test]
    fn response_content_is_the_raw_text() {
        // Raw bodies from the official Node SDK's getSignStr tests: escaped slashes and odd
        // spacing must survive untouched.
        let sign = "P8xrBWqZCUv11UrEBjhQ4Sk3hyj4607qehO2VbKIS0hWa4U+NeLlOftqTyhGv+x1lzfqN590Y/8CaNIzEEg06FiNWJlUFM/uEFJLzSKGse4MjHbblpiSzI3eCV5RzxH26wZbEd9wyVYYi0pHFBf35UrBva47g7b5EuKCHfoVA95/zin9fAyb3xhhiHhmfGaWIDV/1LmE2vtqtOHQnISbY/deC71U614ySZ3YB97ws8npCcCJ+tgZvhHPkMRGvmyYPCRDB/aIN/sKDSLtfPp0u8DxE8pHLvCHm3wR84MQxqNbKgpd8NTKNvH+obELsbCrqPhjW7qI48634qx6enDupw==";
        let content = r#"{"code":"10000","msg":"Success","image_id":"Zp1Nm6FDTZaEuSSniGd5awAAACMAAQED","image_url":"http:\/\/oalipay-dl-django.alicdn.com\/rest\/1.0\/image?fileIds=Zp1Nm6FDTZaEuSSniGd5awAAACMAAQED&zoom=original"}"#;
        let body = format!(
            r#"{{"alipay_offline_material_image_upload_response":{content},"sign":"{sign}"}}"#
        );
        let parts = split_response(&body, "alipay.offline.material.image.upload").unwrap();
        assert_eq!(parts.content, content);
        assert_eq!(parts.sign.as_deref(), Some(sign));
        let spaced = format!(
            "{{\"alipay_offline_material_image_upload_response\"\n        :  \n        {content},\n        \n          \"sign\"  :  \"{sign}\"}}"
        );
        let parts = split_response(&spaced, "alipay.offline.material.image.upload").unwrap();
        assert_eq!(parts.content, content);
        assert!(!parts.is_error_response);
    }

    #[test]
    fn response_sign_and_verify_with_tampering() {
        let key = test_key(0);
        let keys = vec![key.public_key().unwrap()];
        let content = r#"{"code":"10000","msg":"Success","out_trade_no":"6823789339978248","qr_code":"https:\/\/qr.alipay.com\/bavh4wjlxf12tper3a"}"#;
        let body = sign_response(&key, "alipay.trade.precreate", content).unwrap();
        let parts = split_response(&body, "alipay.trade.precreate").unwrap();
        assert_eq!(parts.content, content);
        assert!(verify_response(&keys, &parts).is_ok());
        // Re-serialising would turn `\/` into `/` and break the signature: prove we don't.
        let reserialised =
            serde_json::to_string(&serde_json::from_str::<serde_json::Value>(content).unwrap())
                .unwrap();
        assert_ne!(reserialised, content);
        let tampered = body.replace("6823789339978248", "6823789339978249");
        let parts = split_response(&tampered, "alipay.trade.precreate").unwrap();
        assert_eq!(verify_response(&keys, &parts), Err(SignatureError::Invalid));
        let unsigned = format!(r#"{{"alipay_trade_precreate_response":{content}}}"#);
        let parts = split_response(&unsigned, "alipay.trade.precreate").unwrap();
        assert_eq!(
            verify_response(&keys, &parts),
            Err(SignatureError::Missing("sign"))
        );
        let wrong_key = vec![test_key(1).public_key().unwrap()];
        let parts = split_response(&body, "alipay.trade.precreate").unwrap();
        assert_eq!(
            verify_response(&wrong_key, &parts),
            Err(SignatureError::Invalid)
        );
        // Another method's answer is not this method's.
        assert!(split_response(&body, "alipay.trade.query").is_err());
        let gw = r#"{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id","sub_msg":"无效的AppID参数"}}"#;
        let parts = split_response(gw, "alipay.trade.query").unwrap();
        assert!(parts.is_error_response && parts.sign.is_none());
    }

    #[test]
    fn times_are_gmt8() {
        let t = OffsetDateTime::from_unix_timestamp(0).unwrap();
        assert_eq!(format_time(t).unwrap(), "1970-01-01 08:00:00");
        assert_eq!(parse_time("1970-01-01 08:00:00"), Some(t));
        assert_eq!(parse_time("1970-01-01T08:00:00"), None);
    }

    proptest! {
        #[test]
        fn split_response_never_panics(body in ".{0,200}", method in "[a-z.]{0,20}") {
            let _ = split_response(&body, &method);
        }
    }
}
