//! Property tests: the compiled, indexed evaluator decides exactly like the naive
//! reference scan, and explain decides exactly like evaluate, on random rule sets and
//! random facts.

use paydesk_core::money::Currency;
use paydesk_rules::*;
use proptest::prelude::*;
use proptest::sample::{select, subsequence};

const TIMES: [i64; 4] = [0, 1_000, 2_000, 3_000];

fn str_values(fact: &'static str) -> Vec<&'static str> {
    match fact {
        "business_line" => vec!["secondhand", "tickets", "food"],
        "seller_id" => vec!["s1", "s2", "s3", "s4"],
        "seller_segment" => vec!["big", "small"],
        "buyer_id" => vec!["b1", "b2"],
        "buyer_segment" => vec!["new", "old"],
        "item_category" => vec!["books", "gift_cards", "phones"],
        "tier" => vec!["gold", "silver"],
        "terminal" => Terminal::ALL.iter().map(|t| t.code()).collect(),
        "currency" => vec!["CNY", "USD", "JPY"],
        _ => vec!["x"],
    }
}

const STR_FACTS: [&str; 9] = [
    "business_line",
    "seller_id",
    "seller_segment",
    "buyer_id",
    "buyer_segment",
    "item_category",
    "tier",
    "terminal",
    "currency",
];

fn values_for(fact: &'static str) -> impl Strategy<Value = Vec<FactValue>> {
    let vs = str_values(fact);
    let n = vs.len();
    subsequence(vs, 0..=n.min(3)).prop_map(|v| v.into_iter().map(FactValue::from).collect())
}

fn str_test() -> impl Strategy<Value = Condition> {
    select(STR_FACTS.to_vec()).prop_flat_map(|fact| {
        prop_oneof![
            select(str_values(fact)).prop_map(move |v| Condition::test(fact, Op::Equals(v.into()))),
            values_for(fact).prop_map(move |v| Condition::test(fact, Op::In(v))),
            values_for(fact).prop_map(move |v| Condition::test(fact, Op::NotIn(v))),
        ]
    })
}

fn int_test() -> impl Strategy<Value = Condition> {
    let bound = prop::option::of(select(vec![0i64, 100, 1_000, 5_000, 100_000]));
    (
        select(vec!["amount", "score"]),
        prop_oneof![
            (bound.clone(), bound).prop_map(|(min, max)| Op::Range(IntRange { min, max })),
            select(vec![0i64, 100, 1_000]).prop_map(|v| Op::Equals(v.into())),
            subsequence(vec![0i64, 100, 1_000, 5_000], 0..3)
                .prop_map(|v| Op::In(v.into_iter().map(FactValue::from).collect())),
            subsequence(vec![0i64, 100, 1_000], 0..3)
                .prop_map(|v| Op::NotIn(v.into_iter().map(FactValue::from).collect())),
        ],
    )
        .prop_map(|(fact, op)| Condition::test(fact, op))
}

fn other_test() -> impl Strategy<Value = Condition> {
    prop_oneof![
        select(vec![">=5.2.0", "<5.2.0", "^4", ">=1.0.0, <5.0.0", "=5.2.0"])
            .prop_map(|r| Condition::test("app_version", Op::Semver(r.into()))),
        any::<bool>().prop_map(|b| Condition::test("vip", Op::Equals(b.into()))),
        any::<bool>().prop_map(|b| Condition::test("vip", Op::NotIn(vec![b.into()]))),
    ]
}

fn leaf() -> impl Strategy<Value = Condition> {
    prop_oneof![4 => str_test(), 2 => int_test(), 1 => other_test()]
}

fn condition() -> impl Strategy<Value = Condition> {
    leaf().prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            3 => prop::collection::vec(inner.clone(), 0..4).prop_map(Condition::All),
            1 => prop::collection::vec(inner.clone(), 0..3).prop_map(Condition::Any),
            1 => inner.prop_map(|c| Condition::Not(Box::new(c))),
        ]
    })
}

fn methods() -> impl Strategy<Value = Vec<Method>> {
    subsequence(Method::ALL.to_vec(), 0..=5).prop_shuffle()
}

