//! `/admin/v1/reconciliation/...`: runs per bill day and account with their tied-out
//! totals, the differences queue, an operator's resolution with a reason (admin only,
//! written with its audit entry in one transaction), a CSV export of a run's differences,
//! and running a day on demand (admin only). Viewers read; every write is refused to them
//! by the server (403 `FORBIDDEN`).

use super::approvals::{self, Actor, Operation};
use super::read_body;
use super::session::Signed;
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::reconcile::{self, export, ReconcileError};
use crate::state::AppState;
use crate::time::now_ms;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paydesk_store::reconciliation::MAX_PAGE;
use paydesk_store::{
    AuditEntry, Difference, DifferenceFilter, DifferenceState, ReconciliationRun,
    ResolveDifference, RunFilter, Transition,
};
use serde::Deserialize;
use serde_json::{json, Value};

/// Longest resolution reason accepted.
const MAX_REASON_CHARS: usize = 1_000;

fn run_view(r: &ReconciliationRun) -> Value {
    let t = &r.totals;
    json!({
        "id": r.id, "bill_date": r.bill_date, "merchant_account": r.merchant_account,
        "provider": r.provider.as_str(), "status": r.status.as_str(),
        "currency": r.currency.code(),
        "totals": {
            "provider": {"count": t.provider_count, "net_minor": t.provider_net_minor},
            "paydesk": {"count": t.paydesk_count, "net_minor": t.paydesk_net_minor},
            "matched": {"count": t.matched_count, "net_minor": t.matched_net_minor},
            "missing_in_paydesk": {"count": t.missing_in_paydesk_count, "net_minor": t.missing_in_paydesk_net_minor},
            "missing_at_provider": {"count": t.missing_at_provider_count, "net_minor": t.missing_at_provider_net_minor},
            "differing": {"count": t.differing_count, "provider_net_minor": t.differing_provider_net_minor,
                "paydesk_net_minor": t.differing_paydesk_net_minor},
            "ties_out": t.ties_out(),
        },
        "error": r.error, "started_at_ms": r.started_at_ms, "finished_at_ms": r.finished_at_ms,
        "version": r.version,
    })
}

fn difference_view(d: &Difference) -> Value {
    json!({
        "id": d.id, "run_id": d.run_id, "bill_date": d.bill_date,
        "merchant_account": d.merchant_account, "kind": d.kind.as_str(),
        "record_kind": d.record_kind.as_str(), "attempt_no": d.attempt_no,
        "refund_no": d.refund_no, "provider_txn_id": d.provider_txn_id,
        "currency": d.currency.code(),
        "provider_amount_minor": d.provider_amount_minor,
        "paydesk_amount_minor": d.paydesk_amount_minor,
        "provider_fee_minor": d.provider_fee_minor, "paydesk_fee_minor": d.paydesk_fee_minor,
        "provider_status": d.provider_status, "paydesk_status": d.paydesk_status,
        "source": d.source, "state": d.state.as_str(), "resolution": d.resolution,
        "resolved_by": d.resolved_by, "resolved_at_ms": d.resolved_at_ms,
        "created_at_ms": d.created_at_ms, "version": d.version,
    })
}

fn date_param(name: &str, v: Option<String>) -> ApiResult<Option<String>> {
    match v {
        None => Ok(None),
        Some(s) => reconcile::parse_date(&s)
            .map(|d| Some(reconcile::format_date(d)))
            .ok_or_else(|| ApiError::invalid(format!("{name} must be a date YYYY-MM-DD"))),
    }
}

fn limit(v: Option<i64>) -> ApiResult<i64> {
    match v {
        None => Ok(100),
        Some(n) if (1..=MAX_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid(format!("limit must be 1 to {MAX_PAGE}"))),
    }
}

/// `GET /admin/v1/reconciliation/runs` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    account: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<i64>,
}

