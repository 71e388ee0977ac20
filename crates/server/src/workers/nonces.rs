//! Deletes expired nonces so the replay table stays the size of five minutes of
//! traffic.

use crate::state::AppState;
use crate::time::now_ms;
use tokio::sync::watch;

const INTERVAL_MS: u64 = 30_000;
const BATCH: i64 = 10_000;

/// Runs until shutdown.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    while super::pause(INTERVAL_MS, &mut shutdown).await {
        loop {
            match state.store.purge_expired_nonces(now_ms(), BATCH).await {
                Ok(n) if n as i64 >= BATCH => continue,
                Ok(_) => break,
                Err(e) => {
                    tracing::warn!(error = %e, "nonce purge failed");
                    break;
                }
            }
        }
    }
}
