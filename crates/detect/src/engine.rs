//! The detector: one read of a file feeds the digests, the hash lists, YARA, clamd and the
//! archive walker, and ends in a [`Report`].
//!
//! A [`Detector`] is shared by every scanning thread. yara-x's `Scanner` is neither `Send`
//! nor cheap to create (it instantiates the rules' WebAssembly module), so each thread keeps
//! its own scanners over the current shared rules and makes new ones only after a reload.
//!
//! Memory: every scan draws its buffers — the file's kept bytes and the archive walk's member
//! buffers — from the detector's one [`MemoryBudget`], shared by all scanning threads (a file
//! on disk of [`MAP_MIN`] bytes or more is mapped instead: page-cache pages, not buffers). A scan
//! that cannot get memory in time scans what it holds and comes out `unknown` with a note,
//! never `clean`.

use std::cell::RefCell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use hashscan_archive::{Flow, Limit, Limits, MemoryBudget, ScanMemory};
use hashscan_digest::{Algorithm, AlgorithmSet, Digests as DigestSet, Hasher, Options};
use hashscan_hashdb::{HashDb, ListKind};

use crate::rules::{Problem, RuleConfig, Ruleset};
use crate::seen::{Key, Seen};
use crate::store::RuleStore;
use crate::verdict::{ArchiveSummary, EngineKind, Hit, Member, Report, ThreatType, Verdict};

/// Most highlight ranges kept per rule (a rule matching a repeated string in a large file
/// would otherwise list thousands).
const MAX_HIGHLIGHTS: usize = 32;
/// Size of each read.
const READ_CHUNK: usize = 1 << 20;
/// Files this large or larger are mapped instead of read (see [`Detector::scan_file_with`]).
pub const MAP_MIN: u64 = 1 << 20;

/// What a file's content says before its hashes are known ([`Detector::examine`]).
struct Findings {
    hits: Vec<Hit>,
    notes: Vec<String>,
    /// Everything was read and scanned.
    complete: bool,
    archive: Option<ArchiveSummary>,
    labels: Vec<String>,
}

/// What a detector is made of.
#[derive(Debug, Clone)]
pub struct Config {
    pub rules: RuleConfig,
    /// Hash lists: ClamAV `.hdb`/`.hsb` (bad), `.fp`/`.sfp` (good), plain or CSV lists
    /// (bad).
    pub hash_lists: Vec<PathBuf>,
    /// A running clamd, when configured.
    pub clamd: Option<hashscan_clamd::Clamd>,
    /// Installed rule and intelligence updates: the YARA files and hash lists of its
    /// current version are loaded besides `rules` and `hash_lists`, and a reload follows
    /// its `current` pointer.
    pub store: Option<RuleStore>,
    pub archive: Limits,
    /// The verdict of a file whose archive walk hit a limit (zip bombs): Suspicious by
    /// default; Clean only notes it.
    pub limits_verdict: Verdict,
    /// Bytes of a file held in memory and scanned; the rest is hashed only (and the report
    /// says so). Default 512 MiB.
    pub max_scan_size: u64,
    /// Longest YARA scan of one file (or member). Default 60 s.
    pub timeout: Duration,
    /// Memory shared by every scan of the detector (the file's scanned bytes and the archive
    /// walk's member buffers); pass one budget to every detector of a process. Default: a
    /// fresh budget of [`MemoryBudget::DEFAULT_TOTAL`] (384 MiB). A file is scanned up to the
    /// smaller of `max_scan_size` and the budget.
    pub memory: MemoryBudget,
    /// Where compiled rules are kept between loads (see [`crate::cache`]); `None` compiles
    /// every time. Default `None`.
    pub rules_cache: Option<PathBuf>,
    /// Contents whose YARA results are kept by SHA-256, so that the same file met again (in
    /// a tree, in archives) is not searched again under the same rules; 0 keeps none.
    /// Default 65,536.
    pub seen_contents: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            rules: RuleConfig::with_default(vec![]),
            hash_lists: vec![],
            clamd: None,
            store: None,
            archive: Limits::default(),
            limits_verdict: Verdict::Suspicious,
            max_scan_size: 512 << 20,
            timeout: Duration::from_secs(60),
            memory: MemoryBudget::default(),
            rules_cache: None,
            seen_contents: 1 << 16,
        }
    }
}

/// Choices a caller makes per scan (the detection APIs let a client decide whether and how
/// deep archives are expanded).
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Expand archives and scan their members. Default true.
    pub expand_archives: bool,
    /// Limits of this scan's archive walk instead of the detector's.
    pub archive: Option<Limits>,
    /// List every member scanned in the report, clean ones too (for per-member listings);
    /// by default only members with findings are listed.
    pub all_members: bool,
    /// Report the MD5, SHA-1 and SHA-256 of the file and of the archive members listed.
    /// Default true. When false, only the digests the hash lists and the content cache need
    /// are computed, and the others are left empty in the report (for callers that show
    /// verdicts only, as `hashscan scan` without `--json`).
    pub report_hashes: bool,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            expand_archives: true,
            archive: None,
            all_members: false,
            report_hashes: true,
        }
    }
}

/// Why a detector cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    #[error("hash list: {0}")]
    HashList(#[from] hashscan_hashdb::HashDbError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
}

