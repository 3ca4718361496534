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
use crate::varint::{self, unzigzag, Cursor, DResult, DecodeError};
use crate::writer::SAMPLE_COLUMNS;

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
        if major > VERSION_MAJOR || major == 0 {
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

    /// Decodes the whole capture; SAMPLES chunks decode in parallel on the
    /// current rayon pool. Every id in the result is valid.
    pub fn decode_with_warnings(&self) -> Result<Decoded> {
        let data = self.data();
        let mut d = TableDecoder {
            warnings: self.warnings.clone(),
            ..Default::default()
        };
        if self.bytes_lost > 0 {
            d.lost_note = Some(self.bytes_lost);
        }
        let mut sample_chunks = Vec::new();
        for c in &self.chunks {
            if c.header.ty == ChunkType::Samples as u16 {
                sample_chunks.push(*c);
                continue;
            }
            let payload = match chunk_payload(data, c) {
                Ok(p) => p,
                Err(w) => {
                    d.warnings.push(w);
                    continue;
                }
            };
            if let Err(e) = d.table_chunk(c, &payload) {
                d.warnings.push(Warning {
                    offset: c.offset,
                    chunk_type: Some(c.header.ty),
                    message: format!("skipped: {e}"),
                });
            }
        }
        d.fix_references();
        let limits = Limits {
            strings: d.cap.strings.len() as u32,
            stacks: d.cap.stacks.frame.len() as u32,
            breaches: d.cap.breaches.len() as u32,
            raw: d.cap.raw_stacks.len() as u32,
            processes: d.cap.processes.len() as u32,
        };

        // Phase 1: check and decompress every SAMPLES chunk, and read its count.
        let payloads: Vec<PayloadResult<'_>> = sample_chunks
            .par_iter()
            .map(|c| {
                let p = chunk_payload(data, c)?;
                let n = Cursor::new(&p)
                    .count(SAMPLE_COLUMNS, "sample count")
                    .map_err(|e| Warning {
                        offset: c.offset,
                        chunk_type: Some(c.header.ty),
                        message: format!("skipped: {e}"),
                    })?;
                Ok((p, n))
            })
            .collect();
        let mut total = 0usize;
        let mut ok = Vec::with_capacity(payloads.len());
        for (c, r) in sample_chunks.iter().zip(payloads) {
            match r {
                Ok((p, n)) => {
                    total += n;
                    ok.push((c, p, n));
                }
                Err(w) => d.warnings.push(w),
            }
        }
        // Phase 2: decode into disjoint slices of one output vector. Counts
        // were checked against decompressed lengths, so `total` is bounded
        // by what is really there.
        let filler = TaskSample {
            breach: 0,
            pid: 0,
            tgid: 0,
            comm: StrId(0),
            state: TaskState::Other,
            cpu: 0,
            cgroup_id: 0,
            kstack: StackId::EMPTY,
            ustack: StackId::EMPTY,
            regs: UserRegs::default(),
            raw_stack: None,
            process: None,
            flags: 0,
        };
        // Decoded straight into the vector's spare capacity: the output is
        // written once (filling it first would double the memory traffic).
        let mut samples: Vec<TaskSample> = Vec::with_capacity(total);
        let mut jobs = Vec::with_capacity(ok.len());
        let mut rest: &mut [MaybeUninit<TaskSample>] = &mut samples.spare_capacity_mut()[..total];
        for (c, p, n) in ok {
            let (head, tail) = rest.split_at_mut(n);
            rest = tail;
            jobs.push((c, p, head));
        }
        let frames = &d.cap.stacks.frame;
        let results: Vec<(usize, SampleStats, Option<Warning>)> = jobs
            .into_par_iter()
            .map(|(c, p, out)| {
                let mut st = SampleStats::default();
                let res = decode_samples(&p, out, &limits, frames, &mut st, &filler);
                match res {
                    Ok(kept) => (kept, st, None),
                    Err(e) => (
                        0,
                        st,
                        Some(Warning {
                            offset: c.offset,
                            chunk_type: Some(c.header.ty),
                            message: format!("skipped: {e}"),
                        }),
                    ),
                }
            })
            .collect();
        // SAFETY: `decode_samples` initialises every slot of the slice it is
        // given, on success and on error alike, and the slices tile
        // `0..total` of the spare capacity.
        unsafe { samples.set_len(total) };
        // Compact only when some chunk kept fewer samples than it declared.
        let declared: Vec<usize> = results.iter().map(|r| r.1.declared).collect();
        let short = results.iter().zip(&declared).any(|(r, &n)| r.0 != n);
        let mut stats = SampleStats::default();
        for (_, st, w) in &results {
            stats.bad_refs += st.bad_refs;
            stats.bad_strings += st.bad_strings;
            if let Some(w) = w {
                d.warnings.push(w.clone());
            }
        }
        if short {
            let mut write = 0usize;
            let mut read = 0usize;
            for ((kept, _, _), &n) in results.iter().zip(&declared) {
                for i in 0..*kept {
                    samples.swap(write, read + i);
                    write += 1;
                }
                read += n;
            }
            samples.truncate(write);
        }
        if stats.bad_refs > 0 {
            d.warnings.push(Warning {
                offset: 0,
                chunk_type: Some(ChunkType::Samples as u16),
                message: format!(
                    "dropped {} task samples referring to breaches, stacks, processes or raw \
                     stacks the file does not hold (chunks lost to truncation or corruption)",
                    stats.bad_refs
                ),
            });
        }
        if stats.bad_strings > 0 {
            d.warnings.push(Warning {
                offset: 0,
                chunk_type: Some(ChunkType::Samples as u16),
                message: format!(
                    "{} task samples had an unknown comm string; set to \"\"",
                    stats.bad_strings
                ),
            });
        }
        d.cap.samples = samples;
        if let Some(lost) = d.lost_note {
            d.cap.losses.notes.push(format!(
                "reader: {lost} bytes of the file hold no complete chunk (truncated or corrupt)"
            ));
        }
        Ok(Decoded {
            capture: d.cap,
            warnings: d.warnings,
        })
    }
}

