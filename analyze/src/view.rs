//! The one typed view of an analysis that every renderer reads: the text
//! summary ([`crate::summary::text`]), the JSON document (`--json` and the
//! report's `summary.json`, serialized from these structs; schema in
//! analyze/JSON.md) and the HTML report. [`Summary::build`] (view/build.rs)
//! computes it once per output from the [`Analysis`] and its
//! [`Aggregates`](crate::aggregate::Aggregates).
//!
//! What the renderers, the flamegraph titles and the tables say the same
//! way is written here once: a watch's comparison (`name > 100`) and its
//! symbol, a watch's values as its user thinks of them, the breach flags'
//! names, a share in percent, hex, a flamegraph's titles and a breach's
//! time.
//!
//! Breach time has one definition, [`since_start_ns`]: the time since the start
//! of the breach's own capture (its capture-clock time minus the capture's
//! `start_ns`), in seconds ([`rel_seconds`]) the `time_s` of the JSON, the
//! time of the text summary and the report, and what `--from`/`--to` count
//! in; in ns the tables' `offset_ns`. `time_ns` stays the raw
//! capture clock (CLOCK_BOOTTIME) and [`realtime_ns`] the wall clock.

mod build;

use serde::Serialize;
use vmon_format::{breach_flags, Comparison};

use crate::aggregate::Group;
use crate::analysis::{Analysis, ChainEntry, Quality, WatchInfo};

/// How much of each watch the summaries show.
#[derive(Clone, Debug)]
pub struct SummaryOptions {
    /// Stacks shown per watch.
    pub top_stacks: usize,
    /// Breaches listed per watch in the text summary (the JSON has all).
    pub max_breaches: usize,
    /// Functions listed per watch, by self and by total samples.
    pub top_functions: usize,
}

impl Default for SummaryOptions {
    fn default() -> Self {
        SummaryOptions {
            top_stacks: 5,
            max_breaches: 20,
            top_functions: 10,
        }
    }
}

/// The version of the JSON document (`--json`, `report/summary.json`),
/// documented in analyze/JSON.md. Bump it when a key changes meaning or
/// goes away; adding keys keeps it.
pub const JSON_SCHEMA_VERSION: u32 = 1;

/// The summary of an analysis: the JSON document, and what the text
/// summary and the HTML report show. Fields marked `serde(skip)` are what
/// only the human outputs show.
#[derive(Serialize)]
pub(crate) struct Summary {
    /// Always `"vmon-summary"`.
    pub schema: &'static str,
    pub schema_version: u32,
    /// `vmon-analyze` and its version.
    pub tool: String,
    /// The command line of the run.
    pub command: Vec<String>,
    pub filters: FiltersView,
    /// Filters were given and no task sample passed them.
    pub filters_matched_nothing: bool,
    pub inputs: Vec<InputView>,
    pub quality: Quality,
    pub quality_line: String,
    pub warnings: Vec<String>,
    /// Breaches kept by the filters.
    pub breaches: u64,
    /// Task samples kept by the filters.
    pub task_samples: u64,
    /// Distinct stacks over all watches.
    pub unique_stacks: u64,
    /// One per watch with breaches or samples, in watch order.
    pub watches: Vec<WatchView>,
    pub data_loss: DataLoss,
    /// Present with `--fail-if-breaches`.
    pub gate: Option<Gate>,
    /// `--fail-if-share` and `--fail-if-growth`, in the order given
    /// (empty without them).
    pub function_gates: Vec<crate::gates::FunctionGateResult>,
    /// Present with `--diff BASE.vmt`: the largest share changes.
    pub change: Option<crate::gates::Change>,
}

impl Summary {
    /// The view with the function gates' results and the change against
    /// the base.
    pub(crate) fn with_checks(mut self, c: &crate::gates::Checks) -> Summary {
        self.function_gates = c.function_gates.clone();
        self.change = c.change.clone();
        self
    }
}

