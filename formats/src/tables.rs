//! The table layer: table chunks decoded into a [`Capture`] (one call of
//! [`crate::codec`] per record), chunks that do not continue their table
//! skipped, and every cross-reference made valid once.

use crate::chunk::*;
use crate::codec::*;
use crate::container::ChunkInfo;
use crate::error::Warning;
use crate::model::*;
use crate::varint::{Cursor, DResult, DecodeError};

#[derive(Default)]
pub(crate) struct TableDecoder {
    pub(crate) cap: Capture,
    pub(crate) warnings: Vec<Warning>,
    /// Depth of each stack node, parallel to `cap.stacks` (SPEC §5.6 limit).
    pub(crate) stack_depth: Vec<u32>,
    /// Unknown chunk types: (type, chunks after the first, last offset).
    /// One warning per type, not one per chunk (a million empty chunks
    /// made a million warnings).
    pub(crate) unknown_more: Vec<(u16, u64, u64)>,
}

impl TableDecoder {
    pub(crate) fn gap(
        &mut self,
        c: &ChunkInfo,
        what: &str,
        first: u64,
        have: usize,
    ) -> DResult<bool> {
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
    pub(crate) fn append_indexed<T>(
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

    pub(crate) fn table_chunk(&mut self, c: &ChunkInfo, p: &[u8]) -> DResult<()> {
        let mut r = Cursor::new(p);
        let Some(ty) = ChunkType::from_u16(c.header.ty) else {
            if let Some(m) = self.unknown_more.iter_mut().find(|m| m.0 == c.header.ty) {
                m.1 += 1;
                m.2 = c.offset;
                return Ok(());
            }
            self.unknown_more.push((c.header.ty, 0, c.offset));
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
            ChunkType::Losses => self.cap.losses = decode_losses(&mut r)?,
            ChunkType::Triggers => {
                let n = r.count(3, "trigger count")?;
                // decoded whole first: a chunk that fails changes nothing
                let all = (0..n)
                    .map(|_| decode_trigger(&mut r))
                    .collect::<DResult<Vec<_>>>()?;
                let mut unknown = 0u64;
                for (watch, t) in all {
                    match self.cap.watches.get_mut(watch as usize) {
                        Some(w) => w.trigger = t,
                        None => unknown += 1,
                    }
                }
                if unknown > 0 {
                    self.warnings.push(Warning {
                        offset: c.offset,
                        chunk_type: Some(c.header.ty),
                        message: format!(
                            "{unknown} watch triggers name a watch the file does not hold; ignored"
                        ),
                    });
                }
            }
            ChunkType::Samples | ChunkType::Samples2 | ChunkType::Index => {}
        }
        Ok(())
    }

    /// Makes every cross-reference of the tables valid: unknown strings
    /// become `""`; the breach table ends before the first breach whose
    /// watch is missing (so later breach indices keep their meaning).
    pub(crate) fn fix_references(&mut self) {
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
pub(crate) struct IndexedTable<T> {
    pub(crate) chunk: &'static str,
    /// Smallest encoded record, to bound the count by the bytes left.
    pub(crate) min_record_len: usize,
    pub(crate) get: fn(&mut Capture) -> &mut Vec<T>,
}

impl<T> IndexedTable<T> {
    pub(crate) fn new(
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
pub(crate) struct TableLens {
    pub(crate) strings: usize,
    pub(crate) stacks: usize,
    pub(crate) kernel_symbols: usize,
    pub(crate) watches: usize,
    pub(crate) breaches: usize,
    pub(crate) processes: usize,
    pub(crate) raw_stacks: usize,
    pub(crate) symbol_tables: usize,
}

impl TableLens {
    pub(crate) fn of(cap: &Capture) -> Self {
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

    pub(crate) fn restore(&self, cap: &mut Capture) {
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
