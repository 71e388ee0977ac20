//! `/admin/v1/rules/...`: the active version and drafts, versions, validate, simulate,
//! diff, publish and roll back. Publish and rollback are conditional on the active
//! version the operator saw (`expected_active`; default: the one active now), so two
//! operators never overwrite each other silently.

use super::approvals::{self, Actor, Operation};
use super::candidate::{self, compile_failed, counts, int_field, rules_invalid, str_field};
use super::engine::{self, document, limits, stored_json, Snapshot};
use super::read_body;
use super::session::Signed;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::time::{now_ms, rfc3339};
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use paydesk_rules::{
    compile_unchecked, diff, simulate as run_simulation, validate as check, Facts, RuleSet,
};
use paydesk_store::{NewRuleVersion, Transition};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// Most changed decisions listed in a simulation response (all are counted).
const MAX_LISTED_CHANGES: usize = 200;
/// Longest publish comment.
const MAX_COMMENT: usize = 1000;

fn current(state: &AppState) -> ApiResult<Arc<Snapshot>> {
    state.rules.current().ok_or_else(|| {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "no checkout rules are loaded yet",
        )
    })
}

fn version_view(rules: &RuleSet, version: i64) -> Value {
    let meta = &rules.version;
    let at = meta.published_at_ms.unwrap_or_default();
    json!({
        "version": version,
        "author": meta.author,
        "comment": meta.comment,
        "created_at_ms": at,
        "created_at": rfc3339(at),
        "rules": rules,
    })
}

/// `GET /admin/v1/rules/active`: the version this instance evaluates with.
pub async fn active(_: Signed, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let s = current(&state)?;
    Ok(Json(version_view(&s.rules, s.version)))
}

/// `GET /admin/v1/rules/draft`: a starting point for editing: the active rule set
/// without its version metadata, and the version it is based on (send it back as
/// `expected_active` when publishing).
pub async fn draft(_: Signed, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let s = current(&state)?;
    let mut rules = s.rules.clone();
    rules.version = Default::default();
    Ok(Json(json!({"base_version": s.version, "rules": rules})))
}

/// Query of the versions list.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    limit: Option<i64>,
}

/// `GET /admin/v1/rules/versions`: newest first.
pub async fn versions(
    _: Signed,
    State(state): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let active = state.store.active_rule_version().await?.version;
    let list: Vec<Value> = state
        .store
        .list_rule_versions(limit)
        .await?
        .into_iter()
        .map(|v| {
            json!({"version": v.version, "author": v.author, "comment": v.comment,
                   "created_at_ms": v.created_at_ms, "created_at": rfc3339(v.created_at_ms),
                   "active": v.version == active})
        })
        .collect();
    Ok(Json(json!({"active": active, "versions": list})))
}

async fn stored(state: &AppState, version: i64) -> ApiResult<RuleSet> {
    let v = state
        .store
        .rule_version(version)
        .await?
        .ok_or_else(|| ApiError::not_found(&format!("rule set version {version}")))?;
    document(&v).map_err(|e| {
        tracing::error!(error = %e, "stored rule set unreadable");
        ApiError::new(ErrorCode::InternalError, "internal error")
    })
}

/// `GET /admin/v1/rules/versions/{version}`.
pub async fn version(
    _: Signed,
    State(state): State<AppState>,
    Path(version): Path<i64>,
) -> ApiResult<Json<Value>> {
    let rules = stored(&state, version).await?;
    Ok(Json(version_view(&rules, version)))
}

/// Query of the version diff.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiffQuery {
    from: i64,
    to: Option<i64>,
}

/// `GET /admin/v1/rules/diff?from=N[&to=M]`: two stored versions (`to`: the active one).
pub async fn diff_versions(
    _: Signed,
    State(state): State<AppState>,
    Query(q): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    let to = match q.to {
        Some(t) => t,
        None => state.store.active_rule_version().await?.version,
    };
    let old = stored(&state, q.from).await?;
    let new = stored(&state, to).await?;
    Ok(Json(
        json!({"from": q.from, "to": to, "diff": diff(&old, &new)}),
    ))
}

