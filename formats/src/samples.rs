//! Streaming decode of SAMPLES chunks (SPEC.md §5.7): column by column, in
//! blocks of [`BLOCK`] samples that stay in L1/L2 and are reused from block
//! to block, so decoding allocates nothing per sample.

use crate::error::Warning;
use crate::model::*;
use crate::varint::{put_u, unzigzag, Cursor, DResult, DecodeError};

/// Samples per [`SampleBlock`]: the columns of one block (about 22 KiB) fit
/// in L1/L2 together with the scratch column.
pub const BLOCK: usize = 256;

/// Number of columns of a SAMPLES chunk.
pub(crate) const SAMPLE_COLUMNS: usize = 14;

/// The columns of a SAMPLES chunk, in their order in the chunk (SPEC.md
/// §5.7), named once for the encoder and the decoder below.
pub(crate) mod col {
    /// The breach index, delta from the previous sample.
    pub const BREACH: usize = 0;
    /// The pid, delta from the previous sample.
    pub const PID: usize = 1;
    /// Pid minus tgid.
    pub const PID_MINUS_TGID: usize = 2;
    /// The comm string id.
    pub const COMM: usize = 3;
    /// `flags << 2 | state code`.
    pub const FLAGS_STATE: usize = 4;
    /// The cpu (-1: not on a CPU).
    pub const CPU: usize = 5;
    /// The cgroup id, delta from the previous sample.
    pub const CGROUP: usize = 6;
    /// The kernel stack id + 1 (0: none).
    pub const KSTACK: usize = 7;
    /// The user stack id + 1 (0: none).
    pub const USTACK: usize = 8;
    /// Ip minus the user stack's innermost frame.
    pub const IP: usize = 9;
    /// Sp, delta from the previous sample.
    pub const SP: usize = 10;
    /// Bp minus sp.
    pub const BP: usize = 11;
    /// The raw stack: 0 none, else 1 + zigzag(id - (previous id + 1)).
    pub const RAW_STACK: usize = 12;
    /// The process: 0 none, else 1 + zigzag(id - previous id).
    pub const PROCESS: usize = 13;
}

const _: () = assert!(col::PROCESS + 1 == SAMPLE_COLUMNS);

pub(crate) fn state_code(s: TaskState) -> u64 {
    match s {
        TaskState::Other => 0,
        TaskState::Running => 1,
        TaskState::Uninterruptible => 2,
        TaskState::RtLock => 3,
    }
}

/// How a column of a SAMPLES2 chunk stores its `n` values (SPEC.md §5.7.1):
/// the low [`CODING_BITS`] bits of the column's entry in the chunk's
/// length table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Coding {
    /// `n` varints, as in every column of a SAMPLES chunk.
    Plain = 0,
    /// One value for all `n` samples: one varint, or no byte at all for 0.
    Const = 1,
    /// `(value, run length - 1)` varint pairs; the runs add up to `n`.
    Runs = 2,
    /// `k` (1..=256) varint values, then `n` one-byte indexes into them.
    Dict = 3,
    /// `n` svar differences to the previous value (wrapping; the first
    /// against 0): for columns that count up, like comm string ids.
    Delta = 4,
}

/// Bits of a SAMPLES2 length entry that hold the column's [`Coding`].
pub(crate) const CODING_BITS: u32 = 3;

impl Coding {
    fn from_bits(b: u64) -> DResult<Coding> {
        Ok(match b & ((1 << CODING_BITS) - 1) {
            0 => Coding::Plain,
            1 => Coding::Const,
            2 => Coding::Runs,
            3 => Coding::Dict,
            4 => Coding::Delta,
            x => return Err(DecodeError::Range("sample column coding", x)),
        })
    }
}

/// The task flags in the order a SAMPLES2 chunk stores them (SPEC.md
/// §5.7.1): bit `i` of the stored flags is task flag `FLAG_ORDER[i]`; bits
/// 12 and up stay where they are. The flags most captures set (how the
/// user stack was unwound, and ON_CPU) come first, so that with the 2-bit
/// state they fit the column's first byte.
pub(crate) const FLAG_ORDER: [u32; 12] = [7, 9, 4, 8, 11, 10, 0, 1, 2, 3, 5, 6];

/// Lookup of the reordered bits of 6 flag bits (`half` 0: bits 0..6, 1:
/// bits 6..12), stored order to task flags when `unpack`.
const fn flag_table(half: u32, unpack: bool) -> [u32; 64] {
    let mut t = [0u32; 64];
    let mut x = 0;
    while x < 64 {
        let mut out = 0u32;
        let mut i = 0;
        while i < 12 {
            let (from, to) = if unpack {
                (i as u32, FLAG_ORDER[i])
            } else {
                (FLAG_ORDER[i], i as u32)
            };
            if from / 6 == half && (x >> (from % 6)) & 1 == 1 {
                out |= 1 << to;
            }
            i += 1;
        }
        t[x] = out;
        x += 1;
    }
    t
}

static PACK: [[u32; 64]; 2] = [flag_table(0, false), flag_table(1, false)];
static UNPACK: [[u32; 64]; 2] = [flag_table(0, true), flag_table(1, true)];

/// Task flags in SAMPLES2 order ([`FLAG_ORDER`]).
#[inline]
pub(crate) fn pack_flags(f: u32) -> u32 {
    PACK[0][(f & 63) as usize] | PACK[1][((f >> 6) & 63) as usize] | (f & !0xfff)
}

/// The inverse of [`pack_flags`].
#[inline]
pub(crate) fn unpack_flags(f: u32) -> u32 {
    UNPACK[0][(f & 63) as usize] | UNPACK[1][((f >> 6) & 63) as usize] | (f & !0xfff)
}

/// Most values a [`Coding::Dict`] column holds (its indexes are one byte).
pub(crate) const DICT_MAX: usize = 256;

