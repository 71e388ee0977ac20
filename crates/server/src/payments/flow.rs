//! The acquiring flow's decisions: start an attempt at the routed merchant account, believe
//! a provider's report only after checking it, close open attempts before anything that
//! needs them closed. Handlers, callbacks and workers all come through here, so the money
//! rules live in one place:
//!
//! * a report is applied only if it names our attempt number, our merchant and our app;
//! * a success is recorded with the amount the provider reported; the store decides, in
//!   one transaction, whether it is the order's payment or money to give back;
//! * an unknown outcome (timeout, 5xx, unverifiable answer) is never taken as a failure:
//!   the attempt stays open and the active query asks again.

use super::accounts::Account;
use super::refunds;
use crate::error::{ApiError, ErrorCode};
use crate::events;
use crate::state::AppState;
use crate::time::now_ms;
use paydesk_core::ledger::AccountRef;
use paydesk_core::transition::StateMachine;
use paydesk_core::{ids, AttemptStatus, EventType, PayOrderStatus, RefundKind};
use paydesk_providers::model::{
    CreatePayment, Installments, MethodParams, PaymentAction, PaymentRef, PaymentState,
    PaymentStatus, Product,
};
use paydesk_providers::ProviderError;
use paydesk_rules::{FactValue, Facts, Method, Terminal};
use paydesk_store::{
    Attempt, AttemptUpdate, BalancePart, BalancePayment, BalancePaymentOutcome,
    CreateAttemptOutcome, HoldBalance, HoldOutcome, NewAttempt, NewRefund, PayOrder,
    PaymentOutcome, PaymentSuccess, StoreError, Transition,
};
use std::sync::Arc;
use time::OffsetDateTime;

/// How many times a close is retried when a new attempt appears between closing the open
/// attempts and closing the order.
const MAX_CLOSE_ROUNDS: usize = 3;

/// When a closed attempt is queried one last time.
const LAST_LOOK_AFTER_CLOSE_MS: i64 = 60_000;

/// Errors of the flow, turned into API errors by handlers and logged by workers.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// A storage failure.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The provider's answer could not be used; nothing was concluded.
    #[error("provider: {0}")]
    Provider(#[from] ProviderError),
    /// A report that does not belong to the attempt (other merchant, app or number).
    #[error("report does not match the attempt: {0}")]
    Mismatch(String),
    /// The attempt names a merchant account this instance does not have.
    #[error("merchant account `{0}` is not configured")]
    NoAccount(String),
}

impl From<FlowError> for ApiError {
    fn from(e: FlowError) -> ApiError {
        match e {
            FlowError::Store(s) => ApiError::from(s),
            FlowError::Provider(p) => {
                tracing::warn!(error = %p, "provider call failed");
                ApiError::new(
                    ErrorCode::ProviderUnavailable,
                    "the payment provider did not give a usable answer; try again",
                )
            }
            FlowError::Mismatch(m) => {
                tracing::error!(reason = %m, "provider report refused");
                ApiError::new(ErrorCode::ProviderUnavailable, "provider report refused")
            }
            FlowError::NoAccount(a) => ApiError::new(
                ErrorCode::MethodNotOffered,
                format!("merchant account `{a}` is not configured"),
            ),
        }
    }
}

/// What the buyer chose on the checkout.
#[derive(Debug, Clone)]
pub struct PayChoice {
    /// The method.
    pub method: Method,
    /// The buyer's terminal.
    pub terminal: Terminal,
    /// The app version, for app terminals.
    pub app_version: Option<String>,
    /// Installment periods, for methods that offer them.
    pub installment_periods: Option<u32>,
    /// The buyer's id at the provider (WeChat openid for JSAPI, Alipay buyer id).
    pub payer_id: Option<String>,
    /// The buyer's IP address (WeChat H5 needs it).
    pub client_ip: Option<String>,
    /// For `COMBINED`: how much to take from the balance (default: as much as the
    /// balance covers, leaving at least one minor unit for the provider).
    pub balance_minor: Option<i64>,
}

/// A started attempt and what the client needs to pay it.
#[derive(Debug, Clone)]
pub struct Started {
    /// The attempt.
    pub attempt: Attempt,
    /// What to show or where to go.
    pub action: PaymentAction,
    /// For `COMBINED`: the balance part held for this attempt (captured when the
    /// provider part succeeds).
    pub balance_part: Option<BalancePart>,
}

