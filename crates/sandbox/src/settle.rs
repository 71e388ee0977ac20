//! State changes made by the "buyer" (pay, fail, let expire), by time (refunds and
//! transfers settling) and the callbacks they cause.

use crate::app::{alipay_time, now_ms, now_unix, random_digits, wechat_time, App};
use crate::callbacks;
use crate::state::{Db, Order, OrderStatus, Provider, RefundRec, TransferRec};
use serde::Deserialize;
use serde_json::json;

/// Seconds (provider time, divided by the time scale) before a WeChat refund leaves PROCESSING.
pub const WECHAT_REFUND_SETTLE_SECS: f64 = 5.0;
/// Seconds before an automatic WeChat transfer settles.
pub const WECHAT_TRANSFER_SETTLE_SECS: f64 = 5.0;

/// Seconds before a cancelled (`CANCELING`) WeChat transfer becomes `CANCELLED`.
pub const WECHAT_TRANSFER_CANCEL_SECS: f64 = 3.0;

/// Options of a payment (control API body; every field optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PayOptions {
    /// Merchant (mchid / app_id) when the order number is not unique.
    #[serde(default)]
    pub merchant: Option<String>,
    /// Fault: report success with this amount (fen) instead of the order's.
    #[serde(default)]
    pub amount: Option<i64>,
    /// Fault: pay even if already paid or closed (a second success callback, new ids).
    #[serde(default)]
    pub force: bool,
    /// Payer (openid / Alipay buyer id).
    #[serde(default)]
    pub payer: Option<String>,
}

/// Why an action was refused.
#[derive(Debug, thiserror::Error)]
pub enum ActionError {
    /// No such record.
    #[error("not found: {0}")]
    NotFound(String),
    /// The order number exists for several merchants.
    #[error("ambiguous: {0} exists for several merchants, pass `merchant`")]
    Ambiguous(String),
    /// The record is not in a state that allows it.
    #[error("conflict: {0}")]
    Conflict(String),
}

fn pick(
    db: &Db,
    provider: Provider,
    merchant: Option<&str>,
    no: &str,
) -> Result<String, ActionError> {
    let found = db.find_orders(provider, merchant, no);
    match found.as_slice() {
        [] => Err(ActionError::NotFound(format!(
            "{} order {no}",
            provider.as_str()
        ))),
        [one] => Ok(one.key()),
        _ => Err(ActionError::Ambiguous(no.to_string())),
    }
}

/// A WeChat `transaction_id`.
pub fn new_wechat_txn_id() -> String {
    format!("4200{}", random_digits(24))
}

/// An Alipay `trade_no`.
pub fn new_alipay_trade_no() -> String {
    format!(
        "{}22001{}",
        crate::app::china_date_compact(now_unix()),
        random_digits(15)
    )
}

/// WeChat transaction JSON (as queried and as notified).
pub fn wechat_transaction(o: &Order) -> serde_json::Value {
    let mut v = json!({
        "appid": o.appid,
        "mchid": o.merchant,
        "out_trade_no": o.out_trade_no,
        "trade_type": o.product,
        "trade_state": o.wechat_trade_state(),
        "trade_state_desc": match o.wechat_trade_state() {
            "SUCCESS" => "支付成功",
            "REFUND" => "转入退款",
            "NOTPAY" => "未支付",
            "CLOSED" => "已关闭",
            _ => "支付失败，请重新下单支付",
        },
        "attach": o.attach.clone().unwrap_or_default(),
        "amount": { "total": o.total, "currency": "CNY" },
        "promotion_detail": [],
    });
    if let Some(id) = &o.txn_id {
        v["transaction_id"] = json!(id);
    }
    if matches!(o.status, OrderStatus::Paid) {
        v["bank_type"] = json!("OTHERS");
        v["success_time"] = json!(wechat_time(o.paid_at.unwrap_or(o.created_at)));
        v["amount"] = json!({
            "total": o.paid(),
            "payer_total": o.paid(),
            "currency": "CNY",
            "payer_currency": "CNY",
        });
        v["payer"] = json!({ "openid": o.payer.clone().unwrap_or_else(|| "oSandboxPayer0000000000000000".into()) });
    } else if let Some(p) = &o.payer {
        v["payer"] = json!({ "openid": p });
    }
    v
}

