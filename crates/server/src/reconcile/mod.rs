//! Reconciliation (对账): a merchant account's daily bill from its provider against
//! paydesk's records of the same bill day, line by line (docs/reconciliation.md).
//!
//! A run: claim the day in the store (one runner per day and account), download and parse
//! the trade bill, collect paydesk's successes of the day (China time, UTC+8, the
//! providers' bill day) and the records the bill names, match them ([`matcher`]), record
//! the totals (which must tie out) and the differences, then settle the safe ones: a
//! success the provider reports and paydesk holds as not done is asked at the provider
//! through the normal flow, which records it with every guard and notifies the business
//! line; the difference is marked settled only when that query confirms it. Everything
//! else stays `OPEN` for an operator.

pub mod export;
pub mod matcher;

use crate::payments::{flow, refunds};
use crate::state::AppState;
use crate::time::now_ms;
use matcher::{Found, Key};
use paydesk_core::ledger::{movements, AccountKind, AccountRef, EntryKind, PLATFORM_SCOPE};
use paydesk_core::transition::StateMachine;
use paydesk_core::{ids, Amount, AttemptStatus, Currency, RefundStatus};
use paydesk_providers::bill::{self, BillParseError};
use paydesk_providers::model::{BillKind, BillRequest};
use paydesk_providers::ProviderError;
use paydesk_store::{
    Difference, NewJournalEntry, PaydeskRecord, ReconciliationRun, RecordKind, RunStatus, StartRun,
    Store, StoreError, Transition,
};
use std::collections::HashMap;
use time::macros::offset;
use time::{Date, OffsetDateTime, Time};

/// Provider codes that mean "no bill for that day": nothing happened, an empty bill.
const NO_BILL_CODES: &[&str] = &["NO_STATEMENT_EXIST", "isp.bill_not_exist"];

/// Why a day could not be reconciled.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The merchant account is not in use here.
    #[error("merchant account `{0}` is not in use (unknown or disabled)")]
    NoAccount(String),
    /// Another runner holds the day (or a run is in progress).
    #[error("the {date} run of `{account}` is in progress elsewhere")]
    Busy {
        /// The bill day.
        date: String,
        /// The account.
        account: String,
    },
    /// The bill could not be downloaded; the run is marked `FAILED`.
    #[error("bill download failed: {0}")]
    Download(ProviderError),
    /// The bill could not be read; the run is marked `FAILED`.
    #[error(transparent)]
    Parse(#[from] BillParseError),
    /// The bill is in another currency than the account's books.
    #[error("bill line {0} is in {1}, the account settles in CNY")]
    Currency(String, Currency),
    /// The run moved on under us (taken over after being presumed dead).
    #[error("the run {0} was taken over by another runner")]
    TakenOver(String),
    /// The bill's fees cannot be booked (out of range); the run is marked `FAILED`.
    #[error("the bill's fees cannot be booked: {0}")]
    Fees(String),
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// The run as it ended.
    pub run: ReconciliationRun,
    /// The differences found, as they are after settling.
    pub differences: Vec<Difference>,
    /// How many were settled automatically.
    pub settled: usize,
}

/// The UTC instants `[start, end)` of a China-time (UTC+8) bill day, in milliseconds: the
/// day providers cut their bills on. A payment at 23:59:59 CST belongs to that day.
pub fn bill_day_window_ms(date: Date) -> (i64, i64) {
    let start = date.with_time(Time::MIDNIGHT).assume_offset(offset!(+8));
    let end = start + time::Duration::DAY;
    let ms = |t: OffsetDateTime| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
    (ms(start), ms(end))
}

/// The China-time day of an instant (milliseconds).
pub fn china_date(at_ms: i64) -> Date {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset!(+8))
        .date()
}

/// `YYYY-MM-DD`.
pub fn format_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// Parses `YYYY-MM-DD`.
pub fn parse_date(text: &str) -> Option<Date> {
    Date::parse(
        text,
        &time::macros::format_description!("[year]-[month]-[day]"),
    )
    .ok()
}

/// The accounts a scheduled or "all accounts" run covers: `reconcile.accounts`, or every
/// account in use.
pub fn accounts_to_reconcile(state: &AppState) -> Vec<String> {
    if state.config.reconcile.accounts.is_empty() {
        state.accounts().ids()
    } else {
        state.config.reconcile.accounts.clone()
    }
}

