//! The analyzer's in-memory model: every input capture merged, filtered,
//! unwound and symbolized, with everything interned as dense `u32` ids.
//!
//! This is the stable interface that the aggregation, the renderers and the
//! table/report writers build on. Strings are built once per unique
//! function/frame, never per sample.

use vmon_format::{Comparison, Losses, Meta, TaskState, WatchTrigger};

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub u32);
        impl $name {
            /// The index this id names.
            #[inline]
            pub fn idx(self) -> usize {
                self.0 as usize
            }
        }
        impl crate::intern::Idx for $name {
            #[inline]
            fn from_index(index: usize) -> Self {
                $name(index as u32)
            }
        }
    };
}

id_type!(
    /// Index into [`Analysis::inputs`].
    InputId
);
id_type!(
    /// Index into [`Analysis::watches`] (watches merged across inputs).
    WatchId
);
id_type!(
    /// Index into [`Analysis::breaches`].
    BreachId
);
id_type!(
    /// Index into [`Analysis::modules`].
    ModuleId
);
id_type!(
    /// Index into [`Analysis::funcs`]: a function name within a module.
    FuncId
);
id_type!(
    /// Index into [`Analysis::frames`]: a function at a source location.
    FrameId
);
id_type!(
    /// Index into [`Analysis::stacks`]: a unique, fully symbolized stack.
    StackHandle
);
id_type!(
    /// Index into [`Analysis::names`] (comms and other short strings).
    NameId
);

/// One input file.
#[derive(Clone, Debug, Default)]
pub struct InputInfo {
    pub path: String,
    pub meta: Meta,
    pub losses: Losses,
    /// Reader warnings (what was recovered from a damaged file).
    pub warnings: Vec<String>,
    /// Samples read from this input before filtering.
    pub samples_total: u64,
    /// Breaches read from this input before filtering.
    pub breaches_total: u64,
}

/// A watch; watches of several inputs with the same name, comparison and
/// threshold are merged into one.
#[derive(Clone, Debug)]
pub struct WatchInfo {
    pub name: String,
    pub cmp: Comparison,
    pub threshold: i64,
    /// `user` or `kernel:<symbol>`.
    pub kind: String,
    /// When its breaches begin and end, beyond the threshold.
    pub trigger: WatchTrigger,
    /// (input, the capture's watch id).
    pub sources: Vec<(InputId, u64)>,
}

#[derive(Clone, Debug)]
pub struct BreachRow {
    pub input: InputId,
    pub watch: WatchId,
    pub event_id: u64,
    /// The capture's clock (see the input's `meta.clock`).
    pub time_ns: u64,
    pub value: i64,
    pub nr_candidates: u32,
    pub collect_ns: u64,
    pub flags: u32,
    /// Samples of this breach that passed the filters.
    pub samples: u32,
}

/// One task sample that passed the filters.
#[derive(Clone, Copy, Debug)]
pub struct SampleRow {
    pub input: InputId,
    pub watch: WatchId,
    pub breach: BreachId,
    pub time_ns: u64,
    pub pid: i32,
    pub tgid: i32,
    pub comm: NameId,
    pub state: TaskState,
    pub cpu: i32,
    pub cgroup_id: u64,
    pub stack: StackHandle,
    /// `vmon_format::task_flags` bits.
    pub flags: u32,
    /// Index into the input's `processes`, for the process chain.
    pub process: Option<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ModuleKind {
    /// The core kernel or a kernel module (from kallsyms).
    Kernel,
    /// A user-space ELF file.
    User,
    /// Addresses that fell in no known mapping.
    Unknown,
}

/// Where a user module's symbols came from.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum SymbolSource {
    #[default]
    NotNeeded,
    /// DWARF (and the symbol table) from this file.
    Dwarf(String),
    /// Only an ELF symbol table from this file (no DWARF).
    SymtabOnly(String),
    /// The symbol table embedded in the capture.
    Embedded,
    /// Nothing found: frames stay `module+0xoffset`.
    Missing,
    /// kallsyms of the capture.
    Kallsyms,
}

