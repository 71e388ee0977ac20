//! `paydesk-sandbox`: the sandbox on its own (the `paydesk sandbox` subcommand does the same).

use clap::Parser;

/// paydesk's WeChat Pay / Alipay sandbox.
#[derive(Debug, Parser)]
#[command(name = "paydesk-sandbox", version)]
struct Cli {
    #[command(flatten)]
    args: paydesk_sandbox::StandaloneArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    paydesk_sandbox::run(cli.args.sandbox, cli.args.data_dir).await
}
