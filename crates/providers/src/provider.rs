//! The one trait every provider adapter implements.

use crate::error::ProviderError;
use crate::model::*;
use async_trait::async_trait;

/// What paydesk asks of a payment provider. One implementation per protocol and merchant
/// account configuration; all calls are signed and all answers verified inside.
///
/// Errors follow one rule: when [`ProviderError::is_outcome_unknown`] is true the provider
/// may have acted, so the caller queries before doing anything else.
#[async_trait]
pub trait PaymentProvider: Send + Sync {
    /// Which provider this is.
    fn kind(&self) -> ProviderKind;

    /// Creates a payment and returns what the client needs to let the buyer pay.
    async fn create_payment(&self, req: &CreatePayment) -> Result<PaymentAction, ProviderError>;

    /// Looks a payment up (the answer we trust, unlike a notification we could not verify).
    async fn query_payment(&self, which: &PaymentRef) -> Result<PaymentStatus, ProviderError>;

    /// Closes an unpaid payment so it can no longer be paid.
    async fn close_payment(&self, attempt_no: &str) -> Result<(), ProviderError>;

    /// Refunds (part of) a paid payment; idempotent by refund number at the provider.
    async fn refund(&self, req: &RefundRequest) -> Result<RefundStatus, ProviderError>;

    /// Looks a refund up.
    async fn query_refund(&self, which: &RefundQuery) -> Result<RefundStatus, ProviderError>;

    /// Pays money to a user; idempotent by payout number at the provider.
    async fn transfer(&self, req: &TransferRequest) -> Result<TransferStatus, ProviderError>;

    /// Looks a transfer up by payout number.
    async fn query_transfer(&self, payout_no: &str) -> Result<TransferStatus, ProviderError>;

    /// Asks the provider to cancel a transfer the user has not confirmed yet (WeChat's
    /// confirm-receipt step). Success means the request was accepted: the answer is
    /// usually `Cancelling`, and the transfer is final only once a query says
    /// `Cancelled`. Providers without a confirm step refuse with
    /// [`ProviderError::InvalidRequest`].
    async fn cancel_transfer(&self, payout_no: &str) -> Result<TransferStatus, ProviderError> {
        Err(ProviderError::InvalidRequest(format!(
            "transfer {payout_no}: this provider has no transfer cancellation"
        )))
    }

    /// Verifies, decrypts and parses a notification. A failure here must change nothing;
    /// the caller answers with [`PaymentProvider::notification_reply`]`(false)` and queries.
    fn parse_notification(
        &self,
        incoming: &IncomingNotification,
    ) -> Result<Notification, ProviderError>;

    /// The answer the provider expects: `accepted = true` stops its retries.
    fn notification_reply(&self, accepted: bool) -> NotificationReply;

    /// Downloads a daily bill, checked for integrity where the protocol allows.
    async fn download_bill(&self, req: &BillRequest) -> Result<BillFile, ProviderError>;
}
