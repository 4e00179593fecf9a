//! `steward webhook …` against a real `steward serve`, whose dispatcher delivers to a
//! receiver on a loopback port inside the test; and `permit close --actual-level` input.

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::service::Served;
use crate::support::{scratch, scratch_dir, steward};

/// One request a receiver got: its lower-cased headers and its body.
struct Request {
    headers: Vec<(String, String)>,
    body: String,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A minimal HTTP/1.1 receiver: answers every request 200 and sends it down a channel.
fn receiver() -> (String, mpsc::Receiver<Request>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut headers = Vec::new();
            let mut line = String::new();
            let _ = reader.read_line(&mut line); // request line
            loop {
                line.clear();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.trim_end().split_once(':') {
                    headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
                }
            }
            let length: usize = headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let body = String::from_utf8_lossy(&body).into_owned();
            if tx.send(Request { headers, body }).is_err() {
                break;
            }
        }
    });
    (url, rx)
}

#[test]
fn webhook_commands_subscribe_deliver_and_remove() {
    let dir = scratch_dir("webhook");
    // The receiver is on loopback: a private target, allowed only with the option.
    let served = Served::start_with(
        &dir,
        None,
        &[],
        &[("STEWARD_WEBHOOK_ALLOW_PRIVATE", "true")],
    );
    let admin = served.token.clone().expect("admin token");
    let (url, requests) = receiver();
    let secret_file = scratch("webhook-secret.txt");
    std::fs::write(&secret_file, "whsec-cli-0123456789\n").expect("write secret");

    let run = served.run(
        &[
            "webhook",
            "add",
            "--url",
            &url,
            "--event",
            "principal.*",
            "--secret-file",
            secret_file.to_str().expect("utf-8 path"),
            "--json",
        ],
        &admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let created = run.json();
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(created["event_types"], serde_json::json!(["principal.*"]));
    assert!(
        created.get("secret").is_none(),
        "a given secret is not echoed"
    );

    let run = served.run(
        &[
            "principal",
            "create",
            "--kind",
            "human",
            "--name",
            "alice",
            "--json",
        ],
        &admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);

    // `steward serve` runs the dispatcher: the event arrives, signed.
    let request = requests
        .recv_timeout(Duration::from_secs(20))
        .expect("a delivery within 20 s");
    assert_eq!(request.header("x-steward-event"), Some("principal.created"));
    assert!(
        request
            .header("x-steward-signature")
            .is_some_and(|s| s.starts_with("sha256=") && s.len() == 7 + 64),
        "{:?}",
        request.headers
    );
    let body: serde_json::Value = serde_json::from_str(&request.body).expect("JSON body");
    // Personal values travel as stored: encrypted for their subject, so an erasure also
    // covers what receivers were sent.
    assert!(body["data"]["personal"]["ciphertext"].is_string(), "{body}");
    assert!(!request.body.contains("alice"), "{}", request.body);

    // The log shows it delivered (the result is recorded just after the answer).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let run = served.run(&["webhook", "deliveries", &id, "--json"], &admin);
        assert_eq!(run.code, 0, "{}", run.stderr);
        if run.json()[0]["status"] == "delivered" {
            break;
        }
        assert!(Instant::now() < deadline, "not delivered: {}", run.stdout);
        std::thread::sleep(Duration::from_millis(100));
    }
    let run = served.run(&["webhook", "deliveries", &id], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains("principal.created") && run.stdout.contains("delivered"),
        "{}",
        run.stdout
    );

    let run = served.run(&["webhook", "list"], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(&id) && run.stdout.contains(&url),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("whsec-cli"), "{}", run.stdout);

    served
        .run(
            &["webhook", "add", "--url", "ftp://x", "--event", "*"],
            &admin,
        )
        .assert_invalid("`url`");
    // Cloud metadata stays refused even with private targets allowed, in any spelling.
    for metadata in ["http://169.254.169.254/latest/", "http://2852039166/"] {
        served
            .run(
                &["webhook", "add", "--url", metadata, "--event", "*"],
                &admin,
            )
            .assert_invalid("metadata");
    }

    let run = served.run(&["webhook", "remove", &id], &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with(&format!("Deleted webhook {id}")),
        "{}",
        run.stdout
    );
    let run = served.run(&["webhook", "list"], &admin);
    assert_eq!(run.stdout, "no webhooks\n");
    let run = served.run(
        &["principal", "create", "--kind", "human", "--name", "bob"],
        &admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        requests.recv_timeout(Duration::from_secs(3)).is_err(),
        "nothing is delivered after removal"
    );
}

#[test]
fn webhook_add_refuses_internal_targets_by_default() {
    let dir = scratch_dir("webhook-private");
    let served = Served::start(&dir);
    let admin = served.token.clone().expect("admin token");
    for url in [
        "http://127.0.0.1:9/hook",
        "http://0251.0376.0251.0376/",
        "http://[fd00::1]/",
        "http://10.1.2.3/",
    ] {
        served
            .run(&["webhook", "add", "--url", url, "--event", "*"], &admin)
            .assert_invalid("`url`");
    }
    let run = served.run(
        &[
            "webhook",
            "add",
            "--url",
            "http://localhost:9/",
            "--event",
            "*",
        ],
        &admin,
    );
    run.assert_invalid("--webhook-allow-private");
    let run = served.run(&["webhook", "list"], &admin);
    assert_eq!(run.stdout, "no webhooks\n");
}

#[test]
fn close_refuses_an_actual_level_out_of_range() {
    let run = steward(
        &[
            "permit",
            "close",
            "p-1",
            "--actual-level",
            "5",
            "--server",
            "http://127.0.0.1:9",
            "--token",
            "t",
        ],
        b"",
    );
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--actual-level"), "{}", run.stderr);
}
