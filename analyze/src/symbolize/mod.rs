//! Symbolization of unique addresses.
//!
//! Kernel addresses resolve against the capture's kallsyms snapshot. User
//! addresses arrive as (module, file offset) pairs; every unique pair is
//! looked up once, grouped by module and split into contiguous chunks that
//! rayon workers symbolize with their own addr2line context (contexts parse
//! DWARF lazily and are not `Sync`). Sorting the offsets keeps each worker
//! inside few compilation units.

pub mod debuginfod;
pub mod demangle;
pub mod elf;
pub mod kernel;

use crate::analysis::FxHashMap as HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;

use crate::analysis::{ModuleId, Modules, SymbolSource};
pub use demangle::demangle;
use elf::{offset_to_svma, ModuleFiles, Resolved};
pub use kernel::Kallsyms;

/// The module of user addresses in no known mapping (module 0 of an
/// [`crate::analysis::Analysis`]).
pub const UNKNOWN_MODULE: ModuleId = ModuleId(0);

/// A unique address to symbolize. Return addresses are already moved back
/// into the call instruction (`addr - 1`) by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AddrKey {
    /// An address in the kernel, with the index of its kallsyms table.
    Kernel { table: u32, addr: u64 },
    /// A file offset inside a user module.
    User { module: ModuleId, offset: u64 },
    /// A user address in no known mapping.
    Unknown { addr: u64 },
    /// Not an address: marks the outer end of a user stack known to be
    /// incomplete (named [`TRUNCATED_FRAME`]).
    Truncated,
}

/// Is this the pseudo-module vmon-capture writes for a process's JIT
/// functions (from its perf map)? It has no file to look for.
pub fn is_jit_module(path: &str) -> bool {
    path.starts_with("[jit] ")
}

/// The name of the frame that ends an incomplete user stack, like perf's
/// `[unknown]`, so that it is never merged with complete ones.
pub const TRUNCATED_FRAME: &str = "[truncated]";

/// One symbolized frame; an address gives one or more (inlined) frames.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SymFrame {
    /// Demangled name; shared between the frames of one worker that name
    /// the same function (100,000 addresses give ~450,000 frames but far
    /// fewer distinct names and files).
    pub name: Arc<str>,
    /// The module the frame belongs to (kernel modules get their own).
    pub module: ModuleId,
    pub file: Option<Arc<str>>,
    pub line: u32,
    pub inlined: bool,
    pub resolved: bool,
    pub kernel: bool,
}

/// A function symbol table taken from the capture (names still mangled).
#[derive(Clone, Debug, Default)]
pub struct EmbeddedSymbols {
    /// (addr, size, name) sorted by addr.
    pub symbols: Vec<(u64, u64, String)>,
    /// The file range the module's executable mappings cover, as
    /// (first offset, end offset), when the capture has mappings of it.
    pub mapped: Option<(u64, u64)>,
}

const PAGE: u64 = 0x1000;

impl EmbeddedSymbols {
    pub fn lookup(&self, svma: u64) -> Option<&str> {
        let i = self
            .symbols
            .partition_point(|s| s.0 <= svma)
            .checked_sub(1)?;
        let (addr, size, name) = self.symbols.get(i)?;
        (*size == 0 || svma - addr < *size).then_some(name.as_str())
    }

    /// What to add to a file offset to get the ELF address, inferred
    /// without the file: every function symbol lies in the executable
    /// mapping, and ELF keeps address and offset congruent modulo the page
    /// size, so the shift is a page multiple within
    /// `[last symbol end - mapped end, first symbol - mapped start]`.
    /// Linkers disagree on it (GNU ld's PIEs: 0; non-PIE: 0x400000; lld,
    /// e.g. Rust's static-pie: often 0x1000), and guessing wrong lands
    /// frames in the neighbouring function. `None` when nothing fits.
    pub fn offset_to_svma_shift(&self) -> Option<u64> {
        let (start, end) = self.mapped?;
        let first = self.symbols.iter().map(|s| s.0).min()?;
        let last = self.symbols.iter().map(|s| s.0.saturating_add(s.1)).max()?;
        let hi = first.checked_sub(start)?;
        let lo = last.saturating_sub(end);
        let fits = |d: u64| d >= lo && d <= hi;
        if fits(0) {
            return Some(0);
        }
        if fits(0x40_0000) {
            return Some(0x40_0000);
        }
        let c = lo.checked_next_multiple_of(PAGE)?;
        fits(c).then_some(c)
    }
}

