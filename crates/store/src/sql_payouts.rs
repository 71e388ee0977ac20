//! Payout and withdrawal records on SQL, stamped out per backend (the [`LedgerStore`]
//! methods in `sql_ledger.rs` delegate here). A withdrawal's hold, and every payout's
//! terminal entry, are posted through the ledger in the same transaction as the record.

use crate::error::{is_unique_violation, ConflictOnUnique, Result, StoreError};
use crate::sql_ledger::{check_len, page, TxPost};
use crate::sql_store::corrupt;
use crate::*;
use paydesk_core::ledger::{movements, AccountKind, AccountRef, EntryKind, JournalEntry};
use paydesk_core::payout::ledger_effect;
use paydesk_core::transition::StateMachine;
use paydesk_core::{Amount, Currency, PayoutKind, PayoutStatus, Provider};
use sqlx::mysql::{MySql, MySqlRow};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::Transaction;
use std::str::FromStr;

fn check_new_payout(p: &NewPayout) -> Result<()> {
    check_len("payout id", &p.id, 40)?;
    check_len("business_line_id", &p.business_line_id, 40)?;
    check_len("business_payout_no", &p.business_payout_no, 64)?;
    check_len("payout_no", &p.payout_no, 64)?;
    check_len("merchant_account", &p.merchant_account, 64)?;
    check_len("recipient", &p.recipient, 128)?;
    if let Some(n) = &p.recipient_name {
        check_len("recipient_name", n, 128)?;
    }
    check_len("remark", &p.remark, 128)?;
    check_len("notify_url", &p.notify_url, 512)?;
    if p.amount.is_zero() {
        return Err(StoreError::Invalid("a payout of zero".into()));
    }
    if p.daily_limit.is_some_and(|l| l.limit_minor < 0) {
        return Err(StoreError::Invalid("a negative daily limit".into()));
    }
    if p.amount.currency() != p.funding.currency() {
        return Err(StoreError::Invalid(format!(
            "payout in {} funded from a {} account",
            p.amount.currency(),
            p.funding.currency()
        )));
    }
    Ok(())
}

/// A withdrawal must come with exactly the hold of its amount on its funding account.
pub(crate) fn check_withdrawal(p: &NewPayout, hold: &NewJournalEntry) -> Result<()> {
    check_new_payout(p)?;
    if p.kind != PayoutKind::Withdrawal {
        return Err(StoreError::Invalid(
            "create_withdrawal takes WITHDRAWAL records".into(),
        ));
    }
    let expected = movements::hold(&p.funding, p.amount)
        .map_err(|e| StoreError::Invalid(format!("withdrawal funding: {e}")))?;
    if hold.entry != expected {
        return Err(StoreError::Invalid(format!(
            "a withdrawal's hold must be exactly {} from {}",
            p.amount, p.funding
        )));
    }
    Ok(())
}

/// A payout is funded from a business line's platform funding account.
pub(crate) fn check_payout(p: &NewPayout) -> Result<()> {
    check_new_payout(p)?;
    if p.kind != PayoutKind::Payout || p.funding.kind() != AccountKind::PlatformFunding {
        return Err(StoreError::Invalid(
            "create_payout takes PAYOUT records funded by a PLATFORM_FUNDING account".into(),
        ));
    }
    Ok(())
}

/// The entry a payout's move to `to` must post (see `ledger_effect`), built from the
/// payout itself so a caller cannot debit the wrong account or amount.
fn expected_entry(
    p: &Payout,
    funding: &AccountRef,
    to: PayoutStatus,
) -> Result<Option<JournalEntry>> {
    let invalid = |e: paydesk_core::LedgerError| StoreError::Invalid(e.to_string());
    Ok(match ledger_effect(p.kind, to) {
        None => None,
        Some(EntryKind::WithdrawalDebit) => Some(
            movements::withdrawal_debit(funding, &p.merchant_account, p.amount).map_err(invalid)?,
        ),
        Some(EntryKind::Release) => Some(movements::release(funding, p.amount).map_err(invalid)?),
        Some(EntryKind::Payout) => Some(
            movements::transfer(
                EntryKind::Payout,
                funding,
                &AccountRef::external(p.merchant_account.as_str(), p.amount.currency())
                    .map_err(invalid)?,
                p.amount,
            )
            .map_err(invalid)?,
        ),
        Some(other) => {
            return Err(StoreError::Corrupt(format!(
                "unexpected payout ledger effect {}",
                other.as_str()
            )))
        }
    })
}

