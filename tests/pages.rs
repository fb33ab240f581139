//! The session pages and their endpoints: what they show, what they allow, how they are framed and escaped,
//! and how an open page learns that its session ended.

mod common;

use std::io::{Cursor, Write};
use std::time::Duration;

use common::{blank, file_part, read, Response, TestApp};
use docsession::domain::Format;
use reqwest::multipart::Form;
use serde_json::{json, Value};

const WRITER_CREATE: &str = "/writer/officeapi/v1/documents";
const SHEET_CREATE: &str = "/sheet/officeapi/v1/spreadsheet";

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {value}"))
}

struct Open<'a> {
    document_id: &'a str,
    name: &'a str,
    user: &'a str,
    file: (&'a [u8], &'a str),
    permissions: Value,
}

impl Default for Open<'_> {
    fn default() -> Self {
        Open {
            document_id: "doc",
            name: "Notes",
            user: "Ann",
            file: (b"hello world", "notes.txt"),
            permissions: json!({}),
        }
    }
}

async fn open(app: &TestApp, path: &str, open: Open<'_>) -> Value {
    let form = Form::new()
        .text(
            "document_info",
            json!({"document_id": open.document_id, "document_name": open.name}).to_string(),
        )
        .text(
            "user_info",
            json!({"user_id": open.user, "display_name": open.user}).to_string(),
        )
        .text("permissions", open.permissions.to_string())
        .part("document", file_part(open.file.0.to_vec(), open.file.1));
    app.post_form(path, form).await.assert_ok().clone()
}

fn page_api(app: &TestApp, sid: &str, endpoint: &str) -> String {
    format!("{}/page/v1/sessions/{sid}/{endpoint}", app.base)
}

async fn page(app: &TestApp, url: &str) -> String {
    let (status, html) = app.open_page(url).await;
    assert_eq!(status, 200, "{url}: {html}");
    html
}

async fn state(app: &TestApp, id: &str) -> Value {
    let response = app
        .client
        .get(page_api(app, id, "state"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn edit(app: &TestApp, sid: &str, version: i64, text: &str) -> Response {
    read(
        app.client
            .put(format!(
                "{}?version={version}",
                page_api(app, sid, "content")
            ))
            .body(text.to_string())
            .send()
            .await
            .unwrap(),
    )
    .await
}

async fn get(app: &TestApp, url: &str) -> reqwest::Response {
    app.client.get(url).send().await.unwrap()
}

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

/// A one-sheet workbook "Sales" with Region/Total, North/42.
fn small_xlsx() -> Vec<u8> {
    const MAIN: &str = "http://schemas.openxmlformats.org/spreadsheetml/2006/main";
    const RELS: &str = "http://schemas.openxmlformats.org/package/2006/relationships";
    const DOC_RELS: &str = "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
    zip_of(&[
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            &format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{RELS}"><Relationship Id="rId1" Type="{DOC_RELS}/officeDocument" Target="xl/workbook.xml"/></Relationships>"#
            ),
        ),
        (
            "xl/workbook.xml",
            &format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="{MAIN}" xmlns:r="{DOC_RELS}"><sheets><sheet name="Sales" sheetId="1" r:id="rId1"/></sheets></workbook>"#
            ),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            &format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="{RELS}"><Relationship Id="rId1" Type="{DOC_RELS}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>"#
            ),
        ),
        (
            "xl/worksheets/sheet1.xml",
            &format!(
                r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="{MAIN}"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>Region</t></is></c><c r="B1" t="inlineStr"><is><t>Total</t></is></c></row><row r="2"><c r="A2" t="inlineStr"><is><t>North &amp; &lt;b&gt;</t></is></c><c r="B2"><v>42</v></c></row></sheetData></worksheet>"#
            ),
        ),
    ])
}

fn small_docx() -> Vec<u8> {
    zip_of(&[
        (
            "[Content_Types].xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#,
        ),
        (
            "_rels/.rels",
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"#,
        ),
        (
            "word/document.xml",
            r#"<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Quarterly report</w:t></w:r></w:p><w:p><w:r><w:t>Sales grew &lt;a lot&gt;.</w:t></w:r></w:p></w:body></w:document>"#,
        ),
    ])
}

