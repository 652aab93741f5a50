//! Safe, limited, streaming recursive expansion of archives, and content-based file labels.
//!
//! Built for a malware scanner that opens attacker-supplied uploads:
//!
//! * [`walk`] expands zip, tar, gzip, bzip2, xz and 7z archives recursively and hands every
//!   member's decompressed bytes to a callback, one member at a time, depth first. Every byte
//!   that a decoder produces is counted against [`Limits`], so zip bombs (flat, overlapping or
//!   nested), gzip bombs, lying size fields, huge member counts and self-containing archives
//!   stop early with [`Report::exceeded`] set. No input makes it panic, hang or allocate
//!   without bound.
//! * [`walk_named_in`] does the same with every buffer reserved from a [`MemoryBudget`] shared
//!   by all the walks of a process, so that many scans at once stay within one bound.
//! * [`labels`] names what a buffer looks like from its content (executables, archives,
//!   documents, server-side scripts), in the label vocabulary of Alibaba Cloud's FileLabel
//!   for archives (`Zip`, `RAR`, `7-Zip`, `XAR`, `ZLib`, `GZip`, `tar`, plus `encrypted`).
//!
//! ```
//! use hashscan_archive::{walk, Flow, Limits};
//!
//! # let upload: Vec<u8> = Vec::new();
//! let report = walk(&upload, &Limits::default(), &mut |entry| {
//!     println!("{} ({} bytes)", entry.path.join(" > "), entry.data.len());
//!     Flow::Continue
//! });
//! assert!(report.format.is_none()); // an empty buffer is no archive
//! ```

mod labels;
mod memory;
mod sevenz_guard;
mod sniff;
mod walk;
mod zipscan;

pub use labels::{ENCRYPTED_LABEL, labels, labels_with_report};
pub use memory::{MemoryBudget, MemoryError, Reservation, ScanMemory};
pub use sniff::{sniff, sniff_buffer};
pub use walk::{walk, walk_named, walk_named_in};

use std::fmt;

/// Separator used to join path components into the strings of a [`Report`]
/// (`"a.zip!/dir/inner.tar!/x.php"`, as in `jar:` URLs).
pub const PATH_SEPARATOR: &str = "!/";

/// Joins member path components with [`PATH_SEPARATOR`].
#[must_use]
pub fn join_path(path: &[String]) -> String {
    path.join(PATH_SEPARATOR)
}

/// Limits of one [`walk`]. The defaults are safe for a server with a few GiB of memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Deepest nesting expanded: members of the scanned archive are at depth 1, members of an
    /// archive inside it at depth 2, and so on. An archive found at this depth is visited but
    /// not expanded ([`Limit::Depth`]). Default 5.
    pub max_depth: u32,
    /// Most members (files, at all depths together, encrypted and broken ones included)
    /// before the walk stops ([`Limit::Members`]). Default 1000.
    pub max_members: u32,
    /// Most bytes produced over the whole walk: every byte read out of any member at any
    /// depth (decompressed or stored), including bytes decoded only to skip past them in a
    /// solid 7z block. The walk stops when it is reached ([`Limit::TotalBytes`]). Default 1 GiB.
    pub max_total_bytes: u64,
    /// Largest member held in memory: a bigger member is visited with its first
    /// `max_member_bytes` bytes and `truncated = true` ([`Limit::MemberBytes`]). Also the
    /// largest 7z header decoded. Default 256 MiB.
    pub max_member_bytes: u64,
    /// Highest compression ratio (output bytes per input byte) of a compressed member or
    /// stream, checked once its output passes [`Limits::ratio_threshold`]: a member past it
    /// is cut there ([`Limit::Ratio`]), the walk goes on with the next one. Default 100.
    pub max_ratio: u32,
    /// Output size from which `max_ratio` applies, so that small, very compressible
    /// members (a run of zeros, a short text) pass. Default 1 MiB.
    pub ratio_threshold: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_depth: 5,
            max_members: 1000,
            max_total_bytes: 1 << 30,
            max_member_bytes: 256 << 20,
            max_ratio: 100,
            ratio_threshold: 1 << 20,
        }
    }
}

/// An archive or compression format that [`sniff`] recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// PKZIP (also JAR, APK, DOCX…).
    Zip,
    /// POSIX/GNU tar (ustar magic, or a valid old-style header checksum).
    Tar,
    /// gzip (RFC 1952), possibly several concatenated members.
    Gzip,
    /// bzip2, possibly several concatenated streams.
    Bzip2,
    /// xz (LZMA2).
    Xz,
    /// 7-Zip.
    SevenZip,
    /// RAR 1.5–4 or 5: recognised, never expanded (see the crate README).
    Rar,
}

