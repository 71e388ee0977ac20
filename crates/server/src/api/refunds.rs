//! Business refunds: `POST /v1/pay-orders/{id}/refunds` (full or partial, many per order,
//! idempotent by `business_refund_no`), `GET /v1/pay-orders/{id}/refunds`,
//! `GET /v1/refunds/{id}`, `GET /v1/refunds/by-business-refund-no/{no}`.
//!
//! The amount is reserved on the order in the same transaction that records the refund
//! (never more than paid minus refunded, under any concurrency); the provider call
//! follows, and the outcome arrives as `refund.succeeded` / `refund.failed`.

use super::parse_json;
use super::pay_orders::owned;
use crate::auth::{Caller, VerifiedBody};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::payments::refunds;
use crate::resource::RefundResource;
use crate::state::AppState;
use crate::time::now_ms;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use paydesk_core::{ids, Amount, Currency, RefundFunds, RefundKind};
use paydesk_store::{CreateRefundOutcome, NewRefund, PayOrder, Refund};
use serde::Deserialize;
use utoipa::ToSchema;

const MAX_REASON_CHARS: usize = 80;
const DAY_MS: i64 = 86_400_000;

/// Body of a refund request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRefundRequest {
    /// Your refund number: the same number refunds at most once (1-64 of `[A-Za-z0-9_-]`).
    pub business_refund_no: String,
    /// How much, minor units (at most the paid amount minus what is refunded or being
    /// refunded).
    pub amount: i64,
    /// ISO 4217 code; must be the order's.
    pub currency: String,
    /// Shown to the buyer (at most 80 characters).
    #[serde(default)]
    pub reason: Option<String>,
    /// For an order paid partly from the buyer's balance (`COMBINED`): which part the
    /// refund takes first, `THIRD_PARTY_FIRST` (default: back through the provider while
    /// its part lasts, then to the balance) or `BALANCE_FIRST`. Ignored otherwise.
    #[serde(default)]
    pub funds: Option<String>,
}

fn validate(req: &CreateRefundRequest, order: &PayOrder) -> ApiResult<Amount> {
    if !super::is_business_no(&req.business_refund_no) {
        return Err(ApiError::invalid(
            "business_refund_no must be 1-64 characters of [A-Za-z0-9_-]",
        ));
    }
    if req
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS)
    {
        return Err(ApiError::invalid("reason is at most 80 characters"));
    }
    let currency: Currency = req
        .currency
        .parse()
        .map_err(|_| ApiError::invalid(format!("unknown currency `{}`", req.currency)))?;
    if currency != order.currency() {
        return Err(ApiError::invalid(format!(
            "currency must be the order's ({})",
            order.currency().code()
        )));
    }
    if req.amount <= 0 {
        return Err(ApiError::invalid("amount must be positive"));
    }
    Amount::new(req.amount, currency).map_err(|e| ApiError::invalid(format!("amount: {e}")))
}

async fn resource(state: &AppState, r: &Refund) -> ApiResult<RefundResource> {
    let order = state.store.pay_order(&r.pay_order_id).await?;
    Ok(RefundResource::new(
        r,
        order
            .as_ref()
            .map(|o| o.business_order_no.as_str())
            .unwrap_or(""),
    ))
}

