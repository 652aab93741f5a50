//! Rule and intelligence updates end to end: packs served by a real https server on
//! loopback (its CA trusted through the fetcher's CA file), fetched through the safe
//! fetcher, verified, checked and installed; a detector that follows the store changes its
//! verdicts without being rebuilt.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use hashscan_detect::{Config, Detector, RuleConfig, RuleStore, Verdict};
use hashscan_updates::{Outbound, Outcome, SourceConfig, SourceKind, UpdateConfig, Updater};
use support::{PackServer, Signer, rule, sha256_hex, tar_gz, zip};

const MARK_ONE: &str = "hashscan-update-marker-one";
const MARK_TWO: &str = "hashscan-update-marker-two";

fn outbound(server: &PackServer) -> Outbound {
    Outbound {
        allow_private: true,
        ca_file: Some(server.ca_file.clone()),
    }
}

fn pinned(name: &str, kind: SourceKind, url: String, data: &[u8]) -> SourceConfig {
    SourceConfig {
        name: name.into(),
        kind,
        url,
        sha256: Some(sha256_hex(data)),
        minisign_key: None,
        signature_url: None,
        file_name: None,
    }
}

fn signed(name: &str, kind: SourceKind, url: String, key: &str) -> SourceConfig {
    SourceConfig {
        name: name.into(),
        kind,
        url,
        sha256: None,
        minisign_key: Some(key.into()),
        signature_url: None,
        file_name: None,
    }
}

fn config(sources: Vec<SourceConfig>) -> UpdateConfig {
    UpdateConfig {
        sources,
        ..UpdateConfig::default()
    }
}

/// A detector with no rules of its own, following `store`.
fn detector(store: &RuleStore) -> Arc<Detector> {
    let (d, _) = Detector::new(Config {
        rules: RuleConfig {
            paths: vec![],
            default_pack: false,
        },
        store: Some(store.clone()),
        ..Config::default()
    })
    .unwrap();
    Arc::new(d)
}

fn sample(marker: &str) -> Vec<u8> {
    format!("some harmless text around {marker} and more text\n").into_bytes()
}

