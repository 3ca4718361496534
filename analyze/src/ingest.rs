//! From decoded captures to an [`Analysis`]: merge inputs, apply filters,
//! unwind raw user stacks, translate user addresses to (module, file
//! offset), intern unique stacks, symbolize unique addresses once, and
//! build the final symbolized stacks.

use crate::analysis::{FxHashMap as HashMap, FxHashSet};
use std::path::PathBuf;

use rayon::prelude::*;
use vmon_format::{task_flags, Capture, TaskSample, TaskState, WatchKind};

use crate::analysis::*;
use crate::symbolize::{self, elf, AddrKey, EmbeddedSymbols, Kallsyms, SymbolizeOptions};
use vmon_unwind::{End, Method, ProcessUnwinder, Unwound};

/// One decoded input file.
pub struct LoadedInput {
    pub path: String,
    /// The capture; its `samples` are empty when `file` streams them.
    pub capture: Capture,
    /// The opened file, when its task samples are streamed from it (against
    /// `capture`'s tables) rather than held in `capture.samples`.
    pub file: Option<vmon_format::VmtFile<'static>>,
    /// Reader warnings (damage recovered from).
    pub warnings: Vec<String>,
}

/// Calls `f` on every task sample of `input` in file order: streamed from
/// the file block by block, or from `capture.samples`. Returns the warnings
/// of the stream (damaged SAMPLES chunks, dropped samples).
fn for_each_sample(input: &LoadedInput, mut f: impl FnMut(&TaskSample)) -> Vec<String> {
    match &input.file {
        Some(file) => {
            let mut stream = file.samples_for(&input.capture);
            while let Some(block) = stream.next_block() {
                for s in block.iter() {
                    f(&s);
                }
            }
            stream
                .report()
                .warnings()
                .iter()
                .map(|w| w.to_string())
                .collect()
        }
        None => {
            input.capture.samples.iter().for_each(f);
            Vec::new()
        }
    }
}

/// Sample filters; empty lists match everything.
#[derive(Clone, Debug, Default)]
pub struct Filters {
    pub watch: Vec<String>,
    /// Matches a task's pid or its tgid.
    pub pid: Vec<i32>,
    pub comm: Vec<String>,
    pub state: Vec<TaskState>,
    /// Seconds since the start of each capture.
    pub from_s: Option<f64>,
    pub to_s: Option<f64>,
    pub kernel_only: bool,
    pub user_only: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Options {
    pub filters: Filters,
    pub debug_dirs: Vec<PathBuf>,
    /// Expand inlined frames (on by default in the CLI).
    pub inlines: bool,
    /// Unwind raw user stacks with CFI where they were captured.
    pub unwind: bool,
}

pub use crate::symbolize::UNKNOWN_MODULE;

#[derive(Default)]
struct Interner {
    modules: HashMap<(ModuleKind, String, Vec<u8>), ModuleId>,
    names: HashMap<String, NameId>,
    addrs: HashMap<AddrKey, u32>,
    addr_list: Vec<AddrKey>,
    /// Unique unsymbolized stacks: addresses root first + kernel count.
    raw: HashMap<(Vec<u32>, u32), u32>,
    raw_list: Vec<(Vec<u32>, u32)>,
}

impl Interner {
    fn module(
        &mut self,
        an: &mut Analysis,
        kind: ModuleKind,
        path: &str,
        build_id: &[u8],
    ) -> ModuleId {
        let key = (kind, path.to_string(), build_id.to_vec());
        if let Some(m) = self.modules.get(&key) {
            return *m;
        }
        let id = ModuleId(an.modules.len() as u32);
        let name = match kind {
            ModuleKind::User => path.rsplit('/').next().unwrap_or(path).to_string(),
            ModuleKind::Kernel if path.is_empty() => "vmlinux".to_string(),
            _ => path.to_string(),
        };
        an.modules.push(ModuleInfo {
            kind,
            path: if kind == ModuleKind::Kernel && path.is_empty() {
                "[kernel]".into()
            } else {
                path.to_string()
            },
            name,
            build_id: build_id.to_vec(),
            source: if kind == ModuleKind::Kernel {
                SymbolSource::Kallsyms
            } else {
                SymbolSource::NotNeeded
            },
            build_id_mismatch: false,
        });
        self.modules.insert(key, id);
        id
    }

