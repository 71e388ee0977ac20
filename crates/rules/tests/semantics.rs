//! Operators, combination semantics, effective dates, limits, loading, explain, diff and
//! simulate, on small hand-written rule sets.

use paydesk_core::money::Currency;
use paydesk_rules::*;

const NOW: i64 = 1_000_000;

/// A default rule routing WeChat Pay and Alipay on every terminal, plus `extra` TOML.
fn set(extra: &str) -> RuleSet {
    let text = format!(
        r#"
[[business_rules]]
id = "default"
name = "Default"
[business_rules.then]
allow = ["WECHAT_PAY", "ALIPAY", "BALANCE"]
[[business_rules.then.routes]]
method = "WECHAT_PAY"
terminals = ["ANDROID", "IOS", "WECHAT_MINI_PROGRAM", "ALIPAY_MINI_PROGRAM", "H5", "WECHAT_H5", "PC"]
merchant_account = "wx-main"
product = "NATIVE"
[[business_rules.then.routes]]
method = "ALIPAY"
terminals = ["ANDROID", "IOS", "WECHAT_MINI_PROGRAM", "ALIPAY_MINI_PROGRAM", "H5", "WECHAT_H5", "PC"]
merchant_account = "ali-main"
product = "NATIVE"
{extra}
"#
    );
    match RuleSet::from_toml(&text, &Limits::default()) {
        Ok(rs) => rs,
        Err(e) => panic!("{e}\n{text}"),
    }
}

fn run(rs: &RuleSet, f: &Facts) -> Decision {
    let c = compile_unchecked(rs, &Limits::default()).unwrap();
    let d = c.evaluate(f, NOW);
    assert_eq!(d, reference::evaluate(rs, f, NOW));
    assert_eq!(c.explain(f, NOW).decision, d);
    d
}

fn ios() -> Facts {
    Facts::new(Terminal::Ios)
}

/// A rule with `when` (inline TOML) that denies ALIPAY; returns whether it matched.
fn matches(when: &str, f: &Facts) -> bool {
    let rs = set(&format!(
        r#"
[[facts]]
name = "vip"
type = "boolean"
[[facts]]
name = "score"
type = "integer"
[[facts]]
name = "tier"
type = "string"
[[business_rules]]
id = "probe"
name = "Probe"
priority = 1
when = {when}
[business_rules.then]
deny = ["ALIPAY"]
"#
    ));
    run(&rs, f).get(Method::Alipay).is_none()
}

