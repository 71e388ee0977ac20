//! Carrying refunds out at the provider. A refund is recorded first (its amount reserved
//! on the order in the same transaction), then sent, re-sent and queried by its own number
//! until the provider gives a final answer. Both providers treat a repeated refund number
//! as the same refund, so re-sending after a timeout, `FREQUENCY_LIMITED` or `NOT_ENOUGH`
//! can never refund twice; an unknown outcome is never taken as a failure.

use super::flow::{notify_url, FlowError};
use crate::events;
use crate::state::AppState;
use crate::time::now_ms;
use paydesk_core::{Amount, EventType, RefundKind, RefundStatus};
use paydesk_providers::model::{RefundQuery, RefundRequest, RefundState};
use paydesk_providers::ProviderError;
use paydesk_store::{Refund, RefundUpdate, Transition};

/// Provider codes that mean "not now, try again later with the same number".
const RETRY_LATER_CODES: &[&str] = &[
    // WeChat Pay
    "FREQUENCY_LIMITED",
    "NOT_ENOUGH",
    "SYSTEM_ERROR",
    "SYSTEMERROR",
    // Alipay
    "ACQ.SYSTEM_ERROR",
    "ACQ.SELLER_BALANCE_NOT_ENOUGH",
    "isp.unknow-error",
];

/// Wakes the refund worker for a refund just recorded.
pub fn kick(state: &AppState, refund_id: &str) {
    tracing::debug!(refund_id, "refund queued");
    state.refunds_wake.notify_one();
}

/// One step for a due refund: send it (`PENDING`) or query it (`PROCESSING`), and record
/// what the provider said. Returns the refund as it is afterwards.
pub async fn step(state: &AppState, refund: &Refund) -> Result<Refund, FlowError> {
    if refund.provider_amount_minor() == 0 {
        return from_balance_only(state, refund).await;
    }
    let attempt = state
        .store
        .attempt(&refund.attempt_id)
        .await?
        .ok_or_else(|| FlowError::Mismatch(format!("refund {} has no attempt", refund.id)))?;
    let account = super::flow::account_of(state, &attempt)?;
    let answer = match refund.status {
        RefundStatus::Processing => {
            let q = RefundQuery {
                attempt_no: attempt.attempt_no.clone(),
                refund_no: refund.refund_no.clone(),
            };
            match account.client.query_refund(&q).await {
                Ok(s) if s.state == RefundState::NotAccepted => None,
                Ok(s) => Some(Ok(s)),
                Err(e) => Some(Err(e)),
            }
        }
        RefundStatus::Pending => None,
        // Final or waiting for an operator: nothing to do.
        _ => return Ok(refund.clone()),
    };
    let answer = match answer {
        Some(a) => a,
        None => {
            let total_minor = attempt.paid_amount_minor.unwrap_or(attempt.amount.minor());
            let total = Amount::new(total_minor, attempt.amount.currency())
                .map_err(|e| FlowError::Mismatch(format!("paid amount: {e}")))?;
            let req = RefundRequest {
                attempt_no: attempt.attempt_no.clone(),
                provider_txn_id: attempt.provider_txn_id.clone(),
                refund_no: refund.refund_no.clone(),
                // The provider returns its own part; a combined order's balance part
                // goes back through the ledger when this succeeds.
                refund_amount: Amount::new(
                    refund.provider_amount_minor(),
                    refund.amount.currency(),
                )
                .map_err(|e| FlowError::Mismatch(format!("refund amount: {e}")))?,
                total_amount: total,
                reason: refund.reason.clone(),
                notify_url: Some(notify_url(state, &account)),
            };
            account.client.refund(&req).await
        }
    };
    let now = now_ms();
    let cfg = &state.config.payments;
    let retry_at = now.saturating_add(i64::try_from(cfg.refund_retry_ms).unwrap_or(i64::MAX));
    let query_at = now.saturating_add(i64::try_from(cfg.refund_query_ms).unwrap_or(i64::MAX));
    let mut update = RefundUpdate {
        expected_version: refund.version,
        status: refund.status,
        provider_refund_id: refund.provider_refund_id.clone(),
        count_try: true,
        next_action_at_ms: Some(retry_at),
        last_error: None,
        succeeded_at_ms: None,
        now_ms: now,
        event: None,
    };
    match answer {
        Ok(s) => {
            if let Some(id) = s.provider_refund_id {
                update.provider_refund_id = Some(id);
            }
            match s.state {
                RefundState::Succeeded => {
                    update.status = RefundStatus::Succeeded;
                    update.next_action_at_ms = None;
                    update.succeeded_at_ms = Some(
                        s.succeeded_at
                            .map(|t| {
                                i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(now)
                            })
                            .unwrap_or(now),
                    );
                }
                RefundState::Processing => {
                    update.status = RefundStatus::Processing;
                    update.next_action_at_ms = Some(query_at);
                }
                RefundState::Closed => {
                    update.status = RefundStatus::Failed;
                    update.next_action_at_ms = None;
                    update.last_error = Some(format!("provider closed it: {}", s.provider_state));
                }
                RefundState::Abnormal => {
                    update.status = RefundStatus::Abnormal;
                    update.next_action_at_ms = None;
                    update.last_error = Some(
                        "ABNORMAL: the buyer's account or card cannot receive it; handle offline"
                            .into(),
                    );
                }
                RefundState::NotAccepted => {
                    // Not there yet: send again (same number) later.
                    update.last_error = Some("not accepted yet".into());
                }
            }
        }
        Err(e) => {
            let code = e.provider_code().map(str::to_owned);
            let retry = e.is_outcome_unknown()
                || matches!(e, ProviderError::Unreachable { .. })
                || code
                    .as_deref()
                    .is_some_and(|c| RETRY_LATER_CODES.contains(&c));
            update.last_error = Some(short(&e));
            if !retry {
                update.status = RefundStatus::Failed;
                update.next_action_at_ms = None;
            }
            tracing::warn!(refund_id = %refund.id, error = %e, retry, "refund call failed");
        }
    }
    apply(state, refund, update).await
}

