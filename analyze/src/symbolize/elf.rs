//! Finding the files that describe a user module: the local binary (if its
//! build-id matches), separate debug files by build-id or `.gnu_debuglink`,
//! and mapping file offsets to ELF virtual addresses.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use memmap2::Mmap;
use object::{Object, ObjectSection};
pub use vmon_unwind::{offset_to_vaddr as offset_to_svma, segments_of, Segment};

/// A mapped ELF file.
pub struct ElfFile {
    pub path: PathBuf,
    pub data: Arc<Mmap>,
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
        object::File::parse(&*data).ok()?;
        Some(ElfFile {
            path: path.to_path_buf(),
            data: Arc::new(data),
        })
    }

    pub fn object(&self) -> Option<object::File<'_>> {
        object::File::parse(&**self.data).ok()
    }

    pub fn build_id(&self) -> Option<Vec<u8>> {
        self.object()?.build_id().ok().flatten().map(<[u8]>::to_vec)
    }

    pub fn has_dwarf(&self) -> bool {
        let Some(o) = self.object() else { return false };
        o.section_by_name(".debug_info")
            .is_some_and(|s| s.size() > 0 && s.kind() != object::SectionKind::UninitializedData)
    }

    pub fn has_symbols(&self) -> bool {
        self.object()
            .is_some_and(|o| o.symbols().next().is_some() || o.dynamic_symbols().next().is_some())
    }

    fn debuglink(&self) -> Option<String> {
        let o = self.object()?;
        let (name, _crc) = o.gnu_debuglink().ok().flatten()?;
        Some(String::from_utf8_lossy(name).into_owned())
    }

    /// Loadable segments that map file bytes.
    pub fn load_segments(&self) -> Vec<Segment> {
        self.object().map(|o| segments_of(&o)).unwrap_or_default()
    }
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

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
    want.is_empty() || f.build_id().is_some_and(|b| b == want)
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
            r.symbols = ElfFile::open(&b.path);
        }
    }
    r
}
