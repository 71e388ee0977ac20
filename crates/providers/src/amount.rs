//! Exact conversion between paydesk amounts (fen, `i64`) and the providers' yuan strings.
//!
//! WeChat Pay speaks integers in fen; Alipay speaks decimal strings in yuan with two
//! decimals ("0.01", "100.00"). No floats anywhere: a float cannot hold 0.1 exactly, and
//! one fen off is a reconciliation mismatch.

use paydesk_core::money::{Amount, Currency};

/// Why an amount could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    /// The text is not a yuan amount with exactly two decimals.
    #[error("malformed yuan amount `{0}` (expected digits, a dot and exactly two decimals)")]
    Malformed(String),
    /// The value does not fit in `i64` fen.
    #[error("amount out of range")]
    OutOfRange,
    /// Negative amounts never travel to a provider.
    #[error("negative amount")]
    Negative,
    /// These providers only take CNY.
    #[error("currency {0} is not supported by this provider (CNY only)")]
    UnsupportedCurrency(Currency),
}

/// Formats fen as a yuan string with exactly two decimals: `1` -> `"0.01"`, `10000` -> `"100.00"`.
pub fn fen_to_yuan(amount_minor: i64) -> Result<String, AmountError> {
    if amount_minor < 0 {
        return Err(AmountError::Negative);
    }
    Ok(format!("{}.{:02}", amount_minor / 100, amount_minor % 100))
}

/// Parses a yuan string with exactly two decimals into fen, refusing signs, spaces,
/// exponents, leading zeros ("01.00") and anything that overflows `i64`.
pub fn yuan_to_fen(text: &str) -> Result<i64, AmountError> {
    let malformed = || AmountError::Malformed(text.chars().take(32).collect());
    let (whole, frac) = text.split_once('.').ok_or_else(malformed)?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || frac.len() != 2 || !all_digits(frac) {
        return Err(malformed());
    }
    if whole.len() > 1 && whole.starts_with('0') {
        return Err(malformed());
    }
    let mut fen: i64 = 0;
    for b in whole.bytes().chain(frac.bytes()) {
        fen = fen
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(b - b'0')))
            .ok_or(AmountError::OutOfRange)?;
    }
    Ok(fen)
}

/// The fen of a CNY amount; other currencies are refused with a clear error.
pub fn cny_minor(amount: Amount) -> Result<i64, AmountError> {
    if amount.currency() != Currency::CNY {
        return Err(AmountError::UnsupportedCurrency(amount.currency()));
    }
    Ok(amount.minor())
}

/// A CNY amount as Alipay's yuan string.
pub fn cny_to_yuan(amount: Amount) -> Result<String, AmountError> {
    fen_to_yuan(cny_minor(amount)?)
}

/// A CNY [`Amount`] from fen, as WeChat Pay reports it.
pub fn cny_from_fen(amount_minor: i64) -> Result<Amount, AmountError> {
    Amount::new(amount_minor, Currency::CNY).map_err(|_| AmountError::Negative)
}

/// A CNY [`Amount`] from Alipay's yuan string.
pub fn cny_from_yuan(text: &str) -> Result<Amount, AmountError> {
    cny_from_fen(yuan_to_fen(text)?)
}

/// Parses a yuan string that may carry a leading minus (bills write refunds as `-1.00`)
/// into signed fen, with [`yuan_to_fen`]'s rules for the digits.
pub fn signed_yuan_to_fen(text: &str) -> Result<i64, AmountError> {
    match text.strip_prefix('-') {
        Some(rest) => yuan_to_fen(rest)?
            .checked_neg()
            .ok_or(AmountError::OutOfRange),
        None => yuan_to_fen(text),
    }
}

