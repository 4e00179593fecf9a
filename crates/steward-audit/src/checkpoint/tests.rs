//! Checkpoint and manifest signatures: golden vectors, the signed-message layout, and
//! every kind of tampering caught.

use expect_test::{Expect, expect};

use super::*;

/// RFC 8032 §7.1 TEST 1: a published key pair, so the key derivation is checked too.
const SECRET: [u8; 32] = hex32("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
const PUBLIC: [u8; 32] = hex32("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
/// Another valid key pair (RFC 8032 §7.1 TEST 2).
const OTHER_SECRET: [u8; 32] =
    hex32("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb");

const fn hex32(digits: &str) -> [u8; 32] {
    let digits = digits.as_bytes();
    let mut out = [0; 32];
    let mut i = 0;
    while i < 32 {
        out[i] = nibble(digits[2 * i]) << 4 | nibble(digits[2 * i + 1]);
        i += 1;
    }
    out
}

const fn nibble(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        _ => digit - b'a' + 10,
    }
}

fn checkpoint() -> Checkpoint {
    Checkpoint {
        tree_size: 10_000_000,
        root_hash: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
            .parse()
            .unwrap(),
        ts_ms: 1_767_225_600_000,
    }
}

fn manifest() -> RangeManifest {
    let hash = |byte: u8| Hash::from_bytes([byte; 32]);
    RangeManifest {
        first_seq: 1,
        last_seq: 4096,
        prev_hash: Hash::ZERO,
        first_hash: hash(0x11),
        last_hash: hash(0x22),
        range_root: hash(0x33),
        tree_size: 4096,
        tree_root: hash(0x44),
        ts_ms: 1_767_225_600_000,
    }
}

#[track_caller]
fn check_json(value: &impl Serialize, expect: Expect) {
    expect.assert_eq(&serde_json::to_string_pretty(value).unwrap());
}

#[test]
fn public_key_and_key_id_of_the_rfc_8032_key() {
    assert_eq!(public_key(&SECRET), PUBLIC);
    expect!["ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"]
        .assert_eq(&format_public_key(&PUBLIC));
    expect!["21fe31dfa154a261"].assert_eq(&key_id(&PUBLIC));
}

#[test]
fn checkpoint_signed_message_layout() {
    expect!["737465776172642e61756469742e636865636b706f696e742e76310000000000009896800000019b76daa8005dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"].assert_eq(&hex::encode(checkpoint().signed_message()));
    assert_eq!(checkpoint().signed_message().len(), 76);
}

#[test]
fn manifest_signed_message_layout() {
    expect!["737465776172642e61756469742e6d616e69666573742e763100000000000000000100000000000010000000000000000000000000000000000000000000000000000000000000000000111111111111111111111111111111111111111111111111111111111111111122222222222222222222222222222222222222222222222222222222222222223333333333333333333333333333333333333333333333333333333333333333000000000000100044444444444444444444444444444444444444444444444444444444444444440000019b76daa800"].assert_eq(&hex::encode(manifest().signed_message()));
    assert_eq!(manifest().signed_message().len(), 218);
}

#[test]
fn golden_signed_checkpoint() {
    // Ed25519 is deterministic: this signature never changes unless the message layout or
    // the key does, and either change needs a new domain string.
    let signed = sign_checkpoint(checkpoint(), &SECRET);
    check_json(
        &signed,
        expect![[r#"
        {
          "checkpoint": {
            "tree_size": 10000000,
            "root_hash": "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
            "ts_ms": 1767225600000
          },
          "key_id": "21fe31dfa154a261",
          "signature": "d9f27613f2d5e40a9e2b9991313f8e940a45b5c2309df8efdecd788463082223ef4d4b005048285dd5acef50a9e5e0b5276f61e458e84917aaef151b12222806"
        }"#]],
    );
    assert_eq!(verify_checkpoint(&signed, &PUBLIC), Ok(()));
}

#[test]
fn golden_signed_manifest() {
    let signed = sign_manifest(manifest(), &SECRET);
    check_json(
        &signed,
        expect![[r#"
        {
          "manifest": {
            "first_seq": 1,
            "last_seq": 4096,
            "prev_hash": "0000000000000000000000000000000000000000000000000000000000000000",
            "first_hash": "1111111111111111111111111111111111111111111111111111111111111111",
            "last_hash": "2222222222222222222222222222222222222222222222222222222222222222",
            "range_root": "3333333333333333333333333333333333333333333333333333333333333333",
            "tree_size": 4096,
            "tree_root": "4444444444444444444444444444444444444444444444444444444444444444",
            "ts_ms": 1767225600000
          },
          "key_id": "21fe31dfa154a261",
          "signature": "5f9c5ed71fd346ae3365171ae65a2d2d0224f1caffc4a21389f6c423a722025ae7607859f70ea6711c226e7e06c676adf1ea4cee5594cb6a3799f3d196032305"
        }"#]],
    );
    assert_eq!(verify_manifest(&signed, &PUBLIC), Ok(()));
}

#[track_caller]
fn check_verify(result: Result<(), CheckpointError>, expect: Expect) {
    let text = match result {
        Ok(()) => "ok".to_owned(),
        Err(error) => error.to_string(),
    };
    expect.assert_eq(&text);
}

#[test]
fn tampered_checkpoints_fail() {
    let signed = sign_checkpoint(checkpoint(), &SECRET);
    let tamper = |edit: fn(&mut SignedCheckpoint)| {
        let mut copy = signed.clone();
        edit(&mut copy);
        verify_checkpoint(&copy, &PUBLIC)
    };
    check_verify(
        tamper(|s| s.checkpoint.tree_size += 1),
        expect!["signature does not match the signed content"],
    );
    check_verify(
        tamper(|s| s.checkpoint.tree_size -= 1),
        expect!["signature does not match the signed content"],
    );
    check_verify(
        tamper(|s| s.checkpoint.ts_ms += 1),
        expect!["signature does not match the signed content"],
    );
    check_verify(
        tamper(|s| {
            let mut root = s.checkpoint.root_hash.to_bytes();
            root[31] ^= 1;
            s.checkpoint.root_hash = Hash::from_bytes(root);
        }),
        expect!["signature does not match the signed content"],
    );
    check_verify(
        tamper(|s| s.signature[0] ^= 1),
        expect!["signature does not match the signed content"],
    );
    check_verify(
        tamper(|s| s.signature[63] ^= 0x80),
        expect!["signature does not match the signed content"],
    );
    check_verify(
        tamper(|s| s.key_id = "0000000000000000".into()),
        expect!["signed by key `0000000000000000`, but the key given is `21fe31dfa154a261`"],
    );
}

#[test]
fn every_signature_bit_matters() {
    let signed = sign_checkpoint(checkpoint(), &SECRET);
    for byte in 0..64 {
        for bit in 0..8 {
            let mut copy = signed.clone();
            copy.signature[byte] ^= 1 << bit;
            assert_eq!(
                verify_checkpoint(&copy, &PUBLIC),
                Err(CheckpointError::BadSignature),
                "byte {byte} bit {bit}"
            );
        }
    }
}

#[test]
fn wrong_key_fails() {
    let signed = sign_checkpoint(checkpoint(), &SECRET);
    let other = public_key(&OTHER_SECRET);
    check_verify(
        verify_checkpoint(&signed, &other),
        expect!["signed by key `21fe31dfa154a261`, but the key given is `39f713d0a644253f`"],
    );
    // Even with the key id rewritten to match, the signature does not verify.
    let mut relabelled = signed.clone();
    relabelled.key_id = key_id(&other);
    check_verify(
        verify_checkpoint(&relabelled, &other),
        expect!["signature does not match the signed content"],
    );
    // A signature by the other key over the same checkpoint is no use with this key.
    let by_other = sign_checkpoint(checkpoint(), &OTHER_SECRET);
    assert_ne!(by_other.signature, signed.signature);
    assert_eq!(
        verify_checkpoint(&by_other, &public_key(&OTHER_SECRET)),
        Ok(())
    );
    check_verify(
        verify_checkpoint(&by_other, &PUBLIC),
        expect!["signed by key `39f713d0a644253f`, but the key given is `21fe31dfa154a261`"],
    );
}

#[test]
fn invalid_public_key_is_refused() {
    // y = 2 is not the y-coordinate of any point on the curve.
    let mut invalid = [0; 32];
    invalid[0] = 2;
    let mut signed = sign_checkpoint(checkpoint(), &SECRET);
    signed.key_id = key_id(&invalid);
    check_verify(
        verify_checkpoint(&signed, &invalid),
        expect!["public key is not a valid ed25519 key"],
    );
}

#[test]
fn tampered_manifests_fail() {
    let signed = sign_manifest(manifest(), &SECRET);
    type Edit = fn(&mut RangeManifest);
    let edits: [(&str, Edit); 9] = [
        ("first_seq", |m| m.first_seq += 1),
        ("last_seq", |m| m.last_seq -= 1),
        ("prev_hash", |m| m.prev_hash = m.first_hash),
        ("first_hash", |m| m.first_hash = m.last_hash),
        ("last_hash", |m| m.last_hash = m.first_hash),
        ("range_root", |m| m.range_root = m.tree_root),
        ("tree_size", |m| m.tree_size += 1),
        ("tree_root", |m| m.tree_root = m.range_root),
        ("ts_ms", |m| m.ts_ms -= 1),
    ];
    for (field, edit) in edits {
        let mut copy = signed.clone();
        edit(&mut copy.manifest);
        assert_eq!(
            verify_manifest(&copy, &PUBLIC),
            Err(CheckpointError::BadSignature),
            "{field}"
        );
    }
    check_verify(
        verify_manifest(&signed, &public_key(&OTHER_SECRET)),
        expect!["signed by key `21fe31dfa154a261`, but the key given is `39f713d0a644253f`"],
    );
}

#[test]
fn serde_round_trip_and_refusals() {
    let signed = sign_checkpoint(checkpoint(), &SECRET);
    let json = serde_json::to_string(&signed).unwrap();
    let back: SignedCheckpoint = serde_json::from_str(&json).unwrap();
    assert_eq!(back, signed);
    let manifest = sign_manifest(manifest(), &SECRET);
    let back: SignedManifest =
        serde_json::from_str(&serde_json::to_string(&manifest).unwrap()).unwrap();
    assert_eq!(back, manifest);

    let short_signature = json.replace(&hex::encode(signed.signature), "abcd");
    let error = serde_json::from_str::<SignedCheckpoint>(&short_signature).unwrap_err();
    expect!["invalid signature `abcd`: expected 128 hex digits at line 1 column 185"]
        .assert_eq(&error.to_string());
    let extra_field = json.replacen('{', r#"{"note":"x","#, 1);
    let error = serde_json::from_str::<SignedCheckpoint>(&extra_field).unwrap_err();
    expect!["unknown field `note`, expected one of `checkpoint`, `key_id`, `signature` at line 1 column 7"].assert_eq(&error.to_string());
}

#[track_caller]
fn check_parse(text: &str, expect: Expect) {
    let actual = match parse_public_key(text) {
        Ok(bytes) => format_public_key(&bytes),
        Err(error) => format!("error: {error}"),
    };
    expect.assert_eq(&actual);
}

#[test]
fn public_key_text_form() {
    check_parse(
        "ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        expect!["ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"],
    );
    check_parse(
        "ed25519:D75A980182B10AB7D54BFED3C964073A0EE172F3DAA62325AF021A68F707511A",
        expect!["ed25519:d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"],
    );
    check_parse(
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        expect![
            "error: invalid public key `d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a`: expected `ed25519:` and 64 hex digits of a valid key"
        ],
    );
    check_parse(
        "ed25519:d75a98",
        expect![
            "error: invalid public key `ed25519:d75a98`: expected `ed25519:` and 64 hex digits of a valid key"
        ],
    );
    check_parse(
        &format!("ed25519:02{}", "00".repeat(31)),
        expect![
            "error: invalid public key `ed25519:0200000000000000000000000000000000000000000000000000000000000000`: expected `ed25519:` and 64 hex digits of a valid key"
        ],
    );
}
