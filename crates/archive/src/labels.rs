//! File-type labels from content: magic numbers, and cheap text heuristics on the first KiB.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::LazyLock;

use aho_corasick::AhoCorasick;

use crate::{Format, Report, sniff};

/// Extra label of an archive with encrypted members (added by [`labels_with_report`]).
pub const ENCRYPTED_LABEL: &str = "encrypted";

/// How much of the data the text heuristics look at.
const TEXT_WINDOW: usize = 8 << 10;

/// Labels for `data`, from its content alone, most specific first, without duplicates.
///
/// * Executables: `PE32` / `PE32+` (with `DLL` or `EXE`, and `.NET` for a CLR header), `ELF`,
///   `Mach-O`, `JavaClass`.
/// * Archives and compression, in Alibaba Cloud FileLabel's words: `Zip`, `RAR`, `7-Zip`,
///   `XAR`, `ZLib`, `GZip`, `tar`, plus `BZip2`, `XZ`; a zip that holds `AndroidManifest.xml`
///   also gets `APK`, one with `META-INF/MANIFEST.MF` `JAR`.
/// * Documents: `PDF`, `OLE2` (legacy MS Office, MSI).
/// * Scripts, from the first 8 KiB: `PHP`, `JSP`, `ASP`, `ASPX`, `Shell`, `Python`, `Perl`,
///   `PowerShell`, `JavaScript`, `HTML`. A script label may come with a binary one
///   (a GIF with `<?php` inside is a PHP web shell).
///
/// `encrypted` needs a walk: see [`labels_with_report`].
#[must_use]
pub fn labels(data: &[u8]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    let mut add = |label: &'static str| {
        if !out.contains(&label) {
            out.push(label);
        }
    };
    binary_labels(data, &mut add);
    script_labels(data.get(..TEXT_WINDOW).unwrap_or(data), &mut add);
    out
}

/// [`labels`] plus the walk's archive format when the first bytes did not show it (a zip behind
/// a prefix, such as a self-extractor), and `encrypted` when `report` (a [`crate::walk`] of the
/// same data) met an encrypted member or an archive with an encrypted directory.
#[must_use]
pub fn labels_with_report(data: &[u8], report: &Report) -> Vec<&'static str> {
    let mut out = labels(data);
    if let Some(format) = report.format
        && !out.contains(&format.label())
    {
        out.push(format.label());
    }
    if !report.encrypted.is_empty() && !out.contains(&ENCRYPTED_LABEL) {
        out.push(ENCRYPTED_LABEL);
    }
    out
}

