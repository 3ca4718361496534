//! Kernel records → `.vmt`: buffers one breach event at a time (its tasks,
//! mappings and chains may come in any order), then writes the watch, the
//! breach, the processes and the samples, so every id a sample refers to
//! already exists in the file.

use crate::process::{AncestorOwned, Enricher, Listing, MapOwned, ProcInfo};
use crate::ustack::{MappedImage, UserStack, UserStacks};
use anyhow::{Context as _, Result};
use std::collections::HashMap;
use std::io::Write;
use vmon_format::{self as vf, Writer};
use vmon_kabi::abi::*;
use vmon_kabi::records::{self, lossy, Body, Record};

/// An event with more task records than this is written in parts: bounds
/// memory whatever the kernel sends.
pub const MAX_PENDING_TASKS: usize = 65_536;

/// Counters for the status line and the summary.
#[derive(Clone, Debug, Default)]
pub struct Stats {
    pub records: u64,
    pub breaches: u64,
    pub samples: u64,
    pub raw_bytes: u64,
    /// Records the kernel dropped: the larger of the seq gaps and the LOST totals.
    pub kernel_lost: u64,
    pub kernel_lost_bytes: u64,
    /// Records this tool could not parse or store.
    pub own_lost: u64,
}

struct OwnedTask {
    fixed: TaskOwned,
    kstack: Vec<u64>,
    ustack: Vec<u64>,
    raw: Vec<u8>,
}

struct TaskOwned {
    pid: i32,
    tgid: i32,
    state: u32,
    cpu: i32,
    flags: u32,
    cgroup_id: u64,
    start_ns: u64,
    ip: u64,
    sp: u64,
    bp: u64,
    comm: String,
}

#[derive(Clone)]
struct WatchOwned {
    id: u64,
    owner_pid: i32,
    target_pid: i32,
    name: String,
    ksym: String,
    addr: u64,
    length: u32,
    flags: u32,
    threshold: i64,
    interval_ns: u64,
    trigger: vf::WatchTrigger,
}

/// The trigger of a watch, from the module's flags and trigger fields.
fn watch_trigger(flags: u32, t: &records::BreachTrigger) -> vf::WatchTrigger {
    vf::WatchTrigger {
        consecutive: t.consecutive,
        rearm: (flags & VMON_WATCH_REARM != 0).then_some(t.rearm),
        rate_window_ns: (flags & VMON_WATCH_RATE != 0).then_some(t.rate_window_ns),
    }
}

struct PendingEvent {
    event_id: u64,
    time_ns: u64,
    watch: WatchOwned,
    value: i64,
    tasks: Vec<OwnedTask>,
    procs: HashMap<i32, ProcInfo>,
    dropped: bool,
}

pub struct Converter<W: Write> {
    w: Writer<W>,
    pub stats: Stats,
    pub meta: vf::Meta,
    enrich: Box<dyn Enricher>,
    watches: HashMap<u64, u32>,
    /// (tgid, start) → (process index, fingerprint of what was written).
    processes: HashMap<(i32, u64), (u32, u64)>,
    /// (tgid, start) → (process index, fingerprint of the kernel's complete
    /// MAPS and CHAIN that led to it).
    kernel_seen: HashMap<(i32, u64), (u32, u64)>,
    event: Option<PendingEvent>,
    last_seq: Option<u64>,
    seq_gaps: u64,
    /// Records this tool just skipped as corrupt: the sequence gap they
    /// leave is its loss, already counted, not the kernel's.
    skipped: u64,
    lost_records: u64,
    lost_bytes: u64,
    notes: Vec<String>,
    unknown_types: HashMap<u16, u64>,
    hello_seen: bool,
    /// Events completed since the caller last asked (drives flush-after-breach).
    completed: u64,
    verbose: bool,
    /// Whole stack → its id in the writer's prefix tree (ids never change),
    /// so a repeated stack costs one hash instead of one lookup per frame.
    stack_cache: HashMap<Box<[u64]>, vf::StackId, foldhash::fast::RandomState>,
    /// Unwinds the raw user stack windows.
    pub ustacks: UserStacks,
    /// Task flag bits from the kernel that this tool does not know (a newer module).
    unknown_task_flags: u32,
}

