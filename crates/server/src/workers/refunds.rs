//! Sends, re-sends and queries refunds that are due (`payments::refunds::step`), woken
//! right after a refund is recorded and otherwise polling.

use crate::payments::refunds;
use crate::state::AppState;
use crate::time::now_ms;
use paydesk_store::StoreError;
use std::time::Duration;
use tokio::sync::watch;

/// Runs until shutdown.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_millis(state.config.payments.poll_interval_ms);
    loop {
        if let Err(e) = pass(&state).await {
            tracing::warn!(error = %e, "refund pass failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = state.refunds_wake.notified() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// One pass over the due refunds (one batch). Returns how many were handled.
pub async fn pass(state: &AppState) -> Result<usize, StoreError> {
    let due = state
        .store
        .due_refunds(now_ms(), state.config.payments.batch_size)
        .await?;
    let n = due.len();
    for r in due {
        if let Err(e) = refunds::step(state, &r).await {
            tracing::warn!(refund_id = %r.id, error = %e, "refund step failed");
        }
    }
    Ok(n)
}
