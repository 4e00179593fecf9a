//! Unit tests for the client's pure helpers.

use reqwest::StatusCode;

use super::{encode, refusal};
use crate::failure::exit_code;

#[test]
fn encode_keeps_ids_inside_one_path_segment() {
    assert_eq!(encode("01a2-b_c.d~e"), "01a2-b_c.d~e");
    assert_eq!(encode("../admin?x=1"), "..%2Fadmin%3Fx%3D1");
    assert_eq!(encode("é"), "%C3%A9");
}

#[test]
fn refusals_name_the_status_and_pick_the_exit_code() {
    let forbidden = refusal(
        StatusCode::FORBIDDEN,
        br#"{"type":"urn:steward:problem:forbidden","detail":"needs admin"}"#,
    );
    assert_eq!(forbidden.to_string(), "needs admin (HTTP 403)");
    assert_eq!(exit_code(&forbidden), std::process::ExitCode::from(2));

    let internal = refusal(StatusCode::BAD_GATEWAY, b"");
    assert_eq!(internal.to_string(), "Bad Gateway (HTTP 502)");
    assert_eq!(exit_code(&internal), std::process::ExitCode::from(1));
}
