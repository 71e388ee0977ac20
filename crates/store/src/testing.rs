//! Test support (feature `test-support`): a fresh, migrated database per test on any
//! backend. PostgreSQL and MySQL come from `PAYDESK_TEST_POSTGRES_URL` and
//! `PAYDESK_TEST_MYSQL_URL`; without them those backends are reported as NOT TESTED
//! on stderr. With `PAYDESK_TEST_REQUIRE_SERVERS=1` (set by `.ci/run`) a missing URL
//! is a test failure instead.

use crate::{connect, Backend, Result, Store, StoreError};
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

/// Stamps out one `#[tokio::test]` per backend module (`sqlite`, `postgres`, `mysql`) for
/// each named `async fn name(store: Arc<dyn Store>)` of the calling test file, each on a
/// fresh database (see [`fresh`]): `backend_tests!(case_a, case_b);`.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {
        $crate::backend_tests!(@backend sqlite, $crate::Backend::Sqlite, $($name),*);
        $crate::backend_tests!(@backend postgres, $crate::Backend::Postgres, $($name),*);
        $crate::backend_tests!(@backend mysql, $crate::Backend::MySql, $($name),*);
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
                    super::$name(db.store).await;
                }
            )*
        }
    };
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
