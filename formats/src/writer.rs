//! Streamed `.vmt` writer: interns strings and stacks, buffers records into
//! chunks and appends them with checksums; memory stays bounded by the
//! chunk size plus the intern tables.

use std::collections::HashMap;
use std::io::Write;

use crate::chunk::{
    file_header, ChunkHeader, ChunkType, COMPRESSION_NONE, COMPRESSION_ZSTD, MAX_PAYLOAD,
    TRAILER_MAGIC, VERSION_MAJOR, VERSION_MINOR, VERSION_MINOR_PLAIN_SAMPLES,
};
use crate::codec::{encode_losses, encode_meta, encode_process, encode_trigger, encode_watch};
use crate::error::{Error, Result};
use crate::model::*;
use crate::samples::SampleEncoder;
use crate::varint::{put_bytes, put_i, put_u};

/// How chunk payloads are compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    None,
    /// zstd at this level, kept only when it saves at least 1/16 of the payload.
    Zstd(i32),
}

/// How task samples are stored (SPEC.md §5.7).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SampleEncoding {
    /// SAMPLES2 chunks (format 1.2): each column stored the smallest of
    /// four ways (plain varints, one constant, runs, a dictionary). The
    /// default; readers before 1.2 skip these chunks with a warning.
    Coded,
    /// SAMPLES chunks (every column plain varints) in a version 1.1 file,
    /// which 1.0 and 1.1 readers read whole.
    Plain,
}

#[derive(Clone, Debug)]
pub struct WriterOptions {
    /// Task samples per SAMPLES chunk (chunks are also cut by `flush`).
    pub samples_per_chunk: usize,
    /// Compression of SAMPLES chunks. None by default: zstd halves them but
    /// doubles the CPU of writing them (on the monitored machine) and of
    /// reading them (BENCHMARKS.md, Format); for archiving, not analysis.
    pub sample_compression: Compression,
    /// Compression of all other chunks (strings, stacks, symbols ...).
    pub table_compression: Compression,
    /// The chunk layout of task samples: [`SampleEncoding::Coded`] unless
    /// the file must be read by vmon-format 1.1 or older.
    pub sample_encoding: SampleEncoding,
}

impl Default for WriterOptions {
    fn default() -> Self {
        WriterOptions {
            samples_per_chunk: 16 * 1024,
            sample_compression: Compression::None,
            table_compression: Compression::Zstd(3),
            sample_encoding: SampleEncoding::Coded,
        }
    }
}

/// Records of one table waiting for their chunk; `first` is the id of the
/// first pending one, so each chunk states which ids it defines.
#[derive(Default)]
struct Pending {
    first: u64,
    count: u64,
    buf: Vec<u8>,
    /// Delta-coding state, reset per chunk.
    prev: [u64; 2],
}

impl Pending {
    fn start(&mut self, next_id: u64) {
        if self.count == 0 {
            self.first = next_id;
            self.buf.clear();
            self.prev = [0; 2];
        }
    }
}

/// Pending records flush once their buffer reaches this size.
const TABLE_CHUNK_BYTES: usize = 1 << 20;

/// Writes a `.vmt` file to `W`. Call [`Writer::finish`] at the end; a file
/// not finished (crash, kill) still reads back up to its last chunk.
pub struct Writer<W: Write> {
    out: W,
    pos: u64,
    opts: WriterOptions,
    index: Vec<(u64, u16)>,

    str_ids: HashMap<Box<str>, u32>,
    n_strings: u32,
    p_strings: Pending,

    stack_ids: HashMap<(u32, u64), u32>,
    /// Innermost frame of every stack node, to delta-code `regs.ip`.
    stack_frames: Vec<u64>,
    p_stacks: Pending,

    n_watches: u32,
    p_watches: Pending,
    p_triggers: Pending,
    n_breaches: u32,
    p_breaches: Pending,
    n_processes: u32,
    p_processes: Pending,
    n_raw: u32,
    p_raw: Pending,
    p_ksyms: Pending,
    p_symtabs: Pending,

