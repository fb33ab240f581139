-- Edits from the session pages. Each edit bumps the document's version; an edit made on an older version is
-- refused, so that two co-editors never overwrite each other silently.
ALTER TABLE documents ADD COLUMN version INTEGER NOT NULL DEFAULT 1;

-- The latest save to the host per session, so that a reloaded page can still tell a failed save.
CREATE TABLE session_saves (
    session_pk INTEGER PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    -- the document version that was sent
    version    INTEGER NOT NULL,
    saved_at   INTEGER NOT NULL,
    -- saved, refused (the host answered non-2xx) or unreachable
    outcome    TEXT    NOT NULL
);
