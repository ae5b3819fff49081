//! Meeting a broker: create a topology on it, verify a running broker against it without
//! changing anything, or adopt what runs (create only what is missing).
//!
//! Verification asks the broker, never guesses. With the management plugin's HTTP API it
//! reads every exchange, queue (with its arguments) and binding of the virtual host and
//! compares them all. Without it, it uses AMQP: a passive declaration tells whether an object
//! exists, and re-declaring an object that exists with the catalog's settings is a no-op when
//! they are equivalent and is refused with `PRECONDITION_FAILED`, naming the first setting
//! that differs, when they are not. AMQP 0-9-1 cannot list bindings, so over AMQP alone
//! bindings are reported as unchecked.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use lapin::options::{
    ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::protocol::{AMQPErrorKind, AMQPSoftError};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{Channel, Connection, ErrorKind};
use serde_json::Value;

use super::{ArgumentValue, Binding, Exchange, ExchangeBinding, ExchangeKind, Queue, Topology};

/// A declaration the broker refused, or a broker that could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("cannot declare {what}: {source}; if it exists with other settings, `schemactl topology --verify` shows how it differs: align catalog.toml or the broker, or use adopt mode")]
pub struct DeclareError {
    /// What was being declared.
    pub what: String,
    /// The client error.
    pub source: lapin::Error,
}

/// How a topology meets a broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeclareMode {
    /// Declare everything; the broker refuses an object that exists with other settings.
    Create,
    /// Compare the broker with the topology and change nothing.
    Verify,
    /// Create what is missing, leave what exists as it is, report differences.
    Adopt,
}

/// An object of a topology.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Object {
    /// An exchange, by name.
    Exchange(String),
    /// A queue, by name.
    Queue(String),
    /// A binding of an exchange to another.
    ExchangeBinding {
        /// Source exchange.
        source: String,
        /// Destination exchange.
        destination: String,
        /// Binding key.
        routing_key: String,
    },
    /// A binding of a queue to an exchange.
    Binding {
        /// Source exchange.
        exchange: String,
        /// Destination queue.
        queue: String,
        /// Binding key.
        routing_key: String,
    },
}

impl Object {
    fn binding(b: &Binding) -> Object {
        Object::Binding {
            exchange: b.exchange.clone(),
            queue: b.queue.clone(),
            routing_key: b.routing_key.clone(),
        }
    }

    fn exchange_binding(b: &ExchangeBinding) -> Object {
        Object::ExchangeBinding {
            source: b.source.clone(),
            destination: b.destination.clone(),
            routing_key: b.routing_key.clone(),
        }
    }
}

impl fmt::Display for Object {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Object::Exchange(name) => write!(f, "exchange `{name}`"),
            Object::Queue(name) => write!(f, "queue `{name}`"),
            Object::ExchangeBinding {
                source,
                destination,
                routing_key,
            } => write!(
                f,
                "binding of exchange `{destination}` to exchange `{source}` with key `{routing_key}`"
            ),
            Object::Binding {
                exchange,
                queue,
                routing_key,
            } => write!(
                f,
                "binding of queue `{queue}` to exchange `{exchange}` with key `{routing_key}`"
            ),
        }
    }
}

/// What comparing one object of the topology with the broker found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// The broker does not have it.
    Missing(Object),
    /// The broker has it with another value of one setting.
    Differs {
        /// The object.
        object: Object,
        /// The setting: `type`, `durable`, or a queue argument such as `x-message-ttl`.
        setting: String,
        /// What the catalog says (`none` when it sets nothing).
        expected: String,
        /// What the broker has (`none` when it has nothing).
        actual: String,
    },
    /// The broker could not be asked about it.
    Unchecked {
        /// The object.
        object: Object,
        /// Why.
        why: String,
    },
}

impl Finding {
    /// The object the finding is about.
    pub fn object(&self) -> &Object {
        match self {
            Finding::Missing(o) => o,
            Finding::Differs { object, .. } | Finding::Unchecked { object, .. } => object,
        }
    }

    /// Whether the finding is a difference between the broker and the topology.
    pub fn is_difference(&self) -> bool {
        !matches!(self, Finding::Unchecked { .. })
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Missing(o) => write!(f, "missing: {o}"),
            Finding::Differs {
                object,
                setting,
                expected,
                actual,
            } => write!(
                f,
                "differs: {object}: `{setting}` is {actual} on the broker, {expected} in the catalog"
            ),
            Finding::Unchecked { object, why } => write!(f, "unchecked: {object}: {why}"),
        }
    }
}

