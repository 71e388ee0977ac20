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
}

impl PayOrderResource {
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
