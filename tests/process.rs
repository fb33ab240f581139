//! The real `docsession` binary as an operator runs it: configured only through DOCSESSION_* variables,
//! stopped with SIGKILL or SIGTERM, and driven through its CLI (migrate, keys, usage, purge).
//!
//! Each test runs on the suite's backend (a fresh PostgreSQL database when DOCSESSION_TEST_POSTGRES_URL is set),
//! except the ones about SQLite itself, which say so.
mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{postgres_admin_url, PgDatabase, Response};
use docsession::domain::time::{iso, now_ms};
use reqwest::multipart::Form;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_docsession");
/// How long a started server gets to answer, a CLI command to finish, a SIGTERM to take effect.
const START_LIMIT: Duration = Duration::from_secs(10);
const CLI_LIMIT: Duration = Duration::from_secs(30);
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

/// The binary with a clean environment: no inherited DOCSESSION_* or RUST_LOG, run in `cwd` so no .env is read.
fn docsession(cwd: &Path) -> Command {
    let mut command = Command::new(BIN);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("DOCSESSION_") {
            command.env_remove(&name);
        }
    }
    command.env_remove("RUST_LOG").current_dir(cwd);
    command
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind a free port")
        .local_addr()
        .expect("local address")
        .port()
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// The database a test's processes share.
struct Database {
    url: String,
    /// The SQLite file; `None` on PostgreSQL.
    file: Option<PathBuf>,
    /// Keeps the PostgreSQL database until the test ends.
    _postgres: Option<Arc<PgDatabase>>,
}

impl Database {
    /// The suite's backend: a fresh PostgreSQL database, or `db.sqlite` in `dir`.
    async fn fresh(dir: &Path) -> Database {
        match postgres_admin_url() {
            Some(admin_url) => {
                let postgres = PgDatabase::create(&admin_url).await;
                Database {
                    url: postgres.url.clone(),
                    file: None,
                    _postgres: Some(postgres),
                }
            }
            None => Database::sqlite(dir.join("db.sqlite")),
        }
    }

    /// SQLite whatever the suite's backend, for tests about SQLite itself.
    fn sqlite(file: PathBuf) -> Database {
        Database {
            url: sqlite_url(&file),
            file: Some(file),
            _postgres: None,
        }
    }
}

fn random_hex(len: usize) -> String {
    let key = docsession::domain::ids::new_api_key();
    assert!(len <= key.len());
    key[..len].to_string()
}

/// Waits (bounded) for a process to exit; kills it and panics when it does not.
fn wait_exit(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not exit within {limit:?}");
        }
        std::thread::sleep(POLL);
    }
}

/// Runs a command to completion (bounded) and returns its output.
fn run_bounded(mut command: Command, what: &str) -> Output {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn docsession");
    wait_exit(&mut child, CLI_LIMIT, what);
    child.wait_with_output().expect("output")
}

/// A CLI command against one database; returns (exit status, stdout, stderr).
fn cli(cwd: &Path, database: &Database, args: &[&str]) -> (ExitStatus, String, String) {
    let mut command = docsession(cwd);
    command
        .env("DOCSESSION_DATABASE_URL", &database.url)
        .args(args);
    let output = run_bounded(command, &format!("docsession {}", args.join(" ")));
    (
        output.status,
        String::from_utf8(output.stdout).expect("utf-8 stdout"),
        String::from_utf8(output.stderr).expect("utf-8 stderr"),
    )
}

/// A CLI command that must succeed; returns its stdout.
fn cli_ok(cwd: &Path, database: &Database, args: &[&str]) -> String {
    let (status, stdout, stderr) = cli(cwd, database, args);
    assert!(
        status.success(),
        "docsession {args:?} failed with {status}\nstdout: {stdout}\nstderr: {stderr}"
    );
    stdout
}

/// One row of `keys list`: id, name, prefix, limit, created, state.
#[derive(Debug)]
struct KeyRow {
    id: String,
    name: String,
    prefix: String,
    limit: String,
    state: String,
}

