//! Prometheus metrics: what the server counts, and their text at `/metrics`.
//!
//! Counters and histograms live in one [`Metrics`] per server, registered once with
//! `prometheus-client`; the request path and the workers add to them with one call each. What
//! the database or the detector knows (jobs waiting, the ruleset version) is read when
//! `/metrics` is scraped and rendered beside them, never cached.
//!
//! Every label value comes from a short list fixed here or in the code (dialects, actions,
//! HTTP methods and statuses, job tags and states, verdicts): never a path, a key, a bucket or
//! anything else a client chooses, so the number of series stays bounded whatever is sent.
//!
//! # Formats
//! `prometheus-client` writes OpenMetrics text. A scraper that asks for it (`Accept:
//! application/openmetrics-text`, as Prometheus does) gets it verbatim; anything else gets the
//! classic Prometheus text format 0.0.4 (`text/plain; version=0.0.4`), which differs for our
//! metric types only in naming a counter's family by its sample name (`x_total`) and in having
//! no `# EOF` line: [`openmetrics_to_text`] makes that change.

use std::time::Duration;

use axum::body::Body;
use axum::http::Request;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::meta::jobs::{DeliveryOutcome, JobState};

/// Content type of the classic text format.
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// Content type of OpenMetrics text.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Upper bounds of the request-duration buckets, in seconds: from a cached lookup (sub-ms)
/// to a large upload.
const DURATION_BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0,
];