#[derive(Clone, Debug, Default)]
pub struct SymbolizeOptions {
    pub debug_dirs: Vec<PathBuf>,
    /// Expand inlined frames (DWARF); off gives function names only.
    pub inlines: bool,
}

/// Symbolizes `addrs`; returns for each its frames, outermost first.
///
/// Kernel frames get the module of their kallsyms entry, added to
/// `modules` as met (the core kernel is `""`). `modules` gets its `source`
/// and `build_id_mismatch` filled for every user module that had
/// addresses. Warnings (one per module without symbols) go to `warnings`.
pub fn symbolize<S: std::hash::BuildHasher>(
    addrs: &[AddrKey],
    kallsyms: &[Kallsyms],
    modules: &mut Modules,
    files: &mut ModuleFiles,
    embedded: &std::collections::HashMap<ModuleId, EmbeddedSymbols, S>,
    opts: &SymbolizeOptions,
    warnings: &mut Vec<String>,
) -> Vec<Vec<SymFrame>> {
    symbolize_with(
        addrs,
        kallsyms,
        modules,
        files,
        embedded,
        opts,
        warnings,
        &crate::progress::NoProgress,
    )
}

/// [`symbolize`], with each address counted to `progress` once it is done
/// (the final count is `addrs.len()`).
#[allow(clippy::too_many_arguments)]
pub fn symbolize_with<S: std::hash::BuildHasher>(
    addrs: &[AddrKey],
    kallsyms: &[Kallsyms],
    modules: &mut Modules,
    files: &mut ModuleFiles,
    embedded: &std::collections::HashMap<ModuleId, EmbeddedSymbols, S>,
    opts: &SymbolizeOptions,
    warnings: &mut Vec<String>,
    progress: &dyn crate::progress::Progress,
) -> Vec<Vec<SymFrame>> {
    let mut out: Vec<Vec<SymFrame>> = vec![Vec::new(); addrs.len()];
    let mut by_module: HashMap<ModuleId, Vec<(u64, usize)>> = HashMap::default();
    let mut ticker = crate::progress::Ticker::new(progress);
    for (i, a) in addrs.iter().enumerate() {
        if !matches!(a, AddrKey::User { .. }) {
            ticker.tick();
        }
        match *a {
            AddrKey::Kernel { table, addr } => {
                let hit = kallsyms.get(table as usize).and_then(|t| t.lookup(addr));
                out[i] = vec![match hit {
                    Some((name, module, _)) => SymFrame {
                        name: name.into(),
                        module: modules.kernel(module),
                        file: None,
                        line: 0,
                        inlined: false,
                        resolved: true,
                        kernel: true,
                    },
                    None => SymFrame {
                        name: format!("[kernel]+0x{addr:x}").into(),
                        module: modules.kernel(""),
                        file: None,
                        line: 0,
                        inlined: false,
                        resolved: false,
                        kernel: true,
                    },
                }];
            }
            AddrKey::Unknown { addr } => {
                out[i] = vec![unresolved(UNKNOWN_MODULE, "[unknown]", addr)];
            }
            AddrKey::Truncated => {
                out[i] = vec![SymFrame {
                    name: TRUNCATED_FRAME.into(),
                    module: UNKNOWN_MODULE,
                    file: None,
                    line: 0,
                    inlined: false,
                    resolved: true,
                    kernel: false,
                }];
            }
            AddrKey::User { module, offset } => {
                by_module.entry(module).or_default().push((offset, i))
            }
        }
    }

    drop(ticker);
    // The files of every module with addresses (those unwinding needed
    // are resolved already).
    let mut mods: Vec<ModuleId> = by_module.keys().copied().collect();
    mods.sort();
    files.resolve(&mods, modules, &opts.debug_dirs);
    warnings.extend(files.take_notes());
    let none = Resolved::default();
    let resolved: Vec<(ModuleId, &Resolved)> = mods
        .iter()
        .map(|m| (*m, files.get(*m).unwrap_or(&none)))
        .collect();

    struct Job<'a> {
        module: ModuleId,
        name: String,
        file: Option<PathBuf>,
        dwarf: bool,
        segments: &'a [elf::Segment],
        embedded: Option<&'a EmbeddedSymbols>,
        addrs: &'a [(u64, usize)],
    }
    let mut segs: HashMap<ModuleId, Vec<elf::Segment>> = HashMap::default();
    for (m, r) in &resolved {
        let s = r
            .binary
            .as_ref()
            .or(r.symbols.as_ref())
            .map(|f| f.load_segments())
            .unwrap_or_default();
        segs.insert(*m, s);
        let Some(info) = modules.info_mut(*m) else {
            continue;
        };
        info.build_id_mismatch = r.build_id_mismatch;
        info.source = match (&r.symbols, r.symbols_have_dwarf) {
            (Some(f), true) => SymbolSource::Dwarf(f.path.display().to_string()),
            (Some(f), false) => SymbolSource::SymtabOnly(f.path.display().to_string()),
            (None, _) if embedded.contains_key(m) => SymbolSource::Embedded,
            (None, _) => SymbolSource::Missing,
        };
        let bid = if info.build_id.is_empty() {
            String::new()
        } else {
            format!(" (build-id {})", elf::hex(&info.build_id))
        };
        match (&info.source, r.build_id_mismatch) {
            (SymbolSource::Missing, true) => warnings.push(format!(
                "{}{bid}: the local file is a different build and no debug file matches; its frames stay {}+0xOFFSET (pass --debug-dir with the right binary or debug file)",
                info.path, info.name
            )),
            (SymbolSource::Missing, false) => warnings.push(format!(
                "{}{bid}: binary not found and no symbols in the capture; its frames stay {}+0xOFFSET (pass --debug-dir)",
                info.path, info.name
            )),
            (SymbolSource::Embedded, true) => warnings.push(format!(
                "{}{bid}: the local file is a different build; using the capture's symbol table (no inlines or lines)",
                info.path
            )),
            (SymbolSource::Embedded, false) if !is_jit_module(&info.path) => warnings.push(format!(
                "{}{bid}: binary not found; using the capture's symbol table (no inlines or lines; pass --debug-dir DIR holding the binary for them)",
                info.path
            )),
            _ => {}
        }
    }
    for v in by_module.values_mut() {
        v.sort_unstable();
    }
    let threads = rayon::current_num_threads().max(1);
    let mut jobs: Vec<Job<'_>> = Vec::new();
    for (m, r) in &resolved {
        let Some(list) = by_module.get(m) else {
            continue;
        };
        let info = &modules[m.idx()];
        let file = r.symbols.as_ref().map(|f| f.path.clone());
        // Small contiguous chunks of sorted offsets: idle workers steal
        // them, while rayon's halving hands each worker a run of adjacent
        // chunks, so workers parse mostly disjoint DWARF units.
        for part in list.chunks(CHUNK) {
            jobs.push(Job {
                module: *m,
                name: info.name.clone(),
                file: file.clone(),
                dwarf: r.symbols_have_dwarf,
                segments: segs.get(m).map(Vec::as_slice).unwrap_or(&[]),
                embedded: embedded.get(m),
                addrs: part,
            });
        }
    }
    // One addr2line context per module per worker thread, built on the
    // worker's first chunk of that module and kept for the rest (contexts
    // parse DWARF lazily and are not Sync). Each worker only ever locks
    // its own slot.
    let workers: Vec<std::sync::Mutex<Worker>> = (0..threads)
        .map(|_| std::sync::Mutex::new(Worker::default()))
        .collect();
    let inlines = opts.inlines;
    let results: Vec<Vec<(usize, Vec<SymFrame>)>> = jobs
        .par_iter()
        .map(|job| {
            let slot = rayon::current_thread_index().unwrap_or(0) % threads;
            let mut worker = workers[slot]
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let Worker {
                loaders,
                extents,
                strings,
            } = &mut *worker;
            let loader = loaders
                .entry(job.module)
                .or_insert_with(|| {
                    job.file
                        .as_ref()
                        .and_then(|p| addr2line::Loader::new(p).ok())
                })
                .as_ref();
            let done: Vec<(usize, Vec<SymFrame>)> = job
                .addrs
                .iter()
                .map(|&(offset, idx)| {
                    let svma = offset_to_svma(job.segments, offset);
                    let mut frames = Vec::new();
                    if let Some(l) = loader {
                        if job.dwarf {
                            dwarf_frames(l, svma, job.module, inlines, strings, &mut frames);
                        }
                        let mut covered = || {
                            job.file.as_deref().is_none_or(|p| {
                                extents
                                    .entry(job.module)
                                    .or_insert_with(|| SymbolExtents::of(p))
                                    .covers(svma)
                            })
                        };
                        if frames.is_empty() && covered() {
                            if let Some(sym) = l.find_symbol(svma) {
                                let loc = if job.dwarf {
                                    l.find_location(svma).ok().flatten()
                                } else {
                                    None
                                };
                                frames.push(SymFrame {
                                    name: strings.name(sym),
                                    module: job.module,
                                    file: loc
                                        .as_ref()
                                        .and_then(|l| l.file)
                                        .map(|f| strings.file(f)),
                                    line: loc.as_ref().and_then(|l| l.line).unwrap_or(0),
                                    inlined: false,
                                    resolved: true,
                                    kernel: false,
                                });
                            }
                        }
                    }
                    if frames.is_empty() {
                        if let Some(e) = job.embedded {
                            // Without the file there are no segments to
                            // turn the offset into an ELF address: infer
                            // the shift from where the symbols must lie in
                            // the mapped range; failing that, the offset is
                            // the address for PIEs linked by GNU ld and
                            // non-PIE executables load at 0x400000.
                            let hit = if job.segments.is_empty() {
                                match e.offset_to_svma_shift() {
                                    Some(d) => e.lookup(svma.wrapping_add(d)),
                                    None => e
                                        .lookup(svma)
                                        .or_else(|| e.lookup(svma.wrapping_add(0x40_0000))),
                                }
                            } else {
                                e.lookup(svma)
                            };
                            if let Some(n) = hit {
                                frames.push(SymFrame {
                                    name: strings.name(n),
                                    module: job.module,
                                    file: None,
                                    line: 0,
                                    inlined: false,
                                    resolved: true,
                                    kernel: false,
                                });
                            }
                        }
                    }
                    if frames.is_empty() {
                        frames.push(unresolved(job.module, &job.name, offset));
                    }
                    (idx, frames)
                })
                .collect();
            progress.inc(done.len() as u64);
            done
        })
        .collect();
    // The parsed DWARF is large; free it on all workers at once.
    workers.into_par_iter().for_each(drop);
    for r in results {
        for (idx, frames) in r {
            if let Some(slot) = out.get_mut(idx) {
                *slot = frames;
            }
        }
    }
    out
}

