//! Balance parts of pay orders on SQL, stamped out per backend like `sql_payments.rs`:
//! holding, capturing and releasing the buyer's balance for `COMBINED` and `BALANCE`
//! payments. Each change runs under the order's row lock, is conditional on the part's
//! version and status, and posts its ledger entry in the same transaction; the payment
//! and refund transactions in `sql_payments.rs` call the `*_tx` helpers here.

use crate::error::{Result, StoreError};
use crate::sql_ledger::TxPost;
use crate::sql_store::corrupt;
use crate::*;
use paydesk_core::balance_part::BALANCE_CLEARING_OWNER;
use paydesk_core::ledger::{movements, AccountRef, JournalEntry};
use paydesk_core::transition::StateMachine;
use paydesk_core::{ids, Amount, BalancePartStatus, Currency};
use sqlx::mysql::{MySql, MySqlRow};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::Transaction;
use std::collections::BTreeMap;
use std::str::FromStr;

/// The accounts a posting may touch, opened before its transaction.
pub(crate) type Opened = BTreeMap<AccountRef, LedgerAccount>;

fn ledger_err(e: paydesk_core::LedgerError) -> StoreError {
    StoreError::Invalid(e.to_string())
}

fn amount_of(minor: i64, currency: Currency) -> Result<Amount> {
    Amount::new(minor, currency).map_err(|e| StoreError::Invalid(e.to_string()))
}

