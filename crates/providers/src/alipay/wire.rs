//! Alipay OpenAPI `biz_content` bodies and `_response` contents, with Alipay's own field
//! names. Public so the sandbox reads and writes exactly what the adapter does.

use serde::{Deserialize, Serialize};

/// `extend_params` (Huabei instalments).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExtendParams {
    /// Periods: `3`, `6` or `12`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hb_fq_num: Option<String>,
    /// Seller's share of the fee, percent: `0` or `100`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hb_fq_seller_percent: Option<String>,
}

/// `biz_content` of app.pay, wap.pay, page.pay, precreate and create.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TradePayBiz {
    /// Merchant order number.
    pub out_trade_no: String,
    /// Yuan, two decimals.
    pub total_amount: String,
    /// Title.
    pub subject: String,
    /// QUICK_MSECURITY_PAY, QUICK_WAP_WAY, FAST_INSTANT_TRADE_PAY, JSAPI_PAY (absent for precreate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_code: Option<String>,
    /// Absolute expiry `yyyy-MM-dd HH:mm:ss` (GMT+8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_expire: Option<String>,
    /// Echoed in notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passback_params: Option<String>,
    /// Instalments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend_params: Option<ExtendParams>,
    /// Comma-separated channels the buyer may not use (e.g. `credit_group,creditCard`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_pay_channels: Option<String>,
    /// Buyer user id (`2088...`), trade.create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_id: Option<String>,
    /// Buyer open id (newer apps), trade.create.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_open_id: Option<String>,
    /// Where wap.pay sends a buyer who gives up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quit_url: Option<String>,
}

/// Fields every `_response` carries.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Common {
    /// `10000` on success.
    pub code: String,
    /// Gateway message.
    #[serde(default)]
    pub msg: String,
    /// Business error code, e.g. `ACQ.TRADE_NOT_EXIST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_code: Option<String>,
    /// Business error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sub_msg: Option<String>,
}

/// `alipay_trade_precreate_response` / `alipay_trade_create_response`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TradeCreated {
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
    /// Merchant order number.
    #[serde(default)]
    pub out_trade_no: String,
    /// QR content (precreate).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qr_code: Option<String>,
    /// Alipay trade number (create).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_no: Option<String>,
}

/// `biz_content` naming a trade (query, close).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TradeRef {
    /// Merchant order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
    /// Alipay trade number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_no: Option<String>,
}

/// `alipay_trade_query_response`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TradeQueried {
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
    /// Alipay trade number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_no: Option<String>,
    /// Merchant order number.
    #[serde(default)]
    pub out_trade_no: String,
    /// WAIT_BUYER_PAY, TRADE_CLOSED, TRADE_SUCCESS, TRADE_FINISHED.
    #[serde(default)]
    pub trade_status: String,
    /// Yuan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total_amount: Option<String>,
    /// Yuan the buyer paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_pay_amount: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send_pay_date: Option<String>,
    /// Buyer user id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_user_id: Option<String>,
    /// Buyer open id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buyer_open_id: Option<String>,
}

/// `biz_content` of alipay.trade.refund.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RefundBiz {
    /// Merchant order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
    /// Alipay trade number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_no: Option<String>,
    /// Yuan.
    pub refund_amount: String,
    /// Merchant refund number (refunds once).
    pub out_request_no: String,
    /// Reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_reason: Option<String>,
}

/// `alipay_trade_refund_response`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Refunded {
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
    /// Alipay trade number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_no: Option<String>,
    /// Merchant order number.
    #[serde(default)]
    pub out_trade_no: String,
    /// `Y` when this call moved money; `N` when it did not (e.g. a repeat): query to confirm.
    #[serde(default)]
    pub fund_change: String,
    /// Cumulative refunded yuan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_fee: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gmt_refund_pay: Option<String>,
}

/// `biz_content` of alipay.trade.fastpay.refund.query.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RefundQueryBiz {
    /// Merchant order number.
    pub out_trade_no: String,
    /// Merchant refund number.
    pub out_request_no: String,
    /// Extra fields to return, e.g. `gmt_refund_pay`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub query_options: Vec<String>,
}

/// `alipay_trade_fastpay_refund_query_response`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RefundQueried {
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
    /// Merchant refund number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_request_no: Option<String>,
    /// Merchant order number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub out_trade_no: Option<String>,
    /// Alipay trade number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_no: Option<String>,
    /// Yuan of this refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_amount: Option<String>,
    /// `REFUND_SUCCESS`; absent means not received or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_status: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gmt_refund_pay: Option<String>,
}

/// `payee_info` of a transfer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PayeeInfo {
    /// User id or login.
    pub identity: String,
    /// `ALIPAY_USER_ID` or `ALIPAY_LOGON_ID`.
    pub identity_type: String,
    /// Real name (required for `ALIPAY_LOGON_ID`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// `biz_content` of alipay.fund.trans.uni.transfer.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TransferBiz {
    /// Merchant transfer number (pays once).
    pub out_biz_no: String,
    /// Yuan.
    pub trans_amount: String,
    /// `TRANS_ACCOUNT_NO_PWD`.
    pub product_code: String,
    /// `DIRECT_TRANSFER`.
    pub biz_scene: String,
    /// Title shown to the payee.
    pub order_title: String,
    /// Payee.
    pub payee_info: PayeeInfo,
    /// Remark.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remark: Option<String>,
}

/// `biz_content` of alipay.fund.trans.common.query.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TransferQueryBiz {
    /// `TRANS_ACCOUNT_NO_PWD`.
    pub product_code: String,
    /// `DIRECT_TRANSFER`.
    pub biz_scene: String,
    /// Merchant transfer number.
    pub out_biz_no: String,
}

/// `alipay_fund_trans_uni_transfer_response` and `alipay_fund_trans_common_query_response`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Transferred {
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
    /// Merchant transfer number.
    #[serde(default)]
    pub out_biz_no: String,
    /// Alipay transfer order id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// SUCCESS, DEALING, FAIL, REFUND (and INIT, WAIT_PAY, CLOSED in queries).
    #[serde(default)]
    pub status: String,
    /// Yuan (query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trans_amount: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss` (transfer answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trans_date: Option<String>,
    /// `yyyy-MM-dd HH:mm:ss` (query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_date: Option<String>,
    /// Why it failed (query).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_reason: Option<String>,
}

/// `biz_content` of alipay.data.dataservice.bill.downloadurl.query.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BillBiz {
    /// `trade` or `signcustomer`.
    pub bill_type: String,
    /// `yyyy-MM-dd` (daily) or `yyyy-MM` (monthly).
    pub bill_date: String,
}

/// `alipay_data_dataservice_bill_downloadurl_query_response`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct BillUrl {
    /// Common fields.
    #[serde(flatten)]
    pub common: Common,
    /// Short-lived URL of a ZIP.
    #[serde(default)]
    pub bill_download_url: String,
}
