//! One test per validation finding: the right code, severity, rule and a sentence.

use paydesk_rules::*;

/// A clean base: a default rule routing WeChat Pay and Alipay everywhere.
const BASE: &str = r#"
[[business_rules]]
id = "default"
name = "Default"
[business_rules.then]
allow = ["WECHAT_PAY", "ALIPAY"]
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
"#;

fn load(extra: &str) -> RuleSet {
    let text = format!("{BASE}\n{extra}");
    match RuleSet::from_toml(&text, &Limits::default()) {
        Ok(rs) => rs,
        Err(e) => panic!("{e}\n{text}"),
    }
}

fn findings(extra: &str) -> Vec<Finding> {
    validate(&load(extra), &Limits::default())
}

/// Asserts exactly one finding with `code`, on rule `rule`, of `severity`, and returns it.
fn only(extra: &str, code: FindingCode, severity: Severity, rule: Option<&str>) -> Finding {
    let all = findings(extra);
    let hits: Vec<&Finding> = all.iter().filter(|f| f.code == code).collect();
    assert_eq!(hits.len(), 1, "want one {code:?}, got {all:#?}");
    let f = hits[0].clone();
    assert_eq!(f.severity, severity, "{f}");
    assert_eq!(f.rule_id.as_deref(), rule, "{f}");
    assert!(f.message.ends_with('.'), "a sentence: {f}");
    if let Some(id) = rule {
        assert!(f.rule_name.is_some());
        assert!(f.to_string().contains(id));
    }
    f
}

fn rule(id: &str, prio: i64, when: &str, then: &str) -> String {
    let when = if when.is_empty() {
        String::new()
    } else {
        format!("when = {when}\n")
    };
    format!("[[business_rules]]\nid = \"{id}\"\nname = \"Rule {id}\"\npriority = {prio}\n{when}[business_rules.then]\n{then}\n")
}

#[test]
fn base_is_clean() {
    assert_eq!(findings(""), vec![]);
    assert!(compile(&load(""), &Limits::default()).is_ok());
}

#[test]
fn unknown_fact() {
    let f = only(
        &rule(
            "r",
            1,
            r#"{ fact = "colour", equals = "red" }"#,
            "deny = [\"ALIPAY\"]",
        ),
        FindingCode::UnknownFact,
        Severity::Error,
        Some("r"),
    );
    assert!(f.message.contains("colour"));
    // And it blocks compile, with the findings.
    let err = compile(
        &load(&rule(
            "r",
            1,
            r#"{ fact = "colour", equals = "red" }"#,
            "deny = [\"ALIPAY\"]",
        )),
        &Limits::default(),
    )
    .unwrap_err();
    assert!(
        matches!(err, CompileError::Invalid(ref f) if f.iter().any(|f| f.code == FindingCode::UnknownFact))
    );
    assert!(err.to_string().contains("colour"), "{err}");
}

#[test]
fn unknown_values() {
    only(
        &rule(
            "r",
            1,
            r#"{ fact = "terminal", equals = "IPHONE" }"#,
            "deny = [\"ALIPAY\"]",
        ),
        FindingCode::UnknownValue,
        Severity::Error,
        Some("r"),
    );
    only(
        &rule(
            "r",
            1,
            r#"{ fact = "currency", in = ["XXX"] }"#,
            "deny = [\"ALIPAY\"]",
        ),
        FindingCode::UnknownValue,
        Severity::Error,
        Some("r"),
    );
    let cat = "[[facts]]\nname = \"business_line\"\nvalues = [\"secondhand\", \"tickets\"]\n";
    let f = only(
        &format!(
            "{cat}{}",
            rule(
                "r",
                1,
                r#"{ fact = "business_line", equals = "tikets" }"#,
                "deny = [\"ALIPAY\"]"
            )
        ),
        FindingCode::UnknownValue,
        Severity::Error,
        Some("r"),
    );
    assert!(f.message.contains("tikets"));
}

