//! RSA keys and certificates: loading (PEM PKCS#1, PKCS#8, X.509 certificates, SPKI public
//! keys, or the bare base64 DER that Alipay's console hands out), signing with SHA256withRSA
//! (RSA PKCS#1 v1.5), verifying, and generating keys for tests and the sandbox.
//!
//! Private-key operations use aws-lc-rs (constant time). Certificates are read with
//! `x509-cert` only to learn their serial number, public key and validity.

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    KeyPair as _, ParsedPublicKey, RsaKeyPair, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use x509_cert::der::{Decode, Encode, Reader, SliceReader};

/// Why a key or certificate could not be loaded or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The text is neither PEM nor base64 DER.
    #[error("not a PEM or base64 DER key: {0}")]
    Encoding(String),
    /// The PEM block has a label we do not read here.
    #[error("unexpected PEM label `{0}`")]
    UnexpectedLabel(String),
    /// The DER does not hold an acceptable RSA key (or the key is too small).
    #[error("key rejected: {0}")]
    Rejected(String),
    /// The certificate cannot be parsed or does not hold an RSA key.
    #[error("bad certificate: {0}")]
    Certificate(String),
    /// The signing operation failed.
    #[error("signing failed")]
    Sign,
    /// Key generation failed.
    #[error("key generation failed")]
    Generate,
}

/// One PEM block: its label and the DER it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PemBlock {
    /// The label between `-----BEGIN ` and `-----`, e.g. `PRIVATE KEY`.
    pub label: String,
    /// The decoded DER.
    pub der: Vec<u8>,
}

/// Reads the first PEM block of `text`. Tolerant on purpose about line length, CRLF and
/// surrounding text, because merchant key files are often hand-copied.
pub fn pem_decode(text: &str) -> Result<PemBlock, KeyError> {
    let begin = text
        .find("-----BEGIN ")
        .ok_or_else(|| KeyError::Encoding("no BEGIN line".into()))?;
    let after_begin = &text[begin + "-----BEGIN ".len()..];
    let label_end = after_begin
        .find("-----")
        .ok_or_else(|| KeyError::Encoding("unterminated BEGIN line".into()))?;
    let label = after_begin[..label_end].to_string();
    let body_and_rest = &after_begin[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let end = body_and_rest
        .find(&end_marker)
        .ok_or_else(|| KeyError::Encoding(format!("no END line for {label}")))?;
    let der = decode_base64_lenient(&body_and_rest[..end])?;
    Ok(PemBlock { label, der })
}

/// Encodes DER as PEM with 64-character lines and `\n` endings.
pub fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

fn decode_base64_lenient(text: &str) -> Result<Vec<u8>, KeyError> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    B64.decode(compact.as_bytes())
        .map_err(|e| KeyError::Encoding(e.to_string()))
}

/// Either a PEM block or bare base64 DER (as Alipay's key tool prints keys).
fn pem_or_bare(text: &str) -> Result<PemBlock, KeyError> {
    if text.contains("-----BEGIN ") {
        pem_decode(text)
    } else {
        Ok(PemBlock {
            label: String::new(),
            der: decode_base64_lenient(text)?,
        })
    }
}

/// A merchant's (or, in the sandbox, the provider's) RSA private key for SHA256withRSA.
#[derive(Clone)]
pub struct PrivateKey {
    pair: Arc<RsaKeyPair>,
}

impl fmt::Debug for PrivateKey {
    // Never print key material, not even in debug logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey(<redacted>)")
    }
}