/// Bytes of `v` as a uvar.
#[inline]
fn ulen(v: u64) -> usize {
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// Slots of [`DictTable`]: a power of two, 4 times [`DICT_MAX`].
const DICT_SLOTS: usize = 4 * DICT_MAX;

/// The distinct values of a column in first-seen order, at most
/// [`DICT_MAX`], with an open-addressing index over them.
struct DictTable {
    keys: Box<[u64; DICT_SLOTS]>,
    /// 0: empty slot, else the value's index + 1.
    idx: Box<[u16; DICT_SLOTS]>,
    values: Vec<u64>,
    /// The index of each value of the column the table was built from.
    codes: Vec<u8>,
}

impl Default for DictTable {
    fn default() -> Self {
        DictTable {
            keys: Box::new([0; DICT_SLOTS]),
            idx: Box::new([0; DICT_SLOTS]),
            values: Vec::with_capacity(DICT_MAX),
            codes: Vec::new(),
        }
    }
}

impl DictTable {
    fn clear(&mut self) {
        self.idx.fill(0);
        self.values.clear();
        self.codes.clear();
    }

    /// The index of `v`, added when new; `None` when it is new and the
    /// table is full.
    #[inline]
    fn index(&mut self, v: u64) -> Option<u8> {
        let mut h = (v.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 54) as usize & (DICT_SLOTS - 1);
        loop {
            match self.idx[h] {
                0 => {
                    if self.values.len() == DICT_MAX {
                        return None;
                    }
                    self.values.push(v);
                    self.keys[h] = v;
                    self.idx[h] = self.values.len() as u16;
                    return Some((self.values.len() - 1) as u8);
                }
                i if self.keys[h] == v => return Some((i - 1) as u8),
                _ => h = (h + 1) & (DICT_SLOTS - 1),
            }
        }
    }

    /// Builds the table of `v`; false when it has more than [`DICT_MAX`]
    /// distinct values.
    fn build(&mut self, v: &[u64]) -> bool {
        self.clear();
        for &x in v {
            match self.index(x) {
                Some(i) => self.codes.push(i),
                None => return false,
            }
        }
        true
    }
}

/// Calls `f(value, run length)` for the runs of equal values of `v`.
#[inline]
fn runs(v: &[u64], mut f: impl FnMut(u64, usize)) {
    let mut i = 0;
    while let Some(&x) = v.get(i) {
        let len = v[i..].iter().take_while(|&&y| y == x).count();
        f(x, len);
        i += len;
    }
}

/// The SAMPLES encoder's buffers, reused from chunk to chunk.
#[derive(Default)]
pub(crate) struct SampleEncoder {
    /// Each column's values, as the uvars a Plain column holds.
    vals: [Vec<u64>; SAMPLE_COLUMNS],
    cols: [Vec<u8>; SAMPLE_COLUMNS],
    dict: DictTable,
}

impl SampleEncoder {
    /// Appends the payload of one chunk of `samples` to `b`: a SAMPLES2
    /// chunk (§5.7.1) when `coded`, else a SAMPLES chunk (§5.7).
    pub fn encode(
        &mut self,
        b: &mut Vec<u8>,
        samples: &[TaskSample],
        stack_frames: &[u64],
        coded: bool,
    ) {
        self.column_values(samples, stack_frames, coded);
        let n = samples.len();
        let mut codings = [Coding::Plain; SAMPLE_COLUMNS];
        if coded {
            let mut sizes = [(0usize, 0usize); SAMPLE_COLUMNS];
            for c in 0..SAMPLE_COLUMNS {
                // Written at once: a dictionary just built is still there.
                let (coding, size, plain) = self.choose(c);
                codings[c] = coding;
                sizes[c] = (size, plain);
                self.write_column(c, coding);
            }
            // A SAMPLES2 chunk has at least one byte per sample (so that a
            // small file cannot declare a huge number of samples): when the
            // columns would be smaller, the one that grows least is stored
            // plain (a plain column has at least `n` bytes).
            let total: usize = sizes.iter().map(|s| s.0).sum();
            if total < n {
                let c = (0..SAMPLE_COLUMNS)
                    .min_by_key(|&c| sizes[c].1 - sizes[c].0)
                    .unwrap_or(0);
                codings[c] = Coding::Plain;
                self.write_column(c, Coding::Plain);
            }
        } else {
            for c in 0..SAMPLE_COLUMNS {
                self.write_column(c, Coding::Plain);
            }
        }
        put_u(b, n as u64);
        for (c, &coding) in self.cols.iter().zip(&codings) {
            let l = c.len() as u64;
            put_u(
                b,
                if coded {
                    (l << CODING_BITS) | coding as u64
                } else {
                    l
                },
            );
        }
        for c in &self.cols {
            b.extend_from_slice(c);
        }
    }

    /// Fills `vals` with the column values of `samples` (SPEC.md §5.7; in
    /// a SAMPLES2 chunk, `coded`, with the task flags reordered).
    fn column_values(&mut self, samples: &[TaskSample], stack_frames: &[u64], coded: bool) {
        use crate::varint::zigzag;
        for v in &mut self.vals {
            v.clear();
            v.reserve(samples.len());
        }
        let (mut breach, mut pid, mut cgroup, mut sp) = (0u32, 0i32, 0u64, 0u64);
        let (mut raw_next, mut proc_prev) = (0u32, 0u32);
        let v = &mut self.vals;
        for s in samples {
            v[col::BREACH].push(zigzag(s.breach as i64 - breach as i64));
            breach = s.breach;
            v[col::PID].push(zigzag(s.pid as i64 - pid as i64));
            pid = s.pid;
            v[col::PID_MINUS_TGID].push(zigzag(s.pid as i64 - s.tgid as i64));
            v[col::COMM].push(s.comm.0 as u64);
            let flags = if coded { pack_flags(s.flags) } else { s.flags };
            v[col::FLAGS_STATE].push(((flags as u64) << 2) | state_code(s.state));
            v[col::CPU].push(zigzag(s.cpu as i64));
            v[col::CGROUP].push(zigzag(s.cgroup_id.wrapping_sub(cgroup) as i64));
            cgroup = s.cgroup_id;
            v[col::KSTACK].push(s.kstack.0.wrapping_add(1) as u64);
            v[col::USTACK].push(s.ustack.0.wrapping_add(1) as u64);
            let top = stack_frames.get(s.ustack.0 as usize).copied().unwrap_or(0);
            v[col::IP].push(zigzag(s.regs.ip.wrapping_sub(top) as i64));
            v[col::SP].push(zigzag(s.regs.sp.wrapping_sub(sp) as i64));
            sp = s.regs.sp;
            v[col::BP].push(zigzag(s.regs.bp.wrapping_sub(s.regs.sp) as i64));
            v[col::RAW_STACK].push(match s.raw_stack {
                None => 0,
                Some(r) => {
                    let x = 1 + zigzag(r as i64 - raw_next as i64);
                    raw_next = r.wrapping_add(1);
                    x
                }
            });
            v[col::PROCESS].push(match s.process {
                None => 0,
                Some(p) => {
                    let x = 1 + zigzag(p as i64 - proc_prev as i64);
                    proc_prev = p;
                    x
                }
            });
        }
    }

    /// The coding of column `c` and its size in bytes, and its plain size.
    /// The smallest wins, with two biases for decoding speed: runs only
    /// when they at least halve the plain column (a run costs two scalar
    /// varint reads), a dictionary only when some value is longer than a
    /// byte (else plain is as small and decodes in place).
    fn choose(&mut self, c: usize) -> (Coding, usize, usize) {
        let v = &self.vals[c];
        // One pass for the sizes of plain, delta and runs.
        let (mut plain, mut delta, mut rle, mut nruns) = (0usize, 0usize, 0usize, 0usize);
        let (mut prev, mut run) = (0u64, 0u64);
        for &x in v {
            plain += ulen(x);
            delta += ulen(crate::varint::zigzag(x.wrapping_sub(prev) as i64));
            if x == prev && run > 0 {
                run += 1;
            } else {
                if run > 0 {
                    rle += ulen(prev) + ulen(run - 1);
                }
                nruns += 1;
                run = 1;
            }
            prev = x;
        }
        if run > 0 {
            rle += ulen(prev) + ulen(run - 1);
        }
        if nruns <= 1 {
            let x = v.first().copied().unwrap_or(0);
            return (Coding::Const, if x == 0 { 0 } else { ulen(x) }, plain);
        }
        let mut best = (Coding::Plain, plain);
        if rle * 2 <= plain {
            best = (Coding::Runs, rle);
        }
        if delta < best.1 {
            best = (Coding::Delta, delta);
        }
        // A dictionary takes at least a byte per sample and 2 for its size
        // and one value: only worth building when the best is larger.
        if plain > v.len() && best.1 > v.len() + 2 && self.dict.build(v) {
            let d = &self.dict.values;
            let size = ulen(d.len() as u64) + d.iter().map(|&x| ulen(x)).sum::<usize>() + v.len();
            if size < best.1 {
                best = (Coding::Dict, size);
            }
        }
        (best.0, best.1, plain)
    }

    /// Writes column `c`'s values into `cols[c]` as `coding` says.
    fn write_column(&mut self, c: usize, coding: Coding) {
        let v = &self.vals[c];
        let out = &mut self.cols[c];
        out.clear();
        match coding {
            Coding::Plain => {
                for &x in v {
                    put_u(out, x);
                }
            }
            Coding::Const => {
                let x = v.first().copied().unwrap_or(0);
                if x != 0 {
                    put_u(out, x);
                }
            }
            Coding::Runs => runs(v, |x, len| {
                put_u(out, x);
                put_u(out, len as u64 - 1);
            }),
            Coding::Delta => {
                let mut prev = 0u64;
                for &x in v {
                    put_u(out, crate::varint::zigzag(x.wrapping_sub(prev) as i64));
                    prev = x;
                }
            }
            Coding::Dict => {
                // `choose` built the table of this column just before.
                debug_assert_eq!(self.dict.codes.len(), v.len());
                put_u(out, self.dict.values.len() as u64);
                for &x in &self.dict.values {
                    put_u(out, x);
                }
                out.extend_from_slice(&self.dict.codes);
            }
        }
    }
}

/// Sizes of the tables a sample refers to; ids at or above are invalid.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Limits {
    pub strings: u32,
    pub stacks: u32,
    pub breaches: u32,
    pub raw: u32,
    pub processes: u32,
}

