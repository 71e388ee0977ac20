//! Model-based property test of the ledger on SQLite: random interleavings of sales
//! (acquiring + settlement to a seller, some with commission), withdrawals (hold), their
//! success (debit), failure or cancellation (release), stale updates, repeated business
//! numbers and platform payouts are applied to the store and to a plain in-memory model.
//! After every step:
//! * every entry posted is balanced (its stored lines sum to zero);
//! * every account's cached balance equals the sum of its lines and the model's balance;
//! * no seller balance (available or held) is ever negative;
//! * a withdrawal is created iff the model says the available balance covers it.
//!
//! At the end every open withdrawal is finished, and every hold has ended released or
//! debited: all held balances are zero, and all balances together sum to zero.

use paydesk_core::ledger::{movements, AccountRef, JournalEntry};
use paydesk_core::{ids, Currency, PayoutKind, PayoutStatus, Provider};
use paydesk_store::testing::fixtures::cny;
use paydesk_store::testing::fresh;
use paydesk_store::*;
use proptest::prelude::*;
use std::collections::BTreeMap;

const BL: &str = "bl_model";
const MA: &str = "wx-model";

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
    ]
}

fn seller(s: u8) -> AccountRef {
    AccountRef::seller(format!("s{s}"), Currency::CNY).unwrap()
}

struct World {
    store: std::sync::Arc<dyn Store>,
    /// The model: balance per account.
    model: BTreeMap<AccountRef, i64>,
    /// Every entry posted.
    entries: Vec<String>,
    /// Withdrawals not yet finished.
    open: Vec<Payout>,
    /// Business payout numbers used, with their payout ids.
    used: BTreeMap<String, String>,
    at_ms: i64,
}

impl World {
    fn now(&mut self) -> i64 {
        self.at_ms += 1;
        self.at_ms
    }

    fn apply(&mut self, e: &JournalEntry) {
        for l in e.lines() {
            *self.model.entry(l.account.clone()).or_default() += l.amount_minor;
        }
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
            PostOutcome::Posted(p) => {
                self.apply(&ne.entry);
                self.entries.push(p.id);
            }
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
        self.entries.push(ne.id);
    }

    async fn check(&self) {
        let l = self.store.ledger();
        for (a, want) in &self.model {
            let acc = l.account_by_ref(a).await.unwrap().expect("opened");
            let c = l.verify_account(&acc.id).await.unwrap().unwrap();
            assert!(c.is_consistent(), "{a}: {c:?}");
            assert_eq!(c.balance_minor, *want, "{a}");
            if !a.allows_negative() {
                assert!(c.balance_minor >= 0, "{a} went negative");
            }
        }
        for id in &self.entries {
            let e = l.entry(id).await.unwrap().unwrap();
            assert_eq!(e.lines.iter().map(|x| x.amount_minor).sum::<i64>(), 0);
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
    let mut w = World {
        store: db.store,
        model: BTreeMap::new(),
        entries: Vec::new(),
        open: Vec::new(),
        used: BTreeMap::new(),
        at_ms: 0,
    };
    for op in ops {
        match op {
            Op::Sale {
                seller: s,
                amount,
                commission,
            } => {
                w.post(movements::acquiring(MA, cny(amount)).unwrap()).await;
                let clearing = AccountRef::clearing(MA, Currency::CNY).unwrap();
                let cut = (commission.min(amount) > 0).then(|| (BL, cny(commission.min(amount))));
                w.post(movements::settle(&clearing, &format!("s{s}"), cny(amount), cut).unwrap())
                    .await;
                // Opened even when the whole sale was commission, so the check sees it.
                w.model.entry(seller(s)).or_default();
                w.store
                    .ledger()
                    .ensure_account(&seller(s), 0)
                    .await
                    .unwrap();
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
                let available = w.model.get(&seller(s)).copied().unwrap_or(0);
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
                        w.entries.push(hold.id.clone());
                        w.used.insert(no, p.id.clone());
                        w.open.push(p);
                    }
                    CreatePayoutOutcome::Existing(p) => assert_eq!(w.used.get(&no), Some(&p.id)),
                    CreatePayoutOutcome::Insufficient { .. } => {
                        assert!(!w.used.contains_key(&no));
                        assert!(available < amount, "refused {amount} of {available}");
                        w.model.entry(seller(s)).or_default();
                        w.model.entry(seller(s).held_twin().unwrap()).or_default();
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
                    w.entries.push(ne.id);
                } else {
                    applied(
                        w.store
                            .ledger()
                            .update_payout(&p.id, &update(&p, PayoutStatus::Failed, at), None)
                            .await
                            .unwrap(),
                    );
                }
                w.model
                    .entry(AccountRef::platform_funding(BL, Currency::CNY).unwrap())
                    .or_default();
            }
            _ => {}
        }
        w.check().await;
    }
    // Every hold ends: finish what is open, alternating outcomes.
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
    w.check().await;
    for s in 0..3 {
        assert_eq!(
            w.store
                .ledger()
                .balance(&seller(s).held_twin().unwrap())
                .await
                .unwrap(),
            0
        );
    }
    assert_eq!(w.model.values().sum::<i64>(), 0);
    let mut total = 0;
    for a in w.model.keys() {
        total += w.store.ledger().balance(a).await.unwrap();
    }
    assert_eq!(total, 0, "all balances sum to zero");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn ledger_stays_balanced_and_holds_always_end(ops in proptest::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        rt.block_on(run(ops));
    }
}
