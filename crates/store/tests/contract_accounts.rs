//! The store contract for merchant accounts, their key versions and the audit log: the
//! same tests against every backend (see `contract.rs` for the set-up), and through a
//! `TieredStore`.

use paydesk_core::{ids, Provider};
use paydesk_store::*;
use std::sync::Arc;

fn audit(action: &str, target: &str, at_ms: i64) -> AuditEntry {
    AuditEntry {
        id: ids::new_id("aud"),
        at_ms,
        actor: "cli:alice".into(),
        action: action.into(),
        target: target.into(),
        details_json: "{\"provider\":\"wechatpay\"}".into(),
    }
}

fn account(id: &str, provider: Provider) -> MerchantAccount {
    MerchantAccount {
        id: id.into(),
        provider,
        status: MerchantAccountStatus::Active,
        public_json: format!("{{\"mchid\":\"1900000001\",\"id\":\"{id}\"}}"),
        created_at_ms: 1_000,
        updated_at_ms: 1_000,
        version: 1,
    }
}

fn key(id: &str, version: i64, at_ms: i64) -> MerchantAccountKey {
    MerchantAccountKey {
        account_id: id.into(),
        key_version: version,
        wrapped_data_key: format!("v1:wrapped-{version}"),
        ciphertext: format!("v1:sealed-{version}"),
        created_at_ms: at_ms,
        retired_at_ms: None,
    }
}

fn update(a: &MerchantAccount, at_ms: i64) -> MerchantAccountUpdate {
    MerchantAccountUpdate {
        id: a.id.clone(),
        expected_version: a.version,
        status: a.status,
        public_json: a.public_json.clone(),
        new_key: None,
        retire_key_version: None,
        now_ms: at_ms,
        audit: audit("merchant_account.update", &a.id, at_ms),
    }
}

fn applied<T: std::fmt::Debug>(t: Transition<T>) -> T {
    match t {
        Transition::Applied(v) => v,
        other => panic!("expected applied, got {other:?}"),
    }
}

async fn accounts_insert_list_and_conflict(store: Arc<dyn Store>) {
    assert_eq!(
        store.merchant_accounts_stamp().await.unwrap(),
        MerchantAccountsStamp::default()
    );
    let wx = account("wx-main", Provider::Wechatpay);
    store
        .insert_merchant_account(
            &wx,
            &key("wx-main", 1, 1_000),
            &audit("merchant_account.add", "wx-main", 1_000),
        )
        .await
        .unwrap();
    let ali = account("ali-main", Provider::Alipay);
    store
        .insert_merchant_account(
            &ali,
            &key("ali-main", 1, 1_001),
            &audit("merchant_account.add", "ali-main", 1_001),
        )
        .await
        .unwrap();
    // A taken id is a conflict, and neither its key nor its audit entry is written.
    let again = store
        .insert_merchant_account(
            &wx,
            &key("wx-main", 7, 1_002),
            &audit("merchant_account.add", "wx-main", 1_002),
        )
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    assert_eq!(store.audit_log(100).await.unwrap().len(), 2);
    assert_eq!(
        store.merchant_account_keys("wx-main").await.unwrap().len(),
        1
    );
    // Ids compare byte for byte (MySQL: utf8mb4_bin).
    store
        .insert_merchant_account(
            &account("WX-MAIN", Provider::Wechatpay),
            &key("WX-MAIN", 1, 1_003),
            &audit("merchant_account.add", "WX-MAIN", 1_003),
        )
        .await
        .unwrap();

    assert_eq!(
        store.merchant_account("wx-main").await.unwrap(),
        Some(wx.clone())
    );
    assert!(store.merchant_account("nope").await.unwrap().is_none());
    let ids: Vec<String> = store
        .list_merchant_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.id)
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ["WX-MAIN", "ali-main", "wx-main"]);
    let stamp = store.merchant_accounts_stamp().await.unwrap();
    assert_eq!(
        (stamp.count, stamp.version_sum, stamp.max_updated_at_ms),
        (3, 3, 1_000)
    );
    let keys = store.merchant_account_keys("wx-main").await.unwrap();
    assert_eq!(keys, vec![key("wx-main", 1, 1_000)]);
    assert!(
        !format!("{:?}", keys[0]).contains("sealed"),
        "Debug shows no ciphertext"
    );

    // A key version for another account than the one inserted is refused.
    let bad = store
        .insert_merchant_account(
            &account("x", Provider::Alipay),
            &key("y", 1, 1),
            &audit("merchant_account.add", "x", 1),
        )
        .await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))), "{bad:?}");
    assert!(store.merchant_account("x").await.unwrap().is_none());
}

