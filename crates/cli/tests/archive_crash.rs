//! Crash safety of `paydesk archive`: over a generated data set, the real binary is
//! killed with SIGKILL at random moments, then run to completion. Every movable order
//! must end in exactly one tier (or both, identical), none lost, none changed, and
//! reads through `TieredStore` during the run must always find every order.
//! Pairs: SQLite->SQLite always; PostgreSQL->MariaDB when both servers are configured.

use paydesk_store::archive::{tier_of, OrderBundle};
use paydesk_store::generate::Rng;
use paydesk_store::testing::{fresh, TestDb};
use paydesk_store::{Backend, Store, TieredStore};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const BIN: &str = env!("CARGO_BIN_EXE_paydesk");
const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

fn paydesk(hot: &TestDb, cold: &TestDb, dir: &std::path::Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--data-dir")
        .arg(dir)
        .arg("--database-url")
        .arg(&hot.url)
        .env("PAYDESK_COLD_DATABASE_URL", &cold.url)
        .env("PAYDESK_MASTER_KEY", KEY)
        .env("PAYDESK_LOG_LEVEL", "warn")
        .stdout(std::process::Stdio::null());
    c
}

/// Every order the archiver may ever move (finished, no pending event), by id.
async fn movable(store: &dyn Store) -> Vec<OrderBundle> {
    let t = tier_of(store).unwrap();
    let mut out = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = t.archive_candidates(i64::MAX, &cursor, 500).await.unwrap();
        let Some(last) = page.last() else { break };
        cursor = last.id.clone();
        let ids: Vec<String> = page.iter().map(|o| o.id.clone()).collect();
        out.extend(t.load_bundles(&ids).await.unwrap());
    }
    out
}

async fn crash_run(hot_b: Backend, cold_b: Backend) {
    let Some(hot) = fresh(hot_b).await.unwrap() else {
        return;
    };
    let Some(cold) = fresh(cold_b).await.unwrap() else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("paydesk-crash-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();

    let st = paydesk(&hot, &cold, &dir)
        .args([
            "dev", "generate", "--orders", "6000", "--days", "180", "--batch", "500",
        ])
        .status()
        .unwrap();
    assert!(st.success(), "dev generate failed");
    let before = movable(&*hot.store).await;
    let cutoff = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
        - 90 * 86_400_000;
    let expected_moved = before
        .iter()
        .filter(|b| b.order.updated_at_ms < cutoff - 60_000)
        .count();
    assert!(expected_moved > 500, "data set too small: {expected_moved}");

    // Readers: every order stays findable, by id and by business order number.
    let tiered = Arc::new(TieredStore::new(hot.store.clone(), cold.store.clone()));
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (tiered, stop) = (tiered.clone(), stop.clone());
        let sample: Vec<_> = before.iter().step_by(7).map(|b| b.order.clone()).collect();
        tokio::spawn(async move {
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) {
                for o in &sample {
                    let by_id = tiered.pay_order(&o.id).await.unwrap();
                    assert_eq!(by_id.as_ref(), Some(o), "read by id lost {}", o.id);
                    let by_no = tiered
                        .pay_order_by_business_no(&o.business_line_id, &o.business_order_no)
                        .await
                        .unwrap();
                    assert_eq!(by_no.as_ref(), Some(o), "read by number lost {}", o.id);
                    reads += 2;
                }
            }
            reads
        })
    };

    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    eprintln!("crash test seed {seed}");
    let mut rng = Rng::new(seed);
    let mut kills = 0;
    for i in 0..12 {
        // Half the runs rate-limited (killed mostly between batches), half flat out
        // (killed mostly inside a copy or a delete).
        // The first three runs are slow and killed early, so at least three kills land
        // however fast this machine archives; the rest are killed at random moments.
        let rate = if i < 3 {
            "2000"
        } else if i % 2 == 0 {
            "3000"
        } else {
            "0"
        };
        let mut child = paydesk(&hot, &cold, &dir)
            .args(["archive", "--batch", "40", "--max-rows-per-sec", rate])
            .spawn()
            .unwrap();
        let wait = if i < 3 {
            20 + rng.below(130)
        } else {
            20 + rng.below(600)
        };
        tokio::time::sleep(Duration::from_millis(wait)).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 3, "only {kills} runs were killed mid-way");
    let st = paydesk(&hot, &cold, &dir)
        .args(["archive", "--batch", "40"])
        .status()
        .unwrap();
    assert!(st.success(), "final archive run failed");
    stop.store(true, Ordering::Relaxed);
    let reads = reader.await.unwrap();
    eprintln!("{kills} kills, {reads} reads during the runs");

    let (ht, ct) = (
        tier_of(&*hot.store).unwrap(),
        tier_of(&*cold.store).unwrap(),
    );
    let mut in_cold = 0;
    for chunk in before.chunks(500) {
        let ids: Vec<String> = chunk.iter().map(|b| b.order.id.clone()).collect();
        let h = ht.load_bundles(&ids).await.unwrap();
        let c = ct.load_bundles(&ids).await.unwrap();
        for b in chunk {
            let hb = h.iter().find(|x| x.order.id == b.order.id);
            let cb = c.iter().find(|x| x.order.id == b.order.id);
            match (hb, cb) {
                (None, None) => panic!("order {} lost", b.order.id),
                (Some(x), Some(y)) => {
                    assert_eq!(x, b, "changed in hot");
                    assert_eq!(y, b, "changed in cold");
                }
                (Some(x), None) => assert_eq!(x, b, "changed in hot"),
                (None, Some(y)) => {
                    assert_eq!(y, b, "changed in cold");
                    in_cold += 1;
                }
            }
        }
    }
    // After the run to completion, nothing old is left in both tiers or in hot.
    assert!(
        in_cold >= expected_moved,
        "{in_cold} moved, expected at least {expected_moved}"
    );
    assert_eq!(
        ht.count_archive_candidates(cutoff - 60_000).await.unwrap(),
        0
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_sqlite_to_sqlite() {
    crash_run(Backend::Sqlite, Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_pg_to_mariadb() {
    crash_run(Backend::Postgres, Backend::MySql).await;
}
