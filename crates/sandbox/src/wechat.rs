//! WeChat Pay API v3, served under `/v3/`: the merchant's `Authorization` is verified with
//! the adapters' own server-side check, answers are signed with the merchant's platform key
//! (public-key id or certificate, per merchant), errors use WeChat's `{"code","message"}`.

use crate::app::{now_ms, now_unix, random_digits, random_token, App, CallFault, CallFaultKind};
use crate::merchant::WechatMerchant;
use crate::settle::{expire_if_due, wechat_refund, wechat_transaction, wechat_transfer};
use crate::state::{order_key, sub_key, Order, OrderStatus, Provider, RefundRec, TransferRec};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use paydesk_providers::error::SignatureError;
use paydesk_providers::wechatpay::sign::{
    decrypt_sensitive, encrypt_certificate, random_nonce, verify_request, Authorization,
    SignedHeaders, DEFAULT_WINDOW_SECS, HEADER_SERIAL,
};
use paydesk_providers::wechatpay::wire::{
    CloseRequest, PrepayRequest, RefundCreateRequest, TransferBillRequest,
};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

/// What a handler produced, before signing.
enum Out {
    Json(StatusCode, Value),
    NoContent,
    /// Unsigned bytes (bill download).
    File(Vec<u8>),
    Err(StatusCode, &'static str, String),
}

fn err(status: StatusCode, code: &'static str, msg: impl Into<String>) -> Out {
    Out::Err(status, code, msg.into())
}

fn param(msg: impl Into<String>) -> Out {
    err(StatusCode::BAD_REQUEST, "PARAM_ERROR", msg)
}

fn json_response(
    status: StatusCode,
    body: Vec<u8>,
    signer: Option<(&WechatMerchant, bool)>,
) -> Response {
    let mut resp = (status, body.clone()).into_response();
    let h = resp.headers_mut();
    h.insert(
        "Content-Type",
        "application/json; charset=utf-8".parse().expect("static"),
    );
    h.insert("Request-ID", random_token().parse().expect("token"));
    if let Some((m, certificate)) = signer {
        let (key, id) = if certificate {
            (&m.cert_key, m.file.platform_certificate_serial.as_str())
        } else {
            m.signer()
        };
        if let Ok(s) = SignedHeaders::sign(key, id, &body, now_unix(), &random_nonce(32)) {
            for (k, v) in s.to_headers() {
                if let Ok(v) = v.parse() {
                    h.insert(k, v);
                }
            }
            // WeChat names the scheme too; some SDKs (wechatpayv3) refuse answers without it.
            h.insert(
                "Wechatpay-Signature-Type",
                paydesk_providers::wechatpay::sign::AUTH_SCHEMA
                    .parse()
                    .expect("static"),
            );
        }
    }
    resp
}

fn render(out: Out, m: &WechatMerchant, certificate: bool) -> Response {
    match out {
        Out::Json(status, v) => {
            json_response(status, v.to_string().into_bytes(), Some((m, certificate)))
        }
        Out::NoContent => json_response(StatusCode::NO_CONTENT, Vec::new(), Some((m, certificate))),
        Out::File(bytes) => {
            let mut r = (StatusCode::OK, bytes).into_response();
            r.headers_mut().insert(
                "Content-Type",
                "application/octet-stream".parse().expect("static"),
            );
            r
        }
        Out::Err(status, code, message) => json_response(
            status,
            json!({ "code": code, "message": message })
                .to_string()
                .into_bytes(),
            Some((m, certificate)),
        ),
    }
}

/// Unsigned error (before we know the merchant).
fn unsigned_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(
        status,
        json!({ "code": code, "message": message })
            .to_string()
            .into_bytes(),
        None,
    )
}

fn system_error(m: &WechatMerchant) -> Response {
    render(
        err(
            StatusCode::INTERNAL_SERVER_ERROR,
            "SYSTEM_ERROR",
            "系统错误",
        ),
        m,
        false,
    )
}

