//! Matching a bill with paydesk's records, pure: every bill line and every paydesk record
//! of the day lands in exactly one bucket (matched, missing on one side, or differing), so
//! both sides' totals tie out by construction (and `RunTotals::ties_out` checks it).
//!
//! Records are keyed by what both sides share: a payment by our attempt number
//! (`out_trade_no`), a refund by our refund number. Payout lines (the ledger's transfers,
//! keyed by payout number) are a third [`RecordKind`] to add here when payouts are
//! reconciled: a key, a paydesk lookup and the same comparisons.

use paydesk_core::ids;
use paydesk_providers::bill::{BillLine, BillLineKind, BillLineStatus};
use paydesk_store::{DifferenceKind, NewDifference, PaydeskRecord, RecordKind, RunTotals};
use std::collections::HashMap;

/// What identifies a record on both sides.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A payment, by attempt number.
    Payment(String),
    /// A refund, by refund number.
    Refund(String),
}

impl Key {
    /// The key of a bill line (a refund line without a refund number is refused by the
    /// parser, so `None` never happens for parsed bills).
    pub fn of_line(line: &BillLine) -> Option<Key> {
        match line.kind {
            BillLineKind::Payment => Some(Key::Payment(line.attempt_no.clone())),
            BillLineKind::Refund => line.refund_no.clone().map(Key::Refund),
        }
    }

    /// The key of a paydesk record.
    pub fn of_record(r: &PaydeskRecord) -> Option<Key> {
        match r.record_kind {
            RecordKind::Payment => Some(Key::Payment(r.attempt_no.clone())),
            RecordKind::Refund => r.refund_no.clone().map(Key::Refund),
        }
    }
}

/// A difference found, and whether paydesk may settle it itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// The difference to record.
    pub difference: NewDifference,
    /// The provider reports a success that paydesk holds as not (yet) done: asking the
    /// provider through the normal flow settles it.
    pub settle: Option<Key>,
}

/// The outcome of matching a day.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Matched {
    /// Both sides' totals.
    pub totals: RunTotals,
    /// Every difference, bill lines first (in file order), then paydesk-only records.
    pub found: Vec<Found>,
}

/// The fee paydesk expects for an amount at `ppm` parts per million, rounded half up to
/// the minor unit (refunds give the fee back: negative).
pub fn expected_fee(kind: BillLineKind, amount_minor: i64, ppm: u32) -> i64 {
    let fee = (i128::from(amount_minor) * i128::from(ppm) + 500_000) / 1_000_000;
    let fee = i64::try_from(fee).unwrap_or(i64::MAX);
    match kind {
        BillLineKind::Payment => fee,
        BillLineKind::Refund => -fee,
    }
}

fn signed(kind: RecordKind, amount_minor: i64) -> i64 {
    match kind {
        RecordKind::Payment => amount_minor,
        RecordKind::Refund => -amount_minor,
    }
}

fn record_kind(kind: BillLineKind) -> RecordKind {
    match kind {
        BillLineKind::Payment => RecordKind::Payment,
        BillLineKind::Refund => RecordKind::Refund,
    }
}

/// What paydesk has booked for a record: its amount once it succeeded, nothing before.
fn booked(r: &PaydeskRecord) -> i64 {
    if r.succeeded {
        signed(r.record_kind, r.amount_minor)
    } else {
        0
    }
}

fn difference(
    kind: DifferenceKind,
    line: Option<&BillLine>,
    record: Option<&PaydeskRecord>,
    expected_fee_minor: Option<i64>,
) -> NewDifference {
    let record_kind = line
        .map(|l| record_kind(l.kind))
        .or(record.map(|r| r.record_kind))
        .unwrap_or(RecordKind::Payment);
    NewDifference {
        id: ids::new_id("rcd"),
        kind,
        record_kind,
        attempt_no: line
            .map(|l| l.attempt_no.clone())
            .or(record.map(|r| r.attempt_no.clone()))
            .unwrap_or_default(),
        refund_no: line
            .and_then(|l| l.refund_no.clone())
            .or(record.and_then(|r| r.refund_no.clone())),
        provider_txn_id: line
            .map(|l| l.provider_txn_id.clone())
            .filter(|t| !t.is_empty())
            .or(record.and_then(|r| r.provider_txn_id.clone())),
        provider_amount_minor: line.map(|l| l.amount_minor),
        paydesk_amount_minor: record.map(|r| r.amount_minor),
        provider_fee_minor: line.map(|l| l.fee_minor),
        paydesk_fee_minor: expected_fee_minor,
        provider_status: line.map(|l| l.status.as_str().to_owned()),
        paydesk_status: record.map(|r| r.status.clone()),
        source: line.map(|l| l.source.clone()),
    }
}

