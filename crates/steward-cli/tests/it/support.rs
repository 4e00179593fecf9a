//! Running the `steward` binary with input and capturing what it printed.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Asserts a clean invalid-input failure: exit 2, one stderr line containing `needle`,
    /// nothing on stdout and no panic.
    #[track_caller]
    pub fn assert_invalid(&self, needle: &str) {
        assert_eq!(self.code, 2, "stderr: {}", self.stderr);
        assert!(
            self.stderr.contains(needle),
            "`{needle}` not in stderr: {}",
            self.stderr
        );
        assert_eq!(
            self.stderr.trim_end().lines().count(),
            1,
            "stderr: {}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        assert!(self.stdout.is_empty(), "stdout: {}", self.stdout);
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout))
    }
}

/// The environment variables the `steward` command reads; tests start without them.
pub const STEWARD_ENV: &[&str] = &[
    "STEWARD_SERVER",
    "STEWARD_TOKEN",
    "STEWARD_DATA_DIR",
    "STEWARD_DATABASE_URL",
    "STEWARD_LISTEN",
    "STEWARD_POLICY",
    "STEWARD_AUDIT_KEY_FILE",
    "STEWARD_WORKER",
    "STEWARD_PERMIT",
    "STEWARD_ENVIRONMENT",
    "STEWARD_HEADLESS",
    "STEWARD_HOOK_TIMEOUT",
];

pub fn steward(args: &[&str], stdin: &[u8]) -> Run {
    steward_env(args, &[], stdin)
}

/// Runs `steward` with exactly the `STEWARD_*` variables in `env`.
pub fn steward_env(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_steward"));
    for var in STEWARD_ENV {
        command.env_remove(var);
    }
    let mut child = command
        .envs(env.iter().copied())
        .args(args)
        .current_dir(repo_root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("steward runs");
    let mut input = child.stdin.take().expect("stdin");
    let stdin = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&stdin);
    });
    let out = child.wait_with_output().expect("steward finishes");
    writer.join().expect("stdin writer");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A fresh, empty scratch directory unique to this test process.
pub fn scratch_dir(name: &str) -> PathBuf {
    let dir = scratch(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A scratch file path unique to this test process.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("steward-cli-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir.join(name)
}
