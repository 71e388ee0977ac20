//! Topping up a business line's platform funding account (the money its payouts are
//! drawn from): a `FUNDING` entry `external(merchant account) -> platform funding(line)`,
//! posted once per reference, audited. Used by `paydesk ledger fund`.

use paydesk_core::ledger::{movements, AccountRef, PLATFORM_SCOPE};
use paydesk_core::{ids, Amount, Currency};
use paydesk_store::{AuditEntry, NewJournalEntry, PostOutcome, Store, StoreError};

/// Why a top-up was refused.
#[derive(Debug, thiserror::Error)]
pub enum FundError {
    /// Bad arguments: unknown business line or currency, a non-positive amount.
    #[error("{0}")]
    Invalid(String),
    /// The reference was used before for another top-up.
    #[error("reference `{0}` already funded entry {1}")]
    Duplicate(String, String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a top-up did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Funded {
    /// The business line's id.
    pub business_line_id: String,
    /// The entry posted.
    pub entry_id: String,
    /// The funding account's balance afterwards, minor units.
    pub balance_minor: i64,
}

/// Puts `amount_minor` of `currency` on the platform funding account of the business
/// line named (or with id) `line`, as money the platform put into `merchant_account`.
/// `reference` (1-64 characters) makes it idempotent: it is posted once for all time.
pub async fn fund(
    store: &dyn Store,
    line: &str,
    merchant_account: &str,
    amount_minor: i64,
    currency: &str,
    reference: &str,
    actor: &str,
) -> Result<Funded, FundError> {
    let lines = store.list_business_lines().await?;
    let bl = lines
        .iter()
        .find(|l| l.id == line || l.name == line)
        .ok_or_else(|| FundError::Invalid(format!("no business line named or with id `{line}`")))?;
    let currency: Currency = currency
        .parse()
        .map_err(|_| FundError::Invalid(format!("unknown currency `{currency}`")))?;
    if amount_minor <= 0 {
        return Err(FundError::Invalid("the amount must be positive".into()));
    }
    if reference.is_empty() || reference.len() > 64 {
        return Err(FundError::Invalid(
            "the reference must be 1-64 characters".into(),
        ));
    }
    let amount =
        Amount::new(amount_minor, currency).map_err(|e| FundError::Invalid(e.to_string()))?;
    let entry = movements::fund(&bl.id, merchant_account, amount)
        .map_err(|e| FundError::Invalid(e.to_string()))?;
    let now = crate::time::now_ms();
    let new = NewJournalEntry {
        id: ids::new_id(ids::JOURNAL_ENTRY),
        business_line_id: PLATFORM_SCOPE.into(),
        reference: reference.into(),
        idempotency_key: format!("fund:{reference}"),
        created_at_ms: now,
        entry,
    };
    match store.ledger().post_entry(&new).await? {
        PostOutcome::Posted(p) => {
            let audit = AuditEntry {
                id: ids::new_id("aud"),
                at_ms: now,
                actor: actor.into(),
                action: "ledger.fund".into(),
                target: bl.id.clone(),
                details_json: serde_json::json!({
                    "entry_id": p.id, "merchant_account": merchant_account,
                    "amount_minor": amount_minor, "currency": currency.code(),
                    "reference": reference,
                })
                .to_string(),
            };
            store.insert_audit_entry(&audit).await?;
            let funding = AccountRef::platform_funding(bl.id.as_str(), currency)
                .map_err(|e| FundError::Invalid(e.to_string()))?;
            Ok(Funded {
                business_line_id: bl.id.clone(),
                entry_id: p.id,
                balance_minor: store.ledger().balance(&funding).await?,
            })
        }
        PostOutcome::Duplicate { entry_id } => {
            Err(FundError::Duplicate(reference.into(), entry_id))
        }
        PostOutcome::Insufficient { account_id } => Err(FundError::Invalid(format!(
            "account {account_id} refused the top-up"
        ))),
    }
}
