//! Secrets at rest: AES-256-GCM under a 32-byte master key.
//!
//! The master key comes from `PAYDESK_MASTER_KEY` (base64 or 64 hex digits) or, for
//! the embedded default, from a key file created on first start with mode 0600 in the
//! data directory, beside the database file (never inside it: a copy of the database
//! alone reveals no secret). Each ciphertext is bound to its record id as associated
//! data, so a ciphertext moved to another row does not decrypt.
//!
//! Merchant account keys use envelope encryption: each key version is sealed under its
//! own random [`DataKey`], and that data key is wrapped by a [`KeyWrapper`] (the master
//! key here; a KMS later). Both are bound to the record id and key version.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use std::fmt;
use std::path::Path;

/// The stored format's version tag.
const PREFIX: &str = "v1:";

/// Why a master key or a secret could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The key material is malformed.
    #[error("master key: {0}")]
    BadKey(String),
    /// The key file could not be read or created.
    #[error("master key file {path}: {source}")]
    KeyFile {
        /// The file.
        path: String,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// Encryption failed (only for inputs far larger than any secret).
    #[error("secret could not be encrypted")]
    Seal,
    /// The ciphertext is malformed, or was made with another key or for another record.
    #[error("secret does not decrypt with this master key")]
    Decrypt,
}

/// The master key. Debug output never shows the key.
pub struct MasterKey {
    key: LessSafeKey,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

impl MasterKey {
    /// A key from 32 raw bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| SecretError::BadKey("must be exactly 32 bytes".into()))?;
        Ok(MasterKey {
            key: LessSafeKey::new(unbound),
        })
    }

    /// A key written as base64 (44 characters) or hex (64 characters).
    pub fn parse(text: &str) -> Result<Self, SecretError> {
        let text = text.trim();
        let bytes = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            (0..32)
                .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
                .collect::<Result<Vec<u8>, _>>()
                .map_err(|_| SecretError::BadKey("bad hex".into()))?
        } else {
            STANDARD
                .decode(text)
                .map_err(|_| SecretError::BadKey("neither 64 hex digits nor base64".into()))?
        };
        Self::from_bytes(&bytes)
    }

    /// Reads the key file, creating it (mode 0600) with a fresh random key if missing.
    pub fn load_or_create_file(path: &Path) -> Result<Self, SecretError> {
        let io = |source| SecretError::KeyFile {
            path: path.display().to_string(),
            source,
        };
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir).map_err(io)?;
                }
                let key = paydesk_core::ids::random_bytes::<32>();
                write_private_file(path, format!("{}\n", STANDARD.encode(key)).as_bytes())
                    .map_err(io)?;
                Self::from_bytes(&key)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// Encrypts `plaintext` for the record `record_id`.
    pub fn seal(&self, record_id: &str, plaintext: &str) -> Result<String, SecretError> {
        seal_bytes(&self.key, record_id, plaintext.as_bytes())
    }

    /// Decrypts what `seal` made for the same record id.
    pub fn open(&self, record_id: &str, sealed: &str) -> Result<String, SecretError> {
        String::from_utf8(open_bytes(&self.key, record_id, sealed)?)
            .map_err(|_| SecretError::Decrypt)
    }
}

/// AES-256-GCM with a fresh 96-bit nonce; `v1:` + base64(nonce || ciphertext || tag).
fn seal_bytes(key: &LessSafeKey, aad: &str, plaintext: &[u8]) -> Result<String, SecretError> {
    let nonce_bytes = paydesk_core::ids::random_bytes::<NONCE_LEN>();
    let mut buf = plaintext.to_vec();
    let nonce = Nonce::assume_unique_for_key(nonce_bytes);
    key.seal_in_place_append_tag(nonce, Aad::from(aad.as_bytes()), &mut buf)
        .map_err(|_| SecretError::Seal)?;
    let mut out = nonce_bytes.to_vec();
    out.extend_from_slice(&buf);
    Ok(format!("{PREFIX}{}", STANDARD.encode(out)))
}

