//! The save round-trip: a host's POST to our `save_url` and the page's Save both send the stored document to
//! `callback_settings.save_url`, received here by a real HTTP listener.

mod common;
mod host;

use std::time::Duration;

use common::{blank, file_part, read, Response, TestApp};
use docsession::domain::Format;
use host::{Host, Reply};
use reqwest::multipart::Form;
use serde_json::{json, Value};

const WRITER_CREATE: &str = "/writer/officeapi/v1/documents";

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} missing in {value}"))
}

/// A Writer session on the text "hello" named "Notes", saving to `callback` (no callback when `Null`).
async fn writer_session(app: &TestApp, document_id: &str, callback: Value) -> Value {
    let mut form = Form::new()
        .text(
            "document_info",
            json!({"document_id": document_id, "document_name": "Notes"}).to_string(),
        )
        .text(
            "user_info",
            json!({"user_id": "1000", "display_name": "Ann"}).to_string(),
        )
        .part("document", file_part(b"hello".to_vec(), "notes.txt"));
    if !callback.is_null() {
        form = form.text("callback_settings", callback.to_string());
    }
    app.post_form(WRITER_CREATE, form).await.assert_ok().clone()
}

/// The host's save trigger, as a host calls it: POST with `?apikey=`.
async fn host_save(app: &TestApp, save_url: &str, key: &str) -> Response {
    read(
        app.client
            .post(format!("{save_url}?apikey={key}&"))
            .send()
            .await
            .expect("request"),
    )
    .await
}

fn page_api(app: &TestApp, sid: &str, endpoint: &str) -> String {
    format!("{}/page/v1/sessions/{sid}/{endpoint}", app.base)
}

async fn page_edit(app: &TestApp, sid: &str, version: i64, text: &str) -> Response {
    read(
        app.client
            .put(format!(
                "{}?version={version}",
                page_api(app, sid, "content")
            ))
            .body(text.to_string())
            .send()
            .await
            .expect("request"),
    )
    .await
}

async fn page_save(app: &TestApp, sid: &str) -> Response {
    read(
        app.client
            .post(page_api(app, sid, "save"))
            .send()
            .await
            .expect("request"),
    )
    .await
}

async fn total_usage(app: &TestApp) -> i64 {
    app.get("/api/v1/plan").await.assert_ok()["total_usage"]
        .as_i64()
        .expect("total_usage")
}

#[tokio::test]
async fn a_host_save_sends_the_file_fields_and_headers_and_costs_nothing() {
    let app = common::spawn_app().await;
    let host = Host::always(200).await;
    let created = writer_session(
        &app,
        "fields",
        json!({
            "save_url": host.url, "save_format": "txt", "retries": 1, "timeout": 5000,
            "save_url_params": {"id": 123, "ext": "$format", "name": "$filename", "sid": "$session_id", "note": "a $b"},
            "save_url_headers": {"x-token": "secret-1", "header2": "value2"}
        }),
    )
    .await;
    let sid = str_of(&created, "session_id");
    let save_url = str_of(&created, "save_url");
    assert_eq!(
        save_url,
        format!("{}/writer/officeapi/v1/documents/{sid}/save", app.base)
    );
    let usage = total_usage(&app).await;

    let saved = host_save(&app, save_url, &app.key).await;
    let body = saved.assert_ok();
    assert_eq!(body["saved"], true);
    assert_eq!(body["session_id"], sid);
    assert_eq!(body["document_id"], "fields");
    assert_eq!(body["format"], "txt");
    assert!(body.get("note").is_none(), "{body}");

    let requests = host.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "POST");
    assert!(request.headers["content-type"].starts_with("multipart/form-data"));
    assert_eq!(request.headers["x-token"], "secret-1");
    assert_eq!(request.headers["header2"], "value2");
    assert_eq!(request.fields["id"], "123");
    assert_eq!(request.fields["ext"], "txt");
    assert_eq!(request.fields["name"], "Notes");
    assert_eq!(request.fields["sid"], sid);
    assert_eq!(request.fields["note"], "a $b");
    let file = request.content();
    assert_eq!(file.filename.as_deref(), Some("Notes.txt"));
    assert_eq!(file.content_type.as_deref(), Some("text/plain"));
    assert_eq!(file.bytes, b"hello");

    let page_saved = page_save(&app, sid).await;
    assert_eq!(page_saved.assert_ok()["saved"], true);
    host.wait_for(2).await;
    assert_eq!(
        total_usage(&app).await,
        usage,
        "a save must not count as an API call"
    );
}

#[tokio::test]
async fn put_is_used_when_the_settings_ask_for_it() {
    let app = common::spawn_app().await;
    let host = Host::always(204).await;
    let created = writer_session(
        &app,
        "put",
        json!({"save_url": host.url, "http_method_type": "put"}),
    )
    .await;
    host_save(&app, str_of(&created, "save_url"), &app.key)
        .await
        .assert_ok();
    let requests = host.requests();
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].method, "PUT");
    assert_eq!(requests[0].content().bytes, b"hello");
}

