//! The accept loop: a bounded number of connections, stopped by the shutdown latch.

use std::rc::Rc;
use std::time::Duration;

use monoio::net::TcpListener;

use crate::http::connection;
use crate::log;
use crate::shard::Shard;
use crate::shard::stats::ShardStats;

/// Accept until shutdown. A connection over `max_connections` is closed at once: the
/// shard's memory stays bounded, and the client retries (SO_REUSEPORT may well give the
/// retry to a less busy shard).
pub async fn accept_loop(shard: Rc<Shard>, listener: TcpListener) {
    loop {
        let accepted = monoio::select! {
            r = listener.accept() => r,
            _ = shard.shutdown.wait() => return,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // EMFILE and friends: wait a little instead of spinning on the error.
                log::warn("accept failed", &[("shard", &shard.id), ("error", &e)]);
                monoio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let stats = shard.stats();
        if shard.connections.get() >= shard.config.max_connections {
            ShardStats::bump(&stats.connections_rejected);
            drop(stream);
            continue;
        }
        let _ = stream.set_nodelay(true);
        ShardStats::bump(&stats.connections_accepted);
        ShardStats::bump(&stats.connections_open);
        shard.connections.set(shard.connections.get() + 1);
        let shard = shard.clone();
        monoio::spawn(async move {
            connection::serve(shard.clone(), stream).await;
            shard.connections.set(shard.connections.get() - 1);
            ShardStats::drop_one(&shard.stats().connections_open);
        });
    }
}
