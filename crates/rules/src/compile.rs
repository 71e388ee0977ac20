//! Compiling a rule set into an immutable, indexed snapshot.
//!
//! Rules are sorted once into precedence order (priority descending, then id), so a
//! rule's position — its *rank* — is also its bit in candidate bitsets. For every
//! enumerated dimension (the string facts, `terminal`, `currency`) that some rule tests
//! with `equals`/`in` at the top level of its condition, the index maps each value to
//! the rules that accept it plus the rules that do not test that dimension at all.
//! Evaluation intersects one such set per dimension, walks the survivors in rank order
//! and checks only what the index did not already decide (the *residual* condition).
//! Strings are interned at compile time, so residual tests compare integers.

use crate::bitset::{Bitset, FxBuild};
use crate::condition::{Condition, IntRange, Op, Test};
use crate::eval::Route;
use crate::facts::{BuiltinFact, FactType, FactValue, Facts, Method, Terminal};
use crate::model::{BusinessRule, Limits, RuleSet};
use crate::validate::{validate, Finding, Severity};
use paydesk_core::money::Currency;
use semver::{Version, VersionReq};
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;
use thiserror::Error;

/// Why a rule set could not be compiled.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum CompileError {
    /// Validation found errors (the findings include the warnings too).
    #[error("the rule set has {} error(s), first: {}", count_errors(.0), first_error(.0))]
    Invalid(Vec<Finding>),
    /// A rule cannot be evaluated as written (unknown fact, wrong value type, bad semver,
    /// nesting too deep). Only [`compile_unchecked`] reports these directly.
    #[error("rule `{rule}`: {message}")]
    Rule {
        /// The rule's id.
        rule: String,
        /// What is wrong.
        message: String,
    },
}

fn count_errors(f: &[Finding]) -> usize {
    f.iter().filter(|f| f.severity == Severity::Error).count()
}

fn first_error(f: &[Finding]) -> String {
    f.iter()
        .find(|f| f.severity == Severity::Error)
        .map(|f| f.to_string())
        .unwrap_or_default()
}

/// Validates and compiles: the publish path. Any error-level finding blocks compilation;
/// warnings do not.
pub fn compile(rules: &RuleSet, limits: &Limits) -> Result<CompiledRuleSet, CompileError> {
    let findings = validate(rules, limits);
    if findings.iter().any(|f| f.severity == Severity::Error) {
        return Err(CompileError::Invalid(findings));
    }
    compile_unchecked(rules, limits)
}

