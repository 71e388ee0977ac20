//! The acquiring flow: merchant accounts and their provider clients (`accounts`; those
//! kept encrypted in the database: `stored_accounts`), the
//! decisions of paying, confirming and closing (`flow`), provider callbacks
//! (`callbacks`) and carrying refunds out (`refunds`). The checkout pages and the business
//! refunds API call into it; the workers in `crate::workers` drive it when nobody calls.

pub mod accounts;
pub mod callbacks;
pub mod flow;
pub mod refunds;
pub mod stored_accounts;
