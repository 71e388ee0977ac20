//! The store contract for the balance ledger, payouts and withdrawals: the same tests
//! against every backend (see `contract.rs` for the set-up), and through a `TieredStore`.

use paydesk_core::ledger::{movements, AccountRef, EntryKind, JournalEntry};
use paydesk_core::{ids, Currency, EventType, PayoutKind, PayoutStatus, Provider};
use paydesk_store::testing::fixtures::cny;
use paydesk_store::testing::TestDb;
use paydesk_store::*;
use std::sync::Arc;

const BL: &str = "bl_ledger";

fn user(id: &str) -> AccountRef {
    AccountRef::user(id, Currency::CNY).unwrap()
}

fn new_entry(entry: JournalEntry, key: &str, at_ms: i64) -> NewJournalEntry {
    NewJournalEntry {
        id: ids::new_id(ids::JOURNAL_ENTRY),
        business_line_id: BL.into(),
        reference: format!("ref-{key}"),
        idempotency_key: key.into(),
        created_at_ms: at_ms,
        entry,
    }
}

fn posted(o: PostOutcome) -> PostedEntry {
    match o {
        PostOutcome::Posted(p) => p,
        other => panic!("expected posted, got {other:?}"),
    }
}

/// Puts `minor` on a user's available balance (a seller settlement into a user-kind
/// account is not a thing, so the test funds users with an adjustment from the platform).
async fn fund_user(l: &dyn LedgerStore, user_id: &str, minor: i64, key: &str) {
    let e = movements::transfer(
        EntryKind::Adjustment,
        &AccountRef::platform_funding(BL, Currency::CNY).unwrap(),
        &user(user_id),
        cny(minor),
    )
    .unwrap();
    posted(l.post_entry(&new_entry(e, key, 1)).await.unwrap());
}

async fn assert_consistent(l: &dyn LedgerStore, a: &AccountRef) -> i64 {
    let acc = l.account_by_ref(a).await.unwrap().expect("account opened");
    let check = l.verify_account(&acc.id).await.unwrap().unwrap();
    assert!(check.is_consistent(), "{a}: {check:?}");
    assert_eq!(check.balance_minor, acc.balance_minor);
    check.balance_minor
}

fn new_payout(kind: PayoutKind, no: &str, funding: AccountRef, minor: i64) -> NewPayout {
    NewPayout {
        id: ids::new_id(ids::PAYOUT),
        kind,
        business_line_id: BL.into(),
        business_payout_no: no.into(),
        payout_no: ids::provider_no(),
        provider: Provider::Wechatpay,
        merchant_account: "wx-main".into(),
        recipient: "o4GgauInH_RCEdvrrNGrntXDuXXX".into(),
        recipient_name: None,
        amount: cny(minor),
        remark: "withdrawal".into(),
        notify_url: "https://bl.example/notify".into(),
        funding,
        created_at_ms: 10,
        daily_limit: None,
    }
}

