-- paydesk reconciliation with the providers' daily bills (MySQL, MariaDB, TiDB).
-- utf8mb4_bin: numbers compare byte for byte.
-- Time: BIGINT unix milliseconds, UTC. Money: BIGINT minor units with a currency column;
-- totals are net (payments in minus refunds out).

-- One run per bill day (China time) and merchant account: a re-run of the day takes the
-- same row again, conditionally on `version`, so two runners never work one day at once.
CREATE TABLE reconciliation_runs (
    id                         VARCHAR(40)  PRIMARY KEY,
    bill_date                  VARCHAR(10)     NOT NULL,
    merchant_account           VARCHAR(64)  NOT NULL,
    provider                   VARCHAR(16)  NOT NULL,
    status                     VARCHAR(16)  NOT NULL,
    currency                   CHAR(3)      NOT NULL,
    provider_count             BIGINT       NOT NULL DEFAULT 0,
    provider_net_minor         BIGINT       NOT NULL DEFAULT 0,
    paydesk_count              BIGINT       NOT NULL DEFAULT 0,
    paydesk_net_minor          BIGINT       NOT NULL DEFAULT 0,
    matched_count              BIGINT       NOT NULL DEFAULT 0,
    matched_net_minor          BIGINT       NOT NULL DEFAULT 0,
    missing_in_paydesk_count   BIGINT       NOT NULL DEFAULT 0,
    missing_in_paydesk_net_minor BIGINT     NOT NULL DEFAULT 0,
    missing_at_provider_count  BIGINT       NOT NULL DEFAULT 0,
    missing_at_provider_net_minor BIGINT    NOT NULL DEFAULT 0,
    differing_count            BIGINT       NOT NULL DEFAULT 0,
    differing_provider_net_minor BIGINT     NOT NULL DEFAULT 0,
    differing_paydesk_net_minor BIGINT      NOT NULL DEFAULT 0,
    error                      MEDIUMTEXT,
    started_at_ms              BIGINT       NOT NULL,
    finished_at_ms             BIGINT,
    version                    BIGINT       NOT NULL,
    UNIQUE (bill_date, merchant_account)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- What did not match, one row per bill line or paydesk record. Only OPEN rows are
-- replaced when the day is run again; settled and resolved ones stay as decided.
CREATE TABLE reconciliation_differences (
    id                    VARCHAR(40)  PRIMARY KEY,
    run_id                VARCHAR(40)  NOT NULL,
    bill_date             VARCHAR(10)     NOT NULL,
    merchant_account      VARCHAR(64)  NOT NULL,
    kind                  VARCHAR(32)  NOT NULL,
    record_kind           VARCHAR(16)  NOT NULL,
    attempt_no            VARCHAR(64)  NOT NULL,
    refund_no             VARCHAR(64),
    provider_txn_id       VARCHAR(64),
    currency              CHAR(3)      NOT NULL,
    provider_amount_minor BIGINT,
    paydesk_amount_minor  BIGINT,
    provider_fee_minor    BIGINT,
    paydesk_fee_minor     BIGINT,
    provider_status       VARCHAR(32),
    paydesk_status        VARCHAR(32),
    source                VARCHAR(255),
    state                 VARCHAR(32)  NOT NULL,
    resolution            MEDIUMTEXT,
    resolved_by           VARCHAR(128),
    resolved_at_ms        BIGINT,
    created_at_ms         BIGINT       NOT NULL,
    updated_at_ms         BIGINT       NOT NULL,
    version               BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX reconciliation_differences_run ON reconciliation_differences (run_id, state);
CREATE INDEX reconciliation_differences_queue ON reconciliation_differences (state, bill_date);

-- The paydesk side of a bill day: successes by account and provider time.
CREATE INDEX payment_attempts_paid ON payment_attempts (merchant_account, paid_at_ms);
CREATE INDEX refunds_succeeded ON refunds (succeeded_at_ms);
