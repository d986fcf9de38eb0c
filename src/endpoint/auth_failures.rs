//! A bound on failed client authentications (guessing a secret, trying ids), per client id
//! and per source address, on each shard: past it, every attempt for that id or from that
//! address is refused for the rest of the window with the same `invalid_client` a wrong
//! secret gets, whether or not its credentials are right, so a guesser learns nothing even
//! when it guesses right. Shard-owned maps, no lock; each shard counts its own connections'
//! failures, so a guesser spread over N shards gets N times the bound.

use std::cell::RefCell;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::Instant;

use hashbrown::HashMap;

use crate::audit;
use crate::limits;
use crate::rate::{Bucket, Rate};

/// Audit events of failed authentications one shard writes at most.
const AUDIT_RATE: Rate = Rate {
    per_second: limits::AUDITED_AUTH_FAILURES_PER_SECOND,
    burst: limits::AUDITED_AUTH_FAILURES_BURST,
};

/// Failures counted in the window that began with the first of them.
#[derive(Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

impl Window {
    fn current(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.started) < limits::FAILED_AUTH_WINDOW
    }
}

pub struct FailureBounds {
    by_client: RefCell<HashMap<String, Window>>,
    by_source: RefCell<HashMap<IpAddr, Window>>,
    /// Audit events of failures this shard may still write, and those it did not write
    /// since the last one it did: a flood of failures cannot fill the disk.
    audit_budget: RefCell<(Bucket, u64)>,
    /// Failures allowed per window; 0: no bound.
    per_client: u32,
    per_source: u32,
}

impl FailureBounds {
    pub fn new(per_client: u32, per_source: u32) -> FailureBounds {
        FailureBounds {
            by_client: RefCell::new(HashMap::new()),
            by_source: RefCell::new(HashMap::new()),
            audit_budget: RefCell::new((Bucket::full(&AUDIT_RATE, Instant::now()), 0)),
            per_client,
            per_source,
        }
    }

    /// Has this client id, or this address, failed too often in its current window?
    pub fn refuses(&self, client_id: &str, source: IpAddr, now: Instant) -> bool {
        // The usual case costs no hashing: nobody has failed lately.
        if self.by_source.borrow().is_empty() {
            return false;
        }
        let over = |window: Option<&Window>, max: u32| {
            max > 0 && window.is_some_and(|w| w.current(now) && w.failures >= max)
        };
        over(self.by_client.borrow().get(client_id), self.per_client)
            || over(self.by_source.borrow().get(&source), self.per_source)
    }

    /// Write the audit event of one failed authentication, unless this shard's budget of
    /// such events is spent; the next one written says how many were left out.
    pub fn audit(&self, client_id: &str, source: IpAddr, reason: &str, now: Instant) {
        let mut budget = self.audit_budget.borrow_mut();
        let (bucket, suppressed) = &mut *budget;
        if bucket.take(&AUDIT_RATE, now).is_err() {
            *suppressed += 1;
            return;
        }
        // The id as presented, cut to the longest a client's may be.
        let mut shown = client_id.len().min(limits::CLIENT_ID_BYTES_MAX);
        while !client_id.is_char_boundary(shown) {
            shown -= 1;
        }
        audit::record(
            "client.authentication_failed",
            &[
                ("client_id", &&client_id[..shown]),
                ("source", &source),
                ("reason", &reason),
                ("suppressed_before", suppressed),
            ],
        );
        *suppressed = 0;
    }

    /// Forget the windows that have passed, so that a shard nobody fails on again checks
    /// nothing.
    pub fn forget_expired(&self, now: Instant) {
        self.by_client.borrow_mut().retain(|_, w| w.current(now));
        self.by_source.borrow_mut().retain(|_, w| w.current(now));
    }

    /// Count one failed authentication of `client_id` from `source`.
    pub fn record(&self, client_id: &str, source: IpAddr, now: Instant) {
        if self.per_client == 0 && self.per_source == 0 {
            return;
        }
        // An id longer than any client's is no client's: counted by its address only, so
        // that what the map holds stays bounded per entry too.
        if client_id.len() <= limits::CLIENT_ID_BYTES_MAX {
            count(&mut self.by_client.borrow_mut(), client_id, now);
        }
        count(&mut self.by_source.borrow_mut(), &source, now);
    }
}

/// One more failure for `key`, in a new window if its last one has passed. A full map first
/// forgets the windows that have passed, else one at random (that key starts over: the
/// memory bound wins over the count; the per-address bound still holds for a guesser who
/// floods the ids).
fn count<Q>(windows: &mut HashMap<Q::Owned, Window>, key: &Q, now: Instant)
where
    Q: Hash + Eq + ToOwned + ?Sized,
    Q::Owned: Hash + Eq + Clone,
{
    let fresh = Window {
        started: now,
        failures: 1,
    };
    if let Some(window) = windows.get_mut(key) {
        if window.current(now) {
            window.failures = window.failures.saturating_add(1);
        } else {
            *window = fresh;
        }
        return;
    }
    if windows.len() >= limits::FAILED_AUTH_TRACKED_MAX {
        windows.retain(|_, w| w.current(now));
    }
    if windows.len() >= limits::FAILED_AUTH_TRACKED_MAX
        && let Some(any) = windows.keys().next().cloned()
    {
        windows.remove(&any);
    }
    windows.insert(key.to_owned(), fresh);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn past_the_bound_an_id_or_an_address_is_refused_for_the_window() {
        let bounds = FailureBounds::new(100, 30);
        let t0 = Instant::now();
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        for _ in 0..30 {
            assert!(!bounds.refuses("victim", a, t0));
            bounds.record("x", a, t0);
        }
        assert!(bounds.refuses("anyone", a, t0), "the address is over");
        assert!(!bounds.refuses("anyone", b, t0), "another address is not");
        let later = t0 + limits::FAILED_AUTH_WINDOW;
        assert!(!bounds.refuses("anyone", a, later), "a new window");

        for i in 0..100u32 {
            let source = IpAddr::from([10, 1, (i / 256) as u8, (i % 256) as u8]);
            bounds.record("victim", source, t0);
        }
        assert!(
            bounds.refuses("victim", b, t0 + Duration::from_secs(1)),
            "the id is over, from any address"
        );
        assert!(!bounds.refuses("other", b, t0));
    }

    #[test]
    fn an_id_longer_than_any_clients_is_counted_by_its_address_only() {
        let bounds = FailureBounds::new(100, 30);
        let long = "x".repeat(limits::CLIENT_ID_BYTES_MAX + 1);
        bounds.record(&long, IpAddr::from([10, 0, 0, 1]), Instant::now());
        assert!(bounds.by_client.borrow().is_empty());
        assert_eq!(bounds.by_source.borrow().len(), 1);
    }

    #[test]
    fn zero_is_no_bound() {
        let bounds = FailureBounds::new(0, 0);
        let t0 = Instant::now();
        let a = IpAddr::from([10, 0, 0, 1]);
        for _ in 0..1000 {
            bounds.record("x", a, t0);
        }
        assert!(!bounds.refuses("x", a, t0));
    }

    #[test]
    fn tracking_is_bounded() {
        let bounds = FailureBounds::new(100, 30);
        let t0 = Instant::now();
        for i in 0..(limits::FAILED_AUTH_TRACKED_MAX + 100) {
            bounds.record(&format!("id-{i}"), IpAddr::from([10, 0, 0, 1]), t0);
        }
        assert!(bounds.by_client.borrow().len() <= limits::FAILED_AUTH_TRACKED_MAX);
    }
}
