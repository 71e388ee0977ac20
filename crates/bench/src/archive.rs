//! `archive`: hot/cold archiving MariaDB->MariaDB next to `pt-archiver` (Debian's
//! `percona-toolkit`) in its fastest mode on an identical copy of the pay-order table.
//!
//! One run: scratch databases on one server (paydesk hot + cold, pt-archiver source +
//! destination); N historical pay orders generated into paydesk's hot database with the
//! store's generator (what `paydesk dev generate` does); the `pay_orders` table copied
//! to pt-archiver's source. Then paydesk's `archive()` moves every eligible order with
//! its children (outbox events, notification attempts, payment attempts, refunds, raw
//! provider callbacks), and pt-archiver moves the same pay-order
//! rows (`--limit N --commit-each --bulk-insert --bulk-delete`). Both are checked for
//! lost rows, and the rows/s and the ratio are printed and written to
//! `bench-results/archive.json`.
//!
//! Eligibility (see `docs/archive.md`) is "PAID or CLOSED, every child settled, last
//! changed before the cutoff"; in generated history the only unsettled children are
//! pending outbox events. pt-archiver only sees `pay_orders`, so the ids of the
//! orders with a pending event are copied to a one-column helper table beside its source
//! and its `--where` excludes them: both tools then select exactly the same rows.

use crate::archive_floor::delete_floor;
use crate::machine;
use crate::stats::{percentiles, write_json};
use anyhow::{bail, ensure, Context, Result};
use paydesk_core::{ids, Amount, Currency};
use paydesk_server::secrets::MasterKey;
use paydesk_store::archive::{archive, tier_of, ArchiveOptions};
use paydesk_store::generate::{historical_order, Rng};
use paydesk_store::{connect, NewPayOrder, Store};
use serde_json::json;
use sqlx::{Connection, MySqlConnection};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Archive orders last changed more than this many days ago (paydesk's default).
const OLDER_THAN_DAYS: i64 = 90;
/// Orders per generator transaction (as `paydesk dev generate`).
const GEN_BATCH: u64 = 2000;

#[derive(clap::Args)]
pub struct Args {
    /// Pay orders to generate.
    #[arg(long, default_value_t = 1_000_000)]
    orders: u64,
    /// Rows per batch, for both paydesk and pt-archiver (`--limit`).
    #[arg(long, default_value_t = 1000)]
    batch: usize,
    /// MariaDB/MySQL server (scratch databases are created there and dropped after).
    #[arg(
        long,
        env = "PAYDESK_BENCH_MYSQL_URL",
        default_value = "mysql://root@127.0.0.1:3306/test"
    )]
    mysql_url: String,
    /// Spread the generated orders' creation over this many past days.
    #[arg(long, default_value_t = 365)]
    days: u32,
    /// Keep the scratch databases (for inspection).
    #[arg(long)]
    keep: bool,
    /// Parts of each batch paydesk copies and deletes at once (`paydesk archive --parallel`).
    #[arg(long, default_value_t = 2)]
    parallel: usize,
    /// Seconds of live create-pay-order traffic measured without, then with, the
    /// rate-limited archiver running (0 skips the latency part).
    #[arg(long, default_value_t = 15)]
    live_seconds: u64,
    /// Create-pay-order calls per second offered during the latency part.
    #[arg(long, default_value_t = 100)]
    live_rate: u64,
    /// `--max-rows-per-sec` of the archiver during the latency part.
    #[arg(long, default_value_t = 5000)]
    live_max_rows_per_sec: u64,
    /// Set the server's InnoDB buffer pool to this many MiB before the run (`SET GLOBAL
    /// innodb_buffer_pool_size`, resizable online; the same for paydesk and pt-archiver),
    /// and put it back after. Unset: the server's as it is (MariaDB's default is 128 MiB,
    /// far below what a payments database runs with).
    #[arg(long)]
    buffer_pool_mb: Option<u64>,
}

/// Host, port, user and password of a `mysql://` URL, for pt-archiver's DSN.
struct Server {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
}

