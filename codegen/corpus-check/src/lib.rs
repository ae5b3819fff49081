//! The Rust generated for the Iglu Central corpus (`testdata/iglu-central/`), one module per
//! vendor, compiled under `#![deny(warnings)]`: every schema either is in here or has a lint
//! error that kept it out (see `OUT_DIR/report.tsv` and the test below).

#![deny(warnings)]

include!(concat!(env!("OUT_DIR"), "/corpus.rs"));

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    /// One line per Iglu schema: its registry path, then `compiled` or the rule, pointer and
    /// message of the lint error that kept it out.
    const REPORT: &str = include_str!(concat!(env!("OUT_DIR"), "/report.tsv"));

    #[test]
    fn every_schema_compiles_or_has_a_lint_error_naming_its_keyword() {
        let mut by_outcome: BTreeMap<&str, usize> = BTreeMap::new();
        for line in REPORT.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields[..] {
                [_, "compiled"] => {}
                [id, rule, pointer, message] => {
                    // Lint-clean input the generator failed on breaks the contract.
                    assert_ne!(rule, "codegen", "{id}: {message}");
                    let keyword = pointer.rsplit('/').next().unwrap_or_default();
                    assert!(
                        !keyword.is_empty() && message.contains(&format!("`{keyword}")),
                        "{id}: {rule} at {pointer:?} does not name its keyword: {message}"
                    );
                }
                _ => panic!("malformed report line {line:?}"),
            }
            *by_outcome.entry(fields[1]).or_default() += 1;
        }
        let total: usize = by_outcome.values().sum();
        println!("{total} schemas: {by_outcome:?}");
        // The corpus holds 566 JSON Schemas; most of them must make it.
        assert!(total >= 560, "{total} schemas read");
        assert!(by_outcome["compiled"] * 10 >= total * 9, "{by_outcome:?}");
    }
}