fn hold_for(p: &NewPayout) -> NewJournalEntry {
    new_entry(
        movements::hold(&p.funding, p.amount).unwrap(),
        &format!("hold:{}", p.id),
        p.created_at_ms,
    )
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
        next_action_at_ms: Some(at_ms + 1_000),
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

fn created(o: CreatePayoutOutcome) -> Payout {
    match o {
        CreatePayoutOutcome::Created(p) => p,
        other => panic!("expected created, got {other:?}"),
    }
}

async fn posting_balances_and_is_idempotent(store: Arc<dyn Store>) {
    let l = store.ledger();
    let clearing = AccountRef::clearing("wx-main", Currency::CNY).unwrap();
    let external = AccountRef::external("wx-main", Currency::CNY).unwrap();
    let seller = AccountRef::seller("s-1", Currency::CNY).unwrap();
    let commission = AccountRef::platform_commission(BL, Currency::CNY).unwrap();
    assert_eq!(l.balance(&clearing).await.unwrap(), 0, "never opened");

    let acq = new_entry(
        movements::acquiring("wx-main", cny(1_000)).unwrap(),
        "po-1",
        5,
    );
    let p = posted(l.post_entry(&acq).await.unwrap());
    assert_eq!(p.lines.len(), 2);
    assert_eq!(l.balance(&external).await.unwrap(), -1_000);
    assert_eq!(l.balance(&clearing).await.unwrap(), 1_000);

    let settle = movements::settle(&clearing, "s-1", cny(1_000), Some((BL, cny(100)))).unwrap();
    let first = posted(
        l.post_entry(&new_entry(settle.clone(), "st-1", 6))
            .await
            .unwrap(),
    );
    assert_eq!(l.balance(&seller).await.unwrap(), 900);
    assert_eq!(l.balance(&commission).await.unwrap(), 100);
    assert_eq!(l.balance(&clearing).await.unwrap(), 0);
    // The stored entry is what was posted, with each account's running balance.
    let stored = l.entry(&first.id).await.unwrap().unwrap();
    assert_eq!(stored, first);
    assert_eq!(stored.kind, EntryKind::Settlement);
    let seller_line = stored.lines.iter().find(|x| x.amount_minor == 900).unwrap();
    assert_eq!(seller_line.balance_after_minor, 900);
    assert_eq!(seller_line.account_version, 1);
    assert_eq!(stored.lines.iter().map(|x| x.amount_minor).sum::<i64>(), 0);

    // The same settlement number again: nothing moves, the first entry is named.
    let again = l.post_entry(&new_entry(settle, "st-1", 7)).await.unwrap();
    assert_eq!(
        again,
        PostOutcome::Duplicate {
            entry_id: first.id.clone()
        }
    );
    assert_eq!(l.balance(&seller).await.unwrap(), 900);
    // Keys are per kind: the same text under another kind is another movement.
    posted(
        l.post_entry(&new_entry(
            movements::refund("wx-main", cny(30)).unwrap(),
            "st-1",
            8,
        ))
        .await
        .unwrap(),
    );
    assert_eq!(
        l.balance(&clearing).await.unwrap(),
        -30,
        "clearing may go negative"
    );
    for a in [&clearing, &external, &seller, &commission] {
        assert_consistent(l, a).await;
    }
    // Opening is idempotent and keeps the identity.
    let opened = l.ensure_account(&seller, 99).await.unwrap();
    assert_eq!(opened.account, seller);
    assert!(!opened.allow_negative);
    assert_eq!(l.account(&opened.id).await.unwrap(), Some(opened.clone()));
    let sellers = l
        .list_accounts(
            &AccountFilter {
                kind: Some(paydesk_core::AccountKind::SellerAvailable),
                owner_id: None,
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(sellers, vec![opened]);
}

async fn insufficient_changes_nothing(store: Arc<dyn Store>) {
    let l = store.ledger();
    fund_user(l, "u-1", 100, "fund-1").await;
    let u = user("u-1");
    let before = l.account_by_ref(&u).await.unwrap().unwrap();
    let hold = new_entry(movements::hold(&u, cny(150)).unwrap(), "h-1", 5);
    assert_eq!(
        l.post_entry(&hold).await.unwrap(),
        PostOutcome::Insufficient {
            account_id: before.id.clone()
        }
    );
    assert_eq!(l.account_by_ref(&u).await.unwrap().unwrap(), before);
    assert_eq!(l.balance(&u.held_twin().unwrap()).await.unwrap(), 0);
    assert!(l.entry(&hold.id).await.unwrap().is_none());
    assert_eq!(l.statement(&before.id, None, 10).await.unwrap().len(), 1);
    // A refused posting does not use up its key: the same key posts once it fits.
    let fits = new_entry(movements::hold(&u, cny(100)).unwrap(), "h-1", 6);
    posted(l.post_entry(&fits).await.unwrap());
    assert_eq!(l.balance(&u).await.unwrap(), 0);
    assert_eq!(l.balance(&u.held_twin().unwrap()).await.unwrap(), 100);
    assert_consistent(l, &u).await;
    assert_consistent(l, &u.held_twin().unwrap()).await;
    // Two entries (CNY) cannot make up for each other across currencies, and an account
    // owned by nobody who may go negative stays at zero even for one minor unit.
    let one = new_entry(movements::hold(&u, cny(1)).unwrap(), "h-2", 7);
    assert!(matches!(
        l.post_entry(&one).await.unwrap(),
        PostOutcome::Insufficient { .. }
    ));
}

async fn statement_pages_newest_first(store: Arc<dyn Store>) {
    let l = store.ledger();
    for i in 0..25 {
        fund_user(l, "u-s", i + 1, &format!("f-{i}")).await;
    }
    let acc = l.account_by_ref(&user("u-s")).await.unwrap().unwrap();
    assert_eq!(acc.version, 25);
    let mut all = Vec::new();
    let mut cursor = None;
    loop {
        let page = l.statement(&acc.id, cursor, 10).await.unwrap();
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 10);
        cursor = page.last().map(|s| s.account_version);
        all.extend(page);
    }
    assert_eq!(all.len(), 25);
    let versions: Vec<i64> = all.iter().map(|s| s.account_version).collect();
    assert_eq!(versions, (1..=25).rev().collect::<Vec<_>>());
    // Newest first, each line's balance is the running sum.
    let mut running = acc.balance_minor;
    for s in &all {
        assert_eq!(s.balance_after_minor, running);
        assert_eq!(s.entry_kind, EntryKind::Adjustment);
        running -= s.amount_minor;
    }
    assert_eq!(running, 0);
    assert_eq!(acc.balance_minor, (1..=25).sum::<i64>());
    assert_consistent(l, &user("u-s")).await;
}

async fn withdrawals_are_idempotent_and_updates_atomic(store: Arc<dyn Store>) {
    let l = store.ledger();
    fund_user(l, "u-w", 1_000, "fund-w").await;
    let u = user("u-w");
    let held = u.held_twin().unwrap();
    let external = AccountRef::external("wx-main", Currency::CNY).unwrap();

    let w = new_payout(PayoutKind::Withdrawal, "bw-1", u.clone(), 300);
    let p = created(l.create_withdrawal(&w, &hold_for(&w)).await.unwrap());
    assert_eq!(p.status, PayoutStatus::Accepted);
    assert_eq!(p.next_action_at_ms, Some(10));
    assert_eq!(l.balance(&u).await.unwrap(), 700);
    assert_eq!(l.balance(&held).await.unwrap(), 300);
    // The same business payout number again (another id, number and amount): the first
    // one back, nothing held twice.
    let mut dup = new_payout(PayoutKind::Withdrawal, "bw-1", u.clone(), 500);
    dup.created_at_ms = 11;
    assert_eq!(
        l.create_withdrawal(&dup, &hold_for(&dup)).await.unwrap(),
        CreatePayoutOutcome::Existing(p.clone())
    );
    assert_eq!(l.balance(&held).await.unwrap(), 300);
    assert_eq!(l.payout_by_no(&w.payout_no).await.unwrap(), Some(p.clone()));
    assert_eq!(
        l.payout_by_business_no(BL, "bw-1").await.unwrap(),
        Some(p.clone())
    );
    assert!(l.payout_by_no(&dup.payout_no).await.unwrap().is_none());
    // A hold that is not exactly the withdrawal's is refused.
    let w2 = new_payout(PayoutKind::Withdrawal, "bw-2", u.clone(), 200);
    let mut wrong = hold_for(&w2);
    wrong.entry = movements::hold(&u, cny(199)).unwrap();
    assert!(matches!(
        l.create_withdrawal(&w2, &wrong).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(l.payout_by_business_no(BL, "bw-2").await.unwrap().is_none());

    // ACCEPTED -> PROCESSING posts nothing.
    let p = applied(
        l.update_payout(&p.id, &update(&p, PayoutStatus::Processing, 20), None)
            .await
            .unwrap(),
    );
    assert_eq!(p.tries, 1);
    // SUCCEEDED must come with the debit of its hold, and only that.
    let debit = new_entry(
        movements::withdrawal_debit(&u, "wx-main", cny(300)).unwrap(),
        &format!("debit:{}", p.id),
        30,
    );
    let release = new_entry(
        movements::release(&u, cny(300)).unwrap(),
        &format!("release:{}", p.id),
        30,
    );
    let ok = update(&p, PayoutStatus::Succeeded, 30);
    assert!(matches!(
        l.update_payout(&p.id, &ok, None).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        l.update_payout(&p.id, &ok, Some(&release)).await,
        Err(StoreError::Invalid(_))
    ));
    // A stale version is refused and writes neither the state nor the entry.
    let mut stale = ok.clone();
    stale.expected_version -= 1;
    match l.update_payout(&p.id, &stale, Some(&debit)).await.unwrap() {
        Transition::Refused(Some(now)) => assert_eq!(now, p),
        other => panic!("expected refused, got {other:?}"),
    }
    assert!(l.entry(&debit.id).await.unwrap().is_none());
    assert_eq!(l.balance(&held).await.unwrap(), 300);
    // The real one: state, debit and event together.
    let mut ok = ok;
    ok.provider_transfer_id = Some("1330000114850082025".into());
    ok.event = Some(NewEvent {
        id: ids::new_id(ids::EVENT),
        business_line_id: BL.into(),
        pay_order_id: None,
        event_type: EventType::PayoutSucceeded,
        payload_json: "{}".into(),
        notify_url: p.notify_url.clone(),
        created_at_ms: 30,
    });
    let done = applied(l.update_payout(&p.id, &ok, Some(&debit)).await.unwrap());
    assert_eq!(done.status, PayoutStatus::Succeeded);
    assert_eq!(done.final_entry_id.as_deref(), Some(debit.id.as_str()));
    assert_eq!(done.finished_at_ms, Some(30));
    assert_eq!(done.next_action_at_ms, None, "terminal: nothing more to do");
    assert_eq!(
        done.provider_transfer_id.as_deref(),
        Some("1330000114850082025")
    );
    assert!(store
        .event(&ok.event.as_ref().unwrap().id)
        .await
        .unwrap()
        .is_some());
    assert_eq!(l.balance(&held).await.unwrap(), 0);
    assert_eq!(l.balance(&u).await.unwrap(), 700);
    assert_eq!(l.balance(&external).await.unwrap(), 300);
    // A success reported twice debits once: the terminal state refuses, writes nothing.
    let twice = update(&done, PayoutStatus::Succeeded, 40);
    let debit2 = new_entry(
        movements::withdrawal_debit(&u, "wx-main", cny(300)).unwrap(),
        "debit-again",
        40,
    );
    assert!(matches!(
        l.update_payout(&done.id, &twice, Some(&debit2))
            .await
            .unwrap(),
        Transition::Refused(Some(_))
    ));
    // An illegal move is refused the same way.
    let back = update(&done, PayoutStatus::Failed, 41);
    assert!(matches!(
        l.update_payout(&done.id, &back, Some(&release))
            .await
            .unwrap(),
        Transition::Refused(Some(_))
    ));
    assert!(l.entry(&debit2.id).await.unwrap().is_none());
    assert!(l.entry(&release.id).await.unwrap().is_none());
    assert_eq!(l.balance(&held).await.unwrap(), 0);

    // A cancelled withdrawal gives its hold back.
    let w3 = new_payout(PayoutKind::Withdrawal, "bw-3", u.clone(), 200);
    let p3 = created(l.create_withdrawal(&w3, &hold_for(&w3)).await.unwrap());
    assert_eq!(l.balance(&u).await.unwrap(), 500);
    let rel = new_entry(
        movements::release(&u, cny(200)).unwrap(),
        &format!("release:{}", p3.id),
        50,
    );
    let c = applied(
        l.update_payout(
            &p3.id,
            &update(&p3, PayoutStatus::Cancelled, 50),
            Some(&rel),
        )
        .await
        .unwrap(),
    );
    assert_eq!(c.status, PayoutStatus::Cancelled);
    assert_eq!(l.balance(&u).await.unwrap(), 700);
    assert_eq!(l.balance(&held).await.unwrap(), 0);
    for a in [&u, &held, &external] {
        assert_consistent(l, a).await;
    }
}

async fn payouts_charge_funding_on_success_only(store: Arc<dyn Store>) {
    let l = store.ledger();
    let funding = AccountRef::platform_funding(BL, Currency::CNY).unwrap();
    let np = new_payout(PayoutKind::Payout, "bp-1", funding.clone(), 80);
    // A payout must be funded by a platform funding account.
    let mut bad = np.clone();
    bad.funding = user("u-x");
    assert!(matches!(
        l.create_payout(&bad).await,
        Err(StoreError::Invalid(_))
    ));
    let p = created(l.create_payout(&np).await.unwrap());
    assert_eq!(l.balance(&funding).await.unwrap(), 0, "nothing posted yet");
    let mut again = np.clone();
    again.id = ids::new_id(ids::PAYOUT);
    again.payout_no = ids::provider_no();
    assert_eq!(
        l.create_payout(&again).await.unwrap(),
        CreatePayoutOutcome::Existing(p.clone())
    );
    let p = applied(
        l.update_payout(&p.id, &update(&p, PayoutStatus::Processing, 20), None)
            .await
            .unwrap(),
    );
    let mut wait = update(&p, PayoutStatus::WaitUserConfirm, 21);
    wait.package_info = Some("affffddafdfafddffda==".into());
    let p = applied(l.update_payout(&p.id, &wait, None).await.unwrap());
    assert_eq!(p.package_info.as_deref(), Some("affffddafdfafddffda=="));
    // A reschedule in the same open state.
    let mut later = update(&p, PayoutStatus::WaitUserConfirm, 22);
    later.last_error = Some("timeout".into());
    let p = applied(l.update_payout(&p.id, &later, None).await.unwrap());
    assert_eq!(p.tries, 3);
    assert_eq!(p.last_error.as_deref(), Some("timeout"));
    assert_eq!(
        p.package_info.as_deref(),
        Some("affffddafdfafddffda=="),
        "kept"
    );
    assert_eq!(
        l.due_payouts(p.next_action_at_ms.unwrap(), 10)
            .await
            .unwrap(),
        vec![p.clone()]
    );
    assert!(l
        .due_payouts(p.next_action_at_ms.unwrap() - 1, 10)
        .await
        .unwrap()
        .is_empty());
    let charge = new_entry(
        movements::payout(BL, "wx-main", cny(80)).unwrap(),
        &format!("payout:{}", p.id),
        30,
    );
    let done = applied(
        l.update_payout(
            &p.id,
            &update(&p, PayoutStatus::Succeeded, 30),
            Some(&charge),
        )
        .await
        .unwrap(),
    );
    assert_eq!(done.status, PayoutStatus::Succeeded);
    assert_eq!(
        l.balance(&funding).await.unwrap(),
        -80,
        "platform money may go negative"
    );
    assert!(l.due_payouts(i64::MAX, 10).await.unwrap().is_empty());
    // A failed payout posts nothing.
    let np2 = new_payout(PayoutKind::Payout, "bp-2", funding.clone(), 5);
    let p2 = created(l.create_payout(&np2).await.unwrap());
    let mut fail = update(&p2, PayoutStatus::Failed, 40);
    fail.failure_code = Some("ACCOUNT_FROZEN".into());
    let f = applied(l.update_payout(&p2.id, &fail, None).await.unwrap());
    assert_eq!(f.failure_code.as_deref(), Some("ACCOUNT_FROZEN"));
    assert_eq!(l.balance(&funding).await.unwrap(), -80);

    // Listing: newest first, filtered, keyset-paged.
    let mut seen = Vec::new();
    let mut cursor: Option<(i64, String)> = None;
    loop {
        let page = l
            .list_payouts(
                &PayoutFilter {
                    business_line_id: Some(BL.into()),
                    kind: Some(PayoutKind::Payout),
                    ..Default::default()
                },
                cursor.as_ref().map(|(at, id)| (*at, id.as_str())),
                1,
            )
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        cursor = Some((last.created_at_ms, last.id.clone()));
        seen.extend(page.into_iter().map(|p| p.id));
    }
    assert_eq!(seen, vec![p2.id.clone(), done.id.clone()]);
    let failed = l
        .list_payouts(
            &PayoutFilter {
                status: Some(PayoutStatus::Failed),
                ..Default::default()
            },
            None,
            10,
        )
        .await
        .unwrap();
    assert_eq!(failed, vec![f]);
    assert_consistent(l, &funding).await;
}

async fn concurrent_withdrawals_never_overdraw(db: TestDb) {
    // Its own pool, big enough that the withdrawals really run side by side.
    let store = connect(&db.url, 40).await.expect("second pool");
    const AMOUNT: i64 = 700;
    let l = store.ledger();
    fund_user(l, "u-c", 10 * AMOUNT, "fund-c").await;
    let u = user("u-c");
    let mut tasks = Vec::new();
    for i in 0..100 {
        let store = store.clone();
        let u = u.clone();
        tasks.push(tokio::spawn(async move {
            let w = new_payout(PayoutKind::Withdrawal, &format!("cw-{i}"), u, AMOUNT);
            store.ledger().create_withdrawal(&w, &hold_for(&w)).await
        }));
    }
    let (mut ok, mut short) = (0, 0);
    for t in tasks {
        match t.await.unwrap().expect("no store error") {
            CreatePayoutOutcome::Created(_) => ok += 1,
            CreatePayoutOutcome::Insufficient { .. } => short += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, short), (10, 90));
    assert_eq!(assert_consistent(l, &u).await, 0);
    assert_eq!(
        assert_consistent(l, &u.held_twin().unwrap()).await,
        10 * AMOUNT
    );
    let acc = l.account_by_ref(&u).await.unwrap().unwrap();
    let listed = l
        .list_payouts(
            &PayoutFilter {
                funding_account_id: Some(acc.id),
                ..Default::default()
            },
            None,
            500,
        )
        .await
        .unwrap();
    assert_eq!(listed.len(), 10);

    // One business payout number asked 20 times at once: one withdrawal, one hold.
    fund_user(l, "u-d", AMOUNT, "fund-d").await;
    let d = user("u-d");
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let store = store.clone();
        let d = d.clone();
        tasks.push(tokio::spawn(async move {
            let w = new_payout(PayoutKind::Withdrawal, "same-no", d, AMOUNT);
            store.ledger().create_withdrawal(&w, &hold_for(&w)).await
        }));
    }
    let mut created_ids = Vec::new();
    let mut existing = Vec::new();
    for t in tasks {
        match t.await.unwrap().expect("no store error") {
            CreatePayoutOutcome::Created(p) => created_ids.push(p.id),
            CreatePayoutOutcome::Existing(p) => existing.push(p.id),
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created_ids.len(), 1);
    assert!(existing.iter().all(|id| *id == created_ids[0]));
    assert_eq!(assert_consistent(l, &d.held_twin().unwrap()).await, AMOUNT);
}

/// 40 concurrent payouts and withdrawals against a daily limit that covers 10: exactly
/// 10 are recorded, the day total is exactly the limit, and a refused withdrawal holds
/// nothing; the next day starts again from zero.
async fn daily_limit_holds_under_concurrency(db: TestDb) {
    let store = connect(&db.url, 40).await.expect("second pool");
    const AMOUNT: i64 = 300;
    let l = store.ledger();
    fund_user(l, "u-lim", 40 * AMOUNT, "fund-lim").await;
    let u = user("u-lim");
    let funding = AccountRef::platform_funding(BL, Currency::CNY).unwrap();
    let day = DailyLimit::day_no_of(10);
    let limit = DailyLimit {
        day_no: day,
        limit_minor: 10 * AMOUNT,
    };
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        let (u, funding) = (u.clone(), funding.clone());
        tasks.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let mut w = new_payout(PayoutKind::Withdrawal, &format!("lw-{i}"), u, AMOUNT);
                w.daily_limit = Some(limit);
                store.ledger().create_withdrawal(&w, &hold_for(&w)).await
            } else {
                let mut p = new_payout(PayoutKind::Payout, &format!("lp-{i}"), funding, AMOUNT);
                p.daily_limit = Some(limit);
                store.ledger().create_payout(&p).await
            }
        }));
    }
    let (mut ok, mut over, mut held) = (0, 0, 0);
    for t in tasks {
        match t.await.unwrap().expect("no store error") {
            CreatePayoutOutcome::Created(p) => {
                ok += 1;
                if p.kind == PayoutKind::Withdrawal {
                    held += AMOUNT;
                }
            }
            CreatePayoutOutcome::LimitExceeded { limit_minor } => {
                assert_eq!(limit_minor, 10 * AMOUNT);
                over += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((ok, over), (10, 30));
    assert_eq!(
        l.payout_day_total(BL, Currency::CNY, day).await.unwrap(),
        10 * AMOUNT
    );
    assert_eq!(assert_consistent(l, &u.held_twin().unwrap()).await, held);
    assert_eq!(assert_consistent(l, &u).await, 40 * AMOUNT - held);
    // The next business day has its own total.
    let mut p = new_payout(PayoutKind::Payout, "lp-next-day", funding, AMOUNT);
    p.daily_limit = Some(DailyLimit {
        day_no: day + 1,
        ..limit
    });
    assert!(matches!(
        l.create_payout(&p).await.unwrap(),
        CreatePayoutOutcome::Created(_)
    ));
    assert_eq!(
        l.payout_day_total(BL, Currency::CNY, day + 1)
            .await
            .unwrap(),
        AMOUNT
    );
}

async fn accounts_open_once_under_concurrency(store: Arc<dyn Store>) {
    let seller = AccountRef::seller("s-race", Currency::JPY).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let store = store.clone();
        let seller = seller.clone();
        tasks.push(tokio::spawn(async move {
            store.ledger().ensure_account(&seller, 1).await.unwrap().id
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    ids.dedup();
    assert_eq!(ids.len(), 1);
}

paydesk_store::backend_tests!(
    posting_balances_and_is_idempotent,
    insufficient_changes_nothing,
    statement_pages_newest_first,
    withdrawals_are_idempotent_and_updates_atomic,
    payouts_charge_funding_on_success_only,
    accounts_open_once_under_concurrency,
);

/// 100 concurrent withdrawals on each backend (needs the URL for a bigger pool).
mod concurrent {
    use super::{concurrent_withdrawals_never_overdraw, daily_limit_holds_under_concurrency};
    paydesk_store::backend_tests!(
        concurrent_withdrawals_never_overdraw,
        daily_limit_holds_under_concurrency,
    );
}

/// Through a `TieredStore`: the ledger lives in hot.
mod tiered {
    paydesk_store::backend_tests!(
        tiered:
        posting_balances_and_is_idempotent,
        withdrawals_are_idempotent_and_updates_atomic,
    );
}
