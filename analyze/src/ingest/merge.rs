//! Stage 1: one input's tables merged into the analysis. Watches of several
//! inputs with the same name, comparison, threshold and kind become one;
//! breaches outside the time filter are dropped; each process's executable
//! mappings become a table on module ids; embedded symbol tables are kept
//! per module.

use vmon_format::{Capture, WatchKind};

use super::{Builder, Filters, LoadedInput};
use crate::analysis::{
    BreachId, BreachRow, ChainEntry, FxHashMap, InputId, InputInfo, ModuleId, ModuleKind,
    ProcessInfo, WatchId, WatchInfo,
};
use crate::symbolize::{EmbeddedSymbols, Kallsyms};

/// An executable mapping of a process, on a module id.
#[derive(Clone, Copy, Debug)]
pub(super) struct Mapping {
    /// The mapped address range.
    pub start: u64,
    pub end: u64,
    /// The file offset mapped at `start`.
    pub file_offset: u64,
    pub module: ModuleId,
}

/// A process's executable mappings, sorted by start.
#[derive(Clone, Debug, Default)]
pub(super) struct MapTable(Vec<Mapping>);

impl MapTable {
    /// The mapping that holds `addr`.
    pub fn find(&self, addr: u64) -> Option<&Mapping> {
        let i = self.0.partition_point(|m| m.start <= addr).checked_sub(1)?;
        self.0.get(i).filter(|m| addr < m.end)
    }

    /// Every mapping, by start.
    pub fn mappings(&self) -> &[Mapping] {
        &self.0
    }
}

/// What the sample passes need of one merged input.
pub(super) struct Merged {
    pub input: InputId,
    /// The index of the input's kallsyms table.
    pub ktable: u32,
    /// Per breach of the capture: its row, when the filters keep it.
    pub breaches: Vec<Option<BreachId>>,
    /// Per process of the capture: its mappings.
    pub maps: Vec<MapTable>,
}

/// Per module, the file range its executable mappings cover (for
/// symbolizing through an embedded table without the file).
#[derive(Default)]
pub(super) struct MappedRanges(FxHashMap<ModuleId, (u64, u64)>);

impl MappedRanges {
    fn add(&mut self, module: ModuleId, start: u64, end: u64) {
        let r = self.0.entry(module).or_insert((start, end));
        *r = (r.0.min(start), r.1.max(end));
    }

    /// Gives each embedded table the range of its module.
    pub fn attach(&self, embedded: &mut FxHashMap<ModuleId, EmbeddedSymbols>) {
        for (id, e) in embedded.iter_mut() {
            e.mapped = self.0.get(id).copied();
        }
    }
}

/// What identifies a watch across inputs: (name, comparison, threshold, kind).
/// What makes watches of several inputs one watch of the analysis.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct WatchKey {
    name: String,
    cmp: u8,
    threshold: i64,
    kind: String,
    trigger: vmon_format::WatchTrigger,
}

/// Merges input number `idx` into the analysis.
pub(super) fn merge(
    b: &mut Builder,
    mapped: &mut MappedRanges,
    idx: usize,
    input: &LoadedInput,
) -> Merged {
    let c = &input.capture;
    let iid = InputId(idx as u32);
    record_input(b, iid, input);
    let ktable = kernel_table(b, input);
    let watches = merge_watches(b, iid, c);
    let breaches = keep_breaches(b, iid, c, &watches);
    let maps = process_maps(b, mapped, input);
    embedded_tables(b, c);
    Merged {
        input: iid,
        ktable,
        breaches,
        maps,
    }
}

fn record_input(b: &mut Builder, _iid: InputId, input: &LoadedInput) {
    let c = &input.capture;
    let q = &mut b.an.quality;
    q.kernel_drops = q.kernel_drops.saturating_add(c.losses.kernel_records);
    q.writer_drops = q.writer_drops.saturating_add(c.losses.writer_records);
    for w in &input.warnings {
        b.an.warnings.push(format!("{}: {w}", input.path));
    }
    b.an.inputs.push(InputInfo {
        path: input.path.clone(),
        meta: c.meta.clone(),
        losses: c.losses.clone(),
        warnings: input.warnings.clone(),
        samples_total: c.samples.len() as u64,
        breaches_total: c.breaches.len() as u64,
    });
}

/// The input's kernel symbols: identical snapshots share one table.
fn kernel_table(b: &mut Builder, input: &LoadedInput) -> u32 {
    let ks = Kallsyms::from_capture(&input.capture);
    if ks.zeroed {
        b.an.warnings.push(format!(
            "{}: the kallsyms snapshot has only zero addresses (kptr_restrict); kernel frames stay unresolved (capture as root)",
            input.path
        ));
    }
    match b.kallsyms.iter().position(|k| *k == ks) {
        Some(i) => i as u32,
        None => {
            b.kallsyms.push(ks);
            b.kallsyms.len() as u32 - 1
        }
    }
}

