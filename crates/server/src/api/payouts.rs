//! Payouts (打款) and withdrawals (提现): `POST /v1/payouts`, `POST /v1/withdrawals`,
//! `GET /v1/payouts/{id}`, `GET /v1/payouts` (list, or one by `business_payout_no`),
//! `POST /v1/payouts/{id}/cancel`.
//!
//! A request is validated completely before anything is written; then one transaction
//! records the payout (idempotent by business payout number), raises the business line's
//! day total within its limit and, for a withdrawal, holds the amount on the owner's
//! available balance. The transfer follows in the worker; the outcome arrives as
//! `payout.*` notifications.

use super::parse_json;
use super::pay_orders::{check_len, check_url};
use crate::auth::{Caller, VerifiedBody};
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::payouts::{self, execute::is_alipay_user_id, CancelRefused};
use crate::resource::PayoutResource;
use crate::state::AppState;
use crate::time::now_ms;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use paydesk_core::ledger::{movements, AccountKind, AccountRef};
use paydesk_core::transition::StateMachine;
use paydesk_core::{ids, Amount, Currency, PayoutKind, PayoutStatus, Provider};
use paydesk_store::{
    CreatePayoutOutcome, DailyLimit, NewJournalEntry, NewPayout, Payout, PayoutFilter,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Longest remark: WeChat shows at most 32 characters.
const MAX_REMARK_CHARS: usize = 32;
const MAX_RECIPIENT_CHARS: usize = 128;
const MAX_NAME_CHARS: usize = 64;

/// Body of `POST /v1/payouts`: the business line's platform funding account pays a user.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePayoutRequest {
    /// Your payout number: 1-64 of `[A-Za-z0-9_-]`. The same number pays at most once.
    pub business_payout_no: String,
    /// `wechatpay` or `alipay` (any case); the configured default account of that
    /// provider sends the money. Give this or `merchant_account`.
    pub provider: Option<String>,
    /// The merchant account that sends the money (e.g. `wx-main`).
    pub merchant_account: Option<String>,
    /// The recipient: a WeChat openid under the account's app, or an Alipay user id
    /// (`2088...`, 16 digits) or login (phone or e-mail; then `recipient_name` is needed).
    pub recipient: String,
    /// The recipient's real name, when the provider checks it.
    pub recipient_name: Option<String>,
    /// Integer minor units (fen), > 0 and at most `payouts.max_amount_minor`.
    pub amount_minor: i64,
    /// ISO 4217 code; CNY for WeChat Pay and Alipay.
    pub currency: String,
    /// Shown to the recipient, 1-32 characters.
    pub remark: String,
    /// Where `payout.*` notifications go (default: the business line's); must match an
    /// allowed prefix.
    pub notify_url: Option<String>,
}

/// Body of `POST /v1/withdrawals`: a user (or seller) moves their available balance out.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateWithdrawalRequest {
    /// Your withdrawal number (same space as payout numbers): 1-64 of `[A-Za-z0-9_-]`.
    pub business_payout_no: String,
    /// Whose balance: `USER` (default) or `SELLER`.
    pub owner_kind: Option<String>,
    /// The user's (or seller's) id: the owner of the ledger balance.
    pub user_id: String,
    /// `wechatpay` or `alipay`; or give `merchant_account`.
    pub provider: Option<String>,
    /// The merchant account that sends the money.
    pub merchant_account: Option<String>,
    /// The recipient at the provider (as for payouts).
    pub recipient: String,
    /// The recipient's real name, when the provider checks it.
    pub recipient_name: Option<String>,
    /// Integer minor units, > 0; at most the available balance and
    /// `payouts.max_amount_minor`.
    pub amount_minor: i64,
    /// ISO 4217 code of the balance; CNY for WeChat Pay and Alipay.
    pub currency: String,
    /// Shown to the recipient, 1-32 characters.
    pub remark: String,
    /// Where `payout.*` notifications go (default: the business line's).
    pub notify_url: Option<String>,
}

/// The common, validated part of both requests.
struct Checked {
    provider: Provider,
    merchant_account: String,
    recipient: String,
    recipient_name: Option<String>,
    amount: Amount,
    remark: String,
    notify_url: String,
}

/// Fields shared by both bodies, borrowed for validation.
struct Common<'a> {
    business_payout_no: &'a str,
    provider: Option<&'a str>,
    merchant_account: Option<&'a str>,
    recipient: &'a str,
    recipient_name: Option<&'a str>,
    amount_minor: i64,
    currency: &'a str,
    remark: &'a str,
    notify_url: Option<&'a str>,
}

