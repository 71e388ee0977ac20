//! Daily bills, parsed into normalized lines in paydesk's words.
//!
//! A [`BillFile`] as downloaded (WeChat's backquoted CSV, Alipay's zip of CSVs) becomes a
//! [`ParsedBill`]: one [`BillLine`] per payment or refund and the file's own
//! [`BillSummary`], which is checked against the lines (a truncated or altered file is
//! refused, never half-read). Bill files are outside input: every malformed line is a
//! [`BillParseError`] naming the file and line, never a panic.
//!
//! Columns are found by their header names, not positions, so WeChat's `ALL`, `SUCCESS`
//! and `REFUND` layouts (which differ in columns) all parse. Times in bills are China
//! Standard Time (UTC+8) and are returned as UTC-aware instants.

mod alipay;
mod wechat;
mod zip;

use crate::model::{BillFile, BillFormat};
use paydesk_core::money::Currency;
use time::OffsetDateTime;

/// Largest bill a parser accepts once unpacked, in bytes (a bound against zip bombs).
pub const MAX_UNPACKED_BYTES: usize = 1 << 30;

/// What a bill line is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BillLineKind {
    /// Money in: a payment of one of our attempts (`out_trade_no`).
    Payment,
    /// Money back: a refund of a payment (`out_refund_no` / `out_request_no`).
    Refund,
}

impl BillLineKind {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payment => "PAYMENT",
            Self::Refund => "REFUND",
        }
    }

    /// Parses the stable name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PAYMENT" => Some(Self::Payment),
            "REFUND" => Some(Self::Refund),
            _ => None,
        }
    }
}

/// The state a bill line reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BillLineStatus {
    /// Paid / refunded.
    Succeeded,
    /// A refund still in progress (WeChat `PROCESSING`).
    Processing,
    /// Closed or revoked without money moving (WeChat `REVOKED`, refund `CLOSED`).
    Closed,
    /// Needs a person (WeChat refund `ABNORMAL` / `CHANGE`).
    Abnormal,
}

impl BillLineStatus {
    /// The stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "SUCCEEDED",
            Self::Processing => "PROCESSING",
            Self::Closed => "CLOSED",
            Self::Abnormal => "ABNORMAL",
        }
    }
}

/// One payment or refund as the provider's bill reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillLine {
    /// Payment or refund.
    pub kind: BillLineKind,
    /// Our attempt number (`out_trade_no`): for a refund, the payment refunded.
    pub attempt_no: String,
    /// The provider's transaction id of the payment.
    pub provider_txn_id: String,
    /// Our refund number (WeChat `out_refund_no`, Alipay `out_request_no`), refunds only.
    pub refund_no: Option<String>,
    /// The provider's refund id, when the bill has one (WeChat).
    pub provider_refund_id: Option<String>,
    /// The payment's order amount, or the refund's requested amount; minor units, never
    /// negative (the sign is the kind).
    pub amount_minor: i64,
    /// The fee charged to the merchant for this line, minor units; negative when a refund
    /// gives a fee back.
    pub fee_minor: i64,
    /// The currency of both amounts.
    pub currency: Currency,
    /// The state the line reports.
    pub status: BillLineStatus,
    /// When the provider says it happened (its bill time, China time, as an instant).
    pub at: OffsetDateTime,
    /// Where in the file (`file:line`), for operators.
    pub source: String,
}

/// The totals a bill states about itself; parsing checks the lines against them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct BillSummary {
    /// Payment lines.
    pub payment_count: u64,
    /// Refund lines.
    pub refund_count: u64,
    /// Sum of payment amounts, minor units.
    pub payment_total_minor: i64,
    /// Sum of refund amounts, minor units (positive).
    pub refund_total_minor: i64,
    /// Sum of fees, minor units.
    pub fee_total_minor: i64,
}

/// A bill, parsed and checked against its own summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedBill {
    /// Every payment and refund line, in file order.
    pub lines: Vec<BillLine>,
    /// The totals the file states (equal to the lines' by construction).
    pub summary: BillSummary,
}

/// Why a bill could not be read. Carries the file (and line) so an operator can look.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillParseError {
    /// One line is malformed.
    #[error("bill {file}, line {line}: {reason}")]
    Line {
        /// The file (a zip member's name for Alipay).
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The file as a whole is unusable (not UTF-8, no header, a broken zip...).
    #[error("bill {file}: {reason}")]
    File {
        /// The file.
        file: String,
        /// What is wrong.
        reason: String,
    },
    /// The lines do not add up to the totals the file states (truncated or altered).
    #[error("bill {file}: lines do not tie out to the stated totals: {reason}")]
    Totals {
        /// The file.
        file: String,
        /// Which total differs.
        reason: String,
    },
}

/// Parses a downloaded bill file of either provider.
pub fn parse(file: &BillFile) -> Result<ParsedBill, BillParseError> {
    match file.format {
        BillFormat::WechatCsv => wechat::parse(&file.bytes),
        BillFormat::AlipayZip => alipay::parse(&file.bytes),
    }
}

/// The summary the lines themselves add up to.
fn summarize(lines: &[BillLine]) -> Option<BillSummary> {
    let mut s = BillSummary::default();
    for l in lines {
        match l.kind {
            BillLineKind::Payment => {
                s.payment_count += 1;
                s.payment_total_minor = s.payment_total_minor.checked_add(l.amount_minor)?;
            }
            BillLineKind::Refund => {
                s.refund_count += 1;
                s.refund_total_minor = s.refund_total_minor.checked_add(l.amount_minor)?;
            }
        }
        s.fee_total_minor = s.fee_total_minor.checked_add(l.fee_minor)?;
    }
    Some(s)
}

/// One total a format states: its name and how to read it from a summary.
type Total<'a> = (&'a str, fn(&BillSummary) -> i128);

/// Compares the stated totals with the lines'; `compare` says which totals the format
/// states (Alipay's summary has no separate fee total per kind, WeChat no per-kind count).
fn check_totals(
    file: &str,
    stated: &BillSummary,
    lines: &[BillLine],
    compare: &[Total<'_>],
) -> Result<(), BillParseError> {
    let actual = summarize(lines).ok_or_else(|| BillParseError::Totals {
        file: file.into(),
        reason: "the sum of the lines overflows".into(),
    })?;
    for (name, get) in compare {
        if get(stated) != get(&actual) {
            return Err(BillParseError::Totals {
                file: file.into(),
                reason: format!(
                    "{name}: the file states {}, its lines add up to {}",
                    get(stated),
                    get(&actual)
                ),
            });
        }
    }
    Ok(())
}

/// `yyyy-MM-dd HH:mm:ss` in China time.
fn china_time(text: &str) -> Option<OffsetDateTime> {
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]");
    time::PrimitiveDateTime::parse(text.trim(), &fmt)
        .ok()
        .map(|t| t.assume_offset(time::macros::offset!(+8)))
}

/// Splits text into lines (CRLF or LF), 1-based, without the line ends.
fn numbered_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate()
        .map(|(i, l)| (i + 1, l))
}

/// Column positions found by header name.
struct Columns<'h> {
    names: Vec<&'h str>,
}

impl<'h> Columns<'h> {
    fn new(header: &'h [String]) -> Self {
        Columns {
            names: header.iter().map(|s| s.trim()).collect(),
        }
    }

    fn find(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| *n == name)
    }

    fn require(&self, file: &str, name: &str) -> Result<usize, BillParseError> {
        self.find(name).ok_or_else(|| BillParseError::File {
            file: file.into(),
            reason: format!("the header has no `{name}` column"),
        })
    }
}

#[cfg(test)]
mod tests;
