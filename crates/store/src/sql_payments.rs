//! Attempts (acquiring), refunds and raw provider callbacks, stamped out per backend like
//! `sql_store.rs` (whose `Store` impl delegates here).
//!
//! Every state change is a conditional update (on the expected status or version); when
//! it changes no row the transaction is dropped (rolled back) before anything else is
//! written. Every transaction that decides something about a pay order takes that
//! order's row lock first, or changes the order only by one conditional UPDATE (refunds),
//! so attempts, payments, refunds and closes of one order are serialised on every backend (see `PaymentQueries` for why later reads then see what
//! the previous holder committed).

use crate::error::{is_unique_violation, ConflictOnUnique, Result, StoreError};
use crate::*;
use paydesk_core::ledger::movements;
use paydesk_core::transition::StateMachine;
use paydesk_core::{
    Amount, AttemptFlag, AttemptStatus, BalancePartStatus, Currency, PayOrderStatus, Provider,
    RefundKind, RefundStatus,
};
use sqlx::mysql::{MySql, MySqlRow};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{Row, Transaction};
use std::str::FromStr;

use crate::sql_store::corrupt;

/// A statement being bound, on backend `DB`.
pub(crate) type Q<'q, DB> = sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>;

fn amount(minor: i64, currency: &str) -> Result<Amount> {
    let c = Currency::from_str(currency.trim()).map_err(|_| corrupt("currency", currency))?;
    Amount::new(minor, c).map_err(|_| corrupt("amount_minor", &minor.to_string()))
}

/// The refund kind recorded for money that is not the order's.
fn auto_refund_kind(flag: AttemptFlag) -> RefundKind {
    match flag {
        AttemptFlag::AmountMismatch => RefundKind::AmountMismatch,
        AttemptFlag::Duplicate => RefundKind::Duplicate,
        AttemptFlag::Late => RefundKind::Late,
    }
}

