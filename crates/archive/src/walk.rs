//! The recursive, limited archive walk.
//!
//! Every member is read through a [`Meter`], which counts the bytes against the walk's
//! [`Budget`] and fails the read once a limit is reached, so a decoder stops producing
//! output as soon as a limit trips. A member is read into one buffer of at most
//! `max_member_bytes`, reserved from the scan's [`ScanMemory`] as it grows. A stored member
//! of an archive held in memory (a zip's stored entry, a tar's file) is not copied: its bytes
//! are a slice of the archive's buffer. When a member is itself an archive it is expanded from
//! that buffer (or, when it was larger and its format streams, from the buffer followed by the
//! rest of the member). A zip whose central directory cannot be read is walked from its local
//! headers, and a tar goes on past a damaged header from the next valid one: what can be read
//! is scanned, and the report's `errors` say the rest could not be.

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom};

use crate::memory::{MemoryBudget, MemoryError, ScanMemory};
use crate::zipscan::{self, LocalHeader};
use crate::{
    Entry, Flow, Format, Limit, LimitExceeded, Limits, Report, join_path, sevenz_guard, sniff,
    sniff_buffer,
};

/// Most tar header bytes (headers, GNU long names, pax records, sparse maps) read between two
/// members. The `tar` crate reads long names and pax records whole into memory.
const TAR_HEADER_BUDGET: u64 = 4 << 20;
/// Largest buffer reserved up front from a member's declared size, when that size is not
/// bounded by the member's compressed size.
const MAX_PREALLOC: u64 = 1 << 20;
/// Granularity of the member buffer's growth.
const MIN_GROWTH: u64 = 64 << 10;
/// Most bytes asked of a decoder in one read (also bounds how far a read overshoots the
/// ratio threshold).
const READ_CHUNK: usize = 128 << 10;
/// The 7z AES-256 + SHA-256 coder.
const SEVENZ_AES: &[u8] = &[0x06, 0xF1, 0x07, 0x01];
/// Memory a decoder keeps besides the member buffer, at most (counted against the memory
/// budget as it fills, up to the bytes decoded): bzip2's block arrays, zstd's window (its
/// default maximum), and the LZMA dictionary of 7-Zip's largest preset (LZMA/LZMA2 windows grow
/// with the output in `lzma-rust2`).
const BZIP2_STATE: u64 = 4 << 20;
const ZSTD_WINDOW: u64 = 128 << 20;
const LZMA_WINDOW: u64 = 64 << 20;

/// Errors met while walking; their messages end up in [`Report::errors`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum WalkError {
    /// A limit tripped (recorded in the report separately).
    #[error("limit reached")]
    Limit,
    /// A buffer could not be allocated.
    #[error("cannot allocate {0} bytes for a member")]
    OutOfMemory(u64),
    /// A reader that failed before is not read again.
    #[error("member unreadable after an earlier error")]
    Failed,
    /// A reader kept returning `Interrupted`.
    #[error("reader interrupted too many times")]
    Interrupted,
    /// Tar metadata between two members was too large.
    #[error(
        "more than {TAR_HEADER_BUDGET} bytes of tar headers (long names, pax records) for one member"
    )]
    TarHeaders,
}

impl From<WalkError> for io::Error {
    fn from(e: WalkError) -> Self {
        io::Error::other(e)
    }
}

/// Expands `data` if it is an archive, calling `visit` for every member, depth first, and
/// returns what happened. See [`walk_named`]; the outermost single-stream member (of a bare
/// `.gz`, `.bz2` or `.xz`) is named from the gzip header, or `"(gzip data)"` etc.
pub fn walk(data: &[u8], limits: &Limits, visit: &mut dyn FnMut(&Entry<'_>) -> Flow) -> Report {
    walk_named("", data, limits, visit)
}

/// Like [`walk`], for a buffer known by the file name `name`, which names the member of a bare
/// gzip/bzip2/xz stream when the stream does not (`"x.tar.gz"` → `"x.tar"`, `"x.tgz"` →
/// `"x.tar"`). `name` is not part of the member paths.
///
/// `data` is sniffed ([`crate::sniff_buffer`]); when it is no archive the report has
/// `format: None` and `visit` is never called. Otherwise every member that is a file (not a
/// directory, link or device) is visited with its decompressed bytes; members that are
/// archives are visited, then expanded while their depth is below [`Limits::max_depth`].
/// Memory stays around one member buffer plus decoder state per nesting level, without a
/// bound across walks: see [`walk_named_in`] for that.
pub fn walk_named(
    name: &str,
    data: &[u8],
    limits: &Limits,
    visit: &mut dyn FnMut(&Entry<'_>) -> Flow,
) -> Report {
    let unlimited = MemoryBudget::unlimited();
    walk_named_in(name, data, limits, &unlimited.scan(), visit)
}

/// Like [`walk_named`], with every member buffer (and decoder window) reserved from `memory`,
/// a scan's share of a [`MemoryBudget`] shared by every walk of the process. A buffer that
/// cannot be reserved ends the member there: it is visited with what fit, `truncated`, and
/// [`Limit::Memory`] is recorded (a streaming format goes on from the rest of the member; a
/// zip or 7z cut that way is not expanded); the walk goes on.
pub fn walk_named_in(
    name: &str,
    data: &[u8],
    limits: &Limits,
    memory: &ScanMemory,
    visit: &mut dyn FnMut(&Entry<'_>) -> Flow,
) -> Report {
    let mut report = Report::default();
    let Some(format) = sniff_buffer(data) else {
        return report;
    };
    report.format = Some(format);
    let budget = Budget::new(limits, memory);
    let mut walker = Walker {
        budget: &budget,
        visit,
        report,
        path: Vec::new(),
        root_name: name,
    };
    if limits.max_depth == 0 {
        budget.note(
            Limit::Depth,
            "",
            format!("max_depth is 0: the {format} archive is not expanded"),
        );
    } else {
        let root = Anc { data, parent: None };
        walker.expand(format, Src::Full(data), Some(&root));
    }
    let mut report = walker.report;
    report.members = budget.members.get();
    report.bytes = budget.total.get();
    report.exceeded = budget.exceeded.take();
    report
}

/// Shared counters of one walk. Cells, so that meters deep in a decoder stack can update them.
struct Budget<'l> {
    limits: &'l Limits,
    memory: &'l ScanMemory,
    total: Cell<u64>,
    members: Cell<u32>,
    /// Bumped by every read refused for a limit: an error that follows such a read is a
    /// consequence of the limit, not corruption.
    trips: Cell<u64>,
    /// The walk must end (member or byte budget spent, or the callback said stop).
    stop: Cell<bool>,
    exceeded: Cell<Vec<LimitExceeded>>,
}

impl<'l> Budget<'l> {
    fn new(limits: &'l Limits, memory: &'l ScanMemory) -> Self {
        Self {
            limits,
            memory,
            total: Cell::new(0),
            members: Cell::new(0),
            trips: Cell::new(0),
            stop: Cell::new(false),
            exceeded: Cell::new(Vec::new()),
        }
    }

    /// Records a limit; a limit that ends the walk also sets `stop`.
    fn note(&self, limit: Limit, path: &str, message: String) {
        if limit.stops_walk() {
            self.stop.set(true);
        }
        let mut list = self.exceeded.take();
        list.push(LimitExceeded {
            limit,
            path: path.to_owned(),
            message,
        });
        self.exceeded.set(list);
    }

    fn refused(&self) -> io::Error {
        self.trips.set(self.trips.get().wrapping_add(1));
        WalkError::Limit.into()
    }

    fn generation(&self) -> u64 {
        self.trips.get()
    }

    /// Whether an error met since `generation` is explained by a limit (or a stop).
    fn limit_since(&self, generation: u64) -> bool {
        self.trips.get() != generation || self.stop.get()
    }

    /// The message of the total-bytes limit.
    fn total_message(&self) -> String {
        format!(
            "total decompressed bytes reached max_total_bytes ({}); the walk stopped",
            self.limits.max_total_bytes
        )
    }
}

/// Where compressed input is counted, for the ratio limit.
#[derive(Clone, Copy)]
struct Ratio<'a> {
    /// Bytes the decoder has read from its compressed source so far.
    input: &'a Cell<u64>,
    /// `input` when this member (or 7z block) started.
    in_start: u64,
    /// Output of the same 7z block before this member.
    out_before: u64,
}

/// Counts and limits the bytes read out of one member.
struct Meter<'a, 'b> {
    inner: &'a mut dyn Read,
    budget: &'a Budget<'b>,
    path: &'a str,
    ratio: Option<Ratio<'a>>,
    out: u64,
    /// A limit tripped here: every further read fails.
    dead: bool,
    /// The inner reader failed: it is never read again. Decoders are not fused: read again
    /// after an error, some spin forever (`lzma-rust2`'s LZMA2 reader after bad properties).
    failed: bool,
}

impl<'a, 'b> Meter<'a, 'b> {
    fn new(
        inner: &'a mut dyn Read,
        budget: &'a Budget<'b>,
        path: &'a str,
        ratio: Option<Ratio<'a>>,
    ) -> Self {
        Self {
            inner,
            budget,
            path,
            ratio,
            out: 0,
            dead: false,
            failed: false,
        }
    }

    /// Reads from the inner reader, fusing it on the first error.
    fn inner_read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(WalkError::Failed.into());
        }
        let result = read_retry(self.inner, buf);
        if result.is_err() {
            self.failed = true;
        }
        result
    }

    fn trip(&mut self, limit: Limit, message: String) -> io::Error {
        self.dead = true;
        self.budget.note(limit, self.path, message);
        self.budget.refused()
    }
}

