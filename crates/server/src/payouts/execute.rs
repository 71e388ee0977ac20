//! One step of a payout at its provider, and recording the answer.
//!
//! The rules that keep a payout from paying twice:
//! * `ACCEPTED -> PROCESSING` is written (conditionally) *before* the first transfer call,
//!   so a crash or a timeout mid-call leaves a `PROCESSING` payout that is queried, never
//!   sent again under a new number; the payout number (`out_bill_no` / `out_biz_no`) is the
//!   same on every call, so the provider itself deduplicates a re-send;
//! * in `PROCESSING` the provider is queried first; only when it says it does not know the
//!   number is the transfer sent again (same number). A refused transfer is failed only
//!   once a query confirms the provider has no such transfer;
//! * a timeout, a 5xx or an unverifiable answer changes nothing but the next query time;
//! * every end posts its ledger entry (withdrawal: debit or release of the hold; payout:
//!   charge of the funding account) and writes its event in the transaction that changes
//!   the state, guarded by the state and version read, so an end is recorded once.

use crate::events;
use crate::payments::accounts::Account;
use crate::payments::flow::notify_url;
use crate::state::AppState;
use crate::time::now_ms;
use paydesk_core::ledger::{movements, AccountRef, EntryKind};
use paydesk_core::payout::ledger_effect;
use paydesk_core::transition::StateMachine;
use paydesk_core::{ids, EventType, PayoutStatus, Provider, TransferAnswer};
use paydesk_providers::model::{Payee, TransferRequest, TransferState, TransferStatus};
use paydesk_providers::ProviderError;
use paydesk_store::{NewJournalEntry, Payout, PayoutUpdate, StoreError, Transition};
use std::sync::Arc;

/// Provider codes that mean "not now, send again later with the same number".
const RETRY_LATER_CODES: &[&str] = &[
    // WeChat Pay
    "FREQUENCY_LIMITED",
    "SYSTEM_ERROR",
    "NOT_ENOUGH",
    // Alipay
    "SYSTEM_ERROR",
    "PAYER_BALANCE_NOT_ENOUGH",
    "BALANCE_IS_NOT_ENOUGH",
    "isp.unknow-error",
];

/// Longest text kept from a provider error (`last_error`, `failure_message`).
const MAX_ERROR_CHARS: usize = 500;

/// Why a payout step could not run.
#[derive(Debug, thiserror::Error)]
pub enum PayoutError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored payout that cannot be acted on (its funding account is missing, an entry
    /// cannot be built): an operator must look.
    #[error("payout {0}")]
    Broken(String),
}

/// Why a cancellation was refused.
#[derive(Debug)]
pub enum CancelRefused {
    /// The payout is past the point where it can be cancelled (sent and not waiting for
    /// the user, or final); carries it as it is.
    TooLate(Box<Payout>),
    /// The step failed.
    Error(PayoutError),
}

impl From<PayoutError> for CancelRefused {
    fn from(e: PayoutError) -> Self {
        CancelRefused::Error(e)
    }
}

impl From<StoreError> for CancelRefused {
    fn from(e: StoreError) -> Self {
        CancelRefused::Error(PayoutError::Store(e))
    }
}

/// Wakes the payout worker for a payout just recorded.
pub fn kick(state: &AppState) {
    state.payouts_wake.notify_one();
}

/// What one provider call told us.
enum Heard {
    /// A verified answer about our number.
    Status(TransferStatus),
    /// The provider refused the transfer request itself (a verified business error):
    /// remembered, and confirmed by a query before the payout fails.
    Refused { code: String, message: String },
    /// A query after such a refusal: the provider has no transfer with our number. Safe to
    /// fail: nothing was (or can be) paid under it.
    ConfirmedRefused,
    /// No usable answer: timeout, 5xx, unverifiable, unreachable, a retry-later code, a
    /// refused cancel or query.
    Unknown(String),
}

fn short(text: &str) -> String {
    text.chars().take(MAX_ERROR_CHARS).collect()
}

/// The lease a step takes on a payout (its next action is pushed this far while the
/// provider call is in flight), longer than any call can take.
fn lease_ms(state: &AppState) -> i64 {
    i64::try_from(state.config.payments.provider_timeout_ms)
        .unwrap_or(i64::MAX / 4)
        .saturating_add(30_000)
}

