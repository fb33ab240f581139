//! What a document looks like in the browser: text, a grid of cells, paragraphs, a PDF, or only a download.
//! Pure: reads the stored bytes, never the network.

use std::io::{Cursor, Read};

use calamine::{open_workbook_auto_from_rs, Reader as _};
use quick_xml::events::Event;

use super::Format;

/// Bounds that keep a page small enough for a phone; the whole document stays downloadable.
const MAX_ROWS: usize = 500;
const MAX_COLUMNS: usize = 50;
const MAX_DOCX_XML: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub enum View {
    /// txt, md and html (shown as source, never as markup of our page).
    Text(String),
    Grid(Grid),
    Paragraphs(Vec<Paragraph>),
    Pdf,
    /// Nothing we can show: offered as a download.
    Download,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    pub sheets: Vec<Sheet>,
    /// Some rows or columns were left out (see `MAX_ROWS`, `MAX_COLUMNS`).
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    pub name: String,
    pub rows: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Paragraph {
    pub heading: bool,
    pub text: String,
}

/// Formats the page can edit as text.
pub fn is_text(format: Format) -> bool {
    matches!(
        format,
        Format::Txt | Format::Md | Format::Html | Format::Csv | Format::Tsv
    )
}

/// The view of a stored document; a file that does not parse is offered as a download.
pub fn view(format: Format, bytes: &[u8]) -> View {
    let parsed = match format {
        Format::Txt | Format::Md | Format::Html => text(bytes).map(View::Text),
        Format::Csv => delimited(bytes, b',').map(View::Grid),
        Format::Tsv => delimited(bytes, b'\t').map(View::Grid),
        Format::Xlsx | Format::Xls | Format::Ods => workbook(bytes).map(View::Grid),
        Format::Docx => docx(bytes).map(View::Paragraphs),
        Format::Pdf => Some(View::Pdf),
        _ => None,
    };
    parsed.unwrap_or(View::Download)
}

/// The stored text of a text format, without a byte order mark.
pub fn text(bytes: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(bytes).ok()?;
    Some(text.strip_prefix('\u{feff}').unwrap_or(text).to_string())
}

struct GridBuilder {
    rows: Vec<Vec<String>>,
    truncated: bool,
}

impl GridBuilder {
    fn new() -> GridBuilder {
        GridBuilder {
            rows: Vec::new(),
            truncated: false,
        }
    }

    /// Adds a row; false once the sheet is full.
    fn push(&mut self, cells: impl Iterator<Item = String>) -> bool {
        if self.rows.len() == MAX_ROWS {
            self.truncated = true;
            return false;
        }
        let mut row: Vec<String> = cells.take(MAX_COLUMNS + 1).collect();
        if row.len() > MAX_COLUMNS {
            row.truncate(MAX_COLUMNS);
            self.truncated = true;
        }
        self.rows.push(row);
        true
    }
}

fn delimited(bytes: &[u8], delimiter: u8) -> Option<Grid> {
    let text = text(bytes)?;
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(text.as_bytes());
    let mut grid = GridBuilder::new();
    for record in reader.records() {
        let record = record.ok()?;
        if !grid.push(record.iter().map(str::to_string)) {
            break;
        }
    }
    Some(Grid {
        truncated: grid.truncated,
        sheets: vec![Sheet {
            name: String::new(),
            rows: grid.rows,
        }],
    })
}

fn workbook(bytes: &[u8]) -> Option<Grid> {
    let mut workbook = open_workbook_auto_from_rs(Cursor::new(bytes)).ok()?;
    let mut truncated = false;
    let mut sheets = Vec::new();
    for name in workbook.sheet_names() {
        let range = workbook.worksheet_range(&name).ok()?;
        let mut grid = GridBuilder::new();
        // The range starts at the first used cell: keep the sheet's own row and column positions.
        let (first_row, first_column) = range.start().unwrap_or((0, 0));
        for _ in 0..first_row {
            if !grid.push(std::iter::empty()) {
                break;
            }
        }
        for row in range.rows() {
            let leading = std::iter::repeat_n(String::new(), first_column as usize);
            if !grid.push(leading.chain(row.iter().map(|cell| cell.to_string()))) {
                break;
            }
        }
        truncated |= grid.truncated;
        sheets.push(Sheet {
            name,
            rows: grid.rows,
        });
    }
    Some(Grid { sheets, truncated })
}

/// The paragraphs of a docx's main part: the text of its runs, tabs and line breaks; headings by style.
fn docx(bytes: &[u8]) -> Option<Vec<Paragraph>> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
    let mut xml = String::new();
    archive
        .by_name("word/document.xml")
        .ok()?
        .take(MAX_DOCX_XML)
        .read_to_string(&mut xml)
        .ok()?;
    let mut reader = quick_xml::Reader::from_str(&xml);
    let decoder = reader.decoder();
    let mut paragraphs = Vec::new();
    let mut current: Option<Paragraph> = None;
    let mut in_text = false;
    loop {
        match reader.read_event().ok()? {
            Event::Start(element) => match element.local_name().as_ref() {
                b"p" => {
                    current = Some(Paragraph {
                        heading: false,
                        text: String::new(),
                    })
                }
                b"t" => in_text = true,
                _ => {}
            },
            Event::Empty(element) => match (element.local_name().as_ref(), current.as_mut()) {
                (b"tab", Some(paragraph)) => paragraph.text.push('\t'),
                (b"br" | b"cr", Some(paragraph)) => paragraph.text.push('\n'),
                (b"pStyle", Some(paragraph)) => {
                    let style = element
                        .try_get_attribute("w:val")
                        .ok()
                        .flatten()
                        .and_then(|value| value.decode_and_unescape_value(decoder).ok())
                        .unwrap_or_default();
                    paragraph.heading = style.starts_with("Heading") || style == "Title";
                }
                _ => {}
            },
            Event::Text(text) if in_text => {
                if let Some(paragraph) = current.as_mut() {
                    paragraph.text.push_str(&text.unescape().ok()?);
                }
            }
            Event::End(element) => match element.local_name().as_ref() {
                b"t" => in_text = false,
                b"p" => {
                    if let Some(paragraph) = current.take().filter(|p| !p.text.trim().is_empty()) {
                        paragraphs.push(paragraph);
                    }
                }
                _ => {}
            },
            Event::Eof => break,
            _ => {}
        }
    }
    Some(paragraphs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::blank::blank_document;
    use std::io::Write;

    fn zip_of(entries: &[(&str, &str)]) -> Vec<u8> {
        let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            writer
                .start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            writer.write_all(data.as_bytes()).unwrap();
        }
        writer.finish().unwrap().into_inner()
    }

    #[test]
    fn text_formats_show_their_text() {
        assert_eq!(
            view(Format::Txt, "\u{feff}héllo".as_bytes()),
            View::Text("héllo".into())
        );
        assert_eq!(
            view(Format::Html, b"<script>x</script>"),
            View::Text("<script>x</script>".into())
        );
        assert_eq!(view(Format::Txt, &[0xff, 0xfe, 0x00]), View::Download);
        assert!(is_text(Format::Csv) && !is_text(Format::Docx));
    }

    #[test]
    fn csv_becomes_a_grid_with_quoted_cells() {
        let View::Grid(grid) = view(Format::Csv, b"a,\"b,c\"\n1,2,3\n") else {
            panic!("not a grid")
        };
        assert_eq!(
            grid.sheets[0].rows,
            vec![vec!["a", "b,c"], vec!["1", "2", "3"]]
        );
        let View::Grid(grid) = view(Format::Tsv, b"a\tb\n") else {
            panic!("not a grid")
        };
        assert_eq!(grid.sheets[0].rows, vec![vec!["a", "b"]]);
    }

    #[test]
    fn large_grids_are_cut_and_say_so() {
        let wide = vec!["x"; MAX_COLUMNS + 5].join(",");
        let long = format!("{wide}\n{}", "1\n".repeat(MAX_ROWS + 10));
        let View::Grid(grid) = view(Format::Csv, long.as_bytes()) else {
            panic!("not a grid")
        };
        assert!(grid.truncated);
        assert_eq!(grid.sheets[0].rows.len(), MAX_ROWS);
        assert_eq!(grid.sheets[0].rows[0].len(), MAX_COLUMNS);
    }

    #[test]
    fn the_blank_workbook_is_a_grid() {
        let View::Grid(grid) = view(Format::Xlsx, &blank_document(Format::Xlsx).unwrap()) else {
            panic!("not a grid")
        };
        assert!(!grid.sheets.is_empty());
    }

    #[test]
    fn docx_paragraphs_keep_their_text_and_headings() {
        let document = r#"<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>
            <w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Title &amp; more</w:t></w:r></w:p>
            <w:p><w:r><w:t xml:space="preserve">One </w:t></w:r><w:r><w:tab/><w:t>two</w:t></w:r></w:p>
            <w:p></w:p></w:body></w:document>"#;
        let bytes = zip_of(&[("word/document.xml", document)]);
        assert_eq!(
            view(Format::Docx, &bytes),
            View::Paragraphs(vec![
                Paragraph {
                    heading: true,
                    text: "Title & more".into()
                },
                Paragraph {
                    heading: false,
                    text: "One \ttwo".into()
                },
            ])
        );
        assert_eq!(view(Format::Docx, b"not a zip"), View::Download);
        assert!(matches!(
            view(Format::Docx, &blank_document(Format::Docx).unwrap()),
            View::Paragraphs(_)
        ));
    }

    #[test]
    fn other_formats_are_downloads() {
        assert_eq!(view(Format::Pdf, b"%PDF-1.7"), View::Pdf);
        assert_eq!(view(Format::Pptx, b"PK"), View::Download);
        assert_eq!(view(Format::Odt, b"PK"), View::Download);
    }
}
