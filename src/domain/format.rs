use std::io::{Cursor, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Docx,
    Doc,
    Odt,
    Rtf,
    Txt,
    Html,
    Md,
    Csv,
    Tsv,
    Xlsx,
    Xls,
    Ods,
    Pptx,
    Ppsx,
    Ppt,
    Odp,
    Pdf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    Document,
    Spreadsheet,
    Presentation,
    Pdf,
}

const OLE_MAGIC: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

impl Format {
    /// Detects the format from the content; the filename's extension only
    /// disambiguates (text flavours, OLE containers, ppsx vs pptx).
    /// Returns `None` for empty input, unknown binaries and unknown zips.
    pub fn sniff(bytes: &[u8], filename: Option<&str>) -> Option<Format> {
        if bytes.is_empty() {
            return None;
        }
        let hint = filename
            .and_then(|name| name.rsplit_once('.'))
            .and_then(|(_, ext)| Format::from_extension(ext));

        if infer::archive::is_pdf(bytes) {
            Some(Format::Pdf)
        } else if infer::archive::is_rtf(bytes) {
            Some(Format::Rtf)
        } else if infer::archive::is_zip(bytes) {
            sniff_zip(bytes, hint)
        } else if bytes.starts_with(&OLE_MAGIC) {
            sniff_ole(bytes, hint)
        } else {
            sniff_text(bytes, hint)
        }
    }

    pub fn from_extension(ext: &str) -> Option<Format> {
        let ext = ext.strip_prefix('.').unwrap_or(ext).to_ascii_lowercase();
        Some(match ext.as_str() {
            "docx" => Format::Docx,
            "doc" => Format::Doc,
            "odt" => Format::Odt,
            "rtf" => Format::Rtf,
            "txt" => Format::Txt,
            "html" | "htm" => Format::Html,
            "md" | "markdown" => Format::Md,
            "csv" => Format::Csv,
            "tsv" => Format::Tsv,
            "xlsx" => Format::Xlsx,
            "xls" => Format::Xls,
            "ods" => Format::Ods,
            "pptx" => Format::Pptx,
            "ppsx" => Format::Ppsx,
            "ppt" => Format::Ppt,
            "odp" => Format::Odp,
            "pdf" => Format::Pdf,
            _ => return None,
        })
    }

    pub fn extension(self) -> &'static str {
        match self {
            Format::Docx => "docx",
            Format::Doc => "doc",
            Format::Odt => "odt",
            Format::Rtf => "rtf",
            Format::Txt => "txt",
            Format::Html => "html",
            Format::Md => "md",
            Format::Csv => "csv",
            Format::Tsv => "tsv",
            Format::Xlsx => "xlsx",
            Format::Xls => "xls",
            Format::Ods => "ods",
            Format::Pptx => "pptx",
            Format::Ppsx => "ppsx",
            Format::Ppt => "ppt",
            Format::Odp => "odp",
            Format::Pdf => "pdf",
        }
    }

    pub fn mime(self) -> &'static str {
        match self {
            Format::Docx => {
                "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
            }
            Format::Doc => "application/msword",
            Format::Odt => "application/vnd.oasis.opendocument.text",
            Format::Rtf => "application/rtf",
            Format::Txt => "text/plain",
            Format::Html => "text/html",
            Format::Md => "text/markdown",
            Format::Csv => "text/csv",
            Format::Tsv => "text/tab-separated-values",
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Xls => "application/vnd.ms-excel",
            Format::Ods => "application/vnd.oasis.opendocument.spreadsheet",
            Format::Pptx => {
                "application/vnd.openxmlformats-officedocument.presentationml.presentation"
            }
            Format::Ppsx => {
                "application/vnd.openxmlformats-officedocument.presentationml.slideshow"
            }
            Format::Ppt => "application/vnd.ms-powerpoint",
            Format::Odp => "application/vnd.oasis.opendocument.presentation",
            Format::Pdf => "application/pdf",
        }
    }

    pub fn family(self) -> Family {
        match self {
            Format::Docx
            | Format::Doc
            | Format::Odt
            | Format::Rtf
            | Format::Txt
            | Format::Html
            | Format::Md => Family::Document,
            Format::Xlsx | Format::Xls | Format::Ods | Format::Csv | Format::Tsv => {
                Family::Spreadsheet
            }
            Format::Pptx | Format::Ppsx | Format::Ppt | Format::Odp => Family::Presentation,
            Format::Pdf => Family::Pdf,
        }
    }
}

/// ppsx is a pptx with another main content type; only the name tells them apart here.
fn presentation(hint: Option<Format>) -> Format {
    if hint == Some(Format::Ppsx) {
        Format::Ppsx
    } else {
        Format::Pptx
    }
}