fn open_bytes(key: &LessSafeKey, aad: &str, sealed: &str) -> Result<Vec<u8>, SecretError> {
    let body = sealed.strip_prefix(PREFIX).ok_or(SecretError::Decrypt)?;
    let raw = STANDARD.decode(body).map_err(|_| SecretError::Decrypt)?;
    if raw.len() < NONCE_LEN {
        return Err(SecretError::Decrypt);
    }
    let (nonce, ct) = raw.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| SecretError::Decrypt)?;
    let mut ct = ct.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut ct)
        .map_err(|_| SecretError::Decrypt)?;
    Ok(plain.to_vec())
}

/// A 32-byte AES-256-GCM data key: one per sealed record version (envelope encryption).
/// It exists in clear only in memory; stored, it is always wrapped by a [`KeyWrapper`].
/// `Debug` never shows it.
pub struct DataKey {
    raw: [u8; 32],
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

impl Drop for DataKey {
    fn drop(&mut self) {
        // Best effort: do not leave the key in freed memory.
        self.raw = [0u8; 32];
        std::hint::black_box(&self.raw);
    }
}

impl DataKey {
    /// A fresh random key (CSPRNG).
    pub fn generate() -> Self {
        DataKey {
            raw: paydesk_core::ids::random_bytes::<32>(),
        }
    }

    /// A key from its 32 bytes (what [`KeyWrapper::unwrap`] recovers).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SecretError> {
        let raw: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SecretError::BadKey("a data key is exactly 32 bytes".into()))?;
        Ok(DataKey { raw })
    }

    /// The raw bytes, for a [`KeyWrapper`] to wrap.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.raw
    }

    fn aead(&self) -> Result<LessSafeKey, SecretError> {
        let unbound = UnboundKey::new(&AES_256_GCM, &self.raw)
            .map_err(|_| SecretError::BadKey("data key".into()))?;
        Ok(LessSafeKey::new(unbound))
    }

    /// Encrypts `plaintext`, bound to `context` (associated data).
    pub fn seal(&self, context: &str, plaintext: &str) -> Result<String, SecretError> {
        seal_bytes(&self.aead()?, context, plaintext.as_bytes())
    }

    /// Decrypts what `seal` made for the same context.
    pub fn open(&self, context: &str, sealed: &str) -> Result<String, SecretError> {
        String::from_utf8(open_bytes(&self.aead()?, context, sealed)?)
            .map_err(|_| SecretError::Decrypt)
    }
}

/// Wraps and unwraps data keys: the master key here; a KMS implements the same interface
/// later (its `wrap` is an Encrypt call with `context` as the encryption context).
pub trait KeyWrapper: Send + Sync + fmt::Debug {
    /// Wraps `key` for storage, bound to `context` (a wrapped key moved to another record
    /// does not unwrap).
    fn wrap(&self, context: &str, key: &DataKey) -> Result<String, SecretError>;

    /// Recovers a data key from what [`KeyWrapper::wrap`] made for the same context.
    fn unwrap(&self, context: &str, wrapped: &str) -> Result<DataKey, SecretError>;
}

impl KeyWrapper for MasterKey {
    fn wrap(&self, context: &str, key: &DataKey) -> Result<String, SecretError> {
        seal_bytes(&self.key, context, key.as_bytes())
    }

    fn unwrap(&self, context: &str, wrapped: &str) -> Result<DataKey, SecretError> {
        let mut raw = open_bytes(&self.key, context, wrapped)?;
        let key = DataKey::from_bytes(&raw).map_err(|_| SecretError::Decrypt);
        raw.fill(0);
        key
    }
}

/// A secret sealed under its own data key, which is wrapped by a [`KeyWrapper`].
#[derive(Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The data key, wrapped.
    pub wrapped_data_key: String,
    /// The secret, sealed with the data key.
    pub ciphertext: String,
}

impl fmt::Debug for Envelope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Envelope(..)")
    }
}

