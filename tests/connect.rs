//! Start-up against a broker that is not there, does not answer, or refuses: a clear error
//! naming the address within the configured bound, a log line per attempt, no password shown.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{amqp_url, Recorder};
use schemactl_catalog::consumers::NotificationService;
use schemactl_runtime::{ConnectPolicy, ConsumerConfig, Publisher, PublisherConfig, Uniform};
use tracing_subscriber::fmt::MakeWriter;

fn policy(attempts: u32, timeout: Duration) -> ConnectPolicy {
    ConnectPolicy {
        timeout,
        attempts,
        initial_backoff: Duration::from_millis(50),
        max_backoff: Duration::from_millis(200),
    }
}

fn publisher_config(connect: ConnectPolicy) -> PublisherConfig {
    PublisherConfig {
        connect,
        ..PublisherConfig::default()
    }
}

/// A port on loopback that nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// `AMQP_URL` with another user's password, or another path.
fn broker_url(password: Option<&str>, vhost: Option<&str>) -> String {
    let url = amqp_url();
    let (scheme, rest) = url.split_once("://").unwrap();
    let (auth, rest) = rest.rsplit_once('@').unwrap();
    let user = auth.split(':').next().unwrap();
    let pass = password.unwrap_or_else(|| auth.split_once(':').map_or("", |(_, p)| p));
    let host = rest.split('/').next().unwrap();
    let path = vhost.map_or_else(
        || {
            rest.split_once('/')
                .map_or(String::new(), |(_, v)| v.to_owned())
        },
        str::to_owned,
    );
    format!("{scheme}://{user}:{pass}@{host}/{path}")
}

/// The log lines written while `f` runs (this test's thread only).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

impl Logs {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

#[tokio::test]
async fn no_broker_at_start_up_is_an_error_naming_the_address_within_the_bound() {
    let logs = Logs::default();
    let _guard = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_writer(logs.clone())
            .with_ansi(false)
            .finish(),
    );
    let port = closed_port();
    let url = format!("amqp://svc:s3cret@127.0.0.1:{port}/%2f");
    let started = Instant::now();
    let error = Publisher::connect(&url, publisher_config(policy(3, Duration::from_secs(2))))
        .await
        .unwrap_err()
        .to_string();
    let took = started.elapsed();
    // Three refusals and two waits of 50 and 100 ms.
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        error.starts_with(&format!(
            "cannot connect to the broker at amqp://svc:***@127.0.0.1:{port}/%2f (3 attempt(s)): IO error: Connection refused"
        )),
        "{error}"
    );
    assert!(error.contains("is the broker running"), "{error}");
    assert!(!error.contains("s3cret"), "{error}");
    let logs = logs.text();
    let attempts: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("cannot connect to the broker; next attempt in"))
        .collect();
    assert_eq!(attempts.len(), 2, "{logs}");
    assert!(attempts[0].contains("attempt=1 of=3"), "{logs}");
    assert!(attempts[0].contains(&format!("127.0.0.1:{port}")), "{logs}");
    assert!(!logs.contains("s3cret"), "{logs}");

    // The consumer says the same.
    let (recorder, _rx) = Recorder::new();
    let config = ConsumerConfig {
        connect: policy(2, Duration::from_secs(2)),
        ..ConsumerConfig::default()
    };
    let started = Instant::now();
    let error = NotificationService::new(Uniform(recorder))
        .consume(&url, config)
        .await
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert!(
        error.contains("(2 attempt(s)): IO error: Connection refused"),
        "{error}"
    );
}

#[tokio::test]
async fn a_host_that_never_answers_times_out() {
    // Accepts the TCP connection, never says a word.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = std::thread::spawn(move || {
        let mut sockets = Vec::new();
        for _ in 0..2 {
            match listener.accept() {
                Ok((socket, _)) => sockets.push(socket),
                Err(_) => break,
            }
        }
        sockets
    });
    let url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let timeout = Duration::from_millis(700);
    let started = Instant::now();
    let error = Publisher::connect(&url, publisher_config(policy(2, timeout)))
        .await
        .unwrap_err()
        .to_string();
    let took = started.elapsed();
    assert!(
        took >= timeout * 2 && took < timeout * 2 + Duration::from_secs(2),
        "took {took:?}"
    );
    assert!(
        error.contains("(2 attempt(s)): no answer within 700ms"),
        "{error}"
    );
    drop(held.join());
}

#[tokio::test]
async fn refused_credentials_and_a_missing_vhost_are_not_retried() {
    let attempts = policy(5, Duration::from_secs(5));
    let url = broker_url(Some("not-the-password"), None);
    let error = Publisher::connect(&url, publisher_config(attempts.clone()))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("(1 attempt(s))"), "{error}");
    assert!(error.contains("ACCESS_REFUSED"), "{error}");
    assert!(
        error.contains("the broker refused the user name or password"),
        "{error}"
    );
    assert!(!error.contains("not-the-password"), "{error}");

    let vhost = format!("schemactl-missing-{}", std::process::id());
    let error = Publisher::connect(&broker_url(None, Some(&vhost)), publisher_config(attempts))
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("(1 attempt(s))"), "{error}");
    assert!(
        error.contains(&format!("vhost {vhost} not found")),
        "{error}"
    );
    assert!(
        error.contains("the virtual host in the URL's path"),
        "{error}"
    );
}

#[tokio::test]
async fn amqps_without_tls_is_refused_before_any_plain_connection() {
    let url = broker_url(None, None).replacen("amqp://", "amqps://", 1);
    let error = Publisher::connect(&url, publisher_config(policy(3, Duration::from_secs(2))))
        .await
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("(1 attempt(s)): amqps:// needs TLS"),
        "{error}"
    );
    assert!(error.contains("`tls` feature"), "{error}");
}
