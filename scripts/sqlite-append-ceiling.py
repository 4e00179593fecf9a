#!/usr/bin/env python3
"""What SQLite alone does with Steward's audit appends (BENCHMARKS.md, "Issue 10, fifth
session"). Run from the repository root:

    python3 scripts/sqlite-append-ceiling.py --workers 1024
    python3 scripts/sqlite-append-ceiling.py --workers 1024 --up-to 25   # the schema before 0026

Builds a fresh database in the temp directory from the SQLite migrations as they are
(crates/steward-store/migrations/sqlite, in order), then commits batches of audit rows the
way the group committer does: `BEGIN IMMEDIATE`, INSERTs of 256 rows, `COMMIT`, WAL,
`synchronous=FULL`. Every parameter is built before the clock starts for its batch, so
the figure is SQLite's own time: events per second spent inside SQLite, the upper bound of
`steward-loadgen append` on the same machine with the same schema and fleet. The events are
the loadgen's (`authorize.allowed`, one worker per `--workers`, round robin).

Uses only Python's standard library (its `sqlite3` module, the system's SQLite).
"""

import argparse
import hashlib
import json
import pathlib
import sqlite3
import sys
import tempfile
import time

MIGRATIONS = pathlib.Path("crates/steward-store/migrations/sqlite")
CHUNK = 256
COLUMNS = (
    "seq, ts, type, actor_kind, actor_id, actor_roles, task_id, worker_id, permit_id, "
    "level, data, prev_hash, hash"
)
DATA = json.dumps(
    {
        "action": "rollout restart deployment/api",
        "checks": ["certification", "access_matrix", "sensitive_data", "permit", "budget"],
        "decision": "allow",
        "environment": "staging",
        "tool": "kubectl",
    },
    separators=(",", ":"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=1024, help="distinct workers (default 1024)")
    parser.add_argument("--batch", type=int, default=1024, help="events per transaction (default 1024)")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to run (default 5)")
    parser.add_argument(
        "--up-to", type=int, metavar="VERSION",
        help="apply the migrations only up to this version (e.g. 25: with audit_events_worker)",
    )
    parser.add_argument(
        "--drop-index", action="append", default=[], metavar="NAME",
        help="drop this index after the migrations (repeatable), to see what it costs",
    )
    args = parser.parse_args()
    if args.workers < 1 or args.batch < 1 or args.seconds <= 0:
        parser.error("--workers and --batch must be at least 1, --seconds above 0")
    if not MIGRATIONS.is_dir():
        parser.error(f"{MIGRATIONS} not found: run from the repository root")

    with tempfile.TemporaryDirectory() as tmp:
        db = sqlite3.connect(pathlib.Path(tmp) / "ceiling.db", isolation_level=None)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = FULL")
        db.execute("PRAGMA foreign_keys = ON")
        for migration in sorted(MIGRATIONS.glob("*.sql")):
            version = int(migration.name.split("_", 1)[0])
            if args.up_to is None or version <= args.up_to:
                db.executescript(migration.read_text())
        for index in args.drop_index:
            db.execute(f'DROP INDEX "{index}"')
        statement = f"INSERT INTO audit_events ({COLUMNS}) VALUES " + ",".join(
            ["(?,?,?,?,?,?,?,?,?,?,?,?,?)"] * CHUNK
        )

        seq, events, inside = 0, 0, 0.0
        prev = bytes(32)
        started = time.monotonic()
        while time.monotonic() - started < args.seconds:
            chunks = []
            for _ in range(max(1, args.batch // CHUNK)):
                rows = []
                for _ in range(CHUNK):
                    seq += 1
                    digest = hashlib.sha256(prev + seq.to_bytes(8, "big")).digest()
                    rows += [
                        seq, 1_800_000_000_000 + seq, "authorize.allowed", "agent",
                        f"agent-{seq % args.workers}", '["worker"]', f"task-{seq}",
                        f"worker-{seq % args.workers}", None, None, DATA, prev, digest,
                    ]
                    prev = digest
                chunks.append(rows)
            begun = time.monotonic()
            db.execute("BEGIN IMMEDIATE")
            for rows in chunks:
                db.execute(statement, rows)
            db.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (seq, prev))
            db.execute("COMMIT")
            inside += time.monotonic() - begun
            events += CHUNK * len(chunks)
        db.close()

    dropped = ", without " + ", ".join(args.drop_index) if args.drop_index else ""
    if args.up_to is not None:
        dropped += f", migrations up to {args.up_to}"
    print(
        f"sqlite {sqlite3.sqlite_version}, {args.workers} workers, "
        f"{CHUNK * max(1, args.batch // CHUNK)} events per transaction{dropped}: "
        f"{events / inside:.0f} events per second of SQLite time "
        f"({events} events, {inside:.2f} s inside SQLite)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
