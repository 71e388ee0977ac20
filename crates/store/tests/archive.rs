//! Hot/cold archiving on backend pairs: SQLite->SQLite, PostgreSQL->PostgreSQL,
//! MariaDB->MariaDB and PostgreSQL->MariaDB. Server backends run when
//! `PAYDESK_TEST_POSTGRES_URL` / `PAYDESK_TEST_MYSQL_URL` are set (skipped loudly
//! otherwise, like the contract suite).

use paydesk_core::{ids, Amount, Currency, PayOrderStatus};
use paydesk_store::archive::{
    archive, copy_batch, delete_batch, tier_of, ArchiveOptions, ArchiveStats, OrderBundle,
};
use paydesk_store::generate::{historical_order, Rng};
use paydesk_store::testing::{fresh, TestDb};
use paydesk_store::*;
use std::sync::Arc;

const DAY: i64 = 86_400_000;
const NOW: i64 = 1_790_000_000_000;
const CUTOFF: i64 = NOW - 90 * DAY;

fn line() -> BusinessLine {
    BusinessLine {
        id: ids::new_id(ids::BUSINESS_LINE),
        app_id: ids::new_id(ids::APP),
        name: format!("line-{}", ids::random_hex::<4>()),
        secret_ciphertext: "ciphertext".into(),
        notify_url: "http://127.0.0.1:9/notify".into(),
        allowed_url_prefixes: vec!["http://127.0.0.1:9/".into()],
        status: BusinessLineStatus::Active,
        created_at_ms: 1_000,
    }
}

async fn pair(hot: Backend, cold: Backend) -> Option<(TestDb, TestDb)> {
    let h = fresh(hot).await.unwrap()?;
    let c = fresh(cold).await.unwrap()?;
    Some((h, c))
}

/// A bundle forced into a shape: `status`, last change `age_days` before NOW, its
/// event in `event_status` (finished orders only).
fn shaped(
    rng: &mut Rng,
    l: &BusinessLine,
    no: &str,
    status: PayOrderStatus,
    age_days: i64,
    event_status: EventStatus,
) -> OrderBundle {
    loop {
        let b = historical_order(rng, l, no.to_owned(), NOW - age_days * DAY, 1);
        let ok = b.order.status == status
            && (status == PayOrderStatus::Waiting
                || b.events.first().map(|e| e.event.status) == Some(event_status));
        if ok {
            return b;
        }
    }
}

struct Seeded {
    line: BusinessLine,
    eligible: Vec<OrderBundle>,
    staying: Vec<OrderBundle>,
}

