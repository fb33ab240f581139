-- Opens per key per UTC day, kept in the same transaction as each usage event, so that plan details, the usage
-- limit and the usage reports read at most one row per key and day however many usage events there are.
CREATE TABLE usage_counts (
    api_key_id INTEGER NOT NULL REFERENCES api_keys (id),
    -- epoch ms of the day's first instant (UTC)
    day        INTEGER NOT NULL,
    opens      INTEGER NOT NULL,
    PRIMARY KEY (api_key_id, day)
) WITHOUT ROWID;

INSERT INTO usage_counts (api_key_id, day, opens)
SELECT api_key_id, created_at - created_at % 86400000 AS day, COUNT(*)
FROM usage_events
GROUP BY api_key_id, day;

DROP VIEW usage_daily;
DROP VIEW usage_monthly;

CREATE VIEW usage_daily AS
SELECT api_key_id, strftime('%Y-%m-%d', day / 1000, 'unixepoch') AS day, opens
FROM usage_counts;

CREATE VIEW usage_monthly AS
SELECT api_key_id, strftime('%Y-%m', day / 1000, 'unixepoch') AS month, SUM(opens) AS opens
FROM usage_counts
GROUP BY api_key_id, month;

-- Reports of every key from a given day on.
CREATE INDEX usage_counts_day ON usage_counts (day);
