//! Polls the active checkout rule version so every instance picks up a publish or a
//! rollback made on another, and purges expired console sessions.

use crate::admin::engine;
use crate::state::AppState;
use crate::time::now_ms;
use tokio::sync::watch;

/// Sessions purged per pass at most.
const SESSION_BATCH: i64 = 1_000;
/// How often expired sessions are purged.
const SESSION_PURGE_MS: u64 = 60_000;

/// Runs until shutdown.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let interval = state.config.rules.poll_interval_ms;
    let purge_every = (SESSION_PURGE_MS / interval.max(1)).max(1);
    let mut until_purge = purge_every;
    while super::pause(interval, &mut shutdown).await {
        if let Err(e) = engine::refresh(&state).await {
            tracing::warn!(error = %e, "checkout rules refresh failed");
        }
        until_purge -= 1;
        if until_purge > 0 {
            continue;
        }
        until_purge = purge_every;
        if let Err(e) = state
            .store
            .purge_expired_sessions(now_ms(), SESSION_BATCH)
            .await
        {
            tracing::warn!(error = %e, "session purge failed");
        }
    }
}