/// The Alibaba Sas actions counted by name; any other is `other`.
pub const ALIYUN_ACTIONS: &[&str] = &[
    "CreateFileDetectUploadUrl",
    "CreateFileDetect",
    "GetFileDetectResult",
    "ListCompressFileDetectResult",
    "GetFileDetectApiInvokeInfo",
];
/// The Volcengine actions counted by name; any other is `other`.
pub const VOLC_ACTIONS: &[&str] = &["CreateFileDetection", "GetFileDetection"];
/// The job tags counted by name; jobs of any other tag are counted as `other`.
pub const JOB_TAGS: &[&str] = &[crate::meta::jobs::HASH_TAG, crate::meta::jobs::DETECT_TAG];
/// The states of a job that has not ended, the ones `hashscan_jobs` shows.
pub const LIVE_STATES: [JobState; 3] = [JobState::Submitted, JobState::Running, JobState::Pause];
/// The HTTP methods counted by name; any other is `other`.
const METHODS: &[&str] = &["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS", "PATCH"];
/// The verdicts (`hashscan_detect::Verdict`), given zero series from the start.
const VERDICTS: [&str; 4] = ["clean", "suspicious", "malicious", "unknown"];
/// The label value of anything not in a list.
const OTHER: &str = "other";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    dialect: &'static str,
    action: &'static str,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    dialect: &'static str,
    action: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VerdictLabels {
    verdict: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    tag: &'static str,
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TagLabels {
    tag: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    version: String,
}

type DurationFamily = Family<DurationLabels, Histogram, fn() -> Histogram>;

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The server's counters, shared by the request path and the workers.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: DurationFamily,
    bytes_hashed: Counter,
    bytes_scanned: Counter,
    deliveries: Family<OutcomeLabels, Counter>,
    detections: Family<VerdictLabels, Counter>,
    jobs_finished: Family<JobLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "hashscan_http_requests",
            "HTTP requests answered, by dialect, action and status",
            requests.clone(),
        );
        let durations = DurationFamily::new_with_constructor(duration_histogram);
        registry.register(
            "hashscan_http_request_duration_seconds",
            "Time from a request's arrival to its response head, by dialect and action",
            durations.clone(),
        );
        let bytes_hashed = Counter::default();
        registry.register(
            "hashscan_bytes_hashed",
            "Bytes digested for hash requests (FileHashCode jobs and the synchronous file hash)",
            bytes_hashed.clone(),
        );
        let bytes_scanned = Counter::default();
        registry.register(
            "hashscan_bytes_scanned",
            "Bytes of files whose detection concluded",
            bytes_scanned.clone(),
        );
        let deliveries = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "hashscan_callback_deliveries",
            "Callback delivery attempts, by outcome (delivered, retry, given_up)",
            deliveries.clone(),
        );
        let detections = Family::<VerdictLabels, Counter>::default();
        registry.register(
            "hashscan_detections",
            "Detections concluded, by verdict",
            detections.clone(),
        );
        let jobs_finished = Family::<JobLabels, Counter>::default();
        registry.register(
            "hashscan_jobs_finished",
            "Jobs finished by this process's workers, by tag and final state",
            jobs_finished.clone(),
        );
        let build = Family::<VersionLabels, Gauge>::default();
        build
            .get_or_create(&VersionLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
            })
            .set(1);
        registry.register(
            "hashscan_build_info",
            "The running hashscan's version (value 1)",
            build,
        );
        // Zero series for the outcomes and verdicts that exist, so that a rate is defined
        // before the first event.
        for outcome in ["delivered", "retry", "given_up"] {
            let _ = deliveries.get_or_create(&OutcomeLabels { outcome });
        }
        for verdict in VERDICTS {
            let _ = detections.get_or_create(&VerdictLabels { verdict });
        }
        Metrics {
            registry,
            requests,
            durations,
            bytes_hashed,
            bytes_scanned,
            deliveries,
            detections,
            jobs_finished,
        }
    }

    /// Counts an answered request.
    pub fn request(&self, dialect: &'static str, probe: &Probe, status: u16, took: Duration) {
        let action = probe.action(dialect);
        self.requests
            .get_or_create(&RequestLabels {
                dialect,
                action,
                status,
            })
            .inc();
        self.durations
            .get_or_create(&DurationLabels { dialect, action })
            .observe(took.as_secs_f64());
    }

    /// Counts bytes digested for a hash request.
    pub fn hashed(&self, bytes: u64) {
        self.bytes_hashed.inc_by(bytes);
    }

    /// Counts a concluded detection: its verdict and the bytes scanned.
    pub fn detection(&self, report: &hashscan_detect::Report) {
        self.bytes_scanned.inc_by(report.size);
        let verdict = report.verdict.as_str();
        self.detections
            .get_or_create(&VerdictLabels { verdict })
            .inc();
    }

    /// Counts a callback delivery attempt.
    pub fn delivery(&self, outcome: &DeliveryOutcome) {
        let outcome = match outcome {
            DeliveryOutcome::Delivered => "delivered",
            DeliveryOutcome::Retry { .. } => "retry",
            DeliveryOutcome::GiveUp { .. } => "given_up",
        };
        self.deliveries
            .get_or_create(&OutcomeLabels { outcome })
            .inc();
    }

    /// Counts a job a worker finished.
    pub fn job_finished(&self, tag: &str, state: JobState) {
        self.jobs_finished
            .get_or_create(&JobLabels {
                tag: known(tag, JOB_TAGS),
                state: state.as_str(),
            })
            .inc();
    }

    /// The text of a scrape: the counters, the unfinished jobs (`None` when they could not be
    /// counted: the families are left out) and the ruleset version.
    pub fn render(
        &self,
        jobs: Option<&[(String, String, u64)]>,
        ruleset: &str,
        memory: &hashscan_detect::MemoryBudget,
        format: Format,
    ) -> String {
        let mut scrape = Registry::default();
        for (name, help, value) in [
            (
                "hashscan_scan_memory_bytes",
                "Bytes of the scan memory budget held now (scan buffers, archive members)",
                memory.used(),
            ),
            (
                "hashscan_scan_memory_peak_bytes",
                "Most bytes of the scan memory budget ever held at once",
                memory.peak(),
            ),
            (
                "hashscan_scan_memory_limit_bytes",
                "The scan memory budget ([detect] scan_memory)",
                memory.total(),
            ),
        ] {
            let g = Gauge::<i64>::default();
            g.set(i64::try_from(value).unwrap_or(i64::MAX));
            scrape.register(name, help, g);
        }
        if let Some(counts) = jobs {
            let (by_state, depth) = job_gauges(counts);
            scrape.register(
                "hashscan_jobs",
                "Jobs not yet ended, by tag and state (Submitted, Running, Pause), read from the job store",
                by_state,
            );
            scrape.register(
                "hashscan_queue_depth",
                "Jobs waiting to run (Submitted and Pause), by tag",
                depth,
            );
        }
        let ruleset_info = Family::<VersionLabels, Gauge>::default();
        ruleset_info
            .get_or_create(&VersionLabels {
                version: ruleset.to_string(),
            })
            .set(1);
        scrape.register(
            "hashscan_ruleset_info",
            "The detection ruleset version in use (value 1)",
            ruleset_info,
        );
        let mut out = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail.
        let _ = encode_registry(&mut out, &self.registry);
        let _ = encode_registry(&mut out, &scrape);
        let _ = encode_eof(&mut out);
        match format {
            Format::OpenMetrics => out,
            Format::Text => openmetrics_to_text(&out),
        }
    }
}

