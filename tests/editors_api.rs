mod common;

use std::io::Cursor;

use common::{blank, buffer_part, file_part, Response, TestApp};
use docsession::domain::Format;
use reqwest::multipart::Form;
use serde_json::Value;

const SIX_HOURS_MS: i64 = 6 * 3600 * 1000;

const CREATE_KEYS: [&str; 6] = [
    "document_id",
    "session_id",
    "document_url",
    "save_url",
    "session_delete_url",
    "document_delete_url",
];

const PREVIEW_KEYS: [&str; 5] = [
    "preview_url",
    "document_id",
    "session_id",
    "session_delete_url",
    "document_delete_url",
];

// ---------------------------------------------------------------------------------------------------------
// HTTP helpers: like the harness, but every body is checked, as raw text, for an apostrophe.
// ---------------------------------------------------------------------------------------------------------

async fn send(request: reqwest::RequestBuilder) -> Response {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.expect("body");
    assert!(
        !text.contains('\''),
        "apostrophe in a response body: {text}"
    );
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Response {
        status,
        content_type,
        body,
    }
}

async fn post(app: &TestApp, path: &str, form: Form) -> Response {
    post_with_key(app, path, form, &app.key).await
}

async fn post_with_key(app: &TestApp, path: &str, form: Form, key: &str) -> Response {
    send(app.client.post(app.url_with_key(path, key)).multipart(form)).await
}

/// No body, no Content-Type: what both SDKs send when no parameter is set.
async fn post_empty(app: &TestApp, path: &str) -> Response {
    send(app.client.post(app.url(path))).await
}

async fn get(app: &TestApp, path: &str) -> Response {
    send(app.client.get(app.url(path))).await
}

async fn get_with_key(app: &TestApp, path: &str, key: &str) -> Response {
    send(app.client.get(app.url_with_key(path, key))).await
}

async fn delete(app: &TestApp, path: &str) -> Response {
    send(app.client.delete(app.url(path))).await
}

async fn delete_with_key(app: &TestApp, path: &str, key: &str) -> Response {
    send(app.client.delete(app.url_with_key(path, key))).await
}

/// Calls an absolute URL handed out by the server, with the key appended as the Node SDK does.
async fn delete_url(app: &TestApp, url: &str) -> Response {
    send(app.client.delete(format!("{url}?apikey={}&", app.key))).await
}

/// Opens a session page like a browser; asserts an HTML answer and returns status and text.
async fn open_page(app: &TestApp, url: &str) -> (u16, String) {
    let page = send(app.client.get(url)).await;
    assert!(
        page.content_type.starts_with("text/html"),
        "{url}: {}",
        page.content_type
    );
    let text = page.body.as_str().expect("an HTML page").to_string();
    (page.status, text)
}

async fn assert_page_ok(app: &TestApp, url: &str) -> String {
    let (status, text) = open_page(app, url).await;
    assert_eq!(status, 200, "{url}: {text}");
    text
}

// ---------------------------------------------------------------------------------------------------------
// Assertions on response shapes.
// ---------------------------------------------------------------------------------------------------------

fn str_of<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {body}"))
}

fn assert_strings(body: &Value, keys: &[&str]) {
    for key in keys {
        assert!(
            body[*key].as_str().is_some_and(|v| !v.is_empty()),
            "{key} must be a non-empty string in {body}"
        );
    }
}

fn assert_absent(body: &Value, keys: &[&str]) {
    for key in keys {
        assert!(body.get(*key).is_none(), "{key} must be absent from {body}");
    }
}

/// CreateSheetResponse: the six CreateDocumentResponse keys plus `gridview_url`, URLs pointing at Sheet.
fn assert_create_sheet_response(app: &TestApp, body: &Value) {
    assert!(body.is_object(), "{body}");
    assert_strings(body, &CREATE_KEYS);
    assert_strings(body, &["gridview_url"]);
    let sid = str_of(body, "session_id");
    let doc = str_of(body, "document_id");
    assert_ne!(sid, doc);
    assert_eq!(
        str_of(body, "session_delete_url"),
        format!("{}/sheet/officeapi/v1/session/{sid}", app.base)
    );
    assert_eq!(
        str_of(body, "document_delete_url"),
        format!("{}/sheet/officeapi/v1/spreadsheet/{doc}", app.base)
    );
    for key in ["document_url", "save_url", "gridview_url"] {
        assert!(
            str_of(body, key).starts_with(&format!("{}/sheet/officeapi/v1/", app.base)),
            "{key}: {body}"
        );
    }
    assert_absent(body, &["preview_url", "code"]);
}