    samples: Vec<TaskSample>,
    losses: Losses,
    losses_dirty: bool,
    scratch: Vec<u8>,
    encoder: SampleEncoder,
}

impl<W: Write> Writer<W> {
    /// Starts a file with the default options; writes the file header.
    pub fn new(out: W) -> Result<Self> {
        Self::with_options(out, WriterOptions::default())
    }

    pub fn with_options(mut out: W, opts: WriterOptions) -> Result<Self> {
        let minor = match opts.sample_encoding {
            SampleEncoding::Coded => VERSION_MINOR,
            SampleEncoding::Plain => VERSION_MINOR_PLAIN_SAMPLES,
        };
        out.write_all(&file_header(VERSION_MAJOR, minor))?;
        let mut w = Writer {
            out,
            pos: crate::chunk::FILE_HEADER_LEN as u64,
            opts,
            index: Vec::new(),
            str_ids: HashMap::new(),
            n_strings: 0,
            p_strings: Pending::default(),
            stack_ids: HashMap::new(),
            stack_frames: Vec::new(),
            p_stacks: Pending::default(),
            n_watches: 0,
            p_watches: Pending::default(),
            p_triggers: Pending::default(),
            n_breaches: 0,
            p_breaches: Pending::default(),
            n_processes: 0,
            p_processes: Pending::default(),
            n_raw: 0,
            p_raw: Pending::default(),
            p_ksyms: Pending::default(),
            p_symtabs: Pending::default(),
            samples: Vec::new(),
            losses: Losses::default(),
            losses_dirty: false,
            scratch: Vec::new(),
            encoder: SampleEncoder::default(),
        };
        w.opts.samples_per_chunk = w.opts.samples_per_chunk.clamp(1, 1 << 20);
        // StrId(0) is the empty string in every capture.
        w.intern_str("");
        Ok(w)
    }

    /// The id of `s`, adding it to the file's string table if new.
    pub fn intern_str(&mut self, s: &str) -> StrId {
        if let Some(&id) = self.str_ids.get(s) {
            return StrId(id);
        }
        let id = self.push_string(s);
        self.str_ids.insert(s.into(), id);
        StrId(id)
    }

    fn push_string(&mut self, s: &str) -> u32 {
        let id = self.n_strings;
        self.p_strings.start(id as u64);
        put_bytes(&mut self.p_strings.buf, s.as_bytes());
        self.p_strings.count += 1;
        self.n_strings += 1;
        id
    }

    /// Number of strings interned so far.
    pub fn string_count(&self) -> u32 {
        self.n_strings
    }

    /// The id of a stack given innermost frame first, adding the missing
    /// nodes of its prefix tree. An empty stack is [`StackId::EMPTY`].
    pub fn intern_stack(&mut self, frames: &[u64]) -> StackId {
        let mut parent = StackId::EMPTY.0;
        for &f in frames.iter().rev() {
            parent = match self.stack_ids.get(&(parent, f)) {
                Some(&id) => id,
                None => {
                    let id = self.push_stack_node(parent, f);
                    self.stack_ids.insert((parent, f), id);
                    id
                }
            };
        }
        StackId(parent)
    }

    fn push_stack_node(&mut self, parent: u32, frame: u64) -> u32 {
        let id = self.stack_frames.len() as u32;
        let p = &mut self.p_stacks;
        p.start(id as u64);
        // parent < id, so id - parent >= 1 and 0 can mean "no parent".
        let pdelta = if parent == StackId::EMPTY.0 {
            0
        } else {
            id - parent
        };
        put_u(&mut p.buf, pdelta as u64);
        put_i(&mut p.buf, frame.wrapping_sub(p.prev[0]) as i64);
        p.prev[0] = frame;
        p.count += 1;
        self.stack_frames.push(frame);
        id
    }

    /// Number of stack nodes so far.
    pub fn stack_node_count(&self) -> u32 {
        self.stack_frames.len() as u32
    }