/// Reconciles one bill day of one merchant account (see the module documentation).
pub async fn reconcile_day(
    state: &AppState,
    date: Date,
    account_id: &str,
) -> Result<RunReport, ReconcileError> {
    let account = state
        .accounts()
        .get(account_id)
        .ok_or_else(|| ReconcileError::NoAccount(account_id.to_owned()))?;
    let recon = state.store.reconciliation();
    let day = format_date(date);
    let now = now_ms();
    let stale = i64::try_from(state.config.reconcile.stale_after_ms).unwrap_or(i64::MAX);
    let run = match recon
        .start_run(&StartRun {
            id: ids::new_id("rcr"),
            bill_date: day.clone(),
            merchant_account: account_id.to_owned(),
            provider: account.provider,
            currency: Currency::CNY,
            now_ms: now,
            stale_before_ms: now.saturating_sub(stale),
        })
        .await?
    {
        Transition::Applied(run) => run,
        Transition::Refused(_) => {
            return Err(ReconcileError::Busy {
                date: day,
                account: account_id.to_owned(),
            })
        }
    };
    match compare(state, &run, date, account_id, &account).await {
        Ok((found, fees)) => finish(state, run, found, fees).await,
        Err(e) => {
            tracing::warn!(account = account_id, date = %day, error = %e, "reconciliation failed");
            recon
                .fail_run(&run.id, run.version, &e.to_string(), now_ms())
                .await?;
            Err(e)
        }
    }
}

/// Downloads, parses and matches; nothing is written. Also returns the ledger entry of
/// the fees the bill charged (none when they net to zero).
async fn compare(
    state: &AppState,
    run: &ReconciliationRun,
    date: Date,
    account_id: &str,
    account: &crate::payments::accounts::Account,
) -> Result<(matcher::Matched, Option<NewJournalEntry>), ReconcileError> {
    let lines = match account
        .client
        .download_bill(&BillRequest {
            date,
            kind: BillKind::Trades,
        })
        .await
    {
        Ok(file) => bill::parse(&file)?.lines,
        Err(e)
            if e.provider_code()
                .is_some_and(|c| NO_BILL_CODES.contains(&c)) =>
        {
            Vec::new()
        }
        Err(e) => return Err(ReconcileError::Download(e)),
    };
    if let Some(l) = lines.iter().find(|l| l.currency != run.currency) {
        return Err(ReconcileError::Currency(l.source.clone(), l.currency));
    }
    let (from, to) = bill_day_window_ms(date);
    let day = day_records(&*state.store, account_id, from, to).await?;
    let in_day: std::collections::HashSet<Key> = day.iter().filter_map(Key::of_record).collect();
    let mut known = HashMap::new();
    for line in &lines {
        let Some(key) = Key::of_line(line) else {
            continue;
        };
        if in_day.contains(&key) || known.contains_key(&key) {
            continue;
        }
        if let Some(r) = lookup(&*state.store, account_id, &key).await? {
            known.insert(key, r);
        }
    }
    let fee = state.config.reconcile.fee_rate_ppm.get(account_id).copied();
    let fees = fee_entry(run, account_id, &lines)?;
    Ok((matcher::match_day(&lines, &day, &known, fee), fees))
}

/// What a bill's fees net to. A sum that does not fit an `i64`, or that has no positive
/// twin (`i64::MIN`), comes only from a hostile bill and is refused, never clamped.
fn net_fee_minor(fees: impl IntoIterator<Item = i64>) -> Result<i64, ReconcileError> {
    fees.into_iter()
        .try_fold(0i64, |sum, fee| sum.checked_add(fee))
        .filter(|net| *net != i64::MIN)
        .ok_or_else(|| ReconcileError::Fees("the fees overflow".into()))
}

