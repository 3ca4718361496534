//! `.vmt` reader: memory-maps the file, finds chunks through the footer
//! index (or a linear scan when the file was not finished), and decodes
//! them into a validated [`Capture`].

//!
//! The layers, each in its own file: [`crate::container`] (chunks, CRCs,
//! index and scan), [`crate::unpack`] (decompression), [`crate::tables`]
//! (table chunks into a validated [`Capture`], records through
//! [`crate::codec`]), [`crate::stream`] (task samples block by block).
//! Here: the file and its two read paths.

use std::borrow::Cow;
use std::mem::MaybeUninit;
use std::path::Path;

use rayon::prelude::*;

use crate::chunk::*;
use crate::container::{first8, read_index, scan, skipped, skipped_at, ChunkInfo};
use crate::error::{Error, Result, Warning};
use crate::model::*;
use crate::samples::{
    decode_block, BlockStats, ChunkCursor, Limits, SampleBlock, SampleCtx, SampleReport, Scratch,
};
use crate::stream::SampleStream;
use crate::tables::{TableDecoder, TableLens};
use crate::unpack::Unpacker;

enum Bytes<'a> {
    Map(memmap2::Mmap),
    Borrowed(&'a [u8]),
}

/// An opened `.vmt` file: header checked, chunks located.
pub struct VmtFile<'a> {
    bytes: Bytes<'a>,
    version: (u16, u16),
    chunks: Vec<ChunkInfo>,
    warnings: Vec<Warning>,
    bytes_lost: u64,
    finished: bool,
}

/// A decoded capture and what the decoder stepped over.
#[derive(Debug)]
pub struct Decoded {
    pub capture: Capture,
    /// Warnings of opening and decoding, in file order of discovery.
    pub warnings: Vec<Warning>,
}

impl VmtFile<'static> {
    /// Memory-maps and opens `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<VmtFile<'static>> {
        let path = path.as_ref();
        let open_err = |source| Error::Open {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(open_err)?;
        // SAFETY: the map is read-only and private to us; a concurrent writer
        // may append (which we never read past our length) or, worst case,
        // change bytes under us, which the CRCs and bounds checks catch like
        // any other corruption.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(open_err)?;
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Sequential);
        Self::from_backing(Bytes::Map(map))
    }
}

