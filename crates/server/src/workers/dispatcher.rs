//! The outbox dispatcher: delivers business notifications at least once.
//!
//! It is woken by every commit that writes events (and polls besides, for retries and
//! for events written by other instances), claims each due event with a lease (a
//! conditional update on the event's version), POSTs the signed body, and records the
//! try and what follows (delivered, retry at the schedule's next step, or failed) only
//! while it still holds the lease. The lease outlives the request timeout, so two
//! instances never deliver the same try at once.

use crate::state::AppState;
use crate::time::now_ms;
use axum::http::HeaderValue;
use paydesk_core::{ids, signing};
use paydesk_store::{AfterAttempt, NotificationAttempt, OutboxEvent};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Semaphore};

/// Most response bytes read from a business line (we only need `SUCCESS`).
const MAX_RESPONSE_BYTES: usize = 1024;
/// Lease margin beyond the request timeout.
const LEASE_MARGIN_MS: u64 = 30_000;

/// Builds the HTTP client for deliveries: bounded timeout, no redirects (a redirect
/// could lead anywhere; the URL was checked against the allowed prefixes).
pub fn http_client(timeout_ms: u64) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_millis(timeout_ms))
        .connect_timeout(Duration::from_millis(timeout_ms.min(5_000)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("paydesk/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

/// Runs until shutdown, then waits for deliveries in flight.
pub async fn run(state: AppState, mut shutdown: watch::Receiver<bool>) {
    let cfg = &state.config.notify;
    let client = http_client(cfg.timeout_ms);
    let max_in_flight = cfg.max_in_flight;
    let permits = Arc::new(Semaphore::new(max_in_flight));
    loop {
        if let Err(e) = dispatch_due(&state, &client, &permits).await {
            tracing::warn!(error = %e, "outbox poll failed");
        }
        tokio::select! {
            _ = state.outbox_wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(state.config.notify.poll_interval_ms)) => {}
            _ = shutdown.changed() => break,
        }
    }
    // Let in-flight deliveries record their outcome before the process exits.
    let _ = permits
        .acquire_many(u32::try_from(max_in_flight).unwrap_or(u32::MAX))
        .await;
}

/// Claims and starts delivering every event due now, in batches. Returns how many
/// deliveries it started.
pub async fn dispatch_due(
    state: &AppState,
    client: &reqwest::Client,
    permits: &Arc<Semaphore>,
) -> Result<usize, paydesk_store::StoreError> {
    let batch = state.config.notify.batch_size;
    // Config bounds the timeout to 10 minutes, so this cannot overflow or wrap.
    let lease_ms = i64::try_from(
        state
            .config
            .notify
            .timeout_ms
            .saturating_add(LEASE_MARGIN_MS),
    )
    .unwrap_or(i64::MAX);
    let mut started = 0;
    loop {
        let now = now_ms();
        let due = state.store.due_events(now, batch).await?;
        let n = due.len();
        for event in due {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return Ok(started);
            };
            let lease_until = now_ms().saturating_add(lease_ms);
            if !state
                .store
                .claim_event(&event, &state.instance_id, now_ms(), lease_until)
                .await?
            {
                continue; // another instance took it
            }
            started += 1;
            let (state, client) = (state.clone(), client.clone());
            tokio::spawn(async move {
                deliver(&state, &client, event).await;
                drop(permit);
            });
        }
        if (n as i64) < batch {
            return Ok(started);
        }
    }
}

/// What one POST came to.
struct Outcome {
    http_status: Option<i64>,
    succeeded: bool,
    error: Option<String>,
}

async fn post(state: &AppState, client: &reqwest::Client, event: &OutboxEvent) -> Outcome {
    let failed = |error: String| Outcome {
        http_status: None,
        succeeded: false,
        error: Some(error),
    };
    let line = match state.line_by_id(&event.business_line_id).await {
        Ok(Some(line)) => line,
        Ok(None) => return failed("business line not found".into()),
        Err(e) => return failed(format!("business line unavailable: {e}")),
    };
    let timestamp = (now_ms() / 1000).to_string();
    let nonce = ids::random_hex::<16>();
    let body = event.payload_json.as_bytes();
    let signature = signing::sign(
        line.secret.as_bytes(),
        &signing::notification_string_to_sign(&timestamp, &nonce, body),
    );
    let mut req = client
        .post(&event.notify_url)
        .header("content-type", "application/json")
        .header("Paydesk-Timestamp", &timestamp)
        .header("Paydesk-Nonce", &nonce)
        .header("Paydesk-Signature", &signature)
        .header("Paydesk-Event-Id", &event.id);
    if let Ok(v) = HeaderValue::from_str(event.event_type.as_str()) {
        req = req.header("Paydesk-Event-Type", v);
    }
    let mut resp = match req.body(event.payload_json.clone()).send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return failed("timeout".into()),
        Err(e) if e.is_connect() => return failed("connection failed".into()),
        Err(e) => return failed(format!("request failed: {e}")),
    };
    let status = resp.status();
    let mut text = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) if text.len() < MAX_RESPONSE_BYTES => {
                let room = MAX_RESPONSE_BYTES - text.len();
                text.extend_from_slice(&chunk[..chunk.len().min(room)]);
            }
            Ok(Some(_)) | Ok(None) => break,
            Err(e) => {
                return Outcome {
                    http_status: Some(i64::from(status.as_u16())),
                    succeeded: false,
                    error: Some(format!("reading response failed: {e}")),
                }
            }
        }
    }
    let acknowledged = status.is_success() && text.trim_ascii() == b"SUCCESS";
    Outcome {
        http_status: Some(i64::from(status.as_u16())),
        succeeded: acknowledged,
        error: (!acknowledged).then(|| {
            if status.is_success() {
                "response body was not SUCCESS".to_owned()
            } else {
                format!("HTTP {}", status.as_u16())
            }
        }),
    }
}

