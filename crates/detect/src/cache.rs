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

use crate::rules::Problem;

/// First bytes of an entry; the number is this format's version. It is part of every key:
/// raise it when what an entry holds changes (the `Outcome` fields, or how `rules.rs`
/// decides which sources go in), so that entries of an older hashscan of the same version
/// number miss.
const MAGIC: &[u8] = b"hashscan-rules-cache 1\n";
/// Entries kept; older ones are removed when a new one is stored.
const KEEP: usize = 16;
/// Largest entry read (the default pack compiles to ~2 MB).
const MAX_ENTRY: u64 = 256 << 20;
/// File name suffix of entries.
const SUFFIX: &str = ".rules";

/// What the sources compiled to, besides the rules themselves.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Outcome {
    /// Names of the sources that went into the rules, in order.
    pub(crate) good: Vec<String>,
    /// Sources left out, with why.
    pub(crate) problems: Vec<Problem>,
    /// Compiler warnings of the sources that went in.
    pub(crate) warnings: Vec<Problem>,
}

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
    pub(crate) fn get(&self, key: &str) -> Option<(yara_x::Rules, Outcome)> {
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
        let outcome: Outcome = serde_json::from_slice(json).ok()?;
        let rules = yara_x::Rules::deserialize(rules).ok()?;
        Some((rules, outcome))
    }

    /// Stores `rules` and `outcome` as `key` (written aside, then renamed into place), and
    /// removes the oldest entries beyond [`KEEP`].
    pub(crate) fn put(
        &self,
        key: &str,
        rules: &yara_x::Rules,
        outcome: &Outcome,
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::collections::BTreeMap;

    use super::*;
    use crate::rules::Ruleset;

    fn src(name: &str, text: &str) -> (String, Vec<u8>) {
        (name.to_string(), text.as_bytes().to_vec())
    }

    fn sources() -> Vec<(String, Vec<u8>)> {
        vec![
            src(
                "a.yar",
                "// hashscan: score_scale = thor\nrule a { meta: score = 75 strings: $s = \"marker-a\" condition: $s }",
            ),
            src("broken.yar", "rule broken { condition: nope }"),
            // Warns: a loop over a pattern's matches that is slow, or anything yara-x
            // warns about; here an invariant boolean expression.
            src("warned.yar", "rule w { condition: true or false }"),
        ]
    }

    fn load(sources: &[(String, Vec<u8>)], dir: &Path) -> Ruleset {
        Ruleset::compile_cached(sources, &[], &BTreeMap::new(), Some(dir))
    }

    fn matches(set: &Ruleset, data: &[u8]) -> Vec<String> {
        let mut scanner = yara_x::Scanner::new(&set.compiled()[0]);
        let results = scanner.scan(data).unwrap();
        results
            .matching_rules()
            .map(|r| r.identifier().to_string())
            .collect()
    }

    #[test]
    fn a_second_load_comes_from_the_cache_and_means_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("rules");
        let first = load(&sources(), &cache);
        assert_eq!(first.cache_use(), &CacheUse::Stored);
        let second = load(&sources(), &cache);
        assert_eq!(second.cache_use(), &CacheUse::Loaded);
        let plain = Ruleset::compile(&sources(), &[]);
        assert_eq!(plain.cache_use(), &CacheUse::Off);
        for set in [&first, &second] {
            assert_eq!(set.version(), plain.version());
            assert_eq!(set.rule_count(), plain.rule_count());
            assert_eq!(set.files(), plain.files());
            assert_eq!(set.problems, plain.problems);
            assert_eq!(set.warnings, plain.warnings);
            assert_eq!(set.declared_scale("a.yar"), plain.declared_scale("a.yar"));
            assert_eq!(matches(set, b"x marker-a y"), vec!["a", "w"]);
        }
        assert_eq!(plain.problems.len(), 1, "{:?}", plain.problems);
        assert_eq!(plain.problems[0].file, "broken.yar");
        assert!(!plain.warnings.is_empty());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&cache).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700);
        }
    }

    #[test]
    fn a_changed_source_misses_and_a_damaged_entry_is_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("rules");
        let first = load(&sources(), &cache);
        let mut changed = sources();
        changed[0]
            .1
            .extend_from_slice(b"\nrule b { condition: false }");
        let other = load(&changed, &cache);
        assert_eq!(other.cache_use(), &CacheUse::Stored);
        assert_ne!(other.version(), first.version());
        assert_eq!(other.rule_count(), first.rule_count() + 1);

        let entry = cache.join(format!("{}{SUFFIX}", RuleCache::key(&sources())));
        let mut bytes = std::fs::read(&entry).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xFF;
        std::fs::write(&entry, &bytes).unwrap();
        let again = load(&sources(), &cache);
        assert_eq!(
            again.cache_use(),
            &CacheUse::Stored,
            "damaged: compiled again"
        );
        assert_eq!(again.version(), first.version());
        assert_eq!(load(&sources(), &cache).cache_use(), &CacheUse::Loaded);

        std::fs::write(&entry, b"short").unwrap();
        assert_eq!(load(&sources(), &cache).cache_use(), &CacheUse::Stored);
    }

    #[cfg(unix)]
    #[test]
    fn a_directory_others_can_write_to_is_not_used() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("rules");
        load(&sources(), &cache);
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
        let set = load(&sources(), &cache);
        match set.cache_use() {
            CacheUse::Unusable(why) => assert!(why.contains("writable by other users"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(set.rule_count(), 2);
        // An entry others can write to is not read either.
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o700)).unwrap();
        let entry = cache.join(format!("{}{SUFFIX}", RuleCache::key(&sources())));
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(load(&sources(), &cache).cache_use(), &CacheUse::Stored);
    }

    #[test]
    fn old_entries_are_removed_beyond_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("rules");
        for i in 0..KEEP + 3 {
            let one = vec![src("n.yar", &format!("rule r{i} {{ condition: false }}"))];
            assert_eq!(load(&one, &cache).cache_use(), &CacheUse::Stored);
        }
        let entries = std::fs::read_dir(&cache).unwrap().count();
        assert_eq!(entries, KEEP);
    }
}
