//! Single-use credentials: a client assertion's `jti` (RFC 7523 §3) and a DPoP proof's
//! (RFC 9449 §11.1) are accepted once on every shard of this instance.
//!
//! Without a lock: every id has one owner shard, picked by its hash, which alone remembers
//! it ([`seen::SeenSet`]). A shard checks the ids it owns itself and asks the owner of any
//! other by message ([`exchange`]), then awaits the answer. An id is remembered until its
//! credential expires; instances do not share what they remember.
//!
//! * [`seen`]: one shard's ids, bounded, forgotten as they expire.
//! * [`exchange`]: the inboxes and wake-ups between shards.

pub mod exchange;
pub mod seen;

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use aws_lc_rs::digest;
use hashbrown::HashMap;
use local_sync::oneshot;

use crate::clock;
use crate::limits;
use exchange::{Message, Port};
use seen::{Key, Outcome, SeenSet};

/// Which kind of credential an id belongs to: an id is single-use within its kind and
/// its issuer only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `jti` of a client's own assertion; scoped by the client id.
    ClientAssertion,
    /// `jti` of a DPoP proof; scoped by the proof key's thumbprint.
    DpopProof,
}

/// The 16 bytes an id is remembered by: SHA-256 over its kind, its scope and the id, so
/// ids of any length cost the same memory, and one client cannot use up another's ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplayKey(Key);

impl ReplayKey {
    pub fn new(kind: Kind, scope: &str, jti: &str) -> ReplayKey {
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&[kind as u8]);
        ctx.update(&(scope.len() as u64).to_be_bytes());
        ctx.update(scope.as_bytes());
        ctx.update(jti.as_bytes());
        let mut key = [0u8; 16];
        key.copy_from_slice(&ctx.finish().as_ref()[..16]);
        ReplayKey(key)
    }

    /// The shard that remembers this id.
    fn owner(&self, shards: usize) -> usize {
        let mut first = [0u8; 8];
        first.copy_from_slice(&self.0[..8]);
        (u64::from_le_bytes(first) % shards as u64) as usize
    }
}

/// What the check found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// First use: accept the credential.
    Fresh,
    /// Used before: refuse it.
    Replayed,
    /// Cannot be checked now (the owner remembers as many ids as it may, is too slow to
    /// answer, or has gone): refuse it as unavailable, never accept it.
    Unchecked,
}

/// One shard's part: the ids it owns, and the requests it has sent to other owners.
pub struct ReplayGuard {
    seen: RefCell<SeenSet>,
    port: Port,
    awaiting: RefCell<HashMap<u64, oneshot::Sender<Outcome>>>,
    next_request: Cell<u64>,
}

impl ReplayGuard {
    pub fn new(port: Port) -> ReplayGuard {
        ReplayGuard {
            seen: RefCell::new(SeenSet::new(limits::REPLAY_IDS_PER_SHARD_MAX)),
            port,
            awaiting: RefCell::new(HashMap::new()),
            next_request: Cell::new(0),
        }
    }

    /// The socket [`ReplayGuard::serve`] reads (once).
    pub fn take_wake(&mut self) -> Option<std::os::unix::net::UnixStream> {
        self.port.take_wake()
    }

    /// Is this the first use of `key`, whose credential expires at `expires_at` (Unix
    /// seconds)? Answered at once for ids this shard owns, by the owner's shard otherwise.
    pub async fn first_use(&self, key: ReplayKey, expires_at: u64) -> Verdict {
        let owner = key.owner(self.port.shards());
        if owner == self.port.shard_id {
            return self.remember(key.0, expires_at).into();
        }
        if self.awaiting.borrow().len() >= limits::REPLAY_AWAITING_MAX {
            return Verdict::Unchecked;
        }
        let id = self.next_request.get();
        self.next_request.set(id + 1);
        let (tx, rx) = oneshot::channel();
        self.awaiting.borrow_mut().insert(id, tx);
        let _forget = Forget { guard: self, id };
        let check = Message::Check {
            key: key.0,
            expires_at,
            from: self.port.shard_id,
            id,
        };
        if !self.port.send(owner, check) {
            return Verdict::Unchecked;
        }
        match monoio::time::timeout(limits::REPLAY_ANSWER_TIMEOUT, rx).await {
            Ok(Ok(outcome)) => outcome.into(),
            _ => Verdict::Unchecked,
        }
    }

    fn remember(&self, key: Key, expires_at: u64) -> Outcome {
        self.seen
            .borrow_mut()
            .insert(key, expires_at, clock::unix_now_s())
    }

    /// Ids this shard remembers now.
    pub fn remembered(&self) -> usize {
        self.seen.borrow().len()
    }