#[tokio::test]
async fn the_page_shows_name_editor_format_people_countdown_and_text() {
    let app = common::spawn_app().await;
    let ann = open(&app, WRITER_CREATE, Open::default()).await;
    let bob = open(
        &app,
        WRITER_CREATE,
        Open {
            user: "Bob",
            ..Open::default()
        },
    )
    .await;
    let html = page(&app, str_of(&ann, "document_url")).await;
    for expected in [
        "<h1>Notes</h1>",
        "Writer",
        ">TXT<",
        "Editing",
        "id=\"countdown\">5:59:",
        "id=\"others\">Bob<",
        "<textarea id=\"editor\" spellcheck=\"true\">\nhello world</textarea>",
        "id=\"save\">Save<",
        "id=\"print\"",
        "name=\"viewport\" content=\"width=device-width, initial-scale=1\"",
    ] {
        assert!(html.contains(expected), "{expected} missing: {html}");
    }
    // No external asset: everything the page loads comes from us.
    for attribute in ["src=\"", "href=\""] {
        for (at, _) in html.match_indices(attribute) {
            let url = &html[at + attribute.len()..];
            assert!(url.starts_with(&app.base), "{}", &url[..40.min(url.len())]);
        }
    }
    for asset in ["page.css", "page.js"] {
        let response = get(&app, &format!("{}/page/v1/assets/{asset}", app.base)).await;
        assert_eq!(response.status(), 200, "{asset}");
    }
    let live = state(&app, str_of(&ann, "session_id")).await;
    assert_eq!(live["state"], "live");
    assert_eq!(live["others"], json!(["Bob"]));
    assert_eq!(live["version"], 1);
    assert!(live["expires_at_ms"].as_i64().unwrap() > live["now_ms"].as_i64().unwrap());
    let bobs = state(&app, str_of(&bob, "session_id")).await;
    assert_eq!(bobs["others"], json!(["Ann"]));
}

