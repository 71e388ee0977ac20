//! Records for the operator console: business-line secret rotation and the dashboard's
//! payment figures.

use crate::OutboxStats;
use paydesk_core::{AttemptFlag, Currency, Provider};

/// A business line's secret replaced by a new one, the old one still accepted for a
/// while (so the business line can switch without a failed request).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRotation {
    /// The line.
    pub business_line_id: String,
    /// The sealed secret the caller read: the rotation applies only if it is still the
    /// current one (two operators rotating at once: one wins, the other is told).
    pub expected_ciphertext: String,
    /// The new sealed secret: signs notifications and is accepted from now on.
    pub new_ciphertext: String,
    /// Until when (unix ms) the old secret is still accepted on requests.
    pub previous_valid_until_ms: i64,
    /// When.
    pub now_ms: i64,
}

/// The secret a business line used before its last rotation, and until when it is
/// still accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviousSecret {
    /// Sealed like the current one.
    pub secret_ciphertext: String,
    /// Accepted until this instant (unix ms), never after.
    pub valid_until_ms: i64,
}

/// Which window of payment attempts the dashboard sums, in buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DashboardQuery {
    /// Attempts created at or after this (unix ms).
    pub from_ms: i64,
    /// ... and before this.
    pub to_ms: i64,
    /// Bucket width (ms, > 0); buckets start at `from_ms`.
    pub bucket_ms: i64,
}

/// Payment attempts of one bucket, business line, provider, method and currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardRow {
    /// Bucket start (unix ms).
    pub bucket_start_ms: i64,
    /// The orders' business line.
    pub business_line_id: String,
    /// Provider.
    pub provider: Provider,
    /// Checkout method.
    pub method: String,
    /// Currency of the amounts.
    pub currency: Currency,
    /// Attempts started.
    pub attempts: i64,
    /// Attempts that became their order's payment.
    pub paid: i64,
    /// Their amount, minor units.
    pub paid_amount_minor: i64,
}

/// What the console dashboard shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dashboard {
    /// Volume by bucket, line, provider, method and currency (only non-empty groups).
    pub rows: Vec<DashboardRow>,
    /// Orders still `WAITING`.
    pub waiting_orders: i64,
    /// Succeeded attempts that were not their order's payment, by flag (duplicates,
    /// amount mismatches, late payments), all time.
    pub flagged: Vec<(AttemptFlag, i64)>,
    /// Notifications pending and failed.
    pub outbox: OutboxStats,
}
