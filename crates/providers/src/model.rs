//! Provider-neutral requests and results, in paydesk's words.
//!
//! Nothing here uses a provider's field names: the adapters map these to and from their
//! wire types (`out_trade_no`, `mchid`, `trade_state`, `biz_content`...). Amounts are
//! [`Amount`]s; times are UTC-aware [`OffsetDateTime`]s.

use paydesk_core::money::Amount;
use time::{Date, OffsetDateTime};

/// Which provider an adapter speaks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// WeChat Pay, API v3.
    WechatPay,
    /// Alipay OpenAPI with RSA2 signatures.
    Alipay,
}

/// A provider's way to pay on one kind of terminal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Product {
    /// Inside a native app (WeChat APP, Alipay app.pay).
    App,
    /// Inside the provider's own container: WeChat official account / mini program (JSAPI),
    /// Alipay mini program (trade.create with a buyer id).
    Jsapi,
    /// A mobile browser outside the provider's app (WeChat H5, Alipay wap.pay).
    H5,
    /// A QR code the buyer scans (WeChat NATIVE, Alipay precreate).
    Native,
    /// A PC web page (Alipay page.pay). WeChat has none: use [`Product::Native`].
    Page,
}

/// Huabei-style instalments chosen on the checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Installments {
    /// Number of periods: 3, 6 or 12.
    pub periods: u8,
    /// Share of the instalment fee the seller bears, in percent: 0 (buyer pays) or 100.
    pub seller_fee_percent: u8,
}

/// Method parameters from the rule engine that change how the provider may charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MethodParams {
    /// Pay in instalments (Alipay only; WeChat refuses the request).
    pub installments: Option<Installments>,
    /// Forbid credit cards (and credit products such as Huabei) as the funding source.
    pub no_credit: bool,
}

/// Create a payment (an "attempt") at a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatePayment {
    /// Our attempt number; the provider's merchant order number. Unique per merchant account.
    pub attempt_no: String,
    /// How much; CNY only for WeChat Pay and Alipay.
    pub amount: Amount,
    /// What the buyer sees (WeChat allows at most 127 bytes).
    pub subject: String,
    /// The product to use.
    pub product: Product,
    /// The buyer's id at the provider, when the product needs it: a WeChat openid (JSAPI),
    /// an Alipay buyer id (mini program).
    pub payer_id: Option<String>,
    /// After this instant the buyer can no longer pay.
    pub expires_at: OffsetDateTime,
    /// Where the provider sends the payment notification.
    pub notify_url: String,
    /// Where the buyer's browser goes after paying (Alipay page/wap), if anywhere.
    pub return_url: Option<String>,
    /// The buyer's IP address (WeChat H5 requires it).
    pub client_ip: Option<String>,
    /// Opaque text the provider echoes back in queries and notifications.
    pub passback: Option<String>,
    /// Method parameters (instalments, no credit card).
    pub method_params: MethodParams,
}

/// What the client (app, browser, mini program) needs to let the buyer pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentAction {
    /// Parameters for the provider's client SDK, already signed where the protocol wants it
    /// (WeChat JSAPI / APP). Names and order are the SDK's, so they are data, not fields.
    SdkParams(Vec<(String, String)>),
    /// A signed order string for the provider's app SDK (Alipay app.pay).
    OrderString(String),
    /// Send the buyer's browser here (WeChat H5, Alipay wap/page). `form_html` is an
    /// equivalent auto-submitting POST form when the protocol offers one.
    Redirect {
        /// The URL (GET).
        url: String,
        /// An HTML page that POSTs the same request when loaded.
        form_html: Option<String>,
    },
    /// Show this as a QR code (WeChat NATIVE `weixin://...`, Alipay precreate).
    QrCode(String),
    /// A provider trade id the mini program passes to its pay call (Alipay trade.create).
    ProviderTrade(String),
}

/// The state of a payment at the provider, in paydesk's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaymentState {
    /// Created, not paid yet.
    NotPaid,
    /// The buyer is paying (password entry, bank processing).
    Paying,
    /// Paid. Also Alipay's TRADE_FINISHED (paid, refund window over).
    Succeeded,
    /// Closed or revoked without payment (or, on Alipay, closed after a full refund).
    Closed,
    /// Paid, then (partly) refunded.
    Refunded,
    /// The payment failed.
    Failed,
}

/// Which payment to look up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentRef {
    /// By our attempt number.
    AttemptNo(String),
    /// By the provider's transaction id.
    ProviderTxnId(String),
}

/// What the provider says about a payment (from a query or a verified notification).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentStatus {
    /// Our attempt number.
    pub attempt_no: String,
    /// The provider's transaction id, once it has one.
    pub provider_txn_id: Option<String>,
    /// The state, mapped.
    pub state: PaymentState,
    /// The provider's own state word, kept for logs and operators.
    pub provider_state: String,
    /// The order amount, as the provider reports it.
    pub amount: Option<Amount>,
    /// What the buyer actually paid (after provider-funded discounts).
    pub payer_amount: Option<Amount>,
    /// When it was paid.
    pub paid_at: Option<OffsetDateTime>,
    /// The buyer's id at the provider.
    pub payer_id: Option<String>,
    /// The merchant account that received the money (WeChat mchid, Alipay seller id), to check.
    pub merchant_id: Option<String>,
    /// The app the payment was made for (WeChat appid, Alipay app id), to check.
    pub app_id: Option<String>,
    /// The passback text given at creation.
    pub passback: Option<String>,
}

