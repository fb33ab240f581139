//! Test harness: the real application on port 0, a fresh database per test, requests shaped like the SDKs'.
//!
//! The backend is SQLite (a file in the test's temp dir) unless `DOCSESSION_TEST_POSTGRES_URL` names a
//! PostgreSQL server (an admin URL such as `postgres://postgres@127.0.0.1:5432/postgres`): then every test gets
//! its own new database `docsession_test_<random>` on it, dropped when the last `TestApp` using it is dropped.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use docsession::config::Settings;
use docsession::domain::ids::{hash_api_key, new_api_key};
use docsession::domain::time::now_ms;
use docsession::store::{self, Store};
use docsession::{key_prefix, Application};
use reqwest::multipart::{Form, Part};
use serde_json::Value;
use sqlx::postgres::PgPool;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::{Connection, Executor, PgConnection};
use tempfile::TempDir;

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    /// An unlimited key created for the test.
    pub key: String,
    pub settings: Settings,
    pub store: std::sync::Arc<dyn Store>,
    pub dir: TempDir,
    /// Keeps the test's PostgreSQL database alive; `None` on SQLite.
    database: Option<Arc<PgDatabase>>,
}

pub struct Response {
    pub status: u16,
    pub content_type: String,
    pub body: Value,
}

impl Response {
    /// Asserts an SDK-decodable error: HTTP 400, JSON, the given code; returns the body.
    pub fn assert_error(&self, code: u64) -> &Value {
        assert_eq!(self.status, 400, "expected an error, got {:?}", self.body);
        assert!(
            self.content_type.starts_with("application/json"),
            "{}",
            self.content_type
        );
        assert_eq!(self.body["code"].as_u64(), Some(code), "{:?}", self.body);
        assert!(self.body["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty() && !m.contains('\'')));
        &self.body
    }

    pub fn assert_ok(&self) -> &Value {
        assert_eq!(self.status, 200, "expected success, got {:?}", self.body);
        assert!(
            self.content_type.starts_with("application/json"),
            "{}",
            self.content_type
        );
        &self.body
    }
}

pub const POSTGRES_URL_VAR: &str = "DOCSESSION_TEST_POSTGRES_URL";

/// The PostgreSQL server the suite runs against, when `DOCSESSION_TEST_POSTGRES_URL` is set.
pub fn postgres_admin_url() -> Option<String> {
    std::env::var(POSTGRES_URL_VAR)
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// A test database on the PostgreSQL server; dropped (with its connections) when the last holder goes.
pub struct PgDatabase {
    admin_url: String,
    name: String,
    pub url: String,
}

/// Live test databases by URL, so that a restart (`spawn_on` with the same settings) keeps its database alive.
fn pg_databases() -> &'static Mutex<HashMap<String, Weak<PgDatabase>>> {
    static DATABASES: OnceLock<Mutex<HashMap<String, Weak<PgDatabase>>>> = OnceLock::new();
    DATABASES.get_or_init(Default::default)
}

impl PgDatabase {
    /// Creates an empty database `docsession_test_<random>` on the server at `admin_url`.
    pub async fn create(admin_url: &str) -> Arc<PgDatabase> {
        let name = format!("docsession_test_{}", &new_api_key()[..16]);
        let mut admin = PgConnection::connect(admin_url)
            .await
            .unwrap_or_else(|err| panic!("cannot connect to {POSTGRES_URL_VAR}: {err}"));
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let mut url = reqwest::Url::parse(admin_url).expect("a postgres:// URL");
        url.set_path(&name);
        let database = Arc::new(PgDatabase {
            admin_url: admin_url.to_string(),
            name,
            url: url.to_string(),
        });
        pg_databases()
            .lock()
            .unwrap()
            .insert(database.url.clone(), Arc::downgrade(&database));
        database
    }

    fn find(url: &str) -> Option<Arc<PgDatabase>> {
        pg_databases().lock().unwrap().get(url)?.upgrade()
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        pg_databases().lock().unwrap().remove(&self.url);
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime, which cannot block on a future: use a thread with its own.
        let dropped = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime")
                .block_on(async {
                    let mut admin = PgConnection::connect(&admin_url).await?;
                    admin
                        .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await?;
                    admin.close().await
                })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!(
                "could not drop the test database {}: {dropped:?}",
                self.name
            );
        }
    }
}

/// The test's own view of the app's database, for counting rows behind the API's back.
pub enum TestDb {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs the same sqlx call on whichever pool the test uses.
macro_rules! on_pool {
    ($db:expr, |$pool:ident| $call:expr) => {
        match $db {
            TestDb::Sqlite($pool) => $call,
            TestDb::Postgres($pool) => $call,
        }
    };
}

impl TestDb {
    /// One integer, e.g. a COUNT(*).
    pub async fn scalar(&self, sql: &str) -> i64 {
        on_pool!(self, |pool| sqlx::query_scalar(sql).fetch_one(pool).await)
            .unwrap_or_else(|err| panic!("{sql}: {err}"))
    }

