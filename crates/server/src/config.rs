//! Server configuration: embedded defaults, overridden by a TOML file, then by `HASHSCAN_*`
//! environment variables and flags (the binary merges those last two through clap).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Everything the server needs to start. Every field has a default, so `Config::default()`
/// runs.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// Directory holding objects, the SQLite database and the generated credentials.
    pub data_dir: PathBuf,
    /// Domains accepted in virtual-hosted names `<bucket>.cos.<region>.<domain>`.
    pub domains: Vec<String>,
    /// Region of buckets created without one (the CLI, path-style requests).
    pub default_region: String,
    /// Buckets that exist on start (created if missing).
    pub buckets: Vec<BucketConfig>,
    /// Access keys accepted besides the stored ones.
    pub keys: Vec<KeyConfig>,
    /// Job workers of this node (default: [`default_workers`]).
    pub workers: usize,
    /// Outbound connections to user-given URLs: downloads and callbacks.
    pub outbound: OutboundConfig,
    /// Job-finished callbacks.
    pub callbacks: CallbackConfig,
    /// Limits.
    pub limits: Limits,
    /// Connection limits and timeouts (`[http]`).
    pub http: crate::listen::HttpConfig,
    /// File detection (Alibaba Sas, Volcengine nta, `/v1`).
    pub detect: DetectConfig,
    /// Rule and intelligence updates (`[rules]`, `[[rules.sources]]`).
    pub rules: hashscan_updates::UpdateConfig,
    /// The metadata store (`[meta]`): the embedded SQLite file, or PostgreSQL shared by
    /// several nodes.
    pub meta: MetaConfig,
    /// Where object bytes live (`[blobs]`): the data directory, or an S3-compatible bucket
    /// shared by several nodes.
    pub blobs: BlobsConfig,
}

/// The metadata store (`[meta]`).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetaConfig {
    /// `postgres://user:password@host:port/database[?sslmode=require]`: metadata on
    /// PostgreSQL, shared by every node given the same URL. Absent: SQLite in the data
    /// directory (one node).
    pub url: Option<String>,
    /// Connections this node keeps to PostgreSQL at most.
    pub max_connections: u32,
}

impl Default for MetaConfig {
    fn default() -> Self {
        MetaConfig {
            url: None,
            max_connections: 16,
        }
    }
}

impl std::fmt::Debug for MetaConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetaConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// A URL with its password replaced, for logs and errors.
pub fn redact_url(url: &str) -> String {
    // scheme://user:password@host… → scheme://user:***@host…
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        None => url.to_string(),
    }
}

/// The blob store (`[blobs]`). Each field left out is taken from the standard AWS
/// variables (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
/// `AWS_SECRET_ACCESS_KEY`, `AWS_ALLOW_HTTP`).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BlobsConfig {
    /// `s3://BUCKET[/PREFIX]`: object bytes in an S3-compatible bucket. Absent: files in
    /// the data directory.
    pub url: Option<String>,
    /// `http(s)://host:port` of an S3-compatible service (absent: AWS).
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
    /// Allow a plain-HTTP endpoint.
    pub allow_http: Option<bool>,
    /// `bucket.host` addressing instead of `host/bucket` (the default with an endpoint).
    pub virtual_hosted_style: Option<bool>,
    /// Seconds a deleted or unreferenced blob is kept before the sweep removes it: longer
    /// than the longest read of an object (default 24 hours).
    pub grace_secs: u64,
    /// Seconds between two sweeps (one node at a time sweeps; default 1 hour).
    pub sweep_every_secs: u64,
}

impl Default for BlobsConfig {
    fn default() -> Self {
        BlobsConfig {
            url: None,
            endpoint: None,
            region: None,
            access_key_id: None,
            secret_access_key: None,
            allow_http: None,
            virtual_hosted_style: None,
            grace_secs: 24 * 3600,
            sweep_every_secs: 3600,
        }
    }
}

impl std::fmt::Debug for BlobsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobsConfig")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| "<redacted>"),
            )
            .field("allow_http", &self.allow_http)
            .field("virtual_hosted_style", &self.virtual_hosted_style)
            .field("grace_secs", &self.grace_secs)
            .field("sweep_every_secs", &self.sweep_every_secs)
            .finish()
    }
}

/// Outbound connection settings (`[outbound]`): one address policy for every connection
/// the server makes to a user-given URL (downloads for detections, job callbacks).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OutboundConfig {
    /// Let outbound connections reach private, loopback, link-local, CGNAT, documentation
    /// and reserved addresses (off: the server must not be an SSRF tool). Unspecified,
    /// multicast and broadcast addresses stay refused. See
    /// [`Config::outbound_allow_private`] for the older names and the environment.
    pub allow_private: bool,
    /// PEM certificates trusted for https besides the built-in and system roots (a
    /// private CA serving rule updates, say).
    pub ca_file: Option<PathBuf>,
}

