//! WeChat Pay API v3 signatures and encryption, for both sides of the protocol: what a
//! merchant does (sign requests, verify responses and callbacks, decrypt callback
//! resources, sign JSAPI/APP client parameters) and what WeChat Pay does (verify request
//! `Authorization` headers, sign responses and callbacks, encrypt callback resources).
//!
//! - Request signature: SHA256withRSA over `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n`
//!   with the merchant key, sent as
//!   `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",signature="..",timestamp="..",serial_no=".."`.
//! - Response / callback signature: SHA256withRSA over `TIMESTAMP\nNONCE\nBODY\n` with the
//!   platform key, in `Wechatpay-Timestamp`, `Wechatpay-Nonce`, `Wechatpay-Signature` and
//!   `Wechatpay-Serial` (a platform certificate serial or a `PUB_KEY_ID_...`).
//! - Callback resources: AEAD_AES_256_GCM with the 32-byte APIv3 key, a 12-byte nonce and
//!   the associated data, all as UTF-8 text; the base64 ciphertext ends with the 16-byte tag.

use crate::error::SignatureError;
use crate::keys::{KeyError, KeyRing, PrivateKey, PublicKey};
use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The `Authorization` scheme of API v3.
pub const AUTH_SCHEMA: &str = "WECHATPAY2-SHA256-RSA2048";
/// Header carrying the signing timestamp (Unix seconds).
pub const HEADER_TIMESTAMP: &str = "Wechatpay-Timestamp";
/// Header carrying the signing nonce.
pub const HEADER_NONCE: &str = "Wechatpay-Nonce";
/// Header carrying the base64 signature.
pub const HEADER_SIGNATURE: &str = "Wechatpay-Signature";
/// Header naming the key: platform certificate serial or `PUB_KEY_ID_...`.
pub const HEADER_SERIAL: &str = "Wechatpay-Serial";
/// The only callback encryption algorithm.
pub const AEAD_AES_256_GCM: &str = "AEAD_AES_256_GCM";
/// Default accepted distance between a signed timestamp and now (WeChat's SDKs use 5 minutes).
pub const DEFAULT_WINDOW_SECS: i64 = 300;

/// A random alphanumeric string of `len` characters (nonces, `nonce_str`).
pub fn random_nonce(len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let mut bytes = vec![0u8; len];
    // aws-lc's RNG does not fail in practice; if it ever did, fall back to a still-unique
    // but weaker nonce rather than panic (a nonce is not a secret).
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        let t = time::OffsetDateTime::now_utc().unix_timestamp_nanos();
        return format!("{t:0len$}").chars().take(len).collect();
    }
    // 62 * 4 = 248: values 248..=255 are biased; a slight bias is harmless for a nonce.
    bytes
        .iter()
        .map(|b| ALPHABET[(*b as usize) % ALPHABET.len()] as char)
        .collect()
}

/// The request signing message: `METHOD\nPATH?QUERY\nTIMESTAMP\nNONCE\nBODY\n`.
pub fn request_message(
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &str,
) -> String {
    format!("{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{body}\n")
}

/// The response / callback signing message: `TIMESTAMP\nNONCE\nBODY\n` (body as bytes).
pub fn response_message(timestamp: &str, nonce: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(timestamp.len() + nonce.len() + body.len() + 3);
    m.extend_from_slice(timestamp.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(nonce.as_bytes());
    m.push(b'\n');
    m.extend_from_slice(body);
    m.push(b'\n');
    m
}

/// The fields of an API v3 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    /// The merchant id.
    pub mchid: String,
    /// The nonce.
    pub nonce_str: String,
    /// Unix seconds.
    pub timestamp: i64,
    /// The merchant certificate serial that names the signing key.
    pub serial_no: String,
    /// Base64 signature.
    pub signature: String,
}

impl Authorization {
    /// Signs a request as the merchant and returns the header fields.
    #[allow(clippy::too_many_arguments)]
    pub fn sign(
        key: &PrivateKey,
        mchid: &str,
        serial_no: &str,
        method: &str,
        path_and_query: &str,
        body: &str,
        timestamp: i64,
        nonce: &str,
    ) -> Result<Self, KeyError> {
        let message = request_message(method, path_and_query, timestamp, nonce, body);
        Ok(Authorization {
            mchid: mchid.to_string(),
            nonce_str: nonce.to_string(),
            timestamp,
            serial_no: serial_no.to_string(),
            signature: key.sign_base64(message.as_bytes())?,
        })
    }

