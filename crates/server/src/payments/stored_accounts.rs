//! Merchant accounts kept in the database (`paydesk merchant-account ...`): the non-secret
//! configuration in clear, the secrets (private keys, the APIv3 key) per key version under
//! envelope encryption (a fresh data key per version, wrapped by a [`KeyWrapper`]; both
//! bound to the account id and key version), and an audit entry with every change.
//!
//! `paydesk serve` uses the `ACTIVE` accounts (the newest unretired key version signs)
//! together with the file's or the embedded sandbox's ([`install`]); every instance
//! polls [`refresh`] and reloads when any account changed. Secrets never leave this
//! module except inside the provider clients; `Debug` of every secret-holding type
//! redacts, and nothing here logs a secret.

use crate::payments::accounts::{
    Account, AccountConfig, CallTimeouts, MerchantAccounts, PlatformPublicKey,
};
use crate::secrets::{Envelope, KeyWrapper, SecretError};
use crate::state::AppState;
use crate::time::now_ms;
use paydesk_core::Provider;
use paydesk_providers::keys::{Certificate, PrivateKey, PublicKey};
use paydesk_providers::model::PaymentRef;
use paydesk_providers::ProviderError;
use paydesk_store::{
    AuditEntry, MerchantAccount, MerchantAccountKey, MerchantAccountStatus, MerchantAccountUpdate,
    MerchantAccountsStamp, Store, StoreError, Transition,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Longest account id (ids name rules' routes and callback URLs).
pub const MAX_ID_LEN: usize = 64;
/// Most platform public keys or certificates one WeChat Pay account holds.
pub const MAX_PLATFORM_KEYS: usize = 8;

/// Why an account change or load failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountAdminError {
    /// The input is unusable (bad id, bad key, wrong provider); nothing was written.
    #[error("{0}")]
    Invalid(String),
    /// No such account.
    #[error("no merchant account `{0}`")]
    NotFound(String),
    /// The id is taken, or the account changed meanwhile: reload and try again.
    #[error("{0}")]
    Conflict(String),
    /// A stored secret does not open with this key (wrong master key, or tampering).
    #[error("merchant account `{id}`: {source}")]
    Secret {
        /// The account.
        id: String,
        /// Why.
        source: SecretError,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

type Result<T, E = AccountAdminError> = std::result::Result<T, E>;

/// The non-secret configuration of an account, stored as `public_json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase", deny_unknown_fields)]
pub enum PublicConfig {
    /// A WeChat Pay merchant (API v3).
    Wechatpay {
        /// API base URL (`https://api.mch.weixin.qq.com`, or the sandbox).
        base_url: String,
        /// Merchant id.
        mchid: String,
        /// App id payments are made for.
        appid: String,
        /// Serial of the merchant API certificate of the newest key version.
        merchant_serial_no: String,
        /// Merchant API certificate (PEM), if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        merchant_certificate_pem: Option<String>,
        /// Platform public keys (several during a rotation).
        #[serde(default)]
        platform_public_keys: Vec<PlatformPublicKey>,
        /// Platform certificates (PEM; several during a rotation).
        #[serde(default)]
        platform_certificates: Vec<String>,
    },
    /// An Alipay app.
    Alipay {
        /// Gateway URL (`https://openapi.alipay.com/gateway.do`, or the sandbox's).
        gateway_url: String,
        /// Base URL (informational).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        base_url: Option<String>,
        /// App id.
        app_id: String,
        /// Seller (partner) id `2088...`.
        seller_id: String,
        /// App public key (PEM), as uploaded to Alipay, if given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        app_public_key_pem: Option<String>,
        /// Alipay public key (PEM).
        alipay_public_key_pem: String,
    },
}

impl PublicConfig {
    /// Which provider.
    pub fn provider(&self) -> Provider {
        match self {
            Self::Wechatpay { .. } => Provider::Wechatpay,
            Self::Alipay { .. } => Provider::Alipay,
        }
    }

    fn to_json(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| AccountAdminError::Invalid(e.to_string()))
    }

    fn from_json(id: &str, text: &str) -> Result<Self> {
        serde_json::from_str(text).map_err(|e| {
            AccountAdminError::Store(StoreError::Corrupt(format!(
                "merchant account {id} public_json: {e}"
            )))
        })
    }

    /// What the list shows: ids, serials and key ids, no PEM bodies.
    fn summary(&self) -> Value {
        match self {
            Self::Wechatpay {
                base_url,
                mchid,
                appid,
                merchant_serial_no,
                platform_public_keys,
                platform_certificates,
                ..
            } => json!({
                "base_url": base_url, "mchid": mchid, "appid": appid,
                "merchant_serial_no": merchant_serial_no,
                "platform_public_key_ids":
                    platform_public_keys.iter().map(|k| k.id.clone()).collect::<Vec<_>>(),
                "platform_certificate_serials":
                    platform_certificates.iter().map(|p| certificate_serial_of(p).unwrap_or_else(|_| "?".into())).collect::<Vec<_>>(),
            }),
            Self::Alipay {
                gateway_url,
                app_id,
                seller_id,
                ..
            } => json!({"gateway_url": gateway_url, "app_id": app_id, "seller_id": seller_id}),
        }
    }
}

/// The secret part of one key version. Exists in clear only in memory; `Debug` redacts.
#[derive(Clone, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase", deny_unknown_fields)]
pub enum SecretConfig {
    /// WeChat Pay.
    Wechatpay {
        /// Merchant private key (PKCS#8 PEM).
        merchant_private_key_pem: String,
        /// APIv3 key (32 characters).
        apiv3_key: String,
    },
    /// Alipay.
    Alipay {
        /// App private key (PKCS#8 PEM).
        app_private_key_pem: String,
    },
}

impl fmt::Debug for SecretConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretConfig(<redacted>)")
    }
}

