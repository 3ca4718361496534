//! A mapped ELF file and the section data framehop reads from it.

use std::fs::File;
use std::ops::{Deref, Range};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use framehop::ModuleSectionInfo;
use memmap2::Mmap;
use object::{Object, ObjectSection, ObjectSegment};

/// An ELF file mapped read-only.
pub struct Image {
    path: PathBuf,
    data: Arc<Mmap>,
    roots: OnceLock<Vec<(u64, u64)>>,
}

/// Functions where a thread's stack begins: the C runtime's entry and the
/// thread-creation trampolines of glibc and musl, and the Go runtime's.
/// `__libc_start_call_main` counts: what lies above it is glibc's fixed
/// entry sequence.
const ROOT_FUNCTIONS: &[&str] = &[
    "_start",
    "__libc_start_main",
    "__libc_start_call_main",
    "start_thread",
    "clone",
    "__clone",
    "clone3",
    "__clone3",
    "__GI___clone",
    "__GI___clone3",
    "__clone_internal",
    "thread_start",
    "runtime.goexit",
    "runtime.goexit.abi0",
    "runtime.rt0_go",
    "runtime.rt0_go.abi0",
    "runtime.mstart",
    "runtime.mstart.abi0",
];

/// One loadable segment of an [`Image`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Where the segment's bytes start in the file.
    pub file_offset: u64,
    /// How many bytes of the file it maps.
    pub file_size: u64,
    /// Its ELF virtual address.
    pub vaddr: u64,
}

impl Image {
    /// Maps `path` if it is a regular file that parses as an object file.
    pub fn open(path: &Path) -> Option<Image> {
        let f = File::open(path).ok()?;
        if !f.metadata().ok()?.is_file() {
            return None;
        }
        // SAFETY: read-only private mapping; a file truncated under us can
        // SIGBUS, the same contract every unwinder and symbolizer has.
        let data = unsafe { Mmap::map(&f) }.ok()?;
        Image::from_map(path.to_path_buf(), Arc::new(data))
    }

    /// Wraps a mapping someone else made, if it parses as an object file.
    pub fn from_map(path: PathBuf, data: Arc<Mmap>) -> Option<Image> {
        object::File::parse(&**data).ok()?;
        Some(Image {
            path,
            data,
            roots: OnceLock::new(),
        })
    }

    /// The path it was opened at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    fn object(&self) -> Option<object::File<'_>> {
        object::File::parse(&**self.data).ok()
    }

    /// The GNU build-id, if the file has one.
    pub fn build_id(&self) -> Option<Vec<u8>> {
        self.object()?.build_id().ok().flatten().map(<[u8]>::to_vec)
    }

    /// Loadable segments that map file bytes.
    pub fn load_segments(&self) -> Vec<Segment> {
        self.object().map(|o| segments_of(&o)).unwrap_or_default()
    }

    /// ELF address ranges of the thread-root functions this file defines.
    pub(crate) fn root_ranges(&self) -> &[(u64, u64)] {
        self.roots.get_or_init(|| {
            use object::ObjectSymbol;
            let Some(o) = self.object() else {
                return Vec::new();
            };
            let mut v: Vec<(u64, u64)> = o
                .symbols()
                .chain(o.dynamic_symbols())
                .filter(|s| s.size() > 0 && s.name().is_ok_and(|n| ROOT_FUNCTIONS.contains(&n)))
                .filter_map(|s| Some((s.address(), s.address().checked_add(s.size())?)))
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        })
    }

    pub(crate) fn sections(&self) -> Sections<'_> {
        Sections { image: self }
    }
}

/// Converts a file offset inside an executable mapping to an ELF virtual
/// address. The kernel maps a segment from its offset rounded down to a
/// page, so the page holding a segment's first byte is often also the last
/// page of the segment before it (GNU ld and lld pack read-only data and
/// text that way): the later segment, the one whose mapping starts there,
/// is meant. Without a segment, vaddr == offset (GNU ld's layout).
pub fn offset_to_vaddr(segments: &[Segment], offset: u64) -> u64 {
    const PAGE: u64 = 4096;
    segments
        .iter()
        .filter(|s| {
            offset >= s.file_offset & !(PAGE - 1)
                && offset - s.file_offset.min(offset) < s.file_size
        })
        .max_by_key(|s| s.file_offset)
        .map(|s| offset.wrapping_sub(s.file_offset).wrapping_add(s.vaddr))
        .unwrap_or(offset)
}

