//! Row types and column lists shared by both backends: the schemas match column for column.

use anyhow::anyhow;
use sqlx::FromRow;

use super::{ApiKey, Content, Document, SaveRecord, SaveState, Session, UsageRow};
use crate::domain::callback::SaveOutcome;
use crate::domain::params::{SessionSettings, UserInfo};
use crate::domain::{DocumentType, Editor, Format, SessionKind, SessionStatus};

#[derive(FromRow)]
pub(super) struct ApiKeyRow {
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

pub(super) const API_KEY_COLUMNS: &str =
    "id, name, key_prefix, usage_limit, created_at, revoked_at";

#[derive(FromRow)]
pub(super) struct DocumentRow {
    id: i64,
    api_key_id: i64,
    editor: String,
    document_id: String,
    name: String,
    document_type: String,
    created_at: i64,
    expires_at: i64,
}

pub(super) const DOCUMENT_COLUMNS: &str =
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
pub(super) struct SessionRow {
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

pub(super) const SESSION_SELECT: &str = "SELECT d.id, d.api_key_id, d.editor, d.document_id, d.name, d.document_type, \
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

pub(super) fn encode_settings(settings: &SessionSettings) -> String {
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
pub(super) struct ContentRow {
    part: String,
    format: String,
    filename: Option<String>,
    bytes: Vec<u8>,
}

#[derive(FromRow)]
pub(super) struct VersionedContentRow {
    #[sqlx(flatten)]
    pub(super) content: ContentRow,
    pub(super) version: i64,
}

#[derive(FromRow)]
pub(super) struct SaveStateRow {
    version: i64,
    saved_version: Option<i64>,
    saved_at: Option<i64>,
    outcome: Option<String>,
}

impl TryFrom<SaveStateRow> for SaveState {
    type Error = anyhow::Error;

    fn try_from(row: SaveStateRow) -> anyhow::Result<SaveState> {
        let last_save = match (row.saved_version, row.saved_at, row.outcome) {
            (Some(version), Some(at), Some(outcome)) => Some(SaveRecord {
                version,
                at,
                outcome: SaveOutcome::parse(&outcome)
                    .ok_or_else(|| anyhow!("unknown save outcome {outcome:?}"))?,
            }),
            _ => None,
        };
        Ok(SaveState {
            version: row.version,
            last_save,
        })
    }
}

#[derive(FromRow)]
pub(super) struct UsageReportRow {
    name: String,
    key_prefix: String,
    period: String,
    opens: i64,
}

impl TryFrom<ContentRow> for Content {
    type Error = anyhow::Error;

    fn try_from(row: ContentRow) -> anyhow::Result<Content> {
        Ok(Content {
            format: Format::from_extension(&row.format)
                .ok_or_else(|| anyhow!("unknown stored format {:?}", row.format))?,
            part: row.part,
            filename: row.filename,
            bytes: row.bytes,
        })
    }
}

impl From<UsageReportRow> for UsageRow {
    fn from(row: UsageReportRow) -> UsageRow {
        UsageRow {
            key_name: row.name,
            key_prefix: row.key_prefix,
            period: row.period,
            opens: row.opens,
        }
    }
}

/// Counts one open in the day rollup (binds: key id, day start).
pub(super) const COUNT_OPEN_IN_ROLLUP: &str =
    "INSERT INTO usage_counts (api_key_id, day, opens) VALUES ($1, $2, 1) \
     ON CONFLICT (api_key_id, day) DO UPDATE SET opens = usage_counts.opens + 1";

/// Opens of a key from a day on, from the rollup (binds: key id, day start); one row per day read.
pub(super) const OPENS_SINCE_DAY: &str =
    "SELECT CAST(COALESCE(SUM(opens), 0) AS BIGINT) FROM usage_counts WHERE api_key_id = $1 AND day >= $2";

/// Opens per key and period from the day rollup (binds: first day, then the key id when `one_key`), `period`
/// being the backend's expression that formats `u.day`. The key condition is left out rather than made
/// optional in SQL, so that either index (key and day, or day) serves the query.
pub(super) fn usage_report_query(period: &str, one_key: bool) -> String {
    let key = if one_key { "AND u.api_key_id = $2" } else { "" };
    format!(
        "SELECT k.name, k.key_prefix, {period} AS period, CAST(SUM(u.opens) AS BIGINT) AS opens \
         FROM usage_counts u JOIN api_keys k ON k.id = u.api_key_id \
         WHERE u.day >= $1 {key} \
         GROUP BY k.id, k.name, k.key_prefix, {period} ORDER BY period, k.id"
    )
}
