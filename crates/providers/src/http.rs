//! The one place HTTP errors become provider outcomes.
//!
//! A request that may have reached the provider and got no trustworthy answer is
//! [`ProviderError::Unknown`]; only a connection that failed before anything was sent is
//! [`ProviderError::Unreachable`].

use crate::error::ProviderError;
use std::time::Duration;

/// A raw HTTP answer.
pub(crate) struct RawResponse {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// A header as text, if present and visible ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Largest API answer we read; provider answers are a few KiB.
pub(crate) const MAX_ANSWER_BYTES: usize = 4 << 20;
/// Largest bill file we read.
pub(crate) const MAX_BILL_BYTES: usize = 512 << 20;

/// Sends `request` with a per-call timeout covering the whole exchange, body included.
pub(crate) async fn send(
    operation: &'static str,
    request: reqwest::RequestBuilder,
    timeout_ms: u64,
) -> Result<RawResponse, ProviderError> {
    send_limited(operation, request, timeout_ms, MAX_ANSWER_BYTES).await
}

/// [`send`] with an explicit body size limit: a larger body is refused, never buffered.
pub(crate) async fn send_limited(
    operation: &'static str,
    request: reqwest::RequestBuilder,
    timeout_ms: u64,
    max_body_bytes: usize,
) -> Result<RawResponse, ProviderError> {
    let mut response = request
        .timeout(Duration::from_millis(timeout_ms))
        .send()
        .await
        .map_err(|e| classify(operation, &e))?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| classify(operation, &e))?
    {
        if body.len() + chunk.len() > max_body_bytes {
            return Err(ProviderError::MalformedResponse {
                operation,
                reason: format!("answer larger than {max_body_bytes} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

fn classify(operation: &'static str, e: &reqwest::Error) -> ProviderError {
    // A connect error means no byte of the request left us: the provider cannot have acted.
    if e.is_connect() && !e.is_timeout() {
        ProviderError::Unreachable {
            operation,
            reason: e.to_string(),
        }
    } else {
        ProviderError::Unknown {
            operation,
            reason: if e.is_timeout() {
                format!("timeout: {e}")
            } else {
                e.to_string()
            },
        }
    }
}

/// Builds the shared HTTP client: rustls, bounded connect time, no redirects (a provider
/// API never redirects; following one would send signed requests elsewhere).
pub(crate) fn default_client(connect_timeout_ms: u64) -> Result<reqwest::Client, ProviderError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_millis(connect_timeout_ms))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("paydesk/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ProviderError::InvalidRequest(format!("cannot build HTTP client: {e}")))
}

/// An identifier as one URL path segment. Merchant numbers are `[0-9A-Za-z_-*|]` at both
/// providers; anything else (a `/`, `?`, `.`...) is refused so an id can never change the path.
pub(crate) fn path_segment(id: &str) -> Result<String, ProviderError> {
    if id.is_empty() || id.len() > 64 {
        return Err(ProviderError::InvalidRequest(format!(
            "identifier must be 1 to 64 characters, got {}",
            id.len()
        )));
    }
    let mut out = String::with_capacity(id.len());
    for c in id.chars() {
        match c {
            'a'..='z' | 'A'..='Z' | '0'..='9' | '-' | '_' | '*' => out.push(c),
            '|' => out.push_str("%7C"),
            _ => {
                return Err(ProviderError::InvalidRequest(format!(
                    "identifier `{}` has a character outside [0-9A-Za-z_-*|]",
                    id.chars().take(64).collect::<String>()
                )))
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_cannot_escape() {
        assert_eq!(path_segment("A1_b-2*").unwrap(), "A1_b-2*");
        assert_eq!(path_segment("a|b").unwrap(), "a%7Cb");
        for bad in ["", "..", "../x", "x?y=1", "a/b", "é", &"x".repeat(65)] {
            assert!(path_segment(bad).is_err(), "{bad:?}");
        }
    }
}
