//! The business-line signature, both directions (see `docs/signing.md`):
//!
//! * requests to paydesk: `Authorization: PAYDESK-HMAC-SHA256 app_id="..",timestamp="..",
//!   nonce="..",signature=".."` with `signature = base64(HMAC-SHA256(secret,
//!   METHOD\nPATH_AND_QUERY\nTIMESTAMP\nNONCE\nBODY\n))`;
//! * notifications from paydesk: headers `Paydesk-Timestamp`, `Paydesk-Nonce`,
//!   `Paydesk-Signature` with `signature = base64(HMAC-SHA256(secret,
//!   TIMESTAMP\nNONCE\nBODY\n))`.
//!
//! The HMAC key is the secret string's UTF-8 bytes exactly as it was handed out.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::hmac;

/// The authorization scheme name.
pub const SCHEME: &str = "PAYDESK-HMAC-SHA256";
/// How far a request timestamp may be from now, in seconds.
pub const TIMESTAMP_WINDOW_SECS: i64 = 300;

/// The bytes signed for a business API request. `body` is empty for GET.
pub fn request_string_to_sign(
    method: &str,
    path_and_query: &str,
    timestamp: &str,
    nonce: &str,
    body: &[u8],
) -> Vec<u8> {
    let mut s = Vec::with_capacity(
        method.len() + path_and_query.len() + timestamp.len() + nonce.len() + body.len() + 5,
    );
    for part in [method, path_and_query, timestamp, nonce] {
        s.extend_from_slice(part.as_bytes());
        s.push(b'\n');
    }
    s.extend_from_slice(body);
    s.push(b'\n');
    s
}

/// The bytes signed for a notification paydesk sends.
pub fn notification_string_to_sign(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut s = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    s.extend_from_slice(timestamp.as_bytes());
    s.push(b'\n');
    s.extend_from_slice(nonce.as_bytes());
    s.push(b'\n');
    s.extend_from_slice(body);
    s.push(b'\n');
    s
}

/// base64(HMAC-SHA256(secret, message)).
pub fn sign(secret: &[u8], message: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    STANDARD.encode(hmac::sign(&key, message).as_ref())
}

/// Constant-time check of a base64 signature; malformed base64 is simply `false`.
pub fn verify(secret: &[u8], message: &[u8], signature_b64: &str) -> bool {
    let Ok(sig) = STANDARD.decode(signature_b64) else {
        return false;
    };
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::verify(&key, message, &sig).is_ok()
}

/// The parsed `Authorization` header of a business request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The business line's app id.
    pub app_id: String,
    /// Unix seconds, as sent (signed as text).
    pub timestamp: String,
    /// 16-64 characters of `[A-Za-z0-9]`.
    pub nonce: String,
    /// base64 HMAC.
    pub signature: String,
}

/// Why an `Authorization` header was refused. Every variant maps to 401 `UNAUTHORIZED`;
/// the detail is for logs and the error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthorizationError {
    /// Not the paydesk scheme.
    #[error("authorization scheme must be {SCHEME}")]
    Scheme,
    /// A parameter is missing, repeated, unknown or malformed.
    #[error("authorization parameter problem: {0}")]
    Parameter(&'static str),
}

impl Authorization {
    /// Parses `PAYDESK-HMAC-SHA256 k="v",k="v",...` with the four parameters in any order.
    pub fn parse(header: &str) -> Result<Self, AuthorizationError> {
        let rest = header
            .strip_prefix(SCHEME)
            .and_then(|r| r.strip_prefix(' '))
            .ok_or(AuthorizationError::Scheme)?;
        let (mut app_id, mut timestamp, mut nonce, mut signature) = (None, None, None, None);
        for part in rest.split(',') {
            let (k, v) = part
                .trim()
                .split_once('=')
                .ok_or(AuthorizationError::Parameter("expected key=\"value\""))?;
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or(AuthorizationError::Parameter("values must be quoted"))?;
            let slot = match k.trim() {
                "app_id" => &mut app_id,
                "timestamp" => &mut timestamp,
                "nonce" => &mut nonce,
                "signature" => &mut signature,
                _ => return Err(AuthorizationError::Parameter("unknown parameter")),
            };
            if slot.replace(v.to_owned()).is_some() {
                return Err(AuthorizationError::Parameter("repeated parameter"));
            }
        }
        let auth = Authorization {
            app_id: app_id.ok_or(AuthorizationError::Parameter("app_id missing"))?,
            timestamp: timestamp.ok_or(AuthorizationError::Parameter("timestamp missing"))?,
            nonce: nonce.ok_or(AuthorizationError::Parameter("nonce missing"))?,
            signature: signature.ok_or(AuthorizationError::Parameter("signature missing"))?,
        };
        if !(16..=64).contains(&auth.nonce.len())
            || !auth.nonce.bytes().all(|b| b.is_ascii_alphanumeric())
        {
            return Err(AuthorizationError::Parameter(
                "nonce must be 16-64 characters of [A-Za-z0-9]",
            ));
        }
        if auth.timestamp.is_empty()
            || auth.timestamp.len() > 12
            || !auth.timestamp.bytes().all(|b| b.is_ascii_digit())
        {
            return Err(AuthorizationError::Parameter(
                "timestamp must be unix seconds",
            ));
        }
        if auth.app_id.is_empty() || auth.app_id.len() > 64 {
            return Err(AuthorizationError::Parameter("app_id malformed"));
        }
        Ok(auth)
    }

