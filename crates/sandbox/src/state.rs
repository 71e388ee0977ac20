//! The sandbox's records (orders, refunds, transfers, callbacks) and their persistence:
//! one JSON file per data directory (`state.json`), written atomically (temporary file,
//! fsync, rename) after every change. Merchants live in their own files (see
//! [`crate::merchant`]) so `merchant add` can write while a sandbox runs.
//!
//! Every collection is bounded: past its limit the oldest *finished* records are dropped.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Most orders kept (oldest finished ones are dropped first).
pub const MAX_ORDERS: usize = 20_000;
/// Most refunds kept.
pub const MAX_REFUNDS: usize = 20_000;
/// Most transfers kept.
pub const MAX_TRANSFERS: usize = 20_000;
/// Most callbacks kept (finished ones are dropped first).
pub const MAX_CALLBACKS: usize = 5_000;
/// `next_at_ms` of a callback whose try is in flight (the worker skips it until the try
/// ends). Should it be saved and the process stop, [`Db::load`] makes it due at once.
pub const IN_FLIGHT: i64 = i64::MAX;
/// Delivery attempts remembered per callback.
pub const MAX_ATTEMPT_LOG: usize = 20;

/// Which simulated provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// WeChat Pay API v3.
    Wechatpay,
    /// Alipay OpenAPI.
    Alipay,
}

impl Provider {
    /// `wechatpay` / `alipay`.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Wechatpay => "wechatpay",
            Provider::Alipay => "alipay",
        }
    }

    /// Parses `wechatpay` / `alipay`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "wechatpay" | "wechat" => Some(Provider::Wechatpay),
            "alipay" => Some(Provider::Alipay),
            _ => None,
        }
    }
}

/// Where an order is in its life (provider words are derived from this).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    /// Waiting for the buyer (WeChat NOTPAY, Alipay WAIT_BUYER_PAY).
    Pending,
    /// Paid (WeChat SUCCESS / REFUND, Alipay TRADE_SUCCESS / TRADE_CLOSED after a full refund).
    Paid,
    /// Closed by the merchant or expired (WeChat CLOSED, Alipay TRADE_CLOSED).
    Closed,
    /// The buyer's payment failed (WeChat PAYERROR; Alipay keeps WAIT_BUYER_PAY).
    Failed,
}

/// One order at a provider (WeChat transaction or Alipay trade).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Provider.
    pub provider: Provider,
    /// WeChat `mchid` / Alipay `app_id`.
    pub merchant: String,
    /// WeChat `appid` / Alipay `app_id`.
    pub appid: String,
    /// Merchant's order number.
    pub out_trade_no: String,
    /// WeChat `transaction_id` / Alipay `trade_no` (set at payment for WeChat).
    pub txn_id: Option<String>,
    /// WeChat trade type (JSAPI, NATIVE, APP, MWEB) / Alipay method that created it.
    pub product: String,
    /// Description / subject.
    pub subject: String,
    /// Amount asked for, fen.
    pub total: i64,
    /// Amount actually paid, fen (differs from `total` only under fault injection).
    pub paid_amount: Option<i64>,
    /// Status.
    pub status: OrderStatus,
    /// Sum of successful refunds, fen.
    pub refunded: i64,
    /// Callback URL.
    pub notify_url: Option<String>,
    /// Alipay `return_url`.
    pub return_url: Option<String>,
    /// WeChat `attach` / Alipay `passback_params` (as sent).
    pub attach: Option<String>,
    /// Payer (openid / buyer id) when known.
    pub payer: Option<String>,
    /// Created, unix seconds.
    pub created_at: i64,
    /// Expires, unix seconds.
    pub expires_at: i64,
    /// Paid, unix seconds.
    pub paid_at: Option<i64>,
    /// Closed or failed, unix seconds.
    pub finished_at: Option<i64>,
    /// WeChat prepay id.
    pub prepay_id: Option<String>,
    /// Token in the QR code / H5 URL that leads to the wallet page.
    pub wallet_token: String,
    /// Fingerprint of the create request (a repeat with other fields is refused).
    pub request_fingerprint: String,
    /// How many times this order was paid (more than one only with `force`).
    #[serde(default)]
    pub times_paid: u32,
}

