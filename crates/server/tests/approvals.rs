//! Maker-checker over real HTTP, on every backend: with `admin.approvals_required` set, a
//! gated admin action is held (202) until a second admin approves it; the maker cannot
//! approve their own, a viewer cannot decide, a rejection runs nothing, a decision is
//! final, and the audit entry names both operators. Without the setting nothing changes.

mod common;

use common::{admin_req as req, test_config, Sandbox, TestApp};
use paydesk_sandbox::{MerchantCredentials, Provider};
use paydesk_server::admin::operators;
use paydesk_server::payments::accounts::{CallTimeouts, MerchantAccounts};
use paydesk_server::payments::stored_accounts as sa;
use paydesk_store::{
    Backend, DifferenceKind, DifferenceState, MerchantAccountStatus, NewDifference, OperatorRole,
    RecordKind, RunTotals, StartRun, Store, Transition,
};
use serde_json::{json, Value};

const BOTH: &str = "operator:alice, approved by operator:bob";

async fn audit_actor(store: &dyn Store, action: &str, target: &str) -> Option<String> {
    store
        .audit_log(200)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.action == action && e.target == target)
        .map(|e| e.actor)
}

/// One open difference on a made-up bill day (the totals tie out: one line differing).
async fn open_difference(store: &dyn Store) -> (String, i64) {
    let r = store.reconciliation();
    let Transition::Applied(run) = r
        .start_run(&StartRun {
            id: paydesk_core::ids::new_id("rcr"),
            bill_date: "2024-03-01".into(),
            merchant_account: "wx-main".into(),
            provider: paydesk_core::Provider::Wechatpay,
            currency: paydesk_core::Currency::CNY,
            now_ms: 1_000,
            stale_before_ms: 0,
        })
        .await
        .unwrap()
    else {
        panic!("a new run");
    };
    let totals = RunTotals {
        provider_count: 1,
        provider_net_minor: 30,
        paydesk_count: 1,
        paydesk_net_minor: 20,
        differing_count: 1,
        differing_provider_net_minor: 30,
        differing_paydesk_net_minor: 20,
        ..RunTotals::default()
    };
    let d = NewDifference {
        id: paydesk_core::ids::new_id("rcd"),
        kind: DifferenceKind::AmountDiffers,
        record_kind: RecordKind::Payment,
        attempt_no: "A1".into(),
        refund_no: None,
        provider_txn_id: Some("42000A1".into()),
        provider_amount_minor: Some(30),
        paydesk_amount_minor: Some(20),
        provider_fee_minor: Some(0),
        paydesk_fee_minor: None,
        provider_status: Some("SUCCEEDED".into()),
        paydesk_status: Some("SUCCEEDED".into()),
        source: Some("wechatpay trade bill:2".into()),
    };
    let Transition::Applied((_, open)) = r
        .finish_run(&run.id, run.version, &totals, &[d], 2_000)
        .await
        .unwrap()
    else {
        panic!("finished");
    };
    (open[0].id.clone(), open[0].version)
}

