//! Model-based property test of the refund invariants on SQLite: random sequences of
//! business refunds (some reusing a business refund number, some racing), state changes
//! (legal or not, some on stale versions) and automatic refunds are applied to the store
//! and to a plain in-memory model. After every step:
//! * `0 <= refunded_amount_minor <= amount_minor`;
//! * `refunded_amount_minor` equals the sum of the business refunds not `FAILED`
//!   (automatic refunds never count: that money was never the order's);
//! * a refund is created iff the model says the amount is still refundable, and every
//!   state change applies iff the state machine allows it from the current version.

use paydesk_core::transition::StateMachine;
use paydesk_core::{
    ids, Amount, AttemptStatus, Currency, EventType, Provider, RefundKind, RefundStatus,
};
use paydesk_store::testing::fresh;
use paydesk_store::*;
use proptest::prelude::*;
use std::collections::BTreeMap;
use std::sync::Arc;

const ORDER_MINOR: i64 = 100;

#[derive(Debug, Clone)]
enum Op {
    Refund { no: u8, amount: i64 },
    Racing { no: u8, amount: i64, n: usize },
    Move { pick: usize, to: usize, stale: bool },
    Duplicate,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..12u8, 1..45i64).prop_map(|(no, amount)| Op::Refund { no, amount }),
        1 => (0..12u8, 1..45i64, 2..5usize).prop_map(|(no, amount, n)| Op::Racing { no, amount, n }),
        4 => (any::<usize>(), 0..RefundStatus::ALL.len(), proptest::bool::weighted(0.15))
            .prop_map(|(pick, to, stale)| Op::Move { pick, to, stale }),
        1 => Just(Op::Duplicate),
    ]
}

fn cny(minor: i64) -> Amount {
    Amount::new(minor, Currency::CNY).unwrap()
}

fn new_event(o: &PayOrder, t: EventType) -> NewEvent {
    NewEvent {
        id: ids::new_id(ids::EVENT),
        business_line_id: o.business_line_id.clone(),
        pay_order_id: Some(o.id.clone()),
        event_type: t,
        payload_json: "{}".into(),
        notify_url: o.notify_url.clone(),
        created_at_ms: 5,
    }
}

fn new_attempt(o: &PayOrder) -> NewAttempt {
    NewAttempt {
        id: ids::new_id(ids::ATTEMPT),
        pay_order_id: o.id.clone(),
        attempt_no: ids::random_hex::<12>(),
        merchant_account: "wx-main".into(),
        provider: Provider::Wechatpay,
        method: "WECHAT_PAY".into(),
        product: "NATIVE".into(),
        amount: o.amount,
        created_at_ms: 2,
        next_query_at_ms: 3,
    }
}

fn success(o: &PayOrder, a: &Attempt) -> PaymentSuccess {
    PaymentSuccess {
        attempt_id: a.id.clone(),
        provider_txn_id: None,
        paid_amount_minor: a.amount.minor(),
        paid_at_ms: 4,
        now_ms: 4,
        paid_event: new_event(o, EventType::PayOrderPaid),
        auto_refund: NewRefund {
            id: ids::new_id("rf"),
            pay_order_id: o.id.clone(),
            attempt_id: a.id.clone(),
            refund_no: ids::random_hex::<12>(),
            business_refund_no: None,
            kind: RefundKind::Duplicate,
            amount: a.amount,
            reason: None,
            created_at_ms: 4,
            funds: paydesk_core::RefundFunds::default(),
        },
        hold_amount_mismatch: false,
    }
}

fn refund(o: &PayOrder, a: &Attempt, no: u8, amount: i64) -> NewRefund {
    NewRefund {
        id: ids::new_id("rf"),
        pay_order_id: o.id.clone(),
        attempt_id: a.id.clone(),
        refund_no: ids::random_hex::<12>(),
        business_refund_no: Some(format!("R-{no}")),
        kind: RefundKind::Business,
        amount: cny(amount),
        reason: None,
        created_at_ms: 10,
        funds: paydesk_core::RefundFunds::default(),
    }
}

/// The model: business number -> (refund id, amount, status); automatic refunds by id.
#[derive(Default)]
struct Model {
    business: BTreeMap<u8, (String, i64, RefundStatus)>,
    auto: BTreeMap<String, RefundStatus>,
}

impl Model {
    fn reserved(&self) -> i64 {
        self.business
            .values()
            .filter(|(_, _, s)| *s != RefundStatus::Failed)
            .map(|(_, a, _)| a)
            .sum()
    }
}

