//! Realistic historical pay orders for tests and benchmarks (`paydesk dev generate`):
//! mixed statuses, created across a time range, finished ones with their payment
//! attempts, raw provider callbacks, some refunds, and their outbox events and
//! notification deliveries. Written with [`ArchiveTier::insert_bundles_fresh`]
//! (multi-row inserts in one transaction per batch).
//!
//! [`ArchiveTier::insert_bundles_fresh`]: crate::archive::ArchiveTier::insert_bundles_fresh

use crate::archive::{ArchivedEvent, OrderBundle};
use crate::{
    Attempt, BusinessLine, EventStatus, NotificationAttempt, OutboxEvent, PayOrder, RawCallback,
    Refund,
};
use paydesk_core::{
    Amount, AttemptStatus, Currency, EventType, PayOrderStatus, Provider, RefundKind, RefundStatus,
};

/// A small deterministic generator (splitmix64): data, not secrets.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// A UUIDv7-shaped id with a type prefix whose time part is `at_ms`, so generated
/// history walks in time order like real ids do.
pub fn id_at(prefix: &str, at_ms: i64, rng: &mut Rng) -> String {
    let ts = (at_ms.max(0) as u64) & 0xFFFF_FFFF_FFFF;
    let r = rng.next_u64();
    let r2 = rng.next_u64();
    format!(
        "{prefix}_{ts:012x}7{:03x}{:x}{:03x}{:012x}",
        r & 0xFFF,
        8 + ((r >> 12) & 0x3),
        (r >> 14) & 0xFFF,
        r2 & 0xFFFF_FFFF_FFFF
    )
}

const SUBJECTS: &[&str] = &[
    "二手自行车 — used bike",
    "concert ticket",
    "monthly membership",
    "phone case",
    "book: The Rust Programming Language",
    "coffee beans 1kg",
];

