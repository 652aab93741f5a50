//! Rule and intelligence updates, as freshclam keeps ClamAV current.
//!
//! The sources listed in `[rules]` ([`UpdateConfig`]) are fetched through the one safe
//! fetcher (`hashscan-fetch`: its address policy, size and time limits), each verified
//! against its SHA-256 pin or its minisign key, unpacked (archives through
//! `hashscan-archive`, under limits), checked (YARA compiled, hash lists parsed), and only
//! then installed as a new version of the rule store (`hashscan_detect::store`), whose
//! `current` pointer is swapped atomically. A running detector follows that pointer
//! ([`hashscan_detect::Detector::refresh`]).
//!
//! A source that fails (unreachable, signature wrong, pack broken) keeps the files it had
//! in the previous version; a candidate that does not check out as a whole is not
//! installed at all. Either way the working ruleset stays: a broken update never replaces
//! it. [`rollback`] returns to the version before and marks the one left as rejected, so
//! that the next update does not bring the same content back.

pub mod config;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use hashscan_detect::store::{
    CLAMAV_DIR, InstalledSource, LISTS_DIR, Manifest, NAMESPACE_PREFIX, YARA_DIR,
};
use hashscan_detect::{RuleStore, Ruleset, StoreError};
use hashscan_fetch::{FetchError, Fetcher, Policy};
use sha2::{Digest, Sha256};

pub use config::{SourceConfig, SourceKind, Trust, UpdateConfig};

/// Largest signature file fetched (a minisign signature is about 300 bytes).
const MAX_SIGNATURE_BYTES: u64 = 16 << 10;
/// Extensions of YARA sources taken from a pack.
const YARA_EXTENSIONS: &[&str] = &["yar", "yara"];
/// Extensions of ClamAV databases taken from a pack (what clamd loads from its database
/// directory).
const CLAMAV_EXTENSIONS: &[&str] = &[
    "cvd", "cld", "cud", "hdb", "hsb", "hdu", "hsu", "mdb", "msb", "mdu", "msu", "ndb", "ndu",
    "ldb", "ldu", "idb", "cdb", "cfg", "crb", "fp", "sfp", "ign", "ign2", "pdb", "gdb", "wdb",
    "ftm", "imp", "info", "cat", "crt",
];
/// Prefix of the files the updater writes into `clamav_dir`: files without it are never
/// touched.
const CLAMAV_PREFIX: &str = "hashscan-update-";

/// Why an update did not run, or was not installed.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("invalid [rules] configuration: {0}")]
    Config(String),
    /// The outbound client cannot be built (an unreadable CA file, say).
    #[error("outbound client: {0}")]
    Client(FetchError),
    #[error("the update was not installed: {0}")]
    Refused(String),
    #[error("{0}")]
    Io(String),
}

/// How outbound connections are made: the server's `[outbound]` settings.
#[derive(Debug, Clone, Default)]
pub struct Outbound {
    /// Allow private and loopback addresses (`[outbound] allow_private`).
    pub allow_private: bool,
    /// Extra trusted certificates, PEM (`[outbound] ca_file`).
    pub ca_file: Option<PathBuf>,
}

/// What became of one source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Fetched, verified, checked: new content.
    Updated { sha256: String, files: usize },
    /// The same download as in the current version.
    Unchanged,
    /// Not taken; what the previous version had of it is kept (`kept`: whether it had
    /// any).
    Failed { error: String, kept: bool },
}

/// One source's line of an [`UpdateReport`].
#[derive(Debug, Clone)]
pub struct SourceReport {
    pub name: String,
    pub outcome: Outcome,
}

/// What [`Updater::update`] did.
#[derive(Debug, Clone)]
pub struct UpdateReport {
    pub sources: Vec<SourceReport>,
    /// The version installed and made current, if the content changed.
    pub activated: Option<Manifest>,
    /// The version current after the update.
    pub current: Option<String>,
    /// Why the new content was not installed although it changed (a rolled-back
    /// version's content).
    pub skipped: Option<String>,
    /// Versions removed to keep `keep_versions`.
    pub pruned: Vec<String>,
}

