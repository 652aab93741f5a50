#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Each list format, its semantics, and the load report.

use std::io::{self, BufRead, BufReader, Read};

use hashscan_hashdb::{
    Algorithm, Builder, Digests, Format, HashDb, HashDbError, HashValue, ListKind,
    MAX_REPORTED_PROBLEMS,
};

const EICAR_MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
const EICAR_SHA1: &str = "3395856ce81f2b7382dee72602f798b642f14140";
const EICAR_SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";

fn md5(s: &str) -> [u8; 16] {
    match HashValue::from_hex(s).unwrap() {
        HashValue::Md5(b) => b,
        other => panic!("not md5: {other:?}"),
    }
}
fn sha1(s: &str) -> [u8; 20] {
    match HashValue::from_hex(s).unwrap() {
        HashValue::Sha1(b) => b,
        other => panic!("not sha1: {other:?}"),
    }
}
fn sha256(s: &str) -> [u8; 32] {
    match HashValue::from_hex(s).unwrap() {
        HashValue::Sha256(b) => b,
        other => panic!("not sha256: {other:?}"),
    }
}

/// A distinct fake hash of `digits` hex digits built from `n`.
fn fake(n: u32, digits: usize) -> String {
    format!("{n:08x}").repeat(8)[..digits].to_owned()
}

fn load(
    b: &mut Builder,
    text: &str,
    format: Format,
    kind: ListKind,
    source: &str,
) -> hashscan_hashdb::LoadReport {
    b.load_reader(text.as_bytes(), format, kind, source)
        .unwrap()
}

#[test]
fn hdb_md5_with_size() {
    let mut b = HashDb::builder();
    let text = format!(
        "{EICAR_MD5}:68:Eicar-Test-Signature\n{}:1024:Win.Trojan.X-1:73\n",
        fake(1, 32)
    );
    let r = load(&mut b, &text, Format::Hdb, ListKind::Good, "main.hdb");
    assert_eq!((r.lines, r.entries, r.malformed), (2, 2, 0));
    assert_eq!(r.format, Format::Hdb);
    let db = b.build();
    assert_eq!(db.len(), 2);
    assert_eq!(db.len_of(Algorithm::Md5), 2);

    // .hdb is a block-list whatever kind the caller passed.
    let hit = db.lookup_md5(&md5(EICAR_MD5), Some(68)).unwrap();
    assert_eq!(hit.kind, ListKind::Bad);
    assert_eq!(hit.algorithm, Algorithm::Md5);
    assert_eq!(hit.name, "Eicar-Test-Signature");
    assert_eq!(hit.source, "main.hdb");
    assert!(db.lookup_md5(&md5(EICAR_MD5), Some(67)).is_none());
    assert!(db.lookup_md5(&md5(EICAR_MD5), None).is_some());
    assert_eq!(
        db.lookup_md5(&md5(&fake(1, 32)), Some(1024)).unwrap().name,
        "Win.Trojan.X-1"
    );

    let digests = Digests {
        md5: md5(EICAR_MD5),
        sha1: [1; 20],
        sha256: [2; 32],
    };
    assert_eq!(db.lookup(&digests, 68).unwrap().algorithm, Algorithm::Md5);
    assert!(db.lookup(&digests, 69).is_none());
}

#[test]
fn hsb_sha1_and_sha256_by_length() {
    let mut b = HashDb::builder();
    let text = format!(
        "{EICAR_SHA1}:68:Eicar-SHA1\n{EICAR_SHA256}:*:Eicar-SHA256:73\n{}:*:Old-MD5-In-Hsb:73:255\n",
        fake(7, 32)
    );
    let r = load(&mut b, &text, Format::Hsb, ListKind::Bad, "x.hsb");
    assert_eq!((r.entries, r.malformed), (3, 0));
    let db = b.build();
    assert_eq!(db.len_of(Algorithm::Sha1), 1);
    assert_eq!(db.len_of(Algorithm::Sha256), 1);
    assert_eq!(db.len_of(Algorithm::Md5), 1);

    let hit = db.lookup_sha1(&sha1(EICAR_SHA1), Some(68)).unwrap();
    assert_eq!((hit.algorithm, hit.name), (Algorithm::Sha1, "Eicar-SHA1"));
    assert!(db.lookup_sha1(&sha1(EICAR_SHA1), Some(0)).is_none());
    for size in [0, 68, u64::MAX] {
        let hit = db.lookup_sha256(&sha256(EICAR_SHA256), Some(size)).unwrap();
        assert_eq!(
            (hit.algorithm, hit.name, hit.kind),
            (Algorithm::Sha256, "Eicar-SHA256", ListKind::Bad)
        );
    }
    // The SHA-1 bytes are not findable as a SHA-256 and vice versa.
    assert!(db.lookup_sha256(&[0; 32], None).is_none());
}