fn sniff_zip(bytes: &[u8], hint: Option<Format>) -> Option<Format> {
    use infer::{doc, odf};
    if doc::is_docx(bytes) {
        return Some(Format::Docx);
    } else if doc::is_xlsx(bytes) {
        return Some(Format::Xlsx);
    } else if doc::is_pptx(bytes) {
        return Some(presentation(hint));
    } else if odf::is_odt(bytes) {
        return Some(Format::Odt);
    } else if odf::is_ods(bytes) {
        return Some(Format::Ods);
    } else if odf::is_odp(bytes) {
        return Some(Format::Odp);
    }

    // infer only reads the first few local headers (and reports a generic
    // OOXML zip for some layouts, e.g. LibreOffice's): read the directory.
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
    if let Ok(entry) = archive.by_name("mimetype") {
        let mut mimetype = String::new();
        entry.take(100).read_to_string(&mut mimetype).ok()?;
        return match mimetype.trim() {
            "application/vnd.oasis.opendocument.text" => Some(Format::Odt),
            "application/vnd.oasis.opendocument.spreadsheet" => Some(Format::Ods),
            "application/vnd.oasis.opendocument.presentation" => Some(Format::Odp),
            _ => None,
        };
    }
    archive.index_for_name("[Content_Types].xml")?;
    for name in archive.file_names() {
        match name.split_once('/').map(|(dir, _)| dir) {
            Some("word") => return Some(Format::Docx),
            Some("xl") => return Some(Format::Xlsx),
            Some("ppt") => return Some(presentation(hint)),
            _ => {}
        }
    }
    None
}

fn sniff_ole(bytes: &[u8], hint: Option<Format>) -> Option<Format> {
    use infer::doc;
    if doc::is_doc(bytes) {
        Some(Format::Doc)
    } else if doc::is_xls(bytes) {
        Some(Format::Xls)
    } else if doc::is_ppt(bytes) {
        Some(Format::Ppt)
    } else {
        // Many writers leave the root CLSID empty: trust the extension.
        hint.filter(|f| matches!(f, Format::Doc | Format::Xls | Format::Ppt))
    }
}

