//! `edgeauth`: `main` maps errors to exit codes; `run` is one match over the subcommands.

use std::process::ExitCode;

use clap::Parser;
use mimalloc::MiMalloc;

use edgeauth::cli::{Cli, Command};
use edgeauth::config::Config;
use edgeauth::{admin_cmd, log, server};

/// mimalloc: per-thread free lists suit a thread-per-core server, where each shard allocates
/// and frees on its own thread and never hands memory across.
#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

fn main() -> ExitCode {
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
    let config = Config::resolve(&cli.settings)?;
    log::set_level(config.log_level);
    match cli.command {
        Command::Serve => server::serve(config, cli.settings),
        Command::Migrate => admin_cmd::migrate(&config),
        Command::Client(cmd) => admin_cmd::client(&config, cmd),
        Command::Keys(cmd) => admin_cmd::keys(cmd),
        Command::Prune => admin_cmd::prune(&config),
    }
}
