//! `paydesk sandbox ...` as clap types, so the `paydesk` binary wires it in a few lines.

use crate::state::Provider;
use crate::SandboxOptions;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Default data directory when neither `--data-dir` nor `PAYDESK_SANDBOX_DATA_DIR` is given.
pub const DEFAULT_DATA_DIR: &str = "sandbox-data";

/// `paydesk sandbox [--listen ADDR] [--time-scale N] [merchant add ...]`.
///
/// `--data-dir` is not here: the `paydesk` binary already has a global `--data-dir` and
/// passes it to [`run`] (the standalone `paydesk-sandbox` binary adds its own).
#[derive(Debug, Clone, clap::Args)]
pub struct SandboxArgs {
    /// Address to listen on.
    #[arg(
        long,
        global = true,
        default_value = "127.0.0.1:8090",
        env = "PAYDESK_SANDBOX_LISTEN"
    )]
    pub listen: SocketAddr,
    /// Callback retry and settle delays are divided by this (e.g. 60: a minute per second).
    #[arg(
        long,
        global = true,
        default_value_t = 1.0,
        env = "PAYDESK_SANDBOX_TIME_SCALE"
    )]
    pub time_scale: f64,
    /// Base URL clients reach the sandbox at, when not http://<listen>.
    #[arg(long, global = true, env = "PAYDESK_SANDBOX_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Without a subcommand the sandbox serves.
    #[command(subcommand)]
    pub command: Option<SandboxCommand>,
}

/// Sandbox subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum SandboxCommand {
    /// Serve (the default).
    Serve,
    /// Merchant accounts.
    Merchant {
        /// What to do.
        #[command(subcommand)]
        command: MerchantCommand,
    },
}

/// `paydesk sandbox merchant ...`.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum MerchantCommand {
    /// Create a merchant with fresh keys and print what a client needs.
    Add {
        /// wechatpay or alipay.
        #[arg(long, value_enum)]
        provider: ProviderArg,
        /// Print JSON (default: readable text).
        #[arg(long)]
        json: bool,
    },
}

/// Provider names on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ProviderArg {
    /// WeChat Pay API v3.
    Wechatpay,
    /// Alipay OpenAPI.
    Alipay,
}

impl From<ProviderArg> for Provider {
    fn from(p: ProviderArg) -> Self {
        match p {
            ProviderArg::Wechatpay => Provider::Wechatpay,
            ProviderArg::Alipay => Provider::Alipay,
        }
    }
}

/// The standalone binary's arguments: [`SandboxArgs`] plus `--data-dir`.
#[derive(Debug, Clone, clap::Args)]
pub struct StandaloneArgs {
    /// Where merchants and state are kept (default `sandbox-data`).
    #[arg(long, global = true, env = "PAYDESK_SANDBOX_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// The rest.
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

/// The data directory: the one given, else `PAYDESK_SANDBOX_DATA_DIR`, else `sandbox-data`.
pub fn data_dir_or_default(given: Option<PathBuf>) -> PathBuf {
    given
        .or_else(|| std::env::var_os("PAYDESK_SANDBOX_DATA_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR))
}

impl SandboxArgs {
    /// The serve options these arguments describe.
    pub fn options(&self, data_dir: PathBuf) -> SandboxOptions {
        SandboxOptions {
            listen: self.listen,
            data_dir,
            time_scale: self.time_scale,
            public_url: self.public_url.clone(),
        }
    }

    fn base_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
    }
}

/// Runs `paydesk sandbox ...` on `data_dir` (`None`: `PAYDESK_SANDBOX_DATA_DIR`, else
/// `sandbox-data`). Logging is the caller's.
pub async fn run(args: SandboxArgs, data_dir: Option<PathBuf>) -> anyhow::Result<()> {
    let data_dir = data_dir_or_default(data_dir);
    match &args.command {
        None | Some(SandboxCommand::Serve) => crate::serve(args.options(data_dir)).await,
        Some(SandboxCommand::Merchant {
            command: MerchantCommand::Add { provider, json },
        }) => {
            let creds =
                crate::merchant::add_merchant(&data_dir, (*provider).into(), &args.base_url())?;
            let v = serde_json::to_value(&creds)?;
            if *json {
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else if let Some(obj) = v.as_object() {
                for (k, v) in obj {
                    match v.as_str() {
                        Some(s) if s.contains('\n') => println!("{k}:\n{}", s.trim_end()),
                        Some(s) => println!("{k}: {s}"),
                        None => println!("{k}: {v}"),
                    }
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser, Subcommand};

    /// The shape of the `paydesk` binary: a global `--data-dir`, then `sandbox`.
    #[derive(Debug, Parser)]
    struct Paydesk {
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
        #[command(subcommand)]
        command: Cmd,
    }

    #[derive(Debug, Subcommand)]
    enum Cmd {
        Serve {
            #[arg(long)]
            listen: Option<String>,
        },
        Sandbox(SandboxArgs),
    }

    #[derive(Debug, Parser)]
    struct Standalone {
        #[command(flatten)]
        args: StandaloneArgs,
    }

    #[test]
    fn wires_into_the_paydesk_binary_and_stands_alone() {
        Paydesk::command().debug_assert();
        Standalone::command().debug_assert();
        let p = Paydesk::try_parse_from([
            "paydesk",
            "sandbox",
            "merchant",
            "add",
            "--provider",
            "alipay",
            "--json",
            "--data-dir",
            "d",
            "--listen",
            "127.0.0.1:9",
        ])
        .unwrap();
        assert_eq!(p.data_dir, Some(PathBuf::from("d")));
        let Cmd::Sandbox(a) = p.command else { panic!() };
        assert_eq!(a.listen.port(), 9);
        assert!(matches!(
            a.command,
            Some(SandboxCommand::Merchant {
                command: MerchantCommand::Add {
                    provider: ProviderArg::Alipay,
                    json: true
                }
            })
        ));
        let p = Paydesk::try_parse_from([
            "paydesk",
            "--data-dir",
            "d",
            "sandbox",
            "--time-scale",
            "60",
        ])
        .unwrap();
        let Cmd::Sandbox(a) = p.command else { panic!() };
        assert_eq!(a.time_scale, 60.0);
        assert!(a.command.is_none());
        let s = Standalone::try_parse_from([
            "paydesk-sandbox",
            "--data-dir",
            "x",
            "--listen",
            "127.0.0.1:1",
        ])
        .unwrap();
        assert_eq!(s.args.data_dir, Some(PathBuf::from("x")));
        let s = Standalone::try_parse_from([
            "paydesk-sandbox",
            "merchant",
            "add",
            "--provider",
            "wechatpay",
            "--data-dir",
            "y",
        ])
        .unwrap();
        assert_eq!(s.args.data_dir, Some(PathBuf::from("y")));
        let _ = Paydesk::try_parse_from(["paydesk", "serve", "--listen", "x"]).unwrap();
    }
}
