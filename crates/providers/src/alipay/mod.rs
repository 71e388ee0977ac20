//! Alipay OpenAPI with RSA2 signatures: the adapter ([`AlipayClient`]) and the protocol
//! pieces both sides use ([`sign`], [`notify`], [`wire`]).

pub mod client;
pub mod map;
pub mod notify;
pub mod sign;
pub mod wire;

pub use client::{AlipayClient, AlipayConfig, PRODUCTION_GATEWAY};

#[cfg(test)]
mod client_tests;