fn check_common(state: &AppState, caller: &Caller, c: &Common<'_>) -> ApiResult<Checked> {
    if !super::is_business_no(c.business_payout_no) {
        return Err(ApiError::invalid(
            "business_payout_no must be 1-64 characters of [A-Za-z0-9_-]",
        ));
    }
    let currency: Currency = c.currency.parse().map_err(|_| {
        ApiError::invalid(format!(
            "currency `{}` is not supported",
            c.currency.chars().take(8).collect::<String>()
        ))
    })?;
    if currency != Currency::CNY {
        return Err(ApiError::invalid(
            "WeChat Pay and Alipay transfers are in CNY only",
        ));
    }
    if c.amount_minor <= 0 {
        return Err(ApiError::invalid(
            "amount_minor must be a positive integer number of minor units",
        ));
    }
    let amount = Amount::new(c.amount_minor, currency)
        .map_err(|e| ApiError::invalid(format!("amount_minor: {e}")))?;
    let (max, _) = state.config.payouts.limits_for(&caller.0.name);
    if c.amount_minor > max {
        return Err(ApiError::new(
            ErrorCode::PayoutLimitExceeded,
            format!("amount_minor is above the largest single payout ({max})"),
        ));
    }
    let wanted = c
        .provider
        .map(|p| {
            Provider::parse(&p.to_ascii_lowercase())
                .ok_or_else(|| ApiError::invalid("provider must be wechatpay or alipay"))
        })
        .transpose()?;
    let merchant_account = match (c.merchant_account, wanted) {
        (Some(a), _) => a.to_owned(),
        (None, Some(Provider::Wechatpay)) => state.config.payouts.wechatpay_account.clone(),
        (None, Some(Provider::Alipay)) => state.config.payouts.alipay_account.clone(),
        (None, None) => {
            return Err(ApiError::invalid("give provider or merchant_account"));
        }
    };
    let account = state.accounts().get(&merchant_account).ok_or_else(|| {
        ApiError::invalid(format!(
            "merchant account `{}` is not configured",
            merchant_account.chars().take(64).collect::<String>()
        ))
    })?;
    if wanted.is_some_and(|p| p != account.provider) {
        return Err(ApiError::invalid(format!(
            "merchant account `{merchant_account}` is not a {} account",
            c.provider.unwrap_or_default()
        )));
    }
    check_len("recipient", c.recipient, MAX_RECIPIENT_CHARS)?;
    if c.recipient.chars().any(char::is_whitespace) {
        return Err(ApiError::invalid("recipient must not contain spaces"));
    }
    if let Some(n) = c.recipient_name {
        check_len("recipient_name", n, MAX_NAME_CHARS)?;
    }
    if account.provider == Provider::Alipay
        && !is_alipay_user_id(c.recipient)
        && c.recipient_name.is_none()
    {
        return Err(ApiError::invalid(
            "an Alipay login as recipient needs recipient_name (Alipay checks it)",
        ));
    }
    check_len("remark", c.remark, MAX_REMARK_CHARS)?;
    let notify_url = match c.notify_url {
        Some(u) => check_url("notify_url", u, caller)?,
        None => caller.0.notify_url.clone(),
    };
    Ok(Checked {
        provider: account.provider,
        merchant_account,
        recipient: c.recipient.to_owned(),
        recipient_name: c.recipient_name.map(str::to_owned),
        amount,
        remark: c.remark.to_owned(),
        notify_url,
    })
}

fn new_payout(
    state: &AppState,
    caller: &Caller,
    kind: PayoutKind,
    business_payout_no: &str,
    c: Checked,
    funding: AccountRef,
    now: i64,
) -> NewPayout {
    NewPayout {
        id: ids::new_id(ids::PAYOUT),
        kind,
        business_line_id: caller.0.id.clone(),
        business_payout_no: business_payout_no.to_owned(),
        payout_no: ids::provider_no(),
        provider: c.provider,
        merchant_account: c.merchant_account,
        recipient: c.recipient,
        recipient_name: c.recipient_name,
        amount: c.amount,
        remark: c.remark,
        notify_url: c.notify_url,
        funding,
        created_at_ms: now,
        daily_limit: Some(DailyLimit {
            day_no: DailyLimit::day_no_of(now),
            limit_minor: state.config.payouts.limits_for(&caller.0.name).1,
        }),
    }
}

