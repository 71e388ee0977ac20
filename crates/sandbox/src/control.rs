//! The control API (`/sandbox/...`, JSON, for tests and scripts) and the wallet page
//! (`/wallet`, server-rendered HTML forms, no JavaScript) where a person pays.

use crate::app::{App, CallFault, CallbackFault};
use crate::merchant::WechatSignMode;
use crate::settle::{self, ActionError, PayOptions};
use crate::state::{CallbackStatus, Order, OrderStatus, Provider};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

type AppState = State<Arc<App>>;

// Helpers below return the error answer itself (`Result<_, Response>`): it is built once and
// sent at once, so its size does not matter.

fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "code": code, "message": message.into() })),
    )
        .into_response()
}

fn action_error(e: ActionError) -> Response {
    match e {
        ActionError::NotFound(_) => error(StatusCode::NOT_FOUND, "NOT_FOUND", e.to_string()),
        ActionError::Ambiguous(_) => error(StatusCode::CONFLICT, "AMBIGUOUS", e.to_string()),
        ActionError::Conflict(_) => error(StatusCode::CONFLICT, "CONFLICT", e.to_string()),
    }
}

#[allow(clippy::result_large_err)]
fn provider(p: &str) -> Result<Provider, Response> {
    Provider::parse(p).ok_or_else(|| {
        error(
            StatusCode::BAD_REQUEST,
            "BAD_PROVIDER",
            "provider must be wechatpay or alipay",
        )
    })
}

#[allow(clippy::result_large_err)]
fn body<T: serde::de::DeserializeOwned + Default>(b: &Bytes) -> Result<T, Response> {
    if b.iter().all(|c| c.is_ascii_whitespace()) {
        return Ok(T::default());
    }
    serde_json::from_slice(b).map_err(|e| error(StatusCode::BAD_REQUEST, "BAD_BODY", e.to_string()))
}

#[allow(clippy::result_large_err)]
fn strict_body<T: serde::de::DeserializeOwned>(b: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(b).map_err(|e| error(StatusCode::BAD_REQUEST, "BAD_BODY", e.to_string()))
}

/// `?merchant=&provider=&status=&subject=`.
#[derive(Debug, Default, Deserialize)]
pub struct Filter {
    merchant: Option<String>,
    provider: Option<String>,
    status: Option<String>,
    subject: Option<String>,
}

/// `GET /sandbox/health`.
pub async fn health() -> Json<serde_json::Value> {
    Json(json!({ "ok": true }))
}

/// `GET /sandbox/orders`.
pub async fn list_orders(State(app): AppState, Query(f): Query<Filter>) -> Response {
    let db = app.db();
    let list: Vec<&Order> = db
        .orders
        .values()
        .filter(|o| {
            f.provider
                .as_deref()
                .is_none_or(|p| p == o.provider.as_str())
        })
        .filter(|o| f.merchant.as_deref().is_none_or(|m| m == o.merchant))
        .filter(|o| {
            f.status.as_deref().is_none_or(|s| {
                serde_json::to_value(o.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    == Some(s.to_ascii_uppercase())
            })
        })
        .collect();
    Json(json!(list)).into_response()
}

/// `GET /sandbox/orders/{provider}/{out_trade_no}`.
pub async fn get_order(
    State(app): AppState,
    Path((p, no)): Path<(String, String)>,
    Query(f): Query<Filter>,
) -> Response {
    let p = match provider(&p) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let db = app.db();
    let found = db.find_orders(p, f.merchant.as_deref(), &no);
    match found.as_slice() {
        [] => error(StatusCode::NOT_FOUND, "NOT_FOUND", format!("no order {no}")),
        [o] => {
            let mut o = (*o).clone();
            settle::expire_if_due(&mut o);
            let mut v = json!(o);
            v["provider_state"] = json!(match p {
                Provider::Wechatpay => o.wechat_trade_state(),
                Provider::Alipay => o.alipay_trade_status(),
            });
            Json(v).into_response()
        }
        _ => action_error(ActionError::Ambiguous(no)),
    }
}

/// `POST /sandbox/orders/{provider}/{out_trade_no}/{pay|fail|expire}`.
pub async fn order_action(
    State(app): AppState,
    Path((p, no, action)): Path<(String, String, String)>,
    Query(f): Query<Filter>,
    raw: Bytes,
) -> Response {
    let p = match provider(&p) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let r = match action.as_str() {
        "pay" => {
            let mut opts: PayOptions = match body(&raw) {
                Ok(o) => o,
                Err(r) => return r,
            };
            if opts.merchant.is_none() {
                opts.merchant = f.merchant.clone();
            }
            settle::pay(&app, p, &no, &opts)
        }
        "fail" => settle::fail(&app, p, &no, f.merchant.as_deref()),
        "expire" => settle::expire(&app, p, &no, f.merchant.as_deref()),
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "NO_SUCH_ACTION",
                "actions: pay, fail, expire",
            )
        }
    };
    match r {
        Ok(o) => Json(json!(o)).into_response(),
        Err(e) => action_error(e),
    }
}