#[test]
fn type_errors() {
    let f = only(
        &rule(
            "r",
            1,
            r#"{ fact = "seller_id", range = { min = 1 } }"#,
            "deny = [\"ALIPAY\"]",
        ),
        FindingCode::TypeMismatch,
        Severity::Error,
        Some("r"),
    );
    assert!(f.message.contains("integer"));
    only(
        &rule(
            "r",
            1,
            r#"{ fact = "amount", equals = "100" }"#,
            "deny = [\"ALIPAY\"]",
        ),
        FindingCode::TypeMismatch,
        Severity::Error,
        Some("r"),
    );
    only(
        &rule(
            "r",
            1,
            r#"{ fact = "app_version", equals = "5.2.0" }"#,
            "deny = [\"ALIPAY\"]",
        ),
        FindingCode::TypeMismatch,
        Severity::Error,
        Some("r"),
    );
    only(
        &rule(
            "r",
            1,
            r#"{ fact = "seller_id", semver = ">=1" }"#,
            "deny = [\"ALIPAY\"]",
        ),
        FindingCode::TypeMismatch,
        Severity::Error,
        Some("r"),
    );
}

#[test]
fn bad_semver() {
    only(
        &rule(
            "r",
            1,
            r#"{ fact = "app_version", semver = ">=five" }"#,
            "deny = [\"ALIPAY\"]",
        ),
        FindingCode::BadSemver,
        Severity::Error,
        Some("r"),
    );
    only(
        "[[scenario_rules]]\nid = \"s\"\nbusiness_rule = \"default\"\nterminals = [\"IOS\"]\napp_version = \"<<5\"\nmethods = [\"ALIPAY\"]\n",
        FindingCode::BadSemver,
        Severity::Error,
        Some("s"),
    );
}

#[test]
fn fact_catalogue_problems() {
    only(
        "[[facts]]\nname = \"vip\"\n",
        FindingCode::BadFactDeclaration,
        Severity::Error,
        None,
    );
    only(
        "[[facts]]\nname = \"amount\"\ntype = \"string\"\n",
        FindingCode::BadFactDeclaration,
        Severity::Error,
        None,
    );
    only(
        "[[facts]]\nname = \"vip\"\ntype = \"boolean\"\n[[facts]]\nname = \"vip\"\ntype = \"boolean\"\n",
        FindingCode::BadFactDeclaration,
        Severity::Error,
        None,
    );
    only(
        "[[facts]]\nname = \"score\"\ntype = \"integer\"\nvalues = [\"high\"]\n",
        FindingCode::BadFactDeclaration,
        Severity::Error,
        None,
    );
}

