//! Shared state of a running sandbox, ids, clocks and fault rules.

use crate::merchant::Merchants;
use crate::state::{Db, Provider};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};
use time::OffsetDateTime;

/// Bill files kept for download (oldest dropped first).
pub const MAX_BILL_FILES: usize = 64;

/// The running sandbox.
pub struct App {
    /// How clients reach us, e.g. `http://127.0.0.1:8090`.
    pub base_url: String,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Retry and settle delays are divided by this.
    pub time_scale: f64,
    db: Mutex<Db>,
    /// Merchants (files, cached).
    pub merchants: Merchants,
    faults: Mutex<Faults>,
    /// Wakes the callback worker.
    pub wake: tokio::sync::Notify,
    /// Client for callbacks.
    pub http: reqwest::Client,
    /// Bill files by download token.
    pub bills: Mutex<VecDeque<(String, Vec<u8>)>>,
    /// Whether every change is saved to `state.json` (off only for benchmarks, where the
    /// provider's own disk writes would be measured instead of paydesk).
    persist: std::sync::atomic::AtomicBool,
}

impl App {
    /// A sandbox over `data_dir` (state loaded from disk).
    pub fn new(base_url: String, data_dir: PathBuf, time_scale: f64) -> anyhow::Result<App> {
        std::fs::create_dir_all(&data_dir)?;
        // Db::load makes tries that were in flight when the last process stopped due again.
        let db = Db::load(&data_dir)?;
        Ok(App {
            base_url: base_url.trim_end_matches('/').to_string(),
            merchants: Merchants::new(&data_dir),
            data_dir,
            time_scale: if time_scale.is_finite() && time_scale > 0.0 {
                time_scale
            } else {
                1.0
            },
            db: Mutex::new(db),
            faults: Mutex::new(Faults::default()),
            wake: tokio::sync::Notify::new(),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(std::time::Duration::from_secs(3))
                .build()?,
            bills: Mutex::new(VecDeque::new()),
            persist: std::sync::atomic::AtomicBool::new(true),
        })
    }

    /// Stops saving changes to disk (state lives in memory until the process ends). For
    /// benchmarks: a real provider's storage is not on paydesk's machine.
    pub fn keep_in_memory_only(&self) {
        self.persist
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }

    /// Reads the database.
    pub fn db(&self) -> MutexGuard<'_, Db> {
        self.db.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Changes the database and saves it (atomically) before returning.
    pub fn write<R>(&self, f: impl FnOnce(&mut Db) -> R) -> R {
        let mut db = self.db();
        let r = f(&mut db);
        if self.persist.load(std::sync::atomic::Ordering::Relaxed) {
            if let Err(e) = db.save(&self.data_dir) {
                tracing::error!(error = %e, "cannot save sandbox state");
            }
        }
        drop(db);
        self.wake.notify_one();
        r
    }

    /// Fault rules.
    pub fn faults(&self) -> MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A delay of `secs` provider seconds in real milliseconds (saturating: `as` turns a
    /// huge or infinite product into `i64::MAX`, never wraps).
    pub fn scaled_ms(&self, secs: f64) -> i64 {
        ((secs * 1000.0) / self.time_scale).round() as i64
    }

    /// Keeps a bill file for download; returns its token.
    pub fn keep_bill(&self, bytes: Vec<u8>) -> String {
        let token = random_token();
        let mut bills = self.bills.lock().unwrap_or_else(|p| p.into_inner());
        if bills.len() >= MAX_BILL_FILES {
            bills.pop_front();
        }
        bills.push_back((token.clone(), bytes));
        token
    }

    /// A kept bill file.
    pub fn bill(&self, token: &str) -> Option<Vec<u8>> {
        self.bills
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, b)| b.clone())
    }
}

/// Now, unix seconds.
pub fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// Now, unix milliseconds.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Random decimal digits.
pub fn random_digits(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    bytes.iter().map(|b| char::from(b'0' + b % 10)).collect()
}

/// 32 random URL-safe characters.
pub fn random_token() -> String {
    paydesk_providers::wechatpay::sign::random_nonce(32)
}

/// `YYYYMMDD` in China time.
pub fn china_date_compact(unix: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(time::macros::offset!(+8));
    format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day())
}

/// RFC 3339 in China time (WeChat's format).
pub fn wechat_time(unix: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    paydesk_providers::wechatpay::client::format_time(t).unwrap_or_default()
}

