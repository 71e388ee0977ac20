//! Records of the acquiring flow: attempts (one provider order each), refunds and the raw
//! provider callbacks kept for audit.

use crate::{NewEvent, PayOrder};
use paydesk_core::{Amount, AttemptFlag, AttemptStatus, Provider, RefundKind, RefundStatus};

/// A new attempt: one provider order (`out_trade_no` = `attempt_no`) for a pay order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttempt {
    /// Id (`pa_...`).
    pub id: String,
    /// The order it pays.
    pub pay_order_id: String,
    /// Our number at the provider; unique across all time and both tiers (its key row in
    /// `attempt_keys` is never archived).
    pub attempt_no: String,
    /// Our merchant account id (`wx-main`), from the rule engine's route.
    pub merchant_account: String,
    /// The provider.
    pub provider: Provider,
    /// The checkout method chosen (`WECHAT_PAY`, `ALIPAY_INSTALLMENT`...), for display.
    pub method: String,
    /// The provider product (`NATIVE`, `PAGE`...), for display and queries.
    pub product: String,
    /// The amount: always the order's.
    pub amount: Amount,
    /// Creation time.
    pub created_at_ms: i64,
    /// When the active-query worker first looks at it.
    pub next_query_at_ms: i64,
}

/// A stored attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    /// Id (`pa_...`).
    pub id: String,
    /// The order it pays.
    pub pay_order_id: String,
    /// Our number at the provider (`out_trade_no`).
    pub attempt_no: String,
    /// Our merchant account id.
    pub merchant_account: String,
    /// The provider.
    pub provider: Provider,
    /// The checkout method.
    pub method: String,
    /// The provider product.
    pub product: String,
    /// The amount asked.
    pub amount: Amount,
    /// State.
    pub status: AttemptStatus,
    /// The provider's transaction id, once known.
    pub provider_txn_id: Option<String>,
    /// The amount the provider reported as paid (minor units, attempt currency).
    pub paid_amount_minor: Option<i64>,
    /// Set when a succeeded attempt is not its order's payment.
    pub flag: Option<AttemptFlag>,
    /// When the provider says it was paid.
    pub paid_at_ms: Option<i64>,
    /// When the active-query worker looks next (`None`: not scheduled).
    pub next_query_at_ms: Option<i64>,
    /// Queries made by the active-query worker.
    pub queries_made: i64,
    /// Creation time.
    pub created_at_ms: i64,
    /// Last change.
    pub updated_at_ms: i64,
    /// Optimistic-concurrency guard, bumped by every change.
    pub version: i64,
}

/// Why an attempt could not be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateAttemptOutcome {
    /// Written in state `CREATING`.
    Created(Attempt),
    /// The order is not `WAITING` or has expired; carries it as it is.
    OrderNotPayable(Option<PayOrder>),
    /// The order already has `max_attempts` attempts.
    TooManyAttempts,
    /// Another attempt of this order is still open (`CREATING`/`PENDING`): close it first.
    OpenAttemptExists(Attempt),
}

/// A non-success change of an attempt's state (success goes through
/// [`crate::Store::record_payment_success`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptUpdate {
    /// Expected current state (the conditional update's guard).
    pub from: AttemptStatus,
    /// New state: `PENDING`, `CLOSED` or `FAILED`.
    pub to: AttemptStatus,
    /// The provider's transaction id, if it told us one.
    pub provider_txn_id: Option<String>,
    /// Next active query (`None`: stop querying).
    pub next_query_at_ms: Option<i64>,
    /// The time of the change.
    pub now_ms: i64,
}

/// A provider's verified report that an attempt was paid (from a callback confirmed by a
/// query, or from the active query).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentSuccess {
    /// The attempt.
    pub attempt_id: String,
    /// The provider's transaction id.
    pub provider_txn_id: Option<String>,
    /// The amount the provider reports (same currency as the attempt).
    pub paid_amount_minor: i64,
    /// When the provider says it was paid.
    pub paid_at_ms: i64,
    /// Now.
    pub now_ms: i64,
    /// The `pay_order.paid` event, written only if this payment becomes the order's.
    pub paid_event: NewEvent,
    /// The refund to record if the money is not the order's (duplicate, late, wrong
    /// amount). Its amount must be `paid_amount_minor`; its kind is set by the store.
    pub auto_refund: NewRefund,
    /// Hold a wrong-amount payment for an operator instead of refunding it.
    pub hold_amount_mismatch: bool,
}

/// What recording a success did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentOutcome {
    /// The attempt succeeded and the order became `PAID`; the paid event was written.
    Paid {
        /// The order after the change.
        order: PayOrder,
        /// The attempt after the change.
        attempt: Attempt,
    },
    /// The attempt had already been recorded as succeeded: nothing changed.
    AlreadyRecorded(Attempt),
    /// The attempt succeeded but is not the order's payment (flag set); the automatic
    /// refund was recorded unless the payment is held (`refund` is `None` then).
    NotTheOrdersPayment {
        /// The attempt after the change, with its flag.
        attempt: Attempt,
        /// The automatic refund, `PENDING`.
        refund: Option<Refund>,
    },
    /// No such attempt.
    UnknownAttempt,
}

