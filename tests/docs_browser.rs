//! The docs site in a real browser: headless Chromium, driven over WebDriver (chromedriver),
//! opens the reference catalog's site from disk, types in the search box and sees the list
//! filter, opens an event page, and keeps screenshots under
//! `target/docs-screenshots/` as artifacts.
//!
//! Needs `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian `chromium`,
//! `chromium-driver`; `.ci/run` installs them). Without them the test is skipped, except
//! under `CI=true`, where it fails.

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use schemactl_codegen::docs::{site, DocsModel};
use schemactl_codegen::{load, LoadOptions};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// chromedriver, stopped when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `condition` until it holds or `within` passes; the last value either way.
async fn until<T, F, Fut>(within: Duration, mut probe: F, condition: impl Fn(&T) -> bool) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let deadline = Instant::now() + within;
    loop {
        let value = probe().await;
        if condition(&value) || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn visible_entries(client: &Client) -> Vec<String> {
    let script = "return Array.from(document.querySelectorAll('#by-domain li.event'))\
                  .filter(li => li.offsetParent !== null)\
                  .map(li => li.querySelector('a').textContent);";
    match client.execute(script, vec![]).await {
        Ok(Value::Array(items)) => items
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        other => panic!("cannot read the event list: {other:?}"),
    }
}

fn keep(name: &str, png: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/docs-screenshots");
    fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    fs::write(&path, png).unwrap();
    path
}

#[tokio::test]
async fn search_filters_the_index_and_event_pages_open_in_chromium() {
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        let msg = format!(
            "{CHROMIUM} or {CHROMEDRIVER} missing: install Debian's `chromium` and `chromium-driver`"
        );
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{msg}");
        eprintln!("skipped: {msg}");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas");
    let catalog = load(&root, &LoadOptions::default()).unwrap();
    let model = DocsModel::new(&catalog, None);
    let dir = tempfile::tempdir().unwrap();
    for (rel, text) in site::render(&catalog, &model).unwrap() {
        let path = dir.path().join(rel);
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    let port = free_port();
    let _driver = Driver(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts"),
    );
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": CHROMIUM,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1100"],
        }),
    );
    let webdriver = format!("http://127.0.0.1:{port}");
    let client = until(
        Duration::from_secs(20),
        || async {
            ClientBuilder::new(HttpConnector::new())
                .capabilities(capabilities.clone())
                .connect(&webdriver)
                .await
        },
        Result::is_ok,
    )
    .await
    .expect("a WebDriver session with headless Chromium");

    let index = format!("file://{}", dir.path().join("index.html").display());
    client.goto(&index).await.unwrap();
    let all = visible_entries(&client).await;
    assert_eq!(all.len(), model.versions.len(), "every version is listed");

    // Type a query; the list keeps exactly the versions whose search text matches.
    let query = "invoice";
    let expected: Vec<String> = model
        .versions
        .iter()
        .filter(|v| v.summary.search.contains(query))
        .map(|v| v.summary.message_type.clone())
        .collect();
    assert!(!expected.is_empty() && expected.len() < all.len());
    let search = client.find(Locator::Id("search")).await.unwrap();
    search.send_keys(query).await.unwrap();
    let shown = until(
        Duration::from_secs(5),
        || visible_entries(&client),
        |shown| shown.len() == expected.len(),
    )
    .await;
    let mut sorted = shown.clone();
    sorted.sort();
    let mut want = expected.clone();
    want.sort();
    assert_eq!(sorted, want, "the filtered list");
    let count = client
        .find(Locator::Id("search-count"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(count, format!("{} matching event versions", expected.len()));
    let shot = keep("index-search.png", &client.screenshot().await.unwrap());
    assert!(fs::read(&shot).unwrap().starts_with(b"\x89PNG"));

    // Open the first match from the filtered list.
    let first = &shown[0];
    client
        .find(Locator::LinkText(first))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let heading = until(
        Duration::from_secs(5),
        || async {
            match client.find(Locator::Css("h1")).await {
                Ok(h1) => h1.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            }
        },
        |h| h.starts_with(first.as_str()),
    )
    .await;
    assert!(heading.starts_with(first.as_str()), "{heading:?}");
    let (name, version) = first.rsplit_once(".v").unwrap();
    let url = client.current_url().await.unwrap();
    assert!(
        url.path()
            .ends_with(&format!("events/{name}/v{version}.html")),
        "{url}"
    );
    let rows = client
        .find_all(Locator::Css("table.fields tbody tr"))
        .await
        .unwrap();
    let v = catalog.version(first).unwrap();
    assert_eq!(
        rows.len(),
        schemactl_codegen::fields::fields(&v.resolved, &v.rust.type_name).len()
    );
    let shot = keep("event-page.png", &client.screenshot().await.unwrap());
    assert!(fs::read(&shot).unwrap().starts_with(b"\x89PNG"));
    client.close().await.unwrap();
}
