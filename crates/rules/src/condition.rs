//! Conditions: typed tests on one fact, combined with `all` / `any` / `not` groups.
//!
//! On the wire a condition is a small table with exactly one of `all`, `any`, `not` or
//! `fact`; a `fact` test has exactly one operator:
//!
//! ```toml
//! when = { all = [
//!   { fact = "item_category", in = ["gift_cards", "vouchers"] },
//!   { fact = "amount", range = { min = 5000000 } },
//!   { not = { fact = "app_version", semver = ">=5.2.0" } },
//! ] }
//! ```
//!
//! Values stay as written (strings, integers, booleans, semver text) in the model, so a
//! console can round-trip whatever an operator typed; checking them against the fact's
//! type is validation's job, which can then name the rule.

use crate::facts::FactValue;
use serde::{Deserialize, Serialize};
use std::fmt;

/// A condition on the facts.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "RawCondition", into = "RawCondition")]
pub enum Condition {
    /// True when every child is true (an empty `all` is true).
    All(Vec<Condition>),
    /// True when at least one child is true (an empty `any` is false).
    Any(Vec<Condition>),
    /// True when the child is false.
    Not(Box<Condition>),
    /// A test on one fact.
    Test(Test),
}

/// A test on one fact.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Test {
    /// The fact's name: a built-in (`business_line`, `amount`, ...) or a declared free fact.
    pub fact: String,
    /// What to check.
    pub op: Op,
}

/// The operator of a [`Test`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Op {
    /// The fact equals the value.
    Equals(FactValue),
    /// The fact is one of the values.
    In(Vec<FactValue>),
    /// The fact is none of the values (true when the fact is absent).
    NotIn(Vec<FactValue>),
    /// An integer fact lies in the range.
    Range(IntRange),
    /// `app_version` satisfies the semver requirement (e.g. `>=5.2.0, <6`).
    Semver(String),
}

/// An integer range: `min` inclusive, `max` exclusive (`[min, max)`), either side open
/// when omitted. Half-open ranges tile without gaps or overlaps: `[0, 5000000)` and
/// `[5000000, ...)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntRange {
    /// Smallest value included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<i64>,
    /// First value excluded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<i64>,
}

impl IntRange {
    /// Whether `v` lies in the range.
    pub fn contains(&self, v: i64) -> bool {
        self.min.is_none_or(|m| v >= m) && self.max.is_none_or(|m| v < m)
    }

    /// Whether no integer lies in the range.
    pub fn is_empty(&self) -> bool {
        matches!((self.min, self.max), (Some(a), Some(b)) if a >= b)
    }

    /// Whether every value of `other` lies in `self`.
    pub fn covers(&self, other: &IntRange) -> bool {
        if other.is_empty() {
            return true;
        }
        let lo_ok = match (self.min, other.min) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => b >= a,
        };
        let hi_ok = match (self.max, other.max) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(a), Some(b)) => b <= a,
        };
        lo_ok && hi_ok
    }

    /// Whether no value lies in both ranges.
    pub fn disjoint(&self, other: &IntRange) -> bool {
        let lo = match (self.min, other.min) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        let hi = match (self.max, other.max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        IntRange { min: lo, max: hi }.is_empty()
    }
}

impl fmt::Display for IntRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.min {
            Some(m) => write!(f, "[{m}, ")?,
            None => f.write_str("(-inf, ")?,
        }
        match self.max {
            Some(m) => write!(f, "{m})"),
            None => f.write_str("+inf)"),
        }
    }
}

impl Condition {
    /// Shorthand for a test.
    pub fn test(fact: &str, op: Op) -> Condition {
        Condition::Test(Test {
            fact: fact.to_owned(),
            op,
        })
    }

    /// Nesting depth: a test is 1, a group is one more than its deepest child.
    pub fn depth(&self) -> usize {
        match self {
            Condition::Test(_) => 1,
            Condition::Not(c) => 1 + c.depth(),
            Condition::All(cs) | Condition::Any(cs) => {
                1 + cs.iter().map(Condition::depth).max().unwrap_or(0)
            }
        }
    }

    /// Number of fact tests.
    pub fn test_count(&self) -> usize {
        match self {
            Condition::Test(_) => 1,
            Condition::Not(c) => c.test_count(),
            Condition::All(cs) | Condition::Any(cs) => cs.iter().map(Condition::test_count).sum(),
        }
    }

    /// Calls `f` on every test, depth first.
    pub fn for_each_test<'a>(&'a self, f: &mut impl FnMut(&'a Test)) {
        match self {
            Condition::Test(t) => f(t),
            Condition::Not(c) => c.for_each_test(f),
            Condition::All(cs) | Condition::Any(cs) => cs.iter().for_each(|c| c.for_each_test(f)),
        }
    }
}

fn list(f: &mut fmt::Formatter<'_>, vs: &[FactValue]) -> fmt::Result {
    f.write_str("[")?;
    for (i, v) in vs.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{v}")?;
    }
    f.write_str("]")
}

