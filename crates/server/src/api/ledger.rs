//! The balance ledger for business lines: `GET /v1/ledger/balance` (available and held),
//! `GET /v1/ledger/statement` (paged, newest first) and `POST /v1/settlements` (a PAID
//! order's money from its merchant account's clearing account to the seller's balance,
//! optionally split with a platform commission) and `POST /v1/ledger/credits` (the
//! business line credits a user's balance from its funding account).
//!
//! Balances belong to platform users and sellers, not to one business line: every
//! business line reads the same balance of a user.

use super::parse_json;
use super::pay_orders::owned;
use super::payouts::owner_kind;
use crate::auth::{Caller, VerifiedBody};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::resource::{
    BalanceResource, SettlementResource, StatementLineResource, StatementResource,
};
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use paydesk_core::balance_part::BALANCE_CLEARING_OWNER;
use paydesk_core::ledger::{movements, AccountKind, AccountRef};
use paydesk_core::{ids, Amount, Currency};
use paydesk_store::{NewJournalEntry, PostOutcome};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

/// Whose balance: `GET /v1/ledger/balance` and the start of the statement query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct BalanceQuery {
    /// `USER` (default) or `SELLER`.
    pub owner_kind: Option<String>,
    /// The user or seller id.
    pub owner_id: String,
    /// ISO 4217 code (default CNY).
    pub currency: Option<String>,
}

/// `GET /v1/ledger/statement`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct StatementQuery {
    /// `USER` (default) or `SELLER`.
    pub owner_kind: Option<String>,
    /// The user or seller id.
    pub owner_id: String,
    /// ISO 4217 code (default CNY).
    pub currency: Option<String>,
    /// Lines strictly older than this `sequence` (the previous page's `next_before`).
    pub before: Option<i64>,
    /// Lines per page, 1-100 (default 20).
    pub limit: Option<i64>,
}

fn account_of(kind: Option<&str>, owner_id: &str, currency: Option<&str>) -> ApiResult<AccountRef> {
    let kind = owner_kind(kind)?;
    let currency: Currency = currency
        .unwrap_or("CNY")
        .parse()
        .map_err(|_| ApiError::invalid("currency is not supported"))?;
    AccountRef::new(kind, owner_id, currency).map_err(|_| {
        ApiError::invalid("owner_id must be 1-64 printable ASCII characters without spaces")
    })
}

async fn balance_of(state: &AppState, available: &AccountRef) -> ApiResult<BalanceResource> {
    let ledger = state.store.ledger();
    let held = available
        .held_twin()
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    Ok(BalanceResource {
        owner_kind: match available.kind() {
            AccountKind::SellerAvailable => "SELLER",
            _ => "USER",
        }
        .to_owned(),
        owner_id: available.owner_id().to_owned(),
        currency: available.currency().code().to_owned(),
        available_minor: ledger.balance(available).await?,
        held_minor: ledger.balance(&held).await?,
    })
}

