//! Storage: the only place SQL lives. A small trait with one implementation per backend.

mod migrate;
mod postgres;
mod rows;
mod sqlite;
mod transfer;

use std::sync::Arc;

use async_trait::async_trait;

use crate::config::Settings;
use crate::domain::callback::SaveOutcome;
use crate::domain::params::{SessionSettings, UserInfo};
use crate::domain::{DocumentType, Editor, Format, SessionKind, SessionStatus};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use transfer::{sqlite_to_postgres, TransferReport};

pub type StoreResult<T> = anyhow::Result<T>;

#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    pub id: i64,
    pub name: String,
    /// The first characters of the key, enough to recognise it in a list.
    pub prefix: String,
    pub usage_limit: Option<i64>,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    pub pk: i64,
    pub api_key_id: i64,
    pub editor: Editor,
    pub document_id: String,
    pub name: String,
    pub document_type: DocumentType,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    pub pk: i64,
    pub session_id: String,
    pub document: Document,
    pub kind: SessionKind,
    pub user: UserInfo,
    pub settings: SessionSettings,
    pub status: SessionStatus,
    pub created_at: i64,
    pub expires_at: i64,
}

/// One stored file of a document: `main`, or `old` and `new` for a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    pub part: String,
    pub format: Format,
    pub filename: Option<String>,
    pub bytes: Vec<u8>,
}

#[derive(Debug)]
pub struct NewSession {
    pub session_id: String,
    pub kind: SessionKind,
    pub user: UserInfo,
    pub settings: SessionSettings,
}

/// Everything an open (create, edit, co-edit, preview, compare) writes, in one transaction.
#[derive(Debug)]
pub struct OpenRequest {
    pub api_key_id: i64,
    pub editor: Editor,
    pub document_type: DocumentType,
    /// A live document with this id (same key and editor) is joined; otherwise one is created with it.
    pub document_id: String,
    pub document_name: String,
    /// `None` when the caller expects to join a live document and did not load any content.
    pub content: Option<Vec<Content>>,
    pub session: NewSession,
    pub now: i64,
    pub expires_at: i64,
    /// Opens allowed in the billing cycle that starts at `.1` (a UTC midnight); `None` for an unlimited key.
    pub allowance: Option<(i64, i64)>,
}

#[derive(Debug)]
pub enum OpenOutcome {
    Opened {
        session: Box<Session>,
        joined: bool,
    },
    /// The document the caller expected to join is gone: load the content into the request and ask again.
    NeedsContent(Box<OpenRequest>),
    UsageExceeded,
}

/// A save to the host, as the session page reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveRecord {
    /// The document version that was sent.
    pub version: i64,
    pub at: i64,
    pub outcome: SaveOutcome,
}

/// What a session page polls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveState {
    /// The document's current version.
    pub version: i64,
    /// This session's latest save to the host.
    pub last_save: Option<SaveRecord>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EditOutcome {
    Stored {
        version: i64,
    },
    /// The edit was made on an older version; nothing was written.
    Conflict {
        current: i64,
    },
    /// The document or that part of it no longer exists.
    Gone,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsagePeriod {
    Day,
    Month,
}

/// Which opens a usage report counts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageFilter {
    /// One key's opens; every key's when `None`.
    pub api_key_id: Option<i64>,
    /// Opens from the UTC day that starts at this instant (epoch ms) on; 0 for all.
    pub since_day: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UsageRow {
    pub key_name: String,
    pub key_prefix: String,
    /// `2026-11-23` or `2026-11`.
    pub period: String,
    pub opens: i64,
}

#[async_trait]
pub trait Store: Send + Sync {
    /// The clock that decides expiry and purge cutoffs, in epoch ms: the database's own where several
    /// instances share one database, so that instances with skewed clocks agree.
    async fn now(&self) -> StoreResult<i64>;

    async fn insert_api_key(
        &self,
        name: &str,
        key_hash: &str,
        prefix: &str,
        limit: Option<i64>,
        now: i64,
    ) -> StoreResult<ApiKey>;
    /// Inserts the key unless a key with this hash exists (revoked or not).
    async fn ensure_api_key(
        &self,
        name: &str,
        key_hash: &str,
        prefix: &str,
        now: i64,
    ) -> StoreResult<()>;
    /// An active (not revoked) key.
    async fn find_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKey>>;
    async fn list_api_keys(&self) -> StoreResult<Vec<ApiKey>>;
    /// Revokes by id or by hash; false when no active key matched.
    async fn revoke_api_key(&self, id: Option<i64>, key_hash: &str, now: i64) -> StoreResult<bool>;

    async fn open(&self, request: OpenRequest) -> StoreResult<OpenOutcome>;
    async fn find_session(&self, session_id: &str) -> StoreResult<Option<Session>>;
    async fn mark_session_active(&self, session_pk: i64) -> StoreResult<()>;
    async fn delete_session(&self, session_pk: i64) -> StoreResult<bool>;
    async fn find_document(
        &self,
        api_key_id: i64,
        editor: Editor,
        document_id: &str,
    ) -> StoreResult<Option<Document>>;
    async fn live_sessions(&self, document_pk: i64, now: i64) -> StoreResult<Vec<Session>>;
    async fn delete_document(&self, document_pk: i64) -> StoreResult<bool>;
    async fn contents(&self, document_pk: i64) -> StoreResult<Vec<Content>>;
    /// One part of a document with the document's version, read together.
    async fn versioned_content(
        &self,
        document_pk: i64,
        part: &str,
    ) -> StoreResult<Option<(Content, i64)>>;
    /// Replaces a part's bytes and bumps the document's version, only if it is still `expected_version`.
    async fn store_edit(
        &self,
        document_pk: i64,
        part: &str,
        expected_version: i64,
        bytes: &[u8],
    ) -> StoreResult<EditOutcome>;
    /// `None` when the session is gone.
    async fn save_state(&self, session_pk: i64) -> StoreResult<Option<SaveState>>;
    /// Keeps only the session's latest save.
    async fn record_save(&self, session_pk: i64, save: &SaveRecord) -> StoreResult<()>;

    /// Opens billed to the key from the UTC day that starts at `since_day` (see `time::day_start`) on.
    async fn count_opens(&self, api_key_id: i64, since_day: i64) -> StoreResult<i64>;
    async fn usage_report(
        &self,
        period: UsagePeriod,
        filter: &UsageFilter,
    ) -> StoreResult<Vec<UsageRow>>;

    /// Takes or renews the lease `name` for `ttl_ms` on the store's clock: true when it was free, expired or
    /// already `owner`'s; false while another owner holds it.
    async fn try_acquire_lease(&self, name: &str, owner: &str, ttl_ms: i64) -> StoreResult<bool>;

    /// Deletes up to `limit` sessions that expired at or before `cutoff`; returns how many.
    async fn purge_sessions(&self, cutoff: i64, limit: i64) -> StoreResult<u64>;
    /// Deletes up to `limit` expired documents with their content and sessions; returns how many documents.
    async fn purge_documents(&self, cutoff: i64, limit: i64) -> StoreResult<u64>;
}

/// Opens the database named by the settings and brings its schema up to date.
pub async fn connect(settings: &Settings) -> anyhow::Result<Arc<dyn Store>> {
    let url = settings.database_url.as_str();
    Ok(if is_postgres_url(url) {
        Arc::new(PgStore::connect(url).await?)
    } else {
        Arc::new(SqliteStore::connect(url, settings.sqlite_synchronous, settings.open_batch).await?)
    })
}

/// `postgres://` or `postgresql://`; anything else is a SQLite URL or path.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}
