//! Line parsers for each list format, adding what they read to the loaded [`Entries`];
//! also the entry-name rules ([`validate_name`], [`MAX_NAME_LEN`]).

use std::io::BufRead;
use std::path::Path;

use crate::csv::{Header, Record, header_candidate};
use crate::entries::Entries;
use crate::error::HashDbError;
use crate::format::Format;
use crate::hex;
use crate::line::{Line, LineReader};
use crate::report::LoadReport;
use crate::types::{HashValue, ListKind, decode_hash};

/// Longest name accepted (bytes); longer names make the line malformed.
pub const MAX_NAME_LEN: usize = 1024;

/// Largest CSV record (bytes); a longer one is taken as an unterminated quote.
const MAX_RECORD_LEN: usize = 1024 * 1024;

/// Checks an entry name: non-empty, at most [`MAX_NAME_LEN`] bytes, UTF-8, no control chars.
pub(crate) fn validate_name(bytes: &[u8]) -> Result<&str, &'static str> {
    if bytes.is_empty() {
        return Err("empty name");
    }
    if bytes.len() > MAX_NAME_LEN {
        return Err("name longer than 1024 bytes");
    }
    let name = std::str::from_utf8(bytes).map_err(|_| "name is not valid UTF-8")?;
    if name.chars().any(char::is_control) {
        return Err("name contains control characters");
    }
    Ok(name)
}

/// Name given to entries of lists that carry none: `hashlist:<file stem>`.
fn default_name(source: &str) -> String {
    let stem = Path::new(source)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| source.to_owned());
    let mut name = format!("hashlist:{stem}");
    name.retain(|c| !c.is_control());
    if name.len() > MAX_NAME_LEN {
        let mut end = MAX_NAME_LEN;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    digits.iter().try_fold(0u64, |acc, &d| {
        acc.checked_mul(10)?.checked_add(u64::from(d - b'0'))
    })
}

fn bad_hash_reason(field: &[u8]) -> String {
    if matches!(field.len(), 32 | 40 | 64) {
        "hash holds a non-hex character".to_owned()
    } else {
        format!(
            "hash has {} characters, expected 32, 40 or 64 hex digits",
            field.len()
        )
    }
}

/// A ClamAV `hash:size:name[:flevel[:flevel]]` line.
fn parse_clamav(line: &[u8]) -> Result<(HashValue, Option<u64>, &str), String> {
    let mut parts: [&[u8]; 5] = [&[]; 5];
    let mut n = 0;
    for part in line.split(|&b| b == b':') {
        if n == parts.len() {
            return Err("too many fields (expected hash:size:name[:flevel[:flevel]])".into());
        }
        parts[n] = part;
        n += 1;
    }
    if n < 3 {
        return Err("expected hash:size:name".into());
    }
    let hash = decode_hash(parts[0]).ok_or_else(|| bad_hash_reason(parts[0]))?;
    let size = if parts[1] == b"*" {
        None
    } else {
        Some(parse_u64(parts[1]).ok_or("size is neither a number nor *")?)
    };
    let name = validate_name(parts[2])?;
    if parts[3..n]
        .iter()
        .any(|f| !f.is_empty() && parse_u64(f).is_none())
    {
        return Err("functionality level is not a number".into());
    }
    Ok((hash, size, name))
}

