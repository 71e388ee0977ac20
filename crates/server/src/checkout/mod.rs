//! The buyer-facing checkout, authorised by the order's checkout token alone (32 random
//! bytes, bound to one order; it stops working when the order is paid or closed, except
//! for reading the order's status so the page can say so).
//!
//! * `GET /checkout/{token}`: the cashier page for H5 and PC (static HTML; its script asks
//!   for the options);
//! * `GET /checkout/{token}/options?terminal=&app_version=`: what the page shows, as JSON
//!   (apps and mini programs use this directly): amount and subject from the order, time
//!   left, and the methods the active rules offer, in order;
//! * `POST /checkout/{token}/pay`: start paying with a method (`payments::flow::pay`);
//! * `GET /checkout/{token}/status`: the order's status, polled by the page.
//!
//! The terminal comes from the query (`terminal=`) or else from the user agent.

pub mod qr;
pub mod terminal;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::payments::flow::{self, PayChoice};
use crate::state::AppState;
use crate::time::now_ms;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paydesk_core::transition::StateMachine;
use paydesk_core::{AttemptStatus, PayOrderStatus};
use paydesk_providers::model::PaymentAction;
use paydesk_rules::{Method, Terminal};
use paydesk_store::PayOrder;
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::SocketAddr;

const PAGE_HTML: &str = include_str!("../../assets/checkout/checkout.html");
const PAGE_JS: &str = include_str!("../../assets/checkout/checkout.js");
const PAGE_CSS: &str = include_str!("../../assets/checkout/checkout.css");

/// Longest token accepted before any lookup (tokens are 43 characters).
const MAX_TOKEN_CHARS: usize = 64;

/// The page's content security policy: nothing inline, nothing from elsewhere; forms may
/// post to the providers (Alipay's page form).
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action *; base-uri 'none'; frame-ancestors 'none'";

/// The checkout routes (merged into the main router).
pub fn router() -> axum::Router<AppState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/checkout/assets/checkout.js", get(script))
        .route("/checkout/assets/checkout.css", get(styles))
        .route("/checkout/{token}", get(page))
        .route("/checkout/{token}/options", get(options))
        .route("/checkout/{token}/status", get(status))
        .route("/checkout/{token}/pay", post(pay))
}

fn with_type(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn script() -> Response {
    with_type(PAGE_JS, "text/javascript; charset=utf-8")
}

async fn styles() -> Response {
    with_type(PAGE_CSS, "text/css; charset=utf-8")
}

async fn order_by_token(state: &AppState, token: &str) -> ApiResult<PayOrder> {
    if token.is_empty()
        || token.len() > MAX_TOKEN_CHARS
        || !token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ApiError::not_found("checkout"));
    }
    state
        .store
        .pay_order_by_checkout_token(token)
        .await?
        .ok_or_else(|| ApiError::not_found("checkout"))
}

async fn page(State(state): State<AppState>, Path(token): Path<String>) -> ApiResult<Response> {
    // Unknown tokens get the JSON 404 like every other miss; known ones the page, which
    // shows paid and closed orders as such.
    order_by_token(&state, &token).await?;
    let mut r = with_type(PAGE_HTML, "text/html; charset=utf-8");
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(r)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionsQuery {
    #[serde(default)]
    terminal: Option<String>,
    #[serde(default)]
    app_version: Option<String>,
}

fn parse_terminal(given: Option<&str>, headers: &HeaderMap) -> ApiResult<Terminal> {
    match given {
        Some(t) if !t.is_empty() => serde_json::from_value(Value::String(t.to_owned()))
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::InvalidRequest,
                    "terminal must be one of ANDROID, IOS, WECHAT_MINI_PROGRAM, ALIPAY_MINI_PROGRAM, H5, WECHAT_H5, PC",
                )
            }),
        _ => {
            let ua = headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            Ok(terminal::terminal_from_user_agent(ua))
        }
    }
}

fn app_version(v: Option<String>) -> ApiResult<Option<String>> {
    match v {
        Some(v) if v.len() > 32 => Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "app_version is at most 32 characters",
        )),
        Some(v) if v.is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn method_label(m: Method) -> &'static str {
    match m {
        Method::WechatPay => "WeChat Pay",
        Method::Alipay => "Alipay",
        Method::AlipayInstallment => "Alipay Huabei installments",
        Method::Balance => "Balance",
        Method::Combined => "Balance + another method",
    }
}