fn keys_list(cwd: &Path, database: &Database) -> Vec<KeyRow> {
    let stdout = cli_ok(cwd, database, &["keys", "list"]);
    let mut lines = stdout.lines();
    let header: Vec<&str> = lines.next().expect("header").split_whitespace().collect();
    assert_eq!(
        header,
        ["id", "name", "prefix", "limit", "created", "state"],
        "{stdout}"
    );
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(cells.len(), 6, "unexpected keys list row {line:?}");
            KeyRow {
                id: cells[0].to_string(),
                name: cells[1].to_string(),
                prefix: cells[2].to_string(),
                limit: cells[3].to_string(),
                state: cells[5].to_string(),
            }
        })
        .collect()
}

/// A running `docsession serve`; killed on drop if still running.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
    client: reqwest::Client,
}

impl Server {
    /// Starts `docsession serve` in `cwd` with the given variables (DOCSESSION_LISTEN is added) and waits,
    /// bounded, until GET /api/v1/plan answers.
    async fn start(cwd: &Path, vars: &[(&str, &str)]) -> Server {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let port = free_port();
            let log = cwd.join(format!("serve-{port}-{attempt}.log"));
            let mut command = docsession(cwd);
            command
                .arg("serve")
                .envs(vars.iter().copied())
                .env("DOCSESSION_LISTEN", format!("127.0.0.1:{port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::from(File::create(&log).expect("log file")));
            let child = command.spawn().expect("spawn docsession serve");
            let mut server = Server {
                child,
                base: format!("http://127.0.0.1:{port}"),
                log,
                client: reqwest::Client::new(),
            };
            match server.wait_ready().await {
                Ok(()) => return server,
                // Another process took the port between our probe and the bind: try another one.
                Err(log) if log.contains("cannot listen") && attempt < 5 => continue,
                Err(log) => panic!("docsession serve did not come up:\n{log}"),
            }
        }
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + START_LIMIT;
        let probe = format!("{}/api/v1/plan", self.base);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Err(format!("exited with {status}\n{}", self.log_text()));
            }
            let answered = self
                .client
                .get(&probe)
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok();
            if answered {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                return Err(format!("no answer in {START_LIMIT:?}\n{}", self.log_text()));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn url(&self, path: &str, key: &str) -> String {
        format!("{}{}?apikey={}&", self.base, path, key)
    }

    async fn get(&self, path: &str, key: &str) -> Response {
        let response = self
            .client
            .get(self.url(path, key))
            .send()
            .await
            .expect("request");
        common::read(response).await
    }

    async fn post_form(&self, path: &str, key: &str, form: Form) -> Response {
        let response = self
            .client
            .post(self.url(path, key))
            .multipart(form)
            .send()
            .await
            .expect("request");
        common::read(response).await
    }

    /// A Writer create (or co-edit, when the document id is live) as the SDKs send it.
    async fn writer_open(&self, key: &str, document_id: &str, user_id: &str) -> Response {
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
        self.post_form("/writer/officeapi/v1/documents", key, form)
            .await
    }

    async fn sheet_open(&self, key: &str, document_id: &str, user_id: &str) -> Response {
        let form = Form::new()
            .text(
                "document_info",
                format!(
                    r#"{{"document_id": "{document_id}", "document_name": "Sheet {document_id}"}}"#
                ),
            )
            .text("user_info", format!(r#"{{"user_id": "{user_id}"}}"#));
        self.post_form("/sheet/officeapi/v1/spreadsheet", key, form)
            .await
    }

    async fn plan(&self, key: &str) -> Response {
        self.get("/api/v1/plan", key).await
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// SIGKILL: no graceful stop at all.
    fn kill9(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("wait");
    }

    /// A signal (`-TERM`, `-INT`) sent with kill(1), then a bounded wait for the exit.
    fn signal(&mut self, signal: &str) -> ExitStatus {
        let status = Command::new("kill")
            .args([signal, &self.pid()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill {signal} failed");
        wait_exit(
            &mut self.child,
            SHUTDOWN_LIMIT,
            &format!("docsession serve after kill {signal}"),
        )
    }

    /// A graceful stop that must succeed.
    fn stop(&mut self) {
        let status = self.signal("-TERM");
        assert!(
            status.success(),
            "serve exited with {status}\n{}",
            self.log_text()
        );
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn session_id(body: &Value) -> String {
    body["session_id"]
        .as_str()
        .unwrap_or_else(|| panic!("no session_id in {body}"))
        .to_string()
}

fn editor_prefix(editor: &str) -> &'static str {
    match editor {
        "writer" => "/writer/officeapi/v1",
        "sheet" => "/sheet/officeapi/v1",
        other => panic!("unexpected editor {other}"),
    }
}

/// An open acknowledged with a 200.
#[derive(Debug, Clone)]
struct Acknowledged {
    session_id: String,
    editor: &'static str,
    document_id: String,
}

// 1. Restart safety: every open acknowledged before a SIGKILL is there after a restart.

/// `synchronous` (a SQLite mode) runs on SQLite whatever the suite's backend.
async fn kill9_restart_keeps_acknowledged_opens(synchronous: Option<&str>) {
    const OPENS: usize = 30;
    let dir = tempfile::tempdir().unwrap();
    let database = match synchronous {
        Some(_) => Database::sqlite(dir.path().join("db.sqlite")),
        None => Database::fresh(dir.path()).await,
    };
    let key = random_hex(40);
    let mut vars = vec![
        ("DOCSESSION_DATABASE_URL", database.url.as_str()),
        ("DOCSESSION_DEV_APIKEY", key.as_str()),
    ];
    if let Some(mode) = synchronous {
        vars.push(("DOCSESSION_SQLITE_SYNCHRONOUS", mode));
    }

    let mut server = Server::start(dir.path(), &vars).await;
    let mut acknowledged: Vec<Acknowledged> = Vec::new();
    let mut last_writer_document = String::new();
    for i in 0..OPENS {
        let (editor, document_id, response) = if i % 15 == 14 {
            let document_id = format!("sheet-{i}");
            let response = server.sheet_open(&key, &document_id, "u1").await;
            ("sheet", document_id, response)
        } else if i % 4 == 3 {
            // A co-edit of the last Writer document.
            let document_id = last_writer_document.clone();
            let response = server
                .writer_open(&key, &document_id, &format!("u{i}"))
                .await;
            ("writer", document_id, response)
        } else {
            let document_id = format!("doc-{i}");
            last_writer_document = document_id.clone();
            let response = server.writer_open(&key, &document_id, "u1").await;
            ("writer", document_id, response)
        };
        let body = response.assert_ok();
        assert_eq!(body["document_id"], document_id.as_str(), "{body}");
        acknowledged.push(Acknowledged {
            session_id: session_id(body),
            editor,
            document_id,
        });
    }
    // Right after the last 200: no graceful stop.
    server.kill9();
    drop(server);

    let server = Server::start(dir.path(), &vars).await;
    for open in &acknowledged {
        let info = server
            .get(
                &format!(
                    "{}/sessions/{}",
                    editor_prefix(open.editor),
                    open.session_id
                ),
                &key,
            )
            .await;
        let body = info.assert_ok();
        assert_eq!(
            body["info"]["document_id"],
            open.document_id.as_str(),
            "{open:?}: {body}"
        );
    }

    let mut by_document: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for open in acknowledged.iter().filter(|open| open.editor == "writer") {
        by_document
            .entry(open.document_id.as_str())
            .or_default()
            .insert(open.session_id.as_str());
    }
    let coedited: Vec<_> = by_document
        .iter()
        .filter(|(_, sessions)| sessions.len() > 1)
        .collect();
    assert!(
        coedited.len() >= 5,
        "the scenario should co-edit several documents"
    );
    for (document_id, expected) in coedited {
        let all = server
            .get(
                &format!("/writer/officeapi/v1/documents/{document_id}/sessions"),
                &key,
            )
            .await;
        let body = all.assert_ok();
        let listed: BTreeSet<String> = body["sessions"]
            .as_array()
            .unwrap_or_else(|| panic!("no sessions in {body}"))
            .iter()
            .map(|session| {
                let url = session["info"]["session_delete_url"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no session_delete_url in {session}"));
                url.rsplit('/').next().unwrap().to_string()
            })
            .collect();
        let expected: BTreeSet<String> = expected.iter().map(|s| s.to_string()).collect();
        assert_eq!(listed, expected, "sessions of {document_id}");
    }

    let plan = server.plan(&key).await;
    assert_eq!(
        plan.assert_ok()["total_usage"].as_i64(),
        Some(OPENS as i64),
        "{:?}",
        plan.body
    );
}

#[tokio::test]
async fn kill9_restart_keeps_every_acknowledged_open() {
    kill9_restart_keeps_acknowledged_opens(None).await;
}

/// SQLite only: its synchronous modes.
#[tokio::test]
async fn kill9_restart_keeps_every_acknowledged_open_with_synchronous_full() {
    kill9_restart_keeps_acknowledged_opens(Some("full")).await;
}

// 2. Graceful shutdown.

/// Stops a serving process with `signal` and checks the exit and that the database reopens with its data.
async fn signal_stops_the_server_with_exit_code_zero(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::fresh(dir.path()).await;
    let key = random_hex(40);
    let vars = [
        ("DOCSESSION_DATABASE_URL", database.url.as_str()),
        ("DOCSESSION_DEV_APIKEY", key.as_str()),
    ];
    let mut server = Server::start(dir.path(), &vars).await;
    // The client keeps its connection alive (idle) across the signal.
    let created = server.writer_open(&key, "before-signal", "u1").await;
    let sid = session_id(created.assert_ok());

    let status = server.signal(signal);
    assert_eq!(
        status.code(),
        Some(0),
        "{signal} should stop gracefully, got {status}\n{}",
        server.log_text()
    );
    drop(server);

    // The database is left in a state the next start accepts, with the session in it.
    let server = Server::start(dir.path(), &vars).await;
    server
        .get(&format!("/writer/officeapi/v1/sessions/{sid}"), &key)
        .await
        .assert_ok();
}

#[tokio::test]
async fn sigterm_stops_the_server_with_exit_code_zero() {
    signal_stops_the_server_with_exit_code_zero("-TERM").await;
}

#[tokio::test]
async fn sigint_stops_the_server_with_exit_code_zero() {
    signal_stops_the_server_with_exit_code_zero("-INT").await;
}

// 3. README defaults.

/// SQLite only: the default database.
#[tokio::test]
async fn without_a_database_url_serve_creates_data_docsession_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let key = random_hex(40);
    let mut server = Server::start(dir.path(), &[("DOCSESSION_DEV_APIKEY", key.as_str())]).await;
    let default_file = dir.path().join("data").join("docsession.sqlite");
    assert!(
        default_file.is_file(),
        "{} was not created",
        default_file.display()
    );
    // And it is the database in use.
    server.writer_open(&key, "d1", "u1").await.assert_ok();
    server.stop();
    let listed = keys_list(dir.path(), &Database::sqlite(default_file));
    assert!(listed.iter().any(|row| row.name == "dev"), "{listed:?}");
}

// 4. DOCSESSION_PUBLIC_URL and DOCSESSION_SESSION_TTL.

#[tokio::test]
async fn public_url_is_the_base_of_every_returned_url() {
    let dir = tempfile::tempdir().unwrap();
    let key = random_hex(40);
    let database = Database::fresh(dir.path()).await;
    let server = Server::start(
        dir.path(),
        &[
            ("DOCSESSION_DATABASE_URL", database.url.as_str()),
            ("DOCSESSION_DEV_APIKEY", key.as_str()),
            ("DOCSESSION_PUBLIC_URL", "https://oi.example.com/base"),
        ],
    )
    .await;
    let created = server.writer_open(&key, "d1", "u1").await;
    let body = created.assert_ok();
    let prefix = "https://oi.example.com/base/writer/officeapi/v1/";
    for field in [
        "document_url",
        "save_url",
        "session_delete_url",
        "document_delete_url",
    ] {
        let value = body[field]
            .as_str()
            .unwrap_or_else(|| panic!("no {field} in {body}"));
        assert!(value.starts_with(prefix), "{field} = {value}");
    }
    let sid = session_id(body);
    let info = server
        .get(&format!("/writer/officeapi/v1/sessions/{sid}"), &key)
        .await;
    let session_url = info.assert_ok()["info"]["session_url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(session_url.starts_with(prefix), "{session_url}");
}

#[tokio::test]
async fn session_ttl_sets_the_session_lifetime() {
    let dir = tempfile::tempdir().unwrap();
    let key = random_hex(40);
    let database = Database::fresh(dir.path()).await;
    let server = Server::start(
        dir.path(),
        &[
            ("DOCSESSION_DATABASE_URL", database.url.as_str()),
            ("DOCSESSION_DEV_APIKEY", key.as_str()),
            ("DOCSESSION_SESSION_TTL", "30m"),
        ],
    )
    .await;
    let sid = session_id(server.writer_open(&key, "d1", "u1").await.assert_ok());
    let info = server
        .get(&format!("/writer/officeapi/v1/sessions/{sid}"), &key)
        .await;
    let body = info.assert_ok();
    let created = body["info"]["created_time_ms"].as_i64().unwrap();
    let expires = body["info"]["expires_on_ms"].as_i64().unwrap();
    assert_eq!(expires - created, 1_800_000, "{body}");
}

#[test]
fn an_invalid_session_ttl_stops_serve_with_an_error_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = docsession(dir.path());
    command
        .arg("serve")
        .env(
            "DOCSESSION_DATABASE_URL",
            sqlite_url(&dir.path().join("db.sqlite")),
        )
        .env("DOCSESSION_LISTEN", format!("127.0.0.1:{}", free_port()))
        .env("DOCSESSION_SESSION_TTL", "soon");
    let output = run_bounded(command, "docsession serve with a bad TTL");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{}: {stderr}", output.status);
    assert!(stderr.contains("DOCSESSION_SESSION_TTL"), "{stderr}");
}

// 5. DOCSESSION_DEV_APIKEY.

#[tokio::test]
async fn dev_apikey_works_and_a_restart_does_not_duplicate_it() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::fresh(dir.path()).await;
    let key = random_hex(40);
    let vars = [
        ("DOCSESSION_DATABASE_URL", database.url.as_str()),
        ("DOCSESSION_DEV_APIKEY", key.as_str()),
    ];
    let mut ids = Vec::new();
    for _ in 0..2 {
        let mut server = Server::start(dir.path(), &vars).await;
        let plan = server.plan(&key).await;
        ids.push(plan.assert_ok()["apikey_id"].clone());
        server.stop();
    }
    assert_eq!(ids[0], ids[1], "the restart replaced the dev key");
    let dev: Vec<KeyRow> = keys_list(dir.path(), &database)
        .into_iter()
        .filter(|row| row.name == "dev")
        .collect();
    assert_eq!(dev.len(), 1, "{dev:?}");
    assert_eq!(dev[0].prefix, &key[..8]);
    assert_eq!(dev[0].state, "active");
}

// 6. The CLI.

#[tokio::test]
async fn migrate_creates_the_database_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let database = match postgres_admin_url() {
        Some(_) => Database::fresh(dir.path()).await,
        // A SQLite file is created with its folders.
        None => Database::sqlite(dir.path().join("nested").join("dir").join("db.sqlite")),
    };
    for _ in 0..2 {
        let stdout = cli_ok(dir.path(), &database, &["migrate"]);
        assert!(stdout.contains("up to date"), "{stdout}");
        if let Some(file) = &database.file {
            assert!(file.is_file(), "{} was not created", file.display());
        }
    }
    // A migrated database is usable: no keys yet.
    assert!(keys_list(dir.path(), &database).is_empty());
}

/// Every byte of the database: the main file and, if present, its WAL and shared-memory files.
fn database_bytes(database: &Path) -> Vec<u8> {
    let mut bytes = Vec::new();
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = PathBuf::from(format!("{}{suffix}", database.display()));
        if let Ok(content) = std::fs::read(&path) {
            bytes.extend(content);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

fn keys_create(cwd: &Path, database: &Database, name: &str, limit: Option<&str>) -> String {
    let mut args = vec!["keys", "create", "--name", name];
    if let Some(limit) = limit {
        args.extend(["--limit", limit]);
    }
    let stdout = cli_ok(cwd, database, &args);
    let key = stdout.lines().last().expect("a key on stdout").to_string();
    assert!(
        key.len() >= 32 && key.bytes().all(|b| b.is_ascii_hexdigit()),
        "the key should be URL-safe hex alone on its line: {stdout:?}"
    );
    key
}

#[tokio::test]
async fn keys_create_list_and_revoke() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::fresh(dir.path()).await;
    let key = keys_create(dir.path(), &database, "acme", Some("5"));

    // Only a hash is stored.
    match &database.file {
        Some(file) => {
            let bytes = database_bytes(file);
            assert!(!bytes.is_empty());
            assert!(
                !contains(&bytes, key.as_bytes()),
                "the key is stored in plain text"
            );
        }
        None => {
            let pool = sqlx::PgPool::connect(&database.url).await.expect("pool");
            let plain: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM api_keys WHERE strpos(key_hash || name || key_prefix, $1) > 0",
            )
            .bind(&key)
            .fetch_one(&pool)
            .await
            .expect("count");
            assert_eq!(plain, 0, "the key is stored in plain text");
        }
    }

    let server = Server::start(
        dir.path(),
        &[("DOCSESSION_DATABASE_URL", database.url.as_str())],
    )
    .await;
    let plan = server.plan(&key).await;
    assert_eq!(plan.assert_ok()["usage_limit"].as_i64(), Some(5));

    let rows = keys_list(dir.path(), &database);
    let acme: Vec<&KeyRow> = rows.iter().filter(|row| row.name == "acme").collect();
    assert_eq!(acme.len(), 1, "{rows:?}");
    assert_eq!(acme[0].limit, "5");
    assert_eq!(acme[0].state, "active");
    assert_eq!(acme[0].prefix, &key[..8]);
    let id = acme[0].id.clone();

    // Revoked while the server runs: the next request is refused.
    let stdout = cli_ok(dir.path(), &database, &["keys", "revoke", &id]);
    assert!(stdout.contains("Revoked"), "{stdout}");
    server.plan(&key).await.assert_error(1846);
    server
        .writer_open(&key, "after-revoke", "u1")
        .await
        .assert_error(1846);

    let rows = keys_list(dir.path(), &database);
    let acme = rows.iter().find(|row| row.name == "acme").unwrap();
    assert_eq!(acme.state, "revoked", "{rows:?}");

    let (status, stdout, _) = cli(dir.path(), &database, &["keys", "revoke", "424242"]);
    assert!(!status.success(), "revoking an unknown id: {stdout}");
    let (status, stdout, _) = cli(dir.path(), &database, &["keys", "revoke", &id]);
    assert!(!status.success(), "revoking a revoked key again: {stdout}");
}

#[tokio::test]
async fn keys_revoke_accepts_the_key_itself() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::fresh(dir.path()).await;
    let key = keys_create(dir.path(), &database, "beta", None);
    let other = keys_create(dir.path(), &database, "gamma", None);
    cli_ok(dir.path(), &database, &["keys", "revoke", &key]);
    let rows = keys_list(dir.path(), &database);
    let state = |name: &str| {
        rows.iter()
            .find(|row| row.name == name)
            .unwrap()
            .state
            .clone()
    };
    assert_eq!(state("beta"), "revoked", "{rows:?}");
    assert_eq!(state("gamma"), "active", "{rows:?}");
    assert_eq!(
        rows.iter().find(|r| r.name == "beta").unwrap().limit,
        "none"
    );

    let server = Server::start(
        dir.path(),
        &[("DOCSESSION_DATABASE_URL", database.url.as_str())],
    )
    .await;
    server.plan(&key).await.assert_error(1846);
    let plan = server.plan(&other).await;
    assert_eq!(plan.assert_ok()["usage_limit"].as_i64(), Some(-1));
}

fn today() -> String {
    iso(now_ms())[..10].to_string()
}

#[tokio::test]
async fn usage_reports_opens_per_key_by_day_and_month_in_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::fresh(dir.path()).await;
    let key = keys_create(dir.path(), &database, "acme", None);
    let prefix = &key[..8];
    let day_before = today();
    let mut server = Server::start(
        dir.path(),
        &[("DOCSESSION_DATABASE_URL", database.url.as_str())],
    )
    .await;
    let first = server.writer_open(&key, "u-doc", "u1").await;
    first.assert_ok();
    // A co-edit is an open too.
    server.writer_open(&key, "u-doc", "u2").await.assert_ok();
    server.sheet_open(&key, "u-sheet", "u1").await.assert_ok();
    server.stop();

    let csv = cli_ok(
        dir.path(),
        &database,
        &["usage", "--by", "day", "--format", "csv"],
    );
    let month_csv = cli_ok(
        dir.path(),
        &database,
        &["usage", "--by", "month", "--format", "csv"],
    );
    let json = cli_ok(
        dir.path(),
        &database,
        &["usage", "--by", "day", "--format", "json"],
    );
    let table = cli_ok(dir.path(), &database, &["usage", "--by", "day"]);
    let day_after = today();
    if day_before != day_after {
        eprintln!("skipped: the UTC day changed during the test");
        return;
    }
    let day = day_after;
    let month = &day[..7];

    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines,
        ["period,key,prefix,opens", &format!("{day},acme,{prefix},3")],
        "{csv}"
    );
    let lines: Vec<&str> = month_csv.lines().collect();
    assert_eq!(
        lines,
        [
            "period,key,prefix,opens",
            &format!("{month},acme,{prefix},3")
        ],
        "{month_csv}"
    );

    let rows: Value = serde_json::from_str(&json).unwrap_or_else(|err| panic!("{err}: {json}"));
    let rows = rows.as_array().unwrap_or_else(|| panic!("{json}"));
    assert_eq!(rows.len(), 1, "{json}");
    assert_eq!(rows[0]["key"], "acme");
    assert_eq!(rows[0]["period"], day.as_str());
    assert_eq!(rows[0]["prefix"], prefix);
    assert_eq!(rows[0]["opens"].as_i64(), Some(3), "{json}");

    let acme_line = table
        .lines()
        .find(|line| line.contains("acme"))
        .unwrap_or_else(|| panic!("no acme in the table:\n{table}"));
    let cells: Vec<&str> = acme_line.split_whitespace().collect();
    assert_eq!(cells, [day.as_str(), "acme", prefix, "3"], "{table}");

    // Filters: the key by its id, and a first day.
    let by = |args: &[&str]| {
        let mut all = vec!["usage", "--by", "day", "--format", "csv"];
        all.extend_from_slice(args);
        cli_ok(dir.path(), &database, &all).lines().count() - 1
    };
    let id = cli_ok(dir.path(), &database, &["keys", "list"])
        .lines()
        .find(|line| line.contains("acme"))
        .and_then(|line| line.split_whitespace().next().map(str::to_string))
        .expect("acme in keys list");
    assert_eq!(by(&["--key", &id, "--since", &day]), 1);
    assert_eq!(by(&["--key", "999999"]), 0);
    assert_eq!(by(&["--since", &iso(now_ms() + 86_400_000)[..10]]), 0);
    let (status, _, stderr) = cli(dir.path(), &database, &["usage", "--since", "11/2026"]);
    assert!(
        !status.success() && stderr.contains("2026-11-01"),
        "{stderr}"
    );
}

/// Polls session info until it says 1834 (expired); bounded.
async fn wait_expired(server: &Server, key: &str, editor: &str, sid: &str) {
    let path = format!("{}/sessions/{sid}", editor_prefix(editor));
    let deadline = Instant::now() + START_LIMIT;
    loop {
        let info = server.get(&path, key).await;
        if info.status == 400 && info.body["code"].as_u64() == Some(1834) {
            return;
        }
        assert!(
            info.status == 200,
            "session {sid} should be live, then expired: {:?}",
            info.body
        );
        assert!(Instant::now() < deadline, "session {sid} never expired");
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test]
async fn purge_removes_expired_sessions_and_documents_and_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    let database = Database::fresh(dir.path()).await;
    let key = random_hex(40);
    let base_vars = [
        ("DOCSESSION_DATABASE_URL", database.url.as_str()),
        ("DOCSESSION_DEV_APIKEY", key.as_str()),
    ];

    // A live document and session (6h default TTL).
    let mut server = Server::start(dir.path(), &base_vars).await;
    let live_sid = session_id(server.writer_open(&key, "live", "u1").await.assert_ok());
    server.stop();
    drop(server);

    // Sessions that expire in a second: 4 sessions, 2 documents (the co-edit of "live" leaves it live).
    let mut vars = base_vars.to_vec();
    vars.push(("DOCSESSION_SESSION_TTL", "1s"));
    let mut server = Server::start(dir.path(), &vars).await;
    let mut expiring = Vec::new();
    for (editor, response) in [
        ("writer", server.writer_open(&key, "short", "u1").await),
        ("writer", server.writer_open(&key, "short", "u2").await),
        ("sheet", server.sheet_open(&key, "short-sheet", "u1").await),
        ("writer", server.writer_open(&key, "live", "u3").await),
    ] {
        expiring.push((editor, session_id(response.assert_ok())));
    }
    for (editor, sid) in &expiring {
        wait_expired(&server, &key, editor, sid).await;
    }
    server.stop();
    drop(server);

    let stdout = cli_ok(dir.path(), &database, &["purge"]);
    assert_eq!(
        stdout.trim_end(),
        "Removed 4 expired sessions and 2 expired documents."
    );
    let stdout = cli_ok(dir.path(), &database, &["purge"]);
    assert_eq!(
        stdout.trim_end(),
        "Removed 0 expired sessions and 0 expired documents."
    );

    // The live session survived; purged ones are gone; usage is never purged.
    let server = Server::start(dir.path(), &base_vars).await;
    server
        .get(&format!("/writer/officeapi/v1/sessions/{live_sid}"), &key)
        .await
        .assert_ok();
    for (editor, sid) in &expiring {
        server
            .get(&format!("{}/sessions/{sid}", editor_prefix(editor)), &key)
            .await
            .assert_error(1833);
    }
    let all = server
        .get("/writer/officeapi/v1/documents/live/sessions", &key)
        .await;
    assert_eq!(
        all.assert_ok()["sessions"].as_array().map(Vec::len),
        Some(1)
    );
    server
        .get("/writer/officeapi/v1/documents/short", &key)
        .await
        .assert_error(1844);
    let plan = server.plan(&key).await;
    assert_eq!(plan.assert_ok()["total_usage"].as_i64(), Some(5));
}
