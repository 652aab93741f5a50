//! The recursive, limited archive walk.
//!
//! Every member is read through a [`Meter`], which counts the bytes against the walk's
//! [`Budget`] and fails the read once a limit is reached, so a decoder stops producing
//! output as soon as a limit trips. A member is read into one buffer of at most
//! `max_member_bytes`; when it is itself an archive it is expanded from that buffer (or, when
//! it was larger and its format streams, from the buffer followed by the rest of the member).

use std::cell::Cell;
use std::io::{self, Read, Seek, SeekFrom};

use crate::{
    Entry, Flow, Format, Limit, LimitExceeded, Limits, Report, join_path, sevenz_guard, sniff,
};

/// Most tar header bytes (headers, GNU long names, pax records, sparse maps) read between two
/// members. The `tar` crate reads long names and pax records whole into memory.
const TAR_HEADER_BUDGET: u64 = 4 << 20;
/// Largest buffer reserved up front from a member's declared size.
const MAX_PREALLOC: u64 = 1 << 20;
/// Granularity of the member buffer's growth.
const MIN_GROWTH: u64 = 64 << 10;
/// Most bytes asked of a decoder in one read (also bounds how far a read overshoots the
/// ratio threshold).
const READ_CHUNK: usize = 128 << 10;
/// The 7z AES-256 + SHA-256 coder.
const SEVENZ_AES: &[u8] = &[0x06, 0xF1, 0x07, 0x01];

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
/// `data` is sniffed ([`crate::sniff`]); when it is no archive the report has `format: None`
/// and `visit` is never called. Otherwise every member that is a file (not a directory, link or
/// device) is visited with its decompressed bytes; members that are archives are visited, then
/// expanded while their depth is below [`Limits::max_depth`]. Memory stays around one member
/// buffer plus decoder state per nesting level.
pub fn walk_named(
    name: &str,
    data: &[u8],
    limits: &Limits,
    visit: &mut dyn FnMut(&Entry<'_>) -> Flow,
) -> Report {
    let mut report = Report::default();
    let Some(format) = sniff(data) else {
        return report;
    };
    report.format = Some(format);
    let budget = Budget::new(limits);
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
    fn new(limits: &'l Limits) -> Self {
        Self {
            limits,
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
            let message = format!(
                "total decompressed bytes reached max_total_bytes ({}); the walk stopped",
                limits.max_total_bytes
            );
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

/// A member to read.
struct MemberSrc<'r, 'i> {
    reader: &'r mut dyn Read,
    /// Where the compressed input is counted, for decompressing readers.
    ratio: Option<Ratio<'i>>,
    /// Declared size: sizes the first allocation.
    size_hint: u64,
    /// `size_hint` is exact and the reader does not check it (tar): a shorter member is
    /// reported truncated.
    exact_size: bool,
    /// Read and drop the rest of a member cut short (7z solid blocks, where the next member
    /// starts after it: the decoder would otherwise decode the rest itself, unmetered).
    drain: bool,
}

impl<'r> MemberSrc<'r, '_> {
    fn plain(reader: &'r mut dyn Read) -> Self {
        Self {
            reader,
            ratio: None,
            size_hint: 0,
            exact_size: false,
            drain: false,
        }
    }
}

/// How reading a member ended.
struct MemberEnd {
    /// Bytes read out of the member (through its meter).
    out: u64,
    /// A limit tripped on the member's own meter.
    dead: bool,
    /// The member's reader failed.
    failed: bool,
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
                    "{format} archive not held whole in memory (larger than max_member_bytes, or \
                     cut by a limit): its directory cannot be read from a prefix"
                );
                self.not_expanded(self.here(), reason);
            }
            (Format::Rar, _) => {
                let reason = "RAR is not supported (no maintained pure-Rust RAR decoder \
                              that reads from memory)"
                    .to_owned();
                self.not_expanded(self.here(), reason);
            }
            (Format::Tar, Src::Full(data)) => {
                let mut reader = data;
                self.tar(&mut reader, anc);
            }
            (Format::Tar, Src::Stream { reader, .. }) => self.tar(reader, anc),
            (single, Src::Full(data)) => {
                let mut reader = data;
                self.single(single, data, &mut reader, anc);
            }
            (single, Src::Stream { head, reader }) => self.single(single, head, reader, anc),
        }
    }

    /// Reads one member, visits it, expands it when it is an archive.
    fn member(&mut self, name: String, src: MemberSrc<'_, '_>, anc: Option<&Anc<'_>>) -> MemberEnd {
        let MemberSrc {
            reader,
            ratio,
            size_hint,
            exact_size,
            drain,
        } = src;
        let mut end = MemberEnd {
            out: 0,
            dead: false,
            failed: false,
        };
        if !self.enter(&name) {
            return end;
        }
        self.path.push(name);
        let path = self.here();
        let budget = self.budget;
        let limits = budget.limits;
        let mut meter = Meter::new(reader, budget, &path, ratio);

        let generation = budget.generation();
        let (buf, probe, err) = read_prefix(&mut meter, limits.max_member_bytes, size_hint);
        let mut truncated = probe.is_some();
        if let Some(e) = err {
            truncated = true;
            if !budget.limit_since(generation) {
                self.report.errors.push((path.clone(), e.to_string()));
            }
        } else if exact_size && probe.is_none() && (buf.len() as u64) < size_hint {
            truncated = true;
            self.report.errors.push((
                path.clone(),
                format!(
                    "member ends after {} of its {size_hint} declared bytes",
                    buf.len()
                ),
            ));
        }
        if probe.is_some() {
            budget.note(
                Limit::MemberBytes,
                &path,
                format!(
                    "member larger than max_member_bytes ({}): visited its first {} bytes",
                    limits.max_member_bytes,
                    buf.len()
                ),
            );
        }
        let format = sniff(&buf);
        let entry = Entry {
            path: &self.path,
            depth: u32::try_from(self.path.len()).unwrap_or(u32::MAX),
            data: &buf,
            truncated,
            format,
        };
        if (self.visit)(&entry) == Flow::Stop {
            budget.stop.set(true);
            self.report.stopped = true;
        }

        if let Some(format) = format
            && !self.stopped()
        {
            let depth = self.path.len();
            if u64::try_from(depth).unwrap_or(u64::MAX) >= u64::from(limits.max_depth) {
                budget.note(
                    Limit::Depth,
                    &path,
                    format!(
                        "{format} archive at depth {depth} = max_depth ({}): not expanded",
                        limits.max_depth
                    ),
                );
            } else if !truncated {
                if is_enclosing(anc, &buf) {
                    budget.note(
                        Limit::Cycle,
                        &path,
                        format!(
                            "{format} archive identical to an archive enclosing it \
                             (self-reproducing): not expanded again"
                        ),
                    );
                } else {
                    let me = Anc {
                        data: &buf,
                        parent: anc,
                    };
                    self.expand(format, Src::Full(&buf), Some(&me));
                }
            } else {
                // The member's buffer is only a prefix. Streaming formats go on reading the
                // rest of the member; zip and 7z need the whole archive.
                let tail: &[u8] = match &probe {
                    Some(b) => std::slice::from_ref(b),
                    None => &[],
                };
                let mut rest = (&buf[..]).chain(tail).chain(&mut meter);
                self.expand(
                    format,
                    Src::Stream {
                        head: &buf,
                        reader: &mut rest,
                    },
                    anc,
                );
            }
        }

        if drain && !meter.dead && !meter.failed && !self.stopped() {
            let generation = budget.generation();
            if let Err(e) = io::copy(&mut meter, &mut io::sink())
                && !budget.limit_since(generation)
            {
                self.report.errors.push((path.clone(), e.to_string()));
            }
        }
        end.out = meter.out;
        end.dead = meter.dead;
        end.failed = meter.failed;
        self.path.pop();
        end
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
                self.error(self.here(), format!("zip: {e}"));
                return;
            }
        };
        for index in 0..archive.len() {
            if self.stopped() {
                break;
            }
            let (name, skip, encrypted, size) = match archive.by_index_data(index) {
                Ok(meta) => (
                    String::from_utf8_lossy(meta.name_raw()).into_owned(),
                    // A "directory" that holds data is visited all the same.
                    meta.is_dir() && meta.size() == 0,
                    meta.encrypted(),
                    meta.size(),
                ),
                Err(e) => {
                    self.error(self.here(), format!("zip member #{index}: {e}"));
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
            let in_start = input.get();
            let opened = archive.by_index(index);
            match opened {
                Ok(mut file) => {
                    let ratio = Ratio {
                        input: &input,
                        in_start,
                        out_before: 0,
                    };
                    let src = MemberSrc {
                        ratio: Some(ratio),
                        size_hint: size,
                        ..MemberSrc::plain(&mut file)
                    };
                    self.member(name, src, anc);
                }
                Err(e) => {
                    if self.enter(&name) {
                        let path = self.child(&name);
                        self.error(path, format!("zip: {e}"));
                    }
                }
            }
        }
        if archive.has_duplicate_names() {
            self.zip_shadowed(data, &archive, anc);
        }
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
            let Some(local) = usize::try_from(start).ok().and_then(|s| data.get(s..)) else {
                if self.enter(&name) {
                    let path = self.child(&name);
                    self.error(path, "zip: local header offset out of range".to_owned());
                }
                continue;
            };
            let input = Cell::new(0u64);
            let mut source = Counted {
                inner: local,
                count: &input,
            };
            let options = zip::read::ZipReadOptions::new()
                .override_compressed_size(record.compressed_size)
                .override_uncompressed_size(record.size)
                .override_crc(record.crc);
            match zip::read::read_zipfile_from_stream_with_options(&mut source, options) {
                Ok(Some(mut file)) => {
                    let ratio = Ratio {
                        input: &input,
                        in_start: 0,
                        out_before: 0,
                    };
                    let src = MemberSrc {
                        ratio: Some(ratio),
                        size_hint: record.size,
                        ..MemberSrc::plain(&mut file)
                    };
                    self.member(name, src, anc);
                }
                Ok(None) => {
                    if self.enter(&name) {
                        let path = self.child(&name);
                        self.error(
                            path,
                            "zip: no local header at the member's offset".to_owned(),
                        );
                    }
                }
                Err(e) => {
                    if self.enter(&name) {
                        let path = self.child(&name);
                        self.error(path, format!("zip: {e}"));
                    }
                }
            }
        }
    }

    fn tar(&mut self, src: &mut dyn Read, anc: Option<&Anc<'_>>) {
        let header_budget = Cell::new(TAR_HEADER_BUDGET);
        let guarded = HeaderGuard {
            inner: src,
            budget: &header_budget,
        };
        let mut archive = tar::Archive::new(guarded);
        let budget = self.budget;
        let mut entries = match archive.entries() {
            Ok(entries) => entries,
            Err(e) => {
                self.error(self.here(), format!("tar: {e}"));
                return;
            }
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
                    if !budget.limit_since(generation) {
                        self.error(self.here(), format!("tar: {e}"));
                    }
                    break;
                }
            };
            header_budget.set(u64::MAX);
            let kind = entry.header().entry_type();
            let size = entry.size();
            if carries_data(kind, size) {
                let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let src = MemberSrc {
                    size_hint: size,
                    exact_size: true,
                    ..MemberSrc::plain(&mut entry)
                };
                self.member(name, src, anc);
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
    }

    /// gzip, bzip2 or xz: one member, named from the gzip header or the outer name.
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
        let src = MemberSrc {
            ratio: Some(ratio),
            ..MemberSrc::plain(&mut *decoder)
        };
        self.member(name, src, anc);
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
        match sevenz_guard::check(data, self.budget.limits.max_member_bytes) {
            sevenz_guard::Verdict::Plain | sevenz_guard::Verdict::Encoded => {}
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
        }
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
                let src = MemberSrc {
                    ratio: Some(ratio),
                    size_hint: file.size,
                    drain,
                    ..MemberSrc::plain(reader)
                };
                let end = self.member(file.name.clone(), src, anc);
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
                self.member(file.name.clone(), MemberSrc::plain(&mut io::empty()), anc);
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