/// Compiles without the publish-time checks (conflicts, shadowing, routing gaps, default
/// rule, catalogue values): for drafts, simulations and tests. Still refuses what cannot
/// be evaluated: unknown facts, values of the wrong type, bad semver, nesting deeper
/// than `limits.max_depth`, a `COMBINED` route without a provider.
pub fn compile_unchecked(
    rules: &RuleSet,
    limits: &Limits,
) -> Result<CompiledRuleSet, CompileError> {
    let mut c = Lowerer::new(rules);
    let mut order: Vec<usize> = (0..rules.business_rules.len()).collect();
    order.sort_by(|&a, &b| precedence(&rules.business_rules[a], &rules.business_rules[b]));

    let mut compiled = Vec::new();
    let mut disabled = Vec::new();
    let mut index_entries: Vec<Vec<(DimKey, Vec<u32>)>> = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    for &i in &order {
        let r = &rules.business_rules[i];
        if !r.enabled {
            disabled.push(RuleInfo::of(r));
            continue;
        }
        let err = |message: String| CompileError::Rule {
            rule: r.id.clone(),
            message,
        };
        if let Some(w) = &r.when {
            if w.depth() > limits.max_depth {
                return Err(err(format!(
                    "the condition is nested {} deep, over the limit of {}",
                    w.depth(),
                    limits.max_depth
                )));
            }
        }
        let full = match &r.when {
            Some(w) => Some(c.lower(w, true).map_err(err)?),
            None => None,
        };
        let mut residual = Vec::new();
        let mut keys: Vec<(DimKey, Vec<u32>)> = Vec::new();
        let mut ranged: Vec<(usize, IntRange, CCond)> = Vec::new();
        if let Some(w) = &r.when {
            for conj in conjuncts(w) {
                let lowered = c.lower(conj, false).map_err(err)?;
                match lowered.indexable() {
                    Some(Key::Values(dim, ids)) if !keys.iter().any(|(d, _)| *d == dim) => {
                        keys.push((dim, ids))
                    }
                    Some(Key::Range(slot, range)) if !ranged.iter().any(|(s, _, _)| *s == slot) => {
                        ranged.push((slot, range, lowered))
                    }
                    _ => residual.push(lowered),
                }
            }
        }
        let out = lower_outcome(r).map_err(err)?;
        let scenarios = lower_scenarios(rules, r).map_err(err)?;
        let mut contrib = [0u32; 7];
        for t in Terminal::ALL {
            contrib[t.index()] = out.contribution(t, &scenarios);
        }
        compiled.push(CRule {
            info: RuleInfo::of(r),
            from: r.effective_from,
            until: r.effective_until,
            full,
            residual: None,
            out,
            contrib,
            rest: [0; 7],
            scenarios,
        });
        index_entries.push(keys);
        pending.push((residual, ranged));
    }

    // Suffix unions: what any rule at this rank or later could still set, per terminal.
    let mut rest = [0u32; 7];
    for rule in compiled.iter_mut().rev() {
        for (acc, c) in rest.iter_mut().zip(rule.contrib) {
            *acc |= c;
        }
        rule.rest = rest;
    }

    let n = compiled.len();
    let mut dims: Vec<DimIndex> = Vec::new();
    for (rank, keys) in index_entries.iter().enumerate() {
        for (dim, ids) in keys {
            let pos = match dims.iter().position(|d| d.key == *dim) {
                Some(p) => p,
                None => {
                    dims.push(DimIndex {
                        key: *dim,
                        wildcard: Bitset::full(n),
                        lists: Vec::new(),
                        postings: Vec::new(),
                    });
                    dims.len() - 1
                }
            };
            let d = &mut dims[pos];
            d.wildcard.clear(rank);
            for &id in ids {
                let id = id as usize;
                if d.lists.len() <= id {
                    d.lists.resize(id + 1, Vec::new());
                }
                if d.lists[id].last() != Some(&(rank as u32)) {
                    d.lists[id].push(rank as u32);
                }
            }
        }
    }
    for d in &mut dims {
        d.postings = d
            .lists
            .drain(..)
            .map(|list| {
                if list.len() < SPARSE_MAX {
                    Posting::Sparse(list.into_boxed_slice())
                } else {
                    let mut b = d.wildcard.clone();
                    for &r in &list {
                        b.set(r as usize);
                    }
                    Posting::Dense(b)
                }
            })
            .collect();
    }

    let ranges = build_range_indexes(n, &pending);
    for (rule, (mut residual, ranged)) in compiled.iter_mut().zip(pending) {
        for (slot, _, leaf) in ranged {
            if !ranges.iter().any(|r| r.slot == slot) {
                residual.push(leaf);
            }
        }
        rule.residual = match residual.len() {
            0 => None,
            1 => residual.pop(),
            _ => Some(CCond {
                node: Node::All(residual.into_boxed_slice()),
                desc: Box::from(""),
            }),
        };
    }

    Ok(CompiledRuleSet {
        version: rules.version.id.as_deref().map(Arc::from),
        rules: compiled,
        disabled,
        dims,
        ranges,
        interners: c.interners,
        free: c.free,
        n_ints: c.n_ints,
        n_bools: c.n_bools,
    })
}

/// Precedence: higher priority first, then smaller id. Stable sorts keep declaration
/// order for (invalid) duplicate ids, so every evaluator agrees even then.
pub(crate) fn precedence(a: &BusinessRule, b: &BusinessRule) -> std::cmp::Ordering {
    b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id))
}

/// The top-level conjuncts of a condition: nested `all` groups flattened.
pub(crate) fn conjuncts(c: &Condition) -> Vec<&Condition> {
    let mut out = Vec::new();
    fn go<'a>(c: &'a Condition, out: &mut Vec<&'a Condition>) {
        match c {
            Condition::All(cs) => cs.iter().for_each(|c| go(c, out)),
            other => out.push(other),
        }
    }
    go(c, &mut out);
    out
}

