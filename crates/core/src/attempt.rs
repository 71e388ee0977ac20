//! The attempt state machine: one third-party order (`out_trade_no`) created for a pay
//! order. A pay order may have several attempts over its life (the buyer switches
//! method); at most one of them becomes the order's payment.

use crate::transition::StateMachine;
use serde::{Deserialize, Serialize};

/// Where an attempt stands at its provider, as far as paydesk knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttemptStatus {
    /// Recorded locally; the create call to the provider is in flight or its outcome is
    /// unknown (timeout, 5xx). Must be queried before anything else is concluded.
    Creating,
    /// The provider accepted the order; the buyer has not paid yet.
    Pending,
    /// The provider reports the money was paid. Terminal.
    Succeeded,
    /// Closed at the provider (by us, or expired there). A provider may still report
    /// a payment that raced the close, hence `Closed -> Succeeded`: the money is real
    /// and must be recorded (and refunded, since the order did not take it).
    Closed,
    /// The provider refused the order or the payment failed. A buyer may still pay the
    /// same provider order afterwards (WeChat `PAYERROR` then a retry), hence
    /// `Failed -> Succeeded`.
    Failed,
}

impl StateMachine for AttemptStatus {
    const ALL: &'static [Self] = &[
        Self::Creating,
        Self::Pending,
        Self::Succeeded,
        Self::Closed,
        Self::Failed,
    ];
    const TRANSITIONS: &'static [(Self, Self)] = &[
        (Self::Creating, Self::Pending),
        (Self::Creating, Self::Succeeded),
        (Self::Creating, Self::Closed),
        (Self::Creating, Self::Failed),
        (Self::Pending, Self::Succeeded),
        (Self::Pending, Self::Closed),
        (Self::Pending, Self::Failed),
        (Self::Closed, Self::Succeeded),
        (Self::Failed, Self::Succeeded),
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "CREATING",
            Self::Pending => "PENDING",
            Self::Succeeded => "SUCCEEDED",
            Self::Closed => "CLOSED",
            Self::Failed => "FAILED",
        }
    }
}

impl AttemptStatus {
    /// Whether the buyer may still pay it, so it must be closed at the provider before
    /// another attempt starts or the order closes.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Creating | Self::Pending)
    }
}

/// Why a succeeded attempt is not its order's payment. Each one's money goes back to the
/// buyer (or is held for an operator), never to the order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AttemptFlag {
    /// The provider reported an amount other than the attempt's.
    AmountMismatch,
    /// The order had already been paid by another attempt.
    Duplicate,
    /// The payment landed after the order was closed.
    Late,
}

impl AttemptFlag {
    /// Every flag.
    pub const ALL: &'static [Self] = &[Self::AmountMismatch, Self::Duplicate, Self::Late];

    /// The stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AmountMismatch => "AMOUNT_MISMATCH",
            Self::Duplicate => "DUPLICATE",
            Self::Late => "LATE",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::AttemptStatus::*;
    use crate::transition::{assert_table_is_exact, StateMachine};

    #[test]
    fn table_is_exactly_the_documented_one() {
        assert_table_is_exact(&[
            (Creating, Pending),
            (Creating, Succeeded),
            (Creating, Closed),
            (Creating, Failed),
            (Pending, Succeeded),
            (Pending, Closed),
            (Pending, Failed),
            (Closed, Succeeded),
            (Failed, Succeeded),
        ]);
        assert!(Succeeded.is_terminal());
        assert!(!Failed.is_terminal(), "a retried payment may still land");
        assert!(!Closed.is_terminal(), "a late payment may still land");
    }
}
