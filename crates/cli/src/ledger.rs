//! `paydesk ledger fund`: tops up a business line's platform funding account, the money
//! its payouts (打款) are drawn from (docs/payouts.md). Idempotent by `--reference`;
//! audited with actor `cli:<unix user>`. Works with or without a running server.

use crate::runtime::open_store;
use anyhow::Result;
use clap::Subcommand;
use paydesk_server::config::Config;

/// Ledger commands.
#[derive(Subcommand)]
pub enum Command {
    /// Record that the platform put money into a merchant account for a business line's
    /// payouts: external(merchant account) -> platform funding(business line).
    Fund {
        /// Business line name or id.
        #[arg(long)]
        business_line: String,
        /// Amount in minor units (fen), > 0.
        #[arg(long)]
        amount_minor: i64,
        /// ISO 4217 code.
        #[arg(long, default_value = "CNY")]
        currency: String,
        /// The merchant account the money was put into.
        #[arg(long, default_value = "wx-main")]
        merchant_account: String,
        /// Your top-up number (1-64 characters): the same reference funds once.
        #[arg(long)]
        reference: String,
    },
}

/// Runs a ledger command.
pub async fn run(config: &Config, cmd: Command) -> Result<()> {
    let store = open_store(config).await?;
    match cmd {
        Command::Fund {
            business_line,
            amount_minor,
            currency,
            merchant_account,
            reference,
        } => {
            let f = paydesk_server::payouts::funding::fund(
                &*store,
                &business_line,
                &merchant_account,
                amount_minor,
                &currency,
                &reference,
                &crate::merchant_account::actor(),
            )
            .await?;
            println!(
                "funded {} with {amount_minor} {currency} (entry {}); funding balance {}",
                f.business_line_id, f.entry_id, f.balance_minor
            );
        }
    }
    Ok(())
}
