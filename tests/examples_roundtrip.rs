//! Every example payload of every event version: validates against the event's resolved
//! schema, deserializes into the generated type, and re-serializes to equal JSON.

use schemactl_runtime::examples::ExampleChecker;
use schemactl_runtime::Event;

#[test]
fn every_example_round_trips() {
    let mut visitor = ExampleChecker::default();
    schemactl_catalog::visit_events(&mut visitor);
    assert!(
        visitor.failures.is_empty(),
        "{}",
        visitor.failures.join("\n")
    );
    assert!(
        visitor.without_examples.is_empty(),
        "{:?}",
        visitor.without_examples
    );
    // One visit per event file in schemas/.
    let files = walk(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/schemas"
    )));
    let event_files = files
        .iter()
        .filter(|p| p.file_name().unwrap().to_string_lossy().contains(".v"))
        .count();
    assert_eq!(visitor.message_types.len(), event_files);
    assert!(visitor.examples >= event_files);
    assert!(visitor.message_types.contains(&"UserRegistered.v2"));
}

#[test]
fn payloads_that_break_the_schema_are_rejected_by_the_types() {
    use schemactl_catalog::user::UserRegisteredV2;
    let bad = serde_json::json!({
        "userId": "not-a-uuid",
        "contact": {"email": "a@example.com", "emailVerified": true},
        "registeredAt": "2024-01-01T00:00:00Z",
        "channel": "web"
    });
    assert!(serde_json::from_value::<UserRegisteredV2>(bad).is_err());
    let unknown_channel = serde_json::json!({
        "userId": "7f9c2a4e-1b3d-4c5e-9f60-2a1b3c4d5e6f",
        "contact": {"email": "a@example.com", "emailVerified": true},
        "registeredAt": "2024-01-01T00:00:00Z",
        "channel": "fax"
    });
    assert!(serde_json::from_value::<UserRegisteredV2>(unknown_channel).is_err());
}

#[test]
fn constants_match_the_catalog() {
    use schemactl_catalog::{exchanges, message_types, routing_keys, user};
    #[allow(deprecated)]
    type V1 = user::UserRegisteredV1;
    assert_eq!(<V1 as Event>::ROUTING_KEY, routing_keys::USER_REGISTERED_V1);
    assert_eq!(routing_keys::USER_REGISTERED_V1, "user.registered.v1");
    assert_eq!(message_types::USER_REGISTERED_V2, "UserRegistered.v2");
    assert_eq!(<V1 as Event>::EXCHANGE, exchanges::USER_EVENTS);
    let deprecated = [
        <V1 as Event>::DEPRECATED,
        <user::UserRegisteredV2 as Event>::DEPRECATED,
    ];
    assert_eq!(deprecated, [true, false]);
    assert_eq!(
        <schemactl_catalog::project::ProjectTaskCompletedV1 as Event>::ROUTING_KEY,
        "task.completed"
    );
    // The Collector and onboarding platforms route on bare event names.
    assert_eq!(routing_keys::ORDER_CREATED_V1, "order.created");
    assert_eq!(
        routing_keys::ONBOARDING_STEP_STARTED_V1,
        "onboarding.step.started"
    );
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}
