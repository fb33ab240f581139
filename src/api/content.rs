//! A session's document for its page: inline (text and PDF), as a download (`document.export`), and text
//! edits (`document.edit`) that refuse to overwrite a version the editor has not seen.

use actix_web::http::header::{
    self, Charset, ContentDisposition, DispositionParam, DispositionType, ExtendedValue,
};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use serde_json::json;

use super::pages::{page_session, PAGE_API};
use super::{render, AppState, State};
use crate::domain::access::Access;
use crate::domain::callback::file_name;
use crate::domain::{preview, Format};
use crate::error::{ApiError, ErrorKind};
use crate::store::{Content, EditOutcome, Session};

pub fn configure(cfg: &mut web::ServiceConfig) {
    let content = format!("{PAGE_API}/sessions/{{session_id}}/content");
    cfg.route(&content, web::get().to(inline));
    cfg.route(&content, web::put().to(edit));
    cfg.route(
        &format!("{PAGE_API}/sessions/{{session_id}}/download"),
        web::get().to(download),
    );
}

fn query_value(req: &HttpRequest, name: &str) -> Option<String> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// The part named by `?part=` (`main` by default; `old` and `new` in a comparison) and the document version.
async fn requested_part(
    state: &AppState,
    req: &HttpRequest,
    session: &Session,
) -> Result<(Content, i64), ApiError> {
    let editor = session.document.editor;
    let part = query_value(req, "part").unwrap_or_else(|| "main".to_string());
    let invalid = || ApiError::new(ErrorKind::InvalidParameterValue, editor).parameter("part");
    if !matches!(part.as_str(), "main" | "old" | "new") {
        return Err(invalid());
    }
    state
        .store
        .versioned_content(session.document.pk, &part)
        .await
        .map_err(|err| ApiError::internal(editor, err))?
        .ok_or_else(invalid)
}

/// Content the page shows by itself: text always as plain text (uploaded HTML never renders here), PDF for
/// the browser's viewer.
async fn inline(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let session = page_session(&state, &path).await?;
    let (content, version) = requested_part(&state, &req, &session).await?;
    let content_type = match content.format {
        Format::Pdf => "application/pdf",
        format if preview::is_text(format) => "text/plain; charset=utf-8",
        _ => {
            return Err(ApiError::new(
                ErrorKind::NotPermitted,
                session.document.editor,
            ))
        }
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("X-Document-Version", version))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        // Shown inside the session page, which the host applications frame in turn.
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            format!("frame-ancestors 'self' {}", state.frame_ancestors),
        ))
        .body(content.bytes))
}

async fn download(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let session = page_session(&state, &path).await?;
    let document = &session.document;
    if !Access::of(document.editor, session.kind, &session.settings, false).export {
        return Err(ApiError::new(ErrorKind::NotPermitted, document.editor));
    }
    let (content, _) = requested_part(&state, &req, &session).await?;
    let name = match content.part.as_str() {
        "main" => file_name(&document.name, content.format),
        part => content
            .filename
            .clone()
            .unwrap_or_else(|| file_name(&format!("{} {part}", document.name), content.format)),
    };
    Ok(HttpResponse::Ok()
        .content_type(content.format.mime())
        .insert_header(attachment(&name))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(content.bytes))
}

/// An ASCII `filename` every browser reads, plus the exact name as `filename*` when it is not ASCII.
fn attachment(name: &str) -> ContentDisposition {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut parameters = vec![DispositionParam::Filename(ascii)];
    if !name.is_ascii() {
        parameters.push(DispositionParam::FilenameExt(ExtendedValue {
            charset: Charset::Ext("UTF-8".to_string()),
            language_tag: None,
            value: name.as_bytes().to_vec(),
        }));
    }
    ContentDisposition {
        disposition: DispositionType::Attachment,
        parameters,
    }
}

/// `PUT …/content?version=N` with the new text as the body: stored as version N+1 if N is still current.
async fn edit(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let session = page_session(&state, &path).await?;
    let editor = session.document.editor;
    let internal = |err| ApiError::internal(editor, err);
    if !Access::of(editor, session.kind, &session.settings, false).edit {
        return Err(ApiError::new(ErrorKind::NotPermitted, editor));
    }
    let version: i64 = query_value(&req, "version")
        .and_then(|version| version.parse().ok())
        .ok_or_else(|| ApiError::new(ErrorKind::MissingParameter, editor).parameter("version"))?;
    let (content, _) = state
        .store
        .versioned_content(session.document.pk, "main")
        .await
        .map_err(internal)?
        .ok_or_else(|| ApiError::new(ErrorKind::UnknownSession, editor).parameter("session_id"))?;
    if !preview::is_text(content.format) {
        return Err(ApiError::new(ErrorKind::NotPermitted, editor));
    }
    let mut text = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::new(ErrorKind::MalformedRequest, editor))?;
        if text.len() + chunk.len() > state.max_upload {
            return Err(ApiError::new(ErrorKind::FileTooLarge, editor).parameter("content"));
        }
        text.extend_from_slice(&chunk);
    }
    if std::str::from_utf8(&text).is_err() {
        return Err(ApiError::new(ErrorKind::InvalidParameterValue, editor).parameter("content"));
    }
    let outcome = state
        .store
        .store_edit(session.document.pk, "main", version, &text)
        .await
        .map_err(internal)?;
    match outcome {
        EditOutcome::Stored { version } => Ok(render::ok(json!({ "version": version }))),
        EditOutcome::Conflict { .. } => Err(ApiError::new(ErrorKind::EditConflict, editor)),
        EditOutcome::Gone => {
            Err(ApiError::new(ErrorKind::UnknownSession, editor).parameter("session_id"))
        }
    }
}
