//! Ledger account identity: what kind of balance, whose, in which currency.

use super::entry::LedgerError;
use crate::money::Currency;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Longest owner id (bytes): the widest id we keep elsewhere (merchant account ids,
/// business numbers) is 64.
pub const MAX_OWNER_ID_LEN: usize = 64;

/// The `business_line_id` of entries no business line caused (a provider fee found by
/// reconciliation, a funding top-up by an operator).
pub const PLATFORM_SCOPE: &str = "platform";

/// What a ledger account holds. User and seller balances come as an `_AVAILABLE` and a
/// `_HELD` twin: available money can be spent or withdrawn, held money is frozen for a
/// withdrawal or a combined payment in flight and ends either debited or released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AccountKind {
    /// A user's spendable balance. Owner: the user id. Never negative.
    UserAvailable,
    /// A user's held (frozen) balance. Owner: the user id. Never negative.
    UserHeld,
    /// A seller's spendable balance (settled order proceeds). Owner: the seller id.
    /// Never negative.
    SellerAvailable,
    /// A seller's held balance. Owner: the seller id. Never negative.
    SellerHeld,
    /// The platform money a business line pays payouts (打款) from. Owner: the business
    /// line id. May go negative: payouts are the platform's own money, topped up by
    /// [`super::movements::fund`] entries.
    PlatformFunding,
    /// Commission the platform kept when settling orders. Owner: the business line id.
    PlatformCommission,
    /// Provider fees the platform bore (negative: a cost). Owner: the merchant account id.
    PlatformFees,
    /// Acquired money not yet settled to anyone, per merchant account: payments come in,
    /// refunds and settlements go out. Owner: the merchant account id. May go negative
    /// (a refund after settlement).
    Clearing,
    /// The outside world through one merchant account: the mirror of the money the
    /// provider holds for it (negative while the provider holds our money). Every
    /// movement into or out of the platform crosses it, so minus its balance ties out
    /// against the provider's fund bill. Owner: the merchant account id.
    External,
}

impl AccountKind {
    /// Every kind.
    pub const ALL: &'static [Self] = &[
        Self::UserAvailable,
        Self::UserHeld,
        Self::SellerAvailable,
        Self::SellerHeld,
        Self::PlatformFunding,
        Self::PlatformCommission,
        Self::PlatformFees,
        Self::Clearing,
        Self::External,
    ];

    /// The stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserAvailable => "USER_AVAILABLE",
            Self::UserHeld => "USER_HELD",
            Self::SellerAvailable => "SELLER_AVAILABLE",
            Self::SellerHeld => "SELLER_HELD",
            Self::PlatformFunding => "PLATFORM_FUNDING",
            Self::PlatformCommission => "PLATFORM_COMMISSION",
            Self::PlatformFees => "PLATFORM_FEES",
            Self::Clearing => "CLEARING",
            Self::External => "EXTERNAL",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }

    /// Whether an account of this kind may be opened with a negative balance allowed.
    /// Money owed to users and sellers never goes below zero (nobody can spend what they
    /// do not have); the platform's own and the mirror accounts may.
    pub fn allows_negative(self) -> bool {
        !matches!(
            self,
            Self::UserAvailable | Self::UserHeld | Self::SellerAvailable | Self::SellerHeld
        )
    }

    /// The held twin of an available kind (`USER_AVAILABLE -> USER_HELD`).
    pub fn held(self) -> Option<Self> {
        match self {
            Self::UserAvailable => Some(Self::UserHeld),
            Self::SellerAvailable => Some(Self::SellerHeld),
            _ => None,
        }
    }

    /// The available twin of a held kind (`USER_HELD -> USER_AVAILABLE`).
    pub fn available(self) -> Option<Self> {
        match self {
            Self::UserHeld => Some(Self::UserAvailable),
            Self::SellerHeld => Some(Self::SellerAvailable),
            _ => None,
        }
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The identity of a ledger account: `(kind, owner_id, currency)` is unique. Built only
/// through [`AccountRef::new`] (or the named constructors), which check the owner id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct AccountRef {
    kind: AccountKind,
    owner_id: String,
    currency: Currency,
}

