//! Shared application state and the in-memory cache of business-line credentials.

use crate::config::Config;
use crate::payments::accounts::MerchantAccounts;
use crate::secrets::MasterKey;
use metrics_exporter_prometheus::PrometheusHandle;
use paydesk_core::retry::RetrySchedule;
use paydesk_store::{BusinessLine, BusinessLineStatus, Store, StoreError};
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long a business line's decrypted credentials are reused before re-reading
/// them (bounds how long a `disable` takes to bite on every instance).
pub const LINE_CACHE_TTL: Duration = Duration::from_secs(5);
/// Most business lines cached per map; past it the map is emptied (a bound, not an LRU).
const LINE_CACHE_MAX: usize = 10_000;

/// A business line with its secret decrypted, as requests and deliveries need it.
#[derive(Clone)]
pub struct ActiveLine {
    /// Internal id.
    pub id: String,
    /// App id.
    pub app_id: String,
    /// Name.
    pub name: String,
    /// The HMAC secret in clear (memory only).
    pub secret: String,
    /// Default notify URL.
    pub notify_url: String,
    /// Allowed URL prefixes (normalised).
    pub allowed_url_prefixes: Vec<String>,
    /// Whether it may call.
    pub status: BusinessLineStatus,
    /// The secret before the last rotation, still accepted on requests until its
    /// deadline (never used to sign).
    pub previous_secret: Option<PreviousLineSecret>,
}

/// A business line's previous secret in clear (memory only) and its deadline.
#[derive(Clone)]
pub struct PreviousLineSecret {
    /// The secret.
    pub secret: String,
    /// Accepted until this instant (unix ms).
    pub valid_until_ms: i64,
}

impl fmt::Debug for ActiveLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActiveLine")
            .field("id", &self.id)
            .field("app_id", &self.app_id)
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl ActiveLine {
    /// The secrets a request may be signed with at `now_ms`: the current one, then the
    /// previous one until its deadline.
    pub fn accepted_secrets(&self, now_ms: i64) -> impl Iterator<Item = &str> {
        let previous = self
            .previous_secret
            .as_ref()
            .filter(|p| now_ms < p.valid_until_ms)
            .map(|p| p.secret.as_str());
        std::iter::once(self.secret.as_str()).chain(previous)
    }

    /// Whether `url` (normalised) starts with one of the allowed prefixes.
    pub fn allows_url(&self, url: &str) -> bool {
        self.allowed_url_prefixes.iter().any(|p| url.starts_with(p))
    }
}

#[derive(Default)]
struct LineCache {
    by_app_id: HashMap<String, (Arc<ActiveLine>, Instant)>,
    by_id: HashMap<String, (Arc<ActiveLine>, Instant)>,
}

/// State shared by handlers and workers. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

/// The contents of [`AppState`].
pub struct Inner {
    /// Storage.
    pub store: Arc<dyn Store>,
    /// Key for secrets at rest.
    pub master_key: MasterKey,
    /// Settings.
    pub config: Config,
    /// Parsed notification retry schedule.
    pub retry_schedule: RetrySchedule,
    /// Base URL for links handed out.
    pub public_url: String,
    /// Wakes the outbox dispatcher right after a commit that wrote events.
    pub outbox_wake: Notify,
    /// Prometheus renderer.
    pub metrics: PrometheusHandle,
    /// This process's id, used as the lease owner.
    pub instance_id: String,
    /// The active checkout rule set, swapped atomically on publish and by the poller.
    pub rules: crate::admin::engine::RulesHolder,
    /// Parsed active-query schedule for pending attempts.
    pub query_schedule: RetrySchedule,
    /// Wakes the refund worker right after a commit that recorded a refund.
    pub refunds_wake: Notify,
    /// Wakes the payout worker right after a commit that recorded a payout.
    pub payouts_wake: Notify,
    /// Parsed query schedule for transfers in flight.
    pub payout_query_schedule: RetrySchedule,
    /// Where merchant accounts come from besides the database, for reloads.
    pub merchant_account_sources: crate::payments::stored_accounts::SourcesHolder,
    accounts: RwLock<Arc<MerchantAccounts>>,
    lines: Mutex<LineCache>,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Builds the state.
    pub fn new(
        store: Arc<dyn Store>,
        master_key: MasterKey,
        config: Config,
        metrics: PrometheusHandle,
    ) -> Result<Self, crate::config::ConfigError> {
        let retry_schedule = config.retry_schedule()?;
        let public_url = config.effective_public_url();
        let query_schedule = config.query_schedule()?;
        let payout_query_schedule = config.payout_query_schedule()?;
        Ok(AppState(Arc::new(Inner {
            store,
            master_key,
            config,
            retry_schedule,
            public_url,
            outbox_wake: Notify::new(),
            metrics,
            instance_id: paydesk_core::ids::new_id("inst"),
            rules: crate::admin::engine::RulesHolder::default(),
            query_schedule,
            refunds_wake: Notify::new(),
            payouts_wake: Notify::new(),
            payout_query_schedule,
            merchant_account_sources: Default::default(),
            accounts: RwLock::new(Arc::new(MerchantAccounts::empty())),
            lines: Mutex::new(LineCache::default()),
        })))
    }

