//! The JSON resources the API returns and events carry. Built from store records;
//! field names here are the public contract.

use crate::time::rfc3339;
use paydesk_core::transition::StateMachine;
use paydesk_store::{EventStatus, NotificationAttempt, OutboxEvent, PayOrder};
use serde::Serialize;
use utoipa::ToSchema;

/// A pay order as the business API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PayOrderResource {
    /// paydesk's id (`po_...`).
    pub id: String,
    /// The business line's order number.
    pub business_order_no: String,
    /// `WAITING`, `PAID` or `CLOSED`.
    pub status: String,
    /// Amount in minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// What is paid for.
    pub subject: String,
    /// Sum refunded so far, minor units.
    pub refunded_amount: i64,
    /// Buyer id, if given.
    pub buyer_id: Option<String>,
    /// Seller id, if given.
    pub seller_id: Option<String>,
    /// Facts for the checkout rules.
    #[schema(value_type = Object)]
    pub facts: serde_json::Value,
    /// Free metadata, as sent.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    /// Where notifications go.
    pub notify_url: String,
    /// Where the buyer returns.
    pub return_url: Option<String>,
    /// The buyer-facing checkout link.
    pub checkout_url: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub expire_at: String,
    /// RFC 3339 UTC, once paid.
    pub paid_at: Option<String>,
    /// RFC 3339 UTC, once closed.
    pub closed_at: Option<String>,
    /// The part paid (or held to be paid) from the buyer's balance, for `BALANCE` and
    /// `COMBINED` payments; the provider's part is `amount` less it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub balance_part: Option<BalancePartResource>,
}

/// The balance part of a pay order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BalancePartResource {
    /// Whose balance.
    pub user_id: String,
    /// Minor units from the balance.
    pub amount: i64,
    /// Minor units paid through the provider (the order's amount less the balance part).
    pub provider_amount: i64,
    /// `HELD` (frozen, waiting for the provider part), `CAPTURED` (paid) or `RELEASED`
    /// (given back).
    pub status: String,
    /// Minor units of it refunded to the balance.
    pub refunded_amount: i64,
}

impl PayOrderResource {
    /// With the order's balance part, if it has one.
    pub fn with_balance_part(mut self, part: Option<&paydesk_store::BalancePart>) -> Self {
        self.balance_part = part.map(|p| BalancePartResource {
            user_id: p.user_id.clone(),
            amount: p.amount.minor(),
            provider_amount: self.amount - p.amount.minor(),
            status: paydesk_core::transition::StateMachine::as_str(p.status).to_owned(),
            refunded_amount: p.refunded_minor,
        });
        self
    }

    /// The resource for a stored order.
    pub fn new(o: &PayOrder, public_url: &str) -> Self {
        PayOrderResource {
            id: o.id.clone(),
            business_order_no: o.business_order_no.clone(),
            status: o.status.as_str().to_owned(),
            amount: o.amount.minor(),
            currency: o.amount.currency().code().to_owned(),
            subject: o.subject.clone(),
            refunded_amount: o.refunded_amount_minor,
            buyer_id: o.buyer_id.clone(),
            seller_id: o.seller_id.clone(),
            facts: serde_json::from_str(&o.facts_json).unwrap_or_default(),
            metadata: serde_json::from_str(&o.metadata_json).unwrap_or_default(),
            notify_url: o.notify_url.clone(),
            return_url: o.return_url.clone(),
            checkout_url: format!("{public_url}/checkout/{}", o.checkout_token),
            created_at: rfc3339(o.created_at_ms),
            expire_at: rfc3339(o.expire_at_ms),
            paid_at: o.paid_at_ms.map(rfc3339),
            closed_at: o.closed_at_ms.map(rfc3339),
            balance_part: None,
        }
    }
}

/// The body of a business notification (the exact bytes are stored in the outbox).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EventBody<T: Serialize> {
    /// Event id: dedupe on it, delivery is at-least-once.
    pub id: String,
    /// e.g. `pay_order.closed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// The resource the event is about.
    pub data: T,
}

