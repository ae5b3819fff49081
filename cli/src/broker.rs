//! `schemactl topology --verify | --adopt | --declare AMQP_URL`: the catalog's topology
//! against a running broker, and the runtime and connection every broker verb shares.

use std::time::Duration;

use schemactl_codegen::Catalog;
use schemactl_runtime::connect::{self, ConnectPolicy};
use schemactl_runtime::topology::management::ManagementApi;
use schemactl_runtime::topology::{Finding, VerifyOptions};

use crate::stdio::{errln, outln};
use crate::Status;

/// What to do with the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Compare, change nothing.
    Verify,
    /// Create what is missing.
    Adopt,
    /// Declare everything.
    Create,
}

/// Where the management API is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Management {
    /// Port 15672 of the AMQP host, with the AMQP credentials.
    Beside,
    /// At this address.
    At(String),
    /// Not used.
    Off,
}

/// Longest wait for the broker to accept the connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

/// Runs `mode` against the broker at `url`; prints the report.
pub fn run(
    catalog: &Catalog,
    mode: Mode,
    url: &str,
    management: Management,
    prefix: &str,
) -> Status {
    block_on(run_async(catalog, mode, url, management, prefix))
}

/// Runs a verb's future on a single-threaded runtime.
pub fn block_on(verb: impl std::future::Future<Output = Status>) -> Status {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(verb),
        Err(e) => {
            errln!("error: cannot start the async runtime: {e}");
            Status::Failed
        }
    }
}

/// Closes `connection` within [`connect::CLOSE_TIMEOUT`], and says so when the broker did not
/// answer in time (the connection is dropped then, and the broker returns what it held).
pub async fn close(connection: &lapin::Connection) {
    if !connect::close(connection, "done").await {
        errln!(
            "note: the broker did not answer the close within {} s; the connection was dropped, and anything it still held returns to its queue",
            connect::CLOSE_TIMEOUT.as_secs()
        );
    }
}

/// Connects to the broker at `url` (one attempt per address, bounded), or prints why not
/// (address without password, and the fix).
pub async fn connect(url: &str, name: &str) -> Result<lapin::Connection, Status> {
    let policy = ConnectPolicy {
        timeout: CONNECT_TIMEOUT,
        attempts: 1,
        ..ConnectPolicy::default()
    };
    connect::connection(url, Some(name), &policy)
        .await
        .map_err(|e| {
            errln!(
                "error: cannot connect to the broker at {}: {}",
                e.url,
                e.failure
            );
            errln!("help: {}", e.failure.help());
            Status::BadInput
        })
}

async fn run_async(
    catalog: &Catalog,
    mode: Mode,
    url: &str,
    management: Management,
    prefix: &str,
) -> Status {
    let topology = schemactl_codegen::topology::plan(catalog).with_prefix(prefix);
    let shown = schemactl_runtime::error::redact_url(url);
    let connection = match connect(url, "schemactl topology").await {
        Ok(c) => c,
        Err(status) => return status,
    };
    let api = match management {
        Management::Off => Ok(None),
        Management::Beside => ManagementApi::beside(url).map(Some),
        Management::At(address) => {
            let vhost = url
                .parse::<lapin::uri::AMQPUri>()
                .map(|u| u.vhost)
                .unwrap_or_else(|_| "/".to_owned());
            ManagementApi::new(&address, &vhost).map(Some)
        }
    };
    let api = match api {
        Ok(api) => api,
        Err(e) => {
            errln!("error: {e}");
            return Status::BadInput;
        }
    };
    let options = VerifyOptions { management: api };
    let status = match mode {
        Mode::Create => {
            let declared = async {
                let channel = connection
                    .create_channel()
                    .await
                    .map_err(|e| e.to_string())?;
                topology.declare(&channel).await.map_err(|e| e.to_string())
            };
            match declared.await {
                Ok(()) => {
                    outln!(
                        "declared {} exchanges, {} queues and {} bindings on {shown}",
                        topology.exchanges.len(),
                        topology.queues.len(),
                        topology.bindings.len()
                    );
                    Status::Ok
                }
                Err(e) => {
                    errln!("error: {e}");
                    Status::Failed
                }
            }
        }
        Mode::Verify | Mode::Adopt => {
            let report = if mode == Mode::Verify {
                topology.verify(&connection, &options).await
            } else {
                topology.adopt(&connection, &options).await
            };
            match report {
                Ok(report) => {
                    outln!("{report}");
                    let unchecked = report
                        .findings
                        .iter()
                        .filter(|f| matches!(f, Finding::Unchecked { .. }))
                        .count();
                    if unchecked > 0 {
                        errln!("warning: {unchecked} object(s) could not be checked");
                    }
                    match mode {
                        Mode::Verify if !report.matches() => Status::Failed,
                        _ => Status::Ok,
                    }
                }
                Err(e) => {
                    errln!("error: {e}");
                    Status::Failed
                }
            }
        }
    };
    close(&connection).await;
    status
}
