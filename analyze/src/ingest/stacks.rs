//! Stage 3: raw user stacks unwound, then the second pass over an input's
//! samples: each sample that passed gets a row, and its unsymbolized stack
//! (user frames placed in their modules, kernel frames in their kallsyms
//! table) is interned as a list of unique addresses.

use rayon::prelude::*;
use vmon_format::{task_flags, Capture, TaskSample};
use vmon_unwind::{End, Method, ProcessUnwinder, Unwound};

use super::filter::{RawTodo, Selection};
use super::merge::{MapTable, Merged};
use super::{Builder, LoadedInput, Options};
use crate::analysis::{Analysis, FxHashMap, ModuleId, NameId, SampleRow, StackHandle};
use crate::intern::Interner;
use crate::progress::{Progress, Ticker};
use crate::symbolize::elf::ModuleFiles;
use crate::symbolize::AddrKey;

/// An unsymbolized stack: addresses (ids into [`RawStacks::addrs`]), root
/// first, the last `kernel` of them in the kernel.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct RawStack {
    pub addrs: Vec<u32>,
    pub kernel: u32,
}

/// The unique addresses and unsymbolized stacks of every input, and each
/// kept sample's stack, in the order of the analysis' samples.
#[derive(Default)]
pub(super) struct RawStacks {
    pub addrs: Interner<AddrKey>,
    pub stacks: Interner<RawStack>,
    /// Per sample row: its raw stack.
    pub of_sample: Vec<u32>,
}

/// A (process, raw stack) pair of a capture.
type RawKey = (u32, u32);

/// What determines a sample's unsymbolized stack: (kstack, ustack,
/// process, raw stack, ip when a raw stack is unwound, the flags that say
/// how complete the user stack is).
type SampleStackKey = (u32, u32, Option<u32>, Option<u32>, u64, u32);

/// The second pass: rows for the samples that passed, their stacks interned
/// through a cache keyed by what determines them, so 10^6 samples cost 10^6
/// hash lookups. Each sample of the input is counted to `progress`.
#[allow(clippy::too_many_arguments)]
pub(super) fn collect(
    b: &mut Builder,
    raw: &mut RawStacks,
    input: &LoadedInput,
    merged: &Merged,
    selection: &Selection,
    unwound: &FxHashMap<RawKey, Unwound>,
    opts: &Options,
    progress: &dyn Progress,
) {
    let c = &input.capture;
    let f = &opts.filters;
    let mut comm_ids: Vec<Option<NameId>> = vec![None; c.strings.len()];
    let mut cache: FxHashMap<SampleStackKey, (u32, u32)> = FxHashMap::default();
    let mut next = selection.pass.iter();
    let mut ticker = Ticker::new(progress);
    input.for_each_sample(|s| {
        ticker.tick();
        let Some(bid) = next.next().copied().flatten() else {
            return;
        };
        let Some(breach) = b.an.breaches.get_mut(bid.idx()) else {
            return;
        };
        breach.samples += 1;
        let (watch, time_ns) = (breach.watch, breach.time_ns);
        let raw_key = s.raw_stack.filter(|_| opts.unwind && !f.kernel_only);
        let key = (
            s.kstack.0,
            s.ustack.0,
            s.process,
            raw_key,
            if raw_key.is_some() { s.regs.ip } else { 0 },
            s.flags & (USTACK_BITS | task_flags::USTACK_TRUNC | task_flags::USTACK_FAULT),
        );
        let (raw_id, ustack_flags) = *cache.entry(key).or_insert_with(|| {
            let place = Placement {
                capture: c,
                maps: &merged.maps,
                ktable: merged.ktable,
                unwound,
                kernel_only: f.kernel_only,
                user_only: f.user_only,
            };
            let (stack, uflags) = place.stack(s, &mut raw.addrs);
            (raw.stacks.intern(stack), uflags)
        });
        let flags = (s.flags & !USTACK_BITS) | ustack_flags;
        b.an.quality.count_sample(flags, !s.ustack.is_empty());
        let comm = match comm_ids.get(s.comm.0 as usize).copied().flatten() {
            Some(n) => n,
            None => {
                let n = b.name(c.str(s.comm));
                if let Some(slot) = comm_ids.get_mut(s.comm.0 as usize) {
                    *slot = Some(n);
                }
                n
            }
        };
        b.an.samples.push(SampleRow {
            input: merged.input,
            watch,
            breach: bid,
            time_ns,
            pid: s.pid,
            tgid: s.tgid,
            comm,
            state: s.state,
            cpu: s.cpu,
            cgroup_id: s.cgroup_id,
            stack: StackHandle(0),
            flags,
            process: s.process,
        });
        raw.of_sample.push(raw_id);
    });
}

