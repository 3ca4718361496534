//! vmon-analyze: summaries, folded stacks and flamegraphs from `.vmt` captures.

use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Parser;
use std::path::Path;
use vmon_analyze::aggregate::Aggregates;
use vmon_analyze::analysis::Analysis;
use vmon_analyze::artifacts::ArtifactArgs;
use vmon_analyze::ingest::{self, Filters, Options};
use vmon_analyze::{load, output, summary};
use vmon_format::TaskState;

#[derive(Parser, Debug)]
#[command(
    name = "vmon-analyze",
    version,
    about = "Symbolize, aggregate and render vmon captures (.vmt)",
    long_about = "Symbolize, aggregate and render vmon captures (.vmt).\n\n\
Without an output option, prints a summary per watch: breaches, tasks sampled and the top \
stacks, fully symbolized. Exit status: 0 on success, 1 on an error (unreadable input), \
2 on a usage error, 3 when --fail-if-breaches finds more breaches than allowed, 4 when \
--strict finds data lost (a damaged input, records dropped while capturing) or when --strict or \
--fail-if-breaches finds an input from which nothing could be recovered.",
    after_help = "Examples:
  vmon-analyze run.vmt                              summary per watch
  vmon-analyze run.vmt --flamegraph run.svg         one SVG per watch
  vmon-analyze run.vmt --folded --group-by comm     folded stacks, a root frame per comm
  vmon-analyze new.vmt --diff base.vmt              functions whose share changed most
  vmon-analyze run.vmt --report r/ --fail-if-breaches 0   CI report and gate
  vmon-analyze --generate man > vmon-analyze.1      man page (or bash, zsh, fish completions)"
)]
struct Cli {
    /// Capture files; several are merged (watches with the same name,
    /// comparison and threshold are one watch).
    #[arg(required_unless_present = "symbolize_addrs", value_name = "FILE.vmt")]
    inputs: Vec<PathBuf>,

    /// Write flamegraph SVGs: one per watch (OUT-<watch>.svg when there are
    /// several), or one with --combined. Default OUT: <first input>.svg.
    #[arg(long, value_name = "OUT.svg", num_args = 0..=1, default_missing_value = "")]
    flamegraph: Option<String>,

    /// One flamegraph over all watches instead of one per watch.
    #[arg(long)]
    combined: bool,

    /// Add a root frame saying who ran each stack, in --folded and the
    /// flamegraphs (as stackcollapse-perf does with the comm).
    #[arg(long, value_name = "KEY", value_enum)]
    group_by: Option<output::GroupBy>,

    /// With --folded OUT: one file per watch, OUT-<watch>.folded (OUT's
    /// extension, if any, kept), instead of all watches in one.
    #[arg(long, requires = "folded")]
    folded_per_watch: bool,

    /// Write folded stacks (`frame;frame;... count`, root first) to OUT, or to
    /// stdout without a value.
    #[arg(long, value_name = "OUT", num_args = 0..=1, default_missing_value = "-")]
    folded: Option<String>,

    /// Compare with BASE.vmt: alone, print the functions whose share of the
    /// samples changed most (as `perf diff`); with --folded, the stacks with
    /// both counts (`stack base now`, as difffolded.pl); with --flamegraph
    /// [OUT], a differential flamegraph (widths from the inputs, colour
    /// from the change) to OUT or diff.svg.
    #[arg(long, value_name = "BASE.vmt")]
    diff: Option<PathBuf>,

    /// Print the summary as JSON instead of text.
    #[arg(long)]
    json: bool,

    /// Only these watches (by name; repeatable).
    #[arg(long, value_name = "NAME")]
    watch: Vec<String>,
    /// Only tasks with this pid or tgid (repeatable).
    #[arg(long, value_name = "PID")]
    pid: Vec<i32>,
    /// Only tasks with this comm (repeatable).
    #[arg(long, value_name = "COMM")]
    comm: Vec<String>,
    /// Only tasks in this state: R (running) or D (uninterruptible).
    #[arg(long, value_name = "R|D", value_parser = parse_state)]
    state: Vec<TaskState>,
    /// Only breaches at or after this time since the capture start (seconds,
    /// or with a unit: 500ms, 7s, 2m, 1h).
    #[arg(long, value_name = "TIME", value_parser = parse_seconds, allow_hyphen_values = true)]
    from: Option<f64>,
    /// Only breaches at or before this time since the capture start (as --from).
    #[arg(long, value_name = "TIME", value_parser = parse_seconds, allow_hyphen_values = true)]
    to: Option<f64>,
    /// Kernel frames only.
    #[arg(long, conflicts_with = "user_only")]
    kernel_only: bool,
    /// User frames only.
    #[arg(long)]
    user_only: bool,

