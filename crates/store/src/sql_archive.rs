//! [`ArchiveTier`] for the SQL stores, stamped out per backend like `sql_store.rs`.

use crate::archive::{ArchiveTier, ArchivedEvent, CandidateBatch, OrderBundle, PutOutcome};
use crate::error::{Result, StoreError};
use crate::sql_payments::Q;
use crate::*;
use async_trait::async_trait;
use paydesk_core::transition::StateMachine;
use sqlx::mysql::MySql;
use sqlx::postgres::Postgres;
use sqlx::sqlite::Sqlite;
use sqlx::Row;
use std::collections::{BTreeMap, HashMap};

/// Most rows per multi-row INSERT (pay_orders has 21 columns: 10,752 binds, under
/// SQLite's 32,766 and PostgreSQL's and MySQL's 65,535).
const INSERT_CHUNK: usize = 512;
/// Most ids per `IN (...)` list.
const IN_CHUNK: usize = 1024;

// Statement shapes: a batch's row counts vary, and every distinct statement text is a
// new server-side prepare (and evicts another from the per-connection cache). So
// inserts go in power-of-two chunks and `IN` lists are padded to a power of two by
// repeating their last id (harmless in an `IN`): a handful of shapes per table, all
// prepared once per connection.

/// `n` rounded up to a power of two, at least 8.
fn padded(n: usize) -> usize {
    n.next_power_of_two().max(8)
}

/// `items` (non-empty), then its last item repeated up to [`padded`] length.
fn pad<T: Copy>(items: &[T]) -> impl Iterator<Item = T> + '_ {
    let extra = padded(items.len()) - items.len();
    let last = items.last().copied();
    items
        .iter()
        .copied()
        .chain(std::iter::repeat_n(last, extra).flatten())
}

/// `items` cut into chunks of `max` (a power of two), then of decreasing powers of two.
fn pow2_chunks<T>(mut items: &[T], max: usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    while !items.is_empty() {
        let n = if items.len() >= max {
            max
        } else {
            1 << (usize::BITS - 1 - items.len().leading_zeros())
        };
        let (head, rest) = items.split_at(n);
        out.push(head);
        items = rest;
    }
    out
}

