//! `/admin/v1/ledger/...`: the balance ledger for operators, read-only. Accounts (filtered
//! by kind, owner and currency, keyset-paged by id), one account with its check (the
//! cached balance and version against the sum and count of its lines), an account's
//! statement (newest first, paged by account version) and one journal entry with all its
//! lines, so an operator sees both sides of a movement. Any signed-in operator (viewer or
//! admin) may read; bad query input is 400 `INVALID_REQUEST`, an unknown id 404
//! `NOT_FOUND`.
//!
//! Everything is served by the existing [`paydesk_store::LedgerStore`] reads. The store's
//! [`AccountFilter`] has no currency, so a currency filter is applied here over a bounded
//! scan of the id-ordered accounts (see [`accounts`]).

use super::session::Signed;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::time::rfc3339;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::Json;
use paydesk_core::ledger::{AccountKind, MAX_OWNER_ID_LEN};
use paydesk_core::{ids, Currency};
use paydesk_store::ledger::MAX_PAGE;
use paydesk_store::{AccountCheck, AccountFilter, LedgerAccount, PostedEntry, StatementLine};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Rows per page when the query names no `limit`.
pub const DEFAULT_LIMIT: i64 = 50;
/// Most rows one page may ask for.
pub const MAX_LIMIT: i64 = 100;
/// Most accounts one request reads from the store while filtering by currency; a page
/// that reaches it ends early with a `next_after` to continue from.
pub const MAX_SCANNED: i64 = 5 * MAX_PAGE;

/// `GET /admin/v1/ledger/accounts` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountsQuery {
    /// Only this kind (`USER_AVAILABLE`, `SELLER_HELD`, `PLATFORM_FUNDING`, ...).
    pub kind: Option<String>,
    /// Only this owner (user, seller, business line or merchant account id).
    pub owner: Option<String>,
    /// Only this currency (ISO 4217).
    pub currency: Option<String>,
    /// Accounts after this id (the previous page's `next_after`).
    pub after: Option<String>,
    /// Rows per page, 1-100 (default 50).
    pub limit: Option<i64>,
}

/// `GET /admin/v1/ledger/accounts/{id}/statement` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementQuery {
    /// Lines strictly older than this account version (the previous page's
    /// `next_before`).
    pub before: Option<i64>,
    /// Lines per page, 1-100 (default 50).
    pub limit: Option<i64>,
}

fn query<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(v)| v)
        .map_err(|e| ApiError::invalid(e.body_text()))
}

fn limit_of(v: Option<i64>) -> ApiResult<i64> {
    match v {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid(format!("limit must be 1-{MAX_LIMIT}"))),
    }
}

fn kind_of(v: Option<&str>) -> ApiResult<Option<AccountKind>> {
    v.map(|k| {
        AccountKind::parse(k).ok_or_else(|| {
            let all: Vec<&str> = AccountKind::ALL.iter().map(|k| k.as_str()).collect();
            ApiError::invalid(format!("kind must be one of {}", all.join(", ")))
        })
    })
    .transpose()
}

fn owner_of(v: Option<String>) -> ApiResult<Option<String>> {
    match v {
        Some(o)
            if o.is_empty()
                || o.len() > MAX_OWNER_ID_LEN
                || !o.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Err(ApiError::invalid(format!(
                "owner must be 1-{MAX_OWNER_ID_LEN} printable ASCII characters without spaces"
            )))
        }
        other => Ok(other),
    }
}

fn currency_of(v: Option<&str>) -> ApiResult<Option<Currency>> {
    v.map(|c| {
        c.parse::<Currency>()
            .map_err(|_| ApiError::invalid("currency is not a supported ISO 4217 code"))
    })
    .transpose()
}

/// An account as the admin API shows it.
pub fn account_view(a: &LedgerAccount) -> Value {
    json!({
        "id": a.id, "kind": a.account.kind().as_str(), "owner": a.account.owner_id(),
        "currency": a.account.currency().code(), "balance_minor": a.balance_minor,
        "allow_negative": a.allow_negative, "version": a.version,
        "created_at": rfc3339(a.created_at_ms), "updated_at": rfc3339(a.updated_at_ms),
    })
}

