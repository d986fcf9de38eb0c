-- PostgreSQL's CPU and WAL per token row for four layouts of `tokens` (docs/MEASUREMENTS.md):
--   t_a  one table, primary key on jti and a btree on expires_at (schema 2-9)
--   t_b  partitioned by hour of expires_at, primary key (jti, expires_at)
--   t_c  partitioned by hour, no index (schema 12)
--   t_d  partitioned by hour, BRIN on expires_at
-- 300 statements of 1000 rows each, each committed, rows shaped like ours (a time-ordered
-- jti, expiries 30-90 minutes ahead); `none` generates the rows without inserting them,
-- the share of the figures that is not the insert. CPU is the backend's own (from /proc,
-- so run as a superuser on the database's machine), WAL the insert position's advance.
--   psql -X -q -f scripts/bench-token-layouts.sql "$URL"
\set ON_ERROR_STOP 1
SET client_min_messages = warning;
DROP TABLE IF EXISTS t_a, t_b, t_c, t_d CASCADE;
CREATE TABLE t_a (jti uuid PRIMARY KEY, client_id text NOT NULL, scope text, issued_at timestamptz NOT NULL, expires_at timestamptz NOT NULL);
CREATE INDEX ON t_a (expires_at);
CREATE TABLE t_b (jti uuid NOT NULL, client_id text NOT NULL, scope text, issued_at timestamptz NOT NULL, expires_at timestamptz NOT NULL, PRIMARY KEY (jti, expires_at)) PARTITION BY RANGE (expires_at);
CREATE TABLE t_c (jti uuid NOT NULL, client_id text NOT NULL, scope text, issued_at timestamptz NOT NULL, expires_at timestamptz NOT NULL) PARTITION BY RANGE (expires_at);
CREATE TABLE t_d (jti uuid NOT NULL, client_id text NOT NULL, scope text, issued_at timestamptz NOT NULL, expires_at timestamptz NOT NULL) PARTITION BY RANGE (expires_at);
DO $$ DECLARE h int; t text; BEGIN
  FOREACH t IN ARRAY ARRAY['t_b', 't_c', 't_d'] LOOP
    FOR h IN -2..30 LOOP
      EXECUTE format('CREATE TABLE %s_%s PARTITION OF %s FOR VALUES FROM (%L) TO (%L)', t, h + 2, t,
        date_trunc('hour', now()) + make_interval(hours => h), date_trunc('hour', now()) + make_interval(hours => h + 1));
    END LOOP;
  END LOOP;
END $$;
CREATE INDEX ON t_d USING brin (expires_at);

CREATE OR REPLACE FUNCTION pg_temp.cpu_ticks() RETURNS bigint LANGUAGE sql AS $$
  SELECT (split_part(s, ' ', 12))::bigint + (split_part(s, ' ', 13))::bigint
    FROM (SELECT split_part(pg_read_file('/proc/' || pg_backend_pid() || '/stat'), ') ', 2) AS s) x $$;
CREATE OR REPLACE PROCEDURE pg_temp.run(tbl text, batches int) LANGUAGE plpgsql AS $$
DECLARE c0 bigint; c1 bigint; w0 pg_lsn; w1 pg_lsn; rows text :=
  'SELECT (lpad(to_hex((extract(epoch FROM clock_timestamp()) * 1000)::bigint), 12, ''0'') || substr(md5(g::text || random()::text), 1, 20))::uuid,
          ''bench'', ''read write'', now(), now() + make_interval(mins => 30 + (g % 60)) FROM generate_series(1, 1000) g';
BEGIN
  c0 := pg_temp.cpu_ticks(); w0 := pg_current_wal_insert_lsn();
  FOR i IN 1..batches LOOP
    IF tbl = 'none' THEN
      EXECUTE 'SELECT count(*) FROM (' || rows || ') s';
    ELSE
      EXECUTE format('INSERT INTO %I ', tbl) || rows;
    END IF;
    COMMIT;
  END LOOP;
  c1 := pg_temp.cpu_ticks(); w1 := pg_current_wal_insert_lsn();
  RAISE WARNING '% cpu_us_per_row=% wal_bytes_per_row=%', tbl,
    round((c1 - c0) * 1e6 / current_setting('edgeauth.hz', true)::numeric / (batches * 1000.0), 2),
    round((w1 - w0) / (batches * 1000.0), 1);
END $$;
SET edgeauth.hz = 100;
CALL pg_temp.run('none', 300); CALL pg_temp.run('t_a', 300); CALL pg_temp.run('t_b', 300); CALL pg_temp.run('t_c', 300); CALL pg_temp.run('t_d', 300);
CALL pg_temp.run('none', 300); CALL pg_temp.run('t_a', 300); CALL pg_temp.run('t_b', 300); CALL pg_temp.run('t_c', 300); CALL pg_temp.run('t_d', 300);
DROP TABLE t_a, t_b, t_c, t_d;
