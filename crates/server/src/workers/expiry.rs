//! Closes `WAITING` orders past their expiry: their open attempts at the provider first,
//! then the order with its `pay_order.closed` event in the same transaction. The close is
//! conditional, so a payment that lands first wins and two instances never close one
//! order twice.

use crate::payments::flow::{self, FlowError};
use crate::state::AppState;
use crate::time::now_ms;
use paydesk_core::PayOrderStatus;
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
        let mut stuck = 0;
        for order in due {
            match flow::close_order(state, &order).await {
                Ok(o) if o.status == PayOrderStatus::Closed => {
                    closed += 1;
                    metrics::counter!("paydesk_pay_orders_expired_total").increment(1);
                    tracing::info!(pay_order_id = %o.id, "pay order expired and closed");
                }
                Ok(_) => {}
                Err(FlowError::Store(e)) => return Err(e),
                Err(e) => {
                    // A provider did not answer: the order stays WAITING and is tried on
                    // the next pass.
                    stuck += 1;
                    tracing::warn!(pay_order_id = %order.id, error = %e, "expired order not closed yet");
                }
            }
        }
        if closed > 0 {
            state.outbox_wake.notify_one();
        }
        if (n as i64) < batch || stuck > 0 {
            return Ok(closed);
        }
    }
}
