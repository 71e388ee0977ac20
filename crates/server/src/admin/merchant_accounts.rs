//! `/admin/v1/merchant-accounts`: the accounts this instance uses (from the database, the
//! merchant accounts file or the embedded sandbox), never with a secret; and "test
//! connection" (admin only): a harmless signed query at the provider that proves our
//! signature is accepted and its answer verifies. Adding and changing accounts is
//! `paydesk merchant-account ...` (docs/checkout.md).

use super::session::Signed;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::payments::stored_accounts::{self, check_id};
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

/// `GET /admin/v1/merchant-accounts`: every account, no secrets. Stored accounts show
/// their status and key versions; accounts from the file or the embedded sandbox show
/// `source: "config"`.
pub async fn list(_: Signed, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let loaded = state.accounts();
    let mut accounts = stored_accounts::views(&*state.store, &loaded)
        .await
        .map_err(internal)?;
    for id in loaded.ids() {
        if accounts.iter().any(|a| a["id"] == id.as_str()) {
            continue;
        }
        if let Some(a) = loaded.get(&id) {
            accounts.push(json!({
                "id": a.id, "provider": a.provider.as_str(), "status": "ACTIVE",
                "source": "config", "loaded": true,
                "public": {"merchant_id": a.merchant_id, "app_id": a.app_id},
            }));
        }
    }
    accounts.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(Json(json!({ "merchant_accounts": accounts })))
}

/// `POST /admin/v1/merchant-accounts/{id}/test` (admin): tests an account in use.
pub async fn test(
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    signed.require_admin()?;
    check_id(&id).map_err(|e| ApiError::invalid(e.to_string()))?;
    let Some(account) = state.accounts().get(&id) else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            format!("no merchant account `{id}` in use (unknown or disabled)"),
        ));
    };
    let outcome = stored_accounts::test_connection(&account).await;
    let actor = format!("operator:{}", signed.0.name);
    if let Err(e) = stored_accounts::audit_test(&*state.store, &actor, &id, &outcome).await {
        tracing::warn!(error = %e, "audit entry for a connection test not written");
    }
    tracing::info!(account = %id, ok = outcome.ok, operator = %signed.0.name, "merchant account tested");
    Ok(Json(json!({
        "id": id, "provider": account.provider.as_str(), "ok": outcome.ok,
        "detail": outcome.detail, "elapsed_ms": outcome.elapsed_ms,
    })))
}

fn internal(e: stored_accounts::AccountAdminError) -> ApiError {
    match e {
        stored_accounts::AccountAdminError::Store(s) => s.into(),
        other => {
            tracing::error!(error = %other, "merchant accounts listing failed");
            ApiError::new(ErrorCode::InternalError, "internal error")
        }
    }
}
