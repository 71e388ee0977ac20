//! The store contract for the operator console (business-line secret rotation, the
//! dashboard's figures) on every backend, and through a `TieredStore`.

use paydesk_core::{ids, AttemptFlag, AttemptStatus};
use paydesk_store::archive::tier_of;
use paydesk_store::generate::{historical_order, Rng};
use paydesk_store::*;
use std::collections::BTreeMap;
use std::sync::Arc;

fn line(secret_ciphertext: &str) -> BusinessLine {
    BusinessLine {
        id: ids::new_id(ids::BUSINESS_LINE),
        app_id: ids::new_id(ids::APP),
        name: format!("line-{}", ids::random_hex::<4>()),
        secret_ciphertext: secret_ciphertext.into(),
        notify_url: "http://127.0.0.1:9/notify".into(),
        allowed_url_prefixes: vec!["http://127.0.0.1:9/".into()],
        status: BusinessLineStatus::Active,
        created_at_ms: 1_000,
    }
}

fn audit(target: &str, at_ms: i64) -> AuditEntry {
    AuditEntry {
        id: ids::new_id("aud"),
        at_ms,
        actor: "operator:alice".into(),
        action: "business_line.rotate_secret".into(),
        target: target.into(),
        details_json: "{}".into(),
    }
}

async fn rotation_is_conditional_and_keeps_the_old_secret_for_a_while(store: Arc<dyn Store>) {
    let l = line("sealed-1");
    store.insert_business_line(&l).await.unwrap();
    let rot = |expected: &str, new: &str, until: i64, now: i64| SecretRotation {
        business_line_id: l.id.clone(),
        expected_ciphertext: expected.into(),
        new_ciphertext: new.into(),
        previous_valid_until_ms: until,
        now_ms: now,
    };
    // A stale expectation changes nothing.
    assert!(!store
        .rotate_business_line_secret(
            &rot("sealed-0", "sealed-x", 5_000, 2_000),
            &audit(&l.id, 2_000)
        )
        .await
        .unwrap());
    assert_eq!(store.audit_log(10).await.unwrap(), vec![]);
    assert_eq!(
        store
            .previous_business_line_secret(&l.id, 2_000)
            .await
            .unwrap(),
        None
    );
    assert!(store
        .rotate_business_line_secret(
            &rot("sealed-1", "sealed-2", 5_000, 2_000),
            &audit(&l.id, 2_000)
        )
        .await
        .unwrap());
    let now = store.business_line_by_id(&l.id).await.unwrap().unwrap();
    assert_eq!(now.secret_ciphertext, "sealed-2");
    let prev = PreviousSecret {
        secret_ciphertext: "sealed-1".into(),
        valid_until_ms: 5_000,
    };
    assert_eq!(
        store
            .previous_business_line_secret(&l.id, 4_999)
            .await
            .unwrap(),
        Some(prev)
    );
    assert_eq!(
        store
            .previous_business_line_secret(&l.id, 5_000)
            .await
            .unwrap(),
        None,
        "never accepted after its deadline"
    );
    // Rotating again replaces the previous secret; the audit log has both rotations.
    assert!(store
        .rotate_business_line_secret(
            &rot("sealed-2", "sealed-3", 9_000, 3_000),
            &audit(&l.id, 3_000)
        )
        .await
        .unwrap());
    assert_eq!(
        store
            .previous_business_line_secret(&l.id, 4_000)
            .await
            .unwrap()
            .map(|p| p.secret_ciphertext),
        Some("sealed-2".into())
    );
    assert_eq!(store.audit_log(10).await.unwrap().len(), 2);
}

async fn dashboard_sums_what_was_stored(store: Arc<dyn Store>) {
    let l = line("sealed");
    store.insert_business_line(&l).await.unwrap();
    let now_ms = 1_800_000_000_000;
    let mut rng = Rng::new(11);
    let mut bundles: Vec<_> = (0..300)
        .map(|i| historical_order(&mut rng, &l, format!("dash-{i}"), now_ms, 2))
        .collect();
    // One duplicate payment, flagged.
    if let Some(a) = bundles
        .iter_mut()
        .flat_map(|b| b.payment_attempts.iter_mut())
        .find(|a| a.status == AttemptStatus::Closed)
    {
        a.status = AttemptStatus::Succeeded;
        a.flag = Some(AttemptFlag::Duplicate);
    }
    tier_of(&*store)
        .unwrap()
        .insert_bundles_fresh(&bundles)
        .await
        .unwrap();
    let hour = 3_600_000;
    let q = DashboardQuery {
        from_ms: now_ms - 24 * hour,
        to_ms: now_ms,
        bucket_ms: hour,
    };
    let d = store.dashboard(&q).await.unwrap();
    // The oracle: the same sums over the generated rows.
    let mut want: BTreeMap<(i64, String, String), (i64, i64, i64)> = BTreeMap::new();
    for a in bundles.iter().flat_map(|b| b.payment_attempts.iter()) {
        if a.created_at_ms < q.from_ms || a.created_at_ms >= q.to_ms {
            continue;
        }
        let bucket = q.from_ms + (a.created_at_ms - q.from_ms) / hour * hour;
        let e = want
            .entry((
                bucket,
                a.provider.as_str().to_owned(),
                a.amount.currency().code().to_owned(),
            ))
            .or_default();
        e.0 += 1;
        if a.status == AttemptStatus::Succeeded && a.flag.is_none() {
            e.1 += 1;
            e.2 += a.amount.minor();
        }
    }
    let mut got: BTreeMap<(i64, String, String), (i64, i64, i64)> = BTreeMap::new();
    for r in &d.rows {
        assert_eq!(r.business_line_id, l.id);
        let e = got
            .entry((
                r.bucket_start_ms,
                r.provider.as_str().to_owned(),
                r.currency.code().to_owned(),
            ))
            .or_default();
        e.0 += r.attempts;
        e.1 += r.paid;
        e.2 += r.paid_amount_minor;
    }
    assert!(!want.is_empty());
    assert_eq!(got, want);
    let waiting = bundles
        .iter()
        .filter(|b| b.order.status == paydesk_core::PayOrderStatus::Waiting)
        .count() as i64;
    assert_eq!(d.waiting_orders, waiting);
    assert_eq!(d.flagged, vec![(AttemptFlag::Duplicate, 1)]);
    let pending = bundles
        .iter()
        .flat_map(|b| b.events.iter())
        .filter(|e| e.event.status == EventStatus::Pending)
        .count() as i64;
    assert_eq!(d.outbox.pending, pending);
    // A window that makes no sense is refused, not answered.
    assert!(matches!(
        store.dashboard(&DashboardQuery { bucket_ms: 0, ..q }).await,
        Err(StoreError::Invalid(_))
    ));
}

paydesk_store::backend_tests!(
    rotation_is_conditional_and_keeps_the_old_secret_for_a_while,
    dashboard_sums_what_was_stored,
);

/// Through a `TieredStore`: both live in hot.
mod tiered {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn rotation_through_tiers() {
        let db = paydesk_store::testing::fresh_tiered()
            .await
            .expect("tiered test databases");
        super::rotation_is_conditional_and_keeps_the_old_secret_for_a_while(db.store).await;
    }
}