/// `GET /sandbox/refunds`.
pub async fn list_refunds(State(app): AppState, Query(f): Query<Filter>) -> Response {
    let db = app.db();
    let list: Vec<_> = db
        .refunds
        .values()
        .filter(|r| {
            f.provider
                .as_deref()
                .is_none_or(|p| p == r.provider.as_str())
        })
        .collect();
    Json(json!(list)).into_response()
}

/// `GET /sandbox/transfers`.
pub async fn list_transfers(State(app): AppState, Query(f): Query<Filter>) -> Response {
    let db = app.db();
    let list: Vec<_> = db
        .transfers
        .values()
        .filter(|t| {
            f.provider
                .as_deref()
                .is_none_or(|p| p == t.provider.as_str())
        })
        .collect();
    Json(json!(list)).into_response()
}

/// `POST /sandbox/transfers/{provider}/{out_bill_no}/{confirm|fail}`.
pub async fn transfer_action(
    State(app): AppState,
    Path((p, no, action)): Path<(String, String, String)>,
    Query(f): Query<Filter>,
) -> Response {
    let p = match provider(&p) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let succeed = match action.as_str() {
        "confirm" | "succeed" => true,
        "fail" => false,
        _ => {
            return error(
                StatusCode::NOT_FOUND,
                "NO_SUCH_ACTION",
                "actions: confirm, fail",
            )
        }
    };
    match settle::finish_transfer(&app, p, &no, f.merchant.as_deref(), succeed) {
        Ok(t) => Json(json!(t)).into_response(),
        Err(e) => action_error(e),
    }
}

/// `GET /sandbox/callbacks`.
pub async fn list_callbacks(State(app): AppState, Query(f): Query<Filter>) -> Response {
    let db = app.db();
    let list: Vec<_> = db
        .callbacks
        .values()
        .filter(|c| {
            f.provider
                .as_deref()
                .is_none_or(|p| p == c.provider.as_str())
        })
        .filter(|c| f.subject.as_deref().is_none_or(|s| s == c.subject))
        .filter(|c| f.merchant.as_deref().is_none_or(|m| m == c.merchant))
        .collect();
    Json(json!(list)).into_response()
}

/// `POST /sandbox/callbacks/run-due`: every pending callback is tried now.
pub async fn callbacks_now(State(app): AppState) -> Response {
    let n = crate::callbacks::run_all_now(&app);
    Json(json!({ "made_due": n })).into_response()
}

/// `GET /sandbox/faults`.
pub async fn list_faults(State(app): AppState) -> Response {
    Json(json!(*app.faults())).into_response()
}

/// `POST /sandbox/faults/calls`.
pub async fn add_call_fault(State(app): AppState, raw: Bytes) -> Response {
    let f: CallFault = match strict_body(&raw) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match app.faults().add_call(f) {
        Ok(id) => (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, "BAD_FAULT", e.to_string()),
    }
}