/// Delay before the next query after `tries` provider calls: the schedule, its last delay
/// repeating.
fn query_delay_ms(state: &AppState, tries: i64) -> i64 {
    let delays = state.payout_query_schedule.delays_ms();
    let idx = usize::try_from(tries.saturating_sub(1))
        .unwrap_or(0)
        .min(delays.len().saturating_sub(1));
    delays
        .get(idx)
        .and_then(|d| i64::try_from(*d).ok())
        .unwrap_or(1_000)
}

/// When an unconfirmed transfer is cancelled.
fn confirm_deadline_ms(state: &AppState, p: &Payout) -> i64 {
    p.created_at_ms.saturating_add(
        i64::try_from(state.config.payouts.confirm_timeout_ms).unwrap_or(i64::MAX / 4),
    )
}

fn account_of(state: &AppState, p: &Payout) -> Option<Arc<Account>> {
    state
        .accounts()
        .get(&p.merchant_account)
        .filter(|a| a.provider == p.provider)
}

/// The provider's payee for a recipient: an openid at WeChat; at Alipay a user id
/// (`2088` + 12 digits) or else a login name.
pub fn payee(provider: Provider, recipient: &str) -> Payee {
    match provider {
        Provider::Wechatpay => Payee::WechatOpenId(recipient.to_owned()),
        Provider::Alipay if is_alipay_user_id(recipient) => {
            Payee::AlipayUserId(recipient.to_owned())
        }
        Provider::Alipay => Payee::AlipayLogin(recipient.to_owned()),
    }
}

/// Whether `s` is an Alipay user id (`2088` and 12 more digits).
pub fn is_alipay_user_id(s: &str) -> bool {
    s.len() == 16 && s.starts_with("2088") && s.bytes().all(|b| b.is_ascii_digit())
}

async fn funding_of(state: &AppState, p: &Payout) -> Result<AccountRef, PayoutError> {
    state
        .store
        .ledger()
        .account(&p.funding_account_id)
        .await?
        .map(|a| a.account)
        .ok_or_else(|| PayoutError::Broken(format!("{} has no funding account", p.id)))
}

/// A reschedule of `p` (same state) guarded by its version.
fn same_state(p: &Payout, now: i64, next_action_at_ms: Option<i64>) -> PayoutUpdate {
    PayoutUpdate {
        from: p.status,
        expected_version: p.version,
        status: p.status,
        provider_transfer_id: None,
        package_info: None,
        failure_code: None,
        failure_message: None,
        count_try: false,
        next_action_at_ms,
        last_error: None,
        now_ms: now,
        event: None,
    }
}

/// Takes the payout for one provider call: `ACCEPTED -> PROCESSING` (the mark before the
/// first transfer call) or a reschedule past the call, counting the try. `None` when
/// someone else moved it first (their step decides).
async fn claim(state: &AppState, p: &Payout, now: i64) -> Result<Option<Payout>, PayoutError> {
    let mut u = same_state(p, now, Some(now.saturating_add(lease_ms(state))));
    if p.status == PayoutStatus::Accepted {
        u.status = PayoutStatus::Processing;
    }
    u.count_try = true;
    match state.store.ledger().update_payout(&p.id, &u, None).await? {
        Transition::Applied(after) => Ok(Some(after)),
        Transition::Refused(_) => Ok(None),
    }
}

/// One step of an open payout: send it (`ACCEPTED`), query it and re-send it with the
/// same number if the provider does not know it (`PROCESSING`), query it and cancel it
/// past the confirmation deadline (`WAIT_USER_CONFIRM`); then record the answer. Returns
/// the payout as it is afterwards.
pub async fn step(state: &AppState, payout: &Payout) -> Result<Payout, PayoutError> {
    step_bounded(state, payout, true).await
}

/// An operator's retry of a payout in flight (`PROCESSING` or `WAIT_USER_CONFIRM`): one
/// step now, past the worker's bound on tries. It queries with the payout's own number
/// first and re-sends only that number, exactly like the worker; it never creates a
/// new number. `None` when the payout is in no state to retry.
pub async fn retry(state: &AppState, payout: &Payout) -> Result<Option<Payout>, PayoutError> {
    if !matches!(
        payout.status,
        PayoutStatus::Processing | PayoutStatus::WaitUserConfirm
    ) {
        return Ok(None);
    }
    step_bounded(state, payout, false).await.map(Some)
}

