//! `rules`: checkout decisions per second on one core, paydesk's compiled rule engine
//! (`paydesk-rules`) next to GoRules ZEN (`zen-engine`) deciding the same thing from an
//! equivalent `first`-hit decision table, in the same run, on the same facts.
//!
//! # The rule sets
//!
//! For each size N (100, 1,000, 10,000 by default) a seeded generator writes N-1
//! business rules plus one catch-all default rule. Every generated rule has its own
//! priority (rule `r00000` highest, the default lowest) and a condition over enumerated
//! facts (`business_line`, `seller_id`, `item_category`, `terminal`) and an `amount`
//! range; every non-default rule tests `seller_id` or `item_category` positively, so
//! facts with values no rule mentions match only the default.
//!
//! paydesk combines matching rules part by part (allowed methods are a union), so a
//! first-match decision needs outcomes built for it: **every** rule allows the same two
//! methods (`WECHAT_PAY`, `ALIPAY`), routes both on every terminal it can match to a
//! merchant account of its own (`wx-r00042`, `ali-r00042`) with a product that fits those
//! terminals, and sets a default method and a display order. The union of allows is then
//! always the same, and every other part (both routes, order, default) is taken from the
//! first matching rule in precedence order: the highest-priority matching rule alone
//! decides, which is what a `first` hit-policy table expresses. The ZEN table has the
//! same rows in the same order (`"a", "b"` for a set, `[min..max)` / `>= min` / `< max`
//! for amounts, an empty cell for "any"; the default row is all empty), and outputs the
//! default method and both routes.
//!
//! # The check
//!
//! Before timing, every fact set of every workload is decided by paydesk's compiled
//! snapshot, by `paydesk_rules::reference::evaluate` (the naive model scan), by ZEN, and
//! by a first-match scan of the generator's own rows. All four are mapped to one
//! comparable value (default method, then each offered method with its merchant account
//! and product, in display order) and must be equal; any difference stops the run.
//!
//! # The workloads
//!
//! `mixed`: facts drawn from the vocabulary the rules use, so rules all over the
//! precedence order decide (the share that falls through to the default is reported).
//! `default_only`: business line, seller and category values no rule mentions, so only
//! the default row matches: ZEN's worst case when it scans rows.
//!
//! # Timing
//!
//! Latency: each call timed with `Instant` (the cost of one `Instant` pair is measured
//! and reported, not subtracted). Throughput: batches timed as a whole, single thread.
//! ZEN's `Decision::evaluate` is async; it is driven by a current-thread tokio runtime,
//! one `block_on` around each timed batch (it never waits on anything here). ZEN's input
//! `Variable`s are built outside the timed region; its decision is `compile()`d first
//! (expression bytecode and its decision-table index).

use crate::machine;
use crate::stats::write_json;
use anyhow::{anyhow, bail, Context, Result};
use paydesk_rules::{
    compile, reference, BusinessRule, CompiledRuleSet, Condition, Decision, Facts, IntRange,
    Limits, Method, Op, Outcome, Product, RouteEntry, RuleSet, Terminal, Test,
};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use zen_engine::model::DecisionContent;
use zen_engine::{DecisionEngine, Variable};

