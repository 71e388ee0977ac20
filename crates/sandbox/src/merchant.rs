//! Sandbox merchant accounts: created with fresh keys by [`add_merchant`] (the library half
//! of `paydesk sandbox merchant add`), one JSON file each under `DIR/merchants/`, so a
//! running sandbox on the same directory picks a new account up at its first request.

use crate::state::{write_atomically, Provider};
use paydesk_providers::keys::{Certificate, PrivateKey, PublicKey};
use paydesk_providers::wechatpay::sign::ApiV3Key;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

/// How WeChat Pay signs its answers and callbacks for a merchant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum WechatSignMode {
    /// With the platform public key (`Wechatpay-Serial: PUB_KEY_ID_...`), the current scheme.
    #[default]
    PublicKey,
    /// With the platform certificate's key (`Wechatpay-Serial: <certificate serial>`).
    Certificate,
}

/// A WeChat Pay merchant as stored (includes the sandbox's own platform private keys).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WechatMerchantFile {
    /// `mchid`.
    pub mchid: String,
    /// `appid`.
    pub appid: String,
    /// Serial of the merchant API certificate.
    pub merchant_serial_no: String,
    /// Merchant private key (PKCS#8 PEM): the client signs with it.
    pub merchant_private_key_pem: String,
    /// Merchant API certificate (PEM).
    pub merchant_certificate_pem: String,
    /// APIv3 key (32 ASCII characters).
    pub apiv3_key: String,
    /// `PUB_KEY_ID_...` of the platform public key.
    pub platform_public_key_id: String,
    /// Platform public key (SPKI PEM).
    pub platform_public_key_pem: String,
    /// Platform private key behind the public key id (sandbox only).
    pub platform_private_key_pem: String,
    /// Platform certificate serial (upper-case hex).
    pub platform_certificate_serial: String,
    /// Platform certificate (PEM).
    pub platform_certificate_pem: String,
    /// Private key of the platform certificate (sandbox only).
    pub platform_certificate_private_key_pem: String,
    /// Signing mode for answers and callbacks.
    #[serde(default)]
    pub sign_mode: WechatSignMode,
}

/// An Alipay app as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlipayMerchantFile {
    /// `app_id`.
    pub app_id: String,
    /// `seller_id` (the merchant's 2088... partner id).
    pub seller_id: String,
    /// App private key (PKCS#8 PEM): the client signs with it.
    pub app_private_key_pem: String,
    /// App public key (SPKI PEM): the sandbox verifies with it.
    pub app_public_key_pem: String,
    /// Alipay public key (SPKI PEM): the client verifies answers and notifications.
    pub alipay_public_key_pem: String,
    /// Alipay private key (sandbox only).
    pub alipay_private_key_pem: String,
}

/// Everything a client needs for a new merchant, as printed by `merchant add`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum MerchantCredentials {
    /// WeChat Pay.
    Wechatpay {
        /// Base URL to use instead of `https://api.mch.weixin.qq.com`.
        base_url: String,
        /// `mchid`.
        mchid: String,
        /// `appid`.
        appid: String,
        /// Merchant certificate serial (the `serial_no` of `Authorization`).
        merchant_serial_no: String,
        /// Merchant private key (PKCS#8 PEM).
        merchant_private_key_pem: String,
        /// Merchant certificate (PEM).
        merchant_certificate_pem: String,
        /// APIv3 key.
        apiv3_key: String,
        /// Platform public key id.
        platform_public_key_id: String,
        /// Platform public key (PEM).
        platform_public_key_pem: String,
        /// Platform certificate serial.
        platform_certificate_serial: String,
        /// Platform certificate (PEM).
        platform_certificate_pem: String,
    },
    /// Alipay.
    Alipay {
        /// Base URL of the sandbox.
        base_url: String,
        /// Gateway URL to use instead of `https://openapi.alipay.com/gateway.do`.
        gateway_url: String,
        /// `app_id`.
        app_id: String,
        /// `seller_id`.
        seller_id: String,
        /// App private key (PKCS#8 PEM).
        app_private_key_pem: String,
        /// App public key (PEM), as uploaded to Alipay.
        app_public_key_pem: String,
        /// Alipay public key (PEM).
        alipay_public_key_pem: String,
    },
}

