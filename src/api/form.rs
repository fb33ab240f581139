//! Request bodies as the SDKs send them: multipart with JSON-text parts and file parts, an urlencoded form
//! from raw-HTTP clients, or nothing at all (an empty POST means "a blank document").

use std::collections::HashMap;

use actix_multipart::Multipart;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{web, HttpRequest};
use futures_util::{StreamExt, TryStreamExt};

use crate::domain::Editor;
use crate::error::{ApiError, ErrorKind};

/// Parts that carry files, whatever their filename or Content-Type (the SDKs send either, both or none).
const FILE_FIELDS: [&str; 7] = [
    "document",
    "document1",
    "document2",
    "file_content",
    "files",
    "merge_data_csv_content",
    "merge_data_json_content",
];

#[derive(Debug, Clone)]
pub struct Upload {
    pub filename: Option<String>,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct Form {
    fields: HashMap<String, String>,
    files: HashMap<String, Upload>,
}

impl Form {
    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields
            .get(name)
            .map(String::as_str)
            .filter(|value| !value.trim().is_empty())
    }

    pub fn take_file(&mut self, name: &str) -> Option<Upload> {
        self.files.remove(name)
    }
}

/// The `apikey` query parameter. Node's SDK ends every query with `&`; Python's encodes `+` and `%`.
pub fn query_apikey(req: &HttpRequest) -> Option<String> {
    form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(name, _)| name == "apikey")
        .map(|(_, value)| value.into_owned())
        .filter(|value| !value.is_empty())
}

pub async fn read_form(
    req: &HttpRequest,
    mut payload: web::Payload,
    editor: Editor,
    max_upload: usize,
) -> Result<Form, ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| value.to_ascii_lowercase());
    let malformed = || ApiError::new(ErrorKind::MalformedRequest, editor);
    match content_type.as_deref() {
        Some(kind) if kind.starts_with("multipart/form-data") => {
            read_multipart(req.headers(), payload, editor, max_upload).await
        }
        Some(kind) if kind.starts_with("application/x-www-form-urlencoded") => {
            let body = read_limited(&mut payload, editor, max_upload, "body").await?;
            let fields = form_urlencoded::parse(&body).into_owned().collect();
            Ok(Form {
                fields,
                files: HashMap::new(),
            })
        }
        None => {
            let body = read_limited(&mut payload, editor, max_upload, "body").await?;
            if body.is_empty() {
                Ok(Form::default())
            } else {
                Err(malformed())
            }
        }
        Some(_) => Err(malformed()),
    }
}

async fn read_limited(
    payload: &mut web::Payload,
    editor: Editor,
    max_upload: usize,
    parameter: &str,
) -> Result<Vec<u8>, ApiError> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| ApiError::new(ErrorKind::MalformedRequest, editor))?;
        if body.len() + chunk.len() > max_upload {
            drain(payload, max_upload).await;
            return Err(ApiError::new(ErrorKind::FileTooLarge, editor).parameter(parameter));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Reads (and drops) the rest of an oversized body, up to `limit` more bytes, so that the client, still busy
/// sending, reads our error instead of a reset connection.
async fn drain<S, E>(stream: &mut S, limit: usize)
where
    S: futures_util::Stream<Item = Result<web::Bytes, E>> + Unpin,
{
    let mut drained = 0;
    while let Some(Ok(chunk)) = stream.next().await {
        drained += chunk.len();
        if drained > limit {
            break;
        }
    }
}

async fn read_multipart(
    headers: &HeaderMap,
    payload: web::Payload,
    editor: Editor,
    max_upload: usize,
) -> Result<Form, ApiError> {
    let malformed = || ApiError::new(ErrorKind::MalformedRequest, editor);
    let mut multipart = Multipart::new(headers, payload);
    let mut form = Form::default();
    let mut total = 0usize;
    while let Some(mut field) = multipart.try_next().await.map_err(|_| malformed())? {
        let name = field.name().ok_or_else(malformed)?.to_string();
        let filename = field
            .content_disposition()
            .and_then(|cd| cd.get_filename())
            .map(str::to_string);
        let mut bytes = Vec::new();
        while let Some(chunk) = field.try_next().await.map_err(|_| malformed())? {
            total += chunk.len();
            if total > max_upload {
                drain(&mut field, max_upload).await;
                return Err(ApiError::new(ErrorKind::FileTooLarge, editor).parameter(name));
            }
            bytes.extend_from_slice(&chunk);
        }
        if FILE_FIELDS.contains(&name.as_str()) {
            form.files.insert(name, Upload { filename, bytes });
        } else {
            let text = String::from_utf8(bytes).map_err(|_| {
                ApiError::new(ErrorKind::InvalidParameterValue, editor).parameter(name.clone())
            })?;
            form.fields.insert(name, text);
        }
    }
    Ok(form)
}
