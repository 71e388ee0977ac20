//! Evaluation: facts in, a [`Decision`] out.
//!
//! A decision is assembled from *slots*, each filled by the first matching rule in
//! precedence order that says something about it (see the crate docs for the full
//! semantics). Walking candidates in precedence order means a slot, once filled, is
//! final; a candidate whose every slot is already settled is skipped without even
//! checking its condition, and the walk stops as soon as every slot that any later rule
//! (candidate or not) could fill is settled.
//!
//! *Settled* is conservative: an allow slot is settled once the method is allowed or
//! denied (allows are a union, deny beats allow), a deny or `allow_credit_card` slot
//! only once a matching rule has denied the method or its credit funding (a later rule
//! could still do so otherwise), and a first-wins slot (route, periods, display order,
//! default, scenario) once filled. A rule whose slots are all settled cannot change the
//! decision, so neither can any suffix of rules whose union of slots is settled.

use crate::compile::{COutcome, CRule, CScenario, CompiledRuleSet, Resolved};
use crate::facts::{Facts, Method, Product, Provider, Terminal};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Where a method's money goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Route {
    /// Our merchant account id at the provider.
    pub merchant_account: Arc<str>,
    /// The provider.
    pub provider: Provider,
    /// The provider product.
    pub product: Product,
}

/// Parameters of an offered method.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodParams {
    /// Installment periods in months, when the method offers installments.
    pub installment_periods: Option<Arc<[u32]>>,
    /// Whether a credit card may fund the payment (meaningless for `BALANCE`).
    pub allow_credit_card: bool,
}

/// One method shown on the checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferedMethod {
    /// The method.
    pub method: Method,
    /// Its route on the buyer's terminal (`None` only for `BALANCE`).
    pub route: Option<Route>,
    /// Its parameters.
    pub params: MethodParams,
    /// Whether it is selected by default (exactly one offered method is, if any is).
    pub default: bool,
}

/// What the checkout shows, in display order, and the rule-set version that decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The rule set's `version.id`.
    pub version: Option<Arc<str>>,
    /// Methods to show, in order.
    pub methods: Vec<OfferedMethod>,
}

impl Decision {
    /// The offered methods, in order.
    pub fn method_list(&self) -> Vec<Method> {
        self.methods.iter().map(|m| m.method).collect()
    }

    /// The offered entry for `m`.
    pub fn get(&self, m: Method) -> Option<&OfferedMethod> {
        self.methods.iter().find(|o| o.method == m)
    }

    /// The default method.
    pub fn default_method(&self) -> Option<Method> {
        self.methods.iter().find(|o| o.default).map(|o| o.method)
    }
}

// Slot bits: allow m, deny m, route m, periods m, credit m, then singles.
const ALLOW: u32 = 0;
const DENY: u32 = 5;
const ROUTE: u32 = 10;
const PERIODS: u32 = 15;
const CREDIT: u32 = 20;
const DISPLAY: u32 = 1 << 25;
const DEFAULT: u32 = 1 << 26;
const SCENARIO: u32 = 1 << 27;

fn spread(mask: u8, base: u32) -> u32 {
    u32::from(mask) << base
}

impl COutcome {
    /// The slots this outcome (and its scenarios) can fill on terminal `t`.
    pub(crate) fn contribution(&self, t: Terminal, scenarios: &[CScenario]) -> u32 {
        let tbit = 1u8 << t.index();
        let mut c = spread(self.allow, ALLOW) | spread(self.deny, DENY);
        for (m, ts, _) in self.routes.iter() {
            if ts & tbit != 0 {
                c |= 1 << (ROUTE + m.index() as u32);
            }
        }
        for (m, _) in self.periods.iter() {
            c |= 1 << (PERIODS + m.index() as u32);
        }
        c |= spread(self.credit_denied, CREDIT);
        if self.display_order.is_some() {
            c |= DISPLAY;
        }
        if self.default_method.is_some() {
            c |= DEFAULT;
        }
        if scenarios.iter().any(|s| s.terminals & tbit != 0) {
            c |= SCENARIO;
        }
        c
    }
}

/// A filled slot: the rank of the rule that filled it, and the value.
type Filled<'a, T> = Option<(usize, &'a T)>;

