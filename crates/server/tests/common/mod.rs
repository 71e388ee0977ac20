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

// ------------------------------------------------------------------ the acquiring flow

/// Polls `f` every 50 ms until it returns `Ok`, for at most `secs` seconds; panics with
/// `what` and the last `Err` otherwise.
pub async fn eventually<T, F, Fut>(what: &str, secs: u64, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(last) if std::time::Instant::now() >= deadline => {
                panic!("timed out after {secs} s waiting for {what}; last: {last}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

/// An in-process provider sandbox (WeChat Pay and Alipay) on a fresh data directory.
pub struct Sandbox {
    pub base: String,
    pub dir: std::path::PathBuf,
    pub http: reqwest::Client,
    pub running: paydesk_sandbox::RunningSandbox,
}

/// Callback retries and refund settling are divided by this (WeChat's first retry after
/// 150 ms, a WeChat refund settles after 50 ms).
pub const SANDBOX_TIME_SCALE: f64 = 100.0;

impl Sandbox {
    pub async fn start() -> Sandbox {
        let dir = std::env::temp_dir().join(format!(
            "paydesk-flow-{}",
            paydesk_core::ids::random_hex::<8>()
        ));
        let running = paydesk_sandbox::start(paydesk_sandbox::SandboxOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.clone(),
            time_scale: SANDBOX_TIME_SCALE,
            public_url: None,
        })
        .await
        .expect("sandbox starts");
        Sandbox {
            base: running.base_url.clone(),
            dir,
            http: reqwest::Client::new(),
            running,
        }
    }

    /// The embedded merchant accounts (`wx-main`, `ali-main`, `wx-seller-acme`,
    /// `ali-seller-acme`), as `paydesk serve` builds them.
    pub fn accounts(&self) -> paydesk_server::payments::accounts::MerchantAccounts {
        use paydesk_server::payments::accounts::{CallTimeouts, MerchantAccounts};
        let values = paydesk_sandbox::ensure_named_merchants(
            &self.dir,
            paydesk_sandbox::EMBEDDED_ACCOUNTS,
            &self.base,
        )
        .unwrap();
        let configs = MerchantAccounts::parse_configs(Value::Array(values)).unwrap();
        MerchantAccounts::build(
            &configs,
            CallTimeouts {
                timeout_ms: 2_000,
                connect_timeout_ms: 1_000,
            },
        )
        .unwrap()
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The buyer pays `out_trade_no` (`body`: `{}` or the fault options `amount`, `force`).
    pub async fn pay(&self, provider: &str, out_trade_no: &str, body: Value) -> Value {
        let body = if body.is_null() {
            serde_json::json!({})
        } else {
            body
        };
        let (s, v) = self
            .post(
                &format!("/sandbox/orders/{provider}/{out_trade_no}/pay"),
                body,
            )
            .await;
        assert_eq!(s, 200, "sandbox pay {provider} {out_trade_no}: {v}");
        v
    }

    /// One order at the sandbox, `None` when the provider has not heard of it.
    pub async fn order(&self, provider: &str, out_trade_no: &str) -> Option<Value> {
        let (s, v) = self
            .get(&format!("/sandbox/orders/{provider}/{out_trade_no}"))
            .await;
        match s {
            200 => Some(v),
            404 => None,
            _ => panic!("sandbox order {out_trade_no}: {s} {v}"),
        }
    }

    pub async fn orders(&self) -> Vec<Value> {
        let (s, v) = self.get("/sandbox/orders").await;
        assert_eq!(s, 200, "{v}");
        v.as_array().unwrap().clone()
    }

    pub async fn refunds(&self) -> Vec<Value> {
        let (s, v) = self.get("/sandbox/refunds").await;
        assert_eq!(s, 200, "{v}");
        v.as_array().unwrap().clone()
    }

    pub async fn callbacks(&self) -> Vec<Value> {
        let (s, v) = self.get("/sandbox/callbacks").await;
        assert_eq!(s, 200, "{v}");
        v.as_array().unwrap().clone()
    }

    /// `POST /sandbox/faults/calls`.
    pub async fn call_fault(&self, fault: Value) {
        let (s, v) = self.post("/sandbox/faults/calls", fault.clone()).await;
        assert!(s == 200 || s == 201, "call fault {fault}: {s} {v}");
    }

    /// `POST /sandbox/faults/callbacks`.
    pub async fn callback_fault(&self, fault: Value) {
        let (s, v) = self.post("/sandbox/faults/callbacks", fault.clone()).await;
        assert!(s == 200 || s == 201, "callback fault {fault}: {s} {v}");
    }

    pub async fn clear_faults(&self) {
        let resp = self
            .http
            .delete(format!("{}/sandbox/faults", self.base))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// [`test_config`] with a fast acquiring flow: active queries after 200, 300, 500 ms,
/// workers polling every 50 ms, refunds re-sent after 200 ms and queried every 100 ms.
pub fn flow_config() -> Config {
    let mut c = test_config();
    c.payments.query_schedule = "200ms,300ms,500ms".into();
    c.payments.poll_interval_ms = 50;
    c.payments.refund_retry_ms = 200;
    c.payments.refund_query_ms = 100;
    c.payments.provider_timeout_ms = 2_000;
    c.payments.provider_connect_timeout_ms = 1_000;
    c.expiry.interval_ms = 100;
    c.sandbox.embedded = false;
    c
}

/// paydesk with an in-process sandbox and the embedded merchant accounts (the example
/// rules route to them), a business line notifying `receiver`, and an admin operator.
pub struct FlowApp {
    pub app: TestApp,
    pub sandbox: Sandbox,
    pub receiver: Receiver,
    /// Bearer credential of an admin operator.
    pub admin: String,
    /// Every pay order this test created (for the money invariant).
    pub orders: Mutex<Vec<String>>,
}

impl FlowApp {
    /// `None` when `backend` is not configured.
    pub async fn start(backend: Backend) -> Option<FlowApp> {
        Self::start_with(backend, flow_config()).await
    }

    pub async fn start_with(backend: Backend, config: Config) -> Option<FlowApp> {
        let sandbox = Sandbox::start().await;
        let receiver = Receiver::start().await;
        let app = TestApp::start(backend, &receiver.url, config).await?;
        app.state.set_merchant_accounts(sandbox.accounts());
        let admin = paydesk_server::admin::operators::create(
            &*app.store,
            "flow-admin",
            paydesk_store::OperatorRole::Admin,
        )
        .await
        .unwrap()
        .token;
        // serve() loads (or publishes) the example rules before taking traffic.
        let state = app.state.clone();
        eventually("the checkout rules to load", 20, || {
            let loaded = state.rules.current().is_some();
            async move { loaded.then_some(()).ok_or_else(|| "not yet".to_owned()) }
        })
        .await;
        Some(FlowApp {
            app,
            sandbox,
            receiver,
            admin,
            orders: Mutex::new(Vec::new()),
        })
    }

    /// Creates a pay order over the signed API with extra fields (`seller_id`, `facts`...).
    pub async fn create_order_with(&self, no: &str, amount: i64, extra: Value) -> Value {
        let mut body = serde_json::json!({"business_order_no": no, "amount": amount,
            "currency": "CNY", "subject": format!("flow {no}")});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                body[k] = v;
            }
        }
        let (status, order) = self
            .app
            .call("POST", "/v1/pay-orders", Some(&body.to_string()))
            .await;
        assert_eq!(status, 201, "{order}");
        self.orders
            .lock()
            .unwrap()
            .push(order["id"].as_str().unwrap().to_owned());
        order
    }

    pub async fn create_order(&self, no: &str, amount: i64) -> Value {
        self.create_order_with(no, amount, Value::Null).await
    }

    /// The checkout token of an order (the last segment of its `checkout_url`).
    pub fn token(order: &Value) -> String {
        order["checkout_url"]
            .as_str()
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned()
    }

    /// An unsigned request to paydesk (checkout, provider endpoints).
    pub async fn plain(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        self.app.raw(method, path, &body, None).await
    }

    /// `GET /checkout/{token}/options?terminal=`.
    pub async fn options(&self, order: &Value, terminal: &str) -> Value {
        let (s, v) = self
            .plain(
                "GET",
                &format!(
                    "/checkout/{}/options?terminal={terminal}",
                    Self::token(order)
                ),
                None,
            )
            .await;
        assert_eq!(s, 200, "options {terminal}: {v}");
        v
    }

    /// `POST /checkout/{token}/pay`; returns status and body.
    pub async fn try_pay(&self, order: &Value, body: Value) -> (u16, Value) {
        self.plain(
            "POST",
            &format!("/checkout/{}/pay", Self::token(order)),
            Some(body),
        )
        .await
    }

    /// Starts paying with `method` on `terminal` (payer ids and installments filled in as
    /// the method needs); asserts success.
    pub async fn pay(&self, order: &Value, method: &str, terminal: &str) -> Value {
        let body = pay_body(method, terminal, None);
        let (s, v) = self.try_pay(order, body.clone()).await;
        assert_eq!(s, 200, "pay {body}: {v}");
        v
    }

    /// The pay order over the business API.
    pub async fn order(&self, id: &str) -> Value {
        let (s, v) = self
            .app
            .call("GET", &format!("/v1/pay-orders/{id}"), None)
            .await;
        assert_eq!(s, 200, "{v}");
        v
    }

    /// Waits (bounded) until the order has `status`; returns it.
    pub async fn wait_order_status(&self, id: &str, status: &str) -> Value {
        eventually(&format!("order {id} to be {status}"), 15, || async {
            let o = self.order(id).await;
            if o["status"] == status {
                Ok(o)
            } else {
                Err(o.to_string())
            }
        })
        .await
    }

    /// An admin API request with the operator's bearer credential.
    pub async fn admin_get(&self, path: &str) -> (u16, Value) {
        let resp = self
            .app
            .http
            .get(format!("{}{path}", self.app.base))
            .bearer_auth(&self.admin)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `GET /admin/v1/lookup?q=`.
    pub async fn lookup(&self, q: &str) -> Value {
        let (s, v) = self
            .admin_get(&format!("/admin/v1/lookup?q={q}&no_live=true"))
            .await;
        assert_eq!(s, 200, "lookup {q}: {v}");
        v
    }

    /// Makes sure the provider knows the attempt the way a buyer's device would: an
    /// Alipay page/wap trade exists once the browser opens the redirect; an app trade
    /// once the Alipay app submits the order string. Other products exist at once.
    pub async fn buyer_opens(&self, started: &Value) {
        let provider = started["provider"].as_str().unwrap();
        let no = started["attempt_no"].as_str().unwrap();
        if self.sandbox.order(provider, no).await.is_some() {
            return;
        }
        let action = &started["action"];
        match action["type"].as_str() {
            Some("redirect") => {
                let resp = self
                    .sandbox
                    .http
                    .get(action["url"].as_str().unwrap())
                    .send()
                    .await
                    .unwrap();
                assert!(resp.status().is_success(), "redirect: {}", resp.status());
            }
            Some("order_string") => {
                let resp = self
                    .sandbox
                    .http
                    .post(format!("{}/gateway.do", self.sandbox.base))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .body(action["value"].as_str().unwrap().to_owned())
                    .send()
                    .await
                    .unwrap();
                assert!(
                    resp.status().is_success(),
                    "order string: {}",
                    resp.status()
                );
            }
            _ => {}
        }
        assert!(
            self.sandbox.order(provider, no).await.is_some(),
            "the provider knows {no} after the buyer opened it: {started}"
        );
    }

    /// Notifications of `event_type` about pay order `id` (pay order events by
    /// `data.id`, refund events by `data.pay_order_id`), each verified.
    pub fn notifications(&self, event_type: &str, id: &str) -> Vec<Value> {
        self.receiver
            .received()
            .iter()
            .filter(|r| {
                let v = r.json();
                v["type"] == event_type
                    && (v["data"]["id"] == id || v["data"]["pay_order_id"] == id)
            })
            .map(|r| {
                assert!(self.app.verify_notification(r), "notification signature");
                r.json()
            })
            .collect()
    }

    /// Waits for at least one `event_type` notification about `id`.
    pub async fn wait_notification(&self, event_type: &str, id: &str) -> Vec<Value> {
        eventually(&format!("{event_type} for {id}"), 15, || async {
            let got = self.notifications(event_type, id);
            if got.is_empty() {
                Err(format!(
                    "{} notifications so far",
                    self.receiver.received().len()
                ))
            } else {
                Ok(got)
            }
        })
        .await
    }

    /// The money invariant, against the sandbox's own records, waited for (refunds settle
    /// asynchronously) and then asserted:
    /// * every successful provider payment is its order's payment or fully refunded;
    /// * no order is PAID without exactly one successful unflagged attempt whose money
    ///   the provider took, in the order's amount;
    /// * the business line was notified of each outcome (paid, closed, automatic refund,
    ///   business refund).
    pub async fn assert_money_invariant(&self) {
        eventually("the money invariant", 20, || async {
            let problems = self.money_problems().await;
            if problems.is_empty() {
                Ok(())
            } else {
                Err(problems.join("\n"))
            }
        })
        .await;
    }

    /// What an order's captured balance part paid (0 without one).
    pub async fn captured_balance_minor(&self, id: &str) -> i64 {
        match self.app.store.balance_part(id).await.unwrap() {
            Some(p) if p.status == paydesk_core::BalancePartStatus::Captured => p.amount.minor(),
            _ => 0,
        }
    }

    /// What is wrong now with the money invariant (empty: it holds).
    pub async fn money_problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let orders = self.sandbox.orders().await;
        let refunds = self.sandbox.refunds().await;
        let refunded_at = |provider: &str, merchant: &str, no: &str| -> i64 {
            refunds
                .iter()
                .filter(|r| {
                    r["provider"] == provider
                        && r["merchant"] == merchant
                        && r["out_trade_no"] == no
                        && r["status"] == "SUCCESS"
                })
                .map(|r| r["amount"].as_i64().unwrap())
                .sum()
        };
        for o in orders.iter().filter(|o| o["status"] == "PAID") {
            let (provider, merchant, no) = (
                o["provider"].as_str().unwrap(),
                o["merchant"].as_str().unwrap(),
                o["out_trade_no"].as_str().unwrap(),
            );
            let paid = o["paid_amount"]
                .as_i64()
                .unwrap_or(o["total"].as_i64().unwrap());
            let refunded = refunded_at(provider, merchant, no);
            let Some(attempt) = self.app.store.attempt_by_no(no).await.unwrap() else {
                problems.push(format!("provider payment {no} has no attempt"));
                continue;
            };
            let order = self
                .app
                .store
                .pay_order(&attempt.pay_order_id)
                .await
                .unwrap()
                .unwrap();
            let from_balance = self.captured_balance_minor(&order.id).await;
            let is_the_payment = attempt.status == paydesk_core::AttemptStatus::Succeeded
                && attempt.flag.is_none()
                && order.status == paydesk_core::PayOrderStatus::Paid
                && paid == order.amount.minor() - from_balance;
            if !is_the_payment && refunded != paid {
                problems.push(format!(
                    "provider payment {no} of {paid} is not its order's payment (attempt {:?} flag {:?}, order {:?}) and only {refunded} is refunded",
                    attempt.status, attempt.flag, order.status
                ));
            }
            if refunded > paid {
                problems.push(format!("{no}: refunded {refunded} > paid {paid}"));
            }
            if !is_the_payment {
                // An automatic refund: the business line hears of it.
                let auto = self
                    .app
                    .store
                    .refunds_for_pay_order(&order.id)
                    .await
                    .unwrap()
                    .into_iter()
                    .filter(|r| {
                        r.attempt_id == attempt.id && r.kind != paydesk_core::RefundKind::Business
                    })
                    .count();
                let told = self
                    .notifications("pay_order.duplicate_refunded", &order.id)
                    .into_iter()
                    .filter(|n| n["data"]["kind"] != "BUSINESS")
                    .count();
                if auto == 0 || told < auto {
                    problems.push(format!(
                        "{no}: {auto} automatic refunds, {told} pay_order.duplicate_refunded notifications"
                    ));
                }
            }
        }
        let ids = self.orders.lock().unwrap().clone();
        for id in ids {
            let order = self.app.store.pay_order(&id).await.unwrap().unwrap();
            let attempts = self.app.store.attempts_for_pay_order(&id).await.unwrap();
            match order.status {
                paydesk_core::PayOrderStatus::Paid => {
                    // The balance part (COMBINED, BALANCE) is the ledger's; the provider
                    // took the rest, or nothing for a wholly-balance order.
                    let from_balance = self.captured_balance_minor(&id).await;
                    let taken: Vec<_> = attempts
                        .iter()
                        .filter(|a| {
                            a.status == paydesk_core::AttemptStatus::Succeeded && a.flag.is_none()
                        })
                        .collect();
                    let wanted = usize::from(from_balance < order.amount.minor());
                    if taken.len() != wanted {
                        problems.push(format!("{id} PAID with {} payments", taken.len()));
                        continue;
                    }
                    if let Some(a) = taken.first() {
                        let at_provider = orders.iter().find(|o| {
                            o["out_trade_no"] == a.attempt_no.as_str() && o["status"] == "PAID"
                        });
                        match at_provider {
                            None => problems.push(format!(
                                "{id} PAID but the provider has no payment {}",
                                a.attempt_no
                            )),
                            Some(o) => {
                                let paid = o["paid_amount"]
                                    .as_i64()
                                    .unwrap_or(o["total"].as_i64().unwrap());
                                if paid != order.amount.minor() - from_balance {
                                    problems.push(format!(
                                        "{id} PAID by {} of {paid}, order amount {}",
                                        a.attempt_no,
                                        order.amount.minor()
                                    ));
                                }
                            }
                        }
                    }
                    if self.notifications("pay_order.paid", &id).is_empty() {
                        problems.push(format!("{id} PAID, no pay_order.paid notification"));
                    }
                }
                paydesk_core::PayOrderStatus::Closed => {
                    if self.notifications("pay_order.closed", &id).is_empty() {
                        problems.push(format!("{id} CLOSED, no pay_order.closed notification"));
                    }
                }
                paydesk_core::PayOrderStatus::Waiting => {}
            }
            for r in self.app.store.refunds_for_pay_order(&id).await.unwrap() {
                if r.kind != paydesk_core::RefundKind::Business {
                    continue;
                }
                let wanted = match r.status {
                    paydesk_core::RefundStatus::Succeeded => "refund.succeeded",
                    paydesk_core::RefundStatus::Failed => "refund.failed",
                    _ => {
                        problems.push(format!("refund {} still {:?}", r.id, r.status));
                        continue;
                    }
                };
                if !self
                    .notifications(wanted, &id)
                    .iter()
                    .any(|n| n["data"]["id"] == r.id.as_str())
                {
                    problems.push(format!("refund {}: no {wanted} notification", r.id));
                }
            }
        }
        problems
    }
}

/// The `/pay` body for `method` on `terminal`: a WeChat openid for JSAPI, an Alipay buyer
/// id (2088 + 12 digits) in the Alipay mini program, the first installment period (or
/// `periods`) for installments.
pub fn pay_body(method: &str, terminal: &str, periods: Option<u32>) -> Value {
    let mut body = serde_json::json!({"method": method, "terminal": terminal});
    match (method, terminal) {
        ("WECHAT_PAY", "WECHAT_MINI_PROGRAM" | "WECHAT_H5") => {
            body["payer_id"] = Value::String("oFlowTestOpenid000000000001".into());
        }
        (_, "ALIPAY_MINI_PROGRAM") => {
            body["payer_id"] = Value::String("2088000011112222".into());
        }
        _ => {}
    }
    if method == "ALIPAY_INSTALLMENT" {
        body["installment_periods"] = Value::from(periods.unwrap_or(3));
    }
    body
}

/// Operator credentials `alice` (admin) and `victor` (viewer) on `store`.
pub async fn admin_and_viewer(store: &dyn Store) -> (String, String) {
    use paydesk_server::admin::operators;
    use paydesk_store::OperatorRole;
    let admin = operators::create(store, "alice", OperatorRole::Admin)
        .await
        .unwrap()
        .token;
    let viewer = operators::create(store, "victor", OperatorRole::Viewer)
        .await
        .unwrap()
        .token;
    (admin, viewer)
}

/// An admin API request with an operator credential (`""`: none); the answer's status
/// and JSON (or the text as a JSON string).
pub async fn admin_req(
    app: &TestApp,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let body = body.map(|b| b.to_string());
    // An over-limit body goes on its own connection: the server answers 413 and closes
    // without reading the rest, and a pooled connection reused next could race that close.
    let one_shot;
    let client = if body.as_ref().is_some_and(|b| b.len() > 32 * 1024) {
        one_shot = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .unwrap();
        &one_shot
    } else {
        &app.http
    };
    let mut r = client.request(m, format!("{}{path}", app.base));
    if !token.is_empty() {
        r = r.bearer_auth(token);
    }
    if let Some(b) = body {
        r = r.header("content-type", "application/json").body(b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// `per_backend!(a, b)` stamps out, at the test crate's root, one `#[tokio::test]` per
/// backend (`sqlite::a`, `postgres::a`, `mysql::a`, ...) calling `a(Backend::...)`; the
/// PostgreSQL and MariaDB ones return early unless their URL is set (and fail when
/// `PAYDESK_TEST_REQUIRE_SERVERS=1`, as in CI).
#[macro_export]
macro_rules! per_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { super::$name(paydesk_store::Backend::Sqlite).await } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { super::$name(paydesk_store::Backend::Postgres).await } )* }
        mod mysql { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { super::$name(paydesk_store::Backend::MySql).await } )* }
    };
}
