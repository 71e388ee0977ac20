//! paydesk's sandbox: protocol-faithful simulators of WeChat Pay API v3 and the Alipay
//! OpenAPI gateway on one port, built on the adapters' own crypto (`paydesk-providers`):
//! real request verification, real response signatures, encrypted and signed callbacks on
//! the providers' retry schedules (divided by a time scale), refunds, transfers, daily
//! bills, a wallet page where a person (or a test) pays, and fault injection.
//!
//! State (orders, refunds, transfers, callbacks) survives restarts in `DIR/state.json`;
//! merchants are one file each under `DIR/merchants/`. See `docs/sandbox.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alipay;
pub mod app;
mod bills;
pub mod callbacks;
pub mod cli;
pub mod control;
pub mod merchant;
pub mod settle;
pub mod state;
pub mod wechat;
mod zip;

pub use cli::{run, SandboxArgs, SandboxCommand, StandaloneArgs};
pub use merchant::{add_merchant, ensure_named_merchants, MerchantCredentials, EMBEDDED_ACCOUNTS};
pub use state::Provider;

use app::App;
use axum::routing::{any, get, post};
use axum::Router;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

/// Largest request body accepted (bytes).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// How to run a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// Data directory (created when missing).
    pub data_dir: PathBuf,
    /// Retry and settle delays are divided by this (1 = real time).
    pub time_scale: f64,
    /// Base URL clients use, when not `http://<listen address>`.
    pub public_url: Option<String>,
}

/// The axum router of a sandbox.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/v3/{*rest}", any(wechat::entry))
        .route("/gateway.do", get(alipay::gateway).post(alipay::gateway))
        .route("/sandbox/health", get(control::health))
        .route("/sandbox/orders", get(control::list_orders))
        .route("/sandbox/orders/{provider}/{no}", get(control::get_order))
        .route(
            "/sandbox/orders/{provider}/{no}/{action}",
            post(control::order_action),
        )
        .route("/sandbox/refunds", get(control::list_refunds))
        .route("/sandbox/transfers", get(control::list_transfers))
        .route(
            "/sandbox/transfers/{provider}/{no}/{action}",
            post(control::transfer_action),
        )
        .route("/sandbox/callbacks", get(control::list_callbacks))
        .route("/sandbox/callbacks/run-due", post(control::callbacks_now))
        .route(
            "/sandbox/faults",
            get(control::list_faults).delete(control::clear_faults),
        )
        .route("/sandbox/faults/calls", post(control::add_call_fault))
        .route(
            "/sandbox/faults/callbacks",
            post(control::add_callback_fault),
        )
        .route("/sandbox/settings", post(control::settings))
        .route("/sandbox/merchants", post(control::add_merchant))
        .route(
            "/sandbox/merchants/wechatpay/{mchid}/sign-mode",
            post(control::sign_mode),
        )
        .route("/sandbox/bills/alipay/{token}", get(control::alipay_bill))
        .route("/wallet", get(control::wallet))
        .route("/wallet/act", post(control::wallet_act))
        .route("/wallet/scan", get(control::wallet_scan))
        .route("/wallet/t/{token}", get(control::wallet_token))
        .route(
            "/wallet/{provider}/{merchant}/{no}",
            get(control::wallet_order),
        )
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(app)
}

/// A sandbox running in this process (for tests and embedding).
pub struct RunningSandbox {
    /// `http://127.0.0.1:<port>` (or the public URL).
    pub base_url: String,
    /// Bound address.
    pub addr: SocketAddr,
    /// Shared state.
    pub app: Arc<App>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
    worker: tokio::task::JoinHandle<()>,
}

impl RunningSandbox {
    /// Stops serving and the callback worker, and waits for the server to end.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.worker.abort();
        let _ = (&mut self.server).await;
    }
}

/// Binds, loads state and starts serving in the background.
pub async fn start(opts: SandboxOptions) -> anyhow::Result<RunningSandbox> {
    let listener = tokio::net::TcpListener::bind(opts.listen).await?;
    let addr = listener.local_addr()?;
    let base_url = opts
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let app = Arc::new(App::new(
        base_url.clone(),
        opts.data_dir.clone(),
        opts.time_scale,
    )?);
    let worker = tokio::spawn(callbacks::run_worker(app.clone()));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let router = router(app.clone());
    let server = tokio::spawn(async move {
        let r = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = rx.await;
            })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "sandbox server stopped");
        }
    });
    tracing::info!(%base_url, data_dir = %opts.data_dir.display(), time_scale = opts.time_scale, "paydesk sandbox listening");
    Ok(RunningSandbox {
        base_url,
        addr,
        app,
        shutdown: Some(tx),
        server,
        worker,
    })
}

/// Serves until Ctrl-C / SIGTERM.
pub async fn serve(opts: SandboxOptions) -> anyhow::Result<()> {
    let running = start(opts).await?;
    shutdown_signal().await;
    running.stop().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