impl Limits {
    pub fn of(cap: &Capture) -> Limits {
        // Table lengths are below 2^32 - 1 (the decoder enforces it); a
        // hand-built capture beyond that only narrows what is accepted.
        let n = |len: usize| u32::try_from(len).unwrap_or(u32::MAX);
        Limits {
            strings: n(cap.strings.len()),
            stacks: n(cap.stacks.frame.len()).min(u32::MAX - 1),
            breaches: n(cap.breaches.len()),
            raw: n(cap.raw_stacks.len()),
            processes: n(cap.processes.len()),
        }
    }
}

/// Validated task samples of one block, column by column: element `i` of
/// every column is sample `i`. Only samples that passed validation are here
/// (every id is valid for the tables they were decoded against).
pub struct SampleBlock {
    len: usize,
    breach: [u32; BLOCK],
    pid: [i32; BLOCK],
    tgid: [i32; BLOCK],
    comm: [StrId; BLOCK],
    state: [TaskState; BLOCK],
    flags: [u32; BLOCK],
    cpu: [i32; BLOCK],
    cgroup_id: [u64; BLOCK],
    kstack: [StackId; BLOCK],
    ustack: [StackId; BLOCK],
    ip: [u64; BLOCK],
    sp: [u64; BLOCK],
    bp: [u64; BLOCK],
    raw_stack: [Option<u32>; BLOCK],
    process: [Option<u32>; BLOCK],
}

macro_rules! column_getters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)?) => {
        $(
            $(#[$doc])*
            #[inline]
            pub fn $name(&self) -> &[$ty] {
                &self.$name[..self.len]
            }
        )*
    };
}

impl SampleBlock {
    pub(crate) fn new_boxed() -> Box<SampleBlock> {
        Box::new(SampleBlock {
            len: 0,
            breach: [0; BLOCK],
            pid: [0; BLOCK],
            tgid: [0; BLOCK],
            comm: [StrId(0); BLOCK],
            state: [TaskState::Other; BLOCK],
            flags: [0; BLOCK],
            cpu: [0; BLOCK],
            cgroup_id: [0; BLOCK],
            kstack: [StackId::EMPTY; BLOCK],
            ustack: [StackId::EMPTY; BLOCK],
            ip: [0; BLOCK],
            sp: [0; BLOCK],
            bp: [0; BLOCK],
            raw_stack: [None; BLOCK],
            process: [None; BLOCK],
        })
    }

