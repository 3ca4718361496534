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
use vmon_analyze::progress::Progress as _;

/// The progress of a run on stderr: a bar with counts, rate and ETA for
/// the phases that know their size, a spinner with a count for the others,
/// on a terminal only and not with `--quiet` (hidden otherwise: piped
/// output is unchanged). With `-v` or VMON_TIMING set, the time of each
/// phase on stderr instead of the bar.
struct Bar {
    bar: indicatif::ProgressBar,
    quiet: bool,
    timing: Option<std::sync::Mutex<(std::time::Instant, String)>>,
}

impl Bar {
    fn new(quiet: bool, verbose: bool) -> Bar {
        let timing = (verbose || std::env::var_os("VMON_TIMING").is_some())
            .then(|| std::sync::Mutex::new((std::time::Instant::now(), "start".to_string())));
        let show = !quiet && timing.is_none() && std::io::stderr().is_terminal();
        Bar::with_target(show, quiet, timing)
    }

    fn with_target(
        show: bool,
        quiet: bool,
        timing: Option<std::sync::Mutex<(std::time::Instant, String)>>,
    ) -> Bar {
        let target = if show {
            indicatif::ProgressDrawTarget::stderr()
        } else {
            indicatif::ProgressDrawTarget::hidden()
        };
        let bar = indicatif::ProgressBar::with_draw_target(None, target);
        bar.set_style(Self::spinner());
        if show {
            bar.enable_steady_tick(std::time::Duration::from_millis(100));
        }
        Bar { bar, quiet, timing }
    }

    /// A phase of unknown size: its count so far, when it counts.
    fn spinner() -> indicatif::ProgressStyle {
        indicatif::ProgressStyle::with_template("{spinner} {msg}{count} ({elapsed})")
            .expect("a valid template")
            .with_key(
                "count",
                |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    if s.pos() > 0 {
                        let _ = write!(w, ": {}", indicatif::HumanCount(s.pos()));
                    }
                },
            )
    }

    fn counted() -> indicatif::ProgressStyle {
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {human_pos}/{human_len} ({per_sec}, ETA {eta})",
        )
        .expect("a valid template")
        .progress_chars("=> ")
    }

    fn log_timing(&self, next: &str) {
        if let Some(t) = &self.timing {
            let mut t = t.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            eprintln!(
                "vmon-analyze: {:>8.3} s  {}",
                t.0.elapsed().as_secs_f64(),
                t.1
            );
            *t = (std::time::Instant::now(), next.to_string());
        }
    }

    /// Clears the bar before the summary or the warnings are printed.
    fn done(&self) {
        self.bar.finish_and_clear();
        self.log_timing("done");
    }
}

impl Drop for Bar {
    /// A run that fails leaves no bar before its error.
    fn drop(&mut self) {
        if !self.bar.is_finished() {
            self.bar.finish_and_clear();
        }
    }
}

impl vmon_analyze::progress::Progress for Bar {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.log_timing(name);
        // The count first, then the text, then the style that shows them:
        // no frame shows a phase with the previous one's figures.
        self.bar.reset();
        match total {
            Some(n) => self.bar.set_length(n),
            None => self.bar.unset_length(),
        }
        self.bar.set_message(name.to_string());
        self.bar.set_style(match total {
            Some(_) => Self::counted(),
            None => Self::spinner(),
        });
    }

    fn inc(&self, n: u64) {
        self.bar.inc(n);
    }

    fn note(&self, line: &str) {
        if !self.quiet {
            self.bar.suspend(|| eprintln!("vmon-analyze: {line}"));
        }
    }

    fn warn(&self, line: &str) {
        self.bar.suspend(|| eprintln!("vmon-analyze: {line}"));
    }
}

fn build(
    paths: &[PathBuf],
    opts: &Options,
    max_decoded: Option<u64>,
    progress: &Bar,
) -> Result<Analysis> {
    let mut inputs = Vec::with_capacity(paths.len());
    for p in paths {
        progress.phase(&format!("reading {}", p.display()), None);
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
    let mut a = ingest::analyze(inputs, opts, progress);
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
pub(crate) fn refuse_input(cli: &Cli, out: impl AsRef<Path>) -> Result<()> {
    let out_p = out.as_ref();
    let out = out_p.display();
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

/// The debuginfod client DEBUGINFOD_URLS asks for, unless --no-debuginfod
/// (a bad DEBUGINFOD_* setting is a warning, not a failed run).
fn debuginfod_client(cli: &Cli) -> Option<vmon_analyze::symbolize::debuginfod::Shared> {
    use vmon_analyze::symbolize::debuginfod::Client;
    if cli.no_debuginfod {
        return None;
    }
    let mut notes = Vec::new();
    let c = Client::from_env(&mut notes).unwrap_or_else(|e| {
        notes.push(format!("{e}; no debuginfod server is asked"));
        None
    });
    if !cli.quiet {
        for n in notes {
            eprintln!(
                "vmon-analyze: warning: {}",
                vmon_analyze::escape::visible(&n)
            );
        }
    }
    c.map(std::sync::Arc::new)
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
        debuginfod: debuginfod_client(&cli),
    };
    let progress = Bar::new(cli.quiet, cli.verbose > 0);
    let a = build(&cli.inputs, &opts, cli.max_memory, &progress)?;
    progress.phase("aggregating", None);
    let agg = Aggregates::compute_with(&a, cli.full_signatures);
    let base = match &plan.diff {
        Some(d) => {
            let b = build(
                std::slice::from_ref(&d.base),
                &opts,
                cli.max_memory,
                &progress,
            )?;
            progress.phase("aggregating the base", None);
            let bagg = Aggregates::compute_with(&b, cli.full_signatures);
            Some((b, bagg))
        }
        None => None,
    };
    plan.execute(&cli, &a, &agg, base.as_ref(), &progress)
}
