//! `GET /v1/audit/tail`: live events as server-sent events, resumable with `Last-Event-ID`.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;
use steward_policy::Role;

use crate::support::server_test;

/// Reads SSE messages from `resp` until `n` audit events arrived (or 10 s passed).
async fn read_events(mut resp: reqwest::Response, n: usize) -> Vec<(u64, Value)> {
    let mut text = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while out.len() < n {
        let chunk = tokio::time::timeout_at(deadline, resp.chunk())
            .await
            .expect("events within 10 s")
            .expect("stream readable")
            .expect("stream still open");
        text.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = text.find("\n\n") {
            let message: String = text.drain(..end + 2).collect();
            let mut id = None;
            let mut data = None;
            for line in message.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse::<u64>().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data = serde_json::from_str::<Value>(v.trim()).ok();
                }
            }
            if let (Some(id), Some(data)) = (id, data) {
                out.push((id, data));
            }
        }
    }
    out
}

server_test!(
    tail_streams_new_events_and_resumes_after_the_last_seen,
    |s| {
        let (_, auditor) = s.human("auditor", &[Role::Auditor]).await;
        let client = reqwest::Client::new();
        let url = format!("{}/v1/audit/tail", s.url);
        let resp = client.get(&url).bearer_auth(&auditor).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(
            resp.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/event-stream")
        );

        // Creating a principal with a token appends two events; the stream delivers both.
        let head = s.audit_len().await;
        s.human("newcomer", &[Role::TechLead]).await;
        let got = read_events(resp, 2).await;
        assert_eq!(got[0].0, head + 1);
        assert_eq!(got[1].0, head + 2);
        assert_eq!(got[0].1["type"], "principal.created");
        // The stream carries events as stored: the name is encrypted for its principal.
        assert_eq!(got[0].1["data"]["personal"]["alg"], "xchacha20poly1305");
        assert!(!got[0].1.to_string().contains("newcomer"));
        assert_eq!(got[1].1["type"], "token.created");

        // Reconnecting after the first resumes with the second, then waits for new ones.
        let resp = client
            .get(&url)
            .bearer_auth(&auditor)
            .header("last-event-id", got[0].0.to_string())
            .send()
            .await
            .unwrap();
        let again = read_events(resp, 1).await;
        assert_eq!(again[0].0, got[1].0);
        assert_eq!(again[0].1, got[1].1);

        // from_seq replays history.
        let resp = client
            .get(format!("{url}?from_seq=1"))
            .bearer_auth(&auditor)
            .send()
            .await
            .unwrap();
        assert_eq!(read_events(resp, 1).await[0].0, 1);

        let (_, master) = s.human("m", &[Role::Master]).await;
        assert_eq!(
            client
                .get(&url)
                .bearer_auth(&master)
                .send()
                .await
                .unwrap()
                .status(),
            StatusCode::FORBIDDEN
        );
        let (status, body) = s.get("/v1/audit/tail?from_seq=abc", &auditor).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("from_seq"))
        );
    }
);
