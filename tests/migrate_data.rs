mod common;

// `docsession migrate-data`: a SQLite deployment moved to PostgreSQL keeps serving the same sessions and usage.
// PostgreSQL only: without DOCSESSION_TEST_POSTGRES_URL the test says so and passes without running.

use std::process::{Command, Output};

use common::{postgres_admin_url, spawn_on, PgDatabase, TestApp, POSTGRES_URL_VAR};
use docsession::config::Settings;
use reqwest::multipart::Form;
use serde_json::{json, Value};

fn docsession(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_docsession"))
        .current_dir(std::env::temp_dir())
        .env_clear()
        .args(args)
        .output()
        .expect("run docsession")
}

fn settings(database_url: &str) -> Settings {
    Settings {
        database_url: database_url.to_string(),
        listen: "127.0.0.1:0".to_string(),
        ..Settings::default()
    }
}

fn page_api(app: &TestApp, sid: &str, endpoint: &str) -> String {
    format!("{}/page/v1/sessions/{sid}/{endpoint}", app.base)
}

/// What a client can observe of a deployment through `keys` (the first owns `sids`), with the instance's own
/// base URL taken out.
async fn observe(app: &TestApp, sids: &[String], keys: &[&str]) -> Vec<Value> {
    let mut seen = Vec::new();
    for sid in sids {
        let info = app
            .get_with_key(&format!("/writer/officeapi/v1/sessions/{sid}"), keys[0])
            .await;
        seen.push(info.assert_ok().clone());
    }
    let listed = app
        .get_with_key("/writer/officeapi/v1/documents/moved/sessions", keys[0])
        .await;
    seen.push(listed.assert_ok().clone());
    for key in keys {
        let plan = app.get_with_key("/api/v1/plan", key).await;
        seen.push(plan.assert_ok().clone());
    }
    // The page's view: document version, last save, edited content (not the clock).
    for sid in sids {
        let state = app.client.get(page_api(app, sid, "state")).send().await;
        let mut state: Value = state.unwrap().json().await.unwrap();
        state.as_object_mut().unwrap().remove("now_ms");
        seen.push(state);
        let content = app.client.get(page_api(app, sid, "content")).send().await;
        seen.push(Value::String(content.unwrap().text().await.unwrap()));
    }
    let text = serde_json::to_string(&seen)
        .unwrap()
        .replace(&app.base, "BASE");
    serde_json::from_str(&text).unwrap()
}

#[tokio::test]
async fn a_sqlite_deployment_moves_to_postgres_with_its_sessions_keys_and_usage() {
    let Some(admin) = postgres_admin_url() else {
        eprintln!(
            "\n*** migrate-data: SKIPPED, it needs PostgreSQL. Set {POSTGRES_URL_VAR}. ***\n"
        );
        return;
    };

    // A SQLite deployment, whichever backend the rest of the suite uses.
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite_url = format!("sqlite://{}", dir.path().join("old.sqlite").display());
    let old = spawn_on(dir, settings(&sqlite_url)).await;
    let limited = old.create_key("limited", Some(10)).await;
    // A text document saving to a host that is gone: an edit from the page, then a failed save.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let save_url = format!("http://{}/save", closed.local_addr().unwrap());
    drop(closed);
    let upload = Form::new()
        .text("document_info", r#"{"document_id": "moved"}"#)
        .text(
            "callback_settings",
            json!({ "save_url": save_url }).to_string(),
        )
        .part(
            "document",
            common::file_part(b"hello".to_vec(), "notes.txt"),
        );
    let first = old
        .post_form("/writer/officeapi/v1/documents", upload)
        .await
        .assert_ok()
        .clone();
    let first_sid = first["session_id"].as_str().unwrap().to_string();
    let edited = old
        .client
        .put(page_api(&old, &first_sid, "content") + "?version=1")
        .body("edited text")
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 200);
    let saved = old
        .client
        .post(page_api(&old, &first_sid, "save"))
        .send()
        .await
        .unwrap();
    common::read(saved).await.assert_error(1867);
    let second = old.writer_create("moved", "2").await;
    let third = old.writer_create("other", "3").await;
    for i in 0..3 {
        let form = Form::new().text("document_info", format!(r#"{{"document_id": "lim-{i}"}}"#));
        old.post_form_with_key("/writer/officeapi/v1/documents", form, &limited)
            .await
            .assert_ok();
    }
    let (status, _) = old.open_page(first["document_url"].as_str().unwrap()).await;
    assert_eq!(status, 200);
    let deleted = old
        .delete(&format!(
            "/writer/officeapi/v1/sessions/{}",
            third["session_id"].as_str().unwrap()
        ))
        .await;
    deleted.assert_ok();
    let sids: Vec<String> = [&first, &second]
        .iter()
        .map(|body| body["session_id"].as_str().unwrap().to_string())
        .collect();
    let keys = [old.key.as_str(), limited.as_str()];
    let before = observe(&old, &sids, &keys).await;
    let usage = |url: &str| docsession_ok(&["usage", "--by", "day", "--format", "json"], url);
    let usage_before = usage(&sqlite_url);

    let database = PgDatabase::create(&admin).await;
    let moved = docsession(&["migrate-data", "--from", &sqlite_url, "--to", &database.url]);
    assert!(moved.status.success(), "{moved:?}");
    let report = String::from_utf8_lossy(&moved.stdout);
    assert!(
        report.contains(
            "2 API keys, 5 documents (5 content parts), 5 sessions (1 saves) and 6 usage rows"
        ),
        "{report}"
    );

    let new = spawn_on(
        tempfile::tempdir().expect("temp dir"),
        settings(&database.url),
    )
    .await;
    assert_eq!(observe(&new, &sids, &keys).await, before);
    let state: Value = new
        .client
        .get(page_api(&new, &first_sid, "state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state["version"], 2, "{state}");
    assert_eq!(state["last_save"]["outcome"], "unreachable", "{state}");
    assert_eq!(usage(&database.url), usage_before);
    let (status, _) = new
        .open_page(
            &first["document_url"]
                .as_str()
                .unwrap()
                .replace(&old.base, &new.base),
        )
        .await;
    assert_eq!(status, 200);

    // Sequences continue after the copied ids: new keys, documents, sessions and usage rows insert cleanly.
    new.writer_create("after", "4").await;
    let plan = new.get_with_key("/api/v1/plan", &limited).await;
    assert_eq!(plan.assert_ok()["total_usage"], 3);

    let again = docsession(&["migrate-data", "--from", &sqlite_url, "--to", &database.url]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds data"),
        "{again:?}"
    );
}

fn docsession_ok(args: &[&str], database_url: &str) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_docsession"))
        .current_dir(std::env::temp_dir())
        .env_clear()
        .env("DOCSESSION_DATABASE_URL", database_url)
        .args(args)
        .output()
        .expect("run docsession");
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).expect("utf-8")
}