/// The facts the checkout rules see for `order` on `terminal`.
pub fn facts_for(
    order: &PayOrder,
    business_line: Option<&str>,
    terminal: Terminal,
    app_version: Option<String>,
) -> Facts {
    let mut facts = Facts::new(terminal);
    facts.business_line = business_line.map(str::to_owned);
    facts.buyer_id = order.buyer_id.clone();
    facts.seller_id = order.seller_id.clone();
    facts.amount = Some(order.amount.minor());
    facts.currency = Some(order.currency());
    facts.app_version = app_version;
    let free: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&order.facts_json).unwrap_or_default();
    for (k, v) in free {
        match (k.as_str(), v) {
            ("seller_segment", serde_json::Value::String(s)) => facts.seller_segment = Some(s),
            ("buyer_segment", serde_json::Value::String(s)) => facts.buyer_segment = Some(s),
            ("item_category", serde_json::Value::String(s)) => facts.item_category = Some(s),
            (_, serde_json::Value::String(s)) => {
                facts.facts.insert(k, FactValue::Str(s));
            }
            (_, serde_json::Value::Bool(b)) => {
                facts.facts.insert(k, FactValue::Bool(b));
            }
            (_, serde_json::Value::Number(n)) => {
                if let Some(i) = n.as_i64() {
                    facts.facts.insert(k, FactValue::Int(i));
                }
            }
            _ => {}
        }
    }
    facts
}

/// Whether a method is paid wholly through a provider. `BALANCE` is paid from the
/// ledger alone ([`pay_by_balance`]); `COMBINED` holds a balance part first and asks its
/// route's provider only for the rest ([`pay`]).
pub fn payable_through_provider(m: Method) -> bool {
    matches!(
        m,
        Method::WechatPay | Method::Alipay | Method::AlipayInstallment
    )
}

/// The provider product for a rule-engine product.
pub fn provider_product(p: paydesk_rules::Product) -> Product {
    match p {
        paydesk_rules::Product::App => Product::App,
        paydesk_rules::Product::Jsapi => Product::Jsapi,
        paydesk_rules::Product::H5 | paydesk_rules::Product::Wap => Product::H5,
        paydesk_rules::Product::Native => Product::Native,
        paydesk_rules::Product::Page => Product::Page,
    }
}

/// Where a provider sends callbacks for an account.
pub fn notify_url(state: &AppState, account: &Account) -> String {
    format!(
        "{}/notify/{}/{}",
        state.public_url,
        account.provider.as_str(),
        account.id
    )
}

/// What the active rules offer for `choice.method` on this order and terminal now; an
/// error when the order cannot be paid, no rules are loaded, or the method is not offered.
fn offered_now(
    state: &AppState,
    order: &PayOrder,
    business_line: Option<&str>,
    choice: &PayChoice,
    now: i64,
) -> Result<paydesk_rules::OfferedMethod, ApiError> {
    if order.status != PayOrderStatus::Waiting || order.expire_at_ms <= now {
        return Err(not_payable(order));
    }
    let snapshot = state.rules.current().ok_or_else(|| {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "no checkout rules are loaded yet",
        )
    })?;
    let facts = facts_for(
        order,
        business_line,
        choice.terminal,
        choice.app_version.clone(),
    );
    let decision = snapshot.compiled.evaluate(&facts, now);
    decision.get(choice.method).cloned().ok_or_else(|| {
        ApiError::new(
            ErrorCode::MethodNotOffered,
            format!(
                "{} is not offered for this order on {}",
                choice.method.code(),
                choice.terminal.code()
            ),
        )
    })
}