/// Entry for every `/v3/...` request.
pub async fn entry(
    State(app): State<Arc<App>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path_and_query = uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| uri.path().to_string());
    let Ok(body_text) = std::str::from_utf8(&body) else {
        return unsigned_error(StatusCode::BAD_REQUEST, "PARAM_ERROR", "body is not UTF-8");
    };
    let Some(auth) = headers.get("Authorization").and_then(|v| v.to_str().ok()) else {
        return unsigned_error(
            StatusCode::UNAUTHORIZED,
            "SIGN_ERROR",
            "Authorization header is missing (expected WECHATPAY2-SHA256-RSA2048 ...)",
        );
    };
    let verified = verify_request(
        auth,
        method.as_str(),
        &path_and_query,
        body_text,
        now_unix(),
        DEFAULT_WINDOW_SECS,
        |mchid, serial| {
            app.merchants
                .wechat(mchid)
                .filter(|m| m.file.merchant_serial_no.eq_ignore_ascii_case(serial))
                .map(|m| m.merchant_public.clone())
        },
    );
    let auth = match verified {
        Ok(a) => a,
        Err(e) => {
            let msg = match e {
                SignatureError::Expired { .. } => {
                    "签名错误: timestamp is outside the 5-minute window".to_string()
                }
                SignatureError::UnknownKey(_) => {
                    "签名错误: unknown mchid or merchant serial_no".to_string()
                }
                SignatureError::Invalid => {
                    "签名错误，请检查后再试: the signature does not verify with the merchant's key"
                        .to_string()
                }
                other => format!("签名错误: Authorization header: {other}"),
            };
            // WeChat Pay signs its error answers too: when the header names a merchant we
            // know, its platform key signs the refusal (the client can trust it); only a
            // request naming no known merchant gets an unsigned answer.
            let named = Authorization::parse(auth)
                .ok()
                .and_then(|a| app.merchants.wechat(&a.mchid));
            return match named {
                Some(m) => render(err(StatusCode::UNAUTHORIZED, "SIGN_ERROR", msg), &m, false),
                None => unsigned_error(StatusCode::UNAUTHORIZED, "SIGN_ERROR", &msg),
            };
        }
    };
    let Some(m) = app.merchants.wechat(&auth.mchid) else {
        return unsigned_error(StatusCode::UNAUTHORIZED, "SIGN_ERROR", "unknown mchid");
    };
    let path = uri.path();
    let query = uri.query().unwrap_or("");
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let op = match (&method, segs.as_slice()) {
        (&Method::POST, ["v3", "pay", "transactions", "jsapi" | "app" | "h5" | "native"]) => {
            "create"
        }
        (&Method::GET, ["v3", "pay", "transactions", "out-trade-no" | "id", _]) => "query",
        (&Method::POST, ["v3", "pay", "transactions", "out-trade-no", _, "close"]) => "close",
        (&Method::POST, ["v3", "refund", "domestic", "refunds"]) => "refund",
        (&Method::GET, ["v3", "refund", "domestic", "refunds", _]) => "query_refund",
        (&Method::POST, ["v3", "fund-app", "mch-transfer", "transfer-bills"]) => "transfer",
        (&Method::GET, ["v3", "fund-app", "mch-transfer", "transfer-bills", "out-bill-no", _]) => {
            "query_transfer"
        }
        (
            &Method::POST,
            ["v3", "fund-app", "mch-transfer", "transfer-bills", "out-bill-no", _, "cancel"],
        ) => "cancel_transfer",
        (&Method::GET, ["v3", "bill", "tradebill"]) => "tradebill",
        (&Method::GET, ["v3", "billdownload", "file"]) => "billdownload",
        (&Method::GET, ["v3", "certificates"]) => "certificates",
        _ => {
            return render(
                err(
                    StatusCode::NOT_FOUND,
                    "NOT_FOUND",
                    format!("no such API: {method} {path}"),
                ),
                &m,
                false,
            )
        }
    };
    let fault = app.faults().take_call(Provider::Wechatpay, op);
    if let Some(f) = &fault {
        if !f.execute {
            return fault_response(&m, f).await;
        }
    }
    let ctx = Ctx {
        app: &app,
        m: &m,
        body: &body,
        query,
        headers: &headers,
    };
    let out = match op {
        "create" => create(&ctx, segs[3]),
        "query" => query_order(&ctx, segs[3], segs[4]),
        "close" => close(&ctx, segs[4]),
        "refund" => refund(&ctx),
        "query_refund" => query_refund(&ctx, segs[4]),
        "transfer" => transfer(&ctx),
        "query_transfer" => query_transfer(&ctx, segs[5]),
        "cancel_transfer" => cancel_transfer(&ctx, segs[5]),
        "tradebill" => tradebill(&ctx),
        "billdownload" => billdownload(&ctx),
        _ => certificates(&ctx),
    };
    let resp = render(out, &m, op == "certificates");
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
                fault_response(&m, &f).await
            }
        },
        None => resp,
    }
}

