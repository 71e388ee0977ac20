//! Operators: creation with a one-time credential, and credential hashing.
//!
//! A credential is 32 random bytes (base64url, prefixed `pdo_`). Only its SHA-256 is
//! stored: the credential has full entropy, so a fast hash is enough and lets sign-in
//! look the operator up by hash without a per-operator salt.

use crate::time::now_ms;
use paydesk_core::ids;
use paydesk_store::{Operator, OperatorRole, OperatorStatus, Store, StoreError};
use ring::digest::{digest, SHA256};

/// Prefix of operator credentials (so a leaked one is recognisable in scanners).
pub const TOKEN_PREFIX: &str = "pdo_";

/// Why an operator could not be created.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The name is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The store refused or failed (a taken name is `Conflict`).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A created operator and its credential, which is shown exactly once.
pub struct Created {
    /// The stored operator.
    pub operator: Operator,
    /// The credential in clear.
    pub token: String,
}

/// SHA-256 of a credential or session token, lower-case hex.
pub fn hash_token(token: &str) -> String {
    digest(&SHA256, token.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses `admin` / `viewer` (any case).
pub fn parse_role(text: &str) -> Option<OperatorRole> {
    OperatorRole::parse(&text.to_ascii_uppercase())
}

/// Creates an operator with a fresh credential.
pub async fn create(
    store: &dyn Store,
    name: &str,
    role: OperatorRole,
) -> Result<Created, OperatorError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if !ok {
        return Err(OperatorError::Invalid(
            "an operator name is 1 to 64 characters: letters, digits, - _ . @".into(),
        ));
    }
    let token = format!("{TOKEN_PREFIX}{}", ids::random_token::<32>());
    let operator = Operator {
        id: ids::new_id("op"),
        name: name.to_owned(),
        role,
        token_hash: hash_token(&token),
        status: OperatorStatus::Active,
        created_at_ms: now_ms(),
    };
    store.insert_operator(&operator).await?;
    Ok(Created { operator, token })
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn hashes_are_sha256_hex() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(parse_role("Viewer"), Some(OperatorRole::Viewer));
        assert_eq!(parse_role("root"), None);
    }
}
