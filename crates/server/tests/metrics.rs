//! The operator's endpoints on the real server: `/metrics` (Prometheus text that parses, with
//! the requests, jobs and ruleset of this server), `/healthz` and `/readyz`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use hashscan_server::meta::jobs::{JobStore, NewJob, QueueState};
use hashscan_server::meta::sqlite::jobs::SqliteJobStore;

mod common;
use common::{BUCKET, TestServer};

const RULE: &str = "rule metrics_test { strings: $a = \"metrics-test-marker\" condition: $a }\n";

/// The detection configuration of these tests: one small rule file, no default pack.
fn rules(dir: &Path) -> Vec<std::path::PathBuf> {
    let path = dir.join("test.yar");
    std::fs::write(&path, RULE).unwrap();
    vec![path]
}

/// A server with one small rule file and no default pack.
async fn start(data: &Path, rules_dir: &Path) -> TestServer {
    TestServer::start(data, |config| {
        config.detect.rules = rules(rules_dir);
        config.detect.no_default_rules = true;
        // Callbacks go to a closed loopback port.
        config.callbacks.allow_private = true;
    })
    .await
}

impl TestServer {
    /// A signed COS request (`path_and_query`: the query is not signed).
    async fn send(&self, method: &str, path_and_query: &str, body: &str) -> reqwest::Response {
        let path = path_and_query.split('?').next().unwrap();
        reqwest::Client::new()
            .request(method.parse().unwrap(), self.url(path_and_query))
            .header("authorization", self.auth(method, path))
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    async fn get_plain(&self, path: &str) -> reqwest::Response {
        reqwest::get(self.url(path)).await.unwrap()
    }

    /// Scrapes `/metrics`, checks the text, and returns its samples.
    async fn scrape(&self) -> Samples {
        let r = self.get_plain("/metrics").await;
        assert_eq!(r.status(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
        parse_exposition(&r.text().await.unwrap())
    }
}

/// Samples by their series: `name{k="v",…}` with labels sorted.
type Samples = BTreeMap<String, f64>;

fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let mut labels: Vec<_> = labels.to_vec();
    labels.sort();
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

fn value(samples: &Samples, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples.get(&series(name, labels)).copied()
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Parses Prometheus text format 0.0.4 strictly: every line is `# HELP name text`,
/// `# TYPE name type` (once per name, before its samples) or `name{labels} value`.
fn parse_exposition(text: &str) -> Samples {
    assert!(text.ends_with('\n'), "the text ends with a newline");
    let mut samples = Samples::new();
    let mut typed: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# ") {
            let mut parts = rest.splitn(3, ' ');
            let (kind, name, tail) = (parts.next(), parts.next(), parts.next());
            let name = name.unwrap_or_else(|| panic!("comment without a name: {line:?}"));
            assert!(is_name(name), "bad name in {line:?}");
            match kind {
                Some("HELP") => {}
                Some("TYPE") => {
                    let t = tail.unwrap_or_default();
                    assert!(
                        ["counter", "gauge", "histogram", "summary", "untyped"].contains(&t),
                        "bad type in {line:?}"
                    );
                    assert!(
                        typed.insert(name.to_string(), t.to_string()).is_none(),
                        "a second TYPE for {name}"
                    );
                }
                _ => panic!("unexpected comment {line:?}"),
            }
            continue;
        }
        let (name, labels, rest) = match line.find('{') {
            Some(open) => {
                let (labels, after) = parse_labels(&line[open + 1..], line);
                (&line[..open], labels, after)
            }
            None => {
                let sp = line
                    .find(' ')
                    .unwrap_or_else(|| panic!("no value: {line:?}"));
                (&line[..sp], Vec::new(), &line[sp..])
            }
        };
        assert!(is_name(name), "bad metric name in {line:?}");
        let mut fields = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("no space before the value: {line:?}"))
            .split(' ');
        let v = fields.next().unwrap();
        let v: f64 = match v {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            "NaN" => f64::NAN,
            v => v
                .parse()
                .unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        if let Some(ts) = fields.next() {
            ts.parse::<i64>()
                .unwrap_or_else(|_| panic!("bad timestamp in {line:?}"));
        }
        assert!(fields.next().is_none(), "trailing text in {line:?}");
        // Each sample belongs to a family typed before it (histograms: _bucket/_sum/_count).
        let family = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| {
                name.strip_suffix(s)
                    .filter(|f| typed.get(*f).is_some_and(|t| t == "histogram"))
            })
            .unwrap_or(name);
        assert!(typed.contains_key(family), "no TYPE before {line:?}");
        let pairs: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let key = series(name, &pairs);
        assert!(
            samples.insert(key, v).is_none(),
            "a repeated series: {line:?}"
        );
    }
    samples
}

/// `k="v",…}` → the labels (unescaped) and what follows the `}`.
fn parse_labels<'a>(mut s: &'a str, line: &str) -> (Vec<(String, String)>, &'a str) {
    let mut labels = Vec::new();
    loop {
        if let Some(rest) = s.strip_prefix('}') {
            return (labels, rest);
        }
        let eq = s
            .find("=\"")
            .unwrap_or_else(|| panic!("bad labels in {line:?}"));
        let key = &s[..eq];
        assert!(
            is_name(key) && !key.contains(':'),
            "bad label name in {line:?}"
        );
        let mut value = String::new();
        let mut chars = s[eq + 2..].char_indices();
        let end = loop {
            match chars.next() {
                Some((i, '"')) => break eq + 2 + i + 1,
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    _ => panic!("bad escape in {line:?}"),
                },
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {line:?}"),
            }
        };
        labels.push((key.to_string(), value));
        s = &s[end..];
        s = s.strip_prefix(',').unwrap_or(s);
    }
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> &'a str {
    text.split(open)
        .nth(1)
        .and_then(|s| s.split(close).next())
        .unwrap_or_else(|| panic!("no {open} in {text}"))
}

