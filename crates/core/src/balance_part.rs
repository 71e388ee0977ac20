//! The balance part of a pay order (余额支付 / 组合支付): how much of the order the buyer pays
//! from their platform balance, and how a refund of such an order is split between the
//! third party and the balance.
//!
//! A `COMBINED` order is paid part by balance, part through a provider. The balance part
//! is held first (`HELD`: the buyer's available balance frozen by a `HOLD` entry); the
//! order is `PAID` only when the provider part succeeds, and in that same transaction the
//! hold is captured (`CAPTURED`: held -> the order's clearing account). If the provider
//! part fails, the buyer picks another method, or the order closes or expires, the hold
//! is released (`RELEASED`: held -> available). A `BALANCE` order is a balance part of
//! the whole amount, held and captured at once.

use crate::transition::StateMachine;
use serde::{Deserialize, Serialize};

/// Where a pay order's balance part stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum BalancePartStatus {
    /// Frozen on the buyer's balance, waiting for the provider part.
    Held,
    /// Spent: the order is paid.
    Captured,
    /// Given back to the buyer's available balance.
    Released,
}

impl StateMachine for BalancePartStatus {
    const ALL: &'static [Self] = &[Self::Held, Self::Captured, Self::Released];
    /// A released part can be held again (the buyer comes back to `COMBINED`); a captured
    /// one is final (refunds are tracked beside it, not by its status).
    const TRANSITIONS: &'static [(Self, Self)] = &[
        (Self::Held, Self::Captured),
        (Self::Held, Self::Released),
        (Self::Released, Self::Held),
        (Self::Released, Self::Captured),
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Held => "HELD",
            Self::Captured => "CAPTURED",
            Self::Released => "RELEASED",
        }
    }
}

impl BalancePartStatus {
    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

/// The owner of the clearing account a `BALANCE` order's money waits in until it is
/// settled (a `COMBINED` order's balance part goes to its provider account's clearing
/// account instead, so the order settles from one account). Not a valid merchant
/// account id (those never contain `:`), so it cannot collide with one.
pub const BALANCE_CLEARING_OWNER: &str = "balance:payments";

/// Which part of a combined order a refund takes first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RefundFunds {
    /// The third party's part first, the balance part for the rest (the default: money
    /// goes back the way it came, the provider's part while the provider still allows it).
    #[default]
    ThirdPartyFirst,
    /// The balance part first, the third party's for the rest.
    BalanceFirst,
}

impl RefundFunds {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ThirdPartyFirst => "THIRD_PARTY_FIRST",
            Self::BalanceFirst => "BALANCE_FIRST",
        }
    }

    /// Parses the stable name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::ThirdPartyFirst, Self::BalanceFirst]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// How a refund of `amount_minor` splits into `(provider_minor, balance_minor)` when the
/// provider part still has `provider_left_minor` refundable and the balance part
/// `balance_left_minor`, taking `funds` first. `None` when the amount is not positive or
/// both parts together do not cover it. The two halves always add up to the amount and
/// neither exceeds what is left of its part.
pub fn split_refund(
    amount_minor: i64,
    provider_left_minor: i64,
    balance_left_minor: i64,
    funds: RefundFunds,
) -> Option<(i64, i64)> {
    if amount_minor <= 0 || provider_left_minor < 0 || balance_left_minor < 0 {
        return None;
    }
    if amount_minor > provider_left_minor.checked_add(balance_left_minor)? {
        return None;
    }
    Some(match funds {
        RefundFunds::ThirdPartyFirst => {
            let provider = amount_minor.min(provider_left_minor);
            (provider, amount_minor - provider)
        }
        RefundFunds::BalanceFirst => {
            let balance = amount_minor.min(balance_left_minor);
            (amount_minor - balance, balance)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn third_party_first_then_balance() {
        let f = RefundFunds::ThirdPartyFirst;
        assert_eq!(split_refund(50, 70, 30, f), Some((50, 0)));
        assert_eq!(split_refund(90, 70, 30, f), Some((70, 20)));
        assert_eq!(split_refund(100, 70, 30, f), Some((70, 30)));
        assert_eq!(split_refund(101, 70, 30, f), None);
        assert_eq!(split_refund(0, 70, 30, f), None);
    }

    #[test]
    fn balance_first_when_asked() {
        let f = RefundFunds::BalanceFirst;
        assert_eq!(split_refund(20, 70, 30, f), Some((0, 20)));
        assert_eq!(split_refund(40, 70, 30, f), Some((10, 30)));
        assert_eq!(RefundFunds::parse("BALANCE_FIRST"), Some(f));
        assert_eq!(RefundFunds::parse("balance_first"), None);
    }

    #[test]
    fn a_captured_part_stays_captured() {
        use BalancePartStatus::*;
        assert!(Held.can_transition(Captured));
        assert!(Released.can_transition(Held));
        assert!(!Captured.can_transition(Released));
        assert!(!Captured.can_transition(Held));
        assert_eq!(BalancePartStatus::parse("HELD"), Some(Held));
    }

    proptest! {
        #[test]
        fn a_split_adds_up_and_stays_within_each_part(
            amount in -5i64..300,
            provider_left in 0i64..200,
            balance_left in 0i64..200,
            balance_first in any::<bool>(),
        ) {
            let funds = if balance_first { RefundFunds::BalanceFirst } else { RefundFunds::ThirdPartyFirst };
            match split_refund(amount, provider_left, balance_left, funds) {
                Some((p, b)) => {
                    prop_assert_eq!(p + b, amount);
                    prop_assert!((0..=provider_left).contains(&p));
                    prop_assert!((0..=balance_left).contains(&b));
                    // The first part is used up before the second is touched.
                    if balance_first { prop_assert!(p == 0 || b == balance_left); }
                    else { prop_assert!(b == 0 || p == provider_left); }
                }
                None => prop_assert!(amount <= 0 || amount > provider_left + balance_left),
            }
        }
    }
}
