//! Test harness: a paydesk server on a fresh database of any backend, a business line,
//! a signing client, and a business-line notification receiver.
#![allow(dead_code)]

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use paydesk_core::signing::{self, Authorization};
use paydesk_server::config::Config;
use paydesk_server::secrets::MasterKey;
use paydesk_server::state::AppState;
use paydesk_store::testing::fresh;
use paydesk_store::{Backend, Store};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A notification as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Received {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
    pub fn header(&self, name: &str) -> String {
        self.headers.get(name).unwrap().to_str().unwrap().to_owned()
    }
}

/// A business line's notification endpoint. Answers `SUCCESS` except for the first
/// `fail_first` requests (HTTP 500), or always fails while `always_fail` is set.
#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Received>>>,
    pub fail_first: Arc<AtomicUsize>,
    pub always_fail: Arc<std::sync::atomic::AtomicBool>,
    pub url: String,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let mut r = Receiver::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        r.url = format!("http://{}/notify", listener.local_addr().unwrap());
        let app = Router::new()
            .route("/notify", post(receive))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        r
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits (bounded) until `pred` holds for what was received.
    pub async fn wait_for(&self, what: &str, pred: impl Fn(&[Received]) -> bool) -> Vec<Received> {
        for _ in 0..200 {
            let got = self.received();
            if pred(&got) {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("timed out waiting for {what}; got {:?}", self.received());
    }
}

async fn receive(
    State(r): State<Receiver>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, &'static str) {
    r.got.lock().unwrap().push(Received { headers, body });
    if r.always_fail.load(Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "nope");
    }
    let left = r.fail_first.load(Ordering::SeqCst);
    if left > 0 {
        r.fail_first.store(left - 1, Ordering::SeqCst);
        return (StatusCode::INTERNAL_SERVER_ERROR, "try later");
    }
    (StatusCode::OK, "SUCCESS")
}

/// A running paydesk on a fresh database.
pub struct TestApp {
    pub base: String,
    pub app_id: String,
    pub secret: String,
    pub store: Arc<dyn Store>,
    pub state: AppState,
    pub db_url: String,
    pub http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

pub fn test_config() -> Config {
    let mut c = Config::default();
    c.notify.retry_schedule = "200ms,200ms,200ms".into();
    c.notify.poll_interval_ms = 100;
    c.expiry.interval_ms = 100;
    c.log_level = "warn".into();
    c
}

impl TestApp {
    /// Starts paydesk on a fresh `backend` database with a business line whose notify
    /// URL is `notify_url`; `None` when the backend is not configured.
    pub async fn start(backend: Backend, notify_url: &str, config: Config) -> Option<TestApp> {
        let db = fresh(backend).await.expect("test database")?;
        Some(Self::start_on(db.store, db.url, notify_url, config).await)
    }

    pub async fn start_on(
        store: Arc<dyn Store>,
        db_url: String,
        notify_url: &str,
        config: Config,
    ) -> TestApp {
        let key = MasterKey::from_bytes(&[42u8; 32]).unwrap();
        let created = paydesk_server::business_lines::create(
            &*store,
            &key,
            &format!("line{}", paydesk_core::ids::random_hex::<4>()),
            notify_url,
            &["http://127.0.0.1/".into(), "https://shop.example/".into()],
        )
        .await
        .unwrap();
        let mut app = Self::serve(store, db_url, config).await;
        app.app_id = created.line.app_id;
        app.secret = created.secret;
        app
    }

    /// Another instance on the same database (no business line created).
    pub async fn serve(store: Arc<dyn Store>, db_url: String, mut config: Config) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        config.listen = addr.to_string();
        let state = AppState::new(
            store.clone(),
            MasterKey::from_bytes(&[42u8; 32]).unwrap(),
            config,
            paydesk_server::ops::metrics_handle(),
        )
        .unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let s = state.clone();
        tokio::spawn(async move {
            paydesk_server::serve(s, listener, async {
                let _ = rx.await;
            })
            .await
            .unwrap()
        });
        TestApp {
            base: format!("http://{addr}"),
            app_id: String::new(),
            secret: String::new(),
            store,
            state,
            db_url,
            http: reqwest::Client::new(),
            stop: Some(tx),
        }
    }

    /// A client-only copy talking to the same server (dropping it stops nothing).
    pub fn client_view(&self) -> TestApp {
        TestApp {
            base: self.base.clone(),
            app_id: self.app_id.clone(),
            secret: self.secret.clone(),
            store: self.store.clone(),
            state: self.state.clone(),
            db_url: self.db_url.clone(),
            http: self.http.clone(),
            stop: None,
        }
    }

    /// The id of this app's business line.
    pub async fn app_id_line_id(&self) -> String {
        self.store
            .business_line_by_app_id(&self.app_id)
            .await
            .unwrap()
            .unwrap()
            .id
    }

    pub fn now_secs() -> i64 {
        paydesk_server::time::now_ms() / 1000
    }

    pub fn auth(&self, method: &str, target: &str, body: &str) -> String {
        self.auth_at(
            method,
            target,
            body,
            Self::now_secs(),
            &paydesk_core::ids::random_hex::<12>(),
        )
    }

    pub fn auth_at(&self, method: &str, target: &str, body: &str, ts: i64, nonce: &str) -> String {
        Authorization::header_value(
            &self.app_id,
            self.secret.as_bytes(),
            method,
            target,
            ts,
            nonce,
            body.as_bytes(),
        )
    }

    /// A signed request; returns status and JSON body.
    pub async fn call(&self, method: &str, target: &str, body: Option<&str>) -> (u16, Value) {
        let body = body.unwrap_or("");
        let auth = self.auth(method, target, body);
        self.raw(method, target, body, Some(&auth)).await
    }

    /// A request with an explicit Authorization header (or none).
    pub async fn raw(
        &self,
        method: &str,
        target: &str,
        body: &str,
        auth: Option<&str>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut req = self
            .http
            .request(method, format!("{}{}", self.base, target));
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        if !body.is_empty() {
            req = req
                .header("content-type", "application/json")
                .body(body.to_owned());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, json)
    }

    pub async fn create_order(&self, no: &str, amount: i64) -> Value {
        let body = serde_json::json!({"business_order_no": no, "amount": amount, "currency": "CNY", "subject": "test"}).to_string();
        let (status, json) = self.call("POST", "/v1/pay-orders", Some(&body)).await;
        assert_eq!(status, 201, "{json}");
        json
    }

    /// Verifies a notification's signature with this business line's secret.
    pub fn verify_notification(&self, r: &Received) -> bool {
        let msg = signing::notification_string_to_sign(
            &r.header("paydesk-timestamp"),
            &r.header("paydesk-nonce"),
            &r.body,
        );
        signing::verify(self.secret.as_bytes(), &msg, &r.header("paydesk-signature"))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}