impl UpdateReport {
    /// True when every source was taken.
    pub fn all_ok(&self) -> bool {
        self.sources
            .iter()
            .all(|s| !matches!(s.outcome, Outcome::Failed { .. }))
    }
}

/// Fetches, verifies, checks and installs updates into one rule store.
#[derive(Debug, Clone)]
pub struct Updater {
    config: UpdateConfig,
    store: RuleStore,
    fetcher: Fetcher,
    /// The same policy with `max_bytes` = [`MAX_SIGNATURE_BYTES`], for signatures.
    signatures: Fetcher,
    /// The clamd told to reload after its databases changed.
    clamd: Option<hashscan_clamd::Clamd>,
}

impl Updater {
    /// An updater for `config` over `store`, with its own client under the server's
    /// address policy and the update limits (size: `max_download_bytes`, time:
    /// `timeout_secs`). Invalid sources are an error here, before anything is fetched.
    pub fn new(
        config: UpdateConfig,
        store: RuleStore,
        outbound: &Outbound,
    ) -> Result<Updater, UpdateError> {
        let problems = config.problems();
        if !problems.is_empty() {
            return Err(UpdateError::Config(problems.join("; ")));
        }
        let policy = Policy {
            max_bytes: config.max_download_bytes,
            timeout: Duration::from_secs(config.timeout_secs.max(1)),
            allow_private: outbound.allow_private,
            ..Policy::default()
        };
        let fetcher = Fetcher::with_ca_file(policy, outbound.ca_file.as_deref())
            .map_err(UpdateError::Client)?;
        let signatures = Fetcher::with_ca_file(
            Policy {
                max_bytes: MAX_SIGNATURE_BYTES,
                ..policy
            },
            outbound.ca_file.as_deref(),
        )
        .map_err(UpdateError::Client)?;
        Ok(Updater {
            config,
            store,
            fetcher,
            signatures,
            clamd: None,
        })
    }

    /// The clamd to tell to reload when the ClamAV databases in `clamav_dir` change.
    #[must_use]
    pub fn with_clamd(mut self, clamd: Option<hashscan_clamd::Clamd>) -> Updater {
        self.clamd = clamd;
        self
    }

    /// Makes an installed version current (a rejected one too) and gives clamd its ClamAV
    /// databases.
    pub fn activate(&self, id: &str) -> Result<(), UpdateError> {
        let _lock = self.store.lock()?;
        self.store.manifest(id)?;
        if let Some(dir) = &self.config.clamav_dir {
            sync_clamav(&self.store.version_dir(id), dir, self.clamd.as_ref())
                .map_err(UpdateError::Io)?;
        }
        Ok(self.store.activate(id)?)
    }

    /// Rolls back to the version before the current one (see [`rollback`]) and gives clamd
    /// that version's ClamAV databases.
    pub fn rollback(&self) -> Result<(String, String), UpdateError> {
        let _lock = self.store.lock()?;
        let current = self.store.current()?;
        let previous = match &current {
            Some(id) => self.store.manifest(id)?.previous,
            None => None,
        };
        if let (Some(dir), Some(previous)) = (&self.config.clamav_dir, &previous) {
            sync_clamav(&self.store.version_dir(previous), dir, self.clamd.as_ref())
                .map_err(UpdateError::Io)?;
        }
        Ok(self.store.rollback()?)
    }

    pub fn config(&self) -> &UpdateConfig {
        &self.config
    }

    pub fn store(&self) -> &RuleStore {
        &self.store
    }