#[test]
fn equals_in_not_in_on_strings() {
    let mut f = ios();
    f.seller_id = Some("acme".into());
    assert!(matches(r#"{ fact = "seller_id", equals = "acme" }"#, &f));
    assert!(!matches(r#"{ fact = "seller_id", equals = "other" }"#, &f));
    assert!(matches(r#"{ fact = "seller_id", in = ["x", "acme"] }"#, &f));
    assert!(!matches(r#"{ fact = "seller_id", in = [] }"#, &f));
    assert!(!matches(r#"{ fact = "seller_id", not_in = ["acme"] }"#, &f));
    assert!(matches(r#"{ fact = "seller_id", not_in = ["x"] }"#, &f));
    // Absent facts: every test is false except not_in.
    let g = ios();
    assert!(!matches(r#"{ fact = "seller_id", equals = "acme" }"#, &g));
    assert!(!matches(r#"{ fact = "seller_id", in = ["acme"] }"#, &g));
    assert!(matches(r#"{ fact = "seller_id", not_in = ["acme"] }"#, &g));
    // A value no rule names.
    let mut h = ios();
    h.seller_id = Some("nobody".into());
    assert!(matches(r#"{ fact = "seller_id", not_in = ["acme"] }"#, &h));
    assert!(!matches(r#"{ fact = "seller_id", in = ["acme"] }"#, &h));
}

#[test]
fn ranges_are_min_inclusive_max_exclusive() {
    let at = |amount: i64| {
        let mut f = ios();
        f.amount = Some(amount);
        matches(
            r#"{ fact = "amount", range = { min = 100, max = 200 } }"#,
            &f,
        )
    };
    assert!(!at(99));
    assert!(at(100));
    assert!(at(199));
    assert!(!at(200));
    let mut f = ios();
    f.amount = Some(i64::MAX);
    assert!(matches(
        r#"{ fact = "amount", range = { min = 5000000 } }"#,
        &f
    ));
    assert!(!matches(r#"{ fact = "amount", range = { max = 0 } }"#, &f));
    assert!(!matches(
        r#"{ fact = "amount", range = { min = 0 } }"#,
        &ios()
    ));
    assert!(matches(r#"{ fact = "amount", in = [1, i64::MAX] }"#.replace("i64::MAX", "9223372036854775807").as_str(), &f));
}

#[test]
fn terminal_currency_and_semver() {
    let mut f = Facts::new(Terminal::WechatH5);
    f.currency = Some(Currency::USD);
    f.app_version = Some("5.2".into());
    assert!(matches(
        r#"{ fact = "terminal", in = ["WECHAT_H5", "PC"] }"#,
        &f
    ));
    assert!(!matches(r#"{ fact = "terminal", equals = "IOS" }"#, &f));
    assert!(matches(r#"{ fact = "currency", equals = "USD" }"#, &f));
    assert!(matches(r#"{ fact = "currency", not_in = ["CNY"] }"#, &f));
    assert!(matches(
        r#"{ fact = "app_version", semver = ">=5.2.0" }"#,
        &f
    ));
    assert!(!matches(
        r#"{ fact = "app_version", semver = "<5.2.0" }"#,
        &f
    ));
    f.app_version = Some("not a version".into());
    assert!(!matches(
        r#"{ fact = "app_version", semver = ">=0.0.0" }"#,
        &f
    ));
    assert!(matches(
        r#"{ not = { fact = "app_version", semver = ">=5.2.0" } }"#,
        &f
    ));
}

#[test]
fn free_facts_by_type() {
    let mut f = ios();
    f.facts.insert("vip".into(), true.into());
    f.facts.insert("score".into(), 70.into());
    f.facts.insert("tier".into(), "gold".into());
    assert!(matches(r#"{ fact = "vip", equals = true }"#, &f));
    assert!(matches(r#"{ fact = "score", range = { min = 50 } }"#, &f));
    assert!(matches(r#"{ fact = "tier", in = ["gold"] }"#, &f));
    // Wrong type in the facts counts as absent.
    f.facts.insert("score".into(), "70".into());
    assert!(!matches(r#"{ fact = "score", range = { min = 50 } }"#, &f));
    assert!(matches(r#"{ fact = "score", not_in = [70] }"#, &f));
}

#[test]
fn groups() {
    let mut f = ios();
    f.business_line = Some("tickets".into());
    f.amount = Some(10);
    let yes = r#"{ fact = "business_line", equals = "tickets" }"#;
    let no = r#"{ fact = "business_line", equals = "food" }"#;
    assert!(matches(
        &format!("{{ all = [{yes}, {{ fact = \"amount\", equals = 10 }}] }}"),
        &f
    ));
    assert!(!matches(&format!("{{ all = [{yes}, {no}] }}"), &f));
    assert!(matches(&format!("{{ any = [{no}, {yes}] }}"), &f));
    assert!(!matches(&format!("{{ any = [{no}] }}"), &f));
    assert!(!matches("{ any = [] }", &f));
    assert!(matches("{ all = [] }", &f));
    assert!(matches(&format!("{{ not = {no} }}"), &f));
    assert!(matches(&format!("{{ not = {{ not = {yes} }} }}"), &f));
}

#[test]
fn deny_beats_allow_whatever_the_priority() {
    let rs = set(r#"
[[business_rules]]
id = "low-deny"
name = "Low deny"
priority = -5
[business_rules.then]
deny = ["WECHAT_PAY"]
[[business_rules]]
id = "high-allow"
name = "High allow"
priority = 100
[business_rules.then]
allow = ["WECHAT_PAY"]
"#);
    assert_eq!(
        run(&rs, &ios()).method_list(),
        vec![Method::Alipay, Method::Balance]
    );
}

#[test]
fn highest_priority_wins_each_slot_and_ties_go_to_the_smaller_id() {
    let route = |id: &str, prio: i64, ma: &str| {
        format!(
            r#"
[[business_rules]]
id = "{id}"
name = "{id}"
priority = {prio}
[business_rules.then]
default_method = "ALIPAY"
[[business_rules.then.routes]]
method = "WECHAT_PAY"
terminals = ["IOS"]
merchant_account = "{ma}"
product = "APP"
"#
        )
    };
    let rs = set(&(route("b", 10, "wx-b") + &route("a", 10, "wx-a") + &route("c", 20, "wx-c")));
    let d = run(&rs, &ios());
    assert_eq!(
        &*d.get(Method::WechatPay)
            .unwrap()
            .route
            .as_ref()
            .unwrap()
            .merchant_account,
        "wx-c"
    );
    assert_eq!(d.default_method(), Some(Method::Alipay));
    let rs = set(&(route("b", 10, "wx-b") + &route("a", 10, "wx-a")));
    let d = run(&rs, &ios());
    assert_eq!(
        &*d.get(Method::WechatPay)
            .unwrap()
            .route
            .as_ref()
            .unwrap()
            .merchant_account,
        "wx-a"
    );
    // Other terminals keep the default's route.
    let d = run(&rs, &Facts::new(Terminal::Pc));
    assert_eq!(
        &*d.get(Method::WechatPay)
            .unwrap()
            .route
            .as_ref()
            .unwrap()
            .merchant_account,
        "wx-main"
    );
}

#[test]
fn credit_card_false_from_any_rule_wins_and_periods_from_highest() {
    let rs = set(r#"
[[business_rules]]
id = "low"
name = "Low"
priority = 1
[business_rules.then]
allow = ["ALIPAY_INSTALLMENT"]
[[business_rules.then.routes]]
method = "ALIPAY_INSTALLMENT"
terminals = ["IOS"]
merchant_account = "ali-main"
product = "APP"
[[business_rules.then.params]]
method = "ALIPAY_INSTALLMENT"
installment_periods = [3, 6]
[[business_rules.then.params]]
method = "ALIPAY"
allow_credit_card = false
[[business_rules]]
id = "high"
name = "High"
priority = 2
[[business_rules.then.params]]
method = "ALIPAY_INSTALLMENT"
installment_periods = [12]
[[business_rules.then.params]]
method = "ALIPAY"
allow_credit_card = true
"#);
    let d = run(&rs, &ios());
    assert!(!d.get(Method::Alipay).unwrap().params.allow_credit_card);
    assert!(d.get(Method::WechatPay).unwrap().params.allow_credit_card);
    assert_eq!(
        d.get(Method::AlipayInstallment)
            .unwrap()
            .params
            .installment_periods
            .as_deref(),
        Some(&[12][..])
    );
}

#[test]
fn unrouted_methods_are_dropped_and_balance_needs_no_route() {
    let rs = set(r#"
[[business_rules]]
id = "combined"
name = "Combined"
[business_rules.then]
allow = ["COMBINED"]
"#);
    let c = compile_unchecked(&rs, &Limits::default()).unwrap();
    let e = c.explain(&ios(), NOW);
    assert_eq!(
        e.decision.method_list(),
        vec![Method::WechatPay, Method::Alipay, Method::Balance]
    );
    assert!(e.trace.dropped.contains(&Dropped {
        method: Method::Combined,
        reason: DropReason::NoRoute
    }));
    assert!(e.trace.dropped.contains(&Dropped {
        method: Method::AlipayInstallment,
        reason: DropReason::NotAllowed
    }));
}

#[test]
fn display_order_and_default_fallback() {
    let rs = set(r#"
[[business_rules]]
id = "order"
name = "Order"
priority = 5
[business_rules.then]
display_order = ["BALANCE", "ALIPAY"]
default_method = "COMBINED"
"#);
    let d = run(&rs, &ios());
    assert_eq!(
        d.method_list(),
        vec![Method::Balance, Method::Alipay, Method::WechatPay]
    );
    // COMBINED is not offered, so the first offered method is the default.
    assert_eq!(d.default_method(), Some(Method::Balance));
    assert_eq!(d.methods.iter().filter(|m| m.default).count(), 1);
}

#[test]
fn scenario_rules_restrict_and_order_by_terminal_and_version() {
    let rs = set(r#"
[[scenario_rules]]
id = "old-apps"
business_rule = "default"
terminals = ["IOS", "ANDROID"]
app_version = "<5.2.0"
methods = ["WECHAT_PAY"]
[[scenario_rules]]
id = "pc"
business_rule = "default"
terminals = ["PC"]
methods = ["ALIPAY", "WECHAT_PAY"]
display_order = ["ALIPAY", "WECHAT_PAY"]
"#);
    let mut old = ios();
    old.app_version = Some("5.1.0".into());
    assert_eq!(run(&rs, &old).method_list(), vec![Method::WechatPay]);
    let mut new = ios();
    new.app_version = Some("5.2.0".into());
    assert_eq!(run(&rs, &new).method_list().len(), 3);
    // No app version: a versioned scenario does not apply.
    assert_eq!(run(&rs, &ios()).method_list().len(), 3);
    assert_eq!(
        run(&rs, &Facts::new(Terminal::Pc)).method_list(),
        vec![Method::Alipay, Method::WechatPay]
    );
}

#[test]
fn higher_rules_scenario_wins() {
    let rs = set(r#"
[[business_rules]]
id = "vip"
name = "VIP"
priority = 5
when = { fact = "buyer_segment", equals = "vip" }
[[scenario_rules]]
id = "a-default"
business_rule = "default"
terminals = ["IOS"]
methods = ["WECHAT_PAY"]
[[scenario_rules]]
id = "z-vip"
business_rule = "vip"
terminals = ["IOS"]
methods = ["ALIPAY", "BALANCE"]
"#);
    let mut f = ios();
    assert_eq!(run(&rs, &f).method_list(), vec![Method::WechatPay]);
    f.buyer_segment = Some("vip".into());
    assert_eq!(
        run(&rs, &f).method_list(),
        vec![Method::Alipay, Method::Balance]
    );
}

#[test]
fn effective_from_inclusive_until_exclusive_and_disabled() {
    let rs = set(r#"
[[business_rules]]
id = "window"
name = "Window"
effective_from = 1000
effective_until = 2000
[business_rules.then]
deny = ["ALIPAY"]
[[business_rules]]
id = "off"
name = "Off"
enabled = false
[business_rules.then]
deny = ["WECHAT_PAY"]
"#);
    let c = compile_unchecked(&rs, &Limits::default()).unwrap();
    let has_alipay = |now| c.evaluate(&ios(), now).get(Method::Alipay).is_some();
    assert!(has_alipay(999));
    assert!(!has_alipay(1000));
    assert!(!has_alipay(1999));
    assert!(has_alipay(2000));
    assert!(c.evaluate(&ios(), 1500).get(Method::WechatPay).is_some());
    let verdict = |now, id: &str| {
        c.explain(&ios(), now)
            .trace
            .rules
            .into_iter()
            .find(|r| r.id == id)
            .unwrap()
            .verdict
    };
    assert_eq!(verdict(999, "window"), Verdict::NotYetEffective);
    assert_eq!(verdict(2000, "window"), Verdict::Expired);
    assert_eq!(verdict(1500, "window"), Verdict::Matched);
    assert_eq!(verdict(1500, "off"), Verdict::Disabled);
}

#[test]
fn explain_names_the_first_failed_condition() {
    let rs = set(r#"
[[business_rules]]
id = "gift"
name = "Gift cards"
priority = 3
when = { all = [
  { fact = "terminal", in = ["IOS", "ANDROID"] },
  { fact = "item_category", equals = "gift_cards" },
  { fact = "amount", range = { min = 100 } },
] }
[business_rules.then]
deny = ["BALANCE"]
"#);
    let c = compile_unchecked(&rs, &Limits::default()).unwrap();
    let mut f = ios();
    f.item_category = Some("books".into());
    let e = c.explain(&f, NOW);
    let gift = &e.trace.rules[0];
    assert_eq!(gift.id, "gift");
    assert_eq!(
        gift.verdict,
        Verdict::Failed {
            condition: "item_category = \"gift_cards\"".into(),
            actual: "item_category is \"books\"".into()
        }
    );
    f.item_category = Some("gift_cards".into());
    let e = c.explain(&f, NOW);
    assert_eq!(
        e.trace.rules[0].verdict,
        Verdict::Failed {
            condition: "amount in [100, +inf)".into(),
            actual: "amount is absent".into()
        }
    );
    f.amount = Some(100);
    let e = c.explain(&f, NOW);
    assert_eq!(e.trace.rules[0].verdict, Verdict::Matched);
    assert!(e.trace.dropped.contains(&Dropped {
        method: Method::Balance,
        reason: DropReason::Denied {
            by: vec!["gift".into()]
        }
    }));
    assert!(e.trace.sources.contains(&Source {
        part: "route WECHAT_PAY".into(),
        rule: "default".into()
    }));
}

#[test]
fn depth_limit_blocks_compile() {
    let mut c = Condition::test("seller_id", Op::Equals("x".into()));
    for _ in 0..8 {
        c = Condition::Not(Box::new(c));
    }
    let mut rs = set("");
    rs.business_rules[0].when = None;
    let mut deep = rs.business_rules[0].clone();
    deep.id = "deep".into();
    deep.priority = 1;
    deep.when = Some(c.clone());
    rs.business_rules.push(deep);
    let err = compile_unchecked(&rs, &Limits::default()).unwrap_err();
    assert!(err.to_string().contains("nested 9 deep"), "{err}");
    let roomy = Limits {
        max_depth: 9,
        ..Limits::default()
    };
    assert!(compile_unchecked(&rs, &roomy).is_ok());
    // Validation reports it too, with the rule's name.
    let f = validate(&rs, &Limits::default());
    assert!(f
        .iter()
        .any(|f| f.code == FindingCode::NestingTooDeep && f.rule_id.as_deref() == Some("deep")));
}

#[test]
fn malformed_documents_give_clear_errors() {
    let l = Limits::default();
    let e = RuleSet::from_json("{ not json", &l).unwrap_err();
    assert!(matches!(e, LoadError::Json(_)), "{e}");
    let e = RuleSet::from_toml("business_rules = [", &l).unwrap_err();
    assert!(matches!(e, LoadError::Toml(_)), "{e}");
    let e = RuleSet::from_json(r#"{"business_rules": [], "surprise": 1}"#, &l).unwrap_err();
    assert!(e.to_string().contains("surprise"), "{e}");
    let e = RuleSet::from_json(
        r#"{"business_rules": [{"id": "a", "name": "A", "then": {"allow": ["PAYPAL"]}}]}"#,
        &l,
    )
    .unwrap_err();
    assert!(e.to_string().contains("PAYPAL"), "{e}");
    let e = RuleSet::from_json(
        r#"{"business_rules": [{"id": "a", "name": "A", "when": {"fact": "amount", "equals": 1, "in": [1]}}]}"#,
        &l,
    )
    .unwrap_err();
    assert!(e.to_string().contains("exactly one operator"), "{e}");
    let e = RuleSet::from_json(
        r#"{"business_rules": [{"id": "a", "name": "A", "when": {"all": [], "any": []}}]}"#,
        &l,
    )
    .unwrap_err();
    assert!(e.to_string().contains("exactly one of"), "{e}");
    let e = RuleSet::from_json(
        r#"{"business_rules": [{"id": "a", "name": "A", "when": {"fact": "amount", "equals": 1.5}}]}"#,
        &l,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("a string, an integer or a boolean"),
        "{e}"
    );
    let e = RuleSet::from_toml(
        "[[business_rules]]\nid = \"a\"\nname = \"A\"\nwhen = { fact = \"amount\", range = { min = 1, mid = 2 } }\n",
        &l,
    )
    .unwrap_err();
    assert!(e.to_string().contains("mid"), "{e}");
    let small = Limits {
        max_bytes: 10,
        ..Limits::default()
    };
    assert_eq!(
        RuleSet::from_json(r#"{"business_rules": []}"#, &small).unwrap_err(),
        LoadError::TooLarge {
            size: 22,
            limit: 10
        }
    );
    // Deep nesting in the document itself is refused by the parser, not a stack overflow.
    let deep = "{\"not\":".repeat(5000) + "{\"fact\":\"amount\",\"equals\":1}" + &"}".repeat(5000);
    let doc = format!(r#"{{"business_rules": [{{"id": "a", "name": "A", "when": {deep}}}]}}"#);
    assert!(RuleSet::from_json(&doc, &l).is_err());
    // Garbage bytes of every kind never panic.
    for junk in [
        "",
        "null",
        "[]",
        "\"x\"",
        "{\"business_rules\": null}",
        "\u{0}",
        "[[business_rules]]",
    ] {
        let _ = RuleSet::from_json(junk, &l);
        let _ = RuleSet::from_toml(junk, &l);
    }
}

#[test]
fn facts_load_from_json_and_refuse_unknown_keys() {
    let f: Facts = serde_json::from_str(
        r#"{"terminal": "IOS", "amount": 100, "currency": "CNY", "facts": {"vip": true}}"#,
    )
    .unwrap();
    assert_eq!(f.amount, Some(100));
    assert!(serde_json::from_str::<Facts>(r#"{"terminal": "IOS", "amout": 1}"#).is_err());
    assert!(serde_json::from_str::<Facts>(r#"{"terminal": "IPHONE"}"#).is_err());
}

#[test]
fn diff_reports_added_removed_and_changed_fields() {
    let old = set(r#"
[[business_rules]]
id = "gone"
name = "Gone"
[business_rules.then]
deny = ["BALANCE"]
"#);
    let mut new = set(r#"
[[business_rules]]
id = "fresh"
name = "Fresh"
[business_rules.then]
deny = ["ALIPAY"]
[[scenario_rules]]
id = "s"
business_rule = "default"
terminals = ["PC"]
methods = ["ALIPAY"]
"#);
    new.business_rules[0].priority = 7;
    new.business_rules[0].then.allow.pop();
    let d = diff(&old, &new);
    assert_eq!(
        d.business_rules,
        vec![
            RuleChange {
                id: "default".into(),
                kind: ChangeKind::Changed {
                    fields: vec!["priority".into(), "then.allow".into()]
                }
            },
            RuleChange {
                id: "fresh".into(),
                kind: ChangeKind::Added
            },
            RuleChange {
                id: "gone".into(),
                kind: ChangeKind::Removed
            },
        ]
    );
    assert_eq!(
        d.scenario_rules,
        vec![RuleChange {
            id: "s".into(),
            kind: ChangeKind::Added
        }]
    );
    assert!(!d.facts_changed);
    assert!(diff(&new, &new).is_empty());
}

#[test]
fn simulate_reports_changed_decisions() {
    let current = set("");
    let candidate = set(r#"
[[business_rules]]
id = "gift"
name = "Gift cards: no credit"
priority = 5
when = { fact = "item_category", equals = "gift_cards" }
[business_rules.then]
deny = ["BALANCE"]
display_order = ["ALIPAY"]
[[business_rules.then.params]]
method = "WECHAT_PAY"
allow_credit_card = false
[[business_rules.then.routes]]
method = "ALIPAY"
terminals = ["IOS"]
merchant_account = "ali-gift"
product = "APP"
"#);
    let l = Limits::default();
    let (a, b) = (
        compile_unchecked(&current, &l).unwrap(),
        compile_unchecked(&candidate, &l).unwrap(),
    );
    let mut gift = ios();
    gift.item_category = Some("gift_cards".into());
    let mut books = ios();
    books.item_category = Some("books".into());
    let report = simulate(&a, &b, &[books, gift.clone(), gift], NOW);
    assert_eq!(report.total, 3);
    assert_eq!(report.changed, 2);
    let ch = &report.changes[0];
    assert_eq!(ch.index, 1);
    let kinds: Vec<&Difference> = ch.differences.iter().collect();
    assert!(kinds.iter().any(|d| matches!(
        d,
        Difference::MethodRemoved {
            method: Method::Balance
        }
    )));
    assert!(kinds.iter().any(|d| matches!(
        d,
        Difference::RouteChanged {
            method: Method::Alipay,
            ..
        }
    )));
    assert!(kinds.iter().any(|d| matches!(
        d,
        Difference::ParamsChanged {
            method: Method::WechatPay,
            ..
        }
    )));
    assert!(kinds
        .iter()
        .any(|d| matches!(d, Difference::OrderChanged { .. })));
    assert!(kinds
        .iter()
        .any(|d| matches!(d, Difference::DefaultChanged { .. })));
}

#[test]
fn decisions_record_the_version_and_serialize() {
    let mut rs = set("");
    rs.version.id = Some("42".into());
    let d = run(&rs, &ios());
    assert_eq!(d.version.as_deref(), Some("42"));
    let json = serde_json::to_value(&d).unwrap();
    assert_eq!(json["version"], "42");
    assert_eq!(json["methods"][0]["route"]["merchant_account"], "wx-main");
    assert_eq!(json["methods"][0]["route"]["provider"], "wechatpay");
    assert_eq!(json["methods"][0]["route"]["product"], "NATIVE");
}

#[test]
fn compiled_snapshots_are_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<CompiledRuleSet>();
    let c = std::sync::Arc::new(compile_unchecked(&set(""), &Limits::default()).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let c = c.clone();
            std::thread::spawn(move || c.evaluate(&Facts::new(Terminal::Pc), NOW).methods.len())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 3);
    }
}

#[test]
fn many_rules_still_decide_like_the_reference() {
    // 2,000 seller rules on one dimension plus the default: exercises bitset postings.
    let mut extra = String::new();
    for i in 0..2000 {
        extra.push_str(&format!(
            "[[business_rules]]\nid = \"s{i:04}\"\nname = \"Seller {i}\"\npriority = {}\nwhen = {{ all = [{{ fact = \"seller_id\", in = [\"s{i}\", \"s{}\"] }}, {{ fact = \"business_line\", equals = \"bl{}\" }}] }}\n[business_rules.then]\ndeny = [\"{}\"]\n",
            i % 7,
            i / 2,
            i % 3,
            ["WECHAT_PAY", "ALIPAY", "BALANCE"][i % 3]
        ));
    }
    let rs = set(&extra);
    let c = compile(&rs, &Limits::default()).unwrap();
    for i in (0..2000).step_by(37) {
        for bl in ["bl0", "bl1", "bl2", "other"] {
            let mut f = ios();
            f.seller_id = Some(format!("s{i}"));
            f.business_line = Some(bl.into());
            assert_eq!(c.evaluate(&f, NOW), reference::evaluate(&rs, &f, NOW));
        }
    }
}

#[test]
fn deeply_nested_toml_is_refused_without_crashing() {
    let deep = "{ not = ".repeat(5000) + "{ fact = \"amount\", equals = 1 }" + &" }".repeat(5000);
    let doc = format!("[[business_rules]]\nid = \"a\"\nname = \"A\"\nwhen = {deep}\n");
    assert!(RuleSet::from_toml(&doc, &Limits::default()).is_err());
    let arrays = "[".repeat(5000) + &"]".repeat(5000);
    assert!(RuleSet::from_toml(&format!("x = {arrays}\n"), &Limits::default()).is_err());
}

/// Rules shaped like the benchmark's: each allows and routes WeChat Pay and Alipay on
/// every terminal and sets a display order and a default, so the first matching one
/// settles everything *they* can set. Evaluation may stop early only when no later rule
/// can set anything else.
fn first_hit_rules(n: usize, top_priority: i64) -> String {
    let mut out = String::new();
    let all = r#"["ANDROID", "IOS", "WECHAT_MINI_PROGRAM", "ALIPAY_MINI_PROGRAM", "H5", "WECHAT_H5", "PC"]"#;
    for i in 0..n {
        out.push_str(&format!(
            r#"
[[business_rules]]
id = "f{i:03}"
name = "First-hit {i}"
priority = {}
when = {{ fact = "item_category", in = ["books", "c{i}"] }}
[business_rules.then]
allow = ["WECHAT_PAY", "ALIPAY"]
display_order = ["ALIPAY", "WECHAT_PAY"]
default_method = "ALIPAY"
[[business_rules.then.routes]]
method = "WECHAT_PAY"
terminals = {all}
merchant_account = "wx-f{i}"
product = "NATIVE"
[[business_rules.then.routes]]
method = "ALIPAY"
terminals = {all}
merchant_account = "ali-f{i}"
product = "NATIVE"
"#,
            top_priority - i as i64
        ));
    }
    out
}

#[test]
fn later_rules_that_restrict_still_apply_after_the_decision_looks_settled() {
    let mut books = ios();
    books.item_category = Some("books".into());
    let account = |d: &Decision, m: Method| {
        d.get(m)
            .and_then(|o| o.route.as_ref())
            .map(|r| r.merchant_account.to_string())
    };

    // Only first-hit rules (and the default, which allows BALANCE): the first decides.
    let base = first_hit_rules(150, 1000);
    let d = run(&set(&base), &books);
    assert_eq!(
        d.method_list(),
        vec![Method::Alipay, Method::WechatPay, Method::Balance]
    );
    assert_eq!(account(&d, Method::WechatPay).as_deref(), Some("wx-f0"));
    assert_eq!(d.default_method(), Some(Method::Alipay));

    // A lowest-priority matching deny (below 150 settled-looking rules) still removes
    // the method the first rule allowed and routed.
    let deny = r#"
[[business_rules]]
id = "zz-deny"
name = "Late deny"
priority = -10
when = { fact = "item_category", equals = "books" }
[business_rules.then]
deny = ["ALIPAY"]
"#;
    let d = run(&set(&(base.clone() + deny)), &books);
    assert_eq!(d.method_list(), vec![Method::WechatPay, Method::Balance]);
    assert_eq!(d.default_method(), Some(Method::WechatPay));

    // A lowest-priority matching `allow_credit_card = false` still takes effect.
    let no_credit = r#"
[[business_rules]]
id = "zz-credit"
name = "Late credit restriction"
priority = -10
when = { fact = "item_category", equals = "books" }
[[business_rules.then.params]]
method = "WECHAT_PAY"
allow_credit_card = false
"#;
    let d = run(&set(&(base.clone() + no_credit)), &books);
    assert!(!d.get(Method::WechatPay).unwrap().params.allow_credit_card);
    assert!(d.get(Method::Alipay).unwrap().params.allow_credit_card);

    // A lowest-priority rule that allows and routes a new method adds it.
    let new_method = r#"
[[business_rules]]
id = "zz-installments"
name = "Late installments"
priority = -10
when = { fact = "item_category", equals = "books" }
[business_rules.then]
allow = ["ALIPAY_INSTALLMENT"]
[[business_rules.then.routes]]
method = "ALIPAY_INSTALLMENT"
terminals = ["IOS"]
merchant_account = "ali-inst"
product = "APP"
[[business_rules.then.params]]
method = "ALIPAY_INSTALLMENT"
installment_periods = [3, 6]
"#;
    let d = run(&set(&(base.clone() + new_method)), &books);
    assert_eq!(
        account(&d, Method::AlipayInstallment).as_deref(),
        Some("ali-inst")
    );
    assert_eq!(
        d.get(Method::AlipayInstallment)
            .unwrap()
            .params
            .installment_periods
            .as_deref(),
        Some(&[3, 6][..])
    );

    // The same late rules that do not match change nothing.
    let mut other = ios();
    other.item_category = Some("c7".into());
    for late in [deny, no_credit, new_method] {
        let d = run(&set(&(base.clone() + late)), &other);
        assert_eq!(account(&d, Method::Alipay).as_deref(), Some("ali-f7"));
        assert_eq!(
            d.method_list(),
            vec![Method::Alipay, Method::WechatPay, Method::Balance]
        );
        assert!(d.methods.iter().all(|m| m.params.allow_credit_card));
    }

    // Explain still walks and traces every rule.
    let c = compile_unchecked(&set(&(base + deny)), &Limits::default()).unwrap();
    let e = c.explain(&books, NOW);
    assert_eq!(e.trace.rules.len(), 152);
    assert!(e.trace.rules.iter().all(|r| r.verdict == Verdict::Matched));
}
