//! paydesk's HTTP service: the signed business API (`/v1`), the operator admin API
//! (`/admin/v1`) and console (`/console`), operations endpoints
//! (`/healthz`, `/readyz`, `/metrics`, `/openapi.json`) and the background workers
//! (outbox dispatcher, expiry, nonce purge, checkout rules poller, refunds, payouts).
//!
//! Layout: `api/` holds handlers by resource, `auth` the request signature, `workers/`
//! the background loops, `resource` the public JSON shapes, `events` how outbox bodies
//! are built. Handlers talk to storage only through `paydesk_store::Store`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod admin;
pub mod api;
pub mod auth;
pub mod business_lines;
pub mod checkout;
pub mod config;
pub mod error;
pub mod events;
pub mod openapi;
pub mod ops;
pub mod payments;
pub mod payouts;
pub mod reconcile;
pub mod resource;
pub mod secrets;
pub mod state;
pub mod time;
pub mod urls;
pub mod workers;

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;
use axum::http::Request;
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use std::future::Future;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::OpenApi;

/// The full router.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route(
            "/pay-orders",
            post(api::pay_orders::create).get(api::pay_orders::list),
        )
        .route("/pay-orders/{id}", get(api::pay_orders::get))
        .route(
            "/pay-orders/by-business-order-no/{business_order_no}",
            get(api::pay_orders::get_by_business_no),
        )
        .route("/pay-orders/{id}/close", post(api::pay_orders::close))
        .route(
            "/pay-orders/{id}/refunds",
            post(api::refunds::create).get(api::refunds::list),
        )
        .route("/refunds/{id}", get(api::refunds::get))
        .route(
            "/refunds/by-business-refund-no/{business_refund_no}",
            get(api::refunds::get_by_business_no),
        )
        .route(
            "/payouts",
            post(api::payouts::create_payout).get(api::payouts::list),
        )
        .route("/withdrawals", post(api::payouts::create_withdrawal))
        .route("/payouts/{id}", get(api::payouts::get))
        .route("/payouts/{id}/cancel", post(api::payouts::cancel))
        .route("/ledger/balance", get(api::ledger::balance))
        .route("/ledger/statement", get(api::ledger::statement))
        .route("/settlements", post(api::ledger::settle))
        .route("/ledger/credits", post(api::ledger::credit))
        .route(
            "/pay-orders/{id}/notifications",
            get(api::notifications::list),
        )
        .route(
            "/pay-orders/{id}/notifications/{event_id}/resend",
            post(api::notifications::resend),
        )
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_signature,
        ));
    Router::new()
        .nest("/v1", v1)
        .nest("/admin/v1", admin::api_router())
        .merge(admin::console_router())
        .merge(checkout::router())
        .route(
            "/notify/{provider}/{merchant_account}",
            post(payments::callbacks::receive),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics_text))
        .route("/openapi.json", get(openapi_json))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(error::json_errors))
        .layer(middleware::from_fn(ops::track))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request<_>| {
                    tracing::info_span!(
                        "http",
                        method = %req.method(),
                        path = %req.uri().path(),
                        app_id = tracing::field::Empty,
                        pay_order_id = tracing::field::Empty,
                    )
                })
                .on_request(())
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::new(
                ErrorCode::InternalError,
                "internal error",
            ))
        }))
        .with_state(state)
}

async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi::ApiDoc::openapi())
}

async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this endpoint",
    )
}

/// Serves `state` on `listener` with the workers until `shutdown` resolves, then stops
/// accepting, lets requests and deliveries in flight finish, and returns.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Load the active checkout rules (publishing the shipped example on an empty
    // database) before taking traffic; on failure the poller keeps trying.
    if let Err(e) = admin::engine::refresh(&state).await {
        tracing::error!(error = %e, "checkout rules not loaded at start");
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let workers = workers::spawn_all(&state, stop_rx);
    let app = router(state);
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    let _ = stop_tx.send(true);
    for w in workers {
        let _ = w.await;
    }
    result
}
