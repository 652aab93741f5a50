//! Compiled rules kept on disk between runs, so that a process starts (and a reload
//! finishes) without compiling the same sources again.
//!
//! Compiling is most of what `hashscan scan` spends on a few files: ~0.2–0.4 s for the
//! default pack or a third-party pack, against ~0.02–0.05 s to load the compiled form. An
//! entry is named by the SHA-256 of everything that decides the result — the format of this
//! cache, the yara-x version, the platform and every source with its name — so a changed
//! source, a new hashscan or a new yara-x simply misses.
//!
//! Compiled rules hold native code: loading an entry runs what it contains. So entries are
//! only read from a directory that belongs to the user running hashscan and that nobody else
//! can write to, from files with the same owner and mode, and their SHA-256 is checked before
//! yara-x sees them (a torn or damaged file is compiled again and replaced, never loaded).

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// First bytes of an entry; the number is this format's version. It is part of every key:
/// raise it when what an entry holds changes (the fields of `rules::Outcome`, or how `rules.rs`
/// decides which sources go in), so that entries of an older hashscan of the same version
/// number miss.
const MAGIC: &[u8] = b"hashscan-rules-cache 1\n";
/// Entries kept; older ones are removed when a new one is stored.
pub(crate) const KEEP: usize = 16;
/// Largest entry read (the default pack compiles to ~2 MB).
const MAX_ENTRY: u64 = 256 << 20;
/// File name suffix of entries.
pub(crate) const SUFFIX: &str = ".rules";

/// What the cache did for one load.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CacheUse {
    /// No cache configured (or no sources to compile).
    #[default]
    Off,
    /// The compiled rules came from the cache.
    Loaded,
    /// Compiled, and stored for the next load.
    Stored,
    /// Compiled; the cache could not be used (why).
    Unusable(String),
}

/// A directory of compiled rules.
#[derive(Debug, Clone)]
pub(crate) struct RuleCache {
    dir: PathBuf,
}

impl RuleCache {
    /// The cache in `dir`, created (mode 0700) if missing; an error says why it cannot be
    /// trusted or used.
    pub(crate) fn open(dir: &Path) -> Result<RuleCache, String> {
        if !dir.exists() {
            create_private_dir(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        }
        let meta =
            std::fs::metadata(dir).map_err(|e| format!("cannot use {}: {e}", dir.display()))?;
        if !meta.is_dir() {
            return Err(format!("{} is not a directory", dir.display()));
        }
        private(&meta).map_err(|why| format!("{}: {why}", dir.display()))?;
        Ok(RuleCache {
            dir: dir.to_path_buf(),
        })
    }

    /// The entry name of `sources` (name, text).
    pub(crate) fn key(sources: &[(String, Vec<u8>)]) -> String {
        let mut h = Sha256::new();
        h.update(MAGIC);
        for part in [
            yara_x::VERSION,
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH,
            std::env::consts::OS,
        ] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
        h.update((sources.len() as u64).to_le_bytes());
        for (name, text) in sources {
            h.update((name.len() as u64).to_le_bytes());
            h.update(name.as_bytes());
            h.update((text.len() as u64).to_le_bytes());
            h.update(text);
        }
        hex::encode(h.finalize())
    }

    fn path(&self, key: &str) -> PathBuf {
        self.dir.join(format!("{key}{SUFFIX}"))
    }

    /// The entry `key`, if there is a sound one.
    /// The entry `key`: the rules and what was stored with them (`T`, as JSON).
    pub(crate) fn get<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Option<(yara_x::Rules, T)> {
        let path = self.path(key);
        let meta = std::fs::symlink_metadata(&path).ok()?;
        if !meta.is_file() || meta.len() > MAX_ENTRY || private(&meta).is_err() {
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        let body = bytes.strip_prefix(MAGIC)?;
        let (sum, rest) = body.split_at_checked(32)?;
        if Sha256::digest(rest).as_slice() != sum {
            return None;
        }
        let (len, rest) = rest.split_at_checked(8)?;
        let len = usize::try_from(u64::from_le_bytes(len.try_into().ok()?)).ok()?;
        let (json, rules) = rest.split_at_checked(len)?;
        let outcome: T = serde_json::from_slice(json).ok()?;
        let rules = yara_x::Rules::deserialize(rules).ok()?;
        Some((rules, outcome))
    }

    /// Stores `rules` and `outcome` as `key` (written aside, then renamed into place), and
    /// removes the oldest entries beyond [`KEEP`].
    pub(crate) fn put(
        &self,
        key: &str,
        rules: &yara_x::Rules,
        outcome: &impl serde::Serialize,
    ) -> Result<(), String> {
        let compiled = rules
            .serialize()
            .map_err(|e| format!("cannot serialize the rules: {e}"))?;
        let json = serde_json::to_vec(outcome).map_err(|e| e.to_string())?;
        let mut rest = Vec::with_capacity(8 + json.len() + compiled.len());
        rest.extend_from_slice(&(json.len() as u64).to_le_bytes());
        rest.extend_from_slice(&json);
        rest.extend_from_slice(&compiled);
        let write = || -> std::io::Result<()> {
            // Created 0600 by tempfile.
            let mut temp = tempfile::NamedTempFile::new_in(&self.dir)?;
            temp.write_all(MAGIC)?;
            temp.write_all(&Sha256::digest(&rest))?;
            temp.write_all(&rest)?;
            temp.persist(self.path(key)).map_err(|e| e.error)?;
            Ok(())
        };
        write()
            .map_err(|e| format!("cannot store compiled rules in {}: {e}", self.dir.display()))?;
        self.prune();
        Ok(())
    }

    fn prune(&self) {
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries: Vec<(std::time::SystemTime, PathBuf)> = dir
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(SUFFIX))
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        if entries.len() <= KEEP {
            return;
        }
        entries.sort();
        let extra = entries.len() - KEEP;
        for (_, path) in entries.into_iter().take(extra) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The default cache directory of a command-line run: `$HASHSCAN_CACHE_DIR/rules`, else
/// `$XDG_CACHE_HOME/hashscan/rules`, else `~/.cache/hashscan/rules`.
pub fn default_dir() -> Option<PathBuf> {
    let env = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if let Some(dir) = env("HASHSCAN_CACHE_DIR") {
        return Some(dir.join("rules"));
    }
    if let Some(dir) = env("XDG_CACHE_HOME") {
        return Some(dir.join("hashscan").join("rules"));
    }
    env("HOME").map(|home| home.join(".cache").join("hashscan").join("rules"))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Whether only the user running hashscan can write what `meta` describes: owned by that
/// user (checked where the user is known: Linux's `/proc/self`), writable by no one else.
#[cfg(unix)]
fn private(meta: &std::fs::Metadata) -> Result<(), &'static str> {
    use std::os::unix::fs::MetadataExt;
    if meta.mode() & 0o022 != 0 {
        return Err("writable by other users: not used for compiled rules");
    }
    if let Ok(me) = std::fs::metadata("/proc/self")
        && me.uid() != meta.uid()
    {
        return Err("owned by another user: not used for compiled rules");
    }
    Ok(())
}

#[cfg(not(unix))]
fn private(_meta: &std::fs::Metadata) -> Result<(), &'static str> {
    Ok(())
}
