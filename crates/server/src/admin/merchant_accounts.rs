//! `/admin/v1/merchant-accounts`: the accounts this instance uses (from the database, the
//! merchant accounts file or the embedded sandbox), never with a secret; and "test
//! connection" (admin only): a harmless signed query at the provider that proves our
//! signature is accepted and its answer verifies; adding an account from its key files
//! and disabling or enabling one (admin only; the same code as `paydesk merchant-account
//! ...`, audited with the operator's name). Secrets arrive in the request body and are
//! sealed at once; no answer, page or log ever carries them.

use super::approvals::{self, Actor, Operation};
use super::read_body;
use super::session::Signed;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::payments::stored_accounts::{
    self, check_id, AccountAdminError, PublicConfig, SecretConfig,
};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paydesk_store::MerchantAccountStatus;
use serde::Deserialize;
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
    let used = used_by_rules(&state);
    for a in &mut accounts {
        let rules = a["id"]
            .as_str()
            .and_then(|id| used.get(id))
            .cloned()
            .unwrap_or_default();
        a["used_by_rules"] = json!(rules);
    }
    accounts.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(Json(json!({ "merchant_accounts": accounts })))
}

/// Which active rules route to each merchant account: `{account id: [rule ids]}`.
fn used_by_rules(state: &AppState) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut used: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    if let Some(snapshot) = state.rules.current() {
        for rule in &snapshot.rules.business_rules {
            for route in &rule.then.routes {
                let rules = used.entry(route.merchant_account.to_string()).or_default();
                if !rules.contains(&rule.id) {
                    rules.push(rule.id.clone());
                }
            }
        }
    }
    used
}

/// `POST /admin/v1/merchant-accounts` (admin): `{id, public, secret}` where `public` and
/// `secret` are the provider-tagged configuration (docs/console.md); the keys must build a
/// client. The account is in use at once on this instance (others reload within
/// `payments.accounts_reload_interval_ms`). Held for a second admin (202, the body
/// sealed) when `merchant_account.change` needs approval.
pub async fn add(signed: Signed, State(state): State<AppState>, body: Body) -> ApiResult<Response> {
    signed.require_admin()?;
    let bytes = read_body(&state, body).await?;
    let new = parse_new_account(&bytes)?;
    if let Some(held) =
        approvals::hold(&state, &signed, Operation::AccountAdd, &new.id, &bytes).await?
    {
        return Ok(held);
    }
    Ok(execute_add(&state, &Actor::signed(&signed), &bytes)
        .await?
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    id: String,
    public: PublicConfig,
    secret: SecretConfig,
}

fn parse_new_account(bytes: &[u8]) -> ApiResult<NewAccount> {
    // The error names the field, never echoes a value (a key could be in it).
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::invalid(format!(
            "request body (line {}, column {}): {}",
            e.line(),
            e.column(),
            match e.classify() {
                serde_json::error::Category::Data =>
                    "a field is missing, unknown or of the wrong type",
                _ => "not valid JSON",
            }
        ))
    })
}

/// Adds the account in `bytes` as `actor` (directly, or on approval).
pub(crate) async fn execute_add(
    state: &AppState,
    actor: &Actor,
    bytes: &[u8],
) -> ApiResult<Json<Value>> {
    let new = parse_new_account(bytes)?;
    let account = stored_accounts::create(
        &*state.store,
        &state.master_key,
        &actor.to_string(),
        &new.id,
        &new.public,
        &new.secret,
    )
    .await
    .map_err(admin_error)?;
    stored_accounts::refresh(state).await.map_err(admin_error)?;
    tracing::info!(account = %account.id, actor = %actor, "merchant account added");
    Ok(Json(json!({
        "id": account.id, "provider": account.provider.as_str(), "status": account.status.as_str(),
        "loaded": state.accounts().get(&account.id).is_some(),
    })))
}

/// `POST /admin/v1/merchant-accounts/{id}/status` (admin): `{status: ACTIVE|DISABLED}`.
/// A disabled account takes no new payments; rules routing to it fail validation. Held
/// for a second admin (202) when `merchant_account.change` needs approval.
pub async fn set_status(
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    signed.require_admin()?;
    check_id(&id).map_err(|e| ApiError::invalid(e.to_string()))?;
    let bytes = read_body(&state, body).await?;
    parse_status(&bytes)?;
    if let Some(held) =
        approvals::hold(&state, &signed, Operation::AccountStatus, &id, &bytes).await?
    {
        return Ok(held);
    }
    Ok(
        execute_set_status(&state, &Actor::signed(&signed), &id, &bytes)
            .await?
            .into_response(),
    )
}

fn parse_status(bytes: &[u8]) -> ApiResult<MerchantAccountStatus> {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Status {
        status: String,
    }
    let s: Status = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid(format!("request body: {e}")))?;
    MerchantAccountStatus::parse(&s.status)
        .ok_or_else(|| ApiError::invalid("status must be ACTIVE or DISABLED"))
}

/// Sets account `id`'s status from `bytes` as `actor` (directly, or on approval).
pub(crate) async fn execute_set_status(
    state: &AppState,
    actor: &Actor,
    id: &str,
    bytes: &[u8],
) -> ApiResult<Json<Value>> {
    check_id(id).map_err(|e| ApiError::invalid(e.to_string()))?;
    let status = parse_status(bytes)?;
    let changed = stored_accounts::set_status(&*state.store, &actor.to_string(), id, status)
        .await
        .map_err(admin_error)?;
    stored_accounts::refresh(state).await.map_err(admin_error)?;
    Ok(Json(json!({
        "id": id, "status": status.as_str(), "changed": changed.is_some(),
        "loaded": state.accounts().get(id).is_some(),
    })))
}

fn admin_error(e: AccountAdminError) -> ApiError {
    match e {
        AccountAdminError::Invalid(m) => ApiError::invalid(m),
        AccountAdminError::NotFound(id) => {
            ApiError::new(ErrorCode::NotFound, format!("no merchant account `{id}`"))
        }
        AccountAdminError::Conflict(m) => ApiError::new(ErrorCode::InvalidState, m),
        other => internal(other),
    }
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
    let actor = Actor::signed(&signed).to_string();
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