impl SecretConfig {
    /// Which provider.
    pub fn provider(&self) -> Provider {
        match self {
            Self::Wechatpay { .. } => Provider::Wechatpay,
            Self::Alipay { .. } => Provider::Alipay,
        }
    }
}

/// The associated data binding a key version's secret and data key to their record.
pub fn key_context(account_id: &str, key_version: i64) -> String {
    format!("merchant_account:{account_id}:{key_version}")
}

/// Ids: 1 to 64 of `A-Z a-z 0-9 _ -` (they appear in callback URLs and rules).
pub fn check_id(id: &str) -> Result<()> {
    if !crate::api::is_business_no(id) {
        return Err(AccountAdminError::Invalid(format!(
            "merchant account id `{id}` must be 1 to {MAX_ID_LEN} of A-Z a-z 0-9 _ -"
        )));
    }
    Ok(())
}

/// The client configuration for an account and one key version's secrets.
pub fn to_config(id: &str, public: &PublicConfig, secret: &SecretConfig) -> Result<AccountConfig> {
    match (public, secret) {
        (
            PublicConfig::Wechatpay {
                base_url,
                mchid,
                appid,
                merchant_serial_no,
                merchant_certificate_pem,
                platform_public_keys,
                platform_certificates,
            },
            SecretConfig::Wechatpay {
                merchant_private_key_pem,
                apiv3_key,
            },
        ) => Ok(AccountConfig::Wechatpay {
            id: id.to_owned(),
            base_url: base_url.clone(),
            mchid: mchid.clone(),
            appid: appid.clone(),
            merchant_serial_no: merchant_serial_no.clone(),
            merchant_private_key_pem: merchant_private_key_pem.clone(),
            merchant_certificate_pem: merchant_certificate_pem.clone(),
            apiv3_key: apiv3_key.clone(),
            platform_public_key_id: None,
            platform_public_key_pem: None,
            platform_certificate_serial: None,
            platform_certificate_pem: None,
            platform_public_keys: platform_public_keys.clone(),
            platform_certificates: platform_certificates.clone(),
        }),
        (
            PublicConfig::Alipay {
                gateway_url,
                base_url,
                app_id,
                seller_id,
                app_public_key_pem,
                alipay_public_key_pem,
            },
            SecretConfig::Alipay {
                app_private_key_pem,
            },
        ) => Ok(AccountConfig::Alipay {
            id: id.to_owned(),
            base_url: base_url.clone(),
            gateway_url: gateway_url.clone(),
            app_id: app_id.clone(),
            seller_id: seller_id.clone(),
            app_private_key_pem: app_private_key_pem.clone(),
            app_public_key_pem: app_public_key_pem.clone(),
            alipay_public_key_pem: alipay_public_key_pem.clone(),
        }),
        _ => Err(AccountAdminError::Invalid(format!(
            "merchant account `{id}`: the keys are for {}, the account is {}",
            secret.provider().as_str(),
            public.provider().as_str()
        ))),
    }
}

