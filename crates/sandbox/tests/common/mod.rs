//! Shared test harness: a sandbox on 127.0.0.1:0 in a fresh directory, merchants, the real
//! adapters configured from `merchant add` output, and a callback receiver.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use paydesk_core::money::{Amount, Currency};
use paydesk_providers::alipay::client::{AlipayClient, AlipayConfig};
use paydesk_providers::keys::{KeyRing, PrivateKey, PublicKey};
use paydesk_providers::model::{CreatePayment, IncomingNotification, MethodParams, Product};
use paydesk_providers::wechatpay::client::{WechatPayClient, WechatPayConfig};
use paydesk_providers::wechatpay::sign::ApiV3Key;
use paydesk_sandbox::{MerchantCredentials, Provider, RunningSandbox, SandboxOptions};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// Delays are divided by this in tests: WeChat's 15 s first retry becomes 15 ms.
pub const TIME_SCALE: f64 = 1000.0;

pub fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "paydesk-sandbox-test-{name}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        OffsetDateTime::now_utc().unix_timestamp_nanos() % 1_000_000_000
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub async fn start_in(dir: &std::path::Path) -> RunningSandbox {
    paydesk_sandbox::start(SandboxOptions {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.to_path_buf(),
        time_scale: TIME_SCALE,
        public_url: None,
    })
    .await
    .unwrap()
}

