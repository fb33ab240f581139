//! `docsession-bench`: measures docsession on this machine and prints a markdown report.
//!
//! Each server under test is a child process (this binary with a hidden role), on loopback with a fresh SQLite
//! file, so that its peak RSS is its own. Every figure is printed beside a baseline measured in the same run:
//! machines here are shared and noisy, so only ratios compare across runs.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use hdrhistogram::Histogram;
use reqwest::multipart::{Form, Part};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Connection, SqliteConnection};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use docsession::config::Settings;
use docsession::domain::ids::hash_api_key;
use docsession::domain::time::{billing_cycle, now_ms};
use docsession::store::{self, UsageFilter, UsagePeriod};

const API_KEY: &str = "benchkey0123456789abcdef";
const DAY_MS: i64 = 86_400_000;

#[derive(Parser)]
#[command(about = "Benchmarks docsession on loopback and prints a markdown report")]
struct Cli {
    #[command(subcommand)]
    role: Option<Role>,
    /// A small run (seconds, not minutes) that checks the benchmark itself works; its figures mean little.
    #[arg(long)]
    quick: bool,
    /// Seconds of load per measurement.
    #[arg(long)]
    seconds: Option<u64>,
    /// Concurrent clients of the load generator.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Expired sessions for the purge at scale (as many live ones beside them).
    #[arg(long)]
    expired: Option<i64>,
    /// Usage rows for billing at scale.
    #[arg(long)]
    usage_rows: Option<i64>,
    /// Where the databases go (a fresh temporary folder by default).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Role {
    /// (internal) docsession configured by the environment, printing its address on stdout.
    #[command(hide = true)]
    Serve,
    /// (internal) a bare actix-web endpoint returning a small JSON, printing its address on stdout.
    #[command(hide = true)]
    Bare,
    /// (internal) one purge of the database, printing its figures on stdout.
    #[command(hide = true)]
    Purge { database: String },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.role {
        Some(Role::Bare) => actix_web::rt::System::new().block_on(serve_bare()),
        Some(Role::Serve) => tokio_main(serve_docsession()),
        Some(Role::Purge { ref database }) => tokio_main(purge_once(database)),
        None => tokio_main(run(cli)),
    }
}

fn tokio_main<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(f)
}

// ---------------------------------------------------------------------------------------------------------
// Child roles
// ---------------------------------------------------------------------------------------------------------

async fn serve_docsession() -> anyhow::Result<()> {
    let mut settings = Settings::from_env()?;
    settings.listen = "127.0.0.1:0".to_string();
    let app = docsession::Application::build(settings).await?;
    println!("{}", app.address());
    app.run_until_stopped().await?;
    Ok(())
}

async fn serve_bare() -> anyhow::Result<()> {
    use actix_web::{web, App, HttpResponse, HttpServer};
    let server = HttpServer::new(|| {
        App::new().route(
            "/ping",
            web::get()
                .to(|| async { HttpResponse::Ok().json(serde_json::json!({"status": "ok"})) }),
        )
    })
    .bind("127.0.0.1:0")?;
    println!("{}", server.addrs()[0]);
    server.run().await?;
    Ok(())
}

async fn purge_once(database: &str) -> anyhow::Result<()> {
    let settings = Settings {
        database_url: database.to_string(),
        ..Settings::default()
    };
    let store = store::connect(&settings).await?;
    let started = Instant::now();
    let report = docsession::jobs::purge::purge_expired(store.as_ref()).await?;
    println!(
        "{} {} {} {}",
        report.sessions,
        report.documents,
        started.elapsed().as_secs_f64(),
        peak_rss_kib(std::process::id()).unwrap_or(0)
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Servers under test
// ---------------------------------------------------------------------------------------------------------

struct Server {
    child: Child,
    base: String,
}

impl Server {
    async fn start(args: &[&str], env: &[(&str, String)]) -> anyhow::Result<Server> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(args)
            .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
            .env("DOCSESSION_DEV_APIKEY", API_KEY)
            .env("DOCSESSION_PURGE_INTERVAL", "off")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).await?;
        if line.trim().is_empty() {
            bail!(
                "the server under test did not start: {:?}",
                child.wait().await?
            );
        }
        Ok(Server {
            child,
            base: format!("http://{}", line.trim()),
        })
    }

    async fn docsession(database: &Path, env: &[(&str, String)]) -> anyhow::Result<Server> {
        let mut env = env.to_vec();
        env.push(("DOCSESSION_DATABASE_URL", sqlite_url(database)));
        Server::start(&["serve"], &env).await
    }

    fn peak_rss_mib(&self) -> f64 {
        let kib = self.child.id().and_then(peak_rss_kib).unwrap_or(0);
        kib as f64 / 1024.0
    }

    fn url(&self, path: &str) -> String {
        let separator = if path.contains('?') { '&' } else { '?' };
        format!("{}{path}{separator}apikey={API_KEY}&", self.base)
    }
}