async fn line_name(state: &AppState, order: &PayOrder) -> Option<String> {
    match state.line_by_id(&order.business_line_id).await {
        Ok(Some(l)) => Some(l.name.clone()),
        _ => None,
    }
}

async fn options(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<OptionsQuery>,
    headers: HeaderMap,
) -> ApiResult<Json<Value>> {
    let order = order_by_token(&state, &token).await?;
    let terminal = parse_terminal(q.terminal.as_deref(), &headers)?;
    let app_version = app_version(q.app_version)?;
    let now = now_ms();
    let open = order.status == PayOrderStatus::Waiting && order.expire_at_ms > now;
    let mut methods = Vec::new();
    if open {
        let snapshot = state.rules.current().ok_or_else(|| {
            ApiError::new(
                ErrorCode::ServiceUnavailable,
                "no checkout rules are loaded yet",
            )
        })?;
        let name = line_name(&state, &order).await;
        let facts = flow::facts_for(&order, name.as_deref(), terminal, app_version);
        let decision = snapshot.compiled.evaluate(&facts, now);
        let accounts = state.accounts();
        // The buyer's available balance, for BALANCE and COMBINED (only when the rules
        // offer one of them: no ledger read for orders that cannot use it).
        let wants_balance = decision
            .methods
            .iter()
            .any(|m| matches!(m.method, Method::Balance | Method::Combined));
        let available_minor = if wants_balance {
            flow::spendable_minor(&state, &order).await?
        } else {
            0
        };
        let amount_minor = order.amount.minor();
        for m in &decision.methods {
            // Only methods paydesk can carry out now: BALANCE when the balance covers the
            // order; others need a provider route to a configured account, and COMBINED
            // also some balance (and less than the whole amount: else it is BALANCE).
            let balance_minor = match m.method {
                Method::Balance if available_minor >= amount_minor => amount_minor,
                Method::Balance => continue,
                Method::Combined if available_minor > 0 => available_minor.min(amount_minor - 1),
                Method::Combined => continue,
                _ => 0,
            };
            if m.method == Method::Balance {
                methods.push(json!({
                    "method": m.method.code(),
                    "label": method_label(m.method),
                    "provider": Value::Null,
                    "product": Value::Null,
                    "default": m.default,
                    "installment_periods": Value::Null,
                    "balance_minor": balance_minor,
                }));
                continue;
            }
            let Some(route) = &m.route else { continue };
            if accounts.get(&route.merchant_account).is_none() {
                continue;
            }
            let mut entry = json!({
                "method": m.method.code(),
                "label": method_label(m.method),
                "provider": route.provider.to_string(),
                "product": serde_json::to_value(route.product).unwrap_or(Value::Null),
                "default": m.default,
                "installment_periods": m.params.installment_periods,
            });
            if m.method == Method::Combined {
                entry["balance_minor"] = json!(balance_minor);
                entry["provider_minor"] = json!(amount_minor - balance_minor);
            }
            methods.push(entry);
        }
        // Keep exactly one default when the rules' default was not usable.
        if !methods.iter().any(|m| m["default"] == Value::Bool(true)) {
            if let Some(first) = methods.first_mut() {
                first["default"] = Value::Bool(true);
            }
        }
    }
    let seconds_left = ((order.expire_at_ms - now).max(0) + 999) / 1000;
    Ok(Json(json!({
        "pay_order_id": order.id,
        "status": if order.status == PayOrderStatus::Waiting && !open { "CLOSED" } else { order.status.as_str() },
        "subject": order.subject,
        "amount": {
            "amount_minor": order.amount.minor(),
            "currency": order.currency().code(),
            "display": order.amount.decimal(),
        },
        "expire_at_ms": order.expire_at_ms,
        "seconds_left": if open { seconds_left } else { 0 },
        "terminal": terminal.code(),
        "return_url": order.return_url,
        "methods": methods,
    })))
}

