//! Versioned, idempotent migrations.
//!
//! Each migration runs in its own transaction together with the row that records it, under
//! an advisory lock, so that several instances running `edgeauth migrate` at once apply each
//! version exactly once.

use crate::pg::{self, Client, Statement};

/// Arbitrary constant: the advisory lock all edgeauth migrations take.
const MIGRATION_LOCK_KEY: i64 = 0x6564_6765_6175_7468; // "edgeauth"

/// The schema version this binary runs against.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Migration `i` brings the schema from version `i` to `i + 1`. Never edit one that has
/// shipped; append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: clients, tokens, revocations.
    "CREATE TABLE clients (
        client_id         text PRIMARY KEY,
        -- SHA-256 of the secret, lowercase hex. Secrets are 256 random bits, so a fast hash
        -- is right (see SPEC §3).
        secret_hash       text NOT NULL,
        -- Space-separated scope tokens the client may request.
        allowed_scopes    text NOT NULL DEFAULT '',
        -- The client's own `aud`; NULL means the server's audience.
        audience          text,
        -- The client's own token lifetime; NULL means the server's token_ttl.
        token_ttl_seconds integer CHECK (token_ttl_seconds > 0),
        -- Space-separated grant types; a client without client_credentials is refused
        -- with unauthorized_client.
        grant_types       text NOT NULL DEFAULT 'client_credentials',
        disabled          boolean NOT NULL DEFAULT false,
        created_at        timestamptz NOT NULL DEFAULT now(),
        updated_at        timestamptz NOT NULL DEFAULT now()
    );
    -- Every issued access token. No foreign key to clients: a deleted client's tokens stay
    -- on record until they expire, and inserts need not check another table.
    CREATE TABLE tokens (
        jti        uuid PRIMARY KEY,
        client_id  text NOT NULL,
        scope      text,
        issued_at  timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
    );
    CREATE INDEX tokens_expires_at_idx ON tokens (expires_at);
    CREATE INDEX tokens_client_id_idx ON tokens (client_id);  -- dropped by 2
    CREATE TABLE revoked_tokens (
        jti        uuid PRIMARY KEY,
        client_id  text NOT NULL DEFAULT '',
        revoked_at timestamptz NOT NULL DEFAULT now(),
        expires_at timestamptz NOT NULL
    );
    CREATE INDEX revoked_tokens_expires_at_idx ON revoked_tokens (expires_at);",
    // 2: no index on tokens.client_id. edgeauth never reads by it, and every index costs
    // PostgreSQL CPU and WAL on each token row (docs/MEASUREMENTS.md). Operators who audit
    // tokens by client can create it again (docs/DEPLOYMENT.md, Sizing PostgreSQL).
    "DROP INDEX IF EXISTS tokens_client_id_idx;",
    // 3: the kill switch. Tokens a client was issued before `tokens_not_before` introspect
    // as inactive (`edgeauth client revoke-tokens`); NULL: none revoked this way.
    "ALTER TABLE clients ADD COLUMN tokens_not_before timestamptz;",
    // 4: clients without shared secrets (RFC 8705 mutual TLS). `auth_method` says which
    // credential the client proves; the columns it needs are set, the others NULL.
    // `certificate_bound`: tokens of a certificate-authenticated client carry the
    // certificate's thumbprint (`cnf`).
    "ALTER TABLE clients
        ADD COLUMN auth_method text NOT NULL DEFAULT 'client_secret_basic',
        -- tls_client_auth: the subject DN or alternative name the certificate must carry.
        ADD COLUMN tls_subject text,
        -- self_signed_tls_client_auth: SHA-256 of the certificate, base64url.
        ADD COLUMN tls_cert_sha256 text,
        ADD COLUMN certificate_bound boolean NOT NULL DEFAULT true,
        ALTER COLUMN secret_hash DROP NOT NULL;",
    // 5: RFC 8707 resource indicators: the absolute URIs (space-separated) a client may
    // request as its tokens' audience. Empty: none; its tokens carry the default audience.
    "ALTER TABLE clients ADD COLUMN resources text NOT NULL DEFAULT '';",
    // 6: static claims every token of the client carries: a compact JSON object, '{}' for
    // none. Registered and reserved names are refused at registration.
    "ALTER TABLE clients ADD COLUMN claims text NOT NULL DEFAULT '{}';",
    // 7: clients without secrets, by signed assertion (RFC 7523 private_key_jwt): either
    // the client's own public JWKS, or a workload-identity issuer (`trusted_issuers`) and
    // the subject its tokens name. `require_dpop`: tokens only with a DPoP proof (RFC 9449).
    "ALTER TABLE clients
        ADD COLUMN jwks text,
        ADD COLUMN federated_issuer text,
        ADD COLUMN federated_subject text,
        ADD COLUMN require_dpop boolean NOT NULL DEFAULT false;",
    // 8: a client's own token rate (per second, and a burst); NULL: the server's
    // `client_rate_default`.
    "ALTER TABLE clients
        ADD COLUMN rate_per_second double precision,
        ADD COLUMN rate_burst integer,
        ADD CONSTRAINT clients_rate_whole CHECK ((rate_per_second IS NULL) = (rate_burst IS NULL));",
    // 9: secret rotation with a grace period: the replaced secret's hash stays accepted
    // until `previous_secret_expires_at`, and after it by nobody (no job clears it).
    "ALTER TABLE clients
        ADD COLUMN previous_secret_hash text,
        ADD COLUMN previous_secret_expires_at timestamptz,
        ADD CONSTRAINT clients_previous_secret_whole
            CHECK ((previous_secret_hash IS NULL) = (previous_secret_expires_at IS NULL));",
    // 10-12: `tokens` partitioned by `expires_at` (one partition per hour, created ahead by
    // `store::tokens::ensure_partitions`), so pruning drops whole partitions, and without
    // an index (docs/MEASUREMENTS.md). Online: the old table becomes the partition of
    // everything expiring before the cut-over (26 hours ahead, past any token's lifetime),
    // with its rows and indexes, and is dropped like any other once its tokens expired.
    // A row expiring later than that (a clock that ran ahead, rows from another tool) moves
    // the cut-over past it, to the hour after: every row is kept, and the new layout takes
    // over when that row has expired. (Amended after shipping, with 11: the first version
    // left such a database unable to pass 11. Neither changes a database that passed 11.)
    // 10 adds that bound as a constraint without a scan (the latest expiry is read from
    // schema 2's index on `expires_at`)...
    "CREATE TABLE edgeauth_token_cutover (until timestamptz NOT NULL);
     INSERT INTO edgeauth_token_cutover
       SELECT greatest(date_trunc('hour', now(), 'UTC') + interval '26 hours',
                       date_trunc('hour', (SELECT max(expires_at) FROM tokens), 'UTC') + interval '1 hour');
     DO $$ BEGIN
       EXECUTE format('ALTER TABLE tokens ADD CONSTRAINT tokens_before_cutover CHECK (expires_at < %L) NOT VALID',
                      (SELECT until FROM edgeauth_token_cutover));
     END $$;",
    // 11: ...validates it in a transaction of its own, under a lock that lets inserts go
    // on while the rows are read (a database that passed the first version of 10 with a
    // row past its cut-over first gets the later one, and waits out the scan)...
    "DO $$ DECLARE
       cutover timestamptz := (SELECT until FROM edgeauth_token_cutover);
       latest timestamptz := (SELECT max(expires_at) FROM tokens);
     BEGIN
       IF latest >= cutover THEN
         cutover := date_trunc('hour', latest, 'UTC') + interval '1 hour';
         UPDATE edgeauth_token_cutover SET until = cutover;
         ALTER TABLE tokens DROP CONSTRAINT tokens_before_cutover;
         EXECUTE format('ALTER TABLE tokens ADD CONSTRAINT tokens_before_cutover CHECK (expires_at < %L) NOT VALID',
                        cutover);
       END IF;
     END $$;
     ALTER TABLE tokens VALIDATE CONSTRAINT tokens_before_cutover;",
    // 12: ...so that attaching the old table needs no scan. `token_writes` records each
    // committed batch write by its first row's jti: a retry whose first attempt committed
    // inserts nothing (`store::tokens::INSERT`), without a unique index on `tokens`. An
    // empty old table (a new database) is simply dropped.
    "ALTER TABLE tokens RENAME TO tokens_before_partitioning;
     ALTER INDEX tokens_pkey RENAME TO tokens_before_partitioning_pkey;
     ALTER INDEX tokens_expires_at_idx RENAME TO tokens_before_partitioning_expires_at_idx;
     CREATE TABLE tokens (
        jti        uuid NOT NULL,
        client_id  text NOT NULL,
        scope      text,
        issued_at  timestamptz NOT NULL,
        expires_at timestamptz NOT NULL
     ) PARTITION BY RANGE (expires_at);
     CREATE TABLE token_partitions (
        name    text PRIMARY KEY,
        from_ts timestamptz NOT NULL,
        until   timestamptz NOT NULL
     );
     CREATE TABLE token_writes (first_jti uuid PRIMARY KEY);
     DO $$ DECLARE cutover timestamptz := (SELECT until FROM edgeauth_token_cutover); BEGIN
       IF EXISTS (SELECT 1 FROM tokens_before_partitioning) THEN
         EXECUTE format('ALTER TABLE tokens ATTACH PARTITION tokens_before_partitioning FOR VALUES FROM (MINVALUE) TO (%L)',
                        cutover);
         INSERT INTO token_partitions VALUES ('tokens_before_partitioning', '-infinity', cutover);
       ELSE
         DROP TABLE tokens_before_partitioning;
       END IF;
     END $$;
     DROP TABLE edgeauth_token_cutover;",
    // 13: the one place that names and makes a partition of `tokens`: from `from_ts` to the
    // next whole hour (the first one after the cut-over starts where the old table ends).
    // The partition keeper calls it (`store::tokens`), and so can anything that needs an
    // hour already past (tests, benchmarks). Partitions are never updated and are dropped
    // whole, so autovacuum has nothing to reclaim in them.
    "CREATE FUNCTION edgeauth_create_token_partition(from_ts timestamptz) RETURNS text
     LANGUAGE plpgsql AS $$
     DECLARE
       until timestamptz := date_trunc('hour', from_ts, 'UTC') + interval '1 hour';
       name text := 'tokens_' || to_char(from_ts AT TIME ZONE 'UTC', 'YYYYMMDDHH24');
     BEGIN
       EXECUTE format('CREATE TABLE %I PARTITION OF tokens FOR VALUES FROM (%L) TO (%L)
                       WITH (autovacuum_enabled = false, toast.autovacuum_enabled = false)',
                      name, from_ts, until);
       INSERT INTO token_partitions VALUES (name, from_ts, until);
       RETURN name;
     END $$;",
];

