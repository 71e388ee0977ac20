//! Embedded per-backend migrations, run through sqlx's migrator (which takes a database
//! lock, so several instances starting together apply each migration once).

use crate::Backend;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

/// `(version, description, sql)` per backend, in order. Add a file to each backend's
/// folder and a line to each list; never edit an applied file (its checksum is stored).
const SQLITE: &[(i64, &str, &str)] = &[
    (
        1,
        "core",
        include_str!("../migrations/sqlite/0001_core.sql"),
    ),
    (
        2,
        "rules",
        include_str!("../migrations/sqlite/0002_rules.sql"),
    ),
    (
        3,
        "payments",
        include_str!("../migrations/sqlite/0003_payments.sql"),
    ),
    (
        4,
        "merchant_accounts",
        include_str!("../migrations/sqlite/0004_merchant_accounts.sql"),
    ),
    (
        5,
        "console",
        include_str!("../migrations/sqlite/0005_console.sql"),
    ),
    (
        6,
        "ledger",
        include_str!("../migrations/sqlite/0006_ledger.sql"),
    ),
    (
        7,
        "reconciliation",
        include_str!("../migrations/sqlite/0007_reconciliation.sql"),
    ),
    (
        8,
        "payouts",
        include_str!("../migrations/sqlite/0008_payouts.sql"),
    ),
    (
        9,
        "approvals",
        include_str!("../migrations/sqlite/0009_approvals.sql"),
    ),
    (
        10,
        "balance_payments",
        include_str!("../migrations/sqlite/0010_balance_payments.sql"),
    ),
];
const POSTGRES: &[(i64, &str, &str)] = &[
    (
        1,
        "core",
        include_str!("../migrations/postgres/0001_core.sql"),
    ),
    (
        2,
        "rules",
        include_str!("../migrations/postgres/0002_rules.sql"),
    ),
    (
        3,
        "payments",
        include_str!("../migrations/postgres/0003_payments.sql"),
    ),
    (
        4,
        "merchant_accounts",
        include_str!("../migrations/postgres/0004_merchant_accounts.sql"),
    ),
    (
        5,
        "console",
        include_str!("../migrations/postgres/0005_console.sql"),
    ),
    (
        6,
        "ledger",
        include_str!("../migrations/postgres/0006_ledger.sql"),
    ),
    (
        7,
        "reconciliation",
        include_str!("../migrations/postgres/0007_reconciliation.sql"),
    ),
    (
        8,
        "payouts",
        include_str!("../migrations/postgres/0008_payouts.sql"),
    ),
    (
        9,
        "approvals",
        include_str!("../migrations/postgres/0009_approvals.sql"),
    ),
    (
        10,
        "balance_payments",
        include_str!("../migrations/postgres/0010_balance_payments.sql"),
    ),
];
const MYSQL: &[(i64, &str, &str)] = &[
    (1, "core", include_str!("../migrations/mysql/0001_core.sql")),
    (
        2,
        "rules",
        include_str!("../migrations/mysql/0002_rules.sql"),
    ),
    (
        3,
        "payments",
        include_str!("../migrations/mysql/0003_payments.sql"),
    ),
    (
        4,
        "merchant_accounts",
        include_str!("../migrations/mysql/0004_merchant_accounts.sql"),
    ),
    (
        5,
        "console",
        include_str!("../migrations/mysql/0005_console.sql"),
    ),
    (
        6,
        "ledger",
        include_str!("../migrations/mysql/0006_ledger.sql"),
    ),
    (
        7,
        "reconciliation",
        include_str!("../migrations/mysql/0007_reconciliation.sql"),
    ),
    (
        8,
        "payouts",
        include_str!("../migrations/mysql/0008_payouts.sql"),
    ),
    (
        9,
        "approvals",
        include_str!("../migrations/mysql/0009_approvals.sql"),
    ),
    (
        10,
        "balance_payments",
        include_str!("../migrations/mysql/0010_balance_payments.sql"),
    ),
];

#[derive(Debug)]
struct Embedded(Backend);

impl MigrationSource<'static> for Embedded {
    fn resolve(
        self,
    ) -> Pin<
        Box<
            dyn Future<Output = Result<Vec<Migration>, Box<dyn std::error::Error + Send + Sync>>>
                + Send,
        >,
    > {
        let list = match self.0 {
            Backend::Sqlite => SQLITE,
            Backend::Postgres => POSTGRES,
            Backend::MySql => MYSQL,
        };
        let migrations = list
            .iter()
            .map(|&(version, desc, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(desc),
                    MigrationType::Simple,
                    Cow::Borrowed(sql),
                    false,
                )
            })
            .collect();
        Box::pin(async move { Ok(migrations) })
    }
}

/// The migrator for a backend.
pub(crate) async fn migrator(backend: Backend) -> Result<Migrator, sqlx::migrate::MigrateError> {
    Migrator::new(Embedded(backend)).await
}