#[tokio::test]
async fn metrics_show_requests_jobs_and_the_ruleset() {
    let data = tempfile::tempdir().unwrap();
    let rules_dir = tempfile::tempdir().unwrap();
    let server = start(data.path(), rules_dir.path()).await;

    // Requests: an upload (200) and a missing object (404).
    let r = server.send("PUT", &format!("/{BUCKET}/in"), "abc").await;
    assert_eq!(r.status(), 200);
    let r = server.send("GET", &format!("/{BUCKET}/missing"), "").await;
    assert_eq!(r.status(), 404);

    let m = server.scrape().await;
    let cos = |action: &str, status: &str| {
        value(
            &m,
            "hashscan_http_requests_total",
            &[("dialect", "cos"), ("action", action), ("status", status)],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(cos("PUT", "200"), 1.0, "{m:#?}");
    assert_eq!(cos("GET", "404"), 1.0, "{m:#?}");
    let count = value(
        &m,
        "hashscan_http_request_duration_seconds_count",
        &[("dialect", "cos"), ("action", "PUT")],
    );
    assert_eq!(count, Some(1.0));
    let inf = value(
        &m,
        "hashscan_http_request_duration_seconds_bucket",
        &[("dialect", "cos"), ("action", "PUT"), ("le", "+Inf")],
    );
    assert_eq!(inf, Some(1.0));
    // No label carries a key or a bucket.
    assert!(
        !m.keys()
            .any(|k| k.contains("missing") || k.contains(BUCKET))
    );

    // The ruleset version is the detector's.
    let (detector, _) = hashscan_detect::Detector::new(hashscan_detect::Config {
        rules: hashscan_detect::RuleConfig {
            paths: rules(rules_dir.path()),
            default_pack: false,
        },
        ..hashscan_detect::Config::default()
    })
    .unwrap();
    let version = detector.version();
    assert_eq!(
        value(&m, "hashscan_ruleset_info", &[("version", &version)]),
        Some(1.0),
        "{m:#?}"
    );
    assert_eq!(
        m.keys()
            .filter(|k| k.starts_with("hashscan_ruleset_info{"))
            .count(),
        1
    );
    assert_eq!(
        value(
            &m,
            "hashscan_build_info",
            &[("version", env!("CARGO_PKG_VERSION"))]
        ),
        Some(1.0)
    );

    // Jobs: with the queue paused, a submitted job waits in state Pause.
    let r = server
        .send("GET", &format!("/{BUCKET}/file_queue"), "")
        .await;
    assert_eq!(r.status(), 200);
    let queue = between(&r.text().await.unwrap(), "<QueueId>", "</QueueId>").to_string();
    let pause = "<Request><State>Paused</State></Request>";
    let r = server
        .send("POST", &format!("/{BUCKET}/file_queue/{queue}"), pause)
        .await;
    assert_eq!(r.status(), 200);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let job = format!(
        "<Request><Tag>FileHashCode</Tag><Input><Object>in</Object></Input>\
         <Operation><FileHashCodeConfig><Type>MD5</Type></FileHashCodeConfig></Operation>\
         <CallBack>http://{closed}/cb</CallBack></Request>"
    );
    let r = server
        .send("POST", &format!("/{BUCKET}/file_jobs"), &job)
        .await;
    assert_eq!(r.status(), 200);
    let m = server.scrape().await;
    let jobs = |m: &Samples, state: &str| {
        value(
            m,
            "hashscan_jobs",
            &[("tag", "FileHashCode"), ("state", state)],
        )
    };
    assert_eq!(jobs(&m, "Pause"), Some(1.0), "{m:#?}");
    assert_eq!(jobs(&m, "Submitted"), Some(0.0));
    assert_eq!(jobs(&m, "Running"), Some(0.0));
    let depth = |m: &Samples, tag: &str| value(m, "hashscan_queue_depth", &[("tag", tag)]);
    assert_eq!(depth(&m, "FileHashCode"), Some(1.0));
    assert_eq!(depth(&m, "FileDetect"), Some(0.0));
    // The CI calls are counted under `ci`.
    assert_eq!(
        value(
            &m,
            "hashscan_http_requests_total",
            &[("dialect", "cos"), ("action", "ci"), ("status", "200")]
        ),
        Some(3.0)
    );

    // Resumed, the job runs: it leaves the gauges and counts as finished, its bytes hashed,
    // and its callback fails (to be retried).
    let resume = "<Request><State>Active</State></Request>";
    let r = server
        .send("POST", &format!("/{BUCKET}/file_queue/{queue}"), resume)
        .await;
    assert_eq!(r.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    let m = loop {
        let m = server.scrape().await;
        let finished = value(
            &m,
            "hashscan_jobs_finished_total",
            &[("tag", "FileHashCode"), ("state", "Success")],
        );
        let retried = value(
            &m,
            "hashscan_callback_deliveries_total",
            &[("outcome", "retry")],
        );
        if finished == Some(1.0) && retried.is_some_and(|n| n >= 1.0) {
            break m;
        }
        assert!(Instant::now() < deadline, "the job did not finish: {m:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(jobs(&m, "Pause"), Some(0.0));
    assert_eq!(depth(&m, "FileHashCode"), Some(0.0));
    assert_eq!(value(&m, "hashscan_bytes_hashed_total", &[]), Some(3.0));
    assert_eq!(
        value(
            &m,
            "hashscan_callback_deliveries_total",
            &[("outcome", "delivered")]
        ),
        Some(0.0)
    );

    // The synchronous file hash counts its bytes too.
    let r = server
        .send(
            "GET",
            &format!("/{BUCKET}/in?ci-process=filehash&type=md5"),
            "",
        )
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    let m = server.scrape().await;
    assert_eq!(value(&m, "hashscan_bytes_hashed_total", &[]), Some(6.0));
    // The scrapes themselves are counted, under the `ops` dialect.
    assert!(
        value(
            &m,
            "hashscan_http_requests_total",
            &[("dialect", "ops"), ("action", "metrics"), ("status", "200")]
        )
        .is_some_and(|n| n >= 3.0)
    );
    server.stop().await;
}

#[tokio::test]
async fn openmetrics_is_served_to_who_asks_for_it() {
    let data = tempfile::tempdir().unwrap();
    let rules_dir = tempfile::tempdir().unwrap();
    let server = start(data.path(), rules_dir.path()).await;
    let r = reqwest::Client::new()
        .get(server.url("/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/openmetrics-text"), "{ct}");
    let body = r.text().await.unwrap();
    assert!(body.ends_with("# EOF\n"));
    assert!(
        body.contains("# TYPE hashscan_bytes_hashed counter\n"),
        "{body}"
    );
    assert!(body.contains("\nhashscan_bytes_hashed_total 0\n"), "{body}");
    server.stop().await;
}

#[tokio::test]
async fn a_virtual_hosted_bucket_keeps_its_object_named_metrics() {
    let data = tempfile::tempdir().unwrap();
    let rules_dir = tempfile::tempdir().unwrap();
    let server = start(data.path(), rules_dir.path()).await;
    let r = reqwest::Client::new()
        .get(server.url("/metrics"))
        .header("host", format!("{BUCKET}.cos.ap-guangzhou.myqcloud.com"))
        .send()
        .await
        .unwrap();
    // The COS dialect answers (an unsigned GET of a private bucket's object), not the metrics.
    assert_eq!(r.status(), 403);
    assert_eq!(r.headers()["server"], "tencent-cos");
    server.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let data = tempfile::tempdir().unwrap();
    let rules_dir = tempfile::tempdir().unwrap();
    let server = start(data.path(), rules_dir.path()).await;

    let r = server.get_plain("/healthz").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.unwrap(), "ok\n");
    let r = server.get_plain("/readyz").await;
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body["status"], "ready");
    // Readiness leaves no file behind.
    assert!(std::fs::read_dir(data.path()).unwrap().all(|e| {
        !e.unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".readyz")
    }));

    // An unwritable data directory: not ready (root ignores the mode, so there it is skipped).
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o555)).unwrap();
    let probe = data.path().join("probe-as-this-user");
    let enforced = std::fs::File::create(&probe).is_err();
    let _ = std::fs::remove_file(&probe);
    let r = server.get_plain("/readyz").await;
    let (status, body) = (r.status(), r.text().await.unwrap());
    std::fs::set_permissions(data.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    if enforced {
        assert_eq!(status, 503, "{body}");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["status"], "not ready");
        assert!(
            body["reason"]
                .as_str()
                .unwrap()
                .starts_with("data directory not writable"),
            "{body}"
        );
    } else {
        eprintln!("running as root: file modes do not restrict; the 503 assertion is skipped");
    }
    let r = server.get_plain("/readyz").await;
    assert_eq!(r.status(), 200);
    server.stop().await;
}