const CURRENT_VERSION: Statement = Statement::new(
    "schema_version",
    "SELECT coalesce(max(version), 0) FROM edgeauth_schema_migrations",
    &[],
);

/// Bring the schema up to `SCHEMA_VERSION`; returns the versions applied.
pub async fn migrate(client: &Client) -> Result<Vec<i32>, pg::Error> {
    migrate_to(client, SCHEMA_VERSION).await
}

/// Bring the schema up to `target` (tests start from an old version this way).
pub async fn migrate_to(client: &Client, target: i32) -> Result<Vec<i32>, pg::Error> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS edgeauth_schema_migrations (
                version    integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await?;
    client
        .batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})"))
        .await?;
    let result = apply_pending(client, target).await;
    let unlock = client
        .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_KEY})"))
        .await;
    let applied = result?;
    unlock?;
    // A migrated schema has the partitions its inserts need.
    if current_version(client).await? == SCHEMA_VERSION {
        crate::store::tokens::ensure_partitions(client).await?;
    }
    Ok(applied)
}

async fn apply_pending(client: &Client, target: i32) -> Result<Vec<i32>, pg::Error> {
    let mut applied = Vec::new();
    let mut version = current_version(client).await?;
    while version < target.min(SCHEMA_VERSION) {
        let next = version + 1;
        let sql = format!(
            "BEGIN;\n{}\n;INSERT INTO edgeauth_schema_migrations (version) VALUES ({next});\nCOMMIT;",
            MIGRATIONS[version as usize]
        );
        if let Err(e) = client.batch_execute(&sql).await {
            // The failed transaction must not stay open on this connection.
            let _ = client.batch_execute("ROLLBACK").await;
            return Err(e);
        }
        applied.push(next);
        version = next;
    }
    Ok(applied)
}

/// The version the database is at; 0 when edgeauth never migrated it.
pub async fn current_version(client: &Client) -> Result<i32, pg::Error> {
    let exists = client.query(&TABLE_EXISTS, &[]).await?;
    if exists.row(0).get_str(0) != Some("t") {
        return Ok(0);
    }
    let rows = client.query(&CURRENT_VERSION, &[]).await?;
    Ok(rows
        .row(0)
        .get_str(0)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

const TABLE_EXISTS: Statement = Statement::new(
    "schema_table_exists",
    "SELECT to_regclass('edgeauth_schema_migrations') IS NOT NULL",
    &[],
);