/// An account check as the admin API shows it: `ties_out` when the cached balance is the
/// sum of the lines and the version their count.
pub fn check_view(c: &AccountCheck) -> Value {
    json!({
        "balance_minor": c.balance_minor, "version": c.version,
        "lines_sum_minor": c.lines_sum_minor, "lines": c.lines,
        "ties_out": c.is_consistent(),
    })
}

fn line_view(l: &StatementLine) -> Value {
    json!({
        "entry_id": l.entry_id, "entry_kind": l.entry_kind.as_str(),
        "business_line_id": l.business_line_id, "reference": l.reference,
        "amount_minor": l.amount_minor, "balance_after_minor": l.balance_after_minor,
        "account_version": l.account_version, "created_at": rfc3339(l.created_at_ms),
    })
}

async fn find_account(state: &AppState, id: &str) -> ApiResult<LedgerAccount> {
    if !ids::has_shape(id, ids::LEDGER_ACCOUNT) {
        return Err(ApiError::not_found("ledger account"));
    }
    state
        .store
        .ledger()
        .account(id)
        .await?
        .ok_or_else(|| ApiError::not_found("ledger account"))
}

/// `GET /admin/v1/ledger/accounts`: accounts by id (keyset: pass `next_after` as
/// `after`), optionally of one kind, owner and currency.
///
/// Kind and owner filter in the store. Currency does not (the store's filter has no
/// currency): with kind and owner also given it is one lookup by identity; otherwise
/// pages are read and filtered here, at most [`MAX_SCANNED`] accounts per request, so a
/// page can hold fewer than `limit` accounts and still carry a `next_after`.
pub async fn accounts(
    _: Signed,
    State(state): State<AppState>,
    q: Result<Query<AccountsQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    let limit = limit_of(q.limit)?;
    let kind = kind_of(q.kind.as_deref())?;
    let owner = owner_of(q.owner)?;
    let currency = currency_of(q.currency.as_deref())?;
    if let Some(after) = &q.after {
        if !ids::has_shape(after, ids::LEDGER_ACCOUNT) {
            return Err(ApiError::invalid(
                "after must be a ledger account id (a next_after this API returned)",
            ));
        }
    }
    let ledger = state.store.ledger();
    let (page, next_after) = match (kind, &owner, currency) {
        (Some(kind), Some(owner), Some(currency)) => {
            let identity = paydesk_core::AccountRef::new(kind, owner.as_str(), currency)
                .map_err(|e| ApiError::invalid(e.to_string()))?;
            let found = ledger
                .account_by_ref(&identity)
                .await?
                .filter(|a| q.after.as_deref().is_none_or(|after| a.id.as_str() > after));
            (found.into_iter().collect::<Vec<_>>(), None)
        }
        _ => {
            let filter = AccountFilter {
                kind,
                owner_id: owner,
            };
            match currency {
                None => {
                    let page = ledger
                        .list_accounts(&filter, q.after.as_deref(), limit)
                        .await?;
                    let next = (page.len() as i64 == limit)
                        .then(|| page.last().map(|a| a.id.clone()))
                        .flatten();
                    (page, next)
                }
                Some(currency) => {
                    let mut out = Vec::new();
                    let mut after = q.after.clone();
                    let mut scanned = 0;
                    let mut next = None;
                    loop {
                        let batch = ledger
                            .list_accounts(&filter, after.as_deref(), MAX_PAGE)
                            .await?;
                        scanned += batch.len() as i64;
                        let exhausted = (batch.len() as i64) < MAX_PAGE;
                        let last_seen = batch.last().map(|a| a.id.clone());
                        for a in batch {
                            if a.account.currency() != currency {
                                continue;
                            }
                            let id = a.id.clone();
                            out.push(a);
                            if out.len() as i64 == limit {
                                // A full page: the next one starts after its last account.
                                next = Some(id);
                                break;
                            }
                        }
                        if next.is_some() || exhausted {
                            break;
                        }
                        if scanned >= MAX_SCANNED {
                            // Bounded: continue from the last account read.
                            next = last_seen;
                            break;
                        }
                        after = last_seen;
                    }
                    (out, next)
                }
            }
        }
    };
    Ok(Json(json!({
        "accounts": page.iter().map(account_view).collect::<Vec<_>>(),
        "next_after": next_after,
    })))
}