fn alipay_notify_params(app: &App, o: &Order) -> Vec<(String, String)> {
    let seller = app
        .merchants
        .alipay(&o.merchant)
        .map(|m| m.file.seller_id.clone())
        .unwrap_or_default();
    let yuan = |fen: i64| paydesk_providers::amount::fen_to_yuan(fen).unwrap_or_default();
    let paid_at = alipay_time(o.paid_at.unwrap_or_else(now_unix));
    let mut p: Vec<(String, String)> = vec![
        ("gmt_create".into(), alipay_time(o.created_at)),
        ("charset".into(), "utf-8".into()),
        ("subject".into(), o.subject.clone()),
        (
            "buyer_id".into(),
            o.payer.clone().unwrap_or_else(|| "2088000000000001".into()),
        ),
        ("buyer_logon_id".into(), "san***@example.com".into()),
        ("invoice_amount".into(), yuan(o.paid())),
        (
            "notify_id".into(),
            format!("2024{}", crate::app::random_token().to_ascii_lowercase()),
        ),
        (
            "fund_bill_list".into(),
            format!(
                "[{{\"amount\":\"{}\",\"fundChannel\":\"ALIPAYACCOUNT\"}}]",
                yuan(o.paid())
            ),
        ),
        ("notify_type".into(), "trade_status_sync".into()),
        ("trade_status".into(), o.alipay_trade_status().into()),
        ("receipt_amount".into(), yuan(o.paid())),
        ("buyer_pay_amount".into(), yuan(o.paid())),
        ("app_id".into(), o.merchant.clone()),
        ("auth_app_id".into(), o.merchant.clone()),
        ("seller_id".into(), seller),
        ("gmt_payment".into(), paid_at),
        ("notify_time".into(), alipay_time(now_unix())),
        ("version".into(), "1.0".into()),
        ("out_trade_no".into(), o.out_trade_no.clone()),
        ("total_amount".into(), yuan(o.paid())),
        ("trade_no".into(), o.txn_id.clone().unwrap_or_default()),
        ("point_amount".into(), "0.00".into()),
    ];
    if let Some(pb) = &o.attach {
        p.push(("passback_params".into(), pb.clone()));
    }
    p
}

/// Queues the payment callback of `o` (if it has a notify URL).
pub fn queue_payment_callback(app: &App, db: &mut Db, o: &Order) {
    let Some(url) = o.notify_url.clone() else {
        return;
    };
    let cb = match o.provider {
        Provider::Wechatpay => callbacks::wechat(
            &o.merchant,
            &o.out_trade_no,
            &url,
            "TRANSACTION.SUCCESS",
            "支付成功",
            "transaction",
            wechat_transaction(o).to_string(),
        ),
        Provider::Alipay => callbacks::alipay(
            &o.merchant,
            &o.out_trade_no,
            &url,
            "trade_status_sync",
            alipay_notify_params(app, o),
        ),
    };
    callbacks::enqueue(app, db, cb);
}

/// Pays an order (wallet "Pay" or control API).
pub fn pay(
    app: &App,
    provider: Provider,
    no: &str,
    opts: &PayOptions,
) -> Result<Order, ActionError> {
    app.write(|db| {
        let key = pick(db, provider, opts.merchant.as_deref(), no)?;
        let mut o = db.orders[&key].clone();
        expire_if_due(&mut o);
        match o.status {
            OrderStatus::Pending | OrderStatus::Failed => {}
            OrderStatus::Paid | OrderStatus::Closed if opts.force => {}
            OrderStatus::Paid => {
                return Err(ActionError::Conflict(format!("{no} is already paid")))
            }
            OrderStatus::Closed => return Err(ActionError::Conflict(format!("{no} is closed"))),
        }
        let now = now_unix();
        o.status = OrderStatus::Paid;
        o.paid_at = Some(now);
        o.finished_at = None;
        o.times_paid += 1;
        o.paid_amount = opts.amount.filter(|a| *a != o.total);
        if let Some(p) = &opts.payer {
            o.payer = Some(p.clone());
        }
        // A forced second payment is a new transaction at WeChat; Alipay keeps its trade_no.
        if o.txn_id.is_none() || (opts.force && provider == Provider::Wechatpay) {
            o.txn_id = Some(match provider {
                Provider::Wechatpay => new_wechat_txn_id(),
                Provider::Alipay => new_alipay_trade_no(),
            });
        }
        if o.payer.is_none() {
            o.payer = Some(match provider {
                Provider::Wechatpay => format!("oSandbox{}", random_digits(20)),
                Provider::Alipay => format!("2088{}", random_digits(12)),
            });
        }
        db.insert_order(o.clone());
        queue_payment_callback(app, db, &o);
        Ok(o)
    })
}

/// The buyer's payment fails (WeChat PAYERROR; Alipay stays WAIT_BUYER_PAY).
pub fn fail(
    app: &App,
    provider: Provider,
    no: &str,
    merchant: Option<&str>,
) -> Result<Order, ActionError> {
    app.write(|db| {
        let key = pick(db, provider, merchant, no)?;
        let o = db
            .orders
            .get_mut(&key)
            .ok_or_else(|| ActionError::NotFound(no.into()))?;
        expire_if_due(o);
        if o.status != OrderStatus::Pending {
            return Err(ActionError::Conflict(format!("{no} is not pending")));
        }
        o.status = OrderStatus::Failed;
        o.finished_at = Some(now_unix());
        Ok(o.clone())
    })
}

