//! `GET /v1/pay-orders/{id}/notifications` and
//! `POST /v1/pay-orders/{id}/notifications/{event_id}/resend`.

use super::pay_orders::owned;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::resource::{NotificationList, NotificationResource};
use crate::state::AppState;
use crate::time::now_ms;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use paydesk_store::Transition;

/// The notifications of a pay order with every delivery try.
#[utoipa::path(get, path = "/v1/pay-orders/{id}/notifications", tag = "notifications",
    params(("id" = String, Path, description = "paydesk pay order id")),
    responses((status = 200, body = NotificationList), (status = 404, description = "NOT_FOUND", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<NotificationList>> {
    owned(&state, &caller, &id).await?;
    let events = state.store.events_for_pay_order(&id).await?;
    let mut data = Vec::with_capacity(events.len());
    for e in &events {
        let attempts = state.store.attempts_for_event(&e.id).await?;
        data.push(NotificationResource::new(e, &attempts));
    }
    Ok(Json(NotificationList { data }))
}

/// Queue a failed (or delivered) notification for delivery again.
#[utoipa::path(post, path = "/v1/pay-orders/{id}/notifications/{event_id}/resend", tag = "notifications",
    params(("id" = String, Path, description = "paydesk pay order id"), ("event_id" = String, Path, description = "event id")),
    responses(
        (status = 200, description = "Queued", body = NotificationResource),
        (status = 404, description = "NOT_FOUND", body = ErrorBody),
        (status = 409, description = "INVALID_STATE: it is still pending", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn resend(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, event_id)): Path<(String, String)>,
) -> ApiResult<Json<NotificationResource>> {
    owned(&state, &caller, &id).await?;
    let belongs = state
        .store
        .event(&event_id)
        .await?
        .is_some_and(|e| e.pay_order_id.as_deref() == Some(id.as_str()));
    if !belongs {
        return Err(ApiError::not_found("notification"));
    }
    match state.store.requeue_event(&event_id, now_ms()).await? {
        Transition::Applied(e) => {
            state.outbox_wake.notify_one();
            let attempts = state.store.attempts_for_event(&e.id).await?;
            Ok(Json(NotificationResource::new(&e, &attempts)))
        }
        Transition::Refused(Some(_)) => Err(ApiError::new(
            ErrorCode::InvalidState,
            "this notification is still pending delivery",
        )),
        Transition::Refused(None) => Err(ApiError::not_found("notification")),
    }
}