    /// Where to look for binaries and debug files (repeatable): DIR/<name>,
    /// DIR/<name>.debug, DIR/.build-id/xx/rest.debug, and debuglinks.
    #[arg(long, value_name = "DIR")]
    debug_dir: Vec<PathBuf>,
    /// Keep C++ argument lists in folded stacks and flamegraphs (by default
    /// `ns::f(std::vector<int> const&) const` is shown as `ns::f`, so the
    /// name stays readable where a flamegraph cuts it).
    #[arg(long)]
    full_signatures: bool,
    /// Function names only: do not expand inlined frames.
    #[arg(long)]
    no_inlines: bool,
    /// Use the frame-pointer chains only; do not unwind raw user stacks.
    #[arg(long)]
    no_unwind: bool,
    /// Stacks shown per watch in the summary.
    #[arg(long, value_name = "N", default_value_t = 5)]
    top: usize,
    /// Worker threads (default: all cores; at most the cores available).
    #[arg(long, value_name = "N")]
    threads: Option<usize>,
    /// Refuse an input whose chunks decompress to more than SIZE bytes
    /// (e.g. 2G; default 32 times the file's size, at least 64M): bounds the
    /// memory a damaged or hostile file (a zstd bomb) can take.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_memory: Option<u64>,

    /// Print no warnings and no quality line on stderr (errors, and what an
    /// output option asks for, still print).
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,
    /// Also print each phase and what was read (repeat for more).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    /// Colour in the summary and warnings: auto (on a terminal, unless
    /// NO_COLOR is set), always, never.
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = ColorWhen::Auto)]
    color: ColorWhen,

    #[command(flatten)]
    artifacts: ArtifactArgs,
}

/// A time offset in seconds: a number with an optional unit (ns, us, ms, s,
/// m, h). NaN and infinities are refused: they would match nothing or
/// everything without a word.
fn parse_seconds(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a time like 7, 7s, 500ms, 2m or 1h"))?;
    if !v.is_finite() {
        return Err(format!("`{s}` is not a finite time"));
    }
    let mult = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => {
            return Err(format!(
                "unknown unit `{unit}` in `{s}`; use ns, us, ms, s, m or h"
            ))
        }
    };
    Ok(v * mult)
}

fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: u64 = num
        .parse()
        .map_err(|_| format!("`{s}` is not a size like 512M or 4G"))?;
    let mult: u64 = match unit.trim_end_matches(['B', 'i']) {
        "" => 1,
        "K" | "k" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => return Err(format!("unknown unit `{unit}` in `{s}`; use K, M, G or T")),
    };
    v.checked_mul(mult)
        .ok_or_else(|| format!("`{s}` is too large"))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// Whether to colour what goes to a stream that `is_tty` describes.
fn use_color(when: ColorWhen, is_tty: bool) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        // https://no-color.org: any non-empty NO_COLOR turns it off.
        ColorWhen::Auto => is_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// The summary with its watch headers in bold: names in it are escaped,
/// so no line of the capture's own can start like one.
fn colorize_summary(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 256);
    for l in text.split_inclusive('\n') {
        if l.starts_with("== watch ") {
            let (body, nl) = l.strip_suffix('\n').map_or((l, ""), |b| (b, "\n"));
            out.push_str("\x1b[1m");
            out.push_str(body);
            out.push_str("\x1b[0m");
            out.push_str(nl);
        } else {
            out.push_str(l);
        }
    }
    out
}

fn parse_state(s: &str) -> Result<TaskState, String> {
    match s {
        "R" | "r" => Ok(TaskState::Running),
        "D" | "d" => Ok(TaskState::Uninterruptible),
        _ => Err(format!(
            "unknown state {s:?}: use R (running) or D (uninterruptible)"
        )),
    }
}

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