impl<'a> VmtFile<'a> {
    /// Opens a file already in memory.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<VmtFile<'a>> {
        Self::from_backing(Bytes::Borrowed(bytes))
    }

    fn from_backing(bytes: Bytes<'a>) -> Result<VmtFile<'a>> {
        let data: &[u8] = match &bytes {
            Bytes::Map(m) => m,
            Bytes::Borrowed(b) => b,
        };
        if data.len() < FILE_HEADER_LEN {
            if data.len() >= 8 && data[..8] != FILE_MAGIC {
                return Err(Error::BadMagic {
                    found: first8(data),
                });
            }
            return Err(Error::TooShort {
                len: data.len() as u64,
            });
        }
        if data[..8] != FILE_MAGIC {
            return Err(Error::BadMagic {
                found: first8(data),
            });
        }
        let major = u16::from_le_bytes([data[8], data[9]]);
        let minor = u16::from_le_bytes([data[10], data[11]]);
        if major == 0 {
            return Err(Error::ZeroMajor { minor });
        }
        if major > VERSION_MAJOR {
            return Err(Error::NewerMajor {
                major,
                minor,
                supported: VERSION_MAJOR,
            });
        }
        let mut warnings = Vec::new();
        if minor > VERSION_MINOR {
            warnings.push(Warning {
                offset: 10,
                chunk_type: None,
                message: format!(
                    "format version {major}.{minor} is newer than this reader's \
                     {VERSION_MAJOR}.{VERSION_MINOR}: reading what it knows; upgrade vmon for the rest"
                ),
            });
        }
        let (chunks, lost, finished) = match read_index(data) {
            Ok(c) => (c, 0, true),
            Err(why) => {
                warnings.push(Warning {
                    offset: data.len() as u64,
                    chunk_type: None,
                    message: format!(
                        "no valid footer index ({why}); the capture was not finished \
                         (killed or disk full?): scanning chunks linearly"
                    ),
                });
                let (c, lost) = scan(data, &mut warnings);
                (c, lost, false)
            }
        };
        Ok(VmtFile {
            bytes,
            version: (major, minor),
            chunks,
            warnings,
            bytes_lost: lost,
            finished,
        })
    }

    fn data(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Map(m) => m,
            Bytes::Borrowed(b) => b,
        }
    }

    /// `(major, minor)` format version of the file.
    pub fn version(&self) -> (u16, u16) {
        self.version
    }

    /// Chunks found, in file order (the index chunk excluded).
    pub fn chunks(&self) -> &[ChunkInfo] {
        &self.chunks
    }

    /// Damage found while opening: each names the byte offset and chunk type.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// Bytes that belong to no complete chunk (truncated tail, corrupt runs).
    pub fn bytes_lost(&self) -> u64 {
        self.bytes_lost
    }

    /// Whether the file ends with a valid footer index (the writer finished).
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Decodes the whole capture; what the decoder stepped over is appended
    /// to `capture.losses.notes` (prefixed `reader:`).
    pub fn decode(&self) -> Result<Capture> {
        let Decoded {
            mut capture,
            warnings,
        } = self.decode_with_warnings()?;
        for w in warnings {
            capture.losses.notes.push(format!("reader: {w}"));
        }
        Ok(capture)
    }

    /// Decodes and validates everything but the task samples; stream those
    /// with [`Tables::samples`]. The warnings so far (opening and tables)
    /// are in [`Tables::warnings`].
    pub fn tables(&self) -> Result<Tables<'_>> {
        let data = self.data();
        let mut d = TableDecoder {
            warnings: self.warnings.clone(),
            ..Default::default()
        };
        let mut sample_chunks = Vec::new();
        let mut unpack = Unpacker::default();
        for c in &self.chunks {
            if ChunkType::is_samples(c.header.ty) {
                sample_chunks.push(*c);
                continue;
            }
            let payload = match unpack.payload(data, c) {
                Ok(p) => p,
                Err(w) => {
                    d.warnings.push(w);
                    continue;
                }
            };
            let before = TableLens::of(&d.cap);
            if let Err(e) = d.table_chunk(c, payload) {
                // A chunk that does not parse adds none of its records.
                before.restore(&mut d.cap);
                d.warnings.push(skipped(c, e));
            }
        }
        for &(ty, more, last) in &d.unknown_more {
            if more > 0 {
                d.warnings.push(Warning {
                    offset: last,
                    chunk_type: Some(ty),
                    message: format!(
                        "{more} more chunks of unknown type {ty} skipped (the last one here)"
                    ),
                });
            }
        }
        d.fix_references();
        if self.bytes_lost > 0 {
            d.cap.losses.notes.push(format!(
                "reader: {} bytes of the file hold no complete chunk (truncated or corrupt)",
                self.bytes_lost
            ));
        }
        let limits = Limits::of(&d.cap);
        Ok(Tables {
            capture: d.cap,
            warnings: d.warnings,
            data,
            sample_chunks,
            limits,
        })
    }

    /// Streams the task samples of this file against `tables`: the capture
    /// [`VmtFile::tables`] decoded from it (kept, for instance, through
    /// [`Tables::into_parts`]). Every id a block holds is valid in `tables`.
    pub fn samples_for<'s>(&'s self, tables: &'s Capture) -> SampleStream<'s> {
        let ctx = SampleCtx {
            limits: Limits::of(tables),
            frames: &tables.stacks.frame,
        };
        SampleStream::new(self.data(), &self.chunks, ctx)
    }

    /// Decodes the whole capture; SAMPLES chunks decode in parallel on the
    /// current rayon pool. Every id in the result is valid.
    pub fn decode_with_warnings(&self) -> Result<Decoded> {
        let tables = self.tables()?;
        let data = tables.data;
        let ctx = tables.ctx();
        // Phase 1: check and decompress every SAMPLES chunk, and read its count.
        let opened: Vec<OpenResult<'_>> = tables
            .sample_chunks
            .par_iter()
            .map_init(Unpacker::default, |unpack, c| {
                let p = unpack.payload_cow(data, c)?;
                let cur = ChunkCursor::new(&p, c.header.ty).map_err(|e| skipped(c, e))?;
                Ok((p, cur))
            })
            .collect();
        let mut report = SampleReport::default();
        let mut total = 0usize;
        let mut ok = Vec::with_capacity(opened.len());
        for (c, r) in tables.sample_chunks.iter().zip(opened) {
            match r {
                Ok((p, cur)) => {
                    total += cur.declared;
                    ok.push((c, p, cur));
                }
                Err(w) => report.chunk_warnings.push(w),
            }
        }
        // Phase 2: decode into disjoint slices of one output vector, straight
        // into its spare capacity (filling it first would double the memory
        // traffic). Counts were checked against decompressed lengths, so
        // `total` is bounded by what is really there.
        let mut samples: Vec<TaskSample> = Vec::with_capacity(total);
        advise_huge_pages(&mut samples);
        let mut jobs = Vec::with_capacity(ok.len());
        let mut rest: &mut [MaybeUninit<TaskSample>] = &mut samples.spare_capacity_mut()[..total];
        for (c, p, cur) in ok {
            let (head, tail) = rest.split_at_mut(cur.declared);
            rest = tail;
            jobs.push((c, p, cur, head));
        }
        let results: Vec<(usize, usize, SampleReport)> = jobs
            .into_par_iter()
            .map_init(
                || (SampleBlock::new_boxed(), Scratch::new_boxed()),
                |(blk, sc), (c, p, mut cur, out)| {
                    let mut rep = SampleReport {
                        declared: cur.declared as u64,
                        ..Default::default()
                    };
                    let kept = decode_chunk_into(c, &p, &mut cur, &ctx, blk, sc, out, &mut rep);
                    rep.kept = kept as u64;
                    (kept, out.len(), rep)
                },
            )
            .collect();
        // SAFETY: `decode_chunk_into` initialises every slot of the slice it
        // is given, and the slices tile `0..total` of the spare capacity.
        unsafe { samples.set_len(total) };
        // Compact only when some chunk kept fewer samples than it declared.
        if results.iter().any(|r| r.0 != r.1) {
            let mut write = 0usize;
            let mut read = 0usize;
            for &(kept, n, _) in &results {
                for i in 0..kept {
                    samples.swap(write, read + i);
                    write += 1;
                }
                read += n;
            }
            samples.truncate(write);
        }
        for (_, _, r) in results {
            report.merge(r);
        }
        // File order, as a stream reports them.
        report.chunk_warnings.sort_by_key(|w| w.offset);
        let Tables {
            mut capture,
            mut warnings,
            ..
        } = tables;
        warnings.extend(report.warnings());
        capture.samples = samples;
        Ok(Decoded { capture, warnings })
    }
}