/// The slots filled so far; each remembers the rank of the rule that filled it.
pub(crate) struct State<'a> {
    pub(crate) allowed: u8,
    pub(crate) denied: u8,
    pub(crate) routes: [Filled<'a, Route>; 5],
    pub(crate) periods: [Filled<'a, Arc<[u32]>>; 5],
    pub(crate) credit_denied: u8,
    pub(crate) display: Filled<'a, Arc<[Method]>>,
    pub(crate) default: Option<(usize, Method)>,
    pub(crate) scenario: Filled<'a, CScenario>,
    settled: u32,
}

impl<'a> State<'a> {
    pub(crate) fn new() -> State<'a> {
        State {
            allowed: 0,
            denied: 0,
            routes: [None; 5],
            periods: [None; 5],
            credit_denied: 0,
            display: None,
            default: None,
            scenario: None,
            settled: 0,
        }
    }

    /// Whether applying `rule` could still change anything.
    pub(crate) fn wants(&self, rule: &CRule, t: Terminal) -> bool {
        rule.contrib[t.index()] & !self.settled != 0
    }

    /// Whether `rule` or any rule after it in precedence order could still change
    /// anything; when not, the decision is final.
    pub(crate) fn open(&self, rule: &CRule, t: Terminal) -> bool {
        rule.rest[t.index()] & !self.settled != 0
    }

    /// Applies a matching rule; rules must come in precedence order.
    pub(crate) fn apply(&mut self, rank: usize, rule: &'a CRule, r: &Resolved) {
        let o = &rule.out;
        let t = r.terminal;
        self.allowed |= o.allow;
        self.denied |= o.deny;
        // A denied method's allow slot is settled too: nothing can bring it back.
        self.settled |= spread(o.allow | o.deny, ALLOW) | spread(o.deny, DENY);
        let tbit = 1u8 << t.index();
        for (m, ts, route) in o.routes.iter() {
            let i = m.index();
            if ts & tbit != 0 && self.routes[i].is_none() {
                self.routes[i] = Some((rank, route));
                self.settled |= 1 << (ROUTE + i as u32);
            }
        }
        for (m, p) in o.periods.iter() {
            let i = m.index();
            if self.periods[i].is_none() {
                self.periods[i] = Some((rank, p));
                self.settled |= 1 << (PERIODS + i as u32);
            }
        }
        self.credit_denied |= o.credit_denied;
        self.settled |= spread(o.credit_denied, CREDIT);
        if self.display.is_none() {
            if let Some(d) = &o.display_order {
                self.display = Some((rank, d));
                self.settled |= DISPLAY;
            }
        }
        if self.default.is_none() {
            if let Some(d) = o.default_method {
                self.default = Some((rank, d));
                self.settled |= DEFAULT;
            }
        }
        if self.scenario.is_none() {
            if let Some(s) = rule
                .scenarios
                .iter()
                .find(|s| s.applies(t, r.app_version.as_ref()))
            {
                self.scenario = Some((rank, s));
                self.settled |= SCENARIO;
            }
        }
    }

    /// Methods that pass allow/deny and the scenario, before routing.
    pub(crate) fn available(&self) -> u8 {
        let mut avail = self.allowed & !self.denied;
        if let Some((_, s)) = self.scenario {
            avail &= s.methods;
        }
        avail
    }

    /// Display order: scenario's, else the business rules', then canonical.
    pub(crate) fn order(&self) -> Vec<Method> {
        let given: &[Method] = match (self.scenario, self.display) {
            (Some((_, s)), _) if s.display_order.is_some() => {
                s.display_order.as_deref().unwrap_or(&[])
            }
            (_, Some((_, d))) => d,
            _ => &[],
        };
        let mut seen = 0u8;
        let mut out = Vec::with_capacity(5);
        for &m in given.iter().chain(Method::ALL.iter()) {
            if seen & m.bit() == 0 {
                seen |= m.bit();
                out.push(m);
            }
        }
        out
    }

    /// Assembles the decision.
    pub(crate) fn decide(&self, version: &Option<Arc<str>>) -> Decision {
        let avail = self.available();
        let mut methods = Vec::with_capacity(avail.count_ones() as usize);
        for m in self.order() {
            if avail & m.bit() == 0 {
                continue;
            }
            let route = self.routes[m.index()].map(|(_, r)| r.clone());
            if m.needs_route() && route.is_none() {
                continue;
            }
            methods.push(OfferedMethod {
                method: m,
                route,
                params: MethodParams {
                    installment_periods: self.periods[m.index()].map(|(_, p)| p.clone()),
                    allow_credit_card: self.credit_denied & m.bit() == 0,
                },
                default: false,
            });
        }
        let chosen = match self.default {
            Some((_, d)) if methods.iter().any(|o| o.method == d) => Some(d),
            _ => methods.first().map(|o| o.method),
        };
        for o in &mut methods {
            o.default = Some(o.method) == chosen;
        }
        Decision {
            version: version.clone(),
            methods,
        }
    }
}

