//! The store contract: the same tests against every backend. SQLite always runs;
//! PostgreSQL and MySQL/MariaDB run when `PAYDESK_TEST_POSTGRES_URL` /
//! `PAYDESK_TEST_MYSQL_URL` are set (`.ci/run` sets both and requires them).

use paydesk_core::{ids, Amount, Currency, EventType, PayOrderStatus};
use paydesk_store::testing::fixtures::line;
use paydesk_store::*;
use std::sync::Arc;

fn order(line_id: &str, no: &str, amount_minor: i64) -> NewPayOrder {
    NewPayOrder {
        id: ids::new_id(ids::PAY_ORDER),
        business_line_id: line_id.to_owned(),
        business_order_no: no.to_owned(),
        amount: Amount::new(amount_minor, Currency::CNY).unwrap(),
        subject: "二手自行车 — used bike 🚲".into(),
        buyer_id: Some("buyer-1".into()),
        seller_id: None,
        facts_json: r#"{"category":"bikes"}"#.into(),
        metadata_json: "{}".into(),
        notify_url: "http://127.0.0.1:9/notify".into(),
        return_url: None,
        checkout_token: ids::random_token::<32>(),
        created_at_ms: 10_000,
        expire_at_ms: 20_000,
    }
}

fn close_event(o: &PayOrder) -> NewEvent {
    NewEvent {
        id: ids::new_id(ids::EVENT),
        business_line_id: o.business_line_id.clone(),
        pay_order_id: Some(o.id.clone()),
        event_type: EventType::PayOrderClosed,
        payload_json: format!(r#"{{"id":"{}"}}"#, o.id),
        notify_url: o.notify_url.clone(),
        created_at_ms: 15_000,
    }
}

async fn created(store: &dyn Store, o: &NewPayOrder) -> PayOrder {
    match store.create_pay_order(o).await.unwrap() {
        CreateOutcome::Created(p) => p,
        other => panic!("expected Created, got {other:?}"),
    }
}

async fn migrate_is_idempotent(store: Arc<dyn Store>) {
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    store.ping().await.unwrap();
}

async fn business_lines_round_trip(store: Arc<dyn Store>) {
    let l = line("secondhand");
    store.insert_business_line(&l).await.unwrap();
    assert_eq!(
        store.business_line_by_app_id(&l.app_id).await.unwrap(),
        Some(l.clone())
    );
    assert_eq!(
        store.business_line_by_id(&l.id).await.unwrap(),
        Some(l.clone())
    );
    let dup = store.insert_business_line(&line("secondhand")).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    store.insert_business_line(&line("tickets")).await.unwrap();
    let names: Vec<_> = store
        .list_business_lines()
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.name)
        .collect();
    assert_eq!(names, ["secondhand", "tickets"]);
    assert!(store
        .set_business_line_status("secondhand", BusinessLineStatus::Disabled, 2)
        .await
        .unwrap());
    assert_eq!(
        store
            .business_line_by_id(&l.id)
            .await
            .unwrap()
            .unwrap()
            .status,
        BusinessLineStatus::Disabled
    );
    assert!(!store
        .set_business_line_status("nope", BusinessLineStatus::Disabled, 2)
        .await
        .unwrap());
    assert_eq!(
        store.business_line_by_app_id("app_missing").await.unwrap(),
        None
    );
}