/// Starts paying `order` with the buyer's choice: routes it through the active rules,
/// closes any open attempt first, records the attempt, then creates it at the provider.
pub async fn pay(
    state: &AppState,
    order: &PayOrder,
    business_line: Option<&str>,
    choice: &PayChoice,
) -> Result<Started, ApiError> {
    let now = now_ms();
    let offered = offered_now(state, order, business_line, choice, now)?;
    if choice.method == Method::Balance {
        return Err(ApiError::new(
            ErrorCode::MethodNotOffered,
            "BALANCE is paid without a provider (see pay_by_balance)",
        ));
    }
    let route = offered.route.clone().ok_or_else(|| {
        ApiError::new(
            ErrorCode::MethodNotOffered,
            format!("{} cannot be paid through a provider", choice.method.code()),
        )
    })?;
    let installments = match (
        &offered.params.installment_periods,
        choice.installment_periods,
    ) {
        (Some(allowed), Some(p)) if allowed.contains(&p) => Some(Installments {
            periods: u8::try_from(p).unwrap_or(u8::MAX),
            seller_fee_percent: 0,
        }),
        (Some(allowed), Some(p)) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                format!("installment_periods {p} is not one of {allowed:?}"),
            ))
        }
        (Some(_), None) => {
            return Err(ApiError::new(
                ErrorCode::InvalidRequest,
                "installment_periods is required for this method",
            ))
        }
        (None, _) => None,
    };
    let account = state
        .accounts()
        .get(&route.merchant_account)
        .ok_or_else(|| FlowError::NoAccount(route.merchant_account.to_string()))?;
    let product = provider_product(route.product);

    // At the limit already: refuse before closing anything, so a refused choice never
    // takes away the buyer's open attempt (the store checks again when creating).
    let existing = state.store.attempts_for_pay_order(&order.id).await?;
    if i64::try_from(existing.len()).unwrap_or(i64::MAX)
        >= state.config.payments.max_attempts_per_order
    {
        return Err(too_many_attempts());
    }
    // Another method chosen earlier: close it at its provider first, whichever it is.
    for open in existing.into_iter().filter(|a| a.status.is_open()) {
        close_attempt(state, &open).await.map_err(ApiError::from)?;
    }
    // The balance part: held for COMBINED (the provider is asked for the rest), given
    // back if an earlier COMBINED choice held one and the buyer now pays otherwise.
    let balance_part = if choice.method == Method::Combined {
        Some(hold_for_combined(state, order, choice.balance_minor, now).await?)
    } else {
        state.store.release_balance_part(&order.id, now).await?;
        None
    };
    let provider_minor =
        order.amount.minor() - balance_part.as_ref().map_or(0, |p| p.amount.minor());
    let provider_amount = paydesk_core::Amount::new(provider_minor, order.currency())
        .map_err(|e| ApiError::new(ErrorCode::InternalError, e.to_string()))?;

    // The schedule's first delay (`delay_after_failures_ms(0)` is always `None`).
    let first_query = state
        .query_schedule
        .delays_ms()
        .first()
        .copied()
        .unwrap_or(5_000);
    let new = NewAttempt {
        id: ids::new_id(ids::ATTEMPT),
        pay_order_id: order.id.clone(),
        attempt_no: ids::provider_no(),
        merchant_account: account.id.clone(),
        provider: account.provider,
        method: choice.method.code().to_owned(),
        product: route_product_code(route.product).to_owned(),
        amount: provider_amount,
        created_at_ms: now,
        next_query_at_ms: now.saturating_add(ms_i64(first_query)),
    };
    let created = state
        .store
        .create_attempt(&new, state.config.payments.max_attempts_per_order)
        .await;
    if balance_part.is_some() && !matches!(created, Ok(CreateAttemptOutcome::Created(_))) {
        // No provider part follows this hold from here: give it back now (the store keeps
        // it if a concurrent request's attempt for the rest is open).
        state
            .store
            .release_balance_part(&order.id, now_ms())
            .await?;
    }
    let created = created?;
    let attempt = match created {
        CreateAttemptOutcome::Created(a) => a,
        CreateAttemptOutcome::OrderNotPayable(o) => {
            return Err(o
                .map(|o| not_payable(&o))
                .unwrap_or_else(|| ApiError::not_found("pay order")))
        }
        CreateAttemptOutcome::TooManyAttempts => return Err(too_many_attempts()),
        CreateAttemptOutcome::OpenAttemptExists(_) => {
            return Err(ApiError::new(
                ErrorCode::InvalidState,
                "another payment of this order is being started; try again",
            ))
        }
    };
    metrics::counter!("paydesk_attempts_created_total", "provider" => account.provider.as_str())
        .increment(1);

    let expires_at =
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(order.expire_at_ms) * 1_000_000)
            .map_err(|_| ApiError::new(ErrorCode::InternalError, "order expiry out of range"))?;
    let req = CreatePayment {
        attempt_no: attempt.attempt_no.clone(),
        amount: attempt.amount,
        subject: truncate_chars(&order.subject, 127),
        product,
        payer_id: choice.payer_id.clone(),
        expires_at,
        notify_url: notify_url(state, &account),
        return_url: Some(format!(
            "{}/checkout/{}?terminal={}",
            state.public_url,
            order.checkout_token,
            choice.terminal.code()
        )),
        client_ip: choice.client_ip.clone(),
        passback: None,
        method_params: MethodParams {
            installments,
            no_credit: !offered.params.allow_credit_card,
        },
    };
    match account.client.create_payment(&req).await {
        Ok(action) => {
            let update = AttemptUpdate {
                from: AttemptStatus::Creating,
                to: AttemptStatus::Pending,
                provider_txn_id: None,
                next_query_at_ms: Some(new.next_query_at_ms),
                now_ms: now_ms(),
            };
            let attempt = match state.store.update_attempt(&attempt.id, &update).await? {
                Transition::Applied(a) => a,
                // A callback or query got there first (already paid or closed): the action
                // is still what the buyer was shown; the state is the store's.
                Transition::Refused(Some(a)) => a,
                Transition::Refused(None) => attempt,
            };
            Ok(Started {
                attempt,
                action,
                balance_part,
            })
        }
        Err(e) if e.is_outcome_unknown() => {
            // The provider may have created it: leave it CREATING; the active query decides.
            tracing::warn!(attempt_no = %attempt.attempt_no, error = %e, "create outcome unknown");
            Err(FlowError::Provider(e).into())
        }
        Err(e) => {
            tracing::warn!(attempt_no = %attempt.attempt_no, error = %e, "provider refused the payment");
            let update = AttemptUpdate {
                from: AttemptStatus::Creating,
                to: AttemptStatus::Failed,
                provider_txn_id: None,
                next_query_at_ms: None,
                now_ms: now_ms(),
            };
            state.store.update_attempt(&attempt.id, &update).await?;
            if balance_part.is_some() {
                // The provider part cannot go ahead: the balance goes back now.
                state
                    .store
                    .release_balance_part(&order.id, now_ms())
                    .await?;
            }
            Err(ApiError::new(
                ErrorCode::ProviderUnavailable,
                format!(
                    "the provider refused the payment{}",
                    e.provider_code()
                        .map(|c| format!(" ({c})"))
                        .unwrap_or_default()
                ),
            ))
        }
    }
}

