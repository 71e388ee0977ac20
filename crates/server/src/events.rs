//! Building outbox events: the exact body a business line receives is fixed when the
//! state change commits, from the record as that change leaves it.

use crate::resource::{EventBody, PayOrderResource, PayoutResource, RefundResource};
use crate::time::rfc3339;
use paydesk_core::AccountRef;
use paydesk_core::{ids, EventType, PayOrderStatus};
use paydesk_store::{NewEvent, PayOrder, Payout, Refund};

/// The order as a successful close at `now_ms` leaves it (what the conditional update
/// writes), used for the event body.
pub fn closed(order: &PayOrder, now_ms: i64) -> PayOrder {
    PayOrder {
        status: PayOrderStatus::Closed,
        closed_at_ms: Some(now_ms),
        updated_at_ms: now_ms,
        version: order.version + 1,
        ..order.clone()
    }
}

/// A `pay_order.*` event carrying `order_after` as its data.
pub fn pay_order_event(
    event_type: EventType,
    order_after: &PayOrder,
    public_url: &str,
    now_ms: i64,
) -> NewEvent {
    let id = ids::new_id(ids::EVENT);
    let body = EventBody {
        id: id.clone(),
        event_type: event_type.as_str().to_owned(),
        created_at: rfc3339(now_ms),
        data: PayOrderResource::new(order_after, public_url),
    };
    NewEvent {
        id,
        business_line_id: order_after.business_line_id.clone(),
        pay_order_id: Some(order_after.id.clone()),
        event_type,
        // Serialising plain strings and integers cannot fail.
        payload_json: serde_json::to_string(&body).unwrap_or_default(),
        notify_url: order_after.notify_url.clone(),
        created_at_ms: now_ms,
    }
}

/// The order as a successful payment at `paid_at_ms` leaves it (what the store's
/// conditional update writes), used for the `pay_order.paid` body.
pub fn paid(order: &PayOrder, paid_at_ms: i64, now_ms: i64) -> PayOrder {
    PayOrder {
        status: PayOrderStatus::Paid,
        paid_at_ms: Some(paid_at_ms),
        updated_at_ms: now_ms,
        version: order.version + 1,
        ..order.clone()
    }
}

/// A `refund.*` or `pay_order.duplicate_refunded` event carrying the refund (after the
/// change) as its data.
pub fn refund_event(
    event_type: EventType,
    order: &PayOrder,
    refund_after: &Refund,
    now_ms: i64,
) -> NewEvent {
    let id = ids::new_id(ids::EVENT);
    let body = EventBody {
        id: id.clone(),
        event_type: event_type.as_str().to_owned(),
        created_at: rfc3339(now_ms),
        data: RefundResource::new(refund_after, &order.business_order_no),
    };
    NewEvent {
        id,
        business_line_id: order.business_line_id.clone(),
        pay_order_id: Some(order.id.clone()),
        event_type,
        payload_json: serde_json::to_string(&body).unwrap_or_default(),
        notify_url: order.notify_url.clone(),
        created_at_ms: now_ms,
    }
}

/// A `payout.*` event carrying the payout (after the change) as its data; `funding` is
/// the account it is funded from.
pub fn payout_event(
    event_type: EventType,
    payout_after: &Payout,
    funding: Option<&AccountRef>,
    now_ms: i64,
) -> NewEvent {
    let id = ids::new_id(ids::EVENT);
    let body = EventBody {
        id: id.clone(),
        event_type: event_type.as_str().to_owned(),
        created_at: rfc3339(now_ms),
        data: PayoutResource::new(payout_after, funding),
    };
    NewEvent {
        id,
        business_line_id: payout_after.business_line_id.clone(),
        pay_order_id: None,
        event_type,
        payload_json: serde_json::to_string(&body).unwrap_or_default(),
        notify_url: payout_after.notify_url.clone(),
        created_at_ms: now_ms,
    }
}
