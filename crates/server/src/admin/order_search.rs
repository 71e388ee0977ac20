//! `GET /admin/v1/pay-orders`: the console's order search by business line, status and
//! creation time range, newest first with cursor paging, spanning the hot and the cold
//! store (the same query and cursor as the business API's `GET /v1/pay-orders`, for any
//! business line). Viewers may use it.

use super::session::Signed;
use crate::api::pay_orders::{build_query, encode_cursor, ListPayOrdersQuery};
use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::resource::PayOrderResource;
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

/// `?business_line=ID_OR_NAME&status=&created_from_ms=&created_to_ms=&limit=&cursor=`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    business_line: String,
    created_from_ms: Option<i64>,
    created_to_ms: Option<i64>,
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// The handler.
pub async fn search(
    _: Signed,
    State(state): State<AppState>,
    query: Result<Query<SearchQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Value>> {
    let Query(q) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let wanted = q.business_line.trim();
    let line = match state.store.business_line_by_id(wanted).await? {
        Some(l) => Some(l),
        None => state
            .store
            .list_business_lines()
            .await?
            .into_iter()
            .find(|l| l.name == wanted),
    }
    .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("no business line `{wanted}`")))?;
    let query = build_query(
        ListPayOrdersQuery {
            created_from_ms: q.created_from_ms,
            created_to_ms: q.created_to_ms,
            status: q.status,
            limit: q.limit,
            cursor: q.cursor,
        },
        &line.id,
    )?;
    let orders = state.store.list_pay_orders(&query).await?;
    let next_cursor = (orders.len() as i64 == query.limit)
        .then(|| orders.last().map(encode_cursor))
        .flatten();
    let data: Vec<PayOrderResource> = orders
        .iter()
        .map(|o| PayOrderResource::new(o, &state.public_url))
        .collect();
    Ok(Json(json!({
        "business_line": {"id": line.id, "name": line.name},
        "data": data,
        "next_cursor": next_cursor,
    })))
}