/// Holds the balance part of a `COMBINED` payment: `wanted_minor`, or as much as the
/// buyer's available balance covers while leaving the provider at least one minor unit.
async fn hold_for_combined(
    state: &AppState,
    order: &PayOrder,
    wanted_minor: Option<i64>,
    now: i64,
) -> Result<BalancePart, ApiError> {
    if !has_balance_owner(order) {
        return Err(ApiError::new(
            ErrorCode::MethodNotOffered,
            "COMBINED needs the order's buyer_id (whose balance pays part) to be a ledger \
             owner id: 1-64 printable ASCII characters without spaces",
        ));
    }
    let most_minor = order.amount.minor() - 1;
    let amount_minor = match wanted_minor {
        Some(b) if (1..=most_minor).contains(&b) => b,
        Some(_) => {
            return Err(ApiError::invalid(format!(
                "balance_minor must be 1 to {most_minor}"
            )))
        }
        None => {
            let available = spendable_minor(state, order).await?;
            if available <= 0 {
                return Err(insufficient(available.max(0)));
            }
            available.min(most_minor)
        }
    };
    let hold = HoldBalance {
        pay_order_id: order.id.clone(),
        amount_minor,
        now_ms: now,
    };
    match state.store.hold_balance_part(&hold).await? {
        HoldOutcome::Held(part) => Ok(part),
        HoldOutcome::Insufficient { available_minor } => Err(insufficient(available_minor)),
        HoldOutcome::NotPayable(o) => Err(o
            .map(|o| not_payable(&o))
            .unwrap_or_else(|| ApiError::not_found("pay order"))),
    }
}

