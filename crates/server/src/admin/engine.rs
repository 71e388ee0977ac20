//! The active checkout rule set of this instance: a compiled snapshot behind an `Arc`,
//! swapped atomically. Evaluations clone the `Arc` and finish on the snapshot they
//! started with; a publish (here or on another instance, seen by the poller) swaps in
//! the next one.

use crate::config::Config;
use crate::state::AppState;
use crate::time::now_ms;
use paydesk_rules::{compile, compile_unchecked, CompiledRuleSet, Limits, RuleSet, VersionMeta};
use paydesk_store::{NewRuleVersion, RuleVersion, StoreError, Transition};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// The rule set shipped with paydesk, published as version 1 on a database with none.
pub const EXAMPLE_RULES: &str = include_str!("../../../../examples/rules/marketplace.toml");

/// Author of the example version.
pub const EXAMPLE_AUTHOR: &str = "paydesk";

/// One published version, ready to evaluate.
#[derive(Debug)]
pub struct Snapshot {
    /// The version number (also `rules.version.id`).
    pub version: i64,
    /// The rule set as published, with its version metadata filled in.
    pub rules: RuleSet,
    /// The compiled, indexed form.
    pub compiled: CompiledRuleSet,
}

/// Holds the active snapshot and the decision-sample slot counter.
pub struct RulesHolder {
    current: RwLock<Option<Arc<Snapshot>>>,
    next_slot: AtomicU64,
    /// Serialises "read the active pointer, load, install", so a poll that read the
    /// pointer before a local publish can never install its older version after it.
    refresh_lock: tokio::sync::Mutex<()>,
}

impl Default for RulesHolder {
    fn default() -> Self {
        // Instances start at random slots so they overwrite each other's samples
        // rather than all filling slot 0 first.
        let start = u64::from_le_bytes(paydesk_core::ids::random_bytes::<8>()) >> 16;
        RulesHolder {
            current: RwLock::new(None),
            next_slot: AtomicU64::new(start),
            refresh_lock: tokio::sync::Mutex::new(()),
        }
    }
}

impl RulesHolder {
    /// The active snapshot, if one is loaded.
    pub fn current(&self) -> Option<Arc<Snapshot>> {
        self.current.read().ok().and_then(|g| g.clone())
    }

    /// The active version number (0: none loaded).
    pub fn version(&self) -> i64 {
        self.current().map_or(0, |s| s.version)
    }

    /// Swaps in `next`. Callers hold `refresh_lock` (see [`refresh`]).
    fn install(&self, next: Arc<Snapshot>) {
        if let Ok(mut g) = self.current.write() {
            *g = Some(next.clone());
        }
        metrics::gauge!("paydesk_rules_active_version").set(next.version as f64);
    }

    /// The slot for the next decision sample.
    pub fn next_slot(&self, slots: i64) -> i64 {
        let n = self.next_slot.fetch_add(1, Ordering::Relaxed);
        (n % slots.max(1) as u64) as i64
    }
}

/// The engine limits from configuration.
pub fn limits(config: &Config) -> Limits {
    Limits {
        max_depth: config.rules.max_depth,
        max_bytes: config.rules.max_document_bytes,
        ..Limits::default()
    }
}

/// Why a stored version could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored document does not parse or compile (a bug, or a version written by a
    /// newer paydesk).
    #[error("rule set version {0}: {1}")]
    Unusable(i64, String),
}

/// The rule set of a stored version with its metadata filled in.
pub fn document(v: &RuleVersion) -> Result<RuleSet, LoadError> {
    let mut rules: RuleSet = serde_json::from_str(&v.document_json)
        .map_err(|e| LoadError::Unusable(v.version, e.to_string()))?;
    rules.version = VersionMeta {
        id: Some(v.version.to_string()),
        author: Some(v.author.clone()),
        comment: Some(v.comment.clone()),
        published_at_ms: Some(v.created_at_ms),
    };
    Ok(rules)
}

/// Loads and compiles a stored version (validated when it was published).
pub async fn load(state: &AppState, version: i64) -> Result<Option<Snapshot>, LoadError> {
    let Some(v) = state.store.rule_version(version).await? else {
        return Ok(None);
    };
    let rules = document(&v)?;
    let compiled = compile_unchecked(&rules, &limits(&state.config))
        .map_err(|e| LoadError::Unusable(version, e.to_string()))?;
    Ok(Some(Snapshot {
        version,
        rules,
        compiled,
    }))
}

/// The stored form of a candidate: JSON without version metadata.
pub fn stored_json(rules: &RuleSet) -> String {
    let mut bare = rules.clone();
    bare.version = VersionMeta::default();
    serde_json::to_string(&bare).unwrap_or_default()
}

/// Brings this instance up to the active version: publishes the shipped example on a
/// database with no version yet, and swaps in a version other than the one held.
/// Returns the active version.
pub async fn refresh(state: &AppState) -> Result<i64, LoadError> {
    let _serialised = state.rules.refresh_lock.lock().await;
    let mut active = state.store.active_rule_version().await?;
    if active.version == 0 {
        active.version = publish_example(state).await?;
    }
    if active.version != state.rules.version() {
        match load(state, active.version).await? {
            Some(snapshot) => {
                tracing::info!(version = snapshot.version, "checkout rules activated");
                state.rules.install(Arc::new(snapshot));
            }
            None => {
                return Err(LoadError::Unusable(active.version, "missing".into()));
            }
        }
    }
    Ok(active.version)
}

/// Publishes the example rule set as the first version (if still none); returns the
/// active version either way.
async fn publish_example(state: &AppState) -> Result<i64, LoadError> {
    let limits = limits(&state.config);
    let unusable = |e: String| LoadError::Unusable(1, format!("shipped example: {e}"));
    let rules = RuleSet::from_toml(EXAMPLE_RULES, &limits).map_err(|e| unusable(e.to_string()))?;
    compile(&rules, &limits).map_err(|e| unusable(e.to_string()))?;
    let new = NewRuleVersion {
        document_json: stored_json(&rules),
        author: EXAMPLE_AUTHOR.into(),
        comment: "Example marketplace rule set shipped with paydesk.".into(),
        created_at_ms: now_ms(),
    };
    Ok(match state.store.publish_rule_version(&new, 0).await? {
        Transition::Applied(a) => {
            tracing::info!(version = a.version, "published the example checkout rules");
            a.version
        }
        // Another instance got there first.
        Transition::Refused(now) => now.map_or(0, |a| a.version),
    })
}

/// Brings this instance to the version just published or activated, right away (other
/// instances follow at their next poll). It re-reads the pointer under the refresh lock
/// rather than installing `version` blindly: if another operator switched again in
/// between, the newer pointer wins.
pub async fn activate_now(state: &AppState, version: i64) -> Result<(), LoadError> {
    let active = refresh(state).await?;
    if active != version {
        tracing::info!(
            published = version,
            active,
            "a newer switch superseded this one"
        );
    }
    Ok(())
}