impl Read for Meter<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.dead || self.budget.stop.get() {
            return Err(self.budget.refused());
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let limits = self.budget.limits;
        let total = self.budget.total.get();
        let room = limits.max_total_bytes.saturating_sub(total);
        if room == 0 {
            // Budget spent: only the end of the member may follow.
            let mut probe = [0u8; 1];
            if self.inner_read(&mut probe)? == 0 {
                return Ok(0);
            }
            let message = self.budget.total_message();
            return Err(self.trip(Limit::TotalBytes, message));
        }
        let cap = usize::try_from(room).map_or(buf.len(), |r| r.min(buf.len()));
        let n = self.inner_read(&mut buf[..cap])?;
        self.out += n as u64;
        self.budget.total.set(total + n as u64);
        if let Some(ratio) = self.ratio {
            let out = ratio.out_before.saturating_add(self.out);
            if out > limits.ratio_threshold {
                let input = ratio.input.get().saturating_sub(ratio.in_start).max(1);
                if out > input.saturating_mul(u64::from(limits.max_ratio)) {
                    // Hand out these bytes; the next read fails.
                    self.dead = true;
                    let message = format!(
                        "compression ratio above max_ratio ({}:1): {out} bytes out of {input} \
                         compressed; the member was cut there",
                        limits.max_ratio
                    );
                    self.budget.note(Limit::Ratio, self.path, message);
                }
            }
        }
        Ok(n)
    }
}

/// Counts the bytes read from (and seeks through) a source.
struct Counted<'c, R> {
    inner: R,
    count: &'c Cell<u64>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.set(self.count.get().saturating_add(n as u64));
        Ok(n)
    }
}

impl<R: Seek> Seek for Counted<'_, R> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Caps the tar header bytes read between two members (see [`TAR_HEADER_BUDGET`]).
struct HeaderGuard<'a> {
    inner: &'a mut dyn Read,
    budget: &'a Cell<u64>,
}

impl Read for HeaderGuard<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let budget = self.budget.get();
        if budget == 0 {
            return Err(WalkError::TarHeaders.into());
        }
        let cap = usize::try_from(budget).map_or(buf.len(), |b| b.min(buf.len()));
        let n = self.inner.read(&mut buf[..cap])?;
        self.budget.set(budget.saturating_sub(n as u64));
        Ok(n)
    }
}

/// The complete buffers of the archives enclosing a member (for [`Limit::Cycle`]).
struct Anc<'a> {
    data: &'a [u8],
    parent: Option<&'a Anc<'a>>,
}

fn is_enclosing(mut anc: Option<&Anc<'_>>, data: &[u8]) -> bool {
    while let Some(a) = anc {
        if a.data.len() == data.len() && a.data == data {
            return true;
        }
        anc = a.parent;
    }
    false
}

/// What an archive is expanded from.
enum Src<'s> {
    /// The whole archive.
    Full(&'s [u8]),
    /// A stream whose first bytes are `head` (streaming formats only).
    Stream {
        head: &'s [u8],
        reader: &'s mut dyn Read,
    },
}

/// Where a member's bytes come from.
enum Body<'r> {
    /// Decoded (or copied) through a reader.
    Reader(&'r mut dyn Read),
    /// Already in memory: the member, a slice of its archive's buffer; `true` when the slice
    /// is only what the archive still holds of a longer member.
    Slice(&'r [u8], bool),
}

/// A member to read.
struct MemberSrc<'r, 'i> {
    body: Body<'r>,
    how: How<'i>,
}

impl<'r, 'i> MemberSrc<'r, 'i> {
    fn reader(reader: &'r mut dyn Read, how: How<'i>) -> Self {
        Self {
            body: Body::Reader(reader),
            how,
        }
    }

    fn slice(bytes: &'r [u8]) -> Self {
        Self {
            body: Body::Slice(bytes, false),
            how: How::default(),
        }
    }

    /// The part of a member that the archive still holds (it was cut short).
    fn short_slice(bytes: &'r [u8]) -> Self {
        Self {
            body: Body::Slice(bytes, true),
            how: How::default(),
        }
    }
}

/// How a member is read through a reader.
#[derive(Clone, Copy, Default)]
struct How<'i> {
    /// Where the compressed input is counted, for decompressing readers.
    ratio: Option<Ratio<'i>>,
    /// Declared size: sizes the first allocation (up to [`MAX_PREALLOC`] unless
    /// `hint_bounded`).
    size_hint: u64,
    /// `size_hint` is bounded by what the compressed size can yield under the ratio limit, so
    /// it sizes the first allocation whole.
    hint_bounded: bool,
    /// `size_hint` is exact and the reader does not check it (tar): a shorter member is
    /// reported truncated.
    exact_size: bool,
    /// Read and drop the rest of a member cut short (7z solid blocks, where the next member
    /// starts after it: the decoder would otherwise decode the rest itself, unmetered).
    drain: bool,
    /// The most memory the decoder keeps besides the output (its window), counted against the
    /// memory budget up to the bytes decoded.
    window: u64,
}

/// How reading a member ended.
#[derive(Default)]
struct MemberEnd {
    /// The member was counted and visited (not refused by `max_members` or a stop).
    visited: bool,
    /// Every byte of the member was read, without error or limit.
    whole: bool,
    /// Bytes read out of the member (through its meter).
    out: u64,
    /// A limit tripped on the member's own meter.
    dead: bool,
    /// The member's reader failed.
    failed: bool,
}

/// A member's bytes in a buffer of its own, and their share of the memory budget (given back
/// after the buffer is freed: fields drop in order).
struct Held<'m> {
    buf: Vec<u8>,
    _reservation: crate::memory::Reservation<'m>,
}

