//! The rule set as data: what an operator edits in the console and what JSON/TOML files
//! hold. Nothing here is checked beyond its shape; [`crate::validate()`] does the rest.

use crate::condition::Condition;
use crate::facts::{FactType, FactValue, Method, Product, Provider, Terminal};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Bounds that keep rule sets reviewable and evaluation fast. The server may configure
/// its own; [`Limits::default`] is what the engine uses otherwise.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Deepest allowed condition nesting (a single test is depth 1). Default 8.
    pub max_depth: usize,
    /// Most business rules plus scenario rules. Default 20,000.
    pub max_rules: usize,
    /// Most fact tests over all conditions. Default 200,000.
    pub max_tests: usize,
    /// Largest JSON/TOML document accepted, in bytes. Default 8 MiB.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: 8,
            max_rules: 20_000,
            max_tests: 200_000,
            max_bytes: 8 * 1024 * 1024,
        }
    }
}

/// A whole rule set: one version of the checkout's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    /// Version metadata; the server fills it in when it publishes.
    #[serde(default)]
    pub version: VersionMeta,
    /// The fact catalogue: declares free facts and may restrict built-in string facts
    /// to known values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub facts: Vec<FactDecl>,
    /// Business rules: conditions on who pays whom for what, and outcomes.
    #[serde(default)]
    pub business_rules: Vec<BusinessRule>,
    /// Scenario rules: business rule + terminals + app version -> available methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scenario_rules: Vec<ScenarioRule>,
}

/// Who published what, when and why. All optional: a draft has none.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionMeta {
    /// The version's identifier, recorded in every decision (e.g. `"42"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Who published it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// When, in unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub published_at_ms: Option<i64>,
}

/// One entry of the fact catalogue.
///
/// A free fact (any name that is not built in) must give its `type`. A built-in string
/// fact (`business_line`, `seller_segment`, ...) may be listed only to give `values`, so
/// that conditions naming an unknown value are reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FactDecl {
    /// The name conditions use.
    pub name: String,
    /// `string`, `integer` or `boolean`. Required for free facts.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub fact_type: Option<FactType>,
    /// The only values conditions may name, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<FactValue>>,
    /// What the fact means, for operators.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

/// A business rule: when its condition holds (and it is enabled and in effect), its
/// outcome takes part in the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BusinessRule {
    /// Stable identifier, unique among business rules.
    pub id: String,
    /// Short name shown to operators.
    pub name: String,
    /// What the rule is for.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Higher wins. Ties are broken by `id`, smallest first.
    #[serde(default)]
    pub priority: i64,
    /// A disabled rule never matches.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// In effect from this instant (unix ms, inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_from: Option<i64>,
    /// In effect until this instant (unix ms, exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effective_until: Option<i64>,
    /// The condition; absent means always (a catch-all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<Condition>,
    /// What the rule decides.
    #[serde(default)]
    pub then: Outcome,
}

impl BusinessRule {
    /// Whether the rule is in effect at `now_ms`.
    pub fn in_effect(&self, now_ms: i64) -> bool {
        self.effective_from.is_none_or(|f| now_ms >= f)
            && self.effective_until.is_none_or(|u| now_ms < u)
    }

    /// Whether this is a default rule: enabled, always in effect, no condition (or an
    /// empty `all`), so it matches every checkout.
    pub fn is_catch_all(&self) -> bool {
        self.enabled
            && self.effective_from.is_none()
            && self.effective_until.is_none()
            && match &self.when {
                None => true,
                Some(Condition::All(cs)) => cs.is_empty(),
                Some(_) => false,
            }
    }
}

/// What a business rule decides. Every part is optional; see the crate docs for how the
/// outcomes of several matching rules combine.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// Methods this rule makes available.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<Method>,
    /// Methods this rule forbids (a deny beats any allow).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<Method>,
    /// Merchant account and product per method and terminal.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RouteEntry>,
    /// Method parameters.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamsEntry>,
    /// The order methods are shown in; unlisted methods follow in canonical order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<Vec<Method>>,
    /// The method selected by default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_method: Option<Method>,
}

