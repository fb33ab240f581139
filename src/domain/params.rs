//! The JSON-text parameters of an open request, checked key by key.
//!
//! Unknown keys inside these objects are tolerated (raw-HTTP integrators send extras such as `lang`),
//! except in `permissions`, where a misspelt key would silently grant or deny something.

use serde_json::{Map, Value};

use super::{ids, Editor};
use crate::error::{ApiError, ErrorKind};

pub type Object = Map<String, Value>;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct DocumentInfo {
    pub document_id: Option<String>,
    pub document_name: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserInfo {
    pub user_id: Option<String>,
    pub display_name: Option<String>,
}

impl UserInfo {
    /// What co-editors and the session info call a user who gave no name.
    pub fn display_name(&self) -> &str {
        self.display_name.as_deref().unwrap_or("Guest")
    }
}

/// The per-session settings, kept as validated JSON objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionSettings {
    pub permissions: Object,
    pub callback_settings: Option<Object>,
    pub editor_settings: Option<Object>,
    pub ui_options: Option<Object>,
    pub document_defaults: Option<Object>,
}

const MAX_NAME_LEN: usize = 255;

fn invalid(editor: Editor, parameter: &str, key: &str) -> ApiError {
    ApiError::new(ErrorKind::InvalidParameterValue, editor)
        .parameter(parameter)
        .key(key)
}

/// Parses a JSON-text part into an object.
pub fn parse_object(editor: Editor, parameter: &str, text: &str) -> Result<Object, ApiError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(ApiError::new(ErrorKind::InvalidParameterValue, editor).parameter(parameter)),
        Err(_) => Err(ApiError::new(ErrorKind::InvalidJson, editor).parameter(parameter)),
    }
}

fn optional_string(
    editor: Editor,
    parameter: &str,
    object: &Object,
    key: &str,
) -> Result<Option<String>, ApiError> {
    match object.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(value)) => Ok(Some(value.clone())),
        Some(_) => Err(invalid(editor, parameter, key)),
    }
}

fn bounded_name(
    editor: Editor,
    parameter: &str,
    key: &str,
    value: Option<String>,
) -> Result<Option<String>, ApiError> {
    match value {
        Some(name) if name.chars().count() > MAX_NAME_LEN => Err(invalid(editor, parameter, key)),
        other => Ok(other),
    }
}

pub fn document_info(editor: Editor, object: &Object) -> Result<DocumentInfo, ApiError> {
    const P: &str = "document_info";
    let document_id = optional_string(editor, P, object, "document_id")?;
    if let Some(id) = &document_id {
        if !ids::is_valid_document_id(id) {
            return Err(invalid(editor, P, "document_id"));
        }
    }
    let document_name = bounded_name(
        editor,
        P,
        "document_name",
        optional_string(editor, P, object, "document_name")?,
    )?;
    Ok(DocumentInfo {
        document_id,
        document_name,
    })
}

pub fn user_info(editor: Editor, object: &Object) -> Result<UserInfo, ApiError> {
    const P: &str = "user_info";
    Ok(UserInfo {
        user_id: bounded_name(
            editor,
            P,
            "user_id",
            optional_string(editor, P, object, "user_id")?,
        )?,
        display_name: bounded_name(
            editor,
            P,
            "display_name",
            optional_string(editor, P, object, "display_name")?,
        )?,
    })
}

fn permission_keys(editor: Editor) -> &'static [&'static str] {
    match editor {
        Editor::Writer => &[
            "document.export",
            "document.print",
            "document.edit",
            "review.comment",
            "review.changes.resolve",
            "collab.chat",
            "document.pausecollaboration",
            "document.fill",
        ],
        Editor::Sheet => &[
            "document.export",
            "document.print",
            "document.edit",
            "document.allowedformat",
        ],
        Editor::Show | Editor::Pdf => &["document.export", "document.print", "document.edit"],
    }
}

pub fn permissions(editor: Editor, object: &Object) -> Result<Object, ApiError> {
    const P: &str = "permissions";
    for (key, value) in object {
        if !permission_keys(editor).contains(&key.as_str()) {
            return Err(ApiError::new(ErrorKind::InvalidParameterName, editor)
                .parameter(P)
                .key(key));
        }
        let well_typed = match key.as_str() {
            "document.allowedformat" => value
                .as_array()
                .is_some_and(|formats| formats.iter().all(Value::is_string)),
            _ => value.is_boolean(),
        };
        if !well_typed {
            return Err(invalid(editor, P, key));
        }
    }
    Ok(object.clone())
}

pub fn callback_settings(editor: Editor, object: &Object) -> Result<Object, ApiError> {
    const P: &str = "callback_settings";
    for (key, value) in object {
        let well_typed = match key.as_str() {
            "save_url" => value
                .as_str()
                .is_some_and(|url| url.starts_with("http://") || url.starts_with("https://")),
            "http_method_type" => value.as_str().is_some_and(|method| {
                method.eq_ignore_ascii_case("post") || method.eq_ignore_ascii_case("put")
            }),
            "retries" => value.as_u64().is_some_and(|retries| retries <= 10),
            "timeout" => value.as_u64().is_some_and(|ms| (1..=600_000).contains(&ms)),
            "save_url_params" => value.as_object().is_some_and(|params| {
                params
                    .values()
                    .all(|v| v.is_string() || v.is_number() || v.is_boolean())
            }),
            "save_url_headers" => value
                .as_object()
                .is_some_and(|headers| headers.values().all(Value::is_string)),
            "save_format" | "savetype" => value.is_string(),
            _ => true,
        };
        if !well_typed {
            return Err(invalid(editor, P, key));
        }
    }
    Ok(object.clone())
}

