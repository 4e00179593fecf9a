//! The attacker's `kill -9` (issue 9's suite): the server killed in the middle of a burst
//! of writes loses none it acknowledged and leaves none half-written (a row without its
//! audit event), on SQLite and on PostgreSQL.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::Served;
use crate::support::{scratch_dir, steward_env};

#[test]
fn attack_kill_9_mid_burst_on_sqlite() {
    kill_9_mid_burst("kill9-burst-sqlite", None);
}

#[test]
fn attack_kill_9_mid_burst_on_postgres() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // `None` when PostgreSQL is unreachable and not required (see steward_store::testing).
    let Some(db) = runtime.block_on(steward_store::testing::postgres_store()) else {
        return;
    };
    kill_9_mid_burst("kill9-burst-postgres", Some(db.url()));
    drop(db);
}

fn kill_9_mid_burst(name: &str, database: Option<&str>) {
    let dir = scratch_dir(name);
    let mut served = Served::start_on(&dir, database);
    let admin = served
        .token
        .clone()
        .expect("first run prints the admin token");
    let url = served.url.clone();

    // Four clients create principals as fast as they can; each remembers what the server
    // acknowledged (exit 0) before it died.
    let acknowledged = Arc::new(Mutex::new(Vec::new()));
    let stop_at = Instant::now() + Duration::from_secs(20);
    let clients: Vec<_> = (0..4)
        .map(|client| {
            let (url, admin, acknowledged) =
                (url.clone(), admin.clone(), Arc::clone(&acknowledged));
            std::thread::spawn(move || {
                for i in 0.. {
                    let name = format!("burst-{client}-{i}");
                    let run = steward_env(
                        &[
                            "principal",
                            "create",
                            "--kind",
                            "agent",
                            "--name",
                            &name,
                            "--role",
                            "worker",
                        ],
                        &[("STEWARD_SERVER", &url), ("STEWARD_TOKEN", &admin)],
                        b"",
                    );
                    match run.code {
                        0 => acknowledged.lock().expect("lock").push(name),
                        2 => panic!("`{name}` refused: {}", run.stderr),
                        // The server is gone (unreachable, or died mid-answer).
                        _ => break,
                    }
                    if Instant::now() > stop_at {
                        break;
                    }
                }
            })
        })
        .collect();
    // Kill once some writes are acknowledged, while the others are in flight.
    while acknowledged.lock().expect("lock").len() < 12 {
        assert!(Instant::now() < stop_at, "no writes acknowledged");
        std::thread::sleep(Duration::from_millis(10));
    }
    served.child.kill().expect("kill -9");
    served.child.wait().expect("reaped");
    for client in clients {
        client.join().expect("client");
    }
    let acknowledged = acknowledged.lock().expect("lock").clone();

    let restarted = Served::start_on(&dir, database);
    assert!(restarted.token.is_none(), "a restart initialises nothing");
    let list = restarted.run(&["principal", "list", "--json"], &admin);
    assert_eq!(list.code, 0, "{}", list.stderr);
    let principals = list.json()["items"].as_array().expect("items").len();
    for name in &acknowledged {
        assert!(
            list.stdout.contains(&format!("\"{name}\"")),
            "`{name}` lost"
        );
    }
    // No principal without its event, no event without its principal.
    let created = restarted.run(
        &[
            "audit",
            "events",
            "--type",
            "principal.created",
            "--limit",
            "1000",
            "--json",
        ],
        &admin,
    );
    assert_eq!(created.code, 0, "{}", created.stderr);
    assert_eq!(
        created.json()["items"].as_array().expect("items").len(),
        principals
    );
    let verify = restarted.run(&["audit", "verify"], &admin);
    assert_eq!(verify.code, 0, "{}{}", verify.stdout, verify.stderr);
    assert!(restarted.terminate().success());
}
