mod common;

// Several docsession processes on one PostgreSQL database (issue 6). PostgreSQL only: without
// DOCSESSION_TEST_POSTGRES_URL every test here says so and passes without running; `.ci/run` sets it.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{attach, eventually, postgres_admin_url, PgDatabase, TestApp, POSTGRES_URL_VAR};
use docsession::config::Settings;
use docsession::domain::usage_allowance;
use docsession::jobs::purge::PURGE_LEASE;
use docsession::store;
use reqwest::multipart::Form;
use serde_json::Value;
use sqlx::PgPool;

const CREATE: &str = "/writer/officeapi/v1/documents";

fn skip_without_postgres(test: &str) -> Option<String> {
    let url = postgres_admin_url();
    if url.is_none() {
        eprintln!(
            "\n*** {test}: SKIPPED, it needs PostgreSQL. Set {POSTGRES_URL_VAR} \
             (e.g. postgres://postgres@127.0.0.1:5432/postgres) to run it. ***\n"
        );
    }
    url
}

/// A `docsession serve` process; killed (SIGKILL) when dropped.
struct Instance {
    child: Child,
    base: String,
    id: String,
    log: Arc<Mutex<Vec<String>>>,
}

/// The value of `field="…"` or `field=…` in a log line.
fn log_field(line: &str, field: &str) -> Option<String> {
    let rest = &line[line.find(&format!(" {field}="))? + field.len() + 2..];
    Some(match rest.strip_prefix('"') {
        Some(quoted) => quoted[..quoted.find('"')?].to_string(),
        None => rest.split_whitespace().next()?.to_string(),
    })
}

impl Instance {
    /// Starts the binary on `database_url` with a free port and waits for its "serving" log line.
    fn start(database_url: &str, env: &[(&str, &str)]) -> Instance {
        let dir = std::env::temp_dir();
        let mut child = Command::new(env!("CARGO_BIN_EXE_docsession"))
            // Away from the repository's .env, with only the variables the test chooses.
            .current_dir(&dir)
            .env_clear()
            .env("DOCSESSION_DATABASE_URL", database_url)
            .env("DOCSESSION_LISTEN", "127.0.0.1:0")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start docsession");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (serving, started) = mpsc::channel();
        let lines = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if line.contains(" serving ") {
                    serving.send(line.clone()).ok();
                }
                lines.lock().unwrap().push(line);
            }
        });
        let Ok(line) = started.recv_timeout(Duration::from_secs(120)) else {
            panic!(
                "docsession did not start:\n{}",
                log.lock().unwrap().join("\n")
            );
        };
        Instance {
            child,
            base: log_field(&line, "base_url").expect("base_url in the serving line"),
            id: log_field(&line, "instance").expect("instance in the serving line"),
            log,
        }
    }

    /// Log lines containing `needle`.
    fn count(&self, needle: &str) -> usize {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|line| line.contains(needle))
            .count()
    }

    fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Two instances on one new database, and a client for each sharing one API key.
struct Cluster {
    database: Arc<PgDatabase>,
    a: Instance,
    b: Instance,
    on_a: TestApp,
    on_b: TestApp,
}

impl Cluster {
    async fn start(admin_url: &str, env: &[(&str, &str)]) -> Cluster {
        let database = PgDatabase::create(admin_url).await;
        let a = Instance::start(&database.url, env);
        let b = Instance::start(&database.url, env);
        let settings = Settings {
            database_url: database.url.clone(),
            ..Settings::default()
        };
        let on_a = attach(a.base.clone(), tempdir(), settings.clone(), None).await;
        let on_b = attach(b.base.clone(), tempdir(), settings, Some(on_a.key.clone())).await;
        Cluster {
            database,
            a,
            b,
            on_a,
            on_b,
        }
    }

