//! The command line: the flags, their parsers, and how colour is chosen.
//! Only the binary knows clap; [`ArtifactArgs::into_artifacts`] hands the
//! library its plain options.

use std::path::PathBuf;

use clap::Parser;
use vmon_analyze::artifacts::Artifacts;
use vmon_analyze::gates::{GrowthGate, ShareGate};
use vmon_analyze::output;
use vmon_format::TaskState;

#[derive(Parser, Debug)]
#[command(
    name = "vmon-analyze",
    version,
    about = "Symbolize, aggregate and render vmon captures (.vmt)",
    long_about = "Symbolize, aggregate and render vmon captures (.vmt).\n\n\
Without an output option, prints a summary per watch: breaches, tasks sampled and the top \
stacks, fully symbolized. Exit status: 0 on success, 1 on an error (unreadable input), \
2 on a usage error, 3 when --fail-if-breaches finds more breaches than allowed or a \
--fail-if-share or --fail-if-growth gate fails, 4 when \
--strict finds data lost (a damaged input, records dropped while capturing) or when --strict or \
a gate finds an input from which nothing could be recovered.",
    after_help = "Examples:
  vmon-analyze run.vmt                              summary per watch
  vmon-analyze run.vmt --flamegraph run.svg         one SVG per watch
  vmon-analyze run.vmt --folded --group-by comm     folded stacks, a root frame per comm
  vmon-analyze new.vmt --diff base.vmt              functions whose share changed most
  vmon-analyze run.vmt --report r/ --fail-if-breaches 0   CI report and gate
  vmon-analyze run.vmt --fail-if-share 'io_schedule>5%'   fail on a function's share
  vmon-analyze new.vmt --baseline base.vmt --fail-if-growth 'io_schedule>2x' --report r/
  vmon-analyze --generate man > vmon-analyze.1      man page (or bash, zsh, fish completions)"
)]
pub struct Cli {
    /// Capture files; several are merged (watches with the same name,
    /// comparison and threshold are one watch).
    #[arg(required = true, value_name = "FILE.vmt")]
    pub inputs: Vec<PathBuf>,

    /// Write flamegraph SVGs: one per watch (OUT-<watch>.svg when there are
    /// several), or one with --combined. Default OUT: <first input>.svg.
    #[arg(long, value_name = "OUT.svg", num_args = 0..=1, default_missing_value = "")]
    pub flamegraph: Option<String>,

    /// One flamegraph over all watches instead of one per watch.
    #[arg(long)]
    pub combined: bool,

    /// Add a root frame saying who ran each stack, in --folded and the
    /// flamegraphs (as stackcollapse-perf does with the comm).
    #[arg(long, value_name = "KEY", value_enum)]
    pub group_by: Option<GroupByArg>,

    /// With --folded OUT: one file per watch, OUT-<watch>.folded (OUT's
    /// extension, if any, kept), instead of all watches in one.
    #[arg(long, requires = "folded")]
    pub folded_per_watch: bool,

    /// Write folded stacks (`frame;frame;... count`, root first) to OUT, or to
    /// stdout without a value.
    #[arg(long, value_name = "OUT", num_args = 0..=1, default_missing_value = "-")]
    pub folded: Option<String>,

    /// Compare with BASE.vmt: alone, print the functions whose share of the
    /// samples changed most (as `perf diff`); with --folded, the stacks with
    /// both counts (`stack base now`, as difffolded.pl); with --flamegraph
    /// [OUT], a differential flamegraph (widths from the inputs, colour
    /// from the change) to OUT or diff.svg. With --report, the report's
    /// "Change against the base"; the base of --fail-if-growth.
    /// `--baseline` is the same option.
    #[arg(long, visible_alias = "baseline", value_name = "BASE.vmt")]
    pub diff: Option<PathBuf>,

    /// Print the summary as JSON instead of text.
    #[arg(long)]
    pub json: bool,

