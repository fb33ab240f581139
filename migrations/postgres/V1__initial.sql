-- The PostgreSQL twin of migrations/sqlite/V1__initial.sql (same version numbers, same tables).
-- Times are BIGINT epoch milliseconds (UTC), compared as raw columns so their indexes are used.

CREATE TABLE api_keys (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT   NOT NULL,
    key_hash    TEXT   NOT NULL UNIQUE,
    key_prefix  TEXT   NOT NULL,
    usage_limit BIGINT,
    created_at  BIGINT NOT NULL,
    revoked_at  BIGINT
);

CREATE TABLE documents (
    id            BIGSERIAL PRIMARY KEY,
    api_key_id    BIGINT NOT NULL REFERENCES api_keys (id),
    editor        TEXT   NOT NULL,
    document_id   TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    document_type TEXT   NOT NULL,
    created_at    BIGINT NOT NULL,
    -- the latest expiry of its sessions
    expires_at    BIGINT NOT NULL,
    UNIQUE (api_key_id, editor, document_id)
);
CREATE INDEX documents_expires_at ON documents (expires_at);

-- Document bytes live apart so that document and session rows stay small and scans stay fast.
CREATE TABLE document_contents (
    document_pk BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    part        TEXT   NOT NULL,
    format      TEXT   NOT NULL,
    filename    TEXT,
    bytes       BYTEA  NOT NULL,
    PRIMARY KEY (document_pk, part)
);

CREATE TABLE sessions (
    id           BIGSERIAL PRIMARY KEY,
    session_id   TEXT   NOT NULL UNIQUE,
    document_pk  BIGINT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    kind         TEXT   NOT NULL,
    user_id      TEXT,
    display_name TEXT,
    -- permissions, callback_settings, editor_settings, ui_options, document_defaults as one JSON object
    settings     TEXT   NOT NULL,
    status       TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);
CREATE INDEX sessions_document_pk ON sessions (document_pk);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- The billing record: one row per successful open. Never purged, so it references no session or document.
CREATE TABLE usage_events (
    id          BIGSERIAL PRIMARY KEY,
    api_key_id  BIGINT NOT NULL REFERENCES api_keys (id),
    editor      TEXT   NOT NULL,
    operation   TEXT   NOT NULL,
    document_id TEXT   NOT NULL,
    session_id  TEXT   NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX usage_events_key_time ON usage_events (api_key_id, created_at);

CREATE VIEW usage_daily AS
SELECT api_key_id, to_char(to_timestamp(created_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
       COUNT(*) AS opens
FROM usage_events
GROUP BY api_key_id, day;

CREATE VIEW usage_monthly AS
SELECT api_key_id, to_char(to_timestamp(created_at / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM') AS month,
       COUNT(*) AS opens
FROM usage_events
GROUP BY api_key_id, month;