impl PrivateKey {
    /// Loads a key from PEM (`PRIVATE KEY` = PKCS#8, `RSA PRIVATE KEY` = PKCS#1) or from
    /// bare base64 DER of either form.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let block = pem_or_bare(text)?;
        match block.label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_der(&block.der),
            "RSA PRIVATE KEY" => Self::from_pkcs1_der(&block.der),
            "" => Self::from_pkcs8_der(&block.der).or_else(|_| Self::from_pkcs1_der(&block.der)),
            other => Err(KeyError::UnexpectedLabel(other.to_string())),
        }
    }

    /// Loads a PKCS#8 `PrivateKeyInfo` DER.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self, KeyError> {
        RsaKeyPair::from_pkcs8(der)
            .map(Self::wrap)
            .map_err(|e| KeyError::Rejected(e.to_string()))
    }

    /// Loads a PKCS#1 `RSAPrivateKey` DER.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        RsaKeyPair::from_der(der)
            .map(Self::wrap)
            .map_err(|e| KeyError::Rejected(e.to_string()))
    }

    fn wrap(pair: RsaKeyPair) -> Self {
        PrivateKey {
            pair: Arc::new(pair),
        }
    }

    /// Generates a fresh RSA-2048 key (tests, the sandbox's merchant and platform keys).
    pub fn generate_rsa2048() -> Result<Self, KeyError> {
        RsaKeyPair::generate(KeySize::Rsa2048)
            .map(Self::wrap)
            .map_err(|_| KeyError::Generate)
    }

    /// SHA256withRSA (PKCS#1 v1.5) over `message`. Deterministic: the same key and message
    /// always give the same bytes, which is what lets us compare with the providers' SDKs.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        let mut signature = vec![0u8; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                message,
                &mut signature,
            )
            .map_err(|_| KeyError::Sign)?;
        Ok(signature)
    }

    /// [`PrivateKey::sign`], base64 (standard alphabet, padded) as both providers expect.
    pub fn sign_base64(&self, message: &[u8]) -> Result<String, KeyError> {
        Ok(B64.encode(self.sign(message)?))
    }

    /// The matching public key.
    pub fn public_key(&self) -> Result<PublicKey, KeyError> {
        let spki: PublicKeyX509Der<'static> = self
            .pair
            .public_key()
            .as_der()
            .map_err(|_| KeyError::Rejected("cannot encode public key".into()))?;
        PublicKey::from_spki_der(spki.as_ref())
    }

    /// The key as PKCS#8 DER (handle as a secret).
    pub fn to_pkcs8_der(&self) -> Result<Vec<u8>, KeyError> {
        let der: Pkcs8V1Der<'static> = self
            .pair
            .as_der()
            .map_err(|_| KeyError::Rejected("cannot encode private key".into()))?;
        Ok(der.as_ref().to_vec())
    }

    /// The key as PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`).
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        Ok(pem_encode("PRIVATE KEY", &self.to_pkcs8_der()?))
    }

    /// The key as PKCS#1 PEM (`-----BEGIN RSA PRIVATE KEY-----`), which several SDKs expect.
    pub fn to_pkcs1_pem(&self) -> Result<String, KeyError> {
        Ok(pem_encode(
            "RSA PRIVATE KEY",
            &pkcs8_to_pkcs1_der(&self.to_pkcs8_der()?)?,
        ))
    }
}

/// Extracts the PKCS#1 `RSAPrivateKey` carried inside a PKCS#8 `PrivateKeyInfo`.
pub fn pkcs8_to_pkcs1_der(pkcs8: &[u8]) -> Result<Vec<u8>, KeyError> {
    let bad = |e: x509_cert::der::Error| KeyError::Rejected(e.to_string());
    let mut reader = SliceReader::new(pkcs8).map_err(bad)?;
    reader
        .sequence(|r| {
            let _version: u8 = r.decode()?;
            let _algorithm: x509_cert::spki::AlgorithmIdentifierOwned = r.decode()?;
            let key: x509_cert::der::asn1::OctetString = r.decode()?;
            // Attributes and the public key ([0], [1]) may follow; they are not needed.
            while !r.is_finished() {
                let _skip: x509_cert::der::asn1::Any = r.decode()?;
            }
            Ok(key.into_bytes())
        })
        .map_err(bad)
}