#[derive(clap::Args)]
pub struct Args {
    /// Rule-set sizes (business rules, the default rule included), comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = vec![100, 1_000, 10_000])]
    sizes: Vec<usize>,
    /// Distinct fact sets per workload; every one is checked on both engines.
    #[arg(long, default_value_t = 4096)]
    facts: usize,
    /// Measured seconds per engine, size, workload and measurement (latency, throughput).
    #[arg(long, default_value_t = 2.0)]
    seconds: f64,
    /// Seed of the rule and fact generator.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// The instant every evaluation runs at (rules have no effective dates).
const NOW_MS: i64 = 1_767_225_600_000;

const BUSINESS_LINES: [&str; 8] = [
    "secondhand",
    "tickets",
    "food",
    "travel",
    "games",
    "books",
    "rides",
    "music",
];
const CATEGORIES: usize = 60;
const SELLERS: usize = 2_000;

/// Terminal groups a rule may be limited to, with the WeChat Pay and Alipay products
/// that fit every terminal of the group. Rules without a terminal test use `NATIVE`.
const GROUPS: [(&[Terminal], Product, Product); 5] = [
    (
        &[Terminal::Android, Terminal::Ios],
        Product::App,
        Product::App,
    ),
    (
        &[Terminal::WechatMiniProgram, Terminal::WechatH5],
        Product::Jsapi,
        Product::Native,
    ),
    (
        &[Terminal::AlipayMiniProgram],
        Product::Native,
        Product::Jsapi,
    ),
    (&[Terminal::H5], Product::H5, Product::Wap),
    (&[Terminal::Pc], Product::Native, Product::Page),
];

const AMOUNT_CUTS: [i64; 8] = [0, 1_000, 5_000, 10_000, 50_000, 100_000, 500_000, 5_000_000];

/// SplitMix64: small, seeded, the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    /// `k` distinct indices below `n`.
    fn distinct(&mut self, k: usize, n: usize) -> Vec<usize> {
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            let v = self.below(n);
            if !out.contains(&v) {
                out.push(v);
            }
        }
        out
    }
}

fn seller(i: usize) -> String {
    format!("s{i:05}")
}

fn category(i: usize) -> String {
    format!("cat{i:02}")
}

/// What decides a checkout in this benchmark: the default method and both routes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Out {
    default: Method,
    wechat: (String, Product),
    alipay: (String, Product),
}

/// One generated row: a paydesk business rule and a ZEN table row at once.
#[derive(Debug, Clone)]
struct Row {
    id: String,
    priority: i64,
    business_line: Option<Vec<&'static str>>,
    seller: Option<String>,
    category: Option<Vec<String>>,
    group: Option<usize>,
    amount: Option<(Option<i64>, Option<i64>)>,
    out: Out,
}

impl Row {
    fn is_default(&self) -> bool {
        self.business_line.is_none()
            && self.seller.is_none()
            && self.category.is_none()
            && self.group.is_none()
            && self.amount.is_none()
    }

    /// The generator's own meaning of the row (the third opinion in the check).
    fn matches(&self, f: &Facts) -> bool {
        fn s(v: &Option<String>) -> &str {
            v.as_deref().unwrap_or("")
        }
        self.business_line
            .as_ref()
            .is_none_or(|set| set.iter().any(|b| *b == s(&f.business_line)))
            && self
                .seller
                .as_ref()
                .is_none_or(|x| x.as_str() == s(&f.seller_id))
            && self
                .category
                .as_ref()
                .is_none_or(|set| set.iter().any(|c| c.as_str() == s(&f.item_category)))
            && self.group.is_none_or(|g| GROUPS[g].0.contains(&f.terminal))
            && self.amount.is_none_or(|(lo, hi)| {
                f.amount
                    .is_some_and(|a| lo.is_none_or(|lo| a >= lo) && hi.is_none_or(|hi| a < hi))
            })
    }
}

fn make_out(rng: &mut Rng, id: &str, group: Option<usize>) -> Out {
    let (wx, ali) = match group {
        Some(g) => (GROUPS[g].1, GROUPS[g].2),
        None => (Product::Native, Product::Native),
    };
    Out {
        default: if rng.chance(50) {
            Method::WechatPay
        } else {
            Method::Alipay
        },
        wechat: (format!("wx-{id}"), wx),
        alipay: (format!("ali-{id}"), ali),
    }
}

