mod common;

// The Writer session surface over HTTP, with requests shaped like the Python and Node SDKs send them.

use std::io::{Read, Write};
use std::net::TcpListener;

use common::{blank, buffer_part, file_part, spawn_app, spawn_app_with, Response, TestApp};
use docsession::domain::Format;
use reqwest::multipart::{Form, Part};
use serde_json::{json, Value};

const CREATE: &str = "/writer/officeapi/v1/documents";
const LEGACY_CREATE: &str = "/writer/officeapi/v1/document";
const TEMPLATES: &str = "/writer/officeapi/v1/templates";
const FILLABLE: &str = "/writer/officeapi/v1/fillabletemplates";
const PREVIEW: &str = "/writer/officeapi/v1/document/preview";
const COMPARE: &str = "/writer/officeapi/v1/document/compare";
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
const META_STRINGS: [&str; 5] = [
    "document_id",
    "document_name",
    "document_type",
    "created_time",
    "expires_on",
];
const META_NUMBERS: [&str; 4] = [
    "collaborators_count",
    "active_sessions_count",
    "created_time_ms",
    "expires_on_ms",
];
const PNG: &[u8] =
    b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

fn docx() -> Vec<u8> {
    blank(Format::Docx)
}

/// JSON text as Python's `json.dumps` writes it: `{"a": 1, "b": 2}`, non-ASCII as `\uXXXX` escapes.
fn py(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let items: Vec<String> = map
                .iter()
                .map(|(k, v)| format!("{}: {}", py(&Value::String(k.clone())), py(v)))
                .collect();
            format!("{{{}}}", items.join(", "))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(py).collect();
            format!("[{}]", items.join(", "))
        }
        Value::String(text) => {
            let mut out = String::from("\"");
            for c in text.chars() {
                match c {
                    '"' => out.push_str("\\\""),
                    '\\' => out.push_str("\\\\"),
                    c if (c as u32) < 0x20 || !c.is_ascii() => {
                        let mut units = [0u16; 2];
                        for unit in c.encode_utf16(&mut units) {
                            out.push_str(&format!("\\u{unit:04x}"));
                        }
                    }
                    c => out.push(c),
                }
            }
            out.push('"');
            out
        }
        other => other.to_string(),
    }
}

/// JSON text as Node's `JSON.stringify` writes it: compact, raw UTF-8.
fn node(value: &Value) -> String {
    serde_json::to_string(value).expect("json")
}

fn apostrophe_free(text: &str) -> bool {
    !text.contains('\'') && !text.to_ascii_lowercase().contains("\\u0027")
}

/// A request whose raw body text we keep (to look for apostrophes), then parsed like `common::read`.
async fn raw(request: reqwest::RequestBuilder) -> (Response, String) {
    let response = request.send().await.expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
    (
        Response {
            status,
            content_type,
            body,
        },
        text,
    )
}

fn session_path(sid: &str) -> String {
    format!("/writer/officeapi/v1/sessions/{sid}")
}

fn document_path(document_id: &str) -> String {
    format!("/writer/officeapi/v1/documents/{document_id}")
}

fn sessions_path(document_id: &str) -> String {
    format!("/writer/officeapi/v1/documents/{document_id}/sessions")
}

fn s<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {body}"))
}

async fn total_usage(app: &TestApp) -> i64 {
    app.get("/api/v1/plan").await.assert_ok()["total_usage"]
        .as_i64()
        .expect("total_usage is a number")
}

/// Asserts a flat InvalidConfigurationException body with exactly these fields.
fn assert_flat_error(
    response: &Response,
    code: u64,
    parameter_name: Option<&str>,
    key_name: Option<&str>,
) {
    let body = response.assert_error(code);
    let object = body.as_object().expect("error body is an object");
    for key in object.keys() {
        assert!(
            ["code", "message", "parameter_name", "key_name"].contains(&key.as_str()),
            "unexpected key {key} in {body}"
        );
    }
    assert!(body["code"].is_u64(), "code must be a JSON number: {body}");
    assert_eq!(
        body["parameter_name"].as_str(),
        parameter_name,
        "parameter_name in {body}"
    );
    assert_eq!(body["key_name"].as_str(), key_name, "key_name in {body}");
}

/// Checks the six CreateDocumentResponse keys and where the URLs point; returns (document_id, session_id).
fn assert_create_response(app: &TestApp, body: &Value) -> (String, String) {
    for key in CREATE_KEYS {
        assert!(
            body[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key} missing or empty in {body}"
        );
    }
    let document_id = s(body, "document_id").to_string();
    let sid = s(body, "session_id").to_string();
    let prefix = format!("{}/writer/officeapi/v1", app.base);
    for key in [
        "document_url",
        "save_url",
        "session_delete_url",
        "document_delete_url",
    ] {
        assert!(
            s(body, key).starts_with(&app.base),
            "{key} does not start with {}: {body}",
            app.base
        );
    }
    assert_eq!(
        s(body, "session_delete_url"),
        format!("{prefix}/sessions/{sid}")
    );
    assert_eq!(
        s(body, "document_delete_url"),
        format!("{prefix}/documents/{document_id}")
    );
    assert_eq!(
        s(body, "document_url"),
        format!("{prefix}/documents/{sid}/edit")
    );
    assert_eq!(
        s(body, "save_url"),
        format!("{prefix}/documents/{sid}/save")
    );
    assert!(
        body.get("preview_url").is_none() && body.get("sessions").is_none(),
        "keys of other classes in {body}"
    );
    (document_id, sid)
}

fn assert_url_safe_id(id: &str) {
    assert!(!id.is_empty());
    assert!(
        id.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~')),
        "{id} is not URL-safe"
    );
}

fn assert_iso_matches_ms(iso: &str, ms: i64) {
    assert!(iso.ends_with('Z'), "{iso} is not UTC");
    let parsed = chrono::DateTime::parse_from_rfc3339(iso)
        .unwrap_or_else(|err| panic!("{iso} is not ISO-8601: {err}"));
    assert_eq!(parsed.timestamp(), ms.div_euclid(1000), "{iso} vs {ms}");
}

fn assert_document_meta(body: &Value) {
    for key in META_STRINGS {
        assert!(
            body[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key} is not a non-empty string in {body}"
        );
    }
    for key in META_NUMBERS {
        assert!(body[key].is_i64(), "{key} is not a JSON integer in {body}");
    }
    assert_iso_matches_ms(
        s(body, "created_time"),
        body["created_time_ms"].as_i64().unwrap(),
    );
    assert_iso_matches_ms(
        s(body, "expires_on"),
        body["expires_on_ms"].as_i64().unwrap(),
    );
}

/// The full create form as the Python SDK sends it (every parameter object, spaces after `:` and `,`).
fn python_create_form(document_id: &str, name: &str, user_id: &str) -> Form {
    Form::new()
        .text(
            "document_info",
            py(&json!({"document_name": name, "document_id": document_id})),
        )
        .text(
            "user_info",
            py(&json!({"user_id": user_id, "display_name": format!("User {user_id}")})),
        )
        .text(
            "permissions",
            py(&json!({"document.export": true, "document.print": true, "document.edit": true,
                "review.comment": false, "review.changes.resolve": false, "collab.chat": true,
                "document.pausecollaboration": false, "document.fill": false})),
        )
        .text(
            "callback_settings",
            py(&json!({"retries": 1, "save_url": "https://integrator.example/save",
                "save_url_headers": {"x-token": "1"}, "save_format": "docx", "http_method_type": "post",
                "timeout": 10000, "save_url_params": {"id": "123", "extension": "$format"}})),
        )
        .text(
            "editor_settings",
            py(&json!({"unit": "in", "view": "pageview", "language": "en"})),
        )
        .text(
            "ui_options",
            py(&json!({"save_button": "show", "chat_panel": "show", "dark_mode": "hide", "file_menu": "show"})),
        )
        .text(
            "document_defaults",
            py(&json!({"track_changes": "disabled", "font_size": 12, "font_name": "Arial",
                "orientation": "portrait", "paper_size": "A4",
                "margin": {"top": "1in", "left": "1in", "bottom": "1in", "right": "1in"}})),
        )
        .part("document", file_part(docx(), "sample.docx"))
}

