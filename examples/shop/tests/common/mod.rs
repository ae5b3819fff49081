//! What the shop's broker tests share: the broker's address and the platform's own Go
//! programs (built in GOPATH mode over Debian's packages, since no module proxy is
//! reachable).

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use lapin::{Connection, ConnectionProperties};
use schemactl_runtime::Topology;
use serde_json::Value;

/// Instructions when the Go toolchain or libraries are missing.
const GO_HELP: &str = "install golang-go, golang-github-rabbitmq-amqp091-go-dev and golang-github-google-uuid-dev (.ci/run does)";

/// The broker (`AMQP_URL`, else the local one).
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// Builds Go program `package` (under `tests/go/src` of the repository).
pub fn go_program(package: &str) -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(package);
    let status = std::process::Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(package)
        .env("GO111MODULE", "off")
        .env(
            "GOPATH",
            format!("{}:/usr/share/gocode", repo.join("tests/go").display()),
        )
        .env(
            "GOCACHE",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("gocache"),
        )
        .status()
        .unwrap_or_else(|e| panic!("cannot run `go` ({e}): {GO_HELP}"));
    assert!(
        status.success(),
        "Go program {package} does not build: {GO_HELP}"
    );
    out
}

/// Runs a Go program built by [`go_program`]; its last output line, a JSON object.
pub async fn run_go(client: &Path, args: &[&str]) -> Value {
    let out = tokio::process::Command::new(client)
        .args(args)
        .output()
        .await
        .expect("the Go program runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let value: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("Go program output: {e}: {stdout}"));
    assert!(out.status.success(), "Go program {args:?}: {value}");
    value
}

/// Deletes every queue and exchange of `topologies` on a runtime and thread of its own (for
/// `Drop`, which cannot await), reporting what it could not delete.
pub fn delete_topologies(topologies: Vec<Topology>) {
    let _ = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async {
            let Ok(conn) = Connection::connect(&amqp_url(), ConnectionProperties::default()).await
            else {
                return;
            };
            for topology in topologies {
                if let Ok(channel) = conn.create_channel().await {
                    if let Err(e) = topology.delete(&channel).await {
                        eprintln!("cleanup: {e}");
                    }
                }
            }
            let _ = conn.close(200, "cleanup".into()).await;
        });
    })
    .join();
}