/// An RSA public key, parsed once, for SHA256withRSA verification.
#[derive(Clone)]
pub struct PublicKey {
    parsed: Arc<ParsedPublicKey>,
    spki_der: Arc<Vec<u8>>,
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({} bytes SPKI)", self.spki_der.len())
    }
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.spki_der == other.spki_der
    }
}

const RSA_ENCRYPTION_OID: &str = "1.2.840.113549.1.1.1";

impl PublicKey {
    /// Loads `PUBLIC KEY` (SPKI) or `RSA PUBLIC KEY` (PKCS#1) PEM, or bare base64 SPKI DER
    /// (Alipay's public key as its console shows it).
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let block = pem_or_bare(text)?;
        match block.label.as_str() {
            "PUBLIC KEY" | "" => Self::from_spki_der(&block.der),
            "RSA PUBLIC KEY" => Self::from_pkcs1_der(&block.der),
            "CERTIFICATE" => Ok(Certificate::from_der(&block.der)?.public_key),
            other => Err(KeyError::UnexpectedLabel(other.to_string())),
        }
    }

    /// Loads an X.509 `SubjectPublicKeyInfo` DER holding an RSA key.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        let spki = x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(der)
            .map_err(|e| KeyError::Rejected(e.to_string()))?;
        if spki.algorithm.oid.to_string() != RSA_ENCRYPTION_OID {
            return Err(KeyError::Rejected(format!(
                "not an RSA key (algorithm {})",
                spki.algorithm.oid
            )));
        }
        let parsed = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der)
            .map_err(|e| KeyError::Rejected(e.to_string()))?;
        Ok(PublicKey {
            parsed: Arc::new(parsed),
            spki_der: Arc::new(der.to_vec()),
        })
    }

    /// Loads a PKCS#1 `RSAPublicKey` DER.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, KeyError> {
        let key = aws_lc_rs::signature::RsaSubjectPublicKey::from_der(der)
            .map_err(|e| KeyError::Rejected(e.to_string()))?;
        let spki: PublicKeyX509Der<'static> = key
            .as_der()
            .map_err(|_| KeyError::Rejected("cannot encode public key".into()))?;
        Self::from_spki_der(spki.as_ref())
    }

    /// Verifies a SHA256withRSA signature over `message`.
    pub fn verify(&self, message: &[u8], signature: &[u8]) -> bool {
        self.parsed.verify_sig(message, signature).is_ok()
    }

    /// Verifies a base64 SHA256withRSA signature; malformed base64 is simply "invalid".
    pub fn verify_base64(&self, message: &[u8], signature_b64: &str) -> bool {
        match B64.decode(signature_b64.trim().as_bytes()) {
            Ok(sig) => self.verify(message, &sig),
            Err(_) => false,
        }
    }

    /// The key as SPKI DER.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The key as SPKI PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn to_pem(&self) -> String {
        pem_encode("PUBLIC KEY", &self.spki_der)
    }

    /// The key as bare base64 SPKI DER, the way Alipay shows public keys.
    pub fn to_bare_base64(&self) -> String {
        B64.encode(self.spki_der.as_slice())
    }
}

/// What we need from an X.509 certificate: its serial (as WeChat Pay writes it: upper-case
/// hex without leading zero bytes), its RSA public key and its validity.
#[derive(Debug, Clone)]
pub struct Certificate {
    /// Upper-case hex serial number, e.g. `5157F09EFDC096DE15EBE81A47057A7232F1B8E1`.
    pub serial_hex: String,
    /// The subject's public key.
    pub public_key: PublicKey,
    /// Not valid before (Unix seconds).
    pub not_before_unix: i64,
    /// Not valid after (Unix seconds).
    pub not_after_unix: i64,
}

impl Certificate {
    /// Parses a `CERTIFICATE` PEM block.
    pub fn from_pem(text: &str) -> Result<Self, KeyError> {
        let block = pem_decode(text)?;
        if block.label != "CERTIFICATE" {
            return Err(KeyError::UnexpectedLabel(block.label));
        }
        Self::from_der(&block.der)
    }