fn no_stop() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// VmHWM: the process's peak resident set, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

// ---------------------------------------------------------------------------------------------------------
// Load generator
// ---------------------------------------------------------------------------------------------------------

/// Microseconds, from 1 µs to 10 minutes, 3 significant digits.
fn latency_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds")
}

struct Stats {
    ok: u64,
    failed: u64,
    elapsed: Duration,
    latency_us: Histogram<u64>,
}

impl Stats {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    fn ms(&self, quantile: f64) -> f64 {
        self.latency_us.value_at_quantile(quantile) as f64 / 1000.0
    }
}

/// Runs `request` from `clients` concurrent loops for `duration` or until `stop` is set; `request(n)` is the
/// n-th request overall and says whether it succeeded.
async fn load_until<F, Fut>(
    duration: Duration,
    stop: Arc<AtomicBool>,
    clients: usize,
    request: F,
) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let counter = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let loops = (0..clients).map(|_| {
        let (request, counter, stop) = (request.clone(), counter.clone(), stop.clone());
        tokio::spawn(async move {
            let mut latency_us = latency_histogram();
            let (mut ok, mut failed) = (0, 0);
            while Instant::now() < deadline && !stop.load(Ordering::Relaxed) {
                let n = counter.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                if request(n).await {
                    ok += 1;
                    latency_us.saturating_record(sent.elapsed().as_micros() as u64);
                } else {
                    failed += 1;
                }
            }
            (ok, failed, latency_us)
        })
    });
    let mut stats = Stats {
        ok: 0,
        failed: 0,
        elapsed: Duration::ZERO,
        latency_us: latency_histogram(),
    };
    for finished in futures_util::future::join_all(loops).await {
        let (ok, failed, latency_us) = finished.expect("load loop");
        stats.ok += ok;
        stats.failed += failed;
        stats.latency_us.add(latency_us).expect("histogram");
    }
    stats.elapsed = started.elapsed();
    stats
}

async fn load<F, Fut>(duration: Duration, clients: usize, request: F) -> Stats
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    load_until(duration, Arc::new(AtomicBool::new(false)), clients, request).await
}

#[derive(Clone)]
struct Client {
    http: reqwest::Client,
    document: Arc<Vec<u8>>,
}

impl Client {
    fn new() -> Client {
        // A 4 KB text document.
        let line = b"docsession benchmark: a line of an ordinary text document.\n";
        let document = line.iter().copied().cycle().take(4096).collect();
        Client {
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(1024)
                .build()
                .expect("client"),
            document: Arc::new(document),
        }
    }

    async fn ok(request: reqwest::RequestBuilder) -> Option<serde_json::Value> {
        let response = request.send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        serde_json::from_slice(&response.bytes().await.ok()?).ok()
    }

