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
    /// The provider refused the order or the payment failed. Terminal.
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
        ]);
        assert!(Succeeded.is_terminal());
        assert!(Failed.is_terminal());
        assert!(!Closed.is_terminal(), "a late payment may still land");
    }
}