struct Walker<'b, 'v> {
    budget: &'b Budget<'b>,
    visit: &'v mut dyn FnMut(&Entry<'_>) -> Flow,
    report: Report,
    /// Names from the outermost archive down to the archive being expanded.
    path: Vec<String>,
    root_name: &'b str,
}

impl Walker<'_, '_> {
    fn here(&self) -> String {
        join_path(&self.path)
    }

    fn child(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}{}{name}", self.here(), crate::PATH_SEPARATOR)
        }
    }

    fn error(&mut self, path: String, message: String) {
        self.report.errors.push((path, message));
    }

    fn not_expanded(&mut self, path: String, reason: String) {
        self.report.not_expanded.push((path, reason));
    }

    fn stopped(&self) -> bool {
        self.budget.stop.get()
    }

    /// Counts a member against `max_members`; false (and the walk ends) past it.
    fn enter(&mut self, name: &str) -> bool {
        if self.stopped() {
            return false;
        }
        let n = self.budget.members.get().saturating_add(1);
        if n > self.budget.limits.max_members {
            let message = format!(
                "more than max_members ({}) members; the walk stopped",
                self.budget.limits.max_members
            );
            self.budget.note(Limit::Members, &self.child(name), message);
            return false;
        }
        self.budget.members.set(n);
        true
    }

    /// Counts a member that cannot be read and records why.
    fn unreadable(&mut self, name: &str, message: String) {
        if self.enter(name) {
            let path = self.child(name);
            self.error(path, message);
        }
    }

    /// Expands an archive of format `format` whose path is `self.path`.
    fn expand(&mut self, format: Format, src: Src<'_>, anc: Option<&Anc<'_>>) {
        if self.stopped() {
            return;
        }
        match (format, src) {
            (Format::Zip, Src::Full(data)) => self.zip(data, anc),
            (Format::SevenZip, Src::Full(data)) => self.sevenz(data, anc),
            (Format::Zip | Format::SevenZip, Src::Stream { .. }) => {
                let reason = format!(
                    "{format} archive not held whole in memory (larger than max_member_bytes, \
                     cut by a limit, or no room in the memory budget): its directory cannot be \
                     read from a prefix"
                );
                self.not_expanded(self.here(), reason);
            }
            (Format::Rar, _) => {
                let reason = "RAR is not supported (no maintained pure-Rust RAR decoder \
                              that reads from memory)"
                    .to_owned();
                self.not_expanded(self.here(), reason);
            }
            (Format::Tar, Src::Full(data)) => self.tar_full(data, anc),
            (Format::Tar, Src::Stream { reader, .. }) => {
                if let Some((_, message)) = self.tar(reader, None, anc) {
                    self.error(self.here(), message);
                }
            }
            (single, Src::Full(data)) => {
                let mut reader = data;
                self.single(single, data, &mut reader, anc);
            }
            (single, Src::Stream { head, reader }) => self.single(single, head, reader, anc),
        }
    }

    /// Reads one member, visits it, expands it when it is an archive.
    fn member(&mut self, name: String, src: MemberSrc<'_, '_>, anc: Option<&Anc<'_>>) -> MemberEnd {
        if !self.enter(&name) {
            return MemberEnd::default();
        }
        self.path.push(name);
        let path = self.here();
        let mut end = match src.body {
            Body::Slice(bytes, short) => self.member_slice(bytes, short, &path, anc),
            Body::Reader(reader) => self.member_read(reader, src.how, &path, anc),
        };
        end.visited = true;
        self.path.pop();
        end
    }

    /// A member read through a decoder into a buffer of its own.
    fn member_read(
        &mut self,
        reader: &mut dyn Read,
        how: How<'_>,
        path: &str,
        anc: Option<&Anc<'_>>,
    ) -> MemberEnd {
        let budget = self.budget;
        let limits = budget.limits;
        let mut meter = Meter::new(reader, budget, path, how.ratio);
        let generation = budget.generation();

        // Every growth of the buffer is reserved first, with the decoder's window as it fills.
        let decoded_before = how.ratio.map_or(0, |r| r.out_before);
        let mut reservation = budget.memory.reservation();
        let mut refused: Option<MemoryError> = None;
        let first = if how.hint_bounded {
            how.size_hint
        } else {
            how.size_hint.min(MAX_PREALLOC)
        };
        let prefix = read_prefix(
            &mut meter,
            limits.max_member_bytes,
            first,
            &mut |capacity| {
                let window = how.window.min(decoded_before.saturating_add(capacity));
                match reservation.grow_to(capacity.saturating_add(window)) {
                    Ok(()) => true,
                    Err(e) => {
                        // The first refusal says why (later ones only follow from it).
                        refused.get_or_insert(e);
                        false
                    }
                }
            },
        );
        let Prefix {
            buf,
            probe,
            err,
            cut_by_memory,
        } = prefix;
        let held = Held {
            buf,
            _reservation: reservation,
        };
        let buf = &held.buf;
        let mut truncated = probe.is_some();
        if let Some(e) = &err {
            truncated = true;
            if !budget.limit_since(generation) {
                self.error(path.to_owned(), e.to_string());
            }
        } else if how.exact_size && probe.is_none() && (buf.len() as u64) < how.size_hint {
            truncated = true;
            self.error(
                path.to_owned(),
                format!(
                    "member ends after {} of its {} declared bytes",
                    buf.len(),
                    how.size_hint
                ),
            );
        }
        if probe.is_some() {
            match refused.filter(|_| cut_by_memory) {
                Some(e) => budget.note(
                    Limit::Memory,
                    path,
                    format!("{e}: visited the member's first {} bytes", buf.len()),
                ),
                None => budget.note(
                    Limit::MemberBytes,
                    path,
                    format!(
                        "member larger than max_member_bytes ({}): visited its first {} bytes",
                        limits.max_member_bytes,
                        buf.len()
                    ),
                ),
            }
        }
        {
            // The member from its start, for a streaming format cut short: the buffer, then
            // the rest of the stream.
            let tail: &[u8] = match &probe {
                Some(b) => std::slice::from_ref(b),
                None => &[],
            };
            let mut rest = (&buf[..]).chain(tail).chain(&mut meter);
            self.visit_and_expand(path, buf, truncated, &mut rest, anc);
        }
        if how.drain && !meter.dead && !meter.failed && !self.stopped() {
            let generation = budget.generation();
            if let Err(e) = io::copy(&mut meter, &mut io::sink())
                && !budget.limit_since(generation)
            {
                self.error(path.to_owned(), e.to_string());
            }
        }
        MemberEnd {
            visited: true,
            whole: !truncated && err.is_none(),
            out: meter.out,
            dead: meter.dead,
            failed: meter.failed,
        }
    }

    /// A member whose bytes are a slice of its archive's buffer: nothing is copied or
    /// reserved, but its bytes count against `max_total_bytes` and `max_member_bytes` as if
    /// they were read. `short`: the slice is only the start of the member.
    fn member_slice(
        &mut self,
        bytes: &[u8],
        short: bool,
        path: &str,
        anc: Option<&Anc<'_>>,
    ) -> MemberEnd {
        let budget = self.budget;
        let limits = budget.limits;
        let total = budget.total.get();
        let room = limits.max_total_bytes.saturating_sub(total);
        let len = bytes.len() as u64;
        let allowed = len.min(limits.max_member_bytes);
        let take = allowed.min(room);
        let cut = usize::try_from(take).map_or(bytes.len(), |t| t.min(bytes.len()));
        budget.total.set(total.saturating_add(cut as u64));
        let (view, tail) = bytes.split_at(cut);
        let truncated = short || !tail.is_empty();
        if take < allowed {
            let message = budget.total_message();
            budget.note(Limit::TotalBytes, path, message);
        } else if truncated {
            budget.note(
                Limit::MemberBytes,
                path,
                format!(
                    "member larger than max_member_bytes ({}): visited its first {} bytes",
                    limits.max_member_bytes,
                    view.len()
                ),
            );
        }
        let mut tail_reader = tail;
        let mut meter = Meter::new(&mut tail_reader, budget, path, None);
        let mut rest = view.chain(&mut meter);
        self.visit_and_expand(path, view, truncated, &mut rest, anc);
        MemberEnd {
            visited: true,
            whole: !truncated,
            out: cut as u64,
            dead: false,
            failed: false,
        }
    }

    /// Visits a member's bytes `data` (all of it, or a prefix when `truncated`), then expands
    /// it when it is an archive: from `data` when whole, else from `rest` (the member from its
    /// start) for streaming formats.
    fn visit_and_expand(
        &mut self,
        path: &str,
        data: &[u8],
        truncated: bool,
        rest: &mut dyn Read,
        anc: Option<&Anc<'_>>,
    ) {
        let budget = self.budget;
        let limits = budget.limits;
        // A prefix has no end record: only its first bytes tell.
        let format = if truncated {
            sniff(data)
        } else {
            sniff_buffer(data)
        };
        let entry = Entry {
            path: &self.path,
            depth: u32::try_from(self.path.len()).unwrap_or(u32::MAX),
            data,
            truncated,
            format,
        };
        if (self.visit)(&entry) == Flow::Stop {
            budget.stop.set(true);
            self.report.stopped = true;
        }
        let Some(format) = format else {
            return;
        };
        if self.stopped() {
            return;
        }
        let depth = self.path.len();
        if u64::try_from(depth).unwrap_or(u64::MAX) >= u64::from(limits.max_depth) {
            budget.note(
                Limit::Depth,
                path,
                format!(
                    "{format} archive at depth {depth} = max_depth ({}): not expanded",
                    limits.max_depth
                ),
            );
        } else if !truncated {
            if is_enclosing(anc, data) {
                budget.note(
                    Limit::Cycle,
                    path,
                    format!(
                        "{format} archive identical to an archive enclosing it \
                         (self-reproducing): not expanded again"
                    ),
                );
            } else {
                let me = Anc { data, parent: anc };
                self.expand(format, Src::Full(data), Some(&me));
            }
        } else {
            // Only a prefix is held. Streaming formats go on reading the rest of the member;
            // zip and 7z need the whole archive.
            self.expand(
                format,
                Src::Stream {
                    head: data,
                    reader: rest,
                },
                anc,
            );
        }
    }

    fn zip(&mut self, data: &[u8], anc: Option<&Anc<'_>>) {
        let input = Cell::new(0u64);
        let source = Counted {
            inner: io::Cursor::new(data),
            count: &input,
        };
        let mut archive = match zip::ZipArchive::new(source) {
            Ok(archive) => archive,
            Err(e) => {
                self.error(
                    self.here(),
                    format!(
                        "zip: central directory unreadable ({e}); members read from their local \
                         headers instead"
                    ),
                );
                self.zip_local(data, anc);
                return;
            }
        };
        if archive.offset() > 0 && data.starts_with(zipscan::LOCAL_SIG) {
            // The directory found describes an archive further in (a zip stored inside whose
            // own end record is the last one left, or zips concatenated): the archive that
            // starts at 0 has lost its directory.
            self.error(
                self.here(),
                format!(
                    "zip: the central directory found belongs to an archive at offset {}, not                      to the one at offset 0; members read from their local headers instead",
                    archive.offset()
                ),
            );
            drop(archive);
            self.zip_local(data, anc);
            return;
        }
        let limits = self.budget.limits;
        for index in 0..archive.len() {
            if self.stopped() {
                break;
            }
            let (name, skip, encrypted, size, compressed, method) =
                match archive.by_index_data(index) {
                    Ok(meta) => (
                        String::from_utf8_lossy(meta.name_raw()).into_owned(),
                        // A "directory" that holds data is visited all the same.
                        meta.is_dir() && meta.size() == 0,
                        meta.encrypted(),
                        meta.size(),
                        meta.compressed_size(),
                        meta.compression(),
                    ),
                    Err(e) => {
                        self.error(self.here(), format!("zip: member #{index}: {e}"));
                        continue;
                    }
                };
            if skip {
                continue;
            }
            if encrypted {
                if self.enter(&name) {
                    let path = self.child(&name);
                    self.report.encrypted.push(path);
                }
                continue;
            }
            if method == zip::CompressionMethod::Stored && compressed == size {
                // The member's bytes are in `data`: visit them there, without a copy.
                let span = archive.by_index_raw(index).ok().and_then(|file| {
                    let start = usize::try_from(file.data_start()?).ok()?;
                    let end = start.checked_add(usize::try_from(size).ok()?)?;
                    Some((start, end, file.crc32()))
                });
                if let Some((start, end, crc)) = span
                    && let Some(bytes) = data.get(start..end)
                {
                    self.stored_member(name, bytes, crc, anc);
                    continue;
                }
            }
            let in_start = input.get();
            match archive.by_index(index) {
                Ok(mut file) => {
                    let how = How {
                        ratio: Some(Ratio {
                            input: &input,
                            in_start,
                            out_before: 0,
                        }),
                        size_hint: bounded_hint(size, compressed, limits),
                        hint_bounded: true,
                        window: zip_method_window(method),
                        ..How::default()
                    };
                    self.member(name, MemberSrc::reader(&mut file, how), anc);
                }
                Err(e) => self.unreadable(&name, format!("zip: {e}")),
            }
        }
        if archive.has_duplicate_names() {
            self.zip_shadowed(data, &archive, anc);
        }
    }

    /// A stored zip member held in `bytes` (a slice of the archive), checked against `crc`.
    fn stored_member(
        &mut self,
        name: String,
        bytes: &[u8],
        crc: u32,
        anc: Option<&Anc<'_>>,
    ) -> MemberEnd {
        let path = self.child(&name);
        let mut end = self.member(name, MemberSrc::slice(bytes), anc);
        if end.visited && crc32(bytes) != crc {
            end.whole = false;
            self.error(path, "zip: invalid checksum (CRC-32 mismatch)".to_owned());
        }
        end
    }

    /// Members that the `zip` crate hides: it indexes members by name, so of several central
    /// directory records with one name only the last is reachable through it. Those records
    /// are read here from their local headers (an evasion trick: extractors disagree on which
    /// copy wins, so every copy is scanned).
    fn zip_shadowed<R: Read + Seek>(
        &mut self,
        data: &[u8],
        archive: &zip::ZipArchive<R>,
        anc: Option<&Anc<'_>>,
    ) {
        let kept: std::collections::HashSet<u64> = (0..archive.len())
            .filter_map(|i| archive.by_index_data(i).ok().map(|e| e.header_start()))
            .collect();
        let base = archive.offset();
        let mut pos = usize::try_from(archive.central_directory_start()).unwrap_or(usize::MAX);
        while let Some(record) = CentralRecord::parse(data, pos) {
            pos = record.next;
            if self.stopped() {
                return;
            }
            let Some(start) = record.local_offset.checked_add(base) else {
                continue;
            };
            if kept.contains(&start) || (record.name.ends_with('/') && record.size == 0) {
                continue;
            }
            let name = record.name;
            if record.flags & 1 != 0 {
                if self.enter(&name) {
                    let path = self.child(&name);
                    self.report.encrypted.push(path);
                }
                continue;
            }
            let Some(at) = usize::try_from(start).ok().filter(|&s| s < data.len()) else {
                self.unreadable(&name, "zip: local header offset out of range".to_owned());
                continue;
            };
            let Some(header) = LocalHeader::parse(data, at) else {
                self.unreadable(
                    &name,
                    "zip: no local header at the member's offset".to_owned(),
                );
                continue;
            };
            let sizes = zipscan::Descriptor {
                crc: record.crc,
                compressed_size: record.compressed_size,
                size: record.size,
            };
            self.zip_from_local(name, data, at, &header, Some(sizes), anc);
        }
    }

    /// Members of a zip whose central directory cannot be read, found by their local headers
    /// (as `unzip` and Python's `zipfile` extract a zip whose end record is damaged, and
    /// streaming extractors one without a central directory). Headers are taken in order, each
    /// once; the search goes on past a member's data only when that member was read whole and
    /// checked, else just past its header, so a lying size hides nothing. Every member counts
    /// against the same limits as any other.
    fn zip_local(&mut self, data: &[u8], anc: Option<&Anc<'_>>) {
        // Bytes the data-descriptor searches may look at, all members together.
        let mut search = (data.len() as u64)
            .saturating_mul(4)
            .saturating_add(1 << 20);
        let mut pos = 0usize;
        let mut found = 0u32;
        while !self.stopped() {
            let Some(at) = zipscan::find(data, zipscan::LOCAL_SIG, pos) else {
                break;
            };
            pos = at + 4;
            let Some(header) = LocalHeader::parse(data, at) else {
                continue;
            };
            found += 1;
            pos = header.data_start;
            let name = header.name.clone();
            if header.is_directory() {
                continue;
            }
            if header.encrypted() {
                if self.enter(&name) {
                    let path = self.child(&name);
                    self.report.encrypted.push(path);
                }
                continue;
            }
            let sizes = if header.sizes_known() {
                Some(zipscan::Descriptor {
                    crc: header.crc,
                    compressed_size: header.compressed_size,
                    size: header.size,
                })
            } else {
                zipscan::find_descriptor(data, header.data_start, &mut search)
            };
            let end = self.zip_from_local(name, data, at, &header, sizes, anc);
            if end.whole
                && let Some(sizes) = sizes
                && let Some(next) = usize::try_from(sizes.compressed_size)
                    .ok()
                    .and_then(|c| header.data_start.checked_add(c))
            {
                pos = pos.max(next);
            }
        }
        if found == 0 {
            self.error(self.here(), "zip: no local file header found".to_owned());
        }
    }

    /// Reads the member whose local header `header` is at `at`, with the CRC and sizes of
    /// `sizes` (from the central directory, the local header or a data descriptor; `None` when
    /// unknown).
    fn zip_from_local(
        &mut self,
        name: String,
        data: &[u8],
        at: usize,
        header: &LocalHeader,
        sizes: Option<zipscan::Descriptor>,
        anc: Option<&Anc<'_>>,
    ) -> MemberEnd {
        let start = header.data_start;
        let Some(sizes) = sizes else {
            if header.method == zipscan::STORED {
                self.unreadable(
                    &name,
                    "zip: stored member whose size is only in a data descriptor, which was not \
                     found: its end is unknown"
                        .to_owned(),
                );
                return MemberEnd::default();
            }
            // A compressed stream ends by itself: read it to its end, unchecked.
            let path = self.child(&name);
            let input = Cell::new(0u64);
            let mut source = Counted {
                inner: data.get(at..).unwrap_or_default(),
                count: &input,
            };
            let remaining = data.len().saturating_sub(start) as u64;
            let options = zip::read::ZipReadOptions::new()
                .override_compressed_size(remaining)
                .ignore_crc32(true);
            return match zip::read::read_zipfile_from_stream_with_options(&mut source, options) {
                Ok(Some(mut file)) => {
                    let how = How {
                        ratio: Some(Ratio {
                            input: &input,
                            in_start: 0,
                            out_before: 0,
                        }),
                        window: zip_window(header.method),
                        ..How::default()
                    };
                    let mut end = self.member(name, MemberSrc::reader(&mut file, how), anc);
                    if end.visited {
                        end.whole = false;
                        self.error(
                            path,
                            "zip: member size unknown (no data descriptor found): read to the \
                             end of its compressed stream, unchecked"
                                .to_owned(),
                        );
                    }
                    end
                }
                Ok(None) => {
                    self.unreadable(&name, "zip: no local header".to_owned());
                    MemberEnd::default()
                }
                Err(e) => {
                    self.unreadable(&name, format!("zip: {e}"));
                    MemberEnd::default()
                }
            };
        };
        let declared_end = usize::try_from(sizes.compressed_size)
            .ok()
            .and_then(|c| start.checked_add(c));
        let Some(end) = declared_end.filter(|&e| e <= data.len()) else {
            // Cut short (a truncated download): scan what is there.
            let path = self.child(&name);
            let bytes = data.get(start..).unwrap_or_default();
            let mut end = if header.method == zipscan::STORED {
                self.member(name, MemberSrc::short_slice(bytes), anc)
            } else {
                self.zip_read_local(name, data, at, header, sizes, anc)
            };
            if end.visited {
                end.whole = false;
                self.error(
                    path,
                    format!(
                        "zip: member data ends after {} of its {} bytes",
                        bytes.len(),
                        sizes.compressed_size
                    ),
                );
            }
            return end;
        };
        if header.method == zipscan::STORED && sizes.compressed_size == sizes.size {
            let bytes = data.get(start..end).unwrap_or_default();
            return self.stored_member(name, bytes, sizes.crc, anc);
        }
        self.zip_read_local(name, data, at, header, sizes, anc)
    }

    /// Decodes a member from its local header with the given CRC and sizes.
    fn zip_read_local(
        &mut self,
        name: String,
        data: &[u8],
        at: usize,
        header: &LocalHeader,
        sizes: zipscan::Descriptor,
        anc: Option<&Anc<'_>>,
    ) -> MemberEnd {
        let limits = self.budget.limits;
        let input = Cell::new(0u64);
        let mut source = Counted {
            inner: data.get(at..).unwrap_or_default(),
            count: &input,
        };
        let options = zip::read::ZipReadOptions::new()
            .override_compressed_size(sizes.compressed_size)
            .override_uncompressed_size(sizes.size)
            .override_crc(sizes.crc);
        match zip::read::read_zipfile_from_stream_with_options(&mut source, options) {
            Ok(Some(mut file)) => {
                let how = How {
                    ratio: Some(Ratio {
                        input: &input,
                        in_start: input.get(),
                        out_before: 0,
                    }),
                    size_hint: bounded_hint(sizes.size, sizes.compressed_size, limits),
                    hint_bounded: true,
                    window: zip_window(header.method),
                    ..How::default()
                };
                self.member(name, MemberSrc::reader(&mut file, how), anc)
            }
            Ok(None) => {
                self.unreadable(
                    &name,
                    "zip: no local header at the member's offset".to_owned(),
                );
                MemberEnd::default()
            }
            Err(e) => {
                self.unreadable(&name, format!("zip: {e}"));
                MemberEnd::default()
            }
        }
    }

    /// A tar held whole in `data`: its files are slices of it, and a damaged header does not
    /// end the walk: it goes on from the next header whose checksum adds up (GNU tar skips
    /// to the next header likewise, with a warning).
    fn tar_full(&mut self, data: &[u8], anc: Option<&Anc<'_>>) {
        let mut start = 0usize;
        loop {
            let mut reader = data.get(start..).unwrap_or_default();
            let Some((consumed, message)) = self.tar(&mut reader, Some((data, start)), anc) else {
                return;
            };
            let after = usize::try_from(consumed)
                .ok()
                .and_then(|c| start.checked_add(c))
                .unwrap_or(data.len())
                .max(start.saturating_add(512));
            let next = if self.stopped() {
                None
            } else {
                next_tar_header(data, start, after)
            };
            match next {
                Some(next) => {
                    self.error(
                        self.here(),
                        format!(
                            "{message}; walked on from the next valid header, at offset {next}"
                        ),
                    );
                    start = next;
                }
                None => {
                    self.error(self.here(), message);
                    return;
                }
            }
        }
    }

    /// Walks a tar read from `src`; `full` is the whole buffer and where `src` starts in it,
    /// when the tar is held whole (its files are then visited as slices of it). Returns the
    /// bytes read and the message of a damaged header (not one a limit explains); an error
    /// inside a member's body is recorded here and ends the walk of this tar.
    fn tar(
        &mut self,
        src: &mut dyn Read,
        full: Option<(&[u8], usize)>,
        anc: Option<&Anc<'_>>,
    ) -> Option<(u64, String)> {
        let consumed = Cell::new(0u64);
        let mut counted = Counted {
            inner: src,
            count: &consumed,
        };
        let header_budget = Cell::new(TAR_HEADER_BUDGET);
        let guarded = HeaderGuard {
            inner: &mut counted,
            budget: &header_budget,
        };
        let mut archive = tar::Archive::new(guarded);
        let budget = self.budget;
        let mut entries = match archive.entries() {
            Ok(entries) => entries,
            Err(e) => return Some((consumed.get(), format!("tar: {e}"))),
        };
        loop {
            if self.stopped() {
                break;
            }
            header_budget.set(TAR_HEADER_BUDGET);
            let generation = budget.generation();
            let mut entry = match entries.next() {
                None => break,
                Some(Ok(entry)) => entry,
                Some(Err(e)) => {
                    if budget.limit_since(generation) {
                        return None;
                    }
                    return Some((consumed.get(), format!("tar: {e}")));
                }
            };
            header_budget.set(u64::MAX);
            let kind = entry.header().entry_type();
            let size = entry.size();
            if carries_data(kind, size) {
                let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                // A file of a tar held whole is a slice of it (a sparse file is not).
                let slice =
                    full.filter(|_| kind != tar::EntryType::GNUSparse)
                        .and_then(|(data, start)| {
                            let from = start
                                .checked_add(usize::try_from(entry.raw_file_position()).ok()?)?;
                            data.get(from..from.checked_add(usize::try_from(size).ok()?)?)
                        });
                match slice {
                    Some(bytes) => {
                        self.member(name, MemberSrc::slice(bytes), anc);
                    }
                    None => {
                        let how = How {
                            size_hint: size,
                            exact_size: true,
                            ..How::default()
                        };
                        self.member(name, MemberSrc::reader(&mut entry, how), anc);
                    }
                }
                if self.stopped() {
                    break;
                }
            }
            // Skip the rest of the body here, not in the header-capped `next`.
            let generation = budget.generation();
            if let Err(e) = io::copy(&mut entry, &mut io::sink()) {
                if !budget.limit_since(generation) {
                    self.error(self.here(), format!("tar: {e}"));
                }
                break;
            }
        }
        None
    }

    fn single(&mut self, format: Format, head: &[u8], src: &mut dyn Read, anc: Option<&Anc<'_>>) {
        let name = self.single_name(format, head);
        let input = Cell::new(0u64);
        let mut counted = Counted {
            inner: src,
            count: &input,
        };
        let mut decoder: Box<dyn Read + '_> = match format {
            Format::Gzip => Box::new(flate2::read::MultiGzDecoder::new(&mut counted)),
            Format::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(&mut counted)),
            _ => Box::new(lzma_rust2::XzReader::new(&mut counted, true)),
        };
        let ratio = Ratio {
            input: &input,
            in_start: 0,
            out_before: 0,
        };
        let window = match format {
            Format::Gzip => 0,
            Format::Bzip2 => BZIP2_STATE,
            _ => LZMA_WINDOW,
        };
        let how = How {
            ratio: Some(ratio),
            window,
            ..How::default()
        };
        self.member(name, MemberSrc::reader(&mut *decoder, how), anc);
    }

    fn single_name(&self, format: Format, head: &[u8]) -> String {
        if format == Format::Gzip
            && let Some(name) = gzip_file_name(head)
        {
            return name;
        }
        let outer = self.path.last().map_or(self.root_name, String::as_str);
        let suffixes: &[(&str, &str)] = match format {
            Format::Gzip => &[
                (".tgz", ".tar"),
                (".taz", ".tar"),
                (".gz", ""),
                (".gzip", ""),
                (".z", ""),
            ],
            Format::Bzip2 => &[
                (".tbz2", ".tar"),
                (".tbz", ".tar"),
                (".tb2", ".tar"),
                (".bz2", ""),
                (".bz", ""),
            ],
            _ => &[(".txz", ".tar"), (".xz", "")],
        };
        let lower = outer.to_ascii_lowercase();
        for (suffix, replacement) in suffixes {
            if lower.ends_with(suffix) && outer.len() > suffix.len() {
                // ASCII suffix: the byte offset is a char boundary.
                let stem = outer.get(..outer.len() - suffix.len()).unwrap_or(outer);
                return format!("{stem}{replacement}");
            }
        }
        if outer.is_empty() {
            format!("({} data)", format.label().to_ascii_lowercase())
        } else {
            outer.to_owned()
        }
    }

    fn sevenz(&mut self, data: &[u8], anc: Option<&Anc<'_>>) {
        let header = match sevenz_guard::check(data, self.budget.limits.max_member_bytes) {
            sevenz_guard::Verdict::Plain => 0,
            sevenz_guard::Verdict::Encoded { decoded } => decoded,
            sevenz_guard::Verdict::EncryptedHeader => {
                self.report.encrypted.push(self.here());
                self.not_expanded(
                    self.here(),
                    "7z archive with an encrypted header (file names hidden)".to_owned(),
                );
                return;
            }
            sevenz_guard::Verdict::Refuse(reason) => {
                self.not_expanded(self.here(), reason);
                return;
            }
            sevenz_guard::Verdict::Corrupt(reason) => {
                self.error(self.here(), format!("7z: {reason}"));
                return;
            }
        };
        // The compressed header is decoded whole, into memory.
        let _header = match self.budget.memory.reserve(header) {
            Ok(reservation) => reservation,
            Err(e) => {
                self.budget.note(
                    Limit::Memory,
                    &self.here(),
                    format!("{e}: the 7z header ({header} bytes once decoded) was not read"),
                );
                return;
            }
        };
        let input = Cell::new(0u64);
        let mut source = Counted {
            inner: io::Cursor::new(data),
            count: &input,
        };
        let password = sevenz_rust2::Password::empty();
        let archive = match sevenz_rust2::Archive::read(&mut source, &password) {
            Ok(archive) => archive,
            Err(e) => {
                self.error(self.here(), format!("7z: {e}"));
                return;
            }
        };
        let block_of = |file: usize| {
            archive
                .stream_map
                .file_block_index
                .get(file)
                .copied()
                .flatten()
        };
        let encrypted_blocks: Vec<bool> = archive
            .blocks
            .iter()
            .map(|b| b.coders.iter().any(|c| c.encoder_method_id() == SEVENZ_AES))
            .collect();
        for (index, file) in archive.files.iter().enumerate() {
            if self.stopped() {
                return;
            }
            if let Some(block) = block_of(index)
                && encrypted_blocks.get(block).copied().unwrap_or(false)
                && !file.is_directory
                && self.enter(&file.name)
            {
                let path = self.child(&file.name);
                self.report.encrypted.push(path);
            }
        }
        let budget = self.budget;
        let drain = archive.is_solid;
        for block in 0..archive.blocks.len() {
            if self.stopped() {
                return;
            }
            if encrypted_blocks.get(block).copied().unwrap_or(false) {
                continue;
            }
            let in_start = input.get();
            let out_before = Cell::new(0u64);
            let aborted = Cell::new(false);
            let generation = budget.generation();
            let decoder =
                sevenz_rust2::BlockDecoder::new(1, block, &archive, &password, &mut source);
            let result = decoder.for_each_entries(&mut |file, reader| {
                if self.stopped() {
                    aborted.set(true);
                    return Err(sevenz_rust2::Error::Other("walk stopped".into()));
                }
                if file.is_directory || file.is_anti_item {
                    return Ok(true);
                }
                let ratio = Ratio {
                    input: &input,
                    in_start,
                    out_before: out_before.get(),
                };
                let how = How {
                    ratio: Some(ratio),
                    size_hint: file.size,
                    drain,
                    window: LZMA_WINDOW,
                    ..How::default()
                };
                let end = self.member(file.name.clone(), MemberSrc::reader(reader, how), anc);
                out_before.set(out_before.get().saturating_add(end.out));
                if end.dead || end.failed || self.stopped() {
                    // Leave the block: the decoder would otherwise decode the rest unmetered
                    // (or read a failed decoder again).
                    aborted.set(true);
                    return Err(sevenz_rust2::Error::Other("limit reached".into()));
                }
                Ok(true)
            });
            if let Err(e) = result
                && !aborted.get()
                && !budget.limit_since(generation)
            {
                self.error(self.here(), format!("7z block {block}: {e}"));
            }
        }
        // Empty files have no block.
        for (index, file) in archive.files.iter().enumerate() {
            if self.stopped() {
                return;
            }
            if block_of(index).is_none() && !file.is_directory && !file.is_anti_item {
                self.member(file.name.clone(), MemberSrc::slice(&[]), anc);
            }
        }
    }
}

