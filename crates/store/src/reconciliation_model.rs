//! Records of reconciliation: one run per bill day and merchant account with the totals of
//! both sides, and the differences found, each waiting for an operator or settled.
//! Timestamps are UTC unix milliseconds (`*_ms`); bill dates are China-time days
//! (`YYYY-MM-DD`); money is minor units in the run's currency.

use crate::AuditEntry;
use paydesk_core::{Currency, Provider};

macro_rules! stored_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)*
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The stable stored name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }

            /// Parses the stored name.
            pub fn parse(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == s)
            }
        }
    };
}

stored_enum! {
    /// Where a run is.
    RunStatus {
        /// Being reconciled now (or crashed: a later start takes it over after a while).
        Running = "RUNNING",
        /// Done: totals and differences recorded.
        Completed = "COMPLETED",
        /// The bill could not be fetched or read; `error` says why. Nothing was compared.
        Failed = "FAILED",
    }
}

stored_enum! {
    /// What kind of disagreement a difference is.
    DifferenceKind {
        /// The provider's bill has it; paydesk has no record of it at all.
        MissingInPaydesk = "MISSING_IN_PAYDESK",
        /// paydesk recorded a success the provider's bill of that day does not have.
        MissingAtProvider = "MISSING_AT_PROVIDER",
        /// Both know it, in different states (e.g. paid at the provider, pending here).
        StatusDiffers = "STATUS_DIFFERS",
        /// Both recorded it, with different amounts.
        AmountDiffers = "AMOUNT_DIFFERS",
        /// Same amount, a different fee than paydesk expects.
        FeeDiffers = "FEE_DIFFERS",
    }
}

stored_enum! {
    /// Where a difference is in its life.
    DifferenceState {
        /// Waiting for an operator.
        Open = "OPEN",
        /// Settled by paydesk itself through the normal flow, confirmed by the provider.
        SettledAutomatically = "SETTLED_AUTOMATICALLY",
        /// Resolved by an operator, with a reason.
        Resolved = "RESOLVED",
    }
}

stored_enum! {
    /// Which kind of record a difference is about. Payouts will join when the ledger's
    /// payouts are reconciled.
    RecordKind {
        /// A payment (an attempt, `out_trade_no`).
        Payment = "PAYMENT",
        /// A refund (`out_refund_no` / `out_request_no`).
        Refund = "REFUND",
    }
}

/// The totals of a run. Both sides tie out by construction and are checked before they are
/// written: `provider = matched + missing_in_paydesk + differing (provider side)` and
/// `paydesk = matched + missing_at_provider + differing (paydesk side)`, for counts and for
/// net amounts (payments in minus refunds out).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RunTotals {
    /// Lines on the provider's bill.
    pub provider_count: i64,
    /// Their net amount.
    pub provider_net_minor: i64,
    /// paydesk's records of the day (and those the bill named).
    pub paydesk_count: i64,
    /// Their net amount.
    pub paydesk_net_minor: i64,
    /// Pairs that agree.
    pub matched_count: i64,
    /// Their net amount (the same on both sides).
    pub matched_net_minor: i64,
    /// Bill lines paydesk has no record of.
    pub missing_in_paydesk_count: i64,
    /// Their net amount.
    pub missing_in_paydesk_net_minor: i64,
    /// paydesk records the bill does not have.
    pub missing_at_provider_count: i64,
    /// Their net amount.
    pub missing_at_provider_net_minor: i64,
    /// Pairs that disagree (status, amount or fee).
    pub differing_count: i64,
    /// Their net amount as the provider has it.
    pub differing_provider_net_minor: i64,
    /// Their net amount as paydesk has it.
    pub differing_paydesk_net_minor: i64,
}

impl RunTotals {
    /// Whether both sides tie out (see the type's documentation).
    pub fn ties_out(&self) -> bool {
        let sum = |a: i64, b: i64, c: i64| i128::from(a) + i128::from(b) + i128::from(c);
        i128::from(self.provider_count)
            == sum(
                self.matched_count,
                self.missing_in_paydesk_count,
                self.differing_count,
            )
            && i128::from(self.provider_net_minor)
                == sum(
                    self.matched_net_minor,
                    self.missing_in_paydesk_net_minor,
                    self.differing_provider_net_minor,
                )
            && i128::from(self.paydesk_count)
                == sum(
                    self.matched_count,
                    self.missing_at_provider_count,
                    self.differing_count,
                )
            && i128::from(self.paydesk_net_minor)
                == sum(
                    self.matched_net_minor,
                    self.missing_at_provider_net_minor,
                    self.differing_paydesk_net_minor,
                )
    }
}

/// A run of one bill day for one merchant account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationRun {
    /// Id (`rcr_...`).
    pub id: String,
    /// The bill day, China time, `YYYY-MM-DD`.
    pub bill_date: String,
    /// Our merchant account id.
    pub merchant_account: String,
    /// The account's provider.
    pub provider: Provider,
    /// Where it is.
    pub status: RunStatus,
    /// The currency of every amount of the run.
    pub currency: Currency,
    /// Both sides' totals (zero until completed).
    pub totals: RunTotals,
    /// Why it failed, when it did.
    pub error: Option<String>,
    /// When the latest attempt at the day started.
    pub started_at_ms: i64,
    /// When it finished.
    pub finished_at_ms: Option<i64>,
    /// Bumped by every change; changes are conditional on it.
    pub version: i64,
}