/// The fields whose difference makes a repeated business payout number a conflict.
async fn conflicting_fields(
    state: &AppState,
    existing: &Payout,
    new: &NewPayout,
) -> ApiResult<Vec<&'static str>> {
    let mut diff = Vec::new();
    if existing.kind != new.kind {
        diff.push("kind");
    }
    if existing.amount != new.amount {
        diff.push("amount_minor");
    }
    if existing.merchant_account != new.merchant_account {
        diff.push("merchant_account");
    }
    if existing.recipient != new.recipient {
        diff.push("recipient");
    }
    if existing.recipient_name != new.recipient_name {
        diff.push("recipient_name");
    }
    if existing.remark != new.remark {
        diff.push("remark");
    }
    if existing.notify_url != new.notify_url {
        diff.push("notify_url");
    }
    let funding = state
        .store
        .ledger()
        .account(&existing.funding_account_id)
        .await?;
    if funding.map(|a| a.account) != Some(new.funding.clone()) {
        diff.push("user_id");
    }
    Ok(diff)
}

/// The answer to a repeated business payout number: the same payout, or a conflict.
async fn repeat(
    state: &AppState,
    existing: &Payout,
    new: &NewPayout,
) -> ApiResult<(StatusCode, Json<PayoutResource>)> {
    let diff = conflicting_fields(state, existing, new).await?;
    if !diff.is_empty() {
        return Err(ApiError::new(
            ErrorCode::IdempotencyConflict,
            format!(
                "business_payout_no `{}` is already payout {} with other {}",
                existing.business_payout_no,
                existing.id,
                diff.join(", ")
            ),
        ));
    }
    Ok((StatusCode::OK, Json(resource(state, existing).await?)))
}

/// The resource of a stored payout (its funding account looked up for withdrawals).
pub(crate) async fn resource(state: &AppState, p: &Payout) -> ApiResult<PayoutResource> {
    let funding = if p.kind == PayoutKind::Withdrawal {
        state
            .store
            .ledger()
            .account(&p.funding_account_id)
            .await?
            .map(|a| a.account)
    } else {
        None
    };
    Ok(PayoutResource::new(p, funding.as_ref()))
}

/// Records `new` (with `hold` for a withdrawal) and answers.
async fn record(
    state: &AppState,
    new: NewPayout,
    hold: Option<NewJournalEntry>,
) -> ApiResult<(StatusCode, Json<PayoutResource>)> {
    let ledger = state.store.ledger();
    // A repeat is answered before anything is checked against balances or limits.
    if let Some(existing) = ledger
        .payout_by_business_no(&new.business_line_id, &new.business_payout_no)
        .await?
    {
        return repeat(state, &existing, &new).await;
    }
    let outcome = match &hold {
        Some(h) => ledger.create_withdrawal(&new, h).await?,
        None => ledger.create_payout(&new).await?,
    };
    match outcome {
        CreatePayoutOutcome::Created(p) => {
            tracing::info!(payout_id = %p.id, kind = p.kind.as_str(), amount_minor = p.amount.minor(), "payout recorded");
            metrics::counter!("paydesk_payouts_created_total", "kind" => p.kind.as_str())
                .increment(1);
            payouts::kick(state);
            Ok((StatusCode::CREATED, Json(resource(state, &p).await?)))
        }
        CreatePayoutOutcome::Existing(p) => repeat(state, &p, &new).await,
        CreatePayoutOutcome::Insufficient { .. } => Err(ApiError::new(
            ErrorCode::InsufficientBalance,
            format!(
                "the available balance of {} does not cover {}",
                new.funding.owner_id(),
                new.amount
            ),
        )),
        CreatePayoutOutcome::LimitExceeded { limit_minor } => Err(ApiError::new(
            ErrorCode::PayoutLimitExceeded,
            format!("this payout would take today's payouts over the daily limit of {limit_minor}"),
        )),
    }
}

/// The fields a payout and a withdrawal request share, borrowed as [`Common`] (the two
/// request types differ only in whose money funds them).
macro_rules! common_of {
    ($req:expr) => {
        Common {
            business_payout_no: &$req.business_payout_no,
            provider: $req.provider.as_deref(),
            merchant_account: $req.merchant_account.as_deref(),
            recipient: &$req.recipient,
            recipient_name: $req.recipient_name.as_deref(),
            amount_minor: $req.amount_minor,
            currency: &$req.currency,
            remark: &$req.remark,
            notify_url: $req.notify_url.as_deref(),
        }
    };
}

