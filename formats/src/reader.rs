//! `.vmt` reader: memory-maps the file, finds chunks through the footer
//! index (or a linear scan when the file was not finished), and decodes
//! them into a validated [`Capture`].

use std::borrow::Cow;
use std::mem::MaybeUninit;
use std::path::Path;

use rayon::prelude::*;

use crate::chunk::*;
use crate::error::{Error, Result, Warning};
use crate::model::*;
use crate::samples::{
    decode_block, BlockStats, ChunkCursor, Limits, SampleBlock, SampleCtx, SampleReport, Scratch,
};
use crate::varint::{Cursor, DResult, DecodeError};

/// Where a chunk is and what its header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkInfo {
    /// Offset of the chunk header.
    pub offset: u64,
    pub header: ChunkHeader,
}

impl ChunkInfo {
    fn payload_range(&self) -> std::ops::Range<usize> {
        let start = self.offset as usize + CHUNK_HEADER_LEN;
        start..start + self.header.stored_len as usize
    }
}

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
            if c.header.ty == ChunkType::Samples as u16 {
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
                let cur = ChunkCursor::new(&p).map_err(|e| skipped(c, e))?;
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

fn skipped(c: &ChunkInfo, e: DecodeError) -> Warning {
    Warning {
        offset: c.offset,
        chunk_type: Some(c.header.ty),
        message: format!("skipped: {e}"),
    }
}

/// A SAMPLES chunk that failed after `cur.declared - cur.left` samples.
fn skipped_at(c: &ChunkInfo, cur: &ChunkCursor, e: DecodeError) -> Warning {
    let done = cur.declared - cur.left;
    if done == 0 {
        return skipped(c, e);
    }
    Warning {
        offset: c.offset,
        chunk_type: Some(c.header.ty),
        message: format!(
            "skipped after {done} of {} task samples: {e} (the {} after it are lost)",
            cur.declared, cur.left
        ),
    }
}

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

/// The chunk a [`SampleStream`] is in.
struct OpenChunk {
    info: ChunkInfo,
    cur: ChunkCursor,
    /// The payload is the stream's decompression buffer, not the file.
    decompressed: bool,
}

/// Task samples of a file, decoded block by block into one reused
/// [`SampleBlock`]: memory stays at one block plus one decompressed chunk.
/// Samples that fail validation are dropped and counted, damaged chunks
/// skipped with a warning; see [`SampleStream::report`].
///
/// ```no_run
/// # fn main() -> vmon_format::Result<()> {
/// let file = vmon_format::VmtFile::open("capture.vmt")?;
/// let tables = file.tables()?;
/// let mut stream = tables.samples();
/// let mut on_cpu = 0usize;
/// while let Some(block) = stream.next_block() {
///     on_cpu += block.cpu().iter().filter(|&&c| c >= 0).count();
/// }
/// for w in stream.report().warnings() {
///     eprintln!("warning: {w}");
/// }
/// # Ok(()) }
/// ```
pub struct SampleStream<'t> {
    data: &'t [u8],
    chunks: std::slice::Iter<'t, ChunkInfo>,
    ctx: SampleCtx<'t>,
    cur: Option<OpenChunk>,
    unpack: Unpacker,
    block: Box<SampleBlock>,
    scratch: Box<Scratch>,
    stats: BlockStats,
    report: SampleReport,
}

impl<'t> SampleStream<'t> {
    /// A stream over the SAMPLES chunks among `chunks`.
    fn new(data: &'t [u8], chunks: &'t [ChunkInfo], ctx: SampleCtx<'t>) -> Self {
        SampleStream {
            data,
            chunks: chunks.iter(),
            ctx,
            cur: None,
            unpack: Unpacker::default(),
            block: SampleBlock::new_boxed(),
            scratch: Scratch::new_boxed(),
            stats: BlockStats::default(),
            report: SampleReport::default(),
        }
    }

    /// The next block of valid samples (never empty), or `None` at the end.
    pub fn next_block(&mut self) -> Option<&SampleBlock> {
        loop {
            let Some(open) = &mut self.cur else {
                let c = *self.chunks.next()?;
                if c.header.ty != ChunkType::Samples as u16 {
                    continue;
                }
                match self.open(&c) {
                    Ok(open) => {
                        self.report.declared += open.cur.declared as u64;
                        self.cur = Some(open);
                    }
                    Err(w) => self.report.chunk_warnings.push(w),
                }
                continue;
            };
            if open.cur.left == 0 {
                self.cur = None;
                continue;
            }
            let p: &[u8] = if open.decompressed {
                &self.unpack.buf
            } else {
                self.data.get(open.info.payload_range()).unwrap_or(&[])
            };
            let res = decode_block(
                &mut open.cur,
                p,
                &self.ctx,
                &mut self.block,
                &mut self.scratch,
                &mut self.stats,
            );
            if let Err(e) = res {
                self.report
                    .chunk_warnings
                    .push(skipped_at(&open.info, &open.cur, e));
                self.cur = None;
                continue;
            }
            if !self.block.is_empty() {
                self.report.kept += self.block.len() as u64;
                return Some(&self.block);
            }
        }
    }

