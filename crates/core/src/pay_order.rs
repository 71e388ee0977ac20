//! The pay order state machine: `WAITING -> PAID | CLOSED`. Refunds do not change the
//! status; they are tracked in `refunded_amount` beside it.

use crate::transition::StateMachine;
use serde::{Deserialize, Serialize};

/// Where a pay order stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayOrderStatus {
    /// Created; the buyer has not paid yet.
    Waiting,
    /// Paid by exactly one successful attempt. Terminal.
    Paid,
    /// Closed by the business line or by expiry; it can no longer be paid. Terminal.
    /// (A provider payment that still lands on a closed order is refunded, never
    /// turned into this order's payment.)
    Closed,
}

impl StateMachine for PayOrderStatus {
    const ALL: &'static [Self] = &[Self::Waiting, Self::Paid, Self::Closed];
    const TRANSITIONS: &'static [(Self, Self)] =
        &[(Self::Waiting, Self::Paid), (Self::Waiting, Self::Closed)];

    fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "WAITING",
            Self::Paid => "PAID",
            Self::Closed => "CLOSED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::PayOrderStatus::*;
    use super::*;
    use crate::transition::assert_table_is_exact;

    #[test]
    fn only_waiting_moves_and_only_to_paid_or_closed() {
        assert_table_is_exact(&[(Waiting, Paid), (Waiting, Closed)]);
        assert!(Paid.is_terminal());
        assert!(Closed.is_terminal());
        assert!(!Waiting.is_terminal());
    }

    #[test]
    fn serde_uses_stable_names() {
        assert_eq!(serde_json::to_string(&Waiting).unwrap(), "\"WAITING\"");
        for s in PayOrderStatus::ALL {
            assert_eq!(
                serde_json::to_string(s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
        }
    }
}