/// What loading rules or lists left out.
#[derive(Debug, Clone, Default)]
pub struct LoadSummary {
    /// Rule files that did not compile or could not be read.
    pub rule_problems: Vec<Problem>,
    /// Hash-list lines that could not be read (`file: line N: reason`).
    pub list_problems: Vec<String>,
    pub rules: usize,
    pub hashes: usize,
    /// What the compiled-rules cache did.
    pub rules_cache: crate::CacheUse,
}

/// What [`Detector::refresh`] loaded.
#[derive(Debug, Clone)]
pub struct Refreshed {
    /// The rules now in use (their problems say what was left out).
    pub rules: Arc<Ruleset>,
    /// Entries of the hash lists now in use.
    pub hashes: usize,
    /// Hash-list lines that could not be read, or why the lists were not reloaded (the
    /// previous ones stay in use then).
    pub list_problems: Vec<String>,
}

/// The detection engine.
pub struct Detector {
    rules: RwLock<Arc<Ruleset>>,
    rule_config: RuleConfig,
    /// Swapped whole by a reload; scans in progress keep the lists they started with.
    hashdb: RwLock<Arc<HashDb>>,
    hash_lists: Vec<PathBuf>,
    store: Option<RuleStore>,
    /// clamd's database version (`27481` of `ClamAV 1.4.6/27481/…`), part of
    /// [`Detector::version`]; the last one seen while clamd is unreachable.
    clamd_db: RwLock<Option<String>>,
    /// Digest of the ClamAV databases of the installed version (given to clamd by the
    /// updater), part of [`Detector::version`] when clamd is configured.
    clamav_installed: RwLock<Option<String>>,
    clamd: Option<hashscan_clamd::Clamd>,
    archive: Limits,
    limits_verdict: Verdict,
    max_scan_size: u64,
    timeout: Duration,
    memory: MemoryBudget,
    rules_cache: Option<PathBuf>,
    /// YARA results by content (see [`crate::seen`]).
    seen: Seen,
    /// YARA scans actually run (contents found in `seen` are not scanned again).
    yara_scans: AtomicU64,
}

impl Detector {
    /// Compiles the rules and loads the hash lists. A rule file that does not compile is
    /// left out (see [`LoadSummary`]); an unreadable hash list is an error.
    pub fn new(config: Config) -> Result<(Detector, LoadSummary), DetectError> {
        let ruleset = load_rules(
            &config.rules,
            config.store.as_ref(),
            config.rules_cache.as_deref(),
        );
        let mut summary = LoadSummary {
            rule_problems: ruleset.problems.clone(),
            rules: ruleset.rule_count(),
            rules_cache: ruleset.cache_use().clone(),
            ..LoadSummary::default()
        };
        let (hashdb, list_problems) = load_lists(&config.hash_lists, config.store.as_ref())?;
        summary.list_problems = list_problems;
        summary.hashes = hashdb.len();
        let clamd_db = config.clamd.as_ref().and_then(clamd_db_version);
        let detector = Detector {
            rules: RwLock::new(Arc::new(ruleset)),
            rule_config: config.rules,
            hashdb: RwLock::new(Arc::new(hashdb)),
            hash_lists: config.hash_lists,
            store: config.store,
            clamd_db: RwLock::new(clamd_db),
            clamav_installed: RwLock::new(None),
            clamd: config.clamd,
            archive: config.archive,
            limits_verdict: config.limits_verdict,
            max_scan_size: config.max_scan_size,
            timeout: config.timeout,
            memory: config.memory,
            rules_cache: config.rules_cache,
            seen: Seen::new(config.seen_contents),
            yara_scans: AtomicU64::new(0),
        };
        detector.refresh_installed_clamav();
        Ok((detector, summary))
    }