/// `POST /sandbox/faults/callbacks`.
pub async fn add_callback_fault(State(app): AppState, raw: Bytes) -> Response {
    let f: CallbackFault = match strict_body(&raw) {
        Ok(f) => f,
        Err(r) => return r,
    };
    match app.faults().add_callback(f) {
        Ok(id) => (StatusCode::CREATED, Json(json!({ "id": id }))).into_response(),
        Err(e) => error(StatusCode::BAD_REQUEST, "BAD_FAULT", e.to_string()),
    }
}

/// `DELETE /sandbox/faults`.
pub async fn clear_faults(State(app): AppState) -> Response {
    app.faults().clear();
    // Release anything held for reordering, in order.
    let held = std::mem::take(&mut app.faults().held);
    app.write(|db| {
        for id in held {
            if let Some(c) = db.callbacks.get_mut(&id) {
                c.status = CallbackStatus::Pending;
                c.next_at_ms = crate::app::now_ms();
            }
        }
    });
    StatusCode::NO_CONTENT.into_response()
}

/// Body of `POST /sandbox/settings`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    wechat_transfer_auto_confirm: Option<bool>,
    wechat_refund_outcome: Option<String>,
    bill_omitted_trades: Option<Vec<String>>,
    wechat_bill_fee_ppm: Option<u32>,
}

/// `POST /sandbox/settings`.
pub async fn settings(State(app): AppState, raw: Bytes) -> Response {
    let b: SettingsBody = match strict_body(&raw) {
        Ok(b) => b,
        Err(r) => return r,
    };
    if let Some(o) = &b.wechat_refund_outcome {
        if !matches!(o.as_str(), "SUCCESS" | "ABNORMAL" | "CLOSED") {
            return (
                StatusCode::BAD_REQUEST,
                Json(json!({"code": "INVALID_REQUEST", "message": "wechat_refund_outcome must be SUCCESS, ABNORMAL or CLOSED"})),
            )
                .into_response();
        }
    }
    let s = app.write(|db| {
        if let Some(v) = b.wechat_transfer_auto_confirm {
            db.settings.wechat_transfer_auto_confirm = v;
        }
        if let Some(o) = b.wechat_refund_outcome {
            db.settings.wechat_refund_outcome = o;
        }
        if let Some(trades) = b.bill_omitted_trades {
            db.settings.bill_omitted_trades = trades;
        }
        if let Some(ppm) = b.wechat_bill_fee_ppm {
            db.settings.wechat_bill_fee_ppm = ppm.min(1_000_000);
        }
        db.settings.clone()
    });
    Json(json!(s)).into_response()
}

/// Body of `POST /sandbox/merchants`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMerchant {
    provider: String,
}

/// `POST /sandbox/merchants`: `merchant add` over HTTP.
pub async fn add_merchant(State(app): AppState, raw: Bytes) -> Response {
    let b: NewMerchant = match strict_body(&raw) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let p = match provider(&b.provider) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let (dir, base) = (app.data_dir.clone(), app.base_url.clone());
    match tokio::task::spawn_blocking(move || crate::merchant::add_merchant(&dir, p, &base)).await {
        Ok(Ok(c)) => (StatusCode::CREATED, Json(json!(c))).into_response(),
        Ok(Err(e)) => error(StatusCode::INTERNAL_SERVER_ERROR, "KEYGEN", e.to_string()),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, "KEYGEN", e.to_string()),
    }
}

/// Body of `POST /sandbox/merchants/wechatpay/{mchid}/sign-mode`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignModeBody {
    mode: WechatSignMode,
}

/// `POST /sandbox/merchants/wechatpay/{mchid}/sign-mode`.
pub async fn sign_mode(State(app): AppState, Path(mchid): Path<String>, raw: Bytes) -> Response {
    let b: SignModeBody = match strict_body(&raw) {
        Ok(b) => b,
        Err(r) => return r,
    };
    match app.merchants.set_wechat_sign_mode(&mchid, b.mode) {
        Ok(()) => Json(json!({ "mchid": mchid, "mode": b.mode })).into_response(),
        Err(e) => error(StatusCode::NOT_FOUND, "NOT_FOUND", e.to_string()),
    }
}