fn random_digits(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    bytes.iter().map(|b| char::from(b'0' + b % 10)).collect()
}

fn random_hex_upper(n_bytes: usize) -> String {
    let mut bytes = vec![0u8; n_bytes];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn random_hex_lower(n_bytes: usize) -> String {
    random_hex_upper(n_bytes).to_ascii_lowercase()
}

/// A self-signed certificate for `key` with a random 20-byte serial; returns (PEM, serial hex).
fn certificate_for(key: &PrivateKey, cn: &str) -> anyhow::Result<(String, String)> {
    let pem = key.to_pkcs8_pem()?;
    let kp = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_RSA_SHA256)?;
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn.to_string());
    let mut serial = [0u8; 20];
    aws_lc_rs::rand::fill(&mut serial).map_err(|_| anyhow::anyhow!("no randomness"))?;
    serial[0] &= 0x7f; // positive
    serial[0] |= 0x10; // no leading zero byte, so the hex serial is always 40 digits
    params.serial_number = Some(rcgen::SerialNumber::from_slice(&serial));
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + time::Duration::days(5 * 365);
    let cert_pem = params.self_signed(&kp)?.pem();
    let serial_hex = Certificate::from_pem(&cert_pem)?.serial_hex;
    Ok((cert_pem, serial_hex))
}

fn merchants_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("merchants")
}

/// Ids become file names: digits, letters, `_` and `-` only.
fn safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn merchant_path(data_dir: &Path, provider: Provider, id: &str) -> Option<PathBuf> {
    safe_id(id).then(|| merchants_dir(data_dir).join(format!("{}-{id}.json", provider.as_str())))
}

/// Creates a merchant with fresh RSA-2048 keys (and certificates), stores it under
/// `data_dir/merchants/`, and returns what a client needs. `base_url` is the sandbox's
/// address as clients reach it (e.g. `http://127.0.0.1:8090`).
pub fn add_merchant(
    data_dir: &Path,
    provider: Provider,
    base_url: &str,
) -> anyhow::Result<MerchantCredentials> {
    std::fs::create_dir_all(merchants_dir(data_dir))?;
    let base_url = base_url.trim_end_matches('/').to_string();
    match provider {
        Provider::Wechatpay => {
            let merchant_key = PrivateKey::generate_rsa2048()?;
            let platform_key = PrivateKey::generate_rsa2048()?;
            let cert_key = PrivateKey::generate_rsa2048()?;
            let mchid = format!("19{}", random_digits(8));
            let (merchant_cert, merchant_serial) =
                certificate_for(&merchant_key, &format!("{mchid} sandbox merchant"))?;
            let (platform_cert, platform_serial) =
                certificate_for(&cert_key, "Tenpay.com Root CA (paydesk sandbox)")?;
            let (_, apiv3) = ApiV3Key::generate();
            let file = WechatMerchantFile {
                appid: format!("wx{}", random_hex_lower(8)),
                merchant_serial_no: merchant_serial,
                merchant_private_key_pem: merchant_key.to_pkcs8_pem()?,
                merchant_certificate_pem: merchant_cert,
                apiv3_key: apiv3,
                platform_public_key_id: format!("PUB_KEY_ID_01{}", random_digits(26)),
                platform_public_key_pem: platform_key.public_key()?.to_pem(),
                platform_private_key_pem: platform_key.to_pkcs8_pem()?,
                platform_certificate_serial: platform_serial,
                platform_certificate_pem: platform_cert,
                platform_certificate_private_key_pem: cert_key.to_pkcs8_pem()?,
                sign_mode: WechatSignMode::PublicKey,
                mchid,
            };
            save_wechat(data_dir, &file)?;
            Ok(MerchantCredentials::Wechatpay {
                base_url,
                mchid: file.mchid,
                appid: file.appid,
                merchant_serial_no: file.merchant_serial_no,
                merchant_private_key_pem: file.merchant_private_key_pem,
                merchant_certificate_pem: file.merchant_certificate_pem,
                apiv3_key: file.apiv3_key,
                platform_public_key_id: file.platform_public_key_id,
                platform_public_key_pem: file.platform_public_key_pem,
                platform_certificate_serial: file.platform_certificate_serial,
                platform_certificate_pem: file.platform_certificate_pem,
            })
        }
        Provider::Alipay => {
            let app_key = PrivateKey::generate_rsa2048()?;
            let alipay_key = PrivateKey::generate_rsa2048()?;
            let file = AlipayMerchantFile {
                app_id: format!("2021{}", random_digits(12)),
                seller_id: format!("2088{}", random_digits(12)),
                app_private_key_pem: app_key.to_pkcs8_pem()?,
                app_public_key_pem: app_key.public_key()?.to_pem(),
                alipay_public_key_pem: alipay_key.public_key()?.to_pem(),
                alipay_private_key_pem: alipay_key.to_pkcs8_pem()?,
            };
            let path = merchant_path(data_dir, Provider::Alipay, &file.app_id)
                .ok_or_else(|| anyhow::anyhow!("bad app_id"))?;
            write_atomically(&path, &serde_json::to_vec_pretty(&file)?)?;
            Ok(MerchantCredentials::Alipay {
                gateway_url: format!("{base_url}/gateway.do"),
                base_url,
                app_id: file.app_id,
                seller_id: file.seller_id,
                app_private_key_pem: file.app_private_key_pem,
                app_public_key_pem: file.app_public_key_pem,
                alipay_public_key_pem: file.alipay_public_key_pem,
            })
        }
    }
}

