//! Opens: create, edit and co-edit on every editor, preview and compare. Each successful open is one API call.

use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use percent_encoding::percent_decode_str;

use super::form::{read_form, Form, Upload};
use super::{authenticate, render, AppState, State};
use crate::domain::params::{self, DocumentInfo, SessionSettings, UserInfo};
use crate::domain::time::billing_cycle;
use crate::domain::{blank, ids, usage_allowance, DocumentType, Editor, Format, SessionKind};
use crate::error::{ApiError, ErrorKind};
use crate::store::{Content, NewSession, OpenOutcome, OpenRequest};

#[derive(Debug, Clone, Copy)]
struct Operation {
    editor: Editor,
    kind: SessionKind,
    document_type: DocumentType,
}

const fn edit(editor: Editor, document_type: DocumentType) -> Operation {
    Operation {
        editor,
        kind: SessionKind::Edit,
        document_type,
    }
}

const fn preview(editor: Editor) -> Operation {
    Operation {
        editor,
        kind: SessionKind::Preview,
        document_type: DocumentType::Document,
    }
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    let routes = [
        (
            "/writer/officeapi/v1/documents",
            edit(Editor::Writer, DocumentType::Document),
        ),
        (
            "/writer/officeapi/v1/document",
            edit(Editor::Writer, DocumentType::Document),
        ),
        (
            "/writer/officeapi/v1/templates",
            edit(Editor::Writer, DocumentType::MergeTemplate),
        ),
        (
            "/writer/officeapi/v1/fillabletemplates",
            edit(Editor::Writer, DocumentType::FillableTemplate),
        ),
        (
            "/writer/officeapi/v1/document/preview",
            preview(Editor::Writer),
        ),
        (
            "/writer/officeapi/v1/document/compare",
            Operation {
                editor: Editor::Writer,
                kind: SessionKind::Compare,
                document_type: DocumentType::Document,
            },
        ),
        (
            "/sheet/officeapi/v1/spreadsheet",
            edit(Editor::Sheet, DocumentType::Document),
        ),
        (
            "/sheet/officeapi/v1/spreadsheet/preview",
            preview(Editor::Sheet),
        ),
        (
            "/show/officeapi/v1/presentation",
            edit(Editor::Show, DocumentType::Document),
        ),
        (
            "/show/officeapi/v1/presentation/preview",
            preview(Editor::Show),
        ),
        (
            "/pdfeditor/officeapi/v1/pdf",
            edit(Editor::Pdf, DocumentType::Native),
        ),
    ];
    for (path, operation) in routes {
        cfg.route(
            path,
            web::post().to(
                move |state: State, req: HttpRequest, payload: web::Payload| {
                    open(state, req, payload, operation)
                },
            ),
        );
    }
}

