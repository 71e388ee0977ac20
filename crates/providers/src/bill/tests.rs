//! The parsers on files exactly as the sandbox writes them (`crates/sandbox/src/bills.rs`),
//! and on malformed input.

use super::*;
use crate::model::{BillFile, BillFormat};
use proptest::prelude::*;
use time::macros::{date, datetime};

const WECHAT_HEADER: &str = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注";
const WECHAT_SUMMARY_HEADER: &str =
    "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额";

fn wechat_payment() -> String {
    "`2024-03-01 23:59:59,`wxd678efh567hg6787,`1230000109,`0,`,`4200000001202403011234567890,`P20240301A,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`SUCCESS,`OTHERS,`CNY,`12.34,`0.00,`0,`0,`0.00,`0.00,`,`,`flow order,`,`0.07000,`0.60%,`12.34,`0.00,`".into()
}

fn wechat_refund() -> String {
    "`2024-03-01 10:00:00,`wxd678efh567hg6787,`1230000109,`0,`,`4200000001202403010000000001,`P20240301B,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`NATIVE,`REFUND,`OTHERS,`CNY,`0.00,`0.00,`50300000000000000000000000000001,`R20240301B,`5.00,`0.00,`ORIGINAL,`SUCCESS,`flow order,`,`-0.03000,`0.60%,`0.00,`5.00,`".into()
}

fn wechat_bill(rows: &[String], summary: &str) -> Vec<u8> {
    let mut s = format!("{WECHAT_HEADER}\r\n");
    for r in rows {
        s.push_str(r);
        s.push_str("\r\n");
    }
    s.push_str(WECHAT_SUMMARY_HEADER);
    s.push_str("\r\n");
    s.push_str(summary);
    s.push_str("\r\n");
    s.into_bytes()
}

fn wechat(bytes: Vec<u8>) -> Result<ParsedBill, BillParseError> {
    parse(&BillFile {
        date: date!(2024 - 03 - 01),
        format: BillFormat::WechatCsv,
        bytes,
    })
}

#[test]
fn wechat_trade_bill_as_the_sandbox_writes_it() {
    let bill = wechat(wechat_bill(
        &[wechat_refund(), wechat_payment()],
        "`2,`12.34,`5.00,`0.00,`0.04000,`12.34,`5.00",
    ))
    .unwrap();
    assert_eq!(bill.lines.len(), 2);
    let refund = &bill.lines[0];
    assert_eq!(refund.kind, BillLineKind::Refund);
    assert_eq!(refund.attempt_no, "P20240301B");
    assert_eq!(refund.refund_no.as_deref(), Some("R20240301B"));
    assert_eq!(
        refund.provider_refund_id.as_deref(),
        Some("50300000000000000000000000000001")
    );
    assert_eq!((refund.amount_minor, refund.fee_minor), (500, -3));
    assert_eq!(refund.status, BillLineStatus::Succeeded);
    assert_eq!(refund.source, "wechatpay trade bill:2");
    let pay = &bill.lines[1];
    assert_eq!(pay.kind, BillLineKind::Payment);
    assert_eq!(pay.provider_txn_id, "4200000001202403011234567890");
    assert_eq!((pay.amount_minor, pay.fee_minor), (1234, 7));
    assert_eq!(pay.refund_no, None);
    assert_eq!(pay.currency, Currency::CNY);
    // 23:59:59 China time is 15:59:59 UTC the same day.
    assert_eq!(pay.at, datetime!(2024-03-01 15:59:59 UTC));
    assert_eq!(
        bill.summary,
        BillSummary {
            payment_count: 1,
            refund_count: 1,
            payment_total_minor: 1234,
            refund_total_minor: 500,
            fee_total_minor: 4,
        }
    );
}

