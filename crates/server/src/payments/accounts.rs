//! Merchant accounts: where the money goes. Each account has a stable id that the checkout
//! rules route to (`wx-main`, `ali-seller-acme`) and the provider client built from its
//! keys. The set is loaded from a JSON file (the `paydesk sandbox merchant add --json`
//! format plus an `id`) and swapped as a whole.

use paydesk_core::Provider;
use paydesk_providers::alipay::client::{AlipayClient, AlipayConfig};
use paydesk_providers::keys::{KeyRing, PrivateKey, PublicKey};
use paydesk_providers::wechatpay::client::{WechatPayClient, WechatPayConfig};
use paydesk_providers::wechatpay::sign::ApiV3Key;
use paydesk_providers::PaymentProvider;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// Most merchant accounts one file may hold (a bound, far above real use).
pub const MAX_ACCOUNTS: usize = 1_000;

/// One merchant account as configured. Keys are PEM text; this struct never leaves memory
/// and its `Debug` shows no key material.
#[derive(Clone, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase", deny_unknown_fields)]
pub enum AccountConfig {
    /// A WeChat Pay merchant (API v3).
    Wechatpay {
        /// Our id for it, as the rules name it.
        id: String,
        /// API base URL (production or the sandbox).
        base_url: String,
        /// Merchant id.
        mchid: String,
        /// App id payments are made for.
        appid: String,
        /// Serial of the merchant API certificate.
        merchant_serial_no: String,
        /// Merchant private key (PKCS#8 PEM).
        merchant_private_key_pem: String,
        /// Merchant certificate (PEM); not needed for calls.
        #[serde(default)]
        merchant_certificate_pem: Option<String>,
        /// APIv3 key.
        apiv3_key: String,
        /// Platform public key id (`PUB_KEY_ID_...`).
        #[serde(default)]
        platform_public_key_id: Option<String>,
        /// Platform public key (PEM).
        #[serde(default)]
        platform_public_key_pem: Option<String>,
        /// Platform certificate serial (informational; read from the certificate).
        #[serde(default)]
        platform_certificate_serial: Option<String>,
        /// Platform certificate (PEM).
        #[serde(default)]
        platform_certificate_pem: Option<String>,
        /// More platform public keys, e.g. the old and the new one during a rotation
        /// (callbacks signed with any of them verify).
        #[serde(default)]
        platform_public_keys: Vec<PlatformPublicKey>,
        /// More platform certificates (PEM), as above.
        #[serde(default)]
        platform_certificates: Vec<String>,
    },
    /// An Alipay app.
    Alipay {
        /// Our id for it, as the rules name it.
        id: String,
        /// Base URL (informational).
        #[serde(default)]
        base_url: Option<String>,
        /// Gateway URL (`.../gateway.do`).
        gateway_url: String,
        /// App id.
        app_id: String,
        /// Seller (partner) id `2088...`.
        seller_id: String,
        /// App private key (PKCS#8 PEM).
        app_private_key_pem: String,
        /// App public key (PEM); not needed for calls.
        #[serde(default)]
        app_public_key_pem: Option<String>,
        /// Alipay public key (PEM).
        alipay_public_key_pem: String,
    },
}

/// A WeChat Pay platform public key with its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlatformPublicKey {
    /// `PUB_KEY_ID_...`.
    pub id: String,
    /// The key (SPKI PEM).
    pub pem: String,
}

impl fmt::Debug for AccountConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountConfig")
            .field("id", &self.id())
            .field("provider", &self.provider())
            .finish_non_exhaustive()
    }
}

impl AccountConfig {
    /// Our id.
    pub fn id(&self) -> &str {
        match self {
            Self::Wechatpay { id, .. } | Self::Alipay { id, .. } => id,
        }
    }

    /// Which provider.
    pub fn provider(&self) -> Provider {
        match self {
            Self::Wechatpay { .. } => Provider::Wechatpay,
            Self::Alipay { .. } => Provider::Alipay,
        }
    }

