//! The CSV export of a run's differences (RFC 4180: fields with a comma, quote or line
//! break are quoted, quotes doubled). Amounts are minor units, as stored, with the
//! currency beside them; a field starting with `=`, `+`, `-` or `@` is prefixed with `'`
//! so a spreadsheet never runs a provider-supplied value as a formula.

use paydesk_store::{Difference, ReconciliationRun};

/// The header row.
pub const HEADER: &[&str] = &[
    "difference_id",
    "bill_date",
    "merchant_account",
    "kind",
    "record_kind",
    "attempt_no",
    "refund_no",
    "provider_txn_id",
    "currency",
    "provider_amount_minor",
    "paydesk_amount_minor",
    "provider_fee_minor",
    "paydesk_fee_minor",
    "provider_status",
    "paydesk_status",
    "state",
    "resolution",
    "resolved_by",
    "resolved_at_ms",
    "source",
];

fn field(text: &str) -> String {
    let guarded = if text.starts_with(['=', '+', '-', '@']) && text.parse::<i64>().is_err() {
        format!("'{text}")
    } else {
        text.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

/// The CSV text: a header, then one row per difference.
pub fn csv(run: &ReconciliationRun, differences: &[Difference]) -> String {
    let mut out = HEADER.join(",");
    out.push_str("\r\n");
    for d in differences {
        let row = [
            d.id.clone(),
            run.bill_date.clone(),
            run.merchant_account.clone(),
            d.kind.as_str().to_owned(),
            d.record_kind.as_str().to_owned(),
            d.attempt_no.clone(),
            opt(&d.refund_no),
            opt(&d.provider_txn_id),
            d.currency.code().to_owned(),
            opt(&d.provider_amount_minor),
            opt(&d.paydesk_amount_minor),
            opt(&d.provider_fee_minor),
            opt(&d.paydesk_fee_minor),
            opt(&d.provider_status),
            opt(&d.paydesk_status),
            d.state.as_str().to_owned(),
            opt(&d.resolution),
            opt(&d.resolved_by),
            opt(&d.resolved_at_ms),
            opt(&d.source),
        ];
        out.push_str(&row.iter().map(|f| field(f)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("-120"), "-120");
        assert_eq!(field("@cmd"), "'@cmd");
    }
}
