//! Diffing two rule sets: which rules were added, removed or changed (by id), and
//! which fields of a changed rule differ.

use crate::model::{BusinessRule, RuleSet, ScenarioRule};
use serde::{Deserialize, Serialize};

/// The difference between two rule sets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RuleSetDiff {
    /// Whether the fact catalogue differs.
    pub facts_changed: bool,
    /// Business rule changes, sorted by id.
    pub business_rules: Vec<RuleChange>,
    /// Scenario rule changes, sorted by id.
    pub scenario_rules: Vec<RuleChange>,
}

impl RuleSetDiff {
    /// Whether the two rule sets decide identically by construction (version metadata
    /// aside).
    pub fn is_empty(&self) -> bool {
        !self.facts_changed && self.business_rules.is_empty() && self.scenario_rules.is_empty()
    }
}

/// One rule's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleChange {
    /// The rule's id.
    pub id: String,
    /// What happened to it (flattened: `{"id": .., "kind": "changed", "fields": [..]}`).
    #[serde(flatten)]
    pub kind: ChangeKind,
}

/// What happened to a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ChangeKind {
    /// Only in the new rule set.
    Added,
    /// Only in the old rule set.
    Removed,
    /// In both, with these fields different (e.g. `priority`, `when`, `then.routes`).
    Changed {
        /// The changed fields, in declaration order.
        fields: Vec<String>,
    },
}

/// Diffs `old` against `new`. Rules are matched by id; a duplicated id is matched by its
/// first occurrence.
pub fn diff(old: &RuleSet, new: &RuleSet) -> RuleSetDiff {
    RuleSetDiff {
        facts_changed: old.facts != new.facts,
        business_rules: diff_by_id(
            &old.business_rules,
            &new.business_rules,
            |r| &r.id,
            business_fields,
        ),
        scenario_rules: diff_by_id(
            &old.scenario_rules,
            &new.scenario_rules,
            |r| &r.id,
            scenario_fields,
        ),
    }
}

fn diff_by_id<T>(
    old: &[T],
    new: &[T],
    id: impl Fn(&T) -> &String,
    fields: impl Fn(&T, &T) -> Vec<String>,
) -> Vec<RuleChange> {
    let mut out = Vec::new();
    for (i, o) in old.iter().enumerate() {
        if old[..i].iter().any(|p| id(p) == id(o)) {
            continue; // a duplicated id is compared by its first occurrence only
        }
        match new.iter().find(|n| id(n) == id(o)) {
            None => out.push(RuleChange {
                id: id(o).clone(),
                kind: ChangeKind::Removed,
            }),
            Some(n) => {
                let f = fields(o, n);
                if !f.is_empty() {
                    out.push(RuleChange {
                        id: id(o).clone(),
                        kind: ChangeKind::Changed { fields: f },
                    });
                }
            }
        }
    }
    for n in new {
        if !old.iter().any(|o| id(o) == id(n)) {
            out.push(RuleChange {
                id: id(n).clone(),
                kind: ChangeKind::Added,
            });
        }
    }
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out.dedup_by(|a, b| a.id == b.id);
    out
}

fn business_fields(a: &BusinessRule, b: &BusinessRule) -> Vec<String> {
    let mut f = Vec::new();
    let mut check = |name: &str, differs: bool| {
        if differs {
            f.push(name.to_owned());
        }
    };
    check("name", a.name != b.name);
    check("description", a.description != b.description);
    check("priority", a.priority != b.priority);
    check("enabled", a.enabled != b.enabled);
    check("effective_from", a.effective_from != b.effective_from);
    check("effective_until", a.effective_until != b.effective_until);
    check("when", a.when != b.when);
    let (x, y) = (&a.then, &b.then);
    check("then.allow", x.allow != y.allow);
    check("then.deny", x.deny != y.deny);
    check("then.routes", x.routes != y.routes);
    check("then.params", x.params != y.params);
    check("then.display_order", x.display_order != y.display_order);
    check("then.default_method", x.default_method != y.default_method);
    f
}

fn scenario_fields(a: &ScenarioRule, b: &ScenarioRule) -> Vec<String> {
    let mut f = Vec::new();
    let mut check = |name: &str, differs: bool| {
        if differs {
            f.push(name.to_owned());
        }
    };
    check("name", a.name != b.name);
    check("enabled", a.enabled != b.enabled);
    check("business_rule", a.business_rule != b.business_rule);
    check("terminals", a.terminals != b.terminals);
    check("app_version", a.app_version != b.app_version);
    check("methods", a.methods != b.methods);
    check("display_order", a.display_order != b.display_order);
    f
}
