//! Every bound the server enforces, in one reviewable place, units last.

use std::time::Duration;

// HTTP framing, enforced by `http::request`.

/// Longest request head (request line, headers and the blank line) we buffer. A head that is
/// still incomplete at this size is answered 431 rather than buffered further: httparse
/// restarts from the first byte on every `Partial`, so an unbounded head is unbounded work too.
pub const HEADER_BYTES_MAX: usize = 16 * 1024;

/// Largest request body, checked against `Content-Length` as soon as the head is parsed, so an
/// oversized body is refused (413) before a single byte of it is read. Token, introspection and
/// revocation bodies are a few hundred bytes.
pub const BODY_BYTES_MAX: usize = 64 * 1024;

/// Headers per request. httparse fills a caller-provided array, which lives on the stack; more
/// headers than this is answered 431 like an oversized head.
pub const HEADERS_COUNT_MAX: usize = 64;

/// Largest complete request (head plus body) a connection must be able to hold: the size a
/// read buffer grows to at most.
pub const REQUEST_BYTES_MAX: usize = HEADER_BYTES_MAX + BODY_BYTES_MAX;

// 64 empty `httparse::Header`s are 2 KiB of stack per parse; keep that small.
const _: () = assert!(HEADERS_COUNT_MAX <= 128);
const _: () = assert!(HEADER_BYTES_MAX >= 1024 && BODY_BYTES_MAX >= 1024);

// The server around it.

/// Connections one shard serves at once; beyond this a new connection is closed at accept.
pub const CONNECTIONS_PER_SHARD_MAX: usize = 10_000;

/// A connection with no complete request for this long is closed (keep-alive idle time and
/// slow senders alike: a request must arrive whole within it), and so is one that takes
/// none of its responses for this long.
pub const IDLE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);

/// A request head must arrive whole within this time of its first byte, else 408 and close:
/// dribbling a byte now and then cannot hold a connection for `idle_timeout` per byte.
pub const HEADER_TIMEOUT_DEFAULT: Duration = Duration::from_secs(10);

/// Session tickets rotate their key this often; a ticket opens until the end of the period
/// after the one it was issued in.
pub const TLS_TICKET_KEY_PERIOD: Duration = Duration::from_secs(6 * 3600);

/// Bytes of TLS records read from a socket at once: one full record and its header.
pub const TLS_READ_BYTES: usize = 16 * 1024 + 256;

/// Bounds of `idle_timeout` and `header_timeout`: long enough for any honest client,
/// short enough that `Instant + timeout` cannot overflow.
pub const CONNECTION_TIMEOUT_MIN: Duration = Duration::from_millis(100);
pub const CONNECTION_TIMEOUT_MAX: Duration = Duration::from_secs(3600);

/// Responses a connection may have waiting to be written before it stops answering the
/// rest of what it has sent (pipelined requests) and writes them out first: a client that
/// pipelines large answers (`/metrics`) and never reads costs this much, not a page per
/// request.
pub const PENDING_OUTPUT_BYTES_MAX: usize = 64 * 1024;

/// On SIGTERM, how long a shard waits for its connections to finish their requests
/// before it closes them anyway.
pub const SHUTDOWN_DRAIN_MAX: Duration = Duration::from_secs(10);

/// How long `serve` waits at start-up for the database before it starts anyway
/// (`/readyz` answers 503 until a shard is connected).
pub const STARTUP_DB_WAIT_MAX: Duration = Duration::from_secs(10);

/// Read buffer a connection starts with; it grows up to a full request at most. 4 KiB holds
/// a token request (about 300 bytes) many times over, so pipelined batches rarely grow it.
pub const READ_BUFFER_BYTES_INITIAL: usize = 4 * 1024;

/// Write buffer (and body scratch buffer) a connection allocates when its first request
/// arrives: a whole token response is 650-950 bytes (HS256, ES256, RS256-2048; measured),
/// and the scratch holds one token and its claims JSON. Pipelined batches and large
/// documents grow it (once: it is kept, up to `BUFFER_BYTES_RETAINED_MAX`, until the
/// connection goes idle).
pub const WRITE_BUFFER_BYTES_INITIAL: usize = 2 * 1024;

/// Largest buffer a connection keeps once its request is answered: a large request (up to
/// `HEADER_BYTES_MAX + BODY_BYTES_MAX`) or a large batch of responses may grow one beyond
/// it, and it is shrunk back to its initial size afterwards. Above what pipelined token
/// traffic needs (16 responses are about 16 KiB), so that never reallocates.
pub const BUFFER_BYTES_RETAINED_MAX: usize = 64 * 1024;

