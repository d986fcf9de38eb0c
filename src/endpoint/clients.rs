//! The shard's view of its clients: the client cache in front of Postgres.
//!
//! A hit costs a hash lookup and no database round trip. Misses go to Postgres over the
//! shard's session, and concurrent misses for the same client share one query
//! (single-flight), so a burst of new connections for one client costs one look-up.
//! Unknown clients are remembered briefly as absent, so a flood of requests for a client_id
//! that does not exist costs one query per shard per `limits::NEGATIVE_CACHE_TTL`.
//!
//! Invalidation arrives as `NOTIFY edgeauth_invalidate` on the session (see
//! `shard::tasks::database_events`). A look-up that was already in flight when an invalidation
//! arrived may have read the old row, so its answer is used once but not cached: every
//! invalidation bumps `generation`, and a look-up caches only if the generation it started
//! under is still current.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use hashbrown::HashMap;
use local_sync::oneshot;

use crate::cache::{CacheConfig, CacheStats, ClientCache, Lookup};
use crate::config::Config;
use crate::endpoint::stats::ShardStats;
use crate::limits;
use crate::log;
use crate::pg::{self, Session};
use crate::store::clients::{self, ClientRecord};
use crate::store::events::Invalidation;

type Answer = Result<Option<Rc<ClientRecord>>, pg::Error>;
/// What waiters get: the leader's answer, with a failure reduced to "unavailable" (the
/// leader reports the detail).
type Shared = Result<Option<Rc<ClientRecord>>, ()>;

pub struct ClientDirectory {
    /// None when `cache_capacity` is 0: every request looks its client up.
    cache: Option<RefCell<ClientCache<Rc<ClientRecord>>>>,
    /// Look-ups in flight, by client_id, with the requests waiting for the same answer.
    in_flight: RefCell<HashMap<String, Vec<oneshot::Sender<Shared>>>>,
    generation: Cell<u64>,
    pg: Session,
    /// Every shard's counters; this directory writes `client_queries` of its own.
    all_stats: Arc<[ShardStats]>,
    shard_id: usize,
}

impl ClientDirectory {
    pub fn new(
        config: &Config,
        pg: Session,
        all_stats: Arc<[ShardStats]>,
        shard_id: usize,
    ) -> ClientDirectory {
        let stats: Arc<CacheStats> = all_stats[shard_id].cache.clone();
        let cache = (config.cache_capacity > 0).then(|| {
            RefCell::new(ClientCache::new(
                CacheConfig {
                    ttl: config.cache_ttl,
                    capacity: config.cache_capacity,
                    negative_ttl: limits::NEGATIVE_CACHE_TTL.min(config.cache_ttl),
                    negative_capacity: config.cache_capacity,
                },
                stats,
            ))
        });
        ClientDirectory {
            cache,
            in_flight: RefCell::new(HashMap::new()),
            generation: Cell::new(0),
            pg,
            all_stats,
            shard_id,
        }
    }

    /// The client, `Ok(None)` if it does not exist, `Err` if the database cannot say.
    pub async fn lookup(&self, client_id: &str) -> Answer {
        if let Some(cache) = &self.cache {
            match cache.borrow_mut().get(client_id, Instant::now()) {
                Lookup::Hit(client) => return Ok(Some(client.clone())),
                Lookup::Absent => return Ok(None),
                Lookup::Miss => {}
            }
        }
        let waiter = {
            let mut in_flight = self.in_flight.borrow_mut();
            let full = in_flight.len() >= limits::CLIENT_LOOKUPS_IN_FLIGHT_MAX;
            match in_flight.get_mut(client_id) {
                Some(waiters) => {
                    let (tx, rx) = oneshot::channel();
                    waiters.push(tx);
                    Some(rx)
                }
                // A flood of unknown ids must not queue look-ups on the connection the
                // batch writer and every other client share: past the bound, 503.
                None if full => {
                    self.all_stats[self.shard_id].client_lookups_refused.bump();
                    return Err(pg::Error::closed_because(
                        "too many client look-ups in flight",
                    ));
                }
                None => {
                    in_flight.insert(client_id.to_owned(), Vec::new());
                    None
                }
            }
        };
        if let Some(rx) = waiter {
            // The leader went away without answering (its connection closed mid-query):
            // treat it like a lost database connection; the client retries.
            return rx
                .await
                .unwrap_or(Err(()))
                .map_err(|()| pg::Error::closed());
        }
        let leader = Leader {
            directory: self,
            client_id,
        };
        let generation = self.generation.get();
        let answer = self.query(client_id).await;
        if let (Some(cache), true) = (&self.cache, generation == self.generation.get()) {
            let mut cache = cache.borrow_mut();
            match &answer {
                Ok(Some(client)) => cache.insert(client_id, client.clone(), Instant::now()),
                Ok(None) => cache.insert_absent(client_id, Instant::now()),
                Err(_) => {}
            }
        }
        leader.answer(&answer);
        answer
    }

    async fn query(&self, client_id: &str) -> Answer {
        let pg = self.pg.client()?;
        self.all_stats[self.shard_id].client_queries.bump();
        let record = clients::lookup(&pg, client_id).await?;
        if log::enabled(log::Level::Debug) {
            log::debug(
                "client cache miss",
                &[("client_id", &client_id), ("found", &record.is_some())],
            );
        }
        Ok(record.map(Rc::new))
    }

    /// Drop one client, or all, from this shard's cache.
    pub fn invalidate(&self, what: Invalidation<'_>) {
        self.generation.set(self.generation.get() + 1);
        let Some(cache) = &self.cache else { return };
        match what {
            Invalidation::All => cache.borrow_mut().clear(),
            Invalidation::Client(id) => {
                cache.borrow_mut().invalidate(id);
            }
        }
        log::debug(
            "client cache invalidated",
            &[("client_id", &what.payload())],
        );
    }

    /// Drop expired entries; the shard calls this every half TTL.
    pub fn purge_expired(&self) -> usize {
        match &self.cache {
            Some(cache) => cache.borrow_mut().purge_expired(Instant::now()),
            None => 0,
        }
    }
}

/// The request that queries for everyone. If it is dropped before it answers (its
/// connection went away mid-query), the waiters are released and the slot is freed, so the
/// next request queries again instead of waiting forever.
struct Leader<'a> {
    directory: &'a ClientDirectory,
    client_id: &'a str,
}

impl Leader<'_> {
    fn answer(self, answer: &Answer) {
        let waiters = self.directory.in_flight.borrow_mut().remove(self.client_id);
        let shared: Shared = match answer {
            Ok(client) => Ok(client.clone()),
            Err(_) => Err(()),
        };
        for tx in waiters.into_iter().flatten() {
            let _ = tx.send(shared.clone());
        }
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        // After `answer` this finds nothing. Before it, dropping the senders wakes the
        // waiters with an error.
        self.directory.in_flight.borrow_mut().remove(self.client_id);
    }
}