/// The filters as given.
#[derive(Serialize)]
pub(crate) struct FiltersView {
    pub watch: Vec<String>,
    pub pid: Vec<i32>,
    pub comm: Vec<String>,
    /// State letters (`R`, `D`, `L`, `?`).
    pub state: Vec<&'static str>,
    pub from_s: Option<f64>,
    pub to_s: Option<f64>,
    pub kernel_only: bool,
    pub user_only: bool,
}

impl FiltersView {
    /// The filters as command-line text, empty when there are none.
    pub fn command_line(&self) -> String {
        let mut v: Vec<String> = Vec::new();
        v.extend(self.watch.iter().map(|w| format!("--watch {w}")));
        v.extend(self.pid.iter().map(|p| format!("--pid {p}")));
        v.extend(self.comm.iter().map(|c| format!("--comm {c}")));
        v.extend(self.state.iter().map(|s| format!("--state {s}")));
        if let Some(t) = self.from_s {
            v.push(format!("--from {t}"));
        }
        if let Some(t) = self.to_s {
            v.push(format!("--to {t}"));
        }
        v.join(" ")
    }
}

/// One input file.
#[derive(Serialize)]
pub(crate) struct InputView {
    pub path: String,
    pub hostname: String,
    pub kernel_release: String,
    pub tool: String,
    pub start_ns: u64,
    pub end_ns: u64,
    /// CLOCK_REALTIME minus the capture clock, 0 when unknown.
    pub realtime_offset_ns: i64,
    /// Read from the file, before the filters.
    pub breaches: u64,
    /// Read from the file, before the filters.
    pub task_samples: u64,
    pub kernel_records_lost: u64,
    pub writer_records_lost: u64,
    pub warnings: Vec<String>,
}

impl InputView {
    /// How long the capture ran, in seconds.
    pub fn duration_s(&self) -> f64 {
        self.end_ns.saturating_sub(self.start_ns) as f64 / 1e9
    }
}

/// One watch with breaches or samples.
#[derive(Serialize)]
pub(crate) struct WatchView {
    pub name: String,
    /// `user` or `kernel:SYMBOL`.
    pub kind: String,
    /// [`comparison`]: `name > threshold`.
    pub comparison: String,
    /// [`value_scale`].
    pub value_scale: Option<u32>,
    /// [`cmp_symbol`].
    pub cmp: &'static str,
    /// Raw.
    pub threshold: i64,
    pub breaches: u64,
    pub task_samples: u64,
    /// The largest (for `>`) or smallest (for `<`) value at a breach, raw.
    pub worst_value: Option<i64>,
    /// Distinct tgids sampled.
    pub processes: u64,
    /// Distinct pids sampled.
    pub threads: u64,
    pub states: Vec<StateCount>,
    pub comms: Vec<CommCount>,
    pub unique_stacks: u64,
    /// Every breach, in time order.
    pub events: Vec<BreachView>,
    pub top_stacks: Vec<StackView>,
    /// By total samples.
    pub top_functions: Vec<FunctionCount>,
    /// By self samples.
    pub top_functions_self: Vec<FunctionCount>,
    /// The processes sampled most, by samples (the first few).
    #[serde(skip)]
    pub top_tgids: Vec<TgidCount>,
    /// The stacks after `top_stacks`.
    #[serde(skip)]
    pub other_stacks: OtherStacks,
}

impl WatchView {
    /// A value of this watch as its user thinks of it ([`scaled_value`]).
    pub fn show(&self, v: i64) -> String {
        scaled_value(self.value_scale, v)
    }
}

#[derive(Serialize)]
pub(crate) struct StateCount {
    /// The state letter.
    pub state: &'static str,
    pub samples: u64,
}

#[derive(Serialize)]
pub(crate) struct CommCount {
    pub comm: String,
    pub samples: u64,
}

/// Samples of one process (tgid).
pub(crate) struct TgidCount {
    pub tgid: i32,
    pub samples: u64,
}

/// The stacks of a watch beyond its top ones.
#[derive(Default)]
pub(crate) struct OtherStacks {
    pub stacks: u64,
    pub samples: u64,
}

