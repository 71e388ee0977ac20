//! Payouts (打款: platform money to a user's WeChat/Alipay account) and withdrawals
//! (提现: a user's platform balance to their WeChat/Alipay account): the state machine
//! both share, how a provider's answer moves it, and what each end means for the ledger.
//!
//! ```text
//! ACCEPTED ──▶ PROCESSING ──▶ SUCCEEDED
//!    │            │  ▲   ╲──▶ FAILED
//!    │            ▼  │    ╲─▶ CANCELLED
//!    │       WAIT_USER_CONFIRM ──▶ SUCCEEDED | FAILED | CANCELLED
//!    └──▶ FAILED | CANCELLED   (refused or cancelled before anything was sent)
//! ```
//!
//! The rule that keeps money safe: an unknown answer (timeout, 5xx, unverifiable) or a
//! provider that does not know the number yet never makes a transfer `FAILED`. It stays
//! `PROCESSING`, is queried with the same payout number, and is sent again only with that
//! same number, so the provider itself deduplicates.

use crate::ledger::EntryKind;
use crate::transition::{IllegalTransition, StateMachine};
use serde::{Deserialize, Serialize};

/// Which kind of money movement a payout record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayoutKind {
    /// Platform money (a business line's funding account) to a user: 打款.
    Payout,
    /// A user's (or seller's) own balance, held at request: 提现.
    Withdrawal,
}

impl PayoutKind {
    /// Both kinds.
    pub const ALL: &'static [Self] = &[Self::Payout, Self::Withdrawal];

    /// The stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payout => "PAYOUT",
            Self::Withdrawal => "WITHDRAWAL",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

/// Where a payout or withdrawal stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PayoutStatus {
    /// Recorded (a withdrawal's amount already held); nothing sent to the provider yet.
    Accepted,
    /// Marked before the first transfer call, so a crash mid-call leaves it here and it is
    /// queried, never blindly re-sent under a new number. Also where an unknown answer
    /// keeps it.
    Processing,
    /// WeChat's confirm-receipt step: the provider accepted the transfer and the user must
    /// confirm it (with `package_info`); an unconfirmed one is cancelled by us.
    WaitUserConfirm,
    /// The provider confirmed the money reached the recipient. Terminal; a withdrawal's
    /// hold is debited, a payout's funding account charged, in the same transaction.
    Succeeded,
    /// The provider confirmed the transfer failed (or it was refused before sending).
    /// Terminal; a withdrawal's hold is released in the same transaction.
    Failed,
    /// Cancelled before the money moved (unconfirmed, or withdrawn by the business line).
    /// Terminal; a withdrawal's hold is released in the same transaction.
    Cancelled,
}

impl StateMachine for PayoutStatus {
    const ALL: &'static [Self] = &[
        Self::Accepted,
        Self::Processing,
        Self::WaitUserConfirm,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];
    const TRANSITIONS: &'static [(Self, Self)] = &[
        // About to send (or sent with an unknown outcome).
        (Self::Accepted, Self::Processing),
        // Refused before sending (account disabled, limit) or cancelled while queued.
        (Self::Accepted, Self::Failed),
        (Self::Accepted, Self::Cancelled),
        // The provider's definite answers to a sent transfer.
        (Self::Processing, Self::WaitUserConfirm),
        (Self::Processing, Self::Succeeded),
        (Self::Processing, Self::Failed),
        (Self::Processing, Self::Cancelled),
        // The user confirmed; the provider is moving the money.
        (Self::WaitUserConfirm, Self::Processing),
        (Self::WaitUserConfirm, Self::Succeeded),
        (Self::WaitUserConfirm, Self::Failed),
        (Self::WaitUserConfirm, Self::Cancelled),
    ];

    fn as_str(self) -> &'static str {
        match self {
            Self::Accepted => "ACCEPTED",
            Self::Processing => "PROCESSING",
            Self::WaitUserConfirm => "WAIT_USER_CONFIRM",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

/// What a provider said about a transfer, in paydesk's words (the adapters map their
/// protocol states to these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TransferAnswer {
    /// No usable answer: timeout, 5xx, an answer that failed verification.
    Unknown,
    /// The provider has no transfer with our number (the create never arrived): send
    /// again with the same number.
    NotFound,
    /// Accepted and in flight at the provider.
    InFlight,
    /// Waiting for the user to confirm receipt.
    WaitUserConfirm,
    /// Paid.
    Succeeded,
    /// Definitely failed.
    Failed,
    /// Cancelled at the provider.
    Cancelled,
}

