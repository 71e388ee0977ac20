//! The closed vocabulary of the checkout: terminals, methods, providers, products, and
//! the facts a checkout hands to the engine.
//!
//! Everything enumerable is an enum so a typo in a rule set is a load or validation
//! error, never a rule that silently never matches.

use paydesk_core::money::Currency;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::BTreeMap;
use std::fmt;

/// Where the buyer is paying from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Terminal {
    /// Our Android app.
    Android,
    /// Our iOS app.
    Ios,
    /// Our WeChat mini program.
    WechatMiniProgram,
    /// Our Alipay mini program.
    AlipayMiniProgram,
    /// A mobile browser outside WeChat.
    H5,
    /// A web page opened inside WeChat.
    WechatH5,
    /// A desktop browser.
    Pc,
}

impl Terminal {
    /// Every terminal, in a stable order (the order of its bit in masks).
    pub const ALL: [Terminal; 7] = [
        Terminal::Android,
        Terminal::Ios,
        Terminal::WechatMiniProgram,
        Terminal::AlipayMiniProgram,
        Terminal::H5,
        Terminal::WechatH5,
        Terminal::Pc,
    ];

    /// The wire name, e.g. `WECHAT_MINI_PROGRAM`.
    pub fn code(self) -> &'static str {
        match self {
            Terminal::Android => "ANDROID",
            Terminal::Ios => "IOS",
            Terminal::WechatMiniProgram => "WECHAT_MINI_PROGRAM",
            Terminal::AlipayMiniProgram => "ALIPAY_MINI_PROGRAM",
            Terminal::H5 => "H5",
            Terminal::WechatH5 => "WECHAT_H5",
            Terminal::Pc => "PC",
        }
    }

    /// Parses a wire name.
    pub fn from_code(code: &str) -> Option<Terminal> {
        Terminal::ALL.into_iter().find(|t| t.code() == code)
    }

    /// Position in [`Terminal::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Terminal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// What the buyer picks on the checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Method {
    /// WeChat Pay.
    WechatPay,
    /// Alipay.
    Alipay,
    /// Alipay with installments (Huabei); needs installment periods and an Alipay route.
    AlipayInstallment,
    /// The platform balance (the ledger, not a provider: never routed).
    Balance,
    /// Part balance, part a third party (the route names the third party).
    Combined,
}

impl Method {
    /// Every method, in the canonical display order used when no rule orders them.
    pub const ALL: [Method; 5] = [
        Method::WechatPay,
        Method::Alipay,
        Method::AlipayInstallment,
        Method::Balance,
        Method::Combined,
    ];

    /// The wire name, e.g. `ALIPAY_INSTALLMENT`.
    pub fn code(self) -> &'static str {
        match self {
            Method::WechatPay => "WECHAT_PAY",
            Method::Alipay => "ALIPAY",
            Method::AlipayInstallment => "ALIPAY_INSTALLMENT",
            Method::Balance => "BALANCE",
            Method::Combined => "COMBINED",
        }
    }

    /// Position in [`Method::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// The single bit of this method in a method mask.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// Whether the money goes through a third party, so the method needs a route
    /// (merchant account and product) on the buyer's terminal before it can be offered.
    pub fn needs_route(self) -> bool {
        !matches!(self, Method::Balance)
    }

    /// The provider this method must be routed to, when the method fixes it.
    /// `COMBINED` can pair the balance with either provider, so its routes name one.
    pub fn fixed_provider(self) -> Option<Provider> {
        match self {
            Method::WechatPay => Some(Provider::Wechatpay),
            Method::Alipay | Method::AlipayInstallment => Some(Provider::Alipay),
            Method::Balance | Method::Combined => None,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A third-party payment company.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// WeChat Pay (API v3).
    Wechatpay,
    /// Alipay (OpenAPI).
    Alipay,
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Provider::Wechatpay => "wechatpay",
            Provider::Alipay => "alipay",
        })
    }
}