impl Outcome {
    /// Whether the outcome decides nothing.
    pub fn is_empty(&self) -> bool {
        self == &Outcome::default()
    }
}

/// Where one method's money goes on some terminals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteEntry {
    /// The method routed.
    pub method: Method,
    /// The terminals this route serves.
    pub terminals: Vec<Terminal>,
    /// Our merchant account id at the provider (e.g. `wx-main`).
    pub merchant_account: String,
    /// The provider. Implied by the method except for `COMBINED`, which must name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<Provider>,
    /// The provider product to use.
    pub product: Product,
}

impl RouteEntry {
    /// The provider: the explicit one, or the one the method fixes.
    pub fn effective_provider(&self) -> Option<Provider> {
        self.provider.or(self.method.fixed_provider())
    }
}

/// Parameters of one method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamsEntry {
    /// The method these parameters apply to.
    pub method: Method,
    /// Installment periods offered, in months (e.g. `[3, 6, 12]`). `ALIPAY_INSTALLMENT` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installment_periods: Option<Vec<u32>>,
    /// Whether a credit card may fund the payment. `false` from any matching rule wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_credit_card: Option<bool>,
}

/// A scenario rule: when its business rule matches, on these terminals and app versions,
/// only these methods are available.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioRule {
    /// Stable identifier, unique among scenario rules.
    pub id: String,
    /// Short name shown to operators (defaults to the id).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// A disabled scenario rule never applies.
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub enabled: bool,
    /// The business rule this scenario refines; it applies only when that rule matched.
    pub business_rule: String,
    /// The terminals it applies on.
    pub terminals: Vec<Terminal>,
    /// The app versions it applies to (semver requirement, e.g. `<5.2.0`). When set, the
    /// scenario does not apply to a checkout without an app version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// The methods available in this scenario (further cut by denies and routing).
    pub methods: Vec<Method>,
    /// Display order for this scenario; overrides the business rules' order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_order: Option<Vec<Method>>,
}

impl ScenarioRule {
    /// The name, or the id when no name was given.
    pub fn display_name(&self) -> &str {
        if self.name.is_empty() {
            &self.id
        } else {
            &self.name
        }
    }
}

/// Why a rule set document could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum LoadError {
    /// The document is larger than [`Limits::max_bytes`].
    #[error("the rule set is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Not valid JSON, or not the rule-set shape.
    #[error("invalid rule set JSON: {0}")]
    Json(String),
    /// Not valid TOML, or not the rule-set shape.
    #[error("invalid rule set TOML: {0}")]
    Toml(String),
}

impl RuleSet {
    /// Reads a rule set from JSON. Shape errors (unknown keys, unknown methods, a test with
    /// two operators) fail here with the position; meaning is checked by validation.
    pub fn from_json(text: &str, limits: &Limits) -> Result<RuleSet, LoadError> {
        check_size(text, limits)?;
        serde_json::from_str(text).map_err(|e| LoadError::Json(e.to_string()))
    }

    /// Reads a rule set from TOML (see [`RuleSet::from_json`]).
    pub fn from_toml(text: &str, limits: &Limits) -> Result<RuleSet, LoadError> {
        check_size(text, limits)?;
        toml::from_str(text).map_err(|e| LoadError::Toml(e.to_string()))
    }

    /// The rule set as pretty JSON.
    pub fn to_json(&self) -> String {
        // Serializing these plain structs cannot fail (string keys, no non-finite floats).
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The business rule with this id.
    pub fn business_rule(&self, id: &str) -> Option<&BusinessRule> {
        self.business_rules.iter().find(|r| r.id == id)
    }
}

fn check_size(text: &str, limits: &Limits) -> Result<(), LoadError> {
    if text.len() > limits.max_bytes {
        return Err(LoadError::TooLarge {
            size: text.len(),
            limit: limits.max_bytes,
        });
    }
    Ok(())
}
