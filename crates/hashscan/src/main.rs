//! The `hashscan` command: wiring only. Each subcommand lives in its own module.

mod hash;
mod ordered;
mod rules;
mod scan;
mod serve;

use std::process::ExitCode;

/// jemalloc, not glibc's malloc: the server's worker threads allocate and free large scan
/// buffers, which glibc keeps in per-thread arenas long after (see docs/dependencies.md).
#[cfg(all(target_os = "linux", not(target_env = "musl")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

use clap::{Parser, Subcommand};

/// Self-hosted file hashing and malware detection for object storage.
#[derive(Parser, Debug)]
#[command(name = "hashscan", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Compute or check MD5, SHA-1, SHA-256, SHA-512, CRC64, CRC32C or BLAKE3 digests of files.
    Hash(hash::HashArgs),
    /// Run the server: the COS-compatible object API on one HTTP port.
    Serve(serve::ServeArgs),
    /// Create or list buckets in a data directory.
    #[command(subcommand)]
    Bucket(serve::BucketCommand),
    /// Scan files for malware: YARA rules, hash lists, archives, optionally clamd.
    Scan(scan::ScanArgs),
    /// Work with YARA rules and their updates.
    #[command(subcommand)]
    Rules(scan::RulesCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Hash(args) => hash::run(args),
        Command::Serve(args) => serve::serve(args),
        Command::Bucket(cmd) => serve::bucket(cmd),
        Command::Scan(args) => scan::run(args),
        Command::Rules(cmd) => scan::rules(cmd),
    }
}
