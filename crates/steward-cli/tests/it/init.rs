//! `steward init`: the data directory, the first admin's token (printed once) and the
//! audit signing key (0600, never printed), and refusing to initialise twice.

use std::os::unix::fs::PermissionsExt as _;

use crate::support::{scratch_dir, steward};

#[test]
fn init_creates_a_private_key_and_prints_the_token_once() {
    let dir = scratch_dir("init-once");
    let dir_arg = dir.to_str().unwrap();
    let run = steward(
        &["init", "--data-dir", dir_arg, "--admin-name", "root"],
        b"",
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.is_empty(), "{}", run.stderr);
    let token = run
        .stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("export STEWARD_TOKEN="))
        .unwrap_or_else(|| panic!("no token line: {}", run.stdout));
    assert!(token.starts_with("stw_") && token.len() == 47, "{token}");
    assert!(run.stdout.contains("`root`"), "{}", run.stdout);
    assert!(dir.join("steward.db").is_file());

    let key_path = dir.join("audit-signing.key");
    let key = std::fs::read(&key_path).unwrap();
    assert_eq!(key.len(), 32);
    let mode = std::fs::metadata(&key_path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    let key_hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        !run.stdout.contains(&key_hex),
        "the private key is never printed"
    );

    // The public key is the one the private key derives, in `ed25519:<hex>` form.
    let public = std::fs::read_to_string(dir.join("audit-signing.pub")).unwrap();
    let key_bytes: [u8; 32] = key.try_into().unwrap();
    let derived = ed25519_dalek::SigningKey::from_bytes(&key_bytes).verifying_key();
    let derived_hex: String = derived
        .to_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(public.trim(), format!("ed25519:{derived_hex}"));

    // Issue 9, item 10: init says where the key is and that the database records it.
    let key_id = steward_audit::key_id(&derived.to_bytes());
    assert!(
        run.stdout.contains(&format!(
            "key id {key_id}, recorded in the database: every instance on it must hold this key"
        )),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("--audit-key FILE"), "{}", run.stdout);
}

#[test]
fn init_refuses_to_run_twice_and_keeps_the_key() {
    let dir = scratch_dir("init-twice");
    let dir_arg = dir.to_str().unwrap();
    let first = steward(&["init", "--data-dir", dir_arg], b"");
    assert_eq!(first.code, 0, "{}", first.stderr);
    let key = std::fs::read(dir.join("audit-signing.key")).unwrap();

    let second = steward(&["init", "--data-dir", dir_arg], b"");
    second.assert_invalid("already initialised");
    assert!(
        second.stderr.contains("audit-signing.key"),
        "{}",
        second.stderr
    );
    assert_eq!(std::fs::read(dir.join("audit-signing.key")).unwrap(), key);

    // Without the key file, the admin in the database still says "initialised".
    std::fs::remove_file(dir.join("audit-signing.key")).unwrap();
    let third = steward(&["init", "--data-dir", dir_arg], b"");
    third.assert_invalid("already has 1 principal");
    assert!(!dir.join("audit-signing.key").exists(), "no key written");
}
