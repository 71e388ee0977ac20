//! paydesk storage: the [`Store`] trait that all domain logic is written against, and
//! its SQLite, PostgreSQL and MySQL (MariaDB, TiDB) implementations.
//!
//! Invariants every implementation keeps (and `tests/contract.rs` checks on every
//! backend):
//! * every state change is a conditional update on the expected status (or version
//!   or lease owner); when the condition fails nothing changes and the caller is told;
//! * a business order number maps to exactly one pay order, through the narrow
//!   `business_order_keys` table that archiving never moves;
//! * an outbox event is written in the same transaction as the change it reports;
//! * a nonce is accepted once per app id;
//! * ledger entries balance per currency, are append-only, and commit with every cached
//!   balance they change; a balance that may not go negative never does (see
//!   [`ledger`]).
//!
//! SQL stays inside this crate. The three backends share one implementation
//! (`sql_store.rs`), instantiated per sqlx driver; only DDL, placeholders and the
//! transaction start differ.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod accounts_model;
mod admin_model;
mod approvals_model;
pub mod archive;
mod balance_model;
mod console_model;
mod dialect;
mod error;
pub mod generate;
pub mod ledger;
mod ledger_model;
mod list;
mod migrate;
mod model;
mod payments_model;
mod payouts_model;
mod queries;
pub mod reconciliation;
mod reconciliation_model;
mod sql_accounts;
mod sql_approvals;
mod sql_archive;
mod sql_balance;
mod sql_console;
mod sql_ledger;
mod sql_payments;
mod sql_payouts;
mod sql_reconciliation;
mod sql_rules;
mod sql_store;
#[cfg(feature = "test-support")]
pub mod testing;
mod tiered;

pub use accounts_model::*;
pub use admin_model::*;
pub use approvals_model::*;
pub use balance_model::*;
pub use console_model::*;
pub use dialect::Backend;
pub use error::{Result, StoreError};
pub use ledger::LedgerStore;
pub use ledger_model::*;
pub use list::{merge_pages, PayOrderQuery};
pub use model::*;
pub use payments_model::*;
pub use payouts_model::*;
pub use reconciliation::ReconciliationStore;
pub use reconciliation_model::*;
pub use sql_store::{MySqlStore, PostgresStore, SqliteStore};
pub use tiered::TieredStore;

use async_trait::async_trait;
use std::sync::Arc;

/// Whether a nonce was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceOutcome {
    /// First use: the request may proceed.
    Fresh,
    /// Seen before within its window: a replay.
    Replayed,
}

/// Whether a conditional update took effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition<T> {
    /// The expected state held; this is the record after the change.
    Applied(T),
    /// The record was not in the expected state (or does not exist); nothing changed.
    /// Carries the record as it is now, if it exists.
    Refused(Option<T>),
}