async fn step_bounded(
    state: &AppState,
    payout: &Payout,
    bounded: bool,
) -> Result<Payout, PayoutError> {
    if payout.status.is_terminal() {
        return Ok(payout.clone());
    }
    let now = now_ms();
    let ledger = state.store.ledger();
    if bounded && payout.tries >= state.config.payouts.max_tries {
        // Bounded: stop calling; the payout stays open (the money may be moving) until an
        // operator looks and retries it.
        let mut u = same_state(payout, now, None);
        u.last_error = Some(format!(
            "gave up after {} provider calls: an operator must check it at the provider and retry",
            payout.tries
        ));
        tracing::error!(payout_id = %payout.id, tries = payout.tries, "payout needs an operator");
        return Ok(match ledger.update_payout(&payout.id, &u, None).await? {
            Transition::Applied(p) | Transition::Refused(Some(p)) => p,
            Transition::Refused(None) => payout.clone(),
        });
    }
    let Some(account) = account_of(state, payout) else {
        let mut u = same_state(
            payout,
            now,
            Some(now.saturating_add(query_delay_ms(state, payout.tries.max(1)))),
        );
        u.last_error = Some(format!(
            "merchant account `{}` is not configured on this instance",
            payout.merchant_account
        ));
        tracing::warn!(payout_id = %payout.id, account = %payout.merchant_account, "payout account missing");
        return Ok(match ledger.update_payout(&payout.id, &u, None).await? {
            Transition::Applied(p) | Transition::Refused(Some(p)) => p,
            Transition::Refused(None) => payout.clone(),
        });
    };
    let Some(p) = claim(state, payout, now).await? else {
        return Ok(ledger
            .payout(&payout.id)
            .await?
            .unwrap_or_else(|| payout.clone()));
    };
    let heard = match payout.status {
        PayoutStatus::Accepted => send(state, &account, &p).await,
        PayoutStatus::Processing => match query(&account, &p).await {
            // Never heard of: the create never arrived (send again, same number), or it
            // was refused (then the refusal stands).
            None if p.failure_code.is_some() => Heard::ConfirmedRefused,
            None => send(state, &account, &p).await,
            Some(h) => h,
        },
        PayoutStatus::WaitUserConfirm => match query(&account, &p).await {
            Some(Heard::Status(s))
                if s.state == TransferState::WaitingUserConfirm
                    && now >= confirm_deadline_ms(state, &p) =>
            {
                tracing::info!(payout_id = %p.id, "unconfirmed transfer past its deadline: cancelling");
                cancel_at_provider(&account, &p).await
            }
            Some(h) => h,
            None => Heard::Unknown(
                "the provider does not know a transfer waiting for confirmation".into(),
            ),
        },
        _ => return Ok(p),
    };
    record(state, &p, heard).await
}

/// Sends the transfer under the payout's own number.
async fn send(state: &AppState, account: &Account, p: &Payout) -> Heard {
    let cfg = &state.config.payouts;
    let req = TransferRequest {
        payout_no: p.payout_no.clone(),
        amount: p.amount,
        payee: payee(p.provider, &p.recipient),
        payee_name: p.recipient_name.clone(),
        remark: p.remark.clone(),
        notify_url: (p.provider == Provider::Wechatpay).then(|| notify_url(state, account)),
        scene_id: Some(cfg.wechat_transfer_scene_id.clone()),
        scene_details: vec![
            ("活动名称".into(), cfg.wechat_activity_name.clone()),
            ("奖励说明".into(), p.remark.clone()),
        ],
    };
    metrics::counter!("paydesk_payout_transfers_sent_total", "provider" => p.provider.as_str())
        .increment(1);
    match account.client.transfer(&req).await {
        Ok(s) => Heard::Status(s),
        Err(e) => from_error(&e, true),
    }
}

/// Queries the transfer; `None` when the provider does not know the number.
async fn query(account: &Account, p: &Payout) -> Option<Heard> {
    match account.client.query_transfer(&p.payout_no).await {
        Ok(s) => Some(Heard::Status(s)),
        Err(ProviderError::NotFound { .. }) => None,
        Err(e) => Some(from_error(&e, false)),
    }
}

