//! Model-based property test of the ledger on SQLite: random interleavings of
//! * sales (acquiring + settlement to a seller, some with commission), withdrawals (hold),
//!   their success (debit), failure or cancellation (release), stale updates, repeated
//!   business numbers and platform payouts;
//! * credits to buyers' balances (`CREDIT`);
//! * plain provider payments (one attempt of the whole order: `ACQUIRING`);
//! * combined payments (组合支付): a balance part held from the buyer (`HOLD`; sometimes
//!   first held for another amount, then released or replaced by the second hold, which
//!   releases it in the same transaction; a second hold of the same amount changes
//!   nothing) and an attempt for the rest, then either paid (`ACQUIRING` +
//!   `HOLD_CAPTURE` into the attempt's clearing account), closed (the close is refused
//!   while the attempt is open; closing the order releases the part, and a payment of
//!   the closed attempt arriving afterwards is `LATE` and refunded), released before the
//!   provider part succeeds (that payment is `LATE`, refunded automatically), paid
//!   wholly by the provider after all (the part released), or switched (the attempt
//!   closed, the part held again for another amount, a new attempt paid; the first
//!   attempt's payment then arrives as a `DUPLICATE`, refunded);
//! * balance payments (余额支付: hold and capture into the balance clearing account);
//! * business refunds of any paid order, of random amounts (past the refundable amount:
//!   refused), taking the third party's part or the balance part first, then succeeded
//!   (`REFUND` for the provider part, `BALANCE_REFUND` for the balance part), failed
//!   (both reservations released), moved through `PROCESSING`, or left pending for a
//!   later step; and the automatic refunds of late payments, succeeded or failed;
//!
//! applied to the store and to a plain in-memory model (an integer per account). After
//! every step:
//! * every entry the store holds (found through every account's statement) is balanced
//!   (its lines sum to zero), and there are exactly as many entries as the model posted;
//! * every account's cached balance equals the sum of its lines and the model's balance
//!   (an account the model never touched holds 0);
//! * no user or seller balance (available or held) is ever negative;
//! * a withdrawal, a balance hold and a balance payment happen iff the model says the
//!   available balance covers them; a refund is created iff the model says the order
//!   can still refund that much, split between provider and balance exactly as the model
//!   splits it; every payment's outcome (paid, `LATE`, `DUPLICATE`) is the one the model
//!   predicts;
//! * each order's refunded amount and balance part (status, refunded) match the model.
//!
//! At the end every open withdrawal and refund is finished, and every hold has ended
//! released, debited or captured: no balance part is still held, all held balances are
//! zero, and all balances together sum to zero.

use paydesk_core::balance_part::BALANCE_CLEARING_OWNER;
use paydesk_core::ledger::{movements, AccountRef, JournalEntry};
use paydesk_core::{
    ids, AttemptFlag, AttemptStatus, BalancePartStatus, Currency, EventType, PayOrderStatus,
    PayoutKind, PayoutStatus, Provider, RefundFunds, RefundKind, RefundStatus,
};
use paydesk_store::ledger::MAX_PAGE;
use paydesk_store::testing::fixtures::{self, cny};
use paydesk_store::testing::fresh;
use paydesk_store::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const BL: &str = "bl_model";
const MA: &str = "wx-model";

/// How a combined payment ends.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// The provider part succeeds: the order is paid, the part captured.
    Pay,
    /// The attempt is closed, then the order (releasing the part); `late`: the closed
    /// attempt's payment arrives afterwards.
    Close { late: bool },
    /// The part is released while the attempt is open, then the attempt is paid (late).
    ReleaseThenPay,
    /// The attempt is closed and a new one for the whole amount paid (the part released).
    Whole,
    /// The attempt is closed, the part held again for another amount (percent), a new
    /// attempt for the rest paid; then the first attempt's payment arrives (a duplicate).
    Switch { part_pct: i64 },
}

/// A combined payment.
#[derive(Debug, Clone)]
struct Combined {
    /// The balance part, in percent of the amount (clamped to 1..amount).
    part_pct: i64,
    /// First a hold of another part (percent), then released (`true`) or left for the
    /// second hold to replace.
    first: Option<(i64, bool)>,
    ending: Ending,
}

/// What happens to a refund right after it is created.
#[derive(Debug, Clone, Copy)]
enum RefundEnd {
    Succeed,
    Fail,
    ViaProcessing { succeed: bool },
    Leave,
}

#[derive(Debug, Clone)]
enum Op {
    Sale {
        seller: u8,
        amount: i64,
        commission: i64,
    },
    Withdraw {
        seller: u8,
        amount: i64,
        no: u8,
    },
    Succeed {
        pick: usize,
    },
    Fail {
        pick: usize,
        via_processing: bool,
    },
    Stale {
        pick: usize,
    },
    Payout {
        amount: i64,
        succeed: bool,
    },
    Credit {
        user: u8,
        amount: i64,
    },
    Plain {
        user: u8,
        amount: i64,
    },
    Combined {
        user: u8,
        amount: i64,
        c: Combined,
    },
    BalancePay {
        user: u8,
        amount: i64,
    },
    Refund {
        pick: usize,
        /// The refund, in percent of the order's amount (over 100: too much).
        pct: i64,
        balance_first: bool,
        then: RefundEnd,
    },
    Resolve {
        pick: usize,
        succeed: bool,
    },
}