#[test]
fn wechat_malformed_lines_are_named() {
    let bad_amount = wechat_payment().replace("`0.60%,`12.34,", "`0.60%,`12.3x,");
    let e = wechat(wechat_bill(
        &[wechat_refund(), bad_amount],
        "`2,`12.34,`5.00,`0.00,`0.04000,`12.34,`5.00",
    ))
    .unwrap_err();
    assert!(
        matches!(&e, BillParseError::Line { line: 3, reason, .. } if reason.contains("12.3x")),
        "{e}"
    );
    let short = wechat_payment().replace(",`0.60%", "");
    let e = wechat(wechat_bill(
        &[short],
        "`1,`12.34,`0.00,`0.00,`0.07000,`12.34,`0.00",
    ))
    .unwrap_err();
    assert!(matches!(e, BillParseError::Line { line: 2, .. }), "{e}");
    let e = wechat(wechat_bill(
        &[wechat_payment().replace("`SUCCESS,`OTHERS", "`WHATEVER,`OTHERS")],
        "`1,`12.34,`0.00,`0.00,`0.07000,`12.34,`0.00",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("WHATEVER"), "{e}");
}

#[test]
fn wechat_truncated_or_altered_files_are_refused() {
    let mut truncated = format!("{WECHAT_HEADER}\r\n").into_bytes();
    truncated.extend_from_slice(wechat_payment().as_bytes());
    assert!(matches!(
        wechat(truncated).unwrap_err(),
        BillParseError::File { .. }
    ));
    let e = wechat(wechat_bill(
        &[wechat_payment()],
        "`1,`12.34,`0.00,`0.00,`0.07000,`99.99,`0.00",
    ))
    .unwrap_err();
    assert!(matches!(e, BillParseError::Totals { .. }), "{e}");
    let e = wechat(wechat_bill(
        &[wechat_payment()],
        "`2,`12.34,`0.00,`0.00,`0.07000,`12.34,`0.00",
    ))
    .unwrap_err();
    assert!(e.to_string().contains("line count"), "{e}");
    assert!(matches!(
        wechat(Vec::new()).unwrap_err(),
        BillParseError::File { .. }
    ));
    assert!(matches!(
        wechat(vec![0xff, 0xfe, 0x00]).unwrap_err(),
        BillParseError::File { .. }
    ));
}

// ------------------------------------------------------------------ Alipay

const ALIPAY_DETAIL_HEADER: &str = "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注";

fn alipay_detail(rows: &[&str], paid: (u32, &str), refunded: (u32, &str)) -> String {
    let mut s = format!(
        "#支付宝业务明细查询\r\n#账号：[20881234567890120156]\r\n#起始日期：[2024年03月01日 00:00:00]   终止日期：[2024年03月02日 00:00:00]\r\n#-----------------------------------------业务明细列表----------------------------------------\r\n{ALIPAY_DETAIL_HEADER}\r\n"
    );
    for r in rows {
        s.push_str(r);
        s.push_str("\r\n");
    }
    s.push_str("#-----------------------------------------业务明细列表结束------------------------------------\r\n");
    s.push_str(&format!(
        "#交易合计：{}笔，商家实收共{}元，商家优惠共0.00元\r\n#退款合计：{}笔，商家实收退款共{}元\r\n#导出时间：[2024-03-02 09:00:00]\r\n",
        paid.0, paid.1, refunded.0, refunded.1
    ));
    s
}

fn alipay_summary(paid: u32, refunded: u32, net: &str) -> String {
    format!(
        "#支付宝业务汇总查询\r\n#账号：[20881234567890120156]\r\n#起始日期：[2024年03月01日 00:00:00]   终止日期：[2024年03月02日 00:00:00]\r\n#-----------------------------------------业务汇总列表----------------------------------------\r\n门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）\r\n,合计,{paid},{refunded},{net},{net},0.00,0.00,0.00,0.00,0.00,{net}\r\n#-----------------------------------------业务汇总列表结束------------------------------------\r\n"
    )
}

const ALIPAY_PAY: &str = "2024030122001400001234567890,P20240301C,交易,flow order,2024-03-01 23:59:00,2024-03-01 23:59:59,,,,,2088000011112222,20.00,20.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,,-0.12,0.00,";
const ALIPAY_REFUND: &str = "2024030122001400001234567890,P20240301C,退款,flow order,2024-03-01 23:59:00,2024-03-01 23:59:59,,,,,2088000011112222,-5.00,-5.00,0.00,0.00,0.00,0.00,0.00,,0.00,0.00,R20240301C,0.03,0.00,";

/// A zip as the sandbox writes it (stored members), or with DEFLATE members.
fn zip_of(files: &[(&str, &[u8])], deflate: bool) -> Vec<u8> {
    fn crc(d: &[u8]) -> u32 {
        let mut c = 0xFFFF_FFFFu32;
        for &b in d {
            c ^= u32::from(b);
            for _ in 0..8 {
                let m = (c & 1).wrapping_neg();
                c = (c >> 1) ^ (0xEDB8_8320 & m);
            }
        }
        !c
    }
    let (mut out, mut central) = (Vec::new(), Vec::new());
    for (name, data) in files {
        let packed = if deflate {
            miniz_oxide::deflate::compress_to_vec(data, 6)
        } else {
            data.to_vec()
        };
        let method: u16 = if deflate { 8 } else { 0 };
        let offset = out.len() as u32;
        let mut common = Vec::new();
        common.extend_from_slice(&20u16.to_le_bytes());
        common.extend_from_slice(&(1u16 << 11).to_le_bytes());
        common.extend_from_slice(&method.to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        common.extend_from_slice(&0x21u16.to_le_bytes());
        common.extend_from_slice(&crc(data).to_le_bytes());
        common.extend_from_slice(&(packed.len() as u32).to_le_bytes());
        common.extend_from_slice(&(data.len() as u32).to_le_bytes());
        common.extend_from_slice(&(name.len() as u16).to_le_bytes());
        common.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        out.extend_from_slice(&common);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(&packed);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes());
        central.extend_from_slice(&common);
        central.extend_from_slice(&[0u8; 10]); // comment length, disk, attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    let cd_size = central.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0u8; 4]);
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&(files.len() as u16).to_le_bytes());
    out.extend_from_slice(&cd_size.to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn alipay(bytes: Vec<u8>) -> Result<ParsedBill, BillParseError> {
    parse(&BillFile {
        date: date!(2024 - 03 - 01),
        format: BillFormat::AlipayZip,
        bytes,
    })
}

fn alipay_zip(detail: &str, summary: &str, deflate: bool) -> Vec<u8> {
    zip_of(
        &[
            (
                "20881234567890120156_20240301_业务明细.csv",
                detail.as_bytes(),
            ),
            (
                "20881234567890120156_20240301_业务明细(汇总).csv",
                summary.as_bytes(),
            ),
        ],
        deflate,
    )
}

#[test]
fn alipay_trade_bill_as_the_sandbox_writes_it() {
    let detail = alipay_detail(&[ALIPAY_PAY, ALIPAY_REFUND], (1, "20.00"), (1, "5.00"));
    let summary = alipay_summary(1, 1, "15.00");
    for deflate in [false, true] {
        let bill = alipay(alipay_zip(&detail, &summary, deflate)).unwrap();
        assert_eq!(bill.lines.len(), 2);
        let (pay, refund) = (&bill.lines[0], &bill.lines[1]);
        assert_eq!(pay.kind, BillLineKind::Payment);
        assert_eq!(pay.attempt_no, "P20240301C");
        assert_eq!(pay.provider_txn_id, "2024030122001400001234567890");
        assert_eq!((pay.amount_minor, pay.fee_minor), (2000, 12));
        assert_eq!(pay.at, datetime!(2024-03-01 15:59:59 UTC));
        assert_eq!(refund.kind, BillLineKind::Refund);
        assert_eq!(refund.refund_no.as_deref(), Some("R20240301C"));
        assert_eq!((refund.amount_minor, refund.fee_minor), (500, -3));
        assert_eq!(
            bill.summary,
            BillSummary {
                payment_count: 1,
                refund_count: 1,
                payment_total_minor: 2000,
                refund_total_minor: 500,
                fee_total_minor: 9,
            }
        );
    }
}

#[test]
fn alipay_malformed_input_is_a_clear_error() {
    let summary = alipay_summary(1, 0, "20.00");
    // A bad amount names its file and line (header on line 5, the row on line 6).
    let bad = ALIPAY_PAY.replace(",20.00,20.00,", ",20.0,20.00,");
    let e = alipay(alipay_zip(
        &alipay_detail(&[&bad], (1, "20.00"), (0, "0.00")),
        &summary,
        false,
    ))
    .unwrap_err();
    assert!(
        matches!(&e, BillParseError::Line { line: 6, file, .. } if file.ends_with("业务明细.csv")),
        "{e}"
    );
    // Totals that do not tie out.
    let e = alipay(alipay_zip(
        &alipay_detail(&[ALIPAY_PAY], (1, "21.00"), (0, "0.00")),
        &summary,
        false,
    ))
    .unwrap_err();
    assert!(matches!(e, BillParseError::Totals { .. }), "{e}");
    // The summary file disagrees with the detail.
    let e = alipay(alipay_zip(
        &alipay_detail(&[ALIPAY_PAY], (1, "20.00"), (0, "0.00")),
        &alipay_summary(2, 0, "20.00"),
        false,
    ))
    .unwrap_err();
    assert!(matches!(e, BillParseError::Totals { .. }), "{e}");
    // Truncated: no totals.
    let cut = alipay_detail(&[ALIPAY_PAY], (1, "20.00"), (0, "0.00"));
    let cut = &cut[..cut
        .find("#-----------------------------------------业务明细列表结束")
        .unwrap()];
    assert!(matches!(
        alipay(alipay_zip(cut, &summary, false)).unwrap_err(),
        BillParseError::File { .. }
    ));
    // Not a zip, a corrupted member, GBK text.
    assert!(matches!(
        alipay(b"PK not really".to_vec()).unwrap_err(),
        BillParseError::File { .. }
    ));
    let mut z = alipay_zip(
        &alipay_detail(&[ALIPAY_PAY], (1, "20.00"), (0, "0.00")),
        &summary,
        false,
    );
    let at = z.len() / 3;
    z[at] ^= 0x55;
    assert!(alipay(z).is_err());
    let gbk: &[u8] = &[0x23, 0xd6, 0xa7, 0xb8, 0xb6, 0xb1, 0xa6];
    let e = alipay(zip_of(&[("x.csv", gbk)], false)).unwrap_err();
    assert!(e.to_string().contains("GBK"), "{e}");
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = wechat(bytes.clone());
        let _ = alipay(bytes);
    }

    #[test]
    fn mutated_bills_never_panic(at in 0usize..4096, byte in any::<u8>(), cut in 0usize..4096) {
        let detail = alipay_detail(&[ALIPAY_PAY, ALIPAY_REFUND], (1, "20.00"), (1, "5.00"));
        let mut z = alipay_zip(&detail, &alipay_summary(1, 1, "15.00"), true);
        let i = at % z.len();
        z[i] = byte;
        z.truncate(z.len() - cut % z.len());
        let _ = alipay(z);
        let mut w = wechat_bill(&[wechat_payment()], "`1,`12.34,`0.00,`0.00,`0.07000,`12.34,`0.00");
        let i = at % w.len();
        w[i] = byte;
        let _ = wechat(w);
    }
}
