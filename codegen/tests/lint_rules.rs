//! One fixture catalog per lint rule under `tests/fixtures/lint/<case>/`, each with an
//! `expect.tsv` of `rule<TAB>file<TAB>pointer` lines that its diagnostics must contain. A case
//! must raise no error of a rule it does not expect, and every rule has a case.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use schemactl_codegen::{load, rust, Diagnostic, LoadOptions, Rule, Severity};

fn diagnostics(catalog: &Path) -> Vec<Diagnostic> {
    match load(catalog, &LoadOptions::default()) {
        Err(d) => d.into_iter().collect(),
        Ok(c) => {
            let mut all: Vec<Diagnostic> = c.warnings.iter().cloned().collect();
            if let Err(d) = rust::render(&c) {
                all.extend(d);
            }
            all
        }
    }
}

fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    cases.sort();
    cases
}

#[test]
fn every_rule_is_found_where_expected() {
    let mut covered = BTreeSet::new();
    for case in cases() {
        let expect = std::fs::read_to_string(case.join("expect.tsv")).unwrap();
        let found = diagnostics(&case);
        let shown: Vec<String> = found.iter().map(|d| d.to_string()).collect();
        let mut expected_rules = BTreeSet::new();
        for line in expect.lines() {
            let [rule, file, pointer] = line.split('\t').collect::<Vec<_>>()[..] else {
                panic!("bad expect line {line:?}");
            };
            let rule = Rule::from_id(rule).unwrap_or_else(|| panic!("unknown rule {rule}"));
            expected_rules.insert(rule);
            covered.insert(rule);
            let hit = found
                .iter()
                .find(|d| d.rule == rule && d.file == case.join(file) && d.pointer == pointer);
            let hit = hit.unwrap_or_else(|| {
                panic!(
                    "{}: expected {rule} at {file}#{pointer}, got:\n{}",
                    case.display(),
                    shown.join("\n")
                )
            });
            assert!(!hit.message.is_empty());
            if rule != Rule::Codegen {
                assert!(hit.help.is_some(), "{hit} has no help");
            }
            if rule.severity() == Severity::Error && file.ends_with(".json") && rule != Rule::Io {
                assert!(hit.position.is_some(), "{hit} has no line/column");
            }
        }
        for d in &found {
            if d.severity == Severity::Error {
                assert!(
                    expected_rules.contains(&d.rule),
                    "{}: unexpected error {d}",
                    case.display()
                );
            }
        }
        if expect.is_empty() {
            assert!(found.is_empty(), "{}: {}", case.display(), shown.join("\n"));
        }
    }
    let missing: Vec<_> = Rule::ALL.iter().filter(|r| !covered.contains(r)).collect();
    assert!(missing.is_empty(), "rules without a fixture: {missing:?}");
}

#[test]
fn json_syntax_errors_carry_line_and_column() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint/json-syntax");
    let d = diagnostics(&case);
    let p = d[0].position.expect("position");
    assert_eq!((p.line, p.column), (2, 17), "{}", d[0]);
}

#[test]
fn allowed_warnings_can_also_be_skipped_by_option() {
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint/missing-example");
    let options = LoadOptions {
        allow: vec![Rule::MissingExample],
        ..LoadOptions::default()
    };
    let catalog = load(&case, &options).expect("warnings do not fail loading");
    assert!(catalog.warnings.is_empty());
    // Errors cannot be skipped.
    let case = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/lint/ref-remote");
    let options = LoadOptions {
        allow: vec![Rule::RefRemote],
        ..LoadOptions::default()
    };
    assert!(load(&case, &options).is_err());
}