async fn check(ops: Vec<Op>) {
    let db = fresh(Backend::Sqlite).await.unwrap().unwrap();
    let store: Arc<dyn Store> = db.store;
    let line = BusinessLine {
        id: ids::new_id(ids::BUSINESS_LINE),
        app_id: ids::new_id(ids::APP),
        name: "l".into(),
        secret_ciphertext: "x".into(),
        notify_url: "http://127.0.0.1:9/n".into(),
        allowed_url_prefixes: vec![],
        status: BusinessLineStatus::Active,
        created_at_ms: 0,
    };
    store.insert_business_line(&line).await.unwrap();
    let new_order = NewPayOrder {
        id: ids::new_id(ids::PAY_ORDER),
        business_line_id: line.id.clone(),
        business_order_no: "M-1".into(),
        amount: cny(ORDER_MINOR),
        subject: "model".into(),
        buyer_id: None,
        seller_id: None,
        facts_json: "{}".into(),
        metadata_json: "{}".into(),
        notify_url: line.notify_url.clone(),
        return_url: None,
        checkout_token: ids::random_token::<32>(),
        created_at_ms: 1,
        expire_at_ms: 1_000_000,
    };
    let CreateOutcome::Created(order) = store.create_pay_order(&new_order).await.unwrap() else {
        panic!("fresh database")
    };
    // Attempt A is closed, B pays the order; A's later payments make automatic refunds.
    let CreateAttemptOutcome::Created(first) = store
        .create_attempt(&new_attempt(&order), 10)
        .await
        .unwrap()
    else {
        panic!("payable")
    };
    let close = AttemptUpdate {
        from: AttemptStatus::Creating,
        to: AttemptStatus::Closed,
        provider_txn_id: None,
        next_query_at_ms: None,
        now_ms: 3,
    };
    assert!(matches!(
        store.update_attempt(&first.id, &close).await.unwrap(),
        Transition::Applied(_)
    ));
    let CreateAttemptOutcome::Created(payer) = store
        .create_attempt(&new_attempt(&order), 10)
        .await
        .unwrap()
    else {
        panic!("payable")
    };
    let PaymentOutcome::Paid { order, .. } = store
        .record_payment_success(&success(&order, &payer))
        .await
        .unwrap()
    else {
        panic!("pays")
    };

    let mut model = Model::default();
    for op in ops {
        match op {
            Op::Refund { no, amount } => {
                let out = store
                    .create_refund(&refund(&order, &payer, no, amount), 1_000)
                    .await
                    .unwrap();
                match (model.business.get(&no), out) {
                    (Some((id, _, _)), CreateRefundOutcome::Existing(r)) => assert_eq!(&r.id, id),
                    (None, CreateRefundOutcome::Created(r)) => {
                        assert!(model.reserved() + amount <= ORDER_MINOR);
                        model.business.insert(no, (r.id, amount, r.status));
                    }
                    (None, CreateRefundOutcome::ExceedsRefundable { refundable_minor }) => {
                        assert_eq!(refundable_minor, ORDER_MINOR - model.reserved());
                        assert!(refundable_minor < amount);
                    }
                    (m, out) => panic!("model {m:?}, store {out:?}"),
                }
            }
            Op::Racing { no, amount, n } => {
                let tasks: Vec<_> = (0..n)
                    .map(|_| {
                        let store = store.clone();
                        let r = refund(&order, &payer, no, amount);
                        tokio::spawn(async move { store.create_refund(&r, 1_000).await.unwrap() })
                    })
                    .collect();
                let mut created = Vec::new();
                for t in tasks {
                    if let CreateRefundOutcome::Created(r) = t.await.unwrap() {
                        created.push(r);
                    }
                }
                let fits = model.reserved() + amount <= ORDER_MINOR;
                let expected = usize::from(!model.business.contains_key(&no) && fits);
                assert_eq!(created.len(), expected, "one racer at most");
                if let Some(r) = created.pop() {
                    model.business.insert(no, (r.id, amount, r.status));
                }
            }
            Op::Move { pick, to, stale } => {
                let ids: Vec<(Option<u8>, String)> = model
                    .business
                    .iter()
                    .map(|(no, (id, _, _))| (Some(*no), id.clone()))
                    .chain(model.auto.keys().map(|id| (None, id.clone())))
                    .collect();
                if ids.is_empty() {
                    continue;
                }
                let (no, id) = &ids[pick % ids.len()];
                let current = store.refund(id).await.unwrap().unwrap();
                let to = RefundStatus::ALL[to];
                let update = RefundUpdate {
                    expected_version: current.version - i64::from(stale),
                    status: to,
                    provider_refund_id: None,
                    count_try: true,
                    next_action_at_ms: Some(20),
                    last_error: None,
                    succeeded_at_ms: None,
                    now_ms: 20,
                    event: None,
                };
                let legal = if to == current.status {
                    !current.status.is_terminal()
                } else {
                    current.status.can_transition(to)
                };
                let out = store.update_refund(id, &update).await.unwrap();
                let applied = matches!(out, Transition::Applied(_));
                assert_eq!(
                    applied,
                    legal && !stale,
                    "{current:?} -> {to:?}, stale {stale}"
                );
                if applied {
                    match no {
                        Some(no) => {
                            if let Some(entry) = model.business.get_mut(no) {
                                entry.2 = to;
                            }
                        }
                        None => {
                            model.auto.insert(id.clone(), to);
                        }
                    }
                }
            }
            Op::Duplicate => {
                // A fresh attempt can't be created on a paid order; re-open the closed one
                // by recording its (late) payment once, then count its refund.
                if model.auto.is_empty() {
                    let out = store
                        .record_payment_success(&success(&order, &first))
                        .await
                        .unwrap();
                    let PaymentOutcome::NotTheOrdersPayment {
                        refund: Some(r), ..
                    } = out
                    else {
                        panic!("{out:?}")
                    };
                    assert_eq!(r.kind, RefundKind::Duplicate);
                    model.auto.insert(r.id, r.status);
                }
            }
        }
        let now = store.pay_order(&order.id).await.unwrap().unwrap();
        assert!(now.refunded_amount_minor >= 0);
        assert!(now.refunded_amount_minor <= now.amount.minor());
        assert_eq!(now.refunded_amount_minor, model.reserved());
        let stored: i64 = store
            .refunds_for_pay_order(&order.id)
            .await
            .unwrap()
            .iter()
            .filter(|r| r.kind == RefundKind::Business && r.status != RefundStatus::Failed)
            .map(|r| r.amount.minor())
            .sum();
        assert_eq!(now.refunded_amount_minor, stored);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn refunds_never_exceed_the_paid_amount(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(check(ops));
    }
}