/// A refund to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefund {
    /// Id (`rf_...`).
    pub id: String,
    /// The order.
    pub pay_order_id: String,
    /// The attempt whose money is returned.
    pub attempt_id: String,
    /// Our refund number at the provider (`out_refund_no` / `out_request_no`); unique
    /// across all time (its key row is never archived).
    pub refund_no: String,
    /// The business line's own refund number (business refunds only): the idempotency key
    /// within the line, in `refund_keys` (never archived).
    pub business_refund_no: Option<String>,
    /// Why.
    pub kind: RefundKind,
    /// How much now.
    pub amount: Amount,
    /// Shown to the buyer.
    pub reason: Option<String>,
    /// Creation time; the first try is due at once.
    pub created_at_ms: i64,
    /// For an order paid partly from the balance: which part the refund takes first
    /// (ignored otherwise).
    pub funds: paydesk_core::RefundFunds,
}

/// A stored refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// Id (`rf_...`).
    pub id: String,
    /// The order's business line.
    pub business_line_id: String,
    /// The order.
    pub pay_order_id: String,
    /// The attempt whose money is returned.
    pub attempt_id: String,
    /// Our refund number at the provider.
    pub refund_no: String,
    /// The business line's refund number, for business refunds.
    pub business_refund_no: Option<String>,
    /// Why.
    pub kind: RefundKind,
    /// How much.
    pub amount: Amount,
    /// Shown to the buyer.
    pub reason: Option<String>,
    /// State.
    pub status: RefundStatus,
    /// The provider's refund id, once known.
    pub provider_refund_id: Option<String>,
    /// Calls made to the provider for it (create and query).
    pub tries: i64,
    /// When the refund worker acts next (`None`: nothing to do).
    pub next_action_at_ms: Option<i64>,
    /// The last problem, for operators (`FREQUENCY_LIMITED`, `NOT_ENOUGH`, a timeout...).
    pub last_error: Option<String>,
    /// Creation time.
    pub created_at_ms: i64,
    /// Last change.
    pub updated_at_ms: i64,
    /// When the money went back.
    pub succeeded_at_ms: Option<i64>,
    /// Optimistic-concurrency guard.
    pub version: i64,
    /// The part of `amount` that goes back to the buyer's balance (a combined or balance
    /// order); the provider is asked for the rest ([`Refund::provider_amount_minor`]).
    pub balance_amount_minor: i64,
}

impl Refund {
    /// What the provider is asked to return: the amount less its balance part.
    pub fn provider_amount_minor(&self) -> i64 {
        self.amount.minor() - self.balance_amount_minor
    }
}

/// What asking for a business refund did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateRefundOutcome {
    /// Recorded `PENDING`; the amount is reserved against the order.
    Created(Refund),
    /// This business refund number was already used; this is its refund (whatever its
    /// amount: the caller compares).
    Existing(Refund),
    /// The order is not `PAID` (or does not exist).
    OrderNotPaid(Option<PayOrder>),
    /// Paid minus already refunded (including refunds in flight) is less than asked.
    ExceedsRefundable {
        /// What could still be refunded, minor units.
        refundable_minor: i64,
    },
    /// The paid attempt already has `max_refunds` refunds (WeChat: 50).
    TooManyRefunds,
}

/// A change of a refund, guarded by its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundUpdate {
    /// The version read (the conditional update's guard).
    pub expected_version: i64,
    /// New state (may equal the current one, to reschedule).
    pub status: RefundStatus,
    /// The provider's refund id, if known now.
    pub provider_refund_id: Option<String>,
    /// Add one to `tries`.
    pub count_try: bool,
    /// When the worker acts next (`None`: nothing to do).
    pub next_action_at_ms: Option<i64>,
    /// The last problem, or `None` to keep the one recorded.
    pub last_error: Option<String>,
    /// When the money went back (with `SUCCEEDED`).
    pub succeeded_at_ms: Option<i64>,
    /// Now.
    pub now_ms: i64,
    /// Event to write in the same transaction if the update applies.
    pub event: Option<NewEvent>,
}

/// A provider callback exactly as received, kept for audit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawCallback {
    /// Id (`cb_...`).
    pub id: String,
    /// Which provider's endpoint it came to.
    pub provider: Provider,
    /// Which merchant account's endpoint it came to.
    pub merchant_account: String,
    /// Arrival time.
    pub received_at_ms: i64,
    /// The headers, as a JSON array of `[name, value]` pairs.
    pub headers_json: String,
    /// The body (lossy UTF-8 of the bytes received).
    pub body: String,
    /// What paydesk made of it: `VERIFIED`, `REJECTED: <reason>`, ...
    pub outcome: String,
    /// The attempt it named, once verified.
    pub attempt_no: Option<String>,
    /// The order of that attempt, once known.
    pub pay_order_id: Option<String>,
}
