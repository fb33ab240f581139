mod common;

// Session lifecycle: expiry on access, co-editing after expiry, document lifetime, the purge, usage counting,
// usage limits, key isolation and revoked keys.

use std::time::Duration;

use common::{blank, db, file_part, TestApp, TestDb};
use docsession::domain::ids::{hash_api_key, new_session_id};
use docsession::domain::params::{SessionSettings, UserInfo};
use docsession::domain::time::{billing_cycle, iso, now_ms};
use docsession::domain::{DocumentType, Editor, Format, SessionKind};
use docsession::jobs::purge::{purge_expired, PurgeReport};
use docsession::store::{Content, NewSession, OpenOutcome, OpenRequest, UsageFilter, UsagePeriod};
use reqwest::multipart::Form;
use serde_json::Value;

const HOUR: Duration = Duration::from_secs(3600);

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

async fn scalar(pool: &TestDb, sql: &str) -> i64 {
    pool.scalar(sql).await
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rows {
    documents: i64,
    contents: i64,
    sessions: i64,
    usage: i64,
}

/// Row counts; also checks that the day rollup counts every usage event once.
async fn rows(pool: &TestDb) -> Rows {
    let usage = scalar(pool, "SELECT COUNT(*) FROM usage_events").await;
    let rolled_up = scalar(
        pool,
        "SELECT CAST(COALESCE(SUM(opens), 0) AS BIGINT) FROM usage_counts",
    )
    .await;
    assert_eq!(
        rolled_up, usage,
        "the usage rollup must match the usage events"
    );
    Rows {
        documents: scalar(pool, "SELECT COUNT(*) FROM documents").await,
        contents: scalar(pool, "SELECT COUNT(*) FROM document_contents").await,
        sessions: scalar(pool, "SELECT COUNT(*) FROM sessions").await,
        usage,
    }
}

async fn key_id(app: &TestApp, key: &str) -> i64 {
    app.store
        .find_api_key(&hash_api_key(key))
        .await
        .expect("key lookup")
        .expect("key exists")
        .id
}

/// Usage rows billed to one key.
async fn usage_rows(pool: &TestDb, key_id: i64) -> i64 {
    pool.scalar_for(
        "SELECT COUNT(*) FROM usage_events WHERE api_key_id = $1",
        key_id,
    )
    .await
}

/// Sessions (of any state) whose document belongs to one key.
async fn session_rows(pool: &TestDb, key_id: i64) -> i64 {
    pool.scalar_for(
        "SELECT COUNT(*) FROM sessions s JOIN documents d ON d.id = s.document_pk WHERE d.api_key_id = $1",
        key_id,
    )
    .await
}

async fn plan(app: &TestApp, key: &str) -> Value {
    app.get_with_key("/api/v1/plan", key)
        .await
        .assert_ok()
        .clone()
}

async fn total_usage(app: &TestApp, key: &str) -> i64 {
    plan(app, key).await["total_usage"]
        .as_i64()
        .expect("total_usage is a number")
}

fn writer_form(document_id: &str, name: &str, user_id: &str) -> Form {
    Form::new()
        .text(
            "document_info",
            format!(r#"{{"document_id": "{document_id}", "document_name": "{name}"}}"#),
        )
        .text(
            "user_info",
            format!(r#"{{"user_id": "{user_id}", "display_name": "User {user_id}"}}"#),
        )
}

fn user_form(user_id: &str) -> Form {
    Form::new().text("user_info", format!(r#"{{"user_id": "{user_id}"}}"#))
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {value}"))
}

fn i64_of(value: &Value, key: &str) -> i64 {
    value[key]
        .as_i64()
        .unwrap_or_else(|| panic!("{key} is not an integer in {value}"))
}

/// Session info of a Writer session.
async fn session_info(app: &TestApp, sid: &str) -> Value {
    app.get(&format!("/writer/officeapi/v1/sessions/{sid}"))
        .await
        .assert_ok()
        .clone()
}

/// Waits, polling the clock (bounded by `eventually`), until `ms` is in the past.
async fn wait_until_past(what: &str, ms: i64) {
    common::eventually(what, move || async move { now_ms() > ms }).await;
}

/// An open written straight through the store, as the server would write it, with the given times.
fn stored_open(
    api_key_id: i64,
    document_id: &str,
    content: Option<&[u8]>,
    now: i64,
    expires_at: i64,
) -> OpenRequest {
    OpenRequest {
        api_key_id,
        editor: Editor::Writer,
        document_type: DocumentType::Document,
        document_id: document_id.to_string(),
        document_name: format!("Stored {document_id}"),
        content: content.map(|bytes| {
            vec![Content {
                part: "main".to_string(),
                format: Format::Txt,
                filename: None,
                bytes: bytes.to_vec(),
            }]
        }),
        session: NewSession {
            session_id: new_session_id(),
            kind: SessionKind::Edit,
            user: UserInfo::default(),
            settings: SessionSettings::default(),
        },
        now,
        expires_at,
        allowance: None,
    }
}

async fn store_open(app: &TestApp, request: OpenRequest) -> bool {
    match app.store.open(request).await.expect("store open") {
        OpenOutcome::Opened { joined, .. } => joined,
        other => panic!("store open did not open: {other:?}"),
    }
}

/// Status and exact body bytes, for comparing error answers byte for byte.
async fn raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    key: &str,
) -> (u16, String, String) {
    let response = app
        .client
        .request(method, app.url_with_key(path, key))
        .send()
        .await
        .expect("request");
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, content_type, response.text().await.expect("body"))
}

// ---------------------------------------------------------------------------------------------------------
// 1. Expiry on access
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn expired_sessions_and_documents_are_refused_on_access_before_any_purge() {
    let app = common::spawn_app_with(|s| {
        s.session_ttl = Duration::from_secs(1);
        s.purge_interval = Some(HOUR);
    })
    .await;
    let other = app.create_key("other", None).await;
    let pool = db(&app).await;

    let created = app.writer_create("exp-1", "1000").await;
    let sid = str_of(&created, "session_id").to_string();
    let document_url = str_of(&created, "document_url").to_string();
    let sheet = app
        .post_form("/sheet/officeapi/v1/spreadsheet", user_form("1000"))
        .await
        .assert_ok()
        .clone();
    let sheet_sid = str_of(&sheet, "session_id").to_string();

    // Live: everything answers.
    let info = session_info(&app, &sid).await;
    let expires = i64_of(&info["info"], "expires_on_ms");
    app.get(&format!("/sheet/officeapi/v1/sessions/{sheet_sid}"))
        .await
        .assert_ok();
    app.get("/writer/officeapi/v1/documents/exp-1")
        .await
        .assert_ok();
    let sheet_info = app
        .get(&format!("/sheet/officeapi/v1/sessions/{sheet_sid}"))
        .await
        .assert_ok()
        .clone();
    let expires = expires.max(i64_of(&sheet_info["info"], "expires_on_ms"));

    wait_until_past("both sessions to expire", expires).await;
    let before = rows(&pool).await;

    app.get(&format!("/writer/officeapi/v1/sessions/{sid}"))
        .await
        .assert_error(1834);
    app.get(&format!("/sheet/officeapi/v1/sessions/{sheet_sid}"))
        .await
        .assert_error(1834);
    // Another key learns nothing, not even that the session expired.
    app.get_with_key(&format!("/writer/officeapi/v1/sessions/{sid}"), &other)
        .await
        .assert_error(1833);

    app.delete(&format!("/writer/officeapi/v1/sessions/{sid}"))
        .await
        .assert_error(1834);
    app.delete(&format!("/sheet/officeapi/v1/session/{sheet_sid}"))
        .await
        .assert_error(1834);

    let (status, html) = app.open_page(&document_url).await;
    assert_ne!(status, 200, "an expired session page must not be served");
    assert!(html.to_lowercase().contains("ended"), "{html}");

    app.get("/writer/officeapi/v1/documents/exp-1")
        .await
        .assert_error(1844);
    app.get("/writer/officeapi/v1/documents/exp-1/sessions")
        .await
        .assert_error(1844);
    app.delete("/writer/officeapi/v1/documents/exp-1")
        .await
        .assert_error(1844);

    // All of it without the purge: the rows are still there, untouched.
    let after = rows(&pool).await;
    assert_eq!(after, before);
    assert_eq!(
        after,
        Rows {
            documents: 2,
            contents: 2,
            sessions: 2,
            usage: 2
        }
    );
    let status = pool
        .texts_for("SELECT status FROM sessions WHERE session_id = $1", &sid)
        .await;
    assert_eq!(
        status,
        ["inactive"],
        "opening an expired page must not activate it"
    );
}

// ---------------------------------------------------------------------------------------------------------
// 2. Co-edit after expiry
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_co_edit_after_the_document_expired_creates_a_new_document() {
    let app = common::spawn_app_with(|s| {
        s.session_ttl = Duration::from_secs(1);
        s.purge_interval = Some(HOUR);
    })
    .await;
    let pool = db(&app).await;
    let key = key_id(&app, &app.key).await;

    let first = app
        .post_form(
            "/writer/officeapi/v1/documents",
            writer_form("again", "First", "1000").part(
                "document",
                file_part(b"first version".to_vec(), "first.txt"),
            ),
        )
        .await
        .assert_ok()
        .clone();
    let first_sid = str_of(&first, "session_id").to_string();
    let first_doc = app
        .get("/writer/officeapi/v1/documents/again")
        .await
        .assert_ok()
        .clone();
    assert_eq!(first_doc["document_name"], "First");
    let first_created = i64_of(&first_doc, "created_time_ms");
    wait_until_past(
        "the first document to expire",
        i64_of(&first_doc, "expires_on_ms"),
    )
    .await;
    app.get("/writer/officeapi/v1/documents/again")
        .await
        .assert_error(1844);

    let second = app
        .post_form(
            "/writer/officeapi/v1/documents",
            writer_form("again", "Second", "2000").part(
                "document",
                file_part(b"second version".to_vec(), "second.txt"),
            ),
        )
        .await
        .assert_ok()
        .clone();
    assert_eq!(second["document_id"], "again");
    let second_sid = str_of(&second, "session_id").to_string();
    assert_ne!(second_sid, first_sid);

    let doc = app
        .get("/writer/officeapi/v1/documents/again/sessions")
        .await
        .assert_ok()
        .clone();
    assert_eq!(doc["document_name"], "Second", "{doc}");
    assert!(
        i64_of(&doc, "created_time_ms") > first_created,
        "the new document must have a newer created_time: {doc}"
    );
    assert_eq!(doc["active_sessions_count"], 1, "{doc}");
    let sessions = doc["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "{doc}");
    assert_eq!(sessions[0]["user_info"]["user_id"], "2000");
    assert!(str_of(&sessions[0]["info"], "session_url").contains(&second_sid));

    // The new upload is the content, not the old one.
    let document = app
        .store
        .find_document(key, Editor::Writer, "again")
        .await
        .expect("find")
        .expect("document");
    let contents = app.store.contents(document.pk).await.expect("contents");
    assert_eq!(contents.len(), 1);
    assert_eq!(contents[0].bytes, b"second version");

    // One document row for the id; the second open is billed as an edit, not a co-edit.
    assert_eq!(
        scalar(
            &pool,
            "SELECT COUNT(*) FROM documents WHERE document_id = 'again'"
        )
        .await,
        1
    );
    let operations = pool
        .texts("SELECT operation FROM usage_events ORDER BY id")
        .await;
    assert_eq!(operations, ["edit", "edit"]);
    // The old session stays unusable.
    let old = app
        .get(&format!("/writer/officeapi/v1/sessions/{first_sid}"))
        .await;
    assert_eq!(old.status, 400);
    assert!(
        matches!(old.body["code"].as_u64(), Some(1833 | 1834)),
        "{:?}",
        old.body
    );
}

// ---------------------------------------------------------------------------------------------------------
// 3. Document lifetime
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_document_lives_until_its_latest_session_expires() {
    let app = common::spawn_app_with(|s| {
        s.session_ttl = Duration::from_secs(6);
        s.purge_interval = Some(HOUR);
    })
    .await;

    let a = app.writer_create("life", "1000").await;
    let a_sid = str_of(&a, "session_id").to_string();
    let a_info = session_info(&app, &a_sid).await;
    let a_created = i64_of(&a_info["info"], "created_time_ms");
    let a_expires = i64_of(&a_info["info"], "expires_on_ms");

    wait_until_past("three seconds to pass", a_created + 3000).await;
    let b = app.writer_create("life", "2000").await;
    assert_eq!(b["document_id"], "life");
    let b_sid = str_of(&b, "session_id").to_string();
    let b_info = session_info(&app, &b_sid).await;
    let b_expires = i64_of(&b_info["info"], "expires_on_ms");
    assert!(b_expires > a_expires);

    let doc = app
        .get("/writer/officeapi/v1/documents/life")
        .await
        .assert_ok()
        .clone();
    assert_eq!(i64_of(&doc, "expires_on_ms"), b_expires, "{doc}");
    assert_eq!(doc["active_sessions_count"], 2, "{doc}");

    wait_until_past("session A to expire", a_expires).await;
    app.get(&format!("/writer/officeapi/v1/sessions/{a_sid}"))
        .await
        .assert_error(1834);
    let doc = app
        .get("/writer/officeapi/v1/documents/life")
        .await
        .assert_ok()
        .clone();
    assert_eq!(i64_of(&doc, "expires_on_ms"), b_expires, "{doc}");
    assert_eq!(doc["active_sessions_count"], 1, "{doc}");
    let all = app
        .get("/writer/officeapi/v1/documents/life/sessions")
        .await
        .assert_ok()
        .clone();
    let sessions = all["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "{all}");
    assert_eq!(sessions[0]["user_info"]["user_id"], "2000");
    assert!(str_of(&sessions[0]["info"], "session_url").contains(&b_sid));
    session_info(&app, &b_sid).await;

    wait_until_past("session B to expire", b_expires).await;
    app.get("/writer/officeapi/v1/documents/life")
        .await
        .assert_error(1844);
    app.get("/writer/officeapi/v1/documents/life/sessions")
        .await
        .assert_error(1844);
}

// ---------------------------------------------------------------------------------------------------------
// 4. Purge
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn purge_deletes_expired_sessions_documents_and_content_but_never_usage() {
    // Default TTL (6 h): what is opened over HTTP stays live. The start-up purge fixed its cutoff before
    // spawn_app returned, so rows expiring after now are out of its reach.
    let app = common::spawn_app().await;
    let pool = db(&app).await;
    let key = key_id(&app, &app.key).await;

    let live_1 = app.writer_create("live-1", "1000").await;
    let live_1_sid = str_of(&live_1, "session_id").to_string();
    let live_2a = app.writer_create("live-2", "1000").await;
    let live_2b = app.writer_create("live-2", "2000").await;

    let now = now_ms();
    let soon = now + 1;
    // An expired session on a live document: the document and its content stay.
    let joined_live_sid = {
        let request = stored_open(key, "live-1", None, now, soon);
        let session_id = request.session.session_id.clone();
        assert!(store_open(&app, request).await, "joins the live document");
        session_id
    };
    // Three expired documents, one of them with two sessions.
    for id in ["gone-1", "gone-2", "gone-3"] {
        assert!(!store_open(&app, stored_open(key, id, Some(b"old"), now, soon)).await);
    }
    assert!(store_open(&app, stored_open(key, "gone-1", None, now, soon)).await);
    wait_until_past("the stored opens to expire", soon).await;

    let before = rows(&pool).await;
    assert_eq!(
        before,
        Rows {
            documents: 5,
            contents: 5,
            sessions: 8,
            usage: 8
        }
    );
    let report = purge_expired(app.store.as_ref()).await.expect("purge");
    assert_eq!(
        report,
        PurgeReport {
            sessions: 5,
            documents: 3
        }
    );
    let after = rows(&pool).await;
    assert_eq!(
        after,
        Rows {
            documents: before.documents - 3,
            contents: before.contents - 3,
            sessions: before.sessions - 5,
            usage: before.usage
        }
    );
    let left = pool
        .texts("SELECT document_id FROM documents ORDER BY document_id")
        .await;
    assert_eq!(left, ["live-1", "live-2"]);
    let stale = scalar(
        &pool,
        &format!("SELECT COUNT(*) FROM sessions WHERE expires_at <= {soon}"),
    )
    .await;
    assert_eq!(stale, 0);
    assert_eq!(
        app.store
            .find_session(&joined_live_sid)
            .await
            .expect("find"),
        None
    );

    // The live ones still work.
    for sid in [
        live_1_sid.as_str(),
        str_of(&live_2a, "session_id"),
        str_of(&live_2b, "session_id"),
    ] {
        session_info(&app, sid).await;
    }
    let doc = app
        .get("/writer/officeapi/v1/documents/live-1")
        .await
        .assert_ok()
        .clone();
    assert_eq!(doc["active_sessions_count"], 1);
    let live_doc = app
        .store
        .find_document(key, Editor::Writer, "live-1")
        .await
        .expect("find")
        .expect("live document");
    assert_eq!(
        app.store
            .contents(live_doc.pk)
            .await
            .expect("contents")
            .len(),
        1
    );
    assert_eq!(total_usage(&app, &app.key).await, 8);

    // A second run finds nothing.
    assert_eq!(
        purge_expired(app.store.as_ref()).await.expect("purge"),
        PurgeReport::default()
    );
    assert_eq!(rows(&pool).await, after);
}

#[tokio::test]
async fn the_scheduled_purge_removes_expired_rows_and_keeps_live_ones_and_usage() {
    let app = common::spawn_app_with(|s| {
        s.session_ttl = Duration::from_secs(1);
        s.purge_interval = Some(Duration::from_secs(1));
    })
    .await;
    let pool = db(&app).await;
    let key = key_id(&app, &app.key).await;

    app.writer_create("short-1", "1000").await;
    app.writer_create("short-1", "2000").await;
    app.writer_create("short-2", "1000").await;
    app.post_form("/sheet/officeapi/v1/spreadsheet", user_form("1000"))
        .await
        .assert_ok();
    // One document that lives for an hour.
    let now = now_ms();
    assert!(
        !store_open(
            &app,
            stored_open(key, "long", Some(b"kept"), now, now + 3_600_000)
        )
        .await
    );
    let usage = rows(&pool).await.usage;
    assert_eq!(usage, 5);

    let pool_ref = &pool;
    common::eventually(
        "the scheduled purge to remove the expired rows",
        move || async move {
            let now = rows(pool_ref).await;
            now.sessions == 1 && now.documents == 1 && now.contents == 1
        },
    )
    .await;
    assert_eq!(
        rows(&pool).await.usage,
        usage,
        "usage rows are never purged"
    );
    let doc = app
        .get("/writer/officeapi/v1/documents/long")
        .await
        .assert_ok()
        .clone();
    assert_eq!(doc["active_sessions_count"], 1);
    assert_eq!(total_usage(&app, &app.key).await, 5);
}

#[tokio::test]
async fn with_the_scheduled_purge_off_expired_rows_wait_for_an_explicit_purge() {
    let app = common::spawn_app_with(|s| {
        s.session_ttl = Duration::from_secs(1);
        s.purge_interval = None;
    })
    .await;
    let pool = db(&app).await;
    let sid = str_of(&app.writer_create("off-1", "1000").await, "session_id").to_string();
    let created = rows(&pool).await;
    wait_until_past("the session to expire", now_ms() + 1_000).await;
    // Still refused on access, though nothing purged it.
    app.get(&format!("/writer/officeapi/v1/sessions/{sid}"))
        .await
        .assert_error(1834);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(rows(&pool).await, created, "no scheduled purge ran");
    assert_eq!(
        purge_expired(app.store.as_ref()).await.expect("purge"),
        PurgeReport {
            sessions: 1,
            documents: 1
        }
    );
}

#[tokio::test]
async fn purge_works_through_more_than_one_batch() {
    const EXPIRED: i64 = 1_500;
    let app = common::spawn_app().await;
    let pool = db(&app).await;
    let key = key_id(&app, &app.key).await;

    app.writer_create("survivor", "1000").await;
    let now = now_ms();
    let soon = now + 1;
    for i in 0..EXPIRED {
        let id = format!("bulk-{i}");
        assert!(!store_open(&app, stored_open(key, &id, Some(b"x"), now, soon)).await);
    }
    wait_until_past("the bulk opens to expire", soon).await;
    assert_eq!(
        rows(&pool).await,
        Rows {
            documents: EXPIRED + 1,
            contents: EXPIRED + 1,
            sessions: EXPIRED + 1,
            usage: EXPIRED + 1
        }
    );

    let report = purge_expired(app.store.as_ref()).await.expect("purge");
    assert_eq!(
        report,
        PurgeReport {
            sessions: EXPIRED as u64,
            documents: EXPIRED as u64
        }
    );
    assert_eq!(
        rows(&pool).await,
        Rows {
            documents: 1,
            contents: 1,
            sessions: 1,
            usage: EXPIRED + 1
        }
    );
    app.get("/writer/officeapi/v1/documents/survivor")
        .await
        .assert_ok();
}

// ---------------------------------------------------------------------------------------------------------
// 5. Usage counting and plan details
// ---------------------------------------------------------------------------------------------------------

/// Asserts a successful open and that it added exactly one to the key's usage.
async fn opens_one(app: &TestApp, pool: &TestDb, what: &str, path: &str, form: Form) -> Value {
    let before = total_usage(app, &app.key).await;
    let rows_before = rows(pool).await;
    let body = app.post_form(path, form).await;
    let body = body.assert_ok().clone();
    assert_eq!(
        total_usage(app, &app.key).await,
        before + 1,
        "{what} must count as exactly one API call"
    );
    assert_eq!(rows(pool).await.usage, rows_before.usage + 1, "{what}");
    assert_eq!(
        rows(pool).await.sessions,
        rows_before.sessions + 1,
        "{what}"
    );
    body
}

/// Asserts that `what` left usage and every row count unchanged.
async fn costs_nothing(app: &TestApp, pool: &TestDb, what: &str, before: (i64, Rows)) {
    assert_eq!(
        total_usage(app, &app.key).await,
        before.0,
        "{what} must not count as an API call"
    );
    assert_eq!(rows(pool).await.usage, before.1.usage, "{what}");
}

async fn snapshot(app: &TestApp, pool: &TestDb) -> (i64, Rows) {
    (total_usage(app, &app.key).await, rows(pool).await)
}

#[tokio::test]
async fn every_successful_open_counts_once_and_nothing_else_counts() {
    let app = common::spawn_app().await;
    let pool = db(&app).await;
    assert_eq!(total_usage(&app, &app.key).await, 0);

    let created = opens_one(
        &app,
        &pool,
        "writer create",
        "/writer/officeapi/v1/documents",
        writer_form("usage-1", "Usage", "1000"),
    )
    .await;
    let sid = str_of(&created, "session_id").to_string();
    let coedit = opens_one(
        &app,
        &pool,
        "writer co-edit",
        "/writer/officeapi/v1/documents",
        writer_form("usage-1", "Usage", "2000"),
    )
    .await;
    assert_eq!(coedit["document_id"], "usage-1");
    let coedit_sid = str_of(&coedit, "session_id").to_string();
    opens_one(
        &app,
        &pool,
        "writer preview",
        "/writer/officeapi/v1/document/preview",
        Form::new().part("document", file_part(b"preview me".to_vec(), "p.txt")),
    )
    .await;
    opens_one(
        &app,
        &pool,
        "writer compare",
        "/writer/officeapi/v1/document/compare",
        Form::new()
            .part("document1", file_part(b"old text".to_vec(), "old.txt"))
            .part("document2", file_part(b"new text".to_vec(), "new.txt")),
    )
    .await;
    opens_one(
        &app,
        &pool,
        "merge template",
        "/writer/officeapi/v1/templates",
        user_form("1000"),
    )
    .await;
    opens_one(
        &app,
        &pool,
        "fillable template",
        "/writer/officeapi/v1/fillabletemplates",
        user_form("1000"),
    )
    .await;
    let sheet = opens_one(
        &app,
        &pool,
        "sheet create",
        "/sheet/officeapi/v1/spreadsheet",
        user_form("1000"),
    )
    .await;
    opens_one(
        &app,
        &pool,
        "sheet preview",
        "/sheet/officeapi/v1/spreadsheet/preview",
        Form::new().part("document", file_part(blank(Format::Xlsx), "s.xlsx")),
    )
    .await;
    opens_one(
        &app,
        &pool,
        "show create",
        "/show/officeapi/v1/presentation",
        user_form("1000"),
    )
    .await;
    opens_one(
        &app,
        &pool,
        "show preview",
        "/show/officeapi/v1/presentation/preview",
        Form::new().part("document", file_part(blank(Format::Pptx), "p.pptx")),
    )
    .await;
    opens_one(
        &app,
        &pool,
        "pdf create",
        "/pdfeditor/officeapi/v1/pdf",
        user_form("1000"),
    )
    .await;
    assert_eq!(total_usage(&app, &app.key).await, 11);

    // Reads, page views and deletes are free.
    let before = snapshot(&app, &pool).await;
    session_info(&app, &sid).await;
    costs_nothing(&app, &pool, "session info", before).await;
    app.get("/writer/officeapi/v1/documents/usage-1")
        .await
        .assert_ok();
    costs_nothing(&app, &pool, "document info", before).await;
    app.get("/writer/officeapi/v1/documents/usage-1/sessions")
        .await
        .assert_ok();
    costs_nothing(&app, &pool, "all sessions", before).await;
    let (status, _) = app.open_page(str_of(&created, "document_url")).await;
    assert_eq!(status, 200);
    let (status, _) = app.open_page(str_of(&sheet, "document_url")).await;
    assert_eq!(status, 200);
    costs_nothing(&app, &pool, "opening session pages", before).await;
    plan(&app, &app.key).await;
    costs_nothing(&app, &pool, "plan details", before).await;
    app.delete(&format!("/writer/officeapi/v1/sessions/{coedit_sid}"))
        .await
        .assert_ok();
    costs_nothing(&app, &pool, "delete session", before).await;
    app.delete("/writer/officeapi/v1/documents/usage-1")
        .await
        .assert_ok();
    costs_nothing(&app, &pool, "delete document", before).await;
    app.get(&format!("/writer/officeapi/v1/sessions/{sid}"))
        .await
        .assert_error(1833);

    // Rejected opens cost nothing and write nothing.
    let before = snapshot(&app, &pool).await;
    app.post_form(
        "/writer/officeapi/v1/documents",
        Form::new().text("document_info", "{not json"),
    )
    .await
    .assert_error(1831);
    app.post_form(
        "/writer/officeapi/v1/documents",
        writer_form("rejected", "Rejected", "1000")
            .part("document", file_part(blank(Format::Xlsx), "sheet.xlsx")),
    )
    .await
    .assert_error(1852);
    app.post_form(
        "/sheet/officeapi/v1/spreadsheet",
        Form::new().part("document", file_part(blank(Format::Docx), "doc.docx")),
    )
    .await
    .assert_error(2842);
    app.post_form("/writer/officeapi/v1/document/preview", user_form("1000"))
        .await
        .assert_error(1837);
    costs_nothing(&app, &pool, "rejected opens", before).await;
    assert_eq!(rows(&pool).await, before.1, "rejected opens write no rows");
    app.get("/writer/officeapi/v1/documents/rejected")
        .await
        .assert_error(1844);
}

fn assert_plan_shape(plan: &Value) {
    for key in [
        "plan_name",
        "payment_link",
        "subscription_interval",
        "subscription_period",
        "apikey_generated_time",
        "last_payment_date",
        "next_payment_date",
    ] {
        assert!(plan[key].is_string(), "{key} must be a string: {plan}");
    }
    for key in [
        "usage_limit",
        "remaining_usage_limit",
        "total_usage",
        "apikey_id",
        "apikey_generated_time_ms",
        "last_payment_date_ms",
        "next_payment_date_ms",
    ] {
        assert!(plan[key].is_i64(), "{key} must be an integer: {plan}");
    }
    assert!(!str_of(plan, "plan_name").is_empty());
    assert!(
        ["monthly", "yearly"].contains(&str_of(plan, "subscription_interval").trim()),
        "{plan}"
    );
    assert!(i64_of(plan, "apikey_id").unsigned_abs() <= 1 << 53);
    assert!(i64_of(plan, "next_payment_date_ms") > i64_of(plan, "last_payment_date_ms"));
}

#[tokio::test]
async fn plan_details_have_every_key_and_report_unlimited_as_minus_one() {
    let app = common::spawn_app().await;
    let unlimited = plan(&app, &app.key).await;
    assert_plan_shape(&unlimited);
    assert_eq!(unlimited["usage_limit"], -1);
    assert_eq!(unlimited["total_usage"], 0);

    let limited_key = app.create_key("limited", Some(50)).await;
    app.post_form_with_key(
        "/writer/officeapi/v1/documents",
        user_form("1000"),
        &limited_key,
    )
    .await
    .assert_ok();
    let limited = plan(&app, &limited_key).await;
    assert_plan_shape(&limited);
    assert_eq!(limited["usage_limit"], 50);
    assert_eq!(limited["total_usage"], 1);
    assert_eq!(limited["remaining_usage_limit"], 49);
    assert_ne!(limited["apikey_id"], unlimited["apikey_id"]);
    // The other key's usage is its own.
    assert_eq!(plan(&app, &app.key).await["total_usage"], 0);
}

#[tokio::test]
async fn opens_of_an_earlier_month_are_reported_but_not_billed_in_this_cycle() {
    let app = common::spawn_app().await;
    let key = key_id(&app, &app.key).await;
    let (cycle_start, _) = billing_cycle(now_ms());
    let last_month = cycle_start - 3_600_000;
    assert!(
        !store_open(
            &app,
            stored_open(key, "last-month", Some(b"old"), last_month, last_month + 1)
        )
        .await
    );
    app.writer_create("this-month", "1000").await;
    app.writer_create("this-month-too", "1000").await;

    assert_eq!(total_usage(&app, &app.key).await, 2);
    let months: Vec<(String, i64)> = app
        .store
        .usage_report(UsagePeriod::Month, &UsageFilter::default())
        .await
        .expect("usage report")
        .into_iter()
        .map(|row| (row.period, row.opens))
        .collect();
    assert_eq!(
        months,
        [
            (iso(last_month)[..7].to_string(), 1),
            (iso(cycle_start)[..7].to_string(), 2)
        ]
    );
    let days = app
        .store
        .usage_report(UsagePeriod::Day, &UsageFilter::default())
        .await
        .expect("usage report");
    assert_eq!(days[0].period, iso(last_month)[..10]);
    assert_eq!(days.iter().map(|row| row.opens).sum::<i64>(), 3);
    rows(&db(&app).await).await;

    // Filtered: this month only, one key only.
    let other = app.create_key("other", None).await;
    app.post_form_with_key("/writer/officeapi/v1/documents", user_form("1"), &other)
        .await
        .assert_ok();
    let report = |filter: UsageFilter| {
        let store = app.store.clone();
        async move {
            store
                .usage_report(UsagePeriod::Month, &filter)
                .await
                .expect("usage report")
                .into_iter()
                .map(|row| (row.key_name, row.opens))
                .collect::<Vec<_>>()
        }
    };
    let this_month = UsageFilter {
        api_key_id: None,
        since_day: cycle_start,
    };
    assert_eq!(
        report(this_month).await,
        [("test".to_string(), 2), ("other".to_string(), 1)]
    );
    let one_key = UsageFilter {
        api_key_id: Some(key),
        since_day: 0,
    };
    assert_eq!(
        report(one_key).await,
        [("test".to_string(), 1), ("test".to_string(), 2)]
    );
}

#[tokio::test]
async fn an_open_that_fails_leaves_no_partial_rows_and_takes_no_other_open_down() {
    let app = common::spawn_app().await;
    let pool = db(&app).await;
    let key = key_id(&app, &app.key).await;
    let before = rows(&pool).await;
    let now = now_ms();
    let first = stored_open(key, "fail-a", Some(b"a"), now, now + 3_600_000);
    // The same session id again: its session insert fails after its document and content were written.
    let mut clash = stored_open(key, "fail-b", Some(b"b"), now, now + 3_600_000);
    clash.session.session_id = first.session.session_id.clone();
    // Sent together, so that on SQLite both land in one group commit.
    let (first, clash) = tokio::join!(app.store.open(first), app.store.open(clash));
    let outcomes = [first, clash];
    assert_eq!(
        outcomes.iter().filter(|outcome| outcome.is_ok()).count(),
        1,
        "{outcomes:?}"
    );
    let after = rows(&pool).await;
    assert_eq!(
        after,
        Rows {
            documents: before.documents + 1,
            contents: before.contents + 1,
            sessions: before.sessions + 1,
            usage: before.usage + 1,
        }
    );
}

// ---------------------------------------------------------------------------------------------------------
// 6. Usage limit
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn opens_past_the_limit_plus_ten_percent_are_refused_and_write_nothing() {
    let app = common::spawn_app().await;
    let pool = db(&app).await;
    let key = app.create_key("limited", Some(10)).await;
    let id = key_id(&app, &key).await;

    for i in 0..11 {
        app.post_form_with_key(
            "/writer/officeapi/v1/documents",
            writer_form(&format!("lim-{i}"), "Limited", "1000"),
            &key,
        )
        .await
        .assert_ok();
    }
    let full = plan(&app, &key).await;
    assert_eq!(full["usage_limit"], 10);
    assert_eq!(full["total_usage"], 11);
    assert_eq!(full["remaining_usage_limit"], 0);

    let before = rows(&pool).await;
    app.post_form_with_key(
        "/writer/officeapi/v1/documents",
        writer_form("lim-11", "Limited", "1000"),
        &key,
    )
    .await
    .assert_error(1845);
    // A co-edit of a live document is an open too.
    app.post_form_with_key(
        "/writer/officeapi/v1/documents",
        writer_form("lim-0", "Limited", "2000"),
        &key,
    )
    .await
    .assert_error(1845);
    app.post_form_with_key(
        "/writer/officeapi/v1/document/preview",
        Form::new().part("document", file_part(b"text".to_vec(), "a.txt")),
        &key,
    )
    .await
    .assert_error(1845);
    app.post_form_with_key("/sheet/officeapi/v1/spreadsheet", user_form("1000"), &key)
        .await
        .assert_error(2893);
    app.post_form_with_key("/show/officeapi/v1/presentation", user_form("1000"), &key)
        .await
        .assert_error(3893);
    app.post_form_with_key("/pdfeditor/officeapi/v1/pdf", user_form("1000"), &key)
        .await
        .assert_error(1845);

    assert_eq!(rows(&pool).await, before, "refused opens write nothing");
    assert_eq!(usage_rows(&pool, id).await, 11);
    assert_eq!(session_rows(&pool, id).await, 11);
    let after = plan(&app, &key).await;
    assert_eq!(after["usage_limit"], 10);
    assert_eq!(after["total_usage"], 11);
    assert_eq!(after["remaining_usage_limit"], 0);
    app.get_with_key("/writer/officeapi/v1/documents/lim-11", &key)
        .await
        .assert_error(1844);
    // Reads still work for a key past its limit, and other keys are unaffected.
    app.get_with_key("/writer/officeapi/v1/documents/lim-0", &key)
        .await
        .assert_ok();
    app.writer_create("unaffected", "1000").await;
}

#[tokio::test]
async fn concurrent_opens_never_exceed_the_allowance() {
    let app = common::spawn_app().await;
    let pool = db(&app).await;
    let key = app.create_key("racing", Some(20)).await;
    let id = key_id(&app, &key).await;

    let attempts = (0..40).map(|i| {
        let app = &app;
        let key = &key;
        async move {
            app.post_form_with_key(
                "/writer/officeapi/v1/documents",
                writer_form(&format!("race-{i}"), "Race", "1000"),
                key,
            )
            .await
        }
    });
    let responses = futures_util::future::join_all(attempts).await;
    let mut opened = 0;
    let mut refused = 0;
    for response in &responses {
        if response.status == 200 {
            opened += 1;
        } else {
            response.assert_error(1845);
            refused += 1;
        }
    }
    assert_eq!((opened, refused), (22, 18));
    assert_eq!(usage_rows(&pool, id).await, 22);
    assert_eq!(session_rows(&pool, id).await, 22);
    assert_eq!(scalar(&pool, "SELECT COUNT(*) FROM documents").await, 22);
    let details = plan(&app, &key).await;
    assert_eq!(details["total_usage"], 22);
    assert_eq!(details["remaining_usage_limit"], 0);
}

// ---------------------------------------------------------------------------------------------------------
// 7. Key isolation
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn another_key_can_neither_see_nor_touch_a_session_or_document() {
    let app = common::spawn_app().await;
    let pool = db(&app).await;
    let b = app.create_key("b", None).await;

    let created = app.writer_create("shared", "1000").await;
    let a_sid = str_of(&created, "session_id").to_string();
    let missing_sid = new_session_id();

    use reqwest::Method;
    let same_as_missing = |method: Method, existing: String, missing: String, code: u64| {
        let app = &app;
        let b = &b;
        async move {
            let seen = raw(app, method.clone(), &existing, b).await;
            let unknown = raw(app, method.clone(), &missing, b).await;
            assert_eq!(seen.0, 400, "{method} {existing}: {}", seen.2);
            assert!(seen.1.starts_with("application/json"));
            let body: Value = serde_json::from_str(&seen.2).expect("JSON error");
            assert_eq!(
                body["code"].as_u64(),
                Some(code),
                "{method} {existing}: {body}"
            );
            assert_eq!(
                seen, unknown,
                "{method} {existing} must answer exactly as for something that does not exist"
            );
        }
    };
    same_as_missing(
        Method::GET,
        format!("/writer/officeapi/v1/sessions/{a_sid}"),
        format!("/writer/officeapi/v1/sessions/{missing_sid}"),
        1833,
    )
    .await;
    same_as_missing(
        Method::DELETE,
        format!("/writer/officeapi/v1/sessions/{a_sid}"),
        format!("/writer/officeapi/v1/sessions/{missing_sid}"),
        1833,
    )
    .await;
    same_as_missing(
        Method::DELETE,
        format!("/writer/officeapi/v1/session/{a_sid}"),
        format!("/writer/officeapi/v1/session/{missing_sid}"),
        1833,
    )
    .await;
    same_as_missing(
        Method::GET,
        "/writer/officeapi/v1/documents/shared".to_string(),
        "/writer/officeapi/v1/documents/never-existed".to_string(),
        1844,
    )
    .await;
    same_as_missing(
        Method::GET,
        "/writer/officeapi/v1/documents/shared/sessions".to_string(),
        "/writer/officeapi/v1/documents/never-existed/sessions".to_string(),
        1844,
    )
    .await;
    same_as_missing(
        Method::DELETE,
        "/writer/officeapi/v1/documents/shared".to_string(),
        "/writer/officeapi/v1/documents/never-existed".to_string(),
        1844,
    )
    .await;

    // A's session and document are untouched.
    assert_eq!(
        session_info(&app, &a_sid).await["user_info"]["user_id"],
        "1000"
    );
    let a_doc = app
        .get("/writer/officeapi/v1/documents/shared")
        .await
        .assert_ok()
        .clone();
    assert_eq!(a_doc["active_sessions_count"], 1);

    // B's document with the same id is B's own, not a join of A's.
    let b_created = app
        .post_form_with_key(
            "/writer/officeapi/v1/documents",
            writer_form("shared", "B document", "2000"),
            &b,
        )
        .await
        .assert_ok()
        .clone();
    assert_eq!(b_created["document_id"], "shared");
    let b_sid = str_of(&b_created, "session_id").to_string();
    assert_ne!(b_sid, a_sid);
    let b_all = app
        .get_with_key("/writer/officeapi/v1/documents/shared/sessions", &b)
        .await
        .assert_ok()
        .clone();
    assert_eq!(b_all["document_name"], "B document");
    assert_eq!(
        b_all["sessions"].as_array().map(Vec::len),
        Some(1),
        "{b_all}"
    );
    assert_eq!(b_all["sessions"][0]["user_info"]["user_id"], "2000");
    let a_all = app
        .get("/writer/officeapi/v1/documents/shared/sessions")
        .await
        .assert_ok()
        .clone();
    assert_eq!(a_all["document_name"], "Doc shared");
    assert_eq!(
        a_all["sessions"].as_array().map(Vec::len),
        Some(1),
        "{a_all}"
    );
    assert_eq!(a_all["sessions"][0]["user_info"]["user_id"], "1000");
    assert_eq!(
        scalar(
            &pool,
            "SELECT COUNT(*) FROM documents WHERE document_id = 'shared'"
        )
        .await,
        2
    );
    // And each key is billed for its own opens.
    assert_eq!(total_usage(&app, &app.key).await, 1);
    assert_eq!(total_usage(&app, &b).await, 1);
    // A cannot reach B's session either.
    app.get(&format!("/writer/officeapi/v1/sessions/{b_sid}"))
        .await
        .assert_error(1833);
}

// ---------------------------------------------------------------------------------------------------------
// 8. Revoked key
// ---------------------------------------------------------------------------------------------------------

#[tokio::test]
async fn a_revoked_key_is_refused_everywhere() {
    let app = common::spawn_app().await;
    let pool = db(&app).await;
    let key = app.create_key("to-revoke", None).await;
    let id = key_id(&app, &key).await;

    let created = app
        .post_form_with_key(
            "/writer/officeapi/v1/documents",
            writer_form("revoked-doc", "Revoked", "1000"),
            &key,
        )
        .await
        .assert_ok()
        .clone();
    let sid = str_of(&created, "session_id").to_string();
    assert!(app
        .store
        .revoke_api_key(None, &hash_api_key(&key), now_ms())
        .await
        .expect("revoke"));

    let before = rows(&pool).await;
    app.post_form_with_key(
        "/writer/officeapi/v1/documents",
        writer_form("revoked-doc", "Revoked", "2000"),
        &key,
    )
    .await
    .assert_error(1846);
    app.post_form_with_key("/sheet/officeapi/v1/spreadsheet", user_form("1000"), &key)
        .await
        .assert_error(2890);
    app.post_form_with_key("/show/officeapi/v1/presentation", user_form("1000"), &key)
        .await
        .assert_error(3890);
    app.post_form_with_key("/pdfeditor/officeapi/v1/pdf", user_form("1000"), &key)
        .await
        .assert_error(1846);
    app.get_with_key(&format!("/writer/officeapi/v1/sessions/{sid}"), &key)
        .await
        .assert_error(1846);
    app.delete_with_key(&format!("/writer/officeapi/v1/sessions/{sid}"), &key)
        .await
        .assert_error(1846);
    app.get_with_key("/writer/officeapi/v1/documents/revoked-doc", &key)
        .await
        .assert_error(1846);
    app.get_with_key("/writer/officeapi/v1/documents/revoked-doc/sessions", &key)
        .await
        .assert_error(1846);
    app.delete_with_key("/writer/officeapi/v1/documents/revoked-doc", &key)
        .await
        .assert_error(1846);
    app.get_with_key("/api/v1/plan", &key)
        .await
        .assert_error(1846);

    assert_eq!(rows(&pool).await, before, "a revoked key changes nothing");
    assert_eq!(usage_rows(&pool, id).await, 1);
    // Revoking again finds no active key; other keys keep working.
    assert!(!app
        .store
        .revoke_api_key(None, &hash_api_key(&key), now_ms())
        .await
        .expect("revoke"));
    app.writer_create("still-fine", "1000").await;
}
