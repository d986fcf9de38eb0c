//! What an endpoint may touch: the narrow view of a shard's state that the endpoints are
//! given (`endpoint::handle`), so that they know nothing of connections, listeners or the
//! shard's background tasks.
//!
//! Everything here belongs to one shard and is used from its thread only: no lock on the
//! request path. The shard (`crate::shard`) builds the context, keeps it current (key
//! reloads, cache invalidations, revocations from the database) and hands it to every
//! request.

use std::cell::{Cell, RefCell};
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::auth::dpop::NonceKey;
use crate::auth::federation::TrustedIssuers;
use crate::batch::TokenWriter;
use crate::cache::{RevocationCache, VerifiedCache, VerifiedToken};
use crate::config::Config;
use crate::endpoint::auth_failures::FailureBounds;
use crate::endpoint::clients::ClientDirectory;
use crate::endpoint::metadata::Documents;
use crate::endpoint::rate_limit::RateLimiter;
use crate::endpoint::route;
use crate::endpoint::stats::ShardStats;
use crate::jwt::keys::SigningKey;
use crate::jwt::token::{JtiGenerator, TokenSigner};
use crate::limits;
use crate::pg::Session;
use crate::replay::ReplayGuard;
use crate::tls::PeerCert;

pub struct Context {
    pub shard_id: usize,
    /// Read-only after start-up; shared by every shard.
    pub config: Arc<Config>,
    /// `<issuer>/oauth/token`: what assertions may name as `aud` and DPoP proofs as `htu`.
    pub token_endpoint: String,
    /// With `dpop_nonce`: the key of the nonces every shard issues and accepts alike.
    pub dpop_nonces: Option<NonceKey>,
    /// The signer, the verification keys and the documents that publish them, swapped
    /// together on a SIGHUP reload ([`Context::replace_keys`]). A request clones the `Rc`
    /// (no lock, no atomic) and keeps the set it started with, so a reload never splits one
    /// request between two key sets and never collides with a borrow held across an `await`.
    keys: RefCell<Rc<Keys>>,
    /// Revoked jti until their tokens expire; introspection consults only this. The shard
    /// fills it on every (re)connect and from `edgeauth_revoke` notifications.
    pub revocations: RefCell<RevocationCache>,
    /// Since when `revocations` may be missing revocations (not loaded yet, or the session
    /// that carries the notifications is down); `None` while it is current.
    pub revocations_stale_since: Cell<Option<Instant>>,
    /// Tokens introspection verified and found active, so that introspecting one again
    /// skips its signature (`cache::VerifiedCache`; the endpoint checks expiry, revocation
    /// and client on every hit). Emptied with every key swap ([`Context::replace_keys`]).
    pub verified: RefCell<VerifiedCache<Rc<VerifiedToken>>>,
    /// Token ids; a per-shard CSPRNG so that no token costs a syscall.
    pub jti: RefCell<JtiGenerator>,
    /// The shard's connection to the main database: client look-ups, revocations, changes
    /// and their notifications (and token records, without `tokens_database_url`),
    /// pipelined. Reconnects by itself; while it is down the token endpoint answers 503.
    pub pg: Session,
    /// The shard's connection to where token rows go: `pg` itself, or a session to
    /// `tokens_database_url`.
    pub tokens_pg: Session,
    /// Issued tokens on their way to `tokens`: buffered, written in batches over
    /// `tokens_pg`.
    pub writer: TokenWriter,
    /// Clients: the cache in front of `pg`, with single-flight misses.
    pub clients: ClientDirectory,
    /// Single-use credential ids (assertion and DPoP `jti`), checked on their owner shard.
    pub replay: Rc<ReplayGuard>,
    /// Per-client token buckets: this shard's share of each client's rate.
    pub limiter: RateLimiter,
    /// Failed client authentications, per client id and per source address.
    pub auth_failures: FailureBounds,
    /// Every shard's counters (this shard writes only `all_stats[shard_id]`), for `/metrics`
    /// and `/admin/cache/stats`.
    pub all_stats: Arc<[ShardStats]>,
    /// The last `/metrics` page this shard rendered, and when.
    metrics_page: RefCell<Option<(Instant, Rc<[u8]>)>>,
}

/// Everything that changes when the signing keys are reloaded.
pub struct Keys {
    /// This shard's signer, built from the first key, so a token costs one signature and no
    /// key parsing.
    pub signer: TokenSigner,
    /// Every configured key, in configuration order (the signer's first), parsed on this
    /// shard: introspection and revocation verify tokens signed by any of them, so tokens
    /// signed before a rotation stay verifiable while their key is still configured.
    pub verify_keys: Vec<SigningKey>,
    /// Metadata and JWKS documents, serialized once per key set.
    pub documents: Arc<Documents>,
    /// The workload-identity issuers' keys, read with the signing keys.
    pub issuers: Arc<TrustedIssuers>,
}

