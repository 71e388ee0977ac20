//! WeChat Pay API v3: the adapter ([`WechatPayClient`]) and the protocol pieces both sides
//! use ([`sign`], [`notify`], [`wire`]).

pub mod client;
pub mod map;
pub mod notify;
pub mod sign;
pub mod wire;

pub use client::{WechatPayClient, WechatPayConfig, PRODUCTION_BASE_URL};
pub use sign::ApiV3Key;

#[cfg(test)]
mod client_tests;
