//! The store contract for the acquiring flow (attempts, payments, refunds, raw callbacks),
//! the same tests against every backend. SQLite always runs; PostgreSQL and MySQL/MariaDB
//! run when `PAYDESK_TEST_POSTGRES_URL` / `PAYDESK_TEST_MYSQL_URL` are set (`.ci/run` sets
//! both and requires them).

use paydesk_core::{
    ids, AttemptFlag, AttemptStatus, EventType, PayOrderStatus, Provider, RefundKind, RefundStatus,
};
use paydesk_store::testing::fixtures::*;
use paydesk_store::testing::{fresh_tiered, TieredDb};
use paydesk_store::*;
use std::sync::Arc;

fn to(from: AttemptStatus, to: AttemptStatus, now_ms: i64) -> AttemptUpdate {
    AttemptUpdate {
        from,
        to,
        provider_txn_id: None,
        next_query_at_ms: None,
        now_ms,
    }
}

async fn close_attempt(store: &dyn Store, a: &Attempt) -> Attempt {
    match store
        .update_attempt(&a.id, &to(a.status, AttemptStatus::Closed, 12_000))
        .await
        .unwrap()
    {
        Transition::Applied(x) => x,
        other => panic!("{other:?}"),
    }
}

async fn order_now(store: &dyn Store, id: &str) -> PayOrder {
    store.pay_order(id).await.unwrap().unwrap()
}

// ---- attempts ----

async fn create_attempt_outcomes(store: Arc<dyn Store>) {
    let l = new_line(&*store).await;
    let o = waiting_order(&*store, &l, 500).await;

    let mut missing = new_attempt(&o, 11_000);
    missing.pay_order_id = "po_missing".into();
    assert_eq!(
        store.create_attempt(&missing, 10).await.unwrap(),
        CreateAttemptOutcome::OrderNotPayable(None)
    );
    let expired = new_attempt(&o, EXPIRE_AT);
    assert_eq!(
        store.create_attempt(&expired, 10).await.unwrap(),
        CreateAttemptOutcome::OrderNotPayable(Some(o.clone())),
        "an order past its expiry is not payable (and not changed)"
    );

    let na = new_attempt(&o, 11_000);
    let a = attempt_created(&*store, &na).await;
    assert_eq!(a.status, AttemptStatus::Creating);
    assert_eq!(a.amount, o.amount);
    assert_eq!(a.next_query_at_ms, Some(16_000));
    assert_eq!(a.flag, None);
    assert_eq!(store.attempt(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        store.attempt_by_no(&na.attempt_no).await.unwrap(),
        Some(a.clone())
    );

    // A second attempt while the first is open.
    assert_eq!(
        store
            .create_attempt(&new_attempt(&o, 11_500), 10)
            .await
            .unwrap(),
        CreateAttemptOutcome::OpenAttemptExists(a.clone())
    );
    let pending = match store
        .update_attempt(
            &a.id,
            &to(AttemptStatus::Creating, AttemptStatus::Pending, 11_600),
        )
        .await
        .unwrap()
    {
        Transition::Applied(x) => x,
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        store
            .create_attempt(&new_attempt(&o, 11_700), 10)
            .await
            .unwrap(),
        CreateAttemptOutcome::OpenAttemptExists(x) if x == pending
    ));
    close_attempt(&*store, &pending).await;

    // The out_trade_no is unique forever, across orders.
    let other = waiting_order(&*store, &l, 500).await;
    let mut reused = new_attempt(&other, 11_800);
    reused.attempt_no = na.attempt_no.clone();
    let err = store.create_attempt(&reused, 10).await;
    assert!(matches!(err, Err(StoreError::Conflict(_))), "{err:?}");
    assert!(store
        .attempts_for_pay_order(&other.id)
        .await
        .unwrap()
        .is_empty());

    // The limit counts every attempt of the order.
    let b = attempt_created(&*store, &new_attempt(&o, 12_000)).await;
    close_attempt(&*store, &b).await;
    assert_eq!(
        store
            .create_attempt(&new_attempt(&o, 12_500), 2)
            .await
            .unwrap(),
        CreateAttemptOutcome::TooManyAttempts
    );
    let all = store.attempts_for_pay_order(&o.id).await.unwrap();
    assert_eq!(
        all.iter().map(|x| &x.id).collect::<Vec<_>>(),
        [&a.id, &b.id]
    );

    // A wrong amount is refused before anything is written.
    let mut wrong = new_attempt(&o, 12_600);
    wrong.amount = cny(499);
    let err = store.create_attempt(&wrong, 10).await;
    assert!(matches!(err, Err(StoreError::Invalid(_))), "{err:?}");

    // A closed order is not payable.
    let closed = match store
        .close_pay_order(&o.id, 13_000, &event(&o, EventType::PayOrderClosed, 13_000))
        .await
        .unwrap()
    {
        Transition::Applied(x) => x,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        store
            .create_attempt(&new_attempt(&o, 13_100), 10)
            .await
            .unwrap(),
        CreateAttemptOutcome::OrderNotPayable(Some(closed))
    );
}