    /// Runs one update: every source is fetched and verified; the new content, if any,
    /// is checked as a whole and installed as the current version. Holds the store's lock
    /// throughout ([`UpdateError::Store`] with `Busy` if another process has it).
    pub async fn update(&self) -> Result<UpdateReport, UpdateError> {
        let store = self.store.clone();
        let (lock, staging) = blocking(move || -> Result<_, UpdateError> {
            let lock = store.lock()?;
            store.clean_staging();
            let staging = store.stage()?;
            Ok((lock, staging))
        })
        .await??;
        let downloads = staging.join("downloads");
        let mut fetched = Vec::new();
        if let Err(e) = fs::create_dir_all(&downloads) {
            self.store.discard(&staging);
            return Err(UpdateError::Io(format!("{}: {e}", downloads.display())));
        }
        for (i, source) in self.config.sources.iter().enumerate() {
            let result = self
                .fetch_verified(source, &downloads.join(format!("{i}")))
                .await;
            if let Err(e) = &result {
                tracing::warn!(source = %source.name, error = %e, "rule update: source not taken");
            }
            fetched.push(result);
        }
        let config = self.config.clone();
        let store = self.store.clone();
        let clamd = self.clamd.clone();
        // The lock goes with the installing task: should this future be dropped (a server
        // shutting down), the task still finishes under it.
        blocking(move || {
            let _lock = lock;
            let result = assemble(&config, &store, &staging, fetched, clamd.as_ref());
            if !matches!(&result, Ok(r) if r.activated.is_some()) {
                store.discard(&staging);
            }
            let mut report = result?;
            report.pruned = store.prune(config.keep_versions)?;
            Ok(report)
        })
        .await?
    }

    /// Fetches one source into `dest` and verifies it; returns its bytes, SHA-256 and how
    /// it was verified.
    async fn fetch_verified(&self, source: &SourceConfig, dest: &Path) -> Result<Fetched, String> {
        let trust = source.trust()?;
        let shown = config::shown_url(&source.url);
        self.fetcher
            .fetch_to_file(&source.url, dest)
            .await
            .map_err(|e| format!("fetching {shown}: {e}"))?;
        let bytes = tokio::fs::read(dest)
            .await
            .map_err(|e| format!("reading the download: {e}"))?;
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        let verified_by = match trust {
            Trust::Sha256(pin) => {
                if digest != pin {
                    return Err(format!(
                        "SHA-256 mismatch: {shown} is {}, the configuration pins {}",
                        hex::encode(digest),
                        hex::encode(pin)
                    ));
                }
                "sha256"
            }
            Trust::Minisign { key, signature_url } => {
                let sig_path = dest.with_extension("minisig");
                let signature = self
                    .fetch_small(&signature_url, &sig_path)
                    .await
                    .map_err(|e| {
                        format!(
                            "fetching the signature {}: {e}",
                            config::shown_url(&signature_url)
                        )
                    })?;
                let text = String::from_utf8(signature)
                    .map_err(|_| "the signature is not text".to_string())?;
                let signature = minisign_verify::Signature::decode(&text)
                    .map_err(|e| format!("the signature cannot be read: {e}"))?;
                key.verify(&bytes, &signature, false)
                    .map_err(|e| format!("bad minisign signature of {shown}: {e}"))?;
                "minisign"
            }
        };
        Ok(Fetched {
            bytes,
            sha256: hex::encode(digest),
            verified_by,
        })
    }

    async fn fetch_small(&self, url: &str, dest: &Path) -> Result<Vec<u8>, String> {
        self.signatures
            .fetch_to_file(url, dest)
            .await
            .map_err(|e| e.to_string())?;
        tokio::fs::read(dest).await.map_err(|e| e.to_string())
    }
}

/// Rolls the store back to the version before the current one (see
/// [`RuleStore::rollback`]); returns (rejected, now current).
pub fn rollback(store: &RuleStore) -> Result<(String, String), UpdateError> {
    let _lock = store.lock()?;
    Ok(store.rollback()?)
}

