//! Maker-checker: admin actions listed in `admin.approvals_required` are not run when an
//! admin asks for them. The request is stored as a `PENDING` approval (202) and runs only
//! when a *different* admin approves it, through the same `execute` function the direct
//! path uses, audited as `operator:<maker>, approved by operator:<checker>`.
//!
//! `GET /admin/v1/approvals` (any role), `POST /admin/v1/approvals/{id}/approve` and
//! `.../reject` (admin, never the requester). Deciding is a conditional update on the
//! approval's version, so two checkers racing: one wins, the other gets 409.

use super::session::Signed;
use super::{business_lines, merchant_accounts, payouts, reconciliation, rules_api};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::time::now_ms;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use paydesk_core::ids;
use paydesk_store::{Approval, ApprovalStatus, AuditEntry, Transition};
use serde::Deserialize;
use serde_json::{json, Value};
use std::fmt;

/// Actions that `admin.approvals_required` can put behind a second operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatedAction {
    /// Adding a merchant account, enabling or disabling one.
    MerchantAccountChange,
    /// `POST /admin/v1/rules/publish`.
    RulesPublish,
    /// `POST /admin/v1/business-lines/{id}/rotate-secret`.
    BusinessLineRotateSecret,
    /// `POST /admin/v1/reconciliation/differences/{id}/resolve`.
    ReconciliationResolve,
    /// `POST /admin/v1/payouts/{id}/retry`.
    PayoutRetry,
}

impl GatedAction {
    /// Every action that can be gated today.
    pub const SUPPORTED: [GatedAction; 5] = [
        GatedAction::RulesPublish,
        GatedAction::MerchantAccountChange,
        GatedAction::BusinessLineRotateSecret,
        GatedAction::ReconciliationResolve,
        GatedAction::PayoutRetry,
    ];

    /// The configuration and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            GatedAction::RulesPublish => "rules.publish",
            GatedAction::MerchantAccountChange => "merchant_account.change",
            GatedAction::BusinessLineRotateSecret => "business_line.rotate_secret",
            GatedAction::ReconciliationResolve => "reconciliation.resolve",
            GatedAction::PayoutRetry => "payout.retry",
        }
    }

    /// A supported action by name (config validation refuses anything else).
    pub fn parse(s: &str) -> Option<Self> {
        Self::SUPPORTED.into_iter().find(|a| a.as_str() == s)
    }

    /// Whether a stored request of this action carries secrets, so it is sealed under
    /// the master key and never shown.
    fn sealed(self) -> bool {
        self == GatedAction::MerchantAccountChange
    }
}

/// Which handler a stored request replays through. One action can have several
/// (`merchant_account.change`: add, set status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `rules_api::execute_publish`.
    RulesPublish,
    /// `business_lines::execute_rotate`.
    RotateSecret,
    /// `merchant_accounts::execute_add`.
    AccountAdd,
    /// `merchant_accounts::execute_set_status`.
    AccountStatus,
    /// `reconciliation::execute_resolve`.
    Resolve,
    /// `payouts::execute_retry`.
    PayoutRetry,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::RulesPublish => "rules.publish",
            Operation::RotateSecret => "business_line.rotate_secret",
            Operation::AccountAdd => "merchant_account.add",
            Operation::AccountStatus => "merchant_account.set_status",
            Operation::Resolve => "reconciliation.resolve",
            Operation::PayoutRetry => "payout.retry",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        [
            Operation::RulesPublish,
            Operation::RotateSecret,
            Operation::AccountAdd,
            Operation::AccountStatus,
            Operation::Resolve,
            Operation::PayoutRetry,
        ]
        .into_iter()
        .find(|o| o.as_str() == s)
    }

    /// The action that gates it.
    pub fn action(self) -> GatedAction {
        match self {
            Operation::RulesPublish => GatedAction::RulesPublish,
            Operation::RotateSecret => GatedAction::BusinessLineRotateSecret,
            Operation::AccountAdd | Operation::AccountStatus => GatedAction::MerchantAccountChange,
            Operation::Resolve => GatedAction::ReconciliationResolve,
            Operation::PayoutRetry => GatedAction::PayoutRetry,
        }
    }
}

/// Who an action is audited as: the operator who asked and, for an approved request,
/// the operator who approved it. The one place audit actor strings are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// The maker's operator name.
    pub maker: String,
    /// The checker's operator name, when the action runs on approval.
    pub checker: Option<String>,
}