    /// One integer, with `id` as `$1`.
    pub async fn scalar_for(&self, sql: &str, id: i64) -> i64 {
        on_pool!(self, |pool| sqlx::query_scalar(sql)
            .bind(id)
            .fetch_one(pool)
            .await)
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
    }

    /// One text column of every row.
    pub async fn texts(&self, sql: &str) -> Vec<String> {
        on_pool!(self, |pool| sqlx::query_scalar(sql).fetch_all(pool).await)
            .unwrap_or_else(|err| panic!("{sql}: {err}"))
    }

    /// One text column of every row, with `text` as `$1`.
    pub async fn texts_for(&self, sql: &str, text: &str) -> Vec<String> {
        on_pool!(self, |pool| sqlx::query_scalar(sql)
            .bind(text)
            .fetch_all(pool)
            .await)
        .unwrap_or_else(|err| panic!("{sql}: {err}"))
    }
}

/// Opens the test's view of `app`'s database: read-only on SQLite, a small pool on PostgreSQL.
pub async fn db(app: &TestApp) -> TestDb {
    if app.is_postgres() {
        return TestDb::Postgres(
            PgPool::connect(&app.settings.database_url)
                .await
                .expect("PostgreSQL pool"),
        );
    }
    let options = SqliteConnectOptions::new()
        .filename(app.db_path())
        .read_only(true);
    TestDb::Sqlite(
        SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .expect("read-only database"),
    )
}

/// Settings for a test: port 0 and a fresh database (PostgreSQL or a SQLite file in `dir`).
pub async fn test_settings(dir: &TempDir) -> (Settings, Option<Arc<PgDatabase>>) {
    let database = match postgres_admin_url() {
        Some(admin_url) => Some(PgDatabase::create(&admin_url).await),
        None => None,
    };
    let database_url = match &database {
        Some(database) => database.url.clone(),
        None => format!(
            "sqlite://{}",
            dir.path().join("docsession.sqlite").display()
        ),
    };
    let settings = Settings {
        database_url,
        listen: "127.0.0.1:0".to_string(),
        ..Settings::default()
    };
    (settings, database)
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

pub async fn spawn_app_with(adjust: impl FnOnce(&mut Settings)) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut settings, _database) = test_settings(&dir).await;
    adjust(&mut settings);
    spawn_on(dir, settings).await
}

/// Starts the application on an existing directory and settings (e.g. after a restart).
pub async fn spawn_on(dir: TempDir, settings: Settings) -> TestApp {
    let app = Application::build(settings.clone())
        .await
        .expect("application builds");
    let base = app.base_url().to_string();
    tokio::spawn(app.run_until_stopped());
    attach(base, dir, settings, None).await
}

/// A client for a server already running at `base` on the database of `settings` (possibly another process);
/// uses `key`, or creates an unlimited one.
pub async fn attach(
    base: String,
    dir: TempDir,
    settings: Settings,
    key: Option<String>,
) -> TestApp {
    let database = PgDatabase::find(&settings.database_url);
    let store = store::connect(&settings).await.expect("store");
    let key = match key {
        Some(key) => key,
        None => {
            let key = new_api_key();
            store
                .insert_api_key(
                    "test",
                    &hash_api_key(&key),
                    &key_prefix(&key),
                    None,
                    now_ms(),
                )
                .await
                .expect("key");
            key
        }
    };
    TestApp {
        base,
        client: reqwest::Client::new(),
        key,
        settings,
        store,
        dir,
        database,
    }
}

impl TestApp {
    /// Creates another key; `limit` is opens per month before the 10% grace.
    pub async fn create_key(&self, name: &str, limit: Option<i64>) -> String {
        let key = new_api_key();
        self.store
            .insert_api_key(
                name,
                &hash_api_key(&key),
                &key_prefix(&key),
                limit,
                now_ms(),
            )
            .await
            .expect("key");
        key
    }

