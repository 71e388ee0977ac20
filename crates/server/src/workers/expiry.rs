//! Closes `WAITING` orders past their expiry, each with its `pay_order.closed` event in
//! the same transaction. The close is conditional, so a payment that lands first wins
//! and two instances never close one order twice.

use crate::events;
use crate::state::AppState;
use crate::time::now_ms;
use paydesk_core::EventType;
use paydesk_store::Transition;
use tokio::sync::watch;

/// Runs until shutdown.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let interval = state.config.expiry.interval_ms;
    while super::pause(interval, &mut shutdown).await {
        if let Err(e) = pass(&state).await {
            tracing::warn!(error = %e, "expiry pass failed");
        }
    }
}

/// One pass: closes expired orders in batches until none are left. Returns how many
/// this instance closed.
pub async fn pass(state: &AppState) -> Result<usize, paydesk_store::StoreError> {
    let batch = state.config.expiry.batch_size;
    let mut closed = 0;
    loop {
        let now = now_ms();
        let due = state.store.expired_waiting_orders(now, batch).await?;
        let n = due.len();
        for order in due {
            let event = events::pay_order_event(
                EventType::PayOrderClosed,
                &events::closed(&order, now),
                &state.public_url,
                now,
            );
            if let Transition::Applied(o) =
                state.store.close_pay_order(&order.id, now, &event).await?
            {
                closed += 1;
                metrics::counter!("paydesk_pay_orders_expired_total").increment(1);
                tracing::info!(pay_order_id = %o.id, "pay order expired and closed");
            }
        }
        if closed > 0 {
            state.outbox_wake.notify_one();
        }
        if (n as i64) < batch {
            return Ok(closed);
        }
    }
}
