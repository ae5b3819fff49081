//! Every case under `testdata/compat/<case>/`: `previous/schema.json` against
//! `current/schema.json` in both directions gives exactly the findings of `expected.json`
//! (`findings` in strict policy; `lenient` where that policy differs), as
//! `rule DIRECTION pointer` lines.

use std::path::{Path, PathBuf};

use schemactl_codegen::compat::{compare, Mode, Policy};
use serde_json::Value;

fn read(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn findings(old: &Value, new: &Value, policy: Policy) -> Vec<String> {
    let mut out: Vec<String> = compare(old, new, Mode::Full, policy)
        .expect("comparable")
        .into_iter()
        .map(|f| {
            let at = if f.new_pointer.is_empty() {
                "/".to_owned()
            } else {
                f.new_pointer
            };
            format!("{} {} {at}", f.rule.id(), f.direction)
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn expected(v: &Value, key: &str) -> Option<Vec<String>> {
    v.get(key).and_then(Value::as_array).map(|a| {
        a.iter()
            .map(|s| s.as_str().expect("a finding line").to_owned())
            .collect()
    })
}

#[test]
fn every_fixture_pair_gives_exactly_its_findings() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testdata/compat");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("testdata/compat")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let old = read(&case.join("previous/schema.json"));
        let new = read(&case.join("current/schema.json"));
        let want = read(&case.join("expected.json"));
        let strict = expected(&want, "findings").expect("`findings` in expected.json");
        let lenient = expected(&want, "lenient").unwrap_or_else(|| strict.clone());
        for (policy, want) in [(Policy::Strict, strict), (Policy::Lenient, lenient)] {
            let got = findings(&old, &new, policy);
            if got != want {
                failures.push(format!(
                    "{} ({policy:?}): expected {want:?}, got {got:?}",
                    case.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Pairs compat-fuzz found taking 8–25 s (nested self-referencing alternatives): each now
/// ends within the work budget (under a second in a release build), with findings or the
/// budget's error.
#[test]
fn fuzz_found_slow_pairs_end_within_the_work_budget() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/compat-fuzz");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("testdata/compat-fuzz") {
        let path = entry.unwrap().path();
        let pair: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for policy in [Policy::Strict, Policy::Lenient] {
            let started = std::time::Instant::now();
            let result = compare(&pair["old"], &pair["new"], Mode::Full, policy);
            let took = started.elapsed();
            if let Err(e) = &result {
                assert!(
                    !e.message.is_empty(),
                    "{}: an error says what is wrong",
                    path.display()
                );
            }
            // Unoptimised test builds are ~10x slower than release; the release build
            // takes well under a second (see `compat-fuzz`).
            assert!(
                took < std::time::Duration::from_secs(20),
                "{}: {took:?}",
                path.display()
            );
        }
        seen += 1;
    }
    assert!(seen >= 8, "the kept fuzz cases are read");
}
