//! The PostgreSQL backend, for several instances sharing one database. Nothing that another instance needs is
//! kept in process memory: document content lives in the database, expiry and purge read the database clock,
//! and cluster-wide jobs take a lease row.

use std::str::FromStr;

use anyhow::Context;
use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{Connection, PgConnection, PgPool};

use super::migrate::PgMigrations;
use super::rows::{
    encode_settings, usage_report_query, ApiKeyRow, ContentRow, DocumentRow, SaveStateRow,
    SessionRow, UsageReportRow, VersionedContentRow, API_KEY_COLUMNS, COUNT_OPEN_IN_ROLLUP,
    DOCUMENT_COLUMNS, OPENS_SINCE_DAY, SESSION_SELECT,
};
use super::{
    ApiKey, Content, Document, EditOutcome, OpenOutcome, OpenRequest, SaveRecord, SaveState,
    Session, Store, StoreResult, UsageFilter, UsagePeriod, UsageRow,
};
use crate::config::redact_url;
use crate::domain::time::day_start;
use crate::domain::{Editor, SessionStatus};

mod embedded {
    refinery::embed_migrations!("migrations/postgres");
}

const POOL_CONNECTIONS: u32 = 10;

/// The database clock in epoch ms; `clock_timestamp()`, not `now()`, which stands still within a transaction.
const DATABASE_NOW: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

/// Held (session-level) around a migration run: refinery takes no lock of its own, and instances starting
/// together on an empty database would otherwise race to create the same tables. The value is arbitrary but fixed.
const MIGRATION_LOCK: i64 = 0x646f_6373_6573_7369;

pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str) -> anyhow::Result<PgStore> {
        let options = PgConnectOptions::from_str(url)
            .with_context(|| format!("invalid PostgreSQL URL {}", redact_url(url)))?;
        let cannot_connect = || format!("cannot connect to PostgreSQL at {}", redact_url(url));
        // Its own connection, closed afterwards, so the advisory lock can never linger in a pooled one.
        let mut connection = PgConnection::connect_with(&options)
            .await
            .with_context(cannot_connect)?;
        migrate(&mut connection).await?;
        connection.close().await?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_CONNECTIONS)
            .connect_with(options)
            .await
            .with_context(cannot_connect)?;
        Ok(PgStore { pool })
    }

    pub(super) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

async fn migrate(connection: &mut PgConnection) -> anyhow::Result<()> {
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *connection)
        .await?;
    let result = embedded::migrations::runner()
        .run_async(&mut PgMigrations(connection))
        .await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *connection)
        .await?;
    result.context("database migration failed")?;
    Ok(())
}

