//! Callbacks to merchants: queued with the providers' retry schedules (divided by the time
//! scale), signed (and for WeChat encrypted) afresh at each try, with fault injection.

use crate::app::{now_ms, wechat_time, App, CallbackFaultKind, MAX_FAULT_DELAY_MS};
use crate::state::{
    AttemptLog, Callback, CallbackPayload, CallbackStatus, Db, Provider, IN_FLIGHT, MAX_ATTEMPT_LOG,
};
use std::sync::Arc;
use std::time::Duration;

/// WeChat Pay's retry intervals after a failed try, in seconds
/// (15s,15s,30s,3m,10m,20m,30m,30m,30m,60m,3h,3h,3h,6h,6h).
pub const WECHAT_RETRY_SECS: [u64; 15] = [
    15, 15, 30, 180, 600, 1200, 1800, 1800, 1800, 3600, 10800, 10800, 10800, 21600, 21600,
];
/// Alipay's retry intervals after a failed try, in seconds (4m,10m,10m,1h,2h,6h,15h).
pub const ALIPAY_RETRY_SECS: [u64; 7] = [240, 600, 600, 3600, 7200, 21600, 54000];

/// How long the merchant has to answer (WeChat documents 5 s).
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(5);

fn schedule(p: Provider) -> &'static [u64] {
    match p {
        Provider::Wechatpay => &WECHAT_RETRY_SECS,
        Provider::Alipay => &ALIPAY_RETRY_SECS,
    }
}

/// Queues a callback, applying callback faults. Call inside [`App::write`].
pub fn enqueue(app: &App, db: &mut Db, mut cb: Callback) {
    cb.status = CallbackStatus::Pending;
    cb.attempts = 0;
    cb.next_at_ms = now_ms();
    let mut faults = app.faults();
    let mut duplicate = false;
    if let Some(f) = faults.peek_callback(cb.provider) {
        faults.use_callback(f.id);
        match f.kind {
            CallbackFaultKind::Drop => cb.status = CallbackStatus::Dropped,
            CallbackFaultKind::Delay => {
                // The control API refuses longer delays; clamp anyway (the value is i64 ms).
                let delay = f.delay_ms.unwrap_or(1000).min(MAX_FAULT_DELAY_MS);
                let delay = i64::try_from(delay).unwrap_or(i64::MAX);
                cb.next_at_ms = cb.next_at_ms.saturating_add(delay);
            }
            CallbackFaultKind::Duplicate => duplicate = true,
            CallbackFaultKind::Reorder => {
                cb.status = CallbackStatus::Held;
                let id = db.push_callback(cb);
                faults.held.push(id);
                // The rule is used up: release everything held, newest first.
                if !faults.callbacks.iter().any(|g| g.id == f.id) {
                    let held = std::mem::take(&mut faults.held);
                    let now = now_ms();
                    for (i, id) in held.iter().rev().enumerate() {
                        if let Some(c) = db.callbacks.get_mut(id) {
                            c.status = CallbackStatus::Pending;
                            let step = i64::try_from(i).unwrap_or(i64::MAX);
                            c.next_at_ms = now.saturating_add(step.saturating_mul(150));
                        }
                    }
                }
                return;
            }
        }
    }
    if duplicate {
        db.push_callback(cb.clone());
    }
    db.push_callback(cb);
}

/// A WeChat callback to queue.
#[allow(clippy::too_many_arguments)]
pub fn wechat(
    merchant: &str,
    subject: &str,
    url: &str,
    event_type: &str,
    summary: &str,
    original_type: &str,
    plaintext: String,
) -> Callback {
    Callback {
        id: 0,
        provider: Provider::Wechatpay,
        merchant: merchant.to_string(),
        subject: subject.to_string(),
        event: event_type.to_string(),
        url: url.to_string(),
        payload: CallbackPayload::Wechat {
            id: uuid_like(),
            create_time: wechat_time(crate::app::now_unix()),
            event_type: event_type.to_string(),
            summary: summary.to_string(),
            original_type: original_type.to_string(),
            plaintext,
        },
        status: CallbackStatus::Pending,
        attempts: 0,
        next_at_ms: 0,
        log: Vec::new(),
    }
}

