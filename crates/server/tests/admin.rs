//! The admin API (checkout rules, operators, decisions) over real HTTP, on every backend.

mod common;

use common::{admin_req as req, test_config, TestApp};

use paydesk_store::{Backend, OperatorStatus};
use serde_json::{json, Value};
use std::time::Duration;

struct Admin {
    app: TestApp,
    admin: String,
    viewer: String,
}

/// The merchant accounts the example rules route to (`wx-main`, ...), with test keys made
/// once per test process: publishing routes to unknown accounts is refused.
fn example_accounts() -> paydesk_server::payments::accounts::MerchantAccounts {
    use paydesk_server::payments::accounts::{CallTimeouts, MerchantAccounts};
    static DIR: std::sync::Mutex<Option<std::path::PathBuf>> = std::sync::Mutex::new(None);
    let mut dir = DIR.lock().unwrap();
    let dir = dir.get_or_insert_with(|| {
        std::env::temp_dir().join(format!(
            "paydesk-admin-accounts-{}",
            paydesk_core::ids::new_id("t")
        ))
    });
    let values = paydesk_sandbox::ensure_named_merchants(
        dir,
        paydesk_sandbox::EMBEDDED_ACCOUNTS,
        "http://127.0.0.1:9",
    )
    .unwrap();
    let configs = MerchantAccounts::parse_configs(Value::Array(values)).unwrap();
    let t = CallTimeouts {
        timeout_ms: 1_000,
        connect_timeout_ms: 1_000,
    };
    MerchantAccounts::build(&configs, t).unwrap()
}

async fn start(backend: Backend, config: paydesk_server::config::Config) -> Option<Admin> {
    let app = TestApp::start(backend, "http://127.0.0.1/notify", config).await?;
    app.state.set_merchant_accounts(example_accounts());
    let (admin, viewer) = common::admin_and_viewer(&*app.store).await;
    Some(Admin { app, admin, viewer })
}

fn facts(category: &str) -> Value {
    json!({"terminal": "IOS", "business_line": "secondhand", "item_category": category,
           "amount": 19900, "currency": "CNY", "app_version": "6.0.0"})
}

async fn wechat_credit(app: &TestApp, token: &str, category: &str) -> (i64, bool) {
    let (s, d) = req(
        app,
        "POST",
        "/admin/v1/decisions",
        token,
        Some(json!({"facts": facts(category)})),
    )
    .await;
    assert_eq!(s, 200, "{d}");
    let m = d["decision"]["methods"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["method"] == "WECHAT_PAY")
        .unwrap_or_else(|| panic!("no WECHAT_PAY in {d}"))
        .clone();
    assert!(d["trace"].is_object(), "{d}");
    (
        d["version"].as_i64().unwrap(),
        m["params"]["allow_credit_card"].as_bool().unwrap(),
    )
}

fn with_rule(mut rules: Value, category: &str) -> Value {
    rules["business_rules"].as_array_mut().unwrap().push(json!({
        "id": "electronics-no-credit", "name": "Electronics: no credit card", "priority": 150,
        "when": {"fact": "item_category", "equals": category},
        "then": {"params": [{"method": "WECHAT_PAY", "allow_credit_card": false},
                            {"method": "ALIPAY", "allow_credit_card": false}]}
    }));
    rules
}

async fn active_version(app: &TestApp, token: &str) -> i64 {
    let (s, a) = req(app, "GET", "/admin/v1/rules/active", token, None).await;
    assert_eq!(s, 200, "{a}");
    a["version"].as_i64().unwrap()
}

