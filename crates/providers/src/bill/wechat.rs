//! WeChat Pay's trade bill (`/v3/bill/tradebill`): a UTF-8 CSV whose detail fields each
//! start with a backquote (so spreadsheets keep long numbers as text), then a summary
//! header (`总交易单数,...`) and one summary row.

use super::{
    check_totals, china_time, numbered_lines, BillLine, BillLineKind, BillLineStatus,
    BillParseError, BillSummary, Columns, ParsedBill,
};
use crate::amount::{fee_yuan_to_fen, yuan_to_fen};
use paydesk_core::money::Currency;
use std::str::FromStr;

const FILE: &str = "wechatpay trade bill";

/// The first column of the summary header, which ends the detail rows.
const SUMMARY_HEADER: &str = "总交易单数";

fn fields(line: &str) -> Vec<String> {
    line.split(',')
        .map(|f| f.strip_prefix('`').unwrap_or(f).to_owned())
        .collect()
}

pub(super) fn parse(bytes: &[u8]) -> Result<ParsedBill, BillParseError> {
    let text = std::str::from_utf8(bytes).map_err(|e| BillParseError::File {
        file: FILE.into(),
        reason: format!("not UTF-8: {e}"),
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = numbered_lines(text).filter(|(_, l)| !l.trim().is_empty());
    let header = match rows.next() {
        Some((_, h)) => fields(h),
        None => {
            return Err(BillParseError::File {
                file: FILE.into(),
                reason: "empty file".into(),
            })
        }
    };
    let cols = Columns::new(&header);
    let c = DetailColumns::find(&cols)?;
    let mut lines = Vec::new();
    let mut summary = None;
    while let Some((n, row)) = rows.next() {
        let f = fields(row);
        if f.first().map(|s| s.trim()) == Some(SUMMARY_HEADER) {
            let (sn, srow) = rows.next().ok_or_else(|| BillParseError::Line {
                file: FILE.into(),
                line: n,
                reason: "the summary header has no summary row".into(),
            })?;
            let sh = f;
            summary = Some(parse_summary(&Columns::new(&sh), &fields(srow), sn)?);
            if let Some((extra, _)) = rows.next() {
                return Err(BillParseError::Line {
                    file: FILE.into(),
                    line: extra,
                    reason: "text after the summary row".into(),
                });
            }
            break;
        }
        if f.len() != header.len() {
            return Err(BillParseError::Line {
                file: FILE.into(),
                line: n,
                reason: format!("{} fields, the header has {}", f.len(), header.len()),
            });
        }
        lines.push(c.line(&f, n)?);
    }
    let summary = summary.ok_or_else(|| BillParseError::File {
        file: FILE.into(),
        reason: "no summary (the file is truncated)".into(),
    })?;
    check_totals(
        FILE,
        &summary,
        &lines,
        &[
            ("line count", |s: &BillSummary| {
                i128::from(s.payment_count) + i128::from(s.refund_count)
            }),
            ("order total", |s: &BillSummary| {
                i128::from(s.payment_total_minor)
            }),
            ("refund total", |s: &BillSummary| {
                i128::from(s.refund_total_minor)
            }),
        ],
    )?;
    // Fees are stated to 1/1000 fen and rounded per line here: the rounded lines may
    // differ from the rounded total by at most one fen per line.
    let line_fees: i128 = lines.iter().map(|l| i128::from(l.fee_minor)).sum();
    let slack = i128::try_from(lines.len()).unwrap_or(i128::MAX);
    if (line_fees - i128::from(summary.fee_total_minor)).abs() > slack {
        return Err(BillParseError::Totals {
            file: FILE.into(),
            reason: format!(
                "fee total: the file states {}, its lines add up to {line_fees}",
                summary.fee_total_minor
            ),
        });
    }
    // The summary states one count for both kinds: take the split from the lines, which
    // were just checked to add up to it.
    let split = super::summarize(&lines).unwrap_or(summary);
    Ok(ParsedBill {
        lines,
        summary: BillSummary {
            payment_count: split.payment_count,
            refund_count: split.refund_count,
            ..summary
        },
    })
}

struct DetailColumns {
    time: usize,
    txn_id: usize,
    out_trade_no: usize,
    trade_state: usize,
    currency: usize,
    fee: usize,
    order_amount: usize,
    refund_id: Option<usize>,
    out_refund_no: Option<usize>,
    refund_amount: Option<usize>,
    refund_status: Option<usize>,
}

impl DetailColumns {
    fn find(c: &Columns<'_>) -> Result<Self, BillParseError> {
        Ok(DetailColumns {
            time: c.require(FILE, "交易时间")?,
            txn_id: c.require(FILE, "微信订单号")?,
            out_trade_no: c.require(FILE, "商户订单号")?,
            trade_state: c.require(FILE, "交易状态")?,
            currency: c.require(FILE, "货币种类")?,
            fee: c.require(FILE, "手续费")?,
            order_amount: c.require(FILE, "订单金额")?,
            // The SUCCESS bill has no refund columns.
            refund_id: c.find("微信退款单号"),
            out_refund_no: c.find("商户退款单号"),
            // 申请退款金额 is what we asked for (our refund's amount); 退款金额 is net of
            // coupons.
            refund_amount: c.find("申请退款金额").or_else(|| c.find("退款金额")),
            refund_status: c.find("退款状态"),
        })
    }

    fn line(&self, f: &[String], n: usize) -> Result<BillLine, BillParseError> {
        let err = |reason: String| BillParseError::Line {
            file: FILE.into(),
            line: n,
            reason,
        };
        let get = |i: usize| f.get(i).map(|s| s.trim()).unwrap_or("");
        let opt = |i: Option<usize>| i.map(get).filter(|s| !s.is_empty());
        let refund_no = opt(self.out_refund_no);
        let trade_state = get(self.trade_state);
        let (kind, status) = match (trade_state, refund_no) {
            ("REFUND", Some(_)) => {
                let word = opt(self.refund_status).unwrap_or("SUCCESS");
                let status = match word {
                    "SUCCESS" => BillLineStatus::Succeeded,
                    "PROCESSING" => BillLineStatus::Processing,
                    "CLOSED" | "FAIL" => BillLineStatus::Closed,
                    "ABNORMAL" | "CHANGE" => BillLineStatus::Abnormal,
                    other => return Err(err(format!("unknown refund status `{other}`"))),
                };
                (BillLineKind::Refund, status)
            }
            ("REFUND", None) => return Err(err("a refund line without 商户退款单号".into())),
            ("SUCCESS", _) => (BillLineKind::Payment, BillLineStatus::Succeeded),
            ("REVOKED", _) => (BillLineKind::Payment, BillLineStatus::Closed),
            (other, _) => return Err(err(format!("unknown trade state `{other}`"))),
        };
        let amount_text = match kind {
            BillLineKind::Payment => get(self.order_amount),
            BillLineKind::Refund => opt(self.refund_amount).unwrap_or(""),
        };
        let amount_minor =
            yuan_to_fen(amount_text).map_err(|e| err(format!("amount `{amount_text}`: {e}")))?;
        let fee_text = get(self.fee);
        let fee_minor =
            fee_yuan_to_fen(fee_text).map_err(|e| err(format!("fee `{fee_text}`: {e}")))?;
        let currency_text = get(self.currency);
        let currency = Currency::from_str(currency_text)
            .map_err(|_| err(format!("unknown currency `{currency_text}`")))?;
        let time_text = get(self.time);
        let at = china_time(time_text).ok_or_else(|| err(format!("bad time `{time_text}`")))?;
        let attempt_no = get(self.out_trade_no);
        if attempt_no.is_empty() {
            return Err(err("empty 商户订单号".into()));
        }
        Ok(BillLine {
            kind,
            attempt_no: attempt_no.to_owned(),
            provider_txn_id: get(self.txn_id).to_owned(),
            refund_no: refund_no
                .filter(|_| kind == BillLineKind::Refund)
                .map(str::to_owned),
            provider_refund_id: opt(self.refund_id)
                .filter(|_| kind == BillLineKind::Refund)
                .map(str::to_owned),
            amount_minor,
            fee_minor,
            currency,
            status,
            at,
            source: format!("{FILE}:{n}"),
        })
    }
}

fn parse_summary(c: &Columns<'_>, f: &[String], n: usize) -> Result<BillSummary, BillParseError> {
    let err = |reason: String| BillParseError::Line {
        file: FILE.into(),
        line: n,
        reason,
    };
    let get = |name: &str| -> Result<&str, BillParseError> {
        let i = c.require(FILE, name)?;
        Ok(f.get(i).map(|s| s.trim()).unwrap_or(""))
    };
    let count_text = get("总交易单数")?;
    let count: u64 = count_text
        .parse()
        .map_err(|_| err(format!("bad count `{count_text}`")))?;
    let money = |name: &str, fee: bool| -> Result<i64, BillParseError> {
        let t = get(name)?;
        let v = if fee {
            fee_yuan_to_fen(t)
        } else {
            yuan_to_fen(t)
        };
        v.map_err(|e| err(format!("{name} `{t}`: {e}")))
    };
    let refund_total = if c.find("申请退款总金额").is_some() {
        money("申请退款总金额", false)?
    } else {
        money("退款总金额", false)?
    };
    Ok(BillSummary {
        // One count for both kinds; `parse` splits it after checking.
        payment_count: count,
        refund_count: 0,
        payment_total_minor: money("订单总金额", false)?,
        refund_total_minor: refund_total,
        fee_total_minor: money("手续费总金额", true)?,
    })
}
