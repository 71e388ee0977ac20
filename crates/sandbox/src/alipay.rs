//! The Alipay OpenAPI gateway (`/gateway.do`, GET or POST, parameters in the query and/or a
//! form body): RSA2 request verification with the adapters' own check, answers signed over
//! the `_response` text, Alipay's `code`/`sub_code` errors.

use crate::app::{
    alipay_time, now_unix, random_digits, random_token, App, CallFault, CallFaultKind,
};
use crate::merchant::AlipayMerchant;
use crate::settle::{expire_if_due, new_alipay_trade_no};
use crate::state::{order_key, sub_key, Order, OrderStatus, Provider, RefundRec, TransferRec};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use paydesk_providers::alipay::sign::{parse_time, sign_response, verify_request};
use paydesk_providers::alipay::wire::{
    RefundBiz, RefundQueryBiz, TradePayBiz, TradeRef, TransferBiz, TransferQueryBiz,
};
use paydesk_providers::amount::{fen_to_yuan, yuan_to_fen};
use serde_json::{json, Map, Value};
use std::sync::Arc;
use std::time::Duration;

/// Methods the gateway knows.
pub const METHODS: [&str; 13] = [
    "alipay.trade.app.pay",
    "alipay.trade.wap.pay",
    "alipay.trade.page.pay",
    "alipay.trade.precreate",
    "alipay.trade.create",
    "alipay.trade.query",
    "alipay.trade.close",
    "alipay.trade.refund",
    "alipay.trade.fastpay.refund.query",
    "alipay.fund.trans.uni.transfer",
    "alipay.fund.trans.common.query",
    "alipay.data.dataservice.bill.downloadurl.query",
    "alipay.fund.trans.order.query",
];

/// Accepted clock difference of the `timestamp` parameter, seconds.
pub const TIMESTAMP_WINDOW_SECS: i64 = 15 * 60;

fn yuan(fen: i64) -> String {
    fen_to_yuan(fen).unwrap_or_default()
}

/// A JSON answer body.
fn answer(body: String) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(
        "Content-Type",
        "application/json;charset=utf-8".parse().expect("static"),
    );
    r
}