/// Splits a file-format account (`paydesk sandbox merchant add --json` plus `"id"`) into
/// its id, public and secret parts.
pub fn split_config(c: AccountConfig) -> (String, PublicConfig, SecretConfig) {
    match c {
        AccountConfig::Wechatpay {
            id,
            base_url,
            mchid,
            appid,
            merchant_serial_no,
            merchant_private_key_pem,
            merchant_certificate_pem,
            apiv3_key,
            platform_public_key_id,
            platform_public_key_pem,
            platform_certificate_pem,
            mut platform_public_keys,
            mut platform_certificates,
            ..
        } => {
            if let (Some(kid), Some(pem)) = (platform_public_key_id, platform_public_key_pem) {
                platform_public_keys.insert(0, PlatformPublicKey { id: kid, pem });
            }
            if let Some(pem) = platform_certificate_pem {
                platform_certificates.insert(0, pem);
            }
            (
                id,
                PublicConfig::Wechatpay {
                    base_url,
                    mchid,
                    appid,
                    merchant_serial_no,
                    merchant_certificate_pem,
                    platform_public_keys,
                    platform_certificates,
                },
                SecretConfig::Wechatpay {
                    merchant_private_key_pem,
                    apiv3_key,
                },
            )
        }
        AccountConfig::Alipay {
            id,
            base_url,
            gateway_url,
            app_id,
            seller_id,
            app_private_key_pem,
            app_public_key_pem,
            alipay_public_key_pem,
        } => (
            id,
            PublicConfig::Alipay {
                gateway_url,
                base_url,
                app_id,
                seller_id,
                app_public_key_pem,
                alipay_public_key_pem,
            },
            SecretConfig::Alipay {
                app_private_key_pem,
            },
        ),
    }
}

const CHECK_TIMEOUTS: CallTimeouts = CallTimeouts {
    timeout_ms: 10_000,
    connect_timeout_ms: 3_000,
};

/// Checks that the parts make a working client (keys parse, the APIv3 key has 32
/// characters, a platform key or certificate is present), without calling anyone.
pub fn check_parts(id: &str, public: &PublicConfig, secret: &SecretConfig) -> Result<()> {
    check_id(id)?;
    if let PublicConfig::Wechatpay {
        platform_public_keys,
        platform_certificates,
        ..
    } = public
    {
        if platform_public_keys.len() > MAX_PLATFORM_KEYS
            || platform_certificates.len() > MAX_PLATFORM_KEYS
        {
            return Err(AccountAdminError::Invalid(format!(
                "at most {MAX_PLATFORM_KEYS} platform public keys and {MAX_PLATFORM_KEYS} \
                 platform certificates"
            )));
        }
    }
    let config = to_config(id, public, secret)?;
    MerchantAccounts::build(&[config], CHECK_TIMEOUTS)
        .map_err(|e| AccountAdminError::Invalid(e.to_string()))?;
    check_pairs(public, secret)
}

/// The optional public halves (WeChat Pay merchant certificate, Alipay app public key)
/// must belong to the private key, and the certificate's serial must be the one we send.
fn check_pairs(public: &PublicConfig, secret: &SecretConfig) -> Result<()> {
    let invalid = |m: String| AccountAdminError::Invalid(m);
    let public_of = |pem: &str| {
        PrivateKey::from_pem(pem)
            .and_then(|k| k.public_key())
            .map_err(|e| invalid(format!("private key: {e}")))
    };
    match (public, secret) {
        (
            PublicConfig::Wechatpay {
                merchant_serial_no,
                merchant_certificate_pem: Some(cert),
                ..
            },
            SecretConfig::Wechatpay {
                merchant_private_key_pem,
                ..
            },
        ) => {
            let cert = Certificate::from_pem(cert)
                .map_err(|e| invalid(format!("merchant certificate: {e}")))?;
            if !cert.serial_hex.eq_ignore_ascii_case(merchant_serial_no) {
                return Err(invalid(format!(
                    "the merchant certificate's serial is {}, not {merchant_serial_no}",
                    cert.serial_hex
                )));
            }
            if public_of(merchant_private_key_pem)? != cert.public_key {
                return Err(invalid(
                    "the merchant private key does not belong to the merchant certificate".into(),
                ));
            }
        }
        (
            PublicConfig::Alipay {
                app_public_key_pem: Some(pem),
                ..
            },
            SecretConfig::Alipay {
                app_private_key_pem,
            },
        ) => {
            let key =
                PublicKey::from_pem(pem).map_err(|e| invalid(format!("app public key: {e}")))?;
            if public_of(app_private_key_pem)? != key {
                return Err(invalid(
                    "the app private key does not belong to the app public key".into(),
                ));
            }
        }
        _ => {}
    }
    Ok(())
}

/// The serial of a merchant certificate (PEM), to use when none is given.
pub fn certificate_serial_of(pem: &str) -> Result<String> {
    Certificate::from_pem(pem)
        .map(|c| c.serial_hex)
        .map_err(|e| AccountAdminError::Invalid(format!("merchant certificate: {e}")))
}

fn audit(actor: &str, action: &str, target: &str, details: Value, at_ms: i64) -> AuditEntry {
    AuditEntry {
        id: paydesk_core::ids::new_id("aud"),
        at_ms,
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        details_json: details.to_string(),
    }
}

