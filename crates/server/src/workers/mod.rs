//! Background workers. Each runs until the shutdown signal, works in bounded batches,
//! and claims rows through conditional updates so several instances can run them
//! against one database.

pub mod attempts;
pub mod dispatcher;
pub mod expiry;
pub mod nonces;
pub mod refunds;
pub mod rules;

use crate::state::AppState;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Starts every worker; they stop when `shutdown` turns true.
pub fn spawn_all(state: &AppState, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    vec![
        tokio::spawn(dispatcher::run(state.clone(), shutdown.clone())),
        tokio::spawn(expiry::run(state.clone(), shutdown.clone())),
        tokio::spawn(nonces::run(state.clone(), shutdown.clone())),
        tokio::spawn(attempts::run(state.clone(), shutdown.clone())),
        tokio::spawn(refunds::run(state.clone(), shutdown.clone())),
        tokio::spawn(rules::run(state.clone(), shutdown)),
    ]
}

/// Sleeps `ms` or until shutdown; returns false when shutting down.
pub(crate) async fn pause(ms: u64, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(std::time::Duration::from_millis(ms)) => !*shutdown.borrow(),
        _ = shutdown.changed() => false,
    }
}