/// The outcome of [`Topology::verify`] or [`Topology::adopt`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The mode that produced it.
    pub mode: DeclareMode,
    /// How the broker was read (the management API's address, or AMQP).
    pub source: String,
    /// Remarks on how the broker was read (why the management API was not used, say).
    pub notes: Vec<String>,
    /// Objects of the topology compared with the broker.
    pub checked: usize,
    /// What the comparison found, before anything was created.
    pub findings: Vec<Finding>,
    /// What adopt mode created.
    pub created: Vec<Object>,
    /// Bindings adopt mode declared without knowing whether they existed (declaring an
    /// existing binding changes nothing).
    pub ensured: Vec<Object>,
}

impl Report {
    /// The findings that are differences (missing objects and differing settings).
    pub fn differences(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.is_difference())
    }

    /// Whether the broker matches the topology: nothing missing, nothing different (adopt
    /// mode counts what it created as matching).
    pub fn matches(&self) -> bool {
        self.differences().all(|f| match f {
            Finding::Missing(o) => self.created.contains(o),
            _ => false,
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            DeclareMode::Create => "create",
            DeclareMode::Verify => "verify",
            DeclareMode::Adopt => "adopt",
        };
        writeln!(
            f,
            "{mode}: {} objects compared through {}",
            self.checked, self.source
        )?;
        for note in &self.notes {
            writeln!(f, "note: {note}")?;
        }
        for finding in &self.findings {
            let created = matches!(finding, Finding::Missing(o) if self.created.contains(o));
            if created {
                writeln!(f, "created: {}", finding.object())?;
            } else {
                writeln!(f, "{finding}")?;
            }
        }
        for o in &self.ensured {
            writeln!(f, "ensured: {o}")?;
        }
        let differences = self.differences().count();
        let remaining = self
            .differences()
            .filter(|d| !matches!(d, Finding::Missing(o) if self.created.contains(o)))
            .count();
        match (differences, remaining) {
            (0, _) => write!(f, "the broker matches the catalog"),
            (_, 0) => write!(
                f,
                "the broker now matches the catalog ({} created)",
                self.created.len()
            ),
            _ => write!(
                f,
                "{remaining} difference(s) between the broker and the catalog"
            ),
        }
    }
}

/// How [`Topology::verify`] and [`Topology::adopt`] read the broker.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// The management HTTP API to read the broker through; AMQP alone when `None` or when it
    /// does not answer (the report says why).
    #[cfg(feature = "management")]
    pub management: Option<super::management::ManagementApi>,
}

/// What a broker has: exchanges, queues with their arguments, bindings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    /// Exchange name → (type, durable).
    pub exchanges: BTreeMap<String, (String, bool)>,
    /// Queue name → (durable, arguments).
    pub queues: BTreeMap<String, (bool, serde_json::Map<String, Value>)>,
    /// (exchange, queue, routing key) of every queue binding.
    pub bindings: BTreeSet<(String, String, String)>,
    /// (source, destination, routing key) of every exchange-to-exchange binding.
    pub exchange_bindings: BTreeSet<(String, String, String)>,
}

