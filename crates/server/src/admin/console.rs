//! The operator console: one server-rendered page plus a small vanilla script and a
//! stylesheet, all compiled into the binary (no CDN, works offline). The page talks to
//! `/admin/v1` with the session cookie.

use axum::extract::Path;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::{HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};

const PAGE: &str = include_str!("../../assets/console/index.html");
const SCRIPT: &str = include_str!("../../assets/console/console.js");
const OPERATIONS: &str = include_str!("../../assets/console/operations.js");
const ACCOUNTS: &str = include_str!("../../assets/console/accounts.js");
const RECONCILIATION: &str = include_str!("../../assets/console/reconciliation.js");
const SEARCH: &str = include_str!("../../assets/console/search.js");
const LEDGER: &str = include_str!("../../assets/console/ledger.js");
const PAYOUTS: &str = include_str!("../../assets/console/payouts.js");
const STYLE: &str = include_str!("../../assets/console/console.css");

/// Scripts and styles only from this origin; no framing; no referrer.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

fn respond(body: &'static str, content_type: &'static str) -> Response {
    let headers = [
        (CONTENT_TYPE, HeaderValue::from_static(content_type)),
        (CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (
            HeaderName::from_static("content-security-policy"),
            HeaderValue::from_static(CSP),
        ),
        (
            HeaderName::from_static("x-content-type-options"),
            HeaderValue::from_static("nosniff"),
        ),
        (
            HeaderName::from_static("referrer-policy"),
            HeaderValue::from_static("no-referrer"),
        ),
        (
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        ),
    ];
    (headers, body).into_response()
}

/// `GET /console`.
pub async fn page() -> Response {
    respond(PAGE, "text/html; charset=utf-8")
}

/// `GET /console/{asset}`: the scripts (`console.js`, `operations.js`, `accounts.js`,
/// `reconciliation.js`, `search.js`, `ledger.js`, `payouts.js`) or `console.css`.
pub async fn asset(Path(name): Path<String>) -> Response {
    match name.as_str() {
        "console.js" => respond(SCRIPT, "text/javascript; charset=utf-8"),
        "operations.js" => respond(OPERATIONS, "text/javascript; charset=utf-8"),
        "accounts.js" => respond(ACCOUNTS, "text/javascript; charset=utf-8"),
        "reconciliation.js" => respond(RECONCILIATION, "text/javascript; charset=utf-8"),
        "search.js" => respond(SEARCH, "text/javascript; charset=utf-8"),
        "ledger.js" => respond(LEDGER, "text/javascript; charset=utf-8"),
        "payouts.js" => respond(PAYOUTS, "text/javascript; charset=utf-8"),
        "console.css" => respond(STYLE, "text/css; charset=utf-8"),
        _ => crate::error::ApiError::not_found("console asset").into_response(),
    }
}
