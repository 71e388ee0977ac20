//! Alipay wire types -> paydesk's neutral types, and Alipay's error codes -> outcomes.

use crate::alipay::sign::parse_time;
use crate::alipay::wire::{Common, RefundQueried, Refunded, TradeQueried, Transferred};
use crate::amount::cny_from_yuan;
use crate::error::ProviderError;
use crate::model::*;
use paydesk_core::money::Amount;
use time::OffsetDateTime;

fn malformed(operation: &'static str, reason: impl Into<String>) -> ProviderError {
    ProviderError::MalformedResponse {
        operation,
        reason: reason.into(),
    }
}

fn yuan(operation: &'static str, text: Option<&str>) -> Result<Option<Amount>, ProviderError> {
    match text {
        None | Some("") => Ok(None),
        Some(t) => cny_from_yuan(t)
            .map(Some)
            .map_err(|e| malformed(operation, e.to_string())),
    }
}

fn time_of(
    operation: &'static str,
    text: Option<&str>,
) -> Result<Option<OffsetDateTime>, ProviderError> {
    match text {
        None | Some("") => Ok(None),
        Some(t) => parse_time(t)
            .map(Some)
            .ok_or_else(|| malformed(operation, format!("bad time `{t}`"))),
    }
}

/// Decodes a URL-encoded value (`passback_params` comes back as we encoded it).
fn url_decode(text: &str) -> String {
    form_urlencoded::parse(format!("v={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// Applies the outcome rules to an answer's `code` / `sub_code`:
/// `10000` is success; `20000` and `*SYSTEM_ERROR` are unknown outcomes (query first);
/// `ACQ.TRADE_NOT_EXIST` / `ORDER_NOT_EXIST` are "not found"; the rest are rejections
/// keeping Alipay's `sub_code` and `sub_msg`.
///
/// `verified` says whether the answer's signature was checked. Only a verified answer may
/// be "not found" or "rejected" (callers treat both as final, e.g. start a new attempt);
/// an unverified error is an unknown outcome whatever its code.
pub fn check_common(
    operation: &'static str,
    c: &Common,
    verified: bool,
) -> Result<(), ProviderError> {
    if c.code == "10000" && verified {
        return Ok(());
    }
    let sub_code = c.sub_code.clone().unwrap_or_default();
    let message = c
        .sub_msg
        .clone()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| c.msg.clone());
    if !verified
        || c.code == "20000"
        || sub_code.ends_with("SYSTEM_ERROR")
        || sub_code.ends_with("UNKNOW-ERROR")
    {
        let unsigned = if verified { "" } else { "unsigned answer: " };
        return Err(ProviderError::Unknown {
            operation,
            reason: format!("{unsigned}{} {sub_code}: {message}", c.code),
        });
    }
    let provider_code = if sub_code.is_empty() {
        c.code.clone()
    } else {
        sub_code
    };
    if provider_code == "ACQ.TRADE_NOT_EXIST" || provider_code == "ORDER_NOT_EXIST" {
        return Err(ProviderError::NotFound {
            operation,
            provider_code,
            message,
        });
    }
    Err(ProviderError::Rejected {
        operation,
        provider_code,
        message,
        http_status: None,
    })
}

/// Maps `trade_status`.
pub fn payment_state(trade_status: &str) -> Option<PaymentState> {
    Some(match trade_status {
        "WAIT_BUYER_PAY" => PaymentState::NotPaid,
        "TRADE_SUCCESS" | "TRADE_FINISHED" => PaymentState::Succeeded,
        "TRADE_CLOSED" => PaymentState::Closed,
        _ => return None,
    })
}

/// Maps a transfer `status`. `REFUND` (paid, then bounced back) is a failure: the user
/// did not keep the money.
pub fn transfer_state(status: &str) -> Option<TransferState> {
    Some(match status {
        "SUCCESS" => TransferState::Succeeded,
        "DEALING" | "INIT" | "WAIT_PAY" => TransferState::Processing,
        "FAIL" | "REFUND" => TransferState::Failed,
        "CLOSED" => TransferState::Cancelled,
        _ => return None,
    })
}

/// A trade query answer as a [`PaymentStatus`].
pub fn queried_payment(
    operation: &'static str,
    q: &TradeQueried,
    app_id: &str,
) -> Result<PaymentStatus, ProviderError> {
    let state = payment_state(&q.trade_status).ok_or_else(|| {
        malformed(
            operation,
            format!("unknown trade_status `{}`", q.trade_status),
        )
    })?;
    Ok(PaymentStatus {
        attempt_no: q.out_trade_no.clone(),
        provider_txn_id: q.trade_no.clone(),
        state,
        provider_state: q.trade_status.clone(),
        amount: yuan(operation, q.total_amount.as_deref())?,
        payer_amount: yuan(operation, q.buyer_pay_amount.as_deref())?,
        paid_at: if state == PaymentState::Succeeded {
            time_of(operation, q.send_pay_date.as_deref())?
        } else {
            None
        },
        payer_id: q.buyer_user_id.clone().or_else(|| q.buyer_open_id.clone()),
        merchant_id: None,
        // The answer is signed by Alipay for the app that asked: it is ours.
        app_id: Some(app_id.to_string()),
        passback: None,
    })
}

/// A notification's parameters as a [`PaymentStatus`].
pub fn notified_payment<'a>(
    get: &impl Fn(&str) -> Option<&'a str>,
) -> Result<PaymentStatus, ProviderError> {
    const OP: &str = "parse_notification";
    let status = get("trade_status").ok_or_else(|| malformed(OP, "no trade_status"))?;
    let state = payment_state(status)
        .ok_or_else(|| malformed(OP, format!("unknown trade_status `{status}`")))?;
    Ok(PaymentStatus {
        attempt_no: get("out_trade_no")
            .ok_or_else(|| malformed(OP, "no out_trade_no"))?
            .to_string(),
        provider_txn_id: get("trade_no").map(str::to_string),
        state,
        provider_state: status.to_string(),
        amount: Some(
            yuan(OP, get("total_amount"))?.ok_or_else(|| malformed(OP, "no total_amount"))?,
        ),
        payer_amount: yuan(OP, get("buyer_pay_amount"))?,
        paid_at: time_of(OP, get("gmt_payment"))?,
        payer_id: get("buyer_id").or(get("buyer_open_id")).map(str::to_string),
        merchant_id: get("seller_id").map(str::to_string),
        app_id: get("app_id").map(str::to_string),
        passback: get("passback_params").map(url_decode),
    })
}

/// A refund answer as a [`RefundStatus`]. `fund_change = Y` means this call moved the
/// money; `N` (e.g. a repeated request) is reported as processing so the caller queries.
pub fn refunded(
    operation: &'static str,
    r: &Refunded,
    refund_no: &str,
    amount: Amount,
) -> Result<RefundStatus, ProviderError> {
    let succeeded = r.fund_change == "Y";
    Ok(RefundStatus {
        refund_no: refund_no.to_string(),
        attempt_no: Some(r.out_trade_no.clone()).filter(|s| !s.is_empty()),
        provider_refund_id: None,
        state: if succeeded {
            RefundState::Succeeded
        } else {
            RefundState::Processing
        },
        provider_state: format!("fund_change={}", r.fund_change),
        amount: Some(amount),
        succeeded_at: if succeeded {
            time_of(operation, r.gmt_refund_pay.as_deref())?
        } else {
            None
        },
    })
}

/// A refund query answer as a [`RefundStatus`].
pub fn refund_queried(
    operation: &'static str,
    r: &RefundQueried,
    refund_no: &str,
) -> Result<RefundStatus, ProviderError> {
    let (state, word) = match r.refund_status.as_deref() {
        Some("REFUND_SUCCESS") => (RefundState::Succeeded, "REFUND_SUCCESS"),
        None | Some("") => (RefundState::NotAccepted, ""),
        Some(other) => {
            return Err(malformed(
                operation,
                format!("unknown refund_status `{other}`"),
            ))
        }
    };
    Ok(RefundStatus {
        refund_no: r
            .out_request_no
            .clone()
            .unwrap_or_else(|| refund_no.to_string()),
        attempt_no: r.out_trade_no.clone(),
        provider_refund_id: None,
        state,
        provider_state: word.to_string(),
        amount: yuan(operation, r.refund_amount.as_deref())?,
        succeeded_at: time_of(operation, r.gmt_refund_pay.as_deref())?,
    })
}

/// A transfer answer or query as a [`TransferStatus`].
pub fn transferred(
    operation: &'static str,
    t: &Transferred,
    payout_no: &str,
) -> Result<TransferStatus, ProviderError> {
    let state = transfer_state(&t.status)
        .ok_or_else(|| malformed(operation, format!("unknown status `{}`", t.status)))?;
    Ok(TransferStatus {
        payout_no: Some(t.out_biz_no.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| payout_no.to_string()),
        provider_transfer_id: t.order_id.clone(),
        state,
        provider_state: t.status.clone(),
        amount: yuan(operation, t.trans_amount.as_deref())?,
        fail_reason: t.fail_reason.clone().filter(|s| !s.is_empty()),
        confirm_package: None,
        finished_at: if state == TransferState::Succeeded {
            time_of(operation, t.pay_date.as_deref().or(t.trans_date.as_deref()))?
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn common(code: &str, sub: Option<&str>) -> Common {
        Common {
            code: code.into(),
            msg: "Business Failed".into(),
            sub_code: sub.map(Into::into),
            sub_msg: sub.map(|_| "交易不存在".into()),
        }
    }

    #[test]
    fn error_codes_map_to_outcomes() {
        assert!(check_common("x", &common("10000", None), true).is_ok());
        assert!(check_common("x", &common("20000", None), true)
            .unwrap_err()
            .is_outcome_unknown());
        assert!(
            check_common("x", &common("40004", Some("ACQ.SYSTEM_ERROR")), true)
                .unwrap_err()
                .is_outcome_unknown()
        );
        assert!(matches!(
            check_common("x", &common("40004", Some("ACQ.TRADE_NOT_EXIST")), true),
            Err(ProviderError::NotFound { .. })
        ));
        let e =
            check_common("x", &common("40004", Some("ACQ.TRADE_HAS_SUCCESS")), true).unwrap_err();
        assert_eq!(e.provider_code(), Some("ACQ.TRADE_HAS_SUCCESS"));
        assert!(!e.is_outcome_unknown());
        let e = check_common("x", &common("40002", None), true).unwrap_err();
        assert_eq!(e.provider_code(), Some("40002"));
    }

    #[test]
    fn unverified_errors_are_unknown_outcomes_never_final() {
        for (code, sub) in [
            ("40004", Some("ACQ.TRADE_NOT_EXIST")),
            ("40004", Some("ORDER_NOT_EXIST")),
            ("40004", Some("ACQ.TRADE_HAS_SUCCESS")),
            ("40002", Some("isv.invalid-app-id")),
            ("40002", None),
            ("10000", None),
        ] {
            let e = check_common("x", &common(code, sub), false).unwrap_err();
            assert!(
                matches!(&e, ProviderError::Unknown { .. }),
                "{code} {sub:?}: {e:?}"
            );
            assert!(e.is_outcome_unknown());
            assert_eq!(e.provider_code(), None);
        }
    }
}