    /// What the stream delivered and stepped over so far; complete once
    /// [`SampleStream::next_block`] returned `None`.
    pub fn report(&self) -> SampleReport {
        let mut r = self.report.clone();
        r.add_stats(self.stats);
        r
    }

    /// CRC-checks and (when compressed) decompresses a chunk into the
    /// reused buffer, and parses its column table.
    fn open(&mut self, c: &ChunkInfo) -> std::result::Result<OpenChunk, Warning> {
        let stored = self.unpack.unpack(self.data, c)?;
        let p = stored.unwrap_or(&self.unpack.buf);
        let cur = ChunkCursor::new(p).map_err(|e| skipped(c, e))?;
        Ok(OpenChunk {
            info: *c,
            cur,
            decompressed: stored.is_none(),
        })
    }
}

/// A checked, decompressed SAMPLES payload and its column table.
type OpenResult<'d> = std::result::Result<(Cow<'d, [u8]>, ChunkCursor), Warning>;

fn first8(b: &[u8]) -> [u8; 8] {
    let mut m = [0u8; 8];
    for (d, s) in m.iter_mut().zip(b) {
        *d = *s;
    }
    m
}

fn chunk_warning(c: &ChunkInfo, message: String) -> Warning {
    Warning {
        offset: c.offset,
        chunk_type: Some(c.header.ty),
        message,
    }
}

/// The stored payload of `c`, CRC-checked.
fn checked_stored<'d>(data: &'d [u8], c: &ChunkInfo) -> std::result::Result<&'d [u8], Warning> {
    let stored = data
        .get(c.payload_range())
        .ok_or_else(|| chunk_warning(c, "payload runs past the end of the file".into()))?;
    if crc32c::crc32c(stored) != c.header.payload_crc {
        return Err(chunk_warning(
            c,
            format!(
                "payload CRC mismatch: {} bytes corrupt, chunk skipped",
                c.header.stored_len
            ),
        ));
    }
    Ok(stored)
}

/// Checks and decompresses chunk payloads, reusing one zstd context and
/// one buffer from chunk to chunk: one code path for every reader, and no
/// context allocation per chunk in files of many small chunks.
#[derive(Default)]
struct Unpacker {
    zctx: Option<zstd::bulk::Decompressor<'static>>,
    buf: Vec<u8>,
}

impl Unpacker {
    /// CRC-checks `c`: `Some(stored)` when its payload is the stored bytes,
    /// `None` when it was decompressed into `self.buf`.
    fn unpack<'d>(
        &mut self,
        data: &'d [u8],
        c: &ChunkInfo,
    ) -> std::result::Result<Option<&'d [u8]>, Warning> {
        let stored = checked_stored(data, c)?;
        match c.header.flags & COMPRESSION_MASK {
            COMPRESSION_NONE if c.header.raw_len == c.header.stored_len => Ok(Some(stored)),
            COMPRESSION_NONE => Err(chunk_warning(
                c,
                "uncompressed chunk with raw length != stored length".into(),
            )),
            COMPRESSION_ZSTD => {
                let z = match &mut self.zctx {
                    Some(z) => z,
                    None => self
                        .zctx
                        .insert(zstd::bulk::Decompressor::new().map_err(|e| {
                            chunk_warning(c, format!("zstd decompressor unavailable: {e}"))
                        })?),
                };
                zstd_exact(z, c, stored, &mut self.buf)?;
                Ok(None)
            }
            other => Err(chunk_warning(
                c,
                format!("unknown compression {other}: chunk skipped (written by a newer vmon?)"),
            )),
        }
    }

    /// The CRC-checked payload of `c`: borrowed from the file, or
    /// decompressed into the reused buffer.
    fn payload<'s, 'd: 's>(
        &'s mut self,
        data: &'d [u8],
        c: &ChunkInfo,
    ) -> std::result::Result<&'s [u8], Warning> {
        Ok(match self.unpack(data, c)? {
            Some(stored) => stored,
            None => &self.buf,
        })
    }

    /// [`Unpacker::payload`], owned when it had to be decompressed.
    fn payload_cow<'d>(
        &mut self,
        data: &'d [u8],
        c: &ChunkInfo,
    ) -> std::result::Result<Cow<'d, [u8]>, Warning> {
        Ok(match self.unpack(data, c)? {
            Some(stored) => Cow::Borrowed(stored),
            None => Cow::Owned(std::mem::take(&mut self.buf)),
        })
    }
}