/// `n` rows in precedence order: `n - 1` generated rules, then the default.
fn generate_rows(n: usize, rng: &mut Rng) -> Vec<Row> {
    let mut rows = Vec::with_capacity(n);
    for i in 0..n.saturating_sub(1) {
        let id = format!("r{i:05}");
        let business_line = rng.chance(80).then(|| {
            let k = if rng.chance(70) { 1 } else { 2 };
            rng.distinct(k, BUSINESS_LINES.len())
                .into_iter()
                .map(|b| BUSINESS_LINES[b])
                .collect()
        });
        // At least one of seller and category, so unknown values match no rule.
        let pick = rng.below(100);
        let seller = (pick < 55).then(|| seller(rng.below(SELLERS)));
        let category = (pick >= 45).then(|| {
            let k = 1 + rng.below(3);
            rng.distinct(k, CATEGORIES)
                .into_iter()
                .map(category)
                .collect()
        });
        let group = rng.chance(40).then(|| rng.below(GROUPS.len()));
        let amount = rng.chance(50).then(|| {
            let a = rng.below(AMOUNT_CUTS.len() - 1);
            let b = a + 1 + rng.below(AMOUNT_CUTS.len() - 1 - a);
            match rng.below(4) {
                0 => (Some(AMOUNT_CUTS[a]), None),
                1 => (None, Some(AMOUNT_CUTS[b])),
                _ => (Some(AMOUNT_CUTS[a]), Some(AMOUNT_CUTS[b])),
            }
        });
        let out = make_out(rng, &id, group);
        rows.push(Row {
            priority: ((n - i) * 10) as i64,
            id,
            business_line,
            seller,
            category,
            group,
            amount,
            out,
        });
    }
    let out = make_out(rng, "default", None);
    rows.push(Row {
        id: "default".into(),
        priority: 0,
        business_line: None,
        seller: None,
        category: None,
        group: None,
        amount: None,
        out,
    });
    rows
}

// ---- paydesk -------------------------------------------------------------------------

fn test(fact: &str, op: Op) -> Condition {
    Condition::Test(Test {
        fact: fact.into(),
        op,
    })
}

fn set_op(values: &[impl AsRef<str>]) -> Op {
    if values.len() == 1 {
        Op::Equals(values[0].as_ref().into())
    } else {
        Op::In(values.iter().map(|v| v.as_ref().into()).collect())
    }
}

fn to_business_rule(row: &Row) -> BusinessRule {
    let mut tests = Vec::new();
    if let Some(bl) = &row.business_line {
        tests.push(test("business_line", set_op(bl)));
    }
    if let Some(s) = &row.seller {
        tests.push(test("seller_id", Op::Equals(s.as_str().into())));
    }
    if let Some(c) = &row.category {
        tests.push(test("item_category", set_op(c)));
    }
    if let Some(g) = row.group {
        tests.push(test(
            "terminal",
            set_op(&GROUPS[g].0.iter().map(|t| t.code()).collect::<Vec<_>>()),
        ));
    }
    if let Some((min, max)) = row.amount {
        tests.push(test("amount", Op::Range(IntRange { min, max })));
    }
    let when = match tests.len() {
        0 => None,
        1 => tests.pop(),
        _ => Some(Condition::All(tests)),
    };
    let terminals: Vec<Terminal> = match row.group {
        Some(g) => GROUPS[g].0.to_vec(),
        None => Terminal::ALL.to_vec(),
    };
    let other = match row.out.default {
        Method::WechatPay => Method::Alipay,
        _ => Method::WechatPay,
    };
    BusinessRule {
        id: row.id.clone(),
        name: format!("bench rule {}", row.id),
        description: String::new(),
        priority: row.priority,
        enabled: true,
        effective_from: None,
        effective_until: None,
        when,
        then: Outcome {
            allow: vec![Method::WechatPay, Method::Alipay],
            deny: vec![],
            routes: vec![
                RouteEntry {
                    method: Method::WechatPay,
                    terminals: terminals.clone(),
                    merchant_account: row.out.wechat.0.clone(),
                    provider: None,
                    product: row.out.wechat.1,
                },
                RouteEntry {
                    method: Method::Alipay,
                    terminals,
                    merchant_account: row.out.alipay.0.clone(),
                    provider: None,
                    product: row.out.alipay.1,
                },
            ],
            params: vec![],
            display_order: Some(vec![row.out.default, other]),
            default_method: Some(row.out.default),
        },
    }
}

fn to_rule_set(rows: &[Row]) -> RuleSet {
    RuleSet {
        business_rules: rows.iter().map(to_business_rule).collect(),
        ..RuleSet::default()
    }
}