fn sniff_text(bytes: &[u8], hint: Option<Format>) -> Option<Format> {
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // Valid UTF-8 can still be binary (e.g. NUL-padded); real text has no
    // control characters besides whitespace.
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}'))
    {
        return None;
    }
    if let Some(f @ (Format::Txt | Format::Md | Format::Csv | Format::Tsv | Format::Html)) = hint {
        return Some(f);
    }
    let head: String = text.trim_start().chars().take(14).collect();
    let head = head.to_ascii_lowercase();
    if head.starts_with("<!doctype html") || head.starts_with("<html") {
        Some(Format::Html)
    } else {
        Some(Format::Txt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::blank::blank_document;
    use std::io::Write;

    fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn pdf_magic() {
        let pdf = b"%PDF-1.7\n%\xE2\xE3\xCF\xD3\n1 0 obj\n";
        assert_eq!(Format::sniff(pdf, None), Some(Format::Pdf));
        // Bytes win over a misleading name.
        assert_eq!(Format::sniff(pdf, Some("a.txt")), Some(Format::Pdf));
    }

    #[test]
    fn rtf_magic() {
        assert_eq!(Format::sniff(br"{\rtf1\ansi hi}", None), Some(Format::Rtf));
    }

    #[test]
    fn plain_zip_is_unknown() {
        let z = zip_of(&[("a.txt", b"a"), ("b/c.txt", b"c"), ("d.txt", b"d")]);
        assert_eq!(Format::sniff(&z, Some("x.docx")), None);
    }

    #[test]
    fn zip_entries_fallback() {
        // [Content_Types].xml not first: infer's header walk cannot see it.
        let z = zip_of(&[
            ("docProps/core.xml", b"<x/>"),
            ("docProps/app.xml", b"<x/>"),
            ("customXml/item1.xml", b"<x/>"),
            ("[Content_Types].xml", b"<x/>"),
            ("xl/workbook.xml", b"<x/>"),
        ]);
        assert_eq!(Format::sniff(&z, None), Some(Format::Xlsx));
        let z = zip_of(&[
            ("[Content_Types].xml", b"<x/>"),
            ("docProps/core.xml", b"<x/>"),
            ("docProps/app.xml", b"<x/>"),
            ("ppt/presentation.xml", b"<x/>"),
        ]);
        assert_eq!(Format::sniff(&z, Some("show.ppsx")), Some(Format::Ppsx));
        assert_eq!(Format::sniff(&z, None), Some(Format::Pptx));
    }

    #[test]
    fn odf_mimetype() {
        let z = zip_of(&[
            (
                "mimetype",
                b"application/vnd.oasis.opendocument.spreadsheet",
            ),
            ("content.xml", b"<x/>"),
        ]);
        assert_eq!(Format::sniff(&z, None), Some(Format::Ods));
        let z = zip_of(&[("mimetype", b"application/epub+zip")]);
        assert_eq!(Format::sniff(&z, None), None);
    }

    #[test]
    fn ole_uses_hint_only_for_ole_formats() {
        let mut ole = OLE_MAGIC.to_vec();
        ole.resize(512, 0);
        assert_eq!(Format::sniff(&ole, Some("old.XLS")), Some(Format::Xls));
        assert_eq!(Format::sniff(&ole, Some("old.docx")), None);
        assert_eq!(Format::sniff(&ole, None), None);
    }

    #[test]
    fn binaries_are_unknown() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        assert_eq!(Format::sniff(png, Some("image.txt")), None);
        assert_eq!(Format::sniff(&[0xff, 0xfe, 0x00, 0x80, 0x81], None), None);
        assert_eq!(Format::sniff(b"ab\0\0cd", Some("a.txt")), None);
        assert_eq!(Format::sniff(b"", Some("a.txt")), None);
    }

    #[test]
    fn text_formats() {
        assert_eq!(
            Format::sniff(b"a,b\n1,2\n", Some("x.csv")),
            Some(Format::Csv)
        );
        assert_eq!(Format::sniff(b"a\tb\n", Some("X.TSV")), Some(Format::Tsv));
        assert_eq!(
            Format::sniff(b"# Title\n", Some("r.markdown")),
            Some(Format::Md)
        );
        assert_eq!(Format::sniff(b"hello", None), Some(Format::Txt));
        assert_eq!(Format::sniff(b"hello", Some("noext")), Some(Format::Txt));
        // A binary-format name on text bytes is ignored.
        assert_eq!(Format::sniff(b"hello", Some("a.docx")), Some(Format::Txt));
        let html = b"\xEF\xBB\xBF \n<!DOCTYPE html><html><body></body></html>";
        assert_eq!(Format::sniff(html, None), Some(Format::Html));
        assert_eq!(
            Format::sniff(b"<HTML><p>x</HTML>", None),
            Some(Format::Html)
        );
        assert_eq!(
            Format::sniff(b"<p>x</p>", Some("a.htm")),
            Some(Format::Html)
        );
        assert_eq!(Format::sniff(b"<p>x</p>", None), Some(Format::Txt));
    }

    #[test]
    fn blank_documents_sniff_back() {
        for f in [Format::Docx, Format::Xlsx, Format::Pptx, Format::Pdf] {
            let bytes = blank_document(f).unwrap();
            assert_eq!(Format::sniff(&bytes, None), Some(f));
            assert_eq!(Format::sniff(&bytes, Some("x.txt")), Some(f));
        }
        // infer alone must already recognise the OOXML blanks.
        assert!(infer::doc::is_docx(&blank_document(Format::Docx).unwrap()));
        assert!(infer::doc::is_xlsx(&blank_document(Format::Xlsx).unwrap()));
        assert!(infer::doc::is_pptx(&blank_document(Format::Pptx).unwrap()));
        let pptx = blank_document(Format::Pptx).unwrap();
        assert_eq!(Format::sniff(&pptx, Some("a.ppsx")), Some(Format::Ppsx));
    }

    #[test]
    fn extension_roundtrip_and_mapping() {
        let all = [
            Format::Docx,
            Format::Doc,
            Format::Odt,
            Format::Rtf,
            Format::Txt,
            Format::Html,
            Format::Md,
            Format::Csv,
            Format::Tsv,
            Format::Xlsx,
            Format::Xls,
            Format::Ods,
            Format::Pptx,
            Format::Ppsx,
            Format::Ppt,
            Format::Odp,
            Format::Pdf,
        ];
        for f in all {
            assert_eq!(Format::from_extension(f.extension()), Some(f));
            assert_eq!(
                Format::from_extension(&f.extension().to_uppercase()),
                Some(f)
            );
            assert!(!f.mime().contains("charset"));
        }
        assert_eq!(Format::from_extension("HTM"), Some(Format::Html));
        assert_eq!(Format::from_extension("exe"), None);
        assert_eq!(Format::Csv.family(), Family::Spreadsheet);
        assert_eq!(Format::Md.family(), Family::Document);
        assert_eq!(Format::Ppsx.family(), Family::Presentation);
        assert_eq!(Format::Pdf.family(), Family::Pdf);
        assert_eq!(Format::Tsv.mime(), "text/tab-separated-values");
    }
}
