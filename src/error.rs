//! The one client-visible error type and its code registry.
//!
//! Every failure a client can see is HTTP 400 + `application/json` with the flat body
//! `{"code", "message", "parameter_name", "key_name"}`: the only shape both published SDKs decode
//! (InvalidConfigurationException). The code depends on the editor the request was for.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

use crate::domain::{wire_text, Editor};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidApiKey,
    UsageExceeded,
    MissingParameter,
    InvalidParameterValue,
    InvalidParameterName,
    InvalidJson,
    MalformedRequest,
    UnsupportedFormat,
    FileTooLarge,
    UrlFetchFailed,
    UnknownSession,
    ExpiredSession,
    UnknownDocument,
    NoSaveUrl,
    SaveRefused,
    SaveUnreachable,
    NotPermitted,
    EditConflict,
    Internal,
}

struct Entry {
    writer: u32,
    sheet: u32,
    show: u32,
    message: &'static str,
}

/// Codes documented by Zoho where they exist; the Sheet and Show columns fill the documented gaps
/// (unknown/expired session, unknown document and the save callback's 1865/1866/1867) with the Writer code,
/// so one check works everywhere. `NotPermitted` (1890) and `EditConflict` (1891) are docsession's own, for
/// the session pages; Zoho documents no equivalent.
fn entry(kind: ErrorKind) -> Entry {
    use ErrorKind::*;
    let (writer, sheet, show, message) = match kind {
        InvalidApiKey => (1846, 2890, 3890, "Invalid API Key."),
        UsageExceeded => (1845, 2893, 3893, "API call limit exceeded."),
        MissingParameter => (1837, 2831, 3831, "Mandatory parameter(s) missing."),
        InvalidParameterValue => (
            1831,
            2832,
            3832,
            "Error occurred. Parameter value is either incorrect or invalid.",
        ),
        InvalidParameterName => (
            1832,
            2832,
            3834,
            "Error occurred. Parameter name is either incorrect or invalid.",
        ),
        InvalidJson => (
            1831,
            2832,
            3908,
            "Error occurred. Parameter value is not valid JSON.",
        ),
        MalformedRequest => (
            1831,
            2833,
            3832,
            "Error occurred. The request body is not a valid multipart form.",
        ),
        UnsupportedFormat => (
            1852,
            2842,
            3845,
            "File format you are trying to import is not supported.",
        ),
        FileTooLarge => (1831, 2841, 3835, "File size limit exceeded."),
        UrlFetchFailed => (
            1831,
            2841,
            3840,
            "Unable to import the document from the given url.",
        ),
        UnknownSession => (
            1833,
            1833,
            1833,
            "Invalid session id provided. Please try again with correct session id.",
        ),
        ExpiredSession => (
            1834,
            1834,
            1834,
            "Session expired. Please initiate a new request.",
        ),
        UnknownDocument => (
            1844,
            1844,
            1844,
            "Invalid document id provided. Please try again with correct document id.",
        ),
        NoSaveUrl => (1865, 1865, 1865, "No save url provided."),
        // The host answered with a status other than 2xx.
        SaveRefused => (
            1866,
            1866,
            1866,
            "Unable to save the document from remote client end. Please try again.",
        ),
        // The host could not be reached or did not answer in time.
        SaveUnreachable => (
            1867,
            1867,
            1867,
            "Unable to save: An error occurred while posting the content to your storage server. Please try again.",
        ),
        NotPermitted => (
            1890,
            1890,
            1890,
            "This session does not allow this action.",
        ),
        EditConflict => (
            1891,
            1891,
            1891,
            "The document was changed in another session since you loaded it. Reload to get the latest version.",
        ),
        Internal => (
            1801,
            2801,
            3801,
            "Internal Server Error while processing this request.",
        ),
    };
    Entry {
        writer,
        sheet,
        show,
        message,
    }
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub editor: Editor,
    pub parameter_name: Option<String>,
    pub key_name: Option<String>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: u32,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_name: Option<String>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, editor: Editor) -> ApiError {
        ApiError {
            kind,
            editor,
            parameter_name: None,
            key_name: None,
        }
    }

    pub fn parameter(mut self, name: impl Into<String>) -> ApiError {
        self.parameter_name = Some(name.into());
        self
    }

    pub fn key(mut self, name: impl Into<String>) -> ApiError {
        self.key_name = Some(name.into());
        self
    }

    /// Logs the cause (never shown to the client) and answers with the editor's internal-error code.
    pub fn internal(editor: Editor, cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(%cause, ?editor, "internal error");
        ApiError::new(ErrorKind::Internal, editor)
    }

    pub fn code(&self) -> u32 {
        let entry = entry(self.kind);
        match self.editor {
            Editor::Writer | Editor::Pdf => entry.writer,
            Editor::Sheet => entry.sheet,
            Editor::Show => entry.show,
        }
    }

    pub fn message(&self) -> &'static str {
        entry(self.kind).message
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message(), self.code())?;
        if let Some(parameter) = &self.parameter_name {
            write!(f, " parameter {parameter}")?;
        }
        if let Some(key) = &self.key_name {
            write!(f, " key {key}")?;
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::BadRequest().json(Body {
            code: self.code(),
            message: self.message(),
            // These may echo the client's own key names, apostrophes included.
            parameter_name: self.parameter_name.as_deref().map(wire_text),
            key_name: self.key_name.as_deref().map(wire_text),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ErrorKind; 19] = [
        ErrorKind::InvalidApiKey,
        ErrorKind::UsageExceeded,
        ErrorKind::MissingParameter,
        ErrorKind::InvalidParameterValue,
        ErrorKind::InvalidParameterName,
        ErrorKind::InvalidJson,
        ErrorKind::MalformedRequest,
        ErrorKind::UnsupportedFormat,
        ErrorKind::FileTooLarge,
        ErrorKind::UrlFetchFailed,
        ErrorKind::UnknownSession,
        ErrorKind::ExpiredSession,
        ErrorKind::UnknownDocument,
        ErrorKind::NoSaveUrl,
        ErrorKind::SaveRefused,
        ErrorKind::SaveUnreachable,
        ErrorKind::NotPermitted,
        ErrorKind::EditConflict,
        ErrorKind::Internal,
    ];

    #[test]
    fn messages_never_contain_an_apostrophe() {
        for kind in ALL {
            assert!(!entry(kind).message.contains('\''), "{kind:?}");
        }
    }

    #[test]
    fn codes_follow_the_editor() {
        let code = |kind, editor| ApiError::new(kind, editor).code();
        assert_eq!(code(ErrorKind::InvalidApiKey, Editor::Writer), 1846);
        assert_eq!(code(ErrorKind::InvalidApiKey, Editor::Pdf), 1846);
        assert_eq!(code(ErrorKind::InvalidApiKey, Editor::Sheet), 2890);
        assert_eq!(code(ErrorKind::InvalidApiKey, Editor::Show), 3890);
        assert_eq!(code(ErrorKind::UsageExceeded, Editor::Sheet), 2893);
        assert_eq!(code(ErrorKind::UsageExceeded, Editor::Show), 3893);
        assert_eq!(code(ErrorKind::UnknownSession, Editor::Show), 1833);
        assert_eq!(code(ErrorKind::SaveRefused, Editor::Writer), 1866);
        assert_eq!(code(ErrorKind::SaveUnreachable, Editor::Sheet), 1867);
        assert_eq!(code(ErrorKind::NoSaveUrl, Editor::Show), 1865);
    }
}