/// One breach.
#[derive(Serialize)]
pub(crate) struct BreachView {
    /// Index into `inputs`.
    pub input: u32,
    pub event_id: u64,
    /// The capture clock.
    pub time_ns: u64,
    /// [`rel_seconds`]: seconds since the start of its capture.
    pub time_s: f64,
    /// [`realtime_ns`] as a decimal string (it does not fit a double).
    pub realtime_ns: Option<String>,
    /// Raw.
    pub value: i64,
    pub threshold: i64,
    pub tasks_sampled: u32,
    pub candidates: u32,
    pub flags: u32,
    /// [`breach_flag_names`].
    pub flag_names: Vec<&'static str>,
}

/// One of a watch's top stacks.
#[derive(Serialize)]
pub(crate) struct StackView {
    pub samples: u64,
    /// As in `--folded`.
    pub folded: Option<String>,
    /// Outermost first.
    pub user_stack: Vec<FrameView>,
    /// Outermost first.
    pub kernel_stack: Vec<FrameView>,
    /// The task groups that ran it, most samples first (the first ten).
    pub processes: Vec<StackProcess>,
    /// How many task groups ran it.
    #[serde(skip)]
    pub process_groups: usize,
}

/// A process (by input, tgid and comm) on a stack.
#[derive(Serialize)]
pub(crate) struct StackProcess {
    pub tgid: i32,
    pub comm: String,
    pub samples: u64,
    /// The process chain, the process itself first.
    pub chain: Vec<ChainEntry>,
    /// The chain stops before the root.
    #[serde(skip)]
    pub chain_truncated: bool,
}

/// One frame of a stack.
#[derive(Serialize)]
pub(crate) struct FrameView {
    pub function: String,
    /// The module's short name (as in the tables), `?` when unknown.
    pub module: String,
    pub module_path: String,
    pub file: Option<String>,
    /// `None` when unknown.
    pub line: Option<u32>,
    pub inlined: bool,
    pub kernel: bool,
    pub resolved: bool,
}

impl FrameView {
    /// `file:line`, or the file alone, when known.
    pub fn location(&self) -> Option<String> {
        let file = self.file.as_ref()?;
        Some(match self.line {
            Some(l) => format!("{file}:{l}"),
            None => file.clone(),
        })
    }
}

/// A function's samples within a watch.
#[derive(Serialize)]
pub(crate) struct FunctionCount {
    pub function: String,
    pub module: String,
    /// Samples where it is the leaf.
    pub self_samples: u64,
    /// Samples where it appears anywhere.
    pub total_samples: u64,
}

/// What `--strict` fails on.
#[derive(Serialize)]
pub(crate) struct DataLoss {
    /// Inputs damaged so that nothing could be read.
    pub nothing_recovered: Vec<String>,
    /// Inputs that lost data.
    pub lost: Vec<String>,
}

/// The CI gate: fails when more than `max_breaches` breaches were seen.
#[derive(Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gate {
    pub max_breaches: u64,
    pub breaches: u64,
    pub failed: bool,
}

/// `--fail-if-breaches N`: the run fails when the breaches kept by the
/// filters number more than `max`. `--fail-if-breaches 0` fails on any.
pub fn gate(a: &Analysis, max: u64) -> Gate {
    let breaches = a.breaches.len() as u64;
    Gate {
        max_breaches: max,
        breaches,
        failed: breaches > max,
    }
}

/// What the inputs lost, for `--strict` and the gate.
#[derive(Clone, Debug, Default)]
pub struct Integrity {
    /// Damaged inputs from which not one breach or sample was recovered.
    pub empty: Vec<String>,
    /// Inputs that lost data: file damage, or records dropped while capturing.
    pub lossy: Vec<String>,
}

pub fn integrity(a: &Analysis) -> Integrity {
    let mut r = Integrity::default();
    for i in &a.inputs {
        let damaged = !i.warnings.is_empty();
        if damaged && i.breaches_total == 0 && i.samples_total == 0 {
            r.empty.push(format!(
                "{}: nothing could be recovered from this damaged capture",
                i.path
            ));
        } else if damaged {
            r.lossy.push(format!(
                "{}: the file is damaged ({} warnings above); part of the capture is lost",
                i.path,
                i.warnings.len()
            ));
        }
        if i.losses.kernel_records > 0 || i.losses.writer_records > 0 {
            r.lossy.push(format!(
                "{}: {} records dropped by the kernel and {} by vmon-capture while capturing",
                i.path, i.losses.kernel_records, i.losses.writer_records
            ));
        }
    }
    r
}