/// The same create as the Node SDK sends it (compact JSON, Buffer upload without filename).
fn node_create_form(document_id: &str, name: &str, user_id: &str) -> Form {
    Form::new()
        .text(
            "document_info",
            node(&json!({"document_name": name, "document_id": document_id})),
        )
        .text(
            "user_info",
            node(&json!({"user_id": user_id, "display_name": format!("User {user_id}")})),
        )
        .text(
            "permissions",
            node(&json!({"collab.chat": false, "document.edit": true, "review.comment": false,
                "document.export": true, "document.print": false, "document.fill": false,
                "review.changes.resolve": false, "document.pausecollaboration": false})),
        )
        .text(
            "callback_settings",
            node(&json!({"save_format": "docx", "save_url": "https://host/save", "http_method_type": "post",
                "retries": 2, "timeout": 10000, "save_url_params": {"id": 123456789, "auth_token": "oswedf32rk"},
                "save_url_headers": {"header1": "value1"}})),
        )
        .text(
            "editor_settings",
            node(&json!({"unit": "in", "language": "en", "view": "pageview"})),
        )
        .text(
            "ui_options",
            node(&json!({"save_button": "show", "chat_panel": "show", "dark_mode": "show", "file_menu": "show"})),
        )
        .text(
            "document_defaults",
            node(&json!({"language": "ta", "track_changes": "disabled"})),
        )
        .part("document", buffer_part(docx()))
}

fn info_form(document_id: &str) -> Form {
    Form::new().text(
        "document_info",
        py(&json!({"document_name": "Rejected", "document_id": document_id})),
    )
}

/// An expected error: code, parameter_name, key_name.
type Expected<'a> = (u64, Option<&'a str>, Option<&'a str>);

/// A rejected open leaves nothing behind: no usage, no document.
async fn assert_rejected(
    app: &TestApp,
    path: &str,
    form: Form,
    document_id: &str,
    expected: Expected<'_>,
) {
    let before = total_usage(app).await;
    let response = app.post_form(path, form).await;
    assert_flat_error(&response, expected.0, expected.1, expected.2);
    assert_eq!(total_usage(app).await, before, "a rejected open was billed");
    app.get(&document_path(document_id))
        .await
        .assert_error(1844);
}

/// A tiny HTTP/1.1 server on a std thread: `routes` maps a request path to (status, body); others get 404.
fn serve(routes: Vec<(&'static str, u16, Vec<u8>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut head = Vec::new();
            let mut chunk = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&chunk[..n]),
                }
            }
            let head = String::from_utf8_lossy(&head);
            let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
            let path = path.split('?').next().unwrap_or("/");
            let (status, body) = routes
                .iter()
                .find(|(route, _, _)| *route == path)
                .map(|(_, status, body)| (*status, body.clone()))
                .unwrap_or((404, b"not found".to_vec()));
            let _ = write!(
                stream,
                "HTTP/1.1 {status} X\r\nContent-Type: application/octet-stream\r\nContent-Length: {}\r\n\
                 Connection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(&body);
            let _ = stream.flush();
        }
    });
    format!("http://{address}")
}

// ---------------------------------------------------------------------------------------------------------
// 1. Create
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn python_style_create_with_every_parameter_returns_all_six_keys() {
    let app = spawn_app().await;
    let before = total_usage(&app).await;
    let response = app
        .post_form(
            CREATE,
            python_create_form("py-42", "Quarterly Report", "1000"),
        )
        .await;
    let body = response.assert_ok().clone();
    let (document_id, sid) = assert_create_response(&app, &body);
    assert_eq!(document_id, "py-42");
    assert_ne!(sid, document_id);
    assert_eq!(total_usage(&app).await, before + 1);
    let info = app.get(&document_path("py-42")).await;
    let info = info.assert_ok();
    assert_eq!(info["document_name"], "Quarterly Report");
    assert_eq!(info["document_type"], "document");
}

#[tokio::test]
async fn node_style_create_with_every_parameter_returns_all_six_keys() {
    let app = spawn_app().await;
    let response = app
        .post_form(CREATE, node_create_form("node-42", "Node Report", "2000"))
        .await;
    let body = response.assert_ok().clone();
    let (document_id, sid) = assert_create_response(&app, &body);
    assert_eq!(document_id, "node-42");
    let meta = app.get(&session_path(&sid)).await;
    let meta = meta.assert_ok();
    assert_eq!(meta["user_info"]["user_id"], "2000");
    assert_eq!(meta["user_info"]["display_name"], "User 2000");
    assert_eq!(meta["info"]["document_id"], "node-42");
}

#[tokio::test]
async fn create_without_document_id_mints_a_url_safe_id() {
    let app = spawn_app().await;
    let form = Form::new()
        .text("document_info", py(&json!({"document_name": "No id"})))
        .part("document", file_part(docx(), "sample.docx"));
    let first = app.post_form(CREATE, form).await.assert_ok().clone();
    let (document_id, _) = assert_create_response(&app, &first);
    assert_url_safe_id(&document_id);
    let form = Form::new().text("document_info", py(&json!({"document_name": "No id"})));
    let second = app.post_form(CREATE, form).await.assert_ok().clone();
    assert_ne!(
        second["document_id"], first["document_id"],
        "minted ids repeat"
    );
    let info = app.get(&document_path(&document_id)).await;
    assert_eq!(info.assert_ok()["document_name"], "No id");
}

#[tokio::test]
async fn empty_post_creates_a_blank_document() {
    let app = spawn_app().await;
    let before = total_usage(&app).await;
    let response = app.post_empty(CREATE).await;
    let body = response.assert_ok().clone();
    let (document_id, sid) = assert_create_response(&app, &body);
    assert_url_safe_id(&document_id);
    assert_eq!(total_usage(&app).await, before + 1);
    let info = app.get(&document_path(&document_id)).await;
    let info = info.assert_ok();
    assert_eq!(info["document_name"], "Untitled Document");
    assert_eq!(info["document_type"], "document");
    assert_eq!(info["active_sessions_count"], 1);
    assert_eq!(
        app.get(&session_path(&sid)).await.assert_ok()["status"],
        "inactive"
    );
}

#[tokio::test]
async fn upload_without_filename_works_and_gets_the_default_name() {
    let app = spawn_app().await;
    let form = Form::new()
        .text("document_info", node(&json!({"document_id": "buf-1"})))
        .part("document", buffer_part(docx()));
    let body = app.post_form(CREATE, form).await.assert_ok().clone();
    assert_eq!(assert_create_response(&app, &body).0, "buf-1");
    let info = app.get(&document_path("buf-1")).await;
    assert_eq!(info.assert_ok()["document_name"], "Untitled Document");
}

