//! CPU time of this process's threads, grouped by who spends it: the load generator's
//! clients or the server under test (its runtime, SQLite's connection threads, its
//! blocking pool). Read from Linux's `/proc/self/task/*/stat` (user + system time, in
//! clock ticks of 10 ms); elsewhere, or when `/proc` cannot be read, there is no sample
//! and the figures are left out.
//!
//! A lifecycle's CPU cost bounds its throughput however the server schedules its work:
//! with `cores` cores, at most `cores ÷ (CPU per lifecycle)` lifecycles per second.

use std::collections::HashMap;

/// The name of the clients' runtime threads; every other thread counts as the server's.
pub const CLIENT_THREADS: &str = "lg-client";
/// The name of the server runtime's threads.
pub const SERVER_THREADS: &str = "lg-server";
/// What Linux reports `/proc/*/stat` times in (`USER_HZ`, 100 on every architecture
/// Linux exports to user space with a fixed value).
const TICKS_PER_SECOND: f64 = 100.0;

/// Ticks of CPU per thread id, with the thread's name.
#[derive(Debug, Default)]
pub struct Sample(HashMap<u64, (String, u64)>);

/// CPU seconds spent between two samples.
#[derive(Debug, Default, PartialEq)]
pub struct Spent {
    pub clients: f64,
    pub server: f64,
    /// Part of `server`: SQLite's connection threads (sqlx runs each connection's
    /// statements on a thread of its own).
    pub sqlite: f64,
}

impl Sample {
    /// Reads every thread of this process; `None` when `/proc` is not there.
    pub fn now() -> Option<Sample> {
        let mut threads = HashMap::new();
        for entry in std::fs::read_dir("/proc/self/task").ok()? {
            let Ok(entry) = entry else { continue };
            // A thread may exit between the listing and the read.
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            if let Some((tid, name, ticks)) = parse_stat(&stat) {
                threads.insert(tid, (name, ticks));
            }
        }
        Some(Sample(threads))
    }

    /// What each side spent from `earlier` to this sample. A thread that started in
    /// between counts from zero; one that ended in between is not counted.
    pub fn since(&self, earlier: &Sample) -> Spent {
        let (mut clients, mut server, mut sqlite) = (0, 0, 0);
        for (tid, (name, ticks)) in &self.0 {
            let before = earlier.0.get(tid).map_or(0, |(_, t)| *t);
            let spent = ticks.saturating_sub(before);
            if name.starts_with(CLIENT_THREADS) {
                clients += spent;
            } else {
                server += spent;
                if name.starts_with("sqlx-sqlite") {
                    sqlite += spent;
                }
            }
        }
        let seconds = |ticks: u64| ticks as f64 / TICKS_PER_SECOND;
        Spent {
            clients: seconds(clients),
            server: seconds(server),
            sqlite: seconds(sqlite),
        }
    }
}

/// `(thread id, name, user + system ticks)` from one `stat` line: `tid (name) state …`,
/// where the name may itself hold spaces and parentheses, and utime and stime are the
/// 14th and 15th fields.
fn parse_stat(stat: &str) -> Option<(u64, String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let tid = stat.get(..open)?.trim().parse().ok()?;
    let name = stat.get(open + 1..close)?.to_owned();
    // Fields after the name start at the 3rd (state); utime is the 14th.
    let mut rest = stat.get(close + 1..)?.split_whitespace().skip(11);
    let utime: u64 = rest.next()?.parse().ok()?;
    let stime: u64 = rest.next()?.parse().ok()?;
    Some((tid, name, utime + stime))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_its_thread_name_and_user_plus_system_ticks() {
        let line = "4242 (sqlx-sqlite-wor) S 1 2 3 0 -1 4194304 138 0 0 0 31 7 0 0 20 0 1 0 76174";
        assert_eq!(
            parse_stat(line),
            Some((4242, "sqlx-sqlite-wor".to_owned(), 38))
        );
        // A name with a space and a parenthesis of its own.
        let odd = "7 (a (b) c) R 1 2 3 0 -1 0 0 0 0 0 5 6 0 0";
        assert_eq!(parse_stat(odd), Some((7, "a (b) c".to_owned(), 11)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn time_is_split_between_clients_and_the_server_with_sqlite_inside_the_server() {
        let thread = |name: &str, ticks| (name.to_owned(), ticks);
        let earlier = Sample(HashMap::from([
            (1, thread("lg-client", 100)),
            (2, thread("lg-server", 50)),
            (3, thread("sqlx-sqlite-wor", 10)),
        ]));
        let later = Sample(HashMap::from([
            (1, thread("lg-client", 150)),
            (2, thread("lg-server", 250)),
            (3, thread("sqlx-sqlite-wor", 40)),
            // Started after the first sample: all of it counts.
            (4, thread("sqlx-sqlite-wor", 20)),
        ]));
        assert_eq!(
            later.since(&earlier),
            Spent {
                clients: 0.5,
                server: 2.5,
                sqlite: 0.5
            }
        );
    }

    #[test]
    fn this_process_can_be_sampled_on_linux() {
        if cfg!(target_os = "linux") {
            let sample = Sample::now().expect("/proc/self/task is readable on Linux");
            assert!(!sample.0.is_empty(), "at least this thread is listed");
        }
    }
}
