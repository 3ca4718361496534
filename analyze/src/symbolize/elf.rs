//! Finding the files that describe a user module: the local binary (if its
//! build-id matches), separate debug files by build-id or `.gnu_debuglink`,
//! and mapping file offsets to ELF virtual addresses.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use object::{Object, ObjectSection};
pub use vmon_unwind::{offset_to_vaddr as offset_to_svma, segments_of, Segment};

/// A mapped ELF file, its header parsed once at open.
#[derive(Clone)]
pub struct ElfFile {
    /// Where it was found.
    pub path: PathBuf,
    /// Its bytes.
    pub data: Arc<Mmap>,
    facts: Arc<Facts>,
}

/// What the analyzer asks of an ELF file, read when it is opened.
struct Facts {
    build_id: Option<Vec<u8>>,
    has_dwarf: bool,
    has_symbols: bool,
    debuglink: Option<String>,
    segments: Vec<Segment>,
}

impl Facts {
    fn of(o: &object::File<'_>) -> Facts {
        Facts {
            build_id: o.build_id().ok().flatten().map(<[u8]>::to_vec),
            has_dwarf: o.section_by_name(".debug_info").is_some_and(|s| {
                s.size() > 0 && s.kind() != object::SectionKind::UninitializedData
            }),
            has_symbols: o.symbols().next().is_some() || o.dynamic_symbols().next().is_some(),
            debuglink: o
                .gnu_debuglink()
                .ok()
                .flatten()
                .map(|(name, _crc)| String::from_utf8_lossy(name).into_owned()),
            segments: segments_of(o),
        }
    }
}

impl ElfFile {
    pub fn open(path: &Path) -> Option<ElfFile> {
        let f = File::open(path).ok()?;
        if !f.metadata().ok()?.is_file() {
            return None;
        }
        // SAFETY: read-only private mapping; a file truncated under us can
        // SIGBUS, the same contract every symbolizer (addr2line, perf) has.
        let data = unsafe { Mmap::map(&f) }.ok()?;
        let facts = Facts::of(&object::File::parse(&*data).ok()?);
        Some(ElfFile {
            path: path.to_path_buf(),
            data: Arc::new(data),
            facts: Arc::new(facts),
        })
    }

    /// The file parsed (for what [`ElfFile`] does not keep: its symbols).
    pub fn object(&self) -> Option<object::File<'_>> {
        object::File::parse(&**self.data).ok()
    }

    /// Its GNU build-id.
    pub fn build_id(&self) -> Option<Vec<u8>> {
        self.facts.build_id.clone()
    }

    /// Whether it has DWARF (a non-empty `.debug_info`).
    pub fn has_dwarf(&self) -> bool {
        self.facts.has_dwarf
    }

    /// Whether it has a symbol table (static or dynamic).
    pub fn has_symbols(&self) -> bool {
        self.facts.has_symbols
    }

    fn debuglink(&self) -> Option<String> {
        self.facts.debuglink.clone()
    }

    /// Loadable segments that map file bytes.
    pub fn load_segments(&self) -> Vec<Segment> {
        self.facts.segments.clone()
    }
}

pub use crate::view::hex;

/// What was found for one module.
#[derive(Default)]
pub struct Resolved {
    /// The binary itself (matching build-id, or no build-id to compare).
    pub binary: Option<ElfFile>,
    /// The best file to symbolize with: DWARF if any, else symbols.
    pub symbols: Option<ElfFile>,
    pub symbols_have_dwarf: bool,
    pub build_id_mismatch: bool,
}

fn matches(f: &ElfFile, want: &[u8]) -> bool {
    want.is_empty() || f.facts.build_id.as_deref() == Some(want)
}

/// The files of every module resolved so far, each module once: unwinding
/// and symbolization ask here, so neither probes the disk (or a debuginfod
/// server) again.
#[derive(Default)]
pub struct ModuleFiles {
    found: crate::analysis::FxHashMap<crate::analysis::ModuleId, Resolved>,
    /// Where to fetch what is not found locally.
    debuginfod: Option<super::debuginfod::Shared>,
    /// Lines from the debuginfod client, in module order, not yet taken.
    notes: Vec<String>,
}

impl ModuleFiles {
    /// Files that also come from `client` when not found locally.
    pub fn with_debuginfod(client: Option<super::debuginfod::Shared>) -> ModuleFiles {
        ModuleFiles {
            debuginfod: client,
            ..Default::default()
        }
    }

    /// Resolves the modules of `ids` not resolved yet, in parallel (this
    /// reads the build-ids of candidate files). A JIT pseudo-module has no
    /// file to look for.
    pub fn resolve(
        &mut self,
        ids: &[crate::analysis::ModuleId],
        modules: &[crate::analysis::ModuleInfo],
        debug_dirs: &[PathBuf],
    ) {
        use rayon::prelude::*;
        let todo: Vec<_> = ids.iter().filter(|m| !self.found.contains_key(m)).collect();
        let client = self.debuginfod.as_deref();
        let found: Vec<_> = todo
            .par_iter()
            .map(|&&m| {
                let mut notes = Vec::new();
                let r = match modules.get(m.idx()) {
                    Some(info) if !super::is_jit_module(&info.path) => {
                        let mut r = resolve(&info.path, &info.build_id, debug_dirs);
                        if let Some(c) = client {
                            fetch_missing(&mut r, &info.build_id, c, &mut notes);
                        }
                        r
                    }
                    _ => Resolved::default(),
                };
                (m, r, notes)
            })
            .collect();
        for (m, r, notes) in found {
            self.found.insert(m, r);
            self.notes.extend(notes);
        }
    }