/// `GET /admin/v1/ledger/accounts/{id}`: the account and its check (cached balance and
/// version against the sum and count of its lines, read in one snapshot).
pub async fn account(
    _: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let a = find_account(&state, &id).await?;
    let check = state
        .store
        .ledger()
        .verify_account(&a.id)
        .await?
        .ok_or_else(|| ApiError::not_found("ledger account"))?;
    Ok(Json(json!({
        "account": account_view(&a),
        "verification": check_view(&check),
    })))
}

/// `GET /admin/v1/ledger/accounts/{id}/statement`: the account's lines, newest first
/// (keyset: pass `next_before` as `before`).
pub async fn statement(
    _: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<StatementQuery>, QueryRejection>,
) -> ApiResult<Json<Value>> {
    let q = query(q)?;
    let limit = limit_of(q.limit)?;
    if q.before.is_some_and(|b| b < 1) {
        return Err(ApiError::invalid(
            "before must be a positive account version (a next_before this API returned)",
        ));
    }
    let a = find_account(&state, &id).await?;
    let lines = state
        .store
        .ledger()
        .statement(&a.id, q.before, limit)
        .await?;
    let next_before = (lines.len() as i64 == limit)
        .then(|| lines.last().map(|l| l.account_version))
        .flatten()
        // The first line has version 1: nothing is older.
        .filter(|v| *v > 1);
    Ok(Json(json!({
        "account": account_view(&a),
        "lines": lines.iter().map(line_view).collect::<Vec<_>>(),
        "next_before": next_before,
    })))
}

/// `GET /admin/v1/ledger/entries/{id}`: one journal entry with every line, each naming
/// its account (kind, owner, currency), and the sum of the lines per currency (always
/// zero: an entry cannot be stored unbalanced).
pub async fn entry(
    _: Signed,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if !ids::has_shape(&id, ids::JOURNAL_ENTRY) {
        return Err(ApiError::not_found("journal entry"));
    }
    let ledger = state.store.ledger();
    let e: PostedEntry = ledger
        .entry(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("journal entry"))?;
    let mut lines = Vec::with_capacity(e.lines.len());
    // i128: a sum of up to MAX_LINES i64 values cannot overflow it.
    let mut sums: BTreeMap<&'static str, i128> = BTreeMap::new();
    for l in &e.lines {
        // An entry has at most `MAX_LINES` lines: one read per line is bounded.
        let account = ledger.account(&l.account_id).await?;
        *sums.entry(l.currency.code()).or_default() += i128::from(l.amount_minor);
        lines.push(json!({
            "line_no": l.line_no, "account_id": l.account_id,
            "kind": account.as_ref().map(|a| a.account.kind().as_str()),
            "owner": account.as_ref().map(|a| a.account.owner_id().to_owned()),
            "currency": l.currency.code(), "amount_minor": l.amount_minor,
            "balance_after_minor": l.balance_after_minor,
            "account_version": l.account_version,
        }));
    }
    let balanced = sums.values().all(|s| *s == 0);
    // Beyond i64 (never for a stored entry): `null`, and `balanced` is false.
    let sums: BTreeMap<&str, Option<i64>> = sums
        .into_iter()
        .map(|(c, s)| (c, i64::try_from(s).ok()))
        .collect();
    Ok(Json(json!({
        "entry": {
            "id": e.id, "kind": e.kind.as_str(), "business_line_id": e.business_line_id,
            "reference": e.reference, "idempotency_key": e.idempotency_key,
            "created_at": rfc3339(e.created_at_ms), "lines": lines,
        },
        "sums_minor": sums,
        "balanced": balanced,
    })))
}