    /// Points the account at another API base URL (the embedded sandbox's current one).
    pub fn rebase(&mut self, new_base_url: &str) {
        let base = new_base_url.trim_end_matches('/').to_owned();
        match self {
            Self::Wechatpay { base_url, .. } => *base_url = base,
            Self::Alipay {
                base_url,
                gateway_url,
                ..
            } => {
                *gateway_url = format!("{base}/gateway.do");
                *base_url = Some(base);
            }
        }
    }
}

/// Why the accounts could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    /// The file could not be read.
    #[error("cannot read merchant accounts file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid.
    #[error("invalid merchant accounts: {0}")]
    Invalid(String),
}

/// A usable merchant account.
pub struct Account {
    /// Our id.
    pub id: String,
    /// The provider.
    pub provider: Provider,
    /// The provider's id for the merchant (WeChat `mchid`, Alipay seller id): callbacks and
    /// queries naming another merchant are refused.
    pub merchant_id: String,
    /// The app id payments are made for (WeChat `appid`, Alipay `app_id`).
    pub app_id: String,
    /// The signed, verifying client.
    pub client: Arc<dyn PaymentProvider>,
}

impl fmt::Debug for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("provider", &self.provider)
            .field("merchant_id", &self.merchant_id)
            .finish_non_exhaustive()
    }
}

/// The merchant accounts this instance can use, by id.
#[derive(Debug, Default)]
pub struct MerchantAccounts {
    by_id: HashMap<String, Arc<Account>>,
}

/// Timeouts for provider calls, milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct CallTimeouts {
    /// Whole call.
    pub timeout_ms: u64,
    /// Connect.
    pub connect_timeout_ms: u64,
}

impl MerchantAccounts {
    /// No accounts: every pay is refused with `METHOD_NOT_OFFERED`.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Builds clients for `configs`; ids must be unique.
    pub fn build(configs: &[AccountConfig], t: CallTimeouts) -> Result<Self, AccountsError> {
        if configs.len() > MAX_ACCOUNTS {
            return Err(AccountsError::Invalid(format!(
                "{} accounts, at most {MAX_ACCOUNTS}",
                configs.len()
            )));
        }
        let mut by_id = HashMap::new();
        for c in configs {
            let account = build_one(c, t)
                .map_err(|e| AccountsError::Invalid(format!("account `{}`: {e}", c.id())))?;
            if by_id
                .insert(account.id.clone(), Arc::new(account))
                .is_some()
            {
                return Err(AccountsError::Invalid(format!(
                    "account id `{}` appears twice",
                    c.id()
                )));
            }
        }
        Ok(MerchantAccounts { by_id })
    }

    /// Builds `base` (the file or the embedded sandbox: any error is returned) together
    /// with `overrides` (the database's accounts: one that does not build is left out
    /// and reported). An override replaces a base account with the same id (reported).
    /// Returns the accounts and the sentences to log.
    pub fn build_merged(
        base: &[AccountConfig],
        overrides: &[AccountConfig],
        t: CallTimeouts,
    ) -> Result<(Self, Vec<String>), AccountsError> {
        let mut accounts = Self::build(base, t)?;
        let mut notes = Vec::new();
        for c in overrides {
            match build_one(c, t) {
                Ok(a) => {
                    if accounts.by_id.len() >= MAX_ACCOUNTS && !accounts.by_id.contains_key(c.id())
                    {
                        notes.push(format!(
                            "merchant account `{}` left out: more than {MAX_ACCOUNTS} accounts",
                            c.id()
                        ));
                        continue;
                    }
                    if accounts.by_id.insert(a.id.clone(), Arc::new(a)).is_some() {
                        notes.push(format!(
                            "merchant account `{}` from the database replaces the one from the \
                             file or the embedded sandbox",
                            c.id()
                        ));
                    }
                }
                Err(e) => notes.push(format!(
                    "merchant account `{}` from the database left out: {e}",
                    c.id()
                )),
            }
        }
        Ok((accounts, notes))
    }

