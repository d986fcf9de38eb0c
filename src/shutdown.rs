//! Graceful shutdown, one shard at a time.
//!
//! # Protocol
//!
//! 1. One thread owns SIGTERM and SIGINT (`server::serve`). On the first signal it writes
//!    `WAKE_SHUTDOWN` to every shard's wake-up socket; on a second one it exits the process
//!    at once. (The same socket carries `WAKE_RELOAD` for SIGHUP's key reload.)
//! 2. In each shard, the task reading that socket fires the shard's [`Shutdown`] latch.
//! 3. The accept loop stops accepting. Each connection finishes the requests it already has
//!    (answering them with `Connection: close`), writes the responses, and closes; an idle
//!    keep-alive connection closes at once.
//! 4. The shard waits for its connections to drain (at most `limits::SHUTDOWN_DRAIN_MAX`),
//!    then closes its database session (Terminate after the last answer) and its thread ends.
//! 5. When every shard thread has ended, the process exits 0.

use std::cell::Cell;
use std::rc::Rc;

use crate::wake::Event;

/// A one-way, single-threaded latch: once fired, every waiter wakes and stays woken.
#[derive(Clone, Default)]
pub struct Shutdown(Rc<Inner>);

#[derive(Default)]
struct Inner {
    fired: Cell<bool>,
    fire: Event,
}

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    pub fn fire(&self) {
        if !self.0.fired.replace(true) {
            self.0.fire.notify();
        }
    }

    pub fn is_fired(&self) -> bool {
        self.0.fired.get()
    }

    /// Resolves once the latch has fired (at once if it has).
    pub async fn wait(&self) {
        if !self.is_fired() {
            self.0.fire.wait().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waiters_wake_on_fire_and_do_not_accumulate() {
        let rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build();
        rt.unwrap().block_on(async {
            let shutdown = Shutdown::new();
            for _ in 0..100 {
                let wait = shutdown.wait();
                let _ = monoio::time::timeout(std::time::Duration::from_millis(1), wait).await;
            }
            assert_eq!(shutdown.0.fire.waiters(), 0, "dropped waits deregister");
            let s2 = shutdown.clone();
            let task = monoio::spawn(async move { s2.wait().await });
            monoio::time::sleep(std::time::Duration::from_millis(5)).await;
            shutdown.fire();
            task.await;
            assert!(shutdown.is_fired());
            shutdown.wait().await; // already fired: ready at once
        });
    }
}
