//! The layering rules of docs/architecture.md, checked on the source: dialects hold no SQL,
//! file I/O or hashing of their own and never import another dialect, and no source file
//! imports a file that imports it back (directly or around a loop).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const DIALECTS: [&str; 4] = ["cos", "aliyun", "volc", "native"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, as (module path, text): `core/workers.rs` → `core::workers`.
fn sources(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(dir).unwrap().with_extension("");
                let mut parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if parts.last().is_some_and(|p| p == "mod") {
                    parts.pop();
                }
                let module = parts.join("::");
                out.insert(module, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

/// The code of a file: without its `#[cfg(test)]` module (tests may reach anywhere) and
/// without comments (a doc link is not an import).
fn code_of(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    // The test module: `#[cfg(test)]`, maybe more attributes, then `mod …`.
    let end = (0..lines.len())
        .find(|&i| {
            lines[i] == "#[cfg(test)]"
                && lines[i + 1..]
                    .iter()
                    .find(|l| !l.starts_with("#["))
                    .is_some_and(|l| l.starts_with("mod "))
        })
        .unwrap_or(lines.len());
    lines[..end]
        .iter()
        .filter(|l| !l.trim_start().starts_with("//"))
        .copied()
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn dialects_hold_no_storage_or_file_io_and_import_no_other_dialect() {
    let files = sources(&src());
    let forbidden = ["rusqlite", "sqlx", "std::fs", "tokio::fs", "Hasher::"];
    for (module, text) in &files {
        let text = code_of(text);
        let Some(dialect) = DIALECTS
            .iter()
            .find(|d| module.split("::").next() == Some(**d))
        else {
            continue;
        };
        for word in forbidden {
            assert!(
                !text.contains(word),
                "{module} (a dialect) uses {word}: storage, files and hashing belong to the core"
            );
        }
        for other in DIALECTS.iter().filter(|o| *o != dialect) {
            assert!(
                !text.contains(&format!("crate::{other}::")),
                "{module} imports the {other} dialect"
            );
        }
    }
}

/// The module a `crate::a::b::c` path names: its longest prefix that is a file.
fn resolve(path: &[&str], modules: &BTreeSet<String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| modules.contains(m))
}

/// The modules each module imports (`crate::…` and `super::…` paths), tests left out.
fn imports(files: &BTreeMap<String, String>) -> BTreeMap<String, BTreeSet<String>> {
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, text) in files {
        let code = code_of(text);
        let text = code.as_str();
        let mut targets = BTreeSet::new();
        // `super` of `a::b` (a/b.rs) and of `a::b` (a/b/mod.rs) alike is `a`.
        let mut parent: Vec<&str> = module.split("::").filter(|s| !s.is_empty()).collect();
        parent.pop();
        for (prefix, base) in [("crate::", Vec::new()), ("super::", parent.clone())] {
            let mut rest = text;
            while let Some(i) = rest.find(prefix) {
                let after = &rest[i + prefix.len()..];
                let tail: String = after
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let mut path: Vec<&str> = base.clone();
                path.extend(tail.split("::").filter(|s| !s.is_empty()));
                if let Some(target) = resolve(&path, &modules)
                    && &target != module
                    && !target.is_empty()
                {
                    targets.insert(target);
                }
                rest = &after[tail.len().min(after.len())..];
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

#[test]
fn no_file_imports_a_file_that_imports_it_back() {
    let files = sources(&src());
    let graph = imports(&files);
    // Depth-first search for a back edge; report the loop.
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(node.to_string(), 1);
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            match state.get(next.as_str()).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|n| n == next).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(node.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for node in graph.keys().filter(|m| !m.is_empty()) {
        if state.get(node.as_str()).copied().unwrap_or(0) == 0 {
            let mut stack = Vec::new();
            if let Some(cycle) = visit(node, &graph, &mut state, &mut stack) {
                panic!("import cycle: {}", cycle.join(" -> "));
            }
        }
    }
    // The check sees imports at all: the core is imported by the dialects.
    assert!(graph["cos::file_jobs"].contains("core::hash_jobs"));
}