    /// The current rules.
    pub fn ruleset(&self) -> Arc<Ruleset> {
        match self.rules.read() {
            Ok(r) => r.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The version of the current rules, lists and clamd database: results made under
    /// another version are stale. `<rules>[-<lists>][-clamav<db>]`.
    pub fn version(&self) -> String {
        let rules = self.ruleset();
        let hashdb = self.hashdb();
        let mut version = rules.version().to_string();
        if !hashdb.is_empty() {
            version.push('-');
            version.push_str(hashdb.version());
        }
        if let Some(db) = read_lock(&self.clamd_db).as_ref() {
            version.push_str("-clamav");
            version.push_str(db);
        }
        if let Some(digest) = read_lock(&self.clamav_installed).as_ref() {
            version.push_str("-cdb");
            version.push_str(digest);
        }
        version
    }

    /// The fingerprint of the rule files, the hash lists and the installed version in use;
    /// compare with an earlier one to see whether a [`reload`](Self::reload) is worth it.
    pub fn rule_fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        self.rule_config.fingerprint().hash(&mut h);
        for path in &self.hash_lists {
            path.hash(&mut h);
            if let Ok(m) = std::fs::metadata(path) {
                m.len().hash(&mut h);
                m.modified().ok().hash(&mut h);
            }
        }
        if let Some(store) = &self.store {
            store.current().ok().flatten().hash(&mut h);
        }
        h.finish()
    }

    /// Compiles the rules again and swaps them in, and the hash lists too (see
    /// [`refresh`](Self::refresh)). Returns the new ruleset.
    pub fn reload(&self) -> Arc<Ruleset> {
        self.refresh().rules
    }

    /// Loads the rules and the hash lists again (the configured ones and those of the
    /// installed version now current) and swaps them in; scans in progress finish with
    /// what they started with. Rule files that do not compile are left out (see the
    /// ruleset's problems); lists that cannot be read leave the previous lists in use.
    pub fn refresh(&self) -> Refreshed {
        let fresh = Arc::new(load_rules(
            &self.rule_config,
            self.store.as_ref(),
            self.rules_cache.as_deref(),
        ));
        match self.rules.write() {
            Ok(mut r) => *r = fresh.clone(),
            Err(poisoned) => *poisoned.into_inner() = fresh.clone(),
        }
        let (hashes, list_problems) = match load_lists(&self.hash_lists, self.store.as_ref()) {
            Ok((db, problems)) => {
                let n = db.len();
                let db = Arc::new(db);
                match self.hashdb.write() {
                    Ok(mut d) => *d = db,
                    Err(poisoned) => *poisoned.into_inner() = db,
                }
                (n, problems)
            }
            Err(e) => (
                self.hashdb().len(),
                vec![format!(
                    "hash lists not reloaded, the previous ones stay: {e}"
                )],
            ),
        };
        self.refresh_installed_clamav();
        Refreshed {
            rules: fresh,
            hashes,
            list_problems,
        }
    }

    /// Asks clamd for its database version again; true when it changed (and so did
    /// [`version`](Self::version)). An unreachable clamd keeps the last version seen.
    pub fn refresh_clamd_version(&self) -> bool {
        let Some(clamd) = &self.clamd else {
            return false;
        };
        let Some(db) = clamd_db_version(clamd) else {
            return false;
        };
        let mut slot = match self.clamd_db.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if slot.as_deref() == Some(db.as_str()) {
            return false;
        }
        *slot = Some(db);
        true
    }

    /// Notes the digest of the installed ClamAV databases (with clamd configured).
    fn refresh_installed_clamav(&self) {
        let digest = match (&self.clamd, &self.store) {
            (Some(_), Some(store)) => installed_clamav_digest(store),
            _ => None,
        };
        let mut slot = match self.clamav_installed.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        *slot = digest;
    }

    /// The installed updates this detector follows, if any.
    pub fn store(&self) -> Option<&RuleStore> {
        self.store.as_ref()
    }

    /// Watches the rule files from a background thread: every `every`, when their
    /// fingerprint changed, the rules are compiled again and swapped in (scans in progress
    /// keep the rules they started with). Problems of a reload go to `on_reload`. The thread
    /// stops when the returned [`RuleWatch`] is dropped.
    pub fn watch_rules(
        self: &Arc<Self>,
        every: Duration,
        on_reload: impl Fn(&Ruleset) + Send + 'static,
    ) -> std::io::Result<RuleWatch> {
        let detector = Arc::downgrade(self);
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let mut seen = self.rule_fingerprint();
        let mut clamd_asked = std::time::Instant::now();
        std::thread::Builder::new()
            .name("hashscan-rule-watch".into())
            .spawn(move || {
                while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                    stopped.recv_timeout(every)
                {
                    let Some(detector) = detector.upgrade() else {
                        return;
                    };
                    let now = detector.rule_fingerprint();
                    if now != seen {
                        seen = now;
                        on_reload(&detector.reload());
                    }
                    if clamd_asked.elapsed() >= CLAMD_VERSION_EVERY {
                        clamd_asked = std::time::Instant::now();
                        detector.refresh_clamd_version();
                    }
                }
            })?;
        Ok(RuleWatch { _stop: stop })
    }

    /// The hash lists now in use.
    pub fn hashdb(&self) -> Arc<HashDb> {
        read_lock(&self.hashdb).clone()
    }

    /// The digests of a whole file a scan computes: all three, or when the report need not
    /// show them, those the hash lists use and, when the scan looks its content up in the
    /// content cache (`cached`: not a mapped file, hashed while it is scanned), SHA-256.
    fn file_algorithms(&self, options: &ScanOptions, cached: bool) -> AlgorithmSet {
        if options.report_hashes {
            return three();
        }
        let mut set = list_algorithms(&self.hashdb());
        if cached && self.seen.enabled() {
            set.insert(Algorithm::Sha256);
        }
        set
    }

    /// The memory budget the scans draw from (for metrics: `used`, `peak`, `total`).
    pub fn memory(&self) -> &MemoryBudget {
        &self.memory
    }

    /// How many YARA scans this detector has run: contents it had already scanned under the
    /// same rules are not scanned again (for metrics and tests).
    pub fn yara_scans(&self) -> u64 {
        self.yara_scans.load(Ordering::Relaxed)
    }

    /// Scans bytes already in memory (the caller's: only the archive walk's buffers are
    /// drawn from the memory budget).
    pub fn scan_bytes(&self, data: &[u8]) -> Report {
        let digests = digest(data);
        let scan = self.memory.scan();
        self.scan_buffer(
            data,
            &digests,
            data.len() as u64,
            None,
            &ScanOptions::default(),
            &scan,
        )
    }

    /// Scans a file (see [`scan_reader`](Self::scan_reader)).
    pub fn scan_file(&self, path: &Path) -> std::io::Result<Report> {
        self.scan_file_with(path, &ScanOptions::default())
    }

    /// Scans a file with per-scan options. A regular file of [`MAP_MIN`] bytes or more is
    /// mapped rather than read: its bytes are scanned where the page cache holds them (no copy,
    /// nothing drawn from the memory budget) while other threads hash them; smaller files and
    /// anything that cannot be mapped go through [`scan_reader_with`](Self::scan_reader_with).
    pub fn scan_file_with(&self, path: &Path, options: &ScanOptions) -> std::io::Result<Report> {
        let mut file = std::fs::File::open(path)?;
        let meta = file.metadata()?;
        let size = meta.len();
        if meta.is_file()
            && size >= MAP_MIN
            && let Some(map) = crate::mapped::map(&file)
        {
            return Ok(self.scan_mapped(&map, options));
        }
        self.scan_reader_with(&mut file, size, options)
    }

    /// Scans a whole file in memory (mapped): the first `max_scan_size` bytes are examined
    /// while every byte is hashed on other threads.
    fn scan_mapped(&self, data: &[u8], options: &ScanOptions) -> Report {
        let keep = usize::try_from(self.max_scan_size)
            .unwrap_or(usize::MAX)
            .min(data.len());
        let cut = (keep < data.len()).then(|| {
            format!(
                "only the first {keep} of {} bytes were scanned (max scan size)",
                data.len()
            )
        });
        let rules = self.ruleset();
        let scan = self.memory.scan();
        let set = self.file_algorithms(options, false);
        let lanes = std::thread::available_parallelism().map_or(1, usize::from);
        let (findings, digests) = std::thread::scope(|threads| {
            let hashing = std::thread::Builder::new()
                .name("hashscan-hash".into())
                .spawn_scoped(threads, || hashscan_digest::hash_slice(set, data, lanes));
            let findings = self.examine(&rules, &data[..keep], None, cut, options, &scan);
            match hashing.map(|h| h.join()) {
                Ok(Ok(digests)) => (findings, digests),
                Ok(Err(panic)) => std::panic::resume_unwind(panic),
                // No thread to be had: hashed here, after the scan.
                Err(_) => (findings, hashscan_digest::hash_slice(set, data, 1)),
            }
        });
        self.conclude(findings, &digests, data.len() as u64)
    }

    /// Reads `input` once: every byte goes through the digests, and the first
    /// `max_scan_size` bytes are kept and scanned, in a buffer reserved from the memory
    /// budget (bytes it cannot hold are hashed only, and the report says so). `size_hint`
    /// sizes the buffer.
    pub fn scan_reader(&self, input: &mut dyn Read, size_hint: u64) -> std::io::Result<Report> {
        self.scan_reader_with(input, size_hint, &ScanOptions::default())
    }

    /// [`scan_reader`](Self::scan_reader) with per-scan options.
    pub fn scan_reader_with(
        &self,
        input: &mut dyn Read,
        size_hint: u64,
        options: &ScanOptions,
    ) -> std::io::Result<Report> {
        let scan = self.memory.scan();
        let mut kept = Kept::new(&scan, self.max_scan_size, size_hint);
        let mut hasher = Hasher::with_options(
            self.file_algorithms(options, true),
            &Options::new().size_hint(size_hint),
        );
        let mut total = 0u64;
        // A small input is read in one piece no bigger than it (plus one byte to see its end):
        // zeroing and freeing a whole chunk per small file costs more than scanning it.
        let chunk_len = match usize::try_from(size_hint) {
            Ok(hint) if hint > 0 && hint < READ_CHUNK => (hint + 1).max(8 << 10),
            _ => READ_CHUNK,
        };
        let mut chunk = vec![0u8; chunk_len];
        loop {
            let n = match input.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let bytes = &chunk[..n];
            hasher.update(bytes);
            kept.push(bytes);
            total += n as u64;
        }
        let digests = hasher.finish();
        let cut = (total > kept.buf.len() as u64).then(|| {
            format!(
                "only the first {} of {total} bytes were scanned ({})",
                kept.buf.len(),
                kept.refused.as_deref().unwrap_or("max scan size")
            )
        });
        Ok(self.scan_buffer(&kept.buf, &digests, total, cut, options, &scan))
    }

    /// Scans `data`, the first bytes of a file of `size` bytes; `cut` says why the rest was not
    /// kept, when it was not.
    fn scan_buffer(
        &self,
        data: &[u8],
        digests: &DigestSet,
        size: u64,
        cut: Option<String>,
        options: &ScanOptions,
        scan: &ScanMemory,
    ) -> Report {
        let rules = self.ruleset();
        // The hashes are of `data` only when nothing was cut.
        let content = (cut.is_none() && data.len() as u64 == size)
            .then(|| content_key(digests, size))
            .flatten();
        let findings = self.examine(&rules, data, content, cut, options, scan);
        self.conclude(findings, digests, size)
    }

    /// What the content says, hashes aside: YARA, clamd, the archive walk and the labels of
    /// `data` (the scanned bytes of a file); `content` is its SHA-256 and size when known (for
    /// the content cache), `cut` says why bytes were left out, if any were.
    fn examine(
        &self,
        rules: &Arc<Ruleset>,
        data: &[u8],
        content: Option<Key>,
        cut: Option<String>,
        options: &ScanOptions,
        scan: &ScanMemory,
    ) -> Findings {
        let mut notes = Vec::new();
        let mut complete = cut.is_none();
        notes.extend(cut);
        let mut hits = Vec::new();
        match self.yara_hits_of(rules, data, content) {
            Ok(mut h) => hits.append(&mut h),
            Err(note) => {
                notes.push(note);
                complete = false;
            }
        }
        if let Some(clamd) = &self.clamd {
            match clamd.scan_bytes(data) {
                Ok(hashscan_clamd::ScanResult::Clean) => {}
                Ok(hashscan_clamd::ScanResult::Found { signature }) => hits.push(Hit {
                    engine: EngineKind::Clamav,
                    threat_type: ThreatType::from_signature_name(&signature),
                    description: format!("ClamAV: {signature}"),
                    name: signature,
                    score: 100,
                    highlights: vec![],
                }),
                Err(e) => {
                    notes.push(format!("clamd: {e}"));
                    complete = false;
                }
            }
        }
        let archive = if options.expand_archives {
            self.walk_archive(rules, data, options, scan, &mut hits, &mut notes)
        } else {
            None
        };
        complete &= archive.as_ref().is_none_or(|(_, walk)| walk_complete(walk));
        let mut labels: Vec<String> = match &archive {
            Some((_, walk)) => hashscan_archive::labels_with_report(data, walk),
            None => hashscan_archive::labels(data),
        }
        .into_iter()
        .map(str::to_string)
        .collect();
        labels.dedup();
        Findings {
            hits,
            notes,
            complete,
            archive: archive.map(|(summary, _)| summary),
            labels,
        }
    }

    /// The report of a file of `size` bytes from what its content said and its hashes (whose
    /// list hits come first).
    fn conclude(&self, findings: Findings, digests: &DigestSet, size: u64) -> Report {
        let Findings {
            hits: content_hits,
            notes,
            complete,
            archive,
            labels,
        } = findings;
        let hashes = Hashes::of(digests);
        let mut hits = self.list_hits(&hashes, size);
        hits.extend(content_hits);
        let member_hits: Vec<Hit> = archive
            .iter()
            .flat_map(|a| a.members.iter())
            .flat_map(|m| m.hits.iter().cloned())
            .collect();
        let all: Vec<Hit> = hits.iter().cloned().chain(member_hits).collect();
        let (verdict, score, threat_type, threat_name) = crate::verdict::conclude(&all, complete);
        Report {
            verdict,
            score,
            threat_type,
            threat_name,
            hits,
            labels,
            archive,
            size,
            md5: hashes.md5_hex,
            sha1: hashes.sha1_hex,
            sha256: hashes.sha256_hex,
            ruleset: self.version(),
            notes,
        }
    }

    /// Hits of the hash lists: a known-bad hash scores 100; a known-good one clears the file.
    fn list_hits(&self, hashes: &Hashes, size: u64) -> Vec<Hit> {
        let hashdb = self.hashdb();
        let Some(hit) = hashdb.lookup(&hashes.raw, size) else {
            return vec![];
        };
        let (engine, score) = match hit.kind {
            ListKind::Bad => (EngineKind::Hashlist, 100),
            ListKind::Good => (EngineKind::Allowlist, 0),
        };
        vec![Hit {
            engine,
            name: hit.name.to_string(),
            score,
            threat_type: ThreatType::from_signature_name(hit.name),
            description: format!("{} listed in {} ({})", hit.algorithm, hit.source, hit.kind),
            highlights: vec![],
        }]
    }

    /// [`yara_hits`](Self::yara_hits) of `data`, whose SHA-256 and size are `content` when
    /// known: content already scanned under these rules is not scanned again.
    fn yara_hits_of(
        &self,
        rules: &Arc<Ruleset>,
        data: &[u8],
        content: Option<Key>,
    ) -> Result<Vec<Hit>, String> {
        if let Some(key) = &content
            && let Some(hits) = self.seen.get(rules, key)
        {
            return Ok(hits);
        }
        let hits = self.yara_hits(rules, data)?;
        if let Some(key) = content {
            self.seen.put(rules, key, &hits);
        }
        Ok(hits)
    }

    /// Hits of the YARA rules, or a note on why the scan did not finish.
    fn yara_hits(&self, rules: &Arc<Ruleset>, data: &[u8]) -> Result<Vec<Hit>, String> {
        self.yara_scans.fetch_add(1, Ordering::Relaxed);
        with_scanners(rules, |scanners| {
            let mut hits = Vec::new();
            for scanner in scanners.iter_mut() {
                scanner.set_timeout(self.timeout);
                let results = scanner.scan(data).map_err(|e| match e {
                    yara_x::ScanError::Timeout => {
                        format!("YARA scan timed out after {} s", self.timeout.as_secs())
                    }
                    other => format!("YARA scan failed: {other}"),
                })?;
                for rule in results.matching_rules() {
                    let meta = rules.meta_of(&rule);
                    let mut highlights: Vec<[u64; 2]> = rule
                        .patterns()
                        .flat_map(|p| p.matches().map(|m| m.range()).collect::<Vec<_>>())
                        .map(|r| [r.start as u64, r.end as u64])
                        .collect();
                    highlights.sort_unstable();
                    highlights.dedup();
                    highlights.truncate(MAX_HIGHLIGHTS);
                    hits.push(Hit {
                        engine: EngineKind::Yara,
                        name: rule.identifier().to_string(),
                        score: meta.score,
                        threat_type: meta.threat_type,
                        description: meta.description,
                        highlights,
                    });
                }
            }
            Ok(hits)
        })
    }

    /// Walks an archive, scanning every member; `None` when `data` is not an archive. What
    /// the walk could not read (limits, corrupt or unsupported parts, the memory budget) is
    /// noted in `notes`; limits the file caused also add an `Archive.LimitsExceeded` hit.
    fn walk_archive(
        &self,
        rules: &Arc<Ruleset>,
        data: &[u8],
        options: &ScanOptions,
        scan: &ScanMemory,
        hits: &mut Vec<Hit>,
        notes: &mut Vec<String>,
    ) -> Option<(ArchiveSummary, hashscan_archive::Report)> {
        hashscan_archive::sniff_buffer(data)?;
        let mut members = Vec::new();
        let mut scanned = 0u32;
        let limits = options.archive.as_ref().unwrap_or(&self.archive);
        // A member is hashed first with what the hash lists and the content cache need; the
        // three digests a listed member shows (when the report shows hashes) are computed for
        // the few members listed.
        let mut for_lists = if options.all_members {
            three()
        } else {
            list_algorithms(&self.hashdb())
        };
        if self.seen.enabled() {
            // Members met before are known by their SHA-256.
            for_lists.insert(Algorithm::Sha256);
        }
        // What a listed member shows.
        let shown = if options.report_hashes {
            three()
        } else {
            for_lists
        };
        let walk = hashscan_archive::walk_named_in("", data, limits, scan, &mut |entry| {
            scanned += 1;
            let looked_up = (!for_lists.is_empty())
                .then(|| Hashes::of(&hashscan_digest::hash_bytes(for_lists, entry.data)));
            let size = entry.data.len() as u64;
            let mut member_hits = match &looked_up {
                Some(hashes) if !entry.truncated => self.list_hits(hashes, size),
                _ => vec![],
            };
            let mut notes_incomplete = entry.truncated;
            let content = looked_up
                .as_ref()
                .filter(|_| !entry.truncated && for_lists.contains(Algorithm::Sha256))
                .map(|h| (h.raw.sha256, size));
            match self.yara_hits_of(rules, entry.data, content) {
                Ok(mut h) => member_hits.append(&mut h),
                Err(_) => notes_incomplete = true,
            }
            let (verdict, score, threat_type, threat_name) =
                crate::verdict::conclude(&member_hits, !notes_incomplete);
            if verdict != Verdict::Clean || options.all_members {
                let hashes = match looked_up {
                    Some(hashes) if for_lists == shown => hashes,
                    _ => Hashes::of(&hashscan_digest::hash_bytes(shown, entry.data)),
                };
                members.push(Member {
                    path: hashscan_archive::join_path(entry.path),
                    size,
                    md5: hashes.md5_hex,
                    sha1: hashes.sha1_hex,
                    sha256: hashes.sha256_hex,
                    verdict,
                    score,
                    threat_type,
                    threat_name,
                    hits: member_hits,
                    labels: hashscan_archive::labels(entry.data)
                        .into_iter()
                        .map(str::to_string)
                        .collect(),
                    truncated: entry.truncated,
                });
            }
            Flow::Continue
        });
        let format = walk.format?;
        // The memory budget is the server's limit, not the file's: noted, never a hit.
        let (memory, file_limits): (Vec<_>, Vec<_>) =
            walk.exceeded.iter().partition(|e| e.limit == Limit::Memory);
        if let Some(first) = memory.first() {
            notes.push(summarize(
                "archive not expanded in full for lack of memory",
                &first.to_string(),
                memory.len(),
            ));
        }
        let unread: Vec<String> = walk
            .errors
            .iter()
            .chain(
                walk.not_expanded
                    .iter()
                    .filter(|(path, _)| !walk.encrypted.contains(path)),
            )
            .map(|(path, message)| {
                if path.is_empty() {
                    message.clone()
                } else {
                    format!("{path}: {message}")
                }
            })
            .collect();
        if let Some(first) = unread.first() {
            notes.push(summarize("archive not read in full", first, unread.len()));
        }
        let limits_exceeded = (!file_limits.is_empty()).then(|| {
            file_limits
                .iter()
                .map(|e| e.message.clone())
                .collect::<Vec<_>>()
                .join("; ")
        });
        if let Some(message) = &limits_exceeded {
            let score = match self.limits_verdict {
                Verdict::Malicious => 90,
                Verdict::Suspicious => 75,
                Verdict::Unknown | Verdict::Clean => 0,
            };
            if score > 0 {
                hits.push(Hit {
                    engine: EngineKind::Archive,
                    name: "Archive.LimitsExceeded".into(),
                    score,
                    threat_type: ThreatType::Suspicious,
                    description: format!("archive limits exceeded: {message}"),
                    highlights: vec![],
                });
            }
        }
        let summary = ArchiveSummary {
            format: format.label().to_string(),
            members_scanned: scanned,
            bytes_expanded: walk.bytes,
            members,
            encrypted: walk.encrypted.clone(),
            limits_exceeded,
            errors: walk
                .errors
                .iter()
                .chain(walk.not_expanded.iter())
                .map(|(path, msg)| format!("{path}: {msg}"))
                .collect(),
        };
        Some((summary, walk))
    }
}

/// How often [`Detector::watch_rules`] asks clamd for its database version.
const CLAMD_VERSION_EVERY: Duration = Duration::from_secs(30);

fn read_lock<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    match lock.read() {
        Ok(g) => g,
        Err(poisoned) => poisoned.into_inner(),
    }
}

