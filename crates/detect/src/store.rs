//! Installed rule and intelligence versions: a directory of immutable versions and a
//! `current` pointer, swapped atomically, with rollback to the version before.
//!
//! ```text
//! <root>/current                 the active version's id (one line; replaced by rename)
//! <root>/versions/<id>/manifest.json
//! <root>/versions/<id>/yara/<source>/<file>.yar
//! <root>/versions/<id>/lists/<source>/<file>     hash lists (format by extension)
//! <root>/versions/<id>/clamav/<source>/<file>    ClamAV databases, copied for clamd
//! <root>/versions/<id>/rejected  rolled back by the operator: never activated again
//! <root>/staging-*/              a version being assembled (removed when it fails)
//! <root>/lock                    held by whoever changes the store
//! ```
//!
//! A version is complete before `current` names it: it is assembled in a staging
//! directory, checked by the caller (compiled, lists parsed), renamed into `versions/`, and
//! only then is `current` replaced (write a temporary file, fsync, rename). A reader that
//! reads `current` therefore always finds a whole version, and a failed update leaves
//! `current` as it was. Versions are never changed once installed; old ones are pruned, but
//! never the current one nor the one a rollback would return to.
//!
//! Only the file system: fetching and verifying sources is `hashscan-updates`' job.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// File naming the active version.
const CURRENT: &str = "current";
const VERSIONS: &str = "versions";
const MANIFEST: &str = "manifest.json";
const REJECTED: &str = "rejected";
/// Directory of a version holding YARA sources, one subdirectory per source.
pub const YARA_DIR: &str = "yara";
/// Directory of a version holding hash lists, one subdirectory per source.
pub const LISTS_DIR: &str = "lists";
/// Directory of a version holding ClamAV databases, one subdirectory per source.
pub const CLAMAV_DIR: &str = "clamav";
/// Namespace prefix of installed rule files: `updates/<source>/<file>`.
pub const NAMESPACE_PREFIX: &str = "updates/";

/// Why the store cannot do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: invalid manifest: {message}")]
    Manifest { path: String, message: String },
    #[error("no version {0} is installed")]
    NoSuchVersion(String),
    #[error("nothing to roll back to: {0}")]
    NoPrevious(String),
    #[error("another process is changing the rule store ({0}); try again when it is done")]
    Busy(String),
    #[error("invalid version id {0:?}")]
    InvalidId(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One source as installed in a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstalledSource {
    pub name: String,
    /// `yara`, `hashlist` or `clamav`.
    pub kind: String,
    /// Where it came from (without query: signed URLs carry credentials there).
    pub url: String,
    /// SHA-256 of the download, hex.
    pub sha256: String,
    /// `sha256` (pinned) or `minisign` (signature checked with the configured key).
    pub verified_by: String,
    /// Unix seconds of the download that produced these files.
    pub fetched_at: u64,
    /// Files of the source, relative to its directory in the version.
    pub files: Vec<String>,
}

/// What a version holds, written beside its files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    pub id: String,
    /// Unix seconds of its installation.
    pub created_at: u64,
    /// The version that was current when this one was activated, for rollback.
    pub previous: Option<String>,
    /// SHA-256 (hex) of every source's name, kind and files with their contents: two
    /// versions with equal `content` hold the same rules.
    pub content: String,
    pub sources: Vec<InstalledSource>,
}

/// A version as listed.
#[derive(Debug, Clone)]
pub struct VersionInfo {
    pub manifest: Manifest,
    pub current: bool,
    /// Rolled back: an update never activates this content again.
    pub rejected: bool,
}

/// The installed versions under one root (the server keeps it in `<data-dir>/rules`).
#[derive(Debug, Clone)]
pub struct RuleStore {
    root: PathBuf,
}

/// Holds the store's lock; dropping it releases the lock.
#[derive(Debug)]
pub struct StoreLock {
    _file: fs::File,
}

