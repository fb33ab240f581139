-- Opens per key per UTC day, kept in the same transaction as each usage event, so that plan details, the usage
-- limit and the usage reports read at most one row per key and day however many usage events there are.
CREATE TABLE usage_counts (
    api_key_id BIGINT NOT NULL REFERENCES api_keys (id),
    -- epoch ms of the day's first instant (UTC)
    day        BIGINT NOT NULL,
    opens      BIGINT NOT NULL,
    PRIMARY KEY (api_key_id, day)
);

INSERT INTO usage_counts (api_key_id, day, opens)
SELECT api_key_id, created_at - created_at % 86400000 AS day, COUNT(*)
FROM usage_events
GROUP BY api_key_id, created_at - created_at % 86400000;

DROP VIEW usage_daily;
DROP VIEW usage_monthly;

CREATE VIEW usage_daily AS
SELECT api_key_id, to_char(to_timestamp(day / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, opens
FROM usage_counts;

CREATE VIEW usage_monthly AS
SELECT api_key_id, to_char(to_timestamp(day / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
       SUM(opens)::BIGINT AS opens
FROM usage_counts
GROUP BY api_key_id, month;

-- Reports of every key from a given day on.
CREATE INDEX usage_counts_day ON usage_counts (day);