impl Order {
    /// `"{provider}:{merchant}:{out_trade_no}"`.
    pub fn key(&self) -> String {
        order_key(self.provider, &self.merchant, &self.out_trade_no)
    }

    /// WeChat `trade_state`.
    pub fn wechat_trade_state(&self) -> &'static str {
        match self.status {
            OrderStatus::Pending => "NOTPAY",
            OrderStatus::Paid if self.refunded > 0 => "REFUND",
            OrderStatus::Paid => "SUCCESS",
            OrderStatus::Closed => "CLOSED",
            OrderStatus::Failed => "PAYERROR",
        }
    }

    /// Alipay `trade_status`.
    pub fn alipay_trade_status(&self) -> &'static str {
        match self.status {
            OrderStatus::Pending | OrderStatus::Failed => "WAIT_BUYER_PAY",
            OrderStatus::Paid if self.refunded >= self.paid_amount.unwrap_or(self.total) => {
                "TRADE_CLOSED"
            }
            OrderStatus::Paid => "TRADE_SUCCESS",
            OrderStatus::Closed => "TRADE_CLOSED",
        }
    }

    /// Amount paid (fen), the asked amount unless a fault changed it.
    pub fn paid(&self) -> i64 {
        self.paid_amount.unwrap_or(self.total)
    }
}

/// Key of an order.
pub fn order_key(provider: Provider, merchant: &str, out_trade_no: &str) -> String {
    format!("{}:{merchant}:{out_trade_no}", provider.as_str())
}

/// A refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRec {
    /// Provider.
    pub provider: Provider,
    /// Merchant (mchid / app_id).
    pub merchant: String,
    /// WeChat `out_refund_no` / Alipay `out_request_no`.
    pub out_refund_no: String,
    /// The order's number.
    pub out_trade_no: String,
    /// The order's provider id.
    pub txn_id: Option<String>,
    /// WeChat `refund_id`.
    pub refund_id: String,
    /// Refund amount, fen.
    pub amount: i64,
    /// The order's total, fen.
    pub total: i64,
    /// `PROCESSING` or `SUCCESS`.
    pub status: String,
    /// Created, unix seconds.
    pub created_at: i64,
    /// Succeeded, unix seconds.
    pub success_at: Option<i64>,
    /// When a PROCESSING refund becomes SUCCESS, unix milliseconds.
    pub settle_at_ms: Option<i64>,
    /// WeChat refund `notify_url`.
    pub notify_url: Option<String>,
    /// Reason.
    pub reason: Option<String>,
}

/// A transfer (payout) to a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferRec {
    /// Provider.
    pub provider: Provider,
    /// Merchant (mchid / app_id).
    pub merchant: String,
    /// WeChat `appid` / Alipay `app_id`.
    pub appid: String,
    /// WeChat `out_bill_no` / Alipay `out_biz_no`.
    pub out_bill_no: String,
    /// WeChat `transfer_bill_no` / Alipay `order_id`.
    pub bill_no: String,
    /// Amount, fen.
    pub amount: i64,
    /// openid / Alipay identity.
    pub payee: String,
    /// Decrypted real name when one was sent.
    pub payee_name: Option<String>,
    /// Remark.
    pub remark: String,
    /// Provider state word (WeChat ACCEPTED, WAIT_USER_CONFIRM, SUCCESS, FAIL...; Alipay SUCCESS, DEALING, FAIL).
    pub state: String,
    /// Failure reason.
    pub fail_reason: Option<String>,
    /// WeChat `package_info` for the user's confirmation.
    pub package_info: Option<String>,
    /// Created, unix seconds.
    pub created_at: i64,
    /// Last change, unix seconds.
    pub updated_at: i64,
    /// When an automatic transfer settles, unix milliseconds.
    pub settle_at_ms: Option<i64>,
    /// Callback URL.
    pub notify_url: Option<String>,
}

