//! `hashscan hash --check FILE`: verifies a checksum list written by md5sum/sha*sum (GNU
//! lines `<hex>  <path>`), by their `--tag` option or BSD tools (`SHA256 (path) = <hex>`), or
//! by `hashscan hash` in either format, and reports as `sha256sum -c` does.
//!
//! Each listed file is read once, whatever the number of lines and algorithms naming it.

use std::collections::HashMap;
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use hashscan_digest::{Algorithm, AlgorithmSet, Digests};
use rayon::prelude::*;

use super::format::{NeedsEscape, escape_name, unescape_name};
use super::{LANES_MIN_SIZE, PROG, algorithm_for_hex_len, describe, hash_path, report, shown};

/// How `--check` behaves.
pub struct CheckOptions {
    /// Algorithms named with `-a`: bare digests are taken to be one of these.
    pub explicit: Option<AlgorithmSet>,
    /// Don't print `OK` lines.
    pub quiet: bool,
    /// Print nothing on stdout and no summary.
    pub status: bool,
    /// Files that do not exist are neither failures nor reported.
    pub ignore_missing: bool,
    /// Show a progress bar.
    pub progress: bool,
}

/// One well-formed line of a checksum list.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    /// The path as written (unescaped), as raw bytes.
    pub name: Vec<u8>,
    pub algorithm: Algorithm,
    /// Lower-case hex.
    pub expected: String,
}

/// Checks every list; true when everything listed matched.
pub fn run(lists: &[PathBuf], options: &CheckOptions) -> bool {
    let mut ok = true;
    for list in lists {
        ok &= check_list(list, options);
    }
    ok
}

fn check_list(list: &Path, options: &CheckOptions) -> bool {
    let list_name = shown(list.as_os_str()).into_owned();
    let text = match read_list(list) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("{PROG}: {list_name}: {}", describe(&e));
            return false;
        }
    };
    let mut entries = Vec::new();
    let mut malformed = 0usize;
    for line in text.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() || line.starts_with(b"#") {
            continue;
        }
        match parse_line(line, options.explicit) {
            Some(entry) => entries.push(entry),
            None => malformed += 1,
        }
    }
    if entries.is_empty() {
        eprintln!("{PROG}: {list_name}: no properly formatted checksum lines found");
        return false;
    }

    // Each distinct path once, with every algorithm its lines ask for.
    let mut order: Vec<(&[u8], AlgorithmSet)> = Vec::new();
    let mut index: HashMap<&[u8], usize> = HashMap::new();
    for e in &entries {
        let i = *index.entry(&e.name).or_insert_with(|| {
            order.push((&e.name, AlgorithmSet::EMPTY));
            order.len() - 1
        });
        order[i].1.insert(e.algorithm);
    }
    let total: u64 = order
        .iter()
        .filter_map(|(name, _)| fs::metadata(path_of(name)).ok())
        .map(|m| m.len())
        .sum();
    let bar = super::progress_bar(options.progress, total);
    let single = order.len() == 1;
    // Every result is kept: the lines follow the list's order, not the hashing order.
    let results: Vec<io::Result<Digests>> = order
        .par_iter()
        .map(|(name, set)| {
            let path = path_of(name);
            let size = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            hash_path(&path, size, *set, single || size >= LANES_MIN_SIZE, &bar)
        })
        .collect();
    bar.finish_and_clear();

    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let (mut mismatched, mut unreadable, mut verified) = (0usize, 0usize, 0usize);
    for e in &entries {
        let result = &results[index[e.name.as_slice()]];
        let verdict: &[u8] = match result {
            Err(err) if options.ignore_missing && err.kind() == io::ErrorKind::NotFound => continue,
            Err(err) => {
                let line = format!("{}: {}", shown(path_of(&e.name).as_os_str()), describe(err));
                report(&mut out, &bar, &line);
                unreadable += 1;
                b"FAILED open or read"
            }
            Ok(d) => {
                verified += 1;
                if d.get(e.algorithm).is_some_and(|x| x.to_hex() == e.expected) {
                    if options.quiet {
                        continue;
                    }
                    b"OK"
                } else {
                    mismatched += 1;
                    b"FAILED"
                }
            }
        };
        if !options.status {
            let (prefix, name) = escape_name(&e.name, NeedsEscape::CheckResult);
            let written = out
                .write_all(prefix)
                .and_then(|()| out.write_all(&name))
                .and_then(|()| out.write_all(b": "))
                .and_then(|()| out.write_all(verdict))
                .and_then(|()| out.write_all(b"\n"));
            if written.is_err() {
                return false;
            }
        }
    }
    let _ = out.flush();
    drop(out);

    if !options.status {
        warn(
            malformed,
            "line is improperly formatted",
            "lines are improperly formatted",
        );
        warn(
            unreadable,
            "listed file could not be read",
            "listed files could not be read",
        );
        warn(
            mismatched,
            "computed checksum did NOT match",
            "computed checksums did NOT match",
        );
    }
    if options.ignore_missing && verified == 0 {
        eprintln!("{PROG}: {list_name}: no file was verified");
        return false;
    }
    mismatched == 0 && unreadable == 0
}

fn warn(n: usize, one: &str, many: &str) {
    match n {
        0 => {}
        1 => eprintln!("{PROG}: WARNING: 1 {one}"),
        n => eprintln!("{PROG}: WARNING: {n} {many}"),
    }
}

