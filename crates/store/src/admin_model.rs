//! Records of the checkout rules' versions, operators and their sessions, and the
//! decision sample. Timestamps are UTC unix milliseconds (`*_ms`).

/// One published rule set version. Immutable once written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleVersion {
    /// 1, 2, 3, ... in publish order.
    pub version: i64,
    /// The rule set as JSON (without version metadata; that is the other fields).
    pub document_json: String,
    /// Who published it (an operator name, or `paydesk` for the shipped example).
    pub author: String,
    /// Why.
    pub comment: String,
    /// When.
    pub created_at_ms: i64,
}

/// A version without its document, for lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleVersionSummary {
    /// The version number.
    pub version: i64,
    /// Who published it.
    pub author: String,
    /// Why.
    pub comment: String,
    /// When.
    pub created_at_ms: i64,
}

/// The active version pointer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRuleVersion {
    /// The active version; 0 before the first publish.
    pub version: i64,
    /// Who last switched it.
    pub updated_by: String,
    /// When it was last switched.
    pub updated_at_ms: i64,
}

/// A new version to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRuleVersion {
    /// The rule set as JSON.
    pub document_json: String,
    /// Who publishes it.
    pub author: String,
    /// Why.
    pub comment: String,
    /// When.
    pub created_at_ms: i64,
}

/// What an operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorRole {
    /// Everything, including publish and roll back.
    Admin,
    /// Read, validate, simulate, diff; no writes.
    Viewer,
}

impl OperatorRole {
    /// The stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "ADMIN",
            Self::Viewer => "VIEWER",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ADMIN" => Some(Self::Admin),
            "VIEWER" => Some(Self::Viewer),
            _ => None,
        }
    }
}

/// Whether an operator may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorStatus {
    /// May sign in.
    Active,
    /// Refused.
    Disabled,
}

impl OperatorStatus {
    /// The stable stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Disabled => "DISABLED",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ACTIVE" => Some(Self::Active),
            "DISABLED" => Some(Self::Disabled),
            _ => None,
        }
    }
}

/// A person (or automation) using the console and the admin API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operator {
    /// Internal id (`op_...`).
    pub id: String,
    /// Unique name, shown as the author of what they publish.
    pub name: String,
    /// What they may do.
    pub role: OperatorRole,
    /// SHA-256 (hex) of their credential; the credential itself is never stored.
    pub token_hash: String,
    /// Whether they may sign in.
    pub status: OperatorStatus,
    /// Creation time.
    pub created_at_ms: i64,
}

/// A console sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorSession {
    /// SHA-256 (hex) of the session cookie's value.
    pub token_hash: String,
    /// Whose session.
    pub operator_id: String,
    /// Sign-in time.
    pub created_at_ms: i64,
    /// After this the session is refused.
    pub expires_at_ms: i64,
}

/// One recorded checkout decision's facts, for simulations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionSample {
    /// The slot it occupies (the sample holds a fixed number of slots).
    pub slot: i64,
    /// The facts as JSON.
    pub facts_json: String,
    /// When it was recorded.
    pub created_at_ms: i64,
}