/// Whether the order names a buyer whose balance can pay (an id the ledger accepts).
fn has_balance_owner(order: &PayOrder) -> bool {
    order
        .buyer_id
        .as_deref()
        .is_some_and(|b| AccountRef::user(b, order.currency()).is_ok())
}

/// What the order's buyer can put towards it from the balance: the available balance plus
/// what is already held for this very order (a buyer coming back to `COMBINED` reuses or
/// resizes that hold). 0 without a buyer.
pub async fn spendable_minor(state: &AppState, order: &PayOrder) -> Result<i64, ApiError> {
    let Some(buyer) = order.buyer_id.as_deref() else {
        return Ok(0);
    };
    let Ok(user) = AccountRef::user(buyer, order.currency()) else {
        return Ok(0);
    };
    let available = state.store.ledger().balance(&user).await?.max(0);
    let held_here = match state.store.balance_part(&order.id).await? {
        Some(p) if p.status == paydesk_core::BalancePartStatus::Held => p.amount.minor(),
        _ => 0,
    };
    Ok(available.saturating_add(held_here))
}

fn insufficient(available_minor: i64) -> ApiError {
    ApiError::new(
        ErrorCode::InsufficientBalance,
        format!(
            "the buyer's available balance ({available_minor}) does not cover the balance part"
        ),
    )
}

/// Pays `order` wholly from its buyer's balance (`BALANCE`), if the rules offer it on
/// the buyer's terminal: open provider attempts are closed first, then the store holds,
/// captures and marks the order `PAID` in one transaction.
pub async fn pay_by_balance(
    state: &AppState,
    order: &PayOrder,
    business_line: Option<&str>,
    choice: &PayChoice,
) -> Result<PayOrder, ApiError> {
    offered_now(state, order, business_line, choice, now_ms())?;
    if !has_balance_owner(order) {
        return Err(ApiError::new(
            ErrorCode::MethodNotOffered,
            "BALANCE needs the order's buyer_id (whose balance pays) to be a ledger owner \
             id: 1-64 printable ASCII characters without spaces",
        ));
    }
    close_open_attempts(state, &order.id).await?;
    let now = now_ms();
    let paid_after = events::paid(order, now, now);
    let payment = BalancePayment {
        pay_order_id: order.id.clone(),
        now_ms: now,
        paid_event: events::pay_order_event(
            EventType::PayOrderPaid,
            &paid_after,
            &state.public_url,
            now,
        ),
    };
    match state.store.pay_with_balance(&payment).await? {
        BalancePaymentOutcome::Paid { order, part } => {
            state.outbox_wake.notify_one();
            metrics::counter!("paydesk_pay_orders_paid_total", "provider" => "balance")
                .increment(1);
            tracing::info!(pay_order_id = %order.id, amount_minor = part.amount.minor(), "pay order paid from the balance");
            Ok(*order)
        }
        BalancePaymentOutcome::Insufficient { available_minor } => {
            Err(insufficient(available_minor))
        }
        BalancePaymentOutcome::NotPayable(o) => Err(o
            .map(|o| not_payable(&o))
            .unwrap_or_else(|| ApiError::not_found("pay order"))),
    }
}

fn too_many_attempts() -> ApiError {
    ApiError::new(
        ErrorCode::TooManyAttempts,
        "this order has reached its limit of payment attempts",
    )
}

fn route_product_code(p: paydesk_rules::Product) -> &'static str {
    match p {
        paydesk_rules::Product::App => "APP",
        paydesk_rules::Product::Jsapi => "JSAPI",
        paydesk_rules::Product::H5 => "H5",
        paydesk_rules::Product::Wap => "WAP",
        paydesk_rules::Product::Native => "NATIVE",
        paydesk_rules::Product::Page => "PAGE",
    }
}

fn not_payable(order: &PayOrder) -> ApiError {
    let why = match order.status {
        PayOrderStatus::Paid => "already paid",
        PayOrderStatus::Closed => "closed",
        PayOrderStatus::Waiting => "expired",
    };
    ApiError::new(
        ErrorCode::OrderNotPayable,
        format!("this order cannot be paid: {why}"),
    )
}