/// The configured rules and those of the installed version now current.
fn load_rules(config: &RuleConfig, store: Option<&RuleStore>, cache: Option<&Path>) -> Ruleset {
    let (extra, problem) = match store.map(RuleStore::current_rule_files) {
        None => (vec![], None),
        Some(Ok(files)) => (files, None),
        Some(Err(e)) => (
            vec![],
            Some(Problem {
                file: "installed updates".into(),
                line: None,
                column: None,
                message: e.to_string(),
            }),
        ),
    };
    let mut set = config.load_cached(&extra, cache);
    set.problems.extend(problem);
    set
}

/// The configured hash lists and those of the installed version now current, with the
/// lines that could not be read.
fn load_lists(
    paths: &[PathBuf],
    store: Option<&RuleStore>,
) -> Result<(HashDb, Vec<String>), DetectError> {
    let mut builder = HashDb::builder();
    let mut problems = Vec::new();
    let installed = match store.map(RuleStore::current_list_files) {
        None => vec![],
        Some(Ok(files)) => files,
        Some(Err(e)) => {
            problems.push(format!("installed updates: {e}"));
            vec![]
        }
    };
    let configured = paths.iter().map(|p| (p.display().to_string(), p.clone()));
    let installed = installed
        .into_iter()
        .map(|(name, path)| (format!("{}{name}", crate::store::NAMESPACE_PREFIX), path));
    for (name, path) in configured.chain(installed) {
        let report = builder.load_path_as(&path, ListKind::Bad, &name)?;
        problems.extend(report.problems.iter().map(|p| format!("{name}: {p}")));
    }
    Ok((builder.build(), problems))
}