macro_rules! impl_payouts {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            pub(crate) fn payout_row(row: &$row) -> Result<Payout> {
                let kind = Self::s(row, "kind")?;
                let provider = Self::s(row, "provider")?;
                let status = Self::s(row, "status")?;
                let currency = Self::s(row, "currency")?;
                let currency = Currency::from_str(currency.trim())
                    .map_err(|_| corrupt("currency", &currency))?;
                let amount_minor = Self::i(row, "amount_minor")?;
                Ok(Payout {
                    id: Self::s(row, "id")?,
                    kind: PayoutKind::parse(&kind).ok_or_else(|| corrupt("payout kind", &kind))?,
                    business_line_id: Self::s(row, "business_line_id")?,
                    business_payout_no: Self::s(row, "business_payout_no")?,
                    payout_no: Self::s(row, "payout_no")?,
                    provider: Provider::parse(&provider)
                        .ok_or_else(|| corrupt("provider", &provider))?,
                    merchant_account: Self::s(row, "merchant_account")?,
                    recipient: Self::s(row, "recipient")?,
                    recipient_name: Self::os(row, "recipient_name")?,
                    amount: Amount::new(amount_minor, currency)
                        .map_err(|_| corrupt("amount_minor", &amount_minor.to_string()))?,
                    remark: Self::s(row, "remark")?,
                    notify_url: Self::s(row, "notify_url")?,
                    funding_account_id: Self::s(row, "funding_account_id")?,
                    status: PayoutStatus::parse(&status)
                        .ok_or_else(|| corrupt("payout status", &status))?,
                    provider_transfer_id: Self::os(row, "provider_transfer_id")?,
                    package_info: Self::os(row, "package_info")?,
                    failure_code: Self::os(row, "failure_code")?,
                    failure_message: Self::os(row, "failure_message")?,
                    hold_entry_id: Self::os(row, "hold_entry_id")?,
                    final_entry_id: Self::os(row, "final_entry_id")?,
                    tries: Self::i(row, "tries")?,
                    next_action_at_ms: Self::oi(row, "next_action_at_ms")?,
                    last_error: Self::os(row, "last_error")?,
                    created_at_ms: Self::i(row, "created_at_ms")?,
                    updated_at_ms: Self::i(row, "updated_at_ms")?,
                    finished_at_ms: Self::oi(row, "finished_at_ms")?,
                    version: Self::i(row, "version")?,
                })
            }

            pub(crate) async fn payouts_by(
                &self,
                sql: &str,
                binds: &[&str],
            ) -> Result<Option<Payout>> {
                let mut q = sqlx::query(sql);
                for b in binds {
                    q = q.bind(*b);
                }
                let row = q.fetch_optional(&self.pool).await?;
                row.as_ref().map(Self::payout_row).transpose()
            }

            async fn payout_tx(
                &self,
                tx: &mut Transaction<'static, $db>,
                id: &str,
            ) -> Result<Payout> {
                Self::one_by_id_tx(tx, &self.q.ledger.payout_by_id, id, Self::payout_row).await
            }

            /// Records a payout (and posts a withdrawal's hold) in one transaction.
            pub(crate) async fn payouts_try_create(
                &self,
                p: &NewPayout,
                hold: Option<&NewJournalEntry>,
            ) -> Result<CreatePayoutOutcome> {
                let l = &self.q.ledger;
                let accounts = match hold {
                    Some(h) => self.ledger_open(&h.entry, p.created_at_ms).await?,
                    None => {
                        let mut m = std::collections::BTreeMap::new();
                        let a = self.ensure_account(&p.funding, p.created_at_ms).await?;
                        m.insert(p.funding.clone(), a);
                        m
                    }
                };
                let funding_id =
                    accounts
                        .get(&p.funding)
                        .map(|a| a.id.clone())
                        .ok_or_else(|| {
                            StoreError::Invalid("the funding account was not opened".into())
                        })?;
                if let Some(limit) = &p.daily_limit {
                    // Opened on its own, before the transaction (like ledger accounts): a
                    // unique violation only means another request opened it first.
                    let r = sqlx::query(&l.open_day_total)
                        .bind(&p.business_line_id)
                        .bind(p.amount.currency().code())
                        .bind(limit.day_no)
                        .bind(p.created_at_ms)
                        .execute(self.w())
                        .await;
                    match r {
                        Ok(_) => {}
                        Err(e) if is_unique_violation(&e) => {}
                        Err(e) => return Err(e.into()),
                    }
                }
                let mut tx = self.write_tx().await?;
                let key = sqlx::query(&l.insert_payout_key)
                    .bind(&p.business_line_id)
                    .bind(&p.business_payout_no)
                    .bind(&p.id)
                    .bind(p.created_at_ms)
                    .execute(&mut *tx)
                    .await;
                match key {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => {
                        drop(tx);
                        let existing = self
                            .payout_by_business_no(&p.business_line_id, &p.business_payout_no)
                            .await?
                            .ok_or_else(|| {
                                StoreError::Corrupt(format!(
                                    "payout key {} has no payout",
                                    p.business_payout_no
                                ))
                            })?;
                        return Ok(CreatePayoutOutcome::Existing(existing));
                    }
                    Err(e) => return Err(e.into()),
                }
                sqlx::query(&l.insert_payout)
                    .bind(&p.id)
                    .bind(p.kind.as_str())
                    .bind(&p.business_line_id)
                    .bind(&p.business_payout_no)
                    .bind(&p.payout_no)
                    .bind(p.provider.as_str())
                    .bind(&p.merchant_account)
                    .bind(&p.recipient)
                    .bind(&p.recipient_name)
                    .bind(p.amount.minor())
                    .bind(p.amount.currency().code())
                    .bind(&p.remark)
                    .bind(&p.notify_url)
                    .bind(&funding_id)
                    .bind(PayoutStatus::Accepted.as_str())
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(None::<String>)
                    .bind(hold.map(|h| h.id.as_str()))
                    .bind(None::<String>)
                    .bind(0i64)
                    .bind(Some(p.created_at_ms))
                    .bind(None::<String>)
                    .bind(p.created_at_ms)
                    .bind(p.created_at_ms)
                    .bind(None::<i64>)
                    .bind(0i64)
                    .execute(&mut *tx)
                    .await
                    .conflict_on_unique(|| {
                        format!(
                            "payout number or id of `{}` already used",
                            p.business_payout_no
                        )
                    })?;
                if let Some(limit) = &p.daily_limit {
                    let raised = sqlx::query(&l.raise_day_total)
                        .bind(p.amount.minor())
                        .bind(p.created_at_ms)
                        .bind(&p.business_line_id)
                        .bind(p.amount.currency().code())
                        .bind(limit.day_no)
                        .bind(p.amount.minor())
                        .bind(limit.limit_minor)
                        .execute(&mut *tx)
                        .await?;
                    if raised.rows_affected() != 1 {
                        drop(tx);
                        return Ok(CreatePayoutOutcome::LimitExceeded {
                            limit_minor: limit.limit_minor,
                        });
                    }
                }
                if let Some(h) = hold {
                    match self.ledger_post_tx(&mut tx, h, &accounts).await? {
                        TxPost::Posted(_) => {}
                        TxPost::Insufficient(account_id) => {
                            drop(tx);
                            return Ok(CreatePayoutOutcome::Insufficient { account_id });
                        }
                        TxPost::Duplicate => {
                            return Err(StoreError::Conflict(format!(
                                "hold idempotency key `{}` already used",
                                h.idempotency_key
                            )))
                        }
                    }
                }
                let created = self.payout_tx(&mut tx, &p.id).await?;
                tx.commit().await?;
                Ok(CreatePayoutOutcome::Created(created))
            }

            /// A guarded state change with its ledger entry and event, in one transaction.
            pub(crate) async fn payouts_try_update(
                &self,
                id: &str,
                u: &PayoutUpdate,
                entry: Option<&NewJournalEntry>,
            ) -> Result<Transition<Payout>> {
                let Some(current) = self.payout(id).await? else {
                    return Ok(Transition::Refused(None));
                };
                // Same state: a reschedule, except in a terminal state (nothing to do, and
                // a second SUCCEEDED must never debit twice).
                let legal = if u.status == u.from {
                    !u.from.is_terminal()
                } else {
                    u.from.can_transition(u.status)
                };
                if current.status != u.from || current.version != u.expected_version || !legal {
                    return Ok(Transition::Refused(Some(current)));
                }
                let funding = self
                    .ledger_account_by_id(&current.funding_account_id)
                    .await?
                    .ok_or_else(|| {
                        StoreError::Corrupt(format!("payout {id} has no funding account"))
                    })?;
                let expected = if u.status == u.from {
                    None
                } else {
                    expected_entry(&current, &funding.account, u.status)?
                };
                if expected.as_ref() != entry.map(|e| &e.entry) {
                    return Err(StoreError::Invalid(format!(
                        "payout {id} {} -> {} must post {}",
                        u.from.as_str(),
                        u.status.as_str(),
                        expected.map_or("no entry".to_string(), |e| format!("{e:?}"))
                    )));
                }
                let accounts = match entry {
                    Some(e) => self.ledger_open(&e.entry, u.now_ms).await?,
                    None => Default::default(),
                };
                let terminal = u.status.is_terminal();
                let mut tx = self.write_tx().await?;
                let done = sqlx::query(&self.q.ledger.update_payout)
                    .bind(u.status.as_str())
                    .bind(&u.provider_transfer_id)
                    .bind(&u.package_info)
                    .bind(&u.failure_code)
                    .bind(&u.failure_message)
                    .bind(i64::from(u.count_try))
                    .bind(if terminal { None } else { u.next_action_at_ms })
                    .bind(&u.last_error)
                    .bind(entry.map(|e| e.id.as_str()))
                    .bind(terminal.then_some(u.now_ms))
                    .bind(u.now_ms)
                    .bind(id)
                    .bind(u.expected_version)
                    .bind(u.from.as_str())
                    .execute(&mut *tx)
                    .await?;
                if done.rows_affected() != 1 {
                    drop(tx);
                    return Ok(Transition::Refused(self.payout(id).await?));
                }
                if let Some(e) = entry {
                    match self.ledger_post_tx(&mut tx, e, &accounts).await? {
                        TxPost::Posted(_) => {}
                        TxPost::Duplicate => {
                            return Err(StoreError::Conflict(format!(
                                "idempotency key `{}` already used",
                                e.idempotency_key
                            )))
                        }
                        // A hold that cannot cover its own debit means the ledger is wrong.
                        TxPost::Insufficient(account) => {
                            return Err(StoreError::Corrupt(format!(
                                "account {account} does not hold payout {id}'s amount"
                            )))
                        }
                    }
                }
                if let Some(ev) = &u.event {
                    self.insert_event_tx(&mut tx, ev).await?;
                }
                let now = self.payout_tx(&mut tx, id).await?;
                tx.commit().await?;
                Ok(Transition::Applied(now))
            }

            pub(crate) async fn payouts_day_total(
                &self,
                business_line_id: &str,
                currency: Currency,
                day_no: i64,
            ) -> Result<i64> {
                let row = sqlx::query(&self.q.ledger.day_total)
                    .bind(business_line_id)
                    .bind(currency.code())
                    .bind(day_no)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map_or(Ok(0), |r| Self::i(&r, "total_minor"))
            }

            pub(crate) async fn payouts_list(
                &self,
                f: &PayoutFilter,
                before: Option<(i64, &str)>,
                limit: i64,
            ) -> Result<Vec<Payout>> {
                let sql = self.q.ledger.list_payouts(
                    f.business_line_id.is_some(),
                    f.kind.is_some(),
                    f.status.is_some(),
                    f.funding_account_id.is_some(),
                );
                let (at, after_id) = before.unwrap_or((i64::MAX, ""));
                // At `i64::MAX` with an empty id nothing ties, so `created_at_ms < MAX`
                // alone admits every row.
                let mut q = sqlx::query(&sql).bind(at).bind(at).bind(after_id);
                if let Some(v) = &f.business_line_id {
                    q = q.bind(v.as_str());
                }
                if let Some(v) = f.kind {
                    q = q.bind(v.as_str());
                }
                if let Some(v) = f.status {
                    q = q.bind(v.as_str());
                }
                if let Some(v) = &f.funding_account_id {
                    q = q.bind(v.as_str());
                }
                let rows = q.bind(page(limit)).fetch_all(&self.pool).await?;
                rows.iter().map(Self::payout_row).collect()
            }
        }
    };
}

impl_payouts!(SqliteStore, Sqlite, SqliteRow);
impl_payouts!(PostgresStore, Postgres, PgRow);
impl_payouts!(MySqlStore, MySql, MySqlRow);
