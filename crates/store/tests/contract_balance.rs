//! The store contract for balance and combined payments, and for the ledger entries the
//! acquiring flow posts (acquiring, refunds): the same tests on every backend (see
//! `contract.rs` for the set-up), and through a `TieredStore`.

use paydesk_core::balance_part::BALANCE_CLEARING_OWNER;
use paydesk_core::ledger::{movements, AccountRef};
use paydesk_core::{
    ids, AttemptFlag, BalancePartStatus, Currency, EventType, PayOrderStatus, RefundFunds,
    RefundKind, RefundStatus,
};
use paydesk_store::testing::fixtures::*;
use paydesk_store::*;
use std::sync::Arc;

const BUYER: &str = "buyer-1";
const MERCHANT: &str = "wx-main";

fn user() -> AccountRef {
    AccountRef::user(BUYER, Currency::CNY).unwrap()
}

fn held() -> AccountRef {
    user().held_twin().unwrap()
}

fn clearing(owner: &str) -> AccountRef {
    AccountRef::clearing(owner, Currency::CNY).unwrap()
}

fn external() -> AccountRef {
    AccountRef::external(MERCHANT, Currency::CNY).unwrap()
}

/// The cached balance, after checking it equals the sum of the account's lines.
async fn balance(store: &dyn Store, a: &AccountRef) -> i64 {
    let l = store.ledger();
    let Some(acc) = l.account_by_ref(a).await.unwrap() else {
        return 0;
    };
    let check = l.verify_account(&acc.id).await.unwrap().unwrap();
    assert!(check.is_consistent(), "{a}: {check:?}");
    acc.balance_minor
}

/// Credits the buyer `minor` from the line's funding account.
async fn credit(store: &dyn Store, line: &BusinessLine, minor: i64) {
    let entry = movements::credit(&line.id, BUYER, cny(minor)).unwrap();
    let new = NewJournalEntry {
        id: ids::new_id(ids::JOURNAL_ENTRY),
        business_line_id: line.id.clone(),
        reference: "credit".into(),
        idempotency_key: ids::new_id("credit"),
        created_at_ms: 1,
        entry,
    };
    assert!(matches!(
        store.ledger().post_entry(&new).await.unwrap(),
        PostOutcome::Posted(_)
    ));
}

async fn hold(store: &dyn Store, order: &PayOrder, minor: i64) -> HoldOutcome {
    store
        .hold_balance_part(&HoldBalance {
            pay_order_id: order.id.clone(),
            amount_minor: minor,
            now_ms: 12_000,
        })
        .await
        .unwrap()
}

fn held_part(o: HoldOutcome) -> BalancePart {
    match o {
        HoldOutcome::Held(p) => p,
        other => panic!("expected held, got {other:?}"),
    }
}

/// The provider part of a combined payment: an attempt for the order less `part_minor`.
async fn combined_attempt(store: &dyn Store, order: &PayOrder, part_minor: i64) -> Attempt {
    let mut a = new_attempt(order, 12_500);
    a.method = "COMBINED".into();
    a.amount = cny(order.amount.minor() - part_minor);
    attempt_created(store, &a).await
}

/// A line, a 1000-fen order for the buyer, and 600 fen credited to the buyer.
async fn setup(store: &dyn Store) -> (BusinessLine, PayOrder) {
    let line = new_line(store).await;
    let order = waiting_order(store, &line, 1_000).await;
    credit(store, &line, 600).await;
    (line, order)
}

