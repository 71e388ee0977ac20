//! Operator authentication for `/admin/v1`: either `Authorization: Bearer <credential>`
//! (automation) or the console's session cookie (HttpOnly, SameSite=Strict, only its
//! SHA-256 stored). Cookie-authenticated writes must also carry the
//! `x-paydesk-console` header, which a cross-site form cannot send.

use super::operators::hash_token;
use super::{read_body, OperatorView};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use crate::time::now_ms;
use axum::body::Body;
use axum::extract::{FromRequestParts, State};
use axum::http::header::{AUTHORIZATION, COOKIE, SET_COOKIE};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use paydesk_core::ids;
use paydesk_store::{Operator, OperatorRole, OperatorSession, OperatorStatus};
use serde::Deserialize;

/// Name of the console session cookie.
pub const COOKIE_NAME: &str = "paydesk_session";
/// Header the console sends with every write (CSRF guard for cookie sessions).
pub const CONSOLE_HEADER: &str = "x-paydesk-console";

/// The signed-in operator of a request.
#[derive(Debug, Clone)]
pub struct Signed(pub Operator);

impl Signed {
    /// Refuses viewers with 403 `FORBIDDEN`.
    pub fn require_admin(&self) -> ApiResult<()> {
        if self.0.role == OperatorRole::Admin {
            Ok(())
        } else {
            Err(ApiError::new(
                ErrorCode::Forbidden,
                "this needs the admin role; viewers can read, validate, simulate and diff",
            ))
        }
    }
}

fn cookie_value(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE_NAME)
        .map(|(_, v)| v.to_owned())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

/// Sign-in and sign-out set or clear the session cookie, so they too need the header a
/// cross-site form cannot send (no login CSRF).
fn require_console_header(headers: &HeaderMap) -> ApiResult<()> {
    if headers.contains_key(CONSOLE_HEADER) {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            format!("sign-in and sign-out must send the {CONSOLE_HEADER} header"),
        ))
    }
}

impl FromRequestParts<AppState> for Signed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        let operator = if let Some(token) = bearer(&parts.headers) {
            state
                .store
                .operator_by_token_hash(&hash_token(token))
                .await?
        } else if let Some(cookie) = cookie_value(&parts.headers) {
            let safe = matches!(parts.method, Method::GET | Method::HEAD);
            if !safe && !parts.headers.contains_key(CONSOLE_HEADER) {
                return Err(ApiError::new(
                    ErrorCode::Forbidden,
                    format!("console writes must send the {CONSOLE_HEADER} header"),
                ));
            }
            state
                .store
                .session_operator(&hash_token(&cookie), now_ms())
                .await?
        } else {
            None
        };
        let operator = operator
            .filter(|o| o.status == OperatorStatus::Active)
            .ok_or_else(|| {
                ApiError::new(
                    ErrorCode::Unauthorized,
                    "sign in with an operator credential",
                )
            })?;
        Ok(Signed(operator))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignIn {
    token: String,
}

/// `POST /admin/v1/session`: exchanges a credential for a session cookie.
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    require_console_header(&headers)?;
    let bytes = read_body(&state, body).await?;
    let req: SignIn = crate::api::parse_json(&bytes)?;
    let operator = state
        .store
        .operator_by_token_hash(&hash_token(req.token.trim()))
        .await?
        .filter(|o| o.status == OperatorStatus::Active)
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "unknown or disabled credential"))?;
    let session_token = ids::random_token::<32>();
    let now = now_ms();
    let ttl = state.config.admin.session_ttl_ms;
    state
        .store
        .insert_operator_session(&OperatorSession {
            token_hash: hash_token(&session_token),
            operator_id: operator.id.clone(),
            created_at_ms: now,
            expires_at_ms: now.saturating_add(i64::try_from(ttl).unwrap_or(i64::MAX)),
        })
        .await?;
    tracing::info!(operator = %operator.name, "operator signed in");
    let secure = if state.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    let cookie = format!(
        "{COOKIE_NAME}={session_token}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}{secure}",
        ttl / 1000
    );
    let mut resp = Json(OperatorView::from(&operator)).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        resp.headers_mut().insert(SET_COOKIE, v);
    }
    Ok(resp)
}

/// `DELETE /admin/v1/session`: signs out (idempotent).
pub async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> ApiResult<Response> {
    require_console_header(&headers)?;
    if let Some(cookie) = cookie_value(&headers) {
        state
            .store
            .delete_operator_session(&hash_token(&cookie))
            .await?;
    }
    let mut resp = StatusCode::NO_CONTENT.into_response();
    resp.headers_mut().insert(
        SET_COOKIE,
        HeaderValue::from_static("paydesk_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    Ok(resp)
}

/// `GET /admin/v1/me`: who is signed in.
pub async fn me(signed: Signed) -> Json<OperatorView> {
    Json(OperatorView::from(&signed.0))
}