/// Below this many rules a value's posting is a list of ranks instead of a bitset.
const SPARSE_MAX: usize = 8;

/// Marks a string fact that is absent or has a value no rule names.
pub(crate) const NONE: u32 = u32::MAX;

/// The identity of a rule, for traces and diffs.
#[derive(Debug, Clone)]
pub(crate) struct RuleInfo {
    pub(crate) id: Arc<str>,
    pub(crate) name: Arc<str>,
    pub(crate) priority: i64,
}

impl RuleInfo {
    fn of(r: &BusinessRule) -> RuleInfo {
        RuleInfo {
            id: Arc::from(r.id.as_str()),
            name: Arc::from(r.name.as_str()),
            priority: r.priority,
        }
    }
}

/// An immutable compiled rule set. Cheap to share behind an `Arc` and safe to evaluate
/// from many threads at once: evaluation takes `&self` and allocates only its output
/// and a candidate bitset.
#[derive(Debug)]
pub struct CompiledRuleSet {
    pub(crate) version: Option<Arc<str>>,
    pub(crate) rules: Vec<CRule>,
    pub(crate) disabled: Vec<RuleInfo>,
    dims: Vec<DimIndex>,
    ranges: Vec<RangeIndex>,
    interners: Vec<HashMap<Box<str>, u32, FxBuild>>,
    free: Vec<FreeSlot>,
    n_ints: usize,
    n_bools: usize,
}

impl CompiledRuleSet {
    /// The version id recorded in decisions (`version.id` of the rule set).
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// Number of enabled business rules compiled.
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Resolves facts into slot values: strings to interned ids, free facts by type.
    pub(crate) fn resolve(&self, facts: &Facts) -> Resolved {
        let mut strs = vec![NONE; self.interners.len()];
        for (slot, s) in strs.iter_mut().enumerate().take(6) {
            let fact = STRING_BUILTINS[slot];
            if let Some(v) = facts.builtin_str(fact) {
                *s = self.interners[slot].get(v).copied().unwrap_or(NONE);
            }
        }
        let mut ints = vec![None; self.n_ints];
        ints[0] = facts.amount;
        let mut bools = vec![None; self.n_bools];
        for f in &self.free {
            let v = facts.facts.get(&f.name);
            match (f.kind, v) {
                (SlotKind::Str(slot), Some(FactValue::Str(s))) => {
                    strs[slot] = self.interners[slot]
                        .get(s.as_str())
                        .copied()
                        .unwrap_or(NONE)
                }
                (SlotKind::Int(slot), Some(FactValue::Int(i))) => ints[slot] = Some(*i),
                (SlotKind::Bool(slot), Some(FactValue::Bool(b))) => bools[slot] = Some(*b),
                _ => {}
            }
        }
        Resolved {
            strs,
            ints,
            bools,
            terminal: facts.terminal,
            currency: facts.currency,
            app_version: facts.parsed_app_version(),
        }
    }

    /// The candidate rules for these facts: every rule whose indexed tests all hold.
    pub(crate) fn candidates(&self, r: &Resolved) -> Bitset {
        let mut cand = Bitset::full(self.rules.len());
        for d in &self.dims {
            let v = match d.key {
                DimKey::Str(slot) => r.strs[slot as usize],
                DimKey::Terminal => r.terminal.index() as u32,
                DimKey::Currency => r.currency.map_or(NONE, |c| currency_index(c) as u32),
            };
            match d.postings.get(v as usize) {
                Some(Posting::Dense(b)) => cand.and_with(b),
                Some(Posting::Sparse(list)) => {
                    // (cand & wildcard) | (cand & listed): remember the listed bits that
                    // survive, mask with the wildcard, put them back.
                    let mut keep = [0u32; SPARSE_MAX];
                    let mut k = 0;
                    for &rank in list.iter() {
                        if cand.get(rank as usize) {
                            keep[k] = rank;
                            k += 1;
                        }
                    }
                    cand.and_with(&d.wildcard);
                    for &rank in &keep[..k] {
                        cand.set(rank as usize);
                    }
                }
                None => cand.and_with(&d.wildcard),
            }
        }
        for ri in &self.ranges {
            match r.ints[ri.slot] {
                Some(v) => match ri.segments.get(ri.segment(v)) {
                    Some(b) => cand.and_with(b),
                    None => cand.and_with(&ri.wildcard),
                },
                None => cand.and_with(&ri.wildcard),
            }
        }
        cand
    }
}

