#!/usr/bin/python3
"""PostgreSQL's cost per token row on the partitioned layout: the batch writer's insert
(binary `unnest` arrays, with its `token_writes` record) against binary COPY, for several
batch sizes. Run by scripts/bench-copy-layout.sh, which starts a throwaway PostgreSQL.

    bench-copy-layout.py DSN [BATCH ...]

Per method and batch size: CPU µs of the inserting backend per row (its /proc stat, so run
on the database's host) and WAL bytes per row, over 300,000 rows, each batch committed.
"""
import datetime
import os
import struct
import sys
import uuid

import psycopg

ROWS = 300_000
PG_EPOCH = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
INSERT = """WITH w AS (INSERT INTO token_writes (first_jti) VALUES (%b) ON CONFLICT DO NOTHING RETURNING 1)
  INSERT INTO tokens (jti, client_id, scope, issued_at, expires_at)
  SELECT * FROM unnest(%b::uuid[], %b::text[], %b::text[], %b::timestamptz[], %b::timestamptz[])
   WHERE EXISTS (SELECT 1 FROM w)"""


def setup(c):
    c.execute("DROP TABLE IF EXISTS tokens, token_writes")
    c.execute("""CREATE TABLE tokens (jti uuid NOT NULL, client_id text NOT NULL, scope text,
                   issued_at timestamptz NOT NULL, expires_at timestamptz NOT NULL)
                 PARTITION BY RANGE (expires_at)""")
    hour = datetime.datetime.now(datetime.timezone.utc).replace(minute=0, second=0, microsecond=0)
    for h in range(-1, 4):
        start = hour + datetime.timedelta(hours=h)
        c.execute(f"""CREATE TABLE tokens_{h + 1} PARTITION OF tokens
                      FOR VALUES FROM ('{start.isoformat()}') TO ('{(start + datetime.timedelta(hours=1)).isoformat()}')
                      WITH (autovacuum_enabled = false)""")
    c.execute("CREATE TABLE token_writes (first_jti uuid PRIMARY KEY)")


def rows(n):
    now = datetime.datetime.now(datetime.timezone.utc)
    return [(uuid.uuid4(), "bench", "read write", now, now + datetime.timedelta(minutes=5)) for _ in range(n)]


def micros(t):
    d = t - PG_EPOCH
    return (d.days * 86400 + d.seconds) * 1_000_000 + d.microseconds


def copy_body(batch):
    out = [b"PGCOPY\n\xff\r\n\x00", struct.pack(">ii", 0, 0)]
    for jti, client, scope, issued, expires in batch:
        c, s = client.encode(), scope.encode()
        out.append(struct.pack(">hi16si", 5, 16, jti.bytes, len(c)) + c + struct.pack(">i", len(s)) + s
                   + struct.pack(">iqiq", 8, micros(issued), 8, micros(expires)))
    out.append(struct.pack(">h", -1))
    return b"".join(out)


def write_unnest(c, batch):
    cols = list(zip(*batch))
    c.execute(INSERT, (batch[0][0], *map(list, cols)), prepare=True)


def write_copy(c, batch):
    body = copy_body(batch)
    with c.transaction():
        c.execute("INSERT INTO token_writes (first_jti) VALUES (%b)", (batch[0][0],), prepare=True)
        with c.cursor().copy("COPY tokens FROM STDIN (FORMAT BINARY)") as cp:
            cp.write(body)


def measure(c, write, size):
    batches = [rows(size) for _ in range(ROWS // size)]
    pid = c.execute("SELECT pg_backend_pid()").fetchone()[0]
    tick = os.sysconf("SC_CLK_TCK")

    def cpu():
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    c.execute("CHECKPOINT")
    lsn0, cpu0 = c.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0], cpu()
    for batch in batches:
        write(c, batch)
    cpu1 = cpu()
    wal = c.execute("SELECT pg_current_wal_insert_lsn() - %s::pg_lsn", (lsn0,)).fetchone()[0]
    n = len(batches) * size
    return 1e6 * (cpu1 - cpu0) / n, float(wal) / n


def main():
    dsn, sizes = sys.argv[1], [int(s) for s in sys.argv[2:]] or [1000]
    with psycopg.connect(dsn, autocommit=True) as c:
        print("| batch rows | unnest µs/row | COPY µs/row | unnest WAL B/row | COPY WAL B/row |")
        print("|---|---|---|---|---|")
        for size in sizes:
            setup(c)
            u_cpu, u_wal = measure(c, write_unnest, size)
            setup(c)
            c_cpu, c_wal = measure(c, write_copy, size)
            print(f"| {size} | {u_cpu:.2f} | {c_cpu:.2f} | {u_wal:.0f} | {c_wal:.0f} |", flush=True)


if __name__ == "__main__":
    main()
