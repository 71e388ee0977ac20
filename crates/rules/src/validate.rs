//! Publish-time validation: every problem an operator should see before a rule set goes
//! live, each with a severity, a machine code, the rule, and a sentence.
//!
//! Errors block [`crate::compile()`]; warnings do not. Cross-rule checks (conflicts,
//! shadowing, routing gaps) reason about the *top-level conjuncts* of conditions and
//! catch the obvious cases — e.g. a catch-all or a rule with a wider `in` set above a
//! narrower one — without claiming to decide every overlap. Their work is bounded, so a
//! huge rule set is still validated quickly (with a warning when analysis was cut short).

use crate::compile::conjuncts;
use crate::condition::{Condition, IntRange, Op, Test};
use crate::facts::{BuiltinFact, FactType, FactValue, Method, Terminal};
use crate::model::{BusinessRule, Limits, RuleSet};
use paydesk_core::money::Currency;
use semver::VersionReq;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::str::FromStr;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks publishing.
    Error,
    /// Worth a look; does not block.
    Warning,
}

/// What a finding is about (stable machine codes, `snake_case` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingCode {
    /// More rules than [`Limits::max_rules`].
    TooManyRules,
    /// More fact tests than [`Limits::max_tests`].
    TooManyTests,
    /// A condition nested deeper than [`Limits::max_depth`].
    NestingTooDeep,
    /// A rule id is empty.
    MissingId,
    /// Two rules share an id.
    DuplicateId,
    /// A business rule has no name.
    MissingName,
    /// A fact catalogue entry is wrong.
    BadFactDeclaration,
    /// A condition names a fact that is neither built in nor declared.
    UnknownFact,
    /// A condition names a value the fact cannot have.
    UnknownValue,
    /// An operator or value does not fit the fact's type.
    TypeMismatch,
    /// A semver range does not parse.
    BadSemver,
    /// `effective_until` is not after `effective_from`.
    InvalidWindow,
    /// A condition can never hold.
    NeverMatches,
    /// A rule allows and denies the same method.
    AllowAndDeny,
    /// A route is malformed (no terminals, no merchant account, routing BALANCE).
    BadRoute,
    /// Two routes of one rule serve the same method and terminal.
    DuplicateRoute,
    /// A route's provider does not fit its method.
    ProviderMismatch,
    /// A route's product does not work on one of its terminals.
    ProductTerminalMismatch,
    /// Two parameter entries of one rule are for the same method.
    DuplicateParams,
    /// Installments outside Alipay (periods on another method, or no Alipay route).
    InstallmentsWithoutAlipay,
    /// Installment periods are empty, zero, repeated or unusual.
    BadInstallmentPeriods,
    /// A parameter that means nothing for its method.
    UselessParam,
    /// A display order lists a method twice, or one the scenario does not offer.
    BadDisplayOrder,
    /// A rule decides nothing.
    NoOutcome,
    /// A scenario rule names a business rule that does not exist.
    UnknownBusinessRule,
    /// A scenario rule refines a disabled business rule.
    DisabledBusinessRule,
    /// A scenario rule is malformed (no terminals, no methods).
    BadScenario,
    /// No enabled, unconditional, always-effective business rule.
    NoDefaultRule,
    /// Two rules at the same priority can both match and decide the same thing differently.
    Conflict,
    /// A rule can never change a decision: a rule before it always matches too and
    /// decides everything it decides.
    Shadowed,
    /// A method is allowed on a terminal where no rule routes it.
    Unrouted,
    /// A method is allowed on a terminal where only rules that may not match route it.
    ConditionallyRouted,
    /// Cross-rule analysis stopped at its work bound.
    AnalysisTruncated,
    /// A route names a merchant account the server does not have. This crate does not
    /// know the accounts; the server adds this finding before a publish.
    UnknownMerchantAccount,
    /// A route names a merchant account that is disabled (added by the server, as above).
    DisabledMerchantAccount,
}

/// One problem found in a rule set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Error blocks publishing; warning does not.
    pub severity: Severity,
    /// Machine code.
    pub code: FindingCode,
    /// The rule's id, when the finding is about one rule.
    pub rule_id: Option<String>,
    /// The rule's name, when the finding is about one rule.
    pub rule_name: Option<String>,
    /// A sentence for the operator.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match (&self.rule_name, &self.rule_id) {
            (Some(n), Some(id)) => write!(f, "{sev}: rule \"{n}\" ({id}): {}", self.message),
            (None, Some(id)) => write!(f, "{sev}: rule {id}: {}", self.message),
            _ => write!(f, "{sev}: {}", self.message),
        }
    }
}

