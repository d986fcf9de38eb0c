//! Token rates: a client's limit ([`Rate`]: tokens per second and a burst), its text form
//! (`100/s`, `6000/m`), and the token bucket one shard keeps per client ([`Bucket`]).
//!
//! No lock: every shard enforces its share of the limit on its own (`Rate::shard_share`),
//! so a client's tokens across an instance stay within the rate however its connections
//! are spread; a client whose connections all land on one shard gets that shard's share.

use std::fmt;
use std::time::{Duration, Instant};

/// A limit: `per_second` sustained, up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rate {
    pub per_second: f64,
    pub burst: u32,
}

// `per_second` is a finite positive number (checked wherever a `Rate` is made), never NaN.
impl Eq for Rate {}

/// Bounds of a rate a client may be given: from one token an hour.
pub const PER_SECOND_MIN: f64 = 1.0 / 3600.0;
pub const PER_SECOND_MAX: f64 = 1_000_000.0;
pub const BURST_MAX: u32 = 1_000_000;

impl Rate {
    /// `N/s`, `N/m` or `N/h` (N a positive number), with `burst` (default: one second's
    /// worth, at least 1).
    pub fn parse(text: &str, burst: Option<u32>) -> Result<Rate, String> {
        let (number, unit) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("rate {text:?}: write N/s, N/m or N/h"))?;
        let seconds = match unit {
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(format!("rate {text:?}: the unit is /s, /m or /h")),
        };
        let n: f64 = number
            .parse()
            .map_err(|_| format!("rate {text:?}: {number:?} is not a number"))?;
        Rate::new(n / seconds, burst).map_err(|e| format!("rate {text:?}: {e}"))
    }

    /// `per_second` tokens a second, up to `burst` at once (default: a second's worth, at
    /// least 1).
    pub fn new(per_second: f64, burst: Option<u32>) -> Result<Rate, String> {
        if !(PER_SECOND_MIN..=PER_SECOND_MAX).contains(&per_second) {
            return Err(format!("between 1/h and {PER_SECOND_MAX}/s"));
        }
        let burst = burst.unwrap_or_else(|| per_second.ceil().max(1.0) as u32);
        if burst == 0 || burst > BURST_MAX {
            return Err(format!("burst {burst}: between 1 and {BURST_MAX}"));
        }
        Ok(Rate { per_second, burst })
    }

    /// What one of `shards` shards enforces: the rate divided evenly, and the burst too,
    /// rounded up so that every shard can issue at least one token.
    pub fn shard_share(&self, shards: usize) -> Rate {
        let shards = shards.max(1);
        Rate {
            per_second: self.per_second / shards as f64,
            burst: self.burst.div_ceil(shards as u32).max(1),
        }
    }
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s burst {}", self.per_second, self.burst)
    }
}

/// One client's bucket on one shard: full when created, refilled continuously.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn full(rate: &Rate, now: Instant) -> Bucket {
        Bucket {
            tokens: f64::from(rate.burst),
            at: now,
        }
    }

    /// Take one token, or say how long until one is there.
    pub fn take(&mut self, rate: &Rate, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * rate.per_second).min(f64::from(rate.burst));
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64(
            (1.0 - self.tokens) / rate.per_second,
        ))
    }

    /// Refilled to the brim by `now`: forgetting it changes nothing.
    pub fn is_full(&self, rate: &Rate, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens + elapsed * rate.per_second >= f64::from(rate.burst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_in_their_units() {
        assert_eq!(
            Rate::parse("100/s", None),
            Ok(Rate {
                per_second: 100.0,
                burst: 100
            })
        );
        assert_eq!(Rate::parse("60/m", Some(5)).unwrap().per_second, 1.0);
        assert_eq!(Rate::parse("1/h", None).unwrap().burst, 1);
        for bad in ["100", "100/d", "x/s", "0/s", "-1/s", "2000000/s", "0.5/h"] {
            assert!(Rate::parse(bad, None).is_err(), "{bad}");
        }
        assert!(Rate::parse("1/s", Some(0)).is_err());
    }

    #[test]
    fn each_shard_enforces_its_share() {
        let rate = Rate::parse("100/s", Some(10)).unwrap();
        let share = rate.shard_share(4);
        assert_eq!(share.per_second, 25.0);
        assert_eq!(share.burst, 3);
        assert_eq!(Rate::parse("1/s", Some(1)).unwrap().shard_share(8).burst, 1);
    }

    #[test]
    fn a_bucket_allows_the_burst_then_the_rate() {
        let rate = Rate::parse("10/s", Some(3)).unwrap();
        let t0 = Instant::now();
        let mut bucket = Bucket::full(&rate, t0);
        for _ in 0..3 {
            assert_eq!(bucket.take(&rate, t0), Ok(()));
        }
        let wait = bucket.take(&rate, t0).unwrap_err();
        assert!((wait.as_secs_f64() - 0.1).abs() < 1e-9, "{wait:?}");
        assert_eq!(bucket.take(&rate, t0 + Duration::from_millis(100)), Ok(()));
        assert!(bucket.take(&rate, t0 + Duration::from_millis(150)).is_err());
        assert!(!bucket.is_full(&rate, t0 + Duration::from_millis(200)));
        assert!(bucket.is_full(&rate, t0 + Duration::from_secs(1)));
        // Idle for long: still only the burst.
        let later = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(bucket.take(&rate, later), Ok(()));
        }
        assert!(bucket.take(&rate, later).is_err());
    }
}