const STRING_BUILTINS: [BuiltinFact; 6] = [
    BuiltinFact::BusinessLine,
    BuiltinFact::SellerId,
    BuiltinFact::SellerSegment,
    BuiltinFact::BuyerId,
    BuiltinFact::BuyerSegment,
    BuiltinFact::ItemCategory,
];

pub(crate) fn currency_index(c: Currency) -> usize {
    Currency::ALL.iter().position(|x| *x == c).unwrap_or(0)
}

/// Fact values of one checkout, by slot.
pub(crate) struct Resolved {
    pub(crate) strs: Vec<u32>,
    pub(crate) ints: Vec<Option<i64>>,
    pub(crate) bools: Vec<Option<bool>>,
    pub(crate) terminal: Terminal,
    pub(crate) currency: Option<Currency>,
    pub(crate) app_version: Option<Version>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DimKey {
    Str(u16),
    Terminal,
    Currency,
}

/// Per rule, while compiling: residual conditions, and `(slot, range, test)` range
/// tests that an integer index may absorb.
type Pending = (Vec<CCond>, Vec<(usize, IntRange, CCond)>);

/// What the index can take from one top-level test.
enum Key {
    /// A positive `equals`/`in` on an enumerated dimension, with the accepted value ids.
    Values(DimKey, Vec<u32>),
    /// A `range` on an integer slot.
    Range(usize, IntRange),
}

/// Largest bitset memory one integer range index may take; above it the ranges stay
/// residual tests (still correct, just scanned).
const RANGE_INDEX_BYTES: usize = 32 << 20;

/// An index over `range` tests on one integer fact. The range ends cut the number line
/// into segments; each segment keeps the rules that accept all of it (ranges start and
/// end on segment boundaries, so "accepts one value of a segment" means "accepts it
/// all") plus the rules that do not test this fact.
#[derive(Debug)]
struct RangeIndex {
    slot: usize,
    bounds: Vec<i64>,
    wildcard: Bitset,
    segments: Vec<Bitset>,
}

impl RangeIndex {
    /// The segment holding `v`: how many bounds are `<= v`.
    fn segment(&self, v: i64) -> usize {
        self.bounds.partition_point(|b| *b <= v)
    }
}

fn build_range_indexes(n: usize, pending: &[Pending]) -> Vec<RangeIndex> {
    let mut slots: Vec<usize> = pending
        .iter()
        .flat_map(|(_, r)| r.iter().map(|(s, _, _)| *s))
        .collect();
    slots.sort_unstable();
    slots.dedup();
    let mut out = Vec::new();
    for slot in slots {
        let mut bounds: Vec<i64> = Vec::new();
        let mut wildcard = Bitset::full(n);
        for (rank, (_, ranged)) in pending.iter().enumerate() {
            for (s, range, _) in ranged {
                if *s == slot {
                    wildcard.clear(rank);
                    bounds.extend(range.min);
                    bounds.extend(range.max);
                }
            }
        }
        bounds.sort_unstable();
        bounds.dedup();
        let segments = bounds.len() + 1;
        if segments.saturating_mul(n.div_ceil(64) * 8) > RANGE_INDEX_BYTES {
            continue;
        }
        let mut idx = RangeIndex {
            slot,
            segments: vec![wildcard.clone(); segments],
            wildcard,
            bounds,
        };
        for (rank, (_, ranged)) in pending.iter().enumerate() {
            for (s, range, _) in ranged {
                if *s != slot {
                    continue;
                }
                let from = range.min.map_or(0, |m| idx.segment(m));
                let to = range.max.map_or(segments, |m| idx.segment(m));
                for seg in idx.segments.iter_mut().take(to).skip(from) {
                    seg.set(rank);
                }
            }
        }
        out.push(idx);
    }
    out
}

#[derive(Debug)]
struct DimIndex {
    key: DimKey,
    /// Rules that do not test this dimension in their index keys.
    wildcard: Bitset,
    lists: Vec<Vec<u32>>,
    /// By value id: the rules to keep when the fact has that value.
    postings: Vec<Posting>,
}

#[derive(Debug)]
enum Posting {
    /// `wildcard | rules naming the value`, ready to AND.
    Dense(Bitset),
    /// The few rules naming the value.
    Sparse(Box<[u32]>),
}

#[derive(Debug, Clone, Copy)]
enum SlotKind {
    Str(usize),
    Int(usize),
    Bool(usize),
}

#[derive(Debug)]
struct FreeSlot {
    name: String,
    kind: SlotKind,
}

/// A compiled business rule.
#[derive(Debug)]
pub(crate) struct CRule {
    pub(crate) info: RuleInfo,
    pub(crate) from: Option<i64>,
    pub(crate) until: Option<i64>,
    /// The whole condition, for explain.
    pub(crate) full: Option<CCond>,
    /// What the index did not decide, for evaluation.
    pub(crate) residual: Option<CCond>,
    pub(crate) out: COutcome,
    /// Per terminal: the decision slots this rule can fill (see [`crate::eval`]).
    pub(crate) contrib: [u32; 7],
    /// Per terminal: the union of `contrib` over this rule and every later one in
    /// precedence order, i.e. every slot the rest of the walk could still fill. Once
    /// all of it is settled, evaluation stops.
    pub(crate) rest: [u32; 7],
    pub(crate) scenarios: Box<[CScenario]>,
}

impl CRule {
    pub(crate) fn in_effect(&self, now: i64) -> bool {
        self.from.is_none_or(|f| now >= f) && self.until.is_none_or(|u| now < u)
    }
}

/// A compiled outcome.
#[derive(Debug)]
pub(crate) struct COutcome {
    pub(crate) allow: u8,
    pub(crate) deny: u8,
    /// (method, terminal mask, route); the first entry for a method and terminal wins.
    pub(crate) routes: Box<[(Method, u8, Route)]>,
    /// The first installment periods given per method.
    pub(crate) periods: Box<[(Method, Arc<[u32]>)]>,
    pub(crate) credit_denied: u8,
    pub(crate) display_order: Option<Arc<[Method]>>,
    pub(crate) default_method: Option<Method>,
}

/// A compiled scenario rule.
#[derive(Debug)]
pub(crate) struct CScenario {
    pub(crate) id: Arc<str>,
    pub(crate) terminals: u8,
    pub(crate) req: Option<VersionReq>,
    pub(crate) methods: u8,
    pub(crate) display_order: Option<Arc<[Method]>>,
}

impl CScenario {
    pub(crate) fn applies(&self, t: Terminal, v: Option<&Version>) -> bool {
        self.terminals & (1 << t.index()) != 0
            && match (&self.req, v) {
                (None, _) => true,
                (Some(req), Some(v)) => req.matches(v),
                (Some(_), None) => false,
            }
    }
}

fn terminal_mask(ts: &[Terminal]) -> u8 {
    ts.iter().fold(0, |m, t| m | (1 << t.index()))
}

pub(crate) fn method_mask(ms: &[Method]) -> u8 {
    ms.iter().fold(0, |m, x| m | x.bit())
}

fn lower_outcome(r: &BusinessRule) -> Result<COutcome, String> {
    let o = &r.then;
    let mut routes = Vec::new();
    for e in &o.routes {
        let provider = e.effective_provider().ok_or_else(|| {
            format!(
                "the {} route to {} must name its provider",
                e.method, e.merchant_account
            )
        })?;
        routes.push((
            e.method,
            terminal_mask(&e.terminals),
            Route {
                merchant_account: Arc::from(e.merchant_account.as_str()),
                provider,
                product: e.product,
            },
        ));
    }
    let mut periods: Vec<(Method, Arc<[u32]>)> = Vec::new();
    let mut credit_denied = 0;
    for p in &o.params {
        if let Some(ps) = &p.installment_periods {
            if !periods.iter().any(|(m, _)| *m == p.method) {
                periods.push((p.method, Arc::from(ps.as_slice())));
            }
        }
        if p.allow_credit_card == Some(false) {
            credit_denied |= p.method.bit();
        }
    }
    Ok(COutcome {
        allow: method_mask(&o.allow),
        deny: method_mask(&o.deny),
        routes: routes.into_boxed_slice(),
        periods: periods.into_boxed_slice(),
        credit_denied,
        display_order: o.display_order.as_deref().map(Arc::from),
        default_method: o.default_method,
    })
}

/// The enabled scenario rules of `r`, sorted by id (their precedence within the rule).
fn lower_scenarios(rules: &RuleSet, r: &BusinessRule) -> Result<Box<[CScenario]>, String> {
    let mut out = Vec::new();
    let mut mine: Vec<_> = rules
        .scenario_rules
        .iter()
        .filter(|s| s.enabled && s.business_rule == r.id)
        .collect();
    mine.sort_by(|a, b| a.id.cmp(&b.id));
    for s in mine {
        let req = match &s.app_version {
            Some(v) => Some(VersionReq::parse(v).map_err(|e| {
                format!(
                    "scenario `{}`: app_version {v:?} is not a semver range: {e}",
                    s.id
                )
            })?),
            None => None,
        };
        out.push(CScenario {
            id: Arc::from(s.id.as_str()),
            terminals: terminal_mask(&s.terminals),
            req,
            methods: method_mask(&s.methods),
            display_order: s.display_order.as_deref().map(Arc::from),
        });
    }
    Ok(out.into_boxed_slice())
}

/// A compiled condition node. `desc` (empty in residual trees) is the readable text
/// explain reports.
#[derive(Debug)]
pub(crate) struct CCond {
    pub(crate) node: Node,
    pub(crate) desc: Box<str>,
}

#[derive(Debug)]
pub(crate) enum Node {
    All(Box<[CCond]>),
    Any(Box<[CCond]>),
    Not(Box<CCond>),
    Leaf(Leaf),
}

/// A typed test. `negate` turns `in` into `not_in`.
#[derive(Debug)]
pub(crate) enum Leaf {
    Str {
        fact: Arc<str>,
        slot: usize,
        ids: Box<[u32]>,
        negate: bool,
    },
    Int {
        fact: Arc<str>,
        slot: usize,
        values: Box<[i64]>,
        negate: bool,
    },
    Range {
        fact: Arc<str>,
        slot: usize,
        range: IntRange,
    },
    Bool {
        fact: Arc<str>,
        slot: usize,
        mask: u8,
        negate: bool,
    },
    Terminal {
        mask: u8,
        negate: bool,
    },
    Currency {
        mask: u8,
        negate: bool,
    },
    Semver(VersionReq),
}

impl CCond {
    pub(crate) fn eval(&self, r: &Resolved) -> bool {
        match &self.node {
            Node::All(cs) => cs.iter().all(|c| c.eval(r)),
            Node::Any(cs) => cs.iter().any(|c| c.eval(r)),
            Node::Not(c) => !c.eval(r),
            Node::Leaf(l) => l.eval(r),
        }
    }