/// The fields of a zip central directory record that [`Walker::zip_shadowed`] needs.
struct CentralRecord {
    name: String,
    flags: u16,
    crc: u32,
    compressed_size: u64,
    size: u64,
    local_offset: u64,
    /// Offset of the record after this one.
    next: usize,
}

impl CentralRecord {
    /// The record at `pos`, if one is there (signature, and all its fields within `data`).
    fn parse(data: &[u8], pos: usize) -> Option<Self> {
        let fixed = data.get(pos..pos.checked_add(46)?)?;
        if &fixed[..4] != b"PK\x01\x02" {
            return None;
        }
        let le16 = |at: usize| u16::from_le_bytes([fixed[at], fixed[at + 1]]);
        let le32 = |at: usize| {
            u32::from_le_bytes([fixed[at], fixed[at + 1], fixed[at + 2], fixed[at + 3]])
        };
        let (name_len, extra_len, comment_len) = (
            usize::from(le16(28)),
            usize::from(le16(30)),
            usize::from(le16(32)),
        );
        let name_at = pos + 46;
        let name = data.get(name_at..name_at + name_len)?;
        let extra = data.get(name_at + name_len..name_at + name_len + extra_len)?;
        let next = name_at + name_len + extra_len + comment_len;
        let mut record = Self {
            name: String::from_utf8_lossy(name).into_owned(),
            flags: le16(8),
            crc: le32(16),
            compressed_size: u64::from(le32(20)),
            size: u64::from(le32(24)),
            local_offset: u64::from(le32(42)),
            next,
        };
        // Zip64 extended information: the 8-byte values whose 4-byte fields are saturated, in
        // the order uncompressed size, compressed size, local header offset.
        let mut rest = extra;
        while let [a, b, c, d, tail @ ..] = rest {
            let (id, len) = (
                u16::from_le_bytes([*a, *b]),
                usize::from(u16::from_le_bytes([*c, *d])),
            );
            let body = tail.get(..len)?;
            if id == 1 {
                let mut fields = body.chunks_exact(8).map(|c| {
                    let mut b = [0u8; 8];
                    b.copy_from_slice(c);
                    u64::from_le_bytes(b)
                });
                for value in [
                    &mut record.size,
                    &mut record.compressed_size,
                    &mut record.local_offset,
                ] {
                    if *value == u64::from(u32::MAX) {
                        *value = fields.next()?;
                    }
                }
            }
            rest = &tail[len..];
        }
        Some(record)
    }
}

