//! vmon-analyze: summaries, folded stacks and flamegraphs from `.vmt` captures.
//!
//! The flags ([`cli`]) become one output [`plan::Plan`], checked before any
//! input is read and executed once: which files each output writes, who
//! owns stdout, and the exit status.

mod cli;
mod plan;

use std::fs::File;
use std::io::{BufWriter, IsTerminal};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Parser;
use cli::Cli;
use vmon_analyze::aggregate::Aggregates;
use vmon_analyze::analysis::Analysis;
use vmon_analyze::ingest::{self, Filters, Options};
use vmon_analyze::load;

/// A spinner with the current phase on a terminal; with VMON_TIMING set,
/// the time of each phase on stderr instead.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    timing: Option<std::cell::RefCell<(std::time::Instant, String)>>,
}

impl Progress {
    fn new(quiet: bool, verbose: bool) -> Progress {
        let timing = (verbose || std::env::var_os("VMON_TIMING").is_some())
            .then(|| std::cell::RefCell::new((std::time::Instant::now(), "start".to_string())));
        if quiet || timing.is_some() || !std::io::stderr().is_terminal() {
            return Progress { bar: None, timing };
        }
        let pb = indicatif::ProgressBar::new_spinner();
        pb.enable_steady_tick(std::time::Duration::from_millis(100));
        Progress {
            bar: Some(pb),
            timing,
        }
    }
    fn set(&self, msg: &str) {
        if let Some(pb) = &self.bar {
            pb.set_message(msg.to_string());
        }
        if let Some(t) = &self.timing {
            let mut t = t.borrow_mut();
            eprintln!(
                "vmon-analyze: {:>8.3} s  {}",
                t.0.elapsed().as_secs_f64(),
                t.1
            );
            *t = (std::time::Instant::now(), msg.to_string());
        }
    }
    fn done(&self) {
        if let Some(pb) = &self.bar {
            pb.finish_and_clear();
        }
        self.set("done");
    }
}

fn build(
    paths: &[PathBuf],
    opts: &Options,
    max_decoded: Option<u64>,
    progress: &Progress,
) -> Result<Analysis> {
    let mut inputs = Vec::with_capacity(paths.len());
    for p in paths {
        progress.set(&format!("reading {}", p.display()));
        inputs.push(load::load_limited(&p.to_string_lossy(), max_decoded)?);
    }
    // `--watch NAME` that names no watch: say which watches there are.
    let mut names: Vec<String> = inputs
        .iter()
        .flat_map(|i| {
            i.capture
                .watches
                .iter()
                .map(|w| i.capture.str(w.name).to_string())
        })
        .collect();
    names.sort();
    names.dedup();
    let unknown: Vec<&String> = opts
        .filters
        .watch
        .iter()
        .filter(|w| !names.contains(w))
        .collect();
    let mut a = ingest::analyze(inputs, opts, &|m| progress.set(m));
    // The same file twice doubles every count; captures of other hosts or
    // kernels merge into one view: say so.
    for (i, p) in paths.iter().enumerate() {
        if let Some(q) = paths[..i].iter().find(|q| same_file(q, p)) {
            a.warnings.push(format!(
                "{} and {} are the same file: its counts are added twice",
                q.display(),
                p.display()
            ));
        }
    }
    let mut hosts: Vec<(&str, &str)> = a
        .inputs
        .iter()
        .map(|i| (i.meta.hostname.as_str(), i.meta.kernel_release.as_str()))
        .collect();
    hosts.sort();
    hosts.dedup();
    if hosts.len() > 1 {
        let list: Vec<String> = hosts
            .iter()
            .map(|(h, k)| {
                format!(
                    "{} ({})",
                    if h.is_empty() { "?" } else { h },
                    if k.is_empty() { "?" } else { k }
                )
            })
            .collect();
        a.warnings.push(format!(
            "merging captures of different hosts or kernels: {}; their stacks and counts are added together",
            list.join(", ")
        ));
    }
    for d in &opts.debug_dirs {
        if !d.is_dir() {
            a.warnings.push(format!(
                "--debug-dir {} is not a directory: nothing will be found there",
                d.display()
            ));
        }
    }
    for w in unknown {
        a.warnings.push(format!(
            "--watch {w} matches no watch; the input has: {}",
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ));
    }
    Ok(a)
}

