//! The WeChat Pay API v3 adapter: signed calls, verified answers, mapped results.

use crate::amount::cny_minor;
use crate::error::{ProviderError, SignatureError};
use crate::http::{self, path_segment, RawResponse};
use crate::keys::{Certificate, KeyRing, PrivateKey};
use crate::model::*;
use crate::provider::PaymentProvider;
use crate::wechatpay::map;
use crate::wechatpay::notify::{self, NotifyContext};
use crate::wechatpay::sign::{
    app_pay_sign, decrypt_resource, encrypt_sensitive, jsapi_pay_sign, random_nonce, ApiV3Key,
    Authorization, SignedHeaders, DEFAULT_WINDOW_SECS,
};
use crate::wechatpay::wire::*;
use async_trait::async_trait;
use aws_lc_rs::digest::{digest, SHA1_FOR_LEGACY_USE_ONLY};
use serde::de::DeserializeOwned;
use serde::Serialize;
use time::macros::{format_description, offset};
use time::OffsetDateTime;

/// The production API host.
pub const PRODUCTION_BASE_URL: &str = "https://api.mch.weixin.qq.com";

/// One WeChat Pay merchant account as the adapter needs it.
#[derive(Debug, Clone)]
pub struct WechatPayConfig {
    /// API base URL without trailing slash: [`PRODUCTION_BASE_URL`] or the sandbox's.
    pub base_url: String,
    /// Merchant id (`mchid`).
    pub mchid: String,
    /// App id (`appid`) payments are made for.
    pub appid: String,
    /// Serial number of the merchant API certificate (names our signing key).
    pub merchant_serial_no: String,
    /// The merchant API private key.
    pub merchant_key: PrivateKey,
    /// The APIv3 key (callback decryption).
    pub apiv3_key: ApiV3Key,
    /// WeChat Pay's verification keys: platform certificates and/or public keys, several at
    /// once during rotation.
    pub platform_keys: KeyRing,
    /// Whole-call timeout per request, milliseconds.
    pub timeout_ms: u64,
    /// TCP/TLS connect timeout, milliseconds.
    pub connect_timeout_ms: u64,
    /// Accepted distance between WeChat's signed timestamps and our clock, seconds.
    pub signature_window_secs: i64,
    /// Default `transfer_scene_id` for transfers (e.g. `1000` cash marketing).
    pub transfer_scene_id: Option<String>,
    /// Which platform key (an id in `platform_keys`) encrypts sensitive fields such as a
    /// payee's real name; requests carrying one name it in `Wechatpay-Serial`.
    pub sensitive_key_id: Option<String>,
}

impl WechatPayConfig {
    /// A config with the usual defaults: production URL, 10 s calls, 3 s connect, 5 min window.
    pub fn new(
        mchid: &str,
        appid: &str,
        merchant_serial_no: &str,
        merchant_key: PrivateKey,
        apiv3_key: ApiV3Key,
        platform_keys: KeyRing,
    ) -> Self {
        WechatPayConfig {
            base_url: PRODUCTION_BASE_URL.to_string(),
            mchid: mchid.to_string(),
            appid: appid.to_string(),
            merchant_serial_no: merchant_serial_no.to_string(),
            merchant_key,
            apiv3_key,
            platform_keys,
            timeout_ms: 10_000,
            connect_timeout_ms: 3_000,
            signature_window_secs: DEFAULT_WINDOW_SECS,
            transfer_scene_id: None,
            sensitive_key_id: None,
        }
    }
}

/// The WeChat Pay API v3 adapter.
#[derive(Debug, Clone)]
pub struct WechatPayClient {
    config: WechatPayConfig,
    http: reqwest::Client,
}