impl Keys {
    /// Parse `key_pems` on this thread (keys are not `Send`); the first signs.
    pub fn parse(
        key_pems: &[Vec<u8>],
        documents: Arc<Documents>,
        issuers: Arc<TrustedIssuers>,
    ) -> Result<Keys, String> {
        let first = key_pems.first().ok_or("no signing key")?;
        let verify_keys = key_pems
            .iter()
            .map(|pem| SigningKey::from_pem(pem))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.to_string())?;
        let signer = TokenSigner::new(SigningKey::from_pem(first).map_err(|e| e.to_string())?);
        Ok(Keys {
            signer,
            verify_keys,
            documents,
            issuers,
        })
    }
}

/// The parts of a context that the shard builds before it (`Context::new`).
pub struct Parts {
    pub shard_id: usize,
    pub config: Arc<Config>,
    pub dpop_nonces: Option<NonceKey>,
    pub keys: Keys,
    pub revocations: RevocationCache,
    pub pg: Session,
    pub tokens_pg: Session,
    pub writer: TokenWriter,
    pub clients: ClientDirectory,
    pub replay: Rc<ReplayGuard>,
    pub all_stats: Arc<[ShardStats]>,
}

impl Context {
    pub fn new(parts: Parts) -> Context {
        Context {
            shard_id: parts.shard_id,
            token_endpoint: format!("{}{}", parts.config.issuer, route::TOKEN_PATH),
            limiter: RateLimiter::new(parts.config.cache_capacity, parts.config.shards),
            auth_failures: FailureBounds::new(
                parts.config.auth_failures_per_client,
                parts.config.auth_failures_per_address,
            ),
            config: parts.config,
            dpop_nonces: parts.dpop_nonces,
            keys: RefCell::new(Rc::new(parts.keys)),
            revocations: RefCell::new(parts.revocations),
            revocations_stale_since: Cell::new(Some(Instant::now())),
            verified: RefCell::new(VerifiedCache::new(
                limits::VERIFIED_TOKENS_PER_SHARD_MAX,
                limits::VERIFIED_TOKEN_BYTES_MAX,
                parts.all_stats[parts.shard_id].verified.clone(),
            )),
            jti: RefCell::new(JtiGenerator::new()),
            pg: parts.pg,
            tokens_pg: parts.tokens_pg,
            writer: parts.writer,
            clients: parts.clients,
            replay: parts.replay,
            all_stats: parts.all_stats,
            metrics_page: RefCell::new(None),
        }
    }

    /// The `/metrics` page: the one rendered less than `max_age` ago, or a new one.
    pub fn metrics_page(&self, max_age: Duration, render: impl FnOnce() -> String) -> Rc<[u8]> {
        let now = Instant::now();
        if let Some((at, page)) = &*self.metrics_page.borrow()
            && now.duration_since(*at) < max_age
        {
            return page.clone();
        }
        let page: Rc<[u8]> = render().into_bytes().into();
        *self.metrics_page.borrow_mut() = Some((now, page.clone()));
        page
    }

    /// This shard's counters.
    pub fn stats(&self) -> &ShardStats {
        &self.all_stats[self.shard_id]
    }

    /// The current key set. The clone keeps it alive for the caller even if a reload
    /// replaces it meanwhile.
    pub fn keys(&self) -> Rc<Keys> {
        self.keys.borrow().clone()
    }

    /// Whether the revocation cache has gone without its database for longer than
    /// `REVOCATIONS_STALE_MAX`: then no token can be called active.
    pub fn revocations_too_stale(&self) -> bool {
        self.revocations_stale_since
            .get()
            .is_some_and(|since| since.elapsed() > limits::REVOCATIONS_STALE_MAX)
    }

    /// Swap in a new key set; requests in progress keep the one they started with. Every
    /// verified token is forgotten with the old set: one signed by a key no longer
    /// configured must not stay active, and an introspection that verified under the old
    /// set cannot cache its token any more (the cache's generation moved on).
    pub fn replace_keys(&self, keys: Keys) {
        *self.keys.borrow_mut() = Rc::new(keys);
        self.verified.borrow_mut().forget_keys();
    }
}

/// Who is at the other end of the connection.
#[derive(Clone, Copy)]
pub struct Caller<'a> {
    /// The peer's address (failed authentications are bounded per address).
    pub source: IpAddr,
    /// The client certificate of a TLS connection, if the client presented one.
    pub certificate: Option<&'a PeerCert>,
}

/// Where an endpoint writes its answer: the connection's write buffer, its reused body
/// buffer, and whether the connection stays open after this response.
pub struct Reply<'a> {
    pub out: &'a mut Vec<u8>,
    pub scratch: &'a mut Vec<u8>,
    pub keep_alive: bool,
}

/// `kid1,kid2,...` in configuration order, for logs.
pub fn kid_list(keys: &[SigningKey]) -> String {
    keys.iter().map(|k| k.kid()).collect::<Vec<_>>().join(",")
}
