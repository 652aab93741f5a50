//! Output lines in the three formats, with coreutils' escaping of awkward file names.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::io::{self, Write};

use hashscan_digest::Digests;

use super::Format;

/// Writes the digests of one input.
pub fn write(
    out: &mut impl Write,
    format: Format,
    name: &OsStr,
    digests: &Digests,
) -> io::Result<()> {
    match format {
        Format::Gnu | Format::Bsd => {
            let raw = name_bytes(name);
            let (prefix, shown) = escape_name(&raw, NeedsEscape::Output);
            for d in digests.iter() {
                out.write_all(prefix)?;
                if format == Format::Gnu {
                    write!(out, "{d}  ")?;
                    out.write_all(&shown)?;
                } else {
                    write!(out, "{} (", d.algorithm().bsd_tag())?;
                    out.write_all(&shown)?;
                    write!(out, ") = {d}")?;
                }
                out.write_all(b"\n")?;
            }
            Ok(())
        }
        Format::Json => {
            let mut obj = serde_json::Map::new();
            obj.insert("path".into(), name.to_string_lossy().into());
            obj.insert("size".into(), digests.size().into());
            for d in digests.iter() {
                obj.insert(d.algorithm().name().into(), d.to_hex().into());
            }
            serde_json::to_writer(&mut *out, &obj)?;
            out.write_all(b"\n")
        }
    }
}

/// The bytes of a file name as the OS gave them (not necessarily UTF-8).
pub fn name_bytes(name: &OsStr) -> Cow<'_, [u8]> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Cow::Borrowed(name.as_bytes())
    }
    #[cfg(not(unix))]
    {
        match name.to_string_lossy() {
            Cow::Borrowed(s) => Cow::Borrowed(s.as_bytes()),
            Cow::Owned(s) => Cow::Owned(s.into_bytes()),
        }
    }
}

/// When a name gets escaped. coreutils 9.1 escapes a name holding a backslash, newline or
/// carriage return in digest lines, but only one holding a newline in the `name: OK` lines
/// of `--check`.
#[derive(Copy, Clone, PartialEq, Eq)]
pub enum NeedsEscape {
    Output,
    CheckResult,
}

/// Escapes `name` as coreutils does: when needed, the line starts with a backslash and
/// `\`, newline and carriage return are written `\\`, `\n` and `\r`. Returns the line
/// prefix and the name to print.
pub fn escape_name(name: &[u8], when: NeedsEscape) -> (&'static [u8], Cow<'_, [u8]>) {
    let needs = name
        .iter()
        .any(|&b| b == b'\n' || (when == NeedsEscape::Output && (b == b'\r' || b == b'\\')));
    if !needs {
        return (b"", Cow::Borrowed(name));
    }
    let mut escaped = Vec::with_capacity(name.len() + 4);
    for &b in name {
        match b {
            b'\\' => escaped.extend_from_slice(b"\\\\"),
            b'\n' => escaped.extend_from_slice(b"\\n"),
            b'\r' => escaped.extend_from_slice(b"\\r"),
            _ => escaped.push(b),
        }
    }
    (b"\\", Cow::Owned(escaped))
}

/// Reverses [`escape_name`] for a name read from a checksum line that began with a
/// backslash. `None` for an unknown escape or a trailing lone backslash.
pub fn unescape_name(name: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len());
    let mut bytes = name.iter();
    while let Some(&b) = bytes.next() {
        if b != b'\\' {
            out.push(b);
            continue;
        }
        match bytes.next() {
            Some(b'\\') => out.push(b'\\'),
            Some(b'n') => out.push(b'\n'),
            Some(b'r') => out.push(b'\r'),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_are_left_alone() {
        let (prefix, name) = escape_name(b"dir/a b.txt", NeedsEscape::Output);
        assert_eq!(prefix, b"");
        assert_eq!(&*name, b"dir/a b.txt");
    }

    #[test]
    fn awkward_names_are_escaped_like_coreutils() {
        let (prefix, name) = escape_name(b"a\\b\nc\rd", NeedsEscape::Output);
        assert_eq!(prefix, b"\\");
        assert_eq!(&*name, b"a\\\\b\\nc\\rd");
        assert_eq!(unescape_name(&name).unwrap(), b"a\\b\nc\rd");
        // A backslash or carriage return alone does not escape a --check result line.
        let (prefix, name) = escape_name(b"e\\f", NeedsEscape::CheckResult);
        assert_eq!(prefix, b"");
        assert_eq!(&*name, b"e\\f");
    }

    #[test]
    fn bad_escapes_are_refused() {
        assert_eq!(unescape_name(b"a\\x"), None);
        assert_eq!(unescape_name(b"a\\"), None);
    }
}
