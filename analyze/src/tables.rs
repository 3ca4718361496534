//! The analyzer's tables: breaches, task samples, stacks, stack frames,
//! functions and modules, as typed columns.
//!
//! The counting is done here on integer ids (stack and function ids), never
//! on strings; strings are only looked up when a cell is written. With the
//! `polars` feature the columns become DataFrames, which buys Parquet and
//! `--query "SQL"`. `--csv` always goes through the parallel writer below,
//! straight from the columns (a DataFrame would hold one string per row);
//! it quotes exactly like polars, which a test checks. The column list in [`SCHEMA`] is the documentation's source:
//! `TABLES.md` is checked against it by a test.

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use thiserror::Error;
use vmon_format::{breach_flags, task_flags, TaskState};

use crate::aggregate::Aggregates;
use crate::analysis::{
    Analysis, BreachRow, FuncId, ModuleKind, SampleRow, StackHandle, SymbolSource,
};

#[derive(Debug, Error)]
pub enum TablesError {
    #[error("cannot create table directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("table input is inconsistent: {0}")]
    Input(String),
    #[cfg(feature = "polars")]
    #[error("polars: {context}: {source}")]
    Polars {
        context: String,
        source: polars::error::PolarsError,
    },
    #[error("{what} needs the `polars` cargo feature, which this build of vmon-analyze lacks; rebuild with default features (`cargo build --release -p vmon-analyze`)")]
    FeatureOff { what: &'static str },
}

pub type Result<T> = std::result::Result<T, TablesError>;

// ---------------------------------------------------------------- columns

/// A column's values. Repeated strings are dictionary-coded so a million
/// rows don't allocate a million `String`s.
#[derive(Clone, Debug, PartialEq)]
pub enum ColumnData {
    U64(Vec<u64>),
    I64(Vec<i64>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    Bool(Vec<bool>),
    Str(Vec<String>),
    Dict {
        values: Vec<String>,
        codes: Vec<u32>,
    },
}

impl ColumnData {
    pub fn len(&self) -> usize {
        match self {
            ColumnData::U64(v) => v.len(),
            ColumnData::I64(v) => v.len(),
            ColumnData::U32(v) => v.len(),
            ColumnData::I32(v) => v.len(),
            ColumnData::Bool(v) => v.len(),
            ColumnData::Str(v) => v.len(),
            ColumnData::Dict { codes, .. } => codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The cell as text (for the HTML report and tests).
    pub fn cell(&self, row: usize) -> String {
        match self {
            ColumnData::U64(v) => v.get(row).map(u64::to_string),
            ColumnData::I64(v) => v.get(row).map(i64::to_string),
            ColumnData::U32(v) => v.get(row).map(u32::to_string),
            ColumnData::I32(v) => v.get(row).map(i32::to_string),
            ColumnData::Bool(v) => v.get(row).map(bool::to_string),
            ColumnData::Str(v) => v.get(row).cloned(),
            ColumnData::Dict { values, codes } => codes
                .get(row)
                .and_then(|&c| values.get(c as usize))
                .cloned(),
        }
        .unwrap_or_default()
    }

    fn kind(&self) -> ColumnKind {
        match self {
            ColumnData::U64(_) => ColumnKind::U64,
            ColumnData::I64(_) => ColumnKind::I64,
            ColumnData::U32(_) => ColumnKind::U32,
            ColumnData::I32(_) => ColumnKind::I32,
            ColumnData::Bool(_) => ColumnKind::Bool,
            ColumnData::Str(_) | ColumnData::Dict { .. } => ColumnKind::Str,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnKind {
    U64,
    I64,
    U32,
    I32,
    Bool,
    Str,
}

impl ColumnKind {
    pub fn sql_name(self) -> &'static str {
        match self {
            ColumnKind::U64 => "u64",
            ColumnKind::I64 => "i64",
            ColumnKind::U32 => "u32",
            ColumnKind::I32 => "i32",
            ColumnKind::Bool => "bool",
            ColumnKind::Str => "str",
        }
    }
}

pub struct ColumnSchema {
    pub name: &'static str,
    pub kind: ColumnKind,
    pub doc: &'static str,
}

pub struct TableSchema {
    pub name: &'static str,
    pub doc: &'static str,
    pub columns: &'static [ColumnSchema],
}

const fn col(name: &'static str, kind: ColumnKind, doc: &'static str) -> ColumnSchema {
    ColumnSchema { name, kind, doc }
}

use ColumnKind::{Bool, Str, I32, I64, U32, U64};

/// Every table and column the analyzer writes, in output order.
pub const SCHEMA: &[TableSchema] = &[
    TableSchema {
        name: "breaches",
        doc: "One row per breach (a watched value crossing its threshold).",
        columns: &[
            col("file", Str, "Capture file the breach came from."),
            col("breach", U32, "Row number in this table; `task_samples.breach` refers to it."),
            col("event_id", U64, "The kernel module's event id."),
            col("watch_id", U64, "The kernel module's watch id."),
            col("watch", Str, "Watch name."),
            col("time_ns", U64, "When the breach was seen, ns of the capture clock (CLOCK_BOOTTIME)."),
            col("offset_ns", I64, "ns since the capture's start, the time the summary and report show in seconds (negative: before the start, a damaged capture)."),
            col("realtime_ns", I64, "Wall-clock time of the breach, ns since the Unix epoch (from the capture's realtime offset); 0 when the capture has none."),
            col("value", I64, "The value read."),
            col("cmp", Str, "`>` or `<`: how the value is compared with the threshold."),
            col("threshold", I64, "The watch's threshold."),
            col("candidates", U32, "Tasks in state R or D at the breach, sampled or not."),
            col("samples", U32, "Task samples of this breach kept by the filters."),
            col("collect_ns", U64, "Time the kernel spent collecting the samples."),
            col("tasks_truncated", Bool, "More tasks matched than the kernel sampled."),
            col("time_budget", Bool, "Collection stopped at its time budget."),
            col("dropped", Bool, "Some of the breach's records were dropped by the kernel."),
            col("incomplete", Bool, "The capture ended before the breach's end record."),
        ],
    },
    TableSchema {
        name: "task_samples",
        doc: "One row per task sampled at a breach and kept by the filters.",
        columns: &[
            col("file", Str, "Capture file."),
            col("breach", U32, "Row of `breaches`."),
            col("watch", Str, "Watch name of the breach."),
            col("time_ns", U64, "Time of the breach."),
            col("offset_ns", I64, "Time of the breach, ns since the capture's start."),
            col("pid", I32, "Thread id."),
            col("tgid", I32, "Process id."),
            col("comm", Str, "Thread name."),
            col("state", Str, "`R` running, `D` uninterruptible, `L` blocked on an RT lock, `?` other."),
            col("cpu", I32, "CPU the task was on or last ran on."),
            col("cgroup_id", U64, "cgroup v2 id."),
            col("stack_id", U32, "Key of `stacks` (a sample without frames has a stack too, `[no stack]`)."),
            col("kernel_frames", U32, "Kernel frames in the symbolized stack."),
            col("user_frames", U32, "User frames in the symbolized stack, inlined frames included."),
            col("on_cpu", Bool, "The task was running on a CPU when sampled."),
            col("kthread", Bool, "A kernel thread."),
            col("truncated", Bool, "The kernel stack was cut at its frame limit, or the user stack is known to be incomplete (its unwinder stopped before the thread's root; it ends in `[truncated]`)."),
            col("user_stack", Str, "How the user stack was found: `cfi` (CFI over the raw stack window), `hybrid` (CFI, then the frame-pointer chain where the window ended), `fp` (the kernel's frame-pointer chain), `none`."),
            col("user_complete", Str, "`yes` when the user stack reached the thread's root (`_start`, `start_thread`/`clone3` ...), `no` when it is known to be incomplete, `unknown` when nobody could judge (an older capture's frame-pointer chain), empty without a user stack."),
        ],
    },
    TableSchema {
        name: "stacks",
        doc: "One row per distinct symbolized stack, by samples descending, then folded text.",
        columns: &[
            col("stack_id", U32, "Stack id (as in `task_samples.stack_id`)."),
            col("samples", U64, "Task samples with this stack."),
            col("depth", U32, "Frames, inlined frames included."),
            col("kernel_frames", U32, "Kernel frames."),
            col("leaf", Str, "Innermost function."),
            col("leaf_module", Str, "Module of the innermost function."),
            col("folded", Str, "Frames outermost first joined by `;`, as `--folded` prints them: kernel frames end in `_[k]`, inlined ones in `_[i]`."),
        ],
    },
    TableSchema {
        name: "stack_frames",
        doc: "The frames of every stack, one row per frame, for joins in `--query`.",
        columns: &[
            col("stack_id", U32, "Key of `stacks`."),
            col("position", U32, "0 for the outermost frame."),
            col("function", Str, "Function name."),
            col("module", Str, "Module name."),
            col("kernel", Bool, "A kernel frame."),
            col("inlined", Bool, "Inlined into its caller, the previous position."),
        ],
    },
    TableSchema {
        name: "functions",
        doc: "One row per function (name and module) on some kept stack, by total samples descending, then name.",
        columns: &[
            col("function", Str, "Function name, or `module+0xoffset` when unresolved."),
            col("module", Str, "Module name."),
            col("kernel", Bool, "A kernel function."),
            col("self_samples", U64, "Samples with this function innermost."),
            col("total_samples", U64, "Samples with this function anywhere on the stack (counted once per sample)."),
        ],
    },
    TableSchema {
        name: "modules",
        doc: "One row per binary or kernel module seen in stacks, with symbolization quality.",
        columns: &[
            col("module", Str, "Module name."),
            col("path", Str, "Path recorded in the capture."),
            col("build_id", Str, "GNU build-id in hex, empty when unknown."),
            col("kind", Str, "`kernel` (the kernel or a kernel module), `user` (an ELF file) or `unknown` (addresses in no known mapping)."),
            col("debug_info", Str, "Where names came from: `dwarf`, `symtab` (ELF symbols only), `embedded` (the capture's symbol table), `kallsyms`, `none` or `not_needed`."),
            col("debug_file", Str, "The file DWARF or symbols were read from, when one was."),
            col("build_id_mismatch", Bool, "The local binary's build-id differs from the recorded one (so it was not used)."),
            col("functions", U64, "Distinct functions of this module on kept stacks."),
            col("frames", U64, "Frames in this module, weighted by samples."),
            col("unresolved_frames", U64, "Of those, frames left as `module+0xoffset`."),
            col("self_samples", U64, "Samples whose innermost frame is in this module."),
        ],
    },
];

/// One built table: its schema plus values, column for column.
pub struct Table {
    pub schema: &'static TableSchema,
    pub columns: Vec<ColumnData>,
}

impl Table {
    pub fn name(&self) -> &'static str {
        self.schema.name
    }

    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, ColumnData::len)
    }

    pub fn column(&self, name: &str) -> Option<&ColumnData> {
        let i = self.schema.columns.iter().position(|c| c.name == name)?;
        self.columns.get(i)
    }
}

/// All tables, in [`SCHEMA`] order.
pub struct TableSet {
    pub tables: Vec<Table>,
}

impl TableSet {
    pub fn get(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name() == name)
    }
}

// ---------------------------------------------------------------- build

fn schema(name: &str) -> &'static TableSchema {
    // SCHEMA is a constant that names every table built below.
    SCHEMA.iter().find(|t| t.name == name).unwrap_or(&SCHEMA[0])
}

/// A dictionary column over strings interned elsewhere (`values[code]`).
fn dict(values: Vec<String>, codes: Vec<u32>) -> ColumnData {
    ColumnData::Dict { values, codes }
}

/// Interns strings into a dictionary column, for strings that the analysis
/// does not intern itself.
#[derive(Default)]
struct Dict {
    values: Vec<String>,
    index: HashMap<String, u32>,
    codes: Vec<u32>,
}

impl Dict {
    fn push(&mut self, s: &str) {
        let code = match self.index.get(s) {
            Some(&c) => c,
            None => {
                let c = self.values.len() as u32;
                self.values.push(s.to_owned());
                self.index.insert(s.to_owned(), c);
                c
            }
        };
        self.codes.push(code);
    }