    /// Parses a JSON array of [`AccountConfig`].
    pub fn parse_configs(value: serde_json::Value) -> Result<Vec<AccountConfig>, AccountsError> {
        serde_json::from_value(value).map_err(|e| AccountsError::Invalid(e.to_string()))
    }

    /// Reads a JSON array of [`AccountConfig`] from `path`.
    pub fn read_configs(path: &Path) -> Result<Vec<AccountConfig>, AccountsError> {
        let text = std::fs::read_to_string(path).map_err(|source| AccountsError::Io {
            path: path.display().to_string(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| AccountsError::Invalid(e.to_string()))
    }

    /// The account with this id.
    pub fn get(&self, id: &str) -> Option<Arc<Account>> {
        self.by_id.get(id).cloned()
    }

    /// Every account id, sorted.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.by_id.keys().cloned().collect();
        ids.sort();
        ids
    }
}

fn build_one(c: &AccountConfig, t: CallTimeouts) -> Result<Account, String> {
    let e = |what: &str, err: &dyn fmt::Display| format!("{what}: {err}");
    match c {
        AccountConfig::Wechatpay {
            id,
            base_url,
            mchid,
            appid,
            merchant_serial_no,
            merchant_private_key_pem,
            apiv3_key,
            platform_public_key_id,
            platform_public_key_pem,
            platform_certificate_pem,
            platform_public_keys,
            platform_certificates,
            ..
        } => {
            let key = PrivateKey::from_pem(merchant_private_key_pem)
                .map_err(|x| e("merchant private key", &x))?;
            let apiv3 = ApiV3Key::new(apiv3_key).map_err(|x| e("APIv3 key", &x))?;
            let mut ring = KeyRing::new();
            if let (Some(kid), Some(pem)) = (platform_public_key_id, platform_public_key_pem) {
                ring.insert_public_key_pem(kid, pem)
                    .map_err(|x| e("platform public key", &x))?;
            }
            if let Some(pem) = platform_certificate_pem {
                ring.insert_certificate_pem(pem)
                    .map_err(|x| e("platform certificate", &x))?;
            }
            for k in platform_public_keys {
                ring.insert_public_key_pem(&k.id, &k.pem)
                    .map_err(|x| e("platform public key", &x))?;
            }
            for pem in platform_certificates {
                ring.insert_certificate_pem(pem)
                    .map_err(|x| e("platform certificate", &x))?;
            }
            if ring.is_empty() {
                return Err("a platform public key or certificate is required".into());
            }
            let mut cfg = WechatPayConfig::new(mchid, appid, merchant_serial_no, key, apiv3, ring);
            cfg.base_url = base_url.trim_end_matches('/').to_owned();
            cfg.timeout_ms = t.timeout_ms;
            cfg.connect_timeout_ms = t.connect_timeout_ms;
            let client = WechatPayClient::new(cfg).map_err(|x| e("client", &x))?;
            Ok(Account {
                id: id.clone(),
                provider: Provider::Wechatpay,
                merchant_id: mchid.clone(),
                app_id: appid.clone(),
                client: Arc::new(client),
            })
        }
        AccountConfig::Alipay {
            id,
            gateway_url,
            app_id,
            seller_id,
            app_private_key_pem,
            alipay_public_key_pem,
            ..
        } => {
            let key =
                PrivateKey::from_pem(app_private_key_pem).map_err(|x| e("app private key", &x))?;
            let public = PublicKey::from_pem(alipay_public_key_pem)
                .map_err(|x| e("Alipay public key", &x))?;
            let mut cfg = AlipayConfig::new(app_id, key, public);
            cfg.gateway_url = gateway_url.clone();
            cfg.seller_id = Some(seller_id.clone());
            cfg.timeout_ms = t.timeout_ms;
            cfg.connect_timeout_ms = t.connect_timeout_ms;
            let client = AlipayClient::new(cfg).map_err(|x| e("client", &x))?;
            Ok(Account {
                id: id.clone(),
                provider: Provider::Alipay,
                merchant_id: seller_id.clone(),
                app_id: app_id.clone(),
                client: Arc::new(client),
            })
        }
    }
}
