//! `schemactl validate`: payloads, or whole message bodies in the event's dialect, checked
//! against an event version's schema with its formats asserted, as igluctl and ajv check
//! instances. Each error is printed with the document it is in (file, and line for JSON
//! Lines) and its JSON pointer.

use std::io::Read;
use std::path::{Path, PathBuf};

use lapin::BasicProperties;
use schemactl_codegen::model::EventVersion;
use schemactl_codegen::Catalog;
use schemactl_runtime::dialect::DialectBase;
use schemactl_runtime::wire::{self, Received, CLOUDEVENTS_JSON, MASSTRANSIT_JSON};
use schemactl_runtime::Wire;
use serde_json::Value;

use crate::stdio::{errln, outln};
use crate::Status;

/// What `schemactl validate` was asked.
pub struct Request<'a> {
    /// `UserRegistered.v1`, or `UserRegistered` for its latest version.
    pub event: &'a str,
    /// Files to read; `-` is standard input.
    pub files: &'a [PathBuf],
    /// One JSON document per line in every file (also assumed for `.jsonl` and `.ndjson`).
    pub lines: bool,
    /// Each document is a whole message body in the event's dialect.
    pub envelope: bool,
}

/// Validates every document of `request.files`; exit status 0 when all are valid, 1 when one
/// is not, 2 when the event is unknown, a file cannot be read or the schema does not compile.
pub fn run(catalog: &Catalog, request: &Request<'_>) -> Status {
    let Some(v) = find(catalog, request.event) else {
        let known: Vec<&str> = catalog
            .versions()
            .map(|v| v.message_type.as_str())
            .collect();
        errln!(
            "error: no event version `{}` in the catalog\n  help: name one of {}",
            request.event,
            known.join(", ")
        );
        return Status::BadInput;
    };
    let validator = match compile(&v.resolved) {
        Ok(validator) => validator,
        Err(e) => {
            errln!(
                "error: {}: the schema does not compile: {e}",
                v.path.display()
            );
            return Status::BadInput;
        }
    };
    let envelope = match request
        .envelope
        .then(|| Envelope::of(catalog, v))
        .transpose()
    {
        Ok(envelope) => envelope,
        Err(message) => {
            errln!("error: {message}");
            return Status::BadInput;
        }
    };
    let (mut valid, mut invalid) = (0usize, 0usize);
    for file in request.files {
        let text = match read(file) {
            Ok(text) => text,
            Err(message) => {
                errln!("error: {message}");
                return Status::BadInput;
            }
        };
        let per_line = request.lines
            || matches!(
                file.extension().and_then(|e| e.to_str()),
                Some("jsonl" | "ndjson")
            );
        let documents: Vec<(Option<usize>, &str)> = if per_line {
            text.lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
                .map(|(i, l)| (Some(i + 1), l))
                .collect()
        } else {
            vec![(None, text.as_str())]
        };
        for (line, document) in documents {
            let at = match line {
                Some(line) => format!("{}:{line}", file.display()),
                None => file.display().to_string(),
            };
            let errors = check(document, v, &validator, envelope.as_ref());
            if errors.is_empty() {
                valid += 1;
            } else {
                invalid += 1;
                for error in errors {
                    outln!("{at}: {error}");
                }
            }
        }
    }
    errln!("{}: {valid} valid, {invalid} invalid", v.message_type,);
    if invalid == 0 {
        Status::Ok
    } else {
        Status::Failed
    }
}

/// The event version `name` names: `Name.vN`, or `Name` for its latest version.
fn find<'c>(catalog: &'c Catalog, name: &str) -> Option<&'c EventVersion> {
    catalog
        .versions()
        .find(|v| v.message_type == name)
        .or_else(|| catalog.events.get(name)?.versions.values().next_back())
}

/// How a whole message body of the event's dialect is read.
struct Envelope {
    wire: Wire,
    properties: BasicProperties,
    exchange: String,
}

impl Envelope {
    fn of(catalog: &Catalog, v: &EventVersion) -> Result<Self, String> {
        let wire = catalog.wire()?;
        let base = wire.dialect(&v.dialect).map(|d| d.base);
        let content_type = match base {
            Some(DialectBase::CloudeventsBinary) => {
                return Err(format!(
                    "{} travels in dialect `{}` (CloudEvents binary mode), whose envelope is in AMQP headers, not in the body\n  help: validate the payload alone (without --envelope)",
                    v.message_type, v.dialect
                ))
            }
            Some(DialectBase::CloudeventsStructured) => CLOUDEVENTS_JSON,
            Some(DialectBase::Masstransit) => MASSTRANSIT_JSON,
            _ => schemactl_runtime::render::JSON,
        };
        Ok(Envelope {
            wire,
            properties: BasicProperties::default().with_content_type(content_type.into()),
            exchange: v.exchange.clone(),
        })
    }

    /// The payload `body` carries, or why it carries none of `v`.
    fn payload(&self, body: &str, v: &EventVersion) -> Result<Value, String> {
        let received = Received {
            properties: &self.properties,
            exchange: &self.exchange,
            routing_key: &v.routing_key,
        };
        let decoded = wire::decode(body.as_bytes(), received, &self.wire)
            .map_err(|e| format!("not a `{}` envelope: {e}", v.dialect))?;
        if decoded.envelope.message_type != v.message_type {
            return Err(format!(
                "the envelope's type `{}` is not {} (dialect `{}`)",
                decoded.wire_type, v.message_type, decoded.dialect
            ));
        }
        serde_json::from_str(decoded.envelope.payload.get())
            .map_err(|e| format!("the payload is not JSON: {e}"))
    }
}

/// Every error of one document, each as `<pointer>: <message>`.
fn check(
    document: &str,
    v: &EventVersion,
    validator: &jsonschema::Validator,
    envelope: Option<&Envelope>,
) -> Vec<String> {
    let payload = match envelope {
        Some(envelope) => envelope.payload(document, v),
        None => serde_json::from_str::<Value>(document).map_err(|e| format!("not JSON: {e}")),
    };
    let payload = match payload {
        Ok(payload) => payload,
        Err(message) => return vec![message],
    };
    let prefix = if envelope.is_some() { "payload " } else { "" };
    errors(validator, &payload, prefix)
}

/// The validator of an event version's resolved schema, its formats asserted.
pub(crate) fn compile(
    schema: &Value,
) -> Result<jsonschema::Validator, jsonschema::ValidationError<'static>> {
    jsonschema::options()
        .should_validate_formats(true)
        .build(schema)
}

/// Every error of `payload`, each as `invalid at <prefix><pointer>: <message>`.
pub(crate) fn errors(
    validator: &jsonschema::Validator,
    payload: &Value,
    prefix: &str,
) -> Vec<String> {
    validator
        .iter_errors(payload)
        .map(|e| {
            let pointer = e.instance_path().to_string();
            let pointer = if pointer.is_empty() { "/" } else { &pointer };
            format!("invalid at {prefix}{pointer}: {e}")
        })
        .collect()
}

fn read(file: &Path) -> Result<String, String> {
    if file == Path::new("-") {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("standard input: {e}"))?;
        return Ok(text);
    }
    std::fs::read_to_string(file).map_err(|e| format!("cannot read {}: {e}", file.display()))
}
