//! The pages behind the session URLs. Opening one marks its session `active`.

use actix_web::http::header::ContentType;
use actix_web::{web, HttpResponse};

use super::State;
use crate::domain::time::iso;
use crate::domain::{Editor, SessionKind};
use crate::store::Session;

pub fn configure(cfg: &mut web::ServiceConfig) {
    let pages = [
        (Editor::Writer, "/documents/{session_id}/edit"),
        (Editor::Writer, "/documents/{session_id}/preview"),
        (Editor::Writer, "/documents/{session_id}/compare"),
        (Editor::Writer, "/document/{session_id}/open"),
        (Editor::Sheet, "/{session_id}"),
        (Editor::Show, "/presentation/{session_id}/edit"),
        (Editor::Show, "/presentation/{session_id}/preview"),
        (Editor::Pdf, "/pdf/{session_id}/edit"),
    ];
    for (editor, path) in pages {
        cfg.route(
            &format!("{}{path}", editor.path_prefix()),
            web::get().to(move |state, path| session_page(state, path, editor)),
        );
    }
}

async fn session_page(state: State, path: web::Path<String>, editor: Editor) -> HttpResponse {
    let found = match state.store.now().await {
        Ok(now) => state
            .store
            .find_session(&path)
            .await
            .map(|session| (session, now)),
        Err(err) => Err(err),
    };
    let session = match found {
        Ok((session, now)) => session.filter(|s| s.document.editor == editor && s.expires_at > now),
        Err(err) => {
            tracing::error!(error = %err, "loading a session page failed");
            return page(
                HttpResponse::ServiceUnavailable(),
                "Try again",
                "<p>The service is busy. Try again.</p>",
            );
        }
    };
    let Some(session) = session else {
        return page(
            HttpResponse::NotFound(),
            "Session ended",
            "<p>This session has ended or does not exist. Ask the application that sent you here for a new link.</p>",
        );
    };
    if let Err(err) = state.store.mark_session_active(session.pk).await {
        tracing::error!(error = %err, "marking a session active failed");
    }
    page(
        HttpResponse::Ok(),
        &session.document.name,
        &session_body(&session),
    )
}

fn session_body(session: &Session) -> String {
    let mode = match session.kind {
        SessionKind::Edit => "Editing",
        SessionKind::Preview => "Preview",
        SessionKind::Compare => "Comparison",
    };
    format!(
        "<h1>{name}</h1><p>{mode} in {editor}. This session ends at <time>{expires}</time>.</p>",
        name = html_escape::encode_safe(&session.document.name),
        editor = session.document.editor.as_str(),
        expires = iso(session.expires_at),
    )
}

fn page(mut builder: actix_web::HttpResponseBuilder, title: &str, body: &str) -> HttpResponse {
    builder.content_type(ContentType::html()).body(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title></head><body>{body}</body></html>",
        title = html_escape::encode_safe(title),
    ))
}
