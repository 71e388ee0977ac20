//! `POST /v1/pay-orders`, `GET /v1/pay-orders` (list), `GET /v1/pay-orders/{id}`,
//! `GET /v1/pay-orders/by-business-order-no/{no}`, `POST /v1/pay-orders/{id}/close`.

use super::parse_json;
use crate::auth::{Caller, VerifiedBody};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::resource::PayOrderResource;
use crate::state::AppState;
use crate::time::{now_ms, parse_rfc3339_ms};
use crate::urls;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use paydesk_core::transition::StateMachine;
use paydesk_core::{ids, Amount, Currency, PayOrderStatus};
use paydesk_store::{CreateOutcome, NewPayOrder, PayOrder, PayOrderQuery};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Default time a pay order stays payable.
const DEFAULT_EXPIRE_SECS: i64 = 1800;
/// Longest time a pay order may stay payable.
const MAX_EXPIRE_SECS: i64 = 30 * 24 * 3600;
const MAX_FACTS: usize = 64;
const MAX_FACT_STRING_CHARS: usize = 256;
const MAX_METADATA_BYTES: usize = 4096;

/// Body of `POST /v1/pay-orders`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayOrderRequest {
    /// Your order number: 1-64 of `[A-Za-z0-9_-]`. The idempotency key.
    pub business_order_no: String,
    /// Integer minor units (fen, cents), > 0.
    pub amount: i64,
    /// ISO 4217 code: CNY, HKD, USD, EUR, GBP, JPY, KRW.
    pub currency: String,
    /// 1-128 characters.
    pub subject: String,
    /// The buyer's id in your system.
    pub buyer_id: Option<String>,
    /// The seller's id in your system.
    pub seller_id: Option<String>,
    /// Flat object of strings, numbers and booleans for the checkout rules.
    #[schema(value_type = Object)]
    pub facts: Option<serde_json::Map<String, serde_json::Value>>,
    /// Seconds until the order stops accepting payment (default 1800).
    pub expire_in_seconds: Option<i64>,
    /// Or an RFC 3339 expiry time.
    pub expire_at: Option<String>,
    /// Where notifications go (default: the business line's); must match an allowed prefix.
    pub notify_url: Option<String>,
    /// Where the buyer returns after paying; must match an allowed prefix.
    pub return_url: Option<String>,
    /// Anything you want back, as a JSON object (at most 4 KiB).
    #[schema(value_type = Object)]
    pub metadata: Option<serde_json::Map<String, serde_json::Value>>,
}

