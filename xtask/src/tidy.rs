//! Tidy checks: module docs, banned attributes, `mod.rs`, the purity of the core crates
//! (they must not depend on IO, async, or clock crates), and that personal values leave
//! their sealed type only in the audit append, and that no two OpenAPI schemas share a
//! name (utoipa keeps one of them silently).

use std::path::{Path, PathBuf};

/// Crates that must stay pure, and dependencies they must never have.
const PURE_CRATES: &[&str] = &["steward-policy", "steward-permits", "steward-audit"];
const IMPURE_DEPS: &[&str] = &[
    "tokio", "sqlx", "axum", "clap", "chrono", "rand", "uuid", "reqwest", "hyper", "tower",
];

/// The only files that may turn a `steward_audit::Personal` into plaintext data: its
/// definition (and tests) and the store's typed event constructor, whose output only
/// `append_event` and the group commit consume (they encrypt it before hashing).
const UNSEALERS: &[&str] = &[
    "crates/steward-audit/src/event/",
    "crates/steward-store/src/audit.rs",
];

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub fn check(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let mut schemas: std::collections::BTreeMap<String, String> = Default::default();
    let mut files = Vec::new();
    collect_rs(&root.join("crates"), &mut files);
    collect_rs(&root.join("xtask"), &mut files);
    for file in &files {
        let rel = file
            .strip_prefix(root)
            .unwrap_or(file)
            .display()
            .to_string();
        let Ok(text) = std::fs::read_to_string(file) else {
            problems.push(format!("{rel}: not readable as UTF-8"));
            continue;
        };
        if file.file_name().is_some_and(|n| n == "mod.rs") {
            problems.push(format!("{rel}: use `foo.rs` + `foo/` instead of `mod.rs`"));
        }
        if !text.trim_start().starts_with("//!") {
            problems.push(format!(
                "{rel}: must start with a `//!` line saying what it is for"
            ));
        }
        for (name, line) in schema_names(&text) {
            let at = format!("{rel}:{line}");
            if let Some(first) = schemas.insert(name.clone(), at.clone()) {
                problems.push(format!(
                    "{at}: the OpenAPI schema `{name}` is also defined at {first}; give one another name (`#[schema(as = …)]`)"
                ));
            }
        }
        let unsealer = UNSEALERS.iter().any(|allowed| rel.starts_with(allowed));
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            let at = format!("{rel}:{}", i + 1);
            // Spelled in pieces so this file does not trip its own check.
            let unseal = format!(".{}(", "unsealed_member");
            if !unsealer && line.contains(unseal.as_str()) {
                problems.push(format!(
                    "{at}: personal values are unsealed only by the audit append (`NewEvent::typed`)"
                ));
            }
            // Spelled in pieces so this file does not trip its own check.
            let banned: [(String, &str); 4] = [
                (
                    format!("#[{}(", "allow"),
                    "use `#[expect(lint, reason = \"…\")]`",
                ),
                (
                    format!("#[{}", "ignore"),
                    "no ignored tests: fix or delete the test",
                ),
                (format!("#[{}", "should_panic"), "assert the `Err` instead"),
                (format!("{}!(", "dbg"), "remove debugging output"),
            ];
            for (needle, advice) in &banned {
                if trimmed.starts_with(needle.as_str())
                    || (needle.starts_with("dbg") && trimmed.contains(needle.as_str()))
                {
                    problems.push(format!("{at}: `{needle}` — {advice}"));
                }
            }
        }
    }
    for name in PURE_CRATES {
        let manifest = root.join("crates").join(name).join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let Ok(doc) = text.parse::<toml::Table>() else {
            problems.push(format!("crates/{name}/Cargo.toml: not valid TOML"));
            continue;
        };
        if let Some(deps) = doc.get("dependencies").and_then(|d| d.as_table()) {
            for dep in deps.keys() {
                if IMPURE_DEPS.contains(&dep.as_str()) {
                    problems.push(format!(
                        "crates/{name}/Cargo.toml: pure crate depends on `{dep}` (no IO, async or clock in the core)"
                    ));
                }
            }
        }
    }
    problems
}

/// The OpenAPI schema names a file defines, with their lines: each type deriving
/// `ToSchema`, by its `#[schema(as = …)]` name or else its own.
fn schema_names(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut names = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim_start();
        if !(line.starts_with("#[derive(") && line.contains("ToSchema")) {
            continue;
        }
        let mut alias = None;
        for next in lines.iter().skip(i + 1).take(12).map(|l| l.trim_start()) {
            if let Some(rest) = next.strip_prefix("#[schema(as = ") {
                alias = rest
                    .split([')', ','])
                    .next()
                    .map(str::trim)
                    .map(str::to_owned);
            }
            let item = [
                "pub struct ",
                "pub enum ",
                "struct ",
                "enum ",
                "pub(crate) struct ",
            ]
            .iter()
            .find_map(|kw| next.strip_prefix(kw));
            if let Some(item) = item {
                let own: String = item
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                names.push((alias.unwrap_or(own), i + 1));
                break;
            }
        }
    }
    names
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repository_is_tidy() {
        let problems = check(&repo_root());
        assert!(
            problems.is_empty(),
            "tidy problems:\n{}",
            problems.join("\n")
        );
    }

    #[test]
    fn tidy_catches_violations() {
        let dir = std::env::temp_dir().join(format!("steward-tidy-{}", std::process::id()));
        let src = dir.join("crates/steward-policy/src");
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join("mod.rs"),
            format!("fn f() {{}}\n#[{}(dead_code)]\n", "allow"),
        )
        .unwrap();
        std::fs::write(
            dir.join("crates/steward-policy/Cargo.toml"),
            "[package]\nname = \"x\"\n[dependencies]\ntokio = \"1\"\n",
        )
        .unwrap();
        let server = dir.join("crates/steward-server/src");
        std::fs::create_dir_all(&server).unwrap();
        std::fs::write(
            server.join("leak.rs"),
            format!(
                "//! x\nfn f(p: Personal) {{ p.{}(); }}\n",
                "unsealed_member"
            ),
        )
        .unwrap();
        let twice = "//! x\n#[derive(Serialize, ToSchema)]\npub struct RollbackView {}\n";
        std::fs::write(server.join("a.rs"), twice).unwrap();
        std::fs::write(server.join("b.rs"), twice).unwrap();
        let problems = check(&dir);
        assert_eq!(problems.len(), 6, "{problems:#?}");
        for expected in [
            "unsealed only by the audit append",
            "mod.rs",
            "`//!`",
            "expect(lint",
            "depends on `tokio`",
            "the OpenAPI schema `RollbackView` is also defined",
        ] {
            assert!(
                problems.iter().any(|p| p.contains(expected)),
                "{expected}: {problems:#?}"
            );
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
