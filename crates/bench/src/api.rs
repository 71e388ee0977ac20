//! `api`: create-pay-order throughput and latency through a real paydesk server (a
//! child process, so its peak RSS is its own) at several client concurrencies, next to
//! the same database work issued directly through the store (sqlx) with the same
//! concurrency and pool size: one nonce insert, then one transaction inserting the
//! business order key and the order. That direct rate is the database's own limit for
//! this work; the ratio says how much of it the HTTP service keeps.

use crate::machine;
use crate::stats::{percentiles, write_json, Percentiles};
use anyhow::{bail, Context, Result};
use paydesk_core::signing::Authorization;
use paydesk_core::{ids, Amount, Currency};
use paydesk_server::config::Config;
use paydesk_server::secrets::MasterKey;
use paydesk_store::{connect, NewPayOrder, Store};
use serde_json::json;
use sqlx::Connection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Pool size used by both the server and the direct path.
const POOL: u32 = 16;
const WARMUP: Duration = Duration::from_secs(1);

#[derive(clap::Args)]
pub struct Args {
    /// Client concurrency levels.
    #[arg(long, default_value = "1,16,64", value_delimiter = ',')]
    levels: Vec<usize>,
    /// Measured seconds per level and mode.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Backends to run.
    #[arg(long, default_value = "sqlite,postgres", value_delimiter = ',')]
    backends: Vec<String>,
    /// PostgreSQL server (a scratch database is created there).
    #[arg(
        long,
        env = "PAYDESK_BENCH_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres_url: String,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    #[arg(long)]
    database_url: String,
    #[arg(long)]
    listen: String,
}

/// The child: a plain paydesk server (workers included), logs at warn.
pub fn serve_child(a: ServeArgs) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let config = Config {
            database_url: a.database_url,
            listen: a.listen,
            database_max_connections: POOL,
            log_level: "warn".into(),
            ..Config::default()
        };
        let store = connect(&config.database_url, POOL).await?;
        store.migrate().await?;
        let key = MasterKey::parse(&std::env::var("PAYDESK_MASTER_KEY")?)?;
        let listener = tokio::net::TcpListener::bind(&config.listen).await?;
        let state = paydesk_server::state::AppState::new(
            store,
            key,
            config,
            paydesk_server::ops::metrics_handle(),
        )?;
        paydesk_server::serve(state, listener, std::future::pending()).await?;
        Ok(())
    })
}

pub(crate) struct Level {
    pub(crate) clients: usize,
    pub(crate) ops_per_sec: f64,
    pub(crate) latency: Percentiles,
    pub(crate) errors: u64,
}

pub(crate) async fn scratch_db(backend: &str, pg_admin: &str, tag: &str) -> Result<String> {
    let name = format!("paydesk_bench_{tag}_{}", ids::random_hex::<4>());
    match backend {
        "sqlite" => {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            Ok(format!("sqlite:{}", path.display()))
        }
        "postgres" => {
            let mut c = sqlx::PgConnection::connect(pg_admin)
                .await
                .with_context(|| format!("connecting to {pg_admin}"))?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut c)
                .await?;
            Ok(paydesk_store::testing::with_database(pg_admin, &name))
        }
        other => bail!("unknown backend {other} (sqlite, postgres)"),
    }
}

