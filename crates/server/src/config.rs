//! Configuration: defaults, then a TOML file, then `PAYDESK_*` environment variables,
//! then command-line flags (applied by the binary). Every key is documented in
//! `docs/configuration.md`; the environment name of a key is `PAYDESK_` plus the
//! upper-cased key, with a section's name in front for sectioned keys
//! (`notify.timeout_ms` -> `PAYDESK_NOTIFY_TIMEOUT_MS`).

use paydesk_core::retry::RetrySchedule;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOML or a value in it is invalid.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// All of paydesk's settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the HTTP server listens on.
    pub listen: String,
    /// Directory for the embedded SQLite database and the master key file.
    pub data_dir: PathBuf,
    /// Database URL (`sqlite:PATH`, `postgres://...`, `mysql://...`); empty means
    /// `sqlite:<data_dir>/paydesk.db`.
    pub database_url: String,
    /// Connection pool size.
    pub database_max_connections: u32,
    /// Cold (archive) store URL, any backend (`docs/archive.md`); empty means no cold
    /// store: `paydesk archive` refuses to run.
    pub cold_database_url: String,
    /// Base URL buyers and business lines reach this server on (for `checkout_url`);
    /// empty means `http://<listen>`.
    pub public_url: String,
    /// Path of the master key file used when `PAYDESK_MASTER_KEY` is unset; empty means
    /// `<data_dir>/master.key` (embedded default only).
    pub master_key_file: String,
    /// `text` or `json` log lines.
    pub log_format: String,
    /// tracing filter, e.g. `info` or `paydesk_server=debug,info`.
    pub log_level: String,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Business notification delivery.
    pub notify: NotifyConfig,
    /// Expiry of unpaid orders.
    pub expiry: ExpiryConfig,
    /// Checkout rules: publishing, polling, limits, the decision sample.
    pub rules: RulesConfig,
    /// Operator console and admin API.
    pub admin: AdminConfig,
    /// The acquiring flow: attempts, active queries, refunds, provider calls.
    pub payments: PaymentsConfig,
    /// The embedded provider sandbox (used when no merchant accounts file is given).
    pub sandbox: SandboxConfig,
    /// The scheduled archiver (`docs/archive.md`).
    pub archive: ArchiveConfig,
    /// Reconciliation with the providers' daily bills (`docs/reconciliation.md`).
    pub reconcile: ReconcileConfig,
    /// Payouts (打款) and withdrawals (提现): limits, accounts, the transfer worker
    /// (`docs/payouts.md`).
    pub payouts: PayoutsConfig,
}

/// The daily reconciliation worker (off by default; `paydesk reconcile --date D` and the
/// admin API run a day on demand).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ReconcileConfig {
    /// Run yesterday's bill day (China time) once a day in this instance. Several
    /// instances may enable it: a day's run is claimed in the database, so one does it.
    pub enabled: bool,
    /// The hour (China time, 0-23) from which yesterday's bills are fetched; the
    /// providers publish them in the morning (WeChat Pay after 10:00, Alipay after 09:00).
    pub run_at_hour_china: u8,
    /// How often the worker checks whether the day is due.
    pub poll_interval_ms: u64,
    /// Merchant accounts to reconcile; empty means every account in use.
    pub accounts: Vec<String>,
    /// A run still `RUNNING` after this long is presumed dead and may be taken over.
    pub stale_after_ms: u64,
    /// Agreed fee rates per merchant account, in parts per million of the amount
    /// (`6000` = 0.6%); an account without one has its fees recorded, not checked.
    pub fee_rate_ppm: std::collections::BTreeMap<String, u32>,
}

impl Default for ReconcileConfig {
    fn default() -> Self {
        ReconcileConfig {
            enabled: false,
            run_at_hour_china: 10,
            poll_interval_ms: 600_000,
            accounts: Vec::new(),
            stale_after_ms: 3_600_000,
            fee_rate_ppm: Default::default(),
        }
    }
}