macro_rules! impl_balance {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            fn balance_part_row(row: &$row) -> Result<BalancePart> {
                let status = Self::s(row, "status")?;
                let currency = Self::s(row, "currency")?;
                let currency = Currency::from_str(currency.trim())
                    .map_err(|_| corrupt("currency", &currency))?;
                let amount_minor = Self::i(row, "amount_minor")?;
                Ok(BalancePart {
                    pay_order_id: Self::s(row, "pay_order_id")?,
                    business_line_id: Self::s(row, "business_line_id")?,
                    user_id: Self::s(row, "user_id")?,
                    amount: Amount::new(amount_minor, currency)
                        .map_err(|_| corrupt("amount_minor", &amount_minor.to_string()))?,
                    status: BalancePartStatus::parse(&status)
                        .ok_or_else(|| corrupt("balance part status", &status))?,
                    refunded_minor: Self::i(row, "refunded_minor")?,
                    created_at_ms: Self::i(row, "created_at_ms")?,
                    updated_at_ms: Self::i(row, "updated_at_ms")?,
                    version: Self::i(row, "version")?,
                })
            }

            pub(crate) async fn bp_get(&self, order_id: &str) -> Result<Option<BalancePart>> {
                let row = sqlx::query(&self.q.balance.by_order)
                    .bind(order_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::balance_part_row).transpose()
            }

            pub(crate) async fn bp_get_tx(
                tx: &mut Transaction<'static, $db>,
                sql: &str,
                order_id: &str,
            ) -> Result<Option<BalancePart>> {
                let row = sqlx::query(sql)
                    .bind(order_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                row.as_ref().map(Self::balance_part_row).transpose()
            }

            /// Opens the buyer's available and held accounts and, if given, a clearing
            /// account: everything a part's hold, release, capture or refund touches.
            pub(crate) async fn bp_open(
                &self,
                user_id: &str,
                currency: Currency,
                clearing_owner: Option<&str>,
                now_ms: i64,
            ) -> Result<Opened> {
                let user = AccountRef::user(user_id, currency).map_err(ledger_err)?;
                let mut refs = vec![user.held_twin().map_err(ledger_err)?, user];
                if let Some(owner) = clearing_owner {
                    refs.push(AccountRef::clearing(owner, currency).map_err(ledger_err)?);
                }
                let mut out = Opened::new();
                for r in refs {
                    let a =
                        crate::sql_store::with_retry!(self.ledger_try_ensure(&r, now_ms).await)?;
                    out.insert(r, a);
                }
                Ok(out)
            }

            /// Posts an entry the transaction's own guards already make legal: a taken
            /// key or a refused balance here means the records disagree with the ledger.
            pub(crate) async fn post_certain_tx(
                &self,
                tx: &mut Transaction<'static, $db>,
                entry: NewJournalEntry,
                accounts: &Opened,
            ) -> Result<PostedEntry> {
                match self.ledger_post_tx(tx, &entry, accounts).await? {
                    TxPost::Posted(p) => Ok(p),
                    TxPost::Duplicate => Err(StoreError::Corrupt(format!(
                        "ledger key {} was already posted",
                        entry.idempotency_key
                    ))),
                    TxPost::Insufficient(account) => Err(StoreError::Corrupt(format!(
                        "ledger account {account} does not cover {} ({})",
                        entry.idempotency_key,
                        entry.entry.kind().as_str()
                    ))),
                }
            }

            /// A new entry of a pay order's business line.
            pub(crate) fn order_entry(
                business_line_id: &str,
                reference: &str,
                key: String,
                entry: JournalEntry,
                now_ms: i64,
            ) -> NewJournalEntry {
                NewJournalEntry {
                    id: ids::new_id(ids::JOURNAL_ENTRY),
                    business_line_id: business_line_id.to_owned(),
                    reference: reference.to_owned(),
                    idempotency_key: key,
                    created_at_ms: now_ms,
                    entry,
                }
            }

            /// Moves a part to `to` (holding `amount` from then on) at its version;
            /// refused: `Conflict` (every caller holds the order's row lock, so a part that
            /// moved meanwhile means the records disagree).
            async fn bp_move_tx(
                &self,
                tx: &mut Transaction<'static, $db>,
                part: &BalancePart,
                to: BalancePartStatus,
                amount: Amount,
                now_ms: i64,
            ) -> Result<BalancePart> {
                if !part.status.can_transition(to) {
                    return Err(StoreError::Invalid(format!(
                        "balance part of {} cannot go {} -> {}",
                        part.pay_order_id,
                        part.status.as_str(),
                        to.as_str()
                    )));
                }
                let done = sqlx::query(&self.q.balance.move_part)
                    .bind(amount.minor())
                    .bind(to.as_str())
                    .bind(now_ms)
                    .bind(&part.pay_order_id)
                    .bind(part.version)
                    .bind(part.status.as_str())
                    .execute(&mut **tx)
                    .await?;
                if done.rows_affected() != 1 {
                    return Err(StoreError::Conflict(format!(
                        "balance part of {} changed under its order's lock",
                        part.pay_order_id
                    )));
                }
                Ok(BalancePart {
                    amount,
                    status: to,
                    updated_at_ms: now_ms,
                    version: part.version + 1,
                    ..part.clone()
                })
            }

            /// Releases a held part: held -> available, with its `RELEASE` entry.
            pub(crate) async fn bp_release_tx(
                &self,
                tx: &mut Transaction<'static, $db>,
                part: &BalancePart,
                accounts: &Opened,
                now_ms: i64,
            ) -> Result<BalancePart> {
                let after = self
                    .bp_move_tx(tx, part, BalancePartStatus::Released, part.amount, now_ms)
                    .await?;
                let user = part.user_account().map_err(ledger_err)?;
                let entry = movements::release(&user, part.amount).map_err(ledger_err)?;
                let key = format!("bp-release:{}:{}", part.pay_order_id, after.version);
                let new = Self::order_entry(
                    &part.business_line_id,
                    &part.pay_order_id,
                    key,
                    entry,
                    now_ms,
                );
                self.post_certain_tx(tx, new, accounts).await?;
                Ok(after)
            }

            /// Captures a held part into `clearing_owner`'s clearing account (the order
            /// is being paid in the same transaction).
            pub(crate) async fn bp_capture_tx(
                &self,
                tx: &mut Transaction<'static, $db>,
                part: &BalancePart,
                clearing_owner: &str,
                accounts: &Opened,
                now_ms: i64,
            ) -> Result<BalancePart> {
                let after = self
                    .bp_move_tx(tx, part, BalancePartStatus::Captured, part.amount, now_ms)
                    .await?;
                let user = part.user_account().map_err(ledger_err)?;
                let to = AccountRef::clearing(clearing_owner, part.amount.currency())
                    .map_err(ledger_err)?;
                let entry = movements::capture_hold(&user, &to, part.amount).map_err(ledger_err)?;
                let key = format!("bp-capture:{}", part.pay_order_id);
                let new = Self::order_entry(
                    &part.business_line_id,
                    &part.pay_order_id,
                    key,
                    entry,
                    now_ms,
                );
                self.post_certain_tx(tx, new, accounts).await?;
                Ok(after)
            }

            /// Holds `amount_minor` for the order locked in `tx` (releasing a hold of
            /// another amount first). `Ok(None)`: the balance does not cover it, and the
            /// caller must drop the transaction.
            async fn bp_hold_tx(
                &self,
                tx: &mut Transaction<'static, $db>,
                order: &PayOrder,
                user_id: &str,
                amount_minor: i64,
                accounts: &Opened,
                now_ms: i64,
            ) -> Result<Option<BalancePart>> {
                let b = &self.q.balance;
                let amount = amount_of(amount_minor, order.currency())?;
                let mut current = Self::bp_get_tx(tx, &b.by_order, &order.id).await?;
                if let Some(p) = &current {
                    if p.user_id != user_id || p.amount.currency() != order.currency() {
                        return Err(StoreError::Corrupt(format!(
                            "balance part of {} belongs to another buyer or currency",
                            order.id
                        )));
                    }
                    match p.status {
                        BalancePartStatus::Held if p.amount == amount => return Ok(current),
                        BalancePartStatus::Held => {
                            current = Some(self.bp_release_tx(tx, p, accounts, now_ms).await?);
                        }
                        BalancePartStatus::Released => {}
                        BalancePartStatus::Captured => {
                            return Err(StoreError::Corrupt(format!(
                                "waiting order {} has a captured balance part",
                                order.id
                            )))
                        }
                    }
                }
                let held = match current {
                    Some(p) => {
                        self.bp_move_tx(tx, &p, BalancePartStatus::Held, amount, now_ms)
                            .await?
                    }
                    None => {
                        let part = BalancePart {
                            pay_order_id: order.id.clone(),
                            business_line_id: order.business_line_id.clone(),
                            user_id: user_id.to_owned(),
                            amount,
                            status: BalancePartStatus::Held,
                            refunded_minor: 0,
                            created_at_ms: now_ms,
                            updated_at_ms: now_ms,
                            version: 0,
                        };
                        sqlx::query(&b.insert)
                            .bind(&part.pay_order_id)
                            .bind(&part.business_line_id)
                            .bind(&part.user_id)
                            .bind(part.amount.currency().code())
                            .bind(part.amount.minor())
                            .bind(part.status.as_str())
                            .bind(part.refunded_minor)
                            .bind(part.created_at_ms)
                            .bind(part.updated_at_ms)
                            .bind(part.version)
                            .execute(&mut **tx)
                            .await?;
                        part
                    }
                };
                let user = held.user_account().map_err(ledger_err)?;
                let entry = movements::hold(&user, amount).map_err(ledger_err)?;
                let key = format!("bp-hold:{}:{}", order.id, held.version);
                let new = Self::order_entry(&order.business_line_id, &order.id, key, entry, now_ms);
                match self.ledger_post_tx(tx, &new, accounts).await? {
                    TxPost::Posted(_) => Ok(Some(held)),
                    TxPost::Insufficient(_) => Ok(None),
                    TxPost::Duplicate => Err(StoreError::Corrupt(format!(
                        "ledger key {} was already posted",
                        new.idempotency_key
                    ))),
                }
            }

            /// Locks a payable order (waiting, unexpired, no open attempt) in a new
            /// transaction; `Err(outcome order)` when it is not.
            async fn bp_lock_payable(
                &self,
                order_id: &str,
                now_ms: i64,
            ) -> Result<std::result::Result<Transaction<'static, $db>, Option<PayOrder>>> {
                let p = &self.q.payments;
                let mut tx = self.write_tx().await?;
                let locked = sqlx::query(&p.lock_waiting_order)
                    .bind(now_ms)
                    .bind(order_id)
                    .bind(now_ms)
                    .execute(&mut *tx)
                    .await?;
                let open = if locked.rows_affected() == 1 {
                    sqlx::query(&p.open_attempt)
                        .bind(order_id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .is_some()
                } else {
                    true
                };
                if open {
                    drop(tx);
                    return Ok(Err(self.pay_order(order_id).await?));
                }
                Ok(Ok(tx))
            }

            async fn bp_available(&self, user_id: &str, currency: Currency) -> Result<i64> {
                let user = AccountRef::user(user_id, currency).map_err(ledger_err)?;
                self.balance(&user).await
            }

            pub(crate) async fn bp_try_hold(&self, h: &HoldBalance) -> Result<HoldOutcome> {
                let Some(order) = self.pay_order(&h.pay_order_id).await? else {
                    return Ok(HoldOutcome::NotPayable(None));
                };
                let Some(user_id) = order.buyer_id.clone() else {
                    return Ok(HoldOutcome::NotPayable(Some(Box::new(order))));
                };
                if h.amount_minor <= 0 || h.amount_minor >= order.amount.minor() {
                    return Err(StoreError::Invalid(format!(
                        "a balance part must be 1 to {} minor units, not {}",
                        order.amount.minor() - 1,
                        h.amount_minor
                    )));
                }
                let accounts = self
                    .bp_open(&user_id, order.currency(), None, h.now_ms)
                    .await?;
                let mut tx = match self.bp_lock_payable(&order.id, h.now_ms).await? {
                    Ok(tx) => tx,
                    Err(o) => return Ok(HoldOutcome::NotPayable(o.map(Box::new))),
                };
                match self
                    .bp_hold_tx(
                        &mut tx,
                        &order,
                        &user_id,
                        h.amount_minor,
                        &accounts,
                        h.now_ms,
                    )
                    .await?
                {
                    Some(part) => {
                        tx.commit().await?;
                        Ok(HoldOutcome::Held(part))
                    }
                    None => {
                        drop(tx);
                        Ok(HoldOutcome::Insufficient {
                            available_minor: self.bp_available(&user_id, order.currency()).await?,
                        })
                    }
                }
            }

            pub(crate) async fn bp_try_release(
                &self,
                order_id: &str,
                now_ms: i64,
            ) -> Result<Option<BalancePart>> {
                let Some(part) = self.bp_get(order_id).await? else {
                    return Ok(None);
                };
                if part.status != BalancePartStatus::Held {
                    return Ok(Some(part));
                }
                let accounts = self
                    .bp_open(&part.user_id, part.amount.currency(), None, now_ms)
                    .await?;
                let mut tx = self.write_tx().await?;
                let Some(row) = sqlx::query(&self.q.payments.lock_order)
                    .bind(order_id)
                    .fetch_optional(&mut *tx)
                    .await?
                else {
                    return Err(StoreError::Corrupt(format!(
                        "balance part of {order_id} has no order"
                    )));
                };
                let order = Self::pay_order(&row)?;
                let Some(part) =
                    Self::bp_get_tx(&mut tx, &self.q.balance.by_order, order_id).await?
                else {
                    return Err(StoreError::Corrupt(format!(
                        "balance part of {order_id} vanished"
                    )));
                };
                if part.status != BalancePartStatus::Held {
                    return Ok(Some(part));
                }
                // An open attempt for the rest still relies on this hold (a second pay
                // request raced the first, or a poller looked before a new attempt was
                // made): it stays held, and goes with that attempt or the order's close.
                let open = sqlx::query(&self.q.payments.open_attempt)
                    .bind(order_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                if let Some(row) = open {
                    let attempt = Self::attempt_row(&row)?;
                    if attempt.amount.minor().checked_add(part.amount.minor())
                        == Some(order.amount.minor())
                    {
                        return Ok(Some(part));
                    }
                }
                let after = self
                    .bp_release_tx(&mut tx, &part, &accounts, now_ms)
                    .await?;
                tx.commit().await?;
                Ok(Some(after))
            }

            pub(crate) async fn bp_try_pay(
                &self,
                bp: &BalancePayment,
            ) -> Result<BalancePaymentOutcome> {
                let Some(order) = self.pay_order(&bp.pay_order_id).await? else {
                    return Ok(BalancePaymentOutcome::NotPayable(None));
                };
                let Some(user_id) = order.buyer_id.clone() else {
                    return Ok(BalancePaymentOutcome::NotPayable(Some(Box::new(order))));
                };
                let accounts = self
                    .bp_open(
                        &user_id,
                        order.currency(),
                        Some(BALANCE_CLEARING_OWNER),
                        bp.now_ms,
                    )
                    .await?;
                let mut tx = match self.bp_lock_payable(&order.id, bp.now_ms).await? {
                    Ok(tx) => tx,
                    Err(o) => return Ok(BalancePaymentOutcome::NotPayable(o.map(Box::new))),
                };
                let held = self
                    .bp_hold_tx(
                        &mut tx,
                        &order,
                        &user_id,
                        order.amount.minor(),
                        &accounts,
                        bp.now_ms,
                    )
                    .await?;
                let Some(held) = held else {
                    drop(tx);
                    return Ok(BalancePaymentOutcome::Insufficient {
                        available_minor: self.bp_available(&user_id, order.currency()).await?,
                    });
                };
                let part = self
                    .bp_capture_tx(&mut tx, &held, BALANCE_CLEARING_OWNER, &accounts, bp.now_ms)
                    .await?;
                let paid = sqlx::query(&self.q.payments.mark_paid)
                    .bind(bp.now_ms)
                    .bind(bp.now_ms)
                    .bind(&order.id)
                    .execute(&mut *tx)
                    .await?;
                if paid.rows_affected() != 1 {
                    return Err(StoreError::Conflict(format!(
                        "pay order {} changed under its row lock",
                        order.id
                    )));
                }
                self.insert_event_tx(&mut tx, &bp.paid_event).await?;
                let row = sqlx::query(&self.q.pay_order_by_id)
                    .bind(&order.id)
                    .fetch_one(&mut *tx)
                    .await?;
                let order = Self::pay_order(&row)?;
                tx.commit().await?;
                Ok(BalancePaymentOutcome::Paid {
                    order: Box::new(order),
                    part,
                })
            }
        }
    };
}

impl_balance!(SqliteStore, Sqlite, SqliteRow);
impl_balance!(PostgresStore, Postgres, PgRow);
impl_balance!(MySqlStore, MySql, MySqlRow);
