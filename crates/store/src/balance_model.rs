//! Records of balance and combined payments (see [`paydesk_core::balance_part`]).

use crate::{NewEvent, PayOrder};
use paydesk_core::ledger::{AccountRef, LedgerError};
use paydesk_core::{Amount, BalancePartStatus};

/// The part of a pay order paid from the buyer's platform balance. One per order; it
/// lives in the hot database for good, like the ledger entries it records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancePart {
    /// The order.
    pub pay_order_id: String,
    /// The order's business line.
    pub business_line_id: String,
    /// The buyer whose balance pays it (the order's `buyer_id`).
    pub user_id: String,
    /// How much, in the order's currency.
    pub amount: Amount,
    /// Held, captured or released.
    pub status: BalancePartStatus,
    /// What refunds have taken from it (or hold reserved while in flight).
    pub refunded_minor: i64,
    /// First hold.
    pub created_at_ms: i64,
    /// Last change.
    pub updated_at_ms: i64,
    /// Optimistic-concurrency guard; also numbers the hold and release entries.
    pub version: i64,
}

impl BalancePart {
    /// The buyer's available-balance account.
    pub fn user_account(&self) -> Result<AccountRef, LedgerError> {
        AccountRef::user(self.user_id.as_str(), self.amount.currency())
    }
}

/// Holds `amount_minor` of the order's buyer's balance for a `COMBINED` payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HoldBalance {
    /// The order (must be `WAITING`, unexpired, with a `buyer_id`).
    pub pay_order_id: String,
    /// The balance part: more than 0, less than the order's amount (the provider pays
    /// the rest).
    pub amount_minor: i64,
    /// When.
    pub now_ms: i64,
}

/// What holding a balance part did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HoldOutcome {
    /// Held (or already held for the same amount: nothing changed).
    Held(BalancePart),
    /// The buyer's available balance does not cover it; nothing changed.
    Insufficient {
        /// What is available now.
        available_minor: i64,
    },
    /// The order cannot take a balance part (not waiting, expired, no buyer, or a
    /// provider attempt is open for another amount); nothing changed. The order as it
    /// is, if it exists.
    NotPayable(Option<Box<PayOrder>>),
}

/// Pays a whole order from its buyer's balance (`BALANCE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancePayment {
    /// The order (must be `WAITING`, unexpired, with a `buyer_id`, no open attempt).
    pub pay_order_id: String,
    /// When.
    pub now_ms: i64,
    /// The `pay_order.paid` event, written with the change.
    pub paid_event: NewEvent,
}

/// What paying from the balance did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BalancePaymentOutcome {
    /// The order is `PAID`; its balance part captured.
    Paid {
        /// The order after the change.
        order: Box<PayOrder>,
        /// The captured part.
        part: BalancePart,
    },
    /// The buyer's available balance does not cover the order; nothing changed.
    Insufficient {
        /// What is available now.
        available_minor: i64,
    },
    /// The order cannot be paid this way now (see [`HoldOutcome::NotPayable`]).
    NotPayable(Option<Box<PayOrder>>),
}