/// Tar entry types whose body is file content: regular, contiguous, GNU sparse, and unknown
/// types that carry data (GNU tar extracts those as regular files).
fn carries_data(kind: tar::EntryType, size: u64) -> bool {
    use tar::EntryType as T;
    match kind {
        T::Regular | T::Continuous | T::GNUSparse => true,
        T::Link
        | T::Symlink
        | T::Char
        | T::Block
        | T::Directory
        | T::Fifo
        | T::GNULongName
        | T::GNULongLink
        | T::XGlobalHeader
        | T::XHeader => false,
        _ => size > 0,
    }
}

/// The original file name (FNAME) of a gzip header, if `head` holds it.
fn gzip_file_name(head: &[u8]) -> Option<String> {
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    let flags = *head.get(3)?;
    if flags & FNAME == 0 {
        return None;
    }
    let mut pos = 10usize;
    if flags & FEXTRA != 0 {
        let len = u16::from_le_bytes([*head.get(10)?, *head.get(11)?]);
        pos = 12 + usize::from(len);
    }
    let rest = head.get(pos..)?;
    let rest = &rest[..rest.len().min(1 << 16)];
    let nul = rest.iter().position(|&b| b == 0)?;
    (nul > 0).then(|| String::from_utf8_lossy(&rest[..nul]).into_owned())
}

