//! Polls the stored merchant accounts' stamp every `payments.accounts_poll_interval_ms`
//! and reloads the accounts when any changed (added, enabled, disabled, a key rotated or
//! retired), so every instance follows `paydesk merchant-account ...` without a restart.

use crate::payments::stored_accounts;
use crate::state::AppState;
use tokio::sync::watch;

/// Runs until shutdown.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let interval = state.config.payments.accounts_poll_interval_ms;
    while super::pause(interval, &mut shutdown).await {
        if let Err(e) = stored_accounts::refresh(&state).await {
            tracing::warn!(error = %e, "merchant accounts reload failed");
        }
    }
}
