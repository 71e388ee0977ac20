//! `paydesk archive`: moves finished pay orders older than a cutoff, with their events
//! and notification attempts, from the database to the cold store (`docs/archive.md`).

use crate::runtime::{open_cold_store, open_store};
use anyhow::{bail, Result};
use paydesk_server::config::Config;
use paydesk_store::archive::{archive, tier_of, ArchiveOptions, ArchiveStats};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Options of `paydesk archive`.
#[derive(clap::Args)]
pub struct Args {
    /// Archive finished orders last changed more than this many days ago.
    #[arg(long, default_value_t = 90)]
    pub older_than_days: u32,
    /// Pay orders per batch (one cold and one hot transaction each; at most 2000).
    #[arg(long, default_value_t = 1000)]
    pub batch: usize,
    /// Rows moved per second at most (0 = no limit), so live traffic is not hurt.
    #[arg(long, default_value_t = 0)]
    pub max_rows_per_sec: u64,
    /// Count what would move; move nothing.
    #[arg(long)]
    pub dry_run: bool,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Runs `paydesk archive`.
pub async fn run(config: &Config, args: Args) -> Result<()> {
    let Some(cold) = open_cold_store(config).await? else {
        bail!(
            "no cold store configured: set cold_database_url in the configuration file or \
             PAYDESK_COLD_DATABASE_URL (docs/archive.md)"
        );
    };
    let hot = open_store(config).await?;
    let cold_url = &config.cold_database_url;

    let cutoff_ms = now_ms() - i64::from(args.older_than_days) * 86_400_000;
    let eligible = tier_of(&*hot)?.count_archive_candidates(cutoff_ms).await?;
    tracing::info!(
        eligible,
        older_than_days = args.older_than_days,
        batch = args.batch,
        max_rows_per_sec = args.max_rows_per_sec,
        dry_run = args.dry_run,
        cold = %paydesk_store::redact_url(cold_url),
        "archive: starting"
    );
    let opts = ArchiveOptions {
        cutoff_ms,
        batch: args.batch,
        max_rows_per_sec: args.max_rows_per_sec,
        dry_run: args.dry_run,
        ..ArchiveOptions::default()
    };
    let mut last_log = Instant::now();
    let mut progress = |s: &ArchiveStats| {
        if last_log.elapsed() < Duration::from_secs(1) {
            return;
        }
        last_log = Instant::now();
        let secs = s.elapsed.as_secs_f64().max(1e-3);
        let orders_per_sec = s.orders as f64 / secs;
        let left = (eligible as u64).saturating_sub(s.orders);
        let eta = if orders_per_sec > 0.0 {
            format!("{:.0}s", left as f64 / orders_per_sec)
        } else {
            "?".into()
        };
        tracing::info!(
            "archive: {}/{} orders, {} rows, {:.0} rows/s, {:.0} orders/s, ETA {}",
            s.orders,
            eligible,
            s.rows,
            s.rows_per_sec(),
            orders_per_sec,
            eta
        );
    };
    let stats = archive(&*hot, &*cold, &opts, &mut progress).await?;
    let verb = if args.dry_run { "would move" } else { "moved" };
    println!(
        "archive: {verb} {} pay orders ({} rows) in {} batches, {:.1}s, {:.0} rows/s; \
         {} left in hot because they changed during the run",
        stats.orders,
        stats.rows,
        stats.batches,
        stats.elapsed.as_secs_f64(),
        stats.rows_per_sec(),
        stats.changed
    );
    Ok(())
}