/// Addresses per parallel job.
const CHUNK: usize = 1024;

/// What one worker thread keeps across its jobs.
#[derive(Default)]
struct Worker {
    /// `None`: the module's file could not be loaded.
    loaders: HashMap<ModuleId, Option<addr2line::Loader>>,
    extents: HashMap<ModuleId, SymbolExtents>,
    strings: NameCache,
}

/// Where a file's function symbols end. addr2line's `find_symbol` returns
/// the nearest symbol before an address whatever its size, so an address in
/// a function without a symbol (a static function of a stripped library)
/// would take its neighbour's name.
#[derive(Default)]
struct SymbolExtents {
    /// (start, the largest end of the symbols starting at or before it).
    spans: Vec<(u64, u64)>,
}

impl SymbolExtents {
    fn of(path: &std::path::Path) -> SymbolExtents {
        use object::{Object, ObjectSymbol};
        let Some(f) = elf::ElfFile::open(path) else {
            return SymbolExtents::default();
        };
        let Some(o) = f.object() else {
            return SymbolExtents::default();
        };
        let mut v: Vec<(u64, u64)> = o
            .symbols()
            .chain(o.dynamic_symbols())
            .filter(|s| s.kind() == object::SymbolKind::Text && s.address() != 0)
            .map(|s| {
                // A symbol without a size reaches as far as the next one.
                let end = if s.size() == 0 {
                    u64::MAX
                } else {
                    s.address().saturating_add(s.size())
                };
                (s.address(), end)
            })
            .collect();
        v.sort_unstable();
        let mut max = 0;
        for e in &mut v {
            max = max.max(e.1);
            e.1 = max;
        }
        SymbolExtents { spans: v }
    }