    async fn pool(&self) -> PgPool {
        PgPool::connect(&self.database.url).await.expect("pool")
    }
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

fn create_form(document_id: &str, user_id: &str) -> Form {
    Form::new()
        .text(
            "document_info",
            format!(r#"{{"document_id": "{document_id}", "document_name": "Doc {document_id}"}}"#),
        )
        .text("user_info", format!(r#"{{"user_id": "{user_id}"}}"#))
}

fn text<'a>(body: &'a Value, key: &str) -> &'a str {
    body[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {body}"))
}

async fn total_usage(app: &TestApp, key: &str) -> i64 {
    app.get_with_key("/api/v1/plan", key).await.assert_ok()["total_usage"]
        .as_i64()
        .expect("total_usage")
}

#[tokio::test]
async fn a_session_created_on_one_instance_is_read_opened_and_deleted_on_the_other() {
    let Some(admin) = skip_without_postgres("cluster: cross-instance session") else {
        return;
    };
    let cluster = Cluster::start(&admin, &[]).await;
    let (on_a, on_b) = (&cluster.on_a, &cluster.on_b);

    let created = on_a.writer_create("shared", "1").await;
    let sid = text(&created, "session_id");
    let info = on_b
        .get(&format!("/writer/officeapi/v1/sessions/{sid}"))
        .await;
    assert_eq!(info.assert_ok()["status"], "inactive");

    // The page URL names instance A; any instance serves it.
    let page = text(&created, "document_url").replace(&cluster.a.base, &cluster.b.base);
    let (status, _) = on_b.open_page(&page).await;
    assert_eq!(status, 200);
    let info = on_a
        .get(&format!("/writer/officeapi/v1/sessions/{sid}"))
        .await;
    assert_eq!(info.assert_ok()["status"], "active");

    // A co-edit through B joins the document created through A.
    on_b.writer_create("shared", "2").await;
    let listed = on_b
        .get("/writer/officeapi/v1/documents/shared/sessions")
        .await;
    let listed = listed.assert_ok();
    assert_eq!(listed["collaborators_count"], 2, "{listed}");

    let deleted = on_b
        .delete(&format!("/writer/officeapi/v1/sessions/{sid}"))
        .await;
    assert_eq!(deleted.assert_ok()["session_deleted"], true);
    on_a.get(&format!("/writer/officeapi/v1/sessions/{sid}"))
        .await
        .assert_error(1833);
    let deleted = on_b.delete("/writer/officeapi/v1/documents/shared").await;
    assert_eq!(deleted.assert_ok()["document_deleted"], true);
    on_a.get("/writer/officeapi/v1/documents/shared")
        .await
        .assert_error(1844);
    assert_eq!(total_usage(on_a, &on_a.key).await, 2);
}

#[tokio::test]
async fn concurrent_opens_on_both_instances_add_up_exactly() {
    let Some(admin) = skip_without_postgres("cluster: concurrent opens") else {
        return;
    };
    let cluster = Cluster::start(&admin, &[]).await;
    let (on_a, on_b) = (&cluster.on_a, &cluster.on_b);

    // A limited key: twice its allowance in concurrent opens, half through each instance.
    let limit = 20;
    let allowance = usage_allowance(limit);
    let limited = on_a.create_key("limited", Some(limit)).await;
    let opens = (0..2 * allowance).map(|i| {
        let app = if i % 2 == 0 { on_a } else { on_b };
        let limited = &limited;
        async move {
            app.post_form_with_key(CREATE, create_form(&format!("lim-{i}"), "1"), limited)
                .await
        }
    });
    let responses = futures_util::future::join_all(opens).await;
    let opened = responses.iter().filter(|r| r.status == 200).count() as i64;
    for refused in responses.iter().filter(|r| r.status != 200) {
        refused.assert_error(1845);
    }
    assert_eq!(opened, allowance, "exactly the allowance opens, no more");
    assert_eq!(total_usage(on_b, &limited).await, allowance);

    // An unlimited key: every open counted once.
    let opens = (0..40).map(|i| {
        let app = if i % 2 == 0 { on_a } else { on_b };
        async move {
            app.post_form(CREATE, create_form(&format!("free-{i}"), "1"))
                .await
        }
    });
    for response in futures_util::future::join_all(opens).await {
        response.assert_ok();
    }
    assert_eq!(total_usage(on_a, &on_a.key).await, 40);

    // One document_id created at once on both instances: one document, every open a session of it.
    let opens = (0..10).map(|i| {
        let app = if i % 2 == 0 { on_a } else { on_b };
        async move {
            app.post_form(CREATE, create_form("same", &i.to_string()))
                .await
        }
    });
    for response in futures_util::future::join_all(opens).await {
        assert_eq!(response.assert_ok()["document_id"], "same");
    }
    let listed = on_a
        .get("/writer/officeapi/v1/documents/same/sessions")
        .await;
    assert_eq!(listed.assert_ok()["collaborators_count"], 10);
    assert_eq!(total_usage(on_b, &on_a.key).await, 50);
}

#[tokio::test]
async fn one_instance_purges_per_tick_and_another_takes_over_when_it_dies() {
    let Some(admin) = skip_without_postgres("cluster: purge lease") else {
        return;
    };
    let env = [
        ("DOCSESSION_PURGE_INTERVAL", "1s"),
        ("DOCSESSION_SESSION_TTL", "1s"),
    ];
    let mut cluster = Cluster::start(&admin, &env).await;
    let pool = cluster.pool().await;
    let sessions = || async {
        let (count,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM sessions")
            .fetch_one(&pool)
            .await
            .expect("count");
        count
    };
    let lease_owner = || async {
        sqlx::query_as::<_, (String,)>("SELECT owner FROM purge_lease WHERE name = $1")
            .bind(PURGE_LEASE)
            .fetch_optional(&pool)
            .await
            .expect("lease")
            .map(|(owner,)| owner)
    };

    // Sessions made with a 1 s lifetime are purged by whichever instance holds the lease.
    cluster.on_a.writer_create("short-1", "1").await;
    cluster.on_b.writer_create("short-2", "1").await;
    eventually("the purge to remove expired sessions", || async {
        sessions().await == 0
    })
    .await;

    // Both instances tick every second; only one purges per tick.
    let ticks =
        |instance: &Instance| instance.count("purge done") + instance.count("purge skipped");
    eventually("four purge ticks on each instance", || async {
        ticks(&cluster.a) >= 4 && ticks(&cluster.b) >= 4
    })
    .await;
    let done = cluster.a.count("purge done") + cluster.b.count("purge done");
    let skipped = cluster.a.count("purge skipped") + cluster.b.count("purge skipped");
    let (ticks_a, ticks_b) = (ticks(&cluster.a), ticks(&cluster.b));
    assert!(
        done <= ticks_a.max(ticks_b) + 1 && skipped + 1 >= ticks_a.min(ticks_b),
        "one purge per tick across both: {done} done, {skipped} skipped, ticks {ticks_a} and {ticks_b}"
    );

    // Kill -9 the holder: the survivor takes the lease once it lapses (one purge interval).
    let holder = lease_owner().await.expect("a lease row");
    let survivor = if holder == cluster.a.id {
        cluster.a.kill();
        cluster.b.id.clone()
    } else {
        assert_eq!(holder, cluster.b.id, "the lease names one of the instances");
        cluster.b.kill();
        cluster.a.id.clone()
    };
    eventually("the survivor to take over the purge lease", || async {
        lease_owner().await.as_deref() == Some(survivor.as_str())
    })
    .await;
    let on_survivor = if survivor == cluster.a.id {
        &cluster.on_a
    } else {
        &cluster.on_b
    };
    on_survivor.writer_create("short-3", "1").await;
    eventually("the survivor to purge", || async { sessions().await == 0 }).await;
}

#[tokio::test]
async fn six_instances_migrating_one_empty_database_at_once_all_succeed() {
    let Some(admin) = skip_without_postgres("cluster: concurrent migrations") else {
        return;
    };
    let database = PgDatabase::create(&admin).await;
    let settings = Settings {
        database_url: database.url.clone(),
        ..Settings::default()
    };
    let starts = (0..6).map(|_| store::connect(&settings));
    for started in futures_util::future::join_all(starts).await {
        started.expect("every instance migrates or finds the schema current");
    }
    let pool = PgPool::connect(&database.url).await.expect("pool");
    let (applied,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM refinery_schema_history")
        .fetch_one(&pool)
        .await
        .expect("history");
    let shipped = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres"))
        .expect("migrations")
        .count();
    assert_eq!(applied, shipped as i64, "each migration applied once");
}
