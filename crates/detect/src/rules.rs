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

use crate::verdict::ThreatType;

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
];

/// Score of a matching rule without a `score` metadata value: at the top of Alibaba's
/// "suspicious" band (71–80), below "malicious" (81–100), so an unscored rule alone never
/// calls a file malicious.
pub const DEFAULT_SCORE: u8 = 80;

/// File extensions read as YARA source.
const SOURCE_EXTENSIONS: &[&str] = &["yar", "yara"];
/// File extensions read as yara-x compiled rules (`yr compile` output).
const COMPILED_EXTENSIONS: &[&str] = &["yarc"];

/// A rule file that did not compile, or could not be read.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
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
    /// 0–100; [`DEFAULT_SCORE`] when the rule has none.
    pub score: u8,
    /// [`ThreatType::Suspicious`] when the rule has none or an unknown one.
    pub threat_type: ThreatType,
    /// The rule's `description`, or its name.
    pub description: String,
}

impl RuleMeta {
    /// Reads `score`, `threat_type` and `description` of a matching rule.
    pub fn of(rule: &yara_x::Rule<'_, '_>) -> RuleMeta {
        let mut meta = RuleMeta {
            score: DEFAULT_SCORE,
            threat_type: ThreatType::Suspicious,
            description: rule.identifier().to_string(),
        };
        for (key, value) in rule.metadata() {
            match (key, value) {
                ("score", yara_x::MetaValue::Integer(n)) => meta.score = n.clamp(0, 100) as u8,
                ("score", yara_x::MetaValue::String(s)) => {
                    if let Ok(n) = s.trim().parse::<i64>() {
                        meta.score = n.clamp(0, 100) as u8;
                    }
                }
                ("threat_type", yara_x::MetaValue::String(s)) => {
                    meta.threat_type = ThreatType::parse(s).unwrap_or(ThreatType::Suspicious);
                }
                ("description", yara_x::MetaValue::String(s)) if !s.trim().is_empty() => {
                    meta.description = s.to_string();
                }
                _ => {}
            }
        }
        meta
    }
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
        for file in rule_files(&self.paths).0 {
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
        let mut sources = Vec::new();
        let mut compiled = Vec::new();
        let (files, mut problems) = rule_files(&self.paths);
        if self.default_pack {
            sources.extend(
                DEFAULT_PACK
                    .iter()
                    .map(|(name, text)| (name.to_string(), text.as_bytes().to_vec())),
            );
        }
        for file in files {
            let name = file.display().to_string();
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
        let mut set = Ruleset::compile(&sources, &compiled);
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

/// The rule files under `paths`, sorted within each directory, and the paths that could not
/// be read.
fn rule_files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for path in paths {
        if path.is_file() {
            files.push(path.clone());
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
                    files.push(e.into_path());
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
    /// Files left out, with why.
    pub problems: Vec<Problem>,
}

impl fmt::Debug for Ruleset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ruleset")
            .field("version", &self.version)
            .field("files", &self.files)
            .field("rule_count", &self.rule_count)
            .field("problems", &self.problems)
            .finish()
    }
}

impl Ruleset {
    /// Compiles `sources` (name, text) and loads `compiled` (name, bytes of `yr compile`
    /// output). A source that does not compile is left out whole and reported.
    pub fn compile(sources: &[(String, Vec<u8>)], compiled: &[(String, Vec<u8>)]) -> Ruleset {
        let mut problems = Vec::new();
        let mut good: Vec<&(String, Vec<u8>)> = Vec::new();
        for source in sources {
            // Checked alone first, so that a broken file is left out whole rather than in
            // part (yara-x would keep the rules of the file that did compile).
            let mut probe = yara_x::Compiler::new();
            probe.new_namespace(&source.0);
            let code = yara_x::SourceCode::from(source.1.as_slice()).with_origin(source.0.clone());
            match probe.add_source(code) {
                Ok(_) => good.push(source),
                Err(e) => problems.push(problem_of(&source.0, &source.1, &e)),
            }
        }
        let mut compiler = yara_x::Compiler::new();
        let mut hasher = Sha256::new();
        let mut files = Vec::new();
        for source in &good {
            compiler.new_namespace(&source.0);
            let code = yara_x::SourceCode::from(source.1.as_slice()).with_origin(source.0.clone());
            if let Err(e) = compiler.add_source(code) {
                // Alone it compiled; with the others it did not (a rule name clash in one
                // namespace cannot happen, but a global-variable clash could).
                problems.push(problem_of(&source.0, &source.1, &e));
                continue;
            }
            hasher.update((source.0.len() as u64).to_le_bytes());
            hasher.update(source.0.as_bytes());
            hasher.update((source.1.len() as u64).to_le_bytes());
            hasher.update(&source.1);
            files.push(source.0.clone());
        }
        let mut sets = vec![compiler.build()];
        for (name, bytes) in compiled {
            match yara_x::Rules::deserialize(bytes) {
                Ok(rules) => {
                    hasher.update((name.len() as u64).to_le_bytes());
                    hasher.update(name.as_bytes());
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
            problems,
        }
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
fn problem_of(file: &str, text: &[u8], e: &yara_x::errors::CompileError) -> Problem {
    let offset = e
        .labels()
        .next()
        .map(|l| l.span().0.start as usize)
        .unwrap_or(0);
    let (line, column) = line_col(text, offset);
    let mut message = e.title().to_string();
    if let Some(label) = e.labels().next()
        && !label.text().is_empty()
        && label.text() != message
    {
        message = format!("{message}: {}", label.text());
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
        assert!(set.rule_count() >= 5, "{}", set.rule_count());
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_col(b"ab\ncd", 4), (2, 2));
        assert_eq!(line_col("é\nx".as_bytes(), 0), (1, 1));
        assert_eq!(line_col("éa".as_bytes(), 2), (1, 2));
        assert_eq!(line_col(b"abc", 99), (1, 4));
    }
}