fn ending() -> impl Strategy<Value = Ending> {
    prop_oneof![
        3 => Just(Ending::Pay),
        2 => any::<bool>().prop_map(|late| Ending::Close { late }),
        1 => Just(Ending::ReleaseThenPay),
        1 => Just(Ending::Whole),
        1 => (1..100i64).prop_map(|part_pct| Ending::Switch { part_pct }),
    ]
}

fn refund_end() -> impl Strategy<Value = RefundEnd> {
    prop_oneof![
        3 => Just(RefundEnd::Succeed),
        2 => Just(RefundEnd::Fail),
        1 => any::<bool>().prop_map(|succeed| RefundEnd::ViaProcessing { succeed }),
        2 => Just(RefundEnd::Leave),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..3u8, 1..500i64, 0..100i64)
            .prop_map(|(seller, amount, commission)| Op::Sale { seller, amount, commission }),
        4 => (0..3u8, 1..400i64, 0..20u8).prop_map(|(seller, amount, no)| Op::Withdraw { seller, amount, no }),
        2 => any::<usize>().prop_map(|pick| Op::Succeed { pick }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, via_processing)| Op::Fail { pick, via_processing }),
        1 => any::<usize>().prop_map(|pick| Op::Stale { pick }),
        1 => (1..300i64, any::<bool>()).prop_map(|(amount, succeed)| Op::Payout { amount, succeed }),
        6 => (0..3u8, 1..800i64).prop_map(|(user, amount)| Op::Credit { user, amount }),
        1 => (0..3u8, 1..400i64).prop_map(|(user, amount)| Op::Plain { user, amount }),
        5 => (0..3u8, 2..300i64, 1..100i64, proptest::option::weighted(0.3, (1..100i64, any::<bool>())), ending())
            .prop_map(|(user, amount, part_pct, first, ending)| {
                Op::Combined { user, amount, c: Combined { part_pct, first, ending } }
            }),
        2 => (0..3u8, 1..200i64).prop_map(|(user, amount)| Op::BalancePay { user, amount }),
        5 => (any::<usize>(), 1..=110i64, any::<bool>(), refund_end())
            .prop_map(|(pick, pct, balance_first, then)| Op::Refund { pick, pct, balance_first, then }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(pick, succeed)| Op::Resolve { pick, succeed }),
    ]
}

fn seller(s: u8) -> AccountRef {
    AccountRef::seller(format!("s{s}"), Currency::CNY).unwrap()
}

fn user_id(u: u8) -> String {
    format!("u{u}")
}

fn user(u: &str) -> AccountRef {
    AccountRef::user(u, Currency::CNY).unwrap()
}

fn held(u: &str) -> AccountRef {
    user(u).held_twin().unwrap()
}

fn clearing(owner: &str) -> AccountRef {
    AccountRef::clearing(owner, Currency::CNY).unwrap()
}

fn external(owner: &str) -> AccountRef {
    AccountRef::external(owner, Currency::CNY).unwrap()
}

/// A paid order the model can refund.
#[derive(Debug, Clone)]
struct PaidOrder {
    order_id: String,
    amount: i64,
    /// The paying attempt ("" for a balance payment).
    attempt_id: String,
    /// Whose clearing account holds its money.
    owner: String,
    user: String,
    /// The captured balance part (0: none).
    part: i64,
    /// Business refunds not failed (in flight or succeeded).
    refunded: i64,
    /// The part of `refunded` taken from the balance part.
    part_refunded: i64,
}

/// A refund not finished yet.
#[derive(Debug, Clone)]
struct PendingRefund {
    refund: Refund,
    /// Index into `World::paid` for a business refund; `None` for an automatic one.
    paid: Option<usize>,
    owner: String,
    user: String,
    provider: i64,
    balance: i64,
}

struct World {
    store: std::sync::Arc<dyn Store>,
    line: BusinessLine,
    /// The model: balance per account.
    model: BTreeMap<AccountRef, i64>,
    /// How many entries the model posted.
    posted: usize,
    /// Entries already found balanced.
    checked: BTreeSet<String>,
    /// Withdrawals not yet finished.
    open: Vec<Payout>,
    /// Business payout numbers used, with their payout ids.
    used: BTreeMap<String, String>,
    /// Paid orders, in the order they were paid (indexes are stable).
    paid: Vec<PaidOrder>,
    /// Refunds not finished.
    refunds: Vec<PendingRefund>,
    /// Every order that took a balance part, with the part's status the model expects.
    parts: BTreeMap<String, BalancePartStatus>,
    refund_nos: u32,
    at_ms: i64,
}

impl World {
    fn now(&mut self) -> i64 {
        self.at_ms += 1;
        self.at_ms
    }

    /// The model's balance of `a`.
    fn bal(&self, a: &AccountRef) -> i64 {
        self.model.get(a).copied().unwrap_or(0)
    }

    /// An entry the test built and the store posted.
    fn apply(&mut self, e: &JournalEntry) {
        for l in e.lines() {
            *self.model.entry(l.account.clone()).or_default() += l.amount_minor;
        }
        self.posted += 1;
    }

    /// An entry the store posts of its own accord: `amount` from `from` to `to`.
    fn mv(&mut self, from: AccountRef, to: AccountRef, amount: i64) {
        assert!(amount > 0);
        *self.model.entry(from).or_default() -= amount;
        *self.model.entry(to).or_default() += amount;
        self.posted += 1;
    }

