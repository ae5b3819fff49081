//! `schemactl check --against <ref>` on a temporary git repository holding a copy of the
//! reference catalog, through a compatible edit, a breaking edit, an allowed break, a removed
//! version, a routing key change and a missing ref.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Repo {
    dir: tempfile::TempDir,
}

impl Repo {
    fn new() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&repo_root().join("schemas"), &dir.path().join("schemas"));
        git(dir.path(), &["init", "-q", "-b", "main"]);
        git(dir.path(), &["add", "-A"]);
        git(dir.path(), &["commit", "-q", "-m", "catalog"]);
        Repo { dir }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join("schemas").join(rel)
    }

    fn edit(&self, rel: &str, f: impl FnOnce(&mut Value)) {
        let path = self.path(rel);
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        f(&mut v);
        std::fs::write(&path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
    }

    fn check(&self, against: &str) -> (Option<i32>, String, String) {
        let o: Output = Command::new(env!("CARGO_BIN_EXE_schemactl"))
            .args(["check", "--against", against])
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    }

    fn reset(&self) {
        git(self.dir.path(), &["checkout", "-q", "--", "."]);
        git(self.dir.path(), &["clean", "-q", "-fd"]);
    }
}

const EVENT: &str = "user/UserEmailVerified.v1.json";

#[test]
fn check_against_a_ref_through_each_kind_of_change() {
    let repo = Repo::new();
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(0), "{out}{err}");

    // Compatible: a description changes.
    repo.edit(EVENT, |v| v["description"] = "Reworded.".into());
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(0), "{out}{err}");
    repo.reset();

    // Breaking: a string gets shorter, which old messages may exceed.
    repo.edit(EVENT, |v| {
        v["properties"]["email"]["maxLength"] = 100.into()
    });
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(1), "{out}{err}");
    let line = out
        .lines()
        .find(|l| l.contains("string-length-narrowed"))
        .unwrap_or_else(|| panic!("no finding in {out}"));
    assert!(
        line.contains("schemas/user/UserEmailVerified.v1.json:"),
        "{line}"
    );
    assert!(line.contains("UserEmailVerified.v1"), "{line}");
    // `file:line:col: RULE: …`, the line pointing at the edited property.
    let mut parts = line.splitn(4, ':');
    let (_, l, c) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
    assert!(
        l.parse::<usize>().unwrap() > 1 && c.parse::<usize>().unwrap() >= 1,
        "{line}"
    );

    // The same break, allowed by its fingerprint: a note, exit 0.
    let fingerprint = line
        .rsplit_once('[')
        .unwrap()
        .1
        .trim_end_matches(']')
        .to_owned();
    std::fs::write(
        repo.path("compat-allow.toml"),
        format!("[[allow]]\nfingerprint = \"{fingerprint}\"\nreason = \"no producer sends longer addresses\"\n"),
    )
    .unwrap();
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("note breaks") && out.contains("allowed: no producer"),
        "{out}"
    );
    repo.reset();

    // The GitHub format annotates the same break.
    repo.edit(EVENT, |v| {
        v["properties"]["email"]["maxLength"] = 100.into()
    });
    let o = Command::new(env!("CARGO_BIN_EXE_schemactl"))
        .args(["check", "--against", "main", "--format", "github"])
        .current_dir(repo.dir.path())
        .output()
        .unwrap();
    let gh = String::from_utf8_lossy(&o.stdout);
    assert!(
        gh.lines().any(|l| l
            .starts_with("::error file=schemas/user/UserEmailVerified.v1.json,line=")
            && l.contains("string-length-narrowed")),
        "{gh}"
    );
    // The generated field becomes a constrained newtype: a rust-api warning.
    assert!(
        gh.lines()
            .any(|l| l.starts_with("::warning") && l.contains("rust-field-type-changed")),
        "{gh}"
    );
    // SARIF: the same results at the same place, for code scanning.
    let o = Command::new(env!("CARGO_BIN_EXE_schemactl"))
        .args(["check", "--against", "main", "--format", "sarif"])
        .current_dir(repo.dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let log: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(log["version"], "2.1.0");
    let run = &log["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run["results"].as_array().unwrap();
    let annotations = gh.lines().filter(|l| l.starts_with("::")).count();
    assert_eq!(results.len(), annotations, "{log:#}");
    let narrowed = results
        .iter()
        .find(|r| r["ruleId"] == "string-length-narrowed")
        .unwrap_or_else(|| panic!("{log:#}"));
    assert_eq!(narrowed["level"], "error");
    let index = narrowed["ruleIndex"].as_u64().unwrap() as usize;
    assert_eq!(rules[index]["id"], "string-length-narrowed");
    let location = &narrowed["locations"][0]["physicalLocation"];
    assert_eq!(
        location["artifactLocation"]["uri"],
        "schemas/user/UserEmailVerified.v1.json"
    );
    let line = location["region"]["startLine"].as_u64().unwrap();
    assert!(
        gh.contains(&format!(",line={line},")) && line > 1,
        "{gh}\n{location}"
    );
    assert!(narrowed["partialFingerprints"]["schemactl/v1"]
        .as_str()
        .unwrap()
        .starts_with("string-length-narrowed:UserEmailVerified.v1:"));
    assert!(results.iter().any(|r| r["level"] == "warning"));
    repo.reset();

    // A routing key change is a contract break.
    repo.edit(EVENT, |v| {
        v["x-event"]["routingKey"] = "user.email.confirmed.v1".into()
    });
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("routing-key-changed"), "{out}{err}");
    repo.reset();

    // Removing a published version.
    std::fs::remove_file(repo.path("user/UserDeactivated.v1.json")).unwrap();
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("version-removed") && out.contains("UserDeactivated.v1"),
        "{out}{err}"
    );
    repo.reset();

    // A ref that is not there (a shallow clone, say).
    let (code, _, err) = repo.check("origin/main");
    assert_eq!(code, Some(2));
    assert!(err.contains("git ref `origin/main` not found"), "{err}");
}

