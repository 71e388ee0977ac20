-- paydesk acquiring: attempts, refunds, raw provider callbacks (MySQL, MariaDB, TiDB).
-- utf8mb4_bin: out_trade_no and refund numbers compare byte for byte.
-- Money: BIGINT minor units + currency. Time: BIGINT unix milliseconds, UTC.
-- States and flags: upper-case names from paydesk-core.

-- One provider order (out_trade_no = attempt_no) per row. A pay order may have several
-- over its life; at most one becomes its payment (flag NULL, status SUCCEEDED, order PAID).
CREATE TABLE payment_attempts (
    id                VARCHAR(40)  PRIMARY KEY,
    pay_order_id      VARCHAR(40)  NOT NULL,
    attempt_no        VARCHAR(64)  NOT NULL UNIQUE,
    merchant_account  VARCHAR(64)  NOT NULL,
    provider          VARCHAR(16)  NOT NULL,
    method            VARCHAR(32)  NOT NULL,
    product           VARCHAR(32)  NOT NULL,
    amount_minor      BIGINT       NOT NULL CHECK (amount_minor > 0),
    currency          CHAR(3)      NOT NULL,
    status            VARCHAR(16)  NOT NULL,
    provider_txn_id   VARCHAR(64),
    paid_amount_minor BIGINT,
    flag              VARCHAR(32),
    paid_at_ms        BIGINT,
    next_query_at_ms  BIGINT,
    queries_made      BIGINT       NOT NULL DEFAULT 0,
    created_at_ms     BIGINT       NOT NULL,
    updated_at_ms     BIGINT       NOT NULL,
    version           BIGINT       NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX payment_attempts_order ON payment_attempts (pay_order_id);
CREATE INDEX payment_attempts_txn ON payment_attempts (provider_txn_id);
CREATE INDEX payment_attempts_due ON payment_attempts (next_query_at_ms);
CREATE INDEX payment_attempts_flag ON payment_attempts (flag, updated_at_ms);

-- Money-guarding key: never archived, so an out_trade_no used long ago (its attempt moved
-- to cold) can never be sent to a provider again.
CREATE TABLE attempt_keys (
    attempt_no    VARCHAR(64) PRIMARY KEY,
    pay_order_id  VARCHAR(40) NOT NULL,
    created_at_ms BIGINT      NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Refunds: business ones (reserved against pay_orders.refunded_amount_minor) and automatic
-- ones (duplicate, late or wrong-amount payments: money that was never the order's).
CREATE TABLE refunds (
    id                 VARCHAR(40)  PRIMARY KEY,
    business_line_id   VARCHAR(40)  NOT NULL,
    pay_order_id       VARCHAR(40)  NOT NULL,
    attempt_id         VARCHAR(40)  NOT NULL,
    refund_no          VARCHAR(64)  NOT NULL UNIQUE,
    business_refund_no VARCHAR(64),
    kind               VARCHAR(32)  NOT NULL,
    amount_minor       BIGINT       NOT NULL CHECK (amount_minor > 0),
    currency           CHAR(3)      NOT NULL,
    reason             VARCHAR(512),
    status             VARCHAR(16)  NOT NULL,
    provider_refund_id VARCHAR(64),
    tries              BIGINT       NOT NULL DEFAULT 0,
    next_action_at_ms  BIGINT,
    last_error         TEXT,
    created_at_ms      BIGINT       NOT NULL,
    updated_at_ms      BIGINT       NOT NULL,
    succeeded_at_ms    BIGINT,
    version            BIGINT       NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX refunds_order ON refunds (pay_order_id);
CREATE INDEX refunds_attempt ON refunds (attempt_id);
CREATE INDEX refunds_due ON refunds (next_action_at_ms);
CREATE INDEX refunds_business_no ON refunds (business_line_id, business_refund_no);

-- Money-guarding keys, never archived: a business refund number is used once per business
-- line for all time, and so is our refund number at the provider.
CREATE TABLE refund_keys (
    business_line_id   VARCHAR(40) NOT NULL,
    business_refund_no VARCHAR(64) NOT NULL,
    refund_id          VARCHAR(40) NOT NULL,
    created_at_ms      BIGINT      NOT NULL,
    PRIMARY KEY (business_line_id, business_refund_no)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE TABLE refund_nos (
    refund_no     VARCHAR(64) PRIMARY KEY,
    refund_id     VARCHAR(40) NOT NULL,
    created_at_ms BIGINT      NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Provider callbacks exactly as received (evidence), whatever paydesk made of them.
CREATE TABLE provider_callbacks (
    id               VARCHAR(40)  PRIMARY KEY,
    provider         VARCHAR(16)  NOT NULL,
    merchant_account VARCHAR(64)  NOT NULL,
    received_at_ms   BIGINT       NOT NULL,
    headers_json     MEDIUMTEXT   NOT NULL,
    body             MEDIUMTEXT   NOT NULL,
    outcome          TEXT         NOT NULL,
    attempt_no       VARCHAR(64),
    pay_order_id     VARCHAR(40)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX provider_callbacks_order ON provider_callbacks (pay_order_id);
