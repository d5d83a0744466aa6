//! The nsqadmin UI in a real headless Chromium (Debian's `chromium` + `chromium-driver`,
//! installed by `scripts/interop-setup.sh`), driven over WebDriver with fantoccini: the main
//! page shows the topics and their depths, clicking "Pause" on a channel pauses it in the
//! broker, and screenshots are saved under the test's target directory (paths printed).
//!
//! Skips with a notice when Chromium is missing and the interop variables are unset (plain
//! `cargo test`); fails when they are set (`scripts/test.sh`), since the setup installs it.

mod embedded;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use broker::admin::AdminOptions;
use embedded::{admin_opts, launch_admin, launch_lookupd_and_nsqd};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);
const CHROMIUM_CANDIDATES: &[&str] = &["/usr/bin/chromium", "/usr/bin/chromium-browser"];
const DRIVER_CANDIDATES: &[&str] = &["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"];

/// Chromium and chromedriver, or `None` (after a notice) when the test may skip.
fn browser_paths() -> Option<(PathBuf, PathBuf)> {
    let find = |var: &str, candidates: &[&str]| {
        std::env::var_os(var)
            .map(PathBuf::from)
            .or_else(|| candidates.iter().map(PathBuf::from).find(|p| p.exists()))
    };
    let chromium = find("NSQ_CHROMIUM", CHROMIUM_CANDIDATES);
    let driver = find("NSQ_CHROMEDRIVER", DRIVER_CANDIDATES);
    match (chromium, driver) {
        (Some(chromium), Some(driver)) => Some((chromium, driver)),
        _ => {
            let required = std::env::var_os("NSQ_INTEROP_PYTHON").is_some()
                || std::env::var_os("NSQ_INTEROP_NODE_MODULES").is_some();
            assert!(
                !required,
                "chromium/chromedriver missing although the interop setup ran \
                 (scripts/interop-setup.sh installs them)"
            );
            eprintln!("NOTICE: chromium or chromedriver not installed; skipping the nsqadmin browser test (run scripts/test.sh)");
            None
        }
    }
}

/// chromedriver in its own process group, killed with everything it started on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    async fn start(path: &Path) -> Driver {
        let mut child = Command::new(path)
            .arg("--port=0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let port = timeout(WAIT, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(rest) = line.split("started successfully on port ").nth(1) {
                    return rest.trim_end_matches('.').trim().parse::<u16>().unwrap();
                }
            }
            panic!("chromedriver exited before listening");
        })
        .await
        .expect("chromedriver listens in time");
        // Keep draining stdout so chromedriver never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Driver { child, port }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // The group holds chromedriver and the Chromium it launched: end them all.
            let _ = std::process::Command::new("kill")
                .args(["-TERM", "--", &format!("-{pid}")])
                .status();
        }
    }
}

async fn browser(chromium: &Path, driver: &Driver, profile: &Path) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1440,900", format!("--user-data-dir={}", profile.display())],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    timeout(
        WAIT,
        ClientBuilder::new(connector)
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", driver.port)),
    )
    .await
    .expect("browser session in time")
    .expect("browser session")
}

async fn http(method: reqwest::Method, url: String) -> reqwest::Response {
    let response = reqwest::Client::new()
        .request(method, url)
        .body("hello")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response
}

async fn cell_text(client: &Client, css: &str) -> String {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .text()
        .await
        .unwrap()
}

async fn save_screenshot(client: &Client, name: &str) -> PathBuf {
    let png = client.screenshot().await.unwrap();
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, png).unwrap();
    println!("ARTIFACT nsqadmin screenshot: {}", path.display());
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sees_depths_and_pauses_a_channel() {
    let Some((chromium, driver_path)) = browser_paths() else {
        return;
    };
    let (lookupd, nsqd) = launch_lookupd_and_nsqd().await;
    let nsqd_http = format!("http://{}", nsqd.http_addr());
    let post = |path: &str| http(reqwest::Method::POST, format!("{nsqd_http}{path}"));
    post("/topic/create?topic=orders").await;
    post("/channel/create?topic=orders&channel=billing").await;
    for _ in 0..5 {
        post("/pub?topic=orders").await;
    }
    for _ in 0..2 {
        post("/pub?topic=audit").await;
    }
    // nsqadmin reads the cluster through lookupd: wait until nsqd registered both topics.
    let lookupd_http = format!("http://{}", lookupd.http_addr());
    timeout(WAIT, async {
        loop {
            let mut registered = 0;
            for topic in ["orders", "audit"] {
                let reply = reqwest::get(format!("{lookupd_http}/lookup?topic={topic}"))
                    .await
                    .unwrap();
                if reply.status().is_success() {
                    let lookup: Value = reply.json().await.unwrap();
                    registered += usize::from(!lookup["producers"].as_array().unwrap().is_empty());
                }
            }
            if registered == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("nsqd registers its topics with lookupd");
    let admin = launch_admin(AdminOptions {
        lookupd_http_addresses: vec![lookupd.http_addr().to_string()],
        ..admin_opts()
    })
    .await;

    let driver = Driver::start(&driver_path).await;
    let profile = tempfile::tempdir().unwrap();
    let client = browser(&chromium, &driver, profile.path()).await;
    let outcome = timeout(Duration::from_secs(60), async {
        // Main page: both topics with their depths, the channel under its topic.
        client.goto(&admin.url()).await.unwrap();
        let audit_depth = cell_text(&client, r#"tr[data-topic-row="audit"] td:nth-child(2)"#).await;
        assert_eq!(audit_depth, "2");
        let billing_depth = cell_text(
            &client,
            r#"tr[data-channel-row="orders/billing"] td:nth-child(2)"#,
        )
        .await;
        assert_eq!(billing_depth, "5");
        let title = cell_text(&client, "h1").await;
        assert_eq!(title, "Topics");
        save_screenshot(&client, "nsqadmin-main.png").await;

        // Topic page: click "Pause" on the channel; the UI flips to "Unpause".
        client
            .goto(&format!("{}topics/orders", admin.url()))
            .await
            .unwrap();
        let pause = client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(
                r#"button[data-action="pause"][data-channel="billing"]"#,
            ))
            .await
            .unwrap();
        pause.click().await.unwrap();
        client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(
                r#"button[data-action="unpause"][data-channel="billing"]"#,
            ))
            .await
            .expect("the page shows the channel paused");
        save_screenshot(&client, "nsqadmin-topic.png").await;
    })
    .await;
    client.close().await.ok();
    drop(driver);
    outcome.expect("browser steps finish in time");

    // The broker itself reports the channel paused.
    let stats: Value = http(
        reqwest::Method::GET,
        format!("{nsqd_http}/stats?format=json&topic=orders"),
    )
    .await
    .json()
    .await
    .unwrap();
    let channel = &stats["topics"][0]["channels"][0];
    assert_eq!(channel["channel_name"], "billing");
    assert_eq!(channel["paused"], true, "{stats}");
    assert_eq!(stats["topics"][0]["paused"], false);

    admin.shutdown().await;
    nsqd.shutdown().await;
    lookupd.shutdown().await;
}