/// Reads one list into `entries` (the caller rolls back on error).
pub(crate) fn load<R: BufRead>(
    entries: &mut Entries,
    reader: R,
    format: Format,
    kind: ListKind,
    source: &str,
) -> Result<LoadReport, HashDbError> {
    let kind = format.list_kind(kind);
    let source_id = entries.intern_source(source)?;
    let mut report = LoadReport::new(source, format);
    let mut lines = LineReader::new(reader);
    let io_err = |err| HashDbError::Io {
        path: source.to_owned(),
        err,
    };
    match format {
        Format::Hdb | Format::Hsb | Format::Fp | Format::Sfp => {
            while let Some(line) = lines.next_line().map_err(io_err)? {
                let Some(text) = content(&line, &mut report) else {
                    continue;
                };
                match parse_clamav(text) {
                    Ok((hash, size, name)) => {
                        let label = entries.label(name, source_id, kind)?;
                        entries.push(hash, size, label)?;
                        report.entries += 1;
                    }
                    Err(reason) => report.malformed(line.number, reason),
                }
            }
        }
        Format::HashList => {
            let label = entries.label(&default_name(source), source_id, kind)?;
            while let Some(line) = lines.next_line().map_err(io_err)? {
                let Some(text) = content(&line, &mut report) else {
                    continue;
                };
                let token = text
                    .split(|b| b.is_ascii_whitespace())
                    .next()
                    .unwrap_or_default();
                match decode_hash(token) {
                    Some(hash) => {
                        entries.push(hash, None, label)?;
                        report.entries += 1;
                    }
                    None => report.malformed(line.number, bad_hash_reason(token)),
                }
            }
        }
        Format::Csv => load_csv(entries, &mut lines, kind, source, source_id, &mut report)?,
    }
    report.lines = lines.lines_read();
    Ok(report)
}

/// The trimmed text of a line of a line-based list, or `None` for a blank or comment line
/// and for a line too long to read (counted as malformed).
fn content<'l>(line: &'l Line<'_>, report: &mut LoadReport) -> Option<&'l [u8]> {
    if line.too_long {
        report.malformed(line.number, "line longer than 64 KiB");
        return None;
    }
    let text = line.bytes.trim_ascii();
    (!text.is_empty() && !text.starts_with(b"#")).then_some(text)
}

