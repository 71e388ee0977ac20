//! The operator side: the JSON admin API under `/admin/v1` (checkout rules: validate,
//! simulate, diff, publish, roll back, versions; a decision endpoint with the explain
//! trace) and the console page at `/console`.
//!
//! Operators authenticate with their credential (`Authorization: Bearer`) or a console
//! session cookie ([`session`]). Viewers may read, validate, simulate, diff and ask for
//! decisions; only admins publish and roll back (403 `FORBIDDEN` otherwise).
//! Reconciliation (`reconciliation.rs`): viewers read runs, differences and the CSV;
//! only admins resolve a difference or run a day.
//! Maker-checker (`approvals.rs`): actions listed in `admin.approvals_required` wait for
//! a second admin.
//! Ledger (`ledger.rs`): accounts, checks, statements and entries, read-only for every
//! operator.

pub mod approvals;
pub mod business_lines;
pub mod candidate;
pub mod console;
pub mod dashboard;
pub mod decisions;
pub mod engine;
pub mod ledger;
pub mod lookup;
pub mod merchant_accounts;
pub mod operators;
pub mod order_search;
pub mod payouts;
pub mod reconciliation;
pub mod rules_api;
pub mod session;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use axum::body::{Body, Bytes};
use axum::routing::{get, post};
use axum::Router;
use paydesk_store::Operator;
use serde::Serialize;

/// The `/admin/v1` routes.
pub fn api_router() -> Router<AppState> {
    Router::new()
        .route("/session", post(session::sign_in).delete(session::sign_out))
        .route("/me", get(session::me))
        .route("/rules/active", get(rules_api::active))
        .route("/rules/draft", get(rules_api::draft))
        .route("/rules/versions", get(rules_api::versions))
        .route("/rules/versions/{version}", get(rules_api::version))
        .route(
            "/rules/diff",
            get(rules_api::diff_versions).post(rules_api::diff_candidate),
        )
        .route("/rules/validate", post(rules_api::validate))
        .route("/rules/simulate", post(rules_api::simulate))
        .route("/rules/publish", post(rules_api::publish))
        .route("/rules/rollback", post(rules_api::rollback))
        .route("/decisions", post(decisions::decide))
        .route("/lookup", get(lookup::lookup))
        .route("/pay-orders", get(order_search::search))
        .route("/flagged-attempts", get(lookup::flagged))
        .route(
            "/merchant-accounts",
            get(merchant_accounts::list).post(merchant_accounts::add),
        )
        .route(
            "/merchant-accounts/{id}/status",
            post(merchant_accounts::set_status),
        )
        .route(
            "/merchant-accounts/{id}/test",
            post(merchant_accounts::test),
        )
        .route(
            "/business-lines",
            get(business_lines::list).post(business_lines::add),
        )
        .route(
            "/business-lines/{id}/rotate-secret",
            post(business_lines::rotate),
        )
        .route("/ledger/accounts", get(ledger::accounts))
        .route("/ledger/accounts/{id}", get(ledger::account))
        .route("/ledger/accounts/{id}/statement", get(ledger::statement))
        .route("/ledger/entries/{id}", get(ledger::entry))
        .route("/payouts", get(payouts::list))
        .route("/payouts/{id}/retry", post(payouts::retry))
        .route("/dashboard", get(dashboard::dashboard))
        .route("/audit", get(dashboard::audit))
        .route(
            "/reconciliation/runs",
            get(reconciliation::runs).post(reconciliation::run_now),
        )
        .route(
            "/reconciliation/runs/{id}/differences.csv",
            get(reconciliation::export_csv),
        )
        .route(
            "/reconciliation/differences",
            get(reconciliation::differences),
        )
        .route(
            "/reconciliation/differences/{id}/resolve",
            post(reconciliation::resolve),
        )
        .route("/approvals", get(approvals::list))
        .route("/approvals/{id}/approve", post(approvals::approve))
        .route("/approvals/{id}/reject", post(approvals::reject))
}

/// The console page and its assets.
pub fn console_router() -> Router<AppState> {
    Router::new()
        .route("/console", get(console::page))
        .route("/console/{asset}", get(console::asset))
}

/// An operator as the API shows it (never the credential hash).
#[derive(Debug, Serialize)]
pub struct OperatorView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `admin` or `viewer`.
    pub role: &'static str,
}

impl From<&Operator> for OperatorView {
    fn from(o: &Operator) -> Self {
        OperatorView {
            id: o.id.clone(),
            name: o.name.clone(),
            role: match o.role {
                paydesk_store::OperatorRole::Admin => "admin",
                paydesk_store::OperatorRole::Viewer => "viewer",
            },
        }
    }
}

/// Reads a request body of at most `rules.max_document_bytes` (413 beyond).
pub async fn read_body(state: &AppState, body: Body) -> ApiResult<Bytes> {
    let limit = state.config.rules.max_document_bytes;
    axum::body::to_bytes(body, limit).await.map_err(|_| {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is over {limit} bytes (rules.max_document_bytes)"),
        )
    })
}