async fn concurrent_attempts_make_one_open(store: Arc<dyn Store>) {
    let l = new_line(&*store).await;
    let o = waiting_order(&*store, &l, 500).await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let store = store.clone();
            let na = new_attempt(&o, 11_000 + i);
            tokio::spawn(async move { store.create_attempt(&na, 10).await.unwrap() })
        })
        .collect();
    let mut created = 0;
    for t in tasks {
        match t.await.unwrap() {
            CreateAttemptOutcome::Created(_) => created += 1,
            CreateAttemptOutcome::OpenAttemptExists(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(store.attempts_for_pay_order(&o.id).await.unwrap().len(), 1);
}

async fn update_attempt_is_conditional(store: Arc<dyn Store>) {
    let l = new_line(&*store).await;
    let o = waiting_order(&*store, &l, 500).await;
    let a = attempt_created(&*store, &new_attempt(&o, 11_000)).await;

    // Wrong expected state, success through the back door, an illegal move: refused.
    for u in [
        to(AttemptStatus::Pending, AttemptStatus::Closed, 11_100),
        to(AttemptStatus::Creating, AttemptStatus::Succeeded, 11_100),
        to(AttemptStatus::Closed, AttemptStatus::Pending, 11_100),
    ] {
        assert_eq!(
            store.update_attempt(&a.id, &u).await.unwrap(),
            Transition::Refused(Some(a.clone())),
            "{u:?}"
        );
    }
    assert_eq!(
        store
            .update_attempt(
                "pa_missing",
                &to(AttemptStatus::Creating, AttemptStatus::Pending, 1)
            )
            .await
            .unwrap(),
        Transition::Refused(None)
    );

    let mut u = to(AttemptStatus::Creating, AttemptStatus::Pending, 11_200);
    u.provider_txn_id = Some("wx-txn-1".into());
    u.next_query_at_ms = Some(20_000);
    let p = match store.update_attempt(&a.id, &u).await.unwrap() {
        Transition::Applied(x) => x,
        other => panic!("{other:?}"),
    };
    assert_eq!(p.status, AttemptStatus::Pending);
    assert_eq!(p.provider_txn_id.as_deref(), Some("wx-txn-1"));
    assert_eq!(p.next_query_at_ms, Some(20_000));
    assert_eq!(p.updated_at_ms, 11_200);
    assert_eq!(p.version, a.version + 1);
    assert_eq!(
        store.attempt_by_provider_txn_id("wx-txn-1").await.unwrap(),
        Some(p.clone())
    );
    // Racing the same move: only one applies.
    assert!(matches!(
        store.update_attempt(&a.id, &u).await.unwrap(),
        Transition::Refused(Some(_))
    ));

    // Query scheduling is guarded by the version.
    assert!(!store
        .schedule_attempt_query(&a.id, a.version, Some(30_000), 20_000)
        .await
        .unwrap());
    assert!(store
        .schedule_attempt_query(&a.id, p.version, Some(30_000), 20_000)
        .await
        .unwrap());
    let s = store.attempt(&a.id).await.unwrap().unwrap();
    assert_eq!((s.queries_made, s.next_query_at_ms), (1, Some(30_000)));

    // Due queries: scheduled and due, oldest due first; `None` stops them.
    let o2 = waiting_order(&*store, &l, 700).await;
    let b = attempt_created(&*store, &new_attempt(&o2, 11_000)).await; // due at 16_000
    assert!(store
        .due_attempt_queries(15_999, 10)
        .await
        .unwrap()
        .is_empty());
    let due: Vec<_> = store
        .due_attempt_queries(30_000, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(due, [b.id.clone(), a.id.clone()]);
    assert_eq!(store.due_attempt_queries(30_000, 1).await.unwrap().len(), 1);
    assert!(store
        .schedule_attempt_query(&a.id, s.version, None, 21_000)
        .await
        .unwrap());
    let due: Vec<_> = store
        .due_attempt_queries(i64::MAX, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|x| x.id)
        .collect();
    assert_eq!(due, [b.id]);
}

async fn close_is_refused_while_an_attempt_is_open(store: Arc<dyn Store>) {
    let l = new_line(&*store).await;
    let o = waiting_order(&*store, &l, 500).await;
    let a = attempt_created(&*store, &new_attempt(&o, 11_000)).await;
    let o = order_now(&*store, &o.id).await;
    assert_eq!(
        store
            .close_pay_order(&o.id, 12_000, &event(&o, EventType::PayOrderClosed, 12_000))
            .await
            .unwrap(),
        Transition::Refused(Some(o.clone())),
        "refused, nothing written"
    );
    assert!(store.events_for_pay_order(&o.id).await.unwrap().is_empty());
    close_attempt(&*store, &a).await;
    let closed = store
        .close_pay_order(&o.id, 12_500, &event(&o, EventType::PayOrderClosed, 12_500))
        .await
        .unwrap();
    assert!(matches!(closed, Transition::Applied(ref c) if c.status == PayOrderStatus::Closed));
    assert_eq!(store.events_for_pay_order(&o.id).await.unwrap().len(), 1);
}

// ---- payments ----

async fn payment_success_pays_the_order_once(store: Arc<dyn Store>) {
    let l = new_line(&*store).await;
    let o = waiting_order(&*store, &l, 500).await;
    let a = attempt_created(&*store, &new_attempt(&o, 11_000)).await;
    let s = success(&o, &a, 500, 13_000);
    let (order, attempt) = match store.record_payment_success(&s).await.unwrap() {
        PaymentOutcome::Paid { order, attempt } => (order, attempt),
        other => panic!("{other:?}"),
    };
    assert_eq!(order.status, PayOrderStatus::Paid);
    assert_eq!(order.paid_at_ms, Some(s.paid_at_ms));
    assert_eq!(order.updated_at_ms, 13_000);
    assert_eq!(order.refunded_amount_minor, 0);
    assert_eq!(attempt.status, AttemptStatus::Succeeded);
    assert_eq!(attempt.paid_amount_minor, Some(500));
    assert_eq!(attempt.paid_at_ms, Some(s.paid_at_ms));
    assert_eq!(attempt.provider_txn_id, s.provider_txn_id);
    assert_eq!(attempt.next_query_at_ms, None, "active queries stop");
    assert_eq!(attempt.flag, None);
    assert_eq!(order_now(&*store, &o.id).await, order);
    let events = store.events_for_pay_order(&o.id).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, s.paid_event.id);
    assert_eq!(events[0].event_type, EventType::PayOrderPaid);

    // The same success again, and another report of it: nothing changes.
    for again in [s.clone(), success(&o, &a, 500, 14_000)] {
        assert_eq!(
            store.record_payment_success(&again).await.unwrap(),
            PaymentOutcome::AlreadyRecorded(attempt.clone())
        );
    }
    assert_eq!(store.events_for_pay_order(&o.id).await.unwrap().len(), 1);
    assert_eq!(order_now(&*store, &o.id).await, order);
    assert!(store.refunds_for_pay_order(&o.id).await.unwrap().is_empty());
    assert!(store.flagged_attempts(10).await.unwrap().is_empty());

    let mut unknown = s.clone();
    unknown.attempt_id = "pa_missing".into();
    assert_eq!(
        store.record_payment_success(&unknown).await.unwrap(),
        PaymentOutcome::UnknownAttempt
    );
}

fn not_the_orders(outcome: PaymentOutcome) -> (Attempt, Option<Refund>) {
    match outcome {
        PaymentOutcome::NotTheOrdersPayment { attempt, refund } => (attempt, refund),
        other => panic!("{other:?}"),
    }
}

async fn duplicate_and_late_payments_are_refunded(store: Arc<dyn Store>) {
    let l = new_line(&*store).await;
    // Duplicate: attempt A closed, B paid the order, then A's payment lands.
    let o = waiting_order(&*store, &l, 500).await;
    let a = attempt_created(&*store, &new_attempt(&o, 11_000)).await;
    let a = close_attempt(&*store, &a).await;
    let b = attempt_created(&*store, &new_attempt(&o, 12_100)).await;
    assert!(matches!(
        store
            .record_payment_success(&success(&o, &b, 500, 13_000))
            .await
            .unwrap(),
        PaymentOutcome::Paid { .. }
    ));
    let paid = order_now(&*store, &o.id).await;
    let s = success(&o, &a, 500, 14_000);
    let (att, refund) = not_the_orders(store.record_payment_success(&s).await.unwrap());
    assert_eq!(att.status, AttemptStatus::Succeeded);
    assert_eq!(att.flag, Some(AttemptFlag::Duplicate));
    assert_eq!(att.next_query_at_ms, None);
    let refund = refund.expect("refunded");
    assert_eq!(refund.id, s.auto_refund.id);
    assert_eq!(refund.kind, RefundKind::Duplicate);
    assert_eq!(refund.status, RefundStatus::Pending);
    assert_eq!(refund.amount, cny(500));
    assert_eq!(refund.attempt_id, a.id);
    assert_eq!(refund.business_line_id, l.id);
    assert_eq!(refund.business_refund_no, None);
    assert_eq!(refund.next_action_at_ms, Some(14_000));
    assert_eq!(
        store.refund(&refund.id).await.unwrap(),
        Some(refund.clone())
    );
    assert_eq!(
        store.refund_by_no(&refund.refund_no).await.unwrap(),
        Some(refund.clone())
    );
    assert_eq!(
        order_now(&*store, &o.id).await,
        paid,
        "the order is untouched: that money was never its"
    );
    assert_eq!(store.events_for_pay_order(&o.id).await.unwrap().len(), 1);
    assert_eq!(
        store.record_payment_success(&s).await.unwrap(),
        PaymentOutcome::AlreadyRecorded(att.clone()),
        "idempotent: no second refund"
    );
    assert_eq!(store.refunds_for_pay_order(&o.id).await.unwrap().len(), 1);

    // Late: the order was closed, then the closed attempt's payment lands.
    let o2 = waiting_order(&*store, &l, 800).await;
    let c = attempt_created(&*store, &new_attempt(&o2, 11_000)).await;
    let c = close_attempt(&*store, &c).await;
    assert!(matches!(
        store
            .close_pay_order(
                &o2.id,
                12_500,
                &event(&o2, EventType::PayOrderClosed, 12_500)
            )
            .await
            .unwrap(),
        Transition::Applied(_)
    ));
    let closed = order_now(&*store, &o2.id).await;
    let (late, refund) = not_the_orders(
        store
            .record_payment_success(&success(&o2, &c, 800, 15_000))
            .await
            .unwrap(),
    );
    assert_eq!(late.flag, Some(AttemptFlag::Late));
    assert_eq!(
        refund.map(|r| (r.kind, r.amount)),
        Some((RefundKind::Late, cny(800)))
    );
    assert_eq!(order_now(&*store, &o2.id).await, closed);

    let flagged: Vec<_> = store
        .flagged_attempts(10)
        .await
        .unwrap()
        .into_iter()
        .map(|x| (x.id, x.flag))
        .collect();
    assert_eq!(
        flagged,
        [
            (late.id.clone(), Some(AttemptFlag::Late)),
            (att.id.clone(), Some(AttemptFlag::Duplicate))
        ],
        "newest first"
    );
    assert_eq!(store.flagged_attempts(1).await.unwrap().len(), 1);
}

async fn wrong_amounts_are_never_the_orders_payment(store: Arc<dyn Store>) {
    let l = new_line(&*store).await;
    let o = waiting_order(&*store, &l, 500).await;
    let a = attempt_created(&*store, &new_attempt(&o, 11_000)).await;
    // Nothing (or less) paid is not a payment: refused, nothing written.
    for bad in [0, -1] {
        let r = store
            .record_payment_success(&success(&o, &a, bad, 12_000))
            .await;
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{bad}: {r:?}");
        let now = store.attempt(&a.id).await.unwrap().unwrap();
        assert_eq!((now.status, now.version), (a.status, a.version), "{bad}");
    }
    let (att, refund) = not_the_orders(
        store
            .record_payment_success(&success(&o, &a, 499, 13_000))
            .await
            .unwrap(),
    );
    assert_eq!(att.flag, Some(AttemptFlag::AmountMismatch));
    assert_eq!(att.paid_amount_minor, Some(499));
    let refund = refund.expect("refunded");
    assert_eq!(
        (refund.kind, refund.amount),
        (RefundKind::AmountMismatch, cny(499))
    );
    let after = order_now(&*store, &o.id).await;
    assert_eq!(
        after.status,
        PayOrderStatus::Waiting,
        "a waiting order stays waiting"
    );
    assert_eq!(after.refunded_amount_minor, 0);
    assert!(store.events_for_pay_order(&o.id).await.unwrap().is_empty());

    // Held for an operator: flagged, no refund.
    let b = attempt_created(&*store, &new_attempt(&o, 14_000)).await;
    let mut s = success(&o, &b, 5_000, 15_000);
    s.hold_amount_mismatch = true;
    let (held, refund) = not_the_orders(store.record_payment_success(&s).await.unwrap());
    assert_eq!(held.flag, Some(AttemptFlag::AmountMismatch));
    assert_eq!(refund, None);
    assert_eq!(store.refunds_for_pay_order(&o.id).await.unwrap().len(), 1);
    assert_eq!(store.refund(&s.auto_refund.id).await.unwrap(), None);

    // The right amount still pays it.
    let c = attempt_created(&*store, &new_attempt(&o, 16_000)).await;
    assert!(matches!(
        store
            .record_payment_success(&success(&o, &c, 500, 17_000))
            .await
            .unwrap(),
        PaymentOutcome::Paid { .. }
    ));
}

async fn concurrent_successes_pay_once(store: Arc<dyn Store>) {
    let l = new_line(&*store).await;
    let o = waiting_order(&*store, &l, 500).await;
    let a = attempt_created(&*store, &new_attempt(&o, 11_000)).await;
    let a = close_attempt(&*store, &a).await;
    let b = attempt_created(&*store, &new_attempt(&o, 12_100)).await;
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let store = store.clone();
            let s = success(&o, if i % 2 == 0 { &a } else { &b }, 500, 13_000 + i);
            tokio::spawn(async move { store.record_payment_success(&s).await.unwrap() })
        })
        .collect();
    let (mut paid, mut dup, mut already) = (0, 0, 0);
    for t in tasks {
        match t.await.unwrap() {
            PaymentOutcome::Paid { .. } => paid += 1,
            PaymentOutcome::NotTheOrdersPayment { attempt, refund } => {
                assert_eq!(attempt.flag, Some(AttemptFlag::Duplicate));
                assert_eq!(refund.map(|r| r.kind), Some(RefundKind::Duplicate));
                dup += 1;
            }
            PaymentOutcome::AlreadyRecorded(_) => already += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!((paid, dup, already), (1, 1, 48));
    let events = store.events_for_pay_order(&o.id).await.unwrap();
    assert_eq!(events.len(), 1, "one paid event");
    assert_eq!(store.refunds_for_pay_order(&o.id).await.unwrap().len(), 1);
    assert_eq!(order_now(&*store, &o.id).await.status, PayOrderStatus::Paid);
}

// ---- refunds ----

fn created_refund(out: CreateRefundOutcome) -> Refund {
    match out {
        CreateRefundOutcome::Created(r) => r,
        other => panic!("{other:?}"),
    }
}

async fn business_refund_outcomes(store: Arc<dyn Store>) {
    let (o, a) = paid_order(&*store, 100).await;
    let first = business_refund(&o, &a, "R-1", 30);
    let r1 = created_refund(store.create_refund(&first, 3).await.unwrap());
    assert_eq!(r1.status, RefundStatus::Pending);
    assert_eq!(r1.kind, RefundKind::Business);
    assert_eq!(r1.business_refund_no.as_deref(), Some("R-1"));
    assert_eq!(r1.business_line_id, o.business_line_id);
    assert_eq!(r1.next_action_at_ms, Some(20_000));
    assert_eq!(r1.tries, 0);
    assert_eq!(store.refund(&r1.id).await.unwrap(), Some(r1.clone()));
    assert_eq!(
        store
            .refund_by_business_no(&o.business_line_id, "R-1")
            .await
            .unwrap(),
        Some(r1.clone())
    );
    assert_eq!(order_now(&*store, &o.id).await.refunded_amount_minor, 30);

    // Same business number, whatever the amount: the first refund, nothing written.
    let again = business_refund(&o, &a, "R-1", 50);
    assert_eq!(
        store.create_refund(&again, 3).await.unwrap(),
        CreateRefundOutcome::Existing(r1.clone())
    );
    assert_eq!(store.refund(&again.id).await.unwrap(), None);
    assert_eq!(order_now(&*store, &o.id).await.refunded_amount_minor, 30);

    assert_eq!(
        store
            .create_refund(&business_refund(&o, &a, "R-2", 71), 3)
            .await
            .unwrap(),
        CreateRefundOutcome::ExceedsRefundable {
            refundable_minor: 70
        }
    );
    assert_eq!(
        store
            .refund_by_business_no(&o.business_line_id, "R-2")
            .await
            .unwrap(),
        None,
        "a refused refund leaves its number free"
    );
    let r2 = created_refund(
        store
            .create_refund(&business_refund(&o, &a, "R-2", 60), 3)
            .await
            .unwrap(),
    );
    assert_eq!(order_now(&*store, &o.id).await.refunded_amount_minor, 90);
    created_refund(
        store
            .create_refund(&business_refund(&o, &a, "R-3", 5), 3)
            .await
            .unwrap(),
    );
    let before = order_now(&*store, &o.id).await;
    assert_eq!(
        store
            .create_refund(&business_refund(&o, &a, "R-4", 5), 3)
            .await
            .unwrap(),
        CreateRefundOutcome::TooManyRefunds
    );
    assert_eq!(order_now(&*store, &o.id).await, before, "nothing written");
    assert_eq!(
        store
            .refunds_for_pay_order(&o.id)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect::<Vec<_>>()
            .len(),
        3
    );
    assert_eq!(
        store.refund_by_no(&r2.refund_no).await.unwrap(),
        Some(r2.clone())
    );

    // Orders that are not paid.
    let l = new_line(&*store).await;
    let waiting = waiting_order(&*store, &l, 100).await;
    assert_eq!(
        store
            .create_refund(&business_refund(&waiting, &a, "R-W", 10), 3)
            .await
            .unwrap(),
        CreateRefundOutcome::OrderNotPaid(Some(waiting.clone()))
    );
    let mut ghost = business_refund(&waiting, &a, "R-G", 10);
    ghost.pay_order_id = "po_missing".into();
    assert_eq!(
        store.create_refund(&ghost, 3).await.unwrap(),
        CreateRefundOutcome::OrderNotPaid(None)
    );

    // Only the attempt that paid the order can be refunded against it.
    let (o2, _) = paid_order(&*store, 100).await;
    let err = store
        .create_refund(&business_refund(&o2, &a, "R-X", 10), 3)
        .await;
    assert!(matches!(err, Err(StoreError::Invalid(_))), "{err:?}");
    assert_eq!(order_now(&*store, &o2.id).await.refunded_amount_minor, 0);
    let mut no_number = business_refund(&o, &a, "R-5", 1);
    no_number.business_refund_no = None;
    assert!(matches!(
        store.create_refund(&no_number, 50).await,
        Err(StoreError::Invalid(_))
    ));
}

async fn concurrent_refunds_never_exceed_the_paid_amount(store: Arc<dyn Store>) {
    let (o, a) = paid_order(&*store, 100).await;
    let race = |n: usize, tag: &'static str| {
        let tasks: Vec<_> = (0..n)
            .map(|i| {
                let store = store.clone();
                let r = business_refund(&o, &a, &format!("{tag}-{i}"), 10);
                tokio::spawn(async move { store.create_refund(&r, 50).await.unwrap() })
            })
            .collect();
        async move {
            let mut created = Vec::new();
            for t in tasks {
                match t.await.unwrap() {
                    CreateRefundOutcome::Created(r) => created.push(r),
                    CreateRefundOutcome::ExceedsRefundable { refundable_minor } => {
                        assert!(refundable_minor < 10, "{refundable_minor}")
                    }
                    other => panic!("{other:?}"),
                }
            }
            created
        }
    };
    let created = race(40, "A").await;
    assert_eq!(created.len(), 10);
    assert_eq!(created.iter().map(|r| r.amount.minor()).sum::<i64>(), 100);
    assert_eq!(order_now(&*store, &o.id).await.refunded_amount_minor, 100);
    assert_eq!(store.refunds_for_pay_order(&o.id).await.unwrap().len(), 10);

    // A failed refund gives its amount back, exactly once.
    let failed = match store
        .update_refund(
            &created[0].id,
            &refund_to(&created[0], RefundStatus::Failed, 30_000),
        )
        .await
        .unwrap()
    {
        Transition::Applied(r) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(failed.status, RefundStatus::Failed);
    assert_eq!(order_now(&*store, &o.id).await.refunded_amount_minor, 90);
    let more = race(10, "B").await;
    assert_eq!(more.len(), 1);
    assert_eq!(order_now(&*store, &o.id).await.refunded_amount_minor, 100);
}

async fn update_refund_is_conditional(store: Arc<dyn Store>) {
    let (o, a) = paid_order(&*store, 100).await;
    let r = created_refund(
        store
            .create_refund(&business_refund(&o, &a, "U-1", 40), 50)
            .await
            .unwrap(),
    );
    // A reschedule in the same state, counting a try.
    let mut u = refund_to(&r, RefundStatus::Pending, 21_000);
    u.next_action_at_ms = Some(25_000);
    u.last_error = Some("FREQUENCY_LIMITED".into());
    let r = match store.update_refund(&r.id, &u).await.unwrap() {
        Transition::Applied(x) => x,
        other => panic!("{other:?}"),
    };
    assert_eq!((r.tries, r.version), (1, 1));
    assert_eq!(r.next_action_at_ms, Some(25_000));
    assert_eq!(r.last_error.as_deref(), Some("FREQUENCY_LIMITED"));
    // Stale version: refused, nothing written.
    assert_eq!(
        store.update_refund(&r.id, &u).await.unwrap(),
        Transition::Refused(Some(r.clone()))
    );
    assert_eq!(
        store
            .update_refund("rf_missing", &refund_to(&r, RefundStatus::Failed, 1))
            .await
            .unwrap(),
        Transition::Refused(None)
    );

    // Due refunds: PENDING and PROCESSING with a due action.
    assert!(store.due_refunds(24_999, 10).await.unwrap().is_empty());
    assert_eq!(
        store
            .due_refunds(25_000, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|x| x.id)
            .collect::<Vec<_>>(),
        std::slice::from_ref(&r.id)
    );

    let mut u = refund_to(&r, RefundStatus::Processing, 22_000);
    u.provider_refund_id = Some("wx-refund-1".into());
    u.next_action_at_ms = Some(26_000);
    let p = match store.update_refund(&r.id, &u).await.unwrap() {
        Transition::Applied(x) => x,
        other => panic!("{other:?}"),
    };
    assert_eq!(p.provider_refund_id.as_deref(), Some("wx-refund-1"));
    assert_eq!(p.last_error.as_deref(), Some("FREQUENCY_LIMITED"), "kept");
    // PROCESSING -> PENDING is not a legal move.
    assert_eq!(
        store
            .update_refund(&p.id, &refund_to(&p, RefundStatus::Pending, 23_000))
            .await
            .unwrap(),
        Transition::Refused(Some(p.clone()))
    );

    let mut u = refund_to(&p, RefundStatus::Succeeded, 24_000);
    u.succeeded_at_ms = Some(23_900);
    u.event = Some(event(&o, EventType::RefundSucceeded, 24_000));
    let done = match store.update_refund(&p.id, &u).await.unwrap() {
        Transition::Applied(x) => x,
        other => panic!("{other:?}"),
    };
    assert_eq!(done.status, RefundStatus::Succeeded);
    assert_eq!(done.succeeded_at_ms, Some(23_900));
    assert_eq!(done.next_action_at_ms, None);
    assert!(store.due_refunds(i64::MAX, 10).await.unwrap().is_empty());
    let events = store.events_for_pay_order(&o.id).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.event_type).collect::<Vec<_>>(),
        [EventType::PayOrderPaid, EventType::RefundSucceeded]
    );
    // Terminal: neither another state nor a "reschedule" applies.
    for s in [RefundStatus::Failed, RefundStatus::Succeeded] {
        let mut u = refund_to(&done, s, 25_000);
        u.event = Some(event(&o, EventType::RefundFailed, 25_000));
        assert_eq!(
            store.update_refund(&done.id, &u).await.unwrap(),
            Transition::Refused(Some(done.clone()))
        );
    }
    assert_eq!(store.events_for_pay_order(&o.id).await.unwrap().len(), 2);
    assert_eq!(
        order_now(&*store, &o.id).await.refunded_amount_minor,
        40,
        "a succeeded refund stays counted"
    );

    // An automatic refund failing releases nothing from the order (it never reserved).
    let c = attempt_created(
        &*store,
        &new_attempt(
            &waiting_order(&*store, &new_line(&*store).await, 100).await,
            11_000,
        ),
    )
    .await;
    let co = order_now(&*store, &c.pay_order_id).await;
    let (_, auto) = not_the_orders(
        store
            .record_payment_success(&success(&co, &c, 99, 13_000))
            .await
            .unwrap(),
    );
    let auto = auto.expect("refund");
    let abnormal = match store
        .update_refund(&auto.id, &refund_to(&auto, RefundStatus::Abnormal, 14_000))
        .await
        .unwrap()
    {
        Transition::Applied(x) => x,
        other => panic!("{other:?}"),
    };
    assert!(
        store.due_refunds(i64::MAX, 10).await.unwrap().is_empty(),
        "ABNORMAL waits for an operator"
    );
    assert!(matches!(
        store
            .update_refund(
                &auto.id,
                &refund_to(&abnormal, RefundStatus::Failed, 15_000)
            )
            .await
            .unwrap(),
        Transition::Applied(_)
    ));
    assert_eq!(order_now(&*store, &co.id).await.refunded_amount_minor, 0);
}

