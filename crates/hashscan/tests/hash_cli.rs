//! `hashscan hash` end to end: the real binary against coreutils' own output, byte for byte.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn hashscan(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hashscan"))
        .current_dir(dir)
        .arg("hash")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn hashscan_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hashscan"))
        .current_dir(dir)
        .arg("hash")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

fn tool(dir: &Path, tool: &str, args: &[&str]) -> Output {
    Command::new(tool)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A directory with ordinary and awkward names (space, backslash, newline, carriage return,
/// non-ASCII) and a nested tree.
fn fixture() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("empty"), b"").unwrap();
    std::fs::write(p.join("abc"), b"abc").unwrap();
    std::fs::write(p.join("with space.txt"), b"hello world\n").unwrap();
    std::fs::write(p.join("back\\slash"), b"x").unwrap();
    std::fs::write(p.join("new\nline"), b"y").unwrap();
    std::fs::write(p.join("carriage\rreturn"), b"z").unwrap();
    std::fs::write(p.join("日本語.txt"), "テキスト".as_bytes()).unwrap();
    std::fs::create_dir_all(p.join("tree/sub")).unwrap();
    std::fs::write(p.join("tree/b.bin"), vec![7u8; 70_000]).unwrap();
    std::fs::write(p.join("tree/a.txt"), b"A").unwrap();
    std::fs::write(p.join("tree/sub/c"), b"C").unwrap();
    dir
}

const FILES: [&str; 7] = [
    "empty",
    "abc",
    "with space.txt",
    "back\\slash",
    "new\nline",
    "carriage\rreturn",
    "日本語.txt",
];

#[test]
fn gnu_output_is_byte_for_byte_what_coreutils_prints() {
    let dir = fixture();
    for (alg, sum) in [
        ("md5", "md5sum"),
        ("sha1", "sha1sum"),
        ("sha256", "sha256sum"),
        ("sha512", "sha512sum"),
    ] {
        let ours = hashscan(dir.path(), &[&["-a", alg][..], &FILES[..]].concat());
        let theirs = tool(dir.path(), sum, &FILES);
        assert!(ours.status.success(), "{}", text(&ours.stderr));
        assert_eq!(text(&ours.stdout), text(&theirs.stdout), "{alg}");
        assert!(ours.stderr.is_empty());
    }
}

#[test]
fn bsd_output_is_byte_for_byte_what_coreutils_tag_prints() {
    let dir = fixture();
    let ours = hashscan(
        dir.path(),
        &[&["--format", "bsd", "-a", "sha256"][..], &FILES[..]].concat(),
    );
    let theirs = tool(
        dir.path(),
        "sha256sum",
        &[&["--tag"][..], &FILES[..]].concat(),
    );
    assert_eq!(text(&ours.stdout), text(&theirs.stdout));
    let tag = hashscan(dir.path(), &["--tag", "-a", "md5", "abc"]);
    assert_eq!(
        text(&tag.stdout),
        "MD5 (abc) = 900150983cd24fb0d6963f7d28e17f72\n"
    );
}

#[test]
fn one_line_per_algorithm_per_file_in_report_order() {
    let dir = fixture();
    let out = hashscan(dir.path(), &["-a", "sha256,md5", "abc", "empty"]);
    assert_eq!(
        text(&out.stdout),
        "900150983cd24fb0d6963f7d28e17f72  abc\n\
         ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  abc\n\
         d41d8cd98f00b204e9800998ecf8427e  empty\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  empty\n"
    );
}