async fn seed(hot: &dyn Store, n_eligible: usize) -> Seeded {
    let l = line();
    hot.insert_business_line(&l).await.unwrap();
    let mut rng = Rng::new(7);
    let mut eligible = Vec::new();
    for i in 0..n_eligible {
        let (st, ev) = match i % 3 {
            0 => (PayOrderStatus::Paid, EventStatus::Delivered),
            1 => (PayOrderStatus::Closed, EventStatus::Delivered),
            _ => (PayOrderStatus::Paid, EventStatus::Failed),
        };
        eligible.push(shaped(&mut rng, &l, &format!("old-{i}"), st, 200, ev));
    }
    let staying = vec![
        // too recent
        shaped(
            &mut rng,
            &l,
            "recent-paid",
            PayOrderStatus::Paid,
            10,
            EventStatus::Delivered,
        ),
        // old but its notification is still pending
        shaped(
            &mut rng,
            &l,
            "old-pending",
            PayOrderStatus::Paid,
            200,
            EventStatus::Pending,
        ),
    ];
    // Old and finished, but a child is unsettled: an attempt still due for a query,
    // a refund still in flight.
    let mut open_attempt = shaped(
        &mut rng,
        &l,
        "old-open-attempt",
        PayOrderStatus::Paid,
        200,
        EventStatus::Delivered,
    );
    if let Some(a) = open_attempt.payment_attempts.first_mut() {
        a.next_query_at_ms = Some(NOW);
    }
    let mut refund_in_flight = shaped(
        &mut rng,
        &l,
        "old-refund-in-flight",
        PayOrderStatus::Paid,
        200,
        EventStatus::Delivered,
    );
    let paid = refund_in_flight.payment_attempts.last().unwrap().clone();
    refund_in_flight.refunds = vec![Refund {
        id: ids::new_id(ids::REFUND),
        business_line_id: l.id.clone(),
        pay_order_id: paid.pay_order_id.clone(),
        attempt_id: paid.id.clone(),
        refund_no: ids::provider_no(),
        business_refund_no: None,
        kind: paydesk_core::RefundKind::Business,
        amount: Amount::new(1, paid.amount.currency()).unwrap(),
        reason: None,
        status: paydesk_core::RefundStatus::Processing,
        provider_refund_id: None,
        tries: 1,
        next_action_at_ms: Some(NOW),
        last_error: None,
        created_at_ms: NOW - 200 * DAY,
        updated_at_ms: NOW - 200 * DAY,
        succeeded_at_ms: None,
        version: 1,
        balance_amount_minor: 0,
    }];
    let mut staying = staying;
    staying.extend([open_attempt, refund_in_flight]);
    let tier = tier_of(hot).unwrap();
    let mut all: Vec<OrderBundle> = eligible.clone();
    all.extend(staying.iter().cloned());
    tier.insert_bundles_fresh(&all).await.unwrap();
    // And a live WAITING order created through the API, long ago.
    let w = NewPayOrder {
        id: ids::new_id(ids::PAY_ORDER),
        business_line_id: l.id.clone(),
        business_order_no: "old-waiting".into(),
        amount: Amount::new(500, Currency::CNY).unwrap(),
        subject: "still waiting".into(),
        buyer_id: None,
        seller_id: None,
        facts_json: "{}".into(),
        metadata_json: "{}".into(),
        notify_url: l.notify_url.clone(),
        return_url: None,
        checkout_token: ids::random_token::<32>(),
        created_at_ms: NOW - 300 * DAY,
        expire_at_ms: NOW - 299 * DAY,
    };
    hot.create_pay_order(&w).await.unwrap();
    staying.extend(
        tier.load_bundles(std::slice::from_ref(&w.id))
            .await
            .unwrap(),
    );
    Seeded {
        line: l,
        eligible,
        staying,
    }
}

fn ids_of(b: &[OrderBundle]) -> Vec<String> {
    b.iter().map(|b| b.order.id.clone()).collect()
}

fn opts(batch: usize) -> ArchiveOptions {
    ArchiveOptions {
        cutoff_ms: CUTOFF,
        batch,
        ..ArchiveOptions::default()
    }
}

async fn run(hot: &dyn Store, cold: &dyn Store, o: &ArchiveOptions) -> ArchiveStats {
    archive(hot, cold, o, &mut |_| {}).await.unwrap()
}

fn sorted(mut v: Vec<OrderBundle>) -> Vec<OrderBundle> {
    v.sort_by(|a, b| a.order.id.cmp(&b.order.id));
    v
}

async fn moves_exactly_the_eligible_rows(h: TestDb, c: TestDb) {
    let s = seed(&*h.store, 25).await;
    let (ht, ct) = (tier_of(&*h.store).unwrap(), tier_of(&*c.store).unwrap());
    let all_ids: Vec<String> = ids_of(&s.eligible)
        .into_iter()
        .chain(ids_of(&s.staying))
        .collect();

    let dry = run(
        &*h.store,
        &*c.store,
        &ArchiveOptions {
            dry_run: true,
            ..opts(7)
        },
    )
    .await;
    assert_eq!(dry.orders, 25);
    assert_eq!(dry.rows, s.eligible.iter().map(|b| b.rows()).sum::<u64>());
    assert!(
        ct.load_bundles(&all_ids).await.unwrap().is_empty(),
        "dry run moved rows"
    );
    assert_eq!(ht.count_archive_candidates(CUTOFF).await.unwrap(), 25);

    let stats = run(&*h.store, &*c.store, &opts(7)).await;
    assert_eq!(stats.orders, 25);
    assert_eq!(stats.rows, dry.rows);
    assert_eq!(stats.batches, 4);
    assert_eq!(stats.changed, 0);
    assert_eq!(
        sorted(ct.load_bundles(&all_ids).await.unwrap()),
        sorted(s.eligible.clone()),
        "cold holds exactly the eligible bundles, unchanged"
    );
    assert_eq!(
        sorted(ht.load_bundles(&all_ids).await.unwrap()),
        sorted(s.staying.clone()),
        "hot holds exactly the others"
    );
    // Keys are never archived.
    for b in &s.eligible {
        assert_eq!(
            ht.business_order_key(&s.line.id, &b.order.business_order_no)
                .await
                .unwrap(),
            Some(b.order.id.clone())
        );
    }
    // A re-run is a no-op.
    let again = run(&*h.store, &*c.store, &opts(7)).await;
    assert_eq!((again.orders, again.rows), (0, 0));
    assert_eq!(
        sorted(ct.load_bundles(&all_ids).await.unwrap()),
        sorted(s.eligible.clone())
    );
}

