//! SARIF 2.1.0 output of `check` and `diff` (`--format sarif`), which GitHub code scanning
//! and other CI dashboards read: one result per finding, at its file, line and column, with
//! a stable fingerprint so that a finding keeps its identity between runs.

use schemactl_codegen::compat::CompatRule;
use serde_json::{json, Value};

/// One finding as SARIF reports it.
pub struct SarifResult {
    /// The compatibility rule.
    pub rule: CompatRule,
    /// `error` (breaks the check), `warning` (advisory) or `note` (allowed).
    pub level: &'static str,
    /// What changed and what it breaks.
    pub message: String,
    /// The schema file, as a path relative to the repository root.
    pub file: String,
    /// 1-based line and column of the finding in `file`.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Identifies the finding across runs (rule, event and JSON pointer).
    pub fingerprint: String,
}

/// The SARIF log of `results`: every compatibility rule described, each result located.
pub fn log(results: &[SarifResult]) -> Value {
    let rules: Vec<Value> = CompatRule::ALL
        .iter()
        .map(|rule| {
            json!({
                "id": rule.id(),
                "shortDescription": { "text": rule.doc() },
                "properties": { "category": rule.category().to_string() },
            })
        })
        .collect();
    let results: Vec<Value> = results
        .iter()
        .map(|r| {
            json!({
                "ruleId": r.rule.id(),
                "ruleIndex": CompatRule::ALL.iter().position(|x| *x == r.rule),
                "level": r.level,
                "message": { "text": r.message },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": r.file.replace('\\', "/") },
                        "region": { "startLine": r.line, "startColumn": r.column },
                    }
                }],
                "partialFingerprints": { "schemactl/v1": r.fingerprint },
            })
        })
        .collect();
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {
                "driver": {
                    "name": "schemactl",
                    "version": env!("CARGO_PKG_VERSION"),
                    "rules": rules,
                }
            },
            "results": results,
        }],
    })
}