fn route() -> impl Strategy<Value = RouteEntry> {
    (
        select(vec![
            Method::WechatPay,
            Method::Alipay,
            Method::AlipayInstallment,
            Method::Combined,
        ]),
        subsequence(Terminal::ALL.to_vec(), 1..=3),
        select(vec!["m1", "m2", "m3"]),
        select(vec![Provider::Wechatpay, Provider::Alipay]),
        select(vec![Product::App, Product::Jsapi, Product::Page]),
    )
        .prop_map(|(method, terminals, ma, p, product)| RouteEntry {
            method,
            terminals,
            merchant_account: ma.into(),
            provider: method.fixed_provider().or(Some(p)),
            product,
        })
}

fn params() -> impl Strategy<Value = ParamsEntry> {
    (
        select(Method::ALL.to_vec()),
        prop::option::of(select(vec![vec![3u32, 6], vec![12]])),
        prop::option::of(any::<bool>()),
    )
        .prop_map(
            |(method, installment_periods, allow_credit_card)| ParamsEntry {
                method,
                installment_periods,
                allow_credit_card,
            },
        )
}

fn outcome() -> impl Strategy<Value = Outcome> {
    (
        methods(),
        subsequence(Method::ALL.to_vec(), 0..=2),
        prop::collection::vec(route(), 0..4),
        prop::collection::vec(params(), 0..3),
        prop::option::of(methods()),
        prop::option::of(select(Method::ALL.to_vec())),
    )
        .prop_map(
            |(allow, deny, routes, params, display_order, default_method)| Outcome {
                allow,
                deny,
                routes,
                params,
                display_order,
                default_method,
            },
        )
}

fn business_rule() -> impl Strategy<Value = BusinessRule> {
    (
        0i64..4,
        prop::bool::weighted(0.9),
        prop::option::of(select(TIMES.to_vec())),
        prop::option::of(select(TIMES.to_vec())),
        prop::option::weighted(0.85, condition()),
        outcome(),
    )
        .prop_map(
            |(priority, enabled, effective_from, effective_until, when, then)| BusinessRule {
                id: String::new(),
                name: "r".into(),
                description: String::new(),
                priority,
                enabled,
                effective_from,
                effective_until,
                when,
                then,
            },
        )
}

fn scenario(n_rules: usize) -> impl Strategy<Value = ScenarioRule> {
    (
        0..n_rules.max(1),
        subsequence(Terminal::ALL.to_vec(), 1..=4),
        prop::option::of(select(vec!["<5.2.0", ">=5.2.0", "^6"])),
        methods(),
        prop::option::of(methods()),
        prop::bool::weighted(0.9),
        0u32..50,
    )
        .prop_map(
            |(rule, terminals, v, methods, display_order, enabled, id)| ScenarioRule {
                id: format!("s{id:02}"),
                name: String::new(),
                enabled,
                business_rule: format!("r{rule:03}"),
                terminals,
                app_version: v.map(Into::into),
                methods,
                display_order,
            },
        )
}

fn rule_set() -> impl Strategy<Value = RuleSet> {
    rule_set_sized(1..25)
}

fn rule_set_sized(size: std::ops::Range<usize>) -> impl Strategy<Value = RuleSet> {
    prop::collection::vec(business_rule(), size).prop_flat_map(|mut rules| {
        for (i, r) in rules.iter_mut().enumerate() {
            r.id = format!("r{i:03}");
        }
        let n = rules.len();
        prop::collection::vec(scenario(n), 0..5).prop_map(move |scenario_rules| RuleSet {
            version: VersionMeta {
                id: Some("v".into()),
                ..Default::default()
            },
            facts: vec![
                FactDecl {
                    name: "tier".into(),
                    fact_type: Some(FactType::String),
                    values: None,
                    description: String::new(),
                },
                FactDecl {
                    name: "score".into(),
                    fact_type: Some(FactType::Integer),
                    values: None,
                    description: String::new(),
                },
                FactDecl {
                    name: "vip".into(),
                    fact_type: Some(FactType::Boolean),
                    values: None,
                    description: String::new(),
                },
            ],
            business_rules: rules.clone(),
            scenario_rules,
        })
    })
}

fn opt_str(fact: &'static str) -> impl Strategy<Value = Option<String>> {
    let mut vs: Vec<&'static str> = str_values(fact);
    vs.push("unknown-value");
    prop::option::weighted(0.8, select(vs).prop_map(String::from))
}