async fn fault_response(m: &WechatMerchant, f: &CallFault) -> Response {
    let delay_ms = f.delay_ms;
    match f.kind {
        CallFaultKind::Http500 => {
            (StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error").into_response()
        }
        CallFaultKind::SystemError => system_error(m),
        CallFaultKind::Timeout => {
            tokio::time::sleep(Duration::from_millis(delay_ms.unwrap_or(30_000))).await;
            system_error(m)
        }
        CallFaultKind::Error => {
            let status = f
                .http_status
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::BAD_REQUEST);
            let code = f.code.clone().unwrap_or_else(|| "INVALID_REQUEST".into());
            render(
                Out::Json(
                    status,
                    json!({ "code": code, "message": format!("sandbox fault: {code}") }),
                ),
                m,
                false,
            )
        }
    }
}

struct Ctx<'a> {
    app: &'a App,
    m: &'a WechatMerchant,
    body: &'a [u8],
    query: &'a str,
    headers: &'a HeaderMap,
}

impl Ctx<'_> {
    fn query_param(&self, name: &str) -> Option<String> {
        form_urlencoded::parse(self.query.as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    }

    fn mchid(&self) -> &str {
        &self.m.file.mchid
    }

    fn parse<T: serde::de::DeserializeOwned>(&self) -> Result<T, Out> {
        serde_json::from_slice(self.body)
            .map_err(|e| param(format!("输入源“/body”映射到值字段失败: {e}")))
    }
}

/// `[0-9A-Za-z_-|*]`, `min..=max` characters.
fn valid_no(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-|*".contains(&b))
}

fn valid_notify_url(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://")) && !u.contains('?') && u.len() <= 255
}

fn create(ctx: &Ctx<'_>, kind: &str) -> Out {
    let req: PrepayRequest = match ctx.parse() {
        Ok(r) => r,
        Err(e) => return e,
    };
    if req.mchid != ctx.mchid() {
        return err(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "请求中的mchid与Authorization中的mchid不一致",
        );
    }
    if req.appid != ctx.m.file.appid {
        return err(
            StatusCode::BAD_REQUEST,
            "APPID_MCHID_NOT_MATCH",
            "appid和mch_id不匹配",
        );
    }
    if req.description.is_empty() || req.description.chars().count() > 127 {
        return param("description 长度应为1至127个字符");
    }
    if !valid_no(&req.out_trade_no, 6, 32) {
        return param("out_trade_no 应为6至32位数字、大小写字母或_-|*");
    }
    if req.amount.total < 1 {
        return param("amount.total 应大于0");
    }
    if req.amount.currency.as_deref().is_some_and(|c| c != "CNY") {
        return param("amount.currency 只支持CNY");
    }
    if !valid_notify_url(&req.notify_url) {
        return param("notify_url 格式错误: 需为http(s)绝对地址且不能携带参数");
    }
    if req.attach.as_deref().is_some_and(|a| a.len() > 128) {
        return param("attach 长度不能超过128");
    }
    let now = now_unix();
    let expires_at = match &req.time_expire {
        None => now + 2 * 3600,
        Some(t) => {
            match time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339) {
                Ok(t) => t.unix_timestamp(),
                Err(_) => return param("time_expire 格式错误，应为rfc3339格式"),
            }
        }
    };
    let openid = req
        .payer
        .as_ref()
        .and_then(|p| p.openid.clone())
        .filter(|s| !s.is_empty());
    let trade_type = match kind {
        "jsapi" => {
            if openid.is_none() {
                return param("payer.openid 不能为空");
            }
            "JSAPI"
        }
        "app" => "APP",
        "h5" => {
            let ok = req
                .scene_info
                .as_ref()
                .and_then(|s| s.h5_info.as_ref())
                .is_some_and(|h| !h.kind.is_empty());
            if !ok {
                return param("scene_info.h5_info.type 不能为空");
            }
            "MWEB"
        }
        _ => "NATIVE",
    };
    let fingerprint = json!([
        trade_type,
        req.description,
        req.amount.total,
        req.notify_url,
        req.attach,
        openid
    ])
    .to_string();
    let key = order_key(Provider::Wechatpay, ctx.mchid(), &req.out_trade_no);
    let result = ctx.app.write(|db| {
        if let Some(o) = db.orders.get_mut(&key) {
            expire_if_due(o);
            return match o.status {
                OrderStatus::Paid => Err(err(StatusCode::FORBIDDEN, "ORDERPAID", "该订单已支付")),
                OrderStatus::Closed => {
                    Err(err(StatusCode::BAD_REQUEST, "ORDERCLOSED", "订单已关闭"))
                }
                _ if o.request_fingerprint != fingerprint => Err(err(
                    StatusCode::FORBIDDEN,
                    "OUT_TRADE_NO_USED",
                    "商户订单号重复: the same out_trade_no with different parameters",
                )),
                _ => Ok(o.clone()),
            };
        }
        let stamp = crate::app::china_date_compact(now);
        let o = Order {
            provider: Provider::Wechatpay,
            merchant: ctx.mchid().to_string(),
            appid: req.appid.clone(),
            out_trade_no: req.out_trade_no.clone(),
            txn_id: None,
            product: trade_type.to_string(),
            subject: req.description.clone(),
            total: req.amount.total,
            paid_amount: None,
            status: OrderStatus::Pending,
            refunded: 0,
            notify_url: Some(req.notify_url.clone()),
            return_url: None,
            attach: req.attach.clone(),
            payer: openid.clone(),
            created_at: now,
            expires_at,
            paid_at: None,
            finished_at: None,
            prepay_id: Some(format!(
                "wx{stamp}{}{}",
                random_digits(6),
                random_token()[..20].to_ascii_lowercase()
            )),
            wallet_token: random_token(),
            request_fingerprint: fingerprint.clone(),
            times_paid: 0,
        };
        db.insert_order(o.clone());
        Ok(o)
    });
    let o = match result {
        Ok(o) => o,
        Err(e) => return e,
    };
    let v = match trade_type {
        "NATIVE" => {
            json!({ "code_url": format!("weixin://wxpay/bizpayurl?pr={}", o.wallet_token) })
        }
        "MWEB" => json!({ "h5_url": format!("{}/wallet/t/{}", ctx.app.base_url, o.wallet_token) }),
        _ => json!({ "prepay_id": o.prepay_id }),
    };
    Out::Json(StatusCode::OK, v)
}