/// The `PROVIDER_FEE` entry of a bill: what its lines' fees net to (refunds give fees
/// back), borne by the platform; keyed by the bill (account and day), so a day posts its
/// fees once however often it is reconciled.
fn fee_entry(
    run: &ReconciliationRun,
    account_id: &str,
    lines: &[bill::BillLine],
) -> Result<Option<NewJournalEntry>, ReconcileError> {
    let net_minor = net_fee_minor(lines.iter().map(|l| l.fee_minor))?;
    if net_minor == 0 {
        return Ok(None);
    }
    let amount = Amount::new(net_minor.abs(), run.currency)
        .map_err(|e| ReconcileError::Fees(e.to_string()))?;
    let entry = if net_minor > 0 {
        movements::provider_fee(account_id, amount)
    } else {
        // More fees given back than charged that day: the provider returns money.
        let fees = AccountRef::new(AccountKind::PlatformFees, account_id, run.currency)
            .map_err(|e| ReconcileError::Fees(e.to_string()))?;
        let external = AccountRef::external(account_id, run.currency)
            .map_err(|e| ReconcileError::Fees(e.to_string()))?;
        movements::transfer(EntryKind::ProviderFee, &external, &fees, amount)
    }
    .map_err(|e| ReconcileError::Fees(e.to_string()))?;
    Ok(Some(NewJournalEntry {
        id: ids::new_id(ids::JOURNAL_ENTRY),
        business_line_id: PLATFORM_SCOPE.to_owned(),
        reference: format!("bill {} {}", run.bill_date, account_id)
            .chars()
            .take(64)
            .collect(),
        idempotency_key: format!("fees:{account_id}:{}", run.bill_date),
        created_at_ms: now_ms(),
        entry,
    }))
}

/// paydesk's successes of the day, from both tiers when the store has a cold one (a day
/// older than the archive age was moved there; hot wins for a record in both).
async fn day_records(
    store: &dyn Store,
    account_id: &str,
    from: i64,
    to: i64,
) -> Result<Vec<PaydeskRecord>, StoreError> {
    let Some((hot, cold)) = store.tiers() else {
        return store
            .reconciliation()
            .day_records(account_id, from, to)
            .await;
    };
    let mut out = hot
        .reconciliation()
        .day_records(account_id, from, to)
        .await?;
    let seen: std::collections::HashSet<Key> = out.iter().filter_map(Key::of_record).collect();
    for r in cold
        .reconciliation()
        .day_records(account_id, from, to)
        .await?
    {
        if Key::of_record(&r).is_some_and(|k| !seen.contains(&k)) {
            out.push(r);
        }
    }
    Ok(out)
}

/// The paydesk record a bill line names, if paydesk has one at this account (any state).
async fn lookup(
    store: &dyn Store,
    account_id: &str,
    key: &Key,
) -> Result<Option<PaydeskRecord>, StoreError> {
    match key {
        Key::Payment(no) => {
            let Some(a) = store.attempt_by_no(no).await? else {
                return Ok(None);
            };
            if a.merchant_account != account_id {
                return Ok(None);
            }
            Ok(Some(PaydeskRecord {
                record_kind: RecordKind::Payment,
                succeeded: a.status == AttemptStatus::Succeeded,
                amount_minor: a.paid_amount_minor.unwrap_or(a.amount.minor()),
                currency: a.amount.currency(),
                status: a.status.as_str().to_owned(),
                attempt_no: a.attempt_no,
                refund_no: None,
                provider_txn_id: a.provider_txn_id,
                at_ms: a.paid_at_ms,
            }))
        }
        Key::Refund(no) => {
            let Some(r) = store.refund_by_no(no).await? else {
                return Ok(None);
            };
            let Some(a) = store.attempt(&r.attempt_id).await? else {
                return Ok(None);
            };
            if a.merchant_account != account_id {
                return Ok(None);
            }
            Ok(Some(PaydeskRecord {
                record_kind: RecordKind::Refund,
                succeeded: r.status == RefundStatus::Succeeded,
                // What the provider returned: a combined order's balance part is not
                // on its bill.
                amount_minor: r.provider_amount_minor(),
                currency: r.amount.currency(),
                status: r.status.as_str().to_owned(),
                attempt_no: a.attempt_no,
                refund_no: Some(r.refund_no),
                provider_txn_id: a.provider_txn_id,
                at_ms: r.succeeded_at_ms,
            }))
        }
    }
}