    /// Number of samples in the block (at most [`BLOCK`]).
    #[inline]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    column_getters! {
        /// Index into [`Capture::breaches`].
        breach: u32,
        pid: i32,
        tgid: i32,
        comm: StrId,
        state: TaskState,
        /// [`task_flags`] bits.
        flags: u32,
        cpu: i32,
        cgroup_id: u64,
        kstack: StackId,
        ustack: StackId,
        /// User registers: instruction pointer.
        ip: u64,
        /// User registers: stack pointer.
        sp: u64,
        /// User registers: frame pointer.
        bp: u64,
        /// Index into [`Capture::raw_stacks`].
        raw_stack: Option<u32>,
        /// Index into [`Capture::processes`].
        process: Option<u32>,
    }

    /// Sample `i` as a [`TaskSample`], `None` past the end.
    #[inline]
    pub fn get(&self, i: usize) -> Option<TaskSample> {
        (i < self.len).then(|| self.at(i))
    }

    /// Sample `i < self.len`.
    #[inline(always)]
    fn at(&self, i: usize) -> TaskSample {
        TaskSample {
            breach: self.breach[i],
            pid: self.pid[i],
            tgid: self.tgid[i],
            comm: self.comm[i],
            state: self.state[i],
            cpu: self.cpu[i],
            cgroup_id: self.cgroup_id[i],
            kstack: self.kstack[i],
            ustack: self.ustack[i],
            regs: UserRegs {
                ip: self.ip[i],
                sp: self.sp[i],
                bp: self.bp[i],
            },
            raw_stack: self.raw_stack[i],
            process: self.process[i],
            flags: self.flags[i],
        }
    }

    /// The samples of the block, in file order, as [`TaskSample`]s.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = TaskSample> + '_ {
        (0..self.len).map(|i| self.at(i))
    }

    /// Keeps the samples whose `bad` flag is 0, in order.
    fn retain(&mut self, bad: &[u8]) {
        let mut w = 0;
        for (r, &b) in bad.iter().enumerate().take(self.len) {
            if b != 0 {
                continue;
            }
            if w != r {
                self.breach[w] = self.breach[r];
                self.pid[w] = self.pid[r];
                self.tgid[w] = self.tgid[r];
                self.comm[w] = self.comm[r];
                self.state[w] = self.state[r];
                self.flags[w] = self.flags[r];
                self.cpu[w] = self.cpu[r];
                self.cgroup_id[w] = self.cgroup_id[r];
                self.kstack[w] = self.kstack[r];
                self.ustack[w] = self.ustack[r];
                self.ip[w] = self.ip[r];
                self.sp[w] = self.sp[r];
                self.bp[w] = self.bp[r];
                self.raw_stack[w] = self.raw_stack[r];
                self.process[w] = self.process[r];
            }
            w += 1;
        }
        self.len = w;
    }
}

/// Where one SAMPLES or SAMPLES2 chunk's decoding stands: the column
/// table, and the part that changes block by block in a [`Progress`].
#[derive(Debug)]
pub(crate) struct ChunkCursor {
    /// Samples the chunk declares.
    pub declared: usize,
    /// Samples not decoded yet.
    pub left: usize,
    /// End of each column in the payload.
    end: [usize; SAMPLE_COLUMNS],
    /// How each column stores its values (all Plain in a SAMPLES chunk);
    /// a Const column is decoded as one run of `declared` values.
    coding: [Coding; SAMPLE_COLUMNS],
    /// The dictionaries of the Dict columns, [`DICT_MAX`] values each
    /// (zero past their `k`), at `dict_at[c]`; their sizes in `dict_len`.
    dicts: Vec<u64>,
    dict_at: [usize; SAMPLE_COLUMNS],
    dict_len: [usize; SAMPLE_COLUMNS],
    /// A SAMPLES2 chunk (its task flags are reordered, [`pack_flags`]).
    coded: bool,
    at: Progress,
}

/// The part of a [`ChunkCursor`] a block advances: column positions, the
/// runs in progress and the running values of the delta-coded columns.
/// `Copy`, so that a block can be decoded again from where it started.
#[derive(Clone, Copy, Debug)]
struct Progress {
    /// Byte offset of each column's next value (or run, or index).
    pos: [usize; SAMPLE_COLUMNS],
    /// The value of each column's current run and how many samples of
    /// it are left (Runs and Const columns).
    run_val: [u64; SAMPLE_COLUMNS],
    run_left: [u64; SAMPLE_COLUMNS],
    /// The last value of each Delta column.
    delta_prev: [u64; SAMPLE_COLUMNS],
    breach: i64,
    pid: i64,
    cgroup: u64,
    sp: u64,
    raw_next: i64,
    proc_prev: i64,
}

impl ChunkCursor {
    /// Parses the sample count and column table of a chunk of type `ty`
    /// (SAMPLES or SAMPLES2), and the Const values and dictionaries.
    pub fn new(p: &[u8], ty: u16) -> DResult<ChunkCursor> {
        let coded = ty == crate::chunk::ChunkType::Samples2 as u16;
        let mut hdr = Cursor::new(p);
        // SAMPLES: every sample takes a byte in each column. SAMPLES2: a
        // byte in the chunk (the writer keeps a column plain to ensure it).
        let min = if coded { 1 } else { SAMPLE_COLUMNS };
        let n = hdr.count(min, "sample count")?;
        let mut lens = [0u64; SAMPLE_COLUMNS];
        for l in lens.iter_mut() {
            *l = hdr.u("column length")?;
        }
        let mut coding = [Coding::Plain; SAMPLE_COLUMNS];
        if coded {
            for (l, c) in lens.iter_mut().zip(coding.iter_mut()) {
                *c = Coding::from_bits(*l)?;
                *l >>= CODING_BITS;
            }
        }
        let mut at = p.len() - hdr.remaining();
        let mut cur = ChunkCursor {
            declared: n,
            left: n,
            end: [0; SAMPLE_COLUMNS],
            coding,
            dicts: Vec::new(),
            dict_at: [0; SAMPLE_COLUMNS],
            dict_len: [0; SAMPLE_COLUMNS],
            coded,
            at: Progress {
                pos: [0; SAMPLE_COLUMNS],
                run_val: [0; SAMPLE_COLUMNS],
                run_left: [0; SAMPLE_COLUMNS],
                delta_prev: [0; SAMPLE_COLUMNS],
                breach: 0,
                pid: 0,
                cgroup: 0,
                sp: 0,
                raw_next: 0,
                proc_prev: 0,
            },
        };
        for (c, &l) in lens.iter().enumerate() {
            let stop = usize::try_from(l)
                .ok()
                .and_then(|l| at.checked_add(l))
                .filter(|&stop| stop <= p.len())
                .ok_or(DecodeError::Eof("sample column"))?;
            cur.at.pos[c] = at;
            cur.end[c] = stop;
            at = stop;
            let body = p.get(cur.at.pos[c]..stop).unwrap_or(&[]);
            match cur.coding[c] {
                Coding::Plain | Coding::Runs | Coding::Delta => {}
                Coding::Const => {
                    // No byte: 0; else exactly one varint.
                    let mut r = Cursor::new(body);
                    let v = if body.is_empty() {
                        0
                    } else {
                        r.u("a constant sample column")?
                    };
                    if !r.is_empty() {
                        return Err(DecodeError::Range(
                            "length of a constant sample column",
                            body.len() as u64,
                        ));
                    }
                    cur.at.run_val[c] = v;
                    cur.at.run_left[c] = n as u64;
                    cur.at.pos[c] = stop;
                }
                Coding::Dict => {
                    let mut r = Cursor::new(body);
                    let k = r.u("a sample column dictionary")?;
                    if k == 0 || k > DICT_MAX as u64 {
                        return Err(DecodeError::Range("sample column dictionary size", k));
                    }
                    let base = cur.dicts.len();
                    cur.dicts.resize(base + DICT_MAX, 0);
                    for d in &mut cur.dicts[base..base + k as usize] {
                        *d = r.u("a sample column dictionary")?;
                    }
                    // Then exactly one index byte per sample.
                    if r.remaining() != n {
                        return Err(DecodeError::Range(
                            "index bytes of a dictionary sample column",
                            r.remaining() as u64,
                        ));
                    }
                    cur.dict_at[c] = base;
                    cur.dict_len[c] = k as usize;
                    cur.at.pos[c] = stop - n;
                }
            }
        }
        Ok(cur)
    }
}

