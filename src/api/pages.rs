//! The pages behind the session URLs, their assets and the state they poll. Opening a page marks its session
//! `active`. A session id opens that session's page and endpoints and nothing else: every page endpoint looks
//! the session up by its id, never by a document id.

use std::fmt::Write as _;

use actix_web::http::header::{self, ContentType};
use actix_web::{web, HttpRequest, HttpResponse, HttpResponseBuilder};
use serde_json::{json, Value};

use super::{AppState, State};
use crate::domain::access::Access;
use crate::domain::callback::SaveOutcome;
use crate::domain::preview::{self, Grid, Paragraph, View};
use crate::domain::time::iso;
use crate::domain::{Editor, Format, SessionKind};
use crate::error::{ApiError, ErrorKind};
use crate::store::{Content, Session};

/// Where the page endpoints live: `{PAGE_API}/sessions/{session_id}/…` and `{PAGE_API}/assets/…`.
pub const PAGE_API: &str = "/page/v1";

const PAGE_CSS: &str = include_str!("page_assets/page.css");
const PAGE_JS: &str = include_str!("page_assets/page.js");

pub fn configure(cfg: &mut web::ServiceConfig) {
    use SessionKind::{Compare, Edit, Preview};
    // `None`: Sheet serves every kind of session at one URL.
    let pages = [
        (Editor::Writer, "/documents/{session_id}/edit", Some(Edit)),
        (
            Editor::Writer,
            "/documents/{session_id}/preview",
            Some(Preview),
        ),
        (
            Editor::Writer,
            "/documents/{session_id}/compare",
            Some(Compare),
        ),
        (Editor::Writer, "/document/{session_id}/open", Some(Edit)),
        (Editor::Sheet, "/{session_id}", None),
        (Editor::Show, "/presentation/{session_id}/edit", Some(Edit)),
        (
            Editor::Show,
            "/presentation/{session_id}/preview",
            Some(Preview),
        ),
        (Editor::Pdf, "/pdf/{session_id}/edit", Some(Edit)),
    ];
    for (editor, path, kind) in pages {
        cfg.route(
            &format!("{}{path}", editor.path_prefix()),
            web::get().to(move |state, req, path| session_page(state, req, path, editor, kind)),
        );
    }
    cfg.route(
        &format!("{PAGE_API}/assets/page.css"),
        web::get().to(|| asset("text/css; charset=utf-8", PAGE_CSS)),
    );
    cfg.route(
        &format!("{PAGE_API}/assets/page.js"),
        web::get().to(|| asset("text/javascript; charset=utf-8", PAGE_JS)),
    );
    cfg.route(
        &format!("{PAGE_API}/sessions/{{session_id}}/state"),
        web::get().to(session_state),
    );
}

/// The URL of a page endpoint of one session.
fn page_api_url(base: &str, session_id: &str, endpoint: &str) -> String {
    format!("{base}{PAGE_API}/sessions/{session_id}/{endpoint}")
}

pub enum Lookup {
    Live { session: Box<Session>, now: i64 },
    Expired(Box<Session>),
    Missing,
}

pub async fn lookup(state: &AppState, session_id: &str) -> anyhow::Result<Lookup> {
    let now = state.store.now().await?;
    Ok(match state.store.find_session(session_id).await? {
        Some(session) if session.expires_at > now => Lookup::Live {
            session: Box::new(session),
            now,
        },
        Some(session) => Lookup::Expired(Box::new(session)),
        None => Lookup::Missing,
    })
}

/// The live session behind a page endpoint.
pub async fn page_session(state: &AppState, session_id: &str) -> Result<Session, ApiError> {
    let found = lookup(state, session_id)
        .await
        .map_err(|err| ApiError::internal(Editor::Writer, err))?;
    match found {
        Lookup::Live { session, .. } => Ok(*session),
        Lookup::Expired(session) => Err(ApiError::new(
            ErrorKind::ExpiredSession,
            session.document.editor,
        )
        .parameter("session_id")),
        Lookup::Missing => {
            Err(ApiError::new(ErrorKind::UnknownSession, Editor::Writer).parameter("session_id"))
        }
    }
}

/// Headers of everything a session page shows: host applications may frame it (only them, when
/// DOCSESSION_FRAME_ANCESTORS lists them), it runs only our own script, and it is never cached.
fn page_headers(builder: &mut HttpResponseBuilder, frame_ancestors: &str) {
    builder
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            format!(
                "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                 connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; \
                 frame-ancestors {frame_ancestors}"
            ),
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"));
}

async fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(body)
}

