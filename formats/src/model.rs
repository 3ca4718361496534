//! The logical content of a `.vmt` capture, independent of its encoding.
//!
//! Everything a capture holds is interned: strings, stacks, processes and
//! symbol tables are stored once and referred to by index. Indices are dense
//! `u32`s so that consumers aggregate on integers, not strings.

/// Index into [`Capture::strings`]. `StrId(0)` is always the empty string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StrId(pub u32);

/// Index into [`StackTable`]. [`StackId::EMPTY`] is the empty stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StackId(pub u32);

impl StackId {
    pub const EMPTY: StackId = StackId(u32::MAX);
    pub fn is_empty(self) -> bool {
        self == Self::EMPTY
    }
}

/// Which clock `time_ns` values are read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Clock {
    /// CLOCK_BOOTTIME, what the kernel module stamps records with.
    #[default]
    Boottime,
    Monotonic,
    Realtime,
}

/// Settings of the kernel module at capture time.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ModuleSettings {
    pub abi_version: u32,
    pub record_version: u32,
    pub def_interval_ns: u64,
    pub min_interval_ns: u64,
    pub dump_reset_sec: u32,
    pub kstack_max: u32,
    pub ustack_max: u32,
    pub raw_stack_bytes: u32,
    pub buffer_bytes: u64,
}

/// Capture-wide metadata.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Meta {
    /// The producing tool and its version, e.g. `vmon-capture 0.1.0`.
    pub tool: String,
    pub kernel_release: String,
    /// Kernel build-id (from `/sys/kernel/notes`), empty when unknown.
    pub kernel_build_id: Vec<u8>,
    pub hostname: String,
    /// `/proc/sys/kernel/random/boot_id`, empty when unknown.
    pub boot_id: String,
    pub clock: Clock,
    /// Add to a `time_ns` of [`Meta::clock`] to get wall-clock ns since the epoch.
    pub realtime_offset_ns: i64,
    pub start_ns: u64,
    pub end_ns: u64,
    pub module: ModuleSettings,
    /// Free-form key/value pairs (command line, options), kept in order.
    pub extra: Vec<(String, String)>,
}

/// One `/proc/kallsyms` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelSymbol {
    pub addr: u64,
    /// The kallsyms type letter (`t`, `T`, `d`, ...).
    pub kind: u8,
    pub name: StrId,
    /// Module name, `StrId(0)` for the core kernel.
    pub module: StrId,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Comparison {
    #[default]
    Greater,
    Less,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WatchKind {
    /// A variable in a process's memory.
    User,
    /// A kernel variable, by symbol name (e.g. `avenrun`) plus `addr` offset.
    Kernel { symbol: StrId },
}

/// When a watch's breaches begin and end, beyond "past the threshold": the
/// module's trigger extension (TRIGGERS chunk, format 1.2). The default is
/// the plain threshold, what every watch of an older file is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct WatchTrigger {
    /// Ticks past the threshold in a row before a breach begins (0 and 1:
    /// the first).
    pub consecutive: u32,
    /// Hysteresis: a breach ends only on a tick at or below this value (at
    /// or above, for [`Comparison::Less`]).
    pub rearm: Option<i64>,
    /// The watch compares the change within this window (ns), not the
    /// value; its breaches' values are that change.
    pub rate_window_ns: Option<u64>,
}