macro_rules! impl_archive {
    ($store:ty, $db:ty) => {
        impl $store {
            async fn arc_load(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                ids: &[String],
            ) -> Result<Vec<OrderBundle>> {
                let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
                let mut orders = Vec::with_capacity(ids.len());
                Self::arc_rows_in(conn, &refs, |n| self.q.archive.orders_by_ids(n), |r| {
                    orders.push(Self::pay_order(r)?);
                    Ok(())
                })
                .await?;
                self.arc_children(conn, orders).await
            }

            /// Runs `sql(n)` for the padded `IN` list of each chunk of `ids` and hands
            /// every row to `each`.
            async fn arc_rows_in<F>(
                conn: &mut <$db as sqlx::Database>::Connection,
                ids: &[&str],
                sql: impl Fn(usize) -> String,
                mut each: F,
            ) -> Result<()>
            where
                F: FnMut(&<$db as sqlx::Database>::Row) -> Result<()>,
            {
                for chunk in ids.chunks(IN_CHUNK) {
                    let sql = sql(padded(chunk.len()));
                    let mut q = sqlx::query(&sql);
                    for id in pad(chunk) {
                        q = q.bind(id);
                    }
                    for r in q.fetch_all(&mut *conn).await? {
                        each(&r)?;
                    }
                }
                Ok(())
            }

            /// The bundles of `orders`: their events, payment attempts, refunds and
            /// callbacks by order id, then the events' deliveries by event id (`IN`
            /// lists, a few statements per batch).
            async fn arc_children(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                orders: Vec<PayOrder>,
            ) -> Result<Vec<OrderBundle>> {
                let a = &self.q.archive;
                let ids: Vec<String> = orders.iter().map(|o| o.id.clone()).collect();
                let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
                let mut index: HashMap<String, usize> = HashMap::with_capacity(orders.len());
                for (i, o) in orders.iter().enumerate() {
                    index.insert(o.id.clone(), i);
                }
                let mut out: Vec<OrderBundle> =
                    orders.into_iter().map(OrderBundle::of).collect();
                let mut event_owner: HashMap<String, usize> = HashMap::new();
                Self::arc_rows_in(conn, &ids, |n| a.events_by_orders(n), |r| {
                    let event = Self::event(r)?;
                    let updated_at_ms = Self::i(r, "updated_at_ms")?;
                    if let Some(&i) = event.pay_order_id.as_ref().and_then(|o| index.get(o)) {
                        event_owner.insert(event.id.clone(), i);
                        out[i].events.push(ArchivedEvent {
                            event,
                            updated_at_ms,
                        });
                    }
                    Ok(())
                })
                .await?;
                Self::arc_rows_in(conn, &ids, |n| a.payment_attempts_by_orders(n), |r| {
                    let at = Self::attempt_row(r)?;
                    if let Some(&i) = index.get(&at.pay_order_id) {
                        out[i].payment_attempts.push(at);
                    }
                    Ok(())
                })
                .await?;
                Self::arc_rows_in(conn, &ids, |n| a.refunds_by_orders(n), |r| {
                    let rf = Self::refund_row(r)?;
                    if let Some(&i) = index.get(&rf.pay_order_id) {
                        out[i].refunds.push(rf);
                    }
                    Ok(())
                })
                .await?;
                Self::arc_rows_in(conn, &ids, |n| a.callbacks_by_orders(n), |r| {
                    let cb = Self::callback_row(r)?;
                    if let Some(&i) = cb.pay_order_id.as_ref().and_then(|o| index.get(o)) {
                        out[i].callbacks.push(cb);
                    }
                    Ok(())
                })
                .await?;
                let event_ids: Vec<&str> = event_owner.keys().map(String::as_str).collect();
                Self::arc_rows_in(conn, &event_ids, |n| a.attempts_by_events(n), |r| {
                    let at = Self::attempt(r)?;
                    if let Some(&i) = event_owner.get(&at.event_id) {
                        out[i].deliveries.push(at);
                    }
                    Ok(())
                })
                .await?;
                for b in &mut out {
                    b.normalize();
                }
                out.sort_by(|x, y| x.order.id.cmp(&y.order.id));
                Ok(out)
            }

            /// Binds a pay order's columns in `PAY_ORDER_COLS` order.
            fn bind_pay_order<'q>(q: Q<'q, $db>, o: &'q PayOrder) -> Q<'q, $db> {
                q.bind(&o.id)
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
                    .bind(o.version)
            }

            /// Binds an event's columns in `EVENT_COLS` order (without `updated_at_ms`).
            fn bind_event<'q>(q: Q<'q, $db>, e: &'q OutboxEvent) -> Q<'q, $db> {
                q.bind(&e.id)
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
            }

            /// Multi-row inserts of `items`: `sql(n)` is the statement for n rows,
            /// `bind` binds one item's columns; power-of-two chunks (few shapes).
            async fn arc_insert_rows<T>(
                conn: &mut <$db as sqlx::Database>::Connection,
                items: &[T],
                sql: impl Fn(usize) -> String,
                bind: impl for<'q> Fn(Q<'q, $db>, &'q T) -> Q<'q, $db>,
            ) -> Result<()> {
                for chunk in pow2_chunks(items, INSERT_CHUNK) {
                    let sql = sql(chunk.len());
                    let mut q = sqlx::query(&sql);
                    for item in chunk {
                        q = bind(q, item);
                    }
                    q.execute(&mut *conn).await?;
                }
                Ok(())
            }

            /// Inserts every row of `bundles`; `with_keys` (the generator only) also
            /// writes their never-archived key rows.
            async fn arc_insert(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                bundles: &[&OrderBundle],
                with_keys: bool,
            ) -> Result<()> {
                let a = &self.q.archive;
                let orders: Vec<&PayOrder> = bundles.iter().map(|b| &b.order).collect();
                Self::arc_insert_rows(conn, &orders, |n| a.insert_orders(n), |q, o| {
                    Self::bind_pay_order(q, o)
                })
                .await?;
                let events: Vec<&ArchivedEvent> =
                    bundles.iter().flat_map(|b| b.events.iter()).collect();
                Self::arc_insert_rows(conn, &events, |n| a.insert_events(n), |q, ae| {
                    Self::bind_event(q, &ae.event).bind(ae.updated_at_ms)
                })
                .await?;
                let deliveries: Vec<&NotificationAttempt> =
                    bundles.iter().flat_map(|b| b.deliveries.iter()).collect();
                Self::arc_insert_rows(conn, &deliveries, |n| a.insert_attempts(n), |q, at| {
                    q.bind(&at.event_id)
                        .bind(at.attempt_no)
                        .bind(at.started_at_ms)
                        .bind(at.duration_ms)
                        .bind(at.http_status)
                        .bind(i64::from(at.succeeded))
                        .bind(&at.error)
                })
                .await?;
                let attempts: Vec<&Attempt> = bundles
                    .iter()
                    .flat_map(|b| b.payment_attempts.iter())
                    .collect();
                Self::arc_insert_rows(conn, &attempts, |n| a.insert_payment_attempts(n), |q, at| {
                    Self::bind_attempt(q, at)
                })
                .await?;
                let refunds: Vec<&Refund> = bundles.iter().flat_map(|b| b.refunds.iter()).collect();
                Self::arc_insert_rows(conn, &refunds, |n| a.insert_refunds(n), |q, r| {
                    Self::bind_refund(q, r)
                })
                .await?;
                let callbacks: Vec<&RawCallback> =
                    bundles.iter().flat_map(|b| b.callbacks.iter()).collect();
                Self::arc_insert_rows(conn, &callbacks, |n| a.insert_callbacks(n), |q, c| {
                    Self::bind_callback(q, c)
                })
                .await?;
                if !with_keys {
                    return Ok(());
                }
                Self::arc_insert_rows(conn, &orders, |n| a.insert_order_keys(n), |q, o| {
                    q.bind(&o.business_line_id)
                        .bind(&o.business_order_no)
                        .bind(&o.id)
                        .bind(o.created_at_ms)
                })
                .await?;
                Self::arc_insert_rows(conn, &attempts, |n| a.insert_attempt_keys(n), |q, at| {
                    q.bind(&at.attempt_no)
                        .bind(&at.pay_order_id)
                        .bind(at.created_at_ms)
                })
                .await?;
                Self::arc_insert_rows(conn, &refunds, |n| a.insert_refund_nos(n), |q, r| {
                    q.bind(&r.refund_no).bind(&r.id).bind(r.created_at_ms)
                })
                .await?;
                let keyed: Vec<(&Refund, &str)> = refunds
                    .iter()
                    .filter_map(|r| r.business_refund_no.as_deref().map(|no| (*r, no)))
                    .collect();
                Self::arc_insert_rows(conn, &keyed, |n| a.insert_refund_keys(n), |q, (r, no)| {
                    q.bind(&r.business_line_id)
                        .bind(*no)
                        .bind(&r.id)
                        .bind(r.created_at_ms)
                })
                .await
            }

            /// Deletes `(id, version)` rows of a versioned table in one statement; true
            /// if every row was there at that version.
            async fn arc_delete_versioned(
                &self,
                conn: &mut <$db as sqlx::Database>::Connection,
                table: &str,
                rows: &[(&str, i64)],
            ) -> Result<bool> {
                if rows.is_empty() {
                    return Ok(true);
                }
                let mut groups: BTreeMap<i64, Vec<&str>> = BTreeMap::new();
                for (id, version) in rows {
                    groups.entry(*version).or_default().push(id);
                }
                let sizes: Vec<usize> = groups.values().map(|g| padded(g.len())).collect();
                let sql = self.q.archive.delete_versioned(table, &sizes);
                let mut q = sqlx::query(&sql);
                for (version, ids) in &groups {
                    for id in pad(ids) {
                        q = q.bind(id);
                    }
                    q = q.bind(*version);
                }
                Ok(q.execute(&mut *conn).await?.rows_affected() == rows.len() as u64)
            }

            /// Deletes exactly these rows; false (caller rolls back) if any differed.
            /// One multi-row statement per table and chunk: deliveries by event id and
            /// callbacks by id (their counts compared), events, payment attempts, refunds
            /// and orders by id grouped by version, and a count of children left for the
            /// orders (one added since the read).
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
                let n_attempts: u64 = bundles.iter().map(|b| b.deliveries.len() as u64).sum();
                let mut attempts_deleted = 0;
                for chunk in events.chunks(IN_CHUNK) {
                    let sql = a.delete_attempts(padded(chunk.len()));
                    let mut q = sqlx::query(&sql);
                    let refs: Vec<&str> = chunk.iter().map(|e| e.id.as_str()).collect();
                    for id in pad(&refs) {
                        q = q.bind(id);
                    }
                    attempts_deleted += q.execute(&mut *conn).await?.rows_affected();
                }
                if attempts_deleted != n_attempts {
                    return Ok(false);
                }
                for chunk in events.chunks(IN_CHUNK) {
                    let rows: Vec<(&str, i64)> =
                        chunk.iter().map(|e| (e.id.as_str(), e.version)).collect();
                    if !self.arc_delete_versioned(conn, "outbox_events", &rows).await? {
                        return Ok(false);
                    }
                }
                let attempts: Vec<(&str, i64)> = bundles
                    .iter()
                    .flat_map(|b| b.payment_attempts.iter())
                    .map(|at| (at.id.as_str(), at.version))
                    .collect();
                for chunk in attempts.chunks(IN_CHUNK) {
                    if !self.arc_delete_versioned(conn, "payment_attempts", chunk).await? {
                        return Ok(false);
                    }
                }
                let refunds: Vec<(&str, i64)> = bundles
                    .iter()
                    .flat_map(|b| b.refunds.iter())
                    .map(|r| (r.id.as_str(), r.version))
                    .collect();
                for chunk in refunds.chunks(IN_CHUNK) {
                    if !self.arc_delete_versioned(conn, "refunds", chunk).await? {
                        return Ok(false);
                    }
                }
                let callbacks: Vec<&str> = bundles
                    .iter()
                    .flat_map(|b| b.callbacks.iter())
                    .map(|c| c.id.as_str())
                    .collect();
                for chunk in callbacks.chunks(IN_CHUNK) {
                    let sql = a.delete_callbacks(padded(chunk.len()));
                    let mut q = sqlx::query(&sql);
                    for id in pad(chunk) {
                        q = q.bind(id);
                    }
                    if q.execute(&mut *conn).await?.rows_affected() != chunk.len() as u64 {
                        return Ok(false);
                    }
                }
                for chunk in bundles.chunks(IN_CHUNK) {
                    let sql = a.count_children_of_orders(padded(chunk.len()));
                    let mut q = sqlx::query(&sql);
                    let refs: Vec<&str> = chunk.iter().map(|b| b.order.id.as_str()).collect();
                    for _table in 0..4 {
                        for id in pad(&refs) {
                            q = q.bind(id);
                        }
                    }
                    if q.fetch_one(&mut *conn).await?.try_get::<i64, _>(0)? != 0 {
                        return Ok(false);
                    }
                    let rows: Vec<(&str, i64)> = chunk
                        .iter()
                        .map(|b| (b.order.id.as_str(), b.order.version))
                        .collect();
                    if !self.arc_delete_versioned(conn, "pay_orders", &rows).await? {
                        return Ok(false);
                    }
                }
                Ok(true)
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

            async fn candidate_bundles(
                &self,
                cutoff_ms: i64,
                after_id: &str,
                limit: i64,
            ) -> Result<CandidateBatch> {
                let mut conn = self.pool.acquire().await?;
                let rows = sqlx::query(&self.q.archive.finished_before())
                    .bind(after_id)
                    .bind(cutoff_ms)
                    .bind(limit)
                    .fetch_all(&mut *conn)
                    .await?;
                let orders: Vec<PayOrder> =
                    rows.iter().map(Self::pay_order).collect::<Result<_>>()?;
                let scanned = orders.len();
                let last_id = orders.last().map(|o| o.id.clone());
                let mut bundles = self.arc_children(&mut conn, orders).await?;
                bundles.retain(OrderBundle::is_settled);
                Ok(CandidateBatch {
                    bundles,
                    last_id,
                    scanned,
                })
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
                if bundles.is_empty() {
                    return Ok(Vec::new());
                }
                // The common case first: none of the rows is here yet, so one transaction
                // of multi-row inserts does it. Any error (a row already here, left by an
                // interrupted run, or anything else) rolls that back and the bundles are
                // compared one by one below, where a real error surfaces again.
                {
                    let mut tx = self.write_tx().await?;
                    let refs: Vec<&OrderBundle> = bundles.iter().collect();
                    match self.arc_insert(&mut tx, &refs, false).await {
                        Ok(()) => {
                            tx.commit().await?;
                            return Ok(vec![PutOutcome::Inserted; bundles.len()]);
                        }
                        Err(e) => {
                            tracing::debug!(error = %e, "archive copy: rows already present, comparing");
                            let _ = tx.rollback().await;
                        }
                    }
                }
                let mut tx = self.write_tx().await?;
                let ids: Vec<String> = bundles.iter().map(|b| b.order.id.clone()).collect();
                let existing: HashMap<String, OrderBundle> = self
                    .arc_load(&mut tx, &ids)
                    .await?
                    .into_iter()
                    .map(|b| (b.order.id.clone(), b))
                    .collect();
                let mut outcomes = Vec::with_capacity(bundles.len());
                let mut to_insert: Vec<&OrderBundle> = Vec::new();
                let mut to_replace: Vec<&OrderBundle> = Vec::new();
                for b in bundles {
                    let mut b_norm = b.clone();
                    b_norm.normalize();
                    match existing.get(&b.order.id) {
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

            async fn list_pay_orders(&self, query: &PayOrderQuery) -> Result<Vec<PayOrder>> {
                let (before_ms, before_id) = match &query.before {
                    Some((ms, id)) => (*ms, id.as_str()),
                    // Past every real key: the first page.
                    None => (i64::MAX, ""),
                };
                let rows = sqlx::query(&self.q.archive.list_orders())
                    .bind(&query.business_line_id)
                    .bind(query.created_from_ms)
                    .bind(query.created_to_ms)
                    .bind(query.status.map(|s| s.as_str()).unwrap_or(""))
                    .bind(query.status.map(|s| s.as_str()).unwrap_or(""))
                    .bind(before_ms)
                    .bind(before_ms)
                    .bind(before_id)
                    .bind(query.before.is_none())
                    .bind(query.limit.clamp(0, 1000))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::pay_order).collect()
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
