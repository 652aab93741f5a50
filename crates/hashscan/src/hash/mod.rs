//! `hashscan hash`: digests of files, printed as md5sum/sha256sum print them, or checked
//! against a list as `sha256sum -c` checks it.
//!
//! Files are hashed in parallel across cores, in batches whose results are printed in the
//! order the files were named; a big file alone uses the engine's per-algorithm lanes.
//! Errors name the path, the other files are still processed, and the exit code is 1 at the
//! end, as coreutils does.

mod check;
mod format;
pub(crate) mod inputs;

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use hashscan_digest::{Algorithm, AlgorithmSet, Digests, Hasher, Options};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use self::inputs::Input;
use crate::ordered;

/// Arguments of `hashscan hash`.
#[derive(Args, Debug)]
#[command(after_help = "\
Without PATH, or with '-', standard input is read.
Algorithms: md5, sha1, sha256, sha512, crc64 (CRC-64/XZ, as COS's x-cos-hash-crc64ecma),
crc32c, blake3; 'all' selects every one.

Exit status: 0 if every file was hashed (or every check passed), 1 otherwise.")]
pub struct HashArgs {
    /// Comma-separated algorithms to compute [default: sha256]. With --check, the
    /// algorithms that bare (GNU-style) digests are taken to be.
    #[arg(short, long, value_name = "LIST")]
    algorithms: Option<String>,

    /// Descend into directories.
    #[arg(short, long)]
    recursive: bool,

    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Gnu)]
    format: Format,

    /// Same as --format bsd.
    #[arg(long, conflicts_with = "format")]
    tag: bool,

    /// Read checksums from FILE ('-' for standard input) and verify them; may be repeated.
    #[arg(short, long, value_name = "FILE")]
    check: Vec<PathBuf>,

    /// With --check: don't print OK for each verified file.
    #[arg(long, requires = "check")]
    quiet: bool,

    /// With --check: print nothing; the exit status tells the result.
    #[arg(long, requires = "check")]
    status: bool,

    /// With --check: don't fail or report for files that do not exist.
    #[arg(long, requires = "check")]
    ignore_missing: bool,

    /// Never show a progress bar (it is shown only when stderr is a terminal anyway).
    #[arg(long)]
    no_progress: bool,

    /// Files or directories to hash.
    #[arg(value_name = "PATH", conflicts_with = "check")]
    paths: Vec<PathBuf>,
}

/// How digests are printed.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// `<hex>  <path>`, one line per algorithm per file, as md5sum/sha256sum print.
    Gnu,
    /// `SHA256 (path) = <hex>`, as `sha256sum --tag` and BSD's md5 print.
    Bsd,
    /// One JSON object per file and line: path, size and every digest.
    Json,
}

/// The program's name in messages.
pub(crate) const PROG: &str = "hashscan";

/// Below this size a file among many is hashed on one thread: the other cores are busy
/// with other files.
const LANES_MIN_SIZE: u64 = 16 * 1024 * 1024;
/// Work smaller than this finishes before a progress bar would be useful.
const PROGRESS_MIN_BYTES: u64 = 64 * 1024 * 1024;

