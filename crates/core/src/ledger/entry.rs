//! Journal entries: one movement of money as lines that sum to zero per currency.

use super::account::{AccountKind, AccountRef};
use crate::money::Currency;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Most lines in one entry: the largest movement paydesk makes has four (a split
/// settlement); the bound keeps a posting's lock set small.
pub const MAX_LINES: usize = 16;

/// Largest magnitude of one line, minor units (10^15: ten trillion yuan). Far above any
/// real payment, and low enough that no balance can overflow `i64` before 9000 such
/// lines, which the store refuses anyway (`MAX_BALANCE_MINOR` there).
pub const MAX_LINE_MINOR: i64 = 1_000_000_000_000_000;

/// Why an entry (or an account reference) was refused. Each variant is a stable reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// An entry without lines.
    #[error("a journal entry needs lines")]
    Empty,
    /// A line of zero moves nothing and would only blur statements.
    #[error("zero line on {0}")]
    ZeroLine(String),
    /// The lines of one currency do not sum to zero.
    #[error("entry does not balance in {currency}: lines sum to {sum_minor}")]
    Unbalanced {
        /// The currency that does not balance.
        currency: Currency,
        /// What its lines sum to.
        sum_minor: i128,
    },
    /// The same account appears on two lines (merge them).
    #[error("account {0} appears twice in one entry")]
    DuplicateAccount(String),
    /// More lines than [`MAX_LINES`].
    #[error("too many lines: {0}")]
    TooManyLines(usize),
    /// A line larger than [`MAX_LINE_MINOR`] in magnitude.
    #[error("line amount {0} is out of range")]
    AmountTooLarge(i64),
    /// Two sides of one movement in different currencies.
    #[error("currency mismatch: {0} vs {1}")]
    CurrencyMismatch(Currency, Currency),
    /// An owner id that is empty, too long, or not printable ASCII.
    #[error("invalid ledger owner id `{0}`")]
    InvalidOwnerId(String),
    /// A movement was given an account of the wrong kind (a hold on a clearing account).
    #[error("expected a {expected} account, got {got}")]
    WrongAccountKind {
        /// What the movement needs.
        expected: &'static str,
        /// What it was given.
        got: AccountKind,
    },
    /// A movement of zero.
    #[error("a movement of zero")]
    ZeroAmount,
    /// A split (commission) larger than the amount it is taken from.
    #[error("part {part_minor} exceeds gross {gross_minor}")]
    SplitExceedsGross {
        /// The whole amount.
        gross_minor: i64,
        /// The part asked for.
        part_minor: i64,
    },
}

/// Why money moved. Stored with each entry; also the idempotency namespace (a key is
/// unique per business line and kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EntryKind {
    /// A buyer paid through a merchant account: external -> clearing.
    Acquiring,
    /// Money went back to a buyer: clearing -> external.
    Refund,
    /// The provider kept a fee: platform fees -> external.
    ProviderFee,
    /// A paid order's money went to its seller (and commission to the platform).
    Settlement,
    /// Money frozen for a withdrawal or a combined payment: available -> held.
    Hold,
    /// A hold given back (transfer failed or cancelled, order expired): held -> available.
    Release,
    /// A withdrawal paid out: held -> external.
    WithdrawalDebit,
    /// A platform payout paid: platform funding -> external.
    Payout,
    /// The platform topped up a funding account: external -> platform funding.
    Funding,
    /// Held money spent (the balance part of a combined payment): held -> anywhere.
    HoldCapture,
    /// An operator's correction: any balanced lines. The ledger is append-only, so a
    /// mistake is fixed by a new entry, never by editing one.
    Adjustment,
    /// The balance part of a combined or balance order refunded: clearing -> the buyer's
    /// available balance.
    BalanceRefund,
    /// The platform credited a user's balance (a reward, a compensation): platform funding
    /// -> user available.
    Credit,
}

impl EntryKind {
    /// Every kind.
    pub const ALL: &'static [Self] = &[
        Self::Acquiring,
        Self::Refund,
        Self::ProviderFee,
        Self::Settlement,
        Self::Hold,
        Self::Release,
        Self::WithdrawalDebit,
        Self::Payout,
        Self::Funding,
        Self::HoldCapture,
        Self::Adjustment,
        Self::BalanceRefund,
        Self::Credit,
    ];

    /// The stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Acquiring => "ACQUIRING",
            Self::Refund => "REFUND",
            Self::ProviderFee => "PROVIDER_FEE",
            Self::Settlement => "SETTLEMENT",
            Self::Hold => "HOLD",
            Self::Release => "RELEASE",
            Self::WithdrawalDebit => "WITHDRAWAL_DEBIT",
            Self::Payout => "PAYOUT",
            Self::Funding => "FUNDING",
            Self::HoldCapture => "HOLD_CAPTURE",
            Self::Adjustment => "ADJUSTMENT",
            Self::BalanceRefund => "BALANCE_REFUND",
            Self::Credit => "CREDIT",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

/// One line: a signed amount on one account, in the account's currency. Positive adds
/// to the account's balance, negative takes from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    /// The account.
    pub account: AccountRef,
    /// Signed minor units of the account's currency.
    pub amount_minor: i64,
}

impl Line {
    /// The line's currency (its account's).
    pub fn currency(&self) -> Currency {
        self.account.currency()
    }
}

/// A balanced journal entry. It can only be built by [`JournalEntry::new`] (or the
/// [`super::movements`] builders), so holding one means: at least two lines, none zero,
/// none out of range, each account once, and the lines of each currency sum to zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalEntry {
    kind: EntryKind,
    lines: Vec<Line>,
}

