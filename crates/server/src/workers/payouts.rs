//! Steps due payouts and withdrawals (`payouts::step`): sends new ones, queries those in
//! flight (re-sending with the same number only when the provider does not know them),
//! cancels transfers left unconfirmed. Woken right after a payout is recorded, otherwise
//! polling; each pass takes one bounded batch and runs at most `payouts.max_in_flight`
//! provider calls at once.

use crate::payouts;
use crate::state::AppState;
use crate::time::now_ms;
use paydesk_store::StoreError;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;

/// Runs until shutdown.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let interval = Duration::from_millis(state.config.payouts.poll_interval_ms);
    loop {
        if let Err(e) = pass(&state).await {
            tracing::warn!(error = %e, "payout pass failed");
        }
        tokio::select! {
            _ = tokio::time::sleep(interval) => {}
            _ = state.payouts_wake.notified() => {}
            _ = shutdown.changed() => return,
        }
        if *shutdown.borrow() {
            return;
        }
    }
}

/// One pass over the due payouts (one batch). Returns how many were handled.
pub async fn pass(state: &AppState) -> Result<usize, StoreError> {
    let due = state
        .store
        .ledger()
        .due_payouts(now_ms(), state.config.payouts.batch_size)
        .await?;
    let n = due.len();
    let permits = Arc::new(Semaphore::new(state.config.payouts.max_in_flight));
    let mut running = JoinSet::new();
    for p in due {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let state = state.clone();
        running.spawn(async move {
            if let Err(e) = payouts::step(&state, &p).await {
                tracing::warn!(payout_id = %p.id, error = %e, "payout step failed");
            }
            drop(permit);
        });
    }
    while running.join_next().await.is_some() {}
    Ok(n)
}
