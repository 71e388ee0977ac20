//! `GET /v1/pay-orders` over a hot and a cold store: newest first, keyset-paged, every
//! order once (also one left in both tiers by an interrupted archive run), archived
//! ones included; status and time filters; bad input is a 400.

mod common;

use common::{test_config, TestApp};
use paydesk_store::archive::{archive, tier_of, ArchiveOptions, OrderBundle};
use paydesk_store::generate::{historical_order, Rng};
use paydesk_store::testing::fresh;
use paydesk_store::{Backend, Store, TieredStore};
use serde_json::Value;
use std::sync::Arc;

const DAY_MS: i64 = 86_400_000;

async fn list_spans_tiers(hot_b: Backend, cold_b: Backend) {
    let Some(hot) = fresh(hot_b).await.unwrap() else {
        return;
    };
    let Some(cold) = fresh(cold_b).await.unwrap() else {
        return;
    };
    let tiered: Arc<dyn Store> = Arc::new(TieredStore::new(hot.store.clone(), cold.store.clone()));
    let app = TestApp::start_on(
        tiered.clone(),
        hot.url.clone(),
        "http://127.0.0.1:9/notify",
        test_config(),
    )
    .await;
    let line = hot
        .store
        .business_line_by_app_id(&app.app_id)
        .await
        .unwrap()
        .unwrap();
    let now = paydesk_server::time::now_ms();
    let mut rng = Rng::new(11);
    let bundles: Vec<OrderBundle> = (0..30)
        .map(|i| {
            historical_order(
                &mut rng,
                &line,
                format!("L-{i}"),
                now - (20 + i * 6) * DAY_MS,
                3,
            )
        })
        .collect();
    let ht = tier_of(&*hot.store).unwrap();
    ht.insert_bundles_fresh(&bundles).await.unwrap();
    // Archive what is older than 90 days; then copy one hot order to cold without
    // deleting it, as a run killed between its copy and its delete leaves it.
    let opts = ArchiveOptions {
        cutoff_ms: now - 90 * DAY_MS,
        batch: 4,
        ..ArchiveOptions::default()
    };
    let stats = archive(&*hot.store, &*cold.store, &opts, &mut |_| {})
        .await
        .unwrap();
    assert!(stats.orders > 5, "some orders archived: {stats:?}");
    let still_hot: Vec<OrderBundle> = {
        let ids: Vec<String> = bundles.iter().map(|b| b.order.id.clone()).collect();
        ht.load_bundles(&ids).await.unwrap()
    };
    assert!(still_hot.len() > 5, "some orders stayed hot");
    tier_of(&*cold.store)
        .unwrap()
        .put_bundles(&still_hot[..1])
        .await
        .unwrap();

    let mut expected: Vec<&OrderBundle> = bundles.iter().collect();
    expected.sort_by(|a, b| {
        (b.order.created_at_ms, &b.order.id).cmp(&(a.order.created_at_ms, &a.order.id))
    });
    let expected_ids: Vec<&str> = expected.iter().map(|b| b.order.id.as_str()).collect();

    // Page through everything, 7 at a time.
    let mut got: Vec<String> = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let target = match &cursor {
            Some(c) => format!("/v1/pay-orders?limit=7&cursor={c}"),
            None => "/v1/pay-orders?limit=7".to_owned(),
        };
        let (status, page) = app.call("GET", &target, None).await;
        assert_eq!(status, 200, "{page}");
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 7);
        got.extend(data.iter().map(|o| o["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        got, expected_ids,
        "every order once, newest first, across tiers"
    );

    // Status and time filters, answered from both tiers too.
    let (_, page) = app
        .call("GET", "/v1/pay-orders?status=PAID&limit=100", None)
        .await;
    let paid: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o: &Value| o["id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = expected
        .iter()
        .filter(|b| b.order.status == paydesk_core::PayOrderStatus::Paid)
        .map(|b| b.order.id.as_str())
        .collect();
    assert_eq!(paid, want);
    let (from, to) = (now - 120 * DAY_MS, now - 60 * DAY_MS);
    let (_, page) = app
        .call(
            "GET",
            &format!("/v1/pay-orders?created_from_ms={from}&created_to_ms={to}&limit=100"),
            None,
        )
        .await;
    let ranged: Vec<&str> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o: &Value| o["id"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = expected
        .iter()
        .filter(|b| b.order.created_at_ms >= from && b.order.created_at_ms < to)
        .map(|b| b.order.id.as_str())
        .collect();
    assert!(!want.is_empty());
    assert_eq!(ranged, want);

    for bad in [
        "/v1/pay-orders?limit=0",
        "/v1/pay-orders?limit=101",
        "/v1/pay-orders?status=NOPE",
        "/v1/pay-orders?cursor=garbage",
        "/v1/pay-orders?created_from_ms=5&created_to_ms=4",
        "/v1/pay-orders?extra=1",
    ] {
        let (status, body) = app.call("GET", bad, None).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["code"], "INVALID_REQUEST", "{bad}: {body}");
    }
}

mod sqlite {
    use super::*;
    #[tokio::test]
    async fn list_spans_tiers_sqlite_to_sqlite() {
        list_spans_tiers(Backend::Sqlite, Backend::Sqlite).await;
    }
}

// Named `postgres::` so `.ci/run`'s required-servers step selects it.
mod postgres {
    use super::*;
    #[tokio::test]
    async fn list_spans_tiers_postgres_to_mariadb() {
        list_spans_tiers(Backend::Postgres, Backend::MySql).await;
    }
}