// ---- raw callbacks ----

async fn raw_callbacks_round_trip(store: Arc<dyn Store>) {
    let l = new_line(&*store).await;
    let o = waiting_order(&*store, &l, 100).await;
    let cb = |at: i64, order: Option<&str>| RawCallback {
        id: ids::new_id("cb"),
        provider: Provider::Alipay,
        merchant_account: "ali-main".into(),
        received_at_ms: at,
        headers_json: r#"[["content-type","application/x-www-form-urlencoded"]]"#.into(),
        body: "trade_status=TRADE_SUCCESS&subject=%E7%A5%A8 票".into(),
        outcome: "REJECTED: bad signature".into(),
        attempt_no: order.map(|_| "0123456789ab".to_owned()),
        pay_order_id: order.map(str::to_owned),
    };
    let later = cb(2_000, Some(&o.id));
    let earlier = cb(1_000, Some(&o.id));
    let stray = cb(1_500, None);
    for c in [&later, &earlier, &stray] {
        store.insert_raw_callback(c).await.unwrap();
    }
    assert_eq!(
        store.raw_callbacks_for_pay_order(&o.id).await.unwrap(),
        [earlier.clone(), later]
    );
    assert!(matches!(
        store.insert_raw_callback(&earlier).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(store
        .raw_callbacks_for_pay_order("po_missing")
        .await
        .unwrap()
        .is_empty());
}

paydesk_store::backend_tests!(
    create_attempt_outcomes,
    concurrent_attempts_make_one_open,
    update_attempt_is_conditional,
    close_is_refused_while_an_attempt_is_open,
    payment_success_pays_the_order_once,
    duplicate_and_late_payments_are_refunded,
    wrong_amounts_are_never_the_orders_payment,
    concurrent_successes_pay_once,
    business_refund_outcomes,
    concurrent_refunds_never_exceed_the_paid_amount,
    update_refund_is_conditional,
    raw_callbacks_round_trip,
);

/// The same contract through a `TieredStore` (hot and cold SQLite): with nothing archived
/// it must behave exactly like its hot store.
mod tiered {
    use super::*;
    paydesk_store::backend_tests!(
        tiered:
        create_attempt_outcomes,
        update_attempt_is_conditional,
        close_is_refused_while_an_attempt_is_open,
        payment_success_pays_the_order_once,
        duplicate_and_late_payments_are_refunded,
        wrong_amounts_are_never_the_orders_payment,
        concurrent_successes_pay_once,
        business_refund_outcomes,
        concurrent_refunds_never_exceed_the_paid_amount,
        update_refund_is_conditional,
        raw_callbacks_round_trip,
    );

    /// A refund of an archived order back-fills the order into hot first, and the
    /// never-archived keys still guard the numbers.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn refund_of_an_archived_order_backfills_it() {
        let TieredDb { store, hot, cold } = fresh_tiered().await.expect("tiered test databases");
        let (o, a) = paid_order(&*store, 100).await;
        // Deliver the paid event so the order is finished.
        let ev = store.due_events(i64::MAX, 10).await.unwrap().remove(0);
        assert!(store.claim_event(&ev, "w", 14_000, 50_000).await.unwrap());
        let tried = NotificationAttempt {
            event_id: ev.id.clone(),
            attempt_no: 1,
            started_at_ms: 14_000,
            duration_ms: 5,
            http_status: Some(200),
            succeeded: true,
            error: None,
        };
        assert!(store
            .record_attempt(&tried, "w", AfterAttempt::Delivered, 14_005)
            .await
            .unwrap());
        let opts = archive::ArchiveOptions {
            cutoff_ms: 1_000_000,
            batch: 10,
            ..archive::ArchiveOptions::default()
        };
        archive::archive(&*hot, &*cold, &opts, &mut |_| {})
            .await
            .unwrap();
        assert_eq!(hot.pay_order(&o.id).await.unwrap(), None, "archived");
        assert!(cold.pay_order(&o.id).await.unwrap().is_some());

        let r = created_refund(
            store
                .create_refund(&business_refund(&o, &a, "LATE-1", 30), 50)
                .await
                .unwrap(),
        );
        let back = hot
            .pay_order(&o.id)
            .await
            .unwrap()
            .expect("back-filled into hot");
        assert_eq!(back.refunded_amount_minor, 30);
        assert_eq!(cold.pay_order(&o.id).await.unwrap(), None);
        assert_eq!(
            store
                .create_refund(&business_refund(&o, &a, "LATE-1", 30), 50)
                .await
                .unwrap(),
            CreateRefundOutcome::Existing(r)
        );
        // The attempt's number stays taken.
        let l = new_line(&*store).await;
        let other = waiting_order(&*store, &l, 100).await;
        let mut reused = new_attempt(&other, 15_000);
        reused.attempt_no = a.attempt_no.clone();
        assert!(matches!(
            store.create_attempt(&reused, 10).await,
            Err(StoreError::Conflict(_))
        ));
    }
}