/// A keep-alive connection with nothing to read for this long releases its buffers and
/// waits for readability holding none: an idle connection costs its task (about 2 KiB)
/// instead of about 14 KiB. Long enough that a busy connection never hits it (the release
/// costs a cancelled read, a poll and a fresh buffer), short enough that a crowd of idle
/// connections shrinks soon.
pub const IDLE_BUFFERS_RELEASE_AFTER: Duration = Duration::from_secs(1);

const _: () = assert!(BUFFER_BYTES_RETAINED_MAX >= READ_BUFFER_BYTES_INITIAL);
const _: () = assert!(BUFFER_BYTES_RETAINED_MAX >= WRITE_BUFFER_BYTES_INITIAL);

/// Client ids are short printable identifiers (see `store::clients::validate_client_id`).
pub const CLIENT_ID_BYTES_MAX: usize = 128;

/// A client's registered scopes, in all: a token's `scope` is at most this or the request
/// body, whichever is longer, and the batch writer's field bound must hold both.
pub const SCOPES_BYTES_MAX: usize = 8 * 1024;

/// `resource` parameters in one token request (RFC 8707), and resources one client may be
/// registered for: each becomes an `aud` entry.
pub const RESOURCES_PER_REQUEST_MAX: usize = 8;
pub const RESOURCES_PER_CLIENT_MAX: usize = 64;
/// Longest resource URI.
pub const RESOURCE_BYTES_MAX: usize = 512;

/// A client's static claims (`client add --claims`), as compact JSON: each token carries them.
pub const CLIENT_CLAIMS_BYTES_MAX: usize = 2048;

/// Token lifetimes a configuration or a client may ask for.
pub const TOKEN_TTL_MAX: Duration = Duration::from_secs(24 * 3600);

/// Largest `cache_capacity` (clients per shard); a cached client is a few hundred bytes.
pub const CACHE_CAPACITY_MAX: usize = 10_000_000;

/// Largest `batch_size`: one COPY of this many rows is a few MiB.
pub const BATCH_SIZE_MAX: usize = 100_000;

/// Largest `max_pending` per shard: each pending token is about 100 bytes of COPY buffer.
pub const PENDING_TOKENS_MAX: usize = 10_000_000;

/// How long an unknown client_id is remembered as absent (capped by `cache_ttl`): long
/// enough that a flood of requests for it costs one query per shard per few seconds, short
/// enough that a client added by a CLI on a host whose NOTIFY got lost works soon.
pub const NEGATIVE_CACHE_TTL: Duration = Duration::from_secs(5);

/// A shard renders its `/metrics` page at most this often; scrapes in between get the same
/// page (figures up to this old).
pub const METRICS_RENDER_INTERVAL: Duration = Duration::from_millis(100);

/// Client look-ups one shard has at the database at once (distinct ids; requests for an id
/// already being looked up wait for that answer). Beyond it, a request for an uncached
/// client gets 503: a flood of unknown ids then costs the shard this many queries at a time,
/// and cached clients and the batch writer keep the connection.
pub const CLIENT_LOOKUPS_IN_FLIGHT_MAX: usize = 32;

/// After SIGTERM, how long a shard keeps trying to write its buffered tokens.
pub const SHUTDOWN_FLUSH_MAX: Duration = Duration::from_secs(30);

/// How long a shard's revocation cache is trusted without its database session (which
/// carries the revocation notifications): past this, introspection answers 503 rather than
/// call a token active that may have been revoked meanwhile.
pub const REVOCATIONS_STALE_MAX: Duration = Duration::from_secs(10);

/// `revocation_cache_capacity`: revoked tokens one shard remembers (see
/// `cache::RevocationCache`), about 40 bytes each in the hash table, so about 10 MiB per
/// shard when full. Beyond it the shard asks the table for the jti it does not hold.
pub const REVOCATION_CACHE_CAPACITY_DEFAULT: usize = 256 * 1024;
pub const REVOCATION_CACHE_CAPACITY_MAX: usize = 16 * 1024 * 1024;

// Introspection's cache of verified tokens (`cache::VerifiedCache`).

/// Verified tokens one shard remembers, so that introspecting one again skips its signature
/// check and its parse (least recently introspected out first). An entry holds the token
/// itself, its introspection answer (a little shorter than the token: the claims without
/// base64, header and signature), its client id, and about 200 bytes besides (the LRU slot,
/// two table buckets, the shared record's header, allocator rounding): about 1 KiB for an
/// ES256 token with a short scope, so about 8 MiB per shard when full of such tokens, and at
/// most about 4.5 KiB an entry (36 MiB per shard) with tokens of `VERIFIED_TOKEN_BYTES_MAX`.
pub const VERIFIED_TOKENS_PER_SHARD_MAX: usize = 8192;

/// Longest token the verified-token cache holds; a longer one (a client with many scopes or
/// large static claims) is verified on every introspection. Our tokens are 300-1,000 bytes
/// (HS256 to RS256-4096) with a short scope.
pub const VERIFIED_TOKEN_BYTES_MAX: usize = 2048;