/// Checks a rule set. The findings come in a stable order: per-rule checks in document
/// order, then cross-rule checks.
pub fn validate(rules: &RuleSet, limits: &Limits) -> Vec<Finding> {
    let mut v = Validator {
        rules,
        out: Vec::new(),
        budget: PAIR_BUDGET,
        truncated: false,
    };
    let count = rules.business_rules.len() + rules.scenario_rules.len();
    if count > limits.max_rules {
        v.global(
            Severity::Error,
            FindingCode::TooManyRules,
            format!(
                "The rule set has {count} rules, over the limit of {}.",
                limits.max_rules
            ),
        );
        return v.out;
    }
    let tests: usize = rules
        .business_rules
        .iter()
        .filter_map(|r| r.when.as_ref())
        .map(Condition::test_count)
        .sum();
    if tests > limits.max_tests {
        v.global(
            Severity::Error,
            FindingCode::TooManyTests,
            format!(
                "The rule set has {tests} condition tests, over the limit of {}.",
                limits.max_tests
            ),
        );
        return v.out;
    }
    v.catalogue();
    let sound = v.business_rules(limits);
    v.scenarios();
    if !rules.business_rules.iter().any(BusinessRule::is_catch_all) {
        v.global(
            Severity::Error,
            FindingCode::NoDefaultRule,
            "There is no default rule: add an enabled rule with no condition and no effective \
             dates, so every checkout gets a decision."
                .to_owned(),
        );
    }
    let facts: Vec<Option<Vec<&Condition>>> = rules
        .business_rules
        .iter()
        .zip(&sound)
        .map(|(r, ok)| match (&r.when, ok) {
            (_, false) => None,
            (None, true) => Some(Vec::new()),
            (Some(c), true) => Some(conjuncts(c)),
        })
        .collect();
    let a = Analysis::new(rules, facts);
    v.routing(&a);
    v.conflicts(&a);
    v.shadowing(&a);
    if v.truncated {
        v.global(
            Severity::Warning,
            FindingCode::AnalysisTruncated,
            "The rule set is too large for a complete conflict, shadowing and routing analysis; \
             some of those findings may be missing."
                .to_owned(),
        );
    }
    v.out
}

/// Most expensive pairwise checks (implication / overlap of two rules) per validation.
const PAIR_BUDGET: usize = 2_000_000;

struct Validator<'a> {
    rules: &'a RuleSet,
    out: Vec<Finding>,
    budget: usize,
    truncated: bool,
}

impl<'a> Validator<'a> {
    fn global(&mut self, severity: Severity, code: FindingCode, message: String) {
        self.out.push(Finding {
            severity,
            code,
            rule_id: None,
            rule_name: None,
            message,
        });
    }

    fn rule(&mut self, r: &BusinessRule, severity: Severity, code: FindingCode, message: String) {
        self.out.push(Finding {
            severity,
            code,
            rule_id: Some(r.id.clone()),
            rule_name: Some(r.name.clone()),
            message,
        });
    }

    fn spend(&mut self) -> bool {
        if self.budget == 0 {
            self.truncated = true;
            return false;
        }
        self.budget -= 1;
        true
    }

    fn catalogue(&mut self) {
        let mut seen = HashSet::new();
        for d in &self.rules.facts {
            let mut bad = |msg: String| {
                self.out.push(Finding {
                    severity: Severity::Error,
                    code: FindingCode::BadFactDeclaration,
                    rule_id: None,
                    rule_name: None,
                    message: format!("Fact `{}`: {msg}", d.name),
                })
            };
            if !seen.insert(d.name.as_str()) {
                bad("declared twice.".into());
                continue;
            }
            match BuiltinFact::from_name(&d.name) {
                Some(b) => {
                    if d.fact_type.is_some_and(|t| t != b.fact_type()) {
                        bad(format!("it is built in, with type {}.", b.fact_type()));
                    }
                    if d.values.is_some() && b.fact_type() != FactType::String {
                        bad("only built-in string facts can list their values.".into());
                    }
                    if let Some(vs) = &d.values {
                        if vs.iter().any(|v| v.fact_type() != FactType::String) {
                            bad("its values must be strings.".into());
                        }
                    }
                }
                None => {
                    let valid_name = !d.name.is_empty()
                        && d.name
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.');
                    if !valid_name {
                        bad("a fact name uses letters, digits, `_` and `.` only.".into());
                    }
                    match d.fact_type {
                        None => bad("a free fact needs a type (string, integer or boolean).".into()),
                        Some(FactType::String | FactType::Integer | FactType::Boolean) => {
                            if let (Some(t), Some(vs)) = (d.fact_type, &d.values) {
                                if vs.iter().any(|v| v.fact_type() != t) {
                                    bad(format!("its values must all be of type {t}."));
                                }
                            }
                        }
                        Some(t) => bad(format!(
                            "type {t} is reserved for built-in facts; use string, integer or boolean."
                        )),
                    }
                }
            }
        }
    }

