//! The sample message on each event page of the docs is what the runtime puts on the wire:
//! for every event version of both catalogs, in its own dialect (standard, the Collector's,
//! onboarding's, MassTransit's, the shop's), the sample's AMQP properties, headers and body
//! equal those `wire::encode` produces for the same envelope (same ID, time, producer, trace
//! and payload; MassTransit's `host` names the sending process, so it is left out).

use std::collections::BTreeMap;
use std::path::Path;

use lapin::types::AMQPValue;
use schemactl_codegen::docs::site::{envelope_sample, EnvelopeSample};
use schemactl_codegen::docs::DocsModel;
use schemactl_codegen::{load, LoadOptions};
use schemactl_runtime::{wire, Envelope, TraceContext, ENVELOPE_VERSION};
use serde_json::Value;

/// The sample's properties by name.
fn shown(sample: &EnvelopeSample) -> BTreeMap<&str, &str> {
    sample
        .properties
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str()))
        .collect()
}

fn text(value: &AMQPValue) -> String {
    match value {
        AMQPValue::LongString(s) => String::from_utf8_lossy(s.as_bytes()).into_owned(),
        AMQPValue::ShortString(s) => s.as_str().to_owned(),
        other => format!("{other:?}"),
    }
}

fn without_host(mut body: Value) -> Value {
    if let Some(o) = body.as_object_mut() {
        o.remove("host");
    }
    body
}

#[test]
fn docs_envelope_samples_are_what_the_runtime_sends() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dialects = std::collections::BTreeSet::new();
    for root in [
        manifest.join("schemas"),
        manifest.join("examples/shop/schemas"),
    ] {
        let catalog = load(&root, &LoadOptions::default()).expect("the catalog lints");
        let wire_of = catalog.wire().expect("the catalog's wire");
        let model = DocsModel::new(&catalog, None);
        assert!(!model.versions.is_empty());
        for v in &model.versions {
            {
                dialects.insert(v.dialect.clone());
                let sample = envelope_sample(&catalog, v);
                let shown = shown(&sample);
                let at = format!("{} in {}", v.summary.message_type, v.dialect);
                let get = |name: &str| {
                    *shown
                        .get(name)
                        .unwrap_or_else(|| panic!("{at}: the sample shows no `{name}`"))
                };
                let payload: Value =
                    serde_json::from_str(v.examples.first().map_or("{}", String::as_str)).unwrap();
                let envelope = Envelope {
                    message_id: get("message_id").to_owned(),
                    message_type: v.summary.message_type.clone(),
                    envelope_version: ENVELOPE_VERSION.to_owned(),
                    timestamp: get("timestamp").parse().unwrap(),
                    source_service: v.summary.producer.clone(),
                    correlation_id: None,
                    causation_id: None,
                    tenant_id: None,
                    partition_key: None,
                    payload,
                    metadata: BTreeMap::new(),
                };
                let trace: TraceContext = get("headers.traceparent").parse().unwrap();
                let dialect = wire_of.dialect(&v.dialect).expect("the event's dialect");
                let out = wire::encode(
                    &envelope,
                    dialect,
                    &v.dialect,
                    &v.wire_type,
                    &v.summary.exchange,
                    &v.summary.routing_key,
                    &trace,
                )
                .unwrap_or_else(|e| panic!("{at}: {e}"));
                let props = &out.properties;

                let sent: Value = serde_json::from_slice(&out.body).unwrap();
                let body: Value = serde_json::from_str(&sample.body).unwrap();
                assert_eq!(without_host(body), without_host(sent), "{at}: body");
                let property = |value: &Option<lapin::types::ShortString>| {
                    value
                        .as_ref()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default()
                };
                assert_eq!(get("content_type"), property(props.content_type()), "{at}");
                assert_eq!(get("message_id"), property(props.message_id()), "{at}");
                assert_eq!(get("type"), property(props.kind()), "{at}");
                assert_eq!(get("app_id"), property(props.app_id()), "{at}");
                let mode = props.delivery_mode().expect("delivery mode").to_string();
                assert!(get("delivery_mode").starts_with(&mode), "{at}: {mode}");
                let seconds = envelope.timestamp.timestamp() as u64;
                assert_eq!(props.timestamp(), &Some(seconds), "{at}: timestamp");

                // Every header sent is shown, with its value, and nothing else is.
                let sent: BTreeMap<String, String> = props
                    .headers()
                    .as_ref()
                    .expect("headers")
                    .inner()
                    .iter()
                    .map(|(k, v)| (format!("headers.{}", k.as_str()), text(v)))
                    .collect();
                let shown_headers: BTreeMap<String, String> = shown
                    .iter()
                    .filter(|(name, _)| name.starts_with("headers."))
                    .map(|(name, value)| (name.to_string(), value.to_string()))
                    .collect();
                assert_eq!(shown_headers, sent, "{at}: headers");
            }
        }
    }
    for expected in [
        "standard",
        "collector",
        "onboarding",
        "orchestration",
        "shop",
    ] {
        assert!(
            dialects.contains(expected),
            "no event travels in {expected}: {dialects:?}"
        );
    }
}