async fn publish_simulate_decide_and_roll_back(backend: Backend) {
    let Some(Admin { app, admin, viewer }) = start(backend, test_config()).await else {
        return;
    };
    // First start published the shipped example as version 1.
    assert_eq!(active_version(&app, &viewer).await, 1);
    assert_eq!(wechat_credit(&app, &admin, "electronics").await, (1, true));

    // A disabled operator is refused at once; enabled again, the same credential works.
    assert!(app
        .store
        .set_operator_status("victor", OperatorStatus::Disabled)
        .await
        .unwrap());
    let (s, e) = req(&app, "GET", "/admin/v1/rules/active", &viewer, None).await;
    assert_eq!((s, e["code"].as_str()), (401, Some("UNAUTHORIZED")), "{e}");
    assert!(app
        .store
        .set_operator_status("victor", OperatorStatus::Active)
        .await
        .unwrap());
    assert_eq!(active_version(&app, &viewer).await, 1);

    // The decision sample is evidence for simulations: viewers may decide but not record.
    let recorded = app.store.decision_samples(1000).await.unwrap().len();
    assert_eq!(wechat_credit(&app, &viewer, "electronics").await, (1, true));
    let (s, e) = req(
        &app,
        "POST",
        "/admin/v1/decisions",
        &viewer,
        Some(json!({"facts": facts("books"), "record": true})),
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (403, Some("FORBIDDEN")), "{e}");
    assert_eq!(
        app.store.decision_samples(1000).await.unwrap().len(),
        recorded,
        "a viewer's decisions are not recorded"
    );

    let (s, draft) = req(&app, "GET", "/admin/v1/rules/draft", &viewer, None).await;
    assert_eq!((s, draft["base_version"].as_i64()), (200, Some(1)));

    // A typo in the category is an error finding; publishing it is refused.
    let typo = with_rule(draft["rules"].clone(), "electronix");
    let (s, v) = req(
        &app,
        "POST",
        "/admin/v1/rules/validate",
        &viewer,
        Some(json!({"rules": typo})),
    )
    .await;
    assert_eq!((s, &v["valid"]), (200, &json!(false)), "{v}");
    assert!(
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["code"] == "unknown_value"),
        "{v}"
    );
    let (s, e) = req(
        &app,
        "POST",
        "/admin/v1/rules/publish",
        &admin,
        Some(json!({"rules": typo, "comment": "electronics"})),
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (400, Some("RULES_INVALID")), "{e}");
    assert!(!e["findings"].as_array().unwrap().is_empty());
    assert_eq!(active_version(&app, &admin).await, 1);

    let fixed = with_rule(draft["rules"].clone(), "electronics");
    let (s, v) = req(
        &app,
        "POST",
        "/admin/v1/rules/validate",
        &viewer,
        Some(json!({"rules": fixed})),
    )
    .await;
    assert_eq!((s, &v["valid"]), (200, &json!(true)), "{v}");

    // The simulation replays the recorded decision (electronics) and sees it change.
    let (s, sim) = req(
        &app,
        "POST",
        "/admin/v1/rules/simulate",
        &viewer,
        Some(json!({"rules": fixed})),
    )
    .await;
    assert_eq!(s, 200, "{sim}");
    assert_eq!(
        (sim["against_version"].as_i64(), sim["changed"].as_i64()),
        (Some(1), Some(1)),
        "{sim}"
    );
    assert_eq!(sim["changes"][0]["facts"]["item_category"], "electronics");

    let (s, d) = req(
        &app,
        "POST",
        "/admin/v1/rules/diff",
        &viewer,
        Some(json!({"rules": fixed})),
    )
    .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(
        d["diff"]["business_rules"][0]["id"],
        "electronics-no-credit"
    );

    // Viewers cannot publish or roll back.
    let body = json!({"rules": fixed, "comment": "electronics: no credit", "expected_active": 1});
    let (s, e) = req(
        &app,
        "POST",
        "/admin/v1/rules/publish",
        &viewer,
        Some(body.clone()),
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (403, Some("FORBIDDEN")), "{e}");
    let (s, e) = req(
        &app,
        "POST",
        "/admin/v1/rules/rollback",
        &viewer,
        Some(json!({"version": 1})),
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (403, Some("FORBIDDEN")), "{e}");

    let (s, p) = req(
        &app,
        "POST",
        "/admin/v1/rules/publish",
        &admin,
        Some(body.clone()),
    )
    .await;
    assert_eq!((s, p["version"].as_i64()), (201, Some(2)), "{p}");
    assert_eq!(wechat_credit(&app, &admin, "electronics").await, (2, false));
    assert_eq!(wechat_credit(&app, &admin, "books").await, (2, true));
    // The same publish again, from the same expected version, is a conflict.
    let (s, e) = req(&app, "POST", "/admin/v1/rules/publish", &admin, Some(body)).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (409, Some("RULES_VERSION_CONFLICT")),
        "{e}"
    );

    let (s, list) = req(&app, "GET", "/admin/v1/rules/versions", &viewer, None).await;
    assert_eq!((s, list["active"].as_i64()), (200, Some(2)));
    assert_eq!(list["versions"][0]["author"], "alice");
    assert_eq!(list["versions"][1]["author"], "paydesk");
    let (s, d) = req(
        &app,
        "GET",
        "/admin/v1/rules/diff?from=1&to=2",
        &viewer,
        None,
    )
    .await;
    assert_eq!(
        (s, &d["diff"]["business_rules"][0]["kind"]),
        (200, &json!("added")),
        "{d}"
    );
    let (s, v1) = req(&app, "GET", "/admin/v1/rules/versions/1", &viewer, None).await;
    assert_eq!((s, v1["rules"]["version"]["id"].as_str()), (200, Some("1")));

    // Rollback is conditional on the active version too.
    let (s, e) = req(
        &app,
        "POST",
        "/admin/v1/rules/rollback",
        &admin,
        Some(json!({"version": 1, "expected_active": 1})),
    )
    .await;
    assert_eq!(s, 409, "{e}");
    let (s, e) = req(
        &app,
        "POST",
        "/admin/v1/rules/rollback",
        &admin,
        Some(json!({"version": 9})),
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (404, Some("NOT_FOUND")));
    let (s, r) = req(
        &app,
        "POST",
        "/admin/v1/rules/rollback",
        &admin,
        Some(json!({"version": 1, "expected_active": 2})),
    )
    .await;
    assert_eq!((s, r["active"].as_i64()), (200, Some(1)), "{r}");
    assert_eq!(wechat_credit(&app, &admin, "electronics").await, (1, true));
}