struct Fetched {
    bytes: Vec<u8>,
    sha256: String,
    verified_by: &'static str,
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, UpdateError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| UpdateError::Io(format!("update task failed: {e}")))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Builds the candidate version in `staging` from what was fetched (or what the current
/// version had), checks it whole and installs it when its content is new.
fn assemble(
    config: &UpdateConfig,
    store: &RuleStore,
    staging: &Path,
    fetched: Vec<Result<Fetched, String>>,
    clamd: Option<&hashscan_clamd::Clamd>,
) -> Result<UpdateReport, UpdateError> {
    let current = store.current()?;
    let current_manifest = match &current {
        Some(id) => Some(store.manifest(id)?),
        None => None,
    };
    let current_dir = current.as_ref().map(|id| store.version_dir(id));
    let mut reports = Vec::new();
    let mut installed = Vec::new();
    for (source, fetched) in config.sources.iter().zip(fetched) {
        let previous = current_manifest
            .as_ref()
            .and_then(|m| m.sources.iter().find(|s| s.name == source.name))
            .filter(|p| p.kind == source.kind.as_str());
        let dir = staging.join(kind_dir(source.kind)).join(&source.name);
        let outcome = match fetched {
            Ok(f) if previous.is_some_and(|p| p.sha256 == f.sha256) => {
                if let (Some(p), Some(cur)) = (previous, &current_dir) {
                    copy_source(cur, source, &dir).map_err(UpdateError::Io)?;
                    installed.push(p.clone());
                }
                Outcome::Unchanged
            }
            Ok(f) => match unpack_and_check(config, source, &f.bytes, &dir) {
                Ok(files) => {
                    let outcome = Outcome::Updated {
                        sha256: f.sha256.clone(),
                        files: files.len(),
                    };
                    installed.push(InstalledSource {
                        name: source.name.clone(),
                        kind: source.kind.as_str().to_string(),
                        url: config::shown_url(&source.url),
                        sha256: f.sha256,
                        verified_by: f.verified_by.to_string(),
                        fetched_at: unix_now(),
                        files,
                    });
                    outcome
                }
                Err(error) => {
                    let _ = fs::remove_dir_all(&dir);
                    tracing::warn!(source = %source.name, %error, "rule update: source refused");
                    keep_previous(
                        previous,
                        current_dir.as_deref(),
                        source,
                        &dir,
                        &mut installed,
                        error,
                    )?
                }
            },
            Err(error) => keep_previous(
                previous,
                current_dir.as_deref(),
                source,
                &dir,
                &mut installed,
                error,
            )?,
        };
        reports.push(SourceReport {
            name: source.name.clone(),
            outcome,
        });
    }
    let _ = fs::remove_dir_all(staging.join("downloads"));
    let content = content_digest(staging).map_err(UpdateError::Io)?;
    let mut report = UpdateReport {
        sources: reports,
        activated: None,
        current: current.clone(),
        skipped: None,
        pruned: vec![],
    };
    if current_manifest
        .as_ref()
        .is_some_and(|m| m.content == content)
        || (current.is_none() && installed.is_empty())
    {
        return Ok(report);
    }
    if let Some(v) = store.find_content(&content)?
        && v.rejected
    {
        report.skipped = Some(format!(
            "the new content is that of version {}, which was rolled back; it is not \
             activated again (`hashscan rules activate {}` does it by hand)",
            v.manifest.id, v.manifest.id
        ));
        return Ok(report);
    }
    check_whole(staging)?;
    // clamd gets the new databases before the detector sees the new version, so that
    // results made under the new version are made with them.
    if let Some(dir) = &config.clamav_dir {
        sync_clamav(staging, dir, clamd).map_err(UpdateError::Io)?;
    }
    let manifest = store.install(
        staging,
        Manifest {
            id: String::new(),
            created_at: 0,
            previous: None,
            content,
            sources: installed,
        },
    )?;
    tracing::info!(version = %manifest.id, "rule update installed and activated");
    report.current = Some(manifest.id.clone());
    report.activated = Some(manifest);
    Ok(report)
}

/// The outcome of a source that was not taken: its files of the current version, if any,
/// are copied into the candidate.
fn keep_previous(
    previous: Option<&InstalledSource>,
    current_dir: Option<&Path>,
    source: &SourceConfig,
    dir: &Path,
    installed: &mut Vec<InstalledSource>,
    error: String,
) -> Result<Outcome, UpdateError> {
    let kept = match (previous, current_dir) {
        (Some(p), Some(cur)) => {
            copy_source(cur, source, dir).map_err(UpdateError::Io)?;
            installed.push(p.clone());
            true
        }
        _ => false,
    };
    Ok(Outcome::Failed { error, kept })
}

fn kind_dir(kind: SourceKind) -> &'static str {
    match kind {
        SourceKind::Yara => YARA_DIR,
        SourceKind::Hashlist => LISTS_DIR,
        SourceKind::Clamav => CLAMAV_DIR,
    }
}