#[test]
fn fp_and_sfp_are_good_and_win() {
    for fp_first in [false, true] {
        let mut b = HashDb::builder();
        let bad = format!("{EICAR_MD5}:68:Eicar\n{EICAR_SHA256}:*:Eicar256:73\n");
        let fp = format!("{EICAR_MD5}:68:Allowed-Eicar\n");
        let sfp = format!("{EICAR_SHA256}:68:Allowed-Eicar256\n");
        if fp_first {
            load(&mut b, &fp, Format::Fp, ListKind::Bad, "local.fp");
            load(&mut b, &sfp, Format::Sfp, ListKind::Bad, "local.sfp");
        }
        load(&mut b, &bad, Format::Hdb, ListKind::Bad, "main.hdb");
        if !fp_first {
            load(&mut b, &fp, Format::Fp, ListKind::Bad, "local.fp");
            load(&mut b, &sfp, Format::Sfp, ListKind::Bad, "local.sfp");
        }
        let db = b.build();
        assert_eq!(db.len(), 2, "bad+good of the same hash dedup to one entry");
        let hit = db.lookup_md5(&md5(EICAR_MD5), Some(68)).unwrap();
        assert_eq!(
            (hit.kind, hit.name, hit.source),
            (ListKind::Good, "Allowed-Eicar", "local.fp")
        );
        let hit = db.lookup_sha256(&sha256(EICAR_SHA256), Some(68)).unwrap();
        assert_eq!((hit.kind, hit.name), (ListKind::Good, "Allowed-Eicar256"));
        // The good entry replaced the bad one, size constraint included: with another
        // size nothing matches (the '*' bad entry is gone).
        assert!(db.lookup_sha256(&sha256(EICAR_SHA256), Some(1)).is_none());
    }
}

#[test]
fn lookup_prefers_good_across_algorithms() {
    let mut b = HashDb::builder();
    b.insert(
        HashValue::Md5(md5(EICAR_MD5)),
        None,
        ListKind::Bad,
        "Bad-MD5",
        "a",
    )
    .unwrap();
    b.insert(
        HashValue::Sha256(sha256(EICAR_SHA256)),
        None,
        ListKind::Bad,
        "Bad-256",
        "a",
    )
    .unwrap();
    b.insert(
        HashValue::Sha1(sha1(EICAR_SHA1)),
        Some(68),
        ListKind::Good,
        "Good-SHA1",
        "b",
    )
    .unwrap();
    let db = b.build();
    let d = Digests {
        md5: md5(EICAR_MD5),
        sha1: sha1(EICAR_SHA1),
        sha256: sha256(EICAR_SHA256),
    };
    let hit = db.lookup(&d, 68).unwrap();
    assert_eq!(
        (hit.kind, hit.algorithm, hit.name, hit.source),
        (ListKind::Good, Algorithm::Sha1, "Good-SHA1", "b")
    );
    // Size 69: the good SHA-1 entry does not apply; the SHA-256 bad match is reported first.
    let hit = db.lookup(&d, 69).unwrap();
    assert_eq!(
        (hit.kind, hit.algorithm, hit.name),
        (ListKind::Bad, Algorithm::Sha256, "Bad-256")
    );
    let only_md5 = Digests {
        md5: md5(EICAR_MD5),
        ..Digests::default()
    };
    assert_eq!(db.lookup(&only_md5, 5).unwrap().algorithm, Algorithm::Md5);
    assert!(db.lookup(&Digests::default(), 0).is_none());
}