/// Where a document's bytes come from, with the request field that named them (for errors).
enum Source {
    Upload { field: &'static str, upload: Upload },
    Url { field: &'static str, url: String },
    Blank,
}

struct OpenInput {
    info: DocumentInfo,
    user: UserInfo,
    settings: SessionSettings,
    /// Content parts by name: `main`, or `old` and `new` for a comparison.
    sources: Vec<(&'static str, Source)>,
}

async fn open(
    state: State,
    req: HttpRequest,
    payload: web::Payload,
    operation: Operation,
) -> Result<HttpResponse, ApiError> {
    let editor = operation.editor;
    let mut form = read_form(&req, payload, editor, state.max_upload).await?;
    let key = authenticate(&state, &req, form.text("apikey"), editor).await?;
    let input = parse_input(&mut form, operation)?;

    let now = state
        .store
        .now()
        .await
        .map_err(|err| ApiError::internal(editor, err))?;
    let document_id = match (&input.info.document_id, operation.kind) {
        (Some(id), SessionKind::Edit) => id.clone(),
        _ => ids::new_document_id(),
    };
    // A co-edit joins the live document and ignores any content sent, so do not fetch or check it.
    let joining = input.info.document_id.is_some()
        && operation.kind == SessionKind::Edit
        && state
            .store
            .find_document(key.id, editor, &document_id)
            .await
            .map_err(|err| ApiError::internal(editor, err))?
            .is_some_and(|document| document.expires_at > now);

    let mut request = OpenRequest {
        api_key_id: key.id,
        editor,
        document_type: operation.document_type,
        document_name: String::new(),
        document_id,
        content: None,
        session: NewSession {
            session_id: ids::new_session_id(),
            kind: operation.kind,
            user: input.user,
            settings: input.settings,
        },
        now,
        expires_at: now + state.session_ttl.as_millis() as i64,
        allowance: key
            .usage_limit
            .map(|limit| (usage_allowance(limit), billing_cycle(now).0)),
    };
    let mut sources = Some(input.sources);
    if !joining {
        let content = load_all(&state, editor, sources.take().unwrap_or_default()).await?;
        request.document_name = document_name(&input.info, &content, editor, operation.kind);
        request.content = Some(content);
    }

    loop {
        let outcome = state
            .store
            .open(request)
            .await
            .map_err(|err| ApiError::internal(editor, err))?;
        match outcome {
            OpenOutcome::Opened { session, .. } => {
                return Ok(render::ok(render::opened(&state.base_url, &session)))
            }
            OpenOutcome::UsageExceeded => {
                return Err(ApiError::new(ErrorKind::UsageExceeded, editor))
            }
            // The document we meant to join expired or was deleted in the meantime: open it anew, once.
            OpenOutcome::NeedsContent(returned) => match sources.take() {
                Some(sources) => {
                    request = *returned;
                    let content = load_all(&state, editor, sources).await?;
                    request.document_name =
                        document_name(&input.info, &content, editor, operation.kind);
                    request.content = Some(content);
                }
                None => {
                    return Err(ApiError::internal(
                        editor,
                        "the store asked for content twice",
                    ))
                }
            },
        }
    }
}

fn parse_input(form: &mut Form, operation: Operation) -> Result<OpenInput, ApiError> {
    let editor = operation.editor;
    let object = |form: &Form, name: &str| -> Result<Option<params::Object>, ApiError> {
        form.text(name)
            .map(|text| params::parse_object(editor, name, text))
            .transpose()
    };
    let info = match object(form, "document_info")? {
        Some(object) => params::document_info(editor, &object)?,
        None => DocumentInfo::default(),
    };
    let user = match object(form, "user_info")? {
        Some(object) => params::user_info(editor, &object)?,
        None => UserInfo::default(),
    };
    let settings = SessionSettings {
        permissions: match object(form, "permissions")? {
            Some(object) => params::permissions(editor, &object)?,
            None => params::Object::new(),
        },
        callback_settings: object(form, "callback_settings")?
            .map(|object| params::callback_settings(editor, &object))
            .transpose()?,
        editor_settings: object(form, "editor_settings")?
            .map(|object| params::string_settings(editor, "editor_settings", &object))
            .transpose()?,
        ui_options: object(form, "ui_options")?
            .map(|object| params::string_settings(editor, "ui_options", &object))
            .transpose()?,
        document_defaults: object(form, "document_defaults")?
            .map(|object| params::document_defaults(editor, &object))
            .transpose()?,
    };
    let info = match (operation.kind, form.text("title")) {
        (SessionKind::Compare, Some(title)) => DocumentInfo {
            document_name: Some(title.to_string()),
            ..info
        },
        _ => info,
    };
    let sources = match operation.kind {
        SessionKind::Edit => vec![(
            "main",
            source(form, editor, "document", "url")?.unwrap_or(Source::Blank),
        )],
        SessionKind::Preview => vec![("main", required_source(form, editor, "document", "url")?)],
        SessionKind::Compare => vec![
            ("old", required_source(form, editor, "document1", "url1")?),
            ("new", required_source(form, editor, "document2", "url2")?),
        ],
    };
    Ok(OpenInput {
        info,
        user,
        settings,
        sources,
    })
}

fn source(
    form: &mut Form,
    editor: Editor,
    file_field: &'static str,
    url_field: &'static str,
) -> Result<Option<Source>, ApiError> {
    if let Some(upload) = form.take_file(file_field) {
        return Ok(Some(Source::Upload {
            field: file_field,
            upload,
        }));
    }
    match form.text(url_field) {
        Some(url) if url.starts_with("http://") || url.starts_with("https://") => {
            Ok(Some(Source::Url {
                field: url_field,
                url: url.to_string(),
            }))
        }
        Some(_) => {
            Err(ApiError::new(ErrorKind::InvalidParameterValue, editor).parameter(url_field))
        }
        None => Ok(None),
    }
}

fn required_source(
    form: &mut Form,
    editor: Editor,
    file_field: &'static str,
    url_field: &'static str,
) -> Result<Source, ApiError> {
    source(form, editor, file_field, url_field)?
        .ok_or_else(|| ApiError::new(ErrorKind::MissingParameter, editor).parameter(file_field))
}

async fn load_all(
    state: &AppState,
    editor: Editor,
    sources: Vec<(&'static str, Source)>,
) -> Result<Vec<Content>, ApiError> {
    let mut contents = Vec::with_capacity(sources.len());
    for (part, source) in sources {
        contents.push(load(state, editor, part, source).await?);
    }
    Ok(contents)
}

async fn load(
    state: &AppState,
    editor: Editor,
    part: &'static str,
    source: Source,
) -> Result<Content, ApiError> {
    let (bytes, filename, field) = match source {
        Source::Blank => {
            let format = editor.native_format();
            let bytes = blank::blank_document(format).ok_or_else(|| {
                ApiError::internal(editor, format!("no blank document for {format:?}"))
            })?;
            return Ok(Content {
                part: part.to_string(),
                format,
                filename: None,
                bytes,
            });
        }
        // Python's SDK names an in-memory upload after its field; that is no file name.
        Source::Upload { field, upload } => (
            upload.bytes,
            upload.filename.filter(|name| name != field),
            field,
        ),
        Source::Url { field, url } => {
            let (bytes, filename) = fetch(state, editor, &url, field).await?;
            (bytes, filename, field)
        }
    };
    let format = Format::sniff(&bytes, filename.as_deref())
        .map(|sniffed| editor.import_format(sniffed, &bytes))
        .filter(|format| editor.accepts(*format))
        .ok_or_else(|| ApiError::new(ErrorKind::UnsupportedFormat, editor).parameter(field))?;
    Ok(Content {
        part: part.to_string(),
        format,
        filename,
        bytes,
    })
}

/// Fetches a document given by URL, under the upload size limit and the fetch timeout.
async fn fetch(
    state: &AppState,
    editor: Editor,
    url: &str,
    url_parameter: &str,
) -> Result<(Vec<u8>, Option<String>), ApiError> {
    let failed = |err: &dyn std::fmt::Display| {
        tracing::info!(%url, error = %err, "fetching a document failed");
        ApiError::new(ErrorKind::UrlFetchFailed, editor).parameter(url_parameter)
    };
    let too_large = || ApiError::new(ErrorKind::FileTooLarge, editor).parameter(url_parameter);
    let response = state
        .fetcher
        .get(url)
        .send()
        .await
        .map_err(|err| failed(&err))?;
    if !response.status().is_success() {
        return Err(failed(&response.status()));
    }
    if response
        .content_length()
        .is_some_and(|length| length > state.max_upload as u64)
    {
        return Err(too_large());
    }
    let filename = response
        .url()
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .map(|name| percent_decode_str(name).decode_utf8_lossy().into_owned())
        .filter(|name| !name.is_empty());
    let mut bytes = Vec::new();
    let mut body = response.bytes_stream();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|err| failed(&err))?;
        if bytes.len() + chunk.len() > state.max_upload {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok((bytes, filename))
}

fn document_name(
    info: &DocumentInfo,
    content: &[Content],
    editor: Editor,
    kind: SessionKind,
) -> String {
    if let Some(name) = &info.document_name {
        return name.clone();
    }
    if kind == SessionKind::Compare {
        let names: Vec<&str> = content
            .iter()
            .filter_map(|part| part.filename.as_deref())
            .collect();
        if names.len() == 2 {
            return format!("{} vs {}", names[0], names[1]);
        }
    }
    if let Some(filename) = content.first().and_then(|part| part.filename.clone()) {
        return filename;
    }
    match editor {
        Editor::Writer => "Untitled Document",
        Editor::Sheet => "Untitled Spreadsheet",
        Editor::Show => "Untitled Presentation",
        Editor::Pdf => "Untitled PDF",
    }
    .to_string()
}
