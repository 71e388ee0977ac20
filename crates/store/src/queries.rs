//! Every SQL statement the store runs, written once with `?` placeholders and
//! rewritten per backend when the store is built.

use crate::Backend;

const BUSINESS_LINE_COLS: &str = "id, app_id, name, secret_ciphertext, notify_url, \
     allowed_url_prefixes, status, created_at_ms";

pub(crate) const PAY_ORDER_COLS: &str =
    "id, business_line_id, business_order_no, status, amount_minor, \
     currency, refunded_amount_minor, subject, buyer_id, seller_id, facts_json, metadata_json, \
     notify_url, return_url, checkout_token, created_at_ms, updated_at_ms, expire_at_ms, \
     paid_at_ms, closed_at_ms, version";

pub(crate) const EVENT_COLS: &str =
    "id, business_line_id, pay_order_id, event_type, payload_json, \
     notify_url, status, attempts_total, failures_in_round, next_attempt_at_ms, lease_owner, \
     lease_until_ms, created_at_ms, delivered_at_ms, last_error, version";

pub(crate) const ATTEMPT_COLS: &str =
    "event_id, attempt_no, started_at_ms, duration_ms, http_status, succeeded, error";

/// The prepared statement texts for one backend.
pub(crate) struct Queries {
    pub insert_business_line: String,
    pub business_line_by_app_id: String,
    pub business_line_by_id: String,
    pub list_business_lines: String,
    pub set_business_line_status: String,
    pub insert_nonce: String,
    pub purge_nonces: String,
    pub insert_order_key: String,
    pub insert_pay_order: String,
    pub pay_order_by_id: String,
    pub pay_order_by_key: String,
    pub pay_order_by_token: String,
    pub close_pay_order: String,
    pub expired_waiting: String,
    pub insert_event: String,
    pub due_events: String,
    pub claim_event: String,
    pub insert_attempt: String,
    pub finish_attempt: String,
    pub event_by_id: String,
    pub events_for_order: String,
    pub attempts_for_event: String,
    pub requeue_event: String,
    pub outbox_counts: String,
    pub rules: RuleQueries,
    pub payments: PaymentQueries,
    pub archive: ArchiveQueries,
    pub accounts: AccountQueries,
    pub console: ConsoleQueries,
    pub ledger: LedgerQueries,
    pub reconciliation: ReconciliationQueries,
    pub approvals: ApprovalQueries,
    pub balance: BalanceQueries,
}

const OPERATOR_COLS: &str = "id, name, role, token_hash, status, created_at_ms";

/// Statements for rule versions, operators and the decision sample.
pub(crate) struct RuleQueries {
    pub lock_active: String,
    pub max_version: String,
    pub insert_version: String,
    pub set_active: String,
    pub active: String,
    pub version_exists: String,
    pub version_by_number: String,
    pub list_versions: String,
    pub insert_operator: String,
    pub operator_by_hash: String,
    pub list_operators: String,
    pub set_operator_status: String,
    pub insert_session: String,
    pub session_operator: String,
    pub delete_session: String,
    pub purge_sessions: String,
    pub update_sample: String,
    pub insert_sample: String,
    pub samples: String,
}

