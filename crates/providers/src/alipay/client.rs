//! The Alipay OpenAPI adapter (RSA2): signed gateway calls, verified answers, signed
//! client-side order strings and redirect pages.

use crate::alipay::map;
use crate::alipay::notify::{self, NotifyContext};
use crate::alipay::sign::{
    format_time, sign_request, split_response, verify_response, SIGN_TYPE_RSA2,
};
use crate::alipay::wire::*;
use crate::amount::{cny_minor, cny_to_yuan};
use crate::error::ProviderError;
use crate::http;
use crate::keys::{PrivateKey, PublicKey};
use crate::model::*;
use crate::provider::PaymentProvider;
use async_trait::async_trait;
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::macros::format_description;
use time::OffsetDateTime;

/// The production gateway.
pub const PRODUCTION_GATEWAY: &str = "https://openapi.alipay.com/gateway.do";

/// Channels that draw on credit: `credit_group` (credit card quick/cartoon, Huabei,
/// Huabei instalments) plus plain `creditCard`, which the group does not include.
pub const NO_CREDIT_CHANNELS: &str = "credit_group,creditCard";

/// One Alipay app as the adapter needs it.
#[derive(Debug, Clone)]
pub struct AlipayConfig {
    /// Gateway URL: [`PRODUCTION_GATEWAY`] or the sandbox's `.../gateway.do`.
    pub gateway_url: String,
    /// App id.
    pub app_id: String,
    /// The app private key.
    pub app_private_key: PrivateKey,
    /// Alipay's public keys; several live at once during a rotation (Alipay does not
    /// name the key in its messages, so each is tried).
    pub alipay_public_keys: Vec<PublicKey>,
    /// Our seller id (`2088...`), to refuse notifications for another seller.
    pub seller_id: Option<String>,
    /// Whole-call timeout per request, milliseconds.
    pub timeout_ms: u64,
    /// TCP/TLS connect timeout, milliseconds.
    pub connect_timeout_ms: u64,
}

impl AlipayConfig {
    /// A config with the usual defaults: production gateway, 10 s calls, 3 s connect.
    pub fn new(app_id: &str, app_private_key: PrivateKey, alipay_public_key: PublicKey) -> Self {
        AlipayConfig {
            gateway_url: PRODUCTION_GATEWAY.to_string(),
            app_id: app_id.to_string(),
            app_private_key,
            alipay_public_keys: vec![alipay_public_key],
            seller_id: None,
            timeout_ms: 10_000,
            connect_timeout_ms: 3_000,
        }
    }
}

/// The Alipay adapter.
#[derive(Debug, Clone)]
pub struct AlipayClient {
    config: AlipayConfig,
    http: reqwest::Client,
}

fn to_json(value: &impl Serialize) -> Result<String, ProviderError> {
    serde_json::to_string(value).map_err(|e| ProviderError::InvalidRequest(e.to_string()))
}

