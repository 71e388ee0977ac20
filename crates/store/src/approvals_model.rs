//! Records for maker-checker approvals: an admin action held until a second operator
//! approves or rejects it.

/// Where an approval stands. `PENDING -> APPROVED | REJECTED`, nothing else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApprovalStatus {
    /// Waiting for a second operator.
    Pending,
    /// Approved: the action was (or is being) run.
    Approved,
    /// Rejected: the action never runs.
    Rejected,
}

impl ApprovalStatus {
    /// The stored and API name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "PENDING",
            ApprovalStatus::Approved => "APPROVED",
            ApprovalStatus::Rejected => "REJECTED",
        }
    }

    /// The status a stored or API name names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "PENDING" => Some(ApprovalStatus::Pending),
            "APPROVED" => Some(ApprovalStatus::Approved),
            "REJECTED" => Some(ApprovalStatus::Rejected),
            _ => None,
        }
    }
}

/// An action an operator asked for that needs a second operator's approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approval {
    /// `apr_` id.
    pub id: String,
    /// The gated action's name (`business_line.rotate_secret`, ...).
    pub action: String,
    /// What it acts on (the request path's id).
    pub target: String,
    /// The request, as the server stores it (sealed when it carries secrets).
    pub payload_json: String,
    /// The maker's actor string.
    pub requested_by: String,
    /// When it was asked for (unix ms).
    pub requested_at_ms: i64,
    /// Where it stands.
    pub status: ApprovalStatus,
    /// The checker's actor string, once decided.
    pub decided_by: Option<String>,
    /// When it was decided (unix ms).
    pub decided_at_ms: Option<i64>,
    /// Bumped by every change; decisions are conditional on it.
    pub version: i64,
}