/// Lets an order expire now (closed, as at its `time_expire`).
pub fn expire(
    app: &App,
    provider: Provider,
    no: &str,
    merchant: Option<&str>,
) -> Result<Order, ActionError> {
    app.write(|db| {
        let key = pick(db, provider, merchant, no)?;
        let o = db
            .orders
            .get_mut(&key)
            .ok_or_else(|| ActionError::NotFound(no.into()))?;
        if !matches!(o.status, OrderStatus::Pending | OrderStatus::Failed) {
            return Err(ActionError::Conflict(format!("{no} is not pending")));
        }
        o.status = OrderStatus::Closed;
        o.expires_at = o.expires_at.min(now_unix());
        o.finished_at = Some(now_unix());
        Ok(o.clone())
    })
}

/// A pending order past its expiry is closed.
pub fn expire_if_due(o: &mut Order) -> bool {
    if matches!(o.status, OrderStatus::Pending | OrderStatus::Failed) && now_unix() >= o.expires_at
    {
        o.status = OrderStatus::Closed;
        o.finished_at = Some(o.expires_at);
        return true;
    }
    false
}

/// WeChat refund JSON (answer and query).
pub fn wechat_refund(r: &RefundRec) -> serde_json::Value {
    let mut v = json!({
        "refund_id": r.refund_id,
        "out_refund_no": r.out_refund_no,
        "transaction_id": r.txn_id.clone().unwrap_or_default(),
        "out_trade_no": r.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
        "create_time": wechat_time(r.created_at),
        "status": r.status,
        "funds_account": "AVAILABLE",
        "amount": {
            "total": r.total,
            "refund": r.amount,
            "payer_total": r.total,
            "payer_refund": r.amount,
            "settlement_refund": r.amount,
            "settlement_total": r.total,
            "discount_refund": 0,
            "currency": "CNY",
            "refund_fee": 0,
        },
        "promotion_detail": [],
    });
    if let Some(t) = r.success_at {
        v["success_time"] = json!(wechat_time(t));
    }
    v
}

/// WeChat transfer bill JSON (query and callback).
pub fn wechat_transfer(t: &TransferRec) -> serde_json::Value {
    let mut v = json!({
        "mch_id": t.merchant,
        "out_bill_no": t.out_bill_no,
        "transfer_bill_no": t.bill_no,
        "appid": t.appid,
        "state": t.state,
        "transfer_amount": t.amount,
        "transfer_remark": t.remark,
        "openid": t.payee,
        "create_time": wechat_time(t.created_at),
        "update_time": wechat_time(t.updated_at),
    });
    if let Some(r) = &t.fail_reason {
        v["fail_reason"] = json!(r);
    }
    if let Some(r) = &t.payee_name {
        v["user_name"] = json!(format!("{}*", r.chars().next().unwrap_or('*')));
    }
    v
}

fn transfer_finished(app: &App, db: &mut Db, t: &TransferRec) {
    if t.provider != Provider::Wechatpay {
        return;
    }
    if let Some(url) = &t.notify_url {
        let cb = callbacks::wechat(
            &t.merchant,
            &t.out_bill_no,
            url,
            "MCHTRANSFER.BILL.FINISHED",
            "商家转账单据终态通知",
            "mch_payment",
            wechat_transfer(t).to_string(),
        );
        callbacks::enqueue(app, db, cb);
    }
}

/// Ends a transfer that is waiting (WeChat: confirmed by the user -> SUCCESS; `fail` -> FAIL).
pub fn finish_transfer(
    app: &App,
    provider: Provider,
    no: &str,
    merchant: Option<&str>,
    succeed: bool,
) -> Result<TransferRec, ActionError> {
    app.write(|db| {
        let key = db
            .transfers
            .iter()
            .filter(|(_, t)| {
                t.provider == provider
                    && t.out_bill_no == no
                    && merchant.is_none_or(|m| m == t.merchant)
            })
            .map(|(k, _)| k.clone())
            .next()
            .ok_or_else(|| ActionError::NotFound(format!("transfer {no}")))?;
        let t = db
            .transfers
            .get_mut(&key)
            .ok_or_else(|| ActionError::NotFound(no.into()))?;
        if matches!(
            t.state.as_str(),
            "SUCCESS" | "FAIL" | "CANCELING" | "CANCELLED"
        ) {
            return Err(ActionError::Conflict(format!(
                "transfer {no} is {}",
                t.state
            )));
        }
        t.state = if succeed { "SUCCESS" } else { "FAIL" }.into();
        if !succeed {
            t.fail_reason = Some(match provider {
                Provider::Wechatpay => "TRANSFER_QUOTA_EXCEED".into(),
                Provider::Alipay => "PAYEE_ACCOUNT_STATUS_ERROR".into(),
            });
        }
        t.settle_at_ms = None;
        t.package_info = None;
        t.updated_at = now_unix();
        let t = t.clone();
        transfer_finished(app, db, &t);
        Ok(t)
    })
}

