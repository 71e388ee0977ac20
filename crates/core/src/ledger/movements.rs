//! Builders for the entries paydesk posts. Each returns a checked [`JournalEntry`] or the
//! reason it cannot exist; none can produce an unbalanced entry.
//!
//! | movement | entry kind | lines |
//! |---|---|---|
//! | [`acquiring`] | `ACQUIRING` | external(M) -a, clearing(M) +a |
//! | [`refund`] | `REFUND` | clearing(M) -a, external(M) +a |
//! | [`provider_fee`] | `PROVIDER_FEE` | platform fees(M) -a, external(M) +a |
//! | [`settle`] | `SETTLEMENT` | source -gross, seller +(gross - c), commission(BL) +c |
//! | [`hold`] | `HOLD` | available -a, held +a |
//! | [`release`] | `RELEASE` | held -a, available +a |
//! | [`withdrawal_debit`] | `WITHDRAWAL_DEBIT` | held -a, external(M) +a |
//! | [`payout`] | `PAYOUT` | funding(BL) -a, external(M) +a |
//! | [`fund`] | `FUNDING` | external(M) -a, funding(BL) +a |
//! | [`capture_hold`] | `HOLD_CAPTURE` | held -a, target +a |
//! | [`balance_refund`] | `BALANCE_REFUND` | clearing(C) -a, user available +a |
//! | [`credit`] | `CREDIT` | funding(BL) -a, user available +a |
//!
//! M is a merchant account id, BL a business line id. A withdrawal or payout posts
//! nothing while its transfer is in flight (the hold keeps the money out of reach); it is
//! debited only when the provider confirms success, and released when it confirms
//! failure or cancellation.

use super::account::AccountKind::{Clearing, External, PlatformFees, PlatformFunding};
use super::account::{AccountKind, AccountRef};
use super::entry::{EntryKind, JournalEntry, LedgerError, Line};
use crate::money::Amount;

/// The minor units of a movement, which must not be zero.
fn nonzero(amount: Amount) -> Result<i64, LedgerError> {
    if amount.is_zero() {
        Err(LedgerError::ZeroAmount)
    } else {
        Ok(amount.minor())
    }
}

fn same_currency(account: &AccountRef, amount: Amount) -> Result<(), LedgerError> {
    if account.currency() == amount.currency() {
        Ok(())
    } else {
        Err(LedgerError::CurrencyMismatch(
            account.currency(),
            amount.currency(),
        ))
    }
}

/// `amount` from `from` to `to`: the building block of every two-line movement. Both
/// accounts and the amount must share one currency.
pub fn transfer(
    kind: EntryKind,
    from: &AccountRef,
    to: &AccountRef,
    amount: Amount,
) -> Result<JournalEntry, LedgerError> {
    same_currency(from, amount)?;
    same_currency(to, amount)?;
    let minor = nonzero(amount)?;
    JournalEntry::new(
        kind,
        vec![
            Line {
                account: from.clone(),
                amount_minor: -minor,
            },
            Line {
                account: to.clone(),
                amount_minor: minor,
            },
        ],
    )
}

/// A [`transfer`] of `amount` between two platform accounts given as `(kind, owner id)`,
/// both in `amount`'s currency (the from account is checked first).
fn between(
    kind: EntryKind,
    (from_kind, from_owner): (AccountKind, &str),
    (to_kind, to_owner): (AccountKind, &str),
    amount: Amount,
) -> Result<JournalEntry, LedgerError> {
    let c = amount.currency();
    transfer(
        kind,
        &AccountRef::new(from_kind, from_owner, c)?,
        &AccountRef::new(to_kind, to_owner, c)?,
        amount,
    )
}

/// A buyer paid `amount` through merchant account `merchant_account`.
pub fn acquiring(merchant_account: &str, amount: Amount) -> Result<JournalEntry, LedgerError> {
    let m = merchant_account;
    between(EntryKind::Acquiring, (External, m), (Clearing, m), amount)
}