    /// The timestamp as unix seconds (validated digits by `parse`).
    pub fn timestamp_secs(&self) -> Option<i64> {
        self.timestamp.parse().ok()
    }

    /// Builds a header value for a request (what a client does).
    pub fn header_value(
        app_id: &str,
        secret: &[u8],
        method: &str,
        path_and_query: &str,
        timestamp: i64,
        nonce: &str,
        body: &[u8],
    ) -> String {
        let ts = timestamp.to_string();
        let sig = sign(
            secret,
            &request_string_to_sign(method, path_and_query, &ts, nonce, body),
        );
        format!(
            "{SCHEME} app_id=\"{app_id}\",timestamp=\"{ts}\",nonce=\"{nonce}\",signature=\"{sig}\""
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The worked example in docs/signing.md; reproducible with
    /// `printf '...' | openssl dgst -sha256 -hmac SECRET -binary | base64`.
    #[test]
    fn documented_example() {
        let secret = b"sk_test_3f9a1c0b7d2e4f6a8b9c0d1e2f3a4b5c";
        let body = br#"{"business_order_no":"SO-1001","amount":1999,"currency":"CNY","subject":"Used bike"}"#;
        let msg = request_string_to_sign(
            "POST",
            "/v1/pay-orders",
            "1767225600",
            "n0nce0123456789abcdef",
            body,
        );
        let sig = sign(secret, &msg);
        assert_eq!(sig, "Rz1ZuZwO+36FaVS1Lum3QgiskCC8GPNEaoL/GJ+u/7g=");
        assert!(verify(secret, &msg, &sig));
    }

    #[test]
    fn header_round_trips_in_any_order() {
        let h = Authorization::header_value(
            "app_1",
            b"s",
            "GET",
            "/v1/x?a=1",
            1700000000,
            "abcdefghijklmnop",
            b"",
        );
        let a = Authorization::parse(&h).unwrap();
        assert_eq!(a.app_id, "app_1");
        assert_eq!(a.timestamp_secs(), Some(1700000000));
        let reordered = format!(
            "{SCHEME} signature=\"{}\", nonce=\"{}\",app_id=\"app_1\",timestamp=\"1700000000\"",
            a.signature, a.nonce
        );
        assert_eq!(Authorization::parse(&reordered).unwrap(), a);
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            "",
            "Bearer x",
            "PAYDESK-HMAC-SHA256",
            "PAYDESK-HMAC-SHA256 app_id=\"a\"",
            "PAYDESK-HMAC-SHA256 app_id=\"a\",timestamp=\"1\",nonce=\"short\",signature=\"x\"",
            "PAYDESK-HMAC-SHA256 app_id=\"a\",timestamp=\"x1\",nonce=\"abcdefghijklmnop\",signature=\"x\"",
            "PAYDESK-HMAC-SHA256 app_id=\"a\",app_id=\"a\",timestamp=\"1\",nonce=\"abcdefghijklmnop\",signature=\"x\"",
            "PAYDESK-HMAC-SHA256 app_id=a,timestamp=\"1\",nonce=\"abcdefghijklmnop\",signature=\"x\"",
            "PAYDESK-HMAC-SHA256 app_id=\"a\",timestamp=\"1\",nonce=\"abcdefghijklmnop\",signature=\"x\",extra=\"1\"",
        ] {
            assert!(Authorization::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn any_change_breaks_the_signature(body in proptest::collection::vec(any::<u8>(), 0..256), flip in 0usize..256) {
            let msg = request_string_to_sign("POST", "/v1/pay-orders", "1", "abcdefghijklmnop", &body);
            let sig = sign(b"secret", &msg);
            prop_assert!(verify(b"secret", &msg, &sig));
            let mut tampered = msg.clone();
            let i = flip % tampered.len();
            tampered[i] ^= 1;
            prop_assert!(!verify(b"secret", &tampered, &sig));
            prop_assert!(!verify(b"other", &msg, &sig));
        }

        #[test]
        fn parse_never_panics(s in ".{0,300}") {
            let _ = Authorization::parse(&s);
        }
    }
}
