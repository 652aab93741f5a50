//! What loading one list reports: counts and the first malformed lines.

use std::fmt;

use crate::format::Format;

/// Most problems kept (with line numbers) in a [`LoadReport`]; further ones are only counted.
pub const MAX_REPORTED_PROBLEMS: usize = 20;

/// What loading one list did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadReport {
    /// Source name (path) of the list.
    pub source: String,
    /// Format it was read as.
    pub format: Format,
    /// Physical lines read.
    pub lines: u64,
    /// Hashes added to the builder (before de-duplication).
    pub entries: u64,
    /// Malformed lines (or CSV records), skipped.
    pub malformed: u64,
    /// The first [`MAX_REPORTED_PROBLEMS`] malformed lines, in file order.
    pub problems: Vec<Problem>,
}

/// One malformed line of a list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line number (for a multi-line CSV record, its first line).
    pub line: u64,
    /// Why the line was rejected.
    pub reason: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl LoadReport {
    pub(crate) fn new(source: &str, format: Format) -> LoadReport {
        LoadReport {
            source: source.to_owned(),
            format,
            lines: 0,
            entries: 0,
            malformed: 0,
            problems: Vec::new(),
        }
    }

    pub(crate) fn malformed(&mut self, line: u64, reason: impl Into<String>) {
        self.malformed += 1;
        if self.problems.len() < MAX_REPORTED_PROBLEMS {
            self.problems.push(Problem {
                line,
                reason: reason.into(),
            });
        }
    }
}