/// The gauges of the unfinished jobs: every known tag and live state (zero when none).
fn job_gauges(
    counts: &[(String, String, u64)],
) -> (Family<JobLabels, Gauge>, Family<TagLabels, Gauge>) {
    let by_state = Family::<JobLabels, Gauge>::default();
    let depth = Family::<TagLabels, Gauge>::default();
    for tag in JOB_TAGS {
        let _ = depth.get_or_create(&TagLabels { tag });
        for state in LIVE_STATES {
            let _ = by_state.get_or_create(&JobLabels {
                tag,
                state: state.as_str(),
            });
        }
    }
    for (tag, state, n) in counts {
        let Some(state) = LIVE_STATES.into_iter().find(|s| s.as_str() == state) else {
            continue;
        };
        let tag = known(tag, JOB_TAGS);
        let n = i64::try_from(*n).unwrap_or(i64::MAX);
        by_state
            .get_or_create(&JobLabels {
                tag,
                state: state.as_str(),
            })
            .inc_by(n);
        if matches!(state, JobState::Submitted | JobState::Pause) {
            depth.get_or_create(&TagLabels { tag }).inc_by(n);
        }
    }
    (by_state, depth)
}

/// Which text a scraper gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Prometheus text format 0.0.4.
    Text,
    /// OpenMetrics 1.0 text.
    OpenMetrics,
}

impl Format {
    /// OpenMetrics when the `Accept` header names it, the classic format otherwise.
    pub fn negotiate(accept: Option<&str>) -> Format {
        match accept {
            Some(a) if a.contains("application/openmetrics-text") => Format::OpenMetrics,
            _ => Format::Text,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => TEXT_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
        }
    }
}

/// OpenMetrics text as Prometheus text 0.0.4: a counter family is named by its sample name
/// (`# TYPE x_total counter`), and there is no `# EOF`. (The other differences — `info`,
/// `stateset`, units, `_created`, exemplars — concern features these metrics do not use.)
pub fn openmetrics_to_text(om: &str) -> String {
    let mut out: Vec<String> = Vec::with_capacity(om.lines().count());
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(name) = line
            .strip_prefix("# TYPE ")
            .and_then(|rest| rest.strip_suffix(" counter"))
        {
            let help = format!("# HELP {name} ");
            if let Some(prev) = out.last_mut()
                && let Some(text) = prev.strip_prefix(&help)
            {
                *prev = format!("# HELP {name}_total {text}");
            }
            out.push(format!("# TYPE {name}_total counter"));
            continue;
        }
        out.push(line.to_string());
    }
    let mut text = out.join("\n");
    text.push('\n');
    text
}

