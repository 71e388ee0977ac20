//! `paydesk archive`: moves finished pay orders older than a cutoff, with their events
//! and notification attempts, from the database to the cold store (`docs/archive.md`).

use crate::runtime::{open_cold_store, open_store};
use anyhow::{bail, Result};
use paydesk_server::config::Config;
use paydesk_store::archive::{archive, tier_of, ArchiveOptions, ArchiveStats};
use std::io::{IsTerminal, Write};
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
    /// Parts of each batch copied and deleted at once (1-8), each in its own transactions.
    #[arg(long, default_value_t = 2)]
    pub parallel: usize,
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
        parallel: args.parallel,
        ..ArchiveOptions::default()
    };
    // A progress bar redrawn in place on a terminal; a log line a second otherwise.
    let tty = std::io::stderr().is_terminal();
    let every = if tty {
        Duration::from_millis(200)
    } else {
        Duration::from_secs(1)
    };
    let mut last_log = Instant::now();
    let mut progress = |s: &ArchiveStats| {
        if last_log.elapsed() < every {
            return;
        }
        last_log = Instant::now();
        let line = Progress::new(s, eligible.max(0) as u64);
        if tty {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{}\x1b[K", line.bar(30));
            let _ = err.flush();
        } else {
            tracing::info!("archive: {}", line.text());
        }
    };
    let result = archive(&*hot, &*cold, &opts, &mut progress).await;
    if tty {
        eprintln!();
    }
    let stats = result?;
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

/// One progress report: orders and rows so far, rates and the time left.
struct Progress {
    orders: u64,
    total: u64,
    rows: u64,
    rows_per_sec: f64,
    orders_per_sec: f64,
}

impl Progress {
    fn new(s: &ArchiveStats, total: u64) -> Self {
        let secs = s.elapsed.as_secs_f64().max(1e-3);
        Progress {
            orders: s.orders,
            total: total.max(s.orders),
            rows: s.rows,
            rows_per_sec: s.rows as f64 / secs,
            orders_per_sec: s.orders as f64 / secs,
        }
    }

    /// Time left at the rate so far, e.g. `1m05s`, or `?`.
    fn eta(&self) -> String {
        if self.orders_per_sec <= 0.0 {
            return "?".into();
        }
        let left = (self.total - self.orders) as f64 / self.orders_per_sec;
        let secs = left.round() as u64;
        if secs >= 60 {
            format!("{}m{:02}s", secs / 60, secs % 60)
        } else {
            format!("{secs}s")
        }
    }

    /// The plain log line.
    fn text(&self) -> String {
        format!(
            "{}/{} orders, {} rows, {:.0} rows/s, {:.0} orders/s, ETA {}",
            self.orders,
            self.total,
            self.rows,
            self.rows_per_sec,
            self.orders_per_sec,
            self.eta()
        )
    }

    /// The terminal bar, `width` cells wide.
    fn bar(&self, width: usize) -> String {
        let frac = if self.total == 0 {
            1.0
        } else {
            self.orders as f64 / self.total as f64
        };
        let filled = ((frac * width as f64).round() as usize).min(width);
        format!(
            "archive [{}{}] {:>3.0}% {}/{} orders | {:.0} rows/s | ETA {}",
            "#".repeat(filled),
            "-".repeat(width - filled),
            frac * 100.0,
            self.orders,
            self.total,
            self.rows_per_sec,
            self.eta()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bar_and_eta() {
        let s = ArchiveStats {
            orders: 250,
            rows: 1000,
            elapsed: Duration::from_secs(10),
            ..ArchiveStats::default()
        };
        let p = Progress::new(&s, 1000);
        assert_eq!(p.eta(), "30s");
        let bar = p.bar(20);
        assert!(bar.contains("[#####---------------]"), "{bar}");
        assert!(
            bar.contains(" 25% 250/1000 orders | 100 rows/s | ETA 30s"),
            "{bar}"
        );
        assert!(p
            .text()
            .contains("250/1000 orders, 1000 rows, 100 rows/s, 25 orders/s, ETA 30s"));
        let slow = Progress::new(
            &ArchiveStats {
                orders: 1,
                elapsed: Duration::from_secs(1),
                ..ArchiveStats::default()
            },
            3601,
        );
        assert_eq!(slow.eta(), "60m00s");
        let none = Progress::new(&ArchiveStats::default(), 0);
        assert_eq!(none.eta(), "?");
        assert!(none.bar(4).contains("[####] 100%"));
    }
}