/// `GET /sandbox/bills/alipay/{token}`: the bill zip (unsigned, like Alipay's download link).
pub async fn alipay_bill(State(app): AppState, Path(token): Path<String>) -> Response {
    match app.bill(&token) {
        Some(bytes) => {
            (StatusCode::OK, [("Content-Type", "application/zip")], bytes).into_response()
        }
        None => error(StatusCode::NOT_FOUND, "NOT_FOUND", "bill link expired"),
    }
}

// ---------------------------------------------------------------------------------------
// Wallet

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:2rem;max-width:60rem;color:#222}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.4rem;text-align:left}\
form{display:inline}button{margin-right:.3rem;padding:.3rem .7rem;cursor:pointer}\
.pay{background:#1aad19;color:#fff;border:0}.fail{background:#e64340;color:#fff;border:0}\
.expire{background:#888;color:#fff;border:0}.tag{font-size:.8rem;padding:.1rem .4rem;border-radius:.3rem;background:#eee}\
.wechatpay{background:#e7f7e7}.alipay{background:#e6f0ff}";

fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>{}</title><style>{STYLE}</style></head><body>{body}<p><small>paydesk sandbox — not a real payment. <a href=\"/wallet\">All pending orders</a></small></p></body></html>",
        esc(title)
    ))
}

fn buttons(o: &Order) -> String {
    let mut s = String::new();
    for (action, label) in [("pay", "Pay"), ("fail", "Fail"), ("expire", "Let expire")] {
        s.push_str(&format!(
            "<form method=\"post\" action=\"/wallet/act\"><input type=\"hidden\" name=\"provider\" value=\"{}\"><input type=\"hidden\" name=\"merchant\" value=\"{}\"><input type=\"hidden\" name=\"no\" value=\"{}\"><input type=\"hidden\" name=\"action\" value=\"{action}\"><button class=\"{action}\" type=\"submit\">{label}</button></form>",
            o.provider.as_str(),
            esc(&o.merchant),
            esc(&o.out_trade_no)
        ));
    }
    s
}

fn yuan(fen: i64) -> String {
    paydesk_providers::amount::fen_to_yuan(fen).unwrap_or_default()
}

fn provider_label(p: Provider) -> &'static str {
    match p {
        Provider::Wechatpay => "WeChat Pay",
        Provider::Alipay => "Alipay",
    }
}

