//! Messages between shards, for the replay check: every shard has an inbox (a std mpsc
//! channel, lock-free) and a wake-up socket its own task reads. A sender writes the wake-up
//! byte only when the receiver has none waiting, so a burst of messages costs the receiver
//! one read.

use std::io::Write as _;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

use super::seen::{Key, Outcome};

/// What shards tell each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Message {
    /// "Is `key` fresh? Remember it until `expires_at`." From shard `from`, whose request
    /// `id` awaits the answer.
    Check {
        key: Key,
        expires_at: u64,
        from: usize,
        id: u64,
    },
    /// The owner's answer to request `id`.
    Answer { id: u64, outcome: Outcome },
}

/// How to reach one shard: its inbox and its wake-up socket.
struct Peer {
    inbox: mpsc::Sender<Message>,
    wake: UnixStream,
    /// A wake-up byte is on its way (or unread): later senders need not write one.
    wake_sent: AtomicBool,
}

/// One shard's end of the exchange: its inbox, and the way to every shard's.
pub struct Port {
    pub shard_id: usize,
    inbox: mpsc::Receiver<Message>,
    /// The shard's task reads this; taken once ([`Port::take_wake`]).
    wake: Option<UnixStream>,
    peers: Arc<[Peer]>,
}

/// One port per shard, every one able to reach every other.
pub fn ports(shards: usize) -> std::io::Result<Vec<Port>> {
    let mut peers = Vec::with_capacity(shards);
    let mut ends = Vec::with_capacity(shards);
    for _ in 0..shards {
        let (tx, rx) = mpsc::channel();
        let (write, read) = UnixStream::pair()?;
        // A full socket buffer means wake-ups are waiting already: never block on it. The
        // read end is the shard runtime's, which must never block either (epoll driver).
        write.set_nonblocking(true)?;
        read.set_nonblocking(true)?;
        peers.push(Peer {
            inbox: tx,
            wake: write,
            wake_sent: AtomicBool::new(false),
        });
        ends.push((rx, read));
    }
    let peers: Arc<[Peer]> = peers.into();
    Ok(ends
        .into_iter()
        .enumerate()
        .map(|(shard_id, (inbox, wake))| Port {
            shard_id,
            inbox,
            wake: Some(wake),
            peers: peers.clone(),
        })
        .collect())
}

impl Port {
    pub fn shards(&self) -> usize {
        self.peers.len()
    }

    /// The socket whose bytes say "look at the inbox"; `None` after the first call.
    pub fn take_wake(&mut self) -> Option<UnixStream> {
        self.wake.take()
    }

    /// Put `message` in shard `to`'s inbox and wake it; false if that shard has gone.
    pub fn send(&self, to: usize, message: Message) -> bool {
        let peer = &self.peers[to];
        if peer.inbox.send(message).is_err() {
            return false;
        }
        if !peer.wake_sent.swap(true, Ordering::SeqCst) {
            // An error (EAGAIN: bytes are waiting anyway) changes nothing for the receiver.
            let _ = (&peer.wake).write(&[1]);
        }
        true
    }

    /// Every message waiting, after a wake-up. Clearing the flag before draining means a
    /// message sent after the drain has begun either is drained or writes a new byte.
    pub fn drain(&self) -> mpsc::TryIter<'_, Message> {
        self.peers[self.shard_id]
            .wake_sent
            .store(false, Ordering::SeqCst);
        self.inbox.try_iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn check(id: u64) -> Message {
        Message::Check {
            key: [7; 16],
            expires_at: 100,
            from: 0,
            id,
        }
    }

    #[test]
    fn a_burst_costs_one_wake_up_byte() {
        let mut ports = ports(2).expect("ports");
        let mut wake = ports[1].take_wake().expect("wake end");
        assert!(ports[1].take_wake().is_none(), "taken once");
        for id in 0..5 {
            assert!(ports[0].send(1, check(id)));
        }
        let mut buf = [0u8; 16];
        assert_eq!(wake.read(&mut buf).unwrap(), 1);
        let got: Vec<Message> = ports[1].drain().collect();
        assert_eq!(got, (0..5).map(check).collect::<Vec<_>>());
        // Drained: the next message wakes the shard again.
        assert!(ports[0].send(1, check(9)));
        assert_eq!(wake.read(&mut buf).unwrap(), 1);
        assert_eq!(ports[1].drain().count(), 1);
        let _ = ports.pop();
        assert!(!ports[0].send(1, check(10)), "that shard has gone");
    }
}