/// A provider's way to pay on one kind of terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Product {
    /// In-app payment (native SDK).
    App,
    /// Payment inside WeChat (mini program or official-account page) or an Alipay mini program.
    Jsapi,
    /// WeChat Pay's mobile-browser product.
    H5,
    /// Alipay's mobile-browser product.
    Wap,
    /// A QR code the buyer scans.
    Native,
    /// Alipay's desktop web page.
    Page,
}

impl Product {
    /// Whether this product can work for `provider` on `terminal`. Used only for a
    /// publish-time warning: the providers, not we, have the last word.
    pub fn fits(self, provider: Provider, terminal: Terminal) -> bool {
        use Terminal::*;
        match (provider, self) {
            (_, Product::App) => matches!(terminal, Android | Ios),
            (Provider::Wechatpay, Product::Jsapi) => {
                matches!(terminal, WechatMiniProgram | WechatH5)
            }
            (Provider::Alipay, Product::Jsapi) => matches!(terminal, AlipayMiniProgram),
            (Provider::Wechatpay, Product::H5) => matches!(terminal, H5),
            (Provider::Alipay, Product::H5) => false,
            (Provider::Alipay, Product::Wap) => matches!(terminal, H5),
            (Provider::Wechatpay, Product::Wap) => false,
            (_, Product::Native) => true,
            (Provider::Alipay, Product::Page) => matches!(terminal, Pc),
            (Provider::Wechatpay, Product::Page) => false,
        }
    }
}

impl fmt::Display for Product {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Product::App => "APP",
            Product::Jsapi => "JSAPI",
            Product::H5 => "H5",
            Product::Wap => "WAP",
            Product::Native => "NATIVE",
            Product::Page => "PAGE",
        })
    }
}

/// The type of a fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FactType {
    /// Text, compared exactly.
    String,
    /// A signed 64-bit integer (amounts are minor units).
    Integer,
    /// True or false.
    Boolean,
    /// A terminal code (built-in `terminal` only).
    Terminal,
    /// An ISO currency code (built-in `currency` only).
    Currency,
    /// A semantic version (built-in `app_version` only).
    Semver,
}

impl fmt::Display for FactType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FactType::String => "string",
            FactType::Integer => "integer",
            FactType::Boolean => "boolean",
            FactType::Terminal => "terminal",
            FactType::Currency => "currency",
            FactType::Semver => "semver",
        })
    }
}

/// The facts every checkout may carry. Conditions name them by [`BuiltinFact::name`];
/// any other name is a free fact that the rule set's catalogue must declare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BuiltinFact {
    /// `business_line` (string).
    BusinessLine,
    /// `seller_id` (string).
    SellerId,
    /// `seller_segment` (string).
    SellerSegment,
    /// `buyer_id` (string).
    BuyerId,
    /// `buyer_segment` (string).
    BuyerSegment,
    /// `item_category` (string).
    ItemCategory,
    /// `amount` in minor units (integer).
    Amount,
    /// `currency` (ISO code).
    Currency,
    /// `terminal` (terminal code).
    Terminal,
    /// `app_version` (semver).
    AppVersion,
}

impl BuiltinFact {
    /// Every built-in fact.
    pub const ALL: [BuiltinFact; 10] = [
        BuiltinFact::BusinessLine,
        BuiltinFact::SellerId,
        BuiltinFact::SellerSegment,
        BuiltinFact::BuyerId,
        BuiltinFact::BuyerSegment,
        BuiltinFact::ItemCategory,
        BuiltinFact::Amount,
        BuiltinFact::Currency,
        BuiltinFact::Terminal,
        BuiltinFact::AppVersion,
    ];

