//! The store contract for checkout rule versions, operators, sessions and the decision
//! sample: the same tests against every backend (see `contract.rs` for the set-up).

use paydesk_core::ids;
use paydesk_store::*;
use std::sync::Arc;

fn doc(n: i64) -> NewRuleVersion {
    NewRuleVersion {
        document_json: format!("{{\"business_rules\":[],\"n\":{n}}}"),
        author: "alice".into(),
        comment: format!("version {n}"),
        created_at_ms: 1_000 + n,
    }
}

fn applied<T: std::fmt::Debug>(t: Transition<T>) -> T {
    match t {
        Transition::Applied(v) => v,
        other => panic!("expected applied, got {other:?}"),
    }
}

async fn publish_and_rollback_are_conditional(store: Arc<dyn Store>) {
    let none = store.active_rule_version().await.unwrap();
    assert_eq!(none.version, 0);
    assert!(store.rule_version(1).await.unwrap().is_none());

    let v1 = applied(store.publish_rule_version(&doc(1), 0).await.unwrap());
    assert_eq!((v1.version, v1.updated_by.as_str()), (1, "alice"));
    // A publisher that still believes nothing is active is refused; nothing written.
    match store.publish_rule_version(&doc(9), 0).await.unwrap() {
        Transition::Refused(Some(now)) => assert_eq!(now.version, 1),
        other => panic!("{other:?}"),
    }
    assert!(store.rule_version(2).await.unwrap().is_none());
    let v2 = applied(store.publish_rule_version(&doc(2), 1).await.unwrap());
    assert_eq!(v2.version, 2);
    let stored = store.rule_version(2).await.unwrap().unwrap();
    assert_eq!(stored.document_json, doc(2).document_json);
    assert_eq!(
        (stored.comment.as_str(), stored.created_at_ms),
        ("version 2", 1_002)
    );

    // Rollback: activate 1 if 2 is still active.
    match store
        .activate_rule_version(1, 1, "bob", 5_000)
        .await
        .unwrap()
    {
        Transition::Refused(Some(now)) => assert_eq!(now.version, 2),
        other => panic!("stale expectation must be refused: {other:?}"),
    }
    match store
        .activate_rule_version(7, 2, "bob", 5_000)
        .await
        .unwrap()
    {
        Transition::Refused(Some(now)) => assert_eq!(now.version, 2),
        other => panic!("unknown version must be refused: {other:?}"),
    }
    let back = applied(
        store
            .activate_rule_version(1, 2, "bob", 5_000)
            .await
            .unwrap(),
    );
    assert_eq!(
        (back.version, back.updated_by.as_str(), back.updated_at_ms),
        (1, "bob", 5_000)
    );
    assert_eq!(store.active_rule_version().await.unwrap().version, 1);

    // Publishing after a rollback numbers past the highest version.
    let v3 = applied(store.publish_rule_version(&doc(3), 1).await.unwrap());
    assert_eq!(v3.version, 3);
    let list = store.list_rule_versions(10).await.unwrap();
    assert_eq!(
        list.iter().map(|v| v.version).collect::<Vec<_>>(),
        vec![3, 2, 1]
    );
    assert_eq!(store.list_rule_versions(1).await.unwrap().len(), 1);
}

async fn concurrent_publishes_from_one_version_apply_once(store: Arc<dyn Store>) {
    applied(store.publish_rule_version(&doc(1), 0).await.unwrap());
    let mut tasks = Vec::new();
    for n in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.publish_rule_version(&doc(10 + n), 1).await.unwrap()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        if let Transition::Applied(_) = t.await.unwrap() {
            wins += 1;
        }
    }
    assert_eq!(wins, 1);
    assert_eq!(store.active_rule_version().await.unwrap().version, 2);
    assert_eq!(store.list_rule_versions(100).await.unwrap().len(), 2);
}