/// 16 hex digits of a SHA-256 over the names and contents of the installed version's
/// ClamAV databases; `None` when there are none.
fn installed_clamav_digest(store: &RuleStore) -> Option<String> {
    use sha2::Digest;
    let files = store.current_clamav_files().ok()?;
    if files.is_empty() {
        return None;
    }
    let mut hasher = sha2::Sha256::new();
    for (name, path) in files {
        let data = std::fs::read(&path).ok()?;
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((data.len() as u64).to_le_bytes());
        hasher.update(&data);
    }
    Some(hex::encode(&hasher.finalize()[..8]))
}

/// clamd's database version, from its `VERSION` answer (`ClamAV 1.4.6/27481/Thu Dec 12
/// …`): the second field, or `None` when clamd is unreachable or has no versioned
/// database (its signatures are then only what the operator installed).
fn clamd_db_version(clamd: &hashscan_clamd::Clamd) -> Option<String> {
    db_of_version_line(&clamd.version().ok()?)
}

/// The database version of a `VERSION` line, if it has one.
fn db_of_version_line(line: &str) -> Option<String> {
    let db = line.split('/').nth(1)?.trim();
    (!db.is_empty() && db.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.'))
        .then(|| db.to_string())
}

/// Whether a walk read everything: no limit (the memory budget included), no error, no
/// archive left unexpanded (encrypted ones aside: encryption is reported, not a gap).
fn walk_complete(walk: &hashscan_archive::Report) -> bool {
    walk.exceeded.is_empty()
        && walk.errors.is_empty()
        && walk
            .not_expanded
            .iter()
            .all(|(path, _)| walk.encrypted.contains(path))
        && !walk.stopped
}

/// `"{what}: {first}"`, with how many more there were.
fn summarize(what: &str, first: &str, count: usize) -> String {
    match count {
        0 | 1 => format!("{what}: {first}"),
        n => format!("{what}: {first} (and {} more)", n - 1),
    }
}

/// The first bytes of a file kept for scanning, in a buffer whose every growth is reserved
/// from the memory budget first.
struct Kept<'s> {
    buf: Vec<u8>,
    reservation: hashscan_archive::Reservation<'s>,
    keep: u64,
    /// The whole memory budget: no growth asks for more.
    total: u64,
    /// Why keeping stopped before `keep` bytes (the memory budget refused).
    refused: Option<String>,
}