#[tokio::test]
async fn a_500_is_retried_and_the_second_try_saves() {
    let app = common::spawn_app().await;
    let host = Host::start(vec![Reply::Status(500)], Reply::Status(200)).await;
    let created = writer_session(&app, "retry", json!({"save_url": host.url, "retries": 2})).await;
    host_save(&app, str_of(&created, "save_url"), &app.key)
        .await
        .assert_ok();
    let requests = host.requests();
    assert_eq!(requests.len(), 2, "one failure, one success");
    assert_eq!(requests[1].content().bytes, b"hello");
}

#[tokio::test]
async fn a_host_that_keeps_failing_gets_exactly_retries_plus_one_attempts() {
    let app = common::spawn_app().await;
    let host = Host::always(503).await;
    let created = writer_session(&app, "storm", json!({"save_url": host.url, "retries": 2})).await;
    host_save(&app, str_of(&created, "save_url"), &app.key)
        .await
        .assert_error(1866);
    // The save answered only after its last attempt; nothing may follow it.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(host.requests().len(), 3);
}

#[tokio::test]
async fn a_refusal_is_not_retried() {
    let app = common::spawn_app().await;
    let host = Host::always(403).await;
    let created =
        writer_session(&app, "refused", json!({"save_url": host.url, "retries": 3})).await;
    let failed = host_save(&app, str_of(&created, "save_url"), &app.key).await;
    let body = failed.assert_error(1866);
    assert_eq!(body["parameter_name"], "callback_settings");
    assert_eq!(body["key_name"], "save_url");
    assert_eq!(host.requests().len(), 1);
}

#[tokio::test]
async fn a_host_slower_than_the_timeout_is_1867_after_its_retries() {
    let app = common::spawn_app().await;
    let host = Host::start(Vec::new(), Reply::Slow(Duration::from_secs(5), 200)).await;
    let created = writer_session(
        &app,
        "slow",
        json!({"save_url": host.url, "timeout": 300, "retries": 1}),
    )
    .await;
    host_save(&app, str_of(&created, "save_url"), &app.key)
        .await
        .assert_error(1867);
    assert_eq!(host.requests().len(), 2);
}

#[tokio::test]
async fn an_unreachable_host_is_1867() {
    let app = common::spawn_app().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/save", closed.local_addr().unwrap());
    drop(closed);
    let created = writer_session(&app, "gone", json!({"save_url": url})).await;
    host_save(&app, str_of(&created, "save_url"), &app.key)
        .await
        .assert_error(1867);
}

#[tokio::test]
async fn without_a_save_url_every_editor_answers_1865() {
    let app = common::spawn_app().await;
    for path in [
        WRITER_CREATE,
        "/sheet/officeapi/v1/spreadsheet",
        "/show/officeapi/v1/presentation",
        "/pdfeditor/officeapi/v1/pdf",
    ] {
        let created = app.post_empty(path).await;
        let save_url = str_of(created.assert_ok(), "save_url").to_string();
        let failed = host_save(&app, &save_url, &app.key).await;
        assert_eq!(failed.assert_error(1865)["key_name"], "save_url", "{path}");
    }
}

#[tokio::test]
async fn sheet_show_and_pdf_saves_reach_the_host_in_their_own_format() {
    let app = common::spawn_app().await;
    let host = Host::always(200).await;
    let callback =
        json!({"save_url": host.url, "save_url_params": {"format": "$format"}}).to_string();
    let cases = [
        (
            "/sheet/officeapi/v1/spreadsheet",
            Format::Xlsx,
            "/sheet/officeapi/v1/spreadsheet/",
        ),
        (
            "/show/officeapi/v1/presentation",
            Format::Pptx,
            "/show/officeapi/v1/presentation/",
        ),
        (
            "/pdfeditor/officeapi/v1/pdf",
            Format::Pdf,
            "/pdfeditor/officeapi/v1/pdf/",
        ),
    ];
    for (index, (path, format, save_path)) in cases.into_iter().enumerate() {
        let form = Form::new()
            .text(
                "document_info",
                json!({"document_name": "Deck"}).to_string(),
            )
            .text("callback_settings", callback.clone())
            .part(
                "document",
                file_part(blank(format), &format!("deck.{}", format.extension())),
            );
        let created = app.post_form(path, form).await;
        let created = created.assert_ok();
        let save_url = str_of(created, "save_url");
        assert!(save_url.contains(save_path), "{save_url}");
        host_save(&app, save_url, &app.key).await.assert_ok();
        let request = &host.wait_for(index + 1).await[index];
        assert_eq!(request.fields["format"], format.extension());
        let file = request.content();
        assert_eq!(
            file.filename.as_deref(),
            Some(format!("Deck.{}", format.extension()).as_str())
        );
        assert_eq!(file.content_type.as_deref(), Some(format.mime()));
        assert_eq!(file.bytes, blank(format));
    }
}

