//! The hot-delete floor of the archive benchmark: how fast the MariaDB server itself
//! deletes the rows paydesk moved (each order with its outbox events, notification
//! attempts, payment attempts, refunds and raw callbacks), server-side, with no
//! archiver, no client round trip of the data and no copy at all.
//!
//! Whatever its cold layout, an archiver that moves these rows must at least delete
//! them from hot, so this rate bounds every such archiver's pay orders/s on this
//! server. The benchmark prints it next to pt-archiver's rate, in the same run, so the
//! 2x goal can be checked against what the machine allows.

use crate::archive::{copy_table, exec, table_counts};
use anyhow::{bail, Result};
use sqlx::{Connection, MySqlConnection};
use std::time::Instant;

/// The archived tables, children before their parents, each with the statement that
/// deletes the rows of the pay orders listed in the session's temporary table `b`.
/// `STRAIGHT_JOIN` keeps MariaDB walking from the batch's ids into the table's
/// order index instead of scanning the table.
const DELETES: [(&str, &str); 6] = [
    (
        "notification_attempts",
        "DELETE n FROM b STRAIGHT_JOIN outbox_events x ON x.pay_order_id = b.id \
         STRAIGHT_JOIN notification_attempts n ON n.event_id = x.id",
    ),
    (
        "outbox_events",
        "DELETE x FROM b STRAIGHT_JOIN outbox_events x ON x.pay_order_id = b.id",
    ),
    (
        "payment_attempts",
        "DELETE x FROM b STRAIGHT_JOIN payment_attempts x ON x.pay_order_id = b.id",
    ),
    (
        "refunds",
        "DELETE x FROM b STRAIGHT_JOIN refunds x ON x.pay_order_id = b.id",
    ),
    (
        "provider_callbacks",
        "DELETE x FROM b STRAIGHT_JOIN provider_callbacks x ON x.pay_order_id = b.id",
    ),
    (
        "pay_orders",
        "DELETE p FROM b STRAIGHT_JOIN pay_orders p ON p.id = b.id",
    ),
];

/// Deadlock retries per batch (two sessions delete disjoint orders, but InnoDB may
/// still pick one as a victim on a shared index page).
const MAX_DEADLOCK_RETRIES: u32 = 8;

/// What the floor measured.
pub struct Floor {
    /// Pay orders deleted.
    pub orders: u64,
    /// Rows deleted in all six tables.
    pub rows: u64,
    /// Wall time of the deletes, all sessions together.
    pub secs: f64,
}

/// Rows of the archived tables in `db`, all together.
async fn total_rows(c: &mut MySqlConnection, db: &str) -> Result<u64> {
    Ok(u64::try_from(
        table_counts(c, db).await?.iter().sum::<i64>(),
    )?)
}

/// Copies the six archived tables of `from_db` (paydesk's cold copy: exactly the rows it
/// moved, with the hot schema's indexes) into `scratch_db` on the same server, then
/// deletes them there in batches of `batch` pay orders walking the primary key, from
/// `sessions` connections at once, each batch one transaction, as an archiver's hot
/// delete would.
pub async fn delete_floor(
    admin: &mut MySqlConnection,
    scratch_url: &str,
    from_db: &str,
    scratch_db: &str,
    batch: usize,
    sessions: usize,
) -> Result<Floor> {
    for (table, _) in DELETES {
        copy_table(admin, from_db, scratch_db, table).await?;
        exec(admin, &format!("ANALYZE TABLE `{scratch_db}`.{table}")).await?;
    }
    let rows = total_rows(admin, scratch_db).await?;
    // The ids are `utf8mb4_bin` text, which the driver reports as binary.
    let ids: Vec<Vec<u8>> = sqlx::query_scalar(&format!(
        "SELECT id FROM `{scratch_db}`.pay_orders ORDER BY id"
    ))
    .fetch_all(&mut *admin)
    .await?;
    let ids: Vec<String> = ids
        .into_iter()
        .map(String::from_utf8)
        .collect::<Result<_, _>>()?;
    let batches: Vec<(String, String)> = ids
        .chunks(batch.max(1))
        .filter_map(|ch| Some((ch.first()?.clone(), ch.last()?.clone())))
        .collect();

    let sessions = sessions.clamp(1, 8);
    let mut conns = Vec::with_capacity(sessions);
    for _ in 0..sessions {
        let mut s = MySqlConnection::connect(scratch_url).await?;
        exec(
            &mut s,
            "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        )
        .await?;
        exec(
            &mut s,
            "CREATE TEMPORARY TABLE b (id VARCHAR(40) PRIMARY KEY) \
             DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        )
        .await?;
        conns.push(s);
    }
    let t0 = Instant::now();
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(k, mut s)| {
            let mine: Vec<(String, String)> =
                batches.iter().skip(k).step_by(sessions).cloned().collect();
            tokio::spawn(async move {
                for (lo, hi) in &mine {
                    delete_batch(&mut s, lo, hi).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for t in tasks {
        t.await??;
    }
    let secs = t0.elapsed().as_secs_f64();
    let left = total_rows(admin, scratch_db).await?;
    if left != 0 {
        bail!("the hot-delete floor left {left} rows behind");
    }
    Ok(Floor {
        orders: ids.len() as u64,
        rows,
        secs,
    })
}

/// Deletes the pay orders with `lo <= id <= hi` and their children in one transaction,
/// retried when InnoDB picks it as a deadlock victim.
async fn delete_batch(s: &mut MySqlConnection, lo: &str, hi: &str) -> Result<()> {
    exec(s, "DELETE FROM b").await?;
    sqlx::query("INSERT INTO b SELECT id FROM pay_orders WHERE id BETWEEN ? AND ?")
        .bind(lo)
        .bind(hi)
        .execute(&mut *s)
        .await?;
    let mut attempt = 0;
    loop {
        let mut tx = s.begin().await?;
        let mut failed = None;
        for (_, sql) in DELETES {
            if let Err(e) = sqlx::query(sql).execute(&mut *tx).await {
                failed = Some(e);
                break;
            }
        }
        match failed {
            None => {
                tx.commit().await?;
                return Ok(());
            }
            Some(e) if is_deadlock(&e) && attempt < MAX_DEADLOCK_RETRIES => {
                tx.rollback().await.ok();
                attempt += 1;
            }
            Some(e) => return Err(e.into()),
        }
    }
}

fn is_deadlock(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("40001"))
}