async fn gated_actions_wait_for_a_second_admin(backend: Backend) {
    let sandbox = Sandbox::start().await;
    let mut config = test_config();
    config.admin.approvals_required = [
        "rules.publish",
        "business_line.rotate_secret",
        "merchant_account.change",
        "reconciliation.resolve",
    ]
    .map(String::from)
    .to_vec();
    let Some(app) = TestApp::start(backend, "http://127.0.0.1/notify", config).await else {
        return;
    };
    let store = &*app.store;
    let base = paydesk_sandbox::ensure_named_merchants(
        &sandbox.dir,
        paydesk_sandbox::EMBEDDED_ACCOUNTS,
        &sandbox.base,
    )
    .unwrap();
    let base = MerchantAccounts::parse_configs(Value::Array(base)).unwrap();
    let t = CallTimeouts {
        timeout_ms: 2_000,
        connect_timeout_ms: 1_000,
    };
    sa::install(&app.state, base, t).await.unwrap();
    let (alice, victor) = common::admin_and_viewer(store).await;
    let bob = operators::create(store, "bob", OperatorRole::Admin)
        .await
        .unwrap()
        .token;

    // ---- business_line.rotate_secret: held, then approved by bob ----
    let line = app.app_id_line_id().await;
    let sealed_before = store
        .business_line_by_id(&line)
        .await
        .unwrap()
        .unwrap()
        .secret_ciphertext;
    let rotate = format!("/admin/v1/business-lines/{line}/rotate-secret");
    // A malformed request is refused at once, not held.
    let (s, e) = req(
        &app,
        "POST",
        &rotate,
        &alice,
        Some(json!({"overlap_hours": -1})),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{e}"
    );
    let (s, held) = req(
        &app,
        "POST",
        &rotate,
        &alice,
        Some(json!({"overlap_hours": 1})),
    )
    .await;
    assert_eq!(s, 202, "{held}");
    assert_eq!(held["status"], "PENDING");
    assert_eq!(held["action"], "business_line.rotate_secret");
    assert!(held.get("secret").is_none(), "{held}");
    let rot_id = held["approval_id"].as_str().unwrap().to_owned();
    let unchanged = store.business_line_by_id(&line).await.unwrap().unwrap();
    assert_eq!(
        unchanged.secret_ciphertext, sealed_before,
        "nothing changed yet"
    );

    // Anyone may read the queue.
    let (s, list) = req(
        &app,
        "GET",
        "/admin/v1/approvals?status=PENDING",
        &victor,
        None,
    )
    .await;
    assert_eq!(s, 200, "{list}");
    let rows = list["approvals"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{list}");
    assert_eq!(rows[0]["id"], rot_id.as_str());
    assert_eq!(rows[0]["requested_by"], "operator:alice");
    assert_eq!(rows[0]["target"], line.as_str());
    let (s, e) = req(
        &app,
        "GET",
        "/admin/v1/approvals?status=MAYBE",
        &victor,
        None,
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (400, Some("INVALID_REQUEST")));

    // Not by the maker, not by a viewer.
    let approve = format!("/admin/v1/approvals/{rot_id}/approve");
    let (s, e) = req(&app, "POST", &approve, &alice, None).await;
    assert_eq!((s, e["code"].as_str()), (403, Some("FORBIDDEN")), "{e}");
    let (s, e) = req(&app, "POST", &approve, &victor, None).await;
    assert_eq!((s, e["code"].as_str()), (403, Some("FORBIDDEN")), "{e}");
    let (s, e) = req(
        &app,
        "POST",
        "/admin/v1/approvals/apr_nope/approve",
        &bob,
        None,
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (404, Some("NOT_FOUND")), "{e}");
    assert_eq!(
        store
            .business_line_by_id(&line)
            .await
            .unwrap()
            .unwrap()
            .secret_ciphertext,
        sealed_before
    );

    let (s, done) = req(&app, "POST", &approve, &bob, None).await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["approval"]["status"], "APPROVED");
    assert_eq!(done["approval"]["decided_by"], "operator:bob");
    assert!(done["result"]["secret"].as_str().is_some(), "{done}");
    let rotated = store.business_line_by_id(&line).await.unwrap().unwrap();
    assert_ne!(
        rotated.secret_ciphertext, sealed_before,
        "rotated on approval"
    );
    assert_eq!(
        audit_actor(store, "business_line.rotate_secret", &line)
            .await
            .as_deref(),
        Some(BOTH)
    );
    // Decided once: approving or rejecting again is 409.
    let (s, e) = req(&app, "POST", &approve, &bob, None).await;
    assert_eq!((s, e["code"].as_str()), (409, Some("INVALID_STATE")), "{e}");
    let (s, e) = req(
        &app,
        "POST",
        &format!("/admin/v1/approvals/{rot_id}/reject"),
        &bob,
        None,
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (409, Some("INVALID_STATE")), "{e}");
    assert_eq!(
        store
            .business_line_by_id(&line)
            .await
            .unwrap()
            .unwrap()
            .secret_ciphertext,
        rotated.secret_ciphertext,
        "ran once"
    );

    // ---- merchant_account.change: the request (with keys) is stored sealed ----
    let MerchantCredentials::Alipay {
        gateway_url,
        app_id,
        seller_id,
        app_private_key_pem,
        alipay_public_key_pem,
        ..
    } = paydesk_sandbox::add_merchant(&sandbox.dir, Provider::Alipay, &sandbox.base).unwrap()
    else {
        panic!("an Alipay merchant");
    };
    let body = json!({
        "id": "ali-checked",
        "public": {"provider": "alipay", "gateway_url": gateway_url, "app_id": app_id,
                   "seller_id": seller_id, "alipay_public_key_pem": alipay_public_key_pem},
        "secret": {"provider": "alipay", "app_private_key_pem": app_private_key_pem},
    });
    let (s, held) = req(
        &app,
        "POST",
        "/admin/v1/merchant-accounts",
        &alice,
        Some(body),
    )
    .await;
    assert_eq!(s, 202, "{held}");
    assert_eq!(held["action"], "merchant_account.change");
    let add_id = held["approval_id"].as_str().unwrap().to_owned();
    assert!(store
        .merchant_account("ali-checked")
        .await
        .unwrap()
        .is_none());
    let stored = store.approval(&add_id).await.unwrap().unwrap();
    let key_line = app_private_key_pem
        .lines()
        .find(|l| !l.starts_with("-----") && l.len() >= 16)
        .unwrap();
    assert!(
        !stored.payload_json.contains(key_line),
        "keys stored sealed"
    );
    assert!(!stored.payload_json.contains("PRIVATE KEY"));
    let (_, list) = req(&app, "GET", "/admin/v1/approvals", &victor, None).await;
    let row = list["approvals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == add_id.as_str())
        .unwrap()
        .clone();
    assert!(row.get("request_body").is_none(), "{row}");
    assert!(!list.to_string().contains(key_line));

    let (s, done) = req(
        &app,
        "POST",
        &format!("/admin/v1/approvals/{add_id}/approve"),
        &bob,
        None,
    )
    .await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["result"]["id"], "ali-checked");
    let added = store
        .merchant_account("ali-checked")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(added.status, MerchantAccountStatus::Active);
    assert_eq!(
        audit_actor(store, "merchant_account.add", "ali-checked")
            .await
            .as_deref(),
        Some(BOTH)
    );

    // Disabling it, rejected by bob: nothing happens.
    let (s, held) = req(
        &app,
        "POST",
        "/admin/v1/merchant-accounts/ali-checked/status",
        &alice,
        Some(json!({"status": "DISABLED"})),
    )
    .await;
    assert_eq!(s, 202, "{held}");
    let dis_id = held["approval_id"].as_str().unwrap().to_owned();
    let reject = format!("/admin/v1/approvals/{dis_id}/reject");
    let (s, e) = req(&app, "POST", &reject, &alice, None).await;
    assert_eq!((s, e["code"].as_str()), (403, Some("FORBIDDEN")), "{e}");
    let (s, e) = req(&app, "POST", &reject, &victor, None).await;
    assert_eq!((s, e["code"].as_str()), (403, Some("FORBIDDEN")), "{e}");
    let (s, done) = req(&app, "POST", &reject, &bob, None).await;
    assert_eq!(s, 200, "{done}");
    assert_eq!(done["approval"]["status"], "REJECTED");
    let (s, e) = req(
        &app,
        "POST",
        &format!("/admin/v1/approvals/{dis_id}/approve"),
        &bob,
        None,
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (409, Some("INVALID_STATE")), "{e}");
    let still = store
        .merchant_account("ali-checked")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        still.status,
        MerchantAccountStatus::Active,
        "a rejection runs nothing"
    );
    assert_eq!(still.version, added.version);

    // ---- reconciliation.resolve ----
    let (diff, version) = open_difference(store).await;
    let (s, held) = req(
        &app,
        "POST",
        &format!("/admin/v1/reconciliation/differences/{diff}/resolve"),
        &alice,
        Some(json!({"reason": "bank confirmed the 0.30", "version": version})),
    )
    .await;
    assert_eq!(s, 202, "{held}");
    let res_id = held["approval_id"].as_str().unwrap().to_owned();
    let open = store
        .reconciliation()
        .difference(&diff)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(open.state, DifferenceState::Open);
    let (s, done) = req(
        &app,
        "POST",
        &format!("/admin/v1/approvals/{res_id}/approve"),
        &bob,
        None,
    )
    .await;
    assert_eq!(s, 200, "{done}");
    let resolved = store
        .reconciliation()
        .difference(&diff)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resolved.state, DifferenceState::Resolved);
    assert_eq!(resolved.resolved_by.as_deref(), Some(BOTH));
    assert_eq!(
        audit_actor(store, "reconciliation.resolve", &diff)
            .await
            .as_deref(),
        Some(BOTH)
    );

    // ---- rules.publish: the version's author names both ----
    let (s, draft) = req(&app, "GET", "/admin/v1/rules/draft", &alice, None).await;
    assert_eq!(s, 200, "{draft}");
    let active_before = store.active_rule_version().await.unwrap().version;
    let (s, held) = req(
        &app,
        "POST",
        "/admin/v1/rules/publish",
        &alice,
        Some(json!({"rules": draft["rules"], "comment": "same rules, checked"})),
    )
    .await;
    assert_eq!(s, 202, "{held}");
    assert_eq!(held["action"], "rules.publish");
    let pub_id = held["approval_id"].as_str().unwrap().to_owned();
    assert_eq!(
        store.active_rule_version().await.unwrap().version,
        active_before
    );
    let stored = store.approval(&pub_id).await.unwrap().unwrap();
    assert!(
        stored.payload_json.contains("expected_active"),
        "the reviewed version is pinned: {}",
        stored.payload_json
    );
    let (s, done) = req(
        &app,
        "POST",
        &format!("/admin/v1/approvals/{pub_id}/approve"),
        &bob,
        None,
    )
    .await;
    assert_eq!(s, 200, "{done}");
    let v = done["result"]["version"].as_i64().unwrap();
    assert!(v > active_before);
    let (s, version) = req(
        &app,
        "GET",
        &format!("/admin/v1/rules/versions/{v}"),
        &victor,
        None,
    )
    .await;
    assert_eq!(s, 200, "{version}");
    assert_eq!(version["author"], "alice, approved by bob", "{version}");

    // Nothing left pending.
    let (_, list) = req(
        &app,
        "GET",
        "/admin/v1/approvals?status=PENDING",
        &alice,
        None,
    )
    .await;
    assert_eq!(list["approvals"], json!([]), "{list}");
}