    fn name(&mut self, an: &mut Analysis, s: &str) -> NameId {
        if let Some(n) = self.names.get(s) {
            return *n;
        }
        let id = NameId(an.names.len() as u32);
        an.names.push(s.to_string());
        self.names.insert(s.to_string(), id);
        id
    }

    fn addr(&mut self, k: AddrKey) -> u32 {
        if let Some(i) = self.addrs.get(&k) {
            return *i;
        }
        let i = self.addr_list.len() as u32;
        self.addr_list.push(k);
        self.addrs.insert(k, i);
        i
    }

    fn raw_stack(&mut self, frames: Vec<u32>, nk: u32) -> u32 {
        let key = (frames, nk);
        if let Some(i) = self.raw.get(&key) {
            return *i;
        }
        let i = self.raw_list.len() as u32;
        self.raw_list.push(key.clone());
        self.raw.insert(key, i);
        i
    }
}

/// What determines a sample's unsymbolized stack: (kstack, ustack,
/// process, raw stack, ip when a raw stack is unwound, the flags that say
/// how complete the user stack is).
type SampleStackKey = (u32, u32, Option<u32>, Option<u32>, u64, u32);

/// A process's executable mappings, sorted by start, as (start, end, offset, module).
type MapTable = Vec<(u64, u64, u64, ModuleId)>;

fn find_mapping(maps: &MapTable, addr: u64) -> Option<&(u64, u64, u64, ModuleId)> {
    let i = maps.partition_point(|m| m.0 <= addr).checked_sub(1)?;
    maps.get(i).filter(|m| addr < m.1)
}

fn state_ok(f: &Filters, s: TaskState) -> bool {
    f.state.is_empty() || f.state.contains(&s)
}

/// Builds the analysis. `progress` receives phase names.
pub fn analyze(inputs: Vec<LoadedInput>, opts: &Options, progress: &dyn Fn(&str)) -> Analysis {
    let mut an = Analysis {
        filters: opts.filters.clone(),
        ..Default::default()
    };
    let mut it = Interner::default();
    it.module(&mut an, ModuleKind::Unknown, "[unknown]", &[]);
    let mut kallsyms: Vec<Kallsyms> = Vec::new();
    let mut embedded: HashMap<ModuleId, EmbeddedSymbols> = HashMap::default();
    // Per module, the file range its executable mappings cover (for
    // symbolizing through an embedded table without the file).
    let mut mapped: HashMap<ModuleId, (u64, u64)> = HashMap::default();
    let mut watch_keys: HashMap<(String, u8, i64, String), WatchId> = HashMap::default();
    // Per sample: the index of its raw stack until symbolization is done.
    let mut sample_raw: Vec<u32> = Vec::new();
    let f = &opts.filters;

    for (input_idx, input) in inputs.iter().enumerate() {
        progress(&format!("reading {}", input.path));
        let c = &input.capture;
        let iid = InputId(input_idx as u32);
        an.quality.kernel_drops = an
            .quality
            .kernel_drops
            .saturating_add(c.losses.kernel_records);
        an.quality.writer_drops = an
            .quality
            .writer_drops
            .saturating_add(c.losses.writer_records);
        for w in &input.warnings {
            an.warnings.push(format!("{}: {w}", input.path));
        }
        an.inputs.push(InputInfo {
            path: input.path.clone(),
            meta: c.meta.clone(),
            losses: c.losses.clone(),
            warnings: input.warnings.clone(),
            samples_total: c.samples.len() as u64,
            breaches_total: c.breaches.len() as u64,
        });

        // Kernel symbols: identical snapshots share one table.
        let ks = Kallsyms::from_capture(c);
        if ks.zeroed {
            an.warnings.push(format!(
                "{}: the kallsyms snapshot has only zero addresses (kptr_restrict); kernel frames stay unresolved (capture as root)",
                input.path
            ));
        }
        let ktable = match kallsyms.iter().position(|k| *k == ks) {
            Some(i) => i as u32,
            None => {
                kallsyms.push(ks);
                kallsyms.len() as u32 - 1
            }
        };

        // Watches, merged across inputs by (name, comparison, threshold, kind).
        let mut watch_map: Vec<Option<WatchId>> = Vec::with_capacity(c.watches.len());
        for w in &c.watches {
            let name = c.str(w.name).to_string();
            if !f.watch.is_empty() && !f.watch.contains(&name) {
                watch_map.push(None);
                continue;
            }
            let kind = match &w.kind {
                WatchKind::User => "user".to_string(),
                WatchKind::Kernel { symbol } => format!("kernel:{}", c.str(*symbol)),
            };
            let key = (name.clone(), w.cmp as u8, w.threshold, kind.clone());
            let id = *watch_keys.entry(key).or_insert_with(|| {
                an.watches.push(WatchInfo {
                    name,
                    cmp: w.cmp,
                    threshold: w.threshold,
                    kind,
                    sources: Vec::new(),
                });
                WatchId(an.watches.len() as u32 - 1)
            });
            an.watches[id.idx()].sources.push((iid, w.id));
            watch_map.push(Some(id));
        }

        // Breaches, with the time filter (seconds since the capture start).
        let t0 = if c.meta.start_ns != 0 {
            c.meta.start_ns
        } else {
            c.breaches.iter().map(|b| b.time_ns).min().unwrap_or(0)
        };
        let mut breach_map: Vec<Option<BreachId>> = Vec::with_capacity(c.breaches.len());
        for b in &c.breaches {
            let rel = b.time_ns.saturating_sub(t0) as f64 / 1e9;
            let in_time = f.from_s.is_none_or(|t| rel >= t) && f.to_s.is_none_or(|t| rel <= t);
            let watch = watch_map.get(b.watch as usize).copied().flatten();
            match watch {
                Some(w) if in_time => {
                    breach_map.push(Some(BreachId(an.breaches.len() as u32)));
                    an.breaches.push(BreachRow {
                        input: iid,
                        watch: w,
                        event_id: b.event_id,
                        time_ns: b.time_ns,
                        value: b.value,
                        nr_candidates: b.nr_candidates,
                        collect_ns: b.collect_ns,
                        flags: b.flags,
                        samples: 0,
                    });
                }
                _ => breach_map.push(None),
            }
        }

        // Processes: mapping tables on module ids, and display chains.
        let mut maps: Vec<MapTable> = Vec::with_capacity(c.processes.len());
        let mut pinfo = Vec::with_capacity(c.processes.len());
        let mut bad_maps = 0usize;
        for p in &c.processes {
            bad_maps += p
                .mappings
                .iter()
                .filter(|m| m.end > m.start && m.offset.checked_add(m.end - m.start).is_none())
                .count();
            let mut t: MapTable = p
                .mappings
                .iter()
                // A mapping whose file range would end past 2^64 is corrupt
                // (file offsets are below 2^63); dropping it here keeps
                // `a - start + offset` below from overflowing.
                .filter(|m| m.end > m.start && m.offset.checked_add(m.end - m.start).is_some())
                .map(|m| {
                    let id = it.module(&mut an, ModuleKind::User, c.str(m.path), &m.build_id);
                    let end = m.offset.saturating_add(m.end - m.start);
                    let r = mapped.entry(id).or_insert((m.offset, end));
                    *r = (r.0.min(m.offset), r.1.max(end));
                    (m.start, m.end, m.offset, id)
                })
                .collect();
            t.sort_by_key(|m| m.0);
            maps.push(t);
            pinfo.push(ProcessInfo {
                tgid: p.tgid,
                chain: p
                    .chain
                    .iter()
                    .map(|a| {
                        let args: Vec<&str> = a.cmdline.iter().map(|s| c.str(*s)).collect();
                        let mut cmd = args.join(" ");
                        if a.cmdline_truncated {
                            cmd.push_str(" ...");
                        }
                        (a.pid, c.str(a.comm).to_string(), cmd)
                    })
                    .collect(),
                chain_truncated: p.chain_truncated,
            });
        }
        an.processes.push(pinfo);
        if bad_maps > 0 {
            an.warnings.push(format!(
                "{}: {bad_maps} mappings ignored: their file offset would put their end past 2^64 \
                 (corrupt capture); frames in them stay unresolved",
                input.path
            ));
        }

        for st in &c.symbol_tables {
            let id = it.module(&mut an, ModuleKind::User, c.str(st.path), &st.build_id);
            embedded.entry(id).or_insert_with(|| {
                let mut symbols: Vec<(u64, u64, String)> = st
                    .symbols
                    .iter()
                    .map(|s| (s.addr, s.size, c.str(s.name).to_string()))
                    .collect();
                symbols.sort();
                EmbeddedSymbols {
                    symbols,
                    mapped: None,
                }
            });
        }

        // Which samples pass the filters, and, in the same pass over the
        // file, the unique (process, raw stack) pairs of those that do.
        let unwind = opts.unwind && !f.kernel_only;
        let mut pass: Vec<Option<BreachId>> = Vec::with_capacity(c.samples.len());
        let mut raw_todo: Vec<RawTodo> = Vec::new();
        let mut raw_seen: FxHashSet<(u32, u32)> = FxHashSet::default();
        let stream_warnings = for_each_sample(input, |s| {
            let b = breach_map.get(s.breach as usize).copied().flatten();
            let ok = (f.pid.is_empty() || f.pid.contains(&s.pid) || f.pid.contains(&s.tgid))
                && state_ok(f, s.state)
                && (f.comm.is_empty() || f.comm.iter().any(|x| x == c.str(s.comm)));
            let b = b.filter(|_| ok);
            pass.push(b);
            // vmon-capture unwinds where the binaries are and says so; a raw
            // window it kept without unwinding (or an older capture's) is
            // unwound here.
            let done = s.flags & (task_flags::USTACK_CFI | task_flags::USTACK_HYBRID) != 0;
            if unwind && !done && b.is_some() && s.flags & task_flags::NO_UREGS == 0 {
                if let (Some(process), Some(raw)) = (s.process, s.raw_stack) {
                    if raw_seen.insert((process, raw)) {
                        raw_todo.push(RawTodo {
                            process,
                            raw,
                            regs: s.regs,
                            ustack: s.ustack,
                        });
                    }
                }
            }
        });
        let mut more = stream_warnings;
        if input.file.is_some() && !(input.warnings.is_empty() && more.is_empty()) {
            more.push(format!(
                "recovered {} breaches and {} task samples despite the damage above",
                c.breaches.len(),
                pass.len()
            ));
        }
        for w in &more {
            an.warnings.push(format!("{}: {w}", input.path));
        }
        if let Some(info) = an.inputs.last_mut() {
            info.samples_total = pass.len() as u64;
            info.warnings.extend(more);
        }

        // Unwind each unique (process, raw stack) once, in parallel.
        let unwound = if unwind {
            progress("unwinding raw user stacks");
            unwind_input(input, raw_todo, &maps, &an, opts)
        } else {
            HashMap::default()
        };

        // Samples: intern their stacks through a cache keyed by what
        // determines them, so 10^6 samples cost 10^6 hash lookups.
        let mut comm_ids: Vec<Option<NameId>> = vec![None; c.strings.len()];
        let mut cache: HashMap<SampleStackKey, (u32, u32)> = HashMap::default();
        let mut next = pass.iter();
        for_each_sample(input, |s| {
            let Some(b) = next.next().copied().flatten() else {
                return;
            };
            let Some(breach) = an.breaches.get_mut(b.idx()) else {
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
            let (raw_id, ustack_flags) = match cache.get(&key) {
                Some(r) => *r,
                None => {
                    let r = build_stack(c, s, &maps, ktable, &unwound, f, &mut it);
                    cache.insert(key, r);
                    r
                }
            };
            let flags = (s.flags & !USTACK_BITS) | ustack_flags;
            an.quality.count_sample(flags, !s.ustack.is_empty());
            let comm = match comm_ids.get(s.comm.0 as usize).copied().flatten() {
                Some(n) => n,
                None => {
                    let n = it.name(&mut an, c.str(s.comm));
                    if let Some(slot) = comm_ids.get_mut(s.comm.0 as usize) {
                        *slot = Some(n);
                    }
                    n
                }
            };
            an.samples.push(SampleRow {
                input: iid,
                watch,
                breach: b,
                time_ns,
                pid: s.pid,
                tgid: s.tgid,
                comm,
                state: s.state,
                cpu: s.cpu,
                cgroup_id: s.cgroup_id,
                stack: StackIdx(0),
                flags,
                process: s.process,
            });
            sample_raw.push(raw_id);
        });
    }

    for (id, e) in embedded.iter_mut() {
        e.mapped = mapped.get(id).copied();
    }

    // Symbolize every unique address once.
    progress(&format!(
        "symbolizing {} unique addresses",
        it.addr_list.len()
    ));
    let addr_list = std::mem::take(&mut it.addr_list);
    let mut kmods: HashMap<String, ModuleId> = HashMap::default();
    let mut new_kmods: Vec<String> = Vec::new();
    let mut modules = std::mem::take(&mut an.modules);
    let base = modules.len() as u32;
    let mut kernel_module = |name: &str| -> ModuleId {
        if let Some(m) = kmods.get(name) {
            return *m;
        }
        let id = ModuleId(base + new_kmods.len() as u32);
        new_kmods.push(name.to_string());
        kmods.insert(name.to_string(), id);
        id
    };
    let sym_opts = SymbolizeOptions {
        debug_dirs: opts.debug_dirs.clone(),
        inlines: opts.inlines,
    };
    let mut warnings = Vec::new();
    let sym = symbolize::symbolize(
        &addr_list,
        &kallsyms,
        &mut kernel_module,
        &mut modules,
        &embedded,
        &sym_opts,
        &mut warnings,
    );
    an.modules = modules;
    for k in new_kmods {
        it.module(&mut an, ModuleKind::Kernel, &k, &[]);
    }
    an.warnings.extend(warnings);
    an.quality.unique_addresses = addr_list.len() as u64;

    // Intern functions and frames.
    progress("building stacks");
    let mut funcs: HashMap<FuncInfo, FuncId> = HashMap::default();
    let mut frames: HashMap<FrameInfo, FrameId> = HashMap::default();
    let mut addr_frames: Vec<Vec<FrameId>> = Vec::with_capacity(sym.len());
    let mut addr_resolved: Vec<bool> = Vec::with_capacity(sym.len());
    for fs in sym {
        let mut v = Vec::with_capacity(fs.len());
        addr_resolved.push(fs.iter().all(|f| f.resolved));
        for sf in fs {
            let fi = FuncInfo {
                name: sf.name.to_string(),
                module: sf.module,
                kernel: sf.kernel,
                resolved: sf.resolved,
            };
            let func = match funcs.get(&fi) {
                Some(id) => *id,
                None => {
                    let id = FuncId(an.funcs.len() as u32);
                    an.funcs.push(fi.clone());
                    funcs.insert(fi, id);
                    id
                }
            };
            let fr = FrameInfo {
                func,
                file: sf.file.map(|f| f.to_string()),
                line: sf.line,
                inlined: sf.inlined,
            };
            let frame = match frames.get(&fr) {
                Some(id) => *id,
                None => {
                    let id = FrameId(an.frames.len() as u32);
                    an.frames.push(fr.clone());
                    frames.insert(fr, id);
                    id
                }
            };
            v.push(frame);
        }
        addr_frames.push(v);
    }

    // Final stacks; distinct raw stacks can symbolize to the same frames.
    let mut raw_counts = vec![0u64; it.raw_list.len()];
    for r in &sample_raw {
        if let Some(c) = raw_counts.get_mut(*r as usize) {
            *c += 1;
        }
    }
    let mut stack_ids: HashMap<StackInfo, StackIdx> = HashMap::default();
    let mut raw_to_stack: Vec<StackIdx> = Vec::with_capacity(it.raw_list.len());
    let mut unresolved: HashMap<ModuleId, u64> = HashMap::default();
    for ((addrs, nk), count) in it.raw_list.iter().zip(&raw_counts) {
        let mut st = StackInfo::default();
        let user_addrs = addrs.len() - (*nk as usize).min(addrs.len());
        for (k, a) in addrs.iter().enumerate() {
            let fr = addr_frames
                .get(*a as usize)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            if k >= user_addrs {
                st.kernel_frames += fr.len() as u32;
            }
            st.frames.extend_from_slice(fr);
            if addr_list.get(*a as usize) == Some(&AddrKey::Truncated) {
                continue; // a marker, not a frame
            }
            an.quality.frames_total += count;
            if addr_resolved.get(*a as usize).copied().unwrap_or(false) {
                an.quality.frames_resolved += count;
            } else if let Some(first) = fr.first() {
                *unresolved
                    .entry(an.funcs[an.frames[first.idx()].func.idx()].module)
                    .or_default() += count;
            }
        }
        let id = match stack_ids.get(&st) {
            Some(id) => *id,
            None => {
                let id = StackIdx(an.stacks.len() as u32);
                an.stacks.push(st.clone());
                stack_ids.insert(st, id);
                id
            }
        };
        raw_to_stack.push(id);
    }
    for (s, r) in an.samples.iter_mut().zip(&sample_raw) {
        s.stack = raw_to_stack.get(*r as usize).copied().unwrap_or_default();
    }

    let mut un: Vec<(String, u64)> = unresolved
        .into_iter()
        .map(|(m, n)| {
            (
                an.modules
                    .get(m.idx())
                    .map(|m| m.path.clone())
                    .unwrap_or_default(),
                n,
            )
        })
        .collect();
    un.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    an.quality.unresolved_by_module = un;
    let mut missing: Vec<String> = an
        .modules
        .iter()
        .filter(|m| {
            m.kind == ModuleKind::User
                && !symbolize::is_jit_module(&m.path)
                && matches!(
                    m.source,
                    SymbolSource::SymtabOnly(_) | SymbolSource::Embedded | SymbolSource::Missing
                )
        })
        .map(|m| m.path.clone())
        .collect();
    missing.sort();
    an.quality.missing_debug_info = missing;
    let mut mism: Vec<String> = an
        .modules
        .iter()
        .filter(|m| m.build_id_mismatch)
        .map(|m| m.path.clone())
        .collect();
    mism.sort();
    an.quality.build_id_mismatches = mism;
    an
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

/// The unsymbolized stack of one sample, interned, and the `USTACK_*` bits
/// that describe its user part: the capture's, or this analyzer's when it
/// unwound the raw window itself. A user stack known to be incomplete gets
/// a `[truncated]` frame at its outer end.
fn build_stack(
    c: &Capture,
    s: &vmon_format::TaskSample,
    maps: &[MapTable],
    ktable: u32,
    unwound: &HashMap<(u32, u32), Unwound>,
    f: &Filters,
    it: &mut Interner,
) -> (u32, u32) {
    let mut frames: Vec<u32> = Vec::new();
    let mut uflags = s.flags & USTACK_BITS;
    let fp: Vec<u64> = if s.ustack.is_empty() {
        Vec::new()
    } else {
        c.stacks.frames(s.ustack).collect()
    };
    let uw = match (s.process, s.raw_stack) {
        (Some(p), Some(r)) => unwound.get(&(p, r)),
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
    if !f.kernel_only {
        if uflags & task_flags::USTACK_CUT != 0 {
            frames.push(it.addr(AddrKey::Truncated));
        }
        let table = s.process.and_then(|p| maps.get(p as usize));
        for (k, &a) in user.iter().enumerate().rev() {
            // Return addresses point after their call.
            let a = if k == 0 && a == s.regs.ip {
                a
            } else {
                a.saturating_sub(1)
            };
            let key = match table.and_then(|t| find_mapping(t, a)) {
                Some(&(start, _, off, module)) => AddrKey::User {
                    module,
                    offset: (a - start).saturating_add(off),
                },
                None => AddrKey::Unknown { addr: a },
            };
            frames.push(it.addr(key));
        }
    }
    let mut nk = 0u32;
    if !f.user_only && !s.kstack.is_empty() {
        let k: Vec<u64> = c.stacks.frames(s.kstack).collect();
        for (i, &a) in k.iter().enumerate().rev() {
            let addr = if i == 0 { a } else { a.saturating_sub(1) };
            frames.push(it.addr(AddrKey::Kernel {
                table: ktable,
                addr,
            }));
            nk += 1;
        }
    }
    (it.raw_stack(frames, nk), uflags)
}

/// A unique (process, raw stack) pair to unwind, with what the sample
/// says about it.
struct RawTodo {
    process: u32,
    raw: u32,
    regs: vmon_format::UserRegs,
    /// The kernel's frame-pointer chain, spliced where the window ends.
    ustack: vmon_format::StackId,
}

/// Unwinds the unique (process, raw stack) pairs of the samples that pass.
fn unwind_input(
    input: &LoadedInput,
    todo: Vec<RawTodo>,
    maps: &[MapTable],
    an: &Analysis,
    opts: &Options,
) -> HashMap<(u32, u32), Unwound> {
    let c = &input.capture;
    if todo.is_empty() {
        return HashMap::default();
    }
    // Files for the modules of processes with raw stacks, opened once.
    let mut mods: Vec<ModuleId> = todo
        .iter()
        .filter_map(|t| maps.get(t.process as usize))
        .flat_map(|t| t.iter().map(|m| m.3))
        .collect();
    mods.sort();
    mods.dedup();
    let files: HashMap<ModuleId, vmon_unwind::Image> = mods
        .par_iter()
        .filter_map(|m| {
            let info = an.modules.get(m.idx())?;
            let r = elf::resolve(&info.path, &info.build_id, &opts.debug_dirs);
            // The binary has .eh_frame; a debug file may have .debug_frame.
            let f = r.binary.or(r.symbols)?;
            Some((*m, vmon_unwind::Image::from_map(f.path, f.data)?))
        })
        .collect();
    let mut procs: Vec<u32> = todo.iter().map(|t| t.process).collect();
    procs.sort();
    procs.dedup();
    let unwinders: HashMap<u32, ProcessUnwinder> = procs
        .par_iter()
        .filter_map(|p| {
            let t = maps.get(*p as usize)?;
            let mm: Vec<vmon_unwind::Mapping<'_>> = t
                .iter()
                .filter_map(|&(start, end, file_offset, m)| {
                    Some(vmon_unwind::Mapping {
                        start,
                        end,
                        file_offset,
                        image: files.get(&m)?,
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
            ((t.process, t.raw), u)
        })
        .filter_map(|(k, u)| Some((k, u?)))
        .collect()
}