async fn cancel_at_provider(account: &Account, p: &Payout) -> Heard {
    match account.client.cancel_transfer(&p.payout_no).await {
        Ok(s) => Heard::Status(s),
        // A refused cancel (the user confirmed just now, say) proves nothing: query.
        Err(e) => Heard::Unknown(short(&format!("cancel: {e}"))),
    }
}

fn from_error(e: &ProviderError, is_transfer: bool) -> Heard {
    let code = e.provider_code().map(str::to_owned);
    let retry_later = e.is_outcome_unknown()
        || matches!(e, ProviderError::Unreachable { .. })
        || code
            .as_deref()
            .is_some_and(|c| RETRY_LATER_CODES.contains(&c));
    match (e, code) {
        (ProviderError::Rejected { message, .. }, Some(code)) if is_transfer && !retry_later => {
            Heard::Refused {
                code,
                message: short(message),
            }
        }
        _ => Heard::Unknown(short(&e.to_string())),
    }
}

fn answer_of(state: TransferState) -> TransferAnswer {
    match state {
        TransferState::Processing => TransferAnswer::InFlight,
        TransferState::WaitingUserConfirm => TransferAnswer::WaitUserConfirm,
        TransferState::Succeeded => TransferAnswer::Succeeded,
        TransferState::Failed => TransferAnswer::Failed,
        // Being cancelled: the money has not moved and may not; ask again.
        TransferState::Cancelling => TransferAnswer::Unknown,
        TransferState::Cancelled => TransferAnswer::Cancelled,
    }
}

/// Records what the provider said about `p` (as claimed): a move with its entry and
/// event, or a reschedule.
async fn record(state: &AppState, p: &Payout, heard: Heard) -> Result<Payout, PayoutError> {
    let now = now_ms();
    let next_query = now.saturating_add(query_delay_ms(state, p.tries));
    let mut u = same_state(p, now, Some(next_query));
    match heard {
        Heard::Status(s) => apply_status(p, &s, &mut u),
        Heard::Refused { code, message } => {
            tracing::warn!(payout_id = %p.id, %code, "transfer refused by the provider; confirming by query");
            u.failure_code = Some(code.clone());
            u.failure_message = Some(message.clone());
            u.last_error = Some(format!("refused: {code}: {message}"));
            // Confirm soon: the first delay of the schedule.
            u.next_action_at_ms = Some(now.saturating_add(query_delay_ms(state, 1)));
        }
        Heard::ConfirmedRefused => {
            u.status = PayoutStatus::Failed;
        }
        Heard::Unknown(why) => {
            tracing::warn!(payout_id = %p.id, error = %why, "payout outcome unknown; will query with the same number");
            u.last_error = Some(why);
        }
    }
    if u.status == PayoutStatus::WaitUserConfirm && u.next_action_at_ms.is_some() {
        // Wake up in time to cancel an unconfirmed transfer.
        let deadline = confirm_deadline_ms(state, p);
        if deadline > now {
            u.next_action_at_ms = u.next_action_at_ms.map(|n| n.min(deadline));
        }
    }
    apply(state, p, u).await
}