fn binary_labels(data: &[u8], add: &mut dyn FnMut(&'static str)) {
    if let Some(format) = sniff(data) {
        add(format.label());
        if format == Format::Zip {
            zip_kind(data, add);
        }
    }
    if data.starts_with(b"MZ") {
        pe(data, add);
    }
    if data.starts_with(b"\x7FELF") {
        add("ELF");
    }
    if let Some(magic) = data.get(..4) {
        match magic {
            b"\xFE\xED\xFA\xCE" | b"\xFE\xED\xFA\xCF" | b"\xCE\xFA\xED\xFE"
            | b"\xCF\xFA\xED\xFE" => {
                add("Mach-O");
            }
            b"\xCA\xFE\xBA\xBE" => {
                // Universal (fat) Mach-O and Java class files share the magic; a class file's
                // major version (>= 45) sits where a fat header counts its architectures.
                let n = data
                    .get(4..8)
                    .map_or(0, |b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
                if (1..=30).contains(&n) {
                    add("Mach-O");
                } else if n >= 45 {
                    add("JavaClass");
                }
            }
            b"xar!" => add("XAR"),
            _ => {}
        }
    }
    if data.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        add("OLE2");
    }
    if find(data.get(..1024).unwrap_or(data), b"%PDF-").is_some() {
        add("PDF");
    }
    if is_zlib(data) {
        add("ZLib");
    }
}

/// APK or JAR from the zip's member names (central directory only).
fn zip_kind(data: &[u8], add: &mut dyn FnMut(&'static str)) {
    let Ok(archive) = zip::ZipArchive::new(Cursor::new(data)) else {
        return;
    };
    if archive.index_for_name("AndroidManifest.xml").is_some() {
        add("APK");
    }
    if archive.index_for_name("META-INF/MANIFEST.MF").is_some() {
        add("JAR");
    }
}

fn pe(data: &[u8], add: &mut dyn FnMut(&'static str)) {
    let le16 = |at: usize| {
        data.get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let le32 = |at: usize| {
        data.get(at..at + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let Some(pe) = le32(0x3C).and_then(|o| usize::try_from(o).ok()) else {
        return;
    };
    if data.get(pe..pe.saturating_add(4)) != Some(b"PE\0\0") {
        return;
    }
    let coff = pe + 4;
    let characteristics = le16(coff + 18).unwrap_or(0);
    let optional = coff + 20;
    let (label, dirs) = match le16(optional) {
        Some(0x10B) => ("PE32", optional + 96),
        Some(0x20B) => ("PE32+", optional + 112),
        _ => return,
    };
    add(label);
    if characteristics & 0x2000 != 0 {
        add("DLL");
    } else if characteristics & 0x0002 != 0 {
        add("EXE");
    }
    // Data directory 14: the CLR runtime header of a .NET assembly.
    let count = le32(optional + if label == "PE32" { 92 } else { 108 }).unwrap_or(0);
    if count > 14 && le32(dirs + 14 * 8).is_some_and(|rva| rva != 0) {
        add(".NET");
    }
}

/// A zlib stream (RFC 1950): deflate method, a window of at most 32 KiB, a valid header check,
/// no preset dictionary, and a first block that inflates.
fn is_zlib(data: &[u8]) -> bool {
    let [cmf, flg, ..] = *data else {
        return false;
    };
    if cmf & 0x0F != 8 || cmf >> 4 > 7 || flg & 0x20 != 0 {
        return false;
    }
    if (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0 {
        return false;
    }
    let mut inflater = flate2::Decompress::new(true);
    let mut out = [0u8; 256];
    let input = data.get(..4096).unwrap_or(data);
    match inflater.decompress(input, &mut out, flate2::FlushDecompress::None) {
        Ok(_) => inflater.total_out() > 0 || inflater.total_in() == input.len() as u64,
        Err(_) => false,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

/// Every string the script heuristics look for (lower case), found in one pass over the text
/// ([`Found`]) instead of one search each.
const NEEDLES: &[&str] = &[
    "$_",
    "$env:",
    "$psversiontable",
    "%>",
    "-encodedcommand",
    "-erroraction",
    "<!doctype html",
    "<%",
    "<%!",
    "</script>",
    "<?=",
    "<?php",
    "<body",
    "<head>",
    "<html",
    "<jsp:",
    "<script",
    "=>",
    "=~ s/",
    "[cmdletbinding",
    "[system.convert]::",
    "class.forname",
    "console.log(",
    "const ",
    "createobject(",
    "def ",
    "dim ",
    "document.",
    "end if",
    "eval(",
    "execute(",
    "executeglobal",
    "foreach-object",
    "from __future__",
    "fromcharcode",
    "function ",
    "function(",
    "get-childitem",
    "getoutputstream",
    "iex(new-object",
    "if __name__ == ",
    "import base64",
    "import os",
    "import sys",
    "invoke-expression",
    "invoke-webrequest",
    "java.io.",
    "java.util.",
    "language=\"c#\"",
    "let ",
    "module.exports",
    "my $",
    "my @",
    "new java.",
    "new-object ",
    "on error resume next",
    "out.print(",
    "out.println",
    "param(",
    "print(",
    "process.start",
    "processbuilder",
    "processstartinfo",
    "request(\"",
    "request.form(",
    "request.form[",
    "request.getparameter",
    "request.querystring(",
    "request.querystring[",
    "request[\"",
    "require(",
    "response.write ",
    "response.write(",
    "runat=\"server\"",
    "runtime.getruntime",
    "server.createobject",
    "set-executionpolicy",
    "string ",
    "sub ",
    "system.diagnostics",
    "system.io",
    "use strict;",
    "use warnings;",
    "var ",
    "vbscript",
    "void page_load",
    "window.",
    "write-host",
    "wscript.shell",
];

static FINDER: LazyLock<Option<(AhoCorasick, HashMap<&'static str, usize>)>> =
    LazyLock::new(|| {
        let automaton = AhoCorasick::new(NEEDLES).ok()?;
        let index = NEEDLES.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        Some((automaton, index))
    });

/// Which of [`NEEDLES`] a (lower-cased) text holds.
struct Found<'t> {
    text: &'t [u8],
    seen: Vec<bool>,
}

impl<'t> Found<'t> {
    fn of(text: &'t [u8]) -> Found<'t> {
        let mut seen = vec![false; NEEDLES.len()];
        if let Some((automaton, _)) = FINDER.as_ref() {
            for m in automaton.find_overlapping_iter(text) {
                seen[m.pattern().as_usize()] = true;
            }
        }
        Found { text, seen }
    }

    fn has(&self, needle: &str) -> bool {
        match FINDER.as_ref().and_then(|(_, index)| index.get(needle)) {
            Some(&i) => self.seen[i],
            None => {
                debug_assert!(false, "{needle:?} is not in NEEDLES");
                find(self.text, needle.as_bytes()).is_some()
            }
        }
    }
}

fn script_labels(head: &[u8], add: &mut dyn FnMut(&'static str)) {
    let text: Vec<u8> = head.to_ascii_lowercase();
    let found = Found::of(&text);
    let has = |needle: &str| found.has(needle);
    let count = |needles: &[&str]| needles.iter().filter(|n| has(n)).count();

    if has("<?php") || has("<?=") {
        add("PHP");
    }

    let shebang = shebang_interpreter(&text);
    server_pages(&text, &found, add);

    let shell = matches!(
        shebang.as_deref(),
        Some("sh" | "bash" | "zsh" | "dash" | "ksh" | "ash" | "busybox")
    );
    if shell {
        add("Shell");
    }
    let python = shebang.as_deref().is_some_and(|s| s.starts_with("python"))
        || count(&[
            "import os",
            "import sys",
            "from __future__",
            "def ",
            "if __name__ == ",
            "import base64",
            "print(",
        ]) >= 3;
    if python {
        add("Python");
    }
    let perl = shebang.as_deref().is_some_and(|s| s.starts_with("perl"))
        || count(&[
            "use strict;",
            "use warnings;",
            "my $",
            "my @",
            "sub ",
            "=~ s/",
            "$_",
        ]) >= 3;
    if perl {
        add("Perl");
    }
    let powershell = shebang
        .as_deref()
        .is_some_and(|s| s.starts_with("pwsh") || s.starts_with("powershell"))
        || has("invoke-expression")
        || has("iex(new-object")
        || has("-encodedcommand")
        || count(&[
            "param(",
            "$psversiontable",
            "new-object ",
            "write-host",
            "set-executionpolicy",
            "[system.convert]::",
            "get-childitem",
            "$env:",
            "-erroraction",
            "[cmdletbinding",
            "foreach-object",
            "invoke-webrequest",
        ]) >= 2;
    if powershell {
        add("PowerShell");
    }
    let html = has("<!doctype html")
        || has("<html")
        || has("<body")
        || has("<head>")
        || (has("<script") && has("</script>"));
    if html {
        add("HTML");
    }
    let js = shebang.as_deref().is_some_and(|s| s.starts_with("node"))
        || (!html
            && shebang.is_none()
            && count(&[
                "function(",
                "function ",
                "var ",
                "let ",
                "const ",
                "document.",
                "window.",
                "=>",
                "require(",
                "module.exports",
                "console.log(",
                "fromcharcode",
                "eval(",
            ]) >= 3
            && !has("<?php")
            && !has("<%"));
    if js {
        add("JavaScript");
    }
}

/// The interpreter named by a `#!` line: `#!/bin/bash` → `bash`, `#!/usr/bin/env python3` →
/// `python3`.
fn shebang_interpreter(text: &[u8]) -> Option<String> {
    let rest = text.strip_prefix(b"#!")?;
    let line = rest.split(|&b| b == b'\n').next().unwrap_or(rest);
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let program = words.next()?;
    let mut name = program.rsplit('/').next().unwrap_or(program);
    if name == "env" {
        name = words.find(|w| !w.starts_with('-'))?;
    }
    Some(name.to_owned())
}

/// JSP, ASP and ASPX from page directives and the code in `<% %>` blocks.
fn server_pages(text: &[u8], found: &Found<'_>, add: &mut dyn FnMut(&'static str)) {
    let has = |needle: &str| found.has(needle);
    let count = |needles: &[&str]| needles.iter().filter(|n| has(n)).count();

    // Directive attributes, spaces removed: `<%@ Page Language="C#" %>` → `pagelanguage="c#"`.
    let mut directives: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(at) = find(rest, b"<%@") {
        let after = &rest[at + 3..];
        let end = find(after, b"%>").unwrap_or(after.len().min(512));
        let squeezed: String = String::from_utf8_lossy(&after[..end])
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        directives.push(squeezed);
        rest = &after[end..];
        if directives.len() >= 32 {
            break;
        }
    }
    let directive = |needle: &str| directives.iter().any(|d| d.contains(needle));

    let java = [
        "request.getparameter",
        "runtime.getruntime",
        "processbuilder",
        "java.io.",
        "java.util.",
        "out.println",
        "out.print(",
        "class.forname",
        "new java.",
        "getoutputstream",
        "string ",
    ];
    let vbscript = [
        "server.createobject",
        "createobject(",
        "response.write ",
        "request.form(",
        "request.querystring(",
        "request(\"",
        "dim ",
        "execute(",
        "executeglobal",
        "wscript.shell",
        "on error resume next",
        "end if",
    ];
    let csharp = [
        "system.diagnostics",
        "process.start",
        "request.form[",
        "request[\"",
        "request.querystring[",
        "response.write(",
        "processstartinfo",
        "system.io",
        "void page_load",
        "string ",
    ];

    let aspx_directive = directive("language=\"c#\"")
        || directive("language=c#")
        || directive("language=\"vb\"")
        || directive("language=\"jscript\"")
        || directive("inherits=")
        || directive("codebehind=")
        || directive("codefile=")
        || directive("autoeventwireup")
        || directive("importnamespace=")
        || directives.iter().any(|d| {
            d.starts_with("webhandler")
                || d.starts_with("webservice")
                || d.starts_with("control")
                || d.starts_with("assembly")
        });
    let asp_directive = directives
        .iter()
        .any(|d| d.starts_with("language=") && (d.contains("vbscript") || d.contains("jscript")))
        || directive("codepage=") && !aspx_directive && !directive("page");
    let jsp_directive = directive("language=\"java\"")
        || directive("import=\"java")
        || directive("pageencoding=")
        || directives
            .iter()
            .any(|d| d.starts_with("taglib") || d.starts_with("include") && d.contains("file="))
        || directives
            .iter()
            .any(|d| d.starts_with("page") && d.contains("contenttype=") && !aspx_directive);

    let code = has("<%") && has("%>");
    let jsp = jsp_directive
        || has("<jsp:")
        || (has("<%!") && count(&java) >= 1)
        || (code && !aspx_directive && !asp_directive && count(&java) >= 2);
    let aspx = aspx_directive
        || (has("runat=\"server\"") && (has("language=\"c#\"") || count(&csharp) >= 2))
        || (code
            && !jsp
            && !asp_directive
            && count(&csharp) >= 2
            && count(&csharp) > count(&vbscript));
    let asp = asp_directive
        || (has("runat=\"server\"") && has("vbscript"))
        || (code && !jsp && !aspx && count(&vbscript) >= 2);
    if jsp {
        add("JSP");
    }
    if aspx {
        add("ASPX");
    }
    if asp {
        add("ASP");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shebangs() {
        assert_eq!(
            shebang_interpreter(b"#!/bin/bash\necho").as_deref(),
            Some("bash")
        );
        assert_eq!(
            shebang_interpreter(b"#!/usr/bin/env -S python3 -u\n").as_deref(),
            Some("python3")
        );
        assert_eq!(shebang_interpreter(b"#!").as_deref(), None);
        assert_eq!(shebang_interpreter(b"echo"), None);
    }

    /// Every string the heuristics ask `has` for, or count, is one the single pass looks for
    /// (read from this file's own source, so a new string cannot be forgotten).
    #[test]
    fn every_string_the_heuristics_use_is_searched_for() {
        let source = include_str!("labels.rs");
        let start = source.find("fn script_labels").unwrap();
        let end = source.find("#[cfg(test)]").unwrap();
        let code = &source[start..end];
        // The string literals from the start of `from` up to `stop` outside a literal.
        let literals = |from: &str, stop: u8| -> Vec<String> {
            let (mut out, mut current, mut inside) = (Vec::new(), Vec::new(), false);
            let mut bytes = from.bytes();
            while let Some(b) = bytes.next() {
                match (inside, b) {
                    (true, b'\\') => current.push(bytes.next().unwrap()),
                    (true, b'"') => {
                        out.push(String::from_utf8(std::mem::take(&mut current)).unwrap());
                        inside = false;
                    }
                    (true, _) => current.push(b),
                    (false, b'"') => inside = true,
                    (false, b) if b == stop => break,
                    _ => {}
                }
            }
            out
        };
        let mut used = Vec::new();
        for (opener, stop) in [
            ("has(", b')'),
            ("count(&[", b']'),
            ("let java = [", b']'),
            ("let vbscript = [", b']'),
            ("let csharp = [", b']'),
        ] {
            let mut rest = code;
            while let Some(at) = rest.find(opener) {
                rest = &rest[at + opener.len()..];
                used.extend(literals(rest, stop));
            }
        }
        assert!(used.len() > 80, "{used:?}");
        for needle in &used {
            assert!(
                NEEDLES.contains(&needle.as_str()),
                "{needle:?} is not in NEEDLES"
            );
        }
    }

    #[test]
    fn zlib() {
        use std::io::Write;
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"hello hello hello hello").unwrap();
        let z = e.finish().unwrap();
        assert!(is_zlib(&z));
        assert!(!is_zlib(b"x^ hello this is text"));
        assert!(!is_zlib(b"x"));
    }
}
