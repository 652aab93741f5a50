//! `hashscan serve` and `hashscan bucket`: configuration from flags, `HASHSCAN_*`
//! environment variables and a TOML file, then the server of `hashscan-server`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use hashscan_server::config::{BucketConfig, Config};
use hashscan_server::{Server, StartOptions};

/// Flags of `hashscan serve`; each has a `HASHSCAN_*` variable and overrides the file.
#[derive(Args, Debug)]
#[command(after_help = "\
Precedence: flags, then HASHSCAN_* environment variables, then the --config file, then the
embedded defaults. HASHSCAN_ACCESS_KEY_ID and HASHSCAN_SECRET_ACCESS_KEY, when both set, define
the initial key pair instead of the one generated on first start (stored 0600 in the data
directory). See docs/configuration.md.")]
pub struct ServeArgs {
    #[command(flatten)]
    common: CommonArgs,

    /// Address to listen on; port 0 picks a free port [default: 127.0.0.1:8080].
    #[arg(long, env = "HASHSCAN_LISTEN", value_name = "HOST:PORT")]
    listen: Option<SocketAddr>,

    /// Domains accepted in <bucket>.cos.<region>.<domain> (comma-separated)
    /// [default: myqcloud.com].
    #[arg(
        long = "domain",
        env = "HASHSCAN_DOMAINS",
        value_delimiter = ',',
        value_name = "DOMAIN"
    )]
    domains: Vec<String>,

    /// Region of buckets created without one [default: ap-guangzhou].
    #[arg(long, env = "HASHSCAN_DEFAULT_REGION", value_name = "REGION")]
    default_region: Option<String>,

    /// A bucket to create at start, as NAME-APPID or NAME-APPID@REGION (repeatable;
    /// comma-separated in the variable).
    #[arg(
        long = "bucket",
        env = "HASHSCAN_BUCKETS",
        value_delimiter = ',',
        value_name = "BUCKET"
    )]
    buckets: Vec<String>,

    /// Job workers of this node [default: 16 per core, at most 64].
    #[arg(long, env = "HASHSCAN_WORKERS", value_name = "N")]
    workers: Option<usize>,

    /// Largest object a PUT may store, in bytes [default: 53687091200 (50 GiB)].
    #[arg(long, env = "HASHSCAN_MAX_OBJECT_SIZE", value_name = "BYTES")]
    max_object_size: Option<u64>,

    /// PEM certificate chain: with --tls-key, the port speaks https only.
    #[arg(
        long,
        env = "HASHSCAN_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(
        long,
        env = "HASHSCAN_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    tls_key: Option<PathBuf>,
}

/// Flags shared by `serve` and `bucket`.
#[derive(Args, Debug)]
pub struct CommonArgs {
    /// TOML configuration file.
    #[arg(long, env = "HASHSCAN_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// Data directory: objects, the SQLite database, the generated key [default: ./hashscan-data].
    /// With --meta-url and --blobs-url: this node's scratch space only.
    #[arg(long, env = "HASHSCAN_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,

    /// Metadata on PostgreSQL, shared by every node given the same URL
    /// (postgres://USER:PASSWORD@HOST:PORT/DB) [default: SQLite in the data directory].
    #[arg(long, env = "HASHSCAN_META_URL", value_name = "URL")]
    meta_url: Option<String>,

    /// Object bytes in an S3-compatible bucket, s3://BUCKET[/PREFIX]; endpoint, region and
    /// credentials from AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_ALLOW_HTTP [default: the data directory].
    #[arg(long, env = "HASHSCAN_BLOBS_URL", value_name = "URL")]
    blobs_url: Option<String>,
}

impl CommonArgs {
    pub(crate) fn load(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(dir) = &self.data_dir {
            config.data_dir = dir.clone();
        }
        if let Some(url) = &self.meta_url {
            config.meta.url = Some(url.clone());
        }
        if let Some(url) = &self.blobs_url {
            config.blobs.url = Some(url.clone());
        }
        Ok(config)
    }
}

