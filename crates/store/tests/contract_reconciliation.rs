//! The store contract for reconciliation runs and differences, and the paydesk side of a
//! bill day: the same tests against every backend (see `contract.rs` for the set-up), and
//! through a `TieredStore`.

use paydesk_core::{ids, Currency, Provider, RefundStatus};
use paydesk_store::testing::fixtures::*;
use paydesk_store::*;
use std::sync::Arc;

fn start(date: &str, account: &str, now_ms: i64) -> StartRun {
    StartRun {
        id: ids::new_id("rcr"),
        bill_date: date.into(),
        merchant_account: account.into(),
        provider: Provider::Wechatpay,
        currency: Currency::CNY,
        now_ms,
        stale_before_ms: now_ms - 60_000,
    }
}

fn diff(
    kind: DifferenceKind,
    attempt_no: &str,
    provider: Option<i64>,
    paydesk: Option<i64>,
) -> NewDifference {
    NewDifference {
        id: ids::new_id("rcd"),
        kind,
        record_kind: RecordKind::Payment,
        attempt_no: attempt_no.into(),
        refund_no: None,
        provider_txn_id: Some(format!("42000{attempt_no}")),
        provider_amount_minor: provider,
        paydesk_amount_minor: paydesk,
        provider_fee_minor: provider.map(|_| 0),
        paydesk_fee_minor: None,
        provider_status: provider.map(|_| "SUCCEEDED".into()),
        paydesk_status: paydesk.map(|_| "SUCCEEDED".into()),
        source: Some("wechatpay trade bill:2".into()),
    }
}

/// One matched payment of 100, one missing here (50), one missing there (70), one differing
/// in amount (30 there, 20 here).
fn totals() -> RunTotals {
    RunTotals {
        provider_count: 3,
        provider_net_minor: 180,
        paydesk_count: 3,
        paydesk_net_minor: 190,
        matched_count: 1,
        matched_net_minor: 100,
        missing_in_paydesk_count: 1,
        missing_in_paydesk_net_minor: 50,
        missing_at_provider_count: 1,
        missing_at_provider_net_minor: 70,
        differing_count: 1,
        differing_provider_net_minor: 30,
        differing_paydesk_net_minor: 20,
    }
}

fn four_differences() -> Vec<NewDifference> {
    vec![
        diff(DifferenceKind::MissingInPaydesk, "A1", Some(50), None),
        diff(DifferenceKind::MissingAtProvider, "A2", None, Some(70)),
        diff(DifferenceKind::AmountDiffers, "A3", Some(30), Some(20)),
    ]
}

fn applied<T: std::fmt::Debug>(t: Transition<T>) -> T {
    match t {
        Transition::Applied(v) => v,
        other => panic!("expected applied, got {other:?}"),
    }
}

fn audit(target: &str, at_ms: i64) -> AuditEntry {
    AuditEntry {
        id: ids::new_id("aud"),
        at_ms,
        actor: "operator:alice".into(),
        action: "reconciliation.resolve".into(),
        target: target.into(),
        details_json: "{\"reason\":\"checked\"}".into(),
    }
}