/// The inverse of [`offset_to_vaddr`] for an address inside a segment.
pub fn vaddr_to_offset(segments: &[Segment], vaddr: u64) -> u64 {
    segments
        .iter()
        .find(|s| vaddr >= s.vaddr && vaddr - s.vaddr < s.file_size)
        .map_or(vaddr, |s| vaddr - s.vaddr + s.file_offset)
}

/// The loadable segments of a parsed object file that map file bytes.
pub fn segments_of(o: &object::File<'_>) -> Vec<Segment> {
    o.segments()
        .map(|s| {
            let (file_offset, file_size) = s.file_range();
            Segment {
                file_offset,
                file_size,
                vaddr: s.address(),
            }
        })
        .filter(|s| s.file_size > 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_segment_whose_mapping_starts_in_a_shared_page_wins() {
        // readelf -l of a Rust test binary: R at 0, R E at 0x46490 -> 0x47490.
        let segs = [
            Segment {
                file_offset: 0,
                file_size: 0x46484,
                vaddr: 0,
            },
            Segment {
                file_offset: 0x46490,
                file_size: 0xceeb0,
                vaddr: 0x47490,
            },
        ];
        // The r-xp mapping starts at file offset 0x46000.
        assert_eq!(offset_to_vaddr(&segs, 0x46000), 0x47000);
        assert_eq!(offset_to_vaddr(&segs, 0x46490), 0x47490);
        assert_eq!(offset_to_vaddr(&segs, 0x50000), 0x51000);
        assert_eq!(offset_to_vaddr(&segs, 0x1000), 0x1000);
        assert_eq!(vaddr_to_offset(&segs, 0x51000), 0x50000);
        assert_eq!(vaddr_to_offset(&segs, 0x10), 0x10);
        assert_eq!(vaddr_to_offset(&segs, 0x200_0000), 0x200_0000);
        assert_eq!(offset_to_vaddr(&[], 0x1234), 0x1234);
    }
}

/// Section bytes: borrowed from the file's mapping, or decompressed.
#[derive(Clone)]
pub enum SectionBytes {
    /// A range of the mapped file.
    Mapped(Arc<Mmap>, Range<usize>),
    /// A decompressed section.
    Owned(Arc<Vec<u8>>),
}

impl Deref for SectionBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            SectionBytes::Mapped(m, r) => m.get(r.clone()).unwrap_or(&[]),
            SectionBytes::Owned(v) => v,
        }
    }
}

pub(crate) struct Sections<'a> {
    image: &'a Image,
}

impl ModuleSectionInfo<SectionBytes> for Sections<'_> {
    fn base_svma(&self) -> u64 {
        0
    }

    fn section_svma_range(&mut self, name: &[u8]) -> Option<Range<u64>> {
        let o = self.image.object()?;
        let s = o.section_by_name_bytes(name)?;
        Some(s.address()..s.address().checked_add(s.size())?)
    }

    fn section_data(&mut self, name: &[u8]) -> Option<SectionBytes> {
        let o = self.image.object()?;
        let s = o.section_by_name_bytes(name)?;
        if s.kind() == object::SectionKind::UninitializedData {
            return None;
        }
        let comp = s.compressed_file_range().ok()?;
        if comp.format == object::CompressionFormat::None {
            let (off, size) = s.file_range()?;
            let r = usize::try_from(off).ok()?..usize::try_from(off.checked_add(size)?).ok()?;
            (r.end <= self.image.data.len() && !r.is_empty())
                .then(|| SectionBytes::Mapped(self.image.data.clone(), r))
        } else {
            let d = s.uncompressed_data().ok()?;
            (!d.is_empty()).then(|| SectionBytes::Owned(Arc::new(d.into_owned())))
        }
    }
}