/// What a callback carries; signed (and, for WeChat, encrypted) afresh at each try.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CallbackPayload {
    /// A WeChat Pay notification.
    Wechat {
        /// Notification id (constant across retries).
        id: String,
        /// `create_time`.
        create_time: String,
        /// `event_type`, e.g. `TRANSACTION.SUCCESS`.
        event_type: String,
        /// `summary`.
        summary: String,
        /// `resource.original_type`.
        original_type: String,
        /// The resource before encryption (JSON).
        plaintext: String,
    },
    /// An Alipay notification (form parameters before `sign`/`sign_type`).
    Alipay {
        /// Parameters; `notify_time` is refreshed at each try.
        params: Vec<(String, String)>,
    },
}

/// Where a callback is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CallbackStatus {
    /// Waiting for its next try.
    Pending,
    /// Held back for reordering.
    Held,
    /// Acknowledged by the merchant.
    Delivered,
    /// Dropped by fault injection (never sent).
    Dropped,
    /// Every try of the schedule failed.
    GaveUp,
}

/// One try of a callback.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttemptLog {
    /// Unix milliseconds.
    pub at_ms: i64,
    /// HTTP status, if an answer came.
    pub http_status: Option<u16>,
    /// Acknowledged?
    pub acknowledged: bool,
    /// Error or the answer's first bytes.
    pub detail: String,
}

/// A callback to a merchant, with its retry state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Callback {
    /// Sandbox id.
    pub id: u64,
    /// Provider.
    pub provider: Provider,
    /// Merchant (mchid / app_id).
    pub merchant: String,
    /// What it is about (`out_trade_no`, `out_refund_no` or `out_bill_no`).
    pub subject: String,
    /// Event (`TRANSACTION.SUCCESS`, `trade_status_sync`...).
    pub event: String,
    /// Target URL.
    pub url: String,
    /// Payload.
    pub payload: CallbackPayload,
    /// Status.
    pub status: CallbackStatus,
    /// Tries made.
    pub attempts: u32,
    /// Next try, unix milliseconds.
    pub next_at_ms: i64,
    /// Recent tries.
    pub log: Vec<AttemptLog>,
}

/// Everything the sandbox remembers besides merchants.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Db {
    /// Orders by [`order_key`].
    pub orders: BTreeMap<String, Order>,
    /// Refunds by `"{provider}:{merchant}:{out_refund_no}"`.
    pub refunds: BTreeMap<String, RefundRec>,
    /// Transfers by `"{provider}:{merchant}:{out_bill_no}"`.
    pub transfers: BTreeMap<String, TransferRec>,
    /// Callbacks by id.
    pub callbacks: BTreeMap<u64, Callback>,
    /// Next callback id.
    pub next_callback_id: u64,
    /// Per-merchant settings changed through the control API (e.g. WeChat signing mode).
    #[serde(default)]
    pub settings: Settings,
}

/// Settings changed at run time.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Settings {
    /// WeChat transfers: `true` = settle to SUCCESS by themselves (ACCEPTED first),
    /// `false` (default) = WAIT_USER_CONFIRM until confirmed on the wallet or control API.
    #[serde(default)]
    pub wechat_transfer_auto_confirm: bool,
    /// How WeChat refunds end when they settle: `SUCCESS` (default), `ABNORMAL` (the
    /// buyer's card or account cannot receive it: WeChat's `REFUND.ABNORMAL`) or `CLOSED`
    /// (`REFUND.CLOSED`).
    #[serde(default = "default_refund_outcome")]
    pub wechat_refund_outcome: String,
    /// A bill fault: payments (by `out_trade_no`) the daily trade bills leave out, as a
    /// provider whose bill lost a transaction would (reconciliation's "paydesk has it, the
    /// provider does not").
    #[serde(default)]
    pub bill_omitted_trades: Vec<String>,
    /// The fee WeChat Pay's trade bills charge, parts per million of each payment (a
    /// refund gives its share back); 0 (the default) charges none.
    #[serde(default)]
    pub wechat_bill_fee_ppm: u32,
}

fn default_refund_outcome() -> String {
    "SUCCESS".into()
}

/// Key of a refund or transfer.
pub fn sub_key(provider: Provider, merchant: &str, no: &str) -> String {
    format!("{}:{merchant}:{no}", provider.as_str())
}