#[tokio::test]
async fn upload_name_comes_from_the_filename_but_not_from_the_python_field_name() {
    let app = spawn_app().await;
    // Python `StreamWrapper(file_path=...)`: the basename.
    let form = Form::new()
        .text("document_info", py(&json!({"document_id": "named"})))
        .part("document", file_part(docx(), "minutes.docx"));
    app.post_form(CREATE, form).await.assert_ok();
    let info = app.get(&document_path("named")).await;
    assert_eq!(info.assert_ok()["document_name"], "minutes.docx");
    // Python `StreamWrapper(stream=BytesIO)`: the field name, which is no file name.
    let form = Form::new()
        .text("document_info", py(&json!({"document_id": "in-memory"})))
        .part("document", file_part(docx(), "document"));
    app.post_form(CREATE, form).await.assert_ok();
    let info = app.get(&document_path("in-memory")).await;
    assert_eq!(info.assert_ok()["document_name"], "Untitled Document");
    // Node `StreamWrapper(null, null, path)`: basename plus a guessed Content-Type.
    let part = Part::bytes(docx())
        .file_name("node.docx")
        .mime_str("application/vnd.openxmlformats-officedocument.wordprocessingml.document")
        .unwrap();
    let form = Form::new()
        .text("document_info", node(&json!({"document_id": "node-path"})))
        .part("document", part);
    app.post_form(CREATE, form).await.assert_ok();
    let info = app.get(&document_path("node-path")).await;
    assert_eq!(info.assert_ok()["document_name"], "node.docx");
}

#[tokio::test]
async fn legacy_create_alias_works() {
    let app = spawn_app().await;
    let before = total_usage(&app).await;
    let body = app
        .post_form(LEGACY_CREATE, python_create_form("legacy-1", "Legacy", "1"))
        .await
        .assert_ok()
        .clone();
    assert_eq!(assert_create_response(&app, &body).0, "legacy-1");
    assert_eq!(total_usage(&app).await, before + 1);
    let info = app.get(&document_path("legacy-1")).await;
    let info = info.assert_ok();
    assert_eq!(info["document_name"], "Legacy");
    assert_eq!(info["document_type"], "document");
}

#[tokio::test]
async fn template_endpoints_set_the_document_type() {
    let app = spawn_app().await;
    for (path, id, expected) in [
        (CREATE, "plain", "document"),
        (TEMPLATES, "merge", "merge_template"),
        (FILLABLE, "fillable", "fillable_template"),
    ] {
        let before = total_usage(&app).await;
        let body = app
            .post_form(path, python_create_form(id, "Template", "1"))
            .await
            .assert_ok()
            .clone();
        assert_eq!(assert_create_response(&app, &body).0, id, "{path}");
        assert_eq!(
            total_usage(&app).await,
            before + 1,
            "{path} is one API call"
        );
        let info = app.get(&document_path(id)).await;
        let info = info.assert_ok();
        assert_eq!(info["document_type"], expected, "{path}");
        assert_document_meta(info);
    }
    // An empty POST to the template endpoints works too.
    let body = app.post_empty(TEMPLATES).await.assert_ok().clone();
    let (id, _) = assert_create_response(&app, &body);
    assert_eq!(
        app.get(&document_path(&id)).await.assert_ok()["document_type"],
        "merge_template"
    );
}

#[tokio::test]
async fn concurrent_creates_with_one_document_id_share_one_document() {
    let app = spawn_app().await;
    let requests = (0..5).map(|i| {
        app.post_form(
            CREATE,
            python_create_form("race", "Race", &format!("user{i}")),
        )
    });
    let responses = futures_util::future::join_all(requests).await;
    let mut sids = Vec::new();
    for response in &responses {
        let body = response.assert_ok();
        assert_eq!(body["document_id"], "race");
        sids.push(s(body, "session_id").to_string());
    }
    sids.sort();
    sids.dedup();
    assert_eq!(sids.len(), 5, "session ids repeat");
    let all = app.get(&sessions_path("race")).await;
    let all = all.assert_ok();
    assert_eq!(all["active_sessions_count"], 5);
    assert_eq!(all["collaborators_count"], 5);
    assert_eq!(all["sessions"].as_array().unwrap().len(), 5);
}

// ---------------------------------------------------------------------------------------------------------
// 2. url parameter
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn url_parameter_fetches_the_document_and_names_it_after_the_file() {
    let app = spawn_app().await;
    let server = serve(vec![("/files/report.docx", 200, docx())]);
    let before = total_usage(&app).await;
    let form = Form::new()
        .text("url", format!("{server}/files/report.docx"))
        .text("document_info", py(&json!({"document_id": "from-url"})));
    let body = app.post_form(CREATE, form).await.assert_ok().clone();
    assert_eq!(assert_create_response(&app, &body).0, "from-url");
    assert_eq!(total_usage(&app).await, before + 1);
    let info = app.get(&document_path("from-url")).await;
    assert_eq!(info.assert_ok()["document_name"], "report.docx");
    // A query string is not part of the name; an explicit document_name wins.
    let form = Form::new()
        .text("url", format!("{server}/files/report.docx?token=abc&x=1"))
        .text(
            "document_info",
            node(&json!({"document_id": "named-url", "document_name": "Chosen"})),
        );
    app.post_form(CREATE, form).await.assert_ok();
    let info = app.get(&document_path("named-url")).await;
    assert_eq!(info.assert_ok()["document_name"], "Chosen");
    let form = Form::new()
        .text("url", format!("{server}/files/report.docx?token=abc"))
        .text("document_info", node(&json!({"document_id": "query-url"})));
    app.post_form(CREATE, form).await.assert_ok();
    let info = app.get(&document_path("query-url")).await;
    assert_eq!(info.assert_ok()["document_name"], "report.docx");
}

#[tokio::test]
async fn url_that_answers_404_is_1831_on_url() {
    let app = spawn_app().await;
    let server = serve(vec![("/files/report.docx", 200, docx())]);
    let form = info_form("url-404").text("url", format!("{server}/missing.docx"));
    assert_rejected(&app, CREATE, form, "url-404", (1831, Some("url"), None)).await;
    let form = info_form("url-ok").text("url", format!("{server}/files/report.docx"));
    // Sanity check of the listener itself: the same server does serve the file.
    app.post_form(CREATE, form).await.assert_ok();
}

#[tokio::test]
async fn url_with_a_non_http_scheme_is_1831_on_url() {
    let app = spawn_app().await;
    for (i, url) in ["ftp://x/report.docx", "file:///etc/passwd", "report.docx"]
        .into_iter()
        .enumerate()
    {
        let id = format!("bad-scheme-{i}");
        let form = info_form(&id).text("url", url);
        assert_rejected(&app, CREATE, form, &id, (1831, Some("url"), None)).await;
    }
}

#[tokio::test]
async fn url_to_an_unreachable_host_is_1831_on_url() {
    let app = spawn_app().await;
    // Bind then drop: nothing listens on this port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let form = info_form("refused").text("url", format!("http://127.0.0.1:{port}/a.docx"));
    assert_rejected(&app, CREATE, form, "refused", (1831, Some("url"), None)).await;
}

#[tokio::test]
async fn url_serving_an_unsupported_format_is_1852_on_url() {
    let app = spawn_app().await;
    let server = serve(vec![("/image.png", 200, PNG.to_vec())]);
    let form = info_form("url-png").text("url", format!("{server}/image.png"));
    assert_rejected(&app, CREATE, form, "url-png", (1852, Some("url"), None)).await;
}