fn seal_key(
    wrapper: &dyn KeyWrapper,
    id: &str,
    key_version: i64,
    secret: &SecretConfig,
    now: i64,
) -> Result<MerchantAccountKey> {
    let plain =
        serde_json::to_string(secret).map_err(|e| AccountAdminError::Invalid(e.to_string()))?;
    let env = Envelope::seal(wrapper, &key_context(id, key_version), &plain).map_err(|source| {
        AccountAdminError::Secret {
            id: id.to_owned(),
            source,
        }
    })?;
    Ok(MerchantAccountKey {
        account_id: id.to_owned(),
        key_version,
        wrapped_data_key: env.wrapped_data_key,
        ciphertext: env.ciphertext,
        created_at_ms: now,
        retired_at_ms: None,
    })
}

fn open_key(wrapper: &dyn KeyWrapper, key: &MerchantAccountKey) -> Result<SecretConfig> {
    let env = Envelope {
        wrapped_data_key: key.wrapped_data_key.clone(),
        ciphertext: key.ciphertext.clone(),
    };
    let err = |source| AccountAdminError::Secret {
        id: key.account_id.clone(),
        source,
    };
    let plain = env
        .open(wrapper, &key_context(&key.account_id, key.key_version))
        .map_err(err)?;
    serde_json::from_str(&plain).map_err(|_| err(SecretError::Decrypt))
}

/// Adds an account (status `ACTIVE`, key version 1) after checking its keys build a
/// client. A taken id is `Conflict`.
pub async fn create(
    store: &dyn Store,
    wrapper: &dyn KeyWrapper,
    actor: &str,
    id: &str,
    public: &PublicConfig,
    secret: &SecretConfig,
) -> Result<MerchantAccount> {
    check_parts(id, public, secret)?;
    let now = now_ms();
    let account = MerchantAccount {
        id: id.to_owned(),
        provider: public.provider(),
        status: MerchantAccountStatus::Active,
        public_json: public.to_json()?,
        created_at_ms: now,
        updated_at_ms: now,
        version: 1,
    };
    let key = seal_key(wrapper, id, 1, secret, now)?;
    let details = json!({"provider": public.provider().as_str(), "key_version": 1,
                         "public": public.summary()});
    let entry = audit(actor, "merchant_account.add", id, details, now);
    match store.insert_merchant_account(&account, &key, &entry).await {
        Ok(()) => Ok(account),
        Err(StoreError::Conflict(m)) => Err(AccountAdminError::Conflict(m)),
        Err(e) => Err(e.into()),
    }
}

async fn existing(store: &dyn Store, id: &str) -> Result<MerchantAccount> {
    store
        .merchant_account(id)
        .await?
        .ok_or_else(|| AccountAdminError::NotFound(id.to_owned()))
}

async fn apply(store: &dyn Store, update: MerchantAccountUpdate) -> Result<MerchantAccount> {
    match store.update_merchant_account(&update).await {
        Ok(Transition::Applied(a)) => Ok(a),
        Ok(Transition::Refused(Some(_))) => Err(AccountAdminError::Conflict(format!(
            "merchant account `{}` changed meanwhile: try again",
            update.id
        ))),
        Ok(Transition::Refused(None)) => Err(AccountAdminError::NotFound(update.id)),
        Err(StoreError::Conflict(m)) => Err(AccountAdminError::Conflict(m)),
        Err(StoreError::Invalid(m)) => Err(AccountAdminError::Invalid(m)),
        Err(e) => Err(e.into()),
    }
}

fn base_update(a: &MerchantAccount, entry: AuditEntry, now: i64) -> MerchantAccountUpdate {
    MerchantAccountUpdate {
        id: a.id.clone(),
        expected_version: a.version,
        status: a.status,
        public_json: a.public_json.clone(),
        new_key: None,
        retire_key_version: None,
        now_ms: now,
        audit: entry,
    }
}

/// Enables or disables an account; `Ok(None)` when it already had that status (nothing
/// written).
pub async fn set_status(
    store: &dyn Store,
    actor: &str,
    id: &str,
    status: MerchantAccountStatus,
) -> Result<Option<MerchantAccount>> {
    let a = existing(store, id).await?;
    if a.status == status {
        return Ok(None);
    }
    let now = now_ms();
    let action = match status {
        MerchantAccountStatus::Active => "merchant_account.enable",
        MerchantAccountStatus::Disabled => "merchant_account.disable",
    };
    let details = json!({"from": a.status.as_str(), "to": status.as_str()});
    let mut u = base_update(&a, audit(actor, action, id, details, now), now);
    u.status = status;
    apply(store, u).await.map(Some)
}