/// What sample validation needs from the tables.
#[derive(Clone, Copy)]
pub(crate) struct SampleCtx<'t> {
    pub limits: Limits,
    /// Stack table frames: column 9 (ip) is coded against the user stack's top.
    pub frames: &'t [u64],
}

/// Per-block working memory.
pub(crate) struct Scratch {
    vals: [u64; BLOCK + 8],
    bad: [u8; BLOCK],
}

impl Scratch {
    pub fn new_boxed() -> Box<Scratch> {
        Box::new(Scratch {
            vals: [0; BLOCK + 8],
            bad: [0; BLOCK],
        })
    }
}

/// Counts of one decode, merged over blocks and chunks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct BlockStats {
    pub bad_refs: u64,
    pub bad_strings: u64,
}

/// One column's values for a block: the column's own bytes when every
/// value is a 1-byte varint (no decode step at all), else decoded words.
enum Vals<'a> {
    Bytes(&'a [u8]),
    Words(&'a [u64]),
}

/// The next `n` values of column `c`.
#[inline]
fn column<'a>(
    cur: &mut ChunkCursor,
    p: &'a [u8],
    c: usize,
    n: usize,
    vals: &'a mut [u64; BLOCK + 8],
) -> DResult<Vals<'a>> {
    let s = p.get(cur.at.pos[c]..cur.end[c]).unwrap_or(&[]);
    match cur.coding[c] {
        Coding::Plain => {
            if let Some(b) = s.get(..n) {
                if b.iter().fold(0u8, |a, &x| a | x) < 0x80 {
                    cur.at.pos[c] += n;
                    return Ok(Vals::Bytes(b));
                }
            }
            let used = read_varints(s, vals, n)?;
            cur.at.pos[c] += used;
            Ok(Vals::Words(&vals[..n]))
        }
        Coding::Delta => {
            let mut prev = cur.at.delta_prev[c];
            if let Some(b) = s
                .get(..n)
                .filter(|b| b.iter().fold(0u8, |a, &x| a | x) < 0x80)
            {
                for (o, &d) in vals.iter_mut().zip(b) {
                    prev = prev.wrapping_add(unzigzag(d as u64) as u64);
                    *o = prev;
                }
                cur.at.pos[c] += n;
            } else {
                let used = read_varints(s, vals, n)?;
                for o in &mut vals[..n] {
                    prev = prev.wrapping_add(unzigzag(*o) as u64);
                    *o = prev;
                }
                cur.at.pos[c] += used;
            }
            cur.at.delta_prev[c] = prev;
            Ok(Vals::Words(&vals[..n]))
        }
        Coding::Const | Coding::Runs => {
            expand_runs(cur, s, c, &mut vals[..n])?;
            Ok(Vals::Words(&vals[..n]))
        }
        Coding::Dict => {
            let idx = s.get(..n).ok_or(DecodeError::Eof("a sample column"))?;
            let at = cur.dict_at[c];
            let dict: &[u64; DICT_MAX] = cur
                .dicts
                .get(at..at + DICT_MAX)
                .and_then(|d| d.try_into().ok())
                .ok_or(DecodeError::Eof("a sample column dictionary"))?;
            let mut top = 0u8;
            for (o, &i) in vals.iter_mut().zip(idx) {
                *o = dict[i as usize];
                top = top.max(i);
            }
            if top as usize >= cur.dict_len[c] {
                return Err(DecodeError::Range(
                    "a sample column's dictionary index",
                    top as u64,
                ));
            }
            cur.at.pos[c] += n;
            Ok(Vals::Words(&vals[..n]))
        }
    }
}

/// Fills `out` from the runs of column `c` (`s`: the rest of its bytes);
/// a run may not reach past the chunk's last sample.
#[inline]
fn expand_runs(cur: &mut ChunkCursor, s: &[u8], c: usize, out: &mut [u64]) -> DResult<()> {
    let mut used = 0usize;
    let mut i = 0usize;
    while i < out.len() {
        if cur.at.run_left[c] == 0 {
            let rest = s.get(used..).unwrap_or(&[]);
            let (v, a) = read_one(rest)?;
            let (extra, b) = read_one(rest.get(a..).unwrap_or(&[]))?;
            used += a + b;
            // Samples of the chunk from this one on: the bound of a run.
            let room = (cur.left - i) as u64;
            if extra >= room {
                return Err(DecodeError::Range(
                    "a sample column run longer than the chunk",
                    extra.saturating_add(1),
                ));
            }
            cur.at.run_val[c] = v;
            cur.at.run_left[c] = extra + 1;
        }
        let take = (cur.at.run_left[c] as usize).min(out.len() - i);
        out[i..i + take].fill(cur.at.run_val[c]);
        cur.at.run_left[c] -= take as u64;
        i += take;
    }
    cur.at.pos[c] += used;
    Ok(())
}

/// `for (pat, v) in outputs.zip(values) body`, with `v: u64`, for either
/// kind of [`Vals`]: one monomorphic loop each, so both vectorise. `$f` is
/// a flag local to the loop (for `check!`); the expression's value.
macro_rules! each {
    ($vals:expr, $outs:expr, |$pat:pat_param, $v:ident, $f:ident| $body:block) => {{
        #[allow(unused_mut)]
        let mut $f = false;
        match $vals {
            Vals::Bytes(b) => {
                for ($pat, &$v) in $outs.zip(b) {
                    let $v = $v as u64;
                    $body
                }
            }
            Vals::Words(w) => {
                for ($pat, &$v) in $outs.zip(w) {
                    let $v: u64 = $v;
                    $body
                }
            }
        }
        $f
    }};
}