/// Maps a verified provider status onto `u`.
fn apply_status(p: &Payout, s: &TransferStatus, u: &mut PayoutUpdate) {
    if s.payout_no != p.payout_no {
        u.last_error = Some(format!(
            "the provider answered about `{}`, not `{}`: an operator must look",
            s.payout_no, p.payout_no
        ));
        u.next_action_at_ms = None;
        return;
    }
    if s.amount.is_some_and(|a| a != p.amount) {
        u.last_error = Some(format!(
            "the provider reports {} for a payout of {}: an operator must look",
            s.amount.map(|a| a.to_string()).unwrap_or_default(),
            p.amount
        ));
        u.next_action_at_ms = None;
        tracing::error!(payout_id = %p.id, "transfer amount differs from the payout's");
        return;
    }
    if s.state == TransferState::Succeeded && s.amount.is_none() {
        // A success is only final with the amount that moved (Alipay's transfer answer
        // carries none): the query that follows reports it.
        u.last_error = Some("success reported without its amount; confirming by query".into());
        return;
    }
    u.provider_transfer_id = s.provider_transfer_id.clone();
    match p.status.on_answer(answer_of(s.state)) {
        Ok(to) => {
            u.status = to;
            match to {
                PayoutStatus::WaitUserConfirm => u.package_info = s.confirm_package.clone(),
                PayoutStatus::Failed => {
                    u.failure_code = Some(
                        s.fail_reason
                            .clone()
                            .unwrap_or_else(|| s.provider_state.clone()),
                    );
                    u.failure_message = s.fail_reason.clone().map(|r| short(&r));
                }
                _ => {}
            }
            if s.state == TransferState::Cancelling {
                u.last_error =
                    Some("cancel accepted by the provider; waiting for CANCELLED".into());
            }
        }
        Err(illegal) => {
            u.last_error = Some(format!(
                "the provider says {} ({}) but the payout is {}: an operator must look",
                s.provider_state,
                illegal.to,
                p.status.as_str()
            ));
            u.next_action_at_ms = None;
            tracing::error!(payout_id = %p.id, provider_state = %s.provider_state, status = p.status.as_str(), "contradicting transfer answer");
        }
    }
}

fn event_type(to: PayoutStatus) -> Option<EventType> {
    match to {
        PayoutStatus::WaitUserConfirm => Some(EventType::PayoutWaitUserConfirm),
        PayoutStatus::Succeeded => Some(EventType::PayoutSucceeded),
        PayoutStatus::Failed => Some(EventType::PayoutFailed),
        PayoutStatus::Cancelled => Some(EventType::PayoutCancelled),
        _ => None,
    }
}

/// The entry a move of `p` to `to` posts (see `ledger_effect`).
fn final_entry(
    p: &Payout,
    funding: &AccountRef,
    to: PayoutStatus,
    now: i64,
) -> Result<Option<NewJournalEntry>, PayoutError> {
    let broken = |e: paydesk_core::LedgerError| PayoutError::Broken(format!("{}: {e}", p.id));
    let entry = match ledger_effect(p.kind, to) {
        None => return Ok(None),
        Some(EntryKind::WithdrawalDebit) => {
            movements::withdrawal_debit(funding, &p.merchant_account, p.amount).map_err(broken)?
        }
        Some(EntryKind::Release) => movements::release(funding, p.amount).map_err(broken)?,
        Some(EntryKind::Payout) => {
            movements::payout(funding.owner_id(), &p.merchant_account, p.amount).map_err(broken)?
        }
        Some(other) => {
            return Err(PayoutError::Broken(format!(
                "{}: unexpected ledger effect {}",
                p.id,
                other.as_str()
            )))
        }
    };
    Ok(Some(NewJournalEntry {
        id: ids::new_id(ids::JOURNAL_ENTRY),
        business_line_id: p.business_line_id.clone(),
        reference: p.id.clone(),
        // One final entry per payout for all time.
        idempotency_key: format!("payout:{}", p.id),
        created_at_ms: now,
        entry,
    }))
}

/// Applies `u` to `p` with the entry and event its move needs; the payout afterwards
/// (as someone else left it, when they moved first).
async fn apply(state: &AppState, p: &Payout, mut u: PayoutUpdate) -> Result<Payout, PayoutError> {
    let moved = u.status != p.status;
    let mut entry = None;
    if moved {
        let funding = funding_of(state, p).await?;
        entry = final_entry(p, &funding, u.status, u.now_ms)?;
        if let Some(t) = event_type(u.status) {
            let terminal = u.status.is_terminal();
            let after = Payout {
                status: u.status,
                provider_transfer_id: u
                    .provider_transfer_id
                    .clone()
                    .or(p.provider_transfer_id.clone()),
                package_info: u.package_info.clone().or(p.package_info.clone()),
                failure_code: u.failure_code.clone().or(p.failure_code.clone()),
                failure_message: u.failure_message.clone().or(p.failure_message.clone()),
                final_entry_id: entry.as_ref().map(|e| e.id.clone()),
                next_action_at_ms: if terminal { None } else { u.next_action_at_ms },
                updated_at_ms: u.now_ms,
                finished_at_ms: terminal.then_some(u.now_ms),
                version: p.version + 1,
                ..p.clone()
            };
            u.event = Some(events::payout_event(t, &after, Some(&funding), u.now_ms));
        }
    }
    match state
        .store
        .ledger()
        .update_payout(&p.id, &u, entry.as_ref())
        .await?
    {
        Transition::Applied(after) => {
            if u.event.is_some() {
                state.outbox_wake.notify_one();
            }
            if moved {
                metrics::counter!("paydesk_payouts_total", "kind" => after.kind.as_str(), "status" => after.status.as_str())
                    .increment(1);
                tracing::info!(payout_id = %after.id, kind = after.kind.as_str(), from = p.status.as_str(), to = after.status.as_str(), "payout moved");
            }
            Ok(after)
        }
        // Someone else (a notification, another instance, a cancel) moved it first.
        Transition::Refused(Some(now)) => Ok(now),
        Transition::Refused(None) => Err(PayoutError::Broken(format!("{} vanished", p.id))),
    }
}

