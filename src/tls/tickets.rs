//! Session tickets every shard can open.
//!
//! SO_REUSEPORT gives a returning client to any shard, so a ticket sealed by one shard must
//! open on all of them. Instead of sharing a key store between threads (a lock on every
//! handshake), each shard derives the same key from one secret and the clock: the key of
//! period `n` is HKDF(secret, n). A ticket names its period; one from the current or the
//! previous period opens, older ones do not, so keys rotate every
//! [`TICKET_KEY_PERIOD`](limits::TLS_TICKET_KEY_PERIOD) without any coordination.
//!
//! The secret is random per process: a restart forgets every ticket (clients fall back to a
//! full handshake). With `tls_ticket_key_file` it comes from a file instead, so that every
//! instance given the same file opens the others' tickets. It stays in memory for the life
//! of the process, which bounds the forward secrecy of TLS 1.2 resumption by the
//! process's lifetime (or the file's); TLS 1.3 resumption still runs an ephemeral key
//! exchange.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::aead::{AES_256_GCM_SIV, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use rustls::server::ProducesTickets;

use crate::clock;
use crate::limits;
use crate::tls::secret_file::check_private;

/// The secret every shard derives its ticket keys from.
#[derive(Clone)]
pub struct TicketKeys {
    secret: Arc<[u8; SECRET_LEN]>,
}

const SECRET_LEN: usize = 32;
/// Shortest `tls_ticket_key_file`: 256 bits.
pub const TICKET_KEY_FILE_BYTES_MIN: usize = 32;
/// HKDF salt: keys for nothing but tickets.
const SALT: &[u8] = b"edgeauth tls session ticket";
const PERIOD_LEN: usize = 8;

impl TicketKeys {
    pub fn random() -> Result<TicketKeys, String> {
        let mut secret = [0u8; SECRET_LEN];
        SystemRandom::new()
            .fill(&mut secret)
            .map_err(|_| "no randomness for the ticket secret".to_owned())?;
        Ok(TicketKeys {
            secret: Arc::new(secret),
        })
    }

    /// The secret of `tls_ticket_key_file`: at least [`TICKET_KEY_FILE_BYTES_MIN`] bytes,
    /// readable by its owner (and group) only.
    pub fn from_file(path: &std::path::Path) -> Result<TicketKeys, String> {
        let shown = path.display();
        check_private("tls_ticket_key_file", path)?;
        let bytes = std::fs::read(path).map_err(|e| format!("tls_ticket_key_file {shown}: {e}"))?;
        if bytes.len() < TICKET_KEY_FILE_BYTES_MIN {
            return Err(format!(
                "tls_ticket_key_file {shown}: {} bytes; at least {TICKET_KEY_FILE_BYTES_MIN} random bytes \
                 (head -c 32 /dev/urandom > FILE)",
                bytes.len()
            ));
        }
        // Any length in, one 32-byte secret out.
        let prk = Salt::new(HKDF_SHA256, SALT).extract(&bytes);
        let mut secret = [0u8; SECRET_LEN];
        prk.expand(&[b"ticket key file"], HKDF_SHA256)
            .and_then(|okm| okm.fill(&mut secret))
            .map_err(|_| "tls_ticket_key_file: key derivation failed".to_owned())?;
        Ok(TicketKeys {
            secret: Arc::new(secret),
        })
    }

    fn key(&self, period: u64) -> LessSafeKey {
        let prk = Salt::new(HKDF_SHA256, SALT).extract(&self.secret[..]);
        let info = period.to_be_bytes();
        let info = [info.as_slice()];
        let okm = prk
            .expand(&info, &AES_256_GCM_SIV)
            .expect("AES-256 key length is within HKDF's bound");
        LessSafeKey::new(UnboundKey::from(okm))
    }

    fn period_now() -> u64 {
        clock::unix_now_s() / limits::TLS_TICKET_KEY_PERIOD.as_secs()
    }