#[tokio::test]
async fn url_file_name_is_percent_decoded() {
    let app = spawn_app().await;
    let server = serve(vec![("/Q3%20report.docx", 200, docx())]);
    let form = Form::new()
        .text("url", format!("{server}/Q3%20report.docx"))
        .text("document_info", py(&json!({"document_id": "encoded"})));
    app.post_form(CREATE, form).await.assert_ok();
    let info = app.get(&document_path("encoded")).await;
    assert_eq!(info.assert_ok()["document_name"], "Q3 report.docx");
}

// ---------------------------------------------------------------------------------------------------------
// 3. Session info
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn session_info_goes_inactive_to_active_when_the_page_is_opened() {
    let app = spawn_app().await;
    let form = Form::new()
        .text(
            "document_info",
            py(&json!({"document_id": "s-1", "document_name": "R&D <Q3> plan"})),
        )
        .text(
            "user_info",
            py(&json!({"user_id": "1000", "display_name": "Amelia"})),
        )
        .part("document", file_part(docx(), "sample.docx"));
    let created = app.post_form(CREATE, form).await.assert_ok().clone();
    let sid = s(&created, "session_id").to_string();

    let meta = app.get(&session_path(&sid)).await;
    let meta = meta.assert_ok().clone();
    assert_eq!(meta["status"], "inactive");
    assert_eq!(
        meta["user_info"],
        json!({"user_id": "1000", "display_name": "Amelia"})
    );
    let info = &meta["info"];
    assert_eq!(info["document_id"], "s-1");
    assert_eq!(info["session_url"], created["document_url"]);
    assert_eq!(info["session_delete_url"], created["session_delete_url"]);
    let created_ms = info["created_time_ms"]
        .as_i64()
        .expect("created_time_ms number");
    let expires_ms = info["expires_on_ms"]
        .as_i64()
        .expect("expires_on_ms number");
    assert_eq!(expires_ms - created_ms, SIX_HOURS_MS);
    assert_iso_matches_ms(s(info, "created_time"), created_ms);
    assert_iso_matches_ms(s(info, "expires_on"), expires_ms);
    let now = chrono::Utc::now().timestamp_millis();
    assert!(
        (created_ms - now).abs() < 60_000,
        "created_time_ms {created_ms} is not now"
    );

    let (status, html) = app.open_page(s(&created, "document_url")).await;
    assert_eq!(status, 200);
    assert!(html.contains("R&amp;D &lt;Q3&gt; plan"), "{html}");
    assert!(
        !html.contains("<Q3>"),
        "the name is not HTML-escaped: {html}"
    );

    let meta = app.get(&session_path(&sid)).await;
    let meta = meta.assert_ok();
    assert_eq!(meta["status"], "active");
    assert_eq!(meta["info"]["created_time_ms"], created_ms);
    // Session info reads are not API calls; opening the page is not either.
    assert_eq!(total_usage(&app).await, 1);
}

#[tokio::test]
async fn session_info_without_user_info_names_a_guest() {
    let app = spawn_app().await;
    let created = app.post_empty(CREATE).await.assert_ok().clone();
    let meta = app.get(&session_path(s(&created, "session_id"))).await;
    let meta = meta.assert_ok();
    // Never `{}`: the Python SDK cannot decode an empty nested object.
    assert_eq!(
        meta["user_info"],
        serde_json::json!({"display_name": "Guest"}),
        "{meta}"
    );
    assert_eq!(meta["info"]["document_id"], created["document_id"]);
}

// ---------------------------------------------------------------------------------------------------------
// 4. All sessions and co-editing
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn all_sessions_lists_every_session_after_a_co_edit() {
    let app = spawn_app().await;
    let first = app
        .post_form(CREATE, python_create_form("co-1", "Original name", "1000"))
        .await
        .assert_ok()
        .clone();

    let all = app.get(&sessions_path("co-1")).await;
    let all = all.assert_ok().clone();
    assert_document_meta(&all);
    assert_eq!(all["document_id"], "co-1");
    assert_eq!(all["collaborators_count"], 1);
    assert_eq!(all["active_sessions_count"], 1);
    let sessions = all["sessions"].as_array().expect("sessions is an array");
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0]["info"]["document_id"], "co-1");
    assert_eq!(sessions[0]["status"], "inactive");
    assert_eq!(sessions[0]["user_info"]["user_id"], "1000");

    // The co-edit: same document_id, another user, another name and unusable content, all ignored.
    let before = total_usage(&app).await;
    let form = Form::new()
        .text(
            "document_info",
            node(&json!({"document_id": "co-1", "document_name": "Other name"})),
        )
        .text(
            "user_info",
            node(&json!({"user_id": "1001", "display_name": "Second"})),
        )
        .part("document", file_part(PNG.to_vec(), "image.png"));
    let second = app.post_form(CREATE, form).await.assert_ok().clone();
    assert_create_response(&app, &second);
    assert_eq!(second["document_id"], "co-1");
    assert_ne!(second["session_id"], first["session_id"]);
    assert_ne!(second["document_url"], first["document_url"]);
    assert_eq!(
        total_usage(&app).await,
        before + 1,
        "a co-edit is one API call"
    );

    let all = app.get(&sessions_path("co-1")).await;
    let all = all.assert_ok().clone();
    assert_document_meta(&all);
    assert_eq!(all["document_name"], "Original name");
    assert_eq!(all["collaborators_count"], 2);
    assert_eq!(all["active_sessions_count"], 2);
    let sessions = all["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2);
    let mut sids: Vec<&str> = sessions
        .iter()
        .map(|session| s(&session["info"], "session_url"))
        .collect();
    sids.sort();
    sids.dedup();
    assert_eq!(sids.len(), 2);
    for session in sessions {
        assert_eq!(session["info"]["document_id"], "co-1");
        assert!(session["status"].is_string());
    }
    let mut users: Vec<&str> = sessions
        .iter()
        .map(|session| s(&session["user_info"], "user_id"))
        .collect();
    users.sort();
    assert_eq!(users, ["1000", "1001"]);
    let info = app.get(&document_path("co-1")).await;
    assert_eq!(info.assert_ok()["document_name"], "Original name");
}

#[tokio::test]
async fn co_edit_ignores_a_url_it_would_fail_to_fetch() {
    let app = spawn_app().await;
    app.post_form(CREATE, python_create_form("co-url", "Kept", "1"))
        .await
        .assert_ok();
    let server = serve(vec![]);
    let form = Form::new()
        .text("document_info", py(&json!({"document_id": "co-url"})))
        .text("user_info", py(&json!({"user_id": "2"})))
        .text("url", format!("{server}/gone.docx"));
    let body = app.post_form(CREATE, form).await.assert_ok().clone();
    assert_eq!(body["document_id"], "co-url");
    let info = app.get(&document_path("co-url")).await;
    let info = info.assert_ok();
    assert_eq!(info["document_name"], "Kept");
    assert_eq!(info["active_sessions_count"], 2);
}

#[tokio::test]
async fn collaborators_count_counts_distinct_users() {
    let app = spawn_app().await;
    app.writer_create("same-user", "1000").await;
    app.writer_create("same-user", "1000").await;
    let all = app.get(&sessions_path("same-user")).await;
    let all = all.assert_ok();
    assert_eq!(all["active_sessions_count"], 2);
    assert_eq!(all["collaborators_count"], 1);
    assert_eq!(all["sessions"].as_array().unwrap().len(), 2);
}