/// `GET /admin/v1/reconciliation/runs`: runs, newest bill day first.
pub async fn runs(
    _: Signed,
    State(state): State<AppState>,
    Query(q): Query<RunsQuery>,
) -> ApiResult<Json<Value>> {
    let filter = RunFilter {
        merchant_account: q.account,
        from_date: date_param("from", q.from)?,
        to_date: date_param("to", q.to)?,
        limit: limit(q.limit)?,
    };
    let runs = state.store.reconciliation().list_runs(&filter).await?;
    Ok(Json(
        json!({ "runs": runs.iter().map(run_view).collect::<Vec<_>>() }),
    ))
}

/// `GET /admin/v1/reconciliation/differences` query.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DifferencesQuery {
    state: Option<String>,
    date: Option<String>,
    account: Option<String>,
    run_id: Option<String>,
    after: Option<String>,
    limit: Option<i64>,
}

/// `GET /admin/v1/reconciliation/differences`: the queue, by id (keyset: pass the last
/// id as `after`); `state=OPEN` for what needs an operator.
pub async fn differences(
    _: Signed,
    State(state): State<AppState>,
    Query(q): Query<DifferencesQuery>,
) -> ApiResult<Json<Value>> {
    let wanted = q
        .state
        .map(|s| {
            DifferenceState::parse(&s).ok_or_else(|| {
                ApiError::invalid("state must be OPEN, SETTLED_AUTOMATICALLY or RESOLVED")
            })
        })
        .transpose()?;
    let filter = DifferenceFilter {
        run_id: q.run_id,
        state: wanted,
        bill_date: date_param("date", q.date)?,
        merchant_account: q.account,
        after_id: q.after,
        limit: limit(q.limit)?,
    };
    let list = state
        .store
        .reconciliation()
        .list_differences(&filter)
        .await?;
    let next = (list.len() as i64 == filter.limit)
        .then(|| list.last().map(|d| d.id.clone()))
        .flatten();
    Ok(Json(json!({
        "differences": list.iter().map(difference_view).collect::<Vec<_>>(),
        "next_after": next,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveBody {
    reason: String,
    /// The version the operator saw (from the listing).
    version: i64,
}

/// `POST /admin/v1/reconciliation/differences/{id}/resolve` (admin): `{reason, version}`.
/// 409 `INVALID_STATE` when it is no longer open or changed since it was read. Held for
/// a second admin (202) when `reconciliation.resolve` needs approval.
pub async fn resolve(
    signed: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Body,
) -> ApiResult<Response> {
    signed.require_admin()?;
    let bytes = read_body(&state, body).await?;
    parse_resolve(&bytes)?;
    if let Some(held) = approvals::hold(&state, &signed, Operation::Resolve, &id, &bytes).await? {
        return Ok(held);
    }
    Ok(
        execute_resolve(&state, &Actor::signed(&signed), &id, &bytes)
            .await?
            .into_response(),
    )
}

fn parse_resolve(bytes: &[u8]) -> ApiResult<ResolveBody> {
    let req: ResolveBody = crate::api::parse_json(bytes)?;
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
        return Err(ApiError::invalid(format!(
            "reason must be 1 to {MAX_REASON_CHARS} characters"
        )));
    }
    Ok(req)
}

/// Resolves difference `id` with the reason in `bytes` as `actor` (directly, or on
/// approval).
pub(crate) async fn execute_resolve(
    state: &AppState,
    actor: &Actor,
    id: &str,
    bytes: &[u8],
) -> ApiResult<Json<Value>> {
    let req = parse_resolve(bytes)?;
    let reason = req.reason.trim();
    let id = id.to_owned();
    let now = now_ms();
    let actor = actor.to_string();
    let recon = state.store.reconciliation();
    let Some(current) = recon.difference(&id).await? else {
        return Err(ApiError::not_found("reconciliation difference"));
    };
    let audit = AuditEntry {
        id: paydesk_core::ids::new_id("aud"),
        at_ms: now,
        actor: actor.clone(),
        action: "reconciliation.resolve".into(),
        target: id.clone(),
        details_json: json!({
            "reason": reason, "kind": current.kind.as_str(), "bill_date": current.bill_date,
            "merchant_account": current.merchant_account, "attempt_no": current.attempt_no,
            "refund_no": current.refund_no,
        })
        .to_string(),
    };
    let r = ResolveDifference {
        id: id.clone(),
        expected_version: req.version,
        reason: reason.to_owned(),
        by: actor,
        now_ms: now,
        audit,
    };
    match recon.resolve_difference(&r).await? {
        Transition::Applied(d) => {
            tracing::info!(difference = %id, by = %r.by, "reconciliation difference resolved");
            Ok(Json(difference_view(&d)))
        }
        Transition::Refused(now) => Err(ApiError::new(
            ErrorCode::InvalidState,
            match now {
                Some(d) if d.state != DifferenceState::Open => {
                    format!("the difference is {} already", d.state.as_str())
                }
                Some(d) => format!(
                    "the difference changed (version {} now, {} given): read it again",
                    d.version, req.version
                ),
                None => "the difference was replaced by a newer run: read it again".into(),
            },
        )),
    }
}

/// `GET /admin/v1/reconciliation/runs/{id}/differences.csv`: every difference of the run,
/// one CSV row each (`text/csv`).
pub async fn export_csv(
    _: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let recon = state.store.reconciliation();
    let Some(run) = recon.run(&id).await? else {
        return Err(ApiError::not_found("reconciliation run"));
    };
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = recon
            .list_differences(&DifferenceFilter {
                run_id: Some(id.clone()),
                after_id: after,
                limit: MAX_PAGE,
                ..Default::default()
            })
            .await?;
        let full = page.len() as i64 == MAX_PAGE;
        after = page.last().map(|d| d.id.clone());
        all.extend(page);
        if !full {
            break;
        }
    }
    let name = format!(
        "reconciliation-{}-{}.csv",
        run.merchant_account, run.bill_date
    );
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{}\"", name.replace('"', "")),
            ),
        ],
        export::csv(&run, &all),
    )
        .into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RunBody {
    date: String,
    account: Option<String>,
}