async fn crash_after_copy_and_changed_after_copy(h: TestDb, c: TestDb) {
    let s = seed(&*h.store, 6).await;
    let (ht, ct) = (tier_of(&*h.store).unwrap(), tier_of(&*c.store).unwrap());
    let ids = ids_of(&s.eligible);
    // Copy, then "crash" before the delete: every row in both tiers, identical.
    copy_batch(ct, &s.eligible).await.unwrap();
    assert_eq!(
        sorted(ct.load_bundles(&ids).await.unwrap()),
        sorted(s.eligible.clone())
    );
    assert_eq!(
        sorted(ht.load_bundles(&ids).await.unwrap()),
        sorted(s.eligible.clone())
    );
    // Copying again is idempotent.
    copy_batch(ct, &s.eligible).await.unwrap();

    // One order's event is re-queued after the copy (its version moves on).
    let changed = &s.eligible[0];
    let ev = &changed.events[0].event;
    assert!(matches!(
        h.store.requeue_event(&ev.id, NOW).await.unwrap(),
        Transition::Applied(_)
    ));
    let (moved, _rows, left) = delete_batch(ht, ct, &s.eligible).await.unwrap();
    assert_eq!((moved, left), (5, 1));
    let now_hot = ht.load_bundles(&ids).await.unwrap();
    assert_eq!(ids_of(&now_hot), vec![changed.order.id.clone()]);
    assert_eq!(now_hot[0].events[0].event.status, EventStatus::Pending);
    // Its stale copy left cold: the order is in exactly one tier.
    let now_cold = ct.load_bundles(&ids).await.unwrap();
    assert_eq!(now_cold.len(), 5);
    assert!(!ids_of(&now_cold).contains(&changed.order.id));

    // The resumed run does not touch it while its event is pending; the rest are done.
    let stats = run(&*h.store, &*c.store, &opts(100)).await;
    assert_eq!(stats.orders, 0);
    assert_eq!(ht.load_bundles(&ids).await.unwrap().len(), 1);

    // A stale older copy in cold (crash between copy and a later change) is replaced
    // by the newer state on the next copy, never reported as a conflict.
    let mut older = now_hot[0].clone();
    older.events[0] = changed.events[0].clone();
    copy_batch(ct, std::slice::from_ref(&older)).await.unwrap();
    copy_batch(ct, &now_hot).await.unwrap();
    assert_eq!(
        ct.load_bundles(std::slice::from_ref(&changed.order.id))
            .await
            .unwrap(),
        now_hot
    );
    // A copy that is neither identical nor older is a conflict.
    let mut forged = now_hot[0].clone();
    forged.order.subject = "forged".into();
    assert!(matches!(
        copy_batch(ct, &[forged]).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn reads_backfill_and_uniqueness(h: TestDb, c: TestDb) {
    let s = seed(&*h.store, 4).await;
    let originals: Vec<PayOrder> = s.eligible.iter().map(|b| b.order.clone()).collect();
    let tiered = Arc::new(TieredStore::new(h.store.clone(), c.store.clone()));
    run(&*h.store, &*c.store, &opts(10)).await;
    let (ht, ct) = (tier_of(&*h.store).unwrap(), tier_of(&*c.store).unwrap());
    for (b, o) in s.eligible.iter().zip(&originals) {
        assert_eq!(h.store.pay_order(&o.id).await.unwrap(), None);
        assert_eq!(tiered.pay_order(&o.id).await.unwrap().as_ref(), Some(o));
        assert_eq!(
            tiered
                .pay_order_by_business_no(&s.line.id, &o.business_order_no)
                .await
                .unwrap()
                .as_ref(),
            Some(o)
        );
        let evs = tiered.events_for_pay_order(&o.id).await.unwrap();
        assert_eq!(evs.len(), b.events.len());
        let atts = tiered.attempts_for_event(&evs[0].id).await.unwrap();
        assert_eq!(atts, b.deliveries);
        // Payment attempts, refunds and raw callbacks moved with it and read back.
        let mut pas = tiered.attempts_for_pay_order(&o.id).await.unwrap();
        pas.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(pas, b.payment_attempts);
        for pa in &b.payment_attempts {
            assert_eq!(h.store.attempt(&pa.id).await.unwrap(), None, "left hot");
            assert_eq!(
                tiered.attempt_by_no(&pa.attempt_no).await.unwrap().as_ref(),
                Some(pa)
            );
        }
        let mut rfs = tiered.refunds_for_pay_order(&o.id).await.unwrap();
        rfs.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(rfs, b.refunds);
        let mut cbs = tiered.raw_callbacks_for_pay_order(&o.id).await.unwrap();
        cbs.sort_by(|x, y| x.id.cmp(&y.id));
        assert_eq!(cbs, b.callbacks);
        assert_eq!(
            tiered.event(&evs[0].id).await.unwrap().as_ref(),
            Some(&evs[0])
        );
    }

    // An archived business order number still blocks a duplicate: Existing.
    let o = &originals[0];
    let dup = NewPayOrder {
        id: ids::new_id(ids::PAY_ORDER),
        business_line_id: s.line.id.clone(),
        business_order_no: o.business_order_no.clone(),
        amount: Amount::new(1, Currency::CNY).unwrap(),
        subject: "dup".into(),
        buyer_id: None,
        seller_id: None,
        facts_json: "{}".into(),
        metadata_json: "{}".into(),
        notify_url: s.line.notify_url.clone(),
        return_url: None,
        checkout_token: ids::random_token::<32>(),
        created_at_ms: NOW,
        expire_at_ms: NOW + DAY,
    };
    assert_eq!(
        tiered.create_pay_order(&dup).await.unwrap(),
        CreateOutcome::Existing(o.clone())
    );
    // Even the plain hot store refuses to create it (never a second order).
    assert!(!matches!(
        h.store.create_pay_order(&dup).await,
        Ok(CreateOutcome::Created(_))
    ));
    assert_eq!(tiered.pay_order(&dup.id).await.unwrap(), None);

    // Back-fill then close: the order comes back to hot, the close runs there with the
    // usual conditional update (refused: the order is finished), cold no longer has it.
    let ev = NewEvent {
        id: ids::new_id(ids::EVENT),
        business_line_id: s.line.id.clone(),
        pay_order_id: Some(o.id.clone()),
        event_type: paydesk_core::EventType::PayOrderClosed,
        payload_json: "{}".into(),
        notify_url: s.line.notify_url.clone(),
        created_at_ms: NOW,
    };
    assert_eq!(
        tiered.close_pay_order(&o.id, NOW, &ev).await.unwrap(),
        Transition::Refused(Some(o.clone()))
    );
    assert_eq!(h.store.pay_order(&o.id).await.unwrap().as_ref(), Some(o));
    assert!(ct
        .load_bundles(std::slice::from_ref(&o.id))
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ht.load_bundles(std::slice::from_ref(&o.id)).await.unwrap(),
        vec![s.eligible[0].clone()],
        "back-filled with its children, unchanged"
    );
    assert!(
        !tiered.backfill_pay_order(&o.id).await.unwrap(),
        "idempotent"
    );
    // A requeue of an archived event back-fills its order first.
    let o1 = &originals[1];
    let ev1 = &s.eligible[1].events[0].event;
    assert!(matches!(
        tiered.requeue_event(&ev1.id, NOW).await.unwrap(),
        Transition::Applied(_)
    ));
    assert!(h.store.pay_order(&o1.id).await.unwrap().is_some());
    assert!(ct
        .load_bundles(std::slice::from_ref(&o1.id))
        .await
        .unwrap()
        .is_empty());
    // A refund of an archived paid order back-fills it (with its attempts), then runs
    // the usual guarded path in hot; the refund keeps the order there until it settles.
    let p = s
        .eligible
        .iter()
        .find(|b| {
            b.order.status == PayOrderStatus::Paid && b.order.id != o1.id && b.order.id != o.id
        })
        .unwrap();
    let paid = p
        .payment_attempts
        .iter()
        .find(|a| a.status == paydesk_core::AttemptStatus::Succeeded)
        .unwrap();
    let refundable = p.order.amount.minor() - p.order.refunded_amount_minor;
    let late = NewRefund {
        id: ids::new_id(ids::REFUND),
        pay_order_id: p.order.id.clone(),
        attempt_id: paid.id.clone(),
        refund_no: ids::provider_no(),
        business_refund_no: Some("late-refund".into()),
        kind: paydesk_core::RefundKind::Business,
        amount: Amount::new(refundable, p.order.amount.currency()).unwrap(),
        reason: None,
        created_at_ms: NOW,
        funds: paydesk_core::RefundFunds::default(),
    };
    assert!(matches!(
        tiered.create_refund(&late, 50).await.unwrap(),
        CreateRefundOutcome::Created(_)
    ));
    assert_eq!(
        h.store.attempt(&paid.id).await.unwrap().as_ref(),
        Some(paid),
        "its attempt came back to hot with it"
    );
    assert!(ct
        .load_bundles(std::slice::from_ref(&p.order.id))
        .await
        .unwrap()
        .is_empty());
    let over = NewRefund {
        id: ids::new_id(ids::REFUND),
        business_refund_no: Some("late-refund-2".into()),
        refund_no: ids::provider_no(),
        amount: Amount::new(1, p.order.amount.currency()).unwrap(),
        ..late.clone()
    };
    assert!(
        matches!(
            tiered.create_refund(&over, 50).await.unwrap(),
            CreateRefundOutcome::ExceedsRefundable {
                refundable_minor: 0
            }
        ),
        "never more than was paid, across tiers"
    );
    // It ages out again once finished and old: here its event is pending, so it stays
    // (and the refunded order stays while its refund is in flight).
    let stats = run(&*h.store, &*c.store, &opts(10)).await;
    assert_eq!(
        stats.orders, 1,
        "only the back-filled, unchanged order moves again"
    );
    assert!(h.store.pay_order(&p.order.id).await.unwrap().is_some());
}

macro_rules! pair_tests {
    ($name:ident, $hot:expr, $cold:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn moves_exactly_the_eligible_rows() {
                let Some((h, c)) = pair($hot, $cold).await else {
                    return;
                };
                super::moves_exactly_the_eligible_rows(h, c).await;
            }
            #[tokio::test]
            async fn crash_after_copy_and_changed_after_copy() {
                let Some((h, c)) = pair($hot, $cold).await else {
                    return;
                };
                super::crash_after_copy_and_changed_after_copy(h, c).await;
            }
            #[tokio::test]
            async fn reads_backfill_and_uniqueness() {
                let Some((h, c)) = pair($hot, $cold).await else {
                    return;
                };
                super::reads_backfill_and_uniqueness(h, c).await;
            }
        }
    };
}

pair_tests!(sqlite_to_sqlite, Backend::Sqlite, Backend::Sqlite);
pair_tests!(pg_to_pg, Backend::Postgres, Backend::Postgres);
pair_tests!(mariadb_to_mariadb, Backend::MySql, Backend::MySql);
pair_tests!(pg_to_mariadb, Backend::Postgres, Backend::MySql);