/// The key versions of an account with the newest unretired one's secrets.
async fn newest_secret(
    store: &dyn Store,
    wrapper: &dyn KeyWrapper,
    id: &str,
) -> Result<(Vec<MerchantAccountKey>, SecretConfig)> {
    let keys = store.merchant_account_keys(id).await?;
    let newest = keys
        .iter()
        .rev()
        .find(|k| k.retired_at_ms.is_none())
        .ok_or_else(|| {
            AccountAdminError::Invalid(format!("merchant account `{id}` has no unretired key"))
        })?;
    let secret = open_key(wrapper, newest)?;
    Ok((keys, secret))
}

/// What a key rotation brings.
#[derive(Default)]
pub struct NewKey {
    /// The new merchant private key (WeChat Pay) or app private key (Alipay), PEM.
    pub private_key_pem: String,
    /// A new APIv3 key (WeChat Pay); `None` keeps the current one.
    pub apiv3_key: Option<String>,
    /// The serial of the new merchant API certificate (WeChat Pay; required there).
    pub merchant_serial_no: Option<String>,
    /// The new merchant API certificate (WeChat Pay) or app public key (Alipay), PEM.
    pub public_pem: Option<String>,
}

impl fmt::Debug for NewKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewKey")
            .field("merchant_serial_no", &self.merchant_serial_no)
            .finish_non_exhaustive()
    }
}

/// Adds a key version (numbered one past the highest); new calls sign with it at once,
/// older versions stay until retired. Returns the account and the new version.
pub async fn rotate_key(
    store: &dyn Store,
    wrapper: &dyn KeyWrapper,
    actor: &str,
    id: &str,
    new: NewKey,
) -> Result<(MerchantAccount, i64)> {
    let a = existing(store, id).await?;
    let (keys, current) = newest_secret(store, wrapper, id).await?;
    let mut public = PublicConfig::from_json(id, &a.public_json)?;
    let secret = match (&mut public, current) {
        (
            PublicConfig::Wechatpay {
                merchant_serial_no,
                merchant_certificate_pem,
                ..
            },
            SecretConfig::Wechatpay { apiv3_key, .. },
        ) => {
            let serial = match (&new.merchant_serial_no, &new.public_pem) {
                (Some(s), _) => s.clone(),
                (None, Some(cert)) => certificate_serial_of(cert)?,
                (None, None) => {
                    return Err(AccountAdminError::Invalid(
                        "a WeChat Pay key rotation needs the new certificate or its serial \
                         number"
                            .into(),
                    ))
                }
            };
            *merchant_serial_no = serial;
            // The old certificate belongs to the old key: the new one, or none.
            *merchant_certificate_pem = new.public_pem.clone();
            SecretConfig::Wechatpay {
                merchant_private_key_pem: new.private_key_pem.clone(),
                apiv3_key: new.apiv3_key.clone().unwrap_or(apiv3_key),
            }
        }
        (
            PublicConfig::Alipay {
                app_public_key_pem, ..
            },
            SecretConfig::Alipay { .. },
        ) => {
            if new.merchant_serial_no.is_some() || new.apiv3_key.is_some() {
                return Err(AccountAdminError::Invalid(
                    "an Alipay key rotation takes only the app private key (and public key)".into(),
                ));
            }
            // The old public key belongs to the old private key: the new one, or none.
            *app_public_key_pem = new.public_pem.clone();
            SecretConfig::Alipay {
                app_private_key_pem: new.private_key_pem.clone(),
            }
        }
        _ => {
            return Err(AccountAdminError::Store(StoreError::Corrupt(format!(
                "merchant account {id}: keys of another provider"
            ))))
        }
    };
    check_parts(id, &public, &secret)?;
    let version = keys.iter().map(|k| k.key_version).max().unwrap_or(0) + 1;
    let now = now_ms();
    let details = json!({"key_version": version, "apiv3_key_changed": new.apiv3_key.is_some(),
                         "public": public.summary()});
    let mut u = base_update(
        &a,
        audit(actor, "merchant_account.rotate_key", id, details, now),
        now,
    );
    u.public_json = public.to_json()?;
    u.new_key = Some(seal_key(wrapper, id, version, &secret, now)?);
    Ok((apply(store, u).await?, version))
}

