-- paydesk console: business-line secret rotation, dashboard index.

-- The secret a business line used before its last rotation, accepted on requests until
-- valid_until_ms so the business line can switch over without a failed call. Sealed like
-- business_lines.secret_ciphertext (never in clear).
CREATE TABLE business_line_previous_secrets (
    business_line_id  VARCHAR(40) PRIMARY KEY,
    secret_ciphertext TEXT        NOT NULL,
    valid_until_ms    BIGINT      NOT NULL,
    created_at_ms     BIGINT      NOT NULL
);

-- The dashboard sums attempts over a time window.
CREATE INDEX payment_attempts_created ON payment_attempts (created_at_ms);