#[tokio::test]
async fn names_and_uploaded_html_are_escaped() {
    let app = common::spawn_app().await;
    let created = open(
        &app,
        WRITER_CREATE,
        Open {
            name: "<script>alert(1)</script>",
            user: "<img src=x onerror=alert(3)>",
            file: (
                b"<html><script>alert(2)</script><b>bold</b></html>",
                "page.html",
            ),
            ..Open::default()
        },
    )
    .await;
    open(
        &app,
        WRITER_CREATE,
        Open {
            user: "<img src=x onerror=alert(3)>",
            ..Open::default()
        },
    )
    .await;
    let html = page(&app, str_of(&created, "document_url")).await;
    assert!(!html.contains("<script>alert"), "{html}");
    assert!(!html.contains("<img src=x"), "{html}");
    assert!(!html.contains("<b>bold"), "{html}");
    assert!(
        html.contains("<h1>&lt;script&gt;alert(1)&lt;&#x2F;script&gt;</h1>"),
        "{html}"
    );
    assert!(
        html.contains("<iframe class=\"html-preview\" sandbox=\"\""),
        "{html}"
    );
    // The only scripts of the page are our own file.
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    let content = get(
        &app,
        &page_api(&app, str_of(&created, "session_id"), "content"),
    )
    .await;
    assert_eq!(
        content.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
    assert_eq!(content.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn pages_may_be_framed_by_the_configured_hosts_only() {
    let app = common::spawn_app().await;
    let created = open(&app, WRITER_CREATE, Open::default()).await;
    let response = get(&app, str_of(&created, "document_url")).await;
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(csp.ends_with("frame-ancestors *"), "{csp}");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(response.headers().get("x-frame-options").is_none());

    let restricted = common::spawn_app_with(|settings| {
        settings.frame_ancestors = "'self' https://crm.example.com".to_string();
    })
    .await;
    let created = open(&restricted, WRITER_CREATE, Open::default()).await;
    let response = get(&restricted, str_of(&created, "document_url")).await;
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        csp.ends_with("frame-ancestors 'self' https://crm.example.com"),
        "{csp}"
    );
    let ended = get(
        &restricted,
        &format!(
            "{}/writer/officeapi/v1/documents/nope/edit",
            restricted.base
        ),
    )
    .await;
    assert_eq!(ended.status(), 404);
    assert!(ended.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("frame-ancestors 'self' https://crm.example.com"));
}

#[tokio::test]
async fn edit_export_and_print_permissions_are_enforced() {
    let app = common::spawn_app().await;
    let denied = open(
        &app,
        WRITER_CREATE,
        Open {
            document_id: "denied",
            permissions: json!({"document.edit": false, "document.export": false, "document.print": false}),
            ..Open::default()
        },
    )
    .await;
    let sid = str_of(&denied, "session_id");
    let html = page(&app, str_of(&denied, "document_url")).await;
    assert!(html.contains("Viewing"), "{html}");
    assert!(
        html.contains("<pre class=\"text\">\nhello world</pre>"),
        "{html}"
    );
    for absent in [
        "<textarea",
        "id=\"save\"",
        "id=\"download-main\"",
        "id=\"print\"",
    ] {
        assert!(!html.contains(absent), "{absent} shown: {html}");
    }
    assert!(html.contains("class=\"no-print\""), "{html}");
    edit(&app, sid, 1, "mine now").await.assert_error(1890);
    let download = read(get(&app, &page_api(&app, sid, "download")).await).await;
    download.assert_error(1890);
    read(
        app.client
            .post(page_api(&app, sid, "save"))
            .send()
            .await
            .unwrap(),
    )
    .await
    .assert_error(1890);

    let allowed = open(&app, WRITER_CREATE, Open::default()).await;
    let sid = str_of(&allowed, "session_id");
    let download = get(&app, &page_api(&app, sid, "download")).await;
    assert_eq!(download.status(), 200);
    assert_eq!(
        download.headers()["content-disposition"],
        "attachment; filename=\"Notes.txt\""
    );
    assert_eq!(download.headers()["content-type"], "text/plain");
    assert_eq!(download.bytes().await.unwrap().as_ref(), b"hello world");
    assert_eq!(
        edit(&app, sid, 1, "mine now").await.assert_ok()["version"],
        2
    );
}

#[tokio::test]
async fn a_hidden_save_button_keeps_edits_without_sending_them() {
    let app = common::spawn_app().await;
    let form = Form::new()
        .text("ui_options", json!({"save_button": "hide"}).to_string())
        .part("document", file_part(b"draft".to_vec(), "draft.txt"));
    let created = app.post_form(WRITER_CREATE, form).await;
    let created = created.assert_ok();
    let sid = str_of(created, "session_id");
    let html = page(&app, str_of(created, "document_url")).await;
    assert!(html.contains("id=\"save\">Keep changes<"), "{html}");
    assert!(html.contains("data-host=\"false\""), "{html}");
    edit(&app, sid, 1, "draft 2").await.assert_ok();
    read(
        app.client
            .post(page_api(&app, sid, "save"))
            .send()
            .await
            .unwrap(),
    )
    .await
    .assert_error(1890);
}

#[tokio::test]
async fn sheet_and_show_are_read_only_unless_edit_is_granted() {
    let app = common::spawn_app().await;
    let csv = b"Region,Total\nNorth,42\n\"South, far\",7\n";
    let viewer = open(
        &app,
        SHEET_CREATE,
        Open {
            document_id: "sheet",
            file: (csv, "data.csv"),
            ..Open::default()
        },
    )
    .await;
    let html = page(&app, str_of(&viewer, "document_url")).await;
    assert!(html.contains("<td>South, far</td><td>7</td>"), "{html}");
    assert!(html.contains("Sheet") && html.contains(">CSV<"), "{html}");
    assert!(!html.contains("<textarea"), "{html}");
    edit(&app, str_of(&viewer, "session_id"), 1, "a,b")
        .await
        .assert_error(1890);

    let editor = open(
        &app,
        SHEET_CREATE,
        Open {
            document_id: "sheet",
            user: "Bob",
            permissions: json!({"document.edit": true}),
            ..Open::default()
        },
    )
    .await;
    let html = page(&app, str_of(&editor, "document_url")).await;
    assert!(html.contains("<textarea id=\"editor\""), "{html}");
    let grid = page(&app, str_of(&editor, "gridview_url")).await;
    assert!(
        grid.contains("Grid view") && !grid.contains("<textarea"),
        "{grid}"
    );
    edit(
        &app,
        str_of(&editor, "session_id"),
        1,
        "Region,Total\nWest,9\n",
    )
    .await
    .assert_ok();
    let html = page(&app, str_of(&viewer, "document_url")).await;
    assert!(html.contains("<td>West</td><td>9</td>"), "{html}");

    let show = open(
        &app,
        "/show/officeapi/v1/presentation",
        Open {
            file: (&blank(Format::Pptx), "deck.pptx"),
            ..Open::default()
        },
    )
    .await;
    let html = page(&app, str_of(&show, "document_url")).await;
    assert!(
        html.contains("This PPTX document cannot be shown"),
        "{html}"
    );
    assert!(html.contains("id=\"download-main\""), "{html}");
    assert!(!html.contains("id=\"save\""), "{html}");
}

#[tokio::test]
async fn spreadsheets_docx_and_pdf_are_shown() {
    let app = common::spawn_app().await;
    let sheet = open(
        &app,
        SHEET_CREATE,
        Open {
            file: (&small_xlsx(), "sales.xlsx"),
            ..Open::default()
        },
    )
    .await;
    let html = page(&app, str_of(&sheet, "document_url")).await;
    assert!(html.contains("<h3>Sales</h3>"), "{html}");
    assert!(
        html.contains("<td>Region</td><td>Total</td>")
            && html.contains("<td>North &amp; &lt;b&gt;</td><td>42</td>"),
        "{html}"
    );

    let docx = open(
        &app,
        WRITER_CREATE,
        Open {
            file: (&small_docx(), "report.docx"),
            ..Open::default()
        },
    )
    .await;
    let html = page(&app, str_of(&docx, "document_url")).await;
    assert!(
        html.contains("<h3>Quarterly report</h3><p>Sales grew &lt;a lot&gt;.</p>"),
        "{html}"
    );
    assert!(!html.contains("<textarea"), "a docx is not edited as text");

    let pdf = app.post_empty("/pdfeditor/officeapi/v1/pdf").await;
    let pdf = pdf.assert_ok();
    let sid = str_of(pdf, "session_id");
    let html = page(&app, str_of(pdf, "document_url")).await;
    assert!(
        html.contains(&format!(
            "<iframe class=\"pdf\" src=\"{}\"",
            page_api(&app, sid, "content")
        )),
        "{html}"
    );
    let content = get(&app, &page_api(&app, sid, "content")).await;
    assert_eq!(content.headers()["content-type"], "application/pdf");
    assert!(content.bytes().await.unwrap().starts_with(b"%PDF"));
}

#[tokio::test]
async fn preview_and_compare_sessions_are_read_only() {
    let app = common::spawn_app().await;
    let form = Form::new()
        .text(
            "document_info",
            json!({"document_name": "Preview me"}).to_string(),
        )
        .text("permissions", json!({"document.edit": true}).to_string())
        .part("document", file_part(b"look only".to_vec(), "p.txt"));
    let preview = app
        .post_form("/writer/officeapi/v1/document/preview", form)
        .await;
    let preview = preview.assert_ok();
    let sid = str_of(preview, "session_id");
    let html = page(&app, str_of(preview, "preview_url")).await;
    assert!(
        html.contains("Preview") && html.contains("look only"),
        "{html}"
    );
    assert!(
        !html.contains("<textarea") && !html.contains("id=\"save\""),
        "{html}"
    );
    edit(&app, sid, 1, "changed").await.assert_error(1890);
    read(
        app.client
            .post(page_api(&app, sid, "save"))
            .send()
            .await
            .unwrap(),
    )
    .await
    .assert_error(1890);
    // A preview session does not open at the edit URL.
    let (status, _) = app
        .open_page(&str_of(preview, "preview_url").replace("/preview", "/edit"))
        .await;
    assert_eq!(status, 404);

    let form = Form::new()
        .text("title", "Draft changes")
        .part("document1", file_part(b"old words".to_vec(), "old.txt"))
        .part("document2", file_part(b"new words".to_vec(), "new.txt"));
    let compare = app
        .post_form("/writer/officeapi/v1/document/compare", form)
        .await;
    let compare = compare.assert_ok();
    let html = page(&app, str_of(compare, "compare_url")).await;
    for expected in [
        "Comparison",
        "<h2>Original</h2>",
        "old words",
        "<h2>Revised</h2>",
        "new words",
    ] {
        assert!(html.contains(expected), "{expected}: {html}");
    }
    assert!(!html.contains("<textarea"), "{html}");
}

#[tokio::test]
async fn co_editors_see_the_latest_text_and_a_stale_edit_is_refused() {
    let app = common::spawn_app().await;
    let ann = open(&app, WRITER_CREATE, Open::default()).await;
    let bob = open(
        &app,
        WRITER_CREATE,
        Open {
            user: "Bob",
            ..Open::default()
        },
    )
    .await;
    let ann_sid = str_of(&ann, "session_id");
    let bob_sid = str_of(&bob, "session_id");
    assert!(page(&app, str_of(&bob, "document_url"))
        .await
        .contains("data-version=\"1\""));

    assert_eq!(
        edit(&app, ann_sid, 1, "Ann wrote this").await.assert_ok()["version"],
        2
    );
    // Bob edited version 1 too: refused, and Ann's text stays.
    let stale = edit(&app, bob_sid, 1, "Bob wrote that").await;
    assert!(stale.assert_error(1891)["message"]
        .as_str()
        .unwrap()
        .contains("Reload"));
    let content = get(&app, &page_api(&app, bob_sid, "content")).await;
    assert_eq!(content.text().await.unwrap(), "Ann wrote this");
    assert_eq!(state(&app, bob_sid).await["version"], 2);
    let reloaded = page(&app, str_of(&bob, "document_url")).await;
    assert!(
        reloaded.contains("\nAnn wrote this</textarea>"),
        "{reloaded}"
    );
    assert!(reloaded.contains("data-version=\"2\""), "{reloaded}");
    assert_eq!(
        edit(&app, bob_sid, 2, "Bob, after Ann").await.assert_ok()["version"],
        3
    );
    edit(&app, bob_sid, 0, "x").await.assert_error(1891);
    read(
        app.client
            .put(page_api(&app, bob_sid, "content"))
            .body("no version")
            .send()
            .await
            .unwrap(),
    )
    .await
    .assert_error(1837);
}

#[tokio::test]
async fn the_state_endpoint_says_ended_once_a_session_is_deleted_or_expires() {
    let app = common::spawn_app_with(|s| s.session_ttl = Duration::from_secs(3)).await;
    let ann = open(&app, WRITER_CREATE, Open::default()).await;
    let bob = open(
        &app,
        WRITER_CREATE,
        Open {
            user: "Bob",
            ..Open::default()
        },
    )
    .await;
    let ann_sid = str_of(&ann, "session_id");
    assert_eq!(state(&app, ann_sid).await["state"], "live");
    app.delete(&format!("/writer/officeapi/v1/sessions/{ann_sid}"))
        .await
        .assert_ok();
    let ended = state(&app, ann_sid).await;
    assert_eq!(ended, json!({"state": "ended", "reason": "closed"}));
    assert_eq!(state(&app, "0123456789abcdef").await["state"], "ended");
    let (status, html) = app.open_page(str_of(&ann, "document_url")).await;
    assert_eq!(status, 404);
    assert!(html.contains("has ended"), "{html}");
    assert_eq!(
        state(&app, str_of(&bob, "session_id")).await["others"],
        json!([])
    );

    let bob_sid = str_of(&bob, "session_id").to_string();
    common::eventually("the session to expire", || {
        let app = &app;
        let bob_sid = bob_sid.clone();
        async move { state(app, &bob_sid).await == json!({"state": "ended", "reason": "expired"}) }
    })
    .await;
    let expired = read(get(&app, &page_api(&app, &bob_sid, "content")).await).await;
    expired.assert_error(1834);
}

#[tokio::test]
async fn page_endpoints_take_a_session_id_never_a_document_id() {
    let app = common::spawn_app().await;
    let created = open(
        &app,
        WRITER_CREATE,
        Open {
            document_id: "plain-id",
            ..Open::default()
        },
    )
    .await;
    let sid = str_of(&created, "session_id");
    assert_eq!(state(&app, "plain-id").await["state"], "ended");
    for endpoint in ["content", "download"] {
        read(get(&app, &page_api(&app, "plain-id", endpoint)).await)
            .await
            .assert_error(1833);
    }
    edit(&app, "plain-id", 1, "x").await.assert_error(1833);
    let (status, _) = app
        .open_page(&format!(
            "{}/writer/officeapi/v1/documents/plain-id/edit",
            app.base
        ))
        .await;
    assert_eq!(status, 404);
    // A Writer session is no Sheet page; the legacy Writer URL opens it.
    let (status, _) = app
        .open_page(&format!("{}/sheet/officeapi/v1/{sid}", app.base))
        .await;
    assert_eq!(status, 404);
    page(
        &app,
        &format!("{}/writer/officeapi/v1/document/{sid}/open", app.base),
    )
    .await;
    read(
        get(
            &app,
            &format!("{}?part=../main", page_api(&app, sid, "content")),
        )
        .await,
    )
    .await
    .assert_error(1831);
}