fn load_csv<R: BufRead>(
    entries: &mut Entries,
    lines: &mut LineReader<R>,
    kind: ListKind,
    source: &str,
    source_id: u16,
    report: &mut LoadReport,
) -> Result<(), HashDbError> {
    let io_err = |err| HashDbError::Io {
        path: source.to_owned(),
        err,
    };
    let default_label = entries.label(&default_name(source), source_id, kind)?;
    let mut header: Option<Header> = None;
    let mut commented_header: Option<Header> = None;
    let mut record = Record::default();
    let mut record_line = 0u64;
    let mut in_record = false;
    while let Some(line) = lines.next_line().map_err(io_err)? {
        if line.too_long {
            if in_record {
                report.malformed(record_line, "line longer than 64 KiB inside a CSV record");
                in_record = false;
            } else {
                report.malformed(line.number, "line longer than 64 KiB");
            }
            continue;
        }
        let delimiter = if in_record {
            header.as_ref().map_or(b',', |h| h.delimiter)
        } else {
            let text = line.bytes.trim_ascii();
            if text.is_empty() {
                continue;
            }
            if let Some(comment) = text.strip_prefix(b"#") {
                if header.is_none()
                    && let Some(h) = header_candidate(comment)
                {
                    commented_header = Some(h);
                }
                continue;
            }
            let h = match &header {
                Some(h) => h,
                None => {
                    if let Some(h) = header_candidate(text) {
                        header = Some(h);
                        continue;
                    }
                    // abuse.ch style: the header was the last commented line.
                    match commented_header.take() {
                        Some(h) => header.insert(h),
                        None => {
                            return Err(HashDbError::NoHashColumn {
                                path: source.to_owned(),
                            });
                        }
                    }
                }
            };
            record.reset();
            record_line = line.number;
            in_record = true;
            h.delimiter
        };
        if !record.feed(line.bytes, delimiter) {
            if record.byte_len() > MAX_RECORD_LEN {
                report.malformed(record_line, "unterminated quoted field");
                in_record = false;
            }
            continue;
        }
        in_record = false;
        if let Some(h) = &header {
            csv_record(
                entries,
                h,
                &record,
                record_line,
                default_label,
                source_id,
                kind,
                report,
            )?;
        }
    }
    if in_record {
        report.malformed(record_line, "unterminated quoted field at end of file");
    }
    // A file of only comments and blank lines is an empty list, not an error.
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn csv_record(
    entries: &mut Entries,
    header: &Header,
    record: &Record,
    line: u64,
    default_label: u32,
    source_id: u16,
    kind: ListKind,
    report: &mut LoadReport,
) -> Result<(), HashDbError> {
    if record.stray_quote {
        report.malformed(line, "stray quote inside a field");
        return Ok(());
    }
    let label = match header.name_column.and_then(|i| record.field(i)) {
        Some(raw) => {
            let raw = raw.trim_ascii();
            let placeholder = raw.is_empty()
                || [&b"n/a"[..], b"na", b"none", b"null", b"-", b"unknown"]
                    .iter()
                    .any(|p| raw.eq_ignore_ascii_case(p));
            if placeholder {
                default_label
            } else {
                match validate_name(raw) {
                    Ok(name) => entries.label(name, source_id, kind)?,
                    Err(reason) => {
                        report.malformed(line, reason);
                        return Ok(());
                    }
                }
            }
        }
        None => default_label,
    };
    let mut added = 0u64;
    let mut problem: Option<String> = None;
    for &(column, alg) in &header.hash_columns {
        let cell = record.field(column).unwrap_or_default().trim_ascii();
        if cell.is_empty() {
            continue;
        }
        let hash = decode_hash(cell).filter(|h| alg.is_none_or(|a| h.algorithm() == a));
        match hash {
            Some(hash) => {
                entries.push(hash, None, label)?;
                added += 1;
            }
            None => {
                if problem.is_none() {
                    problem = Some(match alg {
                        Some(a) if hex::is_hash(cell) => format!(
                            "column {}: {}-digit hash in a {a} column",
                            column + 1,
                            cell.len()
                        ),
                        _ => format!("column {}: {}", column + 1, bad_hash_reason(cell)),
                    });
                }
            }
        }
    }
    report.entries += added;
    match problem {
        Some(reason) => report.malformed(line, reason),
        None if added == 0 => report.malformed(line, "no hash in the record"),
        None => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::MAX_LINE_LEN;
    use crate::types::Algorithm;

    #[test]
    fn clamav_lines() {
        let (h, size, name) =
            parse_clamav(b"44d88612fea8a8f36de82e1278abb02f:68:Eicar-Test-Signature").unwrap();
        assert_eq!(h.algorithm(), Algorithm::Md5);
        assert_eq!((size, name), (Some(68), "Eicar-Test-Signature"));
        let sha1 = "3395856ce81f2b7382dee72602f798b642f14140";
        let (h, size, _) = parse_clamav(format!("{sha1}:*:X:73").as_bytes()).unwrap();
        assert_eq!((h.algorithm(), size), (Algorithm::Sha1, None));
        assert!(parse_clamav(format!("{sha1}:*:X:73:255").as_bytes()).is_ok());
        for bad in [
            format!("{sha1}:*:X:73:255:9"),
            format!("{sha1}:*"),
            format!("{sha1}:-1:X"),
            format!("{sha1}:+1:X"),
            format!("{sha1}:99999999999999999999:X"),
            format!("{sha1}::X"),
            format!("{sha1}:1:"),
            format!("{sha1}:1:X:abc"),
            format!("{sha1}0:1:X"),
            "zz:1:X".to_owned(),
        ] {
            assert!(parse_clamav(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_and_numbers() {
        assert_eq!(
            default_name("/lists/full_sha256.txt"),
            "hashlist:full_sha256"
        );
        assert_eq!(default_name(""), "hashlist:");
        assert!(validate_name(b"a\x01b").is_err());
        assert!(validate_name(&[b'a'; MAX_NAME_LEN + 1]).is_err());
        assert!(validate_name(b"\xff").is_err());
        assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_u64(b"18446744073709551616"), None);
        assert_eq!(MAX_LINE_LEN, 64 * 1024);
    }
}
