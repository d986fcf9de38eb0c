//! The accept loop: a bounded number of connections, stopped by the shutdown latch.

use std::rc::Rc;
use std::time::Duration;

use monoio::net::TcpListener;

use crate::endpoint::route::Surface;
use crate::log;
use crate::shard::{Shard, connection};

/// Accept until shutdown; `secure`: the listener speaks TLS. A connection over `max_connections` is closed at once: the
/// shard's memory stays bounded, and the client retries (SO_REUSEPORT may well give the
/// retry to a less busy shard).
pub async fn accept_loop(shard: Rc<Shard>, listener: TcpListener, surface: Surface, secure: bool) {
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = shard.shutdown.wait() => return,
        };
        let (stream, source) = match accepted {
            Ok((stream, peer)) => (stream, peer.ip()),
            Err(e) => {
                // EMFILE and friends: wait a little instead of spinning on the error.
                log::warn(
                    "accept failed",
                    &[("shard", &shard.ctx.shard_id), ("error", &e)],
                );
                monoio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let stats = shard.ctx.stats();
        if stats.connections_open.get() >= shard.ctx.config.max_connections as u64 {
            stats.connections_rejected.bump();
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        stats.connections_accepted.bump();
        stats.connections_open.bump();
        let shard = shard.clone();
        monoio::spawn(async move {
            connection::serve(shard.clone(), stream, source, surface, secure).await;
            shard.ctx.stats().connections_open.sub(1);
        });
    }
}
