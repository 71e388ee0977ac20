-- paydesk core schema (PostgreSQL). Money: BIGINT minor units + currency.
-- Time: BIGINT unix milliseconds, UTC. States: upper-case names from paydesk-core.

CREATE TABLE business_lines (
    id                   VARCHAR(40)   PRIMARY KEY,
    app_id               VARCHAR(64)   NOT NULL UNIQUE,
    name                 VARCHAR(128)  NOT NULL UNIQUE,
    secret_ciphertext    TEXT          NOT NULL,
    notify_url           VARCHAR(2048) NOT NULL,
    allowed_url_prefixes TEXT          NOT NULL,
    status               VARCHAR(16)   NOT NULL,
    created_at_ms        BIGINT        NOT NULL,
    updated_at_ms        BIGINT        NOT NULL
);

-- Replay protection shared by every instance on this database.
CREATE TABLE request_nonces (
    app_id        VARCHAR(64) NOT NULL,
    nonce         VARCHAR(64) NOT NULL,
    expires_at_ms BIGINT      NOT NULL,
    PRIMARY KEY (app_id, nonce)
);
CREATE INDEX request_nonces_expiry ON request_nonces (expires_at_ms);

-- Money-guarding key: never archived, so an archived order still blocks a duplicate.
CREATE TABLE business_order_keys (
    business_line_id  VARCHAR(40) NOT NULL,
    business_order_no VARCHAR(64) NOT NULL,
    pay_order_id      VARCHAR(40) NOT NULL,
    created_at_ms     BIGINT      NOT NULL,
    PRIMARY KEY (business_line_id, business_order_no)
);

CREATE TABLE pay_orders (
    id                    VARCHAR(40)   PRIMARY KEY,
    business_line_id      VARCHAR(40)   NOT NULL,
    business_order_no     VARCHAR(64)   NOT NULL,
    status                VARCHAR(16)   NOT NULL,
    amount_minor          BIGINT        NOT NULL CHECK (amount_minor > 0),
    currency              CHAR(3)       NOT NULL,
    refunded_amount_minor BIGINT        NOT NULL DEFAULT 0 CHECK (refunded_amount_minor >= 0),
    subject               VARCHAR(512)  NOT NULL,
    buyer_id              VARCHAR(128),
    seller_id             VARCHAR(128),
    facts_json            TEXT          NOT NULL,
    metadata_json         TEXT          NOT NULL,
    notify_url            VARCHAR(2048) NOT NULL,
    return_url            VARCHAR(2048),
    checkout_token        VARCHAR(64)   NOT NULL UNIQUE,
    created_at_ms         BIGINT        NOT NULL,
    updated_at_ms         BIGINT        NOT NULL,
    expire_at_ms          BIGINT        NOT NULL,
    paid_at_ms            BIGINT,
    closed_at_ms          BIGINT,
    version               BIGINT        NOT NULL DEFAULT 0,
    CHECK (refunded_amount_minor <= amount_minor)
);
CREATE INDEX pay_orders_status_expiry ON pay_orders (status, expire_at_ms);
CREATE INDEX pay_orders_line_created ON pay_orders (business_line_id, created_at_ms);

CREATE TABLE outbox_events (
    id                 VARCHAR(40)   PRIMARY KEY,
    business_line_id   VARCHAR(40)   NOT NULL,
    pay_order_id       VARCHAR(40),
    event_type         VARCHAR(64)   NOT NULL,
    payload_json       TEXT          NOT NULL,
    notify_url         VARCHAR(2048) NOT NULL,
    status             VARCHAR(16)   NOT NULL,
    attempts_total     BIGINT        NOT NULL DEFAULT 0,
    failures_in_round  BIGINT        NOT NULL DEFAULT 0,
    next_attempt_at_ms BIGINT        NOT NULL,
    lease_owner        VARCHAR(64),
    lease_until_ms     BIGINT,
    created_at_ms      BIGINT        NOT NULL,
    updated_at_ms      BIGINT        NOT NULL,
    delivered_at_ms    BIGINT,
    last_error         TEXT,
    version            BIGINT        NOT NULL DEFAULT 0
);
CREATE INDEX outbox_events_due ON outbox_events (status, next_attempt_at_ms);
CREATE INDEX outbox_events_order ON outbox_events (pay_order_id);

CREATE TABLE notification_attempts (
    event_id      VARCHAR(40) NOT NULL,
    attempt_no    BIGINT      NOT NULL,
    started_at_ms BIGINT      NOT NULL,
    duration_ms   BIGINT      NOT NULL,
    http_status   BIGINT,
    succeeded     BIGINT      NOT NULL,
    error         TEXT,
    PRIMARY KEY (event_id, attempt_no)
);