#[test]
fn conflicting_outcomes_at_the_same_priority() {
    let route = |ma: &str| {
        format!("[[business_rules.then.routes]]\nmethod = \"WECHAT_PAY\"\nterminals = [\"IOS\"]\nmerchant_account = \"{ma}\"\nproduct = \"APP\"\n")
    };
    let a = rule("a", 5, r#"{ fact = "seller_id", equals = "acme" }"#, "") + &route("wx-a");
    let b = rule(
        "b",
        5,
        r#"{ fact = "item_category", equals = "books" }"#,
        "",
    ) + &route("wx-b");
    let f = only(
        &(a.clone() + &b),
        FindingCode::Conflict,
        Severity::Error,
        Some("b"),
    );
    assert!(
        f.message.contains("priority 5") && f.message.contains("WECHAT_PAY"),
        "{f}"
    );
    // Exclusive conditions: no conflict.
    let c = rule("c", 5, r#"{ fact = "seller_id", equals = "other" }"#, "") + &route("wx-c");
    assert!(!findings(&(a.clone() + &c))
        .iter()
        .any(|f| f.code == FindingCode::Conflict));
    // Different priorities: no conflict.
    let d = rule(
        "d",
        6,
        r#"{ fact = "item_category", equals = "books" }"#,
        "",
    ) + &route("wx-d");
    assert!(!findings(&(a + &d))
        .iter()
        .any(|f| f.code == FindingCode::Conflict));
    // Default methods too.
    let e = rule("e", 1, "", "default_method = \"ALIPAY\"");
    let g = rule(
        "g",
        1,
        r#"{ fact = "amount", range = { min = 10 } }"#,
        "default_method = \"WECHAT_PAY\"",
    );
    only(&(e + &g), FindingCode::Conflict, Severity::Error, Some("g"));
}

#[test]
fn shadowed_rules() {
    // A catch-all above decides the same thing.
    let hi = rule("hi", 10, "", "deny = [\"ALIPAY\"]");
    let lo = rule(
        "lo",
        1,
        r#"{ fact = "seller_id", equals = "acme" }"#,
        "deny = [\"ALIPAY\"]",
    );
    let f = only(
        &(hi.clone() + &lo),
        FindingCode::Shadowed,
        Severity::Warning,
        Some("lo"),
    );
    assert!(f.message.contains("hi"));
    // A wider `in` above a narrower `equals`, plus a range inside a range.
    let hi2 = rule(
        "hi2",
        10,
        r#"{ all = [{ fact = "seller_id", in = ["acme", "beta"] }, { fact = "amount", range = { min = 0 } }] }"#,
        "display_order = [\"ALIPAY\"]",
    );
    let lo2 = rule(
        "lo2",
        1,
        r#"{ all = [{ fact = "seller_id", equals = "acme" }, { fact = "amount", range = { min = 100, max = 200 } }, { fact = "terminal", equals = "PC" }] }"#,
        "display_order = [\"WECHAT_PAY\"]",
    );
    only(
        &(hi2.clone() + &lo2),
        FindingCode::Shadowed,
        Severity::Warning,
        Some("lo2"),
    );
    // Not shadowed when the lower rule decides something the higher one does not.
    let lo3 = rule(
        "lo3",
        1,
        r#"{ fact = "seller_id", equals = "acme" }"#,
        "deny = [\"ALIPAY\", \"WECHAT_PAY\"]",
    );
    assert!(!findings(&(hi + &lo3))
        .iter()
        .any(|f| f.code == FindingCode::Shadowed));
    // Not shadowed when the higher rule is narrower.
    let lo4 = rule(
        "lo4",
        1,
        r#"{ fact = "seller_id", in = ["acme", "beta", "gamma"] }"#,
        "display_order = [\"WECHAT_PAY\"]",
    );
    assert!(!findings(&(hi2 + &lo4))
        .iter()
        .any(|f| f.code == FindingCode::Shadowed));
}

#[test]
fn never_matching_conditions() {
    only(
        &rule(
            "r",
            1,
            r#"{ all = [{ fact = "seller_id", equals = "a" }, { fact = "seller_id", equals = "b" }] }"#,
            "deny = [\"ALIPAY\"]",
        ),
        FindingCode::NeverMatches,
        Severity::Warning,
        Some("r"),
    );
    only(
        &rule(
            "r",
            1,
            r#"{ fact = "amount", range = { min = 10, max = 10 } }"#,
            "deny = [\"ALIPAY\"]",
        ),
        FindingCode::NeverMatches,
        Severity::Warning,
        Some("r"),
    );
    only(
        &rule("r", 1, "{ any = [] }", "deny = [\"ALIPAY\"]"),
        FindingCode::NeverMatches,
        Severity::Warning,
        Some("r"),
    );
}

#[test]
fn method_without_route_on_a_terminal() {
    // COMBINED allowed everywhere, routed on the apps only.
    let r = rule("combined", 1, "", "allow = [\"COMBINED\"]")
        + "[[business_rules.then.routes]]\nmethod = \"COMBINED\"\nterminals = [\"IOS\", \"ANDROID\"]\nmerchant_account = \"wx-main\"\nprovider = \"wechatpay\"\nproduct = \"APP\"\n";
    let f = only(&r, FindingCode::Unrouted, Severity::Error, Some("combined"));
    assert!(
        f.message.contains("COMBINED") && f.message.contains("PC") && !f.message.contains("IOS"),
        "{f}"
    );
    // Limiting the rule to the apps fixes it.
    let fixed = rule("combined", 1, r#"{ fact = "terminal", in = ["IOS", "ANDROID"] }"#, "allow = [\"COMBINED\"]")
        + "[[business_rules.then.routes]]\nmethod = \"COMBINED\"\nterminals = [\"IOS\", \"ANDROID\"]\nmerchant_account = \"wx-main\"\nprovider = \"wechatpay\"\nproduct = \"APP\"\n";
    assert_eq!(findings(&fixed), vec![]);
    // So does denying it on the other terminals.
    let denied = r.clone()
        + &rule(
            "no-combined",
            2,
            r#"{ fact = "terminal", not_in = ["IOS", "ANDROID"] }"#,
            "deny = [\"COMBINED\"]",
        );
    assert_eq!(findings(&denied), vec![]);
    // Routed only by a conditional rule: a warning.
    let cond = rule("acme", 3, r#"{ fact = "seller_id", equals = "acme" }"#, "allow = [\"COMBINED\"]")
        + "[[business_rules.then.routes]]\nmethod = \"COMBINED\"\nterminals = [\"IOS\"]\nmerchant_account = \"wx-acme\"\nprovider = \"wechatpay\"\nproduct = \"APP\"\n"
        + &rule("all-combined", 1, r#"{ fact = "terminal", equals = "IOS" }"#, "allow = [\"COMBINED\"]");
    only(
        &cond,
        FindingCode::ConditionallyRouted,
        Severity::Warning,
        Some("all-combined"),
    );
}

#[test]
fn installments_need_alipay() {
    let f = only(
        &rule("r", 1, "", "allow = [\"ALIPAY_INSTALLMENT\"]"),
        FindingCode::InstallmentsWithoutAlipay,
        Severity::Error,
        Some("r"),
    );
    assert!(f.message.contains("Alipay"));
    only(
        &(rule("r", 1, "", "") + "[[business_rules.then.params]]\nmethod = \"WECHAT_PAY\"\ninstallment_periods = [3]\n"),
        FindingCode::InstallmentsWithoutAlipay,
        Severity::Error,
        Some("r"),
    );
}

#[test]
fn installment_periods() {
    only(
        &(rule("r", 1, "", "") + "[[business_rules.then.params]]\nmethod = \"ALIPAY_INSTALLMENT\"\ninstallment_periods = [3, 3]\n"),
        FindingCode::BadInstallmentPeriods,
        Severity::Error,
        Some("r"),
    );
    only(
        &(rule("r", 1, "", "") + "[[business_rules.then.params]]\nmethod = \"ALIPAY_INSTALLMENT\"\ninstallment_periods = [5]\n"),
        FindingCode::BadInstallmentPeriods,
        Severity::Warning,
        Some("r"),
    );
}

#[test]
fn no_default_rule() {
    let mut rs = load("");
    rs.business_rules[0].when = Some(Condition::test("seller_id", Op::NotIn(vec![])));
    let f = validate(&rs, &Limits::default());
    assert!(f.iter().any(|f| f.code == FindingCode::NoDefaultRule
        && f.severity == Severity::Error
        && f.rule_id.is_none()));
    rs.business_rules[0].when = None;
    rs.business_rules[0].effective_until = Some(5);
    assert!(validate(&rs, &Limits::default())
        .iter()
        .any(|f| f.code == FindingCode::NoDefaultRule));
    assert!(compile(&rs, &Limits::default()).is_err());
}

#[test]
fn nesting_too_deep() {
    let deep = r#"{ not = { not = { not = { fact = "seller_id", equals = "x" } } } }"#;
    let rs = load(&rule("deep", 1, deep, "deny = [\"ALIPAY\"]"));
    let l = Limits {
        max_depth: 3,
        ..Limits::default()
    };
    let f = validate(&rs, &l);
    assert!(f
        .iter()
        .any(|f| f.code == FindingCode::NestingTooDeep && f.rule_id.as_deref() == Some("deep")));
    assert!(validate(&rs, &Limits { max_depth: 4, ..l }).is_empty());
}

#[test]
fn size_limits() {
    let rs =
        load(&(rule("a", 1, "", "deny = [\"ALIPAY\"]") + &rule("b", 1, "", "deny = [\"ALIPAY\"]")));
    let f = validate(
        &rs,
        &Limits {
            max_rules: 2,
            ..Limits::default()
        },
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].code, FindingCode::TooManyRules);
    let rs = load(&rule(
        "a",
        1,
        r#"{ all = [{ fact = "seller_id", equals = "x" }, { fact = "amount", equals = 1 }] }"#,
        "deny = [\"ALIPAY\"]",
    ));
    let f = validate(
        &rs,
        &Limits {
            max_tests: 1,
            ..Limits::default()
        },
    );
    assert_eq!(f[0].code, FindingCode::TooManyTests);
}

#[test]
fn ids_names_and_windows() {
    only(
        &rule("default", 1, "", "deny = [\"ALIPAY\"]"),
        FindingCode::DuplicateId,
        Severity::Error,
        Some("default"),
    );
    only(
        &(rule("w", 1, "", "deny = [\"ALIPAY\"]") + "effective_from = 10\neffective_until = 10\n").replace(
            "priority = 1\n[business_rules.then]\ndeny = [\"ALIPAY\"]\neffective_from = 10\neffective_until = 10\n",
            "priority = 1\neffective_from = 10\neffective_until = 10\n[business_rules.then]\ndeny = [\"ALIPAY\"]\n",
        ),
        FindingCode::InvalidWindow,
        Severity::Error,
        Some("w"),
    );
    let mut rs = load(&rule("x", 1, "", "deny = [\"ALIPAY\"]"));
    rs.business_rules[1].name.clear();
    assert!(validate(&rs, &Limits::default())
        .iter()
        .any(|f| f.code == FindingCode::MissingName && f.severity == Severity::Warning));
}

#[test]
fn route_problems() {
    let route = |body: &str| rule("r", 1, "", "") + "[[business_rules.then.routes]]\n" + body;
    only(
        &route("method = \"BALANCE\"\nterminals = [\"IOS\"]\nmerchant_account = \"x\"\nproduct = \"APP\"\n"),
        FindingCode::BadRoute,
        Severity::Error,
        Some("r"),
    );
    only(
        &route("method = \"ALIPAY\"\nterminals = [\"IOS\"]\nmerchant_account = \"x\"\nprovider = \"wechatpay\"\nproduct = \"APP\"\n"),
        FindingCode::ProviderMismatch,
        Severity::Error,
        Some("r"),
    );
    only(
        &route("method = \"COMBINED\"\nterminals = [\"IOS\"]\nmerchant_account = \"x\"\nproduct = \"APP\"\n"),
        FindingCode::ProviderMismatch,
        Severity::Error,
        Some("r"),
    );
    only(
        &route("method = \"ALIPAY\"\nterminals = [\"IOS\"]\nmerchant_account = \"x\"\nproduct = \"PAGE\"\n"),
        FindingCode::ProductTerminalMismatch,
        Severity::Warning,
        Some("r"),
    );
    only(
        &(route("method = \"ALIPAY\"\nterminals = [\"IOS\"]\nmerchant_account = \"x\"\nproduct = \"APP\"\n")
            + "[[business_rules.then.routes]]\nmethod = \"ALIPAY\"\nterminals = [\"IOS\", \"ANDROID\"]\nmerchant_account = \"y\"\nproduct = \"APP\"\n"),
        FindingCode::DuplicateRoute,
        Severity::Error,
        Some("r"),
    );
}

#[test]
fn outcome_problems() {
    only(
        &rule("r", 1, "", "allow = [\"ALIPAY\"]\ndeny = [\"ALIPAY\"]"),
        FindingCode::AllowAndDeny,
        Severity::Warning,
        Some("r"),
    );
    only(
        &rule("r", 1, r#"{ fact = "seller_id", equals = "x" }"#, ""),
        FindingCode::NoOutcome,
        Severity::Warning,
        Some("r"),
    );
    only(
        &rule(
            "r",
            1,
            r#"{ fact = "seller_id", equals = "x" }"#,
            "display_order = [\"ALIPAY\", \"ALIPAY\"]",
        ),
        FindingCode::BadDisplayOrder,
        Severity::Warning,
        Some("r"),
    );
    only(
        &(rule("r", 1, "", "") + "[[business_rules.then.params]]\nmethod = \"ALIPAY\"\nallow_credit_card = false\n[[business_rules.then.params]]\nmethod = \"ALIPAY\"\nallow_credit_card = true\n"),
        FindingCode::DuplicateParams,
        Severity::Error,
        Some("r"),
    );
    only(
        &(rule("r", 1, "", "")
            + "[[business_rules.then.params]]\nmethod = \"BALANCE\"\nallow_credit_card = false\n"),
        FindingCode::UselessParam,
        Severity::Warning,
        Some("r"),
    );
}

#[test]
fn scenario_problems() {
    only(
        "[[scenario_rules]]\nid = \"s\"\nbusiness_rule = \"nope\"\nterminals = [\"IOS\"]\nmethods = [\"ALIPAY\"]\n",
        FindingCode::UnknownBusinessRule,
        Severity::Error,
        Some("s"),
    );
    only(
        "[[scenario_rules]]\nid = \"s\"\nbusiness_rule = \"default\"\nterminals = []\nmethods = [\"ALIPAY\"]\n",
        FindingCode::BadScenario,
        Severity::Error,
        Some("s"),
    );
    only(
        "[[scenario_rules]]\nid = \"s\"\nbusiness_rule = \"default\"\nterminals = [\"IOS\"]\nmethods = [\"ALIPAY\"]\n[[scenario_rules]]\nid = \"s\"\nbusiness_rule = \"default\"\nterminals = [\"PC\"]\nmethods = [\"ALIPAY\"]\n",
        FindingCode::DuplicateId,
        Severity::Error,
        Some("s"),
    );
    let off = rule("off", 1, r#"{ fact = "seller_id", equals = "x" }"#, "deny = [\"ALIPAY\"]").replace("priority = 1\n", "priority = 1\nenabled = false\n")
        + "[[scenario_rules]]\nid = \"s\"\nbusiness_rule = \"off\"\nterminals = [\"IOS\"]\nmethods = [\"ALIPAY\"]\n";
    only(
        &off,
        FindingCode::DisabledBusinessRule,
        Severity::Warning,
        Some("s"),
    );
}

#[test]
fn warnings_do_not_block_compile() {
    let rs = load(&rule(
        "r",
        1,
        "",
        "allow = [\"ALIPAY\"]\ndeny = [\"ALIPAY\"]",
    ));
    assert!(validate(&rs, &Limits::default())
        .iter()
        .all(|f| f.severity == Severity::Warning));
    assert!(compile(&rs, &Limits::default()).is_ok());
}

#[test]
fn findings_serialize_with_stable_codes() {
    let f = only(
        &rule("r", 1, "", "allow = [\"ALIPAY\"]\ndeny = [\"ALIPAY\"]"),
        FindingCode::AllowAndDeny,
        Severity::Warning,
        Some("r"),
    );
    let json = serde_json::to_value(&f).unwrap();
    assert_eq!(json["code"], "allow_and_deny");
    assert_eq!(json["severity"], "warning");
    assert_eq!(json["rule_name"], "Rule r");
}

#[test]
fn huge_rule_sets_validate_quickly() {
    // 10,000 rules at one priority: pairwise analysis stays bounded.
    let mut rs = load("");
    for i in 0..10_000 {
        rs.business_rules.push(BusinessRule {
            id: format!("r{i:05}"),
            name: format!("Rule {i}"),
            description: String::new(),
            priority: 1,
            enabled: true,
            effective_from: None,
            effective_until: None,
            when: Some(Condition::test(
                "seller_id",
                Op::Equals(format!("s{i}").as_str().into()),
            )),
            then: Outcome {
                deny: vec![Method::Alipay],
                ..Outcome::default()
            },
        });
    }
    let start = std::time::Instant::now();
    let f = validate(&rs, &Limits::default());
    assert!(
        f.iter().all(|f| f.severity == Severity::Warning),
        "{:?}",
        f.first()
    );
    // Generous: this is a debug build on a shared machine; it guards against O(n^2) blowups.
    assert!(start.elapsed().as_secs() < 60, "{:?}", start.elapsed());
}
