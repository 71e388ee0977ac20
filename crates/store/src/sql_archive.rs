//! [`ArchiveTier`] for the SQL stores, stamped out per backend like `sql_store.rs`.

use crate::archive::{ArchiveTier, ArchivedEvent, OrderBundle, PutOutcome};
use crate::error::{Result, StoreError};
use crate::*;
use async_trait::async_trait;
use paydesk_core::transition::StateMachine;
use sqlx::mysql::MySql;
use sqlx::postgres::Postgres;
use sqlx::sqlite::Sqlite;
use sqlx::Row;
use std::collections::HashMap;

/// Rows per multi-row INSERT (pay_orders has 21 columns: 10,500 binds).
const INSERT_CHUNK: usize = 500;

macro_rules! impl_archive {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn arc_load(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                ids: &[String],
            ) -> Result<Vec<OrderBundle>> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let a = &self.q.archive;
                let sql = a.orders_by_ids(ids.len());
                let mut q = sqlx::query(&sql);
                for id in ids {
                    q = q.bind(id);
                }
                let rows = q.fetch_all(&mut *conn).await?;
                let mut by_id: HashMap<String, OrderBundle> = HashMap::new();
                for r in &rows {
                    let order = Self::pay_order(r)?;
                    by_id.insert(
                        order.id.clone(),
                        OrderBundle {
                            order,
                            events: Vec::new(),
                            attempts: Vec::new(),
                        },
                    );
                }
                let sql = a.events_by_orders(ids.len());
                let mut q = sqlx::query(&sql);
                for id in ids {
                    q = q.bind(id);
                }
                let mut event_owner: HashMap<String, String> = HashMap::new();
                for r in q.fetch_all(&mut *conn).await? {
                    let event = Self::event(&r)?;
                    let updated_at_ms = Self::i(&r, "updated_at_ms")?;
                    let Some(owner) = event.pay_order_id.clone() else {
                        continue;
                    };
                    event_owner.insert(event.id.clone(), owner.clone());
                    if let Some(b) = by_id.get_mut(&owner) {
                        b.events.push(ArchivedEvent {
                            event,
                            updated_at_ms,
                        });
                    }
                }
                let sql = a.attempts_by_orders(ids.len());
                let mut q = sqlx::query(&sql);
                for id in ids {
                    q = q.bind(id);
                }
                for r in q.fetch_all(&mut *conn).await? {
                    let at = Self::attempt(&r)?;
                    if let Some(b) = event_owner.get(&at.event_id).and_then(|o| by_id.get_mut(o)) {
                        b.attempts.push(at);
                    }
                }
                let mut out: Vec<OrderBundle> = by_id.into_values().collect();
                for b in &mut out {
                    b.normalize();
                }
                out.sort_by(|x, y| x.order.id.cmp(&y.order.id));
                Ok(out)
            }

            async fn arc_insert(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                bundles: &[&OrderBundle],
                with_keys: bool,
            ) -> Result<()> {
                let a = &self.q.archive;
                for chunk in bundles.chunks(INSERT_CHUNK) {
                    let sql = a.insert_orders(chunk.len());
                    let mut q = sqlx::query(&sql);
                    for b in chunk {
                        let o = &b.order;
                        q = q
                            .bind(&o.id)
                            .bind(&o.business_line_id)
                            .bind(&o.business_order_no)
                            .bind(o.status.as_str())
                            .bind(o.amount.minor())
                            .bind(o.amount.currency().code())
                            .bind(o.refunded_amount_minor)
                            .bind(&o.subject)
                            .bind(&o.buyer_id)
                            .bind(&o.seller_id)
                            .bind(&o.facts_json)
                            .bind(&o.metadata_json)
                            .bind(&o.notify_url)
                            .bind(&o.return_url)
                            .bind(&o.checkout_token)
                            .bind(o.created_at_ms)
                            .bind(o.updated_at_ms)
                            .bind(o.expire_at_ms)
                            .bind(o.paid_at_ms)
                            .bind(o.closed_at_ms)
                            .bind(o.version);
                    }
                    q.execute(&mut *conn).await?;
                    if with_keys {
                        let sql = a.insert_order_keys(chunk.len());
                        let mut q = sqlx::query(&sql);
                        for b in chunk {
                            q = q
                                .bind(&b.order.business_line_id)
                                .bind(&b.order.business_order_no)
                                .bind(&b.order.id)
                                .bind(b.order.created_at_ms);
                        }
                        q.execute(&mut *conn).await?;
                    }
                }
                let events: Vec<&ArchivedEvent> =
                    bundles.iter().flat_map(|b| b.events.iter()).collect();
                for chunk in events.chunks(INSERT_CHUNK) {
                    let sql = a.insert_events(chunk.len());
                    let mut q = sqlx::query(&sql);
                    for ae in chunk {
                        let e = &ae.event;
                        q = q
                            .bind(&e.id)
                            .bind(&e.business_line_id)
                            .bind(&e.pay_order_id)
                            .bind(e.event_type.as_str())
                            .bind(&e.payload_json)
                            .bind(&e.notify_url)
                            .bind(e.status.as_str())
                            .bind(e.attempts_total)
                            .bind(e.failures_in_round)
                            .bind(e.next_attempt_at_ms)
                            .bind(&e.lease_owner)
                            .bind(e.lease_until_ms)
                            .bind(e.created_at_ms)
                            .bind(e.delivered_at_ms)
                            .bind(&e.last_error)
                            .bind(e.version)
                            .bind(ae.updated_at_ms);
                    }
                    q.execute(&mut *conn).await?;
                }
                let attempts: Vec<&NotificationAttempt> =
                    bundles.iter().flat_map(|b| b.attempts.iter()).collect();
                for chunk in attempts.chunks(INSERT_CHUNK) {
                    let sql = a.insert_attempts(chunk.len());
                    let mut q = sqlx::query(&sql);
                    for at in chunk {
                        q = q
                            .bind(&at.event_id)
                            .bind(at.attempt_no)
                            .bind(at.started_at_ms)
                            .bind(at.duration_ms)
                            .bind(at.http_status)
                            .bind(i64::from(at.succeeded))
                            .bind(&at.error);
                    }
                    q.execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// Deletes exactly these rows; false (caller rolls back) if any differed.
            async fn arc_delete(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                bundles: &[&OrderBundle],
            ) -> Result<bool> {
                if bundles.is_empty() {
                    return Ok(true);
                }
                let a = &self.q.archive;
                let events: Vec<&OutboxEvent> = bundles
                    .iter()
                    .flat_map(|b| b.events.iter().map(|e| &e.event))
                    .collect();
                let n_attempts: u64 = bundles.iter().map(|b| b.attempts.len() as u64).sum();
                if !events.is_empty() {
                    let sql = a.delete_attempts(events.len());
                    let mut q = sqlx::query(&sql);
                    for e in &events {
                        q = q.bind(&e.id);
                    }
                    if q.execute(&mut *conn).await?.rows_affected() != n_attempts {
                        return Ok(false);
                    }
                    let sql = a.delete_events(events.len());
                    let mut q = sqlx::query(&sql);
                    for e in &events {
                        q = q.bind(&e.id);
                    }
                    for e in &events {
                        q = q.bind(&e.id).bind(e.version);
                    }
                    if q.execute(&mut *conn).await?.rows_affected() != events.len() as u64 {
                        return Ok(false);
                    }
                }
                let sql = a.count_events_of_orders(bundles.len());
                let mut q = sqlx::query(&sql);
                for b in bundles {
                    q = q.bind(&b.order.id);
                }
                if q.fetch_one(&mut *conn).await?.try_get::<i64, _>(0)? != 0 {
                    return Ok(false);
                }
                let sql = a.delete_orders(bundles.len());
                let mut q = sqlx::query(&sql);
                for b in bundles {
                    q = q.bind(&b.order.id);
                }
                for b in bundles {
                    q = q.bind(&b.order.id).bind(b.order.version);
                }
                Ok(q.execute(&mut *conn).await?.rows_affected() == bundles.len() as u64)
            }
        }

        #[async_trait]
        impl ArchiveTier for $store {
            async fn archive_candidates(
                &self,
                cutoff_ms: i64,
                after_id: &str,
                limit: i64,
            ) -> Result<Vec<PayOrder>> {
                let rows = sqlx::query(&self.q.archive.candidates())
                    .bind(after_id)
                    .bind(cutoff_ms)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::pay_order).collect()
            }

            async fn count_archive_candidates(&self, cutoff_ms: i64) -> Result<i64> {
                let row = sqlx::query(&self.q.archive.count_candidates())
                    .bind(cutoff_ms)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(row.try_get::<i64, _>(0)?)
            }

            async fn load_bundles(&self, ids: &[String]) -> Result<Vec<OrderBundle>> {
                let mut conn = self.pool.acquire().await?;
                self.arc_load(&mut conn, ids).await
            }

            async fn put_bundles(&self, bundles: &[OrderBundle]) -> Result<Vec<PutOutcome>> {
                let mut tx = self.write_tx().await?;
                let ids: Vec<String> = bundles.iter().map(|b| b.order.id.clone()).collect();
                let existing = self.arc_load(&mut tx, &ids).await?;
                let mut outcomes = Vec::with_capacity(bundles.len());
                let mut to_insert: Vec<&OrderBundle> = Vec::new();
                let mut to_replace: Vec<&OrderBundle> = Vec::new();
                for b in bundles {
                    let mut b_norm = b.clone();
                    b_norm.normalize();
                    match existing.iter().find(|e| e.order.id == b.order.id) {
                        None => {
                            to_insert.push(b);
                            outcomes.push(PutOutcome::Inserted);
                        }
                        Some(e) if *e == b_norm => outcomes.push(PutOutcome::Identical),
                        Some(e) if e.is_older_copy_of(&b_norm) => {
                            to_replace.push(e);
                            to_insert.push(b);
                            outcomes.push(PutOutcome::Replaced);
                        }
                        Some(_) => {
                            return Err(StoreError::Conflict(format!(
                                "pay order {} differs between tiers (not an older copy)",
                                b.order.id
                            )));
                        }
                    }
                }
                if !self.arc_delete(&mut tx, &to_replace).await? {
                    return Err(StoreError::Conflict(
                        "an older copy changed while being replaced".into(),
                    ));
                }
                self.arc_insert(&mut tx, &to_insert, false).await?;
                tx.commit().await?;
                Ok(outcomes)
            }

            async fn delete_bundles_exact(&self, bundles: &[OrderBundle]) -> Result<bool> {
                let mut tx = self.write_tx().await?;
                let refs: Vec<&OrderBundle> = bundles.iter().collect();
                if self.arc_delete(&mut tx, &refs).await? {
                    tx.commit().await?;
                    Ok(true)
                } else {
                    tx.rollback().await?;
                    Ok(false)
                }
            }

            async fn insert_bundles_fresh(&self, bundles: &[OrderBundle]) -> Result<()> {
                let mut tx = self.write_tx().await?;
                let refs: Vec<&OrderBundle> = bundles.iter().collect();
                self.arc_insert(&mut tx, &refs, true).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn business_order_key(
                &self,
                business_line_id: &str,
                business_order_no: &str,
            ) -> Result<Option<String>> {
                let row = sqlx::query(&self.q.archive.order_key())
                    .bind(business_line_id)
                    .bind(business_order_no)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(|r| Self::s(r, "pay_order_id")).transpose()
            }
        }
    };
}

impl_archive!(SqliteStore, Sqlite);
impl_archive!(PostgresStore, Postgres);
impl_archive!(MySqlStore, MySql);
