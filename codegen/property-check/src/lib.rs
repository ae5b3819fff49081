//! The Rust generated for random catalogs of random valid schemas (see `build.rs`), compiled
//! under `#![deny(warnings)]`: every random event either is in here or has a lint error that
//! kept it out, and every payload drawn from its schema round-trips through its type.

#![deny(warnings)]

include!(concat!(env!("OUT_DIR"), "/property.rs"));

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use schemactl_runtime::examples::same_json_value;
    use schemactl_runtime::{Event, EventVisitor};
    use serde_json::{Map, Value};

    /// A seed line, then one line per random event: its file, then `compiled` or the rule,
    /// pointer and message of the error that kept it out.
    const REPORT: &str = include_str!(concat!(env!("OUT_DIR"), "/report.tsv"));

    /// Lint errors the grammar is meant to provoke: names that collide after case conversion.
    const EXPECTED_RULES: &[&str] = &["name-collision"];

    #[test]
    fn what_lints_clean_compiles_and_what_does_not_is_a_name_collision() {
        let mut by_outcome: BTreeMap<&str, usize> = BTreeMap::new();
        let mut unexpected = Vec::new();
        for line in REPORT.lines().filter(|l| !l.starts_with('#')) {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields[..] {
                [_, "compiled"] => {}
                [file, rule, pointer, message] if !EXPECTED_RULES.contains(&rule) => {
                    unexpected.push(format!("{file}: {rule} at {pointer:?}: {message}"));
                }
                [_, _, _, _] => {}
                _ => panic!("malformed report line {line:?}"),
            }
            *by_outcome.entry(fields[1]).or_default() += 1;
        }
        let total: usize = by_outcome.values().sum();
        println!(
            "{}: {total} events: {by_outcome:?}",
            REPORT.lines().next().unwrap_or_default()
        );
        assert!(unexpected.is_empty(), "{}", unexpected.join("\n"));
        // Most random events must make it, or the test proves little.
        assert!(by_outcome["compiled"] * 2 >= total, "{by_outcome:?}");
    }

    /// Per message type, per payload, the pointers of the members its type leaves out.
    const OMITTED: &str = include_str!(concat!(env!("OUT_DIR"), "/omitted.json"));

    /// Validates each payload against its event's schema, reads it into the generated type,
    /// writes it back and compares: equal, except for the members listed in `omitted.json`.
    struct RoundTrip {
        omitted: Map<String, Value>,
        versions: usize,
        payloads: usize,
        with_omissions: usize,
        failures: Vec<String>,
    }

    impl RoundTrip {
        fn check<E: Event>(&mut self) -> Result<(), String> {
            let schema: Value = serde_json::from_str(E::SCHEMA).map_err(|e| e.to_string())?;
            let validator = jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .map_err(|e| format!("schema does not compile: {e}"))?;
            let omitted = &self.omitted[E::MESSAGE_TYPE];
            for (i, text) in E::EXAMPLES.iter().enumerate() {
                let payload: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
                if let Some(error) = validator.iter_errors(&payload).next() {
                    return Err(format!(
                        "payload {i} is invalid at {}: {error}",
                        error.instance_path()
                    ));
                }
                let typed: E = serde_json::from_value(payload.clone())
                    .map_err(|e| format!("payload {i} does not deserialize: {e}\n  {payload}"))?;
                let again = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
                let mut expected = payload.clone();
                let pointers = omitted[i].as_array().map(Vec::as_slice).unwrap_or_default();
                for pointer in pointers {
                    remove(&mut expected, pointer.as_str().unwrap_or_default());
                }
                if !same_json_value(&expected, &again) {
                    return Err(format!(
                        "payload {i} changes in a round trip:\n  before: {payload}\n  after:  {again}\n  left out as expected: {pointers:?}"
                    ));
                }
                self.payloads += 1;
                self.with_omissions += usize::from(!pointers.is_empty());
            }
            Ok(())
        }
    }

    impl EventVisitor for RoundTrip {
        fn visit<E: Event>(&mut self) {
            self.versions += 1;
            if let Err(e) = self.check::<E>() {
                self.failures.push(format!("{}: {e}", E::MESSAGE_TYPE));
            }
        }
    }

    /// Removes the member at `pointer` (one that exists) from `value`.
    fn remove(value: &mut Value, pointer: &str) {
        let (parent, last) = pointer.rsplit_once('/').expect("a member pointer");
        let name = last.replace("~1", "/").replace("~0", "~");
        if let Some(Value::Object(m)) = value.pointer_mut(parent) {
            m.remove(&name);
        }
    }

    #[test]
    fn every_payload_drawn_from_a_schema_round_trips_through_its_type() {
        let mut round_trip = RoundTrip {
            omitted: serde_json::from_str(OMITTED).expect("omitted.json"),
            versions: 0,
            payloads: 0,
            with_omissions: 0,
            failures: Vec::new(),
        };
        crate::visit_all(&mut round_trip);
        println!(
            "{} event versions, {} payloads round-tripped ({} with a member left out as documented)",
            round_trip.versions, round_trip.payloads, round_trip.with_omissions
        );
        assert!(
            round_trip.failures.is_empty(),
            "{} of {} event versions lose data:\n{}",
            round_trip.failures.len(),
            round_trip.versions,
            round_trip.failures.join("\n")
        );
        assert!(round_trip.payloads > 0);
    }
}
