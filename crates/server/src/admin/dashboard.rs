//! `/admin/v1/dashboard` (volume, amount and success rate over time by provider, method
//! and business line; the counts an operator watches) and `/admin/v1/audit` (who changed
//! what, newest first). Both read-only: viewers may see them.

use super::session::Signed;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::time::now_ms;
use axum::extract::{Query, State};
use axum::Json;
use paydesk_store::DashboardQuery;
use serde::Deserialize;
use serde_json::{json, Value};

/// Longest window the dashboard sums (31 days), and most buckets in it.
const MAX_HOURS: i64 = 31 * 24;
const MAX_BUCKETS: i64 = 1_000;

/// `?hours=24&bucket_minutes=60`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    #[serde(default = "default_hours")]
    hours: i64,
    #[serde(default = "default_bucket")]
    bucket_minutes: i64,
}

fn default_hours() -> i64 {
    24
}

fn default_bucket() -> i64 {
    60
}

/// `GET /admin/v1/dashboard`.
pub async fn dashboard(
    _: Signed,
    State(state): State<AppState>,
    Query(w): Query<Window>,
) -> ApiResult<Json<Value>> {
    if !(1..=MAX_HOURS).contains(&w.hours) || w.bucket_minutes < 1 {
        return Err(ApiError::invalid(format!(
            "hours must be 1 to {MAX_HOURS} and bucket_minutes at least 1"
        )));
    }
    if w.hours * 60 / w.bucket_minutes > MAX_BUCKETS {
        return Err(ApiError::invalid(format!(
            "at most {MAX_BUCKETS} buckets: widen bucket_minutes"
        )));
    }
    let bucket_ms = w.bucket_minutes * 60_000;
    // Buckets aligned on their width, so a refresh does not shift them.
    let to_ms = (now_ms() / bucket_ms + 1) * bucket_ms;
    let from_ms = to_ms - w.hours * 3_600_000;
    let d = state
        .store
        .dashboard(&DashboardQuery {
            from_ms,
            to_ms,
            bucket_ms,
        })
        .await?;
    let rows: Vec<Value> = d
        .rows
        .iter()
        .map(|r| {
            json!({
                "bucket_start_ms": r.bucket_start_ms, "business_line_id": r.business_line_id,
                "provider": r.provider.as_str(), "method": r.method,
                "currency": r.currency.code(), "attempts": r.attempts, "paid": r.paid,
                "paid_amount_minor": r.paid_amount_minor,
            })
        })
        .collect();
    let flagged: serde_json::Map<String, Value> = d
        .flagged
        .iter()
        .map(|(f, n)| (f.as_str().to_owned(), json!(n)))
        .collect();
    let lines: serde_json::Map<String, Value> = state
        .store
        .list_business_lines()
        .await?
        .into_iter()
        .map(|l| (l.id, json!(l.name)))
        .collect();
    Ok(Json(json!({
        "from_ms": from_ms, "to_ms": to_ms, "bucket_ms": bucket_ms,
        "rows": rows,
        "business_lines": lines,
        "counts": {
            "waiting_orders": d.waiting_orders,
            "flagged_payments": flagged,
            "notifications_pending": d.outbox.pending,
            "notifications_failed": d.outbox.failed,
        },
    })))
}

/// `?limit=100`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    #[serde(default = "default_limit")]
    limit: i64,
}

fn default_limit() -> i64 {
    100
}

/// `GET /admin/v1/audit`: the newest entries (at most 500).
pub async fn audit(
    _: Signed,
    State(state): State<AppState>,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    if !(1..=500).contains(&q.limit) {
        return Err(ApiError::invalid("limit must be 1 to 500"));
    }
    let entries: Vec<Value> = state
        .store
        .audit_log(q.limit)
        .await?
        .into_iter()
        .map(|e| {
            let details = serde_json::from_str::<Value>(&e.details_json).unwrap_or(Value::Null);
            json!({
                "id": e.id, "at_ms": e.at_ms, "actor": e.actor, "action": e.action,
                "target": e.target, "details": details,
            })
        })
        .collect();
    Ok(Json(json!({ "entries": entries })))
}