    /// If this is a positive `equals`/`in` on an enumerated dimension: the dimension and
    /// the value ids it accepts.
    fn indexable(&self) -> Option<Key> {
        let Node::Leaf(l) = &self.node else {
            return None;
        };
        match l {
            Leaf::Str {
                slot,
                ids,
                negate: false,
                ..
            } => Some(Key::Values(DimKey::Str(*slot as u16), ids.to_vec())),
            Leaf::Terminal {
                mask,
                negate: false,
            } => Some(Key::Values(DimKey::Terminal, bits(*mask))),
            Leaf::Currency {
                mask,
                negate: false,
            } => Some(Key::Values(DimKey::Currency, bits(*mask))),
            Leaf::Range { slot, range, .. } => Some(Key::Range(*slot, *range)),
            _ => None,
        }
    }
}

fn bits(mask: u8) -> Vec<u32> {
    (0..8).filter(|i| mask & (1 << i) != 0).collect()
}

impl Leaf {
    pub(crate) fn eval(&self, r: &Resolved) -> bool {
        match self {
            Leaf::Str {
                slot, ids, negate, ..
            } => {
                let v = r.strs[*slot];
                (v != NONE && ids.contains(&v)) != *negate
            }
            Leaf::Int {
                slot,
                values,
                negate,
                ..
            } => r.ints[*slot].is_some_and(|v| values.contains(&v)) != *negate,
            Leaf::Range { slot, range, .. } => r.ints[*slot].is_some_and(|v| range.contains(v)),
            Leaf::Bool {
                slot, mask, negate, ..
            } => r.bools[*slot].is_some_and(|b| mask & (1 << u8::from(b)) != 0) != *negate,
            Leaf::Terminal { mask, negate } => (mask & (1 << r.terminal.index()) != 0) != *negate,
            Leaf::Currency { mask, negate } => {
                r.currency
                    .is_some_and(|c| mask & (1 << currency_index(c)) != 0)
                    != *negate
            }
            Leaf::Semver(req) => r.app_version.as_ref().is_some_and(|v| req.matches(v)),
        }
    }
}

/// Turns model conditions into typed compiled ones, interning strings per fact.
struct Lowerer<'a> {
    rules: &'a RuleSet,
    interners: Vec<HashMap<Box<str>, u32, FxBuild>>,
    free: Vec<FreeSlot>,
    n_ints: usize,
    n_bools: usize,
}

