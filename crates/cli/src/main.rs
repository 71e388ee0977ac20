//! `paydesk`: the one binary. Commands live in their own modules; this file parses
//! the command line and loads configuration.

mod archive;
mod business_line;
mod dev;
mod ledger;
mod merchant_account;
mod operator;
mod reconcile;
mod runtime;

use anyhow::Result;
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// paydesk: a payment center with a checkout.
#[derive(Parser)]
#[command(name = "paydesk", version, about)]
struct Cli {
    /// TOML configuration file (keys in docs/configuration.md).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// Data directory of the embedded default (SQLite database and master key file).
    #[arg(long, global = true)]
    data_dir: Option<PathBuf>,
    /// Database URL (sqlite:PATH, postgres://..., mysql://...); overrides PAYDESK_DATABASE_URL.
    #[arg(long, global = true)]
    database_url: Option<String>,
    /// Log format: text or json.
    #[arg(long, global = true)]
    log_format: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP server and its workers.
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Create or upgrade the database schema, then exit.
    Migrate,
    /// Manage business lines (the API's clients).
    #[command(subcommand, name = "business-line")]
    BusinessLine(business_line::Command),
    /// Manage merchant accounts (keys encrypted in the database; docs/checkout.md).
    #[command(subcommand, name = "merchant-account")]
    MerchantAccount(merchant_account::Command),
    /// The balance ledger (`ledger fund`: top up a business line's payout funding).
    #[command(subcommand)]
    Ledger(ledger::Command),
    /// Manage operators (console and admin API users).
    #[command(subcommand)]
    Operator(operator::Command),
    /// WeChat Pay / Alipay sandbox (docs/sandbox.md).
    Sandbox(paydesk_sandbox::SandboxArgs),
    /// Move finished pay orders older than a cutoff to the cold store (docs/archive.md).
    Archive(archive::Args),
    /// Reconcile a China-time bill day with the providers' bills (docs/reconciliation.md).
    Reconcile(reconcile::Args),
    /// Developer tools (`dev generate`: historical test data).
    #[command(subcommand)]
    Dev(dev::Command),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    // The sandbox keeps its own data directory (default ./sandbox-data), given by the
    // same global flag.
    let sandbox_dir = cli.data_dir.clone();
    let mut config = paydesk_server::config::Config::load(cli.config.as_deref(), std::env::vars())?;
    if let Some(d) = cli.data_dir {
        config.data_dir = d;
    }
    if let Some(u) = cli.database_url {
        config.database_url = u;
    }
    if let Some(f) = cli.log_format {
        config.log_format = f;
    }
    if let Command::Serve { listen: Some(l) } = &cli.command {
        config.listen = l.clone();
    }
    config.validate()?;
    runtime::init_logging(&config);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve { .. } => runtime::serve(config).await,
            Command::Migrate => runtime::migrate(&config).await,
            Command::BusinessLine(cmd) => business_line::run(&config, cmd).await,
            Command::MerchantAccount(cmd) => merchant_account::run(&config, cmd).await,
            Command::Operator(cmd) => operator::run(&config, cmd).await,
            Command::Ledger(cmd) => ledger::run(&config, cmd).await,
            Command::Sandbox(args) => paydesk_sandbox::run(args, sandbox_dir).await,
            Command::Archive(args) => archive::run(&config, args).await,
            Command::Reconcile(args) => reconcile::run(&config, args).await,
            Command::Dev(cmd) => dev::run(&config, cmd).await,
        }
    })
}
