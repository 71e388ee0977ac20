//! WeChat Pay wire types -> paydesk's neutral types.

use crate::amount::cny_from_fen;
use crate::error::ProviderError;
use crate::model::*;
use crate::wechatpay::wire::{Refund, Transaction, TransferBill};
use paydesk_core::money::Amount;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

fn malformed(operation: &'static str, reason: impl Into<String>) -> ProviderError {
    ProviderError::MalformedResponse {
        operation,
        reason: reason.into(),
    }
}

/// Parses an RFC 3339 time, e.g. `2018-06-08T10:34:56+08:00`.
pub(crate) fn parse_time(
    operation: &'static str,
    text: Option<&str>,
) -> Result<Option<OffsetDateTime>, ProviderError> {
    match text {
        None | Some("") => Ok(None),
        Some(t) => OffsetDateTime::parse(t, &Rfc3339)
            .map(Some)
            .map_err(|_| malformed(operation, format!("bad time `{t}`"))),
    }
}

fn fen(
    operation: &'static str,
    value: Option<i64>,
    currency: Option<&str>,
) -> Result<Option<Amount>, ProviderError> {
    if let Some(c) = currency {
        if c != "CNY" {
            return Err(malformed(operation, format!("unexpected currency `{c}`")));
        }
    }
    value
        .map(|v| cny_from_fen(v).map_err(|e| malformed(operation, e.to_string())))
        .transpose()
}

/// Maps `trade_state`.
pub fn payment_state(trade_state: &str) -> Option<PaymentState> {
    Some(match trade_state {
        "SUCCESS" => PaymentState::Succeeded,
        "REFUND" => PaymentState::Refunded,
        "NOTPAY" => PaymentState::NotPaid,
        "CLOSED" | "REVOKED" => PaymentState::Closed,
        "USERPAYING" | "ACCEPT" => PaymentState::Paying,
        "PAYERROR" => PaymentState::Failed,
        _ => return None,
    })
}

/// Maps a refund `status` / `refund_status`.
pub fn refund_state(status: &str) -> Option<RefundState> {
    Some(match status {
        "SUCCESS" => RefundState::Succeeded,
        "CLOSED" => RefundState::Closed,
        "PROCESSING" => RefundState::Processing,
        "ABNORMAL" => RefundState::Abnormal,
        _ => return None,
    })
}

/// Maps a transfer bill `state`.
pub fn transfer_state(state: &str) -> Option<TransferState> {
    Some(match state {
        "ACCEPTED" | "PROCESSING" | "TRANSFERING" => TransferState::Processing,
        "WAIT_USER_CONFIRM" => TransferState::WaitingUserConfirm,
        "SUCCESS" => TransferState::Succeeded,
        "FAIL" => TransferState::Failed,
        "CANCELING" => TransferState::Cancelling,
        "CANCELLED" => TransferState::Cancelled,
        _ => return None,
    })
}

/// A transaction as a [`PaymentStatus`]. Unknown states are an error, never a guess.
pub fn payment_status(
    operation: &'static str,
    t: &Transaction,
) -> Result<PaymentStatus, ProviderError> {
    let state = payment_state(&t.trade_state).ok_or_else(|| {
        malformed(
            operation,
            format!("unknown trade_state `{}`", t.trade_state),
        )
    })?;
    let amount = t.amount.clone().unwrap_or_default();
    let total = fen(operation, amount.total, amount.currency.as_deref())?;
    // A paid (or refunded) transaction without its amount cannot be checked against the
    // order: refuse it rather than let anyone fill the gap with what we asked for.
    if total.is_none() && matches!(state, PaymentState::Succeeded | PaymentState::Refunded) {
        return Err(malformed(
            operation,
            format!("trade_state `{}` without amount.total", t.trade_state),
        ));
    }
    Ok(PaymentStatus {
        attempt_no: t.out_trade_no.clone(),
        provider_txn_id: t.transaction_id.clone().filter(|s| !s.is_empty()),
        state,
        provider_state: t.trade_state.clone(),
        amount: total,
        payer_amount: fen(operation, amount.payer_total, None)?,
        paid_at: parse_time(operation, t.success_time.as_deref())?,
        payer_id: t.payer.as_ref().and_then(|p| p.openid.clone()),
        merchant_id: Some(t.mchid.clone()).filter(|s| !s.is_empty()),
        app_id: Some(t.appid.clone()).filter(|s| !s.is_empty()),
        passback: t.attach.clone().filter(|s| !s.is_empty()),
    })
}