/// Where a fact's value lives once resolved.
#[derive(Clone, Copy)]
enum Target {
    Str(usize),
    Int(usize),
    Bool(usize),
    Terminal,
    Currency,
    Semver,
}

impl<'a> Lowerer<'a> {
    fn new(rules: &'a RuleSet) -> Lowerer<'a> {
        let mut l = Lowerer {
            rules,
            interners: (0..6).map(|_| HashMap::default()).collect(),
            free: Vec::new(),
            n_ints: 1,
            n_bools: 0,
        };
        // Slots for every declared free fact, in catalogue order (first declaration wins).
        for d in &rules.facts {
            if BuiltinFact::from_name(&d.name).is_some() || l.free.iter().any(|f| f.name == d.name)
            {
                continue;
            }
            let kind = match d.fact_type {
                Some(FactType::String) => {
                    l.interners.push(HashMap::default());
                    SlotKind::Str(l.interners.len() - 1)
                }
                Some(FactType::Integer) => {
                    l.n_ints += 1;
                    SlotKind::Int(l.n_ints - 1)
                }
                Some(FactType::Boolean) => {
                    l.n_bools += 1;
                    SlotKind::Bool(l.n_bools - 1)
                }
                _ => continue,
            };
            l.free.push(FreeSlot {
                name: d.name.clone(),
                kind,
            });
        }
        l
    }

    fn target(&self, fact: &str) -> Result<Target, String> {
        if let Some(b) = BuiltinFact::from_name(fact) {
            return Ok(match b {
                BuiltinFact::Amount => Target::Int(0),
                BuiltinFact::Currency => Target::Currency,
                BuiltinFact::Terminal => Target::Terminal,
                BuiltinFact::AppVersion => Target::Semver,
                other => Target::Str(other.string_slot().unwrap_or(0)),
            });
        }
        match self.free.iter().find(|f| f.name == fact) {
            Some(f) => Ok(match f.kind {
                SlotKind::Str(s) => Target::Str(s),
                SlotKind::Int(s) => Target::Int(s),
                SlotKind::Bool(s) => Target::Bool(s),
            }),
            None => {
                if self.rules.facts.iter().any(|d| d.name == fact) {
                    Err(format!("fact `{fact}` is declared without a usable type"))
                } else {
                    Err(format!("unknown fact `{fact}`"))
                }
            }
        }
    }

    fn lower(&mut self, c: &Condition, describe: bool) -> Result<CCond, String> {
        let desc: Box<str> = if describe {
            c.to_string().into()
        } else {
            Box::from("")
        };
        let node = match c {
            Condition::All(cs) => Node::All(
                cs.iter()
                    .map(|c| self.lower(c, describe))
                    .collect::<Result<_, _>>()?,
            ),
            Condition::Any(cs) => Node::Any(
                cs.iter()
                    .map(|c| self.lower(c, describe))
                    .collect::<Result<_, _>>()?,
            ),
            Condition::Not(c) => Node::Not(Box::new(self.lower(c, describe)?)),
            Condition::Test(t) => Node::Leaf(self.lower_test(t)?),
        };
        Ok(CCond { node, desc })
    }

    fn lower_test(&mut self, t: &Test) -> Result<Leaf, String> {
        let target = self.target(&t.fact)?;
        let fact: Arc<str> = Arc::from(t.fact.as_str());
        let (values, negate): (&[FactValue], bool) = match &t.op {
            Op::Equals(v) => (std::slice::from_ref(v), false),
            Op::In(vs) => (vs, false),
            Op::NotIn(vs) => (vs, true),
            Op::Range(range) => {
                return match target {
                    Target::Int(slot) => Ok(Leaf::Range {
                        fact,
                        slot,
                        range: *range,
                    }),
                    _ => Err(format!(
                        "`range` needs an integer fact; `{}` is not one",
                        t.fact
                    )),
                }
            }
            Op::Semver(req) => {
                return match target {
                    Target::Semver => VersionReq::parse(req)
                        .map(Leaf::Semver)
                        .map_err(|e| format!("{req:?} is not a semver range: {e}")),
                    _ => Err(format!(
                        "`semver` applies only to app_version, not `{}`",
                        t.fact
                    )),
                }
            }
        };
        let wrong = |v: &FactValue, want: &str| {
            format!(
                "`{}` is {want}, but the condition compares it with {v}",
                t.fact
            )
        };
        match target {
            Target::Str(slot) => {
                let mut ids = Vec::new();
                for v in values {
                    let FactValue::Str(s) = v else {
                        return Err(wrong(v, "a string"));
                    };
                    let map = &mut self.interners[slot];
                    let next = map.len() as u32;
                    ids.push(*map.entry(Box::from(s.as_str())).or_insert(next));
                }
                ids.sort_unstable();
                ids.dedup();
                Ok(Leaf::Str {
                    fact,
                    slot,
                    ids: ids.into(),
                    negate,
                })
            }
            Target::Int(slot) => {
                let mut out = Vec::new();
                for v in values {
                    let FactValue::Int(i) = v else {
                        return Err(wrong(v, "an integer"));
                    };
                    out.push(*i);
                }
                Ok(Leaf::Int {
                    fact,
                    slot,
                    values: out.into(),
                    negate,
                })
            }
            Target::Bool(slot) => {
                let mut mask = 0u8;
                for v in values {
                    let FactValue::Bool(b) = v else {
                        return Err(wrong(v, "a boolean"));
                    };
                    mask |= 1 << u8::from(*b);
                }
                Ok(Leaf::Bool {
                    fact,
                    slot,
                    mask,
                    negate,
                })
            }
            Target::Terminal => {
                let mut mask = 0u8;
                for v in values {
                    let t = match v {
                        FactValue::Str(s) => Terminal::from_code(s),
                        _ => None,
                    }
                    .ok_or_else(|| format!("{v} is not a terminal"))?;
                    mask |= 1 << t.index();
                }
                Ok(Leaf::Terminal { mask, negate })
            }
            Target::Currency => {
                let mut mask = 0u8;
                for v in values {
                    let c = match v {
                        FactValue::Str(s) => Currency::from_str(s).ok(),
                        _ => None,
                    }
                    .ok_or_else(|| format!("{v} is not a supported currency"))?;
                    mask |= 1 << currency_index(c);
                }
                Ok(Leaf::Currency { mask, negate })
            }
            Target::Semver => Err(format!(
                "app_version is compared with `semver` ranges only (e.g. semver = \">=5.2.0\"), not {}",
                match &t.op {
                    Op::Equals(_) => "`equals`",
                    Op::In(_) => "`in`",
                    _ => "`not_in`",
                }
            )),
        }
    }
}