/// A checked, decompressed SAMPLES payload and its sample count.
type PayloadResult<'d> = std::result::Result<(Cow<'d, [u8]>, usize), Warning>;

fn first8(b: &[u8]) -> [u8; 8] {
    let mut m = [0u8; 8];
    for (d, s) in m.iter_mut().zip(b) {
        *d = *s;
    }
    m
}

/// The payload of `c`, CRC-checked and decompressed.
fn chunk_payload<'d>(data: &'d [u8], c: &ChunkInfo) -> std::result::Result<Cow<'d, [u8]>, Warning> {
    let warn = |message: String| Warning {
        offset: c.offset,
        chunk_type: Some(c.header.ty),
        message,
    };
    let stored = data
        .get(c.payload_range())
        .ok_or_else(|| warn("payload runs past the end of the file".into()))?;
    if crc32c::crc32c(stored) != c.header.payload_crc {
        return Err(warn(format!(
            "payload CRC mismatch: {} bytes corrupt, chunk skipped",
            c.header.stored_len
        )));
    }
    match c.header.flags & COMPRESSION_MASK {
        COMPRESSION_NONE => {
            if c.header.raw_len != c.header.stored_len {
                return Err(warn(
                    "uncompressed chunk with raw length != stored length".into(),
                ));
            }
            Ok(Cow::Borrowed(stored))
        }
        COMPRESSION_ZSTD => {
            // raw_len is capped at MAX_PAYLOAD by the header parser.
            let out = zstd::bulk::decompress(stored, c.header.raw_len as usize)
                .map_err(|e| warn(format!("zstd payload does not decompress: {e}")))?;
            if out.len() != c.header.raw_len as usize {
                return Err(warn(format!(
                    "zstd payload decompressed to {} bytes, header says {}",
                    out.len(),
                    c.header.raw_len
                )));
            }
            Ok(Cow::Owned(out))
        }
        other => Err(warn(format!(
            "unknown compression {other}: chunk skipped (written by a newer vmon?)"
        ))),
    }
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
    let payload = chunk_payload(data, &idx).map_err(|w| w.message)?;
    let mut c = Cursor::new(&payload);
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

#[derive(Clone, Copy)]
struct Limits {
    strings: u32,
    stacks: u32,
    breaches: u32,
    raw: u32,
    processes: u32,
}

#[derive(Clone, Copy, Default, Debug)]
struct SampleStats {
    declared: usize,
    bad_refs: u64,
    bad_strings: u64,
}

/// A sample column: the hot loop's varint reader. `None` means the column
/// ran out; malformed (over-long) varints also give `None`.
#[derive(Clone, Copy)]
struct Col<'a>(&'a [u8]);

impl Col<'_> {
    #[inline(always)]
    fn u(&mut self) -> Option<u64> {
        let p = self.0;
        let &b = p.first()?;
        if b < 0x80 {
            self.0 = &p[1..];
            return Some(b as u64);
        }
        self.u_multi()
    }

    #[inline(always)]
    fn u_multi(&mut self) -> Option<u64> {
        let p = self.0;
        if let Some((v, n)) = p.first_chunk::<8>().and_then(varint::decode8) {
            self.0 = p.get(n..)?;
            return Some(v);
        }
        self.u_slow()
    }

    #[cold]
    fn u_slow(&mut self) -> Option<u64> {
        let mut c = Cursor::new(self.0);
        let v = c.u("column").ok()?;
        self.0 = self.0.get(self.0.len() - c.remaining()..)?;
        Some(v)
    }

    #[inline(always)]
    fn i(&mut self) -> Option<i64> {
        self.u().map(unzigzag)
    }
}