/// A member's first bytes, as [`read_prefix`] read them.
struct Prefix {
    buf: Vec<u8>,
    /// The byte past the buffer, when the member is longer (so that a stream can be resumed).
    probe: Option<u8>,
    /// The error that ended the read.
    err: Option<io::Error>,
    /// The buffer could not grow (the memory budget refused) while the member went on.
    cut_by_memory: bool,
}

/// Reads up to `max` bytes of a member into a buffer whose first allocation is `first` bytes
/// (at most `max`). When the buffer is full, one more byte is read before it grows, so that a
/// member that ends there costs no more memory; `reserve(capacity)` is then asked before the
/// buffer grows to `capacity` bytes, and when it refuses the read ends there as if `max` were
/// reached.
fn read_prefix(
    r: &mut dyn Read,
    max: u64,
    first: u64,
    reserve: &mut dyn FnMut(u64) -> bool,
) -> Prefix {
    let mut prefix = Prefix {
        buf: Vec::new(),
        probe: None,
        err: None,
        cut_by_memory: false,
    };
    let buf = &mut prefix.buf;
    let first = first.min(max);
    // A first allocation the budget refuses is skipped: the buffer then grows step by step,
    // as far as the budget allows.
    if first > 0
        && reserve(first)
        && let Ok(first) = usize::try_from(first)
        && buf.try_reserve_exact(first).is_err()
    {
        prefix.err = Some(WalkError::OutOfMemory(first as u64).into());
        return prefix;
    }
    loop {
        let len = buf.len() as u64;
        if len >= max || buf.len() == buf.capacity() {
            let mut probe = [0u8; 1];
            match read_retry(r, &mut probe) {
                Ok(0) => return prefix,
                Ok(_) => {}
                Err(e) => {
                    prefix.err = Some(e);
                    return prefix;
                }
            }
            if len >= max {
                prefix.probe = Some(probe[0]);
                return prefix;
            }
            let target = (len.saturating_mul(2)).max(len + MIN_GROWTH).min(max);
            if !reserve(target) {
                prefix.probe = Some(probe[0]);
                prefix.cut_by_memory = true;
                return prefix;
            }
            let grown = usize::try_from(target - len)
                .ok()
                .is_some_and(|extra| buf.try_reserve_exact(extra).is_ok());
            if !grown {
                prefix.err = Some(WalkError::OutOfMemory(target).into());
                return prefix;
            }
            buf.push(probe[0]);
        }
        let start = buf.len();
        let room = (buf.capacity() - start)
            .min(usize::try_from(max - (start as u64)).unwrap_or(usize::MAX))
            .min(READ_CHUNK);
        buf.resize(start + room, 0);
        match read_retry(r, &mut buf[start..]) {
            Ok(0) => {
                buf.truncate(start);
                return prefix;
            }
            Ok(n) => buf.truncate(start + n),
            Err(e) => {
                buf.truncate(start);
                prefix.err = Some(e);
                return prefix;
            }
        }
    }
}

