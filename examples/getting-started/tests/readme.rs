//! The README's getting-started service is this crate, word for word, and it runs: it
//! publishes a greeting and its own consumer receives it, on the real broker (`AMQP_URL`),
//! under a prefix unique to the run, deleted afterwards.

use std::path::Path;

use lapin::{Connection, ConnectionProperties};

fn crate_file(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_readme_shows_this_crate() {
    let readme = crate_file("../../README.md");
    for file in [
        "src/main.rs",
        "src/lib.rs",
        "build.rs",
        "schemas/catalog.toml",
        "schemas/greeting/GreetingSent.v1.json",
    ] {
        let text = crate_file(file);
        assert!(
            readme.contains(text.trim_end()),
            "README.md does not show examples/getting-started/{file} as it is"
        );
    }
}

#[test]
fn the_service_publishes_and_consumes() {
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let id = std::process::id();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let prefix = format!("t-getting-started-{id}-{nanos}.");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_getting-started"))
        .env("AMQP_URL", &url)
        .env("GREETINGS_PREFIX", &prefix)
        .output()
        .expect("the service runs");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let conn = Connection::connect(&url, ConnectionProperties::default())
            .await
            .expect("broker");
        let channel = conn.create_channel().await.unwrap();
        let topology = getting_started::topology::catalog().with_prefix(&prefix);
        topology.delete(&channel).await.expect("cleanup");
        let _ = conn.close(200, "done".into()).await;
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("received \"Hello\" x2 from greeter"),
        "{stdout}"
    );
    assert!(stdout.contains("handled 1 message(s)"), "{stdout}");
}