    /// Only these watches (by name; repeatable).
    #[arg(long, value_name = "NAME")]
    pub watch: Vec<String>,
    /// Only tasks with this pid or tgid (repeatable).
    #[arg(long, value_name = "PID")]
    pub pid: Vec<i32>,
    /// Only tasks with this comm (repeatable).
    #[arg(long, value_name = "COMM")]
    pub comm: Vec<String>,
    /// Only tasks in this state: R (running) or D (uninterruptible).
    #[arg(long, value_name = "R|D", value_parser = parse_state)]
    pub state: Vec<TaskState>,
    /// Only breaches at or after this time since the capture start (seconds,
    /// or with a unit: 500ms, 7s, 2m, 1h).
    #[arg(long, value_name = "TIME", value_parser = parse_seconds, allow_hyphen_values = true)]
    pub from: Option<f64>,
    /// Only breaches at or before this time since the capture start (as --from).
    #[arg(long, value_name = "TIME", value_parser = parse_seconds, allow_hyphen_values = true)]
    pub to: Option<f64>,
    /// Kernel frames only.
    #[arg(long, conflicts_with = "user_only")]
    pub kernel_only: bool,
    /// User frames only.
    #[arg(long)]
    pub user_only: bool,

    /// Where to look for binaries and debug files (repeatable): DIR/<name>,
    /// DIR/<name>.debug, DIR/.build-id/xx/rest.debug, and debuglinks.
    #[arg(long, value_name = "DIR")]
    pub debug_dir: Vec<PathBuf>,
    /// Do not fetch missing binaries and debug info from the debuginfod
    /// servers in DEBUGINFOD_URLS (unset: none are asked).
    #[arg(long)]
    pub no_debuginfod: bool,
    /// Keep C++ argument lists in folded stacks and flamegraphs (by default
    /// `ns::f(std::vector<int> const&) const` is shown as `ns::f`, so the
    /// name stays readable where a flamegraph cuts it).
    #[arg(long)]
    pub full_signatures: bool,
    /// Function names only: do not expand inlined frames.
    #[arg(long)]
    pub no_inlines: bool,
    /// Use the frame-pointer chains only; do not unwind raw user stacks.
    #[arg(long)]
    pub no_unwind: bool,
    /// Stacks shown per watch in the summary.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub top: usize,
    /// Worker threads (default: all cores; at most the cores available).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Refuse an input whose chunks decompress to more than SIZE bytes
    /// (e.g. 2G; default 32 times the file's size, at least 64M): bounds the
    /// memory a damaged or hostile file (a zstd bomb) can take.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_memory: Option<u64>,

    /// Print no progress, no warnings, no "wrote FILE" lines and no quality
    /// line on stderr (errors, why a gate failed, and what an output option
    /// asks for, still print). Without it, a terminal on stderr shows the
    /// phase in progress with counts and ETA; a pipe or file never does.
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Also print each phase and what was read (repeat for more); the
    /// phases' times replace the progress bar.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Colour in the summary and warnings: auto (on a terminal, unless
    /// NO_COLOR is set), always, never.
    #[arg(long, value_name = "WHEN", value_enum, default_value_t = ColorWhen::Auto)]
    pub color: ColorWhen,

    #[command(flatten)]
    pub artifacts: ArtifactArgs,
}