/// Retires a key version; the newest unretired one cannot be retired (calls need a key:
/// rotate first).
pub async fn retire_key(
    store: &dyn Store,
    actor: &str,
    id: &str,
    key_version: i64,
) -> Result<MerchantAccount> {
    let a = existing(store, id).await?;
    let keys = store.merchant_account_keys(id).await?;
    let live: Vec<i64> = keys
        .iter()
        .filter(|k| k.retired_at_ms.is_none())
        .map(|k| k.key_version)
        .collect();
    if !live.contains(&key_version) {
        return Err(AccountAdminError::Invalid(format!(
            "merchant account `{id}` has no unretired key version {key_version}"
        )));
    }
    if live.iter().max() == Some(&key_version) {
        return Err(AccountAdminError::Invalid(format!(
            "key version {key_version} is the newest one of `{id}`, used for calls: add a new \
             one with rotate-key first"
        )));
    }
    let now = now_ms();
    let details = json!({"key_version": key_version});
    let mut u = base_update(
        &a,
        audit(actor, "merchant_account.retire_key", id, details, now),
        now,
    );
    u.retire_key_version = Some(key_version);
    apply(store, u).await
}

/// A WeChat Pay platform key or certificate to add.
#[derive(Debug, Clone)]
pub enum PlatformKey {
    /// A platform public key with its `PUB_KEY_ID_...`.
    PublicKey(PlatformPublicKey),
    /// A platform certificate (PEM).
    Certificate(String),
}

/// Adds a platform public key or certificate to a WeChat Pay account (during the
/// provider's rotation both the old and the new one verify).
pub async fn add_platform_key(
    store: &dyn Store,
    wrapper: &dyn KeyWrapper,
    actor: &str,
    id: &str,
    key: PlatformKey,
) -> Result<MerchantAccount> {
    let a = existing(store, id).await?;
    let mut public = PublicConfig::from_json(id, &a.public_json)?;
    let PublicConfig::Wechatpay {
        platform_public_keys,
        platform_certificates,
        ..
    } = &mut public
    else {
        return Err(AccountAdminError::Invalid(format!(
            "`{id}` is not a WeChat Pay account"
        )));
    };
    let added = match key {
        PlatformKey::PublicKey(k) => {
            if platform_public_keys.iter().any(|x| x.id == k.id) {
                return Err(AccountAdminError::Invalid(format!(
                    "`{id}` already has platform public key {}",
                    k.id
                )));
            }
            let kid = k.id.clone();
            platform_public_keys.push(k);
            kid
        }
        PlatformKey::Certificate(pem) => {
            let serial = Certificate::from_pem(&pem)
                .map_err(|e| AccountAdminError::Invalid(format!("platform certificate: {e}")))?
                .serial_hex;
            if platform_certificates
                .iter()
                .any(|p| certificate_serial_of(p).unwrap_or_else(|_| "?".into()) == serial)
            {
                return Err(AccountAdminError::Invalid(format!(
                    "`{id}` already has platform certificate {serial}"
                )));
            }
            platform_certificates.push(pem);
            serial
        }
    };
    let (_, secret) = newest_secret(store, wrapper, id).await?;
    check_parts(id, &public, &secret)?;
    let now = now_ms();
    let details = json!({"platform_key": added});
    let mut u = base_update(
        &a,
        audit(actor, "merchant_account.add_platform_key", id, details, now),
        now,
    );
    u.public_json = public.to_json()?;
    apply(store, u).await
}

/// Removes a platform public key (by id) or certificate (by serial) from a WeChat Pay
/// account; callbacks signed with it stop verifying. The last one cannot be removed.
pub async fn remove_platform_key(
    store: &dyn Store,
    actor: &str,
    id: &str,
    key_id_or_serial: &str,
) -> Result<MerchantAccount> {
    let a = existing(store, id).await?;
    let mut public = PublicConfig::from_json(id, &a.public_json)?;
    let PublicConfig::Wechatpay {
        platform_public_keys,
        platform_certificates,
        ..
    } = &mut public
    else {
        return Err(AccountAdminError::Invalid(format!(
            "`{id}` is not a WeChat Pay account"
        )));
    };
    let before = platform_public_keys.len() + platform_certificates.len();
    platform_public_keys.retain(|k| k.id != key_id_or_serial);
    platform_certificates.retain(|p| {
        !certificate_serial_of(p)
            .unwrap_or_else(|_| "?".into())
            .eq_ignore_ascii_case(key_id_or_serial)
    });
    let after = platform_public_keys.len() + platform_certificates.len();
    if after == before {
        return Err(AccountAdminError::Invalid(format!(
            "`{id}` has no platform key or certificate `{key_id_or_serial}`"
        )));
    }
    if after == 0 {
        return Err(AccountAdminError::Invalid(format!(
            "`{key_id_or_serial}` is the last platform key of `{id}`: add the new one first"
        )));
    }
    let now = now_ms();
    let details = json!({"platform_key": key_id_or_serial});
    let mut u = base_update(
        &a,
        audit(
            actor,
            "merchant_account.remove_platform_key",
            id,
            details,
            now,
        ),
        now,
    );
    u.public_json = public.to_json()?;
    apply(store, u).await
}