// ---- ZEN -----------------------------------------------------------------------------

fn zen_strings(values: &[impl AsRef<str>]) -> String {
    values
        .iter()
        .map(|v| format!("\"{}\"", v.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn zen_amount(range: Option<(Option<i64>, Option<i64>)>) -> String {
    match range {
        None | Some((None, None)) => String::new(),
        Some((Some(lo), Some(hi))) => format!("[{lo}..{hi})"),
        Some((Some(lo), None)) => format!(">= {lo}"),
        Some((None, Some(hi))) => format!("< {hi}"),
    }
}

fn zen_row(row: &Row) -> Value {
    let other = |v: &Option<Vec<String>>| v.as_deref().map(zen_strings).unwrap_or_default();
    json!({
        "_id": row.id,
        "i_business_line": row.business_line.as_deref().map(zen_strings).unwrap_or_default(),
        "i_seller_id": row.seller.as_ref().map(|s| zen_strings(&[s])).unwrap_or_default(),
        "i_item_category": other(&row.category),
        "i_terminal": row.group
            .map(|g| zen_strings(&GROUPS[g].0.iter().map(|t| t.code()).collect::<Vec<_>>()))
            .unwrap_or_default(),
        "i_amount": zen_amount(row.amount),
        "o_default_method": format!("\"{}\"", row.out.default.code()),
        "o_wechat_account": format!("\"{}\"", row.out.wechat.0),
        "o_wechat_product": format!("\"{}\"", row.out.wechat.1),
        "o_alipay_account": format!("\"{}\"", row.out.alipay.0),
        "o_alipay_product": format!("\"{}\"", row.out.alipay.1),
    })
}

/// The JDM graph: request -> decision table (hit policy `first`) -> response.
fn to_jdm(rows: &[Row]) -> Value {
    let col = |id: &str, field: &str| json!({ "id": id, "name": field, "field": field });
    json!({
        "nodes": [
            { "id": "request", "name": "request", "type": "inputNode", "content": {} },
            {
                "id": "checkout",
                "name": "checkout",
                "type": "decisionTableNode",
                "content": {
                    "hitPolicy": "first",
                    "inputs": [
                        col("i_business_line", "business_line"),
                        col("i_seller_id", "seller_id"),
                        col("i_item_category", "item_category"),
                        col("i_terminal", "terminal"),
                        col("i_amount", "amount"),
                    ],
                    "outputs": [
                        col("o_default_method", "default_method"),
                        col("o_wechat_account", "wechat_account"),
                        col("o_wechat_product", "wechat_product"),
                        col("o_alipay_account", "alipay_account"),
                        col("o_alipay_product", "alipay_product"),
                    ],
                    "rules": rows.iter().map(zen_row).collect::<Vec<_>>(),
                }
            },
            { "id": "response", "name": "response", "type": "outputNode", "content": {} }
        ],
        "edges": [
            { "id": "e1", "sourceId": "request", "targetId": "checkout" },
            { "id": "e2", "sourceId": "checkout", "targetId": "response" }
        ]
    })
}

fn zen_input(f: &Facts) -> Variable {
    Variable::from(json!({
        "business_line": f.business_line,
        "seller_id": f.seller_id,
        "item_category": f.item_category,
        "terminal": f.terminal.code(),
        "amount": f.amount,
    }))
}

// ---- the comparable decision ----------------------------------------------------------

/// Default method, then each offered method with its merchant account and product, in
/// display order.
type Key = (String, Vec<(String, String, String)>);

fn key_of_out(o: &Out) -> Key {
    let wx = (
        Method::WechatPay.code().to_owned(),
        o.wechat.0.clone(),
        o.wechat.1.to_string(),
    );
    let ali = (
        Method::Alipay.code().to_owned(),
        o.alipay.0.clone(),
        o.alipay.1.to_string(),
    );
    let list = match o.default {
        Method::WechatPay => vec![wx, ali],
        _ => vec![ali, wx],
    };
    (o.default.code().to_owned(), list)
}

fn key_of_decision(d: &Decision) -> Key {
    let default = d
        .default_method()
        .map(|m| m.code().to_owned())
        .unwrap_or_default();
    let list = d
        .methods
        .iter()
        .map(|m| {
            let (acct, prod) = m
                .route
                .as_ref()
                .map(|r| (r.merchant_account.to_string(), r.product.to_string()))
                .unwrap_or_default();
            (m.method.code().to_owned(), acct, prod)
        })
        .collect();
    (default, list)
}

fn key_of_zen(result: &Variable) -> Result<Key> {
    let get = |field: &str| -> Result<String> {
        result
            .dot(field)
            .and_then(|v| v.as_str().map(str::to_owned))
            .ok_or_else(|| anyhow!("zen result has no string `{field}`: {result:?}"))
    };
    let default = get("default_method")?;
    let wx = (
        Method::WechatPay.code().to_owned(),
        get("wechat_account")?,
        get("wechat_product")?,
    );
    let ali = (
        Method::Alipay.code().to_owned(),
        get("alipay_account")?,
        get("alipay_product")?,
    );
    let list = if default == Method::WechatPay.code() {
        vec![wx, ali]
    } else {
        vec![ali, wx]
    };
    Ok((default, list))
}

// ---- workloads -------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Workload {
    Mixed,
    DefaultOnly,
}

impl Workload {
    fn name(self) -> &'static str {
        match self {
            Workload::Mixed => "mixed",
            Workload::DefaultOnly => "default_only",
        }
    }
}

fn amount(rng: &mut Rng) -> i64 {
    // Log-uniform-ish from 1.00 to 99,999.99 CNY, in fen.
    let digits = 2 + rng.below(6) as u32;
    let lo = 10i64.pow(digits);
    lo + rng.below((lo * 9) as usize) as i64
}

fn generate_facts(w: Workload, n: usize, rng: &mut Rng) -> Vec<Facts> {
    (0..n)
        .map(|i| {
            let mut f = Facts::new(Terminal::ALL[rng.below(Terminal::ALL.len())]);
            match w {
                Workload::Mixed => {
                    f.business_line = Some(BUSINESS_LINES[rng.below(BUSINESS_LINES.len())].into());
                    f.seller_id = Some(seller(rng.below(SELLERS)));
                    f.item_category = Some(category(rng.below(CATEGORIES)));
                }
                Workload::DefaultOnly => {
                    f.business_line = Some(format!("line-none-{}", i % 7));
                    f.seller_id = Some(format!("seller-none-{i}"));
                    f.item_category = Some(format!("cat-none-{}", i % 13));
                }
            }
            f.amount = Some(amount(rng));
            f
        })
        .collect()
}

// ---- measurement -----------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
struct Lat {
    p50_ns: u64,
    p99_ns: u64,
    max_ns: u64,
    samples: usize,
}

fn lat(mut ns: Vec<u64>) -> Lat {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() as f64 - 1.0) * q).round() as usize];
    Lat {
        p50_ns: at(0.50),
        p99_ns: at(0.99),
        max_ns: at(1.0),
        samples: ns.len(),
    }
}

