//! The daily reconciler (`reconcile.enabled`, off by default): once yesterday's bills are
//! published (from `reconcile.run_at_hour_china`, China time), it reconciles yesterday's
//! China-time bill day for every account (`reconcile.accounts`, or all in use), once.
//! "Once" is kept in the database: a day whose run exists and is not `FAILED` is skipped,
//! so a restart or a second instance does not run it again (a failed day is retried at
//! the next poll).

use crate::reconcile::{self, china_date, ReconcileError};
use crate::state::AppState;
use crate::time::now_ms;
use paydesk_store::{RunFilter, RunStatus};
use tokio::sync::watch;

/// Runs until shutdown, checking every `reconcile.poll_interval_ms` whether the day is due.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = pass(&state) => {}
            _ = shutdown.changed() => return,
        }
        if !super::pause(state.config.reconcile.poll_interval_ms, &mut shutdown).await {
            return;
        }
    }
}

/// One check: reconciles yesterday (China time) for every account not yet done.
/// Returns how many runs it made.
pub async fn pass(state: &AppState) -> usize {
    let now = now_ms();
    let today = china_date(now);
    let hour = time::OffsetDateTime::from_unix_timestamp(now / 1000)
        .map(|t| t.to_offset(time::macros::offset!(+8)).hour())
        .unwrap_or(0);
    if hour < state.config.reconcile.run_at_hour_china {
        return 0;
    }
    let Some(day) = today.previous_day() else {
        return 0;
    };
    let date = reconcile::format_date(day);
    let mut made = 0;
    for account in reconcile::accounts_to_reconcile(state) {
        let done = state
            .store
            .reconciliation()
            .list_runs(&RunFilter {
                merchant_account: Some(account.clone()),
                from_date: Some(date.clone()),
                to_date: Some(date.clone()),
                limit: 1,
            })
            .await;
        match done {
            Ok(runs) if runs.iter().any(|r| r.status != RunStatus::Failed) => continue,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, "reconciler could not read its runs");
                return made;
            }
        }
        match reconcile::reconcile_day(state, day, &account).await {
            Ok(_) => made += 1,
            Err(ReconcileError::Busy { .. }) => {}
            Err(e) => {
                tracing::warn!(account = %account, date = %date, error = %e, "scheduled reconciliation failed")
            }
        }
    }
    made
}
