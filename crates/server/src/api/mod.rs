//! The business API under `/v1`, authenticated by the business-line signature.

pub mod ledger;
pub mod notifications;
pub mod pay_orders;
pub mod payouts;
pub mod refunds;

use crate::error::{ApiError, ApiResult, ErrorCode};
use crate::state::AppState;
use paydesk_core::transition::StateMachine;
use paydesk_core::{AttemptStatus, BalancePartStatus, PayOrderStatus};
use paydesk_store::{Attempt, PayOrder};
use serde::de::DeserializeOwned;

/// Whether `s` is a valid business number (order or refund number): 1-64 characters of
/// `[A-Za-z0-9_-]`.
pub fn is_business_no(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Parses a JSON body strictly (unknown fields refused), mapping every failure to
/// 400 `INVALID_REQUEST` with serde's description of where it went wrong.
pub fn parse_json<T: DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    if body.is_empty() {
        return Err(ApiError::invalid("a JSON body is required"));
    }
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("invalid JSON body: {e}")))
}

/// How a `PAID` order was paid: the provider attempt that took its money, or (`BALANCE`)
/// the buyer's balance alone.
pub(crate) enum PaidBy {
    /// The successful, unflagged provider attempt (for `COMBINED`, the provider's part).
    Attempt(Box<Attempt>),
    /// Wholly from the balance: no provider attempt.
    Balance,
}

/// The order must be `PAID` (409 `INVALID_STATE` otherwise); then how it was paid (409
/// `INVALID_STATE` when no payment is recorded, which a PAID order should never be).
pub(crate) async fn paid_by(state: &AppState, order: &PayOrder) -> ApiResult<PaidBy> {
    if order.status != PayOrderStatus::Paid {
        return Err(ApiError::new(
            ErrorCode::InvalidState,
            format!(
                "pay order {} is {}, not PAID",
                order.id,
                order.status.as_str()
            ),
        ));
    }
    let paid = state
        .store
        .attempts_for_pay_order(&order.id)
        .await?
        .into_iter()
        .find(|a| a.status == AttemptStatus::Succeeded && a.flag.is_none());
    if let Some(a) = paid {
        return Ok(PaidBy::Attempt(Box::new(a)));
    }
    match state.store.balance_part(&order.id).await? {
        Some(p) if p.status == BalancePartStatus::Captured && p.amount == order.amount => {
            Ok(PaidBy::Balance)
        }
        _ => Err(ApiError::new(
            ErrorCode::InvalidState,
            "the order's payment is not recorded",
        )),
    }
}