async fn status(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> ApiResult<Json<Value>> {
    let order = order_by_token(&state, &token).await?;
    let part = state.store.balance_part(&order.id).await?;
    // Which provider took the rest of a combined payment, to name it to the buyer.
    let provider = match &part {
        Some(_) if order.status == PayOrderStatus::Paid => state
            .store
            .attempts_for_pay_order(&order.id)
            .await?
            .into_iter()
            .find(|a| a.status == AttemptStatus::Succeeded && a.flag.is_none())
            .map(|a| a.provider.as_str()),
        _ => None,
    };
    Ok(Json(json!({
        "status": order.status.as_str(),
        "paid_at_ms": order.paid_at_ms,
        "return_url": order.return_url,
        "balance_part": part.as_ref().map(balance_part_json),
        "provider": provider,
    })))
}

/// A balance part as the checkout shows it.
fn balance_part_json(p: &paydesk_store::BalancePart) -> Value {
    json!({
        "amount_minor": p.amount.minor(),
        "status": p.status.as_str(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayRequest {
    method: Method,
    #[serde(default)]
    terminal: Option<String>,
    #[serde(default)]
    app_version: Option<String>,
    #[serde(default)]
    installment_periods: Option<u32>,
    #[serde(default)]
    payer_id: Option<String>,
    /// `COMBINED`: the balance part (default: as much as the balance covers).
    #[serde(default)]
    balance_minor: Option<i64>,
}

async fn pay(
    State(state): State<AppState>,
    Path(token): Path<String>,
    ClientIp(client_ip): ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let order = order_by_token(&state, &token).await?;
    tracing::Span::current().record("pay_order_id", order.id.as_str());
    let req: PayRequest = crate::api::parse_json(&body)?;
    if req.payer_id.as_ref().is_some_and(|p| p.len() > 128) {
        return Err(ApiError::new(
            ErrorCode::InvalidRequest,
            "payer_id is at most 128 characters",
        ));
    }
    let terminal = parse_terminal(req.terminal.as_deref(), &headers)?;
    let choice = PayChoice {
        method: req.method,
        terminal,
        app_version: app_version(req.app_version)?,
        installment_periods: req.installment_periods,
        payer_id: req.payer_id,
        client_ip: Some(client_ip),
        balance_minor: req.balance_minor,
    };
    let name = line_name(&state, &order).await;
    if choice.method == Method::Balance {
        let paid = flow::pay_by_balance(&state, &order, name.as_deref(), &choice).await?;
        return Ok(Json(json!({
            "method": Method::Balance.code(),
            "provider": Value::Null,
            "status": paid.status.as_str(),
            "action": {"type": "paid"},
        })));
    }
    let started = flow::pay(&state, &order, name.as_deref(), &choice).await?;
    let a = &started.attempt;
    Ok(Json(json!({
        "attempt_id": a.id,
        "attempt_no": a.attempt_no,
        "method": a.method,
        "provider": a.provider.as_str(),
        "product": a.product,
        "provider_minor": a.amount.minor(),
        "balance_part": started.balance_part.as_ref().map(balance_part_json),
        "action": action_json(&started.action)?,
    })))
}

/// The buyer's IP address as this server saw the connection (WeChat H5 needs one); the
/// loopback address when the server runs without connection info (tests).
struct ClientIp(String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientIp(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip().to_string())
                .unwrap_or_else(|| "127.0.0.1".to_owned()),
        ))
    }
}

fn action_json(action: &PaymentAction) -> ApiResult<Value> {
    Ok(match action {
        PaymentAction::QrCode(content) => {
            let svg = qr::qr_svg(content)
                .map_err(|e| ApiError::new(ErrorCode::InternalError, format!("QR code: {e}")))?;
            json!({"type": "qr_code", "content": content, "image_svg": svg})
        }
        PaymentAction::Redirect { url, form_html } => {
            json!({"type": "redirect", "url": url, "form_html": form_html})
        }
        PaymentAction::SdkParams(params) => {
            let map: serde_json::Map<String, Value> = params
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            json!({"type": "sdk_params", "params": map})
        }
        PaymentAction::OrderString(s) => json!({"type": "order_string", "value": s}),
        PaymentAction::ProviderTrade(t) => json!({"type": "provider_trade", "trade_no": t}),
    })
}