// ---------------------------------------------------------------------------------------------------------
// 5. Document info
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn document_info_has_every_document_meta_key_and_no_sessions() {
    let app = spawn_app().await;
    app.post_form(CREATE, python_create_form("meta-1", "Meta", "1"))
        .await
        .assert_ok();
    let info = app.get(&document_path("meta-1")).await;
    let info = info.assert_ok();
    assert_document_meta(info);
    assert_eq!(info["document_id"], "meta-1");
    assert_eq!(info["document_name"], "Meta");
    assert_eq!(info["document_type"], "document");
    assert_eq!(info["collaborators_count"], 1);
    assert_eq!(info["active_sessions_count"], 1);
    assert_eq!(
        info["expires_on_ms"].as_i64().unwrap() - info["created_time_ms"].as_i64().unwrap(),
        SIX_HOURS_MS
    );
    for key in [
        "sessions",
        "session_id",
        "preview_url",
        "document_url",
        "save_url",
        "session_delete_url",
        "document_delete_url",
    ] {
        assert!(
            info.get(key).is_none(),
            "{key} must not be in document info: {info}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// 6. Deletes
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn delete_session_answers_a_boolean_and_then_1833() {
    let app = spawn_app().await;
    let first = app.writer_create("del-s", "1").await;
    let second = app.writer_create("del-s", "2").await;
    let before = total_usage(&app).await;

    let deleted = app.delete(&session_path(s(&first, "session_id"))).await;
    assert_eq!(deleted.assert_ok()["session_deleted"], Value::Bool(true));
    app.delete(&session_path(s(&first, "session_id")))
        .await
        .assert_error(1833);
    app.get(&session_path(s(&first, "session_id")))
        .await
        .assert_error(1833);
    let (status, _) = app.open_page(s(&first, "document_url")).await;
    assert_eq!(status, 404, "a deleted session page still opens");

    let all = app.get(&sessions_path("del-s")).await;
    let all = all.assert_ok();
    assert_eq!(all["active_sessions_count"], 1);
    assert_eq!(all["sessions"].as_array().unwrap().len(), 1);
    assert_eq!(all["sessions"][0]["user_info"]["user_id"], "2");

    // The legacy singular path deletes the last session; the document stays.
    let deleted = app
        .delete(&format!(
            "/writer/officeapi/v1/session/{}",
            s(&second, "session_id")
        ))
        .await;
    assert_eq!(deleted.assert_ok()["session_deleted"], Value::Bool(true));
    app.get(&session_path(s(&second, "session_id")))
        .await
        .assert_error(1833);
    let info = app.get(&document_path("del-s")).await;
    let info = info.assert_ok();
    assert_eq!(info["active_sessions_count"], 0);
    let all = app.get(&sessions_path("del-s")).await;
    let all = all.assert_ok();
    assert_document_meta(all);
    assert_eq!(all["sessions"], json!([]));
    assert_eq!(total_usage(&app).await, before, "deletes are not API calls");
}

#[tokio::test]
async fn session_delete_url_from_the_create_response_works() {
    let app = spawn_app().await;
    let created = app.writer_create("del-url", "1").await;
    let url = format!("{}?apikey={}&", s(&created, "session_delete_url"), app.key);
    let response = common::read(app.client.delete(url).send().await.unwrap()).await;
    assert_eq!(response.assert_ok()["session_deleted"], Value::Bool(true));
    let url = format!("{}?apikey={}&", s(&created, "document_delete_url"), app.key);
    let response = common::read(app.client.delete(url).send().await.unwrap()).await;
    assert_eq!(response.assert_ok()["document_deleted"], Value::Bool(true));
    app.get(&document_path("del-url")).await.assert_error(1844);
}

#[tokio::test]
async fn delete_document_removes_it_and_its_sessions() {
    let app = spawn_app().await;
    let first = app.writer_create("del-d", "1").await;
    let second = app.writer_create("del-d", "2").await;
    let deleted = app.delete(&document_path("del-d")).await;
    assert_eq!(deleted.assert_ok()["document_deleted"], Value::Bool(true));
    for created in [&first, &second] {
        app.get(&session_path(s(created, "session_id")))
            .await
            .assert_error(1833);
        app.delete(&session_path(s(created, "session_id")))
            .await
            .assert_error(1833);
        let (status, _) = app.open_page(s(created, "document_url")).await;
        assert_eq!(status, 404);
    }
    assert_flat_error(
        &app.get(&document_path("del-d")).await,
        1844,
        Some("document_id"),
        None,
    );
    app.get(&sessions_path("del-d")).await.assert_error(1844);
    app.delete(&document_path("del-d")).await.assert_error(1844);

    // The id can be used again for a new document.
    let again = app
        .post_form(CREATE, python_create_form("del-d", "Reborn", "3"))
        .await
        .assert_ok()
        .clone();
    assert_eq!(again["document_id"], "del-d");
    let info = app.get(&document_path("del-d")).await;
    let info = info.assert_ok();
    assert_eq!(info["document_name"], "Reborn");
    assert_eq!(info["active_sessions_count"], 1);
}

#[tokio::test]
async fn legacy_delete_document_path_works() {
    let app = spawn_app().await;
    let created = app.writer_create("legacy-del", "1").await;
    let deleted = app.delete("/writer/officeapi/v1/document/legacy-del").await;
    assert_eq!(deleted.assert_ok()["document_deleted"], Value::Bool(true));
    app.get(&document_path("legacy-del"))
        .await
        .assert_error(1844);
    app.get(&session_path(s(&created, "session_id")))
        .await
        .assert_error(1833);
}

#[tokio::test]
async fn another_key_cannot_see_or_delete_a_document() {
    let app = spawn_app().await;
    let created = app.writer_create("mine", "1").await;
    let other = app.create_key("other", None).await;
    let sid = s(&created, "session_id");
    app.get_with_key(&session_path(sid), &other)
        .await
        .assert_error(1833);
    app.delete_with_key(&session_path(sid), &other)
        .await
        .assert_error(1833);
    app.get_with_key(&document_path("mine"), &other)
        .await
        .assert_error(1844);
    app.delete_with_key(&document_path("mine"), &other)
        .await
        .assert_error(1844);
    // The same document_id under another key is another document.
    let form = python_create_form("mine", "Theirs", "9");
    let theirs = app
        .post_form_with_key(CREATE, form, &other)
        .await
        .assert_ok()
        .clone();
    assert_eq!(theirs["document_id"], "mine");
    let info = app.get(&document_path("mine")).await;
    let info = info.assert_ok();
    assert_eq!(info["document_name"], "Doc mine");
    assert_eq!(info["active_sessions_count"], 1);
    app.get(&session_path(sid)).await.assert_ok();
}

// ---------------------------------------------------------------------------------------------------------
// 7. Preview and compare
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn preview_returns_preview_response_keys_only() {
    let app = spawn_app().await;
    let before = total_usage(&app).await;
    let form = Form::new()
        .text("document_info", py(&json!({"document_name": "Preview me"})))
        .text("permissions", py(&json!({"document.print": false})))
        .part("document", file_part(docx(), "sample.docx"));
    let body = app.post_form(PREVIEW, form).await.assert_ok().clone();
    for key in PREVIEW_KEYS {
        assert!(
            body[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key} missing in {body}"
        );
    }
    assert!(body.get("document_url").is_none(), "{body}");
    assert!(body.get("save_url").is_none(), "{body}");
    let sid = s(&body, "session_id");
    let document_id = s(&body, "document_id");
    assert_url_safe_id(document_id);
    let prefix = format!("{}/writer/officeapi/v1", app.base);
    assert_eq!(
        s(&body, "preview_url"),
        format!("{prefix}/documents/{sid}/preview")
    );
    assert_eq!(
        s(&body, "session_delete_url"),
        format!("{prefix}/sessions/{sid}")
    );
    assert_eq!(
        s(&body, "document_delete_url"),
        format!("{prefix}/documents/{document_id}")
    );
    assert_eq!(total_usage(&app).await, before + 1);
    let (status, html) = app.open_page(s(&body, "preview_url")).await;
    assert_eq!(status, 200);
    assert!(html.contains("Preview me"), "{html}");
    let meta = app.get(&session_path(sid)).await;
    let meta = meta.assert_ok();
    assert_eq!(meta["status"], "active");
    assert_eq!(meta["info"]["session_url"], body["preview_url"]);
    let info = app.get(&document_path(document_id)).await;
    assert_eq!(info.assert_ok()["document_name"], "Preview me");
    let deleted = app.delete(&session_path(sid)).await;
    assert_eq!(deleted.assert_ok()["session_deleted"], Value::Bool(true));
}

#[tokio::test]
async fn preview_without_document_or_url_is_1837() {
    let app = spawn_app().await;
    let before = total_usage(&app).await;
    let form = Form::new().text("document_info", py(&json!({"document_name": "Nothing"})));
    let response = app.post_form(PREVIEW, form).await;
    assert_eq!(response.assert_error(1837)["code"], 1837);
    app.post_empty(PREVIEW).await.assert_error(1837);
    assert_eq!(total_usage(&app).await, before);
}

#[tokio::test]
async fn compare_returns_compare_url_and_session_delete_url() {
    let app = spawn_app().await;
    let before = total_usage(&app).await;
    let form = Form::new()
        .part("document1", file_part(docx(), "v1.docx"))
        .part("document2", buffer_part(docx()))
        .text("title", "Draft changes")
        .text("lang", "en");
    let body = app.post_form(COMPARE, form).await.assert_ok().clone();
    let object = body.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["compare_url", "session_delete_url"], "{body}");
    let compare_url = s(&body, "compare_url");
    assert!(compare_url.starts_with(&app.base), "{compare_url}");
    let delete_url = s(&body, "session_delete_url");
    let sid = delete_url
        .strip_prefix(&format!("{}/writer/officeapi/v1/sessions/", app.base))
        .expect("session_delete_url points at the DELETE path");
    assert_eq!(
        compare_url,
        format!("{}/writer/officeapi/v1/documents/{sid}/compare", app.base)
    );
    assert_eq!(total_usage(&app).await, before + 1);
    let (status, html) = app.open_page(compare_url).await;
    assert_eq!(status, 200);
    assert!(html.contains("Draft changes"), "{html}");
    let meta = app.get(&session_path(sid)).await;
    assert_eq!(meta.assert_ok()["status"], "active");
    let deleted = app.delete(&session_path(sid)).await;
    assert_eq!(deleted.assert_ok()["session_deleted"], Value::Bool(true));
}

#[tokio::test]
async fn compare_without_document2_is_1837() {
    let app = spawn_app().await;
    let before = total_usage(&app).await;
    let form = Form::new().part("document1", file_part(docx(), "v1.docx"));
    assert_flat_error(
        &app.post_form(COMPARE, form).await,
        1837,
        Some("document2"),
        None,
    );
    let form = Form::new().part("document2", file_part(docx(), "v2.docx"));
    assert_flat_error(
        &app.post_form(COMPARE, form).await,
        1837,
        Some("document1"),
        None,
    );
    assert_eq!(total_usage(&app).await, before);
}

// ---------------------------------------------------------------------------------------------------------
// 8. Errors
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn missing_or_wrong_apikey_is_1846_everywhere() {
    let app = spawn_app().await;
    let created = app.writer_create("auth", "1").await;
    let sid = s(&created, "session_id").to_string();
    let wrong = "0".repeat(48);
    let base = app.base.clone();
    let client = &app.client;

    let no_key = [
        client.post(format!("{base}{CREATE}")),
        client.get(format!("{base}{}", session_path(&sid))),
        client.get(format!("{base}{}", document_path("auth"))),
        client.get(format!("{base}{}", sessions_path("auth"))),
        client.delete(format!("{base}{}", session_path(&sid))),
        client.delete(format!("{base}{}", document_path("auth"))),
        client.get(format!("{base}/api/v1/plan")),
    ];
    for request in no_key {
        let response = common::read(request.send().await.unwrap()).await;
        assert_flat_error(&response, 1846, Some("apikey"), None);
    }
    let with_wrong = |path: &str| format!("{base}{path}?apikey={wrong}&");
    let wrong_key = [
        client
            .post(with_wrong(CREATE))
            .multipart(python_create_form("auth-2", "x", "1")),
        client.get(with_wrong(&session_path(&sid))),
        client.get(with_wrong(&document_path("auth"))),
        client.get(with_wrong(&sessions_path("auth"))),
        client.delete(with_wrong(&session_path(&sid))),
        client.delete(with_wrong(&document_path("auth"))),
    ];
    for request in wrong_key {
        let response = common::read(request.send().await.unwrap()).await;
        assert_flat_error(&response, 1846, Some("apikey"), None);
    }
    // Nothing was deleted or created.
    app.get(&session_path(&sid)).await.assert_ok();
    app.get(&document_path("auth-2")).await.assert_error(1844);
    assert_eq!(total_usage(&app).await, 1);
}

#[tokio::test]
async fn apikey_as_a_form_field_works_for_post() {
    let app = spawn_app().await;
    let form = python_create_form("field-key", "Field key", "1").text("apikey", app.key.clone());
    let response = common::read(
        app.client
            .post(format!("{}{CREATE}", app.base))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    let body = response.assert_ok().clone();
    assert_eq!(assert_create_response(&app, &body).0, "field-key");
    // Urlencoded raw-HTTP clients too.
    let response = common::read(
        app.client
            .post(format!("{}{CREATE}", app.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(format!(
                "apikey={}&document_info=%7B%22document_id%22%3A%22urlenc%22%7D",
                app.key
            ))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(response.assert_ok()["document_id"], "urlenc");
    // A wrong key in the form field is still rejected.
    let form = info_form("field-wrong").text("apikey", "f".repeat(48));
    let response = common::read(
        app.client
            .post(format!("{}{CREATE}", app.base))
            .multipart(form)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_flat_error(&response, 1846, Some("apikey"), None);
    assert_eq!(total_usage(&app).await, 2);
}

#[tokio::test]
async fn malformed_multipart_body_is_1831() {
    let app = spawn_app().await;
    let before = total_usage(&app).await;
    let bodies: [(&str, &[u8]); 4] = [
        (
            "multipart/form-data; boundary=XyZ",
            b"--XyZ\r\nContent-Disposition: form-data; name=\"document_info\"\r\n\r\n{\"document_id\": \"broken\"}",
        ),
        ("multipart/form-data", b"--x\r\n\r\nnot multipart at all"),
        (
            "multipart/form-data; boundary=XyZ",
            b"--XyZ\r\nthis header line has no colon\r\n\r\nvalue\r\n--XyZ--\r\n",
        ),
        (
            "multipart/form-data; boundary=XyZ",
            b"this is not a multipart body",
        ),
    ];
    for (content_type, body) in bodies {
        let response = common::read(
            app.client
                .post(app.url(CREATE))
                .header("Content-Type", content_type)
                .body(body.to_vec())
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_flat_error(&response, 1831, None, None);
    }
    assert_eq!(total_usage(&app).await, before);
    app.get(&document_path("broken")).await.assert_error(1844);
}

#[tokio::test]
async fn non_form_content_type_with_a_body_is_1831() {
    let app = spawn_app().await;
    let before = total_usage(&app).await;
    for (content_type, body) in [
        (
            "application/json",
            r#"{"document_info": {"document_id": "json-body"}}"#,
        ),
        ("text/plain", "document_info={}"),
    ] {
        let response = common::read(
            app.client
                .post(app.url(CREATE))
                .header("Content-Type", content_type)
                .body(body)
                .send()
                .await
                .unwrap(),
        )
        .await;
        assert_flat_error(&response, 1831, None, None);
    }
    assert_eq!(total_usage(&app).await, before);
    app.get(&document_path("json-body"))
        .await
        .assert_error(1844);
}

#[tokio::test]
async fn invalid_parameter_json_is_1831_with_parameter_and_key() {
    let app = spawn_app().await;
    let cases: Vec<(&str, Form, Expected)> = vec![
        (
            "bad-json",
            Form::new()
                .text(
                    "document_info",
                    r#"{"document_id": "bad-json", "document_name": "#,
                )
                .part("document", file_part(docx(), "a.docx")),
            (1831, Some("document_info"), None),
        ),
        (
            "numeric-id",
            Form::new().text(
                "document_info",
                r#"{"document_id": 42, "document_name": "n"}"#,
            ),
            (1831, Some("document_info"), Some("document_id")),
        ),
        (
            "a",
            Form::new().text("document_info", node(&json!({"document_id": "a/b"}))),
            (1831, Some("document_info"), Some("document_id")),
        ),
        (
            "perm-name",
            info_form("perm-name").text("permissions", py(&json!({"document.exprt": true}))),
            (1832, Some("permissions"), Some("document.exprt")),
        ),
        (
            "perm-value",
            info_form("perm-value").text("permissions", node(&json!({"document.edit": "true"}))),
            (1831, Some("permissions"), Some("document.edit")),
        ),
        (
            "retries",
            info_form("retries").text(
                "callback_settings",
                py(&json!({"save_url": "https://h/save", "retries": "2"})),
            ),
            (1831, Some("callback_settings"), Some("retries")),
        ),
        (
            "user-json",
            info_form("user-json").text("user_info", "user_id=1"),
            (1831, Some("user_info"), None),
        ),
        (
            "ui",
            info_form("ui").text("ui_options", node(&json!({"save_button": "maybe"}))),
            (1831, Some("ui_options"), Some("save_button")),
        ),
        (
            "font",
            info_form("font").text("document_defaults", py(&json!({"font_size": "12"}))),
            (1831, Some("document_defaults"), Some("font_size")),
        ),
        (
            "non-utf8",
            info_form("non-utf8").part("user_info", Part::bytes(vec![0xff, 0xfe, b'{'])),
            (1831, Some("user_info"), None),
        ),
        (
            "null-info",
            Form::new().text("document_info", "null"),
            (1831, Some("document_info"), None),
        ),
        (
            "long-name",
            Form::new().text(
                "document_info",
                node(&json!({"document_id": "long-name", "document_name": "x".repeat(256)})),
            ),
            (1831, Some("document_info"), Some("document_name")),
        ),
        (
            "save-url",
            info_form("save-url").text(
                "callback_settings",
                node(&json!({"save_url": "ftp://h/save"})),
            ),
            (1831, Some("callback_settings"), Some("save_url")),
        ),
    ];
    for (document_id, form, expected) in cases {
        assert_rejected(&app, CREATE, form, document_id, expected).await;
    }
    // Ids are limited to 128 URL-safe characters.
    let long_id = "x".repeat(129);
    let form = Form::new().text("document_info", node(&json!({"document_id": long_id})));
    assert_rejected(
        &app,
        CREATE,
        form,
        &long_id,
        (1831, Some("document_info"), Some("document_id")),
    )
    .await;
    let max_id = "y".repeat(128);
    let form = Form::new().text("document_info", node(&json!({"document_id": max_id})));
    assert_eq!(
        app.post_form(CREATE, form).await.assert_ok()["document_id"],
        max_id
    );
}

#[tokio::test]
async fn unsupported_formats_are_1852_on_document() {
    let app = spawn_app().await;
    let cases = [
        ("png-named", file_part(PNG.to_vec(), "image.docx")),
        ("png-buffer", buffer_part(PNG.to_vec())),
        ("xlsx", file_part(blank(Format::Xlsx), "book.xlsx")),
        ("xlsx-buffer", buffer_part(blank(Format::Xlsx))),
        ("pptx", file_part(blank(Format::Pptx), "deck.pptx")),
    ];
    for (document_id, part) in cases {
        let form = info_form(document_id).part("document", part);
        assert_rejected(
            &app,
            CREATE,
            form,
            document_id,
            (1852, Some("document"), None),
        )
        .await;
    }
    let form = info_form("png-preview").part("document", file_part(PNG.to_vec(), "a.png"));
    let before = total_usage(&app).await;
    assert_flat_error(
        &app.post_form(PREVIEW, form).await,
        1852,
        Some("document"),
        None,
    );
    assert_eq!(total_usage(&app).await, before);
}

#[tokio::test]
async fn oversize_upload_is_a_400_the_client_can_read() {
    let app = spawn_app_with(|settings| settings.max_upload = 1024).await;
    let mut big = docx();
    big.resize(4096, 0);
    let form = info_form("too-big").part("document", file_part(big, "big.docx"));
    assert_rejected(
        &app,
        CREATE,
        form,
        "too-big",
        (1831, Some("document"), None),
    )
    .await;
    // Far larger than the limit: still a readable 400, not a reset connection.
    let mut huge = docx();
    huge.resize(4 * 1024 * 1024, 0);
    let form = info_form("huge").part("document", buffer_part(huge));
    assert_rejected(&app, CREATE, form, "huge", (1831, Some("document"), None)).await;
    // The same limit applies to a document fetched by url.
    let mut remote = docx();
    remote.resize(4096, 0);
    let server = serve(vec![("/big.docx", 200, remote)]);
    let form = info_form("too-big-url").text("url", format!("{server}/big.docx"));
    assert_rejected(&app, CREATE, form, "too-big-url", (1831, Some("url"), None)).await;
    // A small upload still works on that server.
    let form = Form::new().text("document_info", node(&json!({"document_id": "small"})));
    app.post_form(CREATE, form).await.assert_ok();
}

#[tokio::test]
async fn expired_sessions_are_1834_and_the_document_id_can_be_reused() {
    let app =
        spawn_app_with(|settings| settings.session_ttl = std::time::Duration::from_secs(1)).await;
    let created = app.writer_create("short", "1").await;
    let sid = s(&created, "session_id").to_string();
    let path = session_path(&sid);
    common::eventually("the session to expire", || async {
        app.get(&path).await.body["code"] == 1834
    })
    .await;
    assert_flat_error(&app.get(&path).await, 1834, Some("session_id"), None);
    app.delete(&path).await.assert_error(1834);
    app.get(&document_path("short")).await.assert_error(1844);
    app.get(&sessions_path("short")).await.assert_error(1844);
    let (status, _) = app.open_page(s(&created, "document_url")).await;
    assert_eq!(status, 404);
    // Reusing the id opens a new document with the new request's content and name.
    let before = total_usage(&app).await;
    let again = app
        .post_form(CREATE, python_create_form("short", "Second life", "2"))
        .await
        .assert_ok()
        .clone();
    assert_eq!(again["document_id"], "short");
    assert_ne!(again["session_id"], created["session_id"]);
    assert_eq!(total_usage(&app).await, before + 1);
    let info = app.get(&document_path("short")).await;
    let info = info.assert_ok();
    assert_eq!(info["document_name"], "Second life");
    assert_eq!(info["active_sessions_count"], 1);
}

#[tokio::test]
async fn get_and_delete_with_content_length_zero_as_the_sdks_send_them() {
    let app = spawn_app().await;
    let created = app.writer_create("cl0", "1").await;
    let sid = s(&created, "session_id");
    let get = app
        .client
        .get(app.url(&session_path(sid)))
        .header("Content-Length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(common::read(get).await.assert_ok()["status"], "inactive");
    // Python's form of the query: no trailing `&`.
    let delete = app
        .client
        .delete(format!(
            "{}{}?apikey={}",
            app.base,
            session_path(sid),
            app.key
        ))
        .header("Content-Length", "0")
        .send()
        .await
        .unwrap();
    assert_eq!(
        common::read(delete).await.assert_ok()["session_deleted"],
        Value::Bool(true)
    );
}

#[tokio::test]
async fn unknown_session_and_document_ids() {
    let app = spawn_app().await;
    let unknown_sid = "ab".repeat(32);
    for response in [
        app.get(&session_path(&unknown_sid)).await,
        app.delete(&session_path(&unknown_sid)).await,
        app.delete(&format!("/writer/officeapi/v1/session/{unknown_sid}"))
            .await,
    ] {
        assert_flat_error(&response, 1833, Some("session_id"), None);
    }
    for response in [
        app.get(&document_path("nope")).await,
        app.get(&sessions_path("nope")).await,
        app.delete(&document_path("nope")).await,
        app.delete("/writer/officeapi/v1/document/nope").await,
    ] {
        assert_flat_error(&response, 1844, Some("document_id"), None);
    }
}

// ---------------------------------------------------------------------------------------------------------
// 10. Apostrophes and non-ASCII
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn apostrophes_become_typographic_and_never_reach_the_wire() {
    let app = spawn_app().await;
    let form = Form::new()
        .text(
            "document_info",
            py(&json!({"document_id": "apos", "document_name": "O'Brien's plan"})),
        )
        .text(
            "user_info",
            py(&json!({"user_id": "o'neil", "display_name": "D'Arcy"})),
        )
        .part("document", file_part(docx(), "it's.docx"));
    let (created, text) = raw(app.client.post(app.url(CREATE)).multipart(form)).await;
    let created = created.assert_ok().clone();
    assert!(apostrophe_free(&text), "{text}");
    let sid = s(&created, "session_id").to_string();

    let (info, text) = raw(app.client.get(app.url(&document_path("apos")))).await;
    assert_eq!(
        info.assert_ok()["document_name"],
        "O\u{2019}Brien\u{2019}s plan"
    );
    assert!(apostrophe_free(&text), "{text}");

    let (meta, text) = raw(app.client.get(app.url(&session_path(&sid)))).await;
    let meta = meta.assert_ok();
    assert_eq!(meta["user_info"]["display_name"], "D\u{2019}Arcy");
    assert_eq!(meta["user_info"]["user_id"], "o\u{2019}neil");
    assert!(apostrophe_free(&text), "{text}");

    let (all, text) = raw(app.client.get(app.url(&sessions_path("apos")))).await;
    assert_eq!(
        all.assert_ok()["document_name"],
        "O\u{2019}Brien\u{2019}s plan"
    );
    assert!(apostrophe_free(&text), "{text}");

    // The default name from an uploaded file name is converted as well.
    let form = Form::new()
        .text("document_info", node(&json!({"document_id": "apos-file"})))
        .part("document", file_part(docx(), "it's.docx"));
    app.post_form(CREATE, form).await.assert_ok();
    let (info, text) = raw(app.client.get(app.url(&document_path("apos-file")))).await;
    assert_eq!(info.assert_ok()["document_name"], "it\u{2019}s.docx");
    assert!(apostrophe_free(&text), "{text}");

    // Errors and deletes.
    for request in [
        app.client.get(app.url(&session_path("nope"))),
        app.client.get(app.url(&document_path("nope"))),
        app.client
            .post(app.url(CREATE))
            .multipart(info_form("apos-png").part("document", buffer_part(PNG.to_vec()))),
        app.client.delete(app.url(&session_path(&sid))),
        app.client.delete(app.url(&document_path("apos"))),
    ] {
        let (_, text) = raw(request).await;
        assert!(apostrophe_free(&text), "{text}");
    }
}

#[tokio::test]
async fn error_bodies_never_echo_an_apostrophe() {
    let app = spawn_app().await;
    let form = info_form("apos-key").text("permissions", node(&json!({"doc's.edit": true})));
    let (response, text) = raw(app.client.post(app.url(CREATE)).multipart(form)).await;
    assert_eq!(response.assert_error(1832)["parameter_name"], "permissions");
    assert!(apostrophe_free(&text), "{text}");
    let form = info_form("apos-key").text("editor_settings", node(&json!({"it's": 3})));
    let (response, text) = raw(app.client.post(app.url(CREATE)).multipart(form)).await;
    response.assert_error(1831);
    assert!(apostrophe_free(&text), "{text}");
}

#[tokio::test]
async fn non_ascii_names_round_trip_exactly() {
    let app = spawn_app().await;
    let name = "Über naïve 文档 😀";
    let display = "Zoë Ⅻ";
    // Python escapes non-ASCII (`\u00dc`, surrogate pairs); Node sends raw UTF-8.
    let python = Form::new()
        .text(
            "document_info",
            py(&json!({"document_id": "utf-py", "document_name": name})),
        )
        .text(
            "user_info",
            py(&json!({"user_id": "1", "display_name": display})),
        );
    assert!(py(&json!(name)).contains("\\u00dc"));
    let node_form = Form::new()
        .text(
            "document_info",
            node(&json!({"document_id": "utf-node", "document_name": name})),
        )
        .text(
            "user_info",
            node(&json!({"user_id": "1", "display_name": display})),
        );
    for (id, form) in [("utf-py", python), ("utf-node", node_form)] {
        let created = app.post_form(CREATE, form).await.assert_ok().clone();
        let info = app.get(&document_path(id)).await;
        assert_eq!(info.assert_ok()["document_name"], name, "{id}");
        let meta = app.get(&session_path(s(&created, "session_id"))).await;
        assert_eq!(
            meta.assert_ok()["user_info"]["display_name"],
            display,
            "{id}"
        );
        let all = app.get(&sessions_path(id)).await;
        let all = all.assert_ok();
        assert_eq!(all["document_name"], name);
        assert_eq!(all["sessions"][0]["user_info"]["display_name"], display);
        let (status, html) = app.open_page(s(&created, "document_url")).await;
        assert_eq!(status, 200);
        assert!(html.contains(name), "{html}");
    }
}
