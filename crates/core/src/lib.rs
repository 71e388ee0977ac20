//! paydesk's domain core: money, identifiers, the state machines of pay orders,
//! attempts, refunds and payouts as data, the double-entry ledger's rules, event
//! types, the notification retry schedule and the business request signature. Everything here is pure (no I/O), so every other crate can
//! depend on it and test against it cheaply.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attempt;
pub mod balance_part;
pub mod event;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod pay_order;
pub mod payout;
pub mod provider;
pub mod refund;
pub mod retry;
pub mod signing;
pub mod transition;

pub use attempt::{AttemptFlag, AttemptStatus};
pub use balance_part::{BalancePartStatus, RefundFunds};
pub use event::EventType;
pub use ledger::{AccountKind, AccountRef, EntryKind, JournalEntry, LedgerError};
pub use money::{Amount, Currency, MoneyError};
pub use pay_order::PayOrderStatus;
pub use payout::{PayoutKind, PayoutStatus, TransferAnswer};
pub use provider::Provider;
pub use refund::{RefundKind, RefundStatus};
pub use transition::IllegalTransition;
