//! The one wake-up primitive for tasks of one shard: [`Event`].
//!
//! Everything a shard waits on besides I/O and timers (its shutdown latch, its database
//! connection's writer, its batch writer's queue and room) is "something changed; look
//! again". An `Event` counts its notifications; a [`Wait`] made from it resolves once the
//! count has moved past what it saw when it was made, so a notification between making a
//! wait and its first poll is never lost. Each pending wait keeps one waker, replaced on
//! every poll and removed when the wait is dropped, so waits that time out or lose a
//! `select!` leave nothing behind. Single-threaded: `Rc` and `Cell`, no atomics.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use hashbrown::HashMap;

#[derive(Default)]
pub struct Event {
    notified: Cell<u64>,
    next_wait_id: Cell<u64>,
    waiters: RefCell<HashMap<u64, Waker>>,
}

impl Event {
    pub fn new() -> Event {
        Event::default()
    }

    /// Wake every pending wait, and count the notification for waits not yet polled.
    pub fn notify(&self) {
        self.notified.set(self.notified.get() + 1);
        // One at a time, with the map released before each wake (a woken task may touch
        // it), and without collecting them anywhere: notifying allocates nothing.
        while let Some(waker) = self.take_waiter() {
            waker.wake();
        }
    }

    fn take_waiter(&self) -> Option<Waker> {
        let mut waiters = self.waiters.borrow_mut();
        let id = *waiters.keys().next()?;
        waiters.remove(&id)
    }

    /// Resolves at the first [`Event::notify`] after this call.
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            event: self,
            ticket: self.ticket(),
        }
    }

    /// A wait for a future written by hand that owns what holds the event (an `Rc`) and so
    /// cannot borrow it: poll it with [`Event::poll_ticket`], and [`Event::forget`] it when
    /// the future is dropped.
    pub fn ticket(&self) -> Ticket {
        let id = self.next_wait_id.get();
        self.next_wait_id.set(id + 1);
        Ticket {
            id,
            seen: self.notified.get(),
        }
    }

    /// Ready once the event was notified after `ticket` was made; otherwise the task is
    /// woken by the next notification.
    pub fn poll_ticket(&self, ticket: &Ticket, cx: &mut Context<'_>) -> Poll<()> {
        if self.notified.get() != ticket.seen {
            self.forget(ticket);
            return Poll::Ready(());
        }
        self.waiters
            .borrow_mut()
            .insert(ticket.id, cx.waker().clone());
        Poll::Pending
    }

    /// Drop the waker a ticket left, if any.
    pub fn forget(&self, ticket: &Ticket) {
        self.waiters.borrow_mut().remove(&ticket.id);
    }

    /// Pending waits that have been polled: for tests that check nothing accumulates.
    pub fn waiters(&self) -> usize {
        self.waiters.borrow().len()
    }
}

/// One waiter's place: made at a moment, ready at the first notification after it.
#[derive(Debug)]
pub struct Ticket {
    id: u64,
    seen: u64,
}

pub struct Wait<'a> {
    event: &'a Event,
    ticket: Ticket,
}

impl Future for Wait<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.event.poll_ticket(&self.ticket, cx)
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        self.event.forget(&self.ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;
    use std::time::Duration;

    fn block_on<F: Future>(f: F) -> F::Output {
        monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_notification_before_the_first_poll_counts() {
        block_on(async {
            let event = Event::new();
            let wait = event.wait();
            event.notify();
            wait.await;
        });
    }

    #[test]
    fn every_waiter_wakes_and_dropped_waits_leave_nothing() {
        block_on(async {
            let event = Rc::new(Event::new());
            for _ in 0..100 {
                let _ = monoio::time::timeout(Duration::from_millis(1), event.wait()).await;
            }
            assert_eq!(event.waiters(), 0, "timed-out waits deregister");
            let tasks: Vec<_> = (0..3)
                .map(|_| {
                    let e = event.clone();
                    monoio::spawn(async move { e.wait().await })
                })
                .collect();
            monoio::time::sleep(Duration::from_millis(5)).await;
            assert_eq!(event.waiters(), 3);
            event.notify();
            for t in tasks {
                t.await;
            }
            assert_eq!(event.waiters(), 0);
        });
    }
}
