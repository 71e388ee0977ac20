-- paydesk double-entry balance ledger, payouts and withdrawals (MySQL, MariaDB, TiDB).
-- utf8mb4_bin: owner ids, idempotency keys and payout numbers compare byte for byte.
-- Money: BIGINT minor units (signed on journal lines) + currency. Time: BIGINT unix
-- milliseconds, UTC. States and kinds: upper-case names from paydesk-core.
-- Ledger accounts: `(kind, owner_id, currency)` is the identity (see paydesk-core
-- `ledger::AccountKind` for what each kind's owner is). `balance_minor` is a cache of the
-- sum of the account's journal lines, changed only by a conditional update in the
-- transaction that writes the line; `version` counts those lines (each line stores the
-- version it produced), so statements page on it. The CHECK is the last guard behind the
-- conditional update: an account that may not go negative never does.
CREATE TABLE ledger_accounts (
    id             VARCHAR(40) PRIMARY KEY,
    kind           VARCHAR(32) NOT NULL,
    owner_id       VARCHAR(64) NOT NULL,
    currency       CHAR(3)     NOT NULL,
    allow_negative BIGINT      NOT NULL,
    balance_minor  BIGINT      NOT NULL DEFAULT 0,
    version        BIGINT      NOT NULL DEFAULT 0,
    created_at_ms  BIGINT      NOT NULL,
    updated_at_ms  BIGINT      NOT NULL,
    CONSTRAINT ledger_accounts_identity UNIQUE (kind, owner_id, currency),
    CONSTRAINT ledger_accounts_floor CHECK (allow_negative = 1 OR balance_minor >= 0)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX ledger_accounts_owner ON ledger_accounts (owner_id);

-- Journal entries: append-only (never updated, never deleted, never archived);
-- a correction is a new entry. `reference` names the business record (settlement
-- number, payout id, order id).
CREATE TABLE journal_entries (
    id               VARCHAR(40)  PRIMARY KEY,
    kind             VARCHAR(32)  NOT NULL,
    business_line_id VARCHAR(40)  NOT NULL,
    reference        VARCHAR(64)  NOT NULL,
    idempotency_key  VARCHAR(128) NOT NULL,
    created_at_ms    BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX journal_entries_reference ON journal_entries (business_line_id, reference);

-- Lines: signed amounts whose sum per entry and currency is zero (checked before
-- writing). `balance_after_minor` and `account_version` are the account's balance and
-- version right after this line; the UNIQUE key orders an account's lines.
CREATE TABLE journal_lines (
    entry_id            VARCHAR(40) NOT NULL,
    line_no             BIGINT      NOT NULL,
    account_id          VARCHAR(40) NOT NULL,
    amount_minor        BIGINT      NOT NULL,
    currency            CHAR(3)     NOT NULL,
    balance_after_minor BIGINT      NOT NULL,
    account_version     BIGINT      NOT NULL,
    PRIMARY KEY (entry_id, line_no),
    CONSTRAINT journal_lines_sequence UNIQUE (account_id, account_version),
    CONSTRAINT journal_lines_nonzero CHECK (amount_minor <> 0),
    CONSTRAINT journal_lines_entry FOREIGN KEY (entry_id) REFERENCES journal_entries (id),
    CONSTRAINT journal_lines_account FOREIGN KEY (account_id) REFERENCES ledger_accounts (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Money-guarding key, never archived: one entry per (business line, kind, idempotency
-- key) for all time, so a settlement or any other movement is posted once.
CREATE TABLE journal_entry_keys (
    business_line_id VARCHAR(40)  NOT NULL,
    kind             VARCHAR(32)  NOT NULL,
    idempotency_key  VARCHAR(128) NOT NULL,
    entry_id         VARCHAR(40)  NOT NULL,
    created_at_ms    BIGINT       NOT NULL,
    PRIMARY KEY (business_line_id, kind, idempotency_key)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Payouts (kind PAYOUT: platform funding account -> user) and withdrawals (kind
-- WITHDRAWAL: a user's held balance -> the user), one transfer each. `payout_no` is our
-- number at the provider (WeChat out_bill_no, Alipay out_biz_no), the same on every
-- retry. A withdrawal's `hold_entry_id` is posted with the row; `final_entry_id` is the
-- debit or release (withdrawal) or the funding charge (payout) posted with the terminal
-- state change.
CREATE TABLE payouts (
    id                   VARCHAR(40)  PRIMARY KEY,
    kind                 VARCHAR(16)  NOT NULL,
    business_line_id     VARCHAR(40)  NOT NULL,
    business_payout_no   VARCHAR(64)  NOT NULL,
    payout_no            VARCHAR(64)  NOT NULL UNIQUE,
    provider             VARCHAR(16)  NOT NULL,
    merchant_account     VARCHAR(64)  NOT NULL,
    recipient            VARCHAR(128) NOT NULL,
    recipient_name       VARCHAR(128),
    amount_minor         BIGINT       NOT NULL CHECK (amount_minor > 0),
    currency             CHAR(3)      NOT NULL,
    remark               VARCHAR(128) NOT NULL,
    notify_url           VARCHAR(512) NOT NULL,
    funding_account_id   VARCHAR(40)  NOT NULL,
    status               VARCHAR(24)  NOT NULL,
    provider_transfer_id VARCHAR(64),
    package_info         MEDIUMTEXT,
    failure_code         VARCHAR(64),
    failure_message      VARCHAR(512),
    hold_entry_id        VARCHAR(40),
    final_entry_id       VARCHAR(40),
    tries                BIGINT       NOT NULL DEFAULT 0,
    next_action_at_ms    BIGINT,
    last_error           TEXT,
    created_at_ms        BIGINT       NOT NULL,
    updated_at_ms        BIGINT       NOT NULL,
    finished_at_ms       BIGINT,
    version              BIGINT       NOT NULL DEFAULT 0
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX payouts_business_line ON payouts (business_line_id, created_at_ms);
CREATE INDEX payouts_funding ON payouts (funding_account_id, created_at_ms);
CREATE INDEX payouts_due ON payouts (next_action_at_ms);
CREATE INDEX payouts_created ON payouts (created_at_ms);

-- Money-guarding key, never archived: a business payout number is used once per
-- business line for all time.
CREATE TABLE payout_keys (
    business_line_id   VARCHAR(40) NOT NULL,
    business_payout_no VARCHAR(64) NOT NULL,
    payout_id          VARCHAR(40) NOT NULL,
    created_at_ms      BIGINT      NOT NULL,
    PRIMARY KEY (business_line_id, business_payout_no)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