/// Removes a test directory when the test ends.
pub struct Cleanup(pub PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Env {
    pub dir: PathBuf,
    pub sandbox: RunningSandbox,
    pub http: reqwest::Client,
    _cleanup: Cleanup,
}

impl Env {
    pub async fn new(name: &str) -> Env {
        let dir = temp_dir(name);
        let sandbox = start_in(&dir).await;
        Env {
            _cleanup: Cleanup(dir.clone()),
            dir,
            sandbox,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.sandbox.base_url)
    }

    pub fn merchant(&self, provider: Provider) -> MerchantCredentials {
        paydesk_sandbox::add_merchant(&self.dir, provider, &self.sandbox.base_url).unwrap()
    }

    pub async fn control(
        &self,
        method: &str,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let req = match method {
            "GET" => self.http.get(self.url(path)),
            "DELETE" => self.http.delete(self.url(path)),
            _ => self.http.post(self.url(path)).json(&body),
        };
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    pub async fn pay(
        &self,
        provider: &str,
        no: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let (s, v) = self
            .control(
                "POST",
                &format!("/sandbox/orders/{provider}/{no}/pay"),
                body,
            )
            .await;
        assert_eq!(s, 200, "pay {no}: {v}");
        v
    }

    pub async fn callbacks(&self, subject: &str) -> Vec<serde_json::Value> {
        let (_, v) = self
            .control(
                "GET",
                &format!("/sandbox/callbacks?subject={subject}"),
                serde_json::Value::Null,
            )
            .await;
        v.as_array().cloned().unwrap_or_default()
    }
}

pub struct WechatSetup {
    pub client: WechatPayClient,
    pub mchid: String,
    pub appid: String,
    pub serial: String,
    pub merchant_key_pem: String,
    pub apiv3: String,
    pub platform_public_key_id: String,
    pub platform_public_key_pem: String,
    pub platform_certificate_pem: String,
    pub platform_certificate_serial: String,
}

pub fn wechat_config(c: &MerchantCredentials) -> WechatPayConfig {
    let MerchantCredentials::Wechatpay {
        base_url,
        mchid,
        appid,
        merchant_serial_no,
        merchant_private_key_pem,
        apiv3_key,
        platform_public_key_id,
        platform_public_key_pem,
        platform_certificate_pem,
        ..
    } = c
    else {
        panic!("not wechat")
    };
    let mut ring = KeyRing::new();
    ring.insert_public_key_pem(platform_public_key_id, platform_public_key_pem)
        .unwrap();
    ring.insert_certificate_pem(platform_certificate_pem)
        .unwrap();
    let mut cfg = WechatPayConfig::new(
        mchid,
        appid,
        merchant_serial_no,
        PrivateKey::from_pem(merchant_private_key_pem).unwrap(),
        ApiV3Key::new(apiv3_key).unwrap(),
        ring,
    );
    cfg.base_url = base_url.clone();
    cfg.timeout_ms = 3000;
    cfg.transfer_scene_id = Some("1000".into());
    cfg.sensitive_key_id = Some(platform_public_key_id.clone());
    cfg
}

pub fn wechat(env: &Env) -> WechatSetup {
    let c = env.merchant(Provider::Wechatpay);
    let client = WechatPayClient::new(wechat_config(&c)).unwrap();
    let MerchantCredentials::Wechatpay {
        mchid,
        appid,
        merchant_serial_no,
        merchant_private_key_pem,
        apiv3_key,
        platform_public_key_id,
        platform_public_key_pem,
        platform_certificate_pem,
        platform_certificate_serial,
        ..
    } = c
    else {
        unreachable!()
    };
    WechatSetup {
        client,
        mchid,
        appid,
        serial: merchant_serial_no,
        merchant_key_pem: merchant_private_key_pem,
        apiv3: apiv3_key,
        platform_public_key_id,
        platform_public_key_pem,
        platform_certificate_pem,
        platform_certificate_serial,
    }
}

pub struct AlipaySetup {
    pub client: AlipayClient,
    pub app_id: String,
    pub seller_id: String,
    pub app_key_pem: String,
    pub alipay_public_key_pem: String,
}

pub fn alipay_config(c: &MerchantCredentials) -> AlipayConfig {
    let MerchantCredentials::Alipay {
        gateway_url,
        app_id,
        seller_id,
        app_private_key_pem,
        alipay_public_key_pem,
        ..
    } = c
    else {
        panic!("not alipay")
    };
    let mut cfg = AlipayConfig::new(
        app_id,
        PrivateKey::from_pem(app_private_key_pem).unwrap(),
        PublicKey::from_pem(alipay_public_key_pem).unwrap(),
    );
    cfg.gateway_url = gateway_url.clone();
    cfg.seller_id = Some(seller_id.clone());
    cfg.timeout_ms = 3000;
    cfg
}

pub fn alipay(env: &Env) -> AlipaySetup {
    let c = env.merchant(Provider::Alipay);
    let client = AlipayClient::new(alipay_config(&c)).unwrap();
    let MerchantCredentials::Alipay {
        app_id,
        seller_id,
        app_private_key_pem,
        alipay_public_key_pem,
        ..
    } = c
    else {
        unreachable!()
    };
    AlipaySetup {
        client,
        app_id,
        seller_id,
        app_key_pem: app_private_key_pem,
        alipay_public_key_pem,
    }
}

pub fn cny(fen: i64) -> Amount {
    Amount::new(fen, Currency::CNY).unwrap()
}

pub fn payment(no: &str, fen: i64, product: Product, notify_url: &str) -> CreatePayment {
    CreatePayment {
        attempt_no: no.into(),
        amount: cny(fen),
        subject: "Concert ticket".into(),
        product,
        payer_id: Some(match product {
            Product::Jsapi => "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o".into(),
            _ => "2088102177846880".into(),
        }),
        expires_at: OffsetDateTime::now_utc() + time::Duration::minutes(30),
        notify_url: notify_url.into(),
        return_url: Some("https://shop.example/return".into()),
        client_ip: Some("203.0.113.7".into()),
        passback: Some("po_1 a&b".into()),
        method_params: MethodParams::default(),
    }
}

/// Records callbacks; answers failure for the first `fail_first` of them.
#[derive(Clone, Default)]
pub struct Receiver {
    pub base_url: String,
    pub got: Arc<Mutex<Vec<(String, IncomingNotification, i64)>>>,
    pub fail_first: Arc<AtomicUsize>,
}

async fn receive(
    State(r): State<Receiver>,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let incoming = IncomingNotification {
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
            .collect(),
        body: body.to_vec(),
    };
    let now_ms = (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    r.got.lock().unwrap().push((name.clone(), incoming, now_ms));
    let fail = r
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    match (name.starts_with("alipay"), fail) {
        (true, true) => (StatusCode::OK, "fail").into_response(),
        (true, false) => (StatusCode::OK, "success").into_response(),
        (false, true) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            r#"{"code":"FAIL","message":"busy"}"#,
        )
            .into_response(),
        (false, false) => StatusCode::NO_CONTENT.into_response(),
    }
}

impl Receiver {
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut r = Receiver {
            base_url: format!("http://{}", listener.local_addr().unwrap()),
            ..Receiver::default()
        };
        r.base_url = r.base_url.clone();
        let app = Router::new()
            .route("/notify/{name}", post(receive))
            .with_state(r.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        r
    }

    pub fn url(&self, name: &str) -> String {
        format!("{}/notify/{name}", self.base_url)
    }

    pub fn of(&self, name: &str) -> Vec<(IncomingNotification, i64)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(n, _, _)| n == name)
            .map(|(_, i, t)| (i.clone(), *t))
            .collect()
    }

    /// Waits until `name` got at least `n` callbacks.
    pub async fn wait(&self, name: &str, n: usize) -> Vec<(IncomingNotification, i64)> {
        for _ in 0..500 {
            let got = self.of(name);
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "{name}: expected {n} callbacks, got {}",
            self.of(name).len()
        );
    }
}

pub fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}