    fn entry(&mut self, e: JournalEntry, key: String) -> NewJournalEntry {
        NewJournalEntry {
            id: ids::new_id(ids::JOURNAL_ENTRY),
            business_line_id: BL.into(),
            reference: "model".into(),
            idempotency_key: key,
            created_at_ms: self.now(),
            entry: e,
        }
    }

    async fn post(&mut self, e: JournalEntry) {
        let key = ids::provider_no();
        let ne = self.entry(e, key);
        match self.store.ledger().post_entry(&ne).await.unwrap() {
            PostOutcome::Posted(_) => self.apply(&ne.entry),
            other => panic!("{other:?}"),
        }
    }

    async fn finish(&mut self, i: usize, to: PayoutStatus, via_processing: bool) {
        let store = self.store.clone();
        let l = store.ledger();
        let mut p = self.open.remove(i);
        if via_processing && p.status == PayoutStatus::Accepted {
            let u = update(&p, PayoutStatus::Processing, self.now());
            p = applied(l.update_payout(&p.id, &u, None).await.unwrap());
        }
        let funding = l
            .account(&p.funding_account_id)
            .await
            .unwrap()
            .unwrap()
            .account;
        let e = match to {
            PayoutStatus::Succeeded => movements::withdrawal_debit(&funding, MA, p.amount),
            _ => movements::release(&funding, p.amount),
        }
        .unwrap();
        let ne = self.entry(e, format!("end:{}", p.id));
        let u = update(&p, to, self.now());
        let done = applied(l.update_payout(&p.id, &u, Some(&ne)).await.unwrap());
        assert_eq!(done.final_entry_id.as_deref(), Some(ne.id.as_str()));
        self.apply(&ne.entry);
    }

    // ---- payments ----

    /// A new waiting order of `amount` bought by `buyer`.
    async fn order(&mut self, buyer: &str, amount: i64) -> PayOrder {
        let at = self.now();
        let o = NewPayOrder {
            id: ids::new_id(ids::PAY_ORDER),
            business_line_id: self.line.id.clone(),
            business_order_no: ids::new_id("SO"),
            amount: cny(amount),
            subject: "model".into(),
            buyer_id: Some(buyer.to_owned()),
            seller_id: None,
            facts_json: "{}".into(),
            metadata_json: "{}".into(),
            notify_url: self.line.notify_url.clone(),
            return_url: None,
            checkout_token: ids::random_token::<32>(),
            created_at_ms: at,
            expire_at_ms: fixtures::EXPIRE_AT,
        };
        match self.store.create_pay_order(&o).await.unwrap() {
            CreateOutcome::Created(p) => p,
            other => panic!("{other:?}"),
        }
    }

    /// A new attempt of `amount` (the whole order, or its provider part) at `MA`.
    async fn attempt(&mut self, order: &PayOrder, amount: i64) -> Attempt {
        let mut a = fixtures::new_attempt(order, self.now());
        a.amount = cny(amount);
        a.merchant_account = MA.into();
        match self.store.create_attempt(&a, 10).await {
            Ok(CreateAttemptOutcome::Created(x)) => x,
            other => panic!(
                "attempt of {amount} for order {} of {}: {other:?}",
                order.id,
                order.amount.minor()
            ),
        }
    }

    /// The provider reports `a` paid in full; the `ACQUIRING` entry is modelled here.
    async fn pay(&mut self, order: &PayOrder, a: &Attempt) -> PaymentOutcome {
        let s = fixtures::success(order, a, a.amount.minor(), self.now());
        let out = self.store.record_payment_success(&s).await.unwrap();
        self.mv(external(MA), clearing(MA), a.amount.minor());
        out
    }

    /// `pay`, which must make the order paid.
    async fn pay_order(&mut self, order: &PayOrder, a: &Attempt) {
        match self.pay(order, a).await {
            PaymentOutcome::Paid { order: o, attempt } => {
                assert_eq!(o.status, PayOrderStatus::Paid);
                assert_eq!(attempt.status, AttemptStatus::Succeeded);
                assert_eq!(attempt.flag, None);
            }
            other => panic!("expected paid: {other:?}"),
        }
    }

    /// `pay`, which must be flagged `LATE` and refunded automatically.
    async fn pay_late(&mut self, order: &PayOrder, a: &Attempt) {
        self.pay_flagged(order, a, AttemptFlag::Late).await;
        let now = self
            .store
            .pay_order(&order.id)
            .await
            .unwrap()
            .expect("order");
        assert_ne!(
            now.status,
            PayOrderStatus::Paid,
            "a late payment paid {}",
            order.id
        );
    }

    /// `pay`, which must be flagged `flag` and refunded automatically.
    async fn pay_flagged(&mut self, order: &PayOrder, a: &Attempt, flag: AttemptFlag) {
        match self.pay(order, a).await {
            PaymentOutcome::NotTheOrdersPayment {
                attempt,
                refund: Some(r),
            } => {
                assert_eq!(attempt.flag, Some(flag));
                let kind = match flag {
                    AttemptFlag::Late => RefundKind::Late,
                    AttemptFlag::Duplicate => RefundKind::Duplicate,
                    AttemptFlag::AmountMismatch => RefundKind::AmountMismatch,
                };
                assert_eq!(r.kind, kind);
                assert_eq!(r.amount, a.amount);
                assert_eq!(r.balance_amount_minor, 0);
                assert_eq!(r.status, RefundStatus::Pending);
                self.refunds.push(PendingRefund {
                    refund: r,
                    paid: None,
                    owner: MA.into(),
                    user: String::new(),
                    provider: a.amount.minor(),
                    balance: 0,
                });
            }
            other => panic!("expected a {flag:?} payment: {other:?}"),
        }
    }

