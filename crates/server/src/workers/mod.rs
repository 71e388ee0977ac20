//! Background workers. Each runs until the shutdown signal, works in bounded batches,
//! and claims rows through conditional updates so several instances can run them
//! against one database.

pub mod accounts;
pub mod archive;
pub mod attempts;
pub mod dispatcher;
pub mod expiry;
pub mod nonces;
pub mod payouts;
pub mod reconcile;
pub mod refunds;
pub mod rules;

use crate::state::AppState;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Starts every worker; they stop when `shutdown` turns true. The archiver runs only
/// when `archive.enabled` and a cold store is configured; the reconciler only with
/// `reconcile.enabled`.
pub fn spawn_all(state: &AppState, shutdown: watch::Receiver<bool>) -> Vec<JoinHandle<()>> {
    let mut workers = Vec::new();
    if archive::wanted(state) {
        workers.push(tokio::spawn(archive::run(state.clone(), shutdown.clone())));
    }
    if state.config.reconcile.enabled {
        workers.push(tokio::spawn(reconcile::run(
            state.clone(),
            shutdown.clone(),
        )));
    }
    workers.extend([
        tokio::spawn(dispatcher::run(state.clone(), shutdown.clone())),
        tokio::spawn(expiry::run(state.clone(), shutdown.clone())),
        tokio::spawn(nonces::run(state.clone(), shutdown.clone())),
        tokio::spawn(attempts::run(state.clone(), shutdown.clone())),
        tokio::spawn(refunds::run(state.clone(), shutdown.clone())),
        tokio::spawn(payouts::run(state.clone(), shutdown.clone())),
        tokio::spawn(rules::run(state.clone(), shutdown.clone())),
        tokio::spawn(accounts::run(state.clone(), shutdown)),
    ]);
    workers
}

/// Sleeps `ms` or until shutdown; returns false when shutting down.
pub(crate) async fn pause(ms: u64, shutdown: &mut watch::Receiver<bool>) -> bool {
    tokio::select! {
        _ = tokio::time::sleep(std::time::Duration::from_millis(ms)) => !*shutdown.borrow(),
        _ = shutdown.changed() => false,
    }
}