/// A user's or seller's balance: available and held.
#[utoipa::path(get, path = "/v1/ledger/balance", tag = "ledger",
    params(BalanceQuery),
    responses((status = 200, body = BalanceResource), (status = 400, description = "INVALID_REQUEST", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn balance(
    State(state): State<AppState>,
    Extension(_caller): Extension<Caller>,
    query: Result<Query<BalanceQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<BalanceResource>> {
    let Query(q) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let a = account_of(q.owner_kind.as_deref(), &q.owner_id, q.currency.as_deref())?;
    Ok(Json(balance_of(&state, &a).await?))
}

/// The statement of a user's or seller's available balance, newest first, paged.
#[utoipa::path(get, path = "/v1/ledger/statement", tag = "ledger",
    params(StatementQuery),
    responses((status = 200, body = StatementResource), (status = 400, description = "INVALID_REQUEST", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn statement(
    State(state): State<AppState>,
    Extension(_caller): Extension<Caller>,
    query: Result<Query<StatementQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<StatementResource>> {
    let Query(q) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let a = account_of(q.owner_kind.as_deref(), &q.owner_id, q.currency.as_deref())?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit must be 1-100"));
    }
    if q.before.is_some_and(|b| b < 1) {
        return Err(ApiError::invalid("before must be a positive sequence"));
    }
    let ledger = state.store.ledger();
    let lines = match ledger.account_by_ref(&a).await? {
        Some(acc) => ledger.statement(&acc.id, q.before, limit).await?,
        None => Vec::new(),
    };
    let next_before = (lines.len() as i64 == limit)
        .then(|| lines.last().map(|l| l.account_version))
        .flatten();
    Ok(Json(StatementResource {
        balance: balance_of(&state, &a).await?,
        lines: lines
            .iter()
            .map(|l| StatementLineResource {
                entry_id: l.entry_id.clone(),
                entry_kind: l.entry_kind.as_str().to_owned(),
                reference: l.reference.clone(),
                amount_minor: l.amount_minor,
                balance_after_minor: l.balance_after_minor,
                sequence: l.account_version,
                created_at: rfc3339(l.created_at_ms),
            })
            .collect(),
        next_before,
    }))
}

/// Body of `POST /v1/settlements`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettleRequest {
    /// Your settlement number: 1-64 of `[A-Za-z0-9_-]`.
    pub business_settlement_no: String,
    /// The PAID pay order to settle (each order settles at most once).
    pub pay_order_id: String,
    /// The seller credited; must be the order's seller when the order names one.
    pub seller_id: Option<String>,
    /// The platform's commission, minor units (0 to the settled amount; default 0).
    pub commission_minor: Option<i64>,
}

/// Settle a paid order to its seller's balance (whole or split with a platform
/// commission): the order's amount less what was refunded, from its merchant account's
/// clearing account. Idempotent: the same number for the same order answers the same
/// settlement; an order settles once.
#[utoipa::path(post, path = "/v1/settlements", tag = "ledger",
    request_body = SettleRequest,
    responses(
        (status = 201, description = "Settled", body = SettlementResource),
        (status = 200, description = "The same settlement again", body = SettlementResource),
        (status = 400, description = "INVALID_REQUEST", body = ErrorBody),
        (status = 404, description = "NOT_FOUND", body = ErrorBody),
        (status = 409, description = "INVALID_STATE (not PAID or nothing left), ALREADY_SETTLED, IDEMPOTENCY_CONFLICT", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn settle(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(VerifiedBody(body)): Extension<VerifiedBody>,
) -> ApiResult<(StatusCode, Json<SettlementResource>)> {
    let req: SettleRequest = parse_json(&body)?;
    if !super::is_business_no(&req.business_settlement_no) {
        return Err(ApiError::invalid(
            "business_settlement_no must be 1-64 characters of [A-Za-z0-9_-]",
        ));
    }
    let order = owned(&state, &caller, &req.pay_order_id).await?;
    let seller_id = match (&req.seller_id, &order.seller_id) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::invalid(format!(
                "seller_id must be the order's seller ({b})"
            )))
        }
        (Some(a), _) | (None, Some(a)) => a.clone(),
        (None, None) => return Err(ApiError::invalid("seller_id is required")),
    };
    if AccountRef::seller(seller_id.as_str(), order.currency()).is_err() {
        return Err(ApiError::invalid(
            "seller_id must be 1-64 printable ASCII characters without spaces",
        ));
    }
    // Where the order's money waits: its provider account's clearing account (a
    // COMBINED order's balance part was captured there too), or the balance clearing
    // account for a BALANCE order.
    let clearing_owner = match super::paid_by(&state, &order).await? {
        super::PaidBy::Attempt(paid) => paid.merchant_account,
        super::PaidBy::Balance => BALANCE_CLEARING_OWNER.to_owned(),
    };
    let gross_minor = order
        .amount
        .minor()
        .saturating_sub(order.refunded_amount_minor);
    if gross_minor <= 0 {
        return Err(ApiError::new(
            ErrorCode::InvalidState,
            "nothing left to settle: the order is refunded",
        ));
    }
    let commission_minor = req.commission_minor.unwrap_or(0);
    if !(0..=gross_minor).contains(&commission_minor) {
        return Err(ApiError::invalid(format!(
            "commission_minor must be 0 to {gross_minor}"
        )));
    }
    let currency = order.currency();
    let bad = |e: paydesk_core::LedgerError| ApiError::invalid(e.to_string());
    let gross = Amount::new(gross_minor, currency).map_err(|e| ApiError::invalid(e.to_string()))?;
    let cut =
        Amount::new(commission_minor, currency).map_err(|e| ApiError::invalid(e.to_string()))?;
    let clearing = AccountRef::clearing(clearing_owner.as_str(), currency).map_err(bad)?;
    let entry = movements::settle(
        &clearing,
        &seller_id,
        gross,
        (commission_minor > 0).then_some((caller.0.id.as_str(), cut)),
    )
    .map_err(bad)?;
    let now = now_ms();
    let new = NewJournalEntry {
        id: ids::new_id(ids::JOURNAL_ENTRY),
        business_line_id: caller.0.id.clone(),
        reference: req.business_settlement_no.clone(),
        // The order is the key: it settles once, whatever number is used.
        idempotency_key: format!("order:{}", order.id),
        created_at_ms: now,
        entry,
    };
    let answer = |entry_id: String, created_at_ms: i64| SettlementResource {
        business_settlement_no: req.business_settlement_no.clone(),
        pay_order_id: order.id.clone(),
        seller_id: seller_id.clone(),
        gross_minor,
        commission_minor,
        seller_minor: gross_minor - commission_minor,
        currency: currency.code().to_owned(),
        entry_id,
        created_at: rfc3339(created_at_ms),
    };
    match state.store.ledger().post_entry(&new).await? {
        PostOutcome::Posted(p) => {
            tracing::info!(pay_order_id = %order.id, entry_id = %p.id, gross_minor, commission_minor, "order settled");
            Ok((StatusCode::CREATED, Json(answer(p.id, p.created_at_ms))))
        }
        PostOutcome::Duplicate { entry_id } => {
            let Some(prev) = state.store.ledger().entry(&entry_id).await? else {
                return Err(ApiError::new(ErrorCode::InternalError, "internal error"));
            };
            if prev.reference != req.business_settlement_no {
                return Err(ApiError::new(
                    ErrorCode::AlreadySettled,
                    format!(
                        "pay order {} is already settled (settlement `{}`)",
                        order.id, prev.reference
                    ),
                ));
            }
            let same = prev.lines.len() == new.entry.lines().len()
                && prev
                    .lines
                    .iter()
                    .zip(new.entry.lines())
                    .all(|(a, b)| a.amount_minor == b.amount_minor);
            if !same {
                return Err(ApiError::new(
                    ErrorCode::IdempotencyConflict,
                    format!(
                        "settlement `{}` already settled pay order {} with another split",
                        req.business_settlement_no, order.id
                    ),
                ));
            }
            Ok((StatusCode::OK, Json(answer(prev.id, prev.created_at_ms))))
        }
        PostOutcome::Insufficient { account_id } => {
            tracing::error!(%account_id, "a settlement was refused for a balance that may go negative");
            Err(ApiError::new(ErrorCode::InternalError, "internal error"))
        }
    }
}

/// Body of `POST /v1/ledger/credits`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreditRequest {
    /// Your credit number, the idempotency key: 1-64 of `[A-Za-z0-9_-]`.
    pub business_credit_no: String,
    /// The user credited.
    pub user_id: String,
    /// Minor units, more than 0.
    pub amount_minor: i64,
    /// ISO 4217 code (default CNY).
    pub currency: Option<String>,
}

/// Credit a user's available balance from the business line's funding account (a
/// reward, a compensation, a top-up paid elsewhere). Idempotent by
/// `business_credit_no`: the same number answers the same entry.
#[utoipa::path(post, path = "/v1/ledger/credits", tag = "ledger",
    request_body = CreditRequest,
    responses(
        (status = 201, description = "Credited", body = BalanceResource),
        (status = 200, description = "The same credit again", body = BalanceResource),
        (status = 400, description = "INVALID_REQUEST", body = ErrorBody),
        (status = 409, description = "IDEMPOTENCY_CONFLICT", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn credit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(VerifiedBody(body)): Extension<VerifiedBody>,
) -> ApiResult<(StatusCode, Json<BalanceResource>)> {
    let req: CreditRequest = parse_json(&body)?;
    if !super::is_business_no(&req.business_credit_no) {
        return Err(ApiError::invalid(
            "business_credit_no must be 1-64 characters of [A-Za-z0-9_-]",
        ));
    }
    let user = account_of(Some("USER"), &req.user_id, req.currency.as_deref())?;
    if req.amount_minor <= 0 {
        return Err(ApiError::invalid("amount_minor must be positive"));
    }
    let amount = Amount::new(req.amount_minor, user.currency())
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let entry = movements::credit(&caller.0.id, &req.user_id, amount)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let new = NewJournalEntry {
        id: ids::new_id(ids::JOURNAL_ENTRY),
        business_line_id: caller.0.id.clone(),
        reference: req.business_credit_no.clone(),
        idempotency_key: req.business_credit_no.clone(),
        created_at_ms: now_ms(),
        entry,
    };
    let status = match state.store.ledger().post_entry(&new).await? {
        PostOutcome::Posted(p) => {
            tracing::info!(entry_id = %p.id, amount_minor = req.amount_minor, "user balance credited");
            StatusCode::CREATED
        }
        PostOutcome::Duplicate { entry_id } => {
            // The same number again: the same credit (user and amount), or a conflict.
            let prev = state.store.ledger().entry(&entry_id).await?;
            let target = state.store.ledger().account_by_ref(&user).await?;
            let same = match (prev, target) {
                (Some(prev), Some(target)) => prev
                    .lines
                    .iter()
                    .any(|l| l.account_id == target.id && l.amount_minor == req.amount_minor),
                _ => false,
            };
            if !same {
                return Err(ApiError::new(
                    ErrorCode::IdempotencyConflict,
                    format!(
                        "credit `{}` was already used for another credit",
                        req.business_credit_no
                    ),
                ));
            }
            StatusCode::OK
        }
        PostOutcome::Insufficient { account_id } => {
            tracing::error!(%account_id, "a credit was refused for a balance that may go negative");
            return Err(ApiError::new(ErrorCode::InternalError, "internal error"));
        }
    };
    Ok((status, Json(balance_of(&state, &user).await?)))
}
