//! The naive reference evaluator: scans every rule and evaluates the model's conditions
//! directly on the facts, with no compilation, interning or index. It is deliberately
//! written separately from the compiled path, in the plainest way the semantics in the
//! crate docs allow, so property tests can hold the two equal.
//!
//! It assumes the rule set compiles ([`crate::compile_unchecked`] succeeds); on what
//! would not compile (unknown facts, ill-typed values) a test is simply false.

use crate::condition::{Condition, Op, Test};
use crate::eval::{Decision, MethodParams, OfferedMethod, Route};
use crate::facts::{parse_version_lenient, BuiltinFact, FactType, FactValue, Facts, Method};
use crate::model::{BusinessRule, RuleSet};
use semver::VersionReq;
use std::sync::Arc;

/// Evaluates `rules` for `facts` at `now_ms` by scanning every rule.
pub fn evaluate(rules: &RuleSet, facts: &Facts, now_ms: i64) -> Decision {
    let mut matched: Vec<&BusinessRule> = rules
        .business_rules
        .iter()
        .filter(|r| r.enabled && r.in_effect(now_ms))
        .filter(|r| r.when.as_ref().is_none_or(|c| holds(rules, c, facts)))
        .collect();
    matched.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));

    let t = facts.terminal;
    let allowed: Vec<Method> = matched.iter().flat_map(|r| r.then.allow.clone()).collect();
    let denied: Vec<Method> = matched.iter().flat_map(|r| r.then.deny.clone()).collect();

    // The scenario: the first (rule precedence, then scenario id) that applies.
    let version = facts.parsed_app_version();
    let scenario = matched.iter().find_map(|r| {
        let mut mine: Vec<_> = rules
            .scenario_rules
            .iter()
            .filter(|s| s.enabled && s.business_rule == r.id)
            .collect();
        mine.sort_by(|a, b| a.id.cmp(&b.id));
        mine.into_iter().find(|s| {
            s.terminals.contains(&t)
                && match &s.app_version {
                    None => true,
                    Some(req) => match (VersionReq::parse(req), &version) {
                        (Ok(req), Some(v)) => req.matches(v),
                        _ => false,
                    },
                }
        })
    });

    let order: Vec<Method> = scenario
        .and_then(|s| s.display_order.clone())
        .or_else(|| matched.iter().find_map(|r| r.then.display_order.clone()))
        .unwrap_or_default();

    let mut ordered: Vec<Method> = Vec::new();
    for m in order.into_iter().chain(Method::ALL) {
        if !ordered.contains(&m) {
            ordered.push(m);
        }
    }

    let mut methods = Vec::new();
    for m in ordered {
        if !allowed.contains(&m) || denied.contains(&m) {
            continue;
        }
        if let Some(s) = scenario {
            if !s.methods.contains(&m) {
                continue;
            }
        }
        let route = matched.iter().find_map(|r| {
            r.then
                .routes
                .iter()
                .find(|e| e.method == m && e.terminals.contains(&t))
                .map(|e| Route {
                    merchant_account: Arc::from(e.merchant_account.as_str()),
                    provider: e.effective_provider().unwrap_or(crate::Provider::Wechatpay),
                    product: e.product,
                })
        });
        if m != Method::Balance && route.is_none() {
            continue;
        }
        let periods = matched.iter().find_map(|r| {
            r.then
                .params
                .iter()
                .filter(|p| p.method == m)
                .find_map(|p| p.installment_periods.clone())
        });
        let credit_denied = matched.iter().any(|r| {
            r.then
                .params
                .iter()
                .any(|p| p.method == m && p.allow_credit_card == Some(false))
        });
        methods.push(OfferedMethod {
            method: m,
            route,
            params: MethodParams {
                installment_periods: periods.map(Arc::from),
                allow_credit_card: !credit_denied,
            },
            default: false,
        });
    }
    let wanted = matched.iter().find_map(|r| r.then.default_method);
    let chosen = match wanted {
        Some(d) if methods.iter().any(|o| o.method == d) => Some(d),
        _ => methods.first().map(|o| o.method),
    };
    for o in &mut methods {
        o.default = Some(o.method) == chosen;
    }
    Decision {
        version: rules.version.id.as_deref().map(Arc::from),
        methods,
    }
}

fn holds(rules: &RuleSet, c: &Condition, facts: &Facts) -> bool {
    match c {
        Condition::All(cs) => cs.iter().all(|c| holds(rules, c, facts)),
        Condition::Any(cs) => cs.iter().any(|c| holds(rules, c, facts)),
        Condition::Not(c) => !holds(rules, c, facts),
        Condition::Test(t) => test(rules, t, facts),
    }
}

/// The fact's value as a condition literal (terminal and currency as their codes).
fn value_of(rules: &RuleSet, name: &str, facts: &Facts) -> Option<FactValue> {
    match BuiltinFact::from_name(name) {
        Some(BuiltinFact::Amount) => facts.amount.map(FactValue::Int),
        Some(BuiltinFact::Terminal) => Some(FactValue::Str(facts.terminal.code().to_owned())),
        Some(BuiltinFact::Currency) => facts.currency.map(|c| FactValue::Str(c.code().to_owned())),
        Some(BuiltinFact::AppVersion) => None,
        Some(b) => facts.builtin_str(b).map(|s| FactValue::Str(s.to_owned())),
        None => {
            let decl = rules.facts.iter().find(|d| d.name == name)?;
            let v = facts.facts.get(name)?;
            let ok = matches!(
                (decl.fact_type, v),
                (Some(FactType::String), FactValue::Str(_))
                    | (Some(FactType::Integer), FactValue::Int(_))
                    | (Some(FactType::Boolean), FactValue::Bool(_))
            );
            ok.then(|| v.clone())
        }
    }
}

fn test(rules: &RuleSet, t: &Test, facts: &Facts) -> bool {
    if let Op::Semver(req) = &t.op {
        return match (VersionReq::parse(req), facts.app_version.as_deref()) {
            (Ok(req), Some(v)) => parse_version_lenient(v).is_some_and(|v| req.matches(&v)),
            _ => false,
        };
    }
    let v = value_of(rules, &t.fact, facts);
    match &t.op {
        Op::Equals(x) => v.as_ref() == Some(x),
        Op::In(xs) => v.is_some_and(|v| xs.contains(&v)),
        Op::NotIn(xs) => !v.is_some_and(|v| xs.contains(&v)),
        Op::Range(r) => matches!(v, Some(FactValue::Int(i)) if r.contains(i)),
        Op::Semver(_) => false,
    }
}