fn save_wechat(data_dir: &Path, file: &WechatMerchantFile) -> anyhow::Result<()> {
    let path = merchant_path(data_dir, Provider::Wechatpay, &file.mchid)
        .ok_or_else(|| anyhow::anyhow!("bad mchid"))?;
    write_atomically(&path, &serde_json::to_vec_pretty(file)?)?;
    Ok(())
}

/// A WeChat merchant with parsed keys.
#[derive(Debug)]
pub struct WechatMerchant {
    /// The stored record.
    pub file: WechatMerchantFile,
    /// Merchant public key (verifies requests).
    pub merchant_public: PublicKey,
    /// Platform key behind the public key id.
    pub platform_key: PrivateKey,
    /// Platform certificate's key.
    pub cert_key: PrivateKey,
    /// APIv3 key.
    pub apiv3: ApiV3Key,
}

impl WechatMerchant {
    /// The key and id that sign answers and callbacks in the current mode.
    pub fn signer(&self) -> (&PrivateKey, &str) {
        match self.file.sign_mode {
            WechatSignMode::PublicKey => (&self.platform_key, &self.file.platform_public_key_id),
            WechatSignMode::Certificate => (&self.cert_key, &self.file.platform_certificate_serial),
        }
    }

    /// The platform private key named by a `Wechatpay-Serial` (for sensitive fields).
    pub fn platform_key_by_id(&self, id: &str) -> Option<&PrivateKey> {
        if id == self.file.platform_public_key_id {
            Some(&self.platform_key)
        } else if id.eq_ignore_ascii_case(&self.file.platform_certificate_serial) {
            Some(&self.cert_key)
        } else {
            None
        }
    }
}

/// An Alipay app with parsed keys.
#[derive(Debug)]
pub struct AlipayMerchant {
    /// The stored record.
    pub file: AlipayMerchantFile,
    /// App public key (verifies requests).
    pub app_public: PublicKey,
    /// Alipay private key (signs answers and notifications).
    pub alipay_key: PrivateKey,
}

/// Merchants loaded from disk, cached; unknown ids are looked up on disk again.
#[derive(Debug, Default)]
pub struct Merchants {
    dir: PathBuf,
    wechat: RwLock<HashMap<String, Arc<WechatMerchant>>>,
    alipay: RwLock<HashMap<String, Arc<AlipayMerchant>>>,
}

impl Merchants {
    /// Merchants of `data_dir`.
    pub fn new(data_dir: &Path) -> Self {
        Merchants {
            dir: data_dir.to_path_buf(),
            ..Merchants::default()
        }
    }

    /// A WeChat merchant by `mchid`.
    pub fn wechat(&self, mchid: &str) -> Option<Arc<WechatMerchant>> {
        if let Some(m) = self.wechat.read().ok()?.get(mchid) {
            return Some(m.clone());
        }
        let path = merchant_path(&self.dir, Provider::Wechatpay, mchid)?;
        let file: WechatMerchantFile = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        let m = Arc::new(load_wechat(file).ok()?);
        self.wechat
            .write()
            .ok()?
            .insert(mchid.to_string(), m.clone());
        Some(m)
    }