/// File detection settings (`[detect]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DetectConfig {
    /// YARA rule files or directories, besides the default pack.
    pub rules: Vec<PathBuf>,
    /// Leave the built-in default rule pack out.
    pub no_default_rules: bool,
    /// Hash lists (ClamAV .hdb/.hsb/.fp/.sfp, plain or CSV lists).
    pub hash_lists: Vec<PathBuf>,
    /// A clamd to ask too: `unix:/path` or `host:port`.
    pub clamd: Option<String>,
    /// How long results (and the files they were made of) are kept, in seconds (default
    /// 5 hours, as the clouds keep results).
    pub retention_secs: u64,
    /// Largest file a detection takes, in bytes (default 100 MiB, Alibaba's limit).
    pub max_file_size: u64,
    /// Longest download of a user-given URL, in seconds.
    pub fetch_timeout_secs: u64,
    /// The older name of `[outbound] allow_private` (see
    /// [`Config::outbound_allow_private`]): true turns on the one switch, for downloads and
    /// callbacks alike.
    pub fetch_allow_private: bool,
    /// Requests per second each access key may make to the detection APIs (Alibaba answers
    /// `RequestTooFrequently` past it); 0: no limit. Default 100: Alibaba's enterprise
    /// edition allows 20 (spec §1.8), but a self-hosted server is the user's own capacity.
    pub rate_per_key: u32,
    /// Bytes that all scans together may hold in buffers and archive members (one budget
    /// for every worker); a scan that cannot get its share within `scan_memory_wait_secs`
    /// ends `unknown` with a note, never `clean`. Default 384 MiB.
    pub scan_memory: u64,
    /// Longest wait of a scan for its share of `scan_memory`, in seconds. Default 120: a
    /// worker's lease is renewed while it waits, and a burst of large archives is then
    /// scanned in turn rather than answered `unknown` (16 uploads of a 4-level nested zip
    /// with 250 MiB members at once: all clean within 120 s; 5 unknown with 30 s).
    pub scan_memory_wait_secs: u64,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            rules: Vec::new(),
            no_default_rules: false,
            hash_lists: Vec::new(),
            clamd: None,
            retention_secs: 5 * 3600,
            max_file_size: 100 << 20,
            fetch_timeout_secs: 60,
            fetch_allow_private: false,
            rate_per_key: 100,
            scan_memory: hashscan_detect::MemoryBudget::DEFAULT_TOTAL,
            scan_memory_wait_secs: 120,
        }
    }
}

/// A bucket declared in the configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BucketConfig {
    /// `<name>-<appid>`.
    pub name: String,
    /// Region; the default region when absent.
    pub region: Option<String>,
    /// Allow unsigned GET and HEAD of its objects.
    #[serde(default)]
    pub public_read: bool,
}

/// An access key pair declared in the configuration.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyConfig {
    /// Access key id (COS `SecretId`, Alibaba `AccessKeyId`, Volcengine `AK`).
    pub id: String,
    /// Secret.
    pub secret: String,
}

impl std::fmt::Debug for KeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyConfig")
            .field("id", &self.id)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// Size and time limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Largest object a single PUT may store, in bytes (default 50 GiB, the largest object a
    /// hash job accepts).
    pub max_object_size: u64,
    /// Longest accepted object key, in bytes (COS: 850).
    pub max_key_len: usize,
    /// Most bytes of user metadata (`x-cos-meta-*` names and values together) on one object
    /// (COS: 2 KB).
    pub max_user_meta: usize,
    /// Free space the data directory must keep for the server to report itself ready
    /// (`/readyz`), in bytes.
    pub min_free_bytes: u64,
    /// Seconds a multipart upload may stay incomplete before it is aborted and its parts
    /// removed (default 7 days).
    pub incomplete_upload_secs: u64,
}

/// Job workers per core by default, and at most this many in all.
const WORKERS_PER_CORE: usize = 16;
const MAX_DEFAULT_WORKERS: usize = 64;

/// The default number of job workers: 16 per core, between 4 and 64.
///
/// A worker is a thread that runs one job at a time, and between two jobs it waits for the
/// job store to finish the job and claim the next. When finishes waited for an fsync, one
/// worker per core left the cores idle half the time with small objects (1,000 jobs of 1 MiB
/// on 2 cores: 1.0 s with 2 workers, 0.49 s with 32). Since they are relaxed writes
/// (`db::Writer::write_relaxed`) 4, 8 and 32 workers measure the same; the default keeps
/// room for jobs that wait on a slow disk or a URL. Large objects lose nothing: the cores
/// are shared either way.
pub fn default_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    (cores * WORKERS_PER_CORE).clamp(4, MAX_DEFAULT_WORKERS)
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_object_size: 50 << 30,
            max_key_len: 850,
            max_user_meta: 2048,
            min_free_bytes: 256 << 20,
            incomplete_upload_secs: 7 * 24 * 3600,
        }
    }
}