/// Refund (part of) a paid order.
#[utoipa::path(post, path = "/v1/pay-orders/{id}/refunds", tag = "refunds",
    params(("id" = String, Path, description = "paydesk pay order id")),
    request_body = CreateRefundRequest,
    responses(
        (status = 201, description = "Recorded and sent to the provider", body = RefundResource),
        (status = 200, description = "The same business_refund_no again: the existing refund", body = RefundResource),
        (status = 400, description = "INVALID_REQUEST", body = ErrorBody),
        (status = 404, description = "NOT_FOUND", body = ErrorBody),
        (status = 409, description = "INVALID_STATE (not paid), REFUND_EXCEEDS_REFUNDABLE, REFUND_NOT_ALLOWED (past the refund window or too many refunds), IDEMPOTENCY_CONFLICT", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(VerifiedBody(body)): Extension<VerifiedBody>,
    Path(id): Path<String>,
) -> ApiResult<(StatusCode, Json<RefundResource>)> {
    let order = owned(&state, &caller, &id).await?;
    let req: CreateRefundRequest = parse_json(&body)?;
    let amount = validate(&req, &order)?;
    // A repeat is answered before any state check: idempotent even after the order moved.
    if let Some(existing) = state
        .store
        .refund_by_business_no(&caller.0.id, &req.business_refund_no)
        .await?
    {
        return repeat(&state, &existing, &order, amount).await;
    }
    let funds = match req.funds.as_deref() {
        None => RefundFunds::default(),
        Some(f) => RefundFunds::parse(f)
            .ok_or_else(|| ApiError::invalid("funds must be THIRD_PARTY_FIRST or BALANCE_FIRST"))?,
    };
    // A BALANCE order was paid without any provider attempt: its refunds name none.
    let (attempt_id, attempt_paid_at_ms) = match super::paid_by(&state, &order).await? {
        super::PaidBy::Attempt(a) => (a.id, a.paid_at_ms),
        super::PaidBy::Balance => (String::new(), order.paid_at_ms),
    };
    let now = now_ms();
    let window_ms = state
        .config
        .payments
        .refund_window_days
        .saturating_mul(DAY_MS);
    let paid_at = attempt_paid_at_ms.or(order.paid_at_ms).unwrap_or(now);
    if now.saturating_sub(paid_at) > window_ms {
        return Err(ApiError::new(
            ErrorCode::RefundNotAllowed,
            format!(
                "the payment is older than the {}-day refund window; refund offline",
                state.config.payments.refund_window_days
            ),
        ));
    }
    let new = NewRefund {
        id: ids::new_id(ids::REFUND),
        pay_order_id: order.id.clone(),
        attempt_id,
        refund_no: ids::provider_no(),
        business_refund_no: Some(req.business_refund_no.clone()),
        kind: RefundKind::Business,
        amount,
        reason: req.reason.clone(),
        created_at_ms: now,
        funds,
    };
    match state
        .store
        .create_refund(&new, state.config.payments.max_refunds_per_payment)
        .await?
    {
        CreateRefundOutcome::Created(r) => {
            tracing::info!(pay_order_id = %order.id, refund_id = %r.id, amount_minor = r.amount.minor(), "refund recorded");
            metrics::counter!("paydesk_refunds_created_total").increment(1);
            // Send it now so the answer usually carries the provider's first word; the
            // worker takes over after a failure.
            let r = match refunds::step(&state, &r).await {
                Ok(after) => after,
                Err(e) => {
                    tracing::warn!(refund_id = %r.id, error = %e, "first refund try failed; the worker retries");
                    refunds::kick(&state, &r.id);
                    r
                }
            };
            Ok((StatusCode::CREATED, Json(resource(&state, &r).await?)))
        }
        CreateRefundOutcome::Existing(r) => repeat(&state, &r, &order, amount).await,
        CreateRefundOutcome::OrderNotPaid(_) => Err(ApiError::new(
            ErrorCode::InvalidState,
            format!("pay order {} is not PAID", order.id),
        )),
        CreateRefundOutcome::ExceedsRefundable { refundable_minor } => Err(ApiError::new(
            ErrorCode::RefundExceedsRefundable,
            format!(
                "at most {refundable_minor} can still be refunded (paid minus refunded and in-flight refunds)"
            ),
        )),
        CreateRefundOutcome::TooManyRefunds => Err(ApiError::new(
            ErrorCode::RefundNotAllowed,
            format!(
                "the payment already has {} refunds, the provider's limit",
                state.config.payments.max_refunds_per_payment
            ),
        )),
    }
}

async fn repeat(
    state: &AppState,
    existing: &Refund,
    order: &PayOrder,
    amount: Amount,
) -> ApiResult<(StatusCode, Json<RefundResource>)> {
    if existing.pay_order_id != order.id || existing.amount != amount {
        return Err(ApiError::new(
            ErrorCode::IdempotencyConflict,
            format!(
                "business_refund_no `{}` already refunds {} of pay order {}",
                existing.business_refund_no.as_deref().unwrap_or(""),
                existing.amount,
                existing.pay_order_id
            ),
        ));
    }
    Ok((StatusCode::OK, Json(resource(state, existing).await?)))
}

/// The refunds of an order (business and automatic), oldest first.
#[utoipa::path(get, path = "/v1/pay-orders/{id}/refunds", tag = "refunds",
    params(("id" = String, Path, description = "paydesk pay order id")),
    responses((status = 200, body = [RefundResource]), (status = 404, description = "NOT_FOUND", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<Vec<RefundResource>>> {
    let order = owned(&state, &caller, &id).await?;
    let refunds = state.store.refunds_for_pay_order(&order.id).await?;
    Ok(Json(
        refunds
            .iter()
            .map(|r| RefundResource::new(r, &order.business_order_no))
            .collect(),
    ))
}

/// A refund by paydesk id.
#[utoipa::path(get, path = "/v1/refunds/{id}", tag = "refunds",
    params(("id" = String, Path, description = "paydesk refund id")),
    responses((status = 200, body = RefundResource), (status = 404, description = "NOT_FOUND", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<RefundResource>> {
    if !ids::has_shape(&id, ids::REFUND) {
        return Err(ApiError::not_found("refund"));
    }
    let r = state
        .store
        .refund(&id)
        .await?
        .filter(|r| r.business_line_id == caller.0.id)
        .ok_or_else(|| ApiError::not_found("refund"))?;
    Ok(Json(resource(&state, &r).await?))
}

/// A refund by your business refund number.
#[utoipa::path(get, path = "/v1/refunds/by-business-refund-no/{business_refund_no}", tag = "refunds",
    params(("business_refund_no" = String, Path, description = "your refund number")),
    responses((status = 200, body = RefundResource), (status = 404, description = "NOT_FOUND", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn get_by_business_no(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(no): Path<String>,
) -> ApiResult<Json<RefundResource>> {
    let r = state
        .store
        .refund_by_business_no(&caller.0.id, &no)
        .await?
        .ok_or_else(|| ApiError::not_found("refund"))?;
    Ok(Json(resource(&state, &r).await?))
}
