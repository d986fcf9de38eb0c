//! The one place the wall clock is read.
//!
//! Token claims (`iat`, `exp`), jti timestamps, revocation expiry and log lines all need
//! Unix time; reading it here keeps "what time is it" one answer and makes the places that
//! depend on it easy to find. Elapsed time and deadlines use `Instant` (monotonic), not
//! this. A clock before 1970 reads as the epoch rather than failing a request.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Time since the Unix epoch.
#[inline]
pub fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// Whole seconds since the Unix epoch: the unit of `iat`, `exp` and revocation expiry.
#[inline]
pub fn unix_now_s() -> u64 {
    unix_now().as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_plausible_time() {
        // 2020-01-01 and 2200-01-01: a clock outside these is broken, not merely skewed.
        let s = unix_now_s();
        assert!((1_577_836_800..7_258_118_400).contains(&s));
        assert!(unix_now().as_millis() / 1000 >= u128::from(s));
    }
}