async fn bad_documents_leave_the_active_version(backend: Backend) {
    let mut config = test_config();
    config.rules.max_document_bytes = 64 * 1024;
    let Some(Admin { app, admin, .. }) = start(backend, config).await else {
        return;
    };
    let publish = |rules: Value| json!({"rules": rules, "comment": "bad"});
    let very_deep = (0..300).fold(
        json!({"fact": "amount", "range": {"min": 1}}),
        |c, _| json!({ "not": c }),
    );
    let deep = (0..12).fold(
        json!({"fact": "amount", "range": {"min": 1}}),
        |c, _| json!({"not": c}),
    );
    let cases: Vec<(Value, u16, &str)> = vec![
        (
            json!({"rules": {"business_rules": [], "bogus": 1}, "comment": "x"}),
            400,
            "INVALID_REQUEST",
        ),
        (
            json!({"rules_toml": "[[business_rules]\nid=", "comment": "x"}),
            400,
            "INVALID_REQUEST",
        ),
        (json!({"comment": "no rules"}), 400, "INVALID_REQUEST"),
        (
            json!({"rules": {}, "comment": "x", "surprise": true}),
            400,
            "INVALID_REQUEST",
        ),
        (publish(json!({"business_rules": []})), 400, "RULES_INVALID"),
        (
            publish(
                json!({"business_rules": [{"id": "d", "name": "D", "when": deep,
            "then": {"allow": ["BALANCE"]}}]}),
            ),
            400,
            "RULES_INVALID",
        ),
        (
            publish(json!({"business_rules": [{"id": "x".repeat(70_000), "name": "big"}]})),
            413,
            "PAYLOAD_TOO_LARGE",
        ),
        (
            publish(
                json!({"business_rules": [{"id": "d", "name": "D", "when": very_deep,
                "then": {"allow": ["BALANCE"]}}]}),
            ),
            400,
            "INVALID_REQUEST",
        ),
    ];
    for (body, status, code) in cases {
        let (s, e) = req(
            &app,
            "POST",
            "/admin/v1/rules/publish",
            &admin,
            Some(body.clone()),
        )
        .await;
        assert_eq!(
            (s, e["code"].as_str()),
            (status, Some(code)),
            "{body:.200}: {e}"
        );
    }
    // Malformed JSON and a missing credential.
    let resp = app
        .http
        .post(format!("{}/admin/v1/rules/publish", app.base))
        .bearer_auth(&admin)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let (s, e) = req(&app, "GET", "/admin/v1/rules/active", "", None).await;
    assert_eq!((s, e["code"].as_str()), (401, Some("UNAUTHORIZED")));
    let (s, _) = req(&app, "GET", "/admin/v1/rules/active", "pdo_wrong", None).await;
    assert_eq!(s, 401);
    assert_eq!(active_version(&app, &admin).await, 1);
    assert_eq!(app.store.list_rule_versions(10).await.unwrap().len(), 1);
}

