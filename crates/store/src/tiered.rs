//! [`TieredStore`]: a hot store with a cold (archive) store behind it, presented as one
//! [`Store`]. Everything goes to hot; reads of a pay order (by id, by business order
//! number) and of its events and attempts fall back to cold when hot has nothing; a
//! change to an order that is only in cold back-fills it into hot first.
//!
//! The archiver commits the cold copy before deleting from hot, and a back-fill commits
//! the hot copy before deleting from cold, so reading hot, then cold, then hot again
//! always finds an order that exists in either tier.

use crate::archive::{backfill_pay_order, tier_of, ArchiveTier};
use crate::*;
use async_trait::async_trait;
use std::sync::Arc;

/// Hot store first, cold store behind it.
pub struct TieredStore {
    hot: Arc<dyn Store>,
    cold: Arc<dyn Store>,
}

impl TieredStore {
    /// Wraps a hot and a cold store (both migrated with the same schema).
    pub fn new(hot: Arc<dyn Store>, cold: Arc<dyn Store>) -> Self {
        TieredStore { hot, cold }
    }

    /// The hot store.
    pub fn hot(&self) -> &Arc<dyn Store> {
        &self.hot
    }

    /// The cold store.
    pub fn cold(&self) -> &Arc<dyn Store> {
        &self.cold
    }

    /// Brings an archived order back to hot (see [`backfill_pay_order`]). True if it
    /// was in cold.
    pub async fn backfill_pay_order(&self, id: &str) -> Result<bool> {
        backfill_pay_order(&*self.hot, &*self.cold, id).await
    }

    /// Back-fills `id` if hot does not hold it.
    async fn ensure_hot(&self, id: &str) -> Result<()> {
        if self.hot.pay_order(id).await?.is_none() {
            self.backfill_pay_order(id).await?;
        }
        Ok(())
    }

    /// Back-fills the order of an attempt (wherever the attempt is) if hot lacks it.
    async fn ensure_attempt_order_hot(&self, attempt_id: &str) -> Result<()> {
        if let Some(a) = self.attempt(attempt_id).await? {
            self.ensure_hot(&a.pay_order_id).await?;
        }
        Ok(())
    }