/// Decodes one SAMPLES payload into `out` (exactly its declared length);
/// returns how many samples were kept, packed at the front.
/// Every slot of `out` is initialised when this returns, whatever it
/// returns: kept samples first, then `filler`.
fn decode_samples(
    p: &[u8],
    out: &mut [MaybeUninit<TaskSample>],
    lim: &Limits,
    frames: &[u64],
    st: &mut SampleStats,
    filler: &TaskSample,
) -> DResult<usize> {
    st.declared = out.len();
    let mut kept = 0usize;
    let res = decode_samples_into(p, out, lim, frames, st, filler, &mut kept);
    for slot in out.get_mut(kept..).unwrap_or(&mut []) {
        slot.write(filler.clone());
    }
    res.map(|()| kept)
}

/// Decodes into `out[..*kept]`, advancing `*kept` as samples are written.
fn decode_samples_into(
    p: &[u8],
    out: &mut [MaybeUninit<TaskSample>],
    lim: &Limits,
    frames: &[u64],
    st: &mut SampleStats,
    filler: &TaskSample,
    kept: &mut usize,
) -> DResult<()> {
    let mut hdr = Cursor::new(p);
    let n = hdr.count(SAMPLE_COLUMNS, "sample count")?;
    if n != out.len() {
        return Err(DecodeError::Range("sample count", n as u64));
    }
    let mut lens = [0usize; SAMPLE_COLUMNS];
    for l in lens.iter_mut() {
        let v = hdr.u("column length")?;
        *l = usize::try_from(v).map_err(|_| DecodeError::Range("column length", v))?;
    }
    let mut cols = [Col(&[]); SAMPLE_COLUMNS];
    for (c, &l) in cols.iter_mut().zip(&lens) {
        *c = Col(hdr.take(l, "sample column")?);
    }
    let [c_breach, c_pid, c_tgid, c_comm, c_state, c_cpu, c_cgroup, c_kstack, c_ustack, c_ip, c_sp, c_bp, c_raw, c_proc] =
        &mut cols;
    let (mut breach, mut pid, mut cgroup, mut sp) = (0i64, 0i64, 0u64, 0u64);
    let (mut raw_next, mut proc_prev) = (0i64, 0i64);
    let eof = DecodeError::Eof("a sample column");
    // Column by column over blocks small enough to stay in L1/L2: each pass
    // is a tight loop with one cursor. `bad[i]` marks samples to drop.
    let mut bad = [false; BLOCK];
    let mut buf: Vec<TaskSample> = vec![filler.clone(); BLOCK.min(n)];
    let mut left = n;
    while left > 0 {
        let len = left.min(BLOCK);
        left -= len;
        let blk = &mut buf[..len];
        let bad = &mut bad[..len];
        bad.fill(false);
        for (s, b) in blk.iter_mut().zip(bad.iter_mut()) {
            breach = breach.wrapping_add(c_breach.i().ok_or(eof)?);
            s.breach = breach as u32;
            *b |= !(0..lim.breaches as i64).contains(&breach);
        }
        for (s, b) in blk.iter_mut().zip(bad.iter_mut()) {
            pid = pid.wrapping_add(c_pid.i().ok_or(eof)?);
            s.pid = pid as i32;
            *b |= i32::try_from(pid).is_err();
        }
        for (s, b) in blk.iter_mut().zip(bad.iter_mut()) {
            let tgid = (s.pid as i64).wrapping_sub(c_tgid.i().ok_or(eof)?);
            s.tgid = tgid as i32;
            *b |= i32::try_from(tgid).is_err();
        }
        for s in blk.iter_mut() {
            let comm = c_comm.u().ok_or(eof)?;
            s.comm = StrId(if comm < lim.strings as u64 {
                comm as u32
            } else {
                st.bad_strings += 1;
                0
            });
        }
        for (s, b) in blk.iter_mut().zip(bad.iter_mut()) {
            let sf = c_state.u().ok_or(eof)?;
            s.state = match sf & 3 {
                0 => TaskState::Other,
                1 => TaskState::Running,
                2 => TaskState::Uninterruptible,
                _ => TaskState::RtLock,
            };
            s.flags = (sf >> 2) as u32;
            *b |= sf >> 2 > u32::MAX as u64;
        }
        for (s, b) in blk.iter_mut().zip(bad.iter_mut()) {
            let cpu = c_cpu.i().ok_or(eof)?;
            s.cpu = cpu as i32;
            *b |= i32::try_from(cpu).is_err();
        }
        for s in blk.iter_mut() {
            cgroup = cgroup.wrapping_add(c_cgroup.i().ok_or(eof)? as u64);
            s.cgroup_id = cgroup;
        }
        for (s, b) in blk.iter_mut().zip(bad.iter_mut()) {
            let v = c_kstack.u().ok_or(eof)?;
            let id = (v as u32).wrapping_sub(1);
            s.kstack = StackId(id);
            *b |= v > u32::MAX as u64 || (id != StackId::EMPTY.0 && id >= lim.stacks);
        }
        for (s, b) in blk.iter_mut().zip(bad.iter_mut()) {
            let v = c_ustack.u().ok_or(eof)?;
            let id = (v as u32).wrapping_sub(1);
            s.ustack = StackId(id);
            *b |= v > u32::MAX as u64 || (id != StackId::EMPTY.0 && id >= lim.stacks);
        }
        for s in blk.iter_mut() {
            let top = frames.get(s.ustack.0 as usize).copied().unwrap_or(0);
            s.regs.ip = top.wrapping_add(c_ip.i().ok_or(eof)? as u64);
        }
        for s in blk.iter_mut() {
            sp = sp.wrapping_add(c_sp.i().ok_or(eof)? as u64);
            s.regs.sp = sp;
        }
        for s in blk.iter_mut() {
            s.regs.bp = s.regs.sp.wrapping_add(c_bp.i().ok_or(eof)? as u64);
        }
        for (s, b) in blk.iter_mut().zip(bad.iter_mut()) {
            let v = c_raw.u().ok_or(eof)?;
            s.raw_stack = if v == 0 {
                None
            } else {
                let r = raw_next.wrapping_add(unzigzag(v - 1));
                raw_next = r.wrapping_add(1);
                *b |= !(0..lim.raw as i64).contains(&r);
                Some(r as u32)
            };
        }
        for (s, b) in blk.iter_mut().zip(bad.iter_mut()) {
            let v = c_proc.u().ok_or(eof)?;
            s.process = if v == 0 {
                None
            } else {
                proc_prev = proc_prev.wrapping_add(unzigzag(v - 1));
                *b |= !(0..lim.processes as i64).contains(&proc_prev);
                Some(proc_prev as u32)
            };
        }
        for (smp, &b) in blk.iter().zip(bad.iter()) {
            if b {
                st.bad_refs += 1;
                continue;
            }
            let Some(slot) = out.get_mut(*kept) else {
                break;
            };
            slot.write(smp.clone());
            *kept += 1;
        }
    }
    Ok(())
}

