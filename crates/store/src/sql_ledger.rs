//! The balance ledger on SQL, stamped out per backend like `sql_store.rs`: accounts,
//! posting (the conditional balance updates), statements and checks, and the
//! [`LedgerStore`] implementation (payout records are in `sql_payouts.rs`).

use crate::error::{is_unique_violation, Result, StoreError};
use crate::ledger::MAX_PAGE;
use crate::sql_store::{corrupt, with_retry};
use crate::*;
use async_trait::async_trait;
use paydesk_core::ledger::{AccountKind, AccountRef, EntryKind, JournalEntry};
use paydesk_core::{ids, Currency};
use sqlx::mysql::{MySql, MySqlRow};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{Row, Transaction};
use std::collections::BTreeMap;
use std::str::FromStr;

/// No cached balance may leave `[-MAX_BALANCE_MINOR, MAX_BALANCE_MINOR]` (10^18): far
/// beyond real money, and far enough from the `i64` edge that `balance + line` cannot
/// overflow in SQL (SQLite would silently turn it into a float).
pub(crate) const MAX_BALANCE_MINOR: i64 = 1_000_000_000_000_000_000;

/// What a posting inside a caller's transaction did. On anything but `Posted` the caller
/// drops the transaction, so nothing is written.
pub(crate) enum TxPost {
    Posted(PostedEntry),
    /// The idempotency key is taken (the holder is looked up after the rollback: on
    /// PostgreSQL the failed insert has aborted the transaction).
    Duplicate,
    Insufficient(String),
}

/// Refuses a text field longer than its column (SQLite would store it; the others
/// refuse or, in MySQL's non-strict mode, truncate).
pub(crate) fn check_len(field: &str, value: &str, max: usize) -> Result<()> {
    if value.is_empty() || value.len() > max {
        return Err(StoreError::Invalid(format!(
            "{field} must be 1 to {max} bytes, got {}",
            value.len()
        )));
    }
    Ok(())
}

fn check_new_entry(e: &NewJournalEntry) -> Result<()> {
    check_len("entry id", &e.id, 40)?;
    check_len("business_line_id", &e.business_line_id, 40)?;
    check_len("reference", &e.reference, 64)?;
    check_len("idempotency_key", &e.idempotency_key, 128)
}

/// Page sizes are bounded whatever the caller asks.
pub(crate) fn page(limit: i64) -> i64 {
    limit.clamp(1, MAX_PAGE)
}

