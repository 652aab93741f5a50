#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `hashscan rules update|list|rollback|activate` as an operator runs them, against a data
//! directory and packs served over https on loopback.

use std::path::Path;
use std::process::{Command, Output};

#[path = "../../updates/tests/support/mod.rs"]
mod support;

use support::{PackServer, rule, sha256_hex};

async fn hashscan(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_hashscan"))
            .args(&args)
            .env_remove("HASHSCAN_CONFIG")
            .env_remove("HASHSCAN_DATA_DIR")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn write_config(path: &Path, data: &Path, packs: &PackServer, pin: &str) {
    std::fs::write(
        path,
        format!(
            "data_dir = {data:?}\n\
             [outbound]\nallow_private = true\nca_file = {ca:?}\n\
             [[rules.sources]]\nname = \"pack\"\nkind = \"yara\"\n\
             url = \"{url}\"\nsha256 = \"{pin}\"\n",
            data = data.display().to_string(),
            ca = packs.ca_file.display().to_string(),
            url = packs.url("/pack.yar"),
        ),
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_list_rollback_and_activate() {
    let packs = PackServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("hashscan.toml");
    let config_arg = config.display().to_string();

    let one = rule("Cli_One", "cli-marker-one", 90);
    packs.put("/pack.yar", one.clone());
    write_config(&config, &data, &packs, &sha256_hex(one.as_bytes()));
    let out = hashscan(&["rules", "list", "--config", &config_arg]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("no version installed"));

    let out = hashscan(&["rules", "update", "--config", &config_arg]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.contains("pack: updated (1 files"), "{stdout}");
    assert!(stdout.contains("activated version"), "{stdout}");

    let out = hashscan(&["rules", "update", "--config", &config_arg]).await;
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("pack: unchanged"));

    // The operator pins a new pack.
    let two = rule("Cli_Two", "cli-marker-two", 90);
    packs.put("/pack.yar", two.clone());
    write_config(&config, &data, &packs, &sha256_hex(two.as_bytes()));
    let out = hashscan(&["rules", "update", "--config", &config_arg]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));

    let out = hashscan(&["rules", "list", "--config", &config_arg]).await;
    let listed = text(&out.stdout);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "{listed}");
    assert!(
        lines[1].starts_with("* "),
        "the newest is current: {listed}"
    );
    let first_id = lines[0].split_whitespace().next().unwrap().to_string();

    let out = hashscan(&["rules", "rollback", "--config", &config_arg]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(&format!("to {first_id}")));
    let out = hashscan(&["rules", "list", "--config", &config_arg]).await;
    let listed = text(&out.stdout);
    assert!(listed.lines().next().unwrap().starts_with("* "), "{listed}");
    assert!(
        listed.lines().nth(1).unwrap().contains("rejected"),
        "{listed}"
    );

    // The rejected pack is still what upstream serves: an update leaves it out.
    let out = hashscan(&["rules", "update", "--config", &config_arg]).await;
    assert!(
        text(&out.stdout).contains("not activated"),
        "{}",
        text(&out.stdout)
    );

    // By hand it can come back.
    let second_id = listed
        .lines()
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    let out = hashscan(&["rules", "activate", "--config", &config_arg, &second_id]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let out = hashscan(&["rules", "list", "--config", &config_arg]).await;
    assert!(text(&out.stdout).lines().nth(1).unwrap().starts_with("* "));

    // A second rollback from the first version has nowhere to go.
    let _ = hashscan(&["rules", "rollback", "--config", &config_arg]).await;
    let out = hashscan(&["rules", "rollback", "--config", &config_arg]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("nothing to roll back to"),
        "{}",
        text(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatch_exits_1_and_an_unverified_source_exits_2() {
    let packs = PackServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("hashscan.toml");
    let config_arg = config.display().to_string();
    packs.put("/pack.yar", rule("Cli_One", "cli-marker-one", 90));
    write_config(&config, &data, &packs, &"0".repeat(64));
    let out = hashscan(&["rules", "update", "--config", &config_arg]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stdout).contains("SHA-256 mismatch"),
        "{}",
        text(&out.stdout)
    );

    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[[rules.sources]]\nname = \"p\"\nkind = \"yara\"\nurl = \"https://rules.example/p.yar\"\n",
            data.display().to_string()
        ),
    )
    .unwrap();
    let out = hashscan(&["rules", "update", "--config", &config_arg]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("neither sha256 nor minisign_key"),
        "{}",
        text(&out.stderr)
    );
}
