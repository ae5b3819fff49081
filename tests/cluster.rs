//! A RabbitMQ cluster of three nodes, started beside the main broker for this test and
//! stopped after it: a publisher and a consumer given the three addresses connect to the
//! first; while messages stream, that node stops and later starts again; they fail over to
//! another node, the quorum queue keeps every confirmed message, and nothing confirmed is
//! lost (duplicates are counted and printed). `SCHEMACTL_CLUSTER_MESSAGES=100000 cargo test
//! --test cluster -- --nocapture` is the long run.
//!
//! Each node runs as the `rabbitmq` user with its own node name, AMQP and distribution
//! ports, config file, data and log directories (under a temporary directory owned by
//! `rabbitmq`), so the main broker is not touched.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::{example, unique_prefix, Recorder};
use schemactl_catalog::consumers::NotificationService;
use schemactl_catalog::producers::UserServicePublisher;
use schemactl_catalog::user::UserEmailVerifiedV1;
use schemactl_runtime::{ConsumerConfig, PublishContext, Publisher, PublisherConfig, Uniform};

/// A free TCP port on the loopback interface.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"))
}

/// One extra RabbitMQ node.
struct Node {
    name: String,
    port: u16,
    dir: PathBuf,
}

impl Node {
    /// Starts a node named `name@localhost` listening on a free port.
    fn start(name: &str) -> Node {
        let dir = std::env::temp_dir().join(format!("schemactl-{name}"));
        let _ = std::fs::remove_dir_all(&dir);
        for sub in ["mnesia", "log"] {
            std::fs::create_dir_all(dir.join(sub)).expect("node directories");
        }
        let port = free_port();
        std::fs::write(
            dir.join("rabbitmq.conf"),
            format!("listeners.tcp.local = 127.0.0.1:{port}\n"),
        )
        .expect("node config");
        std::fs::write(dir.join("enabled_plugins"), "[].\n").expect("plugins file");
        let chown = run(Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(&dir));
        assert!(
            chown.status.success(),
            "chown the node's directory to rabbitmq (the test runs as root): {}",
            String::from_utf8_lossy(&chown.stderr)
        );
        let node = Node {
            name: format!("{name}@localhost"),
            port,
            dir,
        };
        node.launch();
        node
    }

    /// Runs `rabbitmq-server -detached` for this node (again, after a stop: it rejoins its
    /// cluster from its own data directory).
    fn launch(&self) {
        let d = |sub: &str| self.dir.join(sub).display().to_string();
        let started = run(Command::new("runuser")
            .args(["-u", "rabbitmq", "--", "env"])
            .arg(format!("RABBITMQ_NODENAME={}", self.name))
            .arg(format!("RABBITMQ_DIST_PORT={}", free_port()))
            .arg(format!("RABBITMQ_CONFIG_FILE={}", d("rabbitmq")))
            .arg(format!("RABBITMQ_MNESIA_BASE={}", d("mnesia")))
            .arg(format!("RABBITMQ_LOG_BASE={}", d("log")))
            .arg(format!(
                "RABBITMQ_FEATURE_FLAGS_FILE={}",
                d("feature_flags")
            ))
            .arg(format!(
                "RABBITMQ_ENABLED_PLUGINS_FILE={}",
                d("enabled_plugins")
            ))
            .arg("HOME=/var/lib/rabbitmq")
            .args(["/usr/lib/rabbitmq/bin/rabbitmq-server", "-detached"]));
        assert!(
            started.status.success(),
            "start node {}: {}",
            self.name,
            String::from_utf8_lossy(&started.stderr)
        );
    }

    fn ctl(&self, args: &[&str]) -> Output {
        run(Command::new("rabbitmqctl")
            .args(["-n", &self.name])
            .args(args))
    }