/// The title and subtitle of a group's flamegraph.
pub(crate) struct FlameTitles {
    /// `vmon: watch name > 100 — file.vmt`, escaped for text.
    pub title: String,
    pub subtitle: String,
}

impl FlameTitles {
    /// The titles of `group`'s flamegraph (a watch, or all of them).
    pub fn of(a: &Analysis, group: &Group) -> FlameTitles {
        let inputs: Vec<&str> = a
            .inputs
            .iter()
            .map(|i| i.path.rsplit('/').next().unwrap_or(&i.path))
            .collect();
        let what = match group.watch.and_then(|w| a.watches.get(w.idx())) {
            Some(w) => format!("watch {}", comparison(w)),
            None => format!("{} watches", a.watches.len()),
        };
        let title = format!("vmon: {what} — {}", inputs.join(", "));
        FlameTitles {
            title: crate::escape::visible(&title).into_owned(),
            subtitle: format!(
                "{} task samples in {} breaches, {} unique stacks (kernel frames _[k], inlined _[i])",
                group.samples,
                group.breaches.len(),
                group.stacks.len()
            ),
        }
    }
}

/// `>` or `<`.
pub fn cmp_symbol(c: Comparison) -> &'static str {
    match c {
        Comparison::Greater => ">",
        Comparison::Less => "<",
    }
}

/// A watch's comparison as every output shows it: `name > threshold`, the
/// threshold as [`watch_value`], then its trigger when it has one:
/// `q change within 1s > 100 for 5 ticks, re-armed at <= 80`.
pub fn comparison(w: &WatchInfo) -> String {
    let t = &w.trigger;
    let mut s = w.name.clone();
    if let Some(ns) = t.rate_window_ns {
        s += &format!(" change within {}", window_text(ns));
    }
    s += &format!(" {} {}", cmp_symbol(w.cmp), watch_value(w, w.threshold));
    if t.consecutive > 1 {
        s += &format!(" for {} ticks", t.consecutive);
    }
    if let Some(r) = t.rearm {
        let op = match w.cmp {
            Comparison::Greater => "<=",
            Comparison::Less => ">=",
        };
        s += &format!(", re-armed at {op} {}", watch_value(w, r));
    }
    s
}

/// A rate window as a person writes it: `250ms`, `1s`, `1.5s`, `90us`.
fn window_text(ns: u64) -> String {
    match ns {
        n if n >= 1_000_000_000 && n % 1_000_000 == 0 => {
            let ms = n / 1_000_000;
            if ms % 1000 == 0 {
                format!("{}s", ms / 1000)
            } else {
                format!("{}s", ms as f64 / 1000.0)
            }
        }
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}us", n / 1_000),
        n => format!("{n}ns"),
    }
}

/// The fixed-point scale of a watch's values: the load monitor watches the
/// kernel's `avenrun`, load averages times 2048 (FIXED_1 = 1 << 11).
pub fn value_scale(w: &WatchInfo) -> Option<u32> {
    (w.kind == "kernel:avenrun").then_some(2048)
}

/// A value of the watch as its user thinks of it: a load as `2.10`, not
/// its fixed-point `4304`.
pub fn watch_value(w: &WatchInfo, v: i64) -> String {
    scaled_value(value_scale(w), v)
}

/// A raw value under a [`value_scale`]: two decimals when scaled.
pub fn scaled_value(scale: Option<u32>, v: i64) -> String {
    match scale {
        Some(s) => format!("{:.2}", v as f64 / f64::from(s)),
        None => v.to_string(),
    }
}

