//! Identifiers and random secrets.
//!
//! Record ids are UUIDv7 (time-ordered, so primary-key walks such as archiving visit
//! rows roughly oldest first) in simple hex form behind a short type prefix, e.g.
//! `po_01932c0a6f8e7d3c9a4b5e6f7a8b9c0d`. Tokens and secrets come from the operating
//! system's CSPRNG via ring.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::{SecureRandom, SystemRandom};

/// Prefix of pay order ids.
pub const PAY_ORDER: &str = "po";
/// Prefix of business line ids.
pub const BUSINESS_LINE: &str = "bl";
/// Prefix of business line app ids (the public half of the credential).
pub const APP: &str = "app";
/// Prefix of outbox event ids.
pub const EVENT: &str = "evt";
/// Prefix of attempt ids.
pub const ATTEMPT: &str = "pa";
/// Prefix of refund ids.
pub const REFUND: &str = "rf";
/// Prefix of raw provider callback ids.
pub const CALLBACK: &str = "cb";
/// Prefix of ledger account ids.
pub const LEDGER_ACCOUNT: &str = "la";
/// Prefix of journal entry ids.
pub const JOURNAL_ENTRY: &str = "je";
/// Prefix of payout and withdrawal ids (`po` is taken by pay orders).
pub const PAYOUT: &str = "pt";

/// A new number to hand a provider (`out_trade_no`, `out_refund_no`): 32 hex digits of a
/// UUIDv7, unique and time-ordered, within every provider's limits (WeChat: 6-32 of
/// `[0-9A-Za-z_-|*]`; Alipay: up to 64).
pub fn provider_no() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

/// A new time-ordered id with the given prefix.
pub fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::now_v7().simple())
}

/// `n` random bytes from the OS CSPRNG.
///
/// # Panics
/// Only if the operating system cannot provide randomness, in which case nothing
/// secure can be done and stopping is the right answer.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut buf = [0u8; N];
    SystemRandom::new()
        .fill(&mut buf)
        .expect("the operating system's random number generator failed");
    buf
}

/// A URL-safe random token carrying `N` bytes of entropy (base64url, no padding).
pub fn random_token<const N: usize>() -> String {
    URL_SAFE_NO_PAD.encode(random_bytes::<N>())
}

/// `N` random bytes as lower-case hex (2N characters of `[0-9a-f]`), for nonces.
pub fn random_hex<const N: usize>() -> String {
    random_bytes::<N>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `s` looks like an id with this prefix (cheap shape check before a lookup).
pub fn has_shape(s: &str, prefix: &str) -> bool {
    s.len() == prefix.len() + 33
        && s.starts_with(prefix)
        && s.as_bytes()[prefix.len()] == b'_'
        && s[prefix.len() + 1..].bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ids_are_prefixed_unique_and_ordered() {
        let a = new_id(PAY_ORDER);
        let b = new_id(PAY_ORDER);
        assert!(has_shape(&a, PAY_ORDER), "{a}");
        assert_ne!(a, b);
        assert!(a < b, "v7 ids sort by creation time");
        assert!(!has_shape("po_xyz", PAY_ORDER));
        assert!(!has_shape(&a, EVENT));
    }

    #[test]
    fn tokens_have_expected_length() {
        assert_eq!(random_token::<32>().len(), 43);
        assert_ne!(random_token::<16>(), random_token::<16>());
        let hex = random_hex::<16>();
        assert_eq!(hex.len(), 32);
        assert!(hex.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