/// The `task_flags` bits that say how a user stack was obtained and whether
/// it is complete.
const USTACK_BITS: u32 = task_flags::USTACK_CFI
    | task_flags::USTACK_HYBRID
    | task_flags::USTACK_ROOT
    | task_flags::USTACK_CUT;

/// The `USTACK_*` bits for an unwind done here.
fn unwound_flags(u: &Unwound) -> u32 {
    let method = match u.method {
        Method::Cfi => task_flags::USTACK_CFI,
        Method::Hybrid => task_flags::USTACK_HYBRID,
        Method::FramePointer => 0,
    };
    method
        | match u.end {
            End::Root => task_flags::USTACK_ROOT,
            End::Cut => task_flags::USTACK_CUT,
        }
}

/// What places one input's sample addresses: its mappings, kallsyms table,
/// the stacks unwound here, and which halves of a stack to keep.
struct Placement<'a> {
    capture: &'a Capture,
    maps: &'a [MapTable],
    ktable: u32,
    unwound: &'a FxHashMap<RawKey, Unwound>,
    kernel_only: bool,
    user_only: bool,
}

impl Placement<'_> {
    /// The unsymbolized stack of one sample, and the `USTACK_*` bits that
    /// describe its user part: the capture's, or this analyzer's when it
    /// unwound the raw window itself. A user stack known to be incomplete
    /// gets a `[truncated]` frame at its outer end.
    fn stack(&self, s: &TaskSample, addrs: &mut Interner<AddrKey>) -> (RawStack, u32) {
        let c = self.capture;
        let mut frames: Vec<u32> = Vec::new();
        let mut uflags = s.flags & USTACK_BITS;
        let fp: Vec<u64> = if s.ustack.is_empty() {
            Vec::new()
        } else {
            c.stacks.frames(s.ustack).collect()
        };
        let uw = match (s.process, s.raw_stack) {
            (Some(p), Some(r)) => self.unwound.get(&(p, r)),
            _ => None,
        };
        // Prefer the CFI unwind unless the frame-pointer chain saw more.
        let user: &[u64] = match uw {
            Some(u) if u.frames.len() >= fp.len() => {
                uflags = unwound_flags(u);
                &u.frames
            }
            _ => &fp,
        };
        if user.is_empty() {
            uflags = 0;
        } else if uflags & (task_flags::USTACK_ROOT | task_flags::USTACK_CUT) == 0
            && s.flags & (task_flags::USTACK_TRUNC | task_flags::USTACK_FAULT) != 0
        {
            // An older capture's frame-pointer walk that the kernel cut.
            uflags |= task_flags::USTACK_CUT;
        }
        if !self.kernel_only {
            if uflags & task_flags::USTACK_CUT != 0 {
                frames.push(addrs.intern(AddrKey::Truncated));
            }
            let table = s.process.and_then(|p| self.maps.get(p as usize));
            for (k, &a) in user.iter().enumerate().rev() {
                // Return addresses point after their call.
                let a = if k == 0 && a == s.regs.ip {
                    a
                } else {
                    a.saturating_sub(1)
                };
                let key = match table.and_then(|t| t.find(a)) {
                    Some(m) => AddrKey::User {
                        module: m.module,
                        offset: (a - m.start).saturating_add(m.file_offset),
                    },
                    None => AddrKey::Unknown { addr: a },
                };
                frames.push(addrs.intern(key));
            }
        }
        let mut kernel = 0u32;
        if !self.user_only && !s.kstack.is_empty() {
            let k: Vec<u64> = c.stacks.frames(s.kstack).collect();
            for (i, &a) in k.iter().enumerate().rev() {
                let addr = if i == 0 { a } else { a.saturating_sub(1) };
                frames.push(addrs.intern(AddrKey::Kernel {
                    table: self.ktable,
                    addr,
                }));
                kernel += 1;
            }
        }
        (
            RawStack {
                addrs: frames,
                kernel,
            },
            uflags,
        )
    }
}