#[test]
fn size_constraints() {
    let mut b = HashDb::builder();
    let big = 5_000_000_000u64; // does not fit in u32
    let text = format!(
        "{}:0:Empty\n{}:{big}:Big\n{}:{}:Max\n{}:4294967294:Edge1\n{}:4294967293:Edge2\n{}:*:Any:73\n",
        fake(1, 32),
        fake(2, 32),
        fake(3, 32),
        u64::MAX,
        fake(4, 32),
        fake(5, 32),
        fake(6, 32)
    );
    let r = load(&mut b, &text, Format::Hdb, ListKind::Bad, "s.hdb");
    assert_eq!((r.entries, r.malformed), (6, 0));
    let db = b.build();
    let cases: [(u32, u64, u64); 5] = [
        (1, 0, 1),
        (2, big, big - 1),
        (3, u64::MAX, 0),
        (4, 4294967294, 4294967295),
        (5, 4294967293, 4294967294),
    ];
    for (n, want, other) in cases {
        let h = md5(&fake(n, 32));
        assert!(db.lookup_md5(&h, Some(want)).is_some(), "{n} at {want}");
        assert!(db.lookup_md5(&h, Some(other)).is_none(), "{n} at {other}");
        assert!(db.lookup_md5(&h, None).is_some());
    }
    for size in [0, 1, big, u64::MAX] {
        assert_eq!(
            db.lookup_md5(&md5(&fake(6, 32)), Some(size)).unwrap().name,
            "Any"
        );
    }
}

#[test]
fn dedup_keeps_first_loaded() {
    let mut b = HashDb::builder();
    let h = fake(9, 64);
    load(
        &mut b,
        &format!("{h}:*:First:73\n{h}:*:Second:73\n"),
        Format::Hsb,
        ListKind::Bad,
        "one.hsb",
    );
    load(
        &mut b,
        &format!("{h}\n{h}\n"),
        Format::HashList,
        ListKind::Bad,
        "two.txt",
    );
    assert_eq!(b.pending(), 4);
    let db = b.build();
    assert_eq!(db.len(), 1);
    let hit = db.lookup_sha256(&sha256(&h), None).unwrap();
    assert_eq!((hit.name, hit.source), ("First", "one.hsb"));
}

#[test]
fn plain_list_comments_blank_crlf() {
    let text = format!(
        "################\r\n# MalwareBazaar export\r\n#\r\n\r\n{}\r\n   \r\n{}  \t\r\n{}  some-file.exe\r\n{}",
        fake(1, 64),
        fake(2, 40).to_uppercase(),
        fake(3, 32),
        fake(4, 64)
    );
    let mut b = HashDb::builder();
    let r = load(
        &mut b,
        &text,
        Format::HashList,
        ListKind::Bad,
        "/feeds/full_sha256.txt",
    );
    assert_eq!((r.lines, r.entries, r.malformed), (9, 4, 0));
    let db = b.build();
    let hit = db.lookup_sha256(&sha256(&fake(1, 64)), Some(123)).unwrap();
    assert_eq!(
        (hit.name, hit.kind, hit.source),
        (
            "hashlist:full_sha256",
            ListKind::Bad,
            "/feeds/full_sha256.txt"
        )
    );
    assert!(db.lookup_sha1(&sha1(&fake(2, 40)), None).is_some());
    assert!(db.lookup_md5(&md5(&fake(3, 32)), None).is_some());
    assert!(
        db.lookup_sha256(&sha256(&fake(4, 64)), None).is_some(),
        "last line without newline"
    );

    let mut b = HashDb::builder();
    load(&mut b, &text, Format::HashList, ListKind::Good, "allow.txt");
    let db = b.build();
    assert_eq!(
        db.lookup_sha256(&sha256(&fake(1, 64)), None).unwrap().kind,
        ListKind::Good
    );
}

#[test]
fn clamav_crlf_and_comments() {
    let text = format!("# local sigs\r\n\r\n{EICAR_MD5}:68:Eicar\r\n");
    let mut b = HashDb::builder();
    let r = load(&mut b, &text, Format::Hdb, ListKind::Bad, "l.hdb");
    assert_eq!((r.entries, r.malformed), (1, 0));
    assert_eq!(
        b.build()
            .lookup_md5(&md5(EICAR_MD5), Some(68))
            .unwrap()
            .name,
        "Eicar"
    );
}

