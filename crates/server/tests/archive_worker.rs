//! The scheduled archiver inside the server: off by default; when enabled with a cold
//! store it moves an old finished pay order (with its children) to cold, leaves a
//! recent one in hot, and reads still find both.

use paydesk_server::config::Config;
use paydesk_server::secrets::MasterKey;
use paydesk_server::state::AppState;
use paydesk_server::workers;
use paydesk_store::archive::{tier_of, OrderBundle};
use paydesk_store::generate::{historical_order, Rng};
use paydesk_store::testing::fresh;
use paydesk_store::{Backend, BusinessLine, BusinessLineStatus, EventStatus, Store, TieredStore};
use std::sync::Arc;
use std::time::Duration;

const DAY_MS: i64 = 86_400_000;

fn line() -> BusinessLine {
    BusinessLine {
        id: "bl_worker".into(),
        app_id: "app_worker".into(),
        name: "worker".into(),
        secret_ciphertext: "c".into(),
        notify_url: "http://127.0.0.1:9/notify".into(),
        allowed_url_prefixes: vec![],
        status: BusinessLineStatus::Active,
        created_at_ms: 0,
    }
}

/// A finished order with a delivered event, created about `days_ago` days ago.
fn finished(rng: &mut Rng, no: &str, days_ago: i64) -> OrderBundle {
    let now = paydesk_server::time::now_ms();
    loop {
        let b = historical_order(rng, &line(), no.into(), now - days_ago * DAY_MS, 1);
        if !b.events.is_empty()
            && b.events
                .iter()
                .all(|e| e.event.status != EventStatus::Pending)
        {
            return b;
        }
    }
}

fn state(store: Arc<dyn Store>, config: Config) -> AppState {
    AppState::new(
        store,
        MasterKey::from_bytes(&[42u8; 32]).unwrap(),
        config,
        paydesk_server::ops::metrics_handle(),
    )
    .unwrap()
}

#[tokio::test]
async fn scheduled_archiver_moves_an_old_finished_order() {
    let hot = fresh(Backend::Sqlite).await.unwrap().unwrap().store;
    let cold = fresh(Backend::Sqlite).await.unwrap().unwrap().store;
    let mut rng = Rng::new(7);
    let old = finished(&mut rng, "old-1", 200);
    let recent = finished(&mut rng, "recent-1", 10);
    tier_of(&*hot)
        .unwrap()
        .insert_bundles_fresh(&[old.clone(), recent.clone()])
        .await
        .unwrap();
    let tiered: Arc<dyn Store> = Arc::new(TieredStore::new(hot.clone(), cold.clone()));

    // Off by default, and never without a cold store.
    assert!(!workers::archive::wanted(&state(
        tiered.clone(),
        Config::default()
    )));
    let mut enabled = Config::default();
    enabled.archive.enabled = true;
    enabled.archive.interval_ms = 50;
    assert!(!workers::archive::wanted(&state(
        hot.clone(),
        enabled.clone()
    )));

    let app = state(tiered.clone(), enabled);
    assert!(workers::archive::wanted(&app));
    let (stop, rx) = tokio::sync::watch::channel(false);
    let handles = workers::spawn_all(&app, rx);
    let mut moved = false;
    for _ in 0..200 {
        if hot.pay_order(&old.order.id).await.unwrap().is_none()
            && cold.pay_order(&old.order.id).await.unwrap().is_some()
        {
            moved = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(true);
    for h in handles {
        h.await.unwrap();
    }
    assert!(moved, "the old finished order was not archived");

    // Moved with its children, identical; the recent order stayed hot.
    let ids = [old.order.id.clone()];
    let mut expected = old.clone();
    expected.normalize();
    assert_eq!(
        tier_of(&*cold).unwrap().load_bundles(&ids).await.unwrap(),
        vec![expected]
    );
    assert!(tier_of(&*hot)
        .unwrap()
        .load_bundles(&ids)
        .await
        .unwrap()
        .is_empty());
    assert!(hot.pay_order(&recent.order.id).await.unwrap().is_some());
    assert!(cold.pay_order(&recent.order.id).await.unwrap().is_none());
    // Reads through the server's store still find both.
    assert_eq!(
        tiered.pay_order(&old.order.id).await.unwrap().unwrap(),
        old.order
    );
    assert!(tiered.pay_order(&recent.order.id).await.unwrap().is_some());
}
