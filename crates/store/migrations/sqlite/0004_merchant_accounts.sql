-- paydesk merchant accounts with envelope-encrypted keys, and the audit log (SQLite).
-- Time: BIGINT unix milliseconds, UTC.

-- Merchant accounts by the id the checkout rules route to. `public_json` holds only what
-- is not secret (merchant and app ids, serials, base URLs, the provider's public keys and
-- certificates); every change is a conditional update on `version`.
CREATE TABLE merchant_accounts (
    id            VARCHAR(64)  PRIMARY KEY,
    provider      VARCHAR(16)  NOT NULL,
    status        VARCHAR(16)  NOT NULL,
    public_json   TEXT         NOT NULL,
    created_at_ms BIGINT       NOT NULL,
    updated_at_ms BIGINT       NOT NULL,
    version       BIGINT       NOT NULL
);

-- Key versions of an account: the secret JSON (private keys, APIv3 key) sealed with a
-- fresh data key per version (AES-256-GCM, associated data: account id and version), the
-- data key wrapped by the master key. Calls use the newest unretired version.
CREATE TABLE merchant_account_keys (
    account_id       VARCHAR(64) NOT NULL,
    key_version      BIGINT      NOT NULL,
    wrapped_data_key TEXT        NOT NULL,
    ciphertext       TEXT        NOT NULL,
    created_at_ms    BIGINT      NOT NULL,
    retired_at_ms    BIGINT,
    PRIMARY KEY (account_id, key_version)
);

-- Who changed what (never secret values).
CREATE TABLE audit_log (
    id           VARCHAR(40)  PRIMARY KEY,
    at_ms        BIGINT       NOT NULL,
    actor        VARCHAR(128) NOT NULL,
    action       VARCHAR(64)  NOT NULL,
    target       VARCHAR(128) NOT NULL,
    details_json TEXT         NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at_ms);