/// Payout and withdrawal settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PayoutsConfig {
    /// Largest single payout or withdrawal, minor units of its currency.
    pub max_amount_minor: i64,
    /// Most one business line may pay out (payouts and withdrawals together) per currency
    /// and business day (China Standard Time), minor units; enforced under concurrency in
    /// the transaction that records each payout.
    pub daily_limit_minor: i64,
    /// The merchant account used when a request names only `provider: wechatpay`.
    pub wechatpay_account: String,
    /// The merchant account used when a request names only `provider: alipay`.
    pub alipay_account: String,
    /// WeChat `transfer_scene_id` declared on every transfer (`1000`: cash marketing).
    pub wechat_transfer_scene_id: String,
    /// The activity name reported with the WeChat scene (`活动名称`).
    pub wechat_activity_name: String,
    /// Delays between queries of a transfer in flight (or waiting for the user), e.g.
    /// `2s,5s,30s`; the last one repeats.
    pub query_schedule: String,
    /// Most provider calls (transfer, query, cancel) per payout made by the worker; past
    /// it the payout stays open without a next action until an operator retries it.
    pub max_tries: i64,
    /// A transfer still waiting for its recipient's confirmation this long after it was
    /// requested is cancelled at the provider (WeChat).
    pub confirm_timeout_ms: u64,
    /// How often the payout worker looks for due work when not woken.
    pub poll_interval_ms: u64,
    /// Most payouts handled per worker pass.
    pub batch_size: i64,
    /// Most provider calls for payouts in flight at once per instance.
    pub max_in_flight: usize,
    /// Limits of particular business lines, by business line name (e.g.
    /// `[payouts.line_limits.secondhand] daily_limit_minor = 5000000`); a line without
    /// an entry, or a limit an entry leaves out, uses the two limits above.
    pub line_limits: std::collections::BTreeMap<String, LineLimits>,
}

/// One business line's payout limits (see [`PayoutsConfig::line_limits`]).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LineLimits {
    /// Largest single payout or withdrawal of this line, minor units.
    pub max_amount_minor: Option<i64>,
    /// Most this line may pay out per currency and business day, minor units.
    pub daily_limit_minor: Option<i64>,
}

impl PayoutsConfig {
    /// `(largest single payout, daily limit)` for the business line named `line_name`.
    pub fn limits_for(&self, line_name: &str) -> (i64, i64) {
        let own = self.line_limits.get(line_name);
        (
            own.and_then(|l| l.max_amount_minor)
                .unwrap_or(self.max_amount_minor),
            own.and_then(|l| l.daily_limit_minor)
                .unwrap_or(self.daily_limit_minor),
        )
    }

    fn payout_query_schedule_is_empty(&self) -> bool {
        self.query_schedule.split(',').all(|p| p.trim().is_empty())
    }
}

impl Default for PayoutsConfig {
    fn default() -> Self {
        PayoutsConfig {
            max_amount_minor: 2_000_000,
            daily_limit_minor: 100_000_000,
            wechatpay_account: "wx-main".into(),
            alipay_account: "ali-main".into(),
            wechat_transfer_scene_id: "1000".into(),
            wechat_activity_name: "paydesk payout".into(),
            query_schedule: "5s,10s,30s,1m,2m,5m,10m,30m".into(),
            max_tries: 500,
            confirm_timeout_ms: 24 * 3_600_000,
            poll_interval_ms: 1_000,
            batch_size: 50,
            max_in_flight: 8,
            line_limits: Default::default(),
        }
    }
}

/// Scheduled archiving inside `paydesk serve` (off by default; `paydesk archive` is the
/// one-off equivalent). Runs only when a cold store is configured too.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// Run the archiver in this instance. Enable it on one instance per hot database:
    /// concurrent archivers lose nothing but duplicate work.
    pub enabled: bool,
    /// Pause between two archive runs (each runs until nothing is eligible).
    pub interval_ms: u64,
    /// Finished pay orders last changed more than this many days ago move to cold.
    pub min_age_days: u32,
    /// Pay orders per batch (1-2000).
    pub batch_size: usize,
    /// Rows moved per second at most, so live traffic is not hurt (0 = no limit).
    pub rate_limit_rows_per_sec: u64,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            enabled: false,
            interval_ms: 3_600_000,
            min_age_days: 90,
            batch_size: 1000,
            rate_limit_rows_per_sec: 5_000,
        }
    }
}

