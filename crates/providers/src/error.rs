//! Errors of the provider adapters.
//!
//! The split that matters to callers is [`ProviderError::is_outcome_unknown`]: a call whose
//! outcome is unknown (timeout, 5xx, connection lost after sending, an answer we cannot
//! trust or read) may have been carried out by the provider, so the caller must query
//! before acting (never re-issue a payout or switch an order number on it).

use crate::amount::AmountError;
use crate::keys::KeyError;

/// Why a signature, a decryption or a signed message was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// A header or field that carries the signature is missing.
    #[error("missing signature field `{0}`")]
    Missing(&'static str),
    /// The message names a key (certificate serial or public-key id) we do not hold.
    #[error("unknown verification key `{0}`")]
    UnknownKey(String),
    /// The signature is not valid base64 or does not verify.
    #[error("signature does not verify")]
    Invalid,
    /// The signed timestamp is outside the accepted window (replay or clock skew).
    #[error("timestamp {timestamp} is outside the accepted window of {window_secs} s")]
    Expired {
        /// The timestamp the message carried (Unix seconds).
        timestamp: i64,
        /// The accepted distance from now, in seconds.
        window_secs: i64,
    },
    /// A header or field is present but malformed (e.g. a non-numeric timestamp).
    #[error("malformed signature field: {0}")]
    Malformed(String),
    /// AEAD decryption failed: wrong key, wrong nonce, wrong associated data or tampering.
    #[error("decryption failed (wrong key or tampered ciphertext)")]
    Decrypt,
    /// The signed message does not belong to this merchant account.
    #[error("message belongs to another merchant/app: {0}")]
    WrongAccount(String),
}

/// Errors of provider calls and of notification parsing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// The outcome is unknown: timeout, connection broken after the request was sent, or a
    /// 5xx / "system busy" answer. The provider may have carried the request out: query
    /// before acting.
    #[error("outcome unknown during {operation}: {reason}")]
    Unknown {
        /// What we were doing (`create_payment`, `refund`...).
        operation: &'static str,
        /// Why, for logs; may carry the provider's code and message.
        reason: String,
    },
    /// The request was certainly not delivered (connection refused before sending): safe to retry.
    #[error("provider unreachable during {operation}: {reason}")]
    Unreachable {
        /// What we were doing.
        operation: &'static str,
        /// Why, for logs.
        reason: String,
    },
    /// The provider refused the request with a business error; its own code and message are kept.
    #[error("provider rejected {operation}: {provider_code}: {message}")]
    Rejected {
        /// What we were doing.
        operation: &'static str,
        /// The provider's code (`PARAM_ERROR`, `ACQ.TRADE_HAS_SUCCESS`...).
        provider_code: String,
        /// The provider's message.
        message: String,
        /// The HTTP status, when the protocol uses it (WeChat Pay).
        http_status: Option<u16>,
    },
    /// The provider says the order, refund or transfer does not exist.
    #[error("not found at provider during {operation}: {provider_code}: {message}")]
    NotFound {
        /// What we were doing.
        operation: &'static str,
        /// The provider's code (`ORDER_NOT_EXIST`, `ACQ.TRADE_NOT_EXIST`...).
        provider_code: String,
        /// The provider's message.
        message: String,
    },
    /// A response (or notification) failed signature verification: it is not from the
    /// provider. For a response, the request itself may still have been carried out.
    #[error("bad signature during {operation}: {source}")]
    Signature {
        /// What we were doing.
        operation: &'static str,
        /// What was wrong.
        source: SignatureError,
    },
    /// A correctly signed (or unsigned non-2xx) answer that we cannot read.
    #[error("malformed provider answer during {operation}: {reason}")]
    MalformedResponse {
        /// What we were doing.
        operation: &'static str,
        /// Why, for logs.
        reason: String,
    },
    /// An incoming notification that cannot be parsed (before or after verification).
    #[error("malformed notification: {0}")]
    MalformedNotification(String),
    /// The request cannot be sent as asked (unsupported product, missing payer, bad currency...).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// An amount could not be converted exactly.
    #[error(transparent)]
    Amount(#[from] AmountError),
    /// A key could not be loaded or used.
    #[error(transparent)]
    Key(#[from] KeyError),
}

impl ProviderError {
    /// Whether the provider may have carried the request out: the caller must query
    /// before retrying with new identifiers or telling anyone it failed.
    pub fn is_outcome_unknown(&self) -> bool {
        matches!(
            self,
            ProviderError::Unknown { .. }
                | ProviderError::Signature { .. }
                | ProviderError::MalformedResponse { .. }
        )
    }

    /// The provider's own error code, when it gave one.
    pub fn provider_code(&self) -> Option<&str> {
        match self {
            ProviderError::Rejected { provider_code, .. }
            | ProviderError::NotFound { provider_code, .. } => Some(provider_code),
            _ => None,
        }
    }
}