    /// Per-rule checks. Returns, per rule, whether its condition is sound enough for
    /// cross-rule analysis.
    fn business_rules(&mut self, limits: &Limits) -> Vec<bool> {
        let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
        let mut sound = Vec::new();
        for r in &self.rules.business_rules {
            if r.id.trim().is_empty() {
                self.rule(
                    r,
                    Severity::Error,
                    FindingCode::MissingId,
                    "The rule has no id.".into(),
                );
            } else if ids.insert(r.id.as_str(), 0).is_some() {
                self.rule(
                    r,
                    Severity::Error,
                    FindingCode::DuplicateId,
                    format!("Another business rule already has the id `{}`.", r.id),
                );
            }
            if r.name.trim().is_empty() {
                self.rule(
                    r,
                    Severity::Warning,
                    FindingCode::MissingName,
                    "The rule has no name; operators will only see its id.".into(),
                );
            }
            if let (Some(f), Some(u)) = (r.effective_from, r.effective_until) {
                if u <= f {
                    self.rule(
                        r,
                        Severity::Error,
                        FindingCode::InvalidWindow,
                        format!(
                            "effective_until ({u}) is not after effective_from ({f}), so the rule is never in effect."
                        ),
                    );
                }
            }
            let mut ok = true;
            if let Some(c) = &r.when {
                let depth = c.depth();
                if depth > limits.max_depth {
                    self.rule(
                        r,
                        Severity::Error,
                        FindingCode::NestingTooDeep,
                        format!(
                            "The condition is nested {depth} levels deep; the limit is {}.",
                            limits.max_depth
                        ),
                    );
                    ok = false;
                } else {
                    let before = self.errors();
                    self.condition(r, c);
                    ok = self.errors() == before;
                    if ok {
                        let cs = conjuncts(c);
                        'outer: for (i, a) in cs.iter().enumerate() {
                            for b in &cs[i + 1..] {
                                if leaves_disjoint(a, b) {
                                    self.rule(
                                        r,
                                        Severity::Warning,
                                        FindingCode::NeverMatches,
                                        format!("`{a}` and `{b}` cannot both hold, so the rule never matches."),
                                    );
                                    break 'outer;
                                }
                            }
                        }
                    }
                }
            }
            sound.push(ok);
            self.outcome(r);
        }
        sound
    }

    fn errors(&self) -> usize {
        self.out
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
    }

    fn condition(&mut self, r: &BusinessRule, c: &Condition) {
        match c {
            Condition::All(cs) => cs.iter().for_each(|c| self.condition(r, c)),
            Condition::Any(cs) => {
                if cs.is_empty() {
                    self.rule(
                        r,
                        Severity::Warning,
                        FindingCode::NeverMatches,
                        "An empty `any` group never holds.".into(),
                    );
                }
                cs.iter().for_each(|c| self.condition(r, c))
            }
            Condition::Not(c) => self.condition(r, c),
            Condition::Test(t) => self.test(r, t),
        }
    }

    fn test(&mut self, r: &BusinessRule, t: &Test) {
        let decl = self.rules.facts.iter().find(|d| d.name == t.fact);
        let ty = match BuiltinFact::from_name(&t.fact) {
            Some(b) => b.fact_type(),
            None => match decl.and_then(|d| d.fact_type) {
                Some(ty @ (FactType::String | FactType::Integer | FactType::Boolean)) => ty,
                Some(_) => return, // reported by the catalogue check
                None => {
                    let msg = if decl.is_some() {
                        format!("Fact `{}` is declared without a type.", t.fact)
                    } else {
                        format!(
                            "`{}` is not a known fact; use a built-in fact or declare it in the fact catalogue.",
                            t.fact
                        )
                    };
                    self.rule(r, Severity::Error, FindingCode::UnknownFact, msg);
                    return;
                }
            },
        };
        let err = |code, msg: String| (code, msg);
        let mut problems: Vec<(FindingCode, String)> = Vec::new();
        let values: &[FactValue] = match &t.op {
            Op::Equals(v) => std::slice::from_ref(v),
            Op::In(vs) | Op::NotIn(vs) => {
                if vs.is_empty() && matches!(t.op, Op::In(_)) {
                    self.rule(
                        r,
                        Severity::Warning,
                        FindingCode::NeverMatches,
                        format!("`{t}` has an empty list, so it never holds."),
                    );
                }
                vs
            }
            Op::Range(range) => {
                if ty != FactType::Integer {
                    problems.push(err(
                        FindingCode::TypeMismatch,
                        format!("`range` needs an integer fact, but `{}` is a {ty}.", t.fact),
                    ));
                } else if range.is_empty() {
                    self.rule(
                        r,
                        Severity::Warning,
                        FindingCode::NeverMatches,
                        format!(
                            "`{t}` is an empty range (min must be below max), so it never holds."
                        ),
                    );
                }
                &[]
            }
            Op::Semver(req) => {
                if ty != FactType::Semver {
                    problems.push(err(
                        FindingCode::TypeMismatch,
                        format!("`semver` applies to app_version only, not `{}`.", t.fact),
                    ));
                } else if let Err(e) = VersionReq::parse(req) {
                    problems.push(err(
                        FindingCode::BadSemver,
                        format!("{req:?} is not a semver range ({e}); write e.g. \">=5.2.0\"."),
                    ));
                }
                &[]
            }
        };
        if ty == FactType::Semver && !matches!(t.op, Op::Semver(_)) {
            problems.push(err(
                FindingCode::TypeMismatch,
                "app_version is compared with a semver range, e.g. semver = \">=5.2.0\".".into(),
            ));
        } else {
            for v in values {
                let fits = match (ty, v) {
                    (FactType::String, FactValue::Str(_))
                    | (FactType::Integer, FactValue::Int(_))
                    | (FactType::Boolean, FactValue::Bool(_)) => true,
                    (FactType::Terminal, FactValue::Str(s)) => {
                        if Terminal::from_code(s).is_none() {
                            problems.push(err(
                                FindingCode::UnknownValue,
                                format!(
                                    "{v} is not a terminal; use one of ANDROID, IOS, WECHAT_MINI_PROGRAM, ALIPAY_MINI_PROGRAM, H5, WECHAT_H5, PC."
                                ),
                            ));
                        }
                        true
                    }
                    (FactType::Currency, FactValue::Str(s)) => {
                        if Currency::from_str(s).is_err() {
                            problems.push(err(
                                FindingCode::UnknownValue,
                                format!("{v} is not a supported currency."),
                            ));
                        }
                        true
                    }
                    _ => false,
                };
                if !fits {
                    problems.push(err(
                        FindingCode::TypeMismatch,
                        format!(
                            "`{}` is a {ty} fact, but the condition compares it with {v}.",
                            t.fact
                        ),
                    ));
                } else if let Some(allowed) = decl.and_then(|d| d.values.as_ref()) {
                    if !allowed.contains(v) {
                        problems.push(err(
                            FindingCode::UnknownValue,
                            format!(
                                "{v} is not one of the values the catalogue lists for `{}`.",
                                t.fact
                            ),
                        ));
                    }
                }
            }
        }
        for (code, msg) in problems {
            self.rule(r, Severity::Error, code, msg);
        }
    }

    fn outcome(&mut self, r: &BusinessRule) {
        let o = &r.then;
        for m in &o.allow {
            if o.deny.contains(m) {
                self.rule(
                    r,
                    Severity::Warning,
                    FindingCode::AllowAndDeny,
                    format!("The rule both allows and denies {m}; deny wins."),
                );
            }
        }
        let mut served: Vec<(Method, Terminal)> = Vec::new();
        for e in &o.routes {
            let what = format!("The {} route to `{}`", e.method, e.merchant_account);
            if e.method == Method::Balance {
                self.rule(
                    r,
                    Severity::Error,
                    FindingCode::BadRoute,
                    "BALANCE is paid from the platform ledger and takes no route; remove this route.".into(),
                );
                continue;
            }
            if e.terminals.is_empty() {
                self.rule(
                    r,
                    Severity::Error,
                    FindingCode::BadRoute,
                    format!("{what} lists no terminals."),
                );
            }
            if e.merchant_account.trim().is_empty() {
                self.rule(
                    r,
                    Severity::Error,
                    FindingCode::BadRoute,
                    format!("The {} route has no merchant account.", e.method),
                );
            }
            match (e.method.fixed_provider(), e.provider) {
                (Some(fixed), Some(given)) if fixed != given => self.rule(
                    r,
                    Severity::Error,
                    FindingCode::ProviderMismatch,
                    format!(
                        "{what} names provider {given}, but {} is paid through {fixed}.",
                        e.method
                    ),
                ),
                (None, None) => self.rule(
                    r,
                    Severity::Error,
                    FindingCode::ProviderMismatch,
                    format!("{what} must name its provider (wechatpay or alipay)."),
                ),
                _ => {}
            }
            if let Some(p) = e.effective_provider() {
                let misfits: Vec<&str> = e
                    .terminals
                    .iter()
                    .filter(|t| !e.product.fits(p, **t))
                    .map(|t| t.code())
                    .collect();
                if !misfits.is_empty() {
                    self.rule(
                        r,
                        Severity::Warning,
                        FindingCode::ProductTerminalMismatch,
                        format!(
                            "{what} uses {p} product {} on {}, where it does not normally work.",
                            e.product,
                            misfits.join(", ")
                        ),
                    );
                }
            }
            for &t in &e.terminals {
                if served.contains(&(e.method, t)) {
                    self.rule(
                        r,
                        Severity::Error,
                        FindingCode::DuplicateRoute,
                        format!("The rule routes {} on {t} twice; keep one route.", e.method),
                    );
                } else {
                    served.push((e.method, t));
                }
            }
        }
        let mut seen = Vec::new();
        for p in &o.params {
            if seen.contains(&p.method) {
                self.rule(
                    r,
                    Severity::Error,
                    FindingCode::DuplicateParams,
                    format!(
                        "The rule gives parameters for {} twice; merge them.",
                        p.method
                    ),
                );
            }
            seen.push(p.method);
            if let Some(ps) = &p.installment_periods {
                if p.method != Method::AlipayInstallment {
                    self.rule(
                        r,
                        Severity::Error,
                        FindingCode::InstallmentsWithoutAlipay,
                        format!(
                            "Installments need Alipay: put installment_periods on ALIPAY_INSTALLMENT, not {}.",
                            p.method
                        ),
                    );
                }
                let mut sorted = ps.clone();
                sorted.sort_unstable();
                sorted.dedup();
                if ps.is_empty() || ps.contains(&0) || sorted.len() != ps.len() {
                    self.rule(
                        r,
                        Severity::Error,
                        FindingCode::BadInstallmentPeriods,
                        format!("Installment periods {ps:?} must be a non-empty list of distinct month counts above 0."),
                    );
                } else if ps.iter().any(|p| ![3, 6, 12, 24].contains(p)) {
                    self.rule(
                        r,
                        Severity::Warning,
                        FindingCode::BadInstallmentPeriods,
                        format!("Installment periods {ps:?} include values Alipay does not usually offer (3, 6, 12, 24)."),
                    );
                }
            }
            if p.allow_credit_card.is_some() && p.method == Method::Balance {
                self.rule(
                    r,
                    Severity::Warning,
                    FindingCode::UselessParam,
                    "allow_credit_card means nothing for BALANCE, which no card funds.".into(),
                );
            }
        }
        if let Some(order) = &o.display_order {
            if has_duplicates(order) {
                self.rule(
                    r,
                    Severity::Warning,
                    FindingCode::BadDisplayOrder,
                    "The display order lists a method more than once.".into(),
                );
            }
        }
        let has_scenarios = self
            .rules
            .scenario_rules
            .iter()
            .any(|s| s.business_rule == r.id);
        if o.is_empty() && !has_scenarios {
            self.rule(
                r,
                Severity::Warning,
                FindingCode::NoOutcome,
                "The rule decides nothing (no allow, deny, route, parameter, order or default, and no scenario rules).".into(),
            );
        }
    }

    fn scenarios(&mut self) {
        let mut ids = HashSet::new();
        for s in &self.rules.scenario_rules {
            let mut f = |severity, code, message: String| {
                self.out.push(Finding {
                    severity,
                    code,
                    rule_id: Some(s.id.clone()),
                    rule_name: Some(s.display_name().to_owned()),
                    message,
                })
            };
            if s.id.trim().is_empty() {
                f(
                    Severity::Error,
                    FindingCode::MissingId,
                    "The scenario rule has no id.".into(),
                );
            } else if !ids.insert(s.id.as_str()) {
                f(
                    Severity::Error,
                    FindingCode::DuplicateId,
                    format!("Another scenario rule already has the id `{}`.", s.id),
                );
            }
            match self.rules.business_rule(&s.business_rule) {
                None => f(
                    Severity::Error,
                    FindingCode::UnknownBusinessRule,
                    format!("The scenario refines business rule `{}`, which does not exist.", s.business_rule),
                ),
                Some(b) if !b.enabled => f(
                    Severity::Warning,
                    FindingCode::DisabledBusinessRule,
                    format!("The scenario refines business rule `{}`, which is disabled, so it never applies.", b.id),
                ),
                Some(_) => {}
            }
            if s.terminals.is_empty() {
                f(
                    Severity::Error,
                    FindingCode::BadScenario,
                    "The scenario lists no terminals.".into(),
                );
            }
            if s.methods.is_empty() {
                f(
                    Severity::Warning,
                    FindingCode::BadScenario,
                    "The scenario lists no methods, so it hides every method where it applies."
                        .into(),
                );
            }
            if let Some(v) = &s.app_version {
                if let Err(e) = VersionReq::parse(v) {
                    f(
                        Severity::Error,
                        FindingCode::BadSemver,
                        format!(
                            "app_version {v:?} is not a semver range ({e}); write e.g. \"<5.2.0\"."
                        ),
                    );
                }
            }
            if let Some(order) = &s.display_order {
                if has_duplicates(order) || order.iter().any(|m| !s.methods.contains(m)) {
                    f(
                        Severity::Warning,
                        FindingCode::BadDisplayOrder,
                        "The display order repeats a method or lists one the scenario does not offer.".into(),
                    );
                }
            }
        }
    }

    /// Methods allowed on a terminal where no rule that surely matches routes them.
    fn routing(&mut self, a: &Analysis<'a>) {
        let rules = &self.rules.business_rules;
        for (ri, r) in rules.iter().enumerate() {
            let Some(conj) = a.conj(ri) else { continue };
            for &m in &r.then.allow {
                if !m.needs_route() || r.then.deny.contains(&m) {
                    continue;
                }
                if m == Method::AlipayInstallment && a.routers[m.index()].iter().all(Vec::is_empty)
                {
                    self.rule(
                        r,
                        Severity::Error,
                        FindingCode::InstallmentsWithoutAlipay,
                        "Installments need Alipay: the rule allows ALIPAY_INSTALLMENT, but no rule routes it to an Alipay merchant account.".into(),
                    );
                    continue;
                }
                let mut unrouted = Vec::new();
                let mut conditional = Vec::new();
                for t in a.admitted_terminals(conj) {
                    let synthetic = Condition::test(
                        "terminal",
                        Op::Equals(FactValue::Str(t.code().to_owned())),
                    );
                    let mut premises = conj.clone();
                    premises.push(&synthetic);
                    let surely = |v: &mut Self, list: &[usize]| {
                        list.iter()
                            .any(|&h| v.spend() && a.covers(h, ri, &premises))
                    };
                    if surely(self, &a.deniers[m.index()])
                        || surely(self, &a.hiders[m.index()][t.index()])
                    {
                        continue;
                    }
                    let routers = &a.routers[m.index()][t.index()];
                    if routers.is_empty() {
                        unrouted.push(t.code());
                    } else if !surely(self, routers) {
                        conditional.push(t.code());
                    }
                }
                if !unrouted.is_empty() {
                    self.rule(
                        r,
                        Severity::Error,
                        FindingCode::Unrouted,
                        format!(
                            "The rule allows {m}, but no rule gives {m} a merchant account and product on {}; add a route or deny {m} there.",
                            unrouted.join(", ")
                        ),
                    );
                }
                if !conditional.is_empty() {
                    self.rule(
                        r,
                        Severity::Warning,
                        FindingCode::ConditionallyRouted,
                        format!(
                            "The rule allows {m}, but on {} only rules that may not match with it route {m}; such checkouts will not show {m}.",
                            conditional.join(", ")
                        ),
                    );
                }
            }
        }
    }

    /// Two rules at one priority that can match together and decide one slot differently.
    fn conflicts(&mut self, a: &Analysis<'a>) {
        let rules = &self.rules.business_rules;
        let mut by_priority: BTreeMap<i64, Vec<usize>> = BTreeMap::new();
        for (i, r) in rules.iter().enumerate() {
            if r.enabled && a.conj(i).is_some() {
                by_priority.entry(r.priority).or_default().push(i);
            }
        }
        for group in by_priority.values() {
            for (gi, &x) in group.iter().enumerate() {
                for &y in &group[gi + 1..] {
                    if a.sets[x] & a.sets[y] == 0 {
                        continue;
                    }
                    let Some(what) = differing(&rules[x], &rules[y]) else {
                        continue;
                    };
                    if !self.spend() {
                        return;
                    }
                    if a.disjoint(x, y) {
                        continue;
                    }
                    let (first, second) = if rules[x].id <= rules[y].id {
                        (x, y)
                    } else {
                        (y, x)
                    };
                    let (f, s) = (&rules[first], &rules[second]);
                    self.rule(
                        s,
                        Severity::Error,
                        FindingCode::Conflict,
                        format!(
                            "This rule and \"{}\" ({}) both have priority {} and can match the same checkout, but decide {what} differently; \"{}\" would win only because its id sorts first. Give one of them a higher priority or make their conditions exclusive.",
                            f.name, f.id, f.priority, f.name
                        ),
                    );
                }
            }
        }
    }

    /// Rules that can never change a decision.
    fn shadowing(&mut self, a: &Analysis<'a>) {
        let rules = &self.rules.business_rules;
        let mut order: Vec<usize> = (0..rules.len())
            .filter(|&i| rules[i].enabled && a.conj(i).is_some())
            .collect();
        order.sort_by(|&x, &y| crate::compile::precedence(&rules[x], &rules[y]));
        for (pos, &ri) in order.iter().enumerate() {
            let needs = a.needs[ri];
            if needs == 0 {
                continue;
            }
            let Some(conj) = a.conj(ri) else { continue };
            for &hi in &order[..pos] {
                if needs & !a.moots[hi] != 0 {
                    continue;
                }
                if !self.spend() {
                    return;
                }
                if a.covers(hi, ri, conj) {
                    let h = &rules[hi];
                    let r = &rules[ri];
                    self.rule(
                        r,
                        Severity::Warning,
                        FindingCode::Shadowed,
                        format!(
                            "This rule can never change a decision: \"{}\" ({}) comes before it, matches whenever it does, and already decides everything it decides.",
                            h.name, h.id
                        ),
                    );
                    break;
                }
            }
        }
    }
}