    /// The SQLite file; meaningless on PostgreSQL (see `is_postgres`).
    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("docsession.sqlite")
    }

    pub fn is_postgres(&self) -> bool {
        self.database.is_some()
    }

    /// The URL as the Node SDK builds it: `?apikey=KEY&`.
    pub fn url_with_key(&self, path: &str, key: &str) -> String {
        format!("{}{}?apikey={}&", self.base, path, key)
    }

    pub fn url(&self, path: &str) -> String {
        self.url_with_key(path, &self.key)
    }

    pub async fn post_form(&self, path: &str, form: Form) -> Response {
        self.post_form_with_key(path, form, &self.key).await
    }

    pub async fn post_form_with_key(&self, path: &str, form: Form, key: &str) -> Response {
        read(
            self.client
                .post(self.url_with_key(path, key))
                .multipart(form)
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// A POST with no body and no Content-Type, as both SDKs send when no parameter is set.
    pub async fn post_empty(&self, path: &str) -> Response {
        read(
            self.client
                .post(self.url(path))
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> Response {
        self.get_with_key(path, &self.key).await
    }

    pub async fn get_with_key(&self, path: &str, key: &str) -> Response {
        read(
            self.client
                .get(self.url_with_key(path, key))
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    pub async fn delete(&self, path: &str) -> Response {
        self.delete_with_key(path, &self.key).await
    }

    pub async fn delete_with_key(&self, path: &str, key: &str) -> Response {
        read(
            self.client
                .delete(self.url_with_key(path, key))
                .send()
                .await
                .expect("request"),
        )
        .await
    }

    /// Opens a session page the way a browser does; returns the status and the HTML.
    pub async fn open_page(&self, url: &str) -> (u16, String) {
        let response = self.client.get(url).send().await.expect("request");
        (
            response.status().as_u16(),
            response.text().await.expect("body"),
        )
    }

    /// A Writer create with a document id, a user and the given extra parts.
    pub async fn writer_create(&self, document_id: &str, user_id: &str) -> Value {
        let form = Form::new()
            .text(
                "document_info",
                format!(
                    r#"{{"document_id": "{document_id}", "document_name": "Doc {document_id}"}}"#
                ),
            )
            .text(
                "user_info",
                format!(r#"{{"user_id": "{user_id}", "display_name": "User {user_id}"}}"#),
            );
        self.post_form("/writer/officeapi/v1/documents", form)
            .await
            .assert_ok()
            .clone()
    }
}

pub async fn read(response: reqwest::Response) -> Response {
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Response {
        status,
        content_type,
        body,
    }
}

/// A file part as the Python SDK sends it: a filename, no Content-Type.
pub fn file_part(bytes: Vec<u8>, filename: &str) -> Part {
    Part::bytes(bytes).file_name(filename.to_string())
}

/// A file part as the Node SDK sends a Buffer: no filename, `application/octet-stream`.
pub fn buffer_part(bytes: Vec<u8>) -> Part {
    Part::bytes(bytes)
        .mime_str("application/octet-stream")
        .expect("mime")
}

pub fn blank(format: docsession::domain::Format) -> Vec<u8> {
    docsession::domain::blank::blank_document(format).expect("blank document")
}

/// Waits (bounded) until `check` holds, polling; for things that happen on a clock, such as expiry.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for {what}");
}
