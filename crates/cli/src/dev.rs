//! `paydesk dev ...`: developer tools. `dev generate` fills the configured database
//! with realistic historical pay orders (for archiving tests and benchmarks).

use crate::runtime::{master_key, open_store};
use anyhow::Result;
use clap::Subcommand;
use paydesk_server::config::Config;
use paydesk_store::archive::tier_of;
use paydesk_store::generate::{historical_order, Rng};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Developer commands.
#[derive(Subcommand)]
pub enum Command {
    /// Insert N historical pay orders created across the past D days (mixed statuses;
    /// finished ones with their payment attempts, provider callbacks, some refunds,
    /// outbox events and notification attempts).
    Generate {
        /// How many pay orders.
        #[arg(long)]
        orders: u64,
        /// Spread their creation over this many past days.
        #[arg(long, default_value_t = 180)]
        days: u32,
        /// Orders per transaction (multi-row inserts).
        #[arg(long, default_value_t = 2000)]
        batch: usize,
        /// Seed of the generator (default: the clock).
        #[arg(long)]
        seed: Option<u64>,
    },
}

/// Runs a dev command.
pub async fn run(config: &Config, cmd: Command) -> Result<()> {
    let Command::Generate {
        orders,
        days,
        batch,
        seed,
    } = cmd;
    let store = open_store(config).await?;
    let mut lines = store.list_business_lines().await?;
    if lines.is_empty() {
        let key = master_key(config)?;
        let created = paydesk_server::business_lines::create(
            &*store,
            &key,
            "dev-generated",
            "http://127.0.0.1:9/notify",
            &[],
        )
        .await?;
        println!(
            "business line dev-generated created (app_id {})",
            created.line.app_id
        );
        lines.push(created.line);
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?;
    let now_ms = now.as_millis() as i64;
    let seed = seed.unwrap_or(now.as_nanos() as u64);
    let mut rng = Rng::new(seed);
    let run_tag = format!("{:08x}", rng.next_u64() as u32);
    let tier = tier_of(&*store)?;
    let batch = batch.clamp(1, 5000) as u64;
    let start = Instant::now();
    let mut done = 0u64;
    let mut rows = 0u64;
    let mut last_log = Instant::now();
    while done < orders {
        let n = batch.min(orders - done);
        let bundles: Vec<_> = (done..done + n)
            .map(|i| {
                let line = &lines[(i % lines.len() as u64) as usize];
                historical_order(&mut rng, line, format!("gen-{run_tag}-{i}"), now_ms, days)
            })
            .collect();
        rows += bundles.iter().map(|b| b.rows()).sum::<u64>();
        tier.insert_bundles_fresh(&bundles).await?;
        done += n;
        if last_log.elapsed().as_secs() >= 1 {
            last_log = Instant::now();
            let secs = start.elapsed().as_secs_f64().max(1e-3);
            tracing::info!(
                "generate: {done}/{orders} orders, {rows} rows, {:.0} orders/s",
                done as f64 / secs
            );
        }
    }
    let secs = start.elapsed().as_secs_f64().max(1e-3);
    println!(
        "generated {done} pay orders ({rows} rows) over {days} days in {secs:.1}s \
         ({:.0} orders/s, seed {seed})",
        done as f64 / secs
    );
    Ok(())
}
