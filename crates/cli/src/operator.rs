//! `paydesk operator add NAME --role admin|viewer [--json]`: creates a console and
//! admin API user and prints its credential once. Works with or without a running
//! server (it opens, and if needed creates and migrates, the database itself).

use crate::runtime::open_store;
use anyhow::{anyhow, Result};
use clap::{Subcommand, ValueEnum};
use paydesk_server::admin::operators;
use paydesk_server::config::Config;
use paydesk_store::{OperatorRole, OperatorStatus, Store};

/// Operator roles on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum Role {
    /// Everything, including publish and roll back.
    Admin,
    /// Read, validate, simulate and diff; no writes.
    Viewer,
}

/// Operator commands.
#[derive(Subcommand)]
pub enum Command {
    /// Create an operator; prints its credential once.
    Add {
        /// Unique name (letters, digits, - _ . @), shown as the author of what they publish.
        name: String,
        /// What they may do.
        #[arg(long, value_enum)]
        role: Role,
        /// Print JSON: {"id": "...", "name": "...", "role": "...", "token": "..."}.
        #[arg(long)]
        json: bool,
    },
    /// Disable an operator: their credential and console sessions stop working at once.
    Disable {
        /// The operator's name.
        name: String,
    },
    /// Enable a disabled operator again (same credential).
    Enable {
        /// The operator's name.
        name: String,
    },
}

/// Runs an operator command.
pub async fn run(config: &Config, cmd: Command) -> Result<()> {
    let store = open_store(config).await?;
    match cmd {
        Command::Add { name, role, json } => {
            let role = match role {
                Role::Admin => OperatorRole::Admin,
                Role::Viewer => OperatorRole::Viewer,
            };
            let created = operators::create(&*store, &name, role)
                .await
                .map_err(|e| anyhow!("{e}"))?;
            let role = role.as_str().to_ascii_lowercase();
            if json {
                println!(
                    "{}",
                    serde_json::json!({"id": created.operator.id, "name": created.operator.name,
                                       "role": role, "token": created.token})
                );
            } else {
                println!("operator {} ({role}) created", created.operator.name);
                println!("credential: {}", created.token);
                println!("(shown only now; sign in at /console with it, or send it as");
                println!(" `Authorization: Bearer <credential>` to /admin/v1)");
            }
        }
        Command::Disable { name } => set_status(&*store, &name, OperatorStatus::Disabled).await?,
        Command::Enable { name } => set_status(&*store, &name, OperatorStatus::Active).await?,
    }
    Ok(())
}

async fn set_status(store: &dyn Store, name: &str, status: OperatorStatus) -> Result<()> {
    if store.set_operator_status(name, status).await? {
        println!(
            "operator {name} is now {}",
            status.as_str().to_ascii_lowercase()
        );
        return Ok(());
    }
    let known = store.list_operators().await?.iter().any(|o| o.name == name);
    if known {
        println!(
            "operator {name} was already {}",
            status.as_str().to_ascii_lowercase()
        );
        Ok(())
    } else {
        Err(anyhow!("no operator named `{name}`"))
    }
}