#[test]
fn malformed_lines_are_counted_and_skipped() {
    let good1 = fake(1, 32);
    let good2 = fake(2, 32);
    let lines = [
        format!("{good1}:10:Ok-1"),                   // 1
        "nothex0000000000000000000000000:1:X".into(), // 2 wrong length
        format!("{}:1:X", fake(3, 31)),               // 3 wrong length
        format!("{}g:1:X", fake(3, 31)),              // 4 non-hex
        format!("{good1}:ten:X"),                     // 5 bad size
        format!("{good1}:10:"),                       // 6 empty name
        good1.clone(),                                // 7 missing fields
        format!("{good1}:1:X:1:2:3"),                 // 8 too many fields
        format!("{good2}:20:Ok-2"),                   // 9
    ];
    let mut text = lines.join("\n");
    text.push('\n');
    let mut b = HashDb::builder();
    let r = load(&mut b, &text, Format::Hdb, ListKind::Bad, "m.hdb");
    assert_eq!(r.entries, 2);
    assert_eq!(r.malformed, 7);
    let got: Vec<u64> = r.problems.iter().map(|p| p.line).collect();
    assert_eq!(got, vec![2, 3, 4, 5, 6, 7, 8]);
    assert!(
        r.problems[0].reason.contains("31 characters"),
        "{}",
        r.problems[0]
    );
    assert!(
        r.problems[2].reason.contains("non-hex"),
        "{}",
        r.problems[2]
    );
    assert!(r.problems[3].reason.contains("size"), "{}", r.problems[3]);
    assert!(r.problems[4].reason.contains("empty name"));
    assert!(r.problems[6].reason.contains("too many"));
    let db = b.build();
    assert!(db.lookup_md5(&md5(&good1), Some(10)).is_some());
    assert!(db.lookup_md5(&md5(&good2), Some(20)).is_some());

    // Invalid UTF-8 and control characters in names are malformed too.
    let mut bytes = format!("{}:1:Bad", fake(5, 32)).into_bytes();
    bytes.extend_from_slice(b"\xff\n");
    bytes.extend_from_slice(format!("{}:1:Bell\x07\n", fake(6, 32)).as_bytes());
    let mut b = HashDb::builder();
    let r = b
        .load_reader(&bytes[..], Format::Hdb, ListKind::Bad, "u.hdb")
        .unwrap();
    assert_eq!((r.entries, r.malformed), (0, 2));
    assert!(r.problems[0].reason.contains("UTF-8"));
}

#[test]
fn problems_are_capped_but_all_counted() {
    let mut text = String::new();
    for _ in 0..100 {
        text.push_str("garbage\n");
    }
    text.push_str(&fake(1, 64));
    let mut b = HashDb::builder();
    let r = load(&mut b, &text, Format::HashList, ListKind::Bad, "g.txt");
    assert_eq!((r.malformed, r.entries), (100, 1));
    assert_eq!(r.problems.len(), MAX_REPORTED_PROBLEMS);
    assert_eq!(
        r.problems.last().unwrap().line,
        MAX_REPORTED_PROBLEMS as u64
    );
}

#[test]
fn overlong_line_is_malformed_not_fatal() {
    let mut text = "a".repeat(200_000);
    text.push('\n');
    text.push_str(&fake(1, 64));
    let mut b = HashDb::builder();
    let r = load(&mut b, &text, Format::HashList, ListKind::Bad, "long.txt");
    assert_eq!((r.malformed, r.entries, r.problems[0].line), (1, 1, 1));
}