const DEACTIVATED: &str = "user/UserDeactivated.v1.json";

fn commit(repo: &Repo, message: &str) {
    git(repo.dir.path(), &["add", "-A"]);
    git(repo.dir.path(), &["commit", "-q", "-m", message]);
}

#[test]
fn a_new_major_version_starts_a_new_lineage() {
    let repo = Repo::new();
    // v2 with a change that would break v1: never compared with v1.
    let mut v2: Value =
        serde_json::from_str(&std::fs::read_to_string(repo.path(EVENT)).unwrap()).unwrap();
    v2["$id"] = v2["$id"].as_str().unwrap().replace(".v1.", ".v2.").into();
    v2["properties"]["email"]["maxLength"] = 100.into();
    std::fs::write(
        repo.path("user/UserEmailVerified.v2.json"),
        serde_json::to_string_pretty(&v2).unwrap(),
    )
    .unwrap();
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(!out.contains("UserEmailVerified.v2"), "{out}");
}

#[test]
fn removing_a_version_orphans_consumers_that_read_no_other_version() {
    let repo = Repo::new();
    std::fs::remove_file(repo.path(DEACTIVATED)).unwrap();
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(1), "{out}{err}");
    for consumer in ["notification-service", "analytics-service"] {
        assert!(
            out.lines()
                .any(|l| l.contains("consumers-orphaned") && l.contains(consumer)),
            "{consumer}: {out}"
        );
    }
}

#[test]
fn rust_api_changes_warn_unless_configured_as_errors() {
    let repo = Repo::new();
    // A new enum value: fine on the wire at BACKWARD, a new variant for Rust code.
    repo.edit(DEACTIVATED, |v| {
        v["x-event"]["compatibility"] = "BACKWARD".into();
    });
    commit(&repo, "BACKWARD");
    repo.edit(DEACTIVATED, |v| {
        v["properties"]["reason"]["enum"]
            .as_array_mut()
            .unwrap()
            .push("merged".into());
    });
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(0), "{out}{err}");
    let line = out
        .lines()
        .find(|l| l.contains("rust-enum-variant-added"))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        line.contains("warning") && line.contains("`reason`"),
        "{line}"
    );

    let toml = repo.path("catalog.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        text.replace("[defaults]\n", "[defaults]\nrust_api = \"error\"\n"),
    )
    .unwrap();
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.contains("error") && out.contains("rust-enum-variant-added"),
        "{out}"
    );
}

#[test]
fn transitive_levels_compare_with_every_earlier_revision() {
    let repo = Repo::new();
    let level = |repo: &Repo, level: &str| {
        let level = level.to_owned();
        repo.edit(DEACTIVATED, move |v| {
            v["x-event"]["compatibility"] = level.into()
        });
    };
    level(&repo, "BACKWARD_TRANSITIVE");
    commit(&repo, "transitive");
    let first = String::from_utf8(
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(repo.dir.path())
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    // A past break that went in: `inactivity` dropped from the enum.
    repo.edit(DEACTIVATED, |v| {
        v["properties"]["reason"]["enum"]
            .as_array_mut()
            .unwrap()
            .retain(|x| x != "inactivity");
        v["examples"]
            .as_array_mut()
            .unwrap()
            .retain(|e| e["reason"] != "inactivity");
    });
    commit(&repo, "drop inactivity");
    // Against HEAD alone the working tree is unchanged; against the earlier revision it
    // still cannot read `inactivity`.
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(1), "{out}{err}");
    let line = out
        .lines()
        .find(|l| l.contains("enum-narrowed") || l.contains("enum-value-removed"))
        .unwrap_or_else(|| panic!("{out}{err}"));
    assert!(
        line.contains(&format!("against revision {}", first.trim())),
        "{line}"
    );
    // The plain level compares with the ref only.
    level(&repo, "BACKWARD");
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(0), "{out}{err}");
}

