//! Token ids (`jti`): UUIDv7 (RFC 9562 §5.7) from a per-shard random pool.
//!
//! Why v7: the `tokens` table's primary key is the jti, and time-ordered keys land at the
//! right edge of the B-tree, so batch inserts touch few pages. Why a pool: each shard owns a
//! generator and draws random bytes from aws-lc's CSPRNG (a DRBG seeded from the OS) in
//! blocks, so minting an id is a copy from memory, with no syscall and no lock per token.
//! 74 random bits per millisecond per instance make collisions negligible across shards
//! and instances: ~2^37 ids in one millisecond before a 50% chance of one collision.

use uuid::Uuid;

/// Random bytes consumed per id: 74 bits are used, the other 6 are overwritten by the
/// version and variant fields.
const RANDOM_BYTES_PER_ID: usize = 10;
/// Ids minted per refill of the pool; one aws-lc call per this many tokens.
const IDS_PER_REFILL: usize = 256;
/// Size of the random pool.
const POOL_BYTES: usize = RANDOM_BYTES_PER_ID * IDS_PER_REFILL;
/// UUIDv7 carries a 48-bit millisecond timestamp.
const UNIX_MS_MAX: u64 = (1 << 48) - 1;

/// Mints UUIDv7 token ids. Owned by one shard (`&mut self`), so it needs no lock.
pub struct JtiGenerator {
    pool: Box<[u8; POOL_BYTES]>,
    /// Offset of the next unused byte in `pool`; `POOL_BYTES` means "refill first".
    pool_used: usize,
    /// Largest timestamp handed out so far: if the wall clock steps back, ids keep the
    /// last timestamp instead of going backwards, so the time prefix never decreases.
    last_unix_ms: u64,
}

impl Default for JtiGenerator {
    fn default() -> Self {
        Self::new()
    }
}

/// When a jti of ours was minted: the UUIDv7's 48-bit millisecond timestamp.
pub fn issued_at_ms(jti: &[u8; 16]) -> u64 {
    u64::from_be_bytes([0, 0, jti[0], jti[1], jti[2], jti[3], jti[4], jti[5]])
}

impl JtiGenerator {
    /// A generator with an empty pool; the first `next` fills it.
    pub fn new() -> JtiGenerator {
        JtiGenerator {
            pool: Box::new([0; POOL_BYTES]),
            pool_used: POOL_BYTES,
            last_unix_ms: 0,
        }
    }

    /// The next id for a token issued at `unix_ms` (milliseconds since the Unix epoch).
    ///
    /// Use `uuid.hyphenated().encode_lower(&mut [0u8; 36])` for the text form without
    /// allocating.
    pub fn next(&mut self, unix_ms: u64) -> Uuid {
        if self.pool_used == POOL_BYTES {
            self.refill();
        }
        let random = &self.pool[self.pool_used..self.pool_used + RANDOM_BYTES_PER_ID];
        self.pool_used += RANDOM_BYTES_PER_ID;
        debug_assert!(self.pool_used <= POOL_BYTES);

        let unix_ms = unix_ms.clamp(self.last_unix_ms, UNIX_MS_MAX);
        self.last_unix_ms = unix_ms;
        let mut bytes = [0u8; 16];
        bytes[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
        bytes[6] = 0x70 | (random[0] & 0x0f); // version 7 + 4 random bits
        bytes[7] = random[1];
        bytes[8] = 0x80 | (random[2] & 0x3f); // variant 0b10 + 6 random bits
        bytes[9..].copy_from_slice(&random[3..]);
        Uuid::from_bytes(bytes)
    }

    #[cold]
    fn refill(&mut self) {
        // AWS-LC's RAND_bytes aborts the process rather than return weak output, so the
        // error branch is unreachable in practice; failing loudly beats weak token ids.
        if aws_lc_rs::rand::fill(&mut self.pool[..]).is_err() {
            panic!("the system CSPRNG failed; refusing to mint predictable token ids");
        }
        self.pool_used = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_700_000_000_123;

    fn unix_ms(id: &Uuid) -> u64 {
        let b = id.as_bytes();
        u64::from_be_bytes([0, 0, b[0], b[1], b[2], b[3], b[4], b[5]])
    }

    #[test]
    fn ids_are_rfc_9562_version_7() {
        let mut jti = JtiGenerator::new();
        for i in 0..1000 {
            let id = jti.next(MS + i);
            assert_eq!(id.get_version_num(), 7);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            assert_eq!(unix_ms(&id), MS + i);
            let mut text = [0u8; 36];
            let text = id.hyphenated().encode_lower(&mut text);
            assert_eq!(Uuid::parse_str(text).expect("parses"), id);
        }
    }

    #[test]
    fn time_prefix_never_decreases_even_if_the_clock_steps_back() {
        let mut jti = JtiGenerator::new();
        let a = jti.next(MS);
        let b = jti.next(MS - 5_000);
        let c = jti.next(MS + 1);
        assert_eq!(unix_ms(&a), MS);
        assert_eq!(unix_ms(&b), MS);
        assert_eq!(unix_ms(&c), MS + 1);
        assert!(c > a && c > b);
        assert_eq!(unix_ms(&jti.next(u64::MAX)), UNIX_MS_MAX);
    }

    #[test]
    fn no_duplicates_over_a_million_ids_in_one_millisecond() {
        let mut jti = JtiGenerator::new();
        let mut ids: Vec<u128> = (0..1_000_000).map(|_| jti.next(MS).as_u128()).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), 1_000_000);
    }

    #[test]
    fn random_bits_differ_between_generators() {
        let a = JtiGenerator::new().next(MS);
        let b = JtiGenerator::new().next(MS);
        assert_ne!(a, b);
    }
}