impl Format {
    /// The FileLabel name of the format (`"Zip"`, `"tar"`, `"GZip"`, `"7-Zip"`, …).
    #[must_use]
    pub fn label(self) -> &'static str {
        match self {
            Self::Zip => "Zip",
            Self::Tar => "tar",
            Self::Gzip => "GZip",
            Self::Bzip2 => "BZip2",
            Self::Xz => "XZ",
            Self::SevenZip => "7-Zip",
            Self::Rar => "RAR",
        }
    }

    /// Whether the format is a single compressed stream (gzip, bzip2, xz) with one member.
    #[must_use]
    pub fn is_single_stream(self) -> bool {
        matches!(self, Self::Gzip | Self::Bzip2 | Self::Xz)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// One member handed to the [`walk`] callback.
#[derive(Debug, Clone, Copy)]
pub struct Entry<'a> {
    /// Member names from the outermost archive down, as stored (lossy UTF-8, not normalised):
    /// `["dir/inner.tar.gz", "inner.tar", "x.php"]`. Never use them as file-system paths.
    pub path: &'a [String],
    /// Nesting depth, `path.len()`: 1 for members of the scanned archive.
    pub depth: u32,
    /// The member's decompressed bytes (a prefix when `truncated`).
    pub data: &'a [u8],
    /// `data` is not the whole member: it was larger than [`Limits::max_member_bytes`], a
    /// limit (or the memory budget) cut it, or it is corrupt past `data.len()` (then
    /// [`Report::errors`] says so).
    pub truncated: bool,
    /// The member's own archive format, when it is one. It is then expanded after this call
    /// (depth and other limits permitting), so its members follow.
    pub format: Option<Format>,
}

/// What the [`walk`] callback wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Go on with the next member.
    Continue,
    /// End the walk now ([`Report::stopped`]).
    Stop,
}

/// Which limit of [`Limits`] was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// An archive at [`Limits::max_depth`] was not expanded.
    Depth,
    /// [`Limits::max_members`] was reached; the walk stopped.
    Members,
    /// [`Limits::max_total_bytes`] was reached; the walk stopped.
    TotalBytes,
    /// A member was larger than [`Limits::max_member_bytes`] and was visited truncated.
    MemberBytes,
    /// A member's compression ratio passed [`Limits::max_ratio`]; it was cut there.
    Ratio,
    /// A member is byte-for-byte an archive that encloses it (a zip quine such as `r.zip`):
    /// it was visited but not expanded again, since that would only repeat until `max_depth`.
    Cycle,
    /// The scan's [`MemoryBudget`] could not hold a buffer: the member was visited with what
    /// fit (`truncated`; a streaming format is still expanded from the rest of the stream, a
    /// zip or 7z is not), or a 7z header was not read. Not a property of the file: the walk
    /// goes on, and the scan is incomplete.
    Memory,
}

impl Limit {
    /// Whether reaching this limit ends the whole walk.
    #[must_use]
    pub fn stops_walk(self) -> bool {
        matches!(self, Self::Members | Self::TotalBytes)
    }
}

/// A limit reached during a [`walk`], where, and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimitExceeded {
    /// The limit.
    pub limit: Limit,
    /// The member (path components joined with [`PATH_SEPARATOR`]) being read or expanded.
    pub path: String,
    /// What happened, e.g. `"compression ratio above 100:1 after 1048576 bytes"`.
    pub message: String,
}

impl fmt::Display for LimitExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// The outcome of a [`walk`]. Paths are member paths joined with [`PATH_SEPARATOR`]; the
/// empty path is the scanned buffer itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Format of the scanned buffer; `None` when it is no archive (nothing was visited).
    pub format: Option<Format>,
    /// Members met at all depths (visited, encrypted or unreadable).
    pub members: u32,
    /// Bytes produced over the walk, as counted against [`Limits::max_total_bytes`].
    pub bytes: u64,
    /// Encrypted members (or archives whose directory is encrypted), not decrypted.
    pub encrypted: Vec<String>,
    /// Limits reached, in order. Empty when the walk was complete as far as limits go.
    pub exceeded: Vec<LimitExceeded>,
    /// Corrupt or unreadable archives and members: `(path, message)`. The rest of the
    /// archive is still walked where its format allows (a zip whose central directory is
    /// damaged from its local headers, a tar past a damaged header); an entry here means
    /// something could not be read, so a scan that found nothing is incomplete.
    pub errors: Vec<(String, String)>,
    /// Archives recognised but not expanded, and why: `(path, reason)` (RAR, a 7z or zip
    /// member too big to hold, an unsupported layout…).
    pub not_expanded: Vec<(String, String)>,
    /// The callback returned [`Flow::Stop`].
    pub stopped: bool,
}

impl Report {
    /// Whether every member was read whole: no limit, error, encryption or unexpanded archive.
    #[must_use]
    pub fn is_complete(&self) -> bool {
        self.exceeded.is_empty()
            && self.errors.is_empty()
            && self.encrypted.is_empty()
            && self.not_expanded.is_empty()
            && !self.stopped
    }

    /// The first limit reached of kind `limit`, if any.
    #[must_use]
    pub fn exceeded_of(&self, limit: Limit) -> Option<&LimitExceeded> {
        self.exceeded.iter().find(|e| e.limit == limit)
    }
}