async fn console_session_cookie(backend: Backend) {
    let Some(Admin { app, admin, .. }) = start(backend, test_config()).await else {
        return;
    };
    // Without the console header a sign-in is refused outright (no login CSRF).
    let (s, e) = req(
        &app,
        "POST",
        "/admin/v1/session",
        "",
        Some(json!({"token": admin})),
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (403, Some("FORBIDDEN")), "{e}");
    let bad = app
        .http
        .post(format!("{}/admin/v1/session", app.base))
        .header("content-type", "application/json")
        .header("x-paydesk-console", "1")
        .body(json!({"token": "pdo_nope"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 401);
    let resp = app
        .http
        .post(format!("{}/admin/v1/session", app.base))
        .header("content-type", "application/json")
        .header("x-paydesk-console", "1")
        .body(json!({"token": admin}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_owned();
    let me: Value = app
        .http
        .get(format!("{}/admin/v1/me", app.base))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (me["name"].as_str(), me["role"].as_str()),
        (Some("alice"), Some("admin"))
    );
    // A cookie-authenticated write without the console header is refused (CSRF guard).
    let body = json!({"facts": facts("books")}).to_string();
    let post = |with_header: bool| {
        let mut r = app
            .http
            .post(format!("{}/admin/v1/decisions", app.base))
            .header("cookie", &pair)
            .header("content-type", "application/json")
            .body(body.clone());
        if with_header {
            r = r.header("x-paydesk-console", "1");
        }
        r.send()
    };
    assert_eq!(post(false).await.unwrap().status().as_u16(), 403);
    assert_eq!(post(true).await.unwrap().status().as_u16(), 200);
    let out = app
        .http
        .delete(format!("{}/admin/v1/session", app.base))
        .header("cookie", &pair)
        .header("x-paydesk-console", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(out.status().as_u16(), 204);
    let after = app
        .http
        .get(format!("{}/admin/v1/me", app.base))
        .header("cookie", &pair)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status().as_u16(), 401);
    let page = app
        .http
        .get(format!("{}/console", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
}

async fn second_instance_picks_up_a_publish(backend: Backend) {
    let Some(Admin { app, admin, .. }) = start(backend, test_config()).await else {
        return;
    };
    let mut config = test_config();
    config.rules.poll_interval_ms = 100;
    let other = TestApp::serve(app.store.clone(), app.db_url.clone(), config).await;
    assert_eq!(
        active_version(&other, &admin).await,
        1,
        "the second start publishes nothing"
    );
    let (_, draft) = req(&app, "GET", "/admin/v1/rules/draft", &admin, None).await;
    let body = json!({"rules": with_rule(draft["rules"].clone(), "electronics"), "comment": "c"});
    let (s, p) = req(&app, "POST", "/admin/v1/rules/publish", &admin, Some(body)).await;
    assert_eq!(s, 201, "{p}");
    for _ in 0..100 {
        if active_version(&other, &admin).await == 2 {
            assert_eq!(
                wechat_credit(&other, &admin, "electronics").await,
                (2, false)
            );
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the second instance never loaded version 2");
}

/// Business lines from the console: listed without secrets, added and rotated by admins
/// only; a rotated-out secret still works during the overlap and never after; the
/// dashboard and the audit log answer viewers.
async fn business_lines_rotation_dashboard_and_audit(backend: Backend) {
    let Some(a) = start(backend, test_config()).await else {
        return;
    };
    let app = &a.app;
    let (s, lines) = req(app, "GET", "/admin/v1/business-lines", &a.viewer, None).await;
    assert_eq!(s, 200, "{lines}");
    let listed = lines["business_lines"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["app_id"], app.app_id.as_str());
    assert!(listed[0].get("secret").is_none() && !lines.to_string().contains(&app.secret));
    let line_id = listed[0]["id"].as_str().unwrap().to_owned();
    let rotate = format!("/admin/v1/business-lines/{line_id}/rotate-secret");

    // Viewers are refused by the server, and nothing changes.
    let (s, _) = req(
        app,
        "POST",
        &rotate,
        &a.viewer,
        Some(json!({"overlap_hours": 1})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = req(
        app,
        "POST",
        "/admin/v1/business-lines",
        &a.viewer,
        Some(json!({"name": "other", "notify_url": "http://127.0.0.1/n"})),
    )
    .await;
    assert_eq!(s, 403);
    // A probe that is 404 when the signature is accepted and 401 when it is not.
    let probe = |secret: &str| {
        let mut v = app.client_view();
        v.secret = secret.to_owned();
        async move {
            v.call(
                "GET",
                "/v1/pay-orders/po_00000000000000000000000000000000",
                None,
            )
            .await
            .0
        }
    };
    let old = app.secret.clone();
    assert_eq!(probe(&old).await, 404);

    // Bad overlaps are refused with a stable code.
    let (s, e) = req(
        app,
        "POST",
        &rotate,
        &a.admin,
        Some(json!({"overlap_hours": 1000})),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{e}"
    );
    let (s, e) = req(app, "POST", &rotate, &a.admin, Some(json!({"overlap": 1}))).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{e}"
    );

    let (s, r) = req(
        app,
        "POST",
        &rotate,
        &a.admin,
        Some(json!({"overlap_hours": 1})),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let second = r["secret"].as_str().unwrap().to_owned();
    assert_ne!(second, old);
    assert!(
        r["business_line"]["previous_secret_valid_until_ms"]
            .as_i64()
            .unwrap()
            > 0
    );
    assert_eq!(probe(&second).await, 404, "the new secret works at once");
    assert_eq!(probe(&old).await, 404, "the old one during the overlap");
    assert_eq!(probe("sk_not-the-secret").await, 401);

    // No overlap: the rotated-out secret stops at once.
    let (s, r) = req(
        app,
        "POST",
        &rotate,
        &a.admin,
        Some(json!({"overlap_hours": 0})),
    )
    .await;
    assert_eq!(s, 200, "{r}");
    let third = r["secret"].as_str().unwrap().to_owned();
    assert_eq!(probe(&third).await, 404);
    assert_eq!(probe(&second).await, 401);
    assert_eq!(
        probe(&old).await,
        401,
        "only the last previous secret is ever kept"
    );

    // An admin adds a line; its secret is in that answer only.
    let (s, added) = req(
        app,
        "POST",
        "/admin/v1/business-lines",
        &a.admin,
        Some(json!({"name": "console-added", "notify_url": "http://127.0.0.1/n2"})),
    )
    .await;
    assert_eq!(s, 200, "{added}");
    let added_secret = added["secret"].as_str().unwrap();
    let (_, lines) = req(app, "GET", "/admin/v1/business-lines", &a.viewer, None).await;
    assert_eq!(lines["business_lines"].as_array().unwrap().len(), 2);
    assert!(!lines.to_string().contains(added_secret));
    let (s, e) = req(
        app,
        "POST",
        "/admin/v1/business-lines",
        &a.admin,
        Some(json!({"name": "bad name!", "notify_url": "http://127.0.0.1/n2"})),
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{e}"
    );

    // The audit log names the operator for both rotations and holds no secret.
    let (s, audit) = req(app, "GET", "/admin/v1/audit?limit=50", &a.viewer, None).await;
    assert_eq!(s, 200, "{audit}");
    let rotations: Vec<&Value> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "business_line.rotate_secret")
        .collect();
    assert_eq!(rotations.len(), 2, "{audit}");
    assert!(rotations
        .iter()
        .all(|e| e["actor"] == "operator:alice" && e["target"] == line_id.as_str()));
    for secret in [&old, &second, &third] {
        assert!(!audit.to_string().contains(secret.as_str()));
    }

    // The dashboard answers viewers, counts waiting orders, refuses silly windows.
    let mut signed = app.client_view();
    signed.secret = third.clone();
    signed.create_order("DASH-1", 500).await;
    let (s, d) = req(
        app,
        "GET",
        "/admin/v1/dashboard?hours=24&bucket_minutes=60",
        &a.viewer,
        None,
    )
    .await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["counts"]["waiting_orders"], 1, "{d}");
    assert_eq!(d["business_lines"][line_id.as_str()], listed[0]["name"]);
    let (s, e) = req(app, "GET", "/admin/v1/dashboard?hours=0", &a.viewer, None).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{e}"
    );
    let (s, _) = req(
        app,
        "GET",
        "/admin/v1/dashboard?hours=720&bucket_minutes=1",
        &a.viewer,
        None,
    )
    .await;
    assert_eq!(s, 400, "too many buckets");
    let (s, _) = req(app, "GET", "/admin/v1/dashboard", "", None).await;
    assert_eq!(s, 401);

    // The console's order search: by business line name or id, status and time range.
    let name = listed[0]["name"].as_str().unwrap();
    let (s, found) = req(
        app,
        "GET",
        &format!("/admin/v1/pay-orders?business_line={name}&status=WAITING"),
        &a.viewer,
        None,
    )
    .await;
    assert_eq!(s, 200, "{found}");
    assert_eq!(found["data"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["data"][0]["business_order_no"], "DASH-1");
    let (_, none) = req(
        app,
        "GET",
        &format!("/admin/v1/pay-orders?business_line={line_id}&status=PAID"),
        &a.viewer,
        None,
    )
    .await;
    assert_eq!(none["data"].as_array().unwrap().len(), 0, "{none}");
    let (s, e) = req(
        app,
        "GET",
        "/admin/v1/pay-orders?business_line=nope",
        &a.viewer,
        None,
    )
    .await;
    assert_eq!((s, e["code"].as_str()), (404, Some("NOT_FOUND")), "{e}");
    let (s, e) = req(
        app,
        "GET",
        &format!("/admin/v1/pay-orders?business_line={name}&status=MAYBE"),
        &a.viewer,
        None,
    )
    .await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{e}"
    );
    let (s, _) = req(
        app,
        "GET",
        &format!("/admin/v1/pay-orders?business_line={name}"),
        "",
        None,
    )
    .await;
    assert_eq!(s, 401);
}

per_backend!(
    publish_simulate_decide_and_roll_back,
    business_lines_rotation_dashboard_and_audit,
    bad_documents_leave_the_active_version,
    console_session_cookie,
    second_instance_picks_up_a_publish,
);