    /// The header value, in the field order WeChat's documentation shows.
    pub fn to_header_value(&self) -> String {
        format!(
            "{AUTH_SCHEMA} mchid=\"{}\",nonce_str=\"{}\",signature=\"{}\",timestamp=\"{}\",serial_no=\"{}\"",
            self.mchid, self.nonce_str, self.signature, self.timestamp, self.serial_no
        )
    }

    /// Parses a header value (fields in any order; unknown fields ignored).
    pub fn parse(header: &str) -> Result<Self, SignatureError> {
        let rest = header
            .trim()
            .strip_prefix(AUTH_SCHEMA)
            .ok_or_else(|| SignatureError::Malformed("authorization scheme".into()))?;
        if !rest.starts_with(' ') {
            return Err(SignatureError::Malformed("authorization scheme".into()));
        }
        let (mut mchid, mut nonce, mut sig, mut ts, mut serial) = (None, None, None, None, None);
        for part in rest.split(',') {
            let (k, v) = part
                .trim()
                .split_once('=')
                .ok_or_else(|| SignatureError::Malformed("authorization field".into()))?;
            let v = v
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| SignatureError::Malformed(format!("unquoted `{k}`")))?
                .to_string();
            match k {
                "mchid" => mchid = Some(v),
                "nonce_str" => nonce = Some(v),
                "signature" => sig = Some(v),
                "timestamp" => ts = Some(v),
                "serial_no" => serial = Some(v),
                _ => {}
            }
        }
        let ts = ts.ok_or(SignatureError::Missing("timestamp"))?;
        Ok(Authorization {
            mchid: mchid.ok_or(SignatureError::Missing("mchid"))?,
            nonce_str: nonce.ok_or(SignatureError::Missing("nonce_str"))?,
            timestamp: ts
                .parse()
                .map_err(|_| SignatureError::Malformed("timestamp".into()))?,
            serial_no: serial.ok_or(SignatureError::Missing("serial_no"))?,
            signature: sig.ok_or(SignatureError::Missing("signature"))?,
        })
    }
}

fn check_window(timestamp: i64, now_unix: i64, window_secs: i64) -> Result<(), SignatureError> {
    // The timestamp comes from a header: any i64. `abs_diff` cannot overflow; a negative
    // window accepts nothing.
    let outside = u64::try_from(window_secs).map_or(true, |w| now_unix.abs_diff(timestamp) > w);
    if outside {
        return Err(SignatureError::Expired {
            timestamp,
            window_secs,
        });
    }
    Ok(())
}

/// Server side: verifies a merchant's request. `merchant_key` finds the merchant's public
/// key from `(mchid, serial_no)`; an unknown pair is [`SignatureError::UnknownKey`].
pub fn verify_request(
    authorization_header: &str,
    method: &str,
    path_and_query: &str,
    body: &str,
    now_unix: i64,
    window_secs: i64,
    merchant_key: impl Fn(&str, &str) -> Option<PublicKey>,
) -> Result<Authorization, SignatureError> {
    let auth = Authorization::parse(authorization_header)?;
    check_window(auth.timestamp, now_unix, window_secs)?;
    let key = merchant_key(&auth.mchid, &auth.serial_no)
        .ok_or_else(|| SignatureError::UnknownKey(auth.serial_no.clone()))?;
    let message = request_message(
        method,
        path_and_query,
        auth.timestamp,
        &auth.nonce_str,
        body,
    );
    if !key.verify_base64(message.as_bytes(), &auth.signature) {
        return Err(SignatureError::Invalid);
    }
    Ok(auth)
}

/// The four `Wechatpay-*` headers of a signed response or callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `Wechatpay-Timestamp` (kept as text: the signature covers the text).
    pub timestamp: String,
    /// `Wechatpay-Nonce`.
    pub nonce: String,
    /// `Wechatpay-Signature`, base64.
    pub signature: String,
    /// `Wechatpay-Serial`: certificate serial or `PUB_KEY_ID_...`.
    pub serial: String,
}

