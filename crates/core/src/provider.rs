//! Which payment provider took (or will take) the money. Only the name lives here; the
//! protocols live in `paydesk-providers`.

use serde::{Deserialize, Serialize};

/// A payment provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// WeChat Pay (API v3).
    Wechatpay,
    /// Alipay (OpenAPI, RSA2).
    Alipay,
}

impl Provider {
    /// Both providers.
    pub const ALL: &'static [Self] = &[Self::Wechatpay, Self::Alipay];

    /// The stable name, as in URLs and storage: `wechatpay`, `alipay`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wechatpay => "wechatpay",
            Self::Alipay => "alipay",
        }
    }

    /// Parses the stable name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|v| v.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn names_round_trip() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Some(*p));
        }
        assert_eq!(Provider::parse("WECHATPAY"), None);
    }
}
