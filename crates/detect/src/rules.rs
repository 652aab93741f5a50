//! YARA rules: loading files and directories, compiling them with yara-x, and what a rule's
//! metadata says about a match.
//!
//! A rule file that does not compile is left out whole and reported with its file, line and
//! message; the other files still load (one broken community rule must not disable the
//! rest). Each file is compiled in its own namespace (its path), so two files may use the
//! same rule name. The ruleset's version is a hash of every source that went in, so results
//! made under other rules can be told apart.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

use crate::cache::{CacheUse, RuleCache};
use crate::verdict::{ScoreScale, ThreatType, Verdict};

/// The rule pack written by this project and embedded in the binary.
pub const DEFAULT_PACK: &[(&str, &str)] = &[
    ("builtin/eicar.yar", include_str!("../rules/eicar.yar")),
    (
        "builtin/webshell_php.yar",
        include_str!("../rules/webshell_php.yar"),
    ),
    (
        "builtin/webshell_jsp.yar",
        include_str!("../rules/webshell_jsp.yar"),
    ),
    (
        "builtin/webshell_asp.yar",
        include_str!("../rules/webshell_asp.yar"),
    ),
    (
        "builtin/webshell_cfm.yar",
        include_str!("../rules/webshell_cfm.yar"),
    ),
    (
        "builtin/webshell_script.yar",
        include_str!("../rules/webshell_script.yar"),
    ),
    (
        "builtin/webshell_tunnel.yar",
        include_str!("../rules/webshell_tunnel.yar"),
    ),
];

/// Score of a matching rule without a `score` metadata value: at the top of Alibaba's
/// "suspicious" band (71–80), below "malicious" (81–100), so an unscored rule alone never
/// calls a file malicious.
pub const DEFAULT_SCORE: u8 = crate::verdict::UNSCORED;

/// Namespace prefix of the embedded pack's files.
const BUILTIN_PREFIX: &str = "builtin/";

/// File extensions read as YARA source.
const SOURCE_EXTENSIONS: &[&str] = &["yar", "yara"];
/// File extensions read as yara-x compiled rules (`yr compile` output).
const COMPILED_EXTENSIONS: &[&str] = &["yarc"];

/// A rule file that did not compile, or could not be read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// The file (or `builtin/...` for the embedded pack).
    pub file: String,
    /// 1-based line and column of the error, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, "{}:{l}:{c}: {}", self.file, self.message),
            (Some(l), None) => write!(f, "{}:{l}: {}", self.file, self.message),
            _ => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// What a rule's metadata says about its matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleMeta {
    /// 0–100 on hashscan's scale (Alibaba's bands), after [`ScoreScale::score`]: 61 or
    /// more unless the rule opts out with `hashscan_verdict = "clean"`.
    pub score: u8,
    /// The rule's `threat_type`; else what its name or tags suggest
    /// ([`ThreatType::guess`]); else [`ThreatType::Suspicious`].
    pub threat_type: ThreatType,
    /// The rule's `description`, or its name.
    pub description: String,
    /// The scale its `score` was read on.
    pub scale: ScoreScale,
}

impl RuleMeta {
    /// Reads a matching rule's metadata, with the scale its namespace implies: hashscan's
    /// for the embedded pack, Loki's for every other file (see [`ScoreScale`]), unless the
    /// rule says otherwise with `score_scale`. A file's own `// hashscan: score_scale = …`
    /// line is known to its [`Ruleset`]: use [`Ruleset::meta_of`] to honour it.
    pub fn of(rule: &yara_x::Rule<'_, '_>) -> RuleMeta {
        RuleMeta::with_file_scale(rule, None)
    }