    /// Does some function symbol cover `svma` (true when nothing is known)?
    fn covers(&self, svma: u64) -> bool {
        if self.spans.is_empty() {
            return true;
        }
        let i = self.spans.partition_point(|&(start, _)| start <= svma);
        i > 0 && svma < self.spans[i - 1].1
    }
}

/// Per-worker interning of demangled names and file paths: a hit costs a
/// hash lookup and a reference count, not an allocation (and later a free).
#[derive(Default)]
struct NameCache {
    /// Raw (mangled) name -> demangled.
    names: HashMap<Box<str>, Arc<str>>,
    files: HashMap<Box<str>, Arc<str>>,
}

impl NameCache {
    fn name(&mut self, raw: &str) -> Arc<str> {
        if let Some(d) = self.names.get(raw) {
            return d.clone();
        }
        let d: Arc<str> = demangle(raw).into();
        self.names.insert(raw.into(), d.clone());
        d
    }

    fn file(&mut self, path: &str) -> Arc<str> {
        if let Some(f) = self.files.get(path) {
            return f.clone();
        }
        let f: Arc<str> = path.into();
        self.files.insert(path.into(), f.clone());
        f
    }
}

fn unresolved(module: ModuleId, name: &str, offset: u64) -> SymFrame {
    SymFrame {
        name: format!("{name}+0x{offset:x}").into(),
        module,
        file: None,
        line: 0,
        inlined: false,
        resolved: false,
        kernel: false,
    }
}