fn parse_server(url: &str) -> Result<Server> {
    let rest = url
        .strip_prefix("mysql://")
        .or_else(|| url.strip_prefix("mariadb://"))
        .with_context(|| format!("not a mysql:// URL: {url}"))?;
    let rest = rest.split(['/', '?']).next().unwrap_or("");
    let (creds, hostport) = match rest.rsplit_once('@') {
        Some((c, h)) => (Some(c), h),
        None => (None, rest),
    };
    let (user, password) = match creds {
        Some(c) => match c.split_once(':') {
            Some((u, p)) => (u.to_owned(), Some(p.to_owned())),
            None => (c.to_owned(), None),
        },
        None => ("root".to_owned(), None),
    };
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h.to_owned(), p.parse().context("port")?),
        None => (hostport.to_owned(), 3306),
    };
    Ok(Server {
        host: if host.is_empty() {
            "127.0.0.1".into()
        } else {
            host
        },
        port,
        user,
        password,
    })
}

impl Server {
    fn dsn(&self, db: &str) -> String {
        let mut s = format!(
            "h={},P={},u={},D={db},t=pay_orders",
            self.host, self.port, self.user
        );
        if let Some(p) = &self.password {
            s.push_str(&format!(",p={p}"));
        }
        s
    }
}

pub(crate) async fn exec(c: &mut MySqlConnection, sql: &str) -> Result<()> {
    sqlx::query(sql)
        .execute(&mut *c)
        .await
        .with_context(|| sql.to_owned())?;
    Ok(())
}

async fn count(c: &mut MySqlConnection, sql: &str) -> Result<i64> {
    let n: i64 = sqlx::query_scalar(sql)
        .fetch_one(&mut *c)
        .await
        .with_context(|| sql.to_owned())?;
    Ok(n)
}

/// The archived tables, in the order of [`Generated::rows`].
const TABLES: [&str; 6] = [
    "pay_orders",
    "outbox_events",
    "notification_attempts",
    "payment_attempts",
    "refunds",
    "provider_callbacks",
];

/// Rows of the archived tables in one database.
pub(crate) async fn table_counts(c: &mut MySqlConnection, db: &str) -> Result<[i64; 6]> {
    let mut out = [0; 6];
    for (n, table) in out.iter_mut().zip(TABLES) {
        *n = count(c, &format!("SELECT COUNT(*) FROM `{db}`.{table}")).await?;
    }
    Ok(out)
}

struct Generated {
    orders: u64,
    /// Rows generated per table of [`TABLES`].
    rows: [u64; 6],
    secs: f64,
}

async fn generate(store: &dyn Store, orders: u64, days: u32, now_ms: i64) -> Result<Generated> {
    let key = MasterKey::parse(&ids::random_hex::<32>())?;
    let created = paydesk_server::business_lines::create(
        store,
        &key,
        "bench-archive",
        "http://127.0.0.1:9/notify",
        &[],
    )
    .await?;
    let line = created.line;
    let mut rng = Rng::new(0x5EED_A2C1_17E5);
    let tier = tier_of(store)?;
    let start = Instant::now();
    let mut last_log = Instant::now();
    let mut g = Generated {
        orders: 0,
        rows: [0; 6],
        secs: 0.0,
    };
    while g.orders < orders {
        let n = GEN_BATCH.min(orders - g.orders);
        let bundles: Vec<_> = (g.orders..g.orders + n)
            .map(|i| historical_order(&mut rng, &line, format!("bench-{i}"), now_ms, days))
            .collect();
        for b in &bundles {
            let children = [
                1,
                b.events.len(),
                b.deliveries.len(),
                b.payment_attempts.len(),
                b.refunds.len(),
                b.callbacks.len(),
            ];
            for (total, n) in g.rows.iter_mut().zip(children) {
                *total += n as u64;
            }
        }
        tier.insert_bundles_fresh(&bundles).await?;
        g.orders += n;
        if last_log.elapsed() >= Duration::from_secs(5) {
            last_log = Instant::now();
            eprintln!(
                "  generate: {}/{orders} orders ({:.0}/s)",
                g.orders,
                g.orders as f64 / start.elapsed().as_secs_f64()
            );
        }
    }
    g.secs = start.elapsed().as_secs_f64();
    Ok(g)
}