/// `amount` went back to a buyer through `merchant_account`.
pub fn refund(merchant_account: &str, amount: Amount) -> Result<JournalEntry, LedgerError> {
    let m = merchant_account;
    between(EntryKind::Refund, (Clearing, m), (External, m), amount)
}

/// The provider kept `amount` as its fee on `merchant_account`; the platform bears it.
pub fn provider_fee(merchant_account: &str, amount: Amount) -> Result<JournalEntry, LedgerError> {
    let m = merchant_account;
    between(
        EntryKind::ProviderFee,
        (PlatformFees, m),
        (External, m),
        amount,
    )
}

/// A paid order's `gross` goes from `source` (its merchant account's clearing account,
/// or held balance for a balance payment) to the seller's available balance, less an
/// optional commission `(business line id, amount)` that goes to the platform.
/// A commission of the whole gross leaves the seller nothing (and no line).
pub fn settle(
    source: &AccountRef,
    seller_id: &str,
    gross: Amount,
    commission: Option<(&str, Amount)>,
) -> Result<JournalEntry, LedgerError> {
    if !matches!(
        source.kind(),
        AccountKind::Clearing | AccountKind::UserHeld | AccountKind::SellerHeld
    ) {
        return Err(LedgerError::WrongAccountKind {
            expected: "CLEARING, USER_HELD or SELLER_HELD",
            got: source.kind(),
        });
    }
    same_currency(source, gross)?;
    let gross_minor = nonzero(gross)?;
    let c = gross.currency();
    let mut lines = vec![Line {
        account: source.clone(),
        amount_minor: -gross_minor,
    }];
    let mut commission_minor = 0;
    if let Some((business_line_id, cut)) = commission {
        if cut.currency() != c {
            return Err(LedgerError::CurrencyMismatch(c, cut.currency()));
        }
        if cut.minor() > gross_minor {
            return Err(LedgerError::SplitExceedsGross {
                gross_minor,
                part_minor: cut.minor(),
            });
        }
        commission_minor = cut.minor();
        if commission_minor > 0 {
            lines.push(Line {
                account: AccountRef::platform_commission(business_line_id, c)?,
                amount_minor: commission_minor,
            });
        }
    }
    let seller_minor = gross_minor - commission_minor;
    if seller_minor > 0 {
        lines.push(Line {
            account: AccountRef::seller(seller_id, c)?,
            amount_minor: seller_minor,
        });
    }
    JournalEntry::new(EntryKind::Settlement, lines)
}

/// Freezes `amount` of an available balance (user or seller): available -> held.
pub fn hold(available: &AccountRef, amount: Amount) -> Result<JournalEntry, LedgerError> {
    transfer(EntryKind::Hold, available, &available.held_twin()?, amount)
}

/// Gives a hold back: held -> available.
pub fn release(available: &AccountRef, amount: Amount) -> Result<JournalEntry, LedgerError> {
    transfer(
        EntryKind::Release,
        &available.held_twin()?,
        available,
        amount,
    )
}

/// A withdrawal from `available`'s owner succeeded through `merchant_account`: the held
/// money leaves the platform.
pub fn withdrawal_debit(
    available: &AccountRef,
    merchant_account: &str,
    amount: Amount,
) -> Result<JournalEntry, LedgerError> {
    transfer(
        EntryKind::WithdrawalDebit,
        &available.held_twin()?,
        &AccountRef::external(merchant_account, amount.currency())?,
        amount,
    )
}

/// A platform payout of `business_line_id` succeeded through `merchant_account`.
pub fn payout(
    business_line_id: &str,
    merchant_account: &str,
    amount: Amount,
) -> Result<JournalEntry, LedgerError> {
    let (bl, m) = (business_line_id, merchant_account);
    between(
        EntryKind::Payout,
        (PlatformFunding, bl),
        (External, m),
        amount,
    )
}