/// A data directory that disappears (unmounted, deleted) makes the server not ready, even as
/// root.
#[tokio::test]
async fn not_ready_without_a_data_directory() {
    let parent = tempfile::tempdir().unwrap();
    let data = parent.path().join("data");
    let rules_dir = tempfile::tempdir().unwrap();
    let server = start(&data, rules_dir.path()).await;
    assert_eq!(server.get_plain("/readyz").await.status(), 200);
    std::fs::rename(&data, parent.path().join("moved")).unwrap();
    let r = server.get_plain("/readyz").await;
    assert_eq!(r.status(), 503);
    let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body["status"], "not ready");
    let reason = body["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("data directory not writable"),
        "{reason}"
    );
    assert!(!reason.contains(parent.path().to_str().unwrap()), "no path");
    // Liveness is not readiness.
    assert_eq!(server.get_plain("/healthz").await.status(), 200);
    server.stop().await;
}

/// `counts()` reads only the jobs that have not ended.
#[tokio::test]
async fn job_counts_are_of_unfinished_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = hashscan_server::meta::sqlite::open(dir.path())
        .await
        .unwrap()
        .jobs;
    store.ping().await.unwrap();
    assert!(store.counts().await.unwrap().is_empty());
    let q = store.default_queue("b-1250000000").await.unwrap();
    let submit = |tag: &str| NewJob {
        tag: tag.into(),
        queue_id: q.id.clone(),
        bucket: q.bucket.clone(),
        input: serde_json::json!({}),
        callback: hashscan_server::meta::jobs::JobCallback::Queue,
    };
    for _ in 0..3 {
        store.submit(submit("FileHashCode")).await.unwrap();
    }
    store.submit(submit("FileDetect")).await.unwrap();
    let now = 1_000;
    let running = store
        .claim("w", &["FileHashCode"], now, 30_000)
        .await
        .unwrap()
        .unwrap();
    let done = store
        .claim("w", &["FileHashCode"], now, 30_000)
        .await
        .unwrap()
        .unwrap();
    store
        .finish(
            &done.id,
            "w",
            now,
            hashscan_server::meta::jobs::Outcome::Success(serde_json::json!({})),
        )
        .await
        .unwrap();
    assert_ne!(running.id, done.id);
    store
        .update_queue(&q.id, None, Some(QueueState::Paused), None)
        .await
        .unwrap();
    let mut counts = store.counts().await.unwrap();
    counts.sort();
    assert_eq!(
        counts,
        vec![
            ("FileDetect".to_string(), "Pause".to_string(), 1),
            ("FileHashCode".to_string(), "Pause".to_string(), 1),
            ("FileHashCode".to_string(), "Running".to_string(), 1),
        ]
    );
}