/// Runs `hashscan hash`.
pub fn run(args: HashArgs) -> ExitCode {
    let given = args.algorithms.as_deref().map(str::parse::<AlgorithmSet>);
    let algorithms = match given.unwrap_or(Ok(AlgorithmSet::one(Algorithm::Sha256))) {
        Ok(set) if !set.is_empty() => set,
        Ok(_) => {
            eprintln!("{PROG}: no algorithm given to --algorithms");
            return ExitCode::FAILURE;
        }
        Err(e) => {
            eprintln!("{PROG}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let progress = !args.no_progress && io::stderr().is_terminal();
    let ok = if !args.check.is_empty() {
        let explicit = args.algorithms.is_some().then_some(algorithms);
        check::run(
            &args.check,
            &check::CheckOptions {
                explicit,
                quiet: args.quiet,
                status: args.status,
                ignore_missing: args.ignore_missing,
                progress,
            },
        )
    } else {
        let format = if args.tag { Format::Bsd } else { args.format };
        hash_paths(&args.paths, args.recursive, algorithms, format, progress)
    };
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn hash_paths(
    paths: &[PathBuf],
    recursive: bool,
    algorithms: AlgorithmSet,
    format: Format,
    progress: bool,
) -> bool {
    let inputs = inputs::collect(paths, recursive);
    let hashable = inputs.iter().filter(|i| i.is_hashable()).count();
    let bar = progress_bar(progress, inputs.iter().map(Input::size).sum());
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let mut ok = true;
    let mut failed = None;
    let hash_one = |input: &Input| match input {
        Input::Stdin => Some(hash_stdin(algorithms, &bar)),
        Input::File { path, size } => {
            let lanes = hashable == 1 || *size >= LANES_MIN_SIZE;
            Some(hash_path(path, *size, algorithms, lanes, &bar))
        }
        Input::Error { .. } => None,
    };
    ordered::for_each_ordered(
        &inputs,
        ordered::threads(),
        ordered::WINDOW,
        hash_one,
        |input, result, more| {
            let written = match (input, result) {
                (Input::Error { name, message }, _) => {
                    report(&mut out, &bar, &format!("{}: {message}", shown(name)));
                    ok = false;
                    Ok(())
                }
                (_, Some(Ok(digests))) => format::write(&mut out, format, input.name(), &digests),
                (_, Some(Err(e))) => {
                    let line = format!("{}: {}", shown(input.name()), describe(&e));
                    report(&mut out, &bar, &line);
                    ok = false;
                    Ok(())
                }
                (_, None) => Ok(()),
            };
            // Written out when nothing else is ready: lines appear as files finish.
            let written = written.and_then(|()| match more {
                true => Ok(()),
                false => out.flush(),
            });
            match written {
                Ok(()) => ControlFlow::Continue(()),
                Err(e) => {
                    failed = Some(e);
                    ControlFlow::Break(())
                }
            }
        },
    );
    if let Some(e) = failed.or_else(|| out.flush().err()) {
        return output_failed(&e);
    }
    bar.finish_and_clear();
    ok
}

/// Hashes one file; `lanes` lets a big file spread its algorithms over cores.
pub(crate) fn hash_path(
    path: &Path,
    size: u64,
    algorithms: AlgorithmSet,
    lanes: bool,
    bar: &ProgressBar,
) -> io::Result<Digests> {
    let file = File::open(path)?;
    if file.metadata()?.is_dir() {
        return Err(io::Error::from(io::ErrorKind::IsADirectory));
    }
    let mut options = Options::new().size_hint(size);
    if !lanes {
        options = options.lanes(1);
    }
    let mut hasher = Hasher::with_options(algorithms, &options);
    hasher.update_from_reader(&mut Counted { inner: file, bar })?;
    Ok(hasher.finish())
}

pub(crate) fn hash_stdin(algorithms: AlgorithmSet, bar: &ProgressBar) -> io::Result<Digests> {
    let mut hasher = Hasher::new(algorithms);
    hasher.update_from_reader(&mut Counted {
        inner: io::stdin().lock(),
        bar,
    })?;
    Ok(hasher.finish())
}

/// A reader that advances the progress bar.
struct Counted<'a, R> {
    inner: R,
    bar: &'a ProgressBar,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}

/// A byte progress bar on stderr, or a hidden one when not wanted.
pub(crate) fn progress_bar(wanted: bool, total: u64) -> ProgressBar {
    if !wanted || total < PROGRESS_MIN_BYTES {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} {binary_bytes}/{binary_total_bytes} [{wide_bar}] {binary_bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Prints an error line on stderr, after what stdout has so far, without tearing the bar.
pub(crate) fn report(out: &mut impl Write, bar: &ProgressBar, message: &str) {
    let _ = out.flush();
    bar.suspend(|| eprintln!("{PROG}: {message}"));
}

fn output_failed(e: &io::Error) -> bool {
    if e.kind() != io::ErrorKind::BrokenPipe {
        eprintln!("{PROG}: write error: {}", describe(e));
    }
    false
}

/// A name as shown in messages on stderr.
pub(crate) fn shown(name: &OsStr) -> std::borrow::Cow<'_, str> {
    name.to_string_lossy()
}

/// An I/O error as coreutils words it: "No such file or directory", without Rust's
/// "(os error 2)" suffix.
pub(crate) fn describe(e: &io::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" (os error ") {
        Some((message, _)) => message.to_string(),
        None if e.kind() == io::ErrorKind::IsADirectory => "Is a directory".to_string(),
        None => text,
    }
}

/// Which algorithm a bare hex digest of `len` characters is, preferring `explicit` ones.
pub(crate) fn algorithm_for_hex_len(
    len: usize,
    explicit: Option<AlgorithmSet>,
) -> Option<Algorithm> {
    if let Some(set) = explicit {
        return set.iter().find(|a| a.output_len() * 2 == len);
    }
    // Without a hint a 64-digit digest is SHA-256, as in sha256sum's files.
    [
        Algorithm::Md5,
        Algorithm::Sha1,
        Algorithm::Sha256,
        Algorithm::Sha512,
        Algorithm::Crc64,
        Algorithm::Crc32c,
    ]
    .into_iter()
    .find(|a| a.output_len() * 2 == len)
}