/// Cancels a payout before the money moved: at once while `ACCEPTED` (nothing was sent),
/// at the provider while `WAIT_USER_CONFIRM` (the payout becomes `CANCELLED` when the
/// provider confirms, usually a moment later). Anything else is too late.
pub async fn cancel(state: &AppState, payout: &Payout) -> Result<Payout, CancelRefused> {
    match payout.status {
        PayoutStatus::Accepted => {
            let mut u = same_state(payout, now_ms(), None);
            u.status = PayoutStatus::Cancelled;
            u.last_error = Some("cancelled by the business line before sending".into());
            let after = apply(state, payout, u).await?;
            match after.status {
                PayoutStatus::Cancelled => Ok(after),
                // The worker sent it in the meantime: maybe still cancellable.
                PayoutStatus::WaitUserConfirm => Box::pin(cancel(state, &after)).await,
                _ => Err(CancelRefused::TooLate(Box::new(after))),
            }
        }
        PayoutStatus::WaitUserConfirm => {
            let Some(account) = account_of(state, payout) else {
                return Err(CancelRefused::Error(PayoutError::Broken(format!(
                    "{}: merchant account `{}` is not configured",
                    payout.id, payout.merchant_account
                ))));
            };
            let now = now_ms();
            let Some(p) = claim(state, payout, now).await? else {
                let now = state
                    .store
                    .ledger()
                    .payout(&payout.id)
                    .await?
                    .unwrap_or_else(|| payout.clone());
                return Err(CancelRefused::TooLate(Box::new(now)));
            };
            let heard = cancel_at_provider(&account, &p).await;
            let mut after = record(state, &p, heard).await?;
            if after.status == PayoutStatus::WaitUserConfirm {
                // Accepted as CANCELING: ask again soon rather than on the slow schedule.
                let mut u = same_state(
                    &after,
                    now_ms(),
                    Some(now_ms().saturating_add(query_delay_ms(state, 1))),
                );
                u.last_error = after.last_error.clone();
                if let Transition::Applied(a) = state
                    .store
                    .ledger()
                    .update_payout(&after.id, &u, None)
                    .await?
                {
                    after = a;
                }
                kick(state);
            }
            Ok(after)
        }
        _ => Err(CancelRefused::TooLate(Box::new(payout.clone()))),
    }
}

/// Applies a verified transfer notification: only a hint. The payout is stepped (the
/// provider is queried), so the provider's own answer decides; a final payout ignores it.
/// Returns `Err` with a reason when the notification names no payout of this account.
pub async fn on_notification(
    state: &AppState,
    account: &Account,
    status: &TransferStatus,
) -> Result<(), String> {
    let p = state
        .store
        .ledger()
        .payout_by_no(&status.payout_no)
        .await
        .map_err(|e| format!("ERROR: {e}"))?
        .ok_or_else(|| "UNKNOWN_PAYOUT".to_owned())?;
    if p.merchant_account != account.id {
        tracing::error!(payout_id = %p.id, account = %account.id, "transfer notification at another account's endpoint");
        return Err("WRONG_ACCOUNT".into());
    }
    if p.status.is_terminal() {
        return Ok(());
    }
    step(state, &p)
        .await
        .map_err(|e| format!("NOT_APPLIED: {e}"))?;
    Ok(())
}
