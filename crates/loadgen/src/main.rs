//! `hashscan-loadgen`: drives a running hashscan from several concurrent connections for a
//! fixed time with requests it signs itself, and prints latency percentiles.
//!
//! wrk replays one fixed request, which the COS dialect allows within a key time; the
//! Alibaba dialect refuses a reused `SignatureNonce`, so every request must be signed anew.
//! Signing happens before a request's clock starts; only the HTTP exchange is timed.
//!
//! ```text
//! hashscan-loadgen sas-lookup --endpoint http://127.0.0.1:PORT --keys keys.txt \
//!     --concurrency 8 --duration 10
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use hashscan_auth::Secret;
use hashscan_auth::aliyun_v2;
use hashscan_auth::encode::rfc3986;

#[derive(Parser)]
#[command(version, about = "Load generator for hashscan's benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Sas GetFileDetectResult with a batch of hash keys, V2-signed (HMAC-SHA1) per request.
    SasLookup(SasLookup),
}

#[derive(clap::Args)]
struct SasLookup {
    /// Base URL of the server, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    endpoint: String,
    #[arg(long, env = "HASHSCAN_ACCESS_KEY_ID")]
    access_key_id: String,
    #[arg(long, env = "HASHSCAN_SECRET_ACCESS_KEY", hide_env_values = true)]
    secret_access_key: String,
    /// A file of hash keys (MD5 or SHA-256 hex), one per line; all go in every request.
    #[arg(long)]
    keys: PathBuf,
    /// Concurrent connections.
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
    /// Seconds of load.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Client runtime threads (1 keeps the client on about one core).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::SasLookup(args) => {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(args.threads.max(1))
                .enable_all()
                .build()?;
            rt.block_on(sas_lookup(args))
        }
    }
}

/// The query string of a V2-signed (HMAC-SHA1) RPC request, `Signature` included, signed
/// with hashscan-auth's signer (the one the server verifies against).
fn sign_v2(ak: &str, sk: &Secret, params: &[(String, String)]) -> anyhow::Result<String> {
    let timestamp = time::OffsetDateTime::now_utc().format(&time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))?;
    let mut all: Vec<(String, String)> = [
        ("Format", "JSON"),
        ("Version", "2018-12-03"),
        ("Timestamp", timestamp.as_str()),
        (
            "SignatureNonce",
            &format!("{:032x}", rand::random::<u128>()),
        ),
        ("SignatureMethod", "HMAC-SHA1"),
        ("SignatureVersion", "1.0"),
        ("AccessKeyId", ak),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    all.extend_from_slice(params);
    let signed = aliyun_v2::sign(sk, "POST", &all);
    Ok(format!(
        "{}&Signature={}",
        signed.canonicalized_query_string,
        rfc3986(&signed.signature)
    ))
}

/// What one connection saw.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: u64,
    first_error: Option<String>,
}

async fn sas_lookup(args: SasLookup) -> anyhow::Result<()> {
    let keys: Vec<String> = std::fs::read_to_string(&args.keys)
        .with_context(|| format!("reading {}", args.keys.display()))?
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    if keys.is_empty() || keys.len() > 100 {
        bail!(
            "{} holds {} keys; 1 to 100 are sent per request",
            args.keys.display(),
            keys.len()
        );
    }
    let mut params: Vec<(String, String)> = vec![
        ("Action".into(), "GetFileDetectResult".into()),
        ("Type".into(), "0".into()),
    ];
    for (i, k) in keys.iter().enumerate() {
        params.push((format!("HashKeyList.{}", i + 1), k.clone()));
    }
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let base = args.endpoint.trim_end_matches('/').to_string();
    let end = Instant::now() + Duration::from_secs_f64(args.duration);
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.concurrency.max(1))
        .map(|_| {
            let (client, base, params) = (client.clone(), base.clone(), params.clone());
            let (ak, sk, want) = (
                args.access_key_id.clone(),
                Secret::new(args.secret_access_key.clone()),
                keys.len(),
            );
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while Instant::now() < end {
                    let url = match sign_v2(&ak, &sk, &params) {
                        Ok(q) => format!("{base}/?{q}"),
                        Err(e) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert(e.to_string());
                            break;
                        }
                    };
                    let t = Instant::now();
                    let answer = match client.post(&url).send().await {
                        Ok(r) => {
                            let status = r.status();
                            r.bytes().await.map(|b| (status, b))
                        }
                        Err(e) => Err(e),
                    };
                    let took = t.elapsed();
                    match answer {
                        Ok((status, body)) if status.is_success() && answers(&body, want) => {
                            tally.latencies.push(took);
                        }
                        Ok((status, body)) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert_with(|| {
                                format!("{status}: {}", String::from_utf8_lossy(&body))
                            });
                        }
                        Err(e) => {
                            tally.errors += 1;
                            tally.first_error.get_or_insert(e.to_string());
                        }
                    }
                }
                tally
            })
        })
        .collect();
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await?;
        all.latencies.extend(t.latencies);
        all.errors += t.errors;
        if all.first_error.is_none() {
            all.first_error = t.first_error;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    report(&mut all, elapsed);
    Ok(())
}

/// Whether a GetFileDetectResult body answers every one of `want` keys.
fn answers(body: &[u8], want: usize) -> bool {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("ResultList")?.as_array().map(Vec::len))
        == Some(want)
}

fn report(t: &mut Tally, elapsed: f64) {
    t.latencies.sort_unstable();
    let ms = |q: f64| {
        if t.latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((t.latencies.len() as f64 * q) as usize).min(t.latencies.len() - 1);
        t.latencies[i].as_secs_f64() * 1000.0
    };
    println!("requests {}", t.latencies.len());
    println!("errors {}", t.errors);
    println!(
        "requests_per_s {:.1}",
        t.latencies.len() as f64 / elapsed.max(1e-9)
    );
    println!("p50_ms {:.3}", ms(0.50));
    println!("p99_ms {:.3}", ms(0.99));
    println!("max_ms {:.3}", ms(1.0));
    if let Some(e) = &t.first_error {
        eprintln!("first error: {e}");
    }
}