/// `GET /wallet`: pending orders and transfers waiting for the user.
pub async fn wallet(State(app): AppState) -> Html<String> {
    let db = app.db();
    let mut orders: Vec<Order> = db
        .orders
        .values()
        .cloned()
        .map(|mut o| {
            settle::expire_if_due(&mut o);
            o
        })
        .filter(|o| matches!(o.status, OrderStatus::Pending | OrderStatus::Failed))
        .collect();
    orders.sort_by_key(|o| std::cmp::Reverse(o.created_at));
    let mut body = String::from("<h1>Sandbox wallet</h1><h2>Pending orders</h2>");
    if orders.is_empty() {
        body.push_str("<p>No pending orders.</p>");
    } else {
        body.push_str("<table><tr><th>Provider</th><th>Merchant</th><th>Order</th><th>Subject</th><th>Amount (CNY)</th><th>Product</th><th>State</th><th></th></tr>");
        for o in orders.iter().take(200) {
            body.push_str(&format!(
                "<tr class=\"{p}\"><td>{}</td><td>{}</td><td><a href=\"/wallet/{p}/{}/{}\">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td><span class=\"tag\">{}</span></td><td>{}</td></tr>",
                provider_label(o.provider),
                esc(&o.merchant),
                esc(&o.merchant),
                esc(&o.out_trade_no),
                esc(&o.out_trade_no),
                esc(&o.subject),
                yuan(o.total),
                esc(&o.product),
                match o.provider {
                    Provider::Wechatpay => o.wechat_trade_state(),
                    Provider::Alipay => o.alipay_trade_status(),
                },
                buttons(o),
                p = o.provider.as_str(),
            ));
        }
        body.push_str("</table>");
    }
    let waiting: Vec<_> = db
        .transfers
        .values()
        .filter(|t| t.state == "WAIT_USER_CONFIRM")
        .collect();
    if !waiting.is_empty() {
        body.push_str("<h2>Transfers waiting for the user</h2><table><tr><th>Merchant</th><th>Bill</th><th>Amount (CNY)</th><th>Payee</th><th></th></tr>");
        for t in waiting.iter().take(200) {
            let mut forms = String::new();
            for (action, label, class) in [
                ("confirm", "Confirm receipt", "pay"),
                ("reject", "Fail", "fail"),
            ] {
                forms.push_str(&format!(
                    "<form method=\"post\" action=\"/wallet/act\"><input type=\"hidden\" name=\"provider\" value=\"{}\"><input type=\"hidden\" name=\"merchant\" value=\"{}\"><input type=\"hidden\" name=\"no\" value=\"{}\"><input type=\"hidden\" name=\"action\" value=\"{action}\"><button class=\"{class}\" type=\"submit\">{label}</button></form>",
                    t.provider.as_str(), esc(&t.merchant), esc(&t.out_bill_no)
                ));
            }
            body.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{forms}</td></tr>",
                esc(&t.merchant),
                esc(&t.out_bill_no),
                yuan(t.amount),
                esc(&t.payee)
            ));
        }
        body.push_str("</table>");
    }
    page("Sandbox wallet", &body)
}

fn order_page(o: &Order) -> Html<String> {
    let state = match o.provider {
        Provider::Wechatpay => o.wechat_trade_state(),
        Provider::Alipay => o.alipay_trade_status(),
    };
    let actions = if matches!(o.status, OrderStatus::Pending | OrderStatus::Failed) {
        buttons(o)
    } else {
        "<p>This order is no longer payable.</p>".into()
    };
    page(
        &format!("{} — {}", provider_label(o.provider), o.subject),
        &format!(
            "<h1>{}</h1><table><tr><th>Merchant</th><td>{}</td></tr><tr><th>Order</th><td id=\"out_trade_no\">{}</td></tr><tr><th>Subject</th><td>{}</td></tr><tr><th>Amount (CNY)</th><td id=\"amount\">{}</td></tr><tr><th>State</th><td id=\"state\">{state}</td></tr></table><p>{actions}</p>",
            provider_label(o.provider),
            esc(&o.merchant),
            esc(&o.out_trade_no),
            esc(&o.subject),
            yuan(o.total),
        ),
    )
}

/// `GET /wallet/{provider}/{merchant}/{out_trade_no}`.
pub async fn wallet_order(
    State(app): AppState,
    Path((p, merchant, no)): Path<(String, String, String)>,
) -> Response {
    let Some(p) = Provider::parse(&p) else {
        return (StatusCode::NOT_FOUND, "no such provider").into_response();
    };
    let db = app.db();
    match db.find_orders(p, Some(&merchant), &no).first() {
        Some(o) => {
            let mut o = (*o).clone();
            settle::expire_if_due(&mut o);
            order_page(&o).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            page("Not found", "<h1>No such order</h1>"),
        )
            .into_response(),
    }
}

/// `GET /wallet/t/{token}`: where QR codes and H5 links lead.
pub async fn wallet_token(State(app): AppState, Path(token): Path<String>) -> Response {
    let db = app.db();
    match db.orders.values().find(|o| o.wallet_token == token) {
        Some(o) => {
            let mut o = o.clone();
            settle::expire_if_due(&mut o);
            order_page(&o).into_response()
        }
        None => (
            StatusCode::NOT_FOUND,
            page("Not found", "<h1>Unknown or expired code</h1>"),
        )
            .into_response(),
    }
}