/// One delivery try, as listed for a business line.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttemptResource {
    /// 1-based over the event's life.
    pub attempt_no: i64,
    /// RFC 3339 UTC.
    pub started_at: String,
    /// How long the request took.
    pub duration_ms: i64,
    /// HTTP status, if a response came.
    pub http_status: Option<i64>,
    /// Whether it was acknowledged (`2xx` and body `SUCCESS`).
    pub succeeded: bool,
    /// What went wrong.
    pub error: Option<String>,
}

/// A notification with its delivery history.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationResource {
    /// Event id.
    pub id: String,
    /// Event type.
    #[serde(rename = "type")]
    pub event_type: String,
    /// `PENDING`, `DELIVERED` or `FAILED`.
    pub status: String,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// When the next try is due (pending only).
    pub next_attempt_at: Option<String>,
    /// When it was acknowledged.
    pub delivered_at: Option<String>,
    /// The last failure.
    pub last_error: Option<String>,
    /// Tries so far, oldest first.
    pub attempts: Vec<AttemptResource>,
}

impl NotificationResource {
    /// The resource for an event and its tries.
    pub fn new(e: &OutboxEvent, attempts: &[NotificationAttempt]) -> Self {
        NotificationResource {
            id: e.id.clone(),
            event_type: e.event_type.as_str().to_owned(),
            status: e.status.as_str().to_owned(),
            created_at: rfc3339(e.created_at_ms),
            next_attempt_at: (e.status == EventStatus::Pending)
                .then(|| rfc3339(e.next_attempt_at_ms)),
            delivered_at: e.delivered_at_ms.map(rfc3339),
            last_error: e.last_error.clone(),
            attempts: attempts
                .iter()
                .map(|a| AttemptResource {
                    attempt_no: a.attempt_no,
                    started_at: rfc3339(a.started_at_ms),
                    duration_ms: a.duration_ms,
                    http_status: a.http_status,
                    succeeded: a.succeeded,
                    error: a.error.clone(),
                })
                .collect(),
        }
    }
}

/// A list wrapper.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct NotificationList {
    /// The notifications, oldest first.
    pub data: Vec<NotificationResource>,
}

/// A payment attempt: one provider order for a pay order.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PaymentAttemptResource {
    /// paydesk's id (`pa_...`).
    pub id: String,
    /// Our number at the provider (`out_trade_no`).
    pub attempt_no: String,
    /// `wechatpay` or `alipay`.
    pub provider: String,
    /// Our merchant account id.
    pub merchant_account: String,
    /// The checkout method (`WECHAT_PAY`...).
    pub method: String,
    /// The provider product (`NATIVE`, `PAGE`...).
    pub product: String,
    /// Amount asked, minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// `CREATING`, `PENDING`, `SUCCEEDED`, `CLOSED` or `FAILED`.
    pub status: String,
    /// The provider's transaction id.
    pub provider_txn_id: Option<String>,
    /// What the provider reported as paid, minor units.
    pub paid_amount: Option<i64>,
    /// Why a succeeded attempt is not the order's payment: `DUPLICATE`, `LATE`,
    /// `AMOUNT_MISMATCH`.
    pub flag: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC, when paid.
    pub paid_at: Option<String>,
}

impl PaymentAttemptResource {
    /// The resource for a stored attempt.
    pub fn new(a: &paydesk_store::Attempt) -> Self {
        PaymentAttemptResource {
            id: a.id.clone(),
            attempt_no: a.attempt_no.clone(),
            provider: a.provider.as_str().to_owned(),
            merchant_account: a.merchant_account.clone(),
            method: a.method.clone(),
            product: a.product.clone(),
            amount: a.amount.minor(),
            currency: a.amount.currency().code().to_owned(),
            status: paydesk_core::transition::StateMachine::as_str(a.status).to_owned(),
            provider_txn_id: a.provider_txn_id.clone(),
            paid_amount: a.paid_amount_minor,
            flag: a.flag.map(|f| f.as_str().to_owned()),
            created_at: rfc3339(a.created_at_ms),
            paid_at: a.paid_at_ms.map(rfc3339),
        }
    }
}