/// Makes `clamav_dir` hold exactly the ClamAV databases of `version_dir` (as
/// `hashscan-update-<source>-<file>`; other files are left alone), each written under a
/// temporary name and renamed; then tells clamd to reload if anything changed.
fn sync_clamav(
    version_dir: &Path,
    clamav_dir: &Path,
    clamd: Option<&hashscan_clamd::Clamd>,
) -> Result<bool, String> {
    let mut files = Vec::new();
    collect_files(&version_dir.join(CLAMAV_DIR), "", &mut files)
        .map_err(|e| format!("reading the ClamAV databases: {e}"))?;
    let mut wanted = std::collections::BTreeSet::new();
    let mut changed = false;
    fs::create_dir_all(clamav_dir).map_err(|e| format!("{}: {e}", clamav_dir.display()))?;
    for (rel, path) in files {
        let name = format!(
            "{CLAMAV_PREFIX}{}",
            rel.trim_start_matches('/').replace('/', "-")
        );
        let data = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let dest = clamav_dir.join(&name);
        if fs::read(&dest).ok().as_deref() != Some(data.as_slice()) {
            // A name clamd does not load while it is being written.
            let tmp = clamav_dir.join(format!(".{name}.tmp"));
            fs::write(&tmp, &data)
                .and_then(|()| fs::rename(&tmp, &dest))
                .map_err(|e| format!("{}: {e}", dest.display()))?;
            changed = true;
        }
        wanted.insert(name);
    }
    for entry in fs::read_dir(clamav_dir)
        .map_err(|e| format!("{}: {e}", clamav_dir.display()))?
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(CLAMAV_PREFIX) && !wanted.contains(&name) {
            fs::remove_file(entry.path()).map_err(|e| format!("{name}: {e}"))?;
            changed = true;
        }
    }
    if changed && let Some(clamd) = clamd {
        clamd
            .reload()
            .map_err(|e| format!("the databases are in place, but clamd did not reload: {e}"))?;
    }
    Ok(changed)
}

/// Copies a source's directory from an installed version into the candidate.
fn copy_source(version_dir: &Path, source: &SourceConfig, dest: &Path) -> Result<(), String> {
    let from = version_dir.join(kind_dir(source.kind)).join(&source.name);
    copy_tree(&from, dest).map_err(|e| format!("copying {}: {e}", from.display()))
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}

/// Unpacks one verified download into `dir` and checks it alone: YARA must compile
/// without a problem and hold a rule; a hash list must parse and hold an entry. Returns
/// the files written (relative to `dir`).
fn unpack_and_check(
    config: &UpdateConfig,
    source: &SourceConfig,
    bytes: &[u8],
    dir: &Path,
) -> Result<Vec<String>, String> {
    let files = unpack(config, source, bytes)?;
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for (name, data) in &files {
        fs::write(dir.join(name), data).map_err(|e| format!("writing {name}: {e}"))?;
    }
    match source.kind {
        SourceKind::Yara => {
            let sources: Vec<(String, Vec<u8>)> = files
                .iter()
                .map(|(name, data)| {
                    (
                        format!("{NAMESPACE_PREFIX}{}/{name}", source.name),
                        data.clone(),
                    )
                })
                .collect();
            let set = Ruleset::compile(&sources, &[]);
            if let Some(p) = set.problems.first() {
                return Err(format!(
                    "does not compile ({} problems), first: {p}",
                    set.problems.len()
                ));
            }
            if set.rule_count() == 0 {
                return Err("holds no rule".into());
            }
        }
        SourceKind::Clamav => {
            for (name, data) in &files {
                check_clamav(name, data, &dir.join(name))?;
            }
        }
        SourceKind::Hashlist => {
            for (name, _) in &files {
                let mut builder = hashscan_hashdb::HashDb::builder();
                let report = builder
                    .load_path(dir.join(name), hashscan_hashdb::ListKind::Bad)
                    .map_err(|e| format!("{name}: {e}"))?;
                if report.entries == 0 {
                    return Err(format!("{name}: no hash in it"));
                }
            }
        }
    }
    Ok(files.into_iter().map(|(name, _)| name).collect())
}