/// CreateDocumentResponse for Show and the PDF editor: six keys, and no `gridview_url` or `preview_url`.
fn assert_create_document_response(app: &TestApp, body: &Value, prefix: &str, doc_noun: &str) {
    assert!(body.is_object(), "{body}");
    assert_strings(body, &CREATE_KEYS);
    assert_absent(body, &["gridview_url", "preview_url", "code"]);
    let sid = str_of(body, "session_id");
    let doc = str_of(body, "document_id");
    assert_ne!(sid, doc);
    let session_noun = if prefix == "/pdfeditor" {
        "sessions"
    } else {
        "session"
    };
    assert_eq!(
        str_of(body, "session_delete_url"),
        format!("{}{prefix}/officeapi/v1/{session_noun}/{sid}", app.base)
    );
    assert_eq!(
        str_of(body, "document_delete_url"),
        format!("{}{prefix}/officeapi/v1/{doc_noun}/{doc}", app.base)
    );
    for key in ["document_url", "save_url"] {
        assert!(
            str_of(body, key).starts_with(&format!("{}{prefix}/officeapi/v1/", app.base)),
            "{key}: {body}"
        );
    }
}

/// SessionMeta: status, user_info object, info with string and numeric fields.
fn assert_session_meta(body: &Value, status: &str, document_id: &str, session_url: &str) {
    assert_eq!(body["status"], status, "{body}");
    assert!(body["user_info"].is_object(), "{body}");
    let info = &body["info"];
    assert_strings(
        info,
        &[
            "document_id",
            "created_time",
            "expires_on",
            "session_url",
            "session_delete_url",
        ],
    );
    assert_eq!(info["document_id"], document_id, "{body}");
    assert_eq!(info["session_url"], session_url, "{body}");
    assert!(str_of(info, "created_time").ends_with('Z'), "{body}");
    assert!(str_of(info, "expires_on").ends_with('Z'), "{body}");
    let created = info["created_time_ms"]
        .as_i64()
        .expect("created_time_ms is a number");
    let expires = info["expires_on_ms"]
        .as_i64()
        .expect("expires_on_ms is a number");
    assert_eq!(expires - created, SIX_HOURS_MS, "{body}");
}