fn has_duplicates(ms: &[Method]) -> bool {
    let mut seen = 0u8;
    ms.iter().any(|m| {
        let dup = seen & m.bit() != 0;
        seen |= m.bit();
        dup
    })
}

/// The first slot two rules both fill with different values, in words.
fn differing(x: &BusinessRule, y: &BusinessRule) -> Option<String> {
    for ex in &x.then.routes {
        for ey in &y.then.routes {
            if ex.method != ey.method {
                continue;
            }
            if let Some(t) = ex.terminals.iter().find(|t| ey.terminals.contains(t)) {
                if (
                    ex.merchant_account.as_str(),
                    ex.effective_provider(),
                    ex.product,
                ) != (
                    ey.merchant_account.as_str(),
                    ey.effective_provider(),
                    ey.product,
                ) {
                    return Some(format!("the {} route on {t}", ex.method));
                }
            }
        }
    }
    for px in &x.then.params {
        for py in &y.then.params {
            if px.method == py.method
                && px.installment_periods.is_some()
                && py.installment_periods.is_some()
                && px.installment_periods != py.installment_periods
            {
                return Some(format!("the installment periods of {}", px.method));
            }
        }
    }
    if x.then.display_order.is_some()
        && y.then.display_order.is_some()
        && x.then.display_order != y.then.display_order
    {
        return Some("the display order".into());
    }
    if x.then.default_method.is_some()
        && y.then.default_method.is_some()
        && x.then.default_method != y.then.default_method
    {
        return Some("the default method".into());
    }
    None
}