/// Reads up to `max` bytes of a member. Returns the bytes, the byte past `max` when the
/// member is longer (so that a stream can be resumed), and the error that ended the read.
fn read_prefix(
    r: &mut dyn Read,
    max: u64,
    size_hint: u64,
) -> (Vec<u8>, Option<u8>, Option<io::Error>) {
    let mut buf: Vec<u8> = Vec::new();
    let first = size_hint.min(max).min(MAX_PREALLOC);
    if let Ok(first) = usize::try_from(first)
        && buf.try_reserve_exact(first).is_err()
    {
        return (buf, None, Some(WalkError::OutOfMemory(first as u64).into()));
    }
    loop {
        let len = buf.len() as u64;
        if len >= max {
            let mut probe = [0u8; 1];
            return match read_retry(r, &mut probe) {
                Ok(0) => (buf, None, None),
                Ok(_) => (buf, Some(probe[0]), None),
                Err(e) => (buf, None, Some(e)),
            };
        }
        if buf.len() == buf.capacity() {
            let target = (len.saturating_mul(2)).max(len + MIN_GROWTH).min(max);
            let extra = target - len;
            let Ok(extra_usize) = usize::try_from(extra) else {
                return (buf, None, Some(WalkError::OutOfMemory(target).into()));
            };
            if buf.try_reserve_exact(extra_usize).is_err() {
                return (buf, None, Some(WalkError::OutOfMemory(target).into()));
            }
        }
        let start = buf.len();
        let room = (buf.capacity() - start)
            .min(usize::try_from(max - len).unwrap_or(usize::MAX))
            .min(READ_CHUNK);
        buf.resize(start + room, 0);
        match read_retry(r, &mut buf[start..]) {
            Ok(0) => {
                buf.truncate(start);
                return (buf, None, None);
            }
            Ok(n) => buf.truncate(start + n),
            Err(e) => {
                buf.truncate(start);
                return (buf, None, Some(e));
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

    #[test]
    fn prefix_reads() {
        let data = vec![7u8; 300_000];
        let (buf, probe, err) = read_prefix(&mut &data[..], 1 << 20, 0);
        assert_eq!(buf.len(), 300_000);
        assert!(probe.is_none() && err.is_none());
        let (buf, probe, err) = read_prefix(&mut &data[..], 100_000, u64::MAX);
        assert_eq!(buf.len(), 100_000);
        assert_eq!(probe, Some(7));
        assert!(err.is_none());
        assert!(buf.capacity() <= 100_000);
        let (buf, probe, _) = read_prefix(&mut &data[..], 300_000, 10);
        assert_eq!((buf.len(), probe), (300_000, None));
    }
}
