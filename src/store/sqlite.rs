//! The embedded SQLite backend: one write connection (writes begin with `BEGIN IMMEDIATE`) and a read pool,
//! in WAL mode.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use anyhow::{anyhow, Context};
use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, SqlitePool};

use super::migrate::MigrationConnection;
use super::{
    ApiKey, Content, Document, EditOutcome, OpenOutcome, OpenRequest, SaveRecord, SaveState,
    Session, Store, StoreResult, UsagePeriod, UsageRow,
};
use crate::config;
use crate::domain::callback::SaveOutcome;
use crate::domain::params::{SessionSettings, UserInfo};
use crate::domain::time::now_ms;
use crate::domain::{DocumentType, Editor, Format, SessionKind, SessionStatus};

mod embedded {
    refinery::embed_migrations!("migrations/sqlite");
}

const READ_CONNECTIONS: u32 = 4;

pub struct SqliteStore {
    writer: SqlitePool,
    reader: SqlitePool,
}

/// `sqlite://path`, `sqlite:path` or a plain file path.
fn connect_options(url: &str) -> anyhow::Result<SqliteConnectOptions> {
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
    pub async fn connect(
        url: &str,
        synchronous: config::SqliteSynchronous,
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
                .run_async(&mut MigrationConnection(&mut connection))
                .await
                .context("database migration failed")?;
        }
        let reader = SqlitePoolOptions::new()
            .max_connections(READ_CONNECTIONS)
            .connect_with(options.read_only(true))
            .await?;
        Ok(SqliteStore { writer, reader })
    }
}