    /// The name conditions use.
    pub fn name(self) -> &'static str {
        match self {
            BuiltinFact::BusinessLine => "business_line",
            BuiltinFact::SellerId => "seller_id",
            BuiltinFact::SellerSegment => "seller_segment",
            BuiltinFact::BuyerId => "buyer_id",
            BuiltinFact::BuyerSegment => "buyer_segment",
            BuiltinFact::ItemCategory => "item_category",
            BuiltinFact::Amount => "amount",
            BuiltinFact::Currency => "currency",
            BuiltinFact::Terminal => "terminal",
            BuiltinFact::AppVersion => "app_version",
        }
    }

    /// Looks a built-in fact up by name.
    pub fn from_name(name: &str) -> Option<BuiltinFact> {
        BuiltinFact::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The fact's type.
    pub fn fact_type(self) -> FactType {
        match self {
            BuiltinFact::Amount => FactType::Integer,
            BuiltinFact::Currency => FactType::Currency,
            BuiltinFact::Terminal => FactType::Terminal,
            BuiltinFact::AppVersion => FactType::Semver,
            _ => FactType::String,
        }
    }

    /// For string facts: the position among the six string built-ins.
    pub(crate) fn string_slot(self) -> Option<usize> {
        match self {
            BuiltinFact::BusinessLine => Some(0),
            BuiltinFact::SellerId => Some(1),
            BuiltinFact::SellerSegment => Some(2),
            BuiltinFact::BuyerId => Some(3),
            BuiltinFact::BuyerSegment => Some(4),
            BuiltinFact::ItemCategory => Some(5),
            _ => None,
        }
    }
}

/// A literal in a condition or a free fact's value: a string, an integer or a boolean.
///
/// Serialized as the bare JSON/TOML scalar. Floats are refused on purpose: amounts are
/// integer minor units.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FactValue {
    /// Text.
    Str(String),
    /// A signed integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
}

impl FactValue {
    /// The value's type (string, integer or boolean).
    pub fn fact_type(&self) -> FactType {
        match self {
            FactValue::Str(_) => FactType::String,
            FactValue::Int(_) => FactType::Integer,
            FactValue::Bool(_) => FactType::Boolean,
        }
    }
}

impl fmt::Display for FactValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FactValue::Str(s) => write!(f, "{s:?}"),
            FactValue::Int(i) => write!(f, "{i}"),
            FactValue::Bool(b) => write!(f, "{b}"),
        }
    }
}

impl From<&str> for FactValue {
    fn from(s: &str) -> Self {
        FactValue::Str(s.to_owned())
    }
}

impl From<i64> for FactValue {
    fn from(i: i64) -> Self {
        FactValue::Int(i)
    }
}

impl From<bool> for FactValue {
    fn from(b: bool) -> Self {
        FactValue::Bool(b)
    }
}

impl Serialize for FactValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            FactValue::Str(v) => s.serialize_str(v),
            FactValue::Int(v) => s.serialize_i64(*v),
            FactValue::Bool(v) => s.serialize_bool(*v),
        }
    }
}

