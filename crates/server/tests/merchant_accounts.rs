//! Merchant accounts kept in the database, on every backend: loaded beside the sandbox's
//! (the database wins on an id clash), reloaded by every instance when they change, listed
//! by the admin API without secrets, tested against the sandbox, and refused by rule
//! validation when unknown or disabled.

mod common;

use common::{admin_req as req, test_config, Sandbox, TestApp};
use paydesk_sandbox::{MerchantCredentials, Provider};

use paydesk_server::payments::accounts::PlatformPublicKey;
use paydesk_server::payments::accounts::{CallTimeouts, MerchantAccounts};
use paydesk_server::payments::stored_accounts::{self as sa, PlatformKey};
use paydesk_store::{Backend, MerchantAccountStatus};
use serde_json::{json, Value};
use std::time::Duration;

const T: CallTimeouts = CallTimeouts {
    timeout_ms: 2_000,
    connect_timeout_ms: 1_000,
};

/// Waits (bounded) until `pred` holds for the instance's accounts.
async fn until(app: &TestApp, what: &str, pred: impl Fn(&MerchantAccounts) -> bool) {
    for _ in 0..100 {
        if pred(&app.state.accounts()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "timed out waiting for {what}: {:?}",
        app.state.accounts().ids()
    );
}

fn secrets_of(c: &MerchantCredentials) -> Vec<String> {
    let pems = match c {
        MerchantCredentials::Wechatpay {
            merchant_private_key_pem,
            apiv3_key,
            ..
        } => vec![merchant_private_key_pem.clone(), apiv3_key.clone()],
        MerchantCredentials::Alipay {
            app_private_key_pem,
            ..
        } => vec![app_private_key_pem.clone()],
    };
    pems.iter()
        .flat_map(|p| {
            p.lines()
                .filter(|l| !l.starts_with("-----") && l.len() >= 16)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

async fn stored_accounts_load_reload_list_test_and_validate(backend: Backend) {
    let sandbox = Sandbox::start().await;
    let mut config = test_config();
    config.payments.accounts_poll_interval_ms = 50;
    let Some(app) = TestApp::start(backend, "http://127.0.0.1/notify", config).await else {
        return;
    };
    let store = app.store.clone();
    let key = &app.state.master_key;

    // Stored: a new WeChat Pay account, and one under an id the sandbox's set also has.
    let wx =
        paydesk_sandbox::add_merchant(&sandbox.dir, Provider::Wechatpay, &sandbox.base).unwrap();
    let ali = paydesk_sandbox::add_merchant(&sandbox.dir, Provider::Alipay, &sandbox.base).unwrap();
    for (id, creds) in [("wx-db", &wx), ("ali-main", &ali)] {
        let (_, public, secret) = sa::split_config(config_of(id, creds));
        sa::create(&*store, key, "test:setup", id, &public, &secret)
            .await
            .unwrap();
    }
    // One sealed under another master key cannot be opened here: it is left out, the
    // others still load.
    let stranger = paydesk_server::secrets::MasterKey::from_bytes(&[1u8; 32]).unwrap();
    let (_, public, secret) = sa::split_config(config_of("ali-foreign", &ali));
    sa::create(
        &*store,
        &stranger,
        "test:setup",
        "ali-foreign",
        &public,
        &secret,
    )
    .await
    .unwrap();
    assert!(matches!(
        sa::config_for(&*store, key, "ali-foreign").await,
        Err(sa::AccountAdminError::Secret { .. })
    ));

    // Loaded beside the sandbox's accounts; the database's `ali-main` wins.
    let base = paydesk_sandbox::ensure_named_merchants(
        &sandbox.dir,
        paydesk_sandbox::EMBEDDED_ACCOUNTS,
        &sandbox.base,
    )
    .unwrap();
    let base = MerchantAccounts::parse_configs(Value::Array(base)).unwrap();
    let ids = sa::install(&app.state, base, T).await.unwrap();
    assert_eq!(
        ids,
        [
            "ali-main",
            "ali-seller-acme",
            "wx-db",
            "wx-main",
            "wx-seller-acme"
        ]
    );
    let MerchantCredentials::Alipay { seller_id, .. } = &ali else {
        panic!()
    };
    assert_eq!(
        &app.state.accounts().get("ali-main").unwrap().merchant_id,
        seller_id
    );

    // Disabling reaches the instance through the poller, enabling brings it back.
    sa::set_status(
        &*store,
        "test:ops",
        "wx-db",
        MerchantAccountStatus::Disabled,
    )
    .await
    .unwrap()
    .unwrap();
    until(&app, "wx-db disabled", |a| a.get("wx-db").is_none()).await;
    sa::set_status(&*store, "test:ops", "wx-db", MerchantAccountStatus::Active)
        .await
        .unwrap();
    until(&app, "wx-db enabled", |a| a.get("wx-db").is_some()).await;

    // WeChat platform key rotation: a second platform public key joins the ring.
    let other =
        paydesk_sandbox::add_merchant(&sandbox.dir, Provider::Wechatpay, &sandbox.base).unwrap();
    let MerchantCredentials::Wechatpay {
        platform_public_key_id,
        platform_public_key_pem,
        ..
    } = &other
    else {
        panic!()
    };
    let before = store
        .merchant_account("wx-db")
        .await
        .unwrap()
        .unwrap()
        .version;
    sa::add_platform_key(
        &*store,
        key,
        "test:ops",
        "wx-db",
        PlatformKey::PublicKey(PlatformPublicKey {
            id: platform_public_key_id.clone(),
            pem: platform_public_key_pem.clone(),
        }),
    )
    .await
    .unwrap();
    let after = store.merchant_account("wx-db").await.unwrap().unwrap();
    assert_eq!(after.version, before + 1);
    assert!(after.public_json.contains(platform_public_key_id.as_str()));
    let MerchantCredentials::Wechatpay {
        platform_public_key_id: first_id,
        ..
    } = &wx
    else {
        panic!()
    };
    sa::remove_platform_key(&*store, "test:ops", "wx-db", first_id)
        .await
        .unwrap();
    // The sandbox's merchant also came with a platform certificate: remove it, then the
    // remaining public key is the last one and stays.
    let MerchantCredentials::Wechatpay {
        platform_certificate_serial,
        ..
    } = &wx
    else {
        panic!()
    };
    sa::remove_platform_key(&*store, "test:ops", "wx-db", platform_certificate_serial)
        .await
        .unwrap();
    let last = sa::remove_platform_key(&*store, "test:ops", "wx-db", platform_public_key_id).await;
    assert!(
        matches!(&last, Err(sa::AccountAdminError::Invalid(m)) if m.contains("last")),
        "the last one stays: {last:?}"
    );
    // Put the sandbox's key back so the connection test verifies.
    let MerchantCredentials::Wechatpay {
        platform_public_key_pem: first_pem,
        ..
    } = &wx
    else {
        panic!()
    };
    sa::add_platform_key(
        &*store,
        key,
        "test:ops",
        "wx-db",
        PlatformKey::PublicKey(PlatformPublicKey {
            id: first_id.clone(),
            pem: first_pem.clone(),
        }),
    )
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The admin API: list (viewers too) without secrets; test (admins only).
    let (admin, viewer) = common::admin_and_viewer(&*store).await;
    let (s, list) = req(&app, "GET", "/admin/v1/merchant-accounts", &viewer, None).await;
    assert_eq!(s, 200, "{list}");
    let rows = list["merchant_accounts"].as_array().unwrap();
    let ids: Vec<&str> = rows.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "ali-foreign",
            "ali-main",
            "ali-seller-acme",
            "wx-db",
            "wx-main",
            "wx-seller-acme"
        ]
    );
    assert_eq!(rows[0]["loaded"], false, "stored but not usable here");
    assert_eq!(rows[2]["source"], "config");
    let wx_row = rows.iter().find(|r| r["id"] == "wx-db").unwrap();
    assert_eq!(
        (wx_row["source"].as_str(), wx_row["loaded"].as_bool()),
        (Some("database"), Some(true))
    );
    assert_eq!(wx_row["keys"][0]["key_version"], 1);
    let text = list.to_string();
    assert!(!text.contains("PRIVATE KEY"), "{text}");
    for s in secrets_of(&wx).iter().chain(secrets_of(&ali).iter()) {
        assert!(!text.contains(s.as_str()), "a secret in the list");
    }
    let (s, e) = req(
        &app,
        "POST",
        "/admin/v1/merchant-accounts/wx-db/test",
        &viewer,
        None,
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (403, Some("FORBIDDEN")), "{e}");
    for id in ["wx-db", "ali-main", "wx-main"] {
        let (s, t) = req(
            &app,
            "POST",
            &format!("/admin/v1/merchant-accounts/{id}/test"),
            &admin,
            None,
        )
        .await;
        assert_eq!(s, 200, "{t}");
        assert_eq!(t["ok"], true, "{id}: {t}");
    }
    let (s, _) = req(
        &app,
        "POST",
        "/admin/v1/merchant-accounts/nope/test",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = req(
        &app,
        "POST",
        "/admin/v1/merchant-accounts/a%20b/test",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 400);
    let audit = store.audit_log(100).await.unwrap();
    assert!(audit
        .iter()
        .any(|e| e.action == "merchant_account.test" && e.actor == "operator:alice"));

    // Rules: a route to a disabled or unknown account fails validation and publish.
    let (_, draft) = req(&app, "GET", "/admin/v1/rules/draft", &admin, None).await;
    let mut rules = draft["rules"].clone();
    rules["business_rules"].as_array_mut().unwrap().push(json!({
        "id": "to-db", "name": "Route to the stored account", "priority": 10,
        "when": {"fact": "item_category", "equals": "books"},
        "then": {"routes": [{"method": "WECHAT_PAY", "terminals": ["IOS"],
                             "merchant_account": "wx-db", "product": "APP"}]}
    }));
    let (s, p) = req(
        &app,
        "POST",
        "/admin/v1/rules/validate",
        &admin,
        Some(json!({"rules": rules.clone()})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(p["valid"], true, "{p}");
    sa::set_status(
        &*store,
        "test:ops",
        "wx-db",
        MerchantAccountStatus::Disabled,
    )
    .await
    .unwrap();
    until(&app, "wx-db disabled", |a| a.get("wx-db").is_none()).await;
    let (s, p) = req(
        &app,
        "POST",
        "/admin/v1/rules/publish",
        &admin,
        Some(json!({"rules": rules.clone(), "comment": "c"})),
    )
    .await;
    assert_eq!((s, p["code"].as_str()), (400, Some("RULES_INVALID")), "{p}");
    let f = p["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "disabled_merchant_account")
        .unwrap_or_else(|| panic!("{p}"));
    assert_eq!(f["rule_id"], "to-db");
    assert!(f["message"].as_str().unwrap().contains("wx-db"), "{f}");
    let mut unknown = rules.clone();
    let last = unknown["business_rules"]
        .as_array_mut()
        .unwrap()
        .last_mut()
        .unwrap();
    last["then"]["routes"][0]["merchant_account"] = "wx-nowhere".into();
    let (s, p) = req(
        &app,
        "POST",
        "/admin/v1/rules/validate",
        &admin,
        Some(json!({"rules": unknown})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(p["valid"], false, "{p}");
    assert!(
        p["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "unknown_merchant_account"),
        "{p}"
    );
    sa::set_status(&*store, "test:ops", "wx-db", MerchantAccountStatus::Active)
        .await
        .unwrap();
    until(&app, "wx-db enabled", |a| a.get("wx-db").is_some()).await;
    let (s, p) = req(
        &app,
        "POST",
        "/admin/v1/rules/publish",
        &admin,
        Some(json!({"rules": rules, "comment": "c"})),
    )
    .await;
    assert_eq!(s, 201, "{p}");

    drop(sandbox);
}

fn config_of(
    id: &str,
    c: &MerchantCredentials,
) -> paydesk_server::payments::accounts::AccountConfig {
    let mut v = serde_json::to_value(c).unwrap();
    v["id"] = id.into();
    MerchantAccounts::parse_configs(Value::Array(vec![v]))
        .unwrap()
        .pop()
        .unwrap()
}

/// The console's way in: an admin adds an account from its keys over the admin API (in use
/// at once, never echoed), a viewer is refused, a taken id is a conflict, a bad body names
/// no key material, and disabling takes it out of use; all audited with the operator.
async fn admin_api_adds_and_disables_accounts(backend: Backend) {
    let sandbox = Sandbox::start().await;
    let Some(app) = TestApp::start(backend, "http://127.0.0.1/notify", test_config()).await else {
        return;
    };
    let base = paydesk_sandbox::ensure_named_merchants(
        &sandbox.dir,
        paydesk_sandbox::EMBEDDED_ACCOUNTS,
        &sandbox.base,
    )
    .unwrap();
    let base = MerchantAccounts::parse_configs(Value::Array(base)).unwrap();
    sa::install(&app.state, base, T).await.unwrap();
    let (admin, viewer) = common::admin_and_viewer(&*app.store).await;
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
        "id": "ali-console",
        "public": {"provider": "alipay", "gateway_url": gateway_url, "app_id": app_id,
                   "seller_id": seller_id, "alipay_public_key_pem": alipay_public_key_pem},
        "secret": {"provider": "alipay", "app_private_key_pem": app_private_key_pem},
    });
    let (s, _) = req(
        &app,
        "POST",
        "/admin/v1/merchant-accounts",
        &viewer,
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, 403);
    assert!(app
        .store
        .merchant_account("ali-console")
        .await
        .unwrap()
        .is_none());

    // A body the server cannot use: a stable code, and no key material in the message.
    let mut bad = body.clone();
    bad["secret"]["unexpected"] = json!(app_private_key_pem.clone());
    let (s, e) = req(
        &app,
        "POST",
        "/admin/v1/merchant-accounts",
        &admin,
        Some(bad),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{e}"
    );
    assert!(!e.to_string().contains("PRIVATE KEY"), "{e}");
    let mut wrong_key = body.clone();
    wrong_key["secret"]["app_private_key_pem"] =
        json!("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----");
    let (s, e) = req(
        &app,
        "POST",
        "/admin/v1/merchant-accounts",
        &admin,
        Some(wrong_key),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{e}"
    );
    assert!(app
        .store
        .merchant_account("ali-console")
        .await
        .unwrap()
        .is_none());

    let (s, added) = req(
        &app,
        "POST",
        "/admin/v1/merchant-accounts",
        &admin,
        Some(body.clone()),
    )
    .await;
    assert_eq!(s, 200, "{added}");
    assert_eq!(added["loaded"], true, "in use at once: {added}");
    assert!(app.state.accounts().get("ali-console").is_some());
    let (s, e) = req(
        &app,
        "POST",
        "/admin/v1/merchant-accounts",
        &admin,
        Some(body),
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (409, Some("INVALID_STATE")), "{e}");
    let (_, list) = req(&app, "GET", "/admin/v1/merchant-accounts", &viewer, None).await;
    let text = list.to_string();
    assert!(
        text.contains("ali-console") && !text.contains("PRIVATE KEY"),
        "{list}"
    );
    let (s, tested) = req(
        &app,
        "POST",
        "/admin/v1/merchant-accounts/ali-console/test",
        &admin,
        None,
    )
    .await;
    assert_eq!((s, tested["ok"].as_bool()), (200, Some(true)), "{tested}");

    let status = "/admin/v1/merchant-accounts/ali-console/status";
    let (s, _) = req(
        &app,
        "POST",
        status,
        &viewer,
        Some(json!({"status": "DISABLED"})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, e) = req(&app, "POST", status, &admin, Some(json!({"status": "OFF"}))).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{e}"
    );
    let (s, r) = req(
        &app,
        "POST",
        status,
        &admin,
        Some(json!({"status": "DISABLED"})),
    )
    .await;
    assert_eq!(
        (s, r["changed"].as_bool(), r["loaded"].as_bool()),
        (200, Some(true), Some(false)),
        "{r}"
    );
    assert!(app.state.accounts().get("ali-console").is_none());
    let (s, r) = req(
        &app,
        "POST",
        "/admin/v1/merchant-accounts/nope/status",
        &admin,
        Some(json!({"status": "ACTIVE"})),
    )
    .await;
    assert_eq!((s, r["code"].as_str()), (404, Some("NOT_FOUND")), "{r}");

    let log = app.store.audit_log(20).await.unwrap();
    for action in ["merchant_account.add", "merchant_account.disable"] {
        assert!(
            log.iter().any(|e| e.action == action
                && e.actor == "operator:alice"
                && e.target == "ali-console"),
            "{action} audited: {log:?}"
        );
    }
    assert!(log.iter().all(|e| !e.details_json.contains("PRIVATE KEY")));
}

per_backend!(
    stored_accounts_load_reload_list_test_and_validate,
    admin_api_adds_and_disables_accounts,
);
