//! Business request authentication: the `PAYDESK-HMAC-SHA256` signature, the 300 s
//! timestamp window and nonce replay protection shared through the database.
//!
//! Order of checks: header shape, timestamp window (cheap, `TIMESTAMP_EXPIRED`), app
//! id, body size, signature, and only then the nonce, so that unsigned traffic cannot
//! burn nonces of a real client.

use crate::error::{ApiError, ErrorCode};
use crate::state::{ActiveLine, AppState};
use crate::time::now_ms;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_LENGTH};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use paydesk_core::signing::{self, Authorization, TIMESTAMP_WINDOW_SECS};
use paydesk_store::{BusinessLineStatus, NonceOutcome};
use std::sync::Arc;

/// The authenticated business line, put into request extensions for handlers.
#[derive(Clone, Debug)]
pub struct Caller(pub Arc<ActiveLine>);

/// The verified body bytes, put into request extensions for handlers.
#[derive(Clone, Debug)]
pub struct VerifiedBody(pub Bytes);

/// Middleware for `/v1`: authenticates and hands the body on as [`VerifiedBody`].
pub async fn require_signature(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    match authenticate(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn authenticate(state: &AppState, req: Request) -> Result<Request, ApiError> {
    let header = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(ApiError::unauthorized)?;
    let auth = Authorization::parse(header).map_err(|e| {
        tracing::debug!(error = %e, "bad authorization header");
        ApiError::new(
            ErrorCode::Unauthorized,
            format!("authorization header: {e}"),
        )
    })?;
    let ts = auth.timestamp_secs().ok_or_else(ApiError::unauthorized)?;
    let now_secs = now_ms() / 1000;
    if (now_secs - ts).abs() > TIMESTAMP_WINDOW_SECS {
        return Err(ApiError::new(
            ErrorCode::TimestampExpired,
            format!(
                "timestamp is more than {TIMESTAMP_WINDOW_SECS} s away from server time {now_secs}"
            ),
        ));
    }
    let line = state
        .line_by_app_id(&auth.app_id)
        .await?
        .filter(|l| l.status == BusinessLineStatus::Active)
        .ok_or_else(ApiError::unauthorized)?;
    tracing::Span::current().record("app_id", line.app_id.as_str());

    let limit = state.config.max_body_bytes;
    let too_large = || {
        ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("request body is over {limit} bytes"),
        )
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let target = req
        .extensions()
        .get::<OriginalUri>()
        .map(|u| u.0.clone())
        .unwrap_or_else(|| req.uri().clone());
    let path_and_query = target
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_else(|| target.path().to_owned());
    let method = req.method().as_str().to_owned();
    let (mut parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, limit)
        .await
        .map_err(|_| too_large())?;

    let message = signing::request_string_to_sign(
        &method,
        &path_and_query,
        &auth.timestamp,
        &auth.nonce,
        &bytes,
    );
    // During a secret rotation's overlap the previous secret is accepted too.
    if !line
        .accepted_secrets(now_ms())
        .any(|secret| signing::verify(secret.as_bytes(), &message, &auth.signature))
    {
        return Err(ApiError::unauthorized());
    }
    let expires_at_ms = (ts + TIMESTAMP_WINDOW_SECS) * 1000 + 1000;
    match state
        .store
        .record_nonce(&line.app_id, &auth.nonce, expires_at_ms)
        .await?
    {
        NonceOutcome::Fresh => {}
        NonceOutcome::Replayed => {
            return Err(ApiError::new(
                ErrorCode::NonceReplayed,
                "this nonce was already used; sign every request with a new nonce",
            ))
        }
    }
    parts.extensions.insert(Caller(line));
    parts.extensions.insert(VerifiedBody(bytes.clone()));
    Ok(Request::from_parts(parts, Body::from(bytes)))
}
