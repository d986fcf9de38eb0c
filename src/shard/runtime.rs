//! The monoio runtime a shard thread runs on: io_uring where the kernel allows it (and the
//! configuration asks for it), epoll otherwise.

use std::future::Future;

use crate::config::IoDriver;
use crate::log;

/// Submission queue entries per shard: room for every connection's read and write plus the
/// database session's, so that submissions are rarely flushed for lack of space.
const IO_URING_ENTRIES: u32 = 4096;

/// Run the future `serve(driver_name)` makes to completion on this thread's runtime. An
/// error says why no runtime could be built (only with `io_driver = io_uring` when the
/// kernel refuses it, or when not even epoll works).
pub fn block_on<F: Future<Output = ()>>(
    driver: IoDriver,
    serve: impl FnOnce(&'static str) -> F,
) -> Result<(), String> {
    let use_uring = match driver {
        IoDriver::Epoll => false,
        IoDriver::IoUring => true,
        IoDriver::Auto => monoio::utils::detect_uring(),
    };
    if use_uring {
        match uring_runtime() {
            Ok(mut rt) => {
                rt.block_on(serve("io_uring"));
                return Ok(());
            }
            Err(e) if driver == IoDriver::IoUring => return Err(format!("io_uring runtime: {e}")),
            Err(e) => log::warn("io_uring unavailable, using epoll", &[("error", &e)]),
        }
    }
    let mut rt = monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .enable_timer()
        .build()
        .map_err(|e| format!("epoll runtime: {e}"))?;
    rt.block_on(serve("epoll"));
    Ok(())
}

/// An io_uring runtime whose completions wait until the shard asks for them
/// (`IORING_SETUP_DEFER_TASKRUN`, Linux 6.1+) instead of interrupting the thread as each one
/// arrives: the shard collects them anyway every time it parks (the measured gain is in
/// docs/ARCHITECTURE.md). Kernels that refuse the flag get a plain ring.
fn uring_runtime()
-> std::io::Result<monoio::Runtime<monoio::time::TimeDriver<monoio::IoUringDriver>>> {
    let build = |urb: io_uring::Builder| {
        monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
            .with_entries(IO_URING_ENTRIES)
            .uring_builder(urb)
            .enable_timer()
            .build()
    };
    let mut deferred = io_uring::IoUring::builder();
    // DEFER_TASKRUN requires that one thread, the shard's, submits everything: it does.
    deferred.setup_single_issuer().setup_defer_taskrun();
    build(deferred).or_else(|e| {
        log::debug("io_uring without DEFER_TASKRUN", &[("error", &e)]);
        build(io_uring::IoUring::builder())
    })
}