    async fn close_attempt(&mut self, a: &Attempt) {
        let u = AttemptUpdate {
            from: a.status,
            to: AttemptStatus::Closed,
            provider_txn_id: None,
            next_query_at_ms: None,
            now_ms: self.now(),
        };
        applied(self.store.update_attempt(&a.id, &u).await.unwrap());
    }

    async fn close(&mut self, order: &PayOrder) -> Transition<PayOrder> {
        let now = self.now();
        let e = fixtures::event(order, EventType::PayOrderClosed, now);
        self.store
            .close_pay_order(&order.id, now, &e)
            .await
            .unwrap()
    }

    async fn close_applied(&mut self, order: &PayOrder) {
        let o = applied(self.close(order).await);
        assert_eq!(o.status, PayOrderStatus::Closed);
    }

    async fn expect_part(&self, order_id: &str, status: BalancePartStatus, amount: i64) {
        let p = self
            .store
            .balance_part(order_id)
            .await
            .unwrap()
            .expect("balance part");
        assert_eq!(p.status, status, "balance part of {order_id}");
        assert_eq!(p.amount.minor(), amount, "balance part of {order_id}");
    }

    async fn plain(&mut self, buyer: &str, amount: i64) {
        let o = self.order(buyer, amount).await;
        let a = self.attempt(&o, amount).await;
        self.pay_order(&o, &a).await;
        self.paid.push(PaidOrder {
            order_id: o.id,
            amount,
            attempt_id: a.id,
            owner: MA.into(),
            user: buyer.to_owned(),
            part: 0,
            refunded: 0,
            part_refunded: 0,
        });
    }

    /// Holds `part` of order `o` for its buyer `u`, the part held now being `current`;
    /// checks the outcome against the model and returns the part held after.
    async fn hold(
        &mut self,
        o: &PayOrder,
        u: &str,
        part: i64,
        current: Option<i64>,
    ) -> Option<i64> {
        let available = self.bal(&user(u));
        let hold = HoldBalance {
            pay_order_id: o.id.clone(),
            amount_minor: part,
            now_ms: self.now(),
        };
        let before = self.store.balance_part(&o.id).await.unwrap();
        let out = self.store.hold_balance_part(&hold).await.unwrap();
        if current == Some(part) {
            // Held for the same amount already: nothing changes.
            assert_eq!(out, HoldOutcome::Held(before.expect("held part")));
            return current;
        }
        // A part held for another amount is released first, in the same transaction.
        if available + current.unwrap_or(0) < part {
            assert_eq!(
                out,
                HoldOutcome::Insufficient {
                    available_minor: available
                },
                "hold of {part} of {available} (held {current:?})"
            );
            // Nothing changed: not even the release of the part held before.
            assert_eq!(self.store.balance_part(&o.id).await.unwrap(), before);
            return current;
        }
        let HoldOutcome::Held(p) = out else {
            panic!("hold of {part} of {available} (held {current:?}): {out:?}");
        };
        assert_eq!(
            (p.status, p.amount.minor(), p.user_id.as_str()),
            (BalancePartStatus::Held, part, u)
        );
        if let Some(c) = current {
            self.mv(held(u), user(u), c);
        }
        self.mv(user(u), held(u), part);
        self.parts.insert(o.id.clone(), BalancePartStatus::Held);
        Some(part)
    }