impl<'s> Kept<'s> {
    /// Smallest growth of the buffer.
    const MIN_GROWTH: u64 = 1 << 20;

    /// Keeps up to `keep` bytes; the buffer is sized for `size_hint` (if the budget lets it).
    fn new(scan: &'s ScanMemory, keep: u64, size_hint: u64) -> Self {
        let mut kept = Kept {
            buf: Vec::new(),
            reservation: scan.reservation(),
            keep,
            total: scan.budget().total(),
            refused: None,
        };
        let first = size_hint.min(keep);
        if first > 0 && kept.reservation.grow_to(first).is_ok() {
            let _ = kept
                .buf
                .try_reserve_exact(usize::try_from(first).unwrap_or(0));
        }
        kept
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.refused.is_some() {
            return;
        }
        let len = self.buf.len() as u64;
        let take = self.keep.saturating_sub(len).min(bytes.len() as u64);
        let Ok(take_usize) = usize::try_from(take) else {
            return;
        };
        if take == 0 {
            return;
        }
        let need = len + take;
        if need > self.buf.capacity() as u64 {
            let ample = (self.buf.capacity() as u64)
                .saturating_mul(2)
                .max(Self::MIN_GROWTH)
                .min(self.keep)
                .min(self.total)
                .max(need);
            // All the doubling asks for, else just what this chunk needs.
            let target = if self.reservation.grow_to(ample).is_ok() {
                ample
            } else {
                match self.reservation.grow_to(need) {
                    Ok(()) => need,
                    Err(e) => {
                        self.refused = Some(e.to_string());
                        return;
                    }
                }
            };
            let extra = usize::try_from(target - len).unwrap_or(usize::MAX);
            if self.buf.try_reserve_exact(extra).is_err() {
                self.refused = Some(format!("cannot allocate {target} bytes"));
                return;
            }
        }
        self.buf.extend_from_slice(&bytes[..take_usize]);
    }
}

