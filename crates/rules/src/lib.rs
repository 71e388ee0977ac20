//! paydesk's checkout rule engine: which payment methods a buyer sees, and which
//! merchant account and provider product takes the money. Pure: no I/O, no clock.
//!
//! The life of a rule set:
//! 1. **Model** ([`RuleSet`]): data an operator edits, loaded from JSON or TOML
//!    ([`RuleSet::from_json`], [`RuleSet::from_toml`]).
//! 2. **Validate** ([`validate()`]): findings with a severity, a machine code, the rule and
//!    a sentence. Errors block publishing; warnings do not.
//! 3. **Compile** ([`compile()`]): validated rule set -> immutable indexed
//!    [`CompiledRuleSet`], to be shared behind an `Arc` and swapped atomically.
//! 4. **Evaluate** ([`CompiledRuleSet::evaluate`]) facts at a given `now` -> [`Decision`];
//!    **explain** ([`CompiledRuleSet::explain`]) adds the trace.
//! 5. **Diff** ([`diff()`]) two rule sets; **simulate** ([`simulate()`]) two snapshots over
//!    recorded facts.
//!
//! # How matching rules combine
//!
//! A business rule *matches* when it is enabled, in effect (`effective_from <= now <
//! effective_until`, unix milliseconds) and its condition holds (no condition: always).
//! Matching rules are taken in **precedence order**: higher `priority` first, ties broken
//! by `id` (byte order, smallest first). Then:
//!
//! - **allow / deny**: a method is *available* when at least one matching rule allows it
//!   and **no** matching rule denies it. Deny beats allow whatever the priorities.
//! - **scenario**: of the matching rules' scenario rules, the first that applies (business
//!   rule precedence, then scenario id) — terminal listed and app version in range (a
//!   scenario with an `app_version` range does not apply when the app version is absent)
//!   — restricts the available methods to its `methods`. No applicable scenario: no
//!   restriction.
//! - **route** per method on the buyer's terminal: from the first matching rule with a
//!   route for that method and terminal. An available method that needs a route
//!   (everything but `BALANCE`) and has none is not offered.
//! - **installment_periods** per method: from the first matching rule that sets them.
//! - **allow_credit_card** per method: `false` if any matching rule says `false`
//!   (a funding restriction, like deny); otherwise `true`.
//! - **display order**: the applied scenario's `display_order` if it has one, else the
//!   first matching rule's `display_order`; methods not listed follow in canonical order
//!   (`WECHAT_PAY, ALIPAY, ALIPAY_INSTALLMENT, BALANCE, COMBINED`).
//! - **default**: the first matching rule's `default_method` if that method is offered,
//!   else the first offered method.
//!
//! A **default rule** — enabled, no condition, no effective dates — is required at
//! publish time, so every checkout gets a decision.
//!
//! # Conditions
//!
//! Tests on one fact (`equals`, `in`, `not_in`, `range` with `min` inclusive and `max`
//! exclusive, `semver` for `app_version`) combined with `all` / `any` / `not`, nested at
//! most [`Limits::max_depth`] deep. A test on an absent fact is false, except `not_in`,
//! which is true (it means exactly `not (in ...)`). The facts are the closed built-in
//! catalogue ([`BuiltinFact`]) plus free facts declared in the rule set's `facts`.
//!
//! # Speed
//!
//! Compilation sorts the rules by precedence, interns every string value, and indexes
//! each enumerated dimension (string facts, terminal, currency) tested with `equals`/`in`
//! at the top level of a condition: value -> bitset of rules that accept it or do not test
//! that dimension. Evaluation intersects one bitset per dimension, walks the surviving
//! rules in precedence order, skips a rule when every part of the decision it could set
//! is already settled, stops walking once every part that any later rule could set is
//! settled (a per-terminal suffix union computed at compile time), and checks only the
//! conditions the index did not decide.
//!
//! [`reference::evaluate`] is a naive scan of the model kept for property tests.
//!
//! # Example
//!
//! ```
//! use paydesk_rules::{compile, Facts, Limits, Method, RuleSet, Terminal};
//!
//! let rules = RuleSet::from_toml(r#"
//!     [[business_rules]]
//!     id = "default"
//!     name = "Default"
//!     [business_rules.then]
//!     allow = ["WECHAT_PAY", "BALANCE"]
//!     [[business_rules.then.routes]]
//!     method = "WECHAT_PAY"
//!     terminals = ["ANDROID", "IOS", "WECHAT_MINI_PROGRAM", "ALIPAY_MINI_PROGRAM", "H5", "WECHAT_H5", "PC"]
//!     merchant_account = "wx-main"
//!     product = "NATIVE"
//!
//!     [[business_rules]]
//!     id = "gift-cards"
//!     name = "Gift cards: no balance"
//!     priority = 10
//!     when = { fact = "item_category", equals = "gift_cards" }
//!     [business_rules.then]
//!     deny = ["BALANCE"]
//! "#, &Limits::default())?;
//! let snapshot = compile(&rules, &Limits::default())?;
//!
//! let mut facts = Facts::new(Terminal::Pc);
//! facts.item_category = Some("gift_cards".into());
//! let decision = snapshot.evaluate(&facts, 1_767_225_600_000);
//! assert_eq!(decision.method_list(), vec![Method::WechatPay]);
//!
//! let explained = snapshot.explain(&facts, 1_767_225_600_000);
//! assert_eq!(explained.decision, decision);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod bitset;
pub mod compile;
pub mod condition;
pub mod diff;
pub mod eval;
pub mod explain;
pub mod facts;
pub mod model;
pub mod reference;
pub mod simulate;
pub mod validate;

pub use compile::{compile, compile_unchecked, CompileError, CompiledRuleSet};
pub use condition::{Condition, IntRange, Op, Test};
pub use diff::{diff, ChangeKind, RuleChange, RuleSetDiff};
pub use eval::{Decision, MethodParams, OfferedMethod, Route};
pub use explain::{DropReason, Dropped, Explained, RuleTrace, Source, Trace, Verdict};
pub use facts::{BuiltinFact, FactType, FactValue, Facts, Method, Product, Provider, Terminal};
pub use model::{
    BusinessRule, FactDecl, Limits, LoadError, Outcome, ParamsEntry, RouteEntry, RuleSet,
    ScenarioRule, VersionMeta,
};
pub use simulate::{simulate, DecisionChange, Difference, SimulationReport};
pub use validate::{validate, Finding, FindingCode, Severity};