/// Acquiring flow settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct PaymentsConfig {
    /// JSON file of merchant accounts (`docs/providers.md`); empty means the embedded
    /// sandbox's accounts (`wx-main`, `ali-main`, `wx-seller-acme`, `ali-seller-acme`).
    pub merchant_accounts_file: String,
    /// Most attempts (provider orders) one pay order may have.
    pub max_attempts_per_order: i64,
    /// Delays between active queries of a pending attempt, e.g. `5s,10s,30s`; the last
    /// delay repeats until the order expires.
    pub query_schedule: String,
    /// How often the active-query and refund workers look for due work.
    pub poll_interval_ms: u64,
    /// Most attempts or refunds handled per poll.
    pub batch_size: i64,
    /// Hold a payment of the wrong amount for an operator instead of refunding it.
    pub hold_amount_mismatch: bool,
    /// How long after payment a refund may be asked for (WeChat Pay and Alipay: a year).
    pub refund_window_days: i64,
    /// Most refunds per payment (WeChat Pay allows 50).
    pub max_refunds_per_payment: i64,
    /// Delay before a refund the provider could not take now (`FREQUENCY_LIMITED`,
    /// `NOT_ENOUGH`, a timeout) is sent again with the same refund number.
    pub refund_retry_ms: u64,
    /// Delay between queries of a refund in progress.
    pub refund_query_ms: u64,
    /// Timeout of one provider call.
    pub provider_timeout_ms: u64,
    /// Connect timeout of provider calls.
    pub provider_connect_timeout_ms: u64,
    /// How often every instance checks the database's merchant accounts for changes
    /// (added, disabled, enabled, a key rotated) and reloads them.
    pub accounts_poll_interval_ms: u64,
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        PaymentsConfig {
            merchant_accounts_file: String::new(),
            max_attempts_per_order: 10,
            query_schedule: "5s,10s,30s,1m,2m,5m,10m,30m".into(),
            poll_interval_ms: 1_000,
            batch_size: 50,
            hold_amount_mismatch: false,
            refund_window_days: 365,
            max_refunds_per_payment: 50,
            refund_retry_ms: 60_000,
            refund_query_ms: 10_000,
            provider_timeout_ms: 10_000,
            provider_connect_timeout_ms: 3_000,
            accounts_poll_interval_ms: 3_000,
        }
    }
}

/// Embedded sandbox settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Run the sandbox inside `paydesk serve` when no merchant accounts file is given.
    pub embedded: bool,
    /// Address the embedded sandbox listens on.
    pub listen: String,
    /// Callback retry and settle delays are divided by this.
    pub time_scale: f64,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            embedded: true,
            listen: "127.0.0.1:8090".into(),
            time_scale: 1.0,
        }
    }
}

/// Checkout rules settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RulesConfig {
    /// How often each instance checks for a newly published or rolled-back version.
    pub poll_interval_ms: u64,
    /// Largest rule set document (and admin request body) accepted, in bytes.
    pub max_document_bytes: usize,
    /// Deepest allowed condition nesting.
    pub max_depth: usize,
    /// How many recorded decisions' facts are kept for simulations.
    pub sample_slots: i64,
}

/// Console and admin API settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// How long a console sign-in lasts.
    pub session_ttl_ms: u64,
    /// Admin actions that need a second admin's approval (maker-checker):
    /// `rules.publish`, `merchant_account.change`, `business_line.rotate_secret`,
    /// `reconciliation.resolve`, `payout.retry`. Empty: every action runs at once.
    pub approvals_required: Vec<String>,
}

impl Default for RulesConfig {
    fn default() -> Self {
        RulesConfig {
            poll_interval_ms: 1_000,
            max_document_bytes: 1024 * 1024,
            max_depth: 8,
            sample_slots: 10_000,
        }
    }
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            session_ttl_ms: 8 * 3600 * 1000,
            approvals_required: Vec::new(),
        }
    }
}