/// `POST /admin/v1/reconciliation/runs` (admin): `{date, account?}` reconciles the day now
/// (every account in use when `account` is absent) and returns the runs.
pub async fn run_now(
    signed: Signed,
    State(state): State<AppState>,
    body: Body,
) -> ApiResult<Json<Value>> {
    signed.require_admin()?;
    let bytes = read_body(&state, body).await?;
    let req: RunBody = crate::api::parse_json(&bytes)?;
    let date = reconcile::parse_date(&req.date)
        .ok_or_else(|| ApiError::invalid("date must be YYYY-MM-DD"))?;
    let accounts = match req.account {
        Some(a) => vec![a],
        None => reconcile::accounts_to_reconcile(&state),
    };
    let mut out = Vec::new();
    for account in accounts {
        match reconcile::reconcile_day(&state, date, &account).await {
            Ok(report) => out.push(json!({
                "run": run_view(&report.run), "differences": report.differences.len(),
                "settled": report.settled,
            })),
            Err(ReconcileError::NoAccount(a)) => {
                return Err(ApiError::new(
                    ErrorCode::NotFound,
                    format!("no merchant account `{a}` in use"),
                ))
            }
            Err(ReconcileError::Busy { .. }) => {
                return Err(ApiError::new(
                    ErrorCode::InvalidState,
                    format!("the {} run of `{account}` is in progress", req.date),
                ))
            }
            Err(ReconcileError::Store(e)) => return Err(e.into()),
            Err(e) => out.push(json!({"merchant_account": account, "error": e.to_string()})),
        }
    }
    tracing::info!(operator = %signed.0.name, date = %req.date, "reconciliation run on demand");
    let audit = AuditEntry {
        id: paydesk_core::ids::new_id("aud"),
        at_ms: now_ms(),
        actor: Actor::signed(&signed).to_string(),
        action: "reconciliation.run".into(),
        target: req.date.clone(),
        details_json: json!({ "runs": out.len() }).to_string(),
    };
    if let Err(e) = state.store.insert_audit_entry(&audit).await {
        tracing::warn!(error = %e, "audit entry for a reconciliation run not written");
    }
    Ok(Json(json!({ "results": out })))
}
