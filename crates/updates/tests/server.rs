//! A running server picks up rule updates without a restart: installed by hand (as
//! `hashscan rules update` does, against the server's data directory) or by its own
//! schedule; its verdicts change, stored results of the older rules are rescanned, and a
//! rollback brings the older verdicts back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../server/tests/common/mod.rs"]
mod common;
mod support;

use std::time::{Duration, Instant};

use common::{SK, TestServer};
use hashscan_server::config::Config;
use hashscan_updates::{SourceConfig, SourceKind, UpdateConfig};
use serde_json::Value;
use support::{PackServer, rule, sha256_hex, tar_gz};

const MARK: &str = "hashscan-server-update-marker";

impl TestServer {
    fn signed_body(
        &self,
        method: &str,
        path: &str,
        body: impl Into<Vec<u8>>,
    ) -> reqwest::RequestBuilder {
        let body = body.into();
        let digest = sha256_hex(&body);
        reqwest::Client::new()
            .request(method.parse().unwrap(), self.url(path))
            .header(
                "authorization",
                self.auth_covering(SK, method, path, &[("x-cos-content-sha256", &digest)]),
            )
            .header("x-cos-content-sha256", digest)
            .body(body)
    }

    async fn get_json(&self, path: &str) -> Value {
        let r = reqwest::Client::new()
            .get(self.url(path))
            .header("authorization", self.auth_covering(SK, "GET", path, &[]))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        serde_json::from_str(&r.text().await.unwrap()).unwrap()
    }

    async fn ruleset(&self) -> String {
        self.get_json("/v1/version").await["ruleset"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Waits until the server's ruleset is no longer `old` (it follows the store's
    /// `current` pointer by polling); returns the new one.
    async fn ruleset_after(&self, old: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let now = self.ruleset().await;
            if now != old {
                return now;
            }
            assert!(Instant::now() < deadline, "the ruleset stayed {old}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn upload(&self, data: &[u8]) {
        let r = self
            .signed_body("POST", "/v1/detections", data.to_vec())
            .header("content-type", "application/octet-stream")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
    }

    /// Looks `sha256` up until its detection is done (a lookup of a stale result starts
    /// its rescan).
    async fn verdict(&self, sha256: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let d = self.get_json(&format!("/v1/detections/{sha256}")).await;
            if d["state"] != "detecting" {
                return d;
            }
            assert!(Instant::now() < deadline, "never finished: {d}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn configure(c: &mut Config, packs: &PackServer, pack: &[u8], interval_secs: u64) {
    c.outbound.allow_private = true;
    c.outbound.ca_file = Some(packs.ca_file.clone());
    c.rules = UpdateConfig {
        sources: vec![SourceConfig {
            name: "pack".into(),
            kind: SourceKind::Yara,
            url: packs.url("/pack.tar.gz"),
            sha256: Some(sha256_hex(pack)),
            minisign_key: None,
            signature_url: None,
            file_name: None,
        }],
        interval_secs,
        ..UpdateConfig::default()
    };
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_and_a_rollback_change_a_running_servers_verdicts() {
    let packs = PackServer::start().await;
    let pack = tar_gz(&[("pack/marker.yar", &rule("Server_Update_Marker", MARK, 95))]);
    packs.put("/pack.tar.gz", pack.clone());
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    // No schedule: the update is run by hand, as `hashscan rules update` does.
    configure(&mut config, &packs, &pack, 0);
    let server = TestServer::start(dir.path(), |c| configure(c, &packs, &pack, 0)).await;

    let file = format!("an ordinary looking page with {MARK} inside\n").into_bytes();
    let sha = sha256_hex(&file);
    server.upload(&file).await;
    let before = server.verdict(&sha).await;
    assert_eq!(before["verdict"], "clean", "{before}");
    let first_ruleset = server.ruleset().await;
    assert_eq!(before["ruleset"], first_ruleset.as_str());

    // The first update installs the pack: the server follows without a restart, and the
    // stored result, made under the older rules, is rescanned on lookup.
    let updater = hashscan_server::core::rule_updates::updater(&config).unwrap();
    let report = updater.update().await.unwrap();
    assert!(report.activated.is_some(), "{report:?}");
    let updated = server.ruleset_after(&first_ruleset).await;
    let after = server.verdict(&sha).await;
    assert_eq!(after["verdict"], "malicious", "{after}");
    assert_eq!(after["ruleset"], updated.as_str());
    assert_eq!(after["hits"][0]["name"], "Server_Update_Marker", "{after}");

    // A second pack, then a rollback to the first.
    let pack2 = tar_gz(&[("pack/marker.yar", &rule("Server_Update_Marker_2", MARK, 95))]);
    packs.put("/pack.tar.gz", pack2.clone());
    configure(&mut config, &packs, &pack2, 0);
    let updater = hashscan_server::core::rule_updates::updater(&config).unwrap();
    assert!(updater.update().await.unwrap().activated.is_some());
    let second = server.ruleset_after(&updated).await;
    let d = server.verdict(&sha).await;
    assert_eq!(d["hits"][0]["name"], "Server_Update_Marker_2", "{d}");

    hashscan_updates::rollback(updater.store()).unwrap();
    let back = server.ruleset_after(&second).await;
    assert_eq!(back, updated, "the first pack's version again");
    let d = server.verdict(&sha).await;
    assert_eq!(d["hits"][0]["name"], "Server_Update_Marker", "{d}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_updates_on_its_own_schedule() {
    let packs = PackServer::start().await;
    let pack = tar_gz(&[("marker.yar", &rule("Scheduled_Marker", MARK, 95))]);
    packs.put("/pack.tar.gz", pack.clone());
    let dir = tempfile::tempdir().unwrap();
    // The schedule's first update runs at start.
    let server = TestServer::start(dir.path(), |c| configure(c, &packs, &pack, 3600)).await;
    let file = format!("text {MARK} text\n").into_bytes();
    server.upload(&file).await;
    // Clean under the rules of the start, malicious once the update is in: a lookup of
    // the older result rescans it.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let d = server.verdict(&sha256_hex(&file)).await;
        if d["verdict"] == "malicious" {
            assert_eq!(d["hits"][0]["name"], "Scheduled_Marker", "{d}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the scheduled update never arrived: {d}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_without_a_pin_or_key_stops_the_server_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        data_dir: dir.path().to_path_buf(),
        ..Config::default()
    };
    config.rules.sources.push(SourceConfig {
        name: "loose".into(),
        kind: SourceKind::Yara,
        url: "https://rules.example/pack.yar".into(),
        sha256: None,
        minisign_key: None,
        signature_url: None,
        file_name: None,
    });
    let err = hashscan_server::Server::start(config, hashscan_server::StartOptions::default())
        .await
        .err()
        .expect("refused");
    assert!(
        err.to_string().contains("neither sha256 nor minisign_key"),
        "{err}"
    );
}