    /// A Writer create with a 4 KB document, shaped like the SDKs' requests.
    async fn create(&self, server: &str, n: u64) -> Option<serde_json::Value> {
        let form = Form::new()
            .part(
                "document",
                Part::bytes(self.document.to_vec()).file_name(format!("bench-{n}.txt")),
            )
            .text(
                "document_info",
                format!(r#"{{"document_name":"bench {n}"}}"#),
            )
            .text("user_info", r#"{"user_id":"1","display_name":"Bench"}"#)
            .text(
                "permissions",
                r#"{"document.edit":true,"document.export":true}"#,
            )
            .text("editor_settings", r#"{"unit":"in","language":"en"}"#);
        Client::ok(self.http.post(server).multipart(form)).await
    }

    /// A co-edit of a live document: no content.
    async fn coedit(&self, server: &str, document_id: &str, n: u64) -> bool {
        let form = Form::new()
            .text(
                "document_info",
                format!(r#"{{"document_id":"{document_id}"}}"#),
            )
            .text(
                "user_info",
                format!(r#"{{"user_id":"{n}","display_name":"Co-editor {n}"}}"#),
            );
        Client::ok(self.http.post(server).multipart(form))
            .await
            .is_some()
    }

    async fn get(&self, url: &str) -> bool {
        Client::ok(self.http.get(url)).await.is_some()
    }
}

// ---------------------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------------------

struct Plan {
    seconds: Duration,
    clients: usize,
    expired: i64,
    usage_rows: i64,
    dir: PathBuf,
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let temp = tempfile::tempdir()?;
    let plan = Plan {
        seconds: Duration::from_secs(cli.seconds.unwrap_or(if cli.quick { 2 } else { 10 })),
        clients: cli.clients,
        expired: cli
            .expired
            .unwrap_or(if cli.quick { 20_000 } else { 1_000_000 }),
        usage_rows: cli
            .usage_rows
            .unwrap_or(if cli.quick { 200_000 } else { 10_000_000 }),
        dir: cli.dir.clone().unwrap_or_else(|| temp.path().to_path_buf()),
    };
    std::fs::create_dir_all(&plan.dir)?;
    let mut report = String::new();
    writeln!(
        report,
        "docsession-bench: {} s per measurement, {} clients, {} cores\n",
        plan.seconds.as_secs(),
        plan.clients,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    )?;
    eprintln!("[bench] opens and reads");
    opens(&plan, &mut report).await?;
    eprintln!("[bench] purge at scale");
    purge_at_scale(&plan, &mut report).await?;
    eprintln!("[bench] billing at scale");
    billing_at_scale(&plan, &mut report).await?;
    println!("{report}");
    Ok(())
}

fn fresh_database(plan: &Plan, name: &str) -> PathBuf {
    let path = plan.dir.join(format!("{name}.sqlite"));
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    path
}

fn row(report: &mut String, cells: &[String]) {
    let _ = writeln!(report, "| {} |", cells.join(" | "));
}

fn ratio(value: f64, baseline: f64) -> String {
    if baseline == 0.0 {
        "n/a".to_string()
    } else {
        format!("{:.2}x", value / baseline)
    }
}

/// Creates from every client for the plan's duration; returns the stats and the document ids created.
async fn run_creates(plan: &Plan, server: &Server, client: &Client) -> (Stats, Vec<String>) {
    let url = server.url("/writer/officeapi/v1/documents");
    let created = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (client, collected) = (client.clone(), created.clone());
    let stats = load(plan.seconds, plan.clients, move |n| {
        let (client, url, collected) = (client.clone(), url.clone(), collected.clone());
        async move {
            let Some(body) = client.create(&url, n).await else {
                return false;
            };
            if let Some(id) = body["document_id"].as_str() {
                collected.lock().expect("ids").push(id.to_string());
            }
            true
        }
    })
    .await;
    let ids = std::mem::take(&mut *created.lock().expect("ids"));
    (stats, ids)
}

async fn run_coedits(plan: &Plan, server: &Server, client: &Client, ids: &[String]) -> Stats {
    let url = server.url("/writer/officeapi/v1/documents");
    let ids: Arc<Vec<String>> = Arc::new(ids.iter().take(1000).cloned().collect());
    let client = client.clone();
    load(plan.seconds, plan.clients, move |n| {
        let (client, url, ids) = (client.clone(), url.clone(), ids.clone());
        async move {
            let id = &ids[n as usize % ids.len()];
            client.coedit(&url, id, n).await
        }
    })
    .await
}

/// Session info and all-sessions reads from one client, alternating, for `duration` or until `stop` is set.
async fn run_reads(
    duration: Duration,
    stop: Arc<AtomicBool>,
    server: &Server,
    client: &Client,
    sessions: &[(String, String)],
) -> (Stats, Stats) {
    let info = Arc::new(std::sync::Mutex::new(latency_histogram()));
    let all = Arc::new(std::sync::Mutex::new(latency_histogram()));
    let urls: Arc<Vec<(String, String)>> = Arc::new(
        sessions
            .iter()
            .map(|(sid, doc)| {
                (
                    server.url(&format!("/writer/officeapi/v1/sessions/{sid}")),
                    server.url(&format!("/writer/officeapi/v1/documents/{doc}/sessions")),
                )
            })
            .collect(),
    );
    let (client, info_h, all_h) = (client.clone(), info.clone(), all.clone());
    let stats = load_until(duration, stop, 1, move |n| {
        let (client, urls, info_h, all_h) =
            (client.clone(), urls.clone(), info_h.clone(), all_h.clone());
        async move {
            let (info_url, all_url) = &urls[n as usize % urls.len()];
            let sent = Instant::now();
            if !client.get(info_url).await {
                return false;
            }
            let between = Instant::now();
            info_h
                .lock()
                .expect("h")
                .saturating_record((between - sent).as_micros() as u64);
            if !client.get(all_url).await {
                return false;
            }
            all_h
                .lock()
                .expect("h")
                .saturating_record(between.elapsed().as_micros() as u64);
            true
        }
    })
    .await;
    let take = |h: &Arc<std::sync::Mutex<Histogram<u64>>>| Stats {
        ok: stats.ok,
        failed: stats.failed,
        elapsed: stats.elapsed,
        latency_us: h.lock().expect("h").clone(),
    };
    (take(&info), take(&all))
}

/// A few sessions to read: (session id, document id).
async fn seed_sessions(server: &Server, client: &Client) -> anyhow::Result<Vec<(String, String)>> {
    let url = server.url("/writer/officeapi/v1/documents");
    let mut sessions = Vec::new();
    for n in 0..50 {
        let body = client.create(&url, n).await.context("seed create")?;
        sessions.push((
            body["session_id"].as_str().unwrap_or_default().to_string(),
            body["document_id"].as_str().unwrap_or_default().to_string(),
        ));
    }
    Ok(sessions)
}

async fn opens(plan: &Plan, report: &mut String) -> anyhow::Result<()> {
    let client = Client::new();

    let bare = Server::start(&["bare"], &[]).await?;
    let ping = format!("{}/ping", bare.base);
    let http = client.clone();
    let ceiling = load(plan.seconds, plan.clients, move |_| {
        let (http, ping) = (http.clone(), ping.clone());
        async move { http.get(&ping).await }
    })
    .await;
    drop(bare);

    let mut runs = Vec::new();
    for (label, batch, synchronous) in [
        ("one transaction per open", "1", "normal"),
        ("group commit", "128", "normal"),
        ("one transaction per open, synchronous=full", "1", "full"),
        ("group commit, synchronous=full", "128", "full"),
    ] {
        let database = fresh_database(plan, &format!("opens-{batch}-{synchronous}"));
        let server = Server::docsession(
            &database,
            &[
                ("DOCSESSION_OPEN_BATCH", batch.to_string()),
                ("DOCSESSION_SQLITE_SYNCHRONOUS", synchronous.to_string()),
            ],
        )
        .await?;
        let (creates, ids) = run_creates(plan, &server, &client).await;
        let coedits = run_coedits(plan, &server, &client, &ids).await;
        runs.push((label, creates, coedits, server.peak_rss_mib()));
    }

    // Reads, idle and under the open load, on a group-commit server.
    let database = fresh_database(plan, "reads");
    let server = Server::docsession(&database, &[]).await?;
    let sessions = seed_sessions(&server, &client).await?;
    let (idle_info, idle_all) =
        run_reads(plan.seconds, no_stop(), &server, &client, &sessions).await;
    let ((loaded_info, loaded_all), (creates_meanwhile, _)) = tokio::join!(
        run_reads(plan.seconds, no_stop(), &server, &client, &sessions),
        run_creates(plan, &server, &client)
    );
    let rss_reads = server.peak_rss_mib();
    drop(server);

    writeln!(report, "## 1. Opens\n")?;
    writeln!(
        report,
        "| path | opens/s | p50 ms | p99 ms | failed | vs one transaction per open | vs bare HTTP | server peak RSS MiB |"
    )?;
    writeln!(report, "|---|---|---|---|---|---|---|---|")?;
    row(
        report,
        &[
            "bare actix-web, small JSON (ceiling)".into(),
            format!("{:.0}", ceiling.rate()),
            format!("{:.2}", ceiling.ms(0.5)),
            format!("{:.2}", ceiling.ms(0.99)),
            ceiling.failed.to_string(),
            "".into(),
            "1.00x".into(),
            "".into(),
        ],
    );
    let naive = |label: &str| {
        runs.iter()
            .find(|run| run.0 == label)
            .map_or((0.0, 0.0), |run| (run.1.rate(), run.2.rate()))
    };
    for (label, creates, coedits, rss) in &runs {
        let baseline = if label.contains("full") {
            naive("one transaction per open, synchronous=full")
        } else {
            naive("one transaction per open")
        };
        for (what, stats, base) in [
            ("create, 4 KB", creates, baseline.0),
            ("co-edit", coedits, baseline.1),
        ] {
            row(
                report,
                &[
                    format!("{what}: {label}"),
                    format!("{:.0}", stats.rate()),
                    format!("{:.2}", stats.ms(0.5)),
                    format!("{:.2}", stats.ms(0.99)),
                    stats.failed.to_string(),
                    ratio(stats.rate(), base),
                    ratio(stats.rate(), ceiling.rate()),
                    format!("{rss:.1}"),
                ],
            );
        }
    }

    writeln!(report, "\n## 2. Reads while opens run\n")?;
    writeln!(
        report,
        "One reading client alternates session info and all sessions; {} clients create meanwhile ({:.0} opens/s).\n",
        plan.clients,
        creates_meanwhile.rate()
    )?;
    writeln!(report, "| read | idle p50 ms | idle p99 ms | under opens p50 ms | under opens p99 ms | p99 ratio |")?;
    writeln!(report, "|---|---|---|---|---|---|")?;
    for (what, idle, loaded) in [
        ("session info", &idle_info, &loaded_info),
        ("all sessions", &idle_all, &loaded_all),
    ] {
        row(
            report,
            &[
                what.into(),
                format!("{:.2}", idle.ms(0.5)),
                format!("{:.2}", idle.ms(0.99)),
                format!("{:.2}", loaded.ms(0.5)),
                format!("{:.2}", loaded.ms(0.99)),
                ratio(loaded.ms(0.99), idle.ms(0.99)),
            ],
        );
    }
    writeln!(
        report,
        "\nServer peak RSS over idle reads and reads under opens: {rss_reads:.1} MiB\n"
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Scale: data written straight into the file
// ---------------------------------------------------------------------------------------------------------

/// Moves the seeded rows from the WAL into the database file, as a server that ran for a while would have
/// done; otherwise the next start reads the whole WAL.
async fn checkpoint(connection: &mut SqliteConnection) -> anyhow::Result<()> {
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut *connection)
        .await?;
    Ok(())
}

async fn raw_connection(database: &Path) -> anyhow::Result<SqliteConnection> {
    // Brings the schema up to date the way the service does, then writes through one plain connection.
    let settings = Settings {
        database_url: sqlite_url(database),
        ..Settings::default()
    };
    drop(store::connect(&settings).await?);
    let mut connection = SqliteConnection::connect_with(
        &SqliteConnectOptions::new()
            .filename(database)
            .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal),
    )
    .await?;
    sqlx::query("PRAGMA synchronous = OFF")
        .execute(&mut connection)
        .await?;
    Ok(connection)
}

/// `count` rows numbered `first..first + count` through the recursive CTE `n(i)`, then `insert`.
async fn insert_numbered(
    connection: &mut SqliteConnection,
    first: i64,
    count: i64,
    insert: &str,
) -> anyhow::Result<()> {
    sqlx::query(&format!(
        "WITH RECURSIVE n(i) AS (SELECT $1 UNION ALL SELECT i + 1 FROM n WHERE i < $2) {insert}"
    ))
    .bind(first)
    .bind(first + count - 1)
    .execute(&mut *connection)
    .await
    .with_context(|| format!("seeding: {insert}"))?;
    Ok(())
}

/// `expired` sessions on expired documents and as many live ones, each document with 256 bytes of content.
async fn seed_sessions_at_scale(database: &Path, expired: i64) -> anyhow::Result<()> {
    let mut connection = raw_connection(database).await?;
    let now = now_ms();
    let mut tx = connection.begin().await?;
    sqlx::query(
        "INSERT INTO api_keys (id, name, key_hash, key_prefix, created_at) VALUES (1, 'bench', $1, 'benchkey', $2)",
    )
    .bind(hash_api_key(API_KEY))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let total = 2 * expired;
    let expires = format!(
        "CASE WHEN i <= {expired} THEN {} ELSE {} END",
        now - DAY_MS,
        now + DAY_MS
    );
    insert_numbered(
        &mut tx,
        1,
        total,
        &format!(
            "INSERT INTO documents (id, api_key_id, editor, document_id, name, document_type, created_at, expires_at) \
             SELECT i, 1, 'writer', 'doc-' || i, 'Document ' || i, 'document', {now}, {expires} FROM n"
        ),
    )
    .await?;
    insert_numbered(
        &mut tx,
        1,
        total,
        "INSERT INTO document_contents (document_pk, part, format, filename, bytes) \
         SELECT i, 'main', 'txt', 'doc.txt', randomblob(256) FROM n",
    )
    .await?;
    insert_numbered(
        &mut tx,
        1,
        total,
        &format!(
            "INSERT INTO sessions (id, session_id, document_pk, kind, user_id, display_name, settings, status, \
             created_at, expires_at) SELECT i, 'session-' || i, i, 'edit', '1', 'Bench', '{{}}', 'inactive', {now}, \
             {expires} FROM n"
        ),
    )
    .await?;
    tx.commit().await?;
    checkpoint(&mut connection).await
}

async fn purge_at_scale(plan: &Plan, report: &mut String) -> anyhow::Result<()> {
    let client = Client::new();
    let empty = fresh_database(plan, "start-empty");
    let started = Instant::now();
    let server = Server::docsession(&empty, &[]).await?;
    wait_serving(&server, &client).await?;
    let empty_start = started.elapsed();
    drop(server);

    let database = fresh_database(plan, "purge");
    let seeding = Instant::now();
    seed_sessions_at_scale(&database, plan.expired).await?;
    let seeded_in = seeding.elapsed();
    let rows = 6 * plan.expired;

    let started = Instant::now();
    let server = Server::docsession(&database, &[]).await?;
    wait_serving(&server, &client).await?;
    let scaled_start = started.elapsed();

    let live: Vec<(String, String)> = (0..200)
        .map(|n| {
            let i = plan.expired + 1 + n * (plan.expired / 200).max(1);
            (format!("session-{i}"), format!("doc-{i}"))
        })
        .collect();
    let (quiet, _) = run_reads(plan.seconds, no_stop(), &server, &client, &live).await;

    let stop = no_stop();
    let reads = run_reads(
        Duration::from_secs(3600),
        stop.clone(),
        &server,
        &client,
        &live,
    );
    let purge = async {
        let output = Command::new(std::env::current_exe()?)
            .args(["purge", &sqlite_url(&database)])
            .output()
            .await;
        // The reads stop with the purge, whatever its outcome.
        stop.store(true, Ordering::Relaxed);
        let output = output?;
        if !output.status.success() {
            bail!("purge failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let text = String::from_utf8(output.stdout)?;
        let fields: Vec<f64> = text
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        if fields.len() != 4 {
            bail!("unexpected purge output {text:?}");
        }
        anyhow::Ok((fields[0], fields[1], fields[2], fields[3] / 1024.0))
    };
    let ((during, _), purged) = tokio::join!(reads, purge);
    let (sessions, documents, seconds, purge_rss) = purged?;
    let server_rss = server.peak_rss_mib();
    drop(server);

    writeln!(report, "## 3. Purge at scale\n")?;
    writeln!(
        report,
        "{} expired sessions (each on its own document with 256 bytes of content) among {} live ones: {rows} rows \
         in all, written in {:.0} s.\n",
        plan.expired,
        plan.expired,
        seeded_in.as_secs_f64()
    )?;
    writeln!(report, "| figure | value | baseline | ratio |")?;
    writeln!(report, "|---|---|---|---|")?;
    let removed = sessions + documents * 2.0;
    row(
        report,
        &[
            "purge: sessions, documents removed".into(),
            format!("{sessions:.0}, {documents:.0} in {seconds:.1} s"),
            "".into(),
            "".into(),
        ],
    );
    row(
        report,
        &[
            "purge: expired sessions/s (rows/s counting documents and content)".into(),
            format!("{:.0} ({:.0})", sessions / seconds, removed / seconds),
            "target 100000".into(),
            ratio(sessions / seconds, 100_000.0),
        ],
    );
    row(
        report,
        &[
            "session info p99 during the purge, ms".into(),
            format!("{:.2}", during.ms(0.99)),
            format!("{:.2} (no purge)", quiet.ms(0.99)),
            ratio(during.ms(0.99), quiet.ms(0.99)),
        ],
    );
    row(
        report,
        &[
            "start-up to first answer, ms".into(),
            format!("{:.0} ({rows} rows)", scaled_start.as_secs_f64() * 1000.0),
            format!("{:.0} (empty)", empty_start.as_secs_f64() * 1000.0),
            ratio(scaled_start.as_secs_f64(), empty_start.as_secs_f64()),
        ],
    );
    row(
        report,
        &[
            "peak RSS, MiB: server (reads) / purging process".into(),
            format!("{server_rss:.1} / {purge_rss:.1}"),
            "target 100".into(),
            "".into(),
        ],
    );
    writeln!(report)?;
    Ok(())
}

async fn wait_serving(server: &Server, client: &Client) -> anyhow::Result<()> {
    let url = server.url("/api/v1/plan");
    for _ in 0..2000 {
        if client.get(&url).await {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    bail!("the server did not answer")
}

// ---------------------------------------------------------------------------------------------------------
// Billing at scale
// ---------------------------------------------------------------------------------------------------------

const KEYS: i64 = 1000;
const DAYS: i64 = 365;

fn bench_key(n: i64) -> String {
    format!("benchbilling{n:012}")
}

/// Adds usage events `first..first + count`, spread over 1,000 keys and the last 365 days, and rebuilds the
/// day rollup from them as migration V4 does.
async fn seed_usage(database: &Path, first: i64, count: i64) -> anyhow::Result<()> {
    let mut connection = raw_connection(database).await?;
    let now = now_ms();
    let mut tx = connection.begin().await?;
    if first == 1 {
        for n in 1..=KEYS {
            sqlx::query(
                "INSERT INTO api_keys (id, name, key_hash, key_prefix, created_at) VALUES ($1, $2, $3, 'benchbil', $4)",
            )
            .bind(n + 1)
            .bind(format!("billing {n}"))
            .bind(hash_api_key(&bench_key(n)))
            .bind(now - DAYS * DAY_MS)
            .execute(&mut *tx)
            .await?;
        }
    }
    insert_numbered(
        &mut tx,
        first,
        count,
        &format!(
            "INSERT INTO usage_events (api_key_id, editor, operation, document_id, session_id, created_at) \
             SELECT 2 + i % {KEYS}, 'writer', 'edit', 'doc-' || i, 'session-' || i, \
             {now} - (i % {DAYS}) * {DAY_MS} - (i * 7919) % {DAY_MS} FROM n"
        ),
    )
    .await?;
    sqlx::query("DELETE FROM usage_counts")
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "INSERT INTO usage_counts (api_key_id, day, opens) \
         SELECT api_key_id, created_at - created_at % 86400000 AS day, COUNT(*) FROM usage_events \
         GROUP BY api_key_id, day",
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    checkpoint(&mut connection).await
}

struct BillingFigures {
    plan_details: Stats,
    /// Per report of `REPORTS`: the fastest of five runs in ms, and its rows.
    reports: Vec<(f64, usize)>,
    start: Duration,
    rss: f64,
}

/// The usage reports measured: what, by which period, for key 2 only or every key, this month only or always.
const REPORTS: [(&str, UsagePeriod, bool, bool); 5] = [
    (
        "one key by day, the whole year",
        UsagePeriod::Day,
        true,
        false,
    ),
    ("one key by month", UsagePeriod::Month, true, false),
    ("every key, this month", UsagePeriod::Month, false, true),
    (
        "every key by month, the whole year",
        UsagePeriod::Month,
        false,
        false,
    ),
    (
        "every key by day, the whole year",
        UsagePeriod::Day,
        false,
        false,
    ),
];

async fn billing_figures(plan: &Plan, database: &Path) -> anyhow::Result<BillingFigures> {
    let client = Client::new();
    let started = Instant::now();
    let server = Server::docsession(database, &[]).await?;
    wait_serving(&server, &client).await?;
    let start = started.elapsed();
    let base = server.base.clone();
    let http = client.clone();
    let plan_details = load(plan.seconds, 1, move |n| {
        let url = format!(
            "{base}/api/v1/plan?apikey={}&",
            bench_key(1 + n as i64 % KEYS)
        );
        let http = http.clone();
        async move { http.get(&url).await }
    })
    .await;
    let rss = server.peak_rss_mib();
    drop(server);

    let settings = Settings {
        database_url: sqlite_url(database),
        ..Settings::default()
    };
    let store = store::connect(&settings).await?;
    let (month_start, _) = billing_cycle(now_ms());
    let mut reports = Vec::new();
    for (_, period, one_key, this_month) in REPORTS {
        let filter = UsageFilter {
            api_key_id: one_key.then_some(2),
            since_day: if this_month { month_start } else { 0 },
        };
        let mut fastest = f64::MAX;
        let mut rows = 0;
        for _ in 0..5 {
            let started = Instant::now();
            rows = store.usage_report(period, &filter).await?.len();
            fastest = fastest.min(started.elapsed().as_secs_f64() * 1000.0);
        }
        reports.push((fastest, rows));
    }
    Ok(BillingFigures {
        plan_details,
        reports,
        start,
        rss,
    })
}

async fn billing_at_scale(plan: &Plan, report: &mut String) -> anyhow::Result<()> {
    let database = fresh_database(plan, "billing");
    let small = plan.usage_rows / 10;
    seed_usage(&database, 1, small).await?;
    let before = billing_figures(plan, &database).await?;
    let seeding = Instant::now();
    seed_usage(&database, small + 1, plan.usage_rows - small).await?;
    let seeded_in = seeding.elapsed();
    let after = billing_figures(plan, &database).await?;

    writeln!(report, "## 4. Billing at scale\n")?;
    writeln!(
        report,
        "Usage rows over {KEYS} keys and {DAYS} days; the baseline is the same database at a tenth of the rows \
         ({small}), which already has a rollup row for nearly every key and day. The {} rows took {:.0} s to \
         write. Reports are timed in-process through the store (what `docsession usage` runs).\n",
        plan.usage_rows,
        seeded_in.as_secs_f64()
    )?;
    writeln!(
        report,
        "| figure | {} rows | {small} rows | ratio |",
        plan.usage_rows
    )?;
    writeln!(report, "|---|---|---|---|")?;
    let mut figures = vec![
        (
            "plan details p50, ms (HTTP)".to_string(),
            after.plan_details.ms(0.5),
            before.plan_details.ms(0.5),
        ),
        (
            "plan details p99, ms (HTTP)".to_string(),
            after.plan_details.ms(0.99),
            before.plan_details.ms(0.99),
        ),
    ];
    for (n, (what, ..)) in REPORTS.iter().enumerate() {
        figures.push((
            format!("usage report, {what} ({} rows), ms", after.reports[n].1),
            after.reports[n].0,
            before.reports[n].0,
        ));
    }
    figures.push((
        "start-up to first answer, ms".to_string(),
        after.start.as_secs_f64() * 1000.0,
        before.start.as_secs_f64() * 1000.0,
    ));
    figures.push(("server peak RSS, MiB".to_string(), after.rss, before.rss));
    for (what, value, base) in figures {
        row(
            report,
            &[
                what,
                format!("{value:.2}"),
                format!("{base:.2}"),
                ratio(value, base),
            ],
        );
    }
    writeln!(report)?;
    Ok(())
}