async fn runs_start_once_and_finish_tied_out(store: Arc<dyn Store>) {
    let r = store.reconciliation();
    let run = applied(
        r.start_run(&start("2024-03-01", "wx-main", 100_000))
            .await
            .unwrap(),
    );
    assert_eq!((run.status, run.version), (RunStatus::Running, 1));
    // Another runner is refused while the first holds the day.
    match r
        .start_run(&start("2024-03-01", "wx-main", 100_500))
        .await
        .unwrap()
    {
        Transition::Refused(Some(now)) => assert_eq!(now.id, run.id),
        other => panic!("{other:?}"),
    }
    // Totals that do not tie out are refused, nothing written.
    let mut bad = totals();
    bad.matched_count += 1;
    assert!(matches!(
        r.finish_run(&run.id, run.version, &bad, &[], 101_000).await,
        Err(StoreError::Invalid(_))
    ));
    // A stale version is refused.
    assert!(matches!(
        r.finish_run(&run.id, run.version + 7, &totals(), &[], 101_000)
            .await
            .unwrap(),
        Transition::Refused(Some(_))
    ));
    let (done, open) = applied(
        r.finish_run(
            &run.id,
            run.version,
            &totals(),
            &four_differences(),
            101_000,
        )
        .await
        .unwrap(),
    );
    assert_eq!(done.status, RunStatus::Completed);
    assert_eq!(done.totals, totals());
    assert!(done.totals.ties_out());
    assert_eq!(done.finished_at_ms, Some(101_000));
    assert_eq!(open.len(), 3);
    assert!(open
        .iter()
        .all(|d| d.state == DifferenceState::Open && d.run_id == run.id));
    let a3 = open.iter().find(|d| d.attempt_no == "A3").unwrap();
    assert_eq!(
        (
            a3.kind,
            a3.provider_amount_minor,
            a3.paydesk_amount_minor,
            a3.currency
        ),
        (
            DifferenceKind::AmountDiffers,
            Some(30),
            Some(20),
            Currency::CNY
        )
    );
    // Finishing twice is refused (no longer RUNNING).
    assert!(matches!(
        r.finish_run(&run.id, done.version - 1, &totals(), &[], 102_000)
            .await
            .unwrap(),
        Transition::Refused(_)
    ));
    // Another day and account are separate rows; listing filters and orders them.
    let other = applied(
        r.start_run(&start("2024-03-02", "wx-main", 103_000))
            .await
            .unwrap(),
    );
    applied(
        r.fail_run(&other.id, other.version, "bill not ready", 103_500)
            .await
            .unwrap(),
    );
    applied(
        r.start_run(&start("2024-03-01", "ali-main", 103_000))
            .await
            .unwrap(),
    );
    let wx = r
        .list_runs(&RunFilter {
            merchant_account: Some("wx-main".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        wx.iter()
            .map(|x| (x.bill_date.as_str(), x.status))
            .collect::<Vec<_>>(),
        [
            ("2024-03-02", RunStatus::Failed),
            ("2024-03-01", RunStatus::Completed)
        ]
    );
    assert_eq!(wx[0].error.as_deref(), Some("bill not ready"));
    let day = r
        .list_runs(&RunFilter {
            from_date: Some("2024-03-01".into()),
            to_date: Some("2024-03-01".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(day.len(), 2);
    assert_eq!(
        r.run(&run.id).await.unwrap().unwrap().status,
        RunStatus::Completed
    );
}

async fn a_stale_runner_is_taken_over(store: Arc<dyn Store>) {
    let r = store.reconciliation();
    let first = applied(
        r.start_run(&start("2024-03-01", "wx-main", 100_000))
            .await
            .unwrap(),
    );
    // A minute and more later the first runner is presumed dead.
    let second = applied(
        r.start_run(&start("2024-03-01", "wx-main", 170_001))
            .await
            .unwrap(),
    );
    assert_eq!(second.id, first.id);
    assert_eq!(second.version, first.version + 1);
    // The dead runner's late finish is refused.
    assert!(matches!(
        r.finish_run(
            &first.id,
            first.version,
            &RunTotals::default(),
            &[],
            171_000
        )
        .await
        .unwrap(),
        Transition::Refused(_)
    ));
    applied(
        r.finish_run(
            &second.id,
            second.version,
            &RunTotals::default(),
            &[],
            171_000,
        )
        .await
        .unwrap(),
    );
}

async fn rerun_replaces_open_and_keeps_decided(store: Arc<dyn Store>) {
    let r = store.reconciliation();
    let run = applied(
        r.start_run(&start("2024-03-01", "wx-main", 100_000))
            .await
            .unwrap(),
    );
    let (run, open) = applied(
        r.finish_run(
            &run.id,
            run.version,
            &totals(),
            &four_differences(),
            101_000,
        )
        .await
        .unwrap(),
    );
    let by = |no: &str| open.iter().find(|d| d.attempt_no == no).unwrap().clone();
    // A1 settled by paydesk, A2 resolved by an operator, A3 left open.
    let settled = applied(
        r.mark_settled(&by("A1").id, by("A1").version, "queried: SUCCESS", 102_000)
            .await
            .unwrap(),
    );
    assert_eq!(
        (settled.state, settled.resolved_by.as_deref()),
        (DifferenceState::SettledAutomatically, Some("paydesk"))
    );
    // Conditional: not twice, not on a stale version.
    assert!(matches!(
        r.mark_settled(&by("A1").id, settled.version, "again", 102_100)
            .await
            .unwrap(),
        Transition::Refused(Some(_))
    ));
    let a2 = by("A2");
    let resolve = |version: i64, reason: &str| ResolveDifference {
        id: a2.id.clone(),
        expected_version: version,
        reason: reason.into(),
        by: "operator:alice".into(),
        now_ms: 103_000,
        audit: audit(&a2.id, 103_000),
    };
    assert!(matches!(
        r.resolve_difference(&resolve(a2.version, "  ")).await,
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        r.resolve_difference(&resolve(a2.version + 1, "stale"))
            .await
            .unwrap(),
        Transition::Refused(Some(_))
    ));
    assert!(
        store.audit_log(10).await.unwrap().is_empty(),
        "a refused resolution audits nothing"
    );
    let resolved = applied(
        r.resolve_difference(&resolve(a2.version, "refund made by hand, ticket 42"))
            .await
            .unwrap(),
    );
    assert_eq!(resolved.state, DifferenceState::Resolved);
    assert_eq!(
        resolved.resolution.as_deref(),
        Some("refund made by hand, ticket 42")
    );
    assert_eq!(resolved.resolved_by.as_deref(), Some("operator:alice"));
    assert_eq!(resolved.resolved_at_ms, Some(103_000));
    let log = store.audit_log(10).await.unwrap();
    assert_eq!((log.len(), log[0].target.as_str()), (1, a2.id.as_str()));
    assert!(matches!(
        r.resolve_difference(&resolve(resolved.version, "again"))
            .await
            .unwrap(),
        Transition::Refused(Some(_))
    ));
    // The day again: the same three found, plus a new one. The open A3 is replaced, the
    // decided A1 and A2 are not opened again and keep their decisions.
    let again = applied(
        r.start_run(&start("2024-03-01", "wx-main", 104_000))
            .await
            .unwrap(),
    );
    assert_eq!(again.id, run.id);
    let mut found = four_differences();
    found.push(diff(
        DifferenceKind::StatusDiffers,
        "A4",
        Some(10),
        Some(10),
    ));
    let mut t = totals();
    t.provider_count += 1;
    t.paydesk_count += 1;
    t.differing_count += 1;
    t.provider_net_minor += 10;
    t.paydesk_net_minor += 10;
    t.differing_provider_net_minor += 10;
    t.differing_paydesk_net_minor += 10;
    let (_, open) = applied(
        r.finish_run(&again.id, again.version, &t, &found, 105_000)
            .await
            .unwrap(),
    );
    let mut nos: Vec<_> = open.iter().map(|d| d.attempt_no.as_str()).collect();
    nos.sort();
    assert_eq!(nos, ["A3", "A4"]);
    assert_ne!(
        open.iter().find(|d| d.attempt_no == "A3").unwrap().id,
        by("A3").id
    );
    let all = r
        .list_differences(&DifferenceFilter {
            run_id: Some(run.id.clone()),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(
        r.difference(&a2.id).await.unwrap().unwrap().state,
        DifferenceState::Resolved
    );
    assert_eq!(
        r.difference(&by("A1").id).await.unwrap().unwrap().state,
        DifferenceState::SettledAutomatically
    );
    assert!(
        r.difference(&by("A3").id).await.unwrap().is_none(),
        "the old open one was replaced"
    );
}

async fn differences_filter_and_page(store: Arc<dyn Store>) {
    let r = store.reconciliation();
    for (date, account) in [
        ("2024-03-01", "wx-main"),
        ("2024-03-02", "wx-main"),
        ("2024-03-01", "ali-main"),
    ] {
        let run = applied(r.start_run(&start(date, account, 100_000)).await.unwrap());
        applied(
            r.finish_run(
                &run.id,
                run.version,
                &totals(),
                &four_differences(),
                101_000,
            )
            .await
            .unwrap(),
        );
    }
    let list = |f: DifferenceFilter| async move { r.list_differences(&f).await.unwrap() };
    assert_eq!(
        list(DifferenceFilter {
            limit: 100,
            ..Default::default()
        })
        .await
        .len(),
        9
    );
    let open_day = list(DifferenceFilter {
        state: Some(DifferenceState::Open),
        bill_date: Some("2024-03-01".into()),
        merchant_account: Some("wx-main".into()),
        limit: 100,
        ..Default::default()
    })
    .await;
    assert_eq!(open_day.len(), 3);
    assert!(open_day
        .iter()
        .all(|d| d.bill_date == "2024-03-01" && d.merchant_account == "wx-main"));
    assert!(list(DifferenceFilter {
        state: Some(DifferenceState::Resolved),
        limit: 100,
        ..Default::default()
    })
    .await
    .is_empty());
    // Keyset pages of 4 cover all 9 once, in id order.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = list(DifferenceFilter {
            after_id: after.clone(),
            limit: 4,
            ..Default::default()
        })
        .await;
        if page.is_empty() {
            break;
        }
        after = page.last().map(|d| d.id.clone());
        seen.extend(page.into_iter().map(|d| d.id));
    }
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!((seen.len(), sorted), (9, seen.clone()));
}

async fn day_records_are_the_days_successes(store: Arc<dyn Store>) {
    // Paid at 12_900 (see `success`), refunded (succeeded) at 30_000.
    let (order, attempt) = paid_order(&*store, 1_000).await;
    let refund = match store
        .create_refund(&business_refund(&order, &attempt, "RF-1", 300), 50)
        .await
        .unwrap()
    {
        CreateRefundOutcome::Created(r) => r,
        other => panic!("{other:?}"),
    };
    let processing = applied(
        store
            .update_refund(
                &refund.id,
                &refund_to(&refund, RefundStatus::Processing, 25_000),
            )
            .await
            .unwrap(),
    );
    let mut done = refund_to(&processing, RefundStatus::Succeeded, 30_000);
    done.succeeded_at_ms = Some(30_000);
    applied(store.update_refund(&refund.id, &done).await.unwrap());
    // An open attempt of another order is not a success.
    let l = new_line(&*store).await;
    let o2 = waiting_order(&*store, &l, 500).await;
    attempt_created(&*store, &new_attempt(&o2, 11_500)).await;

    let r = store.reconciliation();
    let mut day = r.day_records("wx-main", 0, 100_000).await.unwrap();
    day.sort_by_key(|d| d.at_ms);
    assert_eq!(day.len(), 2, "{day:?}");
    assert_eq!(
        (
            day[0].record_kind,
            day[0].attempt_no.as_str(),
            day[0].amount_minor,
            day[0].at_ms,
            day[0].succeeded
        ),
        (
            RecordKind::Payment,
            attempt.attempt_no.as_str(),
            1_000,
            Some(12_900),
            true
        )
    );
    assert_eq!(
        day[0].provider_txn_id.as_deref(),
        Some(format!("wx-{}", attempt.attempt_no).as_str())
    );
    assert_eq!(
        (
            day[1].record_kind,
            day[1].attempt_no.as_str(),
            day[1].refund_no.as_deref(),
            day[1].amount_minor
        ),
        (
            RecordKind::Refund,
            attempt.attempt_no.as_str(),
            Some(refund.refund_no.as_str()),
            300
        )
    );
    assert_eq!(day[1].status, "SUCCEEDED");
    // The window is half-open and per account.
    assert_eq!(
        r.day_records("wx-main", 12_901, 30_000)
            .await
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        r.day_records("wx-main", 12_900, 30_001)
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(r
        .day_records("ali-main", 0, 100_000)
        .await
        .unwrap()
        .is_empty());
}

paydesk_store::backend_tests!(
    runs_start_once_and_finish_tied_out,
    a_stale_runner_is_taken_over,
    rerun_replaces_open_and_keeps_decided,
    differences_filter_and_page,
    day_records_are_the_days_successes,
);

/// Through a `TieredStore`: runs and differences live in hot.
mod tiered {
    paydesk_store::backend_tests!(
        tiered:
        runs_start_once_and_finish_tied_out,
        rerun_replaces_open_and_keeps_decided,
    );
}