/// `hashscan bucket ...`
#[derive(Subcommand, Debug)]
pub enum BucketCommand {
    /// Create a bucket (NAME-APPID).
    Create {
        #[command(flatten)]
        common: CommonArgs,
        /// Bucket name, `<name>-<appid>`.
        name: String,
        /// Region [default: the configured default region].
        #[arg(long)]
        region: Option<String>,
        /// Allow unsigned GET and HEAD of its objects.
        #[arg(long)]
        public_read: bool,
    },
    /// List buckets.
    List {
        #[command(flatten)]
        common: CommonArgs,
    },
}

fn parse_bucket(spec: &str) -> BucketConfig {
    let (name, region) = match spec.split_once('@') {
        Some((n, r)) => (n, Some(r.to_string())),
        None => (spec, None),
    };
    BucketConfig {
        name: name.to_string(),
        region,
        public_read: false,
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HASHSCAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

/// Runs `hashscan serve`.
pub fn serve(args: ServeArgs) -> ExitCode {
    init_logging();
    match runtime().and_then(|rt| rt.block_on(serve_async(args))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hashscan: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve_async(args: ServeArgs) -> anyhow::Result<()> {
    let mut config = args.common.load()?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if !args.domains.is_empty() {
        config.domains = args.domains;
    }
    if let Some(region) = args.default_region {
        config.default_region = region;
    }
    config
        .buckets
        .extend(args.buckets.iter().map(|b| parse_bucket(b)));
    if let Some(n) = args.workers {
        config.workers = n.max(1);
    }
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        config.http.tls_cert = Some(cert.clone());
        config.http.tls_key = Some(key.clone());
    }
    if let Some(max) = args.max_object_size {
        config.limits.max_object_size = max;
    }
    let initial_key = match (
        std::env::var("HASHSCAN_ACCESS_KEY_ID"),
        std::env::var("HASHSCAN_SECRET_ACCESS_KEY"),
    ) {
        (Ok(id), Ok(secret)) if !id.is_empty() && !secret.is_empty() => Some((id, secret)),
        _ => None,
    };
    let data_dir = config.data_dir.clone();
    let server = Server::start(config, StartOptions { initial_key }).await?;
    if let Some(key) = &server.created_key {
        eprintln!(
            "Created an access key, stored in {} (mode 0600). It is shown only now:\n  SecretId:  {}\n  SecretKey: {}",
            data_dir
                .join(hashscan_server::keys::CREDENTIALS_FILE)
                .display(),
            key.id,
            key.secret
        );
    }
    let shutdown = shutdown_signal();
    let addr = server.local_addr()?;
    let scheme = if server.is_tls() { "https" } else { "http" };
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening on {scheme}://{addr}")?;
        out.flush()?;
    }
    tracing::info!(%addr, data_dir = %data_dir.display(), "serving");
    server.run(shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called, before
/// the server announces itself, so a signal sent right after `listening on` is not fatal.
fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    #[cfg(unix)]
    let int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt()).ok();
    async move {
        #[cfg(unix)]
        {
            let (mut term, mut int) = (term, int);
            tokio::select! {
                _ = async { match term.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending::<()>().await } } => {}
                _ = async { match int.as_mut() { Some(s) => { s.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing requests in flight");
    }
}

/// Runs `hashscan bucket ...`.
pub fn bucket(cmd: BucketCommand) -> ExitCode {
    match runtime().and_then(|rt| rt.block_on(bucket_async(cmd))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hashscan: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn bucket_async(cmd: BucketCommand) -> anyhow::Result<()> {
    let common = match &cmd {
        BucketCommand::Create { common, .. } | BucketCommand::List { common } => common,
    };
    let config = common.load()?;
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("cannot create {}", config.data_dir.display()))?;
    let store = hashscan_server::open_object_store(&config).await?;
    match cmd {
        BucketCommand::Create {
            name,
            region,
            public_read,
            ..
        } => {
            let region = region.unwrap_or(config.default_region);
            let b = store.create_bucket(&name, &region, public_read).await?;
            println!("{}\t{}", b.name, b.region);
        }
        BucketCommand::List { .. } => {
            for b in store.list_buckets().await? {
                let public = if b.public_read { "\tpublic-read" } else { "" };
                println!("{}\t{}{public}", b.name, b.region);
            }
        }
    }
    Ok(())
}