#[derive(FromRow)]
struct ApiKeyRow {
    id: i64,
    name: String,
    key_prefix: String,
    usage_limit: Option<i64>,
    created_at: i64,
    revoked_at: Option<i64>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(row: ApiKeyRow) -> ApiKey {
        ApiKey {
            id: row.id,
            name: row.name,
            prefix: row.key_prefix,
            usage_limit: row.usage_limit,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

const API_KEY_COLUMNS: &str = "id, name, key_prefix, usage_limit, created_at, revoked_at";

#[derive(FromRow)]
struct DocumentRow {
    id: i64,
    api_key_id: i64,
    editor: String,
    document_id: String,
    name: String,
    document_type: String,
    created_at: i64,
    expires_at: i64,
}

const DOCUMENT_COLUMNS: &str =
    "d.id, d.api_key_id, d.editor, d.document_id, d.name, d.document_type, d.created_at, d.expires_at";

impl TryFrom<DocumentRow> for Document {
    type Error = anyhow::Error;

    fn try_from(row: DocumentRow) -> anyhow::Result<Document> {
        Ok(Document {
            pk: row.id,
            api_key_id: row.api_key_id,
            editor: Editor::parse(&row.editor)
                .ok_or_else(|| anyhow!("unknown editor {:?}", row.editor))?,
            document_id: row.document_id,
            name: row.name,
            document_type: DocumentType::parse(&row.document_type)
                .ok_or_else(|| anyhow!("unknown document type {:?}", row.document_type))?,
            created_at: row.created_at,
            expires_at: row.expires_at,
        })
    }
}

#[derive(FromRow)]
struct SessionRow {
    #[sqlx(flatten)]
    document: DocumentRow,
    session_pk: i64,
    session_id: String,
    kind: String,
    user_id: Option<String>,
    display_name: Option<String>,
    settings: String,
    status: String,
    session_created_at: i64,
    session_expires_at: i64,
}

const SESSION_SELECT: &str = "SELECT d.id, d.api_key_id, d.editor, d.document_id, d.name, d.document_type, \
     d.created_at, d.expires_at, s.id AS session_pk, s.session_id, s.kind, s.user_id, s.display_name, s.settings, \
     s.status, s.created_at AS session_created_at, s.expires_at AS session_expires_at \
     FROM sessions s JOIN documents d ON d.id = s.document_pk";

impl TryFrom<SessionRow> for Session {
    type Error = anyhow::Error;

    fn try_from(row: SessionRow) -> anyhow::Result<Session> {
        Ok(Session {
            pk: row.session_pk,
            session_id: row.session_id,
            document: row.document.try_into()?,
            kind: SessionKind::parse(&row.kind)
                .ok_or_else(|| anyhow!("unknown session kind {:?}", row.kind))?,
            user: UserInfo {
                user_id: row.user_id,
                display_name: row.display_name,
            },
            settings: decode_settings(&row.settings)?,
            status: SessionStatus::parse(&row.status)
                .ok_or_else(|| anyhow!("unknown status {:?}", row.status))?,
            created_at: row.session_created_at,
            expires_at: row.session_expires_at,
        })
    }
}

fn encode_settings(settings: &SessionSettings) -> String {
    serde_json::json!({
        "permissions": settings.permissions,
        "callback_settings": settings.callback_settings,
        "editor_settings": settings.editor_settings,
        "ui_options": settings.ui_options,
        "document_defaults": settings.document_defaults,
    })
    .to_string()
}

fn decode_settings(text: &str) -> anyhow::Result<SessionSettings> {
    let value: serde_json::Value = serde_json::from_str(text)?;
    let object = |key: &str| value.get(key).and_then(|v| v.as_object()).cloned();
    Ok(SessionSettings {
        permissions: object("permissions").unwrap_or_default(),
        callback_settings: object("callback_settings"),
        editor_settings: object("editor_settings"),
        ui_options: object("ui_options"),
        document_defaults: object("document_defaults"),
    })
}

#[derive(FromRow)]
struct ContentRow {
    part: String,
    format: String,
    filename: Option<String>,
    bytes: Vec<u8>,
}

fn content_from_row(row: ContentRow) -> anyhow::Result<Content> {
    Ok(Content {
        format: Format::from_extension(&row.format)
            .ok_or_else(|| anyhow!("unknown stored format {:?}", row.format))?,
        part: row.part,
        filename: row.filename,
        bytes: row.bytes,
    })
}

#[derive(FromRow)]
struct VersionedContentRow {
    #[sqlx(flatten)]
    content: ContentRow,
    version: i64,
}

#[derive(FromRow)]
struct SaveStateRow {
    version: i64,
    saved_version: Option<i64>,
    saved_at: Option<i64>,
    outcome: Option<String>,
}

#[derive(FromRow)]
struct UsageReportRow {
    name: String,
    key_prefix: String,
    period: String,
    opens: i64,
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

    async fn open(&self, request: &OpenRequest) -> StoreResult<OpenOutcome> {
        let mut tx = self.writer.begin_with("BEGIN IMMEDIATE").await?;

        if let Some((allowance, cycle_start)) = request.allowance {
            let (opens,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM usage_events WHERE api_key_id = $1 AND created_at >= $2",
            )
            .bind(request.api_key_id)
            .bind(cycle_start)
            .fetch_one(&mut *tx)
            .await?;
            if opens >= allowance {
                return Ok(OpenOutcome::UsageExceeded);
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
                    return Ok(OpenOutcome::NeedsContent);
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

        let row: SessionRow = sqlx::query_as(&format!("{SESSION_SELECT} WHERE s.session_id = $1"))
            .bind(&session.session_id)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(OpenOutcome::Opened {
            session: Box::new(row.try_into()?),
            joined,
        })
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
        rows.into_iter().map(content_from_row).collect()
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
        row.map(|row| Ok((content_from_row(row.content)?, row.version)))
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
        let Some(row) = row else {
            return Ok(None);
        };
        let last_save = match (row.saved_version, row.saved_at, row.outcome) {
            (Some(version), Some(at), Some(outcome)) => Some(SaveRecord {
                version,
                at,
                outcome: SaveOutcome::parse(&outcome)
                    .ok_or_else(|| anyhow!("unknown save outcome {outcome:?}"))?,
            }),
            _ => None,
        };
        Ok(Some(SaveState {
            version: row.version,
            last_save,
        }))
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

    async fn count_opens(&self, api_key_id: i64, since: i64) -> StoreResult<i64> {
        let (opens,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM usage_events WHERE api_key_id = $1 AND created_at >= $2",
        )
        .bind(api_key_id)
        .bind(since)
        .fetch_one(&self.reader)
        .await?;
        Ok(opens)
    }

    async fn usage_report(&self, period: UsagePeriod) -> StoreResult<Vec<UsageRow>> {
        let query = match period {
            UsagePeriod::Day => {
                "SELECT k.name, k.key_prefix, u.day AS period, u.opens FROM usage_daily u \
                 JOIN api_keys k ON k.id = u.api_key_id ORDER BY period, k.id"
            }
            UsagePeriod::Month => {
                "SELECT k.name, k.key_prefix, u.month AS period, u.opens FROM usage_monthly u \
                 JOIN api_keys k ON k.id = u.api_key_id ORDER BY period, k.id"
            }
        };
        let rows: Vec<UsageReportRow> = sqlx::query_as(query).fetch_all(&self.reader).await?;
        Ok(rows
            .into_iter()
            .map(|row| UsageRow {
                key_name: row.name,
                key_prefix: row.key_prefix,
                period: row.period,
                opens: row.opens,
            })
            .collect())
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
