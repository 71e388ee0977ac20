//! `paydesk merchant-account add | list | enable | disable | rotate-key | retire-key |
//! add-platform-key | remove-platform-key | import | test`: merchant accounts kept in the
//! database, their secrets encrypted under the master key (envelope encryption). Keys are
//! read from files, never from flags or the environment, and never printed. Every change
//! writes an audit entry (actor `cli:<unix user>`). Works with or without a running
//! server; running instances pick changes up within `payments.accounts_poll_interval_ms`.

use crate::runtime::{call_timeouts, master_key, open_store};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use paydesk_server::config::Config;
use paydesk_server::payments::accounts::{MerchantAccounts, PlatformPublicKey};
use paydesk_server::payments::stored_accounts::{
    self as sa, AccountAdminError, NewKey, PlatformKey, PublicConfig, SecretConfig,
};
use paydesk_store::{MerchantAccountStatus, Store};
use std::path::{Path, PathBuf};

/// Providers on the command line.
#[derive(Clone, Copy, ValueEnum)]
pub enum ProviderArg {
    /// WeChat Pay (API v3).
    Wechatpay,
    /// Alipay.
    Alipay,
}

/// `merchant-account add` options.
#[derive(Args)]
pub struct AddArgs {
    /// Our id for the account, as the checkout rules route to it (e.g. wx-main).
    #[arg(long)]
    id: String,
    /// The provider.
    #[arg(long, value_enum)]
    provider: ProviderArg,
    /// Merchant private key (WeChat Pay) or app private key (Alipay), PKCS#8 PEM file.
    #[arg(long)]
    private_key_file: PathBuf,
    /// WeChat Pay: merchant id.
    #[arg(long)]
    mchid: Option<String>,
    /// WeChat Pay: app id.
    #[arg(long)]
    appid: Option<String>,
    /// WeChat Pay: serial number of the merchant API certificate (read from
    /// --merchant-certificate-file when omitted).
    #[arg(long)]
    merchant_serial_no: Option<String>,
    /// WeChat Pay: file holding the APIv3 key (32 characters).
    #[arg(long)]
    apiv3_key_file: Option<PathBuf>,
    /// WeChat Pay: platform public key id (`PUB_KEY_ID_...`), with --platform-public-key-file.
    #[arg(long)]
    platform_public_key_id: Option<String>,
    /// WeChat Pay: platform public key (PEM file).
    #[arg(long)]
    platform_public_key_file: Option<PathBuf>,
    /// WeChat Pay: platform certificate (PEM file).
    #[arg(long)]
    platform_certificate_file: Option<PathBuf>,
    /// WeChat Pay: merchant API certificate (PEM file; optional).
    #[arg(long)]
    merchant_certificate_file: Option<PathBuf>,
    /// WeChat Pay: API base URL.
    #[arg(long, default_value = "https://api.mch.weixin.qq.com")]
    base_url: String,
    /// Alipay: app id.
    #[arg(long)]
    app_id: Option<String>,
    /// Alipay: seller (partner) id, 2088...
    #[arg(long)]
    seller_id: Option<String>,
    /// Alipay: Alipay public key (PEM file).
    #[arg(long)]
    alipay_public_key_file: Option<PathBuf>,
    /// Alipay: the app public key as uploaded to Alipay (PEM file; optional).
    #[arg(long)]
    app_public_key_file: Option<PathBuf>,
    /// Alipay: gateway URL.
    #[arg(long, default_value = "https://openapi.alipay.com/gateway.do")]
    gateway_url: String,
}