/// Without `admin.approvals_required` the actions run at once, as before.
async fn without_the_setting_actions_run_at_once(backend: Backend) {
    let Some(app) = TestApp::start(backend, "http://127.0.0.1/notify", test_config()).await else {
        return;
    };
    let (alice, _) = common::admin_and_viewer(&*app.store).await;
    let line = app.app_id_line_id().await;
    let (s, done) = req(
        &app,
        "POST",
        &format!("/admin/v1/business-lines/{line}/rotate-secret"),
        &alice,
        Some(json!({"overlap_hours": 1})),
    )
    .await;
    assert_eq!(s, 200, "{done}");
    assert!(done["secret"].as_str().is_some());
    assert_eq!(
        audit_actor(&*app.store, "business_line.rotate_secret", &line)
            .await
            .as_deref(),
        Some("operator:alice")
    );
    let (_, list) = req(&app, "GET", "/admin/v1/approvals", &alice, None).await;
    assert_eq!(list["approvals"], json!([]), "{list}");
}

#[test]
fn unknown_actions_are_refused_at_config_validation() {
    let mut config = test_config();
    config.admin.approvals_required = vec!["payout.retry".into(), "merchant_account.change".into()];
    config.validate().unwrap();
    config.admin.approvals_required = vec!["rules.publsh".into()];
    let e = config.validate().unwrap_err().to_string();
    assert!(e.contains("rules.publsh"), "{e}");
}

per_backend!(
    gated_actions_wait_for_a_second_admin,
    without_the_setting_actions_run_at_once,
);