impl RuleQueries {
    fn new(backend: Backend) -> Self {
        let q = |s: &str| backend.placeholders(s);
        let purge_sessions = match backend {
            Backend::MySql => "DELETE FROM operator_sessions WHERE expires_at_ms < ? LIMIT ?",
            _ => {
                "DELETE FROM operator_sessions WHERE token_hash IN \
                 (SELECT token_hash FROM operator_sessions WHERE expires_at_ms < ? LIMIT ?)"
            }
        };
        let op_cols = OPERATOR_COLS
            .split(", ")
            .map(|c| format!("o.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        RuleQueries {
            // Takes the pointer's row lock (and checks the expectation) before the
            // version number is chosen, so concurrent publishers serialise on it.
            lock_active: q("UPDATE rule_set_active SET updated_at_ms = ? \
                 WHERE id = 1 AND version = ?"),
            max_version: "SELECT COALESCE(MAX(version), 0) FROM rule_set_versions".into(),
            insert_version: q("INSERT INTO rule_set_versions \
                 (version, document_json, author, comment, created_at_ms) VALUES (?, ?, ?, ?, ?)"),
            set_active: q("UPDATE rule_set_active SET version = ?, updated_by = ?, \
                 updated_at_ms = ? WHERE id = 1 AND version = ?"),
            active: "SELECT version, updated_by, updated_at_ms FROM rule_set_active WHERE id = 1"
                .into(),
            version_exists: q("SELECT COUNT(*) FROM rule_set_versions WHERE version = ?"),
            version_by_number: q(
                "SELECT version, document_json, author, comment, created_at_ms \
                 FROM rule_set_versions WHERE version = ?",
            ),
            list_versions: q("SELECT version, author, comment, created_at_ms \
                 FROM rule_set_versions ORDER BY version DESC LIMIT ?"),
            insert_operator: q(&format!(
                "INSERT INTO operators ({OPERATOR_COLS}) VALUES (?, ?, ?, ?, ?, ?)"
            )),
            operator_by_hash: q(&format!(
                "SELECT {OPERATOR_COLS} FROM operators WHERE token_hash = ?"
            )),
            list_operators: format!("SELECT {OPERATOR_COLS} FROM operators ORDER BY name"),
            set_operator_status: q(
                "UPDATE operators SET status = ? WHERE name = ? AND status <> ?",
            ),
            insert_session: q("INSERT INTO operator_sessions \
                 (token_hash, operator_id, created_at_ms, expires_at_ms) VALUES (?, ?, ?, ?)"),
            session_operator: q(&format!(
                "SELECT {op_cols} FROM operator_sessions s \
                 JOIN operators o ON o.id = s.operator_id \
                 WHERE s.token_hash = ? AND s.expires_at_ms > ?"
            )),
            delete_session: q("DELETE FROM operator_sessions WHERE token_hash = ?"),
            purge_sessions: q(purge_sessions),
            update_sample: q(
                "UPDATE decision_samples SET facts_json = ?, created_at_ms = ? \
                 WHERE slot = ?",
            ),
            insert_sample: q(
                "INSERT INTO decision_samples (slot, facts_json, created_at_ms) \
                 VALUES (?, ?, ?)",
            ),
            samples: q(
                "SELECT slot, facts_json, created_at_ms FROM decision_samples \
                 ORDER BY created_at_ms DESC, slot LIMIT ?",
            ),
        }
    }
}

impl Queries {
    pub(crate) fn new(backend: Backend) -> Self {
        let q = |s: String| backend.placeholders(&s);
        // MySQL has no DELETE ... WHERE key IN (SELECT ... LIMIT) on the same table;
        // every backend accepts a plain DELETE bounded by the expiry index instead,
        // except that only MySQL takes LIMIT on DELETE directly.
        let purge_nonces = match backend {
            Backend::MySql => "DELETE FROM request_nonces WHERE expires_at_ms < ? LIMIT ?".into(),
            _ => "DELETE FROM request_nonces WHERE (app_id, nonce) IN \
                  (SELECT app_id, nonce FROM request_nonces WHERE expires_at_ms < ? LIMIT ?)"
                .to_string(),
        };
        Queries {
            insert_business_line: q(format!(
                "INSERT INTO business_lines ({BUSINESS_LINE_COLS}, updated_at_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            business_line_by_app_id: q(format!(
                "SELECT {BUSINESS_LINE_COLS} FROM business_lines WHERE app_id = ?"
            )),
            business_line_by_id: q(format!(
                "SELECT {BUSINESS_LINE_COLS} FROM business_lines WHERE id = ?"
            )),
            list_business_lines: format!(
                "SELECT {BUSINESS_LINE_COLS} FROM business_lines ORDER BY name"
            ),
            set_business_line_status: q(
                "UPDATE business_lines SET status = ?, updated_at_ms = ? WHERE id = ? OR name = ?"
                    .into(),
            ),
            insert_nonce: q(
                "INSERT INTO request_nonces (app_id, nonce, expires_at_ms) VALUES (?, ?, ?)".into(),
            ),
            purge_nonces: q(purge_nonces),
            insert_order_key: q("INSERT INTO business_order_keys \
                 (business_line_id, business_order_no, pay_order_id, created_at_ms) \
                 VALUES (?, ?, ?, ?)"
                .into()),
            insert_pay_order: q(format!(
                "INSERT INTO pay_orders ({PAY_ORDER_COLS}) VALUES \
                 (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            pay_order_by_id: q(format!(
                "SELECT {PAY_ORDER_COLS} FROM pay_orders WHERE id = ?"
            )),
            pay_order_by_key: q(format!(
                "SELECT {PAY_ORDER_COLS} FROM pay_orders WHERE id = \
                 (SELECT pay_order_id FROM business_order_keys \
                  WHERE business_line_id = ? AND business_order_no = ?)"
            )),
            pay_order_by_token: q(format!(
                "SELECT {PAY_ORDER_COLS} FROM pay_orders WHERE checkout_token = ?"
            )),
            // Never while an attempt is open: the buyer could still pay it.
            close_pay_order: q(
                "UPDATE pay_orders SET status = 'CLOSED', closed_at_ms = ?, \
                 updated_at_ms = ?, version = version + 1 \
                 WHERE id = ? AND status = 'WAITING' \
                 AND NOT EXISTS (SELECT 1 FROM payment_attempts a \
                                 WHERE a.pay_order_id = pay_orders.id \
                                 AND a.status IN ('CREATING', 'PENDING'))"
                    .into(),
            ),
            expired_waiting: q(format!(
                "SELECT {PAY_ORDER_COLS} FROM pay_orders \
                 WHERE status = 'WAITING' AND expire_at_ms < ? ORDER BY expire_at_ms LIMIT ?"
            )),
            insert_event: q(format!(
                "INSERT INTO outbox_events ({EVENT_COLS}, updated_at_ms) VALUES \
                 (?, ?, ?, ?, ?, ?, 'PENDING', 0, 0, ?, NULL, NULL, ?, NULL, NULL, 0, ?)"
            )),
            due_events: q(format!(
                "SELECT {EVENT_COLS} FROM outbox_events \
                 WHERE status = 'PENDING' AND next_attempt_at_ms <= ? \
                 AND (lease_until_ms IS NULL OR lease_until_ms < ?) \
                 ORDER BY next_attempt_at_ms LIMIT ?"
            )),
            claim_event: q(
                "UPDATE outbox_events SET lease_owner = ?, lease_until_ms = ?, \
                 updated_at_ms = ?, version = version + 1 \
                 WHERE id = ? AND status = 'PENDING' AND version = ?"
                    .into(),
            ),
            insert_attempt: q(format!(
                "INSERT INTO notification_attempts ({ATTEMPT_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
            )),
            finish_attempt: q("UPDATE outbox_events SET status = ?, \
                 attempts_total = attempts_total + 1, failures_in_round = failures_in_round + ?, \
                 next_attempt_at_ms = ?, delivered_at_ms = ?, last_error = ?, \
                 lease_owner = NULL, lease_until_ms = NULL, updated_at_ms = ?, \
                 version = version + 1 \
                 WHERE id = ? AND status = 'PENDING' AND lease_owner = ? \
                 AND attempts_total = ?"
                .into()),
            event_by_id: q(format!(
                "SELECT {EVENT_COLS} FROM outbox_events WHERE id = ?"
            )),
            events_for_order: q(format!(
                "SELECT {EVENT_COLS} FROM outbox_events WHERE pay_order_id = ? \
                 ORDER BY created_at_ms, id"
            )),
            attempts_for_event: q(format!(
                "SELECT {ATTEMPT_COLS} FROM notification_attempts WHERE event_id = ? \
                 ORDER BY attempt_no"
            )),
            requeue_event: q(
                "UPDATE outbox_events SET status = 'PENDING', failures_in_round = 0, \
                 next_attempt_at_ms = ?, lease_owner = NULL, lease_until_ms = NULL, \
                 updated_at_ms = ?, version = version + 1 \
                 WHERE id = ? AND status IN ('FAILED', 'DELIVERED')"
                    .into(),
            ),
            outbox_counts: "SELECT \
                 (SELECT COUNT(*) FROM outbox_events WHERE status = 'PENDING'), \
                 (SELECT COUNT(*) FROM outbox_events WHERE status = 'FAILED')"
                .into(),
            rules: RuleQueries::new(backend),
            payments: PaymentQueries::new(backend),
            archive: ArchiveQueries::new(backend),
            accounts: AccountQueries::new(backend),
            console: ConsoleQueries::new(backend),
            ledger: LedgerQueries::new(backend),
            reconciliation: ReconciliationQueries::new(backend),
            approvals: ApprovalQueries::new(backend),
            balance: BalanceQueries::new(backend),
        }
    }
}

/// Columns of `pay_order_balance_parts`, in the order of the `BalancePart` model.
pub(crate) const BALANCE_PART_COLS: &str =
    "pay_order_id, business_line_id, user_id, currency, amount_minor, status, \
     refunded_minor, created_at_ms, updated_at_ms, version";

/// Statements for balance parts (`sql_balance.rs`). Every change runs under its order's
/// row lock and is conditional on the part's version and status besides.
pub(crate) struct BalanceQueries {
    pub by_order: String,
    pub insert: String,
    pub move_part: String,
    pub reserve_refund: String,
    pub release_refund: String,
}

impl BalanceQueries {
    fn new(backend: Backend) -> Self {
        let q = |s: String| backend.placeholders(&s);
        BalanceQueries {
            by_order: q(format!(
                "SELECT {BALANCE_PART_COLS} FROM pay_order_balance_parts WHERE pay_order_id = ?"
            )),
            insert: q(format!(
                "INSERT INTO pay_order_balance_parts ({BALANCE_PART_COLS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            // `(amount, status, now, order, version, from)`: every move of a part (a
            // released part held again may change its amount).
            move_part: q(
                "UPDATE pay_order_balance_parts SET amount_minor = ?, status = ?, \
                 updated_at_ms = ?, version = version + 1 \
                 WHERE pay_order_id = ? AND version = ? AND status = ?"
                    .into(),
            ),
            // `(amount, now, order, amount)`: never past the captured amount.
            reserve_refund: q("UPDATE pay_order_balance_parts \
                 SET refunded_minor = refunded_minor + ?, updated_at_ms = ?, \
                 version = version + 1 WHERE pay_order_id = ? AND status = 'CAPTURED' \
                 AND refunded_minor + ? <= amount_minor"
                .into()),
            // `(amount, now, order, amount)`: a failed refund's reservation given back.
            release_refund: q("UPDATE pay_order_balance_parts \
                 SET refunded_minor = refunded_minor - ?, updated_at_ms = ?, \
                 version = version + 1 WHERE pay_order_id = ? AND refunded_minor >= ?"
                .into()),
        }
    }
}

/// Columns of `payment_attempts`, in the order of the `Attempt` model.
pub(crate) const PAYMENT_ATTEMPT_COLS: &str =
    "id, pay_order_id, attempt_no, merchant_account, provider, method, product, \
     amount_minor, currency, status, provider_txn_id, paid_amount_minor, flag, paid_at_ms, \
     next_query_at_ms, queries_made, created_at_ms, updated_at_ms, version";

/// Columns of `refunds`, in the order of the `Refund` model.
pub(crate) const REFUND_COLS: &str =
    "id, business_line_id, pay_order_id, attempt_id, refund_no, business_refund_no, kind, \
     amount_minor, currency, reason, status, provider_refund_id, tries, next_action_at_ms, \
     last_error, created_at_ms, updated_at_ms, succeeded_at_ms, version, balance_amount_minor";

/// Columns of `provider_callbacks`, in the order of the `RawCallback` model.
pub(crate) const CALLBACK_COLS: &str =
    "id, provider, merchant_account, received_at_ms, headers_json, body, outcome, \
     attempt_no, pay_order_id";

/// Statements for attempts, refunds and raw provider callbacks (`sql_payments.rs`).
///
/// Transactions that decide on a pay order take its row lock first (a conditional
/// update, or `lock_order`), so every later read in them sees what the previous holder
/// committed: under PostgreSQL's READ COMMITTED each statement takes a new snapshot, and
/// a MySQL REPEATABLE READ snapshot starts at the first plain read, which comes after
/// the lock. SQLite's `BEGIN IMMEDIATE` serialises writers outright.
pub(crate) struct PaymentQueries {
    pub lock_order: String,
    pub lock_waiting_order: String,
    pub count_attempts: String,
    pub open_attempt: String,
    pub insert_attempt_key: String,
    pub insert_attempt: String,
    pub attempt_by_id: String,
    pub attempt_by_no: String,
    pub attempt_by_txn: String,
    pub attempts_for_order: String,
    pub update_attempt: String,
    pub schedule_query: String,
    pub due_queries: String,
    pub succeed_attempt: String,
    pub mark_paid: String,
    pub flagged: String,
    pub insert_refund_key: String,
    pub insert_refund_no: String,
    pub insert_refund: String,
    pub reserve_refund: String,
    pub release_refund: String,
    pub paid_attempt_of_order: String,
    pub count_refunds_of_attempt: String,
    pub count_refunds_of_order: String,
    pub refund_by_id: String,
    pub refund_by_business_no: String,
    pub refund_by_no: String,
    pub refunds_for_order: String,
    pub due_refunds: String,
    pub update_refund: String,
    pub insert_callback: String,
    pub callbacks_for_order: String,
}

impl PaymentQueries {
    fn new(backend: Backend) -> Self {
        let q = |s: String| backend.placeholders(&s);
        // SQLite has no row locks (and needs none: BEGIN IMMEDIATE); the others lock
        // the row and read its latest committed state.
        let for_update = match backend {
            Backend::Sqlite => "",
            _ => " FOR UPDATE",
        };
        PaymentQueries {
            lock_order: q(format!(
                "SELECT {PAY_ORDER_COLS} FROM pay_orders WHERE id = ?{for_update}"
            )),
            // `(now, id, now)`: locks a payable order for a new attempt.
            lock_waiting_order: q("UPDATE pay_orders SET version = version + 1, \
                 updated_at_ms = ? WHERE id = ? AND status = 'WAITING' AND expire_at_ms > ?"
                .into()),
            count_attempts: q(
                "SELECT COUNT(*) FROM payment_attempts WHERE pay_order_id = ?".into(),
            ),
            open_attempt: q(format!(
                "SELECT {PAYMENT_ATTEMPT_COLS} FROM payment_attempts \
                 WHERE pay_order_id = ? AND status IN ('CREATING', 'PENDING') \
                 ORDER BY created_at_ms, id LIMIT 1"
            )),
            insert_attempt_key: q("INSERT INTO attempt_keys \
                 (attempt_no, pay_order_id, created_at_ms) VALUES (?, ?, ?)"
                .into()),
            insert_attempt: q(format!(
                "INSERT INTO payment_attempts ({PAYMENT_ATTEMPT_COLS}) VALUES \
                 (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            attempt_by_id: q(format!(
                "SELECT {PAYMENT_ATTEMPT_COLS} FROM payment_attempts WHERE id = ?"
            )),
            attempt_by_no: q(format!(
                "SELECT {PAYMENT_ATTEMPT_COLS} FROM payment_attempts WHERE attempt_no = ?"
            )),
            attempt_by_txn: q(format!(
                "SELECT {PAYMENT_ATTEMPT_COLS} FROM payment_attempts \
                 WHERE provider_txn_id = ? ORDER BY created_at_ms, id LIMIT 1"
            )),
            attempts_for_order: q(format!(
                "SELECT {PAYMENT_ATTEMPT_COLS} FROM payment_attempts WHERE pay_order_id = ? \
                 ORDER BY created_at_ms, id"
            )),
            // `(to, txn id, next query, now, id, from)`
            update_attempt: q("UPDATE payment_attempts SET status = ?, \
                 provider_txn_id = COALESCE(?, provider_txn_id), next_query_at_ms = ?, \
                 updated_at_ms = ?, version = version + 1 WHERE id = ? AND status = ?"
                .into()),
            // `(next query, now, id, version)`
            schedule_query: q("UPDATE payment_attempts SET next_query_at_ms = ?, \
                 queries_made = queries_made + 1, updated_at_ms = ?, version = version + 1 \
                 WHERE id = ? AND version = ?"
                .into()),
            due_queries: q(format!(
                "SELECT {PAYMENT_ATTEMPT_COLS} FROM payment_attempts \
                 WHERE next_query_at_ms IS NOT NULL AND next_query_at_ms <= ? \
                 ORDER BY next_query_at_ms, id LIMIT ?"
            )),
            // `(txn id, paid amount, flag, paid at, now, id)`
            succeed_attempt: q("UPDATE payment_attempts SET status = 'SUCCEEDED', \
                 provider_txn_id = COALESCE(?, provider_txn_id), paid_amount_minor = ?, \
                 flag = ?, paid_at_ms = ?, next_query_at_ms = NULL, updated_at_ms = ?, \
                 version = version + 1 WHERE id = ? AND status <> 'SUCCEEDED'"
                .into()),
            // `(paid at, now, id)`
            mark_paid: q("UPDATE pay_orders SET status = 'PAID', paid_at_ms = ?, \
                 updated_at_ms = ?, version = version + 1 WHERE id = ? AND status = 'WAITING'"
                .into()),
            flagged: q(format!(
                "SELECT {PAYMENT_ATTEMPT_COLS} FROM payment_attempts WHERE flag IS NOT NULL \
                 ORDER BY updated_at_ms DESC, id DESC LIMIT ?"
            )),
            insert_refund_key: q("INSERT INTO refund_keys \
                 (business_line_id, business_refund_no, refund_id, created_at_ms) \
                 VALUES (?, ?, ?, ?)"
                .into()),
            insert_refund_no: q(
                "INSERT INTO refund_nos (refund_no, refund_id, created_at_ms) \
                 VALUES (?, ?, ?)"
                    .into(),
            ),
            insert_refund: q(format!(
                "INSERT INTO refunds ({REFUND_COLS}) VALUES \
                 (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            // `(amount, now, id, currency, amount)`: the reservation; never past the paid
            // amount, whatever runs at the same time.
            reserve_refund: q("UPDATE pay_orders \
                 SET refunded_amount_minor = refunded_amount_minor + ?, \
                 version = version + 1, updated_at_ms = ? \
                 WHERE id = ? AND status = 'PAID' AND currency = ? \
                 AND refunded_amount_minor + ? <= amount_minor"
                .into()),
            // `(amount, now, id, amount)`: gives a failed refund's reservation back.
            release_refund: q("UPDATE pay_orders \
                 SET refunded_amount_minor = refunded_amount_minor - ?, \
                 version = version + 1, updated_at_ms = ? \
                 WHERE id = ? AND refunded_amount_minor >= ?"
                .into()),
            paid_attempt_of_order: q("SELECT COUNT(*) FROM payment_attempts \
                 WHERE id = ? AND pay_order_id = ? AND status = 'SUCCEEDED' AND flag IS NULL"
                .into()),
            count_refunds_of_attempt: q("SELECT COUNT(*) FROM refunds WHERE attempt_id = ?".into()),
            count_refunds_of_order: q("SELECT COUNT(*) FROM refunds WHERE pay_order_id = ?".into()),
            refund_by_id: q(format!("SELECT {REFUND_COLS} FROM refunds WHERE id = ?")),
            refund_by_business_no: q(format!(
                "SELECT {REFUND_COLS} FROM refunds \
                 WHERE business_line_id = ? AND business_refund_no = ?"
            )),
            refund_by_no: q(format!(
                "SELECT {REFUND_COLS} FROM refunds WHERE refund_no = ?"
            )),
            refunds_for_order: q(format!(
                "SELECT {REFUND_COLS} FROM refunds WHERE pay_order_id = ? \
                 ORDER BY created_at_ms, id"
            )),
            due_refunds: q(format!(
                "SELECT {REFUND_COLS} FROM refunds \
                 WHERE next_action_at_ms <= ? AND status IN ('PENDING', 'PROCESSING') \
                 ORDER BY next_action_at_ms, id LIMIT ?"
            )),
            // `(status, provider id, try inc, next action, error, succeeded at, now,
            //   id, version, current status)`
            update_refund: q("UPDATE refunds SET status = ?, \
                 provider_refund_id = COALESCE(?, provider_refund_id), tries = tries + ?, \
                 next_action_at_ms = ?, last_error = COALESCE(?, last_error), \
                 succeeded_at_ms = COALESCE(?, succeeded_at_ms), updated_at_ms = ?, \
                 version = version + 1 WHERE id = ? AND version = ? AND status = ?"
                .into()),
            insert_callback: q(format!(
                "INSERT INTO provider_callbacks ({CALLBACK_COLS}) VALUES \
                 (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            callbacks_for_order: q(format!(
                "SELECT {CALLBACK_COLS} FROM provider_callbacks WHERE pay_order_id = ? \
                 ORDER BY received_at_ms, id"
            )),
        }
    }
}

/// Statements for archiving (hot -> cold) and the data generator. Lists of ids are
/// expanded per call (`in_list`), then rewritten for the backend like the rest.
pub(crate) struct ArchiveQueries {
    backend: Backend,
}

/// The `WHERE` part (on `pay_orders p`) that keeps an order in hot while any child is
/// unsettled: an event pending, a payment attempt open or due for a query, a refund in
/// flight or ABNORMAL (mirrors `OrderBundle::is_settled`).
const UNSETTLED_CHILDREN_NONE: &str = "NOT EXISTS (SELECT 1 FROM outbox_events e \
       WHERE e.pay_order_id = p.id AND e.status = 'PENDING') \
     AND NOT EXISTS (SELECT 1 FROM payment_attempts a WHERE a.pay_order_id = p.id \
       AND (a.status IN ('CREATING', 'PENDING') OR a.next_query_at_ms IS NOT NULL)) \
     AND NOT EXISTS (SELECT 1 FROM refunds r WHERE r.pay_order_id = p.id \
       AND (r.status NOT IN ('SUCCEEDED', 'FAILED') OR r.next_action_at_ms IS NOT NULL))";

/// Columns of `outbox_events` as archived: the model's plus `updated_at_ms`.
pub(crate) fn event_cols_archived() -> String {
    format!("{EVENT_COLS}, updated_at_ms")
}

impl ArchiveQueries {
    pub(crate) fn new(backend: Backend) -> Self {
        ArchiveQueries { backend }
    }

    fn q(&self, s: String) -> String {
        self.backend.placeholders(&s)
    }

    /// `?, ?, ?` with `n` placeholders.
    fn in_list(n: usize) -> String {
        vec!["?"; n.max(1)].join(", ")
    }

    /// Finished pay orders (PAID or CLOSED, no event still PENDING) last changed
    /// before a cutoff, walking the primary key from a cursor: `(cursor, cutoff, limit)`.
    /// SQLite would pick the status index and sort everything each batch; the unary
    /// `+` keeps it on the primary key walk (PostgreSQL and MariaDB walk it anyway).
    pub(crate) fn candidates(&self) -> String {
        let status = if self.backend == Backend::Sqlite {
            "+p.status"
        } else {
            "p.status"
        };
        self.q(format!(
            "SELECT {PAY_ORDER_COLS} FROM pay_orders p \
             WHERE p.id > ? AND {status} IN ('PAID', 'CLOSED') AND p.updated_at_ms < ? \
             AND {UNSETTLED_CHILDREN_NONE} ORDER BY p.id LIMIT ?"
        ))
    }

    /// Finished pay orders (PAID or CLOSED) last changed before a cutoff, walking the
    /// primary key from a cursor: `(cursor, cutoff, limit)`. The archiver reads their
    /// children next anyway and drops the orders with an unsettled one itself (see
    /// `OrderBundle::is_settled`): a `NOT EXISTS` here makes MariaDB materialise every
    /// pending event of the table for each batch.
    pub(crate) fn finished_before(&self) -> String {
        let status = if self.backend == Backend::Sqlite {
            "+status"
        } else {
            "status"
        };
        self.q(format!(
            "SELECT {PAY_ORDER_COLS} FROM pay_orders \
             WHERE id > ? AND {status} IN ('PAID', 'CLOSED') AND updated_at_ms < ? \
             ORDER BY id LIMIT ?"
        ))
    }

    /// How many orders `candidates` would visit in all: `(cutoff)`.
    pub(crate) fn count_candidates(&self) -> String {
        self.q(format!(
            "SELECT COUNT(*) FROM pay_orders p \
             WHERE p.status IN ('PAID', 'CLOSED') AND p.updated_at_ms < ? \
             AND {UNSETTLED_CHILDREN_NONE}"
        ))
    }

    /// Pay orders by id: `(ids...)`.
    pub(crate) fn orders_by_ids(&self, n: usize) -> String {
        self.q(format!(
            "SELECT {PAY_ORDER_COLS} FROM pay_orders WHERE id IN ({})",
            Self::in_list(n)
        ))
    }

    /// Events of pay orders: `(order ids...)`.
    pub(crate) fn events_by_orders(&self, n: usize) -> String {
        self.q(format!(
            "SELECT {} FROM outbox_events WHERE pay_order_id IN ({})",
            event_cols_archived(),
            Self::in_list(n)
        ))
    }

    /// Payment attempts of pay orders: `(order ids...)`.
    pub(crate) fn payment_attempts_by_orders(&self, n: usize) -> String {
        self.q(format!(
            "SELECT {PAYMENT_ATTEMPT_COLS} FROM payment_attempts WHERE pay_order_id IN ({})",
            Self::in_list(n)
        ))
    }

    /// Refunds of pay orders: `(order ids...)`.
    pub(crate) fn refunds_by_orders(&self, n: usize) -> String {
        self.q(format!(
            "SELECT {REFUND_COLS} FROM refunds WHERE pay_order_id IN ({})",
            Self::in_list(n)
        ))
    }

    /// Raw provider callbacks of pay orders: `(order ids...)`.
    pub(crate) fn callbacks_by_orders(&self, n: usize) -> String {
        self.q(format!(
            "SELECT {CALLBACK_COLS} FROM provider_callbacks WHERE pay_order_id IN ({})",
            Self::in_list(n)
        ))
    }

    /// Notification attempts of events: `(event ids...)`.
    pub(crate) fn attempts_by_events(&self, n: usize) -> String {
        self.q(format!(
            "SELECT {ATTEMPT_COLS} FROM notification_attempts WHERE event_id IN ({})",
            Self::in_list(n)
        ))
    }

    /// A multi-row insert of `rows` rows of `cols` (comma separated) into `table`.
    pub(crate) fn multi_insert(&self, table: &str, cols: &str, rows: usize) -> String {
        let width = cols.split(',').count();
        let one = format!("({})", Self::in_list(width));
        self.q(format!(
            "INSERT INTO {table} ({cols}) VALUES {}",
            vec![one.as_str(); rows.max(1)].join(", ")
        ))
    }

    pub(crate) fn insert_orders(&self, rows: usize) -> String {
        self.multi_insert("pay_orders", PAY_ORDER_COLS, rows)
    }

    pub(crate) fn insert_events(&self, rows: usize) -> String {
        self.multi_insert("outbox_events", &event_cols_archived(), rows)
    }

    pub(crate) fn insert_attempts(&self, rows: usize) -> String {
        self.multi_insert("notification_attempts", ATTEMPT_COLS, rows)
    }

    pub(crate) fn insert_payment_attempts(&self, rows: usize) -> String {
        self.multi_insert("payment_attempts", PAYMENT_ATTEMPT_COLS, rows)
    }

    pub(crate) fn insert_refunds(&self, rows: usize) -> String {
        self.multi_insert("refunds", REFUND_COLS, rows)
    }

    pub(crate) fn insert_callbacks(&self, rows: usize) -> String {
        self.multi_insert("provider_callbacks", CALLBACK_COLS, rows)
    }

    /// The never-archived attempt keys, for generated history.
    pub(crate) fn insert_attempt_keys(&self, rows: usize) -> String {
        self.multi_insert(
            "attempt_keys",
            "attempt_no, pay_order_id, created_at_ms",
            rows,
        )
    }

    /// The never-archived refund numbers, for generated history.
    pub(crate) fn insert_refund_nos(&self, rows: usize) -> String {
        self.multi_insert("refund_nos", "refund_no, refund_id, created_at_ms", rows)
    }

    /// The never-archived business refund keys, for generated history.
    pub(crate) fn insert_refund_keys(&self, rows: usize) -> String {
        self.multi_insert(
            "refund_keys",
            "business_line_id, business_refund_no, refund_id, created_at_ms",
            rows,
        )
    }

    pub(crate) fn insert_order_keys(&self, rows: usize) -> String {
        self.multi_insert(
            "business_order_keys",
            "business_line_id, business_order_no, pay_order_id, created_at_ms",
            rows,
        )
    }

    /// Deletes rows of a versioned table (`pay_orders`, `outbox_events`) still at the
    /// copied version, the ids grouped by version: `(ids of group 1..., version 1, ids
    /// of group 2..., version 2, ...)` for groups of the given sizes. Each group is a
    /// primary-key `IN` list with one version compare, which every engine runs as index
    /// lookups; a row-value `(id, version) IN (...)` list costs MariaDB a third more.
    pub(crate) fn delete_versioned(&self, table: &str, groups: &[usize]) -> String {
        let cond: Vec<String> = groups
            .iter()
            .map(|&n| format!("(id IN ({}) AND version = ?)", Self::in_list(n)))
            .collect();
        self.q(format!("DELETE FROM {table} WHERE {}", cond.join(" OR ")))
    }

    /// Deletes the attempts of events: `(event ids...)`.
    pub(crate) fn delete_attempts(&self, n: usize) -> String {
        self.q(format!(
            "DELETE FROM notification_attempts WHERE event_id IN ({})",
            Self::in_list(n)
        ))
    }

    /// Deletes raw callbacks by id (append-only: no version): `(ids...)`.
    pub(crate) fn delete_callbacks(&self, n: usize) -> String {
        self.q(format!(
            "DELETE FROM provider_callbacks WHERE id IN ({})",
            Self::in_list(n)
        ))
    }

    /// Children left for pay orders (none may be, after their deletion: one added since
    /// the read keeps the order in hot): `(order ids...)` four times, one per table.
    pub(crate) fn count_children_of_orders(&self, n: usize) -> String {
        let list = Self::in_list(n);
        let count =
            |table: &str| format!("(SELECT COUNT(*) FROM {table} WHERE pay_order_id IN ({list}))");
        self.q(format!(
            "SELECT {} + {} + {} + {}",
            count("outbox_events"),
            count("payment_attempts"),
            count("refunds"),
            count("provider_callbacks")
        ))
    }

    /// One business line's pay orders in a creation range, newest first after a keyset
    /// cursor: `(line, from, to, status or '', status or '', before_ms, before_ms,
    /// before_id, first_page, limit)`. Walks the `(business_line_id, created_at_ms)` index.
    pub(crate) fn list_orders(&self) -> String {
        self.q(format!(
            "SELECT {PAY_ORDER_COLS} FROM pay_orders \
             WHERE business_line_id = ? AND created_at_ms >= ? AND created_at_ms < ? \
             AND (status = ? OR ? = '') \
             AND (created_at_ms < ? OR (created_at_ms = ? AND (id < ? OR ?))) \
             ORDER BY created_at_ms DESC, id DESC LIMIT ?"
        ))
    }

    /// The pay order id holding a business order number: `(line, no)`.
    pub(crate) fn order_key(&self) -> String {
        self.q("SELECT pay_order_id FROM business_order_keys \
             WHERE business_line_id = ? AND business_order_no = ?"
            .into())
    }
}

/// Columns of `merchant_accounts`, in the order of the `MerchantAccount` model.
const MERCHANT_ACCOUNT_COLS: &str =
    "id, provider, status, public_json, created_at_ms, updated_at_ms, version";

/// Columns of `merchant_account_keys`, in the order of the `MerchantAccountKey` model.
const ACCOUNT_KEY_COLS: &str =
    "account_id, key_version, wrapped_data_key, ciphertext, created_at_ms, retired_at_ms";

/// Columns of `audit_log`.
const AUDIT_COLS: &str = "id, at_ms, actor, action, target, details_json";

/// Statements for merchant accounts, their key versions and the audit log
/// (`sql_accounts.rs`).
pub(crate) struct AccountQueries {
    pub insert_account: String,
    pub account_by_id: String,
    pub list_accounts: String,
    pub update_account: String,
    pub insert_key: String,
    pub retire_key: String,
    pub keys_for_account: String,
    pub stamp: String,
    pub insert_audit: String,
    pub audit_log: String,
}

impl AccountQueries {
    fn new(backend: Backend) -> Self {
        let q = |s: String| backend.placeholders(&s);
        // SUM is NUMERIC on PostgreSQL and DECIMAL on MySQL: cast back to a 64-bit integer.
        let sum = match backend {
            Backend::Sqlite => "COALESCE(SUM(version), 0)",
            Backend::Postgres => "CAST(COALESCE(SUM(version), 0) AS BIGINT)",
            Backend::MySql => "CAST(COALESCE(SUM(version), 0) AS SIGNED)",
        };
        AccountQueries {
            insert_account: q(format!(
                "INSERT INTO merchant_accounts ({MERCHANT_ACCOUNT_COLS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?)"
            )),
            account_by_id: q(format!(
                "SELECT {MERCHANT_ACCOUNT_COLS} FROM merchant_accounts WHERE id = ?"
            )),
            list_accounts: format!(
                "SELECT {MERCHANT_ACCOUNT_COLS} FROM merchant_accounts ORDER BY id"
            ),
            update_account: q("UPDATE merchant_accounts SET status = ?, public_json = ?, \
                 updated_at_ms = ?, version = version + 1 WHERE id = ? AND version = ?"
                .into()),
            insert_key: q(format!(
                "INSERT INTO merchant_account_keys ({ACCOUNT_KEY_COLS}) VALUES (?, ?, ?, ?, ?, ?)"
            )),
            retire_key: q("UPDATE merchant_account_keys SET retired_at_ms = ? \
                 WHERE account_id = ? AND key_version = ? AND retired_at_ms IS NULL"
                .into()),
            keys_for_account: q(format!(
                "SELECT {ACCOUNT_KEY_COLS} FROM merchant_account_keys WHERE account_id = ? \
                 ORDER BY key_version"
            )),
            stamp: format!(
                "SELECT COUNT(*), {sum}, COALESCE(MAX(updated_at_ms), 0) FROM merchant_accounts"
            ),
            insert_audit: q(format!(
                "INSERT INTO audit_log ({AUDIT_COLS}) VALUES (?, ?, ?, ?, ?, ?)"
            )),
            audit_log: q(format!(
                "SELECT {AUDIT_COLS} FROM audit_log ORDER BY at_ms DESC, id DESC LIMIT ?"
            )),
        }
    }
}

/// Statements for the operator console: business-line secret rotation and the dashboard
/// (`sql_console.rs`).
pub(crate) struct ConsoleQueries {
    pub swap_line_secret: String,
    pub delete_previous_secret: String,
    pub insert_previous_secret: String,
    pub previous_secret: String,
    pub dashboard_rows: String,
    pub waiting_orders: String,
    pub flagged_counts: String,
}

impl ConsoleQueries {
    fn new(backend: Backend) -> Self {
        let q = |s: String| backend.placeholders(&s);
        // Integer division and a 64-bit integer SUM differ per engine: MySQL's `/` is
        // decimal division and its SUM a DECIMAL; PostgreSQL's SUM(BIGINT) is NUMERIC.
        let (div, int) = match backend {
            Backend::MySql => ("DIV", "SIGNED"),
            Backend::Postgres => ("/", "BIGINT"),
            Backend::Sqlite => ("/", "INTEGER"),
        };
        let paid = "a.status = 'SUCCEEDED' AND a.flag IS NULL";
        ConsoleQueries {
            // `(new, now, id, expected)`: a compare-and-swap on the current secret.
            swap_line_secret: q("UPDATE business_lines SET secret_ciphertext = ?, \
                 updated_at_ms = ? WHERE id = ? AND secret_ciphertext = ?"
                .into()),
            delete_previous_secret: q(
                "DELETE FROM business_line_previous_secrets WHERE business_line_id = ?".into(),
            ),
            insert_previous_secret: q("INSERT INTO business_line_previous_secrets \
                 (business_line_id, secret_ciphertext, valid_until_ms, created_at_ms) \
                 VALUES (?, ?, ?, ?)"
                .into()),
            // `(id, now)`.
            previous_secret: q("SELECT secret_ciphertext, valid_until_ms \
                 FROM business_line_previous_secrets \
                 WHERE business_line_id = ? AND valid_until_ms > ?"
                .into()),
            // `(from, bucket, from, to)`.
            dashboard_rows: q(format!(
                "SELECT (a.created_at_ms - ?) {div} ? AS bucket, o.business_line_id, \
                 a.provider, a.method, a.currency, COUNT(*) AS attempts, \
                 CAST(SUM(CASE WHEN {paid} THEN 1 ELSE 0 END) AS {int}) AS paid, \
                 CAST(SUM(CASE WHEN {paid} THEN a.amount_minor ELSE 0 END) AS {int}) \
                 AS paid_amount_minor \
                 FROM payment_attempts a JOIN pay_orders o ON o.id = a.pay_order_id \
                 WHERE a.created_at_ms >= ? AND a.created_at_ms < ? \
                 GROUP BY bucket, o.business_line_id, a.provider, a.method, a.currency \
                 ORDER BY bucket, o.business_line_id, a.provider, a.method, a.currency"
            )),
            waiting_orders: "SELECT COUNT(*) FROM pay_orders WHERE status = 'WAITING'".into(),
            flagged_counts: "SELECT flag, COUNT(*) AS n FROM payment_attempts \
                 WHERE flag IS NOT NULL GROUP BY flag ORDER BY flag"
                .into(),
        }
    }
}

/// Columns of `approvals`, in the order of the `Approval` model.
const APPROVAL_COLS: &str = "id, action, target, payload_json, requested_by, requested_at_ms, \
     status, decided_by, decided_at_ms, version";

/// Statements for maker-checker approvals (`sql_approvals.rs`).
pub(crate) struct ApprovalQueries {
    pub insert: String,
    pub by_id: String,
    pub list_by_status: String,
    pub list_all: String,
    pub decide: String,
}

impl ApprovalQueries {
    fn new(backend: Backend) -> Self {
        let q = |s: String| backend.placeholders(&s);
        ApprovalQueries {
            // `(id, action, target, payload, by, at, status)`; version starts at 1.
            insert: q(format!(
                "INSERT INTO approvals ({APPROVAL_COLS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL, 1)"
            )),
            by_id: q(format!(
                "SELECT {APPROVAL_COLS} FROM approvals WHERE id = ?"
            )),
            list_by_status: q(format!(
                "SELECT {APPROVAL_COLS} FROM approvals WHERE status = ? \
                 ORDER BY requested_at_ms DESC, id DESC LIMIT ?"
            )),
            list_all: q(format!(
                "SELECT {APPROVAL_COLS} FROM approvals \
                 ORDER BY requested_at_ms DESC, id DESC LIMIT ?"
            )),
            // `(to, by, now, id, expected_version)`: only a PENDING approval at the
            // version the caller read is decided, so one of two racing decisions wins.
            decide: q(
                "UPDATE approvals SET status = ?, decided_by = ?, decided_at_ms = ?, \
                 version = version + 1 \
                 WHERE id = ? AND version = ? AND status = 'PENDING'"
                    .into(),
            ),
        }
    }
}

/// Columns of `ledger_accounts`, in the order of the `LedgerAccount` model.
const LEDGER_ACCOUNT_COLS: &str = "id, kind, owner_id, currency, allow_negative, \
     balance_minor, version, created_at_ms, updated_at_ms";

/// Columns of `journal_entries`.
const JOURNAL_ENTRY_COLS: &str =
    "id, kind, business_line_id, reference, idempotency_key, created_at_ms";

/// Columns of `journal_lines`.
const JOURNAL_LINE_COLS: &str =
    "entry_id, line_no, account_id, amount_minor, currency, balance_after_minor, account_version";

/// Columns of `payouts`, in the order of the `Payout` model.
const PAYOUT_COLS: &str = "id, kind, business_line_id, business_payout_no, payout_no, \
     provider, merchant_account, recipient, recipient_name, amount_minor, currency, remark, \
     notify_url, funding_account_id, status, provider_transfer_id, package_info, \
     failure_code, failure_message, hold_entry_id, final_entry_id, tries, \
     next_action_at_ms, last_error, created_at_ms, updated_at_ms, finished_at_ms, version";

/// Statements for the balance ledger and payouts (`sql_ledger.rs`, `sql_payouts.rs`).
///
/// A posting locks its accounts by the conditional balance update itself, in ascending
/// id order; everything it reads afterwards in the transaction is its own write.
pub(crate) struct LedgerQueries {
    backend: Backend,
    pub insert_account: String,
    pub account_by_id: String,
    pub account_by_ref: String,
    pub lock_account: String,
    pub insert_entry_key: String,
    pub entry_key: String,
    pub apply_line: String,
    pub account_after: String,
    pub insert_entry: String,
    pub insert_line: String,
    pub entry_by_id: String,
    pub lines_of_entry: String,
    pub statement: String,
    pub verify: String,
    pub insert_payout_key: String,
    pub insert_payout: String,
    pub payout_by_id: String,
    pub payout_by_key: String,
    pub payout_by_no: String,
    pub update_payout: String,
    pub due_payouts: String,
    pub open_day_total: String,
    pub raise_day_total: String,
    pub day_total: String,
}

impl LedgerQueries {
    fn new(backend: Backend) -> Self {
        let q = |s: String| backend.placeholders(&s);
        // SUM is NUMERIC on PostgreSQL and DECIMAL on MySQL: cast back to a 64-bit integer.
        let sum = match backend {
            Backend::Sqlite => "COALESCE(SUM(amount_minor), 0)",
            Backend::Postgres => "CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT)",
            Backend::MySql => "CAST(COALESCE(SUM(amount_minor), 0) AS SIGNED)",
        };
        // A locking read sees the latest committed row (a MySQL REPEATABLE READ plain read
        // would see the transaction's snapshot); SQLite's BEGIN IMMEDIATE needs none.
        let for_update = match backend {
            Backend::Sqlite => "",
            _ => " FOR UPDATE",
        };
        let payout_cols_p = PAYOUT_COLS
            .split(", ")
            .map(|c| format!("p.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        LedgerQueries {
            backend,
            insert_account: q(format!(
                "INSERT INTO ledger_accounts ({LEDGER_ACCOUNT_COLS}) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            account_by_id: q(format!(
                "SELECT {LEDGER_ACCOUNT_COLS} FROM ledger_accounts WHERE id = ?"
            )),
            account_by_ref: q(format!(
                "SELECT {LEDGER_ACCOUNT_COLS} FROM ledger_accounts \
                 WHERE kind = ? AND owner_id = ? AND currency = ?"
            )),
            lock_account: q(format!(
                "SELECT {LEDGER_ACCOUNT_COLS} FROM ledger_accounts WHERE id = ?{for_update}"
            )),
            insert_entry_key: q("INSERT INTO journal_entry_keys \
                 (business_line_id, kind, idempotency_key, entry_id, created_at_ms) \
                 VALUES (?, ?, ?, ?, ?)"
                .into()),
            entry_key: q("SELECT entry_id FROM journal_entry_keys \
                 WHERE business_line_id = ? AND kind = ? AND idempotency_key = ?"
                .into()),
            // `(amount, now, id, amount, amount, -max, max)`: the guard that keeps a
            // balance that may not go negative at or above zero, whatever runs at the same
            // time (the row lock makes concurrent postings wait and re-check), and every
            // balance far from the i64 edge.
            apply_line: q("UPDATE ledger_accounts SET balance_minor = balance_minor + ?, \
                 version = version + 1, updated_at_ms = ? \
                 WHERE id = ? AND (allow_negative = 1 OR balance_minor + ? >= 0) \
                 AND balance_minor + ? BETWEEN ? AND ?"
                .into()),
            account_after: q("SELECT balance_minor, version FROM ledger_accounts WHERE id = ?"
                .into()),
            insert_entry: q(format!(
                "INSERT INTO journal_entries ({JOURNAL_ENTRY_COLS}) VALUES (?, ?, ?, ?, ?, ?)"
            )),
            insert_line: q(format!(
                "INSERT INTO journal_lines ({JOURNAL_LINE_COLS}) VALUES (?, ?, ?, ?, ?, ?, ?)"
            )),
            entry_by_id: q(format!(
                "SELECT {JOURNAL_ENTRY_COLS} FROM journal_entries WHERE id = ?"
            )),
            lines_of_entry: q(format!(
                "SELECT {JOURNAL_LINE_COLS} FROM journal_lines WHERE entry_id = ? ORDER BY line_no"
            )),
            statement: q("SELECT l.entry_id, l.amount_minor, l.balance_after_minor, \
                 l.account_version, e.kind, e.business_line_id, e.reference, e.created_at_ms \
                 FROM journal_lines l JOIN journal_entries e ON e.id = l.entry_id \
                 WHERE l.account_id = ? AND l.account_version < ? \
                 ORDER BY l.account_version DESC LIMIT ?"
                .into()),
            // One statement, so the cached balance and the lines come from one snapshot.
            verify: q(format!(
                "SELECT a.balance_minor, a.version, \
                 (SELECT {sum} FROM journal_lines l WHERE l.account_id = a.id), \
                 (SELECT COUNT(*) FROM journal_lines l WHERE l.account_id = a.id) \
                 FROM ledger_accounts a WHERE a.id = ?"
            )),
            insert_payout_key: q("INSERT INTO payout_keys \
                 (business_line_id, business_payout_no, payout_id, created_at_ms) \
                 VALUES (?, ?, ?, ?)"
                .into()),
            insert_payout: q(format!(
                "INSERT INTO payouts ({PAYOUT_COLS}) VALUES \
                 (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            )),
            payout_by_id: q(format!("SELECT {PAYOUT_COLS} FROM payouts WHERE id = ?")),
            payout_by_key: q(format!(
                "SELECT {payout_cols_p} FROM payout_keys k JOIN payouts p ON p.id = k.payout_id \
                 WHERE k.business_line_id = ? AND k.business_payout_no = ?"
            )),
            payout_by_no: q(format!(
                "SELECT {PAYOUT_COLS} FROM payouts WHERE payout_no = ?"
            )),
            // `(status, transfer id, package info, failure code, failure message, try inc,
            //   next action, last error, final entry, finished at, now, id, version, from)`
            update_payout: q("UPDATE payouts SET status = ?, \
                 provider_transfer_id = COALESCE(?, provider_transfer_id), \
                 package_info = COALESCE(?, package_info), \
                 failure_code = COALESCE(?, failure_code), \
                 failure_message = COALESCE(?, failure_message), tries = tries + ?, \
                 next_action_at_ms = ?, last_error = COALESCE(?, last_error), \
                 final_entry_id = COALESCE(?, final_entry_id), \
                 finished_at_ms = COALESCE(?, finished_at_ms), updated_at_ms = ?, \
                 version = version + 1 WHERE id = ? AND version = ? AND status = ?"
                .into()),
            due_payouts: q(format!(
                "SELECT {PAYOUT_COLS} FROM payouts \
                 WHERE next_action_at_ms IS NOT NULL AND next_action_at_ms <= ? \
                 AND status IN ('ACCEPTED', 'PROCESSING', 'WAIT_USER_CONFIRM') \
                 ORDER BY next_action_at_ms, id LIMIT ?"
            )),
            open_day_total: q("INSERT INTO payout_day_totals \
                 (business_line_id, currency, day_no, total_minor, updated_at_ms) \
                 VALUES (?, ?, ?, 0, ?)"
                .into()),
            // `(amount, now, line, currency, day, amount, limit)`: the guard that keeps a
            // day's total within its limit whatever runs at the same time (the row lock
            // makes concurrent creations wait and re-check).
            raise_day_total: q("UPDATE payout_day_totals \
                 SET total_minor = total_minor + ?, updated_at_ms = ? \
                 WHERE business_line_id = ? AND currency = ? AND day_no = ? \
                 AND total_minor + ? <= ?"
                .into()),
            day_total: q("SELECT total_minor FROM payout_day_totals \
                 WHERE business_line_id = ? AND currency = ? AND day_no = ?"
                .into()),
        }
    }

    /// Accounts by filter after an id cursor; binds: the set filters (kind, owner), the
    /// cursor, the limit. Built per call so each filter combination can use its index.
    pub fn list_accounts(&self, kind: bool, owner: bool) -> String {
        let mut sql = format!("SELECT {LEDGER_ACCOUNT_COLS} FROM ledger_accounts WHERE id > ?");
        if kind {
            sql.push_str(" AND kind = ?");
        }
        if owner {
            sql.push_str(" AND owner_id = ?");
        }
        sql.push_str(" ORDER BY id LIMIT ?");
        self.backend.placeholders(&sql)
    }

    /// Payouts by filter, newest first; binds: the cursor `(at, at, id)`, then the set
    /// filters in the order business line, kind, status, funding account, then the limit.
    pub fn list_payouts(&self, line: bool, kind: bool, status: bool, funding: bool) -> String {
        let mut sql = format!(
            "SELECT {PAYOUT_COLS} FROM payouts \
             WHERE (created_at_ms < ? OR (created_at_ms = ? AND id < ?))"
        );
        for (set, col) in [
            (line, "business_line_id"),
            (kind, "kind"),
            (status, "status"),
            (funding, "funding_account_id"),
        ] {
            if set {
                sql.push_str(&format!(" AND {col} = ?"));
            }
        }
        sql.push_str(" ORDER BY created_at_ms DESC, id DESC LIMIT ?");
        self.backend.placeholders(&sql)
    }
}
/// Columns of `reconciliation_runs`, in the order of the `ReconciliationRun` model.
const RUN_COLS: &str = "id, bill_date, merchant_account, provider, status, currency, \
     provider_count, provider_net_minor, paydesk_count, paydesk_net_minor, matched_count, \
     matched_net_minor, missing_in_paydesk_count, missing_in_paydesk_net_minor, \
     missing_at_provider_count, missing_at_provider_net_minor, differing_count, \
     differing_provider_net_minor, differing_paydesk_net_minor, error, started_at_ms, \
     finished_at_ms, version";

/// Columns of `reconciliation_differences`, in the order of the `Difference` model.
pub(crate) const DIFFERENCE_COLS: &str = "id, run_id, bill_date, merchant_account, kind, \
     record_kind, attempt_no, refund_no, provider_txn_id, currency, provider_amount_minor, \
     paydesk_amount_minor, provider_fee_minor, paydesk_fee_minor, provider_status, \
     paydesk_status, source, state, resolution, resolved_by, resolved_at_ms, created_at_ms, \
     updated_at_ms, version";

/// Statements for reconciliation runs and differences (`sql_reconciliation.rs`). Optional
/// filters are `(? IS NULL OR col = ?)` with the value bound twice, so each statement is
/// prepared once.
pub(crate) struct ReconciliationQueries {
    pub insert_run: String,
    pub restart_run: String,
    pub run_by_day: String,
    pub run_by_id: String,
    pub finish_run: String,
    pub fail_run: String,
    pub list_runs: String,
    pub decided_keys: String,
    pub delete_open: String,
    pub insert_difference: String,
    pub open_of_run: String,
    pub difference_by_id: String,
    pub list_differences: String,
    pub resolve: String,
    pub settle: String,
    pub day_attempts: String,
    pub day_refunds: String,
}

impl ReconciliationQueries {
    fn new(backend: Backend) -> Self {
        let q = |s: String| backend.placeholders(&s);
        let refund_cols = REFUND_COLS
            .split(", ")
            .map(|c| format!("r.{}", c.trim()))
            .collect::<Vec<_>>()
            .join(", ");
        ReconciliationQueries {
            insert_run: q("INSERT INTO reconciliation_runs \
                 (id, bill_date, merchant_account, provider, status, currency, started_at_ms, \
                 version) VALUES (?, ?, ?, ?, 'RUNNING', ?, ?, 1)"
                .into()),
            // `(now, date, account, stale_before)`: a runner that died is taken over.
            restart_run: q(
                "UPDATE reconciliation_runs SET status = 'RUNNING', error = NULL, \
                 started_at_ms = ?, finished_at_ms = NULL, version = version + 1 \
                 WHERE bill_date = ? AND merchant_account = ? \
                 AND (status <> 'RUNNING' OR started_at_ms < ?)"
                    .into(),
            ),
            run_by_day: q(format!(
                "SELECT {RUN_COLS} FROM reconciliation_runs \
                 WHERE bill_date = ? AND merchant_account = ?"
            )),
            run_by_id: q(format!(
                "SELECT {RUN_COLS} FROM reconciliation_runs WHERE id = ?"
            )),
            finish_run: q("UPDATE reconciliation_runs SET status = 'COMPLETED', \
                 provider_count = ?, provider_net_minor = ?, paydesk_count = ?, \
                 paydesk_net_minor = ?, matched_count = ?, matched_net_minor = ?, \
                 missing_in_paydesk_count = ?, missing_in_paydesk_net_minor = ?, \
                 missing_at_provider_count = ?, missing_at_provider_net_minor = ?, \
                 differing_count = ?, differing_provider_net_minor = ?, \
                 differing_paydesk_net_minor = ?, finished_at_ms = ?, version = version + 1 \
                 WHERE id = ? AND version = ? AND status = 'RUNNING'"
                .into()),
            fail_run: q(
                "UPDATE reconciliation_runs SET status = 'FAILED', error = ?, \
                 finished_at_ms = ?, version = version + 1 \
                 WHERE id = ? AND version = ? AND status = 'RUNNING'"
                    .into(),
            ),
            list_runs: q(format!(
                "SELECT {RUN_COLS} FROM reconciliation_runs \
                 WHERE (? IS NULL OR merchant_account = ?) AND bill_date >= ? AND bill_date <= ? \
                 ORDER BY bill_date DESC, merchant_account LIMIT ?"
            )),
            decided_keys: q("SELECT kind, record_kind, attempt_no, refund_no \
                 FROM reconciliation_differences \
                 WHERE bill_date = ? AND merchant_account = ? AND state <> 'OPEN'"
                .into()),
            delete_open: q("DELETE FROM reconciliation_differences \
                 WHERE bill_date = ? AND merchant_account = ? AND state = 'OPEN'"
                .into()),
            insert_difference: q(format!(
                "INSERT INTO reconciliation_differences ({DIFFERENCE_COLS}) VALUES \
                 (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'OPEN', NULL, NULL, NULL, \
                 ?, ?, 1)"
            )),
            open_of_run: q(format!(
                "SELECT {DIFFERENCE_COLS} FROM reconciliation_differences \
                 WHERE run_id = ? AND state = 'OPEN' ORDER BY id"
            )),
            difference_by_id: q(format!(
                "SELECT {DIFFERENCE_COLS} FROM reconciliation_differences WHERE id = ?"
            )),
            list_differences: q(format!(
                "SELECT {DIFFERENCE_COLS} FROM reconciliation_differences \
                 WHERE (? IS NULL OR run_id = ?) AND (? IS NULL OR state = ?) \
                 AND (? IS NULL OR bill_date = ?) AND (? IS NULL OR merchant_account = ?) \
                 AND id > ? ORDER BY id LIMIT ?"
            )),
            resolve: q("UPDATE reconciliation_differences SET state = 'RESOLVED', \
                 resolution = ?, resolved_by = ?, resolved_at_ms = ?, updated_at_ms = ?, \
                 version = version + 1 WHERE id = ? AND state = 'OPEN' AND version = ?"
                .into()),
            settle: q(
                "UPDATE reconciliation_differences SET state = 'SETTLED_AUTOMATICALLY', \
                 resolution = ?, resolved_by = 'paydesk', resolved_at_ms = ?, \
                 updated_at_ms = ?, version = version + 1 \
                 WHERE id = ? AND state = 'OPEN' AND version = ?"
                    .into(),
            ),
            day_attempts: q(format!(
                "SELECT {PAYMENT_ATTEMPT_COLS} FROM payment_attempts \
                 WHERE merchant_account = ? AND status = 'SUCCEEDED' \
                 AND paid_at_ms >= ? AND paid_at_ms < ? ORDER BY paid_at_ms, id"
            )),
            day_refunds: q(format!(
                "SELECT {refund_cols}, a.attempt_no AS paid_attempt_no, \
                 a.provider_txn_id AS paid_txn_id FROM refunds r \
                 JOIN payment_attempts a ON a.id = r.attempt_id \
                 WHERE a.merchant_account = ? AND r.status = 'SUCCEEDED' \
                 AND r.amount_minor > r.balance_amount_minor \
                 AND r.succeeded_at_ms >= ? AND r.succeeded_at_ms < ? \
                 ORDER BY r.succeeded_at_ms, r.id"
            )),
        }
    }
}
