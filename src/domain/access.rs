//! What a session may do on its page: its permissions, with each editor's defaults (reference §5), its kind
//! (preview and compare are read-only) and its UI options.

use serde_json::Value;

use super::params::SessionSettings;
use super::{Editor, SessionKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    /// Change the content.
    pub edit: bool,
    /// Download the document (`document.export`).
    pub export: bool,
    pub print: bool,
    /// Offer the Save action, which sends the document to the host's save URL.
    pub save_button: bool,
}

impl Access {
    /// `read_only_view` is a view that never edits, such as Sheet's grid view (`?zview=rgrid`).
    pub fn of(
        editor: Editor,
        kind: SessionKind,
        settings: &SessionSettings,
        read_only_view: bool,
    ) -> Access {
        let granted = |key: &str, default: bool| {
            settings
                .permissions
                .get(key)
                .and_then(Value::as_bool)
                .unwrap_or(default)
        };
        // Sheet and Show open read-only unless edit is granted; Writer and the PDF editor open editable.
        let edit_by_default = matches!(editor, Editor::Writer | Editor::Pdf);
        let edit = kind == SessionKind::Edit
            && !read_only_view
            && granted("document.edit", edit_by_default);
        let save_button_shown = settings
            .ui_options
            .as_ref()
            .and_then(|options| options.get("save_button"))
            .and_then(Value::as_str)
            != Some("hide");
        Access {
            edit,
            export: granted("document.export", true),
            print: granted("document.print", true),
            save_button: edit && save_button_shown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn settings(permissions: Value, ui_options: Option<Value>) -> SessionSettings {
        SessionSettings {
            permissions: permissions.as_object().unwrap().clone(),
            ui_options: ui_options.map(|value| value.as_object().unwrap().clone()),
            ..SessionSettings::default()
        }
    }

    #[test]
    fn defaults_follow_the_editor() {
        let none = settings(json!({}), None);
        let writer = Access::of(Editor::Writer, SessionKind::Edit, &none, false);
        assert_eq!(
            writer,
            Access {
                edit: true,
                export: true,
                print: true,
                save_button: true
            }
        );
        assert!(Access::of(Editor::Pdf, SessionKind::Edit, &none, false).edit);
        for editor in [Editor::Sheet, Editor::Show] {
            let access = Access::of(editor, SessionKind::Edit, &none, false);
            assert!(!access.edit && !access.save_button && access.export && access.print);
        }
        let granted = settings(json!({"document.edit": true}), None);
        assert!(Access::of(Editor::Sheet, SessionKind::Edit, &granted, false).edit);
        assert!(!Access::of(Editor::Sheet, SessionKind::Edit, &granted, true).edit);
    }

    #[test]
    fn preview_and_compare_are_read_only() {
        let granted = settings(json!({"document.edit": true}), None);
        for kind in [SessionKind::Preview, SessionKind::Compare] {
            let access = Access::of(Editor::Writer, kind, &granted, false);
            assert!(!access.edit && !access.save_button);
        }
    }

    #[test]
    fn permissions_and_ui_options_are_honoured() {
        let denied = settings(
            json!({"document.edit": false, "document.export": false, "document.print": false}),
            None,
        );
        let access = Access::of(Editor::Writer, SessionKind::Edit, &denied, false);
        assert_eq!(
            access,
            Access {
                edit: false,
                export: false,
                print: false,
                save_button: false
            }
        );
        let hidden = settings(json!({}), Some(json!({"save_button": "hide"})));
        let access = Access::of(Editor::Writer, SessionKind::Edit, &hidden, false);
        assert!(access.edit && !access.save_button);
    }
}