/// Refund (part of) a payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRequest {
    /// The attempt that was paid.
    pub attempt_no: String,
    /// The provider's transaction id, if known (preferred by WeChat).
    pub provider_txn_id: Option<String>,
    /// Our refund number: the same number refunds at most once.
    pub refund_no: String,
    /// How much to refund now.
    pub refund_amount: Amount,
    /// The payment's total amount (WeChat requires it).
    pub total_amount: Amount,
    /// Shown to the buyer.
    pub reason: Option<String>,
    /// Where the provider sends the refund notification (WeChat).
    pub notify_url: Option<String>,
}

/// Which refund to look up. Alipay needs the payment too; WeChat only the refund number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundQuery {
    /// The attempt that was refunded.
    pub attempt_no: String,
    /// Our refund number.
    pub refund_no: String,
}

/// The state of a refund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefundState {
    /// Accepted, money not back yet.
    Processing,
    /// The money is on its way back / back.
    Succeeded,
    /// Closed by the provider without refunding.
    Closed,
    /// Needs a person (WeChat ABNORMAL: e.g. the buyer's card was closed).
    Abnormal,
    /// The provider has no successful refund under this number (Alipay: never received or
    /// failed). Retrying with the same refund number is safe.
    NotAccepted,
}

/// What the provider says about a refund.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundStatus {
    /// Our refund number.
    pub refund_no: String,
    /// The attempt refunded, when the provider says.
    pub attempt_no: Option<String>,
    /// The provider's refund id, when it has one.
    pub provider_refund_id: Option<String>,
    /// The state, mapped.
    pub state: RefundState,
    /// The provider's own state word.
    pub provider_state: String,
    /// The amount of this refund, when reported.
    pub amount: Option<Amount>,
    /// When the money went back.
    pub succeeded_at: Option<OffsetDateTime>,
}

/// Who receives a transfer (payout).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payee {
    /// A WeChat user by openid under the merchant's app.
    WechatOpenId(String),
    /// An Alipay user by user id (2088...).
    AlipayUserId(String),
    /// An Alipay user by login (phone or e-mail); Alipay then requires the real name.
    AlipayLogin(String),
}

/// Pay money from the merchant account to a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    /// Our payout number: the same number pays at most once.
    pub payout_no: String,
    /// How much.
    pub amount: Amount,
    /// Who.
    pub payee: Payee,
    /// The payee's real name, when the provider checks it.
    pub payee_name: Option<String>,
    /// The remark the user sees.
    pub remark: String,
    /// Where the provider sends the transfer notification (WeChat).
    pub notify_url: Option<String>,
    /// The provider's declared transfer scene, overriding the account default (WeChat
    /// `transfer_scene_id`); ignored by Alipay.
    pub scene_id: Option<String>,
    /// Scene declarations as (kind, content) pairs (WeChat scene report infos); ignored by Alipay.
    pub scene_details: Vec<(String, String)>,
}

/// The state of a transfer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransferState {
    /// Accepted or in progress: not final.
    Processing,
    /// Waiting for the user to confirm receipt in the provider's app (WeChat).
    WaitingUserConfirm,
    /// Paid.
    Succeeded,
    /// Failed: the money did not leave (safe to pay again under a new payout number).
    Failed,
    /// Being cancelled.
    Cancelling,
    /// Cancelled: the money did not leave.
    Cancelled,
}

/// What the provider says about a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferStatus {
    /// Our payout number.
    pub payout_no: String,
    /// The provider's transfer id.
    pub provider_transfer_id: Option<String>,
    /// The state, mapped.
    pub state: TransferState,
    /// The provider's own state word.
    pub provider_state: String,
    /// The amount, when reported.
    pub amount: Option<Amount>,
    /// Why it failed, when it did.
    pub fail_reason: Option<String>,
    /// WeChat's `package_info`, for the client to open the receipt confirmation page.
    pub confirm_package: Option<String>,
    /// When it finished.
    pub finished_at: Option<OffsetDateTime>,
}

/// An HTTP request from the provider to our notify URL, as received.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IncomingNotification {
    /// The headers (names compared case-insensitively).
    pub headers: Vec<(String, String)>,
    /// The raw body, byte for byte: signatures cover exactly these bytes.
    pub body: Vec<u8>,
}

impl IncomingNotification {
    /// The first header called `name`, case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A verified, decrypted and parsed notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The provider's notification id (WeChat event id, Alipay notify_id): stable across
    /// retries, so it can be used to dedupe.
    pub notification_id: String,
    /// What it is about.
    pub event: NotificationEvent,
}

/// What a notification is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationEvent {
    /// A payment changed.
    Payment(PaymentStatus),
    /// A refund changed.
    Refund(RefundStatus),
    /// A transfer changed.
    Transfer(TransferStatus),
}

/// The HTTP answer the provider expects from our notify URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationReply {
    /// HTTP status code.
    pub status: u16,
    /// Content type of `body`.
    pub content_type: &'static str,
    /// Body.
    pub body: String,
}

/// Which daily bill to download.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BillRequest {
    /// The bill's day (provider time zone: China Standard Time).
    pub date: Date,
    /// Which bill.
    pub kind: BillKind,
}

/// Kinds of daily bills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillKind {
    /// All trades (payments and refunds) of the day.
    Trades,
    /// Successful payments only (WeChat); Alipay's trade bill holds both.
    Payments,
    /// Refunds only (WeChat); Alipay's trade bill holds both.
    Refunds,
}

/// How a downloaded bill file is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillFormat {
    /// WeChat Pay: UTF-8 CSV, every detail field prefixed with a backquote.
    WechatCsv,
    /// Alipay: a ZIP of GBK-encoded CSV files.
    AlipayZip,
}

/// A downloaded, integrity-checked bill file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillFile {
    /// The day.
    pub date: Date,
    /// The encoding of `bytes`.
    pub format: BillFormat,
    /// The file, as downloaded.
    pub bytes: Vec<u8>,
}