    /// Ticket: period (8 bytes, big-endian) ‖ nonce ‖ sealed state. The period is also the
    /// associated data, so a ticket cannot be moved to another period's key.
    fn seal(&self, period: u64, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).ok()?;
        let header = period.to_be_bytes();
        let mut ticket = Vec::with_capacity(PERIOD_LEN + NONCE_LEN + plain.len() + 16);
        ticket.extend_from_slice(&header);
        ticket.extend_from_slice(&nonce);
        let mut sealed = plain.to_vec();
        self.key(period)
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(header),
                &mut sealed,
            )
            .ok()?;
        ticket.extend_from_slice(&sealed);
        Some(ticket)
    }

    fn open(&self, now: u64, ticket: &[u8]) -> Option<Vec<u8>> {
        let (header, rest) = ticket.split_first_chunk::<PERIOD_LEN>()?;
        let (nonce, sealed) = rest.split_first_chunk::<NONCE_LEN>()?;
        let period = u64::from_be_bytes(*header);
        if period != now && Some(period) != now.checked_sub(1) {
            return None;
        }
        let mut buf = sealed.to_vec();
        let plain_len = self
            .key(period)
            .open_in_place(
                Nonce::assume_unique_for_key(*nonce),
                Aad::from(*header),
                &mut buf,
            )
            .ok()?
            .len();
        buf.truncate(plain_len);
        Some(buf)
    }
}

impl fmt::Debug for TicketKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TicketKeys(..)")
    }
}

impl ProducesTickets for TicketKeys {
    fn enabled(&self) -> bool {
        true
    }

    /// A ticket opens until the end of the period after the one it was sealed in: at least
    /// one whole period.
    fn lifetime(&self) -> u32 {
        limits::TLS_TICKET_KEY_PERIOD.as_secs() as u32
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.seal(TicketKeys::period_now(), plain)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        self.open(TicketKeys::period_now(), cipher)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_opens_in_its_period_and_the_next_only() {
        let keys = TicketKeys::random().unwrap();
        let ticket = keys.seal(100, b"session state").unwrap();
        assert_eq!(keys.open(100, &ticket).unwrap(), b"session state");
        assert_eq!(keys.open(101, &ticket).unwrap(), b"session state");
        assert!(keys.open(102, &ticket).is_none());
        assert!(keys.open(99, &ticket).is_none());
    }

    #[test]
    fn every_copy_opens_the_others_tickets_and_no_other_secret_does() {
        let keys = TicketKeys::random().unwrap();
        let shard_copy = keys.clone();
        let ticket = keys.encrypt(b"state").unwrap();
        assert_eq!(shard_copy.decrypt(&ticket).unwrap(), b"state");
        let other = TicketKeys::random().unwrap();
        assert!(other.decrypt(&ticket).is_none());
    }

    #[test]
    fn instances_with_one_key_file_open_each_others_tickets() {
        use std::os::unix::fs::PermissionsExt;
        let path = std::env::temp_dir().join(format!("edgeauth-ticket-key-{}", std::process::id()));
        std::fs::write(&path, [7u8; 40]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let (a, b) = (
            TicketKeys::from_file(&path).unwrap(),
            TicketKeys::from_file(&path).unwrap(),
        );
        let ticket = a.encrypt(b"state").unwrap();
        assert_eq!(b.decrypt(&ticket).unwrap(), b"state");
        std::fs::write(&path, [7u8; 31]).unwrap();
        assert!(
            TicketKeys::from_file(&path)
                .unwrap_err()
                .contains("at least 32")
        );
        std::fs::write(&path, [7u8; 40]).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(
            TicketKeys::from_file(&path)
                .unwrap_err()
                .contains("other users")
        );
        std::fs::remove_file(&path).unwrap();
    }

    #[test]
    fn tampered_moved_or_short_tickets_do_not_open() {
        let keys = TicketKeys::random().unwrap();
        let ticket = keys.seal(7, b"state").unwrap();
        for i in 0..ticket.len() {
            let mut bad = ticket.clone();
            bad[i] ^= 1;
            assert!(keys.open(7, &bad).is_none(), "byte {i} flipped");
        }
        // The same sealed bytes under another period's header.
        let mut moved = ticket.clone();
        moved[..8].copy_from_slice(&8u64.to_be_bytes());
        assert!(keys.open(8, &moved).is_none());
        for len in 0..PERIOD_LEN + NONCE_LEN + 16 {
            assert!(keys.open(7, &ticket[..len]).is_none());
        }
    }
}