async fn session_page(
    state: State,
    req: HttpRequest,
    path: web::Path<String>,
    editor: Editor,
    kind: Option<SessionKind>,
) -> HttpResponse {
    match load_page(&state, &req, &path, editor, kind).await {
        Ok(Some(body)) => {
            let mut builder = HttpResponse::Ok();
            page_headers(&mut builder, &state.frame_ancestors);
            builder.content_type(ContentType::html()).body(body)
        }
        Ok(None) => simple_page(
            &state,
            HttpResponse::NotFound(),
            "Session ended",
            "<p>This session has ended or does not exist. Ask the application that sent you here for a new link.</p>",
        ),
        Err(err) => {
            tracing::error!(error = %err, "loading a session page failed");
            simple_page(
                &state,
                HttpResponse::ServiceUnavailable(),
                "Try again",
                "<p>The service is busy. Try again.</p>",
            )
        }
    }
}

/// Everything a page shows.
struct Page {
    base: String,
    session: Box<Session>,
    access: Access,
    /// The edited part's version; compare sessions edit nothing.
    version: i64,
    parts: Vec<Content>,
    others: Vec<String>,
    now: i64,
    grid_view: bool,
}

/// `None` when the URL does not lead to a live session of this editor and kind.
async fn load_page(
    state: &AppState,
    req: &HttpRequest,
    session_id: &str,
    editor: Editor,
    kind: Option<SessionKind>,
) -> anyhow::Result<Option<String>> {
    let Lookup::Live { session, now } = lookup(state, session_id).await? else {
        return Ok(None);
    };
    if session.document.editor != editor || kind.is_some_and(|kind| kind != session.kind) {
        return Ok(None);
    }
    if let Err(err) = state.store.mark_session_active(session.pk).await {
        tracing::error!(error = %err, "marking a session active failed");
    }
    let grid_view = editor == Editor::Sheet
        && form_urlencoded::parse(req.query_string().as_bytes())
            .any(|(name, value)| name == "zview" && value == "rgrid");
    let (parts, version) = match session.kind {
        SessionKind::Compare => (state.store.contents(session.document.pk).await?, 0),
        _ => match state
            .store
            .versioned_content(session.document.pk, "main")
            .await?
        {
            Some((content, version)) => (vec![content], version),
            None => return Ok(None),
        },
    };
    let others = other_people(state, &session, now).await?;
    let page = Page {
        base: state.base_url.clone(),
        access: Access::of(editor, session.kind, &session.settings, grid_view),
        session,
        version,
        parts,
        others,
        now,
        grid_view,
    };
    // Parsing an uploaded spreadsheet or docx is CPU work: keep it off the request threads.
    Ok(Some(web::block(move || render(&page)).await?))
}