/// Start (or take over again) the run of a day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartRun {
    /// Id for a new row (unused when the day already has one).
    pub id: String,
    /// The bill day, `YYYY-MM-DD`.
    pub bill_date: String,
    /// Our merchant account id.
    pub merchant_account: String,
    /// Its provider.
    pub provider: Provider,
    /// The currency.
    pub currency: Currency,
    /// Now.
    pub now_ms: i64,
    /// A `RUNNING` run that started before this is taken over (its runner died).
    pub stale_before_ms: i64,
}

/// A difference to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDifference {
    /// Id (`rcd_...`).
    pub id: String,
    /// What disagrees.
    pub kind: DifferenceKind,
    /// About a payment or a refund.
    pub record_kind: RecordKind,
    /// Our attempt number (`out_trade_no`); for a refund, the payment refunded.
    pub attempt_no: String,
    /// Our refund number, for refunds.
    pub refund_no: Option<String>,
    /// The provider's transaction id, when known.
    pub provider_txn_id: Option<String>,
    /// The amount on the provider's bill, if it has the record.
    pub provider_amount_minor: Option<i64>,
    /// The amount paydesk recorded, if it has the record.
    pub paydesk_amount_minor: Option<i64>,
    /// The fee on the provider's bill.
    pub provider_fee_minor: Option<i64>,
    /// The fee paydesk expects.
    pub paydesk_fee_minor: Option<i64>,
    /// The provider's state word for it (display).
    pub provider_status: Option<String>,
    /// paydesk's state word for it (display).
    pub paydesk_status: Option<String>,
    /// Where the bill line is (`file:line`).
    pub source: Option<String>,
}

/// A recorded difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Difference {
    /// Id.
    pub id: String,
    /// The run that found it (last).
    pub run_id: String,
    /// The bill day.
    pub bill_date: String,
    /// The merchant account.
    pub merchant_account: String,
    /// What disagrees.
    pub kind: DifferenceKind,
    /// Payment or refund.
    pub record_kind: RecordKind,
    /// Our attempt number.
    pub attempt_no: String,
    /// Our refund number, for refunds.
    pub refund_no: Option<String>,
    /// The provider's transaction id.
    pub provider_txn_id: Option<String>,
    /// The run's currency.
    pub currency: Currency,
    /// The provider's amount.
    pub provider_amount_minor: Option<i64>,
    /// paydesk's amount.
    pub paydesk_amount_minor: Option<i64>,
    /// The provider's fee.
    pub provider_fee_minor: Option<i64>,
    /// The fee paydesk expects.
    pub paydesk_fee_minor: Option<i64>,
    /// The provider's state word.
    pub provider_status: Option<String>,
    /// paydesk's state word.
    pub paydesk_status: Option<String>,
    /// Where the bill line is.
    pub source: Option<String>,
    /// Where it is in its life.
    pub state: DifferenceState,
    /// Why it was resolved or how it was settled.
    pub resolution: Option<String>,
    /// Who resolved it (`operator:<name>`, or `paydesk` when settled automatically).
    pub resolved_by: Option<String>,
    /// When.
    pub resolved_at_ms: Option<i64>,
    /// When it was found.
    pub created_at_ms: i64,
    /// Last change.
    pub updated_at_ms: i64,
    /// Bumped by every change; changes are conditional on it.
    pub version: i64,
}

/// Which differences to list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DifferenceFilter {
    /// Only of this run.
    pub run_id: Option<String>,
    /// Only in this state.
    pub state: Option<DifferenceState>,
    /// Only of this bill day.
    pub bill_date: Option<String>,
    /// Only of this merchant account.
    pub merchant_account: Option<String>,
    /// Keyset paging: only ids after this one (ids are time-ordered).
    pub after_id: Option<String>,
    /// Most rows (clamped to 1..=[`crate::reconciliation::MAX_PAGE`]).
    pub limit: i64,
}

/// Which runs to list.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RunFilter {
    /// Only of this merchant account.
    pub merchant_account: Option<String>,
    /// Only from this bill day on (inclusive).
    pub from_date: Option<String>,
    /// Only up to this bill day (inclusive).
    pub to_date: Option<String>,
    /// Most rows, newest day first (clamped to 1..=[`crate::reconciliation::MAX_PAGE`]).
    pub limit: i64,
}

/// An operator's decision on an open difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolveDifference {
    /// The difference.
    pub id: String,
    /// The version the operator saw.
    pub expected_version: i64,
    /// Why (required, recorded).
    pub reason: String,
    /// Who (`operator:<name>`).
    pub by: String,
    /// Now.
    pub now_ms: i64,
    /// The audit entry, written in the same transaction.
    pub audit: AuditEntry,
}

/// A paydesk success of a bill day, as reconciliation compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaydeskRecord {
    /// Payment or refund.
    pub record_kind: RecordKind,
    /// The attempt number (for a refund: of the payment refunded).
    pub attempt_no: String,
    /// The refund number, for refunds.
    pub refund_no: Option<String>,
    /// The provider's transaction id, when known.
    pub provider_txn_id: Option<String>,
    /// The amount paydesk recorded: what the provider reported paid, or the refund's.
    pub amount_minor: i64,
    /// Its currency.
    pub currency: Currency,
    /// paydesk's state word (`SUCCEEDED`, `PENDING`...).
    pub status: String,
    /// Whether paydesk counts it as done (attempt `SUCCEEDED`, refund `SUCCEEDED`).
    pub succeeded: bool,
    /// When it succeeded, provider time.
    pub at_ms: Option<i64>,
}