/// Same device and inode.
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

/// Refuses to write `out` when it is one of the run's inputs (under any
/// name): it would be truncated before, or while, it is read.
pub(crate) fn refuse_input(cli: &Cli, out: &str) -> Result<()> {
    let out_p = Path::new(out);
    if let Some(i) = cli
        .inputs
        .iter()
        .chain(cli.diff.as_ref())
        .find(|i| same_file(i, out_p))
    {
        bail!(
            "the output {out} is the input {}: writing it would destroy the capture; choose another file",
            i.display()
        );
    }
    Ok(())
}

/// Warnings always go to stderr, escaped, unless --quiet.
pub(crate) fn print_warnings(cli: &Cli, a: &Analysis) {
    if cli.quiet {
        return;
    }
    let (on, off) = if cli::use_color(cli.color, std::io::stderr().is_terminal()) {
        ("\x1b[33m", "\x1b[0m")
    } else {
        ("", "")
    };
    for w in &a.warnings {
        eprintln!(
            "vmon-analyze: {on}warning{off}: {}",
            vmon_analyze::escape::visible(w)
        );
    }
}

pub(crate) fn create(path: &str) -> Result<BufWriter<File>> {
    let f = File::create(path).with_context(|| format!("creating {path}"))?;
    Ok(BufWriter::new(f))
}

fn main() {
    if let Some(kind) = vmon_cli::generate_request() {
        use clap::CommandFactory;
        std::process::exit(vmon_cli::generate(&kind, Cli::command()));
    }
    match run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // `vmon-analyze x.vmt | head` is not an error.
            let pipe = e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
            });
            if pipe {
                std::process::exit(0);
            }
            eprintln!("vmon-analyze: error: {e:#}");
            std::process::exit(1);
        }
    }
}

fn run() -> Result<i32> {
    let cli = Cli::parse();
    if let Some(n) = cli.threads {
        // More threads than cores only adds overhead (100000 ran for
        // minutes): cap at the cores this process may use.
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        if n > cores {
            eprintln!("vmon-analyze: warning: --threads {n} capped at the {cores} cores available");
        }
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.clamp(1, cores))
            .build_global()
            .context("starting the worker threads")?;
    }
    let plan = match plan::Plan::new(&cli) {
        Ok(p) => p,
        Err(usage) => {
            eprintln!("vmon-analyze: error: {usage}");
            return Ok(2);
        }
    };
    for out in plan.files_before_reading() {
        refuse_input(&cli, out)?;
    }
    let opts = Options {
        filters: Filters {
            watch: cli.watch.clone(),
            pid: cli.pid.clone(),
            comm: cli.comm.clone(),
            state: cli.state.clone(),
            from_s: cli.from,
            to_s: cli.to,
            kernel_only: cli.kernel_only,
            user_only: cli.user_only,
        },
        debug_dirs: cli.debug_dir.clone(),
        inlines: !cli.no_inlines,
        unwind: !cli.no_unwind,
    };
    let progress = Progress::new(cli.quiet, cli.verbose > 0);
    let a = build(&cli.inputs, &opts, cli.max_memory, &progress)?;
    progress.set("aggregating");
    let agg = Aggregates::compute_with(&a, cli.full_signatures);
    progress.done();
    let base = match &plan.diff {
        Some(d) => {
            let b = build(
                std::slice::from_ref(&d.base),
                &opts,
                cli.max_memory,
                &progress,
            )?;
            let bagg = Aggregates::compute_with(&b, cli.full_signatures);
            Some((b, bagg))
        }
        None => None,
    };
    plan.execute(&cli, &a, &agg, base.as_ref())
}