/// `POST /admin/v1/rules/diff` `{rules | rules_toml, against?}`: a candidate against a
/// stored version (default: the active one).
pub async fn diff_candidate(
    _: Signed,
    State(state): State<AppState>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let bytes = read_body(&state, body).await?;
    let c = candidate::parse(&state, &bytes, &["against"])?;
    let (against, old) = match int_field(&c.fields, "against")? {
        Some(n) => (n, stored(&state, n).await?),
        None => {
            let s = current(&state)?;
            (s.version, s.rules.clone())
        }
    };
    Ok(Json(json!({"from": against, "diff": diff(&old, &c.rules)})))
}

/// `POST /admin/v1/rules/validate` `{rules | rules_toml}`: the publish-time findings.
pub async fn validate(
    _: Signed,
    State(state): State<AppState>,
    body: Body,
) -> ApiResult<Json<Value>> {
    let bytes = read_body(&state, body).await?;
    let c = candidate::parse(&state, &bytes, &[])?;
    let mut findings = check(&c.rules, &limits(&state.config));
    findings.extend(candidate::account_findings(&state, &c.rules).await?);
    let (errors, warnings) = counts(&findings);
    Ok(Json(json!({
        "valid": errors == 0, "errors": errors, "warnings": warnings, "findings": findings,
    })))
}

/// `POST /admin/v1/rules/simulate` `{rules | rules_toml, limit?}`: the candidate against
/// the active version over the recorded decision sample (newest `limit`).
pub async fn simulate(_: Signed, State(state): State<AppState>, body: Body) -> ApiResult<Response> {
    let bytes = read_body(&state, body).await?;
    let c = candidate::parse(&state, &bytes, &["limit"])?;
    let slots = state.config.rules.sample_slots;
    let limit = int_field(&c.fields, "limit")?
        .unwrap_or(slots)
        .clamp(1, slots);
    let candidate = match compile_unchecked(&c.rules, &limits(&state.config)) {
        Ok(compiled) => compiled,
        Err(e) => return Ok(compile_failed(e)),
    };
    let active = current(&state)?;
    let samples = state.store.decision_samples(limit).await?;
    let facts: Vec<Facts> = samples
        .iter()
        .filter_map(|s| serde_json::from_str(&s.facts_json).ok())
        .collect();
    let skipped = samples.len() - facts.len();
    let report = run_simulation(&active.compiled, &candidate, &facts, now_ms());
    let changes: Vec<Value> = report
        .changes
        .iter()
        .take(MAX_LISTED_CHANGES)
        .map(|ch| {
            json!({"facts": facts.get(ch.index), "differences": ch.differences,
                   "before": ch.before, "after": ch.after})
        })
        .collect();
    Ok(Json(json!({
        "against_version": active.version, "total": report.total, "changed": report.changed,
        "skipped": skipped, "changes": changes,
    }))
    .into_response())
}

/// `POST /admin/v1/rules/publish` `{rules | rules_toml, comment, expected_active?}`
/// (admin): validates (errors: 400 `RULES_INVALID` with the findings, nothing stored),
/// then stores the new version and activates it if `expected_active` is still active
/// (else 409 `RULES_VERSION_CONFLICT`).
pub async fn publish(
    signed: Signed,
    State(state): State<AppState>,
    body: Body,
) -> ApiResult<Response> {
    signed.require_admin()?;
    let bytes = read_body(&state, body).await?;
    let p = match prepare_publish(&state, &bytes).await? {
        Ok(p) => p,
        Err(refusal) => return Ok(refusal),
    };
    // Pin the version the maker reviewed against: a held publish approved later must not
    // replace a version published meanwhile (it gets 409 instead).
    let bytes = if p.expected_given {
        bytes.to_vec()
    } else {
        let mut fields = candidate::object(
            &bytes,
            &["comment", "expected_active"],
            &["rules", "rules_toml"],
        )?;
        fields.insert("expected_active".into(), json!(p.expected));
        Value::Object(fields).to_string().into_bytes()
    };
    if let Some(held) =
        approvals::hold(&state, &signed, Operation::RulesPublish, "rules", &bytes).await?
    {
        return Ok(held);
    }
    Ok(
        match execute_publish(&state, &Actor::signed(&signed), &bytes).await? {
            Ok(body) => (StatusCode::CREATED, body).into_response(),
            Err(refusal) => refusal,
        },
    )
}

/// A publish request that passed validation.
struct PreparedPublish {
    rules: paydesk_rules::RuleSet,
    comment: String,
    expected: i64,
    /// Whether the request named `expected_active` (else: the active version now).
    expected_given: bool,
    findings: Vec<paydesk_rules::Finding>,
}