impl WatchTrigger {
    /// Whether this is the plain threshold.
    pub fn is_plain(&self) -> bool {
        self.consecutive <= 1 && self.rearm.is_none() && self.rate_window_ns.is_none()
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// The module's watch id.
    pub id: u64,
    pub owner_pid: i32,
    /// tgid whose memory holds the variable; 0 for kernel watches.
    pub target_pid: i32,
    pub name: StrId,
    pub addr: u64,
    /// 1, 2, 4 or 8.
    pub size: u8,
    pub signed: bool,
    pub cmp: Comparison,
    pub threshold: i64,
    pub interval_ns: u64,
    pub kind: WatchKind,
    pub trigger: WatchTrigger,
}

/// Flags of a [`Breach`].
pub mod breach_flags {
    pub const TASKS_TRUNCATED: u32 = 1 << 0;
    pub const TIME_BUDGET: u32 = 1 << 1;
    /// Some records of this breach were dropped by the kernel.
    pub const DROPPED: u32 = 1 << 2;
    /// The capture ended before the breach's end record arrived.
    pub const INCOMPLETE: u32 = 1 << 3;
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Breach {
    /// The module's event id.
    pub event_id: u64,
    pub time_ns: u64,
    /// Index into [`Capture::watches`].
    pub watch: u32,
    pub value: i64,
    /// Tasks that matched R/D, sampled or not.
    pub nr_candidates: u32,
    pub collect_ns: u64,
    pub flags: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub enum TaskState {
    #[default]
    Other,
    /// R
    Running,
    /// D, counting towards load.
    Uninterruptible,
    /// PREEMPT_RT: blocked on a sleeping lock.
    RtLock,
}

/// Flags of a [`TaskSample`] (SPEC.md §5.7 lists them). Bits 0–6 say what
/// the kernel found; bits 7–10 (format 1.1) say how the user stack was
/// obtained and whether it is complete, bit 11 (1.1) that the kernel could not
/// read user memory without waiting. A file without bits 7–10 holds the
/// kernel's frame-pointer chain, whose completeness is not recorded.
pub mod task_flags {
    /// More kernel frames than the module keeps.
    pub const KSTACK_TRUNC: u32 = 1 << 0;
    /// The kernel's frame-pointer walk stopped at its frame limit.
    pub const USTACK_TRUNC: u32 = 1 << 1;
    /// The kernel's frame-pointer walk stopped at an unreadable frame.
    pub const USTACK_FAULT: u32 = 1 << 2;
    /// The raw stack copy is shorter than the window asked for (the stack
    /// mapping ended first; not a sign of an incomplete stack by itself).
    pub const RAW_TRUNC: u32 = 1 << 3;
    /// The task was running on another CPU: its stacks may be torn.
    pub const ON_CPU: u32 = 1 << 4;
    /// A kernel thread: no user stack.
    pub const KTHREAD: u32 = 1 << 5;
    /// The user registers could not be read.
    pub const NO_UREGS: u32 = 1 << 6;
    /// The user stack was unwound with CFI over the raw stack window.
    pub const USTACK_CFI: u32 = 1 << 7;
    /// The user stack was unwound with CFI, then continued with the kernel's
    /// frame-pointer chain where the raw window ended.
    pub const USTACK_HYBRID: u32 = 1 << 8;
    /// The unwinder reached the thread's root frame: the stack is complete.
    pub const USTACK_ROOT: u32 = 1 << 9;
    /// The unwinder stopped before the thread's root: the stack is incomplete.
    pub const USTACK_CUT: u32 = 1 << 10;
    /// The kernel did not read the task's user memory: not resident, or its
    /// mm was busy (the dump never faults or waits on another process).
    pub const USER_NOWAIT: u32 = 1 << 11;
    /// Every bit this version of the format defines.
    pub const ALL: u32 = (1 << 12) - 1;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UserRegs {
    pub ip: u64,
    pub sp: u64,
    pub bp: u64,
}

/// One task seen by one breach.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSample {
    /// Index into [`Capture::breaches`].
    pub breach: u32,
    pub pid: i32,
    pub tgid: i32,
    pub comm: StrId,
    pub state: TaskState,
    pub cpu: i32,
    pub cgroup_id: u64,
    /// Kernel stack, addresses innermost first.
    pub kstack: StackId,
    /// User stack: the ip, then return addresses, innermost first (how they
    /// were found: the `USTACK_*` bits of `flags`).
    pub ustack: StackId,
    pub regs: UserRegs,
    /// Index into [`Capture::raw_stacks`].
    pub raw_stack: Option<u32>,
    /// Index into [`Capture::processes`], when the process is known.
    pub process: Option<u32>,
    pub flags: u32,
}

/// Stacks as a prefix tree, like the Firefox profiler's stack table: a stack
/// is its innermost frame plus the stack of its caller. Callers come first,
/// so `parent[i] < i` for every non-root node.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackTable {
    /// Caller's stack, or [`StackId::EMPTY`] for an outermost frame.
    pub parent: Vec<StackId>,
    /// The innermost frame's address.
    pub frame: Vec<u64>,
}

impl StackTable {
    pub fn len(&self) -> usize {
        self.frame.len()
    }
    pub fn is_empty(&self) -> bool {
        self.frame.is_empty()
    }
    /// Frames of `id`, innermost first. Stops (rather than loops) on a
    /// corrupt table: the decoder guarantees `parent[i] < i`.
    pub fn frames(&self, id: StackId) -> StackFrames<'_> {
        StackFrames {
            table: self,
            next: id,
        }
    }
}

pub struct StackFrames<'a> {
    table: &'a StackTable,
    next: StackId,
}

