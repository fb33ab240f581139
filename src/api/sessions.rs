//! Session and document reads and deletes. None of them is an API call.

use actix_web::{web, HttpRequest, HttpResponse};

use super::{authenticate, render, State};
use crate::domain::Editor;
use crate::error::{ApiError, ErrorKind};
use crate::store::{ApiKey, Document, Session};

pub fn configure(cfg: &mut web::ServiceConfig) {
    for editor in Editor::ALL {
        let prefix = editor.path_prefix();
        cfg.route(
            &format!("{prefix}/sessions/{{session_id}}"),
            web::get().to(move |state, req, path| session_info(state, req, path, editor)),
        );
        let delete_session_paths: &[&str] = match editor {
            // `/session/` is Writer's legacy alias, and the only path of Sheet and Show.
            Editor::Writer => &["sessions", "session"],
            Editor::Pdf => &["sessions"],
            Editor::Sheet | Editor::Show => &["session"],
        };
        for noun in delete_session_paths {
            cfg.route(
                &format!("{prefix}/{noun}/{{session_id}}"),
                web::delete().to(move |state, req, path| delete_session(state, req, path, editor)),
            );
        }
        let document_paths: &[&str] = match editor {
            Editor::Writer => &["documents", "document"],
            Editor::Sheet => &["spreadsheet"],
            Editor::Show => &["presentation"],
            Editor::Pdf => &["pdf"],
        };
        for noun in document_paths {
            cfg.route(
                &format!("{prefix}/{noun}/{{document_id}}"),
                web::delete().to(move |state, req, path| delete_document(state, req, path, editor)),
            );
        }
    }
    // Sheet and Show have no document info or all-sessions operation in any SDK.
    for (editor, noun) in [(Editor::Writer, "documents"), (Editor::Pdf, "pdf")] {
        cfg.route(
            &format!("{}/{noun}/{{document_id}}", editor.path_prefix()),
            web::get().to(move |state, req, path| document_info(state, req, path, editor, false)),
        );
    }
    cfg.route(
        "/writer/officeapi/v1/documents/{document_id}/sessions",
        web::get().to(|state, req, path| document_info(state, req, path, Editor::Writer, true)),
    );
}

/// The caller's live session: another key's session, another editor's or a deleted one is unknown.
pub(super) async fn owned_session(
    state: &State,
    key: &ApiKey,
    editor: Editor,
    session_id: &str,
) -> Result<Session, ApiError> {
    let now = state
        .store
        .now()
        .await
        .map_err(|err| ApiError::internal(editor, err))?;
    let session = state
        .store
        .find_session(session_id)
        .await
        .map_err(|err| ApiError::internal(editor, err))?
        .filter(|session| {
            session.document.api_key_id == key.id && session.document.editor == editor
        })
        .ok_or_else(|| ApiError::new(ErrorKind::UnknownSession, editor).parameter("session_id"))?;
    if session.expires_at <= now {
        return Err(ApiError::new(ErrorKind::ExpiredSession, editor).parameter("session_id"));
    }
    Ok(session)
}

/// The caller's live document; an expired one is as unknown as one that never existed.
async fn owned_document(
    state: &State,
    key: &ApiKey,
    editor: Editor,
    document_id: &str,
) -> Result<(Document, i64), ApiError> {
    let now = state
        .store
        .now()
        .await
        .map_err(|err| ApiError::internal(editor, err))?;
    let document = state
        .store
        .find_document(key.id, editor, document_id)
        .await
        .map_err(|err| ApiError::internal(editor, err))?
        .filter(|document| document.expires_at > now)
        .ok_or_else(|| {
            ApiError::new(ErrorKind::UnknownDocument, editor).parameter("document_id")
        })?;
    Ok((document, now))
}

async fn session_info(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    editor: Editor,
) -> Result<HttpResponse, ApiError> {
    let key = authenticate(&state, &req, None, editor).await?;
    let session = owned_session(&state, &key, editor, &path).await?;
    Ok(render::ok(render::session_meta(&state.base_url, &session)))
}

async fn delete_session(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    editor: Editor,
) -> Result<HttpResponse, ApiError> {
    let key = authenticate(&state, &req, None, editor).await?;
    let session = owned_session(&state, &key, editor, &path).await?;
    let deleted = state
        .store
        .delete_session(session.pk)
        .await
        .map_err(|err| ApiError::internal(editor, err))?;
    if !deleted {
        return Err(ApiError::new(ErrorKind::UnknownSession, editor).parameter("session_id"));
    }
    Ok(render::ok(render::deleted(
        editor,
        render::Deleted::Session,
    )))
}

async fn document_info(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    editor: Editor,
    include_sessions: bool,
) -> Result<HttpResponse, ApiError> {
    let key = authenticate(&state, &req, None, editor).await?;
    let (document, now) = owned_document(&state, &key, editor, &path).await?;
    let live = state
        .store
        .live_sessions(document.pk, now)
        .await
        .map_err(|err| ApiError::internal(editor, err))?;
    Ok(render::ok(render::document_meta(
        &state.base_url,
        &document,
        &live,
        include_sessions,
    )))
}

async fn delete_document(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    editor: Editor,
) -> Result<HttpResponse, ApiError> {
    let key = authenticate(&state, &req, None, editor).await?;
    let (document, _) = owned_document(&state, &key, editor, &path).await?;
    let deleted = state
        .store
        .delete_document(document.pk)
        .await
        .map_err(|err| ApiError::internal(editor, err))?;
    if !deleted {
        return Err(ApiError::new(ErrorKind::UnknownDocument, editor).parameter("document_id"));
    }
    Ok(render::ok(render::deleted(
        editor,
        render::Deleted::Document,
    )))
}
