//! `flow`: complete acquiring flows per second through a real paydesk server and the
//! provider sandbox, in one process: create the pay order (signed API), read the checkout
//! options, pay (WeChat Pay NATIVE: paydesk creates the provider order), the buyer pays at
//! the sandbox, the sandbox sends its signed, encrypted callback, paydesk verifies it,
//! re-queries the provider, records the payment and notifies the business line; the flow
//! ends when the business line's receiver has the `pay_order.paid` notification.
//!
//! Also timed: from the buyer's payment at the provider (the sandbox's pay call, which
//! queues the callback) to the business notification arriving. The peer measured in the
//! same run, on the same server, is create-pay-order alone: one of the flow's four calls.
//! The sandbox keeps its state in memory here (it normally saves every change to disk),
//! so its own storage is not what is measured.

use crate::api::{business_line_for, run_level, scratch_db, wait_ready};
use crate::machine;
use crate::stats::{percentiles, write_json, Percentiles};
use anyhow::{Context, Result};
use axum::extract::State;
use axum::routing::post;
use paydesk_core::ids;
use paydesk_core::signing::Authorization;
use paydesk_server::config::Config;
use paydesk_server::payments::accounts::{CallTimeouts, MerchantAccounts};
use paydesk_server::secrets::MasterKey;
use paydesk_store::connect;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

const POOL: u32 = 16;

#[derive(clap::Args)]
pub struct Args {
    /// Concurrent buyers.
    #[arg(long, default_value = "1,8,32", value_delimiter = ',')]
    levels: Vec<usize>,
    /// Measured seconds per level.
    #[arg(long, default_value_t = 10)]
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

/// Waiters for `pay_order.paid`, by pay order id.
type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<Instant>>>>;

async fn receive(State(waiters): State<Waiters>, body: axum::body::Bytes) -> &'static str {
    let at = Instant::now();
    if let Ok(v) = serde_json::from_slice::<Value>(&body) {
        if v["type"] == "pay_order.paid" {
            if let Some(id) = v["data"]["id"].as_str() {
                let tx = waiters.lock().ok().and_then(|mut w| w.remove(id));
                if let Some(tx) = tx {
                    let _ = tx.send(at);
                }
            }
        }
    }
    "ok"
}

struct Env {
    base: String,
    sandbox: String,
    app_id: String,
    secret: String,
    waiters: Waiters,
    client: reqwest::Client,
}

fn signed(env: &Env, method: &str, path: &str, body: &str) -> String {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Authorization::header_value(
        &env.app_id,
        env.secret.as_bytes(),
        method,
        path,
        ts,
        &ids::random_hex::<12>(),
        body.as_bytes(),
    )
}

async fn create(env: &Env, no: &str) -> Option<Value> {
    let body = format!(
        r#"{{"business_order_no":"{no}","amount":1999,"currency":"CNY","subject":"bench order","buyer_id":"u1"}}"#
    );
    let r = env
        .client
        .post(format!("{}/v1/pay-orders", env.base))
        .header(
            "authorization",
            signed(env, "POST", "/v1/pay-orders", &body),
        )
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .ok()?;
    if r.status().as_u16() != 201 {
        return None;
    }
    r.json().await.ok()
}

/// One whole flow; returns the callback-to-notification time.
async fn one_flow(env: &Env, no: &str) -> Option<Duration> {
    let order = create(env, no).await?;
    let id = order["id"].as_str()?.to_owned();
    let token = order["checkout_url"]
        .as_str()?
        .rsplit('/')
        .next()?
        .to_owned();
    let opts: Value = env
        .client
        .get(format!("{}/checkout/{token}/options?terminal=PC", env.base))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    if opts["methods"].as_array()?.is_empty() {
        return None;
    }
    let pay: Value = env
        .client
        .post(format!("{}/checkout/{token}/pay", env.base))
        .json(&json!({"method": "WECHAT_PAY", "terminal": "PC"}))
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let attempt_no = pay["attempt_no"].as_str()?.to_owned();
    let (tx, rx) = oneshot::channel();
    env.waiters.lock().ok()?.insert(id.clone(), tx);
    let paid_at = Instant::now();
    let r = env
        .client
        .post(format!(
            "{}/sandbox/orders/wechatpay/{attempt_no}/pay",
            env.sandbox
        ))
        .json(&json!({}))
        .send()
        .await
        .ok()?;
    if !r.status().is_success() {
        return None;
    }
    let arrived = tokio::time::timeout(Duration::from_secs(20), rx)
        .await
        .ok()?
        .ok()?;
    Some(arrived.saturating_duration_since(paid_at))
}

struct Row {
    clients: usize,
    flows_per_sec: f64,
    flow_latency: Percentiles,
    callback_to_notify: Percentiles,
    errors: u64,
    creates_per_sec: f64,
    create_latency: Percentiles,
}

