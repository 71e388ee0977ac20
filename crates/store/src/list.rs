//! Listing pay orders of a business line over a time range, newest first, with keyset
//! paging; [`TieredStore`](crate::TieredStore) answers it from both tiers.

use crate::PayOrder;
use paydesk_core::PayOrderStatus;

/// Which pay orders to list: one business line's, created in
/// `[created_from_ms, created_to_ms)`, optionally of one status, ordered by
/// `(created_at_ms, id)` descending, strictly after the cursor `before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayOrderQuery {
    /// The business line.
    pub business_line_id: String,
    /// Created at or after (unix ms).
    pub created_from_ms: i64,
    /// Created before (unix ms).
    pub created_to_ms: i64,
    /// Only this status.
    pub status: Option<PayOrderStatus>,
    /// Keyset cursor: the `(created_at_ms, id)` of the last order of the previous page.
    pub before: Option<(i64, String)>,
    /// Most orders returned.
    pub limit: i64,
}

/// The sort key: newest first, then id descending.
pub fn list_key(o: &PayOrder) -> (i64, &str) {
    (o.created_at_ms, o.id.as_str())
}

/// Merges two pages answered for the same query (each sorted newest first, each the
/// top `limit` of its tier) into the top `limit` of their union, an order present in
/// both counted once and taken from `preferred` (hot). Exact: any order among the top
/// `limit` distinct orders is among the top `limit` of each tier holding it.
pub fn merge_pages(preferred: Vec<PayOrder>, other: Vec<PayOrder>, limit: usize) -> Vec<PayOrder> {
    let seen: std::collections::HashSet<String> = preferred.iter().map(|o| o.id.clone()).collect();
    let mut all: Vec<PayOrder> = preferred;
    all.extend(other.into_iter().filter(|o| !seen.contains(&o.id)));
    all.sort_by(|a, b| list_key(b).cmp(&list_key(a)));
    all.truncate(limit);
    all
}