#[tokio::test]
async fn the_save_url_takes_only_the_sessions_own_key_and_session_id() {
    let app = common::spawn_app().await;
    let host = Host::always(200).await;
    let created = writer_session(&app, "owned", json!({"save_url": host.url})).await;
    let save_url = str_of(&created, "save_url");
    let sid = str_of(&created, "session_id");

    let no_key = read(app.client.post(save_url).send().await.unwrap()).await;
    no_key.assert_error(1846);
    let other = app.create_key("other", None).await;
    host_save(&app, save_url, &other).await.assert_error(1833);
    // The document id is no session id.
    let by_document = save_url.replace(sid, "owned");
    host_save(&app, &by_document, &app.key)
        .await
        .assert_error(1833);
    // Another editor's save path does not reach a Writer session.
    let as_sheet = format!("{}/sheet/officeapi/v1/spreadsheet/{sid}/save", app.base);
    host_save(&app, &as_sheet, &app.key)
        .await
        .assert_error(1833);
    // The apikey may also come as a form field.
    let form_key = read(
        app.client
            .post(save_url)
            .multipart(Form::new().text("apikey", app.key.clone()))
            .send()
            .await
            .unwrap(),
    )
    .await;
    form_key.assert_ok();
    assert!(host.requests().len() == 1);

    app.delete(&format!("/writer/officeapi/v1/sessions/{sid}"))
        .await
        .assert_ok();
    host_save(&app, save_url, &app.key).await.assert_error(1833);
}

#[tokio::test]
async fn a_failed_save_keeps_the_edit_and_the_page_says_so() {
    let app = common::spawn_app().await;
    let host = Host::always(500).await;
    let created = writer_session(&app, "kept", json!({"save_url": host.url})).await;
    let sid = str_of(&created, "session_id");

    let edited = page_edit(&app, sid, 1, "edited text").await;
    assert_eq!(edited.assert_ok()["version"], 2);
    page_save(&app, sid).await.assert_error(1866);
    assert_eq!(host.requests()[0].content().bytes, b"edited text");

    let content = app
        .client
        .get(page_api(&app, sid, "content"))
        .send()
        .await
        .unwrap();
    assert_eq!(content.headers()["x-document-version"], "2");
    assert_eq!(content.text().await.unwrap(), "edited text");
    let state = app
        .client
        .get(page_api(&app, sid, "state"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(state["version"], 2);
    assert_eq!(state["last_save"]["outcome"], "refused");
    assert_eq!(state["last_save"]["version"], 2);
    assert_eq!(state["last_save"]["code"], 1866);
    let (status, page) = app.open_page(str_of(&created, "document_url")).await;
    assert_eq!(status, 200);
    assert!(page.contains("edited text"), "{page}");
}

#[tokio::test]
async fn a_slow_save_blocks_no_other_request() {
    let app = common::spawn_app().await;
    let host = Host::start(Vec::new(), Reply::Slow(Duration::from_secs(3), 200)).await;
    let created = writer_session(
        &app,
        "busy",
        json!({"save_url": host.url, "timeout": 20000}),
    )
    .await;
    let sid = str_of(&created, "session_id").to_string();
    let save_url = str_of(&created, "save_url").to_string();
    let key = app.key.clone();
    let client = app.client.clone();
    let save = tokio::spawn(async move {
        read(
            client
                .post(format!("{save_url}?apikey={key}&"))
                .send()
                .await
                .unwrap(),
        )
        .await
    });
    host.wait_for(1).await;
    // While the host sits on the save: a page, an edit, another open and a session read all complete.
    let (status, _) = app.open_page(str_of(&created, "document_url")).await;
    assert_eq!(status, 200);
    page_edit(&app, &sid, 1, "meanwhile").await.assert_ok();
    writer_session(&app, "other", Value::Null).await;
    app.get(&format!("/writer/officeapi/v1/sessions/{sid}"))
        .await
        .assert_ok();
    assert!(
        !save.is_finished(),
        "the save finished before the other requests; the test proves nothing"
    );
    save.await.unwrap().assert_ok();
}

#[tokio::test]
async fn a_different_save_format_is_sent_unconverted_and_the_answer_says_so() {
    let app = common::spawn_app().await;
    let host = Host::always(200).await;
    let created = writer_session(
        &app,
        "format",
        json!({"save_url": host.url, "save_format": "docx", "save_url_params": {"f": "$format"}}),
    )
    .await;
    let saved = host_save(&app, str_of(&created, "save_url"), &app.key).await;
    let body = saved.assert_ok();
    assert_eq!(body["format"], "txt");
    assert!(str_of(body, "note").contains("does not convert"), "{body}");
    let request = &host.requests()[0];
    assert_eq!(request.fields["f"], "txt");
    assert_eq!(request.content().filename.as_deref(), Some("Notes.txt"));
}
