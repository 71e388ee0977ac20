//! The one SQL implementation of [`Store`], stamped out for each sqlx driver by
//! `impl_store!`. Everything inside the macro is written once; the three backends
//! differ only in connection setup and how a write transaction begins.

use crate::error::{is_unique_violation, ConflictOnUnique, Result, StoreError};
use crate::queries::Queries;
use crate::*;
use async_trait::async_trait;
use paydesk_core::transition::StateMachine;
use paydesk_core::{Amount, Currency, EventType, PayOrderStatus};
use sqlx::mysql::{MySql, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgPoolOptions, PgRow, Postgres};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Pool, Row, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// How many times a transaction that lost a deadlock or busy race is retried.
pub(crate) const MAX_TX_RETRIES: u32 = 5;

/// SQLite store: the embedded default.
///
/// SQLite admits one writer at a time. Writes go through a one-connection pool, so
/// writers queue fairly on the pool instead of spinning in SQLite's busy handler (which
/// sleeps with back-off and gave 100 ms tails under 16 concurrent writers); reads use
/// their own pool and never wait for writers (WAL).
pub struct SqliteStore {
    pub(crate) pool: Pool<Sqlite>,
    writer: Pool<Sqlite>,
    pub(crate) q: Queries,
}

/// PostgreSQL store.
pub struct PostgresStore {
    pub(crate) pool: Pool<Postgres>,
    pub(crate) q: Queries,
}

/// MySQL / MariaDB / TiDB store.
pub struct MySqlStore {
    pub(crate) pool: Pool<MySql>,
    pub(crate) q: Queries,
}

impl SqliteStore {
    /// Opens (creating if missing) an SQLite database in WAL mode.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL is durable across application crashes; an OS crash can lose
            // the last commits, the documented trade-off of the embedded default.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.clone())
            .await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections.max(1))
            .connect_with(opts)
            .await?;
        Ok(SqliteStore {
            pool,
            writer,
            q: Queries::new(Backend::Sqlite),
        })
    }

    /// `BEGIN IMMEDIATE`: take the write lock up front, so another process writing the
    /// same file makes us wait on the busy timeout rather than fail on a lock upgrade.
    pub(crate) async fn write_tx(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.writer.begin_with("BEGIN IMMEDIATE").await?)
    }

    pub(crate) fn w(&self) -> &Pool<Sqlite> {
        &self.writer
    }
}

impl PostgresStore {
    /// Connects a pool.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(PostgresStore {
            pool,
            q: Queries::new(Backend::Postgres),
        })
    }

    pub(crate) async fn write_tx(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.pool.begin().await?)
    }

    pub(crate) fn w(&self) -> &Pool<Postgres> {
        &self.pool
    }
}

impl MySqlStore {
    /// Connects a pool.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self> {
        let pool = MySqlPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(MySqlStore {
            pool,
            q: Queries::new(Backend::MySql),
        })
    }

    pub(crate) async fn write_tx(&self) -> Result<Transaction<'static, MySql>> {
        Ok(self.pool.begin().await?)
    }

    pub(crate) fn w(&self) -> &Pool<MySql> {
        &self.pool
    }
}

pub(crate) fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{what}: `{value}`"))
}

/// Runs `body` again while it fails with a retryable concurrency error, a bounded
/// number of times.
macro_rules! with_retry {
    ($body:expr) => {{
        let mut tries = 0u32;
        loop {
            match $body {
                Err(e) if e.is_retryable() && tries < $crate::sql_store::MAX_TX_RETRIES => {
                    tries += 1;
                    tracing::debug!(error = %e, tries, "retrying transaction");
                    $crate::sql_store::tokio_sleep_ms(5 * u64::from(tries)).await;
                }
                other => break other,
            }
        }
    }};
}

pub(crate) use with_retry;

pub(crate) async fn tokio_sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