impl PayoutStatus {
    /// The state after a provider's `answer`; `Ok(self)` means no change. `Unknown` and
    /// `NotFound` never end a transfer: from `ACCEPTED` they mean it is (being) sent, so
    /// `PROCESSING`; otherwise the state stays. A repeated definite answer (a success
    /// reported twice) is no change. A definite answer contradicting a terminal state, or
    /// any definite answer for a transfer never marked as sent, is refused: an operator
    /// looks at it, nobody guesses.
    pub fn on_answer(self, answer: TransferAnswer) -> Result<PayoutStatus, IllegalTransition> {
        use PayoutStatus as S;
        use TransferAnswer as A;
        let target = match answer {
            A::Unknown | A::NotFound => {
                return Ok(if self == S::Accepted {
                    S::Processing
                } else {
                    self
                })
            }
            A::InFlight => S::Processing,
            A::WaitUserConfirm => S::WaitUserConfirm,
            A::Succeeded => S::Succeeded,
            A::Failed => S::Failed,
            A::Cancelled => S::Cancelled,
        };
        if target == self {
            return Ok(self);
        }
        if self == S::Accepted {
            // Definite answers belong to a sent transfer: mark PROCESSING before sending.
            return Err(IllegalTransition {
                from: self.as_str(),
                to: target.as_str(),
            });
        }
        self.transition(target)
    }

    /// Whether the provider may still move the money (the worker keeps asking).
    pub fn is_open(self) -> bool {
        !self.is_terminal()
    }
}

/// The ledger entry kind that must be posted, in the same transaction, when a payout of
/// `kind` moves to `to`; `None` when nothing is posted. A withdrawal's hold is debited on
/// success and released on failure or cancellation; a payout charges its funding account
/// on success only (nothing was held).
pub fn ledger_effect(kind: PayoutKind, to: PayoutStatus) -> Option<EntryKind> {
    match (kind, to) {
        (PayoutKind::Withdrawal, PayoutStatus::Succeeded) => Some(EntryKind::WithdrawalDebit),
        (PayoutKind::Withdrawal, PayoutStatus::Failed | PayoutStatus::Cancelled) => {
            Some(EntryKind::Release)
        }
        (PayoutKind::Payout, PayoutStatus::Succeeded) => Some(EntryKind::Payout),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::PayoutStatus::*;
    use super::*;
    use crate::transition::assert_table_is_exact;

    #[test]
    fn table_is_exactly_the_documented_one() {
        assert_table_is_exact(&[
            (Accepted, Processing),
            (Accepted, Failed),
            (Accepted, Cancelled),
            (Processing, WaitUserConfirm),
            (Processing, Succeeded),
            (Processing, Failed),
            (Processing, Cancelled),
            (WaitUserConfirm, Processing),
            (WaitUserConfirm, Succeeded),
            (WaitUserConfirm, Failed),
            (WaitUserConfirm, Cancelled),
        ]);
        for s in [Succeeded, Failed, Cancelled] {
            assert!(s.is_terminal());
            assert!(!s.is_open());
        }
        assert!(Processing.is_open());
        for k in PayoutKind::ALL {
            assert_eq!(PayoutKind::parse(k.as_str()), Some(*k));
        }
    }

    #[test]
    fn an_unknown_answer_never_fails_a_transfer() {
        for s in PayoutStatus::ALL {
            for a in [TransferAnswer::Unknown, TransferAnswer::NotFound] {
                let next = s.on_answer(a).unwrap();
                assert_eq!(next, if *s == Accepted { Processing } else { *s });
                if *s != Failed {
                    assert_ne!(next, Failed, "{s:?} + {a:?}");
                }
            }
        }
    }

    #[test]
    fn definite_answers_move_sent_transfers_and_repeat_harmlessly() {
        use TransferAnswer as A;
        assert_eq!(Processing.on_answer(A::Succeeded), Ok(Succeeded));
        assert_eq!(
            Processing.on_answer(A::WaitUserConfirm),
            Ok(WaitUserConfirm)
        );
        assert_eq!(WaitUserConfirm.on_answer(A::InFlight), Ok(Processing));
        assert_eq!(WaitUserConfirm.on_answer(A::Cancelled), Ok(Cancelled));
        // A success reported twice is no change (and so no second debit).
        assert_eq!(Succeeded.on_answer(A::Succeeded), Ok(Succeeded));
        // Contradictions and unsent transfers are refused.
        assert!(Succeeded.on_answer(A::Failed).is_err());
        assert!(Failed.on_answer(A::Succeeded).is_err());
        assert!(Accepted.on_answer(A::Succeeded).is_err());
        assert!(Succeeded.on_answer(A::InFlight).is_err());
    }

    #[test]
    fn ledger_effects_end_every_hold() {
        use PayoutKind::*;
        assert_eq!(
            ledger_effect(Withdrawal, Succeeded),
            Some(EntryKind::WithdrawalDebit)
        );
        assert_eq!(ledger_effect(Withdrawal, Failed), Some(EntryKind::Release));
        assert_eq!(
            ledger_effect(Withdrawal, Cancelled),
            Some(EntryKind::Release)
        );
        assert_eq!(ledger_effect(Payout, Succeeded), Some(EntryKind::Payout));
        assert_eq!(ledger_effect(Payout, Failed), None);
        for s in [Accepted, Processing, WaitUserConfirm] {
            assert_eq!(ledger_effect(Withdrawal, s), None);
            assert_eq!(ledger_effect(Payout, s), None);
        }
        // Every terminal state of a withdrawal ends its hold.
        for s in PayoutStatus::ALL.iter().filter(|s| s.is_terminal()) {
            assert!(ledger_effect(Withdrawal, *s).is_some());
        }
    }
}