/// Merchant account commands.
#[derive(Subcommand)]
pub enum Command {
    /// Add an account from key files (checked to build a working client first).
    Add(Box<AddArgs>),
    /// List the stored accounts (never a secret).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Disable an account: payments can no longer be routed to it.
    Disable {
        /// The account id.
        id: String,
    },
    /// Enable a disabled account.
    Enable {
        /// The account id.
        id: String,
    },
    /// Add a key version; new calls sign with it, older versions stay until retired.
    RotateKey {
        /// The account id.
        id: String,
        /// The new merchant / app private key (PKCS#8 PEM file).
        #[arg(long)]
        private_key_file: PathBuf,
        /// WeChat Pay: the new merchant certificate's serial number (or give the
        /// certificate as --public-file).
        #[arg(long)]
        merchant_serial_no: Option<String>,
        /// WeChat Pay: a new APIv3 key (file); the current one is kept otherwise.
        #[arg(long)]
        apiv3_key_file: Option<PathBuf>,
        /// The new merchant certificate (WeChat Pay) or app public key (Alipay), PEM file.
        #[arg(long)]
        public_file: Option<PathBuf>,
    },
    /// Retire an old key version (the newest cannot be retired).
    RetireKey {
        /// The account id.
        id: String,
        /// The key version.
        version: i64,
    },
    /// WeChat Pay: add a platform public key or certificate (during the provider's
    /// rotation callbacks signed with the old and the new one both verify).
    AddPlatformKey {
        /// The account id.
        id: String,
        /// Platform public key id (`PUB_KEY_ID_...`), with --platform-public-key-file.
        #[arg(long)]
        platform_public_key_id: Option<String>,
        /// Platform public key (PEM file).
        #[arg(long)]
        platform_public_key_file: Option<PathBuf>,
        /// Platform certificate (PEM file).
        #[arg(long)]
        platform_certificate_file: Option<PathBuf>,
    },
    /// WeChat Pay: remove a platform public key (by id) or certificate (by serial).
    RemovePlatformKey {
        /// The account id.
        id: String,
        /// `PUB_KEY_ID_...` or the certificate serial.
        key: String,
    },
    /// Add accounts from a JSON file: one object or an array, each in the format
    /// `paydesk sandbox merchant add --json` prints plus an "id".
    Import {
        /// The JSON file.
        #[arg(long)]
        from_json: PathBuf,
    },
    /// Test an account: a harmless signed query at the provider (for a payment number
    /// that does not exist); the provider's "not found" proves signing and verification.
    Test {
        /// The account id.
        id: String,
    },
}

/// `cli:<unix user>`.
pub(crate) fn actor() -> String {
    let user = ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()))
        .unwrap_or_else(|| "unknown".into());
    format!("cli:{user}")
}

fn read(path: &Path, what: &str) -> Result<String> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("{what}: reading {}", path.display()))?;
    if meta.len() > 1 << 20 {
        bail!("{what}: {} is over 1 MiB", path.display());
    }
    std::fs::read_to_string(path).with_context(|| format!("{what}: reading {}", path.display()))
}

fn read_opt(path: Option<&PathBuf>, what: &str) -> Result<Option<String>> {
    path.map(|p| read(p, what)).transpose()
}

fn need<T>(v: Option<T>, flag: &str) -> Result<T> {
    v.ok_or_else(|| anyhow!("{flag} is required for this provider"))
}

fn refuse(flags: &[(bool, &str)], provider: &str) -> Result<()> {
    if let Some((_, f)) = flags.iter().find(|(set, _)| *set) {
        bail!("{f} is not used by {provider} accounts");
    }
    Ok(())
}

fn parts(a: &AddArgs) -> Result<(PublicConfig, SecretConfig)> {
    let private = read(&a.private_key_file, "--private-key-file")?;
    match a.provider {
        ProviderArg::Wechatpay => {
            refuse(
                &[
                    (a.app_id.is_some(), "--app-id"),
                    (a.seller_id.is_some(), "--seller-id"),
                    (
                        a.alipay_public_key_file.is_some(),
                        "--alipay-public-key-file",
                    ),
                    (a.app_public_key_file.is_some(), "--app-public-key-file"),
                ],
                "WeChat Pay",
            )?;
            let mut platform_public_keys = Vec::new();
            match (&a.platform_public_key_id, &a.platform_public_key_file) {
                (Some(id), Some(f)) => platform_public_keys.push(PlatformPublicKey {
                    id: id.clone(),
                    pem: read(f, "--platform-public-key-file")?,
                }),
                (None, None) => {}
                _ => bail!("--platform-public-key-id and --platform-public-key-file go together"),
            }
            let platform_certificates = read_opt(
                a.platform_certificate_file.as_ref(),
                "--platform-certificate-file",
            )?
            .into_iter()
            .collect();
            let apiv3 = read(
                &need(a.apiv3_key_file.clone(), "--apiv3-key-file")?,
                "--apiv3-key-file",
            )?;
            let merchant_certificate_pem = read_opt(
                a.merchant_certificate_file.as_ref(),
                "--merchant-certificate-file",
            )?;
            // The serial comes from the certificate when only the certificate is given.
            let merchant_serial_no = match (&a.merchant_serial_no, &merchant_certificate_pem) {
                (Some(s), _) => s.clone(),
                (None, Some(cert)) => sa::certificate_serial_of(cert).map_err(err)?,
                (None, None) => bail!(
                    "--merchant-serial-no (or --merchant-certificate-file) is required for \
                     WeChat Pay"
                ),
            };
            Ok((
                PublicConfig::Wechatpay {
                    base_url: a.base_url.trim_end_matches('/').to_owned(),
                    mchid: need(a.mchid.clone(), "--mchid")?,
                    appid: need(a.appid.clone(), "--appid")?,
                    merchant_serial_no,
                    merchant_certificate_pem,
                    platform_public_keys,
                    platform_certificates,
                },
                SecretConfig::Wechatpay {
                    merchant_private_key_pem: private,
                    apiv3_key: apiv3.trim().to_owned(),
                },
            ))
        }
        ProviderArg::Alipay => {
            refuse(
                &[
                    (a.mchid.is_some(), "--mchid"),
                    (a.appid.is_some(), "--appid"),
                    (a.merchant_serial_no.is_some(), "--merchant-serial-no"),
                    (a.apiv3_key_file.is_some(), "--apiv3-key-file"),
                    (
                        a.platform_public_key_id.is_some(),
                        "--platform-public-key-id",
                    ),
                    (
                        a.platform_public_key_file.is_some(),
                        "--platform-public-key-file",
                    ),
                    (
                        a.platform_certificate_file.is_some(),
                        "--platform-certificate-file",
                    ),
                    (
                        a.merchant_certificate_file.is_some(),
                        "--merchant-certificate-file",
                    ),
                ],
                "Alipay",
            )?;
            let gateway = a.gateway_url.clone();
            Ok((
                PublicConfig::Alipay {
                    base_url: gateway.strip_suffix("/gateway.do").map(str::to_owned),
                    gateway_url: gateway,
                    app_id: need(a.app_id.clone(), "--app-id")?,
                    seller_id: need(a.seller_id.clone(), "--seller-id")?,
                    app_public_key_pem: read_opt(
                        a.app_public_key_file.as_ref(),
                        "--app-public-key-file",
                    )?,
                    alipay_public_key_pem: read(
                        &need(a.alipay_public_key_file.clone(), "--alipay-public-key-file")?,
                        "--alipay-public-key-file",
                    )?,
                },
                SecretConfig::Alipay {
                    app_private_key_pem: private,
                },
            ))
        }
    }
}

