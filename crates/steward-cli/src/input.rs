//! Reading files and standard input, and loading policies, with errors that name the file.

use std::io::Read as _;
use std::path::Path;

use anyhow::Context as _;
use steward_policy::Policy;

use crate::failure::invalid;

/// Reads `path` (or standard input for `-`) as bytes.
pub fn read_bytes(path: &Path) -> anyhow::Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin()
            .lock()
            .read_to_end(&mut buf)
            .context("reading standard input")?;
        Ok(buf)
    } else {
        std::fs::read(path).map_err(|e| invalid(format!("cannot read `{}`: {e}", path.display())))
    }
}

/// Loads a policy file, or the built-in policy when `path` is `None` or `builtin`.
pub fn load_policy(path: Option<&Path>) -> anyhow::Result<Policy> {
    match path {
        None => Ok(Policy::builtin()),
        Some(p) if p == Path::new("builtin") => Ok(Policy::builtin()),
        Some(p) => {
            let bytes = read_bytes(p)?;
            let text = std::str::from_utf8(&bytes)
                .map_err(|_| invalid(format!("policy `{}` is not valid UTF-8", p.display())))?;
            Policy::from_toml(text).map_err(|e| invalid(format!("policy `{}`: {e}", p.display())))
        }
    }
}