/// Decompresses `stored` into `out`, which must come out exactly
/// `raw_len` bytes long. The one zstd path of both read paths: the
/// decompressor gets exactly `raw_len` bytes of room (not a reused
/// buffer's larger capacity), so a damaged frame fails the same way in
/// `decode()` and in a sample stream.
fn zstd_exact(
    z: &mut zstd::bulk::Decompressor<'_>,
    c: &ChunkInfo,
    stored: &[u8],
    out: &mut Vec<u8>,
) -> std::result::Result<(), Warning> {
    // raw_len is capped at MAX_PAYLOAD by the header parser.
    let raw_len = c.header.raw_len as usize;
    // One frame (SPEC §2.2): the bulk decompressor would also run a second
    // frame or skip trailing skippable frames, which the spec does not allow.
    match zstd::zstd_safe::find_frame_compressed_size(stored) {
        Ok(n) if n == stored.len() => {}
        Ok(n) => {
            return Err(chunk_warning(
                c,
                format!(
                    "zstd payload is not one frame: the first frame ends at byte {n} of {}",
                    stored.len()
                ),
            ))
        }
        Err(_) => {
            return Err(chunk_warning(
                c,
                "zstd payload does not start with a valid zstd frame".to_string(),
            ))
        }
    }
    out.clear();
    out.resize(raw_len, 0);
    let got = z
        .decompress_to_buffer(stored, out.as_mut_slice())
        .map_err(|e| chunk_warning(c, format!("zstd payload does not decompress: {e}")))?;
    if got != raw_len {
        out.truncate(got);
        return Err(chunk_warning(
            c,
            format!("zstd payload decompressed to {got} bytes, header says {raw_len}"),
        ));
    }
    Ok(())
}

/// Locates chunks through the footer; `Err` says why the footer is unusable.
fn read_index(data: &[u8]) -> std::result::Result<Vec<ChunkInfo>, String> {
    let len = data.len();
    if len < FILE_HEADER_LEN + CHUNK_HEADER_LEN + TRAILER_LEN {
        return Err("file too short for a footer".into());
    }
    let t = &data[len - TRAILER_LEN..];
    if t[8..] != TRAILER_MAGIC {
        return Err("no trailer magic at the end".into());
    }
    let mut off8 = [0u8; 8];
    off8.copy_from_slice(&t[..8]);
    let index_off = u64::from_le_bytes(off8);
    let end = (len - TRAILER_LEN) as u64;
    if index_off < FILE_HEADER_LEN as u64 || index_off.saturating_add(CHUNK_HEADER_LEN as u64) > end
    {
        return Err(format!(
            "trailer points to byte {index_off}, outside the file"
        ));
    }
    let hdr = ChunkHeader::parse(&data[index_off as usize..])
        .map_err(|e| format!("index at byte {index_off}: {e}"))?;
    let idx = ChunkInfo {
        offset: index_off,
        header: hdr,
    };
    if hdr.ty != ChunkType::Index as u16 || idx.payload_range().end as u64 != end {
        return Err(format!("no index chunk at byte {index_off}"));
    }
    if hdr.flags & COMPRESSION_MASK != COMPRESSION_NONE || hdr.raw_len != hdr.stored_len {
        return Err(format!(
            "index at byte {index_off} is compressed (never written so)"
        ));
    }
    let payload = checked_stored(data, &idx).map_err(|w| w.message)?;
    let mut c = Cursor::new(payload);
    let n = c.count(2, "index entries").map_err(|e| e.to_string())?;
    let mut chunks = Vec::with_capacity(n);
    let mut off = 0u64;
    let mut expect = FILE_HEADER_LEN as u64;
    for _ in 0..n {
        off = off
            .checked_add(c.u("index offset").map_err(|e| e.to_string())?)
            .ok_or("index offset overflows")?;
        let ty = c.u("index type").map_err(|e| e.to_string())?;
        // Chunks must tile the file from the header to the index.
        if off != expect || off + CHUNK_HEADER_LEN as u64 > index_off {
            return Err(format!(
                "index entry at byte {off} does not follow the previous chunk"
            ));
        }
        let h = ChunkHeader::parse(&data[off as usize..])
            .map_err(|e| format!("chunk at byte {off}: {e}"))?;
        if h.ty as u64 != ty {
            return Err(format!(
                "index says type {ty} at byte {off}, chunk says {}",
                h.ty
            ));
        }
        let info = ChunkInfo {
            offset: off,
            header: h,
        };
        expect = info.payload_range().end as u64;
        if expect > index_off {
            return Err(format!("chunk at byte {off} overlaps the index"));
        }
        chunks.push(info);
    }
    if expect != index_off {
        return Err(format!("bytes {expect}..{index_off} are not indexed"));
    }
    Ok(chunks)
}

