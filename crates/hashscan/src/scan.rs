//! `hashscan scan` and `hashscan rules check`: the detection engine from the command line.
//!
//! Exit status as clamscan's: 0 when every file is clean, 1 when anything is malicious or
//! suspicious, 2 when something could not be scanned (and nothing was found).

use std::io::{self, Write};
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use hashscan_detect::{Config, Detector, MemoryBudget, Report, RuleConfig, ScanOptions, Verdict};

use crate::hash::inputs::{self, Input};
use crate::hash::{PROG, describe, shown};
use crate::ordered;

#[derive(Args, Debug)]
pub struct ScanArgs {
    /// Files or directories to scan (`-` for standard input).
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// YARA rule file or directory (.yar/.yara sources, .yarc compiled); repeatable.
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Hash list: ClamAV .hdb/.hsb (known bad), .fp/.sfp (known good), a plain list of
    /// hashes or a CSV with a hash column (known bad); repeatable.
    #[arg(long = "hashdb", value_name = "FILE")]
    hashdb: Vec<PathBuf>,
    /// Scan directories recursively.
    #[arg(short, long)]
    recursive: bool,
    /// One JSON object per file (JSON Lines) instead of text.
    #[arg(long)]
    json: bool,
    /// Leave out the rule pack built into hashscan.
    #[arg(long)]
    no_default_rules: bool,
    /// Print only files that are not clean.
    #[arg(short, long)]
    infected: bool,
    /// Also ask a running clamd (tcp://HOST:PORT, HOST:PORT or a unix socket path).
    #[arg(long, value_name = "ADDRESS", env = "HASHSCAN_CLAMD")]
    clamd: Option<String>,
    /// Bytes of a file scanned (the rest is hashed only); K, M, G suffixes (powers of 1024).
    #[arg(long, value_name = "SIZE", default_value = "512M", value_parser = parse_size)]
    max_scan_size: u64,
    /// Longest YARA scan of one file, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
    /// Verdict of an archive that exceeds the limits (zip bombs).
    #[arg(long, value_enum, default_value_t = LimitsVerdict::Suspicious)]
    limits_verdict: LimitsVerdict,
    /// Deepest archive nesting expanded.
    #[arg(long, value_name = "N", default_value_t = 5)]
    max_depth: u32,
    /// Most archive members scanned per file.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    max_members: u32,
    /// Memory for scan buffers shared by all the files scanned in parallel (their kept bytes
    /// and expanded archive members); K, M, G suffixes. A scan that cannot get memory in time
    /// is reported unknown. A file is scanned up to the smaller of this and --max-scan-size.
    #[arg(long, value_name = "SIZE", default_value = "384M", value_parser = parse_size)]
    scan_memory: u64,
    /// Keep compiled rules in DIR between runs, so that a run does not compile unchanged
    /// rules again (default: $HASHSCAN_CACHE_DIR/rules, else $XDG_CACHE_HOME/hashscan/rules,
    /// else ~/.cache/hashscan/rules; a directory other users can write to is not used).
    #[arg(long, value_name = "DIR")]
    rules_cache: Option<PathBuf>,
    /// Compile the rules on every run, keeping nothing.
    #[arg(long, conflicts_with = "rules_cache")]
    no_rules_cache: bool,
}

#[derive(ValueEnum, Clone, Copy, Debug)]
enum LimitsVerdict {
    Clean,
    Suspicious,
    Malicious,
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Compile rule files and directories and list every problem (exit 1 if any).
    Check {
        /// Rule files or directories.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    #[command(flatten)]
    Updates(crate::rules::UpdateCommand),
}

/// Parses `1024`, `64K`, `512M`, `1G` (powers of 1024; `KiB`, `MB`… accepted alike).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (n, unit) = t.split_at(digits);
    let n: u64 = n.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        _ => return Err(format!("unknown size unit in {s:?} (use K, M or G)")),
    };
    n.checked_mul(1u64 << shift)
        .ok_or_else(|| format!("size too large: {s:?}"))
}

