-- paydesk checkout rules, operators and decision samples (MySQL, MariaDB, TiDB).
-- utf8mb4_bin: names and hashes compare byte for byte.
-- Time: BIGINT unix milliseconds, UTC.

-- Published rule set versions. Immutable: rows are inserted, never updated.
CREATE TABLE rule_set_versions (
    version       BIGINT        PRIMARY KEY,
    document_json LONGTEXT      NOT NULL,
    author        VARCHAR(128)  NOT NULL,
    comment       VARCHAR(1024) NOT NULL,
    created_at_ms BIGINT        NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The active version pointer: exactly one row (id = 1). Publishing and rolling back
-- are conditional updates on the version expected to be active (0 = none yet).
CREATE TABLE rule_set_active (
    id            BIGINT       PRIMARY KEY,
    version       BIGINT       NOT NULL,
    updated_by    VARCHAR(128) NOT NULL,
    updated_at_ms BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
INSERT INTO rule_set_active (id, version, updated_by, updated_at_ms) VALUES (1, 0, '', 0);

-- Console and admin API users. The credential is stored only as its SHA-256.
CREATE TABLE operators (
    id            VARCHAR(40)  PRIMARY KEY,
    name          VARCHAR(64)  NOT NULL UNIQUE,
    role          VARCHAR(16)  NOT NULL,
    token_hash    VARCHAR(64)  NOT NULL UNIQUE,
    status        VARCHAR(16)  NOT NULL,
    created_at_ms BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- Console sign-ins (HttpOnly cookie); the cookie value is stored only as its SHA-256.
CREATE TABLE operator_sessions (
    token_hash    VARCHAR(64) PRIMARY KEY,
    operator_id   VARCHAR(40) NOT NULL,
    created_at_ms BIGINT      NOT NULL,
    expires_at_ms BIGINT      NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX operator_sessions_expiry ON operator_sessions (expires_at_ms);

-- A bounded sample of checkout facts for simulations: a fixed number of slots, each
-- overwritten by a later decision.
CREATE TABLE decision_samples (
    slot          BIGINT  PRIMARY KEY,
    facts_json    MEDIUMTEXT NOT NULL,
    created_at_ms BIGINT  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
CREATE INDEX decision_samples_created ON decision_samples (created_at_ms);