/// 300 from the balance, 700 through the provider: the order is paid when the provider
/// part succeeds, and the hold is captured into the provider account's clearing account.
async fn combined_payment_holds_then_captures(store: Arc<dyn Store>) {
    let s = &*store;
    let (_, order) = setup(s).await;
    let part = held_part(hold(s, &order, 300).await);
    assert_eq!(part.status, BalancePartStatus::Held);
    assert_eq!(
        (balance(s, &user()).await, balance(s, &held()).await),
        (300, 300)
    );
    // The same hold again changes nothing.
    assert_eq!(held_part(hold(s, &order, 300).await), part);
    let a = combined_attempt(s, &order, 300).await;
    match s
        .record_payment_success(&success(&order, &a, 700, 13_000))
        .await
        .unwrap()
    {
        PaymentOutcome::Paid { order, .. } => assert_eq!(order.status, PayOrderStatus::Paid),
        other => panic!("{other:?}"),
    }
    let part = s.balance_part(&order.id).await.unwrap().unwrap();
    assert_eq!(part.status, BalancePartStatus::Captured);
    assert_eq!(balance(s, &user()).await, 300);
    assert_eq!(balance(s, &held()).await, 0);
    assert_eq!(balance(s, &clearing(MERCHANT)).await, 1_000);
    assert_eq!(balance(s, &external()).await, -700, "acquiring posted");
    // A second report of the same success posts nothing more.
    assert!(matches!(
        s.record_payment_success(&success(&order, &a, 700, 14_000))
            .await
            .unwrap(),
        PaymentOutcome::AlreadyRecorded(_)
    ));
    assert_eq!(balance(s, &external()).await, -700);
}

/// A hold the balance does not cover, on an order with an open attempt, or of the whole
/// amount changes nothing.
async fn hold_refusals_change_nothing(store: Arc<dyn Store>) {
    let s = &*store;
    let (line, order) = setup(s).await;
    assert_eq!(
        hold(s, &order, 601).await,
        HoldOutcome::Insufficient {
            available_minor: 600
        }
    );
    assert_eq!(s.balance_part(&order.id).await.unwrap(), None);
    assert_eq!(balance(s, &user()).await, 600);
    assert!(s
        .hold_balance_part(&HoldBalance {
            pay_order_id: order.id.clone(),
            amount_minor: 1_000,
            now_ms: 12_000,
        })
        .await
        .is_err());
    attempt_created(s, &new_attempt(&order, 11_000)).await;
    assert!(matches!(
        hold(s, &order, 100).await,
        HoldOutcome::NotPayable(Some(_))
    ));
    let (paid, _) = paid_order(s, 1_000).await;
    assert!(matches!(
        hold(s, &paid, 100).await,
        HoldOutcome::NotPayable(Some(_))
    ));
    let other = waiting_order(s, &line, 500).await;
    let mut gone = other.clone();
    gone.id = ids::new_id(ids::PAY_ORDER);
    assert_eq!(hold(s, &gone, 100).await, HoldOutcome::NotPayable(None));
    assert_eq!(balance(s, &user()).await, 600);
    assert_eq!(balance(s, &held()).await, 0);
}

/// Holding another amount releases the first hold in the same transaction.
async fn another_amount_releases_first(store: Arc<dyn Store>) {
    let s = &*store;
    let (_, order) = setup(s).await;
    held_part(hold(s, &order, 300).await);
    let part = held_part(hold(s, &order, 200).await);
    assert_eq!(part.amount.minor(), 200);
    assert_eq!(part.version, 2, "held, released, held again");
    assert_eq!(
        (balance(s, &user()).await, balance(s, &held()).await),
        (400, 200)
    );
}