/// `yyyy-MM-dd HH:mm:ss` in China time (Alipay's format).
pub fn alipay_time(unix: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp(unix).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    paydesk_providers::alipay::sign::format_time(t).unwrap_or_default()
}

/// What a call fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallFaultKind {
    /// Answer HTTP 500 with a plain body.
    Http500,
    /// Answer the provider's own system error (WeChat 500 `SYSTEM_ERROR`; Alipay `20000`).
    SystemError,
    /// Answer only after `delay_ms` (the client times out).
    Timeout,
    /// Answer the provider's own business error `code` (signed): WeChat with HTTP
    /// `http_status` (default 400) and `{"code","message"}`, e.g. `FREQUENCY_LIMITED` (429)
    /// or `NOT_ENOUGH` (403) on a refund; Alipay `40004` with `sub_code` = `code`.
    Error,
}

/// A fault on API calls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallFault {
    /// Id (for listing).
    #[serde(default)]
    pub id: u64,
    /// Provider.
    pub provider: Provider,
    /// Call name: WeChat `create`, `query`, `close`, `refund`, `query_refund`, `transfer`,
    /// `query_transfer`, `tradebill`, `billdownload`, `certificates`; Alipay the method
    /// (`alipay.trade.query`...); `*` for any.
    pub call: String,
    /// What happens.
    pub kind: CallFaultKind,
    /// `true`: the call is carried out, then the answer fails (the outcome is unknown to the
    /// client but real); `false`: nothing is done.
    #[serde(default)]
    pub execute: bool,
    /// For `timeout`: how long to wait before answering (default 30 s).
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// How many calls it hits (default 1).
    #[serde(default = "one")]
    pub times: u32,
    /// For `error`: the provider's error code (WeChat `code`, Alipay `sub_code`).
    #[serde(default)]
    pub code: Option<String>,
    /// For `error` at WeChat: the HTTP status (default 400).
    #[serde(default)]
    pub http_status: Option<u16>,
}

fn one() -> u32 {
    1
}

/// What a callback fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackFaultKind {
    /// Never send the callback (no retries either).
    Drop,
    /// Send the first try only after `delay_ms`.
    Delay,
    /// Send it twice (two independent deliveries of the same notification).
    Duplicate,
    /// Hold `times` callbacks, then send them newest first.
    Reorder,
}

/// A fault on callbacks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallbackFault {
    /// Id (for listing).
    #[serde(default)]
    pub id: u64,
    /// Provider.
    pub provider: Provider,
    /// What happens.
    pub kind: CallbackFaultKind,
    /// For `delay`: milliseconds.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// How many callbacks it hits (for `reorder`: how many are held, at least 2).
    #[serde(default = "one")]
    pub times: u32,
}

/// At most this many call rules and this many callback rules are active at once.
pub const MAX_FAULT_RULES: usize = 1_000;

/// The longest delay a fault may ask for (one day), milliseconds.
pub const MAX_FAULT_DELAY_MS: u64 = 24 * 60 * 60 * 1000;

/// Why a fault rule was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FaultError {
    /// [`MAX_FAULT_RULES`] rules of that kind are already active.
    #[error("too many {0} fault rules: at most {MAX_FAULT_RULES} are active at once (DELETE /sandbox/faults clears them)")]
    TooMany(&'static str),
    /// `delay_ms` is above [`MAX_FAULT_DELAY_MS`].
    #[error("delay_ms {0} is above the maximum of {MAX_FAULT_DELAY_MS} (one day)")]
    DelayTooLong(u64),
}

fn check_delay(delay_ms: Option<u64>) -> Result<(), FaultError> {
    match delay_ms {
        Some(d) if d > MAX_FAULT_DELAY_MS => Err(FaultError::DelayTooLong(d)),
        _ => Ok(()),
    }
}

/// Active fault rules (in memory: a restart clears them).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Faults {
    /// On calls.
    pub calls: Vec<CallFault>,
    /// On callbacks.
    pub callbacks: Vec<CallbackFault>,
    /// Reorder buffer: ids of held callbacks.
    #[serde(skip)]
    pub held: Vec<u64>,
    #[serde(skip)]
    next_id: u64,
}