/// MalwareBazaar's CSV export: a comment preamble, the header itself commented out,
/// quoted fields separated by `", "`.
fn bazaar_csv() -> String {
    let rows = [
        // sha256, md5, sha1, file_name, signature
        (
            fake(1, 64),
            fake(1, 32),
            fake(1, 40),
            "invoice, \"urgent\".exe",
            "AgentTesla",
        ),
        (fake(2, 64), fake(2, 32), fake(2, 40), "a.dll", "n/a"),
        (fake(3, 64), String::new(), fake(3, 40), "b.bin", "Formbook"),
        ("zz".to_owned(), fake(4, 32), fake(4, 40), "c.bin", "Broken"), // bad sha256 cell
        (
            String::new(),
            String::new(),
            String::new(),
            "d.bin",
            "NoHash",
        ),
    ];
    let mut s = String::from(
        "################################################################\r\n\
         # MalwareBazaar full malware samples dump (CSV)                #\r\n\
         # Last updated: 2026-01-01 00:00:00 UTC                         #\r\n\
         ################################################################\r\n\
         #\r\n\
         # \"first_seen_utc\",\"sha256_hash\",\"md5_hash\",\"sha1_hash\",\"reporter\",\"file_name\",\"file_type_guess\",\"mime_type\",\"signature\",\"clamav\",\"vtpercent\",\"imphash\",\"ssdeep\",\"tlsh\"\r\n",
    );
    for (sha256, md5, sha1, file, sig) in rows {
        let file = file.replace('"', "\"\"");
        s.push_str(&format!(
            "\"2026-01-01 00:00:00\", \"{sha256}\", \"{md5}\", \"{sha1}\", \"abuse_ch\", \"{file}\", \"exe\", \"application/x-dosexec\", \"{sig}\", \"Win.Trojan.X\", \"n/a\", \"f34d5f2d4577ed6d9ceec516c1f5a744\", \"3:abc:def\", \"T1ABC\"\r\n"
        ));
    }
    s
}

#[test]
fn csv_malwarebazaar_shape() {
    let mut b = HashDb::builder();
    let r = load(
        &mut b,
        &bazaar_csv(),
        Format::Csv,
        ListKind::Bad,
        "full.csv",
    );
    // Rows 1-2: three hashes each; row 3: two; row 4: md5+sha1 (sha256 cell bad); row 5: none.
    assert_eq!(r.entries, 3 + 3 + 2 + 2);
    assert_eq!(r.malformed, 2);
    assert_eq!(r.problems[0].line, 10);
    assert!(
        r.problems[0].reason.contains("column 2"),
        "{}",
        r.problems[0]
    );
    assert_eq!(r.problems[1].line, 11);
    assert!(r.problems[1].reason.contains("no hash"));
    let db = b.build();
    for (alg, hit) in [
        (
            Algorithm::Sha256,
            db.lookup_sha256(&sha256(&fake(1, 64)), None),
        ),
        (Algorithm::Md5, db.lookup_md5(&md5(&fake(1, 32)), None)),
        (Algorithm::Sha1, db.lookup_sha1(&sha1(&fake(1, 40)), None)),
    ] {
        let hit = hit.unwrap();
        assert_eq!(
            (hit.algorithm, hit.name, hit.kind, hit.source),
            (alg, "AgentTesla", ListKind::Bad, "full.csv")
        );
    }
    assert_eq!(
        db.lookup_sha256(&sha256(&fake(2, 64)), None).unwrap().name,
        "hashlist:full"
    );
    assert_eq!(
        db.lookup_sha1(&sha1(&fake(3, 40)), None).unwrap().name,
        "Formbook"
    );
    assert_eq!(
        db.lookup_md5(&md5(&fake(4, 32)), None).unwrap().name,
        "Broken"
    );
    assert!(db.lookup_md5(&md5(&fake(3, 32)), None).is_none());
    assert_eq!(db.len(), 10);
}

#[test]
fn csv_plain_header_quotes_and_semicolons() {
    let text = format!(
        "Name,SHA256,Comment\n\"Eicar, the test\",{EICAR_SHA256},\"multi\nline \"\"comment\"\"\"\nplain-name,{},x\n",
        fake(1, 64)
    );
    let mut b = HashDb::builder();
    let r = load(&mut b, &text, Format::Csv, ListKind::Good, "allow.csv");
    assert_eq!((r.entries, r.malformed, r.lines), (2, 0, 4));
    let db = b.build();
    let hit = db.lookup_sha256(&sha256(EICAR_SHA256), None).unwrap();
    assert_eq!((hit.name, hit.kind), ("Eicar, the test", ListKind::Good));
    assert_eq!(
        db.lookup_sha256(&sha256(&fake(1, 64)), None).unwrap().name,
        "plain-name"
    );

    let text = format!(
        "threat;md5\r\nEvil;{EICAR_MD5}\r\nOther;{}\r\n",
        fake(1, 64)
    );
    let mut b = HashDb::builder();
    let r = load(&mut b, &text, Format::Csv, ListKind::Bad, "x.csv");
    assert_eq!((r.entries, r.malformed), (1, 1));
    assert!(
        r.problems[0]
            .reason
            .contains("64-digit hash in a md5 column"),
        "{}",
        r.problems[0]
    );
    assert_eq!(
        b.build().lookup_md5(&md5(EICAR_MD5), None).unwrap().name,
        "Evil"
    );

    // A generic "hash" column takes any algorithm; a stray quote makes the row malformed.
    let text = format!("hash\n{EICAR_MD5}\n{EICAR_SHA1}\n\"{EICAR_SHA256}\"x\n");
    let mut b = HashDb::builder();
    let r = load(&mut b, &text, Format::Csv, ListKind::Bad, "h.csv");
    assert_eq!((r.entries, r.malformed), (2, 1));
    assert!(r.problems[0].reason.contains("quote"));
}