/// Samples decoded per column pass.
const BLOCK: usize = 256;

#[derive(Default)]
struct TableDecoder {
    cap: Capture,
    warnings: Vec<Warning>,
    lost_note: Option<u64>,
    /// Per-table "this table stopped at a gap" flags, to warn once.
    warned_unknown: Vec<u16>,
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
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(decode(r)?);
        }
        check_u32_len(have + v.len(), table.chunk)?;
        (table.get)(&mut self.cap).extend(v);
        Ok(())
    }

    fn table_chunk(&mut self, c: &ChunkInfo, p: &[u8]) -> DResult<()> {
        let mut r = Cursor::new(p);
        let Some(ty) = ChunkType::from_u16(c.header.ty) else {
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
                let mut v = Vec::with_capacity(n);
                let mut bad = 0;
                for _ in 0..n {
                    let b = r.bytes("string")?;
                    v.push(match std::str::from_utf8(b) {
                        Ok(s) => s.to_owned(),
                        Err(_) => {
                            bad += 1;
                            String::from_utf8_lossy(b).into_owned()
                        }
                    });
                }
                check_u32_len(self.cap.strings.len() + v.len(), "strings")?;
                self.cap.strings.extend(v);
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
            }
            ChunkType::KernelSymbols => {
                let n = r.count(4, "kernel symbol count")?;
                self.cap.kernel_symbols.reserve(n);
                let mut addr = 0u64;
                for _ in 0..n {
                    addr = addr.wrapping_add(r.i("ksym addr")? as u64);
                    let kind = r.byte("ksym kind")?;
                    let name = StrId(r.u32("ksym name")?);
                    let module = StrId(r.u32("ksym module")?);
                    self.cap.kernel_symbols.push(KernelSymbol {
                        addr,
                        kind,
                        name,
                        module,
                    });
                }
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
            cap.strings.push(String::new());
        } else if !cap.strings[0].is_empty() {
            self.warnings.push(Warning {
                offset: 0,
                chunk_type: Some(ChunkType::Strings as u16),
                message: "string 0 is not empty; replaced by \"\"".into(),
            });
            cap.strings[0].clear();
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
