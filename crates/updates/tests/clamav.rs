//! ClamAV databases as an update source, with a real clamd (`scripts/install-clamav`): the
//! verified database is copied into clamd's database directory, clamd reloads, the
//! detector's version changes, and a rollback takes the database back out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../clamd/tests/support/mod.rs"]
mod clamd_support;
mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clamd_support::Daemon;
use hashscan_clamd::ScanResult;
use hashscan_detect::{Config, Detector, EngineKind, RuleConfig, RuleStore, Verdict};
use hashscan_updates::{Outbound, SourceConfig, SourceKind, UpdateConfig, Updater};
use support::{PackServer, Signer};

const SIG: &str = "Hashscan-Update-Clamav-Marker";

/// Waits until clamd (reloading in the background) answers `want` for `data`.
fn clamd_says(daemon: &Daemon, data: &[u8], want: &ScanResult) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = daemon.tcp().scan_bytes(data).unwrap();
        if &got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "clamd still says {got:?}; log:\n{}",
            daemon.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What clamd answers for a signature of an installed database: databases it does not know
/// as official add `.UNOFFICIAL`.
fn found(signature: &str) -> ScanResult {
    ScanResult::Found {
        signature: format!("{signature}.UNOFFICIAL"),
    }
}

async fn wait_for(daemon: &Arc<Daemon>, data: &[u8], want: ScanResult) {
    let (daemon, data) = (daemon.clone(), data.to_vec());
    tokio::task::spawn_blocking(move || clamd_says(&daemon, &data, &want))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clamav_databases_reach_clamd_and_its_version_is_part_of_the_ruleset() {
    let daemon = Arc::new(tokio::task::spawn_blocking(Daemon::start).await.unwrap());
    let db = daemon.dir.path().join("db");
    let packs = PackServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let store = RuleStore::new(dir.path().join("rules"));
    let (detector, _) = Detector::new(Config {
        rules: RuleConfig {
            paths: vec![],
            default_pack: false,
        },
        clamd: Some(daemon.tcp()),
        store: Some(store.clone()),
        ..Config::default()
    })
    .unwrap();
    let detector = Arc::new(detector);
    let marked = b"a file that only the updated ClamAV database knows\n".to_vec();
    let md5 = detector.scan_bytes(&marked).md5;
    assert_eq!(detector.scan_bytes(&marked).verdict, Verdict::Clean);

    let signer = Signer::new();
    let serve = |text: String| {
        packs.put("/main.hdb", text.clone());
        packs.put("/main.hdb.minisig", signer.sign(text.as_bytes()));
    };
    let updater = Updater::new(
        UpdateConfig {
            sources: vec![SourceConfig {
                name: "clam".into(),
                kind: SourceKind::Clamav,
                url: packs.url("/main.hdb"),
                sha256: None,
                minisign_key: Some(signer.public_key()),
                signature_url: None,
                file_name: None,
            }],
            clamav_dir: Some(db.clone()),
            ..UpdateConfig::default()
        },
        store.clone(),
        &Outbound {
            allow_private: true,
            ca_file: Some(packs.ca_file.clone()),
        },
    )
    .unwrap()
    .with_clamd(Some(daemon.tcp()));

    // A first database that does not know the file (but another one). clamd ignores a
    // RELOAD while it is still reloading, so each step waits until clamd shows it.
    let other = b"another file, known to the first database\n".to_vec();
    let other_md5 = detector.scan_bytes(&other).md5;
    serve(format!(
        "{other_md5}:{}:Hashscan-Update-Other\n",
        other.len()
    ));
    assert!(updater.update().await.unwrap().activated.is_some());
    wait_for(&daemon, &other, found("Hashscan-Update-Other")).await;
    detector.refresh();
    let first = detector.version();
    assert!(first.contains("-cdb"), "{first}");

    // The next one does: clamd has it when the update returns and reloads.
    serve(format!("{md5}:{}:{SIG}\n", marked.len()));
    let report = updater.update().await.unwrap();
    assert!(report.activated.is_some(), "{report:?}");
    assert!(db.join("hashscan-update-clam-main.hdb").is_file());
    wait_for(&daemon, &marked, found(SIG)).await;
    detector.refresh();
    let second = detector.version();
    assert_ne!(second, first);
    let r = detector.scan_bytes(&marked);
    assert_eq!(r.verdict, Verdict::Malicious, "{r:?}");
    assert_eq!(r.hits[0].engine, EngineKind::Clamav);
    assert_eq!(r.hits[0].name, format!("{SIG}.UNOFFICIAL"));
    let r = detector.scan_bytes(&other);
    assert_eq!(
        r.verdict,
        Verdict::Clean,
        "the first database is gone: {r:?}"
    );

    // A broken database is refused before clamd sees it.
    serve("this is not a hash database\n".into());
    let report = updater.update().await.unwrap();
    assert!(!report.all_ok() && report.activated.is_none(), "{report:?}");

    // Rollback: the first database again, in clamd and in the version.
    updater.rollback().unwrap();
    wait_for(&daemon, &marked, ScanResult::Clean).await;
    wait_for(&daemon, &other, found("Hashscan-Update-Other")).await;
    detector.refresh();
    assert_eq!(detector.version(), first);
    assert_eq!(detector.scan_bytes(&marked).verdict, Verdict::Clean);
    // The files clamd's own setup put there are left alone.
    assert!(db.join("hashscan-test.hdb").is_file());
}