    /// Writes a META chunk now. Call it at the start and again at the end
    /// (with `end_ns`); readers use the last one.
    pub fn write_meta(&mut self, meta: &Meta) -> Result<()> {
        let mut b = Vec::with_capacity(256);
        encode_meta(&mut b, meta);
        self.write_chunk(ChunkType::Meta, 1, &b, self.opts.table_compression)
    }

    pub fn add_kernel_symbol(&mut self, sym: &KernelSymbol) -> Result<()> {
        self.check_str(sym.name, "kernel symbol name")?;
        self.check_str(sym.module, "kernel symbol module")?;
        let p = &mut self.p_ksyms;
        p.start(0);
        put_i(&mut p.buf, sym.addr.wrapping_sub(p.prev[0]) as i64);
        p.prev[0] = sym.addr;
        p.buf.push(sym.kind);
        put_u(&mut p.buf, sym.name.0 as u64);
        put_u(&mut p.buf, sym.module.0 as u64);
        p.count += 1;
        self.maybe_flush_tables()
    }

    /// Adds a watch; returns its index (what [`Breach::watch`] refers to).
    pub fn add_watch(&mut self, w: &Watch) -> Result<u32> {
        self.check_str(w.name, "watch name")?;
        if let WatchKind::Kernel { symbol } = w.kind {
            self.check_str(symbol, "watch kernel symbol")?;
        }
        if !matches!(w.size, 1 | 2 | 4 | 8) {
            return Err(Error::InvalidInput(format!(
                "watch size {} is not 1, 2, 4 or 8",
                w.size
            )));
        }
        let idx = self.n_watches;
        let p = &mut self.p_watches;
        p.start(idx as u64);
        encode_watch(&mut p.buf, w);
        p.count += 1;
        if !w.trigger.is_plain() {
            let t = &mut self.p_triggers;
            t.start(0);
            encode_trigger(&mut t.buf, idx, &w.trigger);
            t.count += 1;
        }
        self.n_watches += 1;
        self.maybe_flush_tables()?;
        Ok(idx)
    }

    /// Adds a breach; returns its index (what [`TaskSample::breach`] refers to).
    pub fn add_breach(&mut self, b: &Breach) -> Result<u32> {
        if b.watch >= self.n_watches {
            return Err(Error::InvalidInput(format!(
                "breach {} refers to watch {} but only {} watches were added",
                b.event_id, b.watch, self.n_watches
            )));
        }
        let idx = self.n_breaches;
        let p = &mut self.p_breaches;
        p.start(idx as u64);
        put_i(&mut p.buf, b.event_id.wrapping_sub(p.prev[0]) as i64);
        put_i(&mut p.buf, b.time_ns.wrapping_sub(p.prev[1]) as i64);
        p.prev = [b.event_id, b.time_ns];
        put_u(&mut p.buf, b.watch as u64);
        put_i(&mut p.buf, b.value);
        put_u(&mut p.buf, b.nr_candidates as u64);
        put_u(&mut p.buf, b.collect_ns);
        put_u(&mut p.buf, b.flags as u64);
        p.count += 1;
        self.n_breaches += 1;
        self.maybe_flush_tables()?;
        Ok(idx)
    }

    /// Adds a process; returns its index (what [`TaskSample::process`] refers to).
    pub fn add_process(&mut self, proc_: &Process) -> Result<u32> {
        for m in &proc_.mappings {
            self.check_str(m.path, "mapping path")?;
            if m.end < m.start {
                return Err(Error::InvalidInput(format!(
                    "mapping {:#x}-{:#x} ends before it starts",
                    m.start, m.end
                )));
            }
        }
        for a in &proc_.chain {
            self.check_str(a.comm, "ancestor comm")?;
            for &c in &a.cmdline {
                self.check_str(c, "ancestor cmdline")?;
            }
        }
        let idx = self.n_processes;
        let p = &mut self.p_processes;
        p.start(idx as u64);
        encode_process(&mut p.buf, proc_);
        p.count += 1;
        self.n_processes += 1;
        self.maybe_flush_tables()?;
        Ok(idx)
    }