/// A refund.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RefundResource {
    /// paydesk's id (`rf_...`).
    pub id: String,
    /// The pay order.
    pub pay_order_id: String,
    /// The business line's order number.
    pub business_order_no: String,
    /// The business line's refund number (business refunds only).
    pub business_refund_no: Option<String>,
    /// `BUSINESS`, or why paydesk refunded on its own: `DUPLICATE`, `LATE`,
    /// `AMOUNT_MISMATCH`.
    pub kind: String,
    /// Minor units.
    pub amount: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// `PENDING`, `PROCESSING`, `SUCCEEDED`, `FAILED` or `ABNORMAL` (needs offline handling).
    pub status: String,
    /// Shown to the buyer.
    pub reason: Option<String>,
    /// The last problem, when there was one.
    pub last_error: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC, when the money went back.
    pub succeeded_at: Option<String>,
    /// Minor units of `amount` returned to the buyer's balance (an order paid partly
    /// from it); the provider returns the rest.
    pub balance_amount: i64,
}

impl RefundResource {
    /// The resource for a stored refund.
    pub fn new(r: &paydesk_store::Refund, business_order_no: &str) -> Self {
        RefundResource {
            id: r.id.clone(),
            pay_order_id: r.pay_order_id.clone(),
            business_order_no: business_order_no.to_owned(),
            business_refund_no: r.business_refund_no.clone(),
            kind: r.kind.as_str().to_owned(),
            amount: r.amount.minor(),
            currency: r.amount.currency().code().to_owned(),
            status: paydesk_core::transition::StateMachine::as_str(r.status).to_owned(),
            reason: r.reason.clone(),
            last_error: r.last_error.clone(),
            created_at: rfc3339(r.created_at_ms),
            succeeded_at: r.succeeded_at_ms.map(rfc3339),
            balance_amount: r.balance_amount_minor,
        }
    }
}

/// A payout (打款) or withdrawal (提现) as the business API shows it and `payout.*`
/// events carry it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PayoutResource {
    /// paydesk's id (`pt_...`).
    pub id: String,
    /// `PAYOUT` (platform money) or `WITHDRAWAL` (a user's or seller's balance).
    pub kind: String,
    /// Your payout number (the idempotency key).
    pub business_payout_no: String,
    /// Our number at the provider (WeChat `out_bill_no`, Alipay `out_biz_no`), the same
    /// on every retry.
    pub payout_no: String,
    /// `ACCEPTED`, `PROCESSING`, `WAIT_USER_CONFIRM`, `SUCCEEDED`, `FAILED` or `CANCELLED`.
    pub status: String,
    /// `wechatpay` or `alipay`.
    pub provider: String,
    /// The merchant account that sends the money.
    pub merchant_account: String,
    /// The recipient at the provider (openid, Alipay user id or login).
    pub recipient: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// Shown to the recipient.
    pub remark: String,
    /// Where `payout.*` notifications go.
    pub notify_url: String,
    /// For a withdrawal: whose balance (`USER` or `SELLER`).
    pub owner_kind: Option<String>,
    /// For a withdrawal: the user or seller id.
    pub owner_id: Option<String>,
    /// WeChat's confirm-receipt data while `WAIT_USER_CONFIRM`: hand it to the user's
    /// client to open the confirmation page.
    pub package_info: Option<String>,
    /// The provider's id of the transfer, once known.
    pub provider_transfer_id: Option<String>,
    /// Why it failed (the provider's code), when it did.
    pub failure_code: Option<String>,
    /// The provider's words about the failure.
    pub failure_message: Option<String>,
    /// RFC 3339 UTC.
    pub created_at: String,
    /// RFC 3339 UTC.
    pub updated_at: String,
    /// RFC 3339 UTC, once final.
    pub finished_at: Option<String>,
}