/// Decodes the next `min(left, BLOCK)` samples of the chunk into `blk`,
/// keeping the valid ones. On error `blk` is empty and the cursor unusable.
pub(crate) fn decode_block(
    cur: &mut ChunkCursor,
    p: &[u8],
    ctx: &SampleCtx<'_>,
    blk: &mut SampleBlock,
    sc: &mut Scratch,
    st: &mut BlockStats,
) -> DResult<()> {
    // Validity is first only OR-ed together (which vectorises); a block
    // with an invalid sample, rare, is decoded again marking each one.
    let before = cur.at;
    if decode_block_with::<false>(cur, p, ctx, blk, sc, st)? {
        return Ok(());
    }
    cur.at = before;
    decode_block_with::<true>(cur, p, ctx, blk, sc, st).map(|_| ())
}

/// One pass of [`decode_block`]. Without `MARK`, returns `Ok(false)` and
/// commits nothing when some sample is invalid; with `MARK`, drops those.
#[inline(always)]
fn decode_block_with<const MARK: bool>(
    cur: &mut ChunkCursor,
    p: &[u8],
    ctx: &SampleCtx<'_>,
    blk: &mut SampleBlock,
    sc: &mut Scratch,
    st: &mut BlockStats,
) -> DResult<bool> {
    blk.len = 0;
    let n = cur.left.min(BLOCK);
    let lim = ctx.limits;
    let Scratch { vals, bad } = sc;
    let bad = &mut bad[..n];
    if MARK {
        bad.fill(0);
    }
    let mut any_bad = false;
    // Records that the sample behind `$b` (its `bad` slot) is invalid; the
    // first pass only sets the loop's flag `$f`.
    macro_rules! check {
        ($f:ident, $b:expr, $cond:expr) => {{
            let c: bool = $cond;
            if MARK {
                *$b |= c as u8;
            } else {
                $f |= c;
            }
        }};
    }

    let mut breach = cur.at.breach;
    any_bad |= each!(
        column(cur, p, col::BREACH, n, vals)?,
        blk.breach.iter_mut().zip(bad.iter_mut()),
        |(o, b), v, f| {
            breach = breach.wrapping_add(unzigzag(v));
            *o = breach as u32;
            check!(f, b, (breach as u64) >= lim.breaches as u64);
        }
    );
    let mut pid = cur.at.pid;
    any_bad |= each!(
        column(cur, p, col::PID, n, vals)?,
        blk.pid.iter_mut().zip(bad.iter_mut()),
        |(o, b), v, f| {
            pid = pid.wrapping_add(unzigzag(v));
            *o = pid as i32;
            check!(f, b, pid as i32 as i64 != pid);
        }
    );
    any_bad |= each!(
        column(cur, p, col::PID_MINUS_TGID, n, vals)?,
        blk.tgid.iter_mut().zip(bad.iter_mut()).zip(&blk.pid),
        |((o, b), &pid), v, f| {
            let tgid = (pid as i64).wrapping_sub(unzigzag(v));
            *o = tgid as i32;
            check!(f, b, tgid as i32 as i64 != tgid);
        }
    );
    let mut unknown = 0u64;
    any_bad |= each!(
        column(cur, p, col::COMM, n, vals)?,
        blk.comm.iter_mut(),
        |o, v, f| {
            let ok = v < lim.strings as u64;
            if MARK {
                unknown += !ok as u64;
                *o = StrId(if ok { v as u32 } else { 0 });
            } else {
                // An unknown comm sends the block to the marking pass.
                *o = StrId(v as u32);
                f |= !ok;
            }
        }
    );
    any_bad |= each!(
        column(cur, p, col::FLAGS_STATE, n, vals)?,
        blk.state
            .iter_mut()
            .zip(blk.flags.iter_mut())
            .zip(bad.iter_mut()),
        |((o, fl), b), v, f| {
            *o = match v & 3 {
                0 => TaskState::Other,
                1 => TaskState::Running,
                2 => TaskState::Uninterruptible,
                _ => TaskState::RtLock,
            };
            *fl = (v >> 2) as u32;
            check!(f, b, v >> 34 != 0);
        }
    );
    if cur.coded {
        for fl in &mut blk.flags[..n] {
            *fl = unpack_flags(*fl);
        }
    }
    any_bad |= each!(
        column(cur, p, col::CPU, n, vals)?,
        blk.cpu.iter_mut().zip(bad.iter_mut()),
        |(o, b), v, f| {
            let cpu = unzigzag(v);
            *o = cpu as i32;
            check!(f, b, cpu as i32 as i64 != cpu);
        }
    );
    let mut cgroup = cur.at.cgroup;
    any_bad |= each!(
        column(cur, p, col::CGROUP, n, vals)?,
        blk.cgroup_id.iter_mut(),
        |o, v, f| {
            cgroup = cgroup.wrapping_add(unzigzag(v) as u64);
            *o = cgroup;
        }
    );
    // Two copies of one loop for the kernel and the user stack: folding
    // them into a `for` over both columns measured 4% slower.
    any_bad |= each!(
        column(cur, p, col::KSTACK, n, vals)?,
        blk.kstack.iter_mut().zip(bad.iter_mut()),
        |(o, b), v, f| {
            // `id + 1`, 0 (empty) wrapping to StackId::EMPTY: valid when
            // at most the number of stack nodes.
            *o = StackId((v as u32).wrapping_sub(1));
            check!(f, b, v > lim.stacks as u64);
        }
    );
    any_bad |= each!(
        column(cur, p, col::USTACK, n, vals)?,
        blk.ustack.iter_mut().zip(bad.iter_mut()),
        |(o, b), v, f| {
            // `id + 1`, 0 (empty) wrapping to StackId::EMPTY: valid when
            // at most the number of stack nodes.
            *o = StackId((v as u32).wrapping_sub(1));
            check!(f, b, v > lim.stacks as u64);
        }
    );
    any_bad |= each!(
        column(cur, p, col::IP, n, vals)?,
        blk.ip.iter_mut().zip(&blk.ustack),
        |(o, u), v, f| {
            let top = ctx.frames.get(u.0 as usize).copied().unwrap_or(0);
            *o = top.wrapping_add(unzigzag(v) as u64);
        }
    );
    let mut sp = cur.at.sp;
    any_bad |= each!(
        column(cur, p, col::SP, n, vals)?,
        blk.sp.iter_mut(),
        |o, v, f| {
            sp = sp.wrapping_add(unzigzag(v) as u64);
            *o = sp;
        }
    );
    any_bad |= each!(
        column(cur, p, col::BP, n, vals)?,
        blk.bp.iter_mut().zip(&blk.sp),
        |(o, &sp), v, f| {
            *o = sp.wrapping_add(unzigzag(v) as u64);
        }
    );
    let mut raw_next = cur.at.raw_next;
    any_bad |= each!(
        column(cur, p, col::RAW_STACK, n, vals)?,
        blk.raw_stack.iter_mut().zip(bad.iter_mut()),
        |(o, b), v, f| {
            *o = if v == 0 {
                None
            } else {
                let r = raw_next.wrapping_add(unzigzag(v - 1));
                raw_next = r.wrapping_add(1);
                check!(f, b, (r as u64) >= lim.raw as u64);
                Some(r as u32)
            };
        }
    );
    let mut proc_prev = cur.at.proc_prev;
    any_bad |= each!(
        column(cur, p, col::PROCESS, n, vals)?,
        blk.process.iter_mut().zip(bad.iter_mut()),
        |(o, b), v, f| {
            *o = if v == 0 {
                None
            } else {
                proc_prev = proc_prev.wrapping_add(unzigzag(v - 1));
                check!(f, b, (proc_prev as u64) >= lim.processes as u64);
                Some(proc_prev as u32)
            };
        }
    );
    if !MARK && any_bad {
        return Ok(false);
    }
    // The block decoded: commit the running values.
    cur.at.breach = breach;
    cur.at.pid = pid;
    cur.at.cgroup = cgroup;
    cur.at.sp = sp;
    cur.at.raw_next = raw_next;
    cur.at.proc_prev = proc_prev;
    cur.left -= n;
    st.bad_strings += unknown;
    blk.len = n;
    if MARK {
        let dropped = bad.iter().map(|&b| b as u64).sum::<u64>();
        st.bad_refs += dropped;
        blk.retain(bad);
    }
    Ok(true)
}

