//! Records of merchant accounts, their encrypted key versions, and the audit log.
//! Timestamps are UTC unix milliseconds (`*_ms`). Nothing here is ever a secret in clear:
//! key material arrives sealed (envelope encryption is done by the server).

use paydesk_core::Provider;
use std::fmt;

/// Whether a merchant account may be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MerchantAccountStatus {
    /// Loaded and routable.
    Active,
    /// Kept, but not loaded: payments cannot be routed to it.
    Disabled,
}

impl MerchantAccountStatus {
    /// The stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Disabled => "DISABLED",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(Self::Active),
            "DISABLED" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// A merchant account: everything that is not secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantAccount {
    /// Our id, as the checkout rules route to it (`wx-main`).
    pub id: String,
    /// The provider.
    pub provider: Provider,
    /// Whether it is used.
    pub status: MerchantAccountStatus,
    /// The non-secret configuration as JSON (ids, serials, base URLs, provider public keys).
    pub public_json: String,
    /// Creation time.
    pub created_at_ms: i64,
    /// Last change.
    pub updated_at_ms: i64,
    /// Bumped by every change; changes are conditional on it.
    pub version: i64,
}

/// One key version of an account: the secret JSON sealed under a data key, and that data
/// key wrapped by the master key (or a KMS).
#[derive(Clone, PartialEq, Eq)]
pub struct MerchantAccountKey {
    /// The account.
    pub account_id: String,
    /// 1, 2, 3, ... per account; calls use the newest unretired one.
    pub key_version: i64,
    /// The data key, wrapped.
    pub wrapped_data_key: String,
    /// The secret JSON, sealed with the data key.
    pub ciphertext: String,
    /// When it was added.
    pub created_at_ms: i64,
    /// When it was retired (no longer used), if it was.
    pub retired_at_ms: Option<i64>,
}

impl fmt::Debug for MerchantAccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MerchantAccountKey")
            .field("account_id", &self.account_id)
            .field("key_version", &self.key_version)
            .field("created_at_ms", &self.created_at_ms)
            .field("retired_at_ms", &self.retired_at_ms)
            .finish_non_exhaustive()
    }
}

/// A change to an account, applied in one transaction if the account's version is still
/// `expected_version`: the account row, optionally a new key version and a retirement,
/// and the audit entry.
#[derive(Debug, Clone)]
pub struct MerchantAccountUpdate {
    /// The account.
    pub id: String,
    /// The version the change was decided on.
    pub expected_version: i64,
    /// The new status.
    pub status: MerchantAccountStatus,
    /// The new public configuration.
    pub public_json: String,
    /// A key version to add (its number must be unused: `Conflict` otherwise).
    pub new_key: Option<MerchantAccountKey>,
    /// A key version to retire (must exist and be unretired: `Invalid` otherwise).
    pub retire_key_version: Option<i64>,
    /// When.
    pub now_ms: i64,
    /// What is recorded about the change.
    pub audit: AuditEntry,
}

/// What changes when any account changes: polled so every instance reloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MerchantAccountsStamp {
    /// How many accounts exist.
    pub count: i64,
    /// The sum of their versions (grows with every change).
    pub version_sum: i64,
    /// The latest change.
    pub max_updated_at_ms: i64,
}

/// One audit log entry: who changed what. Never carries secret values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEntry {
    /// Id (`aud_...`).
    pub id: String,
    /// When.
    pub at_ms: i64,
    /// Who (`cli:<unix user>`, `operator:<name>`).
    pub actor: String,
    /// What (`merchant_account.add`, `merchant_account.disable`, ...).
    pub action: String,
    /// On what (an account id).
    pub target: String,
    /// Details as a JSON object (never secret values).
    pub details_json: String,
}