/// Compares `topology` with what a broker has, object by object.
pub fn compare(topology: &Topology, observed: &Observed) -> Vec<Finding> {
    let mut findings = Vec::new();
    for e in &topology.exchanges {
        let object = Object::Exchange(e.name.clone());
        let Some((kind, durable)) = observed.exchanges.get(&e.name) else {
            findings.push(Finding::Missing(object));
            continue;
        };
        if kind != e.kind.as_str() {
            findings.push(differs(&object, "type", e.kind.as_str(), kind));
        }
        if *durable != e.durable {
            findings.push(differs(
                &object,
                "durable",
                &e.durable.to_string(),
                &durable.to_string(),
            ));
        }
    }
    for q in &topology.queues {
        let object = Object::Queue(q.name.clone());
        let Some((durable, actual)) = observed.queues.get(&q.name) else {
            findings.push(Finding::Missing(object));
            continue;
        };
        if !durable {
            findings.push(differs(&object, "durable", "true", "false"));
        }
        let expected = q.arguments_json();
        let keys: BTreeSet<&String> = expected.keys().chain(actual.keys()).collect();
        for key in keys {
            let want = expected.get(key);
            // A queue declared without `x-queue-type` is a classic queue.
            let have = actual
                .get(key)
                .cloned()
                .or_else(|| (key == "x-queue-type").then(|| Value::String("classic".into())));
            if !same_argument(want, have.as_ref()) {
                findings.push(differs(&object, key, &show(want), &show(have.as_ref())));
            }
        }
    }
    for b in &topology.bindings {
        let key = (b.exchange.clone(), b.queue.clone(), b.routing_key.clone());
        if !observed.bindings.contains(&key) {
            findings.push(Finding::Missing(Object::binding(b)));
        }
    }
    for b in &topology.exchange_bindings {
        let key = (
            b.source.clone(),
            b.destination.clone(),
            b.routing_key.clone(),
        );
        if !observed.exchange_bindings.contains(&key) {
            findings.push(Finding::Missing(Object::exchange_binding(b)));
        }
    }
    findings
}

fn differs(object: &Object, setting: &str, expected: &str, actual: &str) -> Finding {
    Finding::Differs {
        object: object.clone(),
        setting: setting.to_owned(),
        expected: expected.to_owned(),
        actual: actual.to_owned(),
    }
}

fn same_argument(a: Option<&Value>, b: Option<&Value>) -> bool {
    match (a, b) {
        (Some(Value::Number(x)), Some(Value::Number(y))) => x.as_f64() == y.as_f64(),
        (a, b) => a == b,
    }
}

fn show(value: Option<&Value>) -> String {
    match value {
        None => "none".to_owned(),
        Some(Value::String(s)) => format!("`{s}`"),
        Some(v) => v.to_string(),
    }
}

fn short(kind: &str, name: &str) -> Result<ShortString, DeclareError> {
    crate::wire::short("name", name).map_err(|e| DeclareError {
        what: format!("{kind} `{name}`"),
        source: lapin::ErrorKind::IOError(std::sync::Arc::new(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            e.to_string(),
        )))
        .into(),
    })
}

fn arguments(queue: &Queue) -> FieldTable {
    let mut args = FieldTable::default();
    for (key, value) in queue.arguments() {
        let value = match value {
            ArgumentValue::Text(s) => AMQPValue::LongString(s.into()),
            ArgumentValue::Integer(i) => AMQPValue::LongLongInt(i),
        };
        args.insert(key.into(), value);
    }
    args
}

fn kind(kind: ExchangeKind) -> lapin::ExchangeKind {
    match kind {
        ExchangeKind::Topic => lapin::ExchangeKind::Topic,
        ExchangeKind::Fanout => lapin::ExchangeKind::Fanout,
        ExchangeKind::Direct => lapin::ExchangeKind::Direct,
        ExchangeKind::Headers => lapin::ExchangeKind::Headers,
    }
}

async fn declare_exchange(
    channel: &Channel,
    e: &Exchange,
    passive: bool,
) -> Result<(), DeclareError> {
    let options = ExchangeDeclareOptions {
        durable: e.durable,
        passive,
        ..ExchangeDeclareOptions::default()
    };
    channel
        .exchange_declare(
            short("exchange", &e.name)?,
            kind(e.kind),
            options,
            FieldTable::default(),
        )
        .await
        .map_err(|source| DeclareError {
            what: format!("{} exchange `{}`", e.kind.as_str(), e.name),
            source,
        })
}

async fn declare_queue(channel: &Channel, q: &Queue, passive: bool) -> Result<(), DeclareError> {
    let options = QueueDeclareOptions {
        passive,
        ..QueueDeclareOptions::durable()
    };
    channel
        .queue_declare(short("queue", &q.name)?, options, arguments(q))
        .await
        .map(drop)
        .map_err(|source| DeclareError {
            what: format!("queue `{}`", q.name),
            source,
        })
}

async fn bind_exchange(channel: &Channel, b: &ExchangeBinding) -> Result<(), DeclareError> {
    channel
        .exchange_bind(
            short("exchange", &b.destination)?,
            short("exchange", &b.source)?,
            short("routing key", &b.routing_key)?,
            lapin::options::ExchangeBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|source| DeclareError {
            what: Object::exchange_binding(b).to_string(),
            source,
        })
}

