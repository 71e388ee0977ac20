//! The events paydesk tells business lines about. Each is written to the outbox in the
//! same transaction as the state change it reports.

use serde::{Deserialize, Serialize};

/// The type of a business notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A pay order was paid.
    #[serde(rename = "pay_order.paid")]
    PayOrderPaid,
    /// A pay order was closed (by the business line or by expiry).
    #[serde(rename = "pay_order.closed")]
    PayOrderClosed,
    /// A second payment of an already paid order was refunded to the buyer.
    #[serde(rename = "pay_order.duplicate_refunded")]
    PayOrderDuplicateRefunded,
    /// A refund the business line asked for succeeded.
    #[serde(rename = "refund.succeeded")]
    RefundSucceeded,
    /// A refund the business line asked for failed (or needs offline handling).
    #[serde(rename = "refund.failed")]
    RefundFailed,
    /// A payout or withdrawal waits for its recipient to confirm receipt (WeChat); the
    /// body carries the `package_info` the business line hands to the user.
    #[serde(rename = "payout.wait_user_confirm")]
    PayoutWaitUserConfirm,
    /// A payout or withdrawal reached its recipient.
    #[serde(rename = "payout.succeeded")]
    PayoutSucceeded,
    /// A payout or withdrawal failed (a withdrawal's hold was released).
    #[serde(rename = "payout.failed")]
    PayoutFailed,
    /// A payout or withdrawal was cancelled before money moved (hold released).
    #[serde(rename = "payout.cancelled")]
    PayoutCancelled,
}

impl EventType {
    /// Every event type.
    pub const ALL: &'static [EventType] = &[
        EventType::PayOrderPaid,
        EventType::PayOrderClosed,
        EventType::PayOrderDuplicateRefunded,
        EventType::RefundSucceeded,
        EventType::RefundFailed,
        EventType::PayoutWaitUserConfirm,
        EventType::PayoutSucceeded,
        EventType::PayoutFailed,
        EventType::PayoutCancelled,
    ];

    /// The stable dotted name, e.g. `pay_order.paid`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PayOrderPaid => "pay_order.paid",
            EventType::PayOrderClosed => "pay_order.closed",
            EventType::PayOrderDuplicateRefunded => "pay_order.duplicate_refunded",
            EventType::RefundSucceeded => "refund.succeeded",
            EventType::RefundFailed => "refund.failed",
            EventType::PayoutWaitUserConfirm => "payout.wait_user_confirm",
            EventType::PayoutSucceeded => "payout.succeeded",
            EventType::PayoutFailed => "payout.failed",
            EventType::PayoutCancelled => "payout.cancelled",
        }
    }

    /// Parses the stable name back.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names_round_trip() {
        for e in EventType::ALL {
            assert_eq!(EventType::parse(e.as_str()), Some(*e));
            assert_eq!(
                serde_json::to_string(e).unwrap(),
                format!("\"{}\"", e.as_str())
            );
        }
        assert_eq!(EventType::parse("pay_order.unknown"), None);
    }
}
