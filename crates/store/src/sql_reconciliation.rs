//! Reconciliation runs, differences and the paydesk side of a bill day, stamped out per
//! backend like `sql_store.rs`. Every change is conditional (on the run's or the
//! difference's version and state); a refused change writes nothing.

use crate::error::{is_unique_violation, Result, StoreError};
use crate::reconciliation::{ReconciliationStore, MAX_PAGE};
use crate::sql_store::{corrupt, with_retry};
use crate::*;
use async_trait::async_trait;
use paydesk_core::transition::StateMachine;
use paydesk_core::{Currency, Provider};
use sqlx::mysql::{MySql, MySqlRow};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::Transaction;
use std::collections::HashSet;
use std::str::FromStr;

/// What identifies a difference across re-runs of a day: a decided one (settled or
/// resolved) is never opened again for the same record and kind.
type DifferenceKey = (String, String, String, Option<String>);

fn key_of(d: &NewDifference) -> DifferenceKey {
    (
        d.kind.as_str().to_owned(),
        d.record_kind.as_str().to_owned(),
        d.attempt_no.clone(),
        d.refund_no.clone(),
    )
}

fn currency(text: &str) -> Result<Currency> {
    Currency::from_str(text.trim()).map_err(|_| corrupt("currency", text))
}

fn page(limit: i64) -> i64 {
    limit.clamp(1, MAX_PAGE)
}

/// The outcome of a conditional update that changed `changed` rows, given its record as
/// read after it: applied only when exactly one row changed and the record is there.
fn outcome<T>(changed: u64, now: Option<T>) -> Transition<T> {
    match (changed, now) {
        (1, Some(x)) => Transition::Applied(x),
        (_, now) => Transition::Refused(now),
    }
}