/// Finds chunks by walking headers from the file header on; resynchronises
/// on the next valid chunk header after damage. Returns chunks and bytes lost.
fn scan(data: &[u8], warnings: &mut Vec<Warning>) -> (Vec<ChunkInfo>, u64) {
    let mut chunks = Vec::new();
    let mut lost = 0u64;
    let mut pos = FILE_HEADER_LEN;
    let len = data.len();
    while pos < len {
        match ChunkHeader::parse(&data[pos..]) {
            Ok(h) => {
                let info = ChunkInfo {
                    offset: pos as u64,
                    header: h,
                };
                let end = info.payload_range().end;
                if end > len {
                    let got = len - pos - CHUNK_HEADER_LEN;
                    let index = h.ty == ChunkType::Index as u16;
                    warnings.push(Warning {
                        offset: pos as u64,
                        chunk_type: Some(h.ty),
                        message: if index {
                            "file ends inside the footer index: no data lost".to_string()
                        } else {
                            format!(
                                "file ends inside this chunk ({got} of {} payload bytes): {} bytes lost",
                                h.stored_len,
                                len - pos
                            )
                        },
                    });
                    if !index {
                        lost += (len - pos) as u64;
                    }
                    break;
                }
                if h.ty == ChunkType::Index as u16 {
                    // The footer index is not data; what may follow it is
                    // (part of) the trailer.
                    if len - end <= TRAILER_LEN {
                        break;
                    }
                } else {
                    chunks.push(info);
                }
                pos = end;
            }
            Err(_)
                if len - pos < CHUNK_HEADER_LEN
                    && data[pos..].iter().zip(&CHUNK_MAGIC).all(|(a, b)| a == b) =>
            {
                warnings.push(Warning {
                    offset: pos as u64,
                    chunk_type: None,
                    message: format!("file ends inside a chunk header: {} bytes lost", len - pos),
                });
                lost += (len - pos) as u64;
                break;
            }
            Err(why) => {
                let next = find_next_header(data, pos + 1);
                let skipped = next.unwrap_or(len) - pos;
                warnings.push(Warning {
                    offset: pos as u64,
                    chunk_type: None,
                    message: format!(
                        "{why}: {skipped} bytes skipped{}",
                        match next {
                            Some(n) => format!(", resuming at the chunk at byte {n}"),
                            None => " to the end of the file".into(),
                        }
                    ),
                });
                lost += skipped as u64;
                match next {
                    Some(n) => pos = n,
                    None => break,
                }
            }
        }
    }
    (chunks, lost)
}

fn find_next_header(data: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i + 4 <= data.len() {
        let rel = data[i..].windows(4).position(|w| w == CHUNK_MAGIC)?;
        let at = i + rel;
        if ChunkHeader::parse(&data[at..]).is_ok() {
            return Some(at);
        }
        i = at + 1;
    }
    None
}

#[derive(Default)]
struct TableDecoder {
    cap: Capture,
    warnings: Vec<Warning>,
    /// Per-table "this table stopped at a gap" flags, to warn once.
    warned_unknown: Vec<u16>,
    /// Depth of each stack node, parallel to `cap.stacks` (SPEC §5.6 limit).
    stack_depth: Vec<u32>,
    /// Unknown chunk types: (type, chunks after the first, last offset).
    /// One warning per type, not one per chunk (a million empty chunks
    /// made a million warnings).
    unknown_more: Vec<(u16, u64, u64)>,
}

impl TableDecoder {
    fn gap(&mut self, c: &ChunkInfo, what: &str, first: u64, have: usize) -> DResult<bool> {
        if first == have as u64 {
            return Ok(true);
        }
        self.warnings.push(Warning {
            offset: c.offset,
            chunk_type: Some(c.header.ty),
            message: format!(
                "{what} chunk starts at id {first} but {have} are known (an earlier chunk was lost): skipped"
            ),
        });
        Ok(false)
    }