fn pt_archiver_version() -> Result<String> {
    let out = Command::new("pt-archiver").arg("--version").output();
    match out {
        Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).trim().to_owned()),
        Ok(o) => bail!(
            "pt-archiver --version failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => bail!(
            "pt-archiver not found ({e}); install Debian's percona-toolkit: \
             apt-get install -y percona-toolkit"
        ),
    }
}

fn rate(n: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        n as f64 / secs
    } else {
        0.0
    }
}

/// `per_sec` as a multiple of pt-archiver's rows/s (0 when pt-archiver measured nothing).
fn times_pt(per_sec: f64, pt_rows_per_sec: f64) -> f64 {
    if pt_rows_per_sec > 0.0 {
        per_sec / pt_rows_per_sec
    } else {
        0.0
    }
}

/// Creates `to_db`.`table` like `from_db`'s and copies every row, server-side.
pub(crate) async fn copy_table(
    c: &mut MySqlConnection,
    from_db: &str,
    to_db: &str,
    table: &str,
) -> Result<()> {
    exec(
        c,
        &format!("CREATE TABLE `{to_db}`.{table} LIKE `{from_db}`.{table}"),
    )
    .await?;
    exec(
        c,
        &format!("INSERT INTO `{to_db}`.{table} SELECT * FROM `{from_db}`.{table}"),
    )
    .await
}

/// The server's InnoDB buffer pool, MiB.
async fn buffer_pool_mb(c: &mut MySqlConnection) -> Result<u64> {
    let bytes: u64 = sqlx::query_scalar("SELECT @@innodb_buffer_pool_size")
        .fetch_one(&mut *c)
        .await?;
    Ok(bytes / (1024 * 1024))
}

