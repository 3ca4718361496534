//! Offline unwinding of captured raw user stacks with the binaries' CFI
//! (`.eh_frame`, `.debug_frame`) through framehop, which itself falls back to
//! the frame-pointer chain where a module has no unwind information.
//!
//! One [`ProcessUnwinder`] per process (modules at that process's addresses),
//! shared read-only between rayon workers; each worker brings its own
//! [`Cache`].

use std::ops::{Deref, Range};
use std::sync::Arc;

use framehop::x86_64::{CacheX86_64, UnwindRegsX86_64, UnwinderX86_64};
use framehop::{FrameAddress, Module, ModuleSectionInfo, Unwinder};
use memmap2::Mmap;
use object::{Object, ObjectSection};
use vmon_format::{RawStack, UserRegs};

use crate::symbolize::elf::{offset_to_svma, ElfFile};

/// Section bytes: borrowed from the file's mapping, or decompressed.
#[derive(Clone)]
pub enum Bytes {
    Mapped(Arc<Mmap>, Range<usize>),
    Owned(Arc<Vec<u8>>),
}

impl Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m, r) => m.get(r.clone()).unwrap_or(&[]),
            Bytes::Owned(v) => v,
        }
    }
}

pub type Cache = CacheX86_64;

struct Sections<'a> {
    file: &'a ElfFile,
}

impl ModuleSectionInfo<Bytes> for Sections<'_> {
    fn base_svma(&self) -> u64 {
        0
    }

    fn section_svma_range(&mut self, name: &[u8]) -> Option<Range<u64>> {
        let o = self.file.object()?;
        let s = o.section_by_name_bytes(name)?;
        Some(s.address()..s.address() + s.size())
    }

    fn section_data(&mut self, name: &[u8]) -> Option<Bytes> {
        let o = self.file.object()?;
        let s = o.section_by_name_bytes(name)?;
        if s.kind() == object::SectionKind::UninitializedData {
            return None;
        }
        let comp = s.compressed_file_range().ok()?;
        if comp.format == object::CompressionFormat::None {
            let (off, size) = s.file_range()?;
            let r = usize::try_from(off).ok()?..usize::try_from(off.checked_add(size)?).ok()?;
            (r.end <= self.file.data.len() && !r.is_empty())
                .then(|| Bytes::Mapped(self.file.data.clone(), r))
        } else {
            let d = s.uncompressed_data().ok()?;
            (!d.is_empty()).then(|| Bytes::Owned(Arc::new(d.into_owned())))
        }
    }
}

/// One mapping of a module in a process.
pub struct ModuleMapping<'a> {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
    pub file: &'a ElfFile,
}

pub struct ProcessUnwinder {
    unwinder: UnwinderX86_64<Bytes>,
    modules: usize,
}

/// Result of one unwind.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unwound {
    /// Lookup addresses, innermost first: the ip, then return addresses
    /// moved back into their call instructions.
    pub frames: Vec<u64>,
    /// The walk stopped at an error (stack bytes ran out, no rule) rather
    /// than at the stack's recognised end.
    pub truncated: bool,
}

pub const MAX_FRAMES: usize = 512;

impl ProcessUnwinder {
    /// `mappings` may hold several mappings of one file; they become one
    /// framehop module spanning them.
    pub fn new(mappings: &[ModuleMapping<'_>]) -> ProcessUnwinder {
        let mut unwinder = UnwinderX86_64::new();
        let mut by_file: Vec<(&ElfFile, u64, u64, u64)> = Vec::new(); // file, start, end, bias
        for m in mappings {
            if m.end <= m.start {
                continue;
            }
            let segs = m.file.load_segments();
            let bias = m.start.wrapping_sub(offset_to_svma(&segs, m.offset));
            match by_file.iter_mut().find(|e| std::ptr::eq(e.0, m.file)) {
                Some(e) => {
                    e.1 = e.1.min(m.start);
                    e.2 = e.2.max(m.end);
                }
                None => by_file.push((m.file, m.start, m.end, bias)),
            }
        }
        // framehop wants non-overlapping module ranges.
        by_file.sort_by_key(|e| e.1);
        let mut last_end = 0;
        let mut n = 0;
        for (file, start, end, bias) in by_file {
            if start < last_end {
                continue;
            }
            last_end = end;
            let name = file.path.display().to_string();
            unwinder.add_module(Module::new(name, start..end, bias, Sections { file }));
            n += 1;
        }
        ProcessUnwinder {
            unwinder,
            modules: n,
        }
    }

    pub fn modules(&self) -> usize {
        self.modules
    }

    pub fn unwind(&self, cache: &mut Cache, regs: UserRegs, stack: &RawStack) -> Unwound {
        let bytes = &stack.bytes;
        let base = stack.sp;
        let mut read = |addr: u64| -> Result<u64, ()> {
            let off = usize::try_from(addr.checked_sub(base).ok_or(())?).map_err(|_| ())?;
            let b = bytes.get(off..off.checked_add(8).ok_or(())?).ok_or(())?;
            Ok(u64::from_le_bytes(b.try_into().map_err(|_| ())?))
        };
        let mut it = self.unwinder.iter_frames(
            regs.ip,
            UnwindRegsX86_64::new(regs.ip, regs.sp, regs.bp),
            cache,
            &mut read,
        );
        let mut out = Unwound::default();
        loop {
            match it.next() {
                Ok(Some(f)) => {
                    out.frames.push(lookup(f));
                    if out.frames.len() >= MAX_FRAMES {
                        out.truncated = true;
                        break;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    out.truncated = true;
                    break;
                }
            }
        }
        out
    }
}

fn lookup(f: FrameAddress) -> u64 {
    f.address_for_lookup()
}