#[derive(Clone, Debug)]
pub struct ModuleInfo {
    pub kind: ModuleKind,
    /// Path as recorded (user), module name (kernel), `[unknown]`.
    pub path: String,
    /// Short name for display: file name or kernel module name.
    pub name: String,
    pub build_id: Vec<u8>,
    pub source: SymbolSource,
    /// The local file exists but its build-id differs from the capture's.
    pub build_id_mismatch: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FuncInfo {
    /// Demangled function name, or `module+0xoffset` when unresolved.
    pub name: String,
    pub module: ModuleId,
    pub kernel: bool,
    pub resolved: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FrameInfo {
    pub func: FuncId,
    /// Source file (DWARF), when known.
    pub file: Option<String>,
    /// 0 when unknown.
    pub line: u32,
    /// Inlined into its caller (the next frame towards the root).
    pub inlined: bool,
}

/// A unique symbolized stack.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StackInfo {
    /// Root first: user frames (outermost to innermost), then kernel frames.
    pub frames: Vec<FrameId>,
    /// How many of `frames` (at the end) are kernel frames.
    pub kernel_frames: u32,
}

impl StackInfo {
    pub fn user(&self) -> &[FrameId] {
        let n = self.frames.len() - (self.kernel_frames as usize).min(self.frames.len());
        &self.frames[..n]
    }
    pub fn kernel(&self) -> &[FrameId] {
        let n = self.frames.len() - (self.kernel_frames as usize).min(self.frames.len());
        &self.frames[n..]
    }
}

/// Symbolization and capture quality figures.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Quality {
    /// Unique addresses symbolized.
    pub unique_addresses: u64,
    /// Frames (weighted by samples) with a function name.
    pub frames_resolved: u64,
    pub frames_total: u64,
    /// Unresolved frames (weighted) per module name, sorted count desc.
    pub unresolved_by_module: Vec<(String, u64)>,
    /// User modules without DWARF (symbols only or nothing).
    pub missing_debug_info: Vec<String>,
    pub build_id_mismatches: Vec<String>,
    /// Samples whose kernel stack was cut at the module's frame limit.
    pub truncated_kernel_stacks: u64,
    /// Samples with a user stack known to be incomplete: the unwinder
    /// stopped before the thread's root (they end in `[truncated]`).
    pub truncated_user_stacks: u64,
    /// Samples whose user stack reached the thread's root.
    pub complete_user_stacks: u64,
    /// Samples with a user stack whose completeness nobody could judge (a
    /// frame-pointer chain from an older capture).
    pub unassessed_user_stacks: u64,
    /// Samples whose user stack was unwound with CFI over the raw window,
    /// with CFI and then the frame-pointer chain, or from the kernel's
    /// frame-pointer chain alone.
    pub cfi_user_stacks: u64,
    /// Samples whose user memory the kernel did not read (not resident, or
    /// the mm was busy: the dump never waits on another process).
    pub user_memory_not_read: u64,
    pub hybrid_user_stacks: u64,
    pub fp_user_stacks: u64,
    /// Records the kernel dropped, summed over the inputs.
    pub kernel_drops: u64,
    pub writer_drops: u64,
}

impl Quality {
    /// Counts one sample by its (effective) `task_flags`; `user` says
    /// whether it has a user stack.
    pub fn count_sample(&mut self, flags: u32, user: bool) {
        use vmon_format::task_flags as tf;
        if flags & tf::KSTACK_TRUNC != 0 {
            self.truncated_kernel_stacks += 1;
        }
        if flags & tf::USER_NOWAIT != 0 {
            self.user_memory_not_read += 1;
        }
        if !user {
            return;
        }
        if flags & tf::USTACK_ROOT != 0 {
            self.complete_user_stacks += 1;
        } else if flags & tf::USTACK_CUT != 0 {
            self.truncated_user_stacks += 1;
        } else {
            self.unassessed_user_stacks += 1;
        }
        if flags & tf::USTACK_CFI != 0 {
            self.cfi_user_stacks += 1;
        } else if flags & tf::USTACK_HYBRID != 0 {
            self.hybrid_user_stacks += 1;
        } else {
            self.fp_user_stacks += 1;
        }
    }