/// Outbox dispatcher settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct NotifyConfig {
    /// Delays between tries, e.g. `15s,15s,30s,3m`; after the last the event fails.
    pub retry_schedule: String,
    /// Timeout of one delivery request.
    pub timeout_ms: u64,
    /// How often the dispatcher looks for due events when not woken by a commit.
    pub poll_interval_ms: u64,
    /// Most deliveries in flight at once per instance.
    pub max_in_flight: usize,
    /// Most events claimed per poll.
    pub batch_size: i64,
}

/// Expiry worker settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ExpiryConfig {
    /// How often expired `WAITING` orders are looked for.
    pub interval_ms: u64,
    /// Most orders closed per pass.
    pub batch_size: i64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: String::new(),
            database_max_connections: 16,
            cold_database_url: String::new(),
            public_url: String::new(),
            master_key_file: String::new(),
            log_format: "text".into(),
            log_level: "info".into(),
            max_body_bytes: 64 * 1024,
            notify: NotifyConfig::default(),
            expiry: ExpiryConfig::default(),
            rules: RulesConfig::default(),
            admin: AdminConfig::default(),
            payments: PaymentsConfig::default(),
            sandbox: SandboxConfig::default(),
            archive: ArchiveConfig::default(),
            reconcile: ReconcileConfig::default(),
            payouts: PayoutsConfig::default(),
        }
    }
}

impl Default for NotifyConfig {
    fn default() -> Self {
        NotifyConfig {
            retry_schedule: "15s,15s,30s,3m,10m,20m,30m,30m,30m,60m,3h,3h,3h,6h,6h".into(),
            timeout_ms: 10_000,
            poll_interval_ms: 1_000,
            max_in_flight: 32,
            batch_size: 64,
        }
    }
}

impl Default for ExpiryConfig {
    fn default() -> Self {
        ExpiryConfig {
            interval_ms: 1_000,
            batch_size: 100,
        }
    }
}

