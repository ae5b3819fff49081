//! What the example crates' tests share: a service binary run as its platform would run it
//! (a child process reading `AMQP_URL` and a name prefix), its output read line by line.

#![allow(dead_code)] // each test uses the part it needs

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The broker the tests use.
pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A name prefix unique to this test run.
pub fn unique_prefix(name: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("t-{name}-{}-{nanos}.", std::process::id())
}

/// A running service binary.
pub struct Worker {
    child: Child,
    stdin: Option<std::process::ChildStdin>,
    lines: mpsc::Receiver<String>,
    output: Vec<String>,
}

impl Worker {
    /// Starts `exe` with `env` added to its environment.
    pub fn start(exe: &str, env: &[(&str, &str)]) -> Worker {
        let mut child = Command::new(exe)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("{exe}: {e}"));
        let stdout = child.stdout.take().expect("stdout is piped");
        let stdin = child.stdin.take();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Worker {
            child,
            stdin,
            lines,
            output: Vec::new(),
        }
    }

    /// Writes `line` to its standard input.
    pub fn write_line(&mut self, line: &str) {
        use std::io::Write;
        let stdin = self.stdin.as_mut().expect("stdin is piped");
        writeln!(stdin, "{line}").expect("the service reads its input");
        stdin.flush().expect("the service reads its input");
    }

    /// The first line from now on that contains `text`, waiting at most `timeout`.
    pub fn wait_for(&mut self, text: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.output.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no line with {text:?} within {timeout:?} ({e}); output so far:\n{}",
                    self.output.join("\n")
                ),
            }
        }
    }

    /// Stops it as Ctrl-C does (SIGINT), waits for it to exit and returns what it printed
    /// after the last line waited for.
    pub fn interrupt(mut self) -> String {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -INT failed");
        let exit = self.child.wait().expect("the service exits");
        let rest: Vec<String> = self.lines.iter().collect();
        assert!(
            exit.success(),
            "the service exited with {exit}; output:\n{}\n{}",
            self.output.join("\n"),
            rest.join("\n")
        );
        rest.join("\n")
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A connection to the broker for a test's own publishing and reading, as a platform's
/// existing services do it: a confirm-mode channel on a runtime of its own.
pub struct Broker {
    /// Runs the test's broker calls.
    pub rt: tokio::runtime::Runtime,
    conn: lapin::Connection,
    /// A channel in confirm mode.
    pub channel: lapin::Channel,
}

impl Broker {
    /// Connects to `url`.
    pub fn connect(url: &str) -> Broker {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let (conn, channel) = rt.block_on(async {
            let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
                .await
                .unwrap_or_else(|e| panic!("the broker at {url}: {e}"));
            let channel = conn.create_channel().await.expect("a channel");
            channel
                .confirm_select(lapin::options::ConfirmSelectOptions::default())
                .await
                .expect("confirm mode");
            (conn, channel)
        });
        Broker { rt, conn, channel }
    }

    /// Publishes `body` and waits for the broker's confirm.
    pub fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        properties: lapin::BasicProperties,
    ) {
        self.rt.block_on(async {
            self.channel
                .basic_publish(
                    exchange.into(),
                    routing_key.into(),
                    lapin::options::BasicPublishOptions::default(),
                    body,
                    properties,
                )
                .await
                .expect("publish")
                .await
                .expect("confirm")
        });
    }

    /// Takes the first message of `queue`, waiting at most `timeout` for one to arrive.
    pub fn take(&self, queue: &str, timeout: Duration) -> lapin::message::Delivery {
        let deadline = Instant::now() + timeout;
        self.rt.block_on(async {
            loop {
                let got = self
                    .channel
                    .basic_get(
                        queue.into(),
                        lapin::options::BasicGetOptions { no_ack: true },
                    )
                    .await
                    .unwrap_or_else(|e| panic!("{queue}: {e}"));
                if let Some(m) = got {
                    return m.delivery;
                }
                assert!(
                    Instant::now() < deadline,
                    "nothing reached {queue} within {timeout:?}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    }

    /// Deletes `topology` and closes the connection.
    pub fn finish(self, topology: schemactl_runtime::Topology) {
        self.rt.block_on(async {
            topology.delete(&self.channel).await.expect("cleanup");
            let _ = self.conn.close(200, "done".into()).await;
        });
    }
}