/// The client configuration of one stored account (any status), with the newest
/// unretired key version's secrets.
pub async fn config_for(
    store: &dyn Store,
    wrapper: &dyn KeyWrapper,
    id: &str,
) -> Result<AccountConfig> {
    config_of(store, wrapper, &existing(store, id).await?).await
}

/// [`config_for`] of an account already read.
async fn config_of(
    store: &dyn Store,
    wrapper: &dyn KeyWrapper,
    a: &MerchantAccount,
) -> Result<AccountConfig> {
    let public = PublicConfig::from_json(&a.id, &a.public_json)?;
    let (_, secret) = newest_secret(store, wrapper, &a.id).await?;
    to_config(&a.id, &public, &secret)
}

/// What the database holds for loading.
pub struct StoredConfigs {
    /// The client configurations of every `ACTIVE` stored account that opened.
    pub active: Vec<AccountConfig>,
    /// The id of every stored account, whatever its status: a file or sandbox account
    /// with one of these ids never stands in for it (a disabled account stays disabled).
    pub ids: std::collections::HashSet<String>,
    /// A sentence for each active account that could not be opened (left out).
    pub notes: Vec<String>,
}

/// Reads every stored account for loading.
pub async fn stored_configs(store: &dyn Store, wrapper: &dyn KeyWrapper) -> Result<StoredConfigs> {
    let mut out = StoredConfigs {
        active: Vec::new(),
        ids: std::collections::HashSet::new(),
        notes: Vec::new(),
    };
    for a in store.list_merchant_accounts().await? {
        out.ids.insert(a.id.clone());
        if a.status != MerchantAccountStatus::Active {
            continue;
        }
        match config_of(store, wrapper, &a).await {
            Ok(c) => out.active.push(c),
            Err(e) => out
                .notes
                .push(format!("merchant account `{}` left out: {e}", a.id)),
        }
    }
    Ok(out)
}

/// An account as lists show it: never a secret, no PEM bodies.
pub async fn views(store: &dyn Store, loaded: &MerchantAccounts) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for a in store.list_merchant_accounts().await? {
        let keys = store.merchant_account_keys(&a.id).await?;
        let public = PublicConfig::from_json(&a.id, &a.public_json)
            .map(|p| p.summary())
            .unwrap_or(Value::Null);
        let newest = keys
            .iter()
            .rev()
            .find(|k| k.retired_at_ms.is_none())
            .map(|k| k.key_version);
        out.push(json!({
            "id": a.id, "provider": a.provider.as_str(), "status": a.status.as_str(),
            "source": "database", "loaded": loaded.get(&a.id).is_some(),
            "version": a.version, "created_at_ms": a.created_at_ms,
            "updated_at_ms": a.updated_at_ms, "public": public, "signing_key_version": newest,
            "keys": keys.iter().map(|k| json!({
                "key_version": k.key_version, "created_at_ms": k.created_at_ms,
                "retired_at_ms": k.retired_at_ms,
            })).collect::<Vec<_>>(),
        }));
    }
    Ok(out)
}

/// What a connection test found.
#[derive(Debug, Clone, Serialize)]
pub struct TestOutcome {
    /// Whether the provider took our signed request and its answer verified.
    pub ok: bool,
    /// A sentence for the operator.
    pub detail: String,
    /// How long the call took.
    pub elapsed_ms: u64,
}

/// A harmless signed call: queries a payment number that does not exist. The provider's
/// "not found" proves that it accepted our signature and that its signed answer verified
/// with the platform keys we hold. Changes nothing anywhere.
pub async fn test_connection(account: &Account) -> TestOutcome {
    let probe = format!(
        "pdtest{}",
        paydesk_core::ids::new_id("t")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .rev()
            .take(20)
            .collect::<String>()
    );
    let started = Instant::now();
    let r = account
        .client
        .query_payment(&PaymentRef::AttemptNo(probe.clone()))
        .await;
    let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let (ok, detail) = match r {
        Err(ProviderError::NotFound { provider_code, .. }) => (
            true,
            format!(
                "signed query for the unknown number {probe} answered {provider_code}, \
                 answer verified"
            ),
        ),
        Ok(_) => (
            true,
            format!("signed query for {probe} answered and verified (unexpectedly found)"),
        ),
        Err(e) => (false, e.to_string()),
    };
    TestOutcome {
        ok,
        detail,
        elapsed_ms,
    }
}

/// Records a connection test in the audit log.
pub async fn audit_test(
    store: &dyn Store,
    actor: &str,
    id: &str,
    outcome: &TestOutcome,
) -> Result<()> {
    let details = json!({"ok": outcome.ok, "elapsed_ms": outcome.elapsed_ms});
    let entry = audit(actor, "merchant_account.test", id, details, now_ms());
    store.insert_audit_entry(&entry).await?;
    Ok(())
}