    /// Appends the records of an indexed table chunk: the index of its
    /// first record, which must continue the table (else the chunk is
    /// skipped, see `gap`), a count, then the records. Nothing is appended
    /// unless the whole chunk decodes.
    fn append_indexed<T>(
        &mut self,
        c: &ChunkInfo,
        r: &mut Cursor<'_>,
        table: IndexedTable<T>,
        mut decode: impl FnMut(&mut Cursor<'_>) -> DResult<T>,
    ) -> DResult<()> {
        let first = r.u("first record index")?;
        let n = r.count(table.min_record_len, "record count")?;
        let have = (table.get)(&mut self.cap).len();
        if !self.gap(c, table.chunk, first, have)? {
            return Ok(());
        }
        check_u32_len(have + n, table.chunk)?;
        // Straight into the table (no second copy; the caller undoes a
        // chunk that fails).
        let out = (table.get)(&mut self.cap);
        out.reserve(n);
        for _ in 0..n {
            out.push(decode(r)?);
        }
        Ok(())
    }

    fn table_chunk(&mut self, c: &ChunkInfo, p: &[u8]) -> DResult<()> {
        let mut r = Cursor::new(p);
        let Some(ty) = ChunkType::from_u16(c.header.ty) else {
            if let Some(m) = self.unknown_more.iter_mut().find(|m| m.0 == c.header.ty) {
                m.1 += 1;
                m.2 = c.offset;
                return Ok(());
            }
            self.unknown_more.push((c.header.ty, 0, c.offset));
            if !self.warned_unknown.contains(&c.header.ty) {
                self.warned_unknown.push(c.header.ty);
            }
            self.warnings.push(Warning {
                offset: c.offset,
                chunk_type: Some(c.header.ty),
                message: format!(
                    "unknown chunk type {} ({} bytes) skipped: written by a newer vmon?",
                    c.header.ty, c.header.stored_len
                ),
            });
            return Ok(());
        };
        match ty {
            ChunkType::Meta => self.cap.meta = decode_meta(&mut r)?,
            ChunkType::Strings => {
                let first = r.u("first string id")?;
                let n = r.count(1, "string count")?;
                if !self.gap(c, "STRINGS", first, self.cap.strings.len())? {
                    return Ok(());
                }
                let have = self.cap.strings.len();
                check_u32_len(have + n, "strings")?;
                // Straight into the table's one buffer (the payload bounds
                // its size).
                self.cap.strings.reserve(n, r.remaining());
                let mut bad = 0;
                // A payload that is all ASCII (short strings: their length
                // bytes are too) holds only valid UTF-8: one check for all.
                let ascii = p
                    .get(p.len() - r.remaining()..)
                    .is_some_and(<[u8]>::is_ascii);
                for _ in 0..n {
                    let b = r.bytes("string")?;
                    if ascii {
                        // SAFETY: `b` is part of an all-ASCII slice, and
                        // ASCII is valid UTF-8.
                        self.cap
                            .strings
                            .push(unsafe { std::str::from_utf8_unchecked(b) });
                    } else if let Ok(s) = std::str::from_utf8(b) {
                        self.cap.strings.push(s);
                    } else {
                        bad += 1;
                        self.cap.strings.push(&String::from_utf8_lossy(b));
                    }
                }
                if bad > 0 {
                    self.warnings.push(Warning {
                        offset: c.offset,
                        chunk_type: Some(c.header.ty),
                        message: format!(
                            "{bad} strings are not UTF-8; invalid bytes replaced by U+FFFD"
                        ),
                    });
                }
            }
            ChunkType::Stacks => {
                let first = r.u("first stack id")?;
                let n = r.count(2, "stack node count")?;
                let have = self.cap.stacks.frame.len();
                if !self.gap(c, "STACKS", first, have)? {
                    return Ok(());
                }
                check_u32_len(have + n + 1, "stack nodes")?;
                let st = &mut self.cap.stacks;
                st.parent.reserve(n);
                st.frame.reserve(n);
                // A chunk undone after an error leaves depths past the table.
                self.stack_depth.truncate(have);
                let from = st.frame.len();
                let res = decode_stack_nodes(&mut r, n, st);
                let depth = &mut self.stack_depth;
                for i in from..st.frame.len() {
                    let p = st.parent[i];
                    let d = if p == StackId::EMPTY {
                        1
                    } else {
                        depth.get(p.0 as usize).copied().unwrap_or(0) + 1
                    };
                    if d > MAX_STACK_DEPTH {
                        depth.truncate(from);
                        return Err(DecodeError::Range("stack depth", d as u64));
                    }
                    depth.push(d);
                }
                res?;
            }
            ChunkType::KernelSymbols => {
                let n = r.count(4, "kernel symbol count")?;
                let have = self.cap.kernel_symbols.len();
                check_u32_len(have + n, "kernel symbols")?;
                let ks = &mut self.cap.kernel_symbols;
                ks.reserve(n);
                decode_kernel_symbols(&mut r, n, ks)?;
            }
            ChunkType::Watches => {
                let t = IndexedTable::new("WATCHES", 9, |cap| &mut cap.watches);
                self.append_indexed(c, &mut r, t, decode_watch)?;
            }
            ChunkType::Breaches => {
                let t = IndexedTable::new("BREACHES", 7, |cap| &mut cap.breaches);
                let (mut ev, mut time) = (0u64, 0u64);
                self.append_indexed(c, &mut r, t, |r| {
                    ev = ev.wrapping_add(r.i("breach event id")? as u64);
                    time = time.wrapping_add(r.i("breach time")? as u64);
                    Ok(Breach {
                        event_id: ev,
                        time_ns: time,
                        watch: r.u32("breach watch")?,
                        value: r.i("breach value")?,
                        nr_candidates: r.u32("breach candidates")?,
                        collect_ns: r.u("breach collect_ns")?,
                        flags: r.u32("breach flags")?,
                    })
                })?;
            }
            ChunkType::Processes => {
                let t = IndexedTable::new("PROCESSES", 5, |cap| &mut cap.processes);
                self.append_indexed(c, &mut r, t, decode_process)?;
            }
            ChunkType::RawStacks => {
                let t = IndexedTable::new("RAW_STACKS", 2, |cap| &mut cap.raw_stacks);
                self.append_indexed(c, &mut r, t, |r| {
                    let sp = r.u("raw sp")?;
                    let bytes = r.bytes("raw stack bytes")?.to_vec();
                    Ok(RawStack { sp, bytes })
                })?;
            }
            ChunkType::SymbolTables => {
                let n = r.count(3, "symbol table count")?;
                for _ in 0..n {
                    let path = StrId(r.u32("symtab path")?);
                    let build_id = r.bytes("symtab build-id")?.to_vec();
                    let ns = r.count(3, "symbol count")?;
                    let mut symbols = Vec::with_capacity(ns);
                    let mut addr = 0u64;
                    for _ in 0..ns {
                        let d = r.u("symbol addr")?;
                        addr = addr
                            .checked_add(d)
                            .ok_or(DecodeError::Range("symbol addr", d))?;
                        symbols.push(FuncSymbol {
                            addr,
                            size: r.u("symbol size")?,
                            name: StrId(r.u32("symbol name")?),
                        });
                    }
                    self.cap.symbol_tables.push(SymbolTable {
                        path,
                        build_id,
                        symbols,
                    });
                }
            }
            ChunkType::Losses => {
                let kernel_records = r.u("lost kernel records")?;
                let kernel_bytes = r.u("lost kernel bytes")?;
                let writer_records = r.u("lost writer records")?;
                let n = r.count(1, "loss notes")?;
                let mut notes = Vec::with_capacity(n);
                for _ in 0..n {
                    notes.push(String::from_utf8_lossy(r.bytes("loss note")?).into_owned());
                }
                self.cap.losses = Losses {
                    kernel_records,
                    kernel_bytes,
                    writer_records,
                    notes,
                };
            }
            ChunkType::Samples | ChunkType::Index => {}
        }
        Ok(())
    }

    /// Makes every cross-reference of the tables valid: unknown strings
    /// become `""`; the breach table ends before the first breach whose
    /// watch is missing (so later breach indices keep their meaning).
    fn fix_references(&mut self) {
        let cap = &mut self.cap;
        if cap.strings.is_empty() {
            cap.strings.push("");
        } else if !cap.strings[0].is_empty() {
            self.warnings.push(Warning {
                offset: 0,
                chunk_type: Some(ChunkType::Strings as u16),
                message: "string 0 is not empty; replaced by \"\"".into(),
            });
            cap.strings.clear_one(0);
        }
        let ns = cap.strings.len() as u32;
        let mut bad = 0u64;
        let mut fix = |s: &mut StrId| {
            if s.0 >= ns {
                *s = StrId(0);
                bad += 1;
            }
        };
        for k in &mut cap.kernel_symbols {
            fix(&mut k.name);
            fix(&mut k.module);
        }
        for w in &mut cap.watches {
            fix(&mut w.name);
            if let WatchKind::Kernel { symbol } = &mut w.kind {
                fix(symbol);
            }
        }
        for p in &mut cap.processes {
            for m in &mut p.mappings {
                fix(&mut m.path);
            }
            for a in &mut p.chain {
                fix(&mut a.comm);
                a.cmdline.iter_mut().for_each(&mut fix);
            }
        }
        for t in &mut cap.symbol_tables {
            fix(&mut t.path);
            for s in &mut t.symbols {
                fix(&mut s.name);
            }
        }
        if bad > 0 {
            self.warnings.push(Warning {
                offset: 0,
                chunk_type: Some(ChunkType::Strings as u16),
                message: format!("{bad} references to strings the file does not hold; set to \"\""),
            });
        }
        let nw = cap.watches.len() as u32;
        if let Some(i) = cap.breaches.iter().position(|b| b.watch >= nw) {
            let dropped = cap.breaches.len() - i;
            cap.breaches.truncate(i);
            self.warnings.push(Warning {
                offset: 0,
                chunk_type: Some(ChunkType::Breaches as u16),
                message: format!(
                    "breach {i} refers to a watch the file does not hold: it and the {} breaches after it dropped",
                    dropped - 1
                ),
            });
        }
    }
}

/// Which table of the [`Capture`] an indexed chunk appends to.
struct IndexedTable<T> {
    chunk: &'static str,
    /// Smallest encoded record, to bound the count by the bytes left.
    min_record_len: usize,
    get: fn(&mut Capture) -> &mut Vec<T>,
}

impl<T> IndexedTable<T> {
    fn new(
        chunk: &'static str,
        min_record_len: usize,
        get: fn(&mut Capture) -> &mut Vec<T>,
    ) -> Self {
        IndexedTable {
            chunk,
            min_record_len,
            get,
        }
    }
}

/// How long every appendable table of a capture is, to undo a chunk.
struct TableLens {
    strings: usize,
    stacks: usize,
    kernel_symbols: usize,
    watches: usize,
    breaches: usize,
    processes: usize,
    raw_stacks: usize,
    symbol_tables: usize,
}

impl TableLens {
    fn of(cap: &Capture) -> Self {
        TableLens {
            strings: cap.strings.len(),
            stacks: cap.stacks.frame.len(),
            kernel_symbols: cap.kernel_symbols.len(),
            watches: cap.watches.len(),
            breaches: cap.breaches.len(),
            processes: cap.processes.len(),
            raw_stacks: cap.raw_stacks.len(),
            symbol_tables: cap.symbol_tables.len(),
        }
    }

