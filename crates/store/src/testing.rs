//! Test support (feature `test-support`): a fresh, migrated database per test on any
//! backend. PostgreSQL and MySQL come from `PAYDESK_TEST_POSTGRES_URL` and
//! `PAYDESK_TEST_MYSQL_URL`; without them those backends are reported as NOT TESTED
//! on stderr. With `PAYDESK_TEST_REQUIRE_SERVERS=1` (set by `.ci/run`) a missing URL
//! is a test failure instead.

use crate::{connect, Backend, Result, Store, StoreError, TieredStore};
use sqlx::Connection;
use std::sync::Arc;

/// A migrated database made for one test.
pub struct TestDb {
    /// The store on it.
    pub store: Arc<dyn Store>,
    /// Its URL (to open it again, e.g. from a child process).
    pub url: String,
    /// Its backend.
    pub backend: Backend,
}

/// The environment variable naming a server for a backend.
pub fn env_var(backend: Backend) -> Option<&'static str> {
    match backend {
        Backend::Sqlite => None,
        Backend::Postgres => Some("PAYDESK_TEST_POSTGRES_URL"),
        Backend::MySql => Some("PAYDESK_TEST_MYSQL_URL"),
    }
}

/// Replaces the database name in a server URL.
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// A fresh migrated database on `backend`, or `None` (after a loud warning) when the
/// backend's server is not configured.
///
/// # Panics
/// When `PAYDESK_TEST_REQUIRE_SERVERS=1` and the server is not configured: CI must
/// never pass by skipping a backend.
pub async fn fresh(backend: Backend) -> Result<Option<TestDb>> {
    let name = format!("paydesk_t_{}", uuid::Uuid::now_v7().simple());
    let url = match backend {
        Backend::Sqlite => {
            let path = std::env::temp_dir().join(format!("{name}.db"));
            format!("sqlite:{}", path.display())
        }
        Backend::Postgres | Backend::MySql => {
            let var = env_var(backend).unwrap_or_default();
            let Ok(admin) = std::env::var(var) else {
                let required = std::env::var("PAYDESK_TEST_REQUIRE_SERVERS").as_deref() == Ok("1");
                assert!(
                    !required,
                    "{var} is not set but PAYDESK_TEST_REQUIRE_SERVERS=1: {} must be tested",
                    backend.name()
                );
                warn_untested(backend, var);
                return Ok(None);
            };
            let create = format!("CREATE DATABASE {name}");
            match backend {
                Backend::Postgres => {
                    let mut c = sqlx::PgConnection::connect(&admin).await?;
                    sqlx::query(&create).execute(&mut c).await?;
                    c.close().await?;
                }
                _ => {
                    let mut c = sqlx::MySqlConnection::connect(&admin).await?;
                    sqlx::query(&format!("{create} CHARACTER SET utf8mb4"))
                        .execute(&mut c)
                        .await?;
                    c.close().await?;
                }
            }
            with_database(&admin, &name)
        }
    };
    let store = connect(&url, 16).await?;
    store.migrate().await?;
    if store.backend() != backend {
        return Err(StoreError::Config("backend mismatch".into()));
    }
    Ok(Some(TestDb {
        store,
        url,
        backend,
    }))
}

/// Says once per process and backend, on the real stderr (libtest captures only the
/// print macros, so this shows even when every test passes), that a backend was skipped.
fn warn_untested(backend: Backend, var: &str) {
    use std::io::Write;
    use std::sync::Mutex;
    static SAID: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    let Ok(mut said) = SAID.lock() else { return };
    if said.contains(&backend.name()) {
        return;
    }
    said.push(backend.name());
    let _ = writeln!(
        std::io::stderr().lock(),
        "\n*** WARNING: {var} is not set: the {} backend was NOT TESTED by this run ***\n",
        backend.name()
    );
}

/// A [`TieredStore`] over two fresh migrated SQLite databases, with nothing archived: it
/// must behave exactly like its hot store.
pub struct TieredDb {
    /// The tiered store.
    pub store: Arc<dyn Store>,
    /// Its hot tier.
    pub hot: Arc<dyn Store>,
    /// Its cold tier.
    pub cold: Arc<dyn Store>,
}

/// A fresh [`TieredDb`] (SQLite always runs, so this never skips).
pub async fn fresh_tiered() -> Result<TieredDb> {
    let sqlite = || async {
        fresh(Backend::Sqlite)
            .await?
            .map(|db| db.store)
            .ok_or_else(|| StoreError::Config("SQLite is always available".into()))
    };
    let (hot, cold) = (sqlite().await?, sqlite().await?);
    Ok(TieredDb {
        store: Arc::new(TieredStore::new(hot.clone(), cold.clone())),
        hot,
        cold,
    })
}