/// A refund as a [`RefundStatus`].
pub fn refund_status(operation: &'static str, r: &Refund) -> Result<RefundStatus, ProviderError> {
    let word = r
        .status
        .as_deref()
        .or(r.refund_status.as_deref())
        .ok_or_else(|| malformed(operation, "refund without status"))?;
    let state = refund_state(word)
        .ok_or_else(|| malformed(operation, format!("unknown status `{word}`")))?;
    let amount = r.amount.clone().unwrap_or_default();
    let refunded = fen(operation, amount.refund, amount.currency.as_deref())?;
    if refunded.is_none() && state == RefundState::Succeeded {
        return Err(malformed(
            operation,
            format!("refund status `{word}` without amount.refund"),
        ));
    }
    Ok(RefundStatus {
        refund_no: r.out_refund_no.clone(),
        attempt_no: r.out_trade_no.clone(),
        provider_refund_id: r.refund_id.clone(),
        state,
        provider_state: word.to_string(),
        amount: refunded,
        succeeded_at: parse_time(operation, r.success_time.as_deref())?,
    })
}

/// A transfer bill as a [`TransferStatus`].
pub fn transfer_status(
    operation: &'static str,
    b: &TransferBill,
) -> Result<TransferStatus, ProviderError> {
    let state = transfer_state(&b.state)
        .ok_or_else(|| malformed(operation, format!("unknown state `{}`", b.state)))?;
    let finished = matches!(
        state,
        TransferState::Succeeded | TransferState::Failed | TransferState::Cancelled
    );
    Ok(TransferStatus {
        payout_no: b.out_bill_no.clone(),
        provider_transfer_id: b.transfer_bill_no.clone(),
        state,
        provider_state: b.state.clone(),
        amount: fen(operation, b.transfer_amount, None)?,
        fail_reason: b.fail_reason.clone().filter(|s| !s.is_empty()),
        confirm_package: b.package_info.clone().filter(|s| !s.is_empty()),
        finished_at: if finished {
            parse_time(operation, b.update_time.as_deref())?
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn transaction(trade_state: &str, amount: Option<&str>) -> Transaction {
        let amount = amount
            .map(|a| format!(r#","amount":{a}"#))
            .unwrap_or_default();
        serde_json::from_str(&format!(
            r#"{{"appid":"wx1","mchid":"1900000001","out_trade_no":"A1","transaction_id":"4200000001","trade_state":"{trade_state}"{amount}}}"#
        ))
        .unwrap()
    }

    #[test]
    fn paid_or_refunded_transaction_without_amount_is_malformed() {
        for st in ["SUCCESS", "REFUND"] {
            let e = payment_status("query_payment", &transaction(st, None)).unwrap_err();
            assert!(
                matches!(e, ProviderError::MalformedResponse { .. }),
                "{st}: {e:?}"
            );
            assert!(e.is_outcome_unknown());
            let e = payment_status("query_payment", &transaction(st, Some("{}"))).unwrap_err();
            assert!(matches!(e, ProviderError::MalformedResponse { .. }));
        }
        let ok = payment_status(
            "query_payment",
            &transaction("SUCCESS", Some(r#"{"total":100,"currency":"CNY"}"#)),
        )
        .unwrap();
        assert_eq!(ok.amount.map(|a| a.minor()), Some(100));
        // Not paid: no amount needed.
        let s = payment_status("query_payment", &transaction("NOTPAY", None)).unwrap();
        assert_eq!(s.amount, None);
    }

    #[test]
    fn succeeded_refund_without_amount_is_malformed() {
        let r: Refund =
            serde_json::from_str(r#"{"refund_id":"5","out_refund_no":"R1","status":"SUCCESS"}"#)
                .unwrap();
        assert!(matches!(
            refund_status("query_refund", &r),
            Err(ProviderError::MalformedResponse { .. })
        ));
        let r: Refund =
            serde_json::from_str(r#"{"refund_id":"5","out_refund_no":"R1","status":"PROCESSING"}"#)
                .unwrap();
        assert_eq!(refund_status("query_refund", &r).unwrap().amount, None);
    }
}