impl JournalEntry {
    /// Checks and builds an entry.
    pub fn new(kind: EntryKind, lines: Vec<Line>) -> Result<Self, LedgerError> {
        if lines.is_empty() {
            return Err(LedgerError::Empty);
        }
        if lines.len() > MAX_LINES {
            return Err(LedgerError::TooManyLines(lines.len()));
        }
        let mut seen = BTreeSet::new();
        // i128: a sum of up to MAX_LINES i64 values cannot overflow it.
        let mut sums: BTreeMap<Currency, i128> = BTreeMap::new();
        for l in &lines {
            if l.amount_minor == 0 {
                return Err(LedgerError::ZeroLine(l.account.to_string()));
            }
            if l.amount_minor.unsigned_abs() > MAX_LINE_MINOR.unsigned_abs() {
                return Err(LedgerError::AmountTooLarge(l.amount_minor));
            }
            if !seen.insert(&l.account) {
                return Err(LedgerError::DuplicateAccount(l.account.to_string()));
            }
            *sums.entry(l.currency()).or_default() += i128::from(l.amount_minor);
        }
        if let Some((&currency, &sum_minor)) = sums.iter().find(|(_, s)| **s != 0) {
            return Err(LedgerError::Unbalanced {
                currency,
                sum_minor,
            });
        }
        Ok(JournalEntry { kind, lines })
    }

    /// Why the money moved.
    pub fn kind(&self) -> EntryKind {
        self.kind
    }

    /// The lines, in the order given.
    pub fn lines(&self) -> &[Line] {
        &self.lines
    }

    /// The signed amount this entry puts on `account`, if it touches it.
    pub fn amount_on(&self, account: &AccountRef) -> Option<i64> {
        self.lines
            .iter()
            .find(|l| &l.account == account)
            .map(|l| l.amount_minor)
    }

    /// How much moves in `currency`: the sum of its positive lines (equal to minus the
    /// sum of its negative ones).
    pub fn moved_minor(&self, currency: Currency) -> i64 {
        self.lines
            .iter()
            .filter(|l| l.currency() == currency && l.amount_minor > 0)
            .map(|l| l.amount_minor)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(kind: AccountKind, owner: &str, c: Currency, minor: i64) -> Line {
        Line {
            account: AccountRef::new(kind, owner, c).unwrap(),
            amount_minor: minor,
        }
    }

    #[test]
    fn balanced_entries_are_built_and_everything_else_refused() {
        use AccountKind::*;
        use Currency::*;
        let ok = JournalEntry::new(
            EntryKind::Adjustment,
            vec![
                line(Clearing, "wx", CNY, -100),
                line(SellerAvailable, "s", CNY, 100),
                line(Clearing, "wx", USD, -5),
                line(SellerAvailable, "s", USD, 5),
            ],
        )
        .unwrap();
        assert_eq!(ok.moved_minor(CNY), 100);
        assert_eq!(ok.moved_minor(USD), 5);
        assert_eq!(
            ok.amount_on(&AccountRef::seller("s", CNY).unwrap()),
            Some(100)
        );

        assert_eq!(
            JournalEntry::new(EntryKind::Adjustment, vec![]),
            Err(LedgerError::Empty)
        );
        assert!(matches!(
            JournalEntry::new(
                EntryKind::Adjustment,
                vec![line(Clearing, "wx", CNY, 0), line(External, "wx", CNY, 0)]
            ),
            Err(LedgerError::ZeroLine(_))
        ));
        assert_eq!(
            JournalEntry::new(
                EntryKind::Adjustment,
                vec![line(Clearing, "wx", CNY, -1), line(External, "wx", CNY, 2)]
            ),
            Err(LedgerError::Unbalanced {
                currency: CNY,
                sum_minor: 1
            })
        );
        // Balanced in total but not per currency: a CNY debit cannot pay a USD credit.
        assert!(matches!(
            JournalEntry::new(
                EntryKind::Adjustment,
                vec![line(Clearing, "wx", CNY, -1), line(External, "wx", USD, 1)]
            ),
            Err(LedgerError::Unbalanced { .. })
        ));
        assert!(matches!(
            JournalEntry::new(
                EntryKind::Adjustment,
                vec![line(Clearing, "wx", CNY, -1), line(Clearing, "wx", CNY, 1)]
            ),
            Err(LedgerError::DuplicateAccount(_))
        ));
        assert!(matches!(
            JournalEntry::new(
                EntryKind::Adjustment,
                vec![
                    line(Clearing, "wx", CNY, -MAX_LINE_MINOR - 1),
                    line(External, "wx", CNY, MAX_LINE_MINOR + 1)
                ]
            ),
            Err(LedgerError::AmountTooLarge(_))
        ));
        assert!(matches!(
            JournalEntry::new(
                EntryKind::Adjustment,
                vec![
                    line(Clearing, "wx", CNY, i64::MIN),
                    line(External, "wx", CNY, 1)
                ]
            ),
            Err(LedgerError::AmountTooLarge(_))
        ));
        let many: Vec<Line> = (0..MAX_LINES + 1)
            .map(|i| line(Clearing, &format!("m{i}"), CNY, 1))
            .collect();
        assert_eq!(
            JournalEntry::new(EntryKind::Adjustment, many),
            Err(LedgerError::TooManyLines(MAX_LINES + 1))
        );
    }

    #[test]
    fn kinds_round_trip() {
        for k in EntryKind::ALL {
            assert_eq!(EntryKind::parse(k.as_str()), Some(*k));
        }
        assert_eq!(EntryKind::parse("hold"), None);
    }
}
