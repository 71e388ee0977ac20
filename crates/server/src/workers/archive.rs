//! The scheduled archiver (`archive.enabled`, off by default): every
//! `archive.interval_ms` it moves finished pay orders older than `archive.min_age_days`
//! from the hot database to the cold store, rate-limited, exactly as `paydesk archive`
//! does (`docs/archive.md`). It runs only when the store is tiered (a cold store is
//! configured). Stopping mid-run is safe: the archiver is built to be killed at any
//! moment.

use crate::config::ArchiveConfig;
use crate::state::AppState;
use crate::time::now_ms;
use paydesk_store::archive::{archive, ArchiveOptions, ArchiveStats};
use paydesk_store::{Store, StoreError};
use tokio::sync::watch;

/// Whether this instance runs the archiver: enabled and a cold store behind the store.
pub fn wanted(state: &AppState) -> bool {
    state.config.archive.enabled && state.store.tiers().is_some()
}

/// Runs until shutdown: one pass right away, then one every `archive.interval_ms`.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let Some((hot, cold)) = state.store.tiers() else {
        return;
    };
    let config = &state.config.archive;
    loop {
        tokio::select! {
            r = pass(hot, cold, config) => match r {
                Ok(s) if s.orders > 0 || s.changed > 0 => tracing::info!(
                    orders = s.orders,
                    rows = s.rows,
                    left_in_hot = s.changed,
                    seconds = s.elapsed.as_secs_f64(),
                    "archive pass moved pay orders to the cold store"
                ),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "archive pass failed"),
            },
            _ = shutdown.changed() => return,
        }
        if !super::pause(config.interval_ms, &mut shutdown).await {
            return;
        }
    }
}

/// One archive run with the configured cutoff, batch size and rate limit.
pub async fn pass(
    hot: &dyn Store,
    cold: &dyn Store,
    config: &ArchiveConfig,
) -> Result<ArchiveStats, StoreError> {
    let opts = ArchiveOptions {
        cutoff_ms: now_ms() - i64::from(config.min_age_days) * 86_400_000,
        batch: config.batch_size,
        max_rows_per_sec: config.rate_limit_rows_per_sec,
        // Beside live traffic: one transaction at a time per stage.
        parallel: 1,
        ..ArchiveOptions::default()
    };
    let stats = archive(hot, cold, &opts, &mut |s: &ArchiveStats| {
        metrics::gauge!("paydesk_archive_rows_moved_in_pass").set(s.rows as f64);
    })
    .await?;
    metrics::counter!("paydesk_archive_pay_orders_moved_total").increment(stats.orders);
    metrics::counter!("paydesk_archive_rows_moved_total").increment(stats.rows);
    Ok(stats)
}