/// The files of a download: the members of an archive that belong to the source's kind
/// (`.yar`/`.yara` for YARA, every file for hash lists), or the download itself under its
/// name. Names are made safe (one path component of letters, digits, `.`, `-`, `_`).
fn unpack(
    config: &UpdateConfig,
    source: &SourceConfig,
    bytes: &[u8],
) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if hashscan_archive::sniff_buffer(bytes).is_some() {
        let limits = hashscan_archive::Limits {
            max_depth: 3,
            max_members: config.max_files,
            max_total_bytes: config.max_unpacked_bytes,
            max_member_bytes: config.max_unpacked_bytes,
            ..hashscan_archive::Limits::default()
        };
        let mut clash = None;
        let report =
            hashscan_archive::walk_named(&download_name(source), bytes, &limits, &mut |entry| {
                if entry.format.is_some() {
                    // An archive inside: its members follow.
                    return hashscan_archive::Flow::Continue;
                }
                let Some(last) = entry.path.last() else {
                    return hashscan_archive::Flow::Continue;
                };
                let wanted = match source.kind {
                    SourceKind::Yara => has_extension(last, YARA_EXTENSIONS),
                    SourceKind::Clamav => has_extension(last, CLAMAV_EXTENSIONS),
                    SourceKind::Hashlist => true,
                };
                if wanted {
                    let name = safe_name(last);
                    if files.insert(name.clone(), entry.data.to_vec()).is_some() {
                        clash = Some(name);
                        return hashscan_archive::Flow::Stop;
                    }
                }
                hashscan_archive::Flow::Continue
            });
        if let Some(name) = clash {
            return Err(format!("two files of the archive are named {name}"));
        }
        if !report.is_complete() {
            let why = report
                .exceeded
                .first()
                .map(ToString::to_string)
                .or_else(|| report.errors.first().map(|(p, m)| format!("{p}: {m}")))
                .or_else(|| {
                    report
                        .not_expanded
                        .first()
                        .map(|(p, m)| format!("{p}: {m}"))
                })
                .unwrap_or_else(|| "encrypted members".into());
            return Err(format!("the archive cannot be read whole: {why}"));
        }
        if files.is_empty() {
            return Err(match source.kind {
                SourceKind::Yara => "the archive holds no .yar or .yara file".into(),
                SourceKind::Clamav => "the archive holds no ClamAV database".into(),
                SourceKind::Hashlist => "the archive holds no file".into(),
            });
        }
    } else {
        let mut name = safe_name(&download_name(source));
        if source.kind == SourceKind::Yara && !has_extension(&name, YARA_EXTENSIONS) {
            name.push_str(".yar");
        }
        if source.kind == SourceKind::Clamav && !has_extension(&name, CLAMAV_EXTENSIONS) {
            return Err(format!(
                "{name} does not end in a ClamAV database extension (.cvd, .hdb, .ndb …); \
                 set file_name"
            ));
        }
        files.insert(name, bytes.to_vec());
    }
    Ok(files.into_iter().collect())
}

/// The name of the download: `file_name`, else the last segment of the URL's path.
fn download_name(source: &SourceConfig) -> String {
    if let Some(name) = &source.file_name {
        return name.clone();
    }
    let path = config::shown_url(&source.url);
    let last = path.rsplit('/').next().unwrap_or_default();
    if last.is_empty() {
        source.name.clone()
    } else {
        last.to_string()
    }
}

/// One safe path component: the last component of `name`, with anything but letters,
/// digits, `.`, `-` and `_` replaced by `_`, never starting with a `.`.
fn safe_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut out: String = last
        .chars()
        .take(100)
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.starts_with('.') || out.is_empty() {
        out.insert(0, '_');
    }
    out
}