impl Config {
    /// Defaults, overlaid by `file` (if given) and then by `PAYDESK_*` variables from
    /// `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        let mut table = match toml::Value::try_from(Config::default()) {
            Ok(toml::Value::Table(t)) => t,
            _ => return Err(ConfigError::Invalid("defaults do not serialise".into())),
        };
        if let Some(path) = file {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.display().to_string(),
                source,
            })?;
            let from_file: toml::Table = text
                .parse()
                .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
            merge(&mut table, from_file);
        }
        let env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("PAYDESK_"))
            .collect();
        apply_env(&mut table, "PAYDESK_", &env)?;
        let config: Config = toml::Value::Table(table)
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that parse but make no sense.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.retry_schedule()?;
        let bad = |m: &str| Err(ConfigError::Invalid(m.to_owned()));
        if !matches!(self.log_format.as_str(), "text" | "json") {
            return bad("log_format must be `text` or `json`");
        }
        // Upper bounds too: every queue, batch and timeout is bounded, and the lease and
        // semaphore arithmetic downstream relies on these ranges.
        const HOUR_MS: u64 = 3_600_000;
        if !(1024..=16 << 20).contains(&self.max_body_bytes) {
            return bad("max_body_bytes must be 1024 to 16777216");
        }
        if !(1..=10_000).contains(&self.notify.max_in_flight)
            || !(1..=10_000).contains(&self.notify.batch_size)
        {
            return bad("notify.max_in_flight and notify.batch_size must be 1 to 10000");
        }
        if !(1..=600_000).contains(&self.notify.timeout_ms)
            || !(1..=HOUR_MS).contains(&self.notify.poll_interval_ms)
        {
            return bad(
                "notify.timeout_ms must be 1 to 600000 and notify.poll_interval_ms 1 to 3600000",
            );
        }
        if !(1..=HOUR_MS).contains(&self.expiry.interval_ms)
            || !(1..=10_000).contains(&self.expiry.batch_size)
        {
            return bad("expiry.interval_ms must be 1 to 3600000 and expiry.batch_size 1 to 10000");
        }
        if self.rules.poll_interval_ms == 0 || self.rules.sample_slots <= 0 {
            return bad("rules.poll_interval_ms and rules.sample_slots must be positive");
        }
        if self.rules.max_document_bytes < 1024 || !(1..=64).contains(&self.rules.max_depth) {
            return bad(
                "rules.max_document_bytes must be at least 1024 and rules.max_depth 1 to 64",
            );
        }
        if self.admin.session_ttl_ms < 60_000 {
            return bad("admin.session_ttl_ms must be at least 60000");
        }
        // A misspelt action would silently leave it ungated: refuse it.
        if let Some(a) = self
            .admin
            .approvals_required
            .iter()
            .find(|a| crate::admin::approvals::GatedAction::parse(a).is_none())
        {
            return Err(ConfigError::Invalid(format!(
                "admin.approvals_required: unknown action `{a}` (use rules.publish, \
                 merchant_account.change, business_line.rotate_secret, \
                 reconciliation.resolve or payout.retry)"
            )));
        }
        if !(1..=1000).contains(&self.database_max_connections) {
            return bad("database_max_connections must be 1 to 1000");
        }
        let p = &self.payments;
        self.query_schedule()?;
        if !(1..=1000).contains(&p.max_attempts_per_order)
            || !(1..=10_000).contains(&p.batch_size)
            || !(1..=HOUR_MS).contains(&p.poll_interval_ms)
        {
            return bad("payments.max_attempts_per_order must be 1 to 1000, payments.batch_size 1 to 10000 and payments.poll_interval_ms 1 to 3600000");
        }
        if !(1..=3650).contains(&p.refund_window_days)
            || !(1..=1000).contains(&p.max_refunds_per_payment)
        {
            return bad("payments.refund_window_days must be 1 to 3650 and payments.max_refunds_per_payment 1 to 1000");
        }
        if !(1..=24 * HOUR_MS).contains(&p.refund_retry_ms)
            || !(1..=24 * HOUR_MS).contains(&p.refund_query_ms)
            || !(1..=600_000).contains(&p.provider_timeout_ms)
            || !(1..=600_000).contains(&p.provider_connect_timeout_ms)
        {
            return bad("payments.refund_retry_ms and refund_query_ms must be 1 to 86400000, provider timeouts 1 to 600000");
        }
        if !(1..=HOUR_MS).contains(&p.accounts_poll_interval_ms) {
            return bad("payments.accounts_poll_interval_ms must be 1 to 3600000");
        }
        if !(self.sandbox.time_scale >= 1.0 && self.sandbox.time_scale <= 10_000.0) {
            return bad("sandbox.time_scale must be 1 to 10000");
        }
        if self.sandbox.listen.parse::<SocketAddr>().is_err() {
            return bad("sandbox.listen must be host:port");
        }
        let a = &self.archive;
        if !(1..=7 * 24 * HOUR_MS).contains(&a.interval_ms)
            || !(1..=2000).contains(&a.batch_size)
            || !(1..=36_500).contains(&a.min_age_days)
        {
            return bad("archive.interval_ms must be 1 to 604800000, archive.batch_size 1 to 2000 and archive.min_age_days 1 to 36500");
        }
        let r = &self.reconcile;
        if r.run_at_hour_china > 23
            || !(1_000..=HOUR_MS).contains(&r.poll_interval_ms)
            || !(60_000..=7 * 24 * HOUR_MS).contains(&r.stale_after_ms)
        {
            return bad("reconcile.run_at_hour_china must be 0 to 23, reconcile.poll_interval_ms 1000 to 3600000 and reconcile.stale_after_ms 60000 to 604800000");
        }
        if r.fee_rate_ppm.values().any(|ppm| *ppm > 1_000_000) {
            return bad("reconcile.fee_rate_ppm values must be 0 to 1000000");
        }
        let po = &self.payouts;
        self.payout_query_schedule()?;
        const MAX_MINOR: i64 = paydesk_core::ledger::MAX_LINE_MINOR;
        if !(1..=MAX_MINOR).contains(&po.max_amount_minor)
            || !(1..=MAX_MINOR).contains(&po.daily_limit_minor)
        {
            return bad(
                "payouts.max_amount_minor and payouts.daily_limit_minor must be 1 to 10^15",
            );
        }
        if po.line_limits.values().any(|l| {
            [l.max_amount_minor, l.daily_limit_minor]
                .into_iter()
                .flatten()
                .any(|v| !(1..=MAX_MINOR).contains(&v))
        }) {
            return bad("payouts.line_limits values must be 1 to 10^15");
        }
        if !(1..=10_000).contains(&po.max_tries)
            || !(1..=10_000).contains(&po.batch_size)
            || !(1..=1_000).contains(&po.max_in_flight)
            || !(1..=HOUR_MS).contains(&po.poll_interval_ms)
            || !(1_000..=30 * 24 * HOUR_MS).contains(&po.confirm_timeout_ms)
        {
            return bad("payouts.max_tries and payouts.batch_size must be 1 to 10000, payouts.max_in_flight 1 to 1000, payouts.poll_interval_ms 1 to 3600000 and payouts.confirm_timeout_ms 1000 to 2592000000");
        }
        if po.payout_query_schedule_is_empty() {
            return bad("payouts.query_schedule needs at least one delay");
        }
        if po.wechat_transfer_scene_id.is_empty() || po.wechat_activity_name.is_empty() {
            return bad(
                "payouts.wechat_transfer_scene_id and payouts.wechat_activity_name must be set",
            );
        }
        Ok(())
    }

    /// The listen address.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.listen
            .parse()
            .map_err(|_| ConfigError::Invalid(format!("listen `{}` is not host:port", self.listen)))
    }

    /// The parsed retry schedule.
    pub fn retry_schedule(&self) -> Result<RetrySchedule, ConfigError> {
        self.notify
            .retry_schedule
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("notify.retry_schedule: {e}")))
    }

    /// The parsed active-query schedule.
    pub fn query_schedule(&self) -> Result<RetrySchedule, ConfigError> {
        self.payments
            .query_schedule
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("payments.query_schedule: {e}")))
    }

    /// The parsed payout query schedule.
    pub fn payout_query_schedule(&self) -> Result<RetrySchedule, ConfigError> {
        self.payouts
            .query_schedule
            .parse()
            .map_err(|e| ConfigError::Invalid(format!("payouts.query_schedule: {e}")))
    }

    /// Whether the database is the embedded SQLite default.
    pub fn is_embedded(&self) -> bool {
        self.database_url.is_empty() || self.database_url.starts_with("sqlite:")
    }

    /// The database URL, defaulting to SQLite in the data directory.
    pub fn effective_database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite:{}", self.data_dir.join("paydesk.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// The public base URL, without a trailing slash.
    pub fn effective_public_url(&self) -> String {
        if self.public_url.is_empty() {
            format!("http://{}", self.listen)
        } else {
            self.public_url.trim_end_matches('/').to_owned()
        }
    }

    /// The master key file path.
    pub fn master_key_path(&self) -> PathBuf {
        if self.master_key_file.is_empty() {
            self.data_dir.join("master.key")
        } else {
            PathBuf::from(&self.master_key_file)
        }
    }
}

