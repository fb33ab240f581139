//! Pure domain types and rules: no I/O.

pub mod access;
pub mod blank;
pub mod callback;
pub mod format;
pub mod ids;
pub mod params;
pub mod preview;
pub mod time;

pub use format::{Family, Format};

/// The four editors of the Office Integrator API. Each has its own path prefix, error codes and native format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Editor {
    Writer,
    Sheet,
    Show,
    Pdf,
}

impl Editor {
    pub const ALL: [Editor; 4] = [Editor::Writer, Editor::Sheet, Editor::Show, Editor::Pdf];

    pub fn as_str(self) -> &'static str {
        match self {
            Editor::Writer => "writer",
            Editor::Sheet => "sheet",
            Editor::Show => "show",
            Editor::Pdf => "pdf",
        }
    }

    pub fn parse(value: &str) -> Option<Editor> {
        Editor::ALL
            .into_iter()
            .find(|editor| editor.as_str() == value)
    }

    pub fn path_prefix(self) -> &'static str {
        match self {
            Editor::Writer => "/writer/officeapi/v1",
            Editor::Sheet => "/sheet/officeapi/v1",
            Editor::Show => "/show/officeapi/v1",
            Editor::Pdf => "/pdfeditor/officeapi/v1",
        }
    }

    /// The format of a blank document created by an empty POST.
    pub fn native_format(self) -> Format {
        match self {
            Editor::Writer => Format::Docx,
            Editor::Sheet => Format::Xlsx,
            Editor::Show => Format::Pptx,
            Editor::Pdf => Format::Pdf,
        }
    }

    /// How this editor imports sniffed bytes: Sheet reads plain text without a telling file name (an
    /// in-memory upload from either SDK) as CSV, or as TSV when its first line has tabs and no commas.
    pub fn import_format(self, sniffed: Format, bytes: &[u8]) -> Format {
        if self != Editor::Sheet || sniffed != Format::Txt {
            return sniffed;
        }
        let first_line = bytes.split(|&b| b == b'\n').next().unwrap_or_default();
        if first_line.contains(&b'\t') && !first_line.contains(&b',') {
            Format::Tsv
        } else {
            Format::Csv
        }
    }

    pub fn accepts(self, format: Format) -> bool {
        let family = format.family();
        match self {
            Editor::Writer => family == Family::Document,
            Editor::Sheet => family == Family::Spreadsheet,
            Editor::Show => family == Family::Presentation,
            Editor::Pdf => family == Family::Pdf,
        }
    }
}

/// What a document was created as; reported as `document_type` in document info.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocumentType {
    Document,
    MergeTemplate,
    FillableTemplate,
    Native,
}

impl DocumentType {
    pub fn as_str(self) -> &'static str {
        match self {
            DocumentType::Document => "document",
            DocumentType::MergeTemplate => "merge_template",
            DocumentType::FillableTemplate => "fillable_template",
            DocumentType::Native => "native",
        }
    }

    pub fn parse(value: &str) -> Option<DocumentType> {
        [
            DocumentType::Document,
            DocumentType::MergeTemplate,
            DocumentType::FillableTemplate,
            DocumentType::Native,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == value)
    }
}

/// What a session was opened for. Preview and compare sessions are read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Edit,
    Preview,
    Compare,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Edit => "edit",
            SessionKind::Preview => "preview",
            SessionKind::Compare => "compare",
        }
    }

    pub fn parse(value: &str) -> Option<SessionKind> {
        [
            SessionKind::Edit,
            SessionKind::Preview,
            SessionKind::Compare,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == value)
    }
}

/// `inactive` until the session URL is first opened, then `active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionStatus {
    Inactive,
    Active,
}

impl SessionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionStatus::Inactive => "inactive",
            SessionStatus::Active => "active",
        }
    }

    pub fn parse(value: &str) -> Option<SessionStatus> {
        match value {
            "inactive" => Some(SessionStatus::Inactive),
            "active" => Some(SessionStatus::Active),
            _ => None,
        }
    }
}

/// Opens are allowed up to the key's limit plus 10% grace (rounded down), as Zoho does.
pub fn usage_allowance(limit: i64) -> i64 {
    limit + limit / 10
}

/// Zoho's Python SDK turns every `'` in a JSON response into `"` before parsing, which breaks the JSON.
/// Every string we send back goes through this.
pub fn wire_text(value: &str) -> String {
    value.replace('\'', "\u{2019}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowance_adds_ten_percent_grace_rounded_down() {
        assert_eq!(usage_allowance(100), 110);
        assert_eq!(usage_allowance(2), 2);
        assert_eq!(usage_allowance(15), 16);
        assert_eq!(usage_allowance(0), 0);
    }

    #[test]
    fn editors_accept_their_own_family_only() {
        assert!(Editor::Writer.accepts(Format::Docx));
        assert!(Editor::Writer.accepts(Format::Txt));
        assert!(!Editor::Writer.accepts(Format::Xlsx));
        assert!(Editor::Sheet.accepts(Format::Csv));
        assert!(!Editor::Sheet.accepts(Format::Pdf));
        assert!(Editor::Show.accepts(Format::Pptx));
        assert!(Editor::Pdf.accepts(Format::Pdf));
        assert!(!Editor::Pdf.accepts(Format::Docx));
        for editor in Editor::ALL {
            assert!(editor.accepts(editor.native_format()));
            assert_eq!(Editor::parse(editor.as_str()), Some(editor));
        }
    }

    #[test]
    fn sheet_imports_plain_text_as_csv_or_tsv() {
        assert_eq!(
            Editor::Sheet.import_format(Format::Txt, b"a,b\n1,2\n"),
            Format::Csv
        );
        assert_eq!(
            Editor::Sheet.import_format(Format::Txt, b"a\tb\n1\t2\n"),
            Format::Tsv
        );
        assert_eq!(Editor::Sheet.import_format(Format::Xlsx, b""), Format::Xlsx);
        assert_eq!(
            Editor::Writer.import_format(Format::Txt, b"a,b"),
            Format::Txt
        );
    }

    #[test]
    fn apostrophes_become_typographic() {
        assert_eq!(wire_text("O'Brien's"), "O\u{2019}Brien\u{2019}s");
    }
}