/// The display names of the document's other live sessions.
async fn other_people(
    state: &AppState,
    session: &Session,
    now: i64,
) -> anyhow::Result<Vec<String>> {
    let mut names: Vec<String> = state
        .store
        .live_sessions(session.document.pk, now)
        .await?
        .into_iter()
        .filter(|other| other.pk != session.pk)
        .map(|other| {
            other
                .user
                .display_name
                .or(other.user.user_id)
                .unwrap_or_else(|| "Someone".to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    Ok(names)
}

fn esc(text: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_safe(text)
}

/// For a double-quoted attribute value.
fn attr(text: &str) -> std::borrow::Cow<'_, str> {
    html_escape::encode_double_quoted_attribute(text)
}

fn editor_label(editor: Editor) -> &'static str {
    match editor {
        Editor::Writer => "Writer",
        Editor::Sheet => "Sheet",
        Editor::Show => "Show",
        Editor::Pdf => "PDF editor",
    }
}

/// `5:59:59`; the page's script keeps it ticking.
fn countdown(ms: i64) -> String {
    let seconds = ms.max(0) / 1000;
    format!(
        "{}:{:02}:{:02}",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

fn render(page: &Page) -> String {
    let session = &page.session;
    let document = &session.document;
    let sid = session.session_id.as_str();
    let access = page.access;
    let mode = match (session.kind, access.edit, page.grid_view) {
        (SessionKind::Preview, ..) => "Preview",
        (SessionKind::Compare, ..) => "Comparison",
        (_, _, true) => "Grid view",
        (_, true, _) => "Editing",
        (_, false, _) => "Viewing",
    };
    let mut formats: Vec<&str> = page.parts.iter().map(|p| p.format.extension()).collect();
    formats.dedup();
    let editable_text = access.edit && page.parts.iter().any(|p| preview::is_text(p.format));
    let others = if page.others.is_empty() {
        "nobody else".to_string()
    } else {
        page.others.join(", ")
    };

    let mut html = String::new();
    let _ = write!(
        html,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{name}</title><link rel=\"stylesheet\" href=\"{css}\"><script src=\"{js}\" defer></script></head>\
         <body class=\"{body_class}\" data-state=\"{state}\" data-content=\"{content}\" data-save=\"{save}\" \
         data-version=\"{version}\" data-now=\"{now}\" data-expires=\"{expires}\" data-conflict=\"{conflict}\" \
         data-host=\"{host}\">\
         <header><div class=\"title\"><h1>{name}</h1><p class=\"meta\">{editor} · <span class=\"format\">{format}</span> · {mode}</p></div>\
         <div class=\"live\"><p>Ends in <span id=\"countdown\">{left}</span> <time datetime=\"{expires_iso}\">({expires_iso})</time></p>\
         <p>Also here: <span id=\"others\">{others}</span></p></div></header>\
         <div id=\"ended\" class=\"banner ended\" role=\"alert\" hidden><strong>This session has ended.</strong> \
         <span id=\"ended-why\"></span> Ask the application that sent you here for a new link.</div>\
         <div id=\"newer\" class=\"banner\" hidden>A newer version was saved in another session. \
         <button type=\"button\" class=\"reload\">Reload</button></div>\
         <div id=\"conflict\" class=\"banner warn\" role=\"alert\" hidden>Not saved: the document was changed in \
         another session since you loaded it. Your text is still in the editor below: copy it, then \
         <button type=\"button\" class=\"reload\">Reload</button> to get the latest version.</div>",
        name = esc(&document.name),
        css = attr(&format!("{}{PAGE_API}/assets/page.css", page.base)),
        js = attr(&format!("{}{PAGE_API}/assets/page.js", page.base)),
        body_class = if access.print { "" } else { "no-print" },
        state = attr(&page_api_url(&page.base, sid, "state")),
        content = attr(&page_api_url(&page.base, sid, "content")),
        save = attr(&page_api_url(&page.base, sid, "save")),
        version = page.version,
        now = page.now,
        expires = session.expires_at,
        conflict = ApiError::new(ErrorKind::EditConflict, document.editor).code(),
        host = access.save_button,
        editor = editor_label(document.editor),
        format = esc(&formats.join(" / ").to_uppercase()),
        left = countdown(session.expires_at - page.now),
        expires_iso = iso(session.expires_at),
        others = esc(&others),
    );

    html.push_str("<nav class=\"toolbar\">");
    if access.save_button || editable_text {
        let label = if access.save_button {
            "Save"
        } else {
            "Keep changes"
        };
        let _ = write!(html, "<button type=\"button\" id=\"save\">{label}</button>");
    }
    if access.export {
        for part in &page.parts {
            let label = match part.part.as_str() {
                "old" => "Download original",
                "new" => "Download revised",
                _ => "Download",
            };
            let _ = write!(
                html,
                "<a class=\"button\" id=\"download-{part}\" href=\"{url}\">{label}</a>",
                part = attr(&part.part),
                url = attr(&download_url(page, &part.part)),
            );
        }
    }
    if access.print {
        html.push_str("<button type=\"button\" id=\"print\">Print</button>");
    }
    html.push_str("<span id=\"status\" role=\"status\" aria-live=\"polite\"></span></nav><main>");
    for part in &page.parts {
        let heading = match part.part.as_str() {
            "old" => Some("Original"),
            "new" => Some("Revised"),
            _ => None,
        };
        html.push_str("<section class=\"part\">");
        if let Some(heading) = heading {
            let _ = write!(html, "<h2>{heading}</h2>");
        }
        render_part(&mut html, page, part);
        html.push_str("</section>");
    }
    html.push_str("</main></body></html>");
    html
}

fn download_url(page: &Page, part: &str) -> String {
    let url = page_api_url(&page.base, &page.session.session_id, "download");
    if part == "main" {
        url
    } else {
        format!("{url}?part={part}")
    }
}

fn render_part(html: &mut String, page: &Page, part: &Content) {
    let editable = page.access.edit && part.part == "main" && preview::is_text(part.format);
    let view = preview::view(part.format, &part.bytes);
    match &view {
        View::Text(text) => {
            if part.format == Format::Html {
                // Uploaded HTML is shown rendered only inside a sandbox without scripts, never in our page.
                let _ = write!(
                    html,
                    "<iframe class=\"html-preview\" sandbox=\"\" title=\"The document, rendered\" srcdoc=\"{}\"></iframe>",
                    attr(text)
                );
            }
            if !editable {
                // A newline after <pre> is dropped by the HTML parser: this one, not the text's own.
                let _ = write!(html, "<pre class=\"text\">\n{}</pre>", esc(text));
            }
        }
        View::Grid(grid) => render_grid(html, grid),
        View::Paragraphs(paragraphs) => render_paragraphs(html, paragraphs),
        View::Pdf => {
            let mut url = page_api_url(&page.base, &page.session.session_id, "content");
            if part.part != "main" {
                url = format!("{url}?part={}", part.part);
            }
            let _ = write!(
                html,
                "<iframe class=\"pdf\" src=\"{}\" title=\"The PDF document\"></iframe>",
                attr(&url)
            );
        }
        View::Download => {
            let _ = write!(
                html,
                "<p class=\"note\">This {} document cannot be shown in the browser.",
                part.format.extension().to_uppercase()
            );
            html.push_str(if page.access.export {
                " Use Download to open it.</p>"
            } else {
                " This session does not allow downloads.</p>"
            });
        }
    }
    if editable {
        if let Some(text) = preview::text(&part.bytes) {
            let label = if matches!(view, View::Grid(_)) {
                "Edit the cells as text (the grid shows the version you loaded)"
            } else {
                "Document text"
            };
            let _ = write!(
                html,
                "<label for=\"editor\">{label}</label><textarea id=\"editor\" spellcheck=\"true\">\n{}</textarea>",
                esc(&text)
            );
        }
    }
}

fn render_grid(html: &mut String, grid: &Grid) {
    for sheet in &grid.sheets {
        if !sheet.name.is_empty() {
            let _ = write!(html, "<h3>{}</h3>", esc(&sheet.name));
        }
        html.push_str("<div class=\"grid-wrap\"><table class=\"grid\"><tbody>");
        for (index, row) in sheet.rows.iter().enumerate() {
            let _ = write!(html, "<tr><th>{}</th>", index + 1);
            for cell in row {
                let _ = write!(html, "<td>{}</td>", esc(cell));
            }
            html.push_str("</tr>");
        }
        html.push_str("</tbody></table></div>");
    }
    if grid.truncated {
        html.push_str("<p class=\"note\">Only the first rows and columns are shown here.</p>");
    }
}

fn render_paragraphs(html: &mut String, paragraphs: &[Paragraph]) {
    html.push_str("<article class=\"doc\">");
    for paragraph in paragraphs {
        let tag = if paragraph.heading { "h3" } else { "p" };
        let _ = write!(html, "<{tag}>{}</{tag}>", esc(&paragraph.text));
    }
    html.push_str("</article>");
}

fn simple_page(
    state: &AppState,
    mut builder: HttpResponseBuilder,
    title: &str,
    body: &str,
) -> HttpResponse {
    page_headers(&mut builder, &state.frame_ancestors);
    builder.content_type(ContentType::html()).body(format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title}</title><link rel=\"stylesheet\" href=\"{css}\"></head><body><main>{body}</main></body></html>",
        title = esc(title),
        css = attr(&format!("{}{PAGE_API}/assets/page.css", state.base_url)),
    ))
}

/// What an open page polls: whether the session still lives, its expiry, who else is in the document, the
/// document's version and this session's latest save. A deleted, expired or unknown session is `ended`.
async fn session_state(state: State, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let internal = |err: anyhow::Error| ApiError::internal(Editor::Writer, err);
    let body = match lookup(&state, &path).await.map_err(internal)? {
        Lookup::Live { session, now } => {
            let save_state = state.store.save_state(session.pk).await.map_err(internal)?;
            match save_state {
                Some(save_state) => {
                    let others = other_people(&state, &session, now)
                        .await
                        .map_err(internal)?;
                    json!({
                        "state": "live",
                        "now_ms": now,
                        "expires_at_ms": session.expires_at,
                        "version": save_state.version,
                        "others": others,
                        "last_save": save_state.last_save.map(|save| last_save(&session, save)),
                    })
                }
                None => json!({"state": "ended", "reason": "closed"}),
            }
        }
        Lookup::Expired(_) => json!({"state": "ended", "reason": "expired"}),
        Lookup::Missing => json!({"state": "ended", "reason": "closed"}),
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(body))
}

fn last_save(session: &Session, save: crate::store::SaveRecord) -> Value {
    let failure = match save.outcome {
        SaveOutcome::Saved => None,
        SaveOutcome::Refused => Some(ErrorKind::SaveRefused),
        SaveOutcome::Unreachable => Some(ErrorKind::SaveUnreachable),
    }
    .map(|kind| ApiError::new(kind, session.document.editor));
    json!({
        "version": save.version,
        "at_ms": save.at,
        "outcome": save.outcome.as_str(),
        "code": failure.as_ref().map(ApiError::code),
        "message": failure.as_ref().map(ApiError::message),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countdown_shows_hours_minutes_seconds() {
        assert_eq!(countdown(6 * 3600 * 1000), "6:00:00");
        assert_eq!(countdown(61_999), "0:01:01");
        assert_eq!(countdown(-5), "0:00:00");
    }
}