    /// Back-fills the order of a refund (wherever the refund is) if hot lacks it.
    async fn ensure_refund_order_hot(&self, refund_id: &str) -> Result<()> {
        if let Some(r) = self.refund(refund_id).await? {
            self.ensure_hot(&r.pay_order_id).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl Store for TieredStore {
    fn backend(&self) -> Backend {
        self.hot.backend()
    }

    async fn migrate(&self) -> Result<()> {
        self.hot.migrate().await?;
        self.cold.migrate().await
    }

    async fn ping(&self) -> Result<()> {
        self.hot.ping().await
    }

    fn archive_tier(&self) -> Option<&dyn ArchiveTier> {
        self.hot.archive_tier()
    }

    fn ledger(&self) -> &dyn LedgerStore {
        // The ledger and payouts are never archived: they live in hot only.
        self.hot.ledger()
    }
    fn reconciliation(&self) -> &dyn crate::ReconciliationStore {
        // Runs and differences are never archived: they live in hot only. (The paydesk
        // side of an archived day is read from both tiers by the caller, through
        // `tiers()`.)
        self.hot.reconciliation()
    }

    fn tiers(&self) -> Option<(&dyn Store, &dyn Store)> {
        Some((&*self.hot, &*self.cold))
    }

    async fn list_pay_orders(&self, query: &PayOrderQuery) -> Result<Vec<PayOrder>> {
        // Both tiers for the same page, merged; an order in both (mid-archive or
        // mid-back-fill) is listed once, as hot has it.
        let (hot, cold) = tokio::try_join!(
            self.hot.list_pay_orders(query),
            self.cold.list_pay_orders(query)
        )?;
        Ok(merge_pages(hot, cold, query.limit.max(0) as usize))
    }

    async fn insert_business_line(&self, line: &BusinessLine) -> Result<()> {
        self.hot.insert_business_line(line).await
    }

    async fn business_line_by_app_id(&self, app_id: &str) -> Result<Option<BusinessLine>> {
        self.hot.business_line_by_app_id(app_id).await
    }

    async fn business_line_by_id(&self, id: &str) -> Result<Option<BusinessLine>> {
        self.hot.business_line_by_id(id).await
    }

    async fn list_business_lines(&self) -> Result<Vec<BusinessLine>> {
        self.hot.list_business_lines().await
    }

    async fn set_business_line_status(
        &self,
        id_or_name: &str,
        status: BusinessLineStatus,
        now_ms: i64,
    ) -> Result<bool> {
        self.hot
            .set_business_line_status(id_or_name, status, now_ms)
            .await
    }

    async fn record_nonce(
        &self,
        app_id: &str,
        nonce: &str,
        expires_at_ms: i64,
    ) -> Result<NonceOutcome> {
        self.hot.record_nonce(app_id, nonce, expires_at_ms).await
    }

    async fn purge_expired_nonces(&self, now_ms: i64, limit: i64) -> Result<u64> {
        self.hot.purge_expired_nonces(now_ms, limit).await
    }

    async fn create_pay_order(&self, order: &NewPayOrder) -> Result<CreateOutcome> {
        match self.hot.create_pay_order(order).await {
            Ok(out) => Ok(out),
            Err(e) => {
                // The number may be held by an archived order: its key stays in hot,
                // the order itself is in cold.
                let key = tier_of(&*self.hot)?
                    .business_order_key(&order.business_line_id, &order.business_order_no)
                    .await?;
                match key {
                    Some(id) if id != order.id => match self.cold.pay_order(&id).await? {
                        Some(existing) => Ok(CreateOutcome::Existing(existing)),
                        None => Err(e),
                    },
                    _ => Err(e),
                }
            }
        }
    }

    async fn pay_order(&self, id: &str) -> Result<Option<PayOrder>> {
        if let Some(o) = self.hot.pay_order(id).await? {
            return Ok(Some(o));
        }
        if let Some(o) = self.cold.pay_order(id).await? {
            return Ok(Some(o));
        }
        // A back-fill may have moved it from cold to hot between the two reads.
        self.hot.pay_order(id).await
    }

    async fn pay_order_by_business_no(
        &self,
        business_line_id: &str,
        business_order_no: &str,
    ) -> Result<Option<PayOrder>> {
        if let Some(o) = self
            .hot
            .pay_order_by_business_no(business_line_id, business_order_no)
            .await?
        {
            return Ok(Some(o));
        }
        let key = tier_of(&*self.hot)?
            .business_order_key(business_line_id, business_order_no)
            .await?;
        match key {
            Some(id) => self.pay_order(&id).await,
            None => Ok(None),
        }
    }

    async fn pay_order_by_checkout_token(&self, token: &str) -> Result<Option<PayOrder>> {
        if let Some(o) = self.hot.pay_order_by_checkout_token(token).await? {
            return Ok(Some(o));
        }
        if let Some(o) = self.cold.pay_order_by_checkout_token(token).await? {
            return Ok(Some(o));
        }
        self.hot.pay_order_by_checkout_token(token).await
    }

    async fn close_pay_order(
        &self,
        id: &str,
        now_ms: i64,
        event: &NewEvent,
    ) -> Result<Transition<PayOrder>> {
        self.ensure_hot(id).await?;
        self.hot.close_pay_order(id, now_ms, event).await
    }

    async fn expired_waiting_orders(&self, now_ms: i64, limit: i64) -> Result<Vec<PayOrder>> {
        self.hot.expired_waiting_orders(now_ms, limit).await
    }

    async fn due_events(&self, now_ms: i64, limit: i64) -> Result<Vec<OutboxEvent>> {
        self.hot.due_events(now_ms, limit).await
    }

    async fn claim_event(
        &self,
        event: &OutboxEvent,
        owner: &str,
        now_ms: i64,
        lease_until_ms: i64,
    ) -> Result<bool> {
        self.hot
            .claim_event(event, owner, now_ms, lease_until_ms)
            .await
    }

    async fn record_attempt(
        &self,
        attempt: &NotificationAttempt,
        owner: &str,
        after: AfterAttempt,
        now_ms: i64,
    ) -> Result<bool> {
        self.hot.record_attempt(attempt, owner, after, now_ms).await
    }

    async fn event(&self, id: &str) -> Result<Option<OutboxEvent>> {
        match self.hot.event(id).await? {
            Some(e) => Ok(Some(e)),
            None => self.cold.event(id).await,
        }
    }

    async fn events_for_pay_order(&self, pay_order_id: &str) -> Result<Vec<OutboxEvent>> {
        let hot = self.hot.events_for_pay_order(pay_order_id).await?;
        if !hot.is_empty() {
            return Ok(hot);
        }
        self.cold.events_for_pay_order(pay_order_id).await
    }

    async fn attempts_for_event(&self, event_id: &str) -> Result<Vec<NotificationAttempt>> {
        let hot = self.hot.attempts_for_event(event_id).await?;
        if !hot.is_empty() {
            return Ok(hot);
        }
        self.cold.attempts_for_event(event_id).await
    }

    async fn requeue_event(&self, id: &str, now_ms: i64) -> Result<Transition<OutboxEvent>> {
        if self.hot.event(id).await?.is_none() {
            if let Some(order_id) = self.cold.event(id).await?.and_then(|e| e.pay_order_id) {
                self.backfill_pay_order(&order_id).await?;
            }
        }
        self.hot.requeue_event(id, now_ms).await
    }

    async fn outbox_stats(&self) -> Result<OutboxStats> {
        self.hot.outbox_stats().await
    }

    async fn create_attempt(
        &self,
        attempt: &NewAttempt,
        max_attempts: i64,
    ) -> Result<CreateAttemptOutcome> {
        // Only WAITING orders are payable, and those are never archived.
        match self.hot.create_attempt(attempt, max_attempts).await? {
            CreateAttemptOutcome::OrderNotPayable(None) => Ok(
                CreateAttemptOutcome::OrderNotPayable(self.pay_order(&attempt.pay_order_id).await?),
            ),
            other => Ok(other),
        }
    }

    async fn attempt(&self, id: &str) -> Result<Option<Attempt>> {
        if let Some(a) = self.hot.attempt(id).await? {
            return Ok(Some(a));
        }
        if let Some(a) = self.cold.attempt(id).await? {
            return Ok(Some(a));
        }
        self.hot.attempt(id).await
    }

    async fn attempt_by_no(&self, attempt_no: &str) -> Result<Option<Attempt>> {
        if let Some(a) = self.hot.attempt_by_no(attempt_no).await? {
            return Ok(Some(a));
        }
        if let Some(a) = self.cold.attempt_by_no(attempt_no).await? {
            return Ok(Some(a));
        }
        self.hot.attempt_by_no(attempt_no).await
    }

    async fn attempt_by_provider_txn_id(&self, provider_txn_id: &str) -> Result<Option<Attempt>> {
        if let Some(a) = self.hot.attempt_by_provider_txn_id(provider_txn_id).await? {
            return Ok(Some(a));
        }
        if let Some(a) = self
            .cold
            .attempt_by_provider_txn_id(provider_txn_id)
            .await?
        {
            return Ok(Some(a));
        }
        self.hot.attempt_by_provider_txn_id(provider_txn_id).await
    }

    async fn attempts_for_pay_order(&self, pay_order_id: &str) -> Result<Vec<Attempt>> {
        let hot = self.hot.attempts_for_pay_order(pay_order_id).await?;
        if !hot.is_empty() {
            return Ok(hot);
        }
        self.cold.attempts_for_pay_order(pay_order_id).await
    }

    async fn update_attempt(
        &self,
        id: &str,
        update: &AttemptUpdate,
    ) -> Result<Transition<Attempt>> {
        self.ensure_attempt_order_hot(id).await?;
        self.hot.update_attempt(id, update).await
    }

    async fn schedule_attempt_query(
        &self,
        id: &str,
        expected_version: i64,
        next_query_at_ms: Option<i64>,
        now_ms: i64,
    ) -> Result<bool> {
        self.ensure_attempt_order_hot(id).await?;
        self.hot
            .schedule_attempt_query(id, expected_version, next_query_at_ms, now_ms)
            .await
    }

    async fn due_attempt_queries(&self, now_ms: i64, limit: i64) -> Result<Vec<Attempt>> {
        self.hot.due_attempt_queries(now_ms, limit).await
    }

    async fn record_payment_success(&self, success: &PaymentSuccess) -> Result<PaymentOutcome> {
        self.ensure_attempt_order_hot(&success.attempt_id).await?;
        self.hot.record_payment_success(success).await
    }

    // Balance parts live only in the hot tier (never archived), and the orders they
    // change are back-filled first.
    async fn balance_part(&self, pay_order_id: &str) -> Result<Option<BalancePart>> {
        self.hot.balance_part(pay_order_id).await
    }

    async fn hold_balance_part(&self, hold: &HoldBalance) -> Result<HoldOutcome> {
        self.ensure_hot(&hold.pay_order_id).await?;
        self.hot.hold_balance_part(hold).await
    }

    async fn release_balance_part(
        &self,
        pay_order_id: &str,
        now_ms: i64,
    ) -> Result<Option<BalancePart>> {
        self.ensure_hot(pay_order_id).await?;
        self.hot.release_balance_part(pay_order_id, now_ms).await
    }

    async fn pay_with_balance(&self, payment: &BalancePayment) -> Result<BalancePaymentOutcome> {
        self.ensure_hot(&payment.pay_order_id).await?;
        self.hot.pay_with_balance(payment).await
    }

    async fn flagged_attempts(&self, limit: i64) -> Result<Vec<Attempt>> {
        let mut all = self.hot.flagged_attempts(limit).await?;
        for a in self.cold.flagged_attempts(limit).await? {
            if !all.iter().any(|h| h.id == a.id) {
                all.push(a);
            }
        }
        all.sort_by(|a, b| (b.updated_at_ms, &b.id).cmp(&(a.updated_at_ms, &a.id)));
        all.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(all)
    }

    async fn create_refund(
        &self,
        refund: &NewRefund,
        max_refunds: i64,
    ) -> Result<CreateRefundOutcome> {
        self.ensure_hot(&refund.pay_order_id).await?;
        match self.hot.create_refund(refund, max_refunds).await {
            Err(StoreError::Conflict(m)) => {
                // The number may be held by an archived refund: its key stays in hot,
                // the refund itself is in cold.
                if let (Some(no), Some(order)) = (
                    refund.business_refund_no.as_deref(),
                    self.pay_order(&refund.pay_order_id).await?,
                ) {
                    if let Some(existing) = self
                        .cold
                        .refund_by_business_no(&order.business_line_id, no)
                        .await?
                    {
                        return Ok(CreateRefundOutcome::Existing(existing));
                    }
                }
                Err(StoreError::Conflict(m))
            }
            other => other,
        }
    }

    async fn refund(&self, id: &str) -> Result<Option<Refund>> {
        if let Some(r) = self.hot.refund(id).await? {
            return Ok(Some(r));
        }
        if let Some(r) = self.cold.refund(id).await? {
            return Ok(Some(r));
        }
        self.hot.refund(id).await
    }

    async fn refund_by_business_no(
        &self,
        business_line_id: &str,
        business_refund_no: &str,
    ) -> Result<Option<Refund>> {
        if let Some(r) = self
            .hot
            .refund_by_business_no(business_line_id, business_refund_no)
            .await?
        {
            return Ok(Some(r));
        }
        if let Some(r) = self
            .cold
            .refund_by_business_no(business_line_id, business_refund_no)
            .await?
        {
            return Ok(Some(r));
        }
        self.hot
            .refund_by_business_no(business_line_id, business_refund_no)
            .await
    }

    async fn refund_by_no(&self, refund_no: &str) -> Result<Option<Refund>> {
        if let Some(r) = self.hot.refund_by_no(refund_no).await? {
            return Ok(Some(r));
        }
        if let Some(r) = self.cold.refund_by_no(refund_no).await? {
            return Ok(Some(r));
        }
        self.hot.refund_by_no(refund_no).await
    }

    async fn refunds_for_pay_order(&self, pay_order_id: &str) -> Result<Vec<Refund>> {
        let hot = self.hot.refunds_for_pay_order(pay_order_id).await?;
        if !hot.is_empty() {
            return Ok(hot);
        }
        self.cold.refunds_for_pay_order(pay_order_id).await
    }

    async fn due_refunds(&self, now_ms: i64, limit: i64) -> Result<Vec<Refund>> {
        self.hot.due_refunds(now_ms, limit).await
    }

    async fn update_refund(&self, id: &str, update: &RefundUpdate) -> Result<Transition<Refund>> {
        self.ensure_refund_order_hot(id).await?;
        self.hot.update_refund(id, update).await
    }

    async fn insert_raw_callback(&self, callback: &RawCallback) -> Result<()> {
        if let Some(order) = &callback.pay_order_id {
            self.ensure_hot(order).await?;
        }
        self.hot.insert_raw_callback(callback).await
    }

    async fn raw_callbacks_for_pay_order(&self, pay_order_id: &str) -> Result<Vec<RawCallback>> {
        let hot = self.hot.raw_callbacks_for_pay_order(pay_order_id).await?;
        if !hot.is_empty() {
            return Ok(hot);
        }
        self.cold.raw_callbacks_for_pay_order(pay_order_id).await
    }

    async fn publish_rule_version(
        &self,
        new: &NewRuleVersion,
        expected_active: i64,
    ) -> Result<Transition<ActiveRuleVersion>> {
        self.hot.publish_rule_version(new, expected_active).await
    }

    async fn activate_rule_version(
        &self,
        version: i64,
        expected_active: i64,
        by: &str,
        now_ms: i64,
    ) -> Result<Transition<ActiveRuleVersion>> {
        self.hot
            .activate_rule_version(version, expected_active, by, now_ms)
            .await
    }

    async fn active_rule_version(&self) -> Result<ActiveRuleVersion> {
        self.hot.active_rule_version().await
    }

    async fn rule_version(&self, version: i64) -> Result<Option<RuleVersion>> {
        self.hot.rule_version(version).await
    }

    async fn list_rule_versions(&self, limit: i64) -> Result<Vec<RuleVersionSummary>> {
        self.hot.list_rule_versions(limit).await
    }

    async fn insert_operator(&self, operator: &Operator) -> Result<()> {
        self.hot.insert_operator(operator).await
    }

    async fn operator_by_token_hash(&self, token_hash: &str) -> Result<Option<Operator>> {
        self.hot.operator_by_token_hash(token_hash).await
    }

    async fn list_operators(&self) -> Result<Vec<Operator>> {
        self.hot.list_operators().await
    }

    async fn set_operator_status(&self, name: &str, status: OperatorStatus) -> Result<bool> {
        self.hot.set_operator_status(name, status).await
    }

    async fn insert_operator_session(&self, session: &OperatorSession) -> Result<()> {
        self.hot.insert_operator_session(session).await
    }

    async fn session_operator(&self, token_hash: &str, now_ms: i64) -> Result<Option<Operator>> {
        self.hot.session_operator(token_hash, now_ms).await
    }

    async fn delete_operator_session(&self, token_hash: &str) -> Result<bool> {
        self.hot.delete_operator_session(token_hash).await
    }

    async fn purge_expired_sessions(&self, now_ms: i64, limit: i64) -> Result<u64> {
        self.hot.purge_expired_sessions(now_ms, limit).await
    }

    async fn record_decision_sample(&self, sample: &DecisionSample) -> Result<()> {
        self.hot.record_decision_sample(sample).await
    }

    async fn decision_samples(&self, limit: i64) -> Result<Vec<DecisionSample>> {
        self.hot.decision_samples(limit).await
    }

    // Merchant accounts and the audit log live in hot only (never archived).

    async fn insert_merchant_account(
        &self,
        account: &MerchantAccount,
        key: &MerchantAccountKey,
        audit: &AuditEntry,
    ) -> Result<()> {
        self.hot.insert_merchant_account(account, key, audit).await
    }

    async fn merchant_account(&self, id: &str) -> Result<Option<MerchantAccount>> {
        self.hot.merchant_account(id).await
    }

    async fn list_merchant_accounts(&self) -> Result<Vec<MerchantAccount>> {
        self.hot.list_merchant_accounts().await
    }

    async fn merchant_account_keys(&self, account_id: &str) -> Result<Vec<MerchantAccountKey>> {
        self.hot.merchant_account_keys(account_id).await
    }

    async fn update_merchant_account(
        &self,
        update: &MerchantAccountUpdate,
    ) -> Result<Transition<MerchantAccount>> {
        self.hot.update_merchant_account(update).await
    }

    async fn merchant_accounts_stamp(&self) -> Result<MerchantAccountsStamp> {
        self.hot.merchant_accounts_stamp().await
    }

    async fn insert_audit_entry(&self, entry: &AuditEntry) -> Result<()> {
        self.hot.insert_audit_entry(entry).await
    }

    async fn audit_log(&self, limit: i64) -> Result<Vec<AuditEntry>> {
        self.hot.audit_log(limit).await
    }

    async fn rotate_business_line_secret(
        &self,
        rotation: &SecretRotation,
        audit: &AuditEntry,
    ) -> Result<bool> {
        self.hot.rotate_business_line_secret(rotation, audit).await
    }

    async fn previous_business_line_secret(
        &self,
        business_line_id: &str,
        now_ms: i64,
    ) -> Result<Option<PreviousSecret>> {
        self.hot
            .previous_business_line_secret(business_line_id, now_ms)
            .await
    }

    /// Hot only: the dashboard shows recent weeks, which archiving never moves.
    async fn dashboard(&self, query: &DashboardQuery) -> Result<Dashboard> {
        self.hot.dashboard(query).await
    }

    // Approvals live in hot only: they are never archived.

    async fn insert_approval(&self, approval: &Approval) -> Result<()> {
        self.hot.insert_approval(approval).await
    }

    async fn approval(&self, id: &str) -> Result<Option<Approval>> {
        self.hot.approval(id).await
    }

    async fn list_approvals(
        &self,
        status: Option<ApprovalStatus>,
        limit: i64,
    ) -> Result<Vec<Approval>> {
        self.hot.list_approvals(status, limit).await
    }

    async fn decide_approval(
        &self,
        id: &str,
        expected_version: i64,
        to: ApprovalStatus,
        decided_by: &str,
        now_ms: i64,
    ) -> Result<Transition<Approval>> {
        self.hot
            .decide_approval(id, expected_version, to, decided_by, now_ms)
            .await
    }
}