impl PayoutResource {
    /// The resource for a stored payout; `funding` is the ledger account it is funded
    /// from (shown for withdrawals).
    pub fn new(p: &paydesk_store::Payout, funding: Option<&paydesk_core::AccountRef>) -> Self {
        let owner = funding
            .filter(|_| p.kind == paydesk_core::PayoutKind::Withdrawal)
            .map(|a| {
                let kind = match a.kind() {
                    paydesk_core::AccountKind::SellerAvailable => "SELLER",
                    _ => "USER",
                };
                (kind.to_owned(), a.owner_id().to_owned())
            });
        PayoutResource {
            id: p.id.clone(),
            kind: p.kind.as_str().to_owned(),
            business_payout_no: p.business_payout_no.clone(),
            payout_no: p.payout_no.clone(),
            status: p.status.as_str().to_owned(),
            provider: p.provider.as_str().to_owned(),
            merchant_account: p.merchant_account.clone(),
            recipient: p.recipient.clone(),
            amount_minor: p.amount.minor(),
            currency: p.amount.currency().code().to_owned(),
            remark: p.remark.clone(),
            notify_url: p.notify_url.clone(),
            owner_kind: owner.as_ref().map(|o| o.0.clone()),
            owner_id: owner.map(|o| o.1),
            package_info: p
                .package_info
                .clone()
                .filter(|_| p.status == paydesk_core::PayoutStatus::WaitUserConfirm),
            provider_transfer_id: p.provider_transfer_id.clone(),
            failure_code: p.failure_code.clone(),
            failure_message: p.failure_message.clone(),
            created_at: rfc3339(p.created_at_ms),
            updated_at: rfc3339(p.updated_at_ms),
            finished_at: p.finished_at_ms.map(rfc3339),
        }
    }
}

/// A balance: what can be spent or withdrawn and what is held for transfers in flight.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BalanceResource {
    /// `USER` or `SELLER`.
    pub owner_kind: String,
    /// The user or seller id.
    pub owner_id: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Spendable or withdrawable now, minor units.
    pub available_minor: i64,
    /// Held (frozen) for withdrawals or payments in flight, minor units.
    pub held_minor: i64,
}

/// One line of a balance's statement (newest first).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatementLineResource {
    /// The journal entry.
    pub entry_id: String,
    /// Why the money moved: `SETTLEMENT`, `HOLD`, `RELEASE`, `WITHDRAWAL_DEBIT`, ...
    pub entry_kind: String,
    /// The business record (settlement number, payout id).
    pub reference: String,
    /// Signed minor units on the available balance.
    pub amount_minor: i64,
    /// The available balance right after, minor units.
    pub balance_after_minor: i64,
    /// The cursor: pass it as `before` for the next (older) page.
    pub sequence: i64,
    /// RFC 3339 UTC.
    pub created_at: String,
}

/// A page of a statement.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct StatementResource {
    /// The balance now.
    pub balance: BalanceResource,
    /// Lines of the available balance, newest first.
    pub lines: Vec<StatementLineResource>,
    /// Pass as `before` for the next page; `None` on the last page.
    pub next_before: Option<i64>,
}

/// A settlement of a paid order to its seller.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SettlementResource {
    /// Your settlement number.
    pub business_settlement_no: String,
    /// The settled pay order.
    pub pay_order_id: String,
    /// The seller credited.
    pub seller_id: String,
    /// The order's amount, minor units.
    pub gross_minor: i64,
    /// What the platform kept, minor units.
    pub commission_minor: i64,
    /// What the seller received, minor units.
    pub seller_minor: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// The journal entry that moved it.
    pub entry_id: String,
    /// RFC 3339 UTC.
    pub created_at: String,
}
