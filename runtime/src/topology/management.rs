//! Reading what a broker has (exchanges, queues with their arguments, bindings) from the
//! RabbitMQ management plugin's HTTP API, for [`Topology::verify`](super::Topology::verify).

use std::fmt;
use std::time::Duration;

use base64::Engine as _;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::Value;

use super::declare::Observed;

/// The management API of one virtual host.
#[derive(Clone, PartialEq, Eq)]
pub struct ManagementApi {
    /// `http://host:port`, no credentials, no trailing slash.
    base: String,
    user: String,
    password: String,
    vhost: String,
}

impl fmt::Debug for ManagementApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ManagementApi")
            .field("base", &self.base)
            .field("user", &self.user)
            .field("vhost", &self.vhost)
            .finish_non_exhaustive()
    }
}

/// Why the management API could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManagementError {
    /// The address is not an `http://` URL.
    #[error("`{0}` is not an http:// address of the management API (e.g. http://guest:guest@127.0.0.1:15672)")]
    Address(String),
    /// No answer in time, or no connection.
    #[error("no answer from {address}: {error}")]
    Unreachable {
        /// The address, without credentials.
        address: String,
        /// What failed.
        error: String,
    },
    /// An HTTP status other than 200.
    #[error("{address}{path} answered HTTP {status}{hint}")]
    Status {
        /// The address, without credentials.
        address: String,
        /// The path asked.
        path: String,
        /// The status code.
        status: u16,
        /// What it likely means.
        hint: &'static str,
    },
    /// A body that is not what the API documents.
    #[error("{address}{path} answered with unexpected JSON: {error}")]
    Body {
        /// The address, without credentials.
        address: String,
        /// The path asked.
        path: String,
        /// The parse error.
        error: String,
    },
}

impl ManagementApi {
    /// The API at `address` (`http://user:password@host:port`, credentials percent-encoded)
    /// for virtual host `vhost`. Without credentials in the address, `guest`/`guest`.
    pub fn new(address: &str, vhost: &str) -> Result<ManagementApi, ManagementError> {
        let bad = || ManagementError::Address(crate::error::redact_url(address));
        let rest = address.strip_prefix("http://").ok_or_else(bad)?;
        let authority = rest.split('/').next().unwrap_or_default();
        let (userinfo, host) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        if host.is_empty() {
            return Err(bad());
        }
        let decode = |s: &str| percent_decode_str(s).decode_utf8_lossy().into_owned();
        let (user, password) = match userinfo.map(|u| u.split_once(':').unwrap_or((u, ""))) {
            Some((u, p)) => (decode(u), decode(p)),
            None => ("guest".to_owned(), "guest".to_owned()),
        };
        Ok(ManagementApi {
            base: format!("http://{host}"),
            user,
            password,
            vhost: vhost.to_owned(),
        })
    }

    /// The API beside an AMQP broker: the same host on port 15672, the same credentials and
    /// virtual host (`amqp://user:password@host:5672/vhost`).
    pub fn beside(amqp_url: &str) -> Result<ManagementApi, ManagementError> {
        let uri: lapin::uri::AMQPUri = amqp_url
            .parse()
            .map_err(|_| ManagementError::Address(crate::error::redact_url(amqp_url)))?;
        let host = &uri.authority.host;
        let host = if host.contains(':') {
            format!("[{host}]")
        } else {
            host.clone()
        };
        Ok(ManagementApi {
            base: format!("http://{host}:15672"),
            user: uri.authority.userinfo.username.clone(),
            password: uri.authority.userinfo.password.clone(),
            vhost: uri.vhost.clone(),
        })
    }

    /// The address, without credentials.
    pub fn address(&self) -> &str {
        &self.base
    }