/// Keeps a [`Detector::watch_rules`] thread running; dropping it stops the thread.
pub struct RuleWatch {
    _stop: std::sync::mpsc::Sender<()>,
}

/// The algorithms `hashdb` has entries of: what a lookup needs.
fn list_algorithms(hashdb: &HashDb) -> AlgorithmSet {
    [
        (hashscan_hashdb::Algorithm::Md5, Algorithm::Md5),
        (hashscan_hashdb::Algorithm::Sha1, Algorithm::Sha1),
        (hashscan_hashdb::Algorithm::Sha256, Algorithm::Sha256),
    ]
    .into_iter()
    .filter(|(listed, _)| hashdb.len_of(*listed) > 0)
    .map(|(_, algorithm)| algorithm)
    .collect()
}

/// The cache key of content with these digests and size, if its SHA-256 is among them.
fn content_key(digests: &DigestSet, size: u64) -> Option<Key> {
    let sha256: [u8; 32] = digests.get(Algorithm::Sha256)?.as_bytes().try_into().ok()?;
    Some((sha256, size))
}

/// MD5, SHA-1 and SHA-256.
fn three() -> AlgorithmSet {
    [Algorithm::Md5, Algorithm::Sha1, Algorithm::Sha256]
        .into_iter()
        .collect()
}