    /// Adds raw user-stack bytes; returns the index for [`TaskSample::raw_stack`].
    pub fn add_raw_stack(&mut self, r: &RawStack) -> Result<u32> {
        let idx = self.n_raw;
        let p = &mut self.p_raw;
        p.start(idx as u64);
        put_u(&mut p.buf, r.sp);
        put_bytes(&mut p.buf, &r.bytes);
        p.count += 1;
        self.n_raw += 1;
        self.maybe_flush_tables()?;
        Ok(idx)
    }

    pub fn add_symbol_table(&mut self, t: &SymbolTable) -> Result<()> {
        self.check_str(t.path, "symbol table path")?;
        for w in t.symbols.windows(2) {
            if w[1].addr < w[0].addr {
                return Err(Error::InvalidInput(
                    "symbol table not sorted by addr".into(),
                ));
            }
        }
        for s in &t.symbols {
            self.check_str(s.name, "symbol name")?;
        }
        let p = &mut self.p_symtabs;
        p.start(0);
        put_u(&mut p.buf, t.path.0 as u64);
        put_bytes(&mut p.buf, &t.build_id);
        put_u(&mut p.buf, t.symbols.len() as u64);
        let mut prev = 0u64;
        for s in &t.symbols {
            put_u(&mut p.buf, s.addr - prev);
            prev = s.addr;
            put_u(&mut p.buf, s.size);
            put_u(&mut p.buf, s.name.0 as u64);
        }
        p.count += 1;
        self.maybe_flush_tables()
    }

    /// Adds a task sample; all ids in it must already be added.
    pub fn add_sample(&mut self, s: &TaskSample) -> Result<()> {
        let bad = |what: &str, v: u64, n: u32| {
            Err(Error::InvalidInput(format!(
                "task sample (pid {}) refers to {what} {v}, but only {n} exist",
                s.pid
            )))
        };
        if s.breach >= self.n_breaches {
            return bad("breach", s.breach as u64, self.n_breaches);
        }
        let nstack = self.stack_frames.len() as u32;
        for st in [s.kstack, s.ustack] {
            if !st.is_empty() && st.0 >= nstack {
                return bad("stack", st.0 as u64, nstack);
            }
        }
        self.check_str(s.comm, "comm")?;
        if let Some(r) = s.raw_stack {
            if r >= self.n_raw {
                return bad("raw stack", r as u64, self.n_raw);
            }
        }
        if let Some(pr) = s.process {
            if pr >= self.n_processes {
                return bad("process", pr as u64, self.n_processes);
            }
        }
        if s.flags > u32::MAX >> 2 {
            return Err(Error::InvalidInput(format!(
                "task flags {:#x} use the top 2 bits",
                s.flags
            )));
        }
        self.samples.push(s.clone());
        if self.samples.len() >= self.opts.samples_per_chunk {
            self.write_pending()?;
        }
        Ok(())
    }

    /// Replaces the loss counters; written at the next flush (last one wins).
    pub fn set_losses(&mut self, l: &Losses) {
        self.losses = l.clone();
        self.losses_dirty = true;
    }

    pub fn losses(&self) -> &Losses {
        &self.losses
    }

    /// Writes every buffered record as chunks and flushes `W`, so that a
    /// crash after this loses nothing written before it.
    pub fn flush(&mut self) -> Result<()> {
        self.write_pending()?;
        self.out.flush()?;
        Ok(())
    }

    /// Flushes, writes the index and trailer, and returns `W`.
    pub fn finish(mut self) -> Result<W> {
        self.write_pending()?;
        if self.losses_dirty
            || self
                .index
                .iter()
                .all(|&(_, t)| t != ChunkType::Losses as u16)
        {
            self.losses_dirty = true;
            self.write_pending()?;
        }
        let index_off = self.pos;
        let mut b = Vec::with_capacity(self.index.len() * 4 + 8);
        put_u(&mut b, self.index.len() as u64);
        let mut prev = 0u64;
        for &(off, ty) in &self.index {
            put_u(&mut b, off - prev);
            put_u(&mut b, ty as u64);
            prev = off;
        }
        let n = self.index.len() as u32;
        self.write_chunk(ChunkType::Index, n, &b, Compression::None)?;
        let mut t = [0u8; 16];
        t[..8].copy_from_slice(&index_off.to_le_bytes());
        t[8..].copy_from_slice(&TRAILER_MAGIC);
        self.out.write_all(&t)?;
        self.out.flush()?;
        Ok(self.out)
    }

