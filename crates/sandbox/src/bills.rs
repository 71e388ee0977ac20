//! Daily bills in the providers' formats, for a bill date in China time (UTC+8):
//! WeChat's trade bill CSV (every field prefixed with a backtick, then a summary), and
//! Alipay's zip holding the detail and summary CSVs (UTF-8 here; Alipay's are GBK).

use crate::state::{Db, OrderStatus, Provider};
use aws_lc_rs::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY};
use time::macros::{format_description, offset};
use time::{Date, OffsetDateTime};

/// `YYYY-MM-DD`.
pub fn parse_date(s: &str) -> Option<Date> {
    Date::parse(s, &format_description!("[year]-[month]-[day]")).ok()
}

/// Today in China.
pub fn china_today() -> Date {
    OffsetDateTime::now_utc().to_offset(offset!(+8)).date()
}

fn china_date(unix: i64) -> Date {
    OffsetDateTime::from_unix_timestamp(unix)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .to_offset(offset!(+8))
        .date()
}

/// Whether the bill fault `bill_omitted_trades` leaves this payment out of the bills.
fn omitted(db: &Db, out_trade_no: &str) -> bool {
    db.settings
        .bill_omitted_trades
        .iter()
        .any(|t| t == out_trade_no)
}

/// Lower-case hex SHA-1.
pub fn sha1_hex(bytes: &[u8]) -> String {
    digest(&SHA1_FOR_LEGACY_USE_ONLY, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn yuan(fen: i64) -> String {
    if fen < 0 {
        return format!("-{}", yuan(-fen));
    }
    paydesk_providers::amount::fen_to_yuan(fen).unwrap_or_default()
}

/// The bill's fee of `fen` at the sandbox's WeChat rate, rounded half up (negative for a
/// refund's fee given back), and how WeChat writes it (yuan with five decimals).
fn wechat_fee(db: &Db, fen: i64) -> (i64, String) {
    let ppm = i128::from(db.settings.wechat_bill_fee_ppm);
    let fee = (i128::from(fen.abs()) * ppm + 500_000) / 1_000_000;
    let fee = i64::try_from(fee).unwrap_or(0) * fen.signum();
    (fee, format!("{}000", yuan(fee)))
}

fn bt(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| format!("`{}", f.replace([',', '\n', '\r'], " ")))
        .collect::<Vec<_>>()
        .join(",")
}

/// The WeChat trade bill (`ALL`, `SUCCESS` or `REFUND`) of a merchant for a day; `None`
/// when there is nothing to report (WeChat answers `NO_STATEMENT_EXIST`).
pub fn wechat_trade_bill(db: &Db, mchid: &str, date: Date, kind: &str) -> Option<Vec<u8>> {
    let time = |t: i64| {
        crate::app::alipay_time(t) // same `yyyy-MM-dd HH:mm:ss` China-time layout
    };
    let mut rows: Vec<(i64, String)> = Vec::new();
    let (mut n, mut settle_total, mut refund_total, mut order_total, mut apply_refund_total) =
        (0usize, 0i64, 0i64, 0i64, 0i64);
    let mut fee_total = 0i64;
    if kind != "REFUND" {
        for o in db.orders.values().filter(|o| {
            o.provider == Provider::Wechatpay
                && o.merchant == mchid
                && o.status == OrderStatus::Paid
                && o.paid_at.is_some_and(|t| china_date(t) == date)
                && !omitted(db, &o.out_trade_no)
        }) {
            let at = o.paid_at.unwrap_or(o.created_at);
            n += 1;
            settle_total += o.paid();
            order_total += o.paid();
            let (fee, fee_text) = wechat_fee(db, o.paid());
            fee_total += fee;
            rows.push((
                at,
                bt(&[
                    time(at),
                    o.appid.clone(),
                    o.merchant.clone(),
                    "0".into(),
                    String::new(),
                    o.txn_id.clone().unwrap_or_default(),
                    o.out_trade_no.clone(),
                    o.payer.clone().unwrap_or_default(),
                    o.product.clone(),
                    "SUCCESS".into(),
                    "OTHERS".into(),
                    "CNY".into(),
                    yuan(o.paid()),
                    "0.00".into(),
                    "0".into(),
                    "0".into(),
                    "0.00".into(),
                    "0.00".into(),
                    String::new(),
                    String::new(),
                    o.subject.clone(),
                    o.attach.clone().unwrap_or_default(),
                    fee_text,
                    "0.60%".into(),
                    yuan(o.paid()),
                    "0.00".into(),
                    String::new(),
                ]),
            ));
        }
    }
    if kind != "SUCCESS" {
        for r in db.refunds.values().filter(|r| {
            r.provider == Provider::Wechatpay
                && r.merchant == mchid
                && r.status == "SUCCESS"
                && r.success_at.is_some_and(|t| china_date(t) == date)
        }) {
            let at = r.success_at.unwrap_or(r.created_at);
            let o = db.orders.get(&crate::state::order_key(
                Provider::Wechatpay,
                mchid,
                &r.out_trade_no,
            ));
            n += 1;
            refund_total += r.amount;
            let (refund_fee, refund_fee_text) = wechat_fee(db, -r.amount);
            fee_total += refund_fee;
            apply_refund_total += r.amount;
            rows.push((
                at,
                bt(&[
                    time(at),
                    o.map(|o| o.appid.clone()).unwrap_or_default(),
                    mchid.to_string(),
                    "0".into(),
                    String::new(),
                    r.txn_id.clone().unwrap_or_default(),
                    r.out_trade_no.clone(),
                    o.and_then(|o| o.payer.clone()).unwrap_or_default(),
                    o.map(|o| o.product.clone()).unwrap_or_default(),
                    "REFUND".into(),
                    "OTHERS".into(),
                    "CNY".into(),
                    "0.00".into(),
                    "0.00".into(),
                    r.refund_id.clone(),
                    r.out_refund_no.clone(),
                    yuan(r.amount),
                    "0.00".into(),
                    "ORIGINAL".into(),
                    "SUCCESS".into(),
                    o.map(|o| o.subject.clone()).unwrap_or_default(),
                    o.and_then(|o| o.attach.clone()).unwrap_or_default(),
                    refund_fee_text,
                    "0.60%".into(),
                    "0.00".into(),
                    yuan(r.amount),
                    String::new(),
                ]),
            ));
        }
    }
    if rows.is_empty() {
        return None;
    }
    rows.sort_by_key(|(t, _)| *t);
    let mut out = String::from("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注\r\n");
    for (_, r) in &rows {
        out.push_str(r);
        out.push_str("\r\n");
    }
    out.push_str("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n");
    out.push_str(&bt(&[
        n.to_string(),
        yuan(settle_total),
        yuan(refund_total),
        "0.00".into(),
        format!("{}000", yuan(fee_total)),
        yuan(order_total),
        yuan(apply_refund_total),
    ]));
    out.push_str("\r\n");
    Some(out.into_bytes())
}

/// The Alipay trade bill zip of an app for a day; `None` when empty (`isp.bill_not_exist`).
pub fn alipay_trade_bill(db: &Db, app_id: &str, seller_id: &str, date: Date) -> Option<Vec<u8>> {
    let mut rows: Vec<(i64, String)> = Vec::new();
    let (mut paid_n, mut refund_n, mut paid_sum, mut refund_sum) = (0, 0, 0i64, 0i64);
    for o in db.orders.values().filter(|o| {
        o.provider == Provider::Alipay
            && o.merchant == app_id
            && o.status == OrderStatus::Paid
            && o.paid_at.is_some_and(|t| china_date(t) == date)
            && !omitted(db, &o.out_trade_no)
    }) {
        let at = o.paid_at.unwrap_or(o.created_at);
        paid_n += 1;
        paid_sum += o.paid();
        rows.push((
            at,
            [
                o.txn_id.clone().unwrap_or_default(),
                o.out_trade_no.clone(),
                "交易".into(),
                o.subject.clone(),
                crate::app::alipay_time(o.created_at),
                crate::app::alipay_time(at),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                o.payer.clone().unwrap_or_default(),
                yuan(o.paid()),
                yuan(o.paid()),
                "0.00".into(),
                "0.00".into(),
                "0.00".into(),
                "0.00".into(),
                "0.00".into(),
                String::new(),
                "0.00".into(),
                "0.00".into(),
                String::new(),
                "0.00".into(),
                "0.00".into(),
                String::new(),
            ]
            .map(|f| f.replace([',', '\n', '\r'], " "))
            .join(","),
        ));
    }
    for r in db.refunds.values().filter(|r| {
        r.provider == Provider::Alipay
            && r.merchant == app_id
            && r.success_at.is_some_and(|t| china_date(t) == date)
    }) {
        let at = r.success_at.unwrap_or(r.created_at);
        let o = db.orders.get(&crate::state::order_key(
            Provider::Alipay,
            app_id,
            &r.out_trade_no,
        ));
        refund_n += 1;
        refund_sum += r.amount;
        rows.push((
            at,
            [
                r.txn_id.clone().unwrap_or_default(),
                r.out_trade_no.clone(),
                "退款".into(),
                o.map(|o| o.subject.clone()).unwrap_or_default(),
                crate::app::alipay_time(o.map(|o| o.created_at).unwrap_or(at)),
                crate::app::alipay_time(at),
                String::new(),
                String::new(),
                String::new(),
                String::new(),
                o.and_then(|o| o.payer.clone()).unwrap_or_default(),
                format!("-{}", yuan(r.amount)),
                format!("-{}", yuan(r.amount)),
                "0.00".into(),
                "0.00".into(),
                "0.00".into(),
                "0.00".into(),
                "0.00".into(),
                String::new(),
                "0.00".into(),
                "0.00".into(),
                r.refund_id.clone(),
                "0.00".into(),
                "0.00".into(),
                String::new(),
            ]
            .map(|f| f.replace([',', '\n', '\r'], " "))
            .join(","),
        ));
    }
    if rows.is_empty() {
        return None;
    }
    rows.sort_by_key(|(t, _)| *t);
    let d = format!(
        "{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    );
    let cn = format!(
        "{:04}年{:02}月{:02}日",
        date.year(),
        u8::from(date.month()),
        date.day()
    );
    let next = date.next_day().unwrap_or(date);
    let cn_next = format!(
        "{:04}年{:02}月{:02}日",
        next.year(),
        u8::from(next.month()),
        next.day()
    );
    let mut detail = format!(
        "#支付宝业务明细查询\r\n#账号：[{seller_id}0156]\r\n#起始日期：[{cn} 00:00:00]   终止日期：[{cn_next} 00:00:00]\r\n#-----------------------------------------业务明细列表----------------------------------------\r\n支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注\r\n"
    );
    for (_, r) in &rows {
        detail.push_str(r);
        detail.push_str("\r\n");
    }
    detail.push_str("#-----------------------------------------业务明细列表结束------------------------------------\r\n");
    detail.push_str(&format!(
        "#交易合计：{paid_n}笔，商家实收共{}元，商家优惠共0.00元\r\n#退款合计：{refund_n}笔，商家实收退款共{}元\r\n#导出时间：[{}]\r\n",
        yuan(paid_sum),
        yuan(refund_sum),
        crate::app::alipay_time(crate::app::now_unix())
    ));
    let summary = format!(
        "#支付宝业务汇总查询\r\n#账号：[{seller_id}0156]\r\n#起始日期：[{cn} 00:00:00]   终止日期：[{cn_next} 00:00:00]\r\n#-----------------------------------------业务汇总列表----------------------------------------\r\n门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）\r\n,合计,{paid_n},{refund_n},{},{},0.00,0.00,0.00,0.00,0.00,{}\r\n#-----------------------------------------业务汇总列表结束------------------------------------\r\n",
        yuan(paid_sum - refund_sum),
        yuan(paid_sum - refund_sum),
        yuan(paid_sum - refund_sum),
    );
    let pid = format!("{seller_id}0156");
    Some(crate::zip::stored(&[
        (format!("{pid}_{d}_业务明细.csv"), detail.into_bytes()),
        (
            format!("{pid}_{d}_业务明细(汇总).csv"),
            summary.into_bytes(),
        ),
    ]))
}