async fn bind(channel: &Channel, b: &Binding) -> Result<(), DeclareError> {
    channel
        .queue_bind(
            short("queue", &b.queue)?,
            short("exchange", &b.exchange)?,
            short("routing key", &b.routing_key)?,
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|source| DeclareError {
            what: Object::binding(b).to_string(),
            source,
        })
}

/// The broker's reply code and text, when `error` is a channel-level refusal.
fn refusal(error: &DeclareError) -> Option<(AMQPSoftError, String)> {
    match error.source.kind() {
        ErrorKind::ProtocolError(e) => match e.kind() {
            AMQPErrorKind::Soft(code) => Some((code.clone(), e.get_message().to_string())),
            AMQPErrorKind::Hard(_) => None,
        },
        _ => None,
    }
}

/// `inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received '2000' but current
/// is '1000'` → (`x-message-ttl`, `2000`, `1000`): the setting, what was sent, what the broker
/// has.
fn parse_inequivalent(text: &str) -> Option<(String, String, String)> {
    let rest = text.split_once("inequivalent arg '")?.1;
    let (setting, rest) = rest.split_once('\'')?;
    let rest = rest.split_once(": received ")?.1;
    let (sent, current) = rest.split_once(" but current is ")?;
    let unquote = |s: &str| s.trim().trim_matches('\'').to_owned();
    Some((setting.to_owned(), unquote(sent), unquote(current)))
}

/// A channel that is replaced when the broker closes it (every refusal closes the channel).
struct Probe<'a> {
    connection: &'a Connection,
    channel: Option<Channel>,
}

impl Probe<'_> {
    async fn channel(&mut self) -> Result<Channel, DeclareError> {
        if let Some(c) = self.channel.as_ref().filter(|c| c.status().connected()) {
            return Ok(c.clone());
        }
        let channel = self
            .connection
            .create_channel()
            .await
            .map_err(|source| DeclareError {
                what: "a channel for verification".into(),
                source,
            })?;
        self.channel = Some(channel.clone());
        Ok(channel)
    }

    /// Asks the broker about one exchange or queue: missing, equivalent, or the first
    /// setting that differs.
    async fn object(
        &mut self,
        object: Object,
        declare: Declaration<'_>,
    ) -> Result<Option<Finding>, DeclareError> {
        let channel = self.channel().await?;
        let passive = match declare {
            Declaration::Exchange(e) => declare_exchange(&channel, e, true).await,
            Declaration::Queue(q) => declare_queue(&channel, q, true).await,
        };
        match passive {
            Ok(()) => {}
            Err(e) if matches!(refusal(&e), Some((AMQPSoftError::NOTFOUND, _))) => {
                return Ok(Some(Finding::Missing(object)))
            }
            Err(e) => return Err(e),
        }
        // It exists: re-declaring it with the catalog's settings changes nothing when they
        // are equivalent, and is refused, naming the first difference, when they are not.
        let channel = self.channel().await?;
        let active = match declare {
            Declaration::Exchange(e) => declare_exchange(&channel, e, false).await,
            Declaration::Queue(q) => declare_queue(&channel, q, false).await,
        };
        match active {
            Ok(()) => Ok(None),
            Err(e) => match refusal(&e) {
                Some((AMQPSoftError::PRECONDITIONFAILED, text)) => {
                    let (setting, expected, actual) = parse_inequivalent(&text)
                        .unwrap_or_else(|| ("settings".into(), "the catalog's".into(), text));
                    Ok(Some(Finding::Differs {
                        object,
                        setting,
                        expected,
                        actual,
                    }))
                }
                _ => Err(e),
            },
        }
    }
}