impl AccountRef {
    /// An account reference; the owner id must be 1 to [`MAX_OWNER_ID_LEN`] printable
    /// ASCII characters without spaces (it is a key, compared byte for byte).
    pub fn new(
        kind: AccountKind,
        owner_id: impl Into<String>,
        currency: Currency,
    ) -> Result<Self, LedgerError> {
        let owner_id = owner_id.into();
        let ok = !owner_id.is_empty()
            && owner_id.len() <= MAX_OWNER_ID_LEN
            && owner_id.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            return Err(LedgerError::InvalidOwnerId(
                owner_id.chars().take(MAX_OWNER_ID_LEN + 1).collect(),
            ));
        }
        Ok(AccountRef {
            kind,
            owner_id,
            currency,
        })
    }

    /// A user's available balance.
    pub fn user(user_id: impl Into<String>, currency: Currency) -> Result<Self, LedgerError> {
        Self::new(AccountKind::UserAvailable, user_id, currency)
    }

    /// A seller's available balance.
    pub fn seller(seller_id: impl Into<String>, currency: Currency) -> Result<Self, LedgerError> {
        Self::new(AccountKind::SellerAvailable, seller_id, currency)
    }

    /// A business line's payout funding account.
    pub fn platform_funding(
        business_line_id: impl Into<String>,
        currency: Currency,
    ) -> Result<Self, LedgerError> {
        Self::new(AccountKind::PlatformFunding, business_line_id, currency)
    }

    /// A business line's commission account.
    pub fn platform_commission(
        business_line_id: impl Into<String>,
        currency: Currency,
    ) -> Result<Self, LedgerError> {
        Self::new(AccountKind::PlatformCommission, business_line_id, currency)
    }

    /// The provider fees borne for a merchant account.
    pub fn platform_fees(
        merchant_account: impl Into<String>,
        currency: Currency,
    ) -> Result<Self, LedgerError> {
        Self::new(AccountKind::PlatformFees, merchant_account, currency)
    }

    /// A merchant account's clearing account.
    pub fn clearing(
        merchant_account: impl Into<String>,
        currency: Currency,
    ) -> Result<Self, LedgerError> {
        Self::new(AccountKind::Clearing, merchant_account, currency)
    }

    /// A merchant account's external (money at the provider) mirror account.
    pub fn external(
        merchant_account: impl Into<String>,
        currency: Currency,
    ) -> Result<Self, LedgerError> {
        Self::new(AccountKind::External, merchant_account, currency)
    }

    /// The kind.
    pub fn kind(&self) -> AccountKind {
        self.kind
    }

    /// The owner: user or seller id, business line id, or merchant account id, per kind.
    pub fn owner_id(&self) -> &str {
        &self.owner_id
    }

    /// The currency: every line on this account is in it.
    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// Whether the balance may go below zero (see [`AccountKind::allows_negative`]).
    pub fn allows_negative(&self) -> bool {
        self.kind.allows_negative()
    }

    /// The held twin of an available account; `WrongAccountKind` for any other kind.
    pub fn held_twin(&self) -> Result<Self, LedgerError> {
        let kind = self.kind.held().ok_or(LedgerError::WrongAccountKind {
            expected: "USER_AVAILABLE or SELLER_AVAILABLE",
            got: self.kind,
        })?;
        Ok(AccountRef {
            kind,
            ..self.clone()
        })
    }

    /// The available twin of a held account; `WrongAccountKind` for any other kind.
    pub fn available_twin(&self) -> Result<Self, LedgerError> {
        let kind = self.kind.available().ok_or(LedgerError::WrongAccountKind {
            expected: "USER_HELD or SELLER_HELD",
            got: self.kind,
        })?;
        Ok(AccountRef {
            kind,
            ..self.clone()
        })
    }
}

impl fmt::Display for AccountRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.kind, self.owner_id, self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_only_balances_of_people_stay_positive() {
        for k in AccountKind::ALL {
            assert_eq!(AccountKind::parse(k.as_str()), Some(*k));
        }
        assert_eq!(AccountKind::parse("USER"), None);
        let never_negative: Vec<_> = AccountKind::ALL
            .iter()
            .filter(|k| !k.allows_negative())
            .collect();
        assert_eq!(
            never_negative,
            [
                &AccountKind::UserAvailable,
                &AccountKind::UserHeld,
                &AccountKind::SellerAvailable,
                &AccountKind::SellerHeld
            ]
        );
    }

    #[test]
    fn twins_pair_up_and_others_are_refused() {
        let u = AccountRef::user("u1", Currency::CNY).unwrap();
        let h = u.held_twin().unwrap();
        assert_eq!(h.kind(), AccountKind::UserHeld);
        assert_eq!(h.available_twin().unwrap(), u);
        assert!(u.available_twin().is_err());
        let c = AccountRef::clearing("wx-main", Currency::CNY).unwrap();
        assert!(matches!(
            c.held_twin(),
            Err(LedgerError::WrongAccountKind { .. })
        ));
    }

    #[test]
    fn owner_ids_are_checked() {
        assert!(AccountRef::user("", Currency::CNY).is_err());
        assert!(AccountRef::user("a b", Currency::CNY).is_err());
        assert!(AccountRef::user("é", Currency::CNY).is_err());
        assert!(AccountRef::user("x".repeat(65), Currency::CNY).is_err());
        assert!(AccountRef::user("x".repeat(64), Currency::CNY).is_ok());
        assert_eq!(
            AccountRef::seller("s-1", Currency::JPY)
                .unwrap()
                .to_string(),
            "SELLER_AVAILABLE:s-1:JPY"
        );
    }
}
