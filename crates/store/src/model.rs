//! Records as the store reads and writes them. Money is `amount_minor` + currency,
//! timestamps are UTC unix milliseconds (`*_ms`), states are the core enums.

use paydesk_core::{Amount, Currency, EventType, PayOrderStatus};

/// Whether a business line may call the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusinessLineStatus {
    /// Calls are accepted.
    Active,
    /// Calls are refused with 401.
    Disabled,
}

impl BusinessLineStatus {
    /// The stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Disabled => "DISABLED",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(Self::Active),
            "DISABLED" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// An internal client system with its own credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessLine {
    /// Internal id (`bl_...`).
    pub id: String,
    /// Public credential half, sent in every request.
    pub app_id: String,
    /// Unique human name, e.g. `secondhand`.
    pub name: String,
    /// The HMAC secret, encrypted by the caller (the store never sees it in clear).
    pub secret_ciphertext: String,
    /// Default notify URL for its pay orders.
    pub notify_url: String,
    /// URL prefixes that notify and return URLs must start with.
    pub allowed_url_prefixes: Vec<String>,
    /// Whether it may call the API.
    pub status: BusinessLineStatus,
    /// Creation time.
    pub created_at_ms: i64,
}

/// Everything needed to create a pay order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayOrder {
    /// New id (`po_...`).
    pub id: String,
    /// Owner.
    pub business_line_id: String,
    /// The business line's own order number (idempotency key within the line).
    pub business_order_no: String,
    /// The amount, fixed here and never again taken from a client.
    pub amount: Amount,
    /// What is being paid for.
    pub subject: String,
    /// Buyer, if known.
    pub buyer_id: Option<String>,
    /// Seller, if any.
    pub seller_id: Option<String>,
    /// Flat JSON object of facts for the checkout rules.
    pub facts_json: String,
    /// Free JSON object returned as sent.
    pub metadata_json: String,
    /// Where notifications go.
    pub notify_url: String,
    /// Where the buyer returns after paying.
    pub return_url: Option<String>,
    /// Unguessable checkout token bound to this order.
    pub checkout_token: String,
    /// Creation time.
    pub created_at_ms: i64,
    /// When the order stops accepting payment.
    pub expire_at_ms: i64,
}

/// A stored pay order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayOrder {
    /// Id (`po_...`).
    pub id: String,
    /// Owner.
    pub business_line_id: String,
    /// The business line's order number.
    pub business_order_no: String,
    /// Current state.
    pub status: PayOrderStatus,
    /// Amount to pay.
    pub amount: Amount,
    /// Sum of the business refunds that have not failed: in flight (`PENDING`,
    /// `PROCESSING`, `ABNORMAL`) and succeeded, same currency as `amount`. Reserved when a
    /// refund is recorded (never past `amount`), released when one fails. Automatic
    /// refunds (duplicate, late, wrong-amount payments) never count: that money was
    /// never the order's.
    pub refunded_amount_minor: i64,
    /// What is being paid for.
    pub subject: String,
    /// Buyer, if known.
    pub buyer_id: Option<String>,
    /// Seller, if any.
    pub seller_id: Option<String>,
    /// Flat JSON object of facts.
    pub facts_json: String,
    /// Free JSON object.
    pub metadata_json: String,
    /// Where notifications go.
    pub notify_url: String,
    /// Where the buyer returns.
    pub return_url: Option<String>,
    /// Checkout token.
    pub checkout_token: String,
    /// Creation time.
    pub created_at_ms: i64,
    /// Last change.
    pub updated_at_ms: i64,
    /// Expiry.
    pub expire_at_ms: i64,
    /// When it was paid.
    pub paid_at_ms: Option<i64>,
    /// When it was closed.
    pub closed_at_ms: Option<i64>,
    /// Bumped by every change; the optimistic-concurrency guard.
    pub version: i64,
}

impl PayOrder {
    /// The currency of the order.
    pub fn currency(&self) -> Currency {
        self.amount.currency()
    }
}

/// Result of an idempotent create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreateOutcome {
    /// A new order was written.
    Created(PayOrder),
    /// The business order number was already taken; this is the order holding it.
    Existing(PayOrder),
}

/// An outbox event to write in the same transaction as the change it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    /// Id (`evt_...`), the business line's dedupe key.
    pub id: String,
    /// Owner.
    pub business_line_id: String,
    /// The pay order it is about.
    pub pay_order_id: Option<String>,
    /// Type.
    pub event_type: EventType,
    /// The exact JSON body that will be delivered.
    pub payload_json: String,
    /// Destination.
    pub notify_url: String,
    /// Creation time; the first try is due at once.
    pub created_at_ms: i64,
}

/// Delivery state of an outbox event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Waiting for its next try.
    Pending,
    /// Acknowledged by the business line.
    Delivered,
    /// Retry schedule exhausted; can be re-sent.
    Failed,
}

impl EventStatus {
    /// The stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Delivered => "DELIVERED",
            Self::Failed => "FAILED",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(Self::Pending),
            "DELIVERED" => Some(Self::Delivered),
            "FAILED" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A stored outbox event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Id.
    pub id: String,
    /// Owner.
    pub business_line_id: String,
    /// The pay order it is about.
    pub pay_order_id: Option<String>,
    /// Type.
    pub event_type: EventType,
    /// Exact body.
    pub payload_json: String,
    /// Destination.
    pub notify_url: String,
    /// Delivery state.
    pub status: EventStatus,
    /// Tries made over the event's whole life.
    pub attempts_total: i64,
    /// Failed tries since the event was (re-)queued; indexes the retry schedule.
    pub failures_in_round: i64,
    /// When the next try is due.
    pub next_attempt_at_ms: i64,
    /// Which worker holds the lease, if any.
    pub lease_owner: Option<String>,
    /// Until when the lease holds.
    pub lease_until_ms: Option<i64>,
    /// Creation time.
    pub created_at_ms: i64,
    /// When it was acknowledged.
    pub delivered_at_ms: Option<i64>,
    /// The last failure, for operators.
    pub last_error: Option<String>,
    /// Optimistic-concurrency guard.
    pub version: i64,
}

/// One delivery try, kept for the business line and operators.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationAttempt {
    /// The event tried.
    pub event_id: String,
    /// 1-based over the event's life.
    pub attempt_no: i64,
    /// When the request started.
    pub started_at_ms: i64,
    /// How long it took.
    pub duration_ms: i64,
    /// HTTP status, if a response came.
    pub http_status: Option<i64>,
    /// Whether it counted as acknowledged.
    pub succeeded: bool,
    /// What went wrong, short.
    pub error: Option<String>,
}

/// What happens to an event after a try.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterAttempt {
    /// Acknowledged.
    Delivered,
    /// Try again at this time.
    RetryAt(i64),
    /// Schedule exhausted.
    Failed,
}

/// Outbox counters for metrics and the console.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutboxStats {
    /// Events waiting for a try.
    pub pending: i64,
    /// Events whose schedule ran out.
    pub failed: i64,
}