impl SignedHeaders {
    /// Reads the headers through `get` (which should compare names case-insensitively).
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Self, SignatureError> {
        Ok(SignedHeaders {
            timestamp: get(HEADER_TIMESTAMP)
                .ok_or(SignatureError::Missing(HEADER_TIMESTAMP))?
                .to_string(),
            nonce: get(HEADER_NONCE)
                .ok_or(SignatureError::Missing(HEADER_NONCE))?
                .to_string(),
            signature: get(HEADER_SIGNATURE)
                .ok_or(SignatureError::Missing(HEADER_SIGNATURE))?
                .to_string(),
            serial: get(HEADER_SERIAL)
                .ok_or(SignatureError::Missing(HEADER_SERIAL))?
                .to_string(),
        })
    }

    /// Server side: signs `body` with the platform key named `serial`.
    pub fn sign(
        key: &PrivateKey,
        serial: &str,
        body: &[u8],
        timestamp: i64,
        nonce: &str,
    ) -> Result<Self, KeyError> {
        let ts = timestamp.to_string();
        let signature = key.sign_base64(&response_message(&ts, nonce, body))?;
        Ok(SignedHeaders {
            timestamp: ts,
            nonce: nonce.to_string(),
            signature,
            serial: serial.to_string(),
        })
    }

    /// The headers as (name, value) pairs.
    pub fn to_headers(&self) -> [(&'static str, String); 4] {
        [
            (HEADER_TIMESTAMP, self.timestamp.clone()),
            (HEADER_NONCE, self.nonce.clone()),
            (HEADER_SIGNATURE, self.signature.clone()),
            (HEADER_SERIAL, self.serial.clone()),
        ]
    }

    /// Verifies `body` against these headers with the key the serial names in `keys`, and
    /// refuses timestamps further than `window_secs` from `now_unix` (replays).
    pub fn verify(
        &self,
        body: &[u8],
        keys: &KeyRing,
        now_unix: i64,
        window_secs: i64,
    ) -> Result<(), SignatureError> {
        let ts: i64 = self
            .timestamp
            .trim()
            .parse()
            .map_err(|_| SignatureError::Malformed(HEADER_TIMESTAMP.into()))?;
        check_window(ts, now_unix, window_secs)?;
        let key = keys
            .get(&self.serial)
            .ok_or_else(|| SignatureError::UnknownKey(self.serial.chars().take(80).collect()))?;
        if key.verify_base64(
            &response_message(&self.timestamp, &self.nonce, body),
            &self.signature,
        ) {
            Ok(())
        } else {
            Err(SignatureError::Invalid)
        }
    }
}

/// The 32-byte APIv3 key (set in the merchant console as 32 ASCII characters).
#[derive(Clone, PartialEq, Eq)]
pub struct ApiV3Key([u8; 32]);

impl fmt::Debug for ApiV3Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiV3Key(<redacted>)")
    }
}

impl ApiV3Key {
    /// From the key text; it must be exactly 32 bytes.
    pub fn new(text: &str) -> Result<Self, KeyError> {
        let bytes: [u8; 32] = text
            .as_bytes()
            .try_into()
            .map_err(|_| KeyError::Rejected("the APIv3 key must be exactly 32 bytes".into()))?;
        Ok(ApiV3Key(bytes))
    }

    /// A random key of 32 alphanumeric characters (sandbox, tests).
    pub fn generate() -> (Self, String) {
        let text = random_nonce(32);
        let mut bytes = [0u8; 32];
        bytes.copy_from_slice(text.as_bytes());
        (ApiV3Key(bytes), text)
    }

    fn aead(&self) -> Result<LessSafeKey, SignatureError> {
        UnboundKey::new(&AES_256_GCM, &self.0)
            .map(LessSafeKey::new)
            .map_err(|_| SignatureError::Decrypt)
    }
}

/// An encrypted `resource` of a callback (or of a platform certificate download).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptedResource {
    /// Always `AEAD_AES_256_GCM`.
    pub algorithm: String,
    /// Base64 of ciphertext followed by the 16-byte tag.
    pub ciphertext: String,
    /// Associated data (may be empty).
    #[serde(default)]
    pub associated_data: String,
    /// The 12-character nonce.
    pub nonce: String,
    /// What the plaintext is (`transaction`, `refund`...), when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_type: Option<String>,
}