fn truncate_chars(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn ms_i64(ms: u64) -> i64 {
    i64::try_from(ms).unwrap_or(i64::MAX)
}

/// The account an attempt was made at.
pub fn account_of(state: &AppState, attempt: &Attempt) -> Result<Arc<Account>, FlowError> {
    state
        .accounts()
        .get(&attempt.merchant_account)
        .ok_or_else(|| FlowError::NoAccount(attempt.merchant_account.clone()))
}

/// Checks that a report is about this attempt, at this merchant, for this app.
fn check_report(
    account: &Account,
    attempt: &Attempt,
    status: &PaymentStatus,
) -> Result<(), FlowError> {
    if status.attempt_no != attempt.attempt_no {
        return Err(FlowError::Mismatch(format!(
            "attempt number `{}` is not `{}`",
            status.attempt_no, attempt.attempt_no
        )));
    }
    if let Some(m) = &status.merchant_id {
        if *m != account.merchant_id {
            return Err(FlowError::Mismatch(format!("merchant `{m}`")));
        }
    }
    if let Some(a) = &status.app_id {
        if *a != account.app_id {
            return Err(FlowError::Mismatch(format!("app `{a}`")));
        }
    }
    if let Some(amount) = status.amount {
        if amount.currency() != attempt.amount.currency() {
            return Err(FlowError::Mismatch(format!(
                "currency {}",
                amount.currency()
            )));
        }
    }
    Ok(())
}

/// What applying a report did, for callers that answer someone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The order is now paid by this attempt.
    Paid,
    /// Already recorded; nothing changed.
    AlreadyRecorded,
    /// Succeeded but not the order's payment; refunded (or held).
    NotTheOrdersPayment,
    /// The attempt is closed or failed at the provider.
    Ended,
    /// Still open.
    StillOpen,
}

/// Applies a verified (or queried) provider report to an attempt.
pub async fn apply_report(
    state: &AppState,
    account: &Account,
    attempt: &Attempt,
    status: &PaymentStatus,
) -> Result<Applied, FlowError> {
    check_report(account, attempt, status)?;
    let now = now_ms();
    match status.state {
        PaymentState::Succeeded | PaymentState::Refunded => {
            let Some(amount) = status.amount else {
                return Err(FlowError::Mismatch("a success without an amount".into()));
            };
            record_success(state, attempt, status, amount.minor(), now).await
        }
        PaymentState::Closed | PaymentState::Failed => {
            let to = if status.state == PaymentState::Closed {
                AttemptStatus::Closed
            } else {
                AttemptStatus::Failed
            };
            if attempt.status == to || !attempt.status.can_transition(to) {
                return Ok(Applied::Ended);
            }
            // A failed payment can still be retried by the buyer at the same provider
            // order (WeChat PAYERROR): one more look when the order expires.
            let next = if to == AttemptStatus::Failed {
                let expiry = state
                    .store
                    .pay_order(&attempt.pay_order_id)
                    .await?
                    .map_or(now, |o| o.expire_at_ms);
                Some(expiry.max(now.saturating_add(60_000)))
            } else {
                None
            };
            let update = AttemptUpdate {
                from: attempt.status,
                to,
                provider_txn_id: status.provider_txn_id.clone(),
                next_query_at_ms: next,
                now_ms: now,
            };
            let applied = state.store.update_attempt(&attempt.id, &update).await?;
            // Closed: nothing can be paid on it any more. A failure (WeChat PAYERROR) can
            // still be paid again by the buyer, so its hold stays until the order closes.
            if to == AttemptStatus::Closed && matches!(applied, Transition::Applied(_)) {
                release_if_abandoned(state, attempt, now).await?;
            }
            Ok(Applied::Ended)
        }
        PaymentState::NotPaid | PaymentState::Paying => {
            if attempt.status == AttemptStatus::Creating {
                let update = AttemptUpdate {
                    from: AttemptStatus::Creating,
                    to: AttemptStatus::Pending,
                    provider_txn_id: status.provider_txn_id.clone(),
                    next_query_at_ms: attempt.next_query_at_ms,
                    now_ms: now,
                };
                state.store.update_attempt(&attempt.id, &update).await?;
            }
            Ok(Applied::StillOpen)
        }
    }
}