    /// What was found for `id`, once resolved.
    pub fn get(&self, id: crate::analysis::ModuleId) -> Option<&Resolved> {
        self.found.get(&id)
    }

    /// The debuginfod client's lines so far (each returned once).
    pub fn take_notes(&mut self) -> Vec<String> {
        std::mem::take(&mut self.notes)
    }
}

/// Completes `r` from debuginfod: the executable when no matching binary
/// was found, then the debug info when there is still no DWARF.
pub fn fetch_missing(
    r: &mut Resolved,
    build_id: &[u8],
    client: &super::debuginfod::Client,
    notes: &mut Vec<String>,
) {
    use super::debuginfod::Artifact;
    if build_id.is_empty() {
        return;
    }
    if r.binary.is_none() {
        // A miss here is said with the debug info's below.
        if let Ok(f) = client.fetch(build_id, Artifact::Executable, notes) {
            if (f.has_dwarf() || f.has_symbols()) && (r.symbols.is_none() || !r.symbols_have_dwarf)
            {
                r.symbols_have_dwarf = f.has_dwarf();
                r.symbols = Some(f.clone());
            }
            r.binary = Some(f);
            // The local file of another build no longer matters.
            r.build_id_mismatch = false;
        }
    }
    if r.symbols_have_dwarf {
        return;
    }
    match client.fetch(build_id, Artifact::Debuginfo, notes) {
        Ok(f) => {
            if f.has_dwarf() || r.symbols.is_none() {
                r.symbols_have_dwarf = f.has_dwarf();
                r.symbols = Some(f);
            }
        }
        Err(missing) if !missing.is_empty() => notes.push(format!(
            "debuginfod: no debug info for build-id {} at {}",
            hex(build_id),
            missing.join(", ")
        )),
        Err(_) => {}
    }
}

/// Resolves a module recorded at `path` with `build_id` (may be empty).
pub fn resolve(path: &str, build_id: &[u8], debug_dirs: &[PathBuf]) -> Resolved {
    let mut r = Resolved::default();
    let local = Path::new(path);
    if let Some(f) = ElfFile::open(local) {
        if matches(&f, build_id) {
            r.binary = Some(f);
        } else {
            r.build_id_mismatch = true;
        }
    }
    let base = local.file_name().map(|n| n.to_string_lossy().into_owned());
    // A copy of the binary in a --debug-dir (a sysroot-less "symbol store").
    if r.binary.is_none() {
        if let Some(base) = &base {
            for d in debug_dirs {
                if let Some(f) = ElfFile::open(&d.join(base)) {
                    if !build_id.is_empty() && matches(&f, build_id) {
                        r.binary = Some(f);
                        break;
                    }
                }
            }
        }
    }

    let mut candidates: Vec<PathBuf> = Vec::new();
    if build_id.len() >= 2 {
        let h = hex(build_id);
        let (a, b) = h.split_at(2);
        for d in debug_dirs
            .iter()
            .map(PathBuf::as_path)
            .chain([Path::new("/usr/lib/debug")])
        {
            candidates.push(d.join(".build-id").join(a).join(format!("{b}.debug")));
            candidates.push(d.join(".build-id").join(a).join(b));
        }
    }
    if let Some(link) = r.binary.as_ref().and_then(ElfFile::debuglink) {
        let dir = r
            .binary
            .as_ref()
            .and_then(|b| b.path.parent().map(Path::to_path_buf))
            .unwrap_or_default();
        candidates.push(dir.join(&link));
        candidates.push(dir.join(".debug").join(&link));
        let rel = dir.strip_prefix("/").unwrap_or(&dir);
        candidates.push(Path::new("/usr/lib/debug").join(rel).join(&link));
        for d in debug_dirs {
            candidates.push(d.join(&link));
            candidates.push(d.join(rel).join(&link));
        }
    }
    if let Some(base) = &base {
        for d in debug_dirs {
            candidates.push(d.join(format!("{base}.debug")));
        }
    }
    let want: Vec<u8> = if build_id.is_empty() {
        r.binary
            .as_ref()
            .and_then(ElfFile::build_id)
            .unwrap_or_default()
    } else {
        build_id.to_vec()
    };
    for c in candidates {
        if r.binary.as_ref().is_some_and(|b| b.path == c) {
            continue;
        }
        if let Some(f) = ElfFile::open(&c) {
            // An unverifiable debug file could describe another build.
            if !want.is_empty() && matches(&f, &want) && f.has_dwarf() {
                r.symbols = Some(f);
                r.symbols_have_dwarf = true;
                return r;
            }
        }
    }
    if let Some(b) = &r.binary {
        if b.has_dwarf() || b.has_symbols() {
            r.symbols_have_dwarf = b.has_dwarf();
            r.symbols = Some(b.clone());
        }
    }
    r
}