fn operator(name: &str, role: OperatorRole) -> Operator {
    Operator {
        id: ids::new_id("op"),
        name: name.into(),
        role,
        token_hash: ids::random_hex::<32>(),
        status: OperatorStatus::Active,
        created_at_ms: 1_000,
    }
}

async fn operators_and_sessions(store: Arc<dyn Store>) {
    let alice = operator("alice", OperatorRole::Admin);
    store.insert_operator(&alice).await.unwrap();
    let mut dup = operator("alice", OperatorRole::Viewer);
    dup.token_hash = ids::random_hex::<32>();
    assert!(matches!(
        store.insert_operator(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    // Names compare byte for byte.
    store
        .insert_operator(&operator("Alice", OperatorRole::Viewer))
        .await
        .unwrap();
    assert_eq!(
        store
            .operator_by_token_hash(&alice.token_hash)
            .await
            .unwrap(),
        Some(alice.clone())
    );
    assert!(store
        .operator_by_token_hash("nope")
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.list_operators().await.unwrap().len(), 2);

    let session = OperatorSession {
        token_hash: ids::random_hex::<32>(),
        operator_id: alice.id.clone(),
        created_at_ms: 1_000,
        expires_at_ms: 2_000,
    };
    store.insert_operator_session(&session).await.unwrap();
    let got = store
        .session_operator(&session.token_hash, 1_500)
        .await
        .unwrap();
    assert_eq!(got.map(|o| o.name), Some("alice".into()));
    assert!(store
        .session_operator(&session.token_hash, 2_000)
        .await
        .unwrap()
        .is_none());
    assert_eq!(store.purge_expired_sessions(1_999, 10).await.unwrap(), 0);
    assert_eq!(store.purge_expired_sessions(2_001, 10).await.unwrap(), 1);
    store.insert_operator_session(&session).await.unwrap();
    assert!(store
        .delete_operator_session(&session.token_hash)
        .await
        .unwrap());
    assert!(!store
        .delete_operator_session(&session.token_hash)
        .await
        .unwrap());

    // Disabling is conditional on the status changing, and only touches that name.
    assert!(store
        .set_operator_status("alice", OperatorStatus::Disabled)
        .await
        .unwrap());
    assert!(!store
        .set_operator_status("alice", OperatorStatus::Disabled)
        .await
        .unwrap());
    assert!(!store
        .set_operator_status("nobody", OperatorStatus::Disabled)
        .await
        .unwrap());
    let mut statuses: Vec<_> = store
        .list_operators()
        .await
        .unwrap()
        .into_iter()
        .map(|o| (o.name, o.status))
        .collect();
    statuses.sort_by(|a, b| a.0.cmp(&b.0)); // byte order, whatever the collation

    assert_eq!(
        statuses,
        [
            ("Alice".to_string(), OperatorStatus::Active),
            ("alice".to_string(), OperatorStatus::Disabled)
        ]
    );
    assert!(store
        .set_operator_status("alice", OperatorStatus::Active)
        .await
        .unwrap());
}

async fn decision_sample_is_bounded_by_slots(store: Arc<dyn Store>) {
    for i in 0..5i64 {
        store
            .record_decision_sample(&DecisionSample {
                slot: i % 3,
                facts_json: format!("{{\"terminal\":\"PC\",\"amount\":{i}}}"),
                created_at_ms: 1_000 + i,
            })
            .await
            .unwrap();
    }
    let got = store.decision_samples(100).await.unwrap();
    assert_eq!(got.len(), 3, "three slots hold three samples");
    assert_eq!(got[0].created_at_ms, 1_004, "newest first");
    assert_eq!(got[0].slot, 1);
    assert!(got.iter().all(|s| s.created_at_ms >= 1_002));
    assert_eq!(store.decision_samples(2).await.unwrap().len(), 2);
}

paydesk_store::backend_tests!(
    publish_and_rollback_are_conditional,
    concurrent_publishes_from_one_version_apply_once,
    operators_and_sessions,
    decision_sample_is_bounded_by_slots,
);