fn doc_info(document_id: &str, name: &str) -> String {
    format!(r#"{{"document_id": "{document_id}", "document_name": "{name}"}}"#)
}

fn xlsx_form() -> Form {
    Form::new().part("document", buffer_part(blank(Format::Xlsx)))
}

// ---------------------------------------------------------------------------------------------------------
// Sheet
// ---------------------------------------------------------------------------------------------------------

const SHEET_CREATE: &str = "/sheet/officeapi/v1/spreadsheet";
const SHEET_PREVIEW: &str = "/sheet/officeapi/v1/spreadsheet/preview";

#[tokio::test]
async fn sheet_create_with_uploaded_xlsx_returns_create_sheet_response() {
    let app = common::spawn_app().await;
    // Node sends a Buffer (no filename), Python a file path (a filename, no Content-Type).
    for part in [
        buffer_part(blank(Format::Xlsx)),
        file_part(blank(Format::Xlsx), "budget.xlsx"),
    ] {
        let form = Form::new()
            .text("document_info", r#"{"document_name":"Budget"}"#)
            .text("user_info", r#"{"display_name":"Ann"}"#)
            .part("document", part);
        let created = post(&app, SHEET_CREATE, form).await;
        let body = created.assert_ok();
        assert_create_sheet_response(&app, body);
        let page = assert_page_ok(&app, str_of(body, "document_url")).await;
        assert!(page.contains("Budget"), "{page}");
        assert_page_ok(&app, str_of(body, "gridview_url")).await;
    }
}

#[tokio::test]
async fn sheet_create_with_csv_upload_is_accepted() {
    let app = common::spawn_app().await;
    let form = Form::new().part(
        "document",
        file_part(b"name,amount\nrent,1200\nfood,300\n".to_vec(), "data.csv"),
    );
    let created = post(&app, SHEET_CREATE, form).await;
    let body = created.assert_ok();
    assert_create_sheet_response(&app, body);
    assert_page_ok(&app, str_of(body, "document_url")).await;
}

#[tokio::test]
async fn sheet_empty_post_creates_a_blank_spreadsheet() {
    let app = common::spawn_app().await;
    let created = post_empty(&app, SHEET_CREATE).await;
    let body = created.assert_ok();
    assert_create_sheet_response(&app, body);
    assert_page_ok(&app, str_of(body, "document_url")).await;
}

#[tokio::test]
async fn sheet_coedit_with_same_document_id_joins_the_document() {
    let app = common::spawn_app().await;
    let first = post(
        &app,
        SHEET_CREATE,
        xlsx_form()
            .text("document_info", doc_info("sheet-42", "Ledger"))
            .text("user_info", r#"{"display_name":"Ann"}"#),
    )
    .await;
    let first = first.assert_ok().clone();
    assert_create_sheet_response(&app, &first);
    assert_eq!(first["document_id"], "sheet-42");

    // The co-editor sends only the document id and another user.
    let second = post(
        &app,
        SHEET_CREATE,
        Form::new()
            .text("document_info", r#"{"document_id":"sheet-42"}"#)
            .text("user_info", r#"{"display_name":"Bob"}"#),
    )
    .await;
    let second = second.assert_ok().clone();
    assert_create_sheet_response(&app, &second);
    assert_eq!(second["document_id"], "sheet-42");
    assert_ne!(second["session_id"], first["session_id"]);
    assert_ne!(second["document_url"], first["document_url"]);

    // Both sessions are live, on the same document, with their own users.
    for (created, user) in [(&first, "Ann"), (&second, "Bob")] {
        let sid = str_of(created, "session_id");
        let info = get(&app, &format!("/sheet/officeapi/v1/sessions/{sid}")).await;
        let info = info.assert_ok();
        assert_session_meta(
            info,
            "inactive",
            "sheet-42",
            str_of(created, "document_url"),
        );
        assert_eq!(info["user_info"]["display_name"], user, "{info}");
        // The joined document keeps its name.
        let page = assert_page_ok(&app, str_of(created, "document_url")).await;
        assert!(page.contains("Ledger"), "{page}");
    }
}

#[tokio::test]
async fn sheet_preview_returns_sheet_preview_response() {
    let app = common::spawn_app().await;
    let form = Form::new().part("document", file_part(blank(Format::Xlsx), "view.xlsx"));
    let preview = post(&app, SHEET_PREVIEW, form).await;
    let body = preview.assert_ok();
    assert_strings(body, &PREVIEW_KEYS);
    assert_strings(body, &["gridview_url"]);
    assert_absent(body, &["document_url", "save_url", "code"]);
    let sid = str_of(body, "session_id");
    assert_eq!(
        str_of(body, "session_delete_url"),
        format!("{}/sheet/officeapi/v1/session/{sid}", app.base)
    );
    let preview_url = str_of(body, "preview_url");
    assert!(preview_url.starts_with(&format!("{}/sheet/officeapi/v1/", app.base)));

    let info = get(&app, &format!("/sheet/officeapi/v1/sessions/{sid}")).await;
    assert_session_meta(
        info.assert_ok(),
        "inactive",
        str_of(body, "document_id"),
        preview_url,
    );
    assert_page_ok(&app, preview_url).await;
    assert_page_ok(&app, str_of(body, "gridview_url")).await;
}

#[tokio::test]
async fn sheet_preview_without_a_document_is_a_missing_parameter() {
    let app = common::spawn_app().await;
    let response = post_empty(&app, SHEET_PREVIEW).await;
    response.assert_error(2831);
    assert_eq!(response.body["parameter_name"], "document");
}

#[tokio::test]
async fn sheet_session_info_is_inactive_until_the_page_is_opened() {
    let app = common::spawn_app().await;
    let created = post(&app, SHEET_CREATE, xlsx_form()).await;
    let created = created.assert_ok().clone();
    let sid = str_of(&created, "session_id");
    let document_id = str_of(&created, "document_id");
    let document_url = str_of(&created, "document_url");
    let path = format!("/sheet/officeapi/v1/sessions/{sid}");

    let info = get(&app, &path).await;
    let info = info.assert_ok();
    assert_session_meta(info, "inactive", document_id, document_url);
    assert_eq!(
        info["info"]["session_delete_url"],
        format!("{}/sheet/officeapi/v1/session/{sid}", app.base)
    );

    let page = assert_page_ok(&app, document_url).await;
    assert!(page.to_ascii_lowercase().contains("<html"), "{page}");

    let info = get(&app, &path).await;
    assert_session_meta(info.assert_ok(), "active", document_id, document_url);
}

#[tokio::test]
async fn sheet_delete_session_answers_string_true_then_1833() {
    let app = common::spawn_app().await;
    let created = post(&app, SHEET_CREATE, xlsx_form()).await;
    let created = created.assert_ok().clone();
    let sid = str_of(&created, "session_id");
    let path = format!("/sheet/officeapi/v1/session/{sid}");

    let deleted = delete(&app, &path).await;
    let body = deleted.assert_ok();
    assert_eq!(body, &serde_json::json!({"session_delete": "true"}));
    assert!(body["session_delete"].is_string(), "must be a JSON string");

    delete(&app, &path).await.assert_error(1833);
    get(&app, &format!("/sheet/officeapi/v1/sessions/{sid}"))
        .await
        .assert_error(1833);
    let (status, _) = open_page(&app, str_of(&created, "document_url")).await;
    assert_ne!(status, 200, "a deleted session page must not open");
    // Deleting a session leaves the document in place.
    delete(
        &app,
        &format!(
            "/sheet/officeapi/v1/spreadsheet/{}",
            str_of(&created, "document_id")
        ),
    )
    .await
    .assert_ok();
}

#[tokio::test]
async fn sheet_delete_via_the_returned_urls() {
    let app = common::spawn_app().await;
    let created = post(&app, SHEET_CREATE, xlsx_form()).await;
    let created = created.assert_ok().clone();
    let session_delete = delete_url(&app, str_of(&created, "session_delete_url")).await;
    assert_eq!(
        session_delete.assert_ok(),
        &serde_json::json!({"session_delete": "true"})
    );
    let doc_delete = delete_url(&app, str_of(&created, "document_delete_url")).await;
    assert_eq!(
        doc_delete.assert_ok(),
        &serde_json::json!({"doc_delete": "true"})
    );
}

#[tokio::test]
async fn sheet_delete_document_answers_string_true_then_1844() {
    let app = common::spawn_app().await;
    let created = post(
        &app,
        SHEET_CREATE,
        xlsx_form().text("document_info", doc_info("sheet-del", "Gone")),
    )
    .await;
    let created = created.assert_ok().clone();
    let sid = str_of(&created, "session_id");
    let path = "/sheet/officeapi/v1/spreadsheet/sheet-del";

    let deleted = delete(&app, path).await;
    let body = deleted.assert_ok();
    assert_eq!(body, &serde_json::json!({"doc_delete": "true"}));
    assert!(body["doc_delete"].is_string(), "must be a JSON string");

    delete(&app, path).await.assert_error(1844);
    // The document's sessions went with it.
    get(&app, &format!("/sheet/officeapi/v1/sessions/{sid}"))
        .await
        .assert_error(1833);
    delete(&app, &format!("/sheet/officeapi/v1/session/{sid}"))
        .await
        .assert_error(1833);
    // The same document id now opens a new document, not the deleted one.
    let again = post(
        &app,
        SHEET_CREATE,
        Form::new().text("document_info", r#"{"document_id":"sheet-del"}"#),
    )
    .await;
    let again = again.assert_ok();
    assert_eq!(again["document_id"], "sheet-del");
    let page = assert_page_ok(&app, str_of(again, "document_url")).await;
    assert!(!page.contains("Gone"), "{page}");
}

#[tokio::test]
async fn sheet_rejects_a_bad_api_key_with_2890() {
    let app = common::spawn_app().await;
    let created = post(&app, SHEET_CREATE, xlsx_form()).await;
    let created = created.assert_ok().clone();
    let sid = str_of(&created, "session_id");
    let doc = str_of(&created, "document_id");
    let bad = "0123456789abcdef0123456789abcdef";

    let response = post_with_key(&app, SHEET_CREATE, xlsx_form(), bad).await;
    response.assert_error(2890);
    assert_eq!(response.body["parameter_name"], "apikey");
    post_with_key(&app, SHEET_PREVIEW, xlsx_form(), bad)
        .await
        .assert_error(2890);
    get_with_key(&app, &format!("/sheet/officeapi/v1/sessions/{sid}"), bad)
        .await
        .assert_error(2890);
    delete_with_key(&app, &format!("/sheet/officeapi/v1/session/{sid}"), bad)
        .await
        .assert_error(2890);
    delete_with_key(&app, &format!("/sheet/officeapi/v1/spreadsheet/{doc}"), bad)
        .await
        .assert_error(2890);
    // Nothing was deleted by the rejected calls.
    get(&app, &format!("/sheet/officeapi/v1/sessions/{sid}"))
        .await
        .assert_ok();
}

#[tokio::test]
async fn sheet_rejects_an_invalid_json_part_with_2832() {
    let app = common::spawn_app().await;
    let form = xlsx_form().text("document_info", r#"{"document_name": "Budget""#);
    let response = post(&app, SHEET_CREATE, form).await;
    response.assert_error(2832);
    assert_eq!(response.body["parameter_name"], "document_info");
}

#[tokio::test]
async fn sheet_rejects_a_docx_upload_with_2842() {
    let app = common::spawn_app().await;
    for part in [
        file_part(blank(Format::Docx), "letter.docx"),
        buffer_part(blank(Format::Docx)),
        // A misleading filename changes nothing: the bytes decide.
        file_part(blank(Format::Docx), "letter.xlsx"),
    ] {
        let response = post(&app, SHEET_CREATE, Form::new().part("document", part)).await;
        response.assert_error(2842);
        assert_eq!(response.body["parameter_name"], "document");
    }
}

#[tokio::test]
async fn sheet_has_no_document_info_route() {
    let app = common::spawn_app().await;
    let created = post(
        &app,
        SHEET_CREATE,
        xlsx_form().text("document_info", doc_info("sheet-info", "Info")),
    )
    .await;
    created.assert_ok();
    let response = get(&app, "/sheet/officeapi/v1/spreadsheet/sheet-info").await;
    assert_ne!(response.status, 200, "{:?}", response.body);
    assert!(
        !(300..400).contains(&response.status),
        "never redirect: {}",
        response.status
    );
}

// ---------------------------------------------------------------------------------------------------------
// Show
// ---------------------------------------------------------------------------------------------------------

const SHOW_CREATE: &str = "/show/officeapi/v1/presentation";
const SHOW_PREVIEW: &str = "/show/officeapi/v1/presentation/preview";

fn pptx_form() -> Form {
    Form::new().part("document", file_part(blank(Format::Pptx), "deck.pptx"))
}

#[tokio::test]
async fn show_create_with_uploaded_pptx_returns_create_document_response() {
    let app = common::spawn_app().await;
    for part in [
        file_part(blank(Format::Pptx), "deck.pptx"),
        buffer_part(blank(Format::Pptx)),
    ] {
        let form = Form::new()
            .text("document_info", r#"{"document_name":"Pitch"}"#)
            .text("user_info", r#"{"user_id":"7","display_name":"Ann"}"#)
            .part("document", part);
        let created = post(&app, SHOW_CREATE, form).await;
        let body = created.assert_ok();
        assert_create_document_response(&app, body, "/show", "presentation");
        let page = assert_page_ok(&app, str_of(body, "document_url")).await;
        assert!(page.contains("Pitch"), "{page}");
    }
}

#[tokio::test]
async fn show_empty_post_creates_a_blank_presentation() {
    let app = common::spawn_app().await;
    let created = post_empty(&app, SHOW_CREATE).await;
    let body = created.assert_ok();
    assert_create_document_response(&app, body, "/show", "presentation");
    assert_page_ok(&app, str_of(body, "document_url")).await;
}

#[tokio::test]
async fn show_coedit_with_same_document_id_joins_the_document() {
    let app = common::spawn_app().await;
    let first = post(
        &app,
        SHOW_CREATE,
        pptx_form().text("document_info", doc_info("deck-1", "Deck")),
    )
    .await;
    let first = first.assert_ok().clone();
    let second = post(
        &app,
        SHOW_CREATE,
        Form::new().text("document_info", r#"{"document_id":"deck-1"}"#),
    )
    .await;
    let second = second.assert_ok().clone();
    assert_eq!(first["document_id"], "deck-1");
    assert_eq!(second["document_id"], "deck-1");
    assert_ne!(first["session_id"], second["session_id"]);
}

#[tokio::test]
async fn show_preview_returns_preview_response() {
    let app = common::spawn_app().await;
    let preview = post(&app, SHOW_PREVIEW, pptx_form()).await;
    let body = preview.assert_ok();
    assert_strings(body, &PREVIEW_KEYS);
    assert_absent(body, &["document_url", "save_url", "gridview_url", "code"]);
    let sid = str_of(body, "session_id");
    assert_eq!(
        str_of(body, "session_delete_url"),
        format!("{}/show/officeapi/v1/session/{sid}", app.base)
    );
    let preview_url = str_of(body, "preview_url");
    let info = get(&app, &format!("/show/officeapi/v1/sessions/{sid}")).await;
    assert_session_meta(
        info.assert_ok(),
        "inactive",
        str_of(body, "document_id"),
        preview_url,
    );
    assert_page_ok(&app, preview_url).await;
}

#[tokio::test]
async fn show_session_info_then_deletes_answer_string_true() {
    let app = common::spawn_app().await;
    let created = post(&app, SHOW_CREATE, pptx_form()).await;
    let created = created.assert_ok().clone();
    let sid = str_of(&created, "session_id");
    let doc = str_of(&created, "document_id");
    let document_url = str_of(&created, "document_url");
    let info_path = format!("/show/officeapi/v1/sessions/{sid}");

    let info = get(&app, &info_path).await;
    let info = info.assert_ok();
    assert_session_meta(info, "inactive", doc, document_url);
    assert_eq!(
        info["info"]["session_delete_url"],
        format!("{}/show/officeapi/v1/session/{sid}", app.base)
    );
    assert_page_ok(&app, document_url).await;
    let info = get(&app, &info_path).await;
    assert_session_meta(info.assert_ok(), "active", doc, document_url);

    let session_path = format!("/show/officeapi/v1/session/{sid}");
    let deleted = delete(&app, &session_path).await;
    let body = deleted.assert_ok();
    assert_eq!(body, &serde_json::json!({"session_delete": "true"}));
    assert!(body["session_delete"].is_string());
    delete(&app, &session_path).await.assert_error(1833);
    get(&app, &info_path).await.assert_error(1833);

    let doc_path = format!("/show/officeapi/v1/presentation/{doc}");
    let deleted = delete(&app, &doc_path).await;
    let body = deleted.assert_ok();
    assert_eq!(body, &serde_json::json!({"doc_delete": "true"}));
    assert!(body["doc_delete"].is_string());
    delete(&app, &doc_path).await.assert_error(1844);
}

#[tokio::test]
async fn show_rejects_a_bad_api_key_with_3890() {
    let app = common::spawn_app().await;
    let bad = "ffffffffffffffffffffffffffffffff";
    let response = post_with_key(&app, SHOW_CREATE, pptx_form(), bad).await;
    response.assert_error(3890);
    post_with_key(&app, SHOW_PREVIEW, pptx_form(), bad)
        .await
        .assert_error(3890);
    get_with_key(&app, "/show/officeapi/v1/sessions/abc", bad)
        .await
        .assert_error(3890);
    delete_with_key(&app, "/show/officeapi/v1/session/abc", bad)
        .await
        .assert_error(3890);
    delete_with_key(&app, "/show/officeapi/v1/presentation/abc", bad)
        .await
        .assert_error(3890);
}

#[tokio::test]
async fn show_rejects_a_pdf_upload_with_3845() {
    let app = common::spawn_app().await;
    for part in [
        file_part(blank(Format::Pdf), "scan.pdf"),
        buffer_part(blank(Format::Pdf)),
    ] {
        let response = post(&app, SHOW_CREATE, Form::new().part("document", part)).await;
        response.assert_error(3845);
        assert_eq!(response.body["parameter_name"], "document");
    }
}

#[tokio::test]
async fn show_rejects_an_invalid_json_part_with_3908() {
    let app = common::spawn_app().await;
    let form = pptx_form().text("user_info", "{user_id: 7}");
    let response = post(&app, SHOW_CREATE, form).await;
    response.assert_error(3908);
    assert_eq!(response.body["parameter_name"], "user_info");
}

// ---------------------------------------------------------------------------------------------------------
// PDF editor
// ---------------------------------------------------------------------------------------------------------

const PDF_CREATE: &str = "/pdfeditor/officeapi/v1/pdf";

fn pdf_form() -> Form {
    Form::new().part("document", file_part(blank(Format::Pdf), "form.pdf"))
}

#[tokio::test]
async fn pdf_create_with_upload_and_empty_post_return_create_document_response() {
    let app = common::spawn_app().await;
    let uploaded = post(&app, PDF_CREATE, pdf_form()).await;
    let body = uploaded.assert_ok();
    assert_create_document_response(&app, body, "/pdfeditor", "pdf");
    assert_page_ok(&app, str_of(body, "document_url")).await;

    let buffered = post(
        &app,
        PDF_CREATE,
        Form::new().part("document", buffer_part(blank(Format::Pdf))),
    )
    .await;
    assert_create_document_response(&app, buffered.assert_ok(), "/pdfeditor", "pdf");

    let empty = post_empty(&app, PDF_CREATE).await;
    let body = empty.assert_ok();
    assert_create_document_response(&app, body, "/pdfeditor", "pdf");
    assert_page_ok(&app, str_of(body, "document_url")).await;
}

#[tokio::test]
async fn pdf_session_and_document_info_then_boolean_deletes() {
    let app = common::spawn_app().await;
    let created = post(
        &app,
        PDF_CREATE,
        pdf_form()
            .text("document_info", doc_info("pdf-1", "Contract"))
            .text("user_info", r#"{"user_id":"1000","display_name":"Amelia"}"#),
    )
    .await;
    let created = created.assert_ok().clone();
    assert_eq!(created["document_id"], "pdf-1");
    let sid = str_of(&created, "session_id");
    let document_url = str_of(&created, "document_url");

    let info_path = format!("/pdfeditor/officeapi/v1/sessions/{sid}");
    let info = get(&app, &info_path).await;
    let info = info.assert_ok();
    assert_session_meta(info, "inactive", "pdf-1", document_url);
    assert_eq!(info["user_info"]["user_id"], "1000");
    assert_eq!(info["user_info"]["display_name"], "Amelia");
    assert_eq!(
        info["info"]["session_delete_url"],
        format!("{}/pdfeditor/officeapi/v1/sessions/{sid}", app.base)
    );

    let meta = get(&app, "/pdfeditor/officeapi/v1/pdf/pdf-1").await;
    let meta = meta.assert_ok();
    assert_strings(
        meta,
        &[
            "document_id",
            "document_name",
            "document_type",
            "created_time",
            "expires_on",
        ],
    );
    assert_eq!(meta["document_id"], "pdf-1");
    assert_eq!(meta["document_name"], "Contract");
    assert_eq!(meta["document_type"], "native");
    assert_eq!(meta["active_sessions_count"].as_u64(), Some(1), "{meta}");
    assert_eq!(meta["collaborators_count"].as_u64(), Some(1), "{meta}");
    let created_ms = meta["created_time_ms"].as_i64().expect("number");
    let expires_ms = meta["expires_on_ms"].as_i64().expect("number");
    assert_eq!(expires_ms - created_ms, SIX_HOURS_MS);
    assert_absent(meta, &["sessions", "code"]);

    let deleted = delete(&app, &info_path).await;
    assert_eq!(
        deleted.assert_ok(),
        &serde_json::json!({"session_deleted": true})
    );
    delete(&app, &info_path).await.assert_error(1833);
    get(&app, &info_path).await.assert_error(1833);
    let meta = get(&app, "/pdfeditor/officeapi/v1/pdf/pdf-1").await;
    assert_eq!(meta.assert_ok()["active_sessions_count"].as_u64(), Some(0));

    let deleted = delete(&app, "/pdfeditor/officeapi/v1/pdf/pdf-1").await;
    assert_eq!(
        deleted.assert_ok(),
        &serde_json::json!({"document_deleted": true})
    );
    delete(&app, "/pdfeditor/officeapi/v1/pdf/pdf-1")
        .await
        .assert_error(1844);
    get(&app, "/pdfeditor/officeapi/v1/pdf/pdf-1")
        .await
        .assert_error(1844);
}

#[tokio::test]
async fn pdf_delete_via_the_returned_urls() {
    let app = common::spawn_app().await;
    let created = post(&app, PDF_CREATE, pdf_form()).await;
    let created = created.assert_ok().clone();
    let deleted = delete_url(&app, str_of(&created, "session_delete_url")).await;
    assert_eq!(
        deleted.assert_ok(),
        &serde_json::json!({"session_deleted": true})
    );
    let deleted = delete_url(&app, str_of(&created, "document_delete_url")).await;
    assert_eq!(
        deleted.assert_ok(),
        &serde_json::json!({"document_deleted": true})
    );
}

#[tokio::test]
async fn pdf_rejects_a_bad_api_key_with_1846() {
    let app = common::spawn_app().await;
    let bad = "00000000000000000000000000000000";
    post_with_key(&app, PDF_CREATE, pdf_form(), bad)
        .await
        .assert_error(1846);
    get_with_key(&app, "/pdfeditor/officeapi/v1/sessions/abc", bad)
        .await
        .assert_error(1846);
    get_with_key(&app, "/pdfeditor/officeapi/v1/pdf/abc", bad)
        .await
        .assert_error(1846);
    delete_with_key(&app, "/pdfeditor/officeapi/v1/sessions/abc", bad)
        .await
        .assert_error(1846);
    delete_with_key(&app, "/pdfeditor/officeapi/v1/pdf/abc", bad)
        .await
        .assert_error(1846);
}

#[tokio::test]
async fn pdf_rejects_a_docx_upload_with_1852() {
    let app = common::spawn_app().await;
    for part in [
        file_part(blank(Format::Docx), "letter.docx"),
        buffer_part(blank(Format::Docx)),
        file_part(blank(Format::Docx), "letter.pdf"),
    ] {
        let response = post(&app, PDF_CREATE, Form::new().part("document", part)).await;
        response.assert_error(1852);
        assert_eq!(response.body["parameter_name"], "document");
    }
}

// ---------------------------------------------------------------------------------------------------------
// Across editors
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_writer_session_is_unknown_to_the_other_editors() {
    let app = common::spawn_app().await;
    let writer = app.writer_create("w-1", "1000").await;
    let sid = str_of(&writer, "session_id");
    get(&app, &format!("/sheet/officeapi/v1/sessions/{sid}"))
        .await
        .assert_error(1833);
    get(&app, &format!("/show/officeapi/v1/sessions/{sid}"))
        .await
        .assert_error(1833);
    get(&app, &format!("/pdfeditor/officeapi/v1/sessions/{sid}"))
        .await
        .assert_error(1833);
    delete(&app, &format!("/sheet/officeapi/v1/session/{sid}"))
        .await
        .assert_error(1833);
    // Still alive in Writer.
    let info = get(&app, &format!("/writer/officeapi/v1/sessions/{sid}")).await;
    assert_eq!(info.assert_ok()["info"]["document_id"], "w-1");
}

#[tokio::test]
async fn a_sheet_document_cannot_be_deleted_through_writer() {
    let app = common::spawn_app().await;
    let created = post(
        &app,
        SHEET_CREATE,
        xlsx_form().text("document_info", doc_info("sheet-x", "Cross")),
    )
    .await;
    let created = created.assert_ok().clone();
    delete(&app, "/writer/officeapi/v1/documents/sheet-x")
        .await
        .assert_error(1844);
    get(&app, "/writer/officeapi/v1/documents/sheet-x")
        .await
        .assert_error(1844);
    delete(&app, "/show/officeapi/v1/presentation/sheet-x")
        .await
        .assert_error(1844);
    // Untouched: the session and the document are still there in Sheet.
    let sid = str_of(&created, "session_id");
    get(&app, &format!("/sheet/officeapi/v1/sessions/{sid}"))
        .await
        .assert_ok();
    let deleted = delete(&app, "/sheet/officeapi/v1/spreadsheet/sheet-x").await;
    assert_eq!(
        deleted.assert_ok(),
        &serde_json::json!({"doc_delete": "true"})
    );
}

#[tokio::test]
async fn the_same_client_document_id_in_writer_and_sheet_is_two_documents() {
    let app = common::spawn_app().await;
    let writer = app.writer_create("shared-1", "1000").await;
    let sheet = post(
        &app,
        SHEET_CREATE,
        xlsx_form()
            .text("document_info", doc_info("shared-1", "Sheet shared-1"))
            .text("user_info", r#"{"display_name":"Ann"}"#),
    )
    .await;
    let sheet = sheet.assert_ok().clone();
    assert_create_sheet_response(&app, &sheet);
    assert_eq!(writer["document_id"], "shared-1");
    assert_eq!(sheet["document_id"], "shared-1");
    assert_ne!(writer["session_id"], sheet["session_id"]);

    // Each editor shows its own document, not the other one joined.
    let writer_page = assert_page_ok(&app, str_of(&writer, "document_url")).await;
    assert!(writer_page.contains("Doc shared-1"), "{writer_page}");
    let sheet_page = assert_page_ok(&app, str_of(&sheet, "document_url")).await;
    assert!(sheet_page.contains("Sheet shared-1"), "{sheet_page}");
    assert!(!sheet_page.contains("Doc shared-1"), "{sheet_page}");

    // Writer counts only its own session.
    let meta = get(&app, "/writer/officeapi/v1/documents/shared-1").await;
    let meta = meta.assert_ok();
    assert_eq!(meta["active_sessions_count"].as_u64(), Some(1), "{meta}");
    assert_eq!(meta["document_name"], "Doc shared-1");

    // Deleting the Writer document leaves the Sheet one alive.
    let deleted = delete(&app, "/writer/officeapi/v1/documents/shared-1").await;
    assert_eq!(
        deleted.assert_ok(),
        &serde_json::json!({"document_deleted": true})
    );
    let sid = str_of(&sheet, "session_id");
    let info = get(&app, &format!("/sheet/officeapi/v1/sessions/{sid}")).await;
    assert_eq!(info.assert_ok()["info"]["document_id"], "shared-1");
    let deleted = delete(&app, "/sheet/officeapi/v1/spreadsheet/shared-1").await;
    assert_eq!(
        deleted.assert_ok(),
        &serde_json::json!({"doc_delete": "true"})
    );
}

// ---------------------------------------------------------------------------------------------------------
// Blank documents and apostrophes
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn an_empty_post_on_every_editor_opens_a_working_session_page() {
    let app = common::spawn_app().await;
    for path in [
        "/writer/officeapi/v1/documents",
        SHEET_CREATE,
        SHOW_CREATE,
        PDF_CREATE,
    ] {
        let created = post_empty(&app, path).await;
        let body = created.assert_ok();
        assert_strings(body, &CREATE_KEYS);
        let url = str_of(body, "document_url");
        assert!(url.starts_with(&app.base), "{url}");
        let (status, page) = open_page(&app, url).await;
        assert_eq!(status, 200, "{path}: {page}");
    }
}

#[test]
fn the_blank_xlsx_opens_with_calamine_and_has_a_sheet() {
    use calamine::{open_workbook_from_rs, Reader, Xlsx};
    let bytes = blank(Format::Xlsx);
    let mut workbook: Xlsx<_> = open_workbook_from_rs(Cursor::new(bytes)).expect("a valid xlsx");
    let names = workbook.sheet_names();
    assert!(!names.is_empty(), "the blank workbook has no sheet");
    workbook
        .worksheet_range(&names[0])
        .expect("the first sheet reads");
}

#[tokio::test]
async fn apostrophes_in_names_never_reach_a_response_body() {
    let app = common::spawn_app().await;
    // `send` fails on any apostrophe in any body; these inputs carry one into every echoed field.
    let sheet = post(
        &app,
        SHEET_CREATE,
        xlsx_form()
            .text(
                "document_info",
                r#"{"document_id":"q-1","document_name":"Bob's sheet"}"#,
            )
            .text("user_info", r#"{"display_name":"O'Brien"}"#),
    )
    .await;
    let sheet = sheet.assert_ok().clone();
    let sid = str_of(&sheet, "session_id");
    let info = get(&app, &format!("/sheet/officeapi/v1/sessions/{sid}")).await;
    let info = info.assert_ok();
    assert_eq!(info["user_info"]["display_name"], "O\u{2019}Brien");
    assert_page_ok(&app, str_of(&sheet, "document_url")).await;

    let pdf = post(
        &app,
        PDF_CREATE,
        pdf_form()
            .text(
                "document_info",
                r#"{"document_id":"q-2","document_name":"Ann's form"}"#,
            )
            .text("user_info", r#"{"user_id":"it's","display_name":"D'Arcy"}"#),
    )
    .await;
    let pdf = pdf.assert_ok().clone();
    let meta = get(&app, "/pdfeditor/officeapi/v1/pdf/q-2").await;
    assert_eq!(meta.assert_ok()["document_name"], "Ann\u{2019}s form");
    let sid = str_of(&pdf, "session_id");
    get(&app, &format!("/pdfeditor/officeapi/v1/sessions/{sid}"))
        .await
        .assert_ok();
    assert_page_ok(&app, str_of(&pdf, "document_url")).await;

    let show = post(
        &app,
        SHOW_CREATE,
        pptx_form().text("document_info", r#"{"document_name":"Team's deck"}"#),
    )
    .await;
    assert_page_ok(&app, str_of(show.assert_ok(), "document_url")).await;

    // Error bodies too.
    post(
        &app,
        SHOW_CREATE,
        Form::new().part("document", file_part(blank(Format::Pdf), "it's.pdf")),
    )
    .await
    .assert_error(3845);
}

#[tokio::test]
async fn sheet_accepts_a_csv_upload_without_a_filename() {
    let app = common::spawn_app().await;
    let csv = b"name,amount\nrent,1200\nfood,300\n".to_vec();
    // Node: no filename, application/octet-stream. Python BytesIO: the field name as filename.
    for part in [buffer_part(csv.clone()), file_part(csv, "document")] {
        let created = post(&app, SHEET_CREATE, Form::new().part("document", part)).await;
        let body = created.assert_ok();
        assert_create_sheet_response(&app, body);
        assert_page_ok(&app, str_of(body, "document_url")).await;
    }
}