impl Db {
    /// Reads `state.json` from `dir` (an empty database when absent).
    pub fn load(dir: &Path) -> anyhow::Result<Db> {
        let path = state_path(dir);
        match std::fs::read(&path) {
            Ok(bytes) => {
                let mut db: Db = serde_json::from_slice(&bytes).map_err(|e| {
                    anyhow::anyhow!("{} is not a sandbox state file: {e}", path.display())
                })?;
                // Tries that were in flight when the last process stopped never ended:
                // they are due again now, not stuck forever.
                let now = crate::app::now_ms();
                for c in db.callbacks.values_mut() {
                    if c.next_at_ms == IN_FLIGHT {
                        c.next_at_ms = now;
                    }
                }
                Ok(db)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Db::default()),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        }
    }

    /// Writes `state.json` atomically.
    pub fn save(&self, dir: &Path) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(self).map_err(std::io::Error::other)?;
        write_atomically(&state_path(dir), &bytes)
    }

    /// Inserts an order, dropping the oldest finished one past [`MAX_ORDERS`].
    pub fn insert_order(&mut self, order: Order) {
        if self.orders.len() >= MAX_ORDERS && !self.orders.contains_key(&order.key()) {
            let oldest = self
                .orders
                .values()
                .filter(|o| o.status != OrderStatus::Pending)
                .min_by_key(|o| o.created_at)
                .or_else(|| self.orders.values().min_by_key(|o| o.created_at))
                .map(Order::key);
            if let Some(k) = oldest {
                self.orders.remove(&k);
            }
        }
        self.orders.insert(order.key(), order);
    }

    /// Inserts a refund (bounded).
    pub fn insert_refund(&mut self, r: RefundRec) {
        let key = sub_key(r.provider, &r.merchant, &r.out_refund_no);
        if self.refunds.len() >= MAX_REFUNDS && !self.refunds.contains_key(&key) {
            if let Some(k) = self
                .refunds
                .iter()
                .min_by_key(|(_, r)| r.created_at)
                .map(|(k, _)| k.clone())
            {
                self.refunds.remove(&k);
            }
        }
        self.refunds.insert(key, r);
    }

    /// Inserts a transfer (bounded).
    pub fn insert_transfer(&mut self, t: TransferRec) {
        let key = sub_key(t.provider, &t.merchant, &t.out_bill_no);
        if self.transfers.len() >= MAX_TRANSFERS && !self.transfers.contains_key(&key) {
            if let Some(k) = self
                .transfers
                .iter()
                .min_by_key(|(_, t)| t.created_at)
                .map(|(k, _)| k.clone())
            {
                self.transfers.remove(&k);
            }
        }
        self.transfers.insert(key, t);
    }

    /// Adds a callback (bounded: finished callbacks go first) and returns its id.
    pub fn push_callback(&mut self, mut cb: Callback) -> u64 {
        if self.callbacks.len() >= MAX_CALLBACKS {
            let victim = self
                .callbacks
                .values()
                .find(|c| !matches!(c.status, CallbackStatus::Pending | CallbackStatus::Held))
                .or_else(|| self.callbacks.values().next())
                .map(|c| c.id);
            if let Some(id) = victim {
                self.callbacks.remove(&id);
            }
        }
        self.next_callback_id += 1;
        cb.id = self.next_callback_id;
        self.callbacks.insert(cb.id, cb);
        self.next_callback_id
    }

    /// Finds orders of a provider by number, optionally of one merchant.
    pub fn find_orders(
        &self,
        provider: Provider,
        merchant: Option<&str>,
        out_trade_no: &str,
    ) -> Vec<&Order> {
        self.orders
            .values()
            .filter(|o| {
                o.provider == provider
                    && o.out_trade_no == out_trade_no
                    && merchant.is_none_or(|m| m == o.merchant)
            })
            .collect()
    }
}

/// `DIR/state.json`.
pub fn state_path(dir: &Path) -> PathBuf {
    dir.join("state.json")
}