impl RuleStore {
    /// The store at `root` (nothing is created until something is installed).
    pub fn new(root: impl Into<PathBuf>) -> RuleStore {
        RuleStore { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Takes the store's lock (without waiting): one writer at a time, the server's
    /// scheduled update or `hashscan rules update|rollback`.
    pub fn lock(&self) -> Result<StoreLock, StoreError> {
        fs::create_dir_all(&self.root).map_err(io_err(&self.root))?;
        let path = self.root.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io_err(&path))?;
        match file.try_lock() {
            Ok(()) => Ok(StoreLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => Err(StoreError::Busy(path.display().to_string())),
            Err(fs::TryLockError::Error(e)) => Err(io_err(&path)(e)),
        }
    }

    /// The active version's id, if any.
    pub fn current(&self) -> Result<Option<String>, StoreError> {
        let path = self.root.join(CURRENT);
        match fs::read_to_string(&path) {
            Ok(text) => {
                let id = text.trim().to_string();
                check_id(&id)?;
                Ok(Some(id))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// The directory of version `id`.
    pub fn version_dir(&self, id: &str) -> PathBuf {
        self.root.join(VERSIONS).join(id)
    }

    /// The directory of the active version, if any.
    pub fn current_dir(&self) -> Result<Option<PathBuf>, StoreError> {
        Ok(self.current()?.map(|id| self.version_dir(&id)))
    }

    /// The manifest of version `id`.
    pub fn manifest(&self, id: &str) -> Result<Manifest, StoreError> {
        check_id(id)?;
        let path = self.version_dir(id).join(MANIFEST);
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(StoreError::NoSuchVersion(id.to_string()));
            }
            Err(e) => return Err(io_err(&path)(e)),
        };
        serde_json::from_slice(&text).map_err(|e| StoreError::Manifest {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }

    /// Every installed version, oldest first.
    pub fn versions(&self) -> Result<Vec<VersionInfo>, StoreError> {
        let dir = self.root.join(VERSIONS);
        let current = self.current()?;
        let mut ids = Vec::new();
        match fs::read_dir(&dir) {
            Ok(entries) => {
                for entry in entries {
                    let entry = entry.map_err(io_err(&dir))?;
                    if let Some(name) = entry.file_name().to_str()
                        && check_id(name).is_ok()
                        && entry.path().join(MANIFEST).is_file()
                    {
                        ids.push(name.to_string());
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&dir)(e)),
        }
        ids.sort();
        let mut out = Vec::new();
        for id in ids {
            let manifest = self.manifest(&id)?;
            out.push(VersionInfo {
                current: current.as_deref() == Some(id.as_str()),
                rejected: self.version_dir(&id).join(REJECTED).exists(),
                manifest,
            });
        }
        Ok(out)
    }

    /// A fresh staging directory to assemble a version in; remove it with
    /// [`RuleStore::discard`] unless it is [`install`](RuleStore::install)ed.
    pub fn stage(&self) -> Result<PathBuf, StoreError> {
        fs::create_dir_all(&self.root).map_err(io_err(&self.root))?;
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = self
            .root
            .join(format!("staging-{}-{nanos}", std::process::id()));
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        Ok(dir)
    }

    /// Removes a staging directory (best effort).
    pub fn discard(&self, staging: &Path) {
        let _ = fs::remove_dir_all(staging);
    }

    /// Removes staging directories left by a process that died (call with the lock held).
    pub fn clean_staging(&self) {
        if let Ok(entries) = fs::read_dir(&self.root) {
            for entry in entries.flatten() {
                if entry.file_name().to_string_lossy().starts_with("staging-") {
                    let _ = fs::remove_dir_all(entry.path());
                }
            }
        }
    }

    /// The version whose content is `content`, if one is installed.
    pub fn find_content(&self, content: &str) -> Result<Option<VersionInfo>, StoreError> {
        Ok(self
            .versions()?
            .into_iter()
            .rev()
            .find(|v| v.manifest.content == content))
    }

    /// Moves a checked staging directory into `versions/` under a new id, writes its
    /// manifest (the id, time and previous version filled in here) and makes it current.
    /// Returns the manifest written.
    pub fn install(&self, staging: &Path, mut manifest: Manifest) -> Result<Manifest, StoreError> {
        let now = unix_now();
        let short = manifest.content.get(..12).unwrap_or(&manifest.content);
        let mut id = format!("{now:010}-{short}");
        let mut n = 1;
        while self.version_dir(&id).exists() {
            n += 1;
            id = format!("{now:010}-{short}-{n}");
        }
        manifest.id = id.clone();
        manifest.created_at = now;
        manifest.previous = self.current()?;
        write_manifest(staging, &manifest)?;
        let versions = self.root.join(VERSIONS);
        fs::create_dir_all(&versions).map_err(io_err(&versions))?;
        let dest = self.version_dir(&id);
        fs::rename(staging, &dest).map_err(io_err(&dest))?;
        sync_dir(&versions);
        self.set_current(&id)?;
        Ok(manifest)
    }

    /// Makes an installed version current again (its manifest unchanged), clearing a
    /// rejection.
    pub fn activate(&self, id: &str) -> Result<(), StoreError> {
        self.manifest(id)?;
        let _ = fs::remove_file(self.version_dir(id).join(REJECTED));
        self.set_current(id)
    }

    /// Rolls back: the current version is marked rejected (an update will not activate
    /// the same content again) and the version it replaced becomes current. Returns the
    /// (rejected, now current) ids.
    pub fn rollback(&self) -> Result<(String, String), StoreError> {
        let current = self
            .current()?
            .ok_or_else(|| StoreError::NoPrevious("no version is active".into()))?;
        let manifest = self.manifest(&current)?;
        let previous = manifest.previous.ok_or_else(|| {
            StoreError::NoPrevious(format!("{current} is the first version installed"))
        })?;
        self.manifest(&previous)
            .map_err(|_| StoreError::NoPrevious(format!("{previous} is no longer installed")))?;
        let marker = self.version_dir(&current).join(REJECTED);
        fs::write(&marker, b"rolled back\n").map_err(io_err(&marker))?;
        self.set_current(&previous)?;
        Ok((current, previous))
    }

    /// Removes old versions beyond the `keep` newest, never the current one nor the one it
    /// would roll back to. Returns the ids removed.
    pub fn prune(&self, keep: usize) -> Result<Vec<String>, StoreError> {
        let versions = self.versions()?;
        let current = self.current()?;
        let previous = match &current {
            Some(id) => self.manifest(id).ok().and_then(|m| m.previous),
            None => None,
        };
        let excess = versions.len().saturating_sub(keep.max(1));
        let mut removed = Vec::new();
        for v in versions.iter().take(excess) {
            let id = &v.manifest.id;
            if Some(id) == current.as_ref() || Some(id) == previous.as_ref() {
                continue;
            }
            let dir = self.version_dir(id);
            fs::remove_dir_all(&dir).map_err(io_err(&dir))?;
            removed.push(id.clone());
        }
        Ok(removed)
    }

    /// Rule files of the active version as (namespace, path): namespaces are
    /// `updates/<source>/<file>`, the same for every version, so a ruleset's version
    /// depends on the rules, not on where they are installed.
    pub fn current_rule_files(&self) -> Result<Vec<(String, PathBuf)>, StoreError> {
        let Some(dir) = self.current_dir()? else {
            return Ok(vec![]);
        };
        files_under(&dir.join(YARA_DIR), NAMESPACE_PREFIX)
    }

    /// Hash lists of the active version as (name, path): names are `<source>/<file>`.
    pub fn current_list_files(&self) -> Result<Vec<(String, PathBuf)>, StoreError> {
        let Some(dir) = self.current_dir()? else {
            return Ok(vec![]);
        };
        files_under(&dir.join(LISTS_DIR), "")
    }

    /// ClamAV databases of the active version as (`<source>/<file>`, path).
    pub fn current_clamav_files(&self) -> Result<Vec<(String, PathBuf)>, StoreError> {
        let Some(dir) = self.current_dir()? else {
            return Ok(vec![]);
        };
        files_under(&dir.join(CLAMAV_DIR), "")
    }

    fn set_current(&self, id: &str) -> Result<(), StoreError> {
        check_id(id)?;
        let tmp = self
            .root
            .join(format!("{CURRENT}.tmp-{}", std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(id.as_bytes())?;
            f.write_all(b"\n")?;
            f.sync_all()?;
            fs::rename(&tmp, self.root.join(CURRENT))
        };
        write().map_err(io_err(&self.root.join(CURRENT)))?;
        sync_dir(&self.root);
        Ok(())
    }
}

/// Files under `dir`, sorted, as (`prefix` + path relative to `dir` with `/`, path).
fn files_under(dir: &Path, prefix: &str) -> Result<Vec<(String, PathBuf)>, StoreError> {
    if !dir.is_dir() {
        return Ok(vec![]);
    }
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| StoreError::Io {
            path: dir.display().to_string(),
            source: e.into(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .unwrap_or(entry.path())
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/");
        out.push((format!("{prefix}{rel}"), entry.into_path()));
    }
    Ok(out)
}

fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), StoreError> {
    let path = dir.join(MANIFEST);
    let text = serde_json::to_vec_pretty(manifest).map_err(|e| StoreError::Manifest {
        path: path.display().to_string(),
        message: e.to_string(),
    })?;
    let write = || -> std::io::Result<()> {
        let mut f = fs::File::create(&path)?;
        f.write_all(&text)?;
        f.sync_all()
    };
    write().map_err(io_err(&path))
}

/// Version ids are made here: digits, lower-case letters and `-` only, so one can never
/// name a path outside `versions/`.
fn check_id(id: &str) -> Result<(), StoreError> {
    if id.is_empty()
        || id.len() > 64
        || !id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase() || b == b'-')
    {
        return Err(StoreError::InvalidId(id.to_string()));
    }
    Ok(())
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// fsync of a directory, so that a rename in it survives a crash (best effort).
fn sync_dir(dir: &Path) {
    if let Ok(f) = fs::File::open(dir) {
        let _ = f.sync_all();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn manifest(content: &str) -> Manifest {
        Manifest {
            id: String::new(),
            created_at: 0,
            previous: None,
            content: content.to_string(),
            sources: vec![],
        }
    }

    fn stage_with(store: &RuleStore, text: &str) -> PathBuf {
        let dir = store.stage().unwrap();
        let src = dir.join(YARA_DIR).join("pack");
        fs::create_dir_all(&src).unwrap();
        fs::write(src.join("a.yar"), text).unwrap();
        dir
    }

    #[test]
    fn install_activate_rollback_prune() {
        let tmp = tempfile::tempdir().unwrap();
        let store = RuleStore::new(tmp.path().join("rules"));
        assert_eq!(store.current().unwrap(), None);
        assert!(store.current_rule_files().unwrap().is_empty());
        assert!(matches!(store.rollback(), Err(StoreError::NoPrevious(_))));

        let first = store
            .install(&stage_with(&store, "one"), manifest("aaaa"))
            .unwrap();
        assert_eq!(store.current().unwrap().as_deref(), Some(first.id.as_str()));
        assert_eq!(first.previous, None);
        let files = store.current_rule_files().unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].0, "updates/pack/a.yar");
        assert_eq!(fs::read_to_string(&files[0].1).unwrap(), "one");

        let second = store
            .install(&stage_with(&store, "two"), manifest("bbbb"))
            .unwrap();
        assert_eq!(second.previous.as_deref(), Some(first.id.as_str()));
        let files = store.current_rule_files().unwrap();
        assert_eq!(
            files[0].0, "updates/pack/a.yar",
            "same name in every version"
        );
        assert_eq!(fs::read_to_string(&files[0].1).unwrap(), "two");

        let (rejected, now) = store.rollback().unwrap();
        assert_eq!(
            (rejected.as_str(), now.as_str()),
            (second.id.as_str(), first.id.as_str())
        );
        let listed = store.versions().unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed[0].current && !listed[0].rejected);
        assert!(!listed[1].current && listed[1].rejected);
        assert_eq!(
            store.find_content("bbbb").unwrap().map(|v| v.rejected),
            Some(true)
        );
        assert!(matches!(store.rollback(), Err(StoreError::NoPrevious(_))));

        store.activate(&second.id).unwrap();
        assert!(!store.versions().unwrap()[1].rejected);
        for c in ["cccc", "dddd", "eeee"] {
            store.install(&stage_with(&store, c), manifest(c)).unwrap();
        }
        let removed = store.prune(2).unwrap();
        assert_eq!(removed.len(), 3, "{removed:?}");
        assert_eq!(store.versions().unwrap().len(), 2);
        assert!(store.rollback().is_ok(), "the previous one is kept");
    }

    #[test]
    fn a_bad_current_pointer_names_no_path() {
        let tmp = tempfile::tempdir().unwrap();
        let store = RuleStore::new(tmp.path());
        fs::write(tmp.path().join("current"), "../../etc\n").unwrap();
        assert!(matches!(store.current(), Err(StoreError::InvalidId(_))));
    }

    #[test]
    fn one_writer_at_a_time() {
        let tmp = tempfile::tempdir().unwrap();
        let store = RuleStore::new(tmp.path());
        let held = store.lock().unwrap();
        assert!(matches!(store.lock(), Err(StoreError::Busy(_))));
        drop(held);
        assert!(store.lock().is_ok());
    }
}