    /// Writes a chunk of a type this crate does not define, after all
    /// pending records. Readers that do not know `ty` skip it with a
    /// warning; SPEC.md §5 reserves types 0x8000 and up for private use.
    pub fn write_custom_chunk(&mut self, ty: u16, count: u32, payload: &[u8]) -> Result<()> {
        if crate::chunk::ChunkType::from_u16(ty).is_some() || ty == 0 {
            return Err(Error::InvalidInput(format!(
                "chunk type {ty} is reserved by the format"
            )));
        }
        self.write_pending()?;
        self.write_chunk_raw(ty, count, payload, Compression::None)
    }

    fn check_str(&self, id: StrId, what: &str) -> Result<()> {
        if id.0 >= self.n_strings {
            return Err(Error::InvalidInput(format!(
                "{what} is string {} but only {} strings were interned",
                id.0, self.n_strings
            )));
        }
        Ok(())
    }

    fn maybe_flush_tables(&mut self) -> Result<()> {
        let big = [
            &self.p_strings,
            &self.p_stacks,
            &self.p_ksyms,
            &self.p_watches,
            &self.p_triggers,
            &self.p_breaches,
            &self.p_processes,
            &self.p_raw,
            &self.p_symtabs,
        ]
        .iter()
        .any(|p| p.buf.len() >= TABLE_CHUNK_BYTES);
        if big {
            self.write_pending()?;
        }
        Ok(())
    }

    /// Writes pending chunks, definitions before their users, so that every
    /// prefix of the file is self-consistent.
    fn write_pending(&mut self) -> Result<()> {
        let tc = self.opts.table_compression;
        for ty in [
            ChunkType::Strings,
            ChunkType::Stacks,
            ChunkType::KernelSymbols,
            ChunkType::Watches,
            ChunkType::Triggers,
            ChunkType::Breaches,
            ChunkType::Processes,
            ChunkType::RawStacks,
            ChunkType::SymbolTables,
        ] {
            let mut p = std::mem::take(match ty {
                ChunkType::Strings => &mut self.p_strings,
                ChunkType::Stacks => &mut self.p_stacks,
                ChunkType::KernelSymbols => &mut self.p_ksyms,
                ChunkType::Watches => &mut self.p_watches,
                ChunkType::Triggers => &mut self.p_triggers,
                ChunkType::Breaches => &mut self.p_breaches,
                ChunkType::Processes => &mut self.p_processes,
                ChunkType::RawStacks => &mut self.p_raw,
                _ => &mut self.p_symtabs,
            });
            if p.count > 0 {
                let mut b = Vec::with_capacity(p.buf.len() + 16);
                if !matches!(
                    ty,
                    ChunkType::KernelSymbols | ChunkType::SymbolTables | ChunkType::Triggers
                ) {
                    put_u(&mut b, p.first);
                }
                put_u(&mut b, p.count);
                b.extend_from_slice(&p.buf);
                self.write_chunk(ty, p.count.min(u32::MAX as u64) as u32, &b, tc)?;
                p.count = 0;
                p.buf.clear();
            }
        }
        if !self.samples.is_empty() {
            let mut b = std::mem::take(&mut self.scratch);
            b.clear();
            let coded = self.opts.sample_encoding == SampleEncoding::Coded;
            self.encoder
                .encode(&mut b, &self.samples, &self.stack_frames, coded);
            let n = self.samples.len() as u32;
            let ty = if coded {
                ChunkType::Samples2
            } else {
                ChunkType::Samples
            };
            let res = self.write_chunk(ty, n, &b, self.opts.sample_compression);
            self.scratch = b;
            res?;
            self.samples.clear();
        }
        if self.losses_dirty {
            let mut b = Vec::new();
            encode_losses(&mut b, &self.losses);
            self.write_chunk(ChunkType::Losses, 1, &b, tc)?;
            self.losses_dirty = false;
        }
        Ok(())
    }

