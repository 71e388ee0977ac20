//! Maker-checker approvals, stamped out per backend like `sql_store.rs` (whose `Store`
//! impl delegates here).

use crate::error::{ConflictOnUnique, Result, StoreError};
use crate::*;

use crate::sql_store::corrupt;

macro_rules! impl_approvals {
    ($store:ty, $row:ty) => {
        impl $store {
            fn approval_row(r: &$row) -> Result<Approval> {
                let status = Self::s(r, "status")?;
                Ok(Approval {
                    id: Self::s(r, "id")?,
                    action: Self::s(r, "action")?,
                    target: Self::s(r, "target")?,
                    payload_json: Self::s(r, "payload_json")?,
                    requested_by: Self::s(r, "requested_by")?,
                    requested_at_ms: Self::i(r, "requested_at_ms")?,
                    status: ApprovalStatus::parse(&status)
                        .ok_or_else(|| corrupt("approval status", &status))?,
                    decided_by: Self::os(r, "decided_by")?,
                    decided_at_ms: Self::oi(r, "decided_at_ms")?,
                    version: Self::i(r, "version")?,
                })
            }

            pub(crate) async fn approvals_insert(&self, a: &Approval) -> Result<()> {
                // A new approval is always PENDING at version 1: the decided fields are
                // written only by `approvals_decide`.
                if a.status != ApprovalStatus::Pending {
                    return Err(StoreError::Invalid("a new approval must be PENDING".into()));
                }
                sqlx::query(&self.q.approvals.insert)
                    .bind(&a.id)
                    .bind(&a.action)
                    .bind(&a.target)
                    .bind(&a.payload_json)
                    .bind(&a.requested_by)
                    .bind(a.requested_at_ms)
                    .bind(ApprovalStatus::Pending.as_str())
                    .execute(&self.pool)
                    .await
                    .conflict_on_unique(|| format!("approval {} exists", a.id))?;
                Ok(())
            }

            pub(crate) async fn approvals_by_id(&self, id: &str) -> Result<Option<Approval>> {
                sqlx::query(&self.q.approvals.by_id)
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?
                    .map(|r| Self::approval_row(&r))
                    .transpose()
            }

            pub(crate) async fn approvals_list(
                &self,
                status: Option<ApprovalStatus>,
                limit: i64,
            ) -> Result<Vec<Approval>> {
                let rows = match status {
                    Some(s) => {
                        sqlx::query(&self.q.approvals.list_by_status)
                            .bind(s.as_str())
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await?
                    }
                    None => {
                        sqlx::query(&self.q.approvals.list_all)
                            .bind(limit)
                            .fetch_all(&self.pool)
                            .await?
                    }
                };
                rows.iter().map(|r| Self::approval_row(r)).collect()
            }

            pub(crate) async fn approvals_decide(
                &self,
                id: &str,
                expected_version: i64,
                to: ApprovalStatus,
                decided_by: &str,
                now_ms: i64,
            ) -> Result<Transition<Approval>> {
                if to == ApprovalStatus::Pending {
                    return Err(StoreError::Invalid(
                        "an approval is decided to APPROVED or REJECTED".into(),
                    ));
                }
                let changed = sqlx::query(&self.q.approvals.decide)
                    .bind(to.as_str())
                    .bind(decided_by)
                    .bind(now_ms)
                    .bind(id)
                    .bind(expected_version)
                    .execute(&self.pool)
                    .await?
                    .rows_affected();
                let now = self.approvals_by_id(id).await?;
                if changed != 1 {
                    return Ok(Transition::Refused(now));
                }
                // Decided rows never change again, so the read after the update is ours.
                now.map(Transition::Applied)
                    .ok_or_else(|| StoreError::Corrupt(format!("approval {id} vanished")))
            }
        }
    };
}

impl_approvals!(SqliteStore, sqlx::sqlite::SqliteRow);
impl_approvals!(PostgresStore, sqlx::postgres::PgRow);
impl_approvals!(MySqlStore, sqlx::mysql::MySqlRow);