/// Parses a fee in yuan with two to five decimals (WeChat's bills write fees as
/// `0.00600`), optionally negative, into signed fen, rounding sub-fen digits half away
/// from zero: providers charge fees per transaction in whole fen, and the extra decimals
/// are display precision.
pub fn fee_yuan_to_fen(text: &str) -> Result<i64, AmountError> {
    let malformed = || AmountError::Malformed(text.chars().take(32).collect());
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, frac) = body.split_once('.').ok_or_else(malformed)?;
    if !(2..=5).contains(&frac.len()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    let fen = yuan_to_fen(&format!("{whole}.{}", &frac[..2]))?;
    let round_up = frac.as_bytes().get(2).is_some_and(|d| *d >= b'5');
    let fen = if round_up {
        fen.checked_add(1).ok_or(AmountError::OutOfRange)?
    } else {
        fen
    };
    Ok(if negative { -fen } else { fen })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_values() {
        assert_eq!(fen_to_yuan(0).unwrap(), "0.00");
        assert_eq!(fen_to_yuan(1).unwrap(), "0.01");
        assert_eq!(fen_to_yuan(10).unwrap(), "0.10");
        assert_eq!(fen_to_yuan(10000).unwrap(), "100.00");
        assert_eq!(fen_to_yuan(i64::MAX).unwrap(), "92233720368547758.07");
        assert_eq!(yuan_to_fen("0.01").unwrap(), 1);
        assert_eq!(yuan_to_fen("100.00").unwrap(), 10000);
        assert_eq!(yuan_to_fen("92233720368547758.07").unwrap(), i64::MAX);
        assert_eq!(
            yuan_to_fen("92233720368547758.08"),
            Err(AmountError::OutOfRange)
        );
        assert_eq!(fen_to_yuan(-1), Err(AmountError::Negative));
    }

    #[test]
    fn malformed_text_is_refused() {
        for bad in [
            "", "1", "1.", "1.0", "1.000", ".01", "-1.00", "+1.00", " 1.00", "1.00 ", "1e2",
            "01.00", "1,00", "1.0a", "１.00", "1..00", "NaN", "0x1.00",
        ] {
            assert!(
                matches!(yuan_to_fen(bad), Err(AmountError::Malformed(_))),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn bill_amounts_signed_and_fees() {
        assert_eq!(signed_yuan_to_fen("-1.23").unwrap(), -123);
        assert_eq!(signed_yuan_to_fen("0.50").unwrap(), 50);
        assert!(signed_yuan_to_fen("--1.00").is_err());
        assert!(signed_yuan_to_fen("-").is_err());
        assert_eq!(fee_yuan_to_fen("0.00000").unwrap(), 0);
        assert_eq!(fee_yuan_to_fen("0.06000").unwrap(), 6);
        assert_eq!(fee_yuan_to_fen("0.00600").unwrap(), 1);
        assert_eq!(fee_yuan_to_fen("0.00400").unwrap(), 0);
        assert_eq!(fee_yuan_to_fen("-0.06").unwrap(), -6);
        assert_eq!(
            fee_yuan_to_fen("1.2").unwrap_err(),
            AmountError::Malformed("1.2".into())
        );
        assert!(fee_yuan_to_fen("1.234567").is_err());
        assert!(fee_yuan_to_fen("0.0a000").is_err());
    }

    #[test]
    fn currency_must_be_cny() {
        let usd = Amount::new(100, Currency::USD).unwrap();
        assert_eq!(
            cny_to_yuan(usd),
            Err(AmountError::UnsupportedCurrency(Currency::USD))
        );
        let cny = Amount::new(123, Currency::CNY).unwrap();
        assert_eq!(cny_to_yuan(cny).unwrap(), "1.23");
        assert_eq!(cny_from_yuan("1.23").unwrap(), cny);
    }

    proptest! {
        #[test]
        fn round_trip(fen in 0i64..=i64::MAX) {
            let text = fen_to_yuan(fen).unwrap();
            prop_assert_eq!(yuan_to_fen(&text).unwrap(), fen);
        }

        #[test]
        fn parse_never_panics_and_accepts_only_canonical(text in ".{0,40}") {
            if let Ok(fen) = yuan_to_fen(&text) {
                // Whatever parses must print back to the same text: one spelling per amount.
                prop_assert_eq!(fen_to_yuan(fen).unwrap(), text);
            }
        }

        #[test]
        fn digit_strings_never_panic(text in "[0-9]{0,25}\\.?[0-9]{0,3}") {
            let _ = yuan_to_fen(&text);
        }
    }
}