/// Entries of `stack_cache` before it starts over (bounds its memory; the
/// writer's tree still holds every stack).
const STACK_CACHE_MAX: usize = 1 << 16;

fn fingerprint<T: std::hash::Hash>(t: &T) -> u64 {
    use std::hash::{BuildHasher, BuildHasherDefault};
    BuildHasherDefault::<std::collections::hash_map::DefaultHasher>::default().hash_one(t)
}

impl<W: Write> Converter<W> {
    pub fn new(
        w: Writer<W>,
        meta: vf::Meta,
        enrich: Box<dyn Enricher>,
        verbose: bool,
        ustacks: UserStacks,
    ) -> Self {
        Converter {
            w,
            stats: Stats::default(),
            meta,
            enrich,
            watches: HashMap::new(),
            processes: HashMap::new(),
            kernel_seen: HashMap::new(),
            event: None,
            last_seq: None,
            seq_gaps: 0,
            skipped: 0,
            lost_records: 0,
            lost_bytes: 0,
            notes: Vec::new(),
            unknown_types: HashMap::new(),
            hello_seen: false,
            completed: 0,
            verbose,
            stack_cache: HashMap::default(),
            ustacks,
            unknown_task_flags: 0,
        }
    }

    fn intern_stack(&mut self, frames: &[u64]) -> vf::StackId {
        if let Some(&id) = self.stack_cache.get(frames) {
            return id;
        }
        let id = self.w.intern_stack(frames);
        if self.stack_cache.len() >= STACK_CACHE_MAX {
            self.stack_cache.clear();
        }
        self.stack_cache.insert(frames.into(), id);
        id
    }

    /// Breaches completed since the last call.
    pub fn take_completed(&mut self) -> u64 {
        std::mem::take(&mut self.completed)
    }

    /// A corrupt record this tool skipped (one lost record of its own).
    pub fn skipped_record(&mut self, note: String) {
        self.skipped += 1;
        self.own_loss(1, note);
    }