impl Iterator for StackFrames<'_> {
    type Item = u64;
    fn next(&mut self) -> Option<u64> {
        let i = self.next.0 as usize;
        let frame = *self.table.frame.get(i)?;
        let parent = self.table.parent.get(i).copied().unwrap_or(StackId::EMPTY);
        self.next = if parent.0 < self.next.0 {
            parent
        } else {
            StackId::EMPTY
        };
        Some(frame)
    }
}

/// Raw bytes from the top of a user stack, for offline DWARF unwinding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawStack {
    /// The user stack pointer the bytes were copied from.
    pub sp: u64,
    pub bytes: Vec<u8>,
}

/// An executable file mapping of a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    /// File offset of `start`.
    pub offset: u64,
    pub path: StrId,
    /// GNU build-id, empty when unknown.
    pub build_id: Vec<u8>,
    pub dev: u64,
    pub ino: u64,
}

/// An ancestor in a process chain (the process itself comes first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ancestor {
    pub pid: i32,
    pub start_boottime_ns: u64,
    pub comm: StrId,
    /// Arguments, already split.
    pub cmdline: Vec<StrId>,
    pub cmdline_truncated: bool,
}

/// A process as it was seen during the capture. A tgid reused by a new
/// process (different start time) is a different `Process`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub tgid: i32,
    pub start_boottime_ns: u64,
    pub mappings: Vec<Mapping>,
    pub mappings_truncated: bool,
    pub chain: Vec<Ancestor>,
    pub chain_truncated: bool,
}

/// A function symbol of an embedded symbol table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FuncSymbol {
    /// Address relative to the binary's load base (its ELF virtual address).
    pub addr: u64,
    pub size: u64,
    /// Raw (mangled) name.
    pub name: StrId,
}

/// Function symbols of one binary, so a capture symbolizes without it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SymbolTable {
    pub path: StrId,
    pub build_id: Vec<u8>,
    /// Sorted by `addr`.
    pub symbols: Vec<FuncSymbol>,
}

/// What was lost between the kernel and the file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Losses {
    /// Records the kernel dropped (LOST records and sequence gaps).
    pub kernel_records: u64,
    pub kernel_bytes: u64,
    /// Records the capture tool could not parse or store.
    pub writer_records: u64,
    /// Human-readable reasons, one per kind of loss.
    pub notes: Vec<String>,
}

/// The string table: every string of the capture in one buffer, so that a
/// table of 10^5 kallsyms names costs a few allocations rather than one per
/// name. Id `i` is the `i`-th string pushed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Strings {
    text: String,
    /// End of string `i` in `text`; it starts where string `i - 1` ends.
    ends: Vec<usize>,
}

