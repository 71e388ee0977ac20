//! Payouts (打款) and withdrawals (提现) at the provider: `execute` carries one payout a
//! step further (send, query, re-send with the same number, cancel an unconfirmed one) and
//! records what the provider said, with the ledger entry and the `payout.*` event of every
//! end in the same transaction. The business API (`crate::api::payouts`) records payouts;
//! the worker (`crate::workers::payouts`) and provider notifications drive them.

pub mod execute;
pub mod funding;

pub use execute::{cancel, kick, on_notification, retry, step, CancelRefused, PayoutError};