/// What a case of [`backend_tests!`](crate::backend_tests) takes: the store, or the whole
/// [`TestDb`] when it needs more (e.g. its URL, to open a second pool).
impl From<TestDb> for Arc<dyn Store> {
    fn from(db: TestDb) -> Self {
        db.store
    }
}

/// Stamps out one `#[tokio::test]` per backend module (`sqlite`, `postgres`, `mysql`) for
/// each named `async fn name(store: Arc<dyn Store>)` (or `async fn name(db: TestDb)`) of
/// the calling module, each on a fresh database (see [`fresh`]):
/// `backend_tests!(case_a, case_b);`.
///
/// `backend_tests!(tiered: case_a, case_b);` stamps out, in the calling module itself
/// (conventionally `mod tiered { ... }`), one `#[tokio::test]` per named
/// `async fn name(store: Arc<dyn Store>)` of its parent module, each on a fresh
/// [`TieredDb`] (see [`fresh_tiered`]).
#[macro_export]
macro_rules! backend_tests {
    (tiered: $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                let db = $crate::testing::fresh_tiered().await.expect("tiered test databases");
                super::$name(db.store).await;
            }
        )*
    };
    (@backend $module:ident, $backend:expr, $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let Some(db) = $crate::testing::fresh($backend).await.expect("test database")
                    else {
                        return;
                    };
                    super::$name(::std::convert::From::from(db)).await;
                }
            )*
        }
    };
    ($($name:ident),* $(,)?) => {
        $crate::backend_tests!(@backend sqlite, $crate::Backend::Sqlite, $($name),*);
        $crate::backend_tests!(@backend postgres, $crate::Backend::Postgres, $($name),*);
        $crate::backend_tests!(@backend mysql, $crate::Backend::MySql, $($name),*);
    };
}

/// Record builders shared by the contract tests: a business line, a waiting pay order, an
/// attempt, a payment success, a business refund and the like, with fixed, unremarkable
/// values (CNY, `wx-main` on WeChat Pay, orders created at [`CREATED_AT`](fixtures::CREATED_AT)
/// expiring at [`EXPIRE_AT`](fixtures::EXPIRE_AT)). They panic on any unexpected outcome:
/// they are for tests only.
pub mod fixtures {
    use crate::*;
    use paydesk_core::{ids, Amount, Currency, EventType, Provider, RefundKind, RefundStatus};

    /// When [`waiting_order`] creates its orders.
    pub const CREATED_AT: i64 = 10_000;
    /// When [`waiting_order`]'s orders expire.
    pub const EXPIRE_AT: i64 = 1_000_000;

    /// An active business line named `name` with fresh ids (not stored).
    pub fn line(name: &str) -> BusinessLine {
        BusinessLine {
            id: ids::new_id(ids::BUSINESS_LINE),
            app_id: ids::new_id(ids::APP),
            name: name.to_owned(),
            secret_ciphertext: "ciphertext".into(),
            notify_url: "http://127.0.0.1:9/notify".into(),
            allowed_url_prefixes: vec!["http://127.0.0.1:9/".into()],
            status: BusinessLineStatus::Active,
            created_at_ms: 1_000,
        }
    }

    /// `minor` fen.
    pub fn cny(minor: i64) -> Amount {
        Amount::new(minor, Currency::CNY).unwrap()
    }

    /// A [`line`](fn@line) with a fresh name, stored.
    pub async fn new_line(store: &dyn Store) -> BusinessLine {
        let l = line(&ids::new_id("name"));
        store.insert_business_line(&l).await.unwrap();
        l
    }

    /// A new `WAITING` pay order of `amount_minor` fen for `line`, stored.
    pub async fn waiting_order(
        store: &dyn Store,
        line: &BusinessLine,
        amount_minor: i64,
    ) -> PayOrder {
        let o = NewPayOrder {
            id: ids::new_id(ids::PAY_ORDER),
            business_line_id: line.id.clone(),
            business_order_no: ids::new_id("SO"),
            amount: cny(amount_minor),
            subject: "票 — ticket 🎫".into(),
            buyer_id: Some("buyer-1".into()),
            seller_id: None,
            facts_json: "{}".into(),
            metadata_json: "{}".into(),
            notify_url: line.notify_url.clone(),
            return_url: None,
            checkout_token: ids::random_token::<32>(),
            created_at_ms: CREATED_AT,
            expire_at_ms: EXPIRE_AT,
        };
        match store.create_pay_order(&o).await.unwrap() {
            CreateOutcome::Created(p) => p,
            other => panic!("{other:?}"),
        }
    }