/// Precomputed per-rule facts for the cross-rule checks.
struct Analysis<'a> {
    rules: &'a RuleSet,
    /// Top-level conjuncts of each sound, enabled rule.
    conj: Vec<Option<Vec<&'a Condition>>>,
    /// Rules routing method m on terminal t.
    routers: [[Vec<usize>; 7]; 5],
    /// Rules denying method m.
    deniers: [Vec<usize>; 5],
    /// Rules with a version-free scenario on terminal t that does not list method m.
    hiders: [[Vec<usize>; 7]; 5],
    /// Slots each rule decides (bits: allow 5, deny 5, route 35, periods 5, credit 5,
    /// display, default, scenario per terminal 7).
    needs: Vec<u64>,
    /// Slots each rule makes moot for every rule after it that it covers.
    moots: Vec<u64>,
    /// Conflict-prone slots each rule fills (routes, periods, display, default).
    sets: Vec<u64>,
}

const N_ROUTE: u32 = 10;
const N_PERIODS: u32 = 45;
const N_CREDIT: u32 = 50;
const N_DISPLAY: u64 = 1 << 55;
const N_DEFAULT: u64 = 1 << 56;
const N_SCENARIO: u32 = 57;

impl<'a> Analysis<'a> {
    fn new(rules: &'a RuleSet, conj: Vec<Option<Vec<&'a Condition>>>) -> Analysis<'a> {
        let mut a = Analysis {
            rules,
            conj,
            routers: Default::default(),
            deniers: Default::default(),
            hiders: Default::default(),
            needs: Vec::new(),
            moots: Vec::new(),
            sets: Vec::new(),
        };
        for (i, r) in rules.business_rules.iter().enumerate() {
            let enabled = r.enabled && a.conj[i].is_some();
            let o = &r.then;
            let mut needs = 0u64;
            let mut moots = 0u64;
            let mut sets = 0u64;
            for m in &o.allow {
                needs |= 1 << m.index();
                moots |= 1 << m.index();
            }
            for m in &o.deny {
                needs |= 1 << (5 + m.index());
                moots |= (1 << m.index()) | (1 << (5 + m.index()));
                if enabled {
                    a.deniers[m.index()].push(i);
                }
            }
            for e in &o.routes {
                for t in &e.terminals {
                    let bit = 1u64 << (N_ROUTE as usize + e.method.index() * 7 + t.index());
                    needs |= bit;
                    moots |= bit;
                    sets |= bit;
                    if enabled && e.method != Method::Balance {
                        a.routers[e.method.index()][t.index()].push(i);
                    }
                }
            }
            for p in &o.params {
                if p.installment_periods.is_some() {
                    let bit = 1u64 << (N_PERIODS as usize + p.method.index());
                    needs |= bit;
                    moots |= bit;
                    sets |= bit;
                }
                if p.allow_credit_card == Some(false) {
                    let bit = 1u64 << (N_CREDIT as usize + p.method.index());
                    needs |= bit;
                    moots |= bit;
                }
            }
            if o.display_order.is_some() {
                needs |= N_DISPLAY;
                moots |= N_DISPLAY;
                sets |= N_DISPLAY;
            }
            if o.default_method.is_some() {
                needs |= N_DEFAULT;
                moots |= N_DEFAULT;
                sets |= N_DEFAULT;
            }
            for s in rules
                .scenario_rules
                .iter()
                .filter(|s| s.enabled && s.business_rule == r.id)
            {
                for t in &s.terminals {
                    needs |= 1 << (N_SCENARIO as usize + t.index());
                    if s.app_version.is_none() {
                        moots |= 1 << (N_SCENARIO as usize + t.index());
                        if enabled {
                            for m in Method::ALL {
                                if !s.methods.contains(&m) {
                                    a.hiders[m.index()][t.index()].push(i);
                                }
                            }
                        }
                    }
                }
            }
            a.needs.push(needs);
            a.moots.push(moots);
            a.sets.push(sets);
        }
        a
    }

    fn conj(&self, i: usize) -> Option<&Vec<&'a Condition>> {
        if !self.rules.business_rules[i].enabled {
            return None;
        }
        self.conj[i].as_ref()
    }

    /// Whether rule `h` is in effect whenever `r` is and matches whenever `premises`
    /// (describing `r`, maybe narrowed) hold.
    fn covers(&self, h: usize, r: usize, premises: &[&Condition]) -> bool {
        let (hr, rr) = (&self.rules.business_rules[h], &self.rules.business_rules[r]);
        let from_ok = match (hr.effective_from, rr.effective_from) {
            (None, _) => true,
            (Some(a), Some(b)) => a <= b,
            (Some(_), None) => false,
        };
        let until_ok = match (hr.effective_until, rr.effective_until) {
            (None, _) => true,
            (Some(a), Some(b)) => a >= b,
            (Some(_), None) => false,
        };
        if !(hr.enabled && from_ok && until_ok) {
            return false;
        }
        match self.conj(h) {
            None => false,
            Some(goals) => goals.iter().all(|g| implies(premises, g)),
        }
    }

    /// Whether the two rules can never match the same checkout.
    fn disjoint(&self, x: usize, y: usize) -> bool {
        let (rx, ry) = (&self.rules.business_rules[x], &self.rules.business_rules[y]);
        let window_disjoint = matches!((rx.effective_until, ry.effective_from), (Some(u), Some(f)) if u <= f)
            || matches!((ry.effective_until, rx.effective_from), (Some(u), Some(f)) if u <= f);
        if window_disjoint {
            return true;
        }
        let (Some(cx), Some(cy)) = (self.conj(x), self.conj(y)) else {
            return false;
        };
        cx.iter().any(|a| cy.iter().any(|b| leaves_disjoint(a, b)))
    }

    /// Terminals a rule's top-level conjuncts allow.
    fn admitted_terminals(&self, conj: &[&Condition]) -> Vec<Terminal> {
        Terminal::ALL
            .into_iter()
            .filter(|t| {
                let v = FactValue::Str(t.code().to_owned());
                conj.iter().all(|c| match c {
                    Condition::Test(test) if test.fact == "terminal" => match &test.op {
                        Op::Equals(x) => *x == v,
                        Op::In(xs) => xs.contains(&v),
                        Op::NotIn(xs) => !xs.contains(&v),
                        _ => true,
                    },
                    _ => true,
                })
            })
            .collect()
    }
}

