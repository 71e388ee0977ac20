//! The business API end to end over real HTTP, on every backend.

mod common;

use common::{test_config, Receiver, TestApp};
use paydesk_store::Backend;
use serde_json::{json, Value};

/// Polls (bounded) a notification list until its first entry has `status`; returns the
/// last listing either way, for the caller's assertion.
async fn notification_status(app: &TestApp, path: &str, status: &str) -> Value {
    let mut listed = Value::Null;
    for _ in 0..100 {
        listed = app.call("GET", path, None).await.1;
        if listed["data"][0]["status"] == status {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    listed
}

async fn app(backend: Backend, r: &Receiver) -> Option<TestApp> {
    TestApp::start(backend, &r.url, test_config()).await
}

async fn create_get_close_and_notify(backend: Backend) {
    let r = Receiver::start().await;
    let Some(app) = app(backend, &r).await else {
        return;
    };
    let body = json!({
        "business_order_no": "SO-1001", "amount": 1999, "currency": "CNY", "subject": "Used bike",
        "buyer_id": "u1", "facts": {"category": "bikes", "vip": true, "n": 3},
        "metadata": {"k": ["v"]}, "return_url": "https://shop.example/done"
    })
    .to_string();
    let (status, order) = app.call("POST", "/v1/pay-orders", Some(&body)).await;
    assert_eq!(status, 201, "{order}");
    let id = order["id"].as_str().unwrap().to_owned();
    assert_eq!(order["status"], "WAITING");
    assert_eq!(order["amount"], 1999);
    assert_eq!(order["refunded_amount"], 0);
    assert_eq!(order["facts"]["vip"], true);
    assert_eq!(order["metadata"]["k"][0], "v");
    assert_eq!(order["return_url"], "https://shop.example/done");
    assert!(order["checkout_url"]
        .as_str()
        .unwrap()
        .starts_with(&format!("{}/checkout/", app.base)));
    assert_eq!(order["paid_at"], Value::Null);

    // Same request again: 200 and the same order. A repeat with other non-key fields
    // also returns the first order unchanged.
    let (status, again) = app.call("POST", "/v1/pay-orders", Some(&body)).await;
    assert_eq!((status, &again["id"]), (200, &order["id"]));
    let other_meta = json!({"business_order_no": "SO-1001", "amount": 1999, "currency": "CNY",
        "subject": "Used bike", "buyer_id": "u1", "metadata": {"other": 1}})
    .to_string();
    let (status, again) = app.call("POST", "/v1/pay-orders", Some(&other_meta)).await;
    assert_eq!((status, &again["metadata"]["k"][0]), (200, &json!("v")));
    for conflicting in [
        json!({"business_order_no": "SO-1001", "amount": 2000, "currency": "CNY", "subject": "Used bike", "buyer_id": "u1"}),
        json!({"business_order_no": "SO-1001", "amount": 1999, "currency": "USD", "subject": "Used bike", "buyer_id": "u1"}),
        json!({"business_order_no": "SO-1001", "amount": 1999, "currency": "CNY", "subject": "Other", "buyer_id": "u1"}),
        json!({"business_order_no": "SO-1001", "amount": 1999, "currency": "CNY", "subject": "Used bike"}),
        json!({"business_order_no": "SO-1001", "amount": 1999, "currency": "CNY", "subject": "Used bike", "buyer_id": "u1", "seller_id": "s"}),
    ] {
        let (status, err) = app
            .call("POST", "/v1/pay-orders", Some(&conflicting.to_string()))
            .await;
        assert_eq!(
            (status, err["code"].as_str()),
            (409, Some("IDEMPOTENCY_CONFLICT")),
            "{conflicting}"
        );
    }

    let (status, got) = app.call("GET", &format!("/v1/pay-orders/{id}"), None).await;
    assert_eq!((status, &got["id"]), (200, &order["id"]));
    let (status, got) = app
        .call("GET", "/v1/pay-orders/by-business-order-no/SO-1001", None)
        .await;
    assert_eq!((status, &got["id"]), (200, &order["id"]));
    let (status, err) = app
        .call("GET", "/v1/pay-orders/by-business-order-no/SO-404", None)
        .await;
    assert_eq!((status, err["code"].as_str()), (404, Some("NOT_FOUND")));

    let (status, closed) = app
        .call("POST", &format!("/v1/pay-orders/{id}/close"), None)
        .await;
    assert_eq!(
        (status, closed["status"].as_str()),
        (200, Some("CLOSED")),
        "{closed}"
    );
    assert!(closed["closed_at"].is_string());
    let (status, closed_again) = app
        .call("POST", &format!("/v1/pay-orders/{id}/close"), None)
        .await;
    assert_eq!(
        (status, &closed_again["closed_at"]),
        (200, &closed["closed_at"]),
        "closing again is fine"
    );

    // The notification: signed, about the closed order, acknowledged once.
    let got = r.wait_for("pay_order.closed", |g| !g.is_empty()).await;
    let n = &got[0];
    assert!(
        app.verify_notification(n),
        "signature verifies with the business line's secret"
    );
    let event = n.json();
    assert_eq!(event["type"], "pay_order.closed");
    assert_eq!(event["data"]["id"], order["id"]);
    assert_eq!(event["data"]["status"], "CLOSED");
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(n.header("paydesk-event-id"), event["id"].as_str().unwrap());

    let path = format!("/v1/pay-orders/{id}/notifications");
    let listed = notification_status(&app, &path, "DELIVERED").await;
    assert_eq!(listed["data"][0]["status"], "DELIVERED", "{listed}");
    assert_eq!(listed["data"][0]["attempts"][0]["succeeded"], true);
    assert_eq!(listed["data"][0]["attempts"][0]["http_status"], 200);
    assert_eq!(r.received().len(), 1, "exactly one close event");
}

async fn business_lines_are_isolated(backend: Backend) {
    let r = Receiver::start().await;
    let Some(a) = app(backend, &r).await else {
        return;
    };
    let b = TestApp::start_on(a.store.clone(), a.db_url.clone(), &r.url, test_config()).await;
    let order = a.create_order("ISO-1", 100).await;
    let id = order["id"].as_str().unwrap();
    for (m, p) in [
        ("GET", format!("/v1/pay-orders/{id}")),
        ("POST", format!("/v1/pay-orders/{id}/close")),
        ("GET", format!("/v1/pay-orders/{id}/notifications")),
        (
            "GET",
            "/v1/pay-orders/by-business-order-no/ISO-1".to_string(),
        ),
    ] {
        let (status, err) = b.call(m, &p, None).await;
        assert_eq!(
            (status, err["code"].as_str()),
            (404, Some("NOT_FOUND")),
            "{m} {p}"
        );
    }
    let (_, still) = a.call("GET", &format!("/v1/pay-orders/{id}"), None).await;
    assert_eq!(
        still["status"], "WAITING",
        "the other line's close changed nothing"
    );
    // The same business order number in another line is another order.
    let other = b.create_order("ISO-1", 100).await;
    assert_ne!(other["id"], order["id"]);
}

async fn authentication_failures(backend: Backend) {
    let r = Receiver::start().await;
    let Some(app) = app(backend, &r).await else {
        return;
    };
    let body = json!({"business_order_no": "A-1", "amount": 1, "currency": "CNY", "subject": "x"})
        .to_string();
    let code = |v: &Value| v["code"].as_str().unwrap_or_default().to_owned();

    let (s, e) = app.raw("POST", "/v1/pay-orders", &body, None).await;
    assert_eq!((s, code(&e)), (401, "UNAUTHORIZED".into()));
    let (s, e) = app
        .raw("POST", "/v1/pay-orders", &body, Some("Bearer abc"))
        .await;
    assert_eq!((s, code(&e)), (401, "UNAUTHORIZED".into()));

    let now = TestApp::now_secs();
    let stale = app.auth_at(
        "POST",
        "/v1/pay-orders",
        &body,
        now - 301,
        "noncenonce000001",
    );
    let (s, e) = app.raw("POST", "/v1/pay-orders", &body, Some(&stale)).await;
    assert_eq!((s, code(&e)), (401, "TIMESTAMP_EXPIRED".into()));
    let future = app.auth_at(
        "POST",
        "/v1/pay-orders",
        &body,
        now + 301,
        "noncenonce000002",
    );
    let (s, e) = app
        .raw("POST", "/v1/pay-orders", &body, Some(&future))
        .await;
    assert_eq!((s, code(&e)), (401, "TIMESTAMP_EXPIRED".into()));

    // Signed over another body, path, method or query: refused.
    let other = app.auth("POST", "/v1/pay-orders", "{}");
    let (s, e) = app.raw("POST", "/v1/pay-orders", &body, Some(&other)).await;
    assert_eq!((s, code(&e)), (401, "UNAUTHORIZED".into()));
    let no_query = app.auth("GET", "/v1/pay-orders/by-business-order-no/A-1", "");
    let (s, _) = app
        .raw(
            "GET",
            "/v1/pay-orders/by-business-order-no/A-1?x=1",
            "",
            Some(&no_query),
        )
        .await;
    assert_eq!(s, 401, "the query string is part of what is signed");
    let with_query = app.auth("GET", "/v1/pay-orders/by-business-order-no/A-1?x=1", "");
    let (s, _) = app
        .raw(
            "GET",
            "/v1/pay-orders/by-business-order-no/A-1?x=1",
            "",
            Some(&with_query),
        )
        .await;
    assert_eq!(
        s, 404,
        "signed with the query, accepted (and no such order)"
    );

    // Replay: the same signed request twice.
    let once = app.auth_at("POST", "/v1/pay-orders", &body, now, "replaynonce00001");
    let (s, _) = app.raw("POST", "/v1/pay-orders", &body, Some(&once)).await;
    assert_eq!(s, 201);
    let (s, e) = app.raw("POST", "/v1/pay-orders", &body, Some(&once)).await;
    assert_eq!((s, code(&e)), (401, "NONCE_REPLAYED".into()));

    // A wrong secret, an unknown app id, a disabled line.
    let mut forged = app.client_view();
    forged.secret = "sk_wrong".into();
    let (s, _) = forged
        .call("GET", "/v1/pay-orders/by-business-order-no/A-1", None)
        .await;
    assert_eq!(s, 401);
    forged.secret = app.secret.clone();
    forged.app_id = "app_unknown".into();
    let (s, _) = forged
        .call("GET", "/v1/pay-orders/by-business-order-no/A-1", None)
        .await;
    assert_eq!(s, 401);
    app.store
        .set_business_line_status(
            &app.app_id_line_id().await,
            paydesk_store::BusinessLineStatus::Disabled,
            0,
        )
        .await
        .unwrap();
    let mut refused = false;
    for _ in 0..80 {
        // The credential cache lives for LINE_CACHE_TTL; disable bites within it.
        let (s, _) = app
            .call("GET", "/v1/pay-orders/by-business-order-no/A-1", None)
            .await;
        if s == 401 {
            refused = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(refused, "a disabled business line is refused");
}

async fn bad_input_is_a_clear_error(backend: Backend) {
    let r = Receiver::start().await;
    let Some(app) = app(backend, &r).await else {
        return;
    };
    for (body, status, want) in [
        ("{", 400, "INVALID_REQUEST"),
        ("", 400, "INVALID_REQUEST"),
        (
            r#"{"business_order_no":"A","amount":1.5,"currency":"CNY","subject":"x"}"#,
            400,
            "INVALID_REQUEST",
        ),
        (
            r#"{"business_order_no":"A","amount":0,"currency":"CNY","subject":"x"}"#,
            400,
            "INVALID_REQUEST",
        ),
        (
            r#"{"business_order_no":"A","amount":9223372036854775808,"currency":"CNY","subject":"x"}"#,
            400,
            "INVALID_REQUEST",
        ),
        (
            r#"{"business_order_no":"A","amount":1,"currency":"ABC","subject":"x"}"#,
            400,
            "INVALID_REQUEST",
        ),
        (
            r#"{"business_order_no":"A","amount":1,"currency":"CNY","subject":"x","surprise":true}"#,
            400,
            "INVALID_REQUEST",
        ),
        (
            r#"{"business_order_no":"A","amount":1,"currency":"CNY","subject":"x","notify_url":"http://evil.example/n"}"#,
            400,
            "URL_NOT_ALLOWED",
        ),
        (
            r#"{"business_order_no":"A","amount":1,"currency":"CNY","subject":"x","return_url":"https://shop.example.evil.net/"}"#,
            400,
            "URL_NOT_ALLOWED",
        ),
    ] {
        let (s, e) = app.call("POST", "/v1/pay-orders", Some(body)).await;
        assert_eq!((s, e["code"].as_str()), (status, Some(want)), "{body}: {e}");
        assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let huge = format!(
        r#"{{"business_order_no":"A","amount":1,"currency":"CNY","subject":"{}"}}"#,
        "x".repeat(70_000)
    );
    // On its own connection: the server answers 413 without reading the rest of the body
    // and closes, and a pooled connection reused right after could race that close.
    let resp = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
        .post(format!("{}/v1/pay-orders", app.base))
        .header("authorization", app.auth("POST", "/v1/pay-orders", &huge))
        .header("content-type", "application/json")
        .body(huge.clone())
        .send()
        .await
        .unwrap();
    let s = resp.status().as_u16();
    let e: serde_json::Value = resp.json().await.unwrap();
    assert_eq!((s, e["code"].as_str()), (413, Some("PAYLOAD_TOO_LARGE")));
    let (s, e) = app.call("GET", "/v1/pay-orders/not-an-id", None).await;
    assert_eq!((s, e["code"].as_str()), (404, Some("NOT_FOUND")));
    let (s, e) = app.raw("GET", "/nowhere", "", None).await;
    assert_eq!((s, e["code"].as_str()), (404, Some("NOT_FOUND")));
    let (s, e) = app.raw("DELETE", "/healthz", "", None).await;
    assert_eq!((s, e["code"].as_str()), (405, Some("METHOD_NOT_ALLOWED")));
    // A path segment that is not valid UTF-8 is refused by the router's extractor; the
    // answer is still the JSON error shape with a stable code.
    let (s, e) = app.call("GET", "/v1/pay-orders/%FF%FE", None).await;
    assert_eq!(
        (s, e["code"].as_str()),
        (400, Some("INVALID_REQUEST")),
        "{e}"
    );
    // Nothing was created by any of that.
    assert_eq!(
        app.store
            .pay_order_by_business_no(&app.app_id_line_id().await, "A")
            .await
            .unwrap(),
        None
    );
}

async fn concurrent_creates_give_one_order(backend: Backend) {
    let r = Receiver::start().await;
    let Some(app) = app(backend, &r).await else {
        return;
    };
    let app = std::sync::Arc::new(app);
    let body = json!({"business_order_no": "RACE-200", "amount": 500, "currency": "CNY", "subject": "race"}).to_string();
    let tasks: Vec<_> = (0..200)
        .map(|_| {
            let app = app.clone();
            let body = body.clone();
            tokio::spawn(async move { app.call("POST", "/v1/pay-orders", Some(&body)).await })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let (s, order) = t.await.unwrap();
        *statuses.entry(s).or_insert(0) += 1;
        ids.insert(order["id"].as_str().unwrap_or("missing").to_owned());
    }
    assert_eq!(
        statuses,
        [(200u16, 199), (201u16, 1)].into_iter().collect(),
        "{ids:?}"
    );
    assert_eq!(ids.len(), 1, "all 200 answers carry the same order");
}

async fn notifications_retry_fail_and_resend(backend: Backend) {
    let r = Receiver::start().await;
    let Some(app) = app(backend, &r).await else {
        return;
    };
    // Two failures, then success on the third try (schedule 200ms,200ms,200ms).
    r.fail_first.store(2, std::sync::atomic::Ordering::SeqCst);
    let a = app.create_order("N-1", 100).await;
    let a_id = a["id"].as_str().unwrap();
    app.call("POST", &format!("/v1/pay-orders/{a_id}/close"), None)
        .await;
    let got = r.wait_for("three tries", |g| g.len() >= 3).await;
    let ids: std::collections::BTreeSet<_> = got
        .iter()
        .map(|g| g.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 1, "retries carry the same event id");

    // Always failing: after the last step the event is FAILED, then it can be re-sent.
    r.always_fail
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let b = app.create_order("N-2", 100).await;
    let b_id = b["id"].as_str().unwrap();
    app.call("POST", &format!("/v1/pay-orders/{b_id}/close"), None)
        .await;
    let path = format!("/v1/pay-orders/{b_id}/notifications");
    let mut listed = notification_status(&app, &path, "FAILED").await;
    assert_eq!(listed["data"][0]["status"], "FAILED", "{listed}");
    assert_eq!(
        listed["data"][0]["attempts"].as_array().unwrap().len(),
        4,
        "1 try + 3 retries"
    );
    assert_eq!(listed["data"][0]["attempts"][0]["http_status"], 500);
    let event_id = listed["data"][0]["id"].as_str().unwrap().to_owned();

    r.always_fail
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let (s, resent) = app
        .call("POST", &format!("{path}/{event_id}/resend"), None)
        .await;
    assert_eq!(
        (s, resent["status"].as_str()),
        (200, Some("PENDING")),
        "{resent}"
    );
    listed = notification_status(&app, &path, "DELIVERED").await;
    assert_eq!(listed["data"][0]["status"], "DELIVERED", "{listed}");
    assert_eq!(listed["data"][0]["attempts"].as_array().unwrap().len(), 5);
    let (s, e) = app
        .call("POST", &format!("{path}/evt_nope/resend"), None)
        .await;
    assert_eq!((s, e["code"].as_str()), (404, Some("NOT_FOUND")));
}

async fn expired_orders_are_closed_and_notified(backend: Backend) {
    let r = Receiver::start().await;
    let Some(app) = app(backend, &r).await else {
        return;
    };
    let body = json!({"business_order_no": "EXP-1", "amount": 100, "currency": "CNY", "subject": "x", "expire_in_seconds": 1}).to_string();
    let (s, order) = app.call("POST", "/v1/pay-orders", Some(&body)).await;
    assert_eq!(s, 201);
    let got = r.wait_for("expiry close", |g| !g.is_empty()).await;
    assert_eq!(got[0].json()["type"], "pay_order.closed");
    assert_eq!(got[0].json()["data"]["id"], order["id"]);
    let (_, now) = app
        .call(
            "GET",
            &format!("/v1/pay-orders/{}", order["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(now["status"], "CLOSED");
}

async fn two_instances_deliver_each_event_once(backend: Backend) {
    let r = Receiver::start().await;
    let Some(a) = app(backend, &r).await else {
        return;
    };
    let b = TestApp::serve(a.store.clone(), a.db_url.clone(), test_config()).await;
    for i in 0..30 {
        let o = a.create_order(&format!("TWO-{i}"), 100).await;
        a.call(
            "POST",
            &format!("/v1/pay-orders/{}/close", o["id"].as_str().unwrap()),
            None,
        )
        .await;
        b.state.outbox_wake.notify_one();
    }
    let got = r.wait_for("30 notifications", |g| g.len() >= 30).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let got_now = r.received();
    assert_eq!(got_now.len(), got.len().max(30));
    let ids: std::collections::BTreeSet<_> = got_now
        .iter()
        .map(|g| g.json()["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 30);
    assert_eq!(
        got_now.len(),
        30,
        "no event delivered twice by the two instances"
    );
}

async fn operations_endpoints(backend: Backend) {
    let r = Receiver::start().await;
    let Some(app) = app(backend, &r).await else {
        return;
    };
    app.create_order("OPS-1", 100).await;
    let (s, body) = app.raw("GET", "/healthz", "", None).await;
    assert_eq!((s, body), (200, Value::String("ok".into())));
    let (s, _) = app.raw("GET", "/readyz", "", None).await;
    assert_eq!(s, 200);
    let (s, metrics) = app.raw("GET", "/metrics", "", None).await;
    let text = metrics.as_str().unwrap_or_default();
    assert_eq!(s, 200);
    assert!(text.contains("paydesk_http_requests_total"), "{text}");
    assert!(text.contains("paydesk_outbox_pending"), "{text}");
    let (s, doc) = app.raw("GET", "/openapi.json", "", None).await;
    assert_eq!(s, 200);
    for path in [
        "/v1/pay-orders",
        "/v1/pay-orders/{id}",
        "/v1/pay-orders/by-business-order-no/{business_order_no}",
        "/v1/pay-orders/{id}/close",
        "/v1/pay-orders/{id}/notifications",
        "/v1/pay-orders/{id}/notifications/{event_id}/resend",
    ] {
        assert!(doc["paths"][path].is_object(), "openapi lacks {path}");
    }
    assert!(doc["components"]["securitySchemes"]["paydesk_hmac"].is_object());
}

per_backend!(
    create_get_close_and_notify,
    business_lines_are_isolated,
    authentication_failures,
    bad_input_is_a_clear_error,
    concurrent_creates_give_one_order,
    notifications_retry_fail_and_resend,
    expired_orders_are_closed_and_notified,
    two_instances_deliver_each_event_once,
    operations_endpoints,
);
