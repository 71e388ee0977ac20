//! Simulation (backtest): run a candidate snapshot and the current one over recorded
//! checkout facts and report which decisions would change, and how.

use crate::compile::CompiledRuleSet;
use crate::eval::{Decision, MethodParams, Route};
use crate::facts::{Facts, Method};
use serde::{Deserialize, Serialize};

/// The result of a simulation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimulationReport {
    /// How many facts were evaluated.
    pub total: usize,
    /// How many decisions changed.
    pub changed: usize,
    /// The changed decisions, in input order.
    pub changes: Vec<DecisionChange>,
}

/// One decision that changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DecisionChange {
    /// Position of the facts in the input.
    pub index: usize,
    /// The decision under the current snapshot.
    pub before: Decision,
    /// The decision under the candidate.
    pub after: Decision,
    /// What differs, method by method.
    pub differences: Vec<Difference>,
}

/// One difference between two decisions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// The method is newly offered.
    MethodAdded {
        /// The method.
        method: Method,
    },
    /// The method is no longer offered.
    MethodRemoved {
        /// The method.
        method: Method,
    },
    /// The method's route changed.
    RouteChanged {
        /// The method.
        method: Method,
        /// Before.
        before: Option<Route>,
        /// After.
        after: Option<Route>,
    },
    /// The method's parameters changed.
    ParamsChanged {
        /// The method.
        method: Method,
        /// Before.
        before: MethodParams,
        /// After.
        after: MethodParams,
    },
    /// The display order of the methods offered in both changed.
    OrderChanged {
        /// Before.
        before: Vec<Method>,
        /// After.
        after: Vec<Method>,
    },
    /// The default method changed.
    DefaultChanged {
        /// Before.
        before: Option<Method>,
        /// After.
        after: Option<Method>,
    },
}

/// Evaluates every sample under `current` and `candidate` at `now_ms` and reports the
/// decisions that differ (ignoring the version id, which always differs).
pub fn simulate(
    current: &CompiledRuleSet,
    candidate: &CompiledRuleSet,
    samples: &[Facts],
    now_ms: i64,
) -> SimulationReport {
    let mut changes = Vec::new();
    for (index, facts) in samples.iter().enumerate() {
        let before = current.evaluate(facts, now_ms);
        let after = candidate.evaluate(facts, now_ms);
        let differences = compare(&before, &after);
        if !differences.is_empty() {
            changes.push(DecisionChange {
                index,
                before,
                after,
                differences,
            });
        }
    }
    SimulationReport {
        total: samples.len(),
        changed: changes.len(),
        changes,
    }
}

/// What differs between two decisions (the version aside).
pub fn compare(before: &Decision, after: &Decision) -> Vec<Difference> {
    let mut out = Vec::new();
    for b in &before.methods {
        match after.get(b.method) {
            None => out.push(Difference::MethodRemoved { method: b.method }),
            Some(a) => {
                if a.route != b.route {
                    out.push(Difference::RouteChanged {
                        method: b.method,
                        before: b.route.clone(),
                        after: a.route.clone(),
                    });
                }
                if a.params != b.params {
                    out.push(Difference::ParamsChanged {
                        method: b.method,
                        before: b.params.clone(),
                        after: a.params.clone(),
                    });
                }
            }
        }
    }
    for a in &after.methods {
        if before.get(a.method).is_none() {
            out.push(Difference::MethodAdded { method: a.method });
        }
    }
    let common = |d: &Decision, other: &Decision| -> Vec<Method> {
        d.method_list()
            .into_iter()
            .filter(|m| other.get(*m).is_some())
            .collect()
    };
    let (cb, ca) = (common(before, after), common(after, before));
    if cb != ca {
        out.push(Difference::OrderChanged {
            before: before.method_list(),
            after: after.method_list(),
        });
    }
    if before.default_method() != after.default_method() {
        out.push(Difference::DefaultChanged {
            before: before.default_method(),
            after: after.default_method(),
        });
    }
    out
}