/// Settles refunds and automatic transfers whose time has come.
pub fn settle_due(app: &App) {
    let now = now_ms();
    let due = {
        let db = app.db();
        db.refunds
            .values()
            .any(|r| r.settle_at_ms.is_some_and(|t| t <= now))
            || db
                .transfers
                .values()
                .any(|t| t.settle_at_ms.is_some_and(|t| t <= now))
    };
    if !due {
        return;
    }
    app.write(|db| {
        let keys: Vec<String> = db
            .refunds
            .iter()
            .filter(|(_, r)| r.settle_at_ms.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        let outcome = match db.settings.wechat_refund_outcome.as_str() {
            "ABNORMAL" => "ABNORMAL",
            "CLOSED" => "CLOSED",
            _ => "SUCCESS",
        };
        for k in keys {
            let Some(r) = db.refunds.get_mut(&k) else { continue };
            let outcome = if r.provider == Provider::Wechatpay { outcome } else { "SUCCESS" };
            r.status = outcome.into();
            r.success_at = (outcome == "SUCCESS").then(now_unix);
            r.settle_at_ms = None;
            let r = r.clone();
            if outcome == "CLOSED" {
                // A closed refund moved no money: its amount is refundable again.
                let key = crate::state::order_key(r.provider, &r.merchant, &r.out_trade_no);
                if let Some(o) = db.orders.get_mut(&key) {
                    o.refunded = o.refunded.saturating_sub(r.amount);
                }
            }
            if outcome != "SUCCESS" {
                if let Some(url) = &r.notify_url {
                    let body = json!({
                        "mchid": r.merchant,
                        "out_trade_no": r.out_trade_no,
                        "transaction_id": r.txn_id.clone().unwrap_or_default(),
                        "out_refund_no": r.out_refund_no,
                        "refund_id": r.refund_id,
                        "refund_status": outcome,
                        "user_received_account": "支付用户零钱",
                        "amount": { "total": r.total, "refund": r.amount, "payer_total": r.total, "payer_refund": r.amount },
                    });
                    let (event, summary) = if outcome == "ABNORMAL" {
                        ("REFUND.ABNORMAL", "退款异常")
                    } else {
                        ("REFUND.CLOSED", "退款关闭")
                    };
                    let cb = callbacks::wechat(
                        &r.merchant,
                        &r.out_refund_no,
                        url,
                        event,
                        summary,
                        "refund",
                        body.to_string(),
                    );
                    callbacks::enqueue(app, db, cb);
                }
                continue;
            }
            if let Some(url) = &r.notify_url {
                let body = json!({
                    "mchid": r.merchant,
                    "out_trade_no": r.out_trade_no,
                    "transaction_id": r.txn_id.clone().unwrap_or_default(),
                    "out_refund_no": r.out_refund_no,
                    "refund_id": r.refund_id,
                    "refund_status": "SUCCESS",
                    "success_time": wechat_time(now_unix()),
                    "user_received_account": "支付用户零钱",
                    "amount": { "total": r.total, "refund": r.amount, "payer_total": r.total, "payer_refund": r.amount },
                });
                let cb = callbacks::wechat(
                    &r.merchant,
                    &r.out_refund_no,
                    url,
                    "REFUND.SUCCESS",
                    "退款成功",
                    "refund",
                    body.to_string(),
                );
                callbacks::enqueue(app, db, cb);
            }
        }
        let keys: Vec<String> = db
            .transfers
            .iter()
            .filter(|(_, t)| t.settle_at_ms.is_some_and(|t| t <= now))
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            let Some(t) = db.transfers.get_mut(&k) else { continue };
            // A cancel being processed ends cancelled; an automatic transfer pays.
            t.state = if t.state == "CANCELING" {
                "CANCELLED"
            } else {
                "SUCCESS"
            }
            .into();
            t.settle_at_ms = None;
            t.updated_at = now_unix();
            let t = t.clone();
            transfer_finished(app, db, &t);
        }
    });
}

/// The earliest settle time, unix milliseconds.
pub fn next_due_ms(db: &Db) -> Option<i64> {
    db.refunds
        .values()
        .filter_map(|r| r.settle_at_ms)
        .chain(db.transfers.values().filter_map(|t| t.settle_at_ms))
        .min()
}