/// `editor_settings` and `ui_options`: flat objects of strings; `ui_options` values are `show` or `hide`.
pub fn string_settings(
    editor: Editor,
    parameter: &str,
    object: &Object,
) -> Result<Object, ApiError> {
    for (key, value) in object {
        let well_typed = match value.as_str() {
            Some(text) if parameter == "ui_options" => text == "show" || text == "hide",
            Some(_) => true,
            None => false,
        };
        if !well_typed {
            return Err(invalid(editor, parameter, key));
        }
    }
    Ok(object.clone())
}

pub fn document_defaults(editor: Editor, object: &Object) -> Result<Object, ApiError> {
    const P: &str = "document_defaults";
    for (key, value) in object {
        let well_typed = match key.as_str() {
            "font_size" => value
                .as_u64()
                .is_some_and(|size| (1..=1638).contains(&size)),
            "margin" => value
                .as_object()
                .is_some_and(|margin| margin.values().all(Value::is_string)),
            _ => value.is_string(),
        };
        if !well_typed {
            return Err(invalid(editor, P, key));
        }
    }
    Ok(object.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(value: Value) -> Object {
        value.as_object().unwrap().clone()
    }

    #[test]
    fn json_text_must_be_an_object() {
        let err = parse_object(Editor::Writer, "document_info", "{not json").unwrap_err();
        assert_eq!(
            (err.kind, err.parameter_name.as_deref()),
            (ErrorKind::InvalidJson, Some("document_info"))
        );
        let err = parse_object(Editor::Writer, "document_info", "[1]").unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidParameterValue);
        assert!(parse_object(Editor::Writer, "document_info", r#"{"document_name": "A"}"#).is_ok());
    }

    #[test]
    fn document_info_checks_types_and_url_safety() {
        let info = document_info(
            Editor::Writer,
            &obj(json!({"document_id": "42", "document_name": "Report"})),
        )
        .unwrap();
        assert_eq!(info.document_id.as_deref(), Some("42"));
        let err = document_info(Editor::Writer, &obj(json!({"document_id": 42}))).unwrap_err();
        assert_eq!(err.key_name.as_deref(), Some("document_id"));
        assert!(document_info(Editor::Writer, &obj(json!({"document_id": "a/b"}))).is_err());
        assert!(document_info(
            Editor::Writer,
            &obj(json!({"document_name": "x".repeat(256)}))
        )
        .is_err());
    }

    #[test]
    fn permissions_reject_unknown_keys_and_non_booleans() {
        let err = permissions(Editor::Writer, &obj(json!({"document.exprt": true}))).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidParameterName);
        assert_eq!(err.code(), 1832);
        assert_eq!(err.key_name.as_deref(), Some("document.exprt"));
        let err = permissions(Editor::Writer, &obj(json!({"document.edit": "yes"}))).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidParameterValue);
        assert!(permissions(
            Editor::Sheet,
            &obj(json!({"document.allowedformat": ["csv", "xlsx"]}))
        )
        .is_ok());
        assert!(permissions(Editor::Show, &obj(json!({"review.comment": true}))).is_err());
    }

    #[test]
    fn callback_settings_check_each_known_key() {
        let good = obj(
            json!({"save_url": "https://host/save", "http_method_type": "PUT", "retries": 2,
            "timeout": 10000, "save_url_params": {"id": 1}, "save_url_headers": {"x": "1"}, "save_format": "docx"}),
        );
        assert!(callback_settings(Editor::Writer, &good).is_ok());
        for (key, value) in [
            ("save_url", json!("ftp://host")),
            ("http_method_type", json!("get")),
            ("retries", json!("2")),
            ("timeout", json!(-1)),
            ("save_url_headers", json!({"x": 1})),
        ] {
            let err = callback_settings(Editor::Writer, &obj(json!({ key: value }))).unwrap_err();
            assert_eq!(err.key_name.as_deref(), Some(key));
        }
    }

    #[test]
    fn ui_options_take_show_or_hide() {
        assert!(string_settings(
            Editor::Writer,
            "ui_options",
            &obj(json!({"save_button": "hide"}))
        )
        .is_ok());
        assert!(string_settings(
            Editor::Writer,
            "ui_options",
            &obj(json!({"save_button": "maybe"}))
        )
        .is_err());
        assert!(
            string_settings(Editor::Writer, "editor_settings", &obj(json!({"unit": 3}))).is_err()
        );
    }

    #[test]
    fn document_defaults_font_size_is_a_number() {
        assert!(document_defaults(
            Editor::Writer,
            &obj(json!({"font_size": 12, "font_name": "Arial"}))
        )
        .is_ok());
        assert!(document_defaults(Editor::Writer, &obj(json!({"font_size": "12"}))).is_err());
    }
}