fn merge(base: &mut toml::Table, overlay: toml::Table) {
    for (k, v) in overlay {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

/// Sets every key of `table` that has a `PAYDESK_*` variable, parsing the text as the
/// type the key already has.
fn apply_env(
    table: &mut toml::Table,
    prefix: &str,
    env: &[(String, String)],
) -> Result<(), ConfigError> {
    for (key, value) in table.iter_mut() {
        let name = format!("{prefix}{}", key.to_ascii_uppercase());
        if let toml::Value::Table(inner) = value {
            apply_env(inner, &format!("{name}_"), env)?;
            continue;
        }
        let Some((_, text)) = env.iter().find(|(k, _)| *k == name) else {
            continue;
        };
        let invalid = || ConfigError::Invalid(format!("{name}=`{text}` is not a valid value"));
        *value = match value {
            toml::Value::Integer(_) => {
                toml::Value::Integer(text.trim().parse().map_err(|_| invalid())?)
            }
            toml::Value::Boolean(_) => {
                toml::Value::Boolean(text.trim().parse().map_err(|_| invalid())?)
            }
            toml::Value::Float(_) => {
                let f: f64 = text.trim().parse().map_err(|_| invalid())?;
                if !f.is_finite() {
                    return Err(invalid());
                }
                toml::Value::Float(f)
            }
            // Lists of names (`reconcile.accounts`): comma-separated.
            toml::Value::Array(_) => toml::Value::Array(
                text.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(|s| toml::Value::String(s.to_owned()))
                    .collect(),
            ),
            _ => toml::Value::String(text.clone()),
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_the_embedded_setup() {
        let c = Config::load(None, env(&[])).unwrap();
        assert_eq!(c, Config::default());
        assert!(c.is_embedded());
        assert_eq!(c.effective_database_url(), "sqlite:./data/paydesk.db");
        assert_eq!(c.effective_public_url(), "http://127.0.0.1:8080");
        assert_eq!(c.retry_schedule().unwrap().delays_ms().len(), 15);
    }

    #[test]
    fn payout_limits_per_business_line() {
        let dir = std::env::temp_dir().join(paydesk_core::ids::new_id("cfg"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("paydesk.toml");
        std::fs::write(
            &path,
            "[payouts]\nmax_amount_minor = 5000\n\
             [payouts.line_limits.secondhand]\ndaily_limit_minor = 700\n\
             [payouts.line_limits.tickets]\nmax_amount_minor = 100\n",
        )
        .unwrap();
        let c = Config::load(Some(&path), env(&[])).unwrap();
        let day = Config::default().payouts.daily_limit_minor;
        assert_eq!(c.payouts.limits_for("secondhand"), (5_000, 700));
        assert_eq!(c.payouts.limits_for("tickets"), (100, day));
        assert_eq!(c.payouts.limits_for("other"), (5_000, day));
        std::fs::write(
            &path,
            "[payouts.line_limits.secondhand]\ndaily_limit_minor = 0\n",
        )
        .unwrap();
        assert!(Config::load(Some(&path), env(&[])).is_err());
    }

    #[test]
    fn file_then_env_override() {
        let dir = std::env::temp_dir().join(paydesk_core::ids::new_id("cfg"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("paydesk.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:9000\"\n[notify]\ntimeout_ms = 500\n",
        )
        .unwrap();
        let c = Config::load(
            Some(&path),
            env(&[
                ("PAYDESK_NOTIFY_TIMEOUT_MS", "700"),
                ("PAYDESK_DATABASE_URL", "postgres://x/y"),
                ("OTHER", "ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(c.listen, "0.0.0.0:9000");
        assert_eq!(c.notify.timeout_ms, 700);
        assert_eq!(
            c.notify.poll_interval_ms, 1_000,
            "untouched keys keep defaults"
        );
        assert!(!c.is_embedded());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn bad_values_are_clear_errors() {
        for (k, v) in [
            ("PAYDESK_NOTIFY_TIMEOUT_MS", "soon"),
            ("PAYDESK_LISTEN", "nowhere"),
            ("PAYDESK_LOG_FORMAT", "xml"),
            ("PAYDESK_NOTIFY_RETRY_SCHEDULE", "15x"),
            ("PAYDESK_NOTIFY_MAX_IN_FLIGHT", "9999999999"),
            ("PAYDESK_NOTIFY_TIMEOUT_MS", "18446744073709551615"),
            ("PAYDESK_EXPIRY_BATCH_SIZE", "-1"),
        ] {
            let e = Config::load(None, env(&[(k, v)])).unwrap_err();
            assert!(matches!(e, ConfigError::Invalid(_)), "{k}: {e}");
        }
        let dir = std::env::temp_dir().join(paydesk_core::ids::new_id("cfg"));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.toml");
        std::fs::write(&path, "no_such_key = 1\n").unwrap();
        assert!(
            Config::load(Some(&path), env(&[])).is_err(),
            "unknown keys are refused"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