/// One historical order created at a random moment in the `days` before `now_ms`.
/// About 60% PAID, 33% CLOSED (their event delivered, a few failed or still pending),
/// the rest WAITING (created in the last half hour, as live ones are). A PAID order has
/// its succeeded payment attempt (after a closed one one time in five) and the
/// provider's callback for it; one in ten is partly refunded. Half the CLOSED orders
/// have an attempt the buyer abandoned.
pub fn historical_order(
    rng: &mut Rng,
    line: &BusinessLine,
    business_order_no: String,
    now_ms: i64,
    days: u32,
) -> OrderBundle {
    let span = i64::from(days.max(1)) * 86_400_000;
    let roll = rng.below(100);
    let waiting = roll >= 93;
    let created = if waiting {
        now_ms - rng.below(1_800_000) as i64
    } else {
        now_ms - rng.below(span as u64) as i64
    };
    let status = match roll {
        0..=59 => PayOrderStatus::Paid,
        60..=92 => PayOrderStatus::Closed,
        _ => PayOrderStatus::Waiting,
    };
    let currency = if rng.below(10) == 0 {
        Currency::USD
    } else {
        Currency::CNY
    };
    let minor = 100 + rng.below(500_000) as i64;
    let id = id_at("po", created, rng);
    let finished_at = created + 5_000 + rng.below(600_000) as i64;
    let mut order = PayOrder {
        id: id.clone(),
        business_line_id: line.id.clone(),
        business_order_no,
        status,
        amount: Amount::new(minor, currency).unwrap_or_else(|_| unreachable!()),
        refunded_amount_minor: 0,
        subject: SUBJECTS[rng.below(SUBJECTS.len() as u64) as usize].to_owned(),
        buyer_id: Some(format!("buyer-{}", rng.below(100_000))),
        seller_id: (rng.below(2) == 0).then(|| format!("seller-{}", rng.below(10_000))),
        facts_json: format!(r#"{{"category":"c{}","channel":"app"}}"#, rng.below(20)),
        metadata_json: "{}".into(),
        notify_url: line.notify_url.clone(),
        return_url: None,
        checkout_token: format!("tok{:016x}{:016x}", rng.next_u64(), rng.next_u64()),
        created_at_ms: created,
        updated_at_ms: created,
        expire_at_ms: created + 1_800_000,
        paid_at_ms: None,
        closed_at_ms: None,
        version: 0,
    };
    let mut bundle = OrderBundle::of(order.clone());
    if waiting {
        return bundle;
    }
    let event_type = if status == PayOrderStatus::Paid {
        order.paid_at_ms = Some(finished_at);
        EventType::PayOrderPaid
    } else {
        order.closed_at_ms = Some(finished_at);
        EventType::PayOrderClosed
    };
    order.updated_at_ms = finished_at;
    order.version = 1;
    let provider = if rng.below(2) == 0 {
        Provider::Wechatpay
    } else {
        Provider::Alipay
    };
    let abandoned_first = rng.below(5) == 0;
    if status == PayOrderStatus::Closed && rng.below(2) == 0 {
        bundle.payment_attempts.push(payment_attempt(
            rng,
            &order,
            provider,
            AttemptStatus::Closed,
            finished_at,
        ));
    }
    if status == PayOrderStatus::Paid {
        if abandoned_first {
            bundle.payment_attempts.push(payment_attempt(
                rng,
                &order,
                provider,
                AttemptStatus::Closed,
                created + 1_000,
            ));
        }
        let paid = payment_attempt(rng, &order, provider, AttemptStatus::Succeeded, finished_at);
        bundle.callbacks.push(RawCallback {
            id: id_at("cb", finished_at, rng),
            provider,
            merchant_account: paid.merchant_account.clone(),
            received_at_ms: finished_at + 300,
            headers_json: r#"[["content-type","application/json"]]"#.into(),
            body: format!(
                r#"{{"out_trade_no":"{}","total":{minor},"trade_state":"SUCCESS"}}"#,
                paid.attempt_no
            ),
            outcome: "VERIFIED".into(),
            attempt_no: Some(paid.attempt_no.clone()),
            pay_order_id: Some(id.clone()),
        });
        if rng.below(10) == 0 {
            let refunded = 1 + rng.below(minor as u64) as i64;
            let at = finished_at + 86_400_000;
            bundle.refunds.push(Refund {
                id: id_at("rf", at, rng),
                business_line_id: line.id.clone(),
                pay_order_id: id.clone(),
                attempt_id: paid.id.clone(),
                refund_no: format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64()),
                business_refund_no: Some(format!("r-{}", order.business_order_no)),
                kind: RefundKind::Business,
                amount: Amount::new(refunded, currency).unwrap_or_else(|_| unreachable!()),
                reason: Some("returned".into()),
                status: RefundStatus::Succeeded,
                provider_refund_id: Some(format!("prf{:016x}", rng.next_u64())),
                tries: 2,
                next_action_at_ms: None,
                last_error: None,
                created_at_ms: at,
                updated_at_ms: at + 60_000,
                succeeded_at_ms: Some(at + 60_000),
                version: 2,
                balance_amount_minor: 0,
            });
            order.refunded_amount_minor = refunded;
            order.version = 2;
        }
        bundle.payment_attempts.push(paid);
    }
    let event_id = id_at("evt", finished_at, rng);
    let fate = rng.below(100);
    let tries = 1 + rng.below(3) as i64;
    let mut at = finished_at + 10;
    let (ev_status, n_tries) = match fate {
        0..=89 => (EventStatus::Delivered, tries),
        90..=96 => (EventStatus::Failed, tries),
        _ => (EventStatus::Pending, tries - 1),
    };
    for n in 1..=n_tries {
        let ok = ev_status == EventStatus::Delivered && n == n_tries;
        bundle.deliveries.push(NotificationAttempt {
            event_id: event_id.clone(),
            attempt_no: n,
            started_at_ms: at,
            duration_ms: 5 + rng.below(300) as i64,
            http_status: Some(if ok { 200 } else { 503 }),
            succeeded: ok,
            error: (!ok).then(|| "HTTP 503".to_owned()),
        });
        at += 15_000 * n;
    }
    bundle.events.push(ArchivedEvent {
        event: OutboxEvent {
            id: event_id,
            business_line_id: line.id.clone(),
            pay_order_id: Some(id.clone()),
            event_type,
            payload_json: format!(
                r#"{{"type":"{}","data":{{"id":"{id}","amount_minor":{minor}}}}}"#,
                event_type.as_str()
            ),
            notify_url: line.notify_url.clone(),
            status: ev_status,
            attempts_total: n_tries,
            failures_in_round: n_tries - i64::from(ev_status == EventStatus::Delivered),
            next_attempt_at_ms: at,
            lease_owner: None,
            lease_until_ms: None,
            created_at_ms: finished_at,
            delivered_at_ms: (ev_status == EventStatus::Delivered).then_some(at),
            last_error: (ev_status != EventStatus::Delivered).then(|| "HTTP 503".to_owned()),
            version: 1 + 2 * n_tries,
        },
        updated_at_ms: at,
    });
    bundle.order = order;
    bundle.normalize();
    bundle
}

/// A payment attempt of `order` in a final `status`, last changed at `at_ms`.
fn payment_attempt(
    rng: &mut Rng,
    order: &PayOrder,
    provider: Provider,
    status: AttemptStatus,
    at_ms: i64,
) -> Attempt {
    let succeeded = status == AttemptStatus::Succeeded;
    let (account, method, product) = match provider {
        Provider::Wechatpay => ("wx-main", "WECHAT_PAY", "NATIVE"),
        Provider::Alipay => ("ali-main", "ALIPAY", "PAGE"),
    };
    Attempt {
        id: id_at("pa", at_ms - 2_000, rng),
        pay_order_id: order.id.clone(),
        attempt_no: format!("{:016x}{:016x}", rng.next_u64(), rng.next_u64()),
        merchant_account: account.into(),
        provider,
        method: method.into(),
        product: product.into(),
        amount: order.amount,
        status,
        provider_txn_id: succeeded.then(|| format!("42000{:016}", rng.below(10_u64.pow(16)))),
        paid_amount_minor: succeeded.then_some(order.amount.minor()),
        flag: None,
        paid_at_ms: succeeded.then_some(at_ms),
        next_query_at_ms: None,
        queries_made: rng.below(2) as i64,
        created_at_ms: at_ms - 2_000,
        updated_at_ms: at_ms,
        version: 2,
    }
}
