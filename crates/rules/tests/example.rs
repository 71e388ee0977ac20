//! The shipped example rule set validates cleanly and decides as documented.

use paydesk_rules::*;

const NOW: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z

fn example() -> RuleSet {
    let text = include_str!("../../../examples/rules/marketplace.toml");
    RuleSet::from_toml(text, &Limits::default()).unwrap()
}

fn facts(terminal: Terminal) -> Facts {
    let mut f = Facts::new(terminal);
    f.business_line = Some("secondhand".into());
    f.seller_id = Some("u-1".into());
    f.item_category = Some("books".into());
    f.amount = Some(12_000);
    f.currency = Some(paydesk_core::money::Currency::CNY);
    f.app_version = Some("5.3.1".into());
    f
}

fn compiled() -> CompiledRuleSet {
    compile(&example(), &Limits::default()).unwrap()
}

#[test]
fn example_validates_without_errors_or_warnings() {
    let findings = validate(&example(), &Limits::default());
    for f in &findings {
        println!("{f}");
    }
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn example_round_trips_through_json() {
    let rs = example();
    let back = RuleSet::from_json(&rs.to_json(), &Limits::default()).unwrap();
    assert_eq!(rs, back);
}

#[test]
fn ios_new_app_gets_everything_on_main_accounts_plus_combined() {
    let d = compiled().evaluate(&facts(Terminal::Ios), NOW);
    assert_eq!(d.version.as_deref(), Some("example-1"));
    assert_eq!(
        d.method_list(),
        vec![
            Method::WechatPay,
            Method::Alipay,
            Method::AlipayInstallment,
            Method::Balance,
            Method::Combined
        ]
    );
    let wx = d.get(Method::WechatPay).unwrap();
    assert!(wx.default);
    let route = wx.route.as_ref().unwrap();
    assert_eq!(&*route.merchant_account, "wx-main");
    assert_eq!(route.product, Product::App);
    assert!(wx.params.allow_credit_card);
    let inst = d.get(Method::AlipayInstallment).unwrap();
    assert_eq!(
        inst.params.installment_periods.as_deref(),
        Some(&[3, 6, 12][..])
    );
    assert_eq!(inst.route.as_ref().unwrap().provider, Provider::Alipay);
    assert!(d.get(Method::Balance).unwrap().route.is_none());
}

#[test]
fn old_app_hides_installments() {
    let mut f = facts(Terminal::Android);
    f.app_version = Some("5.1.9".into());
    let d = compiled().evaluate(&f, NOW);
    assert!(d.get(Method::AlipayInstallment).is_none());
    assert!(d.get(Method::Alipay).is_some());
    let e = compiled().explain(&f, NOW);
    assert_eq!(e.decision, d);
    assert_eq!(e.trace.scenario.as_deref(), Some("legacy-apps"));
    assert!(e
        .trace
        .dropped
        .iter()
        .any(|x| x.method == Method::AlipayInstallment
            && x.reason
                == DropReason::NotInScenario {
                    scenario: "legacy-apps".into()
                }));
}

#[test]
fn acme_is_routed_to_its_own_accounts() {
    let mut f = facts(Terminal::Ios);
    f.seller_id = Some("acme".into());
    let d = compiled().evaluate(&f, NOW);
    let ma = |m| {
        d.get(m)
            .unwrap()
            .route
            .as_ref()
            .unwrap()
            .merchant_account
            .to_string()
    };
    assert_eq!(ma(Method::WechatPay), "wx-seller-acme");
    assert_eq!(ma(Method::Alipay), "ali-seller-acme");
    assert_eq!(ma(Method::AlipayInstallment), "ali-seller-acme");
    // Acme has no H5 route of its own: the default's main account serves it.
    let mut h5 = f.clone();
    h5.terminal = Terminal::H5;
    let d = compiled().evaluate(&h5, NOW);
    assert_eq!(
        &*d.get(Method::Alipay)
            .unwrap()
            .route
            .as_ref()
            .unwrap()
            .merchant_account,
        "ali-main"
    );
}

#[test]
fn gift_cards_deny_credit_cards_and_installments() {
    let mut f = facts(Terminal::Pc);
    f.item_category = Some("gift_cards".into());
    let d = compiled().evaluate(&f, NOW);
    assert!(!d.get(Method::WechatPay).unwrap().params.allow_credit_card);
    assert!(!d.get(Method::Alipay).unwrap().params.allow_credit_card);
    assert!(d.get(Method::AlipayInstallment).is_none());
    assert_eq!(
        d.get(Method::WechatPay)
            .unwrap()
            .route
            .as_ref()
            .unwrap()
            .product,
        Product::Native
    );
}

#[test]
fn large_amounts_are_alipay_only() {
    let mut f = facts(Terminal::Pc);
    f.amount = Some(5_000_000);
    let d = compiled().evaluate(&f, NOW);
    assert_eq!(d.method_list(), vec![Method::Alipay]);
    let a = d.get(Method::Alipay).unwrap();
    assert!(a.default);
    assert_eq!(a.route.as_ref().unwrap().product, Product::Page);
    f.amount = Some(4_999_999);
    assert!(compiled()
        .evaluate(&f, NOW)
        .get(Method::WechatPay)
        .is_some());
}

#[test]
fn wechat_mini_program_gets_wechat_pay_and_balance() {
    let d = compiled().evaluate(&facts(Terminal::WechatMiniProgram), NOW);
    assert_eq!(d.method_list(), vec![Method::WechatPay, Method::Balance]);
    assert_eq!(
        d.get(Method::WechatPay)
            .unwrap()
            .route
            .as_ref()
            .unwrap()
            .product,
        Product::Jsapi
    );
}

#[test]
fn tickets_put_alipay_first_and_drop_balance() {
    let mut f = facts(Terminal::H5);
    f.business_line = Some("tickets".into());
    let d = compiled().evaluate(&f, NOW);
    assert_eq!(
        d.method_list(),
        vec![Method::Alipay, Method::WechatPay, Method::AlipayInstallment]
    );
    // The default rule still picks the default method.
    assert_eq!(d.default_method(), Some(Method::WechatPay));
}

#[test]
fn high_risk_free_fact_removes_balance() {
    let mut f = facts(Terminal::Ios);
    f.facts.insert("risk_level".into(), FactValue::from("high"));
    let d = compiled().evaluate(&f, NOW);
    assert!(d.get(Method::Balance).is_none());
    assert!(d.get(Method::Combined).is_none());
}

#[test]
fn example_matches_reference_on_its_scenarios() {
    let rs = example();
    let c = compiled();
    for t in Terminal::ALL {
        for cat in ["books", "gift_cards"] {
            for amount in [1, 5_000_000] {
                for seller in ["acme", "u-1"] {
                    for v in [None, Some("5.0.0"), Some("6.1")] {
                        let mut f = facts(t);
                        f.item_category = Some(cat.into());
                        f.amount = Some(amount);
                        f.seller_id = Some(seller.into());
                        f.app_version = v.map(Into::into);
                        assert_eq!(
                            c.evaluate(&f, NOW),
                            reference::evaluate(&rs, &f, NOW),
                            "{f:?}"
                        );
                    }
                }
            }
        }
    }
}
