//! Records of the balance ledger: accounts, posted entries and their lines, statements,
//! and the outcomes of posting. The rules (what an account is, what balances) live in
//! `paydesk_core::ledger`; these are the stored shapes.

use paydesk_core::ledger::{AccountKind, AccountRef, EntryKind, JournalEntry};
use paydesk_core::Currency;

/// A ledger account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerAccount {
    /// Id (`la_...`).
    pub id: String,
    /// Its identity: kind, owner, currency.
    pub account: AccountRef,
    /// Whether the balance may go below zero (from the kind when opened).
    pub allow_negative: bool,
    /// The cached balance: always the sum of the account's lines (see
    /// [`crate::LedgerStore::verify_account`]). Signed minor units.
    pub balance_minor: i64,
    /// How many lines the account has; the last line carries this number.
    pub version: i64,
    /// When it was opened.
    pub created_at_ms: i64,
    /// Its last line's time (or the opening).
    pub updated_at_ms: i64,
}

/// An entry to post: the checked movement plus what it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJournalEntry {
    /// Id (`je_...`).
    pub id: String,
    /// The business line that caused it, or [`paydesk_core::ledger::PLATFORM_SCOPE`].
    pub business_line_id: String,
    /// The business record it belongs to (settlement number, payout id, order id), up to
    /// 64 characters.
    pub reference: String,
    /// Posted once per `(business_line_id, entry kind, idempotency_key)` for all time
    /// (`journal_entry_keys`, never archived). Up to 128 characters.
    pub idempotency_key: String,
    /// When.
    pub created_at_ms: i64,
    /// The lines (balanced by construction).
    pub entry: JournalEntry,
}

/// One stored line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedLine {
    /// 1-based position in the entry, as the caller ordered the lines.
    pub line_no: i64,
    /// The account.
    pub account_id: String,
    /// Signed minor units.
    pub amount_minor: i64,
    /// The account's currency.
    pub currency: Currency,
    /// The account's balance right after this line.
    pub balance_after_minor: i64,
    /// The account's version right after this line (its position in the account).
    pub account_version: i64,
}

/// A stored entry with its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostedEntry {
    /// Id (`je_...`).
    pub id: String,
    /// Why the money moved.
    pub kind: EntryKind,
    /// The business line (or `platform`).
    pub business_line_id: String,
    /// The business record.
    pub reference: String,
    /// Its idempotency key.
    pub idempotency_key: String,
    /// When.
    pub created_at_ms: i64,
    /// The lines, by `line_no`.
    pub lines: Vec<PostedLine>,
}

/// What posting an entry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostOutcome {
    /// Written: the entry, its lines, and every account's balance, in one transaction.
    Posted(PostedEntry),
    /// The idempotency key was used before; nothing was written. Carries the id of the
    /// entry that holds it (whatever its lines: the caller compares if it must).
    Duplicate {
        /// The entry posted under this key.
        entry_id: String,
    },
    /// The entry would take an account that may not go negative below zero; nothing was
    /// written.
    Insufficient {
        /// That account.
        account_id: String,
    },
}

/// One line of an account's statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    /// The entry.
    pub entry_id: String,
    /// Why the money moved.
    pub entry_kind: EntryKind,
    /// The entry's business line.
    pub business_line_id: String,
    /// The entry's business record.
    pub reference: String,
    /// When.
    pub created_at_ms: i64,
    /// Signed minor units on this account.
    pub amount_minor: i64,
    /// The balance right after.
    pub balance_after_minor: i64,
    /// The keyset cursor: pass the last one as `before_version` for the next page.
    pub account_version: i64,
}

/// The operator check of one account: the cached balance against its lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountCheck {
    /// The cached balance.
    pub balance_minor: i64,
    /// The account's version.
    pub version: i64,
    /// The sum of its lines.
    pub lines_sum_minor: i64,
    /// How many lines it has.
    pub lines: i64,
}

impl AccountCheck {
    /// Whether the cache agrees with the lines (sum, and one version per line).
    pub fn is_consistent(&self) -> bool {
        self.balance_minor == self.lines_sum_minor && self.version == self.lines
    }
}

/// Which accounts to list (for operators).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountFilter {
    /// Only this kind.
    pub kind: Option<AccountKind>,
    /// Only this owner.
    pub owner_id: Option<String>,
}
