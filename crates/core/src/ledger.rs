//! The double-entry balance ledger, as pure data and rules (persistence is in
//! `paydesk-store`).
//!
//! * [`AccountRef`] names a ledger account: a kind ([`AccountKind`]), an owner and a
//!   currency. User and seller balances are split into an *available* and a *held*
//!   account, so a hold (frozen amount) is an ordinary entry `available -> held`.
//! * [`JournalEntry`] is one movement: lines whose signed amounts sum to zero per
//!   currency. Its constructor refuses anything else, so an unbalanced entry cannot
//!   exist in memory, let alone be posted.
//! * [`movements`] builds the entries paydesk posts (acquiring, refunds, fees, settlement,
//!   holds, withdrawals, payouts).
//!
//! Sign convention: an account's balance is the sum of its lines. What the platform owes
//! users, sellers and itself is positive; the mirror of money held at a provider
//! ([`AccountKind::External`]) is negative, so all balances of a currency sum to zero.

mod account;
mod entry;
pub mod movements;

pub use account::{AccountKind, AccountRef, MAX_OWNER_ID_LEN, PLATFORM_SCOPE};
pub use entry::{EntryKind, JournalEntry, LedgerError, Line, MAX_LINES, MAX_LINE_MINOR};
