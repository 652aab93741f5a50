//! The real server on an ephemeral loopback port for the integration tests, and a COS signer
//! for their requests (shared by cos_server.rs, metrics.rs and native_api.rs).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use hashscan_auth::Secret;
use hashscan_auth::cos::{KeyTime, SignRequest, sign};
use hashscan_server::config::Config;
use hashscan_server::{Server, StartOptions};

pub const AK: &str = "AKIDrusttest00000000000000000000000";
pub const SK: &str = "rusttestsecretrusttestsecret1234";
pub const BUCKET: &str = "default-1250000000";

/// A started server; [`TestServer::stop`] shuts it down gracefully and checks it exited well.
pub struct TestServer {
    pub addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    /// Starts a server on `dir` with the key pair [`AK`]/[`SK`] and the configuration
    /// `tweak` makes of the defaults.
    pub async fn start(dir: &Path, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let mut config = Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: dir.to_path_buf(),
            ..Config::default()
        };
        tweak(&mut config);
        let server = Server::start(
            config,
            StartOptions {
                initial_key: Some((AK.into(), SK.into())),
            },
        )
        .await
        .unwrap();
        let addr = server.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        TestServer {
            addr,
            stop: Some(stop),
            task,
        }
    }

    /// Asks the server to stop (it finishes the requests in flight); [`stop`](Self::stop)
    /// then waits for it.
    pub fn begin_stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// A COS Authorization header for `method path` (a percent-encoded path, its query
    /// left out and unsigned) with the host signed, under `secret`.
    pub fn auth_with(&self, secret: &str, method: &str, path: &str) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let window = KeyTime::new(now - 60, now + 600);
        let headers = vec![("host".to_string(), self.addr.to_string())];
        let path = path.split('?').next().unwrap();
        let decoded = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .unwrap();
        sign(
            &Secret::new(secret),
            &SignRequest {
                method,
                path: &decoded,
                params: &[],
                headers: &headers,
                sign_time: &window,
                key_time: &window,
            },
        )
        .authorization(AK)
    }

    /// A COS Authorization header for `method path_and_query` that signs, besides the host,
    /// every query parameter and the headers `extra` (names lower-case), as `/v1` requires.
    pub fn auth_covering(
        &self,
        secret: &str,
        method: &str,
        path_and_query: &str,
        extra: &[(&str, &str)],
    ) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let window = KeyTime::new(now - 60, now + 600);
        let mut headers = vec![("host".to_string(), self.addr.to_string())];
        headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let params = hashscan_auth::encode::decode_query(query, hashscan_auth::encode::Plus::Space);
        let decoded = percent_encoding::percent_decode_str(path)
            .decode_utf8()
            .unwrap();
        sign(
            &Secret::new(secret),
            &SignRequest {
                method,
                path: &decoded,
                params: &params,
                headers: &headers,
                sign_time: &window,
                key_time: &window,
            },
        )
        .authorization(AK)
    }

    /// [`auth_with`](Self::auth_with) under the right secret.
    /// Submits an MD5 hash job of `/BUCKET/<object>` (which must exist) with `callback`;
    /// answers its id.
    pub async fn md5_job(&self, object: &str, callback: &str) -> String {
        let path = format!("/{BUCKET}/file_jobs");
        let job = format!(
            "<Request><Tag>FileHashCode</Tag><Input><Object>{object}</Object></Input>\
             <Operation><FileHashCodeConfig><Type>MD5</Type></FileHashCodeConfig></Operation>\
             <CallBack>{callback}</CallBack></Request>"
        );
        let r = no_proxy()
            .post(self.url(&path))
            .header("authorization", self.auth("POST", &path))
            .body(job)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let text = r.text().await.unwrap();
        let start = text.find("<JobId>").unwrap() + "<JobId>".len();
        let end = text[start..].find("</JobId>").unwrap() + start;
        text[start..end].to_string()
    }

    /// `hashscan_callback_deliveries_total{outcome}` from `/metrics`.
    pub async fn deliveries(&self, outcome: &str) -> f64 {
        let text = no_proxy()
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let series = format!("hashscan_callback_deliveries_total{{outcome=\"{outcome}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .map_or(0.0, |v| v.trim().parse().unwrap())
    }

    /// Waits (at most 30 s) until `outcome` has been counted `n` times.
    pub async fn wait_for_deliveries(&self, outcome: &str, n: f64) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.deliveries(outcome).await < n {
            assert!(
                std::time::Instant::now() < deadline,
                "{outcome}: {} of {n}",
                self.deliveries(outcome).await
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    pub fn auth(&self, method: &str, path: &str) -> String {
        self.auth_with(SK, method, path)
    }
}

/// A client for the tests' own requests: never through a proxy (some tests set them).
pub fn no_proxy() -> reqwest::Client {
    reqwest::Client::builder().no_proxy().build().unwrap()
}