#[test]
fn csv_without_hash_column_is_an_error_and_rolls_back() {
    let mut b = HashDb::builder();
    load(
        &mut b,
        &format!("{}\n", fake(1, 64)),
        Format::HashList,
        ListKind::Bad,
        "ok.txt",
    );
    let text = format!("a,b\n{EICAR_MD5},x\n");
    let err = b
        .load_reader(text.as_bytes(), Format::Csv, ListKind::Bad, "bad.csv")
        .unwrap_err();
    assert!(matches!(err, HashDbError::NoHashColumn { .. }), "{err}");
    assert_eq!(b.pending(), 1);
    // Only comments: an empty list, not an error.
    let r = load(
        &mut b,
        "# nothing\n\n",
        Format::Csv,
        ListKind::Bad,
        "empty.csv",
    );
    assert_eq!((r.entries, r.malformed), (0, 0));
}

/// Yields `data`, then fails.
struct FailAfter<'a>(&'a [u8]);
impl Read for FailAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.0.is_empty() {
            return Err(io::Error::other("disk on fire"));
        }
        let n = self.0.len().min(buf.len());
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

#[test]
fn io_error_rolls_back_the_reader() {
    let data = format!("{}\n{}\n", fake(1, 64), fake(2, 64));
    let mut b = HashDb::builder();
    let reader: Box<dyn BufRead> =
        Box::new(BufReader::with_capacity(16, FailAfter(data.as_bytes())));
    let err = b
        .load_reader(reader, Format::HashList, ListKind::Bad, "net")
        .unwrap_err();
    assert!(matches!(err, HashDbError::Io { .. }));
    assert!(err.to_string().contains("disk on fire"));
    assert_eq!(b.pending(), 0);
}

#[test]
fn load_path_detects_formats() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    };
    let hdb = write("main.hdb", &format!("{EICAR_MD5}:68:Eicar\n"));
    let fp = write("local.FP", &format!("{}:5:Mine\n", fake(1, 32)));
    let txt = write("full_sha256.txt", &format!("# c\n{}\n", fake(2, 64)));
    let sniffed_clam = write("sigs", &format!("{}:*:Sniffed:73\n", fake(3, 40)));
    let csv_as_txt = write("export.txt", &bazaar_csv());
    let csv = write(
        "list.csv",
        &format!("sha1,signature\n{}, Foo\n", fake(5, 40)),
    );
    let mdb = write("main.mdb", "1:2:3\n");
    let junk = write("junk.dat", "hello\nworld\n");

    let mut b = HashDb::builder();
    let formats: Vec<Format> = [&hdb, &fp, &txt, &sniffed_clam, &csv_as_txt, &csv]
        .iter()
        .map(|p| b.load_path(p, ListKind::Bad).unwrap().format)
        .collect();
    assert_eq!(
        formats,
        [
            Format::Hdb,
            Format::Fp,
            Format::HashList,
            Format::Hsb,
            Format::Csv,
            Format::Csv
        ]
    );
    assert!(matches!(
        b.load_path(&mdb, ListKind::Bad),
        Err(HashDbError::Unsupported { .. })
    ));
    assert!(matches!(
        b.load_path(&junk, ListKind::Bad),
        Err(HashDbError::UnknownFormat { .. })
    ));
    assert!(matches!(
        b.load_path(dir.path().join("missing.hdb"), ListKind::Bad),
        Err(HashDbError::Io { .. })
    ));
    let db = b.build();
    let hit = db.lookup_md5(&md5(EICAR_MD5), Some(68)).unwrap();
    assert_eq!(hit.source, hdb.display().to_string());
    assert_eq!(
        db.lookup_md5(&md5(&fake(1, 32)), Some(5)).unwrap().kind,
        ListKind::Good
    );
    assert_eq!(
        db.lookup_sha256(&sha256(&fake(2, 64)), None).unwrap().name,
        "hashlist:full_sha256"
    );
    assert_eq!(
        db.lookup_sha1(&sha1(&fake(3, 40)), Some(9)).unwrap().name,
        "Sniffed"
    );
    assert_eq!(
        db.lookup_sha1(&sha1(&fake(1, 40)), None).unwrap().name,
        "AgentTesla"
    );
    assert_eq!(
        db.lookup_sha1(&sha1(&fake(5, 40)), None).unwrap().name,
        "Foo"
    );
}