/// An Alipay callback to queue.
pub fn alipay(
    merchant: &str,
    subject: &str,
    url: &str,
    event: &str,
    params: Vec<(String, String)>,
) -> Callback {
    Callback {
        id: 0,
        provider: Provider::Alipay,
        merchant: merchant.to_string(),
        subject: subject.to_string(),
        event: event.to_string(),
        url: url.to_string(),
        payload: CallbackPayload::Alipay { params },
        status: CallbackStatus::Pending,
        attempts: 0,
        next_at_ms: 0,
        log: Vec::new(),
    }
}

fn uuid_like() -> String {
    let h = crate::app::random_token().to_ascii_lowercase();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Builds the HTTP request body and headers of one try.
/// Headers and body of one try.
type Rendered = (Vec<(String, String)>, Vec<u8>);

fn render(app: &App, cb: &Callback) -> Result<Rendered, String> {
    match &cb.payload {
        CallbackPayload::Wechat {
            id,
            create_time,
            event_type,
            summary,
            original_type,
            plaintext,
        } => {
            let m = app
                .merchants
                .wechat(&cb.merchant)
                .ok_or_else(|| format!("merchant {} is gone", cb.merchant))?;
            let (key, key_id) = m.signer();
            let n = paydesk_providers::wechatpay::notify::build_notification(
                key,
                key_id,
                &m.apiv3,
                id,
                create_time,
                event_type,
                summary,
                original_type,
                plaintext.as_bytes(),
                crate::app::now_unix(),
            )
            .map_err(|e| e.to_string())?;
            let mut headers = n.headers;
            // As WeChat sends it (the adapters' builder leaves it out; SDKs such as
            // wechatpayv3 require it).
            headers.push((
                "Wechatpay-Signature-Type".into(),
                paydesk_providers::wechatpay::sign::AUTH_SCHEMA.into(),
            ));
            Ok((headers, n.body))
        }
        CallbackPayload::Alipay { params } => {
            let m = app
                .merchants
                .alipay(&cb.merchant)
                .ok_or_else(|| format!("app {} is gone", cb.merchant))?;
            let mut params = params.clone();
            let now = crate::app::alipay_time(crate::app::now_unix());
            for (k, v) in params.iter_mut() {
                if k == "notify_time" {
                    *v = now.clone();
                }
            }
            let n = paydesk_providers::alipay::notify::build_notification(&m.alipay_key, &params)
                .map_err(|e| e.to_string())?;
            Ok((n.headers, n.body))
        }
    }
}

/// One try: `Ok(acknowledged)` with the log entry.
async fn deliver(app: &App, cb: &Callback) -> AttemptLog {
    let at_ms = now_ms();
    let (headers, body) = match render(app, cb) {
        Ok(x) => x,
        Err(detail) => {
            return AttemptLog {
                at_ms,
                http_status: None,
                acknowledged: false,
                detail,
            }
        }
    };
    let mut req = app.http.post(&cb.url).timeout(ANSWER_TIMEOUT).body(body);
    for (k, v) in headers {
        req = req.header(k, v);
    }
    req = req.header("User-Agent", "paydesk-sandbox");
    match req.send().await {
        Err(e) => AttemptLog {
            at_ms,
            http_status: None,
            acknowledged: false,
            detail: e.to_string(),
        },
        Ok(resp) => {
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            let acknowledged = match cb.provider {
                Provider::Wechatpay => status == 200 || status == 204,
                Provider::Alipay => status == 200 && text.trim() == "success",
            };
            AttemptLog {
                at_ms,
                http_status: Some(status),
                acknowledged,
                detail: text.chars().take(200).collect(),
            }
        }
    }
}

/// The worker: sends due callbacks, settles refunds and transfers whose time has come.
pub async fn run_worker(app: Arc<App>) {
    loop {
        crate::settle::settle_due(&app);
        let now = now_ms();
        let due: Vec<Callback> = {
            let db = app.db();
            db.callbacks
                .values()
                .filter(|c| c.status == CallbackStatus::Pending && c.next_at_ms <= now)
                .take(64)
                .cloned()
                .collect()
        };
        // Mark them in flight by pushing next_at far ahead, so the next tick skips them.
        if !due.is_empty() {
            let mut db = app.db();
            for c in &due {
                if let Some(x) = db.callbacks.get_mut(&c.id) {
                    x.next_at_ms = IN_FLIGHT;
                }
            }
        }
        for cb in due {
            let app = app.clone();
            tokio::spawn(async move {
                let log = deliver(&app, &cb).await;
                let ack = log.acknowledged;
                tracing::debug!(id = cb.id, url = %cb.url, ack, "callback try");
                app.write(|db| {
                    if let Some(c) = db.callbacks.get_mut(&cb.id) {
                        c.attempts += 1;
                        c.log.push(log);
                        if c.log.len() > MAX_ATTEMPT_LOG {
                            c.log.remove(0);
                        }
                        if ack {
                            c.status = CallbackStatus::Delivered;
                        } else if let Some(secs) = schedule(c.provider).get(c.attempts as usize - 1)
                        {
                            c.next_at_ms = now_ms()
                                .saturating_add(app.scaled_ms(*secs as f64))
                                .min(IN_FLIGHT - 1);
                        } else {
                            c.status = CallbackStatus::GaveUp;
                        }
                    }
                });
            });
        }
        let next = {
            let db = app.db();
            let cb_next = db
                .callbacks
                .values()
                .filter(|c| c.status == CallbackStatus::Pending)
                .map(|c| c.next_at_ms)
                .min();
            [cb_next, crate::settle::next_due_ms(&db)]
                .into_iter()
                .flatten()
                .min()
        };
        let wait_ms = wait_ms(next, now_ms());
        tokio::select! {
            _ = app.wake.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
        }
    }
}

/// How long the worker sleeps before `next` (unix ms; `None`: nothing due): 5 ms to 1 s.
/// Saturating: `next` may be anything a state file held.
fn wait_ms(next: Option<i64>, now: i64) -> u64 {
    next.map(|t| t.saturating_sub(now).clamp(5, 1000))
        .unwrap_or(1000)
        .unsigned_abs()
}

/// Makes every pending callback due now (control API).
pub fn run_all_now(app: &App) -> usize {
    app.write(|db| {
        let now = now_ms();
        let mut n = 0;
        for c in db.callbacks.values_mut() {
            if c.status == CallbackStatus::Pending && c.next_at_ms != IN_FLIGHT {
                c.next_at_ms = now;
                n += 1;
            }
        }
        n
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::CallbackFault;

    #[test]
    fn worker_wait_never_overflows() {
        let now = 1_700_000_000_000;
        assert_eq!(wait_ms(None, now), 1000);
        assert_eq!(wait_ms(Some(now + 200), now), 200);
        assert_eq!(wait_ms(Some(i64::MIN), now), 5);
        assert_eq!(wait_ms(Some(i64::MAX), -now), 1000);
        assert_eq!(wait_ms(Some(i64::MIN), i64::MAX), 5);
        assert_eq!(wait_ms(Some(i64::MAX), i64::MIN), 1000);
    }

    #[test]
    fn callback_delay_fault_is_clamped_not_overflowed() {
        let dir =
            std::env::temp_dir().join(format!("paydesk-sandbox-cbdelay-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let app = App::new("http://127.0.0.1:1".into(), dir.clone(), 1.0).unwrap();
        for delay in [i64::MAX as u64, u64::MAX, MAX_FAULT_DELAY_MS * 2] {
            // Pushed directly: the control API would refuse such a delay.
            app.faults().callbacks.push(CallbackFault {
                id: 0,
                provider: Provider::Alipay,
                kind: CallbackFaultKind::Delay,
                delay_ms: Some(delay),
                times: 1,
            });
            let before = now_ms();
            let id = app.write(|db| {
                enqueue(&app, db, alipay("a", "s", "http://x", "e", vec![]));
                db.next_callback_id
            });
            let at = app.db().callbacks[&id].next_at_ms;
            let max = i64::try_from(MAX_FAULT_DELAY_MS).unwrap();
            assert!(
                at >= before + max && at <= now_ms() + max,
                "{delay}: due in at most a day, got {at}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