/// Runs `hashscan scan`.
pub fn run(args: ScanArgs) -> ExitCode {
    let clamd = match args
        .clamd
        .as_deref()
        .map(str::parse::<hashscan_clamd::Address>)
    {
        None => None,
        Some(Ok(address)) => Some(hashscan_clamd::Clamd::new(address)),
        Some(Err(e)) => {
            eprintln!("{PROG}: --clamd: {e}");
            return ExitCode::from(2);
        }
    };
    let mut config = Config {
        rules: RuleConfig {
            paths: args.rules.clone(),
            default_pack: !args.no_default_rules,
        },
        hash_lists: args.hashdb.clone(),
        clamd,
        max_scan_size: args.max_scan_size,
        timeout: Duration::from_secs(args.timeout.max(1)),
        limits_verdict: match args.limits_verdict {
            LimitsVerdict::Clean => Verdict::Clean,
            LimitsVerdict::Suspicious => Verdict::Suspicious,
            LimitsVerdict::Malicious => Verdict::Malicious,
        },
        // One budget for every file the batches below scan in parallel.
        memory: MemoryBudget::new(args.scan_memory),
        rules_cache: if args.no_rules_cache {
            None
        } else {
            args.rules_cache
                .clone()
                .or_else(hashscan_detect::cache::default_dir)
        },
        ..Config::default()
    };
    config.archive.max_depth = args.max_depth;
    config.archive.max_members = args.max_members;
    let (detector, summary) = match Detector::new(config) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{PROG}: {e}");
            return ExitCode::from(2);
        }
    };
    for p in &summary.rule_problems {
        eprintln!("{PROG}: rules: {p} (file left out)");
    }
    for p in summary.list_problems.iter().take(20) {
        eprintln!("{PROG}: hash list: {p}");
    }
    if let (Some(_), hashscan_detect::CacheUse::Unusable(why)) =
        (&args.rules_cache, &summary.rules_cache)
    {
        eprintln!("{PROG}: --rules-cache: {why}");
    }
    if summary.rules == 0 && summary.hashes == 0 && args.clamd.is_none() {
        eprintln!("{PROG}: nothing to scan with: no rules, no hash lists, no clamd");
        return ExitCode::from(2);
    }

    // The text lines show verdicts, not hashes: only the digests the hash lists and the
    // content cache use are computed for them.
    let options = ScanOptions {
        report_hashes: args.json,
        ..ScanOptions::default()
    };
    let inputs = inputs::collect(&args.paths, args.recursive);
    let stdout = io::stdout();
    let mut out = io::BufWriter::new(stdout.lock());
    let (mut found, mut errors) = (false, false);
    let mut write_failed = false;
    let scan_one = |input: &Input| match input {
        Input::Stdin => Some(detector.scan_reader_with(&mut io::stdin().lock(), 0, &options)),
        Input::File { path, .. } => Some(scan_path(&detector, path, &options)),
        Input::Error { .. } => None,
    };
    ordered::for_each_ordered(
        &inputs,
        ordered::threads(),
        ordered::WINDOW,
        scan_one,
        |input, result, more| {
            let name = shown(input.name());
            let line = match (input, result) {
                (Input::Error { message, .. }, _) => {
                    errors = true;
                    let _ = out.flush();
                    eprintln!("{PROG}: {name}: {message}");
                    return ControlFlow::Continue(());
                }
                (_, Some(Err(e))) => {
                    errors = true;
                    let _ = out.flush();
                    eprintln!("{PROG}: {name}: {}", describe(&e));
                    return ControlFlow::Continue(());
                }
                (_, None) => return ControlFlow::Continue(()),
                (_, Some(Ok(report))) => {
                    match report.verdict {
                        Verdict::Malicious | Verdict::Suspicious => found = true,
                        Verdict::Unknown => errors = true,
                        Verdict::Clean => {}
                    }
                    if args.infected && report.verdict == Verdict::Clean {
                        return ControlFlow::Continue(());
                    }
                    if args.json {
                        json_line(&name, &report)
                    } else {
                        text_line(&name, &report)
                    }
                }
            };
            // Written out when nothing else is ready: lines appear as files finish.
            let written = writeln!(out, "{line}").and_then(|()| match more {
                true => Ok(()),
                false => out.flush(),
            });
            if let Err(e) = written {
                if e.kind() != io::ErrorKind::BrokenPipe {
                    eprintln!("{PROG}: write error: {}", describe(&e));
                }
                write_failed = true;
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        },
    );
    if write_failed || out.flush().is_err() {
        return ExitCode::from(2);
    }
    if found {
        ExitCode::from(1)
    } else if errors {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn scan_path(
    detector: &Detector,
    path: &std::path::Path,
    options: &ScanOptions,
) -> io::Result<Report> {
    if std::fs::metadata(path)?.is_dir() {
        return Err(io::Error::from(io::ErrorKind::IsADirectory));
    }
    detector.scan_file_with(path, options)
}

/// `PATH: VERDICT SCORE [TYPE NAME]`, and the archive members that are not clean.
fn text_line(name: &str, r: &Report) -> String {
    let mut line = format!("{name}: {} {}", r.verdict, r.score);
    if let (Some(t), Some(n)) = (r.threat_type, &r.threat_name) {
        line.push_str(&format!(" {t} {n}"));
    }
    for note in &r.notes {
        line.push_str(&format!(" ({note})"));
    }
    if let Some(a) = &r.archive {
        for m in &a.members {
            line.push_str(&format!("\n{name}!/{}: {} {}", m.path, m.verdict, m.score));
            if let (Some(t), Some(n)) = (m.threat_type, &m.threat_name) {
                line.push_str(&format!(" {t} {n}"));
            }
        }
        if let Some(limit) = &a.limits_exceeded {
            line.push_str(&format!("\n{name}: limits exceeded: {limit}"));
        }
    }
    line
}

fn json_line(name: &str, r: &Report) -> String {
    let mut value = serde_json::to_value(r).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("path".into(), serde_json::Value::String(name.to_string()));
    }
    value.to_string()
}

/// Runs `hashscan rules …`.
pub fn rules(cmd: RulesCommand) -> ExitCode {
    match cmd {
        RulesCommand::Updates(cmd) => crate::rules::run(cmd),
        RulesCommand::Check { paths } => {
            let set = RuleConfig {
                paths,
                default_pack: false,
            }
            .load();
            for p in &set.problems {
                println!("{p}");
            }
            for (file, count) in hashscan_detect::rules::rules_by_file(&set) {
                eprintln!("{file}: {count} rules");
            }
            eprintln!(
                "{} rules from {} files, {} problems; ruleset version {}",
                set.rule_count(),
                set.files().len(),
                set.problems.len(),
                set.version()
            );
            if set.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1024"), Ok(1024));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("512m"), Ok(512 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("G").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }
}