/// Pay a user from the business line's platform funding account (打款).
#[utoipa::path(post, path = "/v1/payouts", tag = "payouts",
    request_body = CreatePayoutRequest,
    responses(
        (status = 201, description = "Recorded ACCEPTED; the transfer follows", body = PayoutResource),
        (status = 200, description = "The same business_payout_no and body again: the existing payout", body = PayoutResource),
        (status = 400, description = "INVALID_REQUEST, URL_NOT_ALLOWED", body = ErrorBody),
        (status = 409, description = "IDEMPOTENCY_CONFLICT, PAYOUT_LIMIT_EXCEEDED", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn create_payout(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(VerifiedBody(body)): Extension<VerifiedBody>,
) -> ApiResult<(StatusCode, Json<PayoutResource>)> {
    let req: CreatePayoutRequest = parse_json(&body)?;
    let checked = check_common(&state, &caller, &common_of!(req))?;
    let funding = AccountRef::platform_funding(caller.0.id.as_str(), checked.amount.currency())
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let new = new_payout(
        &state,
        &caller,
        PayoutKind::Payout,
        &req.business_payout_no,
        checked,
        funding,
        now_ms(),
    );
    record(&state, new, None).await
}

/// Withdraw a user's (or seller's) available balance to their WeChat or Alipay account
/// (提现): the amount is held now, debited when the transfer succeeds, released when it
/// fails or is cancelled.
#[utoipa::path(post, path = "/v1/withdrawals", tag = "payouts",
    request_body = CreateWithdrawalRequest,
    responses(
        (status = 201, description = "Recorded ACCEPTED with the amount held; the transfer follows", body = PayoutResource),
        (status = 200, description = "The same business_payout_no and body again: the existing withdrawal", body = PayoutResource),
        (status = 400, description = "INVALID_REQUEST, URL_NOT_ALLOWED", body = ErrorBody),
        (status = 409, description = "INSUFFICIENT_BALANCE, IDEMPOTENCY_CONFLICT, PAYOUT_LIMIT_EXCEEDED", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn create_withdrawal(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(VerifiedBody(body)): Extension<VerifiedBody>,
) -> ApiResult<(StatusCode, Json<PayoutResource>)> {
    let req: CreateWithdrawalRequest = parse_json(&body)?;
    let checked = check_common(&state, &caller, &common_of!(req))?;
    let kind = owner_kind(req.owner_kind.as_deref())?;
    let funding =
        AccountRef::new(kind, req.user_id.as_str(), checked.amount.currency()).map_err(|_| {
            ApiError::invalid("user_id must be 1-64 printable ASCII characters without spaces")
        })?;
    let hold_entry =
        movements::hold(&funding, checked.amount).map_err(|e| ApiError::invalid(e.to_string()))?;
    let now = now_ms();
    let new = new_payout(
        &state,
        &caller,
        PayoutKind::Withdrawal,
        &req.business_payout_no,
        checked,
        funding,
        now,
    );
    let hold = NewJournalEntry {
        id: ids::new_id(ids::JOURNAL_ENTRY),
        business_line_id: new.business_line_id.clone(),
        reference: new.id.clone(),
        idempotency_key: format!("hold:{}", new.id),
        created_at_ms: now,
        entry: hold_entry,
    };
    record(&state, new, Some(hold)).await
}

/// `USER` (default) or `SELLER` as the available-balance account kind.
pub(crate) fn owner_kind(text: Option<&str>) -> ApiResult<AccountKind> {
    match text.unwrap_or("USER") {
        "USER" => Ok(AccountKind::UserAvailable),
        "SELLER" => Ok(AccountKind::SellerAvailable),
        _ => Err(ApiError::invalid("owner_kind must be USER or SELLER")),
    }
}

async fn owned(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Payout> {
    if !ids::has_shape(id, ids::PAYOUT) {
        return Err(ApiError::not_found("payout"));
    }
    state
        .store
        .ledger()
        .payout(id)
        .await?
        .filter(|p| p.business_line_id == caller.0.id)
        .ok_or_else(|| ApiError::not_found("payout"))
}

/// A payout or withdrawal by paydesk id.
#[utoipa::path(get, path = "/v1/payouts/{id}", tag = "payouts",
    params(("id" = String, Path, description = "paydesk payout id (`pt_...`)")),
    responses((status = 200, body = PayoutResource), (status = 404, description = "NOT_FOUND", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<PayoutResource>> {
    let p = owned(&state, &caller, &id).await?;
    Ok(Json(resource(&state, &p).await?))
}

/// Query of `GET /v1/payouts`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListPayoutsQuery {
    /// Only the payout with this business payout number (0 or 1 item).
    pub business_payout_no: Option<String>,
    /// Only `PAYOUT` or `WITHDRAWAL`.
    pub kind: Option<String>,
    /// Only this state.
    pub status: Option<String>,
    /// Items per page, 1-100 (default 20).
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A page of payouts, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutPage {
    /// Newest first.
    pub data: Vec<PayoutResource>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// A cursor is `<created_at_ms>.<id>` of the last payout of a page.
pub(crate) fn decode_cursor(text: &str) -> ApiResult<(i64, String)> {
    let bad = || ApiError::invalid("cursor is not a next_cursor this API returned");
    let (ms, id) = text.split_once('.').ok_or_else(bad)?;
    let ms: i64 = ms.parse().map_err(|_| bad())?;
    if !ids::has_shape(id, ids::PAYOUT) {
        return Err(bad());
    }
    Ok((ms, id.to_owned()))
}

/// Parses the shared list filters.
pub(crate) fn filter_of(kind: Option<&str>, status: Option<&str>) -> ApiResult<PayoutFilter> {
    Ok(PayoutFilter {
        kind: kind
            .map(|k| {
                PayoutKind::parse(k)
                    .ok_or_else(|| ApiError::invalid("kind must be PAYOUT or WITHDRAWAL"))
            })
            .transpose()?,
        status: status
            .map(|s| {
                PayoutStatus::parse(s)
                    .ok_or_else(|| ApiError::invalid(format!("unknown status `{s}`")))
            })
            .transpose()?,
        ..Default::default()
    })
}

/// Payouts and withdrawals of the business line, newest first; or the one with
/// `business_payout_no`.
#[utoipa::path(get, path = "/v1/payouts", tag = "payouts",
    params(ListPayoutsQuery),
    responses((status = 200, body = PayoutPage), (status = 400, description = "INVALID_REQUEST", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    query: Result<Query<ListPayoutsQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<PayoutPage>> {
    let Query(q) = query.map_err(|e| ApiError::invalid(e.body_text()))?;
    let ledger = state.store.ledger();
    if let Some(no) = &q.business_payout_no {
        let found = ledger.payout_by_business_no(&caller.0.id, no).await?;
        let mut data = Vec::new();
        if let Some(p) = found {
            data.push(resource(&state, &p).await?);
        }
        return Ok(Json(PayoutPage {
            data,
            next_cursor: None,
        }));
    }
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit must be 1-100"));
    }
    let mut filter = filter_of(q.kind.as_deref(), q.status.as_deref())?;
    filter.business_line_id = Some(caller.0.id.clone());
    let cursor = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let page = ledger
        .list_payouts(
            &filter,
            cursor.as_ref().map(|(ms, id)| (*ms, id.as_str())),
            limit,
        )
        .await?;
    let next_cursor = (page.len() as i64 == limit)
        .then(|| page.last().map(|p| format!("{}.{}", p.created_at_ms, p.id)))
        .flatten();
    let mut data = Vec::with_capacity(page.len());
    for p in &page {
        data.push(resource(&state, p).await?);
    }
    Ok(Json(PayoutPage { data, next_cursor }))
}

/// Cancel a payout before the money moved: at once while `ACCEPTED`; at the provider
/// while `WAIT_USER_CONFIRM` (it becomes `CANCELLED` when the provider confirms, usually
/// a moment later, with a `payout.cancelled` notification).
#[utoipa::path(post, path = "/v1/payouts/{id}/cancel", tag = "payouts",
    params(("id" = String, Path, description = "paydesk payout id")),
    responses(
        (status = 200, description = "Cancelled, or the cancellation is under way at the provider", body = PayoutResource),
        (status = 404, description = "NOT_FOUND", body = ErrorBody),
        (status = 409, description = "INVALID_STATE: the money is moving or moved", body = ErrorBody),
        (status = 502, description = "PROVIDER_UNAVAILABLE", body = ErrorBody)),
    security(("paydesk_hmac" = [])))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<PayoutResource>> {
    let p = owned(&state, &caller, &id).await?;
    if p.status == PayoutStatus::Cancelled {
        return Ok(Json(resource(&state, &p).await?));
    }
    match payouts::cancel(&state, &p).await {
        Ok(after) => Ok(Json(resource(&state, &after).await?)),
        Err(CancelRefused::TooLate(now)) if now.status == PayoutStatus::Cancelled => {
            Ok(Json(resource(&state, &now).await?))
        }
        Err(CancelRefused::TooLate(now)) => Err(ApiError::new(
            ErrorCode::InvalidState,
            format!(
                "payout {} is {}: only ACCEPTED or WAIT_USER_CONFIRM payouts can be cancelled",
                now.id,
                now.status.as_str()
            ),
        )),
        Err(CancelRefused::Error(e)) => {
            tracing::error!(payout_id = %p.id, error = %e, "payout cancel failed");
            Err(ApiError::new(
                ErrorCode::ProviderUnavailable,
                "the cancellation could not be carried out now; try again",
            ))
        }
    }
}