#[test]
fn json_has_path_size_and_every_digest() {
    let dir = fixture();
    let out = hashscan(
        dir.path(),
        &["--format", "json", "-a", "all", "abc", "new\nline"],
    );
    assert!(out.status.success());
    let lines: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    let abc = &lines[0];
    assert_eq!(abc["path"], "abc");
    assert_eq!(abc["size"], 3);
    assert_eq!(abc["md5"], "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(abc["sha1"], "a9993e364706816aba3e25717850c26c9cd0d89d");
    assert_eq!(
        abc["sha256"],
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(
        abc["blake3"],
        "6437b3ac38465133ffb63b75273a8db548c558465d79db03fd359c6cd5bd9d85"
    );
    assert_eq!(abc["crc32c"], "364b3fb7");
    assert_eq!(abc["crc64"], "2cd8094a1a277627");
    assert!(
        abc["sha512"]
            .as_str()
            .unwrap()
            .starts_with("ddaf35a193617aba")
    );
    assert_eq!(lines[1]["path"], "new\nline");
    assert_eq!(lines[1]["size"], 1);
}

#[test]
fn stdin_without_path_and_with_dash() {
    let dir = fixture();
    for args in [&["-a", "md5"][..], &["-a", "md5", "-"][..]] {
        let out = hashscan_stdin(dir.path(), args, b"abc");
        assert!(out.status.success());
        assert_eq!(text(&out.stdout), "900150983cd24fb0d6963f7d28e17f72  -\n");
    }
}

#[test]
fn recursive_lists_files_in_name_order_like_sorted_find() {
    let dir = fixture();
    let out = hashscan(dir.path(), &["-r", "-a", "sha1", "tree"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let theirs = tool(
        dir.path(),
        "sha1sum",
        &["tree/a.txt", "tree/b.bin", "tree/sub/c"],
    );
    assert_eq!(text(&out.stdout), text(&theirs.stdout));
}

/// Files are hashed in parallel; the lines still follow the names' order across more files
/// than are hashed ahead of the next line, with a big file first.
#[test]
fn many_files_are_printed_in_name_order() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("many")).unwrap();
    std::fs::write(dir.path().join("many/f0000"), vec![7u8; 24 << 20]).unwrap();
    let mut names = vec!["many/f0000".to_string()];
    for i in 1..700 {
        let name = format!("many/f{i:04}");
        std::fs::write(dir.path().join(&name), format!("file {i}\n")).unwrap();
        names.push(name);
    }
    let out = hashscan(dir.path(), &["-r", "-a", "sha256", "many"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let args: Vec<&str> = names.iter().map(String::as_str).collect();
    let theirs = tool(dir.path(), "sha256sum", &args);
    assert_eq!(text(&out.stdout), text(&theirs.stdout));
}

#[test]
fn errors_name_the_path_and_the_rest_is_still_hashed() {
    let dir = fixture();
    let out = hashscan(
        dir.path(),
        &["-a", "md5", "abc", "missing", "tree", "empty"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "900150983cd24fb0d6963f7d28e17f72  abc\nd41d8cd98f00b204e9800998ecf8427e  empty\n"
    );
    let err = text(&out.stderr);
    assert!(
        err.contains("hashscan: missing: No such file or directory"),
        "{err}"
    );
    assert!(err.contains("hashscan: tree: Is a directory"), "{err}");
}

#[test]
fn a_read_error_is_reported_with_the_path() {
    let dir = fixture();
    // Reading /proc/self/mem at offset 0 fails with EIO even for root.
    let out = hashscan(dir.path(), &["/proc/self/mem", "abc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("hashscan: /proc/self/mem: Input/output error"));
    assert!(text(&out.stdout).ends_with("  abc\n"));
}

#[test]
fn permission_denied_is_reported_when_not_root() {
    let dir = fixture();
    let locked = dir.path().join("locked");
    std::fs::write(&locked, b"secret").unwrap();
    let status = Command::new("chmod")
        .arg("000")
        .arg(&locked)
        .status()
        .unwrap();
    assert!(status.success());
    let uid = text(&tool(dir.path(), "id", &["-u"]).stdout);
    let out = hashscan(dir.path(), &["locked", "abc"]);
    if uid.trim() == "0" {
        // root reads it anyway, as sha256sum does.
        assert!(out.status.success());
    } else {
        assert_eq!(out.status.code(), Some(1));
        assert!(text(&out.stderr).contains("hashscan: locked: Permission denied"));
    }
}

#[test]
fn unknown_algorithm_is_a_clear_error() {
    let dir = fixture();
    let out = hashscan(dir.path(), &["-a", "md5,sha3", "abc"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(text(&out.stderr).contains("unknown algorithm 'sha3'"));
}

#[test]
fn check_passes_on_lists_written_by_coreutils_and_by_itself() {
    let dir = fixture();
    let p = dir.path();
    let md5 = tool(p, "md5sum", &FILES);
    std::fs::write(p.join("MD5SUMS"), &md5.stdout).unwrap();
    let tagged = tool(p, "sha256sum", &[&["--tag"][..], &FILES[..]].concat());
    std::fs::write(p.join("SHA256SUMS.tag"), &tagged.stdout).unwrap();
    let ours = hashscan(
        p,
        &[&["-a", "md5,sha1,sha512,blake3"][..], &FILES[..]].concat(),
    );
    std::fs::write(p.join("ours"), &ours.stdout).unwrap();
    let ours_bsd = hashscan(p, &[&["--tag", "-a", "all"][..], &FILES[..]].concat());
    std::fs::write(p.join("ours.bsd"), &ours_bsd.stdout).unwrap();

    let coreutils_view = tool(p, "md5sum", &["-c", "MD5SUMS"]);
    for list in ["MD5SUMS", "SHA256SUMS.tag", "ours.bsd"] {
        let out = hashscan(p, &["-c", list]);
        assert!(out.status.success(), "{list}: {}", text(&out.stderr));
        assert!(out.stderr.is_empty(), "{list}: {}", text(&out.stderr));
        if list == "MD5SUMS" {
            assert_eq!(text(&out.stdout), text(&coreutils_view.stdout));
        }
    }
    // Bare 64-digit digests are SHA-256 unless -a says otherwise: ours holds BLAKE3 ones.
    let out = hashscan(p, &["-c", "ours", "-a", "md5,sha1,sha512,blake3"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).matches(": OK\n").count(), 4 * FILES.len());
    // Read from standard input.
    let out = hashscan_stdin(p, &["-c", "-"], &md5.stdout);
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), text(&coreutils_view.stdout));
}

#[test]
fn check_reports_failures_like_sha256sum_c() {
    let dir = fixture();
    let p = dir.path();
    let list = tool(
        p,
        "sha256sum",
        &["abc", "empty", "with space.txt", "new\nline"],
    );
    let mut list = list.stdout;
    list.extend_from_slice(b"this line is garbage\n");
    std::fs::write(p.join("SUMS"), &list).unwrap();
    std::fs::write(p.join("abc"), b"abd").unwrap();
    std::fs::remove_file(p.join("empty")).unwrap();

    let ours = hashscan(p, &["-c", "SUMS"]);
    let theirs = tool(p, "sha256sum", &["-c", "SUMS"]);
    assert_eq!(ours.status.code(), Some(1));
    assert_eq!(theirs.status.code(), Some(1));
    assert_eq!(
        text(&ours.stdout),
        "abc: FAILED\nempty: FAILED open or read\nwith space.txt: OK\n\\new\\nline: OK\n"
    );
    assert_eq!(text(&ours.stdout), text(&theirs.stdout));
    let err = text(&ours.stderr);
    assert_eq!(
        err,
        "hashscan: empty: No such file or directory\n\
         hashscan: WARNING: 1 line is improperly formatted\n\
         hashscan: WARNING: 1 listed file could not be read\n\
         hashscan: WARNING: 1 computed checksum did NOT match\n"
    );

    let quiet = hashscan(p, &["-c", "SUMS", "--quiet"]);
    assert_eq!(
        text(&quiet.stdout),
        "abc: FAILED\nempty: FAILED open or read\n"
    );
    let status = hashscan(p, &["-c", "SUMS", "--status"]);
    assert_eq!(status.status.code(), Some(1));
    assert!(status.stdout.is_empty());
    let ignore = hashscan(p, &["-c", "SUMS", "--ignore-missing"]);
    assert!(!text(&ignore.stdout).contains("empty"));
    assert_eq!(ignore.status.code(), Some(1), "abc still fails");
}

#[test]
fn check_with_nothing_usable_fails() {
    let dir = fixture();
    let p = dir.path();
    std::fs::write(p.join("junk"), b"not a checksum\n").unwrap();
    let out = hashscan(p, &["-c", "junk"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "hashscan: junk: no properly formatted checksum lines found\n"
    );
    let out = hashscan(p, &["-c", "no-such-list"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "hashscan: no-such-list: No such file or directory\n"
    );
}

#[test]
fn a_big_file_alone_gives_the_same_digests_through_lanes() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    let data: Vec<u8> = (0..(20u32 << 20))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(p.join("big"), &data).unwrap();
    let ours = hashscan(p, &["-a", "md5,sha1,sha256,sha512", "big"]);
    let mut want = String::new();
    for sum in ["md5sum", "sha1sum", "sha256sum", "sha512sum"] {
        want.push_str(&text(&tool(p, sum, &["big"]).stdout));
    }
    assert_eq!(text(&ours.stdout), want);
}
