//! Reading a candidate rule set from an admin request body: `{"rules": {...}}` (the
//! rule set as JSON) or `{"rules_toml": "..."}`, plus the endpoint's own fields.
//! Unknown fields are refused; the rule set itself is parsed strictly.

use super::engine::limits;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use paydesk_rules::{CompileError, Finding, FindingCode, LoadError, RuleSet, Severity};
use serde_json::{json, Map, Value};

/// A parsed request body: the candidate and the remaining fields.
pub struct Body {
    /// The candidate rule set.
    pub rules: RuleSet,
    /// The other fields the endpoint allowed.
    pub fields: Map<String, Value>,
}

/// Parses `bytes` as an object holding a candidate and only the `extra` fields.
pub fn parse(state: &AppState, bytes: &[u8], extra: &[&str]) -> ApiResult<Body> {
    let mut fields = object(bytes, extra, &["rules", "rules_toml"])?;
    let rules = match (fields.remove("rules"), fields.remove("rules_toml")) {
        (Some(v), None) => serde_json::from_value::<RuleSet>(v)
            .map_err(|e| ApiError::invalid(format!("invalid rule set: {e}")))?,
        (None, Some(Value::String(text))) => RuleSet::from_toml(&text, &limits(&state.config))
            .map_err(|e| match e {
                LoadError::TooLarge { .. } => {
                    ApiError::new(ErrorCode::PayloadTooLarge, e.to_string())
                }
                other => ApiError::invalid(other.to_string()),
            })?,
        (None, Some(_)) => return Err(ApiError::invalid("`rules_toml` must be a string")),
        _ => {
            return Err(ApiError::invalid(
                "give the rule set as exactly one of `rules` (JSON) or `rules_toml` (text)",
            ))
        }
    };
    Ok(Body { rules, fields })
}

/// Parses `bytes` as a JSON object whose keys are all in `allowed` or `also`.
pub fn object(bytes: &[u8], allowed: &[&str], also: &[&str]) -> ApiResult<Map<String, Value>> {
    let value: Value = crate::api::parse_json(bytes)?;
    let Value::Object(map) = value else {
        return Err(ApiError::invalid("the body must be a JSON object"));
    };
    if let Some(k) = map
        .keys()
        .find(|k| !allowed.contains(&k.as_str()) && !also.contains(&k.as_str()))
    {
        return Err(ApiError::invalid(format!("unknown field `{k}`")));
    }
    Ok(map)
}

/// An optional integer field.
pub fn int_field(fields: &Map<String, Value>, name: &str) -> ApiResult<Option<i64>> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .map(Some)
            .ok_or_else(|| ApiError::invalid(format!("`{name}` must be an integer"))),
    }
}

/// An optional string field.
pub fn str_field<'a>(fields: &'a Map<String, Value>, name: &str) -> ApiResult<Option<&'a str>> {
    match fields.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::invalid(format!("`{name}` must be a string"))),
    }
}

/// Findings about the merchant accounts routes name: an account this instance does not
/// use (`unknown_merchant_account`) or one that is stored but disabled
/// (`disabled_merchant_account`) is an error in an enabled rule (a publish is refused)
/// and a warning in a disabled one. The known accounts are `state.accounts()`.
pub async fn account_findings(state: &AppState, rules: &RuleSet) -> ApiResult<Vec<Finding>> {
    let accounts = state.accounts();
    let mut findings = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for rule in &rules.business_rules {
        for route in &rule.then.routes {
            let id = route.merchant_account.as_str();
            if accounts.get(id).is_some() || !seen.insert((rule.id.as_str(), id)) {
                continue;
            }
            let stored = if id.is_empty() || id.len() > 64 {
                None
            } else {
                state.store.merchant_account(id).await?
            };
            let (code, message) = match stored {
                Some(a) if a.status == paydesk_store::MerchantAccountStatus::Disabled => (
                    FindingCode::DisabledMerchantAccount,
                    format!(
                        "routes {} to merchant account `{id}`, which is disabled \
                         (`paydesk merchant-account enable {id}`)",
                        route.method
                    ),
                ),
                _ => (
                    FindingCode::UnknownMerchantAccount,
                    format!(
                        "routes {} to merchant account `{id}`, which does not exist here \
                         (known: {})",
                        route.method,
                        accounts.ids().join(", ")
                    ),
                ),
            };
            findings.push(Finding {
                severity: if rule.enabled {
                    Severity::Error
                } else {
                    Severity::Warning
                },
                code,
                rule_id: Some(rule.id.clone()),
                rule_name: Some(rule.name.clone()),
                message,
            });
        }
    }
    Ok(findings)
}

/// How many findings are errors and warnings.
pub fn counts(findings: &[Finding]) -> (usize, usize) {
    let errors = findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    (errors, findings.len() - errors)
}

/// 400 `RULES_INVALID` with the findings.
pub fn rules_invalid(findings: Vec<Finding>) -> Response {
    let (errors, warnings) = counts(&findings);
    let first = findings
        .iter()
        .find(|f| f.severity == Severity::Error)
        .map(|f| f.to_string())
        .unwrap_or_default();
    let code = ErrorCode::RulesInvalid;
    let mut resp = (
        StatusCode::BAD_REQUEST,
        Json(json!({
            "code": code,
            "message": format!("the rule set has {errors} error(s) and {warnings} warning(s); first: {first}"),
            "findings": findings,
        })),
    )
        .into_response();
    resp.extensions_mut().insert(code);
    resp
}

/// A compile failure as 400 `RULES_INVALID`.
pub fn compile_failed(e: CompileError) -> Response {
    match e {
        CompileError::Invalid(findings) => rules_invalid(findings),
        CompileError::Rule { .. } => {
            ApiError::new(ErrorCode::RulesInvalid, e.to_string()).into_response()
        }
    }
}