    async fn combined(&mut self, u: &str, amount: i64, c: &Combined) {
        let o = self.order(u, amount).await;
        let pct = |p: i64| (amount * p / 100).clamp(1, amount - 1);
        let mut current = None;
        if let Some((first_pct, release)) = c.first {
            current = self.hold(&o, u, pct(first_pct), None).await;
            if let (Some(h), true) = (current, release) {
                let now = self.now();
                let r = self.store.release_balance_part(&o.id, now).await.unwrap();
                assert_eq!(r.expect("balance part").status, BalancePartStatus::Released);
                self.mv(held(u), user(u), h);
                self.parts.insert(o.id.clone(), BalancePartStatus::Released);
                current = None;
            }
        }
        let current = self.hold(&o, u, pct(c.part_pct), current).await;
        // Holding the same amount again changes nothing.
        let current = self.hold(&o, u, pct(c.part_pct), current).await;
        let ending = c.ending;
        let Some(part) = current else {
            // Never held, or released: the part (if any) stays released.
            if let Some(want) = self.parts.get(&o.id).copied() {
                assert_eq!(want, BalancePartStatus::Released);
                let p = self.store.balance_part(&o.id).await.unwrap().unwrap();
                assert_eq!(p.status, want);
            } else {
                assert_eq!(self.store.balance_part(&o.id).await.unwrap(), None);
            }
            match ending {
                Ending::Whole => {
                    // The buyer pays it all through the provider instead.
                    let a = self.attempt(&o, amount).await;
                    self.pay_order(&o, &a).await;
                    self.paid.push(PaidOrder {
                        order_id: o.id,
                        amount,
                        attempt_id: a.id,
                        owner: MA.into(),
                        user: u.to_owned(),
                        part: 0,
                        refunded: 0,
                        part_refunded: 0,
                    });
                }
                _ => self.close_applied(&o).await,
            }
            return;
        };
        let a = self.attempt(&o, amount - part).await;
        let mut final_part = part;
        let end = match ending {
            Ending::Pay => {
                self.pay_order(&o, &a).await;
                self.mv(held(u), clearing(MA), part);
                self.paid.push(PaidOrder {
                    order_id: o.id.clone(),
                    amount,
                    attempt_id: a.id.clone(),
                    owner: MA.into(),
                    user: u.to_owned(),
                    part,
                    refunded: 0,
                    part_refunded: 0,
                });
                BalancePartStatus::Captured
            }
            Ending::Close { late } => {
                // The store refuses to close an order whose attempt is open.
                match self.close(&o).await {
                    Transition::Refused(Some(x)) => assert_eq!(x.status, PayOrderStatus::Waiting),
                    other => panic!("closed with an open attempt: {other:?}"),
                }
                self.expect_part(&o.id, BalancePartStatus::Held, part).await;
                self.close_attempt(&a).await;
                self.close_applied(&o).await;
                self.mv(held(u), user(u), part);
                if late {
                    let a = self.store.attempt(&a.id).await.unwrap().unwrap();
                    self.pay_late(&o, &a).await;
                }
                BalancePartStatus::Released
            }
            Ending::ReleaseThenPay => {
                // While the attempt for the rest is open the hold stays: it relies on it.
                let now = self.now();
                let r = self.store.release_balance_part(&o.id, now).await.unwrap();
                assert_eq!(r.expect("balance part").status, BalancePartStatus::Held);
                self.expect_part(&o.id, BalancePartStatus::Held, part).await;
                // Closed (the buyer chose again, or it timed out): now it goes back.
                self.close_attempt(&a).await;
                let now = self.now();
                let r = self.store.release_balance_part(&o.id, now).await.unwrap();
                let r = r.expect("balance part");
                assert_eq!(r.status, BalancePartStatus::Released);
                self.mv(held(u), user(u), part);
                let a = self.store.attempt(&a.id).await.unwrap().unwrap();
                self.pay_late(&o, &a).await;
                // Its attempt is no longer open: the order closes.
                self.close_applied(&o).await;
                BalancePartStatus::Released
            }
            Ending::Whole => {
                self.close_attempt(&a).await;
                let whole = self.attempt(&o, amount).await;
                self.pay_order(&o, &whole).await;
                // Paid wholly by the provider: the part goes back.
                self.mv(held(u), user(u), part);
                self.paid.push(PaidOrder {
                    order_id: o.id.clone(),
                    amount,
                    attempt_id: whole.id.clone(),
                    owner: MA.into(),
                    user: u.to_owned(),
                    part: 0,
                    refunded: 0,
                    part_refunded: 0,
                });
                BalancePartStatus::Released
            }
            Ending::Switch { part_pct } => {
                self.close_attempt(&a).await;
                let first = self.store.attempt(&a.id).await.unwrap().unwrap();
                let part = self
                    .hold(&o, u, pct(part_pct), Some(part))
                    .await
                    .expect("a held part stays held");
                final_part = part;
                let second = self.attempt(&o, amount - part).await;
                self.pay_order(&o, &second).await;
                self.mv(held(u), clearing(MA), part);
                self.paid.push(PaidOrder {
                    order_id: o.id.clone(),
                    amount,
                    attempt_id: second.id.clone(),
                    owner: MA.into(),
                    user: u.to_owned(),
                    part,
                    refunded: 0,
                    part_refunded: 0,
                });
                // The first attempt's money arrives after all: not the order's.
                self.pay_flagged(&o, &first, AttemptFlag::Duplicate).await;
                BalancePartStatus::Captured
            }
        };
        self.expect_part(&o.id, end, final_part).await;
        self.parts.insert(o.id, end);
    }

    async fn balance_pay(&mut self, u: &str, amount: i64) {
        let o = self.order(u, amount).await;
        let available = self.bal(&user(u));
        let now = self.now();
        let bp = BalancePayment {
            pay_order_id: o.id.clone(),
            now_ms: now,
            paid_event: fixtures::event(&o, EventType::PayOrderPaid, now),
        };
        match self.store.pay_with_balance(&bp).await.unwrap() {
            BalancePaymentOutcome::Paid { order, part } if available >= amount => {
                assert_eq!(order.status, PayOrderStatus::Paid);
                assert_eq!(
                    (part.status, part.amount.minor()),
                    (BalancePartStatus::Captured, amount)
                );
                self.mv(user(u), held(u), amount);
                self.mv(held(u), clearing(BALANCE_CLEARING_OWNER), amount);
                self.parts.insert(o.id.clone(), BalancePartStatus::Captured);
                self.paid.push(PaidOrder {
                    order_id: o.id,
                    amount,
                    attempt_id: String::new(),
                    owner: BALANCE_CLEARING_OWNER.into(),
                    user: u.to_owned(),
                    part: amount,
                    refunded: 0,
                    part_refunded: 0,
                });
            }
            BalancePaymentOutcome::Insufficient { available_minor } if available < amount => {
                assert_eq!(available_minor, available);
                assert_eq!(self.store.balance_part(&o.id).await.unwrap(), None);
                self.close_applied(&o).await;
            }
            other => panic!("balance payment of {amount} of {available}: {other:?}"),
        }
    }

    // ---- refunds ----

