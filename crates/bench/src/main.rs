//! `paydesk-bench`: benchmark programs. Each prints its figures next to a peer measured
//! in the same run and writes them to `bench-results/<name>.json`.

mod api;
mod archive;
mod archive_floor;
mod flow;
mod machine;
mod notify;
mod rules;
mod stats;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "paydesk-bench", about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create-pay-order through `paydesk serve` vs the same store calls direct (SQLite, PostgreSQL).
    Api(api::Args),
    /// Hot/cold archiving MariaDB->MariaDB vs pt-archiver bulk mode on the same pay orders.
    Archive(archive::Args),
    /// Complete acquiring flows per second (create, checkout, pay, callback, re-query,
    /// notify) and callback-to-notification latency, SQLite and PostgreSQL.
    Flow(flow::Args),
    /// Notifications verified, decrypted and parsed per second per core vs bare RSA-2048 verify.
    Notify(notify::Args),
    /// Checkout rule decisions per second and latency vs zen-engine on an equivalent first-hit table.
    Rules(rules::Args),
    /// Internal: run a paydesk server for the api benchmark (a child process, so its RSS is its own).
    #[command(hide = true, name = "__serve")]
    Serve(api::ServeArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Api(a) => api::run(a),
        Command::Archive(a) => archive::run(a),
        Command::Flow(a) => flow::run(a),
        Command::Notify(a) => notify::run(a),
        Command::Rules(a) => rules::run(a),
        Command::Serve(a) => api::serve_child(a),
    }
}
