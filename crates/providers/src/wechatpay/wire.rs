//! WeChat Pay API v3 JSON bodies, with WeChat's own field names. Public so the sandbox
//! serves exactly what the adapter reads. Optional fields are skipped when absent, because
//! WeChat rejects `null` in several places.

use crate::wechatpay::sign::EncryptedResource;
use serde::{Deserialize, Serialize};

/// `amount` of a create request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepayAmount {
    /// Fen.
    pub total: i64,
    /// `CNY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// `payer` (JSAPI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payer {
    /// The buyer's openid under `appid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
}

/// `scene_info.h5_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct H5Info {
    /// `Wap`, `iOS` or `Android`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `scene_info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SceneInfo {
    /// The buyer's IP (required for H5).
    pub payer_client_ip: String,
    /// Required for H5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h5_info: Option<H5Info>,
}

/// Body of `POST /v3/pay/transactions/{jsapi,app,h5,native}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrepayRequest {
    /// App id the payment is for.
    pub appid: String,
    /// Merchant id.
    pub mchid: String,
    /// Shown to the buyer (<= 127 bytes).
    pub description: String,
    /// Merchant order number.
    pub out_trade_no: String,
    /// RFC 3339 with offset, e.g. `2018-06-08T10:34:56+08:00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<String>,
    /// Echoed back (<= 128 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    /// HTTPS URL without query.
    pub notify_url: String,
    /// Amount.
    pub amount: PrepayAmount,
    /// JSAPI only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<Payer>,
    /// H5 requires it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scene_info: Option<SceneInfo>,
    /// `["no_credit"]`: not in the v3 reference, but accepted per WeChat's community
    /// answers ("可以传参使用，文档目前是没有体现的"); see docs/providers.md.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit_pay: Option<Vec<String>>,
}

/// Answer of a create call: exactly one field is set, by product.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PrepayResponse {
    /// JSAPI / APP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prepay_id: Option<String>,
    /// H5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub h5_url: Option<String>,
    /// NATIVE (`weixin://wxpay/bizpayurl?pr=...`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_url: Option<String>,
}

/// Body of `POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseRequest {
    /// Merchant id.
    pub mchid: String,
}

/// `amount` of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TransactionAmount {
    /// Order total, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// What the buyer paid, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_total: Option<i64>,
    /// `CNY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The buyer's currency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_currency: Option<String>,
}

/// A transaction (query answer and decrypted `TRANSACTION.*` callback resource).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Transaction {
    /// App id.
    #[serde(default)]
    pub appid: String,
    /// Merchant id.
    #[serde(default)]
    pub mchid: String,
    /// Merchant order number.
    pub out_trade_no: String,
    /// WeChat's transaction id (absent until paid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// JSAPI, NATIVE, APP, MICROPAY, MWEB, FACEPAY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_type: Option<String>,
    /// SUCCESS, REFUND, NOTPAY, CLOSED, REVOKED, USERPAYING, PAYERROR, ACCEPT.
    pub trade_state: String,
    /// Human description of the state.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_state_desc: Option<String>,
    /// Funding bank type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bank_type: Option<String>,
    /// The attach given at creation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    /// The buyer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer: Option<Payer>,
    /// Amounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<TransactionAmount>,
}

/// `amount` of a refund request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundAmountRequest {
    /// Refund now, fen.
    pub refund: i64,
    /// The order total, fen.
    pub total: i64,
    /// `CNY`.
    pub currency: String,
}

/// Body of `POST /v3/refund/domestic/refunds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundCreateRequest {
    /// Preferred over `out_trade_no` when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// Merchant order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
    /// Merchant refund number (refunds once).
    pub out_refund_no: String,
    /// Shown to the buyer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Refund notification URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    /// Amounts.
    pub amount: RefundAmountRequest,
}

/// `amount` of a refund answer or callback.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RefundAmount {
    /// Order total, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<i64>,
    /// This refund, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<i64>,
    /// What the buyer paid, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_total: Option<i64>,
    /// What the buyer gets back, fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_refund: Option<i64>,
    /// `CNY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
}