impl Strings {
    pub fn new() -> Self {
        Self::default()
    }
    /// Room for `n` more strings of `bytes` bytes in all.
    pub fn reserve(&mut self, n: usize, bytes: usize) {
        self.ends.reserve(n);
        self.text.reserve(bytes);
    }
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// Appends `s` (duplicates included) and returns its id.
    pub fn push(&mut self, s: &str) -> StrId {
        self.text.push_str(s);
        self.ends.push(self.text.len());
        StrId(self.ends.len() as u32 - 1)
    }
    /// String `i`, or `None` when out of range.
    pub fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1],
        };
        self.text.get(start..end)
    }
    /// Keeps the first `n` strings.
    pub fn truncate(&mut self, n: usize) {
        if n < self.ends.len() {
            self.ends.truncate(n);
            self.text.truncate(self.ends.last().copied().unwrap_or(0));
        }
    }
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or(""))
    }
    /// Replaces string `i` by `""`, keeping every id.
    pub fn clear_one(&mut self, i: usize) {
        if i < self.len() {
            *self = self
                .iter()
                .enumerate()
                .map(|(k, s)| if k == i { "" } else { s })
                .collect();
        }
    }
}

impl std::ops::Index<usize> for Strings {
    type Output = str;
    fn index(&self, i: usize) -> &str {
        match self.get(i) {
            Some(s) => s,
            None => panic!("string id {i} out of range ({} strings)", self.len()),
        }
    }
}

impl<'s> FromIterator<&'s str> for Strings {
    fn from_iter<I: IntoIterator<Item = &'s str>>(iter: I) -> Self {
        let mut t = Strings::new();
        for s in iter {
            t.push(s);
        }
        t
    }
}

impl<S: AsRef<str>> From<Vec<S>> for Strings {
    fn from(v: Vec<S>) -> Self {
        v.iter().map(AsRef::as_ref).collect()
    }
}

/// A whole capture, decoded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Capture {
    pub meta: Meta,
    pub strings: Strings,
    pub kernel_symbols: Vec<KernelSymbol>,
    pub watches: Vec<Watch>,
    pub breaches: Vec<Breach>,
    pub samples: Vec<TaskSample>,
    pub stacks: StackTable,
    pub raw_stacks: Vec<RawStack>,
    pub processes: Vec<Process>,
    pub symbol_tables: Vec<SymbolTable>,
    pub losses: Losses,
}

impl Capture {
    /// The string for `id`, or `""` for an id out of range.
    pub fn str(&self, id: StrId) -> &str {
        self.strings.get(id.0 as usize).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_keep_ids_through_push_truncate_and_clear_one() {
        let mut t: Strings = ["", "schedule", "", "ext4_sync_file"].into_iter().collect();
        assert_eq!(t.len(), 4);
        assert_eq!(t.get(1), Some("schedule"));
        assert_eq!(t.get(2), Some(""));
        assert_eq!(&t[3], "ext4_sync_file");
        assert_eq!(t.get(4), None);
        assert_eq!(t.push("é"), StrId(4));
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            ["", "schedule", "", "ext4_sync_file", "é"]
        );
        t.clear_one(1);
        assert_eq!(
            t.iter().collect::<Vec<_>>(),
            ["", "", "", "ext4_sync_file", "é"]
        );
        t.truncate(4);
        assert_eq!(t.len(), 4);
        assert_eq!(t.push("x"), StrId(4));
        assert_eq!(t.get(4), Some("x"));
        t.truncate(9);
        assert_eq!(t.len(), 5);
        t.truncate(0);
        assert!(t.is_empty() && t.get(0).is_none());
        let c = Capture {
            strings: Strings::from(vec!["", "a"]),
            ..Default::default()
        };
        assert_eq!((c.str(StrId(1)), c.str(StrId(7))), ("a", ""));
    }
}