macro_rules! impl_store {
    ($store:ty, $db:ty, $row:ty, $backend:expr) => {
        impl $store {
            /// The one row `sql` finds for `id` inside `tx` (its row lock already taken),
            /// parsed by `parse`.
            pub(crate) async fn one_by_id_tx<T>(
                tx: &mut sqlx::Transaction<'static, $db>,
                sql: &str,
                id: &str,
                parse: fn(&$row) -> Result<T>,
            ) -> Result<T> {
                let row = sqlx::query(sql).bind(id).fetch_one(&mut **tx).await?;
                parse(&row)
            }

            pub(crate) fn s(row: &$row, col: &str) -> Result<String> {
                // Unchecked: MySQL reports utf8mb4_bin columns with the BINARY flag,
                // which sqlx's checked String decode refuses; the bytes are UTF-8.
                Ok(row.try_get_unchecked::<String, _>(col)?)
            }
            pub(crate) fn os(row: &$row, col: &str) -> Result<Option<String>> {
                Ok(row.try_get_unchecked::<Option<String>, _>(col)?)
            }
            pub(crate) fn i(row: &$row, col: &str) -> Result<i64> {
                Ok(row.try_get::<i64, _>(col)?)
            }
            pub(crate) fn oi(row: &$row, col: &str) -> Result<Option<i64>> {
                Ok(row.try_get::<Option<i64>, _>(col)?)
            }

            fn business_line(row: &$row) -> Result<BusinessLine> {
                let status = Self::s(row, "status")?;
                let prefixes = Self::s(row, "allowed_url_prefixes")?;
                Ok(BusinessLine {
                    id: Self::s(row, "id")?,
                    app_id: Self::s(row, "app_id")?,
                    name: Self::s(row, "name")?,
                    secret_ciphertext: Self::s(row, "secret_ciphertext")?,
                    notify_url: Self::s(row, "notify_url")?,
                    allowed_url_prefixes: serde_json::from_str(&prefixes)
                        .map_err(|_| corrupt("allowed_url_prefixes", &prefixes))?,
                    status: BusinessLineStatus::parse(&status)
                        .ok_or_else(|| corrupt("business line status", &status))?,
                    created_at_ms: Self::i(row, "created_at_ms")?,
                })
            }

            pub(crate) fn pay_order(row: &$row) -> Result<PayOrder> {
                let status = Self::s(row, "status")?;
                let currency = Self::s(row, "currency")?;
                let currency = Currency::from_str(currency.trim())
                    .map_err(|_| corrupt("currency", &currency))?;
                let amount_minor = Self::i(row, "amount_minor")?;
                Ok(PayOrder {
                    id: Self::s(row, "id")?,
                    business_line_id: Self::s(row, "business_line_id")?,
                    business_order_no: Self::s(row, "business_order_no")?,
                    status: PayOrderStatus::parse(&status)
                        .ok_or_else(|| corrupt("pay order status", &status))?,
                    amount: Amount::new(amount_minor, currency)
                        .map_err(|_| corrupt("amount_minor", &amount_minor.to_string()))?,
                    refunded_amount_minor: Self::i(row, "refunded_amount_minor")?,
                    subject: Self::s(row, "subject")?,
                    buyer_id: Self::os(row, "buyer_id")?,
                    seller_id: Self::os(row, "seller_id")?,
                    facts_json: Self::s(row, "facts_json")?,
                    metadata_json: Self::s(row, "metadata_json")?,
                    notify_url: Self::s(row, "notify_url")?,
                    return_url: Self::os(row, "return_url")?,
                    checkout_token: Self::s(row, "checkout_token")?,
                    created_at_ms: Self::i(row, "created_at_ms")?,
                    updated_at_ms: Self::i(row, "updated_at_ms")?,
                    expire_at_ms: Self::i(row, "expire_at_ms")?,
                    paid_at_ms: Self::oi(row, "paid_at_ms")?,
                    closed_at_ms: Self::oi(row, "closed_at_ms")?,
                    version: Self::i(row, "version")?,
                })
            }

            pub(crate) fn event(row: &$row) -> Result<OutboxEvent> {
                let status = Self::s(row, "status")?;
                let event_type = Self::s(row, "event_type")?;
                Ok(OutboxEvent {
                    id: Self::s(row, "id")?,
                    business_line_id: Self::s(row, "business_line_id")?,
                    pay_order_id: Self::os(row, "pay_order_id")?,
                    event_type: EventType::parse(&event_type)
                        .ok_or_else(|| corrupt("event type", &event_type))?,
                    payload_json: Self::s(row, "payload_json")?,
                    notify_url: Self::s(row, "notify_url")?,
                    status: EventStatus::parse(&status)
                        .ok_or_else(|| corrupt("event status", &status))?,
                    attempts_total: Self::i(row, "attempts_total")?,
                    failures_in_round: Self::i(row, "failures_in_round")?,
                    next_attempt_at_ms: Self::i(row, "next_attempt_at_ms")?,
                    lease_owner: Self::os(row, "lease_owner")?,
                    lease_until_ms: Self::oi(row, "lease_until_ms")?,
                    created_at_ms: Self::i(row, "created_at_ms")?,
                    delivered_at_ms: Self::oi(row, "delivered_at_ms")?,
                    last_error: Self::os(row, "last_error")?,
                    version: Self::i(row, "version")?,
                })
            }

            pub(crate) fn attempt(row: &$row) -> Result<NotificationAttempt> {
                Ok(NotificationAttempt {
                    event_id: Self::s(row, "event_id")?,
                    attempt_no: Self::i(row, "attempt_no")?,
                    started_at_ms: Self::i(row, "started_at_ms")?,
                    duration_ms: Self::i(row, "duration_ms")?,
                    http_status: Self::oi(row, "http_status")?,
                    succeeded: Self::i(row, "succeeded")? != 0,
                    error: Self::os(row, "error")?,
                })
            }

            pub(crate) async fn insert_event_tx(
                &self,
                tx: &mut Transaction<'static, $db>,
                e: &NewEvent,
            ) -> Result<()> {
                sqlx::query(&self.q.insert_event)
                    .bind(&e.id)
                    .bind(&e.business_line_id)
                    .bind(&e.pay_order_id)
                    .bind(e.event_type.as_str())
                    .bind(&e.payload_json)
                    .bind(&e.notify_url)
                    .bind(e.created_at_ms)
                    .bind(e.created_at_ms)
                    .bind(e.created_at_ms)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            async fn try_create_pay_order(&self, o: &NewPayOrder) -> Result<CreateOutcome> {
                let mut tx = self.write_tx().await?;
                let key = sqlx::query(&self.q.insert_order_key)
                    .bind(&o.business_line_id)
                    .bind(&o.business_order_no)
                    .bind(&o.id)
                    .bind(o.created_at_ms)
                    .execute(&mut *tx)
                    .await;
                match key {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        drop(tx); // rolls back
                        let existing = self
                            .pay_order_by_business_no(&o.business_line_id, &o.business_order_no)
                            .await?
                            .ok_or_else(|| {
                                StoreError::Corrupt(format!(
                                    "business order key {} has no pay order",
                                    o.business_order_no
                                ))
                            })?;
                        return Ok(CreateOutcome::Existing(existing));
                    }
                    Err(e) => return Err(e.into()),
                }
                sqlx::query(&self.q.insert_pay_order)
                    .bind(&o.id)
                    .bind(&o.business_line_id)
                    .bind(&o.business_order_no)
                    .bind(PayOrderStatus::Waiting.as_str())
                    .bind(o.amount.minor())
                    .bind(o.amount.currency().code())
                    .bind(0i64)
                    .bind(&o.subject)
                    .bind(&o.buyer_id)
                    .bind(&o.seller_id)
                    .bind(&o.facts_json)
                    .bind(&o.metadata_json)
                    .bind(&o.notify_url)
                    .bind(&o.return_url)
                    .bind(&o.checkout_token)
                    .bind(o.created_at_ms)
                    .bind(o.created_at_ms)
                    .bind(o.expire_at_ms)
                    .bind(None::<i64>)
                    .bind(None::<i64>)
                    .bind(0i64)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(CreateOutcome::Created(PayOrder {
                    id: o.id.clone(),
                    business_line_id: o.business_line_id.clone(),
                    business_order_no: o.business_order_no.clone(),
                    status: PayOrderStatus::Waiting,
                    amount: o.amount,
                    refunded_amount_minor: 0,
                    subject: o.subject.clone(),
                    buyer_id: o.buyer_id.clone(),
                    seller_id: o.seller_id.clone(),
                    facts_json: o.facts_json.clone(),
                    metadata_json: o.metadata_json.clone(),
                    notify_url: o.notify_url.clone(),
                    return_url: o.return_url.clone(),
                    checkout_token: o.checkout_token.clone(),
                    created_at_ms: o.created_at_ms,
                    updated_at_ms: o.created_at_ms,
                    expire_at_ms: o.expire_at_ms,
                    paid_at_ms: None,
                    closed_at_ms: None,
                    version: 0,
                }))
            }

            async fn try_close(
                &self,
                id: &str,
                now_ms: i64,
                event: &NewEvent,
            ) -> Result<Transition<PayOrder>> {
                // A held balance part goes back to the buyer with the close: its accounts
                // are opened first, like every posting's.
                let part_seen = self.bp_get(id).await?;
                let accounts = match &part_seen {
                    Some(p) => {
                        self.bp_open(&p.user_id, p.amount.currency(), None, now_ms)
                            .await?
                    }
                    None => Default::default(),
                };
                let mut tx = self.write_tx().await?;
                // The order's row lock first: the open-attempt check below then sees every
                // attempt committed before it (PostgreSQL would otherwise re-check only the
                // order row after waiting for a concurrent `create_attempt`).
                sqlx::query(&self.q.payments.lock_order)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let held = Self::bp_get_tx(&mut tx, &self.q.balance.by_order, id)
                    .await?
                    .filter(|b| b.status == paydesk_core::BalancePartStatus::Held);
                if held.is_some() && part_seen.is_none() {
                    drop(tx);
                    return Err(StoreError::Conflict(format!(
                        "pay order {id} took a balance part while it was closed"
                    )));
                }
                let done = sqlx::query(&self.q.close_pay_order)
                    .bind(now_ms)
                    .bind(now_ms)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    drop(tx);
                    return Ok(Transition::Refused(self.pay_order(id).await?));
                }
                if let Some(part) = &held {
                    self.bp_release_tx(&mut tx, part, &accounts, now_ms).await?;
                }
                self.insert_event_tx(&mut tx, event).await?;
                let row = sqlx::query(&self.q.pay_order_by_id)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                let order = Self::pay_order(&row)?;
                tx.commit().await?;
                Ok(Transition::Applied(order))
            }

            async fn try_record_attempt(
                &self,
                a: &NotificationAttempt,
                owner: &str,
                after: AfterAttempt,
                now_ms: i64,
            ) -> Result<bool> {
                // failures_in_round grows by one per failed try and indexes the schedule.
                let (status, failure_inc, next_ms, delivered_ms) = match after {
                    AfterAttempt::Delivered => (EventStatus::Delivered, 0i64, now_ms, Some(now_ms)),
                    AfterAttempt::RetryAt(at) => (EventStatus::Pending, 1, at, None),
                    AfterAttempt::Failed => (EventStatus::Failed, 1, now_ms, None),
                };
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(&self.q.finish_attempt)
                    .bind(status.as_str())
                    .bind(failure_inc)
                    .bind(next_ms)
                    .bind(delivered_ms)
                    .bind(&a.error)
                    .bind(now_ms)
                    .bind(&a.event_id)
                    .bind(owner)
                    .bind(a.attempt_no - 1)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Ok(false);
                }
                sqlx::query(&self.q.insert_attempt)
                    .bind(&a.event_id)
                    .bind(a.attempt_no)
                    .bind(a.started_at_ms)
                    .bind(a.duration_ms)
                    .bind(a.http_status)
                    .bind(i64::from(a.succeeded))
                    .bind(&a.error)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }
        }

        #[async_trait]
        impl Store for $store {
            fn backend(&self) -> Backend {
                $backend
            }

            async fn migrate(&self) -> Result<()> {
                crate::migrate::migrator($backend)
                    .await?
                    .run(self.w())
                    .await?;
                Ok(())
            }

            fn archive_tier(&self) -> Option<&dyn crate::archive::ArchiveTier> {
                Some(self)
            }

            fn ledger(&self) -> &dyn crate::LedgerStore {
                self
            }
            fn reconciliation(&self) -> &dyn crate::ReconciliationStore {
                self
            }

            async fn ping(&self) -> Result<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn insert_business_line(&self, l: &BusinessLine) -> Result<()> {
                let prefixes = serde_json::to_string(&l.allowed_url_prefixes)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                sqlx::query(&self.q.insert_business_line)
                    .bind(&l.id)
                    .bind(&l.app_id)
                    .bind(&l.name)
                    .bind(&l.secret_ciphertext)
                    .bind(&l.notify_url)
                    .bind(&prefixes)
                    .bind(l.status.as_str())
                    .bind(l.created_at_ms)
                    .bind(l.created_at_ms)
                    .execute(self.w())
                    .await
                    .conflict_on_unique(|| {
                        format!("a business line named `{}` already exists", l.name)
                    })?;
                Ok(())
            }

            async fn business_line_by_app_id(&self, app_id: &str) -> Result<Option<BusinessLine>> {
                let row = sqlx::query(&self.q.business_line_by_app_id)
                    .bind(app_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::business_line).transpose()
            }

            async fn business_line_by_id(&self, id: &str) -> Result<Option<BusinessLine>> {
                let row = sqlx::query(&self.q.business_line_by_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::business_line).transpose()
            }

            async fn list_business_lines(&self) -> Result<Vec<BusinessLine>> {
                let rows = sqlx::query(&self.q.list_business_lines)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::business_line).collect()
            }

            async fn set_business_line_status(
                &self,
                id_or_name: &str,
                status: BusinessLineStatus,
                now_ms: i64,
            ) -> Result<bool> {
                let r = sqlx::query(&self.q.set_business_line_status)
                    .bind(status.as_str())
                    .bind(now_ms)
                    .bind(id_or_name)
                    .bind(id_or_name)
                    .execute(self.w())
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            async fn record_nonce(
                &self,
                app_id: &str,
                nonce: &str,
                expires_at_ms: i64,
            ) -> Result<NonceOutcome> {
                let r = sqlx::query(&self.q.insert_nonce)
                    .bind(app_id)
                    .bind(nonce)
                    .bind(expires_at_ms)
                    .execute(self.w())
                    .await;
                match r {
                    Ok(_) => Ok(NonceOutcome::Fresh),
                    Err(e) if is_unique_violation(&e) => Ok(NonceOutcome::Replayed),
                    Err(e) => Err(e.into()),
                }
            }

            async fn purge_expired_nonces(&self, now_ms: i64, limit: i64) -> Result<u64> {
                let r = sqlx::query(&self.q.purge_nonces)
                    .bind(now_ms)
                    .bind(limit)
                    .execute(self.w())
                    .await?;
                Ok(r.rows_affected())
            }

            async fn create_pay_order(&self, order: &NewPayOrder) -> Result<CreateOutcome> {
                with_retry!(self.try_create_pay_order(order).await)
            }

            async fn pay_order(&self, id: &str) -> Result<Option<PayOrder>> {
                let row = sqlx::query(&self.q.pay_order_by_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::pay_order).transpose()
            }

            async fn pay_order_by_business_no(
                &self,
                business_line_id: &str,
                business_order_no: &str,
            ) -> Result<Option<PayOrder>> {
                let row = sqlx::query(&self.q.pay_order_by_key)
                    .bind(business_line_id)
                    .bind(business_order_no)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::pay_order).transpose()
            }

            async fn pay_order_by_checkout_token(&self, token: &str) -> Result<Option<PayOrder>> {
                let row = sqlx::query(&self.q.pay_order_by_token)
                    .bind(token)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::pay_order).transpose()
            }

            async fn close_pay_order(
                &self,
                id: &str,
                now_ms: i64,
                event: &NewEvent,
            ) -> Result<Transition<PayOrder>> {
                with_retry!(self.try_close(id, now_ms, event).await)
            }

            async fn expired_waiting_orders(
                &self,
                now_ms: i64,
                limit: i64,
            ) -> Result<Vec<PayOrder>> {
                let rows = sqlx::query(&self.q.expired_waiting)
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::pay_order).collect()
            }

            async fn due_events(&self, now_ms: i64, limit: i64) -> Result<Vec<OutboxEvent>> {
                let rows = sqlx::query(&self.q.due_events)
                    .bind(now_ms)
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::event).collect()
            }

            async fn claim_event(
                &self,
                event: &OutboxEvent,
                owner: &str,
                now_ms: i64,
                lease_until_ms: i64,
            ) -> Result<bool> {
                let r = sqlx::query(&self.q.claim_event)
                    .bind(owner)
                    .bind(lease_until_ms)
                    .bind(now_ms)
                    .bind(&event.id)
                    .bind(event.version)
                    .execute(self.w())
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            async fn record_attempt(
                &self,
                attempt: &NotificationAttempt,
                owner: &str,
                after: AfterAttempt,
                now_ms: i64,
            ) -> Result<bool> {
                with_retry!(self.try_record_attempt(attempt, owner, after, now_ms).await)
            }

            async fn event(&self, id: &str) -> Result<Option<OutboxEvent>> {
                let row = sqlx::query(&self.q.event_by_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::event).transpose()
            }

            async fn events_for_pay_order(&self, pay_order_id: &str) -> Result<Vec<OutboxEvent>> {
                let rows = sqlx::query(&self.q.events_for_order)
                    .bind(pay_order_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::event).collect()
            }

            async fn attempts_for_event(&self, event_id: &str) -> Result<Vec<NotificationAttempt>> {
                let rows = sqlx::query(&self.q.attempts_for_event)
                    .bind(event_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::attempt).collect()
            }

            async fn requeue_event(
                &self,
                id: &str,
                now_ms: i64,
            ) -> Result<Transition<OutboxEvent>> {
                let r = sqlx::query(&self.q.requeue_event)
                    .bind(now_ms)
                    .bind(now_ms)
                    .bind(id)
                    .execute(self.w())
                    .await?;
                let now = self.event(id).await?;
                if r.rows_affected() == 1 {
                    now.map(Transition::Applied)
                        .ok_or_else(|| StoreError::Corrupt(format!("event {id} vanished")))
                } else {
                    Ok(Transition::Refused(now))
                }
            }

            async fn create_attempt(
                &self,
                attempt: &NewAttempt,
                max_attempts: i64,
            ) -> Result<CreateAttemptOutcome> {
                with_retry!(self.pay_create_attempt(attempt, max_attempts).await)
            }

            async fn attempt(&self, id: &str) -> Result<Option<Attempt>> {
                self.pay_attempt(id).await
            }

            async fn attempt_by_no(&self, attempt_no: &str) -> Result<Option<Attempt>> {
                self.pay_attempt_by_no(attempt_no).await
            }

            async fn attempt_by_provider_txn_id(
                &self,
                provider_txn_id: &str,
            ) -> Result<Option<Attempt>> {
                self.pay_attempt_by_txn(provider_txn_id).await
            }

            async fn attempts_for_pay_order(&self, pay_order_id: &str) -> Result<Vec<Attempt>> {
                self.pay_attempts_for_order(pay_order_id).await
            }

            async fn update_attempt(
                &self,
                id: &str,
                update: &AttemptUpdate,
            ) -> Result<Transition<Attempt>> {
                with_retry!(self.pay_update_attempt(id, update).await)
            }

            async fn schedule_attempt_query(
                &self,
                id: &str,
                expected_version: i64,
                next_query_at_ms: Option<i64>,
                now_ms: i64,
            ) -> Result<bool> {
                self.pay_schedule_query(id, expected_version, next_query_at_ms, now_ms)
                    .await
            }

            async fn due_attempt_queries(&self, now_ms: i64, limit: i64) -> Result<Vec<Attempt>> {
                self.pay_due_queries(now_ms, limit).await
            }

            async fn record_payment_success(
                &self,
                success: &PaymentSuccess,
            ) -> Result<PaymentOutcome> {
                with_retry!(self.pay_record_success(success).await)
            }

            async fn balance_part(&self, pay_order_id: &str) -> Result<Option<BalancePart>> {
                self.bp_get(pay_order_id).await
            }

            async fn hold_balance_part(&self, hold: &HoldBalance) -> Result<HoldOutcome> {
                with_retry!(self.bp_try_hold(hold).await)
            }

            async fn release_balance_part(
                &self,
                pay_order_id: &str,
                now_ms: i64,
            ) -> Result<Option<BalancePart>> {
                with_retry!(self.bp_try_release(pay_order_id, now_ms).await)
            }

            async fn pay_with_balance(
                &self,
                payment: &BalancePayment,
            ) -> Result<BalancePaymentOutcome> {
                with_retry!(self.bp_try_pay(payment).await)
            }

            async fn flagged_attempts(&self, limit: i64) -> Result<Vec<Attempt>> {
                self.pay_flagged(limit).await
            }

            async fn create_refund(
                &self,
                refund: &NewRefund,
                max_refunds: i64,
            ) -> Result<CreateRefundOutcome> {
                with_retry!(self.pay_create_refund(refund, max_refunds).await)
            }

            async fn refund(&self, id: &str) -> Result<Option<Refund>> {
                self.pay_refund(id).await
            }

            async fn refund_by_business_no(
                &self,
                business_line_id: &str,
                business_refund_no: &str,
            ) -> Result<Option<Refund>> {
                self.pay_refund_by_business_no(business_line_id, business_refund_no)
                    .await
            }

            async fn refund_by_no(&self, refund_no: &str) -> Result<Option<Refund>> {
                self.pay_refund_by_no(refund_no).await
            }

            async fn refunds_for_pay_order(&self, pay_order_id: &str) -> Result<Vec<Refund>> {
                self.pay_refunds_for_order(pay_order_id).await
            }

            async fn due_refunds(&self, now_ms: i64, limit: i64) -> Result<Vec<Refund>> {
                self.pay_due_refunds(now_ms, limit).await
            }

            async fn update_refund(
                &self,
                id: &str,
                update: &RefundUpdate,
            ) -> Result<Transition<Refund>> {
                with_retry!(self.pay_update_refund(id, update).await)
            }

            async fn insert_raw_callback(&self, callback: &RawCallback) -> Result<()> {
                self.pay_insert_callback(callback).await
            }

            async fn raw_callbacks_for_pay_order(
                &self,
                pay_order_id: &str,
            ) -> Result<Vec<RawCallback>> {
                self.pay_callbacks_for_order(pay_order_id).await
            }

            async fn publish_rule_version(
                &self,
                new: &NewRuleVersion,
                expected_active: i64,
            ) -> Result<Transition<ActiveRuleVersion>> {
                with_retry!(self.rules_publish(new, expected_active).await)
            }

            async fn activate_rule_version(
                &self,
                version: i64,
                expected_active: i64,
                by: &str,
                now_ms: i64,
            ) -> Result<Transition<ActiveRuleVersion>> {
                with_retry!(
                    self.rules_activate(version, expected_active, by, now_ms)
                        .await
                )
            }

            async fn active_rule_version(&self) -> Result<ActiveRuleVersion> {
                self.rules_active().await
            }

            async fn rule_version(&self, version: i64) -> Result<Option<RuleVersion>> {
                self.rules_version(version).await
            }

            async fn list_rule_versions(&self, limit: i64) -> Result<Vec<RuleVersionSummary>> {
                self.rules_list(limit).await
            }

            async fn insert_operator(&self, operator: &Operator) -> Result<()> {
                self.ops_insert(operator).await
            }

            async fn operator_by_token_hash(&self, token_hash: &str) -> Result<Option<Operator>> {
                self.ops_by_hash(token_hash).await
            }

            async fn list_operators(&self) -> Result<Vec<Operator>> {
                self.ops_list().await
            }

            async fn set_operator_status(
                &self,
                name: &str,
                status: OperatorStatus,
            ) -> Result<bool> {
                self.ops_set_status(name, status).await
            }

            async fn insert_operator_session(&self, session: &OperatorSession) -> Result<()> {
                self.sessions_insert(session).await
            }

            async fn session_operator(
                &self,
                token_hash: &str,
                now_ms: i64,
            ) -> Result<Option<Operator>> {
                self.sessions_operator(token_hash, now_ms).await
            }

            async fn delete_operator_session(&self, token_hash: &str) -> Result<bool> {
                self.sessions_delete(token_hash).await
            }

            async fn purge_expired_sessions(&self, now_ms: i64, limit: i64) -> Result<u64> {
                self.sessions_purge(now_ms, limit).await
            }

            async fn record_decision_sample(&self, sample: &DecisionSample) -> Result<()> {
                self.samples_record(sample).await
            }

            async fn decision_samples(&self, limit: i64) -> Result<Vec<DecisionSample>> {
                self.samples_list(limit).await
            }

            async fn insert_merchant_account(
                &self,
                account: &MerchantAccount,
                key: &MerchantAccountKey,
                audit: &AuditEntry,
            ) -> Result<()> {
                with_retry!(self.accounts_insert(account, key, audit).await)
            }

            async fn merchant_account(&self, id: &str) -> Result<Option<MerchantAccount>> {
                self.accounts_by_id(id).await
            }

            async fn list_merchant_accounts(&self) -> Result<Vec<MerchantAccount>> {
                self.accounts_list().await
            }

            async fn merchant_account_keys(
                &self,
                account_id: &str,
            ) -> Result<Vec<MerchantAccountKey>> {
                self.accounts_keys(account_id).await
            }

            async fn update_merchant_account(
                &self,
                update: &MerchantAccountUpdate,
            ) -> Result<Transition<MerchantAccount>> {
                with_retry!(self.accounts_update(update).await)
            }

            async fn merchant_accounts_stamp(&self) -> Result<MerchantAccountsStamp> {
                self.accounts_stamp().await
            }

            async fn insert_audit_entry(&self, entry: &AuditEntry) -> Result<()> {
                with_retry!(self.audit_insert(entry).await)
            }

            async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>> {
                self.audit_list(limit).await
            }

            async fn outbox_stats(&self) -> Result<OutboxStats> {
                self.outbox_counts().await
            }

            async fn rotate_business_line_secret(
                &self,
                rotation: &SecretRotation,
                audit: &AuditEntry,
            ) -> Result<bool> {
                with_retry!(self.console_rotate_secret(rotation, audit).await)
            }

            async fn previous_business_line_secret(
                &self,
                business_line_id: &str,
                now_ms: i64,
            ) -> Result<Option<PreviousSecret>> {
                self.console_previous_secret(business_line_id, now_ms).await
            }

            async fn dashboard(&self, query: &DashboardQuery) -> Result<Dashboard> {
                self.console_dashboard(query).await
            }

            async fn insert_approval(&self, approval: &Approval) -> Result<()> {
                with_retry!(self.approvals_insert(approval).await)
            }

            async fn approval(&self, id: &str) -> Result<Option<Approval>> {
                self.approvals_by_id(id).await
            }

            async fn list_approvals(
                &self,
                status: Option<ApprovalStatus>,
                limit: i64,
            ) -> Result<Vec<Approval>> {
                self.approvals_list(status, limit).await
            }

            async fn decide_approval(
                &self,
                id: &str,
                expected_version: i64,
                to: ApprovalStatus,
                decided_by: &str,
                now_ms: i64,
            ) -> Result<Transition<Approval>> {
                with_retry!(
                    self.approvals_decide(id, expected_version, to, decided_by, now_ms)
                        .await
                )
            }
        }

        impl $store {
            pub(crate) async fn outbox_counts(&self) -> Result<OutboxStats> {
                let row = sqlx::query(&self.q.outbox_counts)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(OutboxStats {
                    pending: row.try_get::<i64, _>(0)?,
                    failed: row.try_get::<i64, _>(1)?,
                })
            }
        }
    };
}

impl_store!(SqliteStore, Sqlite, SqliteRow, Backend::Sqlite);
impl_store!(PostgresStore, Postgres, PgRow, Backend::Postgres);
impl_store!(MySqlStore, MySql, MySqlRow, Backend::MySql);
