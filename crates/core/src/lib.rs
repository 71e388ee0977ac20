//! paydesk's domain core: money, identifiers, the state machines of pay orders and
//! attempts as data, event types, the notification retry schedule and the business
//! request signature. Everything here is pure (no I/O), so every other crate can
//! depend on it and test against it cheaply.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attempt;
pub mod event;
pub mod ids;
pub mod money;
pub mod pay_order;
pub mod provider;
pub mod refund;
pub mod retry;
pub mod signing;
pub mod transition;

pub use attempt::{AttemptFlag, AttemptStatus};
pub use event::EventType;
pub use money::{Amount, Currency, MoneyError};
pub use pay_order::PayOrderStatus;
pub use provider::Provider;
pub use refund::{RefundKind, RefundStatus};
pub use transition::IllegalTransition;