async fn nonces_are_single_use(store: Arc<dyn Store>) {
    let n = "abcdefghijklmnop";
    assert_eq!(
        store.record_nonce("app_a", n, 100).await.unwrap(),
        NonceOutcome::Fresh
    );
    assert_eq!(
        store.record_nonce("app_a", n, 100).await.unwrap(),
        NonceOutcome::Replayed
    );
    assert_eq!(
        store.record_nonce("app_b", n, 100).await.unwrap(),
        NonceOutcome::Fresh
    );
    assert_eq!(
        store
            .record_nonce("app_a", "ABCDEFGHIJKLMNOP", 100)
            .await
            .unwrap(),
        NonceOutcome::Fresh,
        "nonces are case-sensitive"
    );
    assert_eq!(
        store
            .record_nonce("app_a", "later0123456789x", 500)
            .await
            .unwrap(),
        NonceOutcome::Fresh
    );
    assert_eq!(store.purge_expired_nonces(200, 100).await.unwrap(), 3);
    assert_eq!(store.purge_expired_nonces(200, 100).await.unwrap(), 0);
    assert_eq!(
        store
            .record_nonce("app_a", "later0123456789x", 900)
            .await
            .unwrap(),
        NonceOutcome::Replayed,
        "an unexpired nonce survives the purge"
    );
}

async fn create_is_idempotent_per_business_line(store: Arc<dyn Store>) {
    let a = line("a");
    let b = line("b");
    store.insert_business_line(&a).await.unwrap();
    store.insert_business_line(&b).await.unwrap();
    let first = order(&a.id, "SO-1", 1999);
    let p = created(&*store, &first).await;
    assert_eq!(p.status, PayOrderStatus::Waiting);
    assert_eq!(p.amount.minor(), 1999);
    assert_eq!(
        store.pay_order(&p.id).await.unwrap(),
        Some(p.clone()),
        "read back equals written"
    );

    let again = order(&a.id, "SO-1", 5);
    match store.create_pay_order(&again).await.unwrap() {
        CreateOutcome::Existing(e) => assert_eq!(e, p, "the first order stands"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.pay_order(&again.id).await.unwrap(),
        None,
        "nothing else written"
    );
    let other_line = created(&*store, &order(&b.id, "SO-1", 1999)).await;
    assert_ne!(
        other_line.id, p.id,
        "numbers are scoped to the business line"
    );
    let lower = created(&*store, &order(&a.id, "so-1", 1999)).await;
    assert_ne!(lower.id, p.id, "business order numbers are case-sensitive");
    assert_eq!(
        store
            .pay_order_by_business_no(&a.id, "SO-1")
            .await
            .unwrap()
            .map(|o| o.id),
        Some(p.id.clone())
    );
    assert_eq!(
        store
            .pay_order_by_checkout_token(&p.checkout_token)
            .await
            .unwrap(),
        Some(p)
    );
    assert_eq!(
        store
            .pay_order_by_business_no(&a.id, "SO-404")
            .await
            .unwrap(),
        None
    );
}

async fn concurrent_creates_make_one_order(store: Arc<dyn Store>) {
    let a = line("a");
    store.insert_business_line(&a).await.unwrap();
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let store = store.clone();
            let o = order(&a.id, "RACE-1", 100);
            tokio::spawn(async move { store.create_pay_order(&o).await.unwrap() })
        })
        .collect();
    let mut created_n = 0;
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        match t.await.unwrap() {
            CreateOutcome::Created(p) => {
                created_n += 1;
                ids.insert(p.id);
            }
            CreateOutcome::Existing(p) => {
                ids.insert(p.id);
            }
        }
    }
    assert_eq!(created_n, 1);
    assert_eq!(ids.len(), 1, "every caller got the same order");
}

async fn close_is_conditional_and_writes_its_event(store: Arc<dyn Store>) {
    let a = line("a");
    store.insert_business_line(&a).await.unwrap();
    let p = created(&*store, &order(&a.id, "C-1", 100)).await;
    let ev = close_event(&p);
    let closed = match store.close_pay_order(&p.id, 15_000, &ev).await.unwrap() {
        Transition::Applied(o) => o,
        other => panic!("{other:?}"),
    };
    assert_eq!(closed.status, PayOrderStatus::Closed);
    assert_eq!(closed.closed_at_ms, Some(15_000));
    assert_eq!(closed.version, p.version + 1);
    let events = store.events_for_pay_order(&p.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, ev.id);
    assert_eq!(events[0].status, EventStatus::Pending);
    assert_eq!(events[0].payload_json, ev.payload_json);

    // Closing again is refused and writes no second event.
    let again = store
        .close_pay_order(&p.id, 16_000, &close_event(&p))
        .await
        .unwrap();
    assert_eq!(again, Transition::Refused(Some(closed)));
    assert_eq!(store.events_for_pay_order(&p.id).await.unwrap().len(), 1);
    assert_eq!(
        store
            .close_pay_order("po_missing", 1, &close_event(&p))
            .await
            .unwrap(),
        Transition::Refused(None)
    );
}

