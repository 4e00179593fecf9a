//! Unit tests for `Hash` parsing, display and serde.

use super::*;

#[test]
fn display_and_parse_round_trip() {
    let hash = Hash::from_bytes(std::array::from_fn(|i| i as u8));
    let text = hash.to_string();
    assert_eq!(
        text,
        "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
    );
    assert_eq!(text.parse::<Hash>(), Ok(hash));
    assert_eq!(text.to_uppercase().parse::<Hash>(), Ok(hash));
}

#[test]
fn parse_rejects_wrong_length_and_non_hex() {
    for bad in ["", "00", &"0".repeat(63), &"0".repeat(65), &"g".repeat(64)] {
        let err = bad.parse::<Hash>().unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("invalid hash `{bad}`: expected 64 hex digits")
        );
    }
}

#[test]
fn serde_uses_hex_string() {
    let json = serde_json::to_string(&Hash::ZERO).unwrap();
    assert_eq!(json, format!("\"{}\"", "0".repeat(64)));
    assert_eq!(serde_json::from_str::<Hash>(&json).unwrap(), Hash::ZERO);
    assert!(serde_json::from_str::<Hash>("\"abc\"").is_err());
}

#[test]
fn from_slice_requires_32_bytes() {
    assert_eq!(Hash::from_slice(&[7; 32]), Some(Hash::from_bytes([7; 32])));
    assert_eq!(Hash::from_slice(&[7; 31]), None);
    assert_eq!(Hash::from_slice(&[7; 33]), None);
}