/// A time offset in seconds: a number with an optional unit (ns, us, ms, s,
/// m, h). NaN and infinities are refused: they would match nothing or
/// everything without a word.
pub fn parse_seconds(s: &str) -> Result<f64, String> {
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

pub fn parse_size(s: &str) -> Result<u64, String> {
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
pub enum ColorWhen {
    Auto,
    Always,
    Never,
}

/// Whether to colour what goes to a stream that `is_tty` describes.
pub fn use_color(when: ColorWhen, is_tty: bool) -> bool {
    match when {
        ColorWhen::Always => true,
        ColorWhen::Never => false,
        // https://no-color.org: any non-empty NO_COLOR turns it off.
        ColorWhen::Auto => is_tty && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
    }
}

/// The summary with its watch headers in bold: names in it are escaped,
/// so no line of the capture's own can start like one.
pub fn colorize_summary(text: &str) -> String {
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

pub fn parse_state(s: &str) -> Result<TaskState, String> {
    match s {
        "R" | "r" => Ok(TaskState::Running),
        "D" | "d" => Ok(TaskState::Uninterruptible),
        _ => Err(format!(
            "unknown state {s:?}: use R (running) or D (uninterruptible)"
        )),
    }
}

/// `--group-by KEY` (the library's [`output::GroupBy`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum GroupByArg {
    /// The thread's comm.
    Comm,
    /// The process: its comm and tgid, `name[tgid]`.
    Process,
    /// The thread: its comm and pid, `name[pid]`.
    Thread,
    /// The watch that breached.
    Watch,
}

impl From<GroupByArg> for output::GroupBy {
    fn from(g: GroupByArg) -> Self {
        match g {
            GroupByArg::Comm => output::GroupBy::Comm,
            GroupByArg::Process => output::GroupBy::Process,
            GroupByArg::Thread => output::GroupBy::Thread,
            GroupByArg::Watch => output::GroupBy::Watch,
        }
    }
}

/// The table, report and CI options: `--csv`, `--parquet`, `--query`,
/// `--report`, `--pprof`, `--perf-script`, `--speedscope`,
/// `--fail-if-breaches`, `--strict`.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct ArtifactArgs {
    /// Write the tables (breaches, task_samples, stacks, stack_frames,
    /// functions, modules) as DIR/<table>.csv; columns in TABLES.md.
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,

    /// Write the same tables as DIR/<table>.parquet (needs the `polars`
    /// feature, on by default).
    #[arg(long, value_name = "DIR")]
    pub parquet: Option<PathBuf>,

    /// Run a polars SQL query over the tables and print the result as CSV,
    /// e.g. "SELECT comm, COUNT(*) AS n FROM task_samples GROUP BY comm".
    #[arg(long, value_name = "SQL")]
    pub query: Option<String>,

    /// Write a CI report: DIR/index.html (self-contained: flamegraphs,
    /// tables, summary, symbolization quality) and DIR/summary.json.
    #[arg(long, value_name = "DIR")]
    pub report: Option<PathBuf>,

    /// Write a pprof profile (gzipped profile.proto, for `go tool pprof`,
    /// Pyroscope, Parca, Grafana): sample type "task samples" (count),
    /// labels watch, breach, comm, pid, tid, state, cgroup.
    #[arg(long, value_name = "FILE")]
    pub pprof: Option<PathBuf>,

    /// Write the task samples as `perf script` text (`-`: stdout), for
    /// inferno-collapse-perf --kernel, stackcollapse-perf.pl, speedscope,
    /// the Firefox Profiler, Hotspot: one event per sample, frames leaf
    /// first, kernel frames in [kernel.kallsyms].
    #[arg(long, value_name = "FILE|-")]
    pub perf_script: Option<PathBuf>,

    /// Write a speedscope JSON profile (`-`: stdout; open it at
    /// speedscope.app or with the speedscope npm package): one sampled
    /// profile per watch, samples in breach-time order, weight 1 each.
    #[arg(long, value_name = "FILE|-")]
    pub speedscope: Option<PathBuf>,

    /// Exit with status 3 when more than N breaches were seen (after the
    /// filters); `--fail-if-breaches 0` fails on any breach.
    /// (It also fails, with status 4, when nothing could be recovered from
    /// a damaged input: an unreadable capture does not pass.)
    #[arg(long, value_name = "N")]
    pub fail_if_breaches: Option<u64>,

    /// SPEC is 'FUNCTION>P%': exit with status 3 when FUNCTION's share of the task samples is
    /// above P percent (repeatable). The share is inclusive, as the
    /// summary's top functions count it: samples with FUNCTION anywhere in
    /// the stack, once per sample. FUNCTION is the symbolized name,
    /// exactly; `*` is any function (the failing ones are named).
    /// E.g. 'io_schedule>5%'. Needs no base.
    #[arg(long, value_name = "SPEC", value_parser = ShareGate::parse)]
    pub fail_if_share: Vec<ShareGate>,

    /// SPEC is 'FUNCTION>Fx': exit with status 3 when FUNCTION's share (as --fail-if-share) grew
    /// more than F times its share in the base of --diff/--baseline
    /// BASE.vmt (repeatable). A function absent from the base grew from 0:
    /// infinitely, so it fails when it has any samples. `*` is any
    /// function. E.g. 'io_schedule>2x'.
    #[arg(long, value_name = "SPEC", value_parser = GrowthGate::parse, requires = "diff")]
    pub fail_if_growth: Vec<GrowthGate>,

    /// Exit with status 4 when data was lost: an input is damaged (chunks
    /// skipped, file cut short) or the capture dropped records.
    #[arg(long)]
    pub strict: bool,
}

impl ArtifactArgs {
    /// The library's options for these flags.
    pub fn into_artifacts(self) -> Artifacts {
        Artifacts {
            csv: self.csv,
            parquet: self.parquet,
            query: self.query,
            report: self.report,
            pprof: self.pprof,
            perf_script: self.perf_script,
            speedscope: self.speedscope,
            fail_if_breaches: self.fail_if_breaches,
            fail_if_share: self.fail_if_share,
            fail_if_growth: self.fail_if_growth,
            strict: self.strict,
        }
    }
}