/// Nanoseconds of one `Instant::now()` + `elapsed()` pair around nothing (median).
fn timer_overhead_ns() -> u64 {
    let mut v: Vec<u64> = (0..100_000)
        .map(|_| {
            let t = Instant::now();
            black_box(());
            t.elapsed().as_nanos() as u64
        })
        .collect();
    v.sort_unstable();
    v[v.len() / 2]
}

const MAX_SAMPLES: usize = 2_000_000;

fn paydesk_latency(snap: &CompiledRuleSet, facts: &[Facts], secs: f64) -> Lat {
    let end = Instant::now() + Duration::from_secs_f64(secs);
    let mut ns = Vec::with_capacity(MAX_SAMPLES);
    'outer: loop {
        for f in facts {
            let t = Instant::now();
            black_box(snap.evaluate(black_box(f), NOW_MS));
            ns.push(t.elapsed().as_nanos() as u64);
        }
        if Instant::now() >= end || ns.len() >= MAX_SAMPLES {
            break 'outer;
        }
    }
    lat(ns)
}

fn paydesk_rate(snap: &CompiledRuleSet, facts: &[Facts], secs: f64) -> f64 {
    let budget = Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n = 0usize;
    while start.elapsed() < budget {
        for f in facts {
            black_box(snap.evaluate(black_box(f), NOW_MS));
        }
        n += facts.len();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// ZEN, per call timed (`per_call`) or in timed batches; returns latencies (empty for
/// batches) and evaluations per second over the timed regions.
fn zen_run(
    rt: &tokio::runtime::Runtime,
    decision: &zen_engine::Decision,
    inputs: &[Variable],
    secs: f64,
    per_call: bool,
) -> Result<(Vec<u64>, f64)> {
    rt.block_on(async {
        let budget = Duration::from_secs_f64(secs);
        let mut timed = Duration::ZERO;
        let mut n = 0usize;
        let mut ns = Vec::new();
        while timed < budget {
            // Fresh inputs for the batch, built outside the timed region.
            let batch: Vec<Variable> = inputs.iter().map(Variable::deep_clone).collect();
            if per_call {
                for v in batch {
                    let t = Instant::now();
                    let r = decision.evaluate(v).await;
                    let e = t.elapsed();
                    r.map_err(|e| anyhow!("zen evaluation failed: {e}"))?;
                    ns.push(e.as_nanos() as u64);
                    timed += e;
                }
            } else {
                let t = Instant::now();
                for v in batch {
                    black_box(
                        decision
                            .evaluate(v)
                            .await
                            .map_err(|e| anyhow!("zen evaluation failed: {e}"))?,
                    );
                }
                timed += t.elapsed();
            }
            n += inputs.len();
        }
        Ok((ns, n as f64 / timed.as_secs_f64()))
    })
}

// ---- the run -----------------------------------------------------------------------------

fn zen_version() -> String {
    // The lock file says which zen-engine this binary was built with.
    let lock = include_str!("../../../Cargo.lock");
    let mut lines = lock.lines();
    while let Some(l) = lines.next() {
        if l == "name = \"zen-engine\"" {
            if let Some(v) = lines.next().and_then(|v| v.strip_prefix("version = ")) {
                return v.trim_matches('"').to_owned();
            }
        }
    }
    "unknown".into()
}

fn fmt_ns(ns: u64) -> String {
    if ns < 10_000 {
        format!("{:.2} us", ns as f64 / 1000.0)
    } else {
        format!("{:.1} us", ns as f64 / 1000.0)
    }
}

fn fmt_rate(r: f64) -> String {
    let s = format!("{:.0}", r);
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn run(a: Args) -> Result<()> {
    if a.sizes.is_empty() || a.sizes.iter().any(|&n| n < 1) || a.facts == 0 {
        bail!("--sizes must list sizes of at least 1 and --facts must be positive");
    }
    machine::print_header(
        "paydesk rules benchmark: checkout decisions on one core, paydesk-rules vs zen-engine (first-hit decision table)",
    );
    let zen_v = zen_version();
    println!(
        "paydesk-rules {} | zen-engine {zen_v} (Decision::compile(); async evaluate driven by a current-thread tokio runtime)",
        env!("CARGO_PKG_VERSION")
    );
    let overhead = timer_overhead_ns();
    println!(
        "{} fact sets per workload, {} s per measurement, seed {}; paydesk latency is per call with Instant (one Instant pair costs ~{} ns here, included)",
        a.facts, a.seconds, a.seed, overhead
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .context("tokio runtime")?;
    let limits = Limits::default();

    println!();
    println!(
        "{:>6}  {:<12}  {:>7}  {:>9}  {:>9}  {:>13}  {:>9}  {:>9}  {:>11}  {:>8}",
        "rules",
        "workload",
        "default",
        "pd p50",
        "pd p99",
        "paydesk ev/s",
        "zen p50",
        "zen p99",
        "zen ev/s",
        "ratio"
    );

    let mut results = Vec::new();
    let mut checked = 0usize;
    for &size in &a.sizes {
        let mut rng = Rng(a.seed ^ (size as u64).wrapping_mul(0x0100_0000_01B3));
        let rows = generate_rows(size, &mut rng);
        let rule_set = to_rule_set(&rows);

        let t = Instant::now();
        let snap = compile(&rule_set, &limits)
            .map_err(|e| anyhow!("paydesk refused the generated rule set of {size}: {e}"))?;
        let paydesk_compile_ms = t.elapsed().as_secs_f64() * 1000.0;
        if snap.rule_count() != size {
            bail!(
                "paydesk compiled {} rules, expected {size}",
                snap.rule_count()
            );
        }

        let t = Instant::now();
        let content: DecisionContent =
            serde_json::from_value(to_jdm(&rows)).context("zen refused the JDM document")?;
        let mut decision = DecisionEngine::default()
            .create_decision(Arc::new(content))
            .map_err(|e| anyhow!("zen create_decision: {e}"))?;
        decision.compile();
        let zen_compile_ms = t.elapsed().as_secs_f64() * 1000.0;
        decision
            .validate()
            .map_err(|e| anyhow!("zen refused the decision graph: {e}"))?;

        for w in [Workload::Mixed, Workload::DefaultOnly] {
            let facts = generate_facts(w, a.facts, &mut rng);
            let inputs: Vec<Variable> = facts.iter().map(zen_input).collect();

            // The equivalence check: four opinions per fact set, all equal.
            let mut deciding: BTreeMap<usize, usize> = BTreeMap::new();
            let mut matching_total = 0usize;
            for (i, f) in facts.iter().enumerate() {
                matching_total += rows.iter().filter(|r| r.matches(f)).count();
                let first = rows
                    .iter()
                    .position(|r| r.matches(f))
                    .ok_or_else(|| anyhow!("no row matches (the default must)"))?;
                *deciding.entry(first).or_default() += 1;
                let expected = key_of_out(&rows[first].out);
                let pd = key_of_decision(&snap.evaluate(f, NOW_MS));
                let naive = key_of_decision(&reference::evaluate(&rule_set, f, NOW_MS));
                let zen = rt
                    .block_on(decision.evaluate(inputs[i].deep_clone()))
                    .map_err(|e| anyhow!("zen evaluation failed: {e}"))?;
                let zk = key_of_zen(&zen.result)?;
                if pd != expected || naive != expected || zk != expected {
                    bail!(
                        "DECISIONS DIFFER ({size} rules, {}, fact set {i}): {f:?}\n  first-match row {}: {expected:?}\n  paydesk compiled: {pd:?}\n  paydesk reference: {naive:?}\n  zen-engine: {zk:?}",
                        w.name(),
                        rows[first].id
                    );
                }
                if w == Workload::DefaultOnly && !rows[first].is_default() {
                    bail!("default_only facts matched rule {}", rows[first].id);
                }
            }
            checked += facts.len();
            let default_share =
                deciding.get(&(rows.len() - 1)).copied().unwrap_or(0) as f64 / facts.len() as f64;
            let distinct_rules = deciding.len();
            let mut positions: Vec<usize> = deciding
                .iter()
                .flat_map(|(&p, &c)| std::iter::repeat_n(p, c))
                .collect();
            positions.sort_unstable();
            let median_position = positions[positions.len() / 2];

            let pd_lat = paydesk_latency(&snap, &facts, a.seconds);
            let pd_rate = paydesk_rate(&snap, &facts, a.seconds);
            let (zen_ns, _) = zen_run(&rt, &decision, &inputs, a.seconds, true)?;
            let zen_lat = lat(zen_ns);
            let (_, zen_rate) = zen_run(&rt, &decision, &inputs, a.seconds, false)?;
            let ratio = pd_rate / zen_rate;

            println!(
                "{:>6}  {:<12}  {:>6.1}%  {:>9}  {:>9}  {:>13}  {:>9}  {:>9}  {:>11}  {:>7.1}x",
                fmt_rate(size as f64),
                w.name(),
                default_share * 100.0,
                fmt_ns(pd_lat.p50_ns),
                fmt_ns(pd_lat.p99_ns),
                fmt_rate(pd_rate),
                fmt_ns(zen_lat.p50_ns),
                fmt_ns(zen_lat.p99_ns),
                fmt_rate(zen_rate),
                ratio
            );
            results.push(json!({
                "rules": size,
                "workload": w.name(),
                "fact_sets": facts.len(),
                "default_rule_share": default_share,
                "distinct_deciding_rules": distinct_rules,
                "median_deciding_rule_position": median_position,
                "mean_matching_rules": matching_total as f64 / facts.len() as f64,
                "paydesk": {
                    "compile_ms": paydesk_compile_ms,
                    "p50_ns": pd_lat.p50_ns,
                    "p99_ns": pd_lat.p99_ns,
                    "max_ns": pd_lat.max_ns,
                    "latency_samples": pd_lat.samples,
                    "evals_per_sec": pd_rate,
                },
                "zen": {
                    "compile_ms": zen_compile_ms,
                    "p50_ns": zen_lat.p50_ns,
                    "p99_ns": zen_lat.p99_ns,
                    "max_ns": zen_lat.max_ns,
                    "latency_samples": zen_lat.samples,
                    "evals_per_sec": zen_rate,
                },
                "throughput_ratio": ratio,
            }));
        }
    }

    // The goals.
    let ratio_ok = results
        .iter()
        .filter(|r| r["rules"].as_u64().is_some_and(|n| n >= 1_000))
        .all(|r| r["throughput_ratio"].as_f64().is_some_and(|x| x >= 10.0));
    let p99_ok = results
        .iter()
        .filter(|r| r["rules"].as_u64() == Some(10_000))
        .all(|r| r["paydesk"]["p99_ns"].as_u64().is_some_and(|x| x <= 20_000));
    let sizes: HashSet<usize> = a.sizes.iter().copied().collect();
    let applicable = sizes.contains(&1_000) && sizes.contains(&10_000);
    let verdict = |ok: bool| match (applicable, ok) {
        (false, _) => "not measured (needs sizes 1000 and 10000)",
        (true, true) => "met",
        (true, false) => "NOT met",
    };
    println!();
    println!(
        "equivalence: {checked} fact sets, paydesk compiled = paydesk reference = zen-engine = first-match by priority on every one"
    );
    println!(
        "goal >= 10x zen-engine throughput at 1,000 and 10,000 rules, both workloads: {}",
        verdict(ratio_ok)
    );
    println!(
        "goal paydesk p99 <= 20 us at 10,000 rules: {}",
        verdict(p99_ok)
    );

    let doc = json!({
        "benchmark": "rules",
        "machine": machine::describe(),
        "versions": {
            "paydesk-rules": env!("CARGO_PKG_VERSION"),
            "zen-engine": zen_v,
        },
        "settings": {
            "sizes": a.sizes,
            "fact_sets_per_workload": a.facts,
            "seconds_per_measurement": a.seconds,
            "seed": a.seed,
            "timer_overhead_ns": overhead,
            "single_thread": true,
            "paydesk_latency": "each CompiledRuleSet::evaluate timed with Instant (overhead included); throughput from batches",
            "zen_driver": "zen_engine::Decision (create_decision + compile()), async evaluate driven by a current-thread tokio runtime, one block_on per timed batch; input Variables built outside the timed region",
            "workloads": {
                "mixed": "facts drawn from the rules' vocabulary: various rules decide",
                "default_only": "business line, seller and category values no rule mentions: only the default rule matches",
            },
        },
        "equivalence": {
            "fact_sets_checked": checked,
            "mismatches": 0,
            "how": "per fact set: paydesk compiled, paydesk reference::evaluate, zen-engine and a first-match scan of the generated rows mapped to (default method, [(method, merchant_account, product)] in display order); all equal or the run fails",
        },
        "results": results,
        "goals": {
            "throughput_ratio_at_least_10x_at_1000_and_10000": applicable && ratio_ok,
            "p99_at_most_20us_at_10000": applicable && p99_ok,
        },
    });
    let path = write_json("rules", &doc)?;
    println!("wrote {}", path.display());
    Ok(())
}
