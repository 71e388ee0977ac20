//! Money: integer minor units plus an ISO 4217 currency. Never floats.
//!
//! An [`Amount`] can only be built with a positive-or-zero number of minor units of one
//! currency, and arithmetic is checked: adding two currencies or overflowing `i64` is an
//! error, never a wrap or a panic.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The currencies paydesk accepts. The list is closed on purpose: an unknown currency
/// is rejected at the edge with a stable error instead of being carried through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Currency {
    /// Chinese yuan renminbi (2 decimals: fen).
    CNY,
    /// Hong Kong dollar (2 decimals).
    HKD,
    /// US dollar (2 decimals).
    USD,
    /// Euro (2 decimals).
    EUR,
    /// Pound sterling (2 decimals).
    GBP,
    /// Japanese yen (0 decimals).
    JPY,
    /// South Korean won (0 decimals).
    KRW,
}

impl Currency {
    /// Every supported currency, in a stable order.
    pub const ALL: [Currency; 7] = [
        Currency::CNY,
        Currency::HKD,
        Currency::USD,
        Currency::EUR,
        Currency::GBP,
        Currency::JPY,
        Currency::KRW,
    ];

    /// The ISO 4217 alphabetic code.
    pub fn code(self) -> &'static str {
        match self {
            Currency::CNY => "CNY",
            Currency::HKD => "HKD",
            Currency::USD => "USD",
            Currency::EUR => "EUR",
            Currency::GBP => "GBP",
            Currency::JPY => "JPY",
            Currency::KRW => "KRW",
        }
    }

    /// How many decimal digits the minor unit has (ISO 4217 exponent).
    pub fn minor_unit_digits(self) -> u32 {
        match self {
            Currency::JPY | Currency::KRW => 0,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::ALL
            .into_iter()
            .find(|c| c.code() == s)
            .ok_or_else(|| MoneyError::UnknownCurrency(s.chars().take(16).collect()))
    }
}

/// Why a money operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The currency code is not one paydesk supports.
    #[error("unknown currency `{0}`")]
    UnknownCurrency(String),
    /// Two amounts of different currencies were combined.
    #[error("currency mismatch: {0} vs {1}")]
    CurrencyMismatch(Currency, Currency),
    /// The result does not fit in i64 minor units.
    #[error("amount overflow")]
    Overflow,
    /// The result would be negative.
    #[error("amount would be negative")]
    Negative,
}

/// A non-negative amount of money: `minor` units (fen, cents, yen) of `currency`.
/// Deserialising goes through [`Amount::new`], so no JSON can smuggle in a negative one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "AmountFields")]
pub struct Amount {
    minor: i64,
    currency: Currency,
}

/// The serialised shape of an [`Amount`], checked on the way in.
#[derive(Deserialize)]
struct AmountFields {
    minor: i64,
    currency: Currency,
}

impl TryFrom<AmountFields> for Amount {
    type Error = MoneyError;
    fn try_from(f: AmountFields) -> Result<Self, MoneyError> {
        Amount::new(f.minor, f.currency)
    }
}

impl Amount {
    /// An amount of `minor` units; negative values are refused.
    pub fn new(minor: i64, currency: Currency) -> Result<Self, MoneyError> {
        if minor < 0 {
            return Err(MoneyError::Negative);
        }
        Ok(Amount { minor, currency })
    }

    /// Zero of a currency.
    pub fn zero(currency: Currency) -> Self {
        Amount { minor: 0, currency }
    }

    /// The number of minor units.
    pub fn minor(self) -> i64 {
        self.minor
    }

    /// The currency.
    pub fn currency(self) -> Currency {
        self.currency
    }

    /// Whether this is zero.
    pub fn is_zero(self) -> bool {
        self.minor == 0
    }

    fn same_currency(self, other: Amount) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch(self.currency, other.currency))
        }
    }

    /// `self + other`, refusing mixed currencies and overflow.
    pub fn checked_add(self, other: Amount) -> Result<Amount, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Amount { minor, ..self })
    }

    /// `self - other`, refusing mixed currencies and results below zero.
    pub fn checked_sub(self, other: Amount) -> Result<Amount, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        if minor < 0 {
            return Err(MoneyError::Negative);
        }
        Ok(Amount { minor, ..self })
    }
}