    /// A loss of this tool's own, with a reason for the file's notes.
    pub fn own_loss(&mut self, records: u64, note: String) {
        self.stats.own_lost += records;
        if self.notes.len() < 64 && !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    pub fn write_meta(&mut self) -> Result<()> {
        self.w
            .write_meta(&self.meta)
            .context("writing the capture's metadata")
    }

    /// Registers a watch this tool created, so it is in the file even if it
    /// never breaches.
    pub fn add_own_watch(&mut self, id: u64, req: &vmon_watch_req) -> Result<()> {
        let cut = |b: &[u8]| lossy(b.split(|&c| c == 0).next().unwrap_or(&[])).into_owned();
        let w = WatchOwned {
            id,
            owner_pid: std::process::id() as i32,
            target_pid: req.pid,
            name: cut(&req.name),
            ksym: cut(&req.ksym),
            addr: req.addr,
            length: req.length,
            flags: req.flags,
            threshold: req.threshold,
            interval_ns: req.interval_ns,
            trigger: watch_trigger(
                req.flags,
                &records::BreachTrigger {
                    consecutive: req.consecutive,
                    rearm: req.rearm,
                    rate_window_ns: req.rate_window_ns,
                },
            ),
        };
        self.watch_index(&w).map(|_| ())
    }

    fn watch_index(&mut self, w: &WatchOwned) -> Result<u32> {
        if let Some(&i) = self.watches.get(&w.id) {
            return Ok(i);
        }
        let kind = if w.flags & VMON_WATCH_KERNEL != 0 {
            vf::WatchKind::Kernel {
                symbol: self.w.intern_str(&w.ksym),
            }
        } else {
            vf::WatchKind::User
        };
        let watch = vf::Watch {
            id: w.id,
            owner_pid: w.owner_pid,
            target_pid: w.target_pid,
            name: self.w.intern_str(&w.name),
            addr: w.addr,
            size: if matches!(w.length, 1 | 2 | 4 | 8) {
                w.length as u8
            } else {
                8
            },
            signed: w.flags & VMON_WATCH_UNSIGNED == 0,
            cmp: if w.flags & VMON_WATCH_GREATER != 0 {
                vf::Comparison::Greater
            } else {
                vf::Comparison::Less
            },
            threshold: w.threshold,
            interval_ns: w.interval_ns,
            kind,
            trigger: w.trigger,
        };
        let i = self.w.add_watch(&watch).context("writing a watch")?;
        self.watches.insert(w.id, i);
        Ok(i)
    }

    /// Feeds one parsed record.
    pub fn record(&mut self, r: &Record<'_>) -> Result<()> {
        self.stats.records += 1;
        self.stats.raw_bytes += r.hdr.len as u64;
        // HELLO is per reader and outside the module's sequence: the next
        // record starts (or restarts) the sequence this reader sees.
        if matches!(r.body, Body::Hello(_)) {
            self.last_seq = None;
        } else if let Some(prev) = self.last_seq {
            // Checked: a corrupt or hostile stream may carry any seq, up to 2^64-1.
            if r.hdr.seq > prev.saturating_add(1) {
                let gap = r.hdr.seq - prev - 1;
                let ours = gap.min(self.skipped);
                let gap = gap - ours;
                self.seq_gaps = self.seq_gaps.saturating_add(gap);
                if let Some(e) = &mut self.event {
                    e.dropped = true;
                }
            }
        }
        self.skipped = 0;
        if !matches!(r.body, Body::Hello(_)) && self.last_seq.is_none_or(|p| r.hdr.seq > p) {
            self.last_seq = Some(r.hdr.seq);
        }
        if self.meta.start_ns == 0 || r.hdr.time_ns < self.meta.start_ns {
            self.meta.start_ns = r.hdr.time_ns;
        }
        self.meta.end_ns = self.meta.end_ns.max(r.hdr.time_ns);

        // A record of another event (or none) ends the pending one: its
        // EVENT_END was lost.
        if let Some(e) = &self.event {
            let other = match r.body {
                Body::Breach(_) => true,
                Body::Task(_) | Body::Maps(_) | Body::Chain(_) | Body::EventEnd(_) => {
                    r.hdr.event_id != e.event_id
                }
                _ => false,
            };
            if other {
                self.finish_event(None)?;
            }
        }

        match r.body {
            Body::Hello(h) => self.hello(&h)?,
            Body::Breach(b) => {
                self.event = Some(PendingEvent {
                    event_id: r.hdr.event_id,
                    time_ns: r.hdr.time_ns,
                    watch: WatchOwned {
                        id: b.watch_id,
                        owner_pid: b.owner_pid,
                        target_pid: b.target_pid,
                        name: lossy(b.name).into_owned(),
                        ksym: lossy(b.ksym).into_owned(),
                        addr: b.addr,
                        length: b.length,
                        flags: b.watch_flags,
                        threshold: b.threshold,
                        interval_ns: b.interval_ns,
                        trigger: watch_trigger(b.watch_flags, &b.trigger),
                    },
                    value: b.value,
                    tasks: Vec::new(),
                    procs: HashMap::new(),
                    dropped: false,
                });
            }
            Body::Task(t) => match &mut self.event {
                Some(e) if e.tasks.len() < MAX_PENDING_TASKS => e.tasks.push(OwnedTask {
                    fixed: TaskOwned {
                        pid: t.fixed.pid,
                        tgid: t.fixed.tgid,
                        state: t.fixed.state,
                        cpu: t.fixed.cpu,
                        flags: t.fixed.flags,
                        cgroup_id: t.fixed.cgroup_id,
                        start_ns: t.fixed.start_boottime_ns,
                        ip: t.fixed.user_ip,
                        sp: t.fixed.user_sp,
                        bp: t.fixed.user_bp,
                        comm: lossy(t.fixed.comm).into_owned(),
                    },
                    kstack: t.kstack.to_vec(),
                    ustack: t.ustack.to_vec(),
                    raw: t.raw_stack.to_vec(),
                }),
                Some(_) => self.own_loss(
                    1,
                    format!("task records beyond {MAX_PENDING_TASKS} in one event were not stored"),
                ),
                None => self.own_loss(
                    1,
                    "task records without their BREACH (dropped by the kernel) were not stored"
                        .into(),
                ),
            },
            Body::Maps(m) => {
                let maps: Vec<MapOwned> = m
                    .entries()
                    .map(|e| MapOwned {
                        start: e.start,
                        end: e.end,
                        pgoff: e.pgoff,
                        ino: e.ino,
                        dev: e.dev as u64,
                        path: lossy(e.path).into_owned(),
                        build_id: e.build_id.to_vec(),
                    })
                    .collect();
                match &mut self.event {
                    Some(e) => {
                        e.procs.entry(m.tgid).or_default().maps = Some(Listing {
                            items: maps,
                            truncated: m.truncated(),
                        })
                    }
                    None => self.own_loss(1, "MAPS records outside an event were ignored".into()),
                }
            }
            Body::Chain(c) => {
                let chain: Vec<AncestorOwned> = c
                    .entries()
                    .map(|e| AncestorOwned {
                        pid: e.pid,
                        start_ns: e.start_boottime_ns,
                        comm: lossy(e.comm).into_owned(),
                        args: e.args().map(|a| lossy(a).into_owned()).collect(),
                        truncated: e.flags & VMON_CHAIN_CMDLINE_TRUNC != 0,
                    })
                    .collect();
                match &mut self.event {
                    Some(e) => {
                        e.procs.entry(c.tgid).or_default().chain = Some(Listing {
                            items: chain,
                            truncated: c.truncated(),
                        })
                    }
                    None => self.own_loss(1, "CHAIN records outside an event were ignored".into()),
                }
            }
            Body::EventEnd(end) => {
                if self.event.is_some() {
                    self.finish_event(Some(end))?;
                } else {
                    self.own_loss(
                        0,
                        "an EVENT_END arrived without its BREACH (dropped by the kernel)".into(),
                    );
                }
            }
            Body::Lost(l) => {
                self.lost_records = self.lost_records.max(l.lost_records);
                self.lost_bytes = self.lost_bytes.max(l.lost_bytes);
            }
            Body::Unknown { .. } => {
                *self.unknown_types.entry(r.hdr.type_).or_default() += 1;
            }
        }
        self.update_losses();
        Ok(())
    }

    fn hello(&mut self, h: &records::Hello<'_>) -> Result<()> {
        if h.abi_version != VMON_ABI_VERSION || h.record_version != VMON_RECORD_VERSION {
            self.own_loss(
                0,
                format!(
                    "the module speaks ABI {} / records {}, this tool {} / {}: fields may be misread",
                    h.abi_version, h.record_version, VMON_ABI_VERSION, VMON_RECORD_VERSION
                ),
            );
        }
        self.meta.module = vf::ModuleSettings {
            abi_version: h.abi_version,
            record_version: h.record_version,
            def_interval_ns: h.def_interval_ns,
            min_interval_ns: h.min_interval_ns,
            dump_reset_sec: h.dump_reset_sec,
            kstack_max: h.kstack_max,
            ustack_max: h.ustack_max,
            raw_stack_bytes: h.raw_stack_bytes,
            buffer_bytes: h.buffer_bytes,
        };
        self.meta.realtime_offset_ns = h.boot_realtime_ns as i64;
        if !h.release.is_empty() {
            self.meta.kernel_release = lossy(h.release).into_owned();
        }
        self.hello_seen = true;
        self.write_meta()
    }

    fn update_losses(&mut self) {
        self.stats.kernel_lost = self.seq_gaps.max(self.lost_records);
        self.stats.kernel_lost_bytes = self.lost_bytes;
    }

    fn losses(&self) -> vf::Losses {
        let mut notes = self.notes.clone();
        if self.seq_gaps > 0 || self.lost_records > 0 {
            notes.push(format!(
                "the kernel dropped records: {} missing sequence numbers; its LOST records report \
                 {} records ({} bytes) since the module was loaded. Drain faster or enlarge the \
                 module's buffer",
                self.seq_gaps, self.lost_records, self.lost_bytes
            ));
        }
        if self.unknown_task_flags != 0 {
            notes.push(format!(
                "task flag bits {:#x} from the module are unknown to this tool and were not stored \
                 (a newer module? upgrade vmon-capture)",
                self.unknown_task_flags
            ));
        }
        let mut unknown: Vec<_> = self.unknown_types.iter().collect();
        unknown.sort();
        for (t, n) in unknown {
            notes.push(format!(
                "{n} records of unknown type {t} skipped (a newer module? upgrade vmon-capture)"
            ));
        }
        vf::Losses {
            kernel_records: self.stats.kernel_lost,
            kernel_bytes: self.stats.kernel_lost_bytes,
            writer_records: self.stats.own_lost + self.unknown_types.values().sum::<u64>(),
            notes,
        }
    }

    fn process_index(&mut self, tgid: i32, start_ns: u64, info: ProcInfo) -> Result<Option<u32>> {
        // The kernel's own description, when complete, decides alone: the
        // same one as last time needs no /proc reading (which costs several
        // syscalls per process per event).
        let complete = info.chain.is_some()
            && info
                .maps
                .as_ref()
                .is_some_and(|l| !l.truncated && !l.items.is_empty());
        let kfp = complete.then(|| fingerprint(&(&info.maps, &info.chain)));
        if let (Some(kfp), Some(&(i, f))) = (kfp, self.kernel_seen.get(&(tgid, start_ns))) {
            if f == kfp {
                return Ok(Some(i));
            }
        }
        let info = self.enrich.process(tgid, start_ns, info);
        let fp = fingerprint(&(&info.maps, &info.chain));
        if let Some(&(i, f)) = self.processes.get(&(tgid, start_ns)) {
            // Same process and nothing new: reuse. New mappings (dlopen) or
            // a chain seen for the first time: write a newer version.
            if f == fp || (info.maps.is_none() && info.chain.is_none()) {
                if let Some(kfp) = kfp {
                    self.kernel_seen.insert((tgid, start_ns), (i, kfp));
                }
                return Ok(Some(i));
            }
        }
        if info.maps.is_none() && info.chain.is_none() {
            return Ok(None);
        }
        let Listing {
            items: maps,
            truncated: maps_trunc,
        } = info.maps.unwrap_or_default();
        let mut mappings = Vec::with_capacity(maps.len());
        let mut images = Vec::with_capacity(maps.len());
        for m in maps {
            // A file offset whose mapping would end past 2^64 is not a real
            // mapping (file offsets are below 2^63): keep it out of the file.
            if m.pgoff.checked_add(m.end.saturating_sub(m.start)).is_none() {
                self.own_loss(
                    0,
                    format!(
                        "a mapping of {} with file offset {:#x} was dropped: it would end past \
                         2^64 (corrupt MAPS record)",
                        m.path, m.pgoff
                    ),
                );
                continue;
            }
            let m = self.enrich.binary(tgid, m);
            images.push(MappedImage {
                start: m.start,
                end: m.end,
                file_offset: m.pgoff,
                image: self.enrich.image(tgid, &m),
            });
            mappings.push(vf::Mapping {
                start: m.start,
                end: m.end.max(m.start),
                offset: m.pgoff,
                path: self.w.intern_str(&m.path),
                build_id: m.build_id,
                dev: m.dev,
                ino: m.ino,
            });
        }
        for t in self.enrich.take_symbol_tables() {
            let symbols = t
                .symbols
                .into_iter()
                .map(|f| vf::FuncSymbol {
                    addr: f.addr,
                    size: f.size,
                    name: self.w.intern_str(&f.name),
                })
                .collect();
            let table = vf::SymbolTable {
                path: self.w.intern_str(&t.path),
                build_id: t.build_id,
                symbols,
            };
            self.w
                .add_symbol_table(&table)
                .context("writing a symbol table")?;
        }
        let Listing {
            items: chain,
            truncated: chain_trunc,
        } = info.chain.unwrap_or_default();
        let chain = chain
            .into_iter()
            .map(|a| vf::Ancestor {
                pid: a.pid,
                start_boottime_ns: a.start_ns,
                comm: self.w.intern_str(&a.comm),
                cmdline: a.args.iter().map(|s| self.w.intern_str(s)).collect(),
                cmdline_truncated: a.truncated,
            })
            .collect();
        let p = vf::Process {
            tgid,
            start_boottime_ns: start_ns,
            mappings,
            mappings_truncated: maps_trunc,
            chain,
            chain_truncated: chain_trunc,
        };
        let i = self.w.add_process(&p).context("writing a process")?;
        self.ustacks.add_process(i, &images);
        self.processes.insert((tgid, start_ns), (i, fp));
        if let Some(kfp) = kfp {
            self.kernel_seen.insert((tgid, start_ns), (i, kfp));
        }
        Ok(Some(i))
    }

    /// Writes the pending event; `end` is None when its EVENT_END never came.
    fn finish_event(&mut self, end: Option<records::EventEnd>) -> Result<()> {
        let Some(mut e) = self.event.take() else {
            return Ok(());
        };
        let watch = self.watch_index(&e.watch)?;
        let mut flags = 0;
        let (nr_candidates, collect_ns) = match end {
            Some(end) => {
                flags |= end.flags
                    & (VMON_EVENT_TASKS_TRUNC | VMON_EVENT_TIME_BUDGET | VMON_EVENT_DROPPED);
                (end.nr_candidates, end.duration_ns)
            }
            None => {
                flags |= vf::breach_flags::INCOMPLETE;
                (e.tasks.len() as u32, 0)
            }
        };
        if e.dropped {
            flags |= vf::breach_flags::DROPPED;
        }
        let breach = self
            .w
            .add_breach(&vf::Breach {
                event_id: e.event_id,
                time_ns: e.time_ns,
                watch,
                value: e.value,
                nr_candidates,
                collect_ns,
                flags,
            })
            .context("writing a breach")?;
        self.stats.breaches += 1;
        self.completed += 1;
        if self.verbose {
            eprintln!(
                "vmon-capture: breach of {} (value {}, threshold {}): {} tasks",
                e.watch.name,
                e.value,
                e.watch.threshold,
                e.tasks.len()
            );
        }

        // The process's own start time comes from its chain (entry 0 is the
        // process itself) or from its main thread's task record.
        let mut starts: HashMap<i32, u64> = HashMap::new();
        for t in &e.tasks {
            if t.fixed.pid == t.fixed.tgid {
                starts.insert(t.fixed.tgid, t.fixed.start_ns);
            }
        }
        for (tgid, p) in &e.procs {
            if let Some(a) = p.chain.as_ref().and_then(|c| c.items.first()) {
                if a.pid == *tgid {
                    starts.insert(*tgid, a.start_ns);
                }
            }
        }
        let mut tgids: Vec<i32> = e.tasks.iter().map(|t| t.fixed.tgid).collect();
        tgids.extend(e.procs.keys());
        tgids.sort_unstable();
        tgids.dedup();
        let mut proc_idx = HashMap::new();
        let mut infos = HashMap::new();
        for tgid in tgids {
            let info = e.procs.remove(&tgid).unwrap_or_default();
            let start = starts.get(&tgid).copied().unwrap_or(0);
            if let Some(i) = self.process_index(tgid, start, info.clone())? {
                proc_idx.insert(tgid, i);
                infos.insert(tgid, (start, info));
            }
        }

        let users: Vec<UserStack> = e
            .tasks
            .iter()
            .map(|t| {
                let f = &t.fixed;
                let regs = vmon_unwind::Regs {
                    ip: f.ip,
                    sp: f.sp,
                    bp: f.bp,
                };
                let process = proc_idx.get(&f.tgid).copied();
                self.ustacks.resolve(process, regs, &t.raw, &t.ustack)
            })
            .collect();
        self.add_jit_symbols(&e.tasks, &users, &mut proc_idx, infos)?;

        for (t, user) in e.tasks.into_iter().zip(users) {
            let kstack = self.intern_stack(&t.kstack);
            let f = &t.fixed;
            let process = proc_idx.get(&f.tgid).copied();
            let ustack = self.intern_stack(&user.frames);
            let raw_stack = if t.raw.is_empty() || !user.keep_raw {
                None
            } else {
                Some(
                    self.w
                        .add_raw_stack(&vf::RawStack {
                            sp: f.sp,
                            bytes: t.raw,
                        })
                        .context("writing a raw stack")?,
                )
            };
            let flags = self.task_flags(f.flags) | user.flags;
            let sample = vf::TaskSample {
                breach,
                pid: f.pid,
                tgid: f.tgid,
                comm: self.w.intern_str(&f.comm),
                state: match f.state {
                    VMON_STATE_RUNNING => vf::TaskState::Running,
                    VMON_STATE_UNINTERRUPTIBLE => vf::TaskState::Uninterruptible,
                    VMON_STATE_RTLOCK => vf::TaskState::RtLock,
                    _ => vf::TaskState::Other,
                },
                cpu: f.cpu,
                cgroup_id: f.cgroup_id,
                kstack,
                ustack,
                // sp and bp only serve unwinding a raw window: without one
                // stored they are 0, which saves about 7 bytes a sample.
                regs: match raw_stack {
                    Some(_) => vf::UserRegs {
                        ip: f.ip,
                        sp: f.sp,
                        bp: f.bp,
                    },
                    None => vf::UserRegs {
                        ip: f.ip,
                        sp: 0,
                        bp: 0,
                    },
                },
                raw_stack,
                process,
                flags,
            };
            self.w
                .add_sample(&sample)
                .context("writing a task sample")?;
            self.stats.samples += 1;
        }
        Ok(())
    }

    /// Names the JIT frames of this event's user stacks: for each process
    /// with frames outside its files that its perf map covers, a new
    /// version of the process with one more mapping, spanning those
    /// functions, and a symbol table of them (addresses relative to it).
    fn add_jit_symbols(
        &mut self,
        tasks: &[OwnedTask],
        users: &[UserStack],
        proc_idx: &mut HashMap<i32, u32>,
        mut infos: HashMap<i32, (u64, ProcInfo)>,
    ) -> Result<()> {
        let mut outside: HashMap<i32, Vec<u64>> = HashMap::new();
        for (t, u) in tasks.iter().zip(users) {
            let Some(&i) = proc_idx.get(&t.fixed.tgid) else {
                continue;
            };
            for (k, &a) in u.frames.iter().enumerate() {
                let a = vmon_unwind::lookup_address(k, a);
                if !self.ustacks.knows(i, a) {
                    outside.entry(t.fixed.tgid).or_default().push(a);
                }
            }
        }
        let mut tgids: Vec<i32> = outside.keys().copied().collect();
        tgids.sort_unstable();
        for tgid in tgids {
            let Some(map) = self.enrich.perf_map(tgid) else {
                continue;
            };
            let mut used: Vec<&crate::jit::JitSymbol> = outside[&tgid]
                .iter()
                .filter_map(|&a| map.lookup(a))
                .collect();
            used.sort_by_key(|s| s.start);
            used.dedup_by_key(|s| s.start);
            let (Some(first), Some(last)) = (used.first(), used.last()) else {
                continue;
            };
            let (lo, hi) = (first.start, last.start + last.size);
            let path = format!("[jit] /tmp/perf-{tgid}.map");
            let symbols = used
                .iter()
                .map(|s| vf::FuncSymbol {
                    addr: s.start - lo,
                    size: s.size,
                    name: self.w.intern_str(&s.name),
                })
                .collect();
            let table = vf::SymbolTable {
                path: self.w.intern_str(&path),
                build_id: Vec::new(),
                symbols,
            };
            self.w
                .add_symbol_table(&table)
                .context("writing a JIT symbol table")?;
            let Some((start, info)) = infos.remove(&tgid) else {
                continue;
            };
            // The files' mappings as written (the kernel's, or /proc's when
            // the kernel's list was cut), then the JIT functions.
            let mut info = self.enrich.process(tgid, start, info);
            let Some(Listing { items: maps, .. }) = info.maps.as_mut() else {
                continue;
            };
            maps.push(MapOwned {
                start: lo,
                end: hi,
                pgoff: 0,
                ino: 0,
                dev: 0,
                path,
                build_id: Vec::new(),
            });
            if let Some(i) = self.process_index(tgid, start, info)? {
                proc_idx.insert(tgid, i);
            }
        }
        Ok(())
    }

    /// The file's task flags for the kernel's: the two are separate
    /// definitions (SPEC.md §5.7, vmon.h), mapped bit by bit here.
    fn task_flags(&mut self, kernel: u32) -> u32 {
        const MAP: [(u32, u32); 8] = [
            (VMON_TASK_KSTACK_TRUNC, vf::task_flags::KSTACK_TRUNC),
            (VMON_TASK_USTACK_TRUNC, vf::task_flags::USTACK_TRUNC),
            (VMON_TASK_USTACK_FAULT, vf::task_flags::USTACK_FAULT),
            (VMON_TASK_RAW_TRUNC, vf::task_flags::RAW_TRUNC),
            (VMON_TASK_ON_CPU, vf::task_flags::ON_CPU),
            (VMON_TASK_KTHREAD, vf::task_flags::KTHREAD),
            (VMON_TASK_NO_UREGS, vf::task_flags::NO_UREGS),
            (VMON_TASK_USER_NOWAIT, vf::task_flags::USER_NOWAIT),
        ];
        let mut out = 0;
        let mut known = 0;
        for (k, f) in MAP {
            known |= k;
            if kernel & k != 0 {
                out |= f;
            }
        }
        // Not a file flag: the window was short by design, and the
        // USTACK_* bits say what the unwinding made of it.
        known |= VMON_TASK_RAW_TRIMMED;
        if kernel & VMON_TASK_RAW_TRIMMED != 0 {
            self.ustacks.stats.trimmed_windows += 1;
        }
        self.unknown_task_flags |= kernel & !known;
        out
    }

    /// Writes the kernel's code symbols, as `context::parse_kallsyms` read
    /// them (address, type, name, module).
    pub fn add_kernel_symbols(&mut self, syms: Vec<(u64, u8, &str, &str)>) -> Result<()> {
        for (addr, kind, name, module) in syms {
            // Stacks hold code addresses only.
            if !matches!(kind, b't' | b'T' | b'w' | b'W') {
                continue;
            }
            let name = self.w.intern_str(name);
            let module = self.w.intern_str(module);
            self.w
                .add_kernel_symbol(&vf::KernelSymbol {
                    addr,
                    kind,
                    name,
                    module,
                })
                .context("writing kernel symbols")?;
        }
        Ok(())
    }

    /// Writes everything buffered so that a crash after this loses nothing.
    pub fn flush(&mut self) -> Result<()> {
        let l = self.losses();
        if &l != self.w.losses() {
            self.w.set_losses(&l);
        }
        self.w.flush().context("flushing the capture")
    }

    /// Ends the capture: a pending event is written as incomplete, then the
    /// final metadata, losses, index and trailer.
    pub fn finish(mut self) -> Result<(W, Stats, vf::Losses)> {
        self.finish_event(None)?;
        self.update_losses();
        let l = self.losses();
        self.w.set_losses(&l);
        self.w
            .write_meta(&self.meta)
            .context("writing the final metadata")?;
        let out = self.w.finish().context("finishing the capture")?;
        Ok((out, self.stats, l))
    }

    /// Warnings of the enricher (files refused), each once.
    pub fn take_warnings(&mut self) -> Vec<String> {
        let mut v = self.enrich.take_warnings();
        v.sort();
        v.dedup();
        v
    }

    /// An event has begun whose EVENT_END has not been seen.
    pub fn in_event(&self) -> bool {
        self.event.is_some()
    }

    pub fn hello_seen(&self) -> bool {
        self.hello_seen
    }
}
