//! Alipay's trade bill (`alipay.data.dataservice.bill.downloadurl.query`, `bill_type =
//! trade`): a zip holding the detail CSV (`..._业务明细.csv`: `#` comment lines, a header,
//! one row per trade or refund, then `#交易合计` / `#退款合计` totals) and the summary CSV
//! (`..._业务明细(汇总).csv`, a `合计` row). Members are told apart by their first line,
//! not their names (Alipay names them in GBK).
//!
//! Sign conventions of the file: refund rows carry negative amounts; 服务费 (the fee) is
//! negative when charged and positive when a refund returns it. Lines are normalized to
//! positive amounts and a fee that is positive when charged.
//!
//! Alipay's own files are GBK-encoded; the sandbox's are UTF-8. Only UTF-8 is read here:
//! a GBK file is refused with a clear error (see docs/reconciliation.md).

use super::{
    check_totals, china_time, numbered_lines, zip, BillLine, BillLineKind, BillLineStatus,
    BillParseError, BillSummary, Columns, ParsedBill, MAX_UNPACKED_BYTES,
};
use crate::amount::{fee_yuan_to_fen, signed_yuan_to_fen};
use paydesk_core::money::Currency;

const DETAIL_MARK: &str = "业务明细查询";
const SUMMARY_MARK: &str = "业务汇总查询";
const PAID_TOTAL: &str = "#交易合计：";
const REFUND_TOTAL: &str = "#退款合计：";

pub(super) fn parse(bytes: &[u8]) -> Result<ParsedBill, BillParseError> {
    let members =
        zip::members(bytes, MAX_UNPACKED_BYTES).map_err(|reason| BillParseError::File {
            file: "alipay trade bill".into(),
            reason,
        })?;
    let mut detail = None;
    let mut summary = None;
    for m in &members {
        let text = std::str::from_utf8(&m.data).map_err(|_| BillParseError::File {
            file: m.name.clone(),
            reason: "not UTF-8 (Alipay's own bills are GBK, which is not read yet)".into(),
        })?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let first = text.lines().next().unwrap_or("");
        if first.contains(DETAIL_MARK) {
            detail = Some((m.name.as_str(), text));
        } else if first.contains(SUMMARY_MARK) {
            summary = Some((m.name.as_str(), text));
        }
    }
    let (name, text) = detail.ok_or_else(|| BillParseError::File {
        file: "alipay trade bill".into(),
        reason: "the archive holds no 业务明细 file".into(),
    })?;
    let mut parsed = parse_detail(name, text)?;
    if let Some((sname, stext)) = summary {
        check_summary_file(sname, stext, &parsed)?;
        parsed.summary.fee_total_minor = parsed.lines.iter().map(|l| l.fee_minor).sum();
    }
    Ok(parsed)
}

struct Detail {
    txn_id: usize,
    out_trade_no: usize,
    kind: usize,
    finished: usize,
    amount: usize,
    received: usize,
    request_no: usize,
    fee: usize,
    width: usize,
}

