//! Tidy checks: module docs, banned attributes, `mod.rs`, and the purity of the core
//! crates (they must not depend on IO, async, or clock crates).

use std::path::{Path, PathBuf};

/// Crates that must stay pure, and dependencies they must never have.
const PURE_CRATES: &[&str] = &["steward-policy", "steward-permits", "steward-audit"];
const IMPURE_DEPS: &[&str] = &[
    "tokio", "sqlx", "axum", "clap", "chrono", "rand", "uuid", "reqwest", "hyper", "tower",
];

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

pub fn check(root: &Path) -> Vec<String> {
    let mut problems = Vec::new();
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
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            let at = format!("{rel}:{}", i + 1);
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
        let problems = check(&dir);
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].contains("mod.rs"));
        assert!(problems[1].contains("`//!`"));
        assert!(problems[2].contains("expect(lint"));
        assert!(problems[3].contains("depends on `tokio`"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