const HIGH: u64 = 0x8080_8080_8080_8080;

/// Decodes `n` LEB128 varints from the front of `col` into `out[..n]`
/// (`out` may be longer: the fast path wants 8 slots of slack); returns
/// the bytes they took. Uses BMI2 (`pext`) where the CPU has it.
#[inline]
fn read_varints(col: &[u8], out: &mut [u64], n: usize) -> DResult<usize> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("bmi2") && std::arch::is_x86_feature_detected!("popcnt")
    {
        // SAFETY: the CPU has the features the function is compiled for.
        return unsafe { read_varints_bmi2(col, out, n) };
    }
    read_varints_with::<false>(col, out, n)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "bmi1,bmi2,popcnt")]
fn read_varints_bmi2(col: &[u8], out: &mut [u64], n: usize) -> DResult<usize> {
    read_varints_with::<true>(col, out, n)
}

/// A word of 8 bytes at a time: eight 1-byte varints are spread at once;
/// otherwise the varints that end in the word are extracted from its stop
/// bits, branch-free, 4 or 8 at a time, written speculatively into the
/// slack of `out` (its length is at least `n + 8`). The next word starts
/// after the last complete varint, an address computed from the stop bits
/// alone, so the loads run ahead of the extraction. Varints longer than 8
/// bytes and the column's last 7 bytes go one at a time. `PEXT` is only
/// true when inlined into a function compiled for BMI2.
#[inline(always)]
fn read_varints_with<const PEXT: bool>(col: &[u8], out: &mut [u64], n: usize) -> DResult<usize> {
    let mut i = 0;
    let mut next = 0;
    while i < n {
        let Some(w8) = col.get(next..).and_then(|s| s.first_chunk::<8>()) else {
            break;
        };
        let Some(o) = out
            .get_mut(i..i + 8)
            .and_then(|o| <&mut [u64; 8]>::try_from(o).ok())
        else {
            break;
        };
        let w = u64::from_le_bytes(*w8);
        let stops = !w & HIGH;
        if stops == 0 {
            // Longer than 8 bytes (or malformed): the exact decoder.
            let (v, used) = read_one(col.get(next..).unwrap_or(&[]))?;
            o[0] = v;
            i += 1;
            next += used;
            continue;
        }
        if stops == HIGH {
            let b = w.to_le_bytes();
            for (x, &b) in o.iter_mut().zip(&b) {
                *x = b as u64;
            }
            let take = (n - i).min(8);
            i += take;
            next += take;
            continue;
        }
        let found = stops.count_ones() as usize;
        let take = found.min(n - i);
        // Speculative extraction: past the last stop, values are garbage
        // that `take` leaves out.
        let mut s = stops;
        let mut start = 0u32;
        let mut extract = |k: usize, s: &mut u64, start: &mut u32| {
            let end = s.trailing_zeros().wrapping_add(1);
            o[k] = extract7::<PEXT>(w, *start, end);
            *start = end;
            *s &= s.wrapping_sub(1);
        };
        for k in 0..4 {
            extract(k, &mut s, &mut start);
        }
        if found > 4 {
            for k in 4..8 {
                extract(k, &mut s, &mut start);
            }
        }
        i += take;
        // The next word starts after the last varint taken; its address
        // depends on the stop bits only, not on the extraction.
        let last_end = if take == found {
            64 - stops.leading_zeros()
        } else {
            end_of_stop(stops, take)
        };
        next += (last_end / 8) as usize;
    }
    // The column's last few bytes: one varint at a time.
    while i < n {
        let (v, used) = read_one(col.get(next..).unwrap_or(&[]))?;
        if let Some(o) = out.get_mut(i) {
            *o = v;
        }
        i += 1;
        next += used;
    }
    Ok(next)
}

/// The bit just past the `k`-th (1-based) stop bit of `stops`.
#[cold]
fn end_of_stop(mut stops: u64, k: usize) -> u32 {
    for _ in 1..k {
        stops &= stops.wrapping_sub(1);
    }
    stops.trailing_zeros() + 1
}

/// The value of the varint in bits `start..end` of `w` (byte-aligned);
/// garbage, without panicking, for out-of-range bounds.
#[inline(always)]
fn extract7<const PEXT: bool>(w: u64, start: u32, end: u32) -> u64 {
    if PEXT {
        pext7(w, start, end)
    } else {
        let mask = u64::MAX.wrapping_shr(64u32.wrapping_sub(end));
        compact7((w & mask).wrapping_shr(start))
    }
}