/// A `COMBINED` attempt closed without paying: its balance part goes back to the buyer,
/// unless another attempt of the order is open (the buyer chose again and that attempt's
/// hold is the part now; the store checks again under the order's lock). A late success
/// of the closed attempt then finds no hold and is refunded.
async fn release_if_abandoned(
    state: &AppState,
    attempt: &Attempt,
    now: i64,
) -> Result<(), FlowError> {
    if attempt.method != Method::Combined.code() {
        return Ok(());
    }
    let others_open = state
        .store
        .attempts_for_pay_order(&attempt.pay_order_id)
        .await?
        .iter()
        .any(|a| a.id != attempt.id && a.status.is_open());
    if !others_open {
        state
            .store
            .release_balance_part(&attempt.pay_order_id, now)
            .await?;
    }
    Ok(())
}

async fn record_success(
    state: &AppState,
    attempt: &Attempt,
    status: &PaymentStatus,
    paid_minor: i64,
    now: i64,
) -> Result<Applied, FlowError> {
    if attempt.status == AttemptStatus::Succeeded {
        return Ok(Applied::AlreadyRecorded);
    }
    let Some(order) = state.store.pay_order(&attempt.pay_order_id).await? else {
        return Err(FlowError::Mismatch(format!(
            "attempt {} has no order",
            attempt.attempt_no
        )));
    };
    let paid_at = status
        .paid_at
        .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(now))
        .unwrap_or(now);
    let paid_after = events::paid(&order, paid_at, now);
    let success = PaymentSuccess {
        attempt_id: attempt.id.clone(),
        provider_txn_id: status.provider_txn_id.clone(),
        paid_amount_minor: paid_minor,
        paid_at_ms: paid_at,
        now_ms: now,
        paid_event: events::pay_order_event(
            EventType::PayOrderPaid,
            &paid_after,
            &state.public_url,
            now,
        ),
        auto_refund: NewRefund {
            id: ids::new_id(ids::REFUND),
            pay_order_id: order.id.clone(),
            attempt_id: attempt.id.clone(),
            refund_no: ids::provider_no(),
            business_refund_no: None,
            // The store sets the kind from what it finds.
            kind: RefundKind::Duplicate,
            amount: paydesk_core::Amount::new(paid_minor, attempt.amount.currency())
                .map_err(|e| FlowError::Mismatch(format!("reported amount: {e}")))?,
            reason: Some("payment not taken by the order; returned automatically".into()),
            created_at_ms: now,
            funds: paydesk_core::RefundFunds::default(),
        },
        hold_amount_mismatch: state.config.payments.hold_amount_mismatch,
    };
    match state.store.record_payment_success(&success).await? {
        PaymentOutcome::Paid { order, attempt } => {
            state.outbox_wake.notify_one();
            metrics::counter!("paydesk_pay_orders_paid_total", "provider" => attempt.provider.as_str())
                .increment(1);
            tracing::info!(pay_order_id = %order.id, attempt_no = %attempt.attempt_no, "pay order paid");
            Ok(Applied::Paid)
        }
        PaymentOutcome::AlreadyRecorded(_) => Ok(Applied::AlreadyRecorded),
        PaymentOutcome::NotTheOrdersPayment { attempt, refund } => {
            let flag = attempt.flag.map(|f| f.as_str()).unwrap_or("NONE");
            metrics::counter!("paydesk_payments_not_taken_total", "flag" => flag).increment(1);
            if flag == "AMOUNT_MISMATCH" {
                tracing::error!(
                    pay_order_id = %attempt.pay_order_id,
                    attempt_no = %attempt.attempt_no,
                    expected_minor = attempt.amount.minor(),
                    reported_minor = paid_minor,
                    held = refund.is_none(),
                    "payment amount differs from the attempt's: not the order's payment"
                );
            } else {
                tracing::warn!(
                    pay_order_id = %attempt.pay_order_id,
                    attempt_no = %attempt.attempt_no,
                    flag,
                    "payment is not the order's payment: refunding it"
                );
            }
            if let Some(r) = refund {
                refunds::kick(state, &r.id);
            }
            Ok(Applied::NotTheOrdersPayment)
        }
        PaymentOutcome::UnknownAttempt => Err(FlowError::Mismatch(format!(
            "attempt {} vanished",
            attempt.attempt_no
        ))),
    }
}

