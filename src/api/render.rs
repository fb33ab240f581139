//! Response bodies, shaped so the SDKs' key matching picks the intended class (reference §6, §7), and the
//! URLs we hand out.

use actix_web::HttpResponse;
use serde_json::{json, Value};

use crate::domain::time::iso;
use crate::domain::{wire_text, Editor, SessionKind};
use crate::store::{Document, Session};

/// The URLs of one session, by editor.
pub struct Urls<'a> {
    base: &'a str,
    editor: Editor,
}

impl<'a> Urls<'a> {
    pub fn new(base: &'a str, editor: Editor) -> Urls<'a> {
        Urls { base, editor }
    }

    fn prefixed(&self, path: String) -> String {
        format!("{}{}{}", self.base, self.editor.path_prefix(), path)
    }

    /// The page a user opens: the editor, the preview or the comparison.
    pub fn session_page(&self, kind: SessionKind, sid: &str) -> String {
        let view = match kind {
            SessionKind::Edit => "edit",
            SessionKind::Preview => "preview",
            SessionKind::Compare => "compare",
        };
        self.prefixed(match self.editor {
            Editor::Writer => format!("/documents/{sid}/{view}"),
            Editor::Sheet => format!("/{sid}"),
            Editor::Show => format!("/presentation/{sid}/{view}"),
            Editor::Pdf => format!("/pdf/{sid}/{view}"),
        })
    }

    pub fn gridview(&self, sid: &str) -> String {
        self.prefixed(format!("/{sid}?zview=rgrid"))
    }

    pub fn save(&self, sid: &str) -> String {
        self.prefixed(match self.editor {
            Editor::Writer => format!("/documents/{sid}/save"),
            Editor::Sheet => format!("/spreadsheet/{sid}/save"),
            Editor::Show => format!("/presentation/{sid}/save"),
            Editor::Pdf => format!("/pdf/{sid}/save"),
        })
    }

    pub fn session_delete(&self, sid: &str) -> String {
        self.prefixed(match self.editor {
            Editor::Writer | Editor::Pdf => format!("/sessions/{sid}"),
            Editor::Sheet | Editor::Show => format!("/session/{sid}"),
        })
    }

    pub fn document_delete(&self, document_id: &str) -> String {
        self.prefixed(match self.editor {
            Editor::Writer => format!("/documents/{document_id}"),
            Editor::Sheet => format!("/spreadsheet/{document_id}"),
            Editor::Show => format!("/presentation/{document_id}"),
            Editor::Pdf => format!("/pdf/{document_id}"),
        })
    }
}

pub fn ok(body: Value) -> HttpResponse {
    HttpResponse::Ok().json(body)
}

/// CreateDocumentResponse (Writer, Show, PDF), CreateSheetResponse, PreviewResponse, SheetPreviewResponse or
/// CompareDocumentResponse, by the session's editor and kind.
pub fn opened(base: &str, session: &Session) -> Value {
    let editor = session.document.editor;
    let urls = Urls::new(base, editor);
    let sid = session.session_id.as_str();
    let document_id = wire_text(&session.document.document_id);
    let mut body = match session.kind {
        SessionKind::Edit => json!({
            "document_id": document_id,
            "session_id": sid,
            "document_url": urls.session_page(SessionKind::Edit, sid),
            "save_url": urls.save(sid),
            "session_delete_url": urls.session_delete(sid),
            "document_delete_url": urls.document_delete(&session.document.document_id),
        }),
        SessionKind::Preview => json!({
            "preview_url": urls.session_page(SessionKind::Preview, sid),
            "document_id": document_id,
            "session_id": sid,
            "session_delete_url": urls.session_delete(sid),
            "document_delete_url": urls.document_delete(&session.document.document_id),
        }),
        SessionKind::Compare => json!({
            "compare_url": urls.session_page(SessionKind::Compare, sid),
            "session_delete_url": urls.session_delete(sid),
        }),
    };
    if editor == Editor::Sheet && session.kind != SessionKind::Compare {
        body["gridview_url"] = json!(urls.gridview(sid));
    }
    body
}

/// SessionMeta.
pub fn session_meta(base: &str, session: &Session) -> Value {
    let urls = Urls::new(base, session.document.editor);
    // Never `{}`: the Python SDK turns an empty nested object into None and then fails on it.
    let mut user_info = json!({"display_name": wire_text(session.user.display_name())});
    if let Some(user_id) = &session.user.user_id {
        user_info["user_id"] = json!(wire_text(user_id));
    }
    json!({
        "status": session.status.as_str(),
        "user_info": user_info,
        "info": {
            "document_id": wire_text(&session.document.document_id),
            "created_time": iso(session.created_at),
            "created_time_ms": session.created_at,
            "expires_on": iso(session.expires_at),
            "expires_on_ms": session.expires_at,
            "session_url": urls.session_page(session.kind, &session.session_id),
            "session_delete_url": urls.session_delete(&session.session_id),
        },
    })
}

/// DocumentMeta; with `sessions` it becomes AllSessionsResponse.
pub fn document_meta(
    base: &str,
    document: &Document,
    live: &[Session],
    include_sessions: bool,
) -> Value {
    let mut collaborators: Vec<String> = live
        .iter()
        .map(|s| {
            s.user
                .user_id
                .clone()
                .or_else(|| s.user.display_name.clone())
                .unwrap_or_else(|| s.session_id.clone())
        })
        .collect();
    collaborators.sort();
    collaborators.dedup();
    let mut body = json!({
        "document_id": wire_text(&document.document_id),
        "document_name": wire_text(&document.name),
        "document_type": document.document_type.as_str(),
        "created_time": iso(document.created_at),
        "created_time_ms": document.created_at,
        "expires_on": iso(document.expires_at),
        "expires_on_ms": document.expires_at,
        "collaborators_count": collaborators.len(),
        "active_sessions_count": live.len(),
    });
    if include_sessions {
        body["sessions"] = live
            .iter()
            .map(|session| session_meta(base, session))
            .collect();
    }
    body
}

/// Writer and PDF answer deletes with booleans, Sheet and Show with the string "true" (the SDK models differ).
pub fn deleted(editor: Editor, what: Deleted) -> Value {
    match (editor, what) {
        (Editor::Writer | Editor::Pdf, Deleted::Session) => json!({"session_deleted": true}),
        (Editor::Writer | Editor::Pdf, Deleted::Document) => json!({"document_deleted": true}),
        (Editor::Sheet | Editor::Show, Deleted::Session) => json!({"session_delete": "true"}),
        (Editor::Sheet | Editor::Show, Deleted::Document) => json!({"doc_delete": "true"}),
    }
}

#[derive(Debug, Clone, Copy)]
pub enum Deleted {
    Session,
    Document,
}