pub(crate) async fn run_level<F, Fut>(clients: usize, seconds: u64, op: F) -> Level
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let op = Arc::new(op);
    let seq = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let measure_from = start + WARMUP;
    let deadline = measure_from + Duration::from_secs(seconds);
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (op, seq, errors) = (op.clone(), seq.clone(), errors.clone());
            tokio::spawn(async move {
                let mut lat = Vec::new();
                loop {
                    let t0 = Instant::now();
                    if t0 >= deadline {
                        break;
                    }
                    let ok = op(seq.fetch_add(1, Ordering::Relaxed)).await;
                    if t0 >= measure_from {
                        if ok {
                            lat.push(t0.elapsed());
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                lat
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    let n = all.len();
    Level {
        clients,
        ops_per_sec: n as f64 / seconds as f64,
        latency: percentiles(&mut all),
        errors: errors.load(Ordering::Relaxed),
    }
}

async fn business_line(store: &dyn Store, key: &MasterKey) -> Result<(String, String, String)> {
    let created = paydesk_server::business_lines::create(
        store,
        key,
        "bench",
        "http://127.0.0.1:9/notify",
        &[],
    )
    .await?;
    Ok((created.line.id, created.line.app_id, created.secret))
}

/// A business line notified at `notify_url`: (app id, secret).
pub(crate) async fn business_line_for(
    store: &dyn Store,
    key: &MasterKey,
    notify_url: &str,
) -> Result<(String, String)> {
    let created =
        paydesk_server::business_lines::create(store, key, "bench", notify_url, &[]).await?;
    Ok((created.line.app_id, created.secret))
}

fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

pub(crate) async fn wait_ready(base: &str) -> Result<()> {
    let client = reqwest::Client::new();
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{base}/readyz")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("server at {base} did not become ready")
}

async fn bench_backend(backend: &str, a: &Args, key_hex: &str) -> Result<serde_json::Value> {
    let key = MasterKey::parse(key_hex)?;

    // --- through HTTP ---
    let http_url = scratch_db(backend, &a.postgres_url, "http").await?;
    let store = connect(&http_url, 4).await?;
    store.migrate().await?;
    let (_, app_id, secret) = business_line(&*store, &key).await?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let listen = format!("127.0.0.1:{port}");
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args(["__serve", "--database-url", &http_url, "--listen", &listen])
        .env("PAYDESK_MASTER_KEY", key_hex)
        .stdin(std::process::Stdio::null())
        .spawn()?;
    let base = format!("http://{listen}");
    let ready = wait_ready(&base).await;
    if let Err(e) = ready {
        let _ = child.kill();
        return Err(e);
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let (app_id, secret) = (Arc::new(app_id), Arc::new(secret));
    let mut http_levels = Vec::new();
    for &c in &a.levels {
        let (client, base, app_id, secret) =
            (client.clone(), base.clone(), app_id.clone(), secret.clone());
        let level = run_level(c, a.seconds, move |n| {
            let (client, base, app_id, secret) = (client.clone(), base.clone(), app_id.clone(), secret.clone());
            async move {
                let body = format!(
                    r#"{{"business_order_no":"H{c}-{n}","amount":1999,"currency":"CNY","subject":"bench order","buyer_id":"u1"}}"#
                );
                let ts = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs() as i64)
                    .unwrap_or(0);
                let auth = Authorization::header_value(
                    &app_id,
                    secret.as_bytes(),
                    "POST",
                    "/v1/pay-orders",
                    ts,
                    &ids::random_hex::<12>(),
                    body.as_bytes(),
                );
                match client
                    .post(format!("{base}/v1/pay-orders"))
                    .header("authorization", auth)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) => r.status().as_u16() == 201 && r.bytes().await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await;
        http_levels.push(level);
    }
    let rss_kb = peak_rss_kb(child.id());
    let _ = child.kill();
    let _ = child.wait();

    // --- the same store calls, direct ---
    let direct_url = scratch_db(backend, &a.postgres_url, "direct").await?;
    let direct: Arc<dyn Store> = connect(&direct_url, POOL).await?;
    direct.migrate().await?;
    let (line_id, app_id, _) = business_line(&*direct, &key).await?;
    let (line_id, app_id) = (Arc::new(line_id), Arc::new(app_id));
    let mut direct_levels = Vec::new();
    for &c in &a.levels {
        let (store, line_id, app_id) = (direct.clone(), line_id.clone(), app_id.clone());
        let level = run_level(c, a.seconds, move |n| {
            let (store, line_id, app_id) = (store.clone(), line_id.clone(), app_id.clone());
            async move {
                let now = paydesk_server::time::now_ms();
                let nonce = ids::random_hex::<12>();
                if store
                    .record_nonce(&app_id, &nonce, now + 301_000)
                    .await
                    .is_err()
                {
                    return false;
                }
                let Ok(amount) = Amount::new(1999, Currency::CNY) else {
                    return false;
                };
                let order = NewPayOrder {
                    id: ids::new_id(ids::PAY_ORDER),
                    business_line_id: line_id.to_string(),
                    business_order_no: format!("D{c}-{n}"),
                    amount,
                    subject: "bench order".into(),
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
                store.create_pay_order(&order).await.is_ok()
            }
        })
        .await;
        direct_levels.push(level);
    }

    println!();
    println!(
        "backend: {backend} (pool {POOL} connections, {} s per level)",
        a.seconds
    );
    println!(
        "{:>8} | {:>11} {:>9} {:>9} | {:>11} {:>9} {:>9} | {:>6}",
        "clients", "http ops/s", "p50 us", "p99 us", "direct/s", "p50 us", "p99 us", "ratio"
    );
    let mut rows = Vec::new();
    for (h, d) in http_levels.iter().zip(&direct_levels) {
        let ratio = if d.ops_per_sec > 0.0 {
            h.ops_per_sec / d.ops_per_sec
        } else {
            0.0
        };
        println!(
            "{:>8} | {:>11.0} {:>9} {:>9} | {:>11.0} {:>9} {:>9} | {:>6.2}",
            h.clients,
            h.ops_per_sec,
            h.latency.p50_us,
            h.latency.p99_us,
            d.ops_per_sec,
            d.latency.p50_us,
            d.latency.p99_us,
            ratio
        );
        if h.errors + d.errors > 0 {
            println!("         errors: http {} direct {}", h.errors, d.errors);
        }
        rows.push(json!({
            "clients": h.clients,
            "http": {"ops_per_sec": h.ops_per_sec, "latency": h.latency, "errors": h.errors},
            "direct_sqlx": {"ops_per_sec": d.ops_per_sec, "latency": d.latency, "errors": d.errors},
            "ratio": ratio,
        }));
    }
    println!("server peak RSS: {:.1} MB", rss_kb as f64 / 1024.0);
    Ok(
        json!({"backend": backend, "pool_connections": POOL, "levels": rows, "server_peak_rss_kb": rss_kb}),
    )
}

pub fn run(a: Args) -> Result<()> {
    machine::print_header("paydesk api benchmark: create pay order");
    let key_hex = ids::random_hex::<32>();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut results = Vec::new();
    for backend in &a.backends {
        results.push(rt.block_on(bench_backend(backend, &a, &key_hex))?);
    }
    let path = write_json(
        "api",
        &json!({
            "benchmark": "api",
            "machine": machine::describe(),
            "seconds_per_level": a.seconds,
            "work_per_create": "nonce insert; BEGIN; business_order_keys insert; pay_orders insert; COMMIT",
            "results": results,
        }),
    )?;
    println!("\nwrote {}", path.display());
    Ok(())
}