    /// [`RuleMeta::of`], with the scale the rule's file declares, if any.
    ///
    /// Metadata read: `score` (an integer or a string of digits, on the rule's scale);
    /// `severity` when there is no `score` (a number on the rule's scale, or
    /// `critical`/`high`/`medium`/`low`/`info` = 95/85/75/65/61 on hashscan's);
    /// `score_scale` (`hashscan`, `loki`, `none`: overrides the file's and the default);
    /// `hashscan_verdict` (`clean`, `suspicious`, `malicious`: moves the score into that
    /// band, `clean` being the only way a matching rule leaves a file clean); `threat_type`;
    /// `description`. Unknown values are ignored.
    pub fn with_file_scale(rule: &yara_x::Rule<'_, '_>, file: Option<ScoreScale>) -> RuleMeta {
        let mut raw: Option<i64> = None;
        let mut severity: Option<(i64, bool)> = None;
        let mut rule_scale = None;
        let mut verdict = None;
        let mut threat_type = None;
        let mut description = None;
        for (key, value) in rule.metadata() {
            match (key, value) {
                ("score", yara_x::MetaValue::Integer(n)) => raw = Some(n),
                ("score", yara_x::MetaValue::String(s)) => {
                    if let Ok(n) = s.trim().parse::<i64>() {
                        raw = Some(n);
                    }
                }
                ("severity", yara_x::MetaValue::Integer(n)) => severity = Some((n, false)),
                ("severity", yara_x::MetaValue::String(s)) => {
                    severity = s
                        .trim()
                        .parse::<i64>()
                        .ok()
                        .map(|n| (n, false))
                        .or_else(|| severity_word(s).map(|n| (n, true)));
                }
                ("score_scale", yara_x::MetaValue::String(s)) => {
                    rule_scale = ScoreScale::parse(s);
                }
                ("hashscan_verdict", yara_x::MetaValue::String(s)) => {
                    verdict = Verdict::parse(s).filter(|v| *v != Verdict::Unknown);
                }
                ("threat_type", yara_x::MetaValue::String(s)) => {
                    threat_type = ThreatType::parse(s);
                }
                ("description", yara_x::MetaValue::String(s)) if !s.trim().is_empty() => {
                    description = Some(s.to_string());
                }
                _ => {}
            }
        }
        let mut scale = rule_scale.or(file).unwrap_or_else(|| {
            if rule.namespace().starts_with(BUILTIN_PREFIX) {
                ScoreScale::Hashscan
            } else {
                ScoreScale::Loki
            }
        });
        if raw.is_none()
            && let Some((n, word)) = severity
        {
            raw = Some(n);
            if word {
                scale = ScoreScale::Hashscan;
            }
        }
        let threat_type = threat_type
            .or_else(|| ThreatType::guess(rule.identifier()))
            .or_else(|| rule.tags().find_map(|t| ThreatType::guess(t.identifier())))
            .unwrap_or(ThreatType::Suspicious);
        RuleMeta {
            score: scale.score(raw, verdict),
            threat_type,
            description: description.unwrap_or_else(|| rule.identifier().to_string()),
            scale,
        }
    }
}

/// A `severity` word on hashscan's scale.
fn severity_word(s: &str) -> Option<i64> {
    match s.trim().to_ascii_lowercase().as_str() {
        "critical" => Some(95),
        "high" => Some(85),
        "medium" | "moderate" => Some(75),
        "low" => Some(65),
        "info" | "informational" => Some(61),
        _ => None,
    }
}

/// The score scale a rule file declares on a line of its own:
/// `// hashscan: score_scale = loki` (also `score-scale`, any case, quotes allowed).
/// `Err` carries the 1-based line of a declaration naming no known scale.
fn declared_scale(text: &[u8]) -> Result<Option<ScoreScale>, (usize, String)> {
    let text = String::from_utf8_lossy(text);
    for (i, line) in text.lines().enumerate() {
        let Some(rest) = line.trim().strip_prefix("//") else {
            continue;
        };
        let Some(rest) = rest.trim_start().strip_prefix("hashscan:") else {
            continue;
        };
        let Some((key, value)) = rest.split_once('=') else {
            continue;
        };
        if !matches!(key.trim(), "score_scale" | "score-scale") {
            continue;
        }
        let value = value.trim().trim_matches('"');
        return match ScoreScale::parse(value) {
            Some(scale) => Ok(Some(scale)),
            None => Err((
                i + 1,
                format!("unknown score scale `{value}` (hashscan, loki or none)"),
            )),
        };
    }
    Ok(None)
}

/// Where rules come from.
#[derive(Debug, Clone, Default)]
pub struct RuleConfig {
    /// Rule files and directories (searched recursively for `.yar`/`.yara`, and `.yarc`
    /// compiled rules).
    pub paths: Vec<PathBuf>,
    /// Whether the embedded [`DEFAULT_PACK`] is included.
    pub default_pack: bool,
}