const _: () = assert!(
    VERIFIED_TOKENS_PER_SHARD_MAX < u32::MAX as usize,
    "LRU slab indices are u32"
);

// Settings' defaults and bounds (declared in `config`, one entry per setting).

/// `listen`: loopback, so that a server started without thinking is not on the network.
pub const LISTEN_DEFAULT: std::net::SocketAddr = std::net::SocketAddr::V4(
    std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 8080),
);

/// `shards`: one thread per shard; far beyond any machine's cores.
pub const SHARDS_MAX: usize = 1024;

/// `token_ttl`: access tokens are short-lived.
pub const TOKEN_TTL_DEFAULT: Duration = Duration::from_secs(3600);
pub const TOKEN_TTL_MIN: Duration = Duration::from_secs(1);

/// `cache_ttl`: how long a cached client is trusted without a notification.
pub const CACHE_TTL_DEFAULT: Duration = Duration::from_secs(600);
/// Shorter would turn the cache into a query per request.
pub const CACHE_TTL_MIN: Duration = Duration::from_millis(10);

/// `cache_capacity`: clients cached per shard (0 turns the cache off).
pub const CACHE_CAPACITY_DEFAULT: usize = 5000;

/// `batch_size`: token rows per batch write.
pub const BATCH_SIZE_DEFAULT: usize = 1000;

/// `flush_interval`: the longest a token row waits in the open batch.
pub const FLUSH_INTERVAL_DEFAULT: Duration = Duration::from_secs(5);
pub const FLUSH_INTERVAL_MIN: Duration = Duration::from_millis(1);
pub const FLUSH_INTERVAL_MAX: Duration = Duration::from_secs(60);

/// `max_pending`: unrecorded tokens per shard before the token endpoint answers 503.
pub const MAX_PENDING_DEFAULT: usize = 100_000;

/// Batches one shard writes at once over its pipelined connection.
pub const BATCHES_IN_FLIGHT_PER_SHARD: usize = 4;

/// `prune_interval`: often enough that the tables stay near their live size (a round is
/// cheap when little has expired), rarely enough to be noise.
pub const PRUNE_INTERVAL_DEFAULT: Duration = Duration::from_secs(600);
/// Shorter intervals would keep shard 0's session busy pruning; tests use 200ms.
pub const PRUNE_INTERVAL_MIN: Duration = Duration::from_millis(100);

/// `admin_token`: a bearer secret must not be guessable (32 random characters are far
/// beyond any online guessing).
pub const ADMIN_TOKEN_BYTES_MIN: usize = 32;

const _: () = assert!(BATCH_SIZE_DEFAULT <= MAX_PENDING_DEFAULT);
const _: () = assert!(
    BATCH_SIZE_MAX <= u32::MAX as usize,
    "row offsets in a batch are u32"
);

// Single-use credentials (`replay`).

/// Single-use ids (client-assertion and DPoP-proof `jti`) one shard remembers at once, each
/// until its credential expires. Only authenticated clients add ids; beyond the bound new
/// credentials are refused as unavailable (503) until some expire, never accepted unchecked.
pub const REPLAY_IDS_PER_SHARD_MAX: usize = 1_000_000;

/// Checks one shard may have waiting on other shards' answers; beyond it, 503.
pub const REPLAY_AWAITING_MAX: usize = CONNECTIONS_PER_SHARD_MAX;

/// Longest a shard waits for the owner of an id to answer; then the credential is refused
/// as unavailable. Owners answer within a scheduling round unless they are stuck.
pub const REPLAY_ANSWER_TIMEOUT: Duration = Duration::from_secs(1);

// Client assertions (RFC 7523) and DPoP proofs (RFC 9449).

/// `assertion_max_age`: how far ahead a client's own assertion may expire. Its jti is
/// remembered that long, so the bound is also what replay protection costs in memory.
pub const ASSERTION_MAX_AGE_DEFAULT: Duration = Duration::from_secs(5 * 60);
pub const ASSERTION_MAX_AGE_MIN: Duration = Duration::from_secs(10);
pub const ASSERTION_MAX_AGE_MAX: Duration = Duration::from_secs(3600);

/// A trusted issuer's `max_token_age` (on `exp` - `iat`) unless configured: a day, the
/// longest a Kubernetes projected token is usually valid.
pub const FEDERATED_TOKEN_AGE_DEFAULT: Duration = Duration::from_secs(24 * 3600);
pub const FEDERATED_TOKEN_AGE_MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// Workload-identity issuers one configuration may trust.
pub const TRUSTED_ISSUERS_MAX: usize = 32;

/// Clock skew forgiven on `exp`, `nbf` and `iat` of assertions and DPoP proofs.
pub const JWT_LEEWAY: Duration = Duration::from_secs(5);