/// The storage contract. Domain logic is written once against this trait.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Applies pending migrations (idempotent, safe to run from several instances).
    async fn migrate(&self) -> Result<()>;

    /// Checks the database answers.
    async fn ping(&self) -> Result<()>;

    /// Row-level access for archiving (hot/cold), if this store supports it.
    fn archive_tier(&self) -> Option<&dyn archive::ArchiveTier> {
        None
    }

    /// The balance ledger, payouts and withdrawals. They live in the hot database and are
    /// never archived, so a [`TieredStore`] returns its hot store's.
    fn ledger(&self) -> &dyn LedgerStore;
    /// Reconciliation runs and differences, and the paydesk side of a bill day. They live
    /// in the hot database and are never archived, so a [`TieredStore`] returns its hot
    /// store's.
    fn reconciliation(&self) -> &dyn ReconciliationStore;

    /// The hot and the cold store, when this store is a [`TieredStore`] (for the
    /// scheduled archiver).
    fn tiers(&self) -> Option<(&dyn Store, &dyn Store)> {
        None
    }

    /// Pay orders of a business line over a time range, newest first, keyset-paged
    /// ([`PayOrderQuery`]). A [`TieredStore`] merges hot and cold.
    async fn list_pay_orders(&self, query: &PayOrderQuery) -> Result<Vec<PayOrder>> {
        match self.archive_tier() {
            Some(t) => t.list_pay_orders(query).await,
            None => Err(StoreError::Config(format!(
                "the {} store cannot list pay orders",
                self.backend().name()
            ))),
        }
    }

    // ---- business lines ----

    /// Inserts a business line; a taken name or app id is `Conflict`.
    async fn insert_business_line(&self, line: &BusinessLine) -> Result<()>;

    /// Looks a business line up by its app id.
    async fn business_line_by_app_id(&self, app_id: &str) -> Result<Option<BusinessLine>>;

    /// Looks a business line up by its id.
    async fn business_line_by_id(&self, id: &str) -> Result<Option<BusinessLine>>;

    /// Every business line, by name.
    async fn list_business_lines(&self) -> Result<Vec<BusinessLine>>;

    /// Sets a business line's status by id or name; false if none matched.
    async fn set_business_line_status(
        &self,
        id_or_name: &str,
        status: BusinessLineStatus,
        now_ms: i64,
    ) -> Result<bool>;

    // ---- replay protection ----

    /// Records a nonce for an app id until `expires_at_ms`; a second use is `Replayed`.
    async fn record_nonce(
        &self,
        app_id: &str,
        nonce: &str,
        expires_at_ms: i64,
    ) -> Result<NonceOutcome>;

    /// Deletes up to `limit` nonces that expired before `now_ms`.
    async fn purge_expired_nonces(&self, now_ms: i64, limit: i64) -> Result<u64>;

    // ---- pay orders ----

    /// Creates a pay order unless its business order number is taken, in which case
    /// the order holding it is returned. Exactly one order per number under any
    /// concurrency.
    async fn create_pay_order(&self, order: &NewPayOrder) -> Result<CreateOutcome>;

    /// A pay order by id.
    async fn pay_order(&self, id: &str) -> Result<Option<PayOrder>>;

    /// A pay order by its business line and business order number.
    async fn pay_order_by_business_no(
        &self,
        business_line_id: &str,
        business_order_no: &str,
    ) -> Result<Option<PayOrder>>;

    /// A pay order by its checkout token.
    async fn pay_order_by_checkout_token(&self, token: &str) -> Result<Option<PayOrder>>;

    /// Closes a `WAITING` order that has no open (`CREATING`/`PENDING`) attempt and writes
    /// `event` in the same transaction. Refused (nothing written) otherwise: the caller
    /// closes the open attempts at their provider first, then tries again.
    async fn close_pay_order(
        &self,
        id: &str,
        now_ms: i64,
        event: &NewEvent,
    ) -> Result<Transition<PayOrder>>;

    /// Up to `limit` `WAITING` orders whose expiry is before `now_ms`, oldest first.
    async fn expired_waiting_orders(&self, now_ms: i64, limit: i64) -> Result<Vec<PayOrder>>;

    // ---- outbox ----

    /// Up to `limit` pending events due at `now_ms` and not leased.
    async fn due_events(&self, now_ms: i64, limit: i64) -> Result<Vec<OutboxEvent>>;

    /// Takes the lease on an event seen by `due_events` (compared on its version).
    /// False if another worker got there first.
    async fn claim_event(
        &self,
        event: &OutboxEvent,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool>;

    /// Records a try and its consequence, if `owner` still holds the lease. False
    /// (nothing written) otherwise.
    async fn record_attempt(
        &self,
        attempt: &NotificationAttempt,
        owner: &str,
        after: AfterAttempt,
        now_ms: i64,
    ) -> Result<bool>;

    /// An event by id.
    async fn event(&self, id: &str) -> Result<Option<OutboxEvent>>;

    /// Events about a pay order, oldest first.
    async fn events_for_pay_order(&self, pay_order_id: &str) -> Result<Vec<OutboxEvent>>;

    /// Tries of an event, in order.
    async fn attempts_for_event(&self, event_id: &str) -> Result<Vec<NotificationAttempt>>;

    /// Queues a `FAILED` or `DELIVERED` event for delivery again from the start of
    /// the schedule. Refused for a `PENDING` one (it is already queued).
    async fn requeue_event(&self, id: &str, now_ms: i64) -> Result<Transition<OutboxEvent>>;

    /// Pending and failed counts.
    async fn outbox_stats(&self) -> Result<OutboxStats>;

    // ---- attempts (acquiring) ----

    /// Records a new attempt in state `CREATING` for a `WAITING`, unexpired order (at
    /// `attempt.created_at_ms`) that has fewer than `max_attempts` attempts and no open
    /// (`CREATING`/`PENDING`) attempt, inserting its never-archived `attempt_keys` row in the
    /// same transaction. Serialised per order (the order row is locked by a conditional
    /// version bump), so two concurrent pays of one order create at most one open attempt.
    async fn create_attempt(
        &self,
        attempt: &NewAttempt,
        max_attempts: i64,
    ) -> Result<CreateAttemptOutcome>;

    /// An attempt by id.
    async fn attempt(&self, id: &str) -> Result<Option<Attempt>>;

    /// An attempt by its number at the provider (`out_trade_no`).
    async fn attempt_by_no(&self, attempt_no: &str) -> Result<Option<Attempt>>;

    /// An attempt by the provider's transaction id.
    async fn attempt_by_provider_txn_id(&self, provider_txn_id: &str) -> Result<Option<Attempt>>;

    /// The attempts of an order, oldest first.
    async fn attempts_for_pay_order(&self, pay_order_id: &str) -> Result<Vec<Attempt>>;

    /// Moves an attempt from `update.from` to `update.to` (`PENDING`, `CLOSED` or `FAILED`;
    /// never `SUCCEEDED`), conditionally. Refused when it is not in `from`.
    async fn update_attempt(&self, id: &str, update: &AttemptUpdate)
        -> Result<Transition<Attempt>>;

    /// After an active query that changed nothing: sets the next query time (`None`: stop)
    /// and counts the query, if the attempt's version is still `expected_version`.
    async fn schedule_attempt_query(
        &self,
        id: &str,
        expected_version: i64,
        next_query_at_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<bool>;

    /// Up to `limit` attempts whose next query is due at `now_ms`, oldest due first.
    async fn due_attempt_queries(&self, now_ms: i64, limit: i64) -> Result<Vec<Attempt>>;

    /// Records a verified payment, in one transaction: the attempt becomes `SUCCEEDED`
    /// (from any other state); then, if the amount equals the attempt's and the order is
    /// `WAITING`, the order becomes `PAID` and `paid_event` is written; otherwise the
    /// attempt is flagged (`AMOUNT_MISMATCH`, else `DUPLICATE` if the order is paid, else
    /// `LATE`) and `auto_refund` is recorded with that kind (not for a held mismatch).
    /// An attempt for part of the order (`COMBINED`) pays it only together with a held
    /// balance part of exactly the rest, which is captured into the attempt's clearing
    /// account in the same transaction; without one it is flagged `LATE` (the order can
    /// no longer take it) and refunded. A whole-amount payment releases a part still
    /// held. Every success posts its `ACQUIRING` entry (external -> clearing of the
    /// attempt's merchant account), flagged or not: the money came in either way.
    /// Idempotent: an attempt already `SUCCEEDED` changes nothing. A `paid_amount_minor`
    /// of zero or less is `Invalid` and writes nothing.
    async fn record_payment_success(&self, success: &PaymentSuccess) -> Result<PaymentOutcome>;

    // ---- balance and combined payments ----

    /// The order's balance part, if it ever had one.
    async fn balance_part(&self, pay_order_id: &str) -> Result<Option<BalancePart>>;

    /// Holds part of a `WAITING` order from its buyer's balance (`COMBINED`), posting the
    /// `HOLD` entry in the same transaction; a part held for another amount is released
    /// first, one held for the same amount is returned as it is. Refused while a
    /// provider attempt of the order is open (close it first).
    async fn hold_balance_part(&self, hold: &HoldBalance) -> Result<HoldOutcome>;

    /// Releases the order's balance part if it is held (`RELEASE` entry), unless an open
    /// attempt of the order is for exactly the rest (it still relies on the hold); returns
    /// the part as it ends up (`None`: the order has none).
    async fn release_balance_part(
        &self,
        pay_order_id: &str,
        now_ms: i64,
    ) -> Result<Option<BalancePart>>;

    /// Pays a whole `WAITING` order from its buyer's balance (`BALANCE`) in one
    /// transaction: hold and capture into the balance clearing account, the order
    /// `PAID`, `paid_event` written. Refused while a provider attempt is open.
    async fn pay_with_balance(&self, payment: &BalancePayment) -> Result<BalancePaymentOutcome>;

    /// Up to `limit` flagged attempts, newest first, for operators.
    async fn flagged_attempts(&self, limit: i64) -> Result<Vec<Attempt>>;

    // ---- refunds ----

    /// Records a business refund `PENDING`, in one transaction: its `refund_keys` row
    /// (business line + business refund number; a taken number returns `Existing`), its
    /// `refund_nos` row, and the amount reserved on the order by a conditional update
    /// (`status = PAID AND refunded_amount_minor + amount <= amount_minor`), so refunds
    /// never exceed the paid amount under any concurrency. At most `max_refunds` refunds
    /// per attempt.
    async fn create_refund(
        &self,
        refund: &NewRefund,
        max_refunds: i64,
    ) -> Result<CreateRefundOutcome>;

    /// A refund by id.
    async fn refund(&self, id: &str) -> Result<Option<Refund>>;

    /// A refund by business line and business refund number.
    async fn refund_by_business_no(
        &self,
        business_line_id: &str,
        business_refund_no: &str,
    ) -> Result<Option<Refund>>;

    /// A refund by our refund number at the provider.
    async fn refund_by_no(&self, refund_no: &str) -> Result<Option<Refund>>;

    /// The refunds of an order, oldest first.
    async fn refunds_for_pay_order(&self, pay_order_id: &str) -> Result<Vec<Refund>>;

    /// Up to `limit` refunds whose next action is due at `now_ms`, oldest due first.
    async fn due_refunds(&self, now_ms: i64, limit: i64) -> Result<Vec<Refund>>;

    /// Applies `update` if the refund's version is still `update.expected_version` and the
    /// state change is legal; a business refund that becomes `FAILED` releases its
    /// reservation on the order in the same transaction; `update.event` is written with it.
    async fn update_refund(&self, id: &str, update: &RefundUpdate) -> Result<Transition<Refund>>;

    // ---- raw provider callbacks ----

    /// Keeps a callback exactly as received.
    async fn insert_raw_callback(&self, callback: &RawCallback) -> Result<()>;

    /// The callbacks about an order, oldest first.
    async fn raw_callbacks_for_pay_order(&self, pay_order_id: &str) -> Result<Vec<RawCallback>>;

    // ---- checkout rule versions ----

    /// Writes a new immutable version, numbered one past the highest, and makes it
    /// active, in one transaction, if the active version is still `expected_active`
    /// (0: none yet). Refused (nothing written) otherwise, carrying the pointer as it
    /// is now. Two publishers racing from the same active version: exactly one wins.
    async fn publish_rule_version(
        &self,
        new: &NewRuleVersion,
        expected_active: i64,
    ) -> Result<Transition<ActiveRuleVersion>>;

    /// Makes an existing `version` active if the active version is still
    /// `expected_active` (a rollback). Refused (nothing written) when the pointer moved
    /// or the version does not exist.
    async fn activate_rule_version(
        &self,
        version: i64,
        expected_active: i64,
        by: &str,
        now_ms: i64,
    ) -> Result<Transition<ActiveRuleVersion>>;

    /// The active version pointer (version 0 before the first publish).
    async fn active_rule_version(&self) -> Result<ActiveRuleVersion>;

    /// One version with its document.
    async fn rule_version(&self, version: i64) -> Result<Option<RuleVersion>>;

    /// Up to `limit` versions, newest first, without their documents.
    async fn list_rule_versions(&self, limit: i64) -> Result<Vec<RuleVersionSummary>>;

    // ---- operators ----

    /// Inserts an operator; a taken name is `Conflict`.
    async fn insert_operator(&self, operator: &Operator) -> Result<()>;

    /// The operator whose credential hashes to `token_hash`.
    async fn operator_by_token_hash(&self, token_hash: &str) -> Result<Option<Operator>>;

    /// Every operator, by name.
    async fn list_operators(&self) -> Result<Vec<Operator>>;

    /// Sets an operator's status by name, only if it differs (a conditional update);
    /// false if no operator by that name had another status. A disabled operator's
    /// credential and sessions stop working at once (both are checked against the
    /// status on every request).
    async fn set_operator_status(&self, name: &str, status: OperatorStatus) -> Result<bool>;

    /// Records a console sign-in.
    async fn insert_operator_session(&self, session: &OperatorSession) -> Result<()>;

    /// The operator of an unexpired session.
    async fn session_operator(&self, token_hash: &str, now_ms: i64) -> Result<Option<Operator>>;

    /// Ends a session; false if there was none.
    async fn delete_operator_session(&self, token_hash: &str) -> Result<bool>;

    /// Deletes up to `limit` sessions that expired before `now_ms`.
    async fn purge_expired_sessions(&self, now_ms: i64, limit: i64) -> Result<u64>;

    // ---- decision sample ----

    /// Stores a decision's facts in its slot, replacing what the slot held.
    async fn record_decision_sample(&self, sample: &DecisionSample) -> Result<()>;

    /// Up to `limit` samples, newest first.
    async fn decision_samples(&self, limit: i64) -> Result<Vec<DecisionSample>>;

    // ---- merchant accounts and the audit log ----

    /// Inserts an account with its first key version and the audit entry, in one
    /// transaction; a taken id is `Conflict` (nothing written).
    async fn insert_merchant_account(
        &self,
        account: &MerchantAccount,
        key: &MerchantAccountKey,
        audit: &AuditEntry,
    ) -> Result<()>;

    /// An account by id.
    async fn merchant_account(&self, id: &str) -> Result<Option<MerchantAccount>>;

    /// Every account, by id.
    async fn list_merchant_accounts(&self) -> Result<Vec<MerchantAccount>>;

    /// The key versions of an account, oldest first.
    async fn merchant_account_keys(&self, account_id: &str) -> Result<Vec<MerchantAccountKey>>;

    /// Applies `update` (status, public configuration, a new key version, a retirement, the
    /// audit entry) in one transaction if the account's version is still
    /// `update.expected_version`. Refused (nothing written) otherwise, with the account as
    /// it is now. A taken key version is `Conflict`, a retirement of a missing or retired
    /// version `Invalid`; either way nothing is written.
    async fn update_merchant_account(
        &self,
        update: &MerchantAccountUpdate,
    ) -> Result<Transition<MerchantAccount>>;

    /// Count, version sum and latest change of all accounts: changes whenever any account
    /// changes, so instances poll it to reload.
    async fn merchant_accounts_stamp(&self) -> Result<MerchantAccountsStamp>;

    /// Appends an audit entry on its own.
    async fn insert_audit_entry(&self, entry: &AuditEntry) -> Result<()>;

    /// Up to `limit` audit entries, newest first.
    async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>>;

    // ---- the operator console ----

    /// Replaces a business line's secret if it is still `expected_ciphertext`, keeping
    /// the old one as the previous secret until `previous_valid_until_ms` (replacing any
    /// earlier previous secret), with the audit entry, in one transaction. False (nothing
    /// written) when the secret changed meanwhile or the line does not exist.
    async fn rotate_business_line_secret(
        &self,
        rotation: &SecretRotation,
        audit: &AuditEntry,
    ) -> Result<bool>;

    /// The previous secret of a business line if it is still accepted at `now_ms`.
    async fn previous_business_line_secret(
        &self,
        business_line_id: &str,
        now_ms: i64,
    ) -> Result<Option<PreviousSecret>>;

    /// Payment figures for the console dashboard (the hot tier: recent history).
    async fn dashboard(&self, query: &DashboardQuery) -> Result<Dashboard>;

    // ---- maker-checker approvals ----

    /// Stores a new `PENDING` approval (version 1); a taken id is `Conflict`.
    async fn insert_approval(&self, approval: &Approval) -> Result<()>;

    /// An approval by id.
    async fn approval(&self, id: &str) -> Result<Option<Approval>>;

    /// Up to `limit` approvals, newest first, only those in `status` when given.
    async fn list_approvals(
        &self,
        status: Option<ApprovalStatus>,
        limit: i64,
    ) -> Result<Vec<Approval>>;

    /// Decides an approval (`to` is `APPROVED` or `REJECTED`, otherwise `Invalid`) if it
    /// is still `PENDING` at `expected_version`; refused (nothing written) otherwise, with
    /// the approval as it is now.
    async fn decide_approval(
        &self,
        id: &str,
        expected_version: i64,
        to: ApprovalStatus,
        decided_by: &str,
        now_ms: i64,
    ) -> Result<Transition<Approval>>;
}

/// Opens the store a URL names (`sqlite:PATH`, `postgres://...`, `mysql://...`),
/// creating an SQLite file if missing. Does not migrate.
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>> {
    match Backend::from_url(url) {
        Some(Backend::Sqlite) => Ok(Arc::new(SqliteStore::connect(url, max_connections).await?)),
        Some(Backend::Postgres) => Ok(Arc::new(
            PostgresStore::connect(url, max_connections).await?,
        )),
        Some(Backend::MySql) => Ok(Arc::new(MySqlStore::connect(url, max_connections).await?)),
        None => Err(StoreError::Config(format!(
            "unsupported database URL scheme in `{}` (use sqlite:, postgres:// or mysql://)",
            redact_url(url)
        ))),
    }
}

/// A URL with any password replaced, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