fn query_order(ctx: &Ctx<'_>, by: &str, id: &str) -> Out {
    match ctx.query_param("mchid") {
        None => return param("mchid 为必填参数"),
        Some(m) if m != ctx.mchid() => {
            return err(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "mchid与请求头中的商户号不一致",
            )
        }
        _ => {}
    }
    let id = decode_segment(id);
    let found = ctx.app.write(|db| {
        let key = if by == "id" {
            db.orders
                .values()
                .find(|o| {
                    o.provider == Provider::Wechatpay
                        && o.merchant == ctx.mchid()
                        && o.txn_id.as_deref() == Some(id.as_str())
                })
                .map(Order::key)
        } else {
            Some(order_key(Provider::Wechatpay, ctx.mchid(), &id))
        };
        let o = db.orders.get_mut(&key?)?;
        expire_if_due(o);
        Some(o.clone())
    });
    match found {
        Some(o) => Out::Json(StatusCode::OK, wechat_transaction(&o)),
        None => err(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在"),
    }
}

fn decode_segment(s: &str) -> String {
    form_urlencoded::parse(format!("v={}", s.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn close(ctx: &Ctx<'_>, no: &str) -> Out {
    let req: CloseRequest = match ctx.parse() {
        Ok(r) => r,
        Err(e) => return e,
    };
    if req.mchid != ctx.mchid() {
        return err(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "mchid与请求头中的商户号不一致",
        );
    }
    let key = order_key(Provider::Wechatpay, ctx.mchid(), &decode_segment(no));
    ctx.app.write(|db| {
        let Some(o) = db.orders.get_mut(&key) else {
            return err(StatusCode::NOT_FOUND, "ORDER_NOT_EXIST", "订单不存在");
        };
        expire_if_due(o);
        match o.status {
            OrderStatus::Paid => err(StatusCode::BAD_REQUEST, "ORDERPAID", "订单已支付，不能关闭"),
            OrderStatus::Closed => Out::NoContent,
            OrderStatus::Pending | OrderStatus::Failed => {
                o.status = OrderStatus::Closed;
                o.finished_at = Some(now_unix());
                Out::NoContent
            }
        }
    })
}

fn refund(ctx: &Ctx<'_>) -> Out {
    let req: RefundCreateRequest = match ctx.parse() {
        Ok(r) => r,
        Err(e) => return e,
    };
    if !valid_no(&req.out_refund_no, 1, 64) {
        return param("out_refund_no 格式错误");
    }
    if req.amount.currency != "CNY" {
        return param("amount.currency 只支持CNY");
    }
    if req.amount.refund < 1 {
        return param("amount.refund 应大于0");
    }
    if let Some(u) = &req.notify_url {
        if !valid_notify_url(u) {
            return param("notify_url 格式错误");
        }
    }
    let mchid = ctx.mchid().to_string();
    let app = ctx.app;
    app.write(|db| {
        let order = match (&req.transaction_id, &req.out_trade_no) {
            (Some(t), _) => db
                .orders
                .values()
                .find(|o| {
                    o.provider == Provider::Wechatpay
                        && o.merchant == mchid
                        && o.txn_id.as_deref() == Some(t.as_str())
                })
                .cloned(),
            (None, Some(n)) => db
                .orders
                .get(&order_key(Provider::Wechatpay, &mchid, n))
                .cloned(),
            (None, None) => return param("transaction_id 和 out_trade_no 必须二选一"),
        };
        let Some(mut order) = order else {
            return err(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "订单不存在");
        };
        let rkey = sub_key(Provider::Wechatpay, &mchid, &req.out_refund_no);
        if let Some(r) = db.refunds.get(&rkey) {
            if r.out_trade_no == order.out_trade_no && r.amount == req.amount.refund {
                return Out::Json(StatusCode::OK, wechat_refund(r));
            }
            return err(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "out_refund_no 已使用，且参数与原请求不一致",
            );
        }
        if order.status != OrderStatus::Paid {
            return err(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "订单未支付，不能退款",
            );
        }
        if req.amount.total != order.paid() {
            return err(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "amount.total 与订单实际支付金额不一致",
            );
        }
        let count = db
            .refunds
            .values()
            .filter(|r| {
                r.provider == Provider::Wechatpay
                    && r.merchant == mchid
                    && r.out_trade_no == order.out_trade_no
            })
            .count();
        if count >= 50 {
            return err(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "一笔订单最多退款50次",
            );
        }
        // The refund amount is client input: it may be as large as an i64 goes.
        let Some(refunded) = order.refunded.checked_add(req.amount.refund) else {
            return param("amount.refund 超出取值范围");
        };
        if refunded > order.paid() {
            return err(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "申请退款金额超过订单可退金额",
            );
        }
        order.refunded = refunded;
        let r = RefundRec {
            provider: Provider::Wechatpay,
            merchant: mchid.clone(),
            out_refund_no: req.out_refund_no.clone(),
            out_trade_no: order.out_trade_no.clone(),
            txn_id: order.txn_id.clone(),
            refund_id: format!("50{}", random_digits(30)),
            amount: req.amount.refund,
            total: order.paid(),
            status: "PROCESSING".into(),
            created_at: now_unix(),
            success_at: None,
            settle_at_ms: Some(now_ms() + app.scaled_ms(crate::settle::WECHAT_REFUND_SETTLE_SECS)),
            notify_url: req.notify_url.clone(),
            reason: req.reason.clone(),
        };
        let v = wechat_refund(&r);
        db.insert_order(order);
        db.insert_refund(r);
        Out::Json(StatusCode::OK, v)
    })
}

fn query_refund(ctx: &Ctx<'_>, no: &str) -> Out {
    let key = sub_key(Provider::Wechatpay, ctx.mchid(), &decode_segment(no));
    match ctx.app.db().refunds.get(&key) {
        Some(r) => Out::Json(StatusCode::OK, wechat_refund(r)),
        None => err(StatusCode::NOT_FOUND, "RESOURCE_NOT_EXISTS", "退款单不存在"),
    }
}

fn transfer(ctx: &Ctx<'_>) -> Out {
    let req: TransferBillRequest = match ctx.parse() {
        Ok(r) => r,
        Err(e) => return e,
    };
    if req.appid != ctx.m.file.appid {
        return err(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "appid与商户号不匹配",
        );
    }
    if !valid_no(&req.out_bill_no, 5, 32) {
        return param("out_bill_no 应为5至32位数字或字母");
    }
    if req.transfer_scene_id.is_empty() {
        return param("transfer_scene_id 不能为空");
    }
    if req.openid.is_empty() {
        return param("openid 不能为空");
    }
    if req.transfer_amount < 1 {
        return param("transfer_amount 应大于0");
    }
    if req.transfer_remark.is_empty() || req.transfer_remark.chars().count() > 32 {
        return param("transfer_remark 长度应为1至32个字符");
    }
    if req.transfer_amount >= 200_000 && req.user_name.is_none() {
        return param("转账金额>=2000元时，user_name 必填");
    }
    if let Some(u) = &req.notify_url {
        if !valid_notify_url(u) {
            return param("notify_url 格式错误");
        }
    }
    let payee_name = match &req.user_name {
        None => None,
        Some(ct) => {
            let Some(serial) = ctx.headers.get(HEADER_SERIAL).and_then(|v| v.to_str().ok()) else {
                return param("user_name 已加密，但请求头缺少 Wechatpay-Serial");
            };
            let Some(key) = ctx.m.platform_key_by_id(serial) else {
                return param("Wechatpay-Serial 不是该商户的平台证书序列号或公钥ID");
            };
            match decrypt_sensitive(key, ct) {
                Ok(n) => Some(n),
                Err(_) => return param("user_name 解密失败"),
            }
        }
    };
    let mchid = ctx.mchid().to_string();
    let app = ctx.app;
    app.write(|db| {
        let key = sub_key(Provider::Wechatpay, &mchid, &req.out_bill_no);
        if let Some(t) = db.transfers.get(&key) {
            if t.amount == req.transfer_amount && t.payee == req.openid {
                return Out::Json(StatusCode::OK, transfer_created(t));
            }
            return err(
                StatusCode::BAD_REQUEST,
                "INVALID_REQUEST",
                "out_bill_no 已存在，且参数与原请求不一致",
            );
        }
        let auto = db.settings.wechat_transfer_auto_confirm;
        let now = now_unix();
        let t = TransferRec {
            provider: Provider::Wechatpay,
            merchant: mchid.clone(),
            appid: req.appid.clone(),
            out_bill_no: req.out_bill_no.clone(),
            bill_no: format!("1330000{}", random_digits(20)),
            amount: req.transfer_amount,
            payee: req.openid.clone(),
            payee_name: payee_name.clone(),
            remark: req.transfer_remark.clone(),
            state: if auto {
                "ACCEPTED"
            } else {
                "WAIT_USER_CONFIRM"
            }
            .into(),
            fail_reason: None,
            package_info: (!auto).then(|| format!("affffddafdfafddffda=={}", random_token())),
            created_at: now,
            updated_at: now,
            settle_at_ms: auto
                .then(|| now_ms() + app.scaled_ms(crate::settle::WECHAT_TRANSFER_SETTLE_SECS)),
            notify_url: req.notify_url.clone(),
        };
        let v = transfer_created(&t);
        db.insert_transfer(t);
        Out::Json(StatusCode::OK, v)
    })
}

fn transfer_created(t: &TransferRec) -> Value {
    let mut v = json!({
        "out_bill_no": t.out_bill_no,
        "transfer_bill_no": t.bill_no,
        "create_time": crate::app::wechat_time(t.created_at),
        "state": t.state,
    });
    if let Some(p) = &t.package_info {
        v["package_info"] = json!(p);
    }
    if let Some(r) = &t.fail_reason {
        v["fail_reason"] = json!(r);
    }
    v
}

fn query_transfer(ctx: &Ctx<'_>, no: &str) -> Out {
    let key = sub_key(Provider::Wechatpay, ctx.mchid(), &decode_segment(no));
    match ctx.app.db().transfers.get(&key) {
        Some(t) => Out::Json(StatusCode::OK, wechat_transfer(t)),
        None => err(StatusCode::NOT_FOUND, "NOT_FOUND", "记录不存在"),
    }
}

/// 撤销转账: only a transfer still waiting for the user's confirmation can be withdrawn.
/// Like WeChat, the answer (`CANCELING`) only says the request was accepted; the bill
/// becomes `CANCELLED` shortly after (a query tells), with a `MCHTRANSFER.BILL.FINISHED`
/// notification.
fn cancel_transfer(ctx: &Ctx<'_>, no: &str) -> Out {
    let key = sub_key(Provider::Wechatpay, ctx.mchid(), &decode_segment(no));
    let app = ctx.app;
    app.write(|db| {
        let Some(t) = db.transfers.get_mut(&key) else {
            return err(StatusCode::NOT_FOUND, "NOT_FOUND", "记录不存在");
        };
        match t.state.as_str() {
            "WAIT_USER_CONFIRM" | "ACCEPTED" | "PROCESSING" => {
                t.state = "CANCELING".into();
                t.package_info = None;
                t.updated_at = now_unix();
                t.settle_at_ms =
                    Some(now_ms() + app.scaled_ms(crate::settle::WECHAT_TRANSFER_CANCEL_SECS));
            }
            "CANCELING" | "CANCELLED" => {}
            _ => {
                return err(
                    StatusCode::BAD_REQUEST,
                    "INVALID_REQUEST",
                    format!("单据状态为{}，不支持撤销", t.state),
                )
            }
        }
        Out::Json(
            StatusCode::OK,
            json!({
                "out_bill_no": t.out_bill_no,
                "transfer_bill_no": t.bill_no,
                "state": t.state,
                "update_time": crate::app::wechat_time(t.updated_at),
            }),
        )
    })
}

fn tradebill(ctx: &Ctx<'_>) -> Out {
    let Some(date) = ctx.query_param("bill_date") else {
        return param("bill_date 为必填参数");
    };
    let Some(date) = crate::bills::parse_date(&date) else {
        return param("bill_date 格式错误，应为YYYY-MM-DD");
    };
    let kind = ctx.query_param("bill_type").unwrap_or_else(|| "ALL".into());
    if !["ALL", "SUCCESS", "REFUND"].contains(&kind.as_str()) {
        return param("bill_type 只能为ALL、SUCCESS或REFUND");
    }
    if ctx.query_param("tar_type").is_some_and(|t| !t.is_empty()) {
        return param("tar_type: 沙箱只提供未压缩的账单");
    }
    if date > crate::bills::china_today() {
        return err(
            StatusCode::BAD_REQUEST,
            "INVALID_REQUEST",
            "账单日期不能晚于今天",
        );
    }
    let file = {
        let db = ctx.app.db();
        crate::bills::wechat_trade_bill(&db, ctx.mchid(), date, &kind)
    };
    let Some(file) = file else {
        return err(
            StatusCode::BAD_REQUEST,
            "NO_STATEMENT_EXIST",
            "账单文件不存在",
        );
    };
    let hash = crate::bills::sha1_hex(&file);
    let token = ctx.app.keep_bill(file);
    Out::Json(
        StatusCode::OK,
        json!({
            "hash_type": "SHA1",
            "hash_value": hash,
            "download_url": format!("{}/v3/billdownload/file?token={token}", ctx.app.base_url),
        }),
    )
}

fn billdownload(ctx: &Ctx<'_>) -> Out {
    match ctx.query_param("token").and_then(|t| ctx.app.bill(&t)) {
        Some(bytes) => Out::File(bytes),
        None => err(StatusCode::NOT_FOUND, "NOT_FOUND", "下载链接已失效"),
    }
}

fn certificates(ctx: &Ctx<'_>) -> Out {
    let f = &ctx.m.file;
    let cert = match paydesk_providers::keys::Certificate::from_pem(&f.platform_certificate_pem) {
        Ok(c) => c,
        Err(e) => {
            return err(
                StatusCode::INTERNAL_SERVER_ERROR,
                "SYSTEM_ERROR",
                e.to_string(),
            )
        }
    };
    let enc =
        match encrypt_certificate(&ctx.m.apiv3, &f.platform_certificate_pem, &random_nonce(12)) {
            Ok(e) => e,
            Err(e) => {
                return err(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "SYSTEM_ERROR",
                    e.to_string(),
                )
            }
        };
    Out::Json(
        StatusCode::OK,
        json!({
            "data": [{
                "serial_no": f.platform_certificate_serial,
                "effective_time": crate::app::wechat_time(cert.not_before_unix),
                "expire_time": crate::app::wechat_time(cert.not_after_unix),
                "encrypt_certificate": {
                    "algorithm": enc.algorithm,
                    "nonce": enc.nonce,
                    "associated_data": enc.associated_data,
                    "ciphertext": enc.ciphertext,
                },
            }]
        }),
    )
}