impl Faults {
    /// Adds a call fault; returns its id. Refused past [`MAX_FAULT_RULES`] active call
    /// rules or with a delay above [`MAX_FAULT_DELAY_MS`].
    pub fn add_call(&mut self, mut f: CallFault) -> Result<u64, FaultError> {
        if self.calls.len() >= MAX_FAULT_RULES {
            return Err(FaultError::TooMany("call"));
        }
        check_delay(f.delay_ms)?;
        self.next_id += 1;
        f.id = self.next_id;
        f.times = f.times.max(1);
        self.calls.push(f);
        Ok(self.next_id)
    }

    /// Adds a callback fault; returns its id. Refused past [`MAX_FAULT_RULES`] active
    /// callback rules or with a delay above [`MAX_FAULT_DELAY_MS`].
    pub fn add_callback(&mut self, mut f: CallbackFault) -> Result<u64, FaultError> {
        if self.callbacks.len() >= MAX_FAULT_RULES {
            return Err(FaultError::TooMany("callback"));
        }
        check_delay(f.delay_ms)?;
        self.next_id += 1;
        f.id = self.next_id;
        f.times = f.times.max(1);
        if f.kind == CallbackFaultKind::Reorder {
            f.times = f.times.max(2);
        }
        self.callbacks.push(f);
        Ok(self.next_id)
    }

    /// Takes one use of the first call fault matching `provider` and `call`.
    pub fn take_call(&mut self, provider: Provider, call: &str) -> Option<CallFault> {
        let i = self
            .calls
            .iter()
            .position(|f| f.provider == provider && (f.call == call || f.call == "*"))?;
        let f = self.calls[i].clone();
        self.calls[i].times -= 1;
        if self.calls[i].times == 0 {
            self.calls.remove(i);
        }
        Some(f)
    }

    /// The first callback fault for `provider` (not consumed).
    pub fn peek_callback(&self, provider: Provider) -> Option<CallbackFault> {
        self.callbacks
            .iter()
            .find(|f| f.provider == provider)
            .cloned()
    }

    /// Consumes one use of callback fault `id`.
    pub fn use_callback(&mut self, id: u64) {
        if let Some(i) = self.callbacks.iter().position(|f| f.id == id) {
            self.callbacks[i].times -= 1;
            if self.callbacks[i].times == 0 {
                self.callbacks.remove(i);
            }
        }
    }

    /// Removes every rule.
    pub fn clear(&mut self) {
        self.calls.clear();
        self.callbacks.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(delay_ms: Option<u64>) -> CallFault {
        CallFault {
            id: 0,
            provider: Provider::Wechatpay,
            call: "*".into(),
            kind: CallFaultKind::Http500,
            execute: false,
            delay_ms,
            times: 1,
            code: None,
            http_status: None,
        }
    }

    fn callback(delay_ms: Option<u64>) -> CallbackFault {
        CallbackFault {
            id: 0,
            provider: Provider::Alipay,
            kind: CallbackFaultKind::Delay,
            delay_ms,
            times: 1,
        }
    }

    #[test]
    fn fault_lists_are_capped() {
        let mut f = Faults::default();
        for _ in 0..MAX_FAULT_RULES {
            f.add_call(call(None)).unwrap();
            f.add_callback(callback(None)).unwrap();
        }
        assert_eq!(f.add_call(call(None)), Err(FaultError::TooMany("call")));
        assert_eq!(
            f.add_callback(callback(None)),
            Err(FaultError::TooMany("callback"))
        );
        assert_eq!(f.calls.len(), MAX_FAULT_RULES);
        assert_eq!(f.callbacks.len(), MAX_FAULT_RULES);
        f.clear();
        assert!(f.add_call(call(None)).is_ok());
    }

    #[test]
    fn fault_delays_are_bounded() {
        let mut f = Faults::default();
        assert!(f.add_call(call(Some(MAX_FAULT_DELAY_MS))).is_ok());
        assert!(f.add_callback(callback(Some(MAX_FAULT_DELAY_MS))).is_ok());
        for d in [MAX_FAULT_DELAY_MS + 1, i64::MAX as u64, u64::MAX] {
            assert_eq!(f.add_call(call(Some(d))), Err(FaultError::DelayTooLong(d)));
            assert_eq!(
                f.add_callback(callback(Some(d))),
                Err(FaultError::DelayTooLong(d))
            );
        }
    }
}
