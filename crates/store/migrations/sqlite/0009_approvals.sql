-- Maker-checker approvals (issue #8): an admin action configured to need a second
-- operator is stored here as PENDING with its request, and runs only when another admin
-- approves it. Deciding is a conditional update on `status = 'PENDING'` and `version`,
-- so two operators deciding at once: one wins, the other is told.
-- `payload_json` is the request body as the handler received it, or, for actions whose
-- bodies carry secrets (merchant keys), that body sealed under the master key.
CREATE TABLE approvals (
    id              VARCHAR(40)  PRIMARY KEY,
    action          VARCHAR(64)  NOT NULL,
    target          VARCHAR(255) NOT NULL,
    payload_json    TEXT         NOT NULL,
    requested_by    VARCHAR(128) NOT NULL,
    requested_at_ms BIGINT       NOT NULL,
    status          VARCHAR(16)  NOT NULL,
    decided_by      VARCHAR(128),
    decided_at_ms   BIGINT,
    version         BIGINT       NOT NULL
);
CREATE INDEX approvals_queue ON approvals (status, requested_at_ms);

-- An action run on approval is recorded as `operator:<maker>, approved by operator:<checker>`
-- (up to 160 characters). PostgreSQL and MySQL widen `audit_log.actor`,
-- `reconciliation_differences.resolved_by`, `rule_set_versions.author` and
-- `rule_set_active.updated_by` to 255; SQLite does not enforce VARCHAR lengths.
