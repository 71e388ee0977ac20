//! Merchant accounts, their encrypted key versions and the audit log, stamped out per
//! backend like `sql_store.rs` (whose `Store` impl delegates here). Key material arrives
//! sealed; nothing here sees a secret in clear.

use crate::error::{ConflictOnUnique, Result, StoreError};
use crate::*;
use paydesk_core::Provider;
use sqlx::mysql::{MySql, MySqlRow};
use sqlx::postgres::{PgRow, Postgres};
use sqlx::sqlite::{Sqlite, SqliteRow};
use sqlx::{Row, Transaction};

macro_rules! impl_accounts {
    ($store:ty, $db:ty, $row:ty) => {
        impl $store {
            fn merchant_account_row(row: &$row) -> Result<MerchantAccount> {
                let provider = Self::s(row, "provider")?;
                let status = Self::s(row, "status")?;
                Ok(MerchantAccount {
                    id: Self::s(row, "id")?,
                    provider: Provider::parse(&provider).ok_or_else(|| {
                        StoreError::Corrupt(format!("merchant account provider `{provider}`"))
                    })?,
                    status: MerchantAccountStatus::parse(&status).ok_or_else(|| {
                        StoreError::Corrupt(format!("merchant account status `{status}`"))
                    })?,
                    public_json: Self::s(row, "public_json")?,
                    created_at_ms: Self::i(row, "created_at_ms")?,
                    updated_at_ms: Self::i(row, "updated_at_ms")?,
                    version: Self::i(row, "version")?,
                })
            }

            fn account_key_row(row: &$row) -> Result<MerchantAccountKey> {
                Ok(MerchantAccountKey {
                    account_id: Self::s(row, "account_id")?,
                    key_version: Self::i(row, "key_version")?,
                    wrapped_data_key: Self::s(row, "wrapped_data_key")?,
                    ciphertext: Self::s(row, "ciphertext")?,
                    created_at_ms: Self::i(row, "created_at_ms")?,
                    retired_at_ms: Self::oi(row, "retired_at_ms")?,
                })
            }

            async fn accounts_insert_key_tx(
                &self,
                tx: &mut Transaction<'static, $db>,
                k: &MerchantAccountKey,
            ) -> Result<()> {
                sqlx::query(&self.q.accounts.insert_key)
                    .bind(&k.account_id)
                    .bind(k.key_version)
                    .bind(&k.wrapped_data_key)
                    .bind(&k.ciphertext)
                    .bind(k.created_at_ms)
                    .bind(k.retired_at_ms)
                    .execute(&mut **tx)
                    .await
                    .conflict_on_unique(|| {
                        format!(
                            "merchant account `{}` already has key version {}",
                            k.account_id, k.key_version
                        )
                    })?;
                Ok(())
            }

            pub(crate) async fn accounts_audit_tx(
                &self,
                tx: &mut Transaction<'static, $db>,
                a: &AuditEntry,
            ) -> Result<()> {
                sqlx::query(&self.q.accounts.insert_audit)
                    .bind(&a.id)
                    .bind(a.at_ms)
                    .bind(&a.actor)
                    .bind(&a.action)
                    .bind(&a.target)
                    .bind(&a.details_json)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }

            pub(crate) async fn accounts_insert(
                &self,
                a: &MerchantAccount,
                key: &MerchantAccountKey,
                audit: &AuditEntry,
            ) -> Result<()> {
                if key.account_id != a.id {
                    return Err(StoreError::Invalid(format!(
                        "key for `{}` given with account `{}`",
                        key.account_id, a.id
                    )));
                }
                let mut tx = self.write_tx().await?;
                sqlx::query(&self.q.accounts.insert_account)
                    .bind(&a.id)
                    .bind(a.provider.as_str())
                    .bind(a.status.as_str())
                    .bind(&a.public_json)
                    .bind(a.created_at_ms)
                    .bind(a.updated_at_ms)
                    .bind(a.version)
                    .execute(&mut *tx)
                    .await
                    .conflict_on_unique(|| {
                        format!("a merchant account with id `{}` already exists", a.id)
                    })?;
                self.accounts_insert_key_tx(&mut tx, key).await?;
                self.accounts_audit_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn accounts_by_id(&self, id: &str) -> Result<Option<MerchantAccount>> {
                let row = sqlx::query(&self.q.accounts.account_by_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::merchant_account_row).transpose()
            }

            pub(crate) async fn accounts_list(&self) -> Result<Vec<MerchantAccount>> {
                let rows = sqlx::query(&self.q.accounts.list_accounts)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::merchant_account_row).collect()
            }

            pub(crate) async fn accounts_keys(
                &self,
                account_id: &str,
            ) -> Result<Vec<MerchantAccountKey>> {
                let rows = sqlx::query(&self.q.accounts.keys_for_account)
                    .bind(account_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::account_key_row).collect()
            }

            pub(crate) async fn accounts_update(
                &self,
                u: &MerchantAccountUpdate,
            ) -> Result<Transition<MerchantAccount>> {
                if let Some(k) = &u.new_key {
                    if k.account_id != u.id {
                        return Err(StoreError::Invalid(format!(
                            "key for `{}` given with account `{}`",
                            k.account_id, u.id
                        )));
                    }
                }
                let a = &self.q.accounts;
                let mut tx = self.write_tx().await?;
                // The conditional update takes the account's row lock first, so key
                // changes of one account serialise.
                let changed = sqlx::query(&a.update_account)
                    .bind(u.status.as_str())
                    .bind(&u.public_json)
                    .bind(u.now_ms)
                    .bind(&u.id)
                    .bind(u.expected_version)
                    .execute(&mut *tx)
                    .await?;
                if changed.rows_affected() != 1 {
                    drop(tx);
                    return Ok(Transition::Refused(self.accounts_by_id(&u.id).await?));
                }
                if let Some(k) = &u.new_key {
                    self.accounts_insert_key_tx(&mut tx, k).await?;
                }
                if let Some(v) = u.retire_key_version {
                    let retired = sqlx::query(&a.retire_key)
                        .bind(u.now_ms)
                        .bind(&u.id)
                        .bind(v)
                        .execute(&mut *tx)
                        .await?;
                    if retired.rows_affected() != 1 {
                        return Err(StoreError::Invalid(format!(
                            "merchant account `{}` has no unretired key version {v}",
                            u.id
                        )));
                    }
                }
                self.accounts_audit_tx(&mut tx, &u.audit).await?;
                let row = sqlx::query(&a.account_by_id)
                    .bind(&u.id)
                    .fetch_one(&mut *tx)
                    .await?;
                let now = Self::merchant_account_row(&row)?;
                tx.commit().await?;
                Ok(Transition::Applied(now))
            }

            pub(crate) async fn accounts_stamp(&self) -> Result<MerchantAccountsStamp> {
                let row = sqlx::query(&self.q.accounts.stamp)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(MerchantAccountsStamp {
                    count: row.try_get::<i64, _>(0)?,
                    version_sum: row.try_get::<i64, _>(1)?,
                    max_updated_at_ms: row.try_get::<i64, _>(2)?,
                })
            }

            pub(crate) async fn audit_insert(&self, entry: &AuditEntry) -> Result<()> {
                let mut tx = self.write_tx().await?;
                self.accounts_audit_tx(&mut tx, entry).await?;
                tx.commit().await?;
                Ok(())
            }

            pub(crate) async fn audit_list(&self, limit: i64) -> Result<Vec<AuditEntry>> {
                let rows = sqlx::query(&self.q.accounts.audit_log)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(AuditEntry {
                            id: Self::s(row, "id")?,
                            at_ms: Self::i(row, "at_ms")?,
                            actor: Self::s(row, "actor")?,
                            action: Self::s(row, "action")?,
                            target: Self::s(row, "target")?,
                            details_json: Self::s(row, "details_json")?,
                        })
                    })
                    .collect()
            }
        }
    };
}

impl_accounts!(SqliteStore, Sqlite, SqliteRow);
impl_accounts!(PostgresStore, Postgres, PgRow);
impl_accounts!(MySqlStore, MySql, MySqlRow);
