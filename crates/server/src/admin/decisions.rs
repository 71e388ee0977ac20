//! `POST /admin/v1/decisions` `{facts}`: what the checkout would offer for these facts
//! under the active version, with the explain trace. The facts join the decision sample
//! that simulations replay.

use super::read_body;
use super::session::Signed;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::time::now_ms;
use axum::body::Body;
use axum::extract::State;
use axum::Json;
use paydesk_rules::Facts;
use paydesk_store::DecisionSample;
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DecideRequest {
    facts: Facts,
    /// Whether to add the facts to the decision sample (a write: admins only; default
    /// true for admins, false for viewers).
    #[serde(default)]
    record: Option<bool>,
}

/// Evaluates and explains; records the facts in the sample when an admin asks (the
/// sample is what simulations judge a publish by, so viewers may not add to it).
pub async fn decide(
    signed: Signed,
    State(state): State<AppState>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let bytes = read_body(&state, body).await?;
    let req: DecideRequest = crate::api::parse_json(&bytes)?;
    let snapshot = state.rules.current().ok_or_else(|| {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "no checkout rules are loaded yet",
        )
    })?;
    let now = now_ms();
    let explained = snapshot.compiled.explain(&req.facts, now);
    let is_admin = signed.require_admin().is_ok();
    let record_it = match req.record {
        Some(true) => {
            signed.require_admin()?;
            true
        }
        Some(false) => false,
        None => is_admin,
    };
    if record_it {
        record(&state, &req.facts, now).await;
    }
    Ok(Json(json!({
        "version": snapshot.version,
        "decision": explained.decision,
        "trace": explained.trace,
    })))
}

/// Adds facts to the bounded decision sample (a failure is logged, never fatal to the
/// decision).
pub async fn record(state: &AppState, facts: &Facts, now: i64) {
    let Ok(facts_json) = serde_json::to_string(facts) else {
        return;
    };
    let sample = DecisionSample {
        slot: state.rules.next_slot(state.config.rules.sample_slots),
        facts_json,
        created_at_ms: now,
    };
    if let Err(e) = state.store.record_decision_sample(&sample).await {
        tracing::warn!(error = %e, "could not record the decision sample");
    }
}
