//! The active query: attempts with no final answer are asked about on the configured
//! back-off schedule, so a lost callback never leaves a paid order unpaid. Each query's
//! answer goes through the same checks as a callback (`payments::flow::apply_report`).
//! Open attempts of orders past their expiry are closed at the provider (the expiry worker
//! then closes the order). A closed attempt gets one last look a minute after its close, so
//! a payment that raced the close is found (and refunded as late) even if its callback is
//! lost.

use crate::payments::flow::{self, Applied};
use crate::state::AppState;
use crate::time::now_ms;
use paydesk_core::AttemptStatus;
use paydesk_providers::ProviderError;
use paydesk_store::{Attempt, AttemptUpdate, StoreError};
use tokio::sync::watch;

/// An attempt still `CREATING` this long after creation, that the provider has never
/// heard of, is taken as never created.
const CREATE_GRACE_MS: i64 = 60_000;

/// Runs until shutdown.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let interval = state.config.payments.poll_interval_ms;
    while super::pause(interval, &mut shutdown).await {
        if let Err(e) = pass(&state).await {
            tracing::warn!(error = %e, "active query pass failed");
        }
    }
}

/// One pass over the due attempts (one batch). Returns how many were queried.
pub async fn pass(state: &AppState) -> Result<usize, StoreError> {
    let now = now_ms();
    let due = state
        .store
        .due_attempt_queries(now, state.config.payments.batch_size)
        .await?;
    let n = due.len();
    for attempt in due {
        if let Err(e) = one(state, &attempt).await {
            tracing::warn!(attempt_no = %attempt.attempt_no, error = %e, "active query failed");
            reschedule(state, &attempt).await?;
        }
    }
    Ok(n)
}

async fn one(state: &AppState, attempt: &Attempt) -> Result<(), flow::FlowError> {
    metrics::counter!("paydesk_active_queries_total").increment(1);
    let order = state.store.pay_order(&attempt.pay_order_id).await?;
    let expired = order.as_ref().is_some_and(|o| {
        o.expire_at_ms <= now_ms() || o.status != paydesk_core::PayOrderStatus::Waiting
    });
    match flow::query_and_apply(state, attempt).await {
        Ok(Applied::StillOpen) | Err(flow::FlowError::Provider(ProviderError::NotFound { .. }))
            if !attempt.status.is_open() =>
        {
            // The last look at a closed or failed attempt found nothing paid: done.
            state
                .store
                .schedule_attempt_query(&attempt.id, attempt.version, None, now_ms())
                .await?;
            Ok(())
        }
        Ok(Applied::StillOpen) if expired && attempt.status.is_open() => {
            // The order is over: make sure the buyer can no longer pay this attempt.
            flow::close_attempt(state, attempt).await?;
            Ok(())
        }
        Ok(Applied::StillOpen) => {
            reschedule(state, attempt).await?;
            Ok(())
        }
        Ok(_) => {
            // Final (paid, refunded duplicate, closed, failed): the store stopped or set
            // the schedule. A schedule already due is over (a failed attempt gets one
            // last look near its order's expiry, set when it failed; this was it).
            stop_if_final(state, attempt).await?;
            Ok(())
        }
        Err(flow::FlowError::Provider(ProviderError::NotFound { .. }))
            if attempt.status == AttemptStatus::Creating
                && attempt.created_at_ms + CREATE_GRACE_MS <= now_ms() =>
        {
            // The create never reached the provider.
            let update = AttemptUpdate {
                from: AttemptStatus::Creating,
                to: AttemptStatus::Failed,
                provider_txn_id: None,
                next_query_at_ms: None,
                now_ms: now_ms(),
            };
            state.store.update_attempt(&attempt.id, &update).await?;
            Ok(())
        }
        Err(flow::FlowError::Provider(ProviderError::NotFound { .. })) if expired => {
            // Alipay creates a page/wap trade only when the buyer opens it: none by expiry
            // means none to pay. A late payment is still caught by its callback.
            flow::close_attempt(state, attempt).await?;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

async fn stop_if_final(state: &AppState, attempt: &Attempt) -> Result<(), StoreError> {
    if let Some(now) = state.store.attempt(&attempt.id).await? {
        if now.next_query_at_ms.is_some_and(|t| t <= now_ms())
            && matches!(
                now.status,
                AttemptStatus::Succeeded | AttemptStatus::Closed | AttemptStatus::Failed
            )
        {
            state
                .store
                .schedule_attempt_query(&now.id, now.version, None, now_ms())
                .await?;
        }
    }
    Ok(())
}

/// Sets the next query from the schedule (the last delay repeats).
async fn reschedule(state: &AppState, attempt: &Attempt) -> Result<(), StoreError> {
    let delays = state.query_schedule.delays_ms();
    let idx = usize::try_from(attempt.queries_made + 1).unwrap_or(usize::MAX);
    let delay = delays.get(idx).or(delays.last()).copied().unwrap_or(60_000);
    let next = now_ms().saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
    state
        .store
        .schedule_attempt_query(&attempt.id, attempt.version, Some(next), now_ms())
        .await?;
    Ok(())
}