/// The breach flags and their names, in the order the outputs list them.
pub const BREACH_FLAGS: [BreachFlag; 4] = [
    BreachFlag {
        bit: breach_flags::TASKS_TRUNCATED,
        name: "tasks-truncated",
    },
    BreachFlag {
        bit: breach_flags::TIME_BUDGET,
        name: "time-budget",
    },
    BreachFlag {
        bit: breach_flags::DROPPED,
        name: "records-dropped",
    },
    BreachFlag {
        bit: breach_flags::INCOMPLETE,
        name: "incomplete",
    },
];

/// A breach flag bit and the name the outputs give it.
#[derive(Clone, Copy, Debug)]
pub struct BreachFlag {
    pub bit: u32,
    pub name: &'static str,
}

/// The names of the flags set in a breach's `flags`.
pub fn breach_flag_names(flags: u32) -> Vec<&'static str> {
    BREACH_FLAGS
        .iter()
        .filter(|f| flags & f.bit != 0)
        .map(|f| f.name)
        .collect()
}

/// `n` as a percentage of `total`; `None` when `total` is 0 (each output
/// says what an undefined share looks like).
pub fn percent(n: u64, total: u64) -> Option<f64> {
    (total != 0).then(|| 100.0 * n as f64 / total as f64)
}

/// Lower-case hex of `bytes` (build-ids).
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// ns from a capture's recorded start (`start_ns`) to `t` on its clock,
/// negative when before it (a damaged or odd capture), never wrapped: the
/// one breach time of every output and of `--from`/`--to`.
pub fn since_start_ns(start_ns: u64, t: u64) -> i128 {
    t as i128 - start_ns as i128
}

/// [`since_start_ns`] of input `input` (0 for an unknown input).
pub fn offset_ns(a: &Analysis, input: u32, t: u64) -> i128 {
    let start = a.inputs.get(input as usize).map_or(0, |i| i.meta.start_ns);
    since_start_ns(start, t)
}

/// A breach's time as seconds since its capture's start ([`offset_ns`]).
pub fn rel_seconds(a: &Analysis, input: u32, t: u64) -> f64 {
    offset_ns(a, input, t) as f64 / 1e9
}

/// CLOCK_REALTIME of a breach (ns since the epoch), when the capture
/// recorded the offset.
pub fn realtime_ns(a: &Analysis, input: u32, t: u64) -> Option<i128> {
    let off = a.inputs.get(input as usize)?.meta.realtime_offset_ns;
    (off != 0).then_some(t as i128 + off as i128)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_names_in_order() {
        let all = breach_flags::INCOMPLETE | breach_flags::TASKS_TRUNCATED;
        assert_eq!(breach_flag_names(all), ["tasks-truncated", "incomplete"]);
        assert!(breach_flag_names(0).is_empty());
        assert_eq!(hex(&[0xde, 0x0a]), "de0a");
    }

    #[test]
    fn percent_and_scaled_values() {
        assert_eq!(percent(1, 4), Some(25.0));
        assert_eq!(percent(1, 0), None);
        assert_eq!(scaled_value(Some(2048), 4304), "2.10");
        assert_eq!(scaled_value(None, -3), "-3");
    }

    #[test]
    fn comparison_says_the_trigger() {
        use vmon_format::WatchTrigger;
        let mut w = WatchInfo {
            name: "q".into(),
            cmp: Comparison::Greater,
            threshold: 100,
            kind: "user".into(),
            trigger: WatchTrigger::default(),
            sources: vec![],
        };
        assert_eq!(comparison(&w), "q > 100");
        w.trigger = WatchTrigger {
            consecutive: 5,
            rearm: Some(80),
            rate_window_ns: None,
        };
        assert_eq!(comparison(&w), "q > 100 for 5 ticks, re-armed at <= 80");
        w.cmp = Comparison::Less;
        w.threshold = -100;
        w.trigger = WatchTrigger {
            consecutive: 1,
            rearm: Some(-20),
            rate_window_ns: Some(1_500_000_000),
        };
        assert_eq!(
            comparison(&w),
            "q change within 1.5s < -100, re-armed at >= -20"
        );
        w.trigger.rate_window_ns = Some(250_000_000);
        w.trigger.rearm = None;
        assert_eq!(comparison(&w), "q change within 250ms < -100");
    }
}
