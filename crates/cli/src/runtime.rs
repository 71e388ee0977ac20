//! Opening the store and the master key, logging, and `serve` / `migrate`.

use anyhow::{bail, Context, Result};
use paydesk_server::config::Config;
use paydesk_server::payments::accounts::{AccountConfig, CallTimeouts, MerchantAccounts};
use paydesk_server::payments::stored_accounts;
use paydesk_server::secrets::MasterKey;
use paydesk_server::state::AppState;
use paydesk_store::Store;
use std::sync::Arc;

/// Installs the tracing subscriber (text or JSON lines on stderr).
pub fn init_logging(config: &Config) {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if config.log_format == "json" {
        builder.json().init();
    } else {
        builder.init();
    }
}

/// Opens and migrates the configured database, creating the embedded one if needed.
pub async fn open_store(config: &Config) -> Result<Arc<dyn Store>> {
    let url = config.effective_database_url();
    if let Some(path) = url.strip_prefix("sqlite:") {
        let path = path.trim_start_matches("//");
        if let Some(dir) = std::path::Path::new(path).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating data directory {}", dir.display()))?;
            }
        }
    }
    let store = paydesk_store::connect(&url, config.database_max_connections)
        .await
        .with_context(|| format!("opening {}", paydesk_store::redact_url(&url)))?;
    store.migrate().await.context("migrating the database")?;
    Ok(store)
}

/// The cold (archive) store when `cold_database_url` is set, connected and migrated.
pub async fn open_cold_store(config: &Config) -> Result<Option<Arc<dyn Store>>> {
    let url = &config.cold_database_url;
    if url.is_empty() {
        return Ok(None);
    }
    if url == &config.effective_database_url() {
        bail!("the cold store must not be the hot database");
    }
    let cold = paydesk_store::connect(url, 4)
        .await
        .with_context(|| format!("opening {}", paydesk_store::redact_url(url)))?;
    cold.migrate().await.context("migrating the cold store")?;
    Ok(Some(cold))
}

/// The master key: `PAYDESK_MASTER_KEY`, else the key file (created on first start for
/// the embedded default or when `master_key_file` is configured).
pub fn master_key(config: &Config) -> Result<MasterKey> {
    if let Ok(text) = std::env::var("PAYDESK_MASTER_KEY") {
        return MasterKey::parse(&text).context("PAYDESK_MASTER_KEY");
    }
    if !config.is_embedded() && config.master_key_file.is_empty() {
        bail!(
            "PAYDESK_MASTER_KEY (32 bytes, base64 or hex) is required when the database is \
             not the embedded SQLite: every instance must share one key"
        );
    }
    Ok(MasterKey::load_or_create_file(&config.master_key_path())?)
}

/// `paydesk migrate`.
pub async fn migrate(config: &Config) -> Result<()> {
    let store = open_store(config).await?;
    println!("database {} is up to date", store.backend().name());
    Ok(())
}

/// `paydesk serve`.
pub async fn serve(config: Config) -> Result<()> {
    let hot = open_store(&config).await?;
    // With a cold store, reads fall back to it and changes back-fill first (docs/archive.md).
    let store: Arc<dyn Store> = match open_cold_store(&config).await? {
        Some(cold) => Arc::new(paydesk_store::TieredStore::new(hot, cold)),
        None => hot,
    };
    let key = master_key(&config)?;
    let addr = config.listen_addr()?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let metrics = paydesk_server::ops::metrics_handle();
    let (base_accounts, sandbox) = merchant_accounts(&config).await?;
    let timeouts = call_timeouts(&config);
    let state = AppState::new(store.clone(), key, config, metrics)?;
    // The database's accounts join the file's or the sandbox's (and win on an id clash);
    // the accounts worker reloads them when they change.
    let ids = stored_accounts::install(&state, base_accounts, timeouts).await?;
    tracing::info!(
        listen = %addr,
        database = store.backend().name(),
        public_url = %state.public_url,
        merchant_accounts = ?ids,
        sandbox = sandbox.as_ref().map(|s| s.base_url.as_str()).unwrap_or("off"),
        "paydesk serving"
    );
    paydesk_server::serve(state, listener, shutdown_signal()).await?;
    if let Some(s) = sandbox {
        s.stop().await;
    }
    tracing::info!("paydesk stopped");
    Ok(())
}

/// Provider call timeouts from the configuration.
pub fn call_timeouts(config: &Config) -> CallTimeouts {
    CallTimeouts {
        timeout_ms: config.payments.provider_timeout_ms,
        connect_timeout_ms: config.payments.provider_connect_timeout_ms,
    }
}

/// The merchant accounts besides the database's: from `payments.merchant_accounts_file`,
/// or else the embedded sandbox's (started here, on `sandbox.listen`, with its data under
/// `<data_dir>/sandbox`). Checked to build.
pub(crate) async fn merchant_accounts(
    config: &Config,
) -> Result<(Vec<AccountConfig>, Option<paydesk_sandbox::RunningSandbox>)> {
    let timeouts = call_timeouts(config);
    if !config.payments.merchant_accounts_file.is_empty() {
        let path = std::path::Path::new(&config.payments.merchant_accounts_file);
        let configs = MerchantAccounts::read_configs(path)?;
        MerchantAccounts::build(&configs, timeouts)?;
        return Ok((configs, None));
    }
    if !config.sandbox.embedded {
        tracing::warn!(
            "no merchant accounts file and the embedded sandbox is off: only the database's \
             merchant accounts are used"
        );
        return Ok((Vec::new(), None));
    }
    let listen = config
        .sandbox
        .listen
        .parse()
        .context("sandbox.listen must be host:port")?;
    let dir = config.data_dir.join("sandbox");
    let running = paydesk_sandbox::start(paydesk_sandbox::SandboxOptions {
        listen,
        data_dir: dir.clone(),
        time_scale: config.sandbox.time_scale,
        public_url: None,
    })
    .await
    .context("starting the embedded sandbox")?;
    let values = paydesk_sandbox::ensure_named_merchants(
        &dir,
        paydesk_sandbox::EMBEDDED_ACCOUNTS,
        &running.base_url,
    )?;
    let configs = MerchantAccounts::parse_configs(serde_json::Value::Array(values))?;
    MerchantAccounts::build(&configs, timeouts)?;
    tracing::info!(sandbox = %running.base_url, wallet = %format!("{}/wallet", running.base_url), "embedded provider sandbox running");
    Ok((configs, Some(running)))
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
