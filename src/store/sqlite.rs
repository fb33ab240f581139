//! The embedded SQLite backend: one write connection (writes begin with `BEGIN IMMEDIATE`) and a read pool,
//! in WAL mode.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Acquire, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use super::migrate::SqliteMigrations;
use super::rows::{
    encode_settings, usage_report_query, ApiKeyRow, ContentRow, DocumentRow, SaveStateRow,
    SessionRow, UsageReportRow, VersionedContentRow, API_KEY_COLUMNS, COUNT_OPEN_IN_ROLLUP,
    DOCUMENT_COLUMNS, OPENS_SINCE_DAY, SESSION_SELECT,
};
use super::{
    ApiKey, Content, Document, EditOutcome, OpenOutcome, OpenRequest, SaveRecord, SaveState,
    Session, Store, StoreResult, UsageFilter, UsagePeriod, UsageRow,
};
use crate::config;
use crate::domain::time::{day_start, now_ms};
use crate::domain::{Editor, SessionStatus};

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

const READ_CONNECTIONS: u32 = 4;
/// Opens waiting for the committer; a full queue makes callers wait.
const OPEN_QUEUE: usize = 1024;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
    opens: mpsc::Sender<PendingOpen>,
}

/// An open waiting for its commit, and where its outcome goes once that commit is done.
struct PendingOpen {
    request: OpenRequest,
    reply: oneshot::Sender<StoreResult<OpenOutcome>>,
}

/// `sqlite://path`, `sqlite:path` or a plain file path.
pub(super) fn connect_options(url: &str) -> anyhow::Result<SqliteConnectOptions> {
    let options = if url.starts_with("sqlite:") {
        SqliteConnectOptions::from_str(url)
            .with_context(|| format!("invalid SQLite URL {url:?}"))?
    } else {
        SqliteConnectOptions::new().filename(url)
    };
    let path = options.get_filename();
    if let Some(parent) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    Ok(options)
}

impl SqliteStore {
    /// `open_batch`: the most opens one transaction commits together (1: a transaction per open).
    pub async fn connect(
        url: &str,
        synchronous: config::SqliteSynchronous,
        open_batch: usize,
    ) -> anyhow::Result<SqliteStore> {
        let options = connect_options(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match synchronous {
                config::SqliteSynchronous::Normal => SqliteSynchronous::Normal,
                config::SqliteSynchronous::Full => SqliteSynchronous::Full,
            })
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options.clone())
            .await
            .with_context(|| {
                format!(
                    "cannot open the SQLite database at {}",
                    Path::new(options.get_filename()).display()
                )
            })?;
        {
            let mut connection = writer.acquire().await?;
            embedded::migrations::runner()
                .run_async(&mut SqliteMigrations(&mut connection))
                .await
                .context("database migration failed")?;
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(options.read_only(true))
            .await?;
        let (opens, queue) = mpsc::channel(OPEN_QUEUE);
        tokio::spawn(commit_opens(writer.clone(), queue, open_batch.max(1)));
        Ok(SqliteStore {
            writer,
            reader,
            opens,
        })
    }

    pub(super) fn reader(&self) -> &SqlitePool {
        &self.reader
    }
}

/// Group commit: the one task that writes opens. It takes every open queued at that moment (up to `batch`),
/// writes each under its own savepoint in one transaction, commits once, and only then answers each caller, so
/// an open is acknowledged only once it is durable and a failing open takes no other open down with it.
async fn commit_opens(writer: SqlitePool, mut queue: mpsc::Receiver<PendingOpen>, batch: usize) {
    let mut pending = Vec::with_capacity(batch);
    while queue.recv_many(&mut pending, batch).await > 0 {
        let opens = std::mem::take(&mut pending);
        match commit_batch(&writer, &opens).await {
            Ok(outcomes) => {
                for (open, outcome) in opens.into_iter().zip(outcomes) {
                    let outcome = outcome.map(|outcome| match outcome {
                        Written::Opened { session, joined } => {
                            OpenOutcome::Opened { session, joined }
                        }
                        Written::UsageExceeded => OpenOutcome::UsageExceeded,
                        Written::NeedsContent => OpenOutcome::NeedsContent(Box::new(open.request)),
                    });
                    // A caller that went away no longer needs its answer; its open stays committed.
                    let _ = open.reply.send(outcome);
                }
            }
            Err(err) => {
                let message = format!("{err:#}");
                for open in opens {
                    let _ = open
                        .reply
                        .send(Err(anyhow!("group commit failed: {message}")));
                }
            }
        }
    }
}

/// What one open wrote, before its request goes back to the caller.
enum Written {
    Opened { session: Box<Session>, joined: bool },
    UsageExceeded,
    NeedsContent,
}