impl CompiledRuleSet {
    /// Decides which methods to show for these facts at `now_ms` (unix ms; the engine
    /// never reads a clock).
    pub fn evaluate(&self, facts: &Facts, now_ms: i64) -> Decision {
        let resolved = self.resolve(facts);
        let cand = self.candidates(&resolved);
        let mut state = State::new();
        let t = facts.terminal;
        for rank in cand.ones() {
            let rule = &self.rules[rank];
            if !state.open(rule, t) {
                // Nothing at this rank or later can fill an unsettled slot.
                break;
            }
            if !state.wants(rule, t) || !rule.in_effect(now_ms) {
                continue;
            }
            if rule.residual.as_ref().is_none_or(|c| c.eval(&resolved)) {
                state.apply(rank, rule, &resolved);
            }
        }
        state.decide(&self.version)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile_unchecked;
    use crate::model::{Limits, RuleSet};

    /// `n` first-hit rules (allow and route WeChat Pay and Alipay on every terminal,
    /// display order, default), then `tail` TOML at lower priority.
    fn rules(n: usize, tail: &str) -> RuleSet {
        let mut s = String::new();
        for i in 0..n {
            s.push_str(&format!(
                r#"
[[business_rules]]
id = "r{i:03}"
name = "r{i}"
priority = {}
[business_rules.then]
allow = ["WECHAT_PAY", "ALIPAY"]
display_order = ["ALIPAY", "WECHAT_PAY"]
default_method = "ALIPAY"
[[business_rules.then.routes]]
method = "WECHAT_PAY"
terminals = ["IOS", "PC"]
merchant_account = "wx-{i}"
product = "NATIVE"
[[business_rules.then.routes]]
method = "ALIPAY"
terminals = ["IOS", "PC"]
merchant_account = "ali-{i}"
product = "NATIVE"
"#,
                1000 - i as i64
            ));
        }
        s.push_str(tail);
        RuleSet::from_toml(&s, &Limits::default()).unwrap()
    }

    /// After applying the first rule: whether the walk would go on to rank 1.
    fn open_after_first(rs: &RuleSet, t: Terminal) -> bool {
        let c = compile_unchecked(rs, &Limits::default()).unwrap();
        let resolved = c.resolve(&Facts::new(t));
        let mut state = State::new();
        state.apply(0, &c.rules[0], &resolved);
        state.open(&c.rules[1], t)
    }

    #[test]
    fn the_walk_stops_only_when_no_later_rule_can_change_the_decision() {
        // Everything later rules could set is settled by the first: stop.
        assert!(!open_after_first(&rules(5, ""), Terminal::Ios));
        // On a terminal where the first rule routes nothing, later routes still matter.
        let android = r#"
[[business_rules]]
id = "zz"
name = "zz"
priority = 1
[business_rules.then]
[[business_rules.then.routes]]
method = "WECHAT_PAY"
terminals = ["ANDROID"]
merchant_account = "wx-android"
product = "APP"
"#;
        assert!(!open_after_first(&rules(5, android), Terminal::Ios));
        assert!(open_after_first(&rules(5, android), Terminal::Android));
        // A later deny, credit restriction, new allow, new route, new periods or scenario
        // keeps the walk going.
        for then in [
            "deny = [\"ALIPAY\"]",
            "deny = [\"BALANCE\"]",
            "allow = [\"BALANCE\"]",
            "[[business_rules.then.params]]\nmethod = \"WECHAT_PAY\"\nallow_credit_card = false",
            "[[business_rules.then.params]]\nmethod = \"ALIPAY_INSTALLMENT\"\ninstallment_periods = [3]",
            "[[business_rules.then.routes]]\nmethod = \"ALIPAY_INSTALLMENT\"\nterminals = [\"IOS\"]\nmerchant_account = \"ali\"\nproduct = \"APP\"",
        ] {
            let tail = format!(
                "[[business_rules]]\nid = \"zz\"\nname = \"zz\"\npriority = 1\n[business_rules.then]\n{then}\n"
            );
            assert!(open_after_first(&rules(5, &tail), Terminal::Ios), "{then}");
        }
        let scenario = r#"
[[scenario_rules]]
id = "sc"
business_rule = "r003"
terminals = ["IOS"]
methods = ["ALIPAY"]
"#;
        assert!(open_after_first(&rules(5, scenario), Terminal::Ios));
        assert!(!open_after_first(&rules(5, scenario), Terminal::Pc));
        // Allow/credit-true entries that change nothing do not keep it going.
        let harmless = "[[business_rules]]\nid = \"zz\"\nname = \"zz\"\npriority = 1\n[business_rules.then]\nallow = [\"ALIPAY\"]\n[[business_rules.then.params]]\nmethod = \"ALIPAY\"\nallow_credit_card = true\n";
        assert!(!open_after_first(&rules(5, harmless), Terminal::Ios));
    }
}