    /// Parses a DER certificate.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| KeyError::Certificate(e.to_string()))?;
        let tbs = &cert.tbs_certificate;
        let serial_bytes = tbs.serial_number.as_bytes();
        // DER integers carry a leading 0x00 when the high bit is set; WeChat's serial does not.
        let first_significant = serial_bytes
            .iter()
            .position(|b| *b != 0)
            .unwrap_or(serial_bytes.len().saturating_sub(1));
        let serial_hex: String = serial_bytes[first_significant..]
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect();
        let spki_der = tbs
            .subject_public_key_info
            .to_der()
            .map_err(|e| KeyError::Certificate(e.to_string()))?;
        let public_key = PublicKey::from_spki_der(&spki_der)?;
        let unix = |t: x509_cert::time::Time| t.to_unix_duration().as_secs() as i64;
        Ok(Certificate {
            serial_hex,
            public_key,
            not_before_unix: unix(tbs.validity.not_before),
            not_after_unix: unix(tbs.validity.not_after),
        })
    }
}

/// Several verification keys live at once, each under an id: a WeChat Pay platform
/// certificate serial or a `PUB_KEY_ID_...` public-key id. During a rotation or the
/// certificate -> public-key migration, messages signed with the old key keep verifying
/// until the old key is removed.
#[derive(Debug, Clone, Default)]
pub struct KeyRing {
    by_id: HashMap<String, PublicKey>,
}

impl KeyRing {
    /// An empty ring.
    pub fn new() -> Self {
        Self::default()
    }

    /// Normalises ids: certificate serials are hex and compared case-insensitively.
    fn norm(id: &str) -> String {
        id.trim().to_ascii_uppercase()
    }

    /// Adds (or replaces) a key under `id`.
    pub fn insert(&mut self, id: &str, key: PublicKey) {
        self.by_id.insert(Self::norm(id), key);
    }

    /// Adds a platform certificate under its own serial number; returns the serial.
    pub fn insert_certificate(&mut self, cert: &Certificate) -> String {
        self.insert(&cert.serial_hex, cert.public_key.clone());
        cert.serial_hex.clone()
    }

    /// Adds a platform certificate from PEM; returns its serial.
    pub fn insert_certificate_pem(&mut self, pem: &str) -> Result<String, KeyError> {
        let cert = Certificate::from_pem(pem)?;
        Ok(self.insert_certificate(&cert))
    }

    /// Adds a bare public key (SPKI PEM) under its public-key id (`PUB_KEY_ID_...`).
    pub fn insert_public_key_pem(&mut self, id: &str, pem: &str) -> Result<(), KeyError> {
        self.insert(id, PublicKey::from_pem(pem)?);
        Ok(())
    }

    /// Removes the key under `id` (end of a rotation).
    pub fn remove(&mut self, id: &str) -> Option<PublicKey> {
        self.by_id.remove(&Self::norm(id))
    }

    /// The key under `id`.
    pub fn get(&self, id: &str) -> Option<&PublicKey> {
        self.by_id.get(&Self::norm(id))
    }

    /// How many keys are live.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether no key is live.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// RSA key generation is slow in debug builds: tests share a few keys.
    pub(crate) fn test_key(n: usize) -> PrivateKey {
        static KEYS: OnceLock<Vec<PrivateKey>> = OnceLock::new();
        KEYS.get_or_init(|| {
            (0..3)
                .map(|_| PrivateKey::generate_rsa2048().unwrap())
                .collect()
        })[n]
            .clone()
    }