/// Decrypts a resource. Wrong key, nonce, associated data or any tampering all fail the
/// tag check and return [`SignatureError::Decrypt`].
pub fn decrypt_resource(
    key: &ApiV3Key,
    resource: &EncryptedResource,
) -> Result<Vec<u8>, SignatureError> {
    if resource.algorithm != AEAD_AES_256_GCM {
        return Err(SignatureError::Malformed(format!(
            "unsupported algorithm `{}`",
            resource.algorithm.chars().take(40).collect::<String>()
        )));
    }
    let nonce = Nonce::try_assume_unique_for_key(resource.nonce.as_bytes())
        .map_err(|_| SignatureError::Malformed(format!("nonce must be {NONCE_LEN} bytes")))?;
    let mut data = B64
        .decode(resource.ciphertext.as_bytes())
        .map_err(|_| SignatureError::Malformed("ciphertext is not base64".into()))?;
    let plain = key
        .aead()?
        .open_in_place(
            nonce,
            Aad::from(resource.associated_data.as_bytes()),
            &mut data,
        )
        .map_err(|_| SignatureError::Decrypt)?;
    Ok(plain.to_vec())
}

/// Server side: encrypts `plaintext` as a callback resource. `nonce` must be 12 bytes
/// (use [`random_nonce`]`(12)`), and must never repeat under one key.
pub fn encrypt_resource(
    key: &ApiV3Key,
    plaintext: &[u8],
    associated_data: &str,
    nonce: &str,
    original_type: &str,
) -> Result<EncryptedResource, SignatureError> {
    let n = Nonce::try_assume_unique_for_key(nonce.as_bytes())
        .map_err(|_| SignatureError::Malformed(format!("nonce must be {NONCE_LEN} bytes")))?;
    let mut data = plaintext.to_vec();
    key.aead()?
        .seal_in_place_append_tag(n, Aad::from(associated_data.as_bytes()), &mut data)
        .map_err(|_| SignatureError::Decrypt)?;
    Ok(EncryptedResource {
        algorithm: AEAD_AES_256_GCM.to_string(),
        ciphertext: B64.encode(&data),
        associated_data: associated_data.to_string(),
        nonce: nonce.to_string(),
        original_type: Some(original_type.to_string()),
    })
}

/// Encrypts a sensitive field (e.g. a transfer's `user_name`) for WeChat Pay: RSA-OAEP with
/// SHA-1 and MGF1-SHA1 under the platform public key, base64. The request must then carry
/// `Wechatpay-Serial` naming that key.
pub fn encrypt_sensitive(platform_key: &PublicKey, plaintext: &str) -> Result<String, KeyError> {
    use aws_lc_rs::rsa::{OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1};
    let key = PublicEncryptingKey::from_der(platform_key.spki_der())
        .map_err(|e| KeyError::Rejected(e.to_string()))
        .and_then(|k| {
            OaepPublicEncryptingKey::new(k)
                .map_err(|_| KeyError::Rejected("not an RSA encryption key".into()))
        })?;
    let mut out = vec![0u8; key.ciphertext_size()];
    let ct = key
        .encrypt(&OAEP_SHA1_MGF1SHA1, plaintext.as_bytes(), &mut out, None)
        .map_err(|_| KeyError::Sign)?;
    Ok(B64.encode(ct))
}

/// Server side: decrypts a field made by [`encrypt_sensitive`] with the platform private key.
pub fn decrypt_sensitive(
    platform_key: &PrivateKey,
    ciphertext_b64: &str,
) -> Result<String, SignatureError> {
    use aws_lc_rs::rsa::{OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1};
    let der = platform_key
        .to_pkcs8_der()
        .map_err(|_| SignatureError::Decrypt)?;
    let key = PrivateDecryptingKey::from_pkcs8(&der)
        .map_err(|_| SignatureError::Decrypt)
        .and_then(|k| OaepPrivateDecryptingKey::new(k).map_err(|_| SignatureError::Decrypt))?;
    let ct = B64
        .decode(ciphertext_b64.trim().as_bytes())
        .map_err(|_| SignatureError::Malformed("ciphertext is not base64".into()))?;
    let mut out = vec![0u8; key.min_output_size()];
    let plain = key
        .decrypt(&OAEP_SHA1_MGF1SHA1, &ct, &mut out, None)
        .map_err(|_| SignatureError::Decrypt)?;
    String::from_utf8(plain.to_vec()).map_err(|_| SignatureError::Decrypt)
}