    fn write_chunk(&mut self, ty: ChunkType, count: u32, raw: &[u8], c: Compression) -> Result<()> {
        self.write_chunk_raw(ty as u16, count, raw, c)
    }

    fn write_chunk_raw(&mut self, ty: u16, count: u32, raw: &[u8], c: Compression) -> Result<()> {
        if raw.len() > MAX_PAYLOAD as usize {
            return Err(Error::InvalidInput(format!(
                "a {} chunk of {} bytes exceeds the 64 MiB chunk limit (a single record too large?)",
                crate::chunk::type_name(ty),
                raw.len()
            )));
        }
        let compressed = match c {
            Compression::Zstd(level) if raw.len() >= 64 => zstd::bulk::compress(raw, level)
                .ok()
                .filter(|z| z.len() <= raw.len() - raw.len() / 16),
            _ => None,
        };
        let (flags, payload) = match &compressed {
            Some(z) => (COMPRESSION_ZSTD, z.as_slice()),
            None => (COMPRESSION_NONE, raw),
        };
        let h = ChunkHeader {
            ty,
            flags,
            stored_len: payload.len() as u32,
            raw_len: raw.len() as u32,
            count,
            payload_crc: crc32c::crc32c(payload),
        };
        self.out.write_all(&h.encode())?;
        self.out.write_all(payload)?;
        if ty != ChunkType::Index as u16 {
            self.index.push((self.pos, ty));
        }
        self.pos += (crate::chunk::CHUNK_HEADER_LEN + payload.len()) as u64;
        Ok(())
    }
}

/// Writes a whole decoded [`Capture`], keeping all its ids.
pub fn write_capture<W: Write>(cap: &Capture, out: W) -> Result<W> {
    write_capture_with(cap, out, WriterOptions::default())
}

pub fn write_capture_with<W: Write>(cap: &Capture, out: W, opts: WriterOptions) -> Result<W> {
    let mut w = Writer::with_options(out, opts)?;
    w.write_meta(&cap.meta)?;
    match cap.strings.get(0) {
        None => {}
        Some("") => {}
        Some(s) => {
            return Err(Error::InvalidInput(format!(
                "strings[0] must be the empty string, found {s:?}"
            )))
        }
    }
    // Verbatim, duplicates included, so that ids stay the same.
    for s in cap.strings.iter().skip(1) {
        let id = w.push_string(s);
        w.str_ids.entry(s.into()).or_insert(id);
    }
    let st = &cap.stacks;
    if st.parent.len() != st.frame.len() {
        return Err(Error::InvalidInput(
            "stack table columns differ in length".into(),
        ));
    }
    for (i, (&p, &f)) in st.parent.iter().zip(&st.frame).enumerate() {
        if !p.is_empty() && p.0 as usize >= i {
            return Err(Error::InvalidInput(format!(
                "stack node {i} has parent {} >= itself",
                p.0
            )));
        }
        let id = w.push_stack_node(p.0, f);
        w.stack_ids.entry((p.0, f)).or_insert(id);
    }
    for k in &cap.kernel_symbols {
        w.add_kernel_symbol(k)?;
    }
    for x in &cap.watches {
        w.add_watch(x)?;
    }
    for x in &cap.breaches {
        w.add_breach(x)?;
    }
    for x in &cap.processes {
        w.add_process(x)?;
    }
    for x in &cap.raw_stacks {
        w.add_raw_stack(x)?;
    }
    for x in &cap.symbol_tables {
        w.add_symbol_table(x)?;
    }
    for x in &cap.samples {
        w.add_sample(x)?;
    }
    w.set_losses(&cap.losses);
    w.finish()
}
