-- Daily payout limits (issue #7): how much each business line has sent out per currency
-- and business day, payouts and withdrawals together. A payout is recorded only if a
-- conditional update of its day's row keeps the total within the configured limit, in
-- the same transaction as the payout record, so concurrent requests can never exceed it.
-- `day_no` counts days since 1970-01-01 in China Standard Time (UTC+8), the providers'
-- business day. Rows are opened (total 0) before the transaction that raises them.
-- Never archived: a day's total must stay exact while payouts of that day can be asked for.
CREATE TABLE payout_day_totals (
    business_line_id VARCHAR(40) NOT NULL,
    currency         CHAR(3)     NOT NULL,
    day_no           BIGINT      NOT NULL,
    total_minor      BIGINT      NOT NULL DEFAULT 0,
    updated_at_ms    BIGINT      NOT NULL,
    PRIMARY KEY (business_line_id, currency, day_no),
    CONSTRAINT payout_day_totals_nonnegative CHECK (total_minor >= 0)
);
