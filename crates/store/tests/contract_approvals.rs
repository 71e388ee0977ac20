//! The store contract for maker-checker approvals on every backend, and through a
//! `TieredStore`.

use paydesk_core::ids;
use paydesk_store::*;
use std::sync::Arc;

fn pending(action: &str, at_ms: i64) -> Approval {
    Approval {
        id: ids::new_id("apr"),
        action: action.into(),
        target: "bl_1".into(),
        payload_json: r#"{"overlap_seconds":60}"#.into(),
        requested_by: "operator:alice".into(),
        requested_at_ms: at_ms,
        status: ApprovalStatus::Pending,
        decided_by: None,
        decided_at_ms: None,
        version: 1,
    }
}

async fn approvals_are_stored_listed_and_decided_once(store: Arc<dyn Store>) {
    let a = pending("business_line.rotate_secret", 1_000);
    let b = pending("reconciliation.resolve", 2_000);
    store.insert_approval(&a).await.unwrap();
    store.insert_approval(&b).await.unwrap();
    assert!(matches!(
        store.insert_approval(&a).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.approval(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.approval("apr_missing").await.unwrap(), None);
    let listed = store
        .list_approvals(Some(ApprovalStatus::Pending), 10)
        .await
        .unwrap();
    assert_eq!(listed, vec![b.clone(), a.clone()], "newest first");

    // A stale version changes nothing.
    let stale = store
        .decide_approval(&a.id, 7, ApprovalStatus::Approved, "operator:bob", 3_000)
        .await
        .unwrap();
    assert_eq!(stale, Transition::Refused(Some(a.clone())));
    // Deciding to PENDING is not a decision.
    assert!(matches!(
        store
            .decide_approval(&a.id, 1, ApprovalStatus::Pending, "operator:bob", 3_000)
            .await,
        Err(StoreError::Invalid(_))
    ));

    let Transition::Applied(done) = store
        .decide_approval(&a.id, 1, ApprovalStatus::Approved, "operator:bob", 3_000)
        .await
        .unwrap()
    else {
        panic!("a pending approval at its version is decided");
    };
    assert_eq!(done.status, ApprovalStatus::Approved);
    assert_eq!(done.decided_by.as_deref(), Some("operator:bob"));
    assert_eq!(done.decided_at_ms, Some(3_000));
    assert_eq!(done.version, 2);
    assert_eq!(done.payload_json, a.payload_json);

    // Decided is final, even at the new version.
    let again = store
        .decide_approval(&a.id, 2, ApprovalStatus::Rejected, "operator:carol", 4_000)
        .await
        .unwrap();
    assert_eq!(again, Transition::Refused(Some(done.clone())));
    let missing = store
        .decide_approval("apr_missing", 1, ApprovalStatus::Rejected, "x", 4_000)
        .await
        .unwrap();
    assert_eq!(missing, Transition::Refused(None));

    assert_eq!(
        store
            .list_approvals(Some(ApprovalStatus::Pending), 10)
            .await
            .unwrap(),
        vec![b.clone()]
    );
    assert_eq!(
        store
            .list_approvals(Some(ApprovalStatus::Approved), 10)
            .await
            .unwrap(),
        vec![done.clone()]
    );
    assert_eq!(store.list_approvals(None, 1).await.unwrap(), vec![b]);
}

async fn two_concurrent_decisions_one_wins(store: Arc<dyn Store>) {
    for round in 0..5 {
        let a = pending("payout.retry", 1_000 + round);
        store.insert_approval(&a).await.unwrap();
        let decide = |to: ApprovalStatus, by: &'static str| {
            let store = store.clone();
            let id = a.id.clone();
            tokio::spawn(async move { store.decide_approval(&id, 1, to, by, 5_000).await })
        };
        let x = decide(ApprovalStatus::Approved, "operator:bob");
        let y = decide(ApprovalStatus::Rejected, "operator:carol");
        let (x, y) = (x.await.unwrap().unwrap(), y.await.unwrap().unwrap());
        let winners: Vec<&Approval> = [&x, &y]
            .into_iter()
            .filter_map(|t| match t {
                Transition::Applied(a) => Some(a),
                Transition::Refused(_) => None,
            })
            .collect();
        assert_eq!(winners.len(), 1, "exactly one decision wins: {x:?} / {y:?}");
        let stored = store.approval(&a.id).await.unwrap().unwrap();
        assert_eq!(&stored, winners[0]);
        assert_eq!(stored.version, 2);
    }
}

/// An action run on approval names both operators (64-character names at most):
/// `operator:<maker>, approved by operator:<checker>` fits where actors are kept.
async fn two_operator_names_fit(store: Arc<dyn Store>) {
    let name = "n".repeat(64);
    let actor = format!("operator:{name}, approved by operator:{name}");
    let entry = AuditEntry {
        id: ids::new_id("aud"),
        at_ms: 1_000,
        actor: actor.clone(),
        action: "rules.publish".into(),
        target: "rules".into(),
        details_json: "{}".into(),
    };
    store.insert_audit_entry(&entry).await.unwrap();
    assert_eq!(store.audit_log(1).await.unwrap(), vec![entry]);
    let author = format!("{name}, approved by {name}");
    let active = store.active_rule_version().await.unwrap().version;
    let new = NewRuleVersion {
        document_json: "{}".into(),
        author: author.clone(),
        comment: "long names".into(),
        created_at_ms: 2_000,
    };
    let Transition::Applied(now) = store.publish_rule_version(&new, active).await.unwrap() else {
        panic!("published");
    };
    assert_eq!(now.updated_by, author);
    let stored = store.rule_version(now.version).await.unwrap().unwrap();
    assert_eq!(stored.author, author);
}

paydesk_store::backend_tests!(
    two_operator_names_fit,
    approvals_are_stored_listed_and_decided_once,
    two_concurrent_decisions_one_wins,
);

/// Through a `TieredStore`: approvals live in hot.
mod tiered {
    paydesk_store::backend_tests!(tiered: approvals_are_stored_listed_and_decided_once);
}