    async fn refund(&mut self, pick: usize, pct: i64, balance_first: bool, then: RefundEnd) {
        if self.paid.is_empty() {
            return;
        }
        let i = pick % self.paid.len();
        let p = self.paid[i].clone();
        let amount = (p.amount * pct / 100).max(1);
        let funds = if balance_first {
            RefundFunds::BalanceFirst
        } else {
            RefundFunds::ThirdPartyFirst
        };
        self.refund_nos += 1;
        let nr = NewRefund {
            id: ids::new_id("rf"),
            pay_order_id: p.order_id.clone(),
            attempt_id: p.attempt_id.clone(),
            refund_no: ids::random_hex::<12>(),
            business_refund_no: Some(format!("r{}", self.refund_nos)),
            kind: RefundKind::Business,
            amount: cny(amount),
            reason: Some("model".into()),
            created_at_ms: self.now(),
            funds,
        };
        let left = p.amount - p.refunded;
        let out = self.store.create_refund(&nr, 50).await.unwrap();
        if amount > left {
            assert_eq!(
                out,
                CreateRefundOutcome::ExceedsRefundable {
                    refundable_minor: left
                },
                "refund of {amount} of {p:?}"
            );
            return;
        }
        let CreateRefundOutcome::Created(r) = out else {
            panic!("refund of {amount} of {p:?}: {out:?}");
        };
        // The model's split: what is left of each part, the asked part first.
        let provider_left = (p.amount - p.part) - (p.refunded - p.part_refunded);
        let balance_left = p.part - p.part_refunded;
        let balance = match funds {
            RefundFunds::BalanceFirst => amount.min(balance_left),
            RefundFunds::ThirdPartyFirst => amount - amount.min(provider_left),
        };
        assert!(balance <= balance_left && amount - balance <= provider_left);
        assert_eq!(
            (r.status, r.amount.minor(), r.balance_amount_minor),
            (RefundStatus::Pending, amount, balance),
            "refund of {amount} ({funds:?}) of {p:?}"
        );
        self.paid[i].refunded += amount;
        self.paid[i].part_refunded += balance;
        self.check_refunded(i).await;
        self.refunds.push(PendingRefund {
            refund: r,
            paid: Some(i),
            owner: p.owner,
            user: p.user,
            provider: amount - balance,
            balance,
        });
        let last = self.refunds.len() - 1;
        match then {
            RefundEnd::Succeed => self.resolve(last, RefundStatus::Succeeded, false).await,
            RefundEnd::Fail => self.resolve(last, RefundStatus::Failed, false).await,
            RefundEnd::ViaProcessing { succeed } => {
                let to = if succeed {
                    RefundStatus::Succeeded
                } else {
                    RefundStatus::Failed
                };
                self.resolve(last, to, true).await;
            }
            RefundEnd::Leave => {}
        }
    }

    /// The order's refunded amount and its balance part's, against the model.
    async fn check_refunded(&self, i: usize) {
        let p = &self.paid[i];
        let o = self.store.pay_order(&p.order_id).await.unwrap().unwrap();
        assert_eq!(o.status, PayOrderStatus::Paid);
        assert_eq!(o.refunded_amount_minor, p.refunded, "{p:?}");
        if p.part > 0 {
            let b = self.store.balance_part(&p.order_id).await.unwrap().unwrap();
            assert_eq!(b.status, BalancePartStatus::Captured);
            assert_eq!(b.refunded_minor, p.part_refunded, "{p:?}");
        }
    }

    /// Finishes refund `k` of `self.refunds` as `to`.
    async fn resolve(&mut self, k: usize, to: RefundStatus, via_processing: bool) {
        let pr = self.refunds.remove(k);
        let mut r = pr.refund;
        // A stale version is refused and changes nothing.
        let mut stale = fixtures::refund_to(&r, to, self.now());
        stale.expected_version += 1;
        match self.store.update_refund(&r.id, &stale).await.unwrap() {
            Transition::Refused(Some(x)) => assert_eq!(x.status, r.status),
            other => panic!("stale refund update: {other:?}"),
        }
        if via_processing {
            let u = fixtures::refund_to(&r, RefundStatus::Processing, self.now());
            r = applied(self.store.update_refund(&r.id, &u).await.unwrap());
        }
        let u = fixtures::refund_to(&r, to, self.now());
        let done = applied(self.store.update_refund(&r.id, &u).await.unwrap());
        assert_eq!(done.status, to);
        assert_eq!(done.balance_amount_minor, pr.balance);
        // Terminal: a second update is refused (the money never moves twice).
        let again = fixtures::refund_to(&done, to, self.now());
        match self.store.update_refund(&r.id, &again).await.unwrap() {
            Transition::Refused(Some(x)) => assert_eq!(x.status, to),
            other => panic!("second terminal refund update: {other:?}"),
        }
        match to {
            RefundStatus::Succeeded => {
                if pr.provider > 0 {
                    self.mv(clearing(&pr.owner), external(&pr.owner), pr.provider);
                }
                if pr.balance > 0 {
                    self.mv(clearing(&pr.owner), user(&pr.user), pr.balance);
                }
            }
            _ => {
                if let Some(i) = pr.paid {
                    self.paid[i].refunded -= r.amount.minor();
                    self.paid[i].part_refunded -= pr.balance;
                }
            }
        }
        if let Some(i) = pr.paid {
            self.check_refunded(i).await;
        }
    }

    // ---- checks ----

