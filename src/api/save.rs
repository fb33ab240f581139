//! Saving: the host's POST to the `save_url` we returned, and the page's Save action, both send the stored
//! document to `callback_settings.save_url`. A save is not an API call, so it writes no usage row.

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{json, Value};

use super::form::read_form;
use super::pages::{page_session, PAGE_API};
use super::sessions::owned_session;
use super::{authenticate, callback, render, AppState, State};
use crate::domain::access::Access;
use crate::domain::callback::{Callback, SaveFile, SaveOutcome};
use crate::domain::{wire_text, Editor};
use crate::error::{ApiError, ErrorKind};
use crate::store::{SaveRecord, Session};

pub fn configure(cfg: &mut web::ServiceConfig) {
    let host_saves = [
        (Editor::Writer, "/documents/{session_id}/save"),
        (Editor::Sheet, "/spreadsheet/{session_id}/save"),
        (Editor::Show, "/presentation/{session_id}/save"),
        (Editor::Pdf, "/pdf/{session_id}/save"),
    ];
    for (editor, path) in host_saves {
        cfg.route(
            &format!("{}{path}", editor.path_prefix()),
            web::post()
                .to(move |state, req, path, payload| host_save(state, req, path, payload, editor)),
        );
    }
    cfg.route(
        &format!("{PAGE_API}/sessions/{{session_id}}/save"),
        web::post().to(page_save),
    );
}

/// The host's save trigger: authenticated like every API call, and only for a session of the caller's key.
async fn host_save(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    payload: web::Payload,
    editor: Editor,
) -> Result<HttpResponse, ApiError> {
    let form = read_form(&req, payload, editor, state.max_upload).await?;
    let key = authenticate(&state, &req, form.text("apikey"), editor).await?;
    let session = owned_session(&state, &key, editor, &path).await?;
    Ok(render::ok(save_to_host(&state, &session).await?))
}

/// The page's Save action: for sessions that may edit and show a Save button.
async fn page_save(state: State, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let session = page_session(&state, &path).await?;
    let editor = session.document.editor;
    if !Access::of(editor, session.kind, &session.settings, false).save_button {
        return Err(ApiError::new(ErrorKind::NotPermitted, editor));
    }
    Ok(render::ok(save_to_host(&state, &session).await?))
}

/// Sends the stored document to the host and records how that went. The edit stays stored whatever the host
/// answers. No lock is held while the host is called.
async fn save_to_host(state: &AppState, session: &Session) -> Result<Value, ApiError> {
    let editor = session.document.editor;
    let callback = Callback::from_settings(session.settings.callback_settings.as_ref())
        .ok_or_else(|| {
            ApiError::new(ErrorKind::NoSaveUrl, editor)
                .parameter("callback_settings")
                .key("save_url")
        })?;
    let (content, version) = state
        .store
        .versioned_content(session.document.pk, "main")
        .await
        .map_err(|err| ApiError::internal(editor, err))?
        .ok_or_else(|| ApiError::new(ErrorKind::UnknownSession, editor).parameter("session_id"))?;
    let file = SaveFile {
        name: session.document.name.clone(),
        format: content.format,
        session_id: session.session_id.clone(),
    };
    let format = file.format.extension();
    let unconverted = callback
        .save_format
        .as_deref()
        .filter(|requested| !requested.eq_ignore_ascii_case(format))
        .map(str::to_string);
    if let Some(requested) = &unconverted {
        tracing::info!(
            requested,
            sent = format,
            "save_format differs: the stored format is sent as is"
        );
    }
    let store = state.store.clone();
    let client = state.save_client.clone();
    let session_pk = session.pk;
    // Its own task: a client that goes away mid-save neither cancels the save nor loses its outcome.
    let outcome = tokio::spawn(async move {
        let outcome = callback::send(&client, &callback, &file, &content.bytes).await;
        let recorded = match store.now().await {
            Ok(at) => {
                store
                    .record_save(
                        session_pk,
                        &SaveRecord {
                            version,
                            at,
                            outcome,
                        },
                    )
                    .await
            }
            Err(err) => Err(err),
        };
        if let Err(err) = recorded {
            tracing::error!(error = %err, "recording a save failed");
        }
        outcome
    })
    .await
    .map_err(|err| ApiError::internal(editor, err))?;
    match outcome {
        SaveOutcome::Saved => {
            let mut body = json!({
                "saved": true,
                "document_id": wire_text(&session.document.document_id),
                "session_id": session.session_id,
                "version": version,
                "format": format,
            });
            if let Some(requested) = unconverted {
                body["note"] = json!(wire_text(&format!(
                    "save_format {requested} was asked for; docsession does not convert, so the document was sent as {format}"
                )));
            }
            Ok(body)
        }
        SaveOutcome::Refused => Err(ApiError::new(ErrorKind::SaveRefused, editor)
            .parameter("callback_settings")
            .key("save_url")),
        SaveOutcome::Unreachable => Err(ApiError::new(ErrorKind::SaveUnreachable, editor)
            .parameter("callback_settings")
            .key("save_url")),
    }
}