/// A combined attempt whose hold was released cannot pay the order: it is flagged and
/// refunded like a late payment, and the buyer's balance stays whole.
async fn released_hold_makes_the_provider_part_late(store: Arc<dyn Store>) {
    let s = &*store;
    let (_, order) = setup(s).await;
    held_part(hold(s, &order, 300).await);
    let a = combined_attempt(s, &order, 300).await;
    // While the attempt for the rest is open, the hold stays: it relies on it.
    let kept = s
        .release_balance_part(&order.id, 12_700)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.status, BalancePartStatus::Held);
    let closed = AttemptUpdate {
        from: a.status,
        to: paydesk_core::AttemptStatus::Closed,
        provider_txn_id: None,
        next_query_at_ms: None,
        now_ms: 12_750,
    };
    assert!(matches!(
        s.update_attempt(&a.id, &closed).await.unwrap(),
        Transition::Applied(_)
    ));
    let released = s
        .release_balance_part(&order.id, 12_800)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(released.status, BalancePartStatus::Released);
    match s
        .record_payment_success(&success(&order, &a, 700, 13_000))
        .await
        .unwrap()
    {
        PaymentOutcome::NotTheOrdersPayment { attempt, refund } => {
            assert_eq!(attempt.flag, Some(AttemptFlag::Late));
            let refund = refund.expect("refunded");
            assert_eq!(
                (refund.amount.minor(), refund.kind),
                (700, RefundKind::Late)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.pay_order(&order.id).await.unwrap().unwrap().status,
        PayOrderStatus::Waiting
    );
    assert_eq!(
        (balance(s, &user()).await, balance(s, &held()).await),
        (600, 0)
    );
    assert_eq!(
        balance(s, &clearing(MERCHANT)).await,
        700,
        "acquired, to go back"
    );
}

/// A whole-amount payment releases a part still held; closing an order releases it too.
async fn whole_payment_or_close_releases(store: Arc<dyn Store>) {
    let s = &*store;
    let (line, order) = setup(s).await;
    held_part(hold(s, &order, 300).await);
    let a = attempt_created(s, &new_attempt(&order, 12_500)).await;
    assert!(matches!(
        s.record_payment_success(&success(&order, &a, 1_000, 13_000))
            .await
            .unwrap(),
        PaymentOutcome::Paid { .. }
    ));
    let part = s.balance_part(&order.id).await.unwrap().unwrap();
    assert_eq!(part.status, BalancePartStatus::Released);
    assert_eq!(
        (balance(s, &user()).await, balance(s, &held()).await),
        (600, 0)
    );

    let second = waiting_order(s, &line, 800).await;
    held_part(hold(s, &second, 500).await);
    assert_eq!(balance(s, &user()).await, 100);
    let closed = s
        .close_pay_order(
            &second.id,
            15_000,
            &event(&second, EventType::PayOrderClosed, 15_000),
        )
        .await
        .unwrap();
    assert!(matches!(closed, Transition::Applied(ref o) if o.status == PayOrderStatus::Closed));
    let part = s.balance_part(&second.id).await.unwrap().unwrap();
    assert_eq!(part.status, BalancePartStatus::Released);
    assert_eq!(
        (balance(s, &user()).await, balance(s, &held()).await),
        (600, 0)
    );
}

fn balance_payment(order: &PayOrder) -> BalancePayment {
    BalancePayment {
        pay_order_id: order.id.clone(),
        now_ms: 13_000,
        paid_event: event(order, EventType::PayOrderPaid, 13_000),
    }
}

/// BALANCE pays the whole order at once, or nothing when the balance does not cover it.
async fn balance_payment_pays_whole_order(store: Arc<dyn Store>) {
    let s = &*store;
    let (line, _) = setup(s).await;
    let order = waiting_order(s, &line, 600).await;
    match s.pay_with_balance(&balance_payment(&order)).await.unwrap() {
        BalancePaymentOutcome::Paid { order, part } => {
            assert_eq!(order.status, PayOrderStatus::Paid);
            assert_eq!(
                (part.status, part.amount.minor()),
                (BalancePartStatus::Captured, 600)
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        (balance(s, &user()).await, balance(s, &held()).await),
        (0, 0)
    );
    assert_eq!(balance(s, &clearing(BALANCE_CLEARING_OWNER)).await, 600);
    let more = waiting_order(s, &line, 1).await;
    assert_eq!(
        s.pay_with_balance(&balance_payment(&more)).await.unwrap(),
        BalancePaymentOutcome::Insufficient { available_minor: 0 }
    );
    assert_eq!(s.balance_part(&more.id).await.unwrap(), None);
    assert!(matches!(
        s.pay_with_balance(&balance_payment(&order)).await.unwrap(),
        BalancePaymentOutcome::NotPayable(Some(_))
    ));
}

fn refund_of(
    order: &PayOrder,
    attempt_id: &str,
    no: &str,
    minor: i64,
    funds: RefundFunds,
) -> NewRefund {
    NewRefund {
        id: ids::new_id("rf"),
        pay_order_id: order.id.clone(),
        attempt_id: attempt_id.to_owned(),
        refund_no: ids::random_hex::<12>(),
        business_refund_no: Some(no.to_owned()),
        kind: RefundKind::Business,
        amount: cny(minor),
        reason: None,
        created_at_ms: 20_000,
        funds,
    }
}

fn created(o: CreateRefundOutcome) -> Refund {
    match o {
        CreateRefundOutcome::Created(r) => r,
        other => panic!("{other:?}"),
    }
}

/// Records a business refund that must be created.
async fn new_refund(
    s: &dyn Store,
    order: &PayOrder,
    attempt_id: &str,
    no: &str,
    minor: i64,
    funds: RefundFunds,
) -> Refund {
    created(
        s.create_refund(&refund_of(order, attempt_id, no, minor, funds), 10)
            .await
            .unwrap(),
    )
}

async fn finish(s: &dyn Store, r: &Refund, status: RefundStatus) -> Refund {
    match s
        .update_refund(&r.id, &refund_to(r, status, 21_000))
        .await
        .unwrap()
    {
        Transition::Applied(r) => r,
        other => panic!("{other:?}"),
    }
}

/// A combined order's refunds take the provider part first (or the balance first when
/// asked); a success posts both parts, a failure gives both reservations back.
async fn combined_refunds_split_and_post(store: Arc<dyn Store>) {
    let s = &*store;
    let (_, order) = setup(s).await;
    held_part(hold(s, &order, 300).await);
    let a = combined_attempt(s, &order, 300).await;
    s.record_payment_success(&success(&order, &a, 700, 13_000))
        .await
        .unwrap();
    // 800: all 700 of the provider part, 100 of the balance part.
    let r = new_refund(s, &order, &a.id, "R1", 800, RefundFunds::ThirdPartyFirst).await;
    assert_eq!(
        (r.balance_amount_minor, r.provider_amount_minor()),
        (100, 700)
    );
    let before = balance(s, &user()).await;
    finish(s, &r, RefundStatus::Succeeded).await;
    assert_eq!(balance(s, &user()).await, before + 100);
    assert_eq!(balance(s, &external()).await, 0, "700 in, 700 back");
    assert_eq!(balance(s, &clearing(MERCHANT)).await, 200);
    // A failed balance-first refund gives its reservation back.
    let r2 = new_refund(s, &order, &a.id, "R2", 150, RefundFunds::BalanceFirst).await;
    assert_eq!(r2.balance_amount_minor, 150);
    assert_eq!(
        s.balance_part(&order.id)
            .await
            .unwrap()
            .unwrap()
            .refunded_minor,
        250
    );
    finish(s, &r2, RefundStatus::Failed).await;
    assert_eq!(
        s.balance_part(&order.id)
            .await
            .unwrap()
            .unwrap()
            .refunded_minor,
        100
    );
    assert_eq!(
        s.pay_order(&order.id)
            .await
            .unwrap()
            .unwrap()
            .refunded_amount_minor,
        800
    );
    // Never more than was paid, across both parts.
    assert!(matches!(
        s.create_refund(
            &refund_of(&order, &a.id, "R3", 201, RefundFunds::ThirdPartyFirst),
            10
        )
        .await
        .unwrap(),
        CreateRefundOutcome::ExceedsRefundable {
            refundable_minor: 200
        }
    ));
    let r4 = new_refund(s, &order, &a.id, "R4", 200, RefundFunds::ThirdPartyFirst).await;
    assert_eq!(
        (r4.balance_amount_minor, r4.provider_amount_minor()),
        (200, 0)
    );
    finish(s, &r4, RefundStatus::Succeeded).await;
    assert_eq!(
        balance(s, &user()).await,
        600,
        "the whole balance part is back"
    );
    assert_eq!(balance(s, &clearing(MERCHANT)).await, 0);
}

/// A BALANCE order is refunded to the balance, with no provider attempt.
async fn balance_order_refunds_to_balance(store: Arc<dyn Store>) {
    let s = &*store;
    let (line, _) = setup(s).await;
    let order = waiting_order(s, &line, 500).await;
    assert!(matches!(
        s.pay_with_balance(&balance_payment(&order)).await.unwrap(),
        BalancePaymentOutcome::Paid { .. }
    ));
    assert!(s
        .create_refund(
            &refund_of(&order, "at_nothing", "B0", 100, RefundFunds::default()),
            10
        )
        .await
        .is_err());
    let r = new_refund(s, &order, "", "B1", 400, RefundFunds::default()).await;
    assert_eq!(r.balance_amount_minor, 400);
    finish(s, &r, RefundStatus::Succeeded).await;
    assert_eq!(balance(s, &user()).await, 100 + 400);
    assert_eq!(balance(s, &clearing(BALANCE_CLEARING_OWNER)).await, 100);
}

/// Every success posts its acquiring entry, the order's payment or not; every refund
/// that succeeds posts its refund entry.
async fn acquiring_and_refunds_post_for_every_payment(store: Arc<dyn Store>) {
    let s = &*store;
    let line = new_line(s).await;
    let order = waiting_order(s, &line, 1_000).await;
    // The buyer's first attempt is closed here but paid at the provider all the same.
    let first = attempt_created(s, &new_attempt(&order, 11_000)).await;
    let closed = AttemptUpdate {
        from: first.status,
        to: paydesk_core::AttemptStatus::Closed,
        provider_txn_id: None,
        next_query_at_ms: None,
        now_ms: 11_500,
    };
    assert!(matches!(
        s.update_attempt(&first.id, &closed).await.unwrap(),
        Transition::Applied(_)
    ));
    let paid = attempt_created(s, &new_attempt(&order, 12_000)).await;
    assert!(matches!(
        s.record_payment_success(&success(&order, &paid, 1_000, 13_000))
            .await
            .unwrap(),
        PaymentOutcome::Paid { .. }
    ));
    assert_eq!(balance(s, &external()).await, -1_000);
    assert_eq!(balance(s, &clearing(MERCHANT)).await, 1_000);
    match s
        .record_payment_success(&success(&order, &first, 1_000, 15_000))
        .await
        .unwrap()
    {
        PaymentOutcome::NotTheOrdersPayment { attempt, refund } => {
            assert_eq!(attempt.flag, Some(AttemptFlag::Duplicate));
            assert_eq!(
                balance(s, &external()).await,
                -2_000,
                "it came in all the same"
            );
            let r = refund.expect("auto refund");
            finish(s, &r, RefundStatus::Succeeded).await;
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(balance(s, &external()).await, -1_000, "and went back");
    let r = created(
        s.create_refund(&business_refund(&order, &paid, "BR1", 250), 10)
            .await
            .unwrap(),
    );
    assert_eq!(r.balance_amount_minor, 0);
    finish(s, &r, RefundStatus::Succeeded).await;
    assert_eq!(balance(s, &external()).await, -750);
    assert_eq!(balance(s, &clearing(MERCHANT)).await, 750);
    // A failed refund posts nothing.
    let r = created(
        s.create_refund(&business_refund(&order, &paid, "BR2", 100), 10)
            .await
            .unwrap(),
    );
    finish(s, &r, RefundStatus::Failed).await;
    assert_eq!(balance(s, &external()).await, -750);
}

paydesk_store::backend_tests!(
    combined_payment_holds_then_captures,
    hold_refusals_change_nothing,
    another_amount_releases_first,
    released_hold_makes_the_provider_part_late,
    whole_payment_or_close_releases,
    balance_payment_pays_whole_order,
    combined_refunds_split_and_post,
    balance_order_refunds_to_balance,
    acquiring_and_refunds_post_for_every_payment,
);

/// Through a `TieredStore`: balance parts and the ledger live in hot.
mod tiered {
    paydesk_store::backend_tests!(
        tiered:
        combined_payment_holds_then_captures,
        combined_refunds_split_and_post,
    );
}