    /// Runs `rabbitmqctl` on this node and asserts that it succeeded.
    fn must(&self, args: &[&str]) {
        let out = self.ctl(args);
        assert!(
            out.status.success(),
            "rabbitmqctl -n {} {args:?}: {}{}",
            self.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits until the node has booted (it registers with epmd a moment after `-detached`
    /// returns, so the first calls may find no node at all).
    fn await_startup(&self, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let out = self.ctl(&["await_startup", "--timeout", "10"]);
            if out.status.success() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "node {} did not start within {within:?}: {}; see {}",
                self.name,
                String::from_utf8_lossy(&out.stderr),
                self.dir.join("log").display()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    fn stop(&self) {
        let _ = self.ctl(&["stop"]);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Stops the nodes an interrupted run of this test left behind (they are registered with
/// epmd under the `schemactl-t` prefix) and removes their directories.
fn stop_leftover_nodes() {
    let names = run(Command::new("epmd").arg("-names"));
    for line in String::from_utf8_lossy(&names.stdout).lines() {
        let Some(name) = line
            .strip_prefix("name ")
            .and_then(|rest| rest.split_whitespace().next())
            .filter(|n| n.starts_with("schemactl-t"))
        else {
            continue;
        };
        let _ = run(Command::new("rabbitmqctl").args(["-n", &format!("{name}@localhost"), "stop"]));
        let _ = std::fs::remove_dir_all(std::env::temp_dir().join(format!("schemactl-{name}")));
    }
}

/// Three nodes, the second and third joined to the first.
fn cluster() -> Vec<Node> {
    stop_leftover_nodes();
    let tag = uuid::Uuid::new_v4().simple().to_string();
    let nodes: Vec<Node> = (1..=3)
        .map(|i| Node::start(&format!("schemactl-t{}-{i}", &tag[..6])))
        .collect();
    for node in &nodes {
        node.await_startup(Duration::from_secs(90));
    }
    for node in &nodes[1..] {
        node.must(&["stop_app"]);
        node.must(&["join_cluster", &nodes[0].name]);
        node.must(&["start_app"]);
        node.await_startup(Duration::from_secs(60));
    }
    let status = nodes[0].ctl(&["cluster_status"]);
    let status = String::from_utf8_lossy(&status.stdout);
    for node in &nodes {
        assert!(
            status.contains(&node.name),
            "{} not in the cluster:\n{status}",
            node.name
        );
    }
    nodes
}

/// Messages published across the failover: `SCHEMACTL_CLUSTER_MESSAGES`, else 3,000 (the
/// README's figures are from a run with 100,000).
fn messages() -> usize {
    std::env::var("SCHEMACTL_CLUSTER_MESSAGES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_and_consumer_fail_over_to_another_node_and_lose_nothing() {
    let nodes = tokio::task::spawn_blocking(cluster).await.unwrap();
    let urls = nodes.iter().map(Node::url).collect::<Vec<_>>().join(",");
    let prefix = unique_prefix("cluster");
    let total = messages();

    let (recorder, mut rx) = Recorder::new();
    let consumer = NotificationService::new(Uniform(recorder))
        .consume(
            &urls,
            ConsumerConfig {
                prefix: prefix.clone(),
                ..ConsumerConfig::default()
            },
        )
        .await
        .expect("the consumer connects to the first node");
    let publisher = UserServicePublisher::new(
        Publisher::connect(
            &urls,
            PublisherConfig {
                prefix: prefix.clone(),
                ..schemactl_catalog::publisher_config()
            },
        )
        .await
        .expect("the publisher connects to the first node"),
    );
    let queue = format!("{prefix}notification-service");
    // The catalog's queues are quorum queues: one member on each node.
    let members = nodes[0].ctl(&[
        "list_queues",
        "name",
        "type",
        "members",
        "--no-table-headers",
    ]);
    let members = String::from_utf8_lossy(&members.stdout);
    let line = members
        .lines()
        .find(|l| l.starts_with(&format!("{queue}\t")))
        .unwrap_or_else(|| panic!("{queue} not declared:\n{members}"));
    assert!(line.contains("quorum"), "{line}");
    for node in &nodes {
        assert!(
            line.contains(&node.name),
            "{queue} has no member on {}: {line}",
            node.name
        );
    }

    // Publish in batches of 100 confirms; the node both are connected to stops after a third
    // and starts again after two thirds.
    let started = Instant::now();
    let event = example::<UserEmailVerifiedV1>();
    let context = PublishContext::new();
    let mut confirmed = BTreeSet::new();
    let mut not_confirmed = 0usize;
    let (mut stopped, mut restarted) = (false, false);
    while confirmed.len() + not_confirmed < total {
        if !stopped && confirmed.len() >= total / 3 {
            tokio::task::block_in_place(|| nodes[0].must(&["stop"]));
            stopped = true;
        }
        if stopped && !restarted && confirmed.len() >= total * 2 / 3 {
            let first = &nodes[0];
            tokio::task::block_in_place(|| {
                first.launch();
                first.await_startup(Duration::from_secs(90));
            });
            restarted = true;
        }
        let batch = (total - confirmed.len() - not_confirmed).min(100);
        let mut pending = Vec::with_capacity(batch);
        for _ in 0..batch {
            match publisher.publisher().send(&event, &context).await {
                Ok(p) => pending.push(p),
                Err(e) => panic!("send after {} confirms: {e}", confirmed.len()),
            }
        }
        for result in schemactl_runtime::confirm_all(pending).await {
            match result {
                Ok(p) => {
                    confirmed.insert(p.message_id);
                }
                Err(e) => {
                    eprintln!("not confirmed (the caller would retry): {e}");
                    not_confirmed += 1;
                }
            }
        }
    }
    assert!(
        stopped && restarted,
        "the node was stopped and started again"
    );
    let published_in = started.elapsed();

    // At least once: a message in flight when the node stopped may come twice.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while !confirmed.iter().all(|id| seen.contains_key(id)) {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) => *seen.entry(r.message_id).or_default() += 1,
            _ => panic!(
                "{} of {} confirmed messages consumed (state {:?})",
                confirmed.iter().filter(|id| seen.contains_key(*id)).count(),
                confirmed.len(),
                consumer.state()
            ),
        }
    }
    let stats = consumer.shutdown().await.expect("graceful shutdown");
    publisher.publisher().close().await;
    let lost = confirmed
        .iter()
        .filter(|id| !seen.contains_key(*id))
        .count();
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    println!(
        "cluster failover: {total} published in {published_in:.1?}, {} confirmed, {not_confirmed} \
         not confirmed, {} consumed, {lost} lost, {duplicates} duplicate deliveries, {} consumer \
         sessions",
        confirmed.len(),
        seen.len(),
        stats.sessions
    );
    assert_eq!(lost, 0);
    assert!(stats.sessions >= 2, "the consumer reconnected: {stats:?}");
    drop(nodes);
}
