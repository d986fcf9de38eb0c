//! Per-client token rates on one shard: a token bucket per limited client, holding this
//! shard's share of the client's rate (`rate::Rate::shard_share`). Shard-owned, so no lock;
//! clients without a rate (and no `client_rate_default`) cost nothing.

use std::cell::RefCell;
use std::time::{Duration, Instant};

use hashbrown::HashMap;

use crate::rate::{Bucket, Rate};
use crate::store::clients::ClientRecord;

pub struct RateLimiter {
    /// Each limited client's bucket, and the share it was filled for: a changed rate
    /// starts a fresh bucket.
    buckets: RefCell<HashMap<Box<str>, (Rate, Bucket)>>,
    /// Buckets kept at most: as many clients as the shard caches.
    capacity: usize,
    shards: usize,
}

impl RateLimiter {
    pub fn new(capacity: usize, shards: usize) -> RateLimiter {
        RateLimiter {
            buckets: RefCell::new(HashMap::new()),
            capacity: capacity.max(1),
            shards,
        }
    }

    /// May `client` have a token now? `Err` holds how long until it may. Its own rate, else
    /// `default`; neither: always.
    pub fn admit(
        &self,
        client: &ClientRecord,
        default: Option<Rate>,
        now: Instant,
    ) -> Result<(), Duration> {
        let Some(rate) = client.rate.or(default) else {
            return Ok(());
        };
        let share = rate.shard_share(self.shards);
        let mut buckets = self.buckets.borrow_mut();
        if let Some((filled_for, bucket)) = buckets.get_mut(client.client_id.as_str()) {
            if *filled_for != share {
                *filled_for = share;
                *bucket = Bucket::full(&share, now);
            }
            return bucket.take(&share, now);
        }
        if buckets.len() >= self.capacity {
            make_room(&mut buckets, now);
        }
        let mut bucket = Bucket::full(&share, now);
        let taken = bucket.take(&share, now);
        buckets.insert(client.client_id.as_str().into(), (share, bucket));
        taken
    }
}

/// Forget the buckets that have refilled (forgetting them changes nothing), or, if none
/// has, one at random: that client gets a full burst again, the bound holds.
fn make_room(buckets: &mut HashMap<Box<str>, (Rate, Bucket)>, now: Instant) {
    let before = buckets.len();
    buckets.retain(|_, (rate, bucket)| !bucket.is_full(rate, now));
    if buckets.len() == before
        && let Some(any) = buckets.keys().next().cloned()
    {
        buckets.remove(&any);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::clients::ClientAuth;

    fn client(id: &str, rate: Option<Rate>) -> ClientRecord {
        ClientRecord {
            client_id: id.to_owned(),
            auth: ClientAuth::Secret(crate::store::clients::Secrets::new([0; 32])),
            certificate_bound: true,
            require_dpop: false,
            rate,
            resources: Vec::new(),
            claims: String::new(),
            allowed_scopes: String::new(),
            audience: None,
            token_ttl: None,
            grant_types: "client_credentials".to_owned(),
            disabled: false,
            tokens_not_before_ms: None,
        }
    }

    #[test]
    fn each_shard_admits_its_share_then_refills() {
        let limited = client("a", Some(Rate::parse("20/s", Some(4)).unwrap()));
        let limiter = RateLimiter::new(10, 2);
        let t0 = Instant::now();
        // 2 shards: this one has 10/s and a burst of 2.
        assert!(limiter.admit(&limited, None, t0).is_ok());
        assert!(limiter.admit(&limited, None, t0).is_ok());
        let wait = limiter.admit(&limited, None, t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(100));
        assert!(limiter.admit(&limited, None, t0 + wait).is_ok());
    }

    #[test]
    fn the_default_applies_to_clients_without_a_rate_and_none_means_unlimited() {
        let limiter = RateLimiter::new(10, 1);
        let t0 = Instant::now();
        let free = client("free", None);
        for _ in 0..1000 {
            assert!(limiter.admit(&free, None, t0).is_ok());
        }
        let default = Rate::parse("1/s", Some(1)).ok();
        assert!(limiter.admit(&free, default, t0).is_ok());
        assert!(limiter.admit(&free, default, t0).is_err());
    }

    #[test]
    fn a_changed_rate_starts_a_fresh_bucket() {
        let limiter = RateLimiter::new(10, 1);
        let t0 = Instant::now();
        let slow = client("c", Some(Rate::parse("1/h", Some(1)).unwrap()));
        assert!(limiter.admit(&slow, None, t0).is_ok());
        assert!(limiter.admit(&slow, None, t0).is_err());
        let fast = client("c", Some(Rate::parse("100/s", Some(5)).unwrap()));
        for _ in 0..5 {
            assert!(limiter.admit(&fast, None, t0).is_ok());
        }
    }

    #[test]
    fn buckets_are_bounded() {
        let rate = Rate::parse("1/h", Some(1)).ok();
        let limiter = RateLimiter::new(3, 1);
        let t0 = Instant::now();
        for i in 0..100 {
            let _ = limiter.admit(&client(&i.to_string(), rate), None, t0);
            assert!(limiter.buckets.borrow().len() <= 3);
        }
    }
}