/// Where the instance's merchant accounts come from besides the database, and the
/// database stamp last loaded (held in [`AppState`]).
#[derive(Default)]
pub struct SourcesHolder(Mutex<Option<Sources>>);

impl fmt::Debug for SourcesHolder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SourcesHolder(..)")
    }
}

struct Sources {
    base: Arc<Vec<AccountConfig>>,
    timeouts: CallTimeouts,
    stamp: Option<MerchantAccountsStamp>,
}

async fn load(
    state: &AppState,
    base: &[AccountConfig],
    t: CallTimeouts,
) -> Result<(MerchantAccounts, MerchantAccountsStamp)> {
    // Stamp first: a change during the load makes the next poll load again.
    let stamp = state.store.merchant_accounts_stamp().await?;
    let stored = stored_configs(&*state.store, &state.master_key).await?;
    let mut notes = stored.notes;
    // A stored account, even disabled or unreadable, shadows the base one with its id.
    let (shadowed, base): (Vec<AccountConfig>, Vec<AccountConfig>) = base
        .iter()
        .cloned()
        .partition(|c| stored.ids.contains(c.id()));
    notes.extend(shadowed.iter().map(|c| {
        format!(
            "merchant account `{}` from the database replaces the one from the file or the \
             embedded sandbox",
            c.id()
        )
    }));
    let (accounts, more) = MerchantAccounts::build_merged(&base, &stored.active, t)
        .map_err(|e| AccountAdminError::Invalid(e.to_string()))?;
    notes.extend(more);
    for n in notes {
        tracing::warn!("{n}");
    }
    Ok((accounts, stamp))
}

/// Loads the database's active accounts together with `base` (the file's or the embedded
/// sandbox's; the database wins on an id clash), installs them, and remembers the sources
/// so [`refresh`] can reload. Returns the ids in use.
pub async fn install(
    state: &AppState,
    base: Vec<AccountConfig>,
    timeouts: CallTimeouts,
) -> Result<Vec<String>> {
    let (accounts, stamp) = load(state, &base, timeouts).await?;
    let ids = accounts.ids();
    state.set_merchant_accounts(accounts);
    {
        let mut s = state
            .merchant_account_sources
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *s = Some(Sources {
            base: Arc::new(base),
            timeouts,
            stamp: Some(stamp),
        });
    }
    Ok(ids)
}

/// Reloads the accounts if any stored account changed since the last load; true if it
/// did. Does nothing before [`install`] (e.g. tests that set accounts directly).
pub async fn refresh(state: &AppState) -> Result<bool> {
    let (base, timeouts, last) = {
        let s = state
            .merchant_account_sources
            .0
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let Some(s) = s.as_ref() else {
            return Ok(false);
        };
        (s.base.clone(), s.timeouts, s.stamp)
    };
    let now = state.store.merchant_accounts_stamp().await?;
    if Some(now) == last {
        return Ok(false);
    }
    let (accounts, stamp) = load(state, &base, timeouts).await?;
    tracing::info!(merchant_accounts = ?accounts.ids(), "merchant accounts reloaded");
    state.set_merchant_accounts(accounts);
    if let Some(s) = state
        .merchant_account_sources
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_mut()
    {
        s.stamp = Some(stamp);
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_checked() {
        assert!(check_id("wx-main_2").is_ok());
        for bad in ["", "wx main", "wx/../x", &"x".repeat(65), "ü"] {
            assert!(check_id(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn secrets_debug_redacts() {
        let s = SecretConfig::Alipay {
            app_private_key_pem: "-----BEGIN PRIVATE KEY-----abc".into(),
        };
        assert_eq!(format!("{s:?}"), "SecretConfig(<redacted>)");
        let k = NewKey {
            private_key_pem: "secret-pem".into(),
            apiv3_key: Some("k".repeat(32)),
            ..NewKey::default()
        };
        let d = format!("{k:?}");
        assert!(!d.contains("secret-pem") && !d.contains("kkkk"), "{d}");
    }

    #[test]
    fn provider_mismatch_is_refused() {
        let public = PublicConfig::Alipay {
            gateway_url: "http://x/gateway.do".into(),
            base_url: None,
            app_id: "a".into(),
            seller_id: "2088".into(),
            app_public_key_pem: None,
            alipay_public_key_pem: "p".into(),
        };
        let secret = SecretConfig::Wechatpay {
            merchant_private_key_pem: "k".into(),
            apiv3_key: "v".into(),
        };
        assert!(matches!(
            to_config("a", &public, &secret),
            Err(AccountAdminError::Invalid(_))
        ));
    }
}