/// Writes a file atomically: a temporary file in the same directory, fsync, rename. On Unix
/// the file is readable by its owner only (merchant files hold private keys).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.tmp{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("state"),
        std::process::id()
    ));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn order(no: &str, created_at: i64, status: OrderStatus) -> Order {
        Order {
            provider: Provider::Wechatpay,
            merchant: "1900000001".into(),
            appid: "wx1".into(),
            out_trade_no: no.into(),
            txn_id: None,
            product: "NATIVE".into(),
            subject: "s".into(),
            total: 100,
            paid_amount: None,
            status,
            refunded: 0,
            notify_url: None,
            return_url: None,
            attach: None,
            payer: None,
            created_at,
            expires_at: created_at + 3600,
            paid_at: None,
            finished_at: None,
            prepay_id: None,
            wallet_token: no.into(),
            request_fingerprint: String::new(),
            times_paid: 0,
        }
    }

    #[test]
    fn saves_atomically_and_loads_back() {
        let dir =
            std::env::temp_dir().join(format!("paydesk-sandbox-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        assert!(
            Db::load(&dir).unwrap().orders.is_empty(),
            "absent file: empty state"
        );
        let mut db = Db::default();
        db.insert_order(order("A1", 1, OrderStatus::Pending));
        db.settings.wechat_transfer_auto_confirm = true;
        db.save(&dir).unwrap();
        let back = Db::load(&dir).unwrap();
        assert_eq!(
            back.orders["wechatpay:1900000001:A1"],
            db.orders["wechatpay:1900000001:A1"]
        );
        assert!(back.settings.wechat_transfer_auto_confirm);
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("state.json")]);
        std::fs::write(state_path(&dir), b"{not json").unwrap();
        assert!(
            Db::load(&dir).is_err(),
            "a corrupt file is an error, not an empty state"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn in_flight_callbacks_are_due_again_after_a_restart() {
        let dir =
            std::env::temp_dir().join(format!("paydesk-sandbox-inflight-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut db = Db::default();
        let mut cb = crate::callbacks::alipay("a", "s", "http://x", "e", vec![]);
        cb.next_at_ms = IN_FLIGHT;
        let id = db.push_callback(cb);
        let mut later = crate::callbacks::alipay("a", "t", "http://x", "e", vec![]);
        later.next_at_ms = 42;
        let later_id = db.push_callback(later);
        db.save(&dir).unwrap();
        let before = crate::app::now_ms();
        let back = Db::load(&dir).unwrap();
        let at = back.callbacks[&id].next_at_ms;
        assert!(
            at >= before && at <= crate::app::now_ms(),
            "in-flight try is due now, not stuck: {at}"
        );
        assert_eq!(back.callbacks[&later_id].next_at_ms, 42, "others untouched");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn collections_are_bounded_and_drop_finished_records_first() {
        let mut db = Db::default();
        db.insert_order(order("OLD_PENDING", 0, OrderStatus::Pending));
        db.insert_order(order("OLD_PAID", 1, OrderStatus::Paid));
        for i in 2..MAX_ORDERS as i64 {
            db.insert_order(order(&format!("N{i}"), i, OrderStatus::Pending));
        }
        assert_eq!(db.orders.len(), MAX_ORDERS);
        db.insert_order(order("NEW", i64::MAX / 2, OrderStatus::Pending));
        assert_eq!(db.orders.len(), MAX_ORDERS);
        assert!(!db.orders.contains_key("wechatpay:1900000001:OLD_PAID"));
        assert!(db.orders.contains_key("wechatpay:1900000001:OLD_PENDING"));

        let mut db = Db::default();
        for i in 0..MAX_CALLBACKS + 10 {
            let cb = crate::callbacks::alipay("a", &i.to_string(), "http://x", "e", vec![]);
            db.push_callback(cb);
        }
        assert_eq!(db.callbacks.len(), MAX_CALLBACKS);
    }

    #[test]
    fn provider_words_follow_the_order() {
        let mut o = order("A", 0, OrderStatus::Paid);
        assert_eq!(
            (o.wechat_trade_state(), o.alipay_trade_status()),
            ("SUCCESS", "TRADE_SUCCESS")
        );
        o.refunded = 50;
        assert_eq!(
            (o.wechat_trade_state(), o.alipay_trade_status()),
            ("REFUND", "TRADE_SUCCESS")
        );
        o.refunded = 100;
        assert_eq!(o.alipay_trade_status(), "TRADE_CLOSED");
        o.status = OrderStatus::Failed;
        assert_eq!(
            (o.wechat_trade_state(), o.alipay_trade_status()),
            ("PAYERROR", "WAIT_BUYER_PAY")
        );
    }
}
