//! Model-based property test of the pay-order invariants on SQLite: random sequences of
//! creates (some repeating a business order number, some racing) and closes are applied
//! to the store and to a plain in-memory model; after every sequence the store must agree
//! with the model:
//! * exactly one pay order per (business line, business order number), carrying the
//!   amount of the first create;
//! * an order is CLOSED iff a close was applied to it, and then has exactly one
//!   `pay_order.closed` event; a WAITING order has none;
//! * no amount is ever negative and `refunded_amount_minor` stays 0 (no refunds yet).

use paydesk_core::{ids, Amount, Currency, EventType, PayOrderStatus};
use paydesk_store::testing::fresh;
use paydesk_store::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

#[derive(Debug, Clone)]
enum Op {
    Create {
        line: usize,
        no: u8,
        amount_minor: i64,
    },
    Close {
        line: usize,
        no: u8,
    },
    RacingCreates {
        line: usize,
        no: u8,
        amount_minor: i64,
        n: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..2usize, 0..6u8, 1..10_000i64).prop_map(|(line, no, amount_minor)| Op::Create {
            line,
            no,
            amount_minor
        }),
        (0..2usize, 0..6u8).prop_map(|(line, no)| Op::Close { line, no }),
        (0..2usize, 0..6u8, 1..10_000i64, 2..6usize).prop_map(|(line, no, amount_minor, n)| {
            Op::RacingCreates {
                line,
                no,
                amount_minor,
                n,
            }
        }),
    ]
}

fn new_order(line_id: &str, no: u8, amount_minor: i64) -> NewPayOrder {
    NewPayOrder {
        id: ids::new_id(ids::PAY_ORDER),
        business_line_id: line_id.to_owned(),
        business_order_no: format!("M-{no}"),
        amount: Amount::new(amount_minor, Currency::CNY).unwrap(),
        subject: "model".into(),
        buyer_id: None,
        seller_id: None,
        facts_json: "{}".into(),
        metadata_json: "{}".into(),
        notify_url: "http://127.0.0.1:9/n".into(),
        return_url: None,
        checkout_token: ids::random_token::<32>(),
        created_at_ms: 1,
        expire_at_ms: 1_000_000,
    }
}

async fn check(ops: Vec<Op>) {
    let db = fresh(Backend::Sqlite).await.unwrap().unwrap();
    let store = db.store;
    let mut lines = Vec::new();
    for i in 0..2 {
        let l = BusinessLine {
            id: ids::new_id(ids::BUSINESS_LINE),
            app_id: ids::new_id(ids::APP),
            name: format!("l{i}"),
            secret_ciphertext: "x".into(),
            notify_url: "http://127.0.0.1:9/n".into(),
            allowed_url_prefixes: vec![],
            status: BusinessLineStatus::Active,
            created_at_ms: 0,
        };
        store.insert_business_line(&l).await.unwrap();
        lines.push(l.id);
    }
    // model: (line, no) -> (amount of first create, closed?)
    let mut model: BTreeMap<(usize, u8), (i64, bool)> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Create {
                line,
                no,
                amount_minor,
            } => {
                let out = store
                    .create_pay_order(&new_order(&lines[line], no, amount_minor))
                    .await
                    .unwrap();
                let expected_new = !model.contains_key(&(line, no));
                let entry = model.entry((line, no)).or_insert((amount_minor, false));
                match out {
                    CreateOutcome::Created(o) => {
                        assert!(expected_new);
                        assert_eq!(o.amount.minor(), amount_minor);
                    }
                    CreateOutcome::Existing(o) => {
                        assert!(!expected_new);
                        assert_eq!(
                            o.amount.minor(),
                            entry.0,
                            "the first create's amount stands"
                        );
                    }
                }
            }
            Op::RacingCreates {
                line,
                no,
                amount_minor,
                n,
            } => {
                let tasks: Vec<_> = (0..n)
                    .map(|_| {
                        let store = store.clone();
                        let o = new_order(&lines[line], no, amount_minor);
                        tokio::spawn(async move { store.create_pay_order(&o).await.unwrap() })
                    })
                    .collect();
                let mut created = 0;
                for t in tasks {
                    created += usize::from(matches!(t.await.unwrap(), CreateOutcome::Created(_)));
                }
                let expected_new = !model.contains_key(&(line, no));
                assert_eq!(
                    created,
                    usize::from(expected_new),
                    "exactly one racer creates"
                );
                model.entry((line, no)).or_insert((amount_minor, false));
            }
            Op::Close { line, no } => {
                let Some(order) = store
                    .pay_order_by_business_no(&lines[line], &format!("M-{no}"))
                    .await
                    .unwrap()
                else {
                    assert!(!model.contains_key(&(line, no)));
                    continue;
                };
                let event = NewEvent {
                    id: ids::new_id(ids::EVENT),
                    business_line_id: order.business_line_id.clone(),
                    pay_order_id: Some(order.id.clone()),
                    event_type: EventType::PayOrderClosed,
                    payload_json: "{}".into(),
                    notify_url: order.notify_url.clone(),
                    created_at_ms: 2,
                };
                let out = store.close_pay_order(&order.id, 2, &event).await.unwrap();
                let entry = model.get_mut(&(line, no)).unwrap();
                assert_eq!(
                    matches!(out, Transition::Applied(_)),
                    !entry.1,
                    "close applies once"
                );
                entry.1 = true;
            }
        }
    }
    for ((line, no), (amount, closed)) in &model {
        let o = store
            .pay_order_by_business_no(&lines[*line], &format!("M-{no}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(o.amount.minor(), *amount);
        assert_eq!(o.refunded_amount_minor, 0);
        let want = if *closed {
            PayOrderStatus::Closed
        } else {
            PayOrderStatus::Waiting
        };
        assert_eq!(o.status, want);
        let events = store.events_for_pay_order(&o.id).await.unwrap();
        assert_eq!(
            events.len(),
            usize::from(*closed),
            "one close event iff closed"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn store_agrees_with_the_model(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(check(ops));
    }
}