#[test]
fn version_tracks_content_not_order_or_paths() {
    let a = format!("{EICAR_MD5}:68:Eicar\n");
    let c = format!("{}\n{}\n", fake(1, 64), fake(2, 40));
    let build = |first: (&str, Format, &str), second: (&str, Format, &str)| {
        let mut b = HashDb::builder();
        load(&mut b, first.0, first.1, ListKind::Bad, first.2);
        load(&mut b, second.0, second.1, ListKind::Bad, second.2);
        b.build()
    };
    let v1 = build(
        (&a, Format::Hdb, "/x/a.hdb"),
        (&c, Format::HashList, "/x/c.txt"),
    );
    let v2 = build(
        (&c, Format::HashList, "/y/c.txt"),
        (&a, Format::Hdb, "/y/a.hdb"),
    );
    assert_eq!(v1.version(), v2.version());
    assert_eq!(v1.version().len(), 16);
    assert!(v1.version().bytes().all(|b| b.is_ascii_hexdigit()));
    // A different size, name, kind or list changes it.
    for other in [
        build(
            (&a.replace(":68:", ":69:"), Format::Hdb, "a.hdb"),
            (&c, Format::HashList, "c.txt"),
        ),
        build(
            (&a.replace("Eicar", "Eicar2"), Format::Hdb, "a.hdb"),
            (&c, Format::HashList, "c.txt"),
        ),
        build((&a, Format::Fp, "a.fp"), (&c, Format::HashList, "c.txt")),
        build((&a, Format::Hdb, "a.hdb"), (&c, Format::HashList, "d.txt")), // default name differs
        build((&a, Format::Hdb, "a.hdb"), ("", Format::HashList, "c.txt")),
    ] {
        assert_ne!(other.version(), v1.version());
    }
    assert_eq!(
        HashDb::default().version(),
        HashDb::builder().build().version()
    );
}

#[test]
fn insert_validates_and_memory_is_reported() {
    let mut b = Builder::new();
    let h: HashValue = EICAR_SHA256.parse().unwrap();
    assert!(matches!(
        b.insert(h, None, ListKind::Bad, "", "api"),
        Err(HashDbError::InvalidName(_))
    ));
    assert!(matches!(
        b.insert(h, None, ListKind::Bad, "a\nb", "api"),
        Err(HashDbError::InvalidName(_))
    ));
    assert!("xyz".parse::<HashValue>().is_err());
    assert_eq!(h.to_string(), EICAR_SHA256);
    b.insert(h, Some(68), ListKind::Bad, "Eicar", "api")
        .unwrap();
    let db = b.build();
    assert!(!db.is_empty());
    assert!(db.memory_bytes() > 32);
    assert!(HashDb::default().is_empty());
    assert!(format!("{db:?}").contains("sha256: 1"));
}

#[test]
fn database_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<HashDb>();
    assert_send_sync::<Builder>();
    let mut b = HashDb::builder();
    b.insert(
        HashValue::Md5(md5(EICAR_MD5)),
        None,
        ListKind::Bad,
        "Eicar",
        "t",
    )
    .unwrap();
    let db = std::sync::Arc::new(b.build());
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let db = db.clone();
            std::thread::spawn(move || {
                (
                    db.lookup_md5(&md5(EICAR_MD5), None).is_some(),
                    db.version().to_owned(),
                )
            })
        })
        .collect();
    let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(results.iter().all(|(found, v)| *found && v == db.version()));
}