/// The bucket a fresh data directory starts with.
pub const DEFAULT_BUCKET: &str = "default-1250000000";
/// The region of buckets created without one.
pub const DEFAULT_REGION: &str = "ap-guangzhou";

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("hashscan-data"),
            domains: vec!["myqcloud.com".to_string()],
            default_region: DEFAULT_REGION.to_string(),
            buckets: Vec::new(),
            keys: Vec::new(),
            workers: default_workers(),
            outbound: OutboundConfig::default(),
            callbacks: CallbackConfig::default(),
            limits: Limits::default(),
            http: crate::listen::HttpConfig::default(),
            detect: DetectConfig::default(),
            rules: hashscan_updates::UpdateConfig::default(),
            meta: MetaConfig::default(),
            blobs: BlobsConfig::default(),
        }
    }
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML for this configuration.
    #[error("invalid configuration in {path}: {source}")]
    Parse {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
}

impl Config {
    /// The one switch of the outbound address policy, for downloads of user-given URLs and
    /// callbacks alike: `[outbound] allow_private`, or either of its older names
    /// `[callbacks] allow_private` and `[detect] fetch_allow_private` (kept so that existing
    /// files still load; any of the three turns it on). `HASHSCAN_FETCH_ALLOW_PRIVATE=1`
    /// turns it on too, when the server builds its outbound client
    /// (`hashscan_fetch::Policy::with_env_override`).
    pub fn outbound_allow_private(&self) -> bool {
        self.outbound.allow_private
            || self.callbacks.allow_private
            || self.detect.fetch_allow_private
    }

    /// Whether the metadata live in a database that other nodes may share (PostgreSQL):
    /// then no step assumes this process owns the store.
    pub fn shared(&self) -> bool {
        self.meta.url.is_some()
    }

    /// Reads a TOML file; fields it leaves out keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_path_buf(),
            source: Box::new(source),
        })
    }
}

/// Callback settings (`[callbacks]` in the configuration file).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CallbackConfig {
    /// The older name of `[outbound] allow_private` (see
    /// [`Config::outbound_allow_private`]):
    /// true turns on the one switch, for callbacks and downloads alike.
    pub allow_private: bool,
    /// Time allowed for one attempt.
    pub timeout_ms: u64,
    /// Delay before the first retry; doubled after each failure.
    pub initial_backoff_ms: u64,
    /// Longest delay between two attempts.
    pub max_backoff_ms: u64,
    /// How long after the job ended a delivery is retried before it is given up.
    pub give_up_after_secs: u64,
    /// Concurrent deliveries.
    pub deliverers: usize,
}

impl Default for CallbackConfig {
    fn default() -> Self {
        CallbackConfig {
            allow_private: false,
            timeout_ms: 10_000,
            initial_backoff_ms: 1_000,
            max_backoff_ms: 300_000,
            give_up_after_secs: 24 * 3600,
            deliverers: 4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_file_keeps_the_other_defaults() {
        let c: Config = toml::from_str(
            r#"
            listen = "0.0.0.0:9000"
            [[buckets]]
            name = "media-1250000000"
            region = "ap-beijing"
            public_read = true
            [limits]
            max_object_size = 1024
            "#,
        )
        .unwrap();
        assert_eq!(c.listen.port(), 9000);
        assert_eq!(c.domains, vec!["myqcloud.com"]);
        assert_eq!(c.buckets[0].region.as_deref(), Some("ap-beijing"));
        assert_eq!(c.limits.max_object_size, 1024);
        assert_eq!(c.limits.max_key_len, 850);
    }

    #[test]
    fn one_switch_for_outbound_addresses() {
        let c: Config = toml::from_str("").unwrap();
        assert!(!c.outbound_allow_private());
        for text in [
            "[outbound]\nallow_private = true",
            "[callbacks]\nallow_private = true",
            "[detect]\nfetch_allow_private = true",
        ] {
            let c: Config = toml::from_str(text).unwrap();
            assert!(c.outbound_allow_private(), "{text}");
        }
        let c: Config = toml::from_str("[outbound]\nallow_private = false").unwrap();
        assert!(!c.outbound_allow_private());
        assert!(toml::from_str::<Config>("[outbound]\nallow_privat = true").is_err());
    }

    #[test]
    fn passwords_in_urls_and_secrets_are_not_printed() {
        let c: Config = toml::from_str(
            "[meta]\nurl = \"postgres://hs:pa55@db:5432/hs?sslmode=require\"\n\
             [blobs]\nurl = \"s3://b/p\"\nsecret_access_key = \"s3cr3t\"",
        )
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("pa55") && !shown.contains("s3cr3t"),
            "{shown}"
        );
        assert!(
            shown.contains("postgres://hs:***@db:5432/hs?sslmode=require"),
            "{shown}"
        );
        assert!(c.shared());
        assert_eq!(redact_url("postgres://db/x"), "postgres://db/x");
        assert_eq!(redact_url("postgres://u@db/x"), "postgres://u:***@db/x");
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(toml::from_str::<Config>("listne = \"x\"").is_err());
    }

    #[test]
    fn secrets_are_not_printed_by_debug() {
        let k = KeyConfig {
            id: "AKID".into(),
            secret: "very-secret".into(),
        };
        assert!(!format!("{k:?}").contains("very-secret"));
    }
}
