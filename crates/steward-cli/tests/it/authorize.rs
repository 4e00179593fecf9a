//! `steward authorize` against a real `steward serve`: the verdict, its exit code (0 allow,
//! 1 deny, 2 invalid input) and `--json`.

use crate::service::Served;
use crate::support::scratch_dir;

#[test]
fn authorize_prints_the_verdict_and_exits_by_it() {
    let dir = scratch_dir("authorize");
    let served = Served::start(&dir);
    let admin = served.token.clone().expect("admin token");
    let run = served.run(
        &[
            "worker", "register", "--name", "bot", "--domain", "web", "--json",
        ],
        &admin,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let worker = run.json()["id"].as_str().expect("id").to_owned();
    let op = |env: &str| {
        vec![
            "authorize".to_owned(),
            "--worker".to_owned(),
            worker.clone(),
            "--environment".to_owned(),
            env.to_owned(),
            "--action".to_owned(),
            "deploy".to_owned(),
            "--service".to_owned(),
            "web".to_owned(),
            "--method".to_owned(),
            "POST".to_owned(),
        ]
    };

    // A level-0 worker may deploy in development: exit 0.
    let dev = op("development");
    let run = served.run(&args(&dev), &admin);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.starts_with("allow (worker level 0"),
        "{}",
        run.stdout
    );

    // Not in production: exit 1, the rule printed; `--json` gives the server's answer.
    let mut prod = op("production");
    prod.push("--json".to_owned());
    let run = served.run(&args(&prod), &admin);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let verdict = run.json();
    assert_eq!(verdict["allow"], false);
    assert_eq!(verdict["rule"], "non_union_outside_development");
    assert!(verdict["audit_seq"].as_u64().is_some(), "{verdict}");
    prod.pop();
    let run = served.run(&args(&prod), &admin);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(
        run.stdout
            .starts_with("deny: non_union_outside_development"),
        "{}",
        run.stdout
    );

    // Invalid input: exit 2 before anything is sent, or on the server's refusal.
    let run = served.run(&args(&op("prod")), &admin);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("unknown environment `prod`"),
        "{}",
        run.stderr
    );
    let mut unknown = op("development");
    unknown[2] = "no-such-worker".to_owned();
    let run = served.run(&args(&unknown), &admin);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("not found"), "{}", run.stderr);
}

fn args(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}