async fn deliver(state: &AppState, client: &reqwest::Client, event: OutboxEvent) {
    let started_at_ms = now_ms();
    let clock = Instant::now();
    let outcome = post(state, client, &event).await;
    let duration_ms = i64::try_from(clock.elapsed().as_millis()).unwrap_or(i64::MAX);
    let now = now_ms();
    let after = if outcome.succeeded {
        AfterAttempt::Delivered
    } else {
        let failures = u32::try_from(event.failures_in_round + 1).unwrap_or(u32::MAX);
        match state.retry_schedule.delay_after_failures_ms(failures) {
            Some(delay) => {
                AfterAttempt::RetryAt(now.saturating_add(i64::try_from(delay).unwrap_or(i64::MAX)))
            }
            None => AfterAttempt::Failed,
        }
    };
    let attempt = NotificationAttempt {
        event_id: event.id.clone(),
        attempt_no: event.attempts_total + 1,
        started_at_ms,
        duration_ms,
        http_status: outcome.http_status,
        succeeded: outcome.succeeded,
        error: outcome.error.clone(),
    };
    let label = match after {
        AfterAttempt::Delivered => "delivered",
        AfterAttempt::RetryAt(_) => "retry",
        AfterAttempt::Failed => "failed",
    };
    metrics::counter!("paydesk_notifications_total", "outcome" => label).increment(1);
    match state
        .store
        .record_attempt(&attempt, &state.instance_id, after, now)
        .await
    {
        Ok(true) => tracing::info!(
            event_id = %event.id,
            pay_order_id = event.pay_order_id.as_deref().unwrap_or(""),
            attempt_no = attempt.attempt_no,
            outcome = label,
            error = outcome.error.as_deref().unwrap_or(""),
            "notification attempt"
        ),
        Ok(false) => {
            tracing::warn!(event_id = %event.id, "lease lost before the attempt was recorded")
        }
        Err(e) => {
            tracing::error!(event_id = %event.id, error = %e, "could not record notification attempt")
        }
    }
}