fn accepted(op: &Op) -> Option<&[FactValue]> {
    match op {
        Op::Equals(v) => Some(std::slice::from_ref(v)),
        Op::In(vs) => Some(vs),
        _ => None,
    }
}

fn ints_in(vs: &[FactValue], r: &IntRange) -> bool {
    vs.iter()
        .all(|v| matches!(v, FactValue::Int(i) if r.contains(*i)))
}

/// Whether the premises (all true) imply the goal.
fn implies(premises: &[&Condition], goal: &Condition) -> bool {
    match goal {
        Condition::All(cs) => cs.iter().all(|c| implies(premises, c)),
        Condition::Any(cs) => cs.iter().any(|c| implies(premises, c)),
        _ => premises.iter().any(|p| leaf_implies(p, goal)),
    }
}

fn leaf_implies(p: &Condition, g: &Condition) -> bool {
    if p == g {
        return true;
    }
    let (Condition::Test(a), Condition::Test(b)) = (p, g) else {
        return false;
    };
    if a.fact != b.fact {
        return false;
    }
    match (&a.op, &b.op) {
        (Op::NotIn(xa), Op::NotIn(xb)) => xb.iter().all(|v| xa.contains(v)),
        (Op::Range(ra), Op::Range(rb)) => rb.covers(ra),
        (pa, Op::Range(rb)) => accepted(pa).is_some_and(|xa| ints_in(xa, rb)),
        (pa, Op::NotIn(xb)) => accepted(pa).is_some_and(|xa| xa.iter().all(|v| !xb.contains(v))),
        (pa, pb) => match (accepted(pa), accepted(pb)) {
            (Some(xa), Some(xb)) => xa.iter().all(|v| xb.contains(v)),
            _ => false,
        },
    }
}

/// Whether two conditions can never both hold (checked on tests of the same fact).
fn leaves_disjoint(a: &Condition, b: &Condition) -> bool {
    let (Condition::Test(a), Condition::Test(b)) = (a, b) else {
        return false;
    };
    if a.fact != b.fact {
        return false;
    }
    let one_way = |x: &Op, y: &Op| match (accepted(x), y) {
        (Some(xa), Op::NotIn(xb)) => xa.iter().all(|v| xb.contains(v)),
        (Some(xa), Op::Range(r)) => xa
            .iter()
            .all(|v| !matches!(v, FactValue::Int(i) if r.contains(*i))),
        (Some(xa), _) => accepted(y).is_some_and(|xb| xa.iter().all(|v| !xb.contains(v))),
        (None, _) => matches!((x, y), (Op::Range(r1), Op::Range(r2)) if r1.disjoint(r2)),
    };
    one_way(&a.op, &b.op) || one_way(&b.op, &a.op)
}