macro_rules! impl_ledger {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            pub(crate) fn ledger_account_row(row: &$row) -> Result<LedgerAccount> {
                let kind = Self::s(row, "kind")?;
                let currency = Self::s(row, "currency")?;
                let owner = Self::s(row, "owner_id")?;
                let kind =
                    AccountKind::parse(&kind).ok_or_else(|| corrupt("account kind", &kind))?;
                let currency = Currency::from_str(currency.trim())
                    .map_err(|_| corrupt("currency", &currency))?;
                let account = AccountRef::new(kind, owner.clone(), currency)
                    .map_err(|_| corrupt("account owner", &owner))?;
                Ok(LedgerAccount {
                    id: Self::s(row, "id")?,
                    account,
                    allow_negative: Self::i(row, "allow_negative")? == 1,
                    balance_minor: Self::i(row, "balance_minor")?,
                    version: Self::i(row, "version")?,
                    created_at_ms: Self::i(row, "created_at_ms")?,
                    updated_at_ms: Self::i(row, "updated_at_ms")?,
                })
            }

            fn posted_line_row(row: &$row) -> Result<PostedLine> {
                let currency = Self::s(row, "currency")?;
                Ok(PostedLine {
                    line_no: Self::i(row, "line_no")?,
                    account_id: Self::s(row, "account_id")?,
                    amount_minor: Self::i(row, "amount_minor")?,
                    currency: Currency::from_str(currency.trim())
                        .map_err(|_| corrupt("currency", &currency))?,
                    balance_after_minor: Self::i(row, "balance_after_minor")?,
                    account_version: Self::i(row, "account_version")?,
                })
            }

            fn entry_kind(row: &$row) -> Result<EntryKind> {
                let kind = Self::s(row, "kind")?;
                EntryKind::parse(&kind).ok_or_else(|| corrupt("entry kind", &kind))
            }

            pub(crate) async fn ledger_try_ensure(
                &self,
                a: &AccountRef,
                now_ms: i64,
            ) -> Result<LedgerAccount> {
                if let Some(found) = self.ledger_account_by_ref(a).await? {
                    return Ok(found);
                }
                // On its own (not in a posting's transaction): a unique violation here
                // just means another caller opened it first.
                let r = sqlx::query(&self.q.ledger.insert_account)
                    .bind(ids::new_id(ids::LEDGER_ACCOUNT))
                    .bind(a.kind().as_str())
                    .bind(a.owner_id())
                    .bind(a.currency().code())
                    .bind(i64::from(a.allows_negative()))
                    .bind(0i64)
                    .bind(0i64)
                    .bind(now_ms)
                    .bind(now_ms)
                    .execute(self.w())
                    .await;
                match r {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {}
                    Err(e) => return Err(e.into()),
                }
                self.ledger_account_by_ref(a)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt(format!("ledger account {a} vanished")))
            }

            pub(crate) async fn ledger_account_by_ref(
                &self,
                a: &AccountRef,
            ) -> Result<Option<LedgerAccount>> {
                let row = sqlx::query(&self.q.ledger.account_by_ref)
                    .bind(a.kind().as_str())
                    .bind(a.owner_id())
                    .bind(a.currency().code())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::ledger_account_row).transpose()
            }

            pub(crate) async fn ledger_account_by_id(
                &self,
                id: &str,
            ) -> Result<Option<LedgerAccount>> {
                let row = sqlx::query(&self.q.ledger.account_by_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::ledger_account_row).transpose()
            }

            /// Opens every account an entry names (before its transaction: opening is
            /// idempotent and harmless, and keeps the posting's lock set to the rows it
            /// changes).
            pub(crate) async fn ledger_open(
                &self,
                entry: &JournalEntry,
                now_ms: i64,
            ) -> Result<BTreeMap<AccountRef, LedgerAccount>> {
                let mut out = BTreeMap::new();
                for l in entry.lines() {
                    let a = with_retry!(self.ledger_try_ensure(&l.account, now_ms).await)?;
                    out.insert(l.account.clone(), a);
                }
                Ok(out)
            }

            /// Posts `e` inside `tx`: claims its idempotency key, applies each line to its
            /// account in ascending account id order (the lock order), then writes the
            /// entry and its lines.
            pub(crate) async fn ledger_post_tx(
                &self,
                tx: &mut Transaction<'static, $db>,
                e: &NewJournalEntry,
                accounts: &BTreeMap<AccountRef, LedgerAccount>,
            ) -> Result<TxPost> {
                let l = &self.q.ledger;
                let kind = e.entry.kind().as_str();
                let key = sqlx::query(&l.insert_entry_key)
                    .bind(&e.business_line_id)
                    .bind(kind)
                    .bind(&e.idempotency_key)
                    .bind(&e.id)
                    .bind(e.created_at_ms)
                    .execute(&mut **tx)
                    .await;
                match key {
                    Ok(_) => {}
                    Err(err) if is_unique_violation(&err) => return Ok(TxPost::Duplicate),
                    Err(err) => return Err(err.into()),
                }
                let mut order = Vec::with_capacity(e.entry.lines().len());
                for (i, line) in e.entry.lines().iter().enumerate() {
                    let acc = accounts.get(&line.account).ok_or_else(|| {
                        StoreError::Invalid(format!("account {} was not opened", line.account))
                    })?;
                    order.push((acc.id.as_str(), i, line.amount_minor));
                }
                order.sort();
                let mut lines = Vec::with_capacity(order.len());
                for &(account_id, i, amount) in &order {
                    let done = sqlx::query(&l.apply_line)
                        .bind(amount)
                        .bind(e.created_at_ms)
                        .bind(account_id)
                        .bind(amount)
                        .bind(amount)
                        .bind(-MAX_BALANCE_MINOR)
                        .bind(MAX_BALANCE_MINOR)
                        .execute(&mut **tx)
                        .await?;
                    if done.rows_affected() != 1 {
                        return self.ledger_refusal(tx, account_id, amount).await;
                    }
                    let after = sqlx::query(&l.account_after)
                        .bind(account_id)
                        .fetch_one(&mut **tx)
                        .await?;
                    let balance_after_minor = after.try_get::<i64, _>(0)?;
                    let account_version = after.try_get::<i64, _>(1)?;
                    lines.push(PostedLine {
                        line_no: i as i64 + 1,
                        account_id: account_id.to_owned(),
                        amount_minor: amount,
                        currency: e.entry.lines()[i].currency(),
                        balance_after_minor,
                        account_version,
                    });
                }
                lines.sort_by_key(|p| p.line_no);
                sqlx::query(&l.insert_entry)
                    .bind(&e.id)
                    .bind(kind)
                    .bind(&e.business_line_id)
                    .bind(&e.reference)
                    .bind(&e.idempotency_key)
                    .bind(e.created_at_ms)
                    .execute(&mut **tx)
                    .await?;
                for p in &lines {
                    sqlx::query(&l.insert_line)
                        .bind(&e.id)
                        .bind(p.line_no)
                        .bind(&p.account_id)
                        .bind(p.amount_minor)
                        .bind(p.currency.code())
                        .bind(p.balance_after_minor)
                        .bind(p.account_version)
                        .execute(&mut **tx)
                        .await?;
                }
                Ok(TxPost::Posted(PostedEntry {
                    id: e.id.clone(),
                    kind: e.entry.kind(),
                    business_line_id: e.business_line_id.clone(),
                    reference: e.reference.clone(),
                    idempotency_key: e.idempotency_key.clone(),
                    created_at_ms: e.created_at_ms,
                    lines,
                }))
            }

            /// Why a line's conditional update changed nothing.
            async fn ledger_refusal(
                &self,
                tx: &mut Transaction<'static, $db>,
                account_id: &str,
                amount: i64,
            ) -> Result<TxPost> {
                let row = sqlx::query(&self.q.ledger.lock_account)
                    .bind(account_id)
                    .fetch_optional(&mut **tx)
                    .await?;
                let Some(row) = row else {
                    return Err(StoreError::Corrupt(format!(
                        "ledger account {account_id} vanished"
                    )));
                };
                let a = Self::ledger_account_row(&row)?;
                let after = i128::from(a.balance_minor) + i128::from(amount);
                if !a.allow_negative && after < 0 {
                    Ok(TxPost::Insufficient(a.id))
                } else {
                    Err(StoreError::Invalid(format!(
                        "ledger account {} would leave the balance range",
                        a.id
                    )))
                }
            }

            async fn ledger_try_post(&self, e: &NewJournalEntry) -> Result<PostOutcome> {
                let accounts = self.ledger_open(&e.entry, e.created_at_ms).await?;
                let mut tx = self.write_tx().await?;
                match self.ledger_post_tx(&mut tx, e, &accounts).await? {
                    TxPost::Posted(p) => {
                        tx.commit().await?;
                        Ok(PostOutcome::Posted(p))
                    }
                    TxPost::Insufficient(account_id) => {
                        drop(tx);
                        Ok(PostOutcome::Insufficient { account_id })
                    }
                    TxPost::Duplicate => {
                        drop(tx);
                        let entry_id = self.ledger_entry_by_key(e).await?;
                        Ok(PostOutcome::Duplicate { entry_id })
                    }
                }
            }

            pub(crate) async fn ledger_entry_by_key(&self, e: &NewJournalEntry) -> Result<String> {
                let row = sqlx::query(&self.q.ledger.entry_key)
                    .bind(&e.business_line_id)
                    .bind(e.entry.kind().as_str())
                    .bind(&e.idempotency_key)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(r) => Self::s(&r, "entry_id"),
                    None => Err(StoreError::Corrupt(format!(
                        "idempotency key {} reported taken but not found",
                        e.idempotency_key
                    ))),
                }
            }
        }

        #[async_trait]
        impl LedgerStore for $store {
            async fn ensure_account(
                &self,
                account: &AccountRef,
                now_ms: i64,
            ) -> Result<LedgerAccount> {
                with_retry!(self.ledger_try_ensure(account, now_ms).await)
            }

            async fn account(&self, id: &str) -> Result<Option<LedgerAccount>> {
                self.ledger_account_by_id(id).await
            }

            async fn account_by_ref(&self, account: &AccountRef) -> Result<Option<LedgerAccount>> {
                self.ledger_account_by_ref(account).await
            }

            async fn balance(&self, account: &AccountRef) -> Result<i64> {
                Ok(self
                    .ledger_account_by_ref(account)
                    .await?
                    .map_or(0, |a| a.balance_minor))
            }

            async fn list_accounts(
                &self,
                filter: &AccountFilter,
                after: Option<&str>,
                limit: i64,
            ) -> Result<Vec<LedgerAccount>> {
                let sql = self
                    .q
                    .ledger
                    .list_accounts(filter.kind.is_some(), filter.owner_id.is_some());
                let mut q = sqlx::query(&sql).bind(after.unwrap_or(""));
                if let Some(k) = filter.kind {
                    q = q.bind(k.as_str());
                }
                if let Some(o) = &filter.owner_id {
                    q = q.bind(o.as_str());
                }
                let rows = q.bind(page(limit)).fetch_all(&self.pool).await?;
                rows.iter().map(Self::ledger_account_row).collect()
            }

            async fn statement(
                &self,
                account_id: &str,
                before_version: Option<i64>,
                limit: i64,
            ) -> Result<Vec<StatementLine>> {
                let rows = sqlx::query(&self.q.ledger.statement)
                    .bind(account_id)
                    .bind(before_version.unwrap_or(i64::MAX))
                    .bind(page(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(StatementLine {
                            entry_id: Self::s(row, "entry_id")?,
                            entry_kind: Self::entry_kind(row)?,
                            business_line_id: Self::s(row, "business_line_id")?,
                            reference: Self::s(row, "reference")?,
                            created_at_ms: Self::i(row, "created_at_ms")?,
                            amount_minor: Self::i(row, "amount_minor")?,
                            balance_after_minor: Self::i(row, "balance_after_minor")?,
                            account_version: Self::i(row, "account_version")?,
                        })
                    })
                    .collect()
            }

            async fn verify_account(&self, account_id: &str) -> Result<Option<AccountCheck>> {
                let row = sqlx::query(&self.q.ledger.verify)
                    .bind(account_id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| {
                    Ok(AccountCheck {
                        balance_minor: r.try_get::<i64, _>(0)?,
                        version: r.try_get::<i64, _>(1)?,
                        lines_sum_minor: r.try_get::<i64, _>(2)?,
                        lines: r.try_get::<i64, _>(3)?,
                    })
                })
                .transpose()
            }

            async fn post_entry(&self, entry: &NewJournalEntry) -> Result<PostOutcome> {
                check_new_entry(entry)?;
                with_retry!(self.ledger_try_post(entry).await)
            }

            async fn entry(&self, id: &str) -> Result<Option<PostedEntry>> {
                let l = &self.q.ledger;
                let Some(row) = sqlx::query(&l.entry_by_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                else {
                    return Ok(None);
                };
                let lines = sqlx::query(&l.lines_of_entry)
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                Ok(Some(PostedEntry {
                    id: Self::s(&row, "id")?,
                    kind: Self::entry_kind(&row)?,
                    business_line_id: Self::s(&row, "business_line_id")?,
                    reference: Self::s(&row, "reference")?,
                    idempotency_key: Self::s(&row, "idempotency_key")?,
                    created_at_ms: Self::i(&row, "created_at_ms")?,
                    lines: lines
                        .iter()
                        .map(Self::posted_line_row)
                        .collect::<Result<_>>()?,
                }))
            }

            async fn create_withdrawal(
                &self,
                new: &NewPayout,
                hold: &NewJournalEntry,
            ) -> Result<CreatePayoutOutcome> {
                crate::sql_payouts::check_withdrawal(new, hold)?;
                check_new_entry(hold)?;
                with_retry!(self.payouts_try_create(new, Some(hold)).await)
            }

            async fn create_payout(&self, new: &NewPayout) -> Result<CreatePayoutOutcome> {
                crate::sql_payouts::check_payout(new)?;
                with_retry!(self.payouts_try_create(new, None).await)
            }

            async fn update_payout(
                &self,
                id: &str,
                update: &PayoutUpdate,
                entry: Option<&NewJournalEntry>,
            ) -> Result<Transition<Payout>> {
                if let Some(e) = entry {
                    check_new_entry(e)?;
                }
                with_retry!(self.payouts_try_update(id, update, entry).await)
            }

            async fn payout(&self, id: &str) -> Result<Option<Payout>> {
                self.payouts_by(&self.q.ledger.payout_by_id, &[id]).await
            }

            async fn payout_by_business_no(
                &self,
                business_line_id: &str,
                business_payout_no: &str,
            ) -> Result<Option<Payout>> {
                self.payouts_by(
                    &self.q.ledger.payout_by_key,
                    &[business_line_id, business_payout_no],
                )
                .await
            }

            async fn payout_by_no(&self, payout_no: &str) -> Result<Option<Payout>> {
                self.payouts_by(&self.q.ledger.payout_by_no, &[payout_no])
                    .await
            }

            async fn due_payouts(&self, now_ms: i64, limit: i64) -> Result<Vec<Payout>> {
                let rows = sqlx::query(&self.q.ledger.due_payouts)
                    .bind(now_ms)
                    .bind(page(limit))
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::payout_row).collect()
            }

            async fn payout_day_total(
                &self,
                business_line_id: &str,
                currency: Currency,
                day_no: i64,
            ) -> Result<i64> {
                self.payouts_day_total(business_line_id, currency, day_no)
                    .await
            }

            async fn list_payouts(
                &self,
                filter: &PayoutFilter,
                before: Option<(i64, &str)>,
                limit: i64,
            ) -> Result<Vec<Payout>> {
                self.payouts_list(filter, before, limit).await
            }
        }
    };
}

impl_ledger!(SqliteStore, Sqlite, SqliteRow);
impl_ledger!(PostgresStore, Postgres, PgRow);
impl_ledger!(MySqlStore, MySql, MySqlRow);