    async fn check(&mut self) {
        let l = self.store.ledger();
        let mut accounts = Vec::new();
        let mut after: Option<String> = None;
        loop {
            let page = l
                .list_accounts(&AccountFilter::default(), after.as_deref(), MAX_PAGE)
                .await
                .unwrap();
            let n = page.len();
            after = page.last().map(|a| a.id.clone());
            accounts.extend(page);
            if n < usize::try_from(MAX_PAGE).unwrap() {
                break;
            }
        }
        let mut entries = BTreeSet::new();
        let mut seen = BTreeSet::new();
        for acc in &accounts {
            let a = &acc.account;
            seen.insert(a.clone());
            let c = l.verify_account(&acc.id).await.unwrap().unwrap();
            assert!(c.is_consistent(), "{a}: {c:?}");
            assert_eq!(c.balance_minor, self.bal(a), "{a}");
            if !a.allows_negative() {
                assert!(c.balance_minor >= 0, "{a} went negative");
            }
            let mut before = None;
            loop {
                let page = l.statement(&acc.id, before, MAX_PAGE).await.unwrap();
                before = page.last().map(|x| x.account_version);
                let n = page.len();
                entries.extend(page.into_iter().map(|x| x.entry_id));
                if n < usize::try_from(MAX_PAGE).unwrap() {
                    break;
                }
            }
        }
        for (a, v) in &self.model {
            assert!(
                *v == 0 || seen.contains(a),
                "{a} holds {v} but was never opened"
            );
        }
        assert_eq!(entries.len(), self.posted, "entries posted");
        for id in entries {
            if self.checked.contains(&id) {
                continue;
            }
            let e = l.entry(&id).await.unwrap().unwrap();
            assert_eq!(
                e.lines.iter().map(|x| x.amount_minor).sum::<i64>(),
                0,
                "{e:?}"
            );
            self.checked.insert(id);
        }
    }
}

fn update(p: &Payout, to: PayoutStatus, at_ms: i64) -> PayoutUpdate {
    PayoutUpdate {
        from: p.status,
        expected_version: p.version,
        status: to,
        provider_transfer_id: None,
        package_info: None,
        failure_code: None,
        failure_message: None,
        count_try: true,
        next_action_at_ms: Some(at_ms + 10),
        last_error: None,
        now_ms: at_ms,
        event: None,
    }
}

fn applied<T: std::fmt::Debug>(t: Transition<T>) -> T {
    match t {
        Transition::Applied(v) => v,
        other => panic!("expected applied, got {other:?}"),
    }
}

fn new_payout(kind: PayoutKind, no: String, funding: AccountRef, minor: i64, at: i64) -> NewPayout {
    NewPayout {
        id: ids::new_id(ids::PAYOUT),
        kind,
        business_line_id: BL.into(),
        business_payout_no: no,
        payout_no: ids::provider_no(),
        provider: Provider::Alipay,
        merchant_account: MA.into(),
        recipient: "2088102146225135".into(),
        recipient_name: Some("Zhang San".into()),
        amount: cny(minor),
        remark: "model".into(),
        notify_url: "https://bl.example/n".into(),
        funding,
        created_at_ms: at,
        daily_limit: None,
    }
}

