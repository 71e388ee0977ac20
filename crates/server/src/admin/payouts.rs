//! `/admin/v1/payouts`: payouts and withdrawals with their provider state for operators
//! (optionally asking the provider live), and a safe retry (admin only) that runs one
//! step of a payout in flight now: a query with its own number first, a re-send only of
//! that number; never a new number, never a guess.

use super::approvals::{self, Actor, Operation};
use super::session::Signed;
use crate::api::payouts::{decode_cursor, filter_of};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::payouts;
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paydesk_core::ids;
use paydesk_core::transition::StateMachine;
use paydesk_store::{AuditEntry, Payout};
use serde::Deserialize;
use serde_json::{json, Value};

/// Query of `GET /admin/v1/payouts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminPayoutsQuery {
    /// Only this business line's.
    pub business_line_id: Option<String>,
    /// Only `PAYOUT` or `WITHDRAWAL`.
    pub kind: Option<String>,
    /// Only this state.
    pub status: Option<String>,
    /// Rows per page, 1-100 (default 50).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Ask the provider about every open payout listed (bounded by `limit`).
    pub live: Option<bool>,
}

fn view(p: &Payout) -> Value {
    json!({
        "id": p.id, "kind": p.kind.as_str(), "business_line_id": p.business_line_id,
        "business_payout_no": p.business_payout_no, "payout_no": p.payout_no,
        "status": p.status.as_str(), "provider": p.provider.as_str(),
        "merchant_account": p.merchant_account, "recipient": p.recipient,
        "amount_minor": p.amount.minor(), "currency": p.amount.currency().code(),
        "funding_account_id": p.funding_account_id,
        "provider_transfer_id": p.provider_transfer_id, "package_info": p.package_info,
        "failure_code": p.failure_code, "failure_message": p.failure_message,
        "hold_entry_id": p.hold_entry_id, "final_entry_id": p.final_entry_id,
        "tries": p.tries, "next_action_at": p.next_action_at_ms.map(rfc3339),
        "last_error": p.last_error, "created_at": rfc3339(p.created_at_ms),
        "updated_at": rfc3339(p.updated_at_ms), "finished_at": p.finished_at_ms.map(rfc3339),
        // In flight with nothing scheduled: waiting for an operator.
        "needs_operator": p.status.is_open() && p.next_action_at_ms.is_none(),
    })
}

/// What the provider says now about `p` (a signed query with its own number).
async fn live_state(state: &AppState, p: &Payout) -> Value {
    let Some(account) = state.accounts().get(&p.merchant_account) else {
        return json!({"error": "merchant account not configured"});
    };
    match account.client.query_transfer(&p.payout_no).await {
        Ok(s) => json!({
            "state": s.provider_state, "provider_transfer_id": s.provider_transfer_id,
            "amount_minor": s.amount.map(|a| a.minor()), "fail_reason": s.fail_reason,
        }),
        Err(e) => json!({"error": e.to_string()}),
    }
}

/// `GET /admin/v1/payouts`: newest first, with what paydesk knows of the provider's state
/// and, with `live=true`, what the provider says now.
pub async fn list(
    _: Signed,
    State(state): State<AppState>,
    query: Result<Query<AdminPayoutsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit must be 1-100"));
    }
    let mut filter = filter_of(q.kind.as_deref(), q.status.as_deref())?;
    filter.business_line_id = q.business_line_id.clone();
    let cursor = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let page = state
        .store
        .ledger()
        .list_payouts(
            &filter,
            cursor.as_ref().map(|(ms, id)| (*ms, id.as_str())),
            limit,
        )
        .await?;
    let mut rows = Vec::with_capacity(page.len());
    for p in &page {
        let mut v = view(p);
        if q.live == Some(true)
            && p.status.is_open()
            && p.status != paydesk_core::PayoutStatus::Accepted
        {
            v["provider_live"] = live_state(&state, p).await;
        }
        rows.push(v);
    }
    let next_cursor = (page.len() as i64 == limit)
        .then(|| page.last().map(|p| format!("{}.{}", p.created_at_ms, p.id)))
        .flatten();
    Ok(Json(json!({ "payouts": rows, "next_cursor": next_cursor })))
}

/// `POST /admin/v1/payouts/{id}/retry` (admin): one step of a payout in flight now
/// (`PROCESSING` or `WAIT_USER_CONFIRM`), past the worker's bound on tries: a query with
/// its own number, a re-send of that same number only if the provider does not know it.
/// Anything else is 409 `INVALID_STATE`. Audited.
pub async fn retry(
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    signed.require_admin()?;
    // Refuse an unknown payout at once rather than after a second admin's approval.
    find(&state, &id).await?;
    if let Some(held) = approvals::hold(&state, &signed, Operation::PayoutRetry, &id, b"").await? {
        return Ok(held);
    }
    Ok(execute_retry(&state, &Actor::signed(&signed), &id)
        .await?
        .into_response())
}

async fn find(state: &AppState, id: &str) -> ApiResult<Payout> {
    if !ids::has_shape(id, ids::PAYOUT) {
        return Err(ApiError::not_found("payout"));
    }
    state
        .store
        .ledger()
        .payout(id)
        .await?
        .ok_or_else(|| ApiError::not_found("payout"))
}

/// One step of payout `id` now, as `actor` (directly, or on approval).
pub(crate) async fn execute_retry(
    state: &AppState,
    actor: &Actor,
    id: &str,
) -> ApiResult<Json<Value>> {
    let p = find(state, id).await?;
    let after = match payouts::retry(state, &p).await {
        Ok(Some(after)) => after,
        Ok(None) => {
            return Err(ApiError::new(
                ErrorCode::InvalidState,
                format!(
                    "payout {} is {}: only PROCESSING or WAIT_USER_CONFIRM payouts are retried",
                    p.id,
                    p.status.as_str()
                ),
            ))
        }
        Err(e) => {
            tracing::error!(payout_id = %p.id, error = %e, "payout retry failed");
            return Err(ApiError::new(ErrorCode::InternalError, "internal error"));
        }
    };
    let entry = AuditEntry {
        id: ids::new_id("aud"),
        at_ms: now_ms(),
        actor: actor.to_string(),
        action: "payout.retry".into(),
        target: p.id.clone(),
        details_json: json!({"from": p.status.as_str(), "to": after.status.as_str(), "payout_no": p.payout_no}).to_string(),
    };
    if let Err(e) = state.store.insert_audit_entry(&entry).await {
        tracing::warn!(error = %e, "audit entry for a payout retry not written");
    }
    tracing::info!(payout_id = %p.id, actor = %actor, to = after.status.as_str(), "payout retried by an operator");
    Ok(Json(view(&after)))
}
