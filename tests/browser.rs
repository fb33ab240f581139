//! The session page in headless Chromium, driven over WebDriver: see the content, edit and save it to the
//! host, meet a conflicting co-editor, and watch the page notice that its session ended. Screenshots go to
//! `artifacts/`.
//!
//! Needs Debian's `chromium` and `chromium-driver`. Without them it fails when `DOCSESSION_BROWSER_TESTS=required`
//! (CI sets it; CI installs both) and otherwise skips loudly, so that `cargo test` passes on a machine that has
//! only the Rust toolchain.

mod common;
mod host;

use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use reqwest::multipart::Form;
use serde_json::{json, Value};

const INSTALL: &str = "apt-get install -y chromium chromium-driver";

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| names.iter().map(move |name| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// A chromedriver on a free port, stopped when dropped.
struct ChromeDriver {
    child: Child,
    url: String,
}

impl ChromeDriver {
    async fn start(program: &Path) -> anyhow::Result<ChromeDriver> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {}", program.display()))?;
        let driver = ChromeDriver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..100 {
            let ready = client
                .get(format!("{}/status", driver.url))
                .send()
                .await
                .ok()
                .filter(|response| response.status().is_success());
            if ready.is_some() {
                return Ok(driver);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("chromedriver did not answer on {} within 10 s", driver.url)
    }
}

impl Drop for ChromeDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(driver: &ChromeDriver, chromium: &Path, profile: &Path) -> anyhow::Result<Client> {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".to_string(),
        json!({
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                format!("--user-data-dir={}", profile.display()),
            ],
        }),
    );
    Ok(ClientBuilder::new(HttpConnector::new())
        .capabilities(capabilities)
        .connect(&driver.url)
        .await?)
}

/// Polls `check` every 100 ms for at most 10 s.
async fn until<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    for _ in 0..100 {
        if check().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("timed out waiting for {what}")
}

async fn text_of(browser: &Client, id: &str) -> anyhow::Result<String> {
    Ok(browser.find(Locator::Id(id)).await?.text().await?)
}

async fn shown(browser: &Client, id: &str) -> anyhow::Result<bool> {
    Ok(browser.find(Locator::Id(id)).await?.is_displayed().await?)
}

async fn screenshot(browser: &Client, name: &str) -> anyhow::Result<()> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("artifacts");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(name), browser.screenshot().await?)?;
    Ok(())
}

#[tokio::test]
async fn a_session_page_in_chromium_edits_saves_and_notices_its_end() {
    let (Some(chromium), Some(chromedriver)) = (
        find_program(&["chromium", "chromium-browser"]),
        find_program(&["chromedriver"]),
    ) else {
        let message = format!("the browser test needs headless Chromium and its WebDriver; install them with: {INSTALL}");
        if std::env::var("DOCSESSION_BROWSER_TESTS").as_deref() == Ok("required") {
            panic!("{message}");
        }
        eprintln!("SKIPPED: {message}");
        return;
    };
    let app = common::spawn_app().await;
    let host = host::Host::always(200).await;
    let driver = ChromeDriver::start(&chromedriver).await.unwrap();
    let profile = tempfile::tempdir().unwrap();
    let browser = connect(&driver, &chromium, profile.path())
        .await
        .unwrap_or_else(|err| {
            panic!("cannot start Chromium through chromedriver ({err}); install with: {INSTALL}")
        });
    let result = tokio::time::timeout(
        Duration::from_secs(120),
        session_story(&app, &host, &browser),
    )
    .await;
    // Close the browser whatever happened, then report.
    let _ = browser.close().await;
    result
        .expect("the browser story took more than 2 minutes")
        .unwrap();
}

async fn session_story(
    app: &common::TestApp,
    host: &host::Host,
    browser: &Client,
) -> anyhow::Result<()> {
    let open = |user: &str| {
        Form::new()
            .text(
                "document_info",
                json!({"document_id": "browser", "document_name": "Browser notes"}).to_string(),
            )
            .text(
                "user_info",
                json!({"user_id": user, "display_name": user}).to_string(),
            )
            .text(
                "callback_settings",
                json!({"save_url": host.url, "save_url_params": {"id": "$session_id"}}).to_string(),
            )
            .part(
                "document",
                common::file_part(b"First draft".to_vec(), "notes.txt"),
            )
    };
    let ann = app
        .post_form("/writer/officeapi/v1/documents", open("Ann"))
        .await
        .assert_ok()
        .clone();
    let bob = app
        .post_form("/writer/officeapi/v1/documents", open("Bob"))
        .await
        .assert_ok()
        .clone();
    let sid = ann["session_id"].as_str().unwrap().to_string();

    browser.set_window_size(390, 844).await?;
    browser.goto(ann["document_url"].as_str().unwrap()).await?;
    let editor = browser.wait().for_element(Locator::Id("editor")).await?;
    ensure!(editor.prop("value").await?.as_deref() == Some("First draft"));
    ensure!(text_of(browser, "others").await? == "Bob");
    until("the countdown to tick", || async {
        let text = text_of(browser, "countdown").await?;
        Ok(text.starts_with("5:59:") || text.starts_with("5:58:"))
    })
    .await?;

    editor.clear().await?;
    editor.send_keys("Edited in Chromium").await?;
    browser.find(Locator::Id("save")).await?.click().await?;
    until("the page to say Saved", || async {
        Ok(text_of(browser, "status").await? == "Saved.")
    })
    .await?;
    let requests = host.requests();
    ensure!(requests.len() == 1, "the host got {} saves", requests.len());
    ensure!(requests[0].content().bytes == b"Edited in Chromium");
    ensure!(requests[0].fields["id"] == sid);
    screenshot(browser, "session-page.png").await?;

    // Bob saves a newer version; the open page hears of it, and refuses to overwrite it.
    let bob_sid = bob["session_id"].as_str().unwrap();
    let bobs_edit = app
        .client
        .put(format!(
            "{}/page/v1/sessions/{bob_sid}/content?version=2",
            app.base
        ))
        .body("Bob was here")
        .send()
        .await?;
    ensure!(bobs_edit.status() == 200);
    until("the newer-version notice", || shown(browser, "newer")).await?;
    editor.send_keys(" and more").await?;
    browser.find(Locator::Id("save")).await?.click().await?;
    until("the conflict notice", || shown(browser, "conflict")).await?;
    ensure!(
        editor.prop("value").await?.as_deref() == Some("Edited in Chromium and more"),
        "the refused text must stay in the editor"
    );
    ensure!(
        host.requests().len() == 1,
        "a refused edit reached the host"
    );
    screenshot(browser, "session-conflict.png").await?;

    let deleted: Value = app
        .delete(&format!("/writer/officeapi/v1/sessions/{sid}"))
        .await
        .assert_ok()
        .clone();
    ensure!(deleted["session_deleted"] == true);
    until("the page to say the session ended", || {
        shown(browser, "ended")
    })
    .await?;
    ensure!(text_of(browser, "ended")
        .await?
        .contains("This session has ended."));
    ensure!(editor.prop("readOnly").await?.as_deref() == Some("true"));
    screenshot(browser, "session-ended.png").await?;
    Ok(())
}