fn digest(data: &[u8]) -> DigestSet {
    hashscan_digest::hash_bytes(three(), data)
}

/// A file's three hashes, raw for the lists and hex for the report.
struct Hashes {
    raw: hashscan_hashdb::Digests,
    md5_hex: String,
    sha1_hex: String,
    sha256_hex: String,
}

impl Hashes {
    fn of(d: &DigestSet) -> Hashes {
        let bytes = |a: Algorithm| d.get(a).map(|x| x.as_bytes().to_vec()).unwrap_or_default();
        // A digest not computed is empty in the report, not a hex string of zeros.
        let shown =
            |a: Algorithm, raw: &[u8]| d.get(a).map_or_else(String::new, |_| hex::encode(raw));
        let mut raw = hashscan_hashdb::Digests::default();
        copy(&mut raw.md5, &bytes(Algorithm::Md5));
        copy(&mut raw.sha1, &bytes(Algorithm::Sha1));
        copy(&mut raw.sha256, &bytes(Algorithm::Sha256));
        Hashes {
            md5_hex: shown(Algorithm::Md5, &raw.md5),
            sha1_hex: shown(Algorithm::Sha1, &raw.sha1),
            sha256_hex: shown(Algorithm::Sha256, &raw.sha256),
            raw,
        }
    }
}

fn copy(to: &mut [u8], from: &[u8]) {
    if from.len() == to.len() {
        to.copy_from_slice(from);
    }
}

type Scanners<'a> = Vec<yara_x::Scanner<'a>>;

self_cell::self_cell!(
    /// A thread's scanners and the rules they borrow.
    struct ThreadScanners {
        owner: Arc<Ruleset>,
        #[not_covariant]
        dependent: Scanners,
    }
);

thread_local! {
    static SCANNERS: RefCell<Option<ThreadScanners>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's scanners over `rules`, making them when the rules changed.
fn with_scanners<T>(rules: &Arc<Ruleset>, f: impl FnOnce(&mut Scanners<'_>) -> T) -> T {
    SCANNERS.with(|cell| {
        let mut slot = cell.borrow_mut();
        let fresh = match slot.as_ref() {
            Some(s) => !Arc::ptr_eq(s.borrow_owner(), rules),
            None => true,
        };
        if fresh {
            *slot = Some(ThreadScanners::new(rules.clone(), |r| {
                r.compiled.iter().map(yara_x::Scanner::new).collect()
            }));
        }
        match slot.as_mut() {
            Some(s) => s.with_dependent_mut(|_, scanners| f(scanners)),
            // Set just above.
            None => f(&mut Vec::new()),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::db_of_version_line;

    #[test]
    fn clamd_database_versions() {
        assert_eq!(
            db_of_version_line("ClamAV 1.4.6/27481/Thu Dec 12 09:36:06 2024").as_deref(),
            Some("27481")
        );
        assert_eq!(db_of_version_line("ClamAV 1.4.6"), None);
        assert_eq!(db_of_version_line("ClamAV 1.4.6//x"), None);
        assert_eq!(db_of_version_line("ClamAV 1.4.6/2 7/x"), None);
    }
}