fn err(e: AccountAdminError) -> anyhow::Error {
    anyhow!("{e}")
}

/// Runs a merchant account command.
pub async fn run(config: &Config, cmd: Command) -> Result<()> {
    let store = open_store(config).await?;
    let actor = actor();
    match cmd {
        Command::Add(a) => {
            let (public, secret) = parts(&a)?;
            let key = master_key(config)?;
            let created = sa::create(&*store, &key, &actor, &a.id, &public, &secret)
                .await
                .map_err(err)?;
            println!(
                "merchant account {} ({}) added, key version 1",
                created.id,
                created.provider.as_str()
            );
            println!("test it with: paydesk merchant-account test {}", created.id);
        }
        Command::List { json } => list(&*store, json).await?,
        Command::Disable { id } => {
            status(&*store, &actor, &id, MerchantAccountStatus::Disabled).await?;
            warn_if_routed(&*store, &id).await;
        }
        Command::Enable { id } => {
            status(&*store, &actor, &id, MerchantAccountStatus::Active).await?
        }
        Command::RotateKey {
            id,
            private_key_file,
            merchant_serial_no,
            apiv3_key_file,
            public_file,
        } => {
            let new = NewKey {
                private_key_pem: read(&private_key_file, "--private-key-file")?,
                apiv3_key: read_opt(apiv3_key_file.as_ref(), "--apiv3-key-file")?
                    .map(|k| k.trim().to_owned()),
                merchant_serial_no,
                public_pem: read_opt(public_file.as_ref(), "--public-file")?,
            };
            let key = master_key(config)?;
            let (_, version) = sa::rotate_key(&*store, &key, &actor, &id, new)
                .await
                .map_err(err)?;
            println!("merchant account {id}: key version {version} added and used for new calls");
        }
        Command::RetireKey { id, version } => {
            sa::retire_key(&*store, &actor, &id, version)
                .await
                .map_err(err)?;
            println!("merchant account {id}: key version {version} retired");
        }
        Command::AddPlatformKey {
            id,
            platform_public_key_id,
            platform_public_key_file,
            platform_certificate_file,
        } => {
            let key = match (
                platform_public_key_id,
                platform_public_key_file,
                platform_certificate_file,
            ) {
                (Some(kid), Some(f), None) => PlatformKey::PublicKey(PlatformPublicKey {
                    id: kid,
                    pem: read(&f, "--platform-public-key-file")?,
                }),
                (None, None, Some(f)) => {
                    PlatformKey::Certificate(read(&f, "--platform-certificate-file")?)
                }
                _ => bail!(
                    "give --platform-public-key-id with --platform-public-key-file, or \
                     --platform-certificate-file"
                ),
            };
            let mk = master_key(config)?;
            sa::add_platform_key(&*store, &mk, &actor, &id, key)
                .await
                .map_err(err)?;
            println!("merchant account {id}: platform key added");
        }
        Command::RemovePlatformKey { id, key } => {
            sa::remove_platform_key(&*store, &actor, &id, &key)
                .await
                .map_err(err)?;
            println!("merchant account {id}: platform key {key} removed");
        }
        Command::Import { from_json } => {
            let text = read(&from_json, "--from-json")?;
            let value: serde_json::Value =
                serde_json::from_str(&text).context("--from-json is not JSON")?;
            let value = match value {
                serde_json::Value::Array(_) => value,
                other => serde_json::Value::Array(vec![other]),
            };
            let configs = MerchantAccounts::parse_configs(value)?;
            let key = master_key(config)?;
            for c in configs {
                let (id, public, secret) = sa::split_config(c);
                sa::create(&*store, &key, &actor, &id, &public, &secret)
                    .await
                    .map_err(|e| anyhow!("{id}: {e}"))?;
                println!(
                    "merchant account {id} ({}) imported",
                    public.provider().as_str()
                );
            }
        }
        Command::Test { id } => {
            let key = master_key(config)?;
            let c = sa::config_for(&*store, &key, &id).await.map_err(err)?;
            let accounts = MerchantAccounts::build(&[c], call_timeouts(config))?;
            let account = accounts
                .get(&id)
                .ok_or_else(|| anyhow!("merchant account {id} did not build"))?;
            let outcome = sa::test_connection(&account).await;
            sa::audit_test(&*store, &actor, &id, &outcome)
                .await
                .map_err(err)?;
            if !outcome.ok {
                bail!("merchant account {id}: test failed: {}", outcome.detail);
            }
            println!(
                "merchant account {id}: ok ({}, {} ms)",
                outcome.detail, outcome.elapsed_ms
            );
        }
    }
    Ok(())
}