    /// An Alipay app by `app_id`.
    pub fn alipay(&self, app_id: &str) -> Option<Arc<AlipayMerchant>> {
        if let Some(m) = self.alipay.read().ok()?.get(app_id) {
            return Some(m.clone());
        }
        let path = merchant_path(&self.dir, Provider::Alipay, app_id)?;
        let file: AlipayMerchantFile = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
        let m = Arc::new(AlipayMerchant {
            app_public: PublicKey::from_pem(&file.app_public_key_pem).ok()?,
            alipay_key: PrivateKey::from_pem(&file.alipay_private_key_pem).ok()?,
            file,
        });
        self.alipay
            .write()
            .ok()?
            .insert(app_id.to_string(), m.clone());
        Some(m)
    }

    /// Changes a WeChat merchant's signing mode (stored).
    pub fn set_wechat_sign_mode(&self, mchid: &str, mode: WechatSignMode) -> anyhow::Result<()> {
        let m = self
            .wechat(mchid)
            .ok_or_else(|| anyhow::anyhow!("no WeChat Pay merchant `{mchid}`"))?;
        let mut file = m.file.clone();
        file.sign_mode = mode;
        save_wechat(&self.dir, &file)?;
        let loaded = Arc::new(load_wechat(file)?);
        if let Ok(mut w) = self.wechat.write() {
            w.insert(mchid.to_string(), loaded);
        }
        Ok(())
    }
}

fn load_wechat(file: WechatMerchantFile) -> anyhow::Result<WechatMerchant> {
    Ok(WechatMerchant {
        merchant_public: PrivateKey::from_pem(&file.merchant_private_key_pem)?.public_key()?,
        platform_key: PrivateKey::from_pem(&file.platform_private_key_pem)?,
        cert_key: PrivateKey::from_pem(&file.platform_certificate_private_key_pem)?,
        apiv3: ApiV3Key::new(&file.apiv3_key)?,
        file,
    })
}

/// The sandbox merchant accounts `paydesk serve` uses by default, under the ids the
/// example checkout rules route to (`examples/rules/marketplace.toml`).
pub const EMBEDDED_ACCOUNTS: &[(&str, Provider)] = &[
    ("wx-main", Provider::Wechatpay),
    ("ali-main", Provider::Alipay),
    ("wx-seller-acme", Provider::Wechatpay),
    ("ali-seller-acme", Provider::Alipay),
];

/// Named sandbox merchants: reads `data_dir/accounts.json` (a JSON array of
/// [`MerchantCredentials`] objects each with an `"id"`), creating the merchants missing
/// from `wanted` with fresh keys, and returns the array with every `base_url` pointed at
/// `base_url` (the port may differ from the last run). The file holds test keys only and
/// is written with mode 0600.
pub fn ensure_named_merchants(
    data_dir: &Path,
    wanted: &[(&str, Provider)],
    base_url: &str,
) -> anyhow::Result<Vec<serde_json::Value>> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join("accounts.json");
    let mut accounts: Vec<serde_json::Value> = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let mut changed = false;
    for (id, provider) in wanted {
        if accounts.iter().any(|a| a["id"] == *id) {
            continue;
        }
        let creds = add_merchant(data_dir, *provider, base_url)?;
        let mut value = serde_json::to_value(creds)?;
        if let Some(obj) = value.as_object_mut() {
            obj.insert("id".into(), serde_json::Value::String((*id).to_owned()));
        }
        accounts.push(value);
        changed = true;
    }
    if changed {
        write_atomically(&path, &serde_json::to_vec_pretty(&accounts)?)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    let base = base_url.trim_end_matches('/');
    for a in &mut accounts {
        if let Some(obj) = a.as_object_mut() {
            obj.insert(
                "base_url".into(),
                serde_json::Value::String(base.to_owned()),
            );
            if obj.contains_key("gateway_url") {
                obj.insert(
                    "gateway_url".into(),
                    serde_json::Value::String(format!("{base}/gateway.do")),
                );
            }
        }
    }
    Ok(accounts)
}