/// An HTTP method we use.
#[derive(Debug, Clone, Copy)]
enum Method {
    Get,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

fn now_unix() -> i64 {
    OffsetDateTime::now_utc().unix_timestamp()
}

/// RFC 3339 in China Standard Time without fractions, as WeChat writes times.
pub fn format_time(t: OffsetDateTime) -> Result<String, ProviderError> {
    let fmt = format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second][offset_hour sign:mandatory]:[offset_minute]"
    );
    t.to_offset(offset!(+8))
        .format(&fmt)
        .map_err(|e| ProviderError::InvalidRequest(format!("cannot format time: {e}")))
}

impl WechatPayClient {
    /// A client with its own HTTP connection pool.
    pub fn new(config: WechatPayConfig) -> Result<Self, ProviderError> {
        let http = http::default_client(config.connect_timeout_ms)?;
        Ok(Self::with_http_client(config, http))
    }

    /// A client sharing an existing HTTP pool (it should not follow redirects).
    pub fn with_http_client(mut config: WechatPayConfig, http: reqwest::Client) -> Self {
        config.base_url = config.base_url.trim_end_matches('/').to_string();
        WechatPayClient { config, http }
    }

    /// The configuration.
    pub fn config(&self) -> &WechatPayConfig {
        &self.config
    }

    /// Signs and sends one call; verifies the answer's signature; returns status and body.
    async fn call(
        &self,
        operation: &'static str,
        method: Method,
        url: &str,
        body: Option<String>,
        wechatpay_serial: Option<&str>,
    ) -> Result<RawResponse, ProviderError> {
        let resp = self
            .send_signed(operation, method, url, body, wechatpay_serial)
            .await?;
        self.check(operation, resp, &self.config.platform_keys)
    }