/// The value of the varint in bytes `start / 8 .. end / 8` of `w`.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn pext7(w: u64, start: u32, end: u32) -> u64 {
    use std::arch::x86_64::{_bzhi_u64, _pext_u64};
    // SAFETY: only reached (PEXT = true) inside `read_varints_bmi2`.
    unsafe { _pext_u64(_bzhi_u64(w, end).wrapping_shr(start), 0x7f7f_7f7f_7f7f_7f7f) }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn pext7(w: u64, start: u32, end: u32) -> u64 {
    extract7::<false>(w, start, end)
}

/// Packs the 7-bit groups of a varint's bytes (at most 8, little-endian,
/// high bits ignored) into its value.
#[inline(always)]
fn compact7(x: u64) -> u64 {
    let x = (x & 0x007f_007f_007f_007f) | ((x & 0x7f00_7f00_7f00_7f00) >> 1);
    let x = (x & 0x0000_3fff_0000_3fff) | ((x & 0x3fff_0000_3fff_0000) >> 2);
    (x & 0x0fff_ffff) | ((x & 0x0fff_ffff_0000_0000) >> 4)
}

#[cold]
fn read_one(b: &[u8]) -> DResult<(u64, usize)> {
    let mut c = Cursor::new(b);
    let v = c.u("a sample column")?;
    Ok((v, b.len() - c.remaining()))
}

/// The sample decode's outcome, for one chunk or merged over many.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SampleReport {
    /// Task samples the chunks declared.
    pub declared: u64,
    /// Task samples delivered.
    pub kept: u64,
    /// Task samples dropped because an id they hold is not in the file, or
    /// their pid, tgid or cpu does not fit an `i32`.
    pub bad_refs: u64,
    /// Task samples whose comm is not in the string table (set to string 0).
    pub bad_strings: u64,
    /// SAMPLES chunks (or their tails) skipped, one warning each.
    pub chunk_warnings: Vec<Warning>,
}

impl SampleReport {
    /// Adds `other` (another part of the same file) to this report.
    pub fn merge(&mut self, other: SampleReport) {
        self.declared += other.declared;
        self.kept += other.kept;
        self.bad_refs += other.bad_refs;
        self.bad_strings += other.bad_strings;
        self.chunk_warnings.extend(other.chunk_warnings);
    }

    /// Every warning: the chunk warnings, then one summary per kind of
    /// sample-level damage.
    pub fn warnings(&self) -> Vec<Warning> {
        let mut w = self.chunk_warnings.clone();
        if self.bad_refs > 0 {
            w.push(Warning {
                offset: 0,
                chunk_type: Some(crate::chunk::ChunkType::Samples as u16),
                message: format!(
                    "dropped {} task samples referring to breaches, stacks, processes or raw \
                     stacks the file does not hold (chunks lost to truncation or corruption)",
                    self.bad_refs
                ),
            });
        }
        if self.bad_strings > 0 {
            w.push(Warning {
                offset: 0,
                chunk_type: Some(crate::chunk::ChunkType::Samples as u16),
                message: format!(
                    "{} task samples had an unknown comm string; set to \"\"",
                    self.bad_strings
                ),
            });
        }
        w
    }

    pub(crate) fn add_stats(&mut self, st: BlockStats) {
        self.bad_refs += st.bad_refs;
        self.bad_strings += st.bad_strings;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::varint::put_u;

    #[test]
    fn read_varints_matches_the_scalar_decoder() {
        // Mixed lengths 1..=10, so every word shape and the tail are hit.
        let mut vals = Vec::new();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for i in 0..3000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let bits = [0, 7, 7, 14, 21, 3, 35, 49, 56, 63, 64][(i % 11) as usize];
            vals.push(if bits == 64 {
                x
            } else {
                x & ((1u64 << bits) - 1)
            });
            if i % 5 < 2 {
                vals.push(i as u64 % 100);
            }
        }
        let mut buf = Vec::new();
        for &v in &vals {
            put_u(&mut buf, v);
        }
        for split in [1usize, 7, 8, 9, 255, 256, 1000] {
            let mut pos = 0;
            let mut got: Vec<u64> = Vec::new();
            for chunk in vals.chunks(split) {
                let k = chunk.len();
                let mut runs = Vec::new();
                for slack in [0, 8] {
                    let mut out = vec![0; k + slack];
                    let used = read_varints(&buf[pos..], &mut out, k).unwrap();
                    runs.push((used, out[..k].to_vec()));
                    let mut out = vec![0; k + slack];
                    let used = read_varints_with::<false>(&buf[pos..], &mut out, k).unwrap();
                    runs.push((used, out[..k].to_vec()));
                }
                assert!(runs.iter().all(|r| *r == runs[0]), "split {split}");
                pos += runs[0].0;
                got.extend(&runs[0].1);
            }
            assert_eq!(got, vals, "split {split}");
            assert_eq!(pos, buf.len());
        }
        // One value short: the column ends inside the block.
        let mut out = vec![0; vals.len() + 9];
        assert_eq!(
            read_varints(&buf, &mut out, vals.len() + 1),
            Err(DecodeError::Eof("a sample column"))
        );
        // An 11-byte varint is refused wherever it sits.
        for pad in 0..10 {
            let mut b = vec![1u8; pad];
            b.extend_from_slice(&[0xff; 10]);
            b.push(0);
            b.extend_from_slice(&[0; 8]);
            let mut out = vec![0; pad + 9];
            assert_eq!(
                read_varints(&b, &mut out, pad + 1),
                Err(DecodeError::Overlong("a sample column")),
                "pad {pad}"
            );
        }
    }

    #[test]
    fn flag_order_is_a_permutation_and_unpack_inverts_pack() {
        let mut seen = [false; 12];
        for &b in &FLAG_ORDER {
            assert!(!seen[b as usize]);
            seen[b as usize] = true;
        }
        for (i, &b) in FLAG_ORDER.iter().enumerate() {
            assert_eq!(pack_flags(1 << b), 1 << i);
        }
        for f in (0..1 << 12).chain([u32::MAX >> 2, 1 << 12, 0xdead_beef >> 2]) {
            assert_eq!(unpack_flags(pack_flags(f)), f);
        }
        // What frame-pointer captures set most fits one byte with the state.
        let common = task_flags::USTACK_CFI | task_flags::USTACK_ROOT | task_flags::ON_CPU;
        assert!(pack_flags(common) < 0x80 >> 2);
    }

    #[test]
    fn compact7_packs_groups() {
        assert_eq!(compact7(0x7f), 0x7f);
        assert_eq!(compact7(0x01_80), 0x80);
        assert_eq!(compact7(0x7f_ff_ff), (1 << 21) - 1);
        assert_eq!(compact7(0x7fff_ffff_ffff_ffff), (1 << 56) - 1);
    }
}
