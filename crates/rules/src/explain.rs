//! Explain: the decision plus why — every rule's verdict (and, for a rule that did not
//! match, the first condition that failed), the scenario chosen, which rule filled each
//! part of the decision, and why each method not offered was dropped.
//!
//! Explain checks every rule without the index or skipping, then assembles the decision
//! with the same code as [`CompiledRuleSet::evaluate`]; tests hold the two equal.

use crate::compile::{CCond, CompiledRuleSet, Leaf, Node, Resolved};
use crate::eval::{Decision, State};
use crate::facts::{BuiltinFact, Facts, Method};
use serde::{Deserialize, Serialize};

/// A decision with its explanation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Explained {
    /// The decision (identical to [`CompiledRuleSet::evaluate`]'s).
    pub decision: Decision,
    /// Why.
    pub trace: Trace,
}

/// The explanation of a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trace {
    /// Every business rule, enabled ones in precedence order, then the disabled ones.
    pub rules: Vec<RuleTrace>,
    /// The scenario rule that applied, if any.
    pub scenario: Option<String>,
    /// Which rule filled each part of the decision.
    pub sources: Vec<Source>,
    /// Methods not offered, and why.
    pub dropped: Vec<Dropped>,
}

/// One business rule's verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleTrace {
    /// The rule's id.
    pub id: String,
    /// The rule's name.
    pub name: String,
    /// Its priority.
    pub priority: i64,
    /// What happened.
    pub verdict: Verdict,
}

/// Whether a rule matched, and if not why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// The rule matched.
    Matched,
    /// The rule is disabled.
    Disabled,
    /// `now` is before `effective_from`.
    NotYetEffective,
    /// `now` is at or after `effective_until`.
    Expired,
    /// A condition failed.
    Failed {
        /// The failed condition, as written (e.g. `item_category in ["gift_cards"]`).
        condition: String,
        /// What the facts said (e.g. `item_category is "books"`).
        actual: String,
    },
}

/// Which rule decided one part of the decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    /// The part, e.g. `route WECHAT_PAY`, `installment_periods ALIPAY_INSTALLMENT`,
    /// `display_order`, `default_method`, `scenario`.
    pub part: String,
    /// The rule's id.
    pub rule: String,
}

/// Why a method is not on the checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dropped {
    /// The method.
    pub method: Method,
    /// Why.
    pub reason: DropReason,
}

/// Why a method was dropped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DropReason {
    /// No matching rule allows it.
    NotAllowed,
    /// A matching rule denies it.
    Denied {
        /// The denying rules' ids, in precedence order.
        by: Vec<String>,
    },
    /// The applied scenario rule does not list it.
    NotInScenario {
        /// The scenario rule's id.
        scenario: String,
    },
    /// No matching rule routes it on the buyer's terminal.
    NoRoute,
}

