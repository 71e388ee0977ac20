//! Records of payouts (打款) and withdrawals (提现): one transfer to a user's WeChat or
//! Alipay account each. States and their ledger effects are in `paydesk_core::payout`.

use crate::NewEvent;
use paydesk_core::ledger::AccountRef;
use paydesk_core::{Amount, PayoutKind, PayoutStatus, Provider};

/// A payout or withdrawal to record, `ACCEPTED` and due at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPayout {
    /// Id (`po_...` is taken by pay orders: use `pt_...`).
    pub id: String,
    /// Payout (platform money) or withdrawal (the user's balance).
    pub kind: PayoutKind,
    /// The business line.
    pub business_line_id: String,
    /// The business line's own number: the idempotency key within the line, in
    /// `payout_keys` (never archived).
    pub business_payout_no: String,
    /// Our number at the provider (`out_bill_no` / `out_biz_no`), reused on every retry;
    /// unique for all time.
    pub payout_no: String,
    /// The provider.
    pub provider: Provider,
    /// Our merchant account that sends the money.
    pub merchant_account: String,
    /// The recipient at the provider: a WeChat openid or an Alipay account (user id or
    /// login name).
    pub recipient: String,
    /// The recipient's real name, when the provider checks it.
    pub recipient_name: Option<String>,
    /// How much.
    pub amount: Amount,
    /// Shown to the recipient (WeChat `transfer_remark`, Alipay `remark`).
    pub remark: String,
    /// Where `payout.*` events go.
    pub notify_url: String,
    /// The ledger account the money comes from: the withdrawing user's (or seller's)
    /// available account, or the business line's platform funding account for a payout.
    pub funding: AccountRef,
    /// Creation time.
    pub created_at_ms: i64,
    /// The business line's daily limit this payout counts against (`None`: no limit).
    /// Checked and raised by a conditional update in the transaction that records it.
    pub daily_limit: Option<DailyLimit>,
}

/// A daily limit on how much a business line sends out per currency: payouts and
/// withdrawals recorded on `day_no` may total at most `limit_minor`. A payout counts from
/// the moment it is recorded, whatever its end (conservative: a limit is never exceeded
/// by money that moved, at the price of counting failed transfers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DailyLimit {
    /// The business day (days since 1970-01-01 in China Standard Time, see
    /// [`DailyLimit::day_no_of`]).
    pub day_no: i64,
    /// Most minor units the day may total, this payout included.
    pub limit_minor: i64,
}

impl DailyLimit {
    /// China Standard Time (UTC+8), the providers' business day, in milliseconds.
    pub const DAY_OFFSET_MS: i64 = 8 * 3_600_000;

    /// The business day of an instant (unix milliseconds).
    pub fn day_no_of(at_ms: i64) -> i64 {
        at_ms
            .saturating_add(Self::DAY_OFFSET_MS)
            .div_euclid(86_400_000)
    }
}

/// A stored payout or withdrawal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    /// Id.
    pub id: String,
    /// Payout or withdrawal.
    pub kind: PayoutKind,
    /// The business line.
    pub business_line_id: String,
    /// The business line's number.
    pub business_payout_no: String,
    /// Our number at the provider.
    pub payout_no: String,
    /// The provider.
    pub provider: Provider,
    /// Our merchant account that sends the money.
    pub merchant_account: String,
    /// The recipient at the provider.
    pub recipient: String,
    /// The recipient's real name.
    pub recipient_name: Option<String>,
    /// How much.
    pub amount: Amount,
    /// Shown to the recipient.
    pub remark: String,
    /// Where `payout.*` events go.
    pub notify_url: String,
    /// The ledger account the money comes from (available account or funding account).
    pub funding_account_id: String,
    /// State.
    pub status: PayoutStatus,
    /// The provider's id of the transfer, once known.
    pub provider_transfer_id: Option<String>,
    /// WeChat's confirm-receipt data for the user (`package_info`).
    pub package_info: Option<String>,
    /// The provider's failure code, when it failed.
    pub failure_code: Option<String>,
    /// The provider's failure message.
    pub failure_message: Option<String>,
    /// The hold entry (withdrawals).
    pub hold_entry_id: Option<String>,
    /// The entry posted with the terminal state: debit, release or funding charge.
    pub final_entry_id: Option<String>,
    /// Calls made to the provider for it (transfer, query, cancel).
    pub tries: i64,
    /// When the worker acts next (`None`: nothing to do).
    pub next_action_at_ms: Option<i64>,
    /// The last problem (a timeout, a frequency limit), for operators.
    pub last_error: Option<String>,
    /// Creation time.
    pub created_at_ms: i64,
    /// Last change.
    pub updated_at_ms: i64,
    /// When it reached a terminal state.
    pub finished_at_ms: Option<i64>,
    /// Optimistic-concurrency guard.
    pub version: i64,
}

/// What asking for a payout or withdrawal did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreatePayoutOutcome {
    /// Recorded `ACCEPTED` (a withdrawal's hold posted with it).
    Created(Payout),
    /// The business payout number was used before: this is its payout (whatever its
    /// fields: the caller compares). Nothing was written.
    Existing(Payout),
    /// The available balance does not cover the withdrawal; nothing was written.
    Insufficient {
        /// The account that could not cover it.
        account_id: String,
    },
    /// The payout would take its business line's day over [`NewPayout::daily_limit`];
    /// nothing was written.
    LimitExceeded {
        /// The day's limit.
        limit_minor: i64,
    },
}

/// A change of a payout, applied only if it is still in `from` at `expected_version` and
/// the state machine allows `from -> status` (or `status == from` on an open payout: a
/// reschedule). Optional fields left `None` keep what is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutUpdate {
    /// The state read (guard).
    pub from: PayoutStatus,
    /// The version read (guard).
    pub expected_version: i64,
    /// The new state.
    pub status: PayoutStatus,
    /// The provider's transfer id, if known now.
    pub provider_transfer_id: Option<String>,
    /// WeChat's confirm-receipt data, if given now.
    pub package_info: Option<String>,
    /// The failure code, if it failed.
    pub failure_code: Option<String>,
    /// The failure message.
    pub failure_message: Option<String>,
    /// Add one to `tries`.
    pub count_try: bool,
    /// When the worker acts next; forced to `None` in a terminal state.
    pub next_action_at_ms: Option<i64>,
    /// The last problem, or `None` to keep the one recorded.
    pub last_error: Option<String>,
    /// Now.
    pub now_ms: i64,
    /// A `payout.*` event to write in the same transaction if the update applies.
    pub event: Option<NewEvent>,
}

/// Which payouts to list, newest first (`(created_at_ms, id)` descending).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayoutFilter {
    /// Only this business line's.
    pub business_line_id: Option<String>,
    /// Only payouts or only withdrawals.
    pub kind: Option<PayoutKind>,
    /// Only this state.
    pub status: Option<PayoutStatus>,
    /// Only those funded by this ledger account (a user's withdrawals).
    pub funding_account_id: Option<String>,
}