impl Actor {
    /// The signed-in operator acting directly.
    pub fn signed(signed: &Signed) -> Self {
        Actor {
            maker: signed.0.name.clone(),
            checker: None,
        }
    }

    /// Bare names, for records that name an author (rule versions): `alice` or
    /// `alice, approved by bob`.
    pub fn author(&self) -> String {
        match &self.checker {
            Some(c) => format!("{}, approved by {c}", self.maker),
            None => self.maker.clone(),
        }
    }
}

/// The audit actor: `operator:alice` or `operator:alice, approved by operator:bob`.
impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "operator:{}", self.maker)?;
        match &self.checker {
            Some(c) => write!(f, ", approved by operator:{c}"),
            None => Ok(()),
        }
    }
}

fn operator(signed: &Signed) -> String {
    format!("operator:{}", signed.0.name)
}

/// Holds the request when its action needs approval: stores it `PENDING` and answers
/// 202 `{approval_id, status, action}`. `None`: run it now (the caller executes).
/// Called after `require_admin` and the request's own validation, so a malformed request
/// is refused at once instead of waiting for a checker.
pub async fn hold(
    state: &AppState,
    signed: &Signed,
    op: Operation,
    target: &str,
    body: &[u8],
) -> ApiResult<Option<Response>> {
    let action = op.action();
    if !state
        .config
        .admin
        .approvals_required
        .iter()
        .any(|a| a == action.as_str())
    {
        return Ok(None);
    }
    let id = ids::new_id("apr");
    let body = std::str::from_utf8(body).map_err(|_| ApiError::invalid("body is not UTF-8"))?;
    let payload = if action.sealed() {
        // Merchant keys travel in this body: only their sealed form is stored.
        let sealed = state.master_key.seal(&id, body).map_err(|e| {
            tracing::error!(error = %e, "sealing an approval request failed");
            ApiError::new(ErrorCode::InternalError, "internal error")
        })?;
        json!({"op": op.as_str(), "sealed_body": sealed})
    } else {
        json!({"op": op.as_str(), "body": body})
    };
    let now = now_ms();
    let approval = Approval {
        id: id.clone(),
        action: action.as_str().into(),
        target: target.into(),
        payload_json: payload.to_string(),
        requested_by: operator(signed),
        requested_at_ms: now,
        status: ApprovalStatus::Pending,
        decided_by: None,
        decided_at_ms: None,
        version: 1,
    };
    state.store.insert_approval(&approval).await?;
    audit(
        state,
        &approval.requested_by,
        "approval.request",
        &approval,
        now,
    )
    .await;
    tracing::info!(approval = %id, action = action.as_str(), operator = %signed.0.name, "action held for approval");
    Ok(Some(
        (
            StatusCode::ACCEPTED,
            Json(json!({"approval_id": id, "status": "PENDING", "action": action.as_str()})),
        )
            .into_response(),
    ))
}

async fn audit(state: &AppState, actor: &str, action: &str, a: &Approval, now: i64) {
    let entry = AuditEntry {
        id: ids::new_id("aud"),
        at_ms: now,
        actor: actor.into(),
        action: action.into(),
        target: a.id.clone(),
        details_json: json!({"action": a.action, "target": a.target}).to_string(),
    };
    if let Err(e) = state.store.insert_audit_entry(&entry).await {
        tracing::warn!(error = %e, "audit entry for an approval not written");
    }
}

fn view(a: &Approval) -> Value {
    let mut v = json!({
        "id": a.id, "action": a.action, "target": a.target, "status": a.status.as_str(),
        "requested_by": a.requested_by, "requested_at_ms": a.requested_at_ms,
        "decided_by": a.decided_by, "decided_at_ms": a.decided_at_ms, "version": a.version,
    });
    // Sealed payloads (merchant keys) are never shown; the others show what will run.
    if let Ok(p) = serde_json::from_str::<Value>(&a.payload_json) {
        if let Some(body) = p.get("body") {
            v["request_body"] = body.clone();
        }
    }
    v
}

/// `GET /admin/v1/approvals` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `PENDING`, `APPROVED` or `REJECTED`; all when absent.
    pub status: Option<String>,
    /// At most this many (default 100, at most 500).
    pub limit: Option<i64>,
}