/// Decodes the rest of a chunk into `out` (exactly its declared length):
/// kept samples first, then filler, so that every slot is initialised.
/// Returns how many were kept; damage goes to `rep`.
#[allow(clippy::too_many_arguments)]
fn decode_chunk_into(
    c: &ChunkInfo,
    p: &[u8],
    cur: &mut ChunkCursor,
    ctx: &SampleCtx<'_>,
    blk: &mut SampleBlock,
    sc: &mut Scratch,
    out: &mut [MaybeUninit<TaskSample>],
    rep: &mut SampleReport,
) -> usize {
    let mut kept = 0usize;
    let mut st = BlockStats::default();
    while cur.left > 0 {
        if let Err(e) = decode_block(cur, p, ctx, blk, sc, &mut st) {
            rep.chunk_warnings.push(skipped_at(c, cur, e));
            break;
        }
        let dst = out.get_mut(kept..).unwrap_or(&mut []);
        for (slot, s) in dst.iter_mut().zip(blk.iter()) {
            slot.write(s);
        }
        kept += blk.len();
    }
    rep.add_stats(st);
    for slot in out.get_mut(kept..).unwrap_or(&mut []) {
        slot.write(FILLER);
    }
    kept
}

/// Asks for transparent huge pages under the spare capacity of `v`, about
/// to be written once: a fresh 4 KiB page costs a fault each (about half
/// the time of materialising samples), a 2 MiB page one fault per 512.
#[cfg(target_os = "linux")]
fn advise_huge_pages<T>(v: &mut Vec<T>) {
    const HUGE: usize = 2 << 20;
    let bytes = v.capacity() * std::mem::size_of::<T>();
    if bytes < 2 * HUGE {
        return;
    }
    let start = v.as_mut_ptr() as usize;
    let page = 4096;
    let aligned = (start + page - 1) & !(page - 1);
    let len = (start + bytes).saturating_sub(aligned) & !(page - 1);
    // SAFETY: the range lies inside the vector's allocation, which we own;
    // MADV_HUGEPAGE only changes how its pages are backed, never their
    // contents. Failure (no THP, not an mmap) is harmless: ignored.
    unsafe {
        libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages<T>(_v: &mut Vec<T>) {}

/// What fills the slots of dropped samples until they are compacted away.
const FILLER: TaskSample = TaskSample {
    breach: 0,
    pid: 0,
    tgid: 0,
    comm: StrId(0),
    state: TaskState::Other,
    cpu: 0,
    cgroup_id: 0,
    kstack: StackId::EMPTY,
    ustack: StackId::EMPTY,
    regs: UserRegs {
        ip: 0,
        sp: 0,
        bp: 0,
    },
    raw_stack: None,
    process: None,
    flags: 0,
};

/// Everything of a capture but its task samples, decoded and validated (see
/// [`VmtFile::tables`]), and the source of the samples: stream them block by
/// block with [`Tables::samples`], without materialising them.
pub struct Tables<'f> {
    capture: Capture,
    warnings: Vec<Warning>,
    data: &'f [u8],
    sample_chunks: Vec<ChunkInfo>,
    limits: Limits,
}

impl<'f> Tables<'f> {
    /// The capture without its samples (`capture().samples` is empty).
    pub fn capture(&self) -> &Capture {
        &self.capture
    }

    /// Warnings of opening the file and decoding its tables.
    pub fn warnings(&self) -> &[Warning] {
        &self.warnings
    }

    /// The SAMPLES chunks, in file order.
    pub fn sample_chunks(&self) -> &[ChunkInfo] {
        &self.sample_chunks
    }

    /// Streams the task samples of every SAMPLES chunk, in file order.
    pub fn samples(&self) -> SampleStream<'_> {
        self.samples_of(0..self.sample_chunks.len())
    }

    /// Streams the task samples of `sample_chunks()[range]` (clamped), so
    /// that consumers can split the chunks between threads.
    pub fn samples_of(&self, range: std::ops::Range<usize>) -> SampleStream<'_> {
        let n = self.sample_chunks.len();
        let range = range.start.min(n)..range.end.min(n).max(range.start.min(n));
        SampleStream::new(self.data, &self.sample_chunks[range], self.ctx())
    }

    /// The capture without samples and the warnings so far.
    pub fn into_parts(self) -> (Capture, Vec<Warning>) {
        (self.capture, self.warnings)
    }

    fn ctx(&self) -> SampleCtx<'_> {
        SampleCtx {
            limits: self.limits,
            frames: &self.capture.stacks.frame,
        }
    }
}

/// A checked, decompressed SAMPLES payload and its column table.
type OpenResult<'d> = std::result::Result<(Cow<'d, [u8]>, ChunkCursor), Warning>;