    fn restore(&self, cap: &mut Capture) {
        cap.strings.truncate(self.strings);
        cap.stacks.parent.truncate(self.stacks);
        cap.stacks.frame.truncate(self.stacks);
        cap.kernel_symbols.truncate(self.kernel_symbols);
        cap.watches.truncate(self.watches);
        cap.breaches.truncate(self.breaches);
        cap.processes.truncate(self.processes);
        cap.raw_stacks.truncate(self.raw_stacks);
        cap.symbol_tables.truncate(self.symbol_tables);
    }
}

/// The deepest stack a file may hold (SPEC §5.6): the kernel records at
/// most 65,535 frames per stack (a u16 count). A deeper parent chain is
/// not a real capture, and walking it per sample would cost memory without
/// bound.
pub const MAX_STACK_DEPTH: u32 = 65_536;

/// Appends `n` STACKS nodes to `st` (which holds the nodes before them).
fn decode_stack_nodes(r: &mut Cursor<'_>, n: usize, st: &mut StackTable) -> DResult<()> {
    let have = st.frame.len();
    let mut prev = 0u64;
    for k in 0..n {
        let id = (have + k) as u64;
        let pd = r.u("stack parent")?;
        let parent = match pd {
            0 => StackId::EMPTY,
            d if d <= id => StackId((id - d) as u32),
            d => return Err(DecodeError::Range("stack parent delta", d)),
        };
        prev = prev.wrapping_add(r.i("stack frame")? as u64);
        st.parent.push(parent);
        st.frame.push(prev);
    }
    Ok(())
}

/// Appends `n` KSYMS entries to `out`.
fn decode_kernel_symbols(r: &mut Cursor<'_>, n: usize, out: &mut Vec<KernelSymbol>) -> DResult<()> {
    let mut addr = 0u64;
    for _ in 0..n {
        addr = addr.wrapping_add(r.i("ksym addr")? as u64);
        out.push(KernelSymbol {
            addr,
            kind: r.byte("ksym kind")?,
            name: StrId(r.u32("ksym name")?),
            module: StrId(r.u32("ksym module")?),
        });
    }
    Ok(())
}

fn check_u32_len(n: usize, what: &'static str) -> DResult<()> {
    if n >= u32::MAX as usize {
        return Err(DecodeError::Range(what, n as u64));
    }
    Ok(())
}

fn str_field(r: &mut Cursor<'_>, what: &'static str) -> DResult<String> {
    Ok(String::from_utf8_lossy(r.bytes(what)?).into_owned())
}

fn decode_meta(r: &mut Cursor<'_>) -> DResult<Meta> {
    let mut m = Meta {
        tool: str_field(r, "tool")?,
        kernel_release: str_field(r, "kernel release")?,
        kernel_build_id: r.bytes("kernel build-id")?.to_vec(),
        hostname: str_field(r, "hostname")?,
        boot_id: str_field(r, "boot id")?,
        ..Default::default()
    };
    m.clock = match r.u("clock")? {
        0 => Clock::Boottime,
        1 => Clock::Monotonic,
        2 => Clock::Realtime,
        v => return Err(DecodeError::Range("clock", v)),
    };
    m.realtime_offset_ns = r.i("realtime offset")?;
    m.start_ns = r.u("start")?;
    m.end_ns = r.u("end")?;
    let s = &mut m.module;
    s.abi_version = r.u32("abi version")?;
    s.record_version = r.u32("record version")?;
    s.def_interval_ns = r.u("default interval")?;
    s.min_interval_ns = r.u("min interval")?;
    s.dump_reset_sec = r.u32("dump reset")?;
    s.kstack_max = r.u32("kstack max")?;
    s.ustack_max = r.u32("ustack max")?;
    s.raw_stack_bytes = r.u32("raw stack bytes")?;
    s.buffer_bytes = r.u("buffer bytes")?;
    let n = r.count(2, "meta extra")?;
    for _ in 0..n {
        let k = str_field(r, "extra key")?;
        let v = str_field(r, "extra value")?;
        m.extra.push((k, v));
    }
    // A newer minor version may append fields here; they are ignored.
    Ok(m)
}

fn decode_watch(r: &mut Cursor<'_>) -> DResult<Watch> {
    let id = r.u("watch id")?;
    let owner_pid = r.i32("watch owner")?;
    let target_pid = r.i32("watch target")?;
    let name = StrId(r.u32("watch name")?);
    let addr = r.u("watch addr")?;
    let size = r.u("watch size")?;
    if !matches!(size, 1 | 2 | 4 | 8) {
        return Err(DecodeError::Range("watch size", size));
    }
    let flags = r.u("watch flags")?;
    let threshold = r.i("watch threshold")?;
    let interval_ns = r.u("watch interval")?;
    let kind = if flags & 4 != 0 {
        WatchKind::Kernel {
            symbol: StrId(r.u32("watch symbol")?),
        }
    } else {
        WatchKind::User
    };
    Ok(Watch {
        id,
        owner_pid,
        target_pid,
        name,
        addr,
        size: size as u8,
        signed: flags & 1 != 0,
        cmp: if flags & 2 != 0 {
            Comparison::Less
        } else {
            Comparison::Greater
        },
        threshold,
        interval_ns,
        kind,
    })
}

fn decode_process(r: &mut Cursor<'_>) -> DResult<Process> {
    let tgid = r.i32("process tgid")?;
    let start_boottime_ns = r.u("process start")?;
    let flags = r.u("process flags")?;
    let nm = r.count(7, "mapping count")?;
    let mut mappings = Vec::with_capacity(nm);
    for _ in 0..nm {
        let start = r.u("mapping start")?;
        let len = r.u("mapping length")?;
        let end = start
            .checked_add(len)
            .ok_or(DecodeError::Range("mapping end", len))?;
        mappings.push(Mapping {
            start,
            end,
            offset: r.u("mapping offset")?,
            path: StrId(r.u32("mapping path")?),
            build_id: r.bytes("mapping build-id")?.to_vec(),
            dev: r.u("mapping dev")?,
            ino: r.u("mapping ino")?,
        });
    }
    let na = r.count(5, "chain length")?;
    let mut chain = Vec::with_capacity(na);
    for _ in 0..na {
        let pid = r.i32("ancestor pid")?;
        let start = r.u("ancestor start")?;
        let comm = StrId(r.u32("ancestor comm")?);
        let trunc = r.u("ancestor truncated")? != 0;
        let nc = r.count(1, "cmdline length")?;
        let mut cmdline = Vec::with_capacity(nc);
        for _ in 0..nc {
            cmdline.push(StrId(r.u32("cmdline arg")?));
        }
        chain.push(Ancestor {
            pid,
            start_boottime_ns: start,
            comm,
            cmdline,
            cmdline_truncated: trunc,
        });
    }
    Ok(Process {
        tgid,
        start_boottime_ns,
        mappings,
        mappings_truncated: flags & 1 != 0,
        chain,
        chain_truncated: flags & 2 != 0,
    })
}
