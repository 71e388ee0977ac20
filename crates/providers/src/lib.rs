//! paydesk's provider adapters: one trait ([`PaymentProvider`]) and one module per
//! provider — [`wechatpay`] (API v3) and [`alipay`] (OpenAPI, RSA2).
//!
//! Each module holds the protocol's signing, verification and encryption for *both* sides
//! (merchant and provider), so the sandbox can reuse them, and wire types that keep the
//! provider's own field names. Everything paydesk-facing is in [`model`], in paydesk's words.
//!
//! Outcome rule: a timeout, a connection lost after sending, a 5xx or an answer we cannot
//! trust is [`ProviderError::Unknown`]-like ([`ProviderError::is_outcome_unknown`]): query
//! before acting.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod alipay;
pub mod amount;
pub mod bill;
pub mod error;
mod http;
pub mod keys;
pub mod model;
pub mod provider;
#[cfg(test)]
mod testserver;
#[cfg(test)]
mod vectors;
pub mod wechatpay;

pub use error::{ProviderError, SignatureError};
pub use keys::{Certificate, KeyError, KeyRing, PrivateKey, PublicKey};
pub use provider::PaymentProvider;