/// Matches `lines` (the bill) with `day` (paydesk's successes of the bill day) and
/// `known` (paydesk's records the bill names that are not among `day`: other days, or
/// not succeeded). `fee_rate_ppm`: the agreed fee, if fees are checked.
///
/// Sums saturate rather than overflow on a hostile bill: totals pushed to the limit no
/// longer tie out, and the store refuses to finish such a run, so it fails loudly.
pub fn match_day(
    lines: &[BillLine],
    day: &[PaydeskRecord],
    known: &HashMap<Key, PaydeskRecord>,
    fee_rate_ppm: Option<u32>,
) -> Matched {
    let mut out = Matched::default();
    let t = &mut out.totals;
    let mut day_by_key: HashMap<Key, &PaydeskRecord> = HashMap::new();
    for r in day {
        if let Some(k) = Key::of_record(r) {
            day_by_key.insert(k, r);
        }
    }
    let mut used: std::collections::HashSet<Key> = std::collections::HashSet::new();
    for line in lines {
        let provider_signed = signed(record_kind(line.kind), line.amount_minor);
        t.provider_count += 1;
        t.provider_net_minor = t.provider_net_minor.saturating_add(provider_signed);
        let key = Key::of_line(line);
        let record = key.as_ref().and_then(|k| {
            if used.contains(k) {
                // The same record twice on the bill: the second line has no partner.
                return None;
            }
            day_by_key.get(k).copied().or_else(|| known.get(k))
        });
        let Some(record) = record else {
            t.missing_in_paydesk_count += 1;
            t.missing_in_paydesk_net_minor = t
                .missing_in_paydesk_net_minor
                .saturating_add(provider_signed);
            out.found.push(Found {
                difference: difference(DifferenceKind::MissingInPaydesk, Some(line), None, None),
                settle: None,
            });
            continue;
        };
        if let Some(k) = &key {
            used.insert(k.clone());
        }
        t.paydesk_count += 1;
        let paydesk_signed = booked(record);
        let fee = fee_rate_ppm.map(|ppm| expected_fee(line.kind, line.amount_minor, ppm));
        let provider_done = line.status == BillLineStatus::Succeeded;
        let kind = if provider_done != record.succeeded {
            Some(DifferenceKind::StatusDiffers)
        } else if line.amount_minor != record.amount_minor {
            Some(DifferenceKind::AmountDiffers)
        } else if fee.is_some_and(|f| f != line.fee_minor) {
            Some(DifferenceKind::FeeDiffers)
        } else {
            None
        };
        match kind {
            None => {
                t.matched_count += 1;
                t.matched_net_minor = t.matched_net_minor.saturating_add(provider_signed);
            }
            Some(kind) => {
                t.differing_count += 1;
                t.differing_provider_net_minor = t
                    .differing_provider_net_minor
                    .saturating_add(provider_signed);
                t.differing_paydesk_net_minor =
                    t.differing_paydesk_net_minor.saturating_add(paydesk_signed);
                // Safe to settle: the provider reports success, paydesk knows the record
                // but has not recorded it as done. Asking the provider (our own signed
                // query) and applying its answer through the normal flow is exactly what
                // the active query would have done.
                let settle =
                    (kind == DifferenceKind::StatusDiffers && provider_done && !record.succeeded)
                        .then(|| key.clone())
                        .flatten();
                out.found.push(Found {
                    difference: difference(kind, Some(line), Some(record), fee),
                    settle,
                });
            }
        }
    }
    for r in day {
        let Some(k) = Key::of_record(r) else { continue };
        if used.contains(&k) {
            continue;
        }
        t.paydesk_count += 1;
        t.paydesk_net_minor = t.paydesk_net_minor.saturating_add(booked(r));
        t.missing_at_provider_count += 1;
        t.missing_at_provider_net_minor = t.missing_at_provider_net_minor.saturating_add(booked(r));
        out.found.push(Found {
            difference: difference(DifferenceKind::MissingAtProvider, None, Some(r), None),
            settle: None,
        });
    }
    // The paydesk side's net: matched and differing pairs, plus paydesk-only records.
    t.paydesk_net_minor = t
        .paydesk_net_minor
        .saturating_add(t.matched_net_minor)
        .saturating_add(t.differing_paydesk_net_minor);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use paydesk_core::Currency;
    use time::macros::datetime;

    fn line(kind: BillLineKind, no: &str, refund: Option<&str>, amount: i64) -> BillLine {
        BillLine {
            kind,
            attempt_no: no.into(),
            provider_txn_id: format!("tx-{no}"),
            refund_no: refund.map(Into::into),
            provider_refund_id: None,
            amount_minor: amount,
            fee_minor: 0,
            currency: Currency::CNY,
            status: BillLineStatus::Succeeded,
            at: datetime!(2024-03-01 15:59:59 UTC),
            source: "bill:2".into(),
        }
    }

    fn record(kind: RecordKind, no: &str, refund: Option<&str>, amount: i64) -> PaydeskRecord {
        PaydeskRecord {
            record_kind: kind,
            attempt_no: no.into(),
            refund_no: refund.map(Into::into),
            provider_txn_id: Some(format!("tx-{no}")),
            amount_minor: amount,
            currency: Currency::CNY,
            status: "SUCCEEDED".into(),
            succeeded: true,
            at_ms: Some(1),
        }
    }

    #[test]
    fn every_kind_is_found_and_totals_tie_out() {
        let lines = vec![
            {
                // 0.6% of 100 fen is 0.6 fen: 1 fen, rounded half up.
                let mut l = line(BillLineKind::Payment, "MATCH", None, 100);
                l.fee_minor = 1;
                l
            },
            line(BillLineKind::Payment, "UNKNOWN", None, 50),
            line(BillLineKind::Payment, "PENDING", None, 40),
            line(BillLineKind::Payment, "WRONG", None, 30),
            line(BillLineKind::Refund, "MATCH", Some("RF1"), 20),
            {
                let mut l = line(BillLineKind::Payment, "FEE", None, 10_000);
                l.fee_minor = 0;
                l
            },
        ];
        let day = vec![
            record(RecordKind::Payment, "MATCH", None, 100),
            record(RecordKind::Payment, "WRONG", None, 25),
            record(RecordKind::Refund, "MATCH", Some("RF1"), 20),
            record(RecordKind::Payment, "ONLY-HERE", None, 70),
            record(RecordKind::Payment, "FEE", None, 10_000),
        ];
        let mut pending = record(RecordKind::Payment, "PENDING", None, 40);
        pending.succeeded = false;
        pending.status = "PENDING".into();
        let known = HashMap::from([(Key::Payment("PENDING".into()), pending)]);
        // 0.6%: 60 fen on 100 yuan; the bill's FEE line charges none.
        let m = match_day(&lines, &day, &known, Some(6_000));
        let kinds: Vec<_> = m
            .found
            .iter()
            .map(|f| (f.difference.attempt_no.as_str(), f.difference.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("UNKNOWN", DifferenceKind::MissingInPaydesk),
                ("PENDING", DifferenceKind::StatusDiffers),
                ("WRONG", DifferenceKind::AmountDiffers),
                ("FEE", DifferenceKind::FeeDiffers),
                ("ONLY-HERE", DifferenceKind::MissingAtProvider),
            ]
        );
        let settle: Vec<_> = m.found.iter().filter_map(|f| f.settle.clone()).collect();
        assert_eq!(settle, [Key::Payment("PENDING".into())]);
        let fee = &m.found[3].difference;
        assert_eq!(
            (fee.provider_fee_minor, fee.paydesk_fee_minor),
            (Some(0), Some(60))
        );
        let t = m.totals;
        assert!(t.ties_out(), "{t:?}");
        assert_eq!(
            (t.provider_count, t.provider_net_minor),
            (6, 100 + 50 + 40 + 30 - 20 + 10_000)
        );
        assert_eq!(
            (t.paydesk_count, t.paydesk_net_minor),
            (6, 100 + 25 - 20 + 70 + 10_000)
        );
        assert_eq!((t.matched_count, t.matched_net_minor), (2, 80));
        assert_eq!(
            (
                t.differing_count,
                t.differing_provider_net_minor,
                t.differing_paydesk_net_minor
            ),
            (3, 10_070, 10_025)
        );
    }

    #[test]
    fn a_line_twice_is_matched_once() {
        let lines = vec![
            line(BillLineKind::Payment, "A", None, 100),
            line(BillLineKind::Payment, "A", None, 100),
        ];
        let day = vec![record(RecordKind::Payment, "A", None, 100)];
        let m = match_day(&lines, &day, &HashMap::new(), None);
        assert_eq!(m.totals.matched_count, 1);
        assert_eq!(m.found.len(), 1);
        assert_eq!(m.found[0].difference.kind, DifferenceKind::MissingInPaydesk);
        assert!(m.totals.ties_out());
    }

    #[test]
    fn fees_round_half_up_and_refunds_give_back() {
        assert_eq!(expected_fee(BillLineKind::Payment, 10_000, 6_000), 60);
        assert_eq!(expected_fee(BillLineKind::Payment, 100, 6_000), 1);
        assert_eq!(expected_fee(BillLineKind::Payment, 83, 6_000), 0);
        assert_eq!(expected_fee(BillLineKind::Refund, 10_000, 6_000), -60);
        assert_eq!(
            expected_fee(BillLineKind::Payment, i64::MAX, 1_000_000),
            i64::MAX
        );
    }
}