impl fmt::Display for Test {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.op {
            Op::Equals(v) => write!(f, "{} = {v}", self.fact),
            Op::In(vs) => {
                write!(f, "{} in ", self.fact)?;
                list(f, vs)
            }
            Op::NotIn(vs) => {
                write!(f, "{} not in ", self.fact)?;
                list(f, vs)
            }
            Op::Range(r) => write!(f, "{} in {r}", self.fact),
            Op::Semver(r) => write!(f, "{} matches {r:?}", self.fact),
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Condition::Test(t) => write!(f, "{t}"),
            Condition::Not(c) => write!(f, "not ({c})"),
            Condition::All(cs) | Condition::Any(cs) => {
                let (word, sep) = match self {
                    Condition::All(_) => ("all", " and "),
                    _ => ("any", " or "),
                };
                if cs.is_empty() {
                    return write!(f, "{word}()");
                }
                f.write_str("(")?;
                for (i, c) in cs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(sep)?;
                    }
                    write!(f, "{c}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// The wire shape: one flat table whose keys say what it is. Converted to
/// [`Condition`] with a clear error when the keys do not make exactly one condition.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    all: Option<Vec<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    any: Option<Vec<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    not: Option<Box<Condition>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    equals: Option<FactValue>,
    #[serde(default, rename = "in", skip_serializing_if = "Option::is_none")]
    in_: Option<Vec<FactValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    not_in: Option<Vec<FactValue>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    range: Option<IntRange>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    semver: Option<String>,
}

impl TryFrom<RawCondition> for Condition {
    type Error = String;

    fn try_from(r: RawCondition) -> Result<Self, String> {
        let ops = [
            r.equals.is_some(),
            r.in_.is_some(),
            r.not_in.is_some(),
            r.range.is_some(),
            r.semver.is_some(),
        ]
        .into_iter()
        .filter(|b| *b)
        .count();
        let kinds = [
            r.all.is_some(),
            r.any.is_some(),
            r.not.is_some(),
            r.fact.is_some(),
        ]
        .into_iter()
        .filter(|b| *b)
        .count();
        if kinds != 1 {
            return Err(
                "a condition needs exactly one of `all`, `any`, `not` or `fact`".to_owned(),
            );
        }
        if let Some(fact) = r.fact {
            if ops != 1 {
                return Err(format!(
                    "the test on `{fact}` needs exactly one operator: `equals`, `in`, `not_in`, `range` or `semver`"
                ));
            }
            let op = if let Some(v) = r.equals {
                Op::Equals(v)
            } else if let Some(v) = r.in_ {
                Op::In(v)
            } else if let Some(v) = r.not_in {
                Op::NotIn(v)
            } else if let Some(v) = r.range {
                Op::Range(v)
            } else if let Some(v) = r.semver {
                Op::Semver(v)
            } else {
                return Err(format!("the test on `{fact}` has no operator"));
            };
            return Ok(Condition::Test(Test { fact, op }));
        }
        if ops != 0 {
            return Err(
                "operators (`equals`, `in`, ...) belong in a `fact` test, not in a group"
                    .to_owned(),
            );
        }
        if let Some(cs) = r.all {
            Ok(Condition::All(cs))
        } else if let Some(cs) = r.any {
            Ok(Condition::Any(cs))
        } else if let Some(c) = r.not {
            Ok(Condition::Not(c))
        } else {
            Err("a condition needs exactly one of `all`, `any`, `not` or `fact`".to_owned())
        }
    }
}

impl From<Condition> for RawCondition {
    fn from(c: Condition) -> Self {
        let mut r = RawCondition::default();
        match c {
            Condition::All(cs) => r.all = Some(cs),
            Condition::Any(cs) => r.any = Some(cs),
            Condition::Not(c) => r.not = Some(c),
            Condition::Test(t) => {
                r.fact = Some(t.fact);
                match t.op {
                    Op::Equals(v) => r.equals = Some(v),
                    Op::In(v) => r.in_ = Some(v),
                    Op::NotIn(v) => r.not_in = Some(v),
                    Op::Range(v) => r.range = Some(v),
                    Op::Semver(v) => r.semver = Some(v),
                }
            }
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        let r = IntRange {
            min: Some(10),
            max: Some(20),
        };
        assert!(r.contains(10) && r.contains(19) && !r.contains(20) && !r.contains(9));
        assert!(IntRange::default().contains(i64::MIN));
        assert!(IntRange {
            min: Some(5),
            max: Some(5)
        }
        .is_empty());
        assert!(IntRange::default().covers(&r));
        assert!(!r.covers(&IntRange::default()));
        assert!(r.covers(&IntRange {
            min: Some(12),
            max: Some(20)
        }));
        assert!(r.disjoint(&IntRange {
            min: Some(20),
            max: None
        }));
        assert!(!r.disjoint(&IntRange {
            min: None,
            max: Some(11)
        }));
        assert_eq!(r.to_string(), "[10, 20)");
        assert_eq!(IntRange::default().to_string(), "(-inf, +inf)");
    }

    #[test]
    fn display_and_depth() {
        let c = Condition::All(vec![
            Condition::test("seller_id", Op::In(vec!["a".into(), "b".into()])),
            Condition::Not(Box::new(Condition::test(
                "app_version",
                Op::Semver(">=5.2.0".into()),
            ))),
        ]);
        assert_eq!(
            c.to_string(),
            "(seller_id in [\"a\", \"b\"] and not (app_version matches \">=5.2.0\"))"
        );
        assert_eq!(c.depth(), 3);
        assert_eq!(c.test_count(), 2);
    }

    #[test]
    fn wire_shape_round_trips() {
        let c = Condition::Any(vec![
            Condition::test(
                "amount",
                Op::Range(IntRange {
                    min: Some(1),
                    max: None,
                }),
            ),
            Condition::test("vip", Op::Equals(true.into())),
        ]);
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(
            json,
            r#"{"any":[{"fact":"amount","range":{"min":1}},{"fact":"vip","equals":true}]}"#
        );
        assert_eq!(serde_json::from_str::<Condition>(&json).unwrap(), c);
        assert!(serde_json::from_str::<Condition>(r#"{"fact":"amount"}"#).is_err());
        assert!(serde_json::from_str::<Condition>(r#"{}"#).is_err());
        assert!(serde_json::from_str::<Condition>(r#"{"all":[],"equals":1}"#).is_err());
        assert!(serde_json::from_str::<Condition>(r#"{"fact":"a","like":"x"}"#).is_err());
    }
}