#[derive(Clone, Copy)]
enum Declaration<'a> {
    Exchange(&'a Exchange),
    Queue(&'a Queue),
}

impl Topology {
    /// Declares every exchange, queue and binding on `channel` ([`DeclareMode::Create`]).
    /// Declaring what exists with the same settings is a no-op, so this is safe at every
    /// start; an object that exists with other settings is refused by the broker.
    pub async fn declare(&self, channel: &Channel) -> Result<(), DeclareError> {
        for e in &self.exchanges {
            declare_exchange(channel, e, false).await?;
        }
        for q in &self.queues {
            declare_queue(channel, q, false).await?;
        }
        for b in &self.bindings {
            bind(channel, b).await?;
        }
        for b in &self.exchange_bindings {
            bind_exchange(channel, b).await?;
        }
        Ok(())
    }

    /// Compares the broker behind `connection` with the topology and changes nothing
    /// ([`DeclareMode::Verify`]): every missing exchange, queue and binding, and every
    /// setting that differs (over AMQP alone, the first differing setting of each object,
    /// and bindings unchecked).
    pub async fn verify(
        &self,
        connection: &Connection,
        options: &VerifyOptions,
    ) -> Result<Report, DeclareError> {
        let checked = self.exchanges.len()
            + self.queues.len()
            + self.bindings.len()
            + self.exchange_bindings.len();
        #[allow(unused_mut)] // only the management API adds notes
        let mut notes = Vec::new();
        #[cfg(feature = "management")]
        if let Some(api) = &options.management {
            match api.observe().await {
                Ok(observed) => {
                    return Ok(Report {
                        mode: DeclareMode::Verify,
                        source: format!("the management API at {}", api.address()),
                        notes,
                        checked,
                        findings: compare(self, &observed),
                        created: Vec::new(),
                        ensured: Vec::new(),
                    })
                }
                Err(e) => notes.push(format!(
                    "the management API at {} did not answer ({e}); read over AMQP instead",
                    api.address()
                )),
            }
        }
        #[cfg(not(feature = "management"))]
        let _ = options;
        let mut probe = Probe {
            connection,
            channel: None,
        };
        let mut findings = Vec::new();
        for e in &self.exchanges {
            let object = Object::Exchange(e.name.clone());
            findings.extend(probe.object(object, Declaration::Exchange(e)).await?);
        }
        for q in &self.queues {
            let object = Object::Queue(q.name.clone());
            findings.extend(probe.object(object, Declaration::Queue(q)).await?);
        }
        let why = "AMQP cannot list bindings; enable the management plugin to check them";
        let bindings = self.bindings.iter().map(Object::binding);
        let exchange_bindings = self.exchange_bindings.iter().map(Object::exchange_binding);
        findings.extend(
            bindings
                .chain(exchange_bindings)
                .map(|object| Finding::Unchecked {
                    object,
                    why: why.to_owned(),
                }),
        );
        if let Some(channel) = probe.channel {
            let _ = channel.close(200, "verified".into()).await;
        }
        Ok(Report {
            mode: DeclareMode::Verify,
            source: "passive declarations over AMQP".into(),
            notes,
            checked,
            findings,
            created: Vec::new(),
            ensured: Vec::new(),
        })
    }

    /// Creates what the broker is missing and leaves what exists untouched
    /// ([`DeclareMode::Adopt`]): differences are reported, never repaired. Bindings the
    /// broker cannot be asked about are declared (declaring an existing binding changes
    /// nothing).
    pub async fn adopt(
        &self,
        connection: &Connection,
        options: &VerifyOptions,
    ) -> Result<Report, DeclareError> {
        let mut report = self.verify(connection, options).await?;
        report.mode = DeclareMode::Adopt;
        let missing: BTreeSet<&Object> = report
            .findings
            .iter()
            .filter_map(|f| match f {
                Finding::Missing(o) => Some(o),
                _ => None,
            })
            .collect();
        let unchecked: BTreeSet<&Object> = report
            .findings
            .iter()
            .filter_map(|f| match f {
                Finding::Unchecked { object, .. } => Some(object),
                _ => None,
            })
            .collect();
        let channel = connection
            .create_channel()
            .await
            .map_err(|source| DeclareError {
                what: "a channel for adoption".into(),
                source,
            })?;
        let mut created = Vec::new();
        let mut ensured = Vec::new();
        for e in &self.exchanges {
            let object = Object::Exchange(e.name.clone());
            if missing.contains(&object) {
                declare_exchange(&channel, e, false).await?;
                created.push(object);
            }
        }
        for q in &self.queues {
            let object = Object::Queue(q.name.clone());
            if missing.contains(&object) {
                declare_queue(&channel, q, false).await?;
                created.push(object);
            }
        }
        for b in &self.bindings {
            let object = Object::binding(b);
            if missing.contains(&object) {
                bind(&channel, b).await?;
                created.push(object);
            } else if unchecked.contains(&object) {
                bind(&channel, b).await?;
                ensured.push(object);
            }
        }
        for b in &self.exchange_bindings {
            let object = Object::exchange_binding(b);
            if missing.contains(&object) {
                bind_exchange(&channel, b).await?;
                created.push(object);
            } else if unchecked.contains(&object) {
                bind_exchange(&channel, b).await?;
                ensured.push(object);
            }
        }
        let _ = channel.close(200, "adopted".into()).await;
        report.created = created;
        report.ensured = ensured;
        Ok(report)
    }

    /// Deletes every queue and exchange of the topology (for tests and teardown; the
    /// messages in the queues are lost).
    pub async fn delete(&self, channel: &Channel) -> Result<(), DeclareError> {
        for q in &self.queues {
            channel
                .queue_delete(short("queue", &q.name)?, QueueDeleteOptions::default())
                .await
                .map_err(|source| DeclareError {
                    what: format!("deletion of queue `{}`", q.name),
                    source,
                })?;
        }
        for e in &self.exchanges {
            channel
                .exchange_delete(
                    short("exchange", &e.name)?,
                    ExchangeDeleteOptions::default(),
                )
                .await
                .map_err(|source| DeclareError {
                    what: format!("deletion of exchange `{}`", e.name),
                    source,
                })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topology::QueueType;
    use serde_json::json;

    fn topology() -> Topology {
        Topology {
            exchanges: vec![Exchange {
                name: "orders".into(),
                kind: ExchangeKind::Topic,
                durable: true,
            }],
            queues: vec![Queue {
                dead_letter_exchange: Some("deadletter".into()),
                message_ttl_ms: Some(86_400_000),
                ..Queue::new("notification.orders", QueueType::Classic)
            }],
            bindings: vec![Binding {
                exchange: "orders".into(),
                queue: "notification.orders".into(),
                routing_key: "order.*".into(),
            }],
            exchange_bindings: vec![],
            services: vec![],
        }
    }

    fn observed() -> Observed {
        let mut o = Observed::default();
        o.exchanges.insert("orders".into(), ("topic".into(), true));
        let args = json!({"x-dead-letter-exchange": "deadletter", "x-message-ttl": 86400000});
        let Value::Object(args) = args else {
            unreachable!()
        };
        o.queues.insert("notification.orders".into(), (true, args));
        o.bindings.insert((
            "orders".into(),
            "notification.orders".into(),
            "order.*".into(),
        ));
        o
    }

    #[test]
    fn an_identical_broker_has_no_findings() {
        // The queue was declared without `x-queue-type`, as most clients do: classic.
        assert_eq!(compare(&topology(), &observed()), vec![]);
    }

    #[test]
    fn every_difference_is_named() {
        let mut o = observed();
        o.exchanges.insert("orders".into(), ("fanout".into(), true));
        let args = &mut o.queues.get_mut("notification.orders").unwrap().1;
        args.insert("x-message-ttl".into(), json!(3_600_000));
        args.insert("x-max-length".into(), json!(10));
        o.bindings.clear();
        let findings: Vec<String> = compare(&topology(), &o)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            findings,
            [
                "differs: exchange `orders`: `type` is fanout on the broker, topic in the catalog",
                "differs: queue `notification.orders`: `x-max-length` is 10 on the broker, none in the catalog",
                "differs: queue `notification.orders`: `x-message-ttl` is 3600000 on the broker, 86400000 in the catalog",
                "missing: binding of queue `notification.orders` to exchange `orders` with key `order.*`",
            ]
        );
    }

    #[test]
    fn a_missing_object_is_reported_once() {
        let mut o = observed();
        o.queues.clear();
        let findings = compare(&topology(), &o);
        assert_eq!(
            findings,
            vec![Finding::Missing(Object::Queue(
                "notification.orders".into()
            ))]
        );
    }

    #[test]
    fn the_brokers_refusal_names_the_setting() {
        let text = "PRECONDITION_FAILED - inequivalent arg 'x-message-ttl' for queue 'q' in vhost '/': received '2000' but current is '1000'";
        assert_eq!(
            parse_inequivalent(text),
            Some(("x-message-ttl".into(), "2000".into(), "1000".into()))
        );
        assert_eq!(parse_inequivalent("NOT_FOUND - no queue 'q'"), None);
    }
}