async fn status(
    store: &dyn Store,
    actor: &str,
    id: &str,
    status: MerchantAccountStatus,
) -> Result<()> {
    let word = status.as_str().to_ascii_lowercase();
    match sa::set_status(store, actor, id, status)
        .await
        .map_err(err)?
    {
        Some(_) => println!("merchant account {id} is now {word}"),
        None => println!("merchant account {id} was already {word}"),
    }
    Ok(())
}

/// Says so when the active checkout rules still route to `id`.
async fn warn_if_routed(store: &dyn Store, id: &str) {
    let Ok(active) = store.active_rule_version().await else {
        return;
    };
    let Ok(Some(v)) = store.rule_version(active.version).await else {
        return;
    };
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(&v.document_json) else {
        return;
    };
    let routed = doc["business_rules"].as_array().is_some_and(|rules| {
        rules.iter().any(|r| {
            r["then"]["routes"]
                .as_array()
                .is_some_and(|routes| routes.iter().any(|x| x["merchant_account"] == id))
        })
    });
    if routed {
        eprintln!(
            "warning: the active checkout rules (version {}) route to {id}; payments routed \
             there now fail until the rules change or the account is enabled",
            active.version
        );
    }
}

async fn list(store: &dyn Store, json: bool) -> Result<()> {
    let views = sa::views(store, &MerchantAccounts::empty())
        .await
        .map_err(err)?;
    if json {
        let views: Vec<serde_json::Value> = views
            .into_iter()
            .map(|mut v| {
                if let Some(o) = v.as_object_mut() {
                    o.remove("loaded");
                    o.remove("source");
                }
                v
            })
            .collect();
        println!("{}", serde_json::Value::Array(views));
        return Ok(());
    }
    for v in views {
        let keys: Vec<String> = v["keys"]
            .as_array()
            .map(|ks| {
                ks.iter()
                    .map(|k| {
                        let retired = if k["retired_at_ms"].is_null() {
                            ""
                        } else {
                            " (retired)"
                        };
                        format!("v{}{retired}", k["key_version"])
                    })
                    .collect()
            })
            .unwrap_or_default();
        let public = &v["public"];
        let merchant = public["mchid"]
            .as_str()
            .or(public["seller_id"].as_str())
            .unwrap_or("");
        println!(
            "{}\t{}\t{}\t{}\tkeys: {}",
            v["id"].as_str().unwrap_or(""),
            v["provider"].as_str().unwrap_or(""),
            v["status"].as_str().unwrap_or(""),
            merchant,
            keys.join(", ")
        );
    }
    Ok(())
}
