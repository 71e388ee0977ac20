//! The [`ReconciliationStore`] trait: runs of bill days, the differences they find, and
//! the paydesk side of a day, reached from any [`crate::Store`] through
//! [`crate::Store::reconciliation`]. Runs and differences live in the hot database and are
//! never archived (a [`crate::TieredStore`] hands out its hot store's).
//!
//! Guarantees every implementation keeps (checked by `tests/contract_reconciliation.rs` on
//! every backend):
//! * one run row per (bill day, merchant account); starting it again is a conditional
//!   update, so two runners never reconcile one day at once (a `RUNNING` run older than
//!   the caller's staleness bound is taken over);
//! * finishing a run writes its totals (refused unless they tie out), replaces the day's
//!   `OPEN` differences and never touches settled or resolved ones, in one transaction;
//! * every change of a difference is conditional on `OPEN` and its version; a resolution
//!   and its audit entry commit together.

use crate::error::Result;
use crate::{
    Difference, DifferenceFilter, NewDifference, NewJournalEntry, PaydeskRecord, ReconciliationRun,
    ResolveDifference, RunFilter, RunTotals, StartRun, Transition,
};
use async_trait::async_trait;

/// Most rows one page returns; larger limits are clamped.
pub const MAX_PAGE: i64 = 500;

/// Reconciliation runs and differences.
#[async_trait]
pub trait ReconciliationStore: Send + Sync {
    /// Starts the run of `start.bill_date` for `start.merchant_account`: inserts it
    /// `RUNNING`, or takes the existing row back to `RUNNING` unless another runner holds
    /// it (`RUNNING` and started at or after `start.stale_before_ms`), in which case the
    /// run is `Refused` as it is.
    async fn start_run(&self, start: &StartRun) -> Result<Transition<ReconciliationRun>>;

    /// Completes a `RUNNING` run at `expected_version`, in one transaction: its totals
    /// (`Invalid` if they do not tie out), its day's `OPEN` differences replaced by
    /// `differences` (a difference already settled or resolved for the same record and
    /// kind is not opened again). Returns the run and the differences now `OPEN`.
    async fn finish_run(
        &self,
        run_id: &str,
        expected_version: i64,
        totals: &RunTotals,
        differences: &[NewDifference],
        now_ms: i64,
    ) -> Result<Transition<(ReconciliationRun, Vec<Difference>)>> {
        self.finish_run_posting(run_id, expected_version, totals, differences, None, now_ms)
            .await
    }

    /// [`ReconciliationStore::finish_run`], posting `fees` (the provider fees the bill
    /// charged: a `PROVIDER_FEE` entry) in the same transaction. The entry's idempotency
    /// key names the bill (merchant account and day): a day reconciled again posts
    /// nothing more, since bills are final.
    async fn finish_run_posting(
        &self,
        run_id: &str,
        expected_version: i64,
        totals: &RunTotals,
        differences: &[NewDifference],
        fees: Option<&NewJournalEntry>,
        now_ms: i64,
    ) -> Result<Transition<(ReconciliationRun, Vec<Difference>)>>;

    /// Marks a `RUNNING` run at `expected_version` `FAILED` with the reason; its earlier
    /// differences stay as they are.
    async fn fail_run(
        &self,
        run_id: &str,
        expected_version: i64,
        error: &str,
        now_ms: i64,
    ) -> Result<Transition<ReconciliationRun>>;

    /// A run by id.
    async fn run(&self, id: &str) -> Result<Option<ReconciliationRun>>;

    /// Runs matching `filter`, newest bill day first.
    async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<ReconciliationRun>>;

    /// A difference by id.
    async fn difference(&self, id: &str) -> Result<Option<Difference>>;

    /// Differences matching `filter`, by id (keyset-paged).
    async fn list_differences(&self, filter: &DifferenceFilter) -> Result<Vec<Difference>>;

    /// An operator resolves an `OPEN` difference at `expected_version` with a reason; the
    /// audit entry is written in the same transaction. `Refused` (nothing written) when it
    /// is no longer `OPEN` or its version moved.
    async fn resolve_difference(&self, r: &ResolveDifference) -> Result<Transition<Difference>>;

    /// paydesk settled an `OPEN` difference through the normal flow (the provider
    /// confirmed it): conditional on `OPEN` and `expected_version`.
    async fn mark_settled(
        &self,
        id: &str,
        expected_version: i64,
        note: &str,
        now_ms: i64,
    ) -> Result<Transition<Difference>>;

    /// The paydesk side of a bill day at one merchant account: attempts that succeeded
    /// (provider time) in `[from_ms, to_ms)` and refunds that succeeded in it.
    async fn day_records(
        &self,
        merchant_account: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<PaydeskRecord>>;
}