impl CompiledRuleSet {
    /// Evaluates and explains. Slower than [`CompiledRuleSet::evaluate`] (it checks every
    /// rule); meant for the console and for debugging a checkout.
    pub fn explain(&self, facts: &Facts, now_ms: i64) -> Explained {
        let resolved = self.resolve(facts);
        let mut state = State::new();
        let mut rules = Vec::with_capacity(self.rules.len() + self.disabled.len());
        let mut matched = Vec::new();
        for (rank, rule) in self.rules.iter().enumerate() {
            let verdict = if rule.from.is_some_and(|f| now_ms < f) {
                Verdict::NotYetEffective
            } else if rule.until.is_some_and(|u| now_ms >= u) {
                Verdict::Expired
            } else {
                match rule.full.as_ref().map(|c| why_not(c, &resolved, facts)) {
                    None | Some(None) => Verdict::Matched,
                    Some(Some((condition, actual))) => Verdict::Failed { condition, actual },
                }
            };
            if verdict == Verdict::Matched {
                state.apply(rank, rule, &resolved);
                matched.push(rank);
            }
            rules.push(RuleTrace {
                id: rule.info.id.to_string(),
                name: rule.info.name.to_string(),
                priority: rule.info.priority,
                verdict,
            });
        }
        for info in &self.disabled {
            rules.push(RuleTrace {
                id: info.id.to_string(),
                name: info.name.to_string(),
                priority: info.priority,
                verdict: Verdict::Disabled,
            });
        }
        let decision = state.decide(&self.version);
        let id = |rank: usize| self.rules[rank].info.id.to_string();

        let mut sources = Vec::new();
        for m in Method::ALL {
            if let Some((rank, _)) = state.routes[m.index()] {
                sources.push(Source {
                    part: format!("route {m}"),
                    rule: id(rank),
                });
            }
            if let Some((rank, _)) = state.periods[m.index()] {
                sources.push(Source {
                    part: format!("installment_periods {m}"),
                    rule: id(rank),
                });
            }
        }
        if let Some((rank, _)) = state.display {
            sources.push(Source {
                part: "display_order".into(),
                rule: id(rank),
            });
        }
        if let Some((rank, _)) = state.default {
            sources.push(Source {
                part: "default_method".into(),
                rule: id(rank),
            });
        }
        if let Some((rank, _)) = state.scenario {
            sources.push(Source {
                part: "scenario".into(),
                rule: id(rank),
            });
        }

        let mut dropped = Vec::new();
        for m in Method::ALL {
            if decision.get(m).is_some() {
                continue;
            }
            let reason = if state.denied & m.bit() != 0 {
                DropReason::Denied {
                    by: matched
                        .iter()
                        .filter(|&&r| self.rules[r].out.deny & m.bit() != 0)
                        .map(|&r| id(r))
                        .collect(),
                }
            } else if state.allowed & m.bit() == 0 {
                DropReason::NotAllowed
            } else if let Some((_, s)) = state.scenario.filter(|(_, s)| s.methods & m.bit() == 0) {
                DropReason::NotInScenario {
                    scenario: s.id.to_string(),
                }
            } else {
                DropReason::NoRoute
            };
            dropped.push(Dropped { method: m, reason });
        }
        Explained {
            decision,
            trace: Trace {
                rules,
                scenario: state.scenario.map(|(_, s)| s.id.to_string()),
                sources,
                dropped,
            },
        }
    }
}

/// `None` when the condition holds, else the first failing condition and what the facts
/// said.
fn why_not(c: &CCond, r: &Resolved, facts: &Facts) -> Option<(String, String)> {
    match &c.node {
        Node::All(cs) => cs.iter().find_map(|c| why_not(c, r, facts)),
        Node::Any(cs) => {
            if cs.iter().any(|c| c.eval(r)) {
                return None;
            }
            let first = cs
                .first()
                .and_then(|c| why_not(c, r, facts))
                .map(|(_, a)| format!("no alternative holds ({a})"))
                .unwrap_or_else(|| "an empty `any` never holds".to_owned());
            Some((c.desc.to_string(), first))
        }
        Node::Not(inner) => {
            if inner.eval(r) {
                Some((c.desc.to_string(), format!("{} holds", inner.desc)))
            } else {
                None
            }
        }
        Node::Leaf(l) => {
            if l.eval(r) {
                None
            } else {
                Some((c.desc.to_string(), actual(l, facts)))
            }
        }
    }
}

/// What the facts say about the leaf's fact, in words.
fn actual(l: &Leaf, facts: &Facts) -> String {
    let name: &str = match l {
        Leaf::Str { fact, .. }
        | Leaf::Int { fact, .. }
        | Leaf::Range { fact, .. }
        | Leaf::Bool { fact, .. } => fact,
        Leaf::Terminal { .. } => return format!("terminal is {}", facts.terminal),
        Leaf::Currency { .. } => {
            return match facts.currency {
                Some(c) => format!("currency is {c}"),
                None => "currency is absent".to_owned(),
            }
        }
        Leaf::Semver(_) => {
            return match (&facts.app_version, facts.parsed_app_version()) {
                (None, _) => "app_version is absent".to_owned(),
                (Some(v), None) => format!("app_version {v:?} is not a version"),
                (Some(v), Some(_)) => format!("app_version is {v}"),
            }
        }
    };
    let value = match BuiltinFact::from_name(name) {
        Some(BuiltinFact::Amount) => facts.amount.map(|a| a.to_string()),
        Some(b) => facts.builtin_str(b).map(|s| format!("{s:?}")),
        None => facts.facts.get(name).map(|v| v.to_string()),
    };
    match value {
        Some(v) => format!("{name} is {v}"),
        None => format!("{name} is absent"),
    }
}
