//! hashscan's detection engine: YARA rules (yara-x), hash reputation lists, archive
//! recursion and clamd, concluding in a verdict with a score, a threat type and the byte
//! ranges that matched.
//!
//! A library with no HTTP, database or async runtime: the CLI (`hashscan scan`) and the
//! server's detection workers both call it. Reading order: [`rules`] (what the rules are and
//! what their metadata means), [`engine`] (one read of a file through every engine),
//! [`verdict`] (what a scan concludes).

pub mod cache;
pub mod engine;
mod mapped;
pub mod rules;
mod seen;
pub mod store;
pub mod verdict;

pub use cache::CacheUse;
pub use engine::{Config, DetectError, Detector, LoadSummary, Refreshed, RuleWatch, ScanOptions};
pub use hashscan_archive::Limits as ArchiveLimits;
/// The process-wide memory budget of [`Config::memory`]: create one and give it to every
/// detector (and so every scanning thread) of the process.
pub use hashscan_archive::MemoryBudget;
pub use rules::{Problem, RuleConfig, Ruleset};
pub use store::{RuleStore, StoreError};
pub use verdict::{ArchiveSummary, EngineKind, Hit, Member, Report, ThreatType, Verdict};