/// A refund wholly from a balance part: nothing to ask a provider, it succeeds at once
/// (the store credits the buyer's balance in the same transaction).
async fn from_balance_only(state: &AppState, refund: &Refund) -> Result<Refund, FlowError> {
    if refund.status != RefundStatus::Pending {
        return Ok(refund.clone());
    }
    let now = now_ms();
    let update = RefundUpdate {
        expected_version: refund.version,
        status: RefundStatus::Succeeded,
        provider_refund_id: None,
        count_try: false,
        next_action_at_ms: None,
        last_error: None,
        succeeded_at_ms: Some(now),
        now_ms: now,
        event: None,
    };
    apply(state, refund, update).await
}

/// Records `update` (with its business event when it ends the refund).
async fn apply(
    state: &AppState,
    refund: &Refund,
    mut update: RefundUpdate,
) -> Result<Refund, FlowError> {
    if update.status != refund.status && is_final_or_abnormal(update.status) {
        update.event = event_for(state, refund, &update).await?;
    }
    match state.store.update_refund(&refund.id, &update).await? {
        Transition::Applied(r) => {
            if update.event.is_some() {
                state.outbox_wake.notify_one();
            }
            match r.status {
                RefundStatus::Succeeded => {
                    metrics::counter!("paydesk_refunds_succeeded_total", "kind" => r.kind.as_str())
                        .increment(1);
                    tracing::info!(refund_id = %r.id, kind = r.kind.as_str(), "refund succeeded");
                }
                RefundStatus::Failed => {
                    metrics::counter!("paydesk_refunds_failed_total", "kind" => r.kind.as_str())
                        .increment(1);
                    if r.kind == RefundKind::Business {
                        tracing::warn!(refund_id = %r.id, "refund failed");
                    } else {
                        tracing::error!(refund_id = %r.id, kind = r.kind.as_str(), "automatic refund failed: an operator must return this money");
                    }
                }
                RefundStatus::Abnormal => {
                    metrics::counter!("paydesk_refunds_abnormal_total").increment(1);
                    tracing::error!(refund_id = %r.id, "refund ABNORMAL: flagged for offline handling");
                }
                _ => {}
            }
            Ok(r)
        }
        // Someone else (a callback, another instance) moved it first.
        Transition::Refused(Some(r)) => Ok(r),
        Transition::Refused(None) => Err(FlowError::Mismatch(format!(
            "refund {} vanished",
            refund.id
        ))),
    }
}

fn is_final_or_abnormal(s: RefundStatus) -> bool {
    matches!(
        s,
        RefundStatus::Succeeded | RefundStatus::Failed | RefundStatus::Abnormal
    )
}

fn short(e: &ProviderError) -> String {
    let mut s = e.to_string();
    if s.len() > 500 {
        let mut cut = 500;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
    }
    s
}

/// The business event for a refund reaching `update.status`, fixed from the refund as the
/// update leaves it.
async fn event_for(
    state: &AppState,
    refund: &Refund,
    update: &RefundUpdate,
) -> Result<Option<paydesk_store::NewEvent>, FlowError> {
    let event_type = match (refund.kind, update.status) {
        (RefundKind::Business, RefundStatus::Succeeded) => EventType::RefundSucceeded,
        (RefundKind::Business, RefundStatus::Failed) => EventType::RefundFailed,
        (_, RefundStatus::Succeeded) => EventType::PayOrderDuplicateRefunded,
        _ => return Ok(None),
    };
    let Some(order) = state.store.pay_order(&refund.pay_order_id).await? else {
        return Ok(None);
    };
    let after = Refund {
        status: update.status,
        provider_refund_id: update.provider_refund_id.clone(),
        last_error: update.last_error.clone().or(refund.last_error.clone()),
        succeeded_at_ms: update.succeeded_at_ms,
        updated_at_ms: update.now_ms,
        version: refund.version + 1,
        ..refund.clone()
    };
    Ok(Some(events::refund_event(
        event_type,
        &order,
        &after,
        update.now_ms,
    )))
}

/// Applies a verified refund notification: it is only a hint; the refund is queried
/// (one [`step`]) so the provider's own answer decides.
pub async fn on_notification(state: &AppState, refund_no: &str) -> Result<(), FlowError> {
    let Some(refund) = state.store.refund_by_no(refund_no).await? else {
        return Err(FlowError::Mismatch(format!("unknown refund {refund_no}")));
    };
    if refund.status == RefundStatus::Processing {
        step(state, &refund).await?;
    }
    Ok(())
}