/// Per watch of the capture: the merged watch, when the filters keep it.
fn merge_watches(b: &mut Builder, iid: InputId, c: &Capture) -> Vec<Option<WatchId>> {
    let f = &b.an.filters;
    let mut out = Vec::with_capacity(c.watches.len());
    for w in &c.watches {
        let name = c.str(w.name).to_string();
        if !f.watch.is_empty() && !f.watch.contains(&name) {
            out.push(None);
            continue;
        }
        let kind = match &w.kind {
            WatchKind::User => "user".to_string(),
            WatchKind::Kernel { symbol } => format!("kernel:{}", c.str(*symbol)),
        };
        let key = WatchKey {
            name: name.clone(),
            cmp: w.cmp as u8,
            threshold: w.threshold,
            kind: kind.clone(),
            trigger: w.trigger,
        };
        let (id, new) = b.watch_keys.insert(key);
        if new {
            b.an.watches.push(WatchInfo {
                name,
                cmp: w.cmp,
                threshold: w.threshold,
                kind,
                trigger: w.trigger,
                sources: Vec::new(),
            });
        }
        b.an.watches[id.idx()].sources.push((iid, w.id));
        out.push(Some(id));
    }
    out
}

/// Per breach of the capture: its row, when its watch is kept and the time
/// filter (seconds since the capture start) lets it through.
fn keep_breaches(
    b: &mut Builder,
    iid: InputId,
    c: &Capture,
    watches: &[Option<WatchId>],
) -> Vec<Option<BreachId>> {
    let mut out = Vec::with_capacity(c.breaches.len());
    for br in &c.breaches {
        // The time every output shows for the breach (view.rs).
        let rel = crate::view::since_start_ns(c.meta.start_ns, br.time_ns) as f64 / 1e9;
        let watch = watches.get(br.watch as usize).copied().flatten();
        match watch {
            Some(w) if in_time(&b.an.filters, rel) => {
                out.push(Some(BreachId(b.an.breaches.len() as u32)));
                b.an.breaches.push(BreachRow {
                    input: iid,
                    watch: w,
                    event_id: br.event_id,
                    time_ns: br.time_ns,
                    value: br.value,
                    nr_candidates: br.nr_candidates,
                    collect_ns: br.collect_ns,
                    flags: br.flags,
                    samples: 0,
                });
            }
            _ => out.push(None),
        }
    }
    out
}

fn in_time(f: &Filters, rel_s: f64) -> bool {
    f.from_s.is_none_or(|t| rel_s >= t) && f.to_s.is_none_or(|t| rel_s <= t)
}

/// Mapping tables on module ids, and the display chains, per process.
fn process_maps(b: &mut Builder, mapped: &mut MappedRanges, input: &LoadedInput) -> Vec<MapTable> {
    let c = &input.capture;
    let mut maps = Vec::with_capacity(c.processes.len());
    let mut pinfo = Vec::with_capacity(c.processes.len());
    let mut bad_maps = 0usize;
    for p in &c.processes {
        // A mapping whose file range would end past 2^64 is corrupt (file
        // offsets are below 2^63); dropping it here keeps
        // `a - start + offset` from overflowing when frames are placed.
        let sound = |m: &&vmon_format::Mapping| {
            m.end > m.start && m.offset.checked_add(m.end - m.start).is_some()
        };
        bad_maps += p
            .mappings
            .iter()
            .filter(|m| m.end > m.start && !sound(m))
            .count();
        let mut t: Vec<Mapping> = p
            .mappings
            .iter()
            .filter(sound)
            .map(|m| {
                let module =
                    b.an.modules
                        .intern(ModuleKind::User, c.str(m.path), &m.build_id);
                mapped.add(module, m.offset, m.offset.saturating_add(m.end - m.start));
                Mapping {
                    start: m.start,
                    end: m.end,
                    file_offset: m.offset,
                    module,
                }
            })
            .collect();
        t.sort_by_key(|m| m.start);
        maps.push(MapTable(t));
        pinfo.push(ProcessInfo {
            tgid: p.tgid,
            chain: p
                .chain
                .iter()
                .map(|a| {
                    let args: Vec<&str> = a.cmdline.iter().map(|s| c.str(*s)).collect();
                    let mut cmdline = args.join(" ");
                    if a.cmdline_truncated {
                        cmdline.push_str(" ...");
                    }
                    ChainEntry {
                        pid: a.pid,
                        comm: c.str(a.comm).to_string(),
                        cmdline,
                    }
                })
                .collect(),
            chain_truncated: p.chain_truncated,
        });
    }
    b.an.processes.push(pinfo);
    if bad_maps > 0 {
        b.an.warnings.push(format!(
            "{}: {bad_maps} mappings ignored: their file offset would put their end past 2^64 \
             (corrupt capture); frames in them stay unresolved",
            input.path
        ));
    }
    maps
}

/// The symbol tables the capture embeds, the first one per module kept.
fn embedded_tables(b: &mut Builder, c: &Capture) {
    for st in &c.symbol_tables {
        let id =
            b.an.modules
                .intern(ModuleKind::User, c.str(st.path), &st.build_id);
        b.embedded.entry(id).or_insert_with(|| {
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
}