/// A DPoP proof is accepted this long after its `iat` (RFC 9449 §11.1: "a reasonable
/// window"); its jti is remembered as long.
pub const DPOP_PROOF_MAX_AGE: Duration = Duration::from_secs(60);

/// Longest subject a workload-identity client may register (a SPIFFE ID, a Kubernetes
/// `system:serviceaccount:<namespace>:<name>`): an assertion's `sub` is at most as long.
pub const FEDERATED_SUBJECT_BYTES_MAX: usize = ASSERTION_CLAIM_BYTES_MAX;

// Tokens and keys signed by others: client assertions (RFC 7523), workload-identity tokens,
// DPoP proofs (RFC 9449), and the JWK sets that verify them.

/// Longest compact JWS we parse from a request. A DPoP proof carrying an RSA-4096 `jwk` is
/// about 2 KiB, a Kubernetes or CI workload token 1-2 KiB; checked before any decoding.
pub const JWS_BYTES_MAX: usize = 8 * 1024;

/// Largest JWK set we parse (a client's registered JWKS, a platform issuer's published one):
/// 32 RSA-4096 keys are about 25 KiB.
pub const JWKS_BYTES_MAX: usize = 64 * 1024;

/// Keys in one JWK set: a few current keys plus those in rotation; each is parsed once and
/// held for as long as the set is.
pub const JWKS_KEYS_MAX: usize = 32;

/// Longest `jti` of a client assertion or DPoP proof (remembered as a 16-byte hash, so
/// this bounds only the hashing). UUIDs are 36 bytes.
pub const JTI_BYTES_MAX: usize = 256;

/// Longest `iss`, `sub` and `aud` entry of a client assertion: SPIFFE IDs may be 2048
/// bytes, client ids and URLs are far shorter.
pub const ASSERTION_CLAIM_BYTES_MAX: usize = 2048;

/// `aud` entries in one client assertion: an assertion names the token endpoint or the
/// issuer, and perhaps a few others.
pub const ASSERTION_AUDIENCES_MAX: usize = 16;

/// DPoP server nonces (RFC 9449 §8) are derived from the period index and accepted during
/// their period and the next: a nonce lives between one and two periods.
pub const DPOP_NONCE_PERIOD: Duration = Duration::from_secs(5 * 60);

/// Longest `nonce` claim a DPoP proof may carry; ours are 32 characters (see
/// `auth::dpop::NonceKey`), anything longer is not ours.
pub const DPOP_NONCE_BYTES_MAX: usize = 64;

const _: () = assert!(
    DPOP_NONCE_PERIOD.as_secs() > 0,
    "the nonce period index divides by it"
);

// Failed client authentications (`endpoint::auth_failures`), counted per shard.

/// The window failures are counted in; past a bound, refusals last until it ends.
pub const FAILED_AUTH_WINDOW: Duration = Duration::from_secs(60);

/// `auth_failures_per_address`: failed authentications from one source address per window
/// and shard: guessing from one host.
pub const FAILED_AUTH_PER_SOURCE_DEFAULT: u32 = 30;

/// `auth_failures_per_client`: failed authentications of one client id per window and
/// shard, from anywhere: guessing from many hosts. Higher than the per-address bound, since
/// anyone who knows the id can spend it.
pub const FAILED_AUTH_PER_CLIENT_DEFAULT: u32 = 100;

/// The most either bound may be set to.
pub const FAILED_AUTH_BOUND_MAX: usize = 1_000_000;

/// Client ids, and addresses, whose failures one shard tracks at once.
pub const FAILED_AUTH_TRACKED_MAX: usize = 10_000;

/// Audit events of failed authentications one shard writes per second, and at once: a
/// flood of bad credentials costs the audit log at most this much (the next event written
/// counts the ones left out).
pub const AUDITED_AUTH_FAILURES_PER_SECOND: f64 = 10.0;
pub const AUDITED_AUTH_FAILURES_BURST: u32 = 100;

/// The longest PROXY protocol header accepted (from `trusted_proxies` only): version 1 is at
/// most 107 bytes; version 2 carries TLVs after the addresses, which HAProxy's specification
/// bounds at 536 bytes for receivers that want a fixed buffer.
pub const PROXY_HEADER_BYTES_MAX: usize = 536;

/// Clients in one page of `GET /admin/clients` (and the default `limit`).
pub const ADMIN_PAGE_CLIENTS_MAX: usize = 1000;

/// The longest grace `rotate-secret` gives the secret it replaces.
pub const SECRET_GRACE_MAX: Duration = Duration::from_secs(7 * 24 * 3600);

/// How often shard 0 makes sure the partitions of `tokens` exist 48 hours ahead (one is
/// added per hour; the margin covers a day of failed checks).
pub const PARTITION_CHECK_INTERVAL: Duration = Duration::from_secs(10 * 60);