/// `value` when it is in `list`, `other` otherwise: a label value from a fixed list.
fn known(value: &str, list: &[&'static str]) -> &'static str {
    list.iter().find(|k| **k == value).copied().unwrap_or(OTHER)
}

/// What the request metrics need to know of a request, taken before a dialect consumes it.
#[derive(Debug, Clone)]
pub struct Probe {
    method: &'static str,
    /// The `x-acs-action` header or the `Action` query parameter, when it is a known action.
    action: Option<&'static str>,
    /// A COS Cloud Infinite call: `ci-process`, a CI host, or a file-processing path.
    ci: bool,
    /// `/metrics`, `/healthz` or `/readyz`.
    ops: Option<&'static str>,
}

impl Probe {
    pub fn of(req: &Request<Body>) -> Probe {
        let method = known(req.method().as_str(), METHODS);
        let query = req.uri().query().unwrap_or("");
        let raw_action = req
            .headers()
            .get("x-acs-action")
            .and_then(|v| v.to_str().ok())
            .or_else(|| {
                query
                    .split('&')
                    .find_map(|pair| pair.strip_prefix("Action="))
            });
        let action = raw_action.map(|a| {
            let all = ALIYUN_ACTIONS.iter().chain(VOLC_ACTIONS);
            all.copied().find(|k| *k == a).unwrap_or(OTHER)
        });
        let path = req.uri().path();
        let host = req
            .headers()
            .get(axum::http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        let ci_path = path
            .split('/')
            .skip(1)
            .take(2)
            .any(|s| matches!(s, "file_jobs" | "jobs" | "file_queue" | "file_bucket"));
        let ci = ci_path
            || query
                .split('&')
                .any(|p| p == "ci-process" || p.starts_with("ci-process="))
            || host.contains(".ci.")
            || host.starts_with("ci.");
        let ops = match path {
            "/metrics" => Some("metrics"),
            "/healthz" => Some("healthz"),
            "/readyz" => Some("readyz"),
            _ => None,
        };
        Probe {
            method,
            action,
            ci,
            ops,
        }
    }

    /// The `action` label of the request in `dialect`.
    pub fn action(&self, dialect: &str) -> &'static str {
        match dialect {
            "aliyun" => known(self.action.unwrap_or(OTHER), ALIYUN_ACTIONS),
            "volc" => known(self.action.unwrap_or(OTHER), VOLC_ACTIONS),
            "aliyun-upload" => "upload",
            "ops" => self.ops.unwrap_or(OTHER),
            "cos" if self.ci => "ci",
            _ => self.method,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn req(method: &str, uri: &str, headers: &[(&str, &str)]) -> Request<Body> {
        let mut b = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(Body::empty()).unwrap()
    }

    #[test]
    fn action_labels_are_bounded() {
        let p = Probe::of(&req(
            "POST",
            "/",
            &[("x-acs-action", "GetFileDetectResult")],
        ));
        assert_eq!(p.action("aliyun"), "GetFileDetectResult");
        let p = Probe::of(&req("POST", "/", &[("x-acs-action", "DropTables'; --")]));
        assert_eq!(p.action("aliyun"), "other");
        let p = Probe::of(&req(
            "POST",
            "/?Action=GetFileDetection&Version=2024-07-30",
            &[],
        ));
        assert_eq!(p.action("volc"), "GetFileDetection");
        // An Alibaba action sent to the Volcengine dialect is not a Volcengine action.
        let p = Probe::of(&req(
            "POST",
            "/?Action=CreateFileDetect&Version=2024-07-30",
            &[],
        ));
        assert_eq!(p.action("volc"), "other");
        let p = Probe::of(&req("GET", "/bucket-1250000000/some/key", &[]));
        assert_eq!(p.action("cos"), "GET");
        let p = Probe::of(&req("POST", "/bucket-1250000000/file_jobs", &[]));
        assert_eq!(p.action("cos"), "ci");
        let p = Probe::of(&req("GET", "/k?ci-process=filehash&type=md5", &[]));
        assert_eq!(p.action("cos"), "ci");
        let p = Probe::of(&req("BREW", "/pot", &[]));
        assert_eq!(p.action("cos"), "other");
        let p = Probe::of(&req("GET", "/metrics", &[]));
        assert_eq!(p.action("ops"), "metrics");
        assert_eq!(
            Probe::of(&req("PUT", "/x", &[])).action("aliyun-upload"),
            "upload"
        );
    }

    #[test]
    fn every_alibaba_action_has_its_label() {
        for a in crate::aliyun::params::Action::ALL {
            assert!(ALIYUN_ACTIONS.contains(&a.name()), "{}", a.name());
        }
    }

    #[test]
    fn text_format_names_counters_by_their_samples() {
        let m = Metrics::new();
        m.hashed(42);
        m.delivery(&DeliveryOutcome::Delivered);
        m.job_finished("FileHashCode", JobState::Success);
        m.job_finished("Evil\"tag", JobState::Failed);
        let probe = Probe::of(&req("GET", "/b-1/k", &[]));
        m.request("cos", &probe, 404, Duration::from_millis(3));
        let counts = vec![
            ("FileHashCode".to_string(), "Submitted".to_string(), 3),
            ("FileHashCode".to_string(), "Pause".to_string(), 2),
            ("FileDetect".to_string(), "Running".to_string(), 1),
        ];
        let text = m.render(
            Some(&counts),
            "r-1",
            &hashscan_detect::MemoryBudget::new(1 << 20),
            Format::Text,
        );
        assert!(
            text.contains("\nhashscan_scan_memory_limit_bytes 1048576\n"),
            "{text}"
        );
        assert!(text.contains("\nhashscan_scan_memory_bytes 0\n"), "{text}");
        assert!(
            text.contains("# TYPE hashscan_bytes_hashed_total counter\n"),
            "{text}"
        );
        assert!(
            text.contains("# HELP hashscan_bytes_hashed_total Bytes"),
            "{text}"
        );
        assert!(
            text.contains("\nhashscan_bytes_hashed_total 42\n"),
            "{text}"
        );
        assert!(text.contains(
            "hashscan_http_requests_total{dialect=\"cos\",action=\"GET\",status=\"404\"} 1\n"
        ));
        assert!(text.contains("hashscan_http_request_duration_seconds_bucket{le=\"0.005\",dialect=\"cos\",action=\"GET\"} 1\n"), "{text}");
        assert!(text.contains("hashscan_callback_deliveries_total{outcome=\"delivered\"} 1\n"));
        assert!(text.contains("hashscan_callback_deliveries_total{outcome=\"given_up\"} 0\n"));
        assert!(text.contains("hashscan_jobs_finished_total{tag=\"other\",state=\"Failed\"} 1\n"));
        assert!(text.contains("hashscan_jobs{tag=\"FileHashCode\",state=\"Submitted\"} 3\n"));
        assert!(text.contains("hashscan_jobs{tag=\"FileDetect\",state=\"Pause\"} 0\n"));
        assert!(text.contains("hashscan_queue_depth{tag=\"FileHashCode\"} 5\n"));
        assert!(text.contains("hashscan_queue_depth{tag=\"FileDetect\"} 0\n"));
        assert!(text.contains("hashscan_ruleset_info{version=\"r-1\"} 1\n"));
        assert!(text.contains(&format!(
            "hashscan_build_info{{version=\"{}\"}} 1\n",
            env!("CARGO_PKG_VERSION")
        )));
        assert!(!text.contains("# EOF"));
        // Each family has one TYPE line, named as its samples are (or their _bucket/_sum/_count).
        for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
            let name = line.split(' ').nth(2).unwrap();
            assert!(
                text.lines()
                    .any(|l| !l.starts_with('#') && l.starts_with(name)),
                "{line}"
            );
        }

        let om = m.render(
            None,
            "r-1",
            &hashscan_detect::MemoryBudget::new(1 << 20),
            Format::OpenMetrics,
        );
        assert!(om.ends_with("# EOF\n"));
        assert!(om.contains("# TYPE hashscan_bytes_hashed counter\n"));
        assert!(!om.contains("hashscan_jobs{"), "left out when not counted");
    }

    #[test]
    fn negotiation() {
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
            )),
            Format::OpenMetrics
        );
    }
}