/// One SVG per watch (or one for all), rendered in parallel.
fn write_flamegraphs(
    cli: &Cli,
    out: &str,
    first_stem: &str,
    a: &Analysis,
    agg: &Aggregates,
) -> Result<()> {
    use rayon::prelude::*;
    let base = if out.is_empty() {
        format!("{first_stem}.svg")
    } else {
        out.to_string()
    };
    let groups: Vec<&vmon_analyze::aggregate::Group> = if cli.combined || agg.per_watch.len() <= 1 {
        vec![&agg.total]
    } else {
        agg.per_watch.iter().collect()
    };
    let single = groups.len() == 1;
    // Watches whose names map to one file name (same name with another
    // threshold, names differing only in characters that become `_`, names
    // blanked by damage) get -2, -3...: every file is written once.
    let mut used: std::collections::HashSet<String> = std::collections::HashSet::new();
    let jobs: Vec<(String, &vmon_analyze::aggregate::Group)> = groups
        .into_iter()
        .map(|g| {
            let path = if single {
                base.clone()
            } else {
                let w = g
                    .watch
                    .and_then(|w| a.watches.get(w.idx()))
                    .map(|w| w.name.as_str())
                    .unwrap_or("all");
                let stem = base.strip_suffix(".svg").unwrap_or(&base);
                let name = output::file_stem(w);
                let mut path = format!("{stem}-{name}.svg");
                let mut n = 2;
                while used.contains(&path) {
                    path = format!("{stem}-{name}-{n}.svg");
                    n += 1;
                }
                path
            };
            used.insert(path.clone());
            // A lone watch keeps its own title.
            let g = match agg.per_watch.first() {
                Some(only) if single && agg.per_watch.len() == 1 && !cli.combined => only,
                _ => g,
            };
            (path, g)
        })
        .collect();
    for (path, _) in &jobs {
        refuse_input(cli, path)?;
    }
    jobs.par_iter().try_for_each(|(path, g)| -> Result<()> {
        let mut w = create(path)?;
        output::flamegraph_by(&mut w, a, agg, g, cli.group_by)
            .with_context(|| format!("writing {path}"))?;
        w.flush().with_context(|| format!("writing {path}"))?;
        eprintln!("vmon-analyze: wrote {path}");
        Ok(())
    })
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
fn refuse_input(cli: &Cli, out: &str) -> Result<()> {
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
fn print_warnings(cli: &Cli, a: &Analysis) {
    if cli.quiet {
        return;
    }
    let (on, off) = if use_color(cli.color, std::io::stderr().is_terminal()) {
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

fn create(path: &str) -> Result<BufWriter<File>> {
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
    if cli.artifacts.run_symbolize_addrs(!cli.no_inlines)? {
        return Ok(0);
    }
    // One output per stream: two on stdout would interleave unparsably.
    let on_stdout: Vec<&str> = [
        (cli.folded.as_deref() == Some("-"), "--folded"),
        (cli.json, "--json"),
        (cli.artifacts.uses_stdout(), "--query"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    if on_stdout.len() > 1 {
        eprintln!(
            "vmon-analyze: error: {} would all write to stdout; give --folded a file (--folded OUT) or run them separately",
            on_stdout.join(" and ")
        );
        return Ok(2);
    }
    if let Some(out) = cli.folded.as_deref().filter(|o| *o != "-") {
        refuse_input(&cli, out)?;
    }
    if let (Some(_), Some(out)) = (
        &cli.diff,
        cli.flamegraph.as_deref().filter(|o| !o.is_empty()),
    ) {
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
    if let (Some(f), Some(t)) = (cli.from, cli.to) {
        if f > t {
            eprintln!("vmon-analyze: error: --from {f} s is after --to {t} s: nothing would match");
            return Ok(2);
        }
    }
    let progress = Progress::new(cli.quiet, cli.verbose > 0);
    let a = build(&cli.inputs, &opts, cli.max_memory, &progress)?;
    progress.set("aggregating");
    let agg = Aggregates::compute_with(&a, cli.full_signatures);
    progress.done();

    let first_stem = cli
        .inputs
        .first()
        .and_then(|p| p.file_stem())
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| s != "-")
        .unwrap_or_else(|| "vmon".into());
    let mut stdout_used = false;

    if let Some(out) = cli.folded.as_ref().filter(|_| cli.diff.is_none()) {
        if out == "-" {
            if cli.folded_per_watch {
                eprintln!("vmon-analyze: error: --folded-per-watch needs a file: --folded OUT");
                return Ok(2);
            }
            let stdout = std::io::stdout();
            let mut w = BufWriter::new(stdout.lock());
            output::write_folded_by(&mut w, &a, &agg, &agg.total, cli.group_by)?;
            w.flush()?;
            stdout_used = true;
        } else if cli.folded_per_watch {
            let (stem, ext) = match out.rsplit_once('.') {
                Some((s, e)) if !s.is_empty() && !e.contains('/') => (s, format!(".{e}")),
                _ => (out.as_str(), String::new()),
            };
            let mut used = std::collections::HashSet::new();
            for g in &agg.per_watch {
                let name = g
                    .watch
                    .and_then(|w| a.watches.get(w.idx()))
                    .map_or("all".to_string(), |w| output::file_stem(&w.name));
                let mut path = format!("{stem}-{name}{ext}");
                let mut n = 2;
                while !used.insert(path.clone()) {
                    path = format!("{stem}-{name}-{n}{ext}");
                    n += 1;
                }
                refuse_input(&cli, &path)?;
                let mut w = create(&path)?;
                output::write_folded_by(&mut w, &a, &agg, g, cli.group_by)?;
                w.flush()?;
                eprintln!("vmon-analyze: wrote {path}");
            }
        } else {
            let mut w = create(out)?;
            output::write_folded_by(&mut w, &a, &agg, &agg.total, cli.group_by)?;
            w.flush()?;
            eprintln!("vmon-analyze: wrote {out}");
        }
    }

    if let Some(base) = &cli.diff {
        let b = build(std::slice::from_ref(base), &opts, cli.max_memory, &progress)?;
        let bagg = Aggregates::compute_with(&b, cli.full_signatures);
        let base_lines = output::folded_lines(&bagg, &bagg.total);
        let now_lines = output::folded_lines(&agg, &agg.total);
        let mut wrote = false;
        // `--diff --folded`: two counts per stack, as difffolded.pl prints.
        if let Some(out) = &cli.folded {
            let mut text = output::diff_lines(&base_lines, &now_lines).join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            if out == "-" {
                std::io::stdout().write_all(text.as_bytes())?;
                stdout_used = true;
            } else {
                std::fs::write(out, text).with_context(|| format!("writing {out}"))?;
                eprintln!("vmon-analyze: wrote {out}");
            }
            wrote = true;
        }
        if let Some(fg) = cli.flamegraph.as_deref() {
            let out = if fg.is_empty() { "diff.svg" } else { fg };
            let title = format!(
                "vmon diff: {} vs base {}",
                cli.inputs
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                base.display()
            );
            let sub = format!(
                "base {} samples, now {} samples; red grew, blue shrank (kernel frames _[k])",
                bagg.total.samples, agg.total.samples
            );
            let mut w = create(out)?;
            output::diff_flamegraph(&mut w, title, sub, &base_lines, &now_lines)?;
            w.flush()?;
            eprintln!("vmon-analyze: wrote {out}");
            wrote = true;
        }
        if !wrote {
            // As `perf diff`: the functions whose share changed most.
            let text = output::diff_text(&b, &bagg, &a, &agg, cli.top.max(20));
            std::io::stdout().write_all(text.as_bytes())?;
            stdout_used = true;
        }
    }

    // Flamegraphs (inferno renders each on one thread) and the tables run
    // side by side: on two cores they overlap instead of adding up.
    let (flamed, exit_code) = rayon::join(
        || match (&cli.diff, &cli.flamegraph) {
            (None, Some(out)) => write_flamegraphs(&cli, out, &first_stem, &a, &agg),
            _ => Ok(()),
        },
        || cli.artifacts.run(&a, &agg),
    );
    flamed?;
    let exit_code = exit_code?;

    let sopts = summary::SummaryOptions {
        top_stacks: cli.top,
        ..Default::default()
    };
    if cli.json {
        print_warnings(&cli, &a);
        let v = summary::json_with_gate(&a, &agg, &sopts, cli.artifacts.fail_if_breaches);
        let mut s = serde_json::to_string_pretty(&v)?;
        s.push('\n');
        std::io::stdout().write_all(s.as_bytes())?;
    } else if !stdout_used
        && cli.flamegraph.is_none()
        && cli.diff.is_none()
        && cli.folded.is_none()
        && !cli.artifacts.any_output()
    {
        print_warnings(&cli, &a);
        let text = summary::text(&a, &agg, &sopts);
        let text = if use_color(cli.color, std::io::stdout().is_terminal()) {
            colorize_summary(&text)
        } else {
            text
        };
        std::io::stdout().write_all(text.as_bytes())?;
    } else {
        print_warnings(&cli, &a);
        if !cli.quiet {
            eprintln!(
                "vmon-analyze: {}",
                vmon_analyze::escape::visible(&a.quality.line())
            );
        }
    }
    Ok(exit_code)
}