    /// An attempt at `order`'s whole amount with a fresh number, made at `at_ms` (not
    /// stored).
    pub fn new_attempt(order: &PayOrder, at_ms: i64) -> NewAttempt {
        NewAttempt {
            id: ids::new_id(ids::ATTEMPT),
            pay_order_id: order.id.clone(),
            attempt_no: ids::random_hex::<12>(),
            merchant_account: "wx-main".into(),
            provider: Provider::Wechatpay,
            method: "WECHAT_PAY".into(),
            product: "NATIVE".into(),
            amount: order.amount,
            created_at_ms: at_ms,
            next_query_at_ms: at_ms + 5_000,
        }
    }

    /// Stores `a`, which must be created (at most 10 attempts per order).
    pub async fn attempt_created(store: &dyn Store, a: &NewAttempt) -> Attempt {
        match store.create_attempt(a, 10).await.unwrap() {
            CreateAttemptOutcome::Created(x) => x,
            other => panic!("{other:?}"),
        }
    }

    /// An outbox event of type `t` about `order` (not stored).
    pub fn event(order: &PayOrder, t: EventType, at_ms: i64) -> NewEvent {
        NewEvent {
            id: ids::new_id(ids::EVENT),
            business_line_id: order.business_line_id.clone(),
            pay_order_id: Some(order.id.clone()),
            event_type: t,
            payload_json: format!(r#"{{"id":"{}","type":"{}"}}"#, order.id, t.as_str()),
            notify_url: order.notify_url.clone(),
            created_at_ms: at_ms,
        }
    }

    /// The provider's word that `a` was paid `paid_minor`, recorded at `now_ms`, with the
    /// automatic refund to record should it not be the order's payment.
    pub fn success(order: &PayOrder, a: &Attempt, paid_minor: i64, now_ms: i64) -> PaymentSuccess {
        PaymentSuccess {
            attempt_id: a.id.clone(),
            provider_txn_id: Some(format!("wx-{}", a.attempt_no)),
            paid_amount_minor: paid_minor,
            paid_at_ms: now_ms - 100,
            now_ms,
            paid_event: event(order, EventType::PayOrderPaid, now_ms),
            auto_refund: NewRefund {
                id: ids::new_id("rf"),
                pay_order_id: order.id.clone(),
                attempt_id: a.id.clone(),
                refund_no: ids::random_hex::<12>(),
                business_refund_no: None,
                kind: RefundKind::Duplicate,
                amount: Amount::new(paid_minor.max(0), a.amount.currency()).unwrap(),
                reason: Some("not this order's payment".into()),
                created_at_ms: now_ms,
                funds: paydesk_core::RefundFunds::default(),
            },
            hold_amount_mismatch: false,
        }
    }

    /// A paid order of `amount_minor` (on a new line) and the attempt that paid it.
    pub async fn paid_order(store: &dyn Store, amount_minor: i64) -> (PayOrder, Attempt) {
        let l = new_line(store).await;
        let o = waiting_order(store, &l, amount_minor).await;
        let a = attempt_created(store, &new_attempt(&o, 11_000)).await;
        match store
            .record_payment_success(&success(&o, &a, amount_minor, 13_000))
            .await
            .unwrap()
        {
            PaymentOutcome::Paid { order, attempt } => (order, attempt),
            other => panic!("{other:?}"),
        }
    }

    /// A business refund of `minor` fen numbered `no` against `a` (not stored).
    pub fn business_refund(order: &PayOrder, a: &Attempt, no: &str, minor: i64) -> NewRefund {
        NewRefund {
            id: ids::new_id("rf"),
            pay_order_id: order.id.clone(),
            attempt_id: a.id.clone(),
            refund_no: ids::random_hex::<12>(),
            business_refund_no: Some(no.to_owned()),
            kind: RefundKind::Business,
            amount: cny(minor),
            reason: Some("buyer returned it".into()),
            created_at_ms: 20_000,
            funds: paydesk_core::RefundFunds::default(),
        }
    }

    /// Moves `r` to `status` at `now_ms`, counting a try and changing nothing else.
    pub fn refund_to(r: &Refund, status: RefundStatus, now_ms: i64) -> RefundUpdate {
        RefundUpdate {
            expected_version: r.version,
            status,
            provider_refund_id: None,
            count_try: true,
            next_action_at_ms: None,
            last_error: None,
            succeeded_at_ms: None,
            now_ms,
            event: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::with_database;
    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            with_database("mysql://root@h:3306/test?ssl-mode=disabled", "x"),
            "mysql://root@h:3306/x?ssl-mode=disabled"
        );
        assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
    }
}