/// Queries an attempt at its provider and applies the answer.
pub async fn query_and_apply(state: &AppState, attempt: &Attempt) -> Result<Applied, FlowError> {
    let account = account_of(state, attempt)?;
    let status = account
        .client
        .query_payment(&PaymentRef::AttemptNo(attempt.attempt_no.clone()))
        .await?;
    apply_report(state, &account, attempt, &status).await
}

/// Closes an open attempt at its provider (so the buyer can no longer pay it) and locally.
/// If the provider says it was paid, records the payment instead (`Applied::Paid` or a
/// refunded duplicate). An unknown outcome is an error: nothing is concluded.
pub async fn close_attempt(state: &AppState, attempt: &Attempt) -> Result<Applied, FlowError> {
    let account = account_of(state, attempt)?;
    match account.client.close_payment(&attempt.attempt_no).await {
        Ok(()) => {}
        Err(ProviderError::NotFound { .. }) => {
            // Never reached the provider (or an Alipay page trade the buyer never opened):
            // closed here; a payment that still lands later is refunded as late.
        }
        Err(e) if e.is_outcome_unknown() => return Err(e.into()),
        Err(_) => {
            // Refused (already paid, already closed...): ask what it is.
            let status = account
                .client
                .query_payment(&PaymentRef::AttemptNo(attempt.attempt_no.clone()))
                .await?;
            let applied = apply_report(state, &account, attempt, &status).await?;
            if applied != Applied::StillOpen {
                return Ok(applied);
            }
            return Err(FlowError::Mismatch(format!(
                "provider refused to close {} but reports it open",
                attempt.attempt_no
            )));
        }
    }
    let mut from = attempt.status;
    for _ in 0..MAX_CLOSE_ROUNDS {
        let now = now_ms();
        let update = AttemptUpdate {
            from,
            to: AttemptStatus::Closed,
            provider_txn_id: None,
            // One last look later: a payment that raced the close is real money.
            next_query_at_ms: Some(now.saturating_add(LAST_LOOK_AFTER_CLOSE_MS)),
            now_ms: now,
        };
        match state.store.update_attempt(&attempt.id, &update).await? {
            Transition::Applied(_) => return Ok(Applied::Ended),
            // Moved on but still open (its creator took it CREATING -> PENDING while we
            // closed it): it is closed at the provider all the same, so close it here too,
            // or the order would keep an open attempt nobody can pay.
            Transition::Refused(Some(current))
                if current.status.is_open() && current.status != from =>
            {
                from = current.status;
            }
            // Changed meanwhile (a callback recorded a success): the store's word stands.
            Transition::Refused(_) => return Ok(Applied::Ended),
        }
    }
    Ok(Applied::Ended)
}

/// Closes every open attempt of an order at its provider (see [`close_attempt`]).
async fn close_open_attempts(state: &AppState, pay_order_id: &str) -> Result<(), FlowError> {
    for open in state
        .store
        .attempts_for_pay_order(pay_order_id)
        .await?
        .into_iter()
        .filter(|a| a.status.is_open())
    {
        close_attempt(state, &open).await?;
    }
    Ok(())
}

/// Closes a `WAITING` order: its open attempts at their providers first, then the order
/// with its `pay_order.closed` event. Returns the order as it ends up (`PAID` if a
/// provider reported a payment while closing).
pub async fn close_order(state: &AppState, order: &PayOrder) -> Result<PayOrder, FlowError> {
    let mut current = order.clone();
    for _ in 0..MAX_CLOSE_ROUNDS {
        if current.status != PayOrderStatus::Waiting {
            return Ok(current);
        }
        close_open_attempts(state, &current.id).await?;
        let now = now_ms();
        let event = events::pay_order_event(
            EventType::PayOrderClosed,
            &events::closed(&current, now),
            &state.public_url,
            now,
        );
        match state
            .store
            .close_pay_order(&current.id, now, &event)
            .await?
        {
            Transition::Applied(closed) => {
                state.outbox_wake.notify_one();
                return Ok(closed);
            }
            Transition::Refused(Some(o)) => current = o,
            Transition::Refused(None) => {
                return Err(FlowError::Mismatch(format!("order {} vanished", order.id)))
            }
        }
    }
    Ok(current)
}
