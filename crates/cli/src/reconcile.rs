//! `paydesk reconcile --date YYYY-MM-DD [--account ID]`: reconciles a China-time bill day
//! with the providers' bills, like the daily worker and the admin API do
//! (docs/reconciliation.md): differences are recorded, safe ones settled through the normal
//! flow (the business line is notified by the dispatcher of any running `paydesk serve`).
//! Prints each run's tied-out totals and its differences; exits non-zero when a run failed.

use crate::runtime::{call_timeouts, master_key, merchant_accounts, open_cold_store, open_store};
use anyhow::{bail, Context, Result};
use paydesk_server::config::Config;
use paydesk_server::payments::accounts::MerchantAccounts;
use paydesk_server::payments::stored_accounts;
use paydesk_server::reconcile;
use paydesk_server::state::AppState;
use paydesk_store::Store;
use std::sync::Arc;

/// Options of `paydesk reconcile`.
#[derive(clap::Args)]
pub struct Args {
    /// The bill day, China time (UTC+8), `YYYY-MM-DD`.
    #[arg(long)]
    pub date: String,
    /// One merchant account; default: `reconcile.accounts`, or every account in use.
    #[arg(long)]
    pub account: Option<String>,
}

/// Runs `paydesk reconcile`.
pub async fn run(config: &Config, args: Args) -> Result<()> {
    let Some(date) = reconcile::parse_date(&args.date) else {
        bail!("--date must be YYYY-MM-DD, got `{}`", args.date);
    };
    let hot = open_store(config).await?;
    let store: Arc<dyn Store> = match open_cold_store(config).await? {
        Some(cold) => Arc::new(paydesk_store::TieredStore::new(hot, cold)),
        None => hot,
    };
    let key = master_key(config)?;
    // A sandbox started here must live until the runs are done.
    let mut _sandbox = None;
    let base = match merchant_accounts(config).await {
        Ok((base, sandbox)) => {
            _sandbox = sandbox;
            base
        }
        // The embedded sandbox is already running inside `paydesk serve`: use it there.
        Err(e) if config.payments.merchant_accounts_file.is_empty() && config.sandbox.embedded => {
            tracing::info!(error = %e, "using the embedded sandbox of the running server");
            let values = paydesk_sandbox::ensure_named_merchants(
                &config.data_dir.join("sandbox"),
                paydesk_sandbox::EMBEDDED_ACCOUNTS,
                &format!("http://{}", config.sandbox.listen),
            )?;
            MerchantAccounts::parse_configs(serde_json::Value::Array(values))?
        }
        Err(e) => return Err(e),
    };
    let state = AppState::new(
        store,
        key,
        config.clone(),
        paydesk_server::ops::metrics_handle(),
    )?;
    stored_accounts::install(&state, base, call_timeouts(config))
        .await
        .context("loading merchant accounts")?;
    let accounts = match args.account {
        Some(a) => vec![a],
        None => reconcile::accounts_to_reconcile(&state),
    };
    let mut failed = 0;
    for account in accounts {
        match reconcile::reconcile_day(&state, date, &account).await {
            Ok(report) => {
                let t = &report.run.totals;
                println!(
                    "{} {}: provider {} lines ({} minor), paydesk {} records ({} minor); matched {}, missing in paydesk {}, missing at provider {}, differing {}; {} differences, {} settled automatically{}",
                    report.run.bill_date,
                    account,
                    t.provider_count,
                    t.provider_net_minor,
                    t.paydesk_count,
                    t.paydesk_net_minor,
                    t.matched_count,
                    t.missing_in_paydesk_count,
                    t.missing_at_provider_count,
                    t.differing_count,
                    report.differences.len(),
                    report.settled,
                    if t.ties_out() { "" } else { " (TOTALS DO NOT TIE OUT)" },
                );
                for d in &report.differences {
                    println!(
                        "  {} {} {} {} provider={} paydesk={} {}",
                        d.id,
                        d.kind.as_str(),
                        d.record_kind.as_str(),
                        d.refund_no.as_deref().unwrap_or(&d.attempt_no),
                        d.provider_amount_minor
                            .map_or("-".into(), |v| v.to_string()),
                        d.paydesk_amount_minor.map_or("-".into(), |v| v.to_string()),
                        d.state.as_str(),
                    );
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("{} {account}: {e}", args.date);
            }
        }
    }
    if failed > 0 {
        bail!("{failed} reconciliation run(s) failed");
    }
    Ok(())
}
