//! The [`LedgerStore`] trait: the balance ledger and the payout/withdrawal records, reached
//! from any [`crate::Store`] through [`crate::Store::ledger`]. Everything here lives in the
//! hot database and is never archived (a [`crate::TieredStore`] hands out its hot store's).
//!
//! Guarantees every implementation keeps (checked by `tests/contract_ledger.rs` on every
//! backend):
//! * an entry, its lines and every touched account's cached balance commit together or
//!   not at all; entries are append-only;
//! * a balance that may not go negative never does, under any concurrency: each line is
//!   a conditional update (`... WHERE allow_negative = 1 OR balance_minor + amount >= 0`),
//!   taken in ascending account id order so concurrent postings cannot deadlock each
//!   other (a deadlock or serialization failure still retries the whole transaction, a
//!   bounded number of times);
//! * an idempotency key posts once (`journal_entry_keys`), a business payout number
//!   creates once (`payout_keys`); neither table is ever archived;
//! * a payout's state change, its ledger entry and its event commit together; a refused
//!   change writes nothing.

use crate::error::Result;
use crate::{
    AccountCheck, AccountFilter, CreatePayoutOutcome, LedgerAccount, NewJournalEntry, NewPayout,
    Payout, PayoutFilter, PayoutUpdate, PostOutcome, PostedEntry, StatementLine, Transition,
};
use async_trait::async_trait;
use paydesk_core::ledger::AccountRef;
use paydesk_core::Currency;

/// Most rows one page returns; larger limits are clamped.
pub const MAX_PAGE: i64 = 500;

/// Balance accounts, journal entries, payouts and withdrawals.
#[async_trait]
pub trait LedgerStore: Send + Sync {
    // ---- accounts ----

    /// The account with this identity, opened (balance 0, negative allowed per its kind)
    /// if it did not exist. Idempotent under concurrency: one account per identity.
    async fn ensure_account(&self, account: &AccountRef, now_ms: i64) -> Result<LedgerAccount>;

    /// An account by id.
    async fn account(&self, id: &str) -> Result<Option<LedgerAccount>>;

    /// An account by identity, if opened.
    async fn account_by_ref(&self, account: &AccountRef) -> Result<Option<LedgerAccount>>;

    /// The cached balance of an account, signed minor units; 0 for one never opened
    /// (it has no lines).
    async fn balance(&self, account: &AccountRef) -> Result<i64>;

    /// Up to `limit` accounts matching `filter`, by id, after the id `after` (keyset).
    async fn list_accounts(
        &self,
        filter: &AccountFilter,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LedgerAccount>>;

    /// Up to `limit` lines of an account, newest first, strictly before
    /// `before_version` (the previous page's last `account_version`; `None`: from the
    /// newest).
    async fn statement(
        &self,
        account_id: &str,
        before_version: Option<i64>,
        limit: i64,
    ) -> Result<Vec<StatementLine>>;

    /// The account's cached balance and version against the sum and count of its lines,
    /// read in one statement (one snapshot). `None` for an unknown account.
    async fn verify_account(&self, account_id: &str) -> Result<Option<AccountCheck>>;

    // ---- entries ----

    /// Posts an entry in one transaction: its idempotency key, the entry, its lines, and
    /// each account's balance (accounts are opened first if new). `Duplicate` and
    /// `Insufficient` write nothing (an account opened for the attempt stays, empty).
    async fn post_entry(&self, entry: &NewJournalEntry) -> Result<PostOutcome>;

    /// An entry with its lines.
    async fn entry(&self, id: &str) -> Result<Option<PostedEntry>>;

    // ---- payouts and withdrawals ----

    /// Records a withdrawal `ACCEPTED` and posts its `hold` (available -> held of
    /// `new.funding`, exactly the amount) in one transaction. A taken business payout
    /// number returns `Existing` and writes nothing; a balance that does not cover the
    /// hold returns `Insufficient` and writes nothing. A hold of another kind, account
    /// or amount is `Invalid`.
    async fn create_withdrawal(
        &self,
        new: &NewPayout,
        hold: &NewJournalEntry,
    ) -> Result<CreatePayoutOutcome>;

    /// Records a payout `ACCEPTED` (nothing is posted until it succeeds: see
    /// [`LedgerStore::update_payout`]). A taken business payout number returns
    /// `Existing`. `new.funding` must be a platform funding account.
    async fn create_payout(&self, new: &NewPayout) -> Result<CreatePayoutOutcome>;

    /// Applies `update` if the payout is still in `update.from` at
    /// `update.expected_version` and the move is legal, posting `entry` and writing
    /// `update.event` in the same transaction. `entry` must be exactly what
    /// `paydesk_core::payout::ledger_effect` asks for this move (a withdrawal: debit of
    /// its hold on success, release on failure or cancellation; a payout: the charge of
    /// its funding account on success; otherwise none) for the payout's amount and
    /// accounts, else `Invalid` and nothing is written. Refused (nothing written) when
    /// the guard fails, with the payout as it is now.
    async fn update_payout(
        &self,
        id: &str,
        update: &PayoutUpdate,
        entry: Option<&NewJournalEntry>,
    ) -> Result<Transition<Payout>>;

    /// A payout by id.
    async fn payout(&self, id: &str) -> Result<Option<Payout>>;

    /// A payout by its business line and business payout number.
    async fn payout_by_business_no(
        &self,
        business_line_id: &str,
        business_payout_no: &str,
    ) -> Result<Option<Payout>>;

    /// A payout by our number at the provider.
    async fn payout_by_no(&self, payout_no: &str) -> Result<Option<Payout>>;

    /// Up to `limit` open payouts whose next action is due at `now_ms`, oldest due first.
    async fn due_payouts(&self, now_ms: i64, limit: i64) -> Result<Vec<Payout>>;

    /// What a business line's payouts and withdrawals in `currency` recorded on the
    /// business day `day_no` total (see [`crate::DailyLimit`]); 0 for a day without any.
    async fn payout_day_total(
        &self,
        business_line_id: &str,
        currency: Currency,
        day_no: i64,
    ) -> Result<i64>;

    /// Up to `limit` payouts matching `filter`, newest first, strictly after the cursor
    /// `before` (the previous page's last `(created_at_ms, id)`).
    async fn list_payouts(
        &self,
        filter: &PayoutFilter,
        before: Option<(i64, &str)>,
        limit: i64,
    ) -> Result<Vec<Payout>>;
}