    fn into_column(self) -> ColumnData {
        dict(self.values, self.codes)
    }
}

fn debug_info_text(s: &SymbolSource) -> &'static str {
    match s {
        SymbolSource::NotNeeded => "not_needed",
        SymbolSource::Dwarf(_) => "dwarf",
        SymbolSource::SymtabOnly(_) => "symtab",
        SymbolSource::Embedded => "embedded",
        SymbolSource::Missing => "none",
        SymbolSource::Kallsyms => "kallsyms",
    }
}

/// Builds every table from the analysis and the core's aggregates (the
/// all-watches group). Only the per-module frame counts are summed here,
/// over unique stacks, not samples.
pub fn build(a: &Analysis, agg: &Aggregates) -> Result<TableSet> {
    let bad = |what: String| TablesError::Input(what);
    if agg.stack_names.len() != a.stacks.len() {
        return Err(bad(format!(
            "{} stack names for {} stacks",
            agg.stack_names.len(),
            a.stacks.len()
        )));
    }
    // Every id the tables dereference is checked once here, so the
    // builders below can index freely.
    for (i, s) in a.stacks.iter().enumerate() {
        for f in &s.frames {
            let fr = a.frames.get(f.idx()).ok_or_else(|| {
                bad(format!(
                    "stack {i} names frame {}, but there are {}",
                    f.0,
                    a.frames.len()
                ))
            })?;
            let func = a.funcs.get(fr.func.idx()).ok_or_else(|| {
                bad(format!(
                    "frame {} names function {}, but there are {}",
                    f.0,
                    fr.func.0,
                    a.funcs.len()
                ))
            })?;
            if func.module.idx() >= a.modules.len() {
                return Err(bad(format!(
                    "function {} names module {}, but there are {}",
                    fr.func.0,
                    func.module.0,
                    a.modules.len()
                )));
            }
        }
    }
    for (i, b) in a.breaches.iter().enumerate() {
        if b.input.idx() >= a.inputs.len() || b.watch.idx() >= a.watches.len() {
            return Err(bad(format!(
                "breach {i} names input {} / watch {} out of range",
                b.input.0, b.watch.0
            )));
        }
    }
    for (i, s) in a.samples.iter().enumerate() {
        if s.input.idx() >= a.inputs.len()
            || s.watch.idx() >= a.watches.len()
            || s.breach.idx() >= a.breaches.len()
            || s.stack.idx() >= a.stacks.len()
            || s.comm.idx() >= a.names.len()
        {
            return Err(bad(format!(
                "task sample {i} names an input, watch, breach, stack or comm out of range"
            )));
        }
    }
    let group = &agg.total;
    for (s, _) in &group.stacks {
        if s.idx() >= a.stacks.len() {
            return Err(bad(format!(
                "aggregate names stack {}, but there are {}",
                s.0,
                a.stacks.len()
            )));
        }
    }
    for (f, _) in group.top_total.iter().chain(&group.top_self) {
        if f.idx() >= a.funcs.len() {
            return Err(bad(format!(
                "aggregate names function {}, but there are {}",
                f.0,
                a.funcs.len()
            )));
        }
    }

    let set = TableSet {
        tables: vec![
            breaches(a),
            task_samples(a),
            stacks(a, agg),
            stack_frames(a, agg),
            functions(a, agg),
            modules(a, agg),
        ],
    };
    for t in &set.tables {
        let rows = t.rows();
        let kinds_match = t.columns.len() == t.schema.columns.len()
            && t.schema
                .columns
                .iter()
                .zip(&t.columns)
                .all(|(s, c)| s.kind == c.kind() && c.len() == rows);
        if !kinds_match {
            // A bug here, not bad input: a builder disagrees with SCHEMA.
            return Err(bad(format!("table {} does not match its schema", t.name())));
        }
    }
    Ok(set)
}