    /// The shard's task: answer other shards' checks and deliver their answers to ours,
    /// for as long as the shard runs.
    pub async fn serve(self: Rc<Self>, wake: std::os::unix::net::UnixStream) {
        use monoio::io::AsyncReadRent;
        let Ok(mut wake) = monoio::net::UnixStream::from_std(wake) else {
            crate::log::error("replay exchange: cannot watch the wake-up socket", &[]);
            return;
        };
        let mut buf = vec![0u8; 64];
        loop {
            let (res, b) = wake.read(buf).await;
            buf = b;
            if !matches!(res, Ok(n) if n > 0) {
                return;
            }
            for message in self.port.drain() {
                self.handle(message);
            }
        }
    }

    fn handle(&self, message: Message) {
        match message {
            Message::Check {
                key,
                expires_at,
                from,
                id,
            } => {
                let outcome = self.remember(key, expires_at);
                // A requester that has gone no longer needs the answer.
                let _ = self.port.send(from, Message::Answer { id, outcome });
            }
            Message::Answer { id, outcome } => {
                if let Some(tx) = self.awaiting.borrow_mut().remove(&id) {
                    let _ = tx.send(outcome);
                }
            }
        }
    }
}

impl From<Outcome> for Verdict {
    fn from(outcome: Outcome) -> Verdict {
        match outcome {
            Outcome::Fresh => Verdict::Fresh,
            Outcome::Replayed => Verdict::Replayed,
            Outcome::Full => Verdict::Unchecked,
        }
    }
}

/// Drops a request's entry when its wait ends, answered, timed out or cancelled.
struct Forget<'a> {
    guard: &'a ReplayGuard,
    id: u64,
}

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        self.guard.awaiting.borrow_mut().remove(&self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::exchange::ports;
    use super::*;
    use std::sync::mpsc;

    /// A key owned by shard `owner` of two.
    fn key_owned_by(owner: usize, salt: &str) -> ReplayKey {
        (0..)
            .map(|i| ReplayKey::new(Kind::DpopProof, salt, &i.to_string()))
            .find(|k| k.owner(2) == owner)
            .expect("half of all keys")
    }

    fn run_shard<T: Send + 'static>(
        port: Port,
        body: impl FnOnce(Rc<ReplayGuard>) -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>>
        + Send
        + 'static,
    ) -> std::thread::JoinHandle<T> {
        std::thread::spawn(move || {
            let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
                .enable_timer()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let mut guard = ReplayGuard::new(port);
                let wake = guard.take_wake().expect("wake end");
                let guard = Rc::new(guard);
                monoio::spawn(guard.clone().serve(wake));
                body(guard).await
            })
        })
    }

    #[test]
    fn ids_of_another_shard_are_checked_by_that_shard() {
        let mut ports = ports(2).expect("ports").into_iter();
        let (port0, port1) = (ports.next().unwrap(), ports.next().unwrap());
        let (done_tx, done_rx) = mpsc::channel::<()>();
        // Shard 1 only serves, until shard 0 is done.
        let owner = run_shard(port1, move |guard| {
            Box::pin(async move {
                while done_rx.try_recv().is_err() {
                    monoio::time::sleep(std::time::Duration::from_millis(5)).await;
                }
                guard.remembered()
            })
        });
        let asker = run_shard(port0, |guard| {
            Box::pin(async move {
                let far = clock::unix_now_s() + 60;
                let remote = key_owned_by(1, "a");
                let local = key_owned_by(0, "a");
                let verdicts = [
                    guard.first_use(remote, far).await,
                    guard.first_use(remote, far).await,
                    guard.first_use(local, far).await,
                    guard.first_use(local, far).await,
                ];
                (verdicts, guard.remembered())
            })
        });
        let (verdicts, remembered_here) = asker.join().expect("shard 0");
        done_tx.send(()).unwrap();
        assert_eq!(
            verdicts,
            [
                Verdict::Fresh,
                Verdict::Replayed,
                Verdict::Fresh,
                Verdict::Replayed
            ]
        );
        assert_eq!(remembered_here, 1, "the local id only");
        assert_eq!(
            owner.join().expect("shard 1"),
            1,
            "the remote id, at its owner"
        );
    }

    #[test]
    fn an_owner_that_has_gone_leaves_the_id_unchecked() {
        let mut ports = ports(2).expect("ports").into_iter();
        let port0 = ports.next().unwrap();
        drop(ports); // shard 1 never started
        let verdict = run_shard(port0, |guard| {
            Box::pin(async move { guard.first_use(key_owned_by(1, "b"), u64::MAX).await })
        })
        .join()
        .expect("shard 0");
        assert_eq!(verdict, Verdict::Unchecked);
    }
}