/// URL-encodes `params` as `k=v&...` (form encoding, as Alipay's SDKs do).
pub fn encode_query(params: &[(String, String)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params.iter())
        .finish()
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

impl AlipayClient {
    /// A client with its own HTTP connection pool.
    pub fn new(config: AlipayConfig) -> Result<Self, ProviderError> {
        let http = http::default_client(config.connect_timeout_ms)?;
        Ok(Self::with_http_client(config, http))
    }

    /// A client sharing an existing HTTP pool (it should not follow redirects).
    pub fn with_http_client(config: AlipayConfig, http: reqwest::Client) -> Self {
        AlipayClient { config, http }
    }

    /// The configuration.
    pub fn config(&self) -> &AlipayConfig {
        &self.config
    }

    /// All parameters of a call, signed (`sign` last).
    pub fn signed_params(
        &self,
        method: &str,
        biz_content: &str,
        notify_url: Option<&str>,
        return_url: Option<&str>,
        now: OffsetDateTime,
    ) -> Result<Vec<(String, String)>, ProviderError> {
        let timestamp = format_time(now)
            .map_err(|e| ProviderError::InvalidRequest(format!("cannot format time: {e}")))?;
        let mut params: Vec<(String, String)> = vec![
            ("app_id".into(), self.config.app_id.clone()),
            ("method".into(), method.into()),
            ("format".into(), "JSON".into()),
            ("charset".into(), "utf-8".into()),
            ("sign_type".into(), SIGN_TYPE_RSA2.into()),
            ("timestamp".into(), timestamp),
            ("version".into(), "1.0".into()),
            ("biz_content".into(), biz_content.into()),
        ];
        if let Some(u) = notify_url {
            params.push(("notify_url".into(), u.into()));
        }
        if let Some(u) = return_url {
            params.push(("return_url".into(), u.into()));
        }
        let sign = sign_request(&self.config.app_private_key, &params)?;
        params.push(("sign".into(), sign));
        Ok(params)
    }

    /// Calls `method` on the gateway and returns its verified, successful `_response`.
    async fn execute<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: &str,
        biz: &impl Serialize,
        notify_url: Option<&str>,
    ) -> Result<T, ProviderError> {
        let params = self.signed_params(
            method,
            &to_json(biz)?,
            notify_url,
            None,
            OffsetDateTime::now_utc(),
        )?;
        // Common parameters travel in the query, biz_content in the form body, like the
        // official SDKs: the signature covers both either way.
        let (body, query): (Vec<_>, Vec<_>) =
            params.into_iter().partition(|(k, _)| k == "biz_content");
        let sep = if self.config.gateway_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!("{}{}{}", self.config.gateway_url, sep, encode_query(&query));
        let req = self
            .http
            .post(url)
            .header(
                "Content-Type",
                "application/x-www-form-urlencoded;charset=utf-8",
            )
            .body(encode_query(&body));
        let resp = http::send(operation, req, self.config.timeout_ms).await?;
        if resp.status >= 500 {
            return Err(ProviderError::Unknown {
                operation,
                reason: format!("HTTP {}", resp.status),
            });
        }
        if resp.status != 200 {
            // Alipay answers 200 with a signed body; anything else (a proxy's 408/429, a
            // redirect...) says nothing about whether the request was carried out.
            return Err(ProviderError::Unknown {
                operation,
                reason: format!(
                    "HTTP {}: {}",
                    resp.status,
                    String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)])
                ),
            });
        }
        self.read_answer(operation, method, &resp.body)
    }

    /// Verifies and reads a raw gateway answer (public for tests and tools).
    pub fn read_answer<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: &str,
        raw_body: &[u8],
    ) -> Result<T, ProviderError> {
        let malformed = |reason: String| ProviderError::MalformedResponse { operation, reason };
        let text = std::str::from_utf8(raw_body).map_err(|_| malformed("not UTF-8".into()))?;
        let parts = split_response(text, method)
            .map_err(|source| ProviderError::Signature { operation, source })?;
        let common: Common =
            serde_json::from_str(parts.content).map_err(|e| malformed(e.to_string()))?;
        // A success must be signed. Errors may come unsigned (gateway errors before Alipay
        // knows the app), but then they cannot be trusted: check_common makes them unknown
        // outcomes. A signature that is present must verify.
        let verified = common.code == "10000" || parts.sign.is_some();
        if verified {
            verify_response(&self.config.alipay_public_keys, &parts)
                .map_err(|source| ProviderError::Signature { operation, source })?;
        }
        map::check_common(operation, &common, verified)?;
        serde_json::from_str(parts.content).map_err(|e| malformed(e.to_string()))
    }

    fn pay_biz(
        &self,
        req: &CreatePayment,
        product_code: Option<&str>,
    ) -> Result<TradePayBiz, ProviderError> {
        let mp = req.method_params;
        if mp.no_credit && mp.installments.is_some() {
            return Err(ProviderError::InvalidRequest(
                "instalments are credit (Huabei): they cannot be combined with no_credit".into(),
            ));
        }
        let extend_params = match mp.installments {
            None => None,
            Some(i) => {
                if ![3, 6, 12].contains(&i.periods) || ![0, 100].contains(&i.seller_fee_percent) {
                    return Err(ProviderError::InvalidRequest(
                        "instalments: periods 3/6/12 and seller fee 0 or 100 percent".into(),
                    ));
                }
                Some(ExtendParams {
                    hb_fq_num: Some(i.periods.to_string()),
                    hb_fq_seller_percent: Some(i.seller_fee_percent.to_string()),
                })
            }
        };
        Ok(TradePayBiz {
            out_trade_no: req.attempt_no.clone(),
            total_amount: cny_to_yuan(req.amount)?,
            subject: req.subject.clone(),
            product_code: product_code.map(str::to_string),
            time_expire: Some(
                format_time(req.expires_at).map_err(|e| {
                    ProviderError::InvalidRequest(format!("cannot format time: {e}"))
                })?,
            ),
            // Alipay requires passback_params URL-encoded and returns it as sent.
            passback_params: req
                .passback
                .as_ref()
                .map(|p| form_urlencoded::byte_serialize(p.as_bytes()).collect()),
            extend_params,
            disable_pay_channels: mp.no_credit.then(|| NO_CREDIT_CHANNELS.to_string()),
            ..TradePayBiz::default()
        })
    }

    /// Creates a payment: app.pay (order string), wap.pay / page.pay (redirect and form,
    /// no server call), precreate (QR), create (mini program).
    pub async fn create(&self, req: &CreatePayment) -> Result<PaymentAction, ProviderError> {
        const OP: &str = "create_payment";
        http::path_segment(&req.attempt_no)?;
        let now = OffsetDateTime::now_utc();
        let notify = Some(req.notify_url.as_str());
        match req.product {
            Product::App => {
                let biz = self.pay_biz(req, Some("QUICK_MSECURITY_PAY"))?;
                let params =
                    self.signed_params("alipay.trade.app.pay", &to_json(&biz)?, notify, None, now)?;
                Ok(PaymentAction::OrderString(encode_query(&params)))
            }
            Product::H5 | Product::Page => {
                let (method, code) = if req.product == Product::H5 {
                    ("alipay.trade.wap.pay", "QUICK_WAP_WAY")
                } else {
                    ("alipay.trade.page.pay", "FAST_INSTANT_TRADE_PAY")
                };
                let biz = self.pay_biz(req, Some(code))?;
                let params = self.signed_params(
                    method,
                    &to_json(&biz)?,
                    notify,
                    req.return_url.as_deref(),
                    now,
                )?;
                Ok(self.redirect(&params))
            }
            Product::Native => {
                let biz = self.pay_biz(req, None)?;
                let r: TradeCreated = self
                    .execute(OP, "alipay.trade.precreate", &biz, notify)
                    .await?;
                Ok(PaymentAction::QrCode(r.qr_code.ok_or_else(|| {
                    ProviderError::MalformedResponse {
                        operation: OP,
                        reason: "answer without qr_code".into(),
                    }
                })?))
            }
            Product::Jsapi => {
                let payer = req.payer_id.clone().ok_or_else(|| {
                    ProviderError::InvalidRequest(
                        "a mini program payment needs the buyer id".into(),
                    )
                })?;
                let mut biz = self.pay_biz(req, Some("JSAPI_PAY"))?;
                // User ids are 16 digits starting 2088; anything else is an open id.
                if payer.len() == 16
                    && payer.starts_with("2088")
                    && payer.bytes().all(|b| b.is_ascii_digit())
                {
                    biz.buyer_id = Some(payer);
                } else {
                    biz.buyer_open_id = Some(payer);
                }
                let r: TradeCreated = self
                    .execute(OP, "alipay.trade.create", &biz, notify)
                    .await?;
                Ok(PaymentAction::ProviderTrade(r.trade_no.ok_or_else(
                    || ProviderError::MalformedResponse {
                        operation: OP,
                        reason: "answer without trade_no".into(),
                    },
                )?))
            }
        }
    }

    /// The browser redirect for signed page/wap parameters: a GET URL and an equivalent
    /// auto-submitting POST form.
    pub fn redirect(&self, params: &[(String, String)]) -> PaymentAction {
        let sep = if self.config.gateway_url.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!("{}{}{}", self.config.gateway_url, sep, encode_query(params));
        let mut form = format!(
            "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body><form id=\"alipaysubmit\" name=\"alipaysubmit\" method=\"post\" action=\"{}{}charset=utf-8\">",
            html_escape(&self.config.gateway_url),
            sep
        );
        for (k, v) in params {
            form.push_str(&format!(
                "<input type=\"hidden\" name=\"{}\" value=\"{}\"/>",
                html_escape(k),
                html_escape(v)
            ));
        }
        form.push_str("<input type=\"submit\" value=\"Pay\" style=\"display:none\"/></form><script>document.forms['alipaysubmit'].submit();</script></body></html>");
        PaymentAction::Redirect {
            url,
            form_html: Some(form),
        }
    }

    /// alipay.trade.query.
    pub async fn query(&self, which: &PaymentRef) -> Result<PaymentStatus, ProviderError> {
        const OP: &str = "query_payment";
        let biz = match which {
            PaymentRef::AttemptNo(n) => TradeRef {
                out_trade_no: Some(n.clone()),
                trade_no: None,
            },
            PaymentRef::ProviderTxnId(id) => TradeRef {
                out_trade_no: None,
                trade_no: Some(id.clone()),
            },
        };
        let q: TradeQueried = self.execute(OP, "alipay.trade.query", &biz, None).await?;
        map::queried_payment(OP, &q, &self.config.app_id)
    }

    /// alipay.trade.close. A trade Alipay never saw (a page never opened) is
    /// [`ProviderError::NotFound`]: nothing to close there.
    pub async fn close(&self, attempt_no: &str) -> Result<(), ProviderError> {
        let biz = TradeRef {
            out_trade_no: Some(attempt_no.to_string()),
            trade_no: None,
        };
        let _: Common = self
            .execute("close_payment", "alipay.trade.close", &biz, None)
            .await?;
        Ok(())
    }

    /// alipay.trade.refund (synchronous at Alipay).
    pub async fn refund(&self, req: &RefundRequest) -> Result<RefundStatus, ProviderError> {
        const OP: &str = "refund";
        cny_minor(req.total_amount)?;
        let biz = RefundBiz {
            out_trade_no: req
                .provider_txn_id
                .is_none()
                .then(|| req.attempt_no.clone()),
            trade_no: req.provider_txn_id.clone(),
            refund_amount: cny_to_yuan(req.refund_amount)?,
            out_request_no: req.refund_no.clone(),
            refund_reason: req.reason.clone(),
        };
        let r: Refunded = self.execute(OP, "alipay.trade.refund", &biz, None).await?;
        map::refunded(OP, &r, &req.refund_no, req.refund_amount)
    }

    /// alipay.trade.fastpay.refund.query.
    pub async fn query_refund(&self, which: &RefundQuery) -> Result<RefundStatus, ProviderError> {
        const OP: &str = "query_refund";
        let biz = RefundQueryBiz {
            out_trade_no: which.attempt_no.clone(),
            out_request_no: which.refund_no.clone(),
            query_options: vec!["gmt_refund_pay".into()],
        };
        let r: RefundQueried = self
            .execute(OP, "alipay.trade.fastpay.refund.query", &biz, None)
            .await?;
        map::refund_queried(OP, &r, &which.refund_no)
    }

    /// alipay.fund.trans.uni.transfer to an Alipay account.
    pub async fn transfer(&self, req: &TransferRequest) -> Result<TransferStatus, ProviderError> {
        const OP: &str = "transfer";
        let (identity, identity_type) = match &req.payee {
            Payee::AlipayUserId(id) => (id.clone(), "ALIPAY_USER_ID"),
            Payee::AlipayLogin(login) => {
                if req.payee_name.is_none() {
                    return Err(ProviderError::InvalidRequest(
                        "Alipay requires the real name for a transfer by login".into(),
                    ));
                }
                (login.clone(), "ALIPAY_LOGON_ID")
            }
            Payee::WechatOpenId(_) => {
                return Err(ProviderError::InvalidRequest(
                    "Alipay cannot pay a WeChat openid".into(),
                ))
            }
        };
        http::path_segment(&req.payout_no)?;
        let biz = TransferBiz {
            out_biz_no: req.payout_no.clone(),
            trans_amount: cny_to_yuan(req.amount)?,
            product_code: "TRANS_ACCOUNT_NO_PWD".into(),
            biz_scene: "DIRECT_TRANSFER".into(),
            order_title: req.remark.clone(),
            payee_info: PayeeInfo {
                identity,
                identity_type: identity_type.into(),
                name: req.payee_name.clone(),
            },
            remark: Some(req.remark.clone()),
        };
        let t: Transferred = self
            .execute(OP, "alipay.fund.trans.uni.transfer", &biz, None)
            .await?;
        let mut status = map::transferred(OP, &t, &req.payout_no)?;
        status.amount = status.amount.or(Some(req.amount));
        Ok(status)
    }

    /// alipay.fund.trans.common.query by payout number.
    pub async fn query_transfer(&self, payout_no: &str) -> Result<TransferStatus, ProviderError> {
        const OP: &str = "query_transfer";
        let biz = TransferQueryBiz {
            product_code: "TRANS_ACCOUNT_NO_PWD".into(),
            biz_scene: "DIRECT_TRANSFER".into(),
            out_biz_no: payout_no.to_string(),
        };
        let t: Transferred = self
            .execute(OP, "alipay.fund.trans.common.query", &biz, None)
            .await?;
        map::transferred(OP, &t, payout_no)
    }

    /// alipay.data.dataservice.bill.downloadurl.query, then the ZIP at the URL. Alipay
    /// gives no digest; the URL itself comes from a verified answer.
    pub async fn download_trade_bill(&self, req: &BillRequest) -> Result<BillFile, ProviderError> {
        const OP: &str = "download_bill";
        let bill_date = req
            .date
            .format(&format_description!("[year]-[month]-[day]"))
            .map_err(|e| ProviderError::InvalidRequest(e.to_string()))?;
        let biz = BillBiz {
            bill_type: "trade".into(),
            bill_date,
        };
        let b: BillUrl = self
            .execute(
                OP,
                "alipay.data.dataservice.bill.downloadurl.query",
                &biz,
                None,
            )
            .await?;
        let url = reqwest::Url::parse(&b.bill_download_url).map_err(|e| {
            ProviderError::MalformedResponse {
                operation: OP,
                reason: format!("bad bill_download_url: {e}"),
            }
        })?;
        let resp = http::send_limited(
            OP,
            self.http.get(url),
            self.config.timeout_ms,
            http::MAX_BILL_BYTES,
        )
        .await?;
        if resp.status != 200 {
            return Err(ProviderError::Unknown {
                operation: OP,
                reason: format!("bill download HTTP {}", resp.status),
            });
        }
        Ok(BillFile {
            date: req.date,
            format: BillFormat::AlipayZip,
            bytes: resp.body,
        })
    }

    /// The context for [`notify::parse_notification`].
    pub fn notify_context(&self) -> NotifyContext<'_> {
        NotifyContext {
            alipay_public_keys: &self.config.alipay_public_keys,
            app_id: &self.config.app_id,
            seller_id: self.config.seller_id.as_deref(),
        }
    }
}

