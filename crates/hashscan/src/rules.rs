//! `hashscan rules update|list|rollback|activate`: the rule store of a data directory,
//! without the server running (a running server follows the store's `current` pointer on
//! its own within seconds).

use std::process::ExitCode;

use clap::Subcommand;
use hashscan_updates::Outcome;

use crate::serve::CommonArgs;

const PROG: &str = "hashscan";

#[derive(Subcommand, Debug)]
pub enum UpdateCommand {
    /// Fetch every source of `[rules]`, verify, check and activate a new version (exit 1 if
    /// a source was not taken, 2 if nothing could be done).
    Update {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// List the installed versions (`*` the current one, `rejected` rolled back).
    List {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Return to the version before the current one; the current one is marked rejected
    /// and is not activated again by an update.
    Rollback {
        #[command(flatten)]
        common: CommonArgs,
    },
    /// Make an installed version current (also one that was rolled back).
    Activate {
        #[command(flatten)]
        common: CommonArgs,
        /// The version id, as `hashscan rules list` shows it.
        version: String,
    },
}

pub fn run(cmd: UpdateCommand) -> ExitCode {
    match try_run(cmd) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("{PROG}: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn try_run(cmd: UpdateCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        UpdateCommand::Update { common } => {
            let config = common.load()?;
            let updater = hashscan_server::core::rule_updates::updater(&config)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()?;
            let report = runtime.block_on(updater.update())?;
            for s in &report.sources {
                match &s.outcome {
                    Outcome::Updated { sha256, files } => {
                        println!("{}: updated ({files} files, sha256 {sha256})", s.name);
                    }
                    Outcome::Unchanged => println!("{}: unchanged", s.name),
                    Outcome::Failed { error, kept } => println!(
                        "{}: NOT TAKEN: {error}{}",
                        s.name,
                        if *kept {
                            " (the previous version of it is kept)"
                        } else {
                            ""
                        }
                    ),
                }
            }
            if let Some(why) = &report.skipped {
                println!("not activated: {why}");
            }
            match (&report.activated, &report.current) {
                (Some(m), _) => println!(
                    "activated version {} (previous: {})",
                    m.id,
                    m.previous.as_deref().unwrap_or("none")
                ),
                (None, Some(id)) => println!("current version {id} stays"),
                (None, None) => println!("no version installed"),
            }
            Ok(if report.all_ok() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        UpdateCommand::List { common } => {
            let config = common.load()?;
            let store = hashscan_server::core::rule_updates::store(&config);
            let versions = store.versions()?;
            if versions.is_empty() {
                println!("no version installed in {}", store.root().display());
            }
            for v in versions {
                let m = &v.manifest;
                let sources: Vec<String> = m
                    .sources
                    .iter()
                    .map(|s| format!("{} ({}, {} files)", s.name, s.verified_by, s.files.len()))
                    .collect();
                println!(
                    "{} {}{} previous={} sources: {}",
                    if v.current { "*" } else { " " },
                    m.id,
                    if v.rejected { " rejected" } else { "" },
                    m.previous.as_deref().unwrap_or("-"),
                    if sources.is_empty() {
                        "none".to_string()
                    } else {
                        sources.join(", ")
                    }
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        UpdateCommand::Rollback { common } => {
            let config = common.load()?;
            let updater = hashscan_server::core::rule_updates::updater(&config)?;
            let (rejected, current) = updater.rollback()?;
            println!("rolled back from {rejected} (now rejected) to {current}");
            Ok(ExitCode::SUCCESS)
        }
        UpdateCommand::Activate { common, version } => {
            let config = common.load()?;
            let updater = hashscan_server::core::rule_updates::updater(&config)?;
            updater.activate(&version)?;
            println!("activated version {version}");
            Ok(ExitCode::SUCCESS)
        }
    }
}
