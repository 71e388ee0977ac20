//! `POST /notify/{provider}/{merchant_account}`: provider callbacks. Each is kept exactly
//! as received, verified and decrypted by the account's adapter, checked against our
//! attempt, and then — for a payment success — confirmed by querying the provider before
//! anything is recorded. The answer is in the provider's own format; "accepted" is given
//! only once the outcome is stored, so a failure here makes the provider send it again.

use super::accounts::Account;
use super::flow::{self, Applied};
use super::refunds;
use crate::state::AppState;
use crate::time::now_ms;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use paydesk_core::{ids, Provider};
use paydesk_providers::model::{IncomingNotification, NotificationEvent, PaymentRef, PaymentState};
use paydesk_store::RawCallback;

/// Most header bytes kept per callback (the body is bounded by the body limit).
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// The handler.
pub async fn receive(
    State(state): State<AppState>,
    Path((provider, account_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(provider) = Provider::parse(&provider) else {
        return (StatusCode::NOT_FOUND, "unknown provider").into_response();
    };
    let Some(account) = state.accounts().get(&account_id) else {
        return (StatusCode::NOT_FOUND, "unknown merchant account").into_response();
    };
    if account.provider != provider {
        return (StatusCode::NOT_FOUND, "unknown merchant account").into_response();
    }
    let incoming = IncomingNotification {
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect(),
        body: body.to_vec(),
    };
    let mut record = RawCallback {
        id: ids::new_id(ids::CALLBACK),
        provider,
        merchant_account: account.id.clone(),
        received_at_ms: now_ms(),
        headers_json: headers_json(&incoming.headers),
        body: String::from_utf8_lossy(&incoming.body).into_owned(),
        outcome: String::new(),
        attempt_no: None,
        pay_order_id: None,
    };
    let accepted = handle(&state, &account, &incoming, &mut record).await;
    metrics::counter!(
        "paydesk_provider_callbacks_total",
        "provider" => provider.as_str(),
        "accepted" => if accepted { "true" } else { "false" }
    )
    .increment(1);
    if let Err(e) = state.store.insert_raw_callback(&record).await {
        // Keeping the audit copy failed: make the provider send it again.
        tracing::error!(error = %e, "could not keep a provider callback");
        return reply(&account, false);
    }
    reply(&account, accepted)
}

fn reply(account: &Account, accepted: bool) -> Response {
    let r = account.client.notification_reply(accepted);
    let mut resp = (
        StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        r.body,
    )
        .into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static(r.content_type),
    );
    resp
}

fn headers_json(headers: &[(String, String)]) -> String {
    let mut kept = Vec::new();
    let mut size = 0;
    for (k, v) in headers {
        size += k.len() + v.len();
        if size > MAX_HEADER_BYTES {
            break;
        }
        kept.push([k.as_str(), v.as_str()]);
    }
    serde_json::to_string(&kept).unwrap_or_else(|_| "[]".into())
}

/// Processes one callback; true when its outcome is stored and the provider may stop.
async fn handle(
    state: &AppState,
    account: &Account,
    incoming: &IncomingNotification,
    record: &mut RawCallback,
) -> bool {
    let note = match account.client.parse_notification(incoming) {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(account = %account.id, error = %e, "provider callback refused");
            metrics::counter!("paydesk_provider_callbacks_rejected_total").increment(1);
            record.outcome = format!("REJECTED: {e}");
            return false;
        }
    };
    match note.event {
        NotificationEvent::Payment(status) => {
            record.attempt_no = Some(status.attempt_no.clone());
            let attempt = match state.store.attempt_by_no(&status.attempt_no).await {
                Ok(Some(a)) => a,
                Ok(None) => {
                    record.outcome = "UNKNOWN_ATTEMPT".into();
                    tracing::warn!(attempt_no = %status.attempt_no, "callback for an unknown attempt");
                    return false;
                }
                Err(e) => {
                    record.outcome = format!("ERROR: {e}");
                    return false;
                }
            };
            record.pay_order_id = Some(attempt.pay_order_id.clone());
            if attempt.merchant_account != account.id {
                record.outcome = "WRONG_ACCOUNT".into();
                tracing::error!(attempt_no = %attempt.attempt_no, account = %account.id, "callback arrived at another account's endpoint");
                return false;
            }
            // Never believe a success on the callback alone: ask the provider.
            let report = if matches!(
                status.state,
                PaymentState::Succeeded | PaymentState::Refunded
            ) {
                match account
                    .client
                    .query_payment(&PaymentRef::AttemptNo(attempt.attempt_no.clone()))
                    .await
                {
                    Ok(q) => q,
                    Err(e) => {
                        record.outcome = format!("QUERY_FAILED: {e}");
                        return false;
                    }
                }
            } else {
                status
            };
            match flow::apply_report(state, account, &attempt, &report).await {
                Ok(applied) => {
                    record.outcome = format!("APPLIED: {}", applied_name(&applied));
                    true
                }
                Err(e) => {
                    record.outcome = format!("NOT_APPLIED: {e}");
                    false
                }
            }
        }
        NotificationEvent::Refund(rs) => {
            let refund = match state.store.refund_by_no(&rs.refund_no).await {
                Ok(Some(r)) => r,
                Ok(None) => {
                    record.outcome = "UNKNOWN_REFUND".into();
                    return false;
                }
                Err(e) => {
                    record.outcome = format!("ERROR: {e}");
                    return false;
                }
            };
            record.pay_order_id = Some(refund.pay_order_id.clone());
            match refunds::on_notification(state, &rs.refund_no).await {
                Ok(()) => {
                    record.outcome = "APPLIED: REFUND".into();
                    true
                }
                Err(e) => {
                    record.outcome = format!("NOT_APPLIED: {e}");
                    false
                }
            }
        }
        NotificationEvent::Transfer(ts) => {
            // Only a hint: the payout is queried, and the provider's answer decides.
            match crate::payouts::on_notification(state, account, &ts).await {
                Ok(()) => {
                    record.outcome = "APPLIED: TRANSFER".into();
                    true
                }
                Err(why) => {
                    tracing::warn!(payout_no = %ts.payout_no, outcome = %why, "transfer callback not applied");
                    record.outcome = why;
                    false
                }
            }
        }
    }
}

fn applied_name(a: &Applied) -> &'static str {
    match a {
        Applied::Paid => "PAID",
        Applied::AlreadyRecorded => "ALREADY_RECORDED",
        Applied::NotTheOrdersPayment => "NOT_THE_ORDERS_PAYMENT",
        Applied::Ended => "ENDED",
        Applied::StillOpen => "STILL_OPEN",
    }
}