    /// Opens a line's secrets (current and, while accepted, previous) for use.
    async fn activate(&self, line: BusinessLine) -> Result<Arc<ActiveLine>, StoreError> {
        let open = |sealed: &str| {
            self.master_key
                .open(&line.id, sealed)
                .map_err(|e| StoreError::Corrupt(format!("business line {}: {e}", line.id)))
        };
        let secret = open(&line.secret_ciphertext)?;
        let previous_secret = match self
            .store
            .previous_business_line_secret(&line.id, crate::time::now_ms())
            .await?
        {
            Some(p) => Some(PreviousLineSecret {
                secret: open(&p.secret_ciphertext)?,
                valid_until_ms: p.valid_until_ms,
            }),
            None => None,
        };
        Ok(Arc::new(ActiveLine {
            id: line.id,
            app_id: line.app_id,
            name: line.name,
            secret,
            notify_url: line.notify_url,
            allowed_url_prefixes: line.allowed_url_prefixes,
            status: line.status,
            previous_secret,
        }))
    }

    /// Forgets cached lines (after a change made by this instance; others see it
    /// within [`LINE_CACHE_TTL`]).
    pub fn forget_lines(&self) {
        if let Ok(mut cache) = self.lines.lock() {
            *cache = LineCache::default();
        }
    }

    fn remember(&self, line: &Arc<ActiveLine>) {
        let Ok(mut cache) = self.lines.lock() else {
            return;
        };
        if cache.by_app_id.len() >= LINE_CACHE_MAX || cache.by_id.len() >= LINE_CACHE_MAX {
            *cache = LineCache::default();
        }
        let now = Instant::now();
        cache
            .by_app_id
            .insert(line.app_id.clone(), (line.clone(), now));
        cache.by_id.insert(line.id.clone(), (line.clone(), now));
    }

    fn cached(&self, app_id: Option<&str>, id: Option<&str>) -> Option<Arc<ActiveLine>> {
        let cache = self.lines.lock().ok()?;
        let hit = match (app_id, id) {
            (Some(a), _) => cache.by_app_id.get(a),
            (_, Some(i)) => cache.by_id.get(i),
            _ => None,
        }?;
        (hit.1.elapsed() < LINE_CACHE_TTL).then(|| hit.0.clone())
    }

    /// The business line with this app id (cached for [`LINE_CACHE_TTL`]).
    pub async fn line_by_app_id(
        &self,
        app_id: &str,
    ) -> Result<Option<Arc<ActiveLine>>, StoreError> {
        if let Some(hit) = self.cached(Some(app_id), None) {
            return Ok(Some(hit));
        }
        let Some(line) = self.store.business_line_by_app_id(app_id).await? else {
            return Ok(None);
        };
        let line = self.activate(line).await?;
        self.remember(&line);
        Ok(Some(line))
    }

    /// The merchant accounts in use now.
    pub fn accounts(&self) -> Arc<MerchantAccounts> {
        match self.accounts.read() {
            Ok(a) => a.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the merchant accounts as a whole (calls in flight keep the old set).
    pub fn set_merchant_accounts(&self, accounts: MerchantAccounts) {
        let new = Arc::new(accounts);
        match self.accounts.write() {
            Ok(mut a) => *a = new,
            Err(poisoned) => *poisoned.into_inner() = new,
        }
    }

    /// The business line with this id (cached for [`LINE_CACHE_TTL`]).
    pub async fn line_by_id(&self, id: &str) -> Result<Option<Arc<ActiveLine>>, StoreError> {
        if let Some(hit) = self.cached(None, Some(id)) {
            return Ok(Some(hit));
        }
        let Some(line) = self.store.business_line_by_id(id).await? else {
            return Ok(None);
        };
        let line = self.activate(line).await?;
        self.remember(&line);
        Ok(Some(line))
    }
}
