//! `paydesk business-line add | list | disable | rotate-secret`: works with or without a running
//! server (it opens, and if needed creates and migrates, the database itself).

use crate::runtime::{master_key, open_store};
use anyhow::{bail, Result};
use clap::Subcommand;
use paydesk_server::config::Config;
use paydesk_store::BusinessLineStatus;

/// Business-line commands.
#[derive(Subcommand)]
pub enum Command {
    /// Create a business line; prints its app_id and secret once.
    Add {
        /// Unique name, e.g. secondhand.
        name: String,
        /// Default notify URL (also an allowed URL prefix).
        #[arg(long)]
        notify_url: String,
        /// Another allowed prefix for notify and return URLs (repeatable).
        #[arg(long = "allow-url")]
        allow_url: Vec<String>,
        /// Print JSON: {"app_id": "...", "secret": "..."}.
        #[arg(long)]
        json: bool,
    },
    /// List business lines (never their secrets).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable a business line by name or id: its requests get 401.
    Disable {
        /// Name or id.
        name_or_id: String,
    },
    /// Give a business line a new secret (printed once). The old one is still accepted
    /// on requests for the overlap; notifications are signed with the new one at once.
    RotateSecret {
        /// Name or id.
        name_or_id: String,
        /// Hours the old secret is still accepted (0 to 168).
        #[arg(long, default_value_t = 24)]
        overlap_hours: i64,
        /// Print JSON: {"app_id": "...", "secret": "...", "previous_valid_until_ms": N}.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a business-line command.
pub async fn run(config: &Config, cmd: Command) -> Result<()> {
    let store = open_store(config).await?;
    match cmd {
        Command::Add {
            name,
            notify_url,
            allow_url,
            json,
        } => {
            let key = master_key(config)?;
            let created = paydesk_server::business_lines::create(
                &*store,
                &key,
                &name,
                &notify_url,
                &allow_url,
            )
            .await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"app_id": created.line.app_id, "secret": created.secret})
                );
            } else {
                println!("business line {} created", created.line.name);
                println!("app_id: {}", created.line.app_id);
                println!("secret: {}", created.secret);
                println!("(the secret is shown only now; store it safely)");
            }
        }
        Command::List { json } => {
            let lines = store.list_business_lines().await?;
            if json {
                let v: Vec<_> = lines
                    .iter()
                    .map(|l| {
                        serde_json::json!({
                            "id": l.id, "app_id": l.app_id, "name": l.name,
                            "status": l.status.as_str(), "notify_url": l.notify_url,
                            "allowed_url_prefixes": l.allowed_url_prefixes,
                        })
                    })
                    .collect();
                println!("{}", serde_json::Value::Array(v));
            } else {
                for l in lines {
                    println!(
                        "{}\t{}\t{}\t{}",
                        l.name,
                        l.app_id,
                        l.status.as_str(),
                        l.notify_url
                    );
                }
            }
        }
        Command::Disable { name_or_id } => {
            let now = paydesk_server::time::now_ms();
            if !store
                .set_business_line_status(&name_or_id, BusinessLineStatus::Disabled, now)
                .await?
            {
                bail!("no business line named or with id `{name_or_id}`");
            }
            println!("business line {name_or_id} disabled");
        }
        Command::RotateSecret {
            name_or_id,
            overlap_hours,
            json,
        } => {
            let key = master_key(config)?;
            let r = paydesk_server::business_lines::rotate_secret(
                &*store,
                &key,
                &name_or_id,
                overlap_hours.saturating_mul(3_600_000),
                &crate::merchant_account::actor(),
            )
            .await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({
                        "app_id": r.line.app_id, "secret": r.secret,
                        "previous_valid_until_ms": r.previous_valid_until_ms,
                    })
                );
            } else {
                println!("business line {} has a new secret", r.line.name);
                println!("secret: {}", r.secret);
                println!(
                    "the old secret is accepted until {} (unix ms)",
                    r.previous_valid_until_ms
                );
                println!("(the secret is shown only now; store it safely)");
            }
        }
    }
    Ok(())
}