    /// Signs and sends one call; the answer is returned unchecked.
    async fn send_signed(
        &self,
        operation: &'static str,
        method: Method,
        url: &str,
        body: Option<String>,
        wechatpay_serial: Option<&str>,
    ) -> Result<RawResponse, ProviderError> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| ProviderError::InvalidRequest(format!("bad URL `{url}`: {e}")))?;
        // The signature covers the path and query exactly as they go on the wire.
        let mut path_and_query = parsed.path().to_string();
        if let Some(q) = parsed.query() {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }
        let body_text = body.unwrap_or_default();
        let auth = Authorization::sign(
            &self.config.merchant_key,
            &self.config.mchid,
            &self.config.merchant_serial_no,
            method.as_str(),
            &path_and_query,
            &body_text,
            now_unix(),
            &random_nonce(32),
        )?;
        let mut req = match method {
            Method::Get => self.http.get(parsed),
            Method::Post => self
                .http
                .post(parsed)
                .header("Content-Type", "application/json")
                .body(body_text),
        };
        req = req
            .header("Authorization", auth.to_header_value())
            .header("Accept", "application/json");
        if let Some(serial) = wechatpay_serial {
            req = req.header(crate::wechatpay::sign::HEADER_SERIAL, serial);
        }
        http::send(operation, req, self.config.timeout_ms).await
    }

    /// Applies the outcome rules to an answer.
    fn check(
        &self,
        operation: &'static str,
        resp: RawResponse,
        keys: &KeyRing,
    ) -> Result<RawResponse, ProviderError> {
        let signed = SignedHeaders::from_headers(|n| resp.header(n));
        let verify = |h: &SignedHeaders| {
            h.verify(
                &resp.body,
                keys,
                now_unix(),
                self.config.signature_window_secs,
            )
        };
        if resp.status >= 500 {
            return Err(ProviderError::Unknown {
                operation,
                reason: format!("HTTP {}: {}", resp.status, error_text(&resp.body)),
            });
        }
        if (200..300).contains(&resp.status) {
            // An unsigned or badly signed success is not from WeChat Pay.
            let h = signed.map_err(|source| ProviderError::Signature { operation, source })?;
            verify(&h).map_err(|source| ProviderError::Signature { operation, source })?;
            return Ok(resp);
        }
        // Any other status (1xx, 3xx, 4xx). WeChat Pay signs its error answers; an unsigned
        // one comes from a proxy, a gateway or an attacker and proves nothing about the
        // request: the outcome is unknown (never "not found" or "rejected", which callers
        // treat as final). A present signature must verify.
        let err: Option<ErrorBody> = serde_json::from_slice(&resp.body).ok();
        let (code, message) = match err {
            Some(e) => (e.code, e.message),
            None => (format!("HTTP_{}", resp.status), error_text(&resp.body)),
        };
        match &signed {
            Ok(h) => verify(h).map_err(|source| ProviderError::Signature { operation, source })?,
            Err(_) => {
                return Err(ProviderError::Unknown {
                    operation,
                    reason: format!(
                        "unsigned HTTP {} answer (not verifiable): {code}: {message}",
                        resp.status
                    ),
                })
            }
        }
        if code == "SYSTEM_ERROR" || code == "BANK_ERROR" {
            return Err(ProviderError::Unknown {
                operation,
                reason: format!("{code}: {message}"),
            });
        }
        if resp.status == 404 || code == "ORDER_NOT_EXIST" || code == "RESOURCE_NOT_EXISTS" {
            return Err(ProviderError::NotFound {
                operation,
                provider_code: code,
                message,
            });
        }
        Err(ProviderError::Rejected {
            operation,
            provider_code: code,
            message,
            http_status: Some(resp.status),
        })
    }

    async fn call_json<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<T, ProviderError> {
        self.call_json_with(operation, method, path, body, None)
            .await
    }

    async fn call_json_with<T: DeserializeOwned>(
        &self,
        operation: &'static str,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
        wechatpay_serial: Option<&str>,
    ) -> Result<T, ProviderError> {
        let body = body
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| ProviderError::InvalidRequest(e.to_string()))?;
        let url = format!("{}{}", self.config.base_url, path);
        let resp = self
            .call(operation, method, &url, body, wechatpay_serial)
            .await?;
        serde_json::from_slice(&resp.body).map_err(|e| ProviderError::MalformedResponse {
            operation,
            reason: e.to_string(),
        })
    }

    /// `POST /v3/pay/transactions/{jsapi,app,h5,native}` and the client parameters.
    pub async fn create(&self, req: &CreatePayment) -> Result<PaymentAction, ProviderError> {
        const OP: &str = "create_payment";
        if req.method_params.installments.is_some() {
            return Err(ProviderError::InvalidRequest(
                "WeChat Pay has no instalments".into(),
            ));
        }
        let (path, payer, scene) = match req.product {
            Product::Jsapi => {
                let openid = req.payer_id.clone().ok_or_else(|| {
                    ProviderError::InvalidRequest("JSAPI needs the payer's openid".into())
                })?;
                (
                    "/v3/pay/transactions/jsapi",
                    Some(Payer {
                        openid: Some(openid),
                    }),
                    None,
                )
            }
            Product::App => ("/v3/pay/transactions/app", None, None),
            Product::Native => ("/v3/pay/transactions/native", None, None),
            Product::H5 => {
                let ip = req.client_ip.clone().ok_or_else(|| {
                    ProviderError::InvalidRequest("H5 needs the buyer's IP".into())
                })?;
                (
                    "/v3/pay/transactions/h5",
                    None,
                    Some(SceneInfo {
                        payer_client_ip: ip,
                        h5_info: Some(H5Info { kind: "Wap".into() }),
                    }),
                )
            }
            Product::Page => {
                return Err(ProviderError::InvalidRequest(
                    "WeChat Pay has no PC page product: use NATIVE".into(),
                ))
            }
        };
        let body = PrepayRequest {
            appid: self.config.appid.clone(),
            mchid: self.config.mchid.clone(),
            description: req.subject.clone(),
            out_trade_no: req.attempt_no.clone(),
            time_expire: Some(format_time(req.expires_at)?),
            attach: req.passback.clone(),
            notify_url: req.notify_url.clone(),
            amount: PrepayAmount {
                total: cny_minor(req.amount)?,
                currency: Some("CNY".into()),
            },
            payer,
            scene_info: scene,
            limit_pay: req
                .method_params
                .no_credit
                .then(|| vec!["no_credit".into()]),
        };
        path_segment(&req.attempt_no)?;
        let resp: PrepayResponse = self.call_json(OP, Method::Post, path, Some(&body)).await?;
        let missing = |f: &str| ProviderError::MalformedResponse {
            operation: OP,
            reason: format!("answer without {f}"),
        };
        match req.product {
            Product::Jsapi => {
                let prepay_id = resp.prepay_id.ok_or_else(|| missing("prepay_id"))?;
                Ok(PaymentAction::SdkParams(self.jsapi_params(&prepay_id)?))
            }
            Product::App => {
                let prepay_id = resp.prepay_id.ok_or_else(|| missing("prepay_id"))?;
                Ok(PaymentAction::SdkParams(self.app_params(&prepay_id)?))
            }
            Product::H5 => Ok(PaymentAction::Redirect {
                url: resp.h5_url.ok_or_else(|| missing("h5_url"))?,
                form_html: None,
            }),
            Product::Native | Product::Page => Ok(PaymentAction::QrCode(
                resp.code_url.ok_or_else(|| missing("code_url"))?,
            )),
        }
    }

    /// The signed parameters for `WeixinJSBridge.invoke('getBrandWCPayRequest')` /
    /// `wx.requestPayment`.
    pub fn jsapi_params(&self, prepay_id: &str) -> Result<Vec<(String, String)>, ProviderError> {
        let ts = now_unix().to_string();
        let nonce = random_nonce(32);
        let package = format!("prepay_id={prepay_id}");
        let sign = jsapi_pay_sign(
            &self.config.merchant_key,
            &self.config.appid,
            &ts,
            &nonce,
            &package,
        )?;
        Ok(vec![
            ("appId".into(), self.config.appid.clone()),
            ("timeStamp".into(), ts),
            ("nonceStr".into(), nonce),
            ("package".into(), package),
            ("signType".into(), "RSA".into()),
            ("paySign".into(), sign),
        ])
    }

    /// The signed parameters for the APP SDK's `PayReq`.
    pub fn app_params(&self, prepay_id: &str) -> Result<Vec<(String, String)>, ProviderError> {
        let ts = now_unix().to_string();
        let nonce = random_nonce(32);
        let sign = app_pay_sign(
            &self.config.merchant_key,
            &self.config.appid,
            &ts,
            &nonce,
            prepay_id,
        )?;
        Ok(vec![
            ("appid".into(), self.config.appid.clone()),
            ("partnerid".into(), self.config.mchid.clone()),
            ("prepayid".into(), prepay_id.to_string()),
            ("package".into(), "Sign=WXPay".into()),
            ("noncestr".into(), nonce),
            ("timestamp".into(), ts),
            ("sign".into(), sign),
        ])
    }

    /// `GET /v3/pay/transactions/{out-trade-no/..|id/..}?mchid=`.
    pub async fn query(&self, which: &PaymentRef) -> Result<PaymentStatus, ProviderError> {
        const OP: &str = "query_payment";
        let mchid = path_segment(&self.config.mchid)?;
        let path = match which {
            PaymentRef::AttemptNo(no) => format!(
                "/v3/pay/transactions/out-trade-no/{}?mchid={mchid}",
                path_segment(no)?
            ),
            PaymentRef::ProviderTxnId(id) => {
                format!(
                    "/v3/pay/transactions/id/{}?mchid={mchid}",
                    path_segment(id)?
                )
            }
        };
        let t: Transaction = self.call_json(OP, Method::Get, &path, None::<&()>).await?;
        map::payment_status(OP, &t)
    }

    /// `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close` (answer: 204).
    pub async fn close(&self, attempt_no: &str) -> Result<(), ProviderError> {
        const OP: &str = "close_payment";
        let path = format!(
            "/v3/pay/transactions/out-trade-no/{}/close",
            path_segment(attempt_no)?
        );
        let body = serde_json::to_string(&CloseRequest {
            mchid: self.config.mchid.clone(),
        })
        .map_err(|e| ProviderError::InvalidRequest(e.to_string()))?;
        let url = format!("{}{}", self.config.base_url, path);
        self.call(OP, Method::Post, &url, Some(body), None).await?;
        Ok(())
    }

    /// `POST /v3/refund/domestic/refunds`.
    pub async fn refund(&self, req: &RefundRequest) -> Result<RefundStatus, ProviderError> {
        const OP: &str = "refund";
        path_segment(&req.refund_no)?;
        let body = RefundCreateRequest {
            transaction_id: req.provider_txn_id.clone(),
            out_trade_no: req
                .provider_txn_id
                .is_none()
                .then(|| req.attempt_no.clone()),
            out_refund_no: req.refund_no.clone(),
            reason: req.reason.clone(),
            notify_url: req.notify_url.clone(),
            amount: RefundAmountRequest {
                refund: cny_minor(req.refund_amount)?,
                total: cny_minor(req.total_amount)?,
                currency: "CNY".into(),
            },
        };
        let r: Refund = self
            .call_json(OP, Method::Post, "/v3/refund/domestic/refunds", Some(&body))
            .await?;
        map::refund_status(OP, &r)
    }

    /// `GET /v3/refund/domestic/refunds/{out_refund_no}`.
    pub async fn query_refund(&self, refund_no: &str) -> Result<RefundStatus, ProviderError> {
        const OP: &str = "query_refund";
        let path = format!("/v3/refund/domestic/refunds/{}", path_segment(refund_no)?);
        let r: Refund = self.call_json(OP, Method::Get, &path, None::<&()>).await?;
        map::refund_status(OP, &r)
    }

    /// `POST /v3/fund-app/mch-transfer/transfer-bills`.
    pub async fn transfer(&self, req: &TransferRequest) -> Result<TransferStatus, ProviderError> {
        const OP: &str = "transfer";
        let Payee::WechatOpenId(openid) = &req.payee else {
            return Err(ProviderError::InvalidRequest(
                "WeChat Pay transfers need a WeChat openid".into(),
            ));
        };
        // A real name travels RSA-OAEP encrypted for a platform key we name in the header;
        // never in clear.
        let (user_name, serial) = match &req.payee_name {
            None => (None, None),
            Some(name) => {
                let id = self.config.sensitive_key_id.as_deref().ok_or_else(|| {
                    ProviderError::InvalidRequest(
                        "a payee name needs sensitive_key_id (platform key to encrypt for)".into(),
                    )
                })?;
                let key = self.config.platform_keys.get(id).ok_or_else(|| {
                    ProviderError::InvalidRequest(format!("no platform key `{id}`"))
                })?;
                (Some(encrypt_sensitive(key, name)?), Some(id))
            }
        };
        path_segment(&req.payout_no)?;
        let scene = req
            .scene_id
            .clone()
            .or_else(|| self.config.transfer_scene_id.clone())
            .ok_or_else(|| {
                ProviderError::InvalidRequest("no transfer_scene_id configured".into())
            })?;
        let body = TransferBillRequest {
            appid: self.config.appid.clone(),
            out_bill_no: req.payout_no.clone(),
            transfer_scene_id: scene,
            openid: openid.clone(),
            user_name,
            transfer_amount: cny_minor(req.amount)?,
            transfer_remark: req.remark.clone(),
            notify_url: req.notify_url.clone(),
            transfer_scene_report_infos: req
                .scene_details
                .iter()
                .map(|(t, c)| TransferSceneReportInfo {
                    info_type: t.clone(),
                    info_content: c.clone(),
                })
                .collect(),
        };
        let b: TransferBill = self
            .call_json_with(
                OP,
                Method::Post,
                "/v3/fund-app/mch-transfer/transfer-bills",
                Some(&body),
                serial,
            )
            .await?;
        // The amount is what WeChat Pay answered, never our own request's.
        map::transfer_status(OP, &b)
    }

    /// `GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}`.
    pub async fn query_transfer(&self, payout_no: &str) -> Result<TransferStatus, ProviderError> {
        const OP: &str = "query_transfer";
        let path = format!(
            "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{}",
            path_segment(payout_no)?
        );
        let b: TransferBill = self.call_json(OP, Method::Get, &path, None::<&()>).await?;
        map::transfer_status(OP, &b)
    }

    /// `POST /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/cancel`
    /// (no body): withdraws a transfer waiting for the user's confirmation. The answer
    /// (`CANCELING` or `CANCELLED`) only says the request was accepted.
    pub async fn cancel_transfer(&self, payout_no: &str) -> Result<TransferStatus, ProviderError> {
        const OP: &str = "cancel_transfer";
        let path = format!(
            "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{}/cancel",
            path_segment(payout_no)?
        );
        let b: TransferBill = self.call_json(OP, Method::Post, &path, None::<&()>).await?;
        map::transfer_status(OP, &b)
    }

    /// `GET /v3/bill/tradebill`, then the file at `download_url` (signed request,
    /// unsigned answer), checked against the SHA1 in the signed first answer.
    pub async fn download_trade_bill(&self, req: &BillRequest) -> Result<BillFile, ProviderError> {
        const OP: &str = "download_bill";
        let date_fmt = format_description!("[year]-[month]-[day]");
        let date = req
            .date
            .format(&date_fmt)
            .map_err(|e| ProviderError::InvalidRequest(e.to_string()))?;
        let bill_type = match req.kind {
            BillKind::Trades => "ALL",
            BillKind::Payments => "SUCCESS",
            BillKind::Refunds => "REFUND",
        };
        let path = format!("/v3/bill/tradebill?bill_date={date}&bill_type={bill_type}");
        let bill: TradeBill = self.call_json(OP, Method::Get, &path, None::<&()>).await?;
        if !bill.hash_type.eq_ignore_ascii_case("SHA1") {
            return Err(ProviderError::MalformedResponse {
                operation: OP,
                reason: format!("unsupported hash_type `{}`", bill.hash_type),
            });
        }
        let file = self.fetch_unsigned(OP, &bill.download_url).await?;
        let actual = hex(digest(&SHA1_FOR_LEGACY_USE_ONLY, &file).as_ref());
        if !actual.eq_ignore_ascii_case(bill.hash_value.trim()) {
            return Err(ProviderError::Signature {
                operation: OP,
                source: SignatureError::Invalid,
            });
        }
        Ok(BillFile {
            date: req.date,
            format: BillFormat::WechatCsv,
            bytes: file,
        })
    }

    /// GET a URL with a signed request whose answer is not signed (the bill file).
    async fn fetch_unsigned(
        &self,
        operation: &'static str,
        url: &str,
    ) -> Result<Vec<u8>, ProviderError> {
        let parsed = reqwest::Url::parse(url).map_err(|e| ProviderError::MalformedResponse {
            operation,
            reason: format!("bad download_url: {e}"),
        })?;
        let mut path_and_query = parsed.path().to_string();
        if let Some(q) = parsed.query() {
            path_and_query.push('?');
            path_and_query.push_str(q);
        }
        let auth = Authorization::sign(
            &self.config.merchant_key,
            &self.config.mchid,
            &self.config.merchant_serial_no,
            "GET",
            &path_and_query,
            "",
            now_unix(),
            &random_nonce(32),
        )?;
        let req = self
            .http
            .get(parsed)
            .header("Authorization", auth.to_header_value());
        let resp = http::send_limited(operation, req, self.config.timeout_ms, http::MAX_BILL_BYTES)
            .await?;
        if resp.status != 200 {
            return Err(if resp.status >= 500 {
                ProviderError::Unknown {
                    operation,
                    reason: format!("HTTP {}", resp.status),
                }
            } else {
                ProviderError::Rejected {
                    operation,
                    provider_code: format!("HTTP_{}", resp.status),
                    message: error_text(&resp.body),
                    http_status: Some(resp.status),
                }
            });
        }
        Ok(resp.body)
    }

    /// `GET /v3/certificates`: WeChat Pay's platform certificates (certificate mode), each
    /// decrypted with the APIv3 key. The answer is verified with a key we already hold or,
    /// on first use, with the downloaded certificate it names: the AEAD under our secret
    /// APIv3 key already proves the certificates came from WeChat Pay.
    pub async fn fetch_platform_certificates(&self) -> Result<Vec<Certificate>, ProviderError> {
        const OP: &str = "fetch_platform_certificates";
        let url = format!("{}/v3/certificates", self.config.base_url);
        let resp = self.send_signed(OP, Method::Get, &url, None, None).await?;
        let malformed = |reason: String| ProviderError::MalformedResponse {
            operation: OP,
            reason,
        };
        let mut certs = Vec::new();
        if (200..300).contains(&resp.status) {
            let list: CertificateList =
                serde_json::from_slice(&resp.body).map_err(|e| malformed(e.to_string()))?;
            for entry in &list.data {
                let pem = decrypt_resource(&self.config.apiv3_key, &entry.encrypt_certificate)
                    .map_err(|source| ProviderError::Signature {
                        operation: OP,
                        source,
                    })?;
                let pem = String::from_utf8(pem)
                    .map_err(|_| malformed("certificate not UTF-8".into()))?;
                certs.push(Certificate::from_pem(&pem)?);
            }
        }
        let mut keys = self.config.platform_keys.clone();
        for c in &certs {
            keys.insert_certificate(c);
        }
        self.check(OP, resp, &keys)?;
        Ok(certs)
    }

    /// The platform keys, to add fetched certificates or rotate keys.
    pub fn platform_keys_mut(&mut self) -> &mut KeyRing {
        &mut self.config.platform_keys
    }

    /// The context for [`notify::parse_notification`] at `now_unix`.
    pub fn notify_context(&self, now_unix: i64) -> NotifyContext<'_> {
        NotifyContext {
            platform_keys: &self.config.platform_keys,
            apiv3_key: &self.config.apiv3_key,
            mchid: &self.config.mchid,
            appid: &self.config.appid,
            now_unix,
            window_secs: self.config.signature_window_secs,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A short printable excerpt of an error body for messages.
fn error_text(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()
}

#[async_trait]
impl PaymentProvider for WechatPayClient {
    fn kind(&self) -> ProviderKind {
        ProviderKind::WechatPay
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
        WechatPayClient::refund(self, req).await
    }

    async fn query_refund(&self, which: &RefundQuery) -> Result<RefundStatus, ProviderError> {
        WechatPayClient::query_refund(self, &which.refund_no).await
    }

    async fn transfer(&self, req: &TransferRequest) -> Result<TransferStatus, ProviderError> {
        WechatPayClient::transfer(self, req).await
    }

    async fn query_transfer(&self, payout_no: &str) -> Result<TransferStatus, ProviderError> {
        WechatPayClient::query_transfer(self, payout_no).await
    }

    async fn cancel_transfer(&self, payout_no: &str) -> Result<TransferStatus, ProviderError> {
        WechatPayClient::cancel_transfer(self, payout_no).await
    }

    fn parse_notification(
        &self,
        incoming: &IncomingNotification,
    ) -> Result<Notification, ProviderError> {
        notify::parse_notification(&self.notify_context(now_unix()), incoming)
    }

    fn notification_reply(&self, accepted: bool) -> NotificationReply {
        notify::notification_reply(accepted)
    }

    async fn download_bill(&self, req: &BillRequest) -> Result<BillFile, ProviderError> {
        self.download_trade_bill(req).await
    }
}
