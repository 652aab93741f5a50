#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Property tests: arbitrary input never panics a loader; lookups agree with a HashMap model.

use std::collections::HashMap;

use hashscan_hashdb::{Digests, Format, HashDb, HashValue, ListKind};
use proptest::prelude::*;

fn hash_value() -> impl Strategy<Value = HashValue> {
    prop_oneof![
        any::<[u8; 16]>().prop_map(HashValue::Md5),
        any::<[u8; 20]>().prop_map(HashValue::Sha1),
        any::<[u8; 32]>().prop_map(HashValue::Sha256),
        // Few distinct prefixes: exercises shared index buckets.
        (0u8..4, any::<u8>()).prop_map(|(a, b)| {
            let mut k = [0u8; 32];
            k[0] = a;
            k[31] = b;
            HashValue::Sha256(k)
        }),
    ]
}

fn kind() -> impl Strategy<Value = ListKind> {
    prop_oneof![Just(ListKind::Bad), Just(ListKind::Good)]
}

/// Input made of pieces the parsers care about, so that they get past the first checks.
fn listish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"44d88612fea8a8f36de82e1278abb02f".to_vec()),
        Just(b"3395856ce81f2b7382dee72602f798b642f14140".to_vec()),
        Just(b":".to_vec()),
        Just(b",".to_vec()),
        Just(b";".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"#".to_vec()),
        Just(b"*".to_vec()),
        Just(b"sha256_hash".to_vec()),
        Just(b"signature".to_vec()),
        Just(b"md5".to_vec()),
        Just(b" ".to_vec()),
        Just(b"18446744073709551616".to_vec()),
        Just(b"\xef\xbb\xbf".to_vec()),
        prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn loaders_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048), shaped in listish()) {
        for format in Format::ALL {
            for input in [&bytes, &shaped] {
                let mut b = HashDb::builder();
                if let Ok(report) = b.load_reader(&input[..], format, ListKind::Bad, "fuzz") {
                    prop_assert!(report.problems.len() as u64 <= report.malformed);
                    prop_assert_eq!(report.entries as usize, b.pending());
                }
                let db = b.build();
                let _ = db.version();
                let _ = db.lookup(&Digests::default(), 0);
            }
            let _ = Format::sniff(&bytes);
            let _ = Format::sniff(&shaped);
        }
    }

    #[test]
    fn lookup_agrees_with_model(
        pool in prop::collection::vec(hash_value(), 1..40),
        ops in prop::collection::vec((any::<prop::sample::Index>(), prop::option::of(0u64..4), kind(), 0u8..3), 0..120),
        probes in prop::collection::vec((any::<prop::sample::Index>(), prop::option::of(0u64..4)), 1..60),
    ) {
        let mut b = HashDb::builder();
        // Model: per hash, the first good entry if any, else the first entry.
        let mut model: HashMap<HashValue, (Option<u64>, ListKind, String)> = HashMap::new();
        for (idx, size, kind, name) in &ops {
            let hash = *idx.get(&pool);
            let name = format!("n{name}");
            b.insert(hash, *size, *kind, &name, "model").unwrap();
            let replace = match model.get(&hash) {
                None => true,
                Some((_, old, _)) => *old == ListKind::Bad && *kind == ListKind::Good,
            };
            if replace {
                model.insert(hash, (*size, *kind, name));
            }
        }
        let db = b.build();
        prop_assert_eq!(db.len(), model.len());
        let expect = |hash: &HashValue, size: Option<u64>| {
            model.get(hash).and_then(|(want, kind, name)| {
                let ok = match (want, size) { (Some(w), Some(s)) => *w == s, _ => true };
                ok.then(|| (*kind, name.clone()))
            })
        };
        for (idx, size) in &probes {
            let hash = *idx.get(&pool);
            let got = match hash {
                HashValue::Md5(k) => db.lookup_md5(&k, *size),
                HashValue::Sha1(k) => db.lookup_sha1(&k, *size),
                HashValue::Sha256(k) => db.lookup_sha256(&k, *size),
            };
            let got = got.map(|h| {
                assert_eq!(h.algorithm, hash.algorithm());
                assert_eq!(h.source, "model");
                (h.kind, h.name.to_owned())
            });
            prop_assert_eq!(got, expect(&hash, *size));
        }
        // Whole-file lookups: combine one hash of each algorithm from the pool.
        let pick = |f: &dyn Fn(&HashValue) -> bool| pool.iter().find(|h| f(h)).copied();
        let md5 = pick(&|h| matches!(h, HashValue::Md5(_)));
        let sha1 = pick(&|h| matches!(h, HashValue::Sha1(_)));
        let sha256 = pick(&|h| matches!(h, HashValue::Sha256(_)));
        let digests = Digests {
            md5: match md5 { Some(HashValue::Md5(k)) => k, _ => [0xee; 16] },
            sha1: match sha1 { Some(HashValue::Sha1(k)) => k, _ => [0xee; 20] },
            sha256: match sha256 { Some(HashValue::Sha256(k)) => k, _ => [0xee; 32] },
        };
        for size in 0u64..4 {
            let found: Vec<(ListKind, String)> = [sha256, sha1, md5]
                .iter()
                .flatten()
                .filter_map(|h| expect(h, Some(size)))
                .collect();
            let want = found.iter().find(|(k, _)| *k == ListKind::Good).or(found.first()).cloned();
            let got = db.lookup(&digests, size).map(|h| (h.kind, h.name.to_owned()));
            prop_assert_eq!(got, want);
        }
    }
}