/// Unwinds the unique (process, raw stack) pairs of the samples that pass,
/// in parallel, each once.
pub(super) fn unwind_input(
    input: &LoadedInput,
    todo: &[RawTodo],
    maps: &[MapTable],
    an: &Analysis,
    module_files: &mut ModuleFiles,
    opts: &Options,
    progress: &dyn Progress,
) -> FxHashMap<RawKey, Unwound> {
    let c = &input.capture;
    if todo.is_empty() {
        return FxHashMap::default();
    }
    // Files for the modules of processes with raw stacks, opened once.
    let mut mods: Vec<ModuleId> = todo
        .iter()
        .filter_map(|t| maps.get(t.process as usize))
        .flat_map(|t| t.mappings().iter().map(|m| m.module))
        .collect();
    mods.sort();
    mods.dedup();
    module_files.resolve(&mods, &an.modules, &opts.debug_dirs);
    let module_files = &*module_files;
    let files: FxHashMap<ModuleId, vmon_unwind::Image> = mods
        .par_iter()
        .filter_map(|m| {
            let r = module_files.get(*m)?;
            // The binary has .eh_frame; a debug file may have .debug_frame.
            let f = r.binary.as_ref().or(r.symbols.as_ref())?;
            Some((
                *m,
                vmon_unwind::Image::from_map(f.path.clone(), f.data.clone())?,
            ))
        })
        .collect();
    let mut procs: Vec<u32> = todo.iter().map(|t| t.process).collect();
    procs.sort();
    procs.dedup();
    let unwinders: FxHashMap<u32, ProcessUnwinder> = procs
        .par_iter()
        .filter_map(|p| {
            let t = maps.get(*p as usize)?;
            let mm: Vec<vmon_unwind::Mapping<'_>> = t
                .mappings()
                .iter()
                .filter_map(|m| {
                    Some(vmon_unwind::Mapping {
                        start: m.start,
                        end: m.end,
                        file_offset: m.file_offset,
                        image: files.get(&m.module)?,
                    })
                })
                .collect();
            Some((*p, ProcessUnwinder::new(&mm)))
        })
        .collect();
    todo.par_iter()
        .map_init(vmon_unwind::Cache::new, |cache, t| {
            let u = match (unwinders.get(&t.process), c.raw_stacks.get(t.raw as usize)) {
                (Some(uw), Some(raw)) => {
                    let fp: Vec<u64> = if t.ustack.is_empty() {
                        Vec::new()
                    } else {
                        c.stacks.frames(t.ustack).collect()
                    };
                    let regs = vmon_unwind::Regs {
                        ip: t.regs.ip,
                        sp: t.regs.sp,
                        bp: t.regs.bp,
                    };
                    let window = vmon_unwind::StackWindow {
                        sp: raw.sp,
                        bytes: &raw.bytes,
                    };
                    Some(uw.unwind(cache, regs, window, &fp))
                }
                _ => None,
            };
            progress.inc(1);
            ((t.process, t.raw), u)
        })
        .filter_map(|(k, u)| Some((k, u?)))
        .collect()
}