/// An unsigned gateway error: only before the app is known (nothing to sign with). Once
/// it is, errors are signed like Alipay's ([`signed_error`]) so clients can trust them.
fn gateway_error(
    method: Option<&str>,
    code: &str,
    msg: &str,
    sub_code: &str,
    sub_msg: &str,
) -> Response {
    let key = match method {
        Some(m) if METHODS.contains(&m) => paydesk_providers::alipay::sign::response_key(m),
        _ => "error_response".to_string(),
    };
    answer(
        json!({ key: { "code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg } })
            .to_string(),
    )
}

fn signed(m: &AlipayMerchant, method: &str, content: &Value) -> Response {
    match sign_response(&m.alipay_key, method, &content.to_string()) {
        Ok(body) => answer(body),
        Err(_) => gateway_error(
            Some(method),
            "20000",
            "Service Currently Unavailable",
            "isp.unknow-error",
            "系统繁忙",
        ),
    }
}

/// A gateway error for a known app and method, signed with the app's Alipay key.
fn signed_error(
    m: &AlipayMerchant,
    method: &str,
    code: &str,
    msg: &str,
    sub_code: &str,
    sub_msg: &str,
) -> Response {
    signed(
        m,
        method,
        &json!({ "code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg }),
    )
}

fn success(mut fields: Map<String, Value>) -> Value {
    let mut v = Map::new();
    v.insert("code".into(), json!("10000"));
    v.insert("msg".into(), json!("Success"));
    v.append(&mut fields);
    Value::Object(v)
}

fn business_error(sub_code: &str, sub_msg: &str) -> Value {
    json!({ "code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg })
}

fn invalid(sub_code: &str, sub_msg: &str) -> Value {
    json!({ "code": "40002", "msg": "Invalid Arguments", "sub_code": sub_code, "sub_msg": sub_msg })
}

/// What a method produced.
enum Out {
    Json(Value),
    Redirect(String),
}

fn fields(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// `/gateway.do`.
pub async fn gateway(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut params: Vec<(String, String)> =
        form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let ct = headers
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    if method == Method::POST && !body.is_empty() {
        if ct.starts_with("application/json") || ct.starts_with("multipart/") {
            return gateway_error(
                None,
                "40002",
                "Invalid Arguments",
                "isv.invalid-content-type",
                "请使用 application/x-www-form-urlencoded 提交参数",
            );
        }
        params.extend(form_urlencoded::parse(&body).into_owned());
    }
    let get = |k: &str| {
        params
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let api = get("method");
    let mut seen = std::collections::HashSet::new();
    if let Some((k, _)) = params.iter().find(|(k, _)| !seen.insert(k.as_str())) {
        return gateway_error(
            api,
            "40002",
            "Invalid Arguments",
            "isv.invalid-parameter",
            &format!("参数 {k} 重复"),
        );
    }
    let Some(app_id) = get("app_id") else {
        return gateway_error(
            api,
            "40001",
            "Missing Required Arguments",
            "isv.missing-app-id",
            "缺少AppID参数",
        );
    };
    let Some(api) = api else {
        return gateway_error(
            None,
            "40001",
            "Missing Required Arguments",
            "isv.missing-method",
            "缺少方法名参数",
        );
    };
    if !METHODS.contains(&api) {
        return gateway_error(
            None,
            "40002",
            "Invalid Arguments",
            "isv.invalid-method",
            "不存在的方法名",
        );
    }
    let Some(m) = app.merchants.alipay(app_id) else {
        return gateway_error(
            Some(api),
            "40002",
            "Invalid Arguments",
            "isv.invalid-app-id",
            "无效的AppID参数",
        );
    };
    if get("sign").is_none() {
        return signed_error(
            &m,
            api,
            "40001",
            "Missing Required Arguments",
            "isv.missing-signature",
            "缺少签名参数",
        );
    }
    match get("sign_type") {
        None => {
            return signed_error(
                &m,
                api,
                "40001",
                "Missing Required Arguments",
                "isv.missing-signature-type",
                "缺少签名类型参数",
            )
        }
        Some("RSA2") => {}
        Some(_) => {
            return signed_error(
                &m,
                api,
                "40002",
                "Invalid Arguments",
                "isv.invalid-signature-type",
                "无效的签名类型参数: 只支持RSA2",
            )
        }
    }
    if get("charset").is_some_and(|c| !c.eq_ignore_ascii_case("utf-8")) {
        return signed_error(
            &m,
            api,
            "40002",
            "Invalid Arguments",
            "isv.invalid-charset",
            "字符集错误: 沙箱只支持utf-8",
        );
    }
    let Some(ts) = get("timestamp") else {
        return signed_error(
            &m,
            api,
            "40001",
            "Missing Required Arguments",
            "isv.missing-timestamp",
            "缺少时间戳参数",
        );
    };
    match parse_time(ts) {
        None => {
            return signed_error(
                &m,
                api,
                "40002",
                "Invalid Arguments",
                "isv.invalid-timestamp",
                "非法的时间戳参数: 格式为yyyy-MM-dd HH:mm:ss",
            )
        }
        Some(t) if (t.unix_timestamp() - now_unix()).abs() > TIMESTAMP_WINDOW_SECS => {
            return signed_error(
                &m,
                api,
                "40002",
                "Invalid Arguments",
                "isv.invalid-timestamp",
                "非法的时间戳参数: 与支付宝服务器时间相差超过15分钟",
            )
        }
        _ => {}
    }
    if verify_request(std::slice::from_ref(&m.app_public), &params).is_err() {
        let content = paydesk_providers::alipay::sign::sign_content(
            params.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            &["sign"],
        );
        return signed_error(
            &m,
            api,
            "40002",
            "Invalid Arguments",
            "isv.invalid-signature",
            &format!("验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{content}"),
        );
    }
    let fault = app.faults().take_call(Provider::Alipay, api);
    if let Some(f) = &fault {
        if !f.execute {
            return fault_response(&m, api, f).await;
        }
    }
    let biz = get("biz_content").unwrap_or("{}").to_string();
    let ctx = Ctx {
        app: &app,
        m: &m,
        notify_url: get("notify_url").map(str::to_string),
        return_url: get("return_url").map(str::to_string),
    };
    let out = dispatch(&ctx, api, &biz);
    let resp = match out {
        Out::Json(v) => signed(&m, api, &v),
        Out::Redirect(url) => Redirect::to(&url).into_response(),
    };
    match fault {
        Some(f) => match f.kind {
            CallFaultKind::Timeout => {
                tokio::time::sleep(Duration::from_millis(f.delay_ms.unwrap_or(30_000))).await;
                resp
            }
            _ => {
                let f = CallFault {
                    delay_ms: None,
                    ..f
                };
                fault_response(&m, api, &f).await
            }
        },
        None => resp,
    }
}

async fn fault_response(m: &AlipayMerchant, api: &str, f: &CallFault) -> Response {
    let delay_ms = f.delay_ms;
    let system = || {
        signed(
            m,
            api,
            &json!({ "code": "20000", "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error", "sub_msg": "系统繁忙" }),
        )
    };
    match f.kind {
        CallFaultKind::Http500 => (StatusCode::BAD_GATEWAY, "502 Bad Gateway").into_response(),
        CallFaultKind::SystemError => system(),
        CallFaultKind::Timeout => {
            tokio::time::sleep(Duration::from_millis(delay_ms.unwrap_or(30_000))).await;
            system()
        }
        CallFaultKind::Error => {
            let code = f.code.as_deref().unwrap_or("ACQ.SYSTEM_ERROR");
            signed_error(
                m,
                api,
                "40004",
                "Business Failed",
                code,
                &format!("sandbox fault: {code}"),
            )
        }
    }
}

struct Ctx<'a> {
    app: &'a App,
    m: &'a AlipayMerchant,
    notify_url: Option<String>,
    return_url: Option<String>,
}

impl Ctx<'_> {
    fn app_id(&self) -> &str {
        &self.m.file.app_id
    }
}

fn parse<T: serde::de::DeserializeOwned>(biz: &str) -> Result<T, Out> {
    serde_json::from_str(biz).map_err(|e| {
        Out::Json(invalid(
            "isv.invalid-parameter",
            &format!("biz_content 不是合法的JSON或缺少必填字段: {e}"),
        ))
    })
}

fn dispatch(ctx: &Ctx<'_>, api: &str, biz: &str) -> Out {
    let r = match api {
        "alipay.trade.app.pay"
        | "alipay.trade.wap.pay"
        | "alipay.trade.page.pay"
        | "alipay.trade.precreate"
        | "alipay.trade.create" => create(ctx, api, biz),
        "alipay.trade.query" => query(ctx, biz),
        "alipay.trade.close" => close(ctx, biz),
        "alipay.trade.refund" => refund(ctx, biz),
        "alipay.trade.fastpay.refund.query" => refund_query(ctx, biz),
        "alipay.fund.trans.uni.transfer" => transfer(ctx, biz),
        "alipay.fund.trans.common.query" | "alipay.fund.trans.order.query" => {
            transfer_query(ctx, biz)
        }
        _ => bill_url(ctx, biz),
    };
    r.unwrap_or_else(|e| e)
}

fn valid_no(s: &str, max: usize) -> bool {
    !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn create(ctx: &Ctx<'_>, api: &str, biz: &str) -> Result<Out, Out> {
    let req: TradePayBiz = parse(biz)?;
    let bad = |msg: &str| Out::Json(invalid("isv.invalid-parameter", msg));
    if !valid_no(&req.out_trade_no, 64) {
        return Err(bad("out_trade_no 应为1至64位字母、数字、下划线或-"));
    }
    if req.subject.is_empty() || req.subject.chars().count() > 256 {
        return Err(bad("subject 不能为空且不超过256个字符"));
    }
    let total = yuan_to_fen(&req.total_amount)
        .ok()
        .filter(|f| (1..=10_000_000_000).contains(f))
        .ok_or_else(|| bad("total_amount 取值范围[0.01,100000000]，精确到小数点后两位"))?;
    let expected_product = match api {
        "alipay.trade.app.pay" => Some("QUICK_MSECURITY_PAY"),
        "alipay.trade.wap.pay" => Some("QUICK_WAP_WAY"),
        "alipay.trade.page.pay" => Some("FAST_INSTANT_TRADE_PAY"),
        _ => None,
    };
    if let (Some(want), Some(got)) = (expected_product, req.product_code.as_deref()) {
        if want != got {
            return Err(bad(&format!("product_code 应为 {want}")));
        }
    }
    if api == "alipay.trade.page.pay" && req.product_code.is_none() {
        return Err(bad("product_code 不能为空（FAST_INSTANT_TRADE_PAY）"));
    }
    let buyer = req.buyer_id.clone().or(req.buyer_open_id.clone());
    if api == "alipay.trade.create" && buyer.is_none() {
        return Err(Out::Json(business_error(
            "ACQ.INVALID_PARAMETER",
            "buyer_id 和 buyer_open_id 不能同时为空",
        )));
    }
    if let Some(n) = req
        .extend_params
        .as_ref()
        .and_then(|e| e.hb_fq_num.as_deref())
    {
        if !["3", "6", "12"].contains(&n) {
            return Err(Out::Json(business_error(
                "ACQ.INVALID_PARAMETER",
                "hb_fq_num 只能为3、6或12",
            )));
        }
    }
    let now = now_unix();
    let expires_at = match req.time_expire.as_deref() {
        None => now + 15 * 86400,
        Some(t) => parse_time(t)
            .ok_or_else(|| bad("time_expire 格式为yyyy-MM-dd HH:mm:ss"))?
            .unix_timestamp(),
    };
    let fingerprint = json!([api, req.subject, total, req.passback_params]).to_string();
    let key = order_key(Provider::Alipay, ctx.app_id(), &req.out_trade_no);
    let app_id = ctx.app_id().to_string();
    let order = ctx.app.write(|db| {
        if let Some(o) = db.orders.get_mut(&key) {
            expire_if_due(o);
            return match o.status {
                OrderStatus::Paid => Err(Out::Json(business_error(
                    "ACQ.TRADE_HAS_SUCCESS",
                    "交易已被支付",
                ))),
                OrderStatus::Closed => Err(Out::Json(business_error(
                    "ACQ.TRADE_HAS_CLOSE",
                    "交易已经关闭",
                ))),
                _ if o.total != total || o.subject != req.subject => {
                    Err(Out::Json(business_error(
                        "ACQ.CONTEXT_INCONSISTENT",
                        "交易信息被篡改: the same out_trade_no with different parameters",
                    )))
                }
                _ => {
                    // A repeat may carry new URLs (e.g. a page pay opened again).
                    if ctx.notify_url.is_some() {
                        o.notify_url = ctx.notify_url.clone();
                    }
                    if ctx.return_url.is_some() {
                        o.return_url = ctx.return_url.clone();
                    }
                    Ok(o.clone())
                }
            };
        }
        let o = Order {
            provider: Provider::Alipay,
            merchant: app_id.clone(),
            appid: app_id.clone(),
            out_trade_no: req.out_trade_no.clone(),
            // precreate/create assign a trade_no at once; pay pages at payment.
            txn_id: matches!(api, "alipay.trade.precreate" | "alipay.trade.create")
                .then(new_alipay_trade_no),
            product: api.to_string(),
            subject: req.subject.clone(),
            total,
            paid_amount: None,
            status: OrderStatus::Pending,
            refunded: 0,
            notify_url: ctx.notify_url.clone(),
            return_url: ctx.return_url.clone(),
            attach: req.passback_params.clone(),
            payer: buyer.clone(),
            created_at: now,
            expires_at,
            paid_at: None,
            finished_at: None,
            prepay_id: None,
            wallet_token: random_token(),
            request_fingerprint: fingerprint.clone(),
            times_paid: 0,
        };
        db.insert_order(o.clone());
        Ok(o)
    })?;
    let wallet = format!(
        "{}/wallet/alipay/{}/{}",
        ctx.app.base_url, order.merchant, order.out_trade_no
    );
    Ok(match api {
        "alipay.trade.precreate" => Out::Json(success(fields(&[
            ("out_trade_no", json!(order.out_trade_no)),
            (
                "qr_code",
                json!(format!(
                    "{}/wallet/t/{}",
                    ctx.app.base_url, order.wallet_token
                )),
            ),
        ]))),
        "alipay.trade.create" => Out::Json(success(fields(&[
            ("out_trade_no", json!(order.out_trade_no)),
            ("trade_no", json!(order.txn_id)),
        ]))),
        _ => Out::Redirect(wallet),
    })
}

fn find<'a>(db: &'a mut crate::state::Db, app_id: &str, r: &TradeRef) -> Option<&'a mut Order> {
    match (&r.out_trade_no, &r.trade_no) {
        (Some(n), _) => db.orders.get_mut(&order_key(Provider::Alipay, app_id, n)),
        (None, Some(t)) => db.orders.values_mut().find(|o| {
            o.provider == Provider::Alipay && o.merchant == app_id && o.txn_id.as_deref() == Some(t)
        }),
        (None, None) => None,
    }
}

fn missing_ref() -> Out {
    Out::Json(business_error(
        "ACQ.INVALID_PARAMETER",
        "out_trade_no 和 trade_no 不能同时为空",
    ))
}

fn not_exist() -> Out {
    Out::Json(business_error("ACQ.TRADE_NOT_EXIST", "交易不存在"))
}

fn query(ctx: &Ctx<'_>, biz: &str) -> Result<Out, Out> {
    let r: TradeRef = parse(biz)?;
    if r.out_trade_no.is_none() && r.trade_no.is_none() {
        return Err(missing_ref());
    }
    let o = ctx
        .app
        .write(|db| {
            let o = find(db, ctx.app_id(), &r)?;
            expire_if_due(o);
            Some(o.clone())
        })
        .ok_or_else(not_exist)?;
    let mut f = fields(&[
        ("out_trade_no", json!(o.out_trade_no)),
        ("trade_status", json!(o.alipay_trade_status())),
        ("total_amount", json!(yuan(o.total))),
    ]);
    if let Some(t) = &o.txn_id {
        f.insert("trade_no".into(), json!(t));
    }
    if o.status == OrderStatus::Paid {
        f.insert("total_amount".into(), json!(yuan(o.paid())));
        f.insert("buyer_pay_amount".into(), json!(yuan(o.paid())));
        f.insert("receipt_amount".into(), json!(yuan(o.paid())));
        f.insert("invoice_amount".into(), json!(yuan(o.paid())));
        f.insert("point_amount".into(), json!("0.00"));
        f.insert(
            "send_pay_date".into(),
            json!(alipay_time(o.paid_at.unwrap_or(o.created_at))),
        );
        f.insert("buyer_logon_id".into(), json!("san***@example.com"));
        f.insert("buyer_user_type".into(), json!("PRIVATE"));
    }
    if let Some(p) = &o.payer {
        f.insert("buyer_user_id".into(), json!(p));
    }
    Ok(Out::Json(success(f)))
}

fn close(ctx: &Ctx<'_>, biz: &str) -> Result<Out, Out> {
    let r: TradeRef = parse(biz)?;
    if r.out_trade_no.is_none() && r.trade_no.is_none() {
        return Err(missing_ref());
    }
    ctx.app.write(|db| {
        let o = find(db, ctx.app_id(), &r).ok_or_else(not_exist)?;
        expire_if_due(o);
        match o.status {
            OrderStatus::Paid => Err(Out::Json(business_error(
                "ACQ.TRADE_STATUS_ERROR",
                "交易状态不合法: 交易已支付",
            ))),
            _ => {
                if o.status != OrderStatus::Closed {
                    o.status = OrderStatus::Closed;
                    o.finished_at = Some(now_unix());
                }
                let mut f = fields(&[("out_trade_no", json!(o.out_trade_no))]);
                if let Some(t) = &o.txn_id {
                    f.insert("trade_no".into(), json!(t));
                }
                Ok(Out::Json(success(f)))
            }
        }
    })
}

fn refund(ctx: &Ctx<'_>, biz: &str) -> Result<Out, Out> {
    let req: RefundBiz = parse(biz)?;
    let r = TradeRef {
        out_trade_no: req.out_trade_no.clone(),
        trade_no: req.trade_no.clone(),
    };
    if r.out_trade_no.is_none() && r.trade_no.is_none() {
        return Err(missing_ref());
    }
    let amount = yuan_to_fen(&req.refund_amount)
        .ok()
        .filter(|a| *a > 0)
        .ok_or_else(|| {
            Out::Json(business_error(
                "ACQ.INVALID_PARAMETER",
                "refund_amount 格式错误，单位为元，精确到分",
            ))
        })?;
    let app_id = ctx.app_id().to_string();
    ctx.app.write(|db| {
        let o = find(db, &app_id, &r).ok_or_else(not_exist)?.clone();
        if o.status != OrderStatus::Paid {
            return Err(Out::Json(business_error(
                "ACQ.TRADE_STATUS_ERROR",
                "交易状态不合法",
            )));
        }
        let request_no = Some(req.out_request_no.clone())
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| o.out_trade_no.clone());
        let rkey = sub_key(
            Provider::Alipay,
            &app_id,
            &format!("{}|{request_no}", o.out_trade_no),
        );
        let answer = |o: &Order, fund_change: &str, at: i64| {
            Out::Json(success(fields(&[
                ("trade_no", json!(o.txn_id)),
                ("out_trade_no", json!(o.out_trade_no)),
                ("buyer_logon_id", json!("san***@example.com")),
                ("fund_change", json!(fund_change)),
                ("refund_fee", json!(yuan(o.refunded))),
                ("gmt_refund_pay", json!(alipay_time(at))),
                ("buyer_user_id", json!(o.payer)),
            ])))
        };
        if let Some(existing) = db.refunds.get(&rkey) {
            if existing.amount != amount {
                return Err(Out::Json(business_error(
                    "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                    "退款金额与该退款请求号之前的请求不一致",
                )));
            }
            // A repeat moves no money: fund_change N.
            return Ok(answer(
                &o,
                "N",
                existing.success_at.unwrap_or(existing.created_at),
            ));
        }
        // refund_amount is client input: it may be as large as an i64 goes.
        let Some(refunded) = o.refunded.checked_add(amount) else {
            return Err(Out::Json(business_error(
                "ACQ.INVALID_PARAMETER",
                "refund_amount 超出取值范围",
            )));
        };
        if refunded > o.paid() {
            return Err(Out::Json(business_error(
                "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL",
                "退款金额超限",
            )));
        }
        let mut o = o;
        o.refunded = refunded;
        let now = now_unix();
        db.insert_refund(RefundRec {
            provider: Provider::Alipay,
            merchant: app_id.clone(),
            out_refund_no: format!("{}|{request_no}", o.out_trade_no),
            out_trade_no: o.out_trade_no.clone(),
            txn_id: o.txn_id.clone(),
            refund_id: request_no.clone(),
            amount,
            total: o.paid(),
            status: "SUCCESS".into(),
            created_at: now,
            success_at: Some(now),
            settle_at_ms: None,
            notify_url: None,
            reason: req.refund_reason.clone(),
        });
        let out = answer(&o, "Y", now);
        db.insert_order(o);
        Ok(out)
    })
}

fn refund_query(ctx: &Ctx<'_>, biz: &str) -> Result<Out, Out> {
    let req: RefundQueryBiz = parse(biz)?;
    let app_id = ctx.app_id().to_string();
    let db = ctx.app.db();
    let o = db
        .orders
        .get(&order_key(Provider::Alipay, &app_id, &req.out_trade_no))
        .ok_or_else(not_exist)?;
    let rkey = sub_key(
        Provider::Alipay,
        &app_id,
        &format!("{}|{}", o.out_trade_no, req.out_request_no),
    );
    let mut f = fields(&[
        ("out_trade_no", json!(o.out_trade_no)),
        ("out_request_no", json!(req.out_request_no)),
    ]);
    if let Some(t) = &o.txn_id {
        f.insert("trade_no".into(), json!(t));
    }
    if let Some(r) = db.refunds.get(&rkey) {
        f.insert("total_amount".into(), json!(yuan(r.total)));
        f.insert("refund_amount".into(), json!(yuan(r.amount)));
        f.insert("refund_status".into(), json!("REFUND_SUCCESS"));
        if req.query_options.iter().any(|q| q == "gmt_refund_pay") {
            f.insert(
                "gmt_refund_pay".into(),
                json!(alipay_time(r.success_at.unwrap_or(r.created_at))),
            );
        }
    }
    // An unknown refund request: success without refund_status (Alipay's documented answer).
    Ok(Out::Json(success(f)))
}

fn transfer(ctx: &Ctx<'_>, biz: &str) -> Result<Out, Out> {
    let req: TransferBiz = parse(biz)?;
    let bad = |sub: &str, msg: &str| Out::Json(business_error(sub, msg));
    if !valid_no(&req.out_biz_no, 64) {
        return Err(bad("INVALID_PARAMETER", "out_biz_no 格式错误"));
    }
    if req.product_code != "TRANS_ACCOUNT_NO_PWD" {
        return Err(bad(
            "INVALID_PARAMETER",
            "product_code 只支持TRANS_ACCOUNT_NO_PWD",
        ));
    }
    if req.biz_scene != "DIRECT_TRANSFER" {
        return Err(bad("INVALID_PARAMETER", "biz_scene 只支持DIRECT_TRANSFER"));
    }
    let amount = yuan_to_fen(&req.trans_amount)
        .ok()
        .filter(|a| *a >= 10)
        .ok_or_else(|| {
            bad(
                "INVALID_PARAMETER",
                "trans_amount 最小0.1元，单位为元，精确到分",
            )
        })?;
    match req.payee_info.identity_type.as_str() {
        "ALIPAY_USER_ID" => {
            let id = &req.payee_info.identity;
            if !(id.len() == 16 && id.starts_with("2088") && id.bytes().all(|b| b.is_ascii_digit()))
            {
                return Err(bad("PAYEE_NOT_EXIST", "收款账号不存在"));
            }
        }
        "ALIPAY_LOGON_ID" => {
            if req.payee_info.name.as_deref().is_none_or(str::is_empty) {
                return Err(bad(
                    "PAYEE_USER_INFO_ERROR",
                    "ALIPAY_LOGON_ID 需要提供收款方真实姓名",
                ));
            }
        }
        _ => {
            return Err(bad(
                "INVALID_PARAMETER",
                "identity_type 只能为ALIPAY_USER_ID或ALIPAY_LOGON_ID",
            ))
        }
    }
    if req.order_title.is_empty() {
        return Err(bad("INVALID_PARAMETER", "order_title 不能为空"));
    }
    let app_id = ctx.app_id().to_string();
    ctx.app.write(|db| {
        let key = sub_key(Provider::Alipay, &app_id, &req.out_biz_no);
        if let Some(t) = db.transfers.get(&key) {
            if t.amount != amount || t.payee != req.payee_info.identity {
                return Err(bad(
                    "EXIST_FORBIDDEN_WORD",
                    "out_biz_no 已存在，且参数与原请求不一致",
                ));
            }
            return Ok(Out::Json(transfer_answer(t)));
        }
        let now = now_unix();
        let t = TransferRec {
            provider: Provider::Alipay,
            merchant: app_id.clone(),
            appid: app_id.clone(),
            out_bill_no: req.out_biz_no.clone(),
            bill_no: format!(
                "{}020070011530{}",
                crate::app::china_date_compact(now),
                random_digits(10)
            ),
            amount,
            payee: req.payee_info.identity.clone(),
            payee_name: req.payee_info.name.clone(),
            remark: req
                .remark
                .clone()
                .unwrap_or_else(|| req.order_title.clone()),
            state: "SUCCESS".into(),
            fail_reason: None,
            package_info: None,
            created_at: now,
            updated_at: now,
            settle_at_ms: None,
            notify_url: None,
        };
        let out = Out::Json(transfer_answer(&t));
        db.insert_transfer(t);
        Ok(out)
    })
}

fn transfer_answer(t: &TransferRec) -> Value {
    success(fields(&[
        ("out_biz_no", json!(t.out_bill_no)),
        ("order_id", json!(t.bill_no)),
        ("pay_fund_order_id", json!(format!("{}1", t.bill_no))),
        ("status", json!(t.state)),
        ("trans_date", json!(alipay_time(t.updated_at))),
    ]))
}

fn transfer_query(ctx: &Ctx<'_>, biz: &str) -> Result<Out, Out> {
    let req: TransferQueryBiz = parse(biz)?;
    let db = ctx.app.db();
    let t = db
        .transfers
        .get(&sub_key(Provider::Alipay, ctx.app_id(), &req.out_biz_no))
        .ok_or_else(|| Out::Json(business_error("ORDER_NOT_EXIST", "转账订单不存在")))?;
    let mut f = fields(&[
        ("order_id", json!(t.bill_no)),
        ("pay_fund_order_id", json!(format!("{}1", t.bill_no))),
        ("out_biz_no", json!(t.out_bill_no)),
        ("trans_amount", json!(yuan(t.amount))),
        ("status", json!(t.state)),
        ("order_fee", json!("0.00")),
    ]);
    if t.state == "SUCCESS" {
        f.insert("pay_date".into(), json!(alipay_time(t.updated_at)));
        f.insert("arrival_time_end".into(), json!(alipay_time(t.updated_at)));
    }
    if let Some(r) = &t.fail_reason {
        f.insert("fail_reason".into(), json!(r));
        f.insert("error_code".into(), json!(r));
    }
    Ok(Out::Json(success(f)))
}

fn bill_url(ctx: &Ctx<'_>, biz: &str) -> Result<Out, Out> {
    let req: paydesk_providers::alipay::wire::BillBiz = parse(biz)?;
    if req.bill_type != "trade" {
        return Err(Out::Json(business_error(
            "isp.bill_type_not_support",
            "沙箱只提供trade类型账单",
        )));
    }
    let date = crate::bills::parse_date(&req.bill_date).ok_or_else(|| {
        Out::Json(invalid(
            "isv.invalid-parameter",
            "bill_date 格式为yyyy-MM-dd",
        ))
    })?;
    if date > crate::bills::china_today() {
        return Err(Out::Json(business_error(
            "isp.bill_not_exist",
            "账单不存在: 日期不能晚于今天",
        )));
    }
    let (seller, app_id) = (ctx.m.file.seller_id.clone(), ctx.app_id().to_string());
    let zip = {
        let db = ctx.app.db();
        crate::bills::alipay_trade_bill(&db, &app_id, &seller, date)
    };
    let zip = zip.ok_or_else(|| Out::Json(business_error("isp.bill_not_exist", "账单不存在")))?;
    let token = ctx.app.keep_bill(zip);
    Ok(Out::Json(success(fields(&[(
        "bill_download_url",
        json!(format!("{}/sandbox/bills/alipay/{token}", ctx.app.base_url)),
    )]))))
}