    /// A self-signed certificate for `key` with the given serial bytes.
    pub(crate) fn test_cert_pem(key: &PrivateKey, serial: &[u8]) -> String {
        let pem = key.to_pkcs8_pem().unwrap();
        let kp =
            rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256).unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["wechatpay.test".into()]).unwrap();
        params.serial_number = Some(rcgen::SerialNumber::from_slice(serial));
        params.self_signed(&kp).unwrap().pem()
    }

    #[test]
    fn pkcs8_and_pkcs1_pem_load_the_same_key() {
        let key = test_key(0);
        let p8 = PrivateKey::from_pem(&key.to_pkcs8_pem().unwrap()).unwrap();
        let p1_pem = key.to_pkcs1_pem().unwrap();
        assert!(p1_pem.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        let p1 = PrivateKey::from_pem(&p1_pem).unwrap();
        // Deterministic PKCS#1 v1.5: same key, same message, same bytes.
        let msg = b"paydesk";
        assert_eq!(p8.sign(msg).unwrap(), p1.sign(msg).unwrap());
        assert_eq!(key.sign(msg).unwrap(), p1.sign(msg).unwrap());
        // Bare base64 (Alipay style), both forms, CRLF tolerated.
        let bare8 = B64.encode(key.to_pkcs8_der().unwrap());
        assert!(PrivateKey::from_pem(&bare8).is_ok());
        let crlf = key.to_pkcs8_pem().unwrap().replace('\n', "\r\n");
        assert!(PrivateKey::from_pem(&crlf).is_ok());
    }

    #[test]
    fn public_key_forms_verify() {
        let key = test_key(0);
        let msg = b"GET\n/v3/x\n1\nn\n\n";
        let sig = key.sign(msg).unwrap();
        let public = key.public_key().unwrap();
        assert!(public.verify(msg, &sig));
        let from_pem = PublicKey::from_pem(&public.to_pem()).unwrap();
        assert!(from_pem.verify(msg, &sig));
        let from_bare = PublicKey::from_pem(&public.to_bare_base64()).unwrap();
        assert!(from_bare.verify(msg, &sig));
        assert!(!public.verify(b"other", &sig));
        assert!(!test_key(1).public_key().unwrap().verify(msg, &sig));
        assert!(!public.verify_base64(msg, "not base64!"));
    }

    #[test]
    fn certificate_serial_and_key() {
        let key = test_key(1);
        // High bit set: DER adds a 0x00 that must not appear in the serial.
        let pem = test_cert_pem(&key, &[0x8F, 0x01, 0xAB]);
        let cert = Certificate::from_pem(&pem).unwrap();
        assert_eq!(cert.serial_hex, "8F01AB");
        assert!(cert.not_after_unix > cert.not_before_unix);
        let sig = key.sign(b"m").unwrap();
        assert!(cert.public_key.verify(b"m", &sig));
        assert!(PublicKey::from_pem(&pem).unwrap().verify(b"m", &sig));
        let mut ring = KeyRing::new();
        assert_eq!(ring.insert_certificate_pem(&pem).unwrap(), "8F01AB");
        assert!(ring.get("8f01ab").is_some());
    }

    #[test]
    fn garbage_is_rejected_not_panicking() {
        for bad in [
            "",
            "-----BEGIN PRIVATE KEY-----\n!!!\n-----END PRIVATE KEY-----",
            "-----BEGIN PRIVATE KEY-----\nAAAA\n",
            "-----BEGIN FOO-----\nAAAA\n-----END FOO-----",
            "AAAA",
        ] {
            assert!(PrivateKey::from_pem(bad).is_err(), "{bad:?}");
            assert!(PublicKey::from_pem(bad).is_err(), "{bad:?}");
            assert!(Certificate::from_pem(bad).is_err(), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn pem_parsers_never_panic(text in ".{0,300}") {
            let _ = pem_decode(&text);
            let _ = PublicKey::from_pem(&text);
            let _ = PrivateKey::from_pem(&text);
            let _ = Certificate::from_pem(&text);
        }

        #[test]
        fn der_parsers_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
            let _ = PublicKey::from_spki_der(&bytes);
            let _ = PublicKey::from_pkcs1_der(&bytes);
            let _ = Certificate::from_der(&bytes);
            let _ = pkcs8_to_pkcs1_der(&bytes);
        }
    }
}