/// The platform put `amount` into `merchant_account` for `business_line_id`'s payouts.
pub fn fund(
    business_line_id: &str,
    merchant_account: &str,
    amount: Amount,
) -> Result<JournalEntry, LedgerError> {
    let (bl, m) = (business_line_id, merchant_account);
    between(
        EntryKind::Funding,
        (External, m),
        (PlatformFunding, bl),
        amount,
    )
}

/// Spends held money: held -> `to` (the balance part of a combined payment goes to the
/// order's clearing account, then settles with the rest).
pub fn capture_hold(
    available: &AccountRef,
    to: &AccountRef,
    amount: Amount,
) -> Result<JournalEntry, LedgerError> {
    transfer(EntryKind::HoldCapture, &available.held_twin()?, to, amount)
}

/// `amount` of a refund goes back to a buyer's available balance (`user`) from the
/// clearing account of `clearing_owner` (the merchant account the order was paid at, or
/// [`crate::balance_part::BALANCE_CLEARING_OWNER`] for a `BALANCE` order).
pub fn balance_refund(
    clearing_owner: &str,
    user: &AccountRef,
    amount: Amount,
) -> Result<JournalEntry, LedgerError> {
    if user.kind() != AccountKind::UserAvailable {
        return Err(LedgerError::WrongAccountKind {
            expected: "USER_AVAILABLE",
            got: user.kind(),
        });
    }
    transfer(
        EntryKind::BalanceRefund,
        &AccountRef::new(Clearing, clearing_owner, amount.currency())?,
        user,
        amount,
    )
}

