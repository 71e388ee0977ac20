//! Creating and managing business lines (used by `paydesk business-line ...` and the
//! console): creation, and secret rotation with an overlap.

use crate::secrets::MasterKey;
use crate::time::now_ms;
use crate::urls;
use paydesk_core::ids;
use paydesk_store::{
    AuditEntry, BusinessLine, BusinessLineStatus, SecretRotation, Store, StoreError,
};

/// Why a business line could not be created.
#[derive(Debug, thiserror::Error)]
pub enum LineError {
    /// A name or URL is invalid.
    #[error("{0}")]
    Invalid(String),
    /// No business line has that id or name.
    #[error("no business line `{0}`")]
    NotFound(String),
    /// Someone else rotated the secret at the same moment; nothing was changed.
    #[error("the secret changed meanwhile; read the line again and retry")]
    Conflict,
    /// The store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Longest overlap during which a rotated-out secret is still accepted (a week: long
/// enough for any deploy, short enough that a leaked secret dies).
pub const MAX_OVERLAP_MS: i64 = 7 * 86_400_000;

/// A rotated secret, shown exactly once.
pub struct Rotated {
    /// The line (with the new sealed secret).
    pub line: BusinessLine,
    /// The new HMAC secret in clear.
    pub secret: String,
    /// Until when the old secret is still accepted (unix ms).
    pub previous_valid_until_ms: i64,
}

/// A new secret for a business line (by id or name): it signs notifications and is
/// accepted from now on; the old one is still accepted on requests for `overlap_ms`
/// (0..=[`MAX_OVERLAP_MS`]), so the business line switches without a failed call.
/// Audited as `actor`, without secret values.
pub async fn rotate_secret(
    store: &dyn Store,
    key: &MasterKey,
    id_or_name: &str,
    overlap_ms: i64,
    actor: &str,
) -> Result<Rotated, LineError> {
    if !(0..=MAX_OVERLAP_MS).contains(&overlap_ms) {
        return Err(LineError::Invalid(format!(
            "overlap must be between 0 and {} hours",
            MAX_OVERLAP_MS / 3_600_000
        )));
    }
    let line = match store.business_line_by_id(id_or_name).await? {
        Some(l) => Some(l),
        None => store
            .list_business_lines()
            .await?
            .into_iter()
            .find(|l| l.name == id_or_name),
    }
    .ok_or_else(|| LineError::NotFound(id_or_name.to_owned()))?;
    let secret = new_secret();
    let now = now_ms();
    let sealed = key
        .seal(&line.id, &secret)
        .map_err(|e| LineError::Invalid(e.to_string()))?;
    let rotation = SecretRotation {
        business_line_id: line.id.clone(),
        expected_ciphertext: line.secret_ciphertext.clone(),
        new_ciphertext: sealed.clone(),
        previous_valid_until_ms: now + overlap_ms,
        now_ms: now,
    };
    let audit = AuditEntry {
        id: ids::new_id("aud"),
        at_ms: now,
        actor: actor.to_owned(),
        action: "business_line.rotate_secret".into(),
        target: line.id.clone(),
        details_json: serde_json::json!({
            "name": line.name,
            "previous_valid_until_ms": now + overlap_ms,
        })
        .to_string(),
    };
    if !store.rotate_business_line_secret(&rotation, &audit).await? {
        return Err(LineError::Conflict);
    }
    Ok(Rotated {
        line: BusinessLine {
            secret_ciphertext: sealed,
            ..line
        },
        secret,
        previous_valid_until_ms: now + overlap_ms,
    })
}

/// A new HMAC secret.
fn new_secret() -> String {
    format!("sk_{}", ids::random_token::<32>())
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
    let secret = new_secret();
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
