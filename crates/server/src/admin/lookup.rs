//! "Has this buyer paid?" — `GET /admin/v1/lookup?q=...` finds an order by pay order id,
//! business order number (any business line), our attempt number (`out_trade_no`) or the
//! provider's transaction id, and shows the order, its attempts each with the provider's
//! live answer, its refunds, its business notifications with their tries, and the raw
//! provider callbacks. Viewers may use it (it changes nothing).

use super::session::Signed;
use crate::error::{ApiError, ApiResult};
use crate::resource::{
    NotificationResource, PayOrderResource, PaymentAttemptResource, RefundResource,
};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::Json;
use paydesk_core::ids;
use paydesk_providers::model::PaymentRef;
use paydesk_store::PayOrder;
use serde::Deserialize;
use serde_json::{json, Value};

/// Longest query accepted.
const MAX_QUERY_CHARS: usize = 128;

/// The query string.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LookupQuery {
    /// Any id or number of the order or one of its payments.
    q: String,
    /// Skip asking the providers (`false` by default).
    #[serde(default)]
    no_live: bool,
}

async fn find(state: &AppState, q: &str) -> ApiResult<Option<(PayOrder, &'static str)>> {
    if ids::has_shape(q, ids::PAY_ORDER) {
        if let Some(o) = state.store.pay_order(q).await? {
            return Ok(Some((o, "pay_order_id")));
        }
    }
    if let Some(a) = state.store.attempt_by_no(q).await? {
        if let Some(o) = state.store.pay_order(&a.pay_order_id).await? {
            return Ok(Some((o, "attempt_no")));
        }
    }
    if let Some(a) = state.store.attempt_by_provider_txn_id(q).await? {
        if let Some(o) = state.store.pay_order(&a.pay_order_id).await? {
            return Ok(Some((o, "provider_txn_id")));
        }
    }
    for line in state.store.list_business_lines().await? {
        if let Some(o) = state.store.pay_order_by_business_no(&line.id, q).await? {
            return Ok(Some((o, "business_order_no")));
        }
    }
    Ok(None)
}

/// The handler.
pub async fn lookup(
    _signed: Signed,
    State(state): State<AppState>,
    Query(query): Query<LookupQuery>,
) -> ApiResult<Json<Value>> {
    let q = query.q.trim();
    if q.is_empty() || q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::invalid("q must be 1-128 characters"));
    }
    let Some((order, matched)) = find(&state, q).await? else {
        return Err(ApiError::not_found("order for that id or number"));
    };
    let attempts = state.store.attempts_for_pay_order(&order.id).await?;
    let mut attempt_views = Vec::new();
    for a in &attempts {
        let live = if query.no_live {
            Value::Null
        } else {
            match state.accounts().get(&a.merchant_account) {
                None => json!({"error": "merchant account not configured"}),
                Some(acc) => match acc
                    .client
                    .query_payment(&PaymentRef::AttemptNo(a.attempt_no.clone()))
                    .await
                {
                    Ok(s) => json!({
                        "state": format!("{:?}", s.state).to_uppercase(),
                        "provider_state": s.provider_state,
                        "provider_txn_id": s.provider_txn_id,
                        "amount": s.amount.map(|x| x.minor()),
                    }),
                    Err(e) => json!({"error": e.to_string()}),
                },
            }
        };
        attempt_views.push(json!({
            "attempt": PaymentAttemptResource::new(a),
            "provider_live": live,
        }));
    }
    let refunds: Vec<RefundResource> = state
        .store
        .refunds_for_pay_order(&order.id)
        .await?
        .iter()
        .map(|r| RefundResource::new(r, &order.business_order_no))
        .collect();
    let mut notifications = Vec::new();
    for e in state.store.events_for_pay_order(&order.id).await? {
        let tries = state.store.attempts_for_event(&e.id).await?;
        notifications.push(NotificationResource::new(&e, &tries));
    }
    let callbacks: Vec<Value> = state
        .store
        .raw_callbacks_for_pay_order(&order.id)
        .await?
        .into_iter()
        .map(|c| {
            json!({
                "id": c.id,
                "provider": c.provider.as_str(),
                "merchant_account": c.merchant_account,
                "received_at": crate::time::rfc3339(c.received_at_ms),
                "outcome": c.outcome,
                "attempt_no": c.attempt_no,
                "body": c.body,
            })
        })
        .collect();
    Ok(Json(json!({
        "matched": matched,
        "pay_order": PayOrderResource::new(&order, &state.public_url)
            .with_balance_part(state.store.balance_part(&order.id).await?.as_ref()),
        "attempts": attempt_views,
        "refunds": refunds,
        "notifications": notifications,
        "provider_callbacks": callbacks,
    })))
}

/// `GET /admin/v1/flagged-attempts`: the newest 200 payments that were not their order's
/// (duplicates, late payments, wrong amounts), for the operator.
pub async fn flagged(_signed: Signed, State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let attempts = state.store.flagged_attempts(200).await?;
    Ok(Json(json!({
        "attempts": attempts.iter().map(PaymentAttemptResource::new).collect::<Vec<_>>(),
    })))
}