async fn run(ops: Vec<Op>) {
    let db = fresh(Backend::Sqlite).await.unwrap().unwrap();
    let line = fixtures::new_line(db.store.as_ref()).await;
    let mut w = World {
        store: db.store,
        line,
        model: BTreeMap::new(),
        posted: 0,
        checked: BTreeSet::new(),
        open: Vec::new(),
        used: BTreeMap::new(),
        paid: Vec::new(),
        refunds: Vec::new(),
        parts: BTreeMap::new(),
        refund_nos: 0,
        // After the line's creation; every order expires long after the last step.
        at_ms: fixtures::CREATED_AT,
    };
    // Every buyer starts with some balance, so that early holds can succeed too.
    for u in 0..3 {
        w.post(movements::credit(BL, &user_id(u), cny(200)).unwrap())
            .await;
    }
    for op in ops {
        match op {
            Op::Sale {
                seller: s,
                amount,
                commission,
            } => {
                w.post(movements::acquiring(MA, cny(amount)).unwrap()).await;
                let cut = (commission.min(amount) > 0).then(|| (BL, cny(commission.min(amount))));
                w.post(
                    movements::settle(&clearing(MA), &format!("s{s}"), cny(amount), cut).unwrap(),
                )
                .await;
            }
            Op::Withdraw {
                seller: s,
                amount,
                no,
            } => {
                let no = format!("w{no}");
                let at = w.now();
                let np = new_payout(PayoutKind::Withdrawal, no.clone(), seller(s), amount, at);
                let hold = w.entry(
                    movements::hold(&seller(s), cny(amount)).unwrap(),
                    format!("hold:{}", np.id),
                );
                let available = w.bal(&seller(s));
                match w
                    .store
                    .ledger()
                    .create_withdrawal(&np, &hold)
                    .await
                    .unwrap()
                {
                    CreatePayoutOutcome::Created(p) => {
                        assert!(!w.used.contains_key(&no));
                        assert!(available >= amount, "held {amount} of {available}");
                        w.apply(&hold.entry);
                        w.used.insert(no, p.id.clone());
                        w.open.push(p);
                    }
                    CreatePayoutOutcome::Existing(p) => assert_eq!(w.used.get(&no), Some(&p.id)),
                    CreatePayoutOutcome::Insufficient { .. } => {
                        assert!(!w.used.contains_key(&no));
                        assert!(available < amount, "refused {amount} of {available}");
                    }
                    CreatePayoutOutcome::LimitExceeded { .. } => {
                        unreachable!("no daily limit is given")
                    }
                }
            }
            Op::Succeed { pick } if !w.open.is_empty() => {
                let i = pick % w.open.len();
                w.finish(i, PayoutStatus::Succeeded, true).await;
            }
            Op::Fail {
                pick,
                via_processing,
            } if !w.open.is_empty() => {
                let i = pick % w.open.len();
                let to = if via_processing {
                    PayoutStatus::Failed
                } else {
                    PayoutStatus::Cancelled
                };
                w.finish(i, to, via_processing).await;
            }
            Op::Stale { pick } if !w.open.is_empty() => {
                let p = w.open[pick % w.open.len()].clone();
                let mut u = update(&p, PayoutStatus::Cancelled, w.now());
                u.expected_version += 1;
                let funding = w
                    .store
                    .ledger()
                    .account(&p.funding_account_id)
                    .await
                    .unwrap()
                    .unwrap()
                    .account;
                let rel = w.entry(
                    movements::release(&funding, p.amount).unwrap(),
                    format!("stale:{}", p.id),
                );
                let r = w
                    .store
                    .ledger()
                    .update_payout(&p.id, &u, Some(&rel))
                    .await
                    .unwrap();
                assert_eq!(r, Transition::Refused(Some(p)));
                assert!(w.store.ledger().entry(&rel.id).await.unwrap().is_none());
            }
            Op::Payout { amount, succeed } => {
                let funding = AccountRef::platform_funding(BL, Currency::CNY).unwrap();
                let at = w.now();
                let np = new_payout(PayoutKind::Payout, ids::provider_no(), funding, amount, at);
                let CreatePayoutOutcome::Created(p) =
                    w.store.ledger().create_payout(&np).await.unwrap()
                else {
                    panic!("payout not created");
                };
                let p = applied(
                    w.store
                        .ledger()
                        .update_payout(&p.id, &update(&p, PayoutStatus::Processing, at), None)
                        .await
                        .unwrap(),
                );
                if succeed {
                    let ne = w.entry(
                        movements::payout(BL, MA, p.amount).unwrap(),
                        format!("payout:{}", p.id),
                    );
                    applied(
                        w.store
                            .ledger()
                            .update_payout(
                                &p.id,
                                &update(&p, PayoutStatus::Succeeded, at),
                                Some(&ne),
                            )
                            .await
                            .unwrap(),
                    );
                    w.apply(&ne.entry);
                } else {
                    applied(
                        w.store
                            .ledger()
                            .update_payout(&p.id, &update(&p, PayoutStatus::Failed, at), None)
                            .await
                            .unwrap(),
                    );
                }
            }
            Op::Credit { user: u, amount } => {
                w.post(movements::credit(BL, &user_id(u), cny(amount)).unwrap())
                    .await;
            }
            Op::Plain { user: u, amount } => w.plain(&user_id(u), amount).await,
            Op::Combined { user: u, amount, c } => w.combined(&user_id(u), amount, &c).await,
            Op::BalancePay { user: u, amount } => w.balance_pay(&user_id(u), amount).await,
            Op::Refund {
                pick,
                pct,
                balance_first,
                then,
            } => w.refund(pick, pct, balance_first, then).await,
            Op::Resolve { pick, succeed } if !w.refunds.is_empty() => {
                let k = pick % w.refunds.len();
                let to = if succeed {
                    RefundStatus::Succeeded
                } else {
                    RefundStatus::Failed
                };
                w.resolve(k, to, false).await;
            }
            _ => {}
        }
        w.check().await;
    }
    // Every hold and refund ends: finish what is open, alternating outcomes.
    let mut n = 0;
    while !w.open.is_empty() {
        let to = if n % 2 == 0 {
            PayoutStatus::Succeeded
        } else {
            PayoutStatus::Failed
        };
        w.finish(0, to, true).await;
        n += 1;
    }
    while !w.refunds.is_empty() {
        let to = if n % 2 == 0 {
            RefundStatus::Succeeded
        } else {
            RefundStatus::Failed
        };
        w.resolve(0, to, n % 3 == 0).await;
        n += 1;
    }
    w.check().await;
    for (order_id, want) in &w.parts {
        let p = w.store.balance_part(order_id).await.unwrap().unwrap();
        assert_eq!(p.status, *want, "balance part of {order_id}");
        assert_ne!(p.status, BalancePartStatus::Held, "{order_id}");
    }
    for i in 0..w.paid.len() {
        w.check_refunded(i).await;
    }
    for s in 0..3 {
        let l = w.store.ledger();
        assert_eq!(l.balance(&seller(s).held_twin().unwrap()).await.unwrap(), 0);
        assert_eq!(l.balance(&held(&user_id(s))).await.unwrap(), 0);
    }
    assert_eq!(w.model.values().sum::<i64>(), 0);
    let mut total = 0;
    for a in w.model.keys() {
        total += w.store.ledger().balance(a).await.unwrap();
    }
    assert_eq!(total, 0, "all balances sum to zero");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn ledger_stays_balanced_and_holds_always_end(ops in proptest::collection::vec(op(), 1..48)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(ops));
    }
}
