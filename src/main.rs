//! `edgeauth`: `main` maps errors to exit codes; `run` is one match over the subcommands.

use std::process::ExitCode;

use clap::Parser;
use mimalloc::MiMalloc;

use edgeauth::cli::commands;
use edgeauth::cli::{Cli, Command};
use edgeauth::config::Config;
use edgeauth::{log, server};

/// mimalloc: per-thread free lists suit a thread-per-core server, where each shard allocates
/// and frees on its own thread and never hands memory across.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> ExitCode {
    tune_allocator();
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("edgeauth: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let cli = Cli::parse();
    let config = Config::resolve(&cli.settings.0)?;
    log::set_level(config.log_level);
    for name in cli.settings.0.exposed_secrets() {
        log::warn(
            "a secret given as a flag is visible in the process list; use the environment or a file (admin_token_file, PGPASSFILE)",
            &[("setting", &name)],
        );
    }
    match cli.command {
        Command::Serve => server::serve(config, cli.settings.0),
        Command::Migrate => commands::migrate(&config),
        Command::Client(cmd) => commands::client(&config, cmd.typed_only(&cli.settings.0)),
        Command::Keys(cmd) => commands::keys(cmd),
        Command::Prune => commands::prune(&config),
    }
}

/// Memory goes back to the OS as soon as it is free, in 4 KiB pages: what an idle shard
/// holds is what it uses (`tests/memory.rs`).
///
/// - No transparent huge pages. mimalloc asks for them on its arenas (`MADV_HUGEPAGE`), so
///   the first touch of any 2 MiB region faults in all of it, which roughly triples an idle
///   server's resident memory (docs/MEASUREMENTS.md). The heap is tens of MiB, too small
///   for huge pages to save TLB misses worth that. (`PR_SET_THP_DISABLE` is what mimalloc
///   itself does for `MIMALLOC_ALLOW_THP=0`, which it reads before `main`, too early to set
///   from here.)
/// - Purge at once (`purge_delay = 0`, default 1 s). mimalloc purges freed pages only from
///   inside a later allocation, so on a shard that has gone quiet — thousands of keep-alive
///   connections releasing their buffers, or closing — a delayed purge may never run and
///   the memory stays resident. mimalloc still keeps a couple of free pages per size class
///   (`page_full_retain`), so steady request traffic does not purge and refault.
///
/// `MIMALLOC_*` environment variables still apply; these two settings are made after them.
fn tune_allocator() {
    /// `mi_option_purge_delay` in mimalloc 3.3 (`libmimalloc-sys` 0.1.49, v3 sources; the
    /// `mimalloc` crate declares no option setters without its `extended` feature).
    const MI_OPTION_PURGE_DELAY: std::ffi::c_int = 15;
    unsafe extern "C" {
        fn mi_option_set(option: std::ffi::c_int, value: std::ffi::c_long);
    }
    // SAFETY: both calls only set process-wide flags; no shard thread runs yet.
    unsafe {
        mi_option_set(MI_OPTION_PURGE_DELAY, 0);
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}