/// `business_line_id` credits `amount` to `user_id`'s available balance from its funding
/// account.
pub fn credit(
    business_line_id: &str,
    user_id: &str,
    amount: Amount,
) -> Result<JournalEntry, LedgerError> {
    between(
        EntryKind::Credit,
        (PlatformFunding, business_line_id),
        (AccountKind::UserAvailable, user_id),
        amount,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    fn cny(minor: i64) -> Amount {
        Amount::new(minor, Currency::CNY).unwrap()
    }

    fn lines(e: &JournalEntry) -> Vec<(String, i64)> {
        e.lines()
            .iter()
            .map(|l| (l.account.to_string(), l.amount_minor))
            .collect()
    }

    #[test]
    fn each_movement_has_the_documented_lines() {
        let s = |a: &str, m: i64| (a.to_string(), m);
        assert_eq!(
            lines(&acquiring("wx", cny(100)).unwrap()),
            [s("EXTERNAL:wx:CNY", -100), s("CLEARING:wx:CNY", 100)]
        );
        assert_eq!(
            lines(&refund("wx", cny(40)).unwrap()),
            [s("CLEARING:wx:CNY", -40), s("EXTERNAL:wx:CNY", 40)]
        );
        assert_eq!(
            lines(&provider_fee("wx", cny(1)).unwrap()),
            [s("PLATFORM_FEES:wx:CNY", -1), s("EXTERNAL:wx:CNY", 1)]
        );
        let clearing = AccountRef::clearing("wx", Currency::CNY).unwrap();
        assert_eq!(
            lines(&settle(&clearing, "s1", cny(100), Some(("bl", cny(10)))).unwrap()),
            [
                s("CLEARING:wx:CNY", -100),
                s("PLATFORM_COMMISSION:bl:CNY", 10),
                s("SELLER_AVAILABLE:s1:CNY", 90)
            ]
        );
        assert_eq!(
            lines(&settle(&clearing, "s1", cny(100), None).unwrap()),
            [
                s("CLEARING:wx:CNY", -100),
                s("SELLER_AVAILABLE:s1:CNY", 100)
            ]
        );
        assert_eq!(
            lines(&settle(&clearing, "s1", cny(100), Some(("bl", cny(100)))).unwrap()),
            [
                s("CLEARING:wx:CNY", -100),
                s("PLATFORM_COMMISSION:bl:CNY", 100)
            ]
        );
        let user = AccountRef::user("u1", Currency::CNY).unwrap();
        assert_eq!(
            lines(&hold(&user, cny(30)).unwrap()),
            [s("USER_AVAILABLE:u1:CNY", -30), s("USER_HELD:u1:CNY", 30)]
        );
        assert_eq!(
            lines(&release(&user, cny(30)).unwrap()),
            [s("USER_HELD:u1:CNY", -30), s("USER_AVAILABLE:u1:CNY", 30)]
        );
        assert_eq!(
            lines(&withdrawal_debit(&user, "wx", cny(30)).unwrap()),
            [s("USER_HELD:u1:CNY", -30), s("EXTERNAL:wx:CNY", 30)]
        );
        assert_eq!(
            lines(&payout("bl", "wx", cny(7)).unwrap()),
            [s("PLATFORM_FUNDING:bl:CNY", -7), s("EXTERNAL:wx:CNY", 7)]
        );
        assert_eq!(
            lines(&fund("bl", "wx", cny(7)).unwrap()),
            [s("EXTERNAL:wx:CNY", -7), s("PLATFORM_FUNDING:bl:CNY", 7)]
        );
        assert_eq!(
            lines(&capture_hold(&user, &clearing, cny(5)).unwrap()),
            [s("USER_HELD:u1:CNY", -5), s("CLEARING:wx:CNY", 5)]
        );
        assert_eq!(
            lines(&balance_refund("wx", &user, cny(4)).unwrap()),
            [s("CLEARING:wx:CNY", -4), s("USER_AVAILABLE:u1:CNY", 4)]
        );
        assert!(balance_refund("wx", &user.held_twin().unwrap(), cny(4)).is_err());
        assert_eq!(
            lines(&credit("bl", "u1", cny(9)).unwrap()),
            [
                s("PLATFORM_FUNDING:bl:CNY", -9),
                s("USER_AVAILABLE:u1:CNY", 9)
            ]
        );
    }

    #[test]
    fn bad_movements_are_refused() {
        let clearing = AccountRef::clearing("wx", Currency::CNY).unwrap();
        let usd = Amount::new(5, Currency::USD).unwrap();
        assert_eq!(acquiring("wx", cny(0)), Err(LedgerError::ZeroAmount));
        assert_eq!(
            settle(&clearing, "s1", cny(10), Some(("bl", cny(11)))),
            Err(LedgerError::SplitExceedsGross {
                gross_minor: 10,
                part_minor: 11
            })
        );
        assert_eq!(
            settle(&clearing, "s1", cny(10), Some(("bl", usd))),
            Err(LedgerError::CurrencyMismatch(Currency::CNY, Currency::USD))
        );
        assert_eq!(
            settle(&clearing, "s1", usd, None),
            Err(LedgerError::CurrencyMismatch(Currency::CNY, Currency::USD))
        );
        let ext = AccountRef::external("wx", Currency::CNY).unwrap();
        assert!(matches!(
            settle(&ext, "s1", cny(1), None),
            Err(LedgerError::WrongAccountKind { .. })
        ));
        assert!(matches!(
            hold(&clearing, cny(1)),
            Err(LedgerError::WrongAccountKind { .. })
        ));
        let user = AccountRef::user("u1", Currency::CNY).unwrap();
        assert_eq!(
            hold(&user, usd),
            Err(LedgerError::CurrencyMismatch(Currency::CNY, Currency::USD))
        );
        assert!(matches!(
            acquiring("bad id", cny(1)),
            Err(LedgerError::InvalidOwnerId(_))
        ));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Acquire(u8, i64),
        Refund(u8, i64),
        Fee(u8, i64),
        Settle(u8, u8, i64, i64),
        Hold(u8, i64),
        Release(u8, i64),
        Debit(u8, u8, i64),
        Payout(u8, i64),
        Fund(u8, i64),
        Capture(u8, u8, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        let m = 0..3u8;
        let a = 0..1_000i64;
        prop_oneof![
            (m.clone(), a.clone()).prop_map(|(m, a)| Op::Acquire(m, a)),
            (m.clone(), a.clone()).prop_map(|(m, a)| Op::Refund(m, a)),
            (m.clone(), a.clone()).prop_map(|(m, a)| Op::Fee(m, a)),
            (m.clone(), 0..4u8, a.clone(), 0..1_200i64)
                .prop_map(|(m, s, a, c)| Op::Settle(m, s, a, c)),
            (0..4u8, a.clone()).prop_map(|(u, a)| Op::Hold(u, a)),
            (0..4u8, a.clone()).prop_map(|(u, a)| Op::Release(u, a)),
            (0..4u8, m.clone(), a.clone()).prop_map(|(u, m, a)| Op::Debit(u, m, a)),
            (m.clone(), a.clone()).prop_map(|(m, a)| Op::Payout(m, a)),
            (m.clone(), a.clone()).prop_map(|(m, a)| Op::Fund(m, a)),
            (0..4u8, m, a).prop_map(|(u, m, a)| Op::Capture(u, m, a)),
        ]
    }

    fn build(op: &Op, c: Currency) -> Result<JournalEntry, LedgerError> {
        let amt = |a: i64| Amount::new(a, c).unwrap();
        let ma = |m: u8| format!("ma{m}");
        let user = |u: u8| AccountRef::user(format!("u{u}"), c).unwrap();
        match *op {
            Op::Acquire(m, a) => acquiring(&ma(m), amt(a)),
            Op::Refund(m, a) => refund(&ma(m), amt(a)),
            Op::Fee(m, a) => provider_fee(&ma(m), amt(a)),
            Op::Settle(m, s, a, cut) => settle(
                &AccountRef::clearing(ma(m), c).unwrap(),
                &format!("s{s}"),
                amt(a),
                Some(("bl", amt(cut))),
            ),
            Op::Hold(u, a) => hold(&user(u), amt(a)),
            Op::Release(u, a) => release(&user(u), amt(a)),
            Op::Debit(u, m, a) => withdrawal_debit(&user(u), &ma(m), amt(a)),
            Op::Payout(m, a) => payout("bl", &ma(m), amt(a)),
            Op::Fund(m, a) => fund("bl", &ma(m), amt(a)),
            Op::Capture(u, m, a) => {
                capture_hold(&user(u), &AccountRef::clearing(ma(m), c).unwrap(), amt(a))
            }
        }
    }

    proptest! {
        /// Whatever sequence of movements is built, every entry that exists balances per
        /// currency, moves exactly its amount, and all balances together stay at zero.
        #[test]
        fn random_movements_always_balance(
            ops in proptest::collection::vec((op(), prop_oneof![Just(Currency::CNY), Just(Currency::JPY)]), 1..60)
        ) {
            let mut balances: BTreeMap<AccountRef, i64> = BTreeMap::new();
            for (op, c) in &ops {
                match build(op, *c) {
                    Ok(e) => {
                        let mut per: BTreeMap<_, i128> = BTreeMap::new();
                        for l in e.lines() {
                            prop_assert_ne!(l.amount_minor, 0);
                            *per.entry(l.currency()).or_default() += i128::from(l.amount_minor);
                            *balances.entry(l.account.clone()).or_default() += l.amount_minor;
                        }
                        prop_assert!(per.values().all(|s| *s == 0), "{:?}", e);
                        prop_assert!(e.lines().len() >= 2);
                        // Rebuilding from its own lines is accepted: the check is stable.
                        let rebuilt = JournalEntry::new(e.kind(), e.lines().to_vec());
                        prop_assert_eq!(rebuilt, Ok(e.clone()));
                    }
                    Err(err) => {
                        // Only zero amounts and over-large commissions are refused here.
                        prop_assert!(
                            matches!(err, LedgerError::ZeroAmount | LedgerError::SplitExceedsGross { .. }),
                            "{err:?} for {op:?}"
                        );
                    }
                }
            }
            for c in [Currency::CNY, Currency::JPY] {
                let total: i64 = balances.iter().filter(|(a, _)| a.currency() == c).map(|(_, b)| b).sum();
                prop_assert_eq!(total, 0);
            }
        }
    }
}