impl Amount {
    /// The number alone as a decimal string with the currency's digits (`12.34`, `500` for
    /// JPY), using integer arithmetic only.
    pub fn decimal(&self) -> String {
        let digits = self.currency.minor_unit_digits();
        if digits == 0 {
            return self.minor.to_string();
        }
        let scale = 10i64.pow(digits);
        format!(
            "{}.{:0width$}",
            self.minor / scale,
            self.minor % scale,
            width = digits as usize
        )
    }
}

impl fmt::Display for Amount {
    /// Formats as a decimal string with the currency's digits, e.g. `12.34 CNY`, using
    /// integer arithmetic only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.decimal(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn currency_codes_round_trip_and_unknown_is_refused() {
        for c in Currency::ALL {
            assert_eq!(c.code().parse::<Currency>(), Ok(c));
        }
        assert!(matches!(
            "XXX".parse::<Currency>(),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert!("cny".parse::<Currency>().is_err(), "codes are upper case");
        assert_eq!(Currency::JPY.minor_unit_digits(), 0);
        assert_eq!(Currency::CNY.minor_unit_digits(), 2);
    }

    #[test]
    fn deserialising_checks_like_new() {
        let ok: Amount = serde_json::from_str(r#"{"minor":5,"currency":"CNY"}"#).unwrap();
        assert_eq!(ok, Amount::new(5, Currency::CNY).unwrap());
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            r#"{"minor":5,"currency":"CNY"}"#
        );
        assert!(serde_json::from_str::<Amount>(r#"{"minor":-5,"currency":"CNY"}"#).is_err());
        assert!(serde_json::from_str::<Amount>(r#"{"minor":5,"currency":"XXX"}"#).is_err());
    }

    #[test]
    fn display_uses_exponent() {
        assert_eq!(
            Amount::new(1234, Currency::CNY).unwrap().to_string(),
            "12.34 CNY"
        );
        assert_eq!(
            Amount::new(5, Currency::USD).unwrap().to_string(),
            "0.05 USD"
        );
        assert_eq!(
            Amount::new(500, Currency::JPY).unwrap().to_string(),
            "500 JPY"
        );
    }

    #[test]
    fn mixed_currencies_and_overflow_are_refused() {
        let a = Amount::new(1, Currency::CNY).unwrap();
        let b = Amount::new(1, Currency::USD).unwrap();
        assert_eq!(
            a.checked_add(b),
            Err(MoneyError::CurrencyMismatch(Currency::CNY, Currency::USD))
        );
        let max = Amount::new(i64::MAX, Currency::CNY).unwrap();
        assert_eq!(max.checked_add(a), Err(MoneyError::Overflow));
        assert_eq!(a.checked_sub(max), Err(MoneyError::Negative));
        assert_eq!(Amount::new(-1, Currency::CNY), Err(MoneyError::Negative));
    }

    proptest! {
        #[test]
        fn add_then_sub_is_identity(a in 0i64..i64::MAX / 2, b in 0i64..i64::MAX / 2) {
            let x = Amount::new(a, Currency::CNY).unwrap();
            let y = Amount::new(b, Currency::CNY).unwrap();
            let sum = x.checked_add(y).unwrap();
            prop_assert_eq!(sum.checked_sub(y).unwrap(), x);
            prop_assert_eq!(sum.minor(), a + b);
        }

        #[test]
        fn checked_ops_never_panic_and_never_go_negative(a in any::<i64>(), b in any::<i64>()) {
            if let (Ok(x), Ok(y)) = (Amount::new(a, Currency::EUR), Amount::new(b, Currency::EUR)) {
                if let Ok(s) = x.checked_add(y) { prop_assert!(s.minor() >= 0); }
                if let Ok(d) = x.checked_sub(y) { prop_assert!(d.minor() >= 0); prop_assert!(d.minor() <= x.minor()); }
            } else {
                prop_assert!(a < 0 || b < 0);
            }
        }
    }
}