impl RuleConfig {
    /// The embedded pack and `paths`.
    pub fn with_default(paths: Vec<PathBuf>) -> Self {
        RuleConfig {
            paths,
            default_pack: true,
        }
    }

    /// A cheap fingerprint of the rule files (paths, sizes and modification times): when it
    /// changes, the rules are worth compiling again.
    pub fn fingerprint(&self) -> u64 {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for (file, _) in rule_files(&self.paths).0 {
            file.hash(&mut h);
            if let Ok(m) = std::fs::metadata(&file) {
                m.len().hash(&mut h);
                m.modified()
                    .ok()
                    .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
                    .hash(&mut h);
            }
        }
        h.finish()
    }

    /// Reads and compiles the rules. Never fails as a whole: what cannot be used is in
    /// [`Ruleset::problems`].
    pub fn load(&self) -> Ruleset {
        self.load_with(&[])
    }

    /// [`load`](Self::load), plus `extra` rule files given as (namespace, path): the files
    /// of an installed update ([`crate::store::RuleStore::current_rule_files`]), whose
    /// namespaces do not depend on where they are installed.
    pub fn load_with(&self, extra: &[(String, PathBuf)]) -> Ruleset {
        self.load_cached(extra, None)
    }

    /// [`load_with`](Self::load_with), the sources' compiled form kept in the cache
    /// directory `cache` (see [`crate::cache`]) when one is given.
    pub fn load_cached(&self, extra: &[(String, PathBuf)], cache: Option<&Path>) -> Ruleset {
        let mut sources = Vec::new();
        let mut compiled = Vec::new();
        let mut names = BTreeMap::new();
        let (mut files, mut problems) = rule_files(&self.paths);
        if self.default_pack {
            sources.extend(
                DEFAULT_PACK
                    .iter()
                    .map(|(name, text)| (name.to_string(), text.as_bytes().to_vec())),
            );
        }
        // (file, namespace, name in the version): configured files keep their path as
        // namespace; installed ones are named relative to their version already.
        let mut all: Vec<(PathBuf, String, String)> = files
            .drain(..)
            .map(|(file, relative)| {
                let ns = file.display().to_string();
                (file, ns, relative)
            })
            .collect();
        all.extend(
            extra
                .iter()
                .map(|(ns, path)| (path.clone(), ns.clone(), ns.clone())),
        );
        for (file, name, relative) in all {
            names.insert(name.clone(), relative);
            match std::fs::read(&file) {
                Ok(bytes) if is_compiled(&file) => compiled.push((name, bytes)),
                Ok(bytes) => sources.push((name, bytes)),
                Err(e) => problems.push(Problem {
                    file: name,
                    line: None,
                    column: None,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
        let mut set = Ruleset::compile_cached(&sources, &compiled, &names, cache);
        problems.append(&mut set.problems);
        set.problems = problems;
        set
    }
}

fn is_compiled(path: &Path) -> bool {
    has_extension(path, COMPILED_EXTENSIONS)
}

fn has_extension(path: &Path, exts: &[&str]) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The rule files under `paths`, sorted within each directory, each with its name relative
/// to the configured path (a file: its file name; a file in a directory: the directory's
/// name, then its path inside it), and the paths that could not be read. The relative names
/// go into the ruleset's version, so that the same rules installed elsewhere are the same
/// version.
fn rule_files(paths: &[PathBuf]) -> (Vec<(PathBuf, String)>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    let file_name = |p: &Path| {
        p.file_name().map_or_else(
            || p.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    };
    for path in paths {
        if path.is_file() {
            files.push((path.clone(), file_name(path)));
            continue;
        }
        if !path.is_dir() {
            problems.push(Problem {
                file: path.display().to_string(),
                line: None,
                column: None,
                message: "no such file or directory".into(),
            });
            continue;
        }
        for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
            match entry {
                Ok(e)
                    if e.file_type().is_file()
                        && (has_extension(e.path(), SOURCE_EXTENSIONS)
                            || has_extension(e.path(), COMPILED_EXTENSIONS)) =>
                {
                    let inside = e
                        .path()
                        .strip_prefix(path)
                        .unwrap_or(e.path())
                        .components()
                        .map(|c| c.as_os_str().to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join("/");
                    let relative = format!("{}/{inside}", file_name(path));
                    files.push((e.into_path(), relative));
                }
                Ok(_) => {}
                Err(e) => problems.push(Problem {
                    file: e
                        .path()
                        .map_or_else(|| path.display().to_string(), |p| p.display().to_string()),
                    line: None,
                    column: None,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
    }
    (files, problems)
}

/// Compiled rules, ready to scan with, and what could not be compiled.
pub struct Ruleset {
    /// One compiled set from the sources, plus one per precompiled file.
    pub(crate) compiled: Vec<yara_x::Rules>,
    /// Hex SHA-256 (first 16 digits) of every source and compiled file that went in, in order.
    version: String,
    /// The files that went in.
    files: Vec<String>,
    rule_count: usize,
    /// The score scale each file (namespace) declares with a `// hashscan: score_scale`
    /// line.
    scales: BTreeMap<String, ScoreScale>,
    /// Files left out, with why.
    pub problems: Vec<Problem>,
    /// What the compiler warned about in the files that went in (slow patterns, slow
    /// loops, invariant expressions …): they load, but deserve a look.
    pub warnings: Vec<Problem>,
    /// What the compiled-rules cache did.
    cache: CacheUse,
}

impl fmt::Debug for Ruleset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ruleset")
            .field("version", &self.version)
            .field("files", &self.files)
            .field("rule_count", &self.rule_count)
            .field("scales", &self.scales)
            .field("problems", &self.problems)
            .field("warnings", &self.warnings)
            .field("cache", &self.cache)
            .finish()
    }
}

impl Ruleset {
    /// Compiles `sources` (name, text) and loads `compiled` (name, bytes of `yr compile`
    /// output). A source that does not compile is left out whole and reported.
    pub fn compile(sources: &[(String, Vec<u8>)], compiled: &[(String, Vec<u8>)]) -> Ruleset {
        Ruleset::compile_named(sources, compiled, &BTreeMap::new())
    }

    /// [`compile`](Self::compile), with the names that go into the version instead of the
    /// namespaces (`names`: namespace → name relative to where the rules were configured;
    /// a namespace not in it stands for itself).
    pub fn compile_named(
        sources: &[(String, Vec<u8>)],
        compiled: &[(String, Vec<u8>)],
        names: &BTreeMap<String, String>,
    ) -> Ruleset {
        Ruleset::compile_cached(sources, compiled, names, None)
    }

    /// [`compile_named`](Self::compile_named), with the sources' compiled form taken from,
    /// or else stored in, the cache in `cache` (see [`crate::cache`]).
    pub fn compile_cached(
        sources: &[(String, Vec<u8>)],
        compiled: &[(String, Vec<u8>)],
        names: &BTreeMap<String, String>,
        cache: Option<&Path>,
    ) -> Ruleset {
        let version_name = |ns: &String| names.get(ns).unwrap_or(ns).clone();
        let (source_rules, outcome, cache_use) = match cache.filter(|_| !sources.is_empty()) {
            None => {
                let (rules, outcome) = compile_sources(sources);
                (rules, outcome, CacheUse::Off)
            }
            Some(dir) => match RuleCache::open(dir) {
                Err(why) => {
                    let (rules, outcome) = compile_sources(sources);
                    (rules, outcome, CacheUse::Unusable(why))
                }
                Ok(cache) => {
                    let key = RuleCache::key(sources);
                    match cache.get(&key) {
                        Some((rules, outcome)) => (rules, outcome, CacheUse::Loaded),
                        None => {
                            let (rules, outcome) = compile_sources(sources);
                            let used = match cache.put(&key, &rules, &outcome) {
                                Ok(()) => CacheUse::Stored,
                                Err(why) => CacheUse::Unusable(why),
                            };
                            (rules, outcome, used)
                        }
                    }
                }
            },
        };
        let Outcome {
            good,
            mut problems,
            warnings,
        } = outcome;
        let mut scales = BTreeMap::new();
        let mut hasher = Sha256::new();
        let mut files = Vec::new();
        for name in &good {
            let Some((_, text)) = sources.iter().find(|(n, _)| n == name) else {
                continue;
            };
            if let Ok(Some(scale)) = declared_scale(text) {
                // Part of what the file means: a changed scale is a new ruleset.
                hasher.update(scale.as_str().as_bytes());
                scales.insert(name.clone(), scale);
            }
            let relative = version_name(name);
            hasher.update((relative.len() as u64).to_le_bytes());
            hasher.update(relative.as_bytes());
            hasher.update((text.len() as u64).to_le_bytes());
            hasher.update(text);
            files.push(name.clone());
        }
        let mut sets = vec![source_rules];
        for (name, bytes) in compiled {
            match yara_x::Rules::deserialize(bytes) {
                Ok(rules) => {
                    let relative = version_name(name);
                    hasher.update((relative.len() as u64).to_le_bytes());
                    hasher.update(relative.as_bytes());
                    hasher.update(bytes);
                    files.push(name.clone());
                    sets.push(rules);
                }
                Err(e) => problems.push(Problem {
                    file: name.clone(),
                    line: None,
                    column: None,
                    message: format!("not a yara-x compiled rules file: {e}"),
                }),
            }
        }
        let rule_count = sets
            .iter()
            .map(yara_x::Rules::iter)
            .map(Iterator::count)
            .sum();
        let digest = hasher.finalize();
        Ruleset {
            compiled: sets,
            version: hex::encode(&digest[..8]),
            files,
            rule_count,
            scales,
            problems,
            warnings,
            cache: cache_use,
        }
    }

    /// What the compiled-rules cache did when these rules were loaded.
    pub fn cache_use(&self) -> &CacheUse {
        &self.cache
    }

    /// What a matching rule's metadata says, with the score scale its file declares
    /// (see [`RuleMeta::with_file_scale`]).
    pub fn meta_of(&self, rule: &yara_x::Rule<'_, '_>) -> RuleMeta {
        RuleMeta::with_file_scale(rule, self.scales.get(rule.namespace()).copied())
    }

    /// The score scale a file declares, if any.
    pub fn declared_scale(&self, file: &str) -> Option<ScoreScale> {
        self.scales.get(file).copied()
    }

    /// Hex digest of every rule source that went in: equal versions scan alike.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The compiled rules: one set from the sources, then one per precompiled file.
    pub fn compiled(&self) -> &[yara_x::Rules] {
        &self.compiled
    }

    /// Number of rules.
    pub fn rule_count(&self) -> usize {
        self.rule_count
    }

    /// The files compiled in (`builtin/...` for the embedded pack).
    pub fn files(&self) -> &[String] {
        &self.files
    }
}

/// A compile error as file, line, column and message.
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

/// Compiles `sources` (name, text), each in its own namespace; a source that does not
/// compile (or declares a bad score scale) is left out whole and reported.
fn compile_sources(sources: &[(String, Vec<u8>)]) -> (yara_x::Rules, Outcome) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut checked: Vec<&(String, Vec<u8>)> = Vec::new();
    for source in sources {
        if let Err((line, message)) = declared_scale(&source.1) {
            problems.push(Problem {
                file: source.0.clone(),
                line: Some(line),
                column: None,
                message,
            });
            continue;
        }
        // Checked alone first, so that a broken file is left out whole rather than in
        // part (yara-x would keep the rules of the file that did compile).
        let mut probe = yara_x::Compiler::new();
        probe.new_namespace(&source.0);
        let code = yara_x::SourceCode::from(source.1.as_slice()).with_origin(source.0.clone());
        match probe.add_source(code) {
            Ok(_) => {
                warnings.extend(
                    probe
                        .warnings()
                        .iter()
                        .map(|w| warning_of(&source.0, &source.1, w)),
                );
                checked.push(source);
            }
            Err(e) => problems.push(problem_of(&source.0, &source.1, &e)),
        }
    }
    let mut compiler = yara_x::Compiler::new();
    let mut good = Vec::new();
    for source in checked {
        compiler.new_namespace(&source.0);
        let code = yara_x::SourceCode::from(source.1.as_slice()).with_origin(source.0.clone());
        if let Err(e) = compiler.add_source(code) {
            // Alone it compiled; with the others it did not (a rule name clash in one
            // namespace cannot happen, but a global-variable clash could).
            problems.push(problem_of(&source.0, &source.1, &e));
            continue;
        }
        good.push(source.0.clone());
    }
    (
        compiler.build(),
        Outcome {
            good,
            problems,
            warnings,
        },
    )
}

fn problem_of(file: &str, text: &[u8], e: &yara_x::errors::CompileError) -> Problem {
    let first = e
        .labels()
        .next()
        .map(|l| (l.span().0.start as usize, l.text().to_string()));
    located(file, text, e.title(), first)
}

/// A compiler warning as file, line, column and message.
fn warning_of(file: &str, text: &[u8], w: &yara_x::warnings::Warning) -> Problem {
    let first = w
        .labels()
        .next()
        .map(|l| (l.span().0.start as usize, l.text().to_string()));
    located(file, text, w.title(), first)
}

/// File, line, column and message of a compiler report: its title and its first label
/// (offset in the source, text).
fn located(file: &str, text: &[u8], title: &str, first: Option<(usize, String)>) -> Problem {
    let (line, column) = line_col(text, first.as_ref().map_or(0, |(at, _)| *at));
    let mut message = title.to_string();
    if let Some((_, label)) = first
        && !label.is_empty()
        && label != message
    {
        message = format!("{message}: {label}");
    }
    Problem {
        file: file.to_string(),
        line: Some(line),
        column: Some(column),
        message,
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &[u8], offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, column)
}

/// Number of rules per namespace, for listing.
pub fn rules_by_file(set: &Ruleset) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for rules in &set.compiled {
        for rule in rules.iter() {
            *out.entry(rule.namespace().to_string()).or_insert(0) += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(name: &str, text: &str) -> (String, Vec<u8>) {
        (name.to_string(), text.as_bytes().to_vec())
    }

    #[test]
    fn a_broken_file_is_left_out_whole_and_located() {
        let set = Ruleset::compile(
            &[
                src("good.yar", "rule a { strings: $a = \"xyz\" condition: $a }"),
                src(
                    "bad.yar",
                    "rule fine { condition: true }\n\nrule b {\n  condition: $nope\n}\n",
                ),
            ],
            &[],
        );
        assert_eq!(set.rule_count(), 1, "the good file's rule only: {set:?}");
        assert_eq!(set.files(), ["good.yar"]);
        assert_eq!(set.problems.len(), 1);
        let p = &set.problems[0];
        assert_eq!(p.file, "bad.yar");
        assert_eq!(p.line, Some(4), "{p}");
        assert!(
            p.message.contains("$nope") || p.message.contains("unknown"),
            "{p}"
        );
    }

    #[test]
    fn the_version_follows_the_sources() {
        let a = Ruleset::compile(&[src("a.yar", "rule a { condition: true }")], &[]);
        let b = Ruleset::compile(&[src("a.yar", "rule a { condition: true }")], &[]);
        let c = Ruleset::compile(&[src("a.yar", "rule a { condition: false }")], &[]);
        assert_eq!(a.version(), b.version());
        assert_ne!(a.version(), c.version());
        assert_eq!(a.version().len(), 16);
    }

    #[test]
    fn the_same_rule_name_in_two_files_is_fine() {
        let set = Ruleset::compile(
            &[
                src("one.yar", "rule same { condition: true }"),
                src("two.yar", "rule same { condition: true }"),
            ],
            &[],
        );
        assert!(set.problems.is_empty(), "{:?}", set.problems);
        assert_eq!(set.rule_count(), 2);
    }

    #[test]
    fn compiled_rules_load_and_garbage_is_reported() {
        let mut c = yara_x::Compiler::new();
        c.add_source("rule pre { condition: true }").unwrap();
        let bytes = c.build().serialize().unwrap();
        let set = Ruleset::compile(
            &[],
            &[
                ("pre.yarc".into(), bytes),
                ("junk.yarc".into(), b"not rules".to_vec()),
            ],
        );
        assert_eq!(set.rule_count(), 1);
        assert_eq!(set.problems.len(), 1);
        assert_eq!(set.problems[0].file, "junk.yarc");
    }

    #[test]
    fn the_default_pack_compiles_cleanly() {
        let set = RuleConfig::with_default(vec![]).load();
        assert!(set.problems.is_empty(), "{:?}", set.problems);
        assert!(set.warnings.is_empty(), "{:?}", set.warnings);
        assert!(set.rule_count() >= 5, "{}", set.rule_count());
    }

    /// The metadata of the one rule matching `data`.
    fn meta_of_match(set: &Ruleset, data: &[u8]) -> RuleMeta {
        let mut scanner = yara_x::Scanner::new(&set.compiled()[0]);
        let results = scanner.scan(data).unwrap();
        let rules: Vec<_> = results.matching_rules().collect();
        assert_eq!(rules.len(), 1, "{data:?}");
        set.meta_of(&rules[0])
    }

    #[test]
    fn a_file_declares_its_score_scale_and_a_rule_may_override_it() {
        let set = Ruleset::compile(
            &[
                src(
                    "alibaba.yar",
                    "// hashscan: score_scale = alibaba\n\
                     rule a { meta: score = 80 strings: $a = \"aaa-marker\" condition: $a }\n\
                     rule b { meta: score = 80 score_scale = \"loki\" \
                       strings: $a = \"bbb-marker\" condition: $a }",
                ),
                src(
                    "thirdparty.yar",
                    "rule c { meta: score = 80 strings: $a = \"ccc-marker\" condition: $a }\n\
                     rule d { meta: score = 40 hashscan_verdict = \"clean\" \
                       strings: $a = \"ddd-marker\" condition: $a }\n\
                     rule WEBSHELL_Thing { meta: score = 50 \
                       strings: $a = \"eee-marker\" condition: $a }",
                ),
                src(
                    "broken_pragma.yar",
                    "\n// hashscan: score-scale = percent\nrule e { condition: true }",
                ),
            ],
            &[],
        );
        assert_eq!(set.problems.len(), 1, "{:?}", set.problems);
        assert_eq!(set.problems[0].file, "broken_pragma.yar");
        assert_eq!(set.problems[0].line, Some(2));
        assert_eq!(
            set.declared_scale("alibaba.yar"),
            Some(ScoreScale::Hashscan)
        );
        assert_eq!(set.declared_scale("thirdparty.yar"), None);

        let a = meta_of_match(&set, b"aaa-marker");
        assert_eq!((a.score, a.scale), (80, ScoreScale::Hashscan));
        let b = meta_of_match(&set, b"bbb-marker");
        assert_eq!((b.score, b.scale), (81, ScoreScale::Loki));
        let c = meta_of_match(&set, b"ccc-marker");
        assert_eq!(
            (c.score, c.scale),
            (81, ScoreScale::Loki),
            "third party: Loki"
        );
        let d = meta_of_match(&set, b"ddd-marker");
        assert_eq!(d.score, 40, "opted out: clean");
        let e = meta_of_match(&set, b"eee-marker");
        assert_eq!((e.score, e.threat_type), (61, ThreatType::WebShell));
    }

    #[test]
    fn compiler_warnings_are_reported_with_their_place() {
        let set = Ruleset::compile(
            &[src(
                "slow.yar",
                "rule slow {\n  strings:\n    $a = { 00 [1-10] 01 }\n  condition:\n    $a\n}\n",
            )],
            &[],
        );
        assert!(set.problems.is_empty(), "{:?}", set.problems);
        assert_eq!(set.rule_count(), 1, "a warning does not leave the file out");
        assert_eq!(set.warnings.len(), 1, "{:?}", set.warnings);
        assert_eq!(set.warnings[0].line, Some(3), "{}", set.warnings[0]);
        assert!(
            set.warnings[0].message.contains("slow"),
            "{}",
            set.warnings[0]
        );
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_col(b"ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx".as_bytes(), 0), (1, 1));
        assert_eq!(line_col("éa".as_bytes(), 2), (1, 2));
        assert_eq!(line_col(b"abc", 99), (1, 4));
    }
}

/// The compiled-rules cache as loads use it (`crate::cache`).
#[cfg(test)]
mod cache_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::collections::BTreeMap;

    use std::path::Path;

    use super::Ruleset;
    use crate::cache::{CacheUse, KEEP, RuleCache, SUFFIX};

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