fn facts() -> impl Strategy<Value = Facts> {
    (
        (
            opt_str("business_line"),
            opt_str("seller_id"),
            opt_str("seller_segment"),
            opt_str("buyer_id"),
            opt_str("buyer_segment"),
            opt_str("item_category"),
        ),
        prop::option::of(select(vec![0i64, 99, 100, 1_000, 4_999, 5_000, 200_000])),
        prop::option::of(select(vec![Currency::CNY, Currency::USD, Currency::EUR])),
        select(Terminal::ALL.to_vec()),
        prop::option::of(select(vec![
            "5.1.0", "5.2.0", "5.2", "6.0.1", "4.9.9", "garbage",
        ])),
        (
            opt_str("tier"),
            prop::option::of(select(vec![0i64, 100, 1_000])),
            prop::option::of(any::<bool>()),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(s, amount, currency, terminal, v, (tier, score, vip, wrong_type))| {
                let mut f = Facts::new(terminal);
                f.business_line = s.0;
                f.seller_id = s.1;
                f.seller_segment = s.2;
                f.buyer_id = s.3;
                f.buyer_segment = s.4;
                f.item_category = s.5;
                f.amount = amount;
                f.currency = currency;
                f.app_version = v.map(Into::into);
                if let Some(t) = tier {
                    f.facts.insert("tier".into(), t.as_str().into());
                }
                if let Some(s) = score {
                    // Sometimes the wrong type, which must count as absent in both evaluators.
                    let v = if wrong_type {
                        FactValue::from("100")
                    } else {
                        FactValue::Int(s)
                    };
                    f.facts.insert("score".into(), v);
                }
                if let Some(b) = vip {
                    f.facts.insert("vip".into(), b.into());
                }
                f
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn compiled_equals_reference(
        rs in rule_set(),
        samples in prop::collection::vec(facts(), 1..12),
        now in select(vec![-1i64, 0, 500, 1_000, 2_500, 3_000, 10_000]),
    ) {
        let c = compile_unchecked(&rs, &Limits::default()).unwrap();
        for f in &samples {
            let fast = c.evaluate(f, now);
            let slow = reference::evaluate(&rs, f, now);
            prop_assert_eq!(&fast, &slow, "facts {:?}", f);
            let explained = c.explain(f, now);
            prop_assert_eq!(&explained.decision, &fast);
        }
    }

    #[test]
    fn json_and_toml_round_trip(rs in rule_set()) {
        let json = serde_json::to_string(&rs).unwrap();
        prop_assert_eq!(&RuleSet::from_json(&json, &Limits::default()).unwrap(), &rs);
        let toml = toml::to_string(&rs).unwrap();
        prop_assert_eq!(&RuleSet::from_toml(&toml, &Limits::default()).unwrap(), &rs);
    }

    #[test]
    fn validation_never_panics_and_compile_agrees(rs in rule_set()) {
        let findings = validate(&rs, &Limits::default());
        let has_errors = findings.iter().any(|f| f.severity == Severity::Error);
        prop_assert_eq!(compile(&rs, &Limits::default()).is_ok(), !has_errors);
    }

    #[test]
    fn diff_of_identical_is_empty_and_simulate_finds_nothing(
        rs in rule_set(),
        samples in prop::collection::vec(facts(), 0..8),
    ) {
        prop_assert!(diff(&rs, &rs).is_empty());
        let c = compile_unchecked(&rs, &Limits::default()).unwrap();
        let report = simulate(&c, &c, &samples, 1_000);
        prop_assert_eq!(report.changed, 0);
        prop_assert_eq!(report.total, samples.len());
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Larger sets, so values are shared by many rules and the index uses bitset postings.
    #[test]
    fn compiled_equals_reference_on_larger_sets(
        rs in rule_set_sized(60..160),
        samples in prop::collection::vec(facts(), 1..16),
        now in select(vec![0i64, 1_500, 3_000]),
    ) {
        let c = compile_unchecked(&rs, &Limits::default()).unwrap();
        for f in &samples {
            prop_assert_eq!(c.evaluate(f, now), reference::evaluate(&rs, f, now), "facts {:?}", f);
        }
    }
}