/// How long `counts()` takes with many jobs: `HASHSCAN_COUNT_ROWS` jobs (default 1 000 000)
/// of which `HASHSCAN_COUNT_LIVE` (default 1 000) have not ended. Slow to set up: run by hand
/// with `cargo test -p hashscan-server --test metrics -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn counts_with_many_jobs() {
    let rows: i64 = std::env::var("HASHSCAN_COUNT_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let live: i64 = std::env::var("HASHSCAN_COUNT_LIVE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let dir = tempfile::tempdir().unwrap();
    hashscan_server::meta::sqlite::db::open(dir.path())
        .await
        .unwrap();
    {
        let conn = rusqlite::Connection::open(dir.path().join("hashscan.db")).unwrap();
        conn.execute_batch(
            "BEGIN;
             INSERT INTO queues (id, bucket, name, state, is_default, notify, created_at, updated_at)
             VALUES ('p1', 'b-1', 'b-1', 'Active', 1, '{}', 0, 0);",
        )
        .unwrap();
        let mut insert = conn
            .prepare(
                "INSERT INTO jobs (id, seq, tag, queue_id, bucket, state, input, result, created_at)
                 VALUES (?, ?, ?, 'p1', 'b-1', ?, ?, ?, ?)",
            )
            .unwrap();
        for seq in 1..=rows {
            let tag = if seq % 3 == 0 {
                "FileDetect"
            } else {
                "FileHashCode"
            };
            // The newest jobs are the ones waiting; the rest ended long ago.
            let state = match seq {
                s if s > rows - live => "Submitted",
                s if s % 20 == 0 => "Failed",
                _ => "Success",
            };
            let input = format!(
                "{{\"object\":\"dir/file-{seq}.bin\",\"region\":\"ap-guangzhou\",\"type\":\"SHA256\",\"add_to_header\":false}}"
            );
            let result = (state == "Success").then(|| {
                format!("{{\"digest\":\"{seq:064x}\",\"size\":{seq},\"etag\":\"{seq:032x}\"}}")
            });
            insert
                .execute(rusqlite::params![
                    format!("f{seq:032x}"),
                    seq,
                    tag,
                    state,
                    input,
                    result,
                    seq
                ])
                .unwrap();
        }
        drop(insert);
        conn.execute_batch("COMMIT").unwrap();
    }
    let writer = hashscan_server::meta::sqlite::db::Writer::open(dir.path())
        .await
        .unwrap();
    let readers = hashscan_server::meta::sqlite::db::ReadPool::new(dir.path());
    let store = SqliteJobStore::new(writer, readers.clone());
    let mut best = Duration::MAX;
    for _ in 0..5 {
        let t = Instant::now();
        let counts = store.counts().await.unwrap();
        best = best.min(t.elapsed());
        assert_eq!(counts.iter().map(|c| c.2).sum::<u64>(), live as u64);
    }
    let t = Instant::now();
    let all: Vec<(String, String, i64)> = readers
        .read(|conn| -> Result<_, hashscan_server::meta::jobs::JobError> {
            let mut stmt =
                conn.prepare("SELECT tag, state, COUNT(*) FROM jobs GROUP BY tag, state")?;
            let all = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(all.collect::<Result<_, _>>()?)
        })
        .await
        .unwrap();
    let full = t.elapsed();
    assert_eq!(all.iter().map(|c| c.2).sum::<i64>(), rows);
    eprintln!(
        "{rows} jobs, {live} unfinished: counts() {best:?} (best of 5); every state: {full:?}"
    );
}