macro_rules! impl_reconciliation {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            /// Column `col` read by `parse`; a value it refuses is a corrupt `what`.
            fn parsed<T>(
                row: &$row,
                col: &str,
                what: &str,
                parse: fn(&str) -> Option<T>,
            ) -> Result<T> {
                let text = Self::s(row, col)?;
                parse(&text).ok_or_else(|| corrupt(what, &text))
            }

            fn run_row(row: &$row) -> Result<ReconciliationRun> {
                Ok(ReconciliationRun {
                    id: Self::s(row, "id")?,
                    bill_date: Self::s(row, "bill_date")?,
                    merchant_account: Self::s(row, "merchant_account")?,
                    provider: Self::parsed(row, "provider", "provider", Provider::parse)?,
                    status: Self::parsed(
                        row,
                        "status",
                        "reconciliation run status",
                        RunStatus::parse,
                    )?,
                    currency: currency(&Self::s(row, "currency")?)?,
                    totals: RunTotals {
                        provider_count: Self::i(row, "provider_count")?,
                        provider_net_minor: Self::i(row, "provider_net_minor")?,
                        paydesk_count: Self::i(row, "paydesk_count")?,
                        paydesk_net_minor: Self::i(row, "paydesk_net_minor")?,
                        matched_count: Self::i(row, "matched_count")?,
                        matched_net_minor: Self::i(row, "matched_net_minor")?,
                        missing_in_paydesk_count: Self::i(row, "missing_in_paydesk_count")?,
                        missing_in_paydesk_net_minor: Self::i(row, "missing_in_paydesk_net_minor")?,
                        missing_at_provider_count: Self::i(row, "missing_at_provider_count")?,
                        missing_at_provider_net_minor: Self::i(
                            row,
                            "missing_at_provider_net_minor",
                        )?,
                        differing_count: Self::i(row, "differing_count")?,
                        differing_provider_net_minor: Self::i(row, "differing_provider_net_minor")?,
                        differing_paydesk_net_minor: Self::i(row, "differing_paydesk_net_minor")?,
                    },
                    error: Self::os(row, "error")?,
                    started_at_ms: Self::i(row, "started_at_ms")?,
                    finished_at_ms: Self::oi(row, "finished_at_ms")?,
                    version: Self::i(row, "version")?,
                })
            }

            fn difference_row(row: &$row) -> Result<Difference> {
                Ok(Difference {
                    id: Self::s(row, "id")?,
                    run_id: Self::s(row, "run_id")?,
                    bill_date: Self::s(row, "bill_date")?,
                    merchant_account: Self::s(row, "merchant_account")?,
                    kind: Self::parsed(row, "kind", "difference kind", DifferenceKind::parse)?,
                    record_kind: Self::parsed(
                        row,
                        "record_kind",
                        "difference record kind",
                        RecordKind::parse,
                    )?,
                    attempt_no: Self::s(row, "attempt_no")?,
                    refund_no: Self::os(row, "refund_no")?,
                    provider_txn_id: Self::os(row, "provider_txn_id")?,
                    currency: currency(&Self::s(row, "currency")?)?,
                    provider_amount_minor: Self::oi(row, "provider_amount_minor")?,
                    paydesk_amount_minor: Self::oi(row, "paydesk_amount_minor")?,
                    provider_fee_minor: Self::oi(row, "provider_fee_minor")?,
                    paydesk_fee_minor: Self::oi(row, "paydesk_fee_minor")?,
                    provider_status: Self::os(row, "provider_status")?,
                    paydesk_status: Self::os(row, "paydesk_status")?,
                    source: Self::os(row, "source")?,
                    state: Self::parsed(row, "state", "difference state", DifferenceState::parse)?,
                    resolution: Self::os(row, "resolution")?,
                    resolved_by: Self::os(row, "resolved_by")?,
                    resolved_at_ms: Self::oi(row, "resolved_at_ms")?,
                    created_at_ms: Self::i(row, "created_at_ms")?,
                    updated_at_ms: Self::i(row, "updated_at_ms")?,
                    version: Self::i(row, "version")?,
                })
            }

            async fn recon_run_by_day(
                &self,
                bill_date: &str,
                account: &str,
            ) -> Result<Option<ReconciliationRun>> {
                let row = sqlx::query(&self.q.reconciliation.run_by_day)
                    .bind(bill_date)
                    .bind(account)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::run_row).transpose()
            }

            async fn recon_start(&self, s: &StartRun) -> Result<Transition<ReconciliationRun>> {
                let r = &self.q.reconciliation;
                let mut tx = self.write_tx().await?;
                let taken = sqlx::query(&r.restart_run)
                    .bind(s.now_ms)
                    .bind(&s.bill_date)
                    .bind(&s.merchant_account)
                    .bind(s.stale_before_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if taken == 0 {
                    let inserted = sqlx::query(&r.insert_run)
                        .bind(&s.id)
                        .bind(&s.bill_date)
                        .bind(&s.merchant_account)
                        .bind(s.provider.as_str())
                        .bind(s.currency.code())
                        .bind(s.now_ms)
                        .execute(&mut *tx)
                        .await;
                    match inserted {
                        Ok(_) => {}
                        // The day exists and another runner holds it.
                        Err(e) if is_unique_violation(&e) => {
                            drop(tx);
                            return Ok(Transition::Refused(
                                self.recon_run_by_day(&s.bill_date, &s.merchant_account)
                                    .await?,
                            ));
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
                let row = sqlx::query(&r.run_by_day)
                    .bind(&s.bill_date)
                    .bind(&s.merchant_account)
                    .fetch_one(&mut *tx)
                    .await?;
                let run = Self::run_row(&row)?;
                tx.commit().await?;
                Ok(Transition::Applied(run))
            }

            async fn recon_insert_difference(
                &self,
                tx: &mut Transaction<'static, $db>,
                run: &ReconciliationRun,
                d: &NewDifference,
                now_ms: i64,
            ) -> Result<()> {
                sqlx::query(&self.q.reconciliation.insert_difference)
                    .bind(&d.id)
                    .bind(&run.id)
                    .bind(&run.bill_date)
                    .bind(&run.merchant_account)
                    .bind(d.kind.as_str())
                    .bind(d.record_kind.as_str())
                    .bind(&d.attempt_no)
                    .bind(&d.refund_no)
                    .bind(&d.provider_txn_id)
                    .bind(run.currency.code())
                    .bind(d.provider_amount_minor)
                    .bind(d.paydesk_amount_minor)
                    .bind(d.provider_fee_minor)
                    .bind(d.paydesk_fee_minor)
                    .bind(&d.provider_status)
                    .bind(&d.paydesk_status)
                    .bind(&d.source)
                    .bind(now_ms)
                    .bind(now_ms)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            async fn recon_finish(
                &self,
                run_id: &str,
                expected_version: i64,
                t: &RunTotals,
                differences: &[NewDifference],
                fees: Option<&NewJournalEntry>,
                now_ms: i64,
            ) -> Result<Transition<(ReconciliationRun, Vec<Difference>)>> {
                if !t.ties_out() {
                    return Err(StoreError::Invalid(format!(
                        "reconciliation totals of run {run_id} do not tie out: {t:?}"
                    )));
                }
                if fees.is_some_and(|f| f.entry.kind() != paydesk_core::EntryKind::ProviderFee) {
                    return Err(StoreError::Invalid(
                        "a run posts only a PROVIDER_FEE entry".into(),
                    ));
                }
                let fee_accounts = match fees {
                    Some(f) => self.ledger_open(&f.entry, now_ms).await?,
                    None => Default::default(),
                };
                let r = &self.q.reconciliation;
                let mut tx = self.write_tx().await?;
                let changed = sqlx::query(&r.finish_run)
                    .bind(t.provider_count)
                    .bind(t.provider_net_minor)
                    .bind(t.paydesk_count)
                    .bind(t.paydesk_net_minor)
                    .bind(t.matched_count)
                    .bind(t.matched_net_minor)
                    .bind(t.missing_in_paydesk_count)
                    .bind(t.missing_in_paydesk_net_minor)
                    .bind(t.missing_at_provider_count)
                    .bind(t.missing_at_provider_net_minor)
                    .bind(t.differing_count)
                    .bind(t.differing_provider_net_minor)
                    .bind(t.differing_paydesk_net_minor)
                    .bind(now_ms)
                    .bind(run_id)
                    .bind(expected_version)
                    .execute(&mut *tx)
                    .await?;
                if changed.rows_affected() != 1 {
                    drop(tx);
                    let now = self.recon_run(run_id).await?;
                    return Ok(Transition::Refused(now.map(|run| (run, Vec::new()))));
                }
                let row = sqlx::query(&r.run_by_id)
                    .bind(run_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let run = Self::run_row(&row)?;
                let decided: HashSet<DifferenceKey> = sqlx::query(&r.decided_keys)
                    .bind(&run.bill_date)
                    .bind(&run.merchant_account)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(|row| {
                        Ok((
                            Self::s(row, "kind")?,
                            Self::s(row, "record_kind")?,
                            Self::s(row, "attempt_no")?,
                            Self::os(row, "refund_no")?,
                        ))
                    })
                    .collect::<Result<_>>()?;
                sqlx::query(&r.delete_open)
                    .bind(&run.bill_date)
                    .bind(&run.merchant_account)
                    .execute(&mut *tx)
                    .await?;
                for d in differences.iter().filter(|d| !decided.contains(&key_of(d))) {
                    self.recon_insert_difference(&mut tx, &run, d, now_ms)
                        .await?;
                }
                let open = sqlx::query(&r.open_of_run)
                    .bind(run_id)
                    .fetch_all(&mut *tx)
                    .await?
                    .iter()
                    .map(Self::difference_row)
                    .collect::<Result<Vec<_>>>()?;
                if let Some(f) = fees {
                    // Looked up first: a taken key would abort PostgreSQL's transaction.
                    let posted = sqlx::query(&self.q.ledger.entry_key)
                        .bind(&f.business_line_id)
                        .bind(f.entry.kind().as_str())
                        .bind(&f.idempotency_key)
                        .fetch_optional(&mut *tx)
                        .await?
                        .is_some();
                    if !posted {
                        self.post_certain_tx(&mut tx, f.clone(), &fee_accounts)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok(Transition::Applied((run, open)))
            }

            async fn recon_fail(
                &self,
                run_id: &str,
                expected_version: i64,
                error: &str,
                now_ms: i64,
            ) -> Result<Transition<ReconciliationRun>> {
                let changed = sqlx::query(&self.q.reconciliation.fail_run)
                    .bind(error)
                    .bind(now_ms)
                    .bind(run_id)
                    .bind(expected_version)
                    .execute(self.w())
                    .await?;
                Ok(outcome(
                    changed.rows_affected(),
                    self.recon_run(run_id).await?,
                ))
            }

            /// The rows `sql` (a day query) selects for `account` in `from_ms..to_ms`.
            async fn recon_day_rows(
                &self,
                sql: &str,
                account: &str,
                from_ms: i64,
                to_ms: i64,
            ) -> Result<Vec<$row>> {
                Ok(sqlx::query(sql)
                    .bind(account)
                    .bind(from_ms)
                    .bind(to_ms)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn recon_run(&self, id: &str) -> Result<Option<ReconciliationRun>> {
                let row = sqlx::query(&self.q.reconciliation.run_by_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::run_row).transpose()
            }

            async fn recon_difference(&self, id: &str) -> Result<Option<Difference>> {
                let row = sqlx::query(&self.q.reconciliation.difference_by_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::difference_row).transpose()
            }

            async fn recon_resolve(&self, r: &ResolveDifference) -> Result<Transition<Difference>> {
                if r.reason.trim().is_empty() {
                    return Err(StoreError::Invalid("a resolution needs a reason".into()));
                }
                let mut tx = self.write_tx().await?;
                let changed = sqlx::query(&self.q.reconciliation.resolve)
                    .bind(&r.reason)
                    .bind(&r.by)
                    .bind(r.now_ms)
                    .bind(r.now_ms)
                    .bind(&r.id)
                    .bind(r.expected_version)
                    .execute(&mut *tx)
                    .await?;
                if changed.rows_affected() != 1 {
                    drop(tx);
                    return Ok(Transition::Refused(self.recon_difference(&r.id).await?));
                }
                self.accounts_audit_tx(&mut tx, &r.audit).await?;
                let row = sqlx::query(&self.q.reconciliation.difference_by_id)
                    .bind(&r.id)
                    .fetch_one(&mut *tx)
                    .await?;
                let now = Self::difference_row(&row)?;
                tx.commit().await?;
                Ok(Transition::Applied(now))
            }

            async fn recon_settle(
                &self,
                id: &str,
                expected_version: i64,
                note: &str,
                now_ms: i64,
            ) -> Result<Transition<Difference>> {
                let changed = sqlx::query(&self.q.reconciliation.settle)
                    .bind(note)
                    .bind(now_ms)
                    .bind(now_ms)
                    .bind(id)
                    .bind(expected_version)
                    .execute(self.w())
                    .await?;
                Ok(outcome(
                    changed.rows_affected(),
                    self.recon_difference(id).await?,
                ))
            }
        }

        #[async_trait]
        impl ReconciliationStore for $store {
            async fn start_run(&self, start: &StartRun) -> Result<Transition<ReconciliationRun>> {
                with_retry!(self.recon_start(start).await)
            }

            async fn finish_run_posting(
                &self,
                run_id: &str,
                expected_version: i64,
                totals: &RunTotals,
                differences: &[NewDifference],
                fees: Option<&NewJournalEntry>,
                now_ms: i64,
            ) -> Result<Transition<(ReconciliationRun, Vec<Difference>)>> {
                with_retry!(
                    self.recon_finish(run_id, expected_version, totals, differences, fees, now_ms)
                        .await
                )
            }

            async fn fail_run(
                &self,
                run_id: &str,
                expected_version: i64,
                error: &str,
                now_ms: i64,
            ) -> Result<Transition<ReconciliationRun>> {
                with_retry!(
                    self.recon_fail(run_id, expected_version, error, now_ms)
                        .await
                )
            }

            async fn run(&self, id: &str) -> Result<Option<ReconciliationRun>> {
                self.recon_run(id).await
            }

            async fn list_runs(&self, f: &RunFilter) -> Result<Vec<ReconciliationRun>> {
                let rows = sqlx::query(&self.q.reconciliation.list_runs)
                    .bind(&f.merchant_account)
                    .bind(&f.merchant_account)
                    .bind(f.from_date.as_deref().unwrap_or("0000-00-00"))
                    .bind(f.to_date.as_deref().unwrap_or("9999-99-99"))
                    .bind(page(f.limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::run_row).collect()
            }

            async fn difference(&self, id: &str) -> Result<Option<Difference>> {
                self.recon_difference(id).await
            }

            async fn list_differences(&self, f: &DifferenceFilter) -> Result<Vec<Difference>> {
                let state = f.state.map(|s| s.as_str());
                let rows = sqlx::query(&self.q.reconciliation.list_differences)
                    .bind(&f.run_id)
                    .bind(&f.run_id)
                    .bind(state)
                    .bind(state)
                    .bind(&f.bill_date)
                    .bind(&f.bill_date)
                    .bind(&f.merchant_account)
                    .bind(&f.merchant_account)
                    .bind(f.after_id.as_deref().unwrap_or(""))
                    .bind(page(f.limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::difference_row).collect()
            }

            async fn resolve_difference(
                &self,
                r: &ResolveDifference,
            ) -> Result<Transition<Difference>> {
                with_retry!(self.recon_resolve(r).await)
            }

            async fn mark_settled(
                &self,
                id: &str,
                expected_version: i64,
                note: &str,
                now_ms: i64,
            ) -> Result<Transition<Difference>> {
                with_retry!(self.recon_settle(id, expected_version, note, now_ms).await)
            }

            async fn day_records(
                &self,
                account: &str,
                from_ms: i64,
                to_ms: i64,
            ) -> Result<Vec<PaydeskRecord>> {
                let r = &self.q.reconciliation;
                let mut out = Vec::new();
                for row in self
                    .recon_day_rows(&r.day_attempts, account, from_ms, to_ms)
                    .await?
                {
                    let a = Self::attempt_row(&row)?;
                    out.push(PaydeskRecord {
                        record_kind: RecordKind::Payment,
                        attempt_no: a.attempt_no,
                        refund_no: None,
                        provider_txn_id: a.provider_txn_id,
                        amount_minor: a.paid_amount_minor.unwrap_or(a.amount.minor()),
                        currency: a.amount.currency(),
                        status: a.status.as_str().to_owned(),
                        succeeded: true,
                        at_ms: a.paid_at_ms,
                    });
                }
                for row in self
                    .recon_day_rows(&r.day_refunds, account, from_ms, to_ms)
                    .await?
                {
                    let f = Self::refund_row(&row)?;
                    out.push(PaydeskRecord {
                        record_kind: RecordKind::Refund,
                        attempt_no: Self::s(&row, "paid_attempt_no")?,
                        refund_no: Some(f.refund_no),
                        provider_txn_id: Self::os(&row, "paid_txn_id")?,
                        amount_minor: f.amount.minor() - f.balance_amount_minor,
                        currency: f.amount.currency(),
                        status: f.status.as_str().to_owned(),
                        succeeded: true,
                        at_ms: f.succeeded_at_ms,
                    });
                }
                Ok(out)
            }
        }
    };
}

impl_reconciliation!(SqliteStore, Sqlite, SqliteRow);
impl_reconciliation!(PostgresStore, Postgres, PgRow);
impl_reconciliation!(MySqlStore, MySql, MySqlRow);