#[async_trait]
impl PaymentProvider for AlipayClient {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Alipay
    }

    async fn create_payment(&self, req: &CreatePayment) -> Result<PaymentAction, ProviderError> {
        self.create(req).await
    }

    async fn query_payment(&self, which: &PaymentRef) -> Result<PaymentStatus, ProviderError> {
        self.query(which).await
    }

    async fn close_payment(&self, attempt_no: &str) -> Result<(), ProviderError> {
        self.close(attempt_no).await
    }

    async fn refund(&self, req: &RefundRequest) -> Result<RefundStatus, ProviderError> {
        AlipayClient::refund(self, req).await
    }

    async fn query_refund(&self, which: &RefundQuery) -> Result<RefundStatus, ProviderError> {
        AlipayClient::query_refund(self, which).await
    }

    async fn transfer(&self, req: &TransferRequest) -> Result<TransferStatus, ProviderError> {
        AlipayClient::transfer(self, req).await
    }

    async fn query_transfer(&self, payout_no: &str) -> Result<TransferStatus, ProviderError> {
        AlipayClient::query_transfer(self, payout_no).await
    }

    fn parse_notification(
        &self,
        incoming: &IncomingNotification,
    ) -> Result<Notification, ProviderError> {
        notify::parse_notification(&self.notify_context(), incoming)
    }

    fn notification_reply(&self, accepted: bool) -> NotificationReply {
        notify::notification_reply(accepted)
    }

    async fn download_bill(&self, req: &BillRequest) -> Result<BillFile, ProviderError> {
        self.download_trade_bill(req).await
    }
}