/// DWARF frames for `svma`, outermost first, inlined ones flagged.
fn dwarf_frames(
    l: &addr2line::Loader,
    svma: u64,
    module: ModuleId,
    inlines: bool,
    strings: &mut NameCache,
    out: &mut Vec<SymFrame>,
) {
    let Ok(mut it) = l.find_frames(svma) else {
        return;
    };
    // Innermost first from addr2line.
    let mut inner_first: Vec<SymFrame> = Vec::new();
    while let Ok(Some(f)) = it.next() {
        let name = match f.function.as_ref().and_then(|n| n.raw_name().ok()) {
            Some(n) => strings.name(&n),
            None => match l.find_symbol(svma) {
                Some(s) if inner_first.is_empty() => strings.name(s),
                _ => continue,
            },
        };
        let loc = f.location.as_ref();
        inner_first.push(SymFrame {
            name,
            module,
            file: loc.and_then(|l| l.file).map(|f| strings.file(f)),
            line: loc.and_then(|l| l.line).unwrap_or(0),
            inlined: false,
            resolved: true,
            kernel: false,
        });
    }
    if inner_first.is_empty() {
        return;
    }
    if !inlines {
        // Names only: the real (outermost) function, at the innermost line.
        let (file, line) = (inner_first[0].file.clone(), inner_first[0].line);
        let mut outer = inner_first
            .pop()
            .unwrap_or_else(|| unresolved(module, "", svma));
        outer.file = file;
        outer.line = line;
        out.push(outer);
        return;
    }
    for (k, mut f) in inner_first.into_iter().rev().enumerate() {
        // Every frame but the outermost was inlined into its caller.
        f.inlined = k > 0;
        out.push(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::{ModuleInfo, ModuleKind};

    fn table(syms: &[(u64, u64, &str)], mapped: Option<(u64, u64)>) -> EmbeddedSymbols {
        EmbeddedSymbols {
            symbols: syms
                .iter()
                .map(|&(a, s, n)| (a, s, n.to_string()))
                .collect(),
            mapped,
        }
    }

    /// The layout of the statically linked (static-pie, lld) vmon-capture
    /// in samples/loadmon-6.1.vmt: text at file offset 0x92000 is at ELF
    /// address 0x93000, so reading offsets as addresses put its poll frame
    /// (offset 0x274270) into open64, one page below.
    fn static_pie() -> EmbeddedSymbols {
        table(
            &[
                (0x93cb0, 0x30, "deregister_tm_clones"),
                (0x274190, 0x128, "__libc_open64"),
                (0x274190, 0x128, "open64"),
                (0x275260, 0x9b, "__libc_poll"),
                (0x275260, 0x9b, "poll"),
                (0x2aa884, 0, "_init"),
                (0x2ab600, 0, "strcmp"),
            ],
            Some((0x92000, 0x92000 + 0x219000)),
        )
    }

    #[test]
    fn shift_is_inferred_from_the_mapping_when_the_file_is_missing() {
        assert_eq!(static_pie().offset_to_svma_shift(), Some(0x1000));
        // GNU ld PIE: offsets are addresses.
        let pie = table(
            &[(0x1040, 0x20, "main"), (0x1100, 0x10, "f")],
            Some((0x1000, 0x2000)),
        );
        assert_eq!(pie.offset_to_svma_shift(), Some(0));
        // Non-PIE executable at 0x400000.
        let exe = table(
            &[(0x401000, 0, "_init"), (0x47a218, 0, "_fini")],
            Some((0x1000, 0x7b000)),
        );
        assert_eq!(exe.offset_to_svma_shift(), Some(0x40_0000));
        // No mapping, or symbols that cannot fit the mapping: no guess.
        assert_eq!(
            table(&[(0x1040, 0x20, "main")], None).offset_to_svma_shift(),
            None
        );
        let bad = table(
            &[(0x1000, 0x10, "a"), (0x9000, 0x10, "b")],
            Some((0x1000, 0x2000)),
        );
        assert_eq!(bad.offset_to_svma_shift(), None);
    }

    #[test]
    fn static_pie_frame_symbolizes_as_poll_not_open64() {
        let m = ModuleId(1);
        let mut modules: Modules = [
            ModuleInfo {
                kind: ModuleKind::Unknown,
                path: "[unknown]".into(),
                name: "[unknown]".into(),
                build_id: Vec::new(),
                source: SymbolSource::NotNeeded,
                build_id_mismatch: false,
            },
            ModuleInfo {
                kind: ModuleKind::User,
                path: "/nonexistent/vmon-capture".into(),
                name: "vmon-capture".into(),
                build_id: vec![0xa7, 0x6c],
                source: SymbolSource::NotNeeded,
                build_id_mismatch: false,
            },
        ]
        .into_iter()
        .collect();
        let mut embedded = std::collections::HashMap::new();
        embedded.insert(m, static_pie());
        let mut warnings = Vec::new();
        let out = symbolize(
            &[
                AddrKey::User {
                    module: m,
                    offset: 0x274270,
                },
                AddrKey::User {
                    module: m,
                    offset: 0x273200,
                },
            ],
            &[],
            &mut modules,
            &mut ModuleFiles::default(),
            &embedded,
            &SymbolizeOptions::default(),
            &mut warnings,
        );
        assert_eq!(&*out[0][0].name, "poll");
        assert_eq!(&*out[1][0].name, "open64");
        assert!(out.iter().all(|f| f[0].resolved));
        assert_eq!(modules[1].source, SymbolSource::Embedded);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
    }
}