pub(crate) fn check_len(field: &str, value: &str, max_chars: usize) -> ApiResult<()> {
    let n = value.chars().count();
    if n == 0 || n > max_chars {
        return Err(ApiError::invalid(format!(
            "{field} must be 1-{max_chars} characters"
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(ApiError::invalid(format!(
            "{field} must not contain control characters"
        )));
    }
    Ok(())
}

pub(crate) fn check_url(field: &str, value: &str, caller: &Caller) -> ApiResult<String> {
    let url = urls::normalize(value).map_err(|e| ApiError::invalid(format!("{field}: {e}")))?;
    if !caller.0.allows_url(&url) {
        return Err(ApiError::new(
            ErrorCode::UrlNotAllowed,
            format!("{field} `{url}` does not start with one of this business line's allowed URL prefixes"),
        ));
    }
    Ok(url)
}

fn build_order(req: CreatePayOrderRequest, caller: &Caller, now: i64) -> ApiResult<NewPayOrder> {
    if !super::is_business_no(&req.business_order_no) {
        return Err(ApiError::invalid(
            "business_order_no must be 1-64 characters of [A-Za-z0-9_-]",
        ));
    }
    let currency: Currency = req.currency.parse().map_err(|_| {
        ApiError::invalid(format!(
            "currency `{}` is not supported (use an ISO 4217 code such as CNY)",
            req.currency.chars().take(8).collect::<String>()
        ))
    })?;
    if req.amount <= 0 {
        return Err(ApiError::invalid(
            "amount must be a positive integer number of minor units",
        ));
    }
    let amount =
        Amount::new(req.amount, currency).map_err(|e| ApiError::invalid(format!("amount: {e}")))?;
    check_len("subject", &req.subject, 128)?;
    for (field, v) in [("buyer_id", &req.buyer_id), ("seller_id", &req.seller_id)] {
        if let Some(v) = v {
            check_len(field, v, 64)?;
        }
    }
    let facts = req.facts.unwrap_or_default();
    if facts.len() > MAX_FACTS {
        return Err(ApiError::invalid(format!(
            "facts may have at most {MAX_FACTS} keys"
        )));
    }
    for (k, v) in &facts {
        if k.is_empty()
            || k.len() > 64
            || !k
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
        {
            return Err(ApiError::invalid(format!(
                "facts key `{}` must be 1-64 characters of [A-Za-z0-9_.-]",
                k.chars().take(64).collect::<String>()
            )));
        }
        match v {
            serde_json::Value::String(s) if s.chars().count() <= MAX_FACT_STRING_CHARS => {}
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => {}
            _ => {
                return Err(ApiError::invalid(format!(
                    "facts.{k} must be a string (at most {MAX_FACT_STRING_CHARS} characters), a number or a boolean"
                )))
            }
        }
    }
    let metadata = serde_json::Value::Object(req.metadata.unwrap_or_default()).to_string();
    if metadata.len() > MAX_METADATA_BYTES {
        return Err(ApiError::invalid(format!(
            "metadata must serialise to at most {MAX_METADATA_BYTES} bytes"
        )));
    }
    let expire_at_ms = match (req.expire_in_seconds, req.expire_at.as_deref()) {
        (Some(_), Some(_)) => {
            return Err(ApiError::invalid(
                "give expire_in_seconds or expire_at, not both",
            ))
        }
        (Some(s), None) if (1..=MAX_EXPIRE_SECS).contains(&s) => now + s * 1000,
        (Some(_), None) => {
            return Err(ApiError::invalid(format!(
                "expire_in_seconds must be 1-{MAX_EXPIRE_SECS}"
            )))
        }
        (None, Some(text)) => {
            let at = parse_rfc3339_ms(text)
                .ok_or_else(|| ApiError::invalid("expire_at must be an RFC 3339 time"))?;
            if at <= now || at > now + MAX_EXPIRE_SECS * 1000 {
                return Err(ApiError::invalid(
                    "expire_at must be in the future and at most 30 days away",
                ));
            }
            at
        }
        (None, None) => now + DEFAULT_EXPIRE_SECS * 1000,
    };
    let notify_url = match &req.notify_url {
        Some(u) => check_url("notify_url", u, caller)?,
        None => caller.0.notify_url.clone(),
    };
    let return_url = req
        .return_url
        .as_deref()
        .map(|u| check_url("return_url", u, caller))
        .transpose()?;
    Ok(NewPayOrder {
        id: ids::new_id(ids::PAY_ORDER),
        business_line_id: caller.0.id.clone(),
        business_order_no: req.business_order_no,
        amount,
        subject: req.subject,
        buyer_id: req.buyer_id,
        seller_id: req.seller_id,
        facts_json: serde_json::Value::Object(facts).to_string(),
        metadata_json: metadata,
        notify_url,
        return_url,
        checkout_token: ids::random_token::<32>(),
        created_at_ms: now,
        expire_at_ms,
    })
}

/// The fields whose difference makes a repeat a conflict.
fn conflicting_fields(existing: &PayOrder, new: &NewPayOrder) -> Vec<&'static str> {
    let mut diff = Vec::new();
    if existing.amount.minor() != new.amount.minor() {
        diff.push("amount");
    }
    if existing.amount.currency() != new.amount.currency() {
        diff.push("currency");
    }
    if existing.subject != new.subject {
        diff.push("subject");
    }
    if existing.buyer_id != new.buyer_id {
        diff.push("buyer_id");
    }
    if existing.seller_id != new.seller_id {
        diff.push("seller_id");
    }
    diff
}

/// Create a pay order (idempotent by `business_order_no`).
#[utoipa::path(post, path = "/v1/pay-orders", tag = "pay orders",
    request_body = CreatePayOrderRequest,
    responses(
        (status = 201, description = "Created", body = PayOrderResource),
        (status = 200, description = "The same business_order_no again: the existing order", body = PayOrderResource),
        (status = 400, description = "INVALID_REQUEST or URL_NOT_ALLOWED", body = ErrorBody),
        (status = 401, description = "UNAUTHORIZED, TIMESTAMP_EXPIRED or NONCE_REPLAYED", body = ErrorBody),
        (status = 409, description = "IDEMPOTENCY_CONFLICT", body = ErrorBody),
        (status = 413, description = "PAYLOAD_TOO_LARGE", body = ErrorBody),
    ),
    security(("paydesk_hmac" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(VerifiedBody(body)): Extension<VerifiedBody>,
) -> ApiResult<(StatusCode, Json<PayOrderResource>)> {
    let req: CreatePayOrderRequest = parse_json(&body)?;
    let new = build_order(req, &caller, now_ms())?;
    match state.store.create_pay_order(&new).await? {
        CreateOutcome::Created(o) => {
            tracing::Span::current().record("pay_order_id", o.id.as_str());
            tracing::info!(pay_order_id = %o.id, amount_minor = o.amount.minor(), "pay order created");
            metrics::counter!("paydesk_pay_orders_created_total").increment(1);
            Ok((
                StatusCode::CREATED,
                Json(PayOrderResource::new(&o, &state.public_url)),
            ))
        }
        CreateOutcome::Existing(o) => {
            tracing::Span::current().record("pay_order_id", o.id.as_str());
            let diff = conflicting_fields(&o, &new);
            if !diff.is_empty() {
                return Err(ApiError::new(
                    ErrorCode::IdempotencyConflict,
                    format!(
                        "business_order_no `{}` already has pay order {} with a different {}",
                        o.business_order_no,
                        o.id,
                        diff.join(", ")
                    ),
                ));
            }
            Ok((
                StatusCode::OK,
                Json(PayOrderResource::new(&o, &state.public_url)),
            ))
        }
    }
}

/// Query of `GET /v1/pay-orders`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListPayOrdersQuery {
    /// Created at or after this time (unix ms; default: the beginning).
    pub created_from_ms: Option<i64>,
    /// Created before this time (unix ms; default: no end).
    pub created_to_ms: Option<i64>,
    /// Only `WAITING`, `PAID` or `CLOSED` orders.
    pub status: Option<String>,
    /// Orders per page, 1-100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of `GET /v1/pay-orders`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayOrderPage {
    /// Newest first.
    pub data: Vec<PayOrderResource>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Default and largest page sizes.
const LIST_DEFAULT: i64 = 20;
const LIST_MAX: i64 = 100;

/// A cursor is `<created_at_ms>.<id>` of the last order of a page.
pub(crate) fn encode_cursor(o: &PayOrder) -> String {
    format!("{}.{}", o.created_at_ms, o.id)
}

fn decode_cursor(text: &str) -> ApiResult<(i64, String)> {
    let bad = || ApiError::invalid("cursor is not a next_cursor this API returned");
    let (ms, id) = text.split_once('.').ok_or_else(bad)?;
    let ms: i64 = ms.parse().map_err(|_| bad())?;
    if !ids::has_shape(id, ids::PAY_ORDER) {
        return Err(bad());
    }
    Ok((ms, id.to_owned()))
}

/// The store query for one business line's list (shared with the console's search).
pub(crate) fn build_query(
    q: ListPayOrdersQuery,
    business_line_id: &str,
) -> ApiResult<PayOrderQuery> {
    let from = q.created_from_ms.unwrap_or(0);
    let to = q.created_to_ms.unwrap_or(i64::MAX);
    if from < 0 || to < 0 || from > to {
        return Err(ApiError::invalid(
            "created_from_ms and created_to_ms must be unix milliseconds with from <= to",
        ));
    }
    let limit = q.limit.unwrap_or(LIST_DEFAULT);
    if !(1..=LIST_MAX).contains(&limit) {
        return Err(ApiError::invalid(format!("limit must be 1-{LIST_MAX}")));
    }
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(
            PayOrderStatus::parse(s)
                .ok_or_else(|| ApiError::invalid("status must be WAITING, PAID or CLOSED"))?,
        ),
    };
    let before = q.cursor.as_deref().map(decode_cursor).transpose()?;
    Ok(PayOrderQuery {
        business_line_id: business_line_id.to_owned(),
        created_from_ms: from,
        created_to_ms: to,
        status,
        before,
        limit,
    })
}

/// List your pay orders over a creation time range, newest first, with cursor paging.
/// Archived orders are included: the list spans the hot and the cold store.
#[utoipa::path(get, path = "/v1/pay-orders", tag = "pay orders",
    params(ListPayOrdersQuery),
    responses(
        (status = 200, body = PayOrderPage),
        (status = 400, description = "INVALID_REQUEST", body = ErrorBody),
        (status = 401, description = "UNAUTHORIZED, TIMESTAMP_EXPIRED or NONCE_REPLAYED", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<ListPayOrdersQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<PayOrderPage>> {
    let Query(q) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let query = build_query(q, &caller.0.id)?;
    let orders = state.store.list_pay_orders(&query).await?;
    let next_cursor = (orders.len() as i64 == query.limit)
        .then(|| orders.last().map(encode_cursor))
        .flatten();
    Ok(Json(PayOrderPage {
        data: orders
            .iter()
            .map(|o| PayOrderResource::new(o, &state.public_url))
            .collect(),
        next_cursor,
    }))
}

/// The caller's own pay order, or 404 for anything else (malformed, unknown, or another
/// business line's id).
pub(crate) async fn owned(state: &AppState, caller: &Caller, id: &str) -> ApiResult<PayOrder> {
    if !ids::has_shape(id, ids::PAY_ORDER) {
        return Err(ApiError::not_found("pay order"));
    }
    let order = state
        .store
        .pay_order(id)
        .await?
        .filter(|o| o.business_line_id == caller.0.id)
        .ok_or_else(|| ApiError::not_found("pay order"))?;
    tracing::Span::current().record("pay_order_id", order.id.as_str());
    Ok(order)
}

/// Get a pay order by paydesk id.
#[utoipa::path(get, path = "/v1/pay-orders/{id}", tag = "pay orders",
    params(("id" = String, Path, description = "paydesk pay order id")),
    responses((status = 200, body = PayOrderResource), (status = 404, description = "NOT_FOUND", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<PayOrderResource>> {
    let order = owned(&state, &caller, &id).await?;
    full(&state, &order).await
}

/// The resource of one order with its balance part (single-order reads only: lists leave
/// it out rather than read it per row).
async fn full(state: &AppState, order: &PayOrder) -> ApiResult<Json<PayOrderResource>> {
    let part = state.store.balance_part(&order.id).await?;
    Ok(Json(
        PayOrderResource::new(order, &state.public_url).with_balance_part(part.as_ref()),
    ))
}

/// Get a pay order by your business order number.
#[utoipa::path(get, path = "/v1/pay-orders/by-business-order-no/{business_order_no}", tag = "pay orders",
    params(("business_order_no" = String, Path, description = "your order number")),
    responses((status = 200, body = PayOrderResource), (status = 404, description = "NOT_FOUND", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn get_by_business_no(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(no): Path<String>,
) -> ApiResult<Json<PayOrderResource>> {
    let order = state
        .store
        .pay_order_by_business_no(&caller.0.id, &no)
        .await?
        .ok_or_else(|| ApiError::not_found("pay order"))?;
    tracing::Span::current().record("pay_order_id", order.id.as_str());
    full(&state, &order).await
}

fn close_answer(state: &AppState, order: &PayOrder) -> ApiResult<Json<PayOrderResource>> {
    match order.status {
        PayOrderStatus::Closed => Ok(Json(PayOrderResource::new(order, &state.public_url))),
        PayOrderStatus::Paid => Err(ApiError::new(
            ErrorCode::InvalidState,
            format!("pay order {} is PAID and cannot be closed", order.id),
        )),
        PayOrderStatus::Waiting => Err(ApiError::new(
            ErrorCode::InternalError,
            "close did not take effect; retry",
        )),
    }
}

/// Close a pay order so it can no longer be paid (closing again is fine).
#[utoipa::path(post, path = "/v1/pay-orders/{id}/close", tag = "pay orders",
    params(("id" = String, Path, description = "paydesk pay order id")),
    responses(
        (status = 200, description = "Closed (now or before)", body = PayOrderResource),
        (status = 404, description = "NOT_FOUND", body = ErrorBody),
        (status = 409, description = "INVALID_STATE: the order is PAID (also when a provider reports the open attempt paid while closing)", body = ErrorBody),
        (status = 502, description = "PROVIDER_UNAVAILABLE: an open attempt could not be closed at its provider; nothing changed", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn close(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<PayOrderResource>> {
    let order = owned(&state, &caller, &id).await?;
    if order.status != PayOrderStatus::Waiting {
        return close_answer(&state, &order);
    }
    // Open attempts are closed at their providers first; a provider that reports the
    // attempt paid makes the order PAID and this close a 409.
    let after = crate::payments::flow::close_order(&state, &order).await?;
    if after.status == PayOrderStatus::Closed {
        tracing::info!(pay_order_id = %after.id, "pay order closed by business line");
    }
    close_answer(&state, &after)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::ActiveLine;
    use paydesk_store::BusinessLineStatus;
    use proptest::prelude::*;
    use std::sync::Arc;

    fn caller() -> Caller {
        Caller(Arc::new(ActiveLine {
            id: "bl_1".into(),
            app_id: "app_1".into(),
            name: "t".into(),
            secret: "s".into(),
            notify_url: "https://shop.example/notify".into(),
            allowed_url_prefixes: vec!["https://shop.example/".into()],
            status: BusinessLineStatus::Active,
            previous_secret: None,
        }))
    }

    fn req(json: &str) -> ApiResult<NewPayOrder> {
        build_order(parse_json(json.as_bytes())?, &caller(), 1_000_000)
    }

    #[test]
    fn valid_request_builds_an_order() {
        let o = req(r#"{"business_order_no":"A-1","amount":1,"currency":"JPY","subject":"x","facts":{"cat":"bikes","n":1,"b":true}}"#).unwrap();
        assert_eq!(o.amount.minor(), 1);
        assert_eq!(o.expire_at_ms, 1_000_000 + 1_800_000);
        assert_eq!(o.notify_url, "https://shop.example/notify");
    }

    #[test]
    fn bad_requests_are_invalid_request() {
        for bad in [
            r#"{"business_order_no":"A 1","amount":1,"currency":"CNY","subject":"x"}"#,
            r#"{"business_order_no":"","amount":1,"currency":"CNY","subject":"x"}"#,
            r#"{"business_order_no":"A","amount":0,"currency":"CNY","subject":"x"}"#,
            r#"{"business_order_no":"A","amount":-5,"currency":"CNY","subject":"x"}"#,
            r#"{"business_order_no":"A","amount":1.5,"currency":"CNY","subject":"x"}"#,
            r#"{"business_order_no":"A","amount":99999999999999999999,"currency":"CNY","subject":"x"}"#,
            r#"{"business_order_no":"A","amount":"1","currency":"CNY","subject":"x"}"#,
            r#"{"business_order_no":"A","amount":1,"currency":"XXX","subject":"x"}"#,
            r#"{"business_order_no":"A","amount":1,"currency":"CNY","subject":""}"#,
            r#"{"business_order_no":"A","amount":1,"currency":"CNY","subject":"x","extra":1}"#,
            r#"{"business_order_no":"A","amount":1,"currency":"CNY","subject":"x","facts":{"a":{"b":1}}}"#,
            r#"{"business_order_no":"A","amount":1,"currency":"CNY","subject":"x","expire_in_seconds":0}"#,
            r#"{"business_order_no":"A","amount":1,"currency":"CNY","subject":"x","expire_in_seconds":5,"expire_at":"2030-01-01T00:00:00Z"}"#,
            r#"{"business_order_no":"A","amount":1,"currency":"CNY","subject":"x","expire_at":"1970-01-01T00:00:00Z"}"#,
            r#"{"business_order_no":"A","amount":1,"currency":"CNY"}"#,
            r#"[1,2]"#,
            r#"{"#,
            "",
        ] {
            let e = req(bad).expect_err(bad);
            assert_eq!(e.code, ErrorCode::InvalidRequest, "{bad}: {}", e.message);
        }
        let long = format!(
            r#"{{"business_order_no":"A","amount":1,"currency":"CNY","subject":"{}"}}"#,
            "字".repeat(129)
        );
        assert_eq!(req(&long).unwrap_err().code, ErrorCode::InvalidRequest);
        let ok = format!(
            r#"{{"business_order_no":"A","amount":1,"currency":"CNY","subject":"{}"}}"#,
            "字".repeat(128)
        );
        assert!(req(&ok).is_ok(), "128 characters, not bytes");
    }

    #[test]
    fn urls_outside_prefixes_are_refused() {
        for (url, code) in [
            ("https://evil.example/x", ErrorCode::UrlNotAllowed),
            ("https://shop.example.evil.net/", ErrorCode::UrlNotAllowed),
            ("https://shop.example@evil.net/", ErrorCode::InvalidRequest),
        ] {
            let body = format!(
                r#"{{"business_order_no":"A","amount":1,"currency":"CNY","subject":"x","return_url":"{url}"}}"#
            );
            assert_eq!(req(&body).unwrap_err().code, code, "{url}");
        }
        let body = r#"{"business_order_no":"A","amount":1,"currency":"CNY","subject":"x","notify_url":"https://shop.example/n2","return_url":"https://shop.example/done"}"#;
        assert!(req(body).is_ok());
        let body = r#"{"business_order_no":"A","amount":1,"currency":"CNY","subject":"x","notify_url":"not a url"}"#;
        assert_eq!(req(body).unwrap_err().code, ErrorCode::InvalidRequest);
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_never_panic(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_json::<CreatePayOrderRequest>(&body).and_then(|r| build_order(r, &caller(), 0));
        }

        #[test]
        fn any_amount_is_accepted_iff_positive(amount in any::<i64>()) {
            let body = format!(r#"{{"business_order_no":"A","amount":{amount},"currency":"CNY","subject":"x"}}"#);
            prop_assert_eq!(req(&body).is_ok(), amount > 0);
        }
    }
}