    /// The one-line summary printed in every report.
    pub fn line(&self) -> String {
        let pct = crate::view::percent(self.frames_resolved, self.frames_total).unwrap_or(100.0);
        let mut s = format!(
            "symbolization: {}/{} frames resolved ({pct:.1}%), {} unique addresses",
            self.frames_resolved, self.frames_total, self.unique_addresses
        );
        if !self.unresolved_by_module.is_empty() {
            let list: Vec<String> = self
                .unresolved_by_module
                .iter()
                .take(5)
                .map(|(m, n)| format!("{m}: {n}"))
                .collect();
            s.push_str(&format!("; unresolved: {}", list.join(", ")));
        }
        s.push_str(&format!(
            "; missing debug info: {}; build-id mismatches: {}; truncated kernel stacks: {}",
            self.missing_debug_info.len(),
            self.build_id_mismatches.len(),
            self.truncated_kernel_stacks,
        ));
        let user =
            self.complete_user_stacks + self.truncated_user_stacks + self.unassessed_user_stacks;
        if user > 0 {
            s.push_str(&format!(
                "; user stacks: {} complete, {} truncated{} (CFI {}, CFI + frame pointers {}, frame pointers {})",
                self.complete_user_stacks,
                self.truncated_user_stacks,
                if self.unassessed_user_stacks > 0 {
                    format!(", {} not assessed", self.unassessed_user_stacks)
                } else {
                    String::new()
                },
                self.cfi_user_stacks,
                self.hybrid_user_stacks,
                self.fp_user_stacks,
            ));
        }
        if self.user_memory_not_read > 0 {
            s.push_str(&format!(
                "; user memory not read (not resident or mm busy): {}",
                self.user_memory_not_read
            ));
        }
        s.push_str(&format!("; kernel drops: {}", self.kernel_drops));
        if self.writer_drops > 0 {
            s.push_str(&format!(", writer drops: {}", self.writer_drops));
        }
        s
    }
}

/// Everything the analyzer knows after loading, filtering and symbolizing.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    pub inputs: Vec<InputInfo>,
    pub watches: Vec<WatchInfo>,
    pub breaches: Vec<BreachRow>,
    pub samples: Vec<SampleRow>,
    pub modules: Modules,
    pub funcs: Vec<FuncInfo>,
    pub frames: Vec<FrameInfo>,
    pub stacks: Vec<StackInfo>,
    pub names: Vec<String>,
    /// The inputs' processes, for process info and chains: `processes[input]`.
    pub processes: Vec<Vec<ProcessInfo>>,
    pub quality: Quality,
    /// Warnings for the user (missing binaries, damaged inputs), once each.
    pub warnings: Vec<String>,
    /// The filters the analysis applied (for the JSON and the report).
    pub filters: Filters,
}

/// Sample filters; empty lists match everything. Part of the model because
/// every output says which filters made it.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    /// Only these watches, by name.
    pub watch: Vec<String>,
    /// Matches a task's pid or its tgid.
    pub pid: Vec<i32>,
    /// Only tasks with one of these comms.
    pub comm: Vec<String>,
    /// Only tasks in one of these states.
    pub state: Vec<TaskState>,
    /// Seconds since the start of each capture.
    pub from_s: Option<f64>,
    /// Seconds since the start of each capture.
    pub to_s: Option<f64>,
    /// Kernel frames only.
    pub kernel_only: bool,
    /// User frames only.
    pub user_only: bool,
}

/// A process as shown in summaries.
#[derive(Clone, Debug, Default)]
pub struct ProcessInfo {
    /// The process id.
    pub tgid: i32,
    /// Process chain, the process itself first.
    pub chain: Vec<ChainEntry>,
    /// The chain stops before the root (the capture's limit).
    pub chain_truncated: bool,
}

/// A process of a process chain (as the JSON summary lists it).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct ChainEntry {
    /// Its pid.
    pub pid: i32,
    /// Its comm.
    pub comm: String,
    /// Its command line, arguments joined by spaces (` ...` when cut).
    pub cmdline: String,
}

/// What identifies a module: kind, recorded path, build-id.
type ModuleKey = (ModuleKind, String, Vec<u8>);

/// The modules of an analysis, each once: module ids are handed out here
/// and nowhere else (user modules as ingest meets them in mappings and
/// symbol tables, kernel modules as symbolization meets them in kallsyms).
#[derive(Clone, Debug, Default)]
pub struct Modules {
    ids: crate::intern::Interner<ModuleKey, ModuleId>,
    infos: Vec<ModuleInfo>,
}