    /// Reads the virtual host's exchanges, queues and bindings.
    pub async fn observe(&self) -> Result<Observed, ManagementError> {
        #[derive(Deserialize)]
        struct ExchangeRow {
            name: String,
            #[serde(rename = "type")]
            kind: String,
            durable: bool,
        }
        #[derive(Deserialize)]
        struct QueueRow {
            name: String,
            durable: bool,
            #[serde(default)]
            arguments: serde_json::Map<String, Value>,
        }
        #[derive(Deserialize)]
        struct BindingRow {
            source: String,
            destination: String,
            destination_type: String,
            routing_key: String,
        }
        let vhost = utf8_percent_encode(&self.vhost, NON_ALPHANUMERIC).to_string();
        let exchanges: Vec<ExchangeRow> = self
            .get(&format!("/api/exchanges/{vhost}?columns=name,type,durable"))
            .await?;
        let queues: Vec<QueueRow> = self
            .get(&format!(
                "/api/queues/{vhost}?columns=name,durable,arguments"
            ))
            .await?;
        let bindings: Vec<BindingRow> = self.get(&format!("/api/bindings/{vhost}")).await?;
        Ok(Observed {
            exchanges: exchanges
                .into_iter()
                .map(|e| (e.name, (e.kind, e.durable)))
                .collect(),
            queues: queues
                .into_iter()
                .map(|q| (q.name, (q.durable, q.arguments)))
                .collect(),
            exchange_bindings: bindings
                .iter()
                .filter(|b| b.destination_type == "exchange")
                .map(|b| {
                    (
                        b.source.clone(),
                        b.destination.clone(),
                        b.routing_key.clone(),
                    )
                })
                .collect(),
            bindings: bindings
                .into_iter()
                .filter(|b| b.destination_type == "queue")
                .map(|b| (b.source, b.destination, b.routing_key))
                .collect(),
        })
    }

    async fn get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T, ManagementError> {
        let unreachable = |error: String| ManagementError::Unreachable {
            address: self.base.clone(),
            error,
        };
        let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let credentials = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.user, self.password));
        let request = hyper::Request::get(format!("{}{path}", self.base))
            .header(hyper::header::AUTHORIZATION, format!("Basic {credentials}"))
            .body(Empty::new())
            .map_err(|e| ManagementError::Address(format!("{}{path}: {e}", self.base)))?;
        let exchange = async {
            let response = client
                .request(request)
                .await
                .map_err(|e| unreachable(error_chain(&e)))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| unreachable(e.to_string()))?
                .to_bytes();
            Ok::<_, ManagementError>((status, body))
        };
        let (status, body) = tokio::time::timeout(Duration::from_secs(10), exchange)
            .await
            .map_err(|_| unreachable("no answer within 10 s".into()))??;
        if status != 200 {
            return Err(ManagementError::Status {
                address: self.base.clone(),
                path: path.to_owned(),
                status,
                hint: match status {
                    401 => ": authentication failed (check the user and password)",
                    403 => ": the user lacks the `management` tag or access to the virtual host",
                    404 => ": no such virtual host",
                    _ => "",
                },
            });
        }
        serde_json::from_slice(&body).map_err(|e| ManagementError::Body {
            address: self.base.clone(),
            path: path.to_owned(),
            error: e.to_string(),
        })
    }
}

/// An error and its sources, `: `-separated (hyper's own message is terse).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beside_an_amqp_url() {
        let api = ManagementApi::beside("amqp://app:s%40cret@rabbit.internal:5672/shop").unwrap();
        assert_eq!(api.address(), "http://rabbit.internal:15672");
        assert_eq!(
            (api.user.as_str(), api.password.as_str()),
            ("app", "s@cret")
        );
        assert_eq!(api.vhost, "shop");
        let default = ManagementApi::beside("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(default.vhost, "/");
    }

    #[test]
    fn an_explicit_address_keeps_no_credentials_in_sight() {
        let api = ManagementApi::new("http://ops:p%3Ass@10.0.0.5:15672/", "/").unwrap();
        assert_eq!(api.address(), "http://10.0.0.5:15672");
        assert_eq!(api.password, "p:ss");
        assert!(!format!("{api:?}").contains("p:ss"));
        let err = ManagementApi::new("https://ops:secret@host", "/").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
    }
}