async fn commit_batch(
    writer: &SqlitePool,
    opens: &[PendingOpen],
) -> StoreResult<Vec<StoreResult<Written>>> {
    let mut tx = writer.begin_with("BEGIN IMMEDIATE").await?;
    let mut outcomes = Vec::with_capacity(opens.len());
    for open in opens {
        let mut savepoint = tx.begin().await?;
        let outcome = write_open(&mut savepoint, &open.request).await;
        if outcome.is_ok() {
            savepoint.commit().await?;
        } else {
            savepoint.rollback().await?;
        }
        outcomes.push(outcome);
    }
    tx.commit().await?;
    Ok(outcomes)
}

async fn write_open(tx: &mut SqliteConnection, request: &OpenRequest) -> StoreResult<Written> {
    if let Some((allowance, cycle_start)) = request.allowance {
        let (opens,): (i64,) = sqlx::query_as(OPENS_SINCE_DAY)
            .bind(request.api_key_id)
            .bind(cycle_start)
            .fetch_one(&mut *tx)
            .await?;
        if opens >= allowance {
            return Ok(Written::UsageExceeded);
        }
    }

    let existing: Option<(i64, i64)> = sqlx::query_as(
        "SELECT id, expires_at FROM documents WHERE api_key_id = $1 AND editor = $2 AND document_id = $3",
    )
    .bind(request.api_key_id)
    .bind(request.editor.as_str())
    .bind(&request.document_id)
    .fetch_optional(&mut *tx)
    .await?;

    let live = existing
        .filter(|&(_, expires_at)| expires_at > request.now)
        .map(|(pk, _)| pk);
    let (document_pk, joined) = match live {
        Some(pk) => {
            sqlx::query("UPDATE documents SET expires_at = MAX(expires_at, $1) WHERE id = $2")
                .bind(request.expires_at)
                .bind(pk)
                .execute(&mut *tx)
                .await?;
            (pk, true)
        }
        None => {
            let Some(content) = &request.content else {
                return Ok(Written::NeedsContent);
            };
            if let Some((expired_pk, _)) = existing {
                sqlx::query("DELETE FROM documents WHERE id = $1")
                    .bind(expired_pk)
                    .execute(&mut *tx)
                    .await?;
            }
            let (pk,): (i64,) = sqlx::query_as(
                "INSERT INTO documents (api_key_id, editor, document_id, name, document_type, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(request.api_key_id)
            .bind(request.editor.as_str())
            .bind(&request.document_id)
            .bind(&request.document_name)
            .bind(request.document_type.as_str())
            .bind(request.now)
            .bind(request.expires_at)
            .fetch_one(&mut *tx)
            .await?;
            for part in content {
                sqlx::query(
                    "INSERT INTO document_contents (document_pk, part, format, filename, bytes) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(pk)
                .bind(&part.part)
                .bind(part.format.extension())
                .bind(&part.filename)
                .bind(&part.bytes)
                .execute(&mut *tx)
                .await?;
            }
            (pk, false)
        }
    };

    let session = &request.session;
    sqlx::query(
        "INSERT INTO sessions (session_id, document_pk, kind, user_id, display_name, settings, status, created_at, \
         expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&session.session_id)
    .bind(document_pk)
    .bind(session.kind.as_str())
    .bind(&session.user.user_id)
    .bind(&session.user.display_name)
    .bind(encode_settings(&session.settings))
    .bind(SessionStatus::Inactive.as_str())
    .bind(request.now)
    .bind(request.expires_at)
    .execute(&mut *tx)
    .await?;

    let operation = if joined {
        "coedit"
    } else {
        session.kind.as_str()
    };
    sqlx::query(
        "INSERT INTO usage_events (api_key_id, editor, operation, document_id, session_id, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(request.api_key_id)
    .bind(request.editor.as_str())
    .bind(operation)
    .bind(&request.document_id)
    .bind(&session.session_id)
    .bind(request.now)
    .execute(&mut *tx)
    .await?;
    sqlx::query(COUNT_OPEN_IN_ROLLUP)
        .bind(request.api_key_id)
        .bind(day_start(request.now))
        .execute(&mut *tx)
        .await?;

    let row: SessionRow = sqlx::query_as(&format!("{SESSION_SELECT} WHERE s.session_id = $1"))
        .bind(&session.session_id)
        .fetch_one(&mut *tx)
        .await?;
    Ok(Written::Opened {
        session: Box::new(row.try_into()?),
        joined,
    })
}

#[async_trait]
impl Store for SqliteStore {
    async fn now(&self) -> StoreResult<i64> {
        Ok(now_ms())
    }

    async fn insert_api_key(
        &self,
        name: &str,
        key_hash: &str,
        prefix: &str,
        limit: Option<i64>,
        now: i64,
    ) -> StoreResult<ApiKey> {
        let row: ApiKeyRow = sqlx::query_as(&format!(
            "INSERT INTO api_keys (name, key_hash, key_prefix, usage_limit, created_at) VALUES ($1, $2, $3, $4, $5) \
             RETURNING {API_KEY_COLUMNS}"
        ))
        .bind(name)
        .bind(key_hash)
        .bind(prefix)
        .bind(limit)
        .bind(now)
        .fetch_one(&self.writer)
        .await?;
        Ok(row.into())
    }

    async fn ensure_api_key(
        &self,
        name: &str,
        key_hash: &str,
        prefix: &str,
        now: i64,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO api_keys (name, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (key_hash) DO NOTHING",
        )
        .bind(name)
        .bind(key_hash)
        .bind(prefix)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(key_hash)
        .fetch_optional(&self.reader)
        .await?;
        Ok(row.map(ApiKey::from))
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY id"
        ))
        .fetch_all(&self.reader)
        .await?;
        Ok(rows.into_iter().map(ApiKey::from).collect())
    }

    async fn revoke_api_key(&self, id: Option<i64>, key_hash: &str, now: i64) -> StoreResult<bool> {
        let result =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE (id = $2 OR key_hash = $3) AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .bind(key_hash)
                .execute(&self.writer)
                .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn open(&self, request: OpenRequest) -> StoreResult<OpenOutcome> {
        let (reply, answer) = oneshot::channel();
        self.opens
            .send(PendingOpen { request, reply })
            .await
            .map_err(|_| anyhow!("the open committer has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow!("the open committer dropped an open"))?
    }

    async fn find_session(&self, session_id: &str) -> StoreResult<Option<Session>> {
        let row: Option<SessionRow> =
            sqlx::query_as(&format!("{SESSION_SELECT} WHERE s.session_id = $1"))
                .bind(session_id)
                .fetch_optional(&self.reader)
                .await?;
        row.map(Session::try_from).transpose()
    }

    async fn mark_session_active(&self, session_pk: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET status = $1 WHERE id = $2 AND status = $3")
            .bind(SessionStatus::Active.as_str())
            .bind(session_pk)
            .bind(SessionStatus::Inactive.as_str())
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, session_pk: i64) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(session_pk)
            .execute(&self.writer)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn find_document(
        &self,
        api_key_id: i64,
        editor: Editor,
        document_id: &str,
    ) -> StoreResult<Option<Document>> {
        let row: Option<DocumentRow> = sqlx::query_as(&format!(
            "SELECT {DOCUMENT_COLUMNS} FROM documents d WHERE d.api_key_id = $1 AND d.editor = $2 AND d.document_id = $3"
        ))
        .bind(api_key_id)
        .bind(editor.as_str())
        .bind(document_id)
        .fetch_optional(&self.reader)
        .await?;
        row.map(Document::try_from).transpose()
    }

    async fn live_sessions(&self, document_pk: i64, now: i64) -> StoreResult<Vec<Session>> {
        let rows: Vec<SessionRow> = sqlx::query_as(&format!(
            "{SESSION_SELECT} WHERE s.document_pk = $1 AND s.expires_at > $2 ORDER BY s.id"
        ))
        .bind(document_pk)
        .bind(now)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(Session::try_from).collect()
    }

    async fn delete_document(&self, document_pk: i64) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM documents WHERE id = $1")
            .bind(document_pk)
            .execute(&self.writer)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn contents(&self, document_pk: i64) -> StoreResult<Vec<Content>> {
        let rows: Vec<ContentRow> = sqlx::query_as(
            "SELECT part, format, filename, bytes FROM document_contents WHERE document_pk = $1 ORDER BY part",
        )
        .bind(document_pk)
        .fetch_all(&self.reader)
        .await?;
        rows.into_iter().map(Content::try_from).collect()
    }

    async fn versioned_content(
        &self,
        document_pk: i64,
        part: &str,
    ) -> StoreResult<Option<(Content, i64)>> {
        let row: Option<VersionedContentRow> = sqlx::query_as(
            "SELECT c.part, c.format, c.filename, c.bytes, d.version FROM document_contents c \
             JOIN documents d ON d.id = c.document_pk WHERE c.document_pk = $1 AND c.part = $2",
        )
        .bind(document_pk)
        .bind(part)
        .fetch_optional(&self.reader)
        .await?;
        row.map(|row| Ok((Content::try_from(row.content)?, row.version)))
            .transpose()
    }

    async fn store_edit(
        &self,
        document_pk: i64,
        part: &str,
        expected_version: i64,
        bytes: &[u8],
    ) -> StoreResult<EditOutcome> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;
        let current: Option<(i64,)> = sqlx::query_as("SELECT version FROM documents WHERE id = $1")
            .bind(document_pk)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((current,)) = current else {
            return Ok(EditOutcome::Gone);
        };
        if current != expected_version {
            return Ok(EditOutcome::Conflict { current });
        }
        let updated = sqlx::query(
            "UPDATE document_contents SET bytes = $1 WHERE document_pk = $2 AND part = $3",
        )
        .bind(bytes)
        .bind(document_pk)
        .bind(part)
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() == 0 {
            return Ok(EditOutcome::Gone);
        }
        sqlx::query("UPDATE documents SET version = $1 WHERE id = $2")
            .bind(current + 1)
            .bind(document_pk)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(EditOutcome::Stored {
            version: current + 1,
        })
    }

    async fn save_state(&self, session_pk: i64) -> StoreResult<Option<SaveState>> {
        let row: Option<SaveStateRow> = sqlx::query_as(
            "SELECT d.version, v.version AS saved_version, v.saved_at, v.outcome FROM sessions s \
             JOIN documents d ON d.id = s.document_pk LEFT JOIN session_saves v ON v.session_pk = s.id \
             WHERE s.id = $1",
        )
        .bind(session_pk)
        .fetch_optional(&self.reader)
        .await?;
        row.map(SaveState::try_from).transpose()
    }

    async fn record_save(&self, session_pk: i64, save: &SaveRecord) -> StoreResult<()> {
        // A session deleted while its save was under way has nothing left to record.
        sqlx::query(
            "INSERT INTO session_saves (session_pk, version, saved_at, outcome) \
             SELECT id, $2, $3, $4 FROM sessions WHERE id = $1 \
             ON CONFLICT (session_pk) DO UPDATE SET version = excluded.version, saved_at = excluded.saved_at, \
             outcome = excluded.outcome",
        )
        .bind(session_pk)
        .bind(save.version)
        .bind(save.at)
        .bind(save.outcome.as_str())
        .execute(&self.writer)
        .await?;
        Ok(())
    }

    async fn count_opens(&self, api_key_id: i64, since_day: i64) -> StoreResult<i64> {
        let (opens,): (i64,) = sqlx::query_as(OPENS_SINCE_DAY)
            .bind(api_key_id)
            .bind(since_day)
            .fetch_one(&self.reader)
            .await?;
        Ok(opens)
    }

    async fn usage_report(
        &self,
        period: UsagePeriod,
        filter: &UsageFilter,
    ) -> StoreResult<Vec<UsageRow>> {
        let period = match period {
            UsagePeriod::Day => "strftime('%Y-%m-%d', u.day / 1000, 'unixepoch')",
            UsagePeriod::Month => "strftime('%Y-%m', u.day / 1000, 'unixepoch')",
        };
        let query = usage_report_query(period, filter.api_key_id.is_some());
        let mut report = sqlx::query_as(&query).bind(filter.since_day);
        if let Some(key) = filter.api_key_id {
            report = report.bind(key);
        }
        let rows: Vec<UsageReportRow> = report.fetch_all(&self.reader).await?;
        Ok(rows.into_iter().map(UsageRow::from).collect())
    }

    async fn try_acquire_lease(&self, name: &str, owner: &str, ttl_ms: i64) -> StoreResult<bool> {
        let now = now_ms();
        let result = sqlx::query(
            "INSERT INTO purge_lease (name, owner, expires_at) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at \
             WHERE purge_lease.owner = excluded.owner OR purge_lease.expires_at <= $4",
        )
        .bind(name)
        .bind(owner)
        .bind(now + ttl_ms)
        .bind(now)
        .execute(&self.writer)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn purge_sessions(&self, cutoff: i64, limit: i64) -> StoreResult<u64> {
        let result = sqlx::query(
            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= $1 LIMIT $2)",
        )
        .bind(cutoff)
        .bind(limit)
        .execute(&self.writer)
        .await?;
        Ok(result.rows_affected())
    }

    async fn purge_documents(&self, cutoff: i64, limit: i64) -> StoreResult<u64> {
        let result = sqlx::query(
            "DELETE FROM documents WHERE id IN (SELECT id FROM documents WHERE expires_at <= $1 LIMIT $2)",
        )
        .bind(cutoff)
        .bind(limit)
        .execute(&self.writer)
        .await?;
        Ok(result.rows_affected())
    }
}