/// Server side: encrypts a platform certificate PEM for `GET /v3/certificates`
/// (associated data `certificate`, as WeChat Pay does).
pub fn encrypt_certificate(
    apiv3_key: &ApiV3Key,
    certificate_pem: &str,
    nonce: &str,
) -> Result<EncryptedResource, SignatureError> {
    encrypt_resource(
        apiv3_key,
        certificate_pem.as_bytes(),
        "certificate",
        nonce,
        "certificate",
    )
}

/// The message of client-side signatures: every line followed by `\n`.
pub fn lines_message(lines: &[&str]) -> String {
    let mut m = String::new();
    for l in lines {
        m.push_str(l);
        m.push('\n');
    }
    m
}

/// JSAPI / mini program `paySign` over `appId\ntimeStamp\nnonceStr\npackage\n`
/// (`package` is `prepay_id=...`); `signType` is `RSA` and not signed.
pub fn jsapi_pay_sign(
    key: &PrivateKey,
    app_id: &str,
    timestamp: &str,
    nonce_str: &str,
    package: &str,
) -> Result<String, KeyError> {
    key.sign_base64(lines_message(&[app_id, timestamp, nonce_str, package]).as_bytes())
}

/// APP `sign` over `appid\ntimestamp\nnoncestr\nprepayid\n`.
pub fn app_pay_sign(
    key: &PrivateKey,
    app_id: &str,
    timestamp: &str,
    nonce_str: &str,
    prepay_id: &str,
) -> Result<String, KeyError> {
    key.sign_base64(lines_message(&[app_id, timestamp, nonce_str, prepay_id]).as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::{test_cert_pem, test_key};
    use proptest::prelude::*;

    const NOW: i64 = 1_700_000_000;

    #[test]
    fn request_message_matches_the_documented_layout() {
        // The layout from WeChat Pay's signing guide (GET has an empty body line).
        assert_eq!(
            request_message(
                "GET",
                "/v3/certificates",
                1554208460,
                "593BEC0C930BF1AFEB40B4A08C8FB242",
                ""
            ),
            "GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"
        );
        assert_eq!(response_message("1", "n", b"{}"), b"1\nn\n{}\n");
        assert_eq!(
            lines_message(&[
                "wx8888888888888888",
                "1414561699",
                "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
                "prepay_id=wx201410272009395522657a690389285100"
            ]),
            "wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n"
        );
    }

    #[test]
    fn authorization_round_trip_and_server_verification() {
        let key = test_key(0);
        let public = key.public_key().unwrap();
        let body = r#"{"mchid":"1900000001"}"#;
        let auth = Authorization::sign(
            &key,
            "1900000001",
            "SERIAL1",
            "POST",
            "/v3/pay/transactions/native",
            body,
            NOW,
            "N1",
        )
        .unwrap();
        let header = auth.to_header_value();
        assert!(header.starts_with("WECHATPAY2-SHA256-RSA2048 mchid=\"1900000001\","));
        assert_eq!(Authorization::parse(&header).unwrap(), auth);
        let lookup =
            |m: &str, s: &str| (m == "1900000001" && s == "SERIAL1").then(|| public.clone());
        let path = "/v3/pay/transactions/native";
        assert!(verify_request(&header, "POST", path, body, NOW, 300, lookup).is_ok());
        assert_eq!(
            verify_request(&header, "POST", path, "{}", NOW, 300, lookup),
            Err(SignatureError::Invalid)
        );
        assert_eq!(
            verify_request(&header, "GET", path, body, NOW, 300, lookup),
            Err(SignatureError::Invalid)
        );
        assert!(matches!(
            verify_request(&header, "POST", path, body, NOW + 301, 300, lookup),
            Err(SignatureError::Expired { .. })
        ));
        let other = |_: &str, _: &str| Some(test_key(1).public_key().unwrap());
        assert_eq!(
            verify_request(&header, "POST", path, body, NOW, 300, other),
            Err(SignatureError::Invalid)
        );
        let none = |_: &str, _: &str| None;
        assert!(matches!(
            verify_request(&header, "POST", path, body, NOW, 300, none),
            Err(SignatureError::UnknownKey(_))
        ));
        // Field order does not matter.
        let reordered = format!(
            "{AUTH_SCHEMA} serial_no=\"SERIAL1\",timestamp=\"{NOW}\",signature=\"{}\",nonce_str=\"N1\",mchid=\"1900000001\"",
            auth.signature
        );
        assert!(verify_request(&reordered, "POST", path, body, NOW, 300, lookup).is_ok());
    }

    #[test]
    fn response_signature_with_certificate_serial_and_public_key_id() {
        let cert_key = test_key(1);
        let pub_key = test_key(2);
        let mut ring = KeyRing::new();
        let serial = ring
            .insert_certificate_pem(&test_cert_pem(&cert_key, &[0x51, 0x57, 0xF0]))
            .unwrap();
        ring.insert(
            "PUB_KEY_ID_0114232134912410000000000000",
            pub_key.public_key().unwrap(),
        );
        let body = br#"{"prepay_id":"wx1"}"#;
        for (key, id) in [
            (&cert_key, serial.as_str()),
            (&pub_key, "PUB_KEY_ID_0114232134912410000000000000"),
        ] {
            let h = SignedHeaders::sign(key, id, body, NOW, "abc").unwrap();
            assert!(h.verify(body, &ring, NOW, 300).is_ok(), "{id}");
            assert_eq!(
                h.verify(b"{\"prepay_id\":\"wx2\"}", &ring, NOW, 300),
                Err(SignatureError::Invalid)
            );
            assert!(matches!(
                h.verify(body, &ring, NOW - 1000, 300),
                Err(SignatureError::Expired { .. })
            ));
            // Signed by one key but naming the other: refused.
            let mut wrong = h.clone();
            wrong.serial = if id == serial {
                "PUB_KEY_ID_0114232134912410000000000000".into()
            } else {
                serial.clone()
            };
            assert_eq!(
                wrong.verify(body, &ring, NOW, 300),
                Err(SignatureError::Invalid)
            );
        }
        let h = SignedHeaders::sign(&cert_key, "UNKNOWN", body, NOW, "abc").unwrap();
        assert!(matches!(
            h.verify(body, &ring, NOW, 300),
            Err(SignatureError::UnknownKey(_))
        ));
        let mut bad_ts = SignedHeaders::sign(&cert_key, &serial, body, NOW, "abc").unwrap();
        bad_ts.timestamp = "soon".into();
        assert!(matches!(
            bad_ts.verify(body, &ring, NOW, 300),
            Err(SignatureError::Malformed(_))
        ));
        // Missing headers are named.
        let got = SignedHeaders::from_headers(|n| (n != HEADER_SIGNATURE).then_some("1"));
        assert_eq!(got, Err(SignatureError::Missing(HEADER_SIGNATURE)));
    }

    #[test]
    fn resource_encryption_round_trip_and_failures() {
        let (key, text) = ApiV3Key::generate();
        assert_eq!(text.len(), 32);
        let plain = br#"{"out_trade_no":"A1","trade_state":"SUCCESS"}"#;
        let res =
            encrypt_resource(&key, plain, "transaction", "0123456789ab", "transaction").unwrap();
        assert_eq!(decrypt_resource(&key, &res).unwrap(), plain);
        let (other, _) = ApiV3Key::generate();
        assert_eq!(decrypt_resource(&other, &res), Err(SignatureError::Decrypt));
        let mut aad = res.clone();
        aad.associated_data = "refund".into();
        assert_eq!(decrypt_resource(&key, &aad), Err(SignatureError::Decrypt));
        let mut nonce = res.clone();
        nonce.nonce = "0123456789ac".into();
        assert_eq!(decrypt_resource(&key, &nonce), Err(SignatureError::Decrypt));
        let mut short = res.clone();
        short.nonce = "short".into();
        assert!(matches!(
            decrypt_resource(&key, &short),
            Err(SignatureError::Malformed(_))
        ));
        let mut tampered = res.clone();
        let mut raw = B64.decode(&tampered.ciphertext).unwrap();
        raw[0] ^= 1;
        tampered.ciphertext = B64.encode(raw);
        assert_eq!(
            decrypt_resource(&key, &tampered),
            Err(SignatureError::Decrypt)
        );
        let mut algo = res;
        algo.algorithm = "AES".into();
        assert!(matches!(
            decrypt_resource(&key, &algo),
            Err(SignatureError::Malformed(_))
        ));
        assert!(ApiV3Key::new("short").is_err());
    }

    #[test]
    fn extreme_timestamps_are_expired_not_overflowed() {
        for (ts, now) in [
            (i64::MIN, NOW),
            (i64::MAX, NOW),
            (i64::MIN, i64::MAX),
            (i64::MAX, i64::MIN),
            (i64::MIN, -NOW),
            (i64::MAX, -NOW),
        ] {
            assert!(
                matches!(
                    check_window(ts, now, DEFAULT_WINDOW_SECS),
                    Err(SignatureError::Expired { .. })
                ),
                "{ts} at {now}"
            );
        }
        assert!(check_window(i64::MIN, i64::MIN, DEFAULT_WINDOW_SECS).is_ok());
        assert!(check_window(NOW + DEFAULT_WINDOW_SECS, NOW, DEFAULT_WINDOW_SECS).is_ok());
        assert!(check_window(NOW - DEFAULT_WINDOW_SECS - 1, NOW, DEFAULT_WINDOW_SECS).is_err());
        assert!(
            check_window(NOW, NOW, -1).is_err(),
            "a negative window accepts nothing"
        );
        // Through the response check, with the timestamp as a header would carry it.
        let keys = KeyRing::default();
        for ts in [i64::MIN, i64::MAX] {
            let h = SignedHeaders {
                timestamp: ts.to_string(),
                nonce: "n".into(),
                signature: "c2ln".into(),
                serial: "PUB_KEY_ID_X".into(),
            };
            assert!(matches!(
                h.verify(b"{}", &keys, NOW, DEFAULT_WINDOW_SECS),
                Err(SignatureError::Expired { .. })
            ));
        }
        // And through the request check.
        let header = format!(
            r#"{AUTH_SCHEMA} mchid="1",nonce_str="n",signature="c2ln",timestamp="{}",serial_no="S""#,
            i64::MIN
        );
        assert!(matches!(
            verify_request(&header, "GET", "/", "", NOW, DEFAULT_WINDOW_SECS, |_, _| {
                None
            }),
            Err(SignatureError::Expired { .. })
        ));
    }

    #[test]
    fn client_signatures_verify_with_the_merchant_public_key() {
        let key = test_key(0);
        let public = key.public_key().unwrap();
        let sig = jsapi_pay_sign(&key, "wx1", "1414561699", "abc", "prepay_id=p1").unwrap();
        assert!(public.verify_base64(b"wx1\n1414561699\nabc\nprepay_id=p1\n", &sig));
        let sig = app_pay_sign(&key, "wx1", "1414561699", "abc", "p1").unwrap();
        assert!(public.verify_base64(b"wx1\n1414561699\nabc\np1\n", &sig));
    }

    #[test]
    fn sensitive_fields_round_trip() {
        let platform = test_key(1);
        let ct = encrypt_sensitive(&platform.public_key().unwrap(), "张三").unwrap();
        assert_eq!(decrypt_sensitive(&platform, &ct).unwrap(), "张三");
        // OAEP is randomised: the same name never gives the same ciphertext twice.
        assert_ne!(
            ct,
            encrypt_sensitive(&platform.public_key().unwrap(), "张三").unwrap()
        );
        assert_eq!(
            decrypt_sensitive(&test_key(2), &ct),
            Err(SignatureError::Decrypt)
        );
        assert!(decrypt_sensitive(&platform, "!!").is_err());
    }

    proptest! {
        #[test]
        fn authorization_parser_never_panics(text in ".{0,200}") {
            let _ = Authorization::parse(&text);
            let _ = Authorization::parse(&format!("{AUTH_SCHEMA} {text}"));
        }

        #[test]
        fn decrypt_never_panics(ct in ".{0,80}", nonce in ".{0,16}", aad in ".{0,16}") {
            let (key, _) = ApiV3Key::generate();
            let r = EncryptedResource {
                algorithm: AEAD_AES_256_GCM.into(),
                ciphertext: ct,
                associated_data: aad,
                nonce,
                original_type: None,
            };
            prop_assert!(decrypt_resource(&key, &r).is_err());
        }
    }
}