impl Modules {
    /// The id of the module recorded at `path` with `build_id`, added when
    /// new (a kernel module's `path` is its kallsyms name, `""` for the core
    /// kernel).
    pub fn intern(&mut self, kind: ModuleKind, path: &str, build_id: &[u8]) -> ModuleId {
        let (id, new) = self.ids.insert((kind, path.to_string(), build_id.to_vec()));
        if new {
            let kernel = kind == ModuleKind::Kernel;
            self.infos.push(ModuleInfo {
                kind,
                path: if kernel && path.is_empty() {
                    "[kernel]".into()
                } else {
                    path.to_string()
                },
                name: match kind {
                    ModuleKind::User => path.rsplit('/').next().unwrap_or(path).to_string(),
                    ModuleKind::Kernel if path.is_empty() => "vmlinux".to_string(),
                    _ => path.to_string(),
                },
                build_id: build_id.to_vec(),
                source: if kernel {
                    SymbolSource::Kallsyms
                } else {
                    SymbolSource::NotNeeded
                },
                build_id_mismatch: false,
            });
        }
        id
    }

    /// The id of a kernel module by its kallsyms name (`""`: the kernel).
    pub fn kernel(&mut self, name: &str) -> ModuleId {
        self.intern(ModuleKind::Kernel, name, &[])
    }

    /// The module `id` names, to record where its symbols came from.
    pub(crate) fn info_mut(&mut self, id: ModuleId) -> Option<&mut ModuleInfo> {
        self.infos.get_mut(id.idx())
    }
}

/// Modules as they are, each keyed by its kind, path and build-id (test
/// models are built this way).
impl FromIterator<ModuleInfo> for Modules {
    fn from_iter<T: IntoIterator<Item = ModuleInfo>>(iter: T) -> Self {
        let mut m = Modules::default();
        for info in iter {
            let (_, new) = m
                .ids
                .insert((info.kind, info.path.clone(), info.build_id.clone()));
            if new {
                m.infos.push(info);
            }
        }
        m
    }
}

impl std::ops::Deref for Modules {
    type Target = [ModuleInfo];
    fn deref(&self) -> &[ModuleInfo] {
        &self.infos
    }
}

impl Analysis {
    pub fn name(&self, id: NameId) -> &str {
        self.names.get(id.idx()).map(String::as_str).unwrap_or("")
    }
    pub fn func(&self, id: FuncId) -> &FuncInfo {
        &self.funcs[id.idx()]
    }
    pub fn frame(&self, id: FrameId) -> &FrameInfo {
        &self.frames[id.idx()]
    }
    pub fn stack(&self, id: StackHandle) -> &StackInfo {
        &self.stacks[id.idx()]
    }
    /// Function name of a frame, with `_[k]` appended to kernel frames and
    /// `_[i]` to inlined ones (inferno's palettes key on these suffixes).
    pub fn frame_label(&self, id: FrameId) -> String {
        let fr = self.frame(id);
        let f = self.func(fr.func);
        let mut s = f.name.clone();
        if f.kernel {
            s.push_str("_[k]");
        } else if fr.inlined {
            s.push_str("_[i]");
        }
        s
    }
    /// `file:line` of a frame, when known.
    pub fn frame_location(&self, id: FrameId) -> Option<String> {
        let fr = self.frame(id);
        fr.file.as_ref().map(|f| {
            if fr.line > 0 {
                format!("{f}:{}", fr.line)
            } else {
                f.clone()
            }
        })
    }
    /// A task state as the one-letter code used by filters and output.
    pub fn state_letter(state: TaskState) -> &'static str {
        match state {
            TaskState::Running => "R",
            TaskState::Uninterruptible => "D",
            TaskState::RtLock => "L",
            TaskState::Other => "?",
        }
    }
}

/// A fast hasher for integer keys (the Firefox/rustc "Fx" hash): the
/// analyzer hashes millions of small integer tuples, where SipHash's
/// DoS resistance buys nothing and costs most of the time.
#[derive(Clone, Copy, Default)]
pub struct FxHasher(u64);

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl std::hash::Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.write_u64(u64::from_le_bytes(b));
        }
        for &b in chunks.remainder() {
            self.write_u64(u64::from(b));
        }
    }
    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_u32(&mut self, i: u32) {
        self.write_u64(u64::from(i));
    }
    #[inline]
    fn write_i32(&mut self, i: i32) {
        self.write_u64(i as u32 as u64);
    }
    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.write_u64(i as u64);
    }
    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.0 = (self.0.rotate_left(5) ^ i).wrapping_mul(FX_SEED);
    }
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

pub type FxBuild = std::hash::BuildHasherDefault<FxHasher>;
pub type FxHashMap<K, V> = std::collections::HashMap<K, V, FxBuild>;
pub type FxHashSet<K> = std::collections::HashSet<K, FxBuild>;
