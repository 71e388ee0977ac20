//! Business-line secret rotation and the dashboard's figures, stamped out per backend
//! like `sql_store.rs` (whose `Store` impl delegates here).

use crate::error::{Result, StoreError};
use crate::*;
use paydesk_core::{AttemptFlag, Currency, Provider};
use sqlx::Row;
use std::str::FromStr;

use crate::sql_store::corrupt;

macro_rules! impl_console {
    ($store:ty) => {
        impl $store {
            pub(crate) async fn console_rotate_secret(
                &self,
                r: &SecretRotation,
                audit: &AuditEntry,
            ) -> Result<bool> {
                let c = &self.q.console;
                let mut tx = self.write_tx().await?;
                let swapped = sqlx::query(&c.swap_line_secret)
                    .bind(&r.new_ciphertext)
                    .bind(r.now_ms)
                    .bind(&r.business_line_id)
                    .bind(&r.expected_ciphertext)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                if swapped != 1 {
                    tx.rollback().await?;
                    return Ok(false);
                }
                sqlx::query(&c.delete_previous_secret)
                    .bind(&r.business_line_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(&c.insert_previous_secret)
                    .bind(&r.business_line_id)
                    .bind(&r.expected_ciphertext)
                    .bind(r.previous_valid_until_ms)
                    .bind(r.now_ms)
                    .execute(&mut *tx)
                    .await?;
                self.accounts_audit_tx(&mut tx, audit).await?;
                tx.commit().await?;
                Ok(true)
            }

            pub(crate) async fn console_previous_secret(
                &self,
                id: &str,
                now_ms: i64,
            ) -> Result<Option<PreviousSecret>> {
                let row = sqlx::query(&self.q.console.previous_secret)
                    .bind(id)
                    .bind(now_ms)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| {
                    Ok(PreviousSecret {
                        secret_ciphertext: Self::s(&r, "secret_ciphertext")?,
                        valid_until_ms: Self::i(&r, "valid_until_ms")?,
                    })
                })
                .transpose()
            }

            pub(crate) async fn console_dashboard(&self, q: &DashboardQuery) -> Result<Dashboard> {
                if q.bucket_ms <= 0 || q.to_ms < q.from_ms {
                    return Err(StoreError::Invalid(
                        "dashboard window: bucket must be > 0 and from <= to".into(),
                    ));
                }
                let c = &self.q.console;
                let mut rows = Vec::new();
                for r in sqlx::query(&c.dashboard_rows)
                    .bind(q.from_ms)
                    .bind(q.bucket_ms)
                    .bind(q.from_ms)
                    .bind(q.to_ms)
                    .fetch_all(&self.pool)
                    .await?
                {
                    let provider = Self::s(&r, "provider")?;
                    let currency = Self::s(&r, "currency")?;
                    let bucket = Self::i(&r, "bucket")?;
                    rows.push(DashboardRow {
                        bucket_start_ms: q.from_ms + bucket * q.bucket_ms,
                        business_line_id: Self::s(&r, "business_line_id")?,
                        provider: Provider::parse(&provider)
                            .ok_or_else(|| corrupt("provider", &provider))?,
                        method: Self::s(&r, "method")?,
                        currency: Currency::from_str(currency.trim())
                            .map_err(|_| corrupt("currency", &currency))?,
                        attempts: Self::i(&r, "attempts")?,
                        paid: Self::i(&r, "paid")?,
                        paid_amount_minor: Self::i(&r, "paid_amount_minor")?,
                    });
                }
                let waiting_orders: i64 = sqlx::query(&c.waiting_orders)
                    .fetch_one(&self.pool)
                    .await?
                    .try_get(0)?;
                let mut flagged = Vec::new();
                for r in sqlx::query(&c.flagged_counts).fetch_all(&self.pool).await? {
                    let flag = Self::s(&r, "flag")?;
                    flagged.push((
                        AttemptFlag::parse(&flag).ok_or_else(|| corrupt("attempt flag", &flag))?,
                        Self::i(&r, "n")?,
                    ));
                }
                let outbox = self.outbox_counts().await?;
                Ok(Dashboard {
                    rows,
                    waiting_orders,
                    flagged,
                    outbox,
                })
            }
        }
    };
}

impl_console!(SqliteStore);
impl_console!(PostgresStore);
impl_console!(MySqlStore);