fn read_retry(r: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    for _ in 0..64 {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
    Err(WalkError::Interrupted.into())
}

/// CRC-32 (IEEE, as zip uses it).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = flate2::Crc::new();
    crc.update(bytes);
    crc.sum()
}

/// A compressed member's declared size, bounded by what its compressed size can yield before
/// the ratio limit cuts it: a size that can be trusted to size the first allocation.
fn bounded_hint(size: u64, compressed: u64, limits: &Limits) -> u64 {
    let most = compressed
        .saturating_mul(u64::from(limits.max_ratio))
        .max(limits.ratio_threshold)
        .saturating_add(READ_CHUNK as u64);
    size.min(most)
}

/// Decoder memory besides the output for a zip method number (see [`ZSTD_WINDOW`] …).
fn zip_window(method: u16) -> u64 {
    match method {
        12 => BZIP2_STATE,
        93 => ZSTD_WINDOW,
        14 | 95 => LZMA_WINDOW,
        _ => 0,
    }
}

/// [`zip_window`] of a `zip` crate method.
fn zip_method_window(method: zip::CompressionMethod) -> u64 {
    use zip::CompressionMethod as M;
    match method {
        M::Bzip2 => BZIP2_STATE,
        M::Zstd => ZSTD_WINDOW,
        M::Lzma | M::Xz => LZMA_WINDOW,
        _ => 0,
    }
}

