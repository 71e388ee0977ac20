//! `/admin/v1/business-lines`: list (never a secret), add, and rotate a secret with an
//! overlap (admin only; the new secret is in the answer exactly once).

use super::approvals::{self, Actor, Operation};
use super::read_body;
use super::session::Signed;
use crate::business_lines::{self, LineError, MAX_OVERLAP_MS};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::time::now_ms;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paydesk_store::BusinessLine;
use serde::Deserialize;
use serde_json::{json, Value};

fn view(l: &BusinessLine, previous_valid_until_ms: Option<i64>) -> Value {
    json!({
        "id": l.id, "app_id": l.app_id, "name": l.name, "status": l.status.as_str(),
        "notify_url": l.notify_url, "allowed_url_prefixes": l.allowed_url_prefixes,
        "created_at_ms": l.created_at_ms,
        "previous_secret_valid_until_ms": previous_valid_until_ms,
    })
}

/// `GET /admin/v1/business-lines`.
pub async fn list(_: Signed, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let now = now_ms();
    let mut out = Vec::new();
    for l in state.store.list_business_lines().await? {
        let previous = state
            .store
            .previous_business_line_secret(&l.id, now)
            .await?
            .map(|p| p.valid_until_ms);
        out.push(view(&l, previous));
    }
    Ok(Json(json!({ "business_lines": out })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewLine {
    name: String,
    notify_url: String,
    #[serde(default)]
    allowed_url_prefixes: Vec<String>,
}

/// `POST /admin/v1/business-lines` (admin): `{name, notify_url, allowed_url_prefixes}`;
/// answers with the app id and the secret, shown only this once.
pub async fn add(
    signed: Signed,
    State(state): State<AppState>,
    body: Body,
) -> ApiResult<Json<Value>> {
    signed.require_admin()?;
    let bytes = read_body(&state, body).await?;
    let new: NewLine = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::invalid(format!("request body: {e}")))?;
    let created = business_lines::create(
        &*state.store,
        &state.master_key,
        &new.name,
        &new.notify_url,
        &new.allowed_url_prefixes,
    )
    .await
    .map_err(line_error)?;
    tracing::info!(line = %created.line.name, operator = %signed.0.name, "business line added");
    Ok(Json(json!({
        "business_line": view(&created.line, None),
        "secret": created.secret,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Rotation {
    overlap_hours: i64,
}

/// `POST /admin/v1/business-lines/{id}/rotate-secret` (admin): `{overlap_hours}`.
/// Held for a second admin (202) when `business_line.rotate_secret` needs approval.
pub async fn rotate(
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    signed.require_admin()?;
    let bytes = read_body(&state, body).await?;
    parse_rotation(&bytes)?;
    if let Some(held) =
        approvals::hold(&state, &signed, Operation::RotateSecret, &id, &bytes).await?
    {
        return Ok(held);
    }
    Ok(execute_rotate(&state, &Actor::signed(&signed), &id, &bytes)
        .await?
        .into_response())
}

fn parse_rotation(bytes: &[u8]) -> ApiResult<Rotation> {
    let r: Rotation = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid(format!("request body: {e}")))?;
    if !(0..=MAX_OVERLAP_MS / 3_600_000).contains(&r.overlap_hours) {
        return Err(ApiError::invalid(format!(
            "overlap_hours must be 0 to {}",
            MAX_OVERLAP_MS / 3_600_000
        )));
    }
    Ok(r)
}

/// Rotates line `id`'s secret as `actor` (directly, or on approval); the answer carries
/// the new secret, to whoever made the call that ran it.
pub(crate) async fn execute_rotate(
    state: &AppState,
    actor: &Actor,
    id: &str,
    bytes: &[u8],
) -> ApiResult<Json<Value>> {
    let r = parse_rotation(bytes)?;
    let rotated = business_lines::rotate_secret(
        &*state.store,
        &state.master_key,
        id,
        r.overlap_hours * 3_600_000,
        &actor.to_string(),
    )
    .await
    .map_err(line_error)?;
    state.forget_lines();
    tracing::info!(line = %rotated.line.name, actor = %actor, "business line secret rotated");
    Ok(Json(json!({
        "business_line": view(&rotated.line, Some(rotated.previous_valid_until_ms)),
        "secret": rotated.secret,
    })))
}

fn line_error(e: LineError) -> ApiError {
    match e {
        LineError::Invalid(m) => ApiError::invalid(m),
        LineError::NotFound(what) => {
            ApiError::new(ErrorCode::NotFound, format!("no business line `{what}`"))
        }
        LineError::Conflict => {
            ApiError::new(ErrorCode::InvalidState, LineError::Conflict.to_string())
        }
        LineError::Store(s) => s.into(),
    }
}