#[async_trait]
impl Store for PgStore {
    async fn now(&self) -> StoreResult<i64> {
        let (now,): (i64,) = sqlx::query_as(&format!("SELECT {DATABASE_NOW}"))
            .fetch_one(&self.pool)
            .await?;
        Ok(now)
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
        .fetch_one(&self.pool)
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
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>> {
        let row: Option<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
        ))
        .bind(key_hash)
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(ApiKey::from))
    }

    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>> {
        let rows: Vec<ApiKeyRow> = sqlx::query_as(&format!(
            "SELECT {API_KEY_COLUMNS} FROM api_keys ORDER BY id"
        ))
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(ApiKey::from).collect())
    }

    async fn revoke_api_key(&self, id: Option<i64>, key_hash: &str, now: i64) -> StoreResult<bool> {
        let result =
            sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE (id = $2 OR key_hash = $3) AND revoked_at IS NULL")
                .bind(now)
                .bind(id)
                .bind(key_hash)
                .execute(&self.pool)
                .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn open(&self, request: OpenRequest) -> StoreResult<OpenOutcome> {
        let mut tx = self.pool.begin().await?;

        if let Some((allowance, cycle_start)) = request.allowance {
            // Opens for one limited key queue on its row, across instances, so each count below sees every
            // open committed before it and none slips past the allowance.
            sqlx::query("SELECT id FROM api_keys WHERE id = $1 FOR UPDATE")
                .bind(request.api_key_id)
                .execute(&mut *tx)
                .await?;
            let (opens,): (i64,) = sqlx::query_as(OPENS_SINCE_DAY)
                .bind(request.api_key_id)
                .bind(cycle_start)
                .fetch_one(&mut *tx)
                .await?;
            if opens >= allowance {
                return Ok(OpenOutcome::UsageExceeded);
            }
        }

        let mut attempts = 0;
        let (document_pk, joined) = loop {
            attempts += 1;
            if attempts > 3 {
                anyhow::bail!(
                    "document {:?} kept changing during the open",
                    request.document_id
                );
            }
            // The row lock keeps a concurrent purge or delete off the document until this open commits.
            let existing: Option<(i64, i64)> = sqlx::query_as(
                "SELECT id, expires_at FROM documents WHERE api_key_id = $1 AND editor = $2 AND document_id = $3 \
                 FOR UPDATE",
            )
            .bind(request.api_key_id)
            .bind(request.editor.as_str())
            .bind(&request.document_id)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((pk, expires_at)) = existing {
                if expires_at > request.now {
                    sqlx::query(
                        "UPDATE documents SET expires_at = GREATEST(expires_at, $1) WHERE id = $2",
                    )
                    .bind(request.expires_at)
                    .bind(pk)
                    .execute(&mut *tx)
                    .await?;
                    break (pk, true);
                }
            }
            let Some(content) = &request.content else {
                return Ok(OpenOutcome::NeedsContent(Box::new(request)));
            };
            if let Some((expired_pk, _)) = existing {
                sqlx::query("DELETE FROM documents WHERE id = $1")
                    .bind(expired_pk)
                    .execute(&mut *tx)
                    .await?;
            }
            // Two instances creating one document_id at once: the second waits here for the first to commit,
            // inserts nothing, and joins the first's document on the next pass.
            let inserted: Option<(i64,)> = sqlx::query_as(
                "INSERT INTO documents (api_key_id, editor, document_id, name, document_type, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (api_key_id, editor, document_id) DO NOTHING RETURNING id",
            )
            .bind(request.api_key_id)
            .bind(request.editor.as_str())
            .bind(&request.document_id)
            .bind(&request.document_name)
            .bind(request.document_type.as_str())
            .bind(request.now)
            .bind(request.expires_at)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some((pk,)) = inserted {
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
                break (pk, false);
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
                .fetch_optional(&self.pool)
                .await?;
        row.map(Session::try_from).transpose()
    }

    async fn mark_session_active(&self, session_pk: i64) -> StoreResult<()> {
        sqlx::query("UPDATE sessions SET status = $1 WHERE id = $2 AND status = $3")
            .bind(SessionStatus::Active.as_str())
            .bind(session_pk)
            .bind(SessionStatus::Inactive.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, session_pk: i64) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM sessions WHERE id = $1")
            .bind(session_pk)
            .execute(&self.pool)
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
        .fetch_optional(&self.pool)
        .await?;
        row.map(Document::try_from).transpose()
    }

    async fn live_sessions(&self, document_pk: i64, now: i64) -> StoreResult<Vec<Session>> {
        let rows: Vec<SessionRow> = sqlx::query_as(&format!(
            "{SESSION_SELECT} WHERE s.document_pk = $1 AND s.expires_at > $2 ORDER BY s.id"
        ))
        .bind(document_pk)
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(Session::try_from).collect()
    }

    async fn delete_document(&self, document_pk: i64) -> StoreResult<bool> {
        let result = sqlx::query("DELETE FROM documents WHERE id = $1")
            .bind(document_pk)
            .execute(&self.pool)
            .await?;
        Ok(result.rows_affected() > 0)
    }

    async fn contents(&self, document_pk: i64) -> StoreResult<Vec<Content>> {
        let rows: Vec<ContentRow> = sqlx::query_as(
            "SELECT part, format, filename, bytes FROM document_contents WHERE document_pk = $1 ORDER BY part",
        )
        .bind(document_pk)
        .fetch_all(&self.pool)
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
        .fetch_optional(&self.pool)
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
        let mut tx = self.pool.begin().await?;
        // Edits of one document from several instances queue on its row.
        let current: Option<(i64,)> =
            sqlx::query_as("SELECT version FROM documents WHERE id = $1 FOR UPDATE")
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
        .fetch_optional(&self.pool)
        .await?;
        row.map(SaveState::try_from).transpose()
    }

    async fn record_save(&self, session_pk: i64, save: &SaveRecord) -> StoreResult<()> {
        // A session deleted while its save was under way has nothing left to record.
        sqlx::query(
            "INSERT INTO session_saves (session_pk, version, saved_at, outcome) \
             SELECT id, $2, $3, $4 FROM sessions WHERE id = $1 FOR KEY SHARE \
             ON CONFLICT (session_pk) DO UPDATE SET version = excluded.version, saved_at = excluded.saved_at, \
             outcome = excluded.outcome",
        )
        .bind(session_pk)
        .bind(save.version)
        .bind(save.at)
        .bind(save.outcome.as_str())
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn count_opens(&self, api_key_id: i64, since_day: i64) -> StoreResult<i64> {
        let (opens,): (i64,) = sqlx::query_as(OPENS_SINCE_DAY)
            .bind(api_key_id)
            .bind(since_day)
            .fetch_one(&self.pool)
            .await?;
        Ok(opens)
    }

    async fn usage_report(
        &self,
        period: UsagePeriod,
        filter: &UsageFilter,
    ) -> StoreResult<Vec<UsageRow>> {
        let period = match period {
            UsagePeriod::Day => {
                "to_char(to_timestamp(u.day / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"
            }
            UsagePeriod::Month => {
                "to_char(to_timestamp(u.day / 1000.0) AT TIME ZONE 'UTC', 'YYYY-MM')"
            }
        };
        let query = usage_report_query(period, filter.api_key_id.is_some());
        let mut report = sqlx::query_as(&query).bind(filter.since_day);
        if let Some(key) = filter.api_key_id {
            report = report.bind(key);
        }
        let rows: Vec<UsageReportRow> = report.fetch_all(&self.pool).await?;
        Ok(rows.into_iter().map(UsageRow::from).collect())
    }

    async fn try_acquire_lease(&self, name: &str, owner: &str, ttl_ms: i64) -> StoreResult<bool> {
        let result = sqlx::query(&format!(
            "INSERT INTO purge_lease (name, owner, expires_at) VALUES ($1, $2, {DATABASE_NOW} + $3) \
             ON CONFLICT (name) DO UPDATE SET owner = EXCLUDED.owner, expires_at = EXCLUDED.expires_at \
             WHERE purge_lease.owner = EXCLUDED.owner OR purge_lease.expires_at <= {DATABASE_NOW}"
        ))
        .bind(name)
        .bind(owner)
        .bind(ttl_ms)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    async fn purge_sessions(&self, cutoff: i64, limit: i64) -> StoreResult<u64> {
        let result = sqlx::query(
            "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(cutoff)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }

    async fn purge_documents(&self, cutoff: i64, limit: i64) -> StoreResult<u64> {
        let result = sqlx::query(
            "DELETE FROM documents WHERE id IN (SELECT id FROM documents WHERE expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)",
        )
        .bind(cutoff)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected())
    }
}
