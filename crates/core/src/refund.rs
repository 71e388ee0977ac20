//! Refunds: the state machine and why a refund exists.

use crate::transition::StateMachine;
use serde::{Deserialize, Serialize};

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundStatus {
    /// Recorded (its amount already reserved against the order); not yet accepted by the
    /// provider. Sent, and re-sent with the same refund number after an unknown outcome,
    /// `FREQUENCY_LIMITED` or `NOT_ENOUGH`, by the refund worker.
    Pending,
    /// Accepted by the provider; the money is on its way back.
    Processing,
    /// The money went back. Terminal.
    Succeeded,
    /// The provider refused or closed it; the reserved amount is released. Terminal.
    Failed,
    /// WeChat `ABNORMAL` (the buyer's card was closed...): needs offline handling by an
    /// operator, who ends it as succeeded or failed.
    Abnormal,
}

impl StateMachine for RefundStatus {
    const ALL: &'static [Self] = &[
        Self::Pending,
        Self::Processing,
        Self::Succeeded,
        Self::Failed,
        Self::Abnormal,
    ];
    const TRANSITIONS: &'static [(Self, Self)] = &[
        (Self::Pending, Self::Processing),
        (Self::Pending, Self::Succeeded),
        (Self::Pending, Self::Failed),
        (Self::Pending, Self::Abnormal),
        (Self::Processing, Self::Succeeded),
        (Self::Processing, Self::Failed),
        (Self::Processing, Self::Abnormal),
        (Self::Abnormal, Self::Succeeded),
        (Self::Abnormal, Self::Failed),
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Processing => "PROCESSING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Abnormal => "ABNORMAL",
        }
    }
}

/// Why a refund was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundKind {
    /// Asked for by the business line (counts against the order's paid amount).
    Business,
    /// Automatic: a second payment of a paid order.
    Duplicate,
    /// Automatic: a payment of the wrong amount.
    AmountMismatch,
    /// Automatic: a payment that landed after the order closed.
    Late,
}

impl RefundKind {
    /// Every kind.
    pub const ALL: &'static [Self] = &[
        Self::Business,
        Self::Duplicate,
        Self::AmountMismatch,
        Self::Late,
    ];

    /// The stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Business => "BUSINESS",
            Self::Duplicate => "DUPLICATE",
            Self::AmountMismatch => "AMOUNT_MISMATCH",
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
    use super::RefundStatus::*;
    use super::*;
    use crate::transition::assert_table_is_exact;

    #[test]
    fn table_is_exactly_the_documented_one() {
        assert_table_is_exact(&[
            (Pending, Processing),
            (Pending, Succeeded),
            (Pending, Failed),
            (Pending, Abnormal),
            (Processing, Succeeded),
            (Processing, Failed),
            (Processing, Abnormal),
            (Abnormal, Succeeded),
            (Abnormal, Failed),
        ]);
        assert!(Succeeded.is_terminal());
        assert!(Failed.is_terminal());
        assert!(!Abnormal.is_terminal(), "an operator ends it");
    }

    #[test]
    fn kinds_round_trip() {
        for k in RefundKind::ALL {
            assert_eq!(RefundKind::parse(k.as_str()), Some(*k));
        }
        assert_eq!(RefundKind::parse("OTHER"), None);
    }
}