/// Parses and validates a publish body. `Ok(Err(answer))`: refused with findings (400
/// `RULES_INVALID`) or a compile failure, nothing to store.
async fn prepare_publish(
    state: &AppState,
    bytes: &[u8],
) -> ApiResult<Result<PreparedPublish, Response>> {
    let c = candidate::parse(state, bytes, &["comment", "expected_active"])?;
    let comment = str_field(&c.fields, "comment")?
        .unwrap_or("")
        .trim()
        .to_owned();
    if comment.is_empty() || comment.chars().count() > MAX_COMMENT {
        return Err(ApiError::invalid(format!(
            "a publish needs a `comment` of 1 to {MAX_COMMENT} characters"
        )));
    }
    let limits = limits(&state.config);
    let mut findings = check(&c.rules, &limits);
    findings.extend(candidate::account_findings(state, &c.rules).await?);
    if counts(&findings).0 > 0 {
        return Ok(Err(rules_invalid(findings)));
    }
    if let Err(e) = compile_unchecked(&c.rules, &limits) {
        return Ok(Err(compile_failed(e)));
    }
    let given = int_field(&c.fields, "expected_active")?;
    let expected = match given {
        Some(v) => v,
        None => state.store.active_rule_version().await?.version,
    };
    Ok(Ok(PreparedPublish {
        rules: c.rules,
        comment,
        expected,
        expected_given: given.is_some(),
        findings,
    }))
}

/// Validates again and publishes the rule set in `bytes` as `actor` (directly, or on
/// approval; the version's author names both then). `Ok(Err(answer))`: it does not
/// validate (any more).
pub(crate) async fn execute_publish(
    state: &AppState,
    actor: &Actor,
    bytes: &[u8],
) -> ApiResult<Result<Json<Value>, Response>> {
    let p = match prepare_publish(state, bytes).await? {
        Ok(p) => p,
        Err(refusal) => return Ok(Err(refusal)),
    };
    let new = NewRuleVersion {
        document_json: stored_json(&p.rules),
        author: actor.author(),
        comment: p.comment,
        created_at_ms: now_ms(),
    };
    match state.store.publish_rule_version(&new, p.expected).await? {
        Transition::Applied(a) => {
            tracing::info!(version = a.version, actor = %actor, "checkout rules published");
            activated(state, a.version).await;
            Ok(Ok(Json(
                json!({"version": a.version, "active": a.version, "findings": p.findings}),
            )))
        }
        Transition::Refused(now) => Err(conflict(p.expected, now.map(|a| a.version))),
    }
}

fn conflict(expected: i64, now: Option<i64>) -> ApiError {
    ApiError::new(
        ErrorCode::RulesVersionConflict,
        format!(
            "the active version is {} now, not {expected}: reload, review and try again",
            now.unwrap_or_default()
        ),
    )
}

async fn activated(state: &AppState, version: i64) {
    if let Err(e) = engine::activate_now(state, version).await {
        // The poller retries; the store already says which version is active.
        tracing::error!(error = %e, version, "could not load the new version here yet");
    }
}

/// `POST /admin/v1/rules/rollback` `{version, expected_active?}` (admin): makes an
/// earlier version active again, if `expected_active` is still active.
pub async fn rollback(
    signed: Signed,
    State(state): State<AppState>,
    body: Body,
) -> ApiResult<Json<Value>> {
    signed.require_admin()?;
    let bytes = read_body(&state, body).await?;
    let fields = candidate::object(&bytes, &["version", "expected_active"], &[])?;
    let version =
        int_field(&fields, "version")?.ok_or_else(|| ApiError::invalid("`version` is required"))?;
    stored(&state, version).await?;
    let expected = match int_field(&fields, "expected_active")? {
        Some(v) => v,
        None => state.store.active_rule_version().await?.version,
    };
    if expected == version {
        return Err(ApiError::new(
            ErrorCode::InvalidState,
            format!("version {version} is already active"),
        ));
    }
    match state
        .store
        .activate_rule_version(version, expected, &signed.0.name, now_ms())
        .await?
    {
        Transition::Applied(a) => {
            tracing::info!(version, operator = %signed.0.name, "checkout rules rolled back");
            activated(&state, a.version).await;
            Ok(Json(json!({"active": a.version})))
        }
        Transition::Refused(now) => Err(conflict(expected, now.map(|a| a.version))),
    }
}