async fn concurrent_closes_apply_once(store: Arc<dyn Store>) {
    let a = line("a");
    store.insert_business_line(&a).await.unwrap();
    let p = created(&*store, &order(&a.id, "C-2", 100)).await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = store.clone();
            let p = p.clone();
            tokio::spawn(async move {
                matches!(
                    store
                        .close_pay_order(&p.id, 15_000, &close_event(&p))
                        .await
                        .unwrap(),
                    Transition::Applied(_)
                )
            })
        })
        .collect();
    let mut applied = 0;
    for t in tasks {
        applied += usize::from(t.await.unwrap());
    }
    assert_eq!(applied, 1);
    assert_eq!(store.events_for_pay_order(&p.id).await.unwrap().len(), 1);
}

async fn expired_waiting_orders_are_found(store: Arc<dyn Store>) {
    let a = line("a");
    store.insert_business_line(&a).await.unwrap();
    let mut early = order(&a.id, "E-1", 100);
    early.expire_at_ms = 1_000;
    let early = created(&*store, &early).await;
    let mut closed = order(&a.id, "E-2", 100);
    closed.expire_at_ms = 1_000;
    let closed = created(&*store, &closed).await;
    store
        .close_pay_order(&closed.id, 500, &close_event(&closed))
        .await
        .unwrap();
    let late = created(&*store, &order(&a.id, "E-3", 100)).await; // expires at 20_000
    let found: Vec<_> = store
        .expired_waiting_orders(5_000, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(found, [early.id]);
    assert!(store
        .expired_waiting_orders(30_000, 10)
        .await
        .unwrap()
        .iter()
        .any(|o| o.id == late.id));
    assert_eq!(
        store.expired_waiting_orders(30_000, 1).await.unwrap().len(),
        1,
        "limit holds"
    );
}

async fn outbox_lease_and_retry_cycle(store: Arc<dyn Store>) {
    let a = line("a");
    store.insert_business_line(&a).await.unwrap();
    let p = created(&*store, &order(&a.id, "O-1", 100)).await;
    let ev = close_event(&p);
    store.close_pay_order(&p.id, 15_000, &ev).await.unwrap();

    let due = store.due_events(15_000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    let e = &due[0];
    assert!(store.claim_event(e, "w1", 15_000, 75_000).await.unwrap());
    assert!(
        !store.claim_event(e, "w2", 15_000, 75_000).await.unwrap(),
        "a stale version loses"
    );
    assert!(
        store.due_events(16_000, 10).await.unwrap().is_empty(),
        "leased events are not due"
    );

    let fail = NotificationAttempt {
        event_id: e.id.clone(),
        attempt_no: 1,
        started_at_ms: 15_000,
        duration_ms: 12,
        http_status: Some(500),
        succeeded: false,
        error: Some("HTTP 500".into()),
    };
    assert!(
        !store
            .record_attempt(&fail, "w2", AfterAttempt::RetryAt(30_000), 15_100)
            .await
            .unwrap(),
        "only the lease owner records"
    );
    assert!(store
        .record_attempt(&fail, "w1", AfterAttempt::RetryAt(30_000), 15_100)
        .await
        .unwrap());
    assert!(
        !store
            .record_attempt(&fail, "w1", AfterAttempt::RetryAt(30_000), 15_100)
            .await
            .unwrap(),
        "the same try is not recorded twice"
    );
    let after = store.event(&e.id).await.unwrap().unwrap();
    assert_eq!(
        (after.status, after.attempts_total, after.failures_in_round),
        (EventStatus::Pending, 1, 1)
    );
    assert_eq!(after.lease_owner, None);
    assert!(store.due_events(29_999, 10).await.unwrap().is_empty());
    let due = store.due_events(30_000, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert!(store
        .claim_event(&due[0], "w2", 30_000, 90_000)
        .await
        .unwrap());
    let last = NotificationAttempt {
        attempt_no: 2,
        started_at_ms: 30_000,
        ..fail.clone()
    };
    assert!(store
        .record_attempt(&last, "w2", AfterAttempt::Failed, 30_100)
        .await
        .unwrap());
    let failed = store.event(&e.id).await.unwrap().unwrap();
    assert_eq!(failed.status, EventStatus::Failed);
    assert_eq!(
        store.outbox_stats().await.unwrap(),
        OutboxStats {
            pending: 0,
            failed: 1
        }
    );

    // Re-send: back to pending at once, schedule restarts, history kept.
    let requeued = match store.requeue_event(&e.id, 40_000).await.unwrap() {
        Transition::Applied(ev) => ev,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        (
            requeued.status,
            requeued.failures_in_round,
            requeued.attempts_total
        ),
        (EventStatus::Pending, 0, 2)
    );
    assert!(matches!(
        store.requeue_event(&e.id, 40_000).await.unwrap(),
        Transition::Refused(Some(_))
    ));
    let due = store.due_events(40_000, 10).await.unwrap();
    assert!(store
        .claim_event(&due[0], "w1", 40_000, 100_000)
        .await
        .unwrap());
    let ok = NotificationAttempt {
        attempt_no: 3,
        started_at_ms: 40_000,
        http_status: Some(200),
        succeeded: true,
        error: None,
        ..fail
    };
    assert!(store
        .record_attempt(&ok, "w1", AfterAttempt::Delivered, 40_050)
        .await
        .unwrap());
    let done = store.event(&e.id).await.unwrap().unwrap();
    assert_eq!(
        (done.status, done.delivered_at_ms),
        (EventStatus::Delivered, Some(40_050))
    );
    let tries = store.attempts_for_event(&e.id).await.unwrap();
    assert_eq!(
        tries
            .iter()
            .map(|t| (t.attempt_no, t.succeeded))
            .collect::<Vec<_>>(),
        [(1, false), (2, false), (3, true)]
    );
    assert_eq!(tries[0].http_status, Some(500));
    assert_eq!(store.outbox_stats().await.unwrap(), OutboxStats::default());
}

async fn expired_lease_can_be_taken_over(store: Arc<dyn Store>) {
    let a = line("a");
    store.insert_business_line(&a).await.unwrap();
    let p = created(&*store, &order(&a.id, "L-1", 100)).await;
    store
        .close_pay_order(&p.id, 15_000, &close_event(&p))
        .await
        .unwrap();
    let due = store.due_events(15_000, 10).await.unwrap();
    assert!(store
        .claim_event(&due[0], "crashed", 15_000, 20_000)
        .await
        .unwrap());
    assert!(store.due_events(19_000, 10).await.unwrap().is_empty());
    let due = store.due_events(20_001, 10).await.unwrap();
    assert_eq!(due.len(), 1, "an expired lease makes the event due again");
    assert!(store
        .claim_event(&due[0], "w2", 20_001, 80_000)
        .await
        .unwrap());
}

paydesk_store::backend_tests!(
    migrate_is_idempotent,
    business_lines_round_trip,
    nonces_are_single_use,
    create_is_idempotent_per_business_line,
    concurrent_creates_make_one_order,
    close_is_conditional_and_writes_its_event,
    concurrent_closes_apply_once,
    expired_waiting_orders_are_found,
    outbox_lease_and_retry_cycle,
    expired_lease_can_be_taken_over,
);