fn read_list(list: &Path) -> io::Result<Vec<u8>> {
    let mut text = Vec::new();
    if list.as_os_str() == "-" {
        io::stdin().lock().read_to_end(&mut text)?;
    } else {
        fs::File::open(list)?.read_to_end(&mut text)?;
    }
    Ok(text)
}

fn path_of(name: &[u8]) -> PathBuf {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        PathBuf::from(std::ffi::OsStr::from_bytes(name))
    }
    #[cfg(not(unix))]
    {
        PathBuf::from(String::from_utf8_lossy(name).into_owned())
    }
}

/// Parses one line: BSD (`TAG (name) = hex`) or GNU (`hex  name`, `hex *name`), either
/// possibly escaped (a leading backslash). `None` when the line is not well formed.
pub fn parse_line(line: &[u8], explicit: Option<AlgorithmSet>) -> Option<Entry> {
    let (escaped, line) = match line.strip_prefix(b"\\") {
        Some(rest) => (true, rest),
        None => (false, line),
    };
    let (name, algorithm, hex) = parse_bsd(line).or_else(|| parse_gnu(line, explicit))?;
    if name.is_empty() || hex.len() != algorithm.output_len() * 2 {
        return None;
    }
    if !hex.iter().all(u8::is_ascii_hexdigit) {
        return None;
    }
    let name = if escaped {
        unescape_name(name)?
    } else {
        name.to_vec()
    };
    Some(Entry {
        name,
        algorithm,
        expected: String::from_utf8_lossy(hex).to_ascii_lowercase(),
    })
}

fn parse_bsd(line: &[u8]) -> Option<(&[u8], Algorithm, &[u8])> {
    let open = find(line, b" (")?;
    let tag = std::str::from_utf8(&line[..open]).ok()?;
    if tag.is_empty() || !tag.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return None;
    }
    let algorithm: Algorithm = tag.parse().ok()?;
    let rest = &line[open + 2..];
    let close = rfind(rest, b") = ")?;
    Some((&rest[..close], algorithm, &rest[close + 4..]))
}

fn parse_gnu(line: &[u8], explicit: Option<AlgorithmSet>) -> Option<(&[u8], Algorithm, &[u8])> {
    let hex_len = line.iter().take_while(|b| b.is_ascii_hexdigit()).count();
    let algorithm = algorithm_for_hex_len(hex_len, explicit)?;
    let rest = &line[hex_len..];
    let rest = match rest.first() {
        Some(b' ' | b'\t') => &rest[1..],
        _ => return None,
    };
    let name = match rest.first() {
        Some(b' ' | b'*') => &rest[1..],
        _ => rest,
    };
    Some((name, algorithm, &line[..hex_len]))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn rfind(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).rposition(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD5_EMPTY: &str = "d41d8cd98f00b204e9800998ecf8427e";

    #[test]
    fn gnu_lines() {
        let e = parse_line(format!("{MD5_EMPTY}  a b.txt").as_bytes(), None).unwrap();
        assert_eq!(e.name, b"a b.txt");
        assert_eq!(e.algorithm, Algorithm::Md5);
        let e = parse_line(
            format!("{} *bin", MD5_EMPTY.to_uppercase()).as_bytes(),
            None,
        )
        .unwrap();
        assert_eq!(e.name, b"bin");
        assert_eq!(e.expected, MD5_EMPTY);
        let e = parse_line(format!("\\{MD5_EMPTY}  c\\nd").as_bytes(), None).unwrap();
        assert_eq!(e.name, b"c\nd");
    }

    #[test]
    fn bsd_lines() {
        let line = format!("SHA1 (x (1).txt) = {}", "a".repeat(40));
        let e = parse_line(line.as_bytes(), None).unwrap();
        assert_eq!(e.name, b"x (1).txt");
        assert_eq!(e.algorithm, Algorithm::Sha1);
        let e = parse_line(format!("\\MD5 (e\\\\f) = {MD5_EMPTY}").as_bytes(), None).unwrap();
        assert_eq!(e.name, b"e\\f");
    }

    #[test]
    fn a_64_digit_digest_is_sha256_unless_told_otherwise() {
        let line = format!("{}  f", "0".repeat(64));
        assert_eq!(
            parse_line(line.as_bytes(), None).unwrap().algorithm,
            Algorithm::Sha256
        );
        let b3 = Some(AlgorithmSet::one(Algorithm::Blake3));
        assert_eq!(
            parse_line(line.as_bytes(), b3).unwrap().algorithm,
            Algorithm::Blake3
        );
    }

    #[test]
    fn malformed_lines_are_refused() {
        for line in [
            "garbage",
            "d41d8cd98f00b204e9800998ecf8427  short",
            "d41d8cd98f00b204e9800998ecf8427e",
            "d41d8cd98f00b204e9800998ecf8427e  ",
            "d41d8cd98f00b204e9800998ecf8427ex name",
            "MD5 (f) = 1234",
            "SHA3 (f) = d41d8cd98f00b204e9800998ecf8427e",
            "MD5 (f) = zz1d8cd98f00b204e9800998ecf8427e",
            "\\d41d8cd98f00b204e9800998ecf8427e  bad\\escape",
        ] {
            assert_eq!(parse_line(line.as_bytes(), None), None, "{line}");
        }
    }
}