/// A refund: answer of create/query (`status`) and decrypted `REFUND.*` callback
/// resource (`refund_status`, plus `mchid`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Refund {
    /// Merchant id (callbacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mchid: Option<String>,
    /// WeChat's refund id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<String>,
    /// Merchant refund number.
    pub out_refund_no: String,
    /// WeChat transaction id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// Merchant order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
    /// SUCCESS, CLOSED, PROCESSING, ABNORMAL (API answers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// SUCCESS, CLOSED, ABNORMAL (callbacks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_time: Option<String>,
    /// Where the money went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_received_account: Option<String>,
    /// Amounts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<RefundAmount>,
}

/// One `transfer_scene_report_infos` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferSceneReportInfo {
    /// e.g. `活动名称`.
    pub info_type: String,
    /// The declared content.
    pub info_content: String,
}

/// Body of `POST /v3/fund-app/mch-transfer/transfer-bills`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferBillRequest {
    /// App id of the payee's openid.
    pub appid: String,
    /// Merchant bill number (pays once).
    pub out_bill_no: String,
    /// Declared scene id.
    pub transfer_scene_id: String,
    /// Payee.
    pub openid: String,
    /// Payee real name, RSA-OAEP encrypted with a platform key (see `encrypt_sensitive`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_name: Option<String>,
    /// Fen.
    pub transfer_amount: i64,
    /// Shown to the user.
    pub transfer_remark: String,
    /// Transfer notification URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_url: Option<String>,
    /// Scene declarations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub transfer_scene_report_infos: Vec<TransferSceneReportInfo>,
}

/// A transfer bill: answer of create/query and decrypted `MCHTRANSFER.*` callback resource.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TransferBill {
    /// Merchant id (query and callback spell it `mch_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mch_id: Option<String>,
    /// Merchant bill number.
    pub out_bill_no: String,
    /// WeChat's bill number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_bill_no: Option<String>,
    /// ACCEPTED, PROCESSING, WAIT_USER_CONFIRM, TRANSFERING, SUCCESS, FAIL, CANCELING, CANCELLED.
    pub state: String,
    /// Fen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_amount: Option<i64>,
    /// For the client to open the confirmation page (WAIT_USER_CONFIRM).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_info: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_time: Option<String>,
    /// RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_time: Option<String>,
    /// Payee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openid: Option<String>,
}

/// Answer of `GET /v3/bill/tradebill`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradeBill {
    /// `SHA1`.
    pub hash_type: String,
    /// Hex digest of the (uncompressed) file.
    pub hash_value: String,
    /// Where to GET the file (signed request, unsigned answer).
    pub download_url: String,
}

/// Error body of any non-2xx answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// e.g. `PARAM_ERROR`.
    pub code: String,
    /// Human message.
    #[serde(default)]
    pub message: String,
    /// Field-level detail, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// The callback envelope POSTed to `notify_url`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyEnvelope {
    /// Notification id (stable across retries).
    pub id: String,
    /// RFC 3339.
    #[serde(default)]
    pub create_time: String,
    /// `TRANSACTION.SUCCESS`, `REFUND.SUCCESS`, `MCHTRANSFER.BILL.FINISHED`...
    pub event_type: String,
    /// `encrypt-resource`.
    #[serde(default)]
    pub resource_type: String,
    /// Human summary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// The encrypted payload.
    pub resource: EncryptedResource,
}

/// What we answer to a callback we could not accept (WeChat then retries).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyFailure {
    /// `FAIL`.
    pub code: String,
    /// Why.
    pub message: String,
}

/// One entry of `GET /v3/certificates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformCertificate {
    /// Upper-case hex serial.
    pub serial_no: String,
    /// RFC 3339.
    #[serde(default)]
    pub effective_time: String,
    /// RFC 3339.
    #[serde(default)]
    pub expire_time: String,
    /// The PEM certificate, encrypted with the APIv3 key (associated data `certificate`).
    pub encrypt_certificate: EncryptedResource,
}

/// Answer of `GET /v3/certificates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateList {
    /// The live platform certificates.
    pub data: Vec<PlatformCertificate>,
}