impl Envelope {
    /// Seals `plaintext` under a fresh data key; both the data key's wrapping and the
    /// ciphertext are bound to `context` (e.g. the record id and key version).
    pub fn seal(
        wrapper: &dyn KeyWrapper,
        context: &str,
        plaintext: &str,
    ) -> Result<Self, SecretError> {
        let key = DataKey::generate();
        Ok(Envelope {
            wrapped_data_key: wrapper.wrap(context, &key)?,
            ciphertext: key.seal(context, plaintext)?,
        })
    }

    /// Opens what [`Envelope::seal`] made for the same context.
    pub fn open(&self, wrapper: &dyn KeyWrapper, context: &str) -> Result<String, SecretError> {
        wrapper
            .unwrap(context, &self.wrapped_data_key)?
            .open(context, &self.ciphertext)
    }
}

#[cfg(unix)]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents)?;
    f.sync_all()
}

#[cfg(not(unix))]
fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_bound_to_record() {
        let k = MasterKey::from_bytes(&[7u8; 32]).unwrap();
        let sealed = k.seal("bl_1", "sk_secret").unwrap();
        assert!(!sealed.contains("sk_secret"));
        assert_eq!(k.open("bl_1", &sealed).unwrap(), "sk_secret");
        assert!(k.open("bl_2", &sealed).is_err(), "bound to its record");
        let other = MasterKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.open("bl_1", &sealed).is_err(), "another key fails");
        assert!(k.open("bl_1", "v1:!!").is_err());
        assert!(k.open("bl_1", "v1:").is_err());
        assert!(k.open("bl_1", "plain").is_err());
        assert_ne!(
            k.seal("bl_1", "x").unwrap(),
            k.seal("bl_1", "x").unwrap(),
            "fresh nonce each time"
        );
    }

    #[test]
    fn envelope_round_trip_bound_to_context_and_key() {
        let k = MasterKey::from_bytes(&[7u8; 32]).unwrap();
        let e = Envelope::seal(&k, "acct:wx:1", "-----BEGIN PRIVATE KEY-----").unwrap();
        assert!(!e.ciphertext.contains("PRIVATE"));
        assert_eq!(
            e.open(&k, "acct:wx:1").unwrap(),
            "-----BEGIN PRIVATE KEY-----"
        );
        assert!(e.open(&k, "acct:wx:2").is_err(), "bound to its context");
        let other = MasterKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(
            e.open(&other, "acct:wx:1").is_err(),
            "another master key fails"
        );
        let swapped = Envelope {
            wrapped_data_key: Envelope::seal(&k, "acct:wx:1", "x")
                .unwrap()
                .wrapped_data_key,
            ciphertext: e.ciphertext.clone(),
        };
        assert!(
            swapped.open(&k, "acct:wx:1").is_err(),
            "another data key fails"
        );
        let again = Envelope::seal(&k, "acct:wx:1", "-----BEGIN PRIVATE KEY-----").unwrap();
        assert_ne!(again.wrapped_data_key, e.wrapped_data_key, "fresh data key");
        assert_eq!(format!("{e:?}"), "Envelope(..)");
        assert_eq!(format!("{:?}", DataKey::generate()), "DataKey(..)");
        assert!(DataKey::from_bytes(&[1u8; 31]).is_err());
    }

    #[test]
    fn parse_accepts_hex_and_base64_only_of_32_bytes() {
        assert!(MasterKey::parse(&"ab".repeat(32)).is_ok());
        assert!(MasterKey::parse(&STANDARD.encode([1u8; 32])).is_ok());
        assert!(MasterKey::parse(&STANDARD.encode([1u8; 16])).is_err());
        assert!(MasterKey::parse("not a key").is_err());
        assert_eq!(
            format!("{:?}", MasterKey::parse(&"ab".repeat(32)).unwrap()),
            "MasterKey(..)"
        );
    }

    #[cfg(unix)]
    #[test]
    fn key_file_is_created_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            std::env::temp_dir().join(format!("paydesk-key-{}", paydesk_core::ids::new_id("t")));
        let path = dir.join("master.key");
        let a = MasterKey::load_or_create_file(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = MasterKey::load_or_create_file(&path).unwrap();
        assert_eq!(
            b.open("r", &a.seal("r", "s").unwrap()).unwrap(),
            "s",
            "same key on reload"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