/// `GET /wallet/scan?code_url=weixin://wxpay/bizpayurl?pr=...`: "scan" a WeChat code URL.
pub async fn wallet_scan(
    State(app): AppState,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let token = q
        .get("code_url")
        .and_then(|u| u.split("pr=").nth(1))
        .unwrap_or_default()
        .to_string();
    wallet_token(State(app), Path(token)).await
}

/// Form of `POST /wallet/act`.
#[derive(Debug, Deserialize)]
pub struct ActForm {
    provider: String,
    merchant: String,
    no: String,
    action: String,
}

/// `POST /wallet/act`: a button on the wallet.
pub async fn wallet_act(State(app): AppState, axum::Form(f): axum::Form<ActForm>) -> Response {
    let Some(p) = Provider::parse(&f.provider) else {
        return (StatusCode::BAD_REQUEST, "bad provider").into_response();
    };
    let m = Some(f.merchant.as_str());
    let result = match f.action.as_str() {
        "pay" => settle::pay(
            &app,
            p,
            &f.no,
            &PayOptions {
                merchant: Some(f.merchant.clone()),
                ..PayOptions::default()
            },
        ),
        "fail" => settle::fail(&app, p, &f.no, m),
        "expire" => settle::expire(&app, p, &f.no, m),
        "confirm" | "reject" => {
            return match settle::finish_transfer(&app, p, &f.no, m, f.action == "confirm") {
                Ok(_) => Redirect::to("/wallet").into_response(),
                Err(e) => (
                    StatusCode::CONFLICT,
                    page("Refused", &format!("<h1>{}</h1>", esc(&e.to_string()))),
                )
                    .into_response(),
            }
        }
        _ => return (StatusCode::BAD_REQUEST, "bad action").into_response(),
    };
    match result {
        Ok(o) if f.action == "pay" => match alipay_return_url(&app, &o) {
            Some(url) => Redirect::to(&url).into_response(),
            None => Redirect::to(&format!(
                "/wallet/{}/{}/{}",
                p.as_str(),
                o.merchant,
                o.out_trade_no
            ))
            .into_response(),
        },
        Ok(o) => Redirect::to(&format!(
            "/wallet/{}/{}/{}",
            p.as_str(),
            o.merchant,
            o.out_trade_no
        ))
        .into_response(),
        Err(e) => (
            StatusCode::CONFLICT,
            page("Refused", &format!("<h1>{}</h1>", esc(&e.to_string()))),
        )
            .into_response(),
    }
}

/// For a paid Alipay page/wap order with a `return_url`: the signed synchronous return.
fn alipay_return_url(app: &App, o: &Order) -> Option<String> {
    if o.provider != Provider::Alipay {
        return None;
    }
    let url = o.return_url.clone()?;
    let m = app.merchants.alipay(&o.merchant)?;
    let params: Vec<(String, String)> = vec![
        ("charset".into(), "utf-8".into()),
        ("out_trade_no".into(), o.out_trade_no.clone()),
        ("method".into(), format!("{}.return", o.product)),
        ("total_amount".into(), yuan(o.paid())),
        ("trade_no".into(), o.txn_id.clone().unwrap_or_default()),
        ("auth_app_id".into(), o.merchant.clone()),
        ("version".into(), "1.0".into()),
        ("app_id".into(), o.merchant.clone()),
        ("seller_id".into(), m.file.seller_id.clone()),
        (
            "timestamp".into(),
            crate::app::alipay_time(crate::app::now_unix()),
        ),
    ];
    let signed =
        paydesk_providers::alipay::notify::build_notification(&m.alipay_key, &params).ok()?;
    let query = String::from_utf8(signed.body).ok()?;
    Some(format!(
        "{url}{}{query}",
        if url.contains('?') { '&' } else { '?' }
    ))
}