fn has_extension(name: &str, exts: &[&str]) -> bool {
    name.rsplit_once('.')
        .is_some_and(|(_, e)| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// What can be checked of a ClamAV database without libclamav: hash databases parse and
/// hold an entry; signed databases (`.cvd`, `.cld`, `.cud`) carry a ClamAV header (clamd
/// checks their signature itself); the others are text and not empty.
fn check_clamav(name: &str, data: &[u8], path: &Path) -> Result<(), String> {
    if data.is_empty() {
        return Err(format!("{name} is empty"));
    }
    if has_extension(name, &["cvd", "cld", "cud"]) {
        if !data.starts_with(b"ClamAV-VDB:") {
            return Err(format!("{name} has no ClamAV-VDB header"));
        }
        return Ok(());
    }
    if has_extension(name, &["hdb", "hsb", "fp", "sfp"]) {
        let mut builder = hashscan_hashdb::HashDb::builder();
        let report = builder
            .load_path(path, hashscan_hashdb::ListKind::Bad)
            .map_err(|e| format!("{name}: {e}"))?;
        if report.entries == 0 || !report.problems.is_empty() {
            return Err(format!(
                "{name}: {} signatures, {} lines that are not",
                report.entries,
                report.problems.len()
            ));
        }
        return Ok(());
    }
    if std::str::from_utf8(data).is_err() {
        return Err(format!("{name} is not text"));
    }
    Ok(())
}

/// SHA-256 over every file of the candidate (its path, size and bytes, in path order).
fn content_digest(staging: &Path) -> Result<String, String> {
    let mut hasher = Sha256::new();
    for top in [YARA_DIR, LISTS_DIR, CLAMAV_DIR] {
        let mut files = Vec::new();
        collect_files(&staging.join(top), top, &mut files)
            .map_err(|e| format!("reading the candidate: {e}"))?;
        files.sort();
        for (rel, path) in files {
            let data = fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            hasher.update((rel.len() as u64).to_le_bytes());
            hasher.update(rel.as_bytes());
            hasher.update((data.len() as u64).to_le_bytes());
            hasher.update(&data);
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

fn collect_files(dir: &Path, rel: &str, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = format!("{rel}/{name}");
        if entry.file_type()?.is_dir() {
            collect_files(&entry.path(), &rel, out)?;
        } else {
            out.push((rel, entry.path()));
        }
    }
    Ok(())
}

/// The candidate as the detector will load it: every YARA file compiled together and
/// every list loaded together, without a problem.
fn check_whole(staging: &Path) -> Result<(), UpdateError> {
    let store_like = |top: &str| -> Result<Vec<(String, PathBuf)>, UpdateError> {
        let mut files = Vec::new();
        collect_files(&staging.join(top), "", &mut files)
            .map_err(|e| UpdateError::Io(format!("reading the candidate: {e}")))?;
        files.sort();
        Ok(files)
    };
    let mut sources = Vec::new();
    for (rel, path) in store_like(YARA_DIR)? {
        let data =
            fs::read(&path).map_err(|e| UpdateError::Io(format!("{}: {e}", path.display())))?;
        sources.push((
            format!("{NAMESPACE_PREFIX}{}", rel.trim_start_matches('/')),
            data,
        ));
    }
    let set = Ruleset::compile(&sources, &[]);
    if let Some(p) = set.problems.first() {
        return Err(UpdateError::Refused(format!(
            "the rules do not compile together: {p}"
        )));
    }
    let mut builder = hashscan_hashdb::HashDb::builder();
    for (_, path) in store_like(LISTS_DIR)? {
        builder
            .load_path(&path, hashscan_hashdb::ListKind::Bad)
            .map_err(|e| UpdateError::Refused(format!("hash list: {e}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_one_safe_component() {
        assert_eq!(safe_name("../../etc/passwd"), "passwd");
        assert_eq!(safe_name("rules\\evil.yar"), "evil.yar");
        assert_eq!(safe_name(".hidden"), "_.hidden");
        assert_eq!(safe_name("a b$.yar"), "a_b_.yar");
        assert_eq!(safe_name(""), "_");
        assert_eq!(safe_name(".."), "_..");
    }
}
