-- Balance and combined payments (issue #7): the part of a pay order the buyer pays from
-- their platform balance. One row per order (the primary key): held when the buyer
-- picks COMBINED or BALANCE, captured in the same transaction that marks the order PAID,
-- released when the provider part fails, the buyer picks another method, or the order
-- closes. Every change is a conditional update on `version` and posts its ledger entry
-- (HOLD, HOLD_CAPTURE, RELEASE) in the same transaction. `refunded_minor` is what
-- refunds have taken (or reserved) from the captured part.
-- Never archived: like the ledger it records, it stays in the hot database.
CREATE TABLE pay_order_balance_parts (
    pay_order_id     VARCHAR(40) NOT NULL PRIMARY KEY,
    business_line_id VARCHAR(40) NOT NULL,
    user_id          VARCHAR(64) NOT NULL,
    currency         CHAR(3)     NOT NULL,
    amount_minor     BIGINT      NOT NULL,
    status           VARCHAR(16) NOT NULL,
    refunded_minor   BIGINT      NOT NULL DEFAULT 0,
    created_at_ms    BIGINT      NOT NULL,
    updated_at_ms    BIGINT      NOT NULL,
    version          BIGINT      NOT NULL DEFAULT 0,
    CONSTRAINT balance_parts_amount CHECK (amount_minor > 0),
    CONSTRAINT balance_parts_refunded CHECK (refunded_minor >= 0 AND refunded_minor <= amount_minor)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The part of a refund that goes back to the buyer's balance rather than through the
-- provider (a combined or balance order); the provider is asked for the rest.
ALTER TABLE refunds ADD COLUMN balance_amount_minor BIGINT NOT NULL DEFAULT 0;