macro_rules! impl_payments {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            /// Binds an attempt's columns in `PAYMENT_ATTEMPT_COLS` order (single and
            /// multi-row inserts).
            pub(crate) fn bind_attempt<'q>(q: Q<'q, $db>, a: &'q Attempt) -> Q<'q, $db> {
                q.bind(&a.id)
                    .bind(&a.pay_order_id)
                    .bind(&a.attempt_no)
                    .bind(&a.merchant_account)
                    .bind(a.provider.as_str())
                    .bind(&a.method)
                    .bind(&a.product)
                    .bind(a.amount.minor())
                    .bind(a.amount.currency().code())
                    .bind(a.status.as_str())
                    .bind(&a.provider_txn_id)
                    .bind(a.paid_amount_minor)
                    .bind(a.flag.map(AttemptFlag::as_str))
                    .bind(a.paid_at_ms)
                    .bind(a.next_query_at_ms)
                    .bind(a.queries_made)
                    .bind(a.created_at_ms)
                    .bind(a.updated_at_ms)
                    .bind(a.version)
            }

            /// Binds a refund's columns in `REFUND_COLS` order.
            pub(crate) fn bind_refund<'q>(q: Q<'q, $db>, r: &'q Refund) -> Q<'q, $db> {
                q.bind(&r.id)
                    .bind(&r.business_line_id)
                    .bind(&r.pay_order_id)
                    .bind(&r.attempt_id)
                    .bind(&r.refund_no)
                    .bind(&r.business_refund_no)
                    .bind(r.kind.as_str())
                    .bind(r.amount.minor())
                    .bind(r.amount.currency().code())
                    .bind(&r.reason)
                    .bind(r.status.as_str())
                    .bind(&r.provider_refund_id)
                    .bind(r.tries)
                    .bind(r.next_action_at_ms)
                    .bind(&r.last_error)
                    .bind(r.created_at_ms)
                    .bind(r.updated_at_ms)
                    .bind(r.succeeded_at_ms)
                    .bind(r.version)
                    .bind(r.balance_amount_minor)
            }

            /// Binds a raw callback's columns in `CALLBACK_COLS` order.
            pub(crate) fn bind_callback<'q>(q: Q<'q, $db>, c: &'q RawCallback) -> Q<'q, $db> {
                q.bind(&c.id)
                    .bind(c.provider.as_str())
                    .bind(&c.merchant_account)
                    .bind(c.received_at_ms)
                    .bind(&c.headers_json)
                    .bind(&c.body)
                    .bind(&c.outcome)
                    .bind(&c.attempt_no)
                    .bind(&c.pay_order_id)
            }

            pub(crate) fn attempt_row(row: &$row) -> Result<Attempt> {
                let provider = Self::s(row, "provider")?;
                let status = Self::s(row, "status")?;
                let flag = Self::os(row, "flag")?;
                Ok(Attempt {
                    id: Self::s(row, "id")?,
                    pay_order_id: Self::s(row, "pay_order_id")?,
                    attempt_no: Self::s(row, "attempt_no")?,
                    merchant_account: Self::s(row, "merchant_account")?,
                    provider: Provider::parse(&provider)
                        .ok_or_else(|| corrupt("provider", &provider))?,
                    method: Self::s(row, "method")?,
                    product: Self::s(row, "product")?,
                    amount: amount(Self::i(row, "amount_minor")?, &Self::s(row, "currency")?)?,
                    status: AttemptStatus::parse(&status)
                        .ok_or_else(|| corrupt("attempt status", &status))?,
                    provider_txn_id: Self::os(row, "provider_txn_id")?,
                    paid_amount_minor: Self::oi(row, "paid_amount_minor")?,
                    flag: flag
                        .map(|f| AttemptFlag::parse(&f).ok_or_else(|| corrupt("attempt flag", &f)))
                        .transpose()?,
                    paid_at_ms: Self::oi(row, "paid_at_ms")?,
                    next_query_at_ms: Self::oi(row, "next_query_at_ms")?,
                    queries_made: Self::i(row, "queries_made")?,
                    created_at_ms: Self::i(row, "created_at_ms")?,
                    updated_at_ms: Self::i(row, "updated_at_ms")?,
                    version: Self::i(row, "version")?,
                })
            }

            pub(crate) fn refund_row(row: &$row) -> Result<Refund> {
                let kind = Self::s(row, "kind")?;
                let status = Self::s(row, "status")?;
                Ok(Refund {
                    id: Self::s(row, "id")?,
                    business_line_id: Self::s(row, "business_line_id")?,
                    pay_order_id: Self::s(row, "pay_order_id")?,
                    attempt_id: Self::s(row, "attempt_id")?,
                    refund_no: Self::s(row, "refund_no")?,
                    business_refund_no: Self::os(row, "business_refund_no")?,
                    kind: RefundKind::parse(&kind).ok_or_else(|| corrupt("refund kind", &kind))?,
                    amount: amount(Self::i(row, "amount_minor")?, &Self::s(row, "currency")?)?,
                    reason: Self::os(row, "reason")?,
                    status: RefundStatus::parse(&status)
                        .ok_or_else(|| corrupt("refund status", &status))?,
                    provider_refund_id: Self::os(row, "provider_refund_id")?,
                    tries: Self::i(row, "tries")?,
                    next_action_at_ms: Self::oi(row, "next_action_at_ms")?,
                    last_error: Self::os(row, "last_error")?,
                    created_at_ms: Self::i(row, "created_at_ms")?,
                    updated_at_ms: Self::i(row, "updated_at_ms")?,
                    succeeded_at_ms: Self::oi(row, "succeeded_at_ms")?,
                    version: Self::i(row, "version")?,
                    balance_amount_minor: Self::i(row, "balance_amount_minor")?,
                })
            }

            pub(crate) fn callback_row(row: &$row) -> Result<RawCallback> {
                let provider = Self::s(row, "provider")?;
                Ok(RawCallback {
                    id: Self::s(row, "id")?,
                    provider: Provider::parse(&provider)
                        .ok_or_else(|| corrupt("provider", &provider))?,
                    merchant_account: Self::s(row, "merchant_account")?,
                    received_at_ms: Self::i(row, "received_at_ms")?,
                    headers_json: Self::s(row, "headers_json")?,
                    body: Self::s(row, "body")?,
                    outcome: Self::s(row, "outcome")?,
                    attempt_no: Self::os(row, "attempt_no")?,
                    pay_order_id: Self::os(row, "pay_order_id")?,
                })
            }

            async fn attempt_tx(
                &self,
                tx: &mut Transaction<'static, $db>,
                id: &str,
            ) -> Result<Attempt> {
                Self::one_by_id_tx(tx, &self.q.payments.attempt_by_id, id, Self::attempt_row).await
            }

            async fn refund_tx(
                &self,
                tx: &mut Transaction<'static, $db>,
                id: &str,
            ) -> Result<Refund> {
                Self::one_by_id_tx(tx, &self.q.payments.refund_by_id, id, Self::refund_row).await
            }

            /// Inserts a refund and its never-archived `refund_nos` row.
            async fn insert_refund_tx(
                &self,
                tx: &mut Transaction<'static, $db>,
                r: &Refund,
            ) -> Result<()> {
                let p = &self.q.payments;
                sqlx::query(&p.insert_refund_no)
                    .bind(&r.refund_no)
                    .bind(&r.id)
                    .bind(r.created_at_ms)
                    .execute(&mut **tx)
                    .await
                    .conflict_on_unique(|| {
                        format!("refund number `{}` was already used", r.refund_no)
                    })?;
                Self::bind_refund(sqlx::query(&p.insert_refund), &r)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            async fn count_tx(
                tx: &mut Transaction<'static, $db>,
                sql: &str,
                a: &str,
                b: Option<&str>,
            ) -> Result<i64> {
                let mut q = sqlx::query(sql).bind(a);
                if let Some(b) = b {
                    q = q.bind(b);
                }
                Ok(q.fetch_one(&mut **tx).await?.try_get::<i64, _>(0)?)
            }

            pub(crate) async fn pay_create_attempt(
                &self,
                a: &NewAttempt,
                max_attempts: i64,
            ) -> Result<CreateAttemptOutcome> {
                let p = &self.q.payments;
                let mut tx = self.write_tx().await?;
                // The order's row lock, and the check that it can still be paid.
                let locked = sqlx::query(&p.lock_waiting_order)
                    .bind(a.created_at_ms)
                    .bind(&a.pay_order_id)
                    .bind(a.created_at_ms)
                    .execute(&mut *tx)
                    .await?;
                if locked.rows_affected() != 1 {
                    drop(tx);
                    return Ok(CreateAttemptOutcome::OrderNotPayable(
                        self.pay_order(&a.pay_order_id).await?,
                    ));
                }
                let row = sqlx::query(&self.q.pay_order_by_id)
                    .bind(&a.pay_order_id)
                    .fetch_one(&mut *tx)
                    .await?;
                let order = Self::pay_order(&row)?;
                // The whole amount, or (COMBINED) the rest of a balance part held now.
                let rest_of_hold = if order.amount == a.amount {
                    false
                } else {
                    Self::bp_get_tx(&mut tx, &self.q.balance.by_order, &order.id)
                        .await?
                        .is_some_and(|b| {
                            b.status == BalancePartStatus::Held
                                && b.amount.currency() == a.amount.currency()
                                && b.amount.minor().checked_add(a.amount.minor())
                                    == Some(order.amount.minor())
                        })
                };
                if order.amount != a.amount && !rest_of_hold {
                    return Err(StoreError::Invalid(format!(
                        "attempt {} asks {:?}, its pay order {} is {:?}",
                        a.id, a.amount, order.id, order.amount
                    )));
                }
                let n = Self::count_tx(&mut tx, &p.count_attempts, &a.pay_order_id, None).await?;
                if n >= max_attempts {
                    return Ok(CreateAttemptOutcome::TooManyAttempts);
                }
                let open = sqlx::query(&p.open_attempt)
                    .bind(&a.pay_order_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = open {
                    return Ok(CreateAttemptOutcome::OpenAttemptExists(Self::attempt_row(
                        &row,
                    )?));
                }
                sqlx::query(&p.insert_attempt_key)
                    .bind(&a.attempt_no)
                    .bind(&a.pay_order_id)
                    .bind(a.created_at_ms)
                    .execute(&mut *tx)
                    .await
                    .conflict_on_unique(|| {
                        format!("attempt number `{}` was already used", a.attempt_no)
                    })?;
                let attempt = Attempt {
                    id: a.id.clone(),
                    pay_order_id: a.pay_order_id.clone(),
                    attempt_no: a.attempt_no.clone(),
                    merchant_account: a.merchant_account.clone(),
                    provider: a.provider,
                    method: a.method.clone(),
                    product: a.product.clone(),
                    amount: a.amount,
                    status: AttemptStatus::Creating,
                    provider_txn_id: None,
                    paid_amount_minor: None,
                    flag: None,
                    paid_at_ms: None,
                    next_query_at_ms: Some(a.next_query_at_ms),
                    queries_made: 0,
                    created_at_ms: a.created_at_ms,
                    updated_at_ms: a.created_at_ms,
                    version: 0,
                };
                Self::bind_attempt(sqlx::query(&p.insert_attempt), &attempt)
                    .execute(&mut *tx)
                    .await
                    .conflict_on_unique(|| {
                        format!(
                            "attempt id `{}` or number `{}` was already used",
                            a.id, a.attempt_no
                        )
                    })?;
                tx.commit().await?;
                Ok(CreateAttemptOutcome::Created(attempt))
            }

            pub(crate) async fn pay_attempt(&self, id: &str) -> Result<Option<Attempt>> {
                let row = sqlx::query(&self.q.payments.attempt_by_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::attempt_row).transpose()
            }

            pub(crate) async fn pay_attempt_by_no(&self, no: &str) -> Result<Option<Attempt>> {
                let row = sqlx::query(&self.q.payments.attempt_by_no)
                    .bind(no)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::attempt_row).transpose()
            }

            pub(crate) async fn pay_attempt_by_txn(&self, txn: &str) -> Result<Option<Attempt>> {
                let row = sqlx::query(&self.q.payments.attempt_by_txn)
                    .bind(txn)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::attempt_row).transpose()
            }

            pub(crate) async fn pay_attempts_for_order(&self, order: &str) -> Result<Vec<Attempt>> {
                let rows = sqlx::query(&self.q.payments.attempts_for_order)
                    .bind(order)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::attempt_row).collect()
            }

            pub(crate) async fn pay_update_attempt(
                &self,
                id: &str,
                u: &AttemptUpdate,
            ) -> Result<Transition<Attempt>> {
                // Success has its own path (flags, the order, refunds); anything else the
                // state machine refuses is refused here without touching the row.
                if u.to == AttemptStatus::Succeeded || !u.from.can_transition(u.to) {
                    return Ok(Transition::Refused(self.pay_attempt(id).await?));
                }
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(&self.q.payments.update_attempt)
                    .bind(u.to.as_str())
                    .bind(&u.provider_txn_id)
                    .bind(u.next_query_at_ms)
                    .bind(u.now_ms)
                    .bind(id)
                    .bind(u.from.as_str())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    drop(tx);
                    return Ok(Transition::Refused(self.pay_attempt(id).await?));
                }
                let attempt = self.attempt_tx(&mut tx, id).await?;
                tx.commit().await?;
                Ok(Transition::Applied(attempt))
            }

            pub(crate) async fn pay_schedule_query(
                &self,
                id: &str,
                expected_version: i64,
                next_query_at_ms: Option<i64>,
                now_ms: i64,
            ) -> Result<bool> {
                let r = sqlx::query(&self.q.payments.schedule_query)
                    .bind(next_query_at_ms)
                    .bind(now_ms)
                    .bind(id)
                    .bind(expected_version)
                    .execute(self.w())
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            pub(crate) async fn pay_due_queries(
                &self,
                now_ms: i64,
                limit: i64,
            ) -> Result<Vec<Attempt>> {
                let rows = sqlx::query(&self.q.payments.due_queries)
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::attempt_row).collect()
            }

            pub(crate) async fn pay_record_success(
                &self,
                s: &PaymentSuccess,
            ) -> Result<PaymentOutcome> {
                let p = &self.q.payments;
                // A success moves money: nothing or less is not a payment (and would leave a
                // flagged attempt with nothing to refund).
                if s.paid_amount_minor <= 0 {
                    return Err(StoreError::Invalid(format!(
                        "a payment of {} minor units is not a payment",
                        s.paid_amount_minor
                    )));
                }
                // Only immutable fields (order, amount) of this read decide anything; the
                // status is decided by the conditional update below.
                let Some(attempt) = self.pay_attempt(&s.attempt_id).await? else {
                    return Ok(PaymentOutcome::UnknownAttempt);
                };
                if attempt.status == AttemptStatus::Succeeded {
                    return Ok(PaymentOutcome::AlreadyRecorded(attempt));
                }
                // Every success brought money in through the attempt's merchant account.
                let currency = attempt.amount.currency();
                let acquiring = movements::acquiring(
                    &attempt.merchant_account,
                    Amount::new(s.paid_amount_minor, currency)
                        .map_err(|e| StoreError::Invalid(e.to_string()))?,
                )
                .map_err(|e| StoreError::Invalid(e.to_string()))?;
                let mut accounts = self.ledger_open(&acquiring, s.now_ms).await?;
                let part_seen = self.bp_get(&attempt.pay_order_id).await?;
                if let Some(part) = &part_seen {
                    accounts.extend(
                        self.bp_open(&part.user_id, currency, None, s.now_ms)
                            .await?,
                    );
                }
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(&p.lock_order)
                    .bind(&attempt.pay_order_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Err(StoreError::Corrupt(format!(
                        "attempt {} names pay order {}, which this store does not hold",
                        attempt.id, attempt.pay_order_id
                    )));
                };
                let order = Self::pay_order(&row)?;
                // Under the order's lock its status (and balance part) is the latest
                // committed one.
                let held = Self::bp_get_tx(&mut tx, &self.q.balance.by_order, &order.id)
                    .await?
                    .filter(|b| b.status == BalancePartStatus::Held);
                if held.is_some() && part_seen.is_none() {
                    // Held after the accounts were opened: try again with them open.
                    drop(tx);
                    return Err(StoreError::Conflict(format!(
                        "pay order {} took a balance part while its payment was recorded",
                        order.id
                    )));
                }
                let whole = attempt.amount == order.amount;
                let covered = whole
                    || held.as_ref().is_some_and(|b| {
                        b.amount.minor().checked_add(attempt.amount.minor())
                            == Some(order.amount.minor())
                    });
                let flag = if s.paid_amount_minor != attempt.amount.minor() {
                    Some(AttemptFlag::AmountMismatch)
                } else {
                    match order.status {
                        PayOrderStatus::Waiting if covered => None,
                        // A combined attempt whose balance part is gone (released when
                        // the buyer chose again): the order cannot take it, so it goes
                        // back like a late payment.
                        PayOrderStatus::Waiting => Some(AttemptFlag::Late),
                        PayOrderStatus::Paid => Some(AttemptFlag::Duplicate),
                        PayOrderStatus::Closed => Some(AttemptFlag::Late),
                    }
                };
                let done = sqlx::query(&p.succeed_attempt)
                    .bind(&s.provider_txn_id)
                    .bind(s.paid_amount_minor)
                    .bind(flag.map(AttemptFlag::as_str))
                    .bind(s.paid_at_ms)
                    .bind(s.now_ms)
                    .bind(&attempt.id)
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    // Another recorder got there first: its outcome stands.
                    drop(tx);
                    return match self.pay_attempt(&attempt.id).await? {
                        Some(a) if a.status == AttemptStatus::Succeeded => {
                            Ok(PaymentOutcome::AlreadyRecorded(a))
                        }
                        Some(a) => Err(StoreError::Conflict(format!(
                            "attempt {} changed while its success was recorded ({})",
                            a.id,
                            a.status.as_str()
                        ))),
                        None => Ok(PaymentOutcome::UnknownAttempt),
                    };
                }
                let entry = Self::order_entry(
                    &order.business_line_id,
                    &order.id,
                    format!("attempt:{}", attempt.id),
                    acquiring,
                    s.now_ms,
                );
                self.post_certain_tx(&mut tx, entry, &accounts).await?;
                let Some(flag) = flag else {
                    if let Some(part) = &held {
                        if whole {
                            // Paid wholly by the provider: the balance stays the buyer's.
                            self.bp_release_tx(&mut tx, part, &accounts, s.now_ms)
                                .await?;
                        } else {
                            self.bp_capture_tx(
                                &mut tx,
                                part,
                                &attempt.merchant_account,
                                &accounts,
                                s.now_ms,
                            )
                            .await?;
                        }
                    }
                    let paid = sqlx::query(&p.mark_paid)
                        .bind(s.paid_at_ms)
                        .bind(s.now_ms)
                        .bind(&order.id)
                        .execute(&mut *tx)
                        .await?;
                    if paid.rows_affected() != 1 {
                        drop(tx);
                        return Err(StoreError::Conflict(format!(
                            "pay order {} changed under its row lock",
                            order.id
                        )));
                    }
                    self.insert_event_tx(&mut tx, &s.paid_event).await?;
                    let row = sqlx::query(&self.q.pay_order_by_id)
                        .bind(&order.id)
                        .fetch_one(&mut *tx)
                        .await?;
                    let order = Self::pay_order(&row)?;
                    let attempt = self.attempt_tx(&mut tx, &attempt.id).await?;
                    tx.commit().await?;
                    return Ok(PaymentOutcome::Paid { order, attempt });
                };
                let held = flag == AttemptFlag::AmountMismatch && s.hold_amount_mismatch;
                let refund = if held {
                    None
                } else {
                    let r = &s.auto_refund;
                    let refund = Refund {
                        id: r.id.clone(),
                        business_line_id: order.business_line_id.clone(),
                        pay_order_id: order.id.clone(),
                        attempt_id: attempt.id.clone(),
                        refund_no: r.refund_no.clone(),
                        business_refund_no: None,
                        kind: auto_refund_kind(flag),
                        amount: Amount::new(s.paid_amount_minor, attempt.amount.currency())
                            .map_err(|e| StoreError::Invalid(e.to_string()))?,
                        reason: r.reason.clone(),
                        status: RefundStatus::Pending,
                        provider_refund_id: None,
                        tries: 0,
                        next_action_at_ms: Some(r.created_at_ms),
                        last_error: None,
                        created_at_ms: r.created_at_ms,
                        updated_at_ms: r.created_at_ms,
                        succeeded_at_ms: None,
                        version: 0,
                        balance_amount_minor: 0,
                    };
                    self.insert_refund_tx(&mut tx, &refund).await?;
                    Some(refund)
                };
                let attempt = self.attempt_tx(&mut tx, &attempt.id).await?;
                tx.commit().await?;
                Ok(PaymentOutcome::NotTheOrdersPayment { attempt, refund })
            }

            pub(crate) async fn pay_flagged(&self, limit: i64) -> Result<Vec<Attempt>> {
                let rows = sqlx::query(&self.q.payments.flagged)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::attempt_row).collect()
            }

            pub(crate) async fn pay_create_refund(
                &self,
                r: &NewRefund,
                max_refunds: i64,
            ) -> Result<CreateRefundOutcome> {
                let p = &self.q.payments;
                let Some(business_no) = r.business_refund_no.as_deref() else {
                    return Err(StoreError::Invalid(format!(
                        "business refund {} has no business refund number",
                        r.id
                    )));
                };
                if r.kind != RefundKind::Business || r.amount.minor() <= 0 {
                    return Err(StoreError::Invalid(format!(
                        "refund {} must be a BUSINESS refund of a positive amount",
                        r.id
                    )));
                }
                // The business line is fixed at the order's creation.
                let Some(order) = self.pay_order(&r.pay_order_id).await? else {
                    return Ok(CreateRefundOutcome::OrderNotPaid(None));
                };
                let mut tx = self.write_tx().await?;
                let key = sqlx::query(&p.insert_refund_key)
                    .bind(&order.business_line_id)
                    .bind(business_no)
                    .bind(&r.id)
                    .bind(r.created_at_ms)
                    .execute(&mut *tx)
                    .await;
                match key {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        // PostgreSQL has aborted the transaction: roll back, then read.
                        drop(tx);
                        return match self
                            .pay_refund_by_business_no(&order.business_line_id, business_no)
                            .await?
                        {
                            Some(existing) => Ok(CreateRefundOutcome::Existing(existing)),
                            None => Err(StoreError::Conflict(format!(
                                "business refund number `{business_no}` is held by a refund \
                                 this store does not hold"
                            ))),
                        };
                    }
                    Err(e) => return Err(e.into()),
                }
                let reserved = sqlx::query(&p.reserve_refund)
                    .bind(r.amount.minor())
                    .bind(r.created_at_ms)
                    .bind(&order.id)
                    .bind(r.amount.currency().code())
                    .bind(r.amount.minor())
                    .execute(&mut *tx)
                    .await?;
                if reserved.rows_affected() != 1 {
                    drop(tx);
                    return match self.pay_order(&order.id).await? {
                        Some(o) if o.status == PayOrderStatus::Paid => {
                            if o.currency() != r.amount.currency() {
                                Err(StoreError::Invalid(format!(
                                    "refund {} is in {}, pay order {} in {}",
                                    r.id,
                                    r.amount.currency().code(),
                                    o.id,
                                    o.currency().code()
                                )))
                            } else {
                                Ok(CreateRefundOutcome::ExceedsRefundable {
                                    refundable_minor: o
                                        .amount
                                        .minor()
                                        .saturating_sub(o.refunded_amount_minor)
                                        .max(0),
                                })
                            }
                        }
                        other => Ok(CreateRefundOutcome::OrderNotPaid(other)),
                    };
                }
                let part = Self::bp_get_tx(&mut tx, &self.q.balance.by_order, &order.id)
                    .await?
                    .filter(|b| b.status == BalancePartStatus::Captured);
                // A BALANCE order has no provider attempt: its refunds name none ("").
                let balance_only = part.as_ref().is_some_and(|b| b.amount == order.amount);
                let n = if balance_only {
                    if !r.attempt_id.is_empty() {
                        return Err(StoreError::Invalid(format!(
                            "pay order {} was paid from the balance: no attempt to refund",
                            order.id
                        )));
                    }
                    Self::count_tx(&mut tx, &p.count_refunds_of_order, &order.id, None).await?
                } else {
                    let paid_by = Self::count_tx(
                        &mut tx,
                        &p.paid_attempt_of_order,
                        &r.attempt_id,
                        Some(&order.id),
                    )
                    .await?;
                    if paid_by != 1 {
                        return Err(StoreError::Invalid(format!(
                            "attempt {} is not the payment of pay order {}",
                            r.attempt_id, order.id
                        )));
                    }
                    Self::count_tx(&mut tx, &p.count_refunds_of_attempt, &r.attempt_id, None)
                        .await?
                };
                if n >= max_refunds {
                    return Ok(CreateRefundOutcome::TooManyRefunds);
                }
                let balance_amount_minor = match &part {
                    None => 0,
                    Some(b) => {
                        let locked = Self::one_by_id_tx(
                            &mut tx,
                            &self.q.pay_order_by_id,
                            &order.id,
                            Self::pay_order,
                        )
                        .await?;
                        let before = locked.refunded_amount_minor - r.amount.minor();
                        let provider_total = order.amount.minor() - b.amount.minor();
                        let provider_left = provider_total - (before - b.refunded_minor);
                        let balance_left = b.amount.minor() - b.refunded_minor;
                        let split = paydesk_core::balance_part::split_refund(
                            r.amount.minor(),
                            provider_left,
                            balance_left,
                            r.funds,
                        );
                        let Some((_, balance)) = split else {
                            return Err(StoreError::Corrupt(format!(
                                "pay order {} refunded {} does not match its balance part",
                                order.id, before
                            )));
                        };
                        if balance > 0 {
                            let done = sqlx::query(&self.q.balance.reserve_refund)
                                .bind(balance)
                                .bind(r.created_at_ms)
                                .bind(&order.id)
                                .bind(balance)
                                .execute(&mut *tx)
                                .await?;
                            if done.rows_affected() != 1 {
                                return Err(StoreError::Corrupt(format!(
                                    "balance part of {} cannot take a refund of {balance}",
                                    order.id
                                )));
                            }
                        }
                        balance
                    }
                };
                let refund = Refund {
                    id: r.id.clone(),
                    business_line_id: order.business_line_id.clone(),
                    pay_order_id: order.id.clone(),
                    attempt_id: r.attempt_id.clone(),
                    refund_no: r.refund_no.clone(),
                    business_refund_no: Some(business_no.to_owned()),
                    kind: RefundKind::Business,
                    amount: r.amount,
                    reason: r.reason.clone(),
                    status: RefundStatus::Pending,
                    provider_refund_id: None,
                    tries: 0,
                    next_action_at_ms: Some(r.created_at_ms),
                    last_error: None,
                    created_at_ms: r.created_at_ms,
                    updated_at_ms: r.created_at_ms,
                    succeeded_at_ms: None,
                    version: 0,
                    balance_amount_minor,
                };
                self.insert_refund_tx(&mut tx, &refund).await?;
                tx.commit().await?;
                Ok(CreateRefundOutcome::Created(refund))
            }

            pub(crate) async fn pay_refund(&self, id: &str) -> Result<Option<Refund>> {
                let row = sqlx::query(&self.q.payments.refund_by_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::refund_row).transpose()
            }

            pub(crate) async fn pay_refund_by_business_no(
                &self,
                business_line_id: &str,
                business_refund_no: &str,
            ) -> Result<Option<Refund>> {
                let row = sqlx::query(&self.q.payments.refund_by_business_no)
                    .bind(business_line_id)
                    .bind(business_refund_no)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::refund_row).transpose()
            }

            pub(crate) async fn pay_refund_by_no(&self, no: &str) -> Result<Option<Refund>> {
                let row = sqlx::query(&self.q.payments.refund_by_no)
                    .bind(no)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::refund_row).transpose()
            }

            pub(crate) async fn pay_refunds_for_order(&self, order: &str) -> Result<Vec<Refund>> {
                let rows = sqlx::query(&self.q.payments.refunds_for_order)
                    .bind(order)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::refund_row).collect()
            }

            pub(crate) async fn pay_due_refunds(
                &self,
                now_ms: i64,
                limit: i64,
            ) -> Result<Vec<Refund>> {
                let rows = sqlx::query(&self.q.payments.due_refunds)
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::refund_row).collect()
            }

            pub(crate) async fn pay_update_refund(
                &self,
                id: &str,
                u: &RefundUpdate,
            ) -> Result<Transition<Refund>> {
                let p = &self.q.payments;
                // A success moves the money in the ledger: its entries, and the accounts
                // they touch (opened before the transaction), are known from the refund.
                let postings = match self.pay_refund(id).await? {
                    Some(r) if u.status == RefundStatus::Succeeded => {
                        Some(self.refund_postings(&r, u.now_ms).await?)
                    }
                    _ => None,
                };
                let mut tx = self.write_tx().await?;
                let row = sqlx::query(&p.refund_by_id)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(row) = row else {
                    return Ok(Transition::Refused(None));
                };
                let current = Self::refund_row(&row)?;
                // Same state: a reschedule, except in a terminal state (nothing to do,
                // and a second FAILED must never release the amount twice).
                let legal = if u.status == current.status {
                    !current.status.is_terminal()
                } else {
                    current.status.can_transition(u.status)
                };
                if current.version != u.expected_version || !legal {
                    return Ok(Transition::Refused(Some(current)));
                }
                let done = sqlx::query(&p.update_refund)
                    .bind(u.status.as_str())
                    .bind(&u.provider_refund_id)
                    .bind(i64::from(u.count_try))
                    .bind(u.next_action_at_ms)
                    .bind(&u.last_error)
                    .bind(u.succeeded_at_ms)
                    .bind(u.now_ms)
                    .bind(id)
                    .bind(u.expected_version)
                    .bind(current.status.as_str())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    drop(tx);
                    return Ok(Transition::Refused(self.pay_refund(id).await?));
                }
                // FAILED is terminal (`legal` above), so this releases at most once.
                if current.kind == RefundKind::Business && u.status == RefundStatus::Failed {
                    let released = sqlx::query(&p.release_refund)
                        .bind(current.amount.minor())
                        .bind(u.now_ms)
                        .bind(&current.pay_order_id)
                        .bind(current.amount.minor())
                        .execute(&mut *tx)
                        .await?;
                    if released.rows_affected() != 1 {
                        drop(tx);
                        return Err(StoreError::Corrupt(format!(
                            "pay order {} does not hold refund {}'s reservation of {}",
                            current.pay_order_id,
                            current.id,
                            current.amount.minor()
                        )));
                    }
                    if current.balance_amount_minor > 0 {
                        let released = sqlx::query(&self.q.balance.release_refund)
                            .bind(current.balance_amount_minor)
                            .bind(u.now_ms)
                            .bind(&current.pay_order_id)
                            .bind(current.balance_amount_minor)
                            .execute(&mut *tx)
                            .await?;
                        if released.rows_affected() != 1 {
                            return Err(StoreError::Corrupt(format!(
                                "balance part of {} does not hold refund {}'s reservation",
                                current.pay_order_id, current.id
                            )));
                        }
                    }
                }
                // SUCCEEDED is terminal too: the money moves in the ledger exactly once.
                if u.status == RefundStatus::Succeeded && current.status != u.status {
                    let Some((entries, accounts)) = postings else {
                        return Err(StoreError::Conflict(format!(
                            "refund {id} appeared while it was being updated"
                        )));
                    };
                    for e in entries {
                        self.post_certain_tx(&mut tx, e, &accounts).await?;
                    }
                }
                if let Some(e) = &u.event {
                    self.insert_event_tx(&mut tx, e).await?;
                }
                let refund = self.refund_tx(&mut tx, id).await?;
                tx.commit().await?;
                Ok(Transition::Applied(refund))
            }

            /// The entries a refund's success posts, and their accounts (opened): the
            /// provider part `REFUND` (clearing -> external of the paid attempt's merchant
            /// account), the balance part `BALANCE_REFUND` (clearing -> the buyer's
            /// available balance).
            async fn refund_postings(
                &self,
                r: &Refund,
                now_ms: i64,
            ) -> Result<(Vec<NewJournalEntry>, crate::sql_balance::Opened)> {
                let bad = |e: paydesk_core::LedgerError| StoreError::Invalid(e.to_string());
                let currency = r.amount.currency();
                let clearing_owner = if r.attempt_id.is_empty() {
                    paydesk_core::balance_part::BALANCE_CLEARING_OWNER.to_owned()
                } else {
                    self.pay_attempt(&r.attempt_id)
                        .await?
                        .ok_or_else(|| {
                            StoreError::Corrupt(format!("refund {} has no attempt", r.id))
                        })?
                        .merchant_account
                };
                let mut entries = Vec::new();
                let mut accounts = crate::sql_balance::Opened::new();
                let provider_minor = r.provider_amount_minor();
                if provider_minor > 0 {
                    let e = movements::refund(
                        &clearing_owner,
                        Amount::new(provider_minor, currency)
                            .map_err(|e| StoreError::Corrupt(format!("refund {}: {e}", r.id)))?,
                    )
                    .map_err(bad)?;
                    accounts.extend(self.ledger_open(&e, now_ms).await?);
                    entries.push(e);
                }
                if r.balance_amount_minor > 0 {
                    let part = self.bp_get(&r.pay_order_id).await?.ok_or_else(|| {
                        StoreError::Corrupt(format!("refund {} has no balance part", r.id))
                    })?;
                    let e = movements::balance_refund(
                        &clearing_owner,
                        &part.user_account().map_err(bad)?,
                        Amount::new(r.balance_amount_minor, currency)
                            .map_err(|e| StoreError::Corrupt(format!("refund {}: {e}", r.id)))?,
                    )
                    .map_err(bad)?;
                    accounts.extend(self.ledger_open(&e, now_ms).await?);
                    entries.push(e);
                }
                let entries = entries
                    .into_iter()
                    .map(|e| {
                        Self::order_entry(
                            &r.business_line_id,
                            &r.pay_order_id,
                            format!("refund:{}", r.id),
                            e,
                            now_ms,
                        )
                    })
                    .collect();
                Ok((entries, accounts))
            }

            pub(crate) async fn pay_insert_callback(&self, c: &RawCallback) -> Result<()> {
                Self::bind_callback(sqlx::query(&self.q.payments.insert_callback), c)
                    .execute(self.w())
                    .await
                    .conflict_on_unique(|| format!("callback id `{}` was already used", c.id))?;
                Ok(())
            }

            pub(crate) async fn pay_callbacks_for_order(
                &self,
                order: &str,
            ) -> Result<Vec<RawCallback>> {
                let rows = sqlx::query(&self.q.payments.callbacks_for_order)
                    .bind(order)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::callback_row).collect()
            }
        }
    };
}

impl_payments!(SqliteStore, Sqlite, SqliteRow);
impl_payments!(PostgresStore, Postgres, PgRow);
impl_payments!(MySqlStore, MySql, MySqlRow);