#[test]
fn a_renamed_shared_definition_renames_the_rust_type() {
    let repo = Repo::new();
    let from = repo.path("common/CurrencyCode.json");
    let text = std::fs::read_to_string(&from).unwrap();
    std::fs::write(
        repo.path("common/Currency.json"),
        text.replace("\"CurrencyCode\"", "\"Currency\""),
    )
    .unwrap();
    std::fs::remove_file(from).unwrap();
    for file in [
        "invoice/InvoicePaid.v1.json",
        "invoice/InvoiceIssued.v1.json",
        "hr/PayrollProcessed.v1.json",
        "order/OrderCreated.v1.json",
        "offer/OfferApproved.v1.json",
    ] {
        let path = repo.path(file);
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, text.replace("CurrencyCode.json", "Currency.json")).unwrap();
    }
    let (code, out, err) = repo.check("main");
    // The wire is unchanged; code naming `CurrencyCode` no longer compiles.
    assert_eq!(code, Some(0), "{out}{err}");
    let line = out
        .lines()
        .find(|l| l.contains("rust-type-renamed") && l.contains("InvoiceIssued.v1"))
        .unwrap_or_else(|| panic!("{out}{err}"));
    assert!(line.contains("`CurrencyCode` became `Currency`"), "{line}");
    assert!(!out.contains("rust-field-type-changed"), "{out}");
}

const REGISTERED_V2: &str = "user/UserRegistered.v2.json";

#[test]
fn the_default_policy_lets_an_optional_property_in_and_keeps_real_breaks_out() {
    let repo = Repo::new();
    let add_optional = |v: &mut Value| {
        v["properties"]["timezone"] = serde_json::json!({"type": "string", "maxLength": 64});
    };

    // The ordinary change passes with no flags.
    repo.edit(REGISTERED_V2, add_optional);
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(0), "{out}{err}");
    // …and fails under strict, from the command line, the catalog or the event.
    let o = Command::new(env!("CARGO_BIN_EXE_schemactl"))
        .args(["check", "--against", "main", "--policy", "strict"])
        .current_dir(repo.dir.path())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stdout).contains("property-added"));
    let toml = std::fs::read_to_string(repo.path("catalog.toml")).unwrap();
    let strict = toml.replacen("[defaults]\n", "[defaults]\npolicy = \"strict\"\n", 1);
    assert_ne!(strict, toml, "catalog.toml has a [defaults] table");
    std::fs::write(repo.path("catalog.toml"), strict).unwrap();
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("property-added"), "{out}");
    std::fs::write(repo.path("catalog.toml"), &toml).unwrap();
    repo.edit(REGISTERED_V2, |v| v["x-event"]["policy"] = "strict".into());
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("property-added"), "{out}");
    repo.reset();

    // Removing an optional property: consumers that read it lose it.
    repo.edit(REGISTERED_V2, |v| {
        v["properties"].as_object_mut().unwrap().remove("locale");
    });
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        out.lines()
            .any(|l| l.contains("property-dropped") && l.contains("`locale`")),
        "{out}"
    );
    repo.reset();

    // Making one required, narrowing an enum.
    repo.edit(REGISTERED_V2, |v| {
        v["required"].as_array_mut().unwrap().push("locale".into());
        // (Its examples lack `locale`; the lint would refuse them.)
        v.as_object_mut().unwrap().remove("examples");
    });
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("required-added"), "{out}");
    repo.reset();
    repo.edit(REGISTERED_V2, |v| {
        let values = v["properties"]["channel"]["enum"].as_array_mut().unwrap();
        values.pop().unwrap();
        v.as_object_mut().unwrap().remove("examples");
    });
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("enum-narrowed"), "{out}");
}

#[test]
fn a_deprecated_version_retires_and_the_chain_starts_above_v1() {
    let repo = Repo::new();
    // UserRegistered.v1 is deprecated at `main`, its consumers read v2 too.
    std::fs::remove_file(repo.path("user/UserRegistered.v1.json")).unwrap();
    let (code, out, err) = repo.check("main");
    assert_eq!(code, Some(0), "{out}{err}");
    let note = out
        .lines()
        .find(|l| l.contains("deprecated-version-removed"))
        .unwrap_or_else(|| panic!("no note in {out}"));
    for consumer in [
        "notification-service",
        "analytics-service",
        "onboarding-service",
    ] {
        assert!(note.contains(consumer), "{note}");
    }
    // The catalog without v1 lints clean: v2 starts the chain.
    let o = Command::new(env!("CARGO_BIN_EXE_schemactl"))
        .args(["lint"])
        .current_dir(repo.dir.path())
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
}