fn input_names(a: &Analysis) -> Vec<String> {
    a.inputs.iter().map(|i| i.path.clone()).collect()
}

fn watch_names(a: &Analysis) -> Vec<String> {
    a.watches.iter().map(|w| w.name.clone()).collect()
}

fn breaches(a: &Analysis) -> Table {
    let b = &a.breaches;
    let flag = |bit: u32| ColumnData::Bool(b.iter().map(|r| r.flags & bit != 0).collect());
    // The capture's own watch id, for the breach's input.
    let watch_id = |r: &BreachRow| {
        a.watches[r.watch.idx()]
            .sources
            .iter()
            .find(|(i, _)| *i == r.input)
            .map_or(0, |(_, id)| *id)
    };
    Table {
        schema: schema("breaches"),
        columns: vec![
            dict(input_names(a), b.iter().map(|r| r.input.0).collect()),
            ColumnData::U32((0..b.len() as u32).collect()),
            ColumnData::U64(b.iter().map(|r| r.event_id).collect()),
            ColumnData::U64(b.iter().map(watch_id).collect()),
            dict(watch_names(a), b.iter().map(|r| r.watch.0).collect()),
            ColumnData::U64(b.iter().map(|r| r.time_ns).collect()),
            ColumnData::I64(
                b.iter()
                    .map(|r| offset_ns(a, r.input.0, r.time_ns))
                    .collect(),
            ),
            ColumnData::I64(
                b.iter()
                    .map(|r| {
                        crate::view::realtime_ns(a, r.input.0, r.time_ns)
                            .map_or(0, |t| t.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
                    })
                    .collect(),
            ),
            ColumnData::I64(b.iter().map(|r| r.value).collect()),
            ColumnData::Str(
                b.iter()
                    .map(|r| crate::view::cmp_symbol(a.watches[r.watch.idx()].cmp).to_owned())
                    .collect(),
            ),
            ColumnData::I64(
                b.iter()
                    .map(|r| a.watches[r.watch.idx()].threshold)
                    .collect(),
            ),
            ColumnData::U32(b.iter().map(|r| r.nr_candidates).collect()),
            ColumnData::U32(b.iter().map(|r| r.samples).collect()),
            ColumnData::U64(b.iter().map(|r| r.collect_ns).collect()),
            flag(breach_flags::TASKS_TRUNCATED),
            flag(breach_flags::TIME_BUDGET),
            flag(breach_flags::DROPPED),
            flag(breach_flags::INCOMPLETE),
        ],
    }
}

/// The `user_stack` code of a sample: 0 cfi, 1 hybrid, 2 fp, 3 none.
fn user_stack_code(a: &Analysis, r: &SampleRow) -> u32 {
    let st = &a.stacks[r.stack.idx()];
    if st.frames.len() as u32 <= st.kernel_frames {
        3
    } else if r.flags & task_flags::USTACK_CFI != 0 {
        0
    } else if r.flags & task_flags::USTACK_HYBRID != 0 {
        1
    } else {
        2
    }
}

/// [`crate::view::offset_ns`], saturated to i64.
fn offset_ns(a: &Analysis, input: u32, t: u64) -> i64 {
    crate::view::offset_ns(a, input, t).clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn task_samples(a: &Analysis) -> Table {
    let s = &a.samples;
    let flag = |bits: u32| ColumnData::Bool(s.iter().map(|r| r.flags & bits != 0).collect());
    let states = [
        TaskState::Running,
        TaskState::Uninterruptible,
        TaskState::RtLock,
        TaskState::Other,
    ];
    let state_code = |st: TaskState| match st {
        TaskState::Running => 0,
        TaskState::Uninterruptible => 1,
        TaskState::RtLock => 2,
        TaskState::Other => 3,
    };
    let kframes = |r: &SampleRow| {
        a.stacks[r.stack.idx()]
            .kernel_frames
            .min(a.stacks[r.stack.idx()].frames.len() as u32)
    };
    Table {
        schema: schema("task_samples"),
        columns: vec![
            dict(input_names(a), s.iter().map(|r| r.input.0).collect()),
            ColumnData::U32(s.iter().map(|r| r.breach.0).collect()),
            dict(watch_names(a), s.iter().map(|r| r.watch.0).collect()),
            ColumnData::U64(s.iter().map(|r| r.time_ns).collect()),
            ColumnData::I64(
                s.iter()
                    .map(|r| offset_ns(a, r.input.0, r.time_ns))
                    .collect(),
            ),
            ColumnData::I32(s.iter().map(|r| r.pid).collect()),
            ColumnData::I32(s.iter().map(|r| r.tgid).collect()),
            dict(a.names.clone(), s.iter().map(|r| r.comm.0).collect()),
            dict(
                states
                    .iter()
                    .map(|&st| Analysis::state_letter(st).to_owned())
                    .collect(),
                s.iter().map(|r| state_code(r.state)).collect(),
            ),
            ColumnData::I32(s.iter().map(|r| r.cpu).collect()),
            ColumnData::U64(s.iter().map(|r| r.cgroup_id).collect()),
            ColumnData::U32(s.iter().map(|r| r.stack.0).collect()),
            ColumnData::U32(s.iter().map(kframes).collect()),
            ColumnData::U32(
                s.iter()
                    .map(|r| a.stacks[r.stack.idx()].frames.len() as u32 - kframes(r))
                    .collect(),
            ),
            flag(task_flags::ON_CPU),
            flag(task_flags::KTHREAD),
            flag(task_flags::KSTACK_TRUNC | task_flags::USTACK_CUT),
            dict(
                ["cfi", "hybrid", "fp", "none"].map(String::from).to_vec(),
                s.iter().map(|r| user_stack_code(a, r)).collect(),
            ),
            dict(
                ["yes", "no", "unknown", ""].map(String::from).to_vec(),
                s.iter()
                    .map(|r| match (r.flags, user_stack_code(a, r)) {
                        (_, 3) => 3,
                        (f, _) if f & task_flags::USTACK_ROOT != 0 => 0,
                        (f, _) if f & task_flags::USTACK_CUT != 0 => 1,
                        _ => 2,
                    })
                    .collect(),
            ),
        ],
    }
}

fn stacks(a: &Analysis, agg: &Aggregates) -> Table {
    let st = &agg.total.stacks;
    let leaf = |s: StackHandle| {
        a.stacks[s.idx()]
            .frames
            .last()
            .map(|f| &a.funcs[a.frames[f.idx()].func.idx()])
    };
    let mut leaf_fn = Dict::default();
    let mut leaf_mod = Dict::default();
    for (s, _) in st {
        let l = leaf(*s);
        leaf_fn.push(l.map_or("", |f| f.name.as_str()));
        leaf_mod.push(l.map_or("", |f| a.modules[f.module.idx()].name.as_str()));
    }
    Table {
        schema: schema("stacks"),
        columns: vec![
            ColumnData::U32(st.iter().map(|(s, _)| s.0).collect()),
            ColumnData::U64(st.iter().map(|(_, n)| *n).collect()),
            ColumnData::U32(
                st.iter()
                    .map(|(s, _)| a.stacks[s.idx()].frames.len() as u32)
                    .collect(),
            ),
            ColumnData::U32(
                st.iter()
                    .map(|(s, _)| a.stacks[s.idx()].kernel_frames)
                    .collect(),
            ),
            leaf_fn.into_column(),
            leaf_mod.into_column(),
            ColumnData::Str(
                st.iter()
                    .map(|(s, _)| agg.stack_names[s.idx()].clone())
                    .collect(),
            ),
        ],
    }
}

fn stack_frames(a: &Analysis, agg: &Aggregates) -> Table {
    let mut id = Vec::new();
    let mut pos = Vec::new();
    let mut func = Vec::new();
    let mut module = Vec::new();
    let mut kernel = Vec::new();
    let mut inlined = Vec::new();
    for (s, _) in &agg.total.stacks {
        for (p, f) in a.stacks[s.idx()].frames.iter().enumerate() {
            let fr = &a.frames[f.idx()];
            let fi = &a.funcs[fr.func.idx()];
            id.push(s.0);
            pos.push(p as u32);
            func.push(fr.func.0);
            module.push(fi.module.0);
            kernel.push(fi.kernel);
            inlined.push(fr.inlined);
        }
    }
    Table {
        schema: schema("stack_frames"),
        columns: vec![
            ColumnData::U32(id),
            ColumnData::U32(pos),
            dict(a.funcs.iter().map(|f| f.name.clone()).collect(), func),
            dict(a.modules.iter().map(|m| m.name.clone()).collect(), module),
            ColumnData::Bool(kernel),
            ColumnData::Bool(inlined),
        ],
    }
}

fn functions(a: &Analysis, agg: &Aggregates) -> Table {
    let g = &agg.total;
    let mut self_of = vec![0u64; a.funcs.len()];
    for (f, n) in &g.top_self {
        self_of[f.idx()] = *n;
    }
    // The core sorts by total, then name; equal totals and names (one name
    // in two modules) keep its id order.
    let rows: Vec<(FuncId, u64)> = g.top_total.clone();
    Table {
        schema: schema("functions"),
        columns: vec![
            ColumnData::Str(
                rows.iter()
                    .map(|(f, _)| a.funcs[f.idx()].name.clone())
                    .collect(),
            ),
            dict(
                a.modules.iter().map(|m| m.name.clone()).collect(),
                rows.iter()
                    .map(|(f, _)| a.funcs[f.idx()].module.0)
                    .collect(),
            ),
            ColumnData::Bool(rows.iter().map(|(f, _)| a.funcs[f.idx()].kernel).collect()),
            ColumnData::U64(rows.iter().map(|(f, _)| self_of[f.idx()]).collect()),
            ColumnData::U64(rows.iter().map(|(_, n)| *n).collect()),
        ],
    }
}

fn modules(a: &Analysis, agg: &Aggregates) -> Table {
    let n = a.modules.len();
    let mut frames = vec![0u64; n];
    let mut unresolved = vec![0u64; n];
    let mut self_s = vec![0u64; n];
    let mut funcs: Vec<Vec<u32>> = vec![Vec::new(); n];
    for (s, c) in &agg.total.stacks {
        let st = &a.stacks[s.idx()];
        for f in &st.frames {
            let fi = &a.funcs[a.frames[f.idx()].func.idx()];
            let m = fi.module.idx();
            frames[m] += c;
            if !fi.resolved {
                unresolved[m] += c;
            }
            funcs[m].push(a.frames[f.idx()].func.0);
        }
        if let Some(f) = st.frames.last() {
            self_s[a.funcs[a.frames[f.idx()].func.idx()].module.idx()] += c;
        }
    }
    let functions: Vec<u64> = funcs
        .into_iter()
        .map(|mut v| {
            v.sort_unstable();
            v.dedup();
            v.len() as u64
        })
        .collect();
    let m = &a.modules;
    let debug_file = |s: &SymbolSource| match s {
        SymbolSource::Dwarf(p) | SymbolSource::SymtabOnly(p) => p.clone(),
        _ => String::new(),
    };
    Table {
        schema: schema("modules"),
        columns: vec![
            ColumnData::Str(m.iter().map(|m| m.name.clone()).collect()),
            ColumnData::Str(m.iter().map(|m| m.path.clone()).collect()),
            ColumnData::Str(m.iter().map(|m| crate::view::hex(&m.build_id)).collect()),
            ColumnData::Str(
                m.iter()
                    .map(|m| match m.kind {
                        ModuleKind::Kernel => "kernel",
                        ModuleKind::User => "user",
                        ModuleKind::Unknown => "unknown",
                    })
                    .map(str::to_owned)
                    .collect(),
            ),
            ColumnData::Str(
                m.iter()
                    .map(|m| debug_info_text(&m.source).to_owned())
                    .collect(),
            ),
            ColumnData::Str(m.iter().map(|m| debug_file(&m.source)).collect()),
            ColumnData::Bool(m.iter().map(|m| m.build_id_mismatch).collect()),
            ColumnData::U64(functions),
            ColumnData::U64(frames),
            ColumnData::U64(unresolved),
            ColumnData::U64(self_s),
        ],
    }
}

// ---------------------------------------------------------------- CSV

fn push_csv_str(buf: &mut Vec<u8>, s: &str) {
    // Quoting as polars' `QuoteStyle::Necessary`: empty strings are quoted
    // (to differ from null), as are fields with a comma, quote or newline.
    if s.is_empty() {
        buf.extend_from_slice(b"\"\"");
        return;
    }
    let needs = s.bytes().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if !needs {
        buf.extend_from_slice(s.as_bytes());
        return;
    }
    buf.push(b'"');
    for b in s.bytes() {
        if b == b'"' {
            buf.push(b'"');
        }
        buf.push(b);
    }
    buf.push(b'"');
}

/// A column ready to be written: dictionary values are escaped once, not
/// once per row.
enum CsvColumn<'a> {
    U64(&'a [u64]),
    I64(&'a [i64]),
    U32(&'a [u32]),
    I32(&'a [i32]),
    Bool(&'a [bool]),
    Str(&'a [String]),
    Dict {
        cells: Vec<Vec<u8>>,
        codes: &'a [u32],
    },
}

impl<'a> CsvColumn<'a> {
    fn new(col: &'a ColumnData) -> CsvColumn<'a> {
        match col {
            ColumnData::U64(v) => CsvColumn::U64(v),
            ColumnData::I64(v) => CsvColumn::I64(v),
            ColumnData::U32(v) => CsvColumn::U32(v),
            ColumnData::I32(v) => CsvColumn::I32(v),
            ColumnData::Bool(v) => CsvColumn::Bool(v),
            ColumnData::Str(v) => CsvColumn::Str(v),
            ColumnData::Dict { values, codes } => CsvColumn::Dict {
                cells: values
                    .iter()
                    .map(|v| {
                        let mut b = Vec::with_capacity(v.len());
                        push_csv_str(&mut b, v);
                        b
                    })
                    .collect(),
                codes,
            },
        }
    }

    fn push(&self, buf: &mut Vec<u8>, row: usize, num: &mut itoa::Buffer) {
        match self {
            CsvColumn::U64(v) => {
                buf.extend_from_slice(num.format(v.get(row).copied().unwrap_or(0)).as_bytes())
            }
            CsvColumn::I64(v) => {
                buf.extend_from_slice(num.format(v.get(row).copied().unwrap_or(0)).as_bytes())
            }
            CsvColumn::U32(v) => {
                buf.extend_from_slice(num.format(v.get(row).copied().unwrap_or(0)).as_bytes())
            }
            CsvColumn::I32(v) => {
                buf.extend_from_slice(num.format(v.get(row).copied().unwrap_or(0)).as_bytes())
            }
            CsvColumn::Bool(v) => buf.extend_from_slice(if v.get(row).copied().unwrap_or(false) {
                b"true"
            } else {
                b"false"
            }),
            CsvColumn::Str(v) => push_csv_str(buf, v.get(row).map_or("", String::as_str)),
            CsvColumn::Dict { cells, codes } => {
                match codes.get(row).and_then(|&c| cells.get(c as usize)) {
                    Some(cell) => buf.extend_from_slice(cell),
                    None => buf.extend_from_slice(b"\"\""),
                }
            }
        }
    }
}

/// Rows formatted per parallel task; small enough that a window of them
/// stays in cache-sized buffers, large enough to amortize the task.
const CSV_CHUNK_ROWS: usize = 16 * 1024;

fn format_rows(cols: &[CsvColumn<'_>], rows: std::ops::Range<usize>) -> Vec<u8> {
    let mut buf = Vec::with_capacity(rows.len() * 16 * cols.len().max(1));
    let mut num = itoa::Buffer::new();
    for row in rows {
        for (i, col) in cols.iter().enumerate() {
            if i > 0 {
                buf.push(b',');
            }
            col.push(&mut buf, row, &mut num);
        }
        buf.push(b'\n');
    }
    buf
}

/// Writes one table as CSV. Rows are formatted in parallel, a bounded
/// window of chunks at a time (memory stays a few MB whatever the table
/// size), and written in order. Both builds use this writer; with the
/// `polars` feature a test checks it writes what polars' CsvWriter writes.
pub fn write_csv_plain(table: &Table, out: &mut impl Write) -> std::io::Result<()> {
    use rayon::prelude::*;
    let mut head = Vec::new();
    for (i, c) in table.schema.columns.iter().enumerate() {
        if i > 0 {
            head.push(b',');
        }
        head.extend_from_slice(c.name.as_bytes());
    }
    head.push(b'\n');
    out.write_all(&head)?;
    let cols: Vec<CsvColumn<'_>> = table.columns.iter().map(CsvColumn::new).collect();
    let rows = table.rows();
    let window = CSV_CHUNK_ROWS * 4 * rayon::current_num_threads().max(1);
    let mut start = 0;
    while start < rows {
        let end = rows.min(start + window);
        let chunks: Vec<usize> = (start..end).step_by(CSV_CHUNK_ROWS).collect();
        let bufs: Vec<Vec<u8>> = chunks
            .par_iter()
            .map(|&s| format_rows(&cols, s..end.min(s + CSV_CHUNK_ROWS)))
            .collect();
        for b in &bufs {
            out.write_all(b)?;
        }
        start = end;
    }
    out.flush()
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| TablesError::CreateDir {
        path: dir.to_owned(),
        source,
    })
}

#[cfg(feature = "polars")]
fn create_file(path: &Path) -> Result<std::io::BufWriter<File>> {
    File::create(path)
        .map(|f| std::io::BufWriter::with_capacity(1 << 20, f))
        .map_err(|source| TablesError::Write {
            path: path.to_owned(),
            source,
        })
}

/// Writes `DIR/<table>.csv` for every table; returns the paths written.
/// The tables are written in parallel (one file per rayon task).
pub fn write_csv_dir(set: &TableSet, dir: &Path) -> Result<Vec<PathBuf>> {
    write_csv_dir_with(set, dir, &crate::progress::NoProgress)
}

/// [`write_csv_dir`], each table counted to `progress` once written.
pub fn write_csv_dir_with(
    set: &TableSet,
    dir: &Path,
    progress: &dyn crate::progress::Progress,
) -> Result<Vec<PathBuf>> {
    use rayon::prelude::*;
    create_dir(dir)?;
    set.tables
        .par_iter()
        .map(|t| {
            let path = dir.join(format!("{}.csv", t.name()));
            write_table_csv(t, &path)?;
            progress.inc(1);
            Ok(path)
        })
        .collect()
}

fn write_table_csv(t: &Table, path: &Path) -> Result<()> {
    let file = File::create(path).map_err(|source| TablesError::Write {
        path: path.to_owned(),
        source,
    })?;
    // Chunks are large already; no second buffer.
    let mut w = &file;
    write_csv_plain(t, &mut w).map_err(|source| TablesError::Write {
        path: path.to_owned(),
        source,
    })
}

/// Writes `DIR/<table>.parquet` for every table (zstd-compressed).
pub fn write_parquet_dir(set: &TableSet, dir: &Path) -> Result<Vec<PathBuf>> {
    write_parquet_dir_with(set, dir, &crate::progress::NoProgress)
}

/// [`write_parquet_dir`], each table counted to `progress` once written.
#[cfg(feature = "polars")]
pub fn write_parquet_dir_with(
    set: &TableSet,
    dir: &Path,
    progress: &dyn crate::progress::Progress,
) -> Result<Vec<PathBuf>> {
    use polars::prelude::ParquetWriter;
    use rayon::prelude::*;
    create_dir(dir)?;
    set.tables
        .par_iter()
        .map(|t| {
            let path = dir.join(format!("{}.parquet", t.name()));
            let mut df = polars_frame::to_dataframe(t)?;
            let mut w = create_file(&path)?;
            ParquetWriter::new(&mut w)
                .finish(&mut df)
                .map_err(|source| TablesError::Polars {
                    context: format!("writing {}", path.display()),
                    source,
                })?;
            w.flush().map_err(|source| TablesError::Write {
                path: path.clone(),
                source,
            })?;
            progress.inc(1);
            Ok(path)
        })
        .collect()
}

#[cfg(not(feature = "polars"))]
pub fn write_parquet_dir_with(
    _set: &TableSet,
    _dir: &Path,
    _progress: &dyn crate::progress::Progress,
) -> Result<Vec<PathBuf>> {
    Err(TablesError::FeatureOff { what: "--parquet" })
}

/// Runs a polars SQL query over all tables (each registered under its
/// name) and writes the result as CSV to `out`.
#[cfg(feature = "polars")]
pub fn query(set: &TableSet, sql: &str, out: &mut impl Write) -> Result<usize> {
    use polars::prelude::{CsvWriter, IntoLazy, SerWriter};
    let mut ctx = polars::sql::SQLContext::new();
    for t in &set.tables {
        ctx.register(t.name(), polars_frame::to_dataframe(t)?.lazy());
    }
    let names: Vec<&str> = set.tables.iter().map(Table::name).collect();
    let mut df = ctx
        .execute(sql)
        .and_then(|lf| lf.collect())
        .map_err(|source| TablesError::Polars {
            context: format!("query failed (tables: {})", names.join(", ")),
            source,
        })?;
    CsvWriter::new(&mut *out)
        .finish(&mut df)
        .map_err(|source| TablesError::Polars {
            context: "writing the query result".into(),
            source,
        })?;
    out.flush().map_err(|source| TablesError::Write {
        path: "<stdout>".into(),
        source,
    })?;
    Ok(df.height())
}

#[cfg(not(feature = "polars"))]
pub fn query(_set: &TableSet, _sql: &str, _out: &mut impl Write) -> Result<usize> {
    Err(TablesError::FeatureOff { what: "--query" })
}

/// The column reference in Markdown, as `TABLES.md` carries it between its
/// `<!-- schema -->` markers.
pub fn schema_markdown() -> String {
    let mut s = String::new();
    for t in SCHEMA {
        s.push_str(&format!(
            "### `{}`\n\n{}\n\n| column | type | meaning |\n| --- | --- | --- |\n",
            t.name, t.doc
        ));
        for c in t.columns {
            s.push_str(&format!(
                "| `{}` | {} | {} |\n",
                c.name,
                c.kind.sql_name(),
                c.doc
            ));
        }
        s.push('\n');
    }
    s
}

#[cfg(feature = "polars")]
pub mod polars_frame {
    //! Column data -> polars DataFrames.
    use super::{ColumnData, Table, TablesError};
    use polars::prelude::*;

    fn column(name: &str, data: &ColumnData) -> Column {
        let name = PlSmallStr::from_str(name);
        match data {
            ColumnData::U64(v) => Column::new(name, v.as_slice()),
            ColumnData::I64(v) => Column::new(name, v.as_slice()),
            ColumnData::U32(v) => Column::new(name, v.as_slice()),
            ColumnData::I32(v) => Column::new(name, v.as_slice()),
            ColumnData::Bool(v) => Column::new(name, v.as_slice()),
            ColumnData::Str(v) => {
                StringChunked::from_iter_values(name, v.iter().map(String::as_str)).into_column()
            }
            ColumnData::Dict { values, codes } => StringChunked::from_iter_values(
                name,
                codes
                    .iter()
                    .map(|&c| values.get(c as usize).map_or("", String::as_str)),
            )
            .into_column(),
        }
    }

    pub fn to_dataframe(t: &Table) -> Result<DataFrame, TablesError> {
        let cols: Vec<Column> = t
            .schema
            .columns
            .iter()
            .zip(&t.columns)
            .map(|(s, d)| column(s.name, d))
            .collect();
        DataFrame::new(t.rows(), cols).map_err(|source| TablesError::Polars {
            context: format!("building table {}", t.name()),
            source,
        })
    }
}

#[cfg(test)]
mod tests;