/// Resizes the buffer pool and waits (bounded) until the server reports the new size.
async fn set_buffer_pool_mb(c: &mut MySqlConnection, mb: u64) -> Result<()> {
    exec(
        c,
        &format!("SET GLOBAL innodb_buffer_pool_size = {}", mb * 1024 * 1024),
    )
    .await?;
    for _ in 0..600 {
        if buffer_pool_mb(c).await? >= mb {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the buffer pool did not grow to {mb} MiB within a minute")
}

async fn bench(a: &Args, dbs: &Dbs, admin: &mut MySqlConnection) -> Result<serde_json::Value> {
    let server = parse_server(&a.mysql_url)?;
    let pt_version = pt_archiver_version()?;
    let pool_before_mb = buffer_pool_mb(admin).await?;
    if let Some(mb) = a.buffer_pool_mb {
        set_buffer_pool_mb(admin, mb).await?;
    }
    let pool_mb = buffer_pool_mb(admin).await?;
    println!(
        "InnoDB buffer pool: {pool_mb} MiB (was {pool_before_mb} MiB), the same for both tools"
    );
    let result = bench_inner(a, dbs, admin, &server, pt_version, pool_mb).await;
    if a.buffer_pool_mb.is_some() && pool_before_mb != pool_mb {
        set_buffer_pool_mb(admin, pool_before_mb).await.ok();
    }
    result
}

async fn bench_inner(
    a: &Args,
    dbs: &Dbs,
    admin: &mut MySqlConnection,
    server: &Server,
    pt_version: String,
    pool_mb: u64,
) -> Result<serde_json::Value> {
    for db in dbs.all() {
        exec(admin, &format!("CREATE DATABASE `{db}`")).await?;
    }
    let hot_url = paydesk_store::testing::with_database(&a.mysql_url, &dbs.hot);
    let cold_url = paydesk_store::testing::with_database(&a.mysql_url, &dbs.cold);
    let hot: Arc<dyn Store> = connect(&hot_url, 8).await?;
    hot.migrate().await?;
    let cold: Arc<dyn Store> = connect(&cold_url, 8).await?;
    cold.migrate().await?;

    // --- data ---
    let now_ms = paydesk_server::time::now_ms();
    println!(
        "generating {} pay orders over {} days into {} ...",
        a.orders, a.days, dbs.hot
    );
    let g = generate(&*hot, a.orders, a.days, now_ms).await?;
    let generated_rows: u64 = g.rows.iter().sum();
    println!(
        "generated {} orders, {generated_rows} rows ({}) in {:.1}s ({:.0} orders/s)",
        g.orders,
        TABLES
            .iter()
            .zip(g.rows)
            .map(|(t, n)| format!("{t} {n}"))
            .collect::<Vec<_>>()
            .join(", "),
        g.secs,
        rate(g.orders, g.secs)
    );
    let (hot_db, src, dst) = (&dbs.hot, &dbs.pt_src, &dbs.pt_dst);
    copy_table(admin, hot_db, src, "pay_orders").await?;
    exec(
        admin,
        &format!("CREATE TABLE `{dst}`.pay_orders LIKE `{hot_db}`.pay_orders"),
    )
    .await?;
    exec(
        admin,
        &format!("CREATE TABLE `{src}`.pending_orders (id VARCHAR(40) PRIMARY KEY) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"),
    )
    .await?;
    exec(
        admin,
        &format!(
            "INSERT IGNORE INTO `{src}`.pending_orders SELECT pay_order_id FROM `{hot_db}`.outbox_events \
             WHERE status = 'PENDING' AND pay_order_id IS NOT NULL"
        ),
    )
    .await?;
    exec(admin, &format!("ANALYZE TABLE `{src}`.pay_orders")).await?;
    let pt_original = count(admin, &format!("SELECT COUNT(*) FROM `{src}`.pay_orders")).await?;
    ensure!(pt_original as u64 == g.orders, "pay_orders copy incomplete");

    // --- paydesk ---
    let cutoff_ms = now_ms - OLDER_THAN_DAYS * 86_400_000;
    let hot_tier = tier_of(&*hot)?;
    let eligible = hot_tier.count_archive_candidates(cutoff_ms).await?;
    println!("eligible (finished, no pending event, older than {OLDER_THAN_DAYS} days): {eligible} orders");
    let opts = ArchiveOptions {
        cutoff_ms,
        batch: a.batch,
        max_rows_per_sec: 0,
        parallel: a.parallel,
        ..ArchiveOptions::default()
    };
    println!(
        "paydesk archive (batch {}, parallel {}) ...",
        a.batch, a.parallel
    );
    let mut last_log = Instant::now();
    let mut progress = |s: &paydesk_store::archive::ArchiveStats| {
        if last_log.elapsed() >= Duration::from_secs(5) {
            last_log = Instant::now();
            eprintln!(
                "  paydesk: {} orders, {} rows, {:.0} rows/s",
                s.orders,
                s.rows,
                s.rows_per_sec()
            );
        }
    };
    let t0 = Instant::now();
    let stats = archive(&*hot, &*cold, &opts, &mut progress).await?;
    let pd_secs = t0.elapsed().as_secs_f64();
    let pd_orders_s = rate(stats.orders, pd_secs);
    let pd_rows_s = rate(stats.rows, pd_secs);
    println!(
        "paydesk: {} orders, {} rows, {} batches in {pd_secs:.2}s (busy: read {:.1}s, copy {:.1}s, delete {:.1}s)",
        stats.orders,
        stats.rows,
        stats.batches,
        stats.read_busy.as_secs_f64(),
        stats.copy_busy.as_secs_f64(),
        stats.delete_busy.as_secs_f64()
    );

    // paydesk checks: nothing lost, everything eligible moved.
    let h = table_counts(admin, &dbs.hot).await?;
    let c = table_counts(admin, &dbs.cold).await?;
    for i in 0..TABLES.len() {
        ensure!(
            h[i] + c[i] == g.rows[i] as i64,
            "paydesk lost rows in {}: hot {} + cold {} != generated {}",
            TABLES[i],
            h[i],
            c[i],
            g.rows[i]
        );
    }
    ensure!(
        stats.orders as i64 == eligible && c[0] == eligible && stats.changed == 0,
        "paydesk moved {} orders (cold holds {}), {eligible} were eligible",
        stats.orders,
        c[0]
    );
    ensure!(
        stats.rows as i64 == c.iter().sum::<i64>(),
        "paydesk reported {} rows, cold holds {}",
        stats.rows,
        c.iter().sum::<i64>()
    );
    let left = hot_tier.count_archive_candidates(cutoff_ms).await?;
    ensure!(left == 0, "{left} eligible orders still in hot");
    let cold_db = &dbs.cold;
    let eligible_pred = format!(
        "status IN ('PAID','CLOSED') AND updated_at_ms < {cutoff_ms} \
         AND NOT EXISTS (SELECT 1 FROM `{src}`.pending_orders x WHERE x.id = pay_orders.id)"
    );
    let missing = count(
        admin,
        &format!(
            "SELECT COUNT(*) FROM `{src}`.pay_orders WHERE {eligible_pred} \
             AND NOT EXISTS (SELECT 1 FROM `{cold_db}`.pay_orders c WHERE c.id = pay_orders.id)"
        ),
    )
    .await?;
    ensure!(
        missing == 0,
        "{missing} eligible orders (by the original copy) are not in cold"
    );
    println!(
        "paydesk verified: hot {h:?} + cold {c:?} = generated {:?}; every eligible order in cold",
        g.rows
    );

    // --- pt-archiver ---
    let mut cmd = Command::new("pt-archiver");
    cmd.args([
        "--source",
        &server.dsn(src),
        "--dest",
        &server.dsn(dst),
        "--where",
        &eligible_pred,
        "--limit",
        &a.batch.to_string(),
        "--commit-each",
        "--bulk-insert",
        "--bulk-delete",
        "--no-version-check",
        "--no-check-charset",
        "--statistics",
    ]);
    println!(
        "pt-archiver --limit {} --commit-each --bulk-insert --bulk-delete --no-version-check ...",
        a.batch
    );
    let t0 = Instant::now();
    let out = cmd.output().context("running pt-archiver")?;
    let pt_secs = t0.elapsed().as_secs_f64();
    let pt_stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let pt_stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if !out.status.success() {
        bail!(
            "pt-archiver failed ({}):\n{pt_stdout}\n{pt_stderr}",
            out.status
        );
    }
    if !pt_stderr.trim().is_empty() {
        eprintln!("pt-archiver stderr:\n{pt_stderr}");
    }
    let pt_src_left = count(admin, &format!("SELECT COUNT(*) FROM `{src}`.pay_orders")).await?;
    let pt_moved = count(admin, &format!("SELECT COUNT(*) FROM `{dst}`.pay_orders")).await?;
    ensure!(
        pt_src_left + pt_moved == pt_original,
        "pt-archiver lost rows: source {pt_src_left} + dest {pt_moved} != {pt_original}"
    );
    ensure!(
        pt_moved as u64 == stats.orders,
        "pt-archiver moved {pt_moved} rows, paydesk {} orders",
        stats.orders
    );
    let differ = count(
        admin,
        &format!(
            "SELECT COUNT(*) FROM `{cold_db}`.pay_orders c \
             LEFT JOIN `{dst}`.pay_orders d ON d.id = c.id WHERE d.id IS NULL"
        ),
    )
    .await?;
    ensure!(
        differ == 0,
        "{differ} orders moved by paydesk were not moved by pt-archiver"
    );
    let pt_rows_s = rate(pt_moved as u64, pt_secs);
    println!("pt-archiver: {pt_moved} rows in {pt_secs:.2}s; verified: source {pt_src_left} + dest {pt_moved} = {pt_original}, same ids as paydesk's cold");
    let ratio = times_pt(pd_orders_s, pt_rows_s);

    println!();
    println!(
        "{} pay orders generated ({} rows), {} eligible, batch {}, MariaDB->MariaDB on one server",
        g.orders, generated_rows, eligible, a.batch
    );
    println!(
        "{:>26} | {:>10} | {:>9} | {:>9}",
        "", "moved", "seconds", "per sec"
    );
    println!(
        "{:>26} | {:>10} | {:>9.2} | {:>9.0}",
        "paydesk pay orders", stats.orders, pd_secs, pd_orders_s
    );
    println!(
        "{:>26} | {:>10} | {:>9.2} | {:>9.0}",
        "paydesk total rows", stats.rows, pd_secs, pd_rows_s
    );
    println!(
        "{:>26} | {:>10} | {:>9.2} | {:>9.0}",
        "pt-archiver rows (bulk)", pt_moved, pt_secs, pt_rows_s
    );
    println!("ratio (paydesk pay orders/s / pt-archiver rows/s): {ratio:.2}  (goal >= 2.00)");
    println!("nothing lost: verified for both");

    // --- the hot-delete floor: the server deleting the same rows itself ---
    println!(
        "\nhot-delete floor: MariaDB itself deleting the rows paydesk moved (a server-side copy of them), \
         batches of {} orders, {} sessions, no copy, no client ...",
        a.batch, a.parallel
    );
    let floor_url = paydesk_store::testing::with_database(&a.mysql_url, &dbs.floor);
    let floor = delete_floor(
        admin, &floor_url, &dbs.cold, &dbs.floor, a.batch, a.parallel,
    )
    .await?;
    let floor_orders_s = rate(floor.orders, floor.secs);
    let floor_ratio = times_pt(floor_orders_s, pt_rows_s);
    println!(
        "hot-delete floor: {} orders ({} rows) in {:.2}s = {floor_orders_s:.0} pay orders/s, \
         {floor_ratio:.2}x pt-archiver's rows/s: no archiver that moves these rows out of hot \
         can pass this on this server",
        floor.orders, floor.rows, floor.secs
    );

    // --- live create-pay-order latency, without and with the rate-limited archiver ---
    let live = if a.live_seconds > 0 {
        Some(live_latency(a, dbs, admin, &hot, &cold, cutoff_ms).await?)
    } else {
        None
    };

    Ok(json!({
        "benchmark": "archive",
        "machine": machine::describe(),
        "backend": "mariadb->mariadb (one server)",
        "server_version": count_version(admin).await.unwrap_or_default(),
        "innodb_buffer_pool_mb": pool_mb,
        "orders_generated": g.orders,
        "rows_generated": {
            "pay_orders": g.rows[0], "outbox_events": g.rows[1],
            "notification_attempts": g.rows[2], "payment_attempts": g.rows[3],
            "refunds": g.rows[4], "provider_callbacks": g.rows[5], "total": generated_rows,
        },
        "generate_seconds": g.secs,
        "days": a.days,
        "older_than_days": OLDER_THAN_DAYS,
        "batch": a.batch,
        "eligible_orders": eligible,
        "paydesk": {
            "orders": stats.orders,
            "rows": stats.rows,
            "batches": stats.batches,
            "seconds": pd_secs,
            "orders_per_sec": pd_orders_s,
            "rows_per_sec": pd_rows_s,
        },
        "pt_archiver": {
            "version": pt_version,
            "args": "--limit N --commit-each --bulk-insert --bulk-delete --no-version-check --no-check-charset",
            "where": "status IN ('PAID','CLOSED') AND updated_at_ms < cutoff AND id not in the pending-event helper table",
            "rows": pt_moved,
            "seconds": pt_secs,
            "rows_per_sec": pt_rows_s,
            "statistics": pt_stdout,
        },
        "ratio_paydesk_orders_per_sec_to_pt_rows_per_sec": ratio,
        "hot_delete_floor": {
            "what": "the server deleting the rows paydesk moved (a copy), server-side, batches of N orders, `parallel` sessions, no copy, no client",
            "orders": floor.orders,
            "rows": floor.rows,
            "seconds": floor.secs,
            "orders_per_sec": floor_orders_s,
            "ratio_to_pt_rows_per_sec": floor_ratio,
        },
        "parallel": a.parallel,
        "paydesk_busy_seconds": {
            "read": stats.read_busy.as_secs_f64(),
            "copy": stats.copy_busy.as_secs_f64(),
            "delete": stats.delete_busy.as_secs_f64(),
        },
        "verified": {
            "paydesk_hot_plus_cold_equals_generated": true,
            "paydesk_every_eligible_order_in_cold": true,
            "pt_source_plus_dest_equals_original": true,
            "pt_moved_equals_paydesk_orders_same_ids": true,
        },
        "create_pay_order_p99": live,
    }))
}

/// Moves everything paydesk archived back to hot (server-side copies), so the
/// latency part has history to archive again.
async fn restore_hot(c: &mut MySqlConnection, dbs: &Dbs) -> Result<()> {
    for t in ["pay_orders", "outbox_events", "notification_attempts"] {
        exec(
            c,
            &format!(
                "INSERT INTO `{}`.{t} SELECT * FROM `{}`.{t}",
                dbs.hot, dbs.cold
            ),
        )
        .await?;
        exec(c, &format!("DELETE FROM `{}`.{t}", dbs.cold)).await?;
    }
    Ok(())
}

/// Offers `rate` create-pay-order calls per second for `secs` seconds (open loop: a
/// slow call does not delay the next one) through the store (the nonce insert, then
/// the order transaction, as the API does) and returns every call's latency.
async fn offer_creates(
    store: &Arc<dyn Store>,
    line_id: &str,
    app_id: &str,
    tag: &str,
    rate: u64,
    secs: u64,
) -> Result<Vec<Duration>> {
    let total = rate.max(1) * secs;
    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..total {
        let at = start + Duration::from_secs_f64(n as f64 / rate.max(1) as f64);
        tokio::time::sleep_until(at.into()).await;
        let (store, line_id, app_id) = (store.clone(), line_id.to_owned(), app_id.to_owned());
        let no = format!("live-{tag}-{n}");
        tasks.spawn(async move {
            let t = Instant::now();
            let now = paydesk_server::time::now_ms();
            store
                .record_nonce(&app_id, &ids::random_hex::<12>(), now + 301_000)
                .await?;
            let order = NewPayOrder {
                id: ids::new_id(ids::PAY_ORDER),
                business_line_id: line_id,
                business_order_no: no,
                amount: Amount::new(1999, Currency::CNY)?,
                subject: "live order".into(),
                buyer_id: Some("u1".into()),
                seller_id: None,
                facts_json: "{}".into(),
                metadata_json: "{}".into(),
                notify_url: "http://127.0.0.1:9/notify".into(),
                return_url: None,
                checkout_token: ids::random_token::<32>(),
                created_at_ms: now,
                expire_at_ms: now + 1_800_000,
            };
            store.create_pay_order(&order).await?;
            Ok::<Duration, anyhow::Error>(t.elapsed())
        });
    }
    let mut out = Vec::with_capacity(total as usize);
    while let Some(r) = tasks.join_next().await {
        out.push(r??);
    }
    Ok(out)
}

/// The separate rate-limited run: create-pay-order p99 on the hot database
/// without archiving, then while `paydesk archive --max-rows-per-sec N` runs.
async fn live_latency(
    a: &Args,
    dbs: &Dbs,
    admin: &mut MySqlConnection,
    hot: &Arc<dyn Store>,
    cold: &Arc<dyn Store>,
    cutoff_ms: i64,
) -> Result<serde_json::Value> {
    println!();
    println!("live create-pay-order latency: restoring the archived history to hot ...");
    restore_hot(admin, dbs).await?;
    let key = MasterKey::parse(&ids::random_hex::<32>())?;
    let line = paydesk_server::business_lines::create(
        &**hot,
        &key,
        "bench-live",
        "http://127.0.0.1:9/notify",
        &[],
    )
    .await?
    .line;
    println!(
        "{} creates/s for {}s without archiving ...",
        a.live_rate, a.live_seconds
    );
    let mut without = offer_creates(
        hot,
        &line.id,
        &line.app_id,
        "a",
        a.live_rate,
        a.live_seconds,
    )
    .await?;
    let opts = ArchiveOptions {
        cutoff_ms,
        batch: a.batch,
        max_rows_per_sec: a.live_max_rows_per_sec,
        parallel: a.parallel,
        ..ArchiveOptions::default()
    };
    println!(
        "{} creates/s for {}s while archiving at --max-rows-per-sec {} ...",
        a.live_rate, a.live_seconds, a.live_max_rows_per_sec
    );
    let mut moved = paydesk_store::archive::ArchiveStats::default();
    let mut with = {
        let mut last = |s: &paydesk_store::archive::ArchiveStats| moved = s.clone();
        let archiver = archive(&**hot, &**cold, &opts, &mut last);
        let creates = offer_creates(
            hot,
            &line.id,
            &line.app_id,
            "b",
            a.live_rate,
            a.live_seconds,
        );
        tokio::pin!(archiver);
        tokio::select! {
            r = creates => r?,
            r = &mut archiver => {
                r?;
                bail!("the archiver finished before the latency run ended: lower --live-max-rows-per-sec or raise --orders");
            }
        }
        // The archiver is dropped mid-run here: exactly a kill, which it is built for.
    };
    let p_without = percentiles(&mut without);
    let p_with = percentiles(&mut with);
    let ratio = if p_without.p99_us > 0 {
        p_with.p99_us as f64 / p_without.p99_us as f64
    } else {
        0.0
    };
    let archived_rate = moved.rows as f64 / moved.elapsed.as_secs_f64().max(1e-3);
    println!(
        "{:>34} | {:>8} | {:>8} | {:>8}",
        "create-pay-order (store path)", "p50 us", "p99 us", "max us"
    );
    println!(
        "{:>34} | {:>8} | {:>8} | {:>8}",
        "without archiving", p_without.p50_us, p_without.p99_us, p_without.max_us
    );
    println!(
        "{:>34} | {:>8} | {:>8} | {:>8}",
        format!("archiving at {archived_rate:.0} rows/s"),
        p_with.p50_us,
        p_with.p99_us,
        p_with.max_us
    );
    println!("p99 ratio (with / without): {ratio:.2}  (goal <= 1.50)");
    Ok(json!({
        "path": "store calls as the API makes them: nonce insert, then the order transaction; open loop",
        "rate_per_sec": a.live_rate,
        "seconds": a.live_seconds,
        "archiver_max_rows_per_sec": a.live_max_rows_per_sec,
        "archiver_rows_per_sec_achieved": archived_rate,
        "archiver_rows_moved": moved.rows,
        "without_archiving": p_without,
        "with_archiving": p_with,
        "p99_ratio": ratio,
    }))
}

async fn count_version(c: &mut MySqlConnection) -> Result<String> {
    Ok(sqlx::query_scalar::<_, String>("SELECT VERSION()")
        .fetch_one(&mut *c)
        .await?)
}

struct Dbs {
    hot: String,
    cold: String,
    pt_src: String,
    pt_dst: String,
    floor: String,
}

impl Dbs {
    /// Every scratch database of the run, to create and to drop.
    fn all(&self) -> [&str; 5] {
        [
            &self.hot,
            &self.cold,
            &self.pt_src,
            &self.pt_dst,
            &self.floor,
        ]
    }
}

pub fn run(a: Args) -> Result<()> {
    machine::print_header("paydesk archive benchmark: MariaDB->MariaDB vs pt-archiver bulk mode");
    pt_archiver_version()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut admin = MySqlConnection::connect(&a.mysql_url)
            .await
            .with_context(|| format!("connecting to {}", a.mysql_url))?;
        let tag = ids::random_hex::<4>();
        let dbs = Dbs {
            hot: format!("paydesk_bench_arc_{tag}_hot"),
            cold: format!("paydesk_bench_arc_{tag}_cold"),
            pt_src: format!("paydesk_bench_arc_{tag}_ptsrc"),
            pt_dst: format!("paydesk_bench_arc_{tag}_ptdst"),
            floor: format!("paydesk_bench_arc_{tag}_floor"),
        };
        let result = bench(&a, &dbs, &mut admin).await;
        if a.keep {
            println!("kept databases {}", dbs.all().join(", "));
        } else {
            for db in dbs.all() {
                exec(&mut admin, &format!("DROP DATABASE IF EXISTS `{db}`")).await?;
            }
        }
        let value = result?;
        let path = write_json("archive", &value)?;
        println!("\nwrote {}", path.display());
        Ok(())
    })
}