/// Records the totals and differences, then settles the safe ones.
async fn finish(
    state: &AppState,
    run: ReconciliationRun,
    matched: matcher::Matched,
    fees: Option<NewJournalEntry>,
) -> Result<RunReport, ReconcileError> {
    let recon = state.store.reconciliation();
    let settle_by_id: HashMap<String, Key> = matched
        .found
        .iter()
        .filter_map(|f: &Found| f.settle.clone().map(|k| (f.difference.id.clone(), k)))
        .collect();
    let differences: Vec<_> = matched.found.into_iter().map(|f| f.difference).collect();
    let (run, open) = match recon
        .finish_run_posting(
            &run.id,
            run.version,
            &matched.totals,
            &differences,
            fees.as_ref(),
            now_ms(),
        )
        .await?
    {
        Transition::Applied(done) => done,
        Transition::Refused(_) => return Err(ReconcileError::TakenOver(run.id)),
    };
    let mut settled = 0;
    for d in &open {
        let Some(key) = settle_by_id.get(&d.id) else {
            continue;
        };
        match settle(state, key).await {
            Ok(Some(note)) => {
                if let Transition::Applied(_) = recon
                    .mark_settled(&d.id, d.version, &note, now_ms())
                    .await?
                {
                    settled += 1;
                }
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(difference = %d.id, error = %e, "automatic settlement failed; left open")
            }
        }
    }
    let differences = recon
        .list_differences(&paydesk_store::DifferenceFilter {
            run_id: Some(run.id.clone()),
            limit: paydesk_store::reconciliation::MAX_PAGE,
            ..Default::default()
        })
        .await?;
    metrics::counter!("paydesk_reconciliation_differences_total", "provider" => run.provider.as_str())
        .increment(differences.len() as u64);
    tracing::info!(
        account = %run.merchant_account,
        date = %run.bill_date,
        provider_lines = run.totals.provider_count,
        paydesk_records = run.totals.paydesk_count,
        matched = run.totals.matched_count,
        differences = differences.len(),
        settled,
        "reconciliation run completed"
    );
    Ok(RunReport {
        run,
        differences,
        settled,
    })
}

/// Settles one safe difference through the normal flow: the attempt is queried at its
/// provider and the answer applied (recording the payment, notifying the business line,
/// refunding it if it is not the order's); a refund is stepped (queried, or re-sent under
/// its own number, which both providers refund at most once). `Some(note)` only when
/// paydesk's record is now done, as the provider's query confirmed.
async fn settle(state: &AppState, key: &Key) -> Result<Option<String>, flow::FlowError> {
    match key {
        Key::Payment(no) => {
            let Some(attempt) = state.store.attempt_by_no(no).await? else {
                return Ok(None);
            };
            let applied = flow::query_and_apply(state, &attempt).await?;
            let now = state.store.attempt(&attempt.id).await?;
            Ok(now
                .filter(|a| a.status == AttemptStatus::Succeeded)
                .map(|a| {
                    format!(
                        "queried at the provider: paid; recorded through the normal flow ({applied:?}{})",
                        a.flag.map(|f| format!(", flagged {}", f.as_str())).unwrap_or_default()
                    )
                }))
        }
        Key::Refund(no) => {
            let Some(refund) = state.store.refund_by_no(no).await? else {
                return Ok(None);
            };
            if !matches!(
                refund.status,
                RefundStatus::Pending | RefundStatus::Processing
            ) {
                return Ok(None);
            }
            let mut now = refunds::step(state, &refund).await?;
            if now.status == RefundStatus::Processing {
                // Just sent again: ask once more for the final word.
                now = refunds::step(state, &now).await?;
            }
            Ok((now.status == RefundStatus::Succeeded).then(|| {
                "queried at the provider: refunded; recorded through the normal flow".into()
            }))
        }
    }
}

/// Whether a run is over (for callers that wait).
pub fn is_finished(run: &ReconciliationRun) -> bool {
    run.status != RunStatus::Running
}

#[cfg(test)]
mod tests {
    use super::net_fee_minor;

    #[test]
    fn fees_net_exactly_and_a_sum_without_a_magnitude_is_refused() {
        assert_eq!(net_fee_minor([6, -2, 1]).ok(), Some(5));
        assert_eq!(net_fee_minor([1, -3]).ok(), Some(-2));
        assert_eq!(net_fee_minor([]).ok(), Some(0));
        assert_eq!(net_fee_minor([i64::MIN + 1]).ok(), Some(i64::MIN + 1));
        assert!(net_fee_minor([i64::MAX, 1]).is_err());
        assert!(net_fee_minor([i64::MIN]).is_err());
        assert!(net_fee_minor([-1, i64::MIN + 1, -1]).is_err());
    }
}