fn parse_detail(file: &str, text: &str) -> Result<ParsedBill, BillParseError> {
    let mut header: Option<Detail> = None;
    let mut lines = Vec::new();
    let (mut received_paid, mut received_refunded) = (0i128, 0i128);
    let mut stated: Option<BillSummary> = None;
    let mut paid_stated = None;
    for (n, row) in numbered_lines(text) {
        let err = |reason: String| BillParseError::Line {
            file: file.into(),
            line: n,
            reason,
        };
        if row.trim().is_empty() {
            continue;
        }
        if let Some(rest) = row.strip_prefix(PAID_TOTAL) {
            paid_stated =
                Some(count_and_yuan(rest).ok_or_else(|| err(format!("bad totals `{row}`")))?);
            continue;
        }
        if let Some(rest) = row.strip_prefix(REFUND_TOTAL) {
            let (rn, rsum) =
                count_and_yuan(rest).ok_or_else(|| err(format!("bad totals `{row}`")))?;
            let (pn, psum) = paid_stated.ok_or_else(|| err("退款合计 before 交易合计".into()))?;
            stated = Some(BillSummary {
                payment_count: pn,
                refund_count: rn,
                payment_total_minor: psum,
                refund_total_minor: rsum,
                fee_total_minor: 0,
            });
            continue;
        }
        if row.starts_with('#') {
            continue;
        }
        let f: Vec<String> = row.split(',').map(str::to_owned).collect();
        let Some(h) = &header else {
            let c = Columns::new(&f);
            header = Some(Detail {
                txn_id: c.require(file, "支付宝交易号")?,
                out_trade_no: c.require(file, "商户订单号")?,
                kind: c.require(file, "业务类型")?,
                finished: c.require(file, "完成时间")?,
                amount: c.require(file, "订单金额（元）")?,
                received: c.require(file, "商家实收（元）")?,
                request_no: c.require(file, "退款批次号/请求号")?,
                fee: c.require(file, "服务费（元）")?,
                width: f.len(),
            });
            continue;
        };
        if f.len() != h.width {
            return Err(err(format!(
                "{} fields, the header has {}",
                f.len(),
                h.width
            )));
        }
        let get = |i: usize| f.get(i).map(|s| s.trim()).unwrap_or("");
        let kind = match get(h.kind) {
            "交易" => BillLineKind::Payment,
            "退款" => BillLineKind::Refund,
            other => return Err(err(format!("unknown 业务类型 `{other}`"))),
        };
        let money = |i: usize| {
            let t = get(i);
            signed_yuan_to_fen(t).map_err(|e| err(format!("amount `{t}`: {e}")))
        };
        let amount = money(h.amount)?;
        let received = money(h.received)?;
        let expected_sign_ok = match kind {
            BillLineKind::Payment => amount >= 0,
            BillLineKind::Refund => amount <= 0,
        };
        if !expected_sign_ok {
            return Err(err(format!("a {} of {amount} fen", kind.as_str())));
        }
        match kind {
            BillLineKind::Payment => received_paid += i128::from(received),
            BillLineKind::Refund => received_refunded -= i128::from(received),
        }
        let fee_text = get(h.fee);
        let fee = fee_yuan_to_fen(fee_text).map_err(|e| err(format!("fee `{fee_text}`: {e}")))?;
        let time_text = get(h.finished);
        let at = china_time(time_text).ok_or_else(|| err(format!("bad time `{time_text}`")))?;
        let attempt_no = get(h.out_trade_no);
        if attempt_no.is_empty() {
            return Err(err("empty 商户订单号".into()));
        }
        let request_no = get(h.request_no);
        if kind == BillLineKind::Refund && request_no.is_empty() {
            return Err(err("a refund line without 退款批次号/请求号".into()));
        }
        lines.push(BillLine {
            kind,
            attempt_no: attempt_no.to_owned(),
            provider_txn_id: get(h.txn_id).to_owned(),
            refund_no: (kind == BillLineKind::Refund).then(|| request_no.to_owned()),
            provider_refund_id: None,
            amount_minor: amount
                .checked_abs()
                .ok_or_else(|| err("amount out of range".into()))?,
            fee_minor: fee
                .checked_neg()
                .ok_or_else(|| err("fee out of range".into()))?,
            // Alipay bills carry no currency column: the account settles in CNY.
            currency: Currency::CNY,
            // The trade bill lists finished business only.
            status: BillLineStatus::Succeeded,
            at,
            source: format!("{file}:{n}"),
        });
    }
    if header.is_none() {
        return Err(BillParseError::File {
            file: file.into(),
            reason: "no header row".into(),
        });
    }
    let stated = stated.ok_or_else(|| BillParseError::File {
        file: file.into(),
        reason: "no 交易合计/退款合计 totals (the file is truncated)".into(),
    })?;
    check_totals(
        file,
        &stated,
        &lines,
        &[
            ("trade count", |s: &BillSummary| i128::from(s.payment_count)),
            ("refund count", |s: &BillSummary| i128::from(s.refund_count)),
        ],
    )?;
    // The stated sums are of 商家实收 (what the merchant received), the lines' amounts are
    // order amounts: compare like with like.
    for (what, stated_sum, lines_sum) in [
        (
            "商家实收 of trades",
            stated.payment_total_minor,
            received_paid,
        ),
        (
            "商家实收 of refunds",
            stated.refund_total_minor,
            received_refunded,
        ),
    ] {
        if i128::from(stated_sum) != lines_sum {
            return Err(BillParseError::Totals {
                file: file.into(),
                reason: format!(
                    "{what}: the file states {stated_sum}, its lines add up to {lines_sum}"
                ),
            });
        }
    }
    let summary = super::summarize(&lines).ok_or_else(|| BillParseError::Totals {
        file: file.into(),
        reason: "the sum of the lines overflows".into(),
    })?;
    Ok(ParsedBill { lines, summary })
}

/// `N笔，...共X元...`: the count and the first yuan amount.
fn count_and_yuan(rest: &str) -> Option<(u64, i64)> {
    let (count, after) = rest.split_once('笔')?;
    let count = count.trim().parse().ok()?;
    let (_, from) = after.split_once('共')?;
    let (amount, _) = from.split_once('元')?;
    Some((count, signed_yuan_to_fen(amount.trim()).ok()?))
}

/// The summary file's `合计` row must state the same counts as the detail.
fn check_summary_file(file: &str, text: &str, detail: &ParsedBill) -> Result<(), BillParseError> {
    let mut cols: Option<(usize, usize)> = None;
    for (n, row) in numbered_lines(text) {
        if row.starts_with('#') || row.trim().is_empty() {
            continue;
        }
        let f: Vec<String> = row.split(',').map(str::to_owned).collect();
        let Some((paid_i, refund_i)) = cols else {
            let c = Columns::new(&f);
            cols = Some((
                c.require(file, "交易订单总笔数")?,
                c.require(file, "退款订单总笔数")?,
            ));
            continue;
        };
        if f.get(1).map(|s| s.trim()) != Some("合计") {
            continue;
        }
        let count = |i: usize| -> Result<u64, BillParseError> {
            let t = f.get(i).map(|s| s.trim()).unwrap_or("");
            t.parse().map_err(|_| BillParseError::Line {
                file: file.into(),
                line: n,
                reason: format!("bad count `{t}`"),
            })
        };
        let (paid, refunded) = (count(paid_i)?, count(refund_i)?);
        if paid != detail.summary.payment_count || refunded != detail.summary.refund_count {
            return Err(BillParseError::Totals {
                file: file.into(),
                reason: format!(
                    "the summary counts {paid} trades and {refunded} refunds, the detail {} and {}",
                    detail.summary.payment_count, detail.summary.refund_count
                ),
            });
        }
        return Ok(());
    }
    Err(BillParseError::File {
        file: file.into(),
        reason: "no 合计 row".into(),
    })
}