fn outcome<'a>(report: &'a hashscan_updates::UpdateReport, name: &str) -> &'a Outcome {
    &report
        .sources
        .iter()
        .find(|s| s.name == name)
        .unwrap()
        .outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_good_update_activates_and_a_running_detector_follows() {
    let server = PackServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = RuleStore::new(dir.path().join("rules"));
    let d = detector(&store);
    assert_eq!(d.scan_bytes(&sample(MARK_ONE)).verdict, Verdict::Clean);
    let before = d.version();

    let pack = tar_gz(&[
        ("pack/one.yar", &rule("Update_One", MARK_ONE, 90)),
        ("pack/README", "not a rule file"),
    ]);
    server.put("/pack.tar.gz", pack.clone());
    let updater = Updater::new(
        config(vec![pinned(
            "webpack",
            SourceKind::Yara,
            server.url("/pack.tar.gz"),
            &pack,
        )]),
        store.clone(),
        &outbound(&server),
    )
    .unwrap();
    let report = updater.update().await.unwrap();
    assert!(report.all_ok(), "{report:?}");
    let manifest = report.activated.clone().expect("a new version");
    assert_eq!(
        store.current().unwrap().as_deref(),
        Some(manifest.id.as_str())
    );
    assert_eq!(manifest.sources[0].files, ["one.yar"]);
    assert_eq!(manifest.sources[0].verified_by, "sha256");

    // The running detector follows the store: its fingerprint changed, a refresh takes it.
    let fingerprint = d.rule_fingerprint();
    let refreshed = d.refresh();
    assert!(
        refreshed.rules.problems.is_empty(),
        "{:?}",
        refreshed.rules.problems
    );
    assert_ne!(d.version(), before);
    let report = d.scan_bytes(&sample(MARK_ONE));
    assert_eq!(report.verdict, Verdict::Malicious, "{report:?}");
    assert_eq!(report.hits[0].name, "Update_One");
    assert_eq!(d.rule_fingerprint(), fingerprint);

    // Nothing changed upstream: no new version.
    let again = updater.update().await.unwrap();
    assert!(again.activated.is_none(), "{again:?}");
    assert_eq!(outcome(&again, "webpack"), &Outcome::Unchanged);
    assert_eq!(store.versions().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sha256_mismatch_is_refused_and_the_working_rules_stay() {
    let server = PackServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = RuleStore::new(dir.path().join("rules"));
    let good = rule("Update_One", MARK_ONE, 90);
    server.put("/one.yar", good.clone());
    let source = pinned(
        "single",
        SourceKind::Yara,
        server.url("/one.yar"),
        good.as_bytes(),
    );
    let updater = Updater::new(config(vec![source]), store.clone(), &outbound(&server)).unwrap();
    let first = updater.update().await.unwrap();
    let working = first.activated.unwrap().id;

    // The server now sends something else under the same URL.
    server.put("/one.yar", rule("Update_Evil", MARK_TWO, 90));
    let report = updater.update().await.unwrap();
    match outcome(&report, "single") {
        Outcome::Failed { error, kept } => {
            assert!(error.contains("SHA-256 mismatch"), "{error}");
            assert!(kept);
        }
        other => panic!("{other:?}"),
    }
    assert!(report.activated.is_none());
    assert_eq!(store.current().unwrap(), Some(working));
    let d = detector(&store);
    assert_eq!(d.scan_bytes(&sample(MARK_ONE)).verdict, Verdict::Malicious);
    assert_eq!(d.scan_bytes(&sample(MARK_TWO)).verdict, Verdict::Clean);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minisign_signatures_are_checked() {
    let server = PackServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = RuleStore::new(dir.path().join("rules"));
    let signer = Signer::new();
    let pack = zip(&[("rules/one.yar", &rule("Update_One", MARK_ONE, 90))]);
    server.put("/pack.zip", pack.clone());
    server.put("/pack.zip.minisig", signer.sign(&pack));
    let source = signed(
        "signed",
        SourceKind::Yara,
        server.url("/pack.zip"),
        &signer.public_key(),
    );
    let updater = Updater::new(config(vec![source]), store.clone(), &outbound(&server)).unwrap();
    let first = updater.update().await.unwrap();
    assert!(first.all_ok(), "{first:?}");
    let working = first.activated.unwrap();
    assert_eq!(working.sources[0].verified_by, "minisign");

    // A new pack whose signature is another key's: refused.
    let other = Signer::new();
    let pack2 = zip(&[("rules/two.yar", &rule("Update_Two", MARK_TWO, 90))]);
    server.put("/pack.zip", pack2.clone());
    server.put("/pack.zip.minisig", other.sign(&pack2));
    let report = updater.update().await.unwrap();
    match outcome(&report, "signed") {
        Outcome::Failed { error, .. } => assert!(error.contains("minisign"), "{error}"),
        other => panic!("{other:?}"),
    }
    // The right key's signature of other bytes: refused too.
    server.put("/pack.zip.minisig", signer.sign(&pack));
    let report = updater.update().await.unwrap();
    match outcome(&report, "signed") {
        Outcome::Failed { error, .. } => {
            assert!(error.contains("bad minisign signature"), "{error}");
        }
        other => panic!("{other:?}"),
    }
    // A "signature" past the 16 KiB a signature may take: refused unread.
    server.put("/pack.zip.minisig", vec![b'x'; 17 << 10]);
    let report = updater.update().await.unwrap();
    match outcome(&report, "signed") {
        Outcome::Failed { error, .. } => {
            assert!(error.contains("larger than the limit"), "{error}")
        }
        other => panic!("{other:?}"),
    }
    // No signature at all: refused.
    server.put("/pack.zip.minisig", Vec::new());
    let report = updater.update().await.unwrap();
    assert!(matches!(outcome(&report, "signed"), Outcome::Failed { .. }));
    assert_eq!(store.current().unwrap(), Some(working.id.clone()));

    // Signed by the right key: taken.
    server.put("/pack.zip.minisig", signer.sign(&pack2));
    let report = updater.update().await.unwrap();
    assert!(report.all_ok(), "{report:?}");
    let d = detector(&store);
    assert_eq!(d.scan_bytes(&sample(MARK_TWO)).verdict, Verdict::Malicious);
    assert_eq!(d.scan_bytes(&sample(MARK_ONE)).verdict, Verdict::Clean);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pack_that_does_not_compile_never_replaces_the_working_one() {
    let server = PackServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = RuleStore::new(dir.path().join("rules"));
    let signer = Signer::new();
    let good = tar_gz(&[("one.yar", &rule("Update_One", MARK_ONE, 90))]);
    server.put("/p.tar.gz", good.clone());
    server.put("/p.tar.gz.minisig", signer.sign(&good));
    let updater = Updater::new(
        config(vec![signed(
            "pack",
            SourceKind::Yara,
            server.url("/p.tar.gz"),
            &signer.public_key(),
        )]),
        store.clone(),
        &outbound(&server),
    )
    .unwrap();
    let working = updater.update().await.unwrap().activated.unwrap().id;
    let d = detector(&store);
    let version = d.version();

    // Properly signed, but one of its files does not compile.
    let broken = tar_gz(&[
        ("one.yar", &rule("Update_One", MARK_ONE, 90)),
        (
            "two.yar",
            "rule Broken { strings: $a = \"x\" condition: $b }",
        ),
    ]);
    server.put("/p.tar.gz", broken.clone());
    server.put("/p.tar.gz.minisig", signer.sign(&broken));
    let report = updater.update().await.unwrap();
    match outcome(&report, "pack") {
        Outcome::Failed { error, kept } => {
            assert!(error.contains("does not compile"), "{error}");
            assert!(error.contains("two.yar"), "{error}");
            assert!(kept);
        }
        other => panic!("{other:?}"),
    }
    assert!(report.activated.is_none());
    assert_eq!(store.current().unwrap(), Some(working));
    assert_eq!(store.versions().unwrap().len(), 1);
    d.refresh();
    assert_eq!(d.version(), version);
    assert_eq!(d.scan_bytes(&sample(MARK_ONE)).verdict, Verdict::Malicious);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_restores_the_previous_version_and_keeps_it() {
    let server = PackServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = RuleStore::new(dir.path().join("rules"));
    let signer = Signer::new();
    let serve = |text: String| {
        let data = text.into_bytes();
        server.put("/r.yar", data.clone());
        server.put("/r.yar.minisig", signer.sign(&data));
    };
    serve(rule("Update_One", MARK_ONE, 90));
    let updater = Updater::new(
        config(vec![signed(
            "r",
            SourceKind::Yara,
            server.url("/r.yar"),
            &signer.public_key(),
        )]),
        store.clone(),
        &outbound(&server),
    )
    .unwrap();
    let v1 = updater.update().await.unwrap().activated.unwrap().id;
    let d = detector(&store);
    let version_one = d.version();
    serve(rule("Update_Two", MARK_TWO, 90));
    let v2 = updater.update().await.unwrap().activated.unwrap();
    assert_eq!(v2.previous.as_deref(), Some(v1.as_str()));
    d.refresh();
    assert_eq!(d.scan_bytes(&sample(MARK_TWO)).verdict, Verdict::Malicious);
    assert_eq!(d.scan_bytes(&sample(MARK_ONE)).verdict, Verdict::Clean);

    let (rejected, now) = hashscan_updates::rollback(&store).unwrap();
    assert_eq!((rejected, now.clone()), (v2.id.clone(), v1.clone()));
    assert_eq!(store.current().unwrap(), Some(v1.clone()));
    d.refresh();
    assert_eq!(d.version(), version_one, "the same rules, the same version");
    assert_eq!(d.scan_bytes(&sample(MARK_ONE)).verdict, Verdict::Malicious);
    assert_eq!(d.scan_bytes(&sample(MARK_TWO)).verdict, Verdict::Clean);

    // Upstream still serves the rolled-back pack: it is not brought back.
    let report = updater.update().await.unwrap();
    assert!(report.activated.is_none(), "{report:?}");
    assert!(report.skipped.as_deref().unwrap().contains(&v2.id));
    assert_eq!(store.current().unwrap(), Some(v1));
    // A newer pack is.
    serve(rule("Update_Three", MARK_TWO, 95));
    assert!(updater.update().await.unwrap().activated.is_some());
}

fn bazaar_csv(rows: &[&[u8]]) -> String {
    let mut s = String::from(
        "# MalwareBazaar full malware samples dump (CSV)\r\n\
         # \"first_seen_utc\",\"sha256_hash\",\"md5_hash\",\"sha1_hash\",\"reporter\",\"file_name\",\"file_type_guess\",\"mime_type\",\"signature\",\"clamav\"\r\n",
    );
    for data in rows {
        s.push_str(&format!(
            "\"2026-01-01 00:00:00\", \"{}\", \"{}\", \"{}\", \"abuse_ch\", \"x.exe\", \"exe\", \"application/x-dosexec\", \"AgentTesla\", \"Win.Trojan.X\"\r\n",
            sha256_hex(data),
            "0".repeat(32),
            "0".repeat(40),
        ));
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hash_lists_reload_and_change_lookups() {
    let server = PackServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = RuleStore::new(dir.path().join("rules"));
    let bad_one = b"first file listed as malware".to_vec();
    let bad_two = b"second file listed as malware".to_vec();
    let d = detector(&store);
    assert_eq!(d.scan_bytes(&bad_one).verdict, Verdict::Clean);

    // MalwareBazaar's export comes zipped.
    let signer = Signer::new();
    let list = zip(&[("full.csv", &bazaar_csv(&[&bad_one]))]);
    server.put("/full.csv.zip", list.clone());
    server.put("/full.csv.zip.minisig", signer.sign(&list));
    let updater = Updater::new(
        config(vec![signed(
            "bazaar",
            SourceKind::Hashlist,
            server.url("/full.csv.zip"),
            &signer.public_key(),
        )]),
        store.clone(),
        &outbound(&server),
    )
    .unwrap();
    let report = updater.update().await.unwrap();
    assert!(report.all_ok(), "{report:?}");
    let refreshed = d.refresh();
    // Its SHA-256, MD5 and SHA-1 columns.
    assert_eq!(refreshed.hashes, 3, "{refreshed:?}");
    assert!(refreshed.list_problems.is_empty(), "{refreshed:?}");
    let r = d.scan_bytes(&bad_one);
    assert_eq!(r.verdict, Verdict::Malicious, "{r:?}");
    assert_eq!(r.hits[0].name, "AgentTesla");
    assert!(
        r.hits[0].description.contains("updates/bazaar/full.csv"),
        "named where it was configured, not where it lies: {}",
        r.hits[0].description
    );
    assert_eq!(d.scan_bytes(&bad_two).verdict, Verdict::Clean);
    let version_one = d.version();

    let list = zip(&[("full.csv", &bazaar_csv(&[&bad_two]))]);
    server.put("/full.csv.zip", list.clone());
    server.put("/full.csv.zip.minisig", signer.sign(&list));
    assert!(updater.update().await.unwrap().activated.is_some());
    d.refresh();
    assert_eq!(d.scan_bytes(&bad_one).verdict, Verdict::Clean);
    assert_eq!(d.scan_bytes(&bad_two).verdict, Verdict::Malicious);
    assert_ne!(d.version(), version_one);

    // A "list" without a hash is refused; the working list stays.
    let empty = b"# nothing here\n".to_vec();
    server.put("/full.csv.zip", empty.clone());
    server.put("/full.csv.zip.minisig", signer.sign(&empty));
    let report = updater.update().await.unwrap();
    assert!(
        matches!(
            outcome(&report, "bazaar"),
            Outcome::Failed { kept: true, .. }
        ),
        "{report:?}"
    );
    d.refresh();
    assert_eq!(d.scan_bytes(&bad_two).verdict, Verdict::Malicious);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversize_download_is_refused() {
    let server = PackServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = RuleStore::new(dir.path().join("rules"));
    let mut big = rule("Update_One", MARK_ONE, 90);
    big.push_str(&format!("// {}\n", "x".repeat(8 << 10)));
    server.put("/big.yar", big.clone());
    let mut c = config(vec![pinned(
        "big",
        SourceKind::Yara,
        server.url("/big.yar"),
        big.as_bytes(),
    )]);
    c.max_download_bytes = 4 << 10;
    let updater = Updater::new(c, store.clone(), &outbound(&server)).unwrap();
    let report = updater.update().await.unwrap();
    match outcome(&report, "big") {
        Outcome::Failed { error, kept } => {
            assert!(error.contains("larger than the limit"), "{error}");
            assert!(!kept);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(store.current().unwrap(), None);

    // An archive that expands past the unpacked limit is refused as well.
    let filler = "// padding\n".repeat(4096);
    let pack = tar_gz(&[("a.yar", &format!("{}{filler}", rule("A", MARK_ONE, 90)))]);
    server.put("/bomb.tar.gz", pack.clone());
    let mut c = config(vec![pinned(
        "bomb",
        SourceKind::Yara,
        server.url("/bomb.tar.gz"),
        &pack,
    )]);
    c.max_unpacked_bytes = 16 << 10;
    let updater = Updater::new(c, store.clone(), &outbound(&server)).unwrap();
    let report = updater.update().await.unwrap();
    match outcome(&report, "bomb") {
        Outcome::Failed { error, .. } => assert!(error.contains("cannot be read whole"), "{error}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unverified_sources_and_private_addresses_are_refused() {
    let server = PackServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = RuleStore::new(dir.path().join("rules"));
    let mut source = pinned("p", SourceKind::Yara, server.url("/x.yar"), b"x");
    source.sha256 = None;
    let err = Updater::new(config(vec![source]), store.clone(), &outbound(&server)).unwrap_err();
    assert!(
        err.to_string().contains("neither sha256 nor minisign_key"),
        "{err}"
    );

    // Without allow_private the fetcher's address policy refuses loopback.
    let good = rule("Update_One", MARK_ONE, 90);
    server.put("/one.yar", good.clone());
    let strict = Outbound {
        allow_private: false,
        ca_file: Some(server.ca_file.clone()),
    };
    let updater = Updater::new(
        config(vec![pinned(
            "p",
            SourceKind::Yara,
            server.url("/one.yar"),
            good.as_bytes(),
        )]),
        store.clone(),
        &strict,
    )
    .unwrap();
    let report = updater.update().await.unwrap();
    match outcome(&report, "p") {
        Outcome::Failed { error, .. } => assert!(error.contains("refused"), "{error}"),
        other => panic!("{other:?}"),
    }
    // Without the CA the server's certificate is not trusted.
    let untrusted = Outbound {
        allow_private: true,
        ca_file: None,
    };
    let updater = Updater::new(
        config(vec![pinned(
            "p",
            SourceKind::Yara,
            server.url("/one.yar"),
            good.as_bytes(),
        )]),
        store.clone(),
        &untrusted,
    )
    .unwrap();
    let report = updater.update().await.unwrap();
    assert!(
        matches!(outcome(&report, "p"), Outcome::Failed { .. }),
        "{report:?}"
    );
    assert_eq!(store.current().unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_does_not_depend_on_where_rules_are_installed() {
    let server = PackServer::start().await;
    let pack = rule("Update_One", MARK_ONE, 90);
    server.put("/one.yar", pack.clone());
    let mut versions = Vec::new();
    for _ in 0..2 {
        let dir = tempfile::tempdir().unwrap();
        let store = RuleStore::new(dir.path().join("somewhere").join("rules"));
        let updater = Updater::new(
            config(vec![pinned(
                "p",
                SourceKind::Yara,
                server.url("/one.yar"),
                pack.as_bytes(),
            )]),
            store.clone(),
            &outbound(&server),
        )
        .unwrap();
        updater.update().await.unwrap();
        versions.push(detector(&store).version());
    }
    assert_eq!(versions[0], versions[1]);

    // Rule directories configured at different places: the same version too.
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    let mut v = Vec::new();
    for root in [a.path(), b.path()] {
        let rules = root.join("rules");
        std::fs::create_dir_all(rules.join("sub")).unwrap();
        std::fs::write(rules.join("sub").join("one.yar"), &pack).unwrap();
        let set = RuleConfig {
            paths: vec![rules],
            default_pack: false,
        }
        .load();
        v.push(set.version().to_string());
    }
    assert_eq!(v[0], v[1]);
}