/// `GET /admin/v1/approvals?status=PENDING`: newest first, any role.
pub async fn list(
    _: Signed,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let status = q
        .status
        .map(|s| {
            ApprovalStatus::parse(&s)
                .ok_or_else(|| ApiError::invalid("status must be PENDING, APPROVED or REJECTED"))
        })
        .transpose()?;
    let limit = q.limit.unwrap_or(100).clamp(1, 500);
    let list = state.store.list_approvals(status, limit).await?;
    Ok(Json(
        json!({ "approvals": list.iter().map(view).collect::<Vec<_>>() }),
    ))
}

/// `POST /admin/v1/approvals/{id}/approve` (admin, not the requester): decides it, then
/// runs the stored request as the maker approved by the checker. Answers with the
/// approval and the action's own answer. The approval is consumed even when the action
/// then fails (its state changed meanwhile): the maker asks again.
pub async fn approve(
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let decided = decide(&state, &signed, &id, ApprovalStatus::Approved).await?;
    let actor = Actor {
        // Stored as the maker's audit actor (`operator:<name>`).
        maker: decided
            .requested_by
            .strip_prefix("operator:")
            .unwrap_or(&decided.requested_by)
            .to_owned(),
        checker: Some(signed.0.name.clone()),
    };
    let result = replay(&state, &actor, &decided).await?;
    Ok(Json(json!({"approval": view(&decided), "result": result})))
}

/// `POST /admin/v1/approvals/{id}/reject` (admin, not the requester): nothing runs.
pub async fn reject(
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let decided = decide(&state, &signed, &id, ApprovalStatus::Rejected).await?;
    audit(
        &state,
        &operator(&signed),
        "approval.reject",
        &decided,
        now_ms(),
    )
    .await;
    Ok(Json(json!({"approval": view(&decided)})))
}

async fn decide(
    state: &AppState,
    signed: &Signed,
    id: &str,
    to: ApprovalStatus,
) -> ApiResult<Approval> {
    signed.require_admin()?;
    let current = state
        .store
        .approval(id)
        .await?
        .ok_or_else(|| ApiError::not_found("approval"))?;
    let checker = operator(signed);
    // The point of maker-checker: the checker is someone else.
    if current.requested_by == checker {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "an approval is decided by another admin than the one who asked",
        ));
    }
    let refused = |a: &Approval| {
        ApiError::new(
            ErrorCode::InvalidState,
            format!("the approval is {} already", a.status.as_str()),
        )
    };
    if current.status != ApprovalStatus::Pending {
        return Err(refused(&current));
    }
    match state
        .store
        .decide_approval(id, current.version, to, &checker, now_ms())
        .await?
    {
        Transition::Applied(a) => {
            tracing::info!(approval = %id, to = to.as_str(), operator = %signed.0.name, "approval decided");
            Ok(a)
        }
        Transition::Refused(Some(a)) => Err(refused(&a)),
        Transition::Refused(None) => Err(ApiError::not_found("approval")),
    }
}

/// Runs an approved request through its handler's `execute`.
async fn replay(state: &AppState, actor: &Actor, a: &Approval) -> ApiResult<Value> {
    let corrupt = || {
        tracing::error!(approval = %a.id, "stored approval request is unreadable");
        ApiError::new(ErrorCode::InternalError, "internal error")
    };
    let p: Value = serde_json::from_str(&a.payload_json).map_err(|_| corrupt())?;
    let op = p["op"]
        .as_str()
        .and_then(Operation::parse)
        .ok_or_else(corrupt)?;
    let body = match (p["body"].as_str(), p["sealed_body"].as_str()) {
        (Some(b), None) => b.to_owned(),
        (None, Some(s)) => state.master_key.open(&a.id, s).map_err(|_| corrupt())?,
        _ => return Err(corrupt()),
    };
    let body = body.as_bytes();
    let target = a.target.as_str();
    let Json(v) = match op {
        Operation::RulesPublish => rules_api::execute_publish(state, actor, body)
            .await?
            .map_err(|_| {
                ApiError::new(
                    ErrorCode::RulesInvalid,
                    "the rule set no longer passes validation: nothing published, ask again",
                )
            }),
        Operation::RotateSecret => business_lines::execute_rotate(state, actor, target, body).await,
        Operation::AccountAdd => merchant_accounts::execute_add(state, actor, body).await,
        Operation::AccountStatus => {
            merchant_accounts::execute_set_status(state, actor, target, body).await
        }
        Operation::Resolve => reconciliation::execute_resolve(state, actor, target, body).await,
        Operation::PayoutRetry => payouts::execute_retry(state, actor, target).await,
    }?;
    Ok(v)
}