/// The first block at or after `from` (on the 512-byte grid of a tar starting at `start`)
/// that is a tar header whose checksum adds up.
fn next_tar_header(data: &[u8], start: usize, from: usize) -> Option<usize> {
    let offset = from.checked_sub(start)?;
    let mut at = start.checked_add(offset.div_ceil(512).checked_mul(512)?)?;
    while let Some(block) = data.get(at..at.checked_add(512)?) {
        if crate::sniff::tar_header_valid(block) {
            return Some(at);
        }
        at += 512;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_names() {
        let mut h = vec![0x1F, 0x8B, 8, 8, 0, 0, 0, 0, 0, 3];
        h.extend_from_slice(b"x.tar\0rest");
        assert_eq!(gzip_file_name(&h).as_deref(), Some("x.tar"));
        h[3] = 0;
        assert_eq!(gzip_file_name(&h), None);
        let mut e = vec![0x1F, 0x8B, 8, 8 | 4, 0, 0, 0, 0, 0, 3, 2, 0, b'A', b'B'];
        e.extend_from_slice(b"n\0");
        assert_eq!(gzip_file_name(&e).as_deref(), Some("n"));
        assert_eq!(gzip_file_name(&e[..13]), None);
    }

    #[test]
    fn enclosing_archives() {
        let outer = Anc {
            data: b"outer",
            parent: None,
        };
        let inner = Anc {
            data: b"inner",
            parent: Some(&outer),
        };
        assert!(is_enclosing(Some(&inner), b"outer"));
        assert!(is_enclosing(Some(&inner), b"inner"));
        assert!(!is_enclosing(Some(&inner), b"other"));
        assert!(!is_enclosing(None, b"outer"));
    }

    fn any(_: u64) -> bool {
        true
    }

    #[test]
    fn prefix_reads() {
        let data = vec![7u8; 300_000];
        let p = read_prefix(&mut &data[..], 1 << 20, 0, &mut any);
        assert_eq!(p.buf.len(), 300_000);
        assert!(p.probe.is_none() && p.err.is_none());
        let p = read_prefix(&mut &data[..], 100_000, MAX_PREALLOC, &mut any);
        assert_eq!(p.buf.len(), 100_000);
        assert_eq!(p.probe, Some(7));
        assert!(p.err.is_none());
        assert!(p.buf.capacity() <= 100_000);
        let p = read_prefix(&mut &data[..], 300_000, 10, &mut any);
        assert_eq!((p.buf.len(), p.probe), (300_000, None));
    }

    /// Every growth is asked first; a refusal ends the buffer there, and only a member that
    /// goes on past it counts as cut.
    #[test]
    fn prefix_reads_ask_before_growing() {
        let data = vec![7u8; 300_000];
        let mut asked = Vec::new();
        let p = read_prefix(&mut &data[..], 1 << 20, 0, &mut |c| {
            asked.push(c);
            c <= 128 << 10
        });
        assert_eq!(asked, [64 << 10, 128 << 10, 256 << 10]);
        assert_eq!((p.buf.len(), p.probe), (128 << 10, Some(7)));
        assert!(p.cut_by_memory && p.err.is_none());
        assert!(p.buf.capacity() <= 128 << 10);

        // A member that ends where the buffer is full asks for nothing more.
        let exact = vec![1u8; 64 << 10];
        let mut asked = Vec::new();
        let p = read_prefix(&mut &exact[..], 1 << 20, 0, &mut |c| {
            asked.push(c);
            true
        });
        assert_eq!(asked, [64 << 10]);
        assert_eq!(
            (p.buf.len(), p.probe, p.cut_by_memory),
            (64 << 10, None, false)
        );

        let p = read_prefix(&mut &data[..], 1 << 20, 300_000, &mut |_| false);
        assert!(p.buf.is_empty() && p.cut_by_memory && p.probe == Some(7));
    }

    #[test]
    fn hints_are_bounded_by_the_ratio() {
        let limits = Limits::default();
        assert_eq!(bounded_hint(250 << 20, 3 << 20, &limits), 250 << 20);
        let lie = bounded_hint(u64::MAX, 10, &limits);
        assert_eq!(lie, (1 << 20) + READ_CHUNK as u64);
    }

    #[test]
    fn tar_headers_are_found_on_the_grid() {
        let mut data = vec![0u8; 4096];
        let mut header = [0u8; 512];
        header[..5].copy_from_slice(b"a.txt");
        header[124..135].copy_from_slice(b"00000000005");
        let sum: u32 = header.iter().map(|&b| u32::from(b)).sum::<u32>() + 8 * 32;
        header[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        data[2560..3072].copy_from_slice(&header);
        assert_eq!(next_tar_header(&data, 0, 513), Some(2560));
        assert_eq!(next_tar_header(&data, 0, 2561), None);
        assert_eq!(next_tar_header(&data, 512, 600), Some(2560));
        assert_eq!(next_tar_header(&data, 100, 600), None, "off the grid");
    }
}