async fn bench_backend(backend: &str, a: &Args, key_hex: &str) -> Result<Value> {
    let key = MasterKey::parse(key_hex)?;
    let url = scratch_db(backend, &a.postgres_url, "flow").await?;
    let store = connect(&url, POOL).await?;
    store.migrate().await?;

    // The business line's receiver.
    let waiters: Waiters = Arc::new(Mutex::new(HashMap::new()));
    let recv_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let recv_addr = recv_listener.local_addr()?;
    let app = axum::Router::new()
        .route("/notify", post(receive))
        .with_state(waiters.clone());
    tokio::spawn(async move {
        let _ = axum::serve(recv_listener, app).await;
    });
    let notify_url = format!("http://{recv_addr}/notify");
    let (app_id, secret) = business_line_for(&*store, &key, &notify_url).await?;

    // The provider sandbox, in this process.
    let dir = std::env::temp_dir().join(format!("paydesk-bench-flow-{}", ids::random_hex::<4>()));
    let sandbox = paydesk_sandbox::start(paydesk_sandbox::SandboxOptions {
        listen: "127.0.0.1:0".parse()?,
        data_dir: dir.clone(),
        time_scale: 1.0,
        public_url: None,
    })
    .await?;
    // The provider's own disk writes are not paydesk's: keep the sandbox in memory.
    sandbox.app.keep_in_memory_only();
    let values = paydesk_sandbox::ensure_named_merchants(
        &dir,
        paydesk_sandbox::EMBEDDED_ACCOUNTS,
        &sandbox.base_url,
    )?;
    let configs = MerchantAccounts::parse_configs(Value::Array(values))?;
    let accounts = MerchantAccounts::build(
        &configs,
        CallTimeouts {
            timeout_ms: 10_000,
            connect_timeout_ms: 3_000,
        },
    )?;

    // paydesk, in this process (the sandbox and the receiver share its two cores).
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let config = Config {
        database_url: url.clone(),
        listen: addr.to_string(),
        database_max_connections: POOL,
        log_level: "warn".into(),
        ..Config::default()
    };
    let state = paydesk_server::state::AppState::new(
        store,
        key,
        config,
        paydesk_server::ops::metrics_handle(),
    )?;
    state.set_merchant_accounts(accounts);
    tokio::spawn(paydesk_server::serve(
        state,
        listener,
        std::future::pending(),
    ));
    let base = format!("http://{addr}");
    wait_ready(&base).await?;

    let env = Arc::new(Env {
        base,
        sandbox: sandbox.base_url.clone(),
        app_id,
        secret,
        waiters,
        client: reqwest::Client::builder()
            .pool_max_idle_per_host(256)
            .build()?,
    });
    let mut rows = Vec::new();
    for &c in &a.levels {
        let cb = Arc::new(Mutex::new(Vec::new()));
        let (e, cbs) = (env.clone(), cb.clone());
        let flows = run_level(c, a.seconds, move |n| {
            let (e, cbs) = (e.clone(), cbs.clone());
            async move {
                match one_flow(&e, &format!("F{c}-{n}")).await {
                    Some(d) => {
                        if let Ok(mut v) = cbs.lock() {
                            v.push(d);
                        }
                        true
                    }
                    None => false,
                }
            }
        })
        .await;
        let mut cb_samples = cb.lock().map(|v| v.clone()).unwrap_or_default();
        let e = env.clone();
        let creates = run_level(c, a.seconds.min(5), move |n| {
            let e = e.clone();
            async move { create(&e, &format!("C{c}-{n}")).await.is_some() }
        })
        .await;
        rows.push(Row {
            clients: c,
            flows_per_sec: flows.ops_per_sec,
            flow_latency: flows.latency,
            callback_to_notify: percentiles(&mut cb_samples),
            errors: flows.errors,
            creates_per_sec: creates.ops_per_sec,
            create_latency: creates.latency,
        });
    }
    sandbox.stop().await;
    let _ = std::fs::remove_dir_all(&dir);

    println!();
    println!("backend: {backend} (pool {POOL}, {} s per level; paydesk, sandbox and receiver in one process)", a.seconds);
    println!(
        "{:>8} | {:>8} {:>9} {:>9} | {:>13} {:>9} | {:>10} {:>8} | {:>6}",
        "buyers",
        "flows/s",
        "p50 ms",
        "p99 ms",
        "cb->notify p50",
        "p99 ms",
        "creates/s",
        "p99 ms",
        "errors"
    );
    let ms = |us: u64| us as f64 / 1000.0;
    let mut out = Vec::new();
    for r in &rows {
        println!(
            "{:>8} | {:>8.1} {:>9.1} {:>9.1} | {:>13.1} {:>9.1} | {:>10.0} {:>8.1} | {:>6}",
            r.clients,
            r.flows_per_sec,
            ms(r.flow_latency.p50_us),
            ms(r.flow_latency.p99_us),
            ms(r.callback_to_notify.p50_us),
            ms(r.callback_to_notify.p99_us),
            r.creates_per_sec,
            ms(r.create_latency.p99_us),
            r.errors
        );
        out.push(json!({
            "buyers": r.clients,
            "flows_per_sec": r.flows_per_sec,
            "flow_latency": r.flow_latency,
            "callback_to_notification": r.callback_to_notify,
            "errors": r.errors,
            "peer_create_only": {"ops_per_sec": r.creates_per_sec, "latency": r.create_latency},
        }));
    }
    Ok(json!({"backend": backend, "levels": out}))
}

pub fn run(a: Args) -> Result<()> {
    machine::print_header("flow: complete acquiring flows through paydesk + provider sandbox");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let key_hex = ids::random_hex::<32>();
    let mut results = Vec::new();
    for b in &a.backends {
        let r = rt
            .block_on(bench_backend(b, &a, &key_hex))
            .with_context(|| format!("backend {b}"))?;
        results.push(r);
    }
    let path = write_json(
        "flow",
        &json!({"benchmark": "flow", "machine": machine::describe(), "results": results}),
    )?;
    println!("\nwrote {}", path.display());
    Ok(())
}
