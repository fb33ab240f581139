//! `docsession migrate-data`: copies a SQLite deployment into an empty PostgreSQL database, ids included, so
//! that session ids, document ids, key hashes and usage history carry over unchanged.

use std::path::Path;

use anyhow::{bail, Context};
use sqlx::{Connection, Postgres, QueryBuilder};

use super::postgres::PgStore;
use super::sqlite::{connect_options, SqliteStore};
use crate::config::SqliteSynchronous;

/// Rows copied, per table.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TransferReport {
    pub api_keys: u64,
    pub documents: u64,
    pub contents: u64,
    pub sessions: u64,
    /// Each session's latest save to the host.
    pub saves: u64,
    pub usage_events: u64,
}

const ROWS_PER_BATCH: i64 = 500;
/// Content rows hold whole documents (up to the upload limit each), so they travel a few at a time.
const CONTENTS_PER_BATCH: i64 = 8;

/// Reads the SQLite table in `rowid` order, `$batch` rows at a time, and appends each batch to the same
/// PostgreSQL table with one multi-row INSERT. Evaluates to the number of rows copied.
macro_rules! copy_table {
    ($read:expr, $write:expr, $table:literal, $batch:expr, { $($field:ident: $ty:ty),+ $(,)? }) => {{
        #[derive(sqlx::FromRow)]
        struct Row {
            cursor: i64,
            $($field: $ty),+
        }
        let columns = [$(stringify!($field)),+].join(", ");
        let select = format!(
            "SELECT rowid AS cursor, {columns} FROM {} WHERE rowid > $1 ORDER BY rowid LIMIT $2",
            $table
        );
        let mut after = 0_i64;
        let mut copied = 0_u64;
        loop {
            let rows: Vec<Row> = sqlx::query_as(&select)
                .bind(after)
                .bind($batch)
                .fetch_all(&mut *$read)
                .await
                .with_context(|| format!("cannot read {} from SQLite", $table))?;
            let Some(last) = rows.last() else { break };
            after = last.cursor;
            copied += rows.len() as u64;
            let mut insert =
                QueryBuilder::<Postgres>::new(format!("INSERT INTO {} ({columns}) ", $table));
            insert.push_values(&rows, |mut values, row| {
                $(values.push_bind(&row.$field);)+
            });
            insert
                .build()
                .execute(&mut *$write)
                .await
                .with_context(|| format!("cannot write {} to PostgreSQL", $table))?;
        }
        copied
    }};
}

/// Copies everything but leases from the SQLite database at `from` into the empty PostgreSQL database at
/// `to`, in one PostgreSQL transaction (all or nothing) from one SQLite snapshot. Both schemas are brought up
/// to date first. Refuses a target that already holds keys, documents or usage.
pub async fn sqlite_to_postgres(from: &str, to: &str) -> anyhow::Result<TransferReport> {
    let source_path = connect_options(from)?.get_filename().to_path_buf();
    if !Path::new(&source_path).exists() {
        bail!("no SQLite database at {}", source_path.display());
    }
    let source = SqliteStore::connect(from, SqliteSynchronous::Normal, 1).await?;
    let target = PgStore::connect(to).await?;

    let mut source_connection = source.reader().acquire().await?;
    let mut read = source_connection.begin().await?;
    let mut write = target.pool().begin().await?;

    let (used,): (bool,) = sqlx::query_as(
        "SELECT EXISTS (SELECT 1 FROM api_keys) OR EXISTS (SELECT 1 FROM documents) \
         OR EXISTS (SELECT 1 FROM usage_events)",
    )
    .fetch_one(&mut *write)
    .await?;
    if used {
        bail!("the PostgreSQL database already holds data; migrate-data only fills an empty one");
    }

    let report = TransferReport {
        api_keys: copy_table!(read, write, "api_keys", ROWS_PER_BATCH, {
            id: i64,
            name: String,
            key_hash: String,
            key_prefix: String,
            usage_limit: Option<i64>,
            created_at: i64,
            revoked_at: Option<i64>,
        }),
        documents: copy_table!(read, write, "documents", ROWS_PER_BATCH, {
            id: i64,
            api_key_id: i64,
            editor: String,
            document_id: String,
            name: String,
            document_type: String,
            created_at: i64,
            expires_at: i64,
            version: i64,
        }),
        contents: copy_table!(read, write, "document_contents", CONTENTS_PER_BATCH, {
            document_pk: i64,
            part: String,
            format: String,
            filename: Option<String>,
            bytes: Vec<u8>,
        }),
        sessions: copy_table!(read, write, "sessions", ROWS_PER_BATCH, {
            id: i64,
            session_id: String,
            document_pk: i64,
            kind: String,
            user_id: Option<String>,
            display_name: Option<String>,
            settings: String,
            status: String,
            created_at: i64,
            expires_at: i64,
        }),
        saves: copy_table!(read, write, "session_saves", ROWS_PER_BATCH, {
            session_pk: i64,
            version: i64,
            saved_at: i64,
            outcome: String,
        }),
        usage_events: copy_table!(read, write, "usage_events", ROWS_PER_BATCH, {
            id: i64,
            api_key_id: i64,
            editor: String,
            operation: String,
            document_id: String,
            session_id: String,
            created_at: i64,
        }),
    };

    // The day rollup is derived from the usage events, as migration V4 first built it.
    sqlx::query(
        "INSERT INTO usage_counts (api_key_id, day, opens) \
         SELECT api_key_id, created_at - created_at % 86400000, COUNT(*) FROM usage_events \
         GROUP BY api_key_id, created_at - created_at % 86400000",
    )
    .execute(&mut *write)
    .await?;

    // Explicit ids leave the sequences at 1: move each past the largest copied id.
    for table in ["api_keys", "documents", "sessions", "usage_events"] {
        sqlx::query(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) \
             FROM {table}"
        ))
        .execute(&mut *write)
        .await?;
    }
    write.commit().await?;
    read.rollback().await?;
    Ok(report)
}
