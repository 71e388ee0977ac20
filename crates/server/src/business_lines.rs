//! Creating and managing business lines (used by `paydesk business-line ...`).

use crate::secrets::MasterKey;
use crate::time::now_ms;
use crate::urls;
use paydesk_core::ids;
use paydesk_store::{BusinessLine, BusinessLineStatus, Store, StoreError};

/// Why a business line could not be created.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// A name or URL is invalid.
    #[error("{0}")]
    Invalid(String),
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A created business line and its secret, which is shown exactly once.
pub struct Created {
    /// The stored line.
    pub line: BusinessLine,
    /// The HMAC secret in clear.
    pub secret: String,
}

/// Creates a business line. The notify URL is always an allowed prefix; `allow` adds
/// more (each normalised, e.g. `https://shop.example` becomes `https://shop.example/`).
pub async fn create(
    store: &dyn Store,
    key: &MasterKey,
    name: &str,
    notify_url: &str,
    allow: &[String],
) -> Result<Created, LineError> {
    if name.is_empty()
        || name.len() > 64
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
    {
        return Err(LineError::Invalid(
            "name must be 1-64 characters of [A-Za-z0-9_.-]".into(),
        ));
    }
    if ids::has_shape(name, ids::BUSINESS_LINE) {
        // `disable` takes a name or an id: a name shaped like an id would be ambiguous.
        return Err(LineError::Invalid(
            "name must not look like a business line id (bl_ + 32 hex digits)".into(),
        ));
    }
    let notify_url =
        urls::normalize(notify_url).map_err(|e| LineError::Invalid(format!("notify URL: {e}")))?;
    let mut prefixes = vec![notify_url.clone()];
    for p in allow {
        let p = urls::normalize(p).map_err(|e| LineError::Invalid(format!("allowed URL: {e}")))?;
        if !prefixes.contains(&p) {
            prefixes.push(p);
        }
    }
    let id = ids::new_id(ids::BUSINESS_LINE);
    let secret = format!("sk_{}", ids::random_token::<32>());
    let now = now_ms();
    let line = BusinessLine {
        app_id: ids::new_id(ids::APP),
        name: name.to_owned(),
        secret_ciphertext: key
            .seal(&id, &secret)
            .map_err(|e| LineError::Invalid(e.to_string()))?,
        notify_url,
        allowed_url_prefixes: prefixes,
        status: BusinessLineStatus::Active,
        created_at_ms: now,
        id,
    };
    store.insert_business_line(&line).await?;
    Ok(Created { line, secret })
}