impl<'de> Deserialize<'de> for FactValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = FactValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, an integer or a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<FactValue, E> {
                Ok(FactValue::Bool(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<FactValue, E> {
                Ok(FactValue::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<FactValue, E> {
                i64::try_from(v)
                    .map(FactValue::Int)
                    .map_err(|_| E::custom("integer too large (must fit a signed 64-bit number)"))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<FactValue, E> {
                Ok(FactValue::Str(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<FactValue, E> {
                Ok(FactValue::Str(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// What the checkout knows about one payment: the input of an evaluation.
///
/// Every fact but `terminal` may be absent; a test on an absent fact is false, except
/// `not_in`, which is true (it is exactly `not (in ...)`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Facts {
    /// The business line that created the pay order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_line: Option<String>,
    /// The seller receiving the money.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<String>,
    /// The seller's segment (e.g. `enterprise`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_segment: Option<String>,
    /// The buyer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_id: Option<String>,
    /// The buyer's segment (e.g. `new`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_segment: Option<String>,
    /// The item's category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_category: Option<String>,
    /// The amount in minor units of `currency`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    /// The amount's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<Currency>,
    /// Where the buyer is paying from (always known to the checkout).
    pub terminal: Terminal,
    /// The app's version. Accepts full semver (`5.2.0`) and the short forms `5.2` and
    /// `5` (read as `5.2.0`, `5.0.0`); anything else counts as absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_version: Option<String>,
    /// Free facts, used by conditions only when the rule set's catalogue declares them.
    /// A value of the wrong type counts as absent.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, FactValue>,
}

impl Facts {
    /// Facts with only a terminal.
    pub fn new(terminal: Terminal) -> Facts {
        Facts {
            business_line: None,
            seller_id: None,
            seller_segment: None,
            buyer_id: None,
            buyer_segment: None,
            item_category: None,
            amount: None,
            currency: None,
            terminal,
            app_version: None,
            facts: BTreeMap::new(),
        }
    }

    /// The value of a built-in string fact.
    pub(crate) fn builtin_str(&self, fact: BuiltinFact) -> Option<&str> {
        match fact {
            BuiltinFact::BusinessLine => self.business_line.as_deref(),
            BuiltinFact::SellerId => self.seller_id.as_deref(),
            BuiltinFact::SellerSegment => self.seller_segment.as_deref(),
            BuiltinFact::BuyerId => self.buyer_id.as_deref(),
            BuiltinFact::BuyerSegment => self.buyer_segment.as_deref(),
            BuiltinFact::ItemCategory => self.item_category.as_deref(),
            _ => None,
        }
    }

    /// The app version as semver, with the short forms padded (see [`Facts::app_version`]).
    pub fn parsed_app_version(&self) -> Option<semver::Version> {
        self.app_version.as_deref().and_then(parse_version_lenient)
    }
}

/// Parses `5.2.0`, and pads `5.2` / `5` with zeros. Other text is not a version.
pub fn parse_version_lenient(s: &str) -> Option<semver::Version> {
    if let Ok(v) = semver::Version::parse(s) {
        return Some(v);
    }
    let parts: Vec<&str> = s.split('.').collect();
    if parts.is_empty()
        || parts.len() > 2
        || parts
            .iter()
            .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    let major = parts[0].parse().ok()?;
    let minor = match parts.get(1) {
        Some(p) => p.parse().ok()?,
        None => 0,
    };
    Some(semver::Version::new(major, minor, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for t in Terminal::ALL {
            assert_eq!(Terminal::from_code(t.code()), Some(t));
            assert_eq!(
                serde_json::to_string(&t).unwrap(),
                format!("\"{}\"", t.code())
            );
        }
        for m in Method::ALL {
            assert_eq!(
                serde_json::to_string(&m).unwrap(),
                format!("\"{}\"", m.code())
            );
        }
        for b in BuiltinFact::ALL {
            assert_eq!(BuiltinFact::from_name(b.name()), Some(b));
        }
        assert_eq!(Terminal::from_code("IPHONE"), None);
    }

    #[test]
    fn lenient_versions() {
        assert_eq!(
            parse_version_lenient("5.2.1"),
            Some(semver::Version::new(5, 2, 1))
        );
        assert_eq!(
            parse_version_lenient("5.2"),
            Some(semver::Version::new(5, 2, 0))
        );
        assert_eq!(
            parse_version_lenient("5"),
            Some(semver::Version::new(5, 0, 0))
        );
        for bad in [
            "",
            "5.",
            ".5",
            "v5",
            "5.x",
            "1.2.3.4",
            "99999999999999999999",
        ] {
            assert_eq!(parse_version_lenient(bad), None, "{bad}");
        }
    }

    #[test]
    fn fact_values_refuse_floats_and_huge_integers() {
        assert_eq!(
            serde_json::from_str::<FactValue>("7").unwrap(),
            FactValue::Int(7)
        );
        assert_eq!(
            serde_json::from_str::<FactValue>("true").unwrap(),
            FactValue::Bool(true)
        );
        assert!(serde_json::from_str::<FactValue>("1.5").is_err());
        assert!(serde_json::from_str::<FactValue>("18446744073709551615").is_err());
        assert!(serde_json::from_str::<FactValue>("null").is_err());
    }

    #[test]
    fn products_fit_terminals() {
        assert!(Product::App.fits(Provider::Wechatpay, Terminal::Ios));
        assert!(!Product::App.fits(Provider::Wechatpay, Terminal::Pc));
        assert!(Product::Jsapi.fits(Provider::Wechatpay, Terminal::WechatH5));
        assert!(!Product::Jsapi.fits(Provider::Alipay, Terminal::WechatMiniProgram));
        assert!(Product::Page.fits(Provider::Alipay, Terminal::Pc));
        assert!(Product::Wap.fits(Provider::Alipay, Terminal::H5));
    }
}