async fn updates_are_conditional_and_audited(store: Arc<dyn Store>) {
    let wx = account("wx-main", Provider::Wechatpay);
    store
        .insert_merchant_account(
            &wx,
            &key("wx-main", 1, 1_000),
            &audit("merchant_account.add", "wx-main", 1_000),
        )
        .await
        .unwrap();
    // Disable.
    let mut u = update(&wx, 2_000);
    u.status = MerchantAccountStatus::Disabled;
    u.audit.action = "merchant_account.disable".into();
    let disabled = applied(store.update_merchant_account(&u).await.unwrap());
    assert_eq!(
        (
            disabled.status,
            disabled.version,
            disabled.updated_at_ms,
            disabled.created_at_ms
        ),
        (MerchantAccountStatus::Disabled, 2, 2_000, 1_000)
    );
    // The same change decided on the old version is refused; nothing is written.
    let mut stale = update(&wx, 2_500);
    stale.new_key = Some(key("wx-main", 2, 2_500));
    match store.update_merchant_account(&stale).await.unwrap() {
        Transition::Refused(Some(now)) => assert_eq!(now, disabled),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        store.merchant_account_keys("wx-main").await.unwrap().len(),
        1
    );
    assert_eq!(store.audit_log(10).await.unwrap().len(), 2);
    // An unknown account is refused with nothing.
    let mut ghost = update(&account("ghost", Provider::Alipay), 3_000);
    ghost.expected_version = 1;
    assert_eq!(
        store.update_merchant_account(&ghost).await.unwrap(),
        Transition::Refused(None)
    );

    // Rotate: a new key version and new public configuration in one change.
    let mut rotate = update(&disabled, 3_000);
    rotate.status = MerchantAccountStatus::Active;
    rotate.public_json = "{\"mchid\":\"1900000001\",\"serial\":\"B\"}".into();
    rotate.new_key = Some(key("wx-main", 2, 3_000));
    rotate.audit.action = "merchant_account.rotate_key".into();
    let rotated = applied(store.update_merchant_account(&rotate).await.unwrap());
    assert_eq!(
        (rotated.version, rotated.status),
        (3, MerchantAccountStatus::Active)
    );
    assert_eq!(rotated.public_json, rotate.public_json);
    let keys = store.merchant_account_keys("wx-main").await.unwrap();
    assert_eq!(
        keys.iter().map(|k| k.key_version).collect::<Vec<_>>(),
        [1, 2],
        "oldest first"
    );

    // A taken key version is a conflict and nothing of the change is written.
    let mut dup = update(&rotated, 4_000);
    dup.new_key = Some(key("wx-main", 2, 4_000));
    let r = store.update_merchant_account(&dup).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(
        store.merchant_account("wx-main").await.unwrap(),
        Some(rotated.clone())
    );

    // Retire version 1; retiring it again, or a missing version, changes nothing.
    let mut retire = update(&rotated, 5_000);
    retire.retire_key_version = Some(1);
    retire.audit.action = "merchant_account.retire_key".into();
    let after = applied(store.update_merchant_account(&retire).await.unwrap());
    assert_eq!(after.version, 4);
    let keys = store.merchant_account_keys("wx-main").await.unwrap();
    assert_eq!(keys[0].retired_at_ms, Some(5_000));
    assert_eq!(keys[1].retired_at_ms, None);
    for v in [1, 9] {
        let mut again = update(&after, 6_000);
        again.retire_key_version = Some(v);
        let r = store.update_merchant_account(&again).await;
        assert!(matches!(r, Err(StoreError::Invalid(_))), "{v}: {r:?}");
    }
    assert_eq!(
        store.merchant_account("wx-main").await.unwrap(),
        Some(after.clone())
    );

    // A key for another account is refused.
    let mut other = update(&after, 7_000);
    other.new_key = Some(key("ali-main", 3, 7_000));
    assert!(matches!(
        store.update_merchant_account(&other).await,
        Err(StoreError::Invalid(_))
    ));

    // The stamp moved with every applied change.
    let stamp = store.merchant_accounts_stamp().await.unwrap();
    assert_eq!(
        (stamp.count, stamp.version_sum, stamp.max_updated_at_ms),
        (1, 4, 5_000)
    );
    // The audit log: one entry per applied change, newest first.
    let log = store.audit_log(10).await.unwrap();
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "merchant_account.retire_key",
            "merchant_account.rotate_key",
            "merchant_account.disable",
            "merchant_account.add"
        ]
    );
    assert_eq!(log[0].actor, "cli:alice");
    assert_eq!(log[0].target, "wx-main");
    assert_eq!(store.audit_log(1).await.unwrap().len(), 1);
}

async fn concurrent_updates_from_one_version_apply_once(store: Arc<dyn Store>) {
    let wx = account("wx-main", Provider::Wechatpay);
    store
        .insert_merchant_account(
            &wx,
            &key("wx-main", 1, 1_000),
            &audit("merchant_account.add", "wx-main", 1_000),
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..8i64 {
        let store = store.clone();
        let mut u = update(&wx, 2_000 + i);
        u.new_key = Some(key("wx-main", 2, 2_000 + i));
        tasks.push(tokio::spawn(async move {
            store.update_merchant_account(&u).await
        }));
    }
    let mut applied_count = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(Transition::Applied(_)) => applied_count += 1,
            Ok(Transition::Refused(Some(_))) | Err(StoreError::Conflict(_)) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(applied_count, 1);
    assert_eq!(
        store.merchant_account_keys("wx-main").await.unwrap().len(),
        2
    );
    assert_eq!(
        store
            .merchant_account("wx-main")
            .await
            .unwrap()
            .unwrap()
            .version,
        2
    );
    assert_eq!(store.audit_log(100).await.unwrap().len(), 2);
}

async fn audit_entries_stand_alone(store: Arc<dyn Store>) {
    for i in 0..3 {
        store
            .insert_audit_entry(&audit("merchant_account.test", "wx-main", 10 + i))
            .await
            .unwrap();
    }
    let log = store.audit_log(2).await.unwrap();
    assert_eq!(log.iter().map(|e| e.at_ms).collect::<Vec<_>>(), [12, 11]);
    assert_eq!(log[0].details_json, "{\"provider\":\"wechatpay\"}");
}

paydesk_store::backend_tests!(
    accounts_insert_list_and_conflict,
    updates_are_conditional_and_audited,
    concurrent_updates_from_one_version_apply_once,
    audit_entries_stand_alone,
);

/// Through a `TieredStore`: accounts live in hot.
mod tiered {
    paydesk_store::backend_tests!(
        tiered:
        accounts_insert_list_and_conflict,
        updates_are_conditional_and_audited,
    );
}
