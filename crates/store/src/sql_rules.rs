//! Rule set versions, operators, sessions and the decision sample, stamped out per
//! backend like `sql_store.rs` (whose `Store` impl delegates here).

use crate::error::{is_unique_violation, ConflictOnUnique, Result, StoreError};
use crate::*;
use sqlx::mysql::MySqlRow;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

macro_rules! impl_rules {
    ($store:ty, $row:ty) => {
        impl $store {
            fn operator_row(row: &$row) -> Result<Operator> {
                let role = Self::s(row, "role")?;
                let status = Self::s(row, "status")?;
                Ok(Operator {
                    id: Self::s(row, "id")?,
                    name: Self::s(row, "name")?,
                    role: OperatorRole::parse(&role)
                        .ok_or_else(|| StoreError::Corrupt(format!("operator role `{role}`")))?,
                    token_hash: Self::s(row, "token_hash")?,
                    status: OperatorStatus::parse(&status).ok_or_else(|| {
                        StoreError::Corrupt(format!("operator status `{status}`"))
                    })?,
                    created_at_ms: Self::i(row, "created_at_ms")?,
                })
            }

            fn active_row(row: &$row) -> Result<ActiveRuleVersion> {
                Ok(ActiveRuleVersion {
                    version: Self::i(row, "version")?,
                    updated_by: Self::s(row, "updated_by")?,
                    updated_at_ms: Self::i(row, "updated_at_ms")?,
                })
            }

            pub(crate) async fn rules_active(&self) -> Result<ActiveRuleVersion> {
                let row = sqlx::query(&self.q.rules.active)
                    .fetch_one(&self.pool)
                    .await?;
                Self::active_row(&row)
            }

            pub(crate) async fn rules_publish(
                &self,
                new: &NewRuleVersion,
                expected: i64,
            ) -> Result<Transition<ActiveRuleVersion>> {
                let r = &self.q.rules;
                let mut tx = self.write_tx().await?;
                let locked = sqlx::query(&r.lock_active)
                    .bind(new.created_at_ms)
                    .bind(expected)
                    .execute(&mut *tx)
                    .await?;
                if locked.rows_affected() != 1 {
                    drop(tx);
                    return Ok(Transition::Refused(Some(self.rules_active().await?)));
                }
                let max: i64 = sqlx::query(&r.max_version)
                    .fetch_one(&mut *tx)
                    .await?
                    .try_get(0)?;
                let version = max + 1;
                sqlx::query(&r.insert_version)
                    .bind(version)
                    .bind(&new.document_json)
                    .bind(&new.author)
                    .bind(&new.comment)
                    .bind(new.created_at_ms)
                    .execute(&mut *tx)
                    .await?;
                let set = sqlx::query(&r.set_active)
                    .bind(version)
                    .bind(&new.author)
                    .bind(new.created_at_ms)
                    .bind(expected)
                    .execute(&mut *tx)
                    .await?;
                if set.rows_affected() != 1 {
                    drop(tx);
                    return Ok(Transition::Refused(Some(self.rules_active().await?)));
                }
                tx.commit().await?;
                Ok(Transition::Applied(ActiveRuleVersion {
                    version,
                    updated_by: new.author.clone(),
                    updated_at_ms: new.created_at_ms,
                }))
            }

            pub(crate) async fn rules_activate(
                &self,
                version: i64,
                expected: i64,
                by: &str,
                now_ms: i64,
            ) -> Result<Transition<ActiveRuleVersion>> {
                let r = &self.q.rules;
                // Versions are immutable and never deleted, so existence checked now
                // still holds at the update.
                let exists: i64 = sqlx::query(&r.version_exists)
                    .bind(version)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?;
                if exists == 0 {
                    return Ok(Transition::Refused(Some(self.rules_active().await?)));
                }
                let set = sqlx::query(&r.set_active)
                    .bind(version)
                    .bind(by)
                    .bind(now_ms)
                    .bind(expected)
                    .execute(self.w())
                    .await?;
                let now = self.rules_active().await?;
                Ok(if set.rows_affected() == 1 {
                    Transition::Applied(now)
                } else {
                    Transition::Refused(Some(now))
                })
            }

            pub(crate) async fn rules_version(&self, version: i64) -> Result<Option<RuleVersion>> {
                let row = sqlx::query(&self.q.rules.version_by_number)
                    .bind(version)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|row| {
                    Ok(RuleVersion {
                        version: Self::i(&row, "version")?,
                        document_json: Self::s(&row, "document_json")?,
                        author: Self::s(&row, "author")?,
                        comment: Self::s(&row, "comment")?,
                        created_at_ms: Self::i(&row, "created_at_ms")?,
                    })
                })
                .transpose()
            }

            pub(crate) async fn rules_list(&self, limit: i64) -> Result<Vec<RuleVersionSummary>> {
                let rows = sqlx::query(&self.q.rules.list_versions)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(RuleVersionSummary {
                            version: Self::i(row, "version")?,
                            author: Self::s(row, "author")?,
                            comment: Self::s(row, "comment")?,
                            created_at_ms: Self::i(row, "created_at_ms")?,
                        })
                    })
                    .collect()
            }

            pub(crate) async fn ops_insert(&self, o: &Operator) -> Result<()> {
                sqlx::query(&self.q.rules.insert_operator)
                    .bind(&o.id)
                    .bind(&o.name)
                    .bind(o.role.as_str())
                    .bind(&o.token_hash)
                    .bind(o.status.as_str())
                    .bind(o.created_at_ms)
                    .execute(self.w())
                    .await
                    .conflict_on_unique(|| {
                        format!("an operator named `{}` already exists", o.name)
                    })?;
                Ok(())
            }

            pub(crate) async fn ops_by_hash(&self, hash: &str) -> Result<Option<Operator>> {
                let row = sqlx::query(&self.q.rules.operator_by_hash)
                    .bind(hash)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::operator_row).transpose()
            }

            pub(crate) async fn ops_set_status(
                &self,
                name: &str,
                status: OperatorStatus,
            ) -> Result<bool> {
                let r = sqlx::query(&self.q.rules.set_operator_status)
                    .bind(status.as_str())
                    .bind(name)
                    .bind(status.as_str())
                    .execute(self.w())
                    .await?;
                Ok(r.rows_affected() == 1)
            }

            pub(crate) async fn ops_list(&self) -> Result<Vec<Operator>> {
                let rows = sqlx::query(&self.q.rules.list_operators)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(Self::operator_row).collect()
            }

            pub(crate) async fn sessions_insert(&self, s: &OperatorSession) -> Result<()> {
                sqlx::query(&self.q.rules.insert_session)
                    .bind(&s.token_hash)
                    .bind(&s.operator_id)
                    .bind(s.created_at_ms)
                    .bind(s.expires_at_ms)
                    .execute(self.w())
                    .await?;
                Ok(())
            }

            pub(crate) async fn sessions_operator(
                &self,
                hash: &str,
                now_ms: i64,
            ) -> Result<Option<Operator>> {
                let row = sqlx::query(&self.q.rules.session_operator)
                    .bind(hash)
                    .bind(now_ms)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(Self::operator_row).transpose()
            }

            pub(crate) async fn sessions_delete(&self, hash: &str) -> Result<bool> {
                let r = sqlx::query(&self.q.rules.delete_session)
                    .bind(hash)
                    .execute(self.w())
                    .await?;
                Ok(r.rows_affected() > 0)
            }

            pub(crate) async fn sessions_purge(&self, now_ms: i64, limit: i64) -> Result<u64> {
                let r = sqlx::query(&self.q.rules.purge_sessions)
                    .bind(now_ms)
                    .bind(limit)
                    .execute(self.w())
                    .await?;
                Ok(r.rows_affected())
            }

            pub(crate) async fn samples_record(&self, s: &DecisionSample) -> Result<()> {
                let r = &self.q.rules;
                let updated = sqlx::query(&r.update_sample)
                    .bind(&s.facts_json)
                    .bind(s.created_at_ms)
                    .bind(s.slot)
                    .execute(self.w())
                    .await?;
                if updated.rows_affected() > 0 {
                    return Ok(());
                }
                let inserted = sqlx::query(&r.insert_sample)
                    .bind(s.slot)
                    .bind(&s.facts_json)
                    .bind(s.created_at_ms)
                    .execute(self.w())
                    .await;
                match inserted {
                    // Another writer filled the slot first: a sample either way.
                    Err(e) if is_unique_violation(&e) => Ok(()),
                    other => other.map(|_| ()).map_err(Into::into),
                }
            }

            pub(crate) async fn samples_list(&self, limit: i64) -> Result<Vec<DecisionSample>> {
                let rows = sqlx::query(&self.q.rules.samples)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|row| {
                        Ok(DecisionSample {
                            slot: Self::i(row, "slot")?,
                            facts_json: Self::s(row, "facts_json")?,
                            created_at_ms: Self::i(row, "created_at_ms")?,
                        })
                    })
                    .collect()
            }
        }
    };
}

impl_rules!(SqliteStore, SqliteRow);
impl_rules!(PostgresStore, PgRow);
impl_rules!(MySqlStore, MySqlRow);
